//! The parsers of the directives that say which script serves a URL and how:
//! `WSGIScriptAlias(Match)`, `WSGIImportScript` and the [`AppSettings`]
//! directives (`WSGIApplicationGroup`, `WSGIProcessGroup`, ...).
//!
//! [`AppSettings`]: super::settings::AppSettings

use super::directives::{Applied, Call, Target};
use super::error::ConfigError;
use super::script_alias::{ALIAS_OPTIONS, Matcher, ScriptAlias, ScriptOptions};
use super::settings::{ImportScript, IpNet, MapHeadToGet};

/// `WSGIScriptAlias URL-path script [options]`.
pub(super) fn script_alias(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    alias(c, target, false)
}

/// `WSGIScriptAliasMatch regex script-with-$N [options]`.
pub(super) fn script_alias_match(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    alias(c, target, true)
}

fn alias(c: &Call<'_>, target: &mut Target<'_>, regex: bool) -> Applied {
    let (name, words) = (c.name, c.words);
    if words.len() < 2 {
        let (what, example) = if regex {
            ("pattern", "^/app/([^/]+)")
        } else {
            ("path", "/app")
        };
        return Err(ConfigError::AliasNeedsTwoArguments {
            directive: name,
            what,
            example,
            usage: c.usage,
        });
    }
    let options = ScriptOptions::parse(name, &words[2..], ALIAS_OPTIONS)?;
    let (url, target_path) = (&words[0], words[1].clone());
    let matcher = if regex {
        let regex = c
            .ctx
            .compile_regex(url)
            .map_err(|reason| ConfigError::InvalidRegex {
                directive: name,
                pattern: url.clone(),
                reason,
            })?;
        Matcher::Regex {
            pattern: url.clone(),
            regex,
        }
    } else {
        if !url.starts_with('/') {
            return Err(ConfigError::UrlNotAbsolute {
                directive: name,
                url: url.clone(),
            });
        }
        Matcher::Prefix(url.clone())
    };
    c.absolute("script path", &target_path)?;
    target.server(name)?.aliases.push(ScriptAlias {
        matcher,
        target: target_path,
        options,
    });
    Ok(())
}

/// `WSGIImportScript path process-group=NAME application-group=NAME`.
pub(super) fn import_script(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    let name = c.name;
    if c.words.is_empty() {
        return Err(ConfigError::MissingArguments {
            directive: name,
            usage: c.usage,
        });
    }
    let opts = ScriptOptions::parse(name, &c.words[1..], &["process-group", "application-group"])?;
    let (Some(process_group), Some(application_group)) =
        (opts.process_group, opts.application_group)
    else {
        return Err(ConfigError::ImportNeedsBothGroups { directive: name });
    };
    if process_group != "%{GLOBAL}" && !c.ctx.daemon_defined(&process_group) {
        return Err(ConfigError::UndefinedProcessGroup {
            directive: name,
            group: process_group,
        });
    }
    c.absolute("script path", &c.words[0])?;
    target.server(name)?.import_scripts.push(ImportScript {
        path: c.words[0].clone(),
        process_group,
        application_group,
    });
    Ok(())
}

pub(super) fn application_group(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    target.settings().application_group = Some(group_name(c, "the application group name")?);
    Ok(())
}

pub(super) fn process_group(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    target.settings().process_group = Some(group_name(c, "the process group name")?);
    Ok(())
}

/// `WSGIRestrictProcess group ...`: as mod_wsgi, `%{GLOBAL}` (embedded
/// mode) is the empty name, and a line without names allows none.
pub(super) fn restrict_process(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    let groups = c
        .words
        .iter()
        .map(|w| {
            if w == "%{GLOBAL}" {
                String::new()
            } else {
                w.clone()
            }
        })
        .collect();
    target.settings().restrict_process = Some(groups);
    Ok(())
}

/// The one argument of WSGIApplicationGroup / WSGIProcessGroup, its
/// `%{...}` reference checked.
fn group_name(c: &Call<'_>, what: &'static str) -> Result<String, ConfigError> {
    let v = c.one(what)?;
    check_group_expansion(c.name, v)?;
    Ok(v.to_string())
}

pub(super) fn callable_object(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    let v = c.one("the callable's name")?;
    target.settings().callable_object = Some(v.to_string());
    Ok(())
}

pub(super) fn map_head_to_get(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    let v = c.one("On, Off or Auto")?;
    let m = match v.to_ascii_lowercase().as_str() {
        "on" => MapHeadToGet::On,
        "off" => MapHeadToGet::Off,
        "auto" => MapHeadToGet::Auto,
        _ => return Err(c.invalid("On, Off or Auto", v)),
    };
    target.settings().map_head_to_get = Some(m);
    Ok(())
}

pub(super) fn trusted_proxy_headers(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    if c.words.is_empty() {
        return Err(ConfigError::MissingArguments {
            directive: c.name,
            usage: "one or more header names, e.g. X-Forwarded-For X-Forwarded-Proto",
        });
    }
    let mut headers = Vec::new();
    for w in c.words {
        if w.is_empty()
            || !w
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::InvalidHeaderName {
                directive: c.name,
                name: w.clone(),
            });
        }
        headers.push(w.to_ascii_lowercase().replace('_', "-"));
    }
    target.settings().trusted_proxy_headers = Some(headers);
    Ok(())
}

pub(super) fn trusted_proxies(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    if c.words.is_empty() {
        return Err(ConfigError::MissingArguments {
            directive: c.name,
            usage: "one or more addresses (ip, ip/bits or ip/netmask)",
        });
    }
    let nets = c
        .words
        .iter()
        .map(|w| {
            IpNet::parse(w).ok_or_else(|| ConfigError::InvalidAddress {
                directive: c.name,
                value: w.clone(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    target.settings().trusted_proxies = Some(nets);
    Ok(())
}

/// Rejects malformed `%{...}` references at configuration time.
pub(super) fn check_group_expansion(name: &'static str, value: &str) -> Result<(), ConfigError> {
    if let Some(rest) = value.strip_prefix("%{") {
        let Some(inner) = rest.strip_suffix('}') else {
            return Err(ConfigError::UnclosedExpansion {
                directive: name,
                value: value.to_string(),
            });
        };
        let ok = matches!(inner, "GLOBAL" | "RESOURCE" | "SERVER" | "HOST")
            || inner.strip_prefix("ENV:").is_some_and(|v| !v.is_empty());
        if !ok {
            return Err(ConfigError::UnknownExpansion {
                directive: name,
                value: value.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::directives::Target;
    use crate::config::script_alias::Matcher;
    use crate::config::settings::DirConfig;
    use crate::config::testing::{TestContext, apply, server};

    #[test]
    fn script_alias_is_parsed_with_options() {
        let s = server(&["WSGIScriptAlias /hello /srv/hello.wsgi application-group=%{GLOBAL} callable-object=app"]).unwrap();
        assert_eq!(s.aliases.len(), 1);
        assert_eq!(s.aliases[0].target, "/srv/hello.wsgi");
        assert_eq!(s.aliases[0].options.callable_object.as_deref(), Some("app"));
        assert!(matches!(&s.aliases[0].matcher, Matcher::Prefix(p) if p == "/hello"));
    }
    #[test]
    fn malformed_script_alias_messages_name_the_directive() {
        let e = server(&["WSGIScriptAlias /only-one"]).unwrap_err();
        assert!(
            e.starts_with("WSGIScriptAlias needs a URL path and a script path"),
            "{e}"
        );
        let e = server(&["WSGIScriptAlias hello /srv/x.wsgi"]).unwrap_err();
        assert!(e.contains("must start with '/'"), "{e}");
        let e = server(&["WSGIScriptAlias /x relative.wsgi"]).unwrap_err();
        assert!(e.contains("must be an absolute path"), "{e}");
        let e = server(&["WSGIScriptAlias /x /a.wsgi process-grop=x"]).unwrap_err();
        assert!(e.contains("unknown option 'process-grop'"), "{e}");
        let e = server(&["WSGIScriptAliasMatch ^/(x /a.wsgi"]).unwrap_err();
        assert!(e.contains("invalid regular expression"), "{e}");
    }
    #[test]
    fn group_expansions_are_checked() {
        assert!(server(&["WSGIApplicationGroup %{GLOBAL}"]).is_ok());
        assert!(server(&["WSGIApplicationGroup %{ENV:APP}"]).is_ok());
        assert!(server(&["WSGIApplicationGroup plain-name"]).is_ok());
        assert!(
            server(&["WSGIApplicationGroup %{GLOBL}"])
                .unwrap_err()
                .contains("unknown expansion")
        );
        assert!(
            server(&["WSGIApplicationGroup %{GLOBAL"])
                .unwrap_err()
                .contains("closing")
        );
    }
    #[test]
    fn import_script_needs_both_groups() {
        let e = server(&["WSGIImportScript /srv/a.wsgi process-group=%{GLOBAL}"]).unwrap_err();
        assert!(e.contains("requires both"), "{e}");
        let s = server(&[
            "WSGIImportScript /srv/a.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL}",
        ])
        .unwrap();
        assert_eq!(s.import_scripts.len(), 1);
        let e =
            server(&["WSGIImportScript /srv/a.wsgi process-group=web application-group=%{GLOBAL}"])
                .unwrap_err();
        assert!(e.contains("process group 'web' is not defined"), "{e}");
    }
    #[test]
    fn preloading_aliases() {
        let s = server(&[
            "WSGIScriptAlias /a /srv/a.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL}",
            "WSGIScriptAlias /b /srv/b.wsgi application-group=x",
        ])
        .unwrap();
        // %{GLOBAL} is a fixed name (mod_wsgi turns it into ""), so /a preloads.
        assert_eq!(s.preloads().len(), 1);
        let s = server(&[
            "WSGIScriptAlias /a /srv/a.wsgi process-group=%{GLOBAL} application-group=%{SERVER}",
        ])
        .unwrap();
        assert!(s.preloads().is_empty());
        let s = server(&["WSGIScriptAlias /a /srv/a.wsgi process-group=p application-group=g"])
            .unwrap();
        assert_eq!(s.preloads().len(), 1);
    }
    #[test]
    fn server_only_directives_are_refused_in_directories() {
        let mut d = DirConfig::default();
        let ctx = TestContext::default();
        let e = apply(&mut Target::Dir(&mut d), "WSGIScriptAlias /a /b", &ctx).unwrap_err();
        assert!(e.contains("not allowed inside a directory"), "{e}");
        apply(&mut Target::Dir(&mut d), "WSGIApplicationGroup x", &ctx).unwrap();
        assert_eq!(d.settings.application_group.as_deref(), Some("x"));
    }
}
