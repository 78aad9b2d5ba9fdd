//! The listener's origin checks (`same_origin`, `allowed_origins`), as the
//! nats-server's `checkOrigin` does them from 2.11.14 and 2.12.5 on: the
//! scheme is part of the same-origin comparison and every allowed origin
//! of a host is kept.

use core::fmt;

use super::url::{host_and_port, origin_parts};

/// One `allowed_origins` entry: lower-cased scheme and host, and port
/// (the scheme's default when the entry has none).
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedOrigin {
    scheme: Vec<u8>,
    host: Vec<u8>,
    port: Vec<u8>,
}

/// The origin rules of a `websocket {}` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    same_origin: bool,
    allowed: Vec<AllowedOrigin>,
}

/// Why an upgrade request's origin is refused (the server answers 403 and
/// logs "origin not allowed: " followed by this text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginError {
    /// The origin, or the request's host for `same_origin`, does not parse.
    Invalid,
    /// `same_origin`: scheme, host or port differ from the request's.
    NotSameOrigin,
    /// `allowed_origins`: no entry has this scheme, host and port.
    NotAllowed,
}

impl fmt::Display for OriginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OriginError::Invalid => "invalid origin",
            OriginError::NotSameOrigin => "not same origin",
            OriginError::NotAllowed => "not in the allowed list",
        })
    }
}

impl std::error::Error for OriginError {}

/// An `allowed_origins` entry the server refuses to start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginConfigError {
    /// The entry as configured.
    pub origin: String,
    reason: ConfigReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConfigReason {
    Unparsable,
    Scheme,
    NoHost,
    BadHostPort,
}

impl fmt::Display for OriginConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        match self.reason {
            ConfigReason::Unparsable => write!(f, "unable to parse allowed origin: invalid URI {o:?}"),
            ConfigReason::Scheme => write!(
                f,
                "unable to parse allowed origin {o:?}: allowed origins must be absolute URLs with http or https scheme"
            ),
            ConfigReason::NoHost => write!(f, "unable to parse allowed origin {o:?}: host is required"),
            ConfigReason::BadHostPort => write!(f, "unable to parse allowed origin: invalid host and port in {o:?}"),
        }
    }
}

impl std::error::Error for OriginConfigError {}

impl OriginPolicy {
    /// The policy of `same_origin` and `allowed_origins`. Each allowed
    /// origin must be an absolute `http` or `https` URL with a host.
    pub fn new<S: AsRef<str>>(same_origin: bool, allowed_origins: &[S]) -> Result<OriginPolicy, OriginConfigError> {
        let mut allowed = Vec::with_capacity(allowed_origins.len());
        for origin in allowed_origins {
            let origin = origin.as_ref();
            let error = |reason| OriginConfigError { origin: origin.to_string(), reason };
            let (scheme, host) = origin_parts(origin.as_bytes()).ok_or_else(|| error(ConfigReason::Unparsable))?;
            if scheme != b"http" && scheme != b"https" {
                return Err(error(ConfigReason::Scheme));
            }
            if host.is_empty() {
                return Err(error(ConfigReason::NoHost));
            }
            let (host, port) =
                host_and_port(scheme == b"https", &host).ok_or_else(|| error(ConfigReason::BadHostPort))?;
            allowed.push(AllowedOrigin { scheme, host, port });
        }
        Ok(OriginPolicy { same_origin, allowed })
    }

    /// Whether requests are checked at all (`same_origin` or a non-empty
    /// `allowed_origins`).
    pub fn is_active(&self) -> bool {
        self.same_origin || !self.allowed.is_empty()
    }

    /// Checks a request's origin: `origin` is the `Origin` header's value
    /// (or else `Sec-WebSocket-Origin`'s), `host` the request's host and
    /// `tls` whether the listener runs TLS (default port and scheme of the
    /// host). A request without an origin is accepted.
    pub fn check(&self, origin: Option<&[u8]>, host: &[u8], tls: bool) -> Result<(), OriginError> {
        if !self.is_active() {
            return Ok(());
        }
        let Some(origin) = origin.filter(|o| !o.is_empty()) else {
            return Ok(());
        };
        let (scheme, origin_host) = origin_parts(origin).ok_or(OriginError::Invalid)?;
        let (oh, op) = host_and_port(scheme == b"https", &origin_host).ok_or(OriginError::Invalid)?;
        if self.same_origin {
            let (rh, rp) = host_and_port(tls, host).ok_or(OriginError::Invalid)?;
            let rs: &[u8] = if tls { b"https" } else { b"http" };
            if oh != rh || op != rp || scheme != rs {
                return Err(OriginError::NotSameOrigin);
            }
        }
        if !self.allowed.is_empty() && !self.allowed.iter().any(|a| a.host == oh && a.scheme == scheme && a.port == op)
        {
            return Err(OriginError::NotAllowed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each case was sent to Go 2.15.1 configured the same way; `true`
    /// where it answered 101, `false` where 403.
    #[test]
    fn as_observed() {
        let both = OriginPolicy::new(
            true,
            &["http://good.example:8080", "https://good.example", "http://127.0.0.1:18082", "https://[::1]"],
        )
        .unwrap();
        for (host, origin, ok) in [
            ("127.0.0.1:18082", None, true),
            ("127.0.0.1:18082", Some("http://127.0.0.1:18082"), true),
            ("127.0.0.1:18082", Some("HTTP://127.0.0.1:18082"), true),
            ("127.0.0.1:18082", Some("http://127.0.0.1:18082/path?x"), true),
            ("127.0.0.1:18082", Some("http://u@127.0.0.1:18082"), true),
            ("127.0.0.1:18082", Some(""), true),
            ("127.0.0.1:18082", Some("https://127.0.0.1:18082"), false),
            ("127.0.0.1:18082", Some("null"), false),
            ("127.0.0.1:18082", Some("http://bad:1"), false),
            ("good.example:8080", Some("http://good.example:8080"), true),
            ("Good.Example:8080", Some("http://GOOD.example:8080"), true),
            ("good.example", Some("http://good.example"), false),
            ("good.example:80", Some("http://good.example"), false),
            ("[::1]", Some("https://[::1]"), false),
            ("127.0.0.1:18082", Some("http://127.0.0.1:18082:1"), false),
            ("127.0.0.1:18082", Some("http://127.0.0.1%3a18082"), false),
            ("127.0.0.1:18082", Some("http:127.0.0.1:18082"), false),
            ("127.0.0.1:18082", Some("http://127.0.0.1:18082#frag"), false),
        ] {
            let got = both.check(origin.map(str::as_bytes), host.as_bytes(), false);
            assert_eq!(got.is_ok(), ok, "host {host:?} origin {origin:?}: {got:?}");
        }
        let list =
            OriginPolicy::new(false, &["http://good.example:8080", "https://good.example", "http://Good.Example:81"])
                .unwrap();
        for (origin, ok) in [
            ("http://good.example:8080", true),
            ("https://good.example", true),
            ("https://good.example:443", true),
            ("http://good.example", false),
            ("http://good.example:81", true),
            ("HTTP://GOOD.EXAMPLE:81", true),
            ("http://good.example:081", false),
        ] {
            assert_eq!(list.check(Some(origin.as_bytes()), b"x", false).is_ok(), ok, "{origin:?}");
        }
    }

    #[test]
    fn errors_and_defaults() {
        let none = OriginPolicy::new::<&str>(false, &[]).unwrap();
        assert!(!none.is_active());
        assert_eq!(none.check(Some(b"null"), b"x", false), Ok(()));
        let same = OriginPolicy::new::<&str>(true, &[]).unwrap();
        assert_eq!(same.check(Some(b"https://h"), b"h", true), Ok(()));
        assert_eq!(same.check(Some(b"https://h:443"), b"H", true), Ok(()));
        assert_eq!(same.check(Some(b"http://h"), b"h", true), Err(OriginError::NotSameOrigin));
        assert_eq!(same.check(Some(b"http://h"), b"a:b:c", false), Err(OriginError::Invalid));
        assert_eq!(same.check(Some(b"null"), b"h", false), Err(OriginError::Invalid));
        let list = OriginPolicy::new(false, &["http://h"]).unwrap();
        assert_eq!(list.check(Some(b"http://other"), b"h", false), Err(OriginError::NotAllowed));
        for (bad, text) in [
            ("null", "unable to parse allowed origin: invalid URI \"null\""),
            (
                "ftp://h",
                "unable to parse allowed origin \"ftp://h\": allowed origins must be absolute URLs with http or https scheme",
            ),
            ("http:h", "unable to parse allowed origin \"http:h\": host is required"),
            ("http://a:b:c", "unable to parse allowed origin: invalid URI \"http://a:b:c\""),
            ("http://[::1]x:1", "unable to parse allowed origin: invalid URI \"http://[::1]x:1\""),
        ] {
            assert_eq!(OriginPolicy::new(false, &[bad]).unwrap_err().to_string(), text);
        }
    }
}
