//! Each daemon group's listening UNIX socket, across restarts. Its path is
//! WSGISocketPrefix, the Apache parent's pid and the group's name; a socket
//! an earlier generation left open is kept while the group still asks for
//! it as it is (and it is still the same listening socket on the same
//! file), so connections waiting in its backlog and Apache children of the
//! old generation are not cut off; the others are closed and their files
//! removed, and the missing ones made. An Apache child closes them all.

use super::error::StartError;
use crate::apache::log::{self, Level};
use crate::apache::pool::Pool;
use crate::apache::unixd;
use crate::config::daemon::{DaemonGroup, Ident};
use crate::config::settings::GlobalSettings;
use crate::os::{credentials, descriptors, sockets, users};

use super::groups::groups;
use super::stash::SocketRecord;

/// The socket a group asks for.
pub(super) struct Want {
    group: String,
    path: String,
    backlog: u32,
    /// chown'ed to this uid/gid (when Apache runs as root).
    owner: Option<(u32, u32)>,
    send_buffer: u32,
    receive_buffer: u32,
}

impl Want {
    /// The socket of `group`, the `index`th group of the configuration,
    /// under `prefix`. `Err` when its socket-user does not exist.
    pub(super) fn new(prefix: &str, index: usize, group: &DaemonGroup) -> Result<Want, StartError> {
        Ok(Want {
            group: group.name.clone(),
            path: socket_path(prefix, std::process::id(), &group.name, index),
            backlog: group.listen_backlog,
            owner: socket_owner(group)?,
            send_buffer: group.send_buffer_size,
            receive_buffer: group.receive_buffer_size,
        })
    }
}

/// WSGISocketPrefix (relative to ServerRoot), else `wsgi` in httpd's
/// runtime directory.
pub(super) fn prefix(pool: Pool, g: &GlobalSettings) -> String {
    match &g.socket_prefix {
        Some(p) if p.starts_with('/') => p.clone(),
        Some(p) => pool.server_root_relative(p),
        None => pool.runtime_dir_relative(c"wsgi"),
    }
}

/// `<prefix>.<parent pid>.<group>.sock`.
fn socket_path(prefix: &str, parent: u32, name: &str, index: usize) -> String {
    format!("{prefix}.{parent}.{}.sock", path_name(name, index))
}

/// A file-name-safe form of the group name for the socket path.
fn path_name(name: &str, index: usize) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    if clean == name {
        clean
    } else {
        format!("{clean}-{index}")
    }
}

/// The socket file's owner when Apache runs as root: socket-user= (else
/// Apache's User), and Apache's Group.
fn socket_owner(group: &DaemonGroup) -> Result<Option<(u32, u32)>, StartError> {
    if !credentials::is_root() {
        return Ok(None);
    }
    let (uid, gid) = (unixd::user_id(), unixd::group_id());
    let uid = match &group.socket_user {
        None => uid,
        Some(Ident::Id(u)) => *u,
        Some(Ident::Name(n)) => {
            users::user_by_name(n)
                .ok_or_else(|| StartError::NoSuchIdentity {
                    group: group.name.clone(),
                    option: "socket-user",
                    who: n.clone(),
                })?
                .uid
        }
    };
    Ok(Some((uid, gid)))
}

/// Takes out of `old` the socket `want` can keep: made for the same path,
/// owner and buffer sizes (the backlog can be changed in place), and
/// `usable` (still a listener on the same file).
fn take_kept(
    old: &mut Vec<SocketRecord>,
    want: &Want,
    usable: impl Fn(&SocketRecord) -> bool,
) -> Option<SocketRecord> {
    let i = old.iter().position(|r| {
        r.same_socket(
            &want.path,
            want.owner,
            want.send_buffer,
            want.receive_buffer,
        ) && usable(r)
    })?;
    Some(old.remove(i))
}

/// Whether the socket of `r` is still the listener on the file it was made
/// with (a file removed or replaced behind our back means a new socket).
fn still_listening(r: &SocketRecord) -> bool {
    sockets::is_listener_on(r.fd, &r.path) && sockets::socket_file_id(&r.path) == Some(r.file)
}

/// Closes the socket of `r` and removes its file, if that is still its own.
pub(super) fn close_and_remove(r: &SocketRecord) {
    descriptors::close(r.fd);
    if sockets::socket_file_id(&r.path) == Some(r.file) {
        let _ = std::fs::remove_file(&r.path);
    }
}

/// Each want's socket, in order: the one in `old` it can keep, otherwise a
/// new one (whose file `process_pool`'s cleanup removes). The sockets of
/// `old` no want keeps are closed and removed first. After a failure no
/// more sockets are made: its entry and the following new ones are `None`,
/// and the error is returned beside them.
pub(super) fn open(
    process_pool: Pool,
    mut old: Vec<SocketRecord>,
    wants: &[Want],
) -> (Vec<Option<SocketRecord>>, Option<StartError>) {
    let kept: Vec<Option<SocketRecord>> = wants
        .iter()
        .map(|w| take_kept(&mut old, w, still_listening))
        .collect();
    // Closed (and removed) before a changed group binds its path again.
    for r in old {
        close_and_remove(&r);
        log::process(
            Level::Info,
            &format!(
                "mod_wsgi (pid={}): Closed the socket '{}' of daemon process group '{}' (the group was removed or its socket settings changed).",
                std::process::id(),
                r.path,
                r.group
            ),
        );
    }
    let mut error = None;
    let records = wants
        .iter()
        .zip(kept)
        .map(|(w, kept)| match kept {
            Some(r) => Some(adjust(r, w)),
            // After a failure, only the sockets already open are recorded
            // (and closed by the cleanup when Apache gives up).
            None if error.is_some() => None,
            None => match make(process_pool, w) {
                Ok(r) => Some(r),
                Err(e) => {
                    error = Some(e);
                    None
                }
            },
        })
        .collect();
    (records, error)
}

/// A kept socket, with the backlog and group name `w` asks for.
fn adjust(mut r: SocketRecord, w: &Want) -> SocketRecord {
    if r.backlog != w.backlog {
        match sockets::relisten(r.fd, w.backlog) {
            Ok(()) => r.backlog = w.backlog,
            Err(e) => log::process(
                Level::Warn,
                &format!(
                    "mod_wsgi (pid={}): cannot change the listen-backlog of '{}': {e}",
                    std::process::id(),
                    r.path
                ),
            ),
        }
    }
    r.group = w.group.clone();
    r
}

/// A new socket for `w`.
fn make(process_pool: Pool, w: &Want) -> Result<SocketRecord, StartError> {
    let fd = sockets::listen(&sockets::ListenSpec {
        path: &w.path,
        backlog: w.backlog,
        owner: w.owner,
        send_buffer: w.send_buffer,
        receive_buffer: w.receive_buffer,
    })
    .map_err(|source| StartError::Socket {
        path: w.path.clone(),
        group: w.group.clone(),
        source,
    })?;
    // Whenever Apache exits, even when this module's own cleanups are gone
    // (a restart whose configuration fails to load ends the process after
    // pconf was cleared). The path has Apache's pid in it, so nothing else
    // can own it. (A normal stop removes the file first; the second unlink
    // finds nothing.)
    process_pool.remove_file_at_cleanup(&w.path);
    Ok(SocketRecord {
        group: w.group.clone(),
        path: w.path.clone(),
        fd,
        backlog: w.backlog,
        owner: w.owner,
        send_buffer: w.send_buffer,
        receive_buffer: w.receive_buffer,
        file: sockets::socket_file_id(&w.path).unwrap_or((0, 0)),
    })
}

/// In each Apache child (child_init): the daemons' listening sockets are not
/// for it.
pub(crate) fn close_listeners_in_child() {
    for g in groups() {
        descriptors::close(g.listener);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(path: &str) -> Want {
        Want {
            group: "g".into(),
            path: path.into(),
            backlog: 100,
            owner: Some((33, 33)),
            send_buffer: 0,
            receive_buffer: 0,
        }
    }

    fn record(path: &str, fd: i32) -> SocketRecord {
        SocketRecord {
            group: "old".into(),
            path: path.into(),
            fd,
            backlog: 50,
            owner: Some((33, 33)),
            send_buffer: 0,
            receive_buffer: 0,
            file: (1, 2),
        }
    }

    #[test]
    fn socket_paths_name_the_parent_and_the_group() {
        assert_eq!(
            socket_path("/run/wsgi", 123, "site-1_a", 0),
            "/run/wsgi.123.site-1_a.sock"
        );
        // Another name cleaned to the same text gets its index.
        assert_eq!(
            socket_path("/run/wsgi", 123, "a.b/c", 4),
            "/run/wsgi.123.a_b_c-4.sock"
        );
        assert_eq!(
            path_name(&"x".repeat(40), 2),
            format!("{}-2", "x".repeat(32))
        );
    }

    #[test]
    fn a_socket_is_kept_only_as_it_was_made() {
        let mut old = vec![record("/a.sock", 5), record("/b.sock", 6)];
        // The backlog differs: kept all the same (changed in place).
        let kept = take_kept(&mut old, &want("/b.sock"), |_| true).unwrap();
        assert_eq!(kept.fd, 6);
        assert_eq!(old.len(), 1);
        assert!(take_kept(&mut old, &want("/b.sock"), |_| true).is_none());

        let mut other_owner = want("/a.sock");
        other_owner.owner = Some((1000, 33));
        assert!(take_kept(&mut old, &other_owner, |_| true).is_none());
        let mut other_buffer = want("/a.sock");
        other_buffer.send_buffer = 65536;
        assert!(take_kept(&mut old, &other_buffer, |_| true).is_none());
        // No longer a listener on its file: made anew.
        assert!(take_kept(&mut old, &want("/a.sock"), |_| false).is_none());
        assert_eq!(old.len(), 1);
    }
}
