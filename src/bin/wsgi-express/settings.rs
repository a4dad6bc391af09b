//! The options resolved against this machine into a `Plan`: every path
//! absolute, the MPM chosen, the logs placed, who the server runs as, the
//! daemon group named. The generated files are pure functions of a `Plan`
//! (see `render`, `apachectl`).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use mod_wsgi_rs::os as sys;

use crate::app::{self, App, AppSpec};
use crate::cli::{Mpm, ServerOptions};
use crate::render::quote_str;
use crate::{absolute, locate, logs, privileges, server_root, warn};

/// Where the logs go, as httpd is told: a file, a device, or `|command`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Logs {
    pub(super) error: String,
    pub(super) access: Option<String>,
    /// `httpd -E` target (`--startup-log`).
    pub(super) startup: Option<String>,
}

/// A `--url-alias`, its target made absolute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct UrlAlias {
    pub(super) url: String,
    pub(super) target: PathBuf,
    /// The target is an existing file (else a directory, existing or not).
    pub(super) file: bool,
}

/// HTTPS: its port and mod_ssl's files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Tls {
    pub(super) port: u16,
    pub(super) certificate: PathBuf,
    pub(super) key: PathBuf,
    pub(super) chain: Option<PathBuf>,
    pub(super) ca: Option<PathBuf>,
}

/// Everything the generated files need.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    pub(super) o: ServerOptions,
    pub(super) server_root: PathBuf,
    /// `--host`, or `localhost` (mod_wsgi-express's name for all interfaces).
    pub(super) host: String,
    pub(super) process_group: String,
    pub(super) display_name: String,
    pub(super) httpd: PathBuf,
    pub(super) modules_dir: PathBuf,
    pub(super) module_so: PathBuf,
    pub(super) mpm: Mpm,
    pub(super) mime_types: PathBuf,
    pub(super) pid_file: PathBuf,
    pub(super) logs: Logs,
    /// `(user, group)` for `User`/`Group`: only when started as root.
    pub(super) run_as: Option<(String, String)>,
    pub(super) app: App,
    pub(super) working_directory: PathBuf,
    pub(super) python_eggs: PathBuf,
    pub(super) locale: String,
    pub(super) document_root: PathBuf,
    /// `--document-root` was given: its files take precedence over the app.
    pub(super) static_first: bool,
    pub(super) url_aliases: Vec<UrlAlias>,
    /// --add-handler: each extension (with its dot) and its script.
    pub(super) handler_scripts: Vec<(String, PathBuf)>,
    pub(super) tls: Option<Tls>,
    pub(super) include_files: Vec<PathBuf>,
    pub(super) host_access_script: Option<PathBuf>,
    pub(super) auth_user_script: Option<PathBuf>,
    pub(super) auth_group_script: Option<PathBuf>,
    pub(super) socket_prefix: PathBuf,
    /// The reload monitor runs in the daemon processes.
    pub(super) reload_monitor: bool,
    pub(super) shell: PathBuf,
    pub(super) envvars_script: Option<PathBuf>,
}

impl Plan {
    pub(super) fn daemon_mode(&self) -> bool {
        !self.o.embedded_mode
    }

    /// The `process-group=` of the application's directives: the daemon
    /// group, or `%{GLOBAL}` in embedded mode.
    pub(super) fn wsgi_process_group(&self) -> Result<String> {
        if self.daemon_mode() {
            quote_str(&self.process_group, "--process-group")
        } else {
            Ok("%{GLOBAL}".to_string())
        }
    }

    /// WSGIScriptReloading: as mod_wsgi-express, off in embedded mode.
    pub(super) fn reloading(&self) -> bool {
        !self.o.disable_reloading && self.daemon_mode()
    }

    pub(super) fn conf(&self) -> PathBuf {
        self.server_root.join("httpd.conf")
    }

    pub(super) fn apachectl(&self) -> PathBuf {
        self.server_root.join("apachectl")
    }
}

/// Resolves `o` (relative paths against the current directory), making the
/// server root and the directories it holds.
pub(super) fn resolve(o: &ServerOptions) -> Result<Plan> {
    let cwd = std::env::current_dir().context("current directory")?;
    let entry = o
        .entry_point
        .as_deref()
        .or(o.app.as_deref())
        .context("no application given (APP or --entry-point)")?;
    let spec = app::classify_app(
        entry,
        &o.application_type,
        &o.callable_object,
        Path::new(entry).is_file(),
    )?;
    check_combinations(o)?;

    let host = o.host.clone().unwrap_or_else(|| "localhost".into());
    let httpd = locate::find_apache(o.httpd_executable.as_deref())?;
    let module_so = locate::find_module(o.module.as_deref())?;
    let modules_dir = locate::modules_dir(o.modules_directory.as_deref())?;
    let mpm = locate::choose_mpm(&modules_dir, &o.server_mpm)?;
    let server_root = server_root::prepare(
        o.server_root.as_deref(),
        &format!("mod_wsgi-{host}:{}:{}", o.port, sys::uid()),
    )?;

    let working_directory = working_directory(o, &spec, &cwd)?;
    let mut app = app::resolve(&spec, o, &working_directory, &server_root)?;
    if !app.python_path.contains(&working_directory) {
        app.python_path.push(working_directory.clone());
    }
    let run_as = privileges::run_as(o.user.as_deref(), o.group.as_deref(), &app)?;

    let python_eggs = match &o.python_eggs {
        Some(p) => cwd.join(p),
        None => server_root.join("python-eggs"),
    };
    server_root::make_dir_for(&python_eggs, run_as.as_ref())?;
    let logs = logs::resolve(o, &server_root)?;

    let process_group = o
        .process_group
        .clone()
        .unwrap_or_else(|| format!("{host}:{}", o.port));
    let display_name = match &o.process_group {
        Some(g) => format!("(wsgi:{g})"),
        None => format!("(wsgi:{host}:{}:{})", o.port, sys::uid()),
    };
    let reload_monitor = o.reload_on_changes && !o.disable_reloading;
    if reload_monitor && o.embedded_mode {
        warn("--reload-on-changes has no effect with --embedded-mode (as in mod_wsgi-express)");
    }
    if reload_monitor && o.application_group.contains("%{") && o.application_group != "%{GLOBAL}" {
        bail!(
            "--reload-on-changes needs a fixed --application-group (%{{GLOBAL}} or a name), not '{}'",
            o.application_group
        );
    }
    let abs = |p: &Path| cwd.join(p);
    Ok(Plan {
        host,
        process_group,
        display_name,
        mime_types: o.mime_types.as_deref().map_or_else(locate::mime_types, abs),
        pid_file: o
            .pid_file
            .as_deref()
            .map_or_else(|| server_root.join("httpd.pid"), abs),
        document_root: o
            .document_root
            .as_deref()
            .map_or_else(|| server_root.join("htdocs"), abs),
        // --add-handler files are document root files: they too come first.
        static_first: o.document_root.is_some() || !o.handler_scripts.is_empty(),
        url_aliases: o
            .url_aliases()
            .map(|(url, target)| url_alias(url, &cwd.join(target)))
            .collect::<Result<_>>()?,
        handler_scripts: o
            .handler_scripts()
            .map(|(extension, script)| handler_script(extension, &cwd.join(script)))
            .collect::<Result<_>>()?,
        tls: tls(o, &cwd)?,
        include_files: o
            .include_files
            .iter()
            .map(|f| absolute(&cwd.join(f)).context("--include-file"))
            .collect::<Result<_>>()?,
        host_access_script: o.host_access_script.as_deref().map(abs),
        auth_user_script: o.auth_user_script.as_deref().map(abs),
        auth_group_script: o.auth_group_script.as_deref().map(abs),
        socket_prefix: o
            .socket_prefix
            .as_deref()
            .map_or_else(|| server_root.clone(), abs),
        reload_monitor: reload_monitor && !o.embedded_mode,
        shell: o
            .shell_executable
            .clone()
            .unwrap_or_else(locate::default_shell),
        envvars_script: o.envvars_script.as_deref().map(abs),
        locale: locale(o),
        o: o.clone(),
        server_root,
        httpd,
        modules_dir,
        module_so,
        mpm,
        logs,
        run_as,
        app,
        working_directory,
        python_eggs,
    })
}

/// One --add-handler: its extension, with a leading dot (AddHandler takes
/// it either way; the handler script finds modules by it with one), and the
/// script, which must exist.
fn handler_script(extension: &str, script: &Path) -> Result<(String, PathBuf)> {
    let bare = extension.strip_prefix('.').unwrap_or(extension);
    if bare.is_empty()
        || !bare
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        bail!("--add-handler needs a file extension such as .md, not '{extension}'");
    }
    let script = absolute(script).context("--add-handler")?;
    Ok((format!(".{}", bare.to_ascii_lowercase()), script))
}

/// Options that only make sense together.
fn check_combinations(o: &ServerOptions) -> Result<()> {
    let certificates = o.ssl_certificate_file.is_some()
        || o.ssl_certificate_key_file.is_some()
        || o.ssl_certificate.is_some()
        || o.ssl_ca_certificate_file.is_some()
        || o.ssl_certificate_chain_file.is_some();
    if certificates && o.https_port.is_none() {
        bail!("--https-port must be given with the SSL certificate options");
    }
    if o.https_only && o.https_port.is_none() {
        bail!("--https-only needs --https-port");
    }
    if o.https_port == Some(o.port) {
        bail!("--https-port must differ from --port");
    }
    if !o.ssl_verify_client_urls.is_empty() && o.ssl_ca_certificate_file.is_none() {
        bail!("--ssl-verify-client needs --ssl-ca-certificate-file");
    }
    if o.auth_group_script.is_some() && o.auth_user_script.is_none() {
        bail!("--auth-group-script needs --auth-user-script");
    }
    for (status, _) in o.error_documents() {
        if !matches!(status.parse::<u16>(), Ok(400..=599)) {
            bail!("--error-document needs an HTTP error status (400-599), not '{status}'");
        }
    }
    for (url, _) in o.url_aliases() {
        if !url.starts_with('/') {
            bail!("--url-alias needs a URL path starting with '/', not '{url}'");
        }
    }
    Ok(())
}

/// The daemon's home (and a `sys.path` entry): --working-directory, else
/// the current directory — unless the children could not enter it (e.g.
/// /root), when a script's own directory is used instead.
fn working_directory(o: &ServerOptions, spec: &AppSpec, cwd: &Path) -> Result<PathBuf> {
    if let Some(w) = &o.working_directory {
        return absolute(&cwd.join(w)).context("--working-directory");
    }
    if let AppSpec::Script(script) = spec
        && !privileges::enterable(o.user.as_deref(), o.group.as_deref(), cwd)
    {
        let dir = absolute(script)?
            .parent()
            .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
        warn(&format!(
            "the current directory {} cannot be entered by the user the server runs as; \
             the application runs in {} (see --working-directory)",
            cwd.display(),
            dir.display()
        ));
        return Ok(dir);
    }
    Ok(cwd.to_path_buf())
}

fn url_alias(url: &str, target: &Path) -> Result<UrlAlias> {
    Ok(UrlAlias {
        url: url.to_string(),
        file: target.is_file(),
        target: normalise(target),
    })
}

/// `p` without `.` components and with `..` applied (as Python's
/// `posixpath.abspath`, without touching the file system).
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

fn tls(o: &ServerOptions, cwd: &Path) -> Result<Option<Tls>> {
    let Some(port) = o.https_port else {
        return Ok(None);
    };
    let from_common = |ext: &str| {
        o.ssl_certificate
            .as_ref()
            .map(|c| PathBuf::from(format!("{}.{ext}", c.display())))
    };
    let certificate = o
        .ssl_certificate_file
        .clone()
        .or_else(|| from_common("crt"));
    let key = o
        .ssl_certificate_key_file
        .clone()
        .or_else(|| from_common("key"));
    let (Some(certificate), Some(key)) = (certificate, key) else {
        bail!(
            "--https-port needs --ssl-certificate-file and --ssl-certificate-key-file \
             (or --ssl-certificate PATH for PATH.crt and PATH.key)"
        );
    };
    let file = |p: &Path, what: &str| absolute(&cwd.join(p)).with_context(|| what.to_string());
    Ok(Some(Tls {
        port,
        certificate: file(&certificate, "the SSL certificate")?,
        key: file(&key, "the SSL certificate key")?,
        chain: o
            .ssl_certificate_chain_file
            .as_deref()
            .map(|p| file(p, "--ssl-certificate-chain-file"))
            .transpose()?,
        ca: o
            .ssl_ca_certificate_file
            .as_deref()
            .map(|p| file(p, "--ssl-ca-certificate-file"))
            .transpose()?,
    }))
}

/// --locale (else --lang), else this process's locale; C and POSIX become
/// C.UTF-8 so the application's text I/O is UTF-8 (mod_wsgi-express tries
/// en_US.UTF-8 first).
fn locale(o: &ServerOptions) -> String {
    if let Some(l) = o.locale.as_ref().or(o.lang.as_ref()) {
        return l.clone();
    }
    let env = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.is_empty());
    default_locale(env.as_deref())
}

fn default_locale(env: Option<&str>) -> String {
    match env {
        None | Some("C" | "POSIX") => "C.UTF-8".into(),
        Some(l) if l.contains(|c: char| c.is_whitespace() || "\"'\\$".contains(c)) => {
            "C.UTF-8".into()
        }
        Some(l) => l.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales() {
        assert_eq!(default_locale(None), "C.UTF-8");
        assert_eq!(default_locale(Some("POSIX")), "C.UTF-8");
        assert_eq!(default_locale(Some("de_DE.UTF-8")), "de_DE.UTF-8");
        assert_eq!(default_locale(Some("a b")), "C.UTF-8");
    }

    #[test]
    fn paths_are_normalised_without_the_file_system() {
        assert_eq!(normalise(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }

    #[test]
    fn combinations() {
        use crate::cli::tests::server;
        let err = |args: &[&str]| format!("{:#}", check_combinations(&server(args)).unwrap_err());
        assert!(err(&["--ssl-certificate-file", "c", "a"]).contains("--https-port must be given"));
        assert!(err(&["--https-only", "a"]).contains("--https-only needs"));
        assert!(err(&["--https-port", "8000", "a"]).contains("must differ"));
        assert!(err(&["--error-document", "200", "/x", "a"]).contains("400-599"));
        assert!(err(&["--auth-group-script", "g.py", "a"]).contains("--auth-user-script"));
        assert!(check_combinations(&server(&["--https-port", "8443", "a"])).is_ok());
    }
}
