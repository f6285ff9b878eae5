//! Primary-index memory per record at 10 million records, measured with a counting global
//! allocator (the limit: at most 64 bytes per record, also right after a table
//! resize).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use shards::device::SimRng;
use shards::index::{Entry, Index};
use shards::Digest;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: forwards every call to `System` unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        ALLOCATED.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` with layout `l`.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const RECORDS: u64 = 10_000_000;
/// Resizes from this record count on are checked (below it fixed per-table overheads
/// dominate; the limit is about large indexes).
const RESIZE_CHECK_FROM_RECORDS: u64 = 1_000_000;

#[test]
fn index_at_ten_million_records_is_at_most_64_bytes_per_record() {
    let mut rng = SimRng::new(42);
    let before = ALLOCATED.load(Ordering::Relaxed);
    let mut ix = Index::default();
    let mut cap = 0;
    let mut after_resize = (0u64, 0usize);
    let mut worst = (0u64, 0.0f64);
    let mut resizes = 0u64;
    for i in 0..RECORDS {
        // Random digests (RIPEMD-160 output is uniform; generating them is not what we measure).
        let mut d = [0u8; 20];
        for c in d.chunks_mut(8) {
            let r = rng.next_u64().to_le_bytes();
            c.copy_from_slice(&r[..c.len()]);
        }
        ix.insert(
            Digest(d),
            Entry::new((i % 4096) as u32, 64, 1088, 1, 0, false, 0),
        );
        if ix.capacity() != cap {
            cap = ix.capacity();
            after_resize = (i + 1, ALLOCATED.load(Ordering::Relaxed) - before);
            let per = after_resize.1 as f64 / (i + 1) as f64;
            if i + 1 >= RESIZE_CHECK_FROM_RECORDS {
                resizes += 1;
                if per > worst.1 {
                    worst = (i + 1, per);
                }
            }
        }
    }
    let bytes = ALLOCATED.load(Ordering::Relaxed) - before;
    let per = bytes as f64 / RECORDS as f64;
    eprintln!(
        "index: {RECORDS} records use {bytes} bytes = {per:.1} B/record; right after the last resize ({} records) {:.1} B/record; worst right after any of {resizes} resizes from {RESIZE_CHECK_FROM_RECORDS} records: {:.1} B/record at {} records",
        after_resize.0,
        after_resize.1 as f64 / after_resize.0 as f64,
        worst.1,
        worst.0
    );
    assert_eq!(ix.len() as u64, RECORDS);
    assert!(per <= 64.0, "{per:.1} bytes per record");
    // The tables grow one at a time: many resizes, each right after which the limit holds.
    assert!(resizes >= 100, "only {resizes} resizes");
    assert!(
        worst.1 <= 64.0,
        "{:.1} bytes per record right after a resize at {} records",
        worst.1,
        worst.0
    );
}
