//! The framing between an Apache child (the dispatcher) and a daemon process
//! (the worker) over a UNIX socket connection, which carries one request
//! after another (Apache children keep connections between requests).
//! Pure: no FFI, no I/O, so every rule is unit tested. One concern; a third
//! of the file is its tests (every frame kind, sealing, hostile lengths).
//!
//! Every frame is `[kind: u8][length: u32 big-endian][payload]`.
//!
//! Apache child → daemon: `Request` (the key generation and an HMAC-SHA256
//! under the group's secret of that generation, then the version byte and
//! the whole request: CGI environ and the facts the adapter needs — see
//! [`seal_request`] and [`SealedRequest::open`]), then the body as `Data`
//! frames, then `EndOfBody` (or `InputError` if reading the client failed).
//! A request without a body sends its `EndOfBody` with the request.
//!
//! Daemon → Apache child: on a new connection, `Hello` (version byte and the
//! daemon's pid) as soon as it is accepted; then per request optional `Log`
//! lines, then either `Status` (nothing was sent: answer with this HTTP
//! status) or `Head`, `Body`*, and `End` (complete) or `Abort` (failed after
//! output started). The dispatcher sends the body while it reads the
//! response (full duplex), so neither side can block the other.
//!
//! A request with a body may ask for the daemon's verdict first
//! (`continue_wanted`: script reloading is on, or the connection was kept),
//! as mod_wsgi's "200 Continue" handshake: the body waits for `Continue`
//! (the request runs here) or `SendAgain` (its script changed, so this
//! process restarts without running anything: send the request again, to
//! another process). A request without a body gets no `Continue`; with
//! script reloading on, `SendAgain` may still come before its head.
//!
//! After `End` or `Status`, with the request's `EndOfBody` read and nothing
//! else sent either way, the connection carries the next request. A daemon
//! that will not read from a kept connection again (it stops, or keeps too
//! many) says `Goodbye` and closes it: a request sent meanwhile was not
//! read, and goes again on a new connection (see `dispatcher` for how a
//! connection closed without a word is told apart).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::python::RequestSpec;
use crate::python::environ::{CgiEnviron, Decode};
use crate::python::response::ResponseHead;
use crate::status::HttpStatus;

/// Bumped on any incompatible change; both ends check it.
pub const VERSION: u8 = 7;
/// An HMAC-SHA256 tag.
pub const MAC_LEN: usize = 32;
/// What the MAC covers besides the request, so that it means nothing else.
const MAC_CONTEXT: &[u8] = b"mod_wsgi-rs daemon request v4\0";
pub const HEADER_LEN: usize = 5;
/// The largest `Request` frame (mod_wsgi also caps its environ at 16 MiB).
pub const MAX_REQUEST: usize = 16 << 20;
/// The largest frame of any other kind (a body chunk is at most this).
pub const MAX_FRAME: usize = 4 << 20;
/// Body chunks are cut to this size by senders.
pub const CHUNK: usize = 256 << 10;

pub mod kind {
    pub const REQUEST: u8 = 1;
    pub const DATA: u8 = 2;
    pub const END_OF_BODY: u8 = 3;
    pub const INPUT_ERROR: u8 = 4;
    pub const HELLO: u8 = 0x10;
    pub const HEAD: u8 = 0x11;
    pub const BODY: u8 = 0x12;
    pub const BODY_FLUSH: u8 = 0x13;
    pub const END: u8 = 0x14;
    pub const STATUS: u8 = 0x15;
    pub const ABORT: u8 = 0x16;
    pub const LOG: u8 = 0x17;
    pub const CONTINUE: u8 = 0x18;
    pub const SEND_AGAIN: u8 = 0x19;
    pub const GOODBYE: u8 = 0x1a;
}

/// One request as the daemon needs it.
#[derive(Clone, Debug, Default)]
pub struct RequestHead {
    /// The daemon group the Apache child meant to reach.
    pub group: String,
    /// The most verbose log level enabled for this request (log::Level as u8).
    pub log_level: u8,
    /// The body waits for the daemon's `Continue` (the request has a body,
    /// and script reloading is on or the connection was kept).
    pub continue_wanted: bool,
    /// WSGIIgnoreActivity: the request does not count as activity for the
    /// group's inactivity-timeout (a health check).
    pub ignore_activity: bool,
    pub spec: RequestSpec,
}

/// A request as it arrives at a daemon: nothing in it may be used before
/// [`SealedRequest::open`] has checked its MAC.
#[derive(Clone)]
pub struct SealedRequest {
    /// Which generation's secret sealed it.
    pub generation: u64,
    mac: [u8; MAC_LEN],
    body: Vec<u8>,
}

impl std::fmt::Debug for SealedRequest {
    // Only what is safe to log about an unauthenticated request.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SealedRequest(generation {}, {} bytes)",
            self.generation,
            self.body.len()
        )
    }
}

/// Why a sealed request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// No secret of this generation (too old, or never one of ours).
    UnknownGeneration(u64),
    /// The MAC does not match: forged or altered.
    BadMac,
    /// Authentic, but it does not parse (another build).
    Malformed(FrameError),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::UnknownGeneration(g) => write!(
                f,
                "it is sealed with a secret of configuration generation {g}, which this daemon does not have (not from this Apache, or from a generation too old)"
            ),
            OpenError::BadMac => write!(
                f,
                "its authentication code does not match (forged or altered)"
            ),
            OpenError::Malformed(e) => write!(f, "{e}"),
        }
    }
}

fn mac_for(secret: &[u8; 32], generation: u64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(MAC_CONTEXT);
    mac.update(&generation.to_be_bytes());
    mac.update(body);
    mac
}

/// Seals `head` with `secret` of configuration `generation` into a
/// `Request` frame.
pub fn seal_request(head: &RequestHead, generation: u64, secret: &[u8; 32]) -> SealedRequest {
    let mut w = Writer(Vec::new());
    put_request(&mut w, head);
    let mac = mac_for(secret, generation, &w.0).finalize().into_bytes();
    SealedRequest {
        generation,
        mac: mac.into(),
        body: w.0,
    }
}

impl SealedRequest {
    /// Checks the MAC (in constant time) with this daemon's secret for the
    /// request's generation, then decodes the request.
    pub fn open(&self, secret: Option<&[u8; 32]>) -> Result<RequestHead, OpenError> {
        let secret = secret.ok_or(OpenError::UnknownGeneration(self.generation))?;
        mac_for(secret, self.generation, &self.body)
            .verify_slice(&self.mac)
            .map_err(|_| OpenError::BadMac)?;
        let mut r = Reader(&self.body);
        let head = get_request(&mut r).map_err(OpenError::Malformed)?;
        r.done().map_err(OpenError::Malformed)?;
        Ok(head)
    }

    /// Decodes the request WITHOUT checking it. Only for tests that forge
    /// requests; nothing may act on what this returns.
    #[doc(hidden)]
    pub fn decode_unverified_for_tests(&self) -> Result<RequestHead, FrameError> {
        get_request(&mut Reader(&self.body))
    }

    /// This sealed request with its body replaced by `head` and the MAC kept
    /// (a forgery). Only for tests.
    #[doc(hidden)]
    pub fn with_body_for_tests(&self, head: &RequestHead) -> SealedRequest {
        let mut w = Writer(Vec::new());
        put_request(&mut w, head);
        SealedRequest {
            generation: self.generation,
            mac: self.mac,
            body: w.0,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Frame {
    Request(SealedRequest),
    Data(Vec<u8>),
    EndOfBody,
    InputError {
        /// 0 on the wire when none.
        status: Option<HttpStatus>,
        message: String,
    },
    Hello {
        pid: u32,
    },
    /// Its status is the daemon's word until `validate::check_head`.
    Head(ResponseHead<u16>),
    Body {
        data: Vec<u8>,
        flush: bool,
    },
    End,
    /// The daemon's word until `validate::status_frame`.
    Status(u16),
    Abort,
    Log {
        level: u8,
        message: String,
    },
    /// The request runs in this process: the body may be sent now.
    Continue,
    /// Nothing ran: this process is restarting (its script changed), send
    /// the request again.
    SendAgain,
    /// The daemon takes no more requests on this connection and did not
    /// read the one sent (it stops, or keeps too many connections).
    Goodbye,
}

impl Frame {
    /// The frame's kind, for logs (never its content).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Frame::Request(_) => "request",
            Frame::Data(_) => "data",
            Frame::EndOfBody => "end of body",
            Frame::InputError { .. } => "input error",
            Frame::Hello { .. } => "hello",
            Frame::Head(_) => "head",
            Frame::Body { .. } => "body",
            Frame::End => "end",
            Frame::Status(_) => "status",
            Frame::Abort => "abort",
            Frame::Log { .. } => "log",
            Frame::Continue => "continue",
            Frame::SendAgain => "send again",
            Frame::Goodbye => "goodbye",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The frame's length is over the limit for its kind.
    TooLarge {
        kind: u8,
        len: usize,
    },
    UnknownKind(u8),
    /// The peer speaks another protocol version (another build of the module).
    BadVersion(u8),
    /// The payload does not parse.
    Malformed(&'static str),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLarge { kind, len } => {
                write!(f, "frame of kind {kind:#x} is too large ({len} bytes)")
            }
            FrameError::UnknownKind(k) => write!(f, "unknown frame kind {k:#x}"),
            FrameError::BadVersion(v) => write!(
                f,
                "protocol version {v} does not match ours ({VERSION}): the daemon and the Apache child run different builds of mod_wsgi-rs"
            ),
            FrameError::Malformed(what) => write!(f, "malformed frame: {what}"),
        }
    }
}

impl std::error::Error for FrameError {}

fn limit(kind: u8) -> usize {
    if kind == kind::REQUEST {
        MAX_REQUEST
    } else {
        MAX_FRAME
    }
}

/// The header of a frame of `len` payload bytes (for vectored writes).
pub fn header(kind: u8, len: usize) -> [u8; HEADER_LEN] {
    let n = (len as u32).to_be_bytes();
    [kind, n[0], n[1], n[2], n[3]]
}

/// Reads a frame header: its kind and payload length, checked.
pub fn parse_header(h: &[u8; HEADER_LEN]) -> Result<(u8, usize), FrameError> {
    let kind = h[0];
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
    if !(kind::REQUEST..=kind::INPUT_ERROR).contains(&kind)
        && !(kind::HELLO..=kind::GOODBYE).contains(&kind)
    {
        return Err(FrameError::UnknownKind(kind));
    }
    if len > limit(kind) {
        return Err(FrameError::TooLarge { kind, len });
    }
    Ok((kind, len))
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn bool(&mut self, b: bool) {
        self.u8(b as u8);
    }
    fn opt_bytes(&mut self, b: Option<&[u8]>) {
        match b {
            Some(b) => {
                self.u8(1);
                self.bytes(b);
            }
            None => self.u8(0),
        }
    }
}

struct Reader<'a>(&'a [u8]);

const SHORT: FrameError = FrameError::Malformed("payload ends early");

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        if self.0.len() < n {
            return Err(SHORT);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, FrameError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, FrameError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, FrameError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    fn bytes(&mut self) -> Result<&'a [u8], FrameError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn string(&mut self) -> Result<String, FrameError> {
        String::from_utf8(self.bytes()?.to_vec())
            .map_err(|_| FrameError::Malformed("text is not UTF-8"))
    }
    fn bool(&mut self) -> Result<bool, FrameError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(FrameError::Malformed("bad boolean")),
        }
    }
    fn opt_bytes(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        Ok(if self.bool()? {
            Some(self.bytes()?.to_vec())
        } else {
            None
        })
    }
    fn done(&self) -> Result<(), FrameError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Malformed("trailing bytes"))
        }
    }
}

fn put_request(w: &mut Writer, h: &RequestHead) {
    w.u8(VERSION);
    w.str(&h.group);
    w.u8(h.log_level);
    w.bool(h.continue_wanted);
    w.bool(h.ignore_activity);
    let s = &h.spec;
    w.str(&s.script_path);
    // No module name: the daemon derives it from the (authenticated) script
    // path with its own rule.
    w.u64(s.script_mtime as u64);
    w.bool(s.reloading);
    w.str(&s.callable_object);
    w.str(&s.process_group);
    w.str(&s.application_group);
    w.str(&s.handler);
    w.bool(s.handler_script);
    w.bool(s.multithread);
    w.bool(s.multiprocess);
    w.bool(s.is_head);
    w.u64(s.request_start.to_bits());
    w.u64(s.queue_start.to_bits());
    w.str(&s.request_id);
    w.str(&s.connection_id);
    w.u64(s.thread_id as u64);
    w.u64(s.server_pid as u64);
    w.str(&s.listener_host);
    w.u16(s.listener_port);
    w.u32(s.apache_version.0);
    w.u32(s.apache_version.1);
    w.u32(s.apache_version.2);
    w.bool(s.enable_sendfile);
    let c = &s.cgi;
    w.str(&c.url_scheme);
    w.bytes(&c.original_script_name);
    w.bytes(&c.original_path_info);
    w.opt_bytes(c.mount_point.as_deref());
    w.u32(c.vars.len() as u32);
    for (k, v, d) in &c.vars {
        w.str(k);
        w.bytes(v);
        w.u8(match d {
            Decode::Latin1 => 0,
            Decode::FsPath => 1,
        });
    }
}

fn get_request(r: &mut Reader<'_>) -> Result<RequestHead, FrameError> {
    let version = r.u8()?;
    if version != VERSION {
        return Err(FrameError::BadVersion(version));
    }
    let group = r.string()?;
    let log_level = r.u8()?;
    let continue_wanted = r.bool()?;
    let ignore_activity = r.bool()?;
    let mut s = RequestSpec {
        script_path: r.string()?,
        module_name: String::new(),
        script_mtime: r.u64()? as i64,
        reloading: r.bool()?,
        // The daemon's own decision, never the sender's.
        restart_on_change: false,
        callable_object: r.string()?,
        process_group: r.string()?,
        application_group: r.string()?,
        handler: r.string()?,
        handler_script: r.bool()?,
        multithread: r.bool()?,
        multiprocess: r.bool()?,
        is_head: r.bool()?,
        request_start: f64::from_bits(r.u64()?),
        queue_start: f64::from_bits(r.u64()?),
        // Set by the daemon thread that takes the request.
        daemon_start: 0.0,
        request_id: r.string()?,
        connection_id: r.string()?,
        thread_id: r.u64()? as i64,
        server_pid: r.u64()? as i64,
        listener_host: r.string()?,
        listener_port: r.u16()?,
        apache_version: (r.u32()?, r.u32()?, r.u32()?),
        enable_sendfile: r.bool()?,
        // Only ever an Apache child's own address.
        apache_request: 0,
        cgi: CgiEnviron::default(),
    };
    s.cgi.url_scheme = r.string()?;
    s.cgi.original_script_name = r.bytes()?.to_vec();
    s.cgi.original_path_info = r.bytes()?.to_vec();
    s.cgi.mount_point = r.opt_bytes()?;
    let n = r.u32()? as usize;
    // Each entry takes at least 9 bytes: a hostile count cannot make us
    // reserve more than the frame could hold.
    let mut vars = Vec::with_capacity(n.min(r.0.len() / 9));
    for _ in 0..n {
        let k = r.string()?;
        let v = r.bytes()?.to_vec();
        let d = match r.u8()? {
            0 => Decode::Latin1,
            1 => Decode::FsPath,
            _ => return Err(FrameError::Malformed("bad decode tag")),
        };
        vars.push((k, v, d));
    }
    s.cgi.vars = vars;
    Ok(RequestHead {
        group,
        log_level,
        continue_wanted,
        ignore_activity,
        spec: s,
    })
}

fn put_head(w: &mut Writer, h: &ResponseHead<u16>) {
    w.u16(h.status);
    w.str(&h.reason);
    w.u32(h.headers.len() as u32);
    for (k, v) in &h.headers {
        w.str(k);
        w.str(v);
    }
    match h.content_length {
        Some(n) => {
            w.u8(1);
            w.u64(n);
        }
        None => w.u8(0),
    }
    w.bool(h.close_connection);
}

fn get_head(r: &mut Reader<'_>) -> Result<ResponseHead<u16>, FrameError> {
    let status = r.u16()?;
    let reason = r.string()?;
    let n = r.u32()? as usize;
    let mut headers = Vec::with_capacity(n.min(r.0.len() / 8));
    for _ in 0..n {
        headers.push((r.string()?, r.string()?));
    }
    let content_length = if r.bool()? { Some(r.u64()?) } else { None };
    Ok(ResponseHead {
        status,
        reason,
        headers,
        content_length,
        close_connection: r.bool()?,
    })
}

/// Appends `frame` to `out`.
pub fn encode(frame: &Frame, out: &mut Vec<u8>) -> Result<(), FrameError> {
    let mut w = Writer(Vec::new());
    let k = match frame {
        Frame::Request(sealed) => {
            w.u64(sealed.generation);
            w.0.extend_from_slice(&sealed.mac);
            w.0.extend_from_slice(&sealed.body);
            kind::REQUEST
        }
        Frame::Data(d) => {
            w.0.extend_from_slice(d);
            kind::DATA
        }
        Frame::EndOfBody => kind::END_OF_BODY,
        Frame::InputError { status, message } => {
            w.u16(status.map_or(0, HttpStatus::code));
            w.str(message);
            kind::INPUT_ERROR
        }
        Frame::Hello { pid } => {
            w.u8(VERSION);
            w.u32(*pid);
            kind::HELLO
        }
        Frame::Head(h) => {
            put_head(&mut w, h);
            kind::HEAD
        }
        Frame::Body { data, flush } => {
            w.0.extend_from_slice(data);
            if *flush { kind::BODY_FLUSH } else { kind::BODY }
        }
        Frame::End => kind::END,
        Frame::Status(s) => {
            w.u16(*s);
            kind::STATUS
        }
        Frame::Abort => kind::ABORT,
        Frame::Log { level, message } => {
            w.u8(*level);
            w.str(message);
            kind::LOG
        }
        Frame::Continue => kind::CONTINUE,
        Frame::SendAgain => kind::SEND_AGAIN,
        Frame::Goodbye => kind::GOODBYE,
    };
    if w.0.len() > limit(k) {
        return Err(FrameError::TooLarge {
            kind: k,
            len: w.0.len(),
        });
    }
    out.extend_from_slice(&header(k, w.0.len()));
    out.extend_from_slice(&w.0);
    Ok(())
}

/// Parses one frame's payload (after [`parse_header`]).
pub fn parse_payload(k: u8, payload: &[u8]) -> Result<Frame, FrameError> {
    let mut r = Reader(payload);
    let frame = match k {
        kind::REQUEST => {
            let generation = r.u64()?;
            let mut mac = [0u8; MAC_LEN];
            mac.copy_from_slice(r.take(MAC_LEN)?);
            return Ok(Frame::Request(SealedRequest {
                generation,
                mac,
                body: r.0.to_vec(),
            }));
        }
        kind::DATA => return Ok(Frame::Data(payload.to_vec())),
        kind::END_OF_BODY => Frame::EndOfBody,
        kind::INPUT_ERROR => {
            let status = match r.u16()? {
                0 => None,
                s => Some(HttpStatus::new(s).ok_or(FrameError::Malformed("bad status"))?),
            };
            Frame::InputError {
                status,
                message: r.string()?,
            }
        }
        kind::HELLO => {
            let v = r.u8()?;
            if v != VERSION {
                return Err(FrameError::BadVersion(v));
            }
            Frame::Hello { pid: r.u32()? }
        }
        kind::HEAD => Frame::Head(get_head(&mut r)?),
        kind::BODY | kind::BODY_FLUSH => {
            return Ok(Frame::Body {
                data: payload.to_vec(),
                flush: k == kind::BODY_FLUSH,
            });
        }
        kind::END => Frame::End,
        kind::STATUS => Frame::Status(r.u16()?),
        kind::ABORT => Frame::Abort,
        kind::LOG => Frame::Log {
            level: r.u8()?,
            message: r.string()?,
        },
        kind::CONTINUE => Frame::Continue,
        kind::SEND_AGAIN => Frame::SendAgain,
        kind::GOODBYE => Frame::Goodbye,
        other => return Err(FrameError::UnknownKind(other)),
    };
    r.done()?;
    Ok(frame)
}

/// Takes one complete frame off the front of `buf`: `Ok(None)` if more bytes
/// are needed, otherwise the frame and how many bytes it used.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    let Some(h) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let (k, len) = parse_header(h)?;
    let Some(payload) = buf.get(HEADER_LEN..HEADER_LEN + len) else {
        return Ok(None);
    };
    Ok(Some((parse_payload(k, payload)?, HEADER_LEN + len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RequestSpec {
        RequestSpec {
            script_path: "/srv/app.wsgi".into(),
            module_name: "_mod_wsgi_abc".into(),
            script_mtime: 1_700_000_000_123_456,
            reloading: true,
            restart_on_change: false,
            callable_object: "application".into(),
            cgi: CgiEnviron {
                vars: vec![
                    ("REQUEST_METHOD".into(), b"GET".to_vec(), Decode::Latin1),
                    (
                        "SCRIPT_FILENAME".into(),
                        "/srv/é.wsgi".as_bytes().to_vec(),
                        Decode::FsPath,
                    ),
                    ("HTTP_X".into(), vec![0, 255, 10], Decode::Latin1),
                ],
                url_scheme: "https".into(),
                original_script_name: b"/app".to_vec(),
                original_path_info: b"/x".to_vec(),
                mount_point: Some(b"/m".to_vec()),
            },
            process_group: "web".into(),
            application_group: "".into(),
            handler: "my-handler".into(),
            handler_script: true,
            multithread: true,
            multiprocess: false,
            is_head: false,
            request_start: 1234.5,
            queue_start: 1234.75,
            daemon_start: 0.0,
            request_id: "rid".into(),
            connection_id: "cid".into(),
            thread_id: 7,
            server_pid: 99,
            listener_host: "127.0.0.1".into(),
            listener_port: 8080,
            apache_version: (2, 4, 62),
            enable_sendfile: true,
            apache_request: 0,
        }
    }

    fn round_trip(f: &Frame) -> Frame {
        let mut buf = Vec::new();
        encode(f, &mut buf).unwrap();
        let (back, used) = decode(&buf).unwrap().unwrap();
        assert_eq!(used, buf.len());
        back
    }

    const SECRET: [u8; 32] = [7; 32];

    fn head() -> RequestHead {
        RequestHead {
            group: "web".into(),
            log_level: 6,
            continue_wanted: true,
            ignore_activity: true,
            spec: spec(),
        }
    }

    fn sealed() -> Frame {
        Frame::Request(seal_request(&head(), 3, &SECRET))
    }

    #[test]
    fn request_round_trip() {
        let Frame::Request(back) = round_trip(&sealed()) else {
            panic!("kind changed");
        };
        assert_eq!(back.generation, 3);
        let back = back.open(Some(&SECRET)).unwrap();
        assert_eq!(back.group, "web");
        assert_eq!(back.log_level, 6);
        // The module name never crosses: the daemon derives it.
        let mut expected = head().spec;
        expected.module_name = String::new();
        assert_eq!(format!("{:?}", back.spec), format!("{:?}", expected));
    }

    #[test]
    fn a_request_opens_only_with_its_secret_and_unaltered() {
        let Frame::Request(s) = round_trip(&sealed()) else {
            panic!("kind changed");
        };
        assert_eq!(s.open(None).unwrap_err(), OpenError::UnknownGeneration(3));
        assert_eq!(s.open(Some(&[8; 32])).unwrap_err(), OpenError::BadMac);
        // Any byte changed anywhere after the frame header: refused.
        let mut buf = Vec::new();
        encode(&sealed(), &mut buf).unwrap();
        for i in HEADER_LEN..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x20;
            let Ok(Some((Frame::Request(s), _))) = decode(&bad) else {
                panic!("byte {i}: still a request frame");
            };
            assert!(s.open(Some(&SECRET)).is_err(), "byte {i} altered unnoticed");
        }
        // A body swapped under a genuine MAC (what a forger would try).
        let mut forged = head();
        forged.spec.script_path = "/tmp/evil.wsgi".into();
        let f = s.with_body_for_tests(&forged);
        assert_eq!(f.open(Some(&SECRET)).unwrap_err(), OpenError::BadMac);
        assert!(!format!("{s:?}").contains("web"), "Debug shows no content");
    }

    #[test]
    fn response_round_trips() {
        let head = ResponseHead {
            status: 201,
            reason: "Created".into(),
            headers: vec![("Content-Type".into(), "text/plain".into())],
            content_length: Some(5),
            close_connection: true,
        };
        assert!(matches!(round_trip(&Frame::Head(head.clone())), Frame::Head(h) if h == head));
        assert!(matches!(
            round_trip(&Frame::Body { data: b"abc".to_vec(), flush: true }),
            Frame::Body { data, flush: true } if data == b"abc"
        ));
        assert!(matches!(
            round_trip(&Frame::Body { data: vec![], flush: false }),
            Frame::Body { data, flush: false } if data.is_empty()
        ));
        assert!(matches!(round_trip(&Frame::End), Frame::End));
        assert!(matches!(round_trip(&Frame::Abort), Frame::Abort));
        assert!(matches!(round_trip(&Frame::Continue), Frame::Continue));
        assert!(matches!(round_trip(&Frame::SendAgain), Frame::SendAgain));
        assert!(matches!(round_trip(&Frame::Goodbye), Frame::Goodbye));
        assert!(matches!(
            round_trip(&Frame::Status(503)),
            Frame::Status(503)
        ));
        assert!(matches!(
            round_trip(&Frame::Hello { pid: 4242 }),
            Frame::Hello { pid: 4242 }
        ));
        assert!(matches!(
            round_trip(&Frame::Log { level: 3, message: "é".into() }),
            Frame::Log { level: 3, message } if message == "é"
        ));
        assert!(matches!(
            round_trip(&Frame::InputError {
                status: Some(HttpStatus::CONTENT_TOO_LARGE),
                message: "big".into()
            }),
            Frame::InputError { status: Some(HttpStatus::CONTENT_TOO_LARGE), message }
                if message == "big"
        ));
        assert!(matches!(
            round_trip(&Frame::InputError {
                status: None,
                message: String::new()
            }),
            Frame::InputError { status: None, .. }
        ));
        assert!(matches!(round_trip(&Frame::Data(b"x".to_vec())), Frame::Data(d) if d == b"x"));
        assert!(matches!(round_trip(&Frame::EndOfBody), Frame::EndOfBody));
    }

    #[test]
    fn truncated_frames_need_more_bytes() {
        let mut buf = Vec::new();
        encode(&sealed(), &mut buf).unwrap();
        encode(&Frame::End, &mut buf).unwrap();
        let first_len = buf.len() - HEADER_LEN;
        for cut in 0..first_len {
            assert!(decode(&buf[..cut]).unwrap().is_none(), "cut at {cut}");
        }
        let (_, used) = decode(&buf).unwrap().unwrap();
        assert_eq!(used, first_len);
        assert!(matches!(
            decode(&buf[used..]).unwrap(),
            Some((Frame::End, 5))
        ));
    }

    #[test]
    fn statuses_on_the_wire() {
        // A daemon's head and status frame carry its word, whatever it is:
        // `validate` names what was wrong.
        let head = ResponseHead {
            status: 0,
            ..Default::default()
        };
        assert!(matches!(round_trip(&Frame::Head(head)), Frame::Head(h) if h.status == 0));
        assert!(matches!(
            round_trip(&Frame::Status(600)),
            Frame::Status(600)
        ));
        // The Apache child's input error carries a status or 0.
        let mut w = Writer(Vec::new());
        w.u16(600);
        w.str("x");
        let mut buf = header(kind::INPUT_ERROR, w.0.len()).to_vec();
        buf.extend_from_slice(&w.0);
        assert_eq!(
            decode(&buf).unwrap_err(),
            FrameError::Malformed("bad status")
        );
    }

    #[test]
    fn a_payload_cut_short_inside_is_malformed() {
        let mut buf = Vec::new();
        encode(&Frame::Head(ResponseHead::default()), &mut buf).unwrap();
        // Claim a shorter payload than the head needs.
        let short = buf.len() - HEADER_LEN - 3;
        let mut bad = header(kind::HEAD, short).to_vec();
        bad.extend_from_slice(&buf[HEADER_LEN..HEADER_LEN + short]);
        assert_eq!(decode(&bad).unwrap_err(), SHORT);
        // Trailing garbage in a fixed-size payload.
        let mut bad = header(kind::STATUS, 3).to_vec();
        bad.extend_from_slice(&[1, 2, 3]);
        assert!(matches!(
            decode(&bad),
            Err(FrameError::Malformed("trailing bytes"))
        ));
    }

    #[test]
    fn oversized_frames_are_refused() {
        let h = header(kind::BODY, MAX_FRAME + 1);
        assert!(matches!(
            decode(&h),
            Err(FrameError::TooLarge {
                kind: kind::BODY,
                ..
            })
        ));
        let h = header(kind::REQUEST, MAX_REQUEST + 1);
        assert!(matches!(decode(&h), Err(FrameError::TooLarge { .. })));
        // A request may be larger than a body frame.
        let h = header(kind::REQUEST, MAX_FRAME + 1);
        assert!(decode(&h).unwrap().is_none());
        let mut out = Vec::new();
        assert!(
            encode(
                &Frame::Body {
                    data: vec![0; MAX_FRAME + 1],
                    flush: false
                },
                &mut out
            )
            .is_err()
        );
        assert!(out.is_empty());
    }

    #[test]
    fn bad_version_and_unknown_kind() {
        let mut buf = Vec::new();
        encode(&Frame::Hello { pid: 1 }, &mut buf).unwrap();
        buf[HEADER_LEN] = VERSION + 1;
        assert_eq!(
            decode(&buf).unwrap_err(),
            FrameError::BadVersion(VERSION + 1)
        );
        let mut buf = Vec::new();
        encode(
            &Frame::Request(seal_request(&RequestHead::default(), 1, &SECRET)),
            &mut buf,
        )
        .unwrap();
        // The version is inside the authenticated part: checked after the MAC.
        let version_at = HEADER_LEN + 8 + MAC_LEN;
        buf[version_at] = 0;
        let Ok(Some((Frame::Request(s), _))) = decode(&buf) else {
            panic!("still a request frame");
        };
        assert_eq!(s.open(Some(&SECRET)).unwrap_err(), OpenError::BadMac);
        let with_v0 = SealedRequest {
            generation: 1,
            mac: mac_for(&SECRET, 1, &s.body).finalize().into_bytes().into(),
            body: s.body.clone(),
        };
        assert_eq!(
            with_v0.open(Some(&SECRET)).unwrap_err(),
            OpenError::Malformed(FrameError::BadVersion(0))
        );
        assert_eq!(
            decode(&[0x7f, 0, 0, 0, 0]).unwrap_err(),
            FrameError::UnknownKind(0x7f)
        );
        let after_last = kind::GOODBYE + 1;
        assert_eq!(
            decode(&[after_last, 0, 0, 0, 0]).unwrap_err(),
            FrameError::UnknownKind(after_last)
        );
        // The verdicts carry nothing.
        assert!(matches!(
            decode(&[kind::SEND_AGAIN, 0, 0, 0, 1, 0]),
            Err(FrameError::Malformed("trailing bytes"))
        ));
        assert!(
            FrameError::BadVersion(9)
                .to_string()
                .contains("different builds")
        );
    }

    #[test]
    fn hostile_counts_do_not_allocate() {
        // A head claiming 2^32-1 headers in a tiny payload fails cleanly.
        let mut w = Writer(Vec::new());
        w.u16(200);
        w.str("");
        w.u32(u32::MAX);
        let mut buf = header(kind::HEAD, w.0.len()).to_vec();
        buf.extend_from_slice(&w.0);
        assert_eq!(decode(&buf).unwrap_err(), SHORT);
    }
}
