//! Validation of what an application passes to `start_response`, and the
//! response head built from it. Pure, so every rule is unit tested.

use crate::status::HttpStatus;

/// A validated response head; a `ResponseHead<u16>` is one as it crossed
/// the daemon socket, its status the daemon's word until [`recheck_head`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseHead<S = HttpStatus> {
    pub status: S,
    /// The full status line text after the code (`"OK"`), possibly empty.
    pub reason: String,
    pub headers: Vec<(String, String)>,
    /// From a `Content-Length` header, if the app gave one.
    pub content_length: Option<u64>,
    /// The app asked for `Connection: close`.
    pub close_connection: bool,
}

/// A checked head as it crosses the daemon socket.
impl From<ResponseHead> for ResponseHead<u16> {
    fn from(h: ResponseHead) -> ResponseHead<u16> {
        ResponseHead {
            status: h.status.code(),
            reason: h.reason,
            headers: h.headers,
            content_length: h.content_length,
            close_connection: h.close_connection,
        }
    }
}

/// PEP 3333 forbids these (RFC 9110 §7.6.1 hop-by-hop headers); the server
/// manages the connection. `Connection` and `Keep-Alive` are tolerated (apps
/// commonly send `Connection: close`); the rest is refused.
const HOP_BY_HOP_REFUSED: &[&str] = &[
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
];

/// Why a response head (an application's `start_response`, or a daemon's
/// head frame) is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("status line {0:?} is not latin-1 encodable")]
    StatusNotLatin1(String),
    #[error("status line {0:?} must start with a three digit code, e.g. '200 OK'")]
    StatusFormat(String),
    #[error("status code {0} is out of range (100-599)")]
    StatusRange(u16),
    #[error("status line {0:?} contains control characters")]
    StatusControl(String),
    #[error("response header name is empty")]
    EmptyName,
    #[error("response header {0:?} is not latin-1 encodable")]
    NotLatin1(String),
    #[error("response header name {0:?} contains a control character, space or colon")]
    BadName(String),
    #[error("response header {0:?} has a value containing CR or LF (header injection refused)")]
    CrLf(String),
    #[error("response header {0:?} has a value containing control characters")]
    ControlInValue(String),
    #[error(
        "response header {0:?} is a hop-by-hop header, which a WSGI application must not set (PEP 3333)"
    )]
    HopByHop(String),
    #[error("Content-Length header value {0:?} is not a number")]
    ContentLength(String),
    #[error("its Content-Length ({0}) does not match its headers ({1})")]
    ContentLengthMismatch(String, String),
}

fn latin1_ok(s: &str) -> bool {
    s.chars().all(|c| (c as u32) < 256)
}

/// `"200 OK"` → (200, "OK"). Exactly three digits, then end or a space and a
/// reason without control characters.
pub fn parse_status(status: &str) -> Result<(HttpStatus, String), HeadError> {
    if !latin1_ok(status) {
        return Err(HeadError::StatusNotLatin1(status.into()));
    }
    let bytes = status.as_bytes();
    if bytes.len() < 3
        || !bytes[..3].iter().all(u8::is_ascii_digit)
        || (bytes.len() > 3 && bytes[3] != b' ')
    {
        return Err(HeadError::StatusFormat(status.into()));
    }
    let code: u16 = status[..3]
        .parse()
        .map_err(|_| HeadError::StatusFormat(status.into()))?;
    let code = HttpStatus::new(code).ok_or(HeadError::StatusRange(code))?;
    let reason = status.get(4..).unwrap_or("");
    if reason.chars().any(char::is_control) {
        return Err(HeadError::StatusControl(status.into()));
    }
    Ok((code, reason.to_string()))
}

/// Checks one header. Returns a message naming the header on failure.
pub fn check_header(name: &str, value: &str) -> Result<(), HeadError> {
    if name.is_empty() {
        return Err(HeadError::EmptyName);
    }
    if !latin1_ok(name) || !latin1_ok(value) {
        return Err(HeadError::NotLatin1(name.into()));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == ' ' || c == '\t' || c == ':')
    {
        return Err(HeadError::BadName(name.into()));
    }
    if value.chars().any(|c| c == '\r' || c == '\n') {
        return Err(HeadError::CrLf(name.into()));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(HeadError::ControlInValue(name.into()));
    }
    let lower = name.to_ascii_lowercase();
    if HOP_BY_HOP_REFUSED.contains(&lower.as_str()) {
        return Err(HeadError::HopByHop(name.into()));
    }
    Ok(())
}

/// Builds the head from a validated status and headers.
pub fn build_head(status: &str, headers: Vec<(String, String)>) -> Result<ResponseHead, HeadError> {
    let (code, reason) = parse_status(status)?;
    let mut head = ResponseHead {
        status: code,
        reason,
        headers: Vec::new(),
        content_length: None,
        close_connection: false,
    };
    for (name, value) in headers {
        check_header(&name, &value)?;
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "content-length" => {
                let n = value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| HeadError::ContentLength(value.clone()))?;
                head.content_length = Some(n);
            }
            "connection" => {
                if value
                    .split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("close"))
                {
                    head.close_connection = true;
                }
                continue;
            }
            "keep-alive" => continue,
            _ => {}
        }
        head.headers.push((name, value));
    }
    Ok(head)
}

/// Checks a head built elsewhere (by a daemon process, which the Apache child
/// does not trust) by exactly the rules [`build_head`] applies to an embedded
/// application, and returns the head `build_head` makes of it (hop-by-hop
/// and `Connection` headers handled the same way).
pub fn recheck_head(head: &ResponseHead<u16>) -> Result<ResponseHead, HeadError> {
    // Checked before formatting: "0" or "1000" would otherwise fail as a
    // malformed line rather than as what it is.
    let status = HttpStatus::new(head.status).ok_or(HeadError::StatusRange(head.status))?;
    let line = if head.reason.is_empty() {
        status.to_string()
    } else {
        format!("{status} {}", head.reason)
    };
    let mut checked = build_head(&line, head.headers.clone())?;
    if checked.content_length != head.content_length {
        return Err(HeadError::ContentLengthMismatch(
            head.content_length
                .map_or_else(|| "none".to_string(), |n| n.to_string()),
            checked
                .content_length
                .map_or_else(|| "none".to_string(), |n| n.to_string()),
        ));
    }
    checked.close_connection |= head.close_connection;
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let code = |c| HttpStatus::new(c).unwrap();
        assert_eq!(parse_status("200 OK").unwrap(), (code(200), "OK".into()));
        assert_eq!(
            parse_status("404 Not Found").unwrap(),
            (code(404), "Not Found".into())
        );
        assert_eq!(parse_status("204").unwrap(), (code(204), "".into()));
        assert!(parse_status("OK").is_err());
        assert!(parse_status("20 OK").is_err());
        assert!(parse_status("2000 OK").is_err());
        assert!(parse_status("200OK").is_err());
        assert!(parse_status("200 OK\r\nX: y").is_err());
        assert_eq!(parse_status("999 Nope"), Err(HeadError::StatusRange(999)));
        assert_eq!(parse_status("099 Nope"), Err(HeadError::StatusRange(99)));
        assert!(parse_status("200 \u{263a}").is_err());
    }

    #[test]
    fn headers() {
        assert!(check_header("Content-Type", "text/plain").is_ok());
        assert!(check_header("X-Tab", "a\tb").is_ok());
        let e = check_header("X-Bad", "a\r\nSet-Cookie: x=1").unwrap_err();
        assert_eq!(e, HeadError::CrLf("X-Bad".into()));
        assert!(e.to_string().contains("CR or LF"), "{e}");
        assert!(check_header("Bad Name", "x").is_err());
        assert!(check_header("", "x").is_err());
        assert_eq!(
            check_header("X-U", "\u{263a}").unwrap_err(),
            HeadError::NotLatin1("X-U".into())
        );
        assert!(check_header("X-L", "caf\u{e9}").is_ok());
        assert!(
            check_header("Transfer-Encoding", "chunked")
                .unwrap_err()
                .to_string()
                .contains("hop-by-hop")
        );
    }

    #[test]
    fn head_collects_content_length_and_connection() {
        let h = build_head(
            "200 OK",
            vec![
                ("Content-Length".into(), "12".into()),
                ("Set-Cookie".into(), "a=1".into()),
                ("Set-Cookie".into(), "b=2".into()),
                ("Connection".into(), "close".into()),
            ],
        )
        .unwrap();
        assert_eq!(h.content_length, Some(12));
        assert!(h.close_connection);
        assert_eq!(
            h.headers.iter().filter(|(n, _)| n == "Set-Cookie").count(),
            2
        );
        assert!(h.headers.iter().all(|(n, _)| n != "Connection"));
        assert!(build_head("200 OK", vec![("Content-Length".into(), "x".into())]).is_err());
    }

    #[test]
    fn a_head_from_elsewhere_is_checked_like_an_application_s() {
        let good = build_head(
            "201 Made",
            vec![
                ("Content-Length".into(), "3".into()),
                ("X-A".into(), "1".into()),
            ],
        )
        .unwrap();
        assert_eq!(recheck_head(&good.clone().into()).unwrap(), good);
        let with = |f: &dyn Fn(&mut ResponseHead<u16>)| {
            let mut h = ResponseHead::<u16>::from(good.clone());
            f(&mut h);
            recheck_head(&h)
        };
        for status in [0, 99, 600, 65535] {
            let e = with(&|h| h.status = status).unwrap_err();
            assert_eq!(e, HeadError::StatusRange(status), "{status}: {e}");
        }
        assert!(with(&|h| h.reason = "OK\r\nX-Injected: 1".into()).is_err());
        assert!(with(&|h| h.reason = "O\u{1}K".into()).is_err());
        assert!(with(&|h| h.reason.clear()).is_ok());
        assert!(
            with(&|h| h.headers.push(("X-B".into(), "a\r\nSet-Cookie: x".into()))).unwrap_err()
                == HeadError::CrLf("X-B".into())
        );
        assert!(with(&|h| h.headers.push(("X\u{7}B".into(), "v".into()))).is_err());
        assert!(with(&|h| h.headers.push(("Upgrade".into(), "h2c".into()))).is_err());
        assert!(with(&|h| h.headers.push(("X-U".into(), "\u{263a}".into()))).is_err());
        // The Content-Length field must be the one its header says.
        assert!(with(&|h| h.content_length = Some(4)).is_err());
        assert!(with(&|h| h.content_length = None).is_err());
        // Connection headers are folded into the flag, as for an application.
        let h = with(&|h| h.headers.push(("Connection".into(), "close".into()))).unwrap();
        assert!(h.close_connection);
        assert!(h.headers.iter().all(|(n, _)| n != "Connection"));
    }
}
