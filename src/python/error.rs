//! The Python layer's error type.

/// Why Python could not do what was asked of it.
#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    /// Initialising CPython failed (its status message, with what was being
    /// configured).
    #[error("{0}")]
    Startup(String),
    #[error("Python is not initialised in this process")]
    NotRunning,
    #[error("Python was shut down")]
    ShutDown,
    /// No interpreter has this ID (it was never made, or has ended).
    #[error("no Python interpreter with ID {0}")]
    NoInterpreter(i64),
    /// Making or setting up an interpreter failed.
    #[error("{0}")]
    Interpreter(String),
    #[error("the interpreter entry function failed")]
    Entry,
    #[error("the interpreter did not run the job")]
    JobNotRun,
    /// Our own code panicked inside the interpreter (caught there).
    #[error("{0}")]
    Panicked(String),
    /// A Python exception, formatted with its traceback in its interpreter.
    #[error("{0}")]
    Exception(String),
}
