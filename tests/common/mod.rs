//! The integration-test harness, shared by every test crate (`mod common;`):
//!
//! * `apache`: a real httpd with our module on a free loopback port, in a
//!   private directory, killed by PID when the test ends; its
//!   configuration, error log, daemon sockets, and `apache2 -t`;
//! * `http`: real HTTP over TCP, incremental reads, response parsing;
//! * `client`: a keep-alive HTTP/1.1 client;
//! * `proc`: processes as /proc shows them, and strace;
//! * `wait`: bounded waiting (every poll loop goes through `wait_for`);
//! * `check`: what a test needs of the machine (it fails, saying what to
//!   install, rather than pass without checking), and case lists that
//!   report every failing case;
//! * `dir`: private test directories; `data`: digests and test bodies;
//! * `ext`: whether the embedded Python has per-interpreter GILs, and a
//!   single-phase-init C extension module compiled for it;
//! * here: the Python the module embeds, and the test venv.

#![allow(dead_code, unused_imports, unreachable_pub)] // each test crate uses a part

mod apache;
mod check;
mod client;
mod data;
mod dir;
mod ext;
mod http;
mod proc;
mod wait;

pub use apache::*;
pub use check::*;
pub use client::*;
pub use data::*;
pub use dir::*;
pub use ext::*;
pub use http::*;
pub use proc::*;
pub use wait::*;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Python source defining `interpreter_id()`, the ID of the interpreter the
/// code runs in (0: main), on every supported Python (3.13 renamed the
/// module and returns `(id, whence)`).
pub const INTERPRETER_ID_PY: &str = r#"
def interpreter_id():
    try:
        import _interpreters as m
    except ImportError:
        import _xxsubinterpreters as m
    current = m.get_current()
    return int(current[0] if isinstance(current, tuple) else current)
"#;

/// The Python X.Y the module under test embeds ("3.12").
pub const PYTHON_VERSION: &str = env!("WSGI_PYTHON_VERSION");
/// The interpreter the module under test was built against.
pub const PYTHON_EXECUTABLE: &str = env!("WSGI_PYTHON_EXECUTABLE");

/// A Python venv with Flask and Django, readable by the Apache user, made
/// with the Python the module embeds. Created once (by `scripts/setup.sh` or
/// on first use); its `.ready` marker names the Python that made it.
pub fn test_venv() -> PathBuf {
    let venv = PathBuf::from(
        std::env::var("MOD_WSGI_RS_TEST_VENV")
            .unwrap_or_else(|_| format!("/var/cache/mod_wsgi_rs/test-venv-{PYTHON_VERSION}")),
    );
    let marker = venv.join(".ready");
    let ready = || fs::read_to_string(&marker).is_ok_and(|s| s.trim() == PYTHON_EXECUTABLE);
    if ready() {
        return venv;
    }
    let lock = PathBuf::from(format!("{}.lock", venv.display()));
    fs::create_dir_all(venv.parent().unwrap()).unwrap();
    // A simple cross-process lock: whoever creates the lock file builds the
    // venv; the others wait for it to be ready.
    let took_lock = wait_for_every(Duration::from_secs(600), Duration::from_millis(500), || {
        if ready() {
            return Some(false);
        }
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
            .ok()
            .map(|_| true)
    });
    match took_lock {
        Some(true) => {}
        Some(false) => return venv,
        None => panic!(
            "waited 600 s for {} (left by an interrupted run? scripts/setup.sh removes it)",
            lock.display()
        ),
    }
    let build = || -> Result<(), String> {
        let run = |cmd: &mut Command| -> Result<(), String> {
            let out = cmd.output().map_err(|e| e.to_string())?;
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).into_owned())
            }
        };
        run(Command::new(PYTHON_EXECUTABLE)
            .args(["-m", "venv", "--clear"])
            .arg(&venv))?;
        run(Command::new(venv.join("bin/pip")).args(["install", "-q", "flask", "django"]))?;
        run(Command::new("chmod").args(["-R", "a+rX"]).arg(&venv))?;
        fs::write(&marker, PYTHON_EXECUTABLE).map_err(|e| e.to_string())
    };
    let result = build();
    let _ = fs::remove_file(&lock);
    if let Err(e) = result {
        panic!(
            "cannot create the test venv at {} (scripts/setup.sh makes it): {e}",
            venv.display()
        );
    }
    venv
}
