//! mod_wsgi-rs: an Apache httpd 2.4 module that serves Python WSGI applications.
//!
//! Layers (see ARCHITECTURE.md), bottom up: `log` (the logging facade),
//! `status` (the HTTP status type) and `config` (pure directive parsing); `python` (interpreters, the WSGI
//! adapter); `apache` (safe wrappers over httpd, hooks, the embedded
//! transport) and `daemon` (daemon mode); `os` (the operating system's calls
//! behind safe functions) serves every layer; `ffi` (generated bindings and
//! the C shim) is reached only from `apache` and `os`.

// What outside code uses (wsgi-express; the tests that speak the daemon
// protocol) is `pub`; everything else is the crate's own.
pub(crate) mod apache;
pub mod config;
pub mod daemon;
pub(crate) mod ffi;
pub(crate) mod log;
pub mod os;
pub mod python;
pub mod status;
