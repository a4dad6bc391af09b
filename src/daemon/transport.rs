//! The daemon-side [`Transport`]: the WSGI adapter reads the request body
//! from, and writes the response to, the connection from the Apache child,
//! in `protocol` frames.

use std::io::{BufRead, BufReader};
use std::io::{Read, Write as _};
use std::os::fd::AsRawFd;
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::apache::log::{self, Level};
use crate::os::{descriptors, sockets};
use crate::python::response::ResponseHead;
use crate::python::transport::{InputError, OutputError, Transport, Write};
use crate::status::HttpStatus;

use super::error::ReadError;
use super::protocol::{self, Frame, kind};

/// Body bytes are gathered up to this size before a frame is sent.
const BUFFER: usize = 64 << 10;

pub(crate) struct Conn {
    /// Reads are buffered (a frame header is 5 bytes); writes go straight to
    /// the socket through `get_ref()`.
    stream: BufReader<UnixStream>,
    pending_head: Option<ResponseHead<u16>>,
    pub head_sent: bool,
    /// End, Abort or Status went out.
    pub terminal_sent: bool,
    /// The adapter wrote the end of the body (`Write::Last`): `finish`
    /// completes the response. Otherwise the worker does, with the outcome.
    ended: bool,
    /// Writing to the Apache child failed: it (or its client) has gone.
    failed: Option<String>,
    out: Vec<u8>,
    input: Vec<u8>,
    input_pos: usize,
    input_done: bool,
    input_error: Option<InputError>,
    log_level: u8,
    /// The Apache child holds the body until this process says `Continue`
    /// (script reloading is on for the request).
    continue_owed: bool,
}

impl Conn {
    /// Reads go through `stream`'s buffer, kept between a connection's
    /// requests.
    pub(crate) fn new(stream: BufReader<UnixStream>, log_level: u8) -> Conn {
        Conn {
            stream,
            pending_head: None,
            head_sent: false,
            terminal_sent: false,
            ended: false,
            failed: None,
            out: Vec::new(),
            input: Vec::new(),
            input_pos: 0,
            input_done: false,
            input_error: None,
            log_level,
            continue_owed: false,
        }
    }

    /// The Apache child waits for `Continue` before it sends the body.
    pub(crate) fn expect_continue(&mut self) {
        self.continue_owed = true;
    }

    /// Tells the Apache child to send the body, if it waits for that.
    fn go_ahead(&mut self) {
        if std::mem::take(&mut self.continue_owed) {
            let _ = self.send(&Frame::Continue);
        }
    }

    pub(crate) fn log_level_set(&mut self, level: u8) {
        self.log_level = level;
    }

    /// Reads one whole frame (blocking, bounded by the socket timeout).
    pub(crate) fn read_frame(&mut self) -> Result<Frame, ReadError> {
        let mut h = [0u8; protocol::HEADER_LEN];
        self.stream.read_exact(&mut h)?;
        let (k, len) = protocol::parse_header(&h)?;
        // Read into spare capacity (no zero-fill): body frames are large.
        let mut payload = Vec::with_capacity(len);
        (&mut self.stream)
            .take(len as u64)
            .read_to_end(&mut payload)?;
        if payload.len() != len {
            return Err(ReadError::ClosedMidFrame);
        }
        if k == protocol::kind::DATA {
            return Ok(Frame::Data(payload));
        }
        Ok(protocol::parse_payload(k, &payload)?)
    }

    /// Whether the Apache child closed this connection (kept between
    /// requests, it is readable: its next request, or its end).
    pub(crate) fn peer_closed(&mut self) -> bool {
        self.stream.fill_buf().map_or(true, |b| b.is_empty())
    }

    /// The socket, if this connection can carry another request: the
    /// response ended normally and the request was read to its end, with
    /// nothing after it. The end of a body the application did not read is
    /// usually here already (the Apache child sends it with a bodiless
    /// request) and is taken without waiting; anything else means the
    /// connection is closed.
    pub(crate) fn into_reusable(mut self) -> Option<BufReader<UnixStream>> {
        if !self.terminal_sent
            || self.failed.is_some()
            || self.continue_owed
            || self.input_error.is_some()
            || self.input_pos < self.input.len()
        {
            return None;
        }
        if !self.input_done {
            let end = protocol::header(kind::END_OF_BODY, 0);
            let mut have = [0u8; protocol::HEADER_LEN];
            let buffered = self.stream.buffer().len().min(have.len());
            have[..buffered].copy_from_slice(&self.stream.buffer()[..buffered]);
            self.stream.consume(buffered);
            let mut filled = buffered;
            while filled < have.len() {
                match sockets::read_ready(self.stream.get_ref(), &mut have[filled..]) {
                    Ok(n) if n > 0 => filled += n,
                    _ => return None,
                }
            }
            if have != end {
                return None;
            }
        }
        if !self.stream.buffer().is_empty() {
            return None;
        }
        Some(self.stream)
    }

    /// Records a failure of the connection and returns it as an error.
    fn fail(&mut self, msg: String) -> OutputError {
        self.failed = Some(msg.clone());
        OutputError(msg)
    }

    fn send_raw(&mut self, bytes: &[u8]) -> Result<(), OutputError> {
        if let Some(e) = &self.failed {
            return Err(OutputError(e.clone()));
        }
        if let Err(e) = self.stream.get_ref().write_all(bytes) {
            let msg = format!("the Apache child closed the connection: {e}");
            self.failed = Some(msg.clone());
            return Err(OutputError(msg));
        }
        Ok(())
    }

    pub(crate) fn send(&mut self, frame: &Frame) -> Result<(), OutputError> {
        let mut buf = Vec::new();
        protocol::encode(frame, &mut buf).map_err(|e| OutputError(e.to_string()))?;
        self.send_raw(&buf)
    }

    fn send_head(&mut self) -> Result<(), OutputError> {
        if self.head_sent {
            return Ok(());
        }
        self.head_sent = true;
        let head = self.pending_head.take().unwrap_or_else(|| ResponseHead {
            status: HttpStatus::OK.code(),
            reason: "OK".into(),
            ..Default::default()
        });
        self.send(&Frame::Head(head))
    }

    /// Sends the buffered body bytes plus `data` as body frames.
    /// Sends `len` bytes of `fd` from `offset` as Body frames. Payloads go
    /// from the file to the socket in the kernel (sendfile); where the file
    /// does not support that, they are copied through a buffer instead.
    fn send_file_frames(&mut self, fd: RawFd, offset: u64, len: u64) -> Result<(), OutputError> {
        let sock = self.stream.get_ref().as_raw_fd();
        let mut use_sendfile = true;
        let mut buf = Vec::new();
        let mut sent = 0u64;
        while sent < len {
            let n = (len - sent).min(protocol::CHUNK as u64) as usize;
            self.send_raw(&protocol::header(kind::BODY, n))?;
            let mut done = 0;
            while done < n {
                let at = offset + sent + done as u64;
                let step = if use_sendfile {
                    descriptors::sendfile(sock, fd, at, n - done)
                } else {
                    buf.resize(protocol::CHUNK, 0);
                    let want = (n - done).min(buf.len());
                    let k = descriptors::pread(fd, &mut buf[..want], at)
                        .map_err(|e| self.fail(format!("reading the file: {e}")))?;
                    self.send_raw(&buf[..k])?;
                    Ok(k)
                };
                match step {
                    Ok(0) => {
                        return Err(self.fail("the file ended before its expected length".into()));
                    }
                    Ok(k) => done += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                        use_sendfile = false;
                    }
                    Err(e) => {
                        return Err(
                            self.fail(format!("the Apache child closed the connection: {e}"))
                        );
                    }
                }
            }
            sent += n as u64;
        }
        Ok(())
    }

    fn send_body(&mut self, data: &[u8], flush: bool) -> Result<(), OutputError> {
        self.send_head()?;
        let k = if flush { kind::BODY_FLUSH } else { kind::BODY };
        if !self.out.is_empty() && self.out.len() + data.len() <= protocol::CHUNK {
            let mut out = std::mem::take(&mut self.out);
            out.extend_from_slice(data);
            let mut frame = protocol::header(k, out.len()).to_vec();
            frame.extend_from_slice(&out);
            return self.send_raw(&frame);
        }
        if !self.out.is_empty() {
            let out = std::mem::take(&mut self.out);
            let mut frame = protocol::header(kind::BODY, out.len()).to_vec();
            frame.extend_from_slice(&out);
            self.send_raw(&frame)?;
        }
        let mut chunks = data.chunks(protocol::CHUNK).peekable();
        if chunks.peek().is_none() && flush {
            return self.send_raw(&protocol::header(k, 0));
        }
        while let Some(c) = chunks.next() {
            let kk = if chunks.peek().is_none() {
                k
            } else {
                kind::BODY
            };
            if c.len() <= 8192 {
                let mut frame = protocol::header(kk, c.len()).to_vec();
                frame.extend_from_slice(c);
                self.send_raw(&frame)?;
            } else {
                self.send_raw(&protocol::header(kk, c.len()))?;
                self.send_raw(c)?;
            }
        }
        Ok(())
    }

    /// Answers a request the daemon gave up on (request-timeout) while its
    /// thread still runs: `message` logged with the request, then 504
    /// Gateway Timeout (or, once the head went out, an abort), in one write
    /// that never blocks; then the connection is shut down, so the Apache
    /// child has its answer now and whatever the thread still writes or
    /// reads fails. (A write cut short leaves the Apache child a truncated
    /// frame: a 502.)
    pub(crate) fn abandon(&mut self, message: &str) {
        let stream = self.stream.get_ref();
        if self.failed.is_none() && !self.terminal_sent {
            let mut buf = Vec::new();
            let last = if self.head_sent {
                Frame::Abort
            } else {
                Frame::Status(504)
            };
            let log = Frame::Log {
                level: Level::Error as u8,
                message: message.to_string(),
            };
            if protocol::encode(&log, &mut buf).is_ok()
                && protocol::encode(&last, &mut buf).is_ok()
                && stream.set_nonblocking(true).is_ok()
            {
                let _ = (&*stream).write(&buf);
            }
        }
        self.terminal_sent = true;
        self.failed = Some("the daemon gave up on this request (request-timeout)".into());
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }

    /// Ends the response the way the adapter's outcome says, if the adapter
    /// did not already (a status page, or the end of a committed body).
    pub(crate) fn complete(&mut self, status: Option<HttpStatus>) {
        if self.terminal_sent || self.failed.is_some() {
            return;
        }
        self.terminal_sent = true;
        if let Some(code) = status.filter(|_| !self.head_sent) {
            let _ = self.send(&Frame::Status(code.code()));
            return;
        }
        // Head, body and end in one write (the common small response).
        let mut buf = Vec::with_capacity(self.out.len() + 256);
        if !self.head_sent {
            self.head_sent = true;
            let head = self.pending_head.take().unwrap_or_default();
            if protocol::encode(&Frame::Head(head), &mut buf).is_err() {
                return;
            }
        }
        if !self.out.is_empty() {
            buf.extend_from_slice(&protocol::header(kind::BODY, self.out.len()));
            buf.append(&mut self.out);
        }
        buf.extend_from_slice(&protocol::header(kind::END, 0));
        let _ = self.send_raw(&buf);
    }
}

/// What the adapter holds; the worker keeps another handle on the same
/// connection to finish it after the adapter returns.
pub(crate) struct SocketTransport {
    conn: Arc<Mutex<Conn>>,
}

impl SocketTransport {
    pub(crate) fn new(conn: Arc<Mutex<Conn>>) -> SocketTransport {
        SocketTransport { conn }
    }
    fn conn(&self) -> MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn input_failed(message: String) -> InputError {
    InputError {
        status: Some(HttpStatus::BAD_REQUEST),
        message,
    }
}

impl Transport for SocketTransport {
    fn proceed(&mut self) {
        self.conn().go_ahead();
    }

    fn read_body(&mut self, buf: &mut [u8]) -> Result<usize, InputError> {
        let mut c = self.conn();
        // Never wait for a body the Apache child holds back.
        c.go_ahead();
        loop {
            if c.input_pos < c.input.len() {
                let n = buf.len().min(c.input.len() - c.input_pos);
                buf[..n].copy_from_slice(&c.input[c.input_pos..c.input_pos + n]);
                c.input_pos += n;
                return Ok(n);
            }
            if let Some(e) = &c.input_error {
                return Err(e.clone());
            }
            if c.input_done || buf.is_empty() {
                return Ok(0);
            }
            match c.read_frame() {
                Ok(Frame::Data(d)) => {
                    c.input = d;
                    c.input_pos = 0;
                }
                Ok(Frame::EndOfBody) => c.input_done = true,
                Ok(Frame::InputError { status, message }) => {
                    c.input_error = Some(InputError { status, message });
                }
                Ok(other) => {
                    c.input_error = Some(input_failed(format!(
                        "unexpected frame from the Apache child: {other:?}"
                    )))
                }
                Err(e) => c.input_error = Some(input_failed(e.to_string())),
            }
        }
    }

    fn set_head(&mut self, head: &ResponseHead) {
        self.conn().pending_head = Some(head.clone().into());
    }

    fn write(&mut self, data: &[u8], how: Write) -> Result<(), OutputError> {
        let mut c = self.conn();
        c.ended |= how == Write::Last;
        match how {
            Write::Flush => c.send_body(data, true),
            Write::Buffer | Write::Last => {
                if c.out.len() + data.len() > BUFFER {
                    c.send_body(data, false)
                } else {
                    c.out.extend_from_slice(data);
                    Ok(())
                }
            }
        }
    }

    fn send_file(&mut self, fd: RawFd, offset: u64, len: u64) -> Result<(), OutputError> {
        let mut c = self.conn();
        c.send_body(&[], false)?;
        c.send_file_frames(fd, offset, len)?;
        c.send_body(&[], true)
    }

    fn abort(&mut self) {
        let mut c = self.conn();
        if !c.terminal_sent {
            c.terminal_sent = true;
            let _ = c.send(&Frame::Abort);
        }
    }

    fn finish(&mut self) {
        // Only a body that ended is completed here: after a failure before
        // any output the worker sends the outcome's status instead (an empty
        // head here would have no status at all).
        let mut c = self.conn();
        if c.ended {
            c.complete(None);
        }
    }

    fn log(&self, level: Level, message: &str) {
        let mut c = self.conn();
        if c.failed.is_none()
            && c.send(&Frame::Log {
                level: level as u8,
                message: message.to_string(),
            })
            .is_ok()
        {
            return;
        }
        drop(c);
        log::process(level, message);
    }

    fn log_enabled(&self, level: Level) -> bool {
        (level as u8) <= self.conn().log_level
    }
}
