//! Daemon mode lifecycle: crashes explained and respawned, maximum-requests
//! recycling, threads and processes, graceful and hard restarts, a group that
//! cannot start, WSGIImportScript into a daemon, WSGIRestrictEmbedded, Flask
//! from a venv through python-home=, and configtest errors.

mod common;

use std::time::{Duration, Instant};

use common::*;

const APP: &str = include_str!("apps/daemon.wsgi");

fn pid_of(apache: &Apache, path: &str) -> i32 {
    let r = apache.get(path);
    assert_eq!(r.status, 200, "{}\n{}", r.text(), apache.error_log());
    json_field(&r.text(), "pid").parse().unwrap()
}

/// An Apache with three daemon groups (`life`: threads=4 with an import
/// script; `recycle`: maximum-requests=3; `pair`: processes=2), embedded
/// mode refused, and an alias naming an undefined group. Display names
/// carry `tag`, so that each test finds its own daemons.
fn lifecycle_server(tag: &str) -> (TestDir, Apache) {
    let dir = TestDir::new(&format!("daemon-life-{tag}"));
    dir.write("app.wsgi", APP);
    dir.write(
        "preload.py",
        "import sys\nsys._daemon_test_imported = 'yes'\n\ndef application(e, s):\n    s('200 OK', [])\n    return [b'']\n",
    );
    let conf = ApacheConfig::new(&format!(
        "WSGIRestrictEmbedded On\n\
         WSGIDaemonProcess life {u}threads=4 display-name=(wsgi:{tag}-life)\n\
         WSGIDaemonProcess recycle {u}threads=2 maximum-requests=3 display-name=(wsgi:{tag}-recycle)\n\
         WSGIDaemonProcess pair {u}processes=2 threads=1 display-name=(wsgi:{tag}-pair)\n\
         WSGIImportScript {{dir}}/preload.py process-group=life application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /life {{dir}}/app.wsgi process-group=life application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /recycle {{dir}}/app.wsgi process-group=recycle application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /pair {{dir}}/app.wsgi process-group=pair application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /nogroup {{dir}}/app.wsgi process-group=missing application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /embedded {{dir}}/app.wsgi\n",
        u = daemon_user()
    ));
    let apache = Apache::start(&dir, &conf);
    (dir, apache)
}

/// `n` concurrent GETs of `path`, each on its own connection; their
/// responses in the order the requests were started.
fn concurrent_gets(apache: &Apache, path: &str, n: usize) -> Vec<Response> {
    let port = apache.port;
    let path = path.to_string();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            std::thread::spawn(move || parse_response(&exchange(port, head.as_bytes()), false))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn import_script_runs_in_the_daemon_before_its_first_request() {
    let (_dir, apache) = lifecycle_server("import");
    let info = apache.get("/life/info").text();
    assert_eq!(json_field(&info, "imported"), "yes", "{info}");
}

#[test]
fn restrict_embedded_refuses_embedded_mode_but_not_daemons() {
    let (_dir, apache) = lifecycle_server("restrict");
    assert_eq!(apache.get("/embedded/info").status, 500);
    assert!(
        apache
            .error_log()
            .contains("Embedded mode of mod_wsgi disabled"),
        "{}",
        apache.error_log()
    );
    assert_eq!(apache.get("/life/info").status, 200);
}

#[test]
fn an_undefined_process_group_is_a_500_with_mod_wsgi_s_message() {
    let (_dir, apache) = lifecycle_server("nogroup");
    assert_eq!(apache.get("/nogroup/info").status, 500);
    assert!(
        apache.wait_for_log(
            "No WSGI daemon process called 'missing' has been configured",
            SECS5
        ),
        "{}",
        apache.error_log()
    );
}

#[test]
fn threads_4_run_four_requests_at_once() {
    let (_dir, apache) = lifecycle_server("threads");
    // Four 1-second requests overlap.
    let started = Instant::now();
    for r in concurrent_gets(&apache, "/life/sleep?1", 4) {
        assert_eq!(r.status, 200, "{}", apache.error_log());
    }
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "threads=4 did not overlap: {:?}",
        started.elapsed()
    );
}

#[test]
fn processes_2_spread_requests_over_two_processes() {
    let (_dir, apache) = lifecycle_server("processes");
    // Concurrent requests are spread over two processes.
    let mut pids: Vec<String> = concurrent_gets(&apache, "/pair/sleep?0.5", 2)
        .iter()
        .map(Response::text)
        .collect();
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert_eq!(
        json_field(&apache.get("/pair/info").text(), "multiprocess"),
        "true"
    );
    assert_eq!(
        json_field(&apache.get("/pair/info").text(), "multithread"),
        "false"
    );
}

#[test]
fn a_killed_daemon_is_a_502_naming_the_signal_and_is_replaced() {
    let (_dir, apache) = lifecycle_server("kill");
    let before = pid_of(&apache, "/life/info");
    let r = apache.get("/life/kill");
    assert_eq!(r.status, 502, "{}", apache.error_log());
    assert!(
        apache.wait_for_log(&format!("Daemon process 'life' (pid {before})"), SECS5),
        "{}",
        apache.error_log()
    );
    let line = apache
        .error_log()
        .lines()
        .find(|l| l.contains(&format!("(pid {before})")) && l.contains("[client"))
        .unwrap_or_default()
        .to_string();
    assert!(line.contains("signal 9 (SIGKILL)"), "{line}");
    assert_ne!(pid_of(&apache, "/life/info"), before);
}

#[test]
fn a_daemon_that_exits_is_a_502_naming_the_status_and_is_replaced() {
    let (_dir, apache) = lifecycle_server("exit");
    let before = pid_of(&apache, "/life/info");
    // os._exit(3): the exit status.
    let r = apache.get("/life/exit");
    assert_eq!(r.status, 502, "{}", apache.error_log());
    assert!(
        apache.wait_for_log(
            &format!("Daemon process 'life' (pid {before}) exited with status 3"),
            SECS5
        ),
        "{}",
        apache.error_log()
    );
    assert_eq!(apache.get("/life/").status, 200, "{}", apache.error_log());
    assert_ne!(pid_of(&apache, "/life/info"), before);
}

#[test]
fn maximum_requests_recycles_the_process() {
    let (_dir, apache) = lifecycle_server("recycle");
    // maximum-requests=3: a new process after three requests, none failing.
    let first = pid_of(&apache, "/recycle/info");
    let mut seen = vec![first];
    for _ in 0..8 {
        let p = pid_of(&apache, "/recycle/info");
        if !seen.contains(&p) {
            seen.push(p);
        }
    }
    assert!(seen.len() >= 2, "never recycled: {seen:?}");
    assert!(
        apache.wait_for_log("recycled after maximum-requests", SECS5),
        "{}",
        apache.error_log()
    );
}

#[test]
fn restarts_replace_the_daemons_keep_the_sockets_and_stop_leaves_nothing() {
    let (dir, mut apache) = lifecycle_server("restart");
    // Graceful restarts (x3) and a hard restart: requests keep working, old
    // daemons go away, sockets are not left behind.
    for sig in [libc::SIGUSR1, libc::SIGUSR1, libc::SIGUSR1, libc::SIGHUP] {
        let old = pid_of(&apache, "/life/info");
        apache.signal(sig);
        assert!(
            wait_until(Duration::from_secs(20), || {
                let r = apache.get("/life/info");
                r.status == 200 && json_field(&r.text(), "pid").parse::<i32>().unwrap() != old
            }),
            "no new daemon after restart:\n{}",
            apache.error_log()
        );
        // After a graceful restart the old daemon drains (here: nothing to
        // finish) and exits by itself; the parent does not wait for it.
        assert!(
            wait_until(SECS10, || !running(old)),
            "old daemon {old} still running"
        );
        assert_eq!(socket_names(&dir).len(), 3, "{:?}", socket_names(&dir));
    }
    assert!(apache.is_running());
    drop(apache);
    for name in [
        "(wsgi:restart-life)",
        "(wsgi:restart-recycle)",
        "(wsgi:restart-pair)",
    ] {
        assert!(pids_with_cmdline(name).is_empty(), "{name} left running");
    }
    assert!(socket_names(&dir).is_empty(), "{:?}", socket_names(&dir));
}

#[test]
fn a_group_that_cannot_start_gets_503_within_connect_timeout() {
    let dir = TestDir::new("daemon-broken");
    dir.write("app.wsgi", APP);
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess broken {}python-home=/nonexistent/venv connect-timeout=2\n\
         WSGIScriptAlias /b {{dir}}/app.wsgi process-group=broken\n",
        daemon_user()
    ));
    let apache = Apache::start(&dir, &conf);
    let started = Instant::now();
    let r = apache.get("/b/info");
    assert_eq!(r.status, 503, "{}", apache.error_log());
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    let log = apache.error_log();
    assert!(
        log.contains("python-home: '/nonexistent/venv' does not exist"),
        "{log}"
    );
    assert!(
        log.contains("WSGI daemon process group 'broken'")
            || log.contains("daemon process 'broken'"),
        "{log}"
    );
    assert!(log.contains("connect-timeout (2s)"), "{log}");
}

#[test]
fn flask_from_a_venv_via_python_home() {
    let venv = test_venv();
    let dir = TestDir::new("daemon-flask");
    dir.write("flask_app.wsgi", include_str!("apps/flask_app.wsgi"));
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess flask {}python-home={} threads=2\n\
         WSGIProcessGroup flask\n\
         WSGIApplicationGroup %{{GLOBAL}}\n\
         WSGIScriptAlias /f {{dir}}/flask_app.wsgi\n",
        daemon_user(),
        venv.display()
    ));
    let apache = Apache::start(&dir, &conf);
    let r = apache.get("/f/");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), apache.error_log());
}

#[test]
fn configtest_checks_daemon_options() {
    let (ok, out) = configtest("WSGIDaemonProcess good processes=2 threads=5 maximum-requests=100");
    assert!(ok, "{out}");
    each_case(
        [
            ("WSGIDaemonProcess a thread=5", "unknown option 'thread'"),
            (
                "WSGIDaemonProcess a threads=many",
                "expected a number of threads",
            ),
            ("WSGIDaemonProcess a user=root", "user=root is not allowed"),
            ("WSGIDaemonProcess a\nWSGIDaemonProcess a", "already used"),
            (
                "WSGIImportScript /x.py process-group=nope application-group=%{GLOBAL}",
                "process group 'nope' is not defined",
            ),
        ],
        |(line, expect)| {
            let (ok, out) = configtest(line);
            assert!(!ok, "{line} accepted");
            assert!(out.contains(expect), "{line}: {out}");
        },
    );
}

/// WSGIRestrictProcess: a request may only go to the groups listed for
/// its location (`%{GLOBAL}`: embedded mode); any other is mod_wsgi's 500.
#[test]
fn restrict_process_limits_the_groups_a_location_may_use() {
    let dir = TestDir::new("daemon-restrict-process");
    dir.write("app.wsgi", APP);
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess web {u}threads=2 display-name=(wsgi:restrict-web)\n\
         WSGIScriptAlias /allowed {{dir}}/app.wsgi process-group=web application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /refused {{dir}}/app.wsgi process-group=web application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /embedded {{dir}}/app.wsgi process-group=%{{GLOBAL}} application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /embedded-refused {{dir}}/app.wsgi process-group=%{{GLOBAL}} application-group=%{{GLOBAL}}\n\
         <Location /allowed>\n    WSGIRestrictProcess web\n</Location>\n\
         <Location /refused>\n    WSGIRestrictProcess other %{{GLOBAL}}\n</Location>\n\
         <Location /embedded>\n    WSGIRestrictProcess web %{{GLOBAL}}\n</Location>\n\
         <Location /embedded-refused>\n    WSGIRestrictProcess web\n</Location>\n",
        u = daemon_user()
    ));
    let apache = Apache::start(&dir, &conf);
    let daemon = pid_of(&apache, "/allowed/info");
    assert_ne!(daemon, apache.pid());
    let embedded = pid_of(&apache, "/embedded/info");
    assert_ne!(embedded, daemon, "embedded mode runs in an Apache child");
    for (path, group) in [("/refused/info", "web"), ("/embedded-refused/info", "")] {
        assert_eq!(apache.get(path).status, 500, "{path}");
        let line = format!(
            "Daemon process called '{group}' cannot be accessed by this WSGI application as not a member of allowed groups"
        );
        assert!(
            apache.wait_for_log(&line, SECS5),
            "{path}: {}",
            apache.error_log()
        );
    }
    apache.assert_no_crash();
}

/// WSGIIgnoreActivity On: requests there (health checks) do not keep a
/// daemon from its inactivity-timeout; other requests do.
#[test]
fn ignored_activity_does_not_hold_off_inactivity_timeout() {
    let dir = TestDir::new("daemon-ignore-activity");
    dir.write("app.wsgi", APP);
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess idle {u}threads=2 inactivity-timeout=2 display-name=(wsgi:ignore-idle)\n\
         WSGIScriptAlias /app {{dir}}/app.wsgi process-group=idle application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /health {{dir}}/app.wsgi process-group=idle application-group=%{{GLOBAL}}\n\
         <Location /health>\n    WSGIIgnoreActivity On\n</Location>\n",
        u = daemon_user()
    ));
    let apache = Apache::start(&dir, &conf);
    // Requests every 0.4 s for 3.5 s (past the 2 s timeout): one process.
    let first = pid_of(&apache, "/app/info");
    let until = Instant::now() + Duration::from_millis(3500);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(
            pid_of(&apache, "/app/info"),
            first,
            "{}",
            apache.error_log()
        );
    }
    assert_eq!(
        apache.log_lines_with(&["recycled after inactivity-timeout"]),
        0,
        "{}",
        apache.error_log()
    );
    // Health checks only, at the same pace: the process is recycled.
    let until = Instant::now() + Duration::from_secs(10);
    let mut replaced = false;
    while Instant::now() < until && !replaced {
        std::thread::sleep(Duration::from_millis(400));
        replaced = pid_of(&apache, "/health/info") != first;
    }
    assert!(
        replaced,
        "health checks kept the daemon:\n{}",
        apache.error_log()
    );
    assert!(
        apache.wait_for_log("recycled after inactivity-timeout", SECS5),
        "{}",
        apache.error_log()
    );
    apache.assert_no_crash();
}
