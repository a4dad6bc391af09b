//! Static files served by Apache: the document root (with --document-root
//! its files take precedence over the application, as in mod_wsgi-express),
//! `--url-alias` files and directories, and error documents.
//!
//! mod_wsgi-express maps every request into the document root and hands
//! those without a file to a `WSGIHandlerScript`; here the application is a
//! `WSGIScriptAlias`, and a rewrite rule (mod_rewrite translates before
//! aliases do) serves a file of the document root when there is one.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};

use crate::render::{quote, quote_str};
use crate::settings::Plan;

/// `AllowOverride`'s value: the --allow-override types, else None.
fn allow_override(p: &Plan) -> String {
    if p.o.allow_override.is_empty() {
        "None".into()
    } else {
        p.o.allow_override.join(" ")
    }
}

/// DocumentRoot, its directory section, and (with --document-root) the
/// rule that serves its files before the application.
pub(super) fn document_root(p: &Plan) -> Result<String> {
    let root = quote(&p.document_root)?;
    let mut c = format!("DocumentRoot {root}\nAccessFileName .htaccess\n");
    writeln!(
        c,
        "<Directory {root}>\n    AllowOverride {}",
        allow_override(p)
    )?;
    if let Some(index) = &p.o.directory_index {
        writeln!(c, "    DirectoryIndex {index}")?;
    }
    if p.o.directory_listing {
        c.push_str("    Options +Indexes\n");
    }
    c.push_str("    Require all granted\n</Directory>\n");
    if p.static_first {
        let dir = p
            .document_root
            .to_str()
            .context("the document root is not valid UTF-8")?;
        // The pattern sees the decoded, normalised URL path (no `..`);
        // `quote` has refused paths with quotes.
        c.push_str("RewriteEngine On\n");
        if p.o.directory_index.is_some() {
            writeln!(c, "RewriteCond \"{dir}$1\" -d [OR]")?;
        }
        writeln!(c, "RewriteCond \"{dir}$1\" -f")?;
        writeln!(c, "RewriteRule \"^(/.*)$\" \"{dir}$1\" [L]")?;
    }
    Ok(c)
}

/// The `--url-alias` mappings, longest URL first (as mod_wsgi-express sorts
/// them), and the `--error-document` ones.
pub(super) fn aliases(p: &Plan) -> Result<String> {
    let mut c = String::new();
    let mut aliases: Vec<_> = p.url_aliases.iter().collect();
    aliases.sort_by(|a, b| (&b.url, &b.target).cmp(&(&a.url, &a.target)));
    for a in aliases {
        let url = quote_str(&a.url, "--url-alias")?;
        if a.file {
            let dir = a.target.parent().unwrap_or(Path::new("/"));
            let name = a
                .target
                .file_name()
                .and_then(|n| n.to_str())
                .context("--url-alias: the file name is not valid UTF-8")?;
            writeln!(
                c,
                "Alias {url} {}\n<Directory {}>\n<Files {}>\n    Require all granted\n</Files>\n</Directory>",
                quote(&a.target)?,
                quote(dir)?,
                quote_str(name, "--url-alias")?
            )?;
        } else {
            let dir = quote(&a.target)?;
            writeln!(
                c,
                "Alias {url} {dir}\n<Directory {dir}>\n    AllowOverride {}\n    Require all granted\n</Directory>",
                allow_override(p)
            )?;
        }
    }
    for (status, url) in p.o.error_documents() {
        writeln!(
            c,
            "ErrorDocument {status} {}",
            quote_str(url, "--error-document")?
        )?;
    }
    Ok(c)
}
