//! Group commit on a real direct-I/O file: concurrent commit-to-device writers share flushes,
//! and everything acknowledged is there after reopening.

use std::rc::Rc;

use shards::device::{Device, DmaDevice};
use shards::{Clock, Digest, Durability, Shard, StoreConfig, StoreError, WriteMode};

const WRITERS: u64 = 64;

#[test]
fn concurrent_commit_writers_share_flushes() {
    let dir = std::env::temp_dir().join(format!("cg-group-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shard.dat");
    let cfg = StoreConfig {
        block_size_bytes: 256 * 1024,
        flush_size_bytes: 64 * 1024,
        record_size_max: 4096,
        durability: Durability::CommitToDevice,
        defrag_reserve_blocks: 2,
        ..StoreConfig::default()
    };
    let (p, c) = (path.clone(), cfg.clone());
    let flushes = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .spawn(move || async move {
            let dev = Device::Dma(DmaDevice::open(&p, Some(4 << 20)).await.unwrap());
            let shard = Rc::new(Shard::create(0, c, dev, Clock::System).await.unwrap());
            let tasks: Vec<_> = (0..WRITERS)
                .map(|i| {
                    let s = shard.clone();
                    glommio::spawn_local(async move {
                        s.put(
                            &Digest::of_int(b"g", i as i64),
                            format!("v{i}").as_bytes(),
                            WriteMode::Plain,
                            0,
                        )
                        .await
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            shard.stats().flushes
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(
        flushes < WRITERS,
        "{WRITERS} concurrent writers took {flushes} flushes: no group commit"
    );
    let found = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .spawn(move || async move {
            let dev = Device::Dma(DmaDevice::open(&path, None).await.unwrap());
            let (shard, _) = Shard::open(0, cfg, dev, Clock::System).await.unwrap();
            let mut n = 0;
            for i in 0..WRITERS {
                let r = shard.get(&Digest::of_int(b"g", i as i64)).await.unwrap();
                if r.map(|r| r.payload) == Some(format!("v{i}").into_bytes()) {
                    n += 1;
                }
            }
            n
        })
        .unwrap()
        .join()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(found, WRITERS);
    eprintln!("{WRITERS} concurrent commit-to-device writes used {flushes} flushes");
}

/// Two concurrent commit-to-device deletes of one key: the second finds the first's tombstone
/// still in the write buffer ("not found") and must not answer before that tombstone is
/// durable, or a crash after its answer could bring the record back (found by the crash test).
#[test]
fn delete_seeing_a_buffered_delete_answers_after_it_is_durable() {
    let dir = std::env::temp_dir().join(format!("cg-group-del-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shard.dat");
    let cfg = StoreConfig {
        block_size_bytes: 256 * 1024,
        flush_size_bytes: 64 * 1024,
        record_size_max: 4096,
        durability: Durability::CommitToDevice,
        defrag_reserve_blocks: 2,
        ..StoreConfig::default()
    };
    let (first, second, before, at_second) =
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .spawn(move || async move {
                let dev = Device::Dma(DmaDevice::open(&path, Some(4 << 20)).await.unwrap());
                let shard = Rc::new(Shard::create(0, cfg, dev, Clock::System).await.unwrap());
                let k = Digest::of_int(b"d", 1);
                shard.put(&k, b"v", WriteMode::Plain, 0).await.unwrap();
                let before = shard.stats().flushes;
                let s = shard.clone();
                // Runs first: appends the tombstone, then waits for its flush (real I/O).
                let a = glommio::spawn_local(async move { s.delete(&k, WriteMode::Plain).await });
                let s = shard.clone();
                let b = glommio::spawn_local(async move {
                    let r = s.delete(&k, WriteMode::Plain).await;
                    (r, s.stats().flushes)
                });
                let first = a.await.unwrap();
                let (second, at_second) = b.await;
                (first, second.unwrap(), before, at_second)
            })
            .unwrap()
            .join()
            .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(first, "the first delete found the record");
    assert!(!second, "the second delete found no live record");
    assert!(
        at_second > before,
        "the second delete answered before any flush completed ({before} -> {at_second})"
    );
}

/// A create-only write and a generation-checked write that race a commit-to-device write of
/// the same key are refused because of a record still in the write buffer: the refusals must
/// not be answered before that record is durable, or a crash after them would leave a key
/// reported as existing (or as at a newer generation) absent (or at the old one).
#[test]
fn refusals_seeing_a_buffered_write_answer_after_it_is_durable() {
    let dir = std::env::temp_dir().join(format!("cg-group-refuse-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shard.dat");
    let cfg = StoreConfig {
        block_size_bytes: 256 * 1024,
        flush_size_bytes: 64 * 1024,
        record_size_max: 4096,
        durability: Durability::CommitToDevice,
        defrag_reserve_blocks: 2,
        ..StoreConfig::default()
    };
    let outcomes = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .spawn(move || async move {
            let dev = Device::Dma(DmaDevice::open(&path, Some(4 << 20)).await.unwrap());
            let shard = Rc::new(Shard::create(0, cfg, dev, Clock::System).await.unwrap());
            let created = Digest::of_int(b"c", 1);
            let updated = Digest::of_int(b"c", 2);
            let gen = shard
                .put(&updated, b"v1", WriteMode::Plain, 0)
                .await
                .unwrap();
            let mut out = Vec::new();
            // Create-only against a buffered create.
            let before = shard.stats().flushes;
            let s = shard.clone();
            let a = glommio::spawn_local(async move {
                s.put(&created, b"first", WriteMode::CreateOnly, 0).await
            });
            let s = shard.clone();
            let b = glommio::spawn_local(async move {
                let r = s.put(&created, b"second", WriteMode::CreateOnly, 0).await;
                (r, s.stats().flushes)
            });
            let first = a.await;
            let (second, at_second) = b.await;
            out.push((
                "create-only",
                first.is_ok(),
                matches!(second, Err(StoreError::Exists)),
                before,
                at_second,
            ));
            // Generation check against a buffered overwrite.
            let before = shard.stats().flushes;
            let s = shard.clone();
            let a = glommio::spawn_local(async move {
                s.put(&updated, b"v2", WriteMode::ExpectGeneration(gen), 0)
                    .await
            });
            let s = shard.clone();
            let b = glommio::spawn_local(async move {
                let r = s
                    .put(&updated, b"v2'", WriteMode::ExpectGeneration(gen), 0)
                    .await;
                (r, s.stats().flushes)
            });
            let first = a.await;
            let (second, at_second) = b.await;
            out.push((
                "generation",
                first.is_ok(),
                matches!(second, Err(StoreError::GenerationMismatch { .. })),
                before,
                at_second,
            ));
            out
        })
        .unwrap()
        .join()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    for (what, first_ok, second_refused, before, at_second) in outcomes {
        assert!(first_ok, "{what}: the first write succeeded");
        assert!(second_refused, "{what}: the second write was refused");
        assert!(
            at_second > before,
            "{what}: the refusal answered before any flush completed ({before} -> {at_second})"
        );
    }
}

/// Commit-to-device writes that arrive while a flush is in flight are all acknowledged by
/// the next flush together: one more flush for all of them, not one each.
#[test]
fn writes_arriving_during_a_flush_share_the_next_one() {
    const LATE_WRITERS: u64 = 32;
    let dir = std::env::temp_dir().join(format!("cg-group-round-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shard.dat");
    let cfg = StoreConfig {
        block_size_bytes: 256 * 1024,
        flush_size_bytes: 64 * 1024,
        record_size_max: 4096,
        durability: Durability::CommitToDevice,
        defrag_reserve_blocks: 2,
        ..StoreConfig::default()
    };
    let (flushes, acked) = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .spawn(move || async move {
            let dev = Device::Dma(DmaDevice::open(&path, Some(4 << 20)).await.unwrap());
            let shard = Rc::new(Shard::create(0, cfg, dev, Clock::System).await.unwrap());
            // The first flush also reserves block sequence numbers in the file header.
            shard
                .put(&Digest::of_int(b"r", -1), b"warm", WriteMode::Plain, 0)
                .await
                .unwrap();
            let before = shard.stats().flushes;
            let s = shard.clone();
            let first = glommio::spawn_local(async move {
                s.put(&Digest::of_int(b"r", 0), b"first", WriteMode::Plain, 0)
                    .await
            });
            // Let the first writer start its flush (it now waits for the device).
            futures_lite::future::yield_now().await;
            let late: Vec<_> = (1..=LATE_WRITERS)
                .map(|i| {
                    let s = shard.clone();
                    glommio::spawn_local(async move {
                        s.put(
                            &Digest::of_int(b"r", i as i64),
                            b"late",
                            WriteMode::Plain,
                            0,
                        )
                        .await
                    })
                })
                .collect();
            let mut acked = u64::from(first.await.is_ok());
            for t in late {
                acked += u64::from(t.await.is_ok());
            }
            (shard.stats().flushes - before, acked)
        })
        .unwrap()
        .join()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(acked, LATE_WRITERS + 1);
    assert_eq!(
        flushes, 2,
        "one flush for the first writer, one for the {LATE_WRITERS} that arrived during it"
    );
}
