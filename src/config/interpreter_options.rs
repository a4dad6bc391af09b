//! `<WSGIInterpreterOptions [process-group=NAME] [application-group=NAME]>`
//! ... `</WSGIInterpreterOptions>` (mod_wsgi 6): per-interpreter settings
//! scoped to the interpreters whose process group and application group
//! its selectors match, and how one interpreter's settings are resolved from
//! the directives outside any container and every matching container
//! (mod_wsgi's `wsgi_resolve_interpreter_options`). Pure code, unit tested.

use super::directives::{ConfigContext, Directive, Target, find};
use super::error::ConfigError;
use super::settings::{GlobalSettings, ServerConfig};
use super::words::{split_option, split_words};

/// The directives a container may hold; any other line in it is an error.
pub(crate) const ALLOWED: &[&str] = &[
    "WSGIPerInterpreterGIL",
    "WSGIFreeThreading",
    "WSGISwitchInterval",
    "WSGIPythonPath",
    "WSGIRestrictStdin",
    "WSGIRestrictStdout",
    "WSGIRestrictSignal",
];

/// One line inside a section, as httpd read it: the directive's name (a
/// nested section's starts with `<`) and the rest of the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NestedLine {
    pub(crate) name: String,
    pub(crate) args: String,
}

/// What a container sets; `None` (empty for the path) leaves a setting to
/// less specific layers.
#[derive(Clone, Debug, Default, PartialEq)]
struct ScopedSettings {
    per_interpreter_gil: Option<bool>,
    switch_interval: Option<f64>,
    python_path: Vec<String>,
    restrict_stdin: Option<bool>,
    restrict_stdout: Option<bool>,
    restrict_signal: Option<bool>,
}

/// One `<WSGIInterpreterOptions>` container.
#[derive(Clone, Debug, PartialEq)]
pub struct InterpreterOptions {
    /// The daemon process group it selects (`""`: the Apache children);
    /// `None` matches every process.
    process_group: Option<String>,
    /// The application group it selects (`""`: the main interpreter);
    /// `None` matches every interpreter.
    application_group: Option<String>,
    settings: ScopedSettings,
}

impl InterpreterOptions {
    /// The number of its selectors when it matches the interpreter, else `None`.
    fn specificity(&self, process_group: &str, application_group: &str) -> Option<u8> {
        let mut n = 0;
        for (selector, name) in [
            (&self.process_group, process_group),
            (&self.application_group, application_group),
        ] {
            match selector {
                Some(s) if s == name => n += 1,
                Some(_) => return None,
                None => {}
            }
        }
        Some(n)
    }
}

/// What one interpreter is set up with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InterpreterSetup {
    /// A GIL of its own (WSGIPerInterpreterGIL; sub-interpreters only).
    pub(crate) own_gil: bool,
    pub(crate) switch_interval: Option<f64>,
    /// The switch interval comes from a container that selects an
    /// application group: it may only be applied where it does not change
    /// the process-wide value (an interpreter with its own GIL, or main).
    pub(crate) switch_interval_scoped_to_group: bool,
    /// Directories for `sys.path`, in layers: the process's own, then each
    /// matching container's, least specific first (each layer ends up in
    /// front of the previous ones).
    pub(crate) python_path: Vec<Vec<String>>,
    pub(crate) restrict_stdin: bool,
    pub(crate) restrict_stdout: bool,
    pub(crate) restrict_signal: bool,
}

/// The interpreter settings of one process: what applies outside any
/// container, and the containers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InterpreterScopes {
    pub(crate) defaults: InterpreterSetup,
    pub(crate) containers: Vec<InterpreterOptions>,
}

impl InterpreterScopes {
    /// The settings of the interpreter `application_group` (`""`: main) in a
    /// process of `process_group` (`""`: an Apache child). Each scalar
    /// setting comes from the most specific matching container that sets it
    /// (the later one of equally specific ones), else from the defaults;
    /// every matching container adds its `WSGIPythonPath` layer.
    pub(crate) fn resolve(&self, process_group: &str, application_group: &str) -> InterpreterSetup {
        let mut out = self.defaults.clone();
        // The specificity each scalar was last set at (the defaults: none).
        let mut at: [Option<u8>; 5] = [None; 5];
        let mut layers: Vec<(u8, &Vec<String>)> = Vec::new();
        for c in &self.containers {
            let Some(n) = c.specificity(process_group, application_group) else {
                continue;
            };
            let s = &c.settings;
            // Whether this container's value for the scalar in `slot` wins.
            let mut wins = |slot: usize, set: bool| {
                let wins = set && at[slot].is_none_or(|prev| n >= prev);
                if wins {
                    at[slot] = Some(n);
                }
                wins
            };
            if wins(0, s.per_interpreter_gil.is_some()) {
                out.own_gil = s.per_interpreter_gil == Some(true);
            }
            if wins(1, s.switch_interval.is_some()) {
                out.switch_interval = s.switch_interval;
                out.switch_interval_scoped_to_group = c.application_group.is_some();
            }
            if wins(2, s.restrict_stdin.is_some()) {
                out.restrict_stdin = s.restrict_stdin == Some(true);
            }
            if wins(3, s.restrict_stdout.is_some()) {
                out.restrict_stdout = s.restrict_stdout == Some(true);
            }
            if wins(4, s.restrict_signal.is_some()) {
                out.restrict_signal = s.restrict_signal == Some(true);
            }
            if !s.python_path.is_empty() {
                layers.push((n, &s.python_path));
            }
        }
        // Stable: equally specific layers keep the configuration's order.
        layers.sort_by_key(|(n, _)| *n);
        out.python_path
            .extend(layers.into_iter().map(|(_, p)| p.clone()));
        out
    }
}

impl GlobalSettings {
    /// The interpreter settings of a process whose own `sys.path`
    /// directories and switch interval are these (an Apache child:
    /// WSGIPythonPath and WSGISwitchInterval; a daemon process: its
    /// python-path= and switch-interval=), scoped by the containers.
    pub(crate) fn interpreter_scopes(
        &self,
        python_path: &[String],
        switch_interval: Option<f64>,
    ) -> InterpreterScopes {
        InterpreterScopes {
            defaults: InterpreterSetup {
                own_gil: self.per_interpreter_gil(),
                switch_interval,
                switch_interval_scoped_to_group: false,
                python_path: vec![python_path.to_vec()],
                restrict_stdin: self.restrict_stdin.unwrap_or(false),
                restrict_stdout: self.restrict_stdout.unwrap_or(false),
                restrict_signal: self.restrict_signal(),
            },
            containers: self.interpreter_options.clone(),
        }
    }
}

/// `<WSGIInterpreterOptions [selectors]>` and the lines up to its end tag;
/// `args` is the rest of its opening line, up to and including the `>`.
pub(super) fn section(
    target: &mut Target<'_>,
    d: &Directive,
    args: &str,
    lines: &[NestedLine],
    ctx: &dyn ConfigContext,
) -> Result<(), ConfigError> {
    let (process_group, application_group) = selectors(d.name, args)?;
    let mut settings = ScopedSettings::default();
    for (index, line) in lines.iter().enumerate() {
        nested(&mut settings, line, ctx).map_err(|e| ConfigError::Nested {
            index,
            source: Box::new(e),
        })?;
    }
    target
        .global(d.name)?
        .interpreter_options
        .push(InterpreterOptions {
            process_group,
            application_group,
            settings,
        });
    Ok(())
}

type Selectors = (Option<String>, Option<String>);

/// `process-group=NAME` and `application-group=NAME`, each at most once;
/// `%{GLOBAL}` is the empty name on both.
fn selectors(section: &'static str, args: &str) -> Result<Selectors, ConfigError> {
    let Some(inner) = args.trim_end().strip_suffix('>') else {
        return Err(ConfigError::SectionNotClosed { section });
    };
    let (mut process_group, mut application_group) = (None, None);
    for word in split_words(inner) {
        let Some((key, value)) = split_option(&word) else {
            return Err(ConfigError::NotASelector { section, word });
        };
        let (selector, slot) = if key.eq_ignore_ascii_case("process-group") {
            ("process-group", &mut process_group)
        } else if key.eq_ignore_ascii_case("application-group") {
            ("application-group", &mut application_group)
        } else {
            return Err(ConfigError::UnknownSelector {
                section,
                selector: key.to_string(),
            });
        };
        if slot.is_some() {
            return Err(ConfigError::DuplicateSelector { section, selector });
        }
        let value = match value {
            "%{GLOBAL}" => "",
            v if v.contains("%{") => {
                return Err(ConfigError::ExpandedSelector {
                    section,
                    selector,
                    value: v.to_string(),
                });
            }
            v => v,
        };
        *slot = Some(value.to_string());
    }
    Ok((process_group, application_group))
}

/// Applies one line of the container: the directive's own parser runs on a
/// scratch record, and what it set is what the container sets.
fn nested(
    settings: &mut ScopedSettings,
    line: &NestedLine,
    ctx: &dyn ConfigContext,
) -> Result<(), ConfigError> {
    let Some(name) = ALLOWED.iter().find(|a| a.eq_ignore_ascii_case(&line.name)) else {
        // A nested section's name is its opening tag without the `>`.
        let shown = if line.name.starts_with('<') {
            format!("{}>", line.name)
        } else {
            line.name.clone()
        };
        return Err(ConfigError::NotInInterpreterOptions {
            name: shown,
            allowed: ALLOWED,
        });
    };
    let mut scratch = ServerConfig::default();
    find(name)?.apply(
        &mut Target::Server(&mut scratch),
        &split_words(&line.args),
        ctx,
    )?;
    let g = scratch.global;
    let s = settings;
    s.per_interpreter_gil = g.per_interpreter_gil.or(s.per_interpreter_gil);
    s.switch_interval = g.switch_interval.or(s.switch_interval);
    s.restrict_stdin = g.restrict_stdin.or(s.restrict_stdin);
    s.restrict_stdout = g.restrict_stdout.or(s.restrict_stdout);
    s.restrict_signal = g.restrict_signal.or(s.restrict_signal);
    s.python_path.extend(g.python_path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{TestContext, server};

    /// The main server's record after `top` lines and one container per
    /// `(opening line args, inner lines)`.
    fn read(top: &[&str], containers: &[(&str, &[&str])]) -> Result<GlobalSettings, String> {
        let mut s = server(top)?;
        let ctx = TestContext::default();
        let d = find("<WSGIInterpreterOptions").map_err(|e| e.to_string())?;
        for (args, lines) in containers {
            let lines: Vec<NestedLine> = lines
                .iter()
                .map(|l| {
                    let (name, args) = l.split_once(' ').unwrap_or((l, ""));
                    NestedLine {
                        name: name.into(),
                        args: args.into(),
                    }
                })
                .collect();
            d.apply_section(&mut Target::Server(&mut s), args, &lines, &ctx)
                .map_err(|e| match &e {
                    ConfigError::Nested { index, .. } => format!("line {index}: {e}"),
                    _ => e.to_string(),
                })?;
        }
        Ok(s.global)
    }

    fn layers(v: &[&[&str]]) -> Vec<Vec<String>> {
        v.iter()
            .map(|l| l.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    #[test]
    fn containers_are_read_with_their_selectors() {
        let g = read(
            &["WSGIRestrictStdout On"],
            &[
                (
                    "process-group=%{GLOBAL} application-group=app1>",
                    &[
                        "WSGIPythonPath /a:/b",
                        "wsgipythonpath /c",
                        "WSGIRestrictStdout Off",
                    ],
                ),
                (">", &["WSGIRestrictSignal Off", "WSGIFreeThreading Off"]),
            ],
        )
        .unwrap();
        assert_eq!(
            g.interpreter_options,
            vec![
                InterpreterOptions {
                    process_group: Some(String::new()),
                    application_group: Some("app1".into()),
                    settings: ScopedSettings {
                        python_path: vec!["/a".into(), "/b".into(), "/c".into()],
                        restrict_stdout: Some(false),
                        ..Default::default()
                    },
                },
                InterpreterOptions {
                    process_group: None,
                    application_group: None,
                    settings: ScopedSettings {
                        restrict_signal: Some(false),
                        ..Default::default()
                    },
                },
            ]
        );
        // The directives outside stay what they were.
        assert_eq!(g.restrict_stdout, Some(true));
    }

    #[test]
    fn malformed_containers_are_refused() {
        let cases: &[(&str, &[&str], &str)] = &[
            (
                "process-group=a",
                &[],
                "<WSGIInterpreterOptions> directive missing closing '>'",
            ),
            (
                "process-group=a process-group=b>",
                &[],
                "<WSGIInterpreterOptions>: process-group is given more than once",
            ),
            (
                "group=a>",
                &[],
                "<WSGIInterpreterOptions>: unknown selector 'group'; the selectors are process-group=NAME and application-group=NAME",
            ),
            (
                "web>",
                &[],
                "<WSGIInterpreterOptions>: 'web' is not a selector; write process-group=NAME and/or application-group=NAME",
            ),
            (
                "application-group=%{SERVER}>",
                &[],
                "<WSGIInterpreterOptions>: application-group=%{SERVER}: a selector is compared with the group's name as resolved for each request, so it is a plain name; of the %{...} forms only %{GLOBAL} (the Apache children / the main interpreter) can be used",
            ),
            (
                ">",
                &["WSGIPythonPath /ok", "WSGIPythonHome /usr"],
                "line 1: WSGIPythonHome is not allowed inside <WSGIInterpreterOptions>, which may hold only WSGIPerInterpreterGIL, WSGIFreeThreading, WSGISwitchInterval, WSGIPythonPath, WSGIRestrictStdin, WSGIRestrictStdout, WSGIRestrictSignal",
            ),
            (
                ">",
                &["<Directory /srv>"],
                "line 0: <Directory> is not allowed inside <WSGIInterpreterOptions>, which may hold only WSGIPerInterpreterGIL, WSGIFreeThreading, WSGISwitchInterval, WSGIPythonPath, WSGIRestrictStdin, WSGIRestrictStdout, WSGIRestrictSignal",
            ),
            (
                ">",
                &["WSGISwitchInterval 0"],
                "line 0: WSGISwitchInterval must be a number of seconds greater than 0, not '0'",
            ),
            (
                "application-group=a>",
                &["WSGIFreeThreading On"],
                &format!(
                    "line 0: WSGIFreeThreading On needs a free-threaded CPython build (3.13t or later, built with --disable-gil), which mod_wsgi-rs does not support; this module embeds Python {}, which runs with its GIL. Remove the directive or set it Off",
                    crate::config::python_home::BUILT_PYTHON
                ),
            ),
        ];
        for (args, lines, message) in cases {
            assert_eq!(read(&[], &[(args, lines)]).unwrap_err(), *message, "{args}");
        }
        let built = crate::config::python_home::BUILT_PYTHON;
        let gil = read(&[], &[(">", &["WSGIPerInterpreterGIL On"])]);
        if crate::config::python_home::at_least(built, (3, 12)) {
            assert!(gil.is_ok());
        } else {
            assert!(
                gil.unwrap_err()
                    .starts_with("line 0: WSGIPerInterpreterGIL On needs Python 3.12 or later")
            );
        }
    }

    fn scopes() -> InterpreterScopes {
        let containers = [
            (
                "application-group=app1>",
                &["WSGIRestrictStdout On", "WSGIPythonPath /app1"][..],
            ),
            (
                "process-group=web>",
                &["WSGIRestrictStdout Off", "WSGIPythonPath /web"],
            ),
            (
                "process-group=web application-group=app1>",
                &["WSGIPythonPath /web-app1", "WSGISwitchInterval 0.5"],
            ),
            (">", &["WSGIPythonPath /all", "WSGIRestrictSignal Off"]),
            ("process-group=%{GLOBAL}>", &["WSGISwitchInterval 0.25"]),
            ("process-group=web>", &["WSGIRestrictStdout On"]),
        ];
        read(&["WSGIPythonPath /top"], &containers)
            .unwrap()
            .interpreter_scopes(&["/top".to_string()], Some(0.01))
    }

    #[test]
    fn without_a_matching_container_the_directives_outside_apply() {
        let s = scopes().resolve("other", "x");
        assert_eq!(
            s,
            InterpreterSetup {
                own_gil: false,
                switch_interval: Some(0.01),
                switch_interval_scoped_to_group: false,
                python_path: layers(&[&["/top"], &["/all"]]),
                restrict_stdin: false,
                restrict_stdout: false,
                restrict_signal: false,
            }
        );
    }

    #[test]
    fn the_most_specific_container_wins_and_the_later_of_equals() {
        let s = scopes();
        // Embedded, app1: application-group=app1 (1) over the defaults.
        let e = s.resolve("", "app1");
        assert!(e.restrict_stdout);
        assert_eq!(e.switch_interval, Some(0.25));
        assert!(!e.switch_interval_scoped_to_group);
        // Embedded main interpreter.
        let main = s.resolve("", "");
        assert!(!main.restrict_stdout);
        // Daemon `web`, another group: the later of the two process-group=web.
        assert!(s.resolve("web", "other").restrict_stdout);
        // Daemon `web`, app1: three containers match; the two-selector one
        // sets the switch interval.
        let w = s.resolve("web", "app1");
        assert_eq!(w.switch_interval, Some(0.5));
        assert!(w.switch_interval_scoped_to_group);
        assert!(w.restrict_stdout);
        assert!(!w.restrict_signal);
    }

    #[test]
    fn python_path_layers_go_from_least_to_most_specific() {
        assert_eq!(
            scopes().resolve("web", "app1").python_path,
            layers(&[&["/top"], &["/all"], &["/app1"], &["/web"], &["/web-app1"]])
        );
        assert_eq!(
            scopes().resolve("", "app1").python_path,
            layers(&[&["/top"], &["/all"], &["/app1"]])
        );
    }
}
