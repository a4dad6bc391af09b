//! The numbers behind mod_wsgi 6's metrics functions, for the whole process
//! (every interpreter shares them, as in mod_wsgi): `process_metrics()`,
//! `request_metrics()` after `start_recording_metrics()`, and
//! `server_metrics()` when `WSGIServerMetrics On` / `server-metrics=On`
//! allows it (`dicts` turns them into Python dicts with mod_wsgi's keys).
//!
//! Always counted, at a few stores per request ([`threads`]): requests per
//! thread, busy time, requests in progress. Only once an application called
//! `start_recording_metrics()` ([`phases`], behind one lock at the end of
//! each request, as in mod_wsgi): the phases of each request, its GIL
//! waits, reads and writes, CPU time and status.

pub(crate) mod dicts;
mod phases;
pub(crate) mod scoreboard;
mod threads;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pyo3::prelude::*;

use crate::os::usage;
use crate::status::HttpStatus;

pub(crate) use phases::{Aggregates, Phase};
pub(crate) use scoreboard::ServerScore;

use phases::{Sample, Stamps};

/// What this process is, for the metrics.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// Threads that may serve requests: the daemon group's `threads`, or
    /// the MPM's threads per child.
    pub(crate) request_threads_maximum: u32,
    /// Whether `server_metrics()` may show the scoreboard here.
    pub(crate) server_metrics: bool,
    /// A daemon process (requests have queue and daemon phases).
    pub(crate) daemon: bool,
}

static THREADS_MAXIMUM: AtomicU32 = AtomicU32::new(1);
static SERVER_METRICS: AtomicBool = AtomicBool::new(false);
static DAEMON: AtomicBool = AtomicBool::new(false);
/// When this process started serving (wall clock, microseconds).
static RESTART_TIME: AtomicU64 = AtomicU64::new(0);
/// `start_recording_metrics()` was called.
static RECORDING: AtomicBool = AtomicBool::new(false);
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Called when a process (Apache child or daemon) starts serving requests.
pub(crate) fn init_process(s: Settings) {
    THREADS_MAXIMUM.store(s.request_threads_maximum.max(1), Ordering::Relaxed);
    SERVER_METRICS.store(s.server_metrics, Ordering::Relaxed);
    DAEMON.store(s.daemon, Ordering::Relaxed);
    RESTART_TIME.store(wall_us(), Ordering::Relaxed);
    let _ = EPOCH.get_or_init(Instant::now);
}

/// Monotonic microseconds since the first use in this process.
fn now_us() -> u64 {
    u64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_micros()).unwrap_or(u64::MAX)
}

fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Seconds since the epoch (as in the environ) to microseconds.
fn secs_to_us(secs: f64) -> u64 {
    if secs > 0.0 { (secs * 1e6) as u64 } else { 0 }
}

fn us_to_secs(us: u64) -> f64 {
    us as f64 / 1e6
}

fn recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// This thread's request-thread number (`mod_wsgi.thread_id`, 1-based).
pub(crate) fn thread_id() -> u32 {
    threads::with_slot(|s| s.id)
}

/// What is recorded about the request in progress on this thread while
/// recording is on.
#[derive(Clone, Copy, Debug)]
struct Record {
    application_wall: u64,
    application_mono: u64,
    gil_wait_us: u64,
    gil_waits: u64,
    input_reads: u64,
    input_read_us: u64,
    output_writes: u64,
    output_write_us: u64,
    input_bytes: u64,
    output_bytes: u64,
    status: Option<HttpStatus>,
}

thread_local! {
    /// Whether the request in progress on this thread is recorded.
    static RECORDED: Cell<bool> = const { Cell::new(false) };
    static RECORD: Cell<Record> = const { Cell::new(Record::EMPTY) };
}

impl Record {
    const EMPTY: Record = Record {
        application_wall: 0,
        application_mono: 0,
        gil_wait_us: 0,
        gil_waits: 0,
        input_reads: 0,
        input_read_us: 0,
        output_writes: 0,
        output_write_us: 0,
        input_bytes: 0,
        output_bytes: 0,
        status: None,
    };
}

fn note(f: impl FnOnce(&mut Record)) {
    RECORD.with(|c| {
        let mut r = c.get();
        f(&mut r);
        c.set(r);
    });
}

fn recorded_here() -> bool {
    RECORDED.with(Cell::get)
}

/// The detail kept for a recorded request.
struct Detail {
    stamps: Stamps,
    cpu_start: Option<Duration>,
    entering: Instant,
    /// What an enclosing request on this thread had recorded.
    outer: (bool, Record),
}

/// One request, from entering its interpreter to the end of its response:
/// counted when it ends (or is dropped).
pub(crate) struct Request {
    start: u64,
    detail: Option<Detail>,
    status: Option<HttpStatus>,
}

/// A request is about to enter its interpreter. `request_start`,
/// `queue_start` and `daemon_start` are the environ's (seconds since the
/// epoch; 0 when not applicable).
pub(crate) fn begin(request_start: f64, queue_start: f64, daemon_start: f64) -> Request {
    let start = now_us();
    threads::begin(start);
    let detail = recording().then(|| {
        let outer = (
            RECORDED.with(|c| c.replace(true)),
            RECORD.with(|c| c.replace(Record::EMPTY)),
        );
        Detail {
            stamps: Stamps {
                request_start: secs_to_us(request_start),
                queue_start: secs_to_us(queue_start),
                daemon_start: secs_to_us(daemon_start),
                application_start: 0,
            },
            cpu_start: usage::thread_cpu(),
            entering: Instant::now(),
            outer,
        }
    });
    Request {
        start,
        detail,
        status: None,
    }
}

impl Request {
    /// The request's interpreter was entered: the wait for its GIL.
    pub(crate) fn entered(&self) {
        if let Some(d) = &self.detail {
            gil_waited(d.entering.elapsed());
        }
    }

    /// Ends the request; `status` is what was answered when the adapter
    /// answered with a status (otherwise the response's own status counts).
    pub(crate) fn end(mut self, status: Option<HttpStatus>) {
        self.status = status;
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        let end = now_us();
        threads::end(self.start, end);
        let Some(d) = self.detail.take() else {
            return;
        };
        let r = RECORD.with(|c| c.replace(d.outer.1));
        RECORDED.with(|c| c.set(d.outer.0));
        let cpu = match (d.cpu_start, usage::thread_cpu()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => Duration::ZERO,
        };
        let duration = end.saturating_sub(self.start);
        threads::with_slot(|s| {
            s.cpu_total.fetch_add(
                u64::try_from(cpu.as_micros()).unwrap_or(0),
                Ordering::Relaxed,
            );
            s.max_duration.fetch_max(duration, Ordering::Relaxed);
        });
        let application_start = if r.application_wall != 0 {
            r.application_wall
        } else {
            // Never got to call the application: the whole time is the
            // server's.
            wall_us()
        };
        let sample = Sample {
            stamps: Stamps {
                application_start,
                ..d.stamps
            },
            application_us: if r.application_mono != 0 {
                end.saturating_sub(r.application_mono)
            } else {
                0
            },
            gil_wait_us: r.gil_wait_us,
            gil_waits: r.gil_waits,
            input_bytes: r.input_bytes,
            input_reads: r.input_reads,
            input_read_us: r.input_read_us,
            output_bytes: r.output_bytes,
            output_writes: r.output_writes,
            output_write_us: r.output_write_us,
            status: self.status.or(r.status),
        };
        aggregates().record(&sample, DAEMON.load(Ordering::Relaxed));
    }
}

static AGGREGATES: Mutex<Option<Aggregates>> = Mutex::new(None);

struct AggregatesGuard(MutexGuard<'static, Option<Aggregates>>);

impl AggregatesGuard {
    fn record(&mut self, s: &Sample, daemon: bool) {
        self.0
            .get_or_insert_with(Aggregates::default)
            .record(s, daemon);
    }

    fn take(&mut self) -> Aggregates {
        self.0.take().unwrap_or_default()
    }
}

fn aggregates() -> AggregatesGuard {
    AggregatesGuard(AGGREGATES.lock().unwrap_or_else(|e| e.into_inner()))
}

/// The application is called now: the time for `mod_wsgi.application_start`
/// (seconds since the epoch).
pub(crate) fn application_start() -> f64 {
    let wall = wall_us();
    if recorded_here() {
        let mono = now_us();
        note(|r| {
            r.application_wall = wall;
            r.application_mono = mono;
        });
    }
    us_to_secs(wall)
}

/// The response is complete: its status (if it had one) and the body bytes
/// sent and read.
pub(crate) fn response_done(status: Option<HttpStatus>, output_bytes: u64, input_bytes: u64) {
    if recorded_here() {
        note(|r| {
            r.status = status;
            r.output_bytes = output_bytes;
            r.input_bytes = input_bytes;
        });
    }
}

fn gil_waited(d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    note(|r| {
        r.gil_wait_us += us;
        r.gil_waits += 1;
    });
}

/// A request's I/O through its transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Io {
    Read,
    Write,
    /// The final flush: time spent writing, not a write of its own.
    Flush,
}

/// Runs `f`, one `io` operation of the request on this thread, counting it
/// (and its time) when the request is recorded.
pub(crate) fn io<T>(io: Io, f: impl FnOnce() -> T) -> T {
    if !recorded_here() {
        return f();
    }
    let t = Instant::now();
    let out = f();
    let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
    note(|r| match io {
        Io::Read => {
            r.input_reads += 1;
            r.input_read_us += us;
        }
        Io::Write => {
            r.output_writes += 1;
            r.output_write_us += us;
        }
        Io::Flush => r.output_write_us += us,
    });
    out
}

/// `py.detach(f)`, counting the wait to take the GIL back when the request
/// on this thread is recorded (mod_wsgi's `gil_wait_time`).
pub(crate) fn detach<T, F>(py: Python<'_>, f: F) -> T
where
    F: Send + FnOnce() -> T,
    T: Send,
{
    if !recorded_here() {
        return py.detach(f);
    }
    let mut released_at = None;
    let out = py.detach(|| {
        let out = f();
        released_at = Some(Instant::now());
        out
    });
    if let Some(t) = released_at {
        gil_waited(t.elapsed());
    }
    out
}

/// What the readers keep between calls (`start_recording_metrics()` seeds
/// it; each `request_metrics()` advances it).
#[derive(Default)]
struct Baseline {
    started: bool,
    wall: u64,
    cpu_user: Duration,
    cpu_system: Duration,
    busy: u64,
    completed: u64,
    /// Per thread (index `id - 1`): busy time, requests, CPU time.
    threads: Vec<(u64, u64, u64)>,
}

/// Serialises the readers (and keeps their baselines).
static READER: Mutex<Baseline> = Mutex::new(Baseline {
    started: false,
    wall: 0,
    cpu_user: Duration::ZERO,
    cpu_system: Duration::ZERO,
    busy: 0,
    completed: 0,
    threads: Vec::new(),
});

fn reader() -> MutexGuard<'static, Baseline> {
    READER.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every thread's counters, read at `now` (monotonic microseconds).
fn read_threads() -> (u64, Vec<Arc<threads::Slot>>, Vec<threads::SlotView>) {
    let all = threads::slots().clone();
    let now = now_us();
    let views = all.iter().map(|s| s.read()).collect();
    (now, all, views)
}

/// `mod_wsgi.start_recording_metrics()`: from now on each request's detail
/// is recorded, and `request_metrics()` / `process_metrics()` return data.
/// Idempotent.
pub(crate) fn start_recording() {
    let mut base = reader();
    if base.started {
        return;
    }
    let (now, _, views) = read_threads();
    let u = usage::process();
    *base = Baseline {
        started: true,
        wall: wall_us(),
        cpu_user: u.user,
        cpu_system: u.system,
        busy: views.iter().map(|v| v.busy_at(now)).sum(),
        completed: views.iter().map(|v| v.completed).sum(),
        threads: views
            .iter()
            .map(|v| (v.busy_at(now), v.completed, v.cpu_total))
            .collect(),
    };
    // Only from here on do requests record their detail.
    RECORDING.store(true, Ordering::Relaxed);
}

/// `process_metrics()`: the process from its start to now.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ProcessMetrics {
    pub(crate) pid: u32,
    pub(crate) request_busy_time: f64,
    pub(crate) request_count: u64,
    pub(crate) memory_max_rss: u64,
    pub(crate) memory_rss: u64,
    pub(crate) cpu_user_time: f64,
    pub(crate) cpu_system_time: f64,
    pub(crate) restart_time: f64,
    pub(crate) current_time: f64,
    pub(crate) running_time: i64,
    pub(crate) request_threads: u64,
    pub(crate) active_requests: u64,
    /// Each request thread's number and the requests it began.
    pub(crate) threads: Vec<(u32, u64)>,
}

/// `None` until `start_recording_metrics()` (as mod_wsgi 6).
pub(crate) fn process_metrics() -> Option<ProcessMetrics> {
    let base = reader();
    if !base.started {
        return None;
    }
    let (now, _, views) = read_threads();
    drop(base);
    let u = usage::process();
    let current = wall_us();
    let restart = RESTART_TIME.load(Ordering::Relaxed);
    Some(ProcessMetrics {
        pid: std::process::id(),
        request_busy_time: us_to_secs(views.iter().map(|v| v.busy_at(now)).sum()),
        request_count: views.iter().map(|v| v.completed).sum(),
        memory_max_rss: u.max_rss,
        memory_rss: usage::resident_set_size(),
        cpu_user_time: u.user.as_secs_f64(),
        cpu_system_time: u.system.as_secs_f64(),
        restart_time: us_to_secs(restart),
        current_time: us_to_secs(current),
        running_time: i64::try_from(current.saturating_sub(restart) / 1_000_000).unwrap_or(0),
        request_threads: views.len() as u64,
        active_requests: views.iter().filter(|v| v.busy_since.is_some()).count() as u64,
        threads: views.iter().map(|v| (v.id, v.started)).collect(),
    })
}

/// `request_metrics()`: the interval since the previous call (or since
/// `start_recording_metrics()`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RequestMetrics {
    pub(crate) pid: u32,
    pub(crate) start_time: f64,
    pub(crate) stop_time: f64,
    pub(crate) sample_period: f64,
    pub(crate) cpu_user_utilization: f64,
    pub(crate) cpu_system_utilization: f64,
    pub(crate) memory_max_rss: u64,
    pub(crate) memory_rss: u64,
    pub(crate) request_threads_maximum: u32,
    pub(crate) request_threads_started: u64,
    pub(crate) request_threads_active: u64,
    pub(crate) capacity_utilization: f64,
    pub(crate) request_count: u64,
    pub(crate) request_throughput: f64,
    /// Per thread slot (`request_threads_maximum` long).
    pub(crate) threads_completed: Vec<u64>,
    pub(crate) threads_busy_time: Vec<f64>,
    pub(crate) threads_cpu_time: Vec<f64>,
    pub(crate) threads_current_elapsed: Vec<f64>,
    pub(crate) threads_max_duration: Vec<f64>,
    pub(crate) daemon: bool,
    pub(crate) aggregates: Aggregates,
}

/// `None` until `start_recording_metrics()`. Drains the interval.
pub(crate) fn request_metrics() -> Option<RequestMetrics> {
    let mut base = reader();
    if !base.started {
        return None;
    }
    let stop = wall_us();
    let u = usage::process();
    let (now, all, views) = read_threads();
    let aggregates = aggregates().take();
    let maximum = THREADS_MAXIMUM.load(Ordering::Relaxed);
    let slots = maximum as usize;
    let mut completed = vec![0; slots];
    let mut busy_time = vec![0.0; slots];
    let mut cpu_time = vec![0.0; slots];
    let mut current = vec![0.0; slots];
    let mut max_duration = vec![0.0; slots];
    let mut active = 0;
    for (v, slot) in views.iter().zip(&all) {
        let index = (v.id as usize).saturating_sub(1);
        if base.threads.len() <= index {
            base.threads.resize(index + 1, (0, 0, 0));
        }
        let (b_busy, b_done, b_cpu) = base.threads[index];
        let busy = v.busy_at(now);
        let done = v.completed.saturating_sub(b_done);
        let elapsed = v.busy_since.map_or(0, |s| now.saturating_sub(s));
        base.threads[index] = (busy, v.completed, v.cpu_total);
        let longest = slot.max_duration.swap(0, Ordering::Relaxed);
        if index < slots {
            if done > 0 || elapsed > 0 {
                active += 1;
            }
            completed[index] = done;
            busy_time[index] = us_to_secs(busy.saturating_sub(b_busy));
            cpu_time[index] = us_to_secs(v.cpu_total.saturating_sub(b_cpu));
            current[index] = us_to_secs(elapsed);
            max_duration[index] = us_to_secs(longest);
        }
    }
    let mut period = us_to_secs(stop.saturating_sub(base.wall));
    if period <= 0.0 {
        period = 1e-6;
    }
    let busy: u64 = views.iter().map(|v| v.busy_at(now)).sum();
    let done: u64 = views.iter().map(|v| v.completed).sum();
    let requests = done.saturating_sub(base.completed);
    let rate = |d: Duration, since: Duration| d.saturating_sub(since).as_secs_f64() / period;
    let metrics = RequestMetrics {
        pid: std::process::id(),
        start_time: us_to_secs(base.wall),
        stop_time: us_to_secs(stop),
        sample_period: period,
        cpu_user_utilization: rate(u.user, base.cpu_user),
        cpu_system_utilization: rate(u.system, base.cpu_system),
        memory_max_rss: u.max_rss,
        memory_rss: usage::resident_set_size(),
        request_threads_maximum: maximum,
        request_threads_started: views.len() as u64,
        request_threads_active: active,
        capacity_utilization: us_to_secs(busy.saturating_sub(base.busy))
            / period
            / f64::from(maximum),
        request_count: requests,
        request_throughput: requests as f64 / period,
        threads_completed: completed,
        threads_busy_time: busy_time,
        threads_cpu_time: cpu_time,
        threads_current_elapsed: current,
        threads_max_duration: max_duration,
        daemon: DAEMON.load(Ordering::Relaxed),
        aggregates,
    };
    base.wall = stop;
    base.cpu_user = u.user;
    base.cpu_system = u.system;
    base.busy = busy;
    base.completed = done;
    Some(metrics)
}

/// `server_metrics()`: the scoreboard, when this process may show it.
pub(crate) fn server_metrics() -> Option<ServerScore> {
    if !SERVER_METRICS.load(Ordering::Relaxed) {
        return None;
    }
    scoreboard::read()
}

/// Wall-clock now, in microseconds since the epoch (for `current_time`).
pub(crate) fn current_time_us() -> u64 {
    wall_us()
}
