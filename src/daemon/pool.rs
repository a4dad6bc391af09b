//! Connections an Apache child keeps open to daemon groups between
//! requests: a request takes one (or connects afresh when none is idle) and
//! gives it back once its response ended cleanly, so most requests skip the
//! connect and the daemon's accept. Keyed by socket path (one per group:
//! an Apache child only ever serves one configuration generation).
//!
//! A kept connection may have gone stale (its daemon died, recycled or was
//! restarted): the dispatcher finds that out as the daemon's goodbye, or
//! the connection closed before the request was written (EPIPE) or with
//! it unread (ECONNRESET), and sends the request again on a new connection.
//! That is safe because on a kept connection no request body is read from
//! the client before the daemon's `Continue`.

use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most this many idle connections per group in one Apache child
/// (beyond it they are closed): enough for every thread of a busy child.
const MAX_IDLE_PER_GROUP: usize = 64;

/// A connection is not used once it is this old. A group's processes share
/// one listening socket and a connection stays with the process that
/// accepted it; new connections go to whichever process has a thread free
/// at that moment, so renewing them spreads the load over the processes
/// again (and onto new processes after a restart) at the cost of one
/// connect per connection per period.
const MAX_AGE: Duration = Duration::from_secs(1);

/// A connection to a daemon group, when it was made, and the daemon
/// process that said hello on it.
pub(crate) struct Kept {
    pub(crate) stream: UnixStream,
    pub(crate) born: Instant,
    pub(crate) pid: u32,
}

/// Idle connections by socket path. Only Apache children dispatch, and
/// they are forked from a parent that never does: no process inherits a
/// pool it did not fill.
#[derive(Default)]
struct Pool {
    groups: Vec<(String, Vec<Kept>)>,
}

static POOL: Mutex<Pool> = Mutex::new(Pool { groups: Vec::new() });

/// An idle connection to the group listening on `socket_path`, if any
/// (the most recently used: likeliest still to be alive).
pub(crate) fn take(socket_path: &str) -> Option<Kept> {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let idle = &mut pool
        .groups
        .iter_mut()
        .find(|(path, _)| path == socket_path)?
        .1;
    // Old ones are closed: the least recently used are at the bottom.
    idle.retain(|k| k.born.elapsed() < MAX_AGE);
    idle.pop()
}

/// Keeps `conn` for the next request to the same group, unless it is old.
pub(crate) fn give_back(socket_path: &str, conn: Kept) {
    if conn.born.elapsed() >= MAX_AGE {
        return;
    }
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let groups = &mut pool.groups;
    let at = match groups.iter().position(|(path, _)| path == socket_path) {
        Some(i) => i,
        None => {
            groups.push((socket_path.to_string(), Vec::new()));
            groups.len() - 1
        }
    };
    let idle = &mut groups[at].1;
    if idle.len() < MAX_IDLE_PER_GROUP {
        idle.push(conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn connections_come_back_per_group_last_in_first_out() {
        let (a1, _p1) = UnixStream::pair().unwrap();
        let (a2, _p2) = UnixStream::pair().unwrap();
        let (b1, _p3) = UnixStream::pair().unwrap();
        let fds = [a1.as_raw_fd(), a2.as_raw_fd(), b1.as_raw_fd()];
        let fd = |s: Option<Kept>| s.map(|k| k.stream.as_raw_fd());
        let now = Instant::now();
        assert!(take("/test/pool/a").is_none());
        give_back(
            "/test/pool/a",
            Kept {
                stream: a1,
                born: now,
                pid: 1,
            },
        );
        give_back(
            "/test/pool/a",
            Kept {
                stream: a2,
                born: now,
                pid: 1,
            },
        );
        give_back(
            "/test/pool/b",
            Kept {
                stream: b1,
                born: now,
                pid: 1,
            },
        );
        assert_eq!(fd(take("/test/pool/a")), Some(fds[1]));
        assert_eq!(fd(take("/test/pool/a")), Some(fds[0]));
        assert!(take("/test/pool/a").is_none());
        assert_eq!(fd(take("/test/pool/b")), Some(fds[2]));
    }

    #[test]
    fn old_connections_are_not_used() {
        let (old, _peer) = UnixStream::pair().unwrap();
        let born = Instant::now() - MAX_AGE;
        give_back(
            "/test/pool/old",
            Kept {
                stream: old,
                born,
                pid: 1,
            },
        );
        assert!(take("/test/pool/old").is_none());
        let (aging, _peer) = UnixStream::pair().unwrap();
        let born = Instant::now() - MAX_AGE / 2;
        give_back(
            "/test/pool/old",
            Kept {
                stream: aging,
                born,
                pid: 1,
            },
        );
        std::thread::sleep(MAX_AGE / 2);
        assert!(take("/test/pool/old").is_none());
    }
}
