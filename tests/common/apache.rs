//! A real httpd with our module on a free loopback port, in a private
//! directory, stopped (by PID) when dropped; its configuration, error log
//! and daemon sockets.

use std::collections::BTreeMap;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::check::is_root;
use super::dir::TestDir;
use super::http::{self, Response};
use super::proc::{kill_leftovers, track_process_group};
use super::wait::{wait_for, wait_until};

pub const MODULES: &str = "/usr/lib/apache2/modules";
const INSTALL_APACHE: &str = "apt-get install apache2 (scripts/setup.sh does)";
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The module built by `cargo test` (next to the test binary's deps dir).
pub fn module_path() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    // `cargo test` refreshes deps/ (it does not uplift the cdylib); `cargo
    // build` refreshes the top-level copy. Use whichever is newer.
    let newest = [
        dir.join("deps/libmod_wsgi_rs.so"),
        dir.join("libmod_wsgi_rs.so"),
    ]
    .into_iter()
    .filter_map(|p| Some((fs::metadata(&p).ok()?.modified().ok()?, p)))
    .max();
    match newest {
        Some((_, so)) => so,
        None => panic!(
            "libmod_wsgi_rs.so is missing under {}: run `cargo build`",
            dir.display()
        ),
    }
}

/// A loopback port nothing listens on, for a server about to start. Taken
/// below the kernel's ephemeral range (32768 and up): a port from that
/// range can become the local port of any client connection (another
/// test's, or `wait_listening`'s own connect, which then connects to
/// itself) before the server binds it. Tests of one binary take turns
/// through the range; binaries of a run start at different places.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20000;
    const COUNT: u32 = 12000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(97) % COUNT;
    for _ in 0..COUNT {
        let port = (FIRST + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % COUNT) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}-{}", FIRST + COUNT - 1)
}

/// Waits (bounded by START_TIMEOUT) until `child` listens on `port`; fails,
/// with `what` and `describe()` (its logs), if it exits or never listens.
pub fn wait_listening(child: &mut Child, port: u16, what: &str, describe: impl Fn() -> String) {
    let started = wait_for(START_TIMEOUT, || {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(Err(status));
        }
        TcpStream::connect(("127.0.0.1", port))
            .is_ok()
            .then_some(Ok(()))
    });
    match started {
        Some(Ok(())) => {}
        Some(Err(status)) => panic!("{what} exited during start ({status}):\n{}", describe()),
        None => panic!(
            "{what} did not start listening within {START_TIMEOUT:?}:\n{}",
            describe()
        ),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mpm {
    Event,
    Worker,
    Prefork,
}

#[derive(Clone)]
pub struct ApacheConfig {
    pub mpm: Mpm,
    pub threads: u32,
    pub servers: u32,
    pub extra_modules: Vec<&'static str>,
    pub log_level: String,
    /// Module and WSGI directives; `{dir}` is replaced by the test directory.
    pub body: String,
}

impl Default for ApacheConfig {
    fn default() -> Self {
        ApacheConfig {
            mpm: Mpm::Event,
            threads: 10,
            servers: 1,
            extra_modules: Vec::new(),
            log_level: "info".into(),
            body: String::new(),
        }
    }
}

impl ApacheConfig {
    pub fn new(body: &str) -> ApacheConfig {
        ApacheConfig {
            body: body.to_string(),
            ..Default::default()
        }
    }
    pub fn mpm(mut self, mpm: Mpm) -> Self {
        self.mpm = mpm;
        self
    }
    pub fn modules(mut self, m: &[&'static str]) -> Self {
        self.extra_modules.extend_from_slice(m);
        self
    }
    pub fn threads(mut self, threads: u32, servers: u32) -> Self {
        self.threads = threads;
        self.servers = servers;
        self
    }
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = level.to_string();
        self
    }

    fn render(&self, dir: &Path, port: u16) -> String {
        let d = dir.display();
        let mpm = match self.mpm {
            Mpm::Event => "event",
            Mpm::Worker => "worker",
            Mpm::Prefork => "prefork",
        };
        let sizing = match self.mpm {
            Mpm::Prefork => format!(
                "StartServers {s}\nMinSpareServers 1\nMaxSpareServers {s}\nServerLimit {m}\nMaxRequestWorkers {m}\n",
                s = self.servers.max(1),
                m = (self.servers * 4).max(4)
            ),
            _ => format!(
                "StartServers {s}\nServerLimit {l}\nThreadsPerChild {t}\nThreadLimit {t}\nMaxRequestWorkers {w}\nMinSpareThreads 1\nMaxSpareThreads {w}\n",
                s = self.servers,
                l = self.servers * 2,
                t = self.threads,
                w = self.threads * self.servers
            ),
        };
        let mut conf = format!(
            "ServerRoot {d}\nServerName localhost\nListen 127.0.0.1:{port}\nPidFile {d}/httpd.pid\n\
             ErrorLog {d}/error.log\nLogLevel {lvl}\nMutex file:{d} default\nTimeout 20\n\
             DefaultRuntimeDir {d}\nLoadModule mpm_{mpm}_module {MODULES}/mod_mpm_{mpm}.so\n{sizing}\
             LoadModule authz_core_module {MODULES}/mod_authz_core.so\n",
            lvl = self.log_level
        );
        if is_root() {
            conf.push_str("User www-data\nGroup www-data\n");
        }
        for m in &self.extra_modules {
            conf.push_str(&format!("LoadModule {m}_module {MODULES}/mod_{m}.so\n"));
        }
        conf.push_str(&format!(
            "LoadModule wsgi_module {}\n",
            module_path().display()
        ));
        conf.push_str(&format!(
            "<Directory {d}>\n  Require all granted\n</Directory>\n"
        ));
        conf.push_str(&self.body.replace("{dir}", &d.to_string()));
        conf.push('\n');
        conf
    }
}

/// A running httpd, stopped (by PID) when dropped.
pub struct Apache {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub conf: PathBuf,
}

impl Apache {
    /// Writes the configuration into `dir` and starts httpd in the foreground.
    pub fn start(dir: &TestDir, config: &ApacheConfig) -> Apache {
        let port = free_port();
        let conf = dir.0.join("httpd.conf");
        fs::write(&conf, config.render(&dir.0, port)).unwrap();
        Apache::start_file(&dir.0, conf, port)
    }

    /// Starts httpd in the foreground on a configuration file already
    /// written in `dir` (its ErrorLog `dir/error.log`) that listens on `port`.
    pub fn start_file(dir: &Path, conf: PathBuf, port: u16) -> Apache {
        let _ = fs::remove_file(dir.join("error.log"));
        // Its own process group: prefork signals its whole group on shutdown.
        let child = Command::new("apache2")
            .process_group(0)
            .arg("-f")
            .arg(&conf)
            .arg("-DFOREGROUND")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start apache2 ({e}): {INSTALL_APACHE}"));
        track_process_group(child.id() as i32);
        let mut apache = Apache {
            child,
            port,
            dir: dir.to_path_buf(),
            conf,
        };
        let log = apache.dir.join("error.log");
        wait_listening(&mut apache.child, port, "apache2", || {
            format!("error log:\n{}", read_lossy(&log))
        });
        apache
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Rewrites the configuration file (same port and directory) for the
    /// next restart.
    pub fn reconfigure(&self, config: &ApacheConfig) {
        fs::write(&self.conf, config.render(&self.dir, self.port)).unwrap();
    }

    pub fn error_log(&self) -> String {
        read_lossy(&self.dir.join("error.log"))
    }

    /// Waits (bounded) until the error log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.error_log().contains(needle))
    }

    /// Counts the lines of the error log containing all of `parts`.
    pub fn log_lines_with(&self, parts: &[&str]) -> usize {
        self.error_log()
            .lines()
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .count()
    }

    /// Waits (bounded) for a log line containing all of `parts`.
    pub fn wait_log_line(&self, parts: &[&str], timeout: Duration) -> bool {
        wait_until(timeout, || self.log_lines_with(parts) > 0)
    }

    /// The error log has no sign of a crashed child.
    #[track_caller]
    pub fn assert_no_crash(&self) {
        let log = self.error_log();
        for bad in [
            "Segmentation fault",
            "exit signal",
            "child pid",
            "panicked",
            "internal error while serving",
            "Fatal Python error",
        ] {
            assert!(!log.contains(bad), "found {bad:?} in the error log:\n{log}");
        }
    }

    /// Sends a signal to the Apache parent (SIGUSR1 = graceful, SIGHUP = restart).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill on our own child's PID.
        unsafe { libc::kill(self.pid(), sig) };
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    /// GETs `path`, which must answer 200; its body as text.
    #[track_caller]
    pub fn get_ok(&self, path: &str) -> String {
        let r = self.get(path);
        assert_eq!(r.status, 200, "{path}: {}\n{}", r.text(), self.error_log());
        r.text()
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Response {
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/octet-stream")],
            body,
        )
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        http::request(self.port, method, path, headers, body)
    }

    /// Sends raw bytes and returns everything the server sends back before
    /// closing (bounded by a read timeout).
    pub fn raw(&self, bytes: &[u8]) -> Vec<u8> {
        http::exchange(self.port, bytes)
    }

    /// Sends a request head (`{port}` replaced) and body; the connection is
    /// returned for reading the response incrementally.
    pub fn send_request(&self, head: &str, body: &[u8]) -> TcpStream {
        http::send_request(self.port, head, body)
    }

    pub fn connect(&self) -> TcpStream {
        http::connect(self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Stops httpd (SIGTERM, then SIGKILL), bounded.
    pub fn stop(&mut self) {
        if !self.is_running() {
            return;
        }
        self.signal(libc::SIGTERM);
        if !wait_until(Duration::from_secs(15), || !self.is_running()) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        self.stop();
        // Children that outlived the parent (they should not) are killed too.
        kill_leftovers(&self.conf.display().to_string());
    }
}

fn read_lossy(path: &Path) -> String {
    String::from_utf8_lossy(&fs::read(path).unwrap_or_default()).into_owned()
}

/// The `user=` option daemon tests give WSGIDaemonProcess (only as root).
pub fn daemon_user() -> &'static str {
    if is_root() { "user=nobody " } else { "" }
}

/// The daemon socket files in `dir` and their inodes.
/// The daemon socket files in `dir`, each with its identity: inode and
/// change time (an inode number alone can be reused at once by a socket
/// made anew).
pub fn socket_files(dir: &TestDir) -> BTreeMap<String, (u64, i64, i64)> {
    fs::read_dir(&dir.0)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".sock"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata()
                    .map(|m| (m.ino(), m.ctime(), m.ctime_nsec()))
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// Names of the daemon socket files in `dir`.
pub fn socket_names(dir: &TestDir) -> Vec<String> {
    socket_files(dir).into_keys().collect()
}

/// Runs `apache2 -t` on a minimal configuration plus `body`.
pub fn configtest(body: &str) -> (bool, String) {
    let dir = TestDir::new("configtest");
    let conf = dir.0.join("httpd.conf");
    let text = format!(
        "ServerRoot {d}\nServerName localhost\nListen 127.0.0.1:{p}\nErrorLog {d}/error.log\nPidFile {d}/pid\n\
         LoadModule mpm_event_module {MODULES}/mod_mpm_event.so\nLoadModule authz_core_module {MODULES}/mod_authz_core.so\n\
         LoadModule wsgi_module {so}\n{body}\n",
        d = dir.0.display(),
        p = free_port(),
        so = module_path().display()
    );
    fs::write(&conf, text).unwrap();
    let out = Command::new("apache2")
        .arg("-t")
        .arg("-f")
        .arg(&conf)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run apache2 -t ({e}): {INSTALL_APACHE}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}
