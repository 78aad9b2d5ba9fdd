//! loadgen: a small load generator that speaks the NATS client protocol
//! over blocking TCP sockets, optionally with TLS (`--tls-ca CA.pem`).
//!
//! Usage: loadgen SCENARIO [--host H] [--port P] [--port2 P2] [--msgs N]
//!                [--size BYTES] [--subs K] [--timeout SECS] [--window BYTES]
//!                [--conns N] [--hold SECS] [--spin 0|1] [--tls-ca CA.pem]
//!                [--subjects N] [--wildcards W] [--duration SECS]
//!                [--rate N] [--live N] [--threads N] [--seed N] [--pause 0|1]
//!
//! Scenarios: pub, pubsub, fanout, queue, reqrep, routed, idle, startup;
//! timed (see scale.rs): subjects, conns, churn, pair, storm;
//! `floor` (see floor.rs): a bare epoll relay's CPU per request/reply round.
//! `startup --bin PATH` starts the server at PATH `--msgs` times and reports
//! the time from spawning it to its client port accepting a connection.
//! The result is printed as a single line of `key=value` pairs on stdout.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

mod floor;
mod js;
mod scale;
use floor::{run_floor, run_relay};
use scale::{run_churn, run_conns, run_storm, run_subjects};

const SUBJECT: &str = "lg.bench";
const PROBE_PREFIX: &str = "lg.probe.";
const REQ_SUBJECT: &str = "lg.req";
const INBOX: &str = "_INBOX.lg.reply";
const CONNECT: &[u8] = b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";
/// Poll interval for threads that block in `read` but must notice
/// completion, deadlines or a stop request.
const POLL: Duration = Duration::from_millis(50);
/// Target size of one write() of pipelined PUB operations.
const BATCH_BYTES: usize = 64 * 1024;

type Res<T> = Result<T, String>;

fn ioe(ctx: &str, e: io::Error) -> String {
    format!("{ctx}: {e}")
}

// ---------------------------------------------------------------------------
// Options

struct Opts {
    scenario: String,
    host: String,
    port: u16,
    port2: Option<u16>,
    msgs: u64,
    size: usize,
    subs: Option<usize>,
    timeout: Duration,
    window: usize,
    conns: usize,
    hold: Duration,
    spin: bool,
    bin: Option<String>,
    subjects: u64,
    wildcards: u64,
    duration: Duration,
    rate: u64,
    live: usize,
    threads: usize,
    seed: u64,
    pause: bool,
    tls_ca: Option<String>,
    /// Subscribers connect over WebSocket to this port (`fanout`, `pubsub`).
    ws_port: Option<u16>,
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen pub|pubsub|fanout|queue|reqrep|routed|idle|startup|subjects|conns|churn|pair|storm|floor|jspub|jsfill|jspull \
         [--host 127.0.0.1] [--port 4222] [--port2 P] [--msgs N] [--size 16] \
         [--subs K] [--timeout 60] [--window BYTES] [--conns 1000] [--hold 60] [--spin 0|1] [--bin PATH] \
         [--subjects N] [--wildcards W] [--duration SECS] [--rate SUBS_PER_S] [--live N] \
         [--threads N] [--seed N] [--pause 0|1] [--tls-ca CA.pem] [--ws-port P]"
    );
    std::process::exit(2);
}

fn num<T: std::str::FromStr>(k: &str, v: &str) -> T {
    v.parse().unwrap_or_else(|_| {
        eprintln!("bad value for {k}: {v}");
        std::process::exit(2)
    })
}

fn parse_opts() -> Opts {
    let mut args = std::env::args().skip(1);
    let scenario = match args.next() {
        Some(s) if !s.starts_with('-') => s,
        _ => usage(),
    };
    let mut o = Opts {
        scenario,
        host: "127.0.0.1".into(),
        port: 4222,
        port2: None,
        msgs: 1_000_000,
        size: 16,
        subs: None,
        timeout: Duration::from_secs(60),
        window: 16 << 20,
        conns: 1000,
        hold: Duration::from_secs(60),
        spin: false,
        bin: None,
        subjects: 100_000,
        wildcards: 1000,
        duration: Duration::from_secs(3),
        rate: 100_000,
        live: 1000,
        threads: 4,
        seed: 1,
        pause: false,
        tls_ca: None,
        ws_port: None,
    };
    while let Some(k) = args.next() {
        let v = args.next().unwrap_or_else(|| usage());
        match k.as_str() {
            "--host" => o.host = v.clone(),
            "--port" => o.port = num(&k, &v),
            "--port2" => o.port2 = Some(num(&k, &v)),
            "--ws-port" => o.ws_port = Some(num(&k, &v)),
            "--msgs" => o.msgs = num(&k, &v),
            "--size" => o.size = num(&k, &v),
            "--subs" => o.subs = Some(num(&k, &v)),
            "--timeout" => o.timeout = Duration::from_secs_f64(num(&k, &v)),
            "--window" => o.window = num(&k, &v),
            "--conns" => o.conns = num(&k, &v),
            "--hold" => o.hold = Duration::from_secs_f64(num(&k, &v)),
            "--spin" => o.spin = num::<u8>(&k, &v) != 0,
            "--bin" => o.bin = Some(v.clone()),
            "--subjects" => o.subjects = num(&k, &v),
            "--wildcards" => o.wildcards = num(&k, &v),
            "--duration" => o.duration = Duration::from_secs_f64(num(&k, &v)),
            "--rate" => o.rate = num(&k, &v),
            "--live" => o.live = num(&k, &v),
            "--threads" => o.threads = num(&k, &v),
            "--seed" => o.seed = num(&k, &v),
            "--pause" => o.pause = num::<u8>(&k, &v) != 0,
            "--tls-ca" => o.tls_ca = Some(v.clone()),
            _ => usage(),
        }
    }
    o
}

// ---------------------------------------------------------------------------
// Protocol connection: blocking socket plus an incremental frame scanner.

enum Ev<'a> {
    Msg { subject: &'a [u8], reply: Option<&'a [u8]>, payload: &'a [u8] },
    Ping,
    Pong,
    Info,
    Ok,
}

/// The header line of the last MSG frame, with the positions of its fields.
/// Benchmark traffic repeats one header over and over, so a byte comparison
/// against it skips field splitting for almost every frame.
struct HdrCache {
    line: Vec<u8>,
    subject: (usize, usize),
    reply: Option<(usize, usize)>,
    len: usize,
}

/// The client's byte stream: plain TCP, or TLS over TCP (started after the
/// server's INFO, as NATS servers 2.9 expect).
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    Ws(Box<WsStream>),
}

/// A WebSocket client stream: writes go out as masked binary frames (a
/// zero key: the server still unmasks), reads hand up the payloads of the
/// server's frames.
struct WsStream {
    tcp: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Payload bytes of the current frame not read yet.
    left: u64,
}

impl WsStream {
    fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = self.tcp.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }
}

impl Read for WsStream {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.left > 0 {
                if self.start == self.end && self.fill()? == 0 {
                    return Ok(0);
                }
                let n = (self.left as usize).min(self.end - self.start).min(b.len());
                b[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
                self.start += n;
                self.left -= n as u64;
                return Ok(n);
            }
            let have = &self.buf[self.start..self.end];
            let need = match have.get(1).map(|b| b & 0x7f) {
                None => 2,
                Some(126) => 4,
                Some(127) => 10,
                Some(_) => 2,
            };
            if have.len() < need {
                if self.fill()? == 0 {
                    return Ok(0);
                }
                continue;
            }
            let opcode = have[0] & 0x0f;
            let len = match have[1] & 0x7f {
                126 => u16::from_be_bytes([have[2], have[3]]) as u64,
                127 => u64::from_be_bytes(have[2..10].try_into().unwrap_or([0; 8])),
                n => n as u64,
            };
            self.start += need;
            if opcode == 8 {
                return Ok(0);
            }
            if opcode >= 8 {
                // Control frames (none expected): skipped.
                self.left = len;
                let mut sink = [0u8; 125];
                while self.left > 0 {
                    if self.read(&mut sink)? == 0 {
                        return Ok(0);
                    }
                }
                continue;
            }
            self.left = len;
        }
    }
}

impl Write for WsStream {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let mut head = Vec::with_capacity(14 + b.len());
        head.push(0x82);
        match b.len() {
            n if n < 126 => head.push(0x80 | n as u8),
            n if n < 65536 => {
                head.push(0x80 | 126);
                head.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                head.push(0x80 | 127);
                head.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        head.extend_from_slice(&[0, 0, 0, 0]);
        head.extend_from_slice(b);
        self.tcp.write_all(&head)?;
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// Subscribers' WebSocket port (`--ws-port`).
static WS_PORT: OnceLock<Option<u16>> = OnceLock::new();

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &t.sock,
            Stream::Ws(w) => &w.tcp,
        }
    }
    fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(d)
    }
    fn set_nonblocking(&self, b: bool) -> io::Result<()> {
        self.tcp().set_nonblocking(b)
    }
}

impl Read for Stream {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(b),
            Stream::Tls(t) => t.read(b),
            Stream::Ws(w) => w.read(b),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(b),
            Stream::Tls(t) => t.write(b),
            Stream::Ws(w) => w.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
            Stream::Ws(w) => w.flush(),
        }
    }
}

/// TLS client configuration, set once from `--tls-ca` (None: plain TCP).
static TLS: OnceLock<Option<Arc<rustls::ClientConfig>>> = OnceLock::new();

fn init_tls(ca: Option<&str>) -> Res<()> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let cfg = match ca {
        None => None,
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(path).map_err(|e| format!("{path}: {e}"))? {
                let c = c.map_err(|e| format!("{path}: {e}"))?;
                roots.add(c).map_err(|e| format!("{path}: {e}"))?;
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("tls: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            // Every connection does a full handshake (no session resumption),
            // so a connect storm measures the same work against every server.
            cfg.resumption = rustls::client::Resumption::disabled();
            Some(Arc::new(cfg))
        }
    };
    let _ = TLS.set(cfg);
    Ok(())
}

fn tls_config() -> Option<Arc<rustls::ClientConfig>> {
    TLS.get().cloned().flatten()
}

/// Reads the server's INFO line from a fresh socket (before any TLS).
fn read_info(s: &mut TcpStream, deadline: Instant) -> Res<()> {
    let mut line = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    while !line.contains(&b'\n') {
        let now = Instant::now();
        if now >= deadline {
            return Err("waiting for INFO: timed out".into());
        }
        s.set_read_timeout(Some((deadline - now).max(Duration::from_millis(1)))).map_err(|e| ioe("timeout", e))?;
        match s.read(&mut chunk) {
            Ok(0) => return Err("waiting for INFO: connection closed by server".into()),
            Ok(n) => line.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ioe("waiting for INFO", e)),
        }
        if line.len() > 1 << 20 {
            return Err("INFO line too long".into());
        }
    }
    if !line.starts_with(b"INFO") {
        return Err(format!("expected INFO, got: {}", String::from_utf8_lossy(&line[..line.len().min(80)])));
    }
    Ok(())
}

struct Conn {
    s: Stream,
    read_timeout: Option<Duration>,
    hdr_cache: Option<HdrCache>,
    /// Remember the last MSG header (off for traffic where every header
    /// differs, to avoid an allocation per frame).
    cache_hdr: bool,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

fn trim_cr(l: &[u8]) -> &[u8] {
    match l.last() {
        Some(b'\r') => &l[..l.len() - 1],
        _ => l,
    }
}

fn parse_usize(b: &[u8]) -> Option<usize> {
    if b.is_empty() || b.len() > 12 {
        return None;
    }
    let mut n = 0usize;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (c - b'0') as usize;
    }
    Some(n)
}

/// Splits `line` on spaces/tabs into at most 6 fields without allocating.
fn fields(line: &[u8]) -> ([&[u8]; 6], usize) {
    let mut out: [&[u8]; 6] = [&[]; 6];
    let mut n = 0;
    for f in line.split(|&b| b == b' ' || b == b'\t') {
        if f.is_empty() {
            continue;
        }
        if n == out.len() {
            return (out, n + 1);
        }
        out[n] = f;
        n += 1;
    }
    (out, n)
}

impl Conn {
    /// Opens a connection: waits for INFO, starts TLS when configured, sends
    /// CONNECT and completes one PING/PONG round trip so the server has fully
    /// registered the client.
    fn open(addr: SocketAddr, timeout: Duration) -> Res<Conn> {
        Conn::open_ops(addr, timeout, b"", 256 * 1024)
    }

    /// As `open`, with `extra` operations sent right after CONNECT (before
    /// the PING) and a read buffer of `bufsize` bytes to start with.
    /// A connection over WebSocket to `addr`: the upgrade, then INFO in
    /// the first frame, then as `open`.
    fn open_ws(addr: SocketAddr, timeout: Duration) -> Res<Conn> {
        let deadline = Instant::now() + timeout;
        let mut tcp = TcpStream::connect_timeout(&addr, timeout).map_err(|e| ioe("connect", e))?;
        tcp.set_nodelay(true).map_err(|e| ioe("nodelay", e))?;
        tcp.set_read_timeout(Some(timeout)).map_err(|e| ioe("timeout", e))?;
        let req = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(req.as_bytes()).map_err(|e| ioe("upgrade", e))?;
        let mut ws = WsStream { tcp, buf: vec![0u8; 256 * 1024], start: 0, end: 0, left: 0 };
        let head_end = loop {
            if let Some(i) = ws.buf[..ws.end].windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if Instant::now() >= deadline || ws.fill().map_err(|e| ioe("upgrade answer", e))? == 0 {
                return Err("no upgrade answer".into());
            }
        };
        if !ws.buf.starts_with(b"HTTP/1.1 101") {
            return Err(format!("upgrade refused: {}", String::from_utf8_lossy(&ws.buf[..head_end.min(80)])));
        }
        ws.start = head_end;
        let mut s = Stream::Ws(Box::new(ws));
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\n") {
            if s.read(&mut byte).map_err(|e| ioe("waiting for INFO", e))? == 0 {
                return Err("waiting for INFO: connection closed".into());
            }
            line.push(byte[0]);
        }
        let mut c = Conn {
            s,
            read_timeout: None,
            hdr_cache: None,
            cache_hdr: true,
            buf: vec![0u8; 256 * 1024],
            start: 0,
            end: 0,
        };
        c.send(CONNECT)?;
        c.flush_pong(deadline)?;
        Ok(c)
    }

    fn open_ops(addr: SocketAddr, timeout: Duration, extra: &[u8], bufsize: usize) -> Res<Conn> {
        let deadline = Instant::now() + timeout;
        let mut tcp = TcpStream::connect_timeout(&addr, timeout).map_err(|e| ioe("connect", e))?;
        tcp.set_nodelay(true).map_err(|e| ioe("nodelay", e))?;
        tcp.set_write_timeout(Some(timeout)).map_err(|e| ioe("timeout", e))?;
        read_info(&mut tcp, deadline)?;
        let s = match tls_config() {
            None => Stream::Plain(tcp),
            Some(cfg) => {
                let name = rustls_pki_types::ServerName::from(addr.ip());
                let cc = rustls::ClientConnection::new(cfg, name).map_err(|e| format!("tls: {e}"))?;
                Stream::Tls(Box::new(rustls::StreamOwned::new(cc, tcp)))
            }
        };
        let mut c = Conn {
            s,
            read_timeout: None,
            hdr_cache: None,
            cache_hdr: true,
            buf: vec![0u8; bufsize.max(512)],
            start: 0,
            end: 0,
        };
        let mut first = CONNECT.to_vec();
        first.extend_from_slice(extra);
        c.send(&first)?;
        c.flush_pong(deadline)?;
        Ok(c)
    }

    fn grow_buffer(&mut self, n: usize) {
        if n > self.buf.len() {
            self.buf.resize(n.next_power_of_two(), 0);
        }
    }

    fn send(&mut self, mut b: &[u8]) -> Res<()> {
        while !b.is_empty() {
            match self.s.write(b) {
                Ok(0) => return Err("write: connection closed".into()),
                Ok(n) => b = &b[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Only reachable on a socket switched to non-blocking mode.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::yield_now(),
                Err(e) => return Err(ioe("write", e)),
            }
        }
        if let Stream::Tls(_) = self.s {
            self.s.flush().map_err(|e| ioe("flush", e))?;
        }
        Ok(())
    }

    /// Sends PING and processes input until the matching PONG arrives.
    fn flush_pong(&mut self, deadline: Instant) -> Res<()> {
        self.send(b"PING\r\n")?;
        let mut got = false;
        while !got {
            self.pump_until(deadline, &mut |ev| {
                if let Ev::Pong = ev {
                    got = true;
                }
            })
            .map_err(|e| format!("waiting for PONG: {e}"))?;
        }
        Ok(())
    }

    /// One read with a read timeout of at most POLL (bounded by deadline).
    /// Returns Ok(false) on a timeout without data.
    fn pump_until(&mut self, deadline: Instant, f: &mut dyn FnMut(Ev)) -> Res<bool> {
        let now = Instant::now();
        if now >= deadline {
            return Err("timed out".into());
        }
        // Whole milliseconds, so the socket option rarely needs changing.
        let left = (deadline - now).as_millis() as u64;
        let wait = Duration::from_millis(left.clamp(1, POLL.as_millis() as u64));
        if self.read_timeout != Some(wait) {
            self.s.set_read_timeout(Some(wait)).map_err(|e| ioe("timeout", e))?;
            self.read_timeout = Some(wait);
        }
        self.pump(f)
    }

    /// One blocking read (honouring the socket's read timeout) followed by
    /// dispatching every complete frame. Ok(false) means the read timed out.
    fn pump(&mut self, f: &mut dyn FnMut(Ev)) -> Res<bool> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
        }
        let n = match self.s.read(&mut self.buf[self.end..]) {
            Ok(0) => return Err("connection closed by server".into()),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(false),
            Err(e) => return Err(ioe("read", e)),
        };
        self.end += n;
        self.process(f)?;
        Ok(true)
    }

    fn process(&mut self, f: &mut dyn FnMut(Ev)) -> Res<()> {
        let mut pings = 0usize;
        let mut need = 0usize;
        let mut pos = self.start;
        {
            let buf = &self.buf[..self.end];
            let cache_on = self.cache_hdr;
            let cache = &mut self.hdr_cache;
            loop {
                let rest = &buf[pos..];
                if let Some(h) = cache.as_ref() {
                    let hl = h.line.len();
                    let total = hl + h.len + 2;
                    if rest.len() >= total && rest[..hl] == h.line[..] {
                        f(Ev::Msg {
                            subject: &rest[h.subject.0..h.subject.1],
                            reply: h.reply.map(|(a, b)| &rest[a..b]),
                            payload: &rest[hl..hl + h.len],
                        });
                        pos += total;
                        continue;
                    }
                }
                let nl = match rest.iter().position(|&b| b == b'\n') {
                    Some(i) => i,
                    None => break,
                };
                let line = trim_cr(&rest[..nl]);
                let hdr = nl + 1;
                let is_msg = line.starts_with(b"MSG ");
                let is_hmsg = line.starts_with(b"HMSG ");
                if is_msg || is_hmsg {
                    let (fl, n) = fields(&line[if is_msg { 4 } else { 5 }..]);
                    // MSG subject sid [reply] size
                    // HMSG subject sid [reply] hdr_size total_size
                    let base = if is_msg { 3 } else { 4 };
                    if n != base && n != base + 1 {
                        return Err(format!("malformed frame: {}", String::from_utf8_lossy(line)));
                    }
                    let reply = if n == base + 1 { Some(fl[2]) } else { None };
                    let len = parse_usize(fl[n - 1])
                        .ok_or_else(|| format!("bad size in: {}", String::from_utf8_lossy(line)))?;
                    let total = hdr + len + 2;
                    if rest.len() < total {
                        need = total;
                        break;
                    }
                    f(Ev::Msg { subject: fl[0], reply, payload: &rest[hdr..hdr + len] });
                    if is_msg && cache_on {
                        let base = rest.as_ptr() as usize;
                        let span = |x: &[u8]| {
                            let a = x.as_ptr() as usize - base;
                            (a, a + x.len())
                        };
                        *cache = Some(HdrCache {
                            line: rest[..hdr].to_vec(),
                            subject: span(fl[0]),
                            reply: reply.map(span),
                            len,
                        });
                    }
                    pos += total;
                    continue;
                }
                if line == b"PING" {
                    pings += 1;
                    f(Ev::Ping);
                } else if line == b"PONG" {
                    f(Ev::Pong);
                } else if line.starts_with(b"INFO") {
                    f(Ev::Info);
                } else if line == b"+OK" {
                    f(Ev::Ok);
                } else if line.starts_with(b"-ERR") {
                    return Err(format!("server: {}", String::from_utf8_lossy(line)));
                } else if !line.is_empty() {
                    return Err(format!("unexpected line: {}", String::from_utf8_lossy(&line[..line.len().min(80)])));
                }
                pos += hdr;
            }
        }
        self.start = pos;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.buf.len() - self.end < 16 * 1024 || need > self.buf.len() - self.start {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            self.grow_buffer(need);
        }
        for _ in 0..pings {
            self.send(b"PONG\r\n")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Small helpers

fn addr(host: &str, port: u16) -> Res<SocketAddr> {
    format!("{host}:{port}").parse().map_err(|e| format!("bad address {host}:{port}: {e}"))
}

fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

fn pub_op(subject: &str, reply: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut v = match reply {
        Some(r) => format!("PUB {subject} {r} {}\r\n", body.len()),
        None => format!("PUB {subject} {}\r\n", body.len()),
    }
    .into_bytes();
    v.extend_from_slice(body);
    v.extend_from_slice(b"\r\n");
    v
}

/// CPU seconds (user+system) used so far by this process, all threads.
fn self_cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = match s.rfind(')') {
        Some(i) => &s[i + 1..],
        None => return 0.0,
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields after the command name start at field 3 (state); utime is
    // field 14 and stime field 15, in clock ticks (100 per second on Linux).
    let t = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

struct Report {
    kv: Vec<(String, String)>,
}

impl Report {
    fn new(scenario: &str) -> Self {
        let mut r = Report { kv: Vec::new() };
        r.add("scenario", scenario);
        r
    }
    fn add(&mut self, k: &str, v: impl ToString) {
        let v = v.to_string();
        let v: String = v.chars().map(|c| if c.is_whitespace() || c == '=' { '_' } else { c }).collect();
        self.kv.push((k.to_string(), v));
    }
    fn print(&self) {
        let line: Vec<String> = self.kv.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let out = io::stdout();
        let mut o = out.lock();
        let _ = writeln!(o, "{}", line.join(" "));
        let _ = o.flush();
    }
}

// ---------------------------------------------------------------------------
// Publish / subscribe scenarios

struct Shared {
    delivered: AtomicU64,
    stop: AtomicBool,
}

struct SubOutcome {
    count: u64,
    done_at: Option<Instant>,
    complete: bool,
}

struct SubSpec {
    addr: SocketAddr,
    queue: Option<String>,
    index: usize,
    /// Messages this subscriber alone must see (fan-out style), or None when
    /// completion is judged on the shared total (queue group).
    expect_own: Option<u64>,
    expect_total: u64,
}

fn run_sub(
    spec: SubSpec,
    shared: Arc<Shared>,
    probe_seen: Arc<AtomicBool>,
    ready: mpsc::Sender<Res<()>>,
    deadline: Instant,
    timeout: Duration,
) -> Res<SubOutcome> {
    let setup = (|| -> Res<Conn> {
        let mut c = match WS_PORT.get().copied().flatten() {
            Some(p) => Conn::open_ws(SocketAddr::new(spec.addr.ip(), p), timeout)?,
            None => Conn::open(spec.addr, timeout)?,
        };
        let mut ops = match &spec.queue {
            Some(q) => format!("SUB {SUBJECT} {q} 1\r\n"),
            None => format!("SUB {SUBJECT} 1\r\n"),
        };
        ops.push_str(&format!("SUB {PROBE_PREFIX}{} 2\r\n", spec.index));
        c.send(ops.as_bytes())?;
        c.flush_pong(deadline)?;
        Ok(c)
    })();
    let mut c = match setup {
        Ok(c) => {
            let _ = ready.send(Ok(()));
            c
        }
        Err(e) => {
            let _ = ready.send(Err(e.clone()));
            return Err(e);
        }
    };
    drop(ready);
    let subject = SUBJECT.as_bytes();
    let mut count = 0u64;
    let mut done_at = None;
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let mut got = 0u64;
        let mut probe = false;
        let r = c.pump_until(deadline, &mut |ev| {
            if let Ev::Msg { subject: s, .. } = ev {
                if s == subject {
                    got += 1;
                } else if s.starts_with(PROBE_PREFIX.as_bytes()) {
                    probe = true;
                }
            }
        });
        if probe {
            probe_seen.store(true, Ordering::Release);
        }
        if got > 0 {
            count += got;
            let prev = shared.delivered.fetch_add(got, Ordering::AcqRel);
            let done = match spec.expect_own {
                Some(n) => count >= n,
                None => prev < spec.expect_total && prev + got >= spec.expect_total,
            };
            if done && done_at.is_none() {
                done_at = Some(Instant::now());
            }
        }
        match r {
            Ok(_) => {}
            Err(e) if e == "timed out" => break,
            Err(e) => {
                shared.stop.store(true, Ordering::Relaxed);
                return Err(format!("subscriber {}: {e}", spec.index));
            }
        }
        let finished = match spec.expect_own {
            Some(n) => count >= n,
            None => shared.delivered.load(Ordering::Acquire) >= spec.expect_total,
        };
        if finished {
            break;
        }
    }
    let complete = match spec.expect_own {
        Some(n) => count >= n,
        None => shared.delivered.load(Ordering::Acquire) >= spec.expect_total,
    };
    Ok(SubOutcome { count, done_at, complete })
}

/// Sends one probe per subscriber until each has seen its own probe, which
/// proves the subscription is registered end to end (also across routes).
fn wait_probes(pc: &mut Conn, seen: &[Arc<AtomicBool>], deadline: Instant) -> Res<u32> {
    let mut rounds = 0u32;
    loop {
        rounds += 1;
        let mut ops = Vec::new();
        for (i, s) in seen.iter().enumerate() {
            if !s.load(Ordering::Acquire) {
                ops.extend_from_slice(&pub_op(&format!("{PROBE_PREFIX}{i}"), None, b""));
            }
        }
        if ops.is_empty() {
            return Ok(rounds - 1);
        }
        pc.send(&ops)?;
        pc.flush_pong(deadline)?;
        let wait_until = (Instant::now() + Duration::from_millis(100)).min(deadline);
        while Instant::now() < wait_until && !seen.iter().all(|s| s.load(Ordering::Acquire)) {
            thread::sleep(Duration::from_millis(1));
        }
        if Instant::now() >= deadline || rounds >= 1000 {
            return Err("subscriptions not visible to the publisher (no route?)".into());
        }
    }
}

fn run_pubsub(o: &Opts, rep: &mut Report) -> Res<()> {
    let (nsubs, queue, fan): (usize, Option<String>, u64) = match o.scenario.as_str() {
        "pub" => (0, None, 0),
        "pubsub" | "routed" => (o.subs.unwrap_or(1), None, o.subs.unwrap_or(1) as u64),
        "fanout" => (o.subs.unwrap_or(5), None, o.subs.unwrap_or(5) as u64),
        "queue" => (o.subs.unwrap_or(4), Some("lgq".to_string()), 1),
        _ => usage(),
    };
    let pub_addr = addr(&o.host, o.port)?;
    let sub_addr = match (o.scenario.as_str(), o.port2) {
        ("routed", None) => return Err("routed needs --port2".into()),
        (_, Some(p)) => addr(&o.host, p)?,
        (_, None) => pub_addr,
    };
    let deadline = Instant::now() + o.timeout;
    let expect_total = o.msgs * fan;
    rep.add("msgs", o.msgs);
    rep.add("size", o.size);
    rep.add("subs", nsubs);
    rep.add("expected", expect_total);

    let shared = Arc::new(Shared { delivered: AtomicU64::new(0), stop: AtomicBool::new(false) });
    let (rtx, rrx) = mpsc::channel();
    let mut handles = Vec::new();
    let mut seen = Vec::new();
    for i in 0..nsubs {
        let flag = Arc::new(AtomicBool::new(false));
        seen.push(flag.clone());
        let spec = SubSpec {
            addr: sub_addr,
            queue: queue.clone(),
            index: i,
            expect_own: if queue.is_some() { None } else { Some(o.msgs) },
            expect_total,
        };
        let sh = shared.clone();
        let tx = rtx.clone();
        let to = o.timeout;
        handles.push(
            thread::Builder::new()
                .name(format!("sub{i}"))
                .spawn(move || run_sub(spec, sh, flag, tx, deadline, to))
                .map_err(|e| ioe("spawn", e))?,
        );
    }
    drop(rtx);
    let stop_all = |shared: &Shared| shared.stop.store(true, Ordering::Relaxed);
    for _ in 0..nsubs {
        let r = rrx.recv_timeout(o.timeout).map_err(|_| "subscriber setup timed out".to_string()).and_then(|r| r);
        if let Err(e) = r {
            stop_all(&shared);
            return Err(e);
        }
    }

    let mut pc = Conn::open(pub_addr, o.timeout)?;
    let probe_rounds = match wait_probes(&mut pc, &seen, deadline) {
        Ok(n) => n,
        Err(e) => {
            stop_all(&shared);
            return Err(e);
        }
    };
    rep.add("probe_rounds", probe_rounds);

    // One write carries many identical PUB operations.
    let body = payload(o.size);
    let op = pub_op(SUBJECT, None, &body);
    let per_batch = (BATCH_BYTES / op.len()).max(1);
    let batch: Vec<u8> = op.iter().copied().cycle().take(op.len() * per_batch).collect();
    let window = ((o.window / (op.len() + 16)) as u64).max(2 * per_batch as u64).max(1024);

    let cpu0 = self_cpu();
    let t0 = Instant::now();
    let mut sent = 0u64;
    let mut err = None;
    while sent < o.msgs {
        let k = (o.msgs - sent).min(per_batch as u64);
        if fan > 0 && o.window > 0 {
            // Keep at most `window` messages per subscriber in flight so no
            // server has to buffer without bound (slow-consumer protection).
            while (sent + k) * fan > shared.delivered.load(Ordering::Acquire) + window * fan {
                if shared.stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                    break;
                }
                thread::sleep(Duration::from_micros(50));
            }
            if shared.stop.load(Ordering::Relaxed) {
                err = Some("a subscriber failed".to_string());
                break;
            }
            if Instant::now() >= deadline {
                err = Some("timed out while publishing".to_string());
                break;
            }
        }
        if let Err(e) = pc.send(&batch[..k as usize * op.len()]) {
            err = Some(e);
            break;
        }
        sent += k;
    }
    let pub_write_done = Instant::now();
    if err.is_none() {
        if let Err(e) = pc.flush_pong(deadline) {
            err = Some(e);
        }
    }
    let pub_done = Instant::now();
    if err.is_some() {
        stop_all(&shared);
    }

    let mut delivered = 0u64;
    let mut last = None::<Instant>;
    let mut complete = true;
    for h in handles {
        match h.join() {
            Ok(Ok(r)) => {
                delivered += r.count;
                complete &= r.complete;
                if let Some(t) = r.done_at {
                    last = Some(last.map_or(t, |l: Instant| l.max(t)));
                }
            }
            Ok(Err(e)) => {
                complete = false;
                if err.is_none() {
                    err = Some(e);
                }
            }
            Err(_) => {
                complete = false;
                err.get_or_insert_with(|| "subscriber thread panicked".into());
            }
        }
    }
    let end = if nsubs == 0 { pub_done } else { last.unwrap_or_else(Instant::now).max(pub_write_done) };
    let elapsed = (end - t0).as_secs_f64().max(1e-9);
    let cpu = self_cpu() - cpu0;
    rep.add("elapsed_s", format!("{elapsed:.6}"));
    rep.add("published", sent);
    rep.add("delivered", delivered);
    rep.add("pub_per_s", format!("{:.0}", sent as f64 / elapsed));
    rep.add("delivered_per_s", format!("{:.0}", delivered as f64 / elapsed));
    rep.add("pub_elapsed_s", format!("{:.6}", (pub_done - t0).as_secs_f64()));
    rep.add("lg_cpu_s", format!("{cpu:.2}"));
    if let Some(e) = err {
        return Err(e);
    }
    if !complete || delivered < expect_total {
        return Err(format!("incomplete delivery: {delivered} of {expect_total}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Request / reply

fn run_reqrep(o: &Opts, rep: &mut Report) -> Res<()> {
    let req_addr = addr(&o.host, o.port)?;
    let resp_addr = match o.port2 {
        Some(p) => addr(&o.host, p)?,
        None => req_addr,
    };
    let deadline = Instant::now() + o.timeout;
    rep.add("msgs", o.msgs);
    rep.add("size", o.size);
    let shared = Arc::new(Shared { delivered: AtomicU64::new(0), stop: AtomicBool::new(false) });
    let (rtx, rrx) = mpsc::channel::<Res<()>>();
    let sh = shared.clone();
    let timeout = o.timeout;
    let responder = thread::Builder::new()
        .name("responder".into())
        .spawn(move || -> Res<u64> {
            let mut c = match Conn::open(resp_addr, timeout).and_then(|mut c| {
                c.send(format!("SUB {REQ_SUBJECT} 1\r\n").as_bytes())?;
                c.flush_pong(deadline)?;
                Ok(c)
            }) {
                Ok(c) => {
                    let _ = rtx.send(Ok(()));
                    c
                }
                Err(e) => {
                    let _ = rtx.send(Err(e.clone()));
                    return Err(e);
                }
            };
            let mut answered = 0u64;
            let mut out = Vec::with_capacity(4096);
            while !sh.stop.load(Ordering::Relaxed) {
                let r = c.pump_until(deadline, &mut |ev| {
                    if let Ev::Msg { reply: Some(r), payload, .. } = ev {
                        out.extend_from_slice(b"PUB ");
                        out.extend_from_slice(r);
                        out.extend_from_slice(format!(" {}\r\n", payload.len()).as_bytes());
                        out.extend_from_slice(payload);
                        out.extend_from_slice(b"\r\n");
                        answered += 1;
                    }
                });
                if !out.is_empty() {
                    c.send(&out)?;
                    out.clear();
                }
                match r {
                    Ok(_) => {}
                    Err(e) if e == "timed out" => break,
                    Err(e) => return Err(e),
                }
            }
            Ok(answered)
        })
        .map_err(|e| ioe("spawn", e))?;
    let setup = rrx.recv_timeout(o.timeout).map_err(|_| "responder setup timed out".to_string()).and_then(|r| r);
    let result = (|| -> Res<()> {
        setup?;
        let mut c = Conn::open(req_addr, o.timeout)?;
        c.send(format!("SUB {INBOX} 1\r\n").as_bytes())?;
        c.flush_pong(deadline)?;
        let req = pub_op(REQ_SUBJECT, Some(INBOX), &payload(o.size));
        let inbox = INBOX.as_bytes();
        // Warm-up request, retried until the responder is reachable.
        let mut warm = 0u32;
        loop {
            warm += 1;
            c.send(&req)?;
            let until = (Instant::now() + Duration::from_millis(200)).min(deadline);
            let mut got = 0u32;
            while got == 0 && Instant::now() < until {
                c.pump_until(until.max(Instant::now() + Duration::from_millis(1)), &mut |ev| {
                    if let Ev::Msg { subject, .. } = ev {
                        if subject == inbox {
                            got += 1;
                        }
                    }
                })
                .or_else(|e| if e == "timed out" { Ok(false) } else { Err(e) })?;
            }
            if got > 0 {
                break;
            }
            if Instant::now() >= deadline || warm >= 200 {
                return Err("no reply to warm-up request (no route?)".into());
            }
        }
        // Drain any late replies to earlier warm-up attempts.
        let drain_until = Instant::now() + Duration::from_millis(if warm > 1 { 300 } else { 0 });
        while Instant::now() < drain_until {
            c.pump_until(drain_until, &mut |_| {}).or_else(|e| if e == "timed out" { Ok(false) } else { Err(e) })?;
        }
        rep.add("warmup_rounds", warm);

        let mut lat: Vec<f64> = Vec::with_capacity(o.msgs as usize);
        let cpu0 = self_cpu();
        let t0 = Instant::now();
        if o.spin {
            // Busy-poll for replies instead of sleeping in read(): takes the
            // requester's wake-up latency out of the measurement.
            c.s.set_nonblocking(true).map_err(|e| ioe("nonblocking", e))?;
        }
        for _ in 0..o.msgs {
            let ts = Instant::now();
            c.send(&req)?;
            let mut got = false;
            while !got {
                if o.spin {
                    std::hint::spin_loop();
                }
                c.pump_until(deadline, &mut |ev| {
                    if let Ev::Msg { subject, .. } = ev {
                        if subject == inbox {
                            got = true;
                        }
                    }
                })
                .map_err(|e| format!("waiting for reply {}: {e}", lat.len()))?;
            }
            lat.push(ts.elapsed().as_secs_f64() * 1e6);
        }
        let elapsed = t0.elapsed().as_secs_f64().max(1e-9);
        let cpu = self_cpu() - cpu0;
        let n = lat.len() as u64;
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let pct = |p: f64| -> f64 {
            if lat.is_empty() {
                return 0.0;
            }
            let i = ((p / 100.0) * (lat.len() - 1) as f64).round() as usize;
            lat[i.min(lat.len() - 1)]
        };
        let mean = lat.iter().sum::<f64>() / (lat.len().max(1)) as f64;
        rep.add("elapsed_s", format!("{elapsed:.6}"));
        rep.add("published", n);
        rep.add("delivered", n);
        rep.add("pub_per_s", format!("{:.0}", n as f64 / elapsed));
        rep.add("delivered_per_s", format!("{:.0}", n as f64 / elapsed));
        rep.add("p50_us", format!("{:.1}", pct(50.0)));
        rep.add("p90_us", format!("{:.1}", pct(90.0)));
        rep.add("p99_us", format!("{:.1}", pct(99.0)));
        rep.add("max_us", format!("{:.1}", pct(100.0)));
        rep.add("mean_us", format!("{mean:.1}"));
        rep.add("lg_cpu_s", format!("{cpu:.2}"));
        Ok(())
    })();
    shared.stop.store(true, Ordering::Relaxed);
    let resp = responder.join();
    result?;
    match resp {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("responder: {e}")),
        Err(_) => Err("responder panicked".into()),
    }
}

// ---------------------------------------------------------------------------
// Idle connections

/// Spawns the server `o.msgs` times; each time measures how long its client
/// port takes to accept a connection (polled every 50 µs), then kills it.
fn run_startup(o: &Opts, rep: &mut Report) -> Res<()> {
    let bin = o.bin.as_deref().ok_or("startup needs --bin PATH")?;
    let a = addr(&o.host, o.port)?;
    let samples = o.msgs.clamp(1, 1000);
    let mut times = Vec::with_capacity(samples as usize);
    for _ in 0..samples {
        let t0 = Instant::now();
        let mut child = std::process::Command::new(bin)
            .args(["-a", &o.host, "-p", &o.port.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| ioe("spawn", e))?;
        let res = loop {
            if TcpStream::connect(a).is_ok() {
                break Ok(t0.elapsed());
            }
            if let Ok(Some(st)) = child.try_wait() {
                break Err(format!("server exited: {st}"));
            }
            if t0.elapsed() > o.timeout {
                break Err("server port not accepting".to_string());
            }
            thread::sleep(Duration::from_micros(50));
        };
        let _ = child.kill();
        let _ = child.wait();
        times.push(res?);
    }
    times.sort();
    let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1000.0);
    rep.add("samples", samples);
    rep.add("startup_ms_min", ms(times[0]));
    rep.add("startup_ms_median", ms(times[times.len() / 2]));
    rep.add("startup_ms_max", ms(times[times.len() - 1]));
    Ok(())
}

fn run_idle(o: &Opts, rep: &mut Report) -> Res<()> {
    let a = addr(&o.host, o.port)?;
    let t0 = Instant::now();
    let mut conns = Vec::with_capacity(o.conns);
    for i in 0..o.conns {
        let c = Conn::open(a, o.timeout.min(Duration::from_secs(10))).map_err(|e| format!("connection {i}: {e}"))?;
        // Shrink the per-connection buffer: these only ever see PING.
        let c = Conn { buf: vec![0u8; 512], ..c };
        conns.push(c);
        if t0.elapsed() > o.timeout {
            return Err(format!("timed out after {i} connections"));
        }
    }
    let connect_s = t0.elapsed().as_secs_f64();
    {
        let mut ready = Report::new("idle_ready");
        ready.add("conns", conns.len());
        ready.add("connect_s", format!("{connect_s:.3}"));
        ready.print();
    }
    // Hold until stdin has a line / is closed, or the hold time has passed.
    let (tx, rx) = mpsc::channel::<()>();
    thread::spawn(move || {
        let mut b = [0u8; 64];
        let _ = io::stdin().read(&mut b);
        let _ = tx.send(());
    });
    let until = Instant::now() + o.hold;
    let mut alive = conns.len();
    loop {
        let now = Instant::now();
        if now >= until {
            break;
        }
        // A pass over every connection costs a few syscalls each: keep it
        // rare so the idle clients hardly load the machine.
        if rx.recv_timeout((until - now).min(Duration::from_secs(5))).is_ok() {
            break;
        }
        // Answer the server's keep-alive PINGs so nobody is dropped.
        alive = 0;
        for c in conns.iter_mut() {
            let _ = c.s.set_nonblocking(true);
            let ok = match c.s.read(&mut c.buf[..]) {
                Ok(0) => false,
                Ok(n) => {
                    let pings = c.buf[..n].windows(4).filter(|w| w == b"PING").count();
                    (0..pings).all(|_| c.s.write_all(b"PONG\r\n").is_ok())
                }
                Err(e) => e.kind() == io::ErrorKind::WouldBlock,
            };
            let _ = c.s.set_nonblocking(false);
            alive += ok as usize;
        }
    }
    rep.add("conns", conns.len());
    rep.add("alive", alive);
    rep.add("connect_s", format!("{connect_s:.3}"));
    rep.add("held_s", format!("{:.3}", t0.elapsed().as_secs_f64() - connect_s));
    Ok(())
}

fn main() {
    let o = parse_opts();
    let mut rep = Report::new(&o.scenario);
    let _ = WS_PORT.set(o.ws_port);
    if let Err(e) = init_tls(o.tls_ca.as_deref()) {
        rep.add("ok", 0);
        rep.add("error", &e);
        rep.print();
        std::process::exit(1);
    }
    let r = match o.scenario.as_str() {
        "subjects" => run_subjects(&o, &mut rep),
        "conns" => run_conns(&o, &mut rep),
        "churn" | "pair" => run_churn(&o, &mut rep),
        "storm" => run_storm(&o, &mut rep),
        "pub" | "pubsub" | "fanout" | "queue" | "routed" => run_pubsub(&o, &mut rep),
        "reqrep" => run_reqrep(&o, &mut rep),
        "idle" => run_idle(&o, &mut rep),
        "startup" => run_startup(&o, &mut rep),
        "floor" => run_floor(&o, &mut rep),
        "relay" => run_relay(&o, &mut rep),
        "jspub" | "jsfill" | "jspull" => js::run_js(&o, &mut rep),
        _ => usage(),
    };
    match r {
        Ok(()) => {
            rep.add("ok", 1);
            rep.print();
        }
        Err(e) => {
            rep.add("ok", 0);
            rep.add("error", &e);
            rep.print();
            std::process::exit(1);
        }
    }
}
