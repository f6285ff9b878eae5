//! A raw block device as a shard: a loop device (`losetup`) over a scratch file, linked as
//! the shard path of a data directory. The directory formats it without preallocating or
//! truncating it (its size comes from the device), uses it with direct I/O, reopens it with
//! every record; a new data directory over the same device formats it again and never sees
//! the earlier directory's records; an unformatted device in an existing directory is
//! refused. Where loop devices are not allowed (not root, a container without
//! `/dev/loop-control`) the test prints that it skipped, loudly, and passes. The zeroing
//! format itself (without the ioctl) is also tested on a plain file, everywhere.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use shards::{Clock, DataDir, Digest, DirOptions, Durability, StoreConfig, WriteMode};

/// Size of the scratch file behind the loop device.
const DEVICE_SIZE_BYTES: u64 = 24 << 20;
const BLOCK_SIZE_BYTES: u64 = 256 * 1024;
const KEYS: i64 = 400;

fn opts() -> DirOptions {
    DirOptions {
        shard_count: Some(1),
        // Deliberately not the device's size: a block device is used whole.
        shard_size_bytes: 4 << 20,
        store: StoreConfig {
            block_size_bytes: BLOCK_SIZE_BYTES,
            flush_size_bytes: 64 * 1024,
            record_size_max: 4096,
            defrag_reserve_blocks: 2,
            durability: Durability::CommitToDevice,
            ..StoreConfig::default()
        },
    }
}

/// Record `k` of a session tagged `tag`: "a" records are big (they fill several blocks, so
/// a later format must wipe blocks it does not overwrite), others small.
fn value(tag: &str, k: i64) -> Vec<u8> {
    let mut v = format!("{tag} {k} ").into_bytes();
    if tag == "a" {
        v.resize(3000, b'a');
    }
    v
}

/// A loop device attached by this test; detached when dropped.
struct Loop {
    dev: PathBuf,
    file: PathBuf,
}

impl Loop {
    fn attach(file: &Path) -> Result<Loop, String> {
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(file)
            .output()
            .map_err(|e| format!("running losetup: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "losetup failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if dev.is_empty() {
            return Err("losetup printed no device".into());
        }
        Ok(Loop {
            dev: PathBuf::from(dev),
            file: file.to_path_buf(),
        })
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
        let _ = std::fs::remove_file(&self.file);
    }
}

/// Opens the data directory at `dir` on one executor, writes the records tagged `write`
/// (if any), and returns how many records tagged `read` it finds and the shard's block
/// count, or the error.
fn session(
    dir: &Path,
    write: Option<&'static str>,
    read: &'static str,
) -> Result<(i64, u64), String> {
    let data = Arc::new(DataDir::open_or_create(dir, &opts()).map_err(|e| e.to_string())?);
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .spawn(move || async move {
            let (shard, _) = data
                .open_shard(0, Clock::System)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(tag) = write {
                for k in 0..KEYS {
                    let v = value(tag, k);
                    shard
                        .put(&Digest::of_int(tag.as_bytes(), k), &v, WriteMode::Plain, 0)
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
            let mut found = 0;
            for k in 0..KEYS {
                if let Some(r) = shard
                    .get(&Digest::of_int(read.as_bytes(), k))
                    .await
                    .map_err(|e| e.to_string())?
                {
                    assert_eq!(r.payload, value(read, k));
                    found += 1;
                }
            }
            shard.flush().await.map_err(|e| e.to_string())?;
            Ok((found, shard.stats().blocks_total))
        })
        .map_err(|e| e.to_string())?
        .join()
        .map_err(|e| format!("{e:?}"))?
}

#[test]
fn loop_device_as_a_shard() {
    let scratch = std::env::temp_dir().join(format!("cg-blockdev-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let backing = scratch.join("device.img");
    // Not zero: a raw device may hold anything.
    std::fs::write(&backing, vec![0xA5u8; DEVICE_SIZE_BYTES as usize]).expect("backing file");
    let lo = match Loop::attach(&backing) {
        Ok(lo) => lo,
        Err(why) => {
            eprintln!(
                "\n*** SKIPPED loop_device_as_a_shard: cannot attach a loop device ({why}); \
                 the raw block device path was NOT tested here ***\n"
            );
            let _ = std::fs::remove_dir_all(&scratch);
            return;
        }
    };
    eprintln!("loop_device_as_a_shard: using {}", lo.dev.display());
    let blocks = (DEVICE_SIZE_BYTES - 4096) / BLOCK_SIZE_BYTES;

    // A data directory whose shard is the device: formatted, used whole, reopened.
    let first = scratch.join("first");
    std::fs::create_dir_all(&first).expect("dir");
    std::os::unix::fs::symlink(&lo.dev, first.join("shard-000.dat")).expect("symlink");
    assert_eq!(session(&first, Some("a"), "a"), Ok((KEYS, blocks)));
    assert_eq!(
        session(&first, None, "a"),
        Ok((KEYS, blocks)),
        "after reopen"
    );
    let backing_len = std::fs::metadata(&backing).expect("backing").len();
    assert_eq!(
        backing_len, DEVICE_SIZE_BYTES,
        "the device was not truncated"
    );

    // A new directory over the same device formats it: the first one's records (valid
    // blocks, valid CRCs) never come back.
    let second = scratch.join("second");
    std::fs::create_dir_all(&second).expect("dir");
    std::os::unix::fs::symlink(&lo.dev, second.join("shard-000.dat")).expect("symlink");
    assert_eq!(session(&second, Some("b"), "a"), Ok((0, blocks)));
    assert_eq!(
        session(&second, None, "b"),
        Ok((KEYS, blocks)),
        "after reopen"
    );
    assert_eq!(
        session(&second, None, "a"),
        Ok((0, blocks)),
        "old records stay gone"
    );

    // An existing directory whose device lost its header (and is not zeroed) is refused.
    {
        use std::io::{Seek, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&lo.dev)
            .expect("device");
        f.seek(std::io::SeekFrom::Start(0)).expect("seek");
        f.write_all(&[0x5Au8; 4096]).expect("overwrite header");
        f.sync_all().expect("sync");
    }
    let e = session(&second, None, "b").expect_err("must refuse");
    assert!(e.contains("block device without a shard header"), "{e}");
    drop(lo);
    let _ = std::fs::remove_dir_all(&scratch);
}

/// The zeroing format without `BLKZEROOUT` (its fallback, and what every machine can run): a
/// device holding an earlier shard with many blocks of records is formatted by
/// `Shard::create_zeroing` writing zeros itself; after new writes and a cold start none of
/// the earlier records is back (their blocks' sequence numbers are reused by the new shard).
#[test]
fn zeroing_format_without_the_ioctl_forgets_the_earlier_shard() {
    use shards::{Device, DmaDevice, Shard};
    let scratch = std::env::temp_dir().join(format!("cg-zeroing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let path = scratch.join("device.img");
    let p = path.clone();
    let found = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .spawn(move || async move {
            let cfg = opts().store;
            let put_all = |shard: Shard, tag: &'static str| async move {
                for k in 0..KEYS {
                    shard
                        .put(
                            &Digest::of_int(tag.as_bytes(), k),
                            &value(tag, k),
                            WriteMode::Plain,
                            0,
                        )
                        .await
                        .expect("put");
                }
                shard.flush().await.expect("flush");
                let s = shard.stats();
                s.blocks_total - s.blocks_free
            };
            let dev = Device::Dma(
                DmaDevice::open(&p, Some(DEVICE_SIZE_BYTES))
                    .await
                    .expect("create"),
            );
            let shard = Shard::create(0, cfg.clone(), dev, Clock::System)
                .await
                .expect("format");
            let used_first = put_all(shard, "a").await;
            let dev = Device::Dma(DmaDevice::open(&p, None).await.expect("open"));
            let shard = Shard::create_zeroing(0, cfg.clone(), dev, Clock::System, false)
                .await
                .expect("zeroing format");
            let used_second = put_all(shard, "b").await;
            let dev = Device::Dma(DmaDevice::open(&p, None).await.expect("reopen"));
            let (shard, _) = Shard::open(0, cfg, dev, Clock::System)
                .await
                .expect("cold start");
            let count = |tag: &'static str| {
                let shard = &shard;
                async move {
                    let mut n = 0;
                    for k in 0..KEYS {
                        n += usize::from(
                            shard
                                .get(&Digest::of_int(tag.as_bytes(), k))
                                .await
                                .expect("get")
                                .is_some(),
                        );
                    }
                    n
                }
            };
            (used_first, used_second, count("a").await, count("b").await)
        })
        .expect("executor")
        .join()
        .expect("join");
    let (used_first, used_second, a, b) = found;
    // Not vacuous: the earlier shard used blocks the new one does not overwrite.
    assert!(
        used_first > used_second,
        "blocks used {used_first} then {used_second}"
    );
    assert_eq!(
        (a, b),
        (0, KEYS as usize),
        "earlier records back, or new ones lost"
    );
    let _ = std::fs::remove_dir_all(&scratch);
}

/// A commit flush of one write goes through the device's `O_DSYNC` descriptor
/// (`write_synced_at`): what it wrote is read back through the ordinary descriptor, after
/// plain writes before and after it, and after a reopen; and a shard on such a device keeps
/// every record put and flushed, across a reopen.
#[test]
fn synced_writes_land_in_the_same_file_as_plain_ones() {
    use shards::device::SECTOR_SIZE_BYTES;
    use shards::{BlockDevice, Device, DmaDevice, Shard};
    let scratch = std::env::temp_dir().join(format!("cg-dsync-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let raw = scratch.join("raw.img");
    let img = scratch.join("shard.img");
    let s = SECTOR_SIZE_BYTES;
    let (p, q) = (raw.clone(), img.clone());
    let found = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .spawn(move || async move {
            let d = DmaDevice::open(&p, Some(1 << 20)).await.expect("create");
            assert!(d.synced_writes_in_one_request(), "O_DSYNC descriptor open");
            d.write_at(0, &vec![1u8; s]).await.expect("plain");
            d.write_synced_at(s as u64, &vec![2u8; 2 * s])
                .await
                .expect("synced");
            d.write_at(3 * s as u64, &vec![3u8; s])
                .await
                .expect("plain");
            let now = d.read_at(0, 4 * s).await.expect("read");
            drop(d);
            let d = DmaDevice::open(&p, None).await.expect("reopen");
            let again = d.read_at(0, 4 * s).await.expect("read");
            let cfg = opts().store;
            let dev = Device::Dma(
                DmaDevice::open(&q, Some(DEVICE_SIZE_BYTES))
                    .await
                    .expect("create"),
            );
            let shard = Shard::create(0, cfg.clone(), dev, Clock::System)
                .await
                .expect("format");
            for k in 0..100 {
                shard
                    .put(
                        &Digest::of_int(b"d", k),
                        &value("d", k),
                        WriteMode::Plain,
                        0,
                    )
                    .await
                    .expect("put");
                shard.flush().await.expect("flush");
            }
            drop(shard);
            let dev = Device::Dma(DmaDevice::open(&q, None).await.expect("reopen"));
            let (shard, _) = Shard::open(0, cfg, dev, Clock::System)
                .await
                .expect("cold start");
            let mut kept = 0;
            for k in 0..100 {
                let r = shard.get(&Digest::of_int(b"d", k)).await.expect("get");
                kept += usize::from(r.is_some_and(|r| r.payload == value("d", k)));
            }
            (now, again, kept)
        })
        .expect("executor")
        .join()
        .expect("join");
    let (now, again, kept) = found;
    let want: Vec<u8> = [vec![1u8; s], vec![2u8; 2 * s], vec![3u8; s]].concat();
    assert_eq!(now, want);
    assert_eq!(again, want);
    assert_eq!(kept, 100);
    let _ = std::fs::remove_dir_all(&scratch);
}
