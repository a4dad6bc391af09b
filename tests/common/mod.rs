//! Integration-test harness: a real httpd with our module, on a free loopback
//! port, in a private directory; real HTTP over TCP; the error log to inspect.
//! Every wait is bounded and Apache is killed by PID when the test ends.

#![allow(dead_code)]

mod client;
#[allow(unused_imports)] // not every test crate uses it
pub use client::Client;

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const MODULES: &str = "/usr/lib/apache2/modules";

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

pub fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .unwrap()
        .port()
}

/// A private directory every Apache user can read (apps and config live here).
pub struct TestDir(pub PathBuf);

impl TestDir {
    pub fn new(tag: &str) -> TestDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "mwr-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        TestDir(path)
    }

    /// Writes a file (mode 644; parents 755) and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        self.write_bytes(name, contents.as_bytes())
    }

    pub fn write_bytes(&self, name: &str, contents: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
            let mut d = parent.to_path_buf();
            while d.starts_with(&self.0) {
                let _ = fs::set_permissions(&d, fs::Permissions::from_mode(0o755));
                if !d.pop() {
                    break;
                }
            }
        }
        // Written aside and renamed into place, as deployments replace files:
        // a request never reads a half-written script.
        let tmp = p.with_extension("tmp-write");
        fs::write(&tmp, contents).unwrap();
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644)).unwrap();
        fs::rename(&tmp, &p).unwrap();
        p
    }

    pub fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_TEST_DIRS").is_none() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mpm {
    Event,
    Worker,
    Prefork,
}

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

pub const START_TIMEOUT: Duration = Duration::from_secs(30);

impl Apache {
    /// Writes the configuration into `dir` and starts httpd in the foreground.
    pub fn start(dir: &TestDir, config: &ApacheConfig) -> Apache {
        let port = free_port();
        let conf = dir.0.join("httpd.conf");
        fs::write(&conf, config.render(&dir.0, port)).unwrap();
        let _ = fs::remove_file(dir.0.join("error.log"));
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
            .expect("start apache2 (apt-get install apache2)");
        OUR_PROCESS_GROUPS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(child.id() as i32);
        let mut apache = Apache {
            child,
            port,
            dir: dir.0.clone(),
            conf,
        };
        apache.wait_ready();
        apache
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "apache2 exited during start ({status}); error log:\n{}",
                    self.error_log()
                );
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "apache2 did not start listening in time; error log:\n{}",
                    self.error_log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
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
        String::from_utf8_lossy(&fs::read(self.dir.join("error.log")).unwrap_or_default())
            .into_owned()
    }

    /// Waits (bounded) until the error log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.error_log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
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
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n",
            self.port
        );
        let mut has_length = false;
        for (k, v) in headers {
            if k.eq_ignore_ascii_case("content-length")
                || k.eq_ignore_ascii_case("transfer-encoding")
            {
                has_length = true;
            }
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !has_length && (!body.is_empty() || method == "POST" || method == "PUT") {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut raw = req.into_bytes();
        raw.extend_from_slice(body);
        parse_response(&self.raw(&raw), method == "HEAD")
    }

    /// Sends raw bytes and returns everything the server sends back before
    /// closing (bounded by a read timeout).
    pub fn raw(&self, bytes: &[u8]) -> Vec<u8> {
        let mut s = self.connect();
        s.write_all(bytes).expect("send request");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to apache");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
        s
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
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        self.stop();
        // Children that outlived the parent (they should not) are killed too.
        kill_orphans(&self.conf);
    }
}

fn kill_orphans(conf: &Path) {
    for pid in pids_with_cmdline(&conf.display().to_string()) {
        // SAFETY: kill on a PID whose command line names our private config.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Process groups of the Apaches this test binary started (each runs in its
/// own group; its children and daemons stay in it, even once orphaned).
static OUR_PROCESS_GROUPS: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

/// The process group of `pid` (field 5 of /proc/<pid>/stat).
fn process_group(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces: fields follow its ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// Processes of this test binary's Apaches whose command line contains
/// `needle`, sorted (other test binaries running at the same time have
/// daemons with the same names).
pub fn pids_with_cmdline(needle: &str) -> Vec<i32> {
    let ours = OUR_PROCESS_GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = fs::read(e.path().join("cmdline"))
            && String::from_utf8_lossy(&cmd).contains(needle)
            && process_group(pid).is_some_and(|g| ours.contains(&g))
        {
            out.push(pid);
        }
    }
    out.sort();
    out
}

/// The `user=` option daemon tests give WSGIDaemonProcess (only as root).
pub fn daemon_user() -> &'static str {
    if is_root() { "user=nobody " } else { "" }
}

/// Names of the daemon socket files in `dir`.
pub fn socket_names(dir: &TestDir) -> Vec<String> {
    fs::read_dir(&dir.0)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sock"))
        .collect()
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
        .output()
        .expect("apache2 -t");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[derive(Debug, Default, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// For chunked responses: whether the terminating zero chunk arrived.
    pub complete: bool,
    pub raw: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Parses one HTTP/1.1 response (Content-Length, chunked, or read-to-close).
pub fn parse_response(raw: &[u8], head_request: bool) -> Response {
    let mut r = Response {
        raw: raw.to_vec(),
        ..Default::default()
    };
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return r;
    };
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    parts.next();
    r.status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    r.reason = parts.next().unwrap_or("").to_string();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            r.headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let body = &raw[end + 4..];
    if head_request {
        r.complete = true;
        return r;
    }
    if r.header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        let (data, complete) = dechunk(body);
        r.body = data;
        r.complete = complete;
    } else if let Some(n) = r
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        r.complete = body.len() >= n;
        r.body = body[..n.min(body.len())].to_vec();
    } else {
        r.body = body.to_vec();
        r.complete = true;
    }
    r
}

fn dechunk(mut b: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return (out, false);
        };
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            return (out, false);
        };
        b = &b[eol + 2..];
        if size == 0 {
            return (out, true);
        }
        if b.len() < size + 2 {
            out.extend_from_slice(&b[..size.min(b.len())]);
            return (out, false);
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// Closes the write half (for tests of clients that stop sending).
pub fn half_close(s: &TcpStream) {
    let _ = s.shutdown(Shutdown::Write);
}

/// The first word a coreutils filter prints for `data` on its stdin.
pub fn filter(cmd: &str, args: &[&str], data: &[u8]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(data)?;
            c.wait_with_output()
        })
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

pub fn sha256_hex(data: &[u8]) -> String {
    filter("sha256sum", &[], data)
}

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
    // A simple cross-process lock: whoever creates the lock file builds the venv.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if ready() {
            return venv;
        }
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(_) => break,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(500)),
            Err(e) => panic!("waiting for {}: {e}", lock.display()),
        }
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
        panic!("cannot create the test venv at {}: {e}", venv.display());
    }
    venv
}
