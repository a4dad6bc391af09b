//! A daemon process group as configured: mod_wsgi 6's options with their
//! defaults. The supervisor and the daemon worker read it.

/// A user or group as written: a name, or `#id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ident {
    Name(String),
    Id(u32),
}

/// As written in the configuration: `name` or `#id`.
impl std::fmt::Display for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ident::Name(n) => f.write_str(n),
            Ident::Id(id) => write!(f, "#{id}"),
        }
    }
}

impl Ident {
    pub(super) fn parse(v: &str) -> Option<Ident> {
        if v.is_empty() {
            return None;
        }
        match v.strip_prefix('#') {
            Some(n) => n.parse().ok().map(Ident::Id),
            None => Some(Ident::Name(v.to_string())),
        }
    }
}

/// One daemon process group. Timeouts are whole seconds; 0 means off.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonGroup {
    pub(crate) name: String,
    pub(crate) processes: u32,
    /// `processes=` was given (even `1`): `wsgi.multiprocess` is then True.
    pub(crate) multiprocess: bool,
    pub(crate) threads: u32,
    pub(super) display_name: Option<String>,
    pub(crate) user: Option<Ident>,
    pub(crate) group: Option<Ident>,
    pub(crate) supplementary_groups: Vec<String>,
    pub(crate) umask: Option<u32>,
    pub(crate) home: Option<String>,
    pub(crate) lang: Option<String>,
    pub(crate) locale: Option<String>,
    pub(crate) chroot: Option<String>,
    pub(crate) script_user: Option<Ident>,
    pub(crate) script_group: Option<Ident>,
    pub(crate) python_home: Option<String>,
    pub(crate) python_path: Vec<String>,
    pub(crate) python_eggs: Option<String>,
    pub(crate) switch_interval: Option<f64>,
    pub(crate) stack_size: Option<u64>,
    pub(crate) maximum_requests: u64,
    pub(crate) restart_interval: u64,
    pub(crate) cpu_time_limit: u64,
    pub(crate) cpu_priority: i32,
    pub(crate) memory_limit: u64,
    pub(crate) virtual_memory_limit: u64,
    pub(crate) inactivity_timeout: u64,
    pub(crate) request_timeout: u64,
    pub(crate) interrupt_timeout: u64,
    pub(crate) deadlock_timeout: u64,
    pub(crate) startup_timeout: u64,
    pub(crate) graceful_timeout: u64,
    pub(crate) eviction_timeout: u64,
    pub(crate) shutdown_timeout: u64,
    pub(crate) connect_timeout: u64,
    /// 0: Apache's `Timeout`.
    pub(crate) socket_timeout: u64,
    pub(crate) queue_timeout: u64,
    pub(crate) listen_backlog: u32,
    pub(crate) send_buffer_size: u32,
    pub(crate) receive_buffer_size: u32,
    pub(crate) header_buffer_size: u32,
    pub(crate) response_buffer_size: u32,
    pub(crate) response_socket_timeout: u64,
    /// Milliseconds.
    pub(crate) response_flush_delay: u64,
    pub(crate) socket_user: Option<Ident>,
    /// `mod_wsgi.server_metrics()` may show Apache's scoreboard here.
    pub(crate) server_metrics: bool,
}

impl DaemonGroup {
    /// A group with mod_wsgi's defaults (`wsgi_daemon.c` initialisers).
    pub(crate) fn new(name: &str) -> DaemonGroup {
        DaemonGroup {
            name: name.to_string(),
            processes: 1,
            multiprocess: false,
            threads: 15,
            display_name: None,
            user: None,
            group: None,
            supplementary_groups: Vec::new(),
            umask: None,
            home: None,
            lang: None,
            locale: None,
            chroot: None,
            script_user: None,
            script_group: None,
            python_home: None,
            python_path: Vec::new(),
            python_eggs: None,
            switch_interval: None,
            stack_size: None,
            maximum_requests: 0,
            restart_interval: 0,
            cpu_time_limit: 0,
            cpu_priority: 0,
            memory_limit: 0,
            virtual_memory_limit: 0,
            inactivity_timeout: 0,
            request_timeout: 0,
            interrupt_timeout: 0,
            deadlock_timeout: 300,
            startup_timeout: 0,
            graceful_timeout: 15,
            eviction_timeout: 0,
            shutdown_timeout: 5,
            connect_timeout: 15,
            socket_timeout: 0,
            queue_timeout: 0,
            listen_backlog: 100,
            send_buffer_size: 0,
            receive_buffer_size: 0,
            header_buffer_size: 0,
            response_buffer_size: 0,
            response_socket_timeout: 0,
            response_flush_delay: 5,
            socket_user: None,
            server_metrics: false,
        }
    }

    /// `display-name` with `%{GROUP}` expanded to `(wsgi:NAME)`.
    pub(crate) fn process_title(&self) -> Option<String> {
        let d = self.display_name.as_ref()?;
        Some(if d == "%{GROUP}" {
            format!("(wsgi:{})", self.name)
        } else {
            d.clone()
        })
    }
}
