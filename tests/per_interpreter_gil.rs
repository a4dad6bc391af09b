//! WSGIPerInterpreterGIL: on Python 3.12+ each application group's
//! sub-interpreter gets its own GIL and allocator (mod_wsgi's
//! `_PyInterpreterConfig_INIT`); the main interpreter is unaffected; an
//! extension module without multi-interpreter support fails to import with a
//! log line that names it and the directive. Before 3.12 the directive is a
//! configtest error. (Throughput: scripts/bench-per-interpreter-gil.py.)

mod common;

use common::*;

#[test]
fn configtest_accepts_the_directive_only_from_python_3_12() {
    let (ok, out) = configtest("WSGIPerInterpreterGIL On\n");
    if at_least_3_12() {
        assert!(ok, "{out}");
    } else {
        assert!(!ok, "configtest passed on Python {PYTHON_VERSION}");
        assert!(
            out.contains("WSGIPerInterpreterGIL On needs Python 3.12 or later")
                && out.contains(&format!("embeds Python {PYTHON_VERSION}")),
            "{out}"
        );
    }
    let (ok, out) = configtest("WSGIPerInterpreterGIL Off\n");
    assert!(ok, "{out}");
    let (ok, out) = configtest("WSGIPerInterpreterGIL maybe\n");
    assert!(!ok && out.contains("WSGIPerInterpreterGIL"), "{out}");
}

const APP: &str = r#"
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
def application(environ, start_response):
    query = environ.get('QUERY_STRING', '')
    if query == 'legacy':
        import legacy_ext
        body = 'legacy %d' % legacy_ext.answer()
    elif query == 'fork':
        try:
            pid = os.fork()
        except RuntimeError as e:
            body = 'fork refused: %s' % e
        else:
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            body = 'fork allowed'
    else:
        gil = ''
        try:
            import _interpreters as m
            gil = m.get_config(interpreter_id()).gil
        except ImportError:
            pass
        body = 'id=%d gil=%s' % (interpreter_id(), gil)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body.encode()]
"#;

fn start(dir: &TestDir, own_gil: bool) -> Apache {
    dir.write("app.wsgi", &format!("{INTERPRETER_ID_PY}{APP}"));
    build_legacy_extension(dir);
    let conf = ApacheConfig::new(&format!(
        "WSGIPerInterpreterGIL {}\n\
         WSGIScriptAlias /a {{dir}}/app.wsgi application-group=first\n\
         WSGIScriptAlias /b {{dir}}/app.wsgi application-group=second\n\
         WSGIScriptAlias /main {{dir}}/app.wsgi application-group=%{{GLOBAL}}\n",
        if own_gil { "On" } else { "Off" }
    ))
    .threads(4, 1);
    Apache::start(dir, &conf)
}

// Only where the feature exists: before 3.12 the directive is refused, as
// configtest_accepts_the_directive_only_from_python_3_12 checks, and
// scripts/test.sh runs the suite again for every Python 3.12+ it finds.
#[cfg(Py_3_12)]
#[test]
fn own_gil_groups_get_separate_isolated_sub_interpreters() {
    let dir = TestDir::new("owngil-ids");
    let apache = start(&dir, true);
    let log = || apache.error_log();
    // Two groups, two isolated sub-interpreters, requests interleaved.
    let mut ids = Vec::new();
    for path in ["/a", "/b", "/a", "/b"] {
        let r = apache.get(path);
        assert_eq!(r.status, 200, "{}", log());
        let text = r.text();
        let id: i64 = text
            .strip_prefix("id=")
            .and_then(|t| t.split(' ').next())
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("{text}"));
        assert_ne!(id, 0, "{path} ran in the main interpreter");
        if PYTHON_VERSION != "3.12" {
            assert!(text.ends_with("gil=own"), "{path}: {text}");
        }
        ids.push(id);
    }
    assert_eq!(ids[0], ids[2]);
    assert_eq!(ids[1], ids[3]);
    assert_ne!(ids[0], ids[1]);
    assert!(!log().contains("Segmentation fault"), "{}", log());
}

#[cfg(Py_3_12)]
#[test]
fn own_gil_sub_interpreters_refuse_fork() {
    let dir = TestDir::new("owngil-fork");
    let apache = start(&dir, true);
    let log = || apache.error_log();
    // mod_wsgi's configuration for own-GIL interpreters forbids fork.
    let r = apache.get("/a?fork");
    assert!(
        r.text()
            .starts_with("fork refused: fork not supported for isolated subinterpreters"),
        "{}",
        r.text()
    );
    assert!(!log().contains("Segmentation fault"), "{}", log());
}

#[cfg(Py_3_12)]
#[test]
fn own_gil_sub_interpreters_refuse_single_phase_extensions_saying_why() {
    let dir = TestDir::new("owngil-legacy");
    let apache = start(&dir, true);
    let log = || apache.error_log();
    // A single-phase extension cannot be imported there: a 500, and a log
    // line that names the module and the directive.
    let r = apache.get("/a?legacy");
    assert_eq!(r.status, 500);
    assert!(
        apache.wait_for_log(
            "the extension module 'legacy_ext' does not support a per-interpreter GIL",
            SECS5
        ),
        "{}",
        log()
    );
    assert!(
        log().contains("WSGIPerInterpreterGIL is On")
            && log().contains("does not support loading in subinterpreters"),
        "{}",
        log()
    );
    // The other group still serves.
    assert_eq!(apache.get("/b").status, 200);
    assert!(!log().contains("Segmentation fault"), "{}", log());
}

#[cfg(Py_3_12)]
#[test]
fn with_own_gil_on_the_main_interpreter_keeps_the_shared_gil() {
    let dir = TestDir::new("owngil-main");
    let apache = start(&dir, true);
    let log = || apache.error_log();
    // It imports single-phase extensions.
    let r = apache.get("/main?legacy");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "legacy 42"),
        "{}",
        log()
    );
    let r = apache.get("/main");
    assert!(r.text().starts_with("id=0"), "{}", r.text());
    assert!(!log().contains("Segmentation fault"), "{}", log());
}

#[test]
fn shared_gil_sub_interpreters_by_default() {
    let dir = TestDir::new("sharedgil");
    let apache = start(&dir, false);
    // Without the directive's On, sub-interpreters are the legacy kind:
    // single-phase extensions import, and (3.12+, where it is a setting)
    // fork is allowed.
    let r = apache.get("/a?legacy");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "legacy 42"),
        "{}",
        apache.error_log()
    );
    if at_least_3_12() {
        assert_eq!(apache.get("/b?fork").text(), "fork allowed");
    }
    let r = apache.get("/a");
    assert!(!r.text().ends_with("gil=own"), "{}", r.text());
}
