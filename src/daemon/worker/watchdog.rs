//! The main thread's watch: the signals it waits for, the recycling timers
//! (maximum-requests, restart-interval, inactivity-timeout, startup-timeout)
//! and request-timeout (`timeouts`) checked every 100 ms, and
//! deadlock-timeout (a heartbeat thread entering the main interpreter,
//! Python stacks dumped when it cannot).

use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::apache::log::{self, Level};
use crate::config::daemon::DaemonGroup;
use crate::daemon::exit::{self, ExitReason};
use crate::daemon::groups::GroupRuntime;
use crate::os::{process, signals};
use crate::python;

use super::{State, pid, timeouts};

/// The main thread: waits for signals and checks the recycling timers once
/// every 100 ms. Returns why and how long in-flight requests may still run.
pub(super) fn supervise(st: &State, sigset: &libc::sigset_t) -> (ExitReason, u64) {
    let g = &st.rt.group;
    let mut started = false;
    loop {
        if let Some(sig) = signals::wait_signal(sigset, Duration::from_millis(100))
            && let Some(verdict) = on_signal(sig, g)
        {
            return verdict;
        }
        if st.script_changed.load(Ordering::Acquire) {
            // Accepting stopped already; in-flight requests get
            // graceful-timeout, as in any recycling.
            return (ExitReason::ScriptChanged, g.graceful_timeout);
        }
        if !started
            && (st.served.load(Ordering::Acquire) > 0 || st.born.elapsed() >= exit::START_UP_WINDOW)
        {
            // From now on a death is not a start-up failure: the parent
            // replaces this process at once.
            exit::record_started();
            started = true;
        }
        let age = st.born.elapsed().as_secs();
        let idle = (st.active.load(Ordering::Acquire) == 0)
            .then(|| age.saturating_sub(st.last_activity.load(Ordering::Acquire)));
        if let Some(verdict) = recycling_due(g, st.served.load(Ordering::Acquire), age, idle) {
            return verdict;
        }
        // Requests given up on are answered already; the others may finish
        // within graceful-timeout.
        if timeouts::check(st) > 0 {
            return (ExitReason::RequestTimeout, g.graceful_timeout);
        }
        if g.deadlock_timeout > 0 {
            let blocked = millis_since(st.born).saturating_sub(st.gil_seen.load(Ordering::Acquire));
            if blocked >= g.deadlock_timeout.saturating_mul(1000) {
                deadlocked(st, Duration::from_millis(blocked));
            }
        }
        if g.startup_timeout > 0 && !st.app_loaded.load(Ordering::Acquire) {
            let first = *st.first_request.lock().unwrap_or_else(|e| e.into_inner());
            if first.is_some_and(|t| t.elapsed().as_secs() >= g.startup_timeout) {
                return (ExitReason::StartupTimeout, 0);
            }
        }
    }
}

/// What a signal the main thread took means: why the process ends and for
/// how many seconds in-flight requests may still run; `None` for a signal
/// it ignores.
fn on_signal(sig: i32, g: &DaemonGroup) -> Option<(ExitReason, u64)> {
    Some(match sig {
        libc::SIGTERM | libc::SIGINT => (ExitReason::Shutdown, 0),
        // Apache restarted gracefully: a new generation of this group is
        // starting on the same socket.
        libc::SIGWINCH => (ExitReason::Retired, g.graceful_timeout),
        libc::SIGUSR1 => {
            let t = if g.eviction_timeout > 0 {
                g.eviction_timeout
            } else {
                g.graceful_timeout
            };
            (ExitReason::Evicted, t)
        }
        libc::SIGXCPU => (ExitReason::RequestTimeout, g.graceful_timeout),
        _ => return None,
    })
}

/// maximum-requests, restart-interval and inactivity-timeout, after
/// `served` requests, `age` seconds, and (with no request running) `idle`
/// seconds since the last one: whether one is due, as [`on_signal`].
fn recycling_due(
    g: &DaemonGroup,
    served: u64,
    age: u64,
    idle: Option<u64>,
) -> Option<(ExitReason, u64)> {
    if g.maximum_requests > 0 && served >= g.maximum_requests {
        return Some((ExitReason::MaximumRequests, g.graceful_timeout));
    }
    if g.restart_interval > 0 && age >= g.restart_interval {
        return Some((ExitReason::RestartInterval, g.graceful_timeout));
    }
    if g.inactivity_timeout > 0 && idle.is_some_and(|idle| idle >= g.inactivity_timeout) {
        return Some((ExitReason::InactivityTimeout, 0));
    }
    None
}

fn millis_since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// deadlock-timeout: takes the main GIL once a second, as mod_wsgi's
/// deadlock thread does (through the interpreter of the longest-running
/// request where that matters: see `python::touch_main_gil`); the main
/// thread restarts the process when that has not succeeded for
/// deadlock-timeout seconds.
pub(super) fn heartbeat(st: &State) {
    st.gil_seen.store(millis_since(st.born), Ordering::Release);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let stopped = st.python_stopped.read().unwrap_or_else(|e| e.into_inner());
        if *stopped {
            return;
        }
        if python::touch_main_gil(longest_running_interpreter(st)).is_ok() {
            st.gil_seen.store(millis_since(st.born), Ordering::Release);
        }
    }
}

/// The interpreter of the request running longest, if it is known yet.
fn longest_running_interpreter(st: &State) -> Option<i64> {
    let running = st.running.lock().unwrap_or_else(|e| e.into_inner());
    running
        .iter()
        .flatten()
        .filter(|r| r.interpreter.is_some())
        .min_by_key(|r| r.started)
        .and_then(|r| r.interpreter)
}

/// The GIL has been held for deadlock-timeout: no Python code can run in
/// this process any more, so there is nothing to finish. Logs what was
/// running (and, through faulthandler, every thread's Python stack), then
/// exits; the parent starts a new process.
fn deadlocked(st: &State, blocked: Duration) -> ! {
    let g = &st.rt.group;
    let running: Vec<String> = st
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let r = r.as_ref()?;
            Some(format!(
                "thread {} ({:#018x}) for {:.1}s: {}",
                i + 1,
                r.thread_id,
                r.started.elapsed().as_secs_f64(),
                r.what
            ))
        })
        .collect();
    log::process(
        Level::Error,
        &format!(
            "mod_wsgi (pid={}): Daemon process '{}' deadlocked: Python's GIL could not be taken for {:.1}s (deadlock-timeout={}s); {} request(s) running{}{}; restarting the process.",
            pid(),
            g.name,
            blocked.as_secs_f64(),
            g.deadlock_timeout,
            running.len(),
            if running.is_empty() {
                String::new()
            } else {
                format!(": {}", running.join("; "))
            },
            if st.stack_dump.is_some() {
                "; the Python stack of each thread follows"
            } else {
                ""
            }
        ),
    );
    exit::record_reason(ExitReason::DeadlockTimeout);
    if st.stack_dump.is_some() {
        // Raised in a thread without a Python thread state, so faulthandler
        // dumps the main interpreter's threads.
        let _ = std::thread::spawn(|| signals::raise(signals::stack_dump_signal())).join();
    }
    process::exit_now(1)
}

/// Registers faulthandler's stack dump on the stack signal (see
/// `deadlocked`); `None` (and a warning) if Python refuses.
pub(super) fn enable_stack_dumps(rt: &GroupRuntime, fd: RawFd) -> Option<RawFd> {
    match python::dump_stacks_on_signal(signals::stack_dump_signal(), fd) {
        Ok(()) => Some(fd),
        Err(e) => {
            log::process(
                Level::Warn,
                &format!(
                    "mod_wsgi (pid={}): Daemon process '{}': Python stacks will not be logged on deadlock-timeout: {e}",
                    pid(),
                    rt.group.name
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> DaemonGroup {
        let mut g = DaemonGroup::new("g");
        g.graceful_timeout = 15;
        g
    }

    #[test]
    fn signals_stop_drain_or_evict() {
        let mut g = group();
        assert_eq!(
            on_signal(libc::SIGTERM, &g),
            Some((ExitReason::Shutdown, 0))
        );
        assert_eq!(on_signal(libc::SIGINT, &g), Some((ExitReason::Shutdown, 0)));
        assert_eq!(
            on_signal(libc::SIGWINCH, &g),
            Some((ExitReason::Retired, 15))
        );
        assert_eq!(
            on_signal(libc::SIGUSR1, &g),
            Some((ExitReason::Evicted, 15))
        );
        g.eviction_timeout = 3;
        assert_eq!(on_signal(libc::SIGUSR1, &g), Some((ExitReason::Evicted, 3)));
        assert_eq!(
            on_signal(libc::SIGXCPU, &g),
            Some((ExitReason::RequestTimeout, 15))
        );
        assert_eq!(on_signal(libc::SIGHUP, &g), None);
        assert_eq!(on_signal(libc::SIGUSR2, &g), None);
    }

    #[test]
    fn recycling_timers() {
        let mut g = group();
        assert_eq!(recycling_due(&g, 1_000, 1_000_000, Some(1_000_000)), None);
        g.maximum_requests = 10;
        assert_eq!(recycling_due(&g, 9, 0, None), None);
        assert_eq!(
            recycling_due(&g, 10, 0, None),
            Some((ExitReason::MaximumRequests, 15))
        );
        g.restart_interval = 60;
        assert_eq!(
            recycling_due(&g, 0, 60, None),
            Some((ExitReason::RestartInterval, 15))
        );
        g.inactivity_timeout = 30;
        assert_eq!(recycling_due(&g, 0, 59, Some(29)), None);
        // Not while a request runs, however long since the last one began.
        assert_eq!(recycling_due(&g, 0, 59, None), None);
        assert_eq!(
            recycling_due(&g, 0, 59, Some(30)),
            Some((ExitReason::InactivityTimeout, 0))
        );
    }
}
