//! mod_wsgi-rs: an Apache httpd 2.4 module that serves Python WSGI applications.

pub mod config;
pub mod ffi;
