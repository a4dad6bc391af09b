//! The secrets that authenticate requests to daemon processes.
//!
//! Only Apache may make a daemon run code: every request an Apache child
//! sends carries an HMAC-SHA256 (`protocol::seal_request`) under a secret
//! of the daemon group, which the daemon checks before anything of the
//! request is used. The Apache parent makes a new random secret for every
//! group at every configuration generation (start and each restart) and
//! keeps the secrets of the last [`WINDOW`] generations, because Apache
//! children of older generations may still be serving (a graceful restart
//! lets them finish) and reach the group's socket, which survives restarts.
//!
//! Where the secrets live:
//! * the parent: all of them, in an anonymous mapping marked
//!   `MADV_WIPEONFORK` (and `MADV_DONTDUMP`), so no forked process — Apache
//!   child or daemon — inherits it; its address survives restarts in the
//!   parent's stash;
//! * an Apache child: the current generation's secret of every group
//!   ([`current`]), which it needs to send requests;
//! * a daemon: only its own group's secrets of the window, handed over at
//!   fork; it forgets every other group's ([`forget_current`]).
//!
//! Never on disk, never in a log.

use std::collections::HashMap;
use std::sync::RwLock;

use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::os::memory;

use super::error::StartError;

/// How many configuration generations' secrets are kept (and accepted).
pub(crate) const WINDOW: u64 = 16;

/// One group's secret for one configuration generation.
#[derive(Clone)]
pub(crate) struct Key {
    pub generation: u64,
    pub secret: [u8; 32],
}

impl Drop for Key {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl std::fmt::Debug for Key {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key(generation {})", self.generation)
    }
}

/// The current generation's secret of every group (Apache parent and
/// children; emptied in daemons).
static CURRENT: RwLock<Option<HashMap<String, Key>>> = RwLock::new(None);

/// The current secret of `group`, for sending it a request.
pub(crate) fn current(group: &str) -> Option<Key> {
    CURRENT
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(group).cloned())
}

fn set_current(keys: HashMap<String, Key>) {
    *CURRENT.write().unwrap_or_else(|e| e.into_inner()) = Some(keys);
}

/// In a daemon after fork: drops (and wipes) every group's current secret.
pub(crate) fn forget_current() {
    *CURRENT.write().unwrap_or_else(|e| e.into_inner()) = None;
}

/// The parent's table, in its own mapping.
#[repr(C)]
struct Table {
    /// The last generation secrets were made for (0: none yet).
    generation: u64,
    entries: [Entry; CAPACITY],
}

const CAPACITY: usize = 2048;

#[repr(C)]
#[derive(Clone, Copy)]
struct Entry {
    /// 0: unused.
    generation: u64,
    /// SHA-256 of the group name.
    group: [u8; 32],
    secret: [u8; 32],
}

fn group_id(name: &str) -> [u8; 32] {
    Sha256::digest(name.as_bytes()).into()
}

/// The parent's store of secrets (see the module documentation).
pub(crate) struct Store(&'static mut Table);

impl Store {
    /// The store at `addr` (from the stash; 0: none yet), else a new one.
    /// `None` if the mapping cannot be made.
    pub(crate) fn attach(addr: usize) -> Option<Store> {
        let p = if addr != 0 {
            addr as *mut Table
        } else {
            memory::private_wiped_mapping(std::mem::size_of::<Table>())? as *mut Table
        };
        // SAFETY: `p` is a live, zero-initialised (or previously written),
        // suitably aligned mapping of a Table owned by this process; all-zero
        // is a valid Table. Only the Apache parent's single thread uses it.
        Some(Store(unsafe { &mut *p }))
    }

    /// The address to keep in the stash.
    pub(crate) fn addr(&self) -> usize {
        &*self.0 as *const Table as usize
    }

    /// Starts a new generation: a fresh random secret for each of `groups`,
    /// installed as the current ones (for Apache children), and forgets the
    /// secrets older than the window.
    pub(crate) fn rotate(&mut self, groups: &[&str]) -> Result<(), StartError> {
        let generation = self.0.generation + 1;
        let oldest = generation.saturating_sub(WINDOW - 1);
        for e in self.0.entries.iter_mut() {
            if e.generation != 0 && e.generation < oldest {
                e.zeroize_entry();
            }
        }
        let mut current = HashMap::new();
        for &name in groups {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).map_err(StartError::Random)?;
            let id = group_id(name);
            let slot = match self.0.entries.iter().position(|e| e.generation == 0) {
                Some(i) => i,
                // Full: replace the oldest entry.
                None => self
                    .0
                    .entries
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, e)| e.generation)
                    .map_or(0, |(i, _)| i),
            };
            self.0.entries[slot] = Entry {
                generation,
                group: id,
                secret,
            };
            current.insert(name.to_string(), Key { generation, secret });
            secret.zeroize();
        }
        self.0.generation = generation;
        set_current(current);
        Ok(())
    }

    /// `group`'s secrets within the window, newest first (for a daemon).
    pub(crate) fn window(&self, group: &str) -> Vec<Key> {
        let id = group_id(group);
        let mut keys: Vec<Key> = self
            .0
            .entries
            .iter()
            .filter(|e| e.generation != 0 && e.group == id)
            .map(|e| Key {
                generation: e.generation,
                secret: e.secret,
            })
            .collect();
        keys.sort_by_key(|k| std::cmp::Reverse(k.generation));
        keys
    }
}

impl Entry {
    fn zeroize_entry(&mut self) {
        self.generation = 0;
        self.group.zeroize();
        self.secret.zeroize();
    }
}

/// A daemon's secrets: its own group's, within the window.
pub(crate) struct DaemonKeys(Vec<Key>);

impl DaemonKeys {
    pub(crate) fn new(keys: Vec<Key>) -> DaemonKeys {
        DaemonKeys(keys)
    }

    pub(crate) fn get(&self, generation: u64) -> Option<&[u8; 32]> {
        self.0
            .iter()
            .find(|k| k.generation == generation)
            .map(|k| &k.secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_a_window_per_group() {
        let mut store = Store::attach(0).expect("mapping");
        for _ in 0..20 {
            store.rotate(&["a", "b"]).unwrap();
        }
        let a = store.window("a");
        assert_eq!(a.len() as u64, WINDOW);
        assert_eq!(a[0].generation, 20);
        assert_eq!(a.last().unwrap().generation, 20 - WINDOW + 1);
        let b = store.window("b");
        assert!(a.iter().zip(&b).all(|(x, y)| x.secret != y.secret));
        assert!(store.window("c").is_empty());
        assert_eq!(current("a").unwrap().generation, 20);
        assert_eq!(current("a").unwrap().secret, a[0].secret);
        let d = DaemonKeys::new(a);
        assert!(d.get(20).is_some() && d.get(20 - WINDOW).is_none());
        // A reattached store sees the same table.
        let again = Store::attach(store.addr()).unwrap();
        assert_eq!(again.window("b").len() as u64, WINDOW);
        forget_current();
        assert!(current("a").is_none());
    }
}
