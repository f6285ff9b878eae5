//! The per-shard record read cache: payloads of records read from the device (after their
//! CRC32C check passed), under a byte budget, with O(1) lookup and S3-FIFO eviction.
//!
//! # Why S3-FIFO
//!
//! Graph traversals mix hot records (popular vertices, read by many queries) with one-shot
//! scans (a two-hop expansion touches thousands of records once). Plain LRU/FIFO lets such a
//! scan flush the hot set. S3-FIFO (Yang et al., SOSP 2023) puts new records in a small FIFO
//! (10% of the budget); only records read again while there move to the main FIFO, and a
//! record evicted from the small FIFO leaves its digest in a ghost FIFO so that a quick
//! return goes straight to main. A scan therefore only churns the small FIFO. It needs no
//! list relinking on a hit (a hit only bumps a 2-bit counter), which suits a cache hit on
//! every read better than LRU; CLOCK would be as cheap but lets a long scan evict anything
//! not read within one sweep.
//!
//! # Staleness invariant
//!
//! A slot for digest `d` holds the payload of exactly the record named by the index
//! [`Entry`] stored with it (block, offset, size, generation, void-time, flags). The store
//! keeps this true with two rules, each enough on its own for everything but wrapped
//! generations:
//! 1. every change of `d`'s index entry (overwrite, tombstone, defrag move, expiry sweep,
//!    drop of unreadable records) goes through `Shard::replace_entry`, which removes `d`'s
//!    slot (and a write may put the new payload back, stored with the new entry);
//! 2. a lookup passes the current index entry and hits only if it equals the stored one
//!    (otherwise the slot is dropped); void-time is checked by the caller on that entry
//!    before the lookup, so an expired record is never served.
//!
//! A reused block cannot alias an old record: a block is reused only after every record in
//! it left the index (rule 1 removed their slots), and even a slot that survived would need
//! the same digest, location, size and generation as the new record (rule 2).
//!
//! # Byte budget
//!
//! [`RecordCache::bytes_held`] counts real memory: each payload's heap bytes plus
//! [`ALLOC_OVERHEAD_BYTES`], plus the allocations of the hash tables and FIFOs at their
//! current capacities (these never shrink, so their peak stays counted). Inserting evicts
//! until the count is within the budget. `tests/rcache_memory.rs` checks the count against
//! a counting allocator.

use std::collections::VecDeque;

use crate::digest::Digest;
use crate::index::{BuildDigestHasher, Entry};

/// Bytes the allocator spends per payload allocation beyond the requested size (glibc's
/// chunk header and rounding, an estimate).
pub const ALLOC_OVERHEAD_BYTES: usize = 16;
/// Share of the budget for the small (probation) FIFO, in percent (S3-FIFO's 10%).
const SMALL_SHARE_PCT: u64 = 10;
/// Highest access count kept per slot (2 bits, as in S3-FIFO).
const FREQ_MAX: u8 = 3;
/// A payload larger than this share of the budget is not cached (percent): one huge record
/// must not flush the cache.
const PAYLOAD_SHARE_MAX_PCT: u64 = 5;
/// Stale FIFO positions (of removed slots) allowed beyond twice the live slots before the
/// FIFOs are compacted.
const STALE_POSITIONS_SLACK: usize = 1024;

struct Slot {
    entry: Entry,
    payload: Box<[u8]>,
    /// Matches the FIFO position that owns this slot (older positions are stale; wraps,
    /// which could at worst keep one stale position alive for an extra pass).
    stamp: u32,
    freq: u8,
    in_main: bool,
}

/// Counters; cheap to copy.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups served from the cache.
    pub hits: u64,
    /// Lookups not served (absent or stale slot).
    pub misses: u64,
    /// Slots evicted to stay within the budget.
    pub evictions: u64,
    /// Slots dropped because their record changed (overwrite, delete, move, expiry).
    pub invalidations: u64,
    /// Slots held now.
    pub entries: u64,
    /// Bytes held now (see the module doc).
    pub bytes: u64,
}

/// One shard's record cache (single-threaded, owned by the shard's state).
pub struct RecordCache {
    budget_bytes: u64,
    map: hashbrown::HashMap<Digest, Slot, BuildDigestHasher>,
    small: VecDeque<(Digest, u32)>,
    main: VecDeque<(Digest, u32)>,
    /// Ghosts by fingerprint (digest bytes 8..16; a collision only promotes a record early).
    ghost: hashbrown::HashSet<u64>,
    ghost_fifo: VecDeque<u64>,
    next_stamp: u32,
    payload_bytes: u64,
    small_bytes: u64,
    stats: CacheStats,
}

fn payload_cost(len: usize) -> u64 {
    (len + ALLOC_OVERHEAD_BYTES) as u64
}

impl RecordCache {
    /// An empty cache holding at most `budget_bytes` (0 disables it).
    pub fn new(budget_bytes: u64) -> RecordCache {
        RecordCache {
            budget_bytes,
            map: Default::default(),
            small: VecDeque::new(),
            main: VecDeque::new(),
            ghost: Default::default(),
            ghost_fifo: VecDeque::new(),
            next_stamp: 1,
            payload_bytes: 0,
            small_bytes: 0,
            stats: CacheStats::default(),
        }
    }

    /// The budget in bytes.
    pub fn budget_bytes(&self) -> u64 {
        self.budget_bytes
    }

    /// Bytes held: payloads (with allocator overhead) and the tables and FIFOs at their
    /// current capacities.
    pub fn bytes_held(&self) -> u64 {
        let pos = std::mem::size_of::<(Digest, u32)>();
        let fifo = (self.small.capacity() + self.main.capacity()) * pos
            + self.ghost_fifo.capacity() * std::mem::size_of::<u64>();
        self.payload_bytes
            + (self.map.allocation_size() + self.ghost.allocation_size() + fifo) as u64
    }

    /// Counters, with `entries` and `bytes` as of now.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.map.len() as u64,
            bytes: self.bytes_held(),
            ..self.stats
        }
    }

    /// Whether a slot for `digest` exists (stale or not; no counters move).
    pub fn contains(&self, digest: &Digest) -> bool {
        self.map.contains_key(digest)
    }

    /// The cached payload of the record `current` (the index entry now), or `None`. A slot
    /// stored with another entry is stale and dropped.
    pub fn get(&mut self, digest: &Digest, current: &Entry) -> Option<&[u8]> {
        let fresh = match self.map.get(digest) {
            None => {
                self.stats.misses += 1;
                return None;
            }
            Some(s) => s.entry == *current,
        };
        if !fresh {
            self.stats.misses += 1;
            self.remove(digest);
            return None;
        }
        self.stats.hits += 1;
        let s = self.map.get_mut(digest)?;
        s.freq = (s.freq + 1).min(FREQ_MAX);
        Some(&s.payload)
    }

    /// Drops `digest`'s slot, if any (its record changed). Returns whether one existed.
    pub fn remove(&mut self, digest: &Digest) -> bool {
        let Some(s) = self.map.remove(digest) else {
            return false;
        };
        self.stats.invalidations += 1;
        self.forget(&s);
        self.compact_if_stale();
        true
    }

    fn forget(&mut self, s: &Slot) {
        let cost = payload_cost(s.payload.len());
        self.payload_bytes -= cost;
        if !s.in_main {
            self.small_bytes -= cost;
        }
    }

    /// Caches `payload` as the record named by `entry` (replacing any slot of `digest`),
    /// then evicts until within the budget.
    pub fn insert(&mut self, digest: Digest, entry: Entry, payload: &[u8]) {
        let cost = payload_cost(payload.len());
        if cost > self.budget_bytes * PAYLOAD_SHARE_MAX_PCT / 100 {
            self.remove(&digest);
            return;
        }
        if !self.map.contains_key(&digest) {
            // The table never shrinks: grow it only if the grown table still fits the budget
            // with what it holds, else make room (a table sized for a moment of many small
            // records would squeeze the payloads for good).
            while self.map.len() >= self.map.capacity() && !self.map.is_empty() {
                let grown = self.bytes_held() + self.map.allocation_size() as u64 + cost;
                if grown <= self.budget_bytes {
                    break;
                }
                self.evict_one();
            }
        }
        let stamp = self.next_stamp;
        self.next_stamp = self.next_stamp.wrapping_add(1);
        let (freq, in_main) = match self.map.remove(&digest) {
            Some(old) => {
                self.forget(&old);
                (old.freq, true)
            }
            None => (0, self.ghost.remove(&fingerprint(&digest))),
        };
        let slot = Slot {
            entry,
            payload: payload.into(),
            stamp,
            freq,
            in_main,
        };
        self.map.insert(digest, slot);
        self.payload_bytes += cost;
        if in_main {
            self.main.push_back((digest, stamp));
        } else {
            self.small_bytes += cost;
            self.small.push_back((digest, stamp));
        }
        self.evict_to_budget();
    }

    fn evict_to_budget(&mut self) {
        while self.bytes_held() > self.budget_bytes && !self.map.is_empty() {
            self.evict_one();
        }
        self.compact_if_stale();
    }

    /// One step of S3-FIFO: from the small FIFO while it is over its share (or main is
    /// empty), else from main. A step may promote instead of evicting.
    fn evict_one(&mut self) {
        let small_over = self.small_bytes > self.budget_bytes * SMALL_SHARE_PCT / 100;
        if small_over || self.main.is_empty() {
            self.evict_small();
        } else {
            self.evict_main();
        }
    }

    /// Pops the small FIFO's head: promoted to main if read since it came in, else evicted
    /// and remembered in the ghost FIFO.
    fn evict_small(&mut self) {
        while let Some((d, stamp)) = self.small.pop_front() {
            let Some(s) = self.map.get_mut(&d) else {
                continue;
            };
            if s.stamp != stamp || s.in_main {
                continue;
            }
            let cost = payload_cost(s.payload.len());
            if s.freq > 0 {
                s.in_main = true;
                s.freq = 0;
                self.small_bytes -= cost;
                self.main.push_back((d, stamp));
                return;
            }
            if let Some(s) = self.map.remove(&d) {
                self.forget(&s);
                self.stats.evictions += 1;
            }
            // Ghosts: at most as many as live slots, and the ghost table grows only within
            // the budget (else the oldest ghost makes room).
            // (A ghost that came back leaves a stale FIFO position; popping it removes
            // nothing or a newer ghost of the same fingerprint early, both harmless.)
            while !self.ghost_fifo.is_empty()
                && (self.ghost_fifo.len() >= self.map.len().max(16)
                    || (self.ghost.len() >= self.ghost.capacity()
                        && self.bytes_held() + self.ghost.allocation_size() as u64
                            > self.budget_bytes))
            {
                if let Some(g) = self.ghost_fifo.pop_front() {
                    self.ghost.remove(&g);
                }
            }
            if self.ghost.len() < self.ghost.capacity()
                || self.bytes_held() + (self.ghost.allocation_size() as u64).max(1024)
                    <= self.budget_bytes
            {
                let g = fingerprint(&d);
                if self.ghost.insert(g) {
                    self.ghost_fifo.push_back(g);
                }
            }
            return;
        }
    }

    /// Pops the main FIFO's head: reinserted with one access less if read since, else
    /// evicted.
    fn evict_main(&mut self) {
        while let Some((d, stamp)) = self.main.pop_front() {
            let Some(s) = self.map.get_mut(&d) else {
                continue;
            };
            if s.stamp != stamp || !s.in_main {
                continue;
            }
            if s.freq > 0 {
                s.freq -= 1;
                self.main.push_back((d, stamp));
                continue;
            }
            if let Some(s) = self.map.remove(&d) {
                self.forget(&s);
                self.stats.evictions += 1;
            }
            return;
        }
    }

    /// Drops FIFO positions of removed slots once they outnumber the live ones (removals
    /// leave their position behind; this bounds the FIFOs).
    fn compact_if_stale(&mut self) {
        let live = self.map.len();
        if self.small.len() + self.main.len() <= 2 * live + STALE_POSITIONS_SLACK {
            return;
        }
        let map = &self.map;
        self.small
            .retain(|(d, st)| map.get(d).is_some_and(|s| s.stamp == *st && !s.in_main));
        self.main
            .retain(|(d, st)| map.get(d).is_some_and(|s| s.stamp == *st && s.in_main));
    }
}

fn fingerprint(d: &Digest) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = d.0.get(8..16) {
        b.copy_from_slice(s);
    }
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(i: u64) -> Digest {
        let mut b = [0u8; 20];
        b[8..16].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
        b[0..8].copy_from_slice(&i.to_le_bytes());
        Digest(b)
    }

    fn e(block: u32, gen: u16) -> Entry {
        Entry::new(block, 64, 128, gen, 0, false, 0)
    }

    #[test]
    fn hit_needs_the_same_entry() {
        let mut c = RecordCache::new(1 << 20);
        c.insert(d(1), e(3, 7), b"abc");
        assert_eq!(c.get(&d(1), &e(3, 7)), Some(&b"abc"[..]));
        // Same location, other generation (e.g. a reused block): stale, dropped.
        assert_eq!(c.get(&d(1), &e(3, 8)), None);
        assert!(!c.contains(&d(1)));
        assert_eq!(c.get(&d(1), &e(3, 7)), None);
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.entries), (1, 2, 0));
    }

    #[test]
    fn stays_within_budget_and_counts_evictions() {
        let budget = 256 << 10;
        let mut c = RecordCache::new(budget);
        for i in 0..20_000u64 {
            c.insert(d(i), e(1, 1), &[7u8; 100]);
            assert!(c.bytes_held() <= budget, "{} > {budget}", c.bytes_held());
        }
        let s = c.stats();
        assert!(s.entries > 500, "{s:?}");
        assert!(s.evictions >= 20_000 - s.entries, "{s:?}");
        assert!(s.bytes > budget / 2, "{s:?}");
    }

    #[test]
    fn a_scan_does_not_flush_the_hot_set() {
        let budget = 1 << 20;
        let mut c = RecordCache::new(budget);
        let hot = 1000u64;
        for _ in 0..3 {
            for i in 0..hot {
                if c.get(&d(i), &e(1, 1)).is_none() {
                    c.insert(d(i), e(1, 1), &[1u8; 200]);
                }
            }
        }
        // A one-pass scan of 10x the cache's capacity.
        for i in 1_000_000..1_050_000u64 {
            if c.get(&d(i), &e(1, 1)).is_none() {
                c.insert(d(i), e(1, 1), &[2u8; 200]);
            }
        }
        let kept = (0..hot)
            .filter(|&i| c.get(&d(i), &e(1, 1)).is_some())
            .count();
        assert!(
            kept as u64 * 10 >= hot * 9,
            "only {kept} of {hot} hot records kept"
        );
    }

    #[test]
    fn zero_budget_holds_nothing() {
        let mut c = RecordCache::new(0);
        c.insert(d(1), e(1, 1), b"x");
        assert_eq!(c.get(&d(1), &e(1, 1)), None);
        assert_eq!(c.stats().entries, 0);
    }

    #[test]
    fn removals_keep_the_fifos_bounded() {
        let mut c = RecordCache::new(64 << 20);
        for i in 0..100_000u64 {
            c.insert(d(i), e(1, 1), b"p");
            c.remove(&d(i));
        }
        assert_eq!(c.stats().entries, 0);
        assert!(c.small.len() + c.main.len() <= STALE_POSITIONS_SLACK + 1);
    }
}
