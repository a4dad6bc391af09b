//! The Apache child does not trust a daemon process (it runs application
//! code): a daemon application that writes raw protocol frames on its own
//! connection (tests/apps/hostile.wsgi) gets a clean 502, or an aborted
//! response once output went out, never a status line or header it injected;
//! the Apache child logs one line naming the group, the daemon pid and what
//! was wrong, keeps running, and does not grow over 1,000 such requests.
//! Also the WSGIDaemonProcess options that govern the relay:
//! header-buffer-size, response-socket-timeout, response-flush-delay and
//! response-buffer-size. (Needs root: Apache drops to www-data, the daemon to
//! nobody.)

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

const ROOT: &str = "Apache's User www-data and the daemon user nobody are involved";

const HOSTILE: &str = include_str!("apps/hostile.wsgi");

/// The Apache children of `apache` (daemons carry their display-name, so
/// their command line no longer names the configuration file).
fn apache_children(apache: &Apache) -> Vec<i32> {
    pids_with_cmdline(&apache.conf.display().to_string())
        .into_iter()
        .filter(|&p| p != apache.pid() && ppid(p) == Some(apache.pid()))
        .collect()
}

fn the_child(apache: &Apache) -> i32 {
    let children = apache_children(apache);
    assert_eq!(
        children.len(),
        1,
        "expected one Apache child, found {children:?}"
    );
    children[0]
}

fn hostile_server(tag: &str) -> (TestDir, Apache) {
    require_root(ROOT);
    let dir = TestDir::new(tag);
    let version = mod_wsgi_rs::daemon::protocol::VERSION.to_string();
    dir.write(
        "hostile.wsgi",
        &HOSTILE.replace("@PROTOCOL_VERSION@", &version),
    );
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess hostile {}threads=1 display-name=%{{GROUP}}\n\
         WSGIScriptAlias /h {{dir}}/hostile.wsgi process-group=hostile application-group=%{{GLOBAL}}\n",
        daemon_user()
    ))
    .threads(4, 1);
    let apache = Apache::start(&dir, &conf);
    let r = apache.get("/h?ok");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "ok"),
        "{}",
        apache.error_log()
    );
    (dir, apache)
}

/// What no response to a hostile request may contain.
const INJECTED: [&str; 3] = ["X-Injected", "X-Smuggled", "forged"];

#[track_caller]
fn assert_not_injected(case: &str, r: &Response) {
    let raw = String::from_utf8_lossy(&r.raw);
    for bad in INJECTED {
        assert!(
            !raw.contains(bad),
            "{case}: the response carries {bad:?}: {raw:?}"
        );
    }
}

/// The one log line about `case`'s violation.
#[track_caller]
fn assert_violation_logged(apache: &Apache, what: &str) {
    assert!(
        apache.wait_log_line(
            &[
                "Daemon process 'hostile' (pid ",
                "violated the protocol",
                what
            ],
            SECS10
        ),
        "no violation line with {what:?}:\n{}",
        apache.error_log()
    );
}

/// Cases answered with a 502 (nothing reached the client), with a part of
/// the log line that names what was wrong.
const CLEAN_502: &[(&str, &str)] = &[
    ("reason-crlf", "invalid response head: status line"),
    ("header-crlf", "CR or LF (header injection refused)"),
    ("header-name-ctl", "contains a control character"),
    ("two-heads", "sent a second response head"),
    ("status-0", "status code 0 is out of range"),
    ("status-600", "status code 600 is out of range"),
    ("status-frame-200", "status frame with code 200"),
    ("status-frame-600", "status frame with code 600"),
    (
        "body-before-head",
        "sent a body frame before the response head",
    ),
    (
        "end-before-head",
        "sent an end frame before the response head",
    ),
    ("unknown-kind", "unknown frame kind 0x7e"),
    (
        "unexpected-kind",
        "unexpected frame of kind 0x1 (request), 22 bytes",
    ),
    ("second-hello", "unexpected frame of kind 0x10 (hello)"),
    (
        "second-continue",
        "unexpected frame of kind 0x18 (continue), 0 bytes",
    ),
    ("garbage", "sent a bad frame: unknown frame kind 0x48"),
    (
        "log-10m",
        "frame of kind 0x17 is too large (10485765 bytes)",
    ),
];

/// A hostile_server and its one Apache child, which every test checks is
/// still the same and still serving at the end.
struct Hostile {
    _dir: TestDir,
    apache: Apache,
    child: i32,
}

impl Hostile {
    fn start(tag: &str) -> Hostile {
        let (dir, apache) = hostile_server(tag);
        let child = the_child(&apache);
        Hostile {
            _dir: dir,
            apache,
            child,
        }
    }

    /// The child kept serving, and nothing crashed.
    #[track_caller]
    fn assert_child_survived(&self) {
        assert_eq!(self.apache.get("/h?ok").text(), "ok");
        assert_eq!(
            the_child(&self.apache),
            self.child,
            "the Apache child was replaced"
        );
        self.apache.assert_no_crash();
    }
}

#[test]
fn a_forged_send_again_is_refused_or_bounded() {
    let h = Hostile::start("hostile-again");
    let apache = &h.apache;
    // With a body, the daemon's Continue came before the application ran:
    // a send-again after it is a violation.
    let r = apache.post("/h?send-again", b"a body");
    assert_eq!(r.status, 502, "{}", apache.error_log());
    assert_not_injected("send-again", &r);
    assert_violation_logged(
        apache,
        "unexpected frame of kind 0x19 (send again), 0 bytes",
    );
    // Without a body no Continue comes, and a send-again before the head is
    // the daemon's to give (its script changed): the request goes to the
    // group again, at most 2 x processes + 1 times, then 503.
    let r = apache.get("/h?send-again");
    assert_eq!(r.status, 503, "{}", apache.error_log());
    assert_not_injected("send-again", &r);
    assert!(
        apache.wait_log_line(
            &["Maximum number of WSGI daemon process 'hostile' restart attempts reached: 3"],
            SECS10
        ),
        "{}",
        apache.error_log()
    );
    h.assert_child_survived();
}

#[test]
fn hostile_frames_get_a_clean_502_naming_what_was_wrong() {
    let h = Hostile::start("hostile");
    let apache = &h.apache;
    each_case(CLEAN_502, |&(case, what)| {
        let r = apache.get(&format!("/h?{case}"));
        assert_eq!(
            r.status,
            502,
            "{case}: {:?}\n{}",
            String::from_utf8_lossy(&r.raw),
            apache.error_log()
        );
        assert_not_injected(case, &r);
        assert_violation_logged(apache, what);
    });
    // One line per violation, and never a frame's content.
    let log = apache.error_log();
    assert_eq!(
        apache.log_lines_with(&["violated the protocol"]),
        CLEAN_502.len(),
        "{log}"
    );
    for secret in [
        "secret-unknown-content",
        "secret-request-content",
        "LLLLLLLL",
    ] {
        assert!(!log.contains(secret), "{secret} was logged:\n{log}");
    }
    h.assert_child_survived();
}

#[test]
fn a_body_longer_than_its_content_length_is_cut_and_the_excess_never_sent() {
    let h = Hostile::start("hostile-long");
    let apache = &h.apache;
    // Output already went out: cut at Content-Length, connection closed; the
    // excess (an injected response) never reaches the client.
    let r = apache.get("/h?body-long");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(r.header("content-length"), Some("5"));
    assert_eq!(r.body, b"hello");
    assert_eq!(
        r.bytes_after_head(),
        5,
        "bytes after the body: {:?}",
        String::from_utf8_lossy(&r.raw)
    );
    assert_not_injected("body-long", &r);
    assert_violation_logged(apache, "sent more body than its Content-Length (5 bytes)");
    h.assert_child_survived();
}

#[test]
fn a_body_shorter_than_its_content_length_is_sent_and_the_connection_closed() {
    let h = Hostile::start("hostile-short");
    let apache = &h.apache;
    // What came is sent, then the connection closes (incomplete).
    let r = apache.get("/h?body-short");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(r.header("content-length"), Some("100"));
    assert_eq!(r.body, b"0123456789");
    assert!(!r.complete);
    assert_violation_logged(
        apache,
        "ended the body short of its Content-Length (10 of 100 bytes); the response was cut short and the connection closed",
    );
    h.assert_child_survived();
}

#[test]
fn a_daemon_s_large_log_lines_are_cut_with_a_marker() {
    let h = Hostile::start("hostile-loglarge");
    let apache = &h.apache;
    // Legal but large log lines are cut with a marker; the request goes on.
    let r = apache.get("/h?log-large");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "after-log-large"),
        "{}",
        apache.error_log()
    );
    assert!(
        apache.wait_log_line(&["large-log-line:LLLL", "more bytes cut]"], SECS10),
        "{}",
        apache.error_log()
    );
    let longest = apache.error_log().lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 9 << 10, "a log line of {longest} bytes");
    h.assert_child_survived();
}

#[test]
fn a_daemon_cannot_start_a_line_of_its_own_in_the_error_log() {
    let h = Hostile::start("hostile-logcrlf");
    let apache = &h.apache;
    // httpd escapes control characters in messages.
    let r = apache.get("/h?log-crlf");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert!(
        apache.wait_log_line(&["first-half\\r\\n[Mon Jan 01", "forged-line"], SECS10),
        "{}",
        apache.error_log()
    );
    assert!(
        !apache
            .error_log()
            .lines()
            .any(|l| l.starts_with("[Mon Jan 01")),
        "{}",
        apache.error_log()
    );
    h.assert_child_survived();
}

#[test]
fn a_daemon_s_log_flood_is_capped_per_request() {
    let h = Hostile::start("hostile-flood");
    let apache = &h.apache;
    // The per-request budget, then one line saying the rest is dropped.
    let r = apache.get("/h?log-flood");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "after-log-flood"),
        "{}",
        apache.error_log()
    );
    assert!(
        apache.wait_log_line(&["further log lines of this request are dropped"], SECS10),
        "{}",
        apache.error_log()
    );
    assert_eq!(apache.log_lines_with(&["flood-line "]), 1000);
    assert_eq!(
        apache.log_lines_with(&["further log lines of this request are dropped"]),
        1
    );
    h.assert_child_survived();
}

#[test]
fn a_thousand_hostile_requests_keep_the_child_flat() {
    let (_dir, apache) = hostile_server("hostile-rss");
    let child = the_child(&apache);
    let mix: Vec<&str> = CLEAN_502
        .iter()
        .map(|(c, _)| *c)
        .chain(["body-long", "body-short", "log-large", "log-crlf", "ok"])
        .collect();
    let mut client = Client::new(apache.port, false);
    let mut run = |n: usize| {
        for i in 0..n {
            let case = mix[i % mix.len()];
            match client.get(&format!("/h?{case}")) {
                Ok((status, _)) => assert!(
                    [200, 502].contains(&status),
                    "{case}: {status}\n{}",
                    apache.error_log()
                ),
                // body-short closes the connection mid-body.
                Err(e) => assert_eq!(case, "body-short", "{case}: {e}"),
            }
        }
    };
    run(100);
    let before = rss_kib(child);
    run(1000);
    let after = rss_kib(child);
    assert_eq!(the_child(&apache), child, "the Apache child was replaced");
    apache.assert_no_crash();
    assert!(
        after < before + 4096,
        "the Apache child grew from {before} KiB to {after} KiB over 1,000 hostile requests"
    );
    eprintln!(
        "Apache child VmRSS: {before} KiB after warm-up, {after} KiB after 1,000 hostile requests"
    );
}

const OPTIONS_APP: &str = r#"
import os, time

def wait_for(path, limit=30):
    deadline = time.time() + limit
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.02)

def application(environ, start_response):
    what, _, arg = environ['PATH_INFO'].strip('/').partition('/')
    if what == 'header':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Big', 'v' * int(arg))])
        return [b'big header']
    if what == 'endless':
        def gen():
            try:
                for _ in range(8192):
                    yield b'e' * 65536
            finally:
                open(os.path.join(environ['MARKS'], arg), 'w').write('closed')
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return gen()
    if what == 'stream':
        # One item, then nothing until the test has looked at the client.
        size, marker = arg.split(':')
        def gen():
            yield b'f' * int(size)
            wait_for(os.path.join(environ['MARKS'], marker))
            yield b'|second'
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return gen()
    if what == 'read':
        body = environ['wsgi.input'].read()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'read %d' % len(body)]
    start_response('404 Not Found', [])
    return [b'']
"#;

/// An Apache with the daemon groups named in `wanted` (of: dflt, small,
/// slowclient, noflush, bufsize), each at `/<group>`.
fn options_server(tag: &str, wanted: &[&str]) -> (TestDir, Apache) {
    require_root(ROOT);
    let dir = TestDir::new(tag);
    dir.write("opts.wsgi", OPTIONS_APP);
    dir.writable_dir("marks");
    let user = daemon_user();
    let groups = [
        ("dflt", ""),
        ("small", "header-buffer-size=8192"),
        ("slowclient", "response-socket-timeout=2"),
        ("noflush", "response-flush-delay=60000"),
        (
            "bufsize",
            "response-flush-delay=60000 response-buffer-size=65536",
        ),
    ];
    let mut body = String::new();
    for (g, opts) in groups.into_iter().filter(|(g, _)| wanted.contains(g)) {
        body.push_str(&format!(
            "WSGIDaemonProcess {g} {user}threads=2 display-name=%{{GROUP}} {opts}\n\
             WSGIScriptAlias /{g} {{dir}}/opts.wsgi process-group={g} application-group=%{{GLOBAL}}\n\
             <Location /{g}>\n  SetEnv MARKS {{dir}}/marks\n  SetOutputFilter BUFFER\n</Location>\n"
        ));
    }
    body.push_str(
        "<Location /dflt/read>\n  LimitRequestBody 1000\n  WSGIChunkedRequest On\n</Location>\n",
    );
    let conf = ApacheConfig::new(&body)
        .modules(&["env", "buffer"])
        .threads(8, 1);
    let apache = Apache::start(&dir, &conf);
    (dir, apache)
}

#[test]
fn header_buffer_size_limits_one_header_line() {
    let (_dir, apache) = options_server("hbs", &["small"]);
    // "X-Big: " + value: 8000 fits 8192, 9000 does not.
    let r = apache.get("/small/header/8000");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(r.header("x-big").map(str::len), Some(8000));
    let r = apache.get("/small/header/9000");
    assert_eq!(r.status, 502, "{}", apache.error_log());
    assert!(
        apache.wait_log_line(
            &[
                "Daemon process 'small' (pid ",
                "a response header line of 9007 bytes, over header-buffer-size (8192)",
                "answering 502"
            ],
            SECS10
        ),
        "{}",
        apache.error_log()
    );
    apache.assert_no_crash();
}

#[test]
fn the_default_header_buffer_size_is_32768() {
    let (_dir, apache) = options_server("hbs-default", &["dflt"]);
    assert_eq!(apache.get("/dflt/header/30000").status, 200);
    assert_eq!(apache.get("/dflt/header/40000").status, 502);
    assert!(
        apache.wait_log_line(&["over header-buffer-size (32768)"], SECS10),
        "{}",
        apache.error_log()
    );
    apache.assert_no_crash();
}

#[test]
fn response_socket_timeout_gives_up_on_a_client_that_stops_reading() {
    let (dir, apache) = options_server("rst", &["slowclient"]);
    // Apache's Timeout is 20 s (tests/common): only response-socket-timeout=2
    // explains giving up much earlier.
    let mut s = apache.send_request(
        "GET /slowclient/endless/slow HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"",
    );
    let mut buf = Vec::new();
    assert!(read_until(&mut s, &mut buf, b"eeee", SECS10));
    let started = Instant::now();
    // Stop reading; the child fills the socket buffers, then waits.
    let closed = wait_file(&dir.0.join("marks/slow"), Duration::from_secs(15));
    let waited = started.elapsed();
    assert_eq!(
        closed.as_deref(),
        Some("closed"),
        "the application was not stopped within 15 s:\n{}",
        apache.error_log()
    );
    assert!(
        apache.wait_log_line(
            &[
                "Failed to proxy response from daemon process 'slowclient' to client",
                "(response-socket-timeout (2s))"
            ],
            SECS5
        ),
        "{}",
        apache.error_log()
    );
    assert!(
        waited >= Duration::from_secs(1),
        "gave up after {waited:?}, before the client was ever stalled for 2 s"
    );
    drop(s);
    apache.assert_no_crash();
}

/// Requests `path` and reports whether the first item (`size` bytes of `f`)
/// reaches the client while the application waits for `marker`; then lets
/// the application finish and checks the whole body.
fn first_item_arrives(
    apache: &Apache,
    dir: &TestDir,
    path: &str,
    marker: &str,
    size: usize,
    wait: Duration,
) -> bool {
    let mut s: TcpStream = apache.send_request(
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
        b"",
    );
    let mut buf = Vec::new();
    let needle = vec![b'f'; size.min(65536)];
    let arrived = read_until(&mut s, &mut buf, &needle, wait);
    std::fs::write(dir.0.join("marks").join(marker), b"go").unwrap();
    assert!(read_to_close(&mut s, &mut buf, SECS10));
    let r = parse_response(&buf, false);
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert!(r.complete, "{path}");
    assert_eq!(r.body.len(), size + "|second".len(), "{path}");
    let _ = s.flush();
    arrived
}

// mod_buffer holds output until a flush: what reaches the client while the
// application waits shows whether the relay flushed.

#[test]
fn the_default_flush_delay_flushes_when_the_daemon_goes_quiet() {
    let (dir, apache) = options_server("flush-default", &["dflt"]);
    // Default response-flush-delay (5 ms).
    assert!(
        first_item_arrives(&apache, &dir, "/dflt/stream/10:m1", "m1", 10, SECS10),
        "the first item was not flushed when the daemon went quiet"
    );
    apache.assert_no_crash();
}

#[test]
fn a_long_flush_delay_holds_output_back_while_the_daemon_is_quiet() {
    let (dir, apache) = options_server("flush-long", &["noflush"]);
    // response-flush-delay=60000: held back (for the 2 s looked at),
    // delivered at the end; also 100000 bytes, under the default
    // response-buffer-size (8 MiB).
    each_case([(10, "m2"), (100_000, "m4")], |&(size, marker)| {
        assert!(
            !first_item_arrives(
                &apache,
                &dir,
                &format!("/noflush/stream/{size}:{marker}"),
                marker,
                size,
                Duration::from_secs(2)
            ),
            "flushed {size} bytes although response-flush-delay is 60 s \
             and response-buffer-size 8 MiB"
        );
    });
    apache.assert_no_crash();
}

#[test]
fn response_buffer_size_bytes_without_a_flush_force_one() {
    let (dir, apache) = options_server("flush-bufsize", &["bufsize"]);
    // response-flush-delay=60000, but response-buffer-size=65536.
    assert!(
        first_item_arrives(
            &apache,
            &dir,
            "/bufsize/stream/100000:m3",
            "m3",
            100_000,
            SECS10
        ),
        "no flush after response-buffer-size (65536) bytes"
    );
    apache.assert_no_crash();
}

#[test]
fn a_daemon_s_error_status_reaches_the_client() {
    // A chunked body that grows over LimitRequestBody fails while the daemon
    // reads it: the daemon answers with a status frame (413), which the
    // Apache child accepts and answers with.
    let (_dir, apache) = options_server("status", &["dflt"]);
    let chunked = |n: usize| {
        let mut raw = b"POST /dflt/read HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        raw.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        raw.extend(std::iter::repeat_n(b'x', n));
        raw.extend_from_slice(b"\r\n0\r\n\r\n");
        parse_response(&apache.raw(&raw), false)
    };
    let r = chunked(500);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "read 500"),
        "{}",
        apache.error_log()
    );
    let r = chunked(5000);
    assert_eq!(r.status, 413, "{}", apache.error_log());
    assert_eq!(apache.log_lines_with(&["violated the protocol"]), 0);
    apache.assert_no_crash();
}
