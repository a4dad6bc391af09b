//! Every `extern "C"` function httpd calls goes through [`guard`]: a Rust panic
//! is logged and turned into the function's failure value; it never unwinds
//! into httpd's C frames.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::log::{self, Level};

/// Runs `f`, returning `fallback` (after logging) if it panics.
pub(crate) fn guard<R>(what: &str, fallback: R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            log::process(Level::Crit, &format!("internal error in {what}: {msg}"));
            fallback
        }
    }
}
