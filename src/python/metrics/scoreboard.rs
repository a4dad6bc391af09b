//! What `mod_wsgi.server_metrics()` shows: a copy of Apache's scoreboard,
//! taken by whoever can read it. The Apache layer installs the reader when
//! httpd loads the module ([`set_provider`]); this layer never touches
//! httpd's memory.

use std::sync::OnceLock;

/// One worker (thread) slot of a process. Times are microseconds since the
/// epoch (0: never).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct WorkerScore {
    pub(crate) thread_num: i64,
    pub(crate) generation: i64,
    /// mod_status's letter: `_` waiting, `R` reading, `W` writing, `K`
    /// keepalive, `L` logging, `D` DNS, `C` closing, `G` graceful, `I` idle
    /// cleanup, `S` starting, `.` open slot.
    pub(crate) status: char,
    pub(crate) access_count: u64,
    pub(crate) bytes_served: u64,
    pub(crate) start_time: i64,
    pub(crate) stop_time: i64,
    pub(crate) last_used: i64,
    /// As httpd stored them (Latin-1 for Python).
    pub(crate) client: Vec<u8>,
    pub(crate) request: Vec<u8>,
    pub(crate) vhost: Vec<u8>,
}

/// One process slot of the scoreboard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProcessScore {
    pub(crate) pid: i64,
    pub(crate) generation: i64,
    pub(crate) quiescing: bool,
    pub(crate) workers: Vec<WorkerScore>,
}

/// The whole scoreboard: `server_limit` processes of `thread_limit` workers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServerScore {
    pub(crate) server_limit: i64,
    pub(crate) thread_limit: i64,
    pub(crate) running_generation: i64,
    /// Microseconds since the epoch.
    pub(crate) restart_time: i64,
    pub(crate) processes: Vec<ProcessScore>,
}

/// Reads the scoreboard.
pub(crate) trait Scoreboard: Send + Sync {
    /// A copy of the scoreboard as it is now; `None` when this process has
    /// none.
    fn read(&self) -> Option<ServerScore>;
}

static PROVIDER: OnceLock<&'static dyn Scoreboard> = OnceLock::new();

/// Installs the scoreboard reader (once per load of this module).
pub(crate) fn set_provider(provider: &'static dyn Scoreboard) {
    let _ = PROVIDER.set(provider);
}

/// The scoreboard now, if a reader is installed and has one.
pub(crate) fn read() -> Option<ServerScore> {
    PROVIDER.get()?.read()
}
