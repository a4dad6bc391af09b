//! The typed configuration our directives build: per-server (main server and
//! each `<VirtualHost>`), per-directory, and the process-wide settings that are
//! only valid in the main server.

use std::net::IpAddr;

use super::daemon::DaemonGroup;
use super::interpreter_options::InterpreterOptions;
use super::script_alias::{Matcher, ScriptAlias, ScriptOptions};
use super::scripts::ScriptSettings;

/// Settings valid in server, virtual-host and directory context. `None` means
/// "not set here": a more specific scope wins, then the mod_wsgi default.
#[derive(Clone, Debug, Default)]
pub(crate) struct AppSettings {
    pub(crate) application_group: Option<String>,
    pub(crate) process_group: Option<String>,
    pub(crate) callable_object: Option<String>,
    pub(crate) pass_authorization: Option<bool>,
    pub(crate) script_reloading: Option<bool>,
    pub(crate) chunked_request: Option<bool>,
    pub(crate) enable_sendfile: Option<bool>,
    pub(crate) map_head_to_get: Option<MapHeadToGet>,
    pub(crate) trusted_proxy_headers: Option<Vec<String>>,
    pub(crate) trusted_proxies: Option<Vec<IpNet>>,
    pub(crate) error_override: Option<bool>,
    /// WSGIRestrictProcess: the process groups (`""` for embedded mode)
    /// requests may be sent to; unset, any.
    pub(crate) restrict_process: Option<Vec<String>>,
    /// WSGIIgnoreActivity: requests do not reset a daemon's inactivity-timeout.
    pub(crate) ignore_activity: Option<bool>,
    /// WSGIPassApacheRequest: embedded mode's environ has `apache.request_rec`.
    pub(crate) pass_apache_request: Option<bool>,
}

macro_rules! overlay {
    ($over:expr, $base:expr, $($field:ident),*) => {
        AppSettings { $($field: $over.$field.clone().or_else(|| $base.$field.clone()),)* }
    };
}

impl AppSettings {
    /// `self` over `base`: every field set in `self` wins.
    pub(crate) fn over(&self, base: &AppSettings) -> AppSettings {
        overlay!(
            self,
            base,
            application_group,
            process_group,
            callable_object,
            pass_authorization,
            script_reloading,
            chunked_request,
            enable_sendfile,
            map_head_to_get,
            trusted_proxy_headers,
            trusted_proxies,
            error_override,
            restrict_process,
            ignore_activity,
            pass_apache_request
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MapHeadToGet {
    On,
    Off,
    Auto,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HashSeed {
    Random,
    Fixed(u32),
}

/// Process-wide settings (directives valid only in the main server).
#[derive(Clone, Debug, Default)]
pub struct GlobalSettings {
    pub(crate) python_home: Option<String>,
    pub(crate) python_path: Vec<String>,
    pub(super) lazy_initialization: Option<bool>,
    pub(super) restrict_embedded: Option<bool>,
    pub(crate) restrict_stdin: Option<bool>,
    pub(crate) restrict_stdout: Option<bool>,
    pub(super) restrict_signal: Option<bool>,
    pub(crate) python_optimize: Option<u8>,
    pub(crate) python_hash_seed: Option<HashSeed>,
    pub(crate) dont_write_bytecode: Option<bool>,
    pub(crate) python_warnings: Vec<String>,
    pub(super) destroy_interpreter: Option<bool>,
    pub(super) case_sensitivity: Option<bool>,
    pub(crate) python_eggs: Option<String>,
    pub(crate) switch_interval: Option<f64>,
    pub(crate) socket_prefix: Option<String>,
    /// WSGISocketRotation (mod_wsgi: whether socket paths change with each
    /// restart). Accepted; here the paths are stable either way.
    pub(super) socket_rotation: Option<bool>,
    /// WSGIPerInterpreterGIL: sub-interpreters with a GIL of their own
    /// (Python 3.12+).
    pub(super) per_interpreter_gil: Option<bool>,
    /// `<WSGIInterpreterOptions>` containers, in configuration order.
    pub(super) interpreter_options: Vec<InterpreterOptions>,
    /// WSGIServerMetrics: `mod_wsgi.server_metrics()` may show Apache's
    /// scoreboard in embedded mode (daemon groups: `server-metrics=`).
    pub(super) server_metrics: Option<bool>,
}

impl GlobalSettings {
    pub(crate) fn lazy_initialization(&self) -> bool {
        self.lazy_initialization.unwrap_or(true)
    }
    pub(crate) fn restrict_embedded(&self) -> bool {
        self.restrict_embedded.unwrap_or(false)
    }
    pub(crate) fn restrict_signal(&self) -> bool {
        self.restrict_signal.unwrap_or(true)
    }
    pub(crate) fn per_interpreter_gil(&self) -> bool {
        self.per_interpreter_gil.unwrap_or(false)
    }
    pub(crate) fn server_metrics(&self) -> bool {
        self.server_metrics.unwrap_or(false)
    }
    pub(crate) fn destroy_interpreter(&self) -> bool {
        self.destroy_interpreter.unwrap_or(true)
    }
    /// mod_wsgi's default: case sensitive everywhere but Windows and macOS.
    pub(crate) fn case_sensitive(&self) -> bool {
        self.case_sensitivity
            .unwrap_or(!cfg!(any(windows, target_os = "macos")))
    }
}

/// A script to load at process start (`WSGIImportScript`, or a preloading alias).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportScript {
    pub(crate) path: String,
    pub(crate) process_group: String,
    pub(crate) application_group: String,
}

/// Per-server configuration (the main server and each virtual host).
#[derive(Clone, Debug, Default)]
pub struct ServerConfig {
    /// Script aliases in configuration order; the first match wins.
    pub(crate) aliases: Vec<ScriptAlias>,
    pub(super) import_scripts: Vec<ImportScript>,
    /// WSGIDaemonProcess groups defined in this server (main server: usable
    /// everywhere; a virtual host: by virtual hosts with its ServerName).
    pub(crate) daemons: Vec<DaemonGroup>,
    pub(crate) settings: AppSettings,
    /// WSGIHandlerScript, WSGIDispatchScript.
    pub(crate) scripts: ScriptSettings,
    /// Only meaningful in the main server's configuration.
    pub(crate) global: GlobalSettings,
}

impl ServerConfig {
    /// A virtual host's configuration over the main server's: the vhost's
    /// aliases are tried first, then the main server's (as mod_alias does).
    pub(crate) fn merge(base: &ServerConfig, vhost: &ServerConfig) -> ServerConfig {
        ServerConfig {
            aliases: vhost.aliases.iter().chain(&base.aliases).cloned().collect(),
            import_scripts: vhost.import_scripts.clone(),
            daemons: vhost.daemons.clone(),
            settings: vhost.settings.over(&base.settings),
            scripts: vhost.scripts.over(&base.scripts),
            global: base.global.clone(),
        }
    }

    /// Scripts to load at process start: WSGIImportScript entries, then aliases
    /// that name both a process group and an application group.
    pub(crate) fn preloads(&self) -> Vec<ImportScript> {
        let mut out = self.import_scripts.clone();
        for alias in &self.aliases {
            // A regex alias whose target has `$N` has no single script to load.
            let substituted =
                matches!(alias.matcher, Matcher::Regex { .. }) && alias.target.contains('$');
            if let (
                true,
                ScriptOptions {
                    process_group: Some(p),
                    application_group: Some(a),
                    ..
                },
            ) = (alias.options.preloads() && !substituted, &alias.options)
            {
                out.push(ImportScript {
                    path: alias.target.clone(),
                    process_group: p.clone(),
                    application_group: a.clone(),
                });
            }
        }
        out
    }
}

/// Per-directory configuration (`<Directory>`, `<Location>`, `<Files>`, `.htaccess`).
#[derive(Clone, Debug, Default)]
pub struct DirConfig {
    pub(crate) settings: AppSettings,
    /// WSGIHandlerScript, WSGIDispatchScript.
    pub(crate) scripts: ScriptSettings,
    /// WSGIAccessScript, WSGIAuthUserScript, WSGIAuthGroupScript, WSGIGroupAuthoritative.
    pub(crate) auth: super::auth::AuthSettings,
}

impl DirConfig {
    pub(crate) fn merge(base: &DirConfig, over: &DirConfig) -> DirConfig {
        DirConfig {
            settings: over.settings.over(&base.settings),
            scripts: over.scripts.over(&base.scripts),
            auth: over.auth.over(&base.auth),
        }
    }
}

/// An address range from `WSGITrustedProxies`: `addr`, `addr/bits` or `addr/netmask`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    bits: u8,
}

impl IpNet {
    pub(crate) fn parse(s: &str) -> Option<IpNet> {
        let (addr, mask) = match s.split_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = match mask {
            None => max,
            Some(m) => match m.parse::<u8>() {
                Ok(b) if b <= max => b,
                Ok(_) => return None,
                Err(_) => {
                    // A dotted netmask: contiguous leading ones only.
                    let m: std::net::Ipv4Addr = m.parse().ok()?;
                    let v = u32::from(m);
                    if !addr.is_ipv4() || v.leading_ones() + v.trailing_zeros() != 32 {
                        return None;
                    }
                    v.leading_ones() as u8
                }
            },
        };
        Some(IpNet { addr, bits })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            _ => ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.bits)
                };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.bits)
                };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_prefers_the_more_specific_scope() {
        let base = AppSettings {
            application_group: Some("a".into()),
            callable_object: Some("app".into()),
            ..Default::default()
        };
        let dir = AppSettings {
            application_group: Some("%{GLOBAL}".into()),
            ..Default::default()
        };
        let m = dir.over(&base);
        assert_eq!(m.application_group.as_deref(), Some("%{GLOBAL}"));
        assert_eq!(m.callable_object.as_deref(), Some("app"));
        assert_eq!(m.script_reloading, None);
    }

    #[test]
    fn ip_nets() {
        let n = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.1.2.3".parse().unwrap()));
        assert!(!n.contains("11.1.2.3".parse().unwrap()));
        assert!(n.contains("::ffff:10.9.9.9".parse().unwrap()));
        let m = IpNet::parse("192.168.1.0/255.255.255.0").unwrap();
        assert_eq!(m.bits, 24);
        assert!(IpNet::parse("1.2.3.4/255.0.255.0").is_none());
        assert!(IpNet::parse("1.2.3.4/33").is_none());
        assert!(IpNet::parse("nonsense").is_none());
        let one = IpNet::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6 = IpNet::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
    }
}
