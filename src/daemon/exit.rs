//! Why a daemon process ended, in words. A daemon records why it chose to
//! exit ([`ExitReason`]) or which fatal signal hit it, and that it got past
//! its start-up ([`record_started`]); the Apache parent records what it
//! reaped and what httpd's MPM reported. All of it goes to the shared exit
//! table (`os::exit_table`), where the parent (for its log line and the
//! respawn delay) and the Apache children (for a failed request's 502) read
//! it back.

use std::time::Duration;

use crate::os::exit_table::{self, ExitInfo};
use crate::os::{process, signals};

/// A daemon has started once it is ready (Python up, its scripts preloaded,
/// its threads accepting) and has then served a request or stayed up this
/// long. One that dies before is restarted after a growing delay.
pub(crate) const START_UP_WINDOW: Duration = Duration::from_secs(1);

/// Why a daemon chose to exit (recorded in the shared exit table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub(crate) enum ExitReason {
    MaximumRequests = 1,
    RestartInterval = 2,
    InactivityTimeout = 3,
    RequestTimeout = 4,
    StartupFailed = 5,
    Shutdown = 6,
    StartupTimeout = 7,
    Evicted = 8,
    Retired = 9,
    DeadlockTimeout = 10,
    ScriptChanged = 11,
}

impl ExitReason {
    pub(crate) fn from_code(c: i32) -> Option<ExitReason> {
        use ExitReason::*;
        Some(match c {
            1 => MaximumRequests,
            2 => RestartInterval,
            3 => InactivityTimeout,
            4 => RequestTimeout,
            5 => StartupFailed,
            6 => Shutdown,
            7 => StartupTimeout,
            8 => Evicted,
            9 => Retired,
            10 => DeadlockTimeout,
            11 => ScriptChanged,
            _ => return None,
        })
    }
    pub(crate) fn describe(self) -> &'static str {
        match self {
            ExitReason::MaximumRequests => "recycled after maximum-requests",
            ExitReason::RestartInterval => "recycled after restart-interval",
            ExitReason::InactivityTimeout => "recycled after inactivity-timeout",
            ExitReason::RequestTimeout => "restarted because a request exceeded request-timeout",
            ExitReason::StartupFailed => "failed to start (see the log lines above)",
            ExitReason::Shutdown => "shut down by a signal",
            ExitReason::StartupTimeout => {
                "restarted because the application did not load within startup-timeout"
            }
            ExitReason::Evicted => "evicted (SIGUSR1)",
            ExitReason::Retired => {
                "replaced by a graceful restart of Apache (it finishes its requests first)"
            }
            ExitReason::DeadlockTimeout => {
                "restarted because Python's GIL could not be taken within deadlock-timeout"
            }
            ExitReason::ScriptChanged => "restarted because a WSGI script changed",
        }
    }
    /// A planned exit, not a failure.
    pub(crate) fn is_planned(self) -> bool {
        !matches!(
            self,
            ExitReason::StartupFailed | ExitReason::RequestTimeout | ExitReason::DeadlockTimeout
        )
    }
}

/// Fatal signals the daemon records itself are stored as 1000 + signal.
pub(crate) const FATAL_SIGNAL_BASE: i32 = 1000;

/// Records in the exit table why this process is exiting.
pub(crate) fn record_reason(reason: ExitReason) {
    exit_table::record(std::process::id() as i32, ExitInfo::Reason(reason as i32));
}

/// Records in the exit table that this process is past its start-up (see
/// [`START_UP_WINDOW`]).
pub(crate) fn record_started() {
    exit_table::record(std::process::id() as i32, ExitInfo::Started);
}

/// Records in the exit table that this process got the fatal signal `sig`.
/// Async-signal-safe: called from the signal handler.
pub(crate) fn record_fatal_signal(sig: i32) {
    exit_table::record(
        std::process::id() as i32,
        ExitInfo::Reason(FATAL_SIGNAL_BASE + sig),
    );
}

/// Records what the Apache parent learnt of `pid`'s end: `status` as
/// httpd's MPM reported it (an exit status or a signal number).
pub(crate) fn record_reported(pid: i32, status: i32) {
    exit_table::record(pid, ExitInfo::ApacheReported(status));
}

/// Records the raw wait status the Apache parent reaped `pid` with.
pub(crate) fn record_reaped(pid: i32, status: i32) {
    exit_table::record(pid, ExitInfo::WaitStatus(status));
}

/// Whether `pid` recorded a planned reason for exiting (not a failure).
pub(crate) fn was_planned(pid: i32) -> bool {
    planned(&exit_table::lookup(pid))
}

/// Whether `pid` recorded that it was past its start-up.
pub(crate) fn had_started(pid: i32) -> bool {
    exit_table::lookup(pid).contains(&ExitInfo::Started)
}

/// What is known about why `pid` ended, in words; `None` if nothing yet.
pub(crate) fn explain_exit(pid: u32) -> Option<String> {
    explain(&exit_table::lookup(pid as i32))
}

fn planned(records: &[ExitInfo]) -> bool {
    records.iter().any(|r| {
        matches!(r, ExitInfo::Reason(c) if ExitReason::from_code(*c).is_some_and(ExitReason::is_planned))
    })
}

/// `records` (newest first) in words: the daemon's own reason or fatal
/// signal first, then a wait status the parent reaped, then what httpd
/// reported.
fn explain(records: &[ExitInfo]) -> Option<String> {
    for r in records {
        if let ExitInfo::Reason(code) = r {
            if *code > FATAL_SIGNAL_BASE {
                return Some(format!(
                    "killed by {}",
                    signals::signal_name(code - FATAL_SIGNAL_BASE)
                ));
            }
            if let Some(reason) = ExitReason::from_code(*code) {
                return Some(reason.describe().to_string());
            }
        }
    }
    for r in records {
        if let ExitInfo::WaitStatus(s) = r {
            return Some(process::describe_wait_status(*s));
        }
    }
    // httpd's MPM passes on only a number, without saying whether the
    // process exited or was killed.
    records.iter().find_map(|r| match r {
        ExitInfo::ApacheReported(v) if (1..=64).contains(v) => Some(format!(
            "exited with status {v} or was killed by {}",
            signals::signal_name(*v)
        )),
        ExitInfo::ApacheReported(v) => Some(format!("exited with status {v}")),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_round_trip() {
        for code in 1..=11 {
            let reason = ExitReason::from_code(code).unwrap();
            assert_eq!(reason as i32, code);
            assert!(!reason.describe().is_empty());
        }
        assert_eq!(ExitReason::from_code(0), None);
        assert_eq!(ExitReason::from_code(12), None);
        assert_eq!(ExitReason::from_code(FATAL_SIGNAL_BASE + 11), None);
    }

    #[test]
    fn only_failures_are_unplanned() {
        let unplanned = [
            ExitReason::StartupFailed,
            ExitReason::RequestTimeout,
            ExitReason::DeadlockTimeout,
        ];
        for code in 1..=11 {
            let reason = ExitReason::from_code(code).unwrap();
            assert_eq!(
                reason.is_planned(),
                !unplanned.contains(&reason),
                "{reason:?}"
            );
        }
        let recycled = ExitInfo::Reason(ExitReason::MaximumRequests as i32);
        assert!(planned(&[ExitInfo::ApacheReported(0), recycled]));
        assert!(!planned(&[ExitInfo::Reason(
            ExitReason::StartupFailed as i32
        )]));
        assert!(!planned(&[ExitInfo::Reason(FATAL_SIGNAL_BASE + 11)]));
        assert!(!planned(&[ExitInfo::WaitStatus(0)]));
    }

    #[test]
    fn the_daemons_own_word_comes_first() {
        let records = [
            ExitInfo::ApacheReported(9),
            ExitInfo::WaitStatus(9),
            ExitInfo::Reason(ExitReason::Evicted as i32),
            ExitInfo::Started,
        ];
        assert_eq!(explain(&records).as_deref(), Some("evicted (SIGUSR1)"));
        assert_eq!(
            explain(&[ExitInfo::Reason(FATAL_SIGNAL_BASE + 11)]).as_deref(),
            Some("killed by signal 11 (SIGSEGV)")
        );
        // An unknown code says nothing; the next record speaks.
        assert_eq!(
            explain(&[ExitInfo::Reason(99), ExitInfo::WaitStatus(1 << 8)]).as_deref(),
            Some("exited with status 1")
        );
    }

    #[test]
    fn what_httpd_reported_comes_last() {
        assert_eq!(
            explain(&[ExitInfo::ApacheReported(9), ExitInfo::WaitStatus(9)]).as_deref(),
            Some("killed by signal 9 (SIGKILL)")
        );
        assert_eq!(
            explain(&[ExitInfo::ApacheReported(9)]).as_deref(),
            Some("exited with status 9 or was killed by signal 9 (SIGKILL)")
        );
        assert_eq!(
            explain(&[ExitInfo::ApacheReported(255)]).as_deref(),
            Some("exited with status 255")
        );
        assert_eq!(explain(&[]), None);
    }
}
