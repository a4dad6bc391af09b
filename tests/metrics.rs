//! mod_wsgi 6's metrics functions (`start_recording_metrics`,
//! `process_metrics`, `request_metrics`, `server_metrics`) in embedded and
//! daemon mode: mod_wsgi's keys and types, values that add up, and the
//! gates (`WSGIServerMetrics`, `server-metrics=`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;

const APP: &str = include_str!("apps/metrics.wsgi");

/// A Python value flattened by the app: path -> (type name, value).
struct Flat(BTreeMap<String, (String, String)>);

impl Flat {
    fn parse(text: &str) -> Flat {
        Flat(
            text.lines()
                .map(|l| {
                    let mut parts = l.splitn(3, '\t');
                    let path = parts.next().unwrap_or_default().to_string();
                    let kind = parts.next().unwrap_or_default().to_string();
                    let value = parts.next().unwrap_or_default().to_string();
                    (path, (kind, value))
                })
                .collect(),
        )
    }

    fn is_none(&self) -> bool {
        self.kind("") == "NoneType"
    }

    #[track_caller]
    fn get(&self, key: &str) -> &(String, String) {
        self.0
            .get(key)
            .unwrap_or_else(|| panic!("no {key:?} in {:?}", self.0.keys().collect::<Vec<_>>()))
    }

    #[track_caller]
    fn kind(&self, key: &str) -> &str {
        &self.get(key).0
    }

    #[track_caller]
    fn text(&self, key: &str) -> &str {
        &self.get(key).1
    }

    #[track_caller]
    fn f(&self, key: &str) -> f64 {
        let v = self.text(key);
        v.parse()
            .unwrap_or_else(|_| panic!("{key} = {v:?} is not a number"))
    }

    #[track_caller]
    fn u(&self, key: &str) -> u64 {
        assert_eq!(self.kind(key), "int", "{key}");
        self.text(key).parse().unwrap()
    }

    /// The keys of the dict at `path` ("" for the top) with their types.
    fn types(&self, path: &str) -> BTreeMap<String, String> {
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}.")
        };
        self.0
            .iter()
            .filter_map(|(k, (kind, _))| {
                let rest = k.strip_prefix(&prefix)?;
                (!rest.is_empty() && !rest.contains('.')).then(|| (rest.to_string(), kind.clone()))
            })
            .collect()
    }

    /// The numbers of the list at `path`.
    fn list(&self, path: &str) -> Vec<f64> {
        let n = self.u_len(path);
        (0..n).map(|i| self.f(&format!("{path}.{i}"))).collect()
    }

    /// The strings of the list at `path`.
    fn strings(&self, path: &str) -> Vec<String> {
        (0..self.u_len(path))
            .map(|i| self.text(&format!("{path}.{i}")).to_string())
            .collect()
    }

    #[track_caller]
    fn u_len(&self, path: &str) -> usize {
        assert!(matches!(self.kind(path), "list" | "dict"), "{path}");
        self.text(path).parse().unwrap()
    }
}

#[track_caller]
fn fetch(apache: &Apache, path: &str) -> Flat {
    Flat::parse(&apache.get_ok(path))
}

/// The keys of `pairs`, in order.
fn names(pairs: &[(&str, &str)]) -> Vec<String> {
    pairs.iter().map(|(k, _)| k.to_string()).collect()
}

fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, t)| (k.to_string(), t.to_string()))
        .collect()
}

/// `process_metrics()`'s keys and types in mod_wsgi 6.0.5, in its order
/// (`wsgi_process_metrics_dict`).
const PROCESS_KEYS: &[(&str, &str)] = &[
    ("pid", "int"),
    ("request_busy_time", "float"),
    ("request_count", "int"),
    ("memory_max_rss", "int"),
    ("memory_rss", "int"),
    ("cpu_user_time", "float"),
    ("cpu_system_time", "float"),
    ("cpu_time", "float"),
    ("restart_time", "float"),
    ("current_time", "float"),
    ("running_time", "int"),
    ("request_threads", "int"),
    ("active_requests", "int"),
    ("threads", "list"),
];

/// `request_metrics()`'s keys and types in mod_wsgi 6.0.5, in its order
/// (`wsgi_request_metrics`); `NONE_IN_EMBEDDED` are None in embedded mode.
const REQUEST_KEYS: &[(&str, &str)] = &[
    ("pid", "int"),
    ("start_time", "float"),
    ("stop_time", "float"),
    ("sample_period", "float"),
    ("cpu_user_utilization", "float"),
    ("cpu_user_time", "float"),
    ("cpu_system_utilization", "float"),
    ("cpu_system_time", "float"),
    ("cpu_utilization", "float"),
    ("cpu_time", "float"),
    ("memory_max_rss", "int"),
    ("memory_rss", "int"),
    ("request_threads_maximum", "int"),
    ("request_threads_started", "int"),
    ("request_threads_active", "int"),
    ("capacity_utilization", "float"),
    ("request_count", "int"),
    ("request_throughput", "float"),
    ("status_1xx", "int"),
    ("status_2xx", "int"),
    ("status_3xx", "int"),
    ("status_4xx", "int"),
    ("status_5xx", "int"),
    ("input_bytes", "int"),
    ("input_reads", "int"),
    ("output_bytes", "int"),
    ("output_writes", "int"),
    ("server_time_buckets", "list"),
    ("queue_time_buckets", "list"),
    ("daemon_time_buckets", "list"),
    ("application_time_buckets", "list"),
    ("request_time_buckets", "list"),
    ("gil_wait_time_buckets", "list"),
    ("input_read_time_buckets", "list"),
    ("output_write_time_buckets", "list"),
    ("request_threads_completed", "list"),
    ("request_threads_buckets", "list"),
    ("request_threads_busy_time", "list"),
    ("request_threads_cpu_time", "list"),
    ("request_threads_current_elapsed", "list"),
    ("request_threads_max_duration", "list"),
    ("server_time", "float"),
    ("queue_time", "float"),
    ("daemon_time", "float"),
    ("application_time", "float"),
    ("request_time", "float"),
    ("gil_wait_time", "float"),
    ("gil_wait_count", "int"),
    ("input_read_time", "float"),
    ("output_write_time", "float"),
    ("server_time_min_us", "int"),
    ("server_time_max_us", "int"),
    ("application_time_min_us", "int"),
    ("application_time_max_us", "int"),
    ("request_time_min_us", "int"),
    ("request_time_max_us", "int"),
    ("gil_wait_time_min_us", "int"),
    ("gil_wait_time_max_us", "int"),
    ("input_read_time_min_us", "int"),
    ("input_read_time_max_us", "int"),
    ("output_write_time_min_us", "int"),
    ("output_write_time_max_us", "int"),
    ("queue_time_min_us", "int"),
    ("queue_time_max_us", "int"),
    ("daemon_time_min_us", "int"),
    ("daemon_time_max_us", "int"),
];

fn request_keys(daemon: bool) -> BTreeMap<String, String> {
    let mut keys = expected(REQUEST_KEYS);
    if !daemon {
        for k in NONE_IN_EMBEDDED {
            keys.insert(k.to_string(), "NoneType".into());
        }
    }
    keys
}

const NONE_IN_EMBEDDED: [&str; 6] = [
    "queue_time",
    "daemon_time",
    "queue_time_min_us",
    "queue_time_max_us",
    "daemon_time_min_us",
    "daemon_time_max_us",
];

/// `server_metrics()`'s keys and types, in mod_wsgi 6.0.5's order
/// (`wsgi_server_metrics`).
const SERVER_KEYS: &[(&str, &str)] = &[
    ("server_limit", "int"),
    ("thread_limit", "int"),
    ("running_generation", "int"),
    ("restart_time", "float"),
    ("current_time", "float"),
    ("running_time", "int"),
    ("processes", "list"),
];
const SERVER_PROCESS_KEYS: &[(&str, &str)] = &[
    ("process_num", "int"),
    ("pid", "int"),
    ("generation", "int"),
    ("quiescing", "bool"),
    ("workers", "list"),
];
const SERVER_WORKER_KEYS: &[(&str, &str)] = &[
    ("thread_num", "int"),
    ("generation", "int"),
    ("status", "str"),
    ("access_count", "int"),
    ("bytes_served", "int"),
    ("start_time", "float"),
    ("stop_time", "float"),
    ("last_used", "float"),
    ("client", "str"),
    ("request", "str"),
    ("vhost", "str"),
];

fn server(tag: &str, body: &str, config: ApacheConfig) -> (TestDir, Apache) {
    let dir = TestDir::new(tag);
    dir.write("metrics.wsgi", APP);
    let apache = Apache::start(
        &dir,
        &ApacheConfig {
            body: body.to_string(),
            ..config
        },
    );
    (dir, apache)
}

/// Embedded: `/m` in the main interpreter, `/other` in another one.
const EMBEDDED: &str = "WSGIScriptAlias /m {dir}/metrics.wsgi application-group=%{GLOBAL}\n\
     WSGIScriptAlias /other {dir}/metrics.wsgi application-group=other\n";

#[test]
fn embedded_functions_have_mod_wsgi_s_keys_once_recording_starts() {
    let (_dir, apache) = server("metrics-keys", EMBEDDED, ApacheConfig::default());
    // As mod_wsgi 6: nothing until start_recording_metrics(); no scoreboard
    // without WSGIServerMetrics On.
    for path in ["/m/process", "/m/request", "/m/server"] {
        assert!(fetch(&apache, path).is_none(), "{path}");
    }
    let args = fetch(&apache, "/m/arguments");
    for name in [
        "start_recording_metrics",
        "process_metrics",
        "request_metrics",
        "server_metrics",
    ] {
        assert_eq!(
            args.text(name),
            format!("{name}() takes no arguments (1 given)")
        );
    }
    assert!(fetch(&apache, "/m/start").is_none(), "returns None");
    assert!(fetch(&apache, "/m/start").is_none(), "idempotent");

    let p = fetch(&apache, "/m/process");
    assert_eq!(p.types(""), expected(PROCESS_KEYS));
    assert!(p.u_len("threads") >= 1);
    assert_eq!(
        p.types("threads.0"),
        expected(&[("thread_id", "int"), ("request_count", "int")])
    );

    let r = fetch(&apache, "/m/request");
    assert_eq!(r.types(""), request_keys(false));
    assert!(fetch(&apache, "/m/server").is_none());
    // In mod_wsgi's order too.
    let order = fetch(&apache, "/m/keys");
    assert_eq!(order.strings("process"), names(PROCESS_KEYS));
    assert_eq!(order.strings("request"), names(REQUEST_KEYS));
    assert_eq!(
        order.strings("thread"),
        names(&[("thread_id", ""), ("request_count", "")])
    );

    // The counters are the process's: another interpreter sees them too.
    let other = fetch(&apache, "/other/process");
    assert_eq!(other.u("pid"), p.u("pid"));
    assert!(other.u("request_count") > p.u("request_count"));
    apache.assert_no_crash();
}

#[test]
fn process_metrics_count_every_request_and_only_grow() {
    let (_dir, apache) = server("metrics-process", EMBEDDED, ApacheConfig::default());
    fetch(&apache, "/m/start");
    let env = fetch(&apache, "/m/environ");
    let a = fetch(&apache, "/m/process?settle");
    const N: u64 = 7;
    for _ in 0..N {
        assert_eq!(apache.get("/m/hello").status, 200);
    }
    let b = fetch(&apache, "/m/process?settle");
    // The request that read `a` ended after reading it: it counts too.
    assert_eq!(b.u("request_count") - a.u("request_count"), N + 1);
    assert_eq!(a.u("pid"), env.u("pid"));
    assert_eq!(b.u("pid"), a.u("pid"), "one Apache child serves them all");
    for key in [
        "request_busy_time",
        "cpu_user_time",
        "cpu_system_time",
        "cpu_time",
        "current_time",
    ] {
        assert!(a.f(key) >= 0.0, "{key}");
        assert!(
            b.f(key) >= a.f(key),
            "{key}: {} then {}",
            a.f(key),
            b.f(key)
        );
    }
    assert!(b.f("request_busy_time") > a.f("request_busy_time"));
    assert!(b.f("current_time") > a.f("current_time"));
    assert!((b.f("cpu_time") - b.f("cpu_user_time") - b.f("cpu_system_time")).abs() < 1e-6);
    assert_eq!(a.text("restart_time"), b.text("restart_time"));
    assert!(b.f("restart_time") <= a.f("current_time"));
    assert!(b.u("running_time") as f64 <= b.f("current_time") - b.f("restart_time") + 1.0);
    // The request asking is in progress.
    assert!(b.u("active_requests") >= 1);
    let rss = b.u("memory_rss");
    assert!(rss > 1 << 20, "{rss}");
    assert!(rss <= b.u("memory_max_rss") + (1 << 20));
    // Threads: 1..request_threads, each counting the requests it began.
    let threads = b.u("request_threads");
    assert!((1..=10).contains(&threads), "{threads}");
    assert_eq!(b.u_len("threads") as u64, threads);
    let ids: BTreeSet<u64> = (0..threads)
        .map(|i| b.u(&format!("threads.{i}.thread_id")))
        .collect();
    assert_eq!(ids, (1..=threads).collect());
    assert!(ids.contains(&env.u("mod_wsgi.thread_id")));
    let begun: u64 = (0..threads)
        .map(|i| b.u(&format!("threads.{i}.request_count")))
        .sum();
    assert_eq!(begun, b.u("request_count") + b.u("active_requests"));

    // A request in progress is active and busy.
    let port = apache.port;
    let sleeper = std::thread::spawn(move || request(port, "GET", "/m/sleep?1.5", &[], b""));
    assert!(wait_until(Duration::from_secs(10), || {
        fetch(&apache, "/m/process").u("active_requests") >= 2
    }));
    let during = fetch(&apache, "/m/process");
    std::thread::sleep(Duration::from_millis(300));
    let later = fetch(&apache, "/m/process");
    // Busy time grows while the request runs, before it ends.
    assert!(later.f("request_busy_time") - during.f("request_busy_time") >= 0.25);
    assert_eq!(later.u("request_count"), during.u("request_count") + 1);
    assert_eq!(sleeper.join().unwrap().status, 200);
    apache.assert_no_crash();
}

#[test]
fn request_metrics_cover_the_interval_since_the_last_call() {
    let (_dir, apache) = server("metrics-request", EMBEDDED, ApacheConfig::default());
    fetch(&apache, "/m/start");
    let first = fetch(&apache, "/m/request?settle");
    for _ in 0..3 {
        assert_eq!(apache.get("/m/hello").status, 200);
    }
    assert_eq!(apache.get("/m/missing").status, 404);
    let upload = apache.post("/m/upload", &[7u8; 10_000]);
    assert_eq!(upload.text(), "\tint\t10000");
    let r = fetch(&apache, "/m/request?settle");

    // The call that read `first` ended in this interval: 1 + 3 + 1 + 1.
    let count = r.u("request_count");
    assert_eq!(count, 6);
    assert_eq!(
        [1, 2, 3, 4, 5].map(|c| r.u(&format!("status_{c}xx"))),
        [0, 5, 0, 1, 0]
    );
    assert_eq!(r.text("start_time"), first.text("stop_time"));
    let period = r.f("stop_time") - r.f("start_time");
    assert!(period > 0.0 && (r.f("sample_period") - period).abs() < 1e-3);
    assert!((r.f("request_throughput") - count as f64 / r.f("sample_period")).abs() < 1e-6);
    assert!((0.0..=1.01).contains(&r.f("capacity_utilization")));
    assert_eq!(r.u("request_threads_maximum"), 10, "ThreadsPerChild");
    assert!((1..=10).contains(&r.u("request_threads_started")));
    assert!(r.u("request_threads_active") >= 1);
    for list in [
        "request_threads_completed",
        "request_threads_buckets",
        "request_threads_busy_time",
        "request_threads_cpu_time",
        "request_threads_current_elapsed",
        "request_threads_max_duration",
    ] {
        let values = r.list(list);
        assert_eq!(values.len(), 10, "{list}");
        assert!(values.iter().all(|v| *v >= 0.0), "{list}: {values:?}");
    }
    assert_eq!(
        r.list("request_threads_completed").iter().sum::<f64>(),
        count as f64
    );
    // The request asking is in progress on one thread.
    assert!(
        r.list("request_threads_current_elapsed")
            .iter()
            .any(|v| *v > 0.0)
    );
    for phase in [
        "server_time",
        "application_time",
        "request_time",
        "gil_wait_time",
        "input_read_time",
        "output_write_time",
    ] {
        let buckets = r.list(&format!("{phase}_buckets"));
        assert_eq!(buckets.len(), 65, "{phase}");
        assert_eq!(buckets.iter().sum::<f64>(), count as f64, "{phase}");
        assert!(r.f(phase) >= 0.0, "{phase}");
        let (min, max) = (
            r.u(&format!("{phase}_min_us")),
            r.u(&format!("{phase}_max_us")),
        );
        assert!(min <= max, "{phase}");
        assert!(
            r.f(phase) * 1e6 <= max as f64 + 1.0,
            "{phase}: mean over max"
        );
    }
    assert!(r.f("application_time") > 0.0);
    assert!(r.f("request_time") >= r.f("application_time"));
    for k in NONE_IN_EMBEDDED {
        assert_eq!(r.kind(k), "NoneType", "{k}");
    }
    assert!(r.list("queue_time_buckets").iter().all(|v| *v == 0.0));
    // Every request entered its interpreter: at least one GIL wait each.
    assert!(r.u("gil_wait_count") >= count);
    assert!(r.u("input_bytes") >= 10_000);
    assert!(r.u("input_reads") >= 1);
    assert!(r.u("output_bytes") >= 3 * "\tstr\thello".len() as u64);
    assert!(r.u("output_writes") >= count);

    // Drained: the next interval holds just the request that read `r`.
    let next = fetch(&apache, "/m/request?settle");
    assert_eq!(next.u("request_count"), 1);
    assert_eq!(next.u("status_2xx"), 1);
    apache.assert_no_crash();
}

const LETTERS: &str = ".S_RWKLDCGI";

/// Checks a scoreboard dict: mod_wsgi's keys and types, `server_limit`
/// processes of `thread_limit` workers, states as mod_status's letters.
#[track_caller]
fn check_scoreboard(s: &Flat, server_limit: u64, thread_limit: u64) {
    let mut top = s.types("");
    // What the app adds: the keys in their order.
    for k in ["order", "order_process", "order_worker"] {
        assert_eq!(top.remove(k).as_deref(), Some("list"), "{k}");
    }
    assert_eq!(top, expected(SERVER_KEYS));
    assert_eq!(s.strings("order"), names(SERVER_KEYS));
    assert_eq!(s.strings("order_process"), names(SERVER_PROCESS_KEYS));
    assert_eq!(s.strings("order_worker"), names(SERVER_WORKER_KEYS));
    assert_eq!(s.u("server_limit"), server_limit);
    assert_eq!(s.u("thread_limit"), thread_limit);
    assert_eq!(s.u_len("processes") as u64, server_limit);
    for p in 0..server_limit {
        let pk = format!("processes.{p}");
        assert_eq!(s.types(&pk), expected(SERVER_PROCESS_KEYS));
        assert_eq!(s.u(&format!("{pk}.process_num")), p);
        assert_eq!(s.u_len(&format!("{pk}.workers")) as u64, thread_limit);
        for w in 0..thread_limit {
            let wk = format!("{pk}.workers.{w}");
            assert_eq!(s.types(&wk), expected(SERVER_WORKER_KEYS), "{wk}");
            let status = s.text(&format!("{wk}.status"));
            assert!(
                status.len() == 1 && LETTERS.contains(status),
                "{wk}: {status:?}"
            );
        }
    }
    assert!(s.f("restart_time") <= s.f("current_time"));
    assert!(s.u("running_time") as f64 <= s.f("current_time") - s.f("restart_time") + 1.0);
}

/// The scoreboard process entry of `pid`.
fn process_of(s: &Flat, pid: u64) -> Option<String> {
    (0..s.u_len("processes"))
        .map(|p| format!("processes.{p}"))
        .find(|pk| s.u(&format!("{pk}.pid")) == pid)
}

#[test]
fn server_metrics_show_the_scoreboard_with_wsgi_server_metrics_on() {
    // ExtendedStatus: httpd then records each worker's request, client and
    // counts (what mod_status shows), not just its state.
    let body = format!("WSGIServerMetrics On\nExtendedStatus On\n{EMBEDDED}");
    let (_dir, apache) = server("metrics-server", &body, ApacheConfig::default());
    for _ in 0..3 {
        apache.get("/m/hello");
    }
    let pid = fetch(&apache, "/m/environ").u("pid");
    // No start_recording_metrics() needed for this one.
    let s = fetch(&apache, "/m/server");
    // The test configuration: ServerLimit 2, ThreadLimit 10 (event MPM).
    check_scoreboard(&s, 2, 10);
    let mine = process_of(&s, pid).expect("this Apache child is on the scoreboard");
    assert_eq!(s.kind(&format!("{mine}.quiescing")), "bool");
    // The worker serving this request is writing it.
    let serving: Vec<String> = (0..10)
        .map(|w| format!("{mine}.workers.{w}"))
        .filter(|wk| s.text(&format!("{wk}.status")) == "W")
        .collect();
    assert!(!serving.is_empty(), "no worker in W state");
    assert!(
        serving.iter().any(|wk| s
            .text(&format!("{wk}.request"))
            .starts_with("GET /m/server")),
        "{serving:?}"
    );
    let served: u64 = (0..10)
        .map(|w| s.u(&format!("{mine}.workers.{w}.access_count")))
        .sum();
    assert!(served >= 4, "{served}");
    assert!((0..10).any(|w| s.text(&format!("{mine}.workers.{w}.client")) == "127.0.0.1"));
    apache.assert_no_crash();
}

#[test]
fn server_metrics_under_prefork_have_one_worker_per_process() {
    let body = format!("WSGIServerMetrics On\n{EMBEDDED}");
    let (_dir, apache) = server(
        "metrics-prefork",
        &body,
        ApacheConfig::default().mpm(Mpm::Prefork),
    );
    // One keep-alive connection: every request goes to the same child.
    let mut client = Client::new(apache.port, true);
    let mut get = |path: &str| {
        let (status, body) = client.get(path).unwrap();
        assert_eq!(status, 200, "{path}");
        Flat::parse(&String::from_utf8_lossy(&body))
    };
    let pid = get("/m/environ").u("pid");
    let s = get("/m/server");
    // ServerLimit 4 (the harness's prefork sizing), one thread each.
    check_scoreboard(&s, 4, 1);
    let mine = process_of(&s, pid).expect("this child is on the scoreboard");
    assert_eq!(s.text(&format!("{mine}.workers.0.status")), "W");
    get("/m/start");
    let r = get("/m/request");
    assert_eq!(r.u("request_threads_maximum"), 1);
    assert_eq!(r.list("request_threads_completed"), vec![1.0]);
    apache.assert_no_crash();
}

#[test]
fn daemon_processes_have_their_own_metrics_and_gate() {
    let body = format!(
        "WSGIServerMetrics On\n\
         WSGIDaemonProcess met {u}threads=3 server-metrics=On\n\
         WSGIDaemonProcess quiet {u}threads=2\n\
         WSGIScriptAlias /d {{dir}}/metrics.wsgi process-group=met application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /q {{dir}}/metrics.wsgi process-group=quiet application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /e {{dir}}/metrics.wsgi application-group=%{{GLOBAL}}\n",
        u = daemon_user()
    );
    let (_dir, apache) = server("metrics-daemon", &body, ApacheConfig::default());
    let child = fetch(&apache, "/e/environ");
    let env = fetch(&apache, "/d/environ");
    let daemon_pid = env.u("pid");
    assert_ne!(daemon_pid, child.u("pid"));
    // mod_wsgi's queue_start / daemon_start: 0 in embedded mode; in daemon
    // mode when the Apache child handed the request on and when a daemon
    // thread took it.
    assert_eq!(child.f("mod_wsgi.queue_start"), 0.0);
    assert_eq!(child.f("mod_wsgi.daemon_start"), 0.0);
    let (request, queue, daemon, application) = (
        env.f("mod_wsgi.request_start"),
        env.f("mod_wsgi.queue_start"),
        env.f("mod_wsgi.daemon_start"),
        env.f("mod_wsgi.application_start"),
    );
    assert!(
        request > 0.0 && request <= queue + 1e-3,
        "{request} {queue}"
    );
    assert!(
        queue <= daemon && daemon <= application,
        "{queue} {daemon} {application}"
    );
    assert!(application - request < 10.0);
    assert!((1..=3).contains(&env.u("mod_wsgi.thread_id")));

    assert!(fetch(&apache, "/d/process").is_none());
    fetch(&apache, "/d/start");
    let a = fetch(&apache, "/d/process?settle");
    assert_eq!(a.types(""), expected(PROCESS_KEYS));
    assert_eq!(a.u("pid"), daemon_pid);
    // A daemon's request threads exist from its start (threads=3).
    assert_eq!(a.u("request_threads"), 3);
    let ids: BTreeSet<u64> = (0..3)
        .map(|i| a.u(&format!("threads.{i}.thread_id")))
        .collect();
    assert_eq!(ids, BTreeSet::from([1, 2, 3]));
    // Recording in the daemon says nothing about the Apache child.
    assert!(fetch(&apache, "/e/process").is_none());

    fetch(&apache, "/d/request?settle");
    for _ in 0..4 {
        assert_eq!(apache.get("/d/hello").status, 200);
    }
    let b = fetch(&apache, "/d/process?settle");
    assert_eq!(b.u("request_count") - a.u("request_count"), 4 + 2);
    let r = fetch(&apache, "/d/request?settle");
    assert_eq!(r.types(""), request_keys(true));
    assert_eq!(
        r.u("request_count"),
        6,
        "/d/process, /d/request and 4 hellos"
    );
    assert_eq!(r.u("request_threads_maximum"), 3);
    assert_eq!(r.list("request_threads_completed").len(), 3);
    for phase in ["queue_time", "daemon_time", "server_time", "request_time"] {
        assert!(r.f(phase) >= 0.0, "{phase}");
        assert!(r.u(&format!("{phase}_min_us")) <= r.u(&format!("{phase}_max_us")));
        assert_eq!(
            r.list(&format!("{phase}_buckets")).iter().sum::<f64>(),
            6.0,
            "{phase}"
        );
    }
    assert!(r.f("request_time") >= r.f("queue_time") + r.f("daemon_time"));

    // server-metrics=On: the daemon reads the Apache scoreboard it
    // inherited; it lists Apache's processes (not the daemons).
    let s = fetch(&apache, "/d/server");
    check_scoreboard(&s, 2, 10);
    assert!(process_of(&s, child.u("pid")).is_some());
    assert!(process_of(&s, daemon_pid).is_none());
    // The gates are independent: WSGIServerMetrics On is for embedded mode.
    assert!(!fetch(&apache, "/e/server").is_none());
    assert!(fetch(&apache, "/q/server").is_none());
    apache.assert_no_crash();
}

#[test]
fn configtest_accepts_the_metrics_switches() {
    for line in [
        "WSGIServerMetrics On",
        "WSGIServerMetrics Off",
        "WSGIDaemonProcess a server-metrics=On",
        "WSGIDaemonProcess a server-metrics=Off",
    ] {
        let (ok, out) = configtest(line);
        assert!(ok, "{line}: {out}");
    }
    for (line, expect) in [
        (
            "WSGIServerMetrics maybe",
            "WSGIServerMetrics must be On or Off",
        ),
        (
            "<VirtualHost *:80>\nWSGIServerMetrics On\n</VirtualHost>",
            "WSGIServerMetrics",
        ),
        (
            "WSGIDaemonProcess a server-metrics=sometimes",
            "server-metrics",
        ),
    ] {
        let (ok, out) = configtest(line);
        assert!(!ok, "{line} accepted");
        assert!(out.contains(expect), "{line}: {out}");
    }
}
