//! The handshake's key arithmetic: SHA-1, base64 and the
//! `Sec-WebSocket-Accept` value derived from a client's key (RFC 6455
//! §4.2.2). SHA-1 is used for nothing else.

/// The GUID RFC 6455 appends to the client's key before hashing.
pub const WS_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// SHA-1 (FIPS 180-4) of the concatenation of `parts`.
pub fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    let mut block = [0u8; 64];
    let mut filled = 0;
    let mut total: u64 = 0;
    for part in parts {
        total = total.wrapping_add(part.len() as u64);
        for &b in *part {
            block[filled] = b;
            filled += 1;
            if filled == 64 {
                sha1_block(&mut h, &block);
                filled = 0;
            }
        }
    }
    // Padding: 0x80, zeros, then the message length in bits in the last
    // 8 bytes of a block (a second block when fewer than 9 bytes are free).
    block[filled] = 0x80;
    filled += 1;
    if filled > 56 {
        block[filled..].fill(0);
        sha1_block(&mut h, &block);
        filled = 0;
    }
    block[filled..56].fill(0);
    block[56..].copy_from_slice(&total.wrapping_mul(8).to_be_bytes());
    sha1_block(&mut h, &block);
    let mut out = [0u8; 20];
    for (dst, word) in out.chunks_exact_mut(4).zip(h) {
        dst.copy_from_slice(&word.to_be_bytes());
    }
    out
}

fn sha1_block(h: &mut [u32; 5], block: &[u8; 64]) {
    let mut w = [0u32; 80];
    for (dst, src) in w.iter_mut().zip(block.chunks_exact(4)) {
        *dst = u32::from_be_bytes([src[0], src[1], src[2], src[3]]);
    }
    for i in 16..80 {
        w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
    }
    let [mut a, mut b, mut c, mut d, mut e] = *h;
    for (i, wi) in w.iter().enumerate() {
        let (f, k) = match i {
            0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
            20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
            40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
            _ => (b ^ c ^ d, 0xCA62_C1D6),
        };
        let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
        e = d;
        d = c;
        c = b.rotate_left(30);
        b = a;
        a = t;
    }
    for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
        *x = x.wrapping_add(y);
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends the standard base64 form (RFC 4648 §4, with `=` padding) of
/// `data`.
pub fn base64_encode(out: &mut Vec<u8>, data: &[u8]) {
    for chunk in data.chunks(3) {
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = u32::from(chunk[0]) << 16 | u32::from(b1) << 8 | u32::from(b2);
        let sextet = |shift: u32| ALPHABET[((n >> shift) & 63) as usize];
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { b'=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { b'=' });
    }
}

fn sextet_value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes standard base64 the way Go's `base64.StdEncoding` does: padding
/// is required, `\r` and `\n` anywhere are skipped, nothing may follow the
/// padding, and the unused low bits of the last symbol are not checked.
/// `None` for anything else.
pub fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut symbols = s.iter().copied().filter(|c| *c != b'\r' && *c != b'\n');
    let mut quantum = 0u32;
    let mut count = 0;
    while let Some(c) = symbols.next() {
        if c == b'=' {
            // `xx==` or `xxx=`, and then the end of the input.
            match count {
                2 if symbols.next() == Some(b'=') => {}
                3 => {}
                _ => return None,
            }
            if symbols.next().is_some() {
                return None;
            }
            quantum <<= 6 * (4 - count);
            let bytes = quantum.to_be_bytes();
            out.extend_from_slice(&bytes[1..count]);
            return Some(out);
        }
        quantum = quantum << 6 | sextet_value(c)?;
        count += 1;
        if count == 4 {
            out.extend_from_slice(&quantum.to_be_bytes()[1..]);
            quantum = 0;
            count = 0;
        }
    }
    (count == 0).then_some(out)
}

/// Whether a `Sec-WebSocket-Key` value is the base64 form of 16 bytes, as
/// Go (2.11.14+, 2.12.5+) requires: 22 symbols and `==`.
pub fn is_valid_key(key: &[u8]) -> bool {
    base64_decode(key).is_some_and(|k| k.len() == 16)
}

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`:
/// base64(SHA-1(key + GUID)), always 28 bytes.
pub fn accept_key(key: &[u8]) -> [u8; 28] {
    let mut out = Vec::with_capacity(28);
    base64_encode(&mut out, &sha1(&[key, WS_GUID]));
    let mut fixed = [0u8; 28];
    fixed.copy_from_slice(&out);
    fixed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: &[u8]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha1_vectors() {
        // FIPS 180-4 examples and RFC 3174.
        assert_eq!(hex(&sha1(&[b""])), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(hex(&sha1(&[b"abc"])), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            hex(&sha1(&[b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"])),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(hex(&sha1(&[&[b'a'; 1_000_000]])), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
        // Lengths around the padding boundaries (bytes 0, 1, 2, ...).
        let bytes: Vec<u8> = (0..=255).collect();
        for (n, want) in [
            (55, "8ae2d46729cfe68ff927af5eec9c7d1b66d65ac2"),
            (56, "636e2ec698dac903498e648bd2f3af641d3c88cb"),
            (63, "6d942da0c4392b123528f2905c713a3ce28364bd"),
            (64, "c6138d514ffa2135bfce0ed0b8fac65669917ec7"),
            (65, "69bd728ad6e13cd76ff19751fde427b00e395746"),
            (119, "41c89d06001bab4ab78736b44efe7ce18ce6ae08"),
            (120, "d3dbd653bd8597b7475321b60a36891278e6a04a"),
            (127, "89d7312a903f65cd2b3e34a975e55dbea9033353"),
            (128, "e6434bc401f98603d7eda504790c98c67385d535"),
        ] {
            assert_eq!(hex(&sha1(&[&bytes[..n]])), want, "{n} bytes");
            // The same bytes given in pieces.
            for cut in [0, 1, n / 2, n] {
                assert_eq!(hex(&sha1(&[&bytes[..cut], &bytes[cut..n]])), want, "{n} bytes cut at {cut}");
            }
        }
    }

    #[test]
    fn base64_vectors() {
        // RFC 4648 §10.
        for (plain, encoded) in [
            (&b""[..], &b""[..]),
            (b"f", b"Zg=="),
            (b"fo", b"Zm8="),
            (b"foo", b"Zm9v"),
            (b"foob", b"Zm9vYg=="),
            (b"fooba", b"Zm9vYmE="),
            (b"foobar", b"Zm9vYmFy"),
        ] {
            let mut out = Vec::new();
            base64_encode(&mut out, plain);
            assert_eq!(out, encoded);
            assert_eq!(base64_decode(encoded).as_deref(), Some(plain));
        }
        let all: Vec<u8> = (0..=255).collect();
        let mut out = Vec::new();
        base64_encode(&mut out, &all);
        assert_eq!(base64_decode(&out), Some(all));
        // Go's StdEncoding: line breaks skipped, padding required, unused
        // bits not checked, nothing after the padding.
        assert_eq!(base64_decode(b"Zm9v\r\nYmFy").as_deref(), Some(&b"foobar"[..]));
        assert_eq!(base64_decode(b"Zh==").as_deref(), Some(&b"f"[..]));
        for bad in [&b"Zg"[..], b"Zg=", b"Z===", b"Zg==Zg==", b"Zm9v=", b"Zm9v Zg==", b"Zm-v", b"Zg=x"] {
            assert_eq!(base64_decode(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn keys() {
        // RFC 6455 §1.3.
        assert_eq!(&accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        // Observed from Go 2.15.1 for a key with unused bits set.
        assert_eq!(&accept_key(b"AAAAAAAAAAAAAAAAAAAAAB=="), b"NRJrplgTSmBqvVaQhF+6peBS1S8=");
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(is_valid_key(b"AAAAAAAAAAAAAAAAAAAAAB=="));
        for bad in [&b""[..], b"abc", b"AAAAAAAAAAAAAAAAAAAAAA", b"AAAAAAAAAAAAAAAAAAAAAAA=", b"Zm9vYmFy"] {
            assert!(!is_valid_key(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
