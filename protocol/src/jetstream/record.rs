//! The record format of a file stream's store: each record is
//!
//! ```text
//! len u32 | kind u8 | seq u64 | ts i64 | subject_len u16 | hdr_len u32 | subject | hdr | data | crc u32
//! ```
//!
//! little-endian, `len` counting the whole record and the CRC-32 (IEEE)
//! covering every byte before it. `kind` 1 is a message, 2 erases message
//! `seq`, 3 erases every message below `seq`. [`decode_record`] takes any
//! bytes and hands back a record only when it is whole and intact.

pub const KIND_MSG: u8 = 1;
pub const KIND_DELETE: u8 = 2;
pub const KIND_PURGE: u8 = 3;
/// Record bytes besides subject, headers and data.
pub const FIXED: usize = 4 + 1 + 8 + 8 + 2 + 4 + 4;
/// Largest record accepted when reading a file (a message is at most the
/// max payload plus a 64 KiB header block and a subject).
pub const MAX_RECORD: usize = 64 * 1024 * 1024;

/// CRC-32 (IEEE), table built at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// A record decoded from a file.
pub struct Record<'a> {
    pub kind: u8,
    pub seq: u64,
    pub ts: i64,
    pub subject: &'a [u8],
    pub hdr: &'a [u8],
    pub data: &'a [u8],
}

/// Decodes the record at the start of `b`: the record and its length, or
/// `None` when `b` holds no whole, intact record.
pub fn decode_record(b: &[u8]) -> Option<(Record<'_>, usize)> {
    if b.len() < FIXED {
        return None;
    }
    let len = u32::from_le_bytes(b[0..4].try_into().ok()?) as usize;
    if !(FIXED..=MAX_RECORD).contains(&len) || len > b.len() {
        return None;
    }
    let rec = &b[..len];
    let crc = u32::from_le_bytes(rec[len - 4..].try_into().ok()?);
    if crc32(&rec[..len - 4]) != crc {
        return None;
    }
    let kind = rec[4];
    let seq = u64::from_le_bytes(rec[5..13].try_into().ok()?);
    let ts = i64::from_le_bytes(rec[13..21].try_into().ok()?);
    let slen = u16::from_le_bytes(rec[21..23].try_into().ok()?) as usize;
    let hlen = u32::from_le_bytes(rec[23..27].try_into().ok()?) as usize;
    let body = &rec[27..len - 4];
    if slen.checked_add(hlen)? > body.len() || !matches!(kind, KIND_MSG | KIND_DELETE | KIND_PURGE) {
        return None;
    }
    Some((
        Record { kind, seq, ts, subject: &body[..slen], hdr: &body[slen..slen + hlen], data: &body[slen + hlen..] },
        len,
    ))
}

pub fn encode_record(out: &mut Vec<u8>, kind: u8, seq: u64, ts: i64, subject: &[u8], hdr: &[u8], data: &[u8]) {
    let start = out.len();
    let len = FIXED + subject.len() + hdr.len() + data.len();
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.push(kind);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&ts.to_le_bytes());
    out.extend_from_slice(&(subject.len() as u16).to_le_bytes());
    out.extend_from_slice(&(hdr.len() as u32).to_le_bytes());
    out.extend_from_slice(subject);
    out.extend_from_slice(hdr);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_known_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn records_round_trip_and_damage_is_refused() {
        let mut b = Vec::new();
        encode_record(&mut b, KIND_MSG, 7, 99, b"a.b", b"NATS/1.0\r\n\r\n", b"data");
        let (r, n) = decode_record(&b).unwrap();
        assert_eq!((r.kind, r.seq, r.ts, r.subject, r.data, n), (KIND_MSG, 7, 99, &b"a.b"[..], &b"data"[..], b.len()));
        for i in 0..b.len() {
            assert!(decode_record(&b[..i]).is_none());
            let mut c = b.clone();
            c[i] ^= 0x55;
            assert!(decode_record(&c).is_none_or(|(r, _)| r.data == b"data" && r.seq == 7), "byte {i}");
        }
    }
}
