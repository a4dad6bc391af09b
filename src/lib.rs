//! mod_wsgi-rs: an Apache httpd 2.4 module that serves Python WSGI applications.
//!
//! Layers (see ARCHITECTURE.md): `ffi` (generated bindings and the C shim),
//! `apache` (safe wrappers, hooks, the embedded transport), `os` (the
//! operating system's calls behind safe functions), `config` (pure directive
//! parsing), `python` (interpreters, the WSGI adapter), `daemon` (daemon
//! mode).

pub mod apache;
pub mod config;
pub mod daemon;
pub mod ffi;
pub mod os;
pub mod python;
