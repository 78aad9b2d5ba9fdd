//! Writers for server-to-client lines, appending to a caller's buffer with no
//! formatting machinery and no allocation beyond the buffer's own growth.

/// Appends `s`. Short pieces (subjects, sids, sizes) are copied in 8-byte
/// words and single bytes rather than through a `memcpy` call: some libc
/// builds (musl) copy short, unaligned runs byte by byte with string
/// instructions, which costs more than the rest of the message encoding.
#[inline(always)]
pub fn put(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() > 64 {
        out.extend_from_slice(s);
        return;
    }
    let (words, tail) = s.as_chunks::<8>();
    for w in words {
        out.extend_from_slice(w);
    }
    // The last 0 to 7 bytes in one piece of a length known in each arm
    // (copied inline, not by a call).
    match tail.len() {
        0 => {}
        1 => out.push(tail[0]),
        2 => out.extend_from_slice(&tail[..2]),
        3 => out.extend_from_slice(&tail[..3]),
        4 => out.extend_from_slice(&tail[..4]),
        5 => out.extend_from_slice(&tail[..5]),
        6 => out.extend_from_slice(&tail[..6]),
        _ => out.extend_from_slice(&tail[..7]),
    }
}

/// Appends the decimal form of `n`. Most sizes on the wire have one to
/// three digits: those are written inline, longer numbers out of line.
#[inline(always)]
pub fn write_u64(out: &mut Vec<u8>, n: u64) {
    if n < 10 {
        out.push(b'0' + n as u8);
        return;
    }
    if n < 100 {
        out.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8]);
        return;
    }
    if n < 1000 {
        out.extend_from_slice(&[b'0' + (n / 100) as u8, b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8]);
        return;
    }
    write_u64_long(out, n);
}

/// `write_u64` for numbers of four digits and more.
#[inline(never)]
fn write_u64_long(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    put(out, &tmp[i..]);
}

/// Appends `MSG <subject> <sid> [reply] <size>\r\n<payload>\r\n`. Kept
/// out of line: inlined into the delivery loop, its word copies (`put`)
/// would turn into calls.
#[inline(never)]
pub fn write_msg(out: &mut Vec<u8>, subject: &[u8], sid: &[u8], reply: Option<&[u8]>, payload: &[u8]) {
    write_delivery(out, subject, sid, reply, None, payload);
}

/// Appends `HMSG <subject> <sid> [reply] <hdr> <total>\r\n<message>\r\n`,
/// where `message` is the header block followed by the payload.
#[inline]
pub fn write_hmsg(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    header_len: usize,
    message: &[u8],
) {
    write_delivery(out, subject, sid, reply, Some(header_len), message);
}

/// A message to a client: MSG, or HMSG when it has a header length.
#[inline(always)]
fn write_delivery(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    header_len: Option<usize>,
    message: &[u8],
) {
    let room = if header_len.is_some() { 30 } else { 20 };
    out.reserve(subject.len() + sid.len() + reply.map_or(0, |r| r.len() + 1) + message.len() + room);
    out.extend_from_slice(if header_len.is_some() { b"HMSG " } else { b"MSG " });
    put(out, subject);
    out.push(b' ');
    put(out, sid);
    out.push(b' ');
    write_sizes_and_message(out, reply, header_len, message);
}

/// The tail shared by every message line: `[reply ]`, `[hdr ]<size>`, the
/// line end, the message and its `\r\n`.
#[inline(always)]
fn write_sizes_and_message(out: &mut Vec<u8>, reply: Option<&[u8]>, header_len: Option<usize>, message: &[u8]) {
    if let Some(r) = reply {
        put(out, r);
        out.push(b' ');
    }
    if let Some(h) = header_len {
        write_u64(out, h as u64);
        out.push(b' ');
    }
    write_u64(out, message.len() as u64);
    out.extend_from_slice(b"\r\n");
    put(out, message);
    out.extend_from_slice(b"\r\n");
}

/// Appends a routed message: `RMSG <acc> <subject> [reply] <size>` (or
/// `HMSG ... <hdr> <total>` when `header_len` is given), with the queue
/// groups chosen for the receiving server listed after `+ <reply>` or `|`.
pub fn write_rmsg(
    out: &mut Vec<u8>,
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &mut dyn Iterator<Item = &[u8]>,
    header_len: Option<usize>,
    message: &[u8],
) {
    write_relayed(
        out,
        relayed_verb(header_len, Some(account)),
        b"",
        Some(account),
        subject,
        reply,
        queues,
        header_len,
        message,
    )
}

/// The same message on a leaf node connection: `LMSG` (or `HMSG`) without
/// an account.
pub fn write_lmsg(
    out: &mut Vec<u8>,
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &mut dyn Iterator<Item = &[u8]>,
    header_len: Option<usize>,
    message: &[u8],
) {
    write_relayed(out, relayed_verb(header_len, None), b"", None, subject, reply, queues, header_len, message)
}

/// A message of a leaf node of ours on a route to a peer that takes
/// leaf origins (`lnoc`): `LMSG <origin> <account> ...`, the origin being
/// the leaf's cluster, with a header size always (0 without headers).
#[allow(clippy::too_many_arguments)]
pub fn write_route_lmsg(
    out: &mut Vec<u8>,
    origin: &[u8],
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &mut dyn Iterator<Item = &[u8]>,
    header_len: Option<usize>,
    message: &[u8],
) {
    let header_len = Some(header_len.unwrap_or(0));
    write_relayed(out, b"LMSG ", origin, Some(account), subject, reply, queues, header_len, message)
}

/// The verb of a relayed message: HMSG with headers, else RMSG on a route
/// (with an account) or LMSG on a leaf connection.
#[inline(always)]
fn relayed_verb(header_len: Option<usize>, account: Option<&[u8]>) -> &'static [u8] {
    match (header_len.is_some(), account.is_some()) {
        (true, _) => b"HMSG ",
        (false, true) => b"RMSG ",
        (false, false) => b"LMSG ",
    }
}

/// A relayed message: `verb`, then `origin` and a blank when not empty,
/// then the account (if any), the subject, the reply and queue names, the
/// sizes and the payload.
#[allow(clippy::too_many_arguments)]
fn write_relayed(
    out: &mut Vec<u8>,
    verb: &[u8],
    origin: &[u8],
    account: Option<&[u8]>,
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &mut dyn Iterator<Item = &[u8]>,
    header_len: Option<usize>,
    message: &[u8],
) {
    out.reserve(account.map_or(0, <[u8]>::len) + subject.len() + reply.map_or(0, |r| r.len() + 1) + message.len() + 32);
    out.extend_from_slice(verb);
    if !origin.is_empty() {
        put(out, origin);
        out.push(b' ');
    }
    if let Some(account) = account {
        put(out, account);
        out.push(b' ');
    }
    put(out, subject);
    out.push(b' ');
    let mut queues = queues.peekable();
    if queues.peek().is_some() {
        match reply {
            Some(r) => {
                out.extend_from_slice(b"+ ");
                put(out, r);
                out.push(b' ');
            }
            None => out.extend_from_slice(b"| "),
        }
        for q in queues {
            put(out, q);
            out.push(b' ');
        }
        write_sizes_and_message(out, None, header_len, message);
    } else {
        write_sizes_and_message(out, reply, header_len, message);
    }
}

/// Appends `LS+ <subject>` or `LS+ <subject> <queue> <weight>` (leaf node
/// connections name no account).
pub fn write_ls_plus(out: &mut Vec<u8>, subject: &[u8], queue: Option<(&[u8], u32)>) {
    out.extend_from_slice(b"LS+ ");
    out.extend_from_slice(subject);
    if let Some((q, w)) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
        out.push(b' ');
        write_u64(out, w as u64);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `LS- <subject> [queue]`.
pub fn write_ls_minus(out: &mut Vec<u8>, subject: &[u8], queue: Option<&[u8]>) {
    out.extend_from_slice(b"LS- ");
    out.extend_from_slice(subject);
    if let Some(q) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `RS+ <acc> <subject>` or `RS+ <acc> <subject> <queue> <weight>`.
pub fn write_rs_plus(out: &mut Vec<u8>, account: &[u8], subject: &[u8], queue: Option<(&[u8], u32)>) {
    out.extend_from_slice(b"RS+ ");
    out.extend_from_slice(account);
    out.push(b' ');
    out.extend_from_slice(subject);
    if let Some((q, w)) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
        out.push(b' ');
        write_u64(out, w as u64);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `LS+ <origin> <acc> <subject> [<queue> <weight>]`: interest of
/// a leaf node of ours (of cluster `origin`) for a route peer.
pub fn write_route_ls_plus(
    out: &mut Vec<u8>,
    origin: &[u8],
    account: &[u8],
    subject: &[u8],
    queue: Option<(&[u8], u32)>,
) {
    out.extend_from_slice(b"LS+ ");
    out.extend_from_slice(origin);
    out.push(b' ');
    out.extend_from_slice(account);
    out.push(b' ');
    write_interest_tail(out, subject, queue);
}

/// Appends `LS- <origin> <acc> <subject> [queue]` (the origin only for a
/// peer that announced `lnocu`: `origin` empty otherwise).
pub fn write_route_ls_minus(out: &mut Vec<u8>, origin: &[u8], account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
    out.extend_from_slice(b"LS- ");
    if !origin.is_empty() {
        out.extend_from_slice(origin);
        out.push(b' ');
    }
    out.extend_from_slice(account);
    out.push(b' ');
    out.extend_from_slice(subject);
    if let Some(q) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
    }
    out.extend_from_slice(b"\r\n");
}

/// `<subject>[ <queue> <weight>]\r\n`.
fn write_interest_tail(out: &mut Vec<u8>, subject: &[u8], queue: Option<(&[u8], u32)>) {
    out.extend_from_slice(subject);
    if let Some((q, w)) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
        out.push(b' ');
        write_u64(out, w as u64);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `RS- <acc> <subject> [queue]`.
pub fn write_rs_minus(out: &mut Vec<u8>, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
    out.extend_from_slice(b"RS- ");
    out.extend_from_slice(account);
    out.push(b' ');
    out.extend_from_slice(subject);
    if let Some(q) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `-ERR '<text>'\r\n`.
pub fn write_err(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(b"-ERR '");
    out.extend_from_slice(text);
    out.extend_from_slice(b"'\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ClientOp, ClientParser};
    use crate::framing::Status;

    #[test]
    fn numbers() {
        for n in [0u64, 7, 9, 10, 42, 99, 100, 505, 999, 1000, 1048576, u64::MAX] {
            let mut v = Vec::new();
            write_u64(&mut v, n);
            assert_eq!(v, n.to_string().into_bytes());
        }
    }

    #[test]
    fn msg_lines() {
        let mut v = Vec::new();
        write_msg(&mut v, b"foo", b"1", None, b"hello");
        write_msg(&mut v, b"foo", b"22", Some(b"r.x"), b"");
        write_hmsg(&mut v, b"_INBOX.y", b"9", None, 16, b"NATS/1.0 503\r\n\r\n");
        assert_eq!(
            v,
            b"MSG foo 1 5\r\nhello\r\nMSG foo 22 r.x 0\r\n\r\nHMSG _INBOX.y 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
                .to_vec()
        );
    }

    /// Every routed-message form parses back to the same fields.
    #[test]
    fn route_round_trip() {
        use crate::route::{RouteOp, RouteParser};
        type Case<'a> = (Option<&'a [u8]>, &'a [&'a [u8]], Option<usize>, &'a [u8]);
        let cases: &[Case] = &[
            (None, &[], None, b"hello"),
            (Some(b"r.1"), &[], None, b""),
            (None, &[b"g1", b"g2"], None, b"xy"),
            (Some(b"r"), &[b"g"], None, b"z"),
            (Some(b"r"), &[b"g"], Some(4), b"h\r\n\r\nbody"),
            (None, &[], Some(0), b"p"),
        ];
        for (reply, queues, hdr, msg) in cases {
            let mut v = Vec::new();
            write_rmsg(&mut v, b"$G", b"a.b", *reply, &mut queues.iter().copied(), *hdr, msg);
            let mut p = RouteParser::default();
            let Ok(Status::Complete(f)) = p.parse(&v) else { panic!("parse {:?}", String::from_utf8_lossy(&v)) };
            let RouteOp::Msg(m) = f.op else { panic!("not a message") };
            assert_eq!(
                (m.account, m.subject, m.reply, m.header_len, m.message),
                (&b"$G"[..], &b"a.b"[..], *reply, *hdr, *msg)
            );
            let got: Vec<&[u8]> = m.queues.map(|q| q.split(|c| *c == b' ').collect()).unwrap_or_default();
            assert_eq!(got, queues.to_vec());
            assert_eq!(f.len, v.len());
        }
        let mut v = Vec::new();
        write_rs_plus(&mut v, b"$G", b"foo", Some((b"q", 3)));
        write_rs_minus(&mut v, b"$G", b"foo", Some(b"q"));
        assert_eq!(v, b"RS+ $G foo q 3\r\nRS- $G foo q\r\n".to_vec());
    }

    /// A MSG line is a PUB line with a sid in the middle: turning one back
    /// into the other and parsing it must give the original fields.
    #[test]
    fn round_trip_through_client_parser() {
        type Case<'a> = (&'a [u8], Option<&'a [u8]>, &'a [u8]);
        let cases: &[Case] =
            &[(b"a", None, b""), (b"a.b.c", Some(b"_INBOX.1"), b"x\r\ny"), (b"q", None, &[0u8, 255, 13])];
        for (subject, reply, payload) in cases {
            let mut v = Vec::new();
            write_msg(&mut v, subject, b"1", *reply, payload);
            // Drop "MSG " and the sid to turn it into a PUB.
            let mut p = b"PUB ".to_vec();
            let line_end = v.iter().position(|c| *c == b'\n').unwrap();
            let line = &v[4..line_end - 1];
            let parts: Vec<&[u8]> = line.split(|c| *c == b' ').collect();
            let mut fields = vec![parts[0]];
            fields.extend_from_slice(&parts[2..]);
            p.extend_from_slice(&fields.join(&b' '));
            p.extend_from_slice(&v[line_end - 1..]);
            let mut parser = ClientParser::new(4096, 1 << 20);
            let Ok(Status::Complete(f)) = parser.parse(&p) else { panic!("parse") };
            assert_eq!(f.op, ClientOp::Pub { subject, reply: *reply, payload });
            assert_eq!(f.len, p.len());
        }
    }

    /// Every length across the word/byte split and the long-copy cut-off
    /// appends exactly the input, after whatever the buffer held.
    #[test]
    fn put_appends_every_length() {
        let src: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
        for n in 0..src.len() {
            let mut v = b"pre".to_vec();
            put(&mut v, &src[..n]);
            assert_eq!(&v[..3], b"pre");
            assert_eq!(&v[3..], &src[..n]);
        }
    }

    #[test]
    fn leaf_origin_forms_for_routes() {
        let mut v = Vec::new();
        write_route_ls_plus(&mut v, b"L1", b"$G", b"foo", None);
        write_route_ls_plus(&mut v, b"L1", b"$G", b"bar", Some((b"q", 3)));
        write_route_ls_minus(&mut v, b"L1", b"$G", b"bar", Some(b"q"));
        write_route_ls_minus(&mut v, b"", b"$G", b"foo", None);
        write_route_lmsg(&mut v, b"L1", b"$G", b"foo", Some(b"r"), &mut std::iter::empty(), None, b"hi");
        write_route_lmsg(&mut v, b"L1", b"$G", b"foo", None, &mut [&b"q"[..]].into_iter(), Some(2), b"h\r");
        assert_eq!(
            String::from_utf8_lossy(&v),
            "LS+ L1 $G foo\r\nLS+ L1 $G bar q 3\r\nLS- L1 $G bar q\r\nLS- $G foo\r\n\
             LMSG L1 $G foo r 0 2\r\nhi\r\nLMSG L1 $G foo | q 2 2\r\nh\r\r\n"
        );
    }
}
