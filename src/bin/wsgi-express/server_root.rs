//! The server root: the private directory that holds `httpd.conf`, the pid
//! file and `handler.wsgi`. Its default path (`/tmp/wsgi-express-PORT-UID`)
//! is predictable, so it must be a real directory of ours that nobody else
//! can write, checked with `lstat` after it is made, and nothing in it is
//! ever written through a symbolic link.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use mod_wsgi_rs::os as sys;

use crate::absolute;

/// Makes (or reuses) the server root, `--server-root` or the default for
/// `port`, and its `htdocs`; returns its absolute path.
pub(super) fn prepare(given: Option<&Path>, port: u16) -> Result<PathBuf> {
    let root = given.map_or_else(
        || std::env::temp_dir().join(format!("wsgi-express-{port}-{}", sys::uid())),
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

/// Writes a file of the server root afresh: any old file (or link) is
/// removed first, and the new one is created exclusively, never through a
/// symbolic link.
pub(super) fn write_file(path: &Path, text: &str) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot replace {}", path.display())),
    }
    let cannot_write = || format!("cannot write {}", path.display());
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(cannot_write)?;
    f.write_all(text.as_bytes()).with_context(cannot_write)
}
