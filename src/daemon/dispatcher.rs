//! The Apache child's side of daemon mode: takes a kept connection to the
//! group (see `pool`) or connects to its socket (retrying until
//! connect-timeout), sends the request, and relays the body
//! and the response at the same time (full duplex: a large upload and a
//! large response cannot block each other). What the daemon sends back is
//! decoded by `reader` and checked and passed into httpd by `relay`; this
//! loop also flushes the client once the daemon has been quiet for
//! response-flush-delay. A daemon that dies mid-request is reported with its
//! pid and exit status or signal.

use std::io::{ErrorKind, Read, Write as _};
use std::ops::ControlFlow;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::apache::log::{self, Level};
use crate::apache::request::Request;
use crate::apache::status::HookStatus;
use crate::apache::transport::EmbeddedTransport;
use crate::os::{credentials, descriptors, process, sockets, users};
use crate::python::RequestSpec;
use crate::python::transport::Transport;
use crate::status::HttpStatus;

use super::exit::explain_exit;
use super::groups::GroupRuntime;
use super::keys;
use super::pool;
use super::protocol::{self, Frame, RequestHead};
use super::reader::ResponseReader;
use super::relay::{Relay, Step};
use super::validate::Violation;

/// The most verbose level enabled for this request.
fn log_level(r: &Request) -> u8 {
    Level::ALL
        .iter()
        .rev()
        .find(|l| log::enabled(r, **l))
        .map_or(0, |l| *l as u8)
}

fn connect(r: &Request, rt: &GroupRuntime, script: &str) -> Result<UnixStream, HttpStatus> {
    let g = &rt.group;
    let started = Instant::now();
    let limit = Duration::from_secs(g.connect_timeout);
    loop {
        let err = match sockets::connect_stream(&rt.socket_path) {
            Ok(s) => return Ok(s),
            Err(e) => e,
        };
        let errno = err.raw_os_error().unwrap_or(0);
        let elapsed = started.elapsed();
        let retry = matches!(errno, libc::ECONNREFUSED | libc::EAGAIN | libc::ENOENT);
        if retry && elapsed < limit {
            // As mod_wsgi: quick retries for 2 seconds, then once a second.
            let pause = if elapsed < Duration::from_secs(2) {
                Duration::from_millis(125)
            } else {
                Duration::from_secs(1)
            };
            std::thread::sleep(pause.min(limit - elapsed));
            continue;
        }
        let hint = match errno {
            libc::EACCES => {
                let uid = credentials::euid();
                let owner = std::fs::metadata(&rt.socket_path)
                    .map(|m| {
                        use std::os::unix::fs::MetadataExt;
                        format!(
                            "the socket is owned by '{}' with mode {:o}",
                            users::name_or_id(m.uid()),
                            m.mode() & 0o777
                        )
                    })
                    .unwrap_or_else(|_| "the socket cannot be inspected".into());
                format!(
                    ": this Apache child runs as '{}' and {owner}; set socket-user= on the WSGIDaemonProcess, or make the WSGISocketPrefix directory accessible to the Apache User",
                    users::name_or_id(uid)
                )
            }
            libc::ECONNREFUSED | libc::ENOENT | libc::EAGAIN => format!(
                ": no daemon process of the group accepted within connect-timeout ({}s); they may have failed to start (see the log) or all {} thread(s) are busy and the listen backlog ({}) is full",
                g.connect_timeout,
                u64::from(g.threads) * u64::from(g.processes),
                g.listen_backlog
            ),
            _ => String::new(),
        };
        log::request(
            r,
            Level::Error,
            &format!(
                "mod_wsgi (pid={}): Unable to connect to WSGI daemon process '{}' on '{}' after {:.1}s: ({errno}){err}{hint}: {script}",
                std::process::id(),
                g.name,
                rt.socket_path,
                elapsed.as_secs_f64()
            ),
        );
        return Err(HttpStatus::SERVICE_UNAVAILABLE);
    }
}

/// Why the daemon `pid` went away: waits (briefly) for its exit status.
fn exit_reason(pid: Option<u32>) -> String {
    let Some(pid) = pid else {
        return "closed the connection before saying hello".into();
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if let Some(s) = explain_exit(pid) {
            if !s.contains(" or was killed by ") || Instant::now() >= deadline {
                return s;
            }
        }
        if let Some(status) = process::zombie_status(pid) {
            return process::describe_wait_status(status);
        }
        if Instant::now() >= deadline {
            return explain_exit(pid).unwrap_or_else(|| {
                if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    "closed the connection without completing the response (the process is still running)".into()
                } else {
                    "ended (its exit status is not known yet)".into()
                }
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Body bytes gathered into one frame before it is sent: httpd's input
/// filters return at most ~8 KB per read, and a frame per read costs a poll and
/// a write on this side and two reads on the daemon's.
const GATHER: usize = 32 << 10;

/// What one read from the daemon takes at most: a body frame's payload is
/// handed to httpd straight from here, whatever its size.
const READ_BUFFER: usize = 64 << 10;

/// Reads client body into `chunk` until it holds `GATHER` bytes or the body
/// ends; returns the bytes read and, at the end, the frame that ends the body.
fn read_body_chunk(t: &mut EmbeddedTransport, chunk: &mut [u8]) -> (usize, Option<Frame>) {
    let mut filled = 0;
    while filled < GATHER.min(chunk.len()) {
        match t.read_body(&mut chunk[filled..]) {
            Ok(0) => return (filled, Some(Frame::EndOfBody)),
            Ok(n) => filled += n,
            Err(e) => {
                return (
                    filled,
                    Some(Frame::InputError {
                        status: e.status,
                        message: e.message,
                    }),
                );
            }
        }
    }
    (filled, None)
}

/// See `unread_if_reset` in [`dispatch`]: a daemon's first read of a
/// connection takes up to 64 KiB (its read buffer).
const UNREAD_IF_RESET: usize = 60 << 10;

/// A thread's buffers for what the daemon sends and for the client's body,
/// kept between its requests (allocating and zeroing them per request
/// showed in profiles); back in the thread's slot when dropped.
#[derive(Default)]
struct Buffers {
    read: Vec<u8>,
    body: Vec<u8>,
}

thread_local! {
    static BUFFERS: std::cell::Cell<Option<Box<Buffers>>> = const { std::cell::Cell::new(None) };
}

impl Buffers {
    fn take() -> BuffersGuard {
        let mut b = BUFFERS.take().unwrap_or_default();
        if b.read.len() < READ_BUFFER {
            b.read.resize(READ_BUFFER, 0);
        }
        BuffersGuard(b)
    }
}

struct BuffersGuard(Box<Buffers>);

impl std::ops::Deref for BuffersGuard {
    type Target = Buffers;
    fn deref(&self) -> &Buffers {
        &self.0
    }
}

impl std::ops::DerefMut for BuffersGuard {
    fn deref_mut(&mut self) -> &mut Buffers {
        &mut self.0
    }
}

impl Drop for BuffersGuard {
    fn drop(&mut self) {
        BUFFERS.set(Some(std::mem::take(&mut self.0)));
    }
}

/// How many times a request is sent again after a connection closed before
/// the daemon took it (said hello, and its verdict when one is awaited).
const MAX_RESENDS: u32 = 3;

/// How many attempts a request gets when daemons send it back because its
/// script changed (each process of the group restarts once it notices):
/// mod_wsgi's `2 * processes + 1`; then 503.
fn max_attempts(processes: u32) -> u32 {
    processes.saturating_mul(2).saturating_add(1)
}

/// Serves the request through the daemon group `rt`.
/// With `error_override` (WSGIErrorOverride On), an application's 4xx/5xx
/// response is replaced by Apache's own error document for that status.
pub(crate) fn dispatch(
    r: &Request,
    mut spec: RequestSpec,
    rt: &GroupRuntime,
    t: &mut EmbeddedTransport,
    error_override: bool,
    ignore_activity: bool,
) -> HookStatus {
    let script = spec.script_path.clone();
    let head_request = spec.is_head;
    // With script reloading on, the daemon answers Continue or SendAgain
    // before the body is read from the client (mod_wsgi's "200 Continue"):
    // a request its daemon sends back can then always be sent again.
    let handshake = spec.reloading;
    let Some(key) = keys::current(&rt.group.name) else {
        log::request(
            r,
            Level::Error,
            &format!(
                "mod_wsgi (pid={}): no secret for daemon process group '{}' in this process: {script}",
                std::process::id(),
                rt.group.name
            ),
        );
        return HttpStatus::INTERNAL_SERVER_ERROR.into();
    };
    // mod_wsgi's queue_start: the request is handed on from here.
    spec.queue_start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    // Without a body nothing is read from the client: its end goes with
    // the request, which can then always be sent again.
    let no_body = has_no_body(&spec);
    // A kept connection if there is one; it may be stale (see `pool`).
    let (mut stream, mut born, mut kept) = match pool::take(&rt.socket_path) {
        Some(k) => (k.stream, k.born, Some(k.pid)),
        None => match connect(r, rt, &script) {
            Ok(s) => (s, Instant::now(), None),
            Err(code) => return code.into(),
        },
    };
    // A body waits for the daemon's Continue with script reloading on
    // (mod_wsgi's handshake), and on a kept connection: one that went
    // stale must close before any of the body was read.
    let continue_wanted = !no_body && (handshake || kept.is_some());
    let head = RequestHead {
        group: rt.group.name.clone(),
        log_level: log_level(r),
        continue_wanted,
        ignore_activity,
        spec,
    };
    let sealed = protocol::seal_request(&head, key.generation, &key.secret);
    drop(key);
    let mut out = Vec::new();
    if let Err(e) = protocol::encode(&Frame::Request(sealed), &mut out) {
        log::request(
            r,
            Level::Error,
            &format!(
                "mod_wsgi (pid={}): cannot send the request to the daemon: {e}: {script}",
                std::process::id()
            ),
        );
        return HttpStatus::INTERNAL_SERVER_ERROR.into();
    }
    if no_body {
        let _ = protocol::encode(&Frame::EndOfBody, &mut out);
    }
    // Kept to send again if the daemon did not take the request (see
    // below).
    let request_frame = out.clone();
    // Whether a daemon that closed the connection with unread data (the
    // kernel then reports ECONNRESET) cannot have read this request: its
    // first read takes up to 64 KiB, so a smaller request (sent in one
    // write) is read whole or not at all.
    let unread_if_reset = request_frame.len() <= UNREAD_IF_RESET;
    let g = &rt.group;
    // response-socket-timeout, else socket-timeout, else the connection
    // keeps its own (Apache's Timeout), as mod_wsgi.
    let client_timeout = [g.response_socket_timeout, g.socket_timeout]
        .into_iter()
        .find(|&s| s > 0)
        .map(Duration::from_secs);
    let _send_timeout = client_timeout.and_then(|d| t.client_send_timeout(d));
    let flush_delay = Duration::from_millis(g.response_flush_delay);
    let mut relay = Relay::new(
        r,
        t,
        rt,
        &script,
        error_override,
        head_request,
        client_timeout,
    );
    if continue_wanted {
        relay.await_continue();
    } else if handshake && no_body {
        relay.allow_send_again();
    }
    if let Some(pid) = kept {
        relay.kept_from(pid);
    }
    let mut reader = ResponseReader::default();
    let mut fd = stream.as_raw_fd();
    // Whether any of the client's body was read: after that, the request
    // cannot be sent again.
    let mut body_consumed = false;
    let mut body_ended = no_body;
    let mut resends = 0;
    // Attempts so far, counting those a daemon sent back.
    let mut attempts = 1;
    // A daemon says hello when it accepts: none within connect-timeout means
    // no process of the group is taking connections (failed to start, or
    // every thread busy). Each connection gets its own.
    let mut hello_deadline = Instant::now() + Duration::from_secs(g.connect_timeout);
    let mut sent = 0usize;
    // A write to this connection failed: it is never kept.
    let mut write_failed = false;
    let mut body_done = no_body;
    let mut buffers = Buffers::take();
    let Buffers {
        read: readbuf,
        body: chunk,
    } = &mut *buffers;
    let timeout = rt.socket_timeout;
    let mut last_progress = Instant::now();
    // When the daemon last sent anything (response-flush-delay).
    let mut last_data = Instant::now();
    loop {
        // Refill from the client body when everything so far has gone out
        // (and the daemon has said the request runs there).
        if sent == out.len() && !body_done && relay.body_wanted() {
            out.clear();
            sent = 0;
            if chunk.len() < GATHER {
                chunk.resize(GATHER, 0);
            }
            let (n, end) = read_body_chunk(relay.transport(), chunk);
            body_consumed |= n > 0 || matches!(end, Some(Frame::InputError { .. }));
            body_ended |= matches!(end, Some(Frame::EndOfBody));
            if n > 0 {
                // Straight from the client buffer into one frame (one copy).
                out.extend_from_slice(&protocol::header(protocol::kind::DATA, n));
                out.extend_from_slice(&chunk[..n]);
            }
            if let Some(end) = end {
                body_done = true;
                let _ = protocol::encode(&end, &mut out);
            }
            last_progress = Instant::now();
        }
        let want_write = sent < out.len();
        let events = libc::POLLIN | if want_write { libc::POLLOUT } else { 0 };
        let mut wait = timeout.saturating_sub(last_progress.elapsed());
        if relay.pid.is_none() && g.connect_timeout > 0 {
            let left = hello_deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                log::request(
                    r,
                    Level::Error,
                    &format!(
                        "mod_wsgi (pid={}): No process of WSGI daemon process group '{}' accepted the connection on '{}' within connect-timeout ({}s): they failed to start (see the log lines about this group) or all {} thread(s) are busy: {script}",
                        std::process::id(),
                        g.name,
                        rt.socket_path,
                        g.connect_timeout,
                        u64::from(g.threads) * u64::from(g.processes),
                    ),
                );
                return HttpStatus::SERVICE_UNAVAILABLE.into();
            }
            wait = wait.min(left);
        }
        if relay.flush_owed() {
            wait = wait.min(flush_delay.saturating_sub(last_data.elapsed()));
        }
        let ready = match descriptors::poll(&[(fd, events)], Some(wait)) {
            Ok(r) => r[0],
            Err(e) => {
                return done(
                    relay.failed(&format!("connection failed: {e}"), HttpStatus::BAD_GATEWAY),
                );
            }
        };
        // The kept connection was closed before this request was written:
        // nothing of it reached a daemon.
        let mut closed_before = false;
        if ready & libc::POLLOUT != 0 && want_write {
            match stream.write(&out[sent..]) {
                Ok(n) => {
                    sent += n;
                    last_progress = Instant::now();
                }
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    closed_before = kept.is_some()
                        && e.kind() == ErrorKind::BrokenPipe
                        && !relay.answered()
                        && !body_consumed;
                    // The daemon stopped reading (it answered without reading
                    // the whole body, or it died): stop sending, keep reading.
                    write_failed = true;
                    body_done = true;
                    out.clear();
                    sent = 0;
                }
            }
        }
        if !closed_before && ready & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) == 0 {
            // The daemon is quiet: push what was passed on once it has been
            // quiet for response-flush-delay (as mod_wsgi).
            if relay.flush_owed()
                && last_data.elapsed() >= flush_delay
                && let Step::Done(c) = relay.flush()
            {
                return c;
            }
            if ready == 0 && last_progress.elapsed() >= timeout {
                let what = format!(
                    "did not respond within socket-timeout ({}s) (Timeout when reading response headers from daemon process)",
                    timeout.as_secs()
                );
                return done(relay.failed(&what, HttpStatus::GATEWAY_TIMEOUT));
            }
            continue;
        }
        let (n, reset) = if closed_before {
            (0, false)
        } else {
            match stream.read(readbuf) {
                Ok(n) => (n, false),
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted =>
                {
                    continue;
                }
                Err(e) => (0, e.kind() == ErrorKind::ConnectionReset),
            }
        };
        // Closed with this request unread (see `unread_if_reset`).
        let unread = reset && unread_if_reset && !relay.answered();
        let mut stale = false;
        if n == 0 && kept.is_some() && (closed_before || unread) && !body_consumed {
            stale = true;
        } else if n == 0 {
            // Closed before the daemon took the request (it was waiting in
            // the backlog of a socket that has just been closed, or the
            // daemon died or stopped as it accepted). Nothing has run, so
            // it is sent again, unless client body was read.
            if !((relay.nothing_ran() || unread) && !body_consumed && resends < MAX_RESENDS) {
                let why = exit_reason(relay.pid);
                return done(relay.failed(&why, HttpStatus::BAD_GATEWAY));
            }
            resends += 1;
            log::request(
                r,
                Level::Info,
                &format!(
                    "mod_wsgi (pid={}): Daemon process group '{}' closed the connection before accepting the request; sending it again: {script}",
                    std::process::id(),
                    g.name
                ),
            );
        } else {
            last_progress = Instant::now();
            last_data = last_progress;
            let fed = reader.feed(&readbuf[..n], &mut |p| match relay.piece(p) {
                Step::Continue => ControlFlow::Continue(()),
                step => ControlFlow::Break(step),
            });
            match fed {
                Ok(ControlFlow::Continue(()) | ControlFlow::Break(Step::Continue)) => continue,
                Ok(ControlFlow::Break(Step::Done(c))) => {
                    // Everything of this request went out and all of the
                    // response came in: the connection can carry the next.
                    // Not for a group of single-threaded processes: a
                    // connection kept to one of them would wait for that
                    // process while another sits idle (a new connection goes
                    // to whichever process accepts).
                    if relay.ended_cleanly()
                        && body_ended
                        && !write_failed
                        && g.threads > 1
                        && sent == out.len()
                        && reader.is_idle()
                        && let Some(pid) = relay.pid
                    {
                        pool::give_back(&rt.socket_path, pool::Kept { stream, born, pid });
                    }
                    return c;
                }
                Ok(ControlFlow::Break(Step::SendAgain)) => {
                    let pid = relay.pid.unwrap_or(0);
                    let limit = max_attempts(g.processes);
                    if attempts >= limit {
                        log::request(
                            r,
                            Level::Error,
                            &format!(
                                "mod_wsgi (pid={}): Maximum number of WSGI daemon process '{}' restart attempts reached: {limit}: {script}",
                                std::process::id(),
                                g.name
                            ),
                        );
                        return HttpStatus::SERVICE_UNAVAILABLE.into();
                    }
                    attempts += 1;
                    log::request(
                        r,
                        Level::Info,
                        &format!(
                            "mod_wsgi (pid={}): Daemon process '{}' (pid {pid}) restarts because the script changed; sending the request again (attempt {attempts} of {limit}): {script}",
                            std::process::id(),
                            g.name
                        ),
                    );
                }
                Ok(ControlFlow::Break(Step::Retry)) if !body_consumed => stale = true,
                Ok(ControlFlow::Break(Step::Retry)) => {
                    let what = "said goodbye after the request body was read";
                    return done(relay.failed(what, HttpStatus::BAD_GATEWAY));
                }
                Err(e) => return done(relay.violation(Violation::BadFrame(e))),
            }
        }
        if stale {
            // A kept connection its daemon closed or gave up (it stopped,
            // recycled or died) before reading this request: nothing ran,
            // nothing of the body was read; it goes on a new connection
            // (a bounded number of times: a daemon saying goodbye to every
            // connection must not keep this request going round).
            if resends >= MAX_RESENDS {
                let what = "closed the connection before taking the request, again and again";
                return done(relay.failed(what, HttpStatus::BAD_GATEWAY));
            }
            resends += 1;
            log::request(
                r,
                Level::Debug,
                &format!(
                    "mod_wsgi (pid={}): Daemon process group '{}' closed a kept connection; sending the request on a new one: {script}",
                    std::process::id(),
                    g.name
                ),
            );
        }
        // Nothing of the request ran and no body was read: the request goes
        // again on a new connection, to whichever process accepts it.
        stream = match connect(r, rt, &script) {
            Ok(s) => s,
            Err(code) => return code.into(),
        };
        fd = stream.as_raw_fd();
        born = Instant::now();
        kept = None;
        write_failed = false;
        out.clear();
        out.extend_from_slice(&request_frame);
        // An empty body that already ended is not read again.
        body_done = body_ended;
        if body_ended && !no_body {
            let _ = protocol::encode(&Frame::EndOfBody, &mut out);
        }
        sent = 0;
        reader = ResponseReader::default();
        relay.again();
        last_progress = Instant::now();
        hello_deadline = last_progress + Duration::from_secs(g.connect_timeout);
    }
}

/// Whether the request has no body (neither a Content-Length above 0 nor
/// a Transfer-Encoding): then httpd has nothing to read from the client.
fn has_no_body(spec: &RequestSpec) -> bool {
    let length = spec.cgi.get("CONTENT_LENGTH").unwrap_or_default();
    (length.is_empty() || length == b"0") && spec.cgi.get("HTTP_TRANSFER_ENCODING").is_none()
}

/// The handler's return value once the relay has ended.
fn done(step: Step) -> HookStatus {
    match step {
        Step::Done(c) => c,
        // Every path that calls this ends the relay.
        Step::Continue | Step::SendAgain | Step::Retry => HookStatus::Ok,
    }
}
