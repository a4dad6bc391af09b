//! Safe wrappers over httpd's API (the edge where `unsafe` lives) and the
//! module's hooks: configuration records, directives, logging, pools,
//! requests, servers, the MPM and httpd's state, its Unix settings, the
//! processes the parent forks and watches, and the embedded-mode transport.

use std::ffi::c_int;

/// What a hook or handler returns when it did its work.
pub const OK: c_int = crate::ffi::OK as c_int;
/// What a hook or handler returns when the request is not its business.
pub const DECLINED: c_int = crate::ffi::DECLINED as c_int;

pub mod auth;
pub mod directives;
pub mod entry;
pub mod handler;
pub mod hooks;
pub mod log;
pub mod module;
pub mod mpm;
pub mod pool;
pub mod process;
pub mod regex;
pub mod request;
pub mod server;
pub mod transport;
pub mod unixd;
