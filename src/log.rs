//! The logging facade every layer uses, with no httpd dependency: log
//! levels, and the process logger. The Apache module installs its logger
//! (`apache::log::ErrorLog`, writing to httpd's error log as `[wsgi:level]`)
//! when httpd loads it; until then — and in unit tests — lines go to stderr.
//! Request-scoped lines go through each request's transport instead.

use std::panic::Location;
use std::sync::OnceLock;

/// A log level, numbered as syslog and httpd's `APLOG_*` (0 most severe).
/// The number is part of the daemon protocol and of the `mod_wsgi` Python
/// module's `_rs_log` calls.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Emerg = 0,
    Alert = 1,
    Crit = 2,
    Error = 3,
    Warn = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
    Trace1 = 8,
}

/// A number that is no [`Level`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a log level (0 emerg .. 8 trace1)")]
pub struct NotALevel(pub u8);

impl TryFrom<u8> for Level {
    type Error = NotALevel;

    fn try_from(n: u8) -> Result<Level, NotALevel> {
        Ok(match n {
            0 => Level::Emerg,
            1 => Level::Alert,
            2 => Level::Crit,
            3 => Level::Error,
            4 => Level::Warn,
            5 => Level::Notice,
            6 => Level::Info,
            7 => Level::Debug,
            8 => Level::Trace1,
            other => return Err(NotALevel(other)),
        })
    }
}

impl Level {
    /// Every level, most severe first.
    pub const ALL: [Level; 9] = [
        Level::Emerg,
        Level::Alert,
        Level::Crit,
        Level::Error,
        Level::Warn,
        Level::Notice,
        Level::Info,
        Level::Debug,
        Level::Trace1,
    ];

    /// The level for a number from outside (a daemon, Python code): anything
    /// past the last level is the last level.
    pub fn saturating_from(n: u8) -> Level {
        Level::try_from(n).unwrap_or(Level::Trace1)
    }

    /// Python logging levels (as used by `mod_wsgi.LogHandler`) to ours.
    pub fn from_python(level: i64) -> Level {
        match level {
            l if l >= 50 => Level::Crit,
            l if l >= 40 => Level::Error,
            l if l >= 30 => Level::Warn,
            l if l >= 20 => Level::Info,
            _ => Level::Debug,
        }
    }

    /// httpd's name for the level (as in `LogLevel` and the `[wsgi:...]` tag).
    pub fn name(self) -> &'static str {
        match self {
            Level::Emerg => "emerg",
            Level::Alert => "alert",
            Level::Crit => "crit",
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace1 => "trace1",
        }
    }
}

/// Where process-wide log lines (not tied to a request) go.
pub(crate) trait ProcessLogger: Send + Sync {
    fn log(&self, level: Level, message: &str, at: &'static Location<'static>);
}

static LOGGER: OnceLock<&'static dyn ProcessLogger> = OnceLock::new();

/// Installs the process logger (once per load of this module: httpd loads
/// it afresh at every restart, and with it these statics).
pub(crate) fn set_process_logger(logger: &'static dyn ProcessLogger) {
    let _ = LOGGER.set(logger);
}

/// Logs a line that belongs to this process rather than to a request.
#[track_caller]
pub(crate) fn process(level: Level, message: &str) {
    let at = Location::caller();
    match LOGGER.get() {
        Some(logger) => logger.log(level, message, at),
        None => eprintln!("[wsgi:{}] {message}", level.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for (n, level) in Level::ALL.iter().enumerate() {
            assert_eq!(*level as u8, n as u8);
            assert_eq!(Level::try_from(n as u8), Ok(*level));
        }
        assert_eq!(Level::try_from(9), Err(NotALevel(9)));
        assert_eq!(Level::saturating_from(200), Level::Trace1);
        assert!(Level::Error < Level::Info, "more severe sorts first");
        assert_eq!(Level::from_python(40), Level::Error);
        assert_eq!(Level::from_python(10), Level::Debug);
        assert_eq!(Level::Warn.name(), "warn");
    }
}
