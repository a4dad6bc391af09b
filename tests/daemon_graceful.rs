//! Graceful restarts of daemon mode under load: no request lost or failed,
//! requests in flight finish, the old generation of daemons drains and is
//! reaped (no zombies, no orphans), sockets are kept (same inode) across
//! graceful and hard restarts and removed at stop; a group removed from the
//! configuration is stopped and its socket closed, a new group works.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const APP: &str = include_str!("apps/daemon.wsgi");

#[derive(Default)]
struct Tally {
    ok: u64,
    retries: u64,
    other_status: Vec<(u16, String)>,
    failures: Vec<String>,
}

/// `threads` clients looping on `path` until `stop`.
fn load(
    port: u16,
    path: &'static str,
    keep_alive: bool,
    threads: usize,
    stop: &Arc<AtomicBool>,
    tally: &Arc<Mutex<Tally>>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..threads)
        .map(|_| {
            let (stop, tally) = (stop.clone(), tally.clone());
            std::thread::spawn(move || {
                let mut c = Client::new(port, keep_alive);
                while !stop.load(Ordering::Acquire) {
                    let r = c.get(path);
                    let mut t = tally.lock().unwrap();
                    match r {
                        Ok((200, _)) => t.ok += 1,
                        Ok((s, b)) => t
                            .other_status
                            .push((s, String::from_utf8_lossy(&b).into_owned())),
                        Err(e) => t.failures.push(e),
                    }
                }
                tally.lock().unwrap().retries += c.retries;
            })
        })
        .collect()
}

/// No zombie is left among Apache's children (waiting up to 5 s for the
/// parent to reap).
#[track_caller]
fn assert_no_zombies(apache: &Apache) {
    assert!(
        wait_until(SECS5, || zombies_of(apache.pid()).is_empty()),
        "zombies: {:?}",
        zombies_of(apache.pid())
    );
}

fn get_status(port: u16, path: &str) -> u16 {
    Client::new(port, false).get(path).map_or(0, |(s, _)| s)
}

/// An Apache with one daemon group (processes=2 threads=8, display name
/// `(wsgi:{name})`) at `/`, serving; its one socket file.
fn bench_server(
    name: &str,
) -> (
    TestDir,
    Apache,
    std::collections::BTreeMap<String, (u64, i64, i64)>,
) {
    let dir = TestDir::new(&format!("daemon-{name}"));
    dir.write("app.wsgi", APP);
    let conf = ApacheConfig::new(&format!(
        "WSGIRestrictEmbedded On\n\
         WSGISocketRotation Off\n\
         WSGIDaemonProcess bench {}processes=2 threads=8 display-name=(wsgi:{name})\n\
         WSGIScriptAlias / {{dir}}/app.wsgi process-group=bench application-group=%{{GLOBAL}}\n",
        daemon_user()
    ))
    .threads(8, 2);
    let apache = Apache::start(&dir, &conf);
    let port = apache.port;
    assert!(
        wait_until(Duration::from_secs(10), || get_status(port, "/") == 200),
        "{}",
        apache.error_log()
    );
    let sockets = socket_files(&dir);
    assert_eq!(sockets.len(), 1, "{sockets:?}");
    (dir, apache, sockets)
}

#[test]
fn graceful_restarts_under_load_lose_nothing() {
    let (dir, mut apache, sockets) = bench_server("gr-bench");
    let port = apache.port;

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut clients = load(port, "/", true, 3, &stop, &tally);
    clients.extend(load(port, "/", false, 2, &stop, &tally));
    std::thread::sleep(Duration::from_millis(500));

    let mut old_generations: HashSet<i32> = HashSet::new();
    let mut sleeper = None;
    for i in 0..5 {
        if i == 2 {
            // Starts just before the restart and outlives it by far.
            sleeper = Some(std::thread::spawn(move || {
                let started = Instant::now();
                let r = Client::new(port, false).get("/sleep?2");
                (r, started.elapsed())
            }));
            std::thread::sleep(Duration::from_millis(300));
        }
        old_generations.extend(pids_with_cmdline("(wsgi:gr-bench)"));
        apache.signal(libc::SIGUSR1);
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(
            socket_files(&dir),
            sockets,
            "the socket changed at restart {i}"
        );
    }
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Release);
    for c in clients {
        c.join().unwrap();
    }
    let (r, took) = sleeper.unwrap().join().unwrap();
    let t = tally.lock().unwrap();
    let log = apache.error_log();
    assert!(
        t.failures.is_empty() && t.other_status.is_empty(),
        "{} ok, failures {:?}, statuses {:?}\n{log}",
        t.ok,
        t.failures,
        t.other_status
    );
    assert!(t.ok > 200, "only {} requests completed\n{log}", t.ok);
    eprintln!(
        "{} requests, {} keep-alive retries, 0 failed",
        t.ok, t.retries
    );
    let (status, body) = r.unwrap_or_else(|e| panic!("in-flight request failed: {e}\n{log}"));
    assert_eq!(status, 200, "{log}");
    assert!(took >= Duration::from_secs(2), "{took:?}");
    let served_by: i32 = String::from_utf8_lossy(&body).parse().unwrap();
    assert!(
        old_generations.contains(&served_by),
        "/sleep was served by {served_by}, not an old daemon {old_generations:?}"
    );

    // The old generations drain and are reaped: two daemons remain, both
    // new; no zombie is left among Apache's children.
    assert!(
        wait_until(Duration::from_secs(15), || {
            let now = pids_with_cmdline("(wsgi:gr-bench)");
            now.len() == 2 && now.iter().all(|p| !old_generations.contains(p))
        }),
        "old daemons still running: {:?} (old: {old_generations:?})\n{}",
        pids_with_cmdline("(wsgi:gr-bench)"),
        apache.error_log()
    );
    assert_no_zombies(&apache);
    for p in &old_generations {
        assert!(!exists(*p), "old daemon {p} still exists");
    }
    let log = apache.error_log();
    assert!(log.contains("of an earlier generation has exited"), "{log}");
    for bad in [
        "long lost child",
        "no record of generation",
        "before saying hello",
        "Unable to connect",
    ] {
        assert!(!log.contains(bad), "{bad}:\n{log}");
    }

    // Stop: no daemon, no socket file.
    apache.stop();
    assert!(pids_with_cmdline("(wsgi:gr-bench)").is_empty());
    assert!(socket_files(&dir).is_empty(), "{:?}", socket_files(&dir));
}

#[test]
fn a_hard_restart_keeps_the_socket_and_replaces_the_daemons() {
    let (dir, mut apache, sockets) = bench_server("gr-hard");
    let port = apache.port;
    let before = pids_with_cmdline("(wsgi:gr-hard)");
    apache.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(20), || {
            get_status(port, "/") == 200
                && pids_with_cmdline("(wsgi:gr-hard)")
                    .iter()
                    .all(|p| !before.contains(p))
        }),
        "{}",
        apache.error_log()
    );
    assert_eq!(socket_files(&dir), sockets);
    for p in &before {
        assert!(!exists(*p));
    }
    assert_no_zombies(&apache);

    // Stop: no daemon, no socket file.
    apache.stop();
    assert!(pids_with_cmdline("(wsgi:gr-hard)").is_empty());
    assert!(socket_files(&dir).is_empty(), "{:?}", socket_files(&dir));
}

#[test]
fn removed_group_is_stopped_and_new_group_works() {
    let dir = TestDir::new("daemon-regroup");
    dir.write("app.wsgi", APP);
    let before = ApacheConfig::new(&format!(
        "WSGIRestrictEmbedded On\n\
         WSGIDaemonProcess keep {u}threads=2 display-name=(wsgi:rg-keep)\n\
         WSGIDaemonProcess gone {u}threads=2 display-name=(wsgi:rg-gone)\n\
         WSGIDaemonProcess changed {u}threads=2 receive-buffer-size=65536\n\
         WSGIScriptAlias /keep {{dir}}/app.wsgi process-group=keep application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /gone {{dir}}/app.wsgi process-group=gone application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /changed {{dir}}/app.wsgi process-group=changed application-group=%{{GLOBAL}}\n",
        u = daemon_user()
    ));
    let mut apache = Apache::start(&dir, &before);
    let port = apache.port;
    assert!(wait_until(Duration::from_secs(10), || {
        get_status(port, "/keep/") == 200 && get_status(port, "/gone/") == 200
    }));
    let sockets = socket_files(&dir);
    assert_eq!(sockets.len(), 3, "{sockets:?}");
    let changed_sock = sockets
        .iter()
        .find(|(n, _)| n.ends_with(".changed.sock"))
        .map(|(n, i)| (n.clone(), *i))
        .unwrap();
    let keep_sock = sockets
        .iter()
        .find(|(n, _)| n.ends_with(".keep.sock"))
        .map(|(n, i)| (n.clone(), *i))
        .unwrap();
    assert!(!pids_with_cmdline("(wsgi:rg-gone)").is_empty());

    let after = ApacheConfig::new(&format!(
        "WSGIRestrictEmbedded On\n\
         WSGIDaemonProcess keep {u}threads=2 display-name=(wsgi:rg-keep)\n\
         WSGIDaemonProcess added {u}threads=2 display-name=(wsgi:rg-added)\n\
         WSGIDaemonProcess changed {u}threads=2 receive-buffer-size=131072\n\
         WSGIScriptAlias /keep {{dir}}/app.wsgi process-group=keep application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /added {{dir}}/app.wsgi process-group=added application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /changed {{dir}}/app.wsgi process-group=changed application-group=%{{GLOBAL}}\n",
        u = daemon_user()
    ));
    // Load on the group whose socket is replaced (its settings changed) and
    // on the one that keeps its socket: nothing may fail either way.
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut clients = load(port, "/changed/", true, 2, &stop, &tally);
    clients.extend(load(port, "/keep/", false, 1, &stop, &tally));
    std::thread::sleep(Duration::from_millis(300));
    apache.reconfigure(&after);
    apache.signal(libc::SIGUSR1);
    assert!(
        wait_until(Duration::from_secs(20), || get_status(port, "/added/")
            == 200),
        "{}",
        apache.error_log()
    );
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Release);
    for c in clients {
        c.join().unwrap();
    }
    {
        let t = tally.lock().unwrap();
        assert!(
            t.failures.is_empty() && t.other_status.is_empty() && t.ok > 0,
            "{} ok, failures {:?}, statuses {:?}\n{}",
            t.ok,
            t.failures,
            t.other_status,
            apache.error_log()
        );
    }
    assert_eq!(get_status(port, "/keep/"), 200);
    assert_eq!(get_status(port, "/gone/"), 404);
    let now = socket_files(&dir);
    assert_eq!(now.len(), 3, "{now:?}");
    assert!(
        now.get(&changed_sock.0)
            .is_some_and(|i| *i != changed_sock.1),
        "the changed group's socket was not replaced: {now:?}"
    );
    assert_eq!(now.get(&keep_sock.0), Some(&keep_sock.1), "{now:?}");
    assert!(now.keys().any(|n| n.ends_with(".added.sock")), "{now:?}");
    assert!(!now.keys().any(|n| n.ends_with(".gone.sock")), "{now:?}");
    assert!(
        wait_until(Duration::from_secs(10), || pids_with_cmdline(
            "(wsgi:rg-gone)"
        )
        .is_empty()),
        "{}",
        apache.error_log()
    );
    assert!(
        apache.error_log().contains("Closed the socket")
            && apache
                .error_log()
                .contains("of daemon process group 'gone'"),
        "{}",
        apache.error_log()
    );
    assert_no_zombies(&apache);

    apache.stop();
    for name in ["(wsgi:rg-keep)", "(wsgi:rg-added)", "(wsgi:rg-gone)"] {
        assert!(pids_with_cmdline(name).is_empty(), "{name} left running");
    }
    assert!(socket_files(&dir).is_empty(), "{:?}", socket_files(&dir));
}

/// An Apache with one slow-draining daemon group (graceful-timeout=30,
/// shutdown-timeout=1, display name `(wsgi:{name})`), serving.
fn draining_server(name: &str) -> (TestDir, Apache) {
    let dir = TestDir::new(&format!("daemon-{name}"));
    dir.write("app.wsgi", APP);
    let conf = ApacheConfig::new(&format!(
        "WSGIRestrictEmbedded On\n\
         WSGIDaemonProcess slow {}threads=2 graceful-timeout=30 shutdown-timeout=1 display-name=(wsgi:{name})\n\
         WSGIScriptAlias / {{dir}}/app.wsgi process-group=slow application-group=%{{GLOBAL}}\n",
        daemon_user()
    ));
    let apache = Apache::start(&dir, &conf);
    let port = apache.port;
    assert!(wait_until(Duration::from_secs(10), || get_status(
        port, "/"
    ) == 200));
    (dir, apache)
}

/// A request of `secs` seconds, in flight when this returns.
fn in_flight(port: u16, secs: u32) -> std::thread::JoinHandle<Result<(u16, String), String>> {
    let h = std::thread::spawn(move || {
        Client::new(port, false)
            .get(&format!("/sleep?{secs}"))
            .map(|(s, b)| (s, String::from_utf8_lossy(&b).into_owned()))
    });
    std::thread::sleep(Duration::from_millis(300));
    h
}

#[test]
fn a_hard_restart_stops_a_draining_old_daemon_within_shutdown_timeout() {
    let (_dir, apache) = draining_server("ds-hard");
    let port = apache.port;
    // Graceful restart with a long request in flight: the old daemon drains
    // (graceful-timeout=30); a hard restart then stops it within
    // shutdown-timeout, and it is reaped.
    let old = pids_with_cmdline("(wsgi:ds-hard)");
    let long = in_flight(port, 20);
    apache.signal(libc::SIGUSR1);
    assert!(wait_until(Duration::from_secs(10), || {
        get_status(port, "/") == 200 && pids_with_cmdline("(wsgi:ds-hard)").len() == 2
    }));
    assert_eq!(
        pids_with_cmdline("(wsgi:ds-hard)")
            .iter()
            .filter(|p| old.contains(p))
            .count(),
        1,
        "the old daemon should still be draining"
    );
    // httpd itself first waits (up to ~9 s, then SIGKILL) for the Apache
    // child whose request is still running; then the old daemon gets SIGTERM
    // and shutdown-timeout (1 s), long before its request would end.
    let started = Instant::now();
    apache.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(16), || {
            get_status(port, "/") == 200
                && pids_with_cmdline("(wsgi:ds-hard)").len() == 1
                && old.iter().all(|p| !exists(*p))
        }),
        "{:?} {old:?}\n{}",
        pids_with_cmdline("(wsgi:ds-hard)"),
        apache.error_log()
    );
    assert!(started.elapsed() < Duration::from_secs(16));
    // A hard restart cuts requests: that one did not complete normally.
    assert!(!matches!(long.join().unwrap(), Ok((200, _))));
    assert_no_zombies(&apache);
}

#[test]
fn stop_right_after_a_graceful_restart_leaves_nothing() {
    let (dir, mut apache) = draining_server("ds-stop");
    let port = apache.port;
    // Stop right after a graceful restart with a request in flight: the
    // draining daemon is stopped too, and nothing is left.
    let long = in_flight(port, 3);
    apache.signal(libc::SIGUSR1);
    assert!(wait_until(Duration::from_secs(10), || pids_with_cmdline(
        "(wsgi:ds-stop)"
    )
    .len()
        == 2));
    let started = Instant::now();
    apache.stop();
    assert!(started.elapsed() < Duration::from_secs(12));
    let _ = long.join();
    assert!(
        pids_with_cmdline("(wsgi:ds-stop)").is_empty(),
        "{:?}",
        pids_with_cmdline("(wsgi:ds-stop)")
    );
    assert!(socket_files(&dir).is_empty(), "{:?}", socket_files(&dir));
}

#[test]
fn a_restart_with_a_broken_configuration_leaves_no_socket() {
    let dir = TestDir::new("daemon-broken-restart");
    dir.write("app.wsgi", APP);
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess br {}threads=1 display-name=(wsgi:br-one)\n\
         WSGIScriptAlias / {{dir}}/app.wsgi process-group=br application-group=%{{GLOBAL}}\n",
        daemon_user()
    ));
    let mut apache = Apache::start(&dir, &conf);
    let port = apache.port;
    assert!(wait_until(Duration::from_secs(10), || get_status(
        port, "/"
    ) == 200));
    assert_eq!(socket_files(&dir).len(), 1);
    // httpd exits when the new configuration cannot be read, after this
    // module's configuration pool (and the module) went away.
    apache.reconfigure(&ApacheConfig::new("WSGIDaemonProcess\n"));
    apache.signal(libc::SIGUSR1);
    assert!(
        wait_until(Duration::from_secs(10), || !apache.is_running()),
        "{}",
        apache.error_log()
    );
    assert!(socket_files(&dir).is_empty(), "{:?}", socket_files(&dir));
    assert!(
        wait_until(Duration::from_secs(10), || pids_with_cmdline(
            "(wsgi:br-one)"
        )
        .is_empty()),
        "daemon left running"
    );
}

#[test]
fn an_old_daemon_that_never_exits_is_killed_and_reaped() {
    let dir = TestDir::new("daemon-hung");
    dir.write("app.wsgi", APP);
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess hung {}threads=1 graceful-timeout=1 shutdown-timeout=1 display-name=(wsgi:hung-one)\n\
         WSGIScriptAlias / {{dir}}/app.wsgi process-group=hung application-group=%{{GLOBAL}}\n",
        daemon_user()
    ));
    let apache = Apache::start(&dir, &conf);
    let port = apache.port;
    assert!(wait_until(Duration::from_secs(10), || get_status(
        port, "/"
    ) == 200));
    let old = pids_with_cmdline("(wsgi:hung-one)");
    assert_eq!(old.len(), 1);
    // Stopped, it cannot drain or exit by itself.
    // SAFETY: a signal to a daemon process of this test's Apache.
    unsafe { libc::kill(old[0], libc::SIGSTOP) };
    apache.signal(libc::SIGUSR1);
    assert!(wait_until(Duration::from_secs(10), || get_status(
        port, "/"
    ) == 200));
    // graceful-timeout + shutdown-timeout + 5 s, checked by the monitor
    // hook about every 10 s.
    assert!(
        wait_until(Duration::from_secs(30), || !exists(old[0])),
        "{}",
        apache.error_log()
    );
    let log = apache.error_log();
    assert!(
        log.contains("is still running past graceful-timeout + shutdown-timeout; killing it"),
        "{log}"
    );
    // The parent reaps it, then logs that (the process is gone first).
    assert!(
        apache.wait_for_log("of an earlier generation has exited", SECS5),
        "{}",
        apache.error_log()
    );
    assert_eq!(get_status(port, "/"), 200);
}
