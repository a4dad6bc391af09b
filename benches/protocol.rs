//! `cargo bench --bench protocol`: what the daemon protocol costs per request
//! on each side, for a typical browser request (about 30 CGI variables):
//! the Apache child seals and encodes it, the daemon decodes and opens
//! (verifies and parses) it. std only (no benchmark framework): each case
//! runs for about a second after a warm-up and prints ns per operation.

use std::hint::black_box;
use std::time::{Duration, Instant};

use mod_wsgi_rs::daemon::protocol::{self, Frame, RequestHead};
use mod_wsgi_rs::python::environ::Decode;

fn typical_request() -> RequestHead {
    let mut head = RequestHead {
        group: "site".into(),
        log_level: 4,
        ..Default::default()
    };
    let s = &mut head.spec;
    s.script_path = "/srv/site/app.wsgi".into();
    s.callable_object = "application".into();
    s.handler = "wsgi-script".into();
    s.cgi.url_scheme = "https".into();
    let vars: &[(&str, &str)] = &[
        ("HTTP_HOST", "www.example.com"),
        (
            "HTTP_USER_AGENT",
            "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
        ),
        (
            "HTTP_ACCEPT",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("HTTP_ACCEPT_LANGUAGE", "en-GB,en;q=0.5"),
        ("HTTP_ACCEPT_ENCODING", "gzip, deflate, br, zstd"),
        (
            "HTTP_COOKIE",
            "sessionid=8f2a0c4e9b7d4c1fa3e5b6d7c8e9f0a1; csrftoken=Zx9YwV8uT7sR6qP5",
        ),
        ("HTTP_CONNECTION", "keep-alive"),
        ("HTTP_UPGRADE_INSECURE_REQUESTS", "1"),
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("SERVER_SIGNATURE", ""),
        ("SERVER_SOFTWARE", "Apache/2.4.71 (Debian)"),
        ("SERVER_NAME", "www.example.com"),
        ("SERVER_ADDR", "192.0.2.10"),
        ("SERVER_PORT", "443"),
        ("REMOTE_ADDR", "198.51.100.23"),
        ("DOCUMENT_ROOT", "/srv/site/htdocs"),
        ("REQUEST_SCHEME", "https"),
        ("CONTEXT_PREFIX", ""),
        ("CONTEXT_DOCUMENT_ROOT", "/srv/site/htdocs"),
        ("SERVER_ADMIN", "webmaster@example.com"),
        ("SCRIPT_FILENAME", "/srv/site/app.wsgi"),
        ("REMOTE_PORT", "53124"),
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_METHOD", "GET"),
        ("QUERY_STRING", "page=2&sort=name"),
        ("REQUEST_URI", "/shop/items?page=2&sort=name"),
        ("SCRIPT_NAME", ""),
        ("PATH_INFO", "/shop/items"),
    ];
    s.cgi.vars = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec(), Decode::Latin1))
        .collect();
    head
}

fn bench(name: &str, mut f: impl FnMut()) {
    for _ in 0..1000 {
        f();
    }
    let mut n = 0u64;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    let ns = started.elapsed().as_nanos() as f64 / n as f64;
    println!("{name:<40} {ns:>10.0} ns");
}

fn main() {
    let head = typical_request();
    let secret = [7u8; 32];
    let sealed = protocol::seal_request(&head, 1, &secret);
    let mut wire = Vec::new();
    protocol::encode(&Frame::Request(sealed.clone()), &mut wire).expect("encodes");
    println!(
        "a request of {} CGI variables: {} bytes on the wire",
        head.spec.cgi.vars.len(),
        wire.len()
    );
    bench("Apache child: seal + encode", || {
        let sealed = protocol::seal_request(black_box(&head), 1, &secret);
        let mut out = Vec::with_capacity(wire.len());
        let _ = protocol::encode(&Frame::Request(sealed), &mut out);
        black_box(out);
    });
    bench("daemon: decode + open (verify, parse)", || {
        if let Ok(Some((Frame::Request(s), _))) = protocol::decode(black_box(&wire)) {
            let _ = black_box(s.open(Some(&secret)));
        }
    });
    bench("daemon: encode head + body + end", || {
        let mut out = Vec::with_capacity(128);
        let _ = protocol::encode(&Frame::Head(Default::default()), &mut out);
        let _ = protocol::encode(
            &Frame::Body {
                data: b"Hello World!".to_vec(),
                flush: false,
            },
            &mut out,
        );
        let _ = protocol::encode(&Frame::End, &mut out);
        black_box(out);
    });
}
