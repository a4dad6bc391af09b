//! Pure parsing of our directives into typed configuration, and the pure
//! mapping rules built on it. No FFI here, so all of it is unit tested.

mod application;
mod args;
pub(crate) mod auth;
pub(crate) mod daemon;
pub(crate) mod directives;
mod error;
mod global;
pub(crate) mod groups;
pub(crate) mod interpreter_options;
pub mod python_home;
pub(crate) mod script_alias;
pub(crate) mod scripts;
pub(crate) mod settings;
#[cfg(test)]
mod testing;
pub(crate) mod words;

// The types that public items of the other layers name (httpd's configuration
// records, what the supervisor, the daemon and Python start from); the rest of
// this module is crate-private.
pub use daemon::DaemonGroup;
pub(crate) use error::ConfigError;
pub use interpreter_options::{InterpreterOptions, InterpreterScopes, InterpreterSetup};
pub use script_alias::UriRegex;
pub use settings::{DirConfig, GlobalSettings, ImportScript, IpNet, ServerConfig};
