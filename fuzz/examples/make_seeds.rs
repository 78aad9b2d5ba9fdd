//! Writes the seed corpus under `fuzz/seeds/<target>/` from the inputs of
//! the protocol crate's unit tests. Run from `fuzz/`:
//! `cargo run --example make_seeds`. Existing seed files are replaced, other
//! files (such as minimized crash inputs added by hand) are kept.

use std::fs;
use std::path::Path;

use rnats_protocol::websocket::{unmask, write_frame_header, write_masked_frame_header, Opcode};

/// Client streams; each is written with default limits and cut into reads
/// by seed byte 0, and a few with small limits.
const CLIENT: &[&[u8]] = &[
    b"PING\r\nPONG\r\n+OK\r\n",
    b"ping\npOnG\r\nPINGxyz\r\n",
    b"PUB foo 5\r\nhello\r\npub\tfoo  bar\t 0\r\n\r\n",
    b"PUB a 4\r\n\r\n\r\n\r\n",
    b"HPUB baz 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\nHPUB x r 0 2\r\nhi\r\n",
    b"HPUB x 5 2\r\nhi\r\n",
    b"SUB foo 1\r\nsub foo  q\t2\r\nUNSUB 1\r\nunsub 2 10\r\nUNSUB 3 x\r\n",
    b"CONNECT {\"verbose\":false}\r\nCONNECT{}\r\nINFO {}\r\n-ERR 'x y'\r\n",
    b"MSG foo 1 1\r\nx\r\n",
    b"PUBX foo 1\r\n",
    b"PUB foo 2\r\nhello\r\n",
    b"PUB foo 2\r\nhi\n\n",
    b"SUB foo\r\n",
    b"PUB foo bar baz 1\r\n",
    b"PUB foo x\r\n",
    b"PUB foo 1234567890\r\n",
    b"PUB foo 1025\r\n",
    b"UNSUB \r\n",
    b"SUB a b c d e f g\r\n",
    b"CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"name\":\"\",\"lang\":\"go\",\"version\":\"1.2.2\",\"protocol\":1}\r\nPING\r\n",
    b"SUB foo.* q 1\r\nSUB foo.> 2\r\nPUB foo.bar _INBOX.1 3\r\nabc\r\nUNSUB 1 5\r\n",
];

const ROUTE: &[&[u8]] = &[
    b"RMSG $G foo 5\r\nhello\r\nRMSG $G foo rep 2\r\nhi\r\nRMSG $G qq | grp 2\r\nab\r\nRMSG $G qq + r.1 g1 g2 0\r\n\r\n",
    b"HMSG $G baz 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\nHMSG $G q | a  b 0 1\r\nx\r\n",
    b"RS+ $G foo\r\nRS+ $G bar q1 2\r\nRS- $G foo\r\nrs- $G bar q1\r\nLS+ c $G x\r\nA+ x\r\n",
    b"CONNECT {\"a\":1}\r\nINFO {} \r\nPING\r\nPONG\r\n-ERR 'x'\r\n",
    b"RS+ $G foo q\r\n",
    b"RMSG $G foo x 1 5\r\n",
    b"RMSG $G 5\r\n",
    b"RMSG $G foo 2\r\nabc\r\n",
    b"PUB foo 1\r\n",
    b"HMSG $G f 3 2\r\n",
    b"LMSG c $G foo r 2 4\r\nhiab\r\nLS- c $G x\r\nA- x\r\n",
];

const JSON: &[&[u8]] = &[
    br#" {"verbose":false,"pedantic":true,"name":"a\"b\u00e9","protocol":1,"x":[1,{"y":null}],"f":-1.5e2} "#,
    br#"{"a":[1,-2.5,true,null,"x"],"b":{"c":"d"},"e":{}}"#,
    br#""a\u003cb\u003e\u0026\"\\\n\u0001""#,
    br#""\ud83d\ude00 \/\b\f\r\t""#,
    b"{",
    b"{\"a\"}",
    b"{\"a\":1,}",
    b"[1 2]",
    b"{} x",
    b"\"\x01\"",
    b"01x",
    b"tru",
    b"[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]",
    br#"{"server_id":"NABC","version":"2.10.0","go":"go1.21","host":"0.0.0.0","port":4222,"headers":true,"max_payload":1048576,"proto":1,"connect_urls":["10.0.0.1:4222"]}"#,
    b"1e308",
    b"-0.0000001",
];

const CONF: &[&str] = &[
    "port: 4222\nhost: \"0.0.0.0\"\n",
    "x: (\nabc\n)\ny: \"a\\x41\\tb\"\nz: 'q'\nw: 2016-05-04T18:53:41Z\nv: -1.5\nu: [1, 2, 3]\n",
    "{ \"a\": 1, b: [ {c: $a}, 1kb, 2m ], include x.conf\n d: $C }\n",
    "authorization { user: a, pass: b, token: c }\ncluster { listen: 4248, bogus: 1 }\n",
    "server_tags: [1, 2, 3]\nx = $NOPE\n",
    "max_payload: 1MB\nmax_control_line: 4KB\nping_interval: 2m\nlame_duck_duration: \"30s\"\n",
    "# comment\n// other\na: nats://user:pw@host:4222 # trailing\nb=1.2.3.4:5:6; c: $2a$11$abc, d: yes\n",
    "include 'other.conf'\nINCLUDE \"x\"\nm { a: $A, b: $B, l: $L, e: $E }\n",
    "accounts { A { users: [ {user: u, password: p, permissions: { publish: { allow: [\"a.>\"] } } } ] } }\n",
    "t: [ $M, $X, $Z, $D, $K, $F, $Q, $S, $Y ]\n",
    "k: 9223372036854775807\nl: -9223372036854775808\nm: 1eb\nn: 1_000\no: 0x10\n",
    "{ { a: 1 } } }\n",
];

const HTTP: &[&[u8]] = &[
    b"GET /connz?subs=1&sort=cid HTTP/1.1\r\nHost: x\r\n\r\nrest",
    b"GET / HTTP/1.0\n\n",
    b"GET /varz HTTP/1.1\r\nHost:",
    b"GET\r\n\r\n",
    b"get / HTTP/1.1\r\n\r\n",
    b"GET x HTTP/1.1\r\n\r\n",
    b"GET / FTP\r\n\r\n",
    b"GET  / HTTP/1.1\r\n\r\n",
    b"GET /connz?test=foo.%2A&subs&x=a+b&bad=%zz%4 HTTP/1.1\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n",
    b"GET /subsz?subs=1&test=a.%3E HTTP/1.1\r\n\r\n",
];

/// WebSocket upgrade requests, each with the settings byte it is written
/// with (limit, listener options; see `src/ws.rs`).
const WS_REQUESTS: &[(u8, &[u8])] = &[
    (0, b"GET /leafnode HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nNats-No-Masking: true\r\n\r\n"),
    (0x38, b"GET /ws?x=1 HTTP/1.1\r\nHost: localhost:8080\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nOrigin: http://localhost:8080\r\nUser-Agent: Mozilla/5.0 Version/17 Safari/605\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAB==\r\nSec-WebSocket-Extensions: x, permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\nCookie: jwt=\"a.b\"; user=u\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n"),
    (0x20, b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 8, 13\r\nSec-WebSocket-Origin: https://example.com\r\n\r\n"),
    (0, b"POST //a/../mqtt?x=\xc3\xa9 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET * HTTP/1.0\r\n\r\n"),
    (0, b"GET / HTTP/1.1\r\nHost : x\r\nX: a\r\n b\r\nTransfer-Encoding: chunked\r\n\r\n"),
    (0, b"CONNECT x:1 HTTP/1.1\r\n\r\nGET http://u@[::1]:80/p HTTP/1.0\r\nConnection: keep-alive\r\nUpgrade: web\xc5\xbfocket\r\n\r\n"),
    (0x80, b"HEAD /x/mqtt HTTP/1.1\nHost: [::1]\nConnection: close\n\n"),
    (2, b"GET / HTTP/2.0\r\nHost: x\r\nX-Long-Header: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"),
];

/// Masks `payload` with `key` behind a client frame header.
fn client_frame(out: &mut Vec<u8>, opcode: Opcode, fin: bool, rsv1: bool, payload: &[u8], key: [u8; 4]) {
    write_masked_frame_header(out, opcode, fin, rsv1, payload.len() as u64, key);
    let start = out.len();
    out.extend_from_slice(payload);
    unmask(&mut out[start..], key, 0);
}

/// WebSocket frame streams, each with its settings byte (0: masked frames
/// expected, no compression; 8: compression; 0x40: unmasked frames).
fn ws_frames() -> Vec<(u8, Vec<u8>)> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut seeds = vec![(0, b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58".to_vec())];
    let mut s = Vec::new();
    client_frame(&mut s, Opcode::Binary, false, false, b"SUB foo 1\r\nPI", key);
    client_frame(&mut s, Opcode::Ping, true, false, b"hello-ping", [1, 2, 3, 4]);
    client_frame(&mut s, Opcode::Continuation, true, false, b"NG\r\n", key);
    client_frame(&mut s, Opcode::Close, true, false, b"\x03\xe8bye", key);
    seeds.push((0, s));
    let mut s = Vec::new();
    client_frame(&mut s, Opcode::Binary, false, true, b"\xf2\x00\x00", key);
    client_frame(&mut s, Opcode::Pong, true, false, b"", key);
    client_frame(&mut s, Opcode::Continuation, true, false, b"\x00\x00", key);
    client_frame(&mut s, Opcode::Text, true, false, &[b'x'; 300], key);
    client_frame(&mut s, Opcode::Close, true, false, b"\x03\xe8\xff", key);
    seeds.push((8, s));
    let mut s = Vec::new();
    write_frame_header(&mut s, Opcode::Binary, false, false, 130);
    s.extend_from_slice(&[b'y'; 130]);
    write_frame_header(&mut s, Opcode::Ping, true, false, 3);
    s.extend_from_slice(b"abc");
    write_frame_header(&mut s, Opcode::Continuation, true, false, 0);
    write_frame_header(&mut s, Opcode::Close, true, false, 2);
    s.extend_from_slice(b"\x03\xed");
    seeds.push((0x40, s));
    for bad in [
        &b"\x89\xfe\x00\x7e"[..],
        b"\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00",
        b"\x8d\x80\x00\x00\x00\x00",
        b"\x88\x81\x00\x00\x00\x00\x03",
        b"\xa2\x80",
        b"\x82\x05hello",
    ] {
        seeds.push((0, bad.to_vec()));
    }
    seeds
}

fn write(dir: &Path, name: String, bytes: &[u8]) {
    fs::write(dir.join(name), bytes).expect("write a seed");
}

fn with_prefix(prefix: &[u8], input: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.extend_from_slice(input);
    v
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    for t in ["client", "route", "json", "conf", "http", "ws"] {
        fs::create_dir_all(root.join(t)).expect("create a seed directory");
    }
    let dir = root.join("client");
    for (i, s) in CLIENT.iter().enumerate() {
        write(&dir, format!("test-{i:02}"), &with_prefix(&[0, 0], s));
    }
    // Small limits (control line 16, payload 8) and other read cuts.
    for (i, s) in CLIENT.iter().enumerate().step_by(4) {
        write(&dir, format!("small-limits-{i:02}"), &with_prefix(&[3 | (3 << 3), 7], s));
    }
    let dir = root.join("route");
    for (i, s) in ROUTE.iter().enumerate() {
        write(&dir, format!("test-{i:02}"), &with_prefix(&[0], s));
    }
    let dir = root.join("json");
    for (i, s) in JSON.iter().enumerate() {
        write(&dir, format!("test-{i:02}"), s);
    }
    let dir = root.join("conf");
    for (i, s) in CONF.iter().enumerate() {
        write(&dir, format!("test-{i:02}"), s.as_bytes());
    }
    let dir = root.join("http");
    for (i, s) in HTTP.iter().enumerate() {
        write(&dir, format!("test-{i:02}"), &with_prefix(&[0, 0], s));
    }
    write(&dir, "small-limit".into(), &with_prefix(&[1, 5], HTTP[0]));
    let dir = root.join("ws");
    for (i, (settings, s)) in WS_REQUESTS.iter().enumerate() {
        write(&dir, format!("request-{i:02}"), &with_prefix(&[*settings, 0], s));
    }
    for (i, (settings, s)) in ws_frames().iter().enumerate() {
        write(&dir, format!("frames-{i:02}"), &with_prefix(&[*settings, 3], s));
    }
}
