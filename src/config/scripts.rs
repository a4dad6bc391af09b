//! `WSGIHandlerScript` and `WSGIDispatchScript` (mod_wsgi's
//! `wsgi_add_handler_script` and `wsgi_set_dispatch_script`): a named httpd
//! handler whose script serves whatever `SetHandler`/`AddHandler` hands it,
//! and the script that may re-route each request. Pure code, unit tested.

use super::application::check_group_expansion;
use super::args::require_absolute;
use super::auth::require_python;
use super::directives::{Applied, Call, Target};
use super::error::ConfigError;
use super::script_alias::ScriptOptions;
use super::words::split_option;

/// The handler names of WSGI scripts themselves (`SetHandler wsgi-script`),
/// which a handler script cannot take over.
pub(crate) const SCRIPT_HANDLERS: &[&str] = &["wsgi-script", "application/x-httpd-wsgi"];

/// The callable a handler script is called through: fixed, as in mod_wsgi
/// (WSGICallableObject does not apply; a dispatch script may still change it).
pub(crate) const HANDLER_CALLABLE: &str = "handle_request";

/// One `WSGIHandlerScript name path [options]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HandlerScript {
    /// The handler name `SetHandler` / `AddHandler` select it by.
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) process_group: Option<String>,
    pub(crate) application_group: Option<String>,
    pub(crate) pass_authorization: Option<bool>,
}

/// A script and the interpreter it runs in: `WSGIDispatchScript` and the
/// access-control scripts (`path [application-group=NAME]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GroupScript {
    pub(crate) path: String,
    /// The interpreter the script runs in; unset means `%{GLOBAL}`, the main
    /// interpreter (mod_wsgi's `wsgi_server_group`).
    pub(crate) application_group: Option<String>,
}

/// Parses `path [application-group=NAME]` for `name`: `missing` is the
/// error without a path, `refused` gives an option its own message.
pub(super) fn parse_group_script(
    name: &'static str,
    words: &[String],
    missing: ConfigError,
    refused: impl Fn(&str) -> Option<ConfigError>,
) -> Result<GroupScript, ConfigError> {
    let Some((path, options)) = words.split_first() else {
        return Err(missing);
    };
    if path.is_empty() {
        return Err(ConfigError::EmptyScriptPath { directive: name });
    }
    require_absolute(name, "script path", path)?;
    let mut application_group = None;
    for word in options {
        match split_option(word) {
            Some(("application-group", "")) => {
                return Err(ConfigError::EmptyApplicationGroup { directive: name });
            }
            Some(("application-group", group)) => application_group = Some(group.to_string()),
            Some((option, _)) => {
                return Err(
                    refused(option).unwrap_or_else(|| ConfigError::UnknownScriptOption {
                        directive: name,
                        option: option.to_string(),
                    }),
                );
            }
            None => {
                return Err(ConfigError::UnexpectedScriptArgument {
                    directive: name,
                    word: word.clone(),
                });
            }
        }
    }
    Ok(GroupScript {
        path: path.clone(),
        application_group,
    })
}

/// The handler and dispatch scripts of a server or directory section (a
/// field of `ServerConfig` and `DirConfig`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ScriptSettings {
    /// One per name; a later definition of a name replaces the earlier one.
    handler_scripts: Vec<HandlerScript>,
    pub(crate) dispatch_script: Option<GroupScript>,
}

impl ScriptSettings {
    /// `self` (the more specific section) over `base`: handler scripts are
    /// merged by name (as mod_wsgi overlays its hash of them), the dispatch
    /// script is the more specific one.
    pub(super) fn over(&self, base: &ScriptSettings) -> ScriptSettings {
        let mut handler_scripts = self.handler_scripts.clone();
        for h in &base.handler_scripts {
            if !handler_scripts
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&h.name))
            {
                handler_scripts.push(h.clone());
            }
        }
        ScriptSettings {
            handler_scripts,
            dispatch_script: self
                .dispatch_script
                .clone()
                .or_else(|| base.dispatch_script.clone()),
        }
    }

    /// The handler script a request's handler names, if any. httpd's own
    /// handler names are case-insensitive (`SetHandler` and `AddHandler`
    /// lower-case them), so the match is too.
    pub(crate) fn handler_script(&self, handler: &[u8]) -> Option<&HandlerScript> {
        self.handler_scripts
            .iter()
            .find(|h| h.name.as_bytes().eq_ignore_ascii_case(handler))
    }
}

const HANDLER_OPTIONS: &[&str] = &["process-group", "application-group", "pass-authorization"];

/// `WSGIHandlerScript name path [process-group=NAME] [application-group=NAME]
/// [pass-authorization=On|Off]`.
pub(super) fn handler_script(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    let name = c.name;
    let [handler, path, options @ ..] = c.words else {
        return Err(ConfigError::HandlerScriptNeedsTwoArguments {
            directive: name,
            usage: c.usage,
        });
    };
    if handler.is_empty() || handler.contains(char::is_whitespace) {
        return Err(ConfigError::InvalidHandlerName {
            directive: name,
            handler: handler.clone(),
        });
    }
    if SCRIPT_HANDLERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(handler))
    {
        return Err(ConfigError::ReservedHandlerName {
            directive: name,
            handler: handler.clone(),
        });
    }
    if path.is_empty() {
        return Err(ConfigError::EmptyScriptPath { directive: name });
    }
    require_absolute(name, "script path", path)?;
    let opts = ScriptOptions::parse(name, options, HANDLER_OPTIONS)?;
    for (option, value) in [
        ("process-group", &opts.process_group),
        ("application-group", &opts.application_group),
    ] {
        if let Some(v) = value {
            if v.is_empty() {
                return Err(ConfigError::EmptyOption {
                    directive: name,
                    option,
                });
            }
            check_group_expansion(name, v)?;
        }
    }
    let script = HandlerScript {
        name: handler.clone(),
        path: path.clone(),
        process_group: opts.process_group,
        application_group: opts.application_group,
        pass_authorization: opts.pass_authorization,
    };
    let scripts = target.scripts();
    scripts
        .handler_scripts
        .retain(|h| !h.name.eq_ignore_ascii_case(&script.name));
    scripts.handler_scripts.push(script);
    Ok(())
}

/// `WSGIDispatchScript path [application-group=NAME]`.
pub(super) fn dispatch_script(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    let name = c.name;
    let script = parse_group_script(
        name,
        c.words,
        ConfigError::DispatchNeedsScript { directive: name },
        |option| {
            (option == "process-group")
                .then_some(ConfigError::DispatchProcessGroup { directive: name })
        },
    )?;
    target.scripts().dispatch_script = Some(script);
    // It runs in the Apache children whatever else is configured
    // (WSGIRestrictEmbedded On included): Python must start there.
    require_python();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::{DirConfig, ServerConfig};
    use crate::config::testing::{dir, server};

    #[test]
    fn handler_scripts_are_kept_by_name() {
        let s = server(&[
            "WSGIHandlerScript my-handler /srv/handler.wsgi process-group=web application-group=%{GLOBAL} pass-authorization=On",
            "WSGIHandlerScript other /srv/other.wsgi",
            "WSGIHandlerScript My-Handler /srv/replaced.wsgi",
        ])
        .unwrap();
        let h = s.scripts.handler_script(b"my-handler").unwrap();
        assert_eq!(h.path, "/srv/replaced.wsgi");
        assert_eq!(h.process_group, None);
        assert_eq!(s.scripts.handler_scripts.len(), 2);
        let o = s.scripts.handler_script(b"OTHER").unwrap();
        assert_eq!(o.path, "/srv/other.wsgi");
        assert!(s.scripts.handler_script(b"wsgi-script").is_none());
        let s = server(&[
            "WSGIHandlerScript h /srv/h.wsgi process-group=web application-group=%{GLOBAL} pass-authorization=On",
        ])
        .unwrap();
        assert_eq!(
            s.scripts.handler_script(b"h"),
            Some(&HandlerScript {
                name: "h".into(),
                path: "/srv/h.wsgi".into(),
                process_group: Some("web".into()),
                application_group: Some("%{GLOBAL}".into()),
                pass_authorization: Some(true),
            })
        );
    }

    #[test]
    fn sections_merge_handler_scripts_by_name_and_the_dispatch_script_whole() {
        let base = server(&[
            "WSGIHandlerScript a /srv/a.wsgi",
            "WSGIHandlerScript b /srv/b.wsgi",
            "WSGIDispatchScript /srv/dispatch.py",
        ])
        .unwrap();
        let vhost = server(&["WSGIHandlerScript b /srv/vhost-b.wsgi"]).unwrap();
        let m = ServerConfig::merge(&base, &vhost).scripts;
        assert_eq!(m.handler_script(b"a").unwrap().path, "/srv/a.wsgi");
        assert_eq!(m.handler_script(b"b").unwrap().path, "/srv/vhost-b.wsgi");
        assert_eq!(m.dispatch_script.unwrap().path, "/srv/dispatch.py");
        let outer = dir(&["WSGIDispatchScript /srv/outer.py application-group=routing"]).unwrap();
        let inner = dir(&[
            "WSGIDispatchScript /srv/inner.py",
            "WSGIHandlerScript c /srv/c.wsgi",
        ])
        .unwrap();
        let m = DirConfig::merge(&outer, &inner).scripts;
        assert_eq!(
            m.dispatch_script,
            Some(GroupScript {
                path: "/srv/inner.py".into(),
                application_group: None
            })
        );
        assert!(m.handler_script(b"c").is_some());
        let m = DirConfig::merge(&outer, &DirConfig::default()).scripts;
        assert_eq!(
            m.dispatch_script.unwrap().application_group.as_deref(),
            Some("routing")
        );
    }

    #[test]
    fn malformed_lines_are_refused() {
        let cases: &[(&str, &str)] = &[
            (
                "WSGIHandlerScript only-a-name",
                "WSGIHandlerScript needs a handler name and a script path, e.g. `WSGIHandlerScript my-handler /srv/site/handler.wsgi`, then `SetHandler my-handler` or `AddHandler my-handler .ext`; usage: WSGIHandlerScript name script-path [process-group=NAME] [application-group=NAME] [pass-authorization=On|Off]",
            ),
            (
                "WSGIHandlerScript wsgi-script /srv/h.wsgi",
                "WSGIHandlerScript: 'wsgi-script' is the handler of WSGI scripts themselves (SetHandler wsgi-script); give the handler script another name",
            ),
            (
                "WSGIHandlerScript h handler.wsgi",
                "WSGIHandlerScript: script path 'handler.wsgi' must be an absolute path",
            ),
            (
                "WSGIHandlerScript h /srv/h.wsgi callable-object=app",
                "WSGIHandlerScript: unknown option 'callable-object'; valid options are process-group, application-group, pass-authorization",
            ),
            (
                "WSGIHandlerScript h /srv/h.wsgi process-group=",
                "WSGIHandlerScript: process-group must not be empty",
            ),
            (
                "WSGIHandlerScript h /srv/h.wsgi application-group=%{GLOBL}",
                "WSGIHandlerScript: unknown expansion '%{GLOBL}'; use %{GLOBAL}, %{RESOURCE}, %{SERVER}, %{HOST} or %{ENV:variable}",
            ),
            (
                "WSGIHandlerScript h /srv/h.wsgi pass-authorization=maybe",
                "WSGIHandlerScript: pass-authorization must be On or Off, not 'maybe'",
            ),
            (
                "WSGIDispatchScript",
                "WSGIDispatchScript needs the path of a Python script, e.g. `WSGIDispatchScript /srv/site/dispatch.py`",
            ),
            (
                "WSGIDispatchScript dispatch.py",
                "WSGIDispatchScript: script path 'dispatch.py' must be an absolute path",
            ),
            (
                "WSGIDispatchScript /srv/dispatch.py process-group=web",
                "WSGIDispatchScript: process-group= is not an option: the dispatch script always runs in the Apache child process (its application-group= names the interpreter); its process_group(environ) function chooses each request's daemon process group",
            ),
            (
                "WSGIDispatchScript /srv/dispatch.py callable-object=x",
                "WSGIDispatchScript: unknown option 'callable-object'; the only option is application-group=NAME",
            ),
            (
                "WSGIDispatchScript /srv/dispatch.py application-group=",
                "WSGIDispatchScript: application-group must not be empty (use %{GLOBAL} for the main interpreter)",
            ),
        ];
        for (line, message) in cases {
            assert_eq!(server(&[line]).unwrap_err(), *message, "{line}");
            assert_eq!(dir(&[line]).unwrap_err(), *message, "{line} (directory)");
        }
    }
}
