//! What the Apache parent keeps about daemon mode across restarts. httpd
//! unloads and reloads this module on every restart, so no Rust static
//! survives one; this state is kept as text in userdata on the process pool
//! (which outlives the configuration pool) and read back by the next
//! generation: the listening sockets (kept open so connections waiting in
//! a backlog, and Apache children of the old generation, are not lost), the
//! daemons of older generations that are still finishing their requests
//! (which the parent must reap and must never restart), and the shared exit
//! table. Pure: parsing and printing only.

/// A listening socket the parent keeps open across restarts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SocketRecord {
    pub group: String,
    pub path: String,
    pub fd: i32,
    pub backlog: u32,
    /// chown'ed to this uid/gid (when Apache runs as root).
    pub owner: Option<(u32, u32)>,
    pub send_buffer: u32,
    pub receive_buffer: u32,
    /// The socket file's device and inode when it was bound: a file
    /// removed or replaced behind our back means the socket must be made anew.
    pub file: (u64, u64),
}

impl SocketRecord {
    /// Whether this socket can be kept for a group that wants a socket at
    /// `path` with this owner and these buffer sizes (the backlog is not
    /// compared: it can be changed in place with another `listen`).
    pub(crate) fn same_socket(
        &self,
        path: &str,
        owner: Option<(u32, u32)>,
        send: u32,
        recv: u32,
    ) -> bool {
        self.path == path
            && self.owner == owner
            && self.send_buffer == send
            && self.receive_buffer == recv
    }
}

/// A daemon process of an older generation, finishing its requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RetiringRecord {
    pub pid: i32,
    pub group: String,
    /// Seconds since the epoch after which the parent kills it (it should
    /// have exited by itself: graceful-timeout + shutdown-timeout).
    pub kill_at: u64,
    /// Its shutdown-timeout, for a stop or hard restart while it drains.
    pub shutdown_timeout: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ParentState {
    /// Address of the shared exit table mapping (0: none).
    pub exit_table: usize,
    /// Address of the secrets' mapping (`keys::Store`; 0: none). The
    /// secrets themselves are never written here.
    pub key_store: usize,
    pub sockets: Vec<SocketRecord>,
    pub retiring: Vec<RetiringRecord>,
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

impl ParentState {
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        if self.exit_table != 0 {
            out.push_str(&format!("X\t{:x}\n", self.exit_table));
        }
        if self.key_store != 0 {
            out.push_str(&format!("K\t{:x}\n", self.key_store));
        }
        for s in &self.sockets {
            let owner = s
                .owner
                .map_or_else(|| "-\t-".to_string(), |(u, g)| format!("{u}\t{g}"));
            out.push_str(&format!(
                "S\t{}\t{}\t{owner}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                s.fd,
                s.backlog,
                s.send_buffer,
                s.receive_buffer,
                s.file.0,
                s.file.1,
                escape(&s.group),
                escape(&s.path)
            ));
        }
        for r in &self.retiring {
            out.push_str(&format!(
                "D\t{}\t{}\t{}\t{}\n",
                r.pid,
                r.kill_at,
                r.shutdown_timeout,
                escape(&r.group)
            ));
        }
        out
    }

    /// Reads what [`ParentState::encode`] wrote; lines it does not
    /// understand are skipped.
    pub(crate) fn decode(text: &str) -> ParentState {
        let mut st = ParentState::default();
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            match f.as_slice() {
                ["X", addr] => {
                    st.exit_table = usize::from_str_radix(addr, 16).unwrap_or(0);
                }
                ["K", addr] => {
                    st.key_store = usize::from_str_radix(addr, 16).unwrap_or(0);
                }
                [
                    "S",
                    fd,
                    backlog,
                    uid,
                    gid,
                    send,
                    recv,
                    dev,
                    ino,
                    group,
                    path,
                ] => {
                    let owner = match (uid.parse(), gid.parse()) {
                        (Ok(u), Ok(g)) => Some((u, g)),
                        _ => None,
                    };
                    let (Ok(fd), Ok(backlog), Ok(send), Ok(recv), Ok(dev), Ok(ino)) = (
                        fd.parse(),
                        backlog.parse(),
                        send.parse(),
                        recv.parse(),
                        dev.parse(),
                        ino.parse(),
                    ) else {
                        continue;
                    };
                    st.sockets.push(SocketRecord {
                        group: unescape(group),
                        path: unescape(path),
                        fd,
                        backlog,
                        owner,
                        send_buffer: send,
                        receive_buffer: recv,
                        file: (dev, ino),
                    });
                }
                ["D", pid, kill_at, shutdown, group] => {
                    let (Ok(pid), Ok(kill_at), Ok(shutdown_timeout)) =
                        (pid.parse(), kill_at.parse(), shutdown.parse())
                    else {
                        continue;
                    };
                    st.retiring.push(RetiringRecord {
                        pid,
                        group: unescape(group),
                        kill_at,
                        shutdown_timeout,
                    });
                }
                _ => {}
            }
        }
        st
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ParentState {
        ParentState {
            exit_table: 0x7f00_dead_b000,
            key_store: 0x7f00_beef_0000,
            sockets: vec![
                SocketRecord {
                    group: "bench".into(),
                    path: "/run/apache2/wsgi.123.bench.sock".into(),
                    fd: 7,
                    backlog: 100,
                    owner: Some((33, 33)),
                    send_buffer: 0,
                    receive_buffer: 65536,
                    file: (64769, 1234567),
                },
                SocketRecord {
                    group: "odd\tname\\with\nstuff".into(),
                    path: "/tmp/a b/wsgi.1.odd_name-1.sock".into(),
                    fd: 9,
                    backlog: 5,
                    owner: None,
                    send_buffer: 1,
                    receive_buffer: 2,
                    file: (1, 2),
                },
            ],
            retiring: vec![RetiringRecord {
                pid: 4242,
                group: "bench".into(),
                kill_at: 1_800_000_000,
                shutdown_timeout: 5,
            }],
        }
    }

    #[test]
    fn round_trips() {
        let st = sample();
        assert_eq!(ParentState::decode(&st.encode()), st);
        assert_eq!(ParentState::decode(""), ParentState::default());
    }

    #[test]
    fn skips_what_it_does_not_understand() {
        let text = format!(
            "{}Z\tfuture\tline\nS\tnot-a-number\t1\t-\t-\t0\t0\t1\t2\tg\t/p\nD\t1\t2\n",
            sample().encode()
        );
        assert_eq!(ParentState::decode(&text), sample());
    }

    #[test]
    fn same_socket_ignores_the_backlog_only() {
        let s = &sample().sockets[0];
        let p = "/run/apache2/wsgi.123.bench.sock";
        assert!(s.same_socket(p, Some((33, 33)), 0, 65536));
        assert!(!s.same_socket(p, Some((34, 33)), 0, 65536));
        assert!(!s.same_socket(p, Some((33, 33)), 1, 65536));
        assert!(!s.same_socket("/other", Some((33, 33)), 0, 65536));
    }
}
