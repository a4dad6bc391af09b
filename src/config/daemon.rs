//! `WSGIDaemonProcess name option=value ...`: every option mod_wsgi 6 accepts,
//! with its defaults, parsed into [`DaemonGroup`]. Pure, so every rule is
//! unit tested; the supervisor and the daemon worker read the result.

use super::directives::{ConfigContext, Directive, Target};
use super::error::ConfigError;
use super::words::split_option;

/// A user or group as written: a name, or `#id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ident {
    Name(String),
    Id(u32),
}

/// As written in the configuration: `name` or `#id`.
impl std::fmt::Display for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ident::Name(n) => f.write_str(n),
            Ident::Id(id) => write!(f, "#{id}"),
        }
    }
}

impl Ident {
    fn parse(v: &str) -> Option<Ident> {
        if v.is_empty() {
            return None;
        }
        match v.strip_prefix('#') {
            Some(n) => n.parse().ok().map(Ident::Id),
            None => Some(Ident::Name(v.to_string())),
        }
    }
}

/// One daemon process group. Timeouts are whole seconds; 0 means off.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonGroup {
    pub name: String,
    pub processes: u32,
    /// `processes=` was given (even `1`): `wsgi.multiprocess` is then True.
    pub multiprocess: bool,
    pub threads: u32,
    pub display_name: Option<String>,
    pub user: Option<Ident>,
    pub group: Option<Ident>,
    pub supplementary_groups: Vec<String>,
    pub umask: Option<u32>,
    pub home: Option<String>,
    pub lang: Option<String>,
    pub locale: Option<String>,
    pub chroot: Option<String>,
    pub script_user: Option<Ident>,
    pub script_group: Option<Ident>,
    pub python_home: Option<String>,
    pub python_path: Vec<String>,
    pub python_eggs: Option<String>,
    pub switch_interval: Option<f64>,
    pub stack_size: Option<u64>,
    pub maximum_requests: u64,
    pub restart_interval: u64,
    pub cpu_time_limit: u64,
    pub cpu_priority: i32,
    pub memory_limit: u64,
    pub virtual_memory_limit: u64,
    pub inactivity_timeout: u64,
    pub request_timeout: u64,
    pub interrupt_timeout: u64,
    pub deadlock_timeout: u64,
    pub startup_timeout: u64,
    pub graceful_timeout: u64,
    pub eviction_timeout: u64,
    pub shutdown_timeout: u64,
    pub connect_timeout: u64,
    /// 0: Apache's `Timeout`.
    pub socket_timeout: u64,
    pub queue_timeout: u64,
    pub listen_backlog: u32,
    pub send_buffer_size: u32,
    pub receive_buffer_size: u32,
    pub header_buffer_size: u32,
    pub response_buffer_size: u32,
    pub response_socket_timeout: u64,
    /// Milliseconds.
    pub response_flush_delay: u64,
    pub socket_user: Option<Ident>,
    pub server_metrics: bool,
}

impl DaemonGroup {
    /// A group with mod_wsgi's defaults (`wsgi_daemon.c` initialisers).
    pub fn new(name: &str) -> DaemonGroup {
        DaemonGroup {
            name: name.to_string(),
            processes: 1,
            multiprocess: false,
            threads: 15,
            display_name: None,
            user: None,
            group: None,
            supplementary_groups: Vec::new(),
            umask: None,
            home: None,
            lang: None,
            locale: None,
            chroot: None,
            script_user: None,
            script_group: None,
            python_home: None,
            python_path: Vec::new(),
            python_eggs: None,
            switch_interval: None,
            stack_size: None,
            maximum_requests: 0,
            restart_interval: 0,
            cpu_time_limit: 0,
            cpu_priority: 0,
            memory_limit: 0,
            virtual_memory_limit: 0,
            inactivity_timeout: 0,
            request_timeout: 0,
            interrupt_timeout: 0,
            deadlock_timeout: 300,
            startup_timeout: 0,
            graceful_timeout: 15,
            eviction_timeout: 0,
            shutdown_timeout: 5,
            connect_timeout: 15,
            socket_timeout: 0,
            queue_timeout: 0,
            listen_backlog: 100,
            send_buffer_size: 0,
            receive_buffer_size: 0,
            header_buffer_size: 0,
            response_buffer_size: 0,
            response_socket_timeout: 0,
            response_flush_delay: 5,
            socket_user: None,
            server_metrics: false,
        }
    }

    /// `display-name` with `%{GROUP}` expanded to `(wsgi:NAME)`.
    pub fn process_title(&self) -> Option<String> {
        let d = self.display_name.as_ref()?;
        Some(if d == "%{GROUP}" {
            format!("(wsgi:{})", self.name)
        } else {
            d.clone()
        })
    }
}

const DIRECTIVE: &str = "WSGIDaemonProcess";

/// Every option mod_wsgi 6.0 accepts, with what its value must be.
pub const OPTIONS: &[(&str, &str)] = &[
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
pub fn parse(words: &[String]) -> Result<DaemonGroup, ConfigError> {
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
                g.server_metrics =
                    super::script_alias::parse_on_off(value).ok_or_else(|| bad(option, value))?
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
    // Never accepted without effect: a configuration must not say more than
    // the server does.
    if g.interrupt_timeout > 0 {
        return Err(not_supported(
            name,
            "interrupt-timeout",
            "requests are never interrupted; request-timeout restarts the process instead",
            "interrupt-timeout=0",
        ));
    }
    if g.server_metrics {
        return Err(not_supported(
            name,
            "server-metrics",
            "mod_wsgi.server_metrics() is not implemented",
            "server-metrics=Off",
        ));
    }
    Ok(g)
}

fn not_supported(
    group: &str,
    option: &'static str,
    why: &'static str,
    off: &'static str,
) -> ConfigError {
    ConfigError::DaemonOptionNotSupported {
        directive: DIRECTIVE,
        group: group.to_string(),
        option,
        why,
        off,
    }
}

fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// `WSGIDaemonProcess name [option=value ...]`: the group, checked against
/// the machine, under a name no other group of the server has.
pub(super) fn directive(
    target: &mut Target<'_>,
    d: &Directive,
    words: &[String],
    ctx: &dyn ConfigContext,
) -> Result<(), ConfigError> {
    let group = parse(words)?;
    check_environment(d.name, &group, ctx)?;
    let server = target.server(d.name)?;
    if !ctx.claim_daemon_name(&group.name) {
        return Err(ConfigError::DuplicateDaemonName {
            directive: d.name,
            group: group.name,
        });
    }
    server.daemons.push(group);
    Ok(())
}

/// What a WSGIDaemonProcess needs of the machine, checked at configtest as
/// mod_wsgi does: chroot= needs root, script-user/script-group must exist.
fn check_environment(
    name: &'static str,
    group: &DaemonGroup,
    ctx: &dyn ConfigContext,
) -> Result<(), ConfigError> {
    if let Some(dir) = &group.chroot
        && !ctx.running_as_root()
    {
        return Err(ConfigError::ChrootNeedsRoot {
            directive: name,
            group: group.name.clone(),
            dir: dir.clone(),
        });
    }
    if let Some(u) = &group.script_user
        && !ctx.user_exists(u)
    {
        return Err(ConfigError::NoSuchScriptUser {
            directive: name,
            group: group.name.clone(),
            user: u.clone(),
        });
    }
    if let Some(g) = &group.script_group
        && !ctx.group_exists(g)
    {
        return Err(ConfigError::NoSuchScriptGroup {
            directive: name,
            group: group.name.clone(),
            script_group: g.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::DirConfig;
    use crate::config::testing::{TestContext, apply, server};
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
    fn options_without_effect_are_refused() {
        for (line, option, off) in [
            (
                "app interrupt-timeout=5",
                "interrupt-timeout",
                "interrupt-timeout=0",
            ),
            (
                "app server-metrics=On",
                "server-metrics",
                "server-metrics=Off",
            ),
        ] {
            let e = p(line).unwrap_err();
            assert!(
                e.contains(&format!("option '{option}' is not supported yet"))
                    && e.contains(off)
                    && e.contains("WSGIDaemonProcess app"),
                "{e}"
            );
        }
        assert!(p("app interrupt-timeout=0 server-metrics=Off").is_ok());
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

    #[test]
    fn daemon_process_groups() {
        let s = server(&[
            "WSGIDaemonProcess web processes=2 threads=4",
            "WSGIImportScript /srv/a.wsgi process-group=web application-group=%{GLOBAL}",
        ])
        .unwrap();
        assert_eq!(s.daemons.len(), 1);
        assert_eq!(s.daemons[0].processes, 2);
        assert_eq!(s.import_scripts[0].process_group, "web");
        let e = server(&["WSGIDaemonProcess web", "WSGIDaemonProcess web"]).unwrap_err();
        assert!(e.contains("already used"), "{e}");
        let e = server(&["WSGIDaemonProcess web user=root"]).unwrap_err();
        assert!(e.contains("user=root is not allowed"), "{e}");
        // The test context is not root, knows user "web" and group #33.
        let e = server(&["WSGIDaemonProcess j chroot=/srv/jail"]).unwrap_err();
        assert!(
            e.contains("chroot=/srv/jail needs Apache to be started as root"),
            "{e}"
        );
        assert!(server(&["WSGIDaemonProcess s script-user=web"]).is_ok());
        assert!(server(&["WSGIDaemonProcess s script-group=#33"]).is_ok());
        let e = server(&["WSGIDaemonProcess s script-user=nosuch"]).unwrap_err();
        assert!(e.contains("script-user 'nosuch' does not exist"), "{e}");
        let e = server(&["WSGIDaemonProcess s script-group=#34"]).unwrap_err();
        assert!(e.contains("script-group '#34' does not exist"), "{e}");
        let mut d = DirConfig::default();
        let e = apply(
            &mut Target::Dir(&mut d),
            "WSGIDaemonProcess x",
            &TestContext::default(),
        )
        .unwrap_err();
        assert!(e.contains("not allowed inside a directory"), "{e}");
    }
}
