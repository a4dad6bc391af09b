//! Checking `WSGIPythonHome` at configtest: the most common mod_wsgi failure
//! is a home that does not exist, points at site-packages, or is a virtualenv
//! made with another Python than the one the module embeds — which mod_wsgi
//! reports only as "No module named 'encodings'" in every child.

use std::fs;
use std::path::Path;

/// The Python X.Y this module was built against.
pub const BUILT_PYTHON: &str = env!("WSGI_PYTHON_VERSION");

/// Whether Python `version` ("3.11") is at least `min`.
pub fn at_least(version: &str, min: (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= min
}

/// Why a directory cannot be a Python home (sys.prefix).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PythonHomeError {
    #[error("'{home}' does not exist or is not a directory")]
    NotADirectory { home: String },
    #[error(
        "the virtualenv '{home}' was made with Python {found}, but this module \
         embeds Python {version}; recreate it with python{version} -m venv"
    )]
    OtherPython {
        home: String,
        found: String,
        version: String,
    },
    #[error(
        "'{home}' is neither a virtualenv (no pyvenv.cfg) nor a Python {version} \
         installation (no lib/python{version}){}",
        if *.site_packages {
            " (it should be the sys.prefix, e.g. the virtualenv directory, not its site-packages)"
        } else {
            ""
        }
    )]
    NotAPrefix {
        home: String,
        version: String,
        /// The directory is a `site-packages`: a common mistake, worth a hint.
        site_packages: bool,
    },
}

/// `Ok` if `home` can serve as sys.prefix for Python `version` ("3.11").
pub fn check(home: &str, version: &str) -> Result<(), PythonHomeError> {
    let dir = Path::new(home);
    if !dir.is_dir() {
        return Err(PythonHomeError::NotADirectory {
            home: home.to_string(),
        });
    }
    let venv_cfg = dir.join("pyvenv.cfg");
    if let Ok(text) = fs::read_to_string(&venv_cfg) {
        // venv writes `version = 3.11.2`; virtualenv writes `version_info = 3.11.2.final.0`.
        let found = text.lines().find_map(|line| {
            let (k, v) = line.split_once('=')?;
            matches!(k.trim(), "version" | "version_info").then(|| v.trim().to_string())
        });
        return match found {
            Some(v) if v == version || v.starts_with(&format!("{version}.")) => Ok(()),
            Some(found) => Err(PythonHomeError::OtherPython {
                home: home.to_string(),
                found,
                version: version.to_string(),
            }),
            None => Ok(()),
        };
    }
    if dir.join(format!("lib/python{version}")).is_dir() {
        return Ok(());
    }
    Err(PythonHomeError::NotAPrefix {
        home: home.to_string(),
        version: version.to_string(),
        site_packages: dir.ends_with("site-packages"),
    })
}

/// The interpreter this module was built against (build.rs): without a
/// Python home, CPython finds its prefix from this program's location.
pub const BUILT_EXECUTABLE: &str = env!("WSGI_PYTHON_EXECUTABLE");

/// Where Python `version`'s standard library landmark (`os.py`) must be for
/// a process whose Python home is `home` (WSGIPythonHome / python-home=),
/// or, without one, which runs `executable`: CPython's own search
/// (`getpath`), reduced to the layouts a Python home can have.
pub fn stdlib_landmark(home: Option<&str>, executable: &str, version: &str) -> std::path::PathBuf {
    let lib = format!("lib/python{version}/os.py");
    let prefix_of_program = |program: &Path| {
        program
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("/"))
            .to_path_buf()
    };
    match home {
        Some(home) => {
            let venv = Path::new(home).join("pyvenv.cfg");
            // A virtualenv's stdlib is its base installation's: pyvenv.cfg's
            // `home` is that installation's bin directory.
            let base = fs::read_to_string(venv).ok().and_then(|text| {
                text.lines().find_map(|line| {
                    let (k, v) = line.split_once('=')?;
                    (k.trim() == "home").then(|| Path::new(v.trim()).join("python"))
                })
            });
            match base {
                Some(program) => prefix_of_program(&program).join(lib),
                None => Path::new(home).join(lib),
            }
        }
        None => prefix_of_program(Path::new(executable)).join(lib),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("mwr-home-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn minimum_versions() {
        assert!(at_least("3.12", (3, 12)));
        assert!(at_least("3.13", (3, 12)));
        assert!(at_least("4.0", (3, 12)));
        assert!(!at_least("3.11", (3, 12)));
        assert!(!at_least("3.9", (3, 12)));
    }

    #[test]
    fn where_the_standard_library_must_be() {
        let landmark = |home, exe| stdlib_landmark(home, exe, "3.11");
        assert_eq!(
            landmark(None, "/usr/bin/python3.11"),
            Path::new("/usr/lib/python3.11/os.py")
        );
        assert_eq!(
            landmark(Some("/opt/py"), "/usr/bin/python3.11"),
            Path::new("/opt/py/lib/python3.11/os.py")
        );
        let venv = tempdir("landmark-venv");
        fs::write(
            venv.join("pyvenv.cfg"),
            "home = /opt/base/bin
version = 3.11.2
",
        )
        .unwrap();
        assert_eq!(
            landmark(venv.to_str(), "/usr/bin/python3.11"),
            Path::new("/opt/base/lib/python3.11/os.py")
        );
        let _ = fs::remove_dir_all(venv);
    }

    #[test]
    fn homes() {
        assert!(
            check("/nonexistent/venv", "3.11")
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
        let venv = tempdir("venv");
        fs::write(
            venv.join("pyvenv.cfg"),
            "home = /usr/bin\nversion = 3.11.2\n",
        )
        .unwrap();
        assert!(check(venv.to_str().unwrap(), "3.11").is_ok());
        let v = venv.to_str().unwrap();
        assert_eq!(
            check(v, "3.12").unwrap_err().to_string(),
            format!(
                "the virtualenv '{v}' was made with Python 3.11.2, but this module embeds \
                 Python 3.12; recreate it with python3.12 -m venv"
            )
        );
        let virtualenv = tempdir("virtualenv");
        fs::write(
            virtualenv.join("pyvenv.cfg"),
            "version_info = 3.11.7.final.0\n",
        )
        .unwrap();
        assert!(check(virtualenv.to_str().unwrap(), "3.11").is_ok());
        let prefix = tempdir("prefix");
        fs::create_dir_all(prefix.join("lib/python3.11")).unwrap();
        assert!(check(prefix.to_str().unwrap(), "3.11").is_ok());
        let sp = tempdir("sp").join("site-packages");
        fs::create_dir_all(&sp).unwrap();
        let sp = sp.to_str().unwrap();
        assert_eq!(
            check(sp, "3.11").unwrap_err().to_string(),
            format!(
                "'{sp}' is neither a virtualenv (no pyvenv.cfg) nor a Python 3.11 installation \
                 (no lib/python3.11) (it should be the sys.prefix, e.g. the virtualenv directory, \
                 not its site-packages)"
            )
        );
        let p = prefix.to_str().unwrap();
        assert_eq!(
            check(p, "3.12").unwrap_err().to_string(),
            format!(
                "'{p}' is neither a virtualenv (no pyvenv.cfg) nor a Python 3.12 installation \
                 (no lib/python3.12)"
            )
        );
        for d in [venv, virtualenv, prefix] {
            let _ = fs::remove_dir_all(d);
        }
    }
}
