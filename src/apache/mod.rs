//! Safe wrappers over httpd's API (the edge where `unsafe` lives) and the
//! module's hooks: configuration records, directives, logging, pools,
//! requests, servers, the MPM and httpd's state, its Unix settings, the
//! processes the parent forks and watches, the scoreboard, what hooks
//! return, and the embedded-mode transport.

pub(crate) mod auth;
pub(crate) mod directives;
pub(crate) mod dispatch;
pub(crate) mod entry;
pub(crate) mod handler;
pub(crate) mod hooks;
pub(crate) mod log;
pub(crate) mod module;
pub(crate) mod mpm;
pub(crate) mod pool;
pub(crate) mod process;
pub(crate) mod regex;
pub(crate) mod request;
pub(crate) mod scoreboard;
pub(crate) mod server;
pub(crate) mod status;
pub(crate) mod transport;
pub(crate) mod unixd;
