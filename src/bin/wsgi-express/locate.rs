//! Where things are on this machine: the apache2 binary, the mod_wsgi-rs
//! module, httpd's own modules and MPMs, `mime.types`, and the programs the
//! generated files run (rotatelogs, tee, the shell).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::absolute;
use crate::cli::Mpm;

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

/// httpd's module directory (for the MPM, authz_core, ...): --modules-directory,
/// else Debian's, else `apxs -q LIBEXECDIR`.
pub(super) fn modules_dir(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(d) = given {
        return absolute(d).context("--modules-directory");
    }
    let has_mpm = |d: &Path| {
        Mpm::ALL
            .iter()
            .any(|m| d.join(format!("mod_mpm_{}.so", m.name())).is_file())
    };
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
        "cannot find httpd's modules (mod_mpm_*.so) in {DEBIAN_MODULES} or $(apxs -q LIBEXECDIR); \
         install Apache (apt-get install apache2 apache2-dev) or pass --modules-directory"
    )
}

/// The MPM to load: the first of event, worker and prefork (mod_wsgi-express's
/// order) that `preferred` allows (all when empty) and `modules_dir` has.
pub(super) fn choose_mpm(modules_dir: &Path, preferred: &[Mpm]) -> Result<Mpm> {
    Mpm::ALL
        .into_iter()
        .filter(|m| preferred.is_empty() || preferred.contains(m))
        .find(|m| {
            modules_dir
                .join(format!("mod_mpm_{}.so", m.name()))
                .is_file()
        })
        .with_context(|| {
            format!(
                "none of the MPMs asked for ({}) is in {}",
                if preferred.is_empty() {
                    "event, worker, prefork".to_string()
                } else {
                    preferred
                        .iter()
                        .map(|m| m.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                modules_dir.display()
            )
        })
}

/// `name` on PATH.
pub(super) fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// rotatelogs: on PATH, else where Debian puts it.
pub(super) fn rotatelogs() -> PathBuf {
    program("rotatelogs").unwrap_or_else(|| PathBuf::from("/usr/bin/rotatelogs"))
}

/// The apachectl script's shell: bash (for `exec -a`), else sh.
pub(super) fn default_shell() -> PathBuf {
    ["/bin/bash", "/usr/bin/bash"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("/bin/sh"))
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

/// The httpd to run: --httpd-executable, else apache2 on PATH, else /usr/sbin.
pub(super) fn find_apache(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        if p.is_absolute() {
            return Ok(p.to_path_buf());
        }
        return program(&p.to_string_lossy())
            .with_context(|| format!("--httpd-executable {}: not found on PATH", p.display()));
    }
    if let Some(p) = program("apache2") {
        return Ok(p);
    }
    let sbin = PathBuf::from("/usr/sbin/apache2");
    if sbin.is_file() {
        return Ok(sbin);
    }
    bail!(
        "cannot find apache2 in PATH or /usr/sbin; install it (apt-get install apache2) or pass \
         --httpd-executable PATH"
    )
}

/// `TypesConfig` for mod_mime: /etc/mime.types, else nothing.
pub(super) fn mime_types() -> PathBuf {
    let etc = PathBuf::from("/etc/mime.types");
    if etc.is_file() {
        etc
    } else {
        PathBuf::from("/dev/null")
    }
}
