//! `chroot=`: what paths become inside the daemon's new root. Apache
//! children see the host's file system, the daemon only the jail, so (as
//! mod_wsgi does in the daemon) the script path and SCRIPT_FILENAME (the
//! same file, or a WSGIHandlerScript's target) lose the jail's prefix, a
//! script or target outside the jail is refused, and DOCUMENT_ROOT (and
//! CONTEXT_DOCUMENT_ROOT) is rewritten when inside, removed otherwise.
//! Pure.

use super::error::Refused;
use crate::python::RequestSpec;

/// The jail directory without trailing slashes (`/` stays `/`).
fn normalized(root: &str) -> &str {
    let r = root.trim_end_matches('/');
    if r.is_empty() { "/" } else { r }
}

/// `path` as seen inside the jail `root`, if it lies within it.
pub(crate) fn inside(root: &str, path: &str) -> Option<String> {
    let root = normalized(root);
    if root == "/" {
        return Some(path.to_string());
    }
    let rest = path.strip_prefix(root)?;
    if rest.is_empty() {
        Some("/".into())
    } else if rest.starts_with('/') {
        Some(rest.to_string())
    } else {
        None
    }
}

/// Rewrites a request's paths for a daemon chrooted into `root`; `Err` (the
/// message to log) when its script is outside the jail.
pub(crate) fn rewrite_request(root: &str, spec: &mut RequestSpec) -> Result<(), Refused> {
    let Some(script) = inside(root, &spec.script_path).filter(|s| s != "/") else {
        return Err(Refused(format!(
            "WSGI script '{}' is not located within chroot directory '{root}'; rejecting request.",
            spec.script_path
        )));
    };
    spec.script_path = script;
    let mut kept = Vec::with_capacity(spec.cgi.vars.len());
    for (name, value, decode) in std::mem::take(&mut spec.cgi.vars) {
        let value = match name.as_str() {
            "SCRIPT_FILENAME" => match std::str::from_utf8(&value)
                .ok()
                .and_then(|v| inside(root, v))
            {
                Some(v) => v.into_bytes(),
                None => {
                    return Err(Refused(format!(
                        "WSGI script '{}' is not located within chroot directory '{root}'; rejecting request.",
                        String::from_utf8_lossy(&value)
                    )));
                }
            },
            "DOCUMENT_ROOT" | "CONTEXT_DOCUMENT_ROOT" => {
                match std::str::from_utf8(&value)
                    .ok()
                    .and_then(|v| inside(root, v))
                {
                    Some(v) => v.into_bytes(),
                    // Outside the jail it names nothing the application can use.
                    None => continue,
                }
            }
            _ => value,
        };
        kept.push((name, value, decode));
    }
    spec.cgi.vars = kept;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::environ::Decode;

    #[test]
    fn paths_inside_the_jail() {
        assert_eq!(
            inside("/srv/jail", "/srv/jail/app/a.wsgi").as_deref(),
            Some("/app/a.wsgi")
        );
        assert_eq!(
            inside("/srv/jail/", "/srv/jail/app/a.wsgi").as_deref(),
            Some("/app/a.wsgi")
        );
        assert_eq!(inside("/srv/jail", "/srv/jail").as_deref(), Some("/"));
        assert_eq!(inside("/srv/jail", "/srv/jailbreak/a.wsgi"), None);
        assert_eq!(inside("/srv/jail", "/etc/passwd"), None);
        assert_eq!(inside("/", "/etc/x").as_deref(), Some("/etc/x"));
    }

    fn spec(script: &str, docroot: &str) -> RequestSpec {
        let mut s = RequestSpec {
            script_path: script.into(),
            ..Default::default()
        };
        s.cgi.vars = vec![
            (
                "SCRIPT_FILENAME".into(),
                script.as_bytes().to_vec(),
                Decode::FsPath,
            ),
            (
                "DOCUMENT_ROOT".into(),
                docroot.as_bytes().to_vec(),
                Decode::FsPath,
            ),
            (
                "CONTEXT_DOCUMENT_ROOT".into(),
                docroot.as_bytes().to_vec(),
                Decode::FsPath,
            ),
            (
                "REQUEST_URI".into(),
                b"/srv/jail/x".to_vec(),
                Decode::Latin1,
            ),
        ];
        s
    }

    fn var<'a>(s: &'a RequestSpec, name: &str) -> Option<&'a [u8]> {
        s.cgi
            .vars
            .iter()
            .find(|(n, ..)| n == name)
            .map(|(_, v, _)| v.as_slice())
    }

    #[test]
    fn a_handler_script_and_its_target_are_both_rewritten() {
        let mut s = spec("/srv/jail/app/handler.wsgi", "/srv/jail/htdocs");
        s.cgi.vars[0].1 = b"/srv/jail/htdocs/page.tmpl".to_vec();
        rewrite_request("/srv/jail", &mut s).unwrap();
        assert_eq!(s.script_path, "/app/handler.wsgi");
        assert_eq!(var(&s, "SCRIPT_FILENAME"), Some(&b"/htdocs/page.tmpl"[..]));
        // A target outside the jail is refused.
        let mut s = spec("/srv/jail/app/handler.wsgi", "/srv/jail/htdocs");
        s.cgi.vars[0].1 = b"/var/www/page.tmpl".to_vec();
        let e = rewrite_request("/srv/jail", &mut s).unwrap_err();
        assert!(
            e.0.contains("'/var/www/page.tmpl' is not located within"),
            "{e}"
        );
    }

    #[test]
    fn a_request_is_rewritten_like_mod_wsgi() {
        let mut s = spec("/srv/jail/app/a.wsgi", "/srv/jail/htdocs");
        rewrite_request("/srv/jail", &mut s).unwrap();
        assert_eq!(s.script_path, "/app/a.wsgi");
        assert_eq!(var(&s, "SCRIPT_FILENAME"), Some(&b"/app/a.wsgi"[..]));
        assert_eq!(var(&s, "DOCUMENT_ROOT"), Some(&b"/htdocs"[..]));
        assert_eq!(var(&s, "CONTEXT_DOCUMENT_ROOT"), Some(&b"/htdocs"[..]));
        // Not a path: left alone.
        assert_eq!(var(&s, "REQUEST_URI"), Some(&b"/srv/jail/x"[..]));

        // A document root outside the jail is dropped.
        let mut s = spec("/srv/jail/app/a.wsgi", "/var/www");
        rewrite_request("/srv/jail", &mut s).unwrap();
        assert_eq!(var(&s, "DOCUMENT_ROOT"), None);
        assert_eq!(var(&s, "CONTEXT_DOCUMENT_ROOT"), None);
    }

    #[test]
    fn a_script_outside_the_jail_is_refused() {
        let mut s = spec("/var/www/a.wsgi", "/var/www");
        let e = rewrite_request("/srv/jail", &mut s).unwrap_err();
        assert!(
            e.0.contains("not located within chroot directory '/srv/jail'"),
            "{e}"
        );
        let mut s = spec("/srv/jail", "/srv/jail");
        assert!(rewrite_request("/srv/jail", &mut s).is_err());
    }
}
