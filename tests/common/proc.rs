//! Processes, as /proc shows them: which belong to this test binary's
//! Apaches, their parents, states and memory; strace.

use std::fs;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::check::require_program;
use super::wait::SECS5;

/// Process groups of the servers this test binary started (each runs in its
/// own group; its children and daemons stay in it, even once orphaned).
static OUR_PROCESS_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Records the process group led by `pid` (a child started with
/// `process_group(0)`) as one of this test binary's.
pub fn track_process_group(pid: i32) {
    OUR_PROCESS_GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(pid);
}

/// The fields of /proc/<pid>/stat after the command name (field 3 on: the
/// name, field 2, may contain spaces and parentheses).
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The process group of `pid` (field 5 of /proc/<pid>/stat).
fn process_group(pid: i32) -> Option<i32> {
    stat_fields(pid)?.get(2)?.parse().ok()
}

fn all_pids() -> impl Iterator<Item = i32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
}

/// Processes of this test binary's servers whose command line contains
/// `needle`, sorted (other test binaries running at the same time have
/// daemons with the same names).
pub fn pids_with_cmdline(needle: &str) -> Vec<i32> {
    let ours = OUR_PROCESS_GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut out: Vec<i32> = all_pids()
        .filter(|&pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).contains(needle))
                && process_group(pid).is_some_and(|g| ours.contains(&g))
        })
        .collect();
    out.sort();
    out
}

/// Kills (SIGKILL) this test binary's processes whose command line contains
/// `needle`: children that outlived their parent (there should be none).
pub fn kill_leftovers(needle: &str) {
    for pid in pids_with_cmdline(needle) {
        // SAFETY: kill on a PID of one of our own servers' process groups.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Whether /proc still has an entry for `pid` (running, or a zombie not yet
/// reaped).
pub fn exists(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether `pid` is running: it exists and is not a zombie (whose command
/// line is empty).
pub fn running(pid: i32) -> bool {
    fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
}

/// A `Key:` line of /proc/<pid>/status, trimmed.
pub fn status_field(pid: i32, key: &str) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)
                .and_then(|v| v.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        })
}

pub fn ppid(pid: i32) -> Option<i32> {
    status_field(pid, "PPid")?.parse().ok()
}

/// The resident set size of `pid`, in KiB.
pub fn rss_kib(pid: i32) -> u64 {
    let v = status_field(pid, "VmRSS").unwrap_or_else(|| panic!("no VmRSS for pid {pid}"));
    v.trim_end_matches("kB").trim().parse().unwrap()
}

/// (pid, state) of every child of `parent`.
pub fn children_of(parent: i32) -> Vec<(i32, char)> {
    all_pids()
        .filter_map(|pid| {
            let fields = stat_fields(pid)?;
            (fields.get(1)?.parse::<i32>().ok()? == parent)
                .then(|| (pid, fields[0].chars().next().unwrap_or('?')))
        })
        .collect()
}

pub fn zombies_of(parent: i32) -> Vec<i32> {
    children_of(parent)
        .into_iter()
        .filter(|(_, s)| *s == 'Z')
        .map(|(p, _)| p)
        .collect()
}

/// Runs `f` while `strace` watches process `pid` (and its threads) for
/// `syscalls`; returns the trace. Fails the test when strace is missing or
/// cannot attach (it needs ptrace: root, or CAP_SYS_PTRACE in a container).
#[track_caller]
pub fn strace_during(pid: &str, syscalls: &str, f: impl FnOnce()) -> String {
    require_program("strace", "strace");
    let out = std::env::temp_dir().join(format!("mwr-strace-{}-{pid}", std::process::id()));
    let mut child = Command::new("strace")
        .args(["-f", "-e", &format!("trace={syscalls}"), "-o"])
        .arg(&out)
        .args(["-p", pid])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start strace");
    // strace reports each attached thread on stderr; wait (bounded) for one.
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().expect("strace's stderr");
    let reader = std::thread::spawn(move || {
        let mut said = Vec::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("attached") {
                let _ = tx.send(());
            }
            said.push(line);
        }
        said.join("\n")
    });
    let attached = rx.recv_timeout(SECS5).is_ok();
    if attached {
        // Let every thread be attached before the traffic starts.
        std::thread::sleep(Duration::from_millis(300));
        f();
        std::thread::sleep(Duration::from_millis(300));
    }
    // SAFETY: SIGINT to the strace we spawned (by its PID) makes it detach.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let _ = child.wait();
    let said = reader.join().unwrap_or_default();
    let trace = fs::read_to_string(&out);
    let _ = fs::remove_file(&out);
    assert!(
        attached,
        "strace could not attach to pid {pid} within 5 s (it needs ptrace: run as root, \
         or give the container CAP_SYS_PTRACE); strace said:\n{said}"
    );
    trace.unwrap_or_else(|e| panic!("strace wrote no trace ({e}); it said:\n{said}"))
}
