//! The storage I/O seam: the `BlockDevice` trait and its three implementations — a glommio
//! direct-I/O file (`DmaDevice`), memory (`MemDevice`) and a fault-injecting simulator
//! (`SimDevice`).
//!
//! All offsets and lengths are multiples of [`SECTOR_SIZE_BYTES`]. Implementations are
//! single-threaded (one shard, one executor); methods take `&self` and keep no borrow across
//! an `.await`.

use std::cell::{Cell, RefCell};
use std::io;
use std::path::Path;
use std::rc::Rc;

/// Direct-I/O alignment: every device offset and length is a multiple of this.
pub const SECTOR_SIZE_BYTES: usize = 4096;
/// Largest single zero-fill write at file creation.
pub const ZERO_FILL_CHUNK_BYTES_MAX: usize = 1 << 20;

/// Aligned block I/O. The only thing the store needs from a runtime.
#[allow(async_fn_in_trait)] // single-threaded executors: futures need not be Send
pub trait BlockDevice {
    /// Usable size in bytes.
    fn size_bytes(&self) -> u64;
    /// Reads `len` bytes at `offset`.
    async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    /// Writes `data` at `offset`. Completion does not imply durability; see `sync`.
    async fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Makes every completed write durable (fdatasync).
    async fn sync(&self) -> io::Result<()>;
    /// Writes `data` at `offset` and returns once it is durable: `write_at` then `sync`,
    /// unless the device does both in one request ([`DmaDevice`]: one `O_DSYNC` write).
    /// Unlike `sync`, it need not make other completed writes durable (an `O_DSYNC` write
    /// on a device with FUA does not); the store calls it only when every earlier write
    /// was made durable by the flush that wrote it.
    async fn write_synced_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.write_at(offset, data).await?;
        self.sync().await
    }
}

fn check_aligned(offset: u64, len: usize, size: u64) -> io::Result<()> {
    let sector = SECTOR_SIZE_BYTES as u64;
    if offset % sector != 0 || len % SECTOR_SIZE_BYTES != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "unaligned device I/O",
        ));
    }
    if offset.checked_add(len as u64).is_none_or(|end| end > size) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "device I/O past the end",
        ));
    }
    Ok(())
}

/// Memory-only device: the data-in-memory mode (no file; nothing survives the process).
pub struct MemDevice {
    data: RefCell<Vec<u8>>,
}

impl MemDevice {
    /// A zeroed device of `size_bytes` (rounded down to whole sectors).
    pub fn new(size_bytes: u64) -> MemDevice {
        let n = (size_bytes as usize) / SECTOR_SIZE_BYTES * SECTOR_SIZE_BYTES;
        MemDevice {
            data: RefCell::new(vec![0; n]),
        }
    }
}

impl BlockDevice for MemDevice {
    fn size_bytes(&self) -> u64 {
        self.data.borrow().len() as u64
    }
    async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        check_aligned(offset, len, self.size_bytes())?;
        let d = self.data.borrow();
        Ok(d[offset as usize..offset as usize + len].to_vec())
    }
    async fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        check_aligned(offset, data.len(), self.size_bytes())?;
        let mut d = self.data.borrow_mut();
        d[offset as usize..offset as usize + data.len()].copy_from_slice(data);
        Ok(())
    }
    async fn sync(&self) -> io::Result<()> {
        Ok(())
    }
}

/// Deterministic pseudo-random numbers (SplitMix64) for the simulator and seeded tests.
#[derive(Clone, Debug)]
pub struct SimRng(u64);

impl SimRng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> SimRng {
        SimRng(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability `p_per_million` / 1e6.
    pub fn chance(&mut self, p_per_million: u64) -> bool {
        self.below(1_000_000) < p_per_million
    }
}

/// What a simulated power cut did.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct PowerCutReport {
    /// Unsynced writes in the device cache at the cut.
    pub pending_writes: u64,
    /// Of those, writes that reached the media fully.
    pub applied: u64,
    /// Writes lost entirely.
    pub lost: u64,
    /// Writes torn at sector boundaries (some sectors written, others not).
    pub torn: u64,
}

struct SimInner {
    /// What the media holds (survives a power cut).
    durable: Vec<u8>,
    /// What reads see: durable plus the volatile cache.
    current: Vec<u8>,
    /// Completed but unsynced writes, in order.
    pending: Vec<(u64, Vec<u8>)>,
    rng: SimRng,
    /// Probability (per million) that a write fails with an I/O error (nothing is written).
    write_fail_ppm: u64,
    writes: u64,
    failed_writes: u64,
    syncs: u64,
}

/// A simulated device with a volatile write cache: completed writes are visible to reads but
/// only `sync` makes them durable; [`SimDevice::power_cut`] loses or tears (at sector
/// granularity, in any order) whatever was not synced. It also injects failed writes and
/// bit flips. Clones share the same simulated media, so a test can cut power and reopen.
#[derive(Clone)]
pub struct SimDevice {
    inner: Rc<RefCell<SimInner>>,
    size: u64,
    cut: Rc<Cell<bool>>,
}

impl SimDevice {
    /// A zeroed simulated device.
    pub fn new(size_bytes: u64, seed: u64) -> SimDevice {
        let n = (size_bytes as usize) / SECTOR_SIZE_BYTES * SECTOR_SIZE_BYTES;
        SimDevice {
            inner: Rc::new(RefCell::new(SimInner {
                durable: vec![0; n],
                current: vec![0; n],
                pending: Vec::new(),
                rng: SimRng::new(seed),
                write_fail_ppm: 0,
                writes: 0,
                failed_writes: 0,
                syncs: 0,
            })),
            size: n as u64,
            cut: Rc::new(Cell::new(false)),
        }
    }

    /// Sets the probability (per million) that a write fails.
    pub fn set_write_fail_ppm(&self, ppm: u64) {
        self.inner.borrow_mut().write_fail_ppm = ppm;
    }

    /// Cuts power: every unsynced write is applied, lost, or torn at sector boundaries
    /// (chosen by the seeded generator). Afterwards, the old handle's I/O fails (the old
    /// process is gone) and [`SimDevice::reboot`] gives a fresh handle on the media.
    pub fn power_cut(&self) -> PowerCutReport {
        let mut g = self.inner.borrow_mut();
        let inner = &mut *g;
        let mut rep = PowerCutReport {
            pending_writes: inner.pending.len() as u64,
            ..Default::default()
        };
        for (off, data) in std::mem::take(&mut inner.pending) {
            let base = off as usize;
            match inner.rng.below(3) {
                0 => rep.lost += 1,
                1 => {
                    inner.durable[base..base + data.len()].copy_from_slice(&data);
                    rep.applied += 1;
                }
                _ => {
                    rep.torn += 1;
                    for (i, sector) in data.chunks(SECTOR_SIZE_BYTES).enumerate() {
                        if inner.rng.below(2) == 0 {
                            let at = base + i * SECTOR_SIZE_BYTES;
                            inner.durable[at..at + sector.len()].copy_from_slice(sector);
                        }
                    }
                }
            }
        }
        inner.current.copy_from_slice(&inner.durable);
        self.cut.set(true);
        rep
    }

    /// A new handle on the same media after a power cut (the old one stays dead).
    pub fn reboot(&self) -> SimDevice {
        SimDevice {
            inner: self.inner.clone(),
            size: self.size,
            cut: Rc::new(Cell::new(false)),
        }
    }

    /// Flips one bit of the durable media (and the cache view) at byte `offset`.
    pub fn flip_bit(&self, offset: u64, bit: u8) {
        let mut g = self.inner.borrow_mut();
        let o = offset as usize;
        if o < g.durable.len() {
            g.durable[o] ^= 1 << (bit % 8);
            g.current[o] ^= 1 << (bit % 8);
        }
    }

    /// Reads durable media bytes (for tests locating records).
    pub fn durable_bytes(&self, offset: u64, len: usize) -> Vec<u8> {
        let g = self.inner.borrow();
        let o = (offset as usize).min(g.durable.len());
        g.durable[o..(o + len).min(g.durable.len())].to_vec()
    }

    /// (writes, failed writes, syncs) so far.
    pub fn counters(&self) -> (u64, u64, u64) {
        let g = self.inner.borrow();
        (g.writes, g.failed_writes, g.syncs)
    }

    fn dead(&self) -> io::Result<()> {
        if self.cut.get() {
            return Err(io::Error::other("simulated power cut: device gone"));
        }
        Ok(())
    }
}

impl BlockDevice for SimDevice {
    fn size_bytes(&self) -> u64 {
        self.size
    }
    async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        self.dead()?;
        check_aligned(offset, len, self.size)?;
        let g = self.inner.borrow();
        Ok(g.current[offset as usize..offset as usize + len].to_vec())
    }
    async fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.dead()?;
        check_aligned(offset, data.len(), self.size)?;
        let mut g = self.inner.borrow_mut();
        g.writes += 1;
        let p = g.write_fail_ppm;
        if p > 0 && g.rng.chance(p) {
            g.failed_writes += 1;
            return Err(io::Error::other("simulated write failure"));
        }
        let o = offset as usize;
        g.current[o..o + data.len()].copy_from_slice(data);
        g.pending.push((offset, data.to_vec()));
        Ok(())
    }
    async fn sync(&self) -> io::Result<()> {
        self.dead()?;
        let mut g = self.inner.borrow_mut();
        let inner = &mut *g;
        for (off, data) in std::mem::take(&mut inner.pending) {
            let o = off as usize;
            inner.durable[o..o + data.len()].copy_from_slice(&data);
        }
        inner.syncs += 1;
        Ok(())
    }
}

/// `BLKZEROOUT` (`_IO(0x12, 127)` in `linux/fs.h`): zero a byte range of a block device.
const BLKZEROOUT: libc::c_ulong = 0x127F;

/// Zeroes bytes `[start, start + len)` of the block device at `path` with the `BLKZEROOUT`
/// ioctl (the device or the kernel writes the zeros; the range's page cache is dropped).
/// `start` and `len` must be multiples of 512. An error means the caller must write zeros
/// itself.
pub fn zero_block_device_range(path: &Path, start: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new().write(true).open(path)?;
    let range: [u64; 2] = [start, len];
    // SAFETY: BLKZEROOUT reads a `u64[2]` (start, length) from the pointer, which points at
    // `range`, alive for the call; `f` is an open descriptor we own.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), BLKZEROOUT as _, range.as_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    f.sync_all()
}

/// A direct-I/O file or raw block device through glommio (io_uring). Must be created and
/// used on a glommio executor thread.
pub struct DmaDevice {
    file: glommio::io::DmaFile,
    size: u64,
    /// Buffered descriptor used only when a direct read fails with EOPNOTSUPP (see
    /// docs/storage-format.md, "Direct I/O notes").
    fallback: std::fs::File,
    fallback_reads: Cell<u64>,
    /// The same file opened `O_DIRECT | O_DSYNC`, for [`BlockDevice::write_synced_at`]: the
    /// write completes once durable (the kernel flushes the device cache after it, as
    /// `fdatasync` does, or writes it with FUA), so a commit flush is one io_uring request,
    /// not a write and then an fsync (which io_uring always hands to a worker thread).
    /// `None` when the open failed: write then sync.
    dsync: Option<Box<glommio::io::DmaFile>>,
}

impl DmaDevice {
    /// Opens `path` with O_DIRECT. When `create_size_bytes` is `Some` and the path is a
    /// regular file that does not exist, creates it, preallocates it and zero-fills it (first
    /// writes to fresh extents are several times slower to sync). A raw block device path
    /// works too (its size is taken from the device).
    pub async fn open(path: &Path, create_size_bytes: Option<u64>) -> io::Result<DmaDevice> {
        let exists = path.exists();
        if !exists && create_size_bytes.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} does not exist", path.display()),
            ));
        }
        if !exists {
            // glommio probes io_uring IOPOLL support by reading offset 0 of the first file it
            // opens on a device and caches the answer per device for the process. On an empty
            // file that read stops at EOF and "succeeds", so glommio wrongly marks ext4 as
            // pollable and every later direct read fails with EOPNOTSUPP. So never hand
            // glommio an empty file: write the first sector through std first.
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)?;
            f.write_all(&[0u8; SECTOR_SIZE_BYTES])?;
            f.sync_data()?;
        }
        let file = glommio::io::OpenOptions::new()
            .read(true)
            .write(true)
            .dma_open(path)
            .await?;
        if let (false, Some(size)) = (exists, create_size_bytes) {
            let size = size / SECTOR_SIZE_BYTES as u64 * SECTOR_SIZE_BYTES as u64;
            file.pre_allocate(size, false).await?;
            let mut off = 0u64;
            while off < size {
                let n = (size - off).min(ZERO_FILL_CHUNK_BYTES_MAX as u64) as usize;
                let mut buf = file.alloc_dma_buffer(n);
                buf.as_bytes_mut().fill(0);
                let written = file.write_at(buf, off).await?;
                if written != n {
                    return Err(io::Error::other("short write while zero-filling"));
                }
                off += n as u64;
            }
            file.fdatasync().await?;
        }
        let fallback = std::fs::OpenOptions::new().read(true).open(path)?;
        let size = {
            use std::io::Seek;
            let mut f = std::fs::File::open(path)?;
            f.seek(std::io::SeekFrom::End(0))?
        };
        let size = size / SECTOR_SIZE_BYTES as u64 * SECTOR_SIZE_BYTES as u64;
        let dsync = match glommio::io::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_DSYNC)
            .dma_open(path)
            .await
        {
            Ok(f) => Some(Box::new(f)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "no O_DSYNC descriptor; commits write then fdatasync");
                None
            }
        };
        Ok(DmaDevice {
            file,
            size,
            fallback,
            fallback_reads: Cell::new(0),
            dsync,
        })
    }

    /// Whether [`BlockDevice::write_synced_at`] is one `O_DSYNC` write (else write, then
    /// fdatasync).
    pub fn synced_writes_in_one_request(&self) -> bool {
        self.dsync.is_some()
    }

    /// How many reads fell back to the buffered descriptor after EOPNOTSUPP.
    pub fn fallback_reads(&self) -> u64 {
        self.fallback_reads.get()
    }
}

impl BlockDevice for DmaDevice {
    fn size_bytes(&self) -> u64 {
        self.size
    }
    async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        check_aligned(offset, len, self.size)?;
        match self.file.read_at_aligned(offset, len).await {
            Ok(r) if r.len() == len => Ok(r.to_vec()),
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "short direct read",
            )),
            Err(e) => {
                let e: io::Error = e.into();
                if e.raw_os_error() != Some(libc::EOPNOTSUPP)
                    && e.kind() != io::ErrorKind::Unsupported
                {
                    return Err(e);
                }
                // Seen once on a freshly created file; read through the page cache instead
                // (coherent with completed O_DIRECT writes).
                tracing::warn!(
                    offset,
                    len,
                    "direct read returned EOPNOTSUPP; using buffered read"
                );
                self.fallback_reads.set(self.fallback_reads.get() + 1);
                let mut out = vec![0u8; len];
                std::os::unix::fs::FileExt::read_exact_at(&self.fallback, &mut out, offset)?;
                Ok(out)
            }
        }
    }
    async fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        check_aligned(offset, data.len(), self.size)?;
        dma_write(&self.file, offset, data).await
    }
    async fn sync(&self) -> io::Result<()> {
        self.file.fdatasync().await?;
        Ok(())
    }
    async fn write_synced_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let Some(f) = &self.dsync else {
            self.write_at(offset, data).await?;
            return self.sync().await;
        };
        check_aligned(offset, data.len(), self.size)?;
        dma_write(f, offset, data).await
    }
}

/// One direct write of `data` (aligned, checked by the caller) at `offset` through `file`.
async fn dma_write(file: &glommio::io::DmaFile, offset: u64, data: &[u8]) -> io::Result<()> {
    let mut buf = file.alloc_dma_buffer(data.len());
    buf.as_bytes_mut().copy_from_slice(data);
    let n = file.write_at(buf, offset).await?;
    if n != data.len() {
        return Err(io::Error::other("short direct write"));
    }
    Ok(())
}

/// The devices a shard can sit on, dispatched statically (no `dyn` on the data path).
pub enum Device {
    /// Direct-I/O file or raw block device.
    Dma(DmaDevice),
    /// Data in memory, no file.
    Mem(MemDevice),
    /// Fault-injecting simulator (tests).
    Sim(SimDevice),
}

impl BlockDevice for Device {
    fn size_bytes(&self) -> u64 {
        match self {
            Device::Dma(d) => d.size_bytes(),
            Device::Mem(d) => d.size_bytes(),
            Device::Sim(d) => d.size_bytes(),
        }
    }
    async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        match self {
            Device::Dma(d) => d.read_at(offset, len).await,
            Device::Mem(d) => d.read_at(offset, len).await,
            Device::Sim(d) => d.read_at(offset, len).await,
        }
    }
    async fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        match self {
            Device::Dma(d) => d.write_at(offset, data).await,
            Device::Mem(d) => d.write_at(offset, data).await,
            Device::Sim(d) => d.write_at(offset, data).await,
        }
    }
    async fn sync(&self) -> io::Result<()> {
        match self {
            Device::Dma(d) => d.sync().await,
            Device::Mem(d) => d.sync().await,
            Device::Sim(d) => d.sync().await,
        }
    }
    async fn write_synced_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        match self {
            Device::Dma(d) => d.write_synced_at(offset, data).await,
            Device::Mem(d) => d.write_synced_at(offset, data).await,
            Device::Sim(d) => d.write_synced_at(offset, data).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    #[test]
    fn sim_loses_unsynced_and_keeps_synced() {
        let d = SimDevice::new(64 * 1024, 1);
        let s = SECTOR_SIZE_BYTES;
        block_on(d.write_at(0, &vec![1u8; s])).unwrap();
        block_on(d.sync()).unwrap();
        block_on(d.write_at(s as u64, &vec![2u8; 4 * s])).unwrap();
        assert_eq!(
            block_on(d.read_at(s as u64, s)).unwrap()[0],
            2,
            "cache visible to reads"
        );
        let mut cuts = PowerCutReport::default();
        let mut d = d;
        // Repeat until each outcome has been seen, re-writing after each cut.
        for _ in 0..50 {
            let r = d.power_cut();
            cuts.lost += r.lost;
            cuts.applied += r.applied;
            cuts.torn += r.torn;
            d = d.reboot();
            assert_eq!(
                block_on(d.read_at(0, s)).unwrap(),
                vec![1u8; s],
                "synced data survives"
            );
            block_on(d.write_at(s as u64, &vec![3u8; 4 * s])).unwrap();
        }
        assert!(
            cuts.lost > 0 && cuts.applied > 0 && cuts.torn > 0,
            "{cuts:?}"
        );
        assert!(block_on(d.read_at(1, s)).is_err(), "unaligned rejected");
    }

    #[test]
    fn sim_failed_writes_and_dead_after_cut() {
        let d = SimDevice::new(16 * 1024, 2);
        d.set_write_fail_ppm(1_000_000);
        assert!(block_on(d.write_at(0, &vec![1u8; SECTOR_SIZE_BYTES])).is_err());
        assert_eq!(d.counters().1, 1);
        d.power_cut();
        assert!(block_on(d.sync()).is_err());
        assert!(block_on(d.reboot().sync()).is_ok());
    }

    /// Real direct I/O through glommio on a fresh file: create (preallocate + zero-fill),
    /// write, sync, read back immediately — the sequence that once gave EOPNOTSUPP.
    #[test]
    fn dma_fresh_file_write_sync_read() {
        let dir = std::env::temp_dir().join(format!("cg-dma-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("fresh.dat");
        let _ = std::fs::remove_file(&path);
        let p2 = path.clone();
        let r = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .spawn(move || async move {
                let d = DmaDevice::open(&p2, Some(1 << 20)).await?;
                let data: Vec<u8> = (0..SECTOR_SIZE_BYTES * 2)
                    .map(|i| (i % 251) as u8)
                    .collect();
                d.write_at(8192, &data).await?;
                d.sync().await?;
                let back = d.read_at(8192, data.len()).await?;
                let zeros = d.read_at(65536, SECTOR_SIZE_BYTES).await?;
                let fresh_fallbacks = d.fallback_reads();
                drop(d);
                // Reopen the now-existing file: direct reads are expected to work directly.
                let d = DmaDevice::open(&p2, None).await?;
                let again = d.read_at(8192, data.len()).await?;
                eprintln!(
                    "fallbacks: fresh file {fresh_fallbacks}, reopened {}",
                    d.fallback_reads()
                );
                assert_eq!(
                    fresh_fallbacks + d.fallback_reads(),
                    0,
                    "direct reads must not need the fallback"
                );
                Ok::<_, io::Error>((
                    back == data && again == data,
                    zeros.iter().all(|&b| b == 0),
                    d.fallback_reads(),
                    d.size_bytes(),
                ))
            })
            .unwrap()
            .join()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let (same, zero, fallbacks, size) = r.unwrap();
        assert!(same && zero);
        assert_eq!(size, 1 << 20);
        eprintln!("direct reads that fell back to buffered: {fallbacks}");
    }
}
