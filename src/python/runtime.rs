//! Starting and stopping CPython in a process (part of the interpreter manager).
//! Python starts in each Apache child after fork (`child_init`) — or, with
//! `WSGILazyInitialization Off`, once in the Apache parent — and never twice.

use std::ffi::{CStr, CString, c_char};
use std::mem::MaybeUninit;
use std::path::Path;
use std::ptr;
use std::sync::Mutex;

use pyo3::ffi;

use crate::config::settings::{GlobalSettings, HashSeed};

use super::error::PythonError;
use super::interpreters;

/// The interpreter this module was built against (build.rs).
const BUILT_EXECUTABLE: &str = env!("WSGI_PYTHON_EXECUTABLE");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lifecycle {
    NotStarted,
    Running,
    /// The Apache parent with Python initialised (WSGILazyInitialization Off)
    /// between forks: `PyOS_BeforeFork` has run, so this thread holds the GIL
    /// and CPython's fork-sensitive locks (import lock; runtime head lock on
    /// 3.13), and every child forked now inherits them in a consistent state.
    ReadyToFork,
    /// Finalised: CPython cannot be reliably started again in this process.
    Finalized,
}

static STATE: Mutex<Lifecycle> = Mutex::new(Lifecycle::NotStarted);

fn check(status: ffi::PyStatus, what: &str) -> Result<(), PythonError> {
    // SAFETY: inspecting a PyStatus value returned by CPython.
    if unsafe { ffi::PyStatus_Exception(status) } != 0 {
        let msg = if status.err_msg.is_null() {
            "unknown error".to_string()
        } else {
            // SAFETY: CPython's error messages are static C strings.
            unsafe { CStr::from_ptr(status.err_msg) }
                .to_string_lossy()
                .into_owned()
        };
        return Err(PythonError::Startup(format!("{what}: {msg}")));
    }
    Ok(())
}

fn c(s: &str) -> Result<CString, PythonError> {
    CString::new(s).map_err(|_| PythonError::Startup(format!("{s:?} contains a NUL byte")))
}

/// Initialises CPython for this process (the GIL is released on return).
pub(crate) fn initialize(g: &GlobalSettings) -> Result<(), PythonError> {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    match *state {
        Lifecycle::Running | Lifecycle::ReadyToFork => return Ok(()),
        Lifecycle::Finalized => {
            return Err(PythonError::Startup(
                "Python was already finalised in this process and cannot be initialised again"
                    .into(),
            ));
        }
        Lifecycle::NotStarted => {}
    }
    let mut config = MaybeUninit::<ffi::PyConfig>::uninit();
    // SAFETY: PyConfig_InitPythonConfig fully initialises the struct; every
    // later call gets a pointer to it; PyConfig_Clear frees what they allocated.
    unsafe {
        ffi::PyConfig_InitPythonConfig(config.as_mut_ptr());
        let cfg = config.assume_init_mut();
        let result = configure(cfg, g)
            .and_then(|()| check(ffi::Py_InitializeFromConfig(cfg), "Py_InitializeFromConfig"));
        ffi::PyConfig_Clear(cfg);
        result.map_err(|e| match &g.python_home {
            Some(home) => PythonError::Startup(format!(
                "{e} (WSGIPythonHome is '{home}': it must be the sys.prefix of a Python {} installation or virtualenv readable by this process)",
                crate::config::python_home::BUILT_PYTHON
            )),
            None => e,
        })?;
        // Release the GIL: threads take it per request.
        let ts = ffi::PyEval_SaveThread();
        interpreters::adopt_initial_thread_state(ts);
    }
    *state = Lifecycle::Running;
    Ok(())
}

/// # Safety
/// `cfg` must be an initialised PyConfig.
unsafe fn configure(cfg: &mut ffi::PyConfig, g: &GlobalSettings) -> Result<(), PythonError> {
    // Apache owns signals; command-line parsing has no meaning here.
    cfg.install_signal_handlers = 0;
    cfg.parse_argv = 0;
    if let Some(home) = &g.python_home {
        // A virtualenv is found through its interpreter (pyvenv.cfg); a plain
        // installation prefix through `home`, as mod_wsgi does.
        if Path::new(home).join("pyvenv.cfg").is_file() {
            let program = c(&format!("{home}/bin/python"))?;
            // SAFETY: cfg is initialised; CPython copies the string.
            let status = unsafe {
                ffi::PyConfig_SetBytesString(cfg, &mut cfg.program_name, program.as_ptr())
            };
            check(status, "WSGIPythonHome")?;
        } else {
            let home_c = c(home)?;
            // SAFETY: cfg is initialised; CPython copies the string.
            let status =
                unsafe { ffi::PyConfig_SetBytesString(cfg, &mut cfg.home, home_c.as_ptr()) };
            check(status, "WSGIPythonHome")?;
        }
    } else if Path::new(BUILT_EXECUTABLE).is_file() {
        // CPython finds its prefix from the program's location. Left to
        // itself it would search PATH for `python3`, which may be another
        // version (or a copy the Apache user cannot read).
        let program = c(BUILT_EXECUTABLE)?;
        // SAFETY: cfg is initialised; CPython copies the string.
        let status =
            unsafe { ffi::PyConfig_SetBytesString(cfg, &mut cfg.program_name, program.as_ptr()) };
        check(status, "the Python program name")?;
    }
    if let Some(level) = g.python_optimize {
        cfg.optimization_level = level.into();
    }
    if g.dont_write_bytecode == Some(true) {
        cfg.write_bytecode = 0;
    }
    match g.python_hash_seed {
        Some(HashSeed::Fixed(seed)) => {
            cfg.use_hash_seed = 1;
            cfg.hash_seed = seed.into();
        }
        Some(HashSeed::Random) => cfg.use_hash_seed = 0,
        None => {}
    }
    for w in &g.python_warnings {
        let w = c(w)?;
        // SAFETY: Py_DecodeLocale returns a PyMem_RawMalloc'd wide string (or
        // null); CPython copies it into the list, and we free ours.
        unsafe {
            let wide = ffi::Py_DecodeLocale(w.as_ptr(), ptr::null_mut());
            if wide.is_null() {
                return Err(PythonError::Startup(
                    "WSGIPythonWarnings: cannot decode the filter".into(),
                ));
            }
            let status = ffi::PyWideStringList_Append(&mut cfg.warnoptions, wide);
            ffi::PyMem_RawFree(wide.cast());
            check(status, "WSGIPythonWarnings")?;
        }
    }
    Ok(())
}

/// In the Apache parent, once Python is initialised there and done with
/// (WSGILazyInitialization Off): prepares CPython for the forks that follow,
/// as `os.fork()` does before each fork. httpd forks its children (and we
/// our daemons) without telling us, so the parent stays in this state; it
/// never runs Python again. Idempotent.
pub(crate) fn prepare_for_forks() {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if *state != Lifecycle::Running {
        return;
    }
    let Some(ts) = interpreters::main_thread_state() else {
        return;
    };
    // SAFETY: this is the thread that initialised Python, with nothing
    // attached; PyOS_BeforeFork needs the main thread state attached (it runs
    // os.register_at_fork `before` callbacks and takes the import lock).
    unsafe {
        ffi::PyEval_RestoreThread(ts);
        ffi::PyOS_BeforeFork();
    }
    *state = Lifecycle::ReadyToFork;
}

/// In a process forked from a parent that had initialised Python
/// (`WSGILazyInitialization Off`): lets CPython reset its locks and threads,
/// then releases the GIL for the threads that serve requests.
pub(crate) fn after_fork_in_child() {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if *state != Lifecycle::ReadyToFork {
        return;
    }
    // SAFETY: the parent was in ReadyToFork (this process is its copy): the
    // forking thread's main thread state is attached with the GIL and the
    // fork locks held, which is what PyOS_AfterFork_Child expects. It
    // re-creates the GIL (held again on return), which we then release.
    unsafe {
        ffi::PyOS_AfterFork_Child();
        ffi::PyEval_SaveThread();
    }
    *state = Lifecycle::Running;
}

/// Marks Python finalised (after `interpreters::shutdown(destroy = true)`).
pub(crate) fn mark_finalized() {
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) = Lifecycle::Finalized;
}

/// The path of the libpython this process runs (for the startup log line).
pub(crate) fn libpython_path() -> String {
    let mut info = MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: dladdr only reads the address and fills `info`.
    let found =
        unsafe { libc::dladdr(ffi::Py_Initialize as *const libc::c_void, info.as_mut_ptr()) };
    if found == 0 {
        return "unknown".into();
    }
    // SAFETY: dladdr succeeded, so dli_fname is a valid C string (or null).
    let name: *const c_char = unsafe { info.assume_init() }.dli_fname;
    if name.is_null() {
        return "unknown".into();
    }
    // SAFETY: as above.
    unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned()
}

/// Keeps this module loaded for the life of the process: with Python running
/// in the Apache parent, a restart must not unload (and re-initialise) it.
pub(crate) fn pin_module_in_memory() {
    let mut info = MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: dladdr reads our own function's address; dlopen with NOLOAD only
    // bumps the reference count of the already-loaded object and sets NODELETE.
    unsafe {
        if libc::dladdr(
            pin_module_in_memory as *const libc::c_void,
            info.as_mut_ptr(),
        ) != 0
        {
            let name = info.assume_init().dli_fname;
            if !name.is_null() {
                libc::dlopen(
                    name,
                    libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE | libc::RTLD_GLOBAL,
                );
            }
        }
    }
}
