//! Generates the httpd/APR bindings with bindgen, compiles the C shim, and
//! links libpython with a RUNPATH so the module loads the Python it was built for.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// Output of a configuration helper such as `apxs -q INCLUDEDIR`.
fn query(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!(
            "cannot run `{tool} {}`: {e}\n\
             Install Apache's development files: apt-get install -y apache2-dev",
            args.join(" ")
        )
    });
    if !out.status.success() {
        panic!(
            "`{tool} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn main() {
    let apxs = env::var("APXS").unwrap_or_else(|_| "apxs".to_string());
    let apr_config = env::var("APR_CONFIG").unwrap_or_else(|_| "apr-1-config".to_string());
    println!("cargo:rerun-if-env-changed=APXS");
    println!("cargo:rerun-if-env-changed=APR_CONFIG");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=src/ffi/shim.c");
    println!("cargo:rerun-if-changed=src/ffi/shim.h");

    let httpd_include = query(&apxs, &["-q", "INCLUDEDIR"]);
    let apr_include = query(&apr_config, &["--includedir"]);
    let cppflags = query(&apr_config, &["--cppflags"]);
    let mut clang_args = vec![format!("-I{httpd_include}"), format!("-I{apr_include}")];
    clang_args.extend(cppflags.split_whitespace().map(str::to_string));

    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&clang_args)
        .allowlist_function("ap_.*|apr_.*|wsgi_shim_.*|unixd_.*")
        .allowlist_type(
            "request_rec|server_rec|conn_rec|module|command_rec|cmd_parms|cmd_how|\
             process_rec|ap_.*|apr_.*|core_dir_config|authn_provider|authz_provider|authn_status|authz_status",
        )
        .allowlist_var(
            "MODULE_MAGIC_.*|APR_HOOK_.*|OK|DECLINED|DONE|HTTP_.*|APLOG_.*|OR_.*|\
             RSRC_CONF|ACCESS_CONF|EXEC_ON_READ|NOT_IN_.*|GLOBAL_ONLY|APR_SUCCESS|\
             APR_.*|AP_MPMQ_.*|AP_SERVER_.*|AP_REQ_.*|REQUEST_CHUNKED_.*|OPT_.*|\
             WSGI_SHIM_.*|AP_FILTER_ERROR|AP_SQ_.*|AP_MAX_REG_MATCH|AP_REG_.*|ap_server_conf|\
             ap_unixd_config|ap_my_generation|ap_server_root|AUTHN_PROVIDER_.*|AUTHZ_PROVIDER_.*|\
             SATISFY_.*|REMOTE_HOST|ap_coredumpdir_configured|ap_top_module|\
             SERVER_(DEAD|STARTING|READY|BUSY_[A-Z]+|CLOSING|GRACEFUL|IDLE_KILL)",
        )
        // printf-style functions taking a va_list are not callable from Rust.
        .blocklist_function(".*vprintf.*|apr_vformatter|ap_log_.*_v|.*_vlog.*|apr_pvsprintf")
        .default_macro_constant_type(bindgen::MacroTypeVariation::Signed)
        .layout_tests(false)
        .generate_cstr(true)
        .derive_default(true)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .expect("bindgen failed to generate the httpd/APR bindings");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("cannot write bindings.rs");

    let mut shim = cc::Build::new();
    shim.file("src/ffi/shim.c")
        .include(&httpd_include)
        .include(&apr_include)
        .warnings(true);
    for flag in cppflags.split_whitespace() {
        if let Some(def) = flag.strip_prefix("-D") {
            let (k, v) = def
                .split_once('=')
                .map_or((def, None), |(k, v)| (k, Some(v)));
            shim.define(k, v);
        }
    }
    shim.compile("wsgi_shim");

    // The Python cfgs (`Py_3_12`, …) for version-dependent code paths.
    pyo3_build_config::use_pyo3_cfgs();
    let config = pyo3_build_config::get();
    let version = config.version();
    println!(
        "cargo:rustc-env=WSGI_PYTHON_VERSION={}.{}",
        version.major, version.minor
    );
    let python = Python::describe(config);
    // Load the libpython we were built against, not whichever one of the same
    // SONAME the dynamic loader would find first.
    // No RUNPATH for a libpython in the system's own library directories
    // (the distribution's Python): the loader finds it there anyway, and
    // Debian policy forbids a RUNPATH pointing at them.
    if !is_system_library_dir(&python.lib_dir) {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", python.lib_dir);
    }
    println!("cargo:rustc-env=WSGI_PYTHON_LIBDIR={}", python.lib_dir);
    println!(
        "cargo:rustc-env=WSGI_PYTHON_EXECUTABLE={}",
        python.executable
    );
}

/// `/lib`, `/usr/lib` and their multiarch directories (`/usr/lib/x86_64-linux-gnu`).
fn is_system_library_dir(dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    ["/lib", "/usr/lib", "/lib64", "/usr/lib64"]
        .iter()
        .any(|base| {
            dir == *base
                || dir
                    .strip_prefix(base)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .is_some_and(|arch| !arch.contains('/') && arch.contains("-linux-"))
        })
}

/// Where the chosen Python really lives (a relocated copy's sysconfig still
/// names the directory it was built for).
struct Python {
    /// The directory holding libpythonX.Y.so (the module's RUNPATH).
    lib_dir: String,
    /// The base (non-venv) interpreter: the default program name, from which
    /// CPython finds its prefix when `WSGIPythonHome` is not set.
    executable: String,
}

impl Python {
    fn describe(config: &pyo3_build_config::InterpreterConfig) -> Python {
        const PROBE: &str = "import os, sys, sysconfig\n\
            lib = sysconfig.get_config_var('LDLIBRARY') or ''\n\
            dirs = [os.path.join(sys.base_prefix, 'lib'), sysconfig.get_config_var('LIBDIR') or '']\n\
            found = [d for d in dirs if d and lib and os.path.exists(os.path.join(d, lib))]\n\
            print(os.path.realpath(found[0]) if found else '')\n\
            print(os.path.realpath(getattr(sys, '_base_executable', sys.executable)))\n";
        let fallback_dir = config.lib_dir().unwrap_or_default().to_string();
        let Some(exe) = config.executable() else {
            return Python {
                lib_dir: fallback_dir,
                executable: String::new(),
            };
        };
        let out = query(exe, &["-c", PROBE]);
        let mut lines = out.lines();
        let lib_dir = lines
            .next()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .unwrap_or(fallback_dir);
        let executable = lines.next().unwrap_or(exe).to_string();
        Python {
            lib_dir,
            executable,
        }
    }
}
