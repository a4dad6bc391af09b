//! What the module's hooks and handler return to httpd: [`HookStatus`],
//! turned into httpd's `int` only at the `extern "C"` edges (`hooks.rs`,
//! `auth.rs`); and the `HTTP_*` numbers httpd hands back, as [`HttpStatus`].

use std::ffi::c_int;

use crate::ffi;
use crate::status::HttpStatus;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HookStatus {
    /// The hook or handler did its work (`OK`).
    Ok,
    /// The request is not its business (`DECLINED`).
    Declined,
    /// httpd answers with this status (its error document).
    Http(HttpStatus),
}

impl HookStatus {
    /// The value httpd reads.
    pub(crate) fn raw(self) -> c_int {
        match self {
            HookStatus::Ok => ffi::OK,
            HookStatus::Declined => ffi::DECLINED,
            HookStatus::Http(s) => c_int::from(s.code()),
        }
    }
}

impl From<HttpStatus> for HookStatus {
    fn from(s: HttpStatus) -> HookStatus {
        HookStatus::Http(s)
    }
}

/// A status httpd returned (`ap_setup_client_block`'s, an error bucket's),
/// if it is one.
pub(crate) fn http_status(status: c_int) -> Option<HttpStatus> {
    u16::try_from(status).ok().and_then(HttpStatus::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_statuses_are_httpd_s() {
        for (ours, httpd) in [
            (HttpStatus::OK, ffi::HTTP_OK),
            (HttpStatus::BAD_REQUEST, ffi::HTTP_BAD_REQUEST),
            (HttpStatus::FORBIDDEN, ffi::HTTP_FORBIDDEN),
            (HttpStatus::NOT_FOUND, ffi::HTTP_NOT_FOUND),
            (HttpStatus::REQUEST_TIMEOUT, ffi::HTTP_REQUEST_TIME_OUT),
            (HttpStatus::LENGTH_REQUIRED, ffi::HTTP_LENGTH_REQUIRED),
            (
                HttpStatus::CONTENT_TOO_LARGE,
                ffi::HTTP_REQUEST_ENTITY_TOO_LARGE,
            ),
            (
                HttpStatus::INTERNAL_SERVER_ERROR,
                ffi::HTTP_INTERNAL_SERVER_ERROR,
            ),
            (HttpStatus::BAD_GATEWAY, ffi::HTTP_BAD_GATEWAY),
            (
                HttpStatus::SERVICE_UNAVAILABLE,
                ffi::HTTP_SERVICE_UNAVAILABLE,
            ),
            (HttpStatus::GATEWAY_TIMEOUT, ffi::HTTP_GATEWAY_TIME_OUT),
        ] {
            assert_eq!(HookStatus::Http(ours).raw(), httpd, "{ours}");
            assert_eq!(http_status(httpd), Some(ours));
        }
    }

    #[test]
    fn ok_and_declined_are_httpd_s() {
        assert_eq!(HookStatus::Ok.raw(), ffi::OK);
        assert_eq!(HookStatus::Declined.raw(), ffi::DECLINED);
        assert_eq!(http_status(ffi::OK), None);
        assert_eq!(http_status(ffi::DECLINED), None);
        assert_eq!(http_status(70_000), None);
    }
}
