//! Safe wrappers over httpd's API (the edge where `unsafe` lives) and the
//! module's hooks: configuration records, directives, logging, pools,
//! requests, servers, the MPM and httpd's state, its Unix settings, the
//! processes the parent forks and watches, and the embedded-mode transport.

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
