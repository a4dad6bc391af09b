//! The options of `WSGIDaemonProcess name option=value ...`: every option
//! mod_wsgi 6 accepts, what its value must be, and the rules between them.
//! Pure, so every rule is unit tested.

use super::group::{DaemonGroup, Ident};
use crate::config::error::ConfigError;
use crate::config::words::split_option;

const DIRECTIVE: &str = "WSGIDaemonProcess";

/// Every option mod_wsgi 6.0 accepts, with what its value must be.
const OPTIONS: &[(&str, &str)] = &[
    ("processes", "a number of processes (1 or more)"),
    ("threads", "a number of threads per process (1 or more)"),
    ("display-name", "a process name, or %{GROUP}"),
    ("user", "a user name or #uid (not root)"),
    ("group", "a group name or #gid"),
    (
        "supplementary-groups",
        "comma-separated group names, e.g. a,b",
    ),
    ("umask", "an octal file mode mask, e.g. 0007"),
    ("home", "an absolute directory path"),
    ("lang", "a locale name, e.g. en_US.UTF-8"),
    ("locale", "a locale name, e.g. en_US.UTF-8"),
    ("chroot", "an absolute directory path"),
    ("script-user", "a user name or #uid"),
    ("script-group", "a group name or #gid"),
    ("python-home", "an absolute path (the sys.prefix of a venv)"),
    ("python-path", "colon-separated absolute directories"),
    ("python-eggs", "an absolute directory path"),
    ("switch-interval", "seconds greater than 0, e.g. 0.005"),
    ("stack-size", "a number of bytes (at least 65536)"),
    ("maximum-requests", "a number of requests (0 = off)"),
    ("restart-interval", "seconds (0 = off)"),
    ("cpu-time-limit", "seconds (0 = off)"),
    ("cpu-priority", "a nice value from -20 to 19"),
    ("memory-limit", "a number of bytes (0 = off)"),
    ("virtual-memory-limit", "a number of bytes (0 = off)"),
    ("inactivity-timeout", "seconds (0 = off)"),
    ("request-timeout", "seconds (0 = off)"),
    ("interrupt-timeout", "seconds (0 = off)"),
    ("deadlock-timeout", "seconds (0 = off)"),
    ("startup-timeout", "seconds (0 = off)"),
    ("graceful-timeout", "seconds (0 = off)"),
    ("eviction-timeout", "seconds (0 = off)"),
    ("shutdown-timeout", "seconds (0 = off)"),
    ("connect-timeout", "seconds (0 = off)"),
    ("socket-timeout", "seconds (0 = Apache's Timeout)"),
    ("queue-timeout", "seconds (0 = off)"),
    ("listen-backlog", "a number of connections (1 or more)"),
    ("send-buffer-size", "a number of bytes (0 or at least 512)"),
    (
        "receive-buffer-size",
        "a number of bytes (0 or at least 512)",
    ),
    (
        "header-buffer-size",
        "a number of bytes (0 or at least 8192)",
    ),
    (
        "response-buffer-size",
        "a number of bytes (0 or at least 65536)",
    ),
    ("response-socket-timeout", "seconds (0 = socket-timeout)"),
    ("response-flush-delay", "milliseconds"),
    ("socket-user", "a user name or #uid"),
    ("server-metrics", "On or Off"),
];

fn bad(option: &str, value: &str) -> ConfigError {
    let expected = OPTIONS
        .iter()
        .find(|(n, _)| *n == option)
        .map_or("a valid value", |(_, e)| e);
    ConfigError::InvalidDaemonOption {
        directive: DIRECTIVE,
        option: option.to_string(),
        value: value.to_string(),
        expected,
    }
}

fn number<T: std::str::FromStr>(option: &str, value: &str) -> Result<T, ConfigError> {
    value.parse::<T>().map_err(|_| bad(option, value))
}

fn at_least<T: std::str::FromStr + PartialOrd + Copy>(
    option: &str,
    value: &str,
    min: T,
) -> Result<T, ConfigError> {
    let n = number::<T>(option, value)?;
    if n < min {
        return Err(bad(option, value));
    }
    Ok(n)
}

fn zero_or_at_least(option: &str, value: &str, min: u32) -> Result<u32, ConfigError> {
    let n = number::<u32>(option, value)?;
    if n != 0 && n < min {
        return Err(bad(option, value));
    }
    Ok(n)
}

fn absolute(option: &str, value: &str) -> Result<String, ConfigError> {
    if value.starts_with('/') {
        Ok(value.to_string())
    } else {
        Err(bad(option, value))
    }
}

fn ident(option: &str, value: &str) -> Result<Ident, ConfigError> {
    Ident::parse(value).ok_or_else(|| bad(option, value))
}

fn non_empty(option: &str, value: &str) -> Result<String, ConfigError> {
    if value.is_empty() {
        Err(bad(option, value))
    } else {
        Ok(value.to_string())
    }
}

fn is_root(user: &Ident) -> bool {
    matches!(user, Ident::Id(0)) || matches!(user, Ident::Name(n) if n == "root")
}

/// Parses the words after `WSGIDaemonProcess` (already unquoted).
pub(super) fn parse(words: &[String]) -> Result<DaemonGroup, ConfigError> {
    let Some(name) = words.first() else {
        return Err(ConfigError::DaemonNeedsName {
            directive: DIRECTIVE,
        });
    };
    if name.is_empty() || name.contains('=') || name.starts_with("%{") {
        return Err(ConfigError::InvalidDaemonName {
            directive: DIRECTIVE,
            name: name.clone(),
        });
    }
    let mut g = DaemonGroup::new(name);
    for word in &words[1..] {
        let Some((option, value)) = split_option(word) else {
            return Err(ConfigError::DaemonNotAnOption {
                directive: DIRECTIVE,
                group: name.clone(),
                word: word.clone(),
            });
        };
        // mod_wsgi lets a value be quoted inside the word: python-path="/a b".
        let value = unquote(value);
        let value = value.as_str();
        match option {
            "processes" => {
                g.processes = at_least(option, value, 1)?;
                g.multiprocess = true;
            }
            "threads" => g.threads = at_least(option, value, 1)?,
            "display-name" => g.display_name = Some(non_empty(option, value)?),
            "user" => {
                let u = ident(option, value)?;
                if is_root(&u) {
                    return Err(ConfigError::DaemonAsRoot {
                        directive: DIRECTIVE,
                        group: name.clone(),
                    });
                }
                g.user = Some(u);
            }
            "group" => g.group = Some(ident(option, value)?),
            "supplementary-groups" => {
                let groups: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                if groups.is_empty() {
                    return Err(bad(option, value));
                }
                g.supplementary_groups = groups;
            }
            "umask" => {
                g.umask = Some(
                    u32::from_str_radix(value, 8)
                        .ok()
                        .filter(|m| *m <= 0o777)
                        .ok_or_else(|| bad(option, value))?,
                )
            }
            "home" => g.home = Some(absolute(option, value)?),
            "lang" => g.lang = Some(non_empty(option, value)?),
            "locale" => g.locale = Some(non_empty(option, value)?),
            "chroot" => g.chroot = Some(absolute(option, value)?),
            "script-user" => g.script_user = Some(ident(option, value)?),
            "script-group" => g.script_group = Some(ident(option, value)?),
            "python-home" => g.python_home = Some(absolute(option, value)?),
            "python-path" => {
                let dirs: Vec<String> = value
                    .split(':')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                if dirs.is_empty() {
                    return Err(bad(option, value));
                }
                g.python_path.extend(dirs);
            }
            "python-eggs" => g.python_eggs = Some(absolute(option, value)?),
            "switch-interval" => match value.parse::<f64>() {
                Ok(s) if s > 0.0 && s.is_finite() => g.switch_interval = Some(s),
                _ => return Err(bad(option, value)),
            },
            "stack-size" => g.stack_size = Some(at_least(option, value, 65536)?),
            "maximum-requests" => g.maximum_requests = number(option, value)?,
            "restart-interval" => g.restart_interval = number(option, value)?,
            "cpu-time-limit" => g.cpu_time_limit = number(option, value)?,
            "cpu-priority" => {
                let p: i32 = number(option, value)?;
                if !(-20..=19).contains(&p) {
                    return Err(bad(option, value));
                }
                g.cpu_priority = p;
            }
            "memory-limit" => g.memory_limit = number(option, value)?,
            "virtual-memory-limit" => g.virtual_memory_limit = number(option, value)?,
            "inactivity-timeout" => g.inactivity_timeout = number(option, value)?,
            "request-timeout" => g.request_timeout = number(option, value)?,
            "interrupt-timeout" => g.interrupt_timeout = number(option, value)?,
            "deadlock-timeout" => g.deadlock_timeout = number(option, value)?,
            "startup-timeout" => g.startup_timeout = number(option, value)?,
            "graceful-timeout" => g.graceful_timeout = number(option, value)?,
            "eviction-timeout" => g.eviction_timeout = number(option, value)?,
            "shutdown-timeout" => g.shutdown_timeout = number(option, value)?,
            "connect-timeout" => g.connect_timeout = number(option, value)?,
            "socket-timeout" => g.socket_timeout = number(option, value)?,
            "queue-timeout" => g.queue_timeout = number(option, value)?,
            "listen-backlog" => g.listen_backlog = at_least(option, value, 1)?,
            "send-buffer-size" => g.send_buffer_size = zero_or_at_least(option, value, 512)?,
            "receive-buffer-size" => g.receive_buffer_size = zero_or_at_least(option, value, 512)?,
            "header-buffer-size" => g.header_buffer_size = zero_or_at_least(option, value, 8192)?,
            "response-buffer-size" => {
                g.response_buffer_size = zero_or_at_least(option, value, 65536)?
            }
            "response-socket-timeout" => g.response_socket_timeout = number(option, value)?,
            "response-flush-delay" => g.response_flush_delay = number(option, value)?,
            "socket-user" => g.socket_user = Some(ident(option, value)?),
            "server-metrics" => {
                g.server_metrics = crate::config::script_alias::parse_on_off(value)
                    .ok_or_else(|| bad(option, value))?
            }
            _ => {
                let names: Vec<&str> = OPTIONS.iter().map(|(n, _)| *n).collect();
                return Err(ConfigError::UnknownDaemonOption {
                    directive: DIRECTIVE,
                    group: name.clone(),
                    option: option.to_string(),
                    valid: names.join(", "),
                });
            }
        }
    }
    if g.script_user.is_some() && g.script_group.is_some() {
        return Err(ConfigError::ScriptUserAndGroup {
            directive: DIRECTIVE,
            group: name.clone(),
        });
    }
    Ok(g)
}

fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::words::split_words;

    fn p(line: &str) -> Result<DaemonGroup, String> {
        parse(&split_words(line)).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_mod_wsgis() {
        let g = p("app").unwrap();
        assert_eq!(g.name, "app");
        assert_eq!((g.processes, g.threads), (1, 15));
        assert!(!g.multiprocess);
        assert_eq!(g.graceful_timeout, 15);
        assert_eq!(g.shutdown_timeout, 5);
        assert_eq!(g.connect_timeout, 15);
        assert_eq!(g.deadlock_timeout, 300);
        assert_eq!(g.listen_backlog, 100);
        assert_eq!(g.socket_timeout, 0);
        assert_eq!(g.maximum_requests, 0);
        assert_eq!(g.process_title(), None);
    }

    #[test]
    fn every_option_is_accepted() {
        let line = "app processes=1 threads=3 display-name=%{GROUP} user=nobody group=#65534 \
            supplementary-groups=a,b umask=0007 home=/tmp lang=C.UTF-8 locale=C.UTF-8 chroot=/ \
            script-user=nobody python-home=/venv python-path=/a:/b python-eggs=/tmp \
            switch-interval=0.01 stack-size=524288 maximum-requests=10 restart-interval=60 \
            cpu-time-limit=5 cpu-priority=5 memory-limit=100000000 virtual-memory-limit=0 \
            inactivity-timeout=30 request-timeout=60 interrupt-timeout=0 deadlock-timeout=60 \
            startup-timeout=15 graceful-timeout=10 eviction-timeout=3 shutdown-timeout=2 \
            connect-timeout=4 socket-timeout=60 queue-timeout=45 listen-backlog=50 \
            send-buffer-size=65536 receive-buffer-size=65536 header-buffer-size=65536 \
            response-buffer-size=65536 response-socket-timeout=30 response-flush-delay=2 \
            socket-user=#33 server-metrics=Off";
        let g = p(line).unwrap();
        let names: Vec<&str> = split_words(line)[1..]
            .iter()
            .map(|w| w.split_once('=').unwrap().0)
            .map(|n| OPTIONS.iter().find(|(o, _)| *o == n).unwrap().0)
            .collect();
        // script-group is exclusive with script-user: checked below.
        assert_eq!(
            names.len() + 1,
            OPTIONS.len(),
            "the test names every option once"
        );
        assert_eq!(
            p("app script-group=#1").unwrap().script_group,
            Some(Ident::Id(1))
        );
        assert!(g.multiprocess);
        assert_eq!(g.threads, 3);
        assert_eq!(g.process_title().as_deref(), Some("(wsgi:app)"));
        assert_eq!(g.user, Some(Ident::Name("nobody".into())));
        assert_eq!(g.group, Some(Ident::Id(65534)));
        assert_eq!(g.umask, Some(0o007));
        assert_eq!(g.python_path, vec!["/a", "/b"]);
        assert_eq!(g.supplementary_groups, vec!["a", "b"]);
        assert_eq!(g.socket_user, Some(Ident::Id(33)));
        assert_eq!(g.switch_interval, Some(0.01));
        assert!(!g.server_metrics);
        assert_eq!(g.chroot.as_deref(), Some("/"));
        assert_eq!(g.deadlock_timeout, 60);
    }

    #[test]
    fn every_option_is_enforced_so_none_is_refused() {
        assert!(p("app interrupt-timeout=0 server-metrics=Off").is_ok());
        assert!(p("app server-metrics=On").unwrap().server_metrics);
        assert!(p("app server-metrics=off").is_ok_and(|g| !g.server_metrics));
    }

    #[test]
    fn interrupt_timeout_is_accepted() {
        let g = p("app request-timeout=60 interrupt-timeout=10").unwrap();
        assert_eq!((g.request_timeout, g.interrupt_timeout), (60, 10));
        // As mod_wsgi: accepted without request-timeout too (it then never
        // fires).
        assert_eq!(p("app interrupt-timeout=5").unwrap().interrupt_timeout, 5);
        assert!(p("app interrupt-timeout=-1").is_err());
    }

    #[test]
    fn quoted_values() {
        let g = p(r#"app python-path="/a b:/c" home="/x y""#).unwrap();
        assert_eq!(g.python_path, vec!["/a b", "/c"]);
        assert_eq!(g.home.as_deref(), Some("/x y"));
        assert_eq!(
            p("app display-name='my app'").unwrap().display_name,
            Some("my app".into())
        );
    }

    #[test]
    fn errors_name_the_option_and_what_is_expected() {
        let e = p("app proceses=2").unwrap_err();
        assert!(
            e.contains("unknown option 'proceses'") && e.contains("processes"),
            "{e}"
        );
        let e = p("app threads=lots").unwrap_err();
        assert!(
            e.contains("WSGIDaemonProcess")
                && e.contains("'threads'")
                && e.contains("a number of threads"),
            "{e}"
        );
        for bad in [
            "app processes=0",
            "app threads=0",
            "app umask=999",
            "app home=relative",
            "app python-home=venv",
            "app cpu-priority=40",
            "app maximum-requests=-1",
            "app send-buffer-size=100",
            "app stack-size=10",
            "app switch-interval=0",
            "app server-metrics=maybe",
            "app user=",
            "app group=#x",
        ] {
            assert!(p(bad).is_err(), "{bad} accepted");
        }
        assert!(p("app threads").unwrap_err().contains("name=value"));
        assert!(p("").is_err());
        assert!(p("a=b").unwrap_err().contains("invalid group name"));
        assert!(
            p("app script-user=a script-group=b")
                .unwrap_err()
                .contains("cannot both")
        );
    }

    #[test]
    fn root_is_refused() {
        for line in ["app user=root", "app user=#0"] {
            let e = p(line).unwrap_err();
            assert!(e.contains("user=root is not allowed"), "{e}");
        }
    }

    #[test]
    fn display_name_verbatim() {
        assert_eq!(
            p("app display-name=web")
                .unwrap()
                .process_title()
                .as_deref(),
            Some("web")
        );
    }
}
