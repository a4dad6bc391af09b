//! The access-control directives: `WSGIAccessScript`, `WSGIAuthUserScript`,
//! `WSGIAuthGroupScript` and `WSGIGroupAuthoritative` (mod_wsgi's
//! `wsgi_set_access_script` & co.), and the interpreter naming their scripts
//! use (`wsgi_server_group`). Pure code, unit tested.

use std::sync::atomic::{AtomicBool, Ordering};

use super::directives::{Applied, Call, Target};
use super::error::ConfigError;
use super::scripts::{GroupScript, parse_group_script};

/// The per-directory access-control settings (a field of `DirConfig`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AuthSettings {
    /// `WSGIAccessScript`: `allow_access(environ, host)` in the access checker.
    pub(crate) access_script: Option<GroupScript>,
    /// `WSGIAuthUserScript`: the `wsgi` authn provider's `check_password` /
    /// `get_realm_hash`.
    pub(crate) auth_user_script: Option<GroupScript>,
    /// `WSGIAuthGroupScript`: `groups_for_user` for `Require wsgi-group`.
    pub(crate) auth_group_script: Option<GroupScript>,
    /// `WSGIGroupAuthoritative`. Accepted, kept and merged like mod_wsgi 6,
    /// which (on Apache 2.4) does not consult it either: whether a failed
    /// `Require wsgi-group` is final is decided by `<RequireAny>`/`<RequireAll>`.
    /// Unset means On, mod_wsgi's default.
    group_authoritative: Option<bool>,
}

impl AuthSettings {
    /// `self` (the more specific section) over `base`, field by field.
    pub(super) fn over(&self, base: &AuthSettings) -> AuthSettings {
        AuthSettings {
            access_script: self
                .access_script
                .clone()
                .or_else(|| base.access_script.clone()),
            auth_user_script: self
                .auth_user_script
                .clone()
                .or_else(|| base.auth_user_script.clone()),
            auth_group_script: self
                .auth_group_script
                .clone()
                .or_else(|| base.auth_group_script.clone()),
            group_authoritative: self.group_authoritative.or(base.group_authoritative),
        }
    }
}

/// Set once any access-control or dispatch script is configured: Python
/// must then start in the Apache children even under `WSGIRestrictEmbedded
/// On` (mod_wsgi's `wsgi_python_required`). Scripts named only in
/// `.htaccess` files are read per request, too late for this, as in mod_wsgi.
static PYTHON_REQUIRED: AtomicBool = AtomicBool::new(false);

pub(crate) fn python_required() -> bool {
    PYTHON_REQUIRED.load(Ordering::Relaxed)
}

/// Records that a script that runs in the Apache children is configured.
pub(super) fn require_python() {
    PYTHON_REQUIRED.store(true, Ordering::Relaxed);
}

/// Records a script directive's script in the directory's settings.
fn set_script(
    c: &Call<'_>,
    target: &mut Target<'_>,
    field: fn(&mut AuthSettings) -> &mut Option<GroupScript>,
) -> Applied {
    let auth = &mut target.dir(c.name)?.auth;
    let missing = ConfigError::MissingScript { directive: c.name };
    *field(auth) = Some(parse_group_script(c.name, c.words, missing, |_| None)?);
    // Access-control scripts run in the Apache children whatever else is
    // configured: Python must start there.
    require_python();
    Ok(())
}

/// `WSGIAccessScript path [application-group=NAME]`.
pub(super) fn access_script(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    set_script(c, target, |a| &mut a.access_script)
}

/// `WSGIAuthUserScript path [application-group=NAME]`.
pub(super) fn auth_user_script(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    set_script(c, target, |a| &mut a.auth_user_script)
}

/// `WSGIAuthGroupScript path [application-group=NAME]`.
pub(super) fn auth_group_script(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    set_script(c, target, |a| &mut a.auth_group_script)
}

/// `WSGIGroupAuthoritative On | Off`.
pub(super) fn group_authoritative(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    target.dir(c.name)?.auth.group_authoritative = Some(c.flag()?);
    Ok(())
}

/// The interpreter an access-control script runs in (`wsgi_server_group`):
/// unset or `%{GLOBAL}` is the main interpreter (`""`); `%{SERVER}` and
/// `%{HOST}` expand as for WSGIApplicationGroup; anything else, including
/// `%{RESOURCE}` and `%{ENV:...}`, is taken literally, as mod_wsgi does.
pub(crate) fn script_group(
    value: Option<&str>,
    server_hostname: &str,
    port: u16,
    request_hostname: Option<&str>,
) -> String {
    let with_port = |host: &str| {
        if matches!(port, 0 | 80 | 443) {
            host.to_string()
        } else {
            format!("{host}:{port}")
        }
    };
    match value {
        None | Some("%{GLOBAL}") => String::new(),
        Some("%{SERVER}") => with_port(server_hostname),
        Some("%{HOST}") => with_port(
            request_hostname
                .filter(|h| !h.is_empty())
                .unwrap_or(server_hostname),
        ),
        Some(name) => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::DirConfig;
    use crate::config::testing::{dir, server};

    #[test]
    fn scripts_and_options() {
        let d = dir(&[
            "WSGIAuthUserScript /srv/auth.wsgi",
            "WSGIAuthGroupScript '/srv/my groups.wsgi' application-group=site",
            "WSGIAccessScript /srv/access.wsgi application-group=%{GLOBAL}",
            "WSGIGroupAuthoritative off",
        ])
        .unwrap();
        let a = &d.auth;
        assert_eq!(
            a.auth_user_script,
            Some(GroupScript {
                path: "/srv/auth.wsgi".into(),
                application_group: None
            })
        );
        let g = a.auth_group_script.as_ref().unwrap();
        assert_eq!(g.path, "/srv/my groups.wsgi");
        assert_eq!(g.application_group.as_deref(), Some("site"));
        assert_eq!(
            a.access_script
                .as_ref()
                .unwrap()
                .application_group
                .as_deref(),
            Some("%{GLOBAL}")
        );
        assert_eq!(a.group_authoritative, Some(false));
        assert!(python_required());
    }

    #[test]
    fn malformed_lines_are_refused() {
        let e = dir(&["WSGIAuthUserScript"]).unwrap_err();
        assert!(e.contains("needs the path of a Python script"), "{e}");
        let e = dir(&["WSGIAuthUserScript auth.wsgi"]).unwrap_err();
        assert!(e.contains("must be an absolute path"), "{e}");
        let e = dir(&["WSGIAccessScript /a.wsgi process-group=x"]).unwrap_err();
        assert!(e.contains("unknown option 'process-group'"), "{e}");
        let e = dir(&["WSGIAccessScript /a.wsgi application-group="]).unwrap_err();
        assert!(e.contains("must not be empty"), "{e}");
        let e = dir(&["WSGIAccessScript /a.wsgi extra"]).unwrap_err();
        assert!(e.contains("unexpected argument 'extra'"), "{e}");
        let e = dir(&["WSGIGroupAuthoritative maybe"]).unwrap_err();
        assert!(e.contains("On or Off"), "{e}");
        let e = dir(&["WSGIGroupAuthoritative"]).unwrap_err();
        assert!(e.contains("takes one argument"), "{e}");
        let e = server(&["WSGIAuthUserScript /a.wsgi"]).unwrap_err();
        assert!(e.contains("only allowed inside <Directory>"), "{e}");
    }

    #[test]
    fn inner_sections_win_field_by_field() {
        let outer = dir(&[
            "WSGIAuthUserScript /outer.wsgi",
            "WSGIAccessScript /access.wsgi",
            "WSGIGroupAuthoritative Off",
        ])
        .unwrap();
        let inner = dir(&["WSGIAuthUserScript /inner.wsgi"]).unwrap();
        let m = DirConfig::merge(&outer, &inner).auth;
        assert_eq!(m.auth_user_script.unwrap().path, "/inner.wsgi");
        assert_eq!(m.access_script.unwrap().path, "/access.wsgi");
        assert_eq!(m.group_authoritative, Some(false));
        assert!(m.auth_group_script.is_none());
    }

    #[test]
    fn script_groups_follow_wsgi_server_group() {
        let g = |v, port, host| script_group(v, "www.example.com", port, host);
        assert_eq!(g(None, 8080, None), "");
        assert_eq!(g(Some("%{GLOBAL}"), 8080, None), "");
        assert_eq!(g(Some("%{SERVER}"), 80, None), "www.example.com");
        assert_eq!(g(Some("%{SERVER}"), 8080, None), "www.example.com:8080");
        assert_eq!(
            g(Some("%{HOST}"), 8080, Some("alias.example.com")),
            "alias.example.com:8080"
        );
        assert_eq!(g(Some("%{HOST}"), 443, Some("")), "www.example.com");
        assert_eq!(g(Some("django"), 8080, None), "django");
        assert_eq!(g(Some("%{RESOURCE}"), 80, None), "%{RESOURCE}");
    }
}
