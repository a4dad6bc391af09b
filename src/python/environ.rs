//! The CGI part of the WSGI environ, built from plain request facts the
//! Apache layer gathers (or, in daemon mode, that arrive over the socket).
//! Pure: no FFI and no Python, so every rule here is unit tested.

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
}

/// Per-request switches from the configuration that affect the environ.
#[derive(Clone, Debug, Default)]
pub struct EnvironPolicy {
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

pub fn build(facts: &RequestFacts, policy: &EnvironPolicy) -> CgiEnviron {
    let mut env = CgiEnviron::default();
    for (name, value) in &facts.headers {
        let Some(key) = cgi_header_name(name) else {
            continue;
        };
        let key = match key.as_str() {
            "CONTENT_TYPE" | "CONTENT_LENGTH" => key,
            // httpoxy: a client must not be able to set HTTP_PROXY.
            "PROXY" => continue,
            "AUTHORIZATION" | "PROXY_AUTHORIZATION" if !policy.pass_authorization => continue,
            _ => format!("HTTP_{key}"),
        };
        match env.vars.iter_mut().find(|(k, _, _)| *k == key) {
            Some(slot) => {
                slot.1.extend_from_slice(b", ");
                slot.1.extend_from_slice(value);
            }
            None => env.vars.push((key, value.clone(), Decode::Latin1)),
        }
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
        (
            "REMOTE_PORT",
            l1(&facts.remote_port.to_string()),
            Decode::Latin1,
        ),
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
        ("SERVER_ADMIN", facts.server_admin.clone(), Decode::Latin1),
        (
            "SCRIPT_FILENAME",
            facts.script_filename.clone(),
            Decode::FsPath,
        ),
    ];
    if let Some(user) = &facts.remote_user {
        cgi.push(("REMOTE_USER", user.clone(), Decode::Latin1));
    }
    if let Some(auth) = &facts.auth_type {
        cgi.push(("AUTH_TYPE", auth.clone(), Decode::Latin1));
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
    // SetEnv and friends win over everything above, as in mod_wsgi.
    for (k, v) in &facts.env {
        let key = String::from_utf8_lossy(k).into_owned();
        env.set(&key, v.clone(), Decode::Latin1);
    }

    let https = env
        .get("HTTPS")
        .map(|v| v.eq_ignore_ascii_case(b"on") || v == b"1")
        .unwrap_or(false);
    env.remove("HTTPS");
    env.url_scheme = if https {
        "https".into()
    } else {
        facts.scheme.clone()
    };
    if env.url_scheme.is_empty() {
        env.url_scheme = "http".into();
    }
    env.original_script_name = script_name;
    env.original_path_info = path_info;
    apply_trusted_proxy_headers(&mut env, facts, policy);
    env
}

/// Header groups whose members are synonyms: the first trusted one present wins;
/// every other member of a group with a trusted member is removed.
const PROXY_GROUPS: &[&[&str]] = &[
    &["x-forwarded-for", "x-client-ip", "x-real-ip"],
    &["x-forwarded-host", "x-host"],
    &["x-forwarded-server"],
    &["x-forwarded-port"],
    &["x-script-name", "x-forwarded-script-name"],
    &["x-forwarded-proto", "x-forwarded-scheme", "x-scheme"],
    &["x-forwarded-https", "x-forwarded-ssl", "x-https"],
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

/// WSGITrustedProxyHeaders / WSGITrustedProxies, as mod_wsgi defines them.
fn apply_trusted_proxy_headers(env: &mut CgiEnviron, facts: &RequestFacts, policy: &EnvironPolicy) {
    if policy.trusted_proxy_headers.is_empty() {
        return;
    }
    let peer_trusted = is_trusted_peer(&facts.remote_addr, &policy.trusted_proxies);
    for group in PROXY_GROUPS {
        if !group
            .iter()
            .any(|h| policy.trusted_proxy_headers.iter().any(|t| t == h))
        {
            continue;
        }
        // The winning header: the first trusted member present in the request.
        let winner = group.iter().find_map(|h| {
            let trusted = policy.trusted_proxy_headers.iter().any(|t| t == h);
            let value = env.get(&cgi_key(h)).map(<[u8]>::to_vec);
            (trusted && value.is_some()).then(|| (*h, value.unwrap_or_default()))
        });
        // Untrusted synonyms are removed so the app cannot be fooled by them.
        for h in group.iter() {
            if winner.as_ref().is_none_or(|(w, _)| w != h) {
                env.remove(&cgi_key(h));
            }
        }
        let Some((header, value)) = winner else {
            continue;
        };
        if !peer_trusted {
            env.remove(&cgi_key(header));
            continue;
        }
        let text = String::from_utf8_lossy(&value).trim().to_string();
        match header {
            "x-forwarded-for" | "x-client-ip" | "x-real-ip" => {
                if let Some(client) = client_from_forwarded_for(&text, &policy.trusted_proxies) {
                    env.set("REMOTE_ADDR", client.into_bytes(), Decode::Latin1);
                }
            }
            "x-forwarded-host" | "x-host" => {
                let host = text.split(',').next().unwrap_or("").trim();
                if !host.is_empty() {
                    env.set("HTTP_HOST", host.as_bytes().to_vec(), Decode::Latin1);
                }
            }
            "x-forwarded-server" => env.set("SERVER_NAME", text.into_bytes(), Decode::Latin1),
            "x-forwarded-port" => {
                if text.parse::<u16>().is_ok() {
                    env.set("SERVER_PORT", text.into_bytes(), Decode::Latin1);
                }
            }
            "x-script-name" | "x-forwarded-script-name" => {
                let mount = text.trim_end_matches('/').as_bytes().to_vec();
                env.set("SCRIPT_NAME", mount.clone(), Decode::Latin1);
                env.mount_point = Some(mount);
            }
            "x-forwarded-proto" | "x-forwarded-scheme" | "x-scheme" => {
                let scheme = text
                    .split(',')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                if scheme == "https" || scheme == "http" {
                    env.url_scheme = scheme;
                }
            }
            _ => {
                // X-Forwarded-HTTPS / -SSL / X-HTTPS: "on", "1" or "true" mean https.
                let v = text.to_ascii_lowercase();
                env.url_scheme = if matches!(v.as_str(), "on" | "1" | "true") {
                    "https"
                } else {
                    "http"
                }
                .into();
            }
        }
    }
}

/// The client address from `X-Forwarded-For`: walking from the right, skip
/// hops that are trusted proxies; with no proxy list, the leftmost entry.
fn client_from_forwarded_for(value: &str, proxies: &[IpNet]) -> Option<String> {
    let hops: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if proxies.is_empty() {
        return hops.first().map(|s| s.to_string());
    }
    let mut client = None;
    for hop in hops.iter().rev() {
        client = Some(hop.to_string());
        if !is_trusted_peer(hop, proxies) {
            break;
        }
    }
    client
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
        assert_eq!(
            split_script_name(b"/hello/x/y", b"/x/y"),
            (b"/hello".to_vec(), b"/x/y".to_vec())
        );
        assert_eq!(
            split_script_name(b"/hello", b""),
            (b"/hello".to_vec(), b"".to_vec())
        );
        assert_eq!(split_script_name(b"/", b"/"), (b"".to_vec(), b"/".to_vec()));
        assert_eq!(
            split_script_name(b"/a/b", b"/a/b"),
            (b"".to_vec(), b"/a/b".to_vec())
        );
        assert_eq!(
            split_script_name(b"//hello//x", b"/x"),
            (b"/hello".to_vec(), b"/x".to_vec())
        );
        assert_eq!(
            split_script_name(b"/hello/x//y", b"/x/y"),
            (b"/hello".to_vec(), b"/x/y".to_vec())
        );
    }

    #[test]
    fn headers_become_cgi_variables() {
        let e = build(&facts(), &EnvironPolicy::default());
        assert_eq!(get(&e, "HTTP_HOST"), Some("localhost"));
        assert_eq!(get(&e, "CONTENT_TYPE"), Some("text/plain"));
        assert_eq!(get(&e, "HTTP_ACCEPT"), Some("a, b"));
        assert_eq!(get(&e, "HTTP_X_EVIL"), None);
        assert_eq!(get(&e, "HTTP_PROXY"), None);
        assert_eq!(get(&e, "HTTP_AUTHORIZATION"), None);
        assert_eq!(get(&e, "SCRIPT_NAME"), Some("/hello"));
        assert_eq!(get(&e, "PATH_INFO"), Some("/x/y"));
        assert_eq!(get(&e, "QUERY_STRING"), Some("a=1"));
        assert_eq!(get(&e, "REQUEST_URI"), Some("/hello/x/y?a=1"));
        assert_eq!(get(&e, "SERVER_PORT"), Some("8080"));
        assert_eq!(get(&e, "FROM_SETENV"), Some("yes"));
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
        assert_eq!(get(&e, "SCRIPT_NAME"), Some("/mount"));
        assert_eq!(e.mount_point.as_deref(), Some(&b"/mount"[..]));
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
}
