//! The opening handshake on the server side: the HTTP/1.1 request head as
//! Go's HTTP server reads it, the checks the nats-server's `wsUpgrade` and
//! Go's request multiplexer make, and every response either may write.
//!
//! Go serves the WebSocket port with its standard HTTP server, so a
//! request meets three layers, each with its own response format:
//!
//! 1. the HTTP reader ([`RequestParser`]): syntax, size, `Host`, body
//!    framing. Its errors ([`RequestError`]) get a short fixed response
//!    and the connection is closed;
//! 2. the request multiplexer: `*` targets, paths that need cleaning
//!    (redirected), CONNECT without a path;
//! 3. `wsUpgrade` ([`validate_upgrade`]): method, headers, key, version,
//!    origin, in that order.
//!
//! Rejections of layers 2 and 3 ([`Reject`]) are ordinary responses after
//! which the connection may stay open for another request ([`Next`]).

use core::fmt;
use std::borrow::Cow;

use super::accept::{accept_key, is_valid_key};
use super::origin::{OriginError, OriginPolicy};
use super::url::{clean_path, escaped_path, hex_escape_non_ascii, html_escape, parse_target};
use crate::framing::Status;

/// The longest request head Go's HTTP server reads, blank line included:
/// its default `MaxHeaderBytes` (1 MiB) plus the 4096 bytes it allows
/// for buffering (observed: a head of exactly this size is served, one
/// byte more gets 431).
pub const MAX_HEAD: usize = (1 << 20) + 4096;

/// A rejected request's body smaller than this is dropped so that the
/// connection can carry another request; a larger declared body closes
/// the connection.
pub const MAX_DISCARDED_BODY: u64 = 256 << 10;

/// The only `Sec-WebSocket-Extensions` value the server answers with, and
/// the one a Go leaf node asks for.
pub const DEFLATE_EXTENSION: &[u8] = b"permessage-deflate; server_no_context_takeover; client_no_context_takeover";

// ---------------------------------------------------------------------------
// The request head

/// Incremental reader of the request heads of one connection. Feed it the
/// connection's unconsumed bytes, the same bytes plus whatever arrived
/// since on each call; lines already checked are not scanned again. After
/// a complete head it starts over with the next request, which (as in
/// Go's server loop) it only starts reading once 4 bytes of it are there.
#[derive(Debug, Clone)]
pub struct RequestParser {
    max_head: usize,
    /// Start of the first line not checked yet.
    next: usize,
    /// End of the request line, 0 while it is incomplete.
    headers_at: usize,
    /// Start of the header field whose lines are read but not yet
    /// checked, 0 if none.
    field: usize,
    /// A request was read before on this connection.
    kept_alive: bool,
}

/// How the request declares its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body (or `Content-Length: 0`).
    None,
    /// `Content-Length: n`, n > 0.
    Length(u64),
    /// `Transfer-Encoding: chunked` (HTTP/1.1 and later).
    Chunked,
}

/// A complete request head. Slices borrow the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: &'a [u8],
    /// The request target as sent.
    pub target: &'a [u8],
    /// The target's path as sent: empty for an opaque or authority-only
    /// target, `*` for `*`.
    pub path: &'a [u8],
    /// The query string without `?` (empty if none).
    pub query: &'a [u8],
    /// HTTP version, `(1, 1)` for `HTTP/1.1`.
    pub version: (u8, u8),
    /// The request's host as Go sets `Request.Host`: the host of an
    /// absolute target (still escaped), else the `Host` header, else
    /// empty.
    pub host: &'a [u8],
    pub body: Body,
    /// Bytes of the head, blank line included.
    pub len: usize,
    /// The header lines, without the blank line.
    fields: &'a [u8],
}

/// Why Go's HTTP server refuses a request before any WebSocket check. It
/// answers with [`RequestError::write_response`] and closes the
/// connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// The head is longer than the limit: 431.
    TooLarge,
    /// Request line, header syntax, several `Host` headers or a bad
    /// `Content-Length`: a bare 400.
    Malformed,
    /// `Transfer-Encoding` other than one `chunked`: 501.
    UnsupportedTransferEncoding,
    /// HTTP/0.x or 2+: 505.
    UnsupportedVersion,
    /// HTTP/1.1 without `Host`: 400 with a reason.
    MissingHost,
    /// A `Host` value with bytes a host cannot have: 400 with a reason.
    MalformedHost,
    /// A header name with a space before the colon: 400 with a reason.
    InvalidHeaderName,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RequestError::TooLarge => "request header too large",
            RequestError::Malformed => "malformed HTTP request",
            RequestError::UnsupportedTransferEncoding => "unsupported transfer encoding",
            RequestError::UnsupportedVersion => "unsupported protocol version",
            RequestError::MissingHost => "missing required Host header",
            RequestError::MalformedHost => "malformed Host header",
            RequestError::InvalidHeaderName => "invalid header name",
        })
    }
}

impl std::error::Error for RequestError {}

impl RequestError {
    /// The HTTP status of the response.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::TooLarge => 431,
            RequestError::UnsupportedTransferEncoding => 501,
            RequestError::UnsupportedVersion => 505,
            _ => 400,
        }
    }

    /// Appends Go's response. The connection is closed after it.
    pub fn write_response(&self, out: &mut Vec<u8>) {
        const HEADERS: &[u8] = b"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n";
        let (status, body): (&[u8], &[u8]) = match self {
            RequestError::TooLarge => (b"431 Request Header Fields Too Large", b"431 Request Header Fields Too Large"),
            RequestError::Malformed => (b"400 Bad Request", b"400 Bad Request"),
            RequestError::UnsupportedTransferEncoding => (b"501 Not Implemented", b"Unsupported transfer encoding"),
            RequestError::UnsupportedVersion => (
                b"505 HTTP Version Not Supported: unsupported protocol version",
                b"505 HTTP Version Not Supported: unsupported protocol version",
            ),
            RequestError::MissingHost => {
                (b"400 Bad Request: missing required Host header", b"400 Bad Request: missing required Host header")
            }
            RequestError::MalformedHost => {
                (b"400 Bad Request: malformed Host header", b"400 Bad Request: malformed Host header")
            }
            RequestError::InvalidHeaderName => {
                (b"400 Bad Request: invalid header name", b"400 Bad Request: invalid header name")
            }
        };
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status);
        out.extend_from_slice(HEADERS);
        out.extend_from_slice(body);
    }
}

/// RFC 7230 `tchar`: the bytes of methods and header names.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Bytes Go accepts in a header value: tab, visible ASCII, space, and
/// anything from 0x80.
fn is_value_byte(c: u8) -> bool {
    c == b'\t' || (0x20..0x7f).contains(&c) || c >= 0x80
}

/// Bytes Go accepts in a `Host` header (`httpguts.ValidHostHeader`).
fn is_host_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!$%&'()*+,-.:;=[]_~".contains(&c)
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|c| !is_ws(*c)).unwrap_or(s.len());
    let end = s.iter().rposition(|c| !is_ws(*c)).map_or(start, |i| i + 1);
    &s[start..end]
}

/// The line in `buf[from..end]` without a final `\r`.
fn strip_cr(buf: &[u8], from: usize, end: usize) -> &[u8] {
    let line = &buf[from..end];
    line.strip_suffix(b"\r").unwrap_or(line)
}

struct RequestLine<'a> {
    method: &'a [u8],
    target: &'a [u8],
    version: (u8, u8),
}

/// `METHOD SP TARGET SP HTTP/x.y`, split at the first two spaces as Go
/// does; the target must parse as a request URI.
fn parse_request_line(line: &[u8]) -> Option<RequestLine<'_>> {
    let sp = memchr::memchr(b' ', line)?;
    let (method, rest) = (&line[..sp], &line[sp + 1..]);
    let sp = memchr::memchr(b' ', rest)?;
    let (target, proto) = (&rest[..sp], &rest[sp + 1..]);
    if method.is_empty() || !method.iter().all(|&c| is_tchar(c)) {
        return None;
    }
    let version = match proto {
        b"HTTP/1.1" => (1, 1),
        b"HTTP/1.0" => (1, 0),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            (major - b'0', minor - b'0')
        }
        _ => return None,
    };
    parse_target(method, target)?;
    Some(RequestLine { method, target, version })
}

/// Checks a header field: its lines (continuations included, each with
/// its line end). The name must be a token (a space passes here but is
/// refused once the head is complete, `InvalidHeaderName`); the value
/// bytes must be ones Go accepts.
fn check_field(field: &[u8]) -> Result<(), RequestError> {
    let colon = memchr::memchr(b':', field).ok_or(RequestError::Malformed)?;
    let name = &field[..colon];
    let name_ok = !name.is_empty() && name.iter().all(|&c| is_tchar(c) || c == b' ');
    let value_ok = field[colon + 1..]
        .split(|c| *c == b'\n')
        .all(|line| line.strip_suffix(b"\r").unwrap_or(line).iter().all(|&c| is_value_byte(c)));
    if name_ok && value_ok {
        Ok(())
    } else {
        Err(RequestError::Malformed)
    }
}

impl RequestParser {
    /// A parser refusing heads longer than `max_head` bytes (Go:
    /// [`MAX_HEAD`]).
    pub fn new(max_head: usize) -> RequestParser {
        RequestParser { max_head, next: 0, headers_at: 0, field: 0, kept_alive: false }
    }

    /// Reads the request head at the start of `buf`: `Partial` until the
    /// blank line has arrived. Errors come as soon as Go's reader sees
    /// them: a bad request line or a header line without a colon once the
    /// line is complete; any other fault of a header field once the first
    /// byte after it shows that no continuation line follows.
    pub fn parse<'a>(&mut self, buf: &'a [u8]) -> Result<Status<Request<'a>>, RequestError> {
        if self.kept_alive && self.next == 0 && buf.len() < 4 {
            return Ok(Status::Partial);
        }
        let result = self.step(buf);
        match result {
            Ok(Status::Partial) => {}
            Ok(Status::Complete(_)) => {
                self.reset();
                self.kept_alive = true;
            }
            Err(_) => self.reset(),
        }
        result
    }

    fn step<'a>(&mut self, buf: &'a [u8]) -> Result<Status<Request<'a>>, RequestError> {
        if self.next > buf.len() {
            // Not the bytes of the previous call: start over.
            self.reset();
        }
        loop {
            let start = self.next;
            if self.field != 0 {
                match buf.get(start) {
                    None => return Ok(Status::Partial),
                    Some(b' ' | b'\t') => {}
                    Some(_) => {
                        check_field(&buf[self.field..start])?;
                        self.field = 0;
                    }
                }
            }
            let window = &buf[start..buf.len().min(self.max_head)];
            let Some(nl) = memchr::memchr(b'\n', window) else {
                if buf.len() >= self.max_head {
                    return Err(RequestError::TooLarge);
                }
                return Ok(Status::Partial);
            };
            let end = start + nl + 1;
            let line = strip_cr(buf, start, start + nl);
            if self.headers_at == 0 {
                parse_request_line(line).ok_or(RequestError::Malformed)?;
                self.headers_at = end;
            } else if line.is_empty() {
                let fields = &buf[self.headers_at..start];
                let request_line = strip_cr(buf, 0, self.headers_at - 1);
                return finish(request_line, fields, end).map(Status::Complete);
            } else if matches!(line[0], b' ' | b'\t') {
                // A continuation line; the first field cannot start with one.
                if start == self.headers_at {
                    return Err(RequestError::Malformed);
                }
            } else {
                memchr::memchr(b':', line).ok_or(RequestError::Malformed)?;
                self.field = start;
            }
            self.next = end;
        }
    }

    fn reset(&mut self) {
        self.next = 0;
        self.headers_at = 0;
        self.field = 0;
    }
}

/// The checks Go makes once the head is complete, in its order.
fn finish<'a>(request_line: &'a [u8], fields: &'a [u8], len: usize) -> Result<Request<'a>, RequestError> {
    let line = parse_request_line(request_line).ok_or(RequestError::Malformed)?;
    let target = parse_target(line.method, line.target).ok_or(RequestError::Malformed)?;
    let mut req = Request {
        method: line.method,
        target: line.target,
        path: target.path,
        query: target.query,
        version: line.version,
        host: b"",
        body: Body::None,
        len,
        fields,
    };
    let mut hosts = req.header_values(b"Host");
    let host_header = hosts.next();
    if hosts.next().is_some() {
        return Err(RequestError::Malformed);
    }
    req.body = body(&req)?;
    let h2_preface = req.method == b"PRI" && req.target == b"*" && req.version == (2, 0);
    if req.version.0 != 1 && !h2_preface {
        return Err(RequestError::UnsupportedVersion);
    }
    let h2_upgrade = h2_preface && fields.is_empty();
    if req.version >= (1, 1) && host_header.is_none() && !h2_upgrade && req.method != b"CONNECT" {
        return Err(RequestError::MissingHost);
    }
    if let Some(h) = host_header {
        if !h.iter().all(|&c| is_host_byte(c)) {
            return Err(RequestError::MalformedHost);
        }
    }
    if req.headers().any(|(name, _)| name.contains(&b' ')) {
        return Err(RequestError::InvalidHeaderName);
    }
    req.host = target.host.filter(|h| !h.is_empty()).or(host_header).unwrap_or(b"");
    Ok(req)
}

/// `Transfer-Encoding` (only one `chunked` from HTTP/1.1 on; ignored on
/// HTTP/1.0), then `Content-Length` (repeats must agree; digits only).
fn body(req: &Request<'_>) -> Result<Body, RequestError> {
    let mut te = req.header_values(b"Transfer-Encoding");
    if let Some(first) = te.next() {
        if req.version >= (1, 1) {
            if te.next().is_some() || !first.eq_ignore_ascii_case(b"chunked") {
                return Err(RequestError::UnsupportedTransferEncoding);
            }
            return Ok(Body::Chunked);
        }
    }
    let mut lengths = req.header_values(b"Content-Length").map(trim);
    let Some(first) = lengths.next() else { return Ok(Body::None) };
    if lengths.any(|other| other != first) {
        return Err(RequestError::Malformed);
    }
    let n = if first.is_empty() || first.len() > 19 || !first.iter().all(u8::is_ascii_digit) {
        None
    } else {
        first.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
    };
    match n {
        Some(0) => Ok(Body::None),
        Some(n) if n < 1 << 63 => Ok(Body::Length(n)),
        _ => Err(RequestError::Malformed),
    }
}

/// The header fields of a request, in order, as `(name, value)`. A value
/// has its surrounding spaces and tabs removed. A value folded over
/// continuation lines (obsolete, but read by Go) is returned as it
/// stands in the buffer, line breaks included, from its first to its
/// last byte.
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Headers<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let block = self.rest;
        if block.is_empty() {
            return None;
        }
        let line_end = |from: usize| memchr::memchr(b'\n', &block[from..]).map_or(block.len(), |i| from + i);
        let first_end = line_end(0);
        let line = strip_cr(block, 0, first_end);
        let mut value_end = line.len();
        let mut folded = false;
        let mut next = (first_end + 1).min(block.len());
        while matches!(block.get(next), Some(b' ' | b'\t')) {
            let end = line_end(next);
            value_end = next + strip_cr(block, next, end).len();
            folded = true;
            next = (end + 1).min(block.len());
        }
        self.rest = &block[next..];
        let colon = memchr::memchr(b':', line).unwrap_or(line.len());
        let mut start = (colon + 1).min(value_end);
        while start < value_end && is_ws(block[start]) {
            start += 1;
        }
        if !folded {
            while value_end > start && matches!(block[value_end - 1], b' ' | b'\t') {
                value_end -= 1;
            }
        }
        Some((&line[..colon], &block[start..value_end]))
    }
}

impl<'a> Request<'a> {
    /// Every header field, in order.
    pub fn headers(&self) -> Headers<'a> {
        Headers { rest: self.fields }
    }

    /// The values of the header `name` (ASCII case-insensitive), in order.
    pub fn header_values<'n>(&self, name: &'n [u8]) -> impl Iterator<Item = &'a [u8]> + 'n
    where
        'a: 'n,
    {
        self.headers().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// The first value of the header `name`, as Go's `Header.Get`.
    pub fn header(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.header_values(name).next()
    }

    /// The path Go routes by (`URL.EscapedPath`): the path as sent when
    /// it is a valid escaped form, else re-escaped (`/{x}` as `/%7Bx%7D`).
    pub fn escaped_path(&self) -> Cow<'a, [u8]> {
        escaped_path(self.path)
    }

    /// The value of cookie `name` from the `Cookie` headers, as Go's
    /// `Request.Cookies` reads them (quotes removed; a cookie whose value
    /// has a byte Go refuses is skipped). The last one wins, as in the
    /// server's loop over all cookies.
    pub fn cookie(&self, name: &[u8]) -> Option<&'a [u8]> {
        let mut found = None;
        for line in self.header_values(b"Cookie") {
            for part in line.split(|c| *c == b';').map(trim) {
                let (n, v) = match memchr::memchr(b'=', part) {
                    Some(i) => (trim(&part[..i]), &part[i + 1..]),
                    None => (part, &part[part.len()..]),
                };
                if n != name || n.is_empty() || !n.iter().all(|&c| is_tchar(c)) {
                    continue;
                }
                let v = match v {
                    [b'"', inner @ .., b'"'] => inner,
                    v => v,
                };
                if v.iter().all(|&c| (0x20..0x7f).contains(&c) && !matches!(c, b'"' | b';' | b'\\')) {
                    found = Some(v);
                }
            }
        }
        found
    }
}

// ---------------------------------------------------------------------------
// Header value helpers

/// Go's `strings.EqualFold` against an ASCII word: ASCII case is ignored
/// and, as Unicode simple folding has it, `ſ` (U+017F) matches `s` and
/// the Kelvin sign (U+212A) matches `k` (observed: Go accepts
/// `Upgrade: web\u{17f}ocket`).
fn go_eq_fold(s: &[u8], ascii: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(s) else { return false };
    let mut chars = s.chars();
    for &b in ascii {
        let ok = match chars.next() {
            Some('\u{17f}') => b.eq_ignore_ascii_case(&b's'),
            Some('\u{212a}') => b.eq_ignore_ascii_case(&b'k'),
            Some(c) if c.is_ascii() => (c as u8).eq_ignore_ascii_case(&b),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    chars.next().is_none()
}

/// Whether any value of header `name` has a comma-separated token equal
/// (Go's case folding) to `token` (nats-server's `wsHeaderContains`).
fn header_contains(req: &Request<'_>, name: &[u8], token: &[u8]) -> bool {
    req.header_values(name).any(|v| v.split(|c| *c == b',').any(|t| go_eq_fold(trim(t), token)))
}

/// Go's `net/http` `hasToken`: `token` (ASCII case-insensitive) bounded by
/// the start, the end, a space, a comma or a tab.
fn has_token(v: &[u8], token: &[u8]) -> bool {
    if token.is_empty() || token.len() > v.len() {
        return false;
    }
    let boundary = |c: u8| matches!(c, b' ' | b',' | b'\t');
    (0..=v.len() - token.len()).any(|sp| {
        let end = sp + token.len();
        (sp == 0 || boundary(v[sp - 1]))
            && (end == v.len() || boundary(v[end]))
            && v[sp..end].eq_ignore_ascii_case(token)
    })
}

/// A `permessage-deflate` offer (RFC 7692) and its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateOffer<'a> {
    /// What follows the `permessage-deflate` token in its extension, as
    /// sent (`; client_max_window_bits`).
    pub params: &'a [u8],
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    /// `server_max_window_bits[=value]`: `Some(b"")` without a value.
    pub server_max_window_bits: Option<&'a [u8]>,
    /// `client_max_window_bits[=value]`: `Some(b"")` without a value.
    pub client_max_window_bits: Option<&'a [u8]>,
}

impl DeflateOffer<'_> {
    /// Both no-context-takeover parameters present: what a Go leaf node
    /// requires of the server's answer.
    pub fn no_context_takeover(&self) -> bool {
        self.server_no_context_takeover && self.client_no_context_takeover
    }
}

/// The first `permessage-deflate` among `Sec-WebSocket-Extensions`
/// values. As in the nats-server, the token may be any `;`-separated item
/// of an extension; the parameters are the items after it.
pub fn parse_deflate_offer<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<DeflateOffer<'a>> {
    for value in values {
        for extension in value.split(|c| *c == b',') {
            let mut items = extension.split(|c| *c == b';');
            let mut consumed = 0;
            for item in items.by_ref() {
                consumed += item.len() + 1;
                if go_eq_fold(trim(item), b"permessage-deflate") {
                    let params = trim(extension.get(consumed..).unwrap_or(&[]));
                    let mut offer = DeflateOffer {
                        params,
                        server_no_context_takeover: false,
                        client_no_context_takeover: false,
                        server_max_window_bits: None,
                        client_max_window_bits: None,
                    };
                    for param in items.map(trim) {
                        let (name, value) = match memchr::memchr(b'=', param) {
                            Some(i) => (trim(&param[..i]), trim(&param[i + 1..])),
                            None => (param, &param[param.len()..]),
                        };
                        let value = match value {
                            [b'"', inner @ .., b'"'] => inner,
                            v => v,
                        };
                        if go_eq_fold(param, b"server_no_context_takeover") {
                            offer.server_no_context_takeover = true;
                        } else if go_eq_fold(param, b"client_no_context_takeover") {
                            offer.client_no_context_takeover = true;
                        } else if name.eq_ignore_ascii_case(b"server_max_window_bits") {
                            offer.server_max_window_bits = Some(value);
                        } else if name.eq_ignore_ascii_case(b"client_max_window_bits") {
                            offer.client_max_window_bits = Some(value);
                        }
                    }
                    return Some(offer);
                }
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------
// The upgrade checks

/// The listener's settings the checks depend on.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpgradeOptions<'o> {
    /// The listener runs TLS (origin default port and scheme).
    pub tls: bool,
    /// `compression: true`: accept a `permessage-deflate` offer.
    pub compression: bool,
    /// MQTT is enabled; without it a `/mqtt` path is refused with 404.
    pub mqtt: bool,
    /// `same_origin` / `allowed_origins`; `None` checks nothing.
    pub origins: Option<&'o OriginPolicy>,
}

/// What the connection becomes, from the path's last segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Client,
    /// The path ends with `/leafnode`.
    Leaf,
    /// The path ends with `/mqtt`.
    Mqtt,
}

/// An accepted upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade<'a> {
    pub request: Request<'a>,
    pub kind: Kind,
    /// `Sec-WebSocket-Key`, valid base64 of 16 bytes.
    pub key: &'a [u8],
    /// The request's host (see [`Request::host`]), never empty.
    pub host: &'a [u8],
    /// `Origin`, or else `Sec-WebSocket-Origin`, when present.
    pub origin: Option<&'a [u8]>,
    /// The client's compression offer, if any.
    pub deflate: Option<DeflateOffer<'a>>,
    /// Compression is on: offered by the client and enabled here.
    pub compress: bool,
    /// `Nats-No-Masking: true`: frames from the peer come unmasked.
    pub no_masking: bool,
    /// A browser (`User-Agent` starting with `Mozilla/`); only looked at
    /// for clients and MQTT. The server then writes frames of at most
    /// 4096 bytes.
    pub browser: bool,
    /// A Safari browser with compression on: compressed messages are not
    /// split into fragments.
    pub no_compressed_fragments: bool,
    /// The first `X-Forwarded-For` value, as sent; the server shows it in
    /// its log when it parses as an IP address.
    pub forwarded_for: Option<&'a [u8]>,
}

/// Why an upgrade is refused after a well-formed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// Target `*`: 400 from Go's request multiplexer, connection closed.
    Asterisk,
    /// CONNECT without a path: the multiplexer's 404 "404 page not found".
    NoRoute,
    /// A path the multiplexer cleans (`//x`, `/a/..`, empty): 307 to the
    /// cleaned path, query kept.
    Redirect { location: Vec<u8> },
    /// A `/mqtt` path while MQTT is disabled: 404.
    MqttDisabled,
    /// Not GET: 405.
    MethodNotAllowed,
    /// Empty host (HTTP/1.0 without `Host`, or `Host:` empty): 400.
    MissingHost,
    /// No `Upgrade` token `websocket`: 400.
    BadUpgrade,
    /// No `Connection` token `Upgrade`: 400.
    BadConnection,
    /// No `Sec-WebSocket-Key`: 400.
    MissingKey,
    /// A key that is not base64 of 16 bytes: 400.
    InvalidKey,
    /// No `Sec-WebSocket-Version` token `13`: 400.
    BadVersion,
    /// The origin checks failed: 403.
    Origin(OriginError),
}

impl fmt::Display for Reject {
    /// The reason the nats-server logs after "websocket handshake error: ".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::Asterisk => f.write_str("request target '*'"),
            Reject::NoRoute => f.write_str("no handler for the request"),
            Reject::Redirect { .. } => f.write_str("request path not clean"),
            Reject::MqttDisabled => f.write_str("mqtt websocket endpoint not enabled"),
            Reject::MethodNotAllowed => f.write_str("request method must be GET"),
            Reject::MissingHost => f.write_str("'Host' missing in request"),
            Reject::BadUpgrade => f.write_str("invalid value for header 'Upgrade'"),
            Reject::BadConnection => f.write_str("invalid value for header 'Connection'"),
            Reject::MissingKey => f.write_str("key missing"),
            Reject::InvalidKey => f.write_str("invalid websocket key"),
            Reject::BadVersion => f.write_str("invalid version"),
            Reject::Origin(e) => write!(f, "origin not allowed: {e}"),
        }
    }
}

impl std::error::Error for Reject {}

/// What to do with the connection after a [`Reject`] response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Close it once the response is written.
    Close,
    /// Keep it: drop the request's `skip` body bytes that follow the
    /// head, then read the next request.
    KeepAlive { skip: u64 },
}

/// Checks an upgrade request as Go's multiplexer and the nats-server's
/// `wsUpgrade` do, in their order.
///
/// Go closes an accepted connection without answering when bytes
/// already follow the head in the buffer ("client sent data before
/// handshake is complete"); that check is the caller's.
pub fn validate_upgrade<'a>(req: &Request<'a>, opts: &UpgradeOptions<'_>) -> Result<Upgrade<'a>, Reject> {
    if req.target == b"*" {
        return Err(Reject::Asterisk);
    }
    let path = req.escaped_path();
    if req.method == b"CONNECT" {
        if !path.starts_with(b"/") {
            return Err(Reject::NoRoute);
        }
    } else {
        let cleaned = clean_path(&path);
        if cleaned != *path {
            let mut location = cleaned;
            if !req.query.is_empty() {
                location.push(b'?');
                location.extend_from_slice(req.query);
            }
            return Err(Reject::Redirect { location });
        }
    }
    let kind = if path.ends_with(b"/leafnode") {
        Kind::Leaf
    } else if path.ends_with(b"/mqtt") {
        Kind::Mqtt
    } else {
        Kind::Client
    };
    if kind == Kind::Mqtt && !opts.mqtt {
        return Err(Reject::MqttDisabled);
    }
    if req.method != b"GET" {
        return Err(Reject::MethodNotAllowed);
    }
    if req.host.is_empty() {
        return Err(Reject::MissingHost);
    }
    if !header_contains(req, b"Upgrade", b"websocket") {
        return Err(Reject::BadUpgrade);
    }
    if !header_contains(req, b"Connection", b"Upgrade") {
        return Err(Reject::BadConnection);
    }
    let key = req.header(b"Sec-WebSocket-Key").unwrap_or(b"");
    if key.is_empty() {
        return Err(Reject::MissingKey);
    }
    if !is_valid_key(key) {
        return Err(Reject::InvalidKey);
    }
    if !header_contains(req, b"Sec-WebSocket-Version", b"13") {
        return Err(Reject::BadVersion);
    }
    let origin = req.header(b"Origin").filter(|o| !o.is_empty()).or_else(|| req.header(b"Sec-WebSocket-Origin"));
    if let Some(policy) = opts.origins {
        policy.check(origin, req.host, opts.tls).map_err(Reject::Origin)?;
    }
    let deflate = parse_deflate_offer(req.header_values(b"Sec-WebSocket-Extensions"));
    let compress = opts.compression && deflate.is_some();
    let user_agent = req.header(b"User-Agent").unwrap_or(b"");
    let browser = kind != Kind::Leaf && user_agent.starts_with(b"Mozilla/");
    let contains = |needle: &[u8]| memchr::memmem::find(user_agent, needle).is_some();
    Ok(Upgrade {
        request: *req,
        kind,
        key,
        host: req.host,
        origin: origin.filter(|o| !o.is_empty()),
        deflate,
        compress,
        no_masking: req.header(b"Nats-No-Masking") == Some(b"true"),
        browser,
        no_compressed_fragments: browser && compress && contains(b"Version/") && contains(b"Safari/"),
        forwarded_for: req.header(b"X-Forwarded-For"),
    })
}

// ---------------------------------------------------------------------------
// Responses

/// Appends the 101 response, header lines in the order Go writes them:
/// the accept key, the compression answer (`compress`), `Nats-No-Masking`
/// (`no_masking`), the MQTT subprotocol (`mqtt`), then `extra_headers`
/// (the `headers {}` block) as given.
pub fn write_upgrade_response(
    out: &mut Vec<u8>,
    key: &[u8],
    compress: bool,
    no_masking: bool,
    mqtt: bool,
    extra_headers: &[(&[u8], &[u8])],
) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    out.extend_from_slice(&accept_key(key));
    out.extend_from_slice(b"\r\n");
    if compress {
        out.extend_from_slice(b"Sec-WebSocket-Extensions: ");
        out.extend_from_slice(DEFLATE_EXTENSION);
        out.extend_from_slice(b"\r\n");
    }
    if no_masking {
        out.extend_from_slice(b"Nats-No-Masking: true\r\n");
    }
    if mqtt {
        out.extend_from_slice(b"Sec-Websocket-Protocol: mqtt\r\n");
    }
    for (name, value) in extra_headers {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

impl Upgrade<'_> {
    /// Appends the 101 response for this request (see
    /// [`write_upgrade_response`]).
    pub fn write_response(&self, out: &mut Vec<u8>, extra_headers: &[(&[u8], &[u8])]) {
        write_upgrade_response(out, self.key, self.compress, self.no_masking, self.kind == Kind::Mqtt, extra_headers);
    }
}

fn status_text(status: u16) -> &'static [u8] {
    match status {
        307 => b"Temporary Redirect",
        400 => b"Bad Request",
        403 => b"Forbidden",
        404 => b"Not Found",
        405 => b"Method Not Allowed",
        _ => b"Error",
    }
}

impl Reject {
    /// The HTTP status of the response.
    pub fn status(&self) -> u16 {
        match self {
            Reject::Redirect { .. } => 307,
            Reject::NoRoute | Reject::MqttDisabled => 404,
            Reject::MethodNotAllowed => 405,
            Reject::Origin(_) => 403,
            _ => 400,
        }
    }

    /// Appends Go's response to `req`, dated `unix_secs`, and says what
    /// becomes of the connection. Go keeps HTTP/1.1 connections (and
    /// HTTP/1.0 ones asking for keep-alive) open after most rejections.
    /// After a request with a chunked body the connection is closed (Go
    /// reads and drops the chunks and keeps it); the response is Go's.
    pub fn write_response(&self, out: &mut Vec<u8>, req: &Request<'_>, unix_secs: u64) -> Next {
        const TEXT: &[u8] = b"text/plain; charset=utf-8";
        let status = self.status();
        match self {
            Reject::Asterisk => {
                let headers: &[(&[u8], &[u8])] = if req.version >= (1, 1) { &[(b"Connection", b"close")] } else { &[] };
                write_handler_response(out, req, status, headers, b"", unix_secs)
            }
            Reject::NoRoute => {
                let headers: &[(&[u8], &[u8])] = &[(b"Content-Type", TEXT), (b"X-Content-Type-Options", b"nosniff")];
                write_handler_response(out, req, status, headers, b"404 page not found\n", unix_secs)
            }
            Reject::Redirect { location } => {
                let mut escaped = Vec::with_capacity(location.len());
                hex_escape_non_ascii(&mut escaped, location);
                let mut headers: Vec<(&[u8], &[u8])> = Vec::with_capacity(2);
                if req.method == b"GET" || req.method == b"HEAD" {
                    headers.push((b"Content-Type", b"text/html; charset=utf-8"));
                }
                headers.push((b"Location", &escaped));
                let mut body = Vec::new();
                if req.method == b"GET" {
                    body.extend_from_slice(b"<a href=\"");
                    html_escape(&mut body, location);
                    body.extend_from_slice(b"\">Temporary Redirect</a>.\n\n");
                }
                write_handler_response(out, req, status, &headers, &body, unix_secs)
            }
            _ => {
                let headers: &[(&[u8], &[u8])] = &[
                    (b"Content-Type", TEXT),
                    (b"Sec-Websocket-Version", b"13"),
                    (b"X-Content-Type-Options", b"nosniff"),
                ];
                let mut body = status_text(status).to_vec();
                body.push(b'\n');
                write_handler_response(out, req, status, headers, &body, unix_secs)
            }
        }
    }
}

/// A response as Go's HTTP server finishes a handler's: the handler's
/// headers, `Date`, `Content-Length` (not for a HEAD request without a
/// body), and `Connection` when the connection closes (HTTP/1.1) or an
/// HTTP/1.0 client asked for keep-alive.
fn write_handler_response(
    out: &mut Vec<u8>,
    req: &Request<'_>,
    status: u16,
    headers: &[(&[u8], &[u8])],
    body: &[u8],
    unix_secs: u64,
) -> Next {
    let http11 = req.version >= (1, 1);
    let head_request = req.method == b"HEAD";
    let connection = req.header(b"Connection").unwrap_or(b"");
    let keep_alive_10 = req.version == (1, 0) && has_token(connection, b"keep-alive");
    // Go's `Request.wantsClose`: a `close` token in the first value, or a
    // comma-separated `close` in any value; CONNECT requests close too.
    let wants_close = has_token(connection, b"close")
        || req
            .header_values(b"Connection")
            .any(|v| v.split(|c| *c == b',').any(|t| trim(t).eq_ignore_ascii_case(b"close")))
        || req.method == b"CONNECT";
    let handler_connection = headers.iter().find(|(name, _)| *name == b"Connection");
    let handler_close = handler_connection.is_some_and(|(_, v)| has_token(v, b"close"));
    let content_length = !head_request || !body.is_empty();

    let mut close = false;
    let mut connection_header: Option<&[u8]> = None;
    if keep_alive_10 && (head_request || content_length) {
        if handler_connection.is_none() {
            connection_header = Some(b"keep-alive");
        }
    } else if !http11 || wants_close {
        close = true;
    }
    close |= handler_close;
    let mut skip = 0;
    if !close {
        match req.body {
            Body::None => {}
            Body::Length(n) if n < MAX_DISCARDED_BODY => skip = n,
            Body::Length(_) => {
                close = true;
                connection_header = Some(b"close");
            }
            Body::Chunked => {}
        }
    }
    if close && !handler_close && http11 {
        connection_header = Some(b"close");
    }
    // Go reads and drops a chunked body before answering and then keeps
    // the connection; this writes Go's answer but closes the connection
    // instead of decoding the chunks.
    if req.body == Body::Chunked {
        close = true;
    }

    out.extend_from_slice(if http11 { b"HTTP/1.1 " } else { b"HTTP/1.0 " });
    out.extend_from_slice(status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status_text(status));
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Date: ");
    write_http_date(out, unix_secs);
    out.extend_from_slice(b"\r\n");
    if content_length {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(c) = connection_header {
        out.extend_from_slice(b"Connection: ");
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head_request {
        out.extend_from_slice(body);
    }
    if close {
        Next::Close
    } else {
        Next::KeepAlive { skip }
    }
}

/// Appends an HTTP date (`Mon, 02 Jan 2006 15:04:05 GMT`) for a Unix time.
pub fn write_http_date(out: &mut Vec<u8>, unix_secs: u64) {
    const DAYS: &[u8; 21] = b"ThuFriSatSunMonTueWed";
    const MONTHS: &[u8; 36] = b"JanFebMarAprMayJunJulAugSepOctNovDec";
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let wd = (days % 7) as usize * 3;
    let mo = (month - 1) as usize * 3;
    let two = |n: u64| [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8];
    out.extend_from_slice(&DAYS[wd..wd + 3]);
    out.extend_from_slice(b", ");
    out.extend_from_slice(&two(day));
    out.push(b' ');
    out.extend_from_slice(&MONTHS[mo..mo + 3]);
    out.push(b' ');
    out.extend_from_slice(&two(year / 100));
    out.extend_from_slice(&two(year));
    out.push(b' ');
    out.extend_from_slice(&two(secs / 3600));
    out.push(b':');
    out.extend_from_slice(&two(secs / 60 % 60));
    out.push(b':');
    out.extend_from_slice(&two(secs % 60));
    out.extend_from_slice(b" GMT");
}

#[cfg(test)]
mod tests;
