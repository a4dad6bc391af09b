//! What this process (or thread) has used: CPU time and memory, for the
//! `mod_wsgi` metrics functions (`getrusage`, `/proc/self/statm`).

use std::time::Duration;

/// CPU time and peak memory of the whole process (`getrusage(RUSAGE_SELF)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) user: Duration,
    pub(crate) system: Duration,
    /// Peak resident set size, in bytes.
    pub(crate) max_rss: u64,
}

fn duration(t: libc::timeval) -> Duration {
    Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
        + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
}

fn rusage(who: libc::c_int) -> Option<libc::rusage> {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let rv = unsafe { libc::getrusage(who, ru.as_mut_ptr()) };
    // SAFETY: zero-initialised, and filled on success.
    (rv == 0).then(|| unsafe { ru.assume_init() })
}

/// This process's CPU time and peak RSS (zeros if the call fails).
pub(crate) fn process() -> Usage {
    rusage(libc::RUSAGE_SELF).map_or_else(Usage::default, |ru| Usage {
        user: duration(ru.ru_utime),
        system: duration(ru.ru_stime),
        // Linux reports kilobytes.
        max_rss: u64::try_from(ru.ru_maxrss).unwrap_or(0) * 1024,
    })
}

/// The calling thread's CPU time, user plus system (`RUSAGE_THREAD`).
pub(crate) fn thread_cpu() -> Option<Duration> {
    rusage(libc::RUSAGE_THREAD).map(|ru| duration(ru.ru_utime) + duration(ru.ru_stime))
}

/// This process's current resident set size in bytes (0 if unknown).
pub(crate) fn resident_set_size() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_plausible() {
        let before = process();
        // Burn a little CPU so the counters move.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let after = process();
        assert!(after.user + after.system >= before.user + before.system);
        assert!(after.max_rss > 1024 * 1024, "{after:?}");
        let rss = resident_set_size();
        assert!(rss > 1024 * 1024 && rss <= after.max_rss * 2, "{rss}");
        assert!(thread_cpu().is_some_and(|t| t <= after.user + after.system));
    }
}
