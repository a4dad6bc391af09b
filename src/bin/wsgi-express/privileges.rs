//! Who the Apache children and daemon processes run as. Started as root,
//! Apache switches them to `User`/`Group` (www-data unless `--user`);
//! wsgi-express first checks, as that user, that they can read the
//! application, and refuses to
//! start if not: the children never keep root's capabilities to read it
//! anyway, so the fix is the file permissions. Started as anyone else, the
//! children stay that user and nothing is checked.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use mod_wsgi_rs::os as sys;

use crate::app::App;
use crate::warn;

const DEFAULT_USER: &str = "www-data";

/// The user/group Apache's children run as, with their ids.
struct RunAs {
    user: String,
    group: String,
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

/// `(user, group)` for `User`/`Group`: `None` unless started as root, an
/// error if that user cannot read what `app` needs.
pub(super) fn run_as(
    user: Option<&str>,
    group: Option<&str>,
    app: &App,
) -> Result<Option<(String, String)>> {
    if !sys::is_root() {
        if user.is_some() || group.is_some() {
            warn("--user/--group only apply when started as root; ignored");
        }
        return Ok(None);
    }
    let who = lookup_user(user.unwrap_or(DEFAULT_USER), group)?;
    let bad = unusable_as(&who, &needed_access(app));
    if !bad.is_empty() {
        let mut shown: Vec<String> = Vec::new();
        for p in &bad {
            let p = p.display().to_string();
            if !shown.contains(&p) {
                shown.push(p);
            }
        }
        let list = shown.join(", ");
        let fix = format!(
            "put the application (and venv) somewhere '{}' can read, e.g. under /srv or /opt, \
             or pass --user with a user that can read it",
            who.user
        );
        bail!(
            "the Apache children run as '{}', which cannot read: {list}. To fix: {fix}.",
            who.user
        );
    }
    Ok(Some((who.user, who.group)))
}

/// Whether the user the server runs as (when started as root; else this
/// one) can enter `dir`, as the daemon's `home=` needs.
pub(super) fn enterable(user: Option<&str>, group: Option<&str>, dir: &Path) -> bool {
    if !sys::is_root() {
        return true;
    }
    match lookup_user(user.unwrap_or(DEFAULT_USER), group) {
        Ok(who) => unusable_as(&who, &ancestors_needing_search(dir)).is_empty(),
        // The error is reported by `run_as`.
        Err(_) => true,
    }
}

fn lookup_user(user: &str, group: Option<&str>) -> Result<RunAs> {
    let pw = sys::user_by_name(user).with_context(|| format!("no such user '{user}' (--user)"))?;
    let (gid, group) = match group {
        Some(g) => (
            sys::group_by_name(g).with_context(|| format!("no such group '{g}' (--group)"))?,
            g.to_string(),
        ),
        None => (
            pw.gid,
            sys::group_name(pw.gid)
                .with_context(|| format!("the primary group {} of '{user}' has no name", pw.gid))?,
        ),
    };
    // Apache calls initgroups(user, gid): the same supplementary groups.
    let groups = sys::group_list(user, gid)
        .with_context(|| format!("cannot list the groups of '{user}'"))?;
    Ok(RunAs {
        user: user.into(),
        group,
        uid: pw.uid,
        gid,
        groups,
    })
}

/// A path and the access(2) mode the children need on it.
type Need = (PathBuf, libc::c_int);

/// What the children must be able to use to serve `app`, in the order
/// unusable paths are reported: the application's own directory, its
/// script, the other `sys.path` directories, then the Python home.
fn needed_access(app: &App) -> Vec<Need> {
    let mut need = Vec::new();
    let readable_dir = |need: &mut Vec<Need>, dir: &Path| {
        need.extend(ancestors_needing_search(dir));
        need.push((dir.to_path_buf(), libc::R_OK));
    };
    let mut dirs = app.python_path.iter();
    if let Some(own_dir) = dirs.next() {
        readable_dir(&mut need, own_dir);
    }
    if let Some(dir) = app.script.parent() {
        need.extend(ancestors_needing_search(dir));
    }
    need.push((app.script.clone(), libc::R_OK));
    for dir in dirs {
        readable_dir(&mut need, dir);
    }
    if let Some(h) = &app.python_home {
        need.extend(ancestors_needing_search(h));
        need.push((h.join("lib"), libc::R_OK | libc::X_OK));
    }
    need.dedup();
    need
}

/// Which of `paths` (with the access mode each needs) `who` cannot use.
fn unusable_as(who: &RunAs, paths: &[Need]) -> Vec<PathBuf> {
    let asked: Vec<(&Path, libc::c_int)> = paths.iter().map(|(p, m)| (p.as_path(), *m)).collect();
    match sys::accessible_as(who.uid, who.gid, &who.groups, &asked) {
        Some(ok) => paths
            .iter()
            .zip(ok)
            .filter(|(_, ok)| !ok)
            .map(|((p, _), _)| p.clone())
            .collect(),
        None => Vec::new(),
    }
}

/// Every directory from `/` down to `dir` (each needs search permission).
fn ancestors_needing_search(dir: &Path) -> Vec<Need> {
    let mut v: Vec<Need> = dir
        .ancestors()
        .map(|d| (d.to_path_buf(), libc::X_OK))
        .collect();
    v.reverse();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_start_at_the_root() {
        let v = ancestors_needing_search(Path::new("/a/b"));
        let paths: Vec<_> = v.iter().map(|(p, _)| p.display().to_string()).collect();
        assert_eq!(paths, ["/", "/a", "/a/b"]);
    }

    fn app(script: &str, python_path: &[&str], home: Option<&str>) -> App {
        App {
            script: script.into(),
            callable_object: "application".into(),
            description: script.into(),
            python_path: python_path.iter().map(PathBuf::from).collect(),
            python_home: home.map(PathBuf::from),
        }
    }

    fn shown(need: &[Need]) -> Vec<String> {
        need.iter()
            .map(|(p, m)| format!("{} {m}", p.display()))
            .collect()
    }

    #[test]
    fn a_script_needs_its_directory_then_itself_then_the_rest() {
        let (r, x) = (libc::R_OK, libc::X_OK);
        let need = needed_access(&app("/srv/a.wsgi", &["/srv", "/lib/x"], Some("/venv")));
        assert_eq!(
            shown(&need),
            [
                format!("/ {x}"),
                format!("/srv {x}"),
                format!("/srv {r}"),
                format!("/ {x}"),
                format!("/srv {x}"),
                format!("/srv/a.wsgi {r}"),
                format!("/ {x}"),
                format!("/lib {x}"),
                format!("/lib/x {x}"),
                format!("/lib/x {r}"),
                format!("/ {x}"),
                format!("/venv {x}"),
                format!("/venv/lib {}", r | x),
            ]
        );
    }

    #[test]
    fn a_module_needs_the_current_directory_then_the_handler() {
        let (r, x) = (libc::R_OK, libc::X_OK);
        let need = needed_access(&app("/tmp/root/handler.wsgi", &["/home/p"], None));
        assert_eq!(
            shown(&need),
            [
                format!("/ {x}"),
                format!("/home {x}"),
                format!("/home/p {x}"),
                format!("/home/p {r}"),
                format!("/ {x}"),
                format!("/tmp {x}"),
                format!("/tmp/root {x}"),
                format!("/tmp/root/handler.wsgi {r}"),
            ]
        );
    }
}
