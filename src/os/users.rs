//! The user and group databases, read with the reentrant `get*_r` calls
//! (the Apache child's request threads look users up too).

use super::cstr;

/// User facts looked up by name or uid.
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub home: String,
}

/// A lookup with one of the reentrant `get*_r` calls, growing the buffer
/// while it says ERANGE (safe on any thread: the Apache child's request
/// threads look users up too).
fn lookup_r<T: Copy>(
    mut call: impl FnMut(*mut T, *mut libc::c_char, usize, *mut *mut T) -> libc::c_int,
) -> Option<(T, Vec<libc::c_char>)> {
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        let mut record = std::mem::MaybeUninit::<T>::zeroed();
        let mut found: *mut T = std::ptr::null_mut();
        let rv = call(record.as_mut_ptr(), buf.as_mut_ptr(), buf.len(), &mut found);
        if rv == libc::ERANGE && buf.len() < (1 << 20) {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rv != 0 || found.is_null() {
            return None;
        }
        // SAFETY: the call succeeded and filled `record`, whose pointers
        // point into `buf`, returned alongside it.
        return Some((unsafe { record.assume_init() }, buf));
    }
}

fn user_from(p: &libc::passwd) -> User {
    // SAFETY: the record's strings are NUL-terminated and live in the buffer
    // kept by the caller for the duration of this call.
    let s = |c: *const libc::c_char| unsafe {
        if c.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(c).to_string_lossy().into_owned()
        }
    };
    User {
        uid: p.pw_uid,
        gid: p.pw_gid,
        name: s(p.pw_name),
        home: s(p.pw_dir),
    }
}

pub fn user_by_name(name: &str) -> Option<User> {
    let c = cstr(name).ok()?;
    // SAFETY: getpwnam_r writes only into the record and buffer it is given.
    let (p, _buf) =
        lookup_r(|rec, buf, len, out| unsafe { libc::getpwnam_r(c.as_ptr(), rec, buf, len, out) })?;
    Some(user_from(&p))
}

pub(crate) fn user_by_uid(uid: u32) -> Option<User> {
    // SAFETY: getpwuid_r writes only into the record and buffer it is given.
    let (p, _buf) =
        lookup_r(|rec, buf, len, out| unsafe { libc::getpwuid_r(uid, rec, buf, len, out) })?;
    Some(user_from(&p))
}

pub fn group_by_name(name: &str) -> Option<u32> {
    let c = cstr(name).ok()?;
    // SAFETY: getgrnam_r writes only into the record and buffer it is given.
    let (g, _buf) = lookup_r(|rec: *mut libc::group, buf, len, out| unsafe {
        libc::getgrnam_r(c.as_ptr(), rec, buf, len, out)
    })?;
    Some(g.gr_gid)
}

/// The name of group `gid`.
pub fn group_name(gid: u32) -> Option<String> {
    // SAFETY: getgrgid_r writes only into the record and buffer it is given.
    let (g, _buf) = lookup_r(|rec: *mut libc::group, buf, len, out| unsafe {
        libc::getgrgid_r(gid, rec, buf, len, out)
    })?;
    if g.gr_name.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated name inside `_buf`, alive here.
    Some(
        unsafe { std::ffi::CStr::from_ptr(g.gr_name) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// The name of user `uid`, or `#uid` (for messages).
pub(crate) fn name_or_id(uid: u32) -> String {
    user_by_uid(uid).map_or_else(|| format!("#{uid}"), |u| u.name)
}

/// The name of group `gid`, or `#gid` (for messages).
pub(crate) fn group_name_or_id(gid: u32) -> String {
    group_name(gid).unwrap_or_else(|| format!("#{gid}"))
}

/// The supplementary groups `initgroups(user, gid)` would give (as Apache
/// does when it switches to its User).
pub fn group_list(user: &str, gid: u32) -> Option<Vec<u32>> {
    let c = cstr(user).ok()?;
    let mut n: libc::c_int = 64;
    let mut groups = vec![0 as libc::gid_t; n as usize];
    loop {
        let mut count = n;
        // SAFETY: `groups` has room for `n` entries; `count` is in/out.
        let r = unsafe { libc::getgrouplist(c.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        if r >= 0 {
            groups.truncate(count as usize);
            return Some(groups);
        }
        if n >= 1 << 16 {
            return None;
        }
        n = count.max(n * 2);
        groups.resize(n as usize, 0);
    }
}
