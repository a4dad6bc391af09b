//! Daemon mode: `WSGIDaemonProcess` groups of processes forked from the
//! Apache parent, each serving requests that Apache children pass to it over a
//! UNIX socket. `protocol` is the pure framing; `supervisor` runs in the
//! Apache parent (fork, respawn, stop, graceful restarts), with `deaths`
//! waking httpd as soon as a daemon dies, `listeners` the groups' sockets, `groups` the table of this generation's groups
//! (inherited by Apache children), `exit` why daemons ended, and `stash`
//! the state it keeps across restarts; `dispatcher` in the Apache
//! children (connect, relay one request full duplex) with `pool` the
//! connections they keep between requests; `worker` in the daemon
//! processes (privileges, Python, threads, recycling); `transport` is the
//! daemon-side [`crate::python::transport::Transport`] the WSGI adapter uses
//! (the OS calls all of them make are in [`crate::os`]); `jail` (chroot=
//! paths) and `script_owner` (script-user=/script-group=) are the pure rules
//! of the options that restrict a group; `keys` the secrets that
//! authenticate requests. In the Apache child, `reader` decodes what a
//! daemon sends back, `validate` holds the rules it must follow (it runs
//! application code, so it is not trusted), and `relay` applies them on the
//! way into httpd.

mod deaths;
pub(crate) mod dispatcher;
mod error;
pub(crate) mod exit;
pub(crate) mod groups;
mod jail;
pub(crate) mod keys;
pub(crate) mod listeners;
mod pool;
pub mod protocol;
mod reader;
mod relay;
pub(crate) mod script_owner;
pub(crate) mod stash;
pub(crate) mod supervisor;
pub(crate) mod transport;
mod validate;
pub(crate) mod worker;
