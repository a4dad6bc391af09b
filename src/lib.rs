//! mod_wsgi-rs: an Apache httpd 2.4 module that serves Python WSGI applications.
//!
//! Layers (see ARCHITECTURE.md), bottom up: `log` (the logging facade) and
//! `config` (pure directive parsing); `python` (interpreters, the WSGI
//! adapter); `apache` (safe wrappers over httpd, hooks, the embedded
//! transport) and `daemon` (daemon mode); `os` (the operating system's calls
//! behind safe functions) serves every layer; `ffi` (generated bindings and
//! the C shim) is reached only from `apache` and `os`.

pub mod apache;
pub mod config;
pub mod daemon;
pub mod ffi;
pub mod log;
pub mod os;
pub mod python;
