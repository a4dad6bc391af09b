//! Connections an Apache child keeps open to a daemon group between
//! requests: requests in a row share one connection; a daemon that dies or
//! recycles between two requests on a kept connection costs no request
//! (the request goes again on a new connection, body included, because
//! nothing of it was read before the daemon's hello); graceful restarts with
//! kept connections open lose nothing. (Needs root: Apache drops to
//! www-data, the daemon to nobody.)

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

const APP: &str = include_str!("apps/daemon.wsgi");

const STALE: &str = "closed a kept connection; sending the request on a new one";

/// Apache (one child, keep-alive) with the daemon group `name` at `/`;
/// `options` are added to its WSGIDaemonProcess line.
fn pool_server(name: &str, options: &str) -> (TestDir, Apache) {
    require_root("Apache's User www-data and the daemon user nobody are involved");
    let dir = TestDir::new(&format!("pool-{name}"));
    dir.write("app.wsgi", APP);
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess {name} {}threads=4 display-name=(wsgi:{name}) {options}\n\
         WSGIScriptAlias / {{dir}}/app.wsgi process-group={name} application-group=%{{GLOBAL}}\n",
        daemon_user()
    ))
    .threads(8, 1)
    .log_level("info wsgi:debug");
    let apache = Apache::start(&dir, &conf);
    (dir, apache)
}

fn pid_of(body: &[u8]) -> i32 {
    String::from_utf8_lossy(body).trim().parse().unwrap()
}

/// A POST body and what /sha answers for it.
fn upload(n: usize) -> (Vec<u8>, String) {
    let body = pseudo_random(n);
    let expected = format!("{} {}", body.len(), sha256_hex(&body));
    (body, expected)
}

#[test]
fn requests_in_a_row_share_one_connection() {
    let (_dir, apache) = pool_server("pool-reuse", "");
    let mut client = Client::new(apache.port, true);
    let mut seen = BTreeSet::new();
    for _ in 0..20 {
        let (status, body) = client.get("/connections").unwrap();
        assert_eq!(
            status,
            200,
            "{}\n{}",
            String::from_utf8_lossy(&body),
            apache.error_log()
        );
        let conns = String::from_utf8_lossy(&body).into_owned();
        assert!(!conns.is_empty(), "no connection seen");
        seen.extend(conns.split(' ').map(str::to_string));
    }
    // A connection per request would be 20 (socket inodes are not reused).
    assert!(
        seen.len() <= 2,
        "{} connections for 20 requests: {seen:?}",
        seen.len()
    );
    apache.assert_no_crash();
}

#[test]
fn a_daemon_killed_between_two_requests_on_a_kept_connection_costs_nothing() {
    let (_dir, apache) = pool_server("pool-kill", "");
    let mut client = Client::new(apache.port, true);
    let (body, expected) = upload(300_000);
    let mut pids = Vec::new();
    // A GET, then a POST whose body must be read from the client only once,
    // each right after the daemon that served the previous request died.
    for post in [false, true, false] {
        let (status, got) = client.get("/sleep?0").unwrap();
        assert_eq!(status, 200);
        let pid = pid_of(&got);
        pids.push(pid);
        // SAFETY: kill(2) on a pid this test read from its daemon.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        assert!(wait_until(SECS5, || !running(pid)), "{pid} still runs");
        let (status, got) = if post {
            client.post("/sha", &body).unwrap()
        } else {
            client.get("/sleep?0").unwrap()
        };
        let log = apache.error_log();
        assert_eq!(status, 200, "{}\n{log}", String::from_utf8_lossy(&got));
        if post {
            assert_eq!(String::from_utf8_lossy(&got), expected);
        } else {
            assert_ne!(pid_of(&got), pid);
        }
    }
    let log = apache.error_log();
    // A kept connection was found closed and the request went on a new one
    // (each time, unless the connection had grown too old to be used by
    // then on a busy machine); no request failed.
    assert!(apache.log_lines_with(&[STALE]) >= 1, "{log}");
    for bad in ["the response to this request is", "violated"] {
        assert!(!log.contains(bad), "{bad}:\n{log}");
    }
    apache.assert_no_crash();
}

#[test]
fn a_daemon_recycling_after_every_request_loses_none() {
    // maximum-requests=1: every request ends its daemon process, so every
    // kept connection is stale by the time the next request comes.
    let (_dir, apache) = pool_server("pool-recycle", "processes=1 maximum-requests=1");
    let mut client = Client::new(apache.port, true);
    let (body, expected) = upload(100_000);
    let mut pids = BTreeSet::new();
    for i in 0..12 {
        let (status, got) = if i % 2 == 1 {
            client.post("/sha", &body).unwrap()
        } else {
            client.get("/sleep?0").unwrap()
        };
        assert_eq!(
            status,
            200,
            "request {i}: {}\n{}",
            String::from_utf8_lossy(&got),
            apache.error_log()
        );
        if i % 2 == 1 {
            assert_eq!(String::from_utf8_lossy(&got), expected);
        } else {
            pids.insert(pid_of(&got));
        }
    }
    assert_eq!(pids.len(), 6, "each request in a new daemon: {pids:?}");
    let log = apache.error_log();
    assert!(log.contains(STALE), "{log}");
    apache.assert_no_crash();
}

#[test]
fn graceful_restarts_with_kept_connections_lose_nothing() {
    let (_dir, mut apache) = pool_server("pool-graceful", "processes=2");
    let port = apache.port;
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let done = Arc::new(Mutex::new(0u64));
    let (body, expected) = upload(50_000);
    let body = Arc::new(body);
    let clients: Vec<_> = (0..4)
        .map(|n| {
            let (stop, failures, done, body) =
                (stop.clone(), failures.clone(), done.clone(), body.clone());
            let expected = expected.clone();
            std::thread::spawn(move || {
                let mut c = Client::new(port, true);
                let mut i = 0u64;
                while !stop.load(Ordering::Acquire) {
                    i += 1;
                    let post = (i + n) % 3 == 0;
                    let r = if post {
                        c.post("/sha", &body)
                    } else {
                        c.get("/sleep?0")
                    };
                    match r {
                        Ok((200, got)) if !post || got == expected.as_bytes() => {
                            *done.lock().unwrap() += 1
                        }
                        Ok((s, got)) => failures
                            .lock()
                            .unwrap()
                            .push(format!("{s}: {}", String::from_utf8_lossy(&got))),
                        Err(e) => failures.lock().unwrap().push(e),
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..4 {
        apache.signal(libc::SIGUSR1);
        std::thread::sleep(Duration::from_millis(800));
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Release);
    for c in clients {
        c.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    let done = *done.lock().unwrap();
    let log = apache.error_log();
    assert!(
        failures.is_empty(),
        "{} of {} failed: {:?}\n{log}",
        failures.len(),
        done + failures.len() as u64,
        &failures[..failures.len().min(10)]
    );
    assert!(done > 200, "only {done} requests\n{log}");
    apache.stop();
}

/// A group of single-threaded processes gets no kept connections: one kept
/// to a busy process would wait for it while another process sits idle.
#[test]
fn single_threaded_groups_get_a_new_connection_per_request() {
    require_root("Apache's User www-data and the daemon user nobody are involved");
    let dir = TestDir::new("pool-single");
    dir.write("app.wsgi", APP);
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess single {}processes=2 threads=1 display-name=(wsgi:pool-single)\n\
         WSGIScriptAlias / {{dir}}/app.wsgi process-group=single application-group=%{{GLOBAL}}\n",
        daemon_user()
    ))
    .threads(8, 1);
    let apache = Apache::start(&dir, &conf);
    let mut client = Client::new(apache.port, true);
    let mut seen = BTreeSet::new();
    for _ in 0..5 {
        let (status, body) = client.get("/connections").unwrap();
        assert_eq!(status, 200, "{}", apache.error_log());
        seen.extend(
            String::from_utf8_lossy(&body)
                .split(' ')
                .map(str::to_string),
        );
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    apache.assert_no_crash();
}
