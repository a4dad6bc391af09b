//! The daemon groups of this configuration generation: where each is
//! defined (collected from every server's configuration), what the Apache
//! parent resolved for it at start (its socket, who may connect, the script
//! owner, the scripts to preload), and the table of them that Apache
//! children and daemons inherit with the fork.

use std::os::fd::RawFd;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::apache::module::server_config;
use crate::apache::server::Server;
use crate::apache::unixd;
use crate::config::daemon::{DaemonGroup, Ident};
use crate::config::settings::{ImportScript, ServerConfig};
use crate::os::{credentials, users};

use super::error::StartError;
use super::script_owner::ScriptOwner;
use super::stash::SocketRecord;

/// One daemon group as this generation of the server runs it.
pub(crate) struct GroupRuntime {
    pub group: DaemonGroup,
    pub socket_path: String,
    pub listener: RawFd,
    /// The server_rec (address) that defined the group: the main server's
    /// groups are usable everywhere, a virtual host's only by virtual hosts
    /// with the same ServerName.
    pub server: usize,
    pub server_hostname: String,
    pub main_server: bool,
    /// Scripts to load at daemon start (WSGIImportScript and preloading
    /// aliases naming this group), with their application group.
    pub preloads: Vec<(ImportScript, String)>,
    /// The effective socket timeout (socket-timeout, else Apache's Timeout).
    pub socket_timeout: Duration,
    /// Who may connect to the socket (SO_PEERCRED): root, the Apache User
    /// (or this process's user when Apache does not run as root) and the
    /// socket-user.
    pub peer_uids: Vec<u32>,
    /// script-user= / script-group=, resolved (checked in Apache children).
    pub(crate) script_owner: Option<ScriptOwner>,
}

impl GroupRuntime {
    /// The group `def` as it runs on the socket of `record`.
    pub(super) fn new(
        def: Defined,
        record: &SocketRecord,
        script_owner: Option<ScriptOwner>,
        preloads: Vec<(ImportScript, String)>,
        apache_timeout: Duration,
    ) -> GroupRuntime {
        let apache_user = credentials::is_root().then(unixd::user_id);
        GroupRuntime {
            peer_uids: peer_uids(credentials::euid(), record.owner, apache_user),
            script_owner,
            preloads,
            listener: record.fd,
            socket_path: record.path.clone(),
            socket_timeout: socket_timeout(def.group.socket_timeout, apache_timeout),
            group: def.group,
            server: def.server,
            server_hostname: def.host,
            main_server: def.is_main,
        }
    }
}

/// socket-timeout= (seconds), else Apache's Timeout, at least a second.
fn socket_timeout(configured: u64, apache_timeout: Duration) -> Duration {
    if configured > 0 {
        Duration::from_micros(configured * 1_000_000)
    } else {
        apache_timeout.max(Duration::from_secs(1))
    }
}

/// Who may connect: root, this process's user, the socket's owner, and
/// Apache's User when Apache runs as root.
fn peer_uids(euid: u32, owner: Option<(u32, u32)>, apache_user: Option<u32>) -> Vec<u32> {
    let mut uids = vec![0, euid];
    uids.extend(owner.map(|(uid, _)| uid));
    uids.extend(apache_user);
    uids.sort_unstable();
    uids.dedup();
    uids
}

static GROUPS: RwLock<Vec<Arc<GroupRuntime>>> = RwLock::new(Vec::new());

/// The groups of the current generation (inherited by Apache children).
pub(crate) fn groups() -> Vec<Arc<GroupRuntime>> {
    GROUPS.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The group named `name` (an Apache child dispatching a request to it).
pub(crate) fn find(name: &str) -> Option<Arc<GroupRuntime>> {
    GROUPS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|g| g.group.name == name)
        .cloned()
}

/// Makes `runtimes` the table of this generation.
pub(super) fn publish(runtimes: Vec<Arc<GroupRuntime>>) {
    *GROUPS.write().unwrap_or_else(|e| e.into_inner()) = runtimes;
}

/// Where a group is defined.
pub(super) struct Defined {
    pub(super) group: DaemonGroup,
    /// The server_rec's address (see [`GroupRuntime::server`]).
    pub(super) server: usize,
    /// Its ServerName.
    pub(super) host: String,
    /// Whether that is the main server.
    pub(super) is_main: bool,
}

/// All daemon groups of the configuration, in definition order.
pub(super) fn collect(main: Server) -> Vec<Defined> {
    let mut out = Vec::new();
    // A virtual host without any WSGI directive has no configuration of its
    // own: httpd points it at the main server's, whose groups count once.
    let mut seen: Vec<*const ServerConfig> = Vec::new();
    for (i, s) in main.vhosts().enumerate() {
        let Some(cfg) = server_config(s) else {
            continue;
        };
        let ptr: *const ServerConfig = cfg;
        if seen.contains(&ptr) {
            continue;
        }
        seen.push(ptr);
        let host = s.hostname();
        for g in &cfg.daemons {
            out.push(Defined {
                group: g.clone(),
                server: s.as_ptr() as usize,
                host: host.clone(),
                is_main: i == 0,
            });
        }
    }
    out
}

/// WSGIImportScript / preloading aliases for `group`, from every server.
pub(super) fn preloads_for(main: Server, group: &str) -> Vec<(ImportScript, String)> {
    let mut out: Vec<(ImportScript, String)> = Vec::new();
    for s in main.vhosts() {
        let Some(cfg) = server_config(s) else {
            continue;
        };
        for script in cfg.preloads() {
            if script.process_group != group {
                continue;
            }
            let app = match script.application_group.as_str() {
                "%{GLOBAL}" => String::new(),
                g if g.contains("%{") => continue,
                g => g.to_string(),
            };
            if !out.iter().any(|(o, a)| o.path == script.path && *a == app) {
                out.push((script, app));
            }
        }
    }
    out
}

/// script-user= / script-group= as ids (the configuration checked that
/// they exist; one removed since fails the start).
pub(super) fn script_owner(group: &DaemonGroup) -> Result<Option<ScriptOwner>, StartError> {
    let missing = |option: &'static str, who: &Ident| StartError::NoSuchIdentity {
        group: group.name.clone(),
        option,
        who: who.to_string(),
    };
    if let Some(u) = &group.script_user {
        let uid = match u {
            Ident::Id(id) => users::user_by_uid(*id).map(|u| u.uid),
            Ident::Name(n) => users::user_by_name(n).map(|u| u.uid),
        };
        return uid
            .map(|uid| Some(ScriptOwner::User(uid)))
            .ok_or_else(|| missing("script-user", u));
    }
    if let Some(g) = &group.script_group {
        let gid = match g {
            Ident::Id(id) => users::group_name(*id).map(|_| *id),
            Ident::Name(n) => users::group_by_name(n),
        };
        return gid
            .map(|gid| Some(ScriptOwner::Group(gid)))
            .ok_or_else(|| missing("script-group", g));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_timeout_defaults_to_apaches() {
        let apache = Duration::from_secs(300);
        assert_eq!(socket_timeout(5, apache), Duration::from_secs(5));
        assert_eq!(socket_timeout(0, apache), apache);
        assert_eq!(
            socket_timeout(0, Duration::from_millis(10)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn root_and_the_socket_owner_may_connect() {
        assert_eq!(peer_uids(33, None, None), vec![0, 33]);
        assert_eq!(
            peer_uids(0, Some((1000, 1000)), Some(33)),
            vec![0, 33, 1000]
        );
        assert_eq!(peer_uids(0, Some((33, 33)), Some(33)), vec![0, 33]);
    }
}
