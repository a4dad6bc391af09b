//! `WSGIScriptAlias` / `WSGIScriptAliasMatch`: their options and how a request
//! URI is mapped onto a script path (mod_alias's slash rules, `$N` substitution).

use std::fmt;
use std::sync::Arc;

use super::error::ConfigError;
use super::words::split_option;

/// A compiled regular expression (httpd's PCRE, supplied by the Apache layer).
pub trait UriRegex: Send + Sync {
    /// Byte ranges of the match (index 0) and each capture group, or `None`.
    fn captures(&self, text: &[u8]) -> Option<Vec<Option<(usize, usize)>>>;
}

/// Options accepted after the target of the alias (and of WSGIImportScript etc.).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ScriptOptions {
    pub(crate) process_group: Option<String>,
    pub(crate) application_group: Option<String>,
    pub(crate) callable_object: Option<String>,
    pub(crate) pass_authorization: Option<bool>,
}

impl ScriptOptions {
    /// Parses `name=value` words, accepting only the names in `allowed`.
    pub(super) fn parse(
        directive: &'static str,
        words: &[String],
        allowed: &'static [&'static str],
    ) -> Result<Self, ConfigError> {
        let mut opts = ScriptOptions::default();
        for word in words {
            let Some((name, value)) = split_option(word) else {
                return Err(ConfigError::NotAnOption {
                    directive,
                    word: word.clone(),
                    allowed,
                });
            };
            if !allowed.contains(&name) {
                return Err(ConfigError::UnknownOption {
                    directive,
                    option: name.to_string(),
                    allowed,
                });
            }
            match name {
                "process-group" => opts.process_group = Some(value.to_string()),
                "application-group" => opts.application_group = Some(value.to_string()),
                "callable-object" => {
                    if value.is_empty() {
                        return Err(ConfigError::EmptyOption {
                            directive,
                            option: "callable-object",
                        });
                    }
                    opts.callable_object = Some(value.to_string())
                }
                "pass-authorization" => {
                    opts.pass_authorization =
                        Some(
                            parse_on_off(value).ok_or_else(|| ConfigError::OptionNotOnOff {
                                directive,
                                option: "pass-authorization",
                                value: value.to_string(),
                            })?,
                        )
                }
                _ => unreachable!("option names are checked against `allowed` above"),
            }
        }
        Ok(opts)
    }

    /// mod_wsgi preloads a script at process start when both groups are given
    /// as fixed names (`%{GLOBAL}` counts as one: it is the empty name).
    pub(super) fn preloads(&self) -> bool {
        let fixed = |g: &String| g == "%{GLOBAL}" || !g.contains("%{");
        matches!((&self.process_group, &self.application_group),
            (Some(p), Some(a)) if fixed(p) && fixed(a))
    }
}

/// `On`/`Off` in any case, as httpd's FLAG directives accept.
pub(super) fn parse_on_off(value: &str) -> Option<bool> {
    if value.eq_ignore_ascii_case("on") {
        Some(true)
    } else if value.eq_ignore_ascii_case("off") {
        Some(false)
    } else {
        None
    }
}

pub(super) const ALIAS_OPTIONS: &[&str] = &[
    "process-group",
    "application-group",
    "callable-object",
    "pass-authorization",
];

#[derive(Clone)]
pub(super) enum Matcher {
    /// URL-path prefix, matched with mod_alias's rules.
    Prefix(String),
    /// Regular expression; the target may contain `$N` references.
    Regex {
        pattern: String,
        regex: Arc<dyn UriRegex>,
    },
}

#[derive(Clone)]
pub(crate) struct ScriptAlias {
    pub(super) matcher: Matcher,
    /// File or directory the URL maps to.
    pub(super) target: String,
    pub(crate) options: ScriptOptions,
}

impl fmt::Debug for ScriptAlias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = match &self.matcher {
            Matcher::Prefix(p) => format!("prefix {p}"),
            Matcher::Regex { pattern, .. } => format!("regex {pattern}"),
        };
        write!(f, "ScriptAlias({m} -> {}, {:?})", self.target, self.options)
    }
}

impl ScriptAlias {
    /// The new `r->filename` if this alias matches `uri` (URIs are bytes: a
    /// decoded path need not be UTF-8): the script plus what followed the match.
    pub(crate) fn map(&self, uri: &[u8]) -> Option<Vec<u8>> {
        match &self.matcher {
            Matcher::Prefix(prefix) => {
                let n = alias_matches(uri, prefix.as_bytes());
                if n == 0 {
                    return None;
                }
                // A mount at "/" keeps the whole URI (its leading slash included)
                // so the directory walk finds the script and the rest as PATH_INFO.
                let rest = if prefix == "/" { uri } else { &uri[n..] };
                Some([self.target.as_bytes(), rest].concat())
            }
            Matcher::Regex { regex, .. } => {
                let caps = regex.captures(uri)?;
                let (_, end) = caps.first().copied().flatten()?;
                if end == 0 {
                    return None;
                }
                Some([substitute(&self.target, uri, &caps), uri[end..].to_vec()].concat())
            }
        }
    }
}

/// mod_alias's `alias_matches`: the number of URI bytes the alias covers, or 0.
/// Any run of slashes in the alias matches any non-empty run in the URI, and the
/// alias must end on a path-segment boundary.
fn alias_matches(uri: &[u8], alias: &[u8]) -> usize {
    let (u, a) = (uri, alias);
    let (mut ui, mut ai) = (0, 0);
    while ai < a.len() {
        if a[ai] == b'/' {
            if u.get(ui) != Some(&b'/') {
                return 0;
            }
            while a.get(ai) == Some(&b'/') {
                ai += 1;
            }
            while u.get(ui) == Some(&b'/') {
                ui += 1;
            }
        } else {
            if u.get(ui) != Some(&a[ai]) {
                return 0;
            }
            ui += 1;
            ai += 1;
        }
    }
    if a.last().is_some_and(|&c| c != b'/') && ui < u.len() && u[ui] != b'/' {
        return 0;
    }
    ui
}

/// httpd's `ap_pregsub`: `$0`-`$9` (and `&` for the whole match) from `source`;
/// `\$`, `\&` and `\\` escape. Unmatched groups expand to nothing.
fn substitute(template: &str, source: &[u8], caps: &[Option<(usize, usize)>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(template.len() + source.len());
    let mut bytes = template.bytes().peekable();
    let group = |n: usize| -> &[u8] {
        match caps.get(n).copied().flatten() {
            Some((s, e)) => source.get(s..e).unwrap_or(b""),
            None => b"",
        }
    };
    while let Some(c) = bytes.next() {
        match c {
            b'$' if bytes.peek().is_some_and(u8::is_ascii_digit) => {
                let d = bytes.next().map_or(0, |d| (d - b'0') as usize);
                out.extend_from_slice(group(d));
            }
            b'&' => out.extend_from_slice(group(0)),
            b'\\' if matches!(bytes.peek(), Some(b'$' | b'&' | b'\\')) => {
                out.push(bytes.next().unwrap_or(b'\\'));
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(p: &str, target: &str) -> ScriptAlias {
        ScriptAlias {
            matcher: Matcher::Prefix(p.into()),
            target: target.into(),
            options: ScriptOptions::default(),
        }
    }

    #[test]
    fn alias_slash_rules() {
        assert_eq!(alias_matches(b"/hello", b"/hello"), 6);
        assert_eq!(alias_matches(b"/hello/x/y", b"/hello"), 6);
        assert_eq!(alias_matches(b"/helloworld", b"/hello"), 0);
        assert_eq!(alias_matches(b"/hel", b"/hello"), 0);
        assert_eq!(alias_matches(b"//hello//x", b"/hello/"), 9);
        assert_eq!(alias_matches(b"/hello", b"/hello/"), 0);
        assert_eq!(alias_matches(b"/anything", b"/"), 1);
        assert_eq!(alias_matches(b"/a//b/c", b"/a/b"), 5);
        assert_eq!(alias_matches(b"", b"/"), 0);
    }

    #[test]
    fn prefix_mapping() {
        let a = prefix("/hello", "/srv/hello.wsgi");
        assert_eq!(a.map(b"/hello").unwrap(), b"/srv/hello.wsgi");
        assert_eq!(a.map(b"/hello/x/y").unwrap(), b"/srv/hello.wsgi/x/y");
        assert!(a.map(b"/other").is_none());
        let root = prefix("/", "/srv/app.wsgi");
        assert_eq!(root.map(b"/").unwrap(), b"/srv/app.wsgi/");
        assert_eq!(root.map(b"/a/b").unwrap(), b"/srv/app.wsgi/a/b");
        let dir = prefix("/apps/", "/srv/apps/");
        assert_eq!(
            dir.map(b"/apps/one.wsgi/x").unwrap(),
            b"/srv/apps/one.wsgi/x"
        );
    }

    struct Fixed(Vec<Option<(usize, usize)>>);
    impl UriRegex for Fixed {
        fn captures(&self, _: &[u8]) -> Option<Vec<Option<(usize, usize)>>> {
            Some(self.0.clone())
        }
    }

    #[test]
    fn regex_mapping_substitutes_and_appends_the_rest() {
        // As if ^/app/([^/]+) matched "/app/shop/cart": $0 = 0..9, $1 = 5..9.
        let a = ScriptAlias {
            matcher: Matcher::Regex {
                pattern: "^/app/([^/]+)".into(),
                regex: Arc::new(Fixed(vec![Some((0, 9)), Some((5, 9))])),
            },
            target: "/srv/$1.wsgi".into(),
            options: ScriptOptions::default(),
        };
        assert_eq!(a.map(b"/app/shop/cart").unwrap(), b"/srv/shop.wsgi/cart");
    }

    #[test]
    fn pregsub_escapes() {
        let caps = [Some((0, 3)), Some((1, 2)), None];
        assert_eq!(substitute("x$1y$2z", b"abc", &caps), b"xbyz");
        assert_eq!(substitute(r"\$1&\&\\", b"abc", &caps), br"$1abc&\");
        assert_eq!(substitute("$9", b"abc", &caps), b"");
        assert_eq!(substitute("cost$", b"abc", &caps), b"cost$");
    }

    #[test]
    fn options_parse() {
        let words: Vec<String> = [
            "process-group=a",
            "application-group=%{SERVER}",
            "pass-authorization=on",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let o = ScriptOptions::parse("WSGIScriptAlias", &words, ALIAS_OPTIONS).unwrap();
        assert_eq!(o.process_group.as_deref(), Some("a"));
        assert_eq!(o.pass_authorization, Some(true));
        assert!(!o.preloads());
        let err = ScriptOptions::parse("WSGIScriptAlias", &["bogus=1".into()], ALIAS_OPTIONS)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown option 'bogus'"), "{err}");
        let err = ScriptOptions::parse("WSGIScriptAlias", &["extra".into()], ALIAS_OPTIONS)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unexpected argument 'extra'"), "{err}");
        let o = ScriptOptions::parse(
            "X",
            &["process-group=p".into(), "application-group=g".into()],
            ALIAS_OPTIONS,
        )
        .unwrap();
        assert!(o.preloads());
    }
}
