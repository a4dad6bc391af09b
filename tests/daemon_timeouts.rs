//! request-timeout and interrupt-timeout (mod_wsgi 6): a request running
//! longer than `request-timeout * (1 + ln(threads))` has its Python stack
//! logged; with interrupt-timeout, `mod_wsgi.RequestTimeout` is raised in
//! it (504, the process lives on); without, or when it does not unwind in
//! time (blocked in C), it is answered at once and the process replaced.
//! Meanwhile other requests to the group keep succeeding.
//!
//! With request-timeout=3 and threads=3 the limit is 3 * (1 + ln 3) = 6.3 s.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;

const APP: &str = include_str!("apps/timeouts.wsgi");

/// The scaled limit of these tests' groups (request-timeout=3, threads=3).
const LIMIT: Duration = Duration::from_millis(6296);
/// The most any stuck request may take to be answered.
const ANSWERED_WITHIN: Duration = Duration::from_secs(12);

fn server(tag: &str, options: &str, mpm: Mpm) -> (TestDir, Apache, String) {
    server_in(tag, options, mpm, "%{GLOBAL}", "")
}

/// A group `t` with `options`, its requests in `application_group`, after
/// the global directives `global`.
fn server_in(
    tag: &str,
    options: &str,
    mpm: Mpm,
    application_group: &str,
    global: &str,
) -> (TestDir, Apache, String) {
    let dir = TestDir::new(tag);
    let script = dir.write("app.wsgi", APP);
    dir.writable_dir("marks");
    let conf = ApacheConfig::new(&format!(
        "{global}WSGIDaemonProcess t {}threads=3 request-timeout=3 {options}\n\
         WSGIScriptAlias /t {{dir}}/app.wsgi process-group=t application-group={application_group}\n",
        daemon_user()
    ))
    .mpm(mpm)
    .threads(10, 4)
    // The other threads' stacks are logged at debug.
    .log_level("info wsgi:debug");
    let apache = Apache::start(&dir, &conf);
    (dir, apache, script.display().to_string())
}

/// The daemon's pid, from a request.
fn daemon_pid(port: u16) -> i32 {
    let r = request(port, "GET", "/t/pid", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    r.text().trim().parse().unwrap()
}

/// One request and how long its answer took.
fn timed(port: u16, path: &str) -> (Response, Duration) {
    let started = Instant::now();
    let r = request(port, "GET", path, &[], b"");
    (r, started.elapsed())
}

/// Fast requests on one keep-alive connection until `stop`: each one's
/// status and the daemon pid that answered (or what went wrong).
fn fast_requests(port: u16, stop: &AtomicBool) -> Vec<Result<(u16, String), String>> {
    let mut c = Client::new(port, true);
    let mut seen = Vec::new();
    while !stop.load(Ordering::Acquire) {
        seen.push(
            c.get("/t/pid")
                .map(|(s, b)| (s, String::from_utf8_lossy(&b).into_owned())),
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    seen
}

#[track_caller]
fn assert_only_200s(seen: &[Result<(u16, String), String>], log: &str) {
    assert!(seen.len() >= 10, "{seen:?}");
    let bad: Vec<_> = seen.iter().filter(|r| !matches!(r, Ok((200, _)))).collect();
    assert!(bad.is_empty(), "fast requests failed: {bad:?}\n{log}");
}

#[track_caller]
fn assert_answered_in_time(what: &str, r: &Response, took: Duration, status: u16, log: &str) {
    assert_eq!(r.status, status, "{what}: {}\n{log}", r.text());
    assert!(
        took > LIMIT && took < ANSWERED_WITHIN,
        "{what} answered after {took:?}\n{log}"
    );
}

/// Waits (bounded) until the group answers again, from another process
/// than `old`; returns its pid.
fn new_daemon(port: u16, old: i32) -> i32 {
    wait_for_every(Duration::from_secs(30), Duration::from_millis(200), || {
        let r = request(port, "GET", "/t/pid", &[], b"");
        let pid: i32 = r.text().trim().parse().ok()?;
        (r.status == 200 && pid != old).then_some(pid)
    })
    .unwrap_or_else(|| panic!("no new daemon process replaced {old}"))
}

/// Without interrupt-timeout: a request looping in Python and one blocked
/// in `time.sleep(30)` are each answered 504 once past the limit, their
/// stacks are logged, the process is replaced after a request in flight
/// then has finished, and fast requests to the group succeed throughout.
fn stuck_requests_are_answered_and_the_process_replaced(mpm: Mpm) {
    let (_dir, apache, script) = server("timeouts-recycle", "", mpm);
    let port = apache.port;
    let before = daemon_pid(port);
    let stop = AtomicBool::new(false);
    let (looping, sleeping, in_flight, fast) = std::thread::scope(|s| {
        let fast = s.spawn(|| fast_requests(port, &stop));
        let looping = s.spawn(|| timed(port, "/t/loop"));
        let sleeping = s.spawn(|| timed(port, "/t/sleep?30"));
        // Still running when the process is recycled: it finishes there.
        let in_flight = s.spawn(|| {
            std::thread::sleep(LIMIT - Duration::from_secs(1));
            timed(port, "/t/sleep?2")
        });
        let looping = looping.join().unwrap();
        let sleeping = sleeping.join().unwrap();
        let in_flight = in_flight.join().unwrap();
        // The group serves again, from a new process.
        let after = new_daemon(port, before);
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Release);
        let fast = fast.join().unwrap();
        assert!(
            fast.iter()
                .any(|r| matches!(r, Ok((200, p)) if p.trim() == after.to_string())),
            "{fast:?}"
        );
        (looping, sleeping, in_flight, fast)
    });
    let log = apache.error_log();
    assert_answered_in_time("the looping request", &looping.0, looping.1, 504, &log);
    assert_answered_in_time("the sleeping request", &sleeping.0, sleeping.1, 504, &log);
    assert_eq!(
        (in_flight.0.status, in_flight.0.text().trim()),
        (200, format!("slept in {before}").as_str()),
        "{log}"
    );
    assert_only_200s(&fast, &log);
    // Where each one was stuck.
    assert!(
        log.contains("Python stack of thread 0x") && log.contains("(most recent call last):"),
        "{log}"
    );
    for function in ["loop_in_python", "sleep_in_c"] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("File \"{script}\", line")) && l.contains(function)),
            "no stack line in {function}:\n{log}"
        );
    }
    // At LogLevel debug, the other threads' stacks too.
    assert!(
        log.contains("the other threads of that interpreter:"),
        "{log}"
    );
    assert!(
        log.contains("interrupt-timeout=0") && log.contains("answering it 504"),
        "{log}"
    );
    // Each stuck request's own log line says why it got a 504.
    assert_eq!(
        apache.log_lines_with(&["[client", "gave up on this request after"]),
        2,
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "Daemon process 't' (pid {before}) restarted because a request exceeded request-timeout"
        )),
        "{log}"
    );
    apache.assert_no_crash();
}

#[test]
fn stuck_requests_are_answered_and_the_process_replaced_event() {
    stuck_requests_are_answered_and_the_process_replaced(Mpm::Event);
}

#[test]
fn stuck_requests_are_answered_and_the_process_replaced_prefork() {
    stuck_requests_are_answered_and_the_process_replaced(Mpm::Prefork);
}

/// With interrupt-timeout, a request looping in Python in
/// `application_group` is interrupted (the exception raised in its thread
/// state of that interpreter) and answered 504; the process lives on.
fn interrupt_timeout_unwinds_a_looping_request(application_group: &str, global: &str) {
    let (dir, apache, script) = server_in(
        "timeouts-interrupt",
        "interrupt-timeout=2",
        Mpm::Event,
        application_group,
        global,
    );
    let port = apache.port;
    let before = daemon_pid(port);
    let stop = AtomicBool::new(false);
    let (looping, fast) = std::thread::scope(|s| {
        let fast = s.spawn(|| fast_requests(port, &stop));
        let looping = timed(port, "/t/loop?interrupted");
        std::thread::sleep(Duration::from_secs(1));
        stop.store(true, Ordering::Release);
        (looping, fast.join().unwrap())
    });
    let log = apache.error_log();
    assert_eq!(looping.0.status, 504, "{}\n{log}", looping.0.text());
    assert!(
        looping.1 > LIMIT && looping.1 < LIMIT + Duration::from_secs(3),
        "answered after {:?}\n{log}",
        looping.1
    );
    // The application saw the exception (a BaseException) unwind it.
    let mark = wait_file(&dir.0.join("marks/interrupted"), SECS5).unwrap_or_default();
    assert!(mark.starts_with("RequestTimeout after "), "{mark:?}");
    // Its stack was logged before it was interrupted.
    assert!(
        log.contains("raising mod_wsgi.RequestTimeout in it (interrupt-timeout=2s)"),
        "{log}"
    );
    assert!(
        log.lines().any(
            |l| l.contains(&format!("File \"{script}\", line")) && l.contains("loop_in_python")
        ),
        "{log}"
    );
    assert_eq!(
        apache.log_lines_with(&[
            "[client",
            "Request interrupted by RequestTimeout; thread recovered (answered 504 Gateway Timeout)"
        ]),
        1,
        "{log}"
    );
    // The process was not replaced: every fast request, before, during
    // and after, was its.
    assert_only_200s(&fast, &log);
    assert!(
        fast.iter()
            .all(|r| matches!(r, Ok((_, p)) if p.trim() == before.to_string())),
        "{fast:?}"
    );
    assert_eq!(daemon_pid(port), before);
    assert!(!log.contains("stopping"), "{log}");
    // The thread that was interrupted serves again (all three are used).
    let answers: Vec<_> = std::thread::scope(|s| {
        let all: Vec<_> = (0..3)
            .map(|_| s.spawn(|| timed(port, "/t/sleep?0.5")))
            .collect();
        all.into_iter()
            .map(|h| h.join().unwrap().0.status)
            .collect()
    });
    assert_eq!(answers, [200, 200, 200], "{}", apache.error_log());
    apache.assert_no_crash();
}

#[test]
fn interrupt_timeout_unwinds_a_looping_request_and_keeps_the_process() {
    interrupt_timeout_unwinds_a_looping_request("%{GLOBAL}", "");
}

#[test]
fn interrupt_timeout_unwinds_a_looping_request_in_a_sub_interpreter() {
    // Each request thread has a thread state in the main interpreter and
    // one in the sub-interpreter: the exception must go to the latter.
    interrupt_timeout_unwinds_a_looping_request("sub", "");
}

// Before 3.12 WSGIPerInterpreterGIL On fails configtest (tested in
// per_interpreter_gil.rs).
#[cfg(Py_3_12)]
#[test]
fn interrupt_timeout_unwinds_a_looping_request_in_an_own_gil_sub_interpreter() {
    interrupt_timeout_unwinds_a_looping_request("sub", "WSGIPerInterpreterGIL On\n");
}

#[test]
fn a_request_blocked_in_c_is_not_interrupted_in_time_and_the_process_is_replaced() {
    let (_dir, apache, script) = server("timeouts-blocked", "interrupt-timeout=2", Mpm::Event);
    let port = apache.port;
    let before = daemon_pid(port);
    let stop = AtomicBool::new(false);
    let (sleeping, streaming, fast) = std::thread::scope(|s| {
        let fast = s.spawn(|| fast_requests(port, &stop));
        // One stuck before any output, one after its head and a first chunk.
        let streaming = s.spawn(|| {
            let started = Instant::now();
            let raw = exchange(
                port,
                b"GET /t/stream-then-sleep HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            );
            (raw, started.elapsed())
        });
        let sleeping = timed(port, "/t/sleep?30");
        let streaming = streaming.join().unwrap();
        new_daemon(port, before);
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Release);
        (sleeping, streaming, fast.join().unwrap())
    });
    let log = apache.error_log();
    // time.sleep() returns to Python only after 30 s: RequestTimeout was
    // raised, could not land, and the request was given up on after
    // interrupt-timeout.
    assert_answered_in_time("the sleeping request", &sleeping.0, sleeping.1, 504, &log);
    assert!(
        sleeping.1 > LIMIT + Duration::from_secs(2),
        "{:?}\n{log}",
        sleeping.1
    );
    assert!(
        log.contains("raised mod_wsgi.RequestTimeout in thread 0x")
            && log.contains("did not unwind within interrupt-timeout (2s)"),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("File \"{script}\", line")) && l.contains("sleep_in_c")),
        "{log}"
    );
    // The streaming one: its response was cut short, promptly.
    let (raw, took) = streaming;
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("HTTP/1.1 200 ") && text.contains("first chunk"),
        "{text}\n{log}"
    );
    let r = parse_response(&raw, false);
    assert!(!r.complete, "{text}");
    assert!(took < ANSWERED_WITHIN, "{took:?}\n{log}");
    assert_only_200s(&fast, &log);
    assert!(
        log.contains(&format!(
            "Daemon process 't' (pid {before}) restarted because a request exceeded request-timeout"
        )),
        "{log}"
    );
    apache.assert_no_crash();
}

#[test]
fn configtest_accepts_interrupt_timeout() {
    for line in [
        "WSGIDaemonProcess a request-timeout=60 interrupt-timeout=10",
        "WSGIDaemonProcess a interrupt-timeout=5",
    ] {
        let (ok, out) = configtest(line);
        assert!(ok, "{line}: {out}");
    }
    let (ok, out) = configtest("WSGIDaemonProcess a interrupt-timeout=soon");
    assert!(
        !ok && out.contains("invalid value 'soon' for option 'interrupt-timeout'"),
        "{out}"
    );
}
