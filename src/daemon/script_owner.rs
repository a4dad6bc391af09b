//! `script-user=` / `script-group=`: checked in the Apache child before a
//! request is sent to the daemon, as mod_wsgi does (`wsgi_remote.c`): the
//! WSGI script file and the directory holding it must belong to that user
//! (or group) and must not be writable by others — for script-user not by
//! their group either — else 403 with mod_wsgi's log message. Owners are
//! compared by id (mod_wsgi compares the names of those ids).

use super::error::Refused;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::os::users;

/// Whom a group's scripts must belong to (resolved at server start).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ScriptOwner {
    User(u32),
    Group(u32),
}

/// Owner and permission bits of a file or directory.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Facts {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

const GROUP_WRITE: u32 = 0o020;
const WORLD_WRITE: u32 = 0o002;

/// mod_wsgi's checks in its order; `Some(message)` refuses the request.
/// `name` gives the name of a uid (`User`) or gid (`Group`) for messages.
pub(crate) fn refusal(
    owner: &ScriptOwner,
    file: Facts,
    dir: Option<Facts>,
    dir_path: &str,
    name: impl Fn(u32) -> String,
) -> Option<String> {
    let stat_failed = || format!("Unable to stat parent directory '{dir_path}' of WSGI script.");
    match *owner {
        ScriptOwner::Group(gid) => {
            if file.gid != gid {
                return Some(format!(
                    "WSGI script file group '{}' does not match group required for daemon process.",
                    name(file.gid)
                ));
            }
            if file.mode & WORLD_WRITE != 0 {
                return Some("WSGI script file is writable to world.".into());
            }
            let Some(dir) = dir else {
                return Some(stat_failed());
            };
            if dir.gid != gid {
                return Some(format!(
                    "Parent directory of WSGI script file has group '{}' which does not match group required for daemon process.",
                    name(dir.gid)
                ));
            }
            if dir.mode & WORLD_WRITE != 0 {
                return Some("Parent directory of WSGI script file is writable to world.".into());
            }
        }
        ScriptOwner::User(uid) => {
            if file.uid != uid {
                return Some(format!(
                    "WSGI script file owner '{}' does not match user required for daemon process.",
                    name(file.uid)
                ));
            }
            if file.mode & GROUP_WRITE != 0 {
                return Some("WSGI script file is writable to group.".into());
            }
            if file.mode & WORLD_WRITE != 0 {
                return Some("WSGI script file is writable to world.".into());
            }
            let Some(dir) = dir else {
                return Some(stat_failed());
            };
            if dir.uid != uid {
                return Some(format!(
                    "Parent directory of WSGI script file has owner '{}' which does not match user required for daemon process.",
                    name(dir.uid)
                ));
            }
            if dir.mode & WORLD_WRITE != 0 {
                return Some("Parent directory of WSGI script file is writable to world.".into());
            }
            if dir.mode & GROUP_WRITE != 0 {
                return Some("Parent directory of WSGI script file is writable to group.".into());
            }
        }
    }
    None
}

fn facts(path: &Path) -> Option<Facts> {
    let m = std::fs::metadata(path).ok()?;
    Some(Facts {
        uid: m.uid(),
        gid: m.gid(),
        mode: m.mode(),
    })
}

/// Checks `script` against the group's requirement; `Err` is the message
/// to log with the 403.
pub(crate) fn check(owner: &ScriptOwner, script: &str) -> Result<(), Refused> {
    let path = Path::new(script);
    // The handler found the file a moment ago; gone since: refused too.
    let Some(file) = facts(path) else {
        return Err(Refused(format!(
            "Unable to stat WSGI script file '{script}'."
        )));
    };
    let dir_path = path.parent().unwrap_or(Path::new("/"));
    let dir = facts(dir_path);
    let name = |id: u32| match owner {
        ScriptOwner::User(_) => users::name_or_id(id),
        ScriptOwner::Group(_) => users::group_name_or_id(id),
    };
    match refusal(owner, file, dir, &format!("{}/", dir_path.display()), name) {
        Some(msg) => Err(Refused(msg)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(uid: u32, gid: u32, mode: u32) -> Facts {
        Facts { uid, gid, mode }
    }

    fn names(id: u32) -> String {
        format!("n{id}")
    }

    // mod_wsgi's messages, word for word.
    const FILE_GROUP_WRITABLE: &str = "WSGI script file is writable to group.";
    const FILE_WORLD_WRITABLE: &str = "WSGI script file is writable to world.";
    const DIR_GROUP_WRITABLE: &str = "Parent directory of WSGI script file is writable to group.";
    const DIR_WORLD_WRITABLE: &str = "Parent directory of WSGI script file is writable to world.";

    fn not_the_file(what: &str, name: &str) -> String {
        format!(
            "WSGI script file {what} '{name}' does not match {} required for daemon process.",
            kind(what)
        )
    }

    fn not_the_dir(what: &str, name: &str) -> String {
        format!(
            "Parent directory of WSGI script file has {what} '{name}' which does not match {} required for daemon process.",
            kind(what)
        )
    }

    fn kind(what: &str) -> &str {
        if what == "owner" { "user" } else { "group" }
    }

    /// Each case: the script file's and its directory's facts, and the
    /// refusal expected (`None`: allowed).
    fn check(owner: ScriptOwner, cases: &[(Facts, Facts, Option<String>)]) {
        for (i, (file, dir, want)) in cases.iter().enumerate() {
            let got = refusal(&owner, *file, Some(*dir), "/d/", names);
            assert_eq!(got.as_deref(), want.as_deref(), "case {i}");
        }
    }

    #[test]
    fn script_user() {
        let no = |m: &str| Some(m.to_string());
        check(
            ScriptOwner::User(10),
            &[
                (f(10, 5, 0o644), f(10, 5, 0o755), None),
                (
                    f(11, 5, 0o644),
                    f(10, 5, 0o755),
                    Some(not_the_file("owner", "n11")),
                ),
                (f(10, 5, 0o664), f(10, 5, 0o755), no(FILE_GROUP_WRITABLE)),
                (f(10, 5, 0o646), f(10, 5, 0o755), no(FILE_WORLD_WRITABLE)),
                (
                    f(10, 5, 0o644),
                    f(12, 5, 0o755),
                    Some(not_the_dir("owner", "n12")),
                ),
                (f(10, 5, 0o644), f(10, 5, 0o757), no(DIR_WORLD_WRITABLE)),
                (f(10, 5, 0o644), f(10, 5, 0o775), no(DIR_GROUP_WRITABLE)),
            ],
        );
        assert_eq!(
            refusal(&ScriptOwner::User(10), f(10, 5, 0o644), None, "/d/", names).as_deref(),
            Some("Unable to stat parent directory '/d/' of WSGI script.")
        );
    }

    #[test]
    fn script_group() {
        // Group-writable is fine for script-group; any owner.
        let no = |m: &str| Some(m.to_string());
        check(
            ScriptOwner::Group(5),
            &[
                (f(1, 5, 0o664), f(2, 5, 0o775), None),
                (
                    f(1, 6, 0o644),
                    f(2, 5, 0o755),
                    Some(not_the_file("group", "n6")),
                ),
                (f(1, 5, 0o666), f(2, 5, 0o755), no(FILE_WORLD_WRITABLE)),
                (
                    f(1, 5, 0o644),
                    f(2, 7, 0o755),
                    Some(not_the_dir("group", "n7")),
                ),
                (f(1, 5, 0o644), f(2, 5, 0o1777), no(DIR_WORLD_WRITABLE)),
            ],
        );
    }
}
