//! Safe wrappers over httpd's API (the edge where `unsafe` lives) and the
//! module's hooks: configuration records, directives, logging, pools,
//! requests, and the embedded-mode transport.

pub mod auth;
pub mod directives;
pub mod entry;
pub mod handler;
pub mod hooks;
pub mod log;
pub mod module;
pub mod pool;
pub mod regex;
pub mod request;
pub mod server;
pub mod transport;
