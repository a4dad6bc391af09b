//! Where things are on this machine: the apache2 binary, the mod_wsgi-rs
//! module, httpd's own modules, `mime.types`, and where the logs can go.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

use crate::cli::Mpm;
use crate::{absolute, warn};

/// Debian's directory of httpd modules (MPMs, authz_core, mime, ...).
pub(super) const DEBIAN_MODULES: &str = "/usr/lib/apache2/modules";

fn apxs_libexecdir() -> Option<PathBuf> {
    let out = Command::new("apxs")
        .args(["-q", "LIBEXECDIR"])
        .output()
        .ok()?;
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

/// httpd's module directory (for the MPM, authz_core, ...).
pub(super) fn modules_dir(mpm: Mpm) -> Result<PathBuf> {
    let has_mpm = |d: &Path| d.join(format!("mod_mpm_{}.so", mpm.name())).is_file();
    let debian = PathBuf::from(DEBIAN_MODULES);
    if has_mpm(&debian) {
        return Ok(debian);
    }
    if let Some(d) = apxs_libexecdir()
        && has_mpm(&d)
    {
        return Ok(d);
    }
    bail!(
        "cannot find httpd's modules (mod_mpm_{}.so) in {DEBIAN_MODULES} or $(apxs -q LIBEXECDIR); \
         install Apache (apt-get install apache2 apache2-dev)",
        mpm.name()
    )
}

/// The mod_wsgi-rs module: --module, else next to this program, else apxs's dir.
pub(super) fn find_module(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        if !p.is_file() {
            bail!("--module {}: no such file", p.display());
        }
        return absolute(p);
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf));
    let beside = exe_dir.as_ref().map(|d| d.join("libmod_wsgi_rs.so"));
    // In a cargo target directory, `cargo run`/`cargo test` refresh deps/ but
    // only `cargo build` refreshes the copy beside the binary: take the newer.
    let newest = exe_dir
        .iter()
        .flat_map(|d| {
            [
                d.join("libmod_wsgi_rs.so"),
                d.join("deps/libmod_wsgi_rs.so"),
            ]
        })
        .filter_map(|p| Some((fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max();
    if let Some((_, p)) = newest {
        return Ok(p);
    }
    let installed = apxs_libexecdir()
        .unwrap_or_else(|| PathBuf::from(DEBIAN_MODULES))
        .join("mod_wsgi_rs.so");
    if installed.is_file() {
        return Ok(installed);
    }
    bail!(
        "cannot find the mod_wsgi-rs module: neither {} nor {} exists. Build it with \
         `cargo build --release` (it is target/release/libmod_wsgi_rs.so), install it, or pass --module PATH",
        beside.map_or_else(
            || "libmod_wsgi_rs.so next to wsgi-express".to_string(),
            |p| p.display().to_string()
        ),
        installed.display()
    )
}

/// The httpd to run: --apache-binary, else apache2 on PATH, else /usr/sbin.
pub(super) fn find_apache(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("apache2");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let sbin = PathBuf::from("/usr/sbin/apache2");
    if sbin.is_file() {
        return Ok(sbin);
    }
    bail!(
        "cannot find apache2 in PATH or /usr/sbin; install it (apt-get install apache2) or pass \
         --apache-binary PATH"
    )
}

/// `TypesConfig` for mod_mime, if httpd has it (else mod_mime is not loaded).
pub(super) fn mime_types(modules_dir: &Path) -> Option<PathBuf> {
    modules_dir.join("mod_mime.so").is_file().then(|| {
        let etc = PathBuf::from("/etc/mime.types");
        if etc.is_file() {
            etc
        } else {
            PathBuf::from("/dev/null")
        }
    })
}

/// `/dev/stderr` or `/dev/stdout` when httpd (running as us) can reopen it,
/// else `fallback`: a terminal, file or pipe can be reopened, a socket (as
/// under systemd) or a file we may not write cannot.
pub(super) fn log_target(dev: &str, fallback: &Path) -> PathBuf {
    match fs::OpenOptions::new().append(true).open(dev) {
        Ok(_) => PathBuf::from(dev),
        Err(e) => {
            warn(&format!(
                "cannot reopen {dev} ({e}); logging to {} instead",
                fallback.display()
            ));
            fallback.to_path_buf()
        }
    }
}
