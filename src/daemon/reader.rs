//! The Apache child's incremental decoder of what a daemon sends back. Bytes
//! are fed as they are read from the socket, in pieces of any size, and come
//! out as [`Piece`]s without the child ever holding more than one small frame:
//! body payloads are handed on as they arrive (never gathered), a log line
//! keeps at most [`LOG_LINE_MAX`] bytes and skips the rest, and a frame kind
//! the child never accepts from a daemon is reported by its header alone.
//! Pure, so every split of the input is unit tested.

use std::ops::ControlFlow;

use super::protocol::{self, Frame, FrameError, HEADER_LEN, kind};
use super::validate::LOG_LINE_MAX;

/// One unit of the daemon's response stream.
#[derive(Debug)]
pub(crate) enum Piece<'a> {
    /// A whole hello, head, end, status, abort, continue or send-again frame.
    Frame(Frame),
    /// The next bytes of a body frame's payload (never empty).
    Body(&'a [u8]),
    /// A body frame ended; `flush` if it was a flush frame.
    BodyEnd { flush: bool },
    /// A log line, cut to `LOG_LINE_MAX` bytes; `cut` bytes were skipped.
    Log { level: u8, text: String, cut: usize },
    /// A kind the Apache child never accepts from a daemon (its payload is
    /// not read).
    Unexpected { kind: u8, len: usize },
}

#[derive(Debug)]
enum State {
    Header {
        buf: [u8; HEADER_LEN],
        have: usize,
    },
    Body {
        left: usize,
        flush: bool,
    },
    /// A small frame gathered whole.
    Whole {
        kind: u8,
        len: usize,
        buf: Vec<u8>,
    },
    /// A log frame: its first `5 + LOG_LINE_MAX` payload bytes are kept.
    Log {
        len: usize,
        seen: usize,
        buf: Vec<u8>,
    },
}

/// Log payload: level (1), text length (4), text.
const LOG_PREFIX: usize = 5;

#[derive(Debug)]
pub(crate) struct ResponseReader {
    state: State,
    /// Bytes of the last `feed` left unread when the sink broke off.
    unread: usize,
}

impl Default for ResponseReader {
    fn default() -> Self {
        ResponseReader {
            state: State::Header {
                buf: [0; HEADER_LEN],
                have: 0,
            },
            unread: 0,
        }
    }
}

/// The payload length a kind must have, where it is fixed.
fn fixed_len(k: u8) -> Option<usize> {
    match k {
        kind::END | kind::ABORT | kind::CONTINUE | kind::SEND_AGAIN | kind::GOODBYE => Some(0),
        kind::STATUS => Some(2),
        kind::HELLO => Some(5),
        _ => None,
    }
}

const MALFORMED_LOG: FrameError = FrameError::Malformed("bad log frame");

/// Decodes a log payload's kept prefix (`buf`) of a frame of `len` bytes.
fn log_piece(len: usize, buf: &[u8]) -> Result<Piece<'static>, FrameError> {
    let (&level, rest) = buf.split_first().ok_or(MALFORMED_LOG)?;
    let (n, text) = rest.split_first_chunk::<4>().ok_or(MALFORMED_LOG)?;
    if u32::from_be_bytes(*n) as usize != len - LOG_PREFIX {
        return Err(MALFORMED_LOG);
    }
    let was_cut = text.len() < len - LOG_PREFIX;
    let text = match std::str::from_utf8(text) {
        Ok(s) => s,
        // The cut may fall inside a character: keep what is whole.
        Err(e) if was_cut && e.error_len().is_none() => {
            std::str::from_utf8(&text[..e.valid_up_to()]).map_err(|_| MALFORMED_LOG)?
        }
        Err(_) => return Err(FrameError::Malformed("text is not UTF-8")),
    };
    Ok(Piece::Log {
        level,
        cut: len - LOG_PREFIX - text.len(),
        text: text.to_string(),
    })
}

impl ResponseReader {
    /// Decodes `data`, calling `sink` for each piece in order, until the data
    /// is used up or `sink` breaks. A frame that cannot be decoded is an
    /// error; the reader must not be fed again after one.
    pub(crate) fn feed<B>(
        &mut self,
        mut data: &[u8],
        sink: &mut impl FnMut(Piece<'_>) -> ControlFlow<B>,
    ) -> Result<ControlFlow<B>, FrameError> {
        let flow = self.feed_from(&mut data, sink);
        self.unread = data.len();
        flow
    }

    /// Whether the reader stopped between frames with nothing left over:
    /// after the last frame of a response, nothing else came.
    pub(crate) fn is_idle(&self) -> bool {
        self.unread == 0 && matches!(self.state, State::Header { have: 0, .. })
    }

    fn feed_from<B>(
        &mut self,
        input: &mut &[u8],
        sink: &mut impl FnMut(Piece<'_>) -> ControlFlow<B>,
    ) -> Result<ControlFlow<B>, FrameError> {
        let mut data = *input;
        while !data.is_empty() {
            match &mut self.state {
                State::Header { buf, have } => {
                    let take = (HEADER_LEN - *have).min(data.len());
                    buf[*have..*have + take].copy_from_slice(&data[..take]);
                    *have += take;
                    data = &data[take..];
                    if *have < HEADER_LEN {
                        break;
                    }
                    let (k, len) = protocol::parse_header(buf)?;
                    if let Some(flow) = self.start(k, len, sink)? {
                        {
                            *input = data;
                            return Ok(flow);
                        }
                    }
                }
                State::Body { left, flush } => {
                    let take = (*left).min(data.len());
                    let (piece, rest) = data.split_at(take);
                    *left -= take;
                    let end = (*left == 0).then_some(*flush);
                    data = rest;
                    if end.is_some() {
                        self.state = State::default_header();
                    }
                    if let ControlFlow::Break(b) = sink(Piece::Body(piece)) {
                        {
                            *input = data;
                            return Ok(ControlFlow::Break(b));
                        }
                    }
                    if let Some(flush) = end
                        && let ControlFlow::Break(b) = sink(Piece::BodyEnd { flush })
                    {
                        {
                            *input = data;
                            return Ok(ControlFlow::Break(b));
                        }
                    }
                }
                State::Whole { kind, len, buf } => {
                    let take = (*len - buf.len()).min(data.len());
                    buf.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if buf.len() == *len {
                        let frame = protocol::parse_payload(*kind, buf)?;
                        self.state = State::default_header();
                        if let ControlFlow::Break(b) = sink(Piece::Frame(frame)) {
                            {
                                *input = data;
                                return Ok(ControlFlow::Break(b));
                            }
                        }
                    }
                }
                State::Log { len, seen, buf } => {
                    let take = (*len - *seen).min(data.len());
                    let keep = (LOG_PREFIX + LOG_LINE_MAX)
                        .saturating_sub(buf.len())
                        .min(take);
                    buf.extend_from_slice(&data[..keep]);
                    *seen += take;
                    data = &data[take..];
                    if *seen == *len {
                        let piece = log_piece(*len, buf)?;
                        self.state = State::default_header();
                        if let ControlFlow::Break(b) = sink(piece) {
                            {
                                *input = data;
                                return Ok(ControlFlow::Break(b));
                            }
                        }
                    }
                }
            }
        }
        *input = data;
        Ok(ControlFlow::Continue(()))
    }

    /// Enters the state for a frame of kind `k` and payload length `len`
    /// (checked by `parse_header`); a frame with nothing to read is passed
    /// to `sink` at once.
    fn start<B>(
        &mut self,
        k: u8,
        len: usize,
        sink: &mut impl FnMut(Piece<'_>) -> ControlFlow<B>,
    ) -> Result<Option<ControlFlow<B>>, FrameError> {
        if fixed_len(k).is_some_and(|n| n != len) {
            return Err(FrameError::Malformed("wrong payload length for its kind"));
        }
        let (next, now) = match k {
            kind::BODY | kind::BODY_FLUSH => {
                let flush = k == kind::BODY_FLUSH;
                if len == 0 {
                    (State::default_header(), Some(Piece::BodyEnd { flush }))
                } else {
                    (State::Body { left: len, flush }, None)
                }
            }
            kind::LOG => {
                if len < LOG_PREFIX {
                    return Err(MALFORMED_LOG);
                }
                let keep = len.min(LOG_PREFIX + LOG_LINE_MAX);
                (
                    State::Log {
                        len,
                        seen: 0,
                        buf: Vec::with_capacity(keep),
                    },
                    None,
                )
            }
            kind::HELLO
            | kind::HEAD
            | kind::END
            | kind::STATUS
            | kind::ABORT
            | kind::CONTINUE
            | kind::SEND_AGAIN
            | kind::GOODBYE => {
                if len == 0 {
                    let frame = protocol::parse_payload(k, &[])?;
                    (State::default_header(), Some(Piece::Frame(frame)))
                } else {
                    // Grown as bytes arrive: a claimed length reserves nothing.
                    let buf = Vec::with_capacity(len.min(4096));
                    (State::Whole { kind: k, len, buf }, None)
                }
            }
            _ => (
                State::default_header(),
                Some(Piece::Unexpected { kind: k, len }),
            ),
        };
        self.state = next;
        Ok(now.map(sink).filter(|f| f.is_break()))
    }
}

impl State {
    fn default_header() -> State {
        State::Header {
            buf: [0; HEADER_LEN],
            have: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::response::ResponseHead;

    /// Pieces as owned values, for comparison.
    #[derive(Debug, PartialEq)]
    enum Owned {
        Frame(String),
        Body(Vec<u8>),
        BodyEnd(bool),
        Log(u8, String, usize),
        Unexpected(u8, usize),
    }

    /// Feeds `input` in pieces of `step` bytes; body pieces are merged.
    fn run(input: &[u8], step: usize) -> (Vec<Owned>, Option<FrameError>) {
        let mut r = ResponseReader::default();
        let mut out: Vec<Owned> = Vec::new();
        for chunk in input.chunks(step.max(1)) {
            let res = r.feed(chunk, &mut |p| {
                let o = match p {
                    Piece::Frame(f) => Owned::Frame(format!("{f:?}")),
                    Piece::Body(b) => {
                        assert!(!b.is_empty());
                        if let Some(Owned::Body(prev)) = out.last_mut() {
                            prev.extend_from_slice(b);
                            return ControlFlow::<()>::Continue(());
                        }
                        Owned::Body(b.to_vec())
                    }
                    Piece::BodyEnd { flush } => Owned::BodyEnd(flush),
                    Piece::Log { level, text, cut } => Owned::Log(level, text, cut),
                    Piece::Unexpected { kind, len } => Owned::Unexpected(kind, len),
                };
                out.push(o);
                ControlFlow::Continue(())
            });
            if let Err(e) = res {
                return (out, Some(e));
            }
        }
        (out, None)
    }

    fn enc(f: &Frame) -> Vec<u8> {
        let mut v = Vec::new();
        protocol::encode(f, &mut v).unwrap();
        v
    }

    fn log_frame(text: &str) -> Vec<u8> {
        let mut p = vec![3u8];
        p.extend_from_slice(&(text.len() as u32).to_be_bytes());
        p.extend_from_slice(text.as_bytes());
        let mut v = protocol::header(kind::LOG, p.len()).to_vec();
        v.extend_from_slice(&p);
        v
    }

    #[test]
    fn every_split_gives_the_same_pieces() {
        let head = ResponseHead {
            status: 200,
            reason: "OK".into(),
            headers: vec![("Content-Length".into(), "7".into())],
            content_length: Some(7),
            close_connection: false,
        };
        let mut input = enc(&Frame::Hello { pid: 42 });
        input.extend(log_frame("hé"));
        input.extend(enc(&Frame::Continue));
        input.extend(enc(&Frame::Head(head.clone())));
        input.extend(enc(&Frame::Body {
            data: b"abc".to_vec(),
            flush: false,
        }));
        input.extend(enc(&Frame::Body {
            data: vec![],
            flush: true,
        }));
        input.extend(enc(&Frame::Body {
            data: b"defg".to_vec(),
            flush: true,
        }));
        input.extend(enc(&Frame::End));
        let (whole, err) = run(&input, input.len());
        assert!(err.is_none());
        assert_eq!(
            whole,
            vec![
                Owned::Frame("Hello { pid: 42 }".into()),
                Owned::Log(3, "hé".into(), 0),
                Owned::Frame("Continue".into()),
                Owned::Frame(format!("{:?}", Frame::Head(head))),
                Owned::Body(b"abc".to_vec()),
                Owned::BodyEnd(false),
                Owned::BodyEnd(true),
                Owned::Body(b"defg".to_vec()),
                Owned::BodyEnd(true),
                Owned::Frame("End".into()),
            ]
        );
        for step in 1..input.len() {
            assert_eq!(
                run(&input, step),
                (run(&input, input.len()).0, None),
                "step {step}"
            );
        }
    }

    #[test]
    fn long_log_lines_are_cut_without_being_held() {
        let text = "é".repeat(LOG_LINE_MAX); // 2 bytes each
        let input = log_frame(&text);
        for step in [1, 7, 4096, input.len()] {
            let (out, err) = run(&input, step);
            assert!(err.is_none());
            let [Owned::Log(3, kept, cut)] = &out[..] else {
                panic!("{out:?}");
            };
            // Cut at a character boundary within the limit.
            assert_eq!(kept.len(), LOG_LINE_MAX);
            assert_eq!(kept.len() + cut, text.len());
        }
        // Odd boundary: the last kept character is split, so it is dropped.
        let text = format!("a{}", "é".repeat(LOG_LINE_MAX));
        let (out, _) = run(&log_frame(&text), 1000);
        let [Owned::Log(_, kept, cut)] = &out[..] else {
            panic!("{out:?}");
        };
        assert_eq!(kept.len(), LOG_LINE_MAX - 1);
        assert_eq!(kept.len() + cut, text.len());
        // A log frame whose inner length lies is malformed.
        let mut bad = log_frame("abc");
        bad[HEADER_LEN + 4] = 9;
        assert!(run(&bad, 100).1.is_some());
        // Invalid UTF-8 in a line that is not cut.
        let mut bad = log_frame("abc");
        let n = bad.len();
        bad[n - 1] = 0xff;
        assert!(run(&bad, 100).1.is_some());
    }

    #[test]
    fn refused_frames() {
        // Over the frame limit: refused from its header.
        let h = protocol::header(kind::LOG, 10 << 20);
        assert!(matches!(
            run(&h, 5).1,
            Some(FrameError::TooLarge { len, .. }) if len == 10 << 20
        ));
        // Kinds a daemon never sends: reported by header alone.
        let mut input = protocol::header(kind::REQUEST, 1000).to_vec();
        input.extend_from_slice(b"never read");
        let (out, _) = run(&input, 3);
        assert_eq!(out[0], Owned::Unexpected(kind::REQUEST, 1000));
        assert_eq!(
            run(&[0x7f, 0, 0, 0, 0], 5).1,
            Some(FrameError::UnknownKind(0x7f))
        );
        // Fixed-size kinds with another length fail at once.
        let h = protocol::header(kind::END, 4 << 20);
        assert!(matches!(run(&h, 5).1, Some(FrameError::Malformed(_))));
        let h = protocol::header(kind::STATUS, 3);
        assert!(matches!(run(&h, 5).1, Some(FrameError::Malformed(_))));
        let h = protocol::header(kind::SEND_AGAIN, 1 << 20);
        assert!(matches!(run(&h, 5).1, Some(FrameError::Malformed(_))));
        // Garbage.
        assert!(run(b"HTTP/1.1 200 OK\r\n\r\n", 4).1.is_some());
    }

    #[test]
    fn a_break_stops_the_feed() {
        let mut input = enc(&Frame::Hello { pid: 1 });
        input.extend(enc(&Frame::End));
        let mut r = ResponseReader::default();
        let mut seen = 0;
        let flow = r
            .feed(&input, &mut |_| {
                seen += 1;
                ControlFlow::Break(7)
            })
            .unwrap();
        assert_eq!(flow, ControlFlow::Break(7));
        assert_eq!(seen, 1);
    }
}
