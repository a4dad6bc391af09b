//! The CGI part of the WSGI environ, built from plain request facts the
//! Apache layer gathers (or, in daemon mode, that arrive over the socket).
//! Pure: no FFI and no Python, so every rule here is unit tested. One
//! concern; over a third of the file is its tests.

use std::net::IpAddr;

use crate::config::settings::IpNet;

/// What httpd knows about one request, copied out of `request_rec`.
#[derive(Clone, Debug, Default)]
pub struct RequestFacts {
    pub method: String,
    pub protocol: String,
    /// The request line's target (`REQUEST_URI`): not decoded, with query string.
    pub request_uri: Vec<u8>,
    /// `r->uri`: percent-decoded path.
    pub uri: Vec<u8>,
    /// `r->path_info` from the directory walk.
    pub path_info: Vec<u8>,
    pub query_string: Vec<u8>,
    /// Request headers in arrival order.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// `r->subprocess_env`: SetEnv, SetEnvIf, mod_ssl, mod_rewrite `[E=]`...
    pub env: Vec<(Vec<u8>, Vec<u8>)>,
    pub server_software: String,
    pub server_name: Vec<u8>,
    pub server_addr: String,
    pub server_port: u16,
    pub server_admin: Vec<u8>,
    pub remote_addr: String,
    pub remote_port: u16,
    pub document_root: Vec<u8>,
    pub context_prefix: Vec<u8>,
    pub context_document_root: Vec<u8>,
    /// `http` or `https` as httpd sees the connection.
    pub scheme: String,
    pub script_filename: Vec<u8>,
    pub remote_user: Option<Vec<u8>>,
    pub auth_type: Option<Vec<u8>>,
    /// After an internal redirect (ErrorDocument, mod_rewrite...): the
    /// previous request's URI and query string, and the first user found
    /// walking back the redirect chain when this request has none.
    pub redirect_url: Option<Vec<u8>>,
    pub redirect_query_string: Option<Vec<u8>>,
    pub redirect_remote_user: Option<Vec<u8>>,
    /// httpd's `CGIPassAuth On`: Authorization and Proxy-Authorization pass.
    pub cgi_pass_auth: bool,
}

/// Per-request switches from the configuration that affect the environ.
#[derive(Clone, Debug, Default)]
pub struct EnvironPolicy {
    /// WSGIPassAuthorization: `Authorization` appears as HTTP_AUTHORIZATION.
    pub pass_authorization: bool,
    /// Lower-cased names of the proxy headers to trust (WSGITrustedProxyHeaders).
    pub trusted_proxy_headers: Vec<String>,
    /// Peers whose proxy headers are honoured; empty = any peer.
    pub trusted_proxies: Vec<IpNet>,
    /// REQUEST_METHOD to present for HEAD (WSGIMapHEADToGET).
    pub map_head_to_get: bool,
}

/// How a value must be decoded into a Python `str`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decode {
    /// PEP 3333: bytes as latin-1 code points.
    Latin1,
    /// File system paths: the file system encoding (latin-1 if that fails).
    FsPath,
}

/// The CGI variables of the environ, plus the values mod_wsgi also exposes.
#[derive(Clone, Debug, Default)]
pub struct CgiEnviron {
    pub vars: Vec<(String, Vec<u8>, Decode)>,
    /// `wsgi.url_scheme`.
    pub url_scheme: String,
    /// SCRIPT_NAME / PATH_INFO before any trusted-proxy rewrite.
    pub original_script_name: Vec<u8>,
    pub original_path_info: Vec<u8>,
    /// Set when a trusted X-Script-Name rewrote SCRIPT_NAME.
    pub mount_point: Option<Vec<u8>>,
}

impl CgiEnviron {
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.vars
            .iter()
            .rev()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.as_slice())
    }

    fn set(&mut self, key: &str, value: Vec<u8>, decode: Decode) {
        if let Some(slot) = self.vars.iter_mut().find(|(k, _, _)| k == key) {
            slot.1 = value;
            slot.2 = decode;
        } else {
            self.vars.push((key.to_string(), value, decode));
        }
    }

    fn remove(&mut self, key: &str) {
        self.vars.retain(|(k, _, _)| k != key);
    }
}

/// httpd's `ap_find_path_info`: where PATH_INFO starts in `uri`, skipping
/// repeated slashes the way the directory walk does.
pub fn find_path_info(uri: &[u8], path_info: &[u8]) -> usize {
    let (mut lu, mut lp) = (uri.len() as isize, path_info.len() as isize);
    loop {
        lu -= 1;
        if lu < 0 {
            break;
        }
        lp -= 1;
        if lp < 0 || uri[lu as usize] != path_info[lp as usize] {
            break;
        }
        if path_info[lp as usize] == b'/' {
            while lu > 0 && uri[lu as usize - 1] == b'/' {
                lu -= 1;
            }
        }
    }
    let mut lu = lu.max(0) as usize;
    while lu < uri.len() && uri[lu] != b'/' {
        lu += 1;
    }
    lu
}

/// Collapses runs of `/` into one (mod_wsgi does this to SCRIPT_NAME and PATH_INFO).
pub fn collapse_slashes(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        if b == b'/' && out.last() == Some(&b'/') {
            continue;
        }
        out.push(b);
    }
    out
}

/// SCRIPT_NAME and PATH_INFO for a request (`""` SCRIPT_NAME when mounted at `/`).
pub fn split_script_name(uri: &[u8], path_info: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let at = if path_info.is_empty() {
        uri.len()
    } else {
        find_path_info(uri, path_info)
    };
    (collapse_slashes(&uri[..at]), collapse_slashes(path_info))
}

/// `Content-Type` → `HTTP_CONTENT_TYPE` style: upper case, `-` → `_`.
/// `None` for names with characters outside `[A-Za-z0-9-]`: such headers are
/// dropped so that `X_Forwarded_For` cannot spoof `X-Forwarded-For`.
pub fn cgi_header_name(name: &[u8]) -> Option<String> {
    if name.is_empty() || !name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-') {
        return None;
    }
    Some(
        name.iter()
            .map(|&b| {
                if b == b'-' {
                    '_'
                } else {
                    b.to_ascii_uppercase() as char
                }
            })
            .collect(),
    )
}

/// The CGI part of the environ, as mod_wsgi 6 builds it
/// (`wsgi_add_vars_to_environment` + `wsgi_build_environment`): what is in
/// `subprocess_env` (SetEnv, SetEnvIf, mod_rewrite `[E=]`, REDIRECT_*...),
/// overlaid by the request headers and the CGI variables, then rewritten by
/// trusted proxy headers.
pub fn build(facts: &RequestFacts, policy: &EnvironPolicy) -> CgiEnviron {
    let mut env = CgiEnviron::default();
    for (k, v) in &facts.env {
        let key = String::from_utf8_lossy(k).into_owned();
        env.set(&key, v.clone(), Decode::Latin1);
    }
    // Headers, in arrival order (httpd has already joined repeated ones).
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, value) in &facts.headers {
        let Some(key) = cgi_header_name(name) else {
            continue;
        };
        let key = match key.as_str() {
            "CONTENT_TYPE" | "CONTENT_LENGTH" => key,
            // httpoxy: a client must not be able to set HTTP_PROXY.
            "PROXY" => continue,
            "AUTHORIZATION" if policy.pass_authorization || facts.cgi_pass_auth => {
                "HTTP_AUTHORIZATION".into()
            }
            "PROXY_AUTHORIZATION" if facts.cgi_pass_auth => "HTTP_PROXY_AUTHORIZATION".into(),
            "AUTHORIZATION" | "PROXY_AUTHORIZATION" => continue,
            _ => format!("HTTP_{key}"),
        };
        match headers.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => {
                slot.1.extend_from_slice(b", ");
                slot.1.extend_from_slice(value);
            }
            None => headers.push((key, value.clone())),
        }
    }
    for (k, v) in headers {
        env.set(&k, v, Decode::Latin1);
    }

    let (script_name, path_info) = split_script_name(&facts.uri, &facts.path_info);
    let l1 = |s: &str| s.as_bytes().to_vec();
    let mut cgi: Vec<(&str, Vec<u8>, Decode)> = vec![
        (
            "SERVER_SOFTWARE",
            l1(&facts.server_software),
            Decode::Latin1,
        ),
        ("SERVER_NAME", facts.server_name.clone(), Decode::Latin1),
        ("SERVER_ADDR", l1(&facts.server_addr), Decode::Latin1),
        (
            "SERVER_PORT",
            l1(&facts.server_port.to_string()),
            Decode::Latin1,
        ),
        ("REMOTE_ADDR", l1(&facts.remote_addr), Decode::Latin1),
        ("DOCUMENT_ROOT", facts.document_root.clone(), Decode::FsPath),
        ("REQUEST_SCHEME", l1(&facts.scheme), Decode::Latin1),
        (
            "CONTEXT_PREFIX",
            facts.context_prefix.clone(),
            Decode::Latin1,
        ),
        (
            "CONTEXT_DOCUMENT_ROOT",
            facts.context_document_root.clone(),
            Decode::FsPath,
        ),
    ];
    if !facts.server_admin.is_empty() {
        cgi.push(("SERVER_ADMIN", facts.server_admin.clone(), Decode::Latin1));
    }
    cgi.push((
        "SCRIPT_FILENAME",
        facts.script_filename.clone(),
        Decode::FsPath,
    ));
    cgi.push((
        "REMOTE_PORT",
        l1(&facts.remote_port.to_string()),
        Decode::Latin1,
    ));
    match (&facts.remote_user, &facts.redirect_remote_user) {
        (Some(user), _) => cgi.push(("REMOTE_USER", user.clone(), Decode::Latin1)),
        (None, Some(user)) => cgi.push(("REDIRECT_REMOTE_USER", user.clone(), Decode::Latin1)),
        (None, None) => {}
    }
    if let Some(auth) = &facts.auth_type {
        cgi.push(("AUTH_TYPE", auth.clone(), Decode::Latin1));
    }
    if let Some(url) = &facts.redirect_url {
        cgi.push(("REDIRECT_URL", url.clone(), Decode::Latin1));
    }
    if let Some(q) = &facts.redirect_query_string {
        cgi.push(("REDIRECT_QUERY_STRING", q.clone(), Decode::Latin1));
    }
    let method = if policy.map_head_to_get && facts.method == "HEAD" {
        "GET"
    } else {
        facts.method.as_str()
    };
    cgi.extend([
        ("SERVER_PROTOCOL", l1(&facts.protocol), Decode::Latin1),
        ("REQUEST_METHOD", l1(method), Decode::Latin1),
        ("QUERY_STRING", facts.query_string.clone(), Decode::Latin1),
        ("REQUEST_URI", facts.request_uri.clone(), Decode::Latin1),
        ("SCRIPT_NAME", script_name.clone(), Decode::Latin1),
        ("PATH_INFO", path_info.clone(), Decode::Latin1),
    ]);
    for (k, v, d) in cgi {
        env.set(k, v, d);
    }
    // Not part of the WSGI environ (it is meaningless in-process).
    env.remove("PATH");

    env.original_script_name = script_name;
    env.original_path_info = path_info;
    let mut https = env
        .get("HTTPS")
        .map(|v| v.eq_ignore_ascii_case(b"on") || v == b"1")
        .unwrap_or(false);
    apply_trusted_proxy_headers(&mut env, facts, policy, &mut https);
    // The connection itself is TLS (mod_ssl): https whatever a proxy said.
    if facts.scheme == "https" {
        https = true;
    }
    // mod_wsgi turns HTTPS into wsgi.url_scheme and removes it.
    env.remove("HTTPS");
    env.url_scheme = if https { "https" } else { "http" }.into();
    env
}

/// The groups of synonymous proxy headers (mod_wsgi's categories).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProxyCategory {
    Client,
    Host,
    Server,
    Port,
    ScriptName,
    Scheme,
}

/// What a trusted proxy header rewrites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProxyApply {
    ForwardedFor,
    ClientIp,
    Host,
    Server,
    Port,
    ScriptName,
    SchemeName,
    SchemeFlag,
}

/// mod_wsgi 6's registry of proxy headers (`wsgi_proxy_header_registry`).
const PROXY_HEADERS: &[(&str, ProxyCategory, ProxyApply)] = &[
    (
        "x-forwarded-for",
        ProxyCategory::Client,
        ProxyApply::ForwardedFor,
    ),
    ("x-client-ip", ProxyCategory::Client, ProxyApply::ClientIp),
    ("x-real-ip", ProxyCategory::Client, ProxyApply::ClientIp),
    ("x-forwarded-host", ProxyCategory::Host, ProxyApply::Host),
    ("x-host", ProxyCategory::Host, ProxyApply::Host),
    (
        "x-forwarded-server",
        ProxyCategory::Server,
        ProxyApply::Server,
    ),
    ("x-forwarded-port", ProxyCategory::Port, ProxyApply::Port),
    (
        "x-script-name",
        ProxyCategory::ScriptName,
        ProxyApply::ScriptName,
    ),
    (
        "x-forwarded-script-name",
        ProxyCategory::ScriptName,
        ProxyApply::ScriptName,
    ),
    (
        "x-forwarded-proto",
        ProxyCategory::Scheme,
        ProxyApply::SchemeName,
    ),
    (
        "x-forwarded-scheme",
        ProxyCategory::Scheme,
        ProxyApply::SchemeName,
    ),
    ("x-scheme", ProxyCategory::Scheme, ProxyApply::SchemeName),
    (
        "x-forwarded-https",
        ProxyCategory::Scheme,
        ProxyApply::SchemeFlag,
    ),
    (
        "x-forwarded-ssl",
        ProxyCategory::Scheme,
        ProxyApply::SchemeFlag,
    ),
    ("x-https", ProxyCategory::Scheme, ProxyApply::SchemeFlag),
];

fn cgi_key(header: &str) -> String {
    format!("HTTP_{}", header.to_ascii_uppercase().replace('-', "_"))
}

fn is_trusted_peer(addr: &str, proxies: &[IpNet]) -> bool {
    proxies.is_empty()
        || addr
            .parse::<IpAddr>()
            .is_ok_and(|ip| proxies.iter().any(|n| n.contains(ip)))
}

/// WSGITrustedProxyHeaders / WSGITrustedProxies, as mod_wsgi 6 defines them
/// (`wsgi_process_proxy_headers`): the configured headers are applied in
/// configuration order when the peer is trusted (a later synonym overrides an
/// earlier one); then, in every category with a configured header, all
/// synonyms but the one applied are removed, so a client cannot slip a
/// spoofed value past the application through another name.
fn apply_trusted_proxy_headers(
    env: &mut CgiEnviron,
    facts: &RequestFacts,
    policy: &EnvironPolicy,
    https: &mut bool,
) {
    if policy.trusted_proxy_headers.is_empty() {
        return;
    }
    let peer_trusted = is_trusted_peer(&facts.remote_addr, &policy.trusted_proxies);
    let mut matched: Vec<ProxyCategory> = Vec::new();
    let mut kept: Vec<(ProxyCategory, &str)> = Vec::new();
    for name in &policy.trusted_proxy_headers {
        let Some(&(header, category, apply)) = PROXY_HEADERS.iter().find(|(h, _, _)| h == name)
        else {
            continue;
        };
        if !matched.contains(&category) {
            matched.push(category);
        }
        if !peer_trusted {
            continue;
        }
        let Some(value) = env.get(&cgi_key(header)).map(<[u8]>::to_vec) else {
            continue;
        };
        match apply {
            ProxyApply::ForwardedFor => forwarded_for(env, &value, &policy.trusted_proxies),
            ProxyApply::ClientIp => env.set("REMOTE_ADDR", value, Decode::Latin1),
            ProxyApply::Host => env.set("HTTP_HOST", value, Decode::Latin1),
            ProxyApply::Server => env.set("SERVER_NAME", value, Decode::Latin1),
            ProxyApply::Port => env.set("SERVER_PORT", value, Decode::Latin1),
            ProxyApply::ScriptName => {
                env.set("SCRIPT_NAME", value.clone(), Decode::Latin1);
                env.mount_point = Some(value);
            }
            ProxyApply::SchemeName => {
                if value.eq_ignore_ascii_case(b"https") {
                    *https = true;
                } else if value.eq_ignore_ascii_case(b"http") {
                    *https = false;
                }
            }
            ProxyApply::SchemeFlag => {
                let v = value.to_ascii_lowercase();
                if matches!(v.as_slice(), b"on" | b"true" | b"1") {
                    *https = true;
                } else if matches!(v.as_slice(), b"off" | b"false" | b"0") {
                    *https = false;
                }
            }
        }
        kept.retain(|(c, _)| *c != category);
        kept.push((category, header));
    }
    for (header, category, _) in PROXY_HEADERS {
        let winner = kept.iter().find(|(c, _)| c == category).map(|(_, h)| *h);
        if matched.contains(category) && winner != Some(*header) {
            env.remove(&cgi_key(header));
        }
    }
}

/// `X-Forwarded-For`. Without WSGITrustedProxies the client is the first
/// entry. With it, walking from the right past trusted proxies, the client is
/// the entry before the leftmost trusted one (the last entry when the nearest
/// hop is not trusted), and the header is trimmed to start at the client.
fn forwarded_for(env: &mut CgiEnviron, value: &[u8], proxies: &[IpNet]) {
    let text = String::from_utf8_lossy(value);
    let hops: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if hops.is_empty() {
        return;
    }
    if proxies.is_empty() {
        env.set("REMOTE_ADDR", hops[0].as_bytes().to_vec(), Decode::Latin1);
        return;
    }
    let mut first_trusted = None;
    for (i, hop) in hops.iter().enumerate().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if proxies.iter().any(|n| n.contains(ip)) => first_trusted = Some(i),
            _ => break,
        }
    }
    let client = match first_trusted {
        Some(i) => i.saturating_sub(1),
        None => hops.len() - 1,
    };
    env.set(
        "REMOTE_ADDR",
        hops[client].as_bytes().to_vec(),
        Decode::Latin1,
    );
    env.set(
        "HTTP_X_FORWARDED_FOR",
        hops[client..].join(", ").into_bytes(),
        Decode::Latin1,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> RequestFacts {
        RequestFacts {
            method: "GET".into(),
            protocol: "HTTP/1.1".into(),
            request_uri: b"/hello/x/y?a=1".to_vec(),
            uri: b"/hello/x/y".to_vec(),
            path_info: b"/x/y".to_vec(),
            query_string: b"a=1".to_vec(),
            headers: vec![
                (b"Host".to_vec(), b"localhost".to_vec()),
                (b"Content-Type".to_vec(), b"text/plain".to_vec()),
                (b"X_Evil".to_vec(), b"1".to_vec()),
                (b"Proxy".to_vec(), b"http://evil".to_vec()),
                (b"Authorization".to_vec(), b"Basic eA==".to_vec()),
                (b"Accept".to_vec(), b"a".to_vec()),
                (b"Accept".to_vec(), b"b".to_vec()),
            ],
            env: vec![(b"FROM_SETENV".to_vec(), b"yes".to_vec())],
            server_port: 8080,
            remote_addr: "10.0.0.5".into(),
            scheme: "http".into(),
            ..Default::default()
        }
    }

    fn get<'a>(e: &'a CgiEnviron, k: &str) -> Option<&'a str> {
        e.get(k).map(|v| std::str::from_utf8(v).unwrap())
    }

    #[test]
    fn path_info_split() {
        // (uri, path_info) -> (SCRIPT_NAME, PATH_INFO)
        for (uri, path_info, script_name, rest) in [
            ("/hello/x/y", "/x/y", "/hello", "/x/y"),
            ("/hello", "", "/hello", ""),
            ("/", "/", "", "/"),
            ("/a/b", "/a/b", "", "/a/b"),
            ("//hello//x", "/x", "/hello", "/x"),
            ("/hello/x//y", "/x/y", "/hello", "/x/y"),
        ] {
            assert_eq!(
                split_script_name(uri.as_bytes(), path_info.as_bytes()),
                (script_name.as_bytes().to_vec(), rest.as_bytes().to_vec()),
                "{uri} {path_info}"
            );
        }
    }

    #[test]
    fn headers_become_cgi_variables() {
        let e = build(&facts(), &EnvironPolicy::default());
        // (variable, its value; None: not in the environ)
        for (key, value) in [
            ("HTTP_HOST", Some("localhost")),
            ("CONTENT_TYPE", Some("text/plain")),
            ("HTTP_ACCEPT", Some("a, b")),
            ("HTTP_X_EVIL", None),
            ("HTTP_PROXY", None),
            ("HTTP_AUTHORIZATION", None),
            ("SCRIPT_NAME", Some("/hello")),
            ("PATH_INFO", Some("/x/y")),
            ("QUERY_STRING", Some("a=1")),
            ("REQUEST_URI", Some("/hello/x/y?a=1")),
            ("SERVER_PORT", Some("8080")),
            ("FROM_SETENV", Some("yes")),
        ] {
            assert_eq!(get(&e, key), value, "{key}");
        }
        assert_eq!(e.url_scheme, "http");
        let e = build(
            &facts(),
            &EnvironPolicy {
                pass_authorization: true,
                ..Default::default()
            },
        );
        assert_eq!(get(&e, "HTTP_AUTHORIZATION"), Some("Basic eA=="));
    }

    #[test]
    fn https_from_mod_ssl_sets_the_scheme() {
        let mut f = facts();
        f.env.push((b"HTTPS".to_vec(), b"on".to_vec()));
        let e = build(&f, &EnvironPolicy::default());
        assert_eq!(e.url_scheme, "https");
        assert_eq!(get(&e, "HTTPS"), None);
    }

    #[test]
    fn head_can_be_presented_as_get() {
        let mut f = facts();
        f.method = "HEAD".into();
        assert_eq!(
            get(&build(&f, &EnvironPolicy::default()), "REQUEST_METHOD"),
            Some("HEAD")
        );
        let p = EnvironPolicy {
            map_head_to_get: true,
            ..Default::default()
        };
        assert_eq!(get(&build(&f, &p), "REQUEST_METHOD"), Some("GET"));
    }

    fn with_headers(extra: &[(&str, &str)]) -> RequestFacts {
        let mut f = facts();
        for (k, v) in extra {
            f.headers
                .push((k.as_bytes().to_vec(), v.as_bytes().to_vec()));
        }
        f
    }

    fn trusting(headers: &[&str], proxies: &[&str]) -> EnvironPolicy {
        EnvironPolicy {
            trusted_proxy_headers: headers.iter().map(|s| s.to_string()).collect(),
            trusted_proxies: proxies.iter().map(|p| IpNet::parse(p).unwrap()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn trusted_proxy_headers_rewrite_the_environ() {
        let f = with_headers(&[
            ("X-Forwarded-For", "1.2.3.4, 10.0.0.9"),
            ("X-Real-IP", "6.6.6.6"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "public.example.com"),
            ("X-Script-Name", "/mount/"),
        ]);
        let p = trusting(
            &[
                "x-forwarded-for",
                "x-forwarded-proto",
                "x-forwarded-host",
                "x-script-name",
            ],
            &[],
        );
        let e = build(&f, &p);
        assert_eq!(get(&e, "REMOTE_ADDR"), Some("1.2.3.4"));
        assert_eq!(get(&e, "HTTP_X_REAL_IP"), None, "untrusted synonym removed");
        assert_eq!(e.url_scheme, "https");
        assert_eq!(get(&e, "HTTP_HOST"), Some("public.example.com"));
        // Used as is, as mod_wsgi does.
        assert_eq!(get(&e, "SCRIPT_NAME"), Some("/mount/"));
        assert_eq!(e.mount_point.as_deref(), Some(&b"/mount/"[..]));
        assert_eq!(e.original_script_name, b"/hello");
    }

    #[test]
    fn proxy_headers_from_untrusted_peers_are_ignored() {
        let f = with_headers(&[
            ("X-Forwarded-For", "1.2.3.4"),
            ("X-Forwarded-Proto", "https"),
        ]);
        let p = trusting(
            &["x-forwarded-for", "x-forwarded-proto"],
            &["192.168.0.0/16"],
        );
        let e = build(&f, &p);
        assert_eq!(get(&e, "REMOTE_ADDR"), Some("10.0.0.5"));
        assert_eq!(get(&e, "HTTP_X_FORWARDED_FOR"), None);
        assert_eq!(e.url_scheme, "http");
    }

    #[test]
    fn forwarded_for_walks_trusted_hops_from_the_right() {
        let f = with_headers(&[("X-Forwarded-For", "9.9.9.9, 1.2.3.4, 10.0.0.7")]);
        let p = trusting(&["x-forwarded-for"], &["10.0.0.0/8"]);
        assert_eq!(get(&build(&f, &p), "REMOTE_ADDR"), Some("1.2.3.4"));
    }

    #[test]
    fn cgi_variables_win_over_subprocess_env() {
        let mut f = facts();
        f.env.push((b"REQUEST_METHOD".to_vec(), b"PUT".to_vec()));
        f.env.push((b"HTTP_HOST".to_vec(), b"spoofed".to_vec()));
        f.env.push((b"PATH".to_vec(), b"/usr/bin".to_vec()));
        let e = build(&f, &EnvironPolicy::default());
        assert_eq!(get(&e, "REQUEST_METHOD"), Some("GET"));
        assert_eq!(get(&e, "HTTP_HOST"), Some("localhost"));
        assert_eq!(get(&e, "FROM_SETENV"), Some("yes"));
        assert_eq!(get(&e, "PATH"), None);
    }

    #[test]
    fn authorization_rules() {
        let mut f = with_headers(&[("Proxy-Authorization", "Basic cHJveHk=")]);
        let p = EnvironPolicy {
            pass_authorization: true,
            ..Default::default()
        };
        let e = build(&f, &p);
        assert_eq!(get(&e, "HTTP_AUTHORIZATION"), Some("Basic eA=="));
        assert_eq!(get(&e, "HTTP_PROXY_AUTHORIZATION"), None);
        f.cgi_pass_auth = true;
        let e = build(&f, &EnvironPolicy::default());
        assert_eq!(get(&e, "HTTP_AUTHORIZATION"), Some("Basic eA=="));
        assert_eq!(get(&e, "HTTP_PROXY_AUTHORIZATION"), Some("Basic cHJveHk="));
    }

    #[test]
    fn internal_redirect_variables() {
        let mut f = facts();
        f.redirect_url = Some(b"/missing".to_vec());
        f.redirect_query_string = Some(b"a=b".to_vec());
        f.redirect_remote_user = Some(b"bob".to_vec());
        let e = build(&f, &EnvironPolicy::default());
        assert_eq!(get(&e, "REDIRECT_URL"), Some("/missing"));
        assert_eq!(get(&e, "REDIRECT_QUERY_STRING"), Some("a=b"));
        assert_eq!(get(&e, "REDIRECT_REMOTE_USER"), Some("bob"));
        assert_eq!(get(&e, "REMOTE_USER"), None);
        f.remote_user = Some(b"alice".to_vec());
        let e = build(&f, &EnvironPolicy::default());
        assert_eq!(get(&e, "REMOTE_USER"), Some("alice"));
        assert_eq!(get(&e, "REDIRECT_REMOTE_USER"), None);
    }

    #[test]
    fn forwarded_for_is_trimmed_to_the_client_with_trusted_proxies() {
        // (X-Forwarded-For, trusted proxies) -> (REMOTE_ADDR, X-Forwarded-For left)
        for (header, proxies, client, left) in [
            (
                "9.9.9.9, 1.2.3.4, 10.0.0.7, 10.0.0.8",
                &["10.0.0.0/8"][..],
                "1.2.3.4",
                "1.2.3.4, 10.0.0.7, 10.0.0.8",
            ),
            // Nearest hop not trusted: it is the client.
            ("9.9.9.9, 1.2.3.4", &["10.0.0.0/8"], "1.2.3.4", "1.2.3.4"),
            // Without a proxy list: the first entry, header left alone.
            (" , 9.9.9.9, 1.2.3.4", &[], "9.9.9.9", " , 9.9.9.9, 1.2.3.4"),
        ] {
            let f = with_headers(&[("X-Forwarded-For", header)]);
            let e = build(&f, &trusting(&["x-forwarded-for"], proxies));
            assert_eq!(get(&e, "REMOTE_ADDR"), Some(client), "{header}");
            assert_eq!(get(&e, "HTTP_X_FORWARDED_FOR"), Some(left), "{header}");
        }
    }

    #[test]
    fn proxy_headers_apply_in_configuration_order() {
        let f = with_headers(&[
            ("X-Real-IP", "1.1.1.1"),
            ("X-Client-IP", "2.2.2.2"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-SSL", "off"),
            ("X-Forwarded-Port", "8443"),
            ("X-Forwarded-Server", "front.example"),
        ]);
        let p = trusting(
            &[
                "x-real-ip",
                "x-client-ip",
                "x-forwarded-proto",
                "x-forwarded-ssl",
                "x-forwarded-port",
                "x-forwarded-server",
            ],
            &[],
        );
        let e = build(&f, &p);
        // The later synonym wins and is the only one kept.
        assert_eq!(get(&e, "REMOTE_ADDR"), Some("2.2.2.2"));
        assert_eq!(get(&e, "HTTP_X_REAL_IP"), None);
        assert_eq!(get(&e, "HTTP_X_CLIENT_IP"), Some("2.2.2.2"));
        assert_eq!(e.url_scheme, "http", "X-Forwarded-SSL: off came last");
        assert_eq!(get(&e, "HTTP_X_FORWARDED_PROTO"), None);
        assert_eq!(get(&e, "SERVER_PORT"), Some("8443"));
        assert_eq!(get(&e, "SERVER_NAME"), Some("front.example"));
        // An unrecognised flag value leaves the scheme alone.
        let f = with_headers(&[("X-Forwarded-HTTPS", "maybe")]);
        let e = build(&f, &trusting(&["x-forwarded-https"], &[]));
        assert_eq!(e.url_scheme, "http");
        // Untrusted peer: every header of a configured category goes.
        let e = build(
            &with_headers(&[("X-Forwarded-Port", "1"), ("X-Forwarded-Server", "x")]),
            &trusting(&["x-forwarded-port"], &["192.168.0.0/16"]),
        );
        assert_eq!(get(&e, "HTTP_X_FORWARDED_PORT"), None);
        assert_eq!(get(&e, "SERVER_PORT"), Some("8080"));
        assert_eq!(
            get(&e, "HTTP_X_FORWARDED_SERVER"),
            Some("x"),
            "not configured"
        );
    }

    #[test]
    fn tls_connection_stays_https() {
        let mut f = with_headers(&[("X-Forwarded-Proto", "http")]);
        f.scheme = "https".into();
        let e = build(&f, &trusting(&["x-forwarded-proto"], &[]));
        assert_eq!(e.url_scheme, "https");
    }
}
