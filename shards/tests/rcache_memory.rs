//! The record read cache's byte budget counts real memory: measured with a counting global
//! allocator while the cache is filled far past its budget with records of mixed sizes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use shards::device::SimRng;
use shards::index::Entry;
use shards::rcache::{RecordCache, ALLOC_OVERHEAD_BYTES};
use shards::Digest;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: forwards every call to `System` unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(l.size(), Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        ALLOCATED.fetch_sub(l.size(), Ordering::Relaxed);
        ALLOCATIONS.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` with layout `l`.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn bytes_held_matches_the_allocator_and_stays_within_budget() {
    let budget: u64 = 16 << 20;
    let mut rng = SimRng::new(5);
    let payload = vec![9u8; 4096];
    let (bytes0, allocs0) = (
        ALLOCATED.load(Ordering::Relaxed),
        ALLOCATIONS.load(Ordering::Relaxed),
    );
    let mut c = RecordCache::new(budget);
    for i in 0..400_000u64 {
        let mut d = [0u8; 20];
        d[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        d[8..16].copy_from_slice(&rng.next_u64().to_le_bytes());
        let len = 40 + rng.below(600) as usize;
        let e = Entry::new(1, 16 * (i as usize % 1000), 1024, 1, 0, false, 0);
        c.insert(Digest(d), e, &payload[..len]);
        // Reads of recent records move some to the main FIFO.
        if i % 3 == 0 {
            let _ = c.get(&Digest(d), &e);
        }
        if (i > 0 && i % 50_000 == 0) || i == 399_999 {
            let real = (ALLOCATED.load(Ordering::Relaxed) - bytes0) as u64;
            let allocs = (ALLOCATIONS.load(Ordering::Relaxed) - allocs0) as u64;
            // The allocator's view plus its per-allocation overhead (the cache's estimate).
            let real_with_overhead = real + allocs * ALLOC_OVERHEAD_BYTES as u64;
            let held = c.bytes_held();
            assert!(held <= budget, "held {held} > budget {budget}");
            // The count is real: within 2% of what the allocator holds for the cache.
            let diff = held.abs_diff(real_with_overhead);
            assert!(
                diff * 50 <= real_with_overhead,
                "at {i}: held {held}, allocator {real_with_overhead} ({allocs} allocations)"
            );
        }
    }
    let s = c.stats();
    println!("{s:?}, {} bytes per entry", s.bytes / s.entries.max(1));
    // Filled: most of the budget in use, and evictions happened.
    assert!(s.bytes > budget * 9 / 10, "{s:?}");
    assert!(s.evictions > 100_000, "{s:?}");
}
