//! The interpreter manager: the only place that handles CPython interpreter
//! and thread states directly (ARCHITECTURE.md, "Python in the process").
//! One concern, kept whole on purpose: every `unsafe` that touches thread
//! states is here, where its invariants can be read together.
//!
//! * One main interpreter (application group `""`, `%{GLOBAL}`) and one
//!   sub-interpreter per named application group, created on first use;
//!   with `WSGIPerInterpreterGIL On` (3.12+) each sub-interpreter has its own
//!   GIL.
//! * Each OS thread has one persistent thread state per interpreter, cached
//!   by interpreter *ID* (IDs are never reused; addresses are). The first is
//!   always the main interpreter's, made (detached, without the GIL) by
//!   `PyThreadState_New`, so a thread's GILState slot starts out on main.
//! * Every interpreter, main included, is entered the same way: attach this
//!   thread's own thread state for it (`PyEval_RestoreThread`), then call that
//!   interpreter's trampoline — a PyO3 closure, inside which PyO3's safe API
//!   is sound (PyO3 sees an attached thread and never calls
//!   `PyGILState_Ensure`). Never through `PyGILState_Ensure`: since 3.12 the
//!   GILState slot follows the most recently attached thread state
//!   (`tstate_activate` → `bind_gilstate_tstate` in `Python/pystate.c`), so
//!   on a thread that also serves sub-interpreters it may name one of them.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::{Arc, Mutex, RwLock};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};

use super::closure::{self, panic_message};
use super::error::PythonError;

/// One Python interpreter of this process.
pub(crate) struct Interpreter {
    /// Application group name; `""` is the main interpreter.
    pub name: String,
    pub id: i64,
    raw: *mut ffi::PyInterpreterState,
    /// The PyO3 closure used to enter this interpreter (a strong reference).
    trampoline: *mut ffi::PyObject,
    /// This interpreter's `mod_wsgi` module (a strong reference).
    module: *mut ffi::PyObject,
    /// Whether it has a GIL of its own (WSGIPerInterpreterGIL On).
    own_gil: bool,
}

// SAFETY: the raw pointers are only dereferenced with this interpreter's
// thread state attached; the objects live until `shutdown`.
unsafe impl Send for Interpreter {}
// SAFETY: as above.
unsafe impl Sync for Interpreter {}

/// Sets up a new interpreter: installs the `mod_wsgi` module, returns it.
pub(crate) type Setup =
    dyn for<'py> Fn(Python<'py>, &str) -> PyResult<Bound<'py, PyModule>> + Send + Sync;

/// How a sub-interpreter is made.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Options {
    /// WSGIPerInterpreterGIL On: a GIL of its own (Python 3.12+ only;
    /// configtest refuses it for older versions).
    pub own_gil: bool,
}

/// How the sub-interpreter of an application group is made (its settings
/// may be scoped to it: `<WSGIInterpreterOptions>`).
pub(crate) type OptionsFor = dyn Fn(&str) -> Options + Send + Sync;

struct Registry {
    interpreters: HashMap<String, Arc<Interpreter>>,
    setup: Arc<Setup>,
    options: Arc<OptionsFor>,
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

/// This thread's main-interpreter thread state, created on first use.
fn bind_thread() -> *mut ffi::PyThreadState {
    THREAD.with(|t| {
        let mut t = t.borrow_mut();
        if let Some(ts) = t.main {
            return ts;
        }
        // SAFETY: Python is initialised and this thread has none of our
        // thread states yet. PyThreadState_New needs no GIL: it makes
        // a detached state in the main interpreter, binds this thread's
        // GILState slot to it (the slot is empty) and starts its GILState
        // counter at 1, so a C extension's balanced Ensure/Release reuses it
        // and never deletes it. Not attaching it here matters before 3.13:
        // waiting for the GIL with a main-interpreter state would ask only
        // the main interpreter's threads to drop it, so a thread looping in
        // a sub-interpreter would keep this one out until it blocked; the
        // first wait now happens with the state of the interpreter entered.
        //
        // A thread some other code already gave a GILState state (a C
        // extension's Ensure on an Apache thread) keeps it, as before: Ensure
        // reuses that state and raises its counter, so its owner's Release
        // cannot delete it.
        let ts = unsafe {
            if ffi::PyGILState_GetThisThreadState().is_null() {
                ffi::PyThreadState_New(ffi::PyInterpreterState_Main())
            } else {
                ffi::PyGILState_Ensure();
                ffi::PyEval_SaveThread()
            }
        };
        // Only out of memory.
        assert!(!ts.is_null(), "cannot allocate a Python thread state");
        t.main = Some(ts);
        ts
    })
}

/// Gives this thread its main-interpreter thread state now, if it has none
/// (Python must be running; no GIL is taken), so that its first request
/// does not make it.
pub(crate) fn bind_current_thread() {
    if is_running() {
        bind_thread();
    }
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

/// What was attached on this thread before [`attach`], put back by
/// [`restore`]. Entering an interpreter normally starts detached; it can
/// start attached when an interpreter is entered from inside another one on
/// the same thread (an output filter making a subrequest while the
/// application writes with the GIL held).
#[derive(Clone, Copy)]
enum Previous {
    Detached,
    Same,
    Other(*mut ffi::PyThreadState),
}

/// Attaches `ts` (taking its interpreter's GIL).
///
/// # Safety
/// `ts` must be one of this thread's thread states, of a live interpreter.
unsafe fn attach(ts: *mut ffi::PyThreadState) -> Previous {
    // SAFETY: reading the current thread state has no preconditions.
    let current = unsafe { ffi::compat::PyThreadState_GetUnchecked() };
    // Before 3.12 "current" is process-wide (whichever thread holds the GIL),
    // so it only counts if it is one of this thread's own states.
    if current.is_null() || !is_this_threads(current) {
        // SAFETY: as guaranteed by the caller; nothing is attached.
        unsafe { ffi::PyEval_RestoreThread(ts) };
        Previous::Detached
    } else if current == ts {
        Previous::Same
    } else {
        // SAFETY: `current` is attached on this thread; Swap detaches it
        // (releasing its GIL on 3.12+) and attaches `ts`.
        unsafe { ffi::PyThreadState_Swap(ts) };
        Previous::Other(current)
    }
}

fn is_this_threads(ts: *mut ffi::PyThreadState) -> bool {
    THREAD.with(|t| {
        let t = t.borrow();
        t.main == Some(ts) || t.by_id.values().any(|&own| own == ts)
    })
}

/// Detaches whatever is attached now and re-attaches what was before [`attach`].
///
/// # Safety
/// A thread state of this thread must be attached.
unsafe fn restore(previous: Previous) {
    // SAFETY: as guaranteed by the caller.
    unsafe {
        match previous {
            Previous::Detached => {
                ffi::PyEval_SaveThread();
            }
            Previous::Same => {}
            Previous::Other(ts) => {
                ffi::PyThreadState_Swap(ts);
            }
        }
    }
}

/// Registers the main interpreter; called once Python is initialised, with
/// no thread state attached.
pub(crate) fn register_main(
    setup: Arc<Setup>,
    options: Arc<OptionsFor>,
) -> Result<(), PythonError> {
    let ts = bind_thread();
    // SAFETY: ts is this thread's main thread state; install runs with it attached.
    let installed = unsafe {
        let previous = attach(ts);
        let installed = install("", &setup);
        restore(previous);
        installed
    };
    let (trampoline, module) = installed?;
    // SAFETY: reading the main interpreter pointer and ID is always allowed
    // once Python is initialised.
    let (raw, id) = unsafe {
        let raw = ffi::PyInterpreterState_Main();
        (raw, ffi::PyInterpreterState_GetID(raw))
    };
    let main = Arc::new(Interpreter {
        name: String::new(),
        id,
        raw,
        trampoline,
        module,
        own_gil: false,
    });
    let mut reg = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    let mut interpreters = HashMap::new();
    interpreters.insert(String::new(), main);
    *reg = Some(Registry {
        interpreters,
        setup,
        options,
    });
    Ok(())
}

/// Whether the registry is up (Python initialised in this process).
pub(crate) fn is_running() -> bool {
    REGISTRY.read().map(|r| r.is_some()).unwrap_or(false)
}

/// The interpreter for an application group, created on first use.
pub(crate) fn get(name: &str) -> Result<Arc<Interpreter>, PythonError> {
    if let Some(i) = lookup(name)? {
        return Ok(i);
    }
    let _creating = CREATE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = lookup(name)? {
        return Ok(i);
    }
    let (setup, options) = {
        let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
        let reg = reg.as_ref().ok_or(PythonError::NotRunning)?;
        (reg.setup.clone(), reg.options.clone())
    };
    let interp = Arc::new(create_sub_interpreter(name, &setup, options(name))?);
    let mut reg = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    let reg = reg.as_mut().ok_or(PythonError::ShutDown)?;
    reg.interpreters.insert(name.to_string(), interp.clone());
    Ok(interp)
}

fn lookup(name: &str) -> Result<Option<Arc<Interpreter>>, PythonError> {
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    let reg = reg.as_ref().ok_or(PythonError::NotRunning)?;
    Ok(reg.interpreters.get(name).cloned())
}

/// The interpreter with this ID, if it exists (never created here).
pub(crate) fn find(id: i64) -> Result<Arc<Interpreter>, PythonError> {
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    let reg = reg.as_ref().ok_or(PythonError::NotRunning)?;
    reg.interpreters
        .values()
        .find(|i| i.id == id)
        .cloned()
        .ok_or(PythonError::NoInterpreter(id))
}

/// The (thread, interpreter ID) pairs [`interrupt`] raised `RequestTimeout`
/// in and [`discard_interrupt`] has not seen since: only there can one still
/// be pending. (Clearing when none is pending would cost a needless
/// `SetAsyncExc`, which before 3.12 also leaves the interpreter's eval
/// breaker set for good.)
static INTERRUPTED: Mutex<Vec<(u64, i64)>> = Mutex::new(Vec::new());

/// What [`interrupt`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interrupted {
    /// `mod_wsgi.RequestTimeout` is pending on the thread: it is raised the
    /// next time the thread runs Python bytecode in that interpreter.
    Raised,
    /// The caller's check said no (the request it meant has ended).
    Declined,
    /// The thread has no thread state in that interpreter.
    NoThread,
}

/// Schedules that interpreter's own `mod_wsgi.RequestTimeout` to be raised
/// in OS thread `thread` (its pthread id, which is CPython's thread ident)
/// as it runs in interpreter `interpreter` (`PyThreadState_SetAsyncExc`):
/// the exception must target the thread state of the interpreter the
/// request runs in — each thread has one per interpreter — so it is set
/// from inside that interpreter, where `SetAsyncExc` looks for the thread
/// among that interpreter's thread states only.
///
/// `confirm` runs with that interpreter's GIL held, just before: `None`
/// declines; a value (a lock guard) is kept until the exception is set,
/// so the caller can make sure the request it means is still the one
/// running on `thread`.
pub(crate) fn interrupt<G>(
    thread: u64,
    interpreter: i64,
    confirm: impl FnOnce() -> Option<G>,
) -> Result<Interrupted, PythonError> {
    find(interpreter)?.run(|py, m| {
        let class = m
            .getattr("RequestTimeout")
            .map_err(|e| PythonError::Exception(format_err(py, &e)))?;
        let Some(guard) = confirm() else {
            return Ok(Interrupted::Declined);
        };
        // SAFETY: this interpreter is attached (we are in its trampoline)
        // and `class` is one of its objects, alive for the call; CPython
        // takes its own reference. The ident is passed bit for bit (pyo3's
        // declaration says `long`, CPython's `unsigned long`).
        let found =
            unsafe { ffi::PyThreadState_SetAsyncExc(thread as std::ffi::c_long, class.as_ptr()) };
        drop(guard);
        if found == 0 {
            return Ok(Interrupted::NoThread);
        }
        INTERRUPTED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((thread, interpreter));
        Ok(Interrupted::Raised)
    })?
}

/// Drops an interruption still pending on this thread's state in the
/// attached interpreter: one set just as this thread's previous request
/// ended must not hit the next one.
pub(crate) fn discard_interrupt(_py: Python<'_>) {
    // SAFETY: the token proves a thread state of this thread is attached,
    // so the current interpreter can be read.
    let (me, interpreter) = unsafe {
        (
            ffi::PyThread_get_thread_ident() as u64,
            ffi::PyInterpreterState_GetID(ffi::PyInterpreterState_Get()),
        )
    };
    {
        let mut pending = INTERRUPTED.lock().unwrap_or_else(|e| e.into_inner());
        let before = pending.len();
        pending.retain(|&p| p != (me, interpreter));
        if pending.len() == before {
            return;
        }
    }
    // SAFETY: attached (above); SetAsyncExc with NULL clears `async_exc` of
    // this thread's state in the attached interpreter.
    unsafe {
        ffi::PyThreadState_SetAsyncExc(me as std::ffi::c_long, ptr::null_mut());
    }
}

/// A new sub-interpreter; its first thread state is attached on return.
///
/// # Safety
/// A main-interpreter thread state of this thread must be attached.
unsafe fn new_interpreter(options: Options) -> Result<*mut ffi::PyThreadState, PythonError> {
    #[cfg(Py_3_12)]
    {
        let config = if options.own_gil {
            // What mod_wsgi uses for WSGIPerInterpreterGIL On: its own GIL
            // and allocator; extensions must support multiple interpreters
            // (PEP 489 multi-phase init, Py_mod_multiple_interpreters).
            ffi::_PyInterpreterConfig_INIT
        } else {
            ffi::_PyInterpreterConfig_LEGACY_INIT
        };
        let mut ts = ptr::null_mut();
        // SAFETY: as guaranteed by the caller; on failure CPython re-attaches
        // the caller's thread state.
        let status = unsafe { ffi::Py_NewInterpreterFromConfig(&mut ts, &config) };
        // SAFETY: inspecting a returned PyStatus.
        if unsafe { ffi::PyStatus_Exception(status) } != 0 || ts.is_null() {
            let why = if status.err_msg.is_null() {
                "unknown error".to_string()
            } else {
                // SAFETY: CPython's status messages are static C strings.
                unsafe { std::ffi::CStr::from_ptr(status.err_msg) }
                    .to_string_lossy()
                    .into_owned()
            };
            return Err(PythonError::Interpreter(format!(
                "Py_NewInterpreterFromConfig() failed: {why}"
            )));
        }
        Ok(ts)
    }
    #[cfg(not(Py_3_12))]
    {
        // configtest refuses WSGIPerInterpreterGIL On before 3.12.
        debug_assert!(!options.own_gil);
        // SAFETY: as guaranteed by the caller.
        let ts = unsafe { ffi::Py_NewInterpreter() };
        if ts.is_null() {
            return Err(PythonError::Interpreter(
                "Py_NewInterpreter() failed".to_string(),
            ));
        }
        Ok(ts)
    }
}

fn create_sub_interpreter(
    name: &str,
    setup: &Arc<Setup>,
    options: Options,
) -> Result<Interpreter, PythonError> {
    let main_ts = bind_thread();
    // SAFETY: main_ts is this thread's main thread state. Every path below
    // ends with this thread back in the state it had before (`previous`).
    unsafe {
        let previous = match attach(main_ts) {
            // Coming back means swapping the new interpreter's state out again.
            Previous::Same => Previous::Other(main_ts),
            p => p,
        };
        let ts = match new_interpreter(options) {
            Ok(ts) => ts,
            Err(e) => {
                // CPython put main_ts back.
                restore(previous);
                return Err(PythonError::Interpreter(format!(
                    "application group '{name}': {e}"
                )));
            }
        };
        let raw = ffi::PyThreadState_GetInterpreter(ts);
        let id = ffi::PyInterpreterState_GetID(raw);
        match install(name, setup) {
            Ok((trampoline, module)) => {
                restore(previous);
                THREAD.with(|t| t.borrow_mut().by_id.insert(id, ts));
                Ok(Interpreter {
                    name: name.to_string(),
                    id,
                    raw,
                    trampoline,
                    module,
                    own_gil: options.own_gil,
                })
            }
            Err(e) => {
                end_interpreter(ts, previous, main_ts);
                Err(PythonError::Interpreter(format!(
                    "cannot set up interpreter '{name}': {e}"
                )))
            }
        }
    }
}

/// Ends the interpreter whose (only remaining) thread state `ts` is attached,
/// then puts back `previous`.
///
/// # Safety
/// `ts` must be attached and the last thread state of its interpreter;
/// `main_ts` is this thread's main thread state.
unsafe fn end_interpreter(
    ts: *mut ffi::PyThreadState,
    previous: Previous,
    main_ts: *mut ffi::PyThreadState,
) {
    // SAFETY: as guaranteed by the caller.
    unsafe { ffi::Py_EndInterpreter(ts) };
    // 3.12+: PyInterpreterState_Delete detached `ts` and released that
    // interpreter's GIL. 3.11 and older: the (one) GIL is still held, with
    // no thread state.
    // SAFETY: in each case the thread is put back as it was before `attach`.
    unsafe {
        if cfg!(Py_3_12) {
            match previous {
                Previous::Detached => {}
                Previous::Same | Previous::Other(_) => {
                    let back = match previous {
                        Previous::Other(p) => p,
                        _ => main_ts,
                    };
                    ffi::PyEval_RestoreThread(back);
                }
            }
        } else {
            match previous {
                Previous::Detached => {
                    ffi::PyThreadState_Swap(main_ts);
                    ffi::PyEval_SaveThread();
                }
                Previous::Same => {
                    ffi::PyThreadState_Swap(main_ts);
                }
                Previous::Other(p) => {
                    ffi::PyThreadState_Swap(p);
                }
            }
        }
    }
}

/// Makes the current interpreter's trampoline and runs `setup` inside it.
///
/// # Safety
/// A thread state of the interpreter being set up must be attached.
unsafe fn install(
    name: &str,
    setup: &Arc<Setup>,
) -> Result<(*mut ffi::PyObject, *mut ffi::PyObject), PythonError> {
    // SAFETY: attached (caller). Only the trampoline is made with this token,
    // and no Py<T> is dropped under it.
    let py = unsafe { Python::assume_attached() };
    let trampoline = make_trampoline(py)?;
    let mut module = ptr::null_mut();
    let mut failure = None;
    {
        let mut job = |py: Python<'_>| match catch_unwind(AssertUnwindSafe(|| setup(py, name))) {
            Ok(Ok(m)) => module = m.into_ptr(),
            Ok(Err(e)) => failure = Some(PythonError::Exception(format_err(py, &e))),
            Err(p) => failure = Some(PythonError::Panicked(panic_message(p.as_ref()))),
        };
        // SAFETY: the trampoline belongs to the attached interpreter.
        if let Err(e) = unsafe { call_trampoline(trampoline, &mut job) } {
            failure.get_or_insert(e);
        }
    }
    match failure {
        None if !module.is_null() => Ok((trampoline, module)),
        failure => {
            // SAFETY: attached; the trampoline is ours.
            unsafe { ffi::Py_DECREF(trampoline) };
            Err(failure.unwrap_or_else(|| {
                PythonError::Interpreter("setup returned no module".to_string())
            }))
        }
    }
}

fn make_trampoline(py: Python<'_>) -> Result<*mut ffi::PyObject, PythonError> {
    let f = closure::new(py, c"_mod_wsgi_enter", |args, _kwargs| -> PyResult<()> {
        if let Some(job) = JOB.with(|j| j.take()) {
            // SAFETY: `call_trampoline` stored a pointer to a job that outlives this call.
            unsafe { (*job)(args.py()) };
        }
        Ok(())
    })
    .map_err(|e| PythonError::Exception(format_err(py, &e)))?;
    Ok(f.into_ptr())
}

/// Calls `trampoline` so that `job` runs inside it.
///
/// # Safety
/// A thread state of the trampoline's interpreter must be attached.
unsafe fn call_trampoline(
    trampoline: *mut ffi::PyObject,
    job: &mut Job<'_>,
) -> Result<(), PythonError> {
    // SAFETY: only the lifetime is erased; the pointer is cleared before `job` ends.
    let erased: *mut Job<'static> = unsafe { std::mem::transmute(job as *mut Job<'_>) };
    let previous = JOB.with(|j| j.replace(Some(erased)));
    // SAFETY: guaranteed by the caller.
    let rv = unsafe { ffi::PyObject_CallNoArgs(trampoline) };
    JOB.with(|j| j.set(previous));
    if rv.is_null() {
        // SAFETY: an exception is set; print and clear it in this interpreter.
        unsafe { ffi::PyErr_Print() };
        return Err(PythonError::Entry);
    }
    // SAFETY: rv is a new reference (None).
    unsafe { ffi::Py_DECREF(rv) };
    Ok(())
}

impl Interpreter {
    pub(crate) fn is_main(&self) -> bool {
        self.name.is_empty()
    }

    /// Whether a thread waiting for the main interpreter's GIL may be kept
    /// out by a thread looping in this one: before 3.13 a waiter asks only
    /// the threads of its own interpreter to let go of a shared GIL.
    pub(crate) fn holds_off_main_waiters(&self) -> bool {
        !cfg!(Py_3_13) && !self.is_main() && !self.own_gil
    }

    /// Runs `f` in this interpreter with its GIL held. A panic in `f` is
    /// caught and returned as `Err`.
    pub(crate) fn run<R>(
        &self,
        f: impl FnOnce(Python<'_>, &Bound<'_, PyModule>) -> R,
    ) -> Result<R, PythonError> {
        let mut f = Some(f);
        let mut out: Option<std::thread::Result<R>> = None;
        let mut job = |py: Python<'_>| {
            // SAFETY: `module` is a strong reference owned by this interpreter.
            let module = unsafe { Bound::from_borrowed_ptr(py, self.module) };
            let Ok(module) = module.cast_into::<PyModule>() else {
                return;
            };
            if let Some(f) = f.take() {
                out = Some(catch_unwind(AssertUnwindSafe(|| f(py, &module))));
            }
        };
        let ts = self.thread_state();
        // SAFETY: ts is this thread's state for this (live) interpreter; the
        // trampoline belongs to it; `restore` puts the thread back as it was.
        unsafe {
            let previous = attach(ts);
            let r = call_trampoline(self.trampoline, &mut job);
            restore(previous);
            r?;
        }
        match out {
            Some(Ok(r)) => Ok(r),
            Some(Err(p)) => Err(PythonError::Panicked(panic_message(p.as_ref()))),
            None => Err(PythonError::JobNotRun),
        }
    }

    /// This thread's persistent thread state for this interpreter.
    fn thread_state(&self) -> *mut ffi::PyThreadState {
        let main = bind_thread();
        if self.is_main() {
            return main;
        }
        THREAD.with(|t| {
            *t.borrow_mut().by_id.entry(self.id).or_insert_with(|| {
                // SAFETY: the interpreter is alive (registered); no GIL is
                // needed. The thread's GILState slot is already bound, so
                // creating this state does not take it over.
                unsafe { ffi::PyThreadState_New(self.raw) }
            })
        })
    }
}

/// WSGIPassApacheRequest: `environ['apache.request_rec']`, an unnamed
/// capsule holding the `request_rec`'s `address` (C extensions open it with
/// `PyCapsule_GetPointer(capsule, NULL)`, as mod_wsgi makes it); nothing
/// when `address` is 0.
pub(crate) fn set_request_rec(environ: &Bound<'_, PyDict>, address: usize) -> PyResult<()> {
    if address == 0 {
        return Ok(());
    }
    let py = environ.py();
    // SAFETY: the GIL is held (`py`); a capsule only stores the pointer,
    // without a name or destructor, and never dereferences it.
    let raw = unsafe { ffi::PyCapsule_New(address as *mut std::ffi::c_void, ptr::null(), None) };
    // SAFETY: `raw` is a new reference, or null with an exception set.
    let capsule = unsafe { Bound::from_owned_ptr_or_err(py, raw) }?;
    environ.set_item("apache.request_rec", capsule)
}

/// A Python exception as text (its traceback and value), safe in any
/// interpreter when called with that interpreter attached.
pub(crate) fn format_err(py: Python<'_>, e: &PyErr) -> String {
    let tb = e
        .traceback(py)
        .and_then(|tb| tb.format().ok())
        .unwrap_or_default();
    with_hint(py, e, format!("{tb}{}", e.value(py)))
}

/// The `traceback.format_exception` text, chained exceptions included, as
/// mod_wsgi logs an application's exception.
pub(crate) fn format_traceback(py: Python<'_>, e: &PyErr) -> String {
    // The traceback is passed explicitly: on 3.11 a fetched exception's value
    // does not carry its __traceback__ yet.
    let formatted = PyModule::import(py, "traceback")
        .and_then(|tb| tb.getattr("format_exception"))
        .and_then(|f| f.call1((e.get_type(py), e.value(py), e.traceback(py))))
        // Joined in Python: extracting a Vec would go through PyO3's cached
        // `collections.abc.Sequence`, shared across interpreters.
        .and_then(|lines| pyo3::types::PyString::new(py, "").call_method1("join", (lines,)))
        .and_then(|text| text.extract::<String>());
    match formatted {
        Ok(text) => with_hint(py, e, text),
        Err(_) => format_err(py, e),
    }
}

/// `text`, followed by what to do about `e` when we know better than CPython.
fn with_hint(py: Python<'_>, e: &PyErr, mut text: String) -> String {
    if let Some(hint) = super::isolation::hint(py, e) {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&hint);
    }
    text
}

/// Tears everything down at process exit: `process_stopping` callbacks run in
/// every interpreter; with `destroy`, sub-interpreters are ended (after clearing
/// other threads' states) and Python is finalised.
pub(crate) fn shutdown(destroy: bool, on_stop: impl Fn(Python<'_>, &Bound<'_, PyModule>)) {
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
    let main_ts = bind_thread();
    for interp in subs {
        let _ = interp.run(&on_stop);
        if !destroy {
            continue;
        }
        let ts = interp.thread_state();
        // SAFETY: ts is this thread's state for the interpreter. With it
        // attached, every other thread state of the interpreter is cleared
        // and deleted (Py_EndInterpreter aborts otherwise), our objects are
        // released inside their own interpreter, and the interpreter ends.
        unsafe {
            let previous = attach(ts);
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
            end_interpreter(ts, previous, main_ts);
        }
        THREAD.with(|t| t.borrow_mut().by_id.remove(&interp.id));
    }
    if let Some(main) = main {
        let _ = main.run(&on_stop);
        if destroy {
            // SAFETY: all sub-interpreters are gone; this thread's main state
            // is attached for finalisation, which releases everything.
            unsafe {
                let _ = attach(main_ts);
                ffi::Py_DECREF(main.module);
                ffi::Py_DECREF(main.trampoline);
                ffi::Py_FinalizeEx();
            }
            THREAD.with(|t| *t.borrow_mut() = ThreadStates::default());
        }
    }
}
