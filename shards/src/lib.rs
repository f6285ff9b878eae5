//! Storage shards: per-core partition stores on direct-IO write blocks.
//!
//! # Shape
//!
//! A namespace lives in one data directory ([`DataDir`]) with a fixed number of shards (one
//! data file each, chosen at creation, default the CPU count) and a persisted table mapping
//! the 4096 partitions to shards. Each shard ([`Shard`]) is owned by exactly one
//! thread-per-core executor; with more shards than executors an executor owns several
//! ([`DataDir::shards_of_executor`]). A shard is single-threaded: no locks on the data path.
//!
//! # Using it
//!
//! ```text
//! let dir = DataDir::open_or_create(path, &DirOptions::default())?;      // flock'ed
//! let p = Digest::of_str(b"v", "marko").partition();                    // key -> partition
//! let shard_id = dir.shard_of_partition(p);                              // -> owning shard
//! // on the executor owning shard_id:
//! let shard = dir.open_shard(shard_id).await?;                           // cold start inside
//! let gen = shard.put(&digest, b"payload", WriteMode::CreateOnly, 0).await?;
//! let rec = shard.get(&digest).await?;                                    // Option<Record>
//! shard.put(&digest, b"v2", WriteMode::ExpectGeneration(gen), 0).await?;  // no lost updates
//! shard.delete(&digest, WriteMode::Plain).await?;                         // tombstone
//! // background work in a low-shares task queue (flush timer, defrag, expiry sweep):
//! glommio::spawn_local_into(runtime::run_background(Rc::new(shard), stop_flag), bg_queue);
//! // or let runtime::serve_shards(Arc<DataDir>, &cpus, stop) run pinned executors.
//! ```
//!
//! Errors are one enum, [`StoreError`]: `RecordTooBig`, `Exists` (create-only),
//! `GenerationMismatch` (expect-generation), `DeviceFull`, `Overload` (bounded write queue;
//! fail fast), `Corrupt`, `Config`, `Locked`, `Io`.
//!
//! Durability per namespace ([`Durability`]): `Buffered` (loss window `flush_ms_max`),
//! `CommitToDevice` (acknowledged after the covering flush unit is written and fdatasync'ed,
//! or written with `O_DSYNC`; concurrent writers share one flush), `InMemory` (no file).
//!
//! All I/O goes through the small [`device::BlockDevice`] trait; [`device::Device`] holds
//! the glommio direct-I/O file, the in-memory device or the power-cut simulator. The on-disk
//! format is in `docs/storage-format.md`.

pub mod backup;
pub mod device;
pub mod digest;
pub mod dir;
pub mod index;
pub mod notify;
pub mod rcache;
pub mod record;
pub mod runtime;
pub mod store;

pub use device::{BlockDevice, Device, DmaDevice, MemDevice, SimDevice};
pub use digest::{Digest, KeyType, PARTITION_COUNT};

pub use dir::{DataDir, DirOptions};
pub use store::{
    Clock, ColdStartReport, Durability, Location, Record, Shard, ShardStats, StoreConfig,
    WriteMode, READ_CACHE_BYTES_DEFAULT,
};

/// On-device format version (file header, block headers).
pub const FORMAT_VERSION: u32 = 1;

/// Errors of storage operations.
#[derive(Debug)]
pub enum StoreError {
    /// The encoded record is larger than `record_size_max`.
    RecordTooBig {
        /// Encoded size.
        size_bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// Create-only write, but the record exists.
    Exists,
    /// Generation-checked write, but the generation moved (0 = record absent).
    GenerationMismatch {
        /// What the caller expected.
        expected: u16,
        /// What the store has.
        actual: u16,
    },
    /// Delete of a record that does not exist.
    NotFound,
    /// Past the used-space limit or out of free blocks: "device full".
    DeviceFull,
    /// The shard's write queue is full: "device overload"; retry later.
    Overload,
    /// Damaged data found (CRC, length, header mismatch).
    Corrupt(String),
    /// Bad settings or data directory (with what is wrong).
    Config(String),
    /// The data directory is locked by another process.
    Locked(String),
    /// An I/O error from the device.
    Io(std::io::Error),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::RecordTooBig {
                size_bytes,
                max_bytes,
            } => {
                write!(
                    f,
                    "record too big: {size_bytes} bytes, record_size_max is {max_bytes}"
                )
            }
            StoreError::Exists => write!(f, "record exists"),
            StoreError::GenerationMismatch { expected, actual } => {
                write!(
                    f,
                    "generation mismatch: expected {expected}, found {actual}"
                )
            }
            StoreError::NotFound => write!(f, "record not found"),
            StoreError::DeviceFull => write!(f, "device full"),
            StoreError::Overload => write!(f, "device overload: write queue full"),
            StoreError::Corrupt(m) => write!(f, "corrupt data: {m}"),
            StoreError::Config(m) => write!(f, "configuration: {m}"),
            StoreError::Locked(m) => write!(f, "data directory locked: {m}"),
            StoreError::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> StoreError {
        StoreError::Io(e)
    }
}
