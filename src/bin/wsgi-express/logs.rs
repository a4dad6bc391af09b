//! Where the error, access and start-up logs go, as mod_wsgi-express places
//! them: files in the log directory (the server root unless
//! --log-directory), rotated with rotatelogs on --rotate-logs, or the
//! terminal with --log-to-terminal (which --log-directory overrides).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::cli::ServerOptions;
use crate::locate;
use crate::settings::Logs;

/// The log targets for `o`, making the log directory if it is given.
pub(super) fn resolve(o: &ServerOptions, server_root: &Path) -> Result<Logs> {
    let dir = match &o.log_directory {
        Some(d) => {
            let d = std::env::current_dir()?.join(d);
            fs::create_dir_all(&d)
                .with_context(|| format!("cannot create the log directory {}", d.display()))?;
            d
        }
        None => server_root.to_path_buf(),
    };
    let terminal = o.log_to_terminal && o.log_directory.is_none();
    let rotatelogs = (o.rotate_logs && !terminal)
        .then(|| {
            o.rotatelogs_executable
                .clone()
                .unwrap_or_else(locate::rotatelogs)
        })
        .map(|r| format!("{} ", r.display()));
    let file = |name: &str| -> String {
        let path = dir.join(name).display().to_string();
        match &rotatelogs {
            Some(r) => format!("|{r}{path}.%Y-%m-%d-%H_%M_%S {}M", o.max_log_size),
            None => path,
        }
    };
    Ok(Logs {
        error: if terminal {
            terminal_or_tee("/dev/stderr")
        } else {
            file(&o.error_log_name)
        },
        access: o.access_log.then(|| {
            if terminal {
                terminal_or_tee("/dev/stdout")
            } else {
                file(&o.access_log_name)
            }
        }),
        startup: o.startup_log.then(|| {
            if terminal {
                "/dev/stderr".to_string()
            } else {
                dir.join(&o.startup_log_name).display().to_string()
            }
        }),
    })
}

/// `dev` when httpd can reopen it (a terminal, file or pipe), else a piped
/// `tee` that writes to the stdout httpd inherited (a socket, as under
/// systemd, cannot be reopened), as mod_wsgi-express does.
fn terminal_or_tee(dev: &str) -> String {
    if fs::OpenOptions::new().append(true).open(dev).is_ok() {
        dev.to_string()
    } else {
        format!(
            "|{}",
            locate::program("tee")
                .unwrap_or_else(|| PathBuf::from("/usr/bin/tee"))
                .display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::tests::server;

    #[test]
    fn files_in_the_server_root_by_default() {
        let l = resolve(&server(&["a"]), Path::new("/r")).unwrap();
        assert_eq!(l.error, "/r/error_log");
        assert_eq!((l.access, l.startup), (None, None));
        let l = resolve(
            &server(&[
                "--access-log",
                "--startup-log",
                "--access-log-name",
                "acc",
                "a",
            ]),
            Path::new("/r"),
        )
        .unwrap();
        assert_eq!(l.access.as_deref(), Some("/r/acc"));
        assert_eq!(l.startup.as_deref(), Some("/r/startup_log"));
    }

    #[test]
    fn rotated_logs_are_piped_to_rotatelogs() {
        let o = server(&[
            "--rotate-logs",
            "--max-log-size",
            "7",
            "--rotatelogs-executable",
            "/bin/rl",
            "a",
        ]);
        let l = resolve(&o, Path::new("/r")).unwrap();
        assert_eq!(l.error, "|/bin/rl /r/error_log.%Y-%m-%d-%H_%M_%S 7M");
    }

    #[test]
    fn the_terminal_is_a_device_or_tee() {
        let l = resolve(
            &server(&["--log-to-terminal", "--rotate-logs", "--access-log", "a"]),
            Path::new("/r"),
        )
        .unwrap();
        for target in [l.error, l.access.unwrap()] {
            assert!(
                target.starts_with("/dev/std") || target.ends_with("tee"),
                "{target}"
            );
        }
    }
}
