//! Backup files of shards (per-record CRC32C, a file checksum, a manifest), the online
//! per-shard backup writer, verification, and restore into an empty data directory by
//! writing shard data files in the storage format. Format: `docs/storage-format.md`
//! ("Backup and restore").

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::device::BlockDevice;
use crate::digest::{Digest, DIGEST_SIZE_BYTES, PARTITION_COUNT};
use crate::dir::{
    decode_partitions, encode_partitions, write_atomic, DataDir, DirOptions, META_FILE,
    PARTITIONS_FILE,
};
use crate::record::{self, RecordMeta, RECORD_ALIGN_BYTES};
use crate::store::{
    encode_file_header, Shard, StoreConfig, FILE_HEADER_SIZE_BYTES, SEQ_RESERVE_STEP,
};
use crate::{StoreError, FORMAT_VERSION};

/// Magic at the start of a shard backup file.
pub const BACKUP_FILE_MAGIC: &[u8; 8] = b"CGBACKUP";
/// Magic of the trailer that ends a shard backup file.
pub const BACKUP_END_MAGIC: &[u8; 8] = b"CGBKEND\0";
/// Name of the manifest in a backup directory.
pub const MANIFEST_FILE: &str = "MANIFEST";
/// Backup file format version.
pub const BACKUP_FORMAT_VERSION: u32 = 1;
/// Size of a backup file header: magic, version, shard id.
pub const BACKUP_HEADER_SIZE_BYTES: usize = 16;
/// Fixed part of a backup record before the payload: payload length u32, digest, generation
/// u16, last-update stamp u64, void time u32.
pub const BACKUP_RECORD_HEAD_SIZE_BYTES: usize = 4 + DIGEST_SIZE_BYTES + 2 + 8 + 4;
/// Trailer: magic, record count u64, CRC32C u32 of every byte before the trailer.
pub const BACKUP_TRAILER_SIZE_BYTES: usize = 8 + 8 + 4;
/// Records read from a shard per batch before the backup task yields to serving work.
pub const BACKUP_BATCH_RECORDS_MAX: usize = 256;
/// Attempts to read one record's current version (it may move under defrag or overwrites).
pub const BACKUP_READ_ATTEMPTS_MAX: usize = 8;
/// Bytes buffered before a write to the backup file.
pub const BACKUP_WRITE_BUFFER_BYTES: usize = 1 << 20;
/// Longest manifest accepted when reading a backup.
pub const MANIFEST_SIZE_BYTES_MAX: u64 = 1 << 20;

fn corrupt(m: String) -> StoreError {
    StoreError::Corrupt(m)
}

/// One record as backed up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupRecord {
    /// Key digest.
    pub digest: Digest,
    /// Generation of the version backed up.
    pub generation: u16,
    /// Last-update stamp of that version (see the record format).
    pub lut_stamp: u64,
    /// Void time, s since the Unix epoch, 0 = never.
    pub void_time_s: u32,
    /// Payload.
    pub payload: Vec<u8>,
}

fn encode_backup_record(r: &BackupRecord, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&(r.payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&r.digest.0);
    out.extend_from_slice(&r.generation.to_le_bytes());
    out.extend_from_slice(&r.lut_stamp.to_le_bytes());
    out.extend_from_slice(&r.void_time_s.to_le_bytes());
    out.extend_from_slice(&r.payload);
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// What one shard's backup file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardBackupSummary {
    /// Shard id.
    pub shard: u32,
    /// File name inside the backup directory.
    pub file: String,
    /// Records written.
    pub records: u64,
    /// File size.
    pub bytes: u64,
    /// CRC32C of every byte before the trailer (also stored in the trailer).
    pub crc32c: u32,
}

/// File name of shard `id`'s backup.
pub fn backup_file_name(id: u32) -> String {
    format!("shard-{id:03}.cgb")
}

struct FileSink {
    file: fs::File,
    buf: Vec<u8>,
    crc: u32,
    bytes: u64,
}

impl FileSink {
    fn push(&mut self, bytes_from: usize) -> Result<(), StoreError> {
        // The CRC covers everything appended since `bytes_from`.
        if let Some(new) = self.buf.get(bytes_from..) {
            self.crc = crc32c::crc32c_append(self.crc, new);
        }
        if self.buf.len() >= BACKUP_WRITE_BUFFER_BYTES {
            self.drain()?;
        }
        Ok(())
    }
    fn drain(&mut self) -> Result<(), StoreError> {
        self.file.write_all(&self.buf)?;
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

/// Reads the current version of `digest` with its full header from the device (after a
/// flush when it is still only in a write buffer), checked against the normal read path.
/// `None`: deleted or expired since the snapshot.
async fn read_current(shard: &Shard, digest: &Digest) -> Result<Option<BackupRecord>, StoreError> {
    let sector = crate::device::SECTOR_SIZE_BYTES as u64;
    for _ in 0..BACKUP_READ_ATTEMPTS_MAX {
        if !shard.contains(digest) {
            return Ok(None);
        }
        let Some((off, len, tomb)) = shard.locate(digest) else {
            return Ok(None);
        };
        if tomb {
            return Ok(None);
        }
        let lo = off / sector * sector;
        let span = ((off - lo) as usize + len).div_ceil(sector as usize) * sector as usize;
        let buf = shard.device().read_at(lo, span).await?;
        // Moved (defrag, overwrite) while reading: look again.
        if shard.locate(digest) != Some((off, len, tomb)) {
            continue;
        }
        let from = (off - lo) as usize;
        let bytes = buf.get(from..from + len).unwrap_or_default();
        let Ok((m, p, _)) = record::decode(bytes, shard.config().record_size_max) else {
            shard.flush().await?;
            continue;
        };
        // The bytes at that place may be a stale copy from an earlier life of the block (the
        // newest copy still only in a write buffer): accept them only if they are the
        // version the normal read path returns.
        let Some(cur) = shard.get(digest).await? else {
            return Ok(None);
        };
        let payload = bytes.get(p).unwrap_or_default();
        if m.digest == *digest
            && !m.is_tombstone()
            && m.generation == cur.generation
            && m.void_time_s == cur.void_time_s
            && payload == cur.payload.as_slice()
        {
            return Ok(Some(BackupRecord {
                digest: *digest,
                generation: m.generation,
                lut_stamp: m.lut_stamp,
                void_time_s: m.void_time_s,
                payload: cur.payload,
            }));
        }
        shard.flush().await?;
    }
    // A record rewritten faster than it can be read from the device: take the version the
    // normal read path returns, without its last-update stamp (0; a restore holds one copy
    // per digest, so the stamp orders nothing).
    Ok(shard.get(digest).await?.map(|r| BackupRecord {
        digest: *digest,
        generation: r.generation,
        lut_stamp: 0,
        void_time_s: r.void_time_s,
        payload: r.payload,
    }))
}

/// Backs up one shard into `dir` (file [`backup_file_name`]) while it keeps serving.
///
/// Snapshot: the live digests of the index at the call. Each is then read in batches of
/// [`BACKUP_BATCH_RECORDS_MAX`] (from the device; a flush when a record is still only in a
/// write buffer) and the version current
/// at that read is written: the snapshot's version or a newer one acknowledged (or being
/// acknowledged) since. Records created after the snapshot are not included; records
/// deleted or expired after it are left out. The task yields between batches; run it in a
/// low-shares task queue. The file is fsync'ed before returning.
pub async fn backup_shard(
    shard: &Shard,
    dir: &Path,
    mut progress: impl FnMut(u64, u64),
) -> Result<ShardBackupSummary, StoreError> {
    let digests = shard.scan_digests(None);
    let total = digests.len() as u64;
    let name = backup_file_name(shard.id());
    let tmp = dir.join(format!("{name}.tmp"));
    let mut sink = FileSink {
        file: fs::File::create(&tmp)?,
        buf: Vec::with_capacity(BACKUP_WRITE_BUFFER_BYTES * 2),
        crc: 0,
        bytes: 0,
    };
    sink.buf.extend_from_slice(BACKUP_FILE_MAGIC);
    sink.buf
        .extend_from_slice(&BACKUP_FORMAT_VERSION.to_le_bytes());
    sink.buf.extend_from_slice(&shard.id().to_le_bytes());
    sink.push(0)?;
    let mut records = 0u64;
    for batch in digests.chunks(BACKUP_BATCH_RECORDS_MAX) {
        for d in batch {
            if let Some(r) = read_current(shard, d).await? {
                let from = sink.buf.len();
                encode_backup_record(&r, &mut sink.buf);
                sink.push(from)?;
                records += 1;
            }
        }
        progress(records, total);
        glommio::yield_if_needed().await;
    }
    let crc = sink.crc;
    sink.buf.extend_from_slice(BACKUP_END_MAGIC);
    sink.buf.extend_from_slice(&records.to_le_bytes());
    sink.buf.extend_from_slice(&crc.to_le_bytes());
    sink.drain()?;
    sink.file.sync_all()?;
    let bytes = sink.bytes;
    drop(sink);
    fs::rename(&tmp, dir.join(&name))?;
    Ok(ShardBackupSummary {
        shard: shard.id(),
        file: name,
        records,
        bytes,
        crc32c: crc,
    })
}

/// Reads and verifies one backup file: header, every record's CRC32C, trailer record count
/// and file checksum, and (when given) the manifest's count and checksum. Calls `each` per
/// record in file order. Errors name the file and the record number.
pub fn read_backup_file(
    path: &Path,
    shard: u32,
    expect: Option<&ShardBackupSummary>,
    record_size_max: usize,
    mut each: impl FnMut(BackupRecord) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let name = path.display().to_string();
    let bad = |what: String| corrupt(format!("backup file {name}: {what}"));
    let file = fs::File::open(path).map_err(|e| StoreError::Config(format!("{name}: {e}")))?;
    let size = file.metadata()?.len();
    let min = (BACKUP_HEADER_SIZE_BYTES + BACKUP_TRAILER_SIZE_BYTES) as u64;
    if size < min {
        return Err(bad("too short".into()));
    }
    let body_end = size - BACKUP_TRAILER_SIZE_BYTES as u64;
    // Streamed: one record in memory at a time.
    let mut r = std::io::BufReader::with_capacity(BACKUP_WRITE_BUFFER_BYTES, file);
    let mut crc = 0u32;
    let read =
        |r: &mut std::io::BufReader<fs::File>, buf: &mut Vec<u8>, n: usize, crc: &mut u32| {
            buf.resize(n, 0);
            r.read_exact(buf)?;
            *crc = crc32c::crc32c_append(*crc, buf);
            Ok::<(), std::io::Error>(())
        };
    let u32_at = |b: &[u8], at: usize| -> u32 {
        let mut a = [0u8; 4];
        if let Some(s) = b.get(at..at + 4) {
            a.copy_from_slice(s);
        }
        u32::from_le_bytes(a)
    };
    let mut head = Vec::new();
    read(&mut r, &mut head, BACKUP_HEADER_SIZE_BYTES, &mut crc)?;
    if head.get(0..8) != Some(&BACKUP_FILE_MAGIC[..]) {
        return Err(bad("bad magic".into()));
    }
    if u32_at(&head, 8) != BACKUP_FORMAT_VERSION {
        return Err(bad(format!(
            "format version {}, this build reads {BACKUP_FORMAT_VERSION}",
            u32_at(&head, 8)
        )));
    }
    if u32_at(&head, 12) != shard {
        return Err(bad(format!(
            "holds shard {}, expected {shard}",
            u32_at(&head, 12)
        )));
    }
    let mut at = BACKUP_HEADER_SIZE_BYTES as u64;
    let mut n = 0u64;
    let mut payload = Vec::new();
    let mut tail = Vec::new();
    while at < body_end {
        let rec_bad = |what: &str| bad(format!("record {n} at byte {at}: {what}"));
        if body_end - at < (BACKUP_RECORD_HEAD_SIZE_BYTES + 4) as u64 {
            return Err(rec_bad("truncated header"));
        }
        read(&mut r, &mut head, BACKUP_RECORD_HEAD_SIZE_BYTES, &mut crc)?;
        let plen = u32_at(&head, 0) as usize;
        if record::encoded_len(plen) > record_size_max {
            return Err(rec_bad("payload length beyond record_size_max"));
        }
        let len = (BACKUP_RECORD_HEAD_SIZE_BYTES + plen + 4) as u64;
        if body_end - at < len {
            return Err(rec_bad("truncated payload"));
        }
        read(&mut r, &mut payload, plen, &mut crc)?;
        read(&mut r, &mut tail, 4, &mut crc)?;
        let rec_crc = crc32c::crc32c_append(crc32c::crc32c(&head), &payload);
        if rec_crc != u32_at(&tail, 0) {
            return Err(rec_bad("CRC32C mismatch"));
        }
        let mut digest = [0u8; DIGEST_SIZE_BYTES];
        digest.copy_from_slice(head.get(4..24).unwrap_or(&[0; DIGEST_SIZE_BYTES]));
        let mut lut = [0u8; 8];
        lut.copy_from_slice(head.get(26..34).unwrap_or(&[0; 8]));
        let generation = u16::from_le_bytes([
            head.get(24).copied().unwrap_or(0),
            head.get(25).copied().unwrap_or(0),
        ]);
        if generation == 0 {
            return Err(rec_bad("generation 0"));
        }
        each(BackupRecord {
            digest: Digest(digest),
            generation,
            lut_stamp: u64::from_le_bytes(lut),
            void_time_s: u32_at(&head, 34),
            payload: std::mem::take(&mut payload),
        })?;
        n += 1;
        at += len;
    }
    let file_crc = crc;
    let mut trailer = Vec::new();
    read(&mut r, &mut trailer, BACKUP_TRAILER_SIZE_BYTES, &mut crc)?;
    if trailer.get(0..8) != Some(&BACKUP_END_MAGIC[..]) {
        return Err(bad("trailer missing (file cut short?)".into()));
    }
    let mut c8 = [0u8; 8];
    c8.copy_from_slice(trailer.get(8..16).unwrap_or(&[0; 8]));
    let count = u64::from_le_bytes(c8);
    if u32_at(&trailer, 16) != file_crc {
        return Err(bad("file checksum mismatch".into()));
    }
    if n != count {
        return Err(bad(format!("{n} records, trailer says {count}")));
    }
    if let Some(e) = expect {
        if e.records != n || e.crc32c != file_crc {
            return Err(bad(format!(
                "{n} records / checksum {file_crc:08x}, manifest says {} / {:08x}",
                e.records, e.crc32c
            )));
        }
    }
    Ok(n)
}

/// The manifest of a backup directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Backup format version.
    pub format_version: u32,
    /// Storage format version of the source.
    pub storage_format_version: u32,
    /// Shards of the source.
    pub shard_count: u32,
    /// Source block size.
    pub block_size_bytes: u64,
    /// Source flush size.
    pub flush_size_bytes: u64,
    /// Source data file size per shard.
    pub shard_size_bytes: u64,
    /// The partition -> shard table (also copied as `partitions.bin`).
    pub partitions: Vec<u16>,
    /// When the backup started and ended, ms since the Unix epoch.
    pub started_ms: u64,
    /// See `started_ms`.
    pub finished_ms: u64,
    /// One entry per shard, in shard order.
    pub shards: Vec<ShardBackupSummary>,
}

impl Manifest {
    /// The text form: `key = value` lines, one `shard` line per shard, then a line with the
    /// CRC32C of everything before it.
    pub fn encode(&self) -> String {
        let mut s = format!(
            "format_version = {}\nstorage_format_version = {}\nshard_count = {}\nblock_size_bytes = {}\nflush_size_bytes = {}\nshard_size_bytes = {}\npartitions_crc32c = {:08x}\nstarted_ms = {}\nfinished_ms = {}\n",
            self.format_version,
            self.storage_format_version,
            self.shard_count,
            self.block_size_bytes,
            self.flush_size_bytes,
            self.shard_size_bytes,
            crc32c::crc32c(&encode_partitions(&self.partitions)),
            self.started_ms,
            self.finished_ms
        );
        for sh in &self.shards {
            s.push_str(&format!(
                "shard = {} {} {} {} {:08x}\n",
                sh.shard, sh.file, sh.records, sh.bytes, sh.crc32c
            ));
        }
        let crc = crc32c::crc32c(s.as_bytes());
        s.push_str(&format!("manifest_crc32c = {crc:08x}\n"));
        s
    }

    /// Parses and checks a manifest (`partitions` is read from `partitions.bin` beside it).
    pub fn decode(text: &str, partitions_file: &[u8]) -> Result<Manifest, StoreError> {
        let bad = |w: String| corrupt(format!("backup {MANIFEST_FILE}: {w}"));
        let Some(cut) = text.rfind("manifest_crc32c = ") else {
            return Err(bad("no checksum line".into()));
        };
        let (body, last) = text.split_at(cut);
        let want = last
            .trim()
            .strip_prefix("manifest_crc32c = ")
            .and_then(|h| u32::from_str_radix(h.trim(), 16).ok())
            .ok_or_else(|| bad("bad checksum line".into()))?;
        if crc32c::crc32c(body.as_bytes()) != want {
            return Err(bad("checksum mismatch".into()));
        }
        let get = |k: &str| -> Result<&str, StoreError> {
            body.lines()
                .filter_map(|l| l.split_once('='))
                .find(|(key, _)| key.trim() == k)
                .map(|(_, v)| v.trim())
                .ok_or_else(|| bad(format!("missing `{k}`")))
        };
        let num = |k: &str| -> Result<u64, StoreError> {
            get(k)?.parse().map_err(|_| bad(format!("bad `{k}`")))
        };
        let format_version = num("format_version")? as u32;
        if format_version != BACKUP_FORMAT_VERSION {
            return Err(bad(format!(
                "format version {format_version}, this build reads {BACKUP_FORMAT_VERSION}"
            )));
        }
        let shard_count = u32::try_from(num("shard_count")?)
            .ok()
            .filter(|n| (1..=crate::dir::SHARD_COUNT_MAX).contains(n))
            .ok_or_else(|| bad("bad shard_count".into()))?;
        let pcrc = u32::from_str_radix(get("partitions_crc32c")?, 16)
            .map_err(|_| bad("bad partitions_crc32c".into()))?;
        let partitions = decode_partitions(partitions_file, shard_count)
            .map_err(|e| corrupt(format!("backup {e}")))?;
        if crc32c::crc32c(&encode_partitions(&partitions)) != pcrc {
            return Err(bad(format!(
                "{PARTITIONS_FILE} does not match the manifest"
            )));
        }
        let mut shards = Vec::new();
        for l in body.lines() {
            let Some(v) = l.strip_prefix("shard = ") else {
                continue;
            };
            let f: Vec<&str> = v.split_whitespace().collect();
            let parsed = (|| {
                Some(ShardBackupSummary {
                    shard: f.first()?.parse().ok()?,
                    file: f.get(1)?.to_string(),
                    records: f.get(2)?.parse().ok()?,
                    bytes: f.get(3)?.parse().ok()?,
                    crc32c: u32::from_str_radix(f.get(4)?, 16).ok()?,
                })
            })();
            let sh = parsed.ok_or_else(|| bad(format!("bad shard line `{l}`")))?;
            if sh.shard != shards.len() as u32 || sh.file != backup_file_name(sh.shard) {
                return Err(bad(format!("unexpected shard line `{l}`")));
            }
            shards.push(sh);
        }
        if shards.len() != shard_count as usize {
            return Err(bad(format!(
                "{} shard lines for {shard_count} shards",
                shards.len()
            )));
        }
        Ok(Manifest {
            format_version,
            storage_format_version: num("storage_format_version")? as u32,
            shard_count,
            block_size_bytes: num("block_size_bytes")?,
            flush_size_bytes: num("flush_size_bytes")?,
            shard_size_bytes: num("shard_size_bytes")?,
            partitions,
            started_ms: num("started_ms")?,
            finished_ms: num("finished_ms")?,
            shards,
        })
    }
}

/// Milliseconds since the Unix epoch, system clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Prepares a backup directory: creates it; refuses one that already holds a manifest or
/// shard backup files.
pub fn prepare_backup_dir(to: &Path) -> Result<(), StoreError> {
    fs::create_dir_all(to)?;
    if to.join(MANIFEST_FILE).exists() || to.join(backup_file_name(0)).exists() {
        return Err(StoreError::Config(format!(
            "{} already holds a backup",
            to.display()
        )));
    }
    Ok(())
}

/// Writes the manifest (and `partitions.bin`) of a finished backup, last and atomically:
/// a backup directory without a manifest is incomplete.
pub fn write_manifest(
    to: &Path,
    dir: &DataDir,
    started_ms: u64,
    mut shards: Vec<ShardBackupSummary>,
) -> Result<Manifest, StoreError> {
    shards.sort_by_key(|s| s.shard);
    let partitions: Vec<u16> = (0..PARTITION_COUNT)
        .map(|p| dir.shard_of_partition(p as u16) as u16)
        .collect();
    let m = Manifest {
        format_version: BACKUP_FORMAT_VERSION,
        storage_format_version: FORMAT_VERSION,
        shard_count: dir.shard_count(),
        block_size_bytes: dir.meta().block_size_bytes,
        flush_size_bytes: dir.meta().flush_size_bytes,
        shard_size_bytes: dir.meta().shard_size_bytes,
        partitions,
        started_ms,
        finished_ms: now_ms(),
        shards,
    };
    if m.shards.len() != m.shard_count as usize
        || m.shards
            .iter()
            .enumerate()
            .any(|(i, s)| s.shard != i as u32)
    {
        return Err(StoreError::Config(format!(
            "backup has {} shard files for {} shards",
            m.shards.len(),
            m.shard_count
        )));
    }
    write_atomic(&to.join(PARTITIONS_FILE), &encode_partitions(&m.partitions))?;
    write_atomic(&to.join(MANIFEST_FILE), m.encode().as_bytes())?;
    Ok(m)
}

/// Reads and checks a backup's manifest.
pub fn read_manifest(from: &Path) -> Result<Manifest, StoreError> {
    let mp = from.join(MANIFEST_FILE);
    let meta = fs::metadata(&mp).map_err(|e| {
        StoreError::Config(format!(
            "{}: {e} (not a finished backup directory?)",
            mp.display()
        ))
    })?;
    if meta.len() > MANIFEST_SIZE_BYTES_MAX {
        return Err(corrupt(format!("{}: too large", mp.display())));
    }
    let text = fs::read_to_string(&mp).map_err(|e| corrupt(format!("{}: {e}", mp.display())))?;
    let parts = fs::read(from.join(PARTITIONS_FILE))?;
    Manifest::decode(&text, &parts)
}

/// Verifies every file of a backup (manifest, partition table, every record's CRC32C, file
/// checksums and counts) without restoring. Returns the record count.
pub fn verify_backup(from: &Path) -> Result<u64, StoreError> {
    let m = read_manifest(from)?;
    let mut n = 0;
    for sh in &m.shards {
        n += read_backup_file(
            &from.join(&sh.file),
            sh.shard,
            Some(sh),
            record::RECORD_SIZE_LIMIT_BYTES,
            |_| Ok(()),
        )?;
    }
    Ok(n)
}

/// What a restore wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreSummary {
    /// Records written, all shards.
    pub records: u64,
    /// Shards.
    pub shards: u32,
}

/// Whether `path` is absent or an empty directory.
pub fn is_empty_dir(path: &Path) -> Result<bool, StoreError> {
    match fs::read_dir(path) {
        Ok(mut it) => Ok(it.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// Restores the backup in `from` into the empty data directory `to`: checks every checksum,
/// then writes each shard's data file (file header, blocks of records in the storage format,
/// one copy per digest with its generation, last-update stamp and void time) and fsyncs it.
/// Refuses a non-empty `to`. A restore cut short leaves `to` non-empty: delete it and run
/// again. The graph-level edge repair is the engine's (`coregraph restore` runs it after).
pub fn restore(from: &Path, to: &Path, store: &StoreConfig) -> Result<RestoreSummary, StoreError> {
    if !is_empty_dir(to)? {
        return Err(StoreError::Config(format!(
            "restore target {} is not empty; restore fills an empty data directory only",
            to.display()
        )));
    }
    let m = read_manifest(from)?;
    // Verify everything before writing anything.
    let total = verify_backup(from)?;
    let opts = DirOptions {
        shard_count: Some(m.shard_count),
        shard_size_bytes: m.shard_size_bytes,
        store: StoreConfig {
            block_size_bytes: m.block_size_bytes,
            flush_size_bytes: m.flush_size_bytes,
            ..store.clone()
        },
    };
    let cfg = opts.store.clone();
    cfg.validate()?;
    {
        let d = DataDir::open_or_create(to, &opts)?;
        let same = (0..PARTITION_COUNT).all(|p| {
            m.partitions.get(p).copied().map(u32::from) == Some(d.shard_of_partition(p as u16))
        });
        drop(d);
        if !same {
            write_atomic(&to.join(PARTITIONS_FILE), &encode_partitions(&m.partitions))?;
        }
    }
    let mut records = 0;
    for sh in &m.shards {
        records += restore_shard_file(
            &from.join(&sh.file),
            sh,
            &data_file_path(to, sh.shard),
            &m,
            &cfg,
        )?;
    }
    if records != total {
        return Err(corrupt(format!(
            "backup changed while restoring: {records} records, {total} verified"
        )));
    }
    fs::File::open(to)?.sync_all()?;
    debug_assert!(to.join(META_FILE).exists());
    Ok(RestoreSummary {
        records,
        shards: m.shard_count,
    })
}

fn restore_shard_file(
    src: &Path,
    sh: &ShardBackupSummary,
    dst: &Path,
    m: &Manifest,
    cfg: &StoreConfig,
) -> Result<u64, StoreError> {
    let block =
        usize::try_from(m.block_size_bytes).map_err(|_| StoreError::Config("block size".into()))?;
    let blocks_total =
        m.shard_size_bytes.saturating_sub(FILE_HEADER_SIZE_BYTES) / m.block_size_bytes;
    // Leave the defrag reserve and the write blocks free.
    let usable = blocks_total.saturating_sub(cfg.defrag_reserve_blocks as u64 + 2);
    let file = fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(dst)
        .map_err(|e| StoreError::Config(format!("{}: {e}", dst.display())))?;
    file.set_len(m.shard_size_bytes)?;
    let mut cur: Vec<u8> = Vec::with_capacity(block);
    let mut block_no = 0u64;
    let start_block = |buf: &mut Vec<u8>, b: u64| {
        buf.clear();
        buf.extend_from_slice(&record::encode_block_header(sh.shard, b + 1));
    };
    start_block(&mut cur, block_no);
    let write_block = |buf: &mut Vec<u8>, b: u64| -> Result<(), StoreError> {
        let off = FILE_HEADER_SIZE_BYTES + b * m.block_size_bytes;
        std::os::unix::fs::FileExt::write_all_at(&file, buf, off)?;
        Ok(())
    };
    let mut err: Option<StoreError> = None;
    let n = read_backup_file(src, sh.shard, Some(sh), cfg.record_size_max, |r| {
        let meta = RecordMeta {
            digest: r.digest,
            generation: r.generation,
            flags: 0,
            lut_stamp: r.lut_stamp,
            void_time_s: r.void_time_s,
            block_seq: block_no + 1,
        };
        let need = record::stored_len(r.payload.len());
        if record::BLOCK_HEADER_SIZE_BYTES + need > block {
            return Err(StoreError::Config(format!(
                "a record of {need} bytes does not fit a block of {block}"
            )));
        }
        if cur.len() + need > block {
            write_block(&mut cur, block_no)?;
            block_no += 1;
            if block_no >= usable {
                return Err(StoreError::DeviceFull);
            }
            start_block(&mut cur, block_no);
        }
        let meta = RecordMeta {
            block_seq: block_no + 1,
            ..meta
        };
        record::encode(&meta, &r.payload, &mut cur);
        cur.resize(
            cur.len().div_ceil(RECORD_ALIGN_BYTES) * RECORD_ALIGN_BYTES,
            0,
        );
        Ok(())
    })
    .inspect_err(|e| {
        if matches!(e, StoreError::DeviceFull) {
            err = Some(StoreError::Config(format!(
                "shard {} does not fit in {} blocks of {}",
                sh.shard, usable, m.block_size_bytes
            )));
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    let n = n?;
    write_block(&mut cur, block_no)?;
    let seq_used = block_no + 1;
    let reserved = (seq_used / SEQ_RESERVE_STEP + 1) * SEQ_RESERVE_STEP;
    let cfg_hdr = StoreConfig {
        block_size_bytes: m.block_size_bytes,
        flush_size_bytes: m.flush_size_bytes,
        ..cfg.clone()
    };
    let h = encode_file_header(sh.shard, &cfg_hdr, blocks_total, reserved);
    std::os::unix::fs::FileExt::write_all_at(&file, &h, 0)?;
    file.sync_all()?;
    Ok(n)
}

/// Path of the data file of shard `id` under data directory `dir`.
pub fn data_file_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("shard-{id:03}.dat"))
}
