//! Resolving `WSGIApplicationGroup` / `WSGIProcessGroup` values such as
//! `%{RESOURCE}` into the name of an interpreter (or daemon group) for one request.

/// The request facts a group expansion may use.
pub(crate) trait GroupContext {
    /// The virtual host's `ServerName`.
    fn server_hostname(&self) -> &str;
    /// The port the request arrived on, as httpd reports it.
    fn server_port(&self) -> u16;
    /// The request's host name (from `Host:`), if any.
    fn request_hostname(&self) -> Option<&str>;
    /// SCRIPT_NAME with repeated slashes collapsed.
    fn script_name(&self) -> &str;
    /// `%{ENV:name}`: request notes, then the request environment, then the process environment.
    fn env(&self, name: &str) -> Option<String>;
}

/// `ServerName` with `:port` unless the port is 80 or 443 (mod_wsgi ignores the scheme).
fn with_port(host: &str, port: u16) -> String {
    if port == 80 || port == 443 || port == 0 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    }
}

/// The default application group: `host[:port]|SCRIPT_NAME`.
fn resource_name(ctx: &dyn GroupContext, case_sensitive: bool) -> String {
    let script = if case_sensitive {
        ctx.script_name().to_string()
    } else {
        ctx.script_name().to_lowercase()
    };
    format!(
        "{}|{}",
        with_port(ctx.server_hostname(), ctx.server_port()),
        script
    )
}

/// Expands an application-group value; `None` (not configured) means `%{RESOURCE}`.
/// `%{GLOBAL}` is the empty name, the main interpreter.
pub(crate) fn expand_application_group(
    value: Option<&str>,
    ctx: &dyn GroupContext,
    case_sensitive: bool,
) -> String {
    expand(value.unwrap_or("%{RESOURCE}"), ctx, case_sensitive, 0)
}

/// Expands a process-group value; `None` means `%{GLOBAL}`: embedded in the Apache child.
pub(crate) fn expand_process_group(
    value: Option<&str>,
    ctx: &dyn GroupContext,
    case_sensitive: bool,
) -> String {
    expand(value.unwrap_or("%{GLOBAL}"), ctx, case_sensitive, 0)
}

fn expand(value: &str, ctx: &dyn GroupContext, case_sensitive: bool, depth: u8) -> String {
    match value {
        "%{GLOBAL}" => String::new(),
        "%{RESOURCE}" => resource_name(ctx, case_sensitive),
        "%{SERVER}" => with_port(ctx.server_hostname(), ctx.server_port()),
        "%{HOST}" => with_port(
            ctx.request_hostname()
                .unwrap_or_else(|| ctx.server_hostname()),
            ctx.server_port(),
        ),
        _ => {
            if let Some(var) = value
                .strip_prefix("%{ENV:")
                .and_then(|v| v.strip_suffix('}'))
            {
                match ctx.env(var) {
                    // The variable may itself hold an expansion such as %{GLOBAL};
                    // the depth bound stops a variable that names itself.
                    Some(v) if v.starts_with("%{") && !v.starts_with("%{ENV:") && depth == 0 => {
                        expand(&v, ctx, case_sensitive, depth + 1)
                    }
                    Some(v) => v,
                    None => value.to_string(),
                }
            } else {
                value.to_string()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Ctx {
        port: u16,
        host: Option<&'static str>,
        script: &'static str,
        env: HashMap<&'static str, &'static str>,
    }
    impl GroupContext for Ctx {
        fn server_hostname(&self) -> &str {
            "www.example.com"
        }
        fn server_port(&self) -> u16 {
            self.port
        }
        fn request_hostname(&self) -> Option<&str> {
            self.host
        }
        fn script_name(&self) -> &str {
            self.script
        }
        fn env(&self, name: &str) -> Option<String> {
            self.env.get(name).map(|s| s.to_string())
        }
    }
    fn ctx(port: u16) -> Ctx {
        Ctx {
            port,
            host: Some("alias.example.com"),
            script: "/Wsgi/Foo",
            env: HashMap::new(),
        }
    }

    #[test]
    fn resource_names() {
        assert_eq!(
            expand_application_group(None, &ctx(80), true),
            "www.example.com|/Wsgi/Foo"
        );
        assert_eq!(
            expand_application_group(None, &ctx(443), true),
            "www.example.com|/Wsgi/Foo"
        );
        assert_eq!(
            expand_application_group(Some("%{RESOURCE}"), &ctx(8080), true),
            "www.example.com:8080|/Wsgi/Foo"
        );
        assert_eq!(
            expand_application_group(None, &ctx(8080), false),
            "www.example.com:8080|/wsgi/foo"
        );
        let mut root = ctx(80);
        root.script = "";
        assert_eq!(
            expand_application_group(None, &root, true),
            "www.example.com|"
        );
    }

    #[test]
    fn other_expansions() {
        let c = ctx(8000);
        assert_eq!(expand_application_group(Some("%{GLOBAL}"), &c, true), "");
        assert_eq!(
            expand_application_group(Some("%{SERVER}"), &c, true),
            "www.example.com:8000"
        );
        assert_eq!(
            expand_application_group(Some("%{HOST}"), &c, true),
            "alias.example.com:8000"
        );
        assert_eq!(
            expand_application_group(Some("literal"), &c, true),
            "literal"
        );
        assert_eq!(expand_process_group(None, &c, true), "");
    }

    #[test]
    fn env_expansion() {
        let mut c = ctx(80);
        c.env.insert("APP", "shop");
        c.env.insert("G", "%{GLOBAL}");
        c.env.insert("LOOP", "%{ENV:LOOP}");
        assert_eq!(
            expand_application_group(Some("%{ENV:APP}"), &c, true),
            "shop"
        );
        assert_eq!(expand_application_group(Some("%{ENV:G}"), &c, true), "");
        assert_eq!(
            expand_application_group(Some("%{ENV:MISSING}"), &c, true),
            "%{ENV:MISSING}"
        );
        assert_eq!(
            expand_application_group(Some("%{ENV:LOOP}"), &c, true),
            "%{ENV:LOOP}"
        );
    }
}
