//! Daemon mode (WSGIDaemonProcess + WSGIProcessGroup): requests run in a
//! daemon process forked from the Apache parent, through the same WSGI
//! adapter as embedded mode.

mod common;

use std::time::{Duration, Instant};

use common::*;

const APP: &str = include_str!("apps/daemon.wsgi");

/// POSTs `body` while reading the response at the same time (a client that
/// writes everything first would itself block on an echoing server).
fn post_duplex(apache: &Apache, path: &str, body: &[u8]) -> Response {
    use std::io::{Read, Write};
    let mut s = apache.connect();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut w = s.try_clone().unwrap();
    let body = body.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(head.as_bytes());
        let _ = w.write_all(&body);
    });
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    writer.join().unwrap();
    parse_response(&out, false)
}

/// A file of several body frames, served by the daemon from a position.
fn big_file() -> Vec<u8> {
    (0..3 * 1024 * 1024 + 123u32)
        .map(|i| (i % 251) as u8)
        .collect()
}

/// An Apache with the daemon group `group` (threads=4, display-name
/// %{GROUP}, so the group name tells each test's daemons apart) at /app and
/// /override (WSGIErrorOverride On), and the same script embedded at /emb.
fn daemon_server(group: &str) -> (TestDir, Apache) {
    let dir = TestDir::new(&format!("daemon-{group}"));
    dir.write("app.wsgi", APP);
    dir.write_bytes("big.bin", &big_file());
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess {group} {}threads=4 display-name=%{{GROUP}}\n\
         WSGIScriptAlias /app {{dir}}/app.wsgi process-group={group} application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /emb {{dir}}/app.wsgi\n\
         WSGIScriptAlias /override {{dir}}/app.wsgi process-group={group} application-group=%{{GLOBAL}}\n\
         <Location /override>\n  WSGIErrorOverride On\n  ErrorDocument 404 \"Apache says: not found\"\n</Location>\n",
        daemon_user()
    ));
    let apache = Apache::start(&dir, &conf);
    (dir, apache)
}

fn daemon_info(apache: &Apache) -> String {
    let r = apache.get("/app/info?x=1");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), apache.error_log());
    r.text()
}

#[test]
fn a_daemon_request_has_the_daemon_s_environ_and_process() {
    let (_dir, apache) = daemon_server("basic");
    let body = daemon_info(&apache);
    assert_eq!(json_field(&body, "process_group"), "basic");
    assert_eq!(json_field(&body, "module_process_group"), "basic");
    assert_eq!(json_field(&body, "multithread"), "true");
    assert_eq!(json_field(&body, "multiprocess"), "false");
    assert_eq!(json_field(&body, "query"), "x=1");
    assert_eq!(json_field(&body, "script_name"), "/app");
    let daemon_pid: i32 = json_field(&body, "pid").parse().unwrap();
    // The embedded copy runs in an Apache child: another process.
    let emb = apache.get("/emb/info").text();
    assert_eq!(json_field(&emb, "process_group"), "");
    assert_ne!(json_field(&emb, "pid").parse::<i32>().unwrap(), daemon_pid);
    // display-name=%{GROUP}
    let cmdline = std::fs::read(format!("/proc/{daemon_pid}/cmdline")).unwrap();
    assert!(
        String::from_utf8_lossy(&cmdline).starts_with("(wsgi:basic)"),
        "{:?}",
        String::from_utf8_lossy(&cmdline)
    );
}

#[test]
fn a_daemon_with_user_nobody_runs_as_nobody() {
    require_root("the daemon switches to user=nobody");
    let (_dir, apache) = daemon_server("asnobody");
    assert_eq!(json_field(&daemon_info(&apache), "uid"), "65534");
}

#[test]
fn request_and_response_bodies_go_through_the_daemon() {
    let (_dir, apache) = daemon_server("bodies");
    assert_eq!(apache.get("/app/").text(), "hello from the daemon");
    let r = apache.request("POST", "/app/sha", &[], b"abc");
    assert_eq!(r.text(), format!("3 {}", sha256_hex(b"abc")));

    // 5 MiB upload, hashed in the daemon.
    let upload: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let r = apache.post("/app/sha", &upload);
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(
        r.text(),
        format!("{} {}", upload.len(), sha256_hex(&upload))
    );

    // A streamed 4 MiB response.
    let r = apache.get("/app/stream");
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert_eq!(r.body.len(), 64 * 65536);
    assert!(r.body[..65536].iter().all(|&b| b == b'A'));
    assert!(r.body[65536 * 63..].iter().all(|&b| b == b'A' + 63 % 26));

    // HEAD
    let r = apache.request("HEAD", "/app/", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
}

#[test]
fn file_wrapper_in_a_daemon_sends_files_byte_exact() {
    let (_dir, apache) = daemon_server("files");
    // wsgi.file_wrapper sends the script itself.
    let r = apache.get("/app/file");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), APP);

    // A file of several body frames, from a position the app seeked to,
    // goes out byte-exact (sendfile from the daemon).
    let big_file = big_file();
    let r = apache.get("/app/bigfile?1000");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(
        r.header("content-length"),
        Some(&*(big_file.len() - 1000).to_string())
    );
    assert_eq!(sha256_hex(&r.body), sha256_hex(&big_file[1000..]));
}

#[test]
fn big_bodies_both_ways_at_once_do_not_deadlock() {
    let (_dir, apache) = daemon_server("duplex");
    // 10 MiB in, 10 MiB out at the same time.
    let big: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let started = Instant::now();
    let r = post_duplex(&apache, "/app/echo", &big);
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(r.body.len(), big.len());
    assert!(r.body == big, "echo differs");
    assert!(started.elapsed() < Duration::from_secs(20));
    // The response fills the socket before the app reads any body.
    let r = post_duplex(&apache, "/app/big-then-read", &big);
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(r.body.len(), 160 * 65536 + format!("|{}", big.len()).len());
    assert!(r.text().ends_with(&format!("|{}", big.len())));
}

#[test]
fn a_daemon_application_error_is_a_500_logged_with_the_client() {
    let (_dir, apache) = daemon_server("apperror");
    // The traceback in the log, client context kept.
    let r = apache.get("/app/error");
    assert_eq!(r.status, 500);
    assert!(apache.wait_for_log("RuntimeError: boom in the daemon", SECS5));
    let line = apache
        .error_log()
        .lines()
        .find(|l| l.contains("boom in the daemon"))
        .unwrap()
        .to_string();
    assert!(line.contains("[client 127.0.0.1:"), "{line}");
}

#[test]
fn a_daemon_s_status_reason_and_headers_reach_the_client() {
    let (_dir, apache) = daemon_server("status");
    let r = apache.get("/app/status");
    assert_eq!((r.status, r.reason.as_str()), (404, "Not Here"));
    assert_eq!(r.header("x-a"), Some("1"));
    assert_eq!(r.text(), "nope");
}

#[test]
fn error_override_replaces_a_daemon_s_error_body_with_apache_s() {
    let (_dir, apache) = daemon_server("override");
    // WSGIErrorOverride On: Apache's error document replaces the app's body.
    let r = apache.get("/override/status");
    assert_eq!(r.status, 404, "{}", apache.error_log());
    assert_eq!(r.text(), "Apache says: not found");
    assert_eq!(r.header("x-a"), None);
    assert_eq!(apache.get("/override/").text(), "hello from the daemon");
}

#[test]
fn no_daemon_or_socket_outlives_apache() {
    let (dir, apache) = daemon_server("outlive");
    assert_eq!(apache.get("/app/").text(), "hello from the daemon");
    drop(apache);
    let left = pids_with_cmdline("(wsgi:outlive)");
    let states: Vec<String> = left
        .iter()
        .map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default())
        .collect();
    assert!(
        left.is_empty(),
        "daemon outlived Apache: {states:?}\n{}",
        std::fs::read_to_string(dir.0.join("error.log")).unwrap_or_default()
    );
    assert!(socket_names(&dir).is_empty(), "{:?}", socket_names(&dir));
}

#[test]
fn a_virtual_host_without_wsgi_directives_uses_the_main_servers_groups() {
    // httpd gives such a virtual host the main server's configuration record
    // itself: its groups must still be started (and keyed) once.
    let dir = TestDir::new("daemon-vhost");
    dir.write("app.wsgi", APP);
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess vhostless {}threads=2 display-name=(wsgi:vhostless)\n\
         WSGIScriptAlias /app {{dir}}/app.wsgi process-group=vhostless application-group=%{{GLOBAL}}\n\
         <VirtualHost *>\n  ServerName other.example\n</VirtualHost>\n",
        daemon_user()
    ));
    let apache = Apache::start(&dir, &conf);
    let r = apache.get("/app/info");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), apache.error_log());
    assert_eq!(json_field(&r.text(), "process_group"), "vhostless");
    assert_eq!(
        pids_with_cmdline("(wsgi:vhostless)").len(),
        1,
        "{}",
        apache.error_log()
    );
}
