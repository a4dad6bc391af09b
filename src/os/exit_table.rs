//! The table of daemon exits: an anonymous shared mapping made in the
//! Apache parent before any fork, so the parent, its children and the
//! daemons (of every generation: it outlives the module's unload) read and
//! write one table.

use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering};

use super::memory;

/// Why daemon processes ended, shared between the Apache parent (which
/// records what it reaps), the daemons (which record why they chose to exit)
/// and the Apache children (which explain a failed request with it). An
/// anonymous shared mapping made in the parent before any fork.
#[repr(C)]
pub(crate) struct ExitTable {
    next: AtomicU32,
    slots: [ExitSlot; EXIT_SLOTS],
}

#[repr(C)]
struct ExitSlot {
    pid: AtomicI32,
    /// 1: a raw wait status; 2: a number Apache reported (status or signal);
    /// 3: the daemon's own reason code; 4: the daemon had started.
    kind: AtomicU32,
    value: AtomicI32,
    when: AtomicU64,
}

const EXIT_SLOTS: usize = 128;

/// One record about a daemon process (most say how it ended).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExitInfo {
    /// A raw wait status (the parent reaped it itself).
    WaitStatus(i32),
    /// The number httpd's MPM reported: an exit status or a signal.
    ApacheReported(i32),
    /// The daemon's own reason code (`daemon::exit`).
    Reason(i32),
    /// The daemon was past its start-up (`daemon::exit::record_started`).
    Started,
}

static EXITS: AtomicPtr<ExitTable> = AtomicPtr::new(std::ptr::null_mut());

/// Maps the table (in the Apache parent, before forking anything), or
/// adopts the one an earlier generation of the module mapped at `existing`
/// (the mapping outlives the module's unload on restart, so Apache children
/// and daemons of every generation share one table). Returns its address.
pub(crate) fn attach(existing: usize) -> usize {
    let current = EXITS.load(Ordering::Acquire);
    if !current.is_null() {
        return current as usize;
    }
    if existing != 0 {
        EXITS.store(existing as *mut ExitTable, Ordering::Release);
        return existing;
    }
    // Zero-filled: all-zero atomics are valid values, so it is an empty table.
    let Some(p) = memory::shared_zeroed(std::mem::size_of::<ExitTable>()) else {
        return 0;
    };
    EXITS.store(p as *mut ExitTable, Ordering::Release);
    p
}

/// Forgets the table in this module instance without unmapping it (the
/// next generation adopts it).
pub(crate) fn detach() {
    EXITS.store(std::ptr::null_mut(), Ordering::Release);
}

/// Unmaps the table in this process (children keep their own mapping).
pub(crate) fn destroy() {
    let p = EXITS.swap(std::ptr::null_mut(), Ordering::AcqRel);
    if !p.is_null() {
        // SAFETY: p is the table's mapping of this size (made by `attach`
        // here or in an earlier generation); nothing uses it after the swap.
        unsafe { memory::unmap(p as usize, std::mem::size_of::<ExitTable>()) };
    }
}

fn table() -> Option<&'static ExitTable> {
    let p = EXITS.load(Ordering::Acquire);
    // SAFETY: non-null means mapped for the life of this process (or until
    // destroy, which runs when no request is being served).
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Records `info` about `pid`, overwriting the oldest record. Async-signal-safe
/// (atomics and clock_gettime only): a daemon records its fatal signal from
/// the handler.
pub(crate) fn record(pid: i32, info: ExitInfo) {
    let Some(t) = table() else {
        return;
    };
    let (kind, value) = match info {
        ExitInfo::WaitStatus(v) => (1, v),
        ExitInfo::ApacheReported(v) => (2, v),
        ExitInfo::Reason(v) => (3, v),
        ExitInfo::Started => (4, 0),
    };
    let i = t.next.fetch_add(1, Ordering::AcqRel) as usize % EXIT_SLOTS;
    let s = &t.slots[i];
    s.pid.store(0, Ordering::Release);
    s.kind.store(kind, Ordering::Release);
    s.value.store(value, Ordering::Release);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    s.when.store(now, Ordering::Release);
    s.pid.store(pid, Ordering::Release);
}

/// Everything recorded about `pid`, newest first.
pub(crate) fn lookup(pid: i32) -> Vec<ExitInfo> {
    let Some(t) = table() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let next = t.next.load(Ordering::Acquire) as usize;
    for back in 1..=EXIT_SLOTS {
        let s = &t.slots[(next + EXIT_SLOTS * 2 - back) % EXIT_SLOTS];
        if s.pid.load(Ordering::Acquire) != pid {
            continue;
        }
        let v = s.value.load(Ordering::Acquire);
        out.push(match s.kind.load(Ordering::Acquire) {
            1 => ExitInfo::WaitStatus(v),
            2 => ExitInfo::ApacheReported(v),
            3 => ExitInfo::Reason(v),
            4 => ExitInfo::Started,
            // A slot being written (or of another build): nothing to say.
            _ => continue,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_found_newest_first() {
        assert_ne!(attach(0), 0);
        let pid = i32::MAX - 7;
        assert_eq!(lookup(pid), vec![]);
        record(pid, ExitInfo::Reason(3));
        record(pid + 1, ExitInfo::Reason(4));
        record(pid, ExitInfo::Started);
        record(pid, ExitInfo::ApacheReported(9));
        assert_eq!(
            lookup(pid),
            vec![
                ExitInfo::ApacheReported(9),
                ExitInfo::Started,
                ExitInfo::Reason(3)
            ]
        );
        // The oldest records give way once the table is full.
        for _ in 0..EXIT_SLOTS {
            record(pid + 1, ExitInfo::WaitStatus(0));
        }
        assert_eq!(lookup(pid), vec![]);
    }
}
