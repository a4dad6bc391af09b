//! What the Apache child accepts from a daemon process. Application code runs
//! in the daemon, so everything that crosses the socket is checked here before
//! it reaches httpd: the response head by the same rules as an embedded
//! application's (`python::response`), the order of the frames, the body
//! against its Content-Length, and log lines against a per-line and
//! per-request budget. Pure, so every rule is unit tested.

use std::fmt;

use crate::python::response::{self, ResponseHead};
use crate::status::HttpStatus;

use super::protocol::{FrameError, kind};

/// A daemon's log line is cut after this many bytes. httpd keeps at most
/// 8 KiB of one error log entry, its own prefix included: 7.5 KiB leaves room
/// for that prefix and the cut marker.
pub(crate) const LOG_LINE_MAX: usize = 7680;
/// Log lines relayed for one request; further lines are dropped.
pub(crate) const LOG_LINES_PER_REQUEST: u32 = 1000;
/// Log text relayed for one request; further lines are dropped.
pub(crate) const LOG_BYTES_PER_REQUEST: usize = 1 << 20;
/// mod_wsgi's `header-buffer-size` when it is 0.
pub(crate) const DEFAULT_HEADER_BUFFER: usize = 32768;
/// mod_wsgi's `response-buffer-size` when it is 0 (6.0.2 and later).
pub(crate) const DEFAULT_RESPONSE_BUFFER: u64 = 8 << 20;

/// How a daemon broke the protocol. Displayed in the one log line the Apache
/// child writes about it; never contains a frame's raw content (header names
/// and values appear only escaped, and only once their size is checked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Violation {
    /// Undecodable: unknown kind, over the size limit, malformed payload.
    BadFrame(FrameError),
    /// A kind only the Apache child sends (or a second hello).
    Unexpected {
        kind: u8,
        len: usize,
    },
    /// A frame other than hello came first.
    BeforeHello(&'static str),
    /// The head breaks the rules an embedded application's head must follow.
    BadHead(String),
    /// One header line (`Name: value`, or the status line) is longer than
    /// header-buffer-size.
    HeaderTooLarge {
        len: usize,
        limit: usize,
    },
    SecondHead,
    /// A body, end or abort frame before the head.
    BeforeHead(&'static str),
    /// A head, body, end or abort frame before the `Continue` the request
    /// waits for.
    BeforeContinue(&'static str),
    /// A status frame after the head, or with a code that is not an error.
    BadStatus {
        code: u16,
        after_head: bool,
    },
    /// More body than the head's Content-Length.
    TooLong {
        content_length: u64,
    },
    /// The body ended short of the head's Content-Length.
    TooShort {
        sent: u64,
        content_length: u64,
    },
}

/// A frame kind's name for logs.
pub(crate) fn kind_name(k: u8) -> &'static str {
    match k {
        kind::REQUEST => "request",
        kind::DATA => "data",
        kind::END_OF_BODY => "end of body",
        kind::INPUT_ERROR => "input error",
        kind::HELLO => "hello",
        kind::HEAD => "head",
        kind::BODY => "body",
        kind::BODY_FLUSH => "body (flush)",
        kind::END => "end",
        kind::STATUS => "status",
        kind::ABORT => "abort",
        kind::LOG => "log",
        kind::CONTINUE => "continue",
        kind::SEND_AGAIN => "send again",
        kind::GOODBYE => "goodbye",
        _ => "unknown",
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::BadFrame(e) => write!(f, "sent a bad frame: {e}"),
            Violation::Unexpected { kind, len } => write!(
                f,
                "sent an unexpected frame of kind {kind:#x} ({}), {len} bytes",
                kind_name(*kind)
            ),
            Violation::BeforeHello(what) => {
                write!(f, "sent {} {what} frame before its hello", article(what))
            }
            Violation::BadHead(why) => write!(f, "sent an invalid response head: {why}"),
            Violation::HeaderTooLarge { len, limit } => write!(
                f,
                "sent a response header line of {len} bytes, over header-buffer-size ({limit})"
            ),
            Violation::SecondHead => write!(f, "sent a second response head"),
            Violation::BeforeHead(what) => write!(
                f,
                "sent {} {what} frame before the response head",
                article(what)
            ),
            Violation::BeforeContinue(what) => {
                write!(f, "sent {} {what} frame before its continue", article(what))
            }
            Violation::BadStatus { code, after_head } => {
                if *after_head {
                    write!(f, "sent a status frame ({code}) after the response head")
                } else {
                    write!(
                        f,
                        "sent a status frame with code {code} (an error status 400-599 is expected)"
                    )
                }
            }
            Violation::TooLong { content_length } => write!(
                f,
                "sent more body than its Content-Length ({content_length} bytes)"
            ),
            Violation::TooShort {
                sent,
                content_length,
            } => write!(
                f,
                "ended the body short of its Content-Length ({sent} of {content_length} bytes)"
            ),
        }
    }
}

/// A header line's length as mod_wsgi's line buffer counts it (latin-1
/// bytes, `Name: value`).
fn line_len(name: &str, value: &str) -> usize {
    name.chars().count() + 2 + value.chars().count()
}

/// Checks a daemon's response head: each line against `header_buffer_size`
/// (mod_wsgi's limit on one header line), then every rule an embedded
/// application's head follows. Returns the head to give httpd.
pub(crate) fn check_head(
    head: &ResponseHead<u16>,
    header_buffer_size: usize,
) -> Result<ResponseHead, Violation> {
    let status_line = line_len("Status", &head.reason) + 4;
    let longest = head
        .headers
        .iter()
        .map(|(n, v)| line_len(n, v))
        .chain([status_line])
        .max()
        .unwrap_or(0);
    if longest > header_buffer_size {
        return Err(Violation::HeaderTooLarge {
            len: longest,
            limit: header_buffer_size,
        });
    }
    response::recheck_head(head).map_err(|e| Violation::BadHead(e.to_string()))
}

/// The status a status frame's `code` is, if a status frame may carry it: a
/// daemon answers with a status only for errors (the application failed, the
/// body could not be read, the request waited too long).
pub(crate) fn status_frame(code: u16) -> Option<HttpStatus> {
    HttpStatus::new(code).filter(|s| (400..=599).contains(&s.code()))
}

/// Counts the body a daemon sends against the head's Content-Length.
#[derive(Debug, Default)]
pub(crate) struct BodyMeter {
    content_length: Option<u64>,
    /// HEAD, 1xx, 204, 304: no body is owed, whatever Content-Length says.
    bodiless: bool,
    pub(crate) sent: u64,
}

impl BodyMeter {
    pub(crate) fn new(head: &ResponseHead, head_request: bool) -> BodyMeter {
        BodyMeter {
            content_length: head.content_length,
            bodiless: head_request || head.status.has_no_body(),
            sent: 0,
        }
    }

    /// How many of `len` more bytes may be passed on; `Err` carries that
    /// number when the rest is over Content-Length.
    pub(crate) fn admit(&mut self, len: usize) -> Result<usize, (usize, Violation)> {
        let room = match self.content_length {
            Some(cl) => cl.saturating_sub(self.sent),
            None => u64::MAX,
        };
        if len as u64 > room {
            self.sent += room;
            return Err((
                room as usize,
                Violation::TooLong {
                    content_length: self.content_length.unwrap_or(0),
                },
            ));
        }
        self.sent += len as u64;
        Ok(len)
    }

    /// At the end of the body: whether all of Content-Length was sent.
    pub(crate) fn finish(&self) -> Result<(), Violation> {
        match self.content_length {
            Some(cl) if self.sent < cl && !self.bodiless => Err(Violation::TooShort {
                sent: self.sent,
                content_length: cl,
            }),
            _ => Ok(()),
        }
    }
}

/// What to do with one more log line from the daemon.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LogAdmit {
    Log,
    /// Over the budget for the first time: log one line saying so.
    DropNoticed,
    Drop,
}

/// The per-request log budget.
#[derive(Debug, Default)]
pub(crate) struct LogBudget {
    lines: u32,
    bytes: usize,
    exhausted: bool,
}

impl LogBudget {
    /// Accounts for a line of `len` bytes (as received, before any cut).
    pub(crate) fn admit(&mut self, len: usize) -> LogAdmit {
        if self.exhausted {
            return LogAdmit::Drop;
        }
        let len = len.min(LOG_LINE_MAX);
        if self.lines >= LOG_LINES_PER_REQUEST || self.bytes + len > LOG_BYTES_PER_REQUEST {
            self.exhausted = true;
            return LogAdmit::DropNoticed;
        }
        self.lines += 1;
        self.bytes += len;
        LogAdmit::Log
    }
}

/// A daemon's log line as the Apache child writes it: at most
/// [`LOG_LINE_MAX`] bytes as httpd will write it (httpd escapes control
/// characters in every error log message, four bytes each, so a daemon
/// cannot start a line of its own), and a marker when the daemon's line was
/// longer (`cut`: bytes of it not received into `text`).
pub(crate) fn log_text(text: &str, cut: usize) -> String {
    let mut room = LOG_LINE_MAX;
    let mut end = text.len();
    for (i, c) in text.char_indices() {
        let need = if c.is_control() { 4 } else { c.len_utf8() };
        if need > room {
            end = i;
            break;
        }
        room -= need;
    }
    let cut = cut + (text.len() - end);
    if cut == 0 {
        return text.to_string();
    }
    format!("{} [... {cut} more bytes cut]", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(headers: &[(&str, &str)]) -> ResponseHead {
        response::build_head(
            "200 OK",
            headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
        .unwrap()
    }

    /// A head as a daemon sends it.
    fn head(headers: &[(&str, &str)]) -> ResponseHead<u16> {
        checked(headers).into()
    }

    #[test]
    fn header_lines_are_limited_by_header_buffer_size() {
        let v = "x".repeat(100);
        let h = head(&[("X-Big", &v)]);
        assert!(check_head(&h, 107).is_ok());
        assert_eq!(
            check_head(&h, 106).unwrap_err(),
            Violation::HeaderTooLarge {
                len: 107,
                limit: 106
            }
        );
        // The status line counts too.
        let mut h = head(&[]);
        h.reason = "R".repeat(200);
        assert!(matches!(
            check_head(&h, 100),
            Err(Violation::HeaderTooLarge { .. })
        ));
        // Many small lines are fine (mod_wsgi limits a line, not the head).
        let many: Vec<(String, String)> = (0..1000)
            .map(|i| (format!("X-{i}"), "v".repeat(50)))
            .collect();
        let refs: Vec<(&str, &str)> = many.iter().map(|(a, b)| (&**a, &**b)).collect();
        assert!(check_head(&head(&refs), DEFAULT_HEADER_BUFFER).is_ok());
    }

    #[test]
    fn heads_follow_the_embedded_rules() {
        let mut h = head(&[]);
        h.reason = "OK\r\nX-Injected: 1".into();
        let e = check_head(&h, DEFAULT_HEADER_BUFFER).unwrap_err();
        assert!(matches!(e, Violation::BadHead(_)));
        // Escaped in the message: the log line stays one line.
        assert!(!e.to_string().contains('\r') && !e.to_string().contains('\n'));
        let mut h = head(&[]);
        h.headers.push(("X-V".into(), "a\nb".into()));
        assert!(check_head(&h, DEFAULT_HEADER_BUFFER).is_err());
        let mut h = head(&[]);
        h.headers.push(("X\u{1}N".into(), "v".into()));
        let e = check_head(&h, DEFAULT_HEADER_BUFFER).unwrap_err();
        assert!(!e.to_string().contains('\u{1}'));
        for code in [0, 600] {
            let mut h = head(&[]);
            h.status = code;
            assert_eq!(
                check_head(&h, DEFAULT_HEADER_BUFFER).unwrap_err(),
                Violation::BadHead(format!("status code {code} is out of range (100-599)"))
            );
        }
    }

    #[test]
    fn status_frames_carry_errors_only() {
        for code in [400, 413, 500, 504, 599] {
            assert_eq!(status_frame(code).map(HttpStatus::code), Some(code));
        }
        for code in [0, 99, 200, 399, 600, u16::MAX] {
            assert_eq!(status_frame(code), None, "{code}");
        }
    }

    #[test]
    fn the_body_is_metered_against_content_length() {
        let h = checked(&[("Content-Length", "10")]);
        let mut m = BodyMeter::new(&h, false);
        assert_eq!(m.admit(4), Ok(4));
        assert_eq!(
            m.finish(),
            Err(Violation::TooShort {
                sent: 4,
                content_length: 10
            })
        );
        assert_eq!(
            m.admit(20),
            Err((6, Violation::TooLong { content_length: 10 }))
        );
        assert_eq!(m.sent, 10);
        // No Content-Length: anything goes.
        let mut m = BodyMeter::new(&checked(&[]), false);
        assert_eq!(m.admit(1 << 30), Ok(1 << 30));
        assert!(m.finish().is_ok());
        // HEAD and bodiless statuses owe nothing, but may not send more.
        let mut m = BodyMeter::new(&h, true);
        assert!(m.finish().is_ok());
        assert!(m.admit(11).is_err());
        let mut h304 = h.clone();
        h304.status = HttpStatus::new(304).unwrap();
        assert!(BodyMeter::new(&h304, false).finish().is_ok());
    }

    #[test]
    fn log_lines_are_budgeted_per_request() {
        let mut b = LogBudget::default();
        for _ in 0..LOG_LINES_PER_REQUEST {
            assert_eq!(b.admit(10), LogAdmit::Log);
        }
        assert_eq!(b.admit(10), LogAdmit::DropNoticed);
        assert_eq!(b.admit(10), LogAdmit::Drop);
        // By volume: lines count at most LOG_LINE_MAX each.
        let mut b = LogBudget::default();
        let n = LOG_BYTES_PER_REQUEST / LOG_LINE_MAX;
        for _ in 0..n {
            assert_eq!(b.admit(10 << 20), LogAdmit::Log);
        }
        assert_eq!(b.admit(LOG_LINE_MAX), LogAdmit::DropNoticed);
    }

    #[test]
    fn log_text_is_one_bounded_line() {
        assert_eq!(log_text("plain\ttext", 0), "plain\ttext");
        // Within the limit: the daemon's cut is reported.
        let out = log_text(&"é".repeat(LOG_LINE_MAX / 2), 5);
        assert_eq!(out.len(), LOG_LINE_MAX + " [... 5 more bytes cut]".len());
        // httpd writes a control character as four bytes: counted as such.
        let out = log_text(&"\n".repeat(LOG_LINE_MAX), 0);
        let kept = LOG_LINE_MAX / 4;
        assert_eq!(
            out,
            format!(
                "{} [... {} more bytes cut]",
                "\n".repeat(kept),
                LOG_LINE_MAX - kept
            )
        );
    }

    #[test]
    fn violations_name_kinds_not_content() {
        let v = Violation::Unexpected {
            kind: kind::REQUEST,
            len: 12,
        };
        assert_eq!(
            v.to_string(),
            "sent an unexpected frame of kind 0x1 (request), 12 bytes"
        );
        let v = Violation::Unexpected {
            kind: kind::SEND_AGAIN,
            len: 0,
        };
        assert_eq!(
            v.to_string(),
            "sent an unexpected frame of kind 0x19 (send again), 0 bytes"
        );
        assert_eq!(
            Violation::BeforeContinue("head").to_string(),
            "sent a head frame before its continue"
        );
    }
}
