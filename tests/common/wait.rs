//! Bounded waiting: every poll loop of the suite goes through `wait_for`.

use std::path::Path;
use std::time::{Duration, Instant};

pub const SECS5: Duration = Duration::from_secs(5);
pub const SECS10: Duration = Duration::from_secs(10);

/// How often a condition is polled unless told otherwise.
pub const POLL: Duration = Duration::from_millis(50);

/// Polls `f` every `every` until it returns `Some` (returned) or `timeout`
/// has passed (`None`); `f` runs at least once, and once more at the
/// deadline.
pub fn wait_for_every<T>(
    timeout: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// Polls `f` (every 50 ms) until it returns `Some`, for at most `timeout`.
pub fn wait_for<T>(timeout: Duration, f: impl FnMut() -> Option<T>) -> Option<T> {
    wait_for_every(timeout, POLL, f)
}

/// Polls `f` (every 50 ms) until it holds, for at most `timeout`; whether it
/// did.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    wait_for(timeout, || f().then_some(())).is_some()
}

/// Waits (bounded) for a file the application writes, then returns its
/// contents once it has had time to be written completely.
pub fn wait_file(path: &Path, timeout: Duration) -> Option<String> {
    let first = wait_for_every(timeout, Duration::from_millis(20), || {
        std::fs::read_to_string(path).ok()
    })?;
    std::thread::sleep(Duration::from_millis(150));
    Some(std::fs::read_to_string(path).unwrap_or(first))
}
