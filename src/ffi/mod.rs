//! Raw bindings: bindgen's output over `wrapper.h` (httpd + APR) and the C shim.
//! Nothing but generated declarations lives here; safe wrappers are in `crate::apache`.

#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    unnecessary_transmutes,
    clippy::all,
    clippy::pedantic,
    clippy::undocumented_unsafe_blocks,
    unsafe_op_in_unsafe_fn,
    unreachable_pub,
    rustdoc::all
)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
