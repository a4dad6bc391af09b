//! request-timeout and interrupt-timeout, as mod_wsgi 6: a request running
//! longer than `request-timeout * (1 + ln(threads))` has its Python stack
//! logged; with interrupt-timeout, `mod_wsgi.RequestTimeout` is raised in
//! its thread (the adapter answers 504 if it unwinds, and the process
//! lives on); without, or if it has not unwound interrupt-timeout seconds
//! later, the daemon gives up on it: the request is answered at once (504,
//! or an abort once output went out) and the process is recycled, letting
//! its other requests finish within graceful-timeout.
//!
//! The main thread decides ([`check`], every 100 ms and while shutting
//! down); what needs a GIL (reading stacks, raising the exception) is done
//! by the request-timeout thread ([`work`]), so the main thread never waits
//! for one (deadlock-timeout must still fire when a GIL is stuck).

use std::sync::mpsc::{self, Receiver};
use std::sync::{PoisonError, TryLockError};
use std::time::{Duration, Instant};

use crate::apache::log::{self, Level};
use crate::config::daemon::DaemonGroup;
use crate::daemon::exit::{self, ExitReason};
use crate::os::sockets;
use crate::python::{self, interpreters::Interrupted};

use super::{Running, State, pid};

/// How long the main thread waits for the stack of a request it gives up
/// on to be logged, before it goes on (the GIL may be stuck).
const STACK_WAIT: Duration = Duration::from_secs(2);

/// Work for the request-timeout thread.
pub(super) enum Job {
    /// Log the Python stack of a request's thread (at LogLevel debug, the
    /// other threads' too); then say so on `done`.
    Stacks {
        thread: u64,
        interpreter: i64,
        done: mpsc::SyncSender<()>,
    },
    /// Log the stack, then raise `mod_wsgi.RequestTimeout` in the thread if
    /// slot `slot` still runs request `number`.
    Interrupt {
        slot: usize,
        number: u64,
        thread: u64,
        interpreter: i64,
    },
}

/// mod_wsgi 6: a request times out after `T * (1 + ln(threads))`.
pub(super) fn request_limit(timeout: u64, threads: u32) -> Duration {
    Duration::from_secs_f64(timeout as f64 * (1.0 + f64::from(threads.max(1)).ln()))
}

/// What to do about one running request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Wait,
    /// Raise `RequestTimeout` in it (interrupt-timeout).
    Interrupt,
    /// Answer it and recycle the process.
    GiveUp,
}

/// A request running for `elapsed`, interrupted `interrupted` ago (if it
/// was), against `limit` (the scaled request-timeout) and interrupt-timeout
/// (seconds, 0: none) — mod_wsgi's rule: past the limit, interrupt once if
/// interrupt-timeout is set, give up when it is not or once it has passed.
fn verdict(
    elapsed: Duration,
    interrupted: Option<Duration>,
    limit: Duration,
    interrupt_timeout: u64,
) -> Verdict {
    if elapsed <= limit {
        return Verdict::Wait;
    }
    if interrupt_timeout == 0 {
        return Verdict::GiveUp;
    }
    match interrupted {
        None => Verdict::Interrupt,
        Some(d) if d > Duration::from_secs(interrupt_timeout) => Verdict::GiveUp,
        Some(_) => Verdict::Wait,
    }
}

/// Whether a request no longer holds up a graceful stop: mod_wsgi does not
/// wait for a request older than request-timeout plus interrupt-timeout (it
/// will not end by itself), nor do we for one given up on (answered).
fn stale(g: &DaemonGroup, r: &Running) -> bool {
    r.given_up
        || (g.request_timeout > 0
            && r.started.elapsed()
                > Duration::from_secs(g.request_timeout.saturating_add(g.interrupt_timeout)))
}

/// The requests a graceful stop waits for: those accepted and not stale.
pub(super) fn worth_waiting_for(st: &State) -> usize {
    let g = &st.rt.group;
    let running = st.running.lock().unwrap_or_else(PoisonError::into_inner);
    let stale = running.iter().flatten().filter(|r| stale(g, r)).count();
    st.active
        .load(std::sync::atomic::Ordering::SeqCst)
        .saturating_sub(stale)
}

/// How many requests given up on still run.
pub(super) fn given_up(st: &State) -> usize {
    let running = st.running.lock().unwrap_or_else(PoisonError::into_inner);
    running.iter().flatten().filter(|r| r.given_up).count()
}

/// How a request is named in the log.
fn describe(g: &DaemonGroup, r: &Running, limit: Duration) -> String {
    format!(
        "Daemon process '{}': thread {:#018x} has run {} for {:.1}s, longer than request-timeout ({}s{})",
        g.name,
        r.thread_id,
        r.what,
        r.started.elapsed().as_secs_f64(),
        g.request_timeout,
        if g.threads > 1 {
            format!(
                ", i.e. {:.1}s with {} threads: request-timeout * (1 + ln(threads))",
                limit.as_secs_f64(),
                g.threads
            )
        } else {
            String::new()
        }
    )
}

/// Checks every running request against request-timeout: logs and
/// interrupts those past it (interrupt-timeout), gives up on those that
/// cannot be or were not interrupted in time. Returns how many it gave up
/// on now (the caller recycles the process).
pub(super) fn check(st: &State) -> usize {
    let g = &st.rt.group;
    let Some(jobs) = &st.timeout_jobs else {
        return 0;
    };
    let limit = request_limit(g.request_timeout, g.threads);
    let mut stacks = Vec::new();
    let mut given_up = 0;
    {
        let mut running = st.running.lock().unwrap_or_else(PoisonError::into_inner);
        for (slot, r) in running.iter_mut().enumerate() {
            let Some(r) = r.as_mut().filter(|r| !r.given_up) else {
                continue;
            };
            let interrupted = r.interrupted.map(|t| t.elapsed());
            match verdict(r.started.elapsed(), interrupted, limit, g.interrupt_timeout) {
                Verdict::Wait => {}
                Verdict::Interrupt => {
                    r.interrupted = Some(Instant::now());
                    let Some(interpreter) = r.interpreter else {
                        log::process(
                            Level::Error,
                            &format!(
                                "mod_wsgi (pid={}): {}; it has not entered Python yet and cannot be interrupted.",
                                pid(),
                                describe(g, r, limit)
                            ),
                        );
                        continue;
                    };
                    log::process(
                        Level::Error,
                        &format!(
                            "mod_wsgi (pid={}): {}; raising mod_wsgi.RequestTimeout in it (interrupt-timeout={}s).",
                            pid(),
                            describe(g, r, limit),
                            g.interrupt_timeout
                        ),
                    );
                    let _ = jobs.send(Job::Interrupt {
                        slot,
                        number: r.number,
                        thread: r.thread_id,
                        interpreter,
                    });
                }
                Verdict::GiveUp => {
                    let why = if g.interrupt_timeout == 0 {
                        "it is not interrupted (interrupt-timeout=0)".to_string()
                    } else if r.interpreter.is_none() {
                        "it could not be interrupted".to_string()
                    } else {
                        format!(
                            "it did not unwind within interrupt-timeout ({}s) of RequestTimeout being raised in it (blocked outside Python, or it caught the exception)",
                            g.interrupt_timeout
                        )
                    };
                    if given_up == 0 && st.accepting.load(std::sync::atomic::Ordering::SeqCst) {
                        // Before the request is answered: an Apache child
                        // that sees its connection end instead reads why.
                        exit::record_reason(ExitReason::RequestTimeout);
                    }
                    log::process(
                        Level::Error,
                        &format!(
                            "mod_wsgi (pid={}): {}; {why}: answering it 504 and restarting the process.",
                            pid(),
                            describe(g, r, limit)
                        ),
                    );
                    give_up(
                        r,
                        &format!(
                            "mod_wsgi (pid={}): Daemon process '{}' gave up on this request after {:.1}s (request-timeout={}s; {why}); the process is restarted.",
                            pid(),
                            g.name,
                            r.started.elapsed().as_secs_f64(),
                            g.request_timeout
                        ),
                    );
                    given_up += 1;
                    if let Some(interpreter) = r.interpreter {
                        stacks.push((r.thread_id, interpreter));
                    }
                }
            }
        }
    }
    // Where they are stuck, logged before the process goes (waiting
    // STACK_WAIT at most in all).
    let deadline = Instant::now() + STACK_WAIT;
    let asked: Vec<_> = stacks
        .into_iter()
        .map(|(thread, interpreter)| {
            let (done, logged) = mpsc::sync_channel(1);
            let sent = jobs.send(Job::Stacks {
                thread,
                interpreter,
                done,
            });
            (thread, sent.is_ok().then_some(logged))
        })
        .collect();
    for (thread, logged) in asked {
        let left = deadline.saturating_duration_since(Instant::now());
        if logged.is_some_and(|l| l.recv_timeout(left).is_err()) {
            log::process(
                Level::Error,
                &format!(
                    "mod_wsgi (pid={}): Daemon process '{}': the Python stack of thread {thread:#018x} could not be read within {}s (a GIL is held; deadlock-timeout covers that).",
                    pid(),
                    g.name,
                    STACK_WAIT.as_secs()
                ),
            );
        }
    }
    given_up
}

/// Answers a request given up on, now (its thread keeps running until the
/// process ends). Called with `running` locked, so the socket is still the
/// request's.
fn give_up(r: &mut Running, message: &str) {
    r.given_up = true;
    match r.conn.try_lock() {
        Ok(mut conn) => conn.abandon(message),
        Err(TryLockError::Poisoned(e)) => e.into_inner().abandon(message),
        // The thread is reading or writing the connection: ending the
        // socket ends that, and the Apache child sees why (the exit
        // reason recorded above).
        Err(TryLockError::WouldBlock) => {
            let _ = sockets::shutdown(r.socket);
        }
    }
}

/// The request-timeout thread: does the jobs [`check`] sends, entering
/// Python only while it runs (the read lock on `python_stopped`).
pub(super) fn work(st: &State, jobs: Receiver<Job>) {
    // Bound now, so it later waits for a sub-interpreter's GIL with that
    // interpreter's thread state, which asks the thread looping there to
    // let go of it (see `python::prepare_thread`).
    python::prepare_thread();
    for job in jobs {
        let stopped = st
            .python_stopped
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if *stopped {
            return;
        }
        match job {
            Job::Stacks {
                thread,
                interpreter,
                done,
            } => {
                log_stacks(st, thread, interpreter);
                let _ = done.try_send(());
            }
            Job::Interrupt {
                slot,
                number,
                thread,
                interpreter,
            } => {
                log_stacks(st, thread, interpreter);
                interrupt(st, slot, number, thread, interpreter);
            }
        }
    }
}

/// Raises `RequestTimeout` in the thread, if it still runs that request:
/// checked with `running` locked, which stays locked until the exception
/// is set, so it cannot land on the thread's next request (and one set just
/// as the request ended is dropped when the next one starts).
fn interrupt(st: &State, slot: usize, number: u64, thread: u64, interpreter: i64) {
    let g = &st.rt.group;
    let confirm = || {
        let running = st.running.lock().unwrap_or_else(PoisonError::into_inner);
        running
            .get(slot)
            .and_then(Option::as_ref)
            .is_some_and(|r| r.number == number && !r.given_up)
            .then_some(running)
    };
    let (level, what) = match python::interrupt(thread, interpreter, confirm) {
        Ok(Interrupted::Raised) => (
            Level::Info,
            format!(
                "raised mod_wsgi.RequestTimeout in thread {thread:#018x}; it has interrupt-timeout ({}s) to unwind",
                g.interrupt_timeout
            ),
        ),
        Ok(Interrupted::Declined) => (
            Level::Info,
            format!("the request of thread {thread:#018x} ended before it could be interrupted"),
        ),
        Ok(Interrupted::NoThread) => (
            Level::Error,
            format!(
                "cannot raise RequestTimeout in thread {thread:#018x}: it has no thread state in that interpreter"
            ),
        ),
        Err(e) => (
            Level::Error,
            format!("cannot raise RequestTimeout in thread {thread:#018x}: {e}"),
        ),
    };
    log::process(
        level,
        &format!(
            "mod_wsgi (pid={}): Daemon process '{}': {what}.",
            pid(),
            g.name
        ),
    );
}

/// Logs where `thread` is in `interpreter` (and, at LogLevel debug, every
/// other thread there).
fn log_stacks(st: &State, thread: u64, interpreter: i64) {
    let g = &st.rt.group;
    let all = log::process_enabled(Level::Debug);
    let head = format!("mod_wsgi (pid={}): Daemon process '{}'", pid(), g.name);
    match python::thread_stacks(interpreter, thread, all) {
        Ok(stacks) => {
            match stacks.thread {
                Some(text) => {
                    log::process(
                        Level::Error,
                        &format!(
                            "{head}: Python stack of thread {thread:#018x} (most recent call last):"
                        ),
                    );
                    for line in text.lines() {
                        log::process(Level::Error, line);
                    }
                }
                None => log::process(
                    Level::Error,
                    &format!("{head}: thread {thread:#018x} runs no Python code now."),
                ),
            }
            if let Some(text) = stacks.others {
                log::process(
                    Level::Debug,
                    &format!("{head}: the other threads of that interpreter:"),
                );
                for line in text.lines() {
                    log::process(Level::Debug, line);
                }
            }
        }
        Err(e) => log::process(
            Level::Error,
            &format!("{head}: cannot read the Python stack of thread {thread:#018x}: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(f64) -> Duration = Duration::from_secs_f64;

    #[test]
    fn request_timeout_scales_with_threads() {
        assert_eq!(request_limit(10, 1), Duration::from_secs(10));
        let l = request_limit(10, 15).as_secs_f64();
        assert!((l - 10.0 * (1.0 + 15f64.ln())).abs() < 1e-6);
        let l = request_limit(3, 3).as_secs_f64();
        assert!((l - 6.2958).abs() < 1e-3, "{l}");
    }

    #[test]
    fn without_interrupt_timeout_a_late_request_is_given_up_on() {
        let limit = S(3.0);
        assert_eq!(verdict(S(3.0), None, limit, 0), Verdict::Wait);
        assert_eq!(verdict(S(3.01), None, limit, 0), Verdict::GiveUp);
    }

    #[test]
    fn with_interrupt_timeout_it_is_interrupted_once_then_given_up_on() {
        let limit = S(3.0);
        assert_eq!(verdict(S(2.0), None, limit, 2), Verdict::Wait);
        assert_eq!(verdict(S(3.5), None, limit, 2), Verdict::Interrupt);
        assert_eq!(verdict(S(4.0), Some(S(0.5)), limit, 2), Verdict::Wait);
        assert_eq!(verdict(S(5.5), Some(S(2.0)), limit, 2), Verdict::Wait);
        assert_eq!(verdict(S(5.6), Some(S(2.1)), limit, 2), Verdict::GiveUp);
    }
}
