//! The request threads: leader/follower accept on the group's shared
//! listener, the peer check, and serving one connection (the request's
//! authentication, chroot rewriting, queue-timeout, then the WSGI adapter).

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::apache::log::{self, Level};
use crate::daemon::jail;
use crate::daemon::protocol::Frame;
use crate::daemon::transport::{Conn, SocketTransport};

use super::idle::{Connection, Next};
use crate::os::{descriptors, process, sockets};
use crate::python::{self, Outcome};
use crate::status::HttpStatus;

use super::{Running, State, pid};

fn now_secs(st: &State) -> u64 {
    st.born.elapsed().as_secs()
}

pub(super) fn accept_loop(st: &State, thread: usize) {
    // Before any request can hold a GIL (see `python::prepare_thread`).
    python::prepare_thread();
    // A request thread from the start (process_metrics() counts it), as
    // in mod_wsgi.
    python::metrics::thread_id();
    while st.accepting.load(Ordering::Acquire) {
        let next = match st.idle.next() {
            Ok(n) => n,
            Err(e) => {
                pause_after("epoll_wait", &e);
                continue;
            }
        };
        let (conn, fresh) = match next {
            Next::Stop => break,
            Next::Nothing => continue,
            Next::Serve(conn) => (conn, false),
            // Stopping: the connection waits for another process.
            Next::Accept if !st.accepting.load(Ordering::Acquire) => break,
            Next::Accept => {
                let accepted = sockets::accept(st.rt.listener);
                // Another thread may take the next connection meanwhile.
                st.idle.listen_again();
                match accepted {
                    Ok(Some(stream)) if peer_allowed(st, &stream) => {
                        (Connection::accepted(stream), true)
                    }
                    Ok(_) => continue,
                    Err(e) => {
                        pause_after("accept", &e);
                        continue;
                    }
                }
            }
        };
        // Counted before `accepting` is read again, and shut_down clears
        // `accepting` before it reads the count (both SeqCst): either this
        // request is waited for, or it is refused here, before Python could
        // be shutting down.
        st.active.fetch_add(1, Ordering::SeqCst);
        if !st.accepting.load(Ordering::SeqCst) {
            // Closed without a hello: the Apache child sends the request
            // again, to a process that is accepting.
            st.idle.close(conn);
            st.active.fetch_sub(1, Ordering::SeqCst);
            break;
        }
        let (served, kept) = serve(st, thread, conn, fresh);
        if matches!(served, Served::Ran | Served::RanUnnoticed) {
            let served = st.served.fetch_add(1, Ordering::AcqRel) + 1;
            let max = st.rt.group.maximum_requests;
            if max > 0 && served >= max {
                // Stop taking requests now; the main thread recycles.
                stop_accepting(st);
            }
        }
        if let Some(conn) = kept {
            st.idle.park(conn);
        }
        // Activity for inactivity-timeout is a request that ran (while it
        // runs, `active` keeps the process from counting as idle); not a
        // WSGIIgnoreActivity one (a health check), nor a kept connection's
        // close.
        if served == Served::Ran {
            st.last_activity.store(now_secs(st), Ordering::Release);
        }
        st.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Logs a failed wait or accept and pauses before the next (a failure
/// that repeats must not spin).
fn pause_after(what: &str, e: &std::io::Error) {
    log::process(
        Level::Error,
        &format!("mod_wsgi (pid={}): {what}: {e}", pid()),
    );
    std::thread::sleep(Duration::from_millis(100));
}

/// The threads take no more connections (those waiting in the listen
/// queue go to other processes); the main thread ends the process.
fn stop_accepting(st: &State) {
    st.accepting.store(false, Ordering::SeqCst);
    descriptors::write_byte(st.wake_w);
    st.idle.stop();
}

/// What became of a connection.
#[derive(PartialEq, Eq)]
enum Served {
    /// Its request ran, or was answered or refused here.
    Ran,
    /// Its request ran under WSGIIgnoreActivity: not activity.
    RanUnnoticed,
    /// Its script changed: it was sent back untouched, to be sent again.
    SentBack,
    /// The Apache child closed a connection kept between requests.
    Closed,
}

/// The script of a request changed since this process loaded it: mod_wsgi
/// restarts the process (a changed script often comes with changed modules
/// it imports, which only a new process loads afresh). No more requests
/// are taken; those in flight finish within graceful-timeout.
fn restart_for_changed_script(st: &State, script: &str) {
    stop_accepting(st);
    if !st.script_changed.swap(true, Ordering::AcqRel) {
        log::process(
            Level::Info,
            &format!(
                "mod_wsgi (pid={}): Forcing restart of daemon process '{}' due to modification of script '{script}'.",
                pid(),
                st.rt.group.name
            ),
        );
    }
}

/// Whether the peer of `stream` may send requests (SO_PEERCRED); a refused
/// peer is logged with its uid and pid.
fn peer_allowed(st: &State, stream: &UnixStream) -> bool {
    match sockets::peer_credentials(stream.as_raw_fd()) {
        Ok((_, uid, _)) if st.rt.peer_uids.contains(&uid) => true,
        Ok((peer_pid, uid, _)) => {
            log::process(
                Level::Alert,
                &format!(
                    "mod_wsgi (pid={}): Daemon process '{}' refused a connection from uid {uid} (pid {peer_pid}): only Apache's User and root may connect.",
                    pid(),
                    st.rt.group.name
                ),
            );
            false
        }
        Err(e) => {
            log::process(
                Level::Error,
                &format!(
                    "mod_wsgi (pid={}): Daemon process '{}': cannot identify a connection's peer: {e}",
                    pid(),
                    st.rt.group.name
                ),
            );
            false
        }
    }
}

/// Serves the next request on `conn` (`fresh`: just accepted); gives the
/// connection back when it is ready for another.
fn serve(st: &State, thread: usize, conn: Connection, fresh: bool) -> (Served, Option<Connection>) {
    let g = &st.rt.group;
    let (stream, token) = conn.into_parts();
    if fresh {
        let _ = stream
            .get_ref()
            .set_read_timeout(Some(st.rt.socket_timeout));
        let _ = stream
            .get_ref()
            .set_write_timeout(Some(st.rt.socket_timeout));
    }
    let socket = stream.get_ref().as_raw_fd();
    // Who sent it, for the log (looked up only when something is logged).
    let peer = || {
        sockets::peer_credentials(socket)
            .map_or_else(|_| "?".to_string(), |(p, u, _)| format!("uid {u}, pid {p}"))
    };
    let mut conn = Conn::new(stream, Level::Info as u8);
    // A kept connection is ready: its next request, or its end.
    if !fresh && conn.peer_closed() {
        return (Served::Closed, None);
    }
    // A new connection: this process took it (on a kept one, the Apache
    // child knows who is at the other end).
    if fresh && conn.send(&Frame::Hello { pid: pid() }).is_err() {
        return (Served::Ran, None);
    }
    // A request refused before anything of it ran: logged here, a 500 to
    // the Apache child, and the connection is not kept.
    let refuse = |conn: &mut Conn, level: Level, why: String| {
        log::process(
            level,
            &format!("mod_wsgi (pid={}): Daemon process '{}'{why}", pid(), g.name),
        );
        let _ = conn.send(&Frame::Status(HttpStatus::INTERNAL_SERVER_ERROR.code()));
        (Served::Ran, None)
    };
    let sealed = match conn.read_frame() {
        Ok(Frame::Request(s)) => s,
        Ok(other) => {
            log::process(
                Level::Error,
                &format!(
                    "mod_wsgi (pid={}): Daemon process '{}': expected a request, got a frame of another kind ({}) from {}",
                    pid(),
                    g.name,
                    other.kind_name(),
                    peer()
                ),
            );
            return (Served::Ran, None);
        }
        Err(e) => {
            let why = format!(": cannot read the request from {}: {e}", peer());
            return refuse(&mut conn, Level::Error, why);
        }
    };
    // Nothing of the request is looked at before this check.
    let head = match sealed.open(st.secrets.get(sealed.generation)) {
        Ok(h) => h,
        Err(e) => {
            let why = format!(
                " refused a request from {}: {e}. Nothing of it was run.",
                peer()
            );
            return refuse(&mut conn, Level::Alert, why);
        }
    };
    if head.group != g.name {
        let why = format!(
            " received a request meant for group '{}'; refused.",
            head.group
        );
        return refuse(&mut conn, Level::Alert, why);
    }
    let unnoticed = head.ignore_activity;
    let mut spec = head.spec;
    // The Apache child holds the body until this process says whether the
    // request runs here (mod_wsgi's "200 Continue" handshake).
    if head.continue_wanted {
        conn.expect_continue();
    }
    conn.log_level_set(head.log_level);
    // A request this process will not run: why, in the request's own log
    // (the Apache child logs it against the request), and its status.
    let decline = |conn: &mut Conn, why: String, status: HttpStatus| {
        let _ = conn.send(&Frame::Log {
            level: Level::Error as u8,
            message: format!("mod_wsgi (pid={}): {why}", pid()),
        });
        let _ = conn.send(&Frame::Status(status.code()));
        (Served::Ran, None)
    };
    if let Some(root) = &g.chroot
        && let Err(msg) = jail::rewrite_request(root, &mut spec)
    {
        return decline(
            &mut conn,
            msg.to_string(),
            HttpStatus::INTERNAL_SERVER_ERROR,
        );
    }
    spec.module_name = python::script::module_name(&spec.script_path, st.case_sensitive);
    // Whether the script changed is this process's own finding: its file's
    // mtime now against the loaded module's, not what the Apache child saw.
    // A changed script restarts the process; it is never reloaded in place.
    match python::script::file_mtime(&spec.script_path) {
        Some(mtime) => {
            spec.script_mtime = mtime;
            spec.restart_on_change = spec.reloading;
        }
        // Gone or unreadable: the module loaded (if any) keeps serving.
        None => spec.restart_on_change = false,
    }
    spec.reloading = false;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    if queue_expired(g.queue_timeout, spec.request_start, now) {
        let why = format!(
            "Queue timeout expired for WSGI daemon process '{}'.",
            g.name
        );
        return decline(&mut conn, why, HttpStatus::GATEWAY_TIMEOUT);
    }
    spec.daemon_start = now;
    spec.process_group = g.name.clone();
    spec.multithread = g.threads > 1;
    spec.multiprocess = g.multiprocess;
    {
        let mut first = st.first_request.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert_with(Instant::now);
    }
    let text = |k: &str| String::from_utf8_lossy(spec.cgi.get(k).unwrap_or_default()).into_owned();
    let what = format!(
        "{} {} ({})",
        text("REQUEST_METHOD"),
        text("REQUEST_URI"),
        spec.script_path
    );
    let shared = Arc::new(Mutex::new(conn));
    let conn = &shared;
    let number = st.next_request.fetch_add(1, Ordering::Relaxed);
    set_running(
        st,
        thread,
        Some(Running {
            number,
            started: Instant::now(),
            what,
            thread_id: process::thread_id(),
            interpreter: None,
            conn: conn.clone(),
            socket,
            interrupted: None,
            given_up: false,
        }),
    );
    let outcome = python::serve_in(&spec, Box::new(SocketTransport::new(conn.clone())), |id| {
        let mut running = st.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(Some(r)) = running.get_mut(thread) {
            r.interpreter = Some(id);
        }
    });
    // Cleared before the connection is dropped (see `Running::socket`).
    set_running(st, thread, None);
    let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
    let status = match outcome {
        Outcome::Sent => {
            st.app_loaded.store(true, Ordering::Release);
            None
        }
        Outcome::Status(code) => {
            if code != HttpStatus::INTERNAL_SERVER_ERROR {
                st.app_loaded.store(true, Ordering::Release);
            }
            Some(code)
        }
        Outcome::ScriptChanged => {
            restart_for_changed_script(st, &spec.script_path);
            // Nothing ran and the body was not sent: the Apache child sends
            // the request again, to a process that is accepting.
            let _ = conn.send(&Frame::SendAgain);
            return (Served::SentBack, None);
        }
    };
    conn.complete(status);
    drop(conn);
    // The adapter's and the timeout thread's handles are gone by now.
    let kept = Arc::try_unwrap(shared)
        .ok()
        .and_then(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .into_reusable()
        })
        .map(|stream| Connection::from_parts(stream, token));
    let served = if unnoticed {
        Served::RanUnnoticed
    } else {
        Served::Ran
    };
    (served, kept)
}

fn set_running(st: &State, thread: usize, v: Option<Running>) {
    if let Some(slot) = st
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_mut(thread)
    {
        *slot = v;
    }
}

/// queue-timeout= (seconds; 0: off): whether a request the Apache child
/// began at `request_start` waited too long for a daemon thread, at `now`
/// (both seconds since the epoch).
fn queue_expired(queue_timeout: u64, request_start: f64, now: f64) -> bool {
    queue_timeout > 0 && now - request_start > queue_timeout as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_timeout_counts_from_the_apache_childs_start() {
        assert!(!queue_expired(0, 0.0, 1e9));
        assert!(!queue_expired(5, 100.0, 105.0));
        assert!(queue_expired(5, 100.0, 105.5));
    }
}
