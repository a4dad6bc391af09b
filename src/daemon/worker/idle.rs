//! What a daemon's request threads wait for: the group's listener, the wake
//! pipe, and the connections Apache children keep open between requests
//! (each child pools its connections, so most requests arrive on one that
//! served an earlier request). All sit in one readiness set; a connection
//! waiting for its next request holds no thread, so however many Apache
//! children keep connections, every request thread stays free to serve.

use std::collections::HashMap;
use std::io::{self, BufReader};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;

use crate::daemon::protocol;
use crate::os::events::{Readiness, Watch};
use crate::os::sockets;

const LISTENER: u64 = 0;
const WAKE: u64 = 1;

/// The most connections kept open between requests per process; beyond
/// it, a connection is closed after its request (the Apache child then
/// connects afresh next time). Far above what the Apache children of one
/// server hold, far below the descriptor limit.
const MAX_IDLE: usize = 512;

/// What a connection's reads go through; kept with the connection between
/// requests (its buffer is empty then).
pub(crate) type Reader = BufReader<UnixStream>;

/// A daemon reads a connection in pieces of up to this size.
const READ_BUFFER: usize = 64 << 10;

/// A connection from an Apache child, with its registration.
pub(super) struct Connection {
    stream: Reader,
    /// Its token in the readiness set, once it was parked there.
    token: Option<u64>,
}

impl Connection {
    pub(super) fn accepted(stream: UnixStream) -> Connection {
        Connection {
            stream: BufReader::with_capacity(READ_BUFFER, stream),
            token: None,
        }
    }

    /// The socket, and what `from_parts` needs to rebuild this.
    pub(super) fn into_parts(self) -> (Reader, Option<u64>) {
        (self.stream, self.token)
    }

    pub(super) fn from_parts(stream: Reader, token: Option<u64>) -> Connection {
        Connection { stream, token }
    }
}

/// What a request thread is to do next.
pub(super) enum Next {
    /// The listener has a connection to accept.
    Accept,
    /// A parked connection has its next request (or was closed).
    Serve(Connection),
    /// The process stops taking requests.
    Stop,
    /// An event for a connection another thread or the shutdown took.
    Nothing,
}

struct Parked {
    /// False once the process stopped taking requests: nothing is parked.
    open: bool,
    next_token: u64,
    conns: HashMap<u64, Reader>,
}

pub(super) struct Idle {
    ready: Readiness,
    listener: RawFd,
    parked: Mutex<Parked>,
}

impl Idle {
    pub(super) fn new(listener: RawFd, wake: RawFd) -> io::Result<Idle> {
        let ready = Readiness::new()?;
        ready.add(listener, LISTENER, Watch::Once)?;
        ready.add(wake, WAKE, Watch::Always)?;
        Ok(Idle {
            ready,
            listener,
            parked: Mutex::new(Parked {
                open: true,
                next_token: WAKE + 1,
                conns: HashMap::new(),
            }),
        })
    }

    /// Waits for something to do.
    pub(super) fn next(&self) -> io::Result<Next> {
        Ok(match self.ready.wait()? {
            LISTENER => Next::Accept,
            WAKE => Next::Stop,
            token => {
                let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
                match parked.conns.remove(&token) {
                    Some(stream) => Next::Serve(Connection {
                        stream,
                        token: Some(token),
                    }),
                    None => Next::Nothing,
                }
            }
        })
    }

    /// The listener is watched again (after an accept).
    pub(super) fn listen_again(&self) {
        let _ = self.ready.rearm(self.listener, LISTENER);
    }

    /// Keeps `conn` open for its next request, unless the process stops
    /// taking requests or keeps enough connections already (then it says
    /// goodbye: the Apache child sends its next request on a new one).
    pub(super) fn park(&self, conn: Connection) {
        let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
        if !parked.open || parked.conns.len() >= MAX_IDLE {
            drop(parked);
            self.ready.remove(conn.stream.get_ref().as_raw_fd());
            say_goodbye(conn.stream.get_ref());
            return;
        }
        let fd = conn.stream.get_ref().as_raw_fd();
        // Armed under the lock: `stop` cannot close it in between.
        let token = match conn.token {
            Some(t) => self.ready.rearm(fd, t).map(|()| t),
            None => {
                let t = parked.next_token;
                parked.next_token += 1;
                self.ready.add(fd, t, Watch::Once).map(|()| t)
            }
        };
        match token {
            Ok(t) => {
                parked.conns.insert(t, conn.stream);
            }
            Err(_) => {
                drop(parked);
                self.ready.remove(conn.stream.get_ref().as_raw_fd());
                say_goodbye(conn.stream.get_ref());
            }
        }
    }

    /// Closes a connection that is not kept, saying goodbye on one that
    /// carried a request before: the Apache child may have sent its next
    /// request already, which this process does not read (it goes again on
    /// a new connection).
    pub(super) fn close(&self, conn: Connection) {
        if conn.token.is_some() {
            self.ready.remove(conn.stream.get_ref().as_raw_fd());
            say_goodbye(conn.stream.get_ref());
        }
    }

    /// The process stops taking requests: parked connections are closed
    /// (their Apache children send the next request elsewhere, having sent
    /// nothing on them) and none is parked from now on.
    pub(super) fn stop(&self) {
        // New connections wait in the listen queue for another process.
        self.ready.remove(self.listener);
        let conns = {
            let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
            parked.open = false;
            std::mem::take(&mut parked.conns)
        };
        for stream in conns.into_values() {
            self.ready.remove(stream.get_ref().as_raw_fd());
            say_goodbye(stream.get_ref());
        }
    }
}

/// Tells the Apache child this connection takes no more requests (best
/// effort, never waiting: a connection that cannot take five bytes is
/// closed without it).
fn say_goodbye(stream: &UnixStream) {
    let _ = sockets::write_ready(stream, &protocol::header(protocol::kind::GOODBYE, 0));
}
