//! Deploying by touching the WSGI script (WSGIScriptReloading On, the
//! default), as mod_wsgi: in daemon mode the process that notices the change
//! stops accepting and restarts, the request that noticed it is sent again
//! to a fresh process (no client sees an error), requests in flight finish,
//! and every other process of the group restarts as it notices the change;
//! a fresh process imports everything anew (the helper module the script
//! imports, too). Embedded mode reloads only the script, in place. Also the
//! respawn policy: a daemon that had started is replaced at once, one that
//! dies during start-up after a growing delay.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use common::*;

/// The application: its pid, the helper module's value, the script's own
/// version and the request body's length; `?sleep=S` first sleeps.
const APP: &str = r#"
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import helper

SCRIPT = 'v1'


def application(environ, start_response):
    query = environ.get('QUERY_STRING', '')
    if query.startswith('sleep='):
        time.sleep(float(query[6:]))
    n = 0
    if environ['REQUEST_METHOD'] == 'POST':
        n = len(environ['wsgi.input'].read())
    body = ('%d %s %s %d' % (os.getpid(), helper.VALUE, SCRIPT, n)).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
"#;

/// The helper module, old and new (different sizes: Python's bytecode
/// cache, where it may write one, compares size and whole seconds).
const HELPER_OLD: &str = "VALUE = 'old'\n";
const HELPER_NEW: &str = "VALUE = 'brand-new'\n";

/// One response of the application.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    pid: i32,
    helper: String,
    script: String,
    body_len: usize,
}

fn parse_seen(body: &[u8]) -> Option<Seen> {
    let text = String::from_utf8_lossy(body);
    let f: Vec<&str> = text.split(' ').collect();
    match f[..] {
        [pid, helper, script, n] => Some(Seen {
            pid: pid.parse().ok()?,
            helper: helper.to_string(),
            script: script.to_string(),
            body_len: n.parse().ok()?,
        }),
        _ => None,
    }
}

fn seen_by_get(apache: &Apache, path: &str) -> Seen {
    let r = apache.get(path);
    assert_eq!(r.status, 200, "{}\n{}", r.text(), apache.error_log());
    parse_seen(&r.body).unwrap_or_else(|| panic!("unexpected body {:?}", r.text()))
}

/// Sets `path`'s modification time to now, as `touch` does.
fn touch(path: &str) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now()).unwrap();
}

/// A POST of `body` on a new connection; any failure is an `Err`.
fn post(port: u16, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(30)));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(body))
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("read: {e}"))?;
    let r = parse_response(&raw, false);
    if !r.complete {
        return Err(format!(
            "incomplete response: {:?}",
            String::from_utf8_lossy(&raw)
        ));
    }
    Ok((r.status, r.body))
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    /// Each distinct response and how often it came.
    seen: BTreeMap<Seen, u64>,
    /// Every response that was not a 200 with the application's body, and
    /// every request that failed.
    failures: Vec<String>,
    /// Requests resent on a reused keep-alive connection that Apache had
    /// closed (what any HTTP client does; not a failure).
    retries: u64,
}

/// Client threads looping on `path` until stopped: `keep_alive` clients
/// reusing their connection, and `posters` sending a 100 KiB body each time.
struct Traffic {
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    threads: Vec<JoinHandle<()>>,
}

const POST_BODY: usize = 100 << 10;

impl Traffic {
    fn start(port: u16, path: &'static str, keep_alive: usize, posters: usize) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let mut threads = Vec::new();
        for i in 0..keep_alive + posters {
            let (stop, tally) = (stop.clone(), tally.clone());
            let posting = i >= keep_alive;
            threads.push(std::thread::spawn(move || {
                let mut c = Client::new(port, true);
                let body = vec![b'p'; POST_BODY];
                while !stop.load(Ordering::Acquire) {
                    let r = if posting {
                        post(port, path, &body)
                    } else {
                        c.get(path)
                    };
                    let mut t = tally.lock().unwrap();
                    match r {
                        Ok((200, b)) => match parse_seen(&b) {
                            Some(s) if s.body_len == if posting { POST_BODY } else { 0 } => {
                                *t.seen.entry(s).or_default() += 1;
                            }
                            _ => t
                                .failures
                                .push(format!("200 with {:?}", String::from_utf8_lossy(&b))),
                        },
                        Ok((status, b)) => t
                            .failures
                            .push(format!("{status}: {}", String::from_utf8_lossy(&b))),
                        Err(e) => t.failures.push(e),
                    }
                }
                tally.lock().unwrap().retries += c.retries;
            }));
        }
        Traffic {
            stop,
            tally,
            threads,
        }
    }

    /// The responses so far.
    fn seen(&self) -> BTreeMap<Seen, u64> {
        self.tally.lock().unwrap().seen.clone()
    }

    fn total(&self) -> u64 {
        self.tally.lock().unwrap().seen.values().sum()
    }

    fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Release);
        for t in self.threads {
            t.join().expect("a client thread panicked");
        }
        Arc::try_unwrap(self.tally)
            .ok()
            .expect("client threads joined")
            .into_inner()
            .unwrap()
    }
}

/// An Apache (`mpm`) with the application at `/app` in the daemon group
/// `deploy` (`processes`, threads=4), display name `(wsgi:{tag})`.
fn daemon_server(tag: &str, mpm: Mpm, processes: u32) -> (TestDir, Apache) {
    let dir = TestDir::new(tag);
    dir.write("helper.py", HELPER_OLD);
    dir.write("app.wsgi", APP);
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess deploy {}processes={processes} threads=4 display-name=(wsgi:{tag})\n\
         WSGIScriptAlias /app {{dir}}/app.wsgi process-group=deploy application-group=%{{GLOBAL}}\n",
        daemon_user()
    ))
    .mpm(mpm)
    // Enough Apache workers for every client thread at once (prefork: one
    // process per keep-alive connection).
    .threads(8, if mpm == Mpm::Prefork { 8 } else { 1 });
    let apache = Apache::start(&dir, &conf);
    (dir, apache)
}

/// The new helper goes in and the script is touched while clients loop on
/// it (one request in flight for a while): the group ends up on the new
/// code in new processes, every response is old code from an old process or
/// new code from a new one, and no request fails.
fn deploy_under_load(tag: &str, mpm: Mpm, processes: u32) {
    let (dir, apache) = daemon_server(tag, mpm, processes);
    let first = seen_by_get(&apache, "/app");
    assert_eq!(
        (first.helper.as_str(), first.script.as_str()),
        ("old", "v1")
    );
    let old_pids: BTreeSet<i32> = pids_with_cmdline(&format!("(wsgi:{tag})"))
        .into_iter()
        .collect();
    assert_eq!(old_pids.len(), processes as usize, "{old_pids:?}");

    let traffic = Traffic::start(apache.port, "/app", 4, 1);
    assert!(
        wait_until(SECS10, || traffic.total() >= 50),
        "no traffic:\n{}",
        apache.error_log()
    );
    // In flight across the restart: it finishes in its old process.
    let port = apache.port;
    let in_flight = std::thread::spawn(move || Client::new(port, false).get("/app?sleep=1.5"));
    std::thread::sleep(Duration::from_millis(300));

    dir.write("helper.py", HELPER_NEW);
    touch(&dir.path("app.wsgi"));
    let touched = Instant::now();

    // Every process of the group is replaced and serves the new code.
    let new_pids = || -> BTreeSet<i32> {
        traffic
            .seen()
            .keys()
            .filter(|s| s.helper == "brand-new")
            .map(|s| s.pid)
            .collect()
    };
    let replaced = wait_until(Duration::from_secs(30), || {
        new_pids().len() >= processes as usize && old_pids.iter().all(|&p| !running(p))
    });
    let (status, body) = in_flight
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("the request in flight failed: {e}\n{}", apache.error_log()));
    // Some more requests on the new processes.
    let settled = traffic.total();
    assert!(
        wait_until(SECS10, || traffic.total() >= settled + 50),
        "traffic stopped:\n{}",
        apache.error_log()
    );
    let tally = traffic.finish();
    let log = apache.error_log();
    assert!(
        replaced,
        "after {:?}: responses {:?}, old daemons running: {:?}\n{log}",
        touched.elapsed(),
        tally.seen,
        old_pids.iter().filter(|&&p| running(p)).collect::<Vec<_>>()
    );
    assert!(
        tally.failures.is_empty(),
        "{} failed requests (of {}): {:?}\n{log}",
        tally.failures.len(),
        tally.seen.values().sum::<u64>() + tally.failures.len() as u64,
        &tally.failures[..tally.failures.len().min(10)]
    );
    // The request in flight ran to its end in an old process.
    assert_eq!(status, 200, "{log}");
    let slow = parse_seen(&body).unwrap();
    assert!(old_pids.contains(&slow.pid), "{slow:?} {old_pids:?}");
    assert_eq!(slow.helper, "old");
    // Old code only from old processes, new code only from new ones: a new
    // process imported the helper anew.
    for s in tally.seen.keys() {
        let old = old_pids.contains(&s.pid);
        assert_eq!(s.helper == "old", old, "{s:?} (old daemons {old_pids:?})");
        assert_eq!(s.script, "v1");
    }
    let new = new_pids_of(&tally);
    assert_eq!(new.len(), processes as usize, "{:?}", tally.seen);
    // Later requests all reach the new processes and the new code.
    for _ in 0..10 {
        let s = seen_by_get(&apache, "/app");
        assert!(new.contains(&s.pid) && s.helper == "brand-new", "{s:?}");
    }
    assert!(
        log.contains("Forcing restart of daemon process 'deploy' due to modification of script"),
        "{log}"
    );
    assert!(
        log.contains("restarts because the script changed; sending the request again"),
        "{log}"
    );
    assert!(
        log.contains("restarted because a WSGI script changed; restarting at once."),
        "{log}"
    );
    apache.assert_no_crash();
    eprintln!(
        "{} requests ({} keep-alive retries), 0 failed; every process replaced {:?} after the touch",
        tally.seen.values().sum::<u64>(),
        tally.retries,
        touched.elapsed()
    );
}

fn new_pids_of(tally: &Tally) -> BTreeSet<i32> {
    tally
        .seen
        .keys()
        .filter(|s| s.helper == "brand-new")
        .map(|s| s.pid)
        .collect()
}

#[test]
fn touching_the_script_restarts_the_daemon_and_no_request_fails() {
    deploy_under_load("deploy-one", Mpm::Event, 1);
}

#[test]
fn touching_the_script_restarts_the_daemon_behind_prefork() {
    deploy_under_load("deploy-prefork", Mpm::Prefork, 1);
}

#[test]
fn with_two_processes_both_end_up_on_the_new_code() {
    deploy_under_load("deploy-two", Mpm::Event, 2);
}

#[test]
fn embedded_mode_reloads_the_script_in_place() {
    let dir = TestDir::new("deploy-embedded");
    dir.write("helper.py", HELPER_OLD);
    dir.write("app.wsgi", APP);
    let conf =
        ApacheConfig::new("WSGIScriptAlias /app {dir}/app.wsgi application-group=%{GLOBAL}\n")
            .threads(4, 1);
    let apache = Apache::start(&dir, &conf);
    let before = seen_by_get(&apache, "/app");
    assert_eq!(
        (before.helper.as_str(), before.script.as_str()),
        ("old", "v1")
    );
    dir.write("helper.py", HELPER_NEW);
    dir.write("app.wsgi", &APP.replace("SCRIPT = 'v1'", "SCRIPT = 'v2'"));
    // The same process, the script's new code; the helper module it imported
    // stays loaded as it was (as in mod_wsgi).
    let after = seen_by_get(&apache, "/app");
    assert_eq!(after.pid, before.pid, "{}", apache.error_log());
    assert_eq!(
        (after.helper.as_str(), after.script.as_str()),
        ("old", "v2")
    );
    assert!(
        apache.error_log().contains("Reloading WSGI script"),
        "{}",
        apache.error_log()
    );
}

#[test]
fn with_reloading_off_a_touched_script_changes_nothing() {
    let dir = TestDir::new("deploy-off");
    dir.write("helper.py", HELPER_OLD);
    dir.write("app.wsgi", APP);
    let conf = ApacheConfig::new(&format!(
        "WSGIScriptReloading Off
         WSGIDaemonProcess deploy {}threads=2
         WSGIScriptAlias /app {{dir}}/app.wsgi process-group=deploy application-group=%{{GLOBAL}}
",
        daemon_user()
    ));
    let apache = Apache::start(&dir, &conf);
    let before = seen_by_get(&apache, "/app");
    dir.write("helper.py", HELPER_NEW);
    dir.write("app.wsgi", &APP.replace("SCRIPT = 'v1'", "SCRIPT = 'v2'"));
    // Neither restarted nor reloaded in place (as mod_wsgi); a body still
    // goes through without the handshake.
    for _ in 0..3 {
        assert_eq!(seen_by_get(&apache, "/app"), before);
    }
    let (status, body) = post(apache.port, "/app", b"12345").unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        parse_seen(&body),
        Some(Seen {
            body_len: 5,
            ..before
        })
    );
    assert!(!apache.error_log().contains("Forcing restart"));
}

fn kill(pid: i32) {
    // SAFETY: kill on a daemon of our own server.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
}

#[test]
fn a_killed_daemon_that_had_served_is_replaced_at_once() {
    let (_dir, apache) = daemon_server("deploy-kill", Mpm::Event, 1);
    for _ in 0..3 {
        seen_by_get(&apache, "/app");
    }
    let old = seen_by_get(&apache, "/app").pid;
    // Its main thread notes within 100 ms that it has served.
    std::thread::sleep(Duration::from_millis(300));
    kill(old);
    let killed = Instant::now();
    // Requests wait in the socket's queue until the next process accepts.
    let replaced = wait_for_every(SECS10, Duration::from_millis(5), || {
        let r = apache.get("/app");
        let s = parse_seen(&r.body)?;
        (r.status == 200 && s.pid != old).then(|| killed.elapsed())
    });
    let log = apache.error_log();
    let took = replaced.unwrap_or_else(|| panic!("no new daemon within 10 s:\n{log}"));
    assert!(
        apache.log_lines_with(&[
            &format!("Daemon process 'deploy' (pid {old}) "),
            "signal 9 (SIGKILL); restarting at once."
        ]) == 1,
        "{log}"
    );
    assert!(
        took < Duration::from_millis(500),
        "the first request served by a new daemon came {took:?} after the kill\n{log}"
    );
    eprintln!("a new daemon served {took:?} after the kill");
}

#[test]
fn a_daemon_that_dies_during_start_up_is_restarted_after_a_growing_delay() {
    let dir = TestDir::new("deploy-crash");
    dir.write("app.wsgi", APP);
    dir.write("crash.py", "import os\nos._exit(3)\n");
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess crash {}threads=1\n\
         WSGIImportScript {{dir}}/crash.py process-group=crash application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /app {{dir}}/app.wsgi process-group=crash application-group=%{{GLOBAL}}\n",
        daemon_user()
    ));
    let apache = Apache::start(&dir, &conf);
    // 1 + 2 + 4 seconds of waiting, and four starts.
    let waits = ["waiting 1 s", "waiting 2 s", "waiting 4 s"];
    let all_logged = wait_until(Duration::from_secs(30), || {
        waits.iter().all(|w| {
            apache.log_lines_with(&["Daemon process 'crash' (pid ", "died during start-up", w]) > 0
        })
    });
    let log = apache.error_log();
    assert!(all_logged, "{log}");
    // In that order, each the parent's line about one death.
    let positions: Vec<usize> = waits
        .iter()
        .map(|w| {
            log.find(&format!(
                "died during start-up; {w} before starting it again."
            ))
            .unwrap_or_else(|| panic!("{w}:\n{log}"))
        })
        .collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]), "{log}");
    // The new process waits before it starts, and says so.
    assert!(
        log.contains("Daemon process 'crash': the last one died during start-up; waiting 2 s before starting."),
        "{log}"
    );
    assert!(!log.contains("restarting at once"), "{log}");
}
