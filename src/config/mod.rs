//! Pure parsing of our directives into typed configuration, and the pure
//! mapping rules built on it. No FFI here, so all of it is unit tested.

pub mod auth;
pub mod daemon;
pub mod directives;
pub mod error;
pub mod groups;
pub mod python_home;
pub mod script_alias;
pub mod settings;
pub mod words;

pub use settings::{AppSettings, DirConfig, GlobalSettings, ServerConfig};
