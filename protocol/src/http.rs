//! The request head of the HTTP monitoring port: enough of HTTP/1.x to
//! route a GET. The parser looks for the end of the head (a blank line),
//! splits the request line into method, target and version, and splits the
//! target into path and query. Header fields are skipped.

use crate::framing::Status;

/// A parsed request head. Slices borrow the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: &'a [u8],
    /// The request target as sent (`/connz?subs=1`).
    pub target: &'a [u8],
    pub path: &'a [u8],
    /// The query string without `?` (empty if none).
    pub query: &'a [u8],
    /// Bytes of the head, blank line included.
    pub len: usize,
}

/// Why a request head is unusable (the server answers 400 or 431).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// The request line is not `METHOD SP TARGET SP HTTP/x.y`.
    BadRequestLine,
    /// The head is longer than the limit without ending.
    TooLarge,
}

impl core::fmt::Display for HttpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            HttpError::BadRequestLine => "malformed HTTP request line",
            HttpError::TooLarge => "HTTP request head too large",
        })
    }
}

impl std::error::Error for HttpError {}

/// Parses the request head at the start of `buf`, refusing heads longer
/// than `max_head` bytes.
pub fn parse_request(buf: &[u8], max_head: usize) -> Result<Status<Request<'_>>, HttpError> {
    // The head ends at the first blank line, whichever line ending it uses,
    // so the result does not depend on how much of the request has arrived.
    let crlf = memchr::memmem::find(buf, b"\r\n\r\n").map(|i| i + 4);
    let lf = memchr::memmem::find(buf, b"\n\n").map(|i| i + 2);
    let end = match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let Some(len) = end else {
        if buf.len() > max_head {
            return Err(HttpError::TooLarge);
        }
        return Ok(Status::Partial);
    };
    if len > max_head {
        return Err(HttpError::TooLarge);
    }
    let line_end = memchr::memchr(b'\n', buf).unwrap_or(len);
    let mut line = &buf[..line_end];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    let mut parts = line.split(|c| *c == b' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::BadRequestLine);
    };
    if method.is_empty() || !method.iter().all(|c| c.is_ascii_uppercase()) || !target.starts_with(b"/") {
        return Err(HttpError::BadRequestLine);
    }
    if !version.starts_with(b"HTTP/1.") {
        return Err(HttpError::BadRequestLine);
    }
    let (path, query) = match memchr::memchr(b'?', target) {
        Some(i) => (&target[..i], &target[i + 1..]),
        None => (target, &target[target.len()..]),
    };
    Ok(Status::Complete(Request { method, target, path, query, len }))
}

/// Decodes one `application/x-www-form-urlencoded` component (`%XX`, `+`).
pub fn url_decode(s: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(a), Some(b)) => {
                    out.push(a * 16 + b);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// The `key=value` pairs of a query string, decoded.
pub fn query_pairs(query: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    query
        .split(|c| *c == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match memchr::memchr(b'=', p) {
            Some(i) => (url_decode(&p[..i]), url_decode(&p[i + 1..])),
            None => (url_decode(p), Vec::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let buf = b"GET /connz?subs=1&sort=cid HTTP/1.1\r\nHost: x\r\n\r\nrest";
        let Ok(Status::Complete(r)) = parse_request(buf, 1024) else { panic!("complete") };
        assert_eq!((r.method, r.path, r.query), (&b"GET"[..], &b"/connz"[..], &b"subs=1&sort=cid"[..]));
        assert_eq!(r.len, buf.len() - 4);
        let Ok(Status::Complete(r)) = parse_request(b"GET / HTTP/1.0\n\n", 1024) else { panic!("complete") };
        assert_eq!((r.path, r.query), (&b"/"[..], &b""[..]));
        assert_eq!(parse_request(b"GET /varz HTTP/1.1\r\nHost:", 1024), Ok(Status::Partial));
        assert_eq!(parse_request(b"GET /varz HTTP/1.1\r\nHost:", 10), Err(HttpError::TooLarge));
        for bad in [
            &b"GET\r\n\r\n"[..],
            b"get / HTTP/1.1\r\n\r\n",
            b"GET x HTTP/1.1\r\n\r\n",
            b"GET / FTP\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(parse_request(bad, 1024), Err(HttpError::BadRequestLine), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// Found by the http fuzz target: a bare "\n\n" before a later
    /// "\r\n\r\n" ended the head there when the request arrived in
    /// pieces, but not when it arrived whole.
    #[test]
    fn head_ends_at_the_first_blank_line() {
        let input = b"GET /con\n\nnz?sub\0\0\0\0\0\0\0\0\0\0\0\0\0\0s=1&sort=cid HT\0P/1.1\r\nHos\0\0\0\0\0\0\0\0\0\0\0t\r\n\r\n\n\r\nrest";
        assert_eq!(parse_request(input, 64), Err(HttpError::BadRequestLine));
        assert_eq!(parse_request(&input[..1], 64), Ok(Status::Partial));
        assert_eq!(parse_request(&input[..60], 64), Err(HttpError::BadRequestLine));
        let Ok(Status::Complete(r)) = parse_request(b"GET /a HTTP/1.1\n\nGET /b HTTP/1.1\r\n\r\n", 64) else {
            panic!("complete")
        };
        assert_eq!((r.path, r.len), (&b"/a"[..], 17));
    }

    #[test]
    fn queries() {
        assert_eq!(
            query_pairs(b"test=foo.%2A&subs&x=a+b&bad=%zz%4"),
            vec![
                (b"test".to_vec(), b"foo.*".to_vec()),
                (b"subs".to_vec(), b"".to_vec()),
                (b"x".to_vec(), b"a b".to_vec()),
                (b"bad".to_vec(), b"%zz%4".to_vec()),
            ]
        );
    }
}
