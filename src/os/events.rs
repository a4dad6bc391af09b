//! A readiness set (epoll) that several threads wait on at once: each event
//! goes to one waiting thread. One-shot registrations are disarmed when
//! their event is handed out and re-armed by the thread that handled it, so
//! two threads never get the same descriptor; level-triggered ones (a wake
//! pipe) wake every thread while they stay readable.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};

use rustix::event::epoll::{self, CreateFlags, Event, EventData, EventFlags};

pub(crate) struct Readiness {
    epoll: OwnedFd,
}

/// How a descriptor is watched.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Watch {
    /// Reported to one thread, then not again until re-armed.
    Once,
    /// Reported while readable, to every thread that waits.
    Always,
}

fn flags(watch: Watch) -> EventFlags {
    match watch {
        Watch::Once => EventFlags::IN | EventFlags::ONESHOT,
        Watch::Always => EventFlags::IN,
    }
}

fn borrow(fd: &RawFd) -> BorrowedFd<'_> {
    // SAFETY: callers pass descriptors they keep open for the call (a
    // listener or pipe open for the process's life, or a socket they own);
    // the borrow lasts only as long as the reference to `fd`.
    unsafe { BorrowedFd::borrow_raw(*fd) }
}

impl Readiness {
    pub(crate) fn new() -> io::Result<Readiness> {
        Ok(Readiness {
            epoll: epoll::create(CreateFlags::CLOEXEC)?,
        })
    }

    /// Starts watching `fd` for input; its events carry `token`.
    pub(crate) fn add(&self, fd: RawFd, token: u64, watch: Watch) -> io::Result<()> {
        epoll::add(
            &self.epoll,
            borrow(&fd),
            EventData::new_u64(token),
            flags(watch),
        )?;
        Ok(())
    }

    /// Re-arms a one-shot registration of `fd` (an event pending now is
    /// reported at once).
    pub(crate) fn rearm(&self, fd: RawFd, token: u64) -> io::Result<()> {
        epoll::modify(
            &self.epoll,
            borrow(&fd),
            EventData::new_u64(token),
            flags(Watch::Once),
        )?;
        Ok(())
    }

    /// Stops watching `fd` (before it is closed: a copy of it in a forked
    /// child would otherwise keep the registration alive).
    pub(crate) fn remove(&self, fd: RawFd) {
        let _ = epoll::delete(&self.epoll, borrow(&fd));
    }

    /// Waits for the next event and returns its token.
    pub(crate) fn wait(&self) -> io::Result<u64> {
        // On the stack: this runs once per request in a daemon.
        let mut events = [std::mem::MaybeUninit::<Event>::uninit(); 1];
        loop {
            match epoll::wait(&self.epoll, &mut events, None) {
                Ok((ready, _)) => {
                    if let Some(e) = ready.first() {
                        return Ok(e.data.u64());
                    }
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}
