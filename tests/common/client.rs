//! A minimal keep-alive HTTP/1.1 client for tests that must reuse
//! connections (plain `Apache::get` opens one per request).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A minimal HTTP/1.1 client: keep-alive or a new connection per request.
/// Like any HTTP client, it retries a request once on a reused connection
/// that the server closed before sending any byte of the response (Apache
/// closes idle keep-alive connections at a graceful restart).
pub struct Client {
    port: u16,
    keep_alive: bool,
    conn: Option<BufReader<TcpStream>>,
    pub retries: u64,
}

pub enum Outcome {
    Response(u16, Vec<u8>),
    /// Closed before any response byte on a reused connection.
    ClosedEarly,
    Failed(String),
}

impl Client {
    pub fn new(port: u16, keep_alive: bool) -> Client {
        Client {
            port,
            keep_alive,
            conn: None,
            retries: 0,
        }
    }

    pub fn get(&mut self, path: &str) -> Result<(u16, Vec<u8>), String> {
        self.send("GET", path, b"")
    }

    /// POSTs `body` (with a Content-Length).
    pub fn post(&mut self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
        self.send("POST", path, body)
    }

    fn send(&mut self, method: &str, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
        let reused = self.conn.is_some();
        match self.exchange(method, path, body) {
            Outcome::Response(s, b) => Ok((s, b)),
            Outcome::ClosedEarly if reused => {
                self.retries += 1;
                match self.exchange(method, path, body) {
                    Outcome::Response(s, b) => Ok((s, b)),
                    Outcome::ClosedEarly => Err("closed before responding (retried)".into()),
                    Outcome::Failed(e) => Err(format!("{e} (retried)")),
                }
            }
            Outcome::ClosedEarly => Err("new connection closed before responding".into()),
            Outcome::Failed(e) => Err(e),
        }
    }

    pub fn once(&mut self, path: &str) -> Outcome {
        self.exchange("GET", path, b"")
    }

    fn exchange(&mut self, method: &str, path: &str, body: &[u8]) -> Outcome {
        if self.conn.is_none() {
            let s = match TcpStream::connect(("127.0.0.1", self.port)) {
                Ok(s) => s,
                Err(e) => return Outcome::Failed(format!("connect: {e}")),
            };
            let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
            let _ = s.set_write_timeout(Some(Duration::from_secs(20)));
            self.conn = Some(BufReader::new(s));
        }
        let conn = self.conn.as_mut().expect("connected");
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: {}\r\n{}\r\n",
            if self.keep_alive {
                "keep-alive"
            } else {
                "close"
            },
            if method == "GET" {
                String::new()
            } else {
                format!("Content-Length: {}\r\n", body.len())
            }
        )
        .into_bytes();
        req.extend_from_slice(body);
        if let Err(e) = conn.get_mut().write_all(&req) {
            self.conn = None;
            return if matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ) {
                Outcome::ClosedEarly
            } else {
                Outcome::Failed(format!("write: {e}"))
            };
        }
        let mut status_line = String::new();
        match conn.read_line(&mut status_line) {
            Ok(0) => {
                self.conn = None;
                return Outcome::ClosedEarly;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                self.conn = None;
                return Outcome::ClosedEarly;
            }
            Err(e) => {
                self.conn = None;
                return Outcome::Failed(format!("read status: {e}"));
            }
        }
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = None;
        let mut close = !self.keep_alive;
        loop {
            let mut line = String::new();
            match conn.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    self.conn = None;
                    return Outcome::Failed(format!("truncated head after {status_line:?}"));
                }
                Ok(_) => {}
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                if k == "content-length" {
                    length = v.parse::<usize>().ok();
                }
                if k == "connection" && v.eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        let mut body = Vec::new();
        let read = match length {
            Some(n) => {
                body.resize(n, 0);
                conn.read_exact(&mut body).map(|_| ())
            }
            None => {
                close = true;
                conn.read_to_end(&mut body).map(|_| ())
            }
        };
        if close || read.is_err() {
            self.conn = None;
        }
        match read {
            Ok(()) => Outcome::Response(status, body),
            Err(e) => Outcome::Failed(format!("truncated body ({status}): {e}")),
        }
    }
}
