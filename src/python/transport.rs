//! The small interface the WSGI adapter talks to. Embedded mode implements it
//! over Apache's request and brigades; daemon mode over the socket. The
//! adapter never sees a `request_rec`.

use std::os::fd::RawFd;

use crate::log::Level;
use crate::status::HttpStatus;

use super::response::ResponseHead;

/// A failure reading the request body.
#[derive(Debug, Clone)]
pub struct InputError {
    /// The HTTP status the failure implies (413 body too large, 400 bad
    /// chunking, 408 timeout...), if any.
    pub status: Option<HttpStatus>,
    pub message: String,
}

/// The client has gone, or the connection failed: stop producing output.
#[derive(Debug, Clone)]
pub struct OutputError(pub String);

/// How a body write ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// More data follows soon; the server may buffer.
    Buffer,
    /// Push everything written so far to the client now.
    Flush,
    /// This is the end of the body; the server may hold it until `finish`.
    Last,
}

pub trait Transport {
    /// The request runs here: called once, after the script-change check
    /// and before the script is loaded. A daemon tells the Apache child to
    /// send the request body now (it holds the body until then, so that a
    /// request its daemon turns away can be sent again).
    fn proceed(&mut self) {}

    /// Reads request body bytes into `buf`: `Ok(0)` at the end of the body.
    /// Blocks; callers release the GIL around it.
    fn read_body(&mut self, buf: &mut [u8]) -> Result<usize, InputError>;

    /// Records the response head; it goes out with the first body bytes.
    fn set_head(&mut self, head: &ResponseHead);

    /// Sends body bytes (the head first, if not yet sent).
    fn write(&mut self, data: &[u8], how: Write) -> Result<(), OutputError>;

    /// Sends `len` bytes of the open file `fd` from `offset` and flushes them:
    /// when this returns the server no longer needs `fd`.
    fn send_file(&mut self, fd: RawFd, offset: u64, len: u64) -> Result<(), OutputError>;

    /// The body failed after output started: end the response so the client
    /// can tell it is incomplete (no last chunk; connection closed).
    fn abort(&mut self);

    /// Completes a response whose body ended (`Write::Last`): pushes out what
    /// is still buffered and ends the stream. Called once the application is
    /// done, without the GIL, so the final (possibly blocking) write never
    /// holds it, and the worker writes the response itself instead of handing
    /// it to the MPM's write-completion loop.
    fn finish(&mut self);

    /// Writes to the error log with this request's context.
    fn log(&self, level: Level, message: &str);

    /// Whether a log line at `level` would be written.
    fn log_enabled(&self, level: Level) -> bool;
}
