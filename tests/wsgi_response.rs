//! Issue #3, response side: start_response rules, body iteration, close(),
//! Content-Length, HEAD, streaming, wsgi.file_wrapper, big bodies and client
//! disconnects, all against a real Apache. Each bad-application case must get
//! a defined status and a log line, and the child must keep serving.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;

const APP: &str = include_str!("apps/response.wsgi");

/// An Apache serving tests/apps/response.wsgi at /r (and events.wsgi at
/// /ev), and the pid of the child that served its first request.
struct Server {
    dir: TestDir,
    apache: Apache,
    pid0: String,
}

impl Server {
    fn start(tag: &str, extra: &str) -> Server {
        let dir = TestDir::new(tag);
        dir.write("app.wsgi", APP);
        dir.write("events.wsgi", include_str!("apps/events.wsgi"));
        dir.write("small.txt", "small file\n");
        dir.writable_dir("closed");
        let conf = ApacheConfig::new(&format!(
            "WSGIScriptAlias /r {{dir}}/app.wsgi\nWSGIScriptAlias /ev {{dir}}/events.wsgi\n{extra}\n"
        ))
        .threads(4, 1);
        let apache = Apache::start(&dir, &conf);
        let pid0 = pid(&apache);
        Server { dir, apache, pid0 }
    }

    /// What `close()` (or a generator's `finally`) recorded for `tag`.
    fn closes(&self, tag: &str) -> String {
        closes(&self.dir, tag)
    }

    /// The child that served the first request still serves, and nothing
    /// crashed.
    #[track_caller]
    fn assert_child_kept_serving(&self) {
        assert_eq!(pid(&self.apache), self.pid0, "the child must keep serving");
        self.apache.assert_no_crash();
    }
}

fn pid(apache: &Apache) -> String {
    let r = apache.get("/r/pid");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    r.text()
}

/// What `close()` (or a generator's `finally`) recorded for `tag`.
fn closes(dir: &TestDir, tag: &str) -> String {
    wait_file(&dir.0.join("closed").join(tag), SECS5).unwrap_or_default()
}

#[track_caller]
fn expect_500(apache: &Apache, path: &str, log_parts: &[&str]) {
    let r = apache.get(path);
    assert_eq!(
        r.status,
        500,
        "{path}: {}\n{}",
        r.text(),
        apache.error_log()
    );
    assert!(
        apache.wait_log_line(log_parts, SECS5),
        "{path}: no log line with {log_parts:?}:\n{}",
        apache.error_log()
    );
}

/// Each (path, parts of the log line) must be a 500 with that log line.
#[track_caller]
fn expect_500s(apache: &Apache, cases: &[(&str, &[&str])]) {
    each_case(cases, |&(path, log_parts)| {
        expect_500(apache, path, log_parts)
    });
}

// --- start_response -----------------------------------------------------

#[test]
fn start_response_refuses_bad_statuses_headers_and_calls_with_a_500() {
    let s = Server::start("sr-bad", "");
    expect_500s(
        &s.apache,
        &[
            ("/r/status-bytes", &["TypeError", "status"]),
            ("/r/status-int", &["TypeError", "status"]),
            (
                "/r/status-bad",
                &["ValueError", "OK 200", "three digit code"],
            ),
            ("/r/status-crlf", &["ValueError", "control characters"]),
            (
                "/r/headers-tuple",
                &["TypeError", "list object for headers"],
            ),
            (
                "/r/header-not-tuple",
                &["TypeError", "tuple object for header"],
            ),
            ("/r/header-bytes", &["TypeError", "header name"]),
            ("/r/header-3-tuple", &["ValueError", "2 items"]),
            ("/r/status-not-latin1", &["ValueError", "latin-1"]),
            ("/r/header-value-int", &["TypeError", "header value"]),
            ("/r/header-name-space", &["ValueError", "\"X Evil\""]),
            (
                "/r/header-control",
                &["ValueError", "\"X-Ctl\"", "control characters"],
            ),
            (
                "/r/header-not-latin1",
                &["ValueError", "\"X-Snow\"", "latin-1"],
            ),
            (
                "/r/hop-by-hop",
                &["ValueError", "\"Transfer-Encoding\"", "hop-by-hop"],
            ),
            (
                "/r/twice",
                &["RuntimeError", "called again without exc_info"],
            ),
            ("/r/exc-info-bad", &["RuntimeError", "exc_info"]),
            ("/r/cl-bad", &["ValueError", "Content-Length", "\"lots\""]),
        ],
    );
    s.assert_child_kept_serving();
}

#[test]
fn cr_or_lf_in_a_header_is_refused_logged_and_never_emitted() {
    let s = Server::start("sr-crlf", "");
    let apache = &s.apache;
    each_case(
        [("/r/header-crlf", "X-Evil"), ("/r/header-lf", "X-Evil-Lf")],
        |&(path, name)| {
            let r = apache.get(path);
            assert_eq!(r.status, 500, "{path}");
            let raw = String::from_utf8_lossy(&r.raw).to_ascii_lowercase();
            assert!(!raw.contains("injected"), "{raw}");
            assert!(!raw.contains("x-evil"), "{raw}");
            assert!(
                apache.wait_log_line(
                    &[
                        &format!("\"{name}\""),
                        "CR or LF",
                        "header injection refused"
                    ],
                    SECS5
                ),
                "{}",
                apache.error_log()
            );
        },
    );
    s.assert_child_kept_serving();
}

#[test]
fn latin1_header_values_go_out_as_latin1_bytes() {
    let s = Server::start("sr-latin1", "");
    let r = s.apache.get("/r/header-latin1");
    assert_eq!(r.status, 200);
    assert!(
        r.raw.windows(14).any(|w| w == b"X-Latin: caf\xe9\r"),
        "{:?}",
        String::from_utf8_lossy(&r.raw)
    );
    s.assert_child_kept_serving();
}

#[test]
fn a_status_without_a_reason_phrase_gets_httpd_s() {
    let s = Server::start("sr-code", "");
    let r = s.apache.get("/r/status-only-code");
    assert_eq!(r.status, 201, "{}", s.apache.error_log());
    assert_eq!(r.reason, "Created");
    assert_eq!(r.text(), "code only");
    s.assert_child_kept_serving();
}

#[test]
fn a_second_start_response_without_exc_info_raises_in_the_app() {
    let s = Server::start("sr-twice", "");
    // The app may catch it.
    let r = s.apache.get("/r/twice-caught");
    assert_eq!((r.status, r.text().as_str()), (200, "raised RuntimeError"));
    s.assert_child_kept_serving();
}

#[test]
fn exc_info_before_any_output_replaces_the_response() {
    let s = Server::start("sr-excinfo-before", "");
    let r = s.apache.get("/r/exc-info-before");
    assert_eq!(r.status, 503, "{}", s.apache.error_log());
    assert_eq!(r.text(), "replaced body");
    assert_eq!(r.header("X-Second"), Some("1"));
    assert_eq!(r.header("X-First"), None);
    s.assert_child_kept_serving();
}

#[test]
fn exc_info_after_output_reraises_and_truncates_the_response() {
    let s = Server::start("sr-excinfo-after", "");
    let apache = &s.apache;
    let r = apache.get("/r/exc-info-after");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "partial output|");
    assert!(!r.complete, "the response must look incomplete");
    assert!(apache.wait_log_line(&["KeyError: 'after output'"], SECS5));
    assert!(apache.wait_log_line(
        &["Exception occurred processing WSGI script", "app.wsgi"],
        SECS5
    ));
    s.assert_child_kept_serving();
}

#[test]
fn set_cookie_location_and_www_authenticate_headers_go_out_as_given() {
    let s = Server::start("sr-cookies", "");
    let r = s.apache.get("/r/cookies");
    assert_eq!(r.status, 302);
    assert_eq!(
        r.headers_named("Set-Cookie"),
        vec!["a=1; Path=/", "b=2; Path=/"]
    );
    assert_eq!(r.header("Location"), Some("/elsewhere"));
    assert_eq!(r.header("WWW-Authenticate"), Some("Basic realm=\"x\""));
    s.assert_child_kept_serving();
}

#[test]
fn connection_close_from_the_app_is_honoured() {
    let s = Server::start("sr-close", "");
    let r = s.apache.get("/r/connection-close");
    assert_eq!((r.status, r.text().as_str()), (200, "closing"));
    assert_eq!(r.header("Connection"), Some("close"));
    s.assert_child_kept_serving();
}

#[test]
fn an_app_that_never_calls_start_response_is_a_500() {
    let s = Server::start("sr-none", "");
    expect_500s(
        &s.apache,
        &[
            ("/r/no-start-response", &["start_response()"]),
            (
                "/r/no-start-response-empty",
                &["returned without calling start_response()"],
            ),
        ],
    );
    s.assert_child_kept_serving();
}

#[test]
fn the_write_callable_sends_bytes_and_refuses_str() {
    let s = Server::start("sr-write", "");
    let r = s.apache.get("/r/write");
    assert_eq!((r.status, r.text().as_str()), (200, "one,two,three"));
    expect_500(
        &s.apache,
        "/r/write-str",
        &["TypeError", "write() argument must be bytes"],
    );
    s.assert_child_kept_serving();
}

#[test]
fn subscribe_events_sees_each_start_response() {
    let s = Server::start("sr-events", "");
    assert_eq!(s.apache.get("/ev/x").text(), "created");
    assert_eq!(
        s.apache.get("/ev/seen").text(),
        "[('201 Created', [('X-A', '1')], False), ('200 OK', [('Content-Type', 'text/plain')], False)]"
    );
    s.assert_child_kept_serving();
}

// --- the body -------------------------------------------------------------

#[test]
fn lists_and_tuples_are_sent_whole_with_a_content_length() {
    let s = Server::start("body-list", "");
    let r = s.apache.get("/r/list");
    assert_eq!((r.status, r.text().as_str()), (200, "abcdef"));
    assert_eq!(r.header("Content-Length"), Some("6"));
    assert_eq!(s.apache.get("/r/tuple").text(), "xy");
    s.assert_child_kept_serving();
}

#[test]
fn a_generator_is_streamed_and_closed() {
    let s = Server::start("body-gen", "");
    // Streamed (chunked); close() runs the generator's finally.
    let r = s.apache.get("/r/generator?tag=gen");
    assert_eq!((r.status, r.text().as_str()), (200, "g0;g1;g2;"));
    assert!(r.complete);
    assert_eq!(s.closes("gen"), "gen-finally\n");
    s.assert_child_kept_serving();
}

#[test]
fn a_custom_iterable_is_closed_exactly_once_and_close_is_optional() {
    let s = Server::start("body-custom", "");
    let r = s.apache.get("/r/custom?tag=custom");
    assert_eq!((r.status, r.text().as_str()), (200, "c1c2"));
    assert_eq!(s.closes("custom"), "close\n");
    // An iterable without close() is fine.
    let r = s.apache.get("/r/no-close");
    assert_eq!((r.status, r.text().as_str()), (200, "n1n2"));
    s.assert_child_kept_serving();
}

#[test]
fn empty_bodies_are_complete_responses() {
    let s = Server::start("body-empty", "");
    let r = s.apache.get("/r/empty");
    assert_eq!((r.status, r.text().as_str()), (200, ""));
    assert_eq!(r.header("X-Empty"), Some("yes"));
    assert_eq!(r.header("Content-Length"), Some("0"));
    let r = s.apache.get("/r/empty-items?tag=empty-items");
    assert_eq!((r.status, r.text().as_str()), (200, ""));
    assert!(r.complete);
    assert_eq!(s.closes("empty-items"), "close\n");
    let r = s.apache.get("/r/no-content");
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    s.assert_child_kept_serving();
}

#[test]
fn a_non_bytes_item_before_any_output_is_a_500() {
    let s = Server::start("body-str-first", "");
    // Logged, and closed once.
    let r = s.apache.get("/r/str-first?tag=str-first");
    assert_eq!(r.status, 500);
    assert!(
        s.apache
            .wait_log_line(&["TypeError", "value of type str found"], SECS5)
    );
    assert_eq!(s.closes("str-first"), "close\n");
    s.assert_child_kept_serving();
}

#[test]
fn a_non_bytes_item_after_output_aborts_the_response() {
    let s = Server::start("body-str-later", "");
    // The connection is aborted, logged, closed once.
    each_case(
        [("str-later", "str"), ("none-later", "NoneType")],
        |&(tag, t)| {
            let r = s.apache.get(&format!("/r/{tag}?tag={tag}"));
            assert_eq!(r.status, 200, "{tag}");
            assert_eq!(r.text(), "first item|", "{tag}");
            assert!(!r.complete, "{tag}: must not end like a complete response");
            assert!(
                s.apache
                    .wait_log_line(&["TypeError", &format!("value of type {t} found")], SECS5)
            );
            assert_eq!(s.closes(tag), "close\n", "{tag}");
        },
    );
    s.assert_child_kept_serving();
}

#[test]
fn an_exception_before_any_output_is_a_500() {
    let s = Server::start("body-raise-before", "");
    // Before start_response, and in the first item.
    expect_500(
        &s.apache,
        "/r/raise-before",
        &["ValueError: raised before start_response"],
    );
    let r = s.apache.get("/r/raise-first-item?tag=raise-first");
    assert_eq!(r.status, 500);
    assert!(
        s.apache
            .wait_log_line(&["RuntimeError: body failed at item 0"], SECS5)
    );
    assert_eq!(s.closes("raise-first"), "close\n");
    s.assert_child_kept_serving();
}

#[test]
fn an_exception_mid_stream_truncates_the_response() {
    let s = Server::start("body-raise-mid", "");
    let apache = &s.apache;
    let r = apache.get("/r/raise-mid?tag=raise-mid");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "before failure|");
    assert!(
        !r.complete,
        "no chunked terminator after a mid-stream exception"
    );
    assert!(r.header("Transfer-Encoding").is_some());
    assert!(apache.wait_log_line(&["RuntimeError: body failed at item 1"], SECS5));
    assert!(
        apache.wait_log_line(&["Traceback (most recent call last)"], SECS5),
        "{}",
        apache.error_log()
    );
    assert_eq!(s.closes("raise-mid"), "close\n");

    // With a Content-Length: short, and closed.
    let r = apache.get("/r/raise-mid-length?tag=raise-mid-length");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("100"));
    assert_eq!(r.text(), "before failure|");
    assert!(!r.complete);
    assert_eq!(s.closes("raise-mid-length"), "close\n");
    s.assert_child_kept_serving();
}

#[test]
fn a_truncated_response_closes_a_keep_alive_connection() {
    let s = Server::start("body-raise-keepalive", "");
    // The client can then tell the body is incomplete.
    let mut conn = s
        .apache
        .send_request("GET /r/raise-mid HTTP/1.1\r\nHost: localhost\r\n\r\n", b"");
    let mut buf = Vec::new();
    assert!(
        read_to_close(&mut conn, &mut buf, SECS10),
        "connection left open"
    );
    let r = parse_response(&buf, false);
    assert_eq!(
        (r.status, r.text().as_str(), r.complete),
        (200, "before failure|", false)
    );
    s.assert_child_kept_serving();
}

#[test]
fn results_that_are_not_iterables_of_bytes_are_500s() {
    let s = Server::start("body-not-iterable", "");
    // A bare str or bytes is iterated item by item: str items, int items.
    expect_500s(
        &s.apache,
        &[
            (
                "/r/not-iterable",
                &["TypeError", "'int' object is not iterable"],
            ),
            (
                "/r/return-none",
                &["TypeError", "'NoneType' object is not iterable"],
            ),
            ("/r/return-str", &["TypeError", "value of type str found"]),
            ("/r/return-bytes", &["TypeError", "value of type int found"]),
        ],
    );
    s.assert_child_kept_serving();
}

#[test]
fn start_response_may_be_called_when_the_first_item_is_produced() {
    let s = Server::start("body-late", "");
    let r = s.apache.get("/r/late-start");
    assert_eq!((r.status, r.text().as_str()), (202, "late"));
    assert_eq!(r.header("X-Late"), Some("yes"));
    s.assert_child_kept_serving();
}

#[test]
fn close_raising_after_output_is_logged_and_cuts_the_response() {
    let s = Server::start("body-bad-close", "");
    let r = s.apache.get("/r/bad-close");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "body-before-bad-close");
    assert!(!r.complete);
    assert!(
        s.apache
            .wait_log_line(&["ValueError: close() failed on purpose"], SECS5)
    );
    s.assert_child_kept_serving();
}

#[test]
fn the_app_s_content_length_is_enforced() {
    let s = Server::start("body-cl", "");
    let apache = &s.apache;
    // Excess cut.
    let r = apache.get("/r/cl-excess?tag=cl-excess");
    assert_eq!((r.status, r.text().as_str()), (200, "12345"));
    assert_eq!(r.header("Content-Length"), Some("5"));
    assert_eq!(r.bytes_after_head(), 5);
    assert_eq!(s.closes("cl-excess"), "close\n");
    // Short: logged and cut.
    let r = apache.get("/r/cl-short?tag=cl-short");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("10"));
    assert_eq!(r.text(), "123");
    assert!(!r.complete);
    assert!(apache.wait_log_line(&["shorter than its Content-Length", "3 of 10 bytes"], SECS5));
    assert_eq!(s.closes("cl-short"), "close\n");
    // A 304 with a Content-Length has no body, and that is not short.
    let r = apache.get("/r/not-modified?tag=not-modified");
    assert_eq!(r.status, 304);
    assert_eq!(r.header("ETag"), Some("\"v1\""));
    assert!(r.raw.ends_with(b"\r\n\r\n"), "304 has no body");
    assert_eq!(s.closes("not-modified"), "close\n");
    assert_eq!(
        apache.log_lines_with(&["shorter than its Content-Length", "of 1234"]),
        0
    );
    let r = apache.get("/r/cl-exact");
    assert_eq!((r.status, r.text().as_str()), (200, "abcdef"));
    s.assert_child_kept_serving();
}

#[test]
fn head_sends_headers_only_and_still_closes_the_iterable() {
    let s = Server::start("body-head", "");
    // The app's Content-Length kept, close() still called.
    let r = s.apache.request("HEAD", "/r/head?tag=head", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("1000"));
    assert_eq!(r.header("X-Method"), Some("HEAD"));
    assert!(r.raw.ends_with(b"\r\n\r\n"), "HEAD must have no body");
    assert_eq!(s.closes("head"), "close\n");
    let r = s.apache.request("HEAD", "/r/head-stream", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.raw.ends_with(b"\r\n\r\n"), "HEAD must have no body");
    s.assert_child_kept_serving();
}

// --- streaming, big bodies, disconnects -------------------------------------

#[test]
fn each_yielded_or_written_item_reaches_the_client_before_the_next() {
    let s = Server::start("stream-items", "");
    let closed = s.dir.0.join("closed");
    // The app waits for a marker the test creates only after seeing item one.
    each_case(
        [("/r/stream", "m1"), ("/r/stream-write", "m2")],
        |&(path, marker)| {
            let mut conn = s.apache.send_request(
                &format!(
                    "GET {path}?marker={marker} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                ),
                b"",
            );
            let mut buf = Vec::new();
            assert!(
                read_until(&mut conn, &mut buf, b"first|", SECS5),
                "{path}: the first item was not streamed: {:?}",
                String::from_utf8_lossy(&buf)
            );
            std::fs::write(closed.join(marker), b"go").unwrap();
            assert!(read_to_close(&mut conn, &mut buf, SECS10));
            let r = parse_response(&buf, false);
            assert_eq!(r.status, 200);
            assert!(r.complete);
            assert!(
                r.text().starts_with("first|second:saw-marker"),
                "{}",
                r.text()
            );
        },
    );
    s.assert_child_kept_serving();
}

#[test]
fn an_http_1_0_response_is_not_chunked_and_ends_with_the_connection() {
    let s = Server::start("stream-http10", "");
    let mut conn = s
        .apache
        .send_request("GET /r/generator HTTP/1.0\r\n\r\n", b"");
    let mut buf = Vec::new();
    assert!(read_to_close(&mut conn, &mut buf, SECS10));
    let r = parse_response(&buf, false);
    assert_eq!((r.status, r.text().as_str()), (200, "g0;g1;g2;"));
    assert_eq!(r.header("Transfer-Encoding"), None);
    s.assert_child_kept_serving();
}

#[test]
fn ten_mib_from_a_generator_arrive_intact() {
    let s = Server::start("stream-big", "");
    let size = 10 * 1024 * 1024;
    let r = s.apache.get(&format!("/r/big-generator?size={size}"));
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert_eq!(r.body.len(), size);
    assert_eq!(sha256_hex(&r.body), sha256_hex(&big_generator_body(size)));
    s.assert_child_kept_serving();
}

#[test]
fn a_client_disconnect_mid_download_stops_the_app_and_closes_it_once() {
    let s = Server::start("stream-disconnect", "");
    {
        let mut conn = s.apache.send_request(
            "GET /r/download?tag=download HTTP/1.1\r\nHost: localhost\r\n\r\n",
            b"",
        );
        let mut buf = Vec::new();
        assert!(read_until(&mut conn, &mut buf, b"yyyyyyyy", SECS5));
    }
    assert_eq!(s.closes("download"), "close\n");
    assert!(
        s.apache.wait_log_line(
            &["client connection closed while sending the response"],
            SECS10
        ),
        "{}",
        s.apache.error_log()
    );
    s.assert_child_kept_serving();
}

#[test]
fn write_after_the_client_went_away_raises_oserror_in_the_app() {
    let s = Server::start("stream-write-gone", "");
    {
        let mut conn = s.apache.send_request(
            "GET /r/write-loop?tag=write-loop HTTP/1.1\r\nHost: localhost\r\n\r\n",
            b"",
        );
        let mut buf = Vec::new();
        assert!(read_until(&mut conn, &mut buf, b"wwwwwwww", SECS5));
    }
    assert_eq!(s.closes("write-loop"), "write-loop:OSError\n");
    assert!(
        s.apache
            .wait_log_line(&["OSError", "failed to write response data"], SECS10)
    );
    s.assert_child_kept_serving();
}

#[test]
fn a_client_that_stops_reading_does_not_stall_other_requests() {
    let s = Server::start("stream-stalled", "");
    // The GIL is released while a write blocks.
    let mut stalled = s.apache.send_request(
        "GET /r/big-generator HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"",
    );
    let mut buf = Vec::new();
    assert!(read_until(&mut stalled, &mut buf, b"\r\n\r\n", SECS5));
    std::thread::sleep(Duration::from_millis(500));
    let t0 = std::time::Instant::now();
    assert_eq!(s.apache.get("/r/ok").text(), "ok");
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "blocked for {:?}",
        t0.elapsed()
    );
    drop(stalled);
    s.assert_child_kept_serving();
}

#[test]
fn request_objects_kept_after_their_request_refuse_to_work() {
    let s = Server::start("stream-stash", "");
    assert_eq!(s.apache.get("/r/stash").text(), "stashed");
    let r = s.apache.get("/r/use-stash");
    assert_eq!(
        r.text(),
        "read:RuntimeError readline:RuntimeError write:RuntimeError start_response:RuntimeError"
    );
    s.assert_child_kept_serving();
}

// --- wsgi.file_wrapper ------------------------------------------------------

const WITH_SENDFILE: &str = "WSGIEnableSendfile On\nEnableSendfile On\n";
const WITHOUT_SENDFILE: &str = "EnableMMAP Off\nEnableSendfile On\n";

fn data_file(dir: &TestDir, size: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..size)
        .map(|i| ((i * 7 + i / 4093) % 251) as u8)
        .collect();
    dir.write_bytes("data.bin", &data);
    data
}

/// A Server with `extra` directives and a 10 MiB data.bin.
fn file_server(tag: &str, extra: &str) -> (Server, Vec<u8>) {
    let s = Server::start(tag, extra);
    let data = data_file(&s.dir, 10 * 1024 * 1024);
    (s, data)
}

/// The file_wrapper cases, each checked even when another fails.
fn check_file_wrapper(s: &Server, data: &[u8]) {
    let apache = &s.apache;
    each_check(&[
        (
            "the whole file: Content-Length set, bytes intact, close() called",
            &|| {
                let r = apache.get("/r/file?tag=f1");
                assert_eq!(r.status, 200, "{}", apache.error_log());
                assert_eq!(
                    r.header("Content-Length"),
                    Some(data.len().to_string().as_str())
                );
                assert_eq!(r.body.len(), data.len());
                assert_eq!(sha256_hex(&r.body), sha256_hex(data));
                assert_eq!(s.closes("f1"), "file-close\n");
            },
        ),
        ("from the current file position", &|| {
            let r = apache.get("/r/file?tag=f2&skip=1000");
            assert_eq!(r.status, 200);
            assert_eq!(r.body.len(), data.len() - 1000);
            assert!(r.body == data[1000..], "content from offset 1000");
            assert_eq!(s.closes("f2"), "file-close\n");
        }),
        ("the app's shorter Content-Length is honoured", &|| {
            let r = apache.get("/r/file?tag=f3&skip=10&cl=100");
            assert_eq!(r.header("Content-Length"), Some("100"));
            assert!(r.body == data[10..110]);
            assert!(r.complete);
        }),
        (
            "a Content-Length longer than the file: short body, logged, cut",
            &|| {
                let r = apache.get(&format!("/r/file?tag=f4&cl={}", data.len() + 10));
                assert_eq!(r.body.len(), data.len());
                assert!(!r.complete);
                assert!(apache.wait_log_line(&["shorter than its Content-Length"], SECS5));
            },
        ),
        ("a plain open() file object", &|| {
            let r = apache.get("/r/file-plain");
            assert_eq!(r.status, 200);
            assert_eq!(sha256_hex(&r.body), sha256_hex(data));
        }),
        (
            "a file-like without fileno(): read in blksize chunks, then closed",
            &|| {
                let r = apache.get("/r/filelike?tag=fl&blksize=1000");
                assert_eq!(r.status, 200);
                assert_eq!(r.body.len(), 12000);
                assert_eq!(Some(sha256_hex(&r.body).as_str()), r.header("X-Sha256"));
                assert_eq!(s.closes("fl"), "filelike-close:[1000]\n");
            },
        ),
        ("after write(): iterated, after what was written", &|| {
            let r = apache.get("/r/file-after-write");
            assert_eq!(r.text(), "prefix|small file\n");
        }),
        (
            "no descriptor leaks: the server's duplicates are closed per request",
            &|| {
                let fds = |a: &Apache| a.get("/r/fds").text().parse::<usize>().unwrap();
                let before = fds(apache);
                for _ in 0..30 {
                    assert_eq!(apache.get("/r/file-plain").status, 200);
                }
                let after = fds(apache);
                assert!(
                    after <= before + 2,
                    "descriptors grew from {before} to {after}"
                );
            },
        ),
        ("HEAD: headers only", &|| {
            let r = apache.request("HEAD", "/r/file?tag=f5", &[], b"");
            assert_eq!(r.status, 200);
            assert_eq!(
                r.header("Content-Length"),
                Some(data.len().to_string().as_str())
            );
            assert!(r.raw.ends_with(b"\r\n\r\n"));
            assert_eq!(s.closes("f5"), "file-close\n");
        }),
    ]);
}

/// The trace of `sendfile` calls in the child while it serves the file.
fn sendfile_trace(s: &Server, data: &[u8]) -> String {
    strace_during(&s.pid0, "sendfile", || {
        assert_eq!(s.apache.get("/r/file-plain").body.len(), data.len());
    })
}

#[test]
fn file_wrapper_with_sendfile_serves_files_intact() {
    let (s, data) = file_server("fw-sendfile", WITH_SENDFILE);
    check_file_wrapper(&s, &data);
    s.assert_child_kept_serving();
}

#[test]
fn file_wrapper_with_sendfile_sends_the_file_with_sendfile() {
    let (s, data) = file_server("fw-sendfile-strace", WITH_SENDFILE);
    let trace = sendfile_trace(&s, &data);
    assert!(trace.contains("sendfile("), "no sendfile call:\n{trace}");
    s.assert_child_kept_serving();
}

#[test]
fn file_wrapper_without_sendfile_serves_files_intact() {
    let (s, data) = file_server("fw-plain", WITHOUT_SENDFILE);
    check_file_wrapper(&s, &data);
    s.assert_child_kept_serving();
}

#[test]
fn file_wrapper_without_sendfile_leaves_the_file_to_httpd() {
    // Without WSGIEnableSendfile the file is read by httpd, not sendfile(2)'d.
    let (s, data) = file_server("fw-plain-strace", WITHOUT_SENDFILE);
    let trace = sendfile_trace(&s, &data);
    assert!(
        !trace.contains("sendfile("),
        "unexpected sendfile call:\n{trace}"
    );
    s.assert_child_kept_serving();
}

#[test]
fn a_client_disconnect_during_a_file_response_closes_the_file() {
    let (s, _data) = file_server("fw-disconnect", WITHOUT_SENDFILE);
    {
        let mut conn = s.apache.connect();
        conn.write_all(b"GET /r/file?tag=f9 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut buf = Vec::new();
        assert!(read_until(&mut conn, &mut buf, b"\r\n\r\n", SECS5));
    }
    assert_eq!(s.closes("f9"), "file-close\n");
    assert_eq!(s.apache.get("/r/ok").text(), "ok");
    s.assert_child_kept_serving();
}

#[test]
fn response_paths_work_under_prefork() {
    let dir = TestDir::new("prefork");
    dir.write("app.wsgi", APP);
    dir.write("small.txt", "small file\n");
    dir.writable_dir("closed");
    let data = data_file(&dir, 3 * 1024 * 1024 + 17);
    let apache = Apache::start(
        &dir,
        &ApacheConfig::new("WSGIScriptAlias /r {dir}/app.wsgi\nWSGIEnableSendfile On\n")
            .mpm(Mpm::Prefork),
    );
    let apache = &apache;
    each_check(&[
        ("a list", &|| {
            let r = apache.get("/r/list");
            assert_eq!(
                (r.status, r.text().as_str()),
                (200, "abcdef"),
                "{}",
                apache.error_log()
            );
        }),
        ("a generator, closed", &|| {
            let r = apache.get("/r/generator?tag=g");
            assert_eq!(r.text(), "g0;g1;g2;");
            assert_eq!(closes(&dir, "g"), "gen-finally\n");
        }),
        ("a file with sendfile", &|| {
            let r = apache.get("/r/file-plain");
            assert_eq!(sha256_hex(&r.body), sha256_hex(&data));
        }),
        ("an exception mid-stream", &|| {
            let r = apache.get("/r/raise-mid?tag=m");
            assert_eq!((r.status, r.complete), (200, false));
        }),
        ("header injection refused", &|| {
            expect_500(apache, "/r/header-crlf", &["CR or LF"]);
        }),
        ("2 MiB from a generator", &|| {
            let size = 2 * 1024 * 1024;
            let r = apache.get(&format!("/r/big-generator?size={size}"));
            assert_eq!(sha256_hex(&r.body), sha256_hex(&big_generator_body(size)));
        }),
    ]);
    apache.assert_no_crash();
}
