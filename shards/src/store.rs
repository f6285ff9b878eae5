//! One shard's store: write buffers and blocks, the primary index, reads, durability with
//! group commit, tombstones, expiry, defrag and cold start. Runtime-agnostic: all I/O goes
//! through [`BlockDevice`]; the host runtime calls [`Shard::maintain`] from a low-priority
//! task (see `crate::runtime`).
//!
//! Single-threaded: the mutable state is in one `RefCell`, and no borrow is held across an
//! `.await` (every `borrow_mut` is confined to a block without awaits).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use crate::device::{BlockDevice, Device, SECTOR_SIZE_BYTES};
use crate::digest::Digest;
use crate::index::{generation_newer, record_tag, Entry, Index, BLOCK_SIZE_LIMIT_BYTES};
use crate::notify::Notify;
use crate::rcache::RecordCache;
use crate::record::{
    self, decode_block_header, encode_block_header, next_generation, RecordMeta,
    BLOCK_HEADER_SIZE_BYTES, FLAG_TOMBSTONE, RECORD_ALIGN_BYTES, RECORD_SIZE_LIMIT_BYTES,
};
use crate::{StoreError, FORMAT_VERSION};

/// Bytes before block 0 in a data file (the file header).
pub const FILE_HEADER_SIZE_BYTES: u64 = SECTOR_SIZE_BYTES as u64;
/// First bytes of the sector written over a freed block's header.
pub const FREE_MARKER: &[u8; 8] = b"CGFREE\0\0";
/// File header magic.
pub const FILE_MAGIC: &[u8; 8] = b"CGSHARD1";
/// Recent flush failures remembered for group-commit waiters.
const FAILED_FLUSHES_MAX: usize = 64;
/// Records looked at per defrag step before yielding back to `maintain`'s caller.
const DEFRAG_BLOCKS_PER_STEP_MAX: usize = 4;
/// Spare block buffers kept for reuse (each `block_size_bytes`).
const SPARE_BLOCK_BUFFERS_MAX: usize = 2;
/// Retries of a read whose record moved while the device read was in flight.
const READ_RETRIES_MAX: usize = 4;
/// Most bytes one device read of [`Shard::get_run`] covers (a run of neighbouring records).
pub const RUN_READ_SPAN_BYTES_MAX: usize = 256 << 10;
/// Largest gap between two records of a run (bytes read and discarded to save a read).
pub const RUN_READ_GAP_BYTES_MAX: usize = 16 << 10;

/// Default record read cache per shard: 256 MiB (a graph of a few GiB on a machine with a
/// few cores is served from memory; the cache fills only as records are read).
pub const READ_CACHE_BYTES_DEFAULT: u64 = 256 << 20;

/// When a write is acknowledged.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Durability {
    /// Acknowledged in the write buffer; a crash can lose the last `flush_ms_max` of writes.
    Buffered,
    /// Acknowledged after the flush unit holding it was written and fdatasync'ed after that
    /// (concurrent writers share one flush: group commit).
    CommitToDevice,
    /// No file; data lives in memory only.
    InMemory,
}

/// Per-shard settings (a namespace's settings, copied into each shard).
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Write block size (default 8 MiB); multiple of `flush_size_bytes`.
    pub block_size_bytes: u64,
    /// Flush unit (default 1 MiB); multiple of 4096.
    pub flush_size_bytes: u64,
    /// Largest encoded record (default and hard limit: 65535*16 bytes).
    pub record_size_max: usize,
    /// Idle time after which a partly filled buffer is written (buffered mode's loss window).
    pub flush_ms_max: u64,
    /// Durability mode.
    pub durability: Durability,
    /// Blocks under this percentage of live bytes are defragmented (default 50).
    pub defrag_lwm_pct: u32,
    /// Free blocks kept for defrag; ordinary writes never take them (default 8).
    pub defrag_reserve_blocks: u32,
    /// Writes fail with "device full" past this percentage of blocks in use (default 90).
    pub used_space_max_pct: u32,
    /// Full write blocks waiting to be written; past it, writes fail with overload (default 4).
    pub write_queue_blocks_max: usize,
    /// Recently written blocks kept in memory for reads (default 4).
    pub read_cache_blocks_max: usize,
    /// Budget of the record read cache ([`crate::rcache`]): payloads of records read from
    /// the device, with their overhead, in bytes (default [`READ_CACHE_BYTES_DEFAULT`]; 0
    /// turns it off; ignored with [`Durability::InMemory`], where the device is memory).
    pub read_cache_bytes_max: u64,
    /// Flush-unit writes in flight at once, the flush's queue depth (default 4).
    pub flush_writes_in_flight_max: usize,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            block_size_bytes: 8 << 20,
            flush_size_bytes: 1 << 20,
            record_size_max: RECORD_SIZE_LIMIT_BYTES,
            flush_ms_max: 1000,
            durability: Durability::Buffered,
            defrag_lwm_pct: 50,
            defrag_reserve_blocks: 8,
            used_space_max_pct: 90,
            write_queue_blocks_max: 4,
            read_cache_blocks_max: 4,
            read_cache_bytes_max: READ_CACHE_BYTES_DEFAULT,
            flush_writes_in_flight_max: 4,
        }
    }
}

impl StoreConfig {
    /// Checks alignment and limits; a clear error for each mistake.
    pub fn validate(&self) -> Result<(), StoreError> {
        let s = SECTOR_SIZE_BYTES as u64;
        let bad = |m: String| Err(StoreError::Config(m));
        if self.flush_size_bytes == 0 || self.flush_size_bytes % s != 0 {
            return bad(format!(
                "flush size {} is not a positive multiple of {s}",
                self.flush_size_bytes
            ));
        }
        if self.block_size_bytes == 0 || self.block_size_bytes % self.flush_size_bytes != 0 {
            return bad(format!(
                "block size {} is not a positive multiple of the flush size {}",
                self.block_size_bytes, self.flush_size_bytes
            ));
        }
        if self.block_size_bytes > BLOCK_SIZE_LIMIT_BYTES {
            return bad(format!(
                "block size {} is over {} MiB (the primary index's offset field)",
                self.block_size_bytes,
                BLOCK_SIZE_LIMIT_BYTES >> 20
            ));
        }
        if self.record_size_max > RECORD_SIZE_LIMIT_BYTES
            || self.record_size_max < record::encoded_len(0)
        {
            return bad(format!(
                "record_size_max {} outside {}..={RECORD_SIZE_LIMIT_BYTES}",
                self.record_size_max,
                record::encoded_len(0)
            ));
        }
        if (self.record_size_max + BLOCK_HEADER_SIZE_BYTES + RECORD_ALIGN_BYTES) as u64
            > self.block_size_bytes
        {
            return bad(format!(
                "record_size_max {} does not fit a block of {}",
                self.record_size_max, self.block_size_bytes
            ));
        }
        if self.defrag_lwm_pct > 99
            || self.used_space_max_pct > 100
            || self.write_queue_blocks_max == 0
        {
            return bad("defrag_lwm_pct must be < 100, used_space_max_pct <= 100, write_queue_blocks_max > 0".into());
        }
        Ok(())
    }
}

/// How a put or delete treats an existing record.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WriteMode {
    /// Write whatever exists.
    Plain,
    /// Fail with [`StoreError::Exists`] if a live record exists.
    CreateOnly,
    /// Fail with [`StoreError::GenerationMismatch`] unless the live record has this
    /// generation (0 = must not exist).
    ExpectGeneration(u16),
}

/// Where a record is in its shard's data file: block, then byte offset in the block (ordered
/// that way, which is the file's order).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Location {
    /// Block index within the data file.
    pub block: u32,
    /// Byte offset of the record within its block.
    pub offset: u32,
}

/// A record as read.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Record {
    /// Current generation.
    pub generation: u16,
    /// Void-time (s since the Unix epoch, 0 = never).
    pub void_time_s: u32,
    /// The payload.
    pub payload: Vec<u8>,
    /// Bytes this read took from the device (sector-aligned; 0 when a write buffer or the
    /// record cache served it; a share of the run for [`Shard::get_run`]).
    pub device_bytes: u32,
}

/// Counters; cheap to copy.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct ShardStats {
    /// Live (visible) records plus tombstones and expired records still indexed.
    pub index_entries: u64,
    /// Tombstones in the index.
    pub tombstones: u64,
    /// Live bytes (stored sizes) on the device.
    pub live_bytes: u64,
    /// Blocks in the file.
    pub blocks_total: u64,
    /// Free blocks.
    pub blocks_free: u64,
    /// Acknowledged puts and deletes.
    pub writes: u64,
    /// Bytes of records written by clients (stored sizes).
    pub user_bytes_written: u64,
    /// Bytes written to the device (flushes, headers, free markers).
    pub device_bytes_written: u64,
    /// Gets.
    pub reads: u64,
    /// Reads served from memory (write buffers, recent blocks).
    pub cache_hits: u64,
    /// Reads served by the record read cache.
    pub record_cache_hits: u64,
    /// Reads the record read cache could not serve (they went to the device).
    pub record_cache_misses: u64,
    /// Records evicted from the record read cache to stay within its budget.
    pub record_cache_evictions: u64,
    /// Records dropped from the record read cache because they changed.
    pub record_cache_invalidations: u64,
    /// Records in the record read cache now.
    pub record_cache_entries: u64,
    /// Bytes the record read cache holds now (payloads, overhead, tables).
    pub record_cache_bytes: u64,
    /// Reads from the device.
    pub device_reads: u64,
    /// Flushes completed / failed.
    pub flushes: u64,
    /// Failed flushes.
    pub flush_failures: u64,
    /// Blocks taken from the free list that had been used before.
    pub blocks_reused: u64,
    /// Blocks freed (free marker durable).
    pub blocks_freed: u64,
    /// Blocks defragmented.
    pub defrag_blocks: u64,
    /// Records copied by defrag.
    pub defrag_records: u64,
    /// Tombstones collected (dropped from index and device).
    pub tombstones_collected: u64,
    /// Expired records removed.
    pub expired_removed: u64,
    /// Writes refused: overload.
    pub overload_errors: u64,
    /// Writes refused: device full.
    pub device_full_errors: u64,
    /// Reads that found a damaged record.
    pub corrupt_reads: u64,
}

/// What cold start found.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct ColdStartReport {
    /// Blocks scanned with a valid header.
    pub blocks_used: u64,
    /// Valid records of current block lives.
    pub records: u64,
    /// Copies that lost to a newer copy of the same digest.
    pub replaced: u64,
    /// Winners already expired.
    pub expired: u64,
    /// Winners that are tombstones.
    pub tombstones: u64,
    /// Valid records from an earlier life of a reused block (ignored).
    pub stale: u64,
    /// Damaged records (bad CRC or length) detected.
    pub unreadable: u64,
}

/// Time source (ms since the Unix epoch); tests use a manual clock.
#[derive(Clone)]
pub enum Clock {
    /// The system clock.
    System,
    /// A settable clock.
    Manual(Rc<Cell<u64>>),
}

impl Clock {
    fn now_ms(&self) -> u64 {
        match self {
            Clock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            Clock::Manual(c) => c.get(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BlockState {
    Free,
    /// A write buffer is filling it.
    Open,
    /// Full (or found at cold start); may be defragmented.
    Sealed,
    /// Emptied; freed once flush `need` is durable (then a free marker is written).
    PendingFree,
}

#[derive(Clone, Copy, Debug)]
struct BlockInfo {
    state: BlockState,
    seq: u64,
    live_bytes: u64,
    ever_used: bool,
    in_defrag_queue: bool,
    /// Lowest and highest last-update stamp of any record written into this life of the
    /// block (defrag copies keep their old stamps): the tombstone rule works on these.
    min_stamp: u64,
    max_stamp: u64,
}

const FRESH_BLOCK: BlockInfo = BlockInfo {
    state: BlockState::Free,
    seq: 0,
    live_bytes: 0,
    ever_used: false,
    in_defrag_queue: false,
    min_stamp: u64::MAX,
    max_stamp: 0,
};

/// An in-memory write block.
struct WBuf {
    block: u32,
    data: Vec<u8>,
    /// Bytes appended.
    fill: usize,
    /// Bytes handed to the device so far (prefix).
    written: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stream {
    Main,
    Defrag,
}

struct State {
    index: Index,
    blocks: Vec<BlockInfo>,
    free: VecDeque<u32>,
    pending_free: Vec<(u32, u64)>,
    main: Option<WBuf>,
    defrag: Option<WBuf>,
    sealed: VecDeque<WBuf>,
    /// Recently written blocks by block number, and their order (oldest first).
    cache: hashbrown::HashMap<u32, Rc<Vec<u8>>>,
    cache_order: VecDeque<u32>,
    /// The record read cache.
    rcache: RecordCache,
    defrag_queue: VecDeque<u32>,
    next_seq: u64,
    /// Sequence numbers below this are durably reserved in the file header.
    seq_reserved: u64,
    last_lut_stamp: u64,
    flush_started: u64,
    durable_upto: u64,
    /// The flush that makes the newest user write durable (`flush_started + 1` when it was
    /// appended): a refusal that observed the index waits for it in commit-to-device mode.
    last_write_need: u64,
    failed_flushes: VecDeque<u64>,
    last_flush_ms: u64,
    tombstones: u64,
    /// Last-update stamps of the tombstones in the index (a minority of records, so the
    /// index entry stays at 16 bytes).
    tomb_stamps: hashbrown::HashMap<Digest, u64, crate::index::BuildDigestHasher>,
    live_bytes: u64,
    stats: ShardStats,
    /// Block buffers evicted from the read cache, kept for the next block opened (a fresh
    /// buffer costs a page fault per 4 KiB page; a spare one only a memset).
    spare_blocks: Vec<Vec<u8>>,
}

/// One shard: a data file (or memory) with its index.
pub struct Shard {
    id: u32,
    cfg: StoreConfig,
    dev: Device,
    clock: Clock,
    st: RefCell<State>,
    flushing: Cell<bool>,
    flush_done: Notify,
    wake_flusher: Notify,
    /// Called synchronously after every applied write (see [`Shard::set_write_hook`]).
    write_hook: RefCell<Option<WriteHook>>,
}

/// An observer of applied writes: the digest and the new payload (`None`: deleted). Runs in
/// the write's synchronous section, so observers see writes in the order they apply.
pub type WriteHook = std::rc::Rc<dyn Fn(&Digest, Option<&[u8]>)>;

fn align_down(v: usize) -> usize {
    v / SECTOR_SIZE_BYTES * SECTOR_SIZE_BYTES
}
fn align_up(v: usize) -> usize {
    v.div_ceil(SECTOR_SIZE_BYTES) * SECTOR_SIZE_BYTES
}

/// Block sequence numbers are reserved in the file header this many at a time: no block is
/// written with a sequence number that is not durably reserved, so a restart never reuses
/// one (which would make leftovers of a torn, unacknowledged write look current).
pub const SEQ_RESERVE_STEP: u64 = 1024;

/// Encodes a data file header.
pub fn encode_file_header(
    shard_id: u32,
    cfg: &StoreConfig,
    block_count: u64,
    seq_reserved: u64,
) -> Vec<u8> {
    let mut h = vec![0u8; SECTOR_SIZE_BYTES];
    h[0..8].copy_from_slice(FILE_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&shard_id.to_le_bytes());
    h[16..24].copy_from_slice(&cfg.block_size_bytes.to_le_bytes());
    h[24..32].copy_from_slice(&cfg.flush_size_bytes.to_le_bytes());
    h[32..40].copy_from_slice(&block_count.to_le_bytes());
    h[40..48].copy_from_slice(&seq_reserved.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..48]);
    h[48..52].copy_from_slice(&crc.to_le_bytes());
    h
}

fn check_file_header(
    h: &[u8],
    shard_id: u32,
    cfg: &StoreConfig,
    block_count: u64,
) -> Result<u64, StoreError> {
    let expect = encode_file_header(shard_id, cfg, block_count, 0);
    let crc_ok = match (h.get(0..48), h.get(48..52)) {
        (Some(body), Some(c)) => crc32c::crc32c(body).to_le_bytes() == c,
        _ => false,
    };
    if h.get(0..40) != expect.get(0..40) || !crc_ok {
        return Err(StoreError::Corrupt(format!(
            "shard {shard_id}: file header does not match (magic, version {FORMAT_VERSION}, shard id, block size {}, flush size {}, {block_count} blocks)",
            cfg.block_size_bytes, cfg.flush_size_bytes
        )));
    }
    let mut r = [0u8; 8];
    r.copy_from_slice(h.get(40..48).unwrap_or(&[0; 8]));
    Ok(u64::from_le_bytes(r))
}

impl Shard {
    /// Formats `dev` as an empty shard (writes the file header) and opens it.
    pub async fn create(
        id: u32,
        cfg: StoreConfig,
        dev: Device,
        clock: Clock,
    ) -> Result<Shard, StoreError> {
        cfg.validate()?;
        let n = Self::block_count(&cfg, &dev)?;
        let h = encode_file_header(id, &cfg, n, SEQ_RESERVE_STEP);
        dev.write_at(0, &h).await?;
        dev.sync().await?;
        let shard = Self::new_empty(id, cfg, dev, clock, n);
        shard.st.borrow_mut().seq_reserved = SEQ_RESERVE_STEP;
        Ok(shard)
    }

    /// Formats a device that was not zero-filled by us (a raw block device, which may hold
    /// anything, including records of an earlier shard whose block sequence numbers the new
    /// shard would reuse, making them current again): zeroes the file header (synced first,
    /// so a cut format leaves no header), then the rest of the device (`zeroed_by_device`:
    /// the caller already zeroed it, e.g. with `BLKZEROOUT`; otherwise written here in
    /// [`crate::device::ZERO_FILL_CHUNK_BYTES_MAX`] chunks), syncs, then writes the header
    /// like [`Shard::create`].
    pub async fn create_zeroing(
        id: u32,
        cfg: StoreConfig,
        dev: Device,
        clock: Clock,
        zeroed_by_device: bool,
    ) -> Result<Shard, StoreError> {
        cfg.validate()?;
        Self::block_count(&cfg, &dev)?;
        dev.write_at(0, &[0u8; SECTOR_SIZE_BYTES]).await?;
        dev.sync().await?;
        if !zeroed_by_device {
            let size = dev.size_bytes();
            let chunk = vec![0u8; crate::device::ZERO_FILL_CHUNK_BYTES_MAX];
            let mut off = FILE_HEADER_SIZE_BYTES;
            while off < size {
                let n = (size - off).min(chunk.len() as u64) as usize;
                dev.write_at(off, chunk.get(..n).unwrap_or(&chunk)).await?;
                off += n as u64;
            }
        }
        dev.sync().await?;
        Self::create(id, cfg, dev, clock).await
    }

    fn block_count(cfg: &StoreConfig, dev: &Device) -> Result<u64, StoreError> {
        let n = dev.size_bytes().saturating_sub(FILE_HEADER_SIZE_BYTES) / cfg.block_size_bytes;
        if n < cfg.defrag_reserve_blocks as u64 + 3 {
            return Err(StoreError::Config(format!(
                "device of {} bytes holds {n} blocks of {}; need at least {}",
                dev.size_bytes(),
                cfg.block_size_bytes,
                cfg.defrag_reserve_blocks + 3
            )));
        }
        u32::try_from(n).map_err(|_| StoreError::Config("too many blocks".into()))?;
        Ok(n)
    }

    fn new_empty(id: u32, cfg: StoreConfig, dev: Device, clock: Clock, n: u64) -> Shard {
        let blocks = vec![FRESH_BLOCK; n as usize];
        let st = State {
            index: Index::default(),
            blocks,
            free: (0..n as u32).collect(),
            pending_free: Vec::new(),
            main: None,
            defrag: None,
            sealed: VecDeque::new(),
            cache: Default::default(),
            cache_order: VecDeque::new(),
            rcache: RecordCache::new(if cfg.durability == Durability::InMemory {
                0
            } else {
                cfg.read_cache_bytes_max
            }),
            defrag_queue: VecDeque::new(),
            next_seq: 1,
            seq_reserved: 0,
            last_lut_stamp: 0,
            flush_started: 0,
            durable_upto: 0,
            last_write_need: 0,
            failed_flushes: VecDeque::new(),
            last_flush_ms: clock.now_ms(),
            tombstones: 0,
            tomb_stamps: Default::default(),
            live_bytes: 0,
            stats: ShardStats {
                blocks_total: n,
                ..Default::default()
            },
            spare_blocks: Vec::new(),
        };
        Shard {
            id,
            cfg,
            dev,
            clock,
            st: RefCell::new(st),
            flushing: Cell::new(false),
            flush_done: Notify::default(),
            wake_flusher: Notify::default(),
            write_hook: RefCell::new(None),
        }
    }

    /// Opens an existing shard: checks the file header and rebuilds the index by scanning
    /// every block (cold start), logging a progress line.
    pub async fn open(
        id: u32,
        cfg: StoreConfig,
        dev: Device,
        clock: Clock,
    ) -> Result<(Shard, ColdStartReport), StoreError> {
        cfg.validate()?;
        let n = Self::block_count(&cfg, &dev)?;
        let h = dev.read_at(0, SECTOR_SIZE_BYTES).await?;
        let reserved = check_file_header(&h, id, &cfg, n)?;
        let shard = Self::new_empty(id, cfg, dev, clock, n);
        shard.st.borrow_mut().seq_reserved = reserved;
        let rep = shard.cold_start().await?;
        Ok((shard, rep))
    }

    /// Shard id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The settings.
    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// The device (tests reach the simulator through it).
    pub fn device(&self) -> &Device {
        &self.dev
    }

    fn block_offset(&self, b: u32) -> u64 {
        FILE_HEADER_SIZE_BYTES + b as u64 * self.cfg.block_size_bytes
    }

    fn now_s(&self) -> u32 {
        (self.clock.now_ms() / 1000) as u32
    }

    // ----- reads -----

    /// Reads a record; `None` if absent, deleted or expired.
    pub async fn get(&self, digest: &Digest) -> Result<Option<Record>, StoreError> {
        let mut device_bytes = 0u32;
        for _ in 0..READ_RETRIES_MAX {
            let (entry, mem) = {
                let mut st = self.st.borrow_mut();
                st.stats.reads += 1;
                let Some(e) = st.index.get(digest).copied() else {
                    return Ok(None);
                };
                if e.is_tombstone() || e.is_expired(self.now_s()) {
                    return Ok(None);
                }
                let mem = Self::mem_block(&st, e.block).map(|d| {
                    d.get(e.offset()..e.offset() + e.stored_len())
                        .map(|s| s.to_vec())
                });
                if mem.is_some() {
                    st.stats.cache_hits += 1;
                } else if let Some(p) = st.rcache.get(digest, &e) {
                    // `e` is the index entry now (live, not expired: checked above).
                    let payload = p.to_vec();
                    return Ok(Some(Record {
                        generation: e.generation,
                        void_time_s: e.void_time_s,
                        payload,
                        device_bytes,
                    }));
                } else {
                    st.stats.device_reads += 1;
                }
                (e, mem)
            };
            let from_device = mem.is_none();
            let bytes = match mem {
                Some(Some(b)) => b,
                Some(None) => return Err(StoreError::Corrupt("index points past a buffer".into())),
                None => {
                    let start = self.block_offset(entry.block) + entry.offset() as u64;
                    let lo = start / SECTOR_SIZE_BYTES as u64 * SECTOR_SIZE_BYTES as u64;
                    let hi = align_up((start - lo) as usize + entry.stored_len());
                    let buf = self.dev.read_at(lo, hi).await?;
                    device_bytes =
                        device_bytes.saturating_add(u32::try_from(hi).unwrap_or(u32::MAX));
                    // The record may have moved (defrag, overwrite) while we waited.
                    if self.st.borrow().index.get(digest) != Some(&entry) {
                        continue;
                    }
                    let from = (start - lo) as usize;
                    buf.get(from..from + entry.stored_len())
                        .map(|s| s.to_vec())
                        .unwrap_or_default()
                }
            };
            return match record::decode(&bytes, self.cfg.record_size_max) {
                Ok((m, p, _)) if m.digest == *digest && m.generation == entry.generation => {
                    if from_device {
                        // CRC checked by `decode`; the index still names this copy (checked
                        // after the read, no await since).
                        if let Some(pl) = bytes.get(p.clone()) {
                            self.st.borrow_mut().rcache.insert(*digest, entry, pl);
                        }
                    }
                    Ok(Some(Record {
                        generation: m.generation,
                        void_time_s: m.void_time_s,
                        payload: bytes[p].to_vec(),
                        device_bytes,
                    }))
                }
                Ok(_) | Err(_) => {
                    self.st.borrow_mut().stats.corrupt_reads += 1;
                    Err(StoreError::Corrupt(format!(
                        "shard {}: damaged record in block {} at {}",
                        self.id,
                        entry.block,
                        entry.offset()
                    )))
                }
            };
        }
        Err(StoreError::Overload)
    }

    /// Reads the records under `digests`, answering like [`Shard::get`] for each (in input
    /// order, `None` where absent), but with one device read for each run of neighbouring
    /// records of one block (at most [`RUN_READ_SPAN_BYTES_MAX`] from the first record's
    /// start to the last one's end, at most [`RUN_READ_GAP_BYTES_MAX`] between two): a scan
    /// that lists records in location order ([`Shard::scan_tagged`]) reads the file in large
    /// sequential reads when its records lie close together, instead of one read each.
    /// Records in a write buffer or the record cache, and records that moved while the read
    /// was in flight, are read by `get`. Records read from the device enter the record cache
    /// as by `get`.
    pub async fn get_run(&self, digests: &[Digest]) -> Result<Vec<Option<Record>>, StoreError> {
        let mut out = Vec::with_capacity(digests.len());
        let mut i = 0;
        while i < digests.len() {
            let run = self.plan_run(digests.get(i..).unwrap_or_default());
            let (Some((d0, first)), Some((_, last))) = (run.first(), run.last()) else {
                // Absent, in memory, cached or alone: the ordinary read.
                if let Some(d) = digests.get(i) {
                    out.push(self.get(d).await?);
                }
                i += 1;
                continue;
            };
            if run.len() < 2 {
                out.push(self.get(d0).await?);
                i += 1;
                continue;
            }
            let start = self.block_offset(first.block) + first.offset() as u64;
            let end = self.block_offset(last.block) + (last.offset() + last.stored_len()) as u64;
            let sector = SECTOR_SIZE_BYTES as u64;
            let lo = start / sector * sector;
            let len = align_up((end - lo) as usize);
            {
                let mut st = self.st.borrow_mut();
                st.stats.reads += run.len() as u64;
                st.stats.device_reads += 1;
            }
            let buf = self.dev.read_at(lo, len).await?;
            // The run's bytes, shared out: each record its own, the first also the gaps.
            let stored: usize = run.iter().map(|(_, e)| e.stored_len()).sum();
            let mut extra = len.saturating_sub(stored);
            for (d, e) in &run {
                let share =
                    u32::try_from(e.stored_len() + std::mem::take(&mut extra)).unwrap_or(u32::MAX);
                // Moved (defrag, overwrite) or gone since the run was planned: read it again.
                if self.st.borrow().index.get(d) != Some(e) {
                    out.push(self.get(d).await?);
                    continue;
                }
                let from = (self.block_offset(e.block) + e.offset() as u64 - lo) as usize;
                let bytes = buf.get(from..from + e.stored_len()).unwrap_or_default();
                match record::decode(bytes, self.cfg.record_size_max) {
                    Ok((m, p, _)) if m.digest == *d && m.generation == e.generation => {
                        let payload = bytes.get(p).unwrap_or_default().to_vec();
                        self.st.borrow_mut().rcache.insert(*d, *e, &payload);
                        out.push(Some(Record {
                            generation: m.generation,
                            void_time_s: m.void_time_s,
                            payload,
                            device_bytes: share,
                        }));
                    }
                    Ok(_) | Err(_) => {
                        self.st.borrow_mut().stats.corrupt_reads += 1;
                        return Err(StoreError::Corrupt(format!(
                            "shard {}: damaged record in block {} at {}",
                            self.id,
                            e.block,
                            e.offset()
                        )));
                    }
                }
            }
            i += run.len();
        }
        Ok(out)
    }

    /// The run [`Shard::get_run`] reads with one device read from the start of `digests`:
    /// live records on the device (not in a write buffer or the record cache), in one block,
    /// each after the previous one, within the span and gap limits. Empty when the first
    /// record is not such a record.
    fn plan_run(&self, digests: &[Digest]) -> Vec<(Digest, Entry)> {
        let st = self.st.borrow();
        let now = self.now_s();
        let mut run: Vec<(Digest, Entry)> = Vec::new();
        for d in digests {
            let Some(e) = st.index.get(d).copied() else {
                break;
            };
            if e.is_tombstone()
                || e.is_expired(now)
                || Self::mem_block(&st, e.block).is_some()
                || st.rcache.contains(d)
            {
                break;
            }
            if let (Some((_, first)), Some((_, last))) = (run.first(), run.last()) {
                let last_end = last.offset() + last.stored_len();
                if e.block != first.block
                    || e.offset() < last_end
                    || e.offset() - last_end > RUN_READ_GAP_BYTES_MAX
                    || e.offset() + e.stored_len() - first.offset() > RUN_READ_SPAN_BYTES_MAX
                {
                    break;
                }
            }
            run.push((*d, e));
        }
        run
    }

    fn mem_block(st: &State, b: u32) -> Option<&[u8]> {
        for w in st
            .main
            .iter()
            .chain(st.defrag.iter())
            .chain(st.sealed.iter())
        {
            if w.block == b {
                return Some(&w.data);
            }
        }
        st.cache.get(&b).map(|d| d.as_slice())
    }

    /// Whether a live record exists (index only, no I/O).
    pub fn contains(&self, digest: &Digest) -> bool {
        let st = self.st.borrow();
        st.index
            .get(digest)
            .is_some_and(|e| !e.is_tombstone() && !e.is_expired(self.now_s()))
    }

    /// Device byte offset and stored length of the record the index holds for `digest`
    /// (live, tombstone or expired); for tests and inspection tools.
    pub fn locate(&self, digest: &Digest) -> Option<(u64, usize, bool)> {
        let st = self.st.borrow();
        let e = st.index.get(digest)?;
        Some((
            self.block_offset(e.block) + e.offset() as u64,
            e.stored_len(),
            e.is_tombstone(),
        ))
    }

    /// Installs (or removes) the observer of applied writes (secondary indexes use it). It
    /// must not write to this shard.
    pub fn set_write_hook(&self, hook: Option<WriteHook>) {
        *self.write_hook.borrow_mut() = hook;
    }

    /// Live digests (optionally of one partition), a snapshot for rebuilds and bulk export;
    /// read each with [`Shard::get`].
    pub fn scan_digests(&self, partition: Option<u16>) -> Vec<Digest> {
        let st = self.st.borrow();
        let now = self.now_s();
        st.index
            .iter()
            .filter(|(d, e)| {
                !e.is_tombstone()
                    && !e.is_expired(now)
                    && partition.is_none_or(|p| d.partition() == p)
            })
            .map(|(d, _)| *d)
            .collect()
    }

    /// Live records (optionally of one partition) whose tag ([`Entry::tag`]: the first byte
    /// of the payload) is one of `tags`, each with its location, sorted by location (block,
    /// then offset) so that reading them in this order goes through the data file in order.
    /// Decided from the primary index alone (no I/O); a snapshot of only the matching
    /// records. Read each with [`Shard::get`] (it may have changed or gone since).
    pub fn scan_tagged(&self, tags: &[u8], partition: Option<u16>) -> Vec<(Digest, Location)> {
        let mut want = [false; 256];
        for &t in tags {
            if let Some(w) = want.get_mut(t as usize) {
                *w = true;
            }
        }
        let st = self.st.borrow();
        let now = self.now_s();
        let mut out: Vec<(Digest, Location)> = st
            .index
            .iter()
            .filter(|(d, e)| {
                want.get(e.tag() as usize).copied().unwrap_or(false)
                    && !e.is_tombstone()
                    && !e.is_expired(now)
                    && partition.is_none_or(|p| d.partition() == p)
            })
            .map(|(d, e)| {
                (
                    *d,
                    Location {
                        block: e.block,
                        offset: e.offset() as u32,
                    },
                )
            })
            .collect();
        out.sort_unstable_by_key(|(_, l)| *l);
        out
    }

    // ----- writes -----

    /// Writes a record. `ttl_s` 0 = never expires. Returns the new generation.
    pub async fn put(
        &self,
        digest: &Digest,
        payload: &[u8],
        mode: WriteMode,
        ttl_s: u32,
    ) -> Result<u16, StoreError> {
        self.write(digest, payload, mode, ttl_s, false).await
    }

    /// Deletes a record by writing a tombstone. Returns whether a live record existed.
    pub async fn delete(&self, digest: &Digest, mode: WriteMode) -> Result<bool, StoreError> {
        match self.write(digest, &[], mode, 0, true).await {
            Ok(_) => Ok(true),
            // `write` answered "not found" only once the absence it saw was durable.
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes a record like [`Shard::put`], but in commit-to-device mode answers as soon as
    /// the record is in the write buffer, before it is durable. Returns the generation and
    /// the flush that makes the record durable, to pass to [`Shard::wait_flushed`] before
    /// anything that depends on the write is acknowledged. A refusal (`Exists`,
    /// `GenerationMismatch`) is answered as by `put`: once the state that refused is durable.
    pub async fn put_unsynced(
        &self,
        digest: &Digest,
        payload: &[u8],
        mode: WriteMode,
        ttl_s: u32,
    ) -> Result<(u16, u64), StoreError> {
        self.write_waiting(digest, payload, mode, ttl_s, false, false)
            .await
    }

    /// Waits until flush `flush` (as returned by [`Shard::put_unsynced`]) is durable, running
    /// it if none is in progress. Then the write it was returned for, and every write
    /// appended before that one on this shard, is durable (flushes run one at a time, each
    /// writing everything appended before it started, then `fdatasync`). A no-op unless the
    /// shard is in commit-to-device mode.
    pub async fn wait_flushed(&self, flush: u64) -> Result<(), StoreError> {
        if self.cfg.durability == Durability::CommitToDevice {
            self.wait_durable(flush).await?;
        }
        Ok(())
    }

    async fn write(
        &self,
        digest: &Digest,
        payload: &[u8],
        mode: WriteMode,
        ttl_s: u32,
        tombstone: bool,
    ) -> Result<u16, StoreError> {
        self.write_waiting(digest, payload, mode, ttl_s, tombstone, true)
            .await
            .map(|(gen, _)| gen)
    }

    /// [`Shard::write`]; in commit-to-device mode a successful write waits until it is durable
    /// only if `wait`. Returns the generation and the flush that makes the write durable.
    async fn write_waiting(
        &self,
        digest: &Digest,
        payload: &[u8],
        mode: WriteMode,
        ttl_s: u32,
        tombstone: bool,
        wait: bool,
    ) -> Result<(u16, u64), StoreError> {
        let size = record::encoded_len(payload.len());
        if size > self.cfg.record_size_max {
            return Err(StoreError::RecordTooBig {
                size_bytes: size,
                max_bytes: self.cfg.record_size_max,
            });
        }
        let (gen, need) = match self.write_now(digest, payload, mode, ttl_s, tombstone) {
            Ok(done) => {
                // Same synchronous section as the apply: observers see writes in order.
                let hook = self.write_hook.borrow().clone();
                if let Some(h) = hook {
                    h(digest, (!tombstone).then_some(payload));
                }
                done
            }
            Err(
                e @ (StoreError::Exists
                | StoreError::GenerationMismatch { .. }
                | StoreError::NotFound),
            ) => {
                // The state that refused the write (another writer's record, generation or
                // tombstone) may still be only in the write buffer. In commit-to-device mode
                // answer only once it is durable, or a crash after the answer could undo what
                // the answer reported (seen by the crash test: two concurrent deletes).
                if self.cfg.durability == Durability::CommitToDevice {
                    let need = self.st.borrow().last_write_need;
                    self.wait_durable(need).await?;
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        match self.cfg.durability {
            Durability::CommitToDevice if wait => self.wait_durable(need).await?,
            Durability::CommitToDevice => {}
            Durability::Buffered => {
                // Wake the background flusher when a flush unit is full.
                let st = self.st.borrow();
                let dirty = st
                    .main
                    .as_ref()
                    .map_or(0, |w| w.fill - align_down(w.written));
                if !st.sealed.is_empty() || dirty as u64 >= self.cfg.flush_size_bytes {
                    self.wake_flusher.notify_all();
                }
            }
            Durability::InMemory => {}
        }
        Ok((gen, need))
    }

    /// The synchronous half of [`Shard::write`]: checks the mode, appends and indexes the
    /// record; returns its generation and the flush that makes it durable.
    fn write_now(
        &self,
        digest: &Digest,
        payload: &[u8],
        mode: WriteMode,
        ttl_s: u32,
        tombstone: bool,
    ) -> Result<(u16, u64), StoreError> {
        {
            let mut guard = self.st.borrow_mut();
            let st = &mut *guard;
            let now_ms = self.clock.now_ms();
            let now_s = (now_ms / 1000) as u32;
            let old = st.index.get(digest).copied();
            let live_old = old.filter(|e| !e.is_tombstone() && !e.is_expired(now_s));
            match mode {
                WriteMode::Plain => {}
                WriteMode::CreateOnly => {
                    if live_old.is_some() {
                        return Err(StoreError::Exists);
                    }
                }
                WriteMode::ExpectGeneration(g) => {
                    let actual = live_old.map_or(0, |e| e.generation);
                    if actual != g {
                        return Err(StoreError::GenerationMismatch {
                            expected: g,
                            actual,
                        });
                    }
                }
            }
            if tombstone && live_old.is_none() {
                return Err(StoreError::NotFound);
            }
            if !tombstone
                && st.blocks_in_use() * 100
                    > st.blocks.len() as u64 * self.cfg.used_space_max_pct as u64
            {
                st.stats.device_full_errors += 1;
                return Err(StoreError::DeviceFull);
            }
            // Generation continues from any indexed copy (tombstones and expired included), so
            // that cold start orders copies correctly.
            let gen = old.map_or(1, |e| next_generation(e.generation));
            // Last-update stamp: ms in the high 48 bits, a counter within the ms in the low 16;
            // strictly increasing per shard, so no two writes of a digest tie at cold start.
            let lut = (now_ms << 16).max(st.last_lut_stamp + 1);
            st.last_lut_stamp = lut;
            let void = if ttl_s == 0 {
                0
            } else {
                now_s.saturating_add(ttl_s)
            };
            let meta = RecordMeta {
                digest: *digest,
                generation: gen,
                flags: if tombstone { FLAG_TOMBSTONE } else { 0 },
                lut_stamp: lut,
                void_time_s: void,
                block_seq: 0,
            };
            let stored = record::stored_len(payload.len());
            let (b, off) =
                self.append(st, Stream::Main, meta, payload)
                    .inspect_err(|e| match e {
                        StoreError::Overload => st.stats.overload_errors += 1,
                        StoreError::DeviceFull => st.stats.device_full_errors += 1,
                        _ => {}
                    })?;
            let tag = if tombstone { 0 } else { record_tag(payload) };
            let entry = Entry::new(b, off, stored, gen, void, tombstone, tag);
            // A cached record stays cached with its new version (a hot record is read again).
            let hot = !tombstone && st.rcache.contains(digest);
            self.replace_entry(st, *digest, old, Some(entry), lut);
            if hot {
                st.rcache.insert(*digest, entry, payload);
            }
            st.stats.writes += 1;
            st.stats.user_bytes_written += stored as u64;
            st.last_write_need = st.flush_started + 1;
            Ok((gen, st.flush_started + 1))
        }
    }

    /// Updates the index and live-byte accounting for `digest` from `old` to `new`.
    fn replace_entry(
        &self,
        st: &mut State,
        digest: Digest,
        old: Option<Entry>,
        new: Option<Entry>,
        stamp: u64,
    ) {
        // The record read cache's rule 1 (see `crate::rcache`): every index change drops
        // the digest's cached copy.
        st.rcache.remove(&digest);
        if let Some(o) = old {
            self.sub_live(st, o.block, o.stored_len() as u64);
            if o.is_tombstone() {
                st.tombstones -= 1;
                st.tomb_stamps.remove(&digest);
            }
        }
        match new {
            Some(n) => {
                st.index.insert(digest, n);
                if let Some(bi) = st.blocks.get_mut(n.block as usize) {
                    bi.live_bytes += n.stored_len() as u64;
                }
                st.live_bytes += n.stored_len() as u64;
                if n.is_tombstone() {
                    st.tombstones += 1;
                    st.tomb_stamps.insert(digest, stamp);
                }
            }
            None => {
                st.index.remove(&digest);
            }
        }
    }

    fn sub_live(&self, st: &mut State, b: u32, n: u64) {
        st.live_bytes = st.live_bytes.saturating_sub(n);
        let need = st.flush_started + 1;
        let lwm = self.cfg.block_size_bytes * self.cfg.defrag_lwm_pct as u64 / 100;
        let Some(bi) = st.blocks.get_mut(b as usize) else {
            return;
        };
        bi.live_bytes = bi.live_bytes.saturating_sub(n);
        if bi.state != BlockState::Sealed {
            return;
        }
        if bi.live_bytes == 0 {
            // Reused only after the writes that emptied it are durable.
            bi.state = BlockState::PendingFree;
            st.pending_free.push((b, need));
        } else if bi.live_bytes < lwm && !bi.in_defrag_queue {
            bi.in_defrag_queue = true;
            st.defrag_queue.push_back(b);
        }
    }

    /// Appends a record to a stream's write buffer, opening and sealing blocks as needed.
    fn append(
        &self,
        st: &mut State,
        stream: Stream,
        mut meta: RecordMeta,
        payload: &[u8],
    ) -> Result<(u32, usize), StoreError> {
        let stored = record::stored_len(payload.len());
        let bs = self.cfg.block_size_bytes as usize;
        loop {
            let slot = match stream {
                Stream::Main => &mut st.main,
                Stream::Defrag => &mut st.defrag,
            };
            if let Some(w) = slot.as_mut() {
                if w.fill + stored <= bs {
                    let b = w.block;
                    let off = w.fill;
                    if let Some(bi) = st.blocks.get_mut(b as usize) {
                        meta.block_seq = bi.seq;
                        bi.min_stamp = bi.min_stamp.min(meta.lut_stamp);
                        bi.max_stamp = bi.max_stamp.max(meta.lut_stamp);
                    }
                    let w = match stream {
                        Stream::Main => st.main.as_mut(),
                        Stream::Defrag => st.defrag.as_mut(),
                    }
                    .ok_or_else(|| StoreError::Corrupt("write buffer vanished".into()))?;
                    let dst = w.data.get_mut(off..).unwrap_or_default();
                    record::encode_into(&meta, payload, dst)
                        .ok_or_else(|| StoreError::Corrupt("write buffer too short".into()))?;
                    w.fill = off + stored;
                    return Ok((b, off));
                }
                // Seal: full blocks queue for the device; bounded.
                if st.sealed.len() >= self.cfg.write_queue_blocks_max && stream == Stream::Main {
                    return Err(StoreError::Overload);
                }
                if let Some(w) = slot.take() {
                    let b = w.block;
                    st.sealed.push_back(w);
                    self.seal_block(st, b);
                }
            }
            // Open a new block.
            // Deletes may dip into half of the defrag reserve, so space can still be freed
            // when ordinary writes already fail with "device full".
            let reserve = match stream {
                Stream::Main if meta.is_tombstone() => self.cfg.defrag_reserve_blocks as usize / 2,
                Stream::Main => self.cfg.defrag_reserve_blocks as usize,
                Stream::Defrag => 0,
            };
            if st.free.len() <= reserve {
                return Err(StoreError::DeviceFull);
            }
            let b = st.free.pop_front().ok_or(StoreError::DeviceFull)?;
            let seq = st.next_seq;
            st.next_seq += 1;
            if let Some(bi) = st.blocks.get_mut(b as usize) {
                if bi.ever_used {
                    st.stats.blocks_reused += 1;
                }
                *bi = BlockInfo {
                    state: BlockState::Open,
                    seq,
                    ever_used: true,
                    ..FRESH_BLOCK
                };
            }
            let mut data = match st.spare_blocks.pop() {
                Some(mut d) if d.len() == bs => {
                    d.fill(0);
                    d
                }
                _ => vec![0u8; bs],
            };
            data[..BLOCK_HEADER_SIZE_BYTES].copy_from_slice(&encode_block_header(self.id, seq));
            let w = WBuf {
                block: b,
                data,
                fill: BLOCK_HEADER_SIZE_BYTES,
                written: 0,
            };
            match stream {
                Stream::Main => st.main = Some(w),
                Stream::Defrag => st.defrag = Some(w),
            }
        }
    }

    fn seal_block(&self, st: &mut State, b: u32) {
        let need = st.flush_started + 1;
        let lwm = self.cfg.block_size_bytes * self.cfg.defrag_lwm_pct as u64 / 100;
        if let Some(bi) = st.blocks.get_mut(b as usize) {
            bi.state = BlockState::Sealed;
            if bi.live_bytes == 0 {
                bi.state = BlockState::PendingFree;
                st.pending_free.push((b, need));
            } else if bi.live_bytes < lwm && !bi.in_defrag_queue {
                bi.in_defrag_queue = true;
                st.defrag_queue.push_back(b);
            }
        }
    }

    // ----- flushing and group commit -----

    /// Waits until everything appended before flush `need` started is durable, running the
    /// flush itself when none is in progress (group commit).
    async fn wait_durable(&self, need: u64) -> Result<(), StoreError> {
        loop {
            {
                let st = self.st.borrow();
                if st.durable_upto >= need {
                    return Ok(());
                }
                if st.failed_flushes.iter().any(|&f| f >= need) {
                    return Err(StoreError::Io(std::io::Error::other(
                        "flush failed; write not acknowledged",
                    )));
                }
            }
            if self.flushing.get() {
                self.flush_done.wait().await;
            } else {
                // An error is reported to every waiter through `failed_flushes`.
                let _ = self.flush_once().await;
            }
        }
    }

    /// Waits for the next flush to complete (asking the flusher to run): what a writer
    /// refused with [`StoreError::Overload`] or [`StoreError::DeviceFull`] awaits before it
    /// retries, instead of polling.
    pub async fn wait_for_flush(&self) {
        let done = self.flush_done.wait();
        self.wake_flusher.notify_all();
        done.await;
    }

    /// Makes every write appended so far durable.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let need = self.st.borrow().flush_started + 1;
        self.wait_durable(need).await
    }

    fn flush_jobs(
        st: &mut State,
        dev_off: impl Fn(u32) -> u64,
        flush_size: usize,
    ) -> Vec<(u64, Vec<u8>, u32, usize)> {
        let mut jobs = Vec::new();
        let bufs = st
            .sealed
            .iter_mut()
            .chain(st.main.iter_mut())
            .chain(st.defrag.iter_mut());
        for w in bufs {
            if w.fill <= w.written {
                continue;
            }
            let prev = w.written;
            let mut s = align_down(w.written);
            let end = align_up(w.fill).min(w.data.len());
            while s < end {
                let e = ((s / flush_size + 1) * flush_size).min(end);
                jobs.push((
                    dev_off(w.block) + s as u64,
                    w.data[s..e].to_vec(),
                    w.block,
                    prev,
                ));
                s = e;
            }
            w.written = w.fill;
        }
        jobs
    }

    async fn flush_once(&self) -> Result<(), StoreError> {
        self.flushing.set(true);
        let bs = self.cfg.block_size_bytes;
        let (k, jobs, markers, reserve) = {
            let mut guard = self.st.borrow_mut();
            let st = &mut *guard;
            st.flush_started += 1;
            let k = st.flush_started;
            let jobs = Self::flush_jobs(
                st,
                |b| FILE_HEADER_SIZE_BYTES + b as u64 * bs,
                self.cfg.flush_size_bytes as usize,
            );
            let durable = st.durable_upto;
            let mut markers = Vec::new();
            st.pending_free.retain(|&(b, need)| {
                if need <= durable {
                    markers.push(b);
                    false
                } else {
                    true
                }
            });
            let seq_max = jobs
                .iter()
                .filter_map(|j| st.blocks.get(j.2 as usize).map(|b| b.seq))
                .max()
                .unwrap_or(0);
            let reserve = (seq_max >= st.seq_reserved).then(|| seq_max + SEQ_RESERVE_STEP);
            (k, jobs, markers, reserve)
        };
        let mut zero = vec![0u8; SECTOR_SIZE_BYTES];
        zero[..FREE_MARKER.len()].copy_from_slice(FREE_MARKER);
        let mut result: Result<u64, std::io::Error> = Ok(0);
        if let Some(r) = reserve {
            // Reserve more sequence numbers durably before any block uses them.
            let h = encode_file_header(self.id, &self.cfg, self.st.borrow().blocks.len() as u64, r);
            result = self
                .dev
                .write_synced_at(0, &h)
                .await
                .map(|()| h.len() as u64);
            if result.is_ok() {
                self.st.borrow_mut().seq_reserved = r;
            }
        }
        // A flush of one write and nothing else (a commit of a few records, the common
        // case under load) is one synced write: no separate fdatasync. That write need not
        // make earlier ones durable: every device write is made durable by the flush (or
        // format) that wrote it before that completes, and a failed flush's ranges are
        // written again by the next.
        let single = result.is_ok() && jobs.len() == 1 && markers.is_empty();
        if single {
            result = match jobs.first() {
                Some((off, data, _, _)) => self
                    .dev
                    .write_synced_at(*off, data)
                    .await
                    .map(|()| data.len() as u64),
                None => Ok(0),
            };
        } else if result.is_ok() {
            // At most `flush_writes_in_flight_max` writes in flight: lane `l` writes jobs
            // l, l + lanes, ... one after another, and the lanes run concurrently. (All at
            // once, 16-32 writes of 1 MiB, ran at a quarter of the bandwidth of 4 on the
            // virtio disk measured in docs/PERF.md.)
            let lanes = self
                .cfg
                .flush_writes_in_flight_max
                .clamp(1, jobs.len().max(1));
            let jobs_ref = &jobs;
            let lane_futs = (0..lanes)
                .map(|l| async move {
                    for (off, data, _, _) in jobs_ref.iter().skip(l).step_by(lanes) {
                        self.dev.write_at(*off, data).await?;
                    }
                    Ok::<(), std::io::Error>(())
                })
                .collect();
            let bytes: u64 = jobs.iter().map(|j| j.1.len() as u64).sum();
            result = crate::notify::join_all(lane_futs)
                .await
                .into_iter()
                .collect::<Result<Vec<()>, _>>()
                .map(|_| bytes);
        }
        if result.is_ok() {
            for &b in &markers {
                if let Err(e) = self.dev.write_at(self.block_offset(b), &zero).await {
                    result = Err(e);
                    break;
                }
                result = result.map(|n| n + zero.len() as u64);
            }
        }
        if result.is_ok() && !single {
            if let Err(e) = self.dev.sync().await {
                result = Err(e);
            }
        }
        {
            let mut guard = self.st.borrow_mut();
            let st = &mut *guard;
            match &result {
                Ok(n) => {
                    st.durable_upto = k;
                    st.stats.flushes += 1;
                    st.stats.device_bytes_written += n;
                    for b in markers {
                        if let Some(bi) = st.blocks.get_mut(b as usize) {
                            bi.state = BlockState::Free;
                            bi.live_bytes = 0;
                            bi.in_defrag_queue = false;
                        }
                        st.free.push_back(b);
                        st.stats.blocks_freed += 1;
                    }
                    while st.sealed.front().is_some_and(|w| w.written >= w.fill) {
                        if let Some(w) = st.sealed.pop_front() {
                            if st.cache.insert(w.block, Rc::new(w.data)).is_none() {
                                st.cache_order.push_back(w.block);
                            }
                        }
                    }
                    // In memory the device is memory: a cached copy of a written block would
                    // only hold its records a second time.
                    let cache_max = if self.cfg.durability == Durability::InMemory {
                        0
                    } else {
                        self.cfg.read_cache_blocks_max
                    };
                    while st.cache.len() > cache_max {
                        let Some(old) = st.cache_order.pop_front() else {
                            break;
                        };
                        if let Some(d) = st.cache.remove(&old) {
                            if st.spare_blocks.len() < SPARE_BLOCK_BUFFERS_MAX {
                                if let Ok(d) = Rc::try_unwrap(d) {
                                    st.spare_blocks.push(d);
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(shard = self.id, flush = k, error = %e, "flush failed; will retry");
                    st.stats.flush_failures += 1;
                    for (_, _, b, prev) in &jobs {
                        for w in st
                            .sealed
                            .iter_mut()
                            .chain(st.main.iter_mut())
                            .chain(st.defrag.iter_mut())
                        {
                            if w.block == *b {
                                w.written = w.written.min(*prev);
                            }
                        }
                    }
                    let durable = st.durable_upto;
                    for b in markers {
                        st.pending_free.push((b, durable));
                    }
                    st.failed_flushes.push_back(k);
                    while st.failed_flushes.len() > FAILED_FLUSHES_MAX {
                        st.failed_flushes.pop_front();
                    }
                }
            }
            st.last_flush_ms = self.clock.now_ms();
        }
        self.flushing.set(false);
        self.flush_done.notify_all();
        result.map(|_| ()).map_err(StoreError::Io)
    }

    /// Whether the background work has something to flush now.
    fn flush_due(&self) -> bool {
        let st = self.st.borrow();
        let dirty = st
            .main
            .iter()
            .chain(st.defrag.iter())
            .any(|w| w.fill > w.written);
        !st.sealed.is_empty()
            || !st.pending_free.is_empty()
            || (dirty
                && (st.main.as_ref().is_some_and(|w| {
                    (w.fill - align_down(w.written)) as u64 >= self.cfg.flush_size_bytes
                }) || self.clock.now_ms().saturating_sub(st.last_flush_ms)
                    >= self.cfg.flush_ms_max))
    }

    /// One round of background work: flush if due, defragment some blocks, collect
    /// tombstones and expired records (`sweep`). Returns whether anything was done.
    pub async fn maintain(&self, sweep: bool) -> Result<bool, StoreError> {
        let mut did = false;
        for _ in 0..DEFRAG_BLOCKS_PER_STEP_MAX {
            if !self.defrag_one().await? {
                break;
            }
            did = true;
        }
        if sweep {
            did |= self.sweep() > 0;
        }
        if self.flush_due() && !self.flushing.get() {
            self.flush_once().await?;
            did = true;
        }
        Ok(did)
    }

    /// Waits until a writer asks for a flush or `flush_ms_max` passes (the host runs this
    /// with its timer in a low-priority task).
    pub async fn wait_for_work<F: std::future::Future<Output = ()>>(&self, timer: F) {
        futures_lite::future::or(self.wake_flusher.wait(), timer).await;
    }

    /// Ends a [`Shard::wait_for_work`] now (a host stopping its background work sets the
    /// stop flag, then calls this, instead of waiting out the timer: up to half of
    /// `flush_ms_max` at every shutdown).
    pub fn wake_background(&self) {
        self.wake_flusher.notify_all();
    }

    // ----- tombstones, expiry -----

    /// The two lowest `min_stamp`s over blocks that still hold data on the device, with
    /// their blocks.
    fn lowest_stamps(st: &State) -> [(u64, u32); 2] {
        let mut low = [(u64::MAX, u32::MAX); 2];
        for (i, b) in st.blocks.iter().enumerate() {
            if b.state == BlockState::Free {
                continue;
            }
            let c = (b.min_stamp, i as u32);
            if c < low[0] {
                low[1] = low[0];
                low[0] = c;
            } else if c < low[1] {
                low[1] = c;
            }
        }
        low
    }

    /// The tombstone rule: a tombstone (or expired record, which acts as one) in block `b`
    /// may be dropped only when no other block still on the device holds a record older than
    /// it — so no older copy can come back at cold start. Records in `b` itself vanish with it.
    fn collectible(st: &State, low: &[(u64, u32); 2], digest: &Digest, e: &Entry) -> bool {
        let Some(bi) = st.blocks.get(e.block as usize) else {
            return false;
        };
        let stamp = if e.is_tombstone() {
            st.tomb_stamps.get(digest).copied().unwrap_or(bi.max_stamp)
        } else {
            // Expired records keep no stamp in the index; the block's newest is a bound.
            bi.max_stamp
        };
        let other_min = if low[0].1 == e.block {
            low[1].0
        } else {
            low[0].0
        };
        other_min > stamp
    }

    /// Drops tombstones and expired records allowed by the tombstone rule. Returns how many.
    pub fn sweep(&self) -> u64 {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        let low = Self::lowest_stamps(st);
        let now = self.now_s();
        let mut dropped: Vec<(Digest, Entry)> = Vec::new();
        for (d, e) in st.index.iter() {
            if (e.is_tombstone() || e.is_expired(now)) && Self::collectible(st, &low, d, e) {
                dropped.push((*d, *e));
            }
        }
        for (d, e) in &dropped {
            if e.is_tombstone() {
                st.stats.tombstones_collected += 1;
            } else {
                st.stats.expired_removed += 1;
            }
            self.replace_entry(st, *d, Some(*e), None, 0);
        }
        dropped.len() as u64
    }

    // ----- defrag -----

    async fn defrag_one(&self) -> Result<bool, StoreError> {
        let (b, mem) = {
            let mut st = self.st.borrow_mut();
            let Some(b) = st.defrag_queue.pop_front() else {
                return Ok(false);
            };
            let Some(bi) = st.blocks.get_mut(b as usize) else {
                return Ok(true);
            };
            bi.in_defrag_queue = false;
            if bi.state != BlockState::Sealed {
                return Ok(true);
            }
            if st.free.is_empty()
                && st
                    .defrag
                    .as_ref()
                    .is_none_or(|w| w.fill + self.cfg.record_size_max > w.data.len())
            {
                // No room to copy into now; retry later.
                if let Some(bi) = st.blocks.get_mut(b as usize) {
                    bi.in_defrag_queue = true;
                }
                st.defrag_queue.push_back(b);
                return Ok(false);
            }
            let mem = Self::mem_block(&st, b).map(|d| d.to_vec());
            (b, mem)
        };
        let data = match mem {
            Some(d) => d,
            None => {
                self.dev
                    .read_at(self.block_offset(b), self.cfg.block_size_bytes as usize)
                    .await?
            }
        };
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        let Some(bi) = st.blocks.get(b as usize).copied() else {
            return Ok(true);
        };
        if bi.state != BlockState::Sealed {
            return Ok(true);
        }
        let low = Self::lowest_stamps(st);
        let now = self.now_s();
        let mut off = BLOCK_HEADER_SIZE_BYTES;
        let mut copied = 0u64;
        while off + record::encoded_len(0) <= data.len() {
            let Ok((m, p, len)) = record::decode(&data[off..], self.cfg.record_size_max) else {
                off += RECORD_ALIGN_BYTES;
                continue;
            };
            let stored = len.div_ceil(RECORD_ALIGN_BYTES) * RECORD_ALIGN_BYTES;
            let here = off;
            off += stored;
            if m.block_seq != bi.seq {
                continue;
            }
            let Some(e) = st.index.get(&m.digest).copied() else {
                continue;
            };
            if e.block != b || e.offset() != here {
                continue;
            }
            if (e.is_tombstone() || e.is_expired(now)) && Self::collectible(st, &low, &m.digest, &e)
            {
                if e.is_tombstone() {
                    st.stats.tombstones_collected += 1;
                } else {
                    st.stats.expired_removed += 1;
                }
                self.replace_entry(st, m.digest, Some(e), None, 0);
                continue;
            }
            let payload = &data[here + p.start..here + p.end];
            let (nb, noff) = self.append(st, Stream::Defrag, m, payload)?;
            let ne = Entry::new(
                nb,
                noff,
                stored,
                m.generation,
                m.void_time_s,
                m.is_tombstone(),
                if m.is_tombstone() {
                    0
                } else {
                    record_tag(payload)
                },
            );
            self.replace_entry(st, m.digest, Some(e), Some(ne), m.lut_stamp);
            copied += 1;
        }
        st.stats.defrag_blocks += 1;
        st.stats.defrag_records += copied;
        if let Some(bi) = st.blocks.get(b as usize) {
            if bi.state == BlockState::Sealed && bi.live_bytes > 0 {
                // Records the index points at but that no longer decode: their data is lost;
                // drop them so the block can be reused, and count them.
                let lost: Vec<(Digest, Entry)> = st
                    .index
                    .iter()
                    .filter(|(_, e)| e.block == b)
                    .map(|(d, e)| (*d, *e))
                    .collect();
                tracing::warn!(
                    shard = self.id,
                    block = b,
                    records = lost.len(),
                    "defrag dropped unreadable records"
                );
                st.stats.corrupt_reads += lost.len() as u64;
                for (d, e) in lost {
                    self.replace_entry(st, d, Some(e), None, 0);
                }
            }
        }
        Ok(true)
    }

    // ----- cold start -----

    async fn cold_start(&self) -> Result<ColdStartReport, StoreError> {
        struct Scan {
            entry: Entry,
            lut_stamp: u64,
        }
        let n = self.st.borrow().blocks.len() as u32;
        let bs = self.cfg.block_size_bytes as usize;
        let mut map: hashbrown::HashMap<Digest, Scan, crate::index::BuildDigestHasher> =
            Default::default();
        let mut rep = ColdStartReport::default();
        let mut seqs = vec![0u64; n as usize];
        let mut stamps = vec![(u64::MAX, 0u64); n as usize];
        let mut was_used = vec![false; n as usize];
        let mut max_seq = 0u64;
        let mut max_lut = 0u64;
        let started = std::time::Instant::now();
        let mut last_progress = started;
        for b in 0..n {
            let head = self
                .dev
                .read_at(self.block_offset(b), SECTOR_SIZE_BYTES)
                .await?;
            let Some(seq) = decode_block_header(&head, self.id) else {
                if head.starts_with(FREE_MARKER) {
                    was_used[b as usize] = true;
                }
                continue;
            };
            let data = self.dev.read_at(self.block_offset(b), bs).await?;
            rep.blocks_used += 1;
            seqs[b as usize] = seq;
            max_seq = max_seq.max(seq);
            let mut off = BLOCK_HEADER_SIZE_BYTES;
            while off + record::encoded_len(0) <= bs {
                match record::decode(&data[off..], self.cfg.record_size_max) {
                    Ok((m, p, len)) => {
                        let stored = len.div_ceil(RECORD_ALIGN_BYTES) * RECORD_ALIGN_BYTES;
                        let here = off;
                        // The payload's first byte (`p` is relative to `here`).
                        let tag = if m.is_tombstone() || p.is_empty() {
                            0
                        } else {
                            data.get(here + p.start).copied().unwrap_or(0)
                        };
                        off += stored;
                        if m.block_seq != seq {
                            rep.stale += 1;
                            continue;
                        }
                        rep.records += 1;
                        max_lut = max_lut.max(m.lut_stamp);
                        if let Some(x) = stamps.get_mut(b as usize) {
                            x.0 = x.0.min(m.lut_stamp);
                            x.1 = x.1.max(m.lut_stamp);
                        }
                        let cand = Scan {
                            entry: Entry::new(
                                b,
                                here,
                                stored,
                                m.generation,
                                m.void_time_s,
                                m.is_tombstone(),
                                tag,
                            ),
                            lut_stamp: m.lut_stamp,
                        };
                        match map.get_mut(&m.digest) {
                            None => {
                                map.insert(m.digest, cand);
                            }
                            Some(cur) => {
                                rep.replaced += 1;
                                if newer(&cand, cur.lut_stamp, &cur.entry) {
                                    *cur = cand;
                                }
                            }
                        }
                    }
                    // Zeros: unwritten space, or zeros inside a damaged record's payload.
                    Err(record::DecodeError::Empty) => off += RECORD_ALIGN_BYTES,
                    Err(e) => {
                        // Damaged or torn: a record whose magic is intact, or whose sequence
                        // field claims this block's life, is counted; other bytes are skipped
                        // 16 at a time until a record decodes again.
                        let claimed_seq = data.get(off + 44..off + 52).map(|s| {
                            let mut a = [0u8; 8];
                            a.copy_from_slice(s);
                            u64::from_le_bytes(a)
                        });
                        if e != record::DecodeError::BadMagic || claimed_seq == Some(seq) {
                            rep.unreadable += 1;
                        }
                        off += RECORD_ALIGN_BYTES;
                    }
                }
            }
            if last_progress.elapsed().as_secs() >= 2 || b + 1 == n {
                last_progress = std::time::Instant::now();
                tracing::info!(
                    shard = self.id,
                    blocks_scanned = b + 1,
                    blocks_total = n,
                    records = rep.records,
                    "cold start progress"
                );
            }
        }
        fn newer(c: &Scan, lut: u64, e: &Entry) -> bool {
            if c.lut_stamp != lut {
                return c.lut_stamp > lut;
            }
            if c.entry.generation != e.generation {
                return generation_newer(c.entry.generation, e.generation);
            }
            c.entry.void_time_s > e.void_time_s
        }
        let now = self.now_s();
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        for (i, s) in seqs.iter().enumerate() {
            if *s != 0 {
                if let Some(bi) = st.blocks.get_mut(i) {
                    *bi = BlockInfo {
                        state: BlockState::Sealed,
                        seq: *s,
                        ever_used: true,
                        min_stamp: stamps[i].0,
                        max_stamp: stamps[i].1,
                        ..FRESH_BLOCK
                    };
                }
            }
        }
        st.free = (0..n).filter(|&b| seqs[b as usize] == 0).collect();
        for (bi, used) in st.blocks.iter_mut().zip(&was_used) {
            bi.ever_used |= *used;
        }
        st.index.reserve(map.len());
        for (d, s) in map {
            if s.entry.is_tombstone() {
                rep.tombstones += 1;
            } else if s.entry.is_expired(now) {
                rep.expired += 1;
            }
            self.replace_entry(st, d, None, Some(s.entry), s.lut_stamp);
        }
        st.next_seq = (max_seq + 1).max(st.seq_reserved);
        st.last_lut_stamp = max_lut;
        for b in 0..n {
            if seqs[b as usize] != 0 {
                self.seal_block(st, b);
            }
        }
        tracing::info!(
            shard = self.id,
            blocks_used = rep.blocks_used,
            records = rep.records,
            replaced = rep.replaced,
            expired = rep.expired,
            tombstones = rep.tombstones,
            stale = rep.stale,
            unreadable = rep.unreadable,
            ms = started.elapsed().as_millis() as u64,
            "cold start done"
        );
        Ok(rep)
    }

    // ----- stats -----

    /// Current counters.
    pub fn stats(&self) -> ShardStats {
        let st = self.st.borrow();
        let mut s = st.stats;
        s.index_entries = st.index.len() as u64;
        s.tombstones = st.tombstones;
        s.live_bytes = st.live_bytes;
        s.blocks_free = st.free.len() as u64;
        let c = st.rcache.stats();
        s.record_cache_hits = c.hits;
        s.record_cache_misses = c.misses;
        s.record_cache_evictions = c.evictions;
        s.record_cache_invalidations = c.invalidations;
        s.record_cache_entries = c.entries;
        s.record_cache_bytes = c.bytes;
        s
    }
}

impl State {
    fn blocks_in_use(&self) -> u64 {
        (self.blocks.len() - self.free.len()) as u64
    }
}
