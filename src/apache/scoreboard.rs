//! httpd's scoreboard (the shared memory mod_status reads), copied out for
//! `mod_wsgi.server_metrics()`. The Apache parent creates it before it
//! forks its children (and, since the first daemons wait for it, before
//! daemon processes); both inherit the mapping and see it live.

use std::ffi::{CStr, c_char};
use std::mem::MaybeUninit;
use std::ptr::{addr_of, read_volatile};

use crate::ffi;
use crate::python::metrics::scoreboard::{
    ProcessScore, Scoreboard, ServerScore, WorkerScore, set_provider,
};

/// Whether this process has a scoreboard (httpd makes it in the parent's
/// pre_mpm hook of the first start and keeps it across restarts).
pub(crate) fn exists() -> bool {
    // SAFETY: reads httpd's global pointer only.
    unsafe { ffi::ap_exists_scoreboard_image() != 0 }
}

/// mod_status's letter for a worker state (`SERVER_*` in scoreboard.h).
fn status_letter(status: u8) -> char {
    match i32::from(status) {
        ffi::SERVER_DEAD => '.',
        ffi::SERVER_STARTING => 'S',
        ffi::SERVER_READY => '_',
        ffi::SERVER_BUSY_READ => 'R',
        ffi::SERVER_BUSY_WRITE => 'W',
        ffi::SERVER_BUSY_KEEPALIVE => 'K',
        ffi::SERVER_BUSY_LOG => 'L',
        ffi::SERVER_BUSY_DNS => 'D',
        ffi::SERVER_CLOSING => 'C',
        ffi::SERVER_GRACEFUL => 'G',
        ffi::SERVER_IDLE_KILL => 'I',
        _ => '?',
    }
}

/// A NUL-terminated field of a copied worker record.
fn text(field: &[c_char]) -> Vec<u8> {
    let bytes: Vec<u8> = field.iter().map(|&c| c as u8).collect();
    CStr::from_bytes_until_nul(&bytes)
        .map(|s| s.to_bytes().to_vec())
        .unwrap_or(bytes)
}

fn worker(process: i32, thread: i32) -> Option<WorkerScore> {
    // SAFETY: a bounds-checked lookup (null outside the scoreboard).
    if unsafe { ffi::ap_get_scoreboard_worker_from_indexes(process, thread) }.is_null() {
        return None;
    }
    let mut copy = MaybeUninit::<ffi::worker_score>::zeroed();
    // SAFETY: the indexes are in range (checked above); httpd copies the
    // record and NUL-terminates its strings.
    let w = unsafe {
        ffi::ap_copy_scoreboard_worker(copy.as_mut_ptr(), process, thread);
        copy.assume_init()
    };
    // `client64` holds the whole address; the deprecated `client` (what
    // mod_wsgi reads) keeps 31 bytes of it.
    let client = match text(&w.client64) {
        c if c.is_empty() => text(&w.client),
        c => c,
    };
    Some(WorkerScore {
        thread_num: w.thread_num.into(),
        generation: w.generation.into(),
        status: status_letter(w.status),
        access_count: w.access_count,
        bytes_served: u64::try_from(w.bytes_served).unwrap_or(0),
        start_time: w.start_time,
        stop_time: w.stop_time,
        last_used: w.last_used,
        client,
        request: text(&w.request),
        vhost: text(&w.vhost),
    })
}

fn process(index: i32, threads: i32) -> Option<ProcessScore> {
    // SAFETY: a bounds-checked lookup (null outside the scoreboard).
    let p = unsafe { ffi::ap_get_scoreboard_process(index) };
    if p.is_null() {
        return None;
    }
    // SAFETY: p points into the live scoreboard; the parent writes these
    // fields at any time, so each is read once, volatile.
    let (pid, generation, quiescing) = unsafe {
        (
            read_volatile(addr_of!((*p).pid)),
            read_volatile(addr_of!((*p).generation)),
            read_volatile(addr_of!((*p).quiescing)),
        )
    };
    Some(ProcessScore {
        pid: pid.into(),
        generation: generation.into(),
        quiescing: quiescing != 0,
        workers: (0..threads).filter_map(|t| worker(index, t)).collect(),
    })
}

/// The scoreboard reader the `mod_wsgi` module uses.
struct ApacheScoreboard;

impl Scoreboard for ApacheScoreboard {
    fn read(&self) -> Option<ServerScore> {
        if !exists() {
            return None;
        }
        // SAFETY: the scoreboard exists; its global record lives as long.
        let g = unsafe { ffi::ap_get_scoreboard_global() };
        if g.is_null() {
            return None;
        }
        // SAFETY: as above; volatile reads of fields the parent may write.
        let (server_limit, thread_limit, running_generation, restart_time) = unsafe {
            (
                read_volatile(addr_of!((*g).server_limit)),
                read_volatile(addr_of!((*g).thread_limit)),
                read_volatile(addr_of!((*g).running_generation)),
                read_volatile(addr_of!((*g).restart_time)),
            )
        };
        Some(ServerScore {
            server_limit: server_limit.into(),
            thread_limit: thread_limit.into(),
            running_generation: running_generation.into(),
            restart_time,
            processes: (0..server_limit)
                .filter_map(|i| process(i, thread_limit))
                .collect(),
        })
    }
}

static READER: ApacheScoreboard = ApacheScoreboard;

/// Lets `mod_wsgi.server_metrics()` read the scoreboard (when httpd loads
/// the module).
pub(crate) fn install() {
    set_provider(&READER);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_are_mod_status_s() {
        let letters: String = (0..=11).map(status_letter).collect();
        assert_eq!(letters, ".S_RWKLDCGI?");
    }

    #[test]
    fn strings_end_at_the_nul() {
        let field = [b'a' as c_char, b'b' as c_char, 0, b'x' as c_char];
        assert_eq!(text(&field), b"ab");
        assert_eq!(text(&[b'z' as c_char; 3]), b"zzz");
        assert_eq!(text(&[0; 4]), b"");
    }
}
