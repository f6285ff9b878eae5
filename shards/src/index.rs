//! The per-shard primary index: digest -> location, generation, void-time, in DRAM
//! (hashbrown). 36 bytes per slot (20-byte digest + 16-byte entry).

use std::hash::{BuildHasher, Hash, Hasher};

use crate::digest::Digest;
use crate::record::RECORD_ALIGN_BYTES;

/// One index entry (16 bytes). Locations are in 16-byte units so that offsets and sizes fit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Entry {
    /// Block index within the shard's data file.
    pub block: u32,
    /// Offset in the block in 16-byte units; bit 31 = tombstone.
    off_units_flags: u32,
    /// Void-time in seconds since the Unix epoch; 0 = never.
    pub void_time_s: u32,
    /// Generation (1..=65535).
    pub generation: u16,
    /// Stored size in 16-byte units.
    size_units: u16,
}

const TOMBSTONE_BIT: u32 = 1 << 31;

const _: () = assert!(std::mem::size_of::<Entry>() == 16);
const _: () = assert!(std::mem::size_of::<(Digest, Entry)>() == 36);

impl Entry {
    /// A new entry. `offset` and `stored_len` must be multiples of 16 and fit (checked by the
    /// store's configuration limits).
    pub fn new(
        block: u32,
        offset: usize,
        stored_len: usize,
        generation: u16,
        void_time_s: u32,
        tombstone: bool,
    ) -> Entry {
        debug_assert_eq!(offset % RECORD_ALIGN_BYTES, 0);
        debug_assert_eq!(stored_len % RECORD_ALIGN_BYTES, 0);
        let off = (offset / RECORD_ALIGN_BYTES) as u32;
        debug_assert!(off < TOMBSTONE_BIT);
        Entry {
            block,
            off_units_flags: off | if tombstone { TOMBSTONE_BIT } else { 0 },
            void_time_s,
            generation,
            size_units: (stored_len / RECORD_ALIGN_BYTES) as u16,
        }
    }
    /// Byte offset of the record within its block.
    pub fn offset(&self) -> usize {
        (self.off_units_flags & !TOMBSTONE_BIT) as usize * RECORD_ALIGN_BYTES
    }
    /// Bytes the record takes in its block (16-byte aligned).
    pub fn stored_len(&self) -> usize {
        self.size_units as usize * RECORD_ALIGN_BYTES
    }
    /// Whether the record is a tombstone.
    pub fn is_tombstone(&self) -> bool {
        self.off_units_flags & TOMBSTONE_BIT != 0
    }
    /// Whether the record is expired at `now_s`.
    pub fn is_expired(&self, now_s: u32) -> bool {
        self.void_time_s != 0 && self.void_time_s <= now_s
    }
}

/// Digests are uniformly random, so the hash is 8 of their bytes (not the partition bytes).
impl Hash for Digest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let [_, _, _, _, _, _, _, _, a, b, c, d, e, f, g, h, ..] = self.0;
        state.write_u64(u64::from_le_bytes([a, b, c, d, e, f, g, h]));
    }
}

/// Hasher that passes the digest's 8 bytes through (falls back to FNV-1a for other input).
#[derive(Default, Clone, Copy)]
pub struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ self.0;
        for &b in bytes {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Builds [`DigestHasher`]s.
#[derive(Default, Clone, Copy)]
pub struct BuildDigestHasher;

impl BuildHasher for BuildDigestHasher {
    type Hasher = DigestHasher;
    fn build_hasher(&self) -> DigestHasher {
        DigestHasher(0)
    }
}

/// The primary index.
pub type Index = hashbrown::HashMap<Digest, Entry, BuildDigestHasher>;

/// Wrap-aware generation order: is `a` newer than `b`?
pub fn generation_newer(a: u16, b: u16) -> bool {
    (a.wrapping_sub(b) as i16) > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_packs_fields() {
        let e = Entry::new(7, 8 * 1024 * 1024 - 16, 1024, 65535, 99, true);
        assert_eq!(e.block, 7);
        assert_eq!(e.offset(), 8 * 1024 * 1024 - 16);
        assert_eq!(e.stored_len(), 1024);
        assert!(e.is_tombstone());
        assert!(e.is_expired(99) && !e.is_expired(98));
        let f = Entry::new(1, 64, 65535 * 16, 1, 0, false);
        assert!(!f.is_tombstone() && !f.is_expired(u32::MAX));
        assert_eq!(f.stored_len(), 65535 * 16);
    }

    #[test]
    fn generation_order_wraps() {
        assert!(generation_newer(2, 1));
        assert!(generation_newer(1, 65535));
        assert!(!generation_newer(65535, 1));
        assert!(!generation_newer(5, 5));
    }

    #[test]
    fn index_lookup() {
        let mut ix = Index::default();
        for i in 0..1000i64 {
            ix.insert(
                Digest::of_int(b"s", i),
                Entry::new(i as u32, 64, 64, 1, 0, false),
            );
        }
        for i in 0..1000i64 {
            assert_eq!(
                ix.get(&Digest::of_int(b"s", i)).map(|e| e.block),
                Some(i as u32)
            );
        }
    }
}
