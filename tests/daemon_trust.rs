//! The daemon socket is a trust boundary: only Apache may make a daemon run
//! code. Attacks from a local process running as Apache's User (what a CGI
//! script or another virtual host's application could do): a request
//! forged with our own protocol encoder but without the group's secret, and
//! a genuine request (captured from an Apache child) with its script path
//! changed after it was sealed. Neither runs anything; both are logged; the
//! daemon keeps serving. A process of another user is refused by its peer
//! credentials. (Needs root: Apache drops to www-data, the daemon to nobody.)

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use mod_wsgi_rs::daemon::protocol::{self, Frame, RequestHead};

const APP: &str = "def application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'served by the daemon']\n";

/// A script that exists but is configured nowhere: importing it leaves a mark.
fn evil_script(marker: &Path) -> String {
    format!(
        "open({:?}, 'w').write('ran')\ndef application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'evil ran']\n",
        marker.display().to_string()
    )
}

struct Setup {
    dir: TestDir,
    apache: Apache,
    socket: PathBuf,
    evil: PathBuf,
    marker: PathBuf,
}

fn setup(tag: &str) -> Setup {
    require_root("Apache's User www-data and a daemon user are involved");
    let dir = TestDir::new(tag);
    dir.write("app.wsgi", APP);
    let marks = dir.writable_dir("marks");
    let marker = marks.join("evil.ran");
    let evil = dir.write("evil.wsgi", &evil_script(&marker));
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess trusted {}threads=2\n\
         WSGIScriptAlias /app {{dir}}/app.wsgi process-group=trusted application-group=%{{GLOBAL}}\n",
        daemon_user()
    ));
    let apache = Apache::start(&dir, &conf);
    assert_eq!(apache.get("/app").text(), "served by the daemon");
    let names = socket_names(&dir);
    assert_eq!(names.len(), 1, "{names:?}");
    let socket = dir.0.join(&names[0]);
    Setup {
        dir,
        apache,
        socket,
        evil,
        marker,
    }
}

/// Sends `bytes` to the UNIX socket `socket` from a separate process running
/// as `user`, and returns everything the other end sent back before closing.
fn send_as(user: &str, socket: &Path, bytes: &[u8]) -> Vec<u8> {
    const CLIENT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(sys.argv[1])
try:
    s.sendall(sys.stdin.buffer.read())
    # Nothing more comes: a daemon would otherwise keep the connection
    # open for a next request.
    s.shutdown(socket.SHUT_WR)
except (BrokenPipeError, ConnectionResetError, OSError):
    pass  # a refused peer's connection is closed at once
out = b''
while True:
    try:
        chunk = s.recv(65536)
    except (ConnectionResetError, TimeoutError):
        break
    if not chunk:
        break
    out += chunk
sys.stdout.buffer.write(out)
"#;
    let mut child = Command::new("runuser")
        .args(["-u", user, "--", PYTHON_EXECUTABLE, "-c", CLIENT])
        .arg(socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runuser (util-linux)");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "client as {user} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn frames(mut bytes: &[u8]) -> Vec<Frame> {
    let mut out = Vec::new();
    while let Ok(Some((f, used))) = protocol::decode(bytes) {
        out.push(f);
        bytes = &bytes[used..];
    }
    out
}

fn encode(frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        protocol::encode(f, &mut out).unwrap();
    }
    out
}

/// A request for `script` as an Apache child would build it.
fn request_for(script: &Path) -> RequestHead {
    let mut head = RequestHead {
        group: "trusted".into(),
        log_level: 6,
        ..Default::default()
    };
    head.spec.script_path = script.display().to_string();
    head.spec.callable_object = "application".into();
    head.spec.application_group = String::new();
    head.spec.handler = "wsgi-script".into();
    head.spec.cgi.url_scheme = "http".into();
    head.spec.cgi.vars = vec![
        (
            "REQUEST_METHOD".into(),
            b"GET".to_vec(),
            mod_wsgi_rs::python::environ::Decode::Latin1,
        ),
        (
            "SCRIPT_FILENAME".into(),
            script.display().to_string().into_bytes(),
            mod_wsgi_rs::python::environ::Decode::FsPath,
        ),
    ];
    head
}

fn refused(s: &Setup, reply: &[u8], what: &str) {
    let got = frames(reply);
    assert!(
        matches!(got.as_slice(), [Frame::Hello { .. }, Frame::Status(500)]),
        "{what}: the daemon answered {got:?}"
    );
    assert!(!s.marker.exists(), "{what}: the unconfigured script ran");
    assert!(
        s.apache
            .wait_for_log("refused a request from uid 33", Duration::from_secs(5)),
        "{what}: not logged\n{}",
        s.apache.error_log()
    );
    // The daemon keeps serving Apache.
    assert_eq!(s.apache.get("/app").text(), "served by the daemon");
}

#[test]
fn a_request_without_the_secret_is_refused() {
    let s = setup("trust-forged");
    // Well-formed, sealed with a guessed secret, for every plausible generation.
    each_case([0, 1, 2, u64::MAX], |&generation| {
        let forged = protocol::seal_request(&request_for(&s.evil), generation, &[0u8; 32]);
        let reply = send_as(
            "www-data",
            &s.socket,
            &encode(&[Frame::Request(forged), Frame::EndOfBody]),
        );
        refused(&s, &reply, &format!("generation {generation}"));
    });
    let log = s.apache.error_log();
    assert!(
        log.contains("does not match (forged or altered)")
            && log.contains("which this daemon does not have")
            && log.contains("Nothing of it was run"),
        "{log}"
    );
}

/// Captures the request an Apache child sends for `path`: the group's socket
/// is moved aside for a moment and a listener of ours takes its place.
fn capture(s: &Setup, path: &str) -> protocol::SealedRequest {
    // An Apache child uses a connection it kept for at most a second: after
    // that, it connects (to our listener).
    std::thread::sleep(Duration::from_millis(1100));
    let aside = s.socket.with_extension("real");
    std::fs::rename(&s.socket, &aside).unwrap();
    let listener = UnixListener::bind(&s.socket).unwrap();
    // The Apache child (www-data) must be able to connect, as to the real one.
    Command::new("chown")
        .args(["www-data:www-data"])
        .arg(&s.socket)
        .status()
        .unwrap();
    let catcher = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        conn.write_all(&encode(&[Frame::Hello { pid: 1 }])).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        loop {
            if let Ok(Some((Frame::Request(sealed), _))) = protocol::decode(&buf) {
                let _ = conn.write_all(&encode(&[Frame::Status(503)]));
                return sealed;
            }
            let n = conn.read(&mut chunk).unwrap();
            assert!(n > 0, "the Apache child closed before sending its request");
            buf.extend_from_slice(&chunk[..n]);
        }
    });
    let r = s.apache.get(path);
    let sealed = catcher.join().unwrap();
    std::fs::remove_file(&s.socket).unwrap();
    std::fs::rename(&aside, &s.socket).unwrap();
    assert_eq!(r.status, 503, "the request went to our listener");
    sealed
}

#[test]
fn an_authentic_request_with_a_changed_script_is_refused() {
    let s = setup("trust-altered");
    let genuine = capture(&s, "/app");
    // Control: the captured request, unchanged, is accepted.
    let reply = send_as(
        "www-data",
        &s.socket,
        &encode(&[Frame::Request(genuine.clone()), Frame::EndOfBody]),
    );
    let got = frames(&reply);
    assert!(
        got.iter()
            .any(|f| matches!(f, Frame::Body { data, .. } if data == b"served by the daemon")),
        "the genuine request was not served: {got:?}\n{}",
        s.apache.error_log()
    );
    // The same request with only its script path changed after sealing.
    let mut head = genuine.decode_unverified_for_tests().unwrap();
    head.spec.script_path = s.evil.display().to_string();
    let forged = genuine.with_body_for_tests(&head);
    let reply = send_as(
        "www-data",
        &s.socket,
        &encode(&[Frame::Request(forged), Frame::EndOfBody]),
    );
    refused(&s, &reply, "altered script path");
    assert!(
        s.apache
            .error_log()
            .contains("does not match (forged or altered)"),
        "{}",
        s.apache.error_log()
    );
    drop(s.dir);
}

#[test]
fn other_users_are_refused_by_their_peer_credentials() {
    let s = setup("trust-peer");
    // Let anyone reach the socket file: the daemon itself must refuse.
    std::fs::set_permissions(&s.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let forged = protocol::seal_request(&request_for(&s.evil), 1, &[0u8; 32]);
    let reply = send_as(
        "nobody",
        &s.socket,
        &encode(&[Frame::Request(forged), Frame::EndOfBody]),
    );
    assert!(
        frames(&reply).is_empty(),
        "a refused peer gets nothing: {:?}",
        frames(&reply)
    );
    assert!(
        s.apache.wait_for_log(
            "refused a connection from uid 65534",
            Duration::from_secs(5)
        ),
        "{}",
        s.apache.error_log()
    );
    assert!(!s.marker.exists());
    assert_eq!(s.apache.get("/app").text(), "served by the daemon");
}
