//! Pure parsing of our directives into typed configuration, and the pure
//! mapping rules built on it. No FFI here, so all of it is unit tested.

mod application;
mod args;
pub mod auth;
pub mod daemon;
pub mod directives;
pub mod error;
mod global;
pub mod groups;
pub mod python_home;
pub mod script_alias;
pub mod settings;
#[cfg(test)]
mod testing;
pub mod words;

pub use settings::{AppSettings, DirConfig, GlobalSettings, ServerConfig};
