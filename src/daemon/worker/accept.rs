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
use crate::os::{descriptors, process, sockets};
use crate::python::{self, Outcome};

use super::{Running, State, pid};

fn now_secs(st: &State) -> u64 {
    st.born.elapsed().as_secs()
}

pub(super) fn accept_loop(st: &State, thread: usize) {
    // A request thread from the start (process_metrics() counts it), as
    // in mod_wsgi.
    python::metrics::thread_id();
    let listener = st.rt.listener;
    while st.accepting.load(Ordering::Acquire) {
        let leader = st.accept_lock.lock().unwrap_or_else(|e| e.into_inner());
        if !st.accepting.load(Ordering::Acquire) {
            break;
        }
        let ready =
            match descriptors::poll(&[(listener, libc::POLLIN), (st.wake, libc::POLLIN)], None) {
                Ok(r) => r,
                Err(e) => {
                    log::process(
                        Level::Error,
                        &format!("mod_wsgi (pid={}): poll: {e}", pid()),
                    );
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
        if ready[1] != 0 || !st.accepting.load(Ordering::Acquire) {
            break;
        }
        if ready[0] == 0 {
            continue;
        }
        let accepted = sockets::accept(listener);
        // The next idle thread waits while this one serves.
        drop(leader);
        match accepted {
            Ok(Some(stream)) => {
                // Counted before `accepting` is read again, and shut_down
                // clears `accepting` before it reads the count (both
                // SeqCst): either this request is waited for, or it is
                // refused here, before Python could be shutting down.
                st.active.fetch_add(1, Ordering::SeqCst);
                if !st.accepting.load(Ordering::SeqCst) {
                    // Closed without a hello: the Apache child sends the
                    // request again, to a process that is accepting.
                    drop(stream);
                    st.active.fetch_sub(1, Ordering::SeqCst);
                    break;
                }
                st.last_activity.store(now_secs(st), Ordering::Release);
                serve(st, thread, stream);
                let served = st.served.fetch_add(1, Ordering::AcqRel) + 1;
                let max = st.rt.group.maximum_requests;
                if max > 0 && served >= max {
                    // Stop taking requests now; the main thread recycles.
                    st.accepting.store(false, Ordering::Release);
                    descriptors::write_byte(st.wake_w);
                }
                st.last_activity.store(now_secs(st), Ordering::Release);
                st.active.fetch_sub(1, Ordering::SeqCst);
            }
            Ok(None) => {}
            Err(e) => {
                log::process(
                    Level::Error,
                    &format!("mod_wsgi (pid={}): accept: {e}", pid()),
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
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

fn serve(st: &State, thread: usize, stream: UnixStream) {
    let g = &st.rt.group;
    if !peer_allowed(st, &stream) {
        return;
    }
    let _ = stream.set_read_timeout(Some(st.rt.socket_timeout));
    let _ = stream.set_write_timeout(Some(st.rt.socket_timeout));
    let peer = sockets::peer_credentials(stream.as_raw_fd())
        .map_or_else(|_| "?".to_string(), |(p, u, _)| format!("uid {u}, pid {p}"));
    let mut conn = Conn::new(stream, Level::Info as u8);
    if conn.send(&Frame::Hello { pid: pid() }).is_err() {
        return;
    }
    let sealed = match conn.read_frame() {
        Ok(Frame::Request(s)) => s,
        Ok(other) => {
            log::process(
                Level::Error,
                &format!(
                    "mod_wsgi (pid={}): Daemon process '{}': expected a request, got a frame of another kind ({}) from {peer}",
                    pid(),
                    g.name,
                    other.kind_name()
                ),
            );
            return;
        }
        Err(e) => {
            log::process(
                Level::Error,
                &format!(
                    "mod_wsgi (pid={}): Daemon process '{}': cannot read the request from {peer}: {e}",
                    pid(),
                    g.name
                ),
            );
            let _ = conn.send(&Frame::Status(500));
            return;
        }
    };
    // Nothing of the request is looked at before this check.
    let head = match sealed.open(st.secrets.get(sealed.generation)) {
        Ok(h) => h,
        Err(e) => {
            log::process(
                Level::Alert,
                &format!(
                    "mod_wsgi (pid={}): Daemon process '{}' refused a request from {peer}: {e}. Nothing of it was run.",
                    pid(),
                    g.name
                ),
            );
            let _ = conn.send(&Frame::Status(500));
            return;
        }
    };
    if head.group != g.name {
        log::process(
            Level::Alert,
            &format!(
                "mod_wsgi (pid={}): Daemon process '{}' received a request meant for group '{}'; refused.",
                pid(),
                g.name,
                head.group
            ),
        );
        let _ = conn.send(&Frame::Status(500));
        return;
    }
    let mut spec = head.spec;
    if let Some(root) = &g.chroot
        && let Err(msg) = jail::rewrite_request(root, &mut spec)
    {
        conn.log_level_set(head.log_level);
        let _ = conn.send(&Frame::Log {
            level: Level::Error as u8,
            message: format!("mod_wsgi (pid={}): {msg}", pid()),
        });
        let _ = conn.send(&Frame::Status(500));
        return;
    }
    spec.module_name = python::script::module_name(&spec.script_path, st.case_sensitive);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    if queue_expired(g.queue_timeout, spec.request_start, now) {
        conn.log_level_set(head.log_level);
        let _ = conn.send(&Frame::Log {
            level: Level::Error as u8,
            message: format!(
                "mod_wsgi (pid={}): Queue timeout expired for WSGI daemon process '{}'.",
                pid(),
                g.name
            ),
        });
        let _ = conn.send(&Frame::Status(504));
        return;
    }
    conn.log_level_set(head.log_level);
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
    set_running(
        st,
        thread,
        Some(Running {
            started: Instant::now(),
            what,
            thread_id: process::thread_id(),
        }),
    );
    let conn = Arc::new(Mutex::new(conn));
    let outcome = python::serve(&spec, Box::new(SocketTransport::new(conn.clone())));
    set_running(st, thread, None);
    let status = match outcome {
        Outcome::Sent => {
            st.app_loaded.store(true, Ordering::Release);
            None
        }
        Outcome::Status(code) => {
            if code != 500 {
                st.app_loaded.store(true, Ordering::Release);
            }
            Some(code)
        }
    };
    conn.lock()
        .unwrap_or_else(|e| e.into_inner())
        .complete(status);
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
