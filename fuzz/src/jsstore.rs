//! The record format of JetStream's file store, read as a server reads a
//! file at start: records one after the other until the first that is cut
//! short or damaged.
//!
//! Input: the file's bytes. Every record handed back must lie inside the
//! input, be written back byte for byte by `encode_record`, and decoding
//! must never read past a record's declared length.

use rnats_protocol::jetstream::record::{decode_record, encode_record, FIXED};

pub fn check(data: &[u8]) {
    let mut pos = 0;
    while let Some((r, n)) = decode_record(&data[pos..]) {
        assert!(n >= FIXED && pos + n <= data.len(), "a record past the input");
        let mut again = Vec::new();
        encode_record(&mut again, r.kind, r.seq, r.ts, r.subject, r.hdr, r.data);
        assert_eq!(&again[..], &data[pos..pos + n], "record not written back the same");
        pos += n;
    }
}
