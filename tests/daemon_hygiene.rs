//! What a daemon process keeps of the root Apache parent it was forked
//! from, and the options that restrict a group:
//! * no dumpable memory (its /proc files belong to root) unless
//!   CoreDumpDirectory asks for core dumps; exactly the configured ids;
//!   no inherited descriptor but stdin/stdout/stderr, its listener and the
//!   error logs;
//! * chroot= (the daemon's `/` is the jail; paths rewritten; a jail without
//!   Python is a clear log line and a daemon restarted with back-off);
//! * script-user= / script-group= (403 for a script that is not theirs);
//! * deadlock-timeout (a process whose GIL stays held is replaced);
//! * options that would do nothing fail configtest.
//!
//! Needs root (users, mounts); every mount is removed whatever happens.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const APP: &str = include_str!("apps/hygiene.wsgi");
const NOBODY: u32 = 65534;
const NOGROUP: u32 = 65534;

const ROOT: &str = "daemons switch users; chroot needs bind mounts";

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

/// A read-only bind mount, unmounted when dropped (also when a test fails:
/// declared after the TestDir it lives in and before Apache, it is dropped
/// after Apache stopped and before the directory is removed).
struct BindMount(PathBuf);

impl BindMount {
    fn read_only(source: &str, target: &Path) -> BindMount {
        fs::create_dir_all(target).unwrap();
        let ok = Command::new("mount")
            .args(["--bind", "-o", "ro", source])
            .arg(target)
            .status()
            .expect("mount (util-linux)");
        assert!(
            ok.success(),
            "cannot bind-mount {source} on {}",
            target.display()
        );
        let mount = BindMount(target.to_path_buf());
        // util-linux remounts read-only after binding: check it did.
        assert!(
            fs::write(target.join(".mwr-write-test"), "").is_err(),
            "{} is writable",
            target.display()
        );
        mount
    }

    fn mounted(&self) -> bool {
        let target = self.0.display().to_string();
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(target.as_str()))
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        for args in [&[][..], &["-l"][..]] {
            if !self.mounted() {
                return;
            }
            let _ = Command::new("umount").args(args).arg(&self.0).status();
        }
        if self.mounted() {
            // Read-only, so removing the test directory cannot touch /usr.
            eprintln!("warning: {} is still mounted", self.0.display());
        }
    }
}

/// A minimal jail: the host's /usr (read-only) and the usual merged-/usr
/// links, plus an app and a marker file only present inside; the Python the
/// module embeds is mounted at its own path when it lives elsewhere (a
/// readable copy under /var/cache).
fn make_jail(dir: &TestDir, name: &str) -> (PathBuf, Vec<BindMount>) {
    let jail = dir.0.join(name);
    dir.write(&format!("{name}/app/app.wsgi"), APP);
    dir.write(&format!("{name}/inside-the-jail"), "");
    fs::create_dir_all(jail.join("htdocs")).unwrap();
    for (link, to) in [
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
        ("bin", "usr/bin"),
    ] {
        std::os::unix::fs::symlink(to, jail.join(link)).unwrap();
    }
    let mut mounts = vec![BindMount::read_only("/usr", &jail.join("usr"))];
    let prefix = Path::new(PYTHON_EXECUTABLE)
        .parent()
        .and_then(Path::parent)
        .unwrap();
    if !prefix.starts_with("/usr") {
        let inside = jail.join(prefix.strip_prefix("/").unwrap());
        mounts.push(BindMount::read_only(&prefix.display().to_string(), &inside));
    }
    (jail, mounts)
}

/// A jail (make_jail) with a group `jailed` serving /jail (in it) and
/// /outside (a script outside it), and a group `nopython` whose jail has no
/// Python; when Apache was started. Drop order: Apache, then the mounts,
/// then the directory.
fn chroot_server(tag: &str) -> (TestDir, PathBuf, Vec<BindMount>, Apache, Instant) {
    require_root(ROOT);
    let dir = TestDir::new(tag);
    let (jail, mounts) = make_jail(&dir, "jail");
    dir.write("outside/app.wsgi", APP);
    // A jail without Python: the daemon says so and is not restarted in a loop.
    dir.write("empty/app/app.wsgi", APP);
    let conf = ApacheConfig::new(
        "DocumentRoot {dir}/jail/htdocs\n\
         WSGIDaemonProcess jailed user=nobody threads=2 chroot={dir}/jail\n\
         WSGIDaemonProcess nopython user=nobody chroot={dir}/empty/ connect-timeout=2\n\
         WSGIScriptAlias /jail {dir}/jail/app/app.wsgi process-group=jailed application-group=%{GLOBAL}\n\
         WSGIScriptAlias /outside {dir}/outside/app.wsgi process-group=jailed application-group=%{GLOBAL}\n\
         WSGIScriptAlias /nopython {dir}/empty/app/app.wsgi process-group=nopython\n",
    );
    let started = Instant::now();
    let apache = Apache::start(&dir, &conf);
    (dir, jail, mounts, apache, started)
}

#[test]
fn a_chrooted_daemon_sees_only_its_jail() {
    let (_dir, jail, _mounts, apache, _started) = chroot_server("chroot");
    let f = facts(&apache, "/jail/");
    let mut expected = vec![
        "app",
        "bin",
        "htdocs",
        "inside-the-jail",
        "lib",
        "lib64",
        "usr",
    ];
    if let Some(top) = Path::new(PYTHON_EXECUTABLE).iter().nth(1)
        && top != "usr"
    {
        expected.push(top.to_str().unwrap());
        expected.sort();
    }
    assert_eq!(f["root"], expected.join(","), "{f:?}");
    assert_eq!(f["marker"], "True");
    // Paths as the daemon sees them (mod_wsgi rewrites them the same way).
    assert_eq!(f["script_filename"], "/app/app.wsgi");
    assert_eq!(f["file"], "/app/app.wsgi");
    assert_eq!(f["document_root"], "/htdocs");
    // nobody's home (/nonexistent) is not in the jail: its root instead.
    assert_eq!(f["cwd"], "/");
    assert_eq!(f["uid"], NOBODY.to_string());
    // The kernel agrees.
    assert_eq!(
        fs::read_link(format!("/proc/{}/root", pid_of(&f))).unwrap(),
        jail
    );
}

#[test]
fn a_script_outside_the_jail_is_refused() {
    let (dir, _jail, _mounts, apache, _started) = chroot_server("chroot-outside");
    // A script outside the jail cannot be run there.
    let r = apache.get("/outside/");
    assert_eq!(r.status, 500, "{}", apache.error_log());
    assert!(
        apache.wait_for_log(
            &format!(
                "WSGI script '{}/outside/app.wsgi' is not located within chroot directory '{}/jail'; rejecting request.",
                dir.0.display(),
                dir.0.display()
            ),
            Duration::from_secs(5)
        ),
        "{}",
        apache.error_log()
    );
}

#[test]
fn a_jail_without_python_is_explained_and_retried_with_back_off() {
    let (_dir, _jail, _mounts, apache, started) = chroot_server("chroot-nopython");
    // No Python in the jail: 503 after connect-timeout, and the log says
    // what the jail lacks.
    let r = apache.get("/nopython/");
    assert_eq!(r.status, 503, "{}", apache.error_log());
    let log = apache.error_log();
    assert!(
        log.contains("Daemon process 'nopython' cannot start: Python ")
            && log.contains("standard library is not inside the chroot")
            && log.contains("/lib/python"),
        "{log}"
    );
    // Restarted with a growing delay (1 s, 2 s, 4 s ...), not in a loop.
    while started.elapsed() < Duration::from_secs(8) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let attempts = apache
        .error_log()
        .matches("Daemon process 'nopython' cannot start")
        .count();
    assert!((2..=5).contains(&attempts), "{attempts} starts in 8 s");
    // The jailed group is unaffected.
    assert_eq!(facts(&apache, "/jail/")["marker"], "True");
}

/// `chown` a path (tests run as root).
fn chown(path: &Path, uid: u32, gid: u32, mode: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Scripts owned and permitted as `layout` says, under a group `su`
/// (script-user=nobody, at /u/<dir>) and a group `sg` (script-group=#65534,
/// at /g/<dir>).
fn script_owner_server(tag: &str) -> (TestDir, Apache) {
    require_root(ROOT);
    let dir = TestDir::new(tag);
    // (directory, owner, group, dir mode, file mode)
    let layout = [
        ("user-ok", NOBODY, NOGROUP, 0o755, 0o644),
        ("user-gw", NOBODY, NOGROUP, 0o755, 0o664),
        ("root-owned", 0, 0, 0o755, 0o644),
        ("dir-gw", NOBODY, NOGROUP, 0o775, 0o644),
        ("group-ok", 0, NOGROUP, 0o775, 0o664),
        ("group-ww", 0, NOGROUP, 0o755, 0o646),
        ("group-bad", 0, 0, 0o755, 0o644),
    ];
    for (sub, uid, gid, dmode, fmode) in layout {
        let file = dir.write(&format!("{sub}/app.wsgi"), APP);
        chown(&file, uid, gid, fmode);
        chown(&dir.0.join(sub), uid, gid, dmode);
    }
    let conf = ApacheConfig::new(
        "WSGIDaemonProcess su user=nobody threads=2 script-user=nobody\n\
         WSGIDaemonProcess sg user=nobody threads=2 script-group=#65534\n\
         WSGIScriptAliasMatch ^/u/([a-z-]+) {dir}/$1/app.wsgi process-group=su application-group=%{GLOBAL}\n\
         WSGIScriptAliasMatch ^/g/([a-z-]+) {dir}/$1/app.wsgi process-group=sg application-group=%{GLOBAL}\n",
    );
    let apache = Apache::start(&dir, &conf);
    (dir, apache)
}

/// `path` is refused with a 403 and a log line `message: <its script>`.
#[track_caller]
fn assert_refused(dir: &TestDir, apache: &Apache, path: &str, message: &str) {
    let r = apache.get(path);
    assert_eq!(
        r.status,
        403,
        "{path}: {}\n{}",
        r.text(),
        apache.error_log()
    );
    let line = format!(
        "{message}: {}",
        dir.0
            .join(path.split('/').nth(2).unwrap())
            .join("app.wsgi")
            .display()
    );
    assert!(
        apache.wait_for_log(&line, Duration::from_secs(5)),
        "{path}: no log line '{line}'\n{}",
        apache.error_log()
    );
}

#[test]
fn script_user_refuses_scripts_that_are_not_the_user_s() {
    let (dir, apache) = script_owner_server("script-user");
    assert_eq!(facts(&apache, "/u/user-ok")["uid"], NOBODY.to_string());
    each_case(
        [
            ("/u/user-gw", "WSGI script file is writable to group."),
            (
                "/u/root-owned",
                "WSGI script file owner 'root' does not match user required for daemon process.",
            ),
            (
                "/u/dir-gw",
                "Parent directory of WSGI script file is writable to group.",
            ),
        ],
        |(path, message)| assert_refused(&dir, &apache, path, message),
    );
    // The daemons never saw the refused requests.
    assert!(!apache.error_log().contains("refused a request"));
}

#[test]
fn script_group_refuses_scripts_that_are_not_the_group_s() {
    let (dir, apache) = script_owner_server("script-group");
    // Group-writable is fine, world-writable is not.
    assert_eq!(facts(&apache, "/g/group-ok")["uid"], NOBODY.to_string());
    each_case(
        [
            ("/g/group-ww", "WSGI script file is writable to world."),
            (
                "/g/group-bad",
                "WSGI script file group 'root' does not match group required for daemon process.",
            ),
        ],
        |(path, message)| assert_refused(&dir, &apache, path, message),
    );
    // The daemons never saw the refused requests.
    assert!(!apache.error_log().contains("refused a request"));
}

#[test]
fn options_that_would_do_nothing_fail_configtest() {
    each_case(
        [
            (
                "WSGIDaemonProcess a script-user=nobody script-group=nogroup",
                "script-user and script-group cannot both be given",
            ),
            (
                "WSGIDaemonProcess a script-user=no-such-user-mwr",
                "script-user 'no-such-user-mwr' does not exist",
            ),
            (
                "WSGIDaemonProcess a script-group=#4294967",
                "script-group '#4294967' does not exist",
            ),
        ],
        |(line, expect)| {
            let (ok, out) = configtest(line);
            assert!(!ok, "{line} accepted");
            assert!(out.contains(expect), "{line}: {out}");
        },
    );
}

#[test]
fn options_that_do_something_pass_configtest() {
    each_case(
        [
            "WSGIDaemonProcess a interrupt-timeout=0 server-metrics=Off deadlock-timeout=10",
            "WSGIDaemonProcess a request-timeout=60 interrupt-timeout=10",
            "WSGIDaemonProcess a server-metrics=On",
            "WSGIDaemonProcess a script-user=nobody",
            "WSGIDaemonProcess a script-group=nogroup chroot=/srv",
        ],
        |line| {
            let (ok, out) = configtest(line);
            assert_eq!(ok, is_root() || !line.contains("chroot"), "{line}: {out}");
        },
    );
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

/// The UNIX sockets named `path` in state `st` (/proc/net/unix: Num
/// RefCount Protocol Flags Type St Inode Path; St 01: listening, 03:
/// connected), as `socket:[inode]`. An accepted socket carries its
/// listener's name.
fn sockets_named(path: &Path, st: &str) -> BTreeSet<String> {
    let path = path.display().to_string();
    fs::read_to_string("/proc/net/unix")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.get(7) == Some(&path.as_str()) && cols.get(5) == Some(&st))
                .then(|| format!("socket:[{}]", cols[6]))
        })
        .collect()
}

/// The UNIX socket listening on `path`.
fn listener_socket(path: &Path) -> String {
    sockets_named(path, "01")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no listener on {}", path.display()))
}

/// The connections accepted on the socket at `path`.
fn connection_inodes(path: &Path) -> BTreeSet<String> {
    sockets_named(path, "03")
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

/// A root Apache (with an access log and a virtual host's error log) and
/// its `clean` daemon (user=nobody): the daemon's pid.
fn hygiene_server(tag: &str, core_dumps: bool) -> (TestDir, Apache, i32) {
    require_root(ROOT);
    let dir = TestDir::new(tag);
    dir.write("app.wsgi", APP);
    if core_dumps {
        let cores = dir.0.join("cores");
        fs::create_dir_all(&cores).unwrap();
        fs::set_permissions(&cores, fs::Permissions::from_mode(0o1777)).unwrap();
    }
    let apache = Apache::start(&dir, &hygiene_config(core_dumps));
    let pid = pid_of(&facts(&apache, "/app/"));
    (dir, apache, pid)
}

#[test]
fn a_daemon_has_exactly_its_user_s_ids_and_is_not_dumpable() {
    let (_dir, _apache, pid) = hygiene_server("hygiene-ids", false);
    // Exactly the target ids, real, effective, saved and file system; the
    // user's groups (nobody: nogroup).
    let ids = format!("{NOBODY}\t{NOBODY}\t{NOBODY}\t{NOBODY}");
    assert_eq!(status_field(pid, "Uid").unwrap(), ids);
    assert_eq!(
        status_field(pid, "Gid").unwrap(),
        ids.replace(&NOBODY.to_string(), &NOGROUP.to_string())
    );
    assert_eq!(status_field(pid, "Groups").unwrap(), NOGROUP.to_string());
    // Not dumpable: the kernel makes its /proc files root's, so processes
    // of the same user (other apps running as nobody) cannot read its
    // memory or ptrace it.
    let status = fs::metadata(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(status.uid(), 0, "the daemon is dumpable");
}

#[test]
fn a_daemon_keeps_no_descriptor_of_the_root_parent() {
    let (dir, apache, pid) = hygiene_server("hygiene-fds", false);
    // Descriptors. The parent has more open (the access log, the MPM's
    // pipe, its TCP listener...); the daemon keeps:
    let parent = descriptors(apache.pid());
    let access_log = dir.path("access.log");
    assert!(parent.values().any(|t| *t == access_log), "{parent:?}");
    let sockets: Vec<PathBuf> = socket_names(&dir).iter().map(|n| dir.0.join(n)).collect();
    assert_eq!(sockets.len(), 1);
    let listener = listener_socket(&sockets[0]);
    // The connection of the request just served is kept open by the Apache
    // child for its next request; any other socket may still be closing.
    let settled = |fds: &BTreeMap<i32, String>| {
        let kept = connection_inodes(&sockets[0]);
        !fds.values()
            .any(|t| t.starts_with("socket:") && *t != listener && !kept.contains(t))
    };
    let fds = wait_for(SECS5, || Some(descriptors(pid)).filter(settled))
        .unwrap_or_else(|| descriptors(pid));
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
            // A connection from an Apache child, kept between requests.
            (_, t) if connection_inodes(&sockets[0]).contains(t) => "kept connection",
            // The set of descriptors the request threads wait on.
            (_, "anon_inode:[eventpoll]") => "epoll set",
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
}

#[test]
fn core_dump_directory_makes_a_daemon_dumpable_again() {
    // CoreDumpDirectory: dumpable again after dropping root, as httpd makes
    // its own children (its /proc files are then the daemon user's).
    let (_dir, _apache, pid) = hygiene_server("hygiene-cores", true);
    let status = fs::metadata(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(status.uid(), NOBODY, "CoreDumpDirectory set: dumpable");
}

#[test]
fn a_daemon_whose_gil_stays_held_is_replaced() {
    let dir = TestDir::new("deadlock");
    let script = dir.write("app.wsgi", APP);
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess stuck {}threads=2 deadlock-timeout=3\n\
         WSGIScriptAlias /app {{dir}}/app.wsgi process-group=stuck application-group=%{{GLOBAL}}\n",
        daemon_user()
    ));
    let apache = Apache::start(&dir, &conf);
    let before = pid_of(&facts(&apache, "/app/"));
    // The app sleeps 60 s in C holding the GIL; after deadlock-timeout the
    // process is replaced (the request fails: nothing could finish it).
    let started = Instant::now();
    let r = apache.get("/app/hold?60");
    assert_eq!(r.status, 502, "{}", apache.error_log());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(
        apache.wait_for_log(
            "Daemon process 'stuck' deadlocked: Python's GIL could not be taken for",
            Duration::from_secs(5)
        ),
        "{}",
        apache.error_log()
    );
    let log = apache.error_log();
    // What was running, and where: the Python stack of the thread holding it.
    assert!(log.contains("1 request(s) running: thread "), "{log}");
    assert!(log.contains("GET /app/hold?60"), "{log}");
    assert!(log.contains("most recent call first"), "{log}");
    // The report names the stuck thread as the stack dump does.
    let id = log
        .split("1 request(s) running: thread ")
        .nth(1)
        .and_then(|rest| rest.split_once(" (")?.1.split(')').next())
        .unwrap_or_default();
    assert!(
        log.contains(&format!("Thread {id} (most recent call first):")),
        "{id}: {log}"
    );
    assert!(
        log.contains(&format!("File \"{}\", line", script.display()))
            && log.contains("in application"),
        "{log}"
    );
    // The failed request says why.
    assert!(
        log.lines().any(|l| l.contains("[client")
            && l.contains(&format!("(pid {before})"))
            && l.contains("deadlock-timeout")),
        "{log}"
    );
    // A new process serves the next request.
    let after = pid_of(&facts(&apache, "/app/"));
    assert_ne!(before, after);
}

/// A request looping in pure Python (it holds the GIL, but hands it over
/// at every switch interval) is not a deadlock, in a sub-interpreter too:
/// before Python 3.13 the heartbeat must wait for the GIL in the
/// interpreter the request runs in, or it is never let in.
#[test]
fn a_request_looping_in_a_sub_interpreter_is_not_a_deadlock() {
    let dir = TestDir::new("deadlock-loop");
    dir.write(
        "app.wsgi",
        "import time\n\
         def application(e, sr):\n    \
             end = time.monotonic() + float(e.get('QUERY_STRING') or 0)\n    \
             while time.monotonic() < end:\n        \
                 pass\n    \
             sr('200 OK', [('Content-Type', 'text/plain')])\n    \
             return [b'done']\n",
    );
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess busy {}threads=2 deadlock-timeout=2\n\
         WSGIScriptAlias /app {{dir}}/app.wsgi process-group=busy application-group=looping\n",
        daemon_user()
    ));
    let apache = Apache::start(&dir, &conf);
    assert_eq!(apache.get_ok("/app/?0"), "done");
    let r = apache.get("/app/?6");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(r.text(), "done");
    assert!(
        !apache.error_log().contains("deadlocked"),
        "{}",
        apache.error_log()
    );
}
