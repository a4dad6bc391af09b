//! Naming the module a WSGI script is loaded as, and the modification time
//! its reloading compares.

use std::collections::HashMap;
use std::sync::Mutex;

use md5::{Digest, Md5};

/// `path`'s modification time in microseconds since the epoch (the unit of
/// httpd's `finfo.mtime` and of a loaded script module's `__mtime__`);
/// `None` if it cannot be read.
pub(crate) fn file_mtime(path: &str) -> Option<i64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since.as_micros()).ok()
}

/// `_mod_wsgi_<md5 of the path>`, as mod_wsgi names script modules (apps test
/// `__name__.startswith('_mod_wsgi_')`). With case-insensitive file systems the
/// path is lower-cased first so both spellings share one module.
pub(crate) fn module_name(path: &str, case_sensitive: bool) -> String {
    // Asked for on every request: the few names a process uses are kept
    // (by case sensitivity, then path).
    static NAMES: Mutex<Option<[HashMap<String, String>; 2]>> = Mutex::new(None);
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let names = &mut names.get_or_insert_with(Default::default)[usize::from(case_sensitive)];
    if let Some(name) = names.get(path) {
        return name.clone();
    }
    let name = hashed_name(path, case_sensitive);
    if names.len() >= 1024 {
        names.clear();
    }
    names.insert(path.to_string(), name.clone());
    name
}

fn hashed_name(path: &str, case_sensitive: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let path = if case_sensitive {
        path.to_string()
    } else {
        path.to_lowercase()
    };
    let digest = Md5::digest(path.as_bytes());
    let mut name = String::with_capacity(10 + 32);
    name.push_str("_mod_wsgi_");
    for b in digest {
        name.push(char::from(HEX[usize::from(b >> 4)]));
        name.push(char::from(HEX[usize::from(b & 15)]));
    }
    name
}

/// The modification time of `path` in microseconds (0 when it cannot be
/// read: loading the script then reports why).
pub(crate) fn mtime(path: &str) -> i64 {
    file_mtime(path).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_mod_wsgi() {
        assert_eq!(
            module_name("/srv/hello.wsgi", true),
            "_mod_wsgi_1c28350b704a38d171e9342db1c01184"
        );
        assert_eq!(module_name("/A.wsgi", false), module_name("/a.wsgi", true));
        assert_ne!(module_name("/A.wsgi", true), module_name("/a.wsgi", true));
    }
}
