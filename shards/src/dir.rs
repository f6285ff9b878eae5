//! A namespace's data directory: `flock`-locked, shard count and layout fixed at creation,
//! the persisted partition -> shard table, and opening each shard on its executor.

use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::device::{BlockDevice, Device, DmaDevice, MemDevice};
use crate::digest::{Digest, PARTITION_COUNT};
use crate::store::{Clock, ColdStartReport, Durability, Shard, StoreConfig};
use crate::{StoreError, FORMAT_VERSION};

/// Name of the lock file.
pub const LOCK_FILE: &str = "LOCK";
/// Name of the settings file.
pub const META_FILE: &str = "coregraph.meta";
/// Name of the partition table file.
pub const PARTITIONS_FILE: &str = "partitions.bin";
/// Upper bound on shards per data directory.
pub const SHARD_COUNT_MAX: u32 = 1024;

/// How to create (or open) a data directory.
#[derive(Clone, Debug)]
pub struct DirOptions {
    /// Shards at creation (default: the number of CPUs). Ignored when the directory exists.
    pub shard_count: Option<u32>,
    /// Size of each shard's data file at creation (default 256 MiB).
    pub shard_size_bytes: u64,
    /// Store settings; block and flush sizes are fixed at creation.
    pub store: StoreConfig,
}

impl Default for DirOptions {
    fn default() -> DirOptions {
        DirOptions {
            shard_count: None,
            shard_size_bytes: 256 << 20,
            store: StoreConfig::default(),
        }
    }
}

/// Settings fixed at creation, from `coregraph.meta`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirMeta {
    /// Number of shards.
    pub shard_count: u32,
    /// Block size.
    pub block_size_bytes: u64,
    /// Flush unit.
    pub flush_size_bytes: u64,
    /// Data file size per shard.
    pub shard_size_bytes: u64,
}

/// An open, locked data directory. `Send + Sync`: share it (in an `Arc`) with the
/// executors, each of which opens the shards it owns.
pub struct DataDir {
    path: PathBuf,
    _lock: fs::File,
    meta: DirMeta,
    partitions: Vec<u16>,
    store: StoreConfig,
    created: bool,
    /// Block-device shards this `DataDir` formatted (never formatted twice).
    formatted: std::sync::Mutex<Vec<u32>>,
}

fn cfg_err(m: String) -> StoreError {
    StoreError::Config(m)
}

impl DataDir {
    /// Opens the data directory at `path`, creating it if it does not exist (or is empty).
    /// Fails with [`StoreError::Locked`] if another process has it open.
    pub fn open_or_create(path: &Path, opts: &DirOptions) -> Result<DataDir, StoreError> {
        opts.store.validate()?;
        fs::create_dir_all(path)?;
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join(LOCK_FILE))?;
        // SAFETY: flock on a file descriptor we own and keep open for the life of `DataDir`.
        let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(StoreError::Locked(format!(
                "{} is in use by another process",
                path.display()
            )));
        }
        let meta_path = path.join(META_FILE);
        let created = !meta_path.exists();
        let meta = if created {
            let cpus = std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1);
            let m = DirMeta {
                shard_count: opts.shard_count.unwrap_or(cpus),
                block_size_bytes: opts.store.block_size_bytes,
                flush_size_bytes: opts.store.flush_size_bytes,
                shard_size_bytes: opts.shard_size_bytes,
            };
            if m.shard_count == 0 || m.shard_count > SHARD_COUNT_MAX {
                return Err(cfg_err(format!(
                    "shard count {} outside 1..={SHARD_COUNT_MAX}",
                    m.shard_count
                )));
            }
            let partitions: Vec<u16> = (0..PARTITION_COUNT)
                .map(|p| (p as u32 % m.shard_count) as u16)
                .collect();
            write_atomic(&path.join(PARTITIONS_FILE), &encode_partitions(&partitions))?;
            let text = format!(
                "format_version = {FORMAT_VERSION}\nshard_count = {}\nblock_size_bytes = {}\nflush_size_bytes = {}\nshard_size_bytes = {}\n",
                m.shard_count, m.block_size_bytes, m.flush_size_bytes, m.shard_size_bytes
            );
            // The meta file is written last: its presence means the directory is complete.
            write_atomic(&meta_path, text.as_bytes())?;
            m
        } else {
            parse_meta(&fs::read_to_string(&meta_path)?)?
        };
        let partitions =
            decode_partitions(&fs::read(path.join(PARTITIONS_FILE))?, meta.shard_count)?;
        let store = StoreConfig {
            block_size_bytes: meta.block_size_bytes,
            flush_size_bytes: meta.flush_size_bytes,
            ..opts.store.clone()
        };
        store.validate()?;
        Ok(DataDir {
            path: path.to_path_buf(),
            _lock: lock,
            meta,
            partitions,
            store,
            created,
            formatted: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Whether this call created the directory.
    pub fn created(&self) -> bool {
        self.created
    }
    /// Settings fixed at creation.
    pub fn meta(&self) -> &DirMeta {
        &self.meta
    }
    /// Number of shards.
    pub fn shard_count(&self) -> u32 {
        self.meta.shard_count
    }
    /// The shard that holds partition `p`.
    pub fn shard_of_partition(&self, p: u16) -> u32 {
        self.partitions.get(p as usize).copied().unwrap_or(0) as u32
    }
    /// The shard that holds `digest`.
    pub fn shard_of(&self, digest: &Digest) -> u32 {
        self.shard_of_partition(digest.partition())
    }
    /// The shards executor `exec` of `executors` owns (whole shards; with more shards than
    /// executors an executor owns several).
    pub fn shards_of_executor(&self, exec: usize, executors: usize) -> Vec<u32> {
        (0..self.meta.shard_count)
            .filter(|s| (*s as usize) % executors.max(1) == exec)
            .collect()
    }
    /// Path of shard `id`'s data file (may be a symlink to a raw block device).
    pub fn shard_path(&self, id: u32) -> PathBuf {
        self.path.join(format!("shard-{id:03}.dat"))
    }

    /// Opens (or creates: preallocated, zero-filled) shard `id`. Call it on the executor that
    /// owns the shard. In-memory durability uses no file.
    pub async fn open_shard(
        &self,
        id: u32,
        clock: Clock,
    ) -> Result<(Shard, ColdStartReport), StoreError> {
        if id >= self.meta.shard_count {
            return Err(cfg_err(format!(
                "shard {id} does not exist ({} shards)",
                self.meta.shard_count
            )));
        }
        if self.store.durability == Durability::InMemory {
            let dev = Device::Mem(MemDevice::new(self.meta.shard_size_bytes));
            return Ok((
                Shard::create(id, self.store.clone(), dev, clock).await?,
                ColdStartReport::default(),
            ));
        }
        let p = self.shard_path(id);
        let fresh_here = self.created && !lock_formatted(&self.formatted).contains(&id);
        if is_block_device(&p) && (fresh_here || !has_shard_header(&p)?) {
            // A raw block device (the shard path is a symlink to it): used as it is, without
            // preallocation or truncation, its size taken from the device. Formatted (whatever
            // it holds) the first time a directory this process created opens it; otherwise
            // only when it has no shard header and its first sector is zero (a cut format).
            if !fresh_here && !first_sector_zero(&p)? {
                return Err(cfg_err(format!(
                    "{} is a block device without a shard header in an existing data \
                     directory; not formatting it (zero its first 4096 bytes to allow it)",
                    p.display()
                )));
            }
            let dev = Device::Dma(DmaDevice::open(&p, None).await?);
            // The whole device, header included (a cut format leaves no header).
            let zeroed = match crate::device::zero_block_device_range(&p, 0, dev.size_bytes()) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e,
                        "BLKZEROOUT failed; writing zeros over the whole device");
                    false
                }
            };
            let shard = Shard::create_zeroing(id, self.store.clone(), dev, clock, zeroed).await?;
            lock_formatted(&self.formatted).push(id);
            return Ok((shard, ColdStartReport::default()));
        }
        if p.exists() {
            let dev = Device::Dma(DmaDevice::open(&p, None).await?);
            Shard::open(id, self.store.clone(), dev, clock).await
        } else {
            let dev = Device::Dma(DmaDevice::open(&p, Some(self.meta.shard_size_bytes)).await?);
            Ok((
                Shard::create(id, self.store.clone(), dev, clock).await?,
                ColdStartReport::default(),
            ))
        }
    }
}

fn lock_formatted(m: &std::sync::Mutex<Vec<u32>>) -> std::sync::MutexGuard<'_, Vec<u32>> {
    // A plain list: consistent even after a panic elsewhere.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `path` (followed through symlinks) is a block device.
fn is_block_device(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device())
}

/// The first sector of `path` (read through the page cache).
fn first_sector(path: &Path) -> Result<Vec<u8>, StoreError> {
    use std::io::Read;
    let mut buf = vec![0u8; crate::device::SECTOR_SIZE_BYTES];
    fs::File::open(path)?.read_exact(&mut buf)?;
    Ok(buf)
}

/// Whether `path` starts with a shard file header's magic.
fn has_shard_header(path: &Path) -> Result<bool, StoreError> {
    Ok(first_sector(path)?.starts_with(crate::store::FILE_MAGIC))
}

/// Whether the first sector of `path` is all zeros.
fn first_sector_zero(path: &Path) -> Result<bool, StoreError> {
    Ok(first_sector(path)?.iter().all(|b| *b == 0))
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

pub(crate) fn encode_partitions(p: &[u16]) -> Vec<u8> {
    let mut out: Vec<u8> = p.iter().flat_map(|s| s.to_le_bytes()).collect();
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

pub(crate) fn decode_partitions(b: &[u8], shard_count: u32) -> Result<Vec<u16>, StoreError> {
    let n = PARTITION_COUNT * 2;
    if b.len() != n + 4 || crc32c::crc32c(&b[..n]).to_le_bytes() != b[n..] {
        return Err(StoreError::Corrupt(format!(
            "{PARTITIONS_FILE}: bad size or checksum"
        )));
    }
    let p: Vec<u16> = b[..n]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    if let Some(bad) = p.iter().find(|&&s| s as u32 >= shard_count) {
        return Err(StoreError::Corrupt(format!(
            "{PARTITIONS_FILE}: shard {bad} >= shard count {shard_count}"
        )));
    }
    Ok(p)
}

fn parse_meta(text: &str) -> Result<DirMeta, StoreError> {
    let get = |k: &str| -> Result<u64, StoreError> {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(key, _)| key.trim() == k)
            .and_then(|(_, v)| v.trim().parse().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("{META_FILE}: missing or bad `{k}`")))
    };
    let v = get("format_version")?;
    if v != FORMAT_VERSION as u64 {
        return Err(StoreError::Corrupt(format!(
            "{META_FILE}: format version {v}, this build reads {FORMAT_VERSION}"
        )));
    }
    let shard_count = u32::try_from(get("shard_count")?)
        .map_err(|_| StoreError::Corrupt("shard_count".into()))?;
    if shard_count == 0 || shard_count > SHARD_COUNT_MAX {
        return Err(StoreError::Corrupt(format!(
            "{META_FILE}: shard_count {shard_count}"
        )));
    }
    Ok(DirMeta {
        shard_count,
        block_size_bytes: get("block_size_bytes")?,
        flush_size_bytes: get("flush_size_bytes")?,
        shard_size_bytes: get("shard_size_bytes")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("cg-dir-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn create_lock_reopen_and_fixed_shard_count() {
        let p = tmp("lock");
        let opts = DirOptions {
            shard_count: Some(3),
            ..DirOptions::default()
        };
        let d = DataDir::open_or_create(&p, &opts).unwrap();
        assert!(d.created());
        assert!(matches!(
            DataDir::open_or_create(&p, &opts),
            Err(StoreError::Locked(_))
        ));
        let dg = Digest::of_str(b"v", "x");
        let s = d.shard_of(&dg);
        assert_eq!(s, dg.partition() as u32 % 3);
        assert_eq!(d.shards_of_executor(0, 2), vec![0, 2]);
        assert_eq!(d.shards_of_executor(1, 2), vec![1]);
        drop(d);
        // Reopen asking for another count: the count stays what it was at creation.
        let d = DataDir::open_or_create(
            &p,
            &DirOptions {
                shard_count: Some(8),
                ..opts
            },
        )
        .unwrap();
        assert!(!d.created());
        assert_eq!(d.shard_count(), 3);
        assert_eq!(d.shard_of(&dg), s);
        drop(d);
        // A damaged partition table is a clear error, not a panic.
        let pt = p.join(PARTITIONS_FILE);
        let mut b = fs::read(&pt).unwrap();
        b[10] ^= 1;
        fs::write(&pt, &b).unwrap();
        let e = DataDir::open_or_create(&p, &DirOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("checksum"), "{e}");
        let _ = fs::remove_dir_all(&p);
    }
}
