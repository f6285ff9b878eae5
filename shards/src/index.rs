//! The per-shard primary index: digest -> location, generation, void-time, in DRAM
//! (hashbrown). 36 bytes per slot (20-byte digest + 16-byte entry), in `INDEX_SEGMENTS`
//! tables of unequal shares so that they grow (double) one at a time, never all at once.

use std::hash::{BuildHasher, Hash, Hasher};

use crate::digest::Digest;
use crate::record::RECORD_ALIGN_BYTES;

/// One index entry (16 bytes). Locations are in 16-byte units so that offsets and sizes fit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Entry {
    /// Block index within the shard's data file.
    pub block: u32,
    /// Offset in the block in 16-byte units (bits 0..23, so blocks of at most
    /// [`BLOCK_SIZE_LIMIT_BYTES`]), the record's tag (bits 23..31, see [`Entry::tag`]), bit 31 =
    /// tombstone.
    off_units_flags: u32,
    /// Void-time in seconds since the Unix epoch; 0 = never.
    pub void_time_s: u32,
    /// Generation (1..=65535).
    pub generation: u16,
    /// Stored size in 16-byte units.
    size_units: u16,
}

const TOMBSTONE_BIT: u32 = 1 << 31;
/// Bits of `off_units_flags` that hold the offset in 16-byte units.
const OFFSET_BITS: u32 = 23;
const OFFSET_MASK: u32 = (1 << OFFSET_BITS) - 1;
/// Where the tag starts in `off_units_flags` (8 bits, below the tombstone bit).
const TAG_SHIFT: u32 = OFFSET_BITS;
/// Largest block an entry can address: offsets are 16-byte units in `OFFSET_BITS` bits
/// (128 MiB; the store refuses larger blocks).
pub const BLOCK_SIZE_LIMIT_BYTES: u64 = (1u64 << OFFSET_BITS) * RECORD_ALIGN_BYTES as u64;

const _: () = assert!(
    TAG_SHIFT + 8 == 31,
    "tag bits sit between offset and tombstone"
);

const _: () = assert!(std::mem::size_of::<Entry>() == 16);
const _: () = assert!(std::mem::size_of::<(Digest, Entry)>() == 36);

impl Entry {
    /// A new entry. `offset` and `stored_len` must be multiples of 16 and fit (checked by the
    /// store's configuration limits: blocks of at most [`BLOCK_SIZE_LIMIT_BYTES`]). `tag` is
    /// the record's tag ([`record_tag`] of its payload; 0 for a tombstone).
    pub fn new(
        block: u32,
        offset: usize,
        stored_len: usize,
        generation: u16,
        void_time_s: u32,
        tombstone: bool,
        tag: u8,
    ) -> Entry {
        debug_assert_eq!(offset % RECORD_ALIGN_BYTES, 0);
        debug_assert_eq!(stored_len % RECORD_ALIGN_BYTES, 0);
        let off = (offset / RECORD_ALIGN_BYTES) as u32;
        debug_assert!(off <= OFFSET_MASK);
        Entry {
            block,
            off_units_flags: (off & OFFSET_MASK)
                | (u32::from(tag) << TAG_SHIFT)
                | if tombstone { TOMBSTONE_BIT } else { 0 },
            void_time_s,
            generation,
            size_units: (stored_len / RECORD_ALIGN_BYTES) as u16,
        }
    }
    /// Byte offset of the record within its block.
    pub fn offset(&self) -> usize {
        (self.off_units_flags & OFFSET_MASK) as usize * RECORD_ALIGN_BYTES
    }
    /// The record's tag: the first byte of its payload (0 for an empty payload or a
    /// tombstone), kept so that a scan can pick records of one kind without reading them
    /// ([`crate::Shard::scan_tagged`]). The store gives the byte no meaning.
    pub fn tag(&self) -> u8 {
        ((self.off_units_flags >> TAG_SHIFT) & 0xff) as u8
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

/// The tag of a record with this payload: its first byte, 0 when empty (see [`Entry::tag`]).
pub fn record_tag(payload: &[u8]) -> u8 {
    payload.first().copied().unwrap_or(0)
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

/// One hashbrown table of the index.
type Table = hashbrown::HashMap<Digest, Entry, BuildDigestHasher>;

/// Tables the index is split into.
pub const INDEX_SEGMENTS: usize = 32;
/// Bits of the routing value that pick a table (a 4096-slot routing table, 4 KiB).
const ROUTE_BITS: u32 = 12;
const ROUTE_SLOTS: usize = 1 << ROUTE_BITS;

/// The primary index: `INDEX_SEGMENTS` hashbrown tables; a digest's table is picked by its
/// bytes 16..20 (the hash uses bytes 8..16, the partition bytes 0..4, so the three are
/// independent).
///
/// Why segments of unequal shares: one hashbrown table doubles at once when it reaches 7/8
/// load, so right after a resize it is 7/16 full and costs 37/(7/16) = 85 bytes per record
/// (36-byte slot + 1 control byte). Table `j` here receives a share of the digests
/// proportional to `2^(j / INDEX_SEGMENTS)`: the tables' sizes spread evenly (in log scale)
/// over one doubling, so at any record count they are at different points of their growth
/// and a resize doubles only one of them (about 1/32 of the memory). The average load is then
/// about (7/8 - 7/16) / ln 2 = 0.63, 59 bytes per record, and the worst case right after any
/// resize about 63 (docs/PERF.md, "Primary index memory"). A resize also copies one small
/// table instead of the whole index (shorter pause, lower transient peak).
pub struct Index {
    tables: Vec<Table>,
    /// Routing value's top `ROUTE_BITS` -> table.
    route: Vec<u8>,
    /// Routing slots per table (its share of the digests, in 1/`ROUTE_SLOTS`).
    slots: Vec<usize>,
}

impl Default for Index {
    fn default() -> Index {
        Index::new()
    }
}

impl Index {
    /// An empty index.
    pub fn new() -> Index {
        let w: Vec<f64> = (0..INDEX_SEGMENTS)
            .map(|j| (j as f64 / INDEX_SEGMENTS as f64).exp2())
            .collect();
        let total: f64 = w.iter().sum();
        let mut slots: Vec<usize> = w
            .iter()
            .map(|x| ((x / total * ROUTE_SLOTS as f64).round() as usize).max(1))
            .collect();
        // Rounding leaves the sum a few slots off; the largest table absorbs the difference.
        let sum: usize = slots.iter().sum();
        if let Some(last) = slots.last_mut() {
            *last = (*last + ROUTE_SLOTS).saturating_sub(sum).max(1);
        }
        let mut route = Vec::with_capacity(ROUTE_SLOTS);
        for (j, &n) in slots.iter().enumerate() {
            route.extend(std::iter::repeat_n(j as u8, n));
        }
        route.resize(ROUTE_SLOTS, (INDEX_SEGMENTS - 1) as u8);
        Index {
            tables: (0..INDEX_SEGMENTS).map(|_| Table::default()).collect(),
            route,
            slots,
        }
    }

    fn table_of(&self, d: &Digest) -> usize {
        let [.., a, b, c, e] = d.0;
        let v = u32::from_le_bytes([a, b, c, e]);
        self.route
            .get((v >> (32 - ROUTE_BITS)) as usize)
            .copied()
            .unwrap_or(0) as usize
    }

    /// The entry of `d`.
    pub fn get(&self, d: &Digest) -> Option<&Entry> {
        self.tables.get(self.table_of(d))?.get(d)
    }

    /// Inserts or replaces the entry of `d`; returns the old one.
    pub fn insert(&mut self, d: Digest, e: Entry) -> Option<Entry> {
        let t = self.table_of(&d);
        self.tables.get_mut(t)?.insert(d, e)
    }

    /// Removes the entry of `d`; returns it.
    pub fn remove(&mut self, d: &Digest) -> Option<Entry> {
        let t = self.table_of(d);
        self.tables.get_mut(t)?.remove(d)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.tables.iter().map(|t| t.len()).sum()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(|t| t.is_empty())
    }

    /// Entries the tables hold without growing (sum over the tables).
    pub fn capacity(&self) -> usize {
        self.tables.iter().map(|t| t.capacity()).sum()
    }

    /// Makes room for `n` more entries, each table for its share (plus 1%).
    pub fn reserve(&mut self, n: usize) {
        for (t, &s) in self.tables.iter_mut().zip(&self.slots) {
            let share = (n as u128 * s as u128 * 101 / 100 / ROUTE_SLOTS as u128) as usize;
            t.reserve(share);
        }
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Digest, &Entry)> + '_ {
        self.tables.iter().flat_map(|t| t.iter())
    }
}

/// Wrap-aware generation order: is `a` newer than `b`?
pub fn generation_newer(a: u16, b: u16) -> bool {
    (a.wrapping_sub(b) as i16) > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_packs_fields() {
        let e = Entry::new(7, 8 * 1024 * 1024 - 16, 1024, 65535, 99, true, 0);
        assert_eq!(e.block, 7);
        assert_eq!(e.offset(), 8 * 1024 * 1024 - 16);
        assert_eq!(e.stored_len(), 1024);
        assert!(e.is_tombstone());
        assert_eq!(e.tag(), 0);
        assert!(e.is_expired(99) && !e.is_expired(98));
        let f = Entry::new(1, 64, 65535 * 16, 1, 0, false, 0xff);
        assert!(!f.is_tombstone() && !f.is_expired(u32::MAX));
        assert_eq!(f.stored_len(), 65535 * 16);
        assert_eq!((f.offset(), f.tag()), (64, 0xff));
        // The largest offset and every tag keep each other and the tombstone bit intact.
        let top = BLOCK_SIZE_LIMIT_BYTES as usize - 16;
        for tag in [0u8, 1, b'V', 0x7f, 0x80, 0xfe, 0xff] {
            for tomb in [false, true] {
                let g = Entry::new(3, top, 32, 2, 0, tomb, tag);
                assert_eq!((g.offset(), g.tag(), g.is_tombstone()), (top, tag, tomb));
                let h = Entry::new(3, 0, 32, 2, 0, tomb, tag);
                assert_eq!((h.offset(), h.tag(), h.is_tombstone()), (0, tag, tomb));
            }
        }
        assert_eq!(record_tag(b"Vx"), b'V');
        assert_eq!(record_tag(b""), 0);
    }

    #[test]
    fn generation_order_wraps() {
        assert!(generation_newer(2, 1));
        assert!(generation_newer(1, 65535));
        assert!(!generation_newer(65535, 1));
        assert!(!generation_newer(5, 5));
    }

    #[test]
    fn routing_covers_every_table_with_growing_shares() {
        let ix = Index::new();
        assert_eq!(ix.route.len(), ROUTE_SLOTS);
        assert_eq!(ix.slots.iter().sum::<usize>(), ROUTE_SLOTS);
        for j in 0..INDEX_SEGMENTS {
            let n = ix.route.iter().filter(|&&t| t as usize == j).count();
            assert_eq!(n, ix.slots[j], "table {j}");
        }
        // Shares grow with the table number: the largest is about twice the smallest.
        let (lo, hi) = (ix.slots[0] as f64, ix.slots[INDEX_SEGMENTS - 1] as f64);
        assert!(hi / lo > 1.8 && hi / lo < 2.2, "{lo} {hi}");
    }

    #[test]
    fn index_insert_remove_iter() {
        let mut ix = Index::default();
        assert!(ix.is_empty());
        for i in 0..5000i64 {
            assert_eq!(
                ix.insert(
                    Digest::of_int(b"s", i),
                    Entry::new(1, 64, 64, 1, 0, false, 0)
                ),
                None
            );
        }
        let old = ix.insert(
            Digest::of_int(b"s", 7),
            Entry::new(2, 64, 64, 2, 0, false, 0),
        );
        assert_eq!(old.map(|e| e.generation), Some(1));
        assert_eq!(ix.len(), 5000);
        assert_eq!(ix.iter().count(), 5000);
        assert!(ix.tables.iter().all(|t| !t.is_empty()), "every table used");
        for i in 0..2500i64 {
            assert!(ix.remove(&Digest::of_int(b"s", i)).is_some());
        }
        assert_eq!(ix.remove(&Digest::of_int(b"s", 1)), None);
        assert_eq!(ix.len(), 2500);
        assert!(ix.get(&Digest::of_int(b"s", 2499)).is_none());
        assert!(ix.get(&Digest::of_int(b"s", 2500)).is_some());
        ix.reserve(100_000);
        assert!(ix.capacity() >= 102_500);
        assert_eq!(ix.len(), 2500);
    }

    #[test]
    fn index_lookup() {
        let mut ix = Index::default();
        for i in 0..1000i64 {
            ix.insert(
                Digest::of_int(b"s", i),
                Entry::new(i as u32, 64, 64, 1, 0, false, 0),
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
