//! Checks behind the fuzz targets, one module per parser of `rnats-protocol`.
//!
//! Each `check(data)` panics when the parser breaks one of its promises:
//! no panic on any input, never more bytes consumed than given, the same ops
//! and the same final error however the input is cut into reads, and
//! encode/parse round trips that give back what was parsed. The fuzz
//! targets in `fuzz_targets/` call them with libFuzzer's inputs;
//! `tests/seeds.rs` replays the seed corpus through them on a stable
//! toolchain. `stream` feeds a resumable parser in every way a server
//! might, and `frames` holds what the client and route checks share.

pub mod client;
pub mod conf;
pub mod frames;
pub mod http;
pub mod json;
pub mod jsapi;
pub mod jsstore;
pub mod leaf;
pub mod route;
pub mod stream;
pub mod ws;

/// A small deterministic generator (xorshift64*), seeded from fuzz bytes so
/// that every choice it makes is reproducible from the crashing input.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Never zero: xorshift would stay at zero forever.
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// True when `part` lies inside `whole` (same allocation, in bounds).
pub fn within(whole: &[u8], part: &[u8]) -> bool {
    let w = whole.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    part.is_empty() || (p >= w && p + part.len() <= w + whole.len())
}
