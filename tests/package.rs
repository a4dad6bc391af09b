//! The Debian package, end to end on this machine (as root): built with
//! `scripts/package.sh` (cargo deb; lintian must find no error), installed
//! with `dpkg -i`, enabled with `a2enmod wsgi_rs`, the system Apache started
//! with a site using `WSGIScriptAlias` and answering through it, then
//! `apt-get purge`: none of the package's files is left and Apache's
//! configuration and module state are as they were. Whatever happens, the
//! system Apache is stopped and the package, the site and the application
//! are removed again.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

const PACKAGE: &str = "libapache2-mod-wsgi-rs";
const SITE: &str = "zz-mod-wsgi-rs-package-test";
const APP_DIR: &str = "/srv/mod-wsgi-rs-package-test";

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every file and link under `dir` with its content (or link target).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&p).unwrap_or_default();
            out.insert(p, format!("-> {}", target.display()));
        } else if meta.is_dir() {
            // Only what is in them: Debian's helpers create empty state
            // directories (/var/lib/apache2/module/disabled_by_admin) the
            // first time they are used, whoever uses them.
            out.extend(snapshot(&p));
        } else {
            let text = fs::read(&p).unwrap_or_default();
            out.insert(p, sha256_hex(&text));
        }
    }
    out
}

/// What Apache's configuration and module state are made of.
fn apache_state() -> BTreeMap<PathBuf, String> {
    let mut s = snapshot(Path::new("/etc/apache2"));
    s.extend(snapshot(Path::new("/var/lib/apache2")));
    s
}

/// The system Apache's pid, from its pid file.
fn system_apache_pid() -> Option<i32> {
    fs::read_to_string("/var/run/apache2/apache2.pid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|pid| Path::new(&format!("/proc/{pid}")).exists())
}

/// Undoes everything the test may have done, whatever state it is in.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        if system_apache_pid().is_some() {
            let _ = Command::new("apache2ctl").arg("stop").output();
            wait_until(Duration::from_secs(20), || system_apache_pid().is_none());
        }
        let _ = fs::remove_file(format!("/etc/apache2/sites-enabled/{SITE}.conf"));
        let _ = fs::remove_file(format!("/etc/apache2/sites-available/{SITE}.conf"));
        let _ = fs::remove_dir_all(APP_DIR);
        let _ = Command::new("dpkg").args(["--purge", PACKAGE]).output();
    }
}

#[test]
fn the_debian_package_installs_serves_and_purges_cleanly() {
    require_root("it installs a package and runs the system Apache");
    require_program("lintian", "lintian");
    require_program("dpkg-shlibdeps", "dpkg-dev");
    assert!(
        system_apache_pid().is_none(),
        "the system Apache is running: stop it first (apache2ctl stop)"
    );
    assert!(
        !Command::new("dpkg")
            .args(["-s", "libapache2-mod-wsgi-py3"])
            .output()
            .is_ok_and(|o| o.status.success()),
        "libapache2-mod-wsgi-py3 is installed: this test would replace it"
    );
    let _cleanup = Cleanup;
    // Leftovers of an earlier, interrupted run go before the snapshot.
    drop(Cleanup);
    let before = apache_state();

    // Built for the distribution's Python, whatever Python this suite was
    // built for: only that one has a libpython package to depend on.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = run(Command::new(repo.join("scripts/package.sh"))
        .current_dir(repo)
        .env("PYO3_PYTHON", "/usr/bin/python3")
        .env("CARGO_TARGET_DIR", repo.join("target/package")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let deb = PathBuf::from(stdout.lines().last().unwrap_or("").trim());
    assert!(
        deb.extension().is_some_and(|x| x == "deb") && deb.is_file(),
        "scripts/package.sh printed no package: {stdout}"
    );
    let control =
        String::from_utf8_lossy(&run(Command::new("dpkg-deb").arg("-f").arg(&deb)).stdout)
            .into_owned();
    let python = String::from_utf8_lossy(
        &run(Command::new("/usr/bin/python3")
            .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"]))
        .stdout,
    )
    .trim()
    .to_string();
    assert!(
        control.contains(&format!("libpython{python}"))
            && control.contains("apache2-api-20120211")
            && control.contains("Conflicts: libapache2-mod-wsgi-py3"),
        "{control}"
    );

    run(Command::new("dpkg").arg("-i").arg(&deb));
    let files: Vec<String> =
        String::from_utf8_lossy(&run(Command::new("dpkg").args(["-L", PACKAGE])).stdout)
            .lines()
            .map(str::to_string)
            .collect();
    for f in [
        "/usr/lib/apache2/modules/mod_wsgi_rs.so",
        "/etc/apache2/mods-available/wsgi_rs.load",
        "/etc/apache2/mods-available/wsgi_rs.conf",
        "/usr/bin/wsgi-express",
    ] {
        assert!(files.iter().any(|l| l == f), "{f} is not in the package");
    }
    // The maintainer script enabled it; a2enmod says it already is.
    assert!(Path::new("/etc/apache2/mods-enabled/wsgi_rs.load").exists());
    run(Command::new("a2enmod").arg("wsgi_rs"));

    fs::create_dir_all(APP_DIR).unwrap();
    fs::set_permissions(APP_DIR, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(
        format!("{APP_DIR}/app.wsgi"),
        "def application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'packaged app']\n",
    )
    .unwrap();
    fs::set_permissions(
        format!("{APP_DIR}/app.wsgi"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let port = free_port();
    fs::write(
        format!("/etc/apache2/sites-available/{SITE}.conf"),
        format!(
            "Listen 127.0.0.1:{port}\n<VirtualHost 127.0.0.1:{port}>\n    WSGIScriptAlias /app {APP_DIR}/app.wsgi\n    <Directory {APP_DIR}>\n        Require all granted\n    </Directory>\n</VirtualHost>\n"
        ),
    )
    .unwrap();
    // Enabled by hand: a2ensite/a2dissite would leave their state markers
    // in /var/lib/apache2 behind.
    std::os::unix::fs::symlink(
        format!("../sites-available/{SITE}.conf"),
        format!("/etc/apache2/sites-enabled/{SITE}.conf"),
    )
    .unwrap();
    run(Command::new("apache2ctl").arg("configtest"));
    run(Command::new("apache2ctl").arg("start"));
    let served = wait_for(Duration::from_secs(30), || {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "5"])
            .arg(format!("http://127.0.0.1:{port}/app"))
            .output()
            .ok()?;
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        body.starts_with("packaged").then_some(body)
    });
    assert_eq!(
        served.as_deref(),
        Some("packaged app"),
        "the system Apache did not serve the app:\n{}",
        fs::read_to_string("/var/log/apache2/error.log").unwrap_or_default()
    );
    run(Command::new("apache2ctl").arg("stop"));
    assert!(
        wait_until(Duration::from_secs(20), || system_apache_pid().is_none()),
        "the system Apache did not stop"
    );
    fs::remove_file(format!("/etc/apache2/sites-enabled/{SITE}.conf")).unwrap();
    fs::remove_file(format!("/etc/apache2/sites-available/{SITE}.conf")).unwrap();
    fs::remove_dir_all(APP_DIR).unwrap();

    run(Command::new("apt-get").args(["purge", "-y", "-q", PACKAGE]));
    let left: Vec<&String> = files
        .iter()
        .filter(|f| {
            let p = Path::new(f.as_str());
            // Directories other packages share (/usr, /etc/apache2, ...) stay.
            fs::symlink_metadata(p).is_ok_and(|m| !m.is_dir())
        })
        .collect();
    assert!(left.is_empty(), "left behind after purge: {left:?}");
    assert!(!Path::new("/usr/share/doc/libapache2-mod-wsgi-rs").exists());
    assert_eq!(
        apache_state(),
        before,
        "Apache's configuration or module state changed"
    );
}
