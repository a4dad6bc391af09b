//! Bytes and Python `str`, the way PEP 3333 and mod_wsgi convert them.

use pyo3::prelude::*;
use pyo3::types::PyString;

use super::environ::Decode;

/// Bytes as a `str` of latin-1 code points: PEP 3333's "native strings"
/// (one code point per byte), and how mod_wsgi passes user names,
/// passwords and realms to access-control scripts.
pub(crate) fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
    let s: String = bytes.iter().map(|&b| b as char).collect();
    PyString::new(py, &s)
}

/// A `str` of latin-1 code points back to bytes; `None` if it has others.
pub(crate) fn to_latin1(s: &Bound<'_, PyString>) -> Option<Vec<u8>> {
    let text = s.to_str().ok()?;
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

/// An environ value: ASCII as is; a file system path as UTF-8 when it is
/// valid UTF-8; anything else as latin-1.
pub(crate) fn environ_value<'py>(
    py: Python<'py>,
    bytes: &[u8],
    decode: Decode,
) -> Bound<'py, PyString> {
    match std::str::from_utf8(bytes) {
        Ok(s) if decode == Decode::FsPath || s.is_ascii() => PyString::new(py, s),
        _ => latin1(py, bytes),
    }
}
