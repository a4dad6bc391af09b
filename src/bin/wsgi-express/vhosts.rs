//! Virtual hosts, as mod_wsgi-express lays them out: with --server-name a
//! default host that refuses other names (unless --allow-localhost), the
//! named host with its aliases, and `www.` names redirected from their
//! parent domain; HTTPS (mod_ssl) on --https-port, with --https-only
//! redirecting HTTP to it. Unlike mod_wsgi-express, HTTPS also works
//! without --server-name (one default host on the HTTPS port).

use std::fmt::Write as _;

use anyhow::Result;

use crate::render::{listen_address, quote, quote_str};
use crate::settings::{Plan, Tls};

/// Everything between the server settings and the document root.
pub(super) fn render(p: &Plan) -> Result<String> {
    let o = &p.o;
    let mut c = String::new();
    // Rewrite rules of the main server (static files first) are not
    // inherited by virtual hosts unless they say so.
    let inherit = if p.static_first {
        "RewriteEngine On\nRewriteOptions Inherit\n"
    } else {
        ""
    };
    let port = o.port;
    let https_redirect = |name: &str| -> String {
        match &p.tls {
            Some(t) if o.https_only => format!(
                "RewriteEngine On\nRewriteCond %{{HTTPS}} off\nRewriteRule (.*) https://{name}:{}%{{REQUEST_URI}}\n",
                t.port
            ),
            _ => String::new(),
        }
    };
    match &o.server_name {
        None => {
            writeln!(
                c,
                "<VirtualHost _default_:{port}>\n{inherit}{}</VirtualHost>",
                https_redirect("%{SERVER_NAME}")
            )?;
            if let Some(t) = &p.tls {
                writeln!(c, "Listen {}", listen_address(p.o.host.as_deref(), t.port))?;
                writeln!(
                    c,
                    "<VirtualHost _default_:{}>\n{inherit}{}{}</VirtualHost>",
                    t.port,
                    ssl(t)?,
                    secure_extras(p)?
                )?;
            }
        }
        Some(name) => {
            let refuse = refuse_other_names(o.allow_localhost);
            let aliases = if o.server_aliases.is_empty() {
                String::new()
            } else {
                format!("ServerAlias {}\n", o.server_aliases.join(" "))
            };
            let parent = name
                .get(..4)
                .filter(|w| w.eq_ignore_ascii_case("www."))
                .map(|_| &name[4..]);
            writeln!(
                c,
                "<VirtualHost _default_:{port}>\nServerName _wsgi_\n{refuse}</VirtualHost>"
            )?;
            writeln!(
                c,
                "<VirtualHost *:{port}>\nServerName {name}\n{aliases}{inherit}{}</VirtualHost>",
                https_redirect(name)
            )?;
            if let Some(parent) = parent {
                let to = match &p.tls {
                    Some(t) if o.https_only => format!("https://{name}:{}/", t.port),
                    _ => format!("http://{name}:{port}/"),
                };
                writeln!(
                    c,
                    "<VirtualHost *:{port}>\nServerName {parent}\nRedirect permanent / {to}\n</VirtualHost>"
                )?;
            }
            if let Some(t) = &p.tls {
                let tport = t.port;
                let ssl = ssl(t)?;
                writeln!(c, "Listen {}", listen_address(p.o.host.as_deref(), tport))?;
                writeln!(
                    c,
                    "<VirtualHost _default_:{tport}>\nServerName _wsgi_\n{refuse}{ssl}</VirtualHost>"
                )?;
                writeln!(
                    c,
                    "<VirtualHost *:{tport}>\nServerName {name}\n{aliases}{inherit}{ssl}{}</VirtualHost>",
                    secure_extras(p)?
                )?;
                if let Some(parent) = parent {
                    writeln!(
                        c,
                        "<VirtualHost *:{tport}>\nServerName {parent}\nRedirect permanent / https://{name}:{tport}/\n{ssl}</VirtualHost>"
                    )?;
                }
            }
        }
    }
    if let Some(t) = &p.tls
        && t.ca.is_some()
    {
        let mut urls = o.ssl_verify_client_urls.clone();
        if urls.is_empty() {
            urls.push("/".into());
        }
        urls.sort_by(|a, b| b.cmp(a));
        for url in urls {
            writeln!(
                c,
                "<Location {}>\nSSLVerifyClient require\nSSLVerifyDepth 1\n</Location>",
                quote_str(&url, "--ssl-verify-client")?
            )?;
        }
    }
    Ok(c)
}

fn refuse_other_names(allow_localhost: bool) -> &'static str {
    if allow_localhost {
        "<Location />\nRequire host localhost\n</Location>\n"
    } else {
        "<Location />\nRequire all denied\n</Location>\n"
    }
}

/// mod_ssl's directives for a host on the HTTPS port.
fn ssl(t: &Tls) -> Result<String> {
    let mut c = format!(
        "SSLEngine On\nSSLCertificateFile {}\nSSLCertificateKeyFile {}\n",
        quote(&t.certificate)?,
        quote(&t.key)?
    );
    if let Some(ca) = &t.ca {
        writeln!(
            c,
            "SSLCACertificateFile {}\nSSLVerifyClient none",
            quote(ca)?
        )?;
    }
    if let Some(chain) = &t.chain {
        writeln!(c, "SSLCertificateChainFile {}", quote(chain)?)?;
    }
    Ok(c)
}

/// HSTS (with --https-only) and the SSL variables in the environ.
fn secure_extras(p: &Plan) -> Result<String> {
    let mut c = String::new();
    if p.o.https_only
        && let Some(policy) = &p.o.hsts_policy
    {
        writeln!(
            c,
            "Header set Strict-Transport-Security {}",
            quote_str(policy, "--hsts-policy")?
        )?;
    }
    if p.o.ssl_environment {
        c.push_str("SSLOptions +StdEnvVars\n");
    }
    Ok(c)
}
