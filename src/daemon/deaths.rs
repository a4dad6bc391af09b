//! Replacing a dead daemon at once. httpd's MPM looks for dead children
//! only between one-second sleeps (`ap_wait_or_timeout`: a non-blocking
//! `waitpid`, then `apr_sleep` for a second) and tells this module through
//! APR's other-child registry when it finds one, so a daemon would wait up
//! to a second to be replaced. A thread of the Apache parent therefore
//! polls a pidfd per daemon and, as one exits, sends the main thread a
//! signal whose handler does nothing: the sleep ends, the MPM reaps the
//! daemon and the supervisor forks its replacement.
//!
//! The thread blocks every signal (httpd's own reach the main thread),
//! reaps nothing and touches nothing of httpd's; it is stopped and joined
//! when the configuration pool is cleared, before httpd unloads the module.
//! Without pidfds (Linux before 5.3) daemons are replaced at the MPM's pace.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::apache::log::{self, Level};
use crate::os::{descriptors, process, signals};

/// The watching thread of one configuration generation.
pub(crate) struct DeathWatch {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    /// One pidfd per live daemon of this generation.
    pidfds: Mutex<Vec<OwnedFd>>,
    stop: AtomicBool,
    /// Wakes the thread: a pidfd was added, or it must stop.
    wake_r: RawFd,
    wake_w: RawFd,
    /// httpd's main thread, which sleeps in the MPM's loop.
    main: signals::Thread,
}

impl Shared {
    fn pidfds(&self) -> MutexGuard<'_, Vec<OwnedFd>> {
        self.pidfds.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        descriptors::close(self.wake_r);
        descriptors::close(self.wake_w);
    }
}

impl DeathWatch {
    /// Starts the thread (called on httpd's main thread, at post_config).
    pub(crate) fn start() -> io::Result<DeathWatch> {
        let (wake_r, wake_w) = descriptors::pipe()?;
        let shared = Arc::new(Shared {
            pidfds: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            wake_r,
            wake_w,
            main: signals::this_thread(),
        });
        signals::interrupt_only(signals::wake_signal());
        let sh = shared.clone();
        let thread = signals::spawn_without_signals("wsgi-deaths".into(), move || run(&sh))?;
        Ok(DeathWatch {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Watches the daemon `pid` (just forked) until it exits.
    pub(crate) fn watch(&self, pid: i32) {
        match process::pidfd(pid) {
            Ok(fd) => {
                self.shared.pidfds().push(fd);
                descriptors::write_byte(self.shared.wake_w);
            }
            Err(e) => log::process(
                Level::Debug,
                &format!(
                    "mod_wsgi (pid={}): no pidfd for daemon process {pid} ({e}): it is replaced when httpd notices its death",
                    std::process::id()
                ),
            ),
        }
    }

    /// Stops and joins the thread (a signal it sent has been delivered by
    /// the time the join returns) and restores the signal's default.
    pub(crate) fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        descriptors::write_byte(self.shared.wake_w);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
        self.shared.pidfds().clear();
        // No handler of this module stays installed once it may be
        // unloaded (and no "ignored" leaks into programs httpd runs).
        signals::reset_signal_handlers(&[signals::wake_signal()]);
    }
}

fn run(sh: &Shared) {
    while !sh.stop.load(Ordering::Acquire) {
        let mut fds = vec![(sh.wake_r, libc::POLLIN)];
        fds.extend(sh.pidfds().iter().map(|f| (f.as_raw_fd(), libc::POLLIN)));
        let ready = match descriptors::poll(&fds, None) {
            Ok(r) => r,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if ready[0] != 0 {
            descriptors::drain(sh.wake_r);
        }
        let dead: Vec<RawFd> = fds
            .iter()
            .zip(&ready)
            .skip(1)
            .filter(|(_, r)| **r != 0)
            .map(|((fd, _), _)| *fd)
            .collect();
        if !dead.is_empty() && !sh.stop.load(Ordering::Acquire) {
            // Only this thread removes pidfds: those in `dead` are still open.
            sh.pidfds().retain(|f| !dead.contains(&f.as_raw_fd()));
            signals::signal_thread(sh.main, signals::wake_signal());
        }
    }
}
