//! The metrics as Python dicts, with mod_wsgi 6's keys, in its order, with
//! its types (`wsgi_metrics.c`: `wsgi_process_metrics_dict`,
//! `wsgi_request_metrics`, `wsgi_server_metrics`). Made in the calling
//! interpreter, from plain Rust values.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::super::text::latin1;
use super::{Phase, ProcessMetrics, RequestMetrics, ServerScore, us_to_secs};

/// `same_named!(dict, value; a, b)` sets key `"a"` to `value.a`, then `"b"`:
/// most of mod_wsgi's keys are the names of the fields that hold them, so
/// each name is written once (in the dict's order).
macro_rules! same_named {
    ($dict:expr, $from:expr; $($field:ident),+ $(,)?) => {
        $($dict.set_item(stringify!($field), $from.$field)?;)+
    };
}

/// `process_metrics()`.
pub(crate) fn process<'py>(py: Python<'py>, m: &ProcessMetrics) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    same_named!(d, m; pid, request_busy_time, request_count);
    same_named!(d, m; memory_max_rss, memory_rss, cpu_user_time, cpu_system_time);
    d.set_item("cpu_time", m.cpu_user_time + m.cpu_system_time)?;
    same_named!(d, m; restart_time, current_time, running_time);
    same_named!(d, m; request_threads, active_requests);
    let threads = PyList::empty(py);
    for &(id, count) in &m.threads {
        let t = PyDict::new(py);
        t.set_item("thread_id", id)?;
        t.set_item("request_count", count)?;
        threads.append(t)?;
    }
    d.set_item("threads", threads)?;
    Ok(d)
}

/// `NAME_min_us` / `NAME_max_us`: integers, or `None` for a phase with no
/// requests in the interval.
fn extremes(d: &Bound<'_, PyDict>, name: &str, p: Option<&Phase>) -> PyResult<()> {
    let (min, max) = match p.and_then(Phase::extremes) {
        Some((min, max)) => (Some(min), Some(max)),
        None => (None, None),
    };
    d.set_item(format!("{name}_min_us"), min)?;
    d.set_item(format!("{name}_max_us"), max)
}

/// `request_metrics()`.
pub(crate) fn request<'py>(py: Python<'py>, m: &RequestMetrics) -> PyResult<Bound<'py, PyDict>> {
    let a = &m.aggregates;
    let d = PyDict::new(py);
    same_named!(d, m; pid, start_time, stop_time, sample_period);
    let (user, system) = (m.cpu_user_utilization, m.cpu_system_utilization);
    // The `*_time` keys are mod_wsgi's deprecated aliases of the rates.
    d.set_item("cpu_user_utilization", user)?;
    d.set_item("cpu_user_time", user)?;
    d.set_item("cpu_system_utilization", system)?;
    d.set_item("cpu_system_time", system)?;
    d.set_item("cpu_utilization", user + system)?;
    d.set_item("cpu_time", user + system)?;
    same_named!(d, m; memory_max_rss, memory_rss);
    same_named!(d, m; request_threads_maximum, request_threads_started, request_threads_active);
    same_named!(d, m; capacity_utilization, request_count, request_throughput);
    for (i, n) in a.status.iter().enumerate() {
        d.set_item(format!("status_{}xx", i + 1), n)?;
    }
    same_named!(d, a; input_bytes, input_reads, output_bytes, output_writes);
    // Each phase with its keys' stem, and whether it is one of daemon mode's
    // own (queue and daemon: no values in embedded mode).
    let phases: [(&str, &Phase, bool); 8] = [
        ("server_time", &a.server, false),
        ("queue_time", &a.queue, true),
        ("daemon_time", &a.daemon, true),
        ("application_time", &a.application, false),
        ("request_time", &a.request, false),
        ("gil_wait_time", &a.gil_wait, false),
        ("input_read_time", &a.input_read, false),
        ("output_write_time", &a.output_write, false),
    ];
    for (name, p, _) in phases {
        d.set_item(format!("{name}_buckets"), p.buckets.to_vec())?;
    }
    d.set_item("request_threads_completed", m.threads_completed.clone())?;
    // mod_wsgi's deprecated alias of request_threads_completed.
    d.set_item("request_threads_buckets", m.threads_completed.clone())?;
    d.set_item("request_threads_busy_time", m.threads_busy_time.clone())?;
    d.set_item("request_threads_cpu_time", m.threads_cpu_time.clone())?;
    d.set_item(
        "request_threads_current_elapsed",
        m.threads_current_elapsed.clone(),
    )?;
    d.set_item(
        "request_threads_max_duration",
        m.threads_max_duration.clone(),
    )?;
    let n = a.requests;
    d.set_item("server_time", a.server.mean(n))?;
    // Queue and daemon phases exist in daemon mode only.
    let daemon_mean = |p: &Phase| m.daemon.then(|| p.mean(n));
    d.set_item("queue_time", daemon_mean(&a.queue))?;
    d.set_item("daemon_time", daemon_mean(&a.daemon))?;
    d.set_item("application_time", a.application.mean(n))?;
    d.set_item("request_time", a.request.mean(n))?;
    d.set_item("gil_wait_time", a.gil_wait.mean(n))?;
    d.set_item("gil_wait_count", a.gil_waits)?;
    d.set_item("input_read_time", a.input_read.mean(n))?;
    d.set_item("output_write_time", a.output_write.mean(n))?;
    // mod_wsgi gives the extremes of daemon mode's own phases last.
    for (name, p, _) in phases.iter().filter(|&&(.., daemon_only)| !daemon_only) {
        extremes(&d, name, Some(p))?;
    }
    for (name, p, _) in phases.iter().filter(|&&(.., daemon_only)| daemon_only) {
        extremes(&d, name, m.daemon.then_some(*p))?;
    }
    Ok(d)
}

/// `server_metrics()`; `now_us` is the current time (microseconds since the
/// epoch).
pub(crate) fn server<'py>(
    py: Python<'py>,
    s: &ServerScore,
    now_us: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let secs = |us: i64| us as f64 / 1e6;
    let d = PyDict::new(py);
    same_named!(d, s; server_limit, thread_limit, running_generation);
    d.set_item("restart_time", secs(s.restart_time))?;
    d.set_item("current_time", us_to_secs(now_us))?;
    let now = i64::try_from(now_us).unwrap_or(i64::MAX);
    d.set_item(
        "running_time",
        now.saturating_sub(s.restart_time) / 1_000_000,
    )?;
    let processes = PyList::empty(py);
    for (i, p) in s.processes.iter().enumerate() {
        let pd = PyDict::new(py);
        pd.set_item("process_num", i)?;
        same_named!(pd, p; pid, generation, quiescing);
        let workers = PyList::empty(py);
        for w in &p.workers {
            let wd = PyDict::new(py);
            same_named!(wd, w; thread_num, generation);
            wd.set_item("status", w.status.to_string())?;
            same_named!(wd, w; access_count, bytes_served);
            wd.set_item("start_time", secs(w.start_time))?;
            wd.set_item("stop_time", secs(w.stop_time))?;
            wd.set_item("last_used", secs(w.last_used))?;
            wd.set_item("client", latin1(py, &w.client))?;
            wd.set_item("request", latin1(py, &w.request))?;
            wd.set_item("vhost", latin1(py, &w.vhost))?;
            workers.append(wd)?;
        }
        pd.set_item("workers", workers)?;
        processes.append(pd)?;
    }
    d.set_item("processes", processes)?;
    Ok(d)
}
