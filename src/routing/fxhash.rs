//! A fast non-cryptographic hasher for the subject maps. Subjects are chosen
//! by clients, but every map keyed by them is bounded (the match cache) or
//! owned by the clients that filled it (the trie), so flooding one bucket
//! hurts only the client doing it; SipHash would cost every message instead.

use std::hash::{BuildHasherDefault, Hasher};

#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

/// The hash of `bytes` as the subject maps compute it (their keys are
/// byte slices, written with their length).
#[inline]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    use std::hash::Hash;
    let mut h = FxHasher::default();
    bytes.hash(&mut h);
    h.finish()
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The multiply chain leaves the low bits weak (they depend only on
        // the low bits of the input) and the table indexes by them: keys
        // like `cmd.<n>` piled into a few buckets (100 000 of them took 6x
        // longer to insert, `r.<n>` 40x). One xor-shift-multiply round
        // (MurmurHash3's finaliser, halved) spreads every input bit.
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }
}

pub type FxBuild = BuildHasherDefault<FxHasher>;
pub type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuild>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    /// Keys that differ only in a few digits must spread over the low bits
    /// the hash table indexes by.
    #[test]
    fn low_bits_spread() {
        for pattern in ["r.", "cmd.", "telemetry.device", ""] {
            let mut seen = std::collections::HashSet::new();
            for i in 0..65536u32 {
                let key: Box<[u8]> = format!("{pattern}{i}").into_bytes().into();
                seen.insert(FxBuild::default().hash_one(&key) & 0xffff);
            }
            // A uniform hash fills about 63 % of 65 536 slots.
            assert!(seen.len() > 35_000, "{pattern:?}: {} distinct low-16-bit values", seen.len());
        }
    }
}
