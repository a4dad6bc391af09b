//! The metrics as Python dicts, with mod_wsgi 6's keys, in its order, with
//! its types (`wsgi_metrics.c`: `wsgi_process_metrics_dict`,
//! `wsgi_request_metrics`, `wsgi_server_metrics`). Made in the calling
//! interpreter, from plain Rust values.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::super::text::latin1;
use super::{Phase, ProcessMetrics, RequestMetrics, ServerScore, us_to_secs};

/// `process_metrics()`.
pub(crate) fn process<'py>(py: Python<'py>, m: &ProcessMetrics) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("pid", m.pid)?;
    d.set_item("request_busy_time", m.request_busy_time)?;
    d.set_item("request_count", m.request_count)?;
    d.set_item("memory_max_rss", m.memory_max_rss)?;
    d.set_item("memory_rss", m.memory_rss)?;
    d.set_item("cpu_user_time", m.cpu_user_time)?;
    d.set_item("cpu_system_time", m.cpu_system_time)?;
    d.set_item("cpu_time", m.cpu_user_time + m.cpu_system_time)?;
    d.set_item("restart_time", m.restart_time)?;
    d.set_item("current_time", m.current_time)?;
    d.set_item("running_time", m.running_time)?;
    d.set_item("request_threads", m.request_threads)?;
    d.set_item("active_requests", m.active_requests)?;
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
    d.set_item("pid", m.pid)?;
    d.set_item("start_time", m.start_time)?;
    d.set_item("stop_time", m.stop_time)?;
    d.set_item("sample_period", m.sample_period)?;
    let (user, system) = (m.cpu_user_utilization, m.cpu_system_utilization);
    // The `*_time` keys are mod_wsgi's deprecated aliases of the rates.
    d.set_item("cpu_user_utilization", user)?;
    d.set_item("cpu_user_time", user)?;
    d.set_item("cpu_system_utilization", system)?;
    d.set_item("cpu_system_time", system)?;
    d.set_item("cpu_utilization", user + system)?;
    d.set_item("cpu_time", user + system)?;
    d.set_item("memory_max_rss", m.memory_max_rss)?;
    d.set_item("memory_rss", m.memory_rss)?;
    d.set_item("request_threads_maximum", m.request_threads_maximum)?;
    d.set_item("request_threads_started", m.request_threads_started)?;
    d.set_item("request_threads_active", m.request_threads_active)?;
    d.set_item("capacity_utilization", m.capacity_utilization)?;
    d.set_item("request_count", m.request_count)?;
    d.set_item("request_throughput", m.request_throughput)?;
    for (i, n) in a.status.iter().enumerate() {
        d.set_item(format!("status_{}xx", i + 1), n)?;
    }
    d.set_item("input_bytes", a.input_bytes)?;
    d.set_item("input_reads", a.input_reads)?;
    d.set_item("output_bytes", a.output_bytes)?;
    d.set_item("output_writes", a.output_writes)?;
    let phases: [(&str, &Phase); 8] = [
        ("server_time", &a.server),
        ("queue_time", &a.queue),
        ("daemon_time", &a.daemon),
        ("application_time", &a.application),
        ("request_time", &a.request),
        ("gil_wait_time", &a.gil_wait),
        ("input_read_time", &a.input_read),
        ("output_write_time", &a.output_write),
    ];
    for (name, p) in phases {
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
    for (name, p) in [
        ("server_time", &a.server),
        ("application_time", &a.application),
        ("request_time", &a.request),
        ("gil_wait_time", &a.gil_wait),
        ("input_read_time", &a.input_read),
        ("output_write_time", &a.output_write),
    ] {
        extremes(&d, name, Some(p))?;
    }
    extremes(&d, "queue_time", m.daemon.then_some(&a.queue))?;
    extremes(&d, "daemon_time", m.daemon.then_some(&a.daemon))?;
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
    d.set_item("server_limit", s.server_limit)?;
    d.set_item("thread_limit", s.thread_limit)?;
    d.set_item("running_generation", s.running_generation)?;
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
        pd.set_item("pid", p.pid)?;
        pd.set_item("generation", p.generation)?;
        pd.set_item("quiescing", p.quiescing)?;
        let workers = PyList::empty(py);
        for w in &p.workers {
            let wd = PyDict::new(py);
            wd.set_item("thread_num", w.thread_num)?;
            wd.set_item("generation", w.generation)?;
            wd.set_item("status", w.status.to_string())?;
            wd.set_item("access_count", w.access_count)?;
            wd.set_item("bytes_served", w.bytes_served)?;
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
