//! Private test directories every Apache user can read.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

/// A private directory every Apache user can read (apps and config live
/// here), removed when dropped unless KEEP_TEST_DIRS is set.
pub struct TestDir(pub PathBuf);

impl TestDir {
    pub fn new(tag: &str) -> TestDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "mwr-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        TestDir(path)
    }

    /// Writes a file (mode 644; parents 755) and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        self.write_bytes(name, contents.as_bytes())
    }

    pub fn write_bytes(&self, name: &str, contents: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
            let mut d = parent.to_path_buf();
            while d.starts_with(&self.0) {
                let _ = fs::set_permissions(&d, fs::Permissions::from_mode(0o755));
                if !d.pop() {
                    break;
                }
            }
        }
        // Written aside and renamed into place, as deployments replace files:
        // a request never reads a half-written script.
        let tmp = p.with_extension("tmp-write");
        fs::write(&tmp, contents).unwrap();
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644)).unwrap();
        fs::rename(&tmp, &p).unwrap();
        p
    }

    /// Creates the directory `name`, writable by the Apache user.
    pub fn writable_dir(&self, name: &str) -> PathBuf {
        let p = self.0.join(name);
        fs::create_dir_all(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o777)).unwrap();
        p
    }

    pub fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }

    /// The names of the entries of the subdirectory `name`.
    pub fn list(&self, name: &str) -> Vec<String> {
        fs::read_dir(self.0.join(name))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_TEST_DIRS").is_none() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// Sets the modification time of `path` to `secs_ago` seconds ago (script
/// reloading compares modification times).
pub fn set_mtime(path: &Path, secs_ago: u64) {
    let t = SystemTime::now() - Duration::from_secs(secs_ago);
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_modified(t).unwrap();
}
