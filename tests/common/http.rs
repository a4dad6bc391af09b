//! HTTP/1.1 over real TCP: one-shot requests, raw exchanges, incremental
//! reads, and response parsing (Content-Length, chunked, read-to-close).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// A connection to 127.0.0.1:`port` with 30 s read and write timeouts.
pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the server");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Sends raw bytes on a new connection and returns everything the server
/// sends back before closing (bounded by the read timeout).
pub fn exchange(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut s = connect(port);
    s.write_all(bytes).expect("send request");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// One request on a new connection (`Connection: close`); a Content-Length
/// is added for a body unless the headers frame it.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n");
    let mut has_length = false;
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding") {
            has_length = true;
        }
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_length && (!body.is_empty() || method == "POST" || method == "PUT") {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut raw = req.into_bytes();
    raw.extend_from_slice(body);
    parse_response(&exchange(port, &raw), method == "HEAD")
}

/// Sends a request head (`{port}` replaced) and body on a new connection,
/// and returns the connection for reading the response incrementally.
pub fn send_request(port: u16, head: &str, body: &[u8]) -> TcpStream {
    let mut s = connect(port);
    let mut raw = head.replace("{port}", &port.to_string()).into_bytes();
    raw.extend_from_slice(body);
    s.write_all(&raw).expect("send request");
    s
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Reads from `s` into `buf` until `needle` has arrived (true), the peer
/// closes or fails, or `timeout` passes (false unless the needle came).
pub fn read_until(s: &mut TcpStream, buf: &mut Vec<u8>, needle: &[u8], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let seen = |buf: &[u8]| buf.windows(needle.len()).any(|w| w == needle);
    let mut chunk = [0u8; 65536];
    loop {
        if seen(buf) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        match s.read(&mut chunk) {
            Ok(0) => return seen(buf),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => {}
            Err(_) => return false,
        }
    }
}

/// Reads into `buf` until the peer closes (true) or `timeout` passes.
pub fn read_to_close(s: &mut TcpStream, buf: &mut Vec<u8>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut chunk = [0u8; 65536];
    while Instant::now() < deadline {
        match s.read(&mut chunk) {
            Ok(0) => return true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => {}
            Err(_) => return true,
        }
    }
    false
}

/// Closes the write half (for tests of clients that stop sending).
pub fn half_close(s: &TcpStream) {
    let _ = s.shutdown(Shutdown::Write);
}

/// `data` as a chunked body of `size`-byte chunks, with the last chunk.
pub fn chunk_encode(data: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in data.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Standard base64 (RFC 4648, with padding).
pub fn base64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The value of an `Authorization` header for HTTP Basic authentication.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

#[derive(Debug, Default, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the whole body arrived: the terminating zero chunk of a
    /// chunked body, or Content-Length bytes.
    pub complete: bool,
    pub raw: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// How many bytes came after the head (whatever the framing said).
    pub fn bytes_after_head(&self) -> usize {
        let end = self
            .raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head");
        self.raw.len() - (end + 4)
    }
}

/// Parses one HTTP/1.1 response (Content-Length, chunked, or read-to-close).
pub fn parse_response(raw: &[u8], head_request: bool) -> Response {
    let mut r = Response {
        raw: raw.to_vec(),
        ..Default::default()
    };
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return r;
    };
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    parts.next();
    r.status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    r.reason = parts.next().unwrap_or("").to_string();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            r.headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let body = &raw[end + 4..];
    if head_request {
        r.complete = true;
        return r;
    }
    if r.header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        let (data, complete) = dechunk(body);
        r.body = data;
        r.complete = complete;
    } else if let Some(n) = r
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        r.complete = body.len() >= n;
        r.body = body[..n.min(body.len())].to_vec();
    } else {
        r.body = body.to_vec();
        r.complete = true;
    }
    r
}

fn dechunk(mut b: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return (out, false);
        };
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            return (out, false);
        };
        b = &b[eol + 2..];
        if size == 0 {
            return (out, true);
        }
        if b.len() < size + 2 {
            out.extend_from_slice(&b[..size.min(b.len())]);
            return (out, false);
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}
