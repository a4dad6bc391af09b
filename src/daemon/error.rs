//! Daemon mode's error types: each is what gets logged, word for word.

use super::protocol::FrameError;

/// Why daemon mode could not start at a (re)start of Apache.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error("mod_wsgi: the Apache process record has no pool")]
    NoProcessPool,
    #[error(
        "mod_wsgi: cannot make the memory for daemon process secrets (an anonymous mapping with MADV_WIPEONFORK, Linux 4.14 or later)"
    )]
    NoKeyStore,
    #[error("mod_wsgi: cannot get random bytes for daemon secrets: {0}")]
    Random(getrandom::Error),
    #[error("WSGIDaemonProcess {group}: {option} '{who}' does not exist")]
    NoSuchIdentity {
        group: String,
        option: &'static str,
        who: String,
    },
    #[error(
        "mod_wsgi: cannot create the socket '{path}' for daemon process group '{group}': {source}. \
         Check that the directory exists and is writable (WSGISocketPrefix)."
    )]
    Socket {
        path: String,
        group: String,
        source: std::io::Error,
    },
}

/// Why a daemon could not read what the Apache child sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("reading from the Apache child: {0}")]
    Io(#[from] std::io::Error),
    #[error("reading from the Apache child: the connection closed mid-frame")]
    ClosedMidFrame,
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// A request refused by one of the options that restrict a group
/// (`chroot=`, `script-user=`/`script-group=`): mod_wsgi's message.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Refused(pub(crate) String);
