//! The parsers of the process-wide directives ([`GlobalSettings`]), valid
//! only in the main server. (Their `On | Off` ones are plain table entries.)
//!
//! [`GlobalSettings`]: super::settings::GlobalSettings

use super::args::{flag, invalid, one, require_absolute};
use super::directives::{ConfigContext, Directive, Target};
use super::error::ConfigError;
use super::python_home;
use super::settings::HashSeed;

pub(super) fn python_home(
    target: &mut Target<'_>,
    d: &Directive,
    words: &[String],
    _: &dyn ConfigContext,
) -> Result<(), ConfigError> {
    let g = target.global(d.name)?;
    let v = one(
        d.name,
        words,
        "the sys.prefix of a Python installation or virtualenv",
    )?;
    require_absolute(d.name, "directory", v)?;
    python_home::check(v, python_home::BUILT_PYTHON).map_err(|source| ConfigError::PythonHome {
        directive: d.name,
        source,
    })?;
    g.python_home = Some(v.to_string());
    Ok(())
}

pub(super) fn python_path(
    target: &mut Target<'_>,
    d: &Directive,
    words: &[String],
    _: &dyn ConfigContext,
) -> Result<(), ConfigError> {
    let g = target.global(d.name)?;
    let v = one(d.name, words, "colon-separated directories")?;
    g.python_path
        .extend(v.split(':').filter(|p| !p.is_empty()).map(str::to_string));
    Ok(())
}

pub(super) fn per_interpreter_gil(
    target: &mut Target<'_>,
    d: &Directive,
    words: &[String],
    _: &dyn ConfigContext,
) -> Result<(), ConfigError> {
    let g = target.global(d.name)?;
    let on = flag(d.name, words)?;
    let built = python_home::BUILT_PYTHON;
    if on && !python_home::at_least(built, (3, 12)) {
        return Err(ConfigError::NeedsPython312 {
            directive: d.name,
            built,
        });
    }
    g.per_interpreter_gil = Some(on);
    Ok(())
}

/// `WSGIFreeThreading Off` is what every supported build does already (the
/// GIL stays on), so it is accepted and changes nothing; `On` needs a
/// free-threaded CPython build, which this module is never built for.
pub(super) fn free_threading(
    target: &mut Target<'_>,
    d: &Directive,
    words: &[String],
    _: &dyn ConfigContext,
) -> Result<(), ConfigError> {
    target.global(d.name)?;
    if flag(d.name, words)? {
        return Err(ConfigError::NeedsFreeThreadedPython {
            directive: d.name,
            built: python_home::BUILT_PYTHON,
        });
    }
    Ok(())
}

/// Deprecated (`LogLevel wsgi:debug` replaces it): checked, then ignored.
pub(super) fn verbose_debugging(
    target: &mut Target<'_>,
    d: &Directive,
    words: &[String],
    _: &dyn ConfigContext,
) -> Result<(), ConfigError> {
    target.global(d.name)?;
    flag(d.name, words)?;
    Ok(())
}

pub(super) fn python_optimize(
    target: &mut Target<'_>,
    d: &Directive,
    words: &[String],
    _: &dyn ConfigContext,
) -> Result<(), ConfigError> {
    let g = target.global(d.name)?;
    let v = one(d.name, words, "0, 1 or 2")?;
    g.python_optimize = Some(match v {
        "0" => 0,
        "1" => 1,
        "2" => 2,
        _ => return Err(invalid(d.name, "0, 1 or 2", v)),
    });
    Ok(())
}

pub(super) fn python_hash_seed(
    target: &mut Target<'_>,
    d: &Directive,
    words: &[String],
    _: &dyn ConfigContext,
) -> Result<(), ConfigError> {
    let g = target.global(d.name)?;
    let v = one(d.name, words, "random or a number 0..4294967295")?;
    g.python_hash_seed = Some(if v.eq_ignore_ascii_case("random") {
        HashSeed::Random
    } else {
        HashSeed::Fixed(
            v.parse()
                .map_err(|_| invalid(d.name, "'random' or a number from 0 to 4294967295", v))?,
        )
    });
    Ok(())
}

pub(super) fn python_warnings(
    target: &mut Target<'_>,
    d: &Directive,
    words: &[String],
    _: &dyn ConfigContext,
) -> Result<(), ConfigError> {
    let g = target.global(d.name)?;
    let v = one(
        d.name,
        words,
        "a warnings filter such as ignore::DeprecationWarning",
    )?;
    g.python_warnings.push(v.to_string());
    Ok(())
}

pub(super) fn python_eggs(
    target: &mut Target<'_>,
    d: &Directive,
    words: &[String],
    _: &dyn ConfigContext,
) -> Result<(), ConfigError> {
    let g = target.global(d.name)?;
    let v = one(d.name, words, "a directory")?;
    require_absolute(d.name, "directory", v)?;
    g.python_eggs = Some(v.to_string());
    Ok(())
}

pub(super) fn switch_interval(
    target: &mut Target<'_>,
    d: &Directive,
    words: &[String],
    _: &dyn ConfigContext,
) -> Result<(), ConfigError> {
    let g = target.global(d.name)?;
    let v = one(d.name, words, "seconds, e.g. 0.005")?;
    match v.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => g.switch_interval = Some(s),
        _ => return Err(invalid(d.name, "a number of seconds greater than 0", v)),
    }
    Ok(())
}

pub(super) fn socket_prefix(
    target: &mut Target<'_>,
    d: &Directive,
    words: &[String],
    _: &dyn ConfigContext,
) -> Result<(), ConfigError> {
    let g = target.global(d.name)?;
    g.socket_prefix = Some(one(d.name, words, "a path prefix")?.to_string());
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
