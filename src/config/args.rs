//! Checks on a directive's words shared by the parsers.

use super::error::ConfigError;
use super::script_alias::parse_on_off;

/// The only argument of a directive that takes exactly one.
pub(super) fn one<'w>(
    name: &'static str,
    words: &'w [String],
    what: &'static str,
) -> Result<&'w str, ConfigError> {
    match words {
        [word] => Ok(word),
        _ => Err(ConfigError::ArgumentCount {
            directive: name,
            what,
            got: words.len(),
        }),
    }
}

/// `value` refused: it must be one of the `expected` spellings.
pub(super) fn invalid(name: &'static str, expected: &'static str, value: &str) -> ConfigError {
    ConfigError::InvalidValue {
        directive: name,
        expected,
        value: value.to_string(),
    }
}

/// The single `On`/`Off` argument of a flag directive.
pub(super) fn flag(name: &'static str, words: &[String]) -> Result<bool, ConfigError> {
    let v = one(name, words, "On or Off")?;
    parse_on_off(v).ok_or_else(|| invalid(name, "On or Off", v))
}

pub(super) fn require_absolute(
    name: &'static str,
    what: &'static str,
    path: &str,
) -> Result<(), ConfigError> {
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(ConfigError::NotAbsolute {
            directive: name,
            what,
            path: path.to_string(),
        })
    }
}
