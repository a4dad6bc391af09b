//! The HTTP status every layer speaks: [`HttpStatus`], a code in the range a
//! response head may carry (100-599, what `start_response` and a daemon's
//! head are checked against). Depends on nothing of ours, like `log`. What
//! httpd's hooks return around it is the Apache layer's
//! (`apache::status::HookStatus`); on the daemon socket a status stays a
//! big-endian `u16`.

use std::fmt;

/// An HTTP status code, 100-599.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HttpStatus(u16);

impl HttpStatus {
    pub const OK: HttpStatus = HttpStatus(200);
    pub const BAD_REQUEST: HttpStatus = HttpStatus(400);
    pub const FORBIDDEN: HttpStatus = HttpStatus(403);
    pub const NOT_FOUND: HttpStatus = HttpStatus(404);
    pub const REQUEST_TIMEOUT: HttpStatus = HttpStatus(408);
    pub const LENGTH_REQUIRED: HttpStatus = HttpStatus(411);
    /// httpd's `HTTP_REQUEST_ENTITY_TOO_LARGE`.
    pub const CONTENT_TOO_LARGE: HttpStatus = HttpStatus(413);
    pub const INTERNAL_SERVER_ERROR: HttpStatus = HttpStatus(500);
    pub const BAD_GATEWAY: HttpStatus = HttpStatus(502);
    pub const SERVICE_UNAVAILABLE: HttpStatus = HttpStatus(503);
    /// httpd's `HTTP_GATEWAY_TIME_OUT`.
    pub const GATEWAY_TIMEOUT: HttpStatus = HttpStatus(504);

    /// `code` as a status, if it is in 100-599.
    pub const fn new(code: u16) -> Option<HttpStatus> {
        if code >= 100 && code <= 599 {
            Some(HttpStatus(code))
        } else {
            None
        }
    }

    pub const fn code(self) -> u16 {
        self.0
    }

    /// A 1xx, 204 or 304 response has no body, whatever its Content-Length
    /// says (RFC 9110 §6.4.1).
    pub const fn has_no_body(self) -> bool {
        matches!(self.0, 100..=199 | 204 | 304)
    }
}

/// The bare code (`"404"`), as in a status line.
impl fmt::Display for HttpStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_codes_a_response_head_may_carry() {
        for code in [0, 1, 99, 600, 999, 1000, u16::MAX] {
            assert_eq!(HttpStatus::new(code), None, "{code}");
        }
        for code in [100, 200, 404, 599] {
            assert_eq!(HttpStatus::new(code).map(HttpStatus::code), Some(code));
        }
    }

    #[test]
    fn the_named_statuses_are_valid_and_distinct() {
        let named = [
            HttpStatus::OK,
            HttpStatus::BAD_REQUEST,
            HttpStatus::FORBIDDEN,
            HttpStatus::NOT_FOUND,
            HttpStatus::REQUEST_TIMEOUT,
            HttpStatus::LENGTH_REQUIRED,
            HttpStatus::CONTENT_TOO_LARGE,
            HttpStatus::INTERNAL_SERVER_ERROR,
            HttpStatus::BAD_GATEWAY,
            HttpStatus::SERVICE_UNAVAILABLE,
            HttpStatus::GATEWAY_TIMEOUT,
        ];
        for (i, s) in named.iter().enumerate() {
            assert_eq!(HttpStatus::new(s.code()), Some(*s));
            assert!(named[i + 1..].iter().all(|t| t != s), "{s} twice");
        }
        assert!(HttpStatus::OK < HttpStatus::NOT_FOUND);
    }

    #[test]
    fn displays_the_bare_code() {
        assert_eq!(HttpStatus::NOT_FOUND.to_string(), "404");
        assert_eq!(
            format!("{} Not Found", HttpStatus::NOT_FOUND),
            "404 Not Found"
        );
    }

    #[test]
    fn bodiless_statuses() {
        for code in [100, 101, 199, 204, 304] {
            assert!(
                HttpStatus::new(code).is_some_and(HttpStatus::has_no_body),
                "{code}"
            );
        }
        for code in [200, 201, 205, 300, 404, 500] {
            assert!(
                !HttpStatus::new(code).is_some_and(HttpStatus::has_no_body),
                "{code}"
            );
        }
    }
}
