//! The daemon process group of the generated configuration: one
//! `WSGIDaemonProcess` named HOST:PORT with mod_wsgi-express's production
//! timeouts, and `WSGIRestrictEmbedded On` so no Python runs in the Apache
//! children.

use std::fmt::Write as _;

use anyhow::Result;

use crate::render::{on_off, quote, quote_str};
use crate::settings::Plan;

/// `WSGIRestrictEmbedded On` and the `WSGIDaemonProcess` directive, one
/// option per line.
pub(super) fn render(p: &Plan) -> Result<String> {
    let o = &p.o;
    let mut opts: Vec<String> = vec![
        format!(
            "display-name={}",
            quote_str(&p.display_name, "the display name")?
        ),
        format!("home={}", quote(&p.working_directory)?),
    ];
    // As mod_wsgi-express: processes= only when given, so that one process
    // by default keeps wsgi.multiprocess False.
    if let Some(n) = o.processes {
        opts.push(format!("processes={n}"));
    }
    opts.push(format!("threads={}", o.threads));
    opts.push(format!("maximum-requests={}", o.maximum_requests));
    opts.push(format!(
        "python-path={}",
        quote_str(&python_path(p)?, "--python-path")?
    ));
    opts.push(format!("python-eggs={}", quote(&p.python_eggs)?));
    opts.push(format!("lang={}", quote_str(&p.locale, "--lang")?));
    opts.push(format!("locale={}", quote_str(&p.locale, "--locale")?));
    opts.push(format!("listen-backlog={}", o.daemon_backlog));
    for (name, value) in [
        ("queue-timeout", o.queue_timeout),
        ("socket-timeout", u64::from(o.socket_timeout)),
        ("connect-timeout", o.connect_timeout),
        ("request-timeout", o.request_timeout),
    ] {
        opts.push(format!("{name}={value}"));
    }
    // Only when given: the option is new in the module, so a configuration
    // without it is valid with or without that support.
    if let Some(t) = o.interrupt_timeout {
        opts.push(format!("interrupt-timeout={t}"));
    }
    for (name, value) in [
        ("inactivity-timeout", o.inactivity_timeout),
        ("startup-timeout", o.startup_timeout),
        ("deadlock-timeout", o.deadlock_timeout),
        ("graceful-timeout", o.graceful_timeout),
        ("eviction-timeout", o.eviction_timeout),
        ("restart-interval", o.restart_interval),
        ("cpu-time-limit", o.cpu_time_limit),
        ("shutdown-timeout", o.shutdown_timeout),
        ("send-buffer-size", u64::from(o.send_buffer_size)),
        ("receive-buffer-size", u64::from(o.receive_buffer_size)),
        ("header-buffer-size", u64::from(o.header_buffer_size)),
        ("response-buffer-size", u64::from(o.response_buffer_size)),
        ("response-socket-timeout", o.response_socket_timeout),
        ("response-flush-delay", o.response_flush_delay),
    ] {
        opts.push(format!("{name}={value}"));
    }
    // Our additions: written only when set.
    for (name, value) in [
        ("memory-limit", o.memory_limit),
        ("virtual-memory-limit", o.virtual_memory_limit),
    ] {
        if value > 0 {
            opts.push(format!("{name}={value}"));
        }
    }
    if let Some(s) = o.switch_interval {
        opts.push(format!("switch-interval={s}"));
    }
    opts.push(format!("server-metrics={}", on_off(o.server_metrics)));
    let mut c = String::from("WSGIRestrictEmbedded On\n");
    write!(
        c,
        "WSGIDaemonProcess {}",
        quote_str(&p.process_group, "--process-group")?
    )?;
    for opt in opts {
        write!(c, " \\\n    {opt}")?;
    }
    c.push('\n');
    Ok(c)
}

/// The `sys.path` additions, `:`-separated (which no entry may contain).
pub(super) fn python_path(p: &Plan) -> Result<String> {
    let mut joined = Vec::new();
    for dir in &p.app.python_path {
        let s = dir.to_string_lossy();
        if s.contains(':') {
            anyhow::bail!("the Python path entry '{s}' contains ':', which separates entries");
        }
        joined.push(s.into_owned());
    }
    Ok(joined.join(":"))
}
