//! What a test needs of the machine, and case lists that report every
//! failing case. A test that cannot run its check fails, saying what is
//! missing: it never passes without checking.

use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::{Command, Stdio};

pub fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// Fails the test unless it runs as root; `why` says what needs root.
#[track_caller]
pub fn require_root(why: &str) {
    assert!(
        is_root(),
        "this test must run as root ({why}); CI and scripts/test.sh run as root"
    );
}

/// Fails the test unless `program` can be started, naming the Debian package
/// that provides it (scripts/setup.sh installs every one the suite needs).
#[track_caller]
pub fn require_program(program: &str, package: &str) {
    let started = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if let Err(e) = started {
        panic!(
            "this test needs `{program}`, which cannot be run ({e}): \
             apt-get install {package} (scripts/setup.sh installs it)"
        );
    }
}

/// The text of a caught panic.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(a panic without a message)".into())
}

/// Runs `check` on every case, so that one failing case does not hide the
/// others, then fails naming each case that failed and why.
#[track_caller]
pub fn each_case<C: Debug>(cases: impl IntoIterator<Item = C>, mut check: impl FnMut(&C)) {
    let mut failed = Vec::new();
    let mut count = 0;
    for case in cases {
        count += 1;
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| check(&case))) {
            failed.push(format!("--- case {case:?}:\n{}", panic_text(&*e)));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {count} cases failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// Runs each named check (independent checks against one server), so that
/// one failing check does not hide the others; then fails naming each
/// check that failed and why.
#[track_caller]
pub fn each_check(checks: &[(&str, &dyn Fn())]) {
    let mut failed = Vec::new();
    for (name, check) in checks {
        if let Err(e) = catch_unwind(AssertUnwindSafe(check)) {
            failed.push(format!("--- {name}:\n{}", panic_text(&*e)));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} checks failed:\n{}",
        failed.len(),
        checks.len(),
        failed.join("\n")
    );
}
