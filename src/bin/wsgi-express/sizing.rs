//! How many Apache children and threads, by mod_wsgi-express's formulas. In
//! daemon mode the children only relay requests, so they are sized for the
//! connections (`--max-clients`, by default 1.5 x the daemon threads, at
//! least 20); in embedded mode they run the application, so they are
//! exactly `--processes` x `--threads`.

use crate::cli::{Mpm, ServerOptions};

/// The MPM directives for `mpm`.
pub(super) fn render(o: &ServerOptions, mpm: Mpm) -> String {
    let s = sizes(o, mpm);
    let mut c = match mpm {
        Mpm::Prefork => format!(
            "ServerLimit {}\nStartServers {}\nMaxRequestWorkers {}\nMinSpareServers {}\n\
             MaxSpareServers {}\n",
            s.server_limit, s.start, s.max_clients, s.min_spare, s.max_spare
        ),
        Mpm::Event | Mpm::Worker => format!(
            "ServerLimit {}\nThreadLimit {}\nStartServers {}\nMaxRequestWorkers {}\n\
             MinSpareThreads {}\nMaxSpareThreads {}\nThreadsPerChild {}\n",
            s.server_limit,
            s.threads_per_child,
            s.start,
            s.max_clients,
            s.min_spare,
            s.max_spare,
            s.threads_per_child
        ),
    };
    c.push_str("MaxConnectionsPerChild 0\n");
    // Keep-alive connections: free in event; in daemon mode a worker or
    // prefork child only relays, so a higher cap saves handshakes.
    let keep_alive_requests = match (mpm, o.embedded_mode) {
        (Mpm::Event, _) => 0,
        (_, false) => 500,
        (_, true) => 100,
    };
    c.push_str(&format!("MaxKeepAliveRequests {keep_alive_requests}\n"));
    // Small stacks only where no Python runs on the Apache threads.
    if mpm != Mpm::Prefork && !o.embedded_mode {
        c.push_str("ThreadStackSize 262144\n");
    }
    c
}

#[derive(Debug, PartialEq, Eq)]
struct Sizes {
    server_limit: u32,
    start: u32,
    max_clients: u32,
    threads_per_child: u32,
    /// Servers (prefork) or threads (event, worker).
    min_spare: u32,
    max_spare: u32,
}

fn sizes(o: &ServerOptions, mpm: Mpm) -> Sizes {
    let processes = o.process_count();
    let total = processes.saturating_mul(o.threads);
    if o.embedded_mode {
        return match mpm {
            // One single-threaded child per request slot.
            Mpm::Prefork => Sizes {
                server_limit: total,
                start: total,
                max_clients: total,
                threads_per_child: 1,
                min_spare: total,
                max_spare: total,
            },
            Mpm::Event | Mpm::Worker => Sizes {
                server_limit: processes,
                start: processes,
                max_clients: total,
                threads_per_child: o.threads,
                min_spare: total,
                max_spare: total,
            },
        };
    }
    let max_clients = match o.max_clients {
        Some(m) => m.max(total),
        None => 10 + 10.max((1.5 * f64::from(total)) as u32),
    };
    let fraction = |f: f64, n: u32| (f * f64::from(n)) as u32;
    match mpm {
        Mpm::Prefork => {
            let initial = o.initial_workers.unwrap_or(0.05);
            let min = o.minimum_spare_workers.unwrap_or(initial);
            let max = o.maximum_spare_workers.unwrap_or(0.1);
            Sizes {
                server_limit: max_clients,
                start: fraction(initial, max_clients).max(1),
                max_clients,
                threads_per_child: 1,
                min_spare: fraction(min, max_clients).max(1),
                max_spare: fraction(max, max_clients).max(1),
            }
        }
        Mpm::Event | Mpm::Worker => {
            let initial = o.initial_workers.unwrap_or(0.2);
            let min = o.minimum_spare_workers.unwrap_or(initial);
            let max = o.maximum_spare_workers.unwrap_or(0.6);
            let per_child = if max_clients > 20 {
                max_clients / (max_clients / 20 + 1)
            } else {
                10
            };
            let servers = max_clients.div_ceil(per_child);
            Sizes {
                server_limit: servers,
                start: fraction(initial, servers).max(1),
                max_clients: servers * per_child,
                threads_per_child: per_child,
                min_spare: (fraction(min, servers) * per_child).max(per_child),
                max_spare: (fraction(max, servers) * per_child).max(per_child),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::tests::server;

    #[test]
    fn daemon_mode_sizes_as_mod_wsgi_express() {
        // 1 x 5 threads: 10 + max(10, 7) = 20 clients, in 2 children of 10.
        let s = sizes(&server(&["a"]), Mpm::Event);
        assert_eq!(
            s,
            Sizes {
                server_limit: 2,
                start: 1,
                max_clients: 20,
                threads_per_child: 10,
                min_spare: 10,
                max_spare: 10
            }
        );
        // 4 x 10: 10 + 60 = 70 clients: 70 / (3 + 1) = 17 per child, 5 children.
        let s = sizes(
            &server(&["--processes", "4", "--threads", "10", "a"]),
            Mpm::Worker,
        );
        assert_eq!(
            (s.threads_per_child, s.server_limit, s.max_clients),
            (17, 5, 85)
        );
        assert_eq!((s.start, s.min_spare, s.max_spare), (1, 17, 51));
        let s = sizes(&server(&["--max-clients", "100", "a"]), Mpm::Prefork);
        assert_eq!(
            (s.max_clients, s.start, s.min_spare, s.max_spare),
            (100, 5, 5, 10)
        );
    }

    #[test]
    fn embedded_mode_runs_exactly_the_threads_asked_for() {
        let o = server(&["--embedded-mode", "--processes", "2", "--threads", "3", "a"]);
        let s = sizes(&o, Mpm::Worker);
        assert_eq!(
            (s.server_limit, s.threads_per_child, s.max_clients),
            (2, 3, 6)
        );
        assert_eq!(sizes(&o, Mpm::Prefork).max_clients, 6);
        let c = render(&o, Mpm::Event);
        assert!(
            c.contains("ThreadsPerChild 3\n") && !c.contains("ThreadStackSize"),
            "{c}"
        );
        assert!(render(&server(&["a"]), Mpm::Event).contains("ThreadStackSize 262144"));
    }
}
