//! Access control with Python scripts, as mod_wsgi's wsgi_auth.c: the authn
//! provider `wsgi` (WSGIAuthUserScript: Basic and Digest), the authz provider
//! `wsgi-group` (WSGIAuthGroupScript), and WSGIAccessScript; the environ the
//! scripts see; reloading; Django's own `check_password` / `groups_for_user`.

mod common;

use std::process::{Command, Stdio};

use common::*;

/// The application behind the protected locations: who Apache says the user is.
const APP: &str = r#"
def application(environ, start_response):
    body = 'user=%s type=%s path=%s' % (environ.get('REMOTE_USER'), environ.get('AUTH_TYPE'),
                                        environ.get('PATH_INFO'))
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body.encode()]
"#;

const AUTH_SCRIPT: &str = r#"
import json, mod_wsgi

def check_password(environ, user, password):
    if user == 'boom':
        raise RuntimeError('check_password failed on purpose')
    if user == 'env':
        shown = {}
        for k, v in environ.items():
            shown[k] = v if isinstance(v, (str, int, tuple)) else type(v).__name__
        shown['is_https()'] = environ['mod_ssl.is_https']()
        shown['var_lookup()'] = environ['mod_ssl.var_lookup']('SSL_PROTOCOL')
        environ['wsgi.errors'].write('AUTH-ENVIRON ' + json.dumps(shown, sort_keys=True) + '\n')
        return True
    if user == 'tls':
        global stale
        stale = environ['mod_ssl.var_lookup']
        environ['wsgi.errors'].write('TLS https=%r protocol=%r https_var=%r\n' % (
            environ['mod_ssl.is_https'](), environ['mod_ssl.var_lookup']('SSL_PROTOCOL'),
            environ['mod_ssl.var_lookup'](b'HTTPS')))
        return True
    if user == 'stale':
        try:
            stale('SSL_PROTOCOL')
        except RuntimeError as e:
            environ['wsgi.errors'].write('STALE %s\n' % e)
        return True
    if user == 'wrongtype':
        return 1
    if user == 'alias':
        return 'canonical' if password == 'pw' else False
    if user in ('spy', 'clerk', 'loner'):
        return password == 'secret'
    return None

def groups_for_user(environ, user):
    if user == 'spy':
        return ['secret-agents', b'staff']
    if user == 'clerk':
        return iter(['staff'])
    if user == 'canonical':
        return ('secret-agents',)
    return []
"#;

const ACCESS_SCRIPT: &str = r#"
def allow_access(environ, host):
    path = environ['PATH_INFO']
    if path.startswith('/access/deny'):
        return False
    if path.startswith('/access/none'):
        return None
    if path.startswith('/access/raise'):
        raise ValueError('allow_access failed on purpose')
    if path.startswith('/access/host'):
        return host == environ['REMOTE_ADDR'] == '127.0.0.1'
    if path.startswith('/access/other-host'):
        return host == '10.1.2.3'
    return True
"#;

fn basic(apache: &Apache, path: &str, user: &str, password: &str) -> Response {
    apache.request(
        "GET",
        path,
        &[("Authorization", &basic_auth(user, password))],
        b"",
    )
}

fn auth_conf(extra_body: &str) -> ApacheConfig {
    // The extra configuration comes first: its aliases win over `/`.
    ApacheConfig::new(&format!(
        "{extra_body}WSGIScriptAlias / {{dir}}/app.wsgi\n\
         <Location /basic>\n\
           AuthType Basic\n  AuthName \"Top Secret\"\n  AuthBasicProvider wsgi\n\
           WSGIAuthUserScript {{dir}}/auth.wsgi\n  Require valid-user\n\
         </Location>\n\
         <Location /groups>\n\
           AuthType Basic\n  AuthName \"Agents\"\n  AuthBasicProvider wsgi\n\
           WSGIAuthUserScript {{dir}}/auth.wsgi\n\
           WSGIAuthGroupScript {{dir}}/auth.wsgi\n  Require wsgi-group secret-agents\n\
         </Location>\n\
         <Location /groups/either>\n\
           Require wsgi-group admins \"staff\"\n\
         </Location>\n\
         <Location /noscript>\n\
           AuthType Basic\n  AuthName \"None\"\n  AuthBasicProvider wsgi\n  Require valid-user\n\
         </Location>\n\
         <Location /nogroupscript>\n\
           AuthType Basic\n  AuthName \"None\"\n  AuthBasicProvider wsgi\n\
           WSGIAuthUserScript {{dir}}/auth.wsgi\n  Require wsgi-group staff\n\
         </Location>\n\
         <Location /access>\n\
           WSGIAccessScript {{dir}}/access.wsgi\n\
         </Location>\n\
         <Location /subgroup>\n\
           AuthType Basic\n  AuthName \"Sub\"\n  AuthBasicProvider wsgi\n\
           WSGIAuthUserScript {{dir}}/auth.wsgi application-group=auth-sub\n  Require valid-user\n\
         </Location>\n"
    ))
    .modules(&["auth_basic", "authn_core", "authz_user"])
    .threads(4, 1)
}

fn auth_server(tag: &str) -> (TestDir, Apache) {
    let dir = TestDir::new(tag);
    dir.write("app.wsgi", APP);
    dir.write("auth.wsgi", AUTH_SCRIPT);
    dir.write("access.wsgi", ACCESS_SCRIPT);
    let apache = Apache::start(&dir, &auth_conf(""));
    (dir, apache)
}

/// The JSON the `env` user's check_password logged.
fn logged_environ(apache: &Apache) -> String {
    assert!(
        apache.wait_for_log("AUTH-ENVIRON ", SECS10),
        "{}",
        apache.error_log()
    );
    let log = apache.error_log();
    let line = log
        .lines()
        .find(|l| l.contains("AUTH-ENVIRON "))
        .unwrap_or_default();
    line.split_once("AUTH-ENVIRON ")
        .map(|(_, j)| j.to_string())
        .unwrap_or_default()
}

#[test]
fn basic_auth_challenges_and_accepts_only_the_right_password() {
    let (_dir, apache) = auth_server("basic");

    // No credentials: the challenge.
    let r = apache.get("/basic/page");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"Top Secret\"")
    );

    let r = basic(&apache, "/basic/page", "spy", "secret");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(r.text(), "user=spy type=Basic path=/basic/page");

    // Wrong password (False) and unknown user (None) are both 401, logged by
    // mod_auth_basic as a mismatch and a missing user.
    assert_eq!(basic(&apache, "/basic/page", "spy", "wrong").status, 401);
    assert_eq!(basic(&apache, "/basic/page", "nobody", "x").status, 401);
    let log = apache.error_log();
    assert!(log.contains("Password Mismatch"), "{log}");
    assert!(log.contains("user nobody not found"), "{log}");

    // The server keeps serving authenticated requests afterwards.
    assert_eq!(basic(&apache, "/basic/again", "spy", "secret").status, 200);
}

#[test]
fn check_password_returning_a_string_names_the_user() {
    let (_dir, apache) = auth_server("basic-alias");
    // A string result is the user name Apache records from then on.
    let r = basic(&apache, "/basic/page", "alias", "pw");
    assert_eq!(r.text(), "user=canonical type=Basic path=/basic/page");
    assert_eq!(basic(&apache, "/basic/page", "alias", "nope").status, 401);
}

#[test]
fn check_password_raising_or_returning_a_wrong_type_is_a_500() {
    let (_dir, apache) = auth_server("basic-errors");
    // An exception is a 500 with the traceback in the error log.
    let r = basic(&apache, "/basic/page", "boom", "x");
    assert_eq!(r.status, 500);
    assert!(
        apache.wait_for_log("RuntimeError: check_password failed on purpose", SECS10),
        "{}",
        apache.error_log()
    );
    let log = apache.error_log();
    assert!(
        log.contains("Exception occurred processing WSGI script '")
            && log.contains("auth.wsgi'.")
            && log.contains("Traceback (most recent call last):")
            && log.contains("in check_password"),
        "{log}"
    );
    // So is a result of the wrong type.
    assert_eq!(basic(&apache, "/basic/page", "wrongtype", "x").status, 500);
    assert!(
        apache.wait_for_log(
            "TypeError: Basic auth provider must return True, False, None",
            SECS10
        ),
        "{}",
        apache.error_log()
    );
    assert_eq!(basic(&apache, "/basic/again", "spy", "secret").status, 200);
}

#[test]
fn wsgi_providers_without_their_script_directive_are_refused() {
    let (_dir, apache) = auth_server("basic-noscript");
    // Logged, and a 500 / a denial, as in mod_wsgi.
    assert_eq!(basic(&apache, "/noscript/x", "spy", "secret").status, 500);
    assert!(
        apache.wait_for_log(
            "Location of WSGI user authentication script not provided.",
            SECS10
        ),
        "{}",
        apache.error_log()
    );
    assert_eq!(
        basic(&apache, "/nogroupscript/x", "spy", "secret").status,
        401
    );
    assert!(
        apache.wait_for_log(
            "Location of WSGI group authorization script not provided.",
            SECS10
        ),
        "{}",
        apache.error_log()
    );
}

#[test]
fn the_environ_the_scripts_see() {
    let (_dir, apache) = auth_server("authenv");
    let r = apache.request(
        "GET",
        "/basic/env/x?q=1&r=2",
        &[
            ("Authorization", &basic_auth("env", "whatever")),
            ("X-Custom", "hello"),
        ],
        b"",
    );
    assert_eq!(r.status, 200, "{}", apache.error_log());
    let env = logged_environ(&apache);
    for want in [
        r#""REQUEST_URI": "/basic/env/x?q=1&r=2""#,
        r#""QUERY_STRING": "q=1&r=2""#,
        r#""REQUEST_METHOD": "GET""#,
        r#""SCRIPT_NAME": """#,
        r#""PATH_INFO": "/basic/env/x""#,
        r#""HTTP_X_CUSTOM": "hello""#,
        r#""REMOTE_ADDR": "127.0.0.1""#,
        r#""SERVER_NAME": "localhost""#,
        r#""SERVER_PROTOCOL": "HTTP/1.1""#,
        r#""mod_wsgi.application_group": """#,
        r#""mod_wsgi.process_group": """#,
        r#""mod_wsgi.script_reloading": 1"#,
        r#""mod_wsgi.version": [6, 0, 5]"#,
        r#""apache.version": [2, 4"#,
        r#""wsgi.errors": "ErrorLog""#,
        r#""is_https()": 0"#,
        r#""var_lookup()": null"#,
        r#""SERVER_PORT": ""#,
        r#""REMOTE_PORT": ""#,
    ] {
        assert!(env.contains(want), "missing {want} in {env}");
    }
    // Credentials and request-configurable values never reach the script.
    for absent in [
        "HTTP_AUTHORIZATION",
        "REMOTE_USER",
        "AUTH_TYPE",
        "wsgi.input",
        "wsgi.version",
    ] {
        assert!(!env.contains(&format!("\"{absent}\"")), "{absent} in {env}");
    }
    // What the script writes to wsgi.errors is logged against the request.
    let log = apache.error_log();
    let line = log.lines().find(|l| l.contains("AUTH-ENVIRON")).unwrap();
    assert!(
        line.contains("[wsgi:error]") && line.contains("[client 127.0.0.1:"),
        "{line}"
    );
}

#[test]
fn the_application_group_option_names_the_auth_script_s_interpreter() {
    let (_dir, apache) = auth_server("authenv-group");
    assert_eq!(basic(&apache, "/subgroup/x", "env", "x").status, 200);
    assert!(
        apache.wait_for_log(r#""mod_wsgi.application_group": "auth-sub""#, SECS10),
        "{}",
        apache.error_log()
    );
}

#[test]
fn require_wsgi_group_admits_members_only() {
    let (_dir, apache) = auth_server("groups");
    // In the required group (a str and a bytes name both count).
    let r = basic(&apache, "/groups/page", "spy", "secret");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    // Authenticated, but in other groups only: denied (401, as mod_wsgi's AUTHZ_DENIED).
    let r = basic(&apache, "/groups/page", "clerk", "secret");
    assert_eq!(r.status, 401);
    assert!(
        apache.wait_for_log(
            "Authorization of user 'clerk' to access '/groups/page' failed. User is not a member of designated groups.",
            SECS10
        ),
        "{}",
        apache.error_log()
    );
    let r = basic(&apache, "/groups/page", "loner", "secret");
    assert_eq!(r.status, 401);
    assert!(
        apache.wait_for_log("User is not a member of any groups.", SECS10),
        "{}",
        apache.error_log()
    );
}

#[test]
fn require_wsgi_group_accepts_any_of_several_names() {
    let (_dir, apache) = auth_server("groups-either");
    // Quoted names on the Require line; iterators are fine.
    assert_eq!(
        basic(&apache, "/groups/either/x", "clerk", "secret").status,
        200
    );
    assert_eq!(
        basic(&apache, "/groups/either/x", "loner", "secret").status,
        401
    );
}

#[test]
fn groups_are_asked_for_the_user_name_check_password_returned() {
    let (_dir, apache) = auth_server("groups-alias");
    assert_eq!(basic(&apache, "/groups/page", "alias", "pw").status, 200);
}

#[test]
fn access_script_allows_denies_and_declines() {
    let (_dir, apache) = auth_server("access");
    assert_eq!(apache.get("/access/ok").status, 200);
    let r = apache.get("/access/deny");
    assert_eq!(r.status, 403);
    assert!(
        apache.wait_for_log("Client denied by server configuration: '", SECS10),
        "{}",
        apache.error_log()
    );
    // None: no opinion; the Require lines decide (all granted here).
    assert_eq!(apache.get("/access/none").status, 200);
    // Locations without the directive never run it.
    assert_eq!(apache.get("/elsewhere").status, 200);
}

#[test]
fn access_script_host_argument_is_the_client_address() {
    let (_dir, apache) = auth_server("access-host");
    // Without HostnameLookups.
    assert_eq!(apache.get("/access/host").status, 200);
    assert_eq!(apache.get("/access/other-host").status, 403);
}

#[test]
fn access_script_raising_denies_with_the_traceback_logged() {
    let (_dir, apache) = auth_server("access-raise");
    assert_eq!(apache.get("/access/raise").status, 403);
    assert!(
        apache.wait_for_log("ValueError: allow_access failed on purpose", SECS10),
        "{}",
        apache.error_log()
    );
}

/// An auth_server whose /basic script (auth.wsgi) and /fixed script
/// (fixed.wsgi, WSGIScriptReloading Off) accept the password "one", written
/// long enough ago that a rewrite is seen as a change.
fn reloading_server(tag: &str) -> (TestDir, Apache) {
    let dir = TestDir::new(tag);
    dir.write("app.wsgi", APP);
    dir.write("access.wsgi", ACCESS_SCRIPT);
    set_mtime(&dir.write("auth.wsgi", PASSWORD_ONE), 100);
    set_mtime(&dir.write("fixed.wsgi", PASSWORD_ONE), 100);
    let conf = auth_conf(
        "<Location /fixed>\n  AuthType Basic\n  AuthName \"Fixed\"\n  AuthBasicProvider wsgi\n\
           WSGIScriptReloading Off\n  WSGIAuthUserScript {dir}/fixed.wsgi\n  Require valid-user\n</Location>\n",
    );
    let apache = Apache::start(&dir, &conf);
    assert_eq!(basic(&apache, "/basic/x", "u", "one").status, 200);
    assert_eq!(basic(&apache, "/fixed/x", "u", "one").status, 200);
    (dir, apache)
}

const PASSWORD_ONE: &str =
    "def check_password(environ, user, password):\n    return password == 'one'\n";
const PASSWORD_TWO: &str =
    "def check_password(environ, user, password):\n    return password == 'two'\n";

#[test]
fn a_changed_auth_script_is_reloaded() {
    let (dir, apache) = reloading_server("authreload");
    dir.write("auth.wsgi", PASSWORD_TWO);
    assert_eq!(
        basic(&apache, "/basic/x", "u", "two").status,
        200,
        "{}",
        apache.error_log()
    );
    assert_eq!(basic(&apache, "/basic/x", "u", "one").status, 401);
    assert!(apache.error_log().contains("Reloading WSGI script '"));
}

#[test]
fn script_reloading_off_keeps_the_loaded_auth_script() {
    let (dir, apache) = reloading_server("authreload-off");
    dir.write("fixed.wsgi", PASSWORD_TWO);
    assert_eq!(basic(&apache, "/fixed/x", "u", "one").status, 200);
    assert_eq!(basic(&apache, "/fixed/x", "u", "two").status, 401);
}

#[test]
fn an_auth_script_without_check_password_is_a_500_saying_so() {
    let (dir, apache) = reloading_server("authreload-nofunc");
    dir.write("auth.wsgi", "x = 1\n");
    assert_eq!(basic(&apache, "/basic/x", "u", "two").status, 500);
    assert!(
        apache.wait_for_log("does not provide 'Basic' auth provider", SECS10),
        "{}",
        apache.error_log()
    );
}

fn curl_digest(apache: &Apache, path: &str, user_password: &str) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "20",
            "--digest",
            "-u",
            user_password,
        ])
        .arg(apache.url(path))
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn digest_auth_with_get_realm_hash() {
    // httpd's Digest challenge is answered by curl.
    require_program("curl", "curl");
    let dir = TestDir::new("digest");
    dir.write("app.wsgi", APP);
    dir.write(
        "auth.wsgi",
        r#"
import hashlib
def get_realm_hash(environ, user, realm):
    if user == 'boom':
        raise KeyError('get_realm_hash failed on purpose')
    if user == 'spy':
        return hashlib.md5(('%s:%s:%s' % (user, realm, 'secret')).encode()).hexdigest()
    if user == 'bytes':
        return hashlib.md5(('%s:%s:%s' % (user, realm, 'pw')).encode()).hexdigest().encode()
    return None
"#,
    );
    let conf = ApacheConfig::new(
        "WSGIScriptAlias / {dir}/app.wsgi\n\
         <Location /digest>\n\
           AuthType Digest\n  AuthName \"Digest Realm\"\n  AuthDigestProvider wsgi\n\
           WSGIAuthUserScript {dir}/auth.wsgi\n  Require valid-user\n\
         </Location>\n",
    )
    .modules(&["auth_digest", "authn_core", "authz_user"])
    .threads(4, 1);
    let apache = Apache::start(&dir, &conf);
    let r = apache.get("/digest/x");
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Digest realm=\"Digest Realm\"")),
        "{:?}",
        r.headers
    );
    assert_eq!(
        curl_digest(&apache, "/digest/x", "spy:secret"),
        200,
        "{}",
        apache.error_log()
    );
    assert_eq!(curl_digest(&apache, "/digest/x", "bytes:pw"), 200);
    assert_eq!(curl_digest(&apache, "/digest/x", "spy:wrong"), 401);
    assert_eq!(curl_digest(&apache, "/digest/x", "nobody:x"), 401);
    assert_eq!(curl_digest(&apache, "/digest/x", "boom:x"), 500);
    assert!(
        apache.wait_for_log("KeyError: 'get_realm_hash failed on purpose'", SECS10),
        "{}",
        apache.error_log()
    );
}

const DJANGO_SETTINGS: &str = r#"
import os
BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET_KEY = 'mod-wsgi-rs-auth-test-only'
DEBUG = False
ALLOWED_HOSTS = ['localhost', '127.0.0.1']
ROOT_URLCONF = 'authproj.urls'
INSTALLED_APPS = ['django.contrib.auth', 'django.contrib.contenttypes']
MIDDLEWARE = []
DATABASES = {'default': {
    'ENGINE': 'django.db.backends.sqlite3',
    'NAME': os.path.join(os.path.dirname(BASE_DIR), 'db', 'users.sqlite3'),
}}
# Fast hashing for the test; the code path through check_password is the same.
PASSWORD_HASHERS = ['django.contrib.auth.hashers.MD5PasswordHasher']
USE_TZ = True
"#;

const DJANGO_URLS: &str = r#"
from django.http import HttpResponse
from django.urls import re_path

def whoami(request):
    return HttpResponse('django user=%s' % request.META.get('REMOTE_USER'), content_type='text/plain')

urlpatterns = [re_path(r'', whoami)]
"#;

/// The project's wsgi.py with what Django's "Authenticating against Django's
/// user database from Apache" how-to adds: the module both serves the site
/// and is the WSGIAuthUserScript / WSGIAuthGroupScript.
const DJANGO_WSGI: &str = r#"
import os
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'authproj.settings')

from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()

from django.contrib.auth.handlers.modwsgi import check_password, groups_for_user
"#;

const DJANGO_SETUP: &str = r#"
import django
django.setup()
from django.core.management import call_command
call_command('migrate', verbosity=0, interactive=False)
from django.contrib.auth.models import Group, User
alice = User.objects.create_user('alice', password='wonderland')
alice.groups.add(Group.objects.create(name='secret-agents'))
User.objects.create_user('bob', password='builder')
User.objects.create_user('ghost', password='boo', is_active=False)
"#;

#[test]
fn django_check_password_and_groups_for_user() {
    use std::os::unix::fs::PermissionsExt;
    let venv = test_venv();
    let dir = TestDir::new("djangoauth");
    dir.write("site/authproj/__init__.py", "");
    dir.write("site/authproj/settings.py", DJANGO_SETTINGS);
    dir.write("site/authproj/urls.py", DJANGO_URLS);
    dir.write("site/authproj/wsgi.py", DJANGO_WSGI);
    let setup = dir.write("site/setup_users.py", DJANGO_SETUP);
    let db = dir.0.join("db");
    std::fs::create_dir_all(&db).unwrap();
    let out = Command::new(venv.join("bin/python"))
        .arg(&setup)
        .env("PYTHONPATH", dir.0.join("site"))
        .env("DJANGO_SETTINGS_MODULE", "authproj.settings")
        .stdin(Stdio::null())
        .output()
        .expect("run the venv's python");
    assert!(
        out.status.success(),
        "creating the Django users failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The Apache user (www-data when tests run as root) reads and writes the
    // database and its journal beside it.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o777)).unwrap();
    for entry in std::fs::read_dir(&db).unwrap().flatten() {
        std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o666)).unwrap();
    }

    let conf = ApacheConfig::new(&format!(
        "WSGIPythonHome {venv}\n\
         WSGIPythonPath {{dir}}/site\n\
         WSGIScriptAlias / {{dir}}/site/authproj/wsgi.py\n\
         WSGIApplicationGroup %{{GLOBAL}}\n\
         <Location \"/secret\">\n\
           AuthType Basic\n  AuthName \"Top Secret\"\n  Require valid-user\n\
           AuthBasicProvider wsgi\n  WSGIAuthUserScript {{dir}}/site/authproj/wsgi.py\n\
         </Location>\n\
         <Location \"/agents\">\n\
           AuthType Basic\n  AuthName \"Agents\"\n  AuthBasicProvider wsgi\n\
           WSGIAuthUserScript {{dir}}/site/authproj/wsgi.py\n\
           WSGIAuthGroupScript {{dir}}/site/authproj/wsgi.py\n\
           Require wsgi-group secret-agents\n\
         </Location>\n",
        venv = venv.display()
    ))
    .modules(&["auth_basic", "authn_core", "authz_user"])
    .threads(4, 1);
    let apache = Apache::start(&dir, &conf);

    // The unprotected site works, and the protected part challenges.
    let r = apache.get("/open");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(r.text(), "django user=None");
    assert_eq!(apache.get("/secret/").status, 401);

    let r = basic(&apache, "/secret/", "alice", "wonderland");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(r.text(), "django user=alice");
    assert_eq!(basic(&apache, "/secret/", "bob", "builder").status, 200);
    assert_eq!(basic(&apache, "/secret/", "alice", "wrong").status, 401);
    // Unknown and inactive users: Django returns None ("user not found").
    assert_eq!(basic(&apache, "/secret/", "mallory", "x").status, 401);
    assert_eq!(basic(&apache, "/secret/", "ghost", "boo").status, 401);
    let log = apache.error_log();
    assert!(log.contains("user mallory not found"), "{log}");
    assert!(log.contains("user ghost not found"), "{log}");

    // groups_for_user returns bytes names; alice is an agent, bob is not.
    let r = basic(&apache, "/agents/", "alice", "wonderland");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(basic(&apache, "/agents/", "bob", "builder").status, 401);
    assert!(
        apache.wait_for_log(
            "Authorization of user 'bob' to access '/agents/' failed. User is not a member of any groups.",
            SECS10
        ),
        "{}",
        apache.error_log()
    );
    assert!(
        !apache.error_log().contains("Traceback"),
        "{}",
        apache.error_log()
    );
}

#[test]
fn mod_ssl_functions_over_tls() {
    // openssl makes the certificate; curl speaks TLS to Apache.
    require_program("curl", "curl");
    require_program("openssl", "openssl");
    let dir = TestDir::new("authtls");
    dir.write("app.wsgi", APP);
    dir.write("auth.wsgi", AUTH_SCRIPT);
    dir.write("access.wsgi", ACCESS_SCRIPT);
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(dir.0.join("key.pem"))
        .arg("-out")
        .arg(dir.0.join("cert.pem"))
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        made.status.success(),
        "openssl could not make a self-signed certificate: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let conf = auth_conf(
        "SSLEngine on\nSSLCertificateFile {dir}/cert.pem\nSSLCertificateKeyFile {dir}/key.pem\n",
    )
    .modules(&["ssl"]);
    let apache = Apache::start(&dir, &conf);
    let curl = |user: &str| {
        let out = Command::new("curl")
            .args(["-s", "-k", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(["--max-time", "20", "-u", user])
            .arg(format!("https://127.0.0.1:{}/basic/tls", apache.port))
            .stdin(Stdio::null())
            .output()
            .expect("run curl");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(curl("tls:x"), "200", "{}", apache.error_log());
    assert!(
        apache.wait_for_log("TLS https=1 protocol='TLSv1.", SECS10),
        "{}",
        apache.error_log()
    );
    assert!(
        apache.error_log().contains("https_var='on'"),
        "{}",
        apache.error_log()
    );
    // Kept beyond its call, the function refuses to run.
    assert_eq!(curl("stale:x"), "200");
    assert!(
        apache.wait_for_log("STALE request object has expired", SECS10),
        "{}",
        apache.error_log()
    );
}

/// An auth_server plus a `.htaccess`-protected /ht (AllowOverride
/// AuthConfig) and an `<AuthnProviderAlias wsgi agents-db>` at /aliased.
fn override_server(tag: &str) -> (TestDir, Apache) {
    let dir = TestDir::new(tag);
    dir.write("app.wsgi", APP);
    dir.write("auth.wsgi", AUTH_SCRIPT);
    dir.write("access.wsgi", ACCESS_SCRIPT);
    dir.write("ht/app.wsgi", APP);
    dir.write(
        "ht/.htaccess",
        &format!(
            "AuthType Basic\nAuthName \"Htaccess\"\nAuthBasicProvider wsgi\n\
             WSGIAuthUserScript {}\nRequire valid-user\n",
            dir.path("auth.wsgi")
        ),
    );
    let conf = auth_conf(
        "WSGIScriptAlias /ht {dir}/ht/app.wsgi\n\
         <Directory {dir}/ht>\n  AllowOverride AuthConfig\n</Directory>\n\
         <AuthnProviderAlias wsgi agents-db>\n\
           WSGIAuthUserScript {dir}/auth.wsgi application-group=aliased\n\
         </AuthnProviderAlias>\n\
         <Location /aliased>\n\
           AuthType Basic\n  AuthName \"Aliased\"\n  AuthBasicProvider agents-db\n  Require valid-user\n\
         </Location>\n",
    );
    let apache = Apache::start(&dir, &conf);
    (dir, apache)
}

#[test]
fn wsgi_auth_directives_work_in_htaccess() {
    let (_dir, apache) = override_server("authhtaccess");
    // .htaccess under AllowOverride AuthConfig.
    assert_eq!(apache.get("/ht/x").status, 401, "{}", apache.error_log());
    let r = basic(&apache, "/ht/x", "spy", "secret");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(r.text(), "user=spy type=Basic path=/x");
    assert_eq!(basic(&apache, "/ht/x", "spy", "wrong").status, 401);
}

#[test]
fn an_authn_provider_alias_brings_its_script_and_interpreter() {
    let (_dir, apache) = override_server("authalias");
    assert_eq!(basic(&apache, "/aliased/x", "spy", "secret").status, 200);
    assert_eq!(basic(&apache, "/aliased/x", "nobody", "x").status, 401);
    assert_eq!(basic(&apache, "/aliased/x", "env", "x").status, 200);
    assert!(
        apache.wait_for_log(r#""mod_wsgi.application_group": "aliased""#, SECS10),
        "{}",
        apache.error_log()
    );
}

#[test]
fn directives_outside_directory_sections_are_refused() {
    let dir = TestDir::new("authctx");
    let script = dir.write("auth.wsgi", AUTH_SCRIPT);
    let (ok, out) = configtest(&format!("WSGIAuthUserScript {}", script.display()));
    assert!(!ok, "{out}");
    assert!(out.contains("WSGIAuthUserScript not allowed here"), "{out}");
}

#[test]
fn scripts_run_under_restrict_embedded() {
    let dir = TestDir::new("authrestrict");
    dir.write("app.wsgi", APP);
    dir.write("auth.wsgi", AUTH_SCRIPT);
    dir.write("access.wsgi", ACCESS_SCRIPT);
    // Applications may not run in the Apache children, but access-control
    // scripts always do, so Python starts there for them (as mod_wsgi).
    let apache = Apache::start(&dir, &auth_conf("WSGIRestrictEmbedded On\n"));
    assert_eq!(basic(&apache, "/basic/x", "spy", "wrong").status, 401);
    assert_eq!(apache.get("/access/deny").status, 403);
    let r = basic(&apache, "/basic/x", "spy", "secret");
    assert_eq!(r.status, 500);
    assert!(
        apache.wait_for_log(
            "Embedded mode of mod_wsgi disabled by runtime configuration",
            SECS10
        ),
        "{}",
        apache.error_log()
    );
}

#[test]
fn concurrent_authentication_in_both_interpreters() {
    let (_dir, apache) = auth_server("authconc");
    let apache = std::sync::Arc::new(apache);
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let apache = apache.clone();
            std::thread::spawn(move || {
                let path = if i % 2 == 0 {
                    "/basic/c"
                } else {
                    "/subgroup/c"
                };
                (0..10)
                    .map(|n| {
                        let (user, password, want) = if n % 3 == 0 {
                            ("spy", "wrong", 401)
                        } else {
                            ("spy", "secret", 200)
                        };
                        (basic(&apache, path, user, password).status, want)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for w in workers {
        for (got, want) in w.join().expect("worker thread") {
            assert_eq!(got, want, "{}", apache.error_log());
        }
    }
    let log = apache.error_log();
    assert!(!log.contains("Traceback"), "{log}");
    assert!(!log.contains("internal error"), "{log}");
}
