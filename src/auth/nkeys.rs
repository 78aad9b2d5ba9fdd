//! NKey authentication, as the Go server does it: a user is named by its
//! Ed25519 public key, written as an nkey (base32 without padding of a
//! prefix byte, the 32-byte key and a CRC16 of both, little-endian). The
//! server sends a fresh random nonce in each client's INFO; the client
//! answers in CONNECT with `nkey` (its public key) and `sig` (its Ed25519
//! signature of the nonce, base64url without padding, or standard base64).
//!
//! The signature is checked with the Ed25519 of the TLS crypto provider, so
//! a build without the `tls` feature cannot check one: there, nkey users
//! are refused when the configuration is read, and [`verify`] fails.

use std::fmt;

/// Prefix byte of a user's public key (base32 `U…`).
pub const PREFIX_USER: u8 = 20 << 3;
/// Random bytes in a nonce, and the length of its base64url text.
const NONCE_RAW_LEN: usize = 11;
pub const NONCE_LEN: usize = 15;
/// Characters of an encoded public key: 1 + 32 + 2 bytes in base32.
const PUBLIC_KEY_LEN: usize = 56;

/// Why a public key string is not a valid user key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Not base32, or not the length of a public key.
    Encoding,
    /// The checksum does not match.
    Checksum,
    /// A valid key of another kind (account, server, …).
    Prefix,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::Encoding => "nkeys: invalid encoded key",
            KeyError::Checksum => "nkeys: invalid checksum",
            KeyError::Prefix => "nkeys: invalid prefix byte",
        })
    }
}

/// CRC16 as the nkeys library computes it (XMODEM: polynomial 0x1021,
/// initial value 0, no reflection).
fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// RFC 4648 base32 (upper-case alphabet) without padding; `None` on any
/// other character.
fn base32_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        acc = (acc << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The raw Ed25519 key of a user's public nkey (`U…`), its checksum
/// checked.
pub fn decode_user_key(s: &str) -> Result<[u8; 32], KeyError> {
    if s.len() != PUBLIC_KEY_LEN {
        return Err(KeyError::Encoding);
    }
    let raw = base32_decode(s.as_bytes()).ok_or(KeyError::Encoding)?;
    let (body, crc) = raw.split_at(raw.len() - 2);
    if crc16(body) != u16::from_le_bytes([crc[0], crc[1]]) {
        return Err(KeyError::Checksum);
    }
    if body[0] != PREFIX_USER {
        return Err(KeyError::Prefix);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&body[1..]);
    Ok(key)
}

/// Value of a base64 character in the URL-safe (`url`) or standard
/// alphabet.
fn b64_value(c: u8, url: bool) -> Option<u8> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' if url => 62,
        b'_' if url => 63,
        b'+' if !url => 62,
        b'/' if !url => 63,
        _ => return None,
    })
}

/// Base64 without padding (`url`: URL-safe alphabet), or with exactly the
/// padding the standard encoding writes.
fn base64_decode(s: &[u8], url: bool) -> Option<Vec<u8>> {
    let body = if url {
        s
    } else {
        if !s.len().is_multiple_of(4) {
            return None;
        }
        let pad = s.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return None;
        }
        &s[..s.len() - pad]
    };
    if body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in body {
        acc = (acc << 6) | u32::from(b64_value(c, url)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The signature bytes of CONNECT's `sig`: base64url without padding, or
/// else standard base64, as Go accepts both.
pub fn decode_sig(s: &str) -> Option<Vec<u8>> {
    base64_decode(s.as_bytes(), true).or_else(|| base64_decode(s.as_bytes(), false))
}

/// Base64url without padding of `raw`.
fn base64url_encode(raw: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in raw {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
    }
}

/// Prefix bits of a seed (base32 `S…`), in the first byte.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
const PREFIX_SEED: u8 = 18 << 3;

/// RFC 4648 base32 (upper-case alphabet) without padding.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
fn base32_encode(raw: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(raw.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in raw {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The nkey text (`U…`) of a user's raw public key.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub fn encode_user_key(key: &[u8; 32]) -> String {
    let mut raw = Vec::with_capacity(35);
    raw.push(PREFIX_USER);
    raw.extend_from_slice(key);
    let crc = crc16(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    base32_encode(&raw)
}

/// The raw 32-byte Ed25519 seed of a user seed (`SU…`), its checksum
/// checked.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub fn decode_user_seed(s: &str) -> Result<[u8; 32], KeyError> {
    let raw = base32_decode(s.trim().as_bytes()).ok_or(KeyError::Encoding)?;
    if raw.len() != 36 {
        return Err(KeyError::Encoding);
    }
    let (body, crc) = raw.split_at(34);
    if crc16(body) != u16::from_le_bytes([crc[0], crc[1]]) {
        return Err(KeyError::Checksum);
    }
    let kind = ((body[0] & 7) << 5) | (body[1] >> 3);
    if body[0] & 0xf8 != PREFIX_SEED || kind != PREFIX_USER {
        return Err(KeyError::Prefix);
    }
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&body[2..]);
    Ok(seed)
}

/// Signs `msg` with the user seed `seed` (`SU…`): the user's public nkey
/// and the signature as base64url without padding, as a Go leaf node
/// signs a hub's nonce. Errors name what is wrong with the seed.
#[cfg(feature = "tls")]
pub fn sign(seed: &str, msg: &[u8]) -> Result<(String, String), String> {
    use ring::signature::KeyPair;
    let raw = decode_user_seed(seed).map_err(|e| e.to_string())?;
    let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&raw).map_err(|e| format!("nkeys: {e}"))?;
    let public: [u8; 32] = pair.public_key().as_ref().try_into().map_err(|_| "nkeys: invalid public key")?;
    let mut sig = String::with_capacity(86);
    base64url_encode(pair.sign(msg).as_ref(), &mut sig);
    Ok((encode_user_key(&public), sig))
}

/// The user JWT and seed of a credentials file (`.creds`): the bodies of
/// its first two armored blocks (a line of dashes, one line of
/// `[A-Za-z0-9_-.=]`, a line of dashes), as Go reads them.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub fn parse_creds(text: &str) -> Option<(String, String)> {
    let dashes = |l: &str| {
        let l = l.trim();
        l.len() >= 6 && l.starts_with("---") && l.ends_with("---")
    };
    let token = |l: &str| {
        let l = l.trim();
        !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'='))
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i + 2 < lines.len() {
        if dashes(lines[i]) && token(lines[i + 1]) && dashes(lines[i + 2]) {
            found.push(lines[i + 1].trim().to_string());
            if found.len() == 2 {
                break;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut it = found.into_iter();
    Some((it.next()?, it.next()?))
}

/// A fresh nonce for a client's INFO: 11 random bytes in base64url
/// without padding (15 characters), as Go makes it. `None` when no random
/// bytes could be had (or in a build without the crypto provider): the
/// client then cannot log in with an nkey.
pub fn new_nonce() -> Option<String> {
    let mut raw = [0u8; NONCE_RAW_LEN];
    if !fill_random(&mut raw) {
        return None;
    }
    let mut s = String::with_capacity(NONCE_LEN);
    base64url_encode(&raw, &mut s);
    Some(s)
}

#[cfg(feature = "tls")]
fn fill_random(buf: &mut [u8]) -> bool {
    rustls::crypto::ring::default_provider().secure_random.fill(buf).is_ok()
}

#[cfg(not(feature = "tls"))]
fn fill_random(_buf: &mut [u8]) -> bool {
    false
}

/// Whether `sig` is `key`'s Ed25519 signature of `msg`, checked with the
/// TLS crypto provider's Ed25519 verifier.
#[cfg(feature = "tls")]
pub fn verify(key: &[u8; 32], msg: &[u8], sig: &[u8]) -> bool {
    let provider = rustls::crypto::ring::default_provider();
    let algs = provider.signature_verification_algorithms.mapping;
    let Some((_, ed25519)) = algs.iter().find(|(scheme, _)| *scheme == rustls::SignatureScheme::ED25519) else {
        return false;
    };
    ed25519.first().is_some_and(|alg| alg.verify_signature(key, msg, sig).is_ok())
}

/// Without the crypto provider nothing verifies (nkey users are refused
/// at start in such a build).
#[cfg(not(feature = "tls"))]
pub fn verify(_key: &[u8; 32], _msg: &[u8], _sig: &[u8]) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Public key of the seed `SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU`.
    const KEY: &str = "UCK5N7N66OBOINFXAYC2ACJQYFSOD4VYNU6APEJTAVFZB2SVHLKGEW7L";
    const NONCE: &str = "p2kYc5x8H9UQ1Zm";
    /// That seed's signature of NONCE, base64url without padding and
    /// standard base64 (as the nkeys library and nats-py make them).
    const SIG_URL: &str = "qNNkShoUh0N-3tRji8IQ4UTJ0CPGBg_P6LPOsKqW1xif9cbeyHn55gj5oPajO_UigtGmImKIeyYPR_5WyxW5Cw";
    const SIG_STD: &str = "qNNkShoUh0N+3tRji8IQ4UTJ0CPGBg/P6LPOsKqW1xif9cbeyHn55gj5oPajO/UigtGmImKIeyYPR/5WyxW5Cw==";

    /// Encodes a key with `prefix` the way the nkeys library does.
    fn encode(prefix: u8, key: &[u8; 32]) -> String {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut raw = vec![prefix];
        raw.extend_from_slice(key);
        let crc = crc16(&raw);
        raw.extend_from_slice(&crc.to_le_bytes());
        let (mut acc, mut bits, mut s) = (0u32, 0u32, String::new());
        for b in raw {
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                s.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
            }
            acc &= (1 << bits) - 1;
        }
        assert_eq!(bits, 0);
        s
    }

    #[test]
    fn crc16_xmodem() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(crc16(b""), 0);
    }

    #[test]
    fn user_key_decodes_and_round_trips() {
        let key = decode_user_key(KEY).expect("valid key");
        assert_eq!(encode(PREFIX_USER, &key), KEY);
    }

    #[test]
    fn corrupted_keys_are_refused() {
        // One character changed: the checksum no longer matches.
        let mut bad = KEY.as_bytes().to_vec();
        bad[10] = if bad[10] == b'A' { b'B' } else { b'A' };
        assert_eq!(decode_user_key(std::str::from_utf8(&bad).unwrap()), Err(KeyError::Checksum));
        // Characters outside the alphabet, wrong lengths.
        assert_eq!(decode_user_key(&KEY.to_lowercase()), Err(KeyError::Encoding));
        assert_eq!(decode_user_key(&KEY.replace('K', "1")), Err(KeyError::Encoding));
        assert_eq!(decode_user_key(&KEY[..55]), Err(KeyError::Encoding));
        assert_eq!(decode_user_key(&format!("{KEY}A")), Err(KeyError::Encoding));
        assert_eq!(decode_user_key(""), Err(KeyError::Encoding));
        assert_eq!(decode_user_key("UABC"), Err(KeyError::Encoding));
        // Valid keys of other kinds: account (A…), server (N…), seed prefix.
        let key = decode_user_key(KEY).unwrap();
        for prefix in [0u8, 13 << 3, 2 << 3, 18 << 3] {
            let other = encode(prefix, &key);
            assert_eq!(decode_user_key(&other), Err(KeyError::Prefix), "{other}");
        }
    }

    #[test]
    fn signature_encodings() {
        let url = decode_sig(SIG_URL).expect("base64url");
        assert_eq!(url.len(), 64);
        assert_eq!(decode_sig(SIG_STD), Some(url));
        assert_eq!(decode_sig("not base64!"), None);
        assert_eq!(decode_sig("QUJD="), None, "bad padding");
        assert_eq!(decode_sig("QUJDRA=="), Some(b"ABCD".to_vec()));
        assert_eq!(decode_sig("QUJDRA"), Some(b"ABCD".to_vec()));
        assert_eq!(decode_sig("Q"), None);
    }

    #[test]
    fn nonce_encoding() {
        let mut s = String::new();
        base64url_encode(&[0xfb, 0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08], &mut s);
        assert_eq!(s, "-_8AAQIDBAUGBwg");
        assert_eq!(s.len(), NONCE_LEN);
    }

    #[cfg(feature = "tls")]
    #[test]
    fn nonces_are_fresh() {
        let (a, b) = (new_nonce().unwrap(), new_nonce().unwrap());
        assert_eq!(a.len(), NONCE_LEN);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| b64_value(c, true).is_some()));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn signature_verifies() {
        let key = decode_user_key(KEY).unwrap();
        let sig = decode_sig(SIG_URL).unwrap();
        assert!(verify(&key, NONCE.as_bytes(), &sig));
        assert!(!verify(&key, b"p2kYc5x8H9UQ1Zn", &sig), "another nonce");
        let mut bad = sig.clone();
        bad[5] ^= 1;
        assert!(!verify(&key, NONCE.as_bytes(), &bad), "a flipped bit");
        assert!(!verify(&key, NONCE.as_bytes(), &sig[..63]), "short signature");
        let mut other = key;
        other[0] ^= 1;
        assert!(!verify(&other, NONCE.as_bytes(), &sig), "another key");
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn nothing_verifies_without_the_crypto_provider() {
        let key = decode_user_key(KEY).unwrap();
        assert!(!verify(&key, NONCE.as_bytes(), &decode_sig(SIG_URL).unwrap()));
        assert_eq!(new_nonce(), None);
    }

    const SEED: &str = "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU";

    #[test]
    fn a_seed_signs_as_the_nkeys_library_does() {
        assert!(decode_user_seed(SEED).is_ok());
        assert_eq!(decode_user_seed(KEY), Err(KeyError::Encoding));
        assert_eq!(decode_user_seed(&SEED.replace("SUAM", "SUAN")), Err(KeyError::Checksum));
        #[cfg(feature = "tls")]
        {
            let (public, sig) = sign(SEED, NONCE.as_bytes()).expect("signs");
            assert_eq!((public.as_str(), sig.as_str()), (KEY, SIG_URL));
        }
    }

    #[test]
    fn a_creds_file_gives_its_jwt_and_seed() {
        let text = format!(
            "-----BEGIN NATS USER JWT-----\r\neyJ0.eyJ1.c2ln\r\n------END NATS USER JWT------\r\n\r\n\
             ************************* IMPORTANT *************************\nNKEY Seed printed below.\n\n\
             -----BEGIN USER NKEY SEED-----\n{SEED}\n------END USER NKEY SEED------\n"
        );
        assert_eq!(parse_creds(&text), Some(("eyJ0.eyJ1.c2ln".to_string(), SEED.to_string())));
        assert_eq!(parse_creds("-----BEGIN X-----\nabc\n-----END X-----\n"), None);
        assert_eq!(parse_creds(""), None);
        assert_eq!(parse_creds("---\n---\n---"), None);
    }
}
