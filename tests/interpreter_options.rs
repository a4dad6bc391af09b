//! `<WSGIInterpreterOptions [process-group=NAME] [application-group=NAME]>`:
//! per-interpreter settings (WSGIPythonPath, WSGIRestrictStdout,
//! WSGISwitchInterval, WSGIPerInterpreterGIL...) for the interpreters its
//! selectors match, in the Apache children and in daemon processes; what
//! configtest says about a malformed container.

mod common;

use common::*;

/// Reports which `which.py` the interpreter imports, what printing to
/// sys.stdout does, and the switch interval.
const APP: &str = r#"
import sys
def application(environ, start_response):
    try:
        import which
        found = which.NAME
    except ImportError:
        found = 'none'
    try:
        print('printed by', environ['mod_wsgi.application_group'] or 'main')
        sys.stdout.flush()
        stdout = 'printed'
    except OSError:
        stdout = 'restricted'
    body = '%s;%s;%s' % (found, stdout, sys.getswitchinterval())
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body.encode()]
"#;

/// A directory holding `which.py` naming `name`.
fn lib(dir: &TestDir, name: &str) {
    dir.write(&format!("{name}/which.py"), &format!("NAME = '{name}'\n"));
}

fn fields(apache: &Apache, path: &str) -> Vec<String> {
    let r = apache.get(path);
    assert_eq!(r.status, 200, "{path}: {}", apache.error_log());
    r.text().split(';').map(str::to_string).collect()
}

#[test]
fn each_application_group_gets_its_own_sys_path() {
    let dir = TestDir::new("iopts-path");
    dir.write("app.wsgi", APP);
    for name in ["common", "one", "two"] {
        lib(&dir, name);
    }
    let conf = ApacheConfig::new(
        "WSGIPythonPath {dir}/common\n\
         <WSGIInterpreterOptions application-group=one>\n\
         \x20   WSGIPythonPath {dir}/one\n\
         </WSGIInterpreterOptions>\n\
         <WSGIInterpreterOptions application-group=two>\n\
         \x20   WSGIPythonPath {dir}/two\n\
         </WSGIInterpreterOptions>\n\
         WSGIScriptAlias /one {dir}/app.wsgi application-group=one\n\
         WSGIScriptAlias /two {dir}/app.wsgi application-group=two\n\
         WSGIScriptAlias /other {dir}/app.wsgi application-group=other\n",
    );
    let apache = Apache::start(&dir, &conf);
    // The container's layer goes in front of WSGIPythonPath's.
    each_case(
        [("/one", "one"), ("/two", "two"), ("/other", "common")],
        |&(path, want)| {
            assert_eq!(fields(&apache, path)[0], want, "{path}");
        },
    );
    apache.assert_no_crash();
}

#[test]
fn a_process_group_selector_applies_to_that_daemon_group_only() {
    let dir = TestDir::new("iopts-daemon");
    dir.write("app.wsgi", APP);
    lib(&dir, "d1");
    lib(&dir, "emb");
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess d1 {user}threads=2\n\
         WSGIDaemonProcess d2 {user}threads=2\n\
         <WSGIInterpreterOptions process-group=d1>\n\
         \x20   WSGIPythonPath {{dir}}/d1\n\
         \x20   WSGISwitchInterval 0.25\n\
         </WSGIInterpreterOptions>\n\
         <WSGIInterpreterOptions process-group=%{{GLOBAL}}>\n\
         \x20   WSGIPythonPath {{dir}}/emb\n\
         </WSGIInterpreterOptions>\n\
         WSGIScriptAlias /d1 {{dir}}/app.wsgi process-group=d1 application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /d1-sub {{dir}}/app.wsgi process-group=d1 application-group=sub\n\
         WSGIScriptAlias /d2 {{dir}}/app.wsgi process-group=d2 application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /emb {{dir}}/app.wsgi application-group=%{{GLOBAL}}\n",
        user = daemon_user()
    ));
    let apache = Apache::start(&dir, &conf);
    each_case(
        [
            ("/d1", "d1", "0.25"),
            ("/d1-sub", "d1", "0.25"),
            ("/d2", "none", "0.005"),
            ("/emb", "emb", "0.005"),
        ],
        |&(path, want, interval)| {
            let f = fields(&apache, path);
            assert_eq!((f[0].as_str(), f[2].as_str()), (want, interval), "{path}");
        },
    );
    apache.assert_no_crash();
}

#[test]
fn restricting_stdout_can_be_scoped_to_one_application_group() {
    let dir = TestDir::new("iopts-stdout");
    dir.write("app.wsgi", APP);
    let conf = ApacheConfig::new(
        "<WSGIInterpreterOptions application-group=quiet>\n\
         \x20   WSGIRestrictStdout On\n\
         </WSGIInterpreterOptions>\n\
         WSGIScriptAlias /quiet {dir}/app.wsgi application-group=quiet\n\
         WSGIScriptAlias /loud {dir}/app.wsgi application-group=loud\n\
         WSGIScriptAlias /main {dir}/app.wsgi application-group=%{GLOBAL}\n",
    );
    let apache = Apache::start(&dir, &conf);
    assert_eq!(fields(&apache, "/quiet")[1], "restricted");
    assert_eq!(fields(&apache, "/loud")[1], "printed");
    assert_eq!(fields(&apache, "/main")[1], "printed");
    assert!(
        apache.wait_for_log("printed by loud", SECS5)
            && apache.wait_for_log("printed by main", SECS5),
        "{}",
        apache.error_log()
    );
    assert!(!apache.error_log().contains("printed by quiet"));
}

#[test]
fn a_switch_interval_scoped_to_an_application_group_needs_its_own_gil() {
    let dir = TestDir::new("iopts-switch");
    dir.write("app.wsgi", APP);
    // With a GIL of its own (3.12+), an interpreter keeps an interval of its own.
    let own = if at_least_3_12() {
        "<WSGIInterpreterOptions application-group=own>\n\
         \x20   WSGIPerInterpreterGIL On\n\
         \x20   WSGISwitchInterval 0.25\n\
         </WSGIInterpreterOptions>\n\
         WSGIScriptAlias /own {dir}/app.wsgi application-group=own\n"
    } else {
        ""
    };
    let conf = ApacheConfig::new(&format!(
        "WSGISwitchInterval 0.02\n\
         <WSGIInterpreterOptions application-group=tuned>\n\
         \x20   WSGISwitchInterval 0.125\n\
         </WSGIInterpreterOptions>\n\
         WSGIScriptAlias /tuned {{dir}}/app.wsgi application-group=tuned\n\
         WSGIScriptAlias /main {{dir}}/app.wsgi application-group=%{{GLOBAL}}\n\
         {own}"
    ));
    let apache = Apache::start(&dir, &conf);
    // Sharing the process's GIL, `tuned` would change the interval of every
    // interpreter: the process's own value stays, with a warning.
    assert_eq!(fields(&apache, "/tuned")[2], "0.02");
    assert_eq!(fields(&apache, "/main")[2], "0.02");
    assert!(
        apache.wait_log_line(
            &[
                "Skipping the switch interval 0.125s",
                "application group 'tuned'"
            ],
            SECS5
        ),
        "{}",
        apache.error_log()
    );
    if at_least_3_12() {
        assert_eq!(fields(&apache, "/own")[2], "0.25");
        assert_eq!(fields(&apache, "/main")[2], "0.02");
    }
}

const GIL_APP: &str = r#"
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
def application(environ, start_response):
    import legacy_ext
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'legacy %d' % legacy_ext.answer()]
"#;

const GIL_CONTAINER: &str = "<WSGIInterpreterOptions application-group=first>\n\
                             \x20   WSGIPerInterpreterGIL On\n\
                             </WSGIInterpreterOptions>\n";

#[test]
fn a_per_interpreter_gil_for_one_application_group_only() {
    if !at_least_3_12() {
        // The container's line is refused, and the message points at it.
        let (ok, out) = configtest(&format!("\n{GIL_CONTAINER}"));
        assert!(!ok, "configtest passed on Python {PYTHON_VERSION}");
        assert!(
            out.contains("WSGIPerInterpreterGIL On needs Python 3.12 or later")
                && out.contains("Syntax error on line 11 of"),
            "{out}"
        );
        return;
    }
    let dir = TestDir::new("iopts-gil");
    dir.write("app.wsgi", GIL_APP);
    build_legacy_extension(&dir);
    let conf = ApacheConfig::new(&format!(
        "{GIL_CONTAINER}\
         WSGIScriptAlias /first {{dir}}/app.wsgi application-group=first\n\
         WSGIScriptAlias /second {{dir}}/app.wsgi application-group=second\n"
    ))
    .threads(4, 1);
    let apache = Apache::start(&dir, &conf);
    // `second` shares the GIL: a single-phase extension imports.
    let r = apache.get("/second");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "legacy 42"),
        "{}",
        apache.error_log()
    );
    // `first` has its own: the import is refused, saying why.
    assert_eq!(apache.get("/first").status, 500);
    assert!(
        apache.wait_for_log(
            "the extension module 'legacy_ext' does not support a per-interpreter GIL",
            SECS5
        ),
        "{}",
        apache.error_log()
    );
    assert_eq!(apache.get("/second").status, 200);
    apache.assert_no_crash();
}

#[test]
fn configtest_points_at_the_refused_line() {
    // configtest's file: 8 lines of its own, then the body.
    let cases: &[(&str, &[&str])] = &[
        (
            "<WSGIInterpreterOptions process-group=web>\n  WSGIRestrictStdout On\n  WSGIPythonHome /usr\n</WSGIInterpreterOptions>",
            &[
                "Syntax error on line 11 of",
                "WSGIPythonHome is not allowed inside <WSGIInterpreterOptions>, which may hold only WSGIPerInterpreterGIL, WSGIFreeThreading, WSGISwitchInterval, WSGIPythonPath, WSGIRestrictStdin, WSGIRestrictStdout, WSGIRestrictSignal",
            ],
        ),
        (
            "<WSGIInterpreterOptions>\n  ServerAdmin root@localhost\n</WSGIInterpreterOptions>",
            &[
                "Syntax error on line 10 of",
                "ServerAdmin is not allowed inside",
            ],
        ),
        (
            "<WSGIInterpreterOptions application-group=%{ENV:APP}>\n</WSGIInterpreterOptions>",
            &[
                "Syntax error on line 9 of",
                "application-group=%{ENV:APP}: a selector is compared with the group's name",
            ],
        ),
        (
            "<VirtualHost 127.0.0.1:80>\n<WSGIInterpreterOptions>\n</WSGIInterpreterOptions>\n</VirtualHost>",
            &["<WSGIInterpreterOptions> cannot occur within <VirtualHost> section"],
        ),
        (
            "WSGIFreeThreading On",
            &["WSGIFreeThreading On needs a free-threaded CPython build"],
        ),
        (
            "<WSGIInterpreterOptions process-group=web>\n  WSGIFreeThreading On\n</WSGIInterpreterOptions>",
            &[
                "Syntax error on line 10 of",
                "WSGIFreeThreading On needs a free-threaded CPython build",
            ],
        ),
    ];
    each_case(cases, |(body, wanted)| {
        let (ok, out) = configtest(body);
        assert!(!ok, "configtest passed");
        for w in *wanted {
            assert!(out.contains(w), "missing {w:?} in:\n{out}");
        }
    });
    // What is accepted: Off, and the directives that may appear inside,
    // also pulled in with Include and <IfModule>.
    let dir = TestDir::new("iopts-include");
    let inc = dir.write("inner.conf", "WSGIRestrictSignal Off\n");
    let (ok, out) = configtest(&format!(
        "WSGIFreeThreading Off\n\
         <WSGIInterpreterOptions process-group=%{{GLOBAL}} application-group=%{{GLOBAL}}>\n\
         \x20 WSGIFreeThreading Off\n\
         \x20 WSGIRestrictStdin On\n\
         \x20 WSGISwitchInterval 0.01\n\
         \x20 Include {}\n\
         \x20 <IfModule mod_wsgi.c>\n\
         \x20   WSGIPythonPath /srv/lib\n\
         \x20 </IfModule>\n\
         \x20 <IfModule mod_nonexistent.c>\n\
         \x20   NoSuchDirective\n\
         \x20 </IfModule>\n\
         </WSGIInterpreterOptions>",
        inc.display()
    ));
    assert!(ok, "{out}");
}
