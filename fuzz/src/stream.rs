//! Feeding a resumable parser the way a server feeds a connection, in
//! several ways, and requiring the same result from each.
//!
//! * whole: the input in one read, ops parsed at increasing offsets;
//! * append: reads of varying sizes appended to a buffer that keeps the
//!   unconsumed bytes, the parser called again after each read;
//! * server: the two-phase loop of the server's `feed` (finish a pending op
//!   in the connection buffer taking only the bytes it still needs, as told
//!   by `body_needed` or the next line end, then parse whole ops straight
//!   from the read and keep only a trailing partial op).

use rnats_protocol::ParseError;

use crate::Rng;

/// A parser under test, wrapped so that every op it returns is checked
/// against the buffer it came from and turned into an owned record.
pub trait Proto {
    type Rec: PartialEq + core::fmt::Debug;
    /// Parses the op at the start of `buf`: `Some((consumed, record))` for a
    /// whole op, `None` when more bytes are needed.
    fn step(&mut self, buf: &[u8]) -> Result<Option<(usize, Self::Rec)>, ParseError>;
    /// The parser's `body_needed`.
    fn body_needed(&self, buffered: usize) -> Option<usize>;
}

/// How a stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// A parse error; nothing after it is read.
    Error(ParseError),
    /// Out of input with `left` bytes of a partial op kept, and what the
    /// parser then says about its body.
    Pending { left: usize, body_needed: Option<usize> },
}

/// Everything a feeding strategy observed.
#[derive(Debug, PartialEq)]
pub struct Outcome<R> {
    pub ops: Vec<R>,
    pub end: End,
}

fn consumed_ok(len: usize, buffered: usize) {
    assert!(len > 0, "an op consumed no bytes");
    assert!(len <= buffered, "an op consumed {len} bytes of {buffered}");
}

/// The input as one read.
pub fn whole<P: Proto>(mut p: P, input: &[u8]) -> Outcome<P::Rec> {
    let mut ops = Vec::new();
    let mut pos = 0;
    while pos < input.len() {
        match p.step(&input[pos..]) {
            Ok(Some((len, rec))) => {
                consumed_ok(len, input.len() - pos);
                ops.push(rec);
                pos += len;
            }
            Ok(None) => break,
            Err(e) => return Outcome { ops, end: End::Error(e) },
        }
    }
    let left = input.len() - pos;
    let body_needed = p.body_needed(left);
    Outcome { ops, end: End::Pending { left, body_needed } }
}

/// Reads of the given sizes appended to a buffer that keeps unconsumed
/// bytes; the last read takes whatever the sizes left over.
pub fn append<P: Proto>(mut p: P, input: &[u8], sizes: &[usize]) -> Outcome<P::Rec> {
    let mut ops = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    for read in reads(input, sizes) {
        buf.extend_from_slice(read);
        while !buf.is_empty() {
            match p.step(&buf) {
                Ok(Some((len, rec))) => {
                    consumed_ok(len, buf.len());
                    ops.push(rec);
                    buf.drain(..len);
                }
                Ok(None) => break,
                Err(e) => return Outcome { ops, end: End::Error(e) },
            }
        }
    }
    let left = buf.len();
    let body_needed = p.body_needed(left);
    Outcome { ops, end: End::Pending { left, body_needed } }
}

/// The server's feeding loop over reads of the given sizes.
pub fn server<P: Proto>(mut p: P, input: &[u8], sizes: &[usize]) -> Outcome<P::Rec> {
    let mut ops = Vec::new();
    let mut inb: Vec<u8> = Vec::new();
    for mut data in reads(input, sizes) {
        if !inb.is_empty() {
            loop {
                let take = match p.body_needed(inb.len()) {
                    Some(need) => need.min(data.len()),
                    None => memchr_nl(data).map_or(data.len(), |i| i + 1),
                };
                inb.extend_from_slice(&data[..take]);
                data = &data[take..];
                match p.step(&inb) {
                    Ok(Some((len, rec))) => {
                        consumed_ok(len, inb.len());
                        ops.push(rec);
                        inb.drain(..len);
                        if inb.is_empty() {
                            break;
                        }
                    }
                    Ok(None) => {
                        if data.is_empty() {
                            break;
                        }
                        // Otherwise the loop takes more bytes; it must take some.
                        assert!(take > 0, "body_needed asked for nothing while the parser waits");
                    }
                    Err(e) => return Outcome { ops, end: End::Error(e) },
                }
            }
            if !inb.is_empty() {
                continue;
            }
        }
        let mut pos = 0;
        while pos < data.len() {
            match p.step(&data[pos..]) {
                Ok(Some((len, rec))) => {
                    consumed_ok(len, data.len() - pos);
                    ops.push(rec);
                    pos += len;
                }
                Ok(None) => {
                    inb.extend_from_slice(&data[pos..]);
                    break;
                }
                Err(e) => return Outcome { ops, end: End::Error(e) },
            }
        }
    }
    let left = inb.len();
    let body_needed = p.body_needed(left);
    Outcome { ops, end: End::Pending { left, body_needed } }
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|c| *c == b'\n')
}

/// Cuts `input` into reads of `sizes` (clamped), the rest as a last read.
fn reads<'a>(input: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = input;
    for &n in sizes {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at(n.min(rest.len()));
        out.push(a);
        rest = b;
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest);
    }
    out
}

/// Read sizes drawn from `seed`: runs of tiny, small and large reads.
pub fn plan(seed: u8, len: usize) -> Vec<usize> {
    let mut rng = Rng::new(u64::from(seed) + 1);
    let caps = [1usize, 2, 3, 5, 8, 17, 64, 300];
    let mut sizes = Vec::new();
    let mut total = 0;
    while total < len {
        let cap = caps[rng.below(caps.len())];
        let n = 1 + rng.below(cap);
        sizes.push(n);
        total += n;
    }
    sizes
}

/// Runs every strategy over `input` with parsers from `new` and panics
/// unless they all agree. `new(true)` is used for the whole-input run (the
/// one that does the expensive per-op checks).
pub fn check_all<P: Proto>(input: &[u8], seed: u8, new: impl Fn(bool) -> P) -> Outcome<P::Rec> {
    let reference = whole(new(true), input);
    let same = |name: &str, got: Outcome<P::Rec>| {
        assert_eq!(got, reference, "{name} differs from the whole-input parse");
    };
    let sizes = plan(seed, input.len());
    same("append", append(new(false), input, &sizes));
    same("server", server(new(false), input, &sizes));
    if input.len() <= 256 {
        let ones = vec![1; input.len()];
        same("append byte by byte", append(new(false), input, &ones));
        same("server byte by byte", server(new(false), input, &ones));
    }
    if input.len() <= 64 {
        for cut in 1..input.len() {
            same("append in two", append(new(false), input, &[cut]));
            same("server in two", server(new(false), input, &[cut]));
        }
    }
    reference
}
