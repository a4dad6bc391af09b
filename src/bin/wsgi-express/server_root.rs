//! The server root: the private directory that holds `httpd.conf`,
//! `apachectl`, the pid file, the logs and the daemon sockets. Its default
//! path (`$TMPDIR/mod_wsgi-HOST:PORT:UID`, as mod_wsgi-express) is
//! predictable, so it must be a real directory of ours that nobody else
//! can write, checked with `lstat` after it is made, and nothing in it is
//! ever written through a symbolic link.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use mod_wsgi_rs::os as sys;

use crate::absolute;

/// Makes (or reuses) the server root, `--server-root` or `default_name` in
/// the temporary directory, and its `htdocs`; returns its absolute path.
pub(super) fn prepare(given: Option<&Path>, default_name: &str) -> Result<PathBuf> {
    let root = given.map_or_else(
        || std::env::temp_dir().join(default_name),
        Path::to_path_buf,
    );
    own_directory(&root, "the server root")?;
    let root = absolute(&root)?;
    own_directory(&root.join("htdocs"), "the server root's htdocs")?;
    Ok(root)
}

/// `dir` exists afterwards as a directory (not a symlink) owned by this user,
/// mode 0755: Apache's children only need to enter it.
fn own_directory(dir: &Path, what: &str) -> Result<()> {
    match fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(e).with_context(|| format!("cannot create {what} {}", dir.display()));
        }
    }
    let m = fs::symlink_metadata(dir).with_context(|| format!("{what} {}", dir.display()))?;
    if !m.file_type().is_dir() {
        bail!(
            "{what} {} exists and is not a directory (a symbolic link is not followed); \
             remove it or pass --server-root",
            dir.display()
        );
    }
    if m.uid() != sys::uid() {
        bail!(
            "{what} {} belongs to another user (uid {}); remove it or pass --server-root",
            dir.display(),
            m.uid()
        );
    }
    if m.mode() & 0o022 != 0 {
        // Ours: tighten it rather than trust what others may have put in.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
            .with_context(|| dir.display().to_string())?;
    }
    Ok(())
}

/// Makes `dir` (and its parents) if missing; started as root, gives it to
/// `run_as` (the user that writes there, as mod_wsgi-express does for the
/// Python eggs directory).
pub(super) fn make_dir_for(dir: &Path, run_as: Option<&(String, String)>) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if let Some((user, group)) = run_as {
        let uid = sys::user_by_name(user).map(|u| u.uid);
        let gid = sys::group_by_name(group);
        std::os::unix::fs::chown(dir, uid, gid)
            .with_context(|| format!("cannot give {} to {user}", dir.display()))?;
    }
    Ok(())
}

/// Writes an executable script of the server root afresh (as `write_file`).
pub(super) fn write_script(path: &Path, text: &str) -> Result<()> {
    write_mode(path, text, 0o755)
}

/// Creates a file of the server root that its user may edit (`envvars`):
/// an existing one is kept.
pub(super) fn create_if_missing(path: &Path, text: &str) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => Ok(()),
        _ => write_file(path, text),
    }
}

/// Writes a file of the server root afresh: any old file (or link) is
/// removed first, and the new one is created exclusively, never through a
/// symbolic link.
pub(super) fn write_file(path: &Path, text: &str) -> Result<()> {
    write_mode(path, text, 0o644)
}

fn write_mode(path: &Path, text: &str, mode: u32) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot replace {}", path.display())),
    }
    let cannot_write = || format!("cannot write {}", path.display());
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(cannot_write)?;
    f.write_all(text.as_bytes()).with_context(cannot_write)
}
