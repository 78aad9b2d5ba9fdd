use super::*;

/// What a server does with `input` on one connection: parses requests,
/// answers each (with the Date of the Unix epoch) and stops where Go
/// would close, upgrade or wait. Returns the bytes written and
/// `Some(closed)`, or `None` after a 101.
fn serve(input: &[u8], opts: &UpgradeOptions<'_>) -> (Vec<u8>, Option<bool>) {
    let mut out = Vec::new();
    let mut rest = input;
    let mut parser = RequestParser::new(MAX_HEAD);
    loop {
        match parser.parse(rest) {
            Ok(Status::Partial) => return (out, Some(false)),
            Err(e) => {
                e.write_response(&mut out);
                return (out, Some(true));
            }
            Ok(Status::Complete(req)) => match validate_upgrade(&req, opts) {
                Ok(upgrade) => {
                    if rest.len() > req.len {
                        // Data before the handshake completed: closed
                        // without an answer.
                        return (out, Some(true));
                    }
                    upgrade.write_response(&mut out, &[]);
                    return (out, None);
                }
                Err(reject) => match reject.write_response(&mut out, &req, 0) {
                    Next::Close => return (out, Some(true)),
                    Next::KeepAlive { skip } => {
                        let used = req.len.saturating_add(usize::try_from(skip).unwrap_or(usize::MAX));
                        if used >= rest.len() {
                            return (out, Some(false));
                        }
                        rest = &rest[used..];
                    }
                },
            },
        }
    }
}

/// The first request's outcome, with the input appended to a buffer in
/// reads of `sizes` (then the rest) and the parser called after each.
fn first(input: &[u8], sizes: &[usize], max: usize) -> Result<Option<String>, RequestError> {
    let mut parser = RequestParser::new(max);
    let mut buf = Vec::new();
    let mut rest = input;
    let mut sizes = sizes.iter();
    loop {
        let n = sizes.next().copied().unwrap_or(rest.len()).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        match parser.parse(&buf)? {
            Status::Complete(r) => {
                let headers: Vec<_> = r.headers().collect();
                return Ok(Some(format!("{r:?} {headers:?}")));
            }
            Status::Partial if rest.is_empty() => return Ok(None),
            Status::Partial => {}
        }
    }
}

/// The same outcome whole, cut in two anywhere, and byte by byte.
fn same_however_cut(input: &[u8], max: usize) -> Result<Option<String>, RequestError> {
    let whole = first(input, &[], max);
    for cut in 0..=input.len() {
        assert_eq!(first(input, &[cut], max), whole, "cut at {cut}: {:?}", String::from_utf8_lossy(input));
    }
    assert_eq!(first(input, &vec![1; input.len()], max), whole, "byte by byte");
    whole
}

const OPTS: UpgradeOptions<'static> = UpgradeOptions { tls: false, compression: true, mqtt: false, origins: None };

include!("observed.rs");

#[test]
fn answers_as_go_does() {
    for (name, request, response, closed) in OBSERVED {
        let (out, got_closed) = serve(request, &OPTS);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(response),
            "{name}: {:?}",
            String::from_utf8_lossy(request)
        );
        assert_eq!(got_closed, *closed, "{name}: connection state after the answer");
    }
}

#[test]
fn any_cut_gives_the_same_request() {
    for (name, request, _, _) in OBSERVED {
        let whole = same_however_cut(request, MAX_HEAD);
        assert!(whole != Ok(None), "{name}: no head");
    }
    // Small limits: the limit error comes at the same place too.
    let req = &OBSERVED[0].1;
    for max in [0, 1, 15, 16, 17, 40, req.len() - 1, req.len()] {
        let got = same_however_cut(req, max);
        if max < req.len() {
            assert_eq!(got, Err(RequestError::TooLarge), "limit {max}");
        } else {
            assert!(matches!(got, Ok(Some(_))), "limit {max}");
        }
    }
}

#[test]
fn head_size_limit() {
    // Observed: a head of exactly MAX_HEAD bytes is served, one more is 431.
    let base = b"GET / HTTP/1.1\r\nHost: x\r\nX: \r\n\r\n";
    let head = |total: usize| {
        let mut h = b"GET / HTTP/1.1\r\nHost: x\r\nX: ".to_vec();
        h.resize(total - 4, b'a');
        h.extend_from_slice(b"\r\n\r\n");
        assert!(total >= base.len());
        h
    };
    let mut p = RequestParser::new(MAX_HEAD);
    assert!(matches!(p.parse(&head(MAX_HEAD)), Ok(Status::Complete(r)) if r.len == MAX_HEAD));
    assert_eq!(p.parse(&head(MAX_HEAD + 1)), Err(RequestError::TooLarge));
    // Without the end in sight: an error once the limit is passed.
    let partial = &head(MAX_HEAD + 100)[..MAX_HEAD];
    assert_eq!(p.parse(&partial[..MAX_HEAD - 1]), Ok(Status::Partial));
    assert_eq!(p.parse(partial), Err(RequestError::TooLarge));
    let mut out = Vec::new();
    RequestError::TooLarge.write_response(&mut out);
    assert_eq!(
        out,
        b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large"
    );
}

#[test]
fn parser_resumes_and_restarts() {
    let req = b"GET /a?b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.0\n\n";
    let mut p = RequestParser::new(MAX_HEAD);
    assert_eq!(p.parse(&req[..20]), Ok(Status::Partial));
    assert_eq!(p.parse(&req[..28]), Ok(Status::Partial));
    let Ok(Status::Complete(r)) = p.parse(req) else { panic!("complete") };
    assert_eq!(
        (r.method, r.path, r.query, r.version, r.host, r.len),
        (&b"GET"[..], &b"/a"[..], &b"b"[..], (1, 1), &b"h"[..], 30)
    );
    // The parser starts over for the next request.
    let Ok(Status::Complete(r)) = p.parse(&req[30..]) else { panic!("complete") };
    assert_eq!((r.path, r.version, r.host, r.len), (&b"/c"[..], (1, 0), &b""[..], 17));
    // The next request is read once 4 bytes of it are there (observed:
    // Go does not answer a lone line end after a request).
    assert_eq!(p.parse(b"\r\n"), Ok(Status::Partial));
    assert_eq!(p.parse(b"\r\n\r"), Ok(Status::Partial));
    assert_eq!(p.parse(b"\r\n\r\n"), Err(RequestError::Malformed));
    // An absolute target with an empty host takes the Host header's.
    let r = complete(b"GET http:/// HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!((r.host, r.path), (&b"h"[..], &b"/"[..]));
    // Fed other (shorter) bytes than before, it starts over too.
    assert_eq!(p.parse(&req[..20]), Ok(Status::Partial));
    assert!(matches!(p.parse(&req[30..]), Ok(Status::Complete(_))));
    // Every prefix of a head is partial.
    for n in 0..30 {
        assert_eq!(RequestParser::new(MAX_HEAD).parse(&req[..n]), Ok(Status::Partial), "{n} bytes");
    }
}

fn complete(input: &[u8]) -> Request<'_> {
    match RequestParser::new(MAX_HEAD).parse(input) {
        Ok(Status::Complete(r)) => r,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
    }
}

#[test]
fn header_fields() {
    let r = complete(
        b"GET / HTTP/1.1\r\nhost:  h \r\nX-A:\r\nConnection: keep-alive,\r\n\tUpgrade\r\nX-B: 1\r\nx-b:2\r\nX-C:\r\n c\r\nX-D: d\r\n \r\n\r\n",
    );
    let all: Vec<(&[u8], &[u8])> = r.headers().collect();
    assert_eq!(
        all,
        vec![
            (&b"host"[..], &b"h"[..]),
            (b"X-A", b""),
            (b"Connection", b"keep-alive,\r\n\tUpgrade"),
            (b"X-B", b"1"),
            (b"x-b", b"2"),
            (b"X-C", b"c"),
            (b"X-D", b"d\r\n "),
        ]
    );
    assert_eq!(r.header(b"HOST"), Some(&b"h"[..]));
    assert_eq!(r.header_values(b"X-b").collect::<Vec<_>>(), vec![&b"1"[..], b"2"]);
    assert_eq!(r.header(b"X-E"), None);
    assert!(header_contains(&r, b"connection", b"upgrade"));
    // Go folds `d` + ` ` + `` into `d `, a token `d` once trimmed.
    assert!(header_contains(&r, b"X-D", b"d"));
}

#[test]
fn bodies() {
    let body = |extra: &str| {
        let head = format!("GET / HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
        let mut p = RequestParser::new(MAX_HEAD);
        p.parse(head.as_bytes()).map(|s| match s {
            Status::Complete(r) => r.body,
            Status::Partial => panic!("partial"),
        })
    };
    assert_eq!(body(""), Ok(Body::None));
    assert_eq!(body("Content-Length: 0\r\n"), Ok(Body::None));
    assert_eq!(body("Content-Length:  12 \r\nContent-Length: 12\r\n"), Ok(Body::Length(12)));
    assert_eq!(body("Content-Length: 9223372036854775807\r\n"), Ok(Body::Length((1 << 63) - 1)));
    assert_eq!(body("Content-Length: 9223372036854775808\r\n"), Err(RequestError::Malformed));
    assert_eq!(body("Content-Length: 1\r\nContent-Length: 2\r\n"), Err(RequestError::Malformed));
    assert_eq!(body("Content-Length: -1\r\n"), Err(RequestError::Malformed));
    assert_eq!(body("Transfer-Encoding: CHUNKED\r\nContent-Length: x\r\n"), Ok(Body::Chunked));
    assert_eq!(body("Transfer-Encoding: identity\r\n"), Err(RequestError::UnsupportedTransferEncoding));
}

fn upgrade_request(extra: &str) -> Vec<u8> {
    format!(
        "GET /ws HTTP/1.1\r\nHost: h:1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .into_bytes()
}

#[test]
fn accepted_upgrades() {
    let input = upgrade_request(
        "User-Agent: Mozilla/5.0 (Macintosh) Version/17.1 Safari/605.1.15\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-other\r\n\
         Nats-No-Masking: true\r\nX-Forwarded-For: 10.0.0.1\r\nOrigin: http://h:1\r\n\
         Cookie: jwt=\"abc\"; user=u1\r\nCookie: user=u2; bad=a\\b; pass = p\r\n",
    );
    let r = complete(&input);
    let up = validate_upgrade(&r, &OPTS).unwrap();
    assert_eq!(up.kind, Kind::Client);
    assert_eq!(up.key, b"dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(up.host, b"h:1");
    assert_eq!(up.origin, Some(&b"http://h:1"[..]));
    assert!(up.compress && up.no_masking && up.browser && up.no_compressed_fragments);
    assert_eq!(up.forwarded_for, Some(&b"10.0.0.1"[..]));
    let offer = up.deflate.unwrap();
    assert_eq!(offer.params, b"client_max_window_bits");
    assert_eq!(offer.client_max_window_bits, Some(&b""[..]));
    assert!(!offer.no_context_takeover());
    assert_eq!(r.cookie(b"jwt"), Some(&b"abc"[..]));
    assert_eq!(r.cookie(b"user"), Some(&b"u2"[..]));
    assert_eq!(r.cookie(b"pass"), Some(&b" p"[..]));
    assert_eq!(r.cookie(b"bad"), None);
    assert_eq!(r.cookie(b"none"), None);
    let mut out = Vec::new();
    up.write_response(&mut out, &[(b"Strict-Transport-Security", b"max-age=1")]);
    assert_eq!(
        out,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
          Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n\
          Nats-No-Masking: true\r\nStrict-Transport-Security: max-age=1\r\n\r\n"
    );

    // Compression off here: the offer is seen but not taken.
    let off = UpgradeOptions { compression: false, ..OPTS };
    let up = validate_upgrade(&r, &off).unwrap();
    assert!(!up.compress && !up.no_compressed_fragments && up.deflate.is_some());

    // Kinds by the path's end; MQTT answers with its subprotocol.
    for (path, kind) in
        [("/leafnode", Kind::Leaf), ("/a/b/leafnode", Kind::Leaf), ("/mqtt", Kind::Mqtt), ("/leafnodes", Kind::Client)]
    {
        let input = upgrade_request("User-Agent: Mozilla/5.0\r\n");
        let input = String::from_utf8(input).unwrap().replacen("/ws", path, 1);
        let r = complete(input.as_bytes());
        let mqtt = UpgradeOptions { mqtt: true, ..OPTS };
        let up = validate_upgrade(&r, &mqtt).unwrap();
        assert_eq!(up.kind, kind, "{path}");
        assert_eq!(up.browser, kind != Kind::Leaf, "{path}");
        let mut out = Vec::new();
        up.write_response(&mut out, &[]);
        assert_eq!(memchr::memmem::find(&out, b"Sec-Websocket-Protocol: mqtt\r\n").is_some(), kind == Kind::Mqtt);
    }
}

#[test]
fn deflate_offers() {
    fn offer<'a>(v: &[&'a str]) -> Option<DeflateOffer<'a>> {
        parse_deflate_offer(v.iter().map(|s| s.as_bytes()))
    }
    assert_eq!(offer(&["x-webkit-deflate-frame", "foo"]), None);
    let o = offer(&["foo, PERMESSAGE-DEFLATE ; server_no_context_takeover;client_no_context_takeover; server_max_window_bits=\"10\""]).unwrap();
    assert!(o.no_context_takeover());
    assert_eq!(o.server_max_window_bits, Some(&b"10"[..]));
    // As in the nats-server: the token may be a parameter of another extension.
    let o = offer(&["foo; permessage-deflate; client_no_context_takeover", "permessage-deflate"]).unwrap();
    assert!(o.client_no_context_takeover && !o.server_no_context_takeover);
    assert_eq!(o.params, b"client_no_context_takeover");
    let o = offer(&["perme\u{17f}\u{17f}age-deflate"]).unwrap();
    assert_eq!(o.params, b"");
    // A Go leaf's request, and the server's answer, carry both parameters.
    assert!(parse_deflate_offer([DEFLATE_EXTENSION]).unwrap().no_context_takeover());
}

#[test]
fn rejections() {
    let policy = OriginPolicy::new(true, &["http://h:1"]).unwrap();
    let strict = UpgradeOptions { origins: Some(&policy), ..OPTS };
    for (extra, want) in [
        ("Origin: http://h:1\r\n", None),
        ("Origin: https://h:1\r\n", Some(Reject::Origin(OriginError::NotSameOrigin))),
        ("Sec-WebSocket-Origin: null\r\n", Some(Reject::Origin(OriginError::Invalid))),
    ] {
        let input = upgrade_request(extra);
        let r = complete(&input);
        assert_eq!(validate_upgrade(&r, &strict).err(), want, "{extra:?}");
    }
    let input = upgrade_request("Origin: https://h:1\r\n");
    let r = complete(&input);
    let reject = validate_upgrade(&r, &strict).unwrap_err();
    assert_eq!(reject.to_string(), "origin not allowed: not same origin");
    let mut out = Vec::new();
    assert_eq!(reject.write_response(&mut out, &r, 1_700_000_000), Next::KeepAlive { skip: 0 });
    assert_eq!(
        out,
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nSec-Websocket-Version: 13\r\n\
          X-Content-Type-Options: nosniff\r\nDate: Tue, 14 Nov 2023 22:13:20 GMT\r\nContent-Length: 10\r\n\r\nForbidden\n"
    );
    // The texts Go logs.
    for (reject, text) in [
        (Reject::MqttDisabled, "mqtt websocket endpoint not enabled"),
        (Reject::MethodNotAllowed, "request method must be GET"),
        (Reject::MissingHost, "'Host' missing in request"),
        (Reject::BadUpgrade, "invalid value for header 'Upgrade'"),
        (Reject::BadConnection, "invalid value for header 'Connection'"),
        (Reject::MissingKey, "key missing"),
        (Reject::InvalidKey, "invalid websocket key"),
        (Reject::BadVersion, "invalid version"),
    ] {
        assert_eq!(reject.to_string(), text);
    }
    // A large declared body closes the connection after the answer.
    let input = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 262144\r\n\r\n";
    let r = complete(input);
    let mut out = Vec::new();
    assert_eq!(validate_upgrade(&r, &OPTS).unwrap_err().write_response(&mut out, &r, 0), Next::Close);
    assert!(out.ends_with(b"Content-Length: 19\r\nConnection: close\r\n\r\nMethod Not Allowed\n"));
    let input = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 262143\r\n\r\n";
    let r = complete(input);
    assert_eq!(
        validate_upgrade(&r, &OPTS).unwrap_err().write_response(&mut Vec::new(), &r, 0),
        Next::KeepAlive { skip: 262_143 }
    );
}

#[test]
fn unicode_folding_as_go() {
    assert!(go_eq_fold("WEB\u{17f}OCKET".as_bytes(), b"websocket"));
    assert!(go_eq_fold("websoc\u{212a}et".as_bytes(), b"websocket"));
    assert!(!go_eq_fold("websocke".as_bytes(), b"websocket"));
    assert!(!go_eq_fold("websockets".as_bytes(), b"websocket"));
    assert!(!go_eq_fold("web\u{130}ocket".as_bytes(), b"websocket"));
    assert!(!go_eq_fold(b"websock\xffet", b"websocket"));
    assert!(has_token(b"keep-alive, Close", b"close"));
    assert!(has_token(b"close", b"close"));
    assert!(!has_token(b"xclose", b"close"));
    assert!(!has_token(b"closed", b"close"));
    assert!(!has_token(b"", b"close"));
}

#[test]
fn http_dates() {
    for (secs, want) in [
        (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
        (1_700_000_000, "Tue, 14 Nov 2023 22:13:20 GMT"),
        (4_102_444_799, "Thu, 31 Dec 2099 23:59:59 GMT"),
    ] {
        let mut out = Vec::new();
        write_http_date(&mut out, secs);
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}
