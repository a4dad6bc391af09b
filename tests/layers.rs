//! The import graph runs one way (ARCHITECTURE.md, "Layers"): `log`,
//! `status` and `config` at the bottom, `python` above them, `apache` and
//! `daemon` above those; `ffi` only from `apache` and the OS layer. This reads the sources
//! and fails on any reference that points up or sideways.

use std::fs;
use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(sources(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

/// Lines of the files under `src/<layer>` (or the file `src/<layer>.rs`)
/// that name one of the `forbidden` top-level modules.
fn violations(layer: &str, forbidden: &[&str]) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let dir = src.join(layer);
    let files = if dir.is_dir() {
        sources(&dir)
    } else {
        vec![src.join(format!("{layer}.rs"))]
    };
    assert!(!files.is_empty(), "no sources for {layer}");
    let mut out = Vec::new();
    for f in files {
        let text = fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for m in forbidden {
                let named = [format!("crate::{m}"), format!("mod_wsgi_rs::{m}")];
                if named.iter().any(|n| {
                    code.match_indices(n.as_str()).any(|(at, _)| {
                        // `crate::ffi` must not match `crate::ffix`.
                        !code[at + n.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
                    })
                }) {
                    out.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                }
            }
        }
    }
    out
}

#[test]
fn the_logging_facade_depends_on_nothing_of_ours() {
    let v = violations(
        "log",
        &[
            "status", "config", "python", "apache", "daemon", "ffi", "os",
        ],
    );
    assert!(v.is_empty(), "{}", v.join("\n"));
}

#[test]
fn the_status_type_depends_on_nothing_of_ours() {
    let v = violations(
        "status",
        &["log", "config", "python", "apache", "daemon", "ffi", "os"],
    );
    assert!(v.is_empty(), "{}", v.join("\n"));
}

#[test]
fn configuration_parsing_is_pure() {
    let v = violations("config", &["python", "apache", "daemon", "ffi", "os"]);
    assert!(v.is_empty(), "{}", v.join("\n"));
}

#[test]
fn the_python_layer_never_reaches_httpd() {
    let v = violations("python", &["apache", "daemon", "ffi"]);
    assert!(v.is_empty(), "{}", v.join("\n"));
}

#[test]
fn the_daemon_layer_reaches_httpd_only_through_apache() {
    let v = violations("daemon", &["ffi"]);
    assert!(v.is_empty(), "{}", v.join("\n"));
}

#[test]
fn the_checker_finds_what_it_looks_for() {
    // The scan must not pass vacuously: the apache layer does use ffi.
    assert!(!violations("apache", &["ffi"]).is_empty());
}
