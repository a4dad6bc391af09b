//! What a daemon process keeps of the root Apache parent it was forked
//! from, and the options that restrict a group:
//! * no dumpable memory (its /proc files belong to root) unless
//!   CoreDumpDirectory asks for core dumps; exactly the configured ids;
//!   no inherited descriptor but stdin/stdout/stderr, its listener and the
//!   error logs.
//!
//! Needs root (daemons switch users).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

const APP: &str = include_str!("apps/hygiene.wsgi");
const NOBODY: u32 = 65534;
const NOGROUP: u32 = 65534;

fn require_root() {
    assert!(
        is_root(),
        "this test must run as root (daemons switch users; chroot needs bind mounts)"
    );
}

/// The app's `key=value` lines.
fn facts(apache: &Apache, path: &str) -> BTreeMap<String, String> {
    let r = apache.get(path);
    assert_eq!(r.status, 200, "{}\n{}", r.text(), apache.error_log());
    r.text()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn pid_of(f: &BTreeMap<String, String>) -> i32 {
    f["pid"].parse().unwrap()
}

/// Each open descriptor of `pid` and what it is.
fn descriptors(pid: i32) -> BTreeMap<i32, String> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let fd = e.file_name().to_str()?.parse().ok()?;
            let to = fs::read_link(e.path()).ok()?;
            Some((fd, to.display().to_string()))
        })
        .collect()
}

/// The inode of the UNIX socket listening on `path` (/proc/net/unix).
fn listener_inode(path: &Path) -> String {
    let path = path.display().to_string();
    fs::read_to_string("/proc/net/unix")
        .unwrap()
        .lines()
        .find_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            // Num RefCount Protocol Flags Type St Inode Path; St 01: listening.
            (cols.get(7) == Some(&path.as_str()) && cols.get(5) == Some(&"01"))
                .then(|| cols[6].to_string())
        })
        .unwrap_or_else(|| panic!("no listener on {path}"))
}

fn status_line(pid: i32, key: &str) -> String {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap()
}

fn hygiene_config(core_dumps: bool) -> ApacheConfig {
    ApacheConfig::new(&format!(
        "{}CustomLog {{dir}}/access.log \"%h %r %>s\"\n\
         <VirtualHost *>\n  ServerName vh.example\n  ErrorLog {{dir}}/vhost-error.log\n</VirtualHost>\n\
         WSGIDaemonProcess clean user=nobody threads=2\n\
         WSGIScriptAlias /app {{dir}}/app.wsgi process-group=clean application-group=%{{GLOBAL}}\n",
        if core_dumps {
            "CoreDumpDirectory {dir}/cores\n"
        } else {
            ""
        }
    ))
}

#[test]
fn a_daemon_keeps_nothing_of_the_root_parent() {
    require_root();
    let dir = TestDir::new("hygiene");
    dir.write("app.wsgi", APP);
    let apache = Apache::start(&dir, &hygiene_config(false));
    let f = facts(&apache, "/app/");
    let pid = pid_of(&f);

    // Exactly the target ids, real, effective, saved and file system; the
    // user's groups (nobody: nogroup).
    let ids = format!("{NOBODY}\t{NOBODY}\t{NOBODY}\t{NOBODY}");
    assert_eq!(status_line(pid, "Uid"), ids);
    assert_eq!(
        status_line(pid, "Gid"),
        ids.replace(&NOBODY.to_string(), &NOGROUP.to_string())
    );
    assert_eq!(status_line(pid, "Groups"), NOGROUP.to_string());
    // Not dumpable: the kernel makes its /proc files root's, so processes
    // of the same user (other apps running as nobody) cannot read its
    // memory or ptrace it.
    let status = fs::metadata(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(status.uid(), 0, "the daemon is dumpable");

    // Descriptors. The parent has more open (the access log, the MPM's
    // pipe, its TCP listener...); the daemon keeps:
    let parent = descriptors(apache.pid());
    let access_log = dir.path("access.log");
    assert!(parent.values().any(|t| *t == access_log), "{parent:?}");
    let sockets: Vec<PathBuf> = socket_names(&dir).iter().map(|n| dir.0.join(n)).collect();
    assert_eq!(sockets.len(), 1);
    let listener = format!("socket:[{}]", listener_inode(&sockets[0]));
    // The connection of the request just served may still be closing.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut fds = descriptors(pid);
    while fds
        .values()
        .any(|t| t.starts_with("socket:") && *t != listener)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
        fds = descriptors(pid);
    }
    let mut unexplained = Vec::new();
    let mut pipes = BTreeMap::new();
    for (fd, target) in &fds {
        let why = match (*fd, target.as_str()) {
            // stdin and stdout: /dev/null (httpd's).
            (0 | 1, "/dev/null") => "stdin/stdout",
            // stderr: httpd points it at the main server's ErrorLog.
            (2, t) if t == dir.path("error.log") => "stderr = main error log",
            // The virtual host's ErrorLog (its log lines are written there).
            (_, t) if t == dir.path("vhost-error.log") => "virtual host error log",
            // The group's listening socket.
            (_, t) if t == listener => "listener",
            // The pipe the worker opens to wake its accepting threads (both ends).
            (_, t) if t.starts_with("pipe:[") => {
                *pipes.entry(t.to_string()).or_insert(0) += 1;
                "wake pipe"
            }
            _ => "",
        };
        if why.is_empty() {
            unexplained.push(format!("{fd} -> {target}"));
        }
    }
    assert!(
        unexplained.is_empty(),
        "descriptors the daemon should not have: {unexplained:?} (all: {fds:?})"
    );
    assert_eq!(pipes.values().collect::<Vec<_>>(), vec![&2], "{fds:?}");
    assert!(fds.values().any(|t| *t == listener), "{fds:?}");
    drop(apache);

    // CoreDumpDirectory: dumpable again after dropping root, as httpd makes
    // its own children (its /proc files are then the daemon user's).
    let cores = dir.0.join("cores");
    fs::create_dir_all(&cores).unwrap();
    fs::set_permissions(&cores, fs::Permissions::from_mode(0o1777)).unwrap();
    let apache = Apache::start(&dir, &hygiene_config(true));
    let pid = pid_of(&facts(&apache, "/app/"));
    let status = fs::metadata(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(status.uid(), NOBODY, "CoreDumpDirectory set: dumpable");
}
