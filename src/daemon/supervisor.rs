//! The Apache parent's side of daemon mode, process control: at
//! post_config (never during configtest or the first configuration pass)
//! it opens each group's socket (`listeners`), forks the group's
//! processes from the Python-free parent, and has httpd's MPM watch them
//! (respawning a process that dies at once, or after a growing delay if it
//! died during start-up).
//!
//! What must outlive a restart (the sockets, the daemons still draining,
//! the exit table and the secrets' addresses) is kept in the process pool's
//! userdata ([`super::stash`]), because httpd unloads this module on every
//! restart.
//!
//! When the configuration pool is cleared: on a graceful restart the
//! daemons are told to drain (SIGWINCH: stop accepting, finish in-flight
//! requests within graceful-timeout, then shut down within shutdown-timeout)
//! and the parent does not wait for them; they are recorded in the stash, so
//! the next generation watches them (reaps them, never restarts them, and
//! kills them if they overstay). On a hard restart or stop the daemons get
//! SIGTERM, have `shutdown-timeout` seconds, and are then killed; at stop
//! the sockets are closed and removed.
//!
//! One concern (the life of the daemon processes as the Apache parent sees
//! it); exit reasons, sockets, the group table and the stash have their own
//! files.

use std::ffi::{CStr, c_int};
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::apache::log::{self, Level};
use crate::apache::mpm;
use crate::apache::pool::Pool;
use crate::apache::process::{Forked, fork, watch};
use crate::apache::server::Server;
use crate::config::daemon::DaemonGroup;
use crate::config::settings::GlobalSettings;
use crate::os::{exit_table, process, signals};

use super::deaths::DeathWatch;
use super::error::StartError;
use super::exit::{self, explain_exit};
use super::groups::{self, Defined, GroupRuntime, groups};
use super::keys;
use super::listeners;
use super::stash::{ParentState, RetiringRecord};
use super::worker;

/// A forked daemon process the parent watches (httpd's MPM reports its
/// death through [`watch`]).
struct Slot {
    group: Arc<GroupRuntime>,
    index: usize,
    /// 0 until forked (and when the last fork failed).
    pid: i32,
    started: Instant,
    /// Consecutive deaths during start-up.
    startup_deaths: u32,
}

/// A daemon process of an earlier generation, finishing its requests after
/// a graceful restart: reaped when it exits, never restarted, killed if it
/// overstays.
struct Retiring {
    rec: RetiringRecord,
    killed: bool,
}

/// The daemons of earlier generations this generation watches (for the
/// monitor hook); emptied when the configuration pool is cleared.
static RETIRING: Mutex<Vec<Retiring>> = Mutex::new(Vec::new());

fn retiring() -> MutexGuard<'static, Vec<Retiring>> {
    RETIRING.lock().unwrap_or_else(|e| e.into_inner())
}

/// This generation's daemons, shared by the callbacks httpd runs in the
/// Apache parent's one thread (hooks, the MPM's reports of dead children,
/// pool cleanups); dropped after the configuration pool's cleanup.
struct Supervisor {
    pconf: Pool,
    /// The process pool (it outlives pconf): the stash lives there.
    process_pool: Pool,
    /// Indexed by the callbacks of each slot's registration.
    slots: Mutex<Vec<Slot>>,
    /// What the next generation inherits; written through to the process
    /// pool at every change ([`Supervisor::persist`]).
    state: Mutex<ParentState>,
    /// Every group's secrets of the recent generations (never inherited).
    key_store: Mutex<keys::Store>,
    stopping: AtomicBool,
    /// Wakes httpd as soon as a daemon of this generation dies.
    deaths: Option<DeathWatch>,
}

const STATE_KEY: &CStr = c"mod_wsgi_rs.daemon_state.v1";
const STATE_POOL_KEY: &CStr = c"mod_wsgi_rs.daemon_state_pool.v1";

impl Supervisor {
    fn state(&self) -> MutexGuard<'_, ParentState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn slots(&self) -> MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the state through to the process pool.
    fn persist(&self) {
        let text = self.state().encode();
        self.process_pool
            .set_retained_text(STATE_KEY, STATE_POOL_KEY, &text);
    }
}

fn epoch_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn ppid() -> u32 {
    std::process::id()
}

thread_local! {
    /// The generation whose daemons wait for [`spawn_deferred`] (the Apache
    /// parent runs hooks on one thread).
    static DEFERRED: std::cell::RefCell<Option<Rc<Supervisor>>> =
        const { std::cell::RefCell::new(None) };
}

/// post_config in the real start (not configtest, not the first pass) and
/// at every restart: sockets (kept from the last generation where they still
/// fit), the daemons of earlier generations still draining, then the daemon
/// processes — now, or (`spawn_now` false) when [`spawn_deferred`] is
/// called. `Err` fails the server start.
pub(crate) fn start(
    main: Server,
    pconf: Pool,
    g: &GlobalSettings,
    spawn_now: bool,
) -> Result<(), StartError> {
    let all = groups::collect(main);
    let Some(process) = main.process_pool() else {
        return Err(StartError::NoProcessPool);
    };
    let mut inherited = process
        .retained_text(STATE_KEY)
        .map(|t| ParentState::decode(&t))
        .unwrap_or_default();
    if all.is_empty() && inherited.sockets.is_empty() && inherited.retiring.is_empty() {
        groups::publish(Vec::new());
        return Ok(());
    }
    inherited.exit_table = exit_table::attach(inherited.exit_table);
    let Some(mut key_store) = keys::Store::attach(inherited.key_store) else {
        return Err(StartError::NoKeyStore);
    };
    inherited.key_store = key_store.addr();
    let names: Vec<&str> = all.iter().map(|d| d.group.name.as_str()).collect();
    key_store.rotate(&names)?;
    let retiring = std::mem::take(&mut inherited.retiring);
    let sup = Rc::new(Supervisor {
        pconf,
        process_pool: process,
        slots: Mutex::new(Vec::new()),
        state: Mutex::new(inherited),
        key_store: Mutex::new(key_store),
        stopping: AtomicBool::new(false),
        deaths: DeathWatch::start()
            .map_err(|e| {
                log::process(
                    Level::Warn,
                    &format!(
                        "mod_wsgi (pid={}): cannot start the thread that watches daemon processes ({e}); a dead one is replaced when httpd notices, within a second",
                        ppid()
                    ),
                )
            })
            .ok(),
    });
    let on_clear = sup.clone();
    pconf.on_cleanup(move || stop_all(&on_clear));
    adopt_retiring(&sup, retiring);

    let runtimes = open_groups(&sup, main, pconf, g, all)?;
    groups::publish(runtimes.clone());
    {
        let mut slots = sup.slots();
        for rt in &runtimes {
            for index in 0..rt.group.processes as usize {
                slots.push(Slot {
                    group: rt.clone(),
                    index,
                    pid: 0,
                    started: Instant::now(),
                    startup_deaths: 0,
                });
            }
        }
    }
    if spawn_now {
        spawn_all(&sup);
    } else {
        DEFERRED.with(|d| *d.borrow_mut() = Some(sup));
    }
    Ok(())
}

/// Forks the daemon processes [`start`] left waiting (httpd's first start:
/// from the pre_mpm hook, once the scoreboard exists, as mod_wsgi does, so
/// that the daemons inherit it).
pub(crate) fn spawn_deferred() {
    if let Some(sup) = DEFERRED.with(|d| d.borrow_mut().take()) {
        spawn_all(&sup);
    }
}

fn spawn_all(sup: &Rc<Supervisor>) {
    let count = sup.slots().len();
    for slot in 0..count {
        spawn(sup, slot, Duration::ZERO);
    }
}

/// Watches the daemons an earlier generation left draining.
fn adopt_retiring(sup: &Rc<Supervisor>, records: Vec<RetiringRecord>) {
    let mut kept = Vec::new();
    {
        let mut list = retiring();
        for rec in records {
            // Only this process reaps its children, and it has not since the
            // record was written: a missing process means a bad record.
            if !process::process_exists(rec.pid) {
                continue;
            }
            list.push(Retiring {
                rec: rec.clone(),
                killed: false,
            });
            let (s, pid, group) = (sup.clone(), rec.pid, rec.group.clone());
            watch(sup.pconf, rec.pid, move |status| {
                on_retired_death(&s, pid, &group, status)
            });
            kept.push(rec);
        }
    }
    sup.state().retiring = kept;
    kill_overdue();
}

fn on_retired_death(sup: &Supervisor, pid: i32, group: &str, status: c_int) {
    let killed = {
        let mut list = retiring();
        let killed = list.iter().any(|r| r.rec.pid == pid && r.killed);
        list.retain(|r| r.rec.pid != pid);
        killed
    };
    exit::record_reported(pid, status);
    let why = if killed {
        "killed by the parent with SIGKILL".to_string()
    } else {
        explain_exit(pid as u32).unwrap_or_else(|| format!("status {status}"))
    };
    log::process(
        Level::Info,
        &format!(
            "mod_wsgi (pid={}): Daemon process '{group}' (pid {pid}) of an earlier generation has exited ({why}).",
            ppid()
        ),
    );
    sup.state().retiring.retain(|x| x.pid != pid);
    sup.persist();
}

/// Kills daemons of earlier generations that did not exit within
/// graceful-timeout + shutdown-timeout (they enforce those themselves; this
/// is the safety net). Runs at each restart and from the monitor hook.
fn kill_overdue() {
    let now = epoch_secs();
    for r in retiring().iter_mut() {
        if !r.killed && r.rec.kill_at <= now {
            log::process(
                Level::Warn,
                &format!(
                    "mod_wsgi (pid={}): Daemon process '{}' (pid {}) of an earlier generation is still running past graceful-timeout + shutdown-timeout; killing it.",
                    ppid(),
                    r.rec.group,
                    r.rec.pid
                ),
            );
            signals::kill(r.rec.pid, libc::SIGKILL);
            r.killed = true;
        }
    }
}

/// The MPM's monitor hook (the Apache parent, about every 10 seconds).
pub(crate) fn monitor() {
    kill_overdue();
}

/// Each group as it runs in this generation: its socket (kept from the
/// last generation or made anew, see [`listeners`]) and what was resolved
/// for it. Sockets no group wants any more are closed and removed.
fn open_groups(
    sup: &Supervisor,
    main: Server,
    pconf: Pool,
    g: &GlobalSettings,
    all: Vec<Defined>,
) -> Result<Vec<Arc<GroupRuntime>>, StartError> {
    let prefix = listeners::prefix(pconf, g);
    let mut wants = Vec::new();
    let mut owners = Vec::new();
    for (index, def) in all.iter().enumerate() {
        wants.push(listeners::Want::new(&prefix, index, &def.group)?);
        owners.push(groups::script_owner(&def.group)?);
    }
    let old = std::mem::take(&mut sup.state().sockets);
    let (opened, error) = listeners::open(sup.process_pool, old, &wants);
    let mut records = Vec::new();
    let mut runtimes = Vec::new();
    for ((def, script_owner), record) in all.into_iter().zip(owners).zip(opened) {
        let Some(record) = record else {
            continue;
        };
        let preloads = groups::preloads_for(main, &def.group.name);
        runtimes.push(Arc::new(GroupRuntime::new(
            def,
            &record,
            script_owner,
            preloads,
            main.timeout(),
        )));
        records.push(record);
    }
    sup.state().sockets = records;
    sup.persist();
    match error {
        Some(e) => Err(e),
        None => Ok(runtimes),
    }
}

/// Forks one daemon process for `slot` (the child never returns).
fn spawn(sup: &Rc<Supervisor>, slot: usize, delay: Duration) {
    let Some((group, index)) = sup.slots().get_mut(slot).map(|s| {
        s.pid = 0;
        (s.group.clone(), s.index)
    }) else {
        return;
    };
    // The daemon's own secrets, copied out of the store, which it does not
    // inherit.
    let secrets = keys::DaemonKeys::new(
        sup.key_store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .window(&group.group.name),
    );
    let pid = match fork(sup.pconf) {
        Ok(Forked::Child) => {
            let others: Vec<RawFd> = groups()
                .iter()
                .filter(|g| !Arc::ptr_eq(g, &group))
                .map(|g| g.listener)
                .collect();
            worker::run(group, index, delay, &others, secrets)
        }
        Ok(Forked::Parent(pid)) => {
            drop(secrets);
            pid
        }
        Err(rv) => {
            drop(secrets);
            log::process(
                Level::Alert,
                &format!(
                    "mod_wsgi (pid={}): cannot fork a process for daemon process group '{}': error {rv}",
                    ppid(),
                    group.group.name
                ),
            );
            return;
        }
    };
    if let Some(s) = sup.slots().get_mut(slot) {
        s.pid = pid;
        s.started = Instant::now() + delay;
    }
    if let Some(w) = &sup.deaths {
        w.watch(pid);
    }
    let s = sup.clone();
    watch(sup.pconf, pid, move |status| on_death(&s, slot, status));
    log::process(
        Level::Info,
        &format!(
            "mod_wsgi (pid={}): Starting process '{}' with threads={} (pid {pid}).",
            ppid(),
            group.group.name,
            group.group.threads,
        ),
    );
}

fn on_death(sup: &Rc<Supervisor>, slot: usize, status: c_int) {
    let Some((pid, group)) = sup.slots().get(slot).map(|s| (s.pid, s.group.clone())) else {
        return;
    };
    exit::record_reported(pid, status);
    let why = explain_exit(pid as u32).unwrap_or_else(|| format!("ended with status {status}"));
    let planned = exit::was_planned(pid);
    let started = exit::had_started(pid);
    let stopping = sup.stopping.load(Ordering::Acquire) || mpm::is_stopping();
    let delay = if stopping {
        None
    } else {
        sup.slots().get_mut(slot).map(|s| {
            let lived = Instant::now().saturating_duration_since(s.started);
            let (delay, deaths) = respawn_delay(planned || started, lived, s.startup_deaths);
            s.startup_deaths = deaths;
            delay
        })
    };
    let next = match delay {
        None => ".".to_string(),
        Some(d) if d.is_zero() => "; restarting at once.".to_string(),
        Some(d) => format!(
            "; died during start-up; waiting {} s before starting it again.",
            d.as_secs()
        ),
    };
    log::process(
        if planned { Level::Info } else { Level::Error },
        &format!(
            "mod_wsgi (pid={}): Daemon process '{}' (pid {pid}) {why}{next}",
            ppid(),
            group.group.name,
        ),
    );
    if let Some(delay) = delay {
        spawn(sup, slot, delay);
    }
}

/// A daemon that lived this long is not in a start-up loop, even without
/// its record of having started (the shared table keeps only the last 128
/// records of every daemon, so a busy server can overwrite it).
const LONG_LIFE: Duration = Duration::from_secs(10);

/// How long to wait before starting a daemon again: none if it had
/// `started` (see `exit::START_UP_WINDOW`; a planned exit counts as
/// started) or lived `LONG_LIFE`; otherwise it died during start-up, the
/// `startup_deaths + 1`th time in a row, and waits 1, 2, 4, ... up to 20
/// seconds (a daemon that cannot start must not become a fork bomb).
/// Returns the delay and that count, updated.
fn respawn_delay(started: bool, lived: Duration, startup_deaths: u32) -> (Duration, u32) {
    if started || lived >= LONG_LIFE {
        return (Duration::ZERO, 0);
    }
    let n = startup_deaths.saturating_add(1);
    (Duration::from_secs((1u64 << (n - 1).min(5)).min(20)), n)
}

/// The configuration pool is going away. Graceful restart: the daemons are
/// told to drain and left to the next generation. Hard restart or stop:
/// every daemon (this generation's and those still draining) gets SIGTERM,
/// `shutdown-timeout` to finish, then SIGKILL, and is reaped. Sockets are
/// kept for the next generation, except at stop, when they are closed and
/// removed.
fn stop_all(sup: &Supervisor) {
    sup.stopping.store(true, Ordering::Release);
    // Before httpd may unload the module the thread runs in.
    if let Some(w) = &sup.deaths {
        w.stop();
    }
    // Daemons never forked stay unforked.
    DEFERRED.with(|d| d.borrow_mut().take());
    // The monitor hook has nothing more to watch in this generation.
    retiring().clear();
    let exiting = mpm::is_exiting();
    let graceful = !exiting && mpm::restart_is_graceful();
    // The other-child registrations are gone already: each removed itself
    // with its own pconf cleanup, which ran before this one.
    let slots = std::mem::take(&mut *sup.slots());
    if graceful {
        retire(sup, &slots);
    } else {
        terminate(sup, &slots);
    }
    if exiting {
        for r in std::mem::take(&mut sup.state().sockets) {
            listeners::close_and_remove(&r);
        }
        exit_table::destroy();
        sup.state().exit_table = 0;
    } else {
        // The next generation adopts the mapping.
        exit_table::detach();
    }
    sup.persist();
    groups::publish(Vec::new());
}

/// Graceful restart: this generation's daemons stop accepting and finish
/// their requests (SIGWINCH) while the next generation starts at once on the
/// same sockets. Nothing here waits.
fn retire(sup: &Supervisor, slots: &[Slot]) {
    let now = epoch_secs();
    let mut told = 0;
    let mut st = sup.state();
    for s in slots {
        let pid = s.pid;
        if pid <= 0 {
            continue;
        }
        let g = &s.group.group;
        // A zombie ignores it; the next generation reaps it all the same.
        signals::kill(pid, libc::SIGWINCH);
        st.retiring.push(retiring_record(pid, g, now));
        told += 1;
    }
    drop(st);
    if told > 0 {
        log::process(
            Level::Info,
            &format!(
                "mod_wsgi (pid={}): Graceful restart: {told} daemon process(es) stop accepting and finish their requests; new ones start on the same sockets.",
                ppid()
            ),
        );
    }
}

/// What the next generation keeps of daemon `pid` of `g`, told to drain at
/// `now` (seconds since the epoch): it is killed if it is still running
/// after graceful-timeout + shutdown-timeout (at least 1 s) + 5 s.
fn retiring_record(pid: i32, g: &DaemonGroup, now: u64) -> RetiringRecord {
    RetiringRecord {
        pid,
        group: g.name.clone(),
        kill_at: kill_deadline(now, g.graceful_timeout, g.shutdown_timeout),
        shutdown_timeout: g.shutdown_timeout,
    }
}

fn kill_deadline(now: u64, graceful_timeout: u64, shutdown_timeout: u64) -> u64 {
    now + graceful_timeout + shutdown_timeout.max(1) + 5
}

/// How long a daemon told to stop has before it is killed:
/// shutdown-timeout (at least 1 s) + 1 s.
fn stop_grace(shutdown_timeout: u64) -> Duration {
    Duration::from_secs(shutdown_timeout.max(1)) + Duration::from_secs(1)
}

/// Hard restart or stop: SIGTERM, `shutdown-timeout` (+1 s), SIGKILL, reap.
fn terminate(sup: &Supervisor, slots: &[Slot]) {
    log::process(
        Level::Info,
        &format!("mod_wsgi (pid={}): Stopping the daemon processes.", ppid()),
    );
    let mut live: Vec<(i32, Instant)> = Vec::new();
    for s in slots {
        let pid = s.pid;
        if pid > 0 && signals::kill(pid, libc::SIGTERM) {
            live.push((
                pid,
                Instant::now() + stop_grace(s.group.group.shutdown_timeout),
            ));
        }
    }
    // Daemons of earlier generations still draining: their registrations
    // went with pconf's cleanups too, so they are waited for here.
    for r in std::mem::take(&mut sup.state().retiring) {
        if signals::kill(r.pid, libc::SIGTERM) {
            live.push((r.pid, Instant::now() + stop_grace(r.shutdown_timeout)));
        }
    }
    while !live.is_empty() {
        live.retain(|&(pid, deadline)| {
            if let Some(status) = process::try_wait(pid) {
                exit::record_reaped(pid, status);
                return false;
            }
            if Instant::now() >= deadline {
                log::process(
                    Level::Warn,
                    &format!(
                        "mod_wsgi (pid={}): daemon process {pid} did not exit within shutdown-timeout; killing it.",
                        ppid()
                    ),
                );
                signals::kill(pid, libc::SIGKILL);
                // Reaped below once the kernel has it.
                let until = Instant::now() + Duration::from_secs(2);
                while Instant::now() < until {
                    if process::try_wait(pid).is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                return false;
            }
            true
        });
        if !live.is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deaths_during_start_up_back_off_up_to_20_seconds() {
        let young = Duration::from_secs(3);
        let mut deaths = 0;
        let mut delays = Vec::new();
        for _ in 0..8 {
            let (delay, n) = respawn_delay(false, young, deaths);
            deaths = n;
            delays.push(delay.as_secs());
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 20, 20, 20]);
        assert_eq!(deaths, 8);
    }

    #[test]
    fn a_started_or_long_lived_daemon_restarts_at_once() {
        // However young: it had started (served a request, or stayed up
        // past the start-up window), or its exit was planned.
        assert_eq!(
            respawn_delay(true, Duration::from_millis(200), 4),
            (Duration::ZERO, 0)
        );
        assert_eq!(respawn_delay(false, LONG_LIFE, 4), (Duration::ZERO, 0));
        assert_eq!(
            respawn_delay(false, LONG_LIFE - Duration::from_millis(1), 0),
            (Duration::from_secs(1), 1)
        );
    }

    #[test]
    fn draining_daemons_get_their_timeouts_plus_a_margin() {
        assert_eq!(kill_deadline(1_000, 15, 0), 1_000 + 15 + 1 + 5);
        assert_eq!(kill_deadline(1_000, 0, 30), 1_000 + 30 + 5);
        assert_eq!(stop_grace(0), Duration::from_secs(2));
        assert_eq!(stop_grace(5), Duration::from_secs(6));
    }
}
