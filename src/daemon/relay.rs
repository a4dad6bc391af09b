//! Relays a daemon's response into httpd (the Apache child's side). The
//! daemon runs application code, so nothing it sends is trusted: each piece
//! the [`ResponseReader`](super::reader::ResponseReader) decodes is checked
//! (`validate`) before it reaches the request: exactly one head, valid by the
//! embedded rules and header-buffer-size, sent only with the first body bytes
//! (a violation before that is still a clean 502); the body metered against
//! Content-Length; log lines cut and budgeted. A violation is logged once,
//! naming the group, the daemon's pid and what was wrong, and ends the
//! response: a 502 if nothing reached httpd yet, otherwise an aborted
//! response (no final chunk, connection closed).
//!
//! Flushing follows mod_wsgi: body bytes are passed on unflushed, and the
//! dispatcher flushes once the daemon has been quiet for response-flush-delay
//! or response-buffer-size bytes went by without a flush.

use std::time::{Duration, Instant};

use crate::apache::log::{self, Level};
use crate::apache::request::Request;
use crate::apache::status::HookStatus;
use crate::apache::transport::EmbeddedTransport;
use crate::python::response::ResponseHead;
use crate::python::transport::{Transport, Write};
use crate::status::HttpStatus;

use super::groups::GroupRuntime;
use super::protocol::{Frame, FrameError, kind};
use super::reader::Piece;
use super::validate::{self, BodyMeter, LogAdmit, LogBudget, Violation};

pub(crate) enum Step {
    Continue,
    /// The handler returns this (OK, or a status for httpd to answer with).
    Done(HookStatus),
    /// The daemon did not run the request (its script changed and it is
    /// restarting): send it again.
    SendAgain,
    /// The daemon said goodbye before reading the request: send it again
    /// on a new connection.
    Retry,
}

/// Whether the request body may go to the daemon yet (see
/// `protocol`: with script reloading on, it waits for `Continue`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The request has no handshake: the body goes at once.
    NotAsked,
    Awaited,
    /// A request without a body, with script reloading on: no `Continue`
    /// comes, `SendAgain` may until the head does.
    Implied,
    /// `Continue` came: the request runs in that daemon.
    Given,
}

/// Where the response head is.
enum Head {
    /// None received yet.
    Awaited,
    /// Validated; goes to httpd with the first output.
    Pending(ResponseHead),
    /// Given to httpd.
    Applied,
}

pub(crate) struct Relay<'a> {
    r: &'a Request,
    t: &'a mut EmbeddedTransport,
    rt: &'a GroupRuntime,
    script: &'a str,
    /// From the daemon's hello (its own word: the kernel's peer credentials
    /// name the Apache parent, which created the listening socket).
    pub(crate) pid: Option<u32>,
    error_override: bool,
    head_request: bool,
    header_buffer_size: usize,
    response_buffer_size: u64,
    /// The effective response-socket-timeout, when it differs from the
    /// connection's own.
    client_timeout: Option<Duration>,
    head: Head,
    meter: BodyMeter,
    /// Output went down httpd's filters: a failure can no longer be a status.
    committed: bool,
    /// Output passed since the last flush, or a flush the daemon asked for.
    flush_owed: bool,
    since_flush: u64,
    logs: LogBudget,
    verdict: Verdict,
    /// Something of the response to this request came (besides a hello).
    answered: bool,
    /// `End` or `Status` came and was passed on: the exchange is complete.
    clean_end: bool,
}

impl<'a> Relay<'a> {
    pub(crate) fn new(
        r: &'a Request,
        t: &'a mut EmbeddedTransport,
        rt: &'a GroupRuntime,
        script: &'a str,
        error_override: bool,
        head_request: bool,
        client_timeout: Option<Duration>,
    ) -> Relay<'a> {
        let g = &rt.group;
        Relay {
            r,
            t,
            rt,
            script,
            pid: None,
            error_override,
            head_request,
            header_buffer_size: match g.header_buffer_size {
                0 => validate::DEFAULT_HEADER_BUFFER,
                n => n as usize,
            },
            response_buffer_size: match g.response_buffer_size {
                0 => validate::DEFAULT_RESPONSE_BUFFER,
                n => u64::from(n),
            },
            client_timeout,
            head: Head::Awaited,
            meter: BodyMeter::default(),
            committed: false,
            flush_owed: false,
            since_flush: 0,
            logs: LogBudget::default(),
            verdict: Verdict::NotAsked,
            answered: false,
            clean_end: false,
        }
    }

    /// The request asks for the daemon's verdict (script reloading is on):
    /// its body waits for `Continue`.
    pub(crate) fn await_continue(&mut self) {
        self.verdict = Verdict::Awaited;
    }

    /// A request without a body, with script reloading on: the daemon may
    /// send it back until its head comes (see `protocol`).
    pub(crate) fn allow_send_again(&mut self) {
        self.verdict = Verdict::Implied;
    }

    /// On a kept connection: the daemon `pid` said hello when it was made.
    pub(crate) fn kept_from(&mut self, pid: u32) {
        self.pid = Some(pid);
    }

    /// Whether the request body may be sent to the daemon now.
    pub(crate) fn body_wanted(&self) -> bool {
        self.verdict != Verdict::Awaited
    }

    /// Whether anything of the response to this request came.
    pub(crate) fn answered(&self) -> bool {
        self.answered
    }

    /// Whether the response ended as the protocol says (`End` passed on, or
    /// a `Status`): the connection may carry another request.
    pub(crate) fn ended_cleanly(&self) -> bool {
        self.clean_end
    }

    /// Whether the daemon may still have run nothing of the request: it
    /// said neither hello nor, when it was asked for one, its verdict. A
    /// connection closed then is sent again (if no body was read).
    pub(crate) fn nothing_ran(&self) -> bool {
        self.pid.is_none() || self.verdict == Verdict::Awaited
    }

    /// Starts over on a new connection, to send the request again (only
    /// while [`Relay::nothing_ran`], or on [`Step::SendAgain`]: no head came,
    /// nothing reached httpd); log lines keep counting against the budget.
    pub(crate) fn again(&mut self) {
        self.pid = None;
        self.answered = false;
    }

    /// The transport, for reading the client's request body.
    pub(crate) fn transport(&mut self) -> &mut EmbeddedTransport {
        self.t
    }

    /// Whether output waits for a flush (see [`Relay::flush`]).
    pub(crate) fn flush_owed(&self) -> bool {
        self.flush_owed
    }

    pub(crate) fn piece(&mut self, p: Piece<'_>) -> Step {
        if matches!(p, Piece::Frame(Frame::Goodbye)) {
            // Only instead of any answer: the request was not read.
            if self.answered {
                return self.violation(Violation::Unexpected {
                    kind: kind::GOODBYE,
                    len: 0,
                });
            }
            return Step::Retry;
        }
        if !matches!(p, Piece::Frame(Frame::Hello { .. })) {
            self.answered = true;
        }
        if self.pid.is_none() && !matches!(p, Piece::Frame(Frame::Hello { .. })) {
            let what = match &p {
                Piece::Frame(f) => f.kind_name(),
                Piece::Body(_) | Piece::BodyEnd { .. } => "body",
                Piece::Log { .. } => "log",
                Piece::Unexpected { kind, .. } => validate::kind_name(*kind),
            };
            return self.violation(Violation::BeforeHello(what));
        }
        if self.verdict == Verdict::Awaited {
            // Only log lines, a status or the verdict before the verdict.
            let early = match &p {
                Piece::Frame(Frame::Head(_)) => Some("head"),
                Piece::Frame(Frame::End) => Some("end"),
                Piece::Frame(Frame::Abort) => Some("abort"),
                Piece::Body(_) | Piece::BodyEnd { .. } => Some("body"),
                _ => None,
            };
            if let Some(what) = early {
                return self.violation(Violation::BeforeContinue(what));
            }
        }
        match p {
            Piece::Frame(f) => self.frame(f),
            Piece::Body(data) => self.body(data),
            Piece::BodyEnd { flush } => {
                if matches!(self.head, Head::Awaited) {
                    return self.violation(Violation::BeforeHead("body"));
                }
                self.flush_owed |= flush;
                Step::Continue
            }
            Piece::Log { level, text, cut } => {
                self.log(level, &text, cut);
                Step::Continue
            }
            Piece::Unexpected { kind, len } => self.violation(Violation::Unexpected { kind, len }),
        }
    }

    fn frame(&mut self, f: Frame) -> Step {
        match f {
            Frame::Hello { pid } => {
                if self.pid.is_some() {
                    return self.violation(Violation::Unexpected {
                        kind: kind::HELLO,
                        len: 5,
                    });
                }
                self.pid = Some(pid);
                Step::Continue
            }
            Frame::Head(h) => {
                if !matches!(self.head, Head::Awaited) {
                    return self.violation(Violation::SecondHead);
                }
                let h = match validate::check_head(&h, self.header_buffer_size) {
                    Ok(h) => h,
                    Err(v) => return self.violation(v),
                };
                // Closing the connection tells the daemon to drop the body.
                if self.error_override && h.status.code() >= 400 {
                    return Step::Done(h.status.into());
                }
                self.meter = BodyMeter::new(&h, self.head_request);
                self.head = Head::Pending(h);
                if self.verdict == Verdict::Implied {
                    // It runs here: no sending it back from now on.
                    self.verdict = Verdict::Given;
                }
                Step::Continue
            }
            Frame::End => {
                if matches!(self.head, Head::Awaited) {
                    return self.violation(Violation::BeforeHead("end"));
                }
                if let Err(v) = self.meter.finish() {
                    return self.violation(v);
                }
                self.apply_head();
                self.committed = true;
                if self.t.write(&[], Write::Last).is_ok() {
                    self.t.finish();
                    self.clean_end = true;
                }
                Step::Done(HookStatus::Ok)
            }
            Frame::Status(code) => {
                let after_head = !matches!(self.head, Head::Awaited);
                let status = match validate::status_frame(code) {
                    Some(s) if !after_head => s,
                    _ => return self.violation(Violation::BadStatus { code, after_head }),
                };
                self.clean_end = true;
                Step::Done(status.into())
            }
            Frame::Continue | Frame::SendAgain => {
                // Only as the answer to a request waiting for one: a verdict
                // later (the application may have run) must not make this
                // process send the request again.
                let k = if matches!(f, Frame::Continue) {
                    kind::CONTINUE
                } else {
                    kind::SEND_AGAIN
                };
                let legal = match self.verdict {
                    Verdict::Awaited => true,
                    Verdict::Implied => k == kind::SEND_AGAIN,
                    _ => false,
                };
                if !legal {
                    return self.violation(Violation::Unexpected { kind: k, len: 0 });
                }
                if k == kind::SEND_AGAIN {
                    return Step::SendAgain;
                }
                self.verdict = Verdict::Given;
                Step::Continue
            }
            Frame::Abort => {
                if matches!(self.head, Head::Awaited) {
                    return self.violation(Violation::BeforeHead("abort"));
                }
                // The application failed after its output started (the
                // daemon logged why): end it as embedded mode would.
                self.apply_head();
                self.committed = true;
                self.t.abort();
                Step::Done(HookStatus::Ok)
            }
            // The reader passes no other kind as a whole frame.
            _ => self.violation(Violation::BadFrame(FrameError::Malformed(
                "unexpected frame",
            ))),
        }
    }

    /// Gives the pending head to httpd (it goes out with the first output).
    fn apply_head(&mut self) {
        if let Head::Pending(h) = std::mem::replace(&mut self.head, Head::Applied) {
            self.t.set_head(&h);
        }
    }

    fn body(&mut self, data: &[u8]) -> Step {
        if matches!(self.head, Head::Awaited) {
            return self.violation(Violation::BeforeHead("body"));
        }
        match self.meter.admit(data.len()) {
            Ok(_) => self.pass(data),
            Err((room, v)) => {
                // What Content-Length allows reaches the client, the rest
                // never does, and the connection is closed.
                if let Step::Done(c) = self.pass(&data[..room]) {
                    return Step::Done(c);
                }
                self.violation(v)
            }
        }
    }

    /// Passes body bytes to httpd unflushed (forcing a flush every
    /// response-buffer-size bytes).
    fn pass(&mut self, data: &[u8]) -> Step {
        if data.is_empty() {
            return Step::Continue;
        }
        self.apply_head();
        self.committed = true;
        self.flush_owed = true;
        self.since_flush += data.len() as u64;
        let started = Instant::now();
        if self.t.write(data, Write::Buffer).is_err() {
            return self.client_failed(started);
        }
        if self.since_flush >= self.response_buffer_size {
            return self.flush();
        }
        Step::Continue
    }

    /// Pushes what was passed to the client (and the head, if a flush frame
    /// came before any body).
    pub(crate) fn flush(&mut self) -> Step {
        self.flush_owed = false;
        self.since_flush = 0;
        self.apply_head();
        self.committed = true;
        let started = Instant::now();
        if self.t.write(&[], Write::Flush).is_err() {
            return self.client_failed(started);
        }
        Step::Continue
    }

    /// Writing to the client failed: it went away, or did not accept data
    /// within the send timeout. Closing the daemon connection tells the daemon.
    fn client_failed(&mut self, started: Instant) -> Step {
        let (level, why) = if self.t.write_timed_out() {
            let limit = self.client_timeout.map_or_else(
                || "Timeout".to_string(),
                |d| format!("response-socket-timeout ({}s)", d.as_secs()),
            );
            // An error, as in mod_wsgi: a worker thread was held that long.
            (
                Level::Error,
                format!(
                    "the client accepted no data for {:.1}s ({limit})",
                    started.elapsed().as_secs_f64()
                ),
            )
        } else {
            (Level::Debug, "the client connection closed".to_string())
        };
        log::request(
            self.r,
            level,
            &format!(
                "mod_wsgi (pid={}): Failed to proxy response from daemon process '{}' to client: {why}: {}",
                std::process::id(),
                self.rt.group.name,
                self.script
            ),
        );
        Step::Done(HookStatus::Ok)
    }

    fn log(&mut self, level: u8, text: &str, cut: usize) {
        match self.logs.admit(text.len() + cut) {
            LogAdmit::Log => log::request(
                self.r,
                Level::saturating_from(level),
                &validate::log_text(text, cut),
            ),
            LogAdmit::DropNoticed => log::request(
                self.r,
                Level::Warn,
                &format!(
                    "mod_wsgi (pid={}): Daemon process '{}' ({}) sent more than {} log lines or {} bytes of log text for this request; further log lines of this request are dropped: {}",
                    std::process::id(),
                    self.rt.group.name,
                    self.pid_text(),
                    validate::LOG_LINES_PER_REQUEST,
                    validate::LOG_BYTES_PER_REQUEST,
                    self.script
                ),
            ),
            LogAdmit::Drop => {}
        }
    }

    fn pid_text(&self) -> String {
        self.pid
            .map_or_else(|| "pid unknown".to_string(), |p| format!("pid {p}"))
    }

    /// The daemon broke the protocol: one log line, then a 502 or, once
    /// output went to httpd, an aborted response.
    pub(crate) fn violation(&mut self, v: Violation) -> Step {
        log::request(
            self.r,
            Level::Error,
            &format!(
                "mod_wsgi (pid={}): Daemon process '{}' ({}) violated the protocol: {v}; {}: {}",
                std::process::id(),
                self.rt.group.name,
                self.pid_text(),
                if self.committed {
                    "the response was cut short and the connection closed"
                } else {
                    "answering 502"
                },
                self.script
            ),
        );
        self.end_failed(HttpStatus::BAD_GATEWAY)
    }

    /// The daemon failed before completing the response (it died, timed
    /// out, or the connection broke).
    pub(crate) fn failed(&mut self, what: &str, status: HttpStatus) -> Step {
        log::request(
            self.r,
            Level::Error,
            &format!(
                "mod_wsgi (pid={}): Daemon process '{}' ({}) {what}; the response to this request is {}: {}",
                std::process::id(),
                self.rt.group.name,
                self.pid_text(),
                if self.committed {
                    "truncated"
                } else {
                    "a status"
                },
                self.script
            ),
        );
        self.end_failed(status)
    }

    fn end_failed(&mut self, status: HttpStatus) -> Step {
        if !self.committed {
            return Step::Done(status.into());
        }
        // What was validated reaches the client; then no final chunk, and
        // the connection is closed.
        if self.flush_owed {
            let _ = self.t.write(&[], Write::Flush);
        }
        self.t.abort();
        Step::Done(HookStatus::Ok)
    }
}
