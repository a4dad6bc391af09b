//! Issue "interpreters and process lifecycle": application groups and
//! sub-interpreters, thread states, the mod_wsgi module, script reloading,
//! preloading, lazy initialisation, and restarts.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;

const STATE_APP: &str = r#"
import sys, threading, mod_wsgi
counter = 0
local = threading.local()
def application(environ, start_response):
    global counter
    counter += 1
    local.n = getattr(local, 'n', 0) + 1
    body = '%s;%d;%d;%d;%s;%s' % (environ['mod_wsgi.application_group'], counter, interpreter_id(),
                                   local.n, threading.get_ident(), __name__)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body.encode()]
"#;

/// STATE_APP with `interpreter_id()` defined.
fn state_app() -> String {
    format!("{INTERPRETER_ID_PY}{STATE_APP}")
}

fn fields(r: &Response) -> Vec<String> {
    r.text().split(';').map(str::to_string).collect()
}

#[test]
fn same_script_under_two_aliases_gets_two_interpreters() {
    let dir = TestDir::new("twoalias");
    dir.write("state.wsgi", &state_app());
    let conf = ApacheConfig::new(
        "WSGIScriptAlias /a {dir}/state.wsgi\nWSGIScriptAlias /b {dir}/state.wsgi\n\
         WSGIScriptAlias /g {dir}/state.wsgi application-group=%{GLOBAL}\n",
    )
    .threads(1, 1);
    let apache = Apache::start(&dir, &conf);
    let port = apache.port;
    for i in 1..=3 {
        let a = fields(&apache.get("/a"));
        assert_eq!(
            a[0],
            format!("localhost:{port}|/a"),
            "{}",
            apache.error_log()
        );
        assert_eq!(a[1], i.to_string(), "module state of /a");
    }
    let b = fields(&apache.get("/b"));
    assert_eq!(b[0], format!("localhost:{port}|/b"));
    assert_eq!(b[1], "1", "/b has its own module state");
    let (ia, ib): (i64, i64) = (
        fields(&apache.get("/a"))[2].parse().unwrap(),
        b[2].parse().unwrap(),
    );
    assert!(
        ia > 0 && ib > 0 && ia != ib,
        "distinct sub-interpreters: {ia} {ib}"
    );
    let g = fields(&apache.get("/g"));
    assert_eq!(
        (g[0].as_str(), g[1].as_str(), g[2].as_str()),
        ("", "1", "0"),
        "%{{GLOBAL}} is the main interpreter"
    );
    assert!(
        g[5].starts_with("_mod_wsgi_"),
        "script module name {}",
        g[5]
    );
}

#[test]
fn threading_local_persists_per_thread() {
    let dir = TestDir::new("tlocal");
    dir.write("state.wsgi", &state_app());
    let conf = ApacheConfig::new("WSGIScriptAlias /sub {dir}/state.wsgi\nWSGIScriptAlias /main {dir}/state.wsgi application-group=%{GLOBAL}\n")
        .threads(1, 1);
    let apache = Apache::start(&dir, &conf);
    each_case(["/sub", "/main"], |&path| {
        let first = fields(&apache.get(path));
        for i in 2..=4 {
            let f = fields(&apache.get(path));
            assert_eq!(
                f[3],
                i.to_string(),
                "threading.local count on {path}: {}",
                apache.error_log()
            );
            assert_eq!(f[4], first[4], "same thread ident on {path}");
        }
    });
}

#[test]
fn gilstate_extensions_work_in_the_main_interpreter() {
    let dir = TestDir::new("gilstate");
    dir.write(
        "ctypes.wsgi",
        r#"
import ctypes, sqlite3
libc = ctypes.CDLL(None)
CMP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
def application(environ, start_response):
    # qsort calls back into Python from C through PyGILState_Ensure.
    arr = (ctypes.c_int * 5)(5, 1, 4, 2, 3)
    libc.qsort(arr, 5, ctypes.sizeof(ctypes.c_int), CMP(lambda a, b: a[0] - b[0]))
    # sqlite3 user functions are called back the same way.
    db = sqlite3.connect(':memory:')
    db.create_function('twice', 1, lambda x: x * 2)
    (v,) = db.execute('select twice(21)').fetchone()
    start_response('200 OK', [])
    return [('%s %d' % (list(arr), v)).encode()]
"#,
    );
    let apache = Apache::start(
        &dir,
        &ApacheConfig::new(
            "WSGIScriptAlias /c {dir}/ctypes.wsgi\nWSGIApplicationGroup %{GLOBAL}\n",
        ),
    );
    for _ in 0..3 {
        let r = apache.get("/c");
        assert_eq!(r.status, 200, "{}", apache.error_log());
        assert_eq!(r.text(), "[1, 2, 3, 4, 5] 42");
    }
}

#[test]
fn exceptions_in_sub_interpreters_are_formatted_without_hanging() {
    let dir = TestDir::new("subexc");
    dir.write(
        "exc.wsgi",
        "def inner():\n    raise KeyError('deep')\ndef application(environ, start_response):\n    try:\n        inner()\n    except KeyError as e:\n        raise RuntimeError('outer') from e\n",
    );
    let apache = Apache::start(
        &dir,
        &ApacheConfig::new("WSGIScriptAlias /e {dir}/exc.wsgi\n"),
    );
    for _ in 0..3 {
        assert_eq!(apache.get("/e").status, 500);
    }
    let log = apache.error_log();
    assert!(log.contains("KeyError: 'deep'"), "{log}");
    assert!(log.contains("RuntimeError: outer"), "{log}");
    assert!(log.contains("direct cause"), "{log}");
}

#[test]
fn mod_wsgi_module_api() {
    let dir = TestDir::new("modapi");
    dir.write(
        "api.wsgi",
        r#"
import mod_wsgi
events = []
@mod_wsgi.subscribe_events
def on_event(name, **event):
    events.append(name)
    if name == 'request_started':
        mod_wsgi.request_data()['seen'] = True
def application(environ, start_response):
    assert mod_wsgi.request_data()['seen']
    start_response('200 OK', [])
    return [repr((mod_wsgi.version, mod_wsgi.process_group, mod_wsgi.application_group,
                  mod_wsgi.maximum_processes, mod_wsgi.threads_per_process, events[-2:],
                  __name__.startswith('_mod_wsgi_'),
                  callable(mod_wsgi.subscribe_shutdown))).encode()]
"#,
    );
    let conf =
        ApacheConfig::new("WSGIScriptAlias /api {dir}/api.wsgi application-group=apigroup\n")
            .threads(7, 1);
    let apache = Apache::start(&dir, &conf);
    apache.get("/api");
    let r = apache.get("/api");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    // 7 threads and MaxRequestWorkers 7: at most one process.
    assert_eq!(
        r.text(),
        "((6, 0, 5), '', 'apigroup', 1, 7, ['request_started', 'response_started'], True, True)"
    );
}

/// A script that answers `version`.
fn versioned(version: &str) -> String {
    format!("def application(e, sr):\n    sr('200 OK', [])\n    return [b'{version}']\n")
}

/// on.wsgi at /on and off.wsgi at /off (WSGIScriptReloading Off), both
/// answering v1 and written long enough ago that a rewrite is a change.
fn reloading_server(tag: &str) -> (TestDir, Apache) {
    let dir = TestDir::new(tag);
    set_mtime(&dir.write("on.wsgi", &versioned("v1")), 100);
    set_mtime(&dir.write("off.wsgi", &versioned("v1")), 100);
    let conf = ApacheConfig::new(
        "WSGIScriptAlias /on {dir}/on.wsgi\nWSGIScriptAlias /off {dir}/off.wsgi\n<Location /off>\nWSGIScriptReloading Off\n</Location>\n",
    )
    .threads(4, 1);
    let apache = Apache::start(&dir, &conf);
    assert_eq!(apache.get("/on").text(), "v1");
    assert_eq!(apache.get("/off").text(), "v1");
    (dir, apache)
}

#[test]
fn an_edited_script_is_reloaded_and_recovers_from_a_syntax_error() {
    let (dir, apache) = reloading_server("reload");
    dir.write("on.wsgi", &versioned("v2"));
    assert_eq!(apache.get("/on").text(), "v2", "{}", apache.error_log());
    // A syntax error introduced by an edit is a 500 with the traceback...
    dir.write("on.wsgi", "def application(e, sr)\n    return []\n");
    assert_eq!(apache.get("/on").status, 500);
    assert!(apache.error_log().contains("SyntaxError"));
    // ...and fixing the file recovers without a restart.
    dir.write("on.wsgi", &versioned("v3"));
    assert_eq!(apache.get("/on").text(), "v3");
}

#[test]
fn script_reloading_off_keeps_the_loaded_code() {
    let (dir, apache) = reloading_server("reload-off");
    dir.write("off.wsgi", &versioned("v2"));
    assert_eq!(
        apache.get("/off").text(),
        "v1",
        "WSGIScriptReloading Off keeps the loaded code"
    );
}

#[test]
fn concurrent_requests_during_reload_never_fail() {
    let dir = TestDir::new("reloadrace");
    let slow = |v: u32| {
        format!(
            "import time\ntime.sleep(0.3)\nVERSION = {v}\ndef application(e, sr):\n    sr('200 OK', [])\n    return [b'%d' % VERSION]\n"
        )
    };
    let path = dir.write("app.wsgi", &slow(0));
    set_mtime(&path, 1000);
    let apache = Arc::new(Apache::start(
        &dir,
        &ApacheConfig::new("WSGIScriptAlias /app {dir}/app.wsgi\n").threads(16, 1),
    ));
    assert_eq!(apache.get("/app").text(), "0");
    let failures = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (apache, failures, done) = (apache.clone(), failures.clone(), done.clone());
        workers.push(std::thread::spawn(move || {
            let mut n = 0;
            while !done.load(Ordering::Relaxed) && n < 400 {
                let r = apache.get("/app");
                if r.status != 200 || r.text().parse::<u32>().is_err() {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
        }));
    }
    for v in 1..=5u32 {
        std::thread::sleep(Duration::from_millis(250));
        let p = dir.write("app.wsgi", &slow(v));
        set_mtime(&p, 900 - v as u64 * 10);
    }
    std::thread::sleep(Duration::from_millis(500));
    done.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "{}",
        apache.error_log()
    );
    assert_eq!(apache.get("/app").text(), "5");
}

#[test]
fn import_script_runs_at_child_start() {
    let dir = TestDir::new("import");
    let marker = dir.writable_dir("markers");
    dir.write(
        "preload.py",
        &format!("import os, mod_wsgi\nopen('{}/imported-%d' % os.getpid(), 'w').write(mod_wsgi.application_group)\nPRELOADED = True\n", marker.display()),
    );
    dir.write(
        "app.wsgi",
        &format!("import os\ndef application(e, sr):\n    sr('200 OK', [])\n    return [b'%d' % os.path.exists('{}/imported-%d' % os.getpid())]\n", marker.display()),
    );
    dir.write(
        "pre.wsgi",
        &format!("import os\nopen('{}/alias-%d' % os.getpid(), 'w').write('x')\ndef application(e, sr):\n    sr('200 OK', [])\n    return [b'pre']\n", marker.display()),
    );
    let conf = ApacheConfig::new(
        "WSGIImportScript {dir}/preload.py process-group=%{GLOBAL} application-group=%{GLOBAL}\n\
         WSGIScriptAlias /app {dir}/app.wsgi application-group=%{GLOBAL}\n\
         WSGIScriptAlias /pre {dir}/pre.wsgi process-group=%{GLOBAL} application-group=preloaded\n",
    );
    let apache = Apache::start(&dir, &conf);
    // Side effects exist before the first request arrives.
    let ready = || {
        let names = dir.list("markers");
        names.iter().any(|n| n.starts_with("imported-"))
            && names.iter().any(|n| n.starts_with("alias-"))
    };
    assert!(wait_until(SECS10, ready), "{}", apache.error_log());
    assert_eq!(apache.get("/app").text(), "1");
    assert_eq!(apache.get("/pre").text(), "pre");
}

fn restart_cycle(lazy: bool, mpm: Mpm) {
    let dir = TestDir::new("graceful");
    dir.write("state.wsgi", &state_app());
    let body = format!(
        "WSGILazyInitialization {}\nWSGIScriptAlias /s {{dir}}/state.wsgi\nWSGIScriptAlias /g {{dir}}/state.wsgi application-group=%{{GLOBAL}}\n",
        if lazy { "On" } else { "Off" }
    );
    let mut apache = Apache::start(&dir, &ApacheConfig::new(&body).mpm(mpm));
    assert_eq!(apache.get("/s").status, 200, "{}", apache.error_log());
    for round in 1..=3 {
        // Rounds 1 and 3 are `apachectl -k graceful`, round 2 `-k restart`.
        apache.signal(if round == 2 {
            libc::SIGHUP
        } else {
            libc::SIGUSR1
        });
        let needle = "resuming normal operations";
        wait_until(Duration::from_secs(20), || {
            apache.error_log().matches(needle).count() > round
        });
        assert_eq!(
            apache.error_log().matches(needle).count(),
            round + 1,
            "graceful restart {round}"
        );
        // New children come up and serve both interpreters.
        let ok = wait_for_every(Duration::from_secs(20), Duration::from_millis(100), || {
            (apache.get("/s").status == 200 && apache.get("/g").status == 200).then_some(())
        });
        assert!(
            ok.is_some(),
            "serving after graceful {round}: {}",
            apache.error_log()
        );
        assert!(apache.is_running());
    }
    let log = apache.error_log();
    let parent_init = format!("mod_wsgi-rs 0.1.0 (pid={}): Python", apache.pid());
    let kept = log
        .matches("Python stays initialised in the Apache parent")
        .count();
    if lazy {
        assert_eq!(kept, 0, "{log}");
        assert!(
            !log.contains(&parent_init),
            "Python must not start in the parent:\n{log}"
        );
    } else {
        // Initialised once in the parent, never again across the restarts.
        assert_eq!(kept, 3, "{log}");
        assert_eq!(log.matches(&parent_init).count(), 1, "{log}");
        assert_eq!(
            log.matches("mod_wsgi-rs 0.1.0 (pid=").count(),
            1,
            "children inherit Python:\n{log}"
        );
    }
    for bad in [
        "Fatal Python error",
        "Segmentation fault",
        "exit signal",
        "already finalised",
        "cannot initialise Python",
    ] {
        assert!(!log.contains(bad), "{bad} in log:\n{log}");
    }
}

#[test]
fn graceful_restarts_with_lazy_initialization_on() {
    restart_cycle(true, Mpm::Event);
}

#[test]
fn graceful_restarts_with_lazy_initialization_off() {
    restart_cycle(false, Mpm::Event);
}

#[test]
fn graceful_restarts_under_prefork() {
    restart_cycle(true, Mpm::Prefork);
}

#[test]
fn restrict_embedded_refuses_requests() {
    let dir = TestDir::new("restrict");
    dir.write("state.wsgi", &state_app());
    let apache = Apache::start(
        &dir,
        &ApacheConfig::new("WSGIRestrictEmbedded On\nWSGIScriptAlias /s {dir}/state.wsgi\n"),
    );
    assert_eq!(apache.get("/s").status, 500);
    assert!(
        apache
            .error_log()
            .contains("Embedded mode of mod_wsgi disabled by runtime configuration")
    );
    assert!(
        !apache.error_log().contains("mod_wsgi-rs 0.1.0 (pid="),
        "Python must not start in the children"
    );
}

#[test]
fn python_directives_take_effect() {
    let dir = TestDir::new("pydirectives");
    dir.write(
        "d.wsgi",
        r#"
import sys, signal, warnings
def application(environ, start_response):
    out = []
    out.append('optimize=%d' % sys.flags.optimize)
    out.append('bytecode=%s' % sys.dont_write_bytecode)
    out.append('hash=%d' % hash('abc'))
    out.append('warnings=%s' % ','.join(sys.warnoptions))
    try:
        sys.stdin.read()
        out.append('stdin=ok')
    except OSError:
        out.append('stdin=restricted')
    old = signal.signal(signal.SIGUSR2, lambda *a: None)
    out.append('signal=%s' % (signal.getsignal(signal.SIGUSR2) is old))
    print('printed to stdout')
    start_response('200 OK', [])
    return [' '.join(out).encode()]
"#,
    );
    let conf = ApacheConfig::new(
        "WSGIPythonOptimize 1\nWSGIDontWriteBytecode On\nWSGIPythonHashSeed 123\nWSGIPythonWarnings ignore::DeprecationWarning\n\
         WSGIRestrictStdin On\nWSGIRestrictSignal On\nWSGIScriptAlias /d {dir}/d.wsgi application-group=%{GLOBAL}\n",
    );
    let apache = Apache::start(&dir, &conf);
    let first = apache.get("/d").text();
    assert!(first.contains("optimize=1"), "{first}");
    assert!(first.contains("bytecode=True"), "{first}");
    assert!(
        first.contains("warnings=ignore::DeprecationWarning"),
        "{first}"
    );
    assert!(first.contains("stdin=restricted"), "{first}");
    assert!(first.contains("signal=True"), "{first}");
    // The fixed hash seed makes str hashes equal across processes and restarts.
    let hash = |t: &str| {
        t.split_whitespace()
            .find(|w| w.starts_with("hash="))
            .unwrap()
            .to_string()
    };
    assert!(apache.wait_for_log(
        "Callback registration for signal 12 ignored",
        Duration::from_secs(5)
    ));
    assert!(apache.wait_for_log("printed to stdout", Duration::from_secs(5)));
    let dir2 = TestDir::new("pydirectives2");
    dir2.write(
        "d.wsgi",
        &std::fs::read_to_string(dir.0.join("d.wsgi")).unwrap(),
    );
    let other = Apache::start(&dir2, &ApacheConfig::new(&conf.body));
    assert_eq!(hash(&other.get("/d").text()), hash(&first));
}

/// Many threads hitting three interpreters at once, under each MPM.
fn load(mpm: Mpm) {
    let dir = TestDir::new("load");
    dir.write("state.wsgi", &state_app());
    let conf = ApacheConfig::new(
        "WSGIScriptAlias /one {dir}/state.wsgi\nWSGIScriptAlias /two {dir}/state.wsgi\n\
         WSGIScriptAlias /main {dir}/state.wsgi application-group=%{GLOBAL}\n",
    )
    .mpm(mpm)
    .threads(25, 2);
    let apache = Arc::new(Apache::start(&dir, &conf));
    let errors = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let total = 2000;
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let (apache, errors, next) = (apache.clone(), errors.clone(), next.clone());
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let path = ["/one", "/two", "/main"][i % 3];
                    let r = apache.get(path);
                    let f = fields(&r);
                    let expect_group = if path == "/main" {
                        String::new()
                    } else {
                        format!("localhost:{}|{path}", apache.port)
                    };
                    // The interpreter that really ran it, not just the group
                    // the request named: 0 (main) exactly for %{GLOBAL}.
                    let in_main = f.get(2).map(String::as_str) == Some("0");
                    if r.status != 200
                        || f.first() != Some(&expect_group)
                        || in_main != (path == "/main")
                    {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(errors.load(Ordering::Relaxed), 0, "{}", apache.error_log());
    // Isolation afterwards: each interpreter still reports its own group and a
    // counter that only it advanced.
    for path in ["/one", "/two", "/main"] {
        let f = fields(&apache.get(path));
        let group = if path == "/main" {
            String::new()
        } else {
            format!("localhost:{}|{path}", apache.port)
        };
        assert_eq!(f[0], group);
        let main = path == "/main";
        assert_eq!(f[2] == "0", main, "interpreter id for {path}");
    }
    let log = apache.error_log();
    assert!(
        !log.contains("Fatal Python error") && !log.contains("Segmentation fault"),
        "{log}"
    );
}

#[test]
fn load_across_interpreters_event() {
    load(Mpm::Event);
}

#[test]
fn load_across_interpreters_worker() {
    load(Mpm::Worker);
}

#[test]
fn load_across_interpreters_prefork() {
    load(Mpm::Prefork);
}

#[test]
fn shutdown_callbacks_run_when_a_child_exits() {
    let dir = TestDir::new("shutdown");
    let marker = dir.writable_dir("markers");
    dir.write(
        "s.wsgi",
        &format!(
            r#"
import os, atexit, mod_wsgi
GROUP = 'main' if mod_wsgi.application_group == '' else 'sub'
def stopping(event):
    open('{m}/shutdown-%s-%s-%d' % (GROUP, event['shutdown_reason'], os.getpid()), 'w').close()
mod_wsgi.subscribe_shutdown(stopping)
atexit.register(lambda: open('{m}/atexit-%s-%d' % (GROUP, os.getpid()), 'w').close())
def application(e, sr):
    sr('200 OK', [])
    return [b'%d' % os.getpid()]
"#,
            m = marker.display()
        ),
    );
    let conf = ApacheConfig::new(
        "WSGIScriptAlias /s {dir}/s.wsgi\nWSGIScriptAlias /g {dir}/s.wsgi application-group=%{GLOBAL}\n",
    );
    let mut apache = Apache::start(&dir, &conf);
    let pid = apache.get("/s").text();
    assert_eq!(apache.get("/g").text(), pid);
    apache.stop();
    let names = dir.list("markers");
    // Both interpreters (sub and main) ran their callbacks and atexit handlers.
    let mut expected = vec![
        format!("atexit-main-{pid}"),
        format!("atexit-sub-{pid}"),
        format!("shutdown-main-shutdown_signal-{pid}"),
        format!("shutdown-sub-shutdown_signal-{pid}"),
    ];
    let mut names: Vec<String> = names
        .into_iter()
        .filter(|n| n.ends_with(&format!("-{pid}")))
        .collect();
    names.sort();
    expected.sort();
    assert_eq!(names, expected, "{}", apache.error_log());
}

#[test]
fn restrict_stdout_and_case_insensitivity() {
    let dir = TestDir::new("stdout");
    dir.write(
        "p.wsgi",
        "import sys\ndef application(e, sr):\n    try:\n        print('x')\n        r = b'printed'\n    except OSError as err:\n        r = str(err).encode()\n    sr('200 OK', [])\n    return [r + b' ' + __name__.encode() + b' ' + e['mod_wsgi.application_group'].encode()]\n",
    );
    let conf = ApacheConfig::new(
        "WSGIRestrictStdout On\nWSGICaseSensitivity Off\nWSGIScriptAlias /Print {dir}/p.wsgi\n",
    );
    let apache = Apache::start(&dir, &conf);
    let text = apache.get("/Print").text();
    assert!(
        text.starts_with("sys.stdout access restricted by mod_wsgi"),
        "{text}"
    );
    let expected_name = format!(
        "_mod_wsgi_{}",
        md5_hex(dir.path("p.wsgi").to_lowercase().as_bytes())
    );
    assert!(text.contains(&expected_name), "{text} vs {expected_name}");
    assert!(
        text.ends_with(&format!("localhost:{}|/print", apache.port)),
        "{text}"
    );
}

#[test]
fn application_group_expansions() {
    let dir = TestDir::new("expand");
    dir.write("state.wsgi", &state_app());
    let conf = ApacheConfig::new(
        "WSGIScriptAlias /env {dir}/state.wsgi\nWSGIScriptAlias /server {dir}/state.wsgi\n\
         WSGIScriptAlias /host {dir}/state.wsgi\nWSGIScriptAlias /named {dir}/state.wsgi\n\
         WSGIScriptAlias /envglobal {dir}/state.wsgi\n\
         <Location /env>\n  SetEnv APP_GROUP shop\n  WSGIApplicationGroup %{ENV:APP_GROUP}\n</Location>\n\
         <Location /envglobal>\n  SetEnv APP_GROUP %{GLOBAL}\n  WSGIApplicationGroup %{ENV:APP_GROUP}\n</Location>\n\
         <Location /server>\n  WSGIApplicationGroup %{SERVER}\n</Location>\n\
         <Location /host>\n  WSGIApplicationGroup %{HOST}\n</Location>\n\
         <Location /named>\n  WSGIApplicationGroup my-app\n</Location>\n",
    )
    .modules(&["env"]);
    let apache = Apache::start(&dir, &conf);
    let port = apache.port;
    let group = |path: &str, host: Option<&str>| {
        let headers: Vec<(&str, &str)> = host.map(|h| vec![("Host", h)]).unwrap_or_default();
        let r = if headers.is_empty() {
            apache.get(path)
        } else {
            raw_get(&apache, path, host.unwrap())
        };
        assert_eq!(r.status, 200, "{path}: {}", apache.error_log());
        fields(&r)[0].clone()
    };
    let with_port = format!("Other.Example.com:{port}");
    each_case(
        [
            ("/env", None, "shop".to_string()),
            ("/envglobal", None, String::new()),
            ("/server", None, format!("localhost:{port}")),
            // The port is the request's (from Host:, as ap_get_server_port
            // reports it); 80 and 443 are left out.
            (
                "/host",
                Some("Other.Example.com"),
                "other.example.com".to_string(),
            ),
            (
                "/host",
                Some(with_port.as_str()),
                format!("other.example.com:{port}"),
            ),
            ("/named", None, "my-app".to_string()),
        ],
        |(path, host, want)| assert_eq!(&group(path, *host), want, "{path} {host:?}"),
    );
}

fn raw_get(apache: &Apache, path: &str, host: &str) -> Response {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    parse_response(&apache.raw(req.as_bytes()), false)
}

#[test]
fn log_handler_writes_to_the_error_log() {
    let dir = TestDir::new("loghandler");
    dir.write(
        "l.wsgi",
        "import logging, mod_wsgi\nlog = logging.getLogger('app')\nlog.addHandler(mod_wsgi.LogHandler())\nlog.setLevel(logging.DEBUG)\n\
         def application(e, sr):\n    log.warning('careful %s', 'now')\n    log.error('broken\\nsecond line')\n    log.debug('detail')\n    sr('200 OK', [])\n    return [b'ok']\n",
    );
    let apache = Apache::start(
        &dir,
        &ApacheConfig::new("WSGIScriptAlias /l {dir}/l.wsgi\n").log_level("info"),
    );
    assert_eq!(apache.get("/l").text(), "ok");
    assert!(apache.wait_for_log("second line", Duration::from_secs(5)));
    let log = apache.error_log();
    let line = |needle: &str| {
        log.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("careful now").contains("[wsgi:warn]")
            && line("careful now").contains("[client 127.0.0.1"),
        "{log}"
    );
    assert!(line("broken").contains("[wsgi:error]"), "{log}");
    assert!(line("second line").contains("[wsgi:error]"), "{log}");
    assert!(
        !log.contains("detail"),
        "debug is below LogLevel info:\n{log}"
    );
}

/// A `%{GLOBAL}` application: the interpreter ID it runs in, this process,
/// and module state shared with the other `%{GLOBAL}` application.
const GLOBAL_APP: &str = r#"
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
import shared_state
def application(environ, start_response):
    with shared_state.lock:
        shared_state.hits += 1
        hits = shared_state.hits
    body = '%d;%d;%d;%d' % (interpreter_id(), os.getpid(), id(shared_state), hits)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body.encode()]
"#;

/// Requests for two `%{GLOBAL}` applications interleaved with requests for a
/// default-group application on a few keep-alive connections: every
/// `%{GLOBAL}` request runs in the main interpreter (ID 0) and both
/// applications share module state; the other group never runs in main.
/// (Python 3.12 changed which thread state `PyGILState_Ensure` returns on a
/// thread that also runs sub-interpreters; see ARCHITECTURE.md.)
fn global_and_default_group_interleaved(mpm: Mpm, lazy: bool) {
    let dir = TestDir::new("globalmix");
    let app = format!("{INTERPRETER_ID_PY}{GLOBAL_APP}");
    dir.write("g1.wsgi", &app);
    dir.write("g2.wsgi", &app);
    dir.write(
        "shared_state.py",
        "import threading\nlock = threading.Lock()\nhits = 0\n",
    );
    dir.write("d.wsgi", &state_app());
    let conf = ApacheConfig::new(&format!(
        "WSGILazyInitialization {}\n\
         WSGIScriptAlias /g1 {{dir}}/g1.wsgi application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /g2 {{dir}}/g2.wsgi application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /d {{dir}}/d.wsgi\n",
        if lazy { "On" } else { "Off" }
    ))
    .mpm(mpm)
    .threads(4, 1);
    let apache = Apache::start(&dir, &conf);
    let port = apache.port;
    let connections = 3;
    let per_connection = 30; // 20 %{GLOBAL} + 10 default-group requests each
    let results: Vec<Vec<(String, u16, String)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..connections)
            .map(|c| {
                s.spawn(move || {
                    let mut client = Client::new(port, true);
                    (0..per_connection)
                        .map(|i| {
                            let path = ["/g1", "/d", "/g2"][(i + c) % 3];
                            let (status, body) = client
                                .get(path)
                                .unwrap_or_else(|e| panic!("GET {path}: {e}"));
                            (
                                path.to_string(),
                                status,
                                String::from_utf8_lossy(&body).into(),
                            )
                        })
                        .collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let log = apache.error_log();
    // Per process: the shared module's identity and the hits it counted.
    let mut by_pid: std::collections::HashMap<String, (String, Vec<u64>)> = Default::default();
    let mut globals = 0;
    for (path, status, body) in results.iter().flatten() {
        assert_eq!(*status, 200, "{path}: {body}\n{log}");
        let f: Vec<&str> = body.split(';').collect();
        if path == "/d" {
            assert_ne!(
                f[2], "0",
                "default-group request ran in the main interpreter"
            );
            continue;
        }
        globals += 1;
        assert_eq!(
            f[0], "0",
            "a %{{GLOBAL}} request ran in interpreter {} (python {PYTHON_VERSION})",
            f[0]
        );
        let entry = by_pid
            .entry(f[1].to_string())
            .or_insert_with(|| (f[2].to_string(), Vec::new()));
        assert_eq!(
            entry.0, f[2],
            "both %{{GLOBAL}} apps import one shared_state"
        );
        entry.1.push(f[3].parse().unwrap());
    }
    assert_eq!(globals, connections * per_connection * 2 / 3);
    for (pid, (_, mut hits)) in by_pid {
        hits.sort_unstable();
        let expected: Vec<u64> = (1..=hits.len() as u64).collect();
        assert_eq!(
            hits, expected,
            "hits counted by one module in process {pid}"
        );
    }
}

#[test]
fn global_requests_run_in_the_main_interpreter_event() {
    global_and_default_group_interleaved(Mpm::Event, true);
}

#[test]
fn global_requests_run_in_the_main_interpreter_event_lazy_off() {
    global_and_default_group_interleaved(Mpm::Event, false);
}

#[test]
fn global_requests_run_in_the_main_interpreter_worker() {
    global_and_default_group_interleaved(Mpm::Worker, true);
}

#[test]
fn global_requests_run_in_the_main_interpreter_prefork_lazy_off() {
    global_and_default_group_interleaved(Mpm::Prefork, false);
}

/// While a request loops in pure Python in a sub-interpreter, other
/// requests for the same interpreter, on Apache threads that never ran
/// Python before, still get their turn (the switch interval), as in
/// mod_wsgi: a thread's first GIL wait happens with the state of the
/// interpreter it enters. (Before Python 3.13 a wait in another interpreter
/// asks only that interpreter's threads to let go: see README.)
#[test]
fn a_looping_request_lets_fresh_threads_of_its_interpreter_in() {
    let dir = TestDir::new("gil-turns");
    dir.write(
        "app.wsgi",
        "import time\n\
         def application(e, sr):\n    \
             if e['PATH_INFO'] == '/spin':\n        \
                 end = time.monotonic() + 4\n        \
                 while time.monotonic() < end:\n            \
                     pass\n    \
             sr('200 OK', [('Content-Type', 'text/plain')])\n    \
             return [b'ok']\n",
    );
    let conf =
        ApacheConfig::new("WSGIScriptAlias /a {dir}/app.wsgi application-group=a\n").threads(16, 1);
    let apache = Apache::start(&dir, &conf);
    assert_eq!(apache.get_ok("/a/x"), "ok");
    let port = apache.port;
    let spin = std::thread::spawn(move || request(port, "GET", "/a/spin", &[], b"").status);
    std::thread::sleep(Duration::from_millis(300));
    let waits: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let started = Instant::now();
                let r = request(port, "GET", "/a/x", &[], b"");
                (r.status, started.elapsed())
            })
        })
        .collect();
    for w in waits {
        let (status, took) = w.join().unwrap();
        assert_eq!(status, 200);
        // The loop runs 4 s; a request kept out would wait for its end.
        assert!(took < Duration::from_millis(2000), "waited {took:?}");
    }
    assert_eq!(spin.join().unwrap(), 200);
    apache.assert_no_crash();
}
