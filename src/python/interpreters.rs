//! The interpreter manager: the only place that handles CPython interpreter
//! and thread states directly (rust-design.md §1.5).
//!
//! * One main interpreter (application group `""`, `%{GLOBAL}`) and one
//!   sub-interpreter per named application group, created on first use.
//! * Every thread that runs Python first binds its PyGILState slot to a
//!   main-interpreter thread state (one unbalanced `PyGILState_Ensure`), so
//!   C extensions using the GILState API land in the main interpreter, and that
//!   thread state (with its `threading.local` data) lives as long as the thread.
//! * Each (thread, sub-interpreter) pair gets one persistent thread state,
//!   cached by interpreter *ID* (IDs are never reused; addresses are).
//! * Code runs in the main interpreter through `Python::attach` (GILState), and
//!   in a sub-interpreter through a per-interpreter trampoline: a PyO3 closure
//!   called with `PyObject_CallNoArgs`, inside which PyO3's safe API is sound
//!   (it sees an attached thread and never calls PyGILState_Ensure).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::{Arc, Mutex, RwLock};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyModule};

/// One Python interpreter of this process.
pub struct Interpreter {
    /// Application group name; `""` is the main interpreter.
    pub name: String,
    pub id: i64,
    raw: *mut ffi::PyInterpreterState,
    /// The PyO3 closure used to enter this interpreter (null for main).
    trampoline: *mut ffi::PyObject,
    /// This interpreter's `mod_wsgi` module (a strong reference).
    module: *mut ffi::PyObject,
}

// SAFETY: the raw pointers are only dereferenced with the GIL held and this
// interpreter's thread state current; the objects live until `shutdown`.
unsafe impl Send for Interpreter {}
unsafe impl Sync for Interpreter {}

/// Sets up a new interpreter: installs the `mod_wsgi` module, returns it.
pub type Setup = dyn for<'py> Fn(Python<'py>, &str) -> PyResult<Bound<'py, PyModule>> + Send + Sync;

struct Registry {
    interpreters: HashMap<String, Arc<Interpreter>>,
    setup: Arc<Setup>,
}

static REGISTRY: RwLock<Option<Registry>> = RwLock::new(None);
/// Serialises interpreter creation (taken without the GIL, before it).
static CREATE: Mutex<()> = Mutex::new(());

#[derive(Default)]
struct ThreadStates {
    /// This thread's main-interpreter thread state, once bound.
    main: Option<*mut ffi::PyThreadState>,
    by_id: HashMap<i64, *mut ffi::PyThreadState>,
}

type Job<'a> = dyn FnMut(Python<'_>) + 'a;

thread_local! {
    static THREAD: RefCell<ThreadStates> = RefCell::new(ThreadStates::default());
    /// The job the trampoline runs: set only for the duration of one call.
    static JOB: Cell<Option<*mut Job<'static>>> = const { Cell::new(None) };
}

/// Binds this thread's GILState slot to the main interpreter (once per thread).
fn bind_thread() -> *mut ffi::PyThreadState {
    THREAD.with(|t| {
        let mut t = t.borrow_mut();
        if let Some(ts) = t.main {
            return ts;
        }
        // SAFETY: Python is initialised and this thread holds no thread state:
        // Ensure creates (or restores) its main thread state and takes the GIL.
        // It is never released, so the thread state outlives every request.
        let ts = unsafe {
            ffi::PyGILState_Ensure();
            ffi::PyEval_SaveThread()
        };
        t.main = Some(ts);
        ts
    })
}

/// Records the thread state of the thread that initialised Python.
///
/// # Safety
/// `ts` must be that thread's (detached) main thread state.
pub(super) unsafe fn adopt_initial_thread_state(ts: *mut ffi::PyThreadState) {
    THREAD.with(|t| t.borrow_mut().main = Some(ts));
}

/// The initial thread's main thread state, if this thread initialised Python.
pub(super) fn main_thread_state() -> Option<*mut ffi::PyThreadState> {
    THREAD.with(|t| t.borrow().main)
}

/// Registers the main interpreter; called once Python is initialised, with
/// the GIL *not* held.
pub fn register_main(setup: Arc<Setup>) -> Result<(), String> {
    bind_thread();
    let module = Python::attach(|py| -> Result<*mut ffi::PyObject, String> {
        let m = setup(py, "").map_err(|e| format_err(py, &e))?;
        Ok(m.into_ptr())
    })?;
    // SAFETY: the GIL is not held; reading the main interpreter pointer and ID is
    // always allowed once Python is initialised.
    let (raw, id) = unsafe {
        let raw = ffi::PyInterpreterState_Main();
        (raw, ffi::PyInterpreterState_GetID(raw))
    };
    let main = Arc::new(Interpreter {
        name: String::new(),
        id,
        raw,
        trampoline: ptr::null_mut(),
        module,
    });
    let mut reg = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    let mut interpreters = HashMap::new();
    interpreters.insert(String::new(), main);
    *reg = Some(Registry {
        interpreters,
        setup,
    });
    Ok(())
}

/// Whether the registry is up (Python initialised in this process).
pub fn is_running() -> bool {
    REGISTRY.read().map(|r| r.is_some()).unwrap_or(false)
}

/// The interpreter for an application group, created on first use.
pub fn get(name: &str) -> Result<Arc<Interpreter>, String> {
    if let Some(i) = lookup(name)? {
        return Ok(i);
    }
    let _creating = CREATE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = lookup(name)? {
        return Ok(i);
    }
    let setup = {
        let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
        reg.as_ref()
            .ok_or("Python is not initialised in this process")?
            .setup
            .clone()
    };
    let interp = Arc::new(create_sub_interpreter(name, &setup)?);
    let mut reg = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    let reg = reg.as_mut().ok_or("Python was shut down")?;
    reg.interpreters.insert(name.to_string(), interp.clone());
    Ok(interp)
}

fn lookup(name: &str) -> Result<Option<Arc<Interpreter>>, String> {
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    let reg = reg
        .as_ref()
        .ok_or("Python is not initialised in this process")?;
    Ok(reg.interpreters.get(name).cloned())
}

fn create_sub_interpreter(name: &str, setup: &Arc<Setup>) -> Result<Interpreter, String> {
    bind_thread();
    // SAFETY: this thread is bound; Ensure makes its main thread state current
    // and takes the GIL, which Py_NewInterpreter requires.
    let gstate = unsafe { ffi::PyGILState_Ensure() };
    // SAFETY: GIL held. On success the new interpreter's thread state is current.
    let ts = unsafe { ffi::Py_NewInterpreter() };
    if ts.is_null() {
        // SAFETY: on failure the previous (main) thread state is current again.
        unsafe { ffi::PyGILState_Release(gstate) };
        return Err(format!(
            "Py_NewInterpreter() failed for application group '{name}'"
        ));
    }
    // SAFETY: ts is current in the new interpreter.
    let (raw, id) = unsafe {
        let raw = ffi::PyThreadState_GetInterpreter(ts);
        (raw, ffi::PyInterpreterState_GetID(raw))
    };
    // SAFETY: the new interpreter's thread state is current and holds the GIL.
    // Only the trampoline is made with this token; it drops no Py<T>.
    let py = unsafe { Python::assume_attached() };
    let result = make_trampoline(py).and_then(|trampoline| {
        let mut module = ptr::null_mut();
        let mut failure = None;
        {
            let mut job = |py: Python<'_>| match setup(py, name) {
                Ok(m) => module = m.into_ptr(),
                Err(e) => failure = Some(format_err(py, &e)),
            };
            // SAFETY: the trampoline belongs to the current (new) interpreter.
            unsafe { call_trampoline(trampoline, &mut job) }?;
        }
        match failure {
            Some(f) => Err(f),
            None => Ok((trampoline, module)),
        }
    });
    // SAFETY: GIL held; switch back to this thread's main thread state and
    // release the GIL. `ts` stays as this thread's state for the new interpreter.
    unsafe {
        ffi::PyThreadState_Swap(main_state_of_thread());
        ffi::PyGILState_Release(gstate);
    }
    THREAD.with(|t| t.borrow_mut().by_id.insert(id, ts));
    let (trampoline, module) =
        result.map_err(|e| format!("cannot set up interpreter '{name}': {e}"))?;
    Ok(Interpreter {
        name: name.to_string(),
        id,
        raw,
        trampoline,
        module,
    })
}

fn main_state_of_thread() -> *mut ffi::PyThreadState {
    THREAD.with(|t| t.borrow().main.unwrap_or(ptr::null_mut()))
}

fn make_trampoline(py: Python<'_>) -> Result<*mut ffi::PyObject, String> {
    let f = PyCFunction::new_closure(
        py,
        Some(c"_mod_wsgi_enter"),
        None,
        |args, _kwargs| -> PyResult<()> {
            if let Some(job) = JOB.with(|j| j.take()) {
                // SAFETY: `call_trampoline` stored a pointer to a job that outlives this call.
                unsafe { (*job)(args.py()) };
            }
            Ok(())
        },
    )
    .map_err(|e| format_err(py, &e))?;
    Ok(f.into_ptr())
}

/// Calls `trampoline` so that `job` runs inside it.
///
/// # Safety
/// The GIL must be held with a thread state of the trampoline's interpreter current.
unsafe fn call_trampoline(trampoline: *mut ffi::PyObject, job: &mut Job<'_>) -> Result<(), String> {
    // SAFETY: only the lifetime is erased; the pointer is cleared before `job` ends.
    let erased: *mut Job<'static> = unsafe { std::mem::transmute(job as *mut Job<'_>) };
    let previous = JOB.with(|j| j.replace(Some(erased)));
    // SAFETY: guaranteed by the caller.
    let rv = unsafe { ffi::PyObject_CallNoArgs(trampoline) };
    JOB.with(|j| j.set(previous));
    if rv.is_null() {
        // SAFETY: an exception is set; print and clear it in this interpreter.
        unsafe { ffi::PyErr_Print() };
        return Err("the interpreter entry function failed".to_string());
    }
    // SAFETY: rv is a new reference (None).
    unsafe { ffi::Py_DECREF(rv) };
    Ok(())
}

impl Interpreter {
    pub fn is_main(&self) -> bool {
        self.trampoline.is_null()
    }

    /// Runs `f` in this interpreter with the GIL held. A panic in `f` is caught
    /// and returned as `Err`.
    pub fn run<R>(
        &self,
        f: impl FnOnce(Python<'_>, &Bound<'_, PyModule>) -> R,
    ) -> Result<R, String> {
        let mut f = Some(f);
        let mut out: Option<std::thread::Result<R>> = None;
        let mut job = |py: Python<'_>| {
            // SAFETY: `module` is a strong reference owned by this interpreter.
            let module = unsafe { Bound::from_borrowed_ptr(py, self.module) };
            let module = module
                .cast_into::<PyModule>()
                .expect("mod_wsgi module is a module");
            if let Some(f) = f.take() {
                out = Some(catch_unwind(AssertUnwindSafe(|| f(py, &module))));
            }
        };
        if self.is_main() {
            bind_thread();
            Python::attach(job);
        } else {
            let ts = self.thread_state();
            // SAFETY: ts is this thread's detached state for this interpreter;
            // restoring it takes the GIL, and saving releases it again.
            unsafe {
                ffi::PyEval_RestoreThread(ts);
                let r = call_trampoline(self.trampoline, &mut job);
                ffi::PyEval_SaveThread();
                r?;
            }
        }
        match out {
            Some(Ok(r)) => Ok(r),
            Some(Err(p)) => Err(panic_message(&p)),
            None => Err("the interpreter did not run the job".to_string()),
        }
    }

    /// This thread's persistent thread state for this sub-interpreter.
    fn thread_state(&self) -> *mut ffi::PyThreadState {
        bind_thread();
        THREAD.with(|t| {
            *t.borrow_mut().by_id.entry(self.id).or_insert_with(|| {
                // SAFETY: the interpreter is alive (registered); the GIL need not
                // be held. The thread's GILState slot already points at main, so
                // this state does not take it over.
                unsafe { ffi::PyThreadState_New(self.raw) }
            })
        })
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}

/// A Python exception as text (with traceback), safe in any interpreter when
/// called with that interpreter attached.
pub fn format_err(py: Python<'_>, e: &PyErr) -> String {
    let tb = e
        .traceback(py)
        .and_then(|tb| tb.format().ok())
        .unwrap_or_default();
    format!("{tb}{}", e.value(py))
}

/// Tears everything down at process exit: `process_stopping` callbacks run in
/// every interpreter; with `destroy`, sub-interpreters are ended (after clearing
/// other threads' states) and Python is finalised.
pub fn shutdown(destroy: bool, on_stop: impl Fn(Python<'_>, &Bound<'_, PyModule>)) {
    let Some(reg) = REGISTRY.write().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    let mut subs: Vec<_> = reg
        .interpreters
        .values()
        .filter(|i| !i.is_main())
        .cloned()
        .collect();
    subs.sort_by_key(|i| i.id);
    let main = reg.interpreters.get("").cloned();
    bind_thread();
    for interp in subs {
        let _ = interp.run(&on_stop);
        if !destroy {
            continue;
        }
        let ts = interp.thread_state();
        // SAFETY: ts is this thread's state for the interpreter. With the GIL
        // held and ts current, every other thread state of the interpreter is
        // cleared and deleted (Py_EndInterpreter aborts otherwise), our objects
        // are released inside their own interpreter, and the interpreter ends.
        // The GIL is still held afterwards with no current thread state, so we
        // swap to this thread's main state and release it.
        unsafe {
            ffi::PyEval_RestoreThread(ts);
            let mut other = ffi::PyInterpreterState_ThreadHead(interp.raw);
            while !other.is_null() {
                let next = ffi::PyThreadState_Next(other);
                if other != ts {
                    ffi::PyThreadState_Clear(other);
                    ffi::PyThreadState_Delete(other);
                }
                other = next;
            }
            ffi::Py_DECREF(interp.module);
            ffi::Py_DECREF(interp.trampoline);
            ffi::Py_EndInterpreter(ts);
            ffi::PyThreadState_Swap(main_state_of_thread());
            ffi::PyEval_SaveThread();
        }
        THREAD.with(|t| t.borrow_mut().by_id.remove(&interp.id));
    }
    if let Some(main) = main {
        let _ = main.run(&on_stop);
        if destroy {
            // SAFETY: all sub-interpreters are gone; this thread's main state is
            // current for finalisation, which releases everything.
            unsafe {
                ffi::PyEval_RestoreThread(main_state_of_thread());
                ffi::Py_DECREF(main.module);
                ffi::Py_FinalizeEx();
            }
            THREAD.with(|t| *t.borrow_mut() = ThreadStates::default());
        }
    }
}
