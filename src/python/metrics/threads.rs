//! The request threads of this process, each with its counters: what
//! `process_metrics()` sums (request count, busy time, active requests) and
//! `request_metrics()` reports per thread.
//!
//! A thread's counters are written only by that thread, at the start and
//! end of each request, with plain atomic loads and stores (no read-modify-
//! write, no lock): the per-request cost is a few stores. The fields that
//! must be read together (busy since, busy total, completed) sit behind a
//! sequence counter, so a reader never sees a request half ended (which
//! would make the busy time jump back or forth). Readers are rare (the
//! metrics functions) and retry while a writer is mid-update.

use std::cell::{Cell, OnceCell};
use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::sync::{Arc, Mutex, MutexGuard};

/// One request thread's counters (times in microseconds).
#[derive(Debug, Default)]
pub(crate) struct Slot {
    /// 1-based, in the order threads served their first request (or, in a
    /// daemon, started): `mod_wsgi.thread_id`.
    pub(crate) id: u32,
    /// Odd while the owning thread updates the three fields below.
    seq: AtomicU64,
    /// When the current (outermost) request began, plus 1; 0 when idle.
    busy_since: AtomicU64,
    /// Time spent in finished requests.
    busy_total: AtomicU64,
    /// Requests finished.
    completed: AtomicU64,
    /// Requests begun (mod_wsgi's per-thread `request_count`).
    started: AtomicU64,
    /// CPU time of the recorded requests that finished.
    pub(crate) cpu_total: AtomicU64,
    /// The longest recorded request finished since the last
    /// `request_metrics()` (which takes it).
    pub(crate) max_duration: AtomicU64,
}

/// A consistent reading of a [`Slot`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SlotView {
    pub(crate) id: u32,
    /// Start of the request in progress, if any.
    pub(crate) busy_since: Option<u64>,
    pub(crate) busy_total: u64,
    pub(crate) completed: u64,
    pub(crate) started: u64,
    pub(crate) cpu_total: u64,
}

impl SlotView {
    /// Busy time up to `now`, the request in progress included.
    pub(crate) fn busy_at(&self, now: u64) -> u64 {
        self.busy_total + self.busy_since.map_or(0, |s| now.saturating_sub(s))
    }
}

/// `v + by`, stored by the field's only writer.
fn add(field: &AtomicU64, by: u64) {
    field.store(
        field.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

impl Slot {
    /// Runs `f` (which stores into the sequenced fields) so that readers
    /// never see part of it. Only the owning thread calls this.
    fn update(&self, f: impl FnOnce()) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        f();
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    pub(crate) fn read(&self) -> SlotView {
        let mut spins = 0u32;
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 0 {
                let since = self.busy_since.load(Ordering::Relaxed);
                let busy_total = self.busy_total.load(Ordering::Relaxed);
                let completed = self.completed.load(Ordering::Relaxed);
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == s1 {
                    return SlotView {
                        id: self.id,
                        busy_since: since.checked_sub(1),
                        busy_total,
                        completed,
                        started: self.started.load(Ordering::Relaxed),
                        cpu_total: self.cpu_total.load(Ordering::Relaxed),
                    };
                }
            }
            // The writer is between two stores; let it finish.
            spins += 1;
            if spins % 64 == 0 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// Every request thread this process has had.
static SLOTS: Mutex<Vec<Arc<Slot>>> = Mutex::new(Vec::new());

pub(crate) fn slots() -> MutexGuard<'static, Vec<Arc<Slot>>> {
    SLOTS.lock().unwrap_or_else(|e| e.into_inner())
}

struct Local {
    slot: OnceCell<Arc<Slot>>,
    /// Requests in progress on this thread (an interpreter entered from
    /// inside another request nests).
    depth: Cell<u32>,
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            slot: OnceCell::new(),
            depth: Cell::new(0),
        }
    };
}

fn register() -> Arc<Slot> {
    let mut all = slots();
    let slot = Arc::new(Slot {
        id: u32::try_from(all.len() + 1).unwrap_or(u32::MAX),
        ..Slot::default()
    });
    all.push(slot.clone());
    slot
}

/// This thread's slot, registered on first use.
pub(crate) fn with_slot<T>(f: impl FnOnce(&Slot) -> T) -> T {
    LOCAL.with(|l| f(l.slot.get_or_init(register)))
}

/// A request begins on this thread at `now`.
pub(crate) fn begin(now: u64) {
    LOCAL.with(|l| {
        let slot = l.slot.get_or_init(register);
        let depth = l.depth.get();
        l.depth.set(depth + 1);
        add(&slot.started, 1);
        if depth == 0 {
            slot.update(|| slot.busy_since.store(now + 1, Ordering::Relaxed));
        }
    })
}

/// The request begun on this thread at `start` ends at `now`.
pub(crate) fn end(start: u64, now: u64) {
    LOCAL.with(|l| {
        let Some(slot) = l.slot.get() else {
            return;
        };
        let depth = l.depth.get().saturating_sub(1);
        l.depth.set(depth);
        slot.update(|| {
            add(&slot.completed, 1);
            if depth == 0 {
                let since = slot
                    .busy_since
                    .load(Ordering::Relaxed)
                    .checked_sub(1)
                    .unwrap_or(start);
                slot.busy_since.store(0, Ordering::Relaxed);
                add(&slot.busy_total, now.saturating_sub(since));
            }
        });
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_counts_its_requests_and_busy_time() {
        std::thread::spawn(|| {
            begin(100);
            let during = with_slot(|s| s.read());
            assert_eq!(during.busy_since, Some(100));
            assert_eq!(during.busy_at(150), 50);
            // A nested request neither restarts nor ends the busy period.
            begin(110);
            end(110, 120);
            let nested = with_slot(|s| s.read());
            assert_eq!(nested.busy_since, Some(100));
            assert_eq!((nested.completed, nested.started), (1, 2));
            end(100, 200);
            let after = with_slot(|s| s.read());
            assert_eq!(after.busy_since, None);
            assert_eq!(after.busy_total, 100);
            assert_eq!(after.busy_at(1000), 100);
            assert_eq!((after.completed, after.started), (2, 2));
            assert!(after.id >= 1);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn readers_see_whole_updates() {
        // A thread with a slot of its own ends requests while we read it.
        let (tx, rx) = std::sync::mpsc::channel();
        let writer = std::thread::spawn(move || {
            let _ = tx.send(LOCAL.with(|l| l.slot.get_or_init(register).clone()));
            let mut t = 0;
            for _ in 0..200_000 {
                begin(t);
                t += 3;
                end(t - 3, t);
            }
        });
        let slot = rx.recv().unwrap();
        while !writer.is_finished() {
            let v = slot.read();
            // Each finished request adds 1 and 3, together.
            assert_eq!(v.busy_total, v.completed * 3, "{v:?}");
        }
        writer.join().unwrap();
        let done = slot.read();
        assert_eq!((done.completed, done.busy_total), (200_000, 600_000));
        assert!(done.busy_since.is_none());
    }
}
