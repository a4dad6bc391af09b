//! The `httpd.conf` wsgi-express writes: a pure function of a `Plan`, laid
//! out in the order of mod_wsgi-express's template (server, modules, limits,
//! WSGI settings and the daemon group, logs, MPM sizing, virtual hosts,
//! static files, access control, the application, extra files). The
//! daemon group, MPM sizing, virtual hosts and static files have their own
//! files.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result, bail};

use crate::cli::ServerOptions;
use crate::settings::Plan;
use crate::{daemon, reloader, resources, sizing, statics, vhosts};

/// A string as a double-quoted Apache configuration word. Values that
/// httpd's parser would mangle (quotes, backslashes, `${` variables, control
/// characters) are refused rather than escaped; `what` names the value.
pub(super) fn quote_str(s: &str, what: &str) -> Result<String> {
    if s.contains(['"', '\\']) || s.contains("${") || s.chars().any(char::is_control) {
        bail!(
            "{what} '{s}' contains characters (quotes, backslashes, '${{', control characters) \
             that cannot be written into an Apache configuration"
        );
    }
    Ok(format!("\"{s}\""))
}

/// A path as a double-quoted Apache configuration word (see `quote_str`).
pub(super) fn quote(path: &Path) -> Result<String> {
    let s = path
        .to_str()
        .with_context(|| format!("'{}' is not valid UTF-8", path.display()))?;
    quote_str(s, "the path")
}

/// `Listen` argument: the port alone for all interfaces, IPv6 addresses in
/// brackets.
pub(super) fn listen_address(host: Option<&str>, port: u16) -> String {
    match host {
        None => port.to_string(),
        Some(h) if h.contains(':') => format!("[{h}]:{port}"),
        Some(h) => format!("{h}:{port}"),
    }
}

/// The host as a name in a URL or `ServerName`: wildcard addresses as
/// localhost, IPv6 addresses in brackets.
pub(super) fn host_name(host: &str) -> String {
    match host {
        "0.0.0.0" | "::" | "*" => "localhost".to_string(),
        h if h.contains(':') => format!("[{h}]"),
        h => h.to_string(),
    }
}

/// The URL a person opens (`scheme` http or https), as mod_wsgi-express
/// prints it: no port when it is the scheme's own.
pub(super) fn url(scheme: &str, host: &str, port: u16, mount: &str) -> String {
    let path = if mount == "/" {
        "/".to_string()
    } else {
        format!("{mount}/")
    };
    let default = matches!((scheme, port), ("http", 80) | ("https", 443));
    if default {
        format!("{scheme}://{}{path}", host_name(host))
    } else {
        format!("{scheme}://{}:{port}{path}", host_name(host))
    }
}

/// `RequestReadTimeout`'s value, as mod_wsgi-express builds it; `None` when
/// both timeouts are off.
fn request_read_timeout(o: &ServerOptions) -> Option<String> {
    let part = |name: &str, timeout: u32, max: u32, rate: u32| {
        (timeout > 0).then(|| {
            let mut s = format!("{name}={timeout}");
            if max > 0 {
                s.push_str(&format!("-{max}"));
            }
            if rate > 0 {
                s.push_str(&format!(",MinRate={rate}"));
            }
            s
        })
    };
    let parts: Vec<String> = [
        part(
            "header",
            o.header_timeout,
            o.header_max_timeout,
            o.header_min_rate,
        ),
        part("body", o.body_timeout, o.body_max_timeout, o.body_min_rate),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The httpd modules the configuration uses, each loaded unless httpd has
/// it built in.
fn modules(p: &Plan) -> Result<String> {
    let o = &p.o;
    let mut c = format!(
        "LoadModule mpm_{m}_module {}\n",
        quote(
            &p.modules_dir
                .join(format!("mod_mpm_{m}.so", m = p.mpm.name()))
        )?,
        m = p.mpm.name()
    );
    let mut wanted = vec![
        "unixd",
        "authn_core",
        "authz_core",
        "authz_host",
        "mime",
        "alias",
    ];
    let optional = [
        (request_read_timeout(o).is_some(), "reqtimeout"),
        (p.static_first || o.https_only, "rewrite"),
        (o.directory_index.is_some(), "dir"),
        (o.directory_listing, "autoindex"),
        (
            !o.setenv_variables.is_empty() || !o.passenv_variables.is_empty(),
            "env",
        ),
        (o.hsts_policy.is_some() && o.https_only, "headers"),
        (o.compress_responses, "filter"),
        (o.compress_responses, "deflate"),
        (p.auth_user_script.is_some(), "auth_basic"),
        (p.auth_user_script.is_some(), "auth_digest"),
        (p.auth_user_script.is_some(), "authz_user"),
        (o.server_status, "status"),
        (p.tls.is_some(), "socache_shmcb"),
        (p.tls.is_some(), "ssl"),
        (p.logs.access.is_some(), "log_config"),
    ];
    wanted.extend(optional.iter().filter(|(on, _)| *on).map(|(_, m)| *m));
    for m in wanted {
        writeln!(
            c,
            "<IfModule !{m}_module>\nLoadModule {m}_module {}\n</IfModule>",
            quote(&p.modules_dir.join(format!("mod_{m}.so")))?
        )?;
    }
    writeln!(c, "LoadModule wsgi_module {}", quote(&p.module_so)?)?;
    Ok(c)
}

/// The error and access logs.
fn logs(p: &Plan) -> Result<String> {
    let o = &p.o;
    let mut c = format!(
        "ErrorLog {}\nLogLevel {}\n",
        quote_str(&p.logs.error, "the error log")?,
        o.log_level
    );
    if let Some(f) = &o.error_log_format {
        writeln!(c, "ErrorLogFormat {}", quote_str(f, "--error-log-format")?)?;
    }
    if let Some(access) = &p.logs.access {
        c.push_str("LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b\" common\n");
        c.push_str(
            "LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b \\\"%{Referer}i\\\" \\\"%{User-agent}i\\\"\" combined\n",
        );
        let nickname = match o.access_log_format.as_deref() {
            None => "common",
            Some(n @ ("common" | "combined")) => n,
            Some(custom) => {
                if custom.contains(['\\', '\n']) {
                    bail!("--access-log-format must be one line without backslashes");
                }
                writeln!(c, "LogFormat \"{}\" custom", custom.replace('"', "\\\""))?;
                "custom"
            }
        };
        writeln!(
            c,
            "CustomLog {} {nickname}",
            quote_str(access, "the access log")?
        )?;
    }
    Ok(c)
}

/// Python-script access control: --host-access-script, --auth-user-script
/// and --auth-group-script over the whole site.
fn access_control(p: &Plan) -> Result<String> {
    let o = &p.o;
    let mut c = String::new();
    if let Some(script) = &p.host_access_script {
        writeln!(
            c,
            "<Location />\n    WSGIAccessScript {}\n</Location>",
            quote(script)?
        )?;
    }
    if let Some(script) = &p.auth_user_script {
        writeln!(
            c,
            "<Location />\n    AuthType {t}\n    AuthName \"{}:{}\"\n    Auth{t}Provider wsgi\n    WSGIAuthUserScript {}",
            p.host,
            o.port,
            quote(script)?,
            t = o.auth_type
        )?;
        if let Some(group) = &p.auth_group_script {
            writeln!(c, "    WSGIAuthGroupScript {}", quote(group)?)?;
        }
        c.push_str("    <RequireAll>\n    Require valid-user\n");
        if p.auth_group_script.is_some() {
            writeln!(
                c,
                "    Require wsgi-group {}",
                quote_str(&o.auth_group, "--auth-group")?
            )?;
        }
        c.push_str("    </RequireAll>\n</Location>\n");
    }
    Ok(c)
}

/// The application: its script made accessible, mapped at the mount point
/// into the daemon group (or the Apache children), preloaded when its
/// interpreter is a fixed one, and the reload monitor beside it.
fn application(p: &Plan) -> Result<String> {
    let o = &p.o;
    let script = &p.app.script;
    let dir = script
        .parent()
        .context("the script path has no directory")?;
    let name = script
        .file_name()
        .and_then(|n| n.to_str())
        .context("the script's name is not valid UTF-8")?;
    let group = p.wsgi_process_group()?;
    let app_group = if o.application_group.starts_with("%{") {
        o.application_group.clone()
    } else {
        quote_str(&o.application_group, "--application-group")?
    };
    let mut c = format!(
        "<Directory {}>\n<Files {}>\n    Require all granted\n</Files>\n</Directory>\n",
        quote(dir)?,
        quote_str(name, "the script's name")?
    );
    writeln!(
        c,
        "WSGIScriptAlias {} {} process-group={group} application-group={app_group} callable-object={}",
        quote_str(&o.mount_point, "--mount-point")?,
        quote(script)?,
        p.app.callable_object
    )?;
    // A %{...} other than %{GLOBAL} names an interpreter per request, which
    // cannot be loaded in advance.
    let fixed = o.application_group == "%{GLOBAL}" || !o.application_group.contains("%{");
    if fixed {
        writeln!(
            c,
            "WSGIImportScript {} process-group={group} application-group={app_group}",
            quote(script)?
        )?;
    }
    if p.reload_monitor {
        writeln!(
            c,
            "WSGIImportScript {} process-group={group} application-group={app_group}",
            quote(&reloader::path(&p.server_root))?
        )?;
    }
    Ok(c)
}

/// A flag directive's or option's value.
pub(super) fn on_off(on: bool) -> &'static str {
    if on { "On" } else { "Off" }
}

pub(super) fn render_config(p: &Plan) -> Result<String> {
    let o = &p.o;
    let root = &p.server_root;
    let mut c = String::new();
    writeln!(
        c,
        "# Generated by wsgi-express {} (mod_wsgi-rs); rewritten on every start.\n\
         # Add to it with --include-file FILE.\n",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(c, "ServerName {}", host_name(&p.host))?;
    writeln!(c, "ServerRoot {}", quote(root)?)?;
    writeln!(c, "PidFile {}", quote(&p.pid_file)?)?;
    writeln!(c, "DefaultRuntimeDir {}", quote(root)?)?;
    writeln!(
        c,
        "Mutex {} default",
        quote_str(&format!("file:{}", root.display()), "the server root")?
    )?;
    c.push_str("ServerTokens ProductOnly\nServerSignature Off\n");
    if let Some((user, group)) = &p.run_as {
        writeln!(
            c,
            "User {}\nGroup {}",
            quote_str(user, "--user")?,
            quote_str(group, "--group")?
        )?;
    }
    writeln!(c, "Listen {}\n", listen_address(o.host.as_deref(), o.port))?;
    c.push_str(&modules(p)?);

    writeln!(
        c,
        "\nTypesConfig {}\nHostnameLookups Off\nMaxMemFree 64\nTimeout {}\nListenBacklog {}",
        quote(&p.mime_types)?,
        o.socket_timeout,
        o.server_backlog
    )?;
    if let Some(rrt) = request_read_timeout(o) {
        writeln!(c, "RequestReadTimeout {rrt}")?;
    }
    writeln!(c, "LimitRequestBody {}", o.limit_request_body)?;
    c.push_str("<Directory />\n    AllowOverride None\n    Require all denied\n</Directory>\n\n");

    if let Some(home) = &p.app.python_home {
        writeln!(c, "WSGIPythonHome {}", quote(home)?)?;
    }
    writeln!(
        c,
        "WSGISocketPrefix {}\nWSGISocketRotation Off",
        quote(&p.socket_prefix.join("wsgi"))?
    )?;
    writeln!(
        c,
        "WSGIDestroyInterpreter {}",
        on_off(!o.orphan_interpreter)
    )?;
    // As mod_wsgi-express: the scoreboard's extended fields go with it (and
    // with /server-status).
    if o.server_metrics || o.server_status {
        c.push_str("ExtendedStatus On\n");
    }
    writeln!(c, "WSGIServerMetrics {}", on_off(o.server_metrics))?;
    if p.daemon_mode() {
        c.push_str(&daemon::render(p)?);
    } else {
        writeln!(c, "MaxConnectionsPerChild {}", o.maximum_requests)?;
        let path = daemon::python_path(p)?;
        if !path.is_empty() {
            writeln!(c, "WSGIPythonPath {}", quote_str(&path, "--python-path")?)?;
        }
    }
    // As mod_wsgi-express: applications see the Authorization header.
    c.push_str("WSGIPassAuthorization On\n");
    writeln!(c, "WSGIMapHEADToGET {}", o.map_head_to_get)?;
    if !p.reloading() {
        c.push_str("WSGIScriptReloading Off\n");
    }
    if let Some(s) = o.switch_interval {
        writeln!(c, "WSGISwitchInterval {s}")?;
    }
    for w in &o.python_warnings {
        writeln!(
            c,
            "WSGIPythonWarnings {}",
            quote_str(w, "--python-warnings")?
        )?;
    }
    if o.keep_alive_timeout > 0 {
        writeln!(c, "KeepAlive On\nKeepAliveTimeout {}", o.keep_alive_timeout)?;
    } else {
        c.push_str("KeepAlive Off\n");
    }
    if o.enable_sendfile {
        c.push_str("EnableSendfile On\nWSGIEnableSendfile On\n");
    }
    if o.compress_responses {
        for t in [
            "text/plain",
            "text/html",
            "text/xml",
            "text/css",
            "text/javascript",
            "application/xhtml+xml",
            "application/javascript",
            "application/json",
        ] {
            writeln!(c, "AddOutputFilterByType DEFLATE {t}")?;
        }
    }
    c.push_str(&logs(p)?);
    if o.chunked_request {
        c.push_str("WSGIChunkedRequest On\n");
    }
    if !o.trusted_proxy_headers.is_empty() {
        writeln!(
            c,
            "WSGITrustedProxyHeaders {}",
            o.trusted_proxy_headers.join(" ")
        )?;
    }
    if !o.trusted_proxies.is_empty() {
        writeln!(c, "WSGITrustedProxies {}", o.trusted_proxies.join(" "))?;
    }
    if p.tls.is_some() {
        writeln!(
            c,
            "SSLSessionCache {}",
            quote_str(
                &format!("shmcb:{}(512000)", root.join("ssl_scache").display()),
                "the server root"
            )?
        )?;
    }

    c.push('\n');
    c.push_str(&sizing::render(o, p.mpm));
    c.push('\n');
    c.push_str(&vhosts::render(p)?);
    c.push('\n');
    c.push_str(&statics::document_root(p)?);
    if o.error_override {
        c.push_str("WSGIErrorOverride On\n");
    }
    c.push_str(&access_control(p)?);
    c.push('\n');
    c.push_str(&application(p)?);
    c.push_str(&statics::aliases(p)?);
    for (name, value) in o.setenv() {
        writeln!(
            c,
            "SetEnv {} {}",
            quote_str(name, "--setenv")?,
            quote_str(value, "--setenv")?
        )?;
    }
    for name in &o.passenv_variables {
        writeln!(c, "PassEnv {name}")?;
    }
    c.push_str(&resources::config(p)?);
    for url in &o.ignore_activity {
        writeln!(
            c,
            "<Location {}>\n    WSGIIgnoreActivity On\n</Location>",
            quote_str(url, "--ignore-activity")?
        )?;
    }
    if o.server_status {
        c.push_str(
            "<Location /server-status>\n    SetHandler server-status\n    \
             Require host localhost\n</Location>\n",
        );
    }
    for f in &p.include_files {
        writeln!(c, "Include {}", quote(f)?)?;
    }
    Ok(c)
}

#[cfg(test)]
pub(super) mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::app::App;
    use crate::cli::Mpm;
    use crate::cli::tests::server;
    use crate::settings::{Logs, Tls, UrlAlias};

    /// A plan for `args` on an imaginary machine (nothing is looked up).
    pub(crate) fn plan(args: &[&str]) -> Plan {
        let o = server(args);
        let root = PathBuf::from("/tmp/mod_wsgi-localhost:8000:0");
        Plan {
            host: o.host.clone().unwrap_or_else(|| "localhost".into()),
            process_group: "localhost:8000".into(),
            display_name: "(wsgi:localhost:8000:0)".into(),
            httpd: "/usr/sbin/apache2".into(),
            modules_dir: "/usr/lib/apache2/modules".into(),
            module_so: "/opt/m/libmod_wsgi_rs.so".into(),
            mpm: Mpm::Event,
            mime_types: "/etc/mime.types".into(),
            pid_file: root.join("httpd.pid"),
            logs: Logs {
                error: root.join("error_log").display().to_string(),
                access: o
                    .access_log
                    .then(|| root.join("access_log").display().to_string()),
                startup: None,
            },
            run_as: None,
            app: App {
                script: "/srv/app/hello.wsgi".into(),
                callable_object: o.callable_object.clone(),
                description: "/srv/app/hello.wsgi".into(),
                python_path: vec!["/srv/app".into()],
                python_home: None,
            },
            working_directory: "/srv/app".into(),
            python_eggs: root.join("python-eggs"),
            locale: "C.UTF-8".into(),
            document_root: root.join("htdocs"),
            static_first: false,
            url_aliases: Vec::new(),
            handler_scripts: Vec::new(),
            tls: None,
            include_files: Vec::new(),
            host_access_script: None,
            auth_user_script: None,
            auth_group_script: None,
            socket_prefix: root.clone(),
            reload_monitor: o.reload_on_changes,
            shell: "/bin/bash".into(),
            envvars_script: None,
            server_root: root,
            o,
        }
    }

    pub(crate) fn has_line(conf: &str, line: &str) -> bool {
        conf.lines().any(|l| l.trim() == line)
    }

    #[track_caller]
    fn assert_lines(c: &str, lines: &[&str]) {
        for line in lines {
            assert!(has_line(c, line), "missing `{line}` in\n{c}");
        }
    }

    #[test]
    fn daemon_mode_by_default_with_mod_wsgi_express_timeouts() {
        let c = render_config(&plan(&["app.wsgi"])).unwrap();
        assert_lines(
            &c,
            &[
                "ServerName localhost",
                "Listen 8000",
                "ServerRoot \"/tmp/mod_wsgi-localhost:8000:0\"",
                "LoadModule mpm_event_module \"/usr/lib/apache2/modules/mod_mpm_event.so\"",
                "LoadModule wsgi_module \"/opt/m/libmod_wsgi_rs.so\"",
                "Timeout 60",
                "ListenBacklog 500",
                "RequestReadTimeout header=15-30,MinRate=500 body=15,MinRate=500",
                "LimitRequestBody 10485760",
                "WSGISocketPrefix \"/tmp/mod_wsgi-localhost:8000:0/wsgi\"",
                "WSGIRestrictEmbedded On",
                "WSGIDaemonProcess \"localhost:8000\" \\",
                "display-name=\"(wsgi:localhost:8000:0)\" \\",
                "home=\"/srv/app\" \\",
                "threads=5 \\",
                "python-path=\"/srv/app\" \\",
                "lang=\"C.UTF-8\" \\",
                "listen-backlog=100 \\",
                "queue-timeout=45 \\",
                "socket-timeout=60 \\",
                "connect-timeout=15 \\",
                "request-timeout=60 \\",
                "startup-timeout=15 \\",
                "deadlock-timeout=60 \\",
                "graceful-timeout=15 \\",
                "shutdown-timeout=5 \\",
                "response-flush-delay=5 \\",
                "server-metrics=Off",
                "WSGIServerMetrics Off",
                "WSGIPassAuthorization On",
                "WSGIMapHEADToGET Auto",
                "ErrorLog \"/tmp/mod_wsgi-localhost:8000:0/error_log\"",
                "LogLevel warn",
                "KeepAlive On",
                "KeepAliveTimeout 2",
                "<VirtualHost _default_:8000>",
                "<Files \"hello.wsgi\">",
                "WSGIScriptAlias \"/\" \"/srv/app/hello.wsgi\" process-group=\"localhost:8000\" application-group=%{GLOBAL} callable-object=application",
                "WSGIImportScript \"/srv/app/hello.wsgi\" process-group=\"localhost:8000\" application-group=%{GLOBAL}",
            ],
        );
        for absent in [
            "processes=",
            "interrupt-timeout",
            "WSGIScriptReloading",
            "CustomLog",
            "User ",
            "SSLEngine",
            "RewriteEngine",
            "memory-limit",
        ] {
            assert!(!c.contains(absent), "unexpected {absent} in\n{c}");
        }
    }

    #[test]
    fn daemon_options_follow_the_command_line() {
        let c = render_config(&plan(&[
            "--processes",
            "2",
            "--threads",
            "4",
            "--request-timeout",
            "30",
            "--interrupt-timeout",
            "0",
            "--maximum-requests",
            "100",
            "--memory-limit",
            "1000000",
            "--process-group",
            "web",
            "--switch-interval",
            "0.01",
            "--server-metrics",
            "--ignore-activity",
            "/health/",
            "app.wsgi",
        ]))
        .unwrap();
        assert_lines(
            &c,
            &[
                "processes=2 \\",
                "threads=4 \\",
                "request-timeout=30 \\",
                "interrupt-timeout=0 \\",
                "maximum-requests=100 \\",
                "memory-limit=1000000 \\",
                "switch-interval=0.01 \\",
                "server-metrics=On",
                "WSGISwitchInterval 0.01",
                "ExtendedStatus On",
                "WSGIServerMetrics On",
                "<Location \"/health\">",
                "WSGIIgnoreActivity On",
            ],
        );
    }

    #[test]
    fn embedded_mode() {
        let c = render_config(&plan(&["--embedded-mode", "--maximum-requests", "7", "a"])).unwrap();
        assert_lines(
            &c,
            &[
                "MaxConnectionsPerChild 7",
                "WSGIPythonPath \"/srv/app\"",
                "WSGIScriptReloading Off",
                "WSGIScriptAlias \"/\" \"/srv/app/hello.wsgi\" process-group=%{GLOBAL} application-group=%{GLOBAL} callable-object=application",
            ],
        );
        assert!(!c.contains("WSGIDaemonProcess") && !c.contains("WSGIRestrictEmbedded"));
    }

    #[test]
    fn static_files_logs_and_extras() {
        let mut p = plan(&[
            "--host",
            "127.0.0.1",
            "--access-log",
            "--access-log-format",
            "%h \"%r\"",
            "--directory-index",
            "index.html",
            "--setenv",
            "MODE",
            "prod",
            "--passenv",
            "HOME",
            "--trust-proxy-header",
            "X-Forwarded-For",
            "--trust-proxy",
            "10.0.0.0/8",
            "--error-document",
            "404",
            "/missing",
            "--compress-responses",
            "--keep-alive-timeout",
            "0",
            "--reload-on-changes",
            "--orphan-interpreter",
            "a",
        ]);
        p.static_first = true;
        p.document_root = "/srv/static".into();
        p.url_aliases = vec![
            UrlAlias {
                url: "/static".into(),
                target: "/srv/s".into(),
                file: false,
            },
            UrlAlias {
                url: "/favicon.ico".into(),
                target: "/srv/f/favicon.ico".into(),
                file: true,
            },
        ];
        p.include_files = vec!["/etc/extra.conf".into()];
        let c = render_config(&p).unwrap();
        assert_lines(
            &c,
            &[
                "Listen 127.0.0.1:8000",
                "ServerName 127.0.0.1",
                "LogFormat \"%h \\\"%r\\\"\" custom",
                "CustomLog \"/tmp/mod_wsgi-localhost:8000:0/access_log\" custom",
                "DocumentRoot \"/srv/static\"",
                "DirectoryIndex index.html",
                "RewriteCond \"/srv/static$1\" -d [OR]",
                "RewriteCond \"/srv/static$1\" -f",
                "RewriteRule \"^(/.*)$\" \"/srv/static$1\" [L]",
                "RewriteOptions Inherit",
                "Alias \"/static\" \"/srv/s\"",
                "Alias \"/favicon.ico\" \"/srv/f/favicon.ico\"",
                "<Files \"favicon.ico\">",
                "SetEnv \"MODE\" \"prod\"",
                "PassEnv HOME",
                "WSGITrustedProxyHeaders X-Forwarded-For",
                "WSGITrustedProxies 10.0.0.0/8",
                "ErrorDocument 404 \"/missing\"",
                "AddOutputFilterByType DEFLATE text/html",
                "KeepAlive Off",
                "WSGIDestroyInterpreter Off",
                "WSGIImportScript \"/tmp/mod_wsgi-localhost:8000:0/reload-monitor.py\" process-group=\"localhost:8000\" application-group=%{GLOBAL}",
                "Include \"/etc/extra.conf\"",
                "LoadModule rewrite_module \"/usr/lib/apache2/modules/mod_rewrite.so\"",
                "LoadModule env_module \"/usr/lib/apache2/modules/mod_env.so\"",
                "LoadModule deflate_module \"/usr/lib/apache2/modules/mod_deflate.so\"",
            ],
        );
        // Longest URL first.
        assert!(c.find("Alias \"/static\"").unwrap() < c.find("Alias \"/favicon.ico\"").unwrap());
    }

    #[test]
    fn https_and_server_names() {
        let mut p = plan(&[
            "--https-port",
            "8443",
            "--server-name",
            "www.example.com",
            "--server-alias",
            "*.example.com",
            "--https-only",
            "--hsts-policy",
            "max-age=60",
            "--ssl-environment",
            "a",
        ]);
        p.tls = Some(Tls {
            port: 8443,
            certificate: "/c/server.crt".into(),
            key: "/c/server.key".into(),
            chain: None,
            ca: None,
        });
        let c = render_config(&p).unwrap();
        assert_lines(
            &c,
            &[
                "Listen 8443",
                "<VirtualHost _default_:8443>",
                "<VirtualHost *:8443>",
                "ServerName www.example.com",
                "ServerAlias *.example.com",
                "ServerName _wsgi_",
                "Require all denied",
                "ServerName example.com",
                "Redirect permanent / https://www.example.com:8443/",
                "RewriteRule (.*) https://www.example.com:8443%{REQUEST_URI}",
                "SSLEngine On",
                "SSLCertificateFile \"/c/server.crt\"",
                "SSLCertificateKeyFile \"/c/server.key\"",
                "Header set Strict-Transport-Security \"max-age=60\"",
                "SSLOptions +StdEnvVars",
                "LoadModule ssl_module \"/usr/lib/apache2/modules/mod_ssl.so\"",
            ],
        );
        // Without a server name: one host on each port.
        let mut p = plan(&["--https-port", "8443", "a"]);
        p.tls = Some(Tls {
            port: 8443,
            certificate: "/c/s.crt".into(),
            key: "/c/s.key".into(),
            chain: Some("/c/chain.pem".into()),
            ca: Some("/c/ca.pem".into()),
        });
        let c = render_config(&p).unwrap();
        assert_lines(
            &c,
            &[
                "<VirtualHost _default_:8443>",
                "SSLCertificateChainFile \"/c/chain.pem\"",
                "SSLCACertificateFile \"/c/ca.pem\"",
                "SSLVerifyClient require",
            ],
        );
        assert!(!c.contains("ServerName _wsgi_"));
    }

    #[test]
    fn access_control_scripts() {
        let mut p = plan(&["--auth-type", "digest", "--auth-group", "staff", "a"]);
        p.auth_user_script = Some("/srv/auth.py".into());
        p.auth_group_script = Some("/srv/groups.py".into());
        p.host_access_script = Some("/srv/hosts.py".into());
        let c = render_config(&p).unwrap();
        assert_lines(
            &c,
            &[
                "WSGIAccessScript \"/srv/hosts.py\"",
                "AuthType Digest",
                "AuthDigestProvider wsgi",
                "WSGIAuthUserScript \"/srv/auth.py\"",
                "WSGIAuthGroupScript \"/srv/groups.py\"",
                "Require wsgi-group \"staff\"",
            ],
        );
    }

    #[test]
    fn a_per_request_application_group_is_not_preloaded() {
        let c = render_config(&plan(&["--application-group", "%{RESOURCE}", "a"])).unwrap();
        assert!(!c.contains("WSGIImportScript"), "{c}");
        let c = render_config(&plan(&["--application-group", "my app", "a"])).unwrap();
        assert!(c.contains("application-group=\"my app\""), "{c}");
    }

    #[test]
    fn unwritable_values_are_refused() {
        let mut p = plan(&["a"]);
        p.app.script = "/srv/a\"b/app.wsgi".into();
        let e = format!("{:#}", render_config(&p).unwrap_err());
        assert!(e.contains("cannot be written"), "{e}");
        let mut p = plan(&["a"]);
        p.app.python_path = vec!["/a:b".into()];
        let e = format!("{:#}", render_config(&p).unwrap_err());
        assert!(e.contains("contains ':'"), "{e}");
        assert!(render_config(&plan(&["--setenv", "A", "${X}", "a"])).is_err());
        assert_eq!(
            quote(Path::new("/with space/x")).unwrap(),
            "\"/with space/x\""
        );
    }

    #[test]
    fn urls_and_listen_addresses() {
        assert_eq!(
            url("http", "localhost", 8000, "/"),
            "http://localhost:8000/"
        );
        assert_eq!(url("http", "0.0.0.0", 80, "/app"), "http://localhost/app/");
        assert_eq!(url("https", "::1", 443, "/"), "https://[::1]/");
        assert_eq!(listen_address(Some("::"), 8000), "[::]:8000");
        assert_eq!(listen_address(None, 80), "80");
    }
}
