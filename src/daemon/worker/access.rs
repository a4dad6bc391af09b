//! Whom a daemon process runs as, set up in mod_wsgi's order
//! (`wsgi_setup_access`): the user and groups looked up while the host's
//! databases are still visible, then chroot=, then the group, supplementary
//! groups and user (verified with the kernel), the working directory, and
//! core dumps.

use crate::apache::log::{self, Level};
use crate::apache::unixd;
use crate::config::daemon::Ident;
use crate::daemon::groups::GroupRuntime;
use crate::os::{credentials, process, users};

use super::{fail, pid};

/// Whom a daemon started as root becomes: looked up before any chroot
/// (inside, the user and group databases may be different or missing).
struct Identity {
    uid: u32,
    gid: u32,
    name: String,
    home: String,
    /// Supplementary groups: supplementary-groups=, else the user's.
    groups: Vec<u32>,
    /// The user is not Apache's User (its home becomes the working directory).
    other_than_apache: bool,
}

fn identity(rt: &GroupRuntime) -> Identity {
    let g = &rt.group;
    let (apache_uid, apache_gid, apache_user) =
        (unixd::user_id(), unixd::group_id(), unixd::user_name());
    let user = match &g.user {
        None => users::user_by_uid(apache_uid).unwrap_or(users::User {
            uid: apache_uid,
            gid: apache_gid,
            name: apache_user,
            home: String::new(),
        }),
        Some(Ident::Name(n)) => users::user_by_name(n)
            .unwrap_or_else(|| fail(rt, &format!("user '{n}' does not exist (user= option)"))),
        Some(Ident::Id(u)) => users::user_by_uid(*u).unwrap_or(users::User {
            uid: *u,
            gid: apache_gid,
            name: format!("#{u}"),
            home: String::new(),
        }),
    };
    if user.uid == 0 {
        fail(rt, "refusing to run a daemon process as root");
    }
    let gid = match &g.group {
        None if g.user.is_some() => user.gid,
        None => apache_gid,
        Some(Ident::Id(id)) => *id,
        Some(Ident::Name(n)) => users::group_by_name(n)
            .unwrap_or_else(|| fail(rt, &format!("group '{n}' does not exist (group= option)"))),
    };
    let groups = if g.supplementary_groups.is_empty() {
        // What initgroups(user, gid) would set; just the group for a uid
        // without a user name.
        users::group_list(&user.name, gid).unwrap_or_else(|| vec![gid])
    } else {
        g.supplementary_groups
            .iter()
            .map(|n| {
                users::group_by_name(n).unwrap_or_else(|| {
                    fail(
                        rt,
                        &format!("group '{n}' does not exist (supplementary-groups= option)"),
                    )
                })
            })
            .collect()
    };
    Identity {
        other_than_apache: user.uid != apache_uid,
        uid: user.uid,
        gid,
        name: user.name,
        home: user.home,
        groups,
    }
}

/// chroot=, then group, supplementary groups and user (verified), the
/// working directory, core dumps: mod_wsgi's order (`wsgi_setup_access`).
pub(super) fn setup_access(rt: &GroupRuntime) {
    let g = &rt.group;
    let target = credentials::is_root().then(|| identity(rt));
    if target.is_none()
        && (g.user.is_some() || g.group.is_some() || !g.supplementary_groups.is_empty())
    {
        // As in mod_wsgi: only root can switch users. Said, not silent.
        log::process(
            Level::Warn,
            &format!(
                "mod_wsgi (pid={}): Daemon process '{}': user=, group= and supplementary-groups= have no effect because Apache was not started as root; it runs as uid {}.",
                pid(),
                g.name,
                credentials::euid()
            ),
        );
    }
    if let Some(root) = &g.chroot {
        if target.is_none() {
            fail(
                rt,
                &format!("chroot='{root}' needs Apache to be started as root"),
            );
        }
        if let Err(e) = credentials::chroot(root) {
            fail(
                rt,
                &format!("cannot change the root directory to '{root}' (chroot= option): {e}"),
            );
        }
    }
    if let Some(id) = &target {
        if let Err(e) = credentials::drop_privileges(id.uid, id.gid, &id.groups) {
            fail(
                rt,
                &format!(
                    "cannot switch to user '{}' (uid {}, gid {}): {e}",
                    id.name, id.uid, id.gid
                ),
            );
        }
        verify_privileges(rt, id);
    }
    match &g.home {
        Some(h) => {
            if let Err(e) = process::chdir(h) {
                fail(
                    rt,
                    &format!("cannot change to the home directory '{h}' (home= option): {e}"),
                );
            }
        }
        // The user's home may not exist (nobody's is /nonexistent).
        None => {
            if let Some(id) = &target
                && id.other_than_apache
                && !id.home.is_empty()
                && process::chdir(&id.home).is_err()
            {
                let _ = process::chdir("/");
            }
        }
    }
    if unixd::core_dumps_configured() {
        // As httpd does for its own children after setuid.
        if let Err(e) = process::set_dumpable(true) {
            log::process(
                Level::Warn,
                &format!(
                    "mod_wsgi (pid={}): cannot make the daemon process dumpable (CoreDumpDirectory): {e}",
                    pid()
                ),
            );
        }
    }
}

/// What is wrong with `c` for a process that should run as `uid`, `gid`
/// and exactly `groups`.
fn credential_mismatch(
    c: &credentials::Credentials,
    uid: u32,
    gid: u32,
    groups: &[u32],
) -> Option<String> {
    let mut want = groups.to_vec();
    want.sort_unstable();
    want.dedup();
    if c.uids != [uid; 3] {
        return Some(format!(
            "its real, effective and saved uids are {:?}, not {uid}",
            c.uids
        ));
    }
    if c.gids != [gid; 3] {
        return Some(format!(
            "its real, effective and saved gids are {:?}, not {gid}",
            c.gids
        ));
    }
    if c.groups != want {
        return Some(format!(
            "its supplementary groups are {:?}, not {want:?}",
            c.groups
        ));
    }
    None
}

/// After dropping root: the kernel must report exactly the target ids, and
/// root must be out of reach.
fn verify_privileges(rt: &GroupRuntime, id: &Identity) {
    let creds = credentials::credentials()
        .unwrap_or_else(|e| fail(rt, &format!("cannot read its credentials back: {e}")));
    if let Some(why) = credential_mismatch(&creds, id.uid, id.gid, &id.groups) {
        fail(
            rt,
            &format!(
                "privileges were not dropped to user '{}' as configured: {why}",
                id.name
            ),
        );
    }
    if credentials::can_become_root() {
        fail(
            rt,
            &format!(
                "after switching to user '{}' it could still become root again",
                id.name
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_must_match_exactly() {
        let c = |u: [u32; 3], g: [u32; 3], groups: &[u32]| credentials::Credentials {
            uids: u,
            gids: g,
            groups: groups.to_vec(),
        };
        let ok = c([65534; 3], [65534; 3], &[65534]);
        assert_eq!(
            credential_mismatch(&ok, 65534, 65534, &[65534, 65534]),
            None
        );
        let saved_root = c([65534, 65534, 0], [65534; 3], &[65534]);
        assert!(
            credential_mismatch(&saved_root, 65534, 65534, &[65534])
                .unwrap()
                .contains("uids are [65534, 65534, 0]")
        );
        let gid = c([65534; 3], [0, 65534, 65534], &[65534]);
        assert!(
            credential_mismatch(&gid, 65534, 65534, &[65534])
                .unwrap()
                .contains("gids")
        );
        let extra = c([65534; 3], [65534; 3], &[0, 65534]);
        assert!(
            credential_mismatch(&extra, 65534, 65534, &[65534])
                .unwrap()
                .contains("supplementary groups are [0, 65534]")
        );
    }
}
