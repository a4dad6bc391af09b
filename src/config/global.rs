//! The parsers of the process-wide directives ([`GlobalSettings`]), valid
//! only in the main server. (Their `On | Off` ones are plain table entries.)
//!
//! [`GlobalSettings`]: super::settings::GlobalSettings

use super::directives::{Applied, Call, Target};
use super::error::ConfigError;
use super::python_home;
use super::settings::HashSeed;

pub(super) fn python_home(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    let g = target.global(c.name)?;
    let v = c.one("the sys.prefix of a Python installation or virtualenv")?;
    c.absolute("directory", v)?;
    python_home::check(v, python_home::BUILT_PYTHON).map_err(|source| ConfigError::PythonHome {
        directive: c.name,
        source,
    })?;
    g.python_home = Some(v.to_string());
    Ok(())
}

pub(super) fn python_path(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    let g = target.global(c.name)?;
    let v = c.one("colon-separated directories")?;
    g.python_path
        .extend(v.split(':').filter(|p| !p.is_empty()).map(str::to_string));
    Ok(())
}

pub(super) fn per_interpreter_gil(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    let g = target.global(c.name)?;
    let on = c.flag()?;
    let built = python_home::BUILT_PYTHON;
    if on && !python_home::at_least(built, (3, 12)) {
        return Err(ConfigError::NeedsPython312 {
            directive: c.name,
            built,
        });
    }
    g.per_interpreter_gil = Some(on);
    Ok(())
}

/// `WSGIFreeThreading Off` is what every supported build does already (the
/// GIL stays on), so it is accepted and changes nothing; `On` needs a
/// free-threaded CPython build, which this module is never built for.
pub(super) fn free_threading(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    target.global(c.name)?;
    if c.flag()? {
        return Err(ConfigError::NeedsFreeThreadedPython {
            directive: c.name,
            built: python_home::BUILT_PYTHON,
        });
    }
    Ok(())
}

/// Deprecated (`LogLevel wsgi:debug` replaces it): checked, then ignored.
pub(super) fn verbose_debugging(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    target.global(c.name)?;
    c.flag()?;
    Ok(())
}

pub(super) fn python_optimize(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    let g = target.global(c.name)?;
    let v = c.one("0, 1 or 2")?;
    g.python_optimize = Some(match v {
        "0" => 0,
        "1" => 1,
        "2" => 2,
        _ => return Err(c.invalid("0, 1 or 2", v)),
    });
    Ok(())
}

pub(super) fn python_hash_seed(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    let g = target.global(c.name)?;
    let v = c.one("random or a number 0..4294967295")?;
    g.python_hash_seed = Some(if v.eq_ignore_ascii_case("random") {
        HashSeed::Random
    } else {
        HashSeed::Fixed(
            v.parse()
                .map_err(|_| c.invalid("'random' or a number from 0 to 4294967295", v))?,
        )
    });
    Ok(())
}

pub(super) fn python_warnings(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    let g = target.global(c.name)?;
    let v = c.one("a warnings filter such as ignore::DeprecationWarning")?;
    g.python_warnings.push(v.to_string());
    Ok(())
}

pub(super) fn python_eggs(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    let g = target.global(c.name)?;
    let v = c.one("a directory")?;
    c.absolute("directory", v)?;
    g.python_eggs = Some(v.to_string());
    Ok(())
}

pub(super) fn switch_interval(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    let g = target.global(c.name)?;
    let v = c.one("seconds, e.g. 0.005")?;
    match v.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => g.switch_interval = Some(s),
        _ => return Err(c.invalid("a number of seconds greater than 0", v)),
    }
    Ok(())
}

/// Checked as mod_wsgi checks it, then ignored: a daemon's threads take
/// connections from a non-blocking listener in their epoll set, so
/// processes need no lock between them.
pub(super) fn accept_mutex(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    target.global(c.name)?;
    const MECHANISMS: &[&str] = &[
        "default", "flock", "fcntl", "sysvsem", "posixsem", "pthread",
    ];
    let v = c.one("Default, flock, fcntl, sysvsem, posixsem or pthread")?;
    if !MECHANISMS.iter().any(|m| m.eq_ignore_ascii_case(v)) {
        return Err(c.invalid("Default, flock, fcntl, sysvsem, posixsem or pthread", v));
    }
    Ok(())
}

/// mod_wsgi 6's telemetry directives: refused by name, saying why (rather
/// than httpd's "Invalid command ... perhaps misspelled").
pub(super) fn telemetry(c: &Call<'_>, _: &mut Target<'_>) -> Applied {
    Err(ConfigError::NoTelemetry { directive: c.name })
}

pub(super) fn socket_prefix(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    let g = target.global(c.name)?;
    g.socket_prefix = Some(c.one("a path prefix")?.to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::settings::HashSeed;
    use crate::config::testing::server;

    #[test]
    fn flags_and_globals() {
        let s = server(&[
            "WSGIScriptReloading off",
            "WSGIPythonPath /a:/b",
            "WSGIPythonPath /c",
            "WSGIPythonHashSeed 42",
            "WSGIPythonOptimize 2",
            "WSGILazyInitialization Off",
            "WSGISocketRotation Off",
        ])
        .unwrap();
        assert_eq!(s.global.socket_rotation, Some(false));
        assert!(server(&["WSGISocketRotation sometimes"]).is_err());
        assert_eq!(s.settings.script_reloading, Some(false));
        assert_eq!(s.global.python_path, vec!["/a", "/b", "/c"]);
        assert_eq!(s.global.python_hash_seed, Some(HashSeed::Fixed(42)));
        assert_eq!(s.global.python_optimize, Some(2));
        assert!(!s.global.lazy_initialization());
        assert!(
            server(&["WSGIScriptReloading maybe"])
                .unwrap_err()
                .contains("must be On or Off, not 'maybe'")
        );
        assert!(server(&["WSGIPythonOptimize 3"]).is_err());
        assert!(server(&["WSGIPythonHashSeed -1"]).is_err());
    }
}
