//! bcrypt password hashes (`$2a$`, `$2b$`, `$2y$`), as the Go server accepts
//! them in `authorization` blocks: the EksBlowfish key schedule of Provos
//! and Mazières, checked against the hash in constant time.
//!
//! Blowfish's initial P-array and S-boxes are the hexadecimal digits of pi.
//! Rather than carrying 4 KiB of constants, they are computed once, on first
//! use, with Machin's formula `pi = 16 atan(1/5) - 4 atan(1/239)` in
//! fixed-point arithmetic (a few milliseconds).

use std::sync::OnceLock;

/// Fractional words of pi after the 18 P-array and 1024 S-box words.
const PI_WORDS: usize = 18 + 4 * 256;
/// Extra words of precision below the last word used.
const GUARD: usize = 3;

/// Fixed-point number: word 0 is the integer part, then fraction words,
/// most significant first.
type Fixed = Vec<u32>;

fn div_small(a: &mut Fixed, d: u32) {
    let mut rem: u64 = 0;
    for w in a.iter_mut() {
        let cur = (rem << 32) | *w as u64;
        *w = (cur / d as u64) as u32;
        rem = cur % d as u64;
    }
}

fn add(a: &mut Fixed, b: &Fixed) {
    let mut carry = 0u64;
    for i in (0..a.len()).rev() {
        let s = a[i] as u64 + b[i] as u64 + carry;
        a[i] = s as u32;
        carry = s >> 32;
    }
}

fn sub(a: &mut Fixed, b: &Fixed) {
    let mut borrow = 0i64;
    for i in (0..a.len()).rev() {
        let mut d = a[i] as i64 - b[i] as i64 - borrow;
        borrow = 0;
        if d < 0 {
            d += 1 << 32;
            borrow = 1;
        }
        a[i] = d as u32;
    }
}

/// `mult * atan(1/x)` in fixed point.
fn atan_inv(x: u32, mult: u32, len: usize) -> Fixed {
    let mut sum = vec![0u32; len];
    let mut power = vec![0u32; len];
    power[0] = mult;
    div_small(&mut power, x);
    let x2 = x * x;
    let mut k: u32 = 0;
    let mut term = vec![0u32; len];
    while power.iter().any(|w| *w != 0) {
        term.copy_from_slice(&power);
        div_small(&mut term, 2 * k + 1);
        if k.is_multiple_of(2) {
            add(&mut sum, &term);
        } else {
            sub(&mut sum, &term);
        }
        div_small(&mut power, x2);
        k += 1;
    }
    sum
}

/// The first `PI_WORDS` 32-bit words of the fractional part of pi.
fn pi_words() -> &'static [u32] {
    static PI: OnceLock<Vec<u32>> = OnceLock::new();
    PI.get_or_init(|| {
        let len = 1 + PI_WORDS + GUARD;
        let mut pi = atan_inv(5, 16, len);
        sub(&mut pi, &atan_inv(239, 4, len));
        pi[1..=PI_WORDS].to_vec()
    })
}

struct Blowfish {
    p: [u32; 18],
    s: [[u32; 256]; 4],
}

/// The next 32 bits of `data`, read cyclically from `*pos`.
fn stream_word(data: &[u8], pos: &mut usize) -> u32 {
    let mut w = 0u32;
    for _ in 0..4 {
        w = (w << 8) | data[*pos % data.len()] as u32;
        *pos = (*pos + 1) % data.len();
    }
    w
}

impl Blowfish {
    fn initial() -> Blowfish {
        let pi = pi_words();
        let mut b = Blowfish { p: [0; 18], s: [[0; 256]; 4] };
        b.p.copy_from_slice(&pi[..18]);
        for (i, sbox) in b.s.iter_mut().enumerate() {
            sbox.copy_from_slice(&pi[18 + i * 256..18 + (i + 1) * 256]);
        }
        b
    }

    #[inline]
    fn f(&self, x: u32) -> u32 {
        let s = &self.s;
        (s[0][(x >> 24) as usize].wrapping_add(s[1][(x >> 16 & 0xff) as usize]) ^ s[2][(x >> 8 & 0xff) as usize])
            .wrapping_add(s[3][(x & 0xff) as usize])
    }

    #[inline]
    fn encrypt(&self, l: &mut u32, r: &mut u32) {
        let (mut a, mut b) = (*l, *r);
        for i in 0..16 {
            a ^= self.p[i];
            b ^= self.f(a);
            std::mem::swap(&mut a, &mut b);
        }
        std::mem::swap(&mut a, &mut b);
        b ^= self.p[16];
        a ^= self.p[17];
        *l = a;
        *r = b;
    }

    /// Mixes `key` into P, then re-encrypts all of P and S, each block
    /// XORed with the next words of `salt` (when given).
    fn expand(&mut self, salt: Option<&[u8]>, key: &[u8]) {
        let mut kpos = 0;
        for i in 0..18 {
            self.p[i] ^= stream_word(key, &mut kpos);
        }
        let (mut l, mut r) = (0u32, 0u32);
        let mut spos = 0;
        let mut next = |l: &mut u32, r: &mut u32| {
            if let Some(s) = salt {
                *l ^= stream_word(s, &mut spos);
                *r ^= stream_word(s, &mut spos);
            }
        };
        for i in (0..18).step_by(2) {
            next(&mut l, &mut r);
            self.encrypt(&mut l, &mut r);
            self.p[i] = l;
            self.p[i + 1] = r;
        }
        for b in 0..4 {
            for j in (0..256).step_by(2) {
                next(&mut l, &mut r);
                self.encrypt(&mut l, &mut r);
                self.s[b][j] = l;
                self.s[b][j + 1] = r;
            }
        }
    }
}

const ALPHABET: &[u8; 64] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn encode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]);
        }
    }
    out
}

fn decode(text: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(len);
    for c in text {
        let v = ALPHABET.iter().position(|a| a == c)? as u32;
        bits = bits << 6 | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
        if out.len() == len {
            break;
        }
    }
    (out.len() == len).then_some(out)
}

/// Whether `text` looks like a bcrypt hash this module can check.
pub fn is_hash(text: &str) -> bool {
    parse(text).is_some()
}

/// (cost, salt, the 31 characters of the hash).
fn parse(text: &str) -> Option<(u32, Vec<u8>, &[u8])> {
    let b = text.as_bytes();
    if b.len() != 60 || b[0] != b'$' || b[1] != b'2' || !matches!(b[2], b'a' | b'b' | b'y') || b[3] != b'$' {
        return None;
    }
    if b[6] != b'$' || !b[4].is_ascii_digit() || !b[5].is_ascii_digit() {
        return None;
    }
    let cost = ((b[4] - b'0') * 10 + (b[5] - b'0')) as u32;
    if !(4..=31).contains(&cost) {
        return None;
    }
    let salt = decode(&b[7..29], 16)?;
    Some((cost, salt, &b[29..]))
}

/// The 23-byte bcrypt output for `password` with `cost` and `salt`.
fn hash_raw(password: &[u8], cost: u32, salt: &[u8]) -> [u8; 23] {
    let mut key: Vec<u8> = password.iter().copied().take(72).collect();
    if key.len() < 72 {
        key.push(0);
    }
    let mut bf = Blowfish::initial();
    bf.expand(Some(salt), &key);
    for _ in 0..(1u64 << cost) {
        bf.expand(None, &key);
        bf.expand(None, salt);
    }
    let magic = b"OrpheanBeholderScryDoubt";
    let mut pos = 0;
    let mut c = [0u32; 6];
    for w in c.iter_mut() {
        *w = stream_word(magic, &mut pos);
    }
    for _ in 0..64 {
        for i in (0..6).step_by(2) {
            let (mut l, mut r) = (c[i], c[i + 1]);
            bf.encrypt(&mut l, &mut r);
            c[i] = l;
            c[i + 1] = r;
        }
    }
    let mut out = [0u8; 23];
    for (i, b) in out.iter_mut().enumerate() {
        *b = (c[i / 4] >> (24 - 8 * (i % 4))) as u8;
    }
    out
}

/// Checks `password` against a bcrypt `hash` (false if it is not one).
pub fn verify(password: &[u8], hash: &str) -> bool {
    let Some((cost, salt, expected)) = parse(hash) else { return false };
    let got = encode(&hash_raw(password, cost, &salt));
    // Constant time over the fixed-length encodings.
    got.len() == expected.len() && got.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pi_constants() {
        let pi = pi_words();
        assert_eq!(&pi[..4], &[0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344]);
        assert_eq!(pi[17], 0x8979FB1B, "last P word");
        assert_eq!(pi[18], 0xD1310BA6, "first S-box word");
        assert_eq!(pi[PI_WORDS - 1], 0x3AC372E6, "last S-box word");
    }

    #[test]
    fn known_hashes() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "$2a$04$5DeYUJ0mdewnpLFzNEIMCu2UPUfpI.GREkTYrkkaaitJFyD8dVc2O"),
            (b"password", "$2a$04$CdKb2XGQDKXDgmLvP68ZweY7euG1DVdLCWzWE5F78.b9wRS2eYDx."),
            (b"s3cr3t", "$2a$05$CPVfWIWHYCbHoaMeiWvCC..0rHzOb1andS9T3XkcbHJxsf3mkb1.m"),
            (&[b'x'; 72], "$2a$04$k0ATZMUo7ZoeC5xUpJzKSuKvZ9khzO6HfTsJMx1VPxn1U3MsxdYxC"),
            ("\u{20ac} uni".as_bytes(), "$2a$04$IRP5F7s5aFVgT0NONvvhnuHx5y/kRV/Z.sCzCmXu3lUWOUcVELjqS"),
            (b"T0pS3cr3t", "$2b$06$abcdefghijklmnopqrstuuz8xj/nVThapxtPFOApmjtA.h6Lh4hTq"),
        ];
        for (pw, hash) in cases {
            assert!(is_hash(hash));
            assert!(verify(pw, hash), "{hash}");
            let mut wrong = pw.to_vec();
            wrong.push(b'!');
            assert!(!verify(&wrong, hash) || pw.len() >= 72, "{hash}");
        }
        assert!(!verify(b"password", "$2a$04$short"));
        assert!(!is_hash("plain"));
        assert!(!is_hash("$2a$99$CdKb2XGQDKXDgmLvP68ZweY7euG1DVdLCWzWE5F78.b9wRS2eYDx."));
    }
}
