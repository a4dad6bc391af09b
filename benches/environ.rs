//! `cargo bench --bench environ`: building a request's CGI environ from
//! what httpd knows about it (`python::environ::build`, pure Rust, before
//! any Python), for a typical browser request. std only: each case runs for
//! about a second after a warm-up and prints ns per operation.

use std::hint::black_box;
use std::time::{Duration, Instant};

use mod_wsgi_rs::python::environ::{self, EnvironPolicy, RequestFacts};

fn typical_request() -> RequestFacts {
    let headers: &[(&str, &str)] = &[
        ("Host", "www.example.com"),
        (
            "User-Agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
        ),
        (
            "Accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("Accept-Language", "en-GB,en;q=0.5"),
        ("Accept-Encoding", "gzip, deflate, br, zstd"),
        (
            "Cookie",
            "sessionid=8f2a0c4e9b7d4c1fa3e5b6d7c8e9f0a1; csrftoken=Zx9YwV8uT7sR6qP5",
        ),
        ("Connection", "keep-alive"),
        ("Upgrade-Insecure-Requests", "1"),
    ];
    RequestFacts {
        method: "GET".into(),
        protocol: "HTTP/1.1".into(),
        request_uri: b"/shop/items?page=2&sort=name".to_vec(),
        uri: b"/shop/items".to_vec(),
        path_info: b"/shop/items".to_vec(),
        query_string: b"page=2&sort=name".to_vec(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect(),
        server_software: "Apache/2.4.71 (Debian)".into(),
        server_name: b"www.example.com".to_vec(),
        server_addr: "192.0.2.10".into(),
        server_port: 443,
        server_admin: b"webmaster@example.com".to_vec(),
        remote_addr: "198.51.100.23".into(),
        remote_port: 53124,
        document_root: b"/srv/site/htdocs".to_vec(),
        context_document_root: b"/srv/site/htdocs".to_vec(),
        scheme: "https".into(),
        script_filename: b"/srv/site/app.wsgi".to_vec(),
        ..Default::default()
    }
}

fn main() {
    let facts = typical_request();
    let policy = EnvironPolicy::default();
    let built = environ::build(&facts, &policy);
    println!(
        "a request of {} headers: {} CGI variables",
        facts.headers.len(),
        built.vars.len()
    );
    for _ in 0..1000 {
        black_box(environ::build(black_box(&facts), &policy));
    }
    let mut n = 0u64;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        for _ in 0..100 {
            black_box(environ::build(black_box(&facts), &policy));
        }
        n += 100;
    }
    let ns = started.elapsed().as_nanos() as f64 / n as f64;
    println!("{:<40} {ns:>10.0} ns", "build the CGI environ");
}
