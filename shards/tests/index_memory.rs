//! Primary-index memory per record at 10 million records, measured with a counting global
//! allocator (the limit: at most 64 bytes per record).

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

#[test]
fn index_at_ten_million_records_is_at_most_64_bytes_per_record() {
    let mut rng = SimRng::new(42);
    let before = ALLOCATED.load(Ordering::Relaxed);
    let mut ix = Index::default();
    let mut cap = 0;
    let mut after_resize = (0u64, 0usize);
    for i in 0..RECORDS {
        // Random digests (RIPEMD-160 output is uniform; generating them is not what we measure).
        let mut d = [0u8; 20];
        for c in d.chunks_mut(8) {
            let r = rng.next_u64().to_le_bytes();
            c.copy_from_slice(&r[..c.len()]);
        }
        ix.insert(
            Digest(d),
            Entry::new((i % 4096) as u32, 64, 1088, 1, 0, false),
        );
        if ix.capacity() != cap {
            cap = ix.capacity();
            after_resize = (i + 1, ALLOCATED.load(Ordering::Relaxed) - before);
        }
    }
    let bytes = ALLOCATED.load(Ordering::Relaxed) - before;
    let per = bytes as f64 / RECORDS as f64;
    eprintln!(
        "index: {RECORDS} records use {bytes} bytes = {per:.1} B/record; right after the last resize ({} records) {:.1} B/record",
        after_resize.0,
        after_resize.1 as f64 / after_resize.0 as f64
    );
    assert_eq!(ix.len() as u64, RECORDS);
    assert!(per <= 64.0, "{per:.1} bytes per record");
}
