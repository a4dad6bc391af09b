//! How a daemon process ends: it stops accepting, lets in-flight requests
//! finish, then stops Python under a reaper thread bounding it all.
//! request-timeout keeps being enforced meanwhile; requests given up on
//! (answered already) are not waited for.

use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::apache::log::{self, Level};
use crate::apache::module::server_config;
use crate::apache::server::Server;
use crate::daemon::exit::{self, ExitReason};
use crate::os::{descriptors, process, signals};
use crate::python;

use super::{State, pid, timeouts};

/// Stops accepting, lets in-flight requests finish for up to `grace`
/// seconds (SIGTERM ends that wait; as mod_wsgi, requests older than
/// request-timeout + interrupt-timeout are not waited for), then shuts
/// down: everything, requests still running included, within
/// `shutdown-timeout`, after which a reaper thread ends the process.
pub(super) fn shut_down(
    st: &Arc<State>,
    wake_w: RawFd,
    reason: ExitReason,
    grace: u64,
    sigset: &libc::sigset_t,
) -> ! {
    let g = &st.rt.group;
    log::process(
        if reason.is_planned() {
            Level::Info
        } else {
            Level::Error
        },
        &format!(
            "mod_wsgi (pid={}): Daemon process '{}' stopping: {}.",
            pid(),
            g.name,
            reason.describe()
        ),
    );
    exit::record_reason(reason);
    st.accepting.store(false, Ordering::SeqCst);
    descriptors::write_byte(wake_w);
    st.idle.stop();
    // New connections wait in the shared listen queue for another process
    // (of this generation or the next).
    let deadline = Instant::now() + Duration::from_secs(grace);
    while timeouts::worth_waiting_for(st) > 0 && Instant::now() < deadline {
        timeouts::check(st);
        if let Some(sig) = signals::wait_signal(sigset, Duration::from_millis(10)) {
            if matches!(sig, libc::SIGTERM | libc::SIGINT) {
                log::process(
                    Level::Info,
                    &format!(
                        "mod_wsgi (pid={}): Daemon process '{}': shutdown requested while finishing requests.",
                        pid(),
                        g.name
                    ),
                );
                break;
            }
        }
    }
    // The reaper bounds the rest: requests still running and Python's own
    // shutdown (process_stopping callbacks).
    let limit = g.shutdown_timeout.max(1);
    let name = g.name.clone();
    let reaped = st.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(limit));
        let running = reaped.active.load(Ordering::Acquire);
        log::process(
            Level::Warn,
            &format!(
                "mod_wsgi (pid={}): Daemon process '{name}' did not finish within shutdown-timeout ({limit}s){}; exiting anyway.",
                pid(),
                if running > 0 {
                    format!(" with {running} request(s) still running")
                } else {
                    String::new()
                }
            ),
        );
        process::exit_now(0);
    });
    // Requests given up on after request-timeout are answered already and
    // will not end by themselves: they do not hold up the exit.
    while st.active.load(Ordering::SeqCst) > timeouts::given_up(st) {
        timeouts::check(st);
        std::thread::sleep(Duration::from_millis(10));
    }
    let stuck = timeouts::given_up(st);
    let destroy = server_config(Server::main()).is_none_or(|c| c.global.destroy_interpreter());
    // The deadlock heartbeat and the request-timeout thread enter Python no
    // more (if one is stuck entering it, the reaper above ends the process).
    *st.python_stopped.write().unwrap_or_else(|e| e.into_inner()) = true;
    if stuck > 0 && destroy {
        // Finalising Python under a thread that still runs in it would
        // crash or hang that thread: only process_stopping runs.
        log::process(
            Level::Info,
            &format!(
                "mod_wsgi (pid={}): Daemon process '{}': {stuck} request(s) given up on still run; Python is not finalised.",
                pid(),
                g.name
            ),
        );
    }
    python::stop(destroy && stuck == 0);
    process::exit_now(0)
}
