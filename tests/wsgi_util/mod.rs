//! Helpers shared by the `wsgi_*` integration tests: test apps copied into a
//! TestDir, incremental reads over raw TCP, and child-health checks.

#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::*;

/// Creates `name` inside the test dir, writable by the Apache user.
pub fn writable_dir(dir: &TestDir, name: &str) -> PathBuf {
    let p = dir.0.join(name);
    fs::create_dir_all(&p).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o777)).unwrap();
    p
}

/// Reads from `s` until `needle` has arrived (or the deadline passes).
/// Returns everything read so far and whether the needle was seen.
pub fn read_until(s: &mut TcpStream, buf: &mut Vec<u8>, needle: &[u8], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut chunk = [0u8; 65536];
    loop {
        if buf.windows(needle.len()).any(|w| w == needle) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        match s.read(&mut chunk) {
            Ok(0) => return buf.windows(needle.len()).any(|w| w == needle),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return false,
        }
    }
}

/// Reads until the peer closes (bounded).
pub fn read_to_close(s: &mut TcpStream, buf: &mut Vec<u8>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut chunk = [0u8; 65536];
    while Instant::now() < deadline {
        match s.read(&mut chunk) {
            Ok(0) => return true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
    }
    false
}

/// Sends a request head (and body) on a fresh connection.
pub fn send_request(apache: &Apache, head: &str, body: &[u8]) -> TcpStream {
    let mut s = apache.connect();
    let mut raw = head
        .replace("{port}", &apache.port.to_string())
        .into_bytes();
    raw.extend_from_slice(body);
    s.write_all(&raw).expect("send request");
    s
}

/// Waits (bounded) for a file the app writes, then returns its contents once
/// it has stopped changing.
pub fn wait_file(path: &std::path::Path, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(s) = fs::read_to_string(path) {
            std::thread::sleep(Duration::from_millis(150));
            return Some(fs::read_to_string(path).unwrap_or(s));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// The error log has no sign of a crashed child.
pub fn assert_no_crash(apache: &Apache) {
    let log = apache.error_log();
    for bad in [
        "Segmentation fault",
        "exit signal",
        "child pid",
        "panicked",
        "internal error while serving",
        "Fatal Python error",
    ] {
        assert!(!log.contains(bad), "found {bad:?} in the error log:\n{log}");
    }
}

/// Counts the lines of the error log containing all of `parts`.
pub fn log_lines_with(apache: &Apache, parts: &[&str]) -> usize {
    apache
        .error_log()
        .lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .count()
}

/// Waits (bounded) for a log line containing all of `parts`.
pub fn wait_log_line(apache: &Apache, parts: &[&str], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if log_lines_with(apache, parts) > 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A 64 KiB-block pattern identical to the one tests/apps/response.wsgi
/// generates for `/big-generator`.
pub fn big_generator_body(size: usize) -> Vec<u8> {
    let block: Vec<u8> = (0..256 * 256).map(|i| (i % 256) as u8).collect();
    let mut out = Vec::with_capacity(size);
    let mut n = 0usize;
    while out.len() < size {
        let take = block.len().min(size - out.len());
        let mut chunk = block[..take].to_vec();
        chunk[0] = (n % 256) as u8;
        n += 1;
        out.extend_from_slice(&chunk);
    }
    out
}

pub const SECS5: Duration = Duration::from_secs(5);
pub const SECS10: Duration = Duration::from_secs(10);

/// Runs `f` while `strace` watches process `pid` for `syscalls`; returns the
/// trace, or `None` when strace is not installed or cannot attach (the
/// caller then skips that check).
pub fn strace_during(pid: &str, syscalls: &str, f: impl FnOnce()) -> Option<String> {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let out = std::env::temp_dir().join(format!("mwr-strace-{}-{pid}", std::process::id()));
    let mut child = Command::new("strace")
        .args(["-f", "-e", &format!("trace={syscalls}"), "-o"])
        .arg(&out)
        .args(["-p", pid])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    // strace reports each attached thread on stderr; wait (bounded) for one.
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take()?;
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("attached") {
                let _ = tx.send(());
            }
        }
    });
    let attached = rx.recv_timeout(SECS5).is_ok();
    if attached {
        // Let every thread be attached before the traffic starts.
        std::thread::sleep(Duration::from_millis(300));
        f();
        std::thread::sleep(Duration::from_millis(300));
    }
    // SAFETY: SIGINT to the strace we spawned (by its PID) makes it detach.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let _ = child.wait();
    let trace = fs::read_to_string(&out).ok();
    let _ = fs::remove_file(&out);
    if attached { trace } else { None }
}
