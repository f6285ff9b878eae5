//! Store behaviour over the simulator and the memory device: reads and writes, write modes,
//! durability, TTL, tombstones, defrag, limits and cold start.

use std::cell::Cell;
use std::rc::Rc;

use futures_lite::future::block_on;
use shards::device::{Device, SimDevice};
use shards::{Clock, Digest, Durability, Record, Shard, StoreConfig, StoreError, WriteMode};

fn small_cfg(durability: Durability) -> StoreConfig {
    StoreConfig {
        block_size_bytes: 64 * 1024,
        flush_size_bytes: 16 * 1024,
        record_size_max: 8 * 1024,
        durability,
        defrag_reserve_blocks: 2,
        used_space_max_pct: 95,
        write_queue_blocks_max: 4,
        read_cache_blocks_max: 2,
        read_cache_bytes_max: 1 << 20,
        ..StoreConfig::default()
    }
}

fn clock() -> (Clock, Rc<Cell<u64>>) {
    let c = Rc::new(Cell::new(1_700_000_000_000u64));
    (Clock::Manual(c.clone()), c)
}

fn key(i: u64) -> Digest {
    Digest::of_int(b"t", i as i64)
}

fn val(i: u64, v: u64, len: usize) -> Vec<u8> {
    let mut out = format!("{i}:{v}:").into_bytes();
    out.resize(len, (v % 251) as u8);
    out
}

#[test]
fn put_get_modes_and_errors() {
    let (ck, _) = clock();
    let dev = SimDevice::new(1 << 20, 1);
    let s = block_on(Shard::create(
        0,
        small_cfg(Durability::CommitToDevice),
        Device::Sim(dev),
        ck,
    ))
    .unwrap();
    block_on(async {
        assert_eq!(s.get(&key(1)).await.unwrap(), None);
        assert_eq!(
            s.put(&key(1), b"a", WriteMode::CreateOnly, 0)
                .await
                .unwrap(),
            1
        );
        assert!(matches!(
            s.put(&key(1), b"b", WriteMode::CreateOnly, 0).await,
            Err(StoreError::Exists)
        ));
        assert!(matches!(
            s.put(&key(1), b"b", WriteMode::ExpectGeneration(7), 0)
                .await,
            Err(StoreError::GenerationMismatch {
                expected: 7,
                actual: 1
            })
        ));
        assert_eq!(
            s.put(&key(1), b"b", WriteMode::ExpectGeneration(1), 0)
                .await
                .unwrap(),
            2
        );
        let r = s.get(&key(1)).await.unwrap().unwrap();
        assert_eq!((r.generation, r.payload.as_slice()), (2, &b"b"[..]));
        assert!(s.delete(&key(1), WriteMode::Plain).await.unwrap());
        assert!(!s.delete(&key(1), WriteMode::Plain).await.unwrap());
        assert_eq!(s.get(&key(1)).await.unwrap(), None);
        // After a delete, create-only works again and generations keep counting.
        assert_eq!(
            s.put(&key(1), b"c", WriteMode::CreateOnly, 0)
                .await
                .unwrap(),
            4
        );
        assert!(matches!(
            s.put(&key(2), &vec![0u8; 9000], WriteMode::Plain, 0).await,
            Err(StoreError::RecordTooBig { .. })
        ));
        assert!(matches!(
            s.put(&key(3), b"x", WriteMode::ExpectGeneration(0), 0)
                .await,
            Ok(1)
        ));
    });
    let st = s.stats();
    assert_eq!(st.index_entries, 2);
    assert!(
        st.flushes >= 5,
        "commit-to-device flushes per write: {st:?}"
    );
}

#[test]
fn config_alignment_errors_are_clear() {
    let c = StoreConfig {
        flush_size_bytes: 1000,
        ..StoreConfig::default()
    };
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("flush size 1000"), "{e}");
    let c = StoreConfig {
        block_size_bytes: 3 << 19,
        ..StoreConfig::default()
    };
    assert!(c.validate().unwrap_err().to_string().contains("block size"));
}

#[test]
fn commit_to_device_survives_power_cut_and_buffered_may_not() {
    for mode in [Durability::CommitToDevice, Durability::Buffered] {
        let (ck, _) = clock();
        let dev = SimDevice::new(1 << 20, 7);
        let s = block_on(Shard::create(
            0,
            small_cfg(mode),
            Device::Sim(dev.clone()),
            ck.clone(),
        ))
        .unwrap();
        block_on(async {
            for i in 0..200 {
                s.put(&key(i), &val(i, 1, 100), WriteMode::Plain, 0)
                    .await
                    .unwrap();
            }
        });
        drop(s);
        dev.power_cut();
        let (s, rep) = block_on(Shard::open(
            0,
            small_cfg(mode),
            Device::Sim(dev.reboot()),
            ck,
        ))
        .unwrap();
        let found = block_on(async {
            let mut n = 0;
            for i in 0..200 {
                if let Some(r) = s.get(&key(i)).await.unwrap() {
                    assert_eq!(r.payload, val(i, 1, 100));
                    n += 1;
                }
            }
            n
        });
        match mode {
            Durability::CommitToDevice => assert_eq!(found, 200, "{rep:?}"),
            _ => assert!(
                found < 200,
                "buffered without flush keeps only full flushes: {found}"
            ),
        }
    }
}

#[test]
fn ttl_invisible_at_once_then_swept() {
    let (ck, c) = clock();
    let s = block_on(Shard::create(
        0,
        small_cfg(Durability::Buffered),
        Device::Sim(SimDevice::new(1 << 20, 2)),
        ck,
    ))
    .unwrap();
    block_on(async {
        s.put(&key(1), b"short", WriteMode::Plain, 10)
            .await
            .unwrap();
        s.put(&key(2), b"forever", WriteMode::Plain, 0)
            .await
            .unwrap();
        assert!(s.get(&key(1)).await.unwrap().is_some());
        c.set(c.get() + 10_000);
        assert_eq!(
            s.get(&key(1)).await.unwrap(),
            None,
            "expired is invisible at once"
        );
        assert!(s.get(&key(2)).await.unwrap().is_some());
        // An expired record counts as absent for create-only.
        assert!(s.put(&key(3), b"x", WriteMode::Plain, 5).await.is_ok());
    });
    assert_eq!(s.sweep(), 1);
    assert_eq!(s.stats().expired_removed, 1);
}

#[test]
fn tombstone_kept_until_older_blocks_freed_and_never_resurrects() {
    let (ck, _) = clock();
    let dev = SimDevice::new(2 << 20, 3);
    let cfg = small_cfg(Durability::CommitToDevice);
    let s = block_on(Shard::create(
        0,
        cfg.clone(),
        Device::Sim(dev.clone()),
        ck.clone(),
    ))
    .unwrap();
    block_on(async {
        // Key 0 lives in the first block next to long-lived data.
        s.put(&key(0), b"doomed", WriteMode::Plain, 0)
            .await
            .unwrap();
        for i in 1..400 {
            s.put(&key(i), &val(i, 0, 200), WriteMode::Plain, 0)
                .await
                .unwrap();
        }
        s.delete(&key(0), WriteMode::Plain).await.unwrap();
        s.flush().await.unwrap();
    });
    assert_eq!(
        s.sweep(),
        0,
        "older blocks still hold the record: tombstone must stay"
    );
    assert_eq!(s.stats().tombstones, 1);
    // Churn: overwrite everything repeatedly so every old block empties and is freed.
    block_on(async {
        for round in 1..6u64 {
            for i in 1..400 {
                s.put(&key(i), &val(i, round, 200), WriteMode::Plain, 0)
                    .await
                    .unwrap();
            }
            while s.maintain(true).await.unwrap() {}
        }
    });
    let st = s.stats();
    assert_eq!(st.tombstones, 0, "{st:?}");
    assert!(
        st.tombstones_collected >= 1 && st.blocks_freed > 0,
        "{st:?}"
    );
    drop(s);
    dev.power_cut();
    let (s, _) = block_on(Shard::open(0, cfg, Device::Sim(dev.reboot()), ck)).unwrap();
    block_on(async {
        assert_eq!(
            s.get(&key(0)).await.unwrap(),
            None,
            "deleted record came back"
        );
        for i in 1..400 {
            assert_eq!(
                s.get(&key(i)).await.unwrap().unwrap().payload,
                val(i, 5, 200)
            );
        }
    });
}

#[test]
fn defrag_rewrites_sparse_blocks_and_counts() {
    let (ck, _) = clock();
    let dev = SimDevice::new(1 << 20, 4);
    let cfg = small_cfg(Durability::Buffered);
    let s = block_on(Shard::create(
        0,
        cfg.clone(),
        Device::Sim(dev.clone()),
        ck.clone(),
    ))
    .unwrap();
    // ~15 blocks; 300 keys x 500 B = 150 KB live, written 20 times = 3 MB: space must be reused.
    block_on(async {
        for round in 0..20u64 {
            for i in 0..300 {
                let k = (i * 7 + round * 13) % 300;
                loop {
                    match s
                        .put(&key(k), &val(k, round, 500), WriteMode::Plain, 0)
                        .await
                    {
                        Ok(_) => break,
                        Err(StoreError::Overload) | Err(StoreError::DeviceFull) => {
                            s.maintain(true).await.unwrap();
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            s.maintain(true).await.unwrap();
        }
        s.flush().await.unwrap();
        for i in 0..300 {
            assert_eq!(
                s.get(&key(i)).await.unwrap().unwrap().payload,
                val(i, 19, 500)
            );
        }
    });
    let st = s.stats();
    assert!(st.blocks_reused > 20 && st.blocks_freed > 20, "{st:?}");
    drop(s);
    dev.power_cut();
    let (s, rep) = block_on(Shard::open(0, cfg, Device::Sim(dev.reboot()), ck)).unwrap();
    assert!(rep.records >= 300, "{rep:?}");
    block_on(async {
        for i in 0..300 {
            assert_eq!(
                s.get(&key(i)).await.unwrap().unwrap().payload,
                val(i, 19, 500)
            );
        }
    });
}

#[test]
fn defrag_moves_survivors_of_sparse_blocks() {
    let (ck, _) = clock();
    let dev = SimDevice::new(1 << 20, 5);
    let cfg = small_cfg(Durability::Buffered);
    let s = block_on(Shard::create(0, cfg, Device::Sim(dev), ck)).unwrap();
    block_on(async {
        for i in 0..600 {
            s.put(&key(i), &val(i, 0, 300), WriteMode::Plain, 0)
                .await
                .unwrap();
            if i % 50 == 0 {
                s.maintain(false).await.unwrap();
            }
        }
        // Delete 3 of 4: every block drops to ~25% live.
        for i in 0..600 {
            if i % 4 != 0 {
                s.delete(&key(i), WriteMode::Plain).await.unwrap();
            }
        }
        s.flush().await.unwrap();
        for _ in 0..50 {
            s.maintain(true).await.unwrap();
        }
        for i in 0..600 {
            let r = s.get(&key(i)).await.unwrap();
            assert_eq!(r.is_some(), i % 4 == 0);
        }
    });
    let st = s.stats();
    assert!(st.defrag_blocks >= 3 && st.defrag_records > 0, "{st:?}");
}

#[test]
fn device_full_and_overload() {
    let (ck, _) = clock();
    let s = block_on(Shard::create(
        0,
        small_cfg(Durability::Buffered),
        Device::Sim(SimDevice::new(1 << 20, 6)),
        ck.clone(),
    ))
    .unwrap();
    // Buffered and never flushed: the write queue fills up and writes fail fast.
    let mut overload = false;
    block_on(async {
        for i in 0..2000 {
            match s.put(&key(i), &val(i, 0, 1000), WriteMode::Plain, 0).await {
                Ok(_) => {}
                Err(StoreError::Overload) => {
                    overload = true;
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
    });
    assert!(
        overload && s.stats().overload_errors == 1,
        "{overload} {:?}",
        s.stats()
    );
    // With flushing, unique keys eventually hit the used-space limit.
    let cfg = StoreConfig {
        used_space_max_pct: 80,
        ..small_cfg(Durability::Buffered)
    };
    let s = block_on(Shard::create(
        0,
        cfg,
        Device::Sim(SimDevice::new(1 << 20, 6)),
        ck,
    ))
    .unwrap();
    let mut full = false;
    block_on(async {
        for i in 0..5000 {
            match s.put(&key(i), &val(i, 0, 1000), WriteMode::Plain, 0).await {
                Ok(_) => {}
                Err(StoreError::Overload) => {
                    s.maintain(false).await.unwrap();
                }
                Err(StoreError::DeviceFull) => {
                    full = true;
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        // Deletes still work when full.
        assert!(s.delete(&key(0), WriteMode::Plain).await.is_ok());
    });
    assert!(full);
    assert_eq!(StoreError::DeviceFull.to_string(), "device full");
}

#[test]
fn in_memory_mode() {
    let (ck, _) = clock();
    let s = block_on(Shard::create(
        0,
        small_cfg(Durability::InMemory),
        Device::Mem(shards::MemDevice::new(1 << 20)),
        ck,
    ))
    .unwrap();
    block_on(async {
        for round in 0..10u64 {
            for i in 0..200 {
                s.put(&key(i), &val(i, round, 400), WriteMode::Plain, 0)
                    .await
                    .unwrap();
            }
            while s.maintain(true).await.unwrap() {}
        }
        for i in 0..200 {
            assert_eq!(
                s.get(&key(i)).await.unwrap().unwrap().payload,
                val(i, 9, 400)
            );
        }
    });
}

#[test]
fn generation_wraps_skipping_zero_and_expect_generation_follows() {
    let (ck, _) = clock();
    let s = block_on(Shard::create(
        0,
        small_cfg(Durability::InMemory),
        Device::Mem(shards::MemDevice::new(8 << 20)),
        ck,
    ))
    .unwrap();
    block_on(async {
        let mut last = 0u16;
        for i in 0..65_540u32 {
            let g = loop {
                match s.put(&key(1), &i.to_le_bytes(), WriteMode::Plain, 0).await {
                    Ok(g) => break g,
                    Err(StoreError::Overload) | Err(StoreError::DeviceFull) => {
                        s.maintain(true).await.unwrap();
                    }
                    Err(e) => panic!("{e}"),
                }
            };
            assert_ne!(g, 0);
            if i > 0 {
                assert_eq!(g, if last == 65535 { 1 } else { last + 1 });
            }
            last = g;
        }
        assert_eq!(
            last, 5,
            "65540 writes: generations 1..=65535, then wrap to 1..=5"
        );
        assert!(s
            .put(&key(1), b"x", WriteMode::ExpectGeneration(5), 0)
            .await
            .is_ok());
    });
}

#[test]
fn in_memory_mode_keeps_no_cached_copy_of_written_blocks() {
    let (ck, _) = clock();
    let s = block_on(Shard::create(
        0,
        small_cfg(Durability::InMemory),
        Device::Mem(shards::MemDevice::new(2 << 20)),
        ck,
    ))
    .unwrap();
    block_on(async {
        // About five 64 KiB blocks of records, then everything written to the memory device.
        let n = 300u64;
        for i in 0..n {
            loop {
                match s.put(&key(i), &val(i, 1, 1000), WriteMode::Plain, 0).await {
                    Ok(_) => break,
                    Err(StoreError::Overload) => {
                        s.maintain(false).await.unwrap();
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
        s.flush().await.unwrap();
        let before = s.stats();
        // 62 records of 1056 bytes per 64 KiB block: key 200 is in the last sealed (written)
        // block, which the other modes keep in the read cache. Here it is served by the
        // memory device, not from a cached second copy.
        let r = s.get(&key(200)).await.unwrap().unwrap();
        assert_eq!(r.payload, val(200, 1, 1000));
        let after = s.stats();
        assert_eq!(
            after.cache_hits, before.cache_hits,
            "served from a cached copy"
        );
        assert_eq!(after.device_reads, before.device_reads + 1);
        for i in 0..n {
            assert_eq!(
                s.get(&key(i)).await.unwrap().map(|r| r.payload),
                Some(val(i, 1, 1000))
            );
        }
    });
}

/// Kind byte (the tag) of record `i` in version `v`: overwrites change some kinds.
fn kind(i: u64, v: u64) -> u8 {
    [b'V', b'L', b'P'][((i + v) % 3) as usize]
}

fn tagged_val(i: u64, v: u64) -> Vec<u8> {
    let mut out = val(i, v, 200 + (i as usize % 7) * 40);
    out.insert(0, kind(i, v));
    out
}

/// Checks `scan_tagged` against `live` (digest -> tag): exactly the live records of the
/// asked tags, in increasing device location, each location the one the index holds.
fn check_tagged(s: &Shard, live: &std::collections::HashMap<Digest, u8>, when: &str) {
    for tags in [&b"V"[..], b"L", b"PV", b"X", b""] {
        let got = s.scan_tagged(tags, None);
        let mut want: Vec<Digest> = live
            .iter()
            .filter(|(_, t)| tags.contains(t))
            .map(|(d, _)| *d)
            .collect();
        let mut have: Vec<Digest> = got.iter().map(|(d, _)| *d).collect();
        want.sort_by_key(|d| d.0);
        have.sort_by_key(|d| d.0);
        assert_eq!(have, want, "{when}: tags {tags:?}");
        let mut prev = None;
        for (d, loc) in &got {
            let (at, _, tomb) = s.locate(d).unwrap();
            assert!(!tomb, "{when}");
            let bs = s.config().block_size_bytes;
            assert_eq!(
                at,
                shards::store::FILE_HEADER_SIZE_BYTES + loc.block as u64 * bs + loc.offset as u64,
                "{when}: location is the index's"
            );
            assert!(prev.is_none_or(|p| p < at), "{when}: not in device order");
            prev = Some(at);
        }
    }
    // The partition filter keeps only that partition's records.
    let p = live.keys().next().map(|d| d.partition()).unwrap();
    let got = s.scan_tagged(b"VLP", Some(p));
    let want = live.keys().filter(|d| d.partition() == p).count();
    assert_eq!(got.len(), want, "{when}: partition {p}");
}

#[test]
fn tagged_scan_follows_writes_defrag_expiry_and_reopen() {
    let (ck, now) = clock();
    let dev = SimDevice::new(1 << 20, 11);
    let cfg = small_cfg(Durability::Buffered);
    let s = block_on(Shard::create(
        0,
        cfg.clone(),
        Device::Sim(dev.clone()),
        ck.clone(),
    ))
    .unwrap();
    let mut live = std::collections::HashMap::new();
    block_on(async {
        for i in 0..900u64 {
            // Every 10th record expires after 30 s.
            let ttl = if i % 10 == 9 { 30 } else { 0 };
            s.put(&key(i), &tagged_val(i, 0), WriteMode::Plain, ttl)
                .await
                .unwrap();
            live.insert(key(i), kind(i, 0));
            if i % 50 == 0 {
                s.maintain(false).await.unwrap();
            }
        }
        // Overwrites change the kind of every 5th record; an empty payload has tag 0.
        for i in (0..900u64).step_by(5).filter(|i| i % 10 != 9) {
            s.put(&key(i), &tagged_val(i, 1), WriteMode::Plain, 0)
                .await
                .unwrap();
            live.insert(key(i), kind(i, 1));
        }
        s.put(&key(5000), b"", WriteMode::Plain, 0).await.unwrap();
        check_tagged(&s, &live, "after writes");
        // Expire, then delete 3 of 4 of the rest so that defrag moves the survivors.
        now.set(now.get() + 60_000);
        live.retain(|d, _| (0..900u64).all(|i| i % 10 != 9 || key(i) != *d));
        check_tagged(&s, &live, "after expiry");
        for i in 0..900u64 {
            if i % 4 != 0 && live.remove(&key(i)).is_some() {
                assert!(s.delete(&key(i), WriteMode::Plain).await.unwrap());
            }
        }
        s.flush().await.unwrap();
        let moved_before = s.stats().defrag_records;
        for _ in 0..100 {
            s.maintain(true).await.unwrap();
        }
        let st = s.stats();
        assert!(
            st.defrag_records > moved_before + 50,
            "defrag moved records: {st:?}"
        );
        check_tagged(&s, &live, "after defrag");
        s.flush().await.unwrap();
    });
    drop(s);
    let (s, _) = block_on(Shard::open(0, cfg, Device::Sim(dev.reboot()), ck)).unwrap();
    check_tagged(&s, &live, "after reopen");
    assert_eq!(
        s.scan_tagged(&[0], None).len(),
        1,
        "the empty payload's tag is 0"
    );
}

#[test]
fn get_run_reads_neighbours_together_and_answers_like_get() {
    let (ck, _) = clock();
    let dev = SimDevice::new(1 << 20, 13);
    let cfg = small_cfg(Durability::Buffered);
    let s = block_on(Shard::create(
        0,
        cfg.clone(),
        Device::Sim(dev.clone()),
        ck.clone(),
    ))
    .unwrap();
    block_on(async {
        for i in 0..600u64 {
            s.put(&key(i), &tagged_val(i, 0), WriteMode::Plain, 0)
                .await
                .unwrap();
            if i % 50 == 0 {
                s.maintain(false).await.unwrap();
            }
        }
        s.flush().await.unwrap();
    });
    drop(s);
    // Reopened: nothing in write buffers or caches, every record on the device.
    let (s, _) = block_on(Shard::open(0, cfg, Device::Sim(dev.reboot()), ck)).unwrap();
    block_on(async {
        let mut list: Vec<Digest> = s.scan_tagged(b"V", None).into_iter().map(|x| x.0).collect();
        let n = list.len();
        assert!(n > 150, "{n}");
        // Changed since the scan: one overwritten (now in the write buffer), one deleted,
        // and a digest that was never written.
        let (changed, deleted) = (list[10], list[20]);
        s.put(&changed, b"Vnew", WriteMode::Plain, 0).await.unwrap();
        s.delete(&deleted, WriteMode::Plain).await.unwrap();
        list.insert(30, key(99_999));
        let before = s.stats();
        let got = s.get_run(&list).await.unwrap();
        let after = s.stats();
        assert_eq!(got.len(), list.len());
        // Device bytes: the run's reads shared out (each record at least its own bytes);
        // the same records again come from the record cache, 0 device bytes.
        let run_bytes: u64 = got
            .iter()
            .flatten()
            .map(|r| u64::from(r.device_bytes))
            .sum();
        assert!(run_bytes > 0);
        let plain = |r: &Option<Record>| {
            r.as_ref()
                .map(|r| (r.generation, r.void_time_s, r.payload.clone()))
        };
        for (d, g) in list.iter().zip(&got) {
            let again = s.get(d).await.unwrap();
            assert_eq!(plain(g), plain(&again), "{d:?}");
            assert_eq!(again.map_or(0, |r| r.device_bytes), 0, "{d:?} again");
        }
        assert_eq!(
            got[10].as_ref().map(|r| r.payload.clone()),
            Some(b"Vnew".to_vec())
        );
        assert!(got[20].is_none() && got[30].is_none());
        assert!(got
            .iter()
            .flatten()
            .all(|r| r.payload.first() == Some(&b'V')));
        let device_reads = after.device_reads - before.device_reads;
        // Vertices are a third of the records, spread over about ten 64 KiB blocks: a few
        // reads per block instead of one per record.
        assert!(
            device_reads * 5 < n as u64,
            "{device_reads} device reads for {n} records"
        );
        assert!(after.reads - before.reads >= n as u64);
    });
    // One record read alone from the device: one sector-aligned read, counted.
    let (ck2, _) = clock();
    let (s, _) = block_on(Shard::open(
        0,
        small_cfg(Durability::Buffered),
        Device::Sim(dev.reboot()),
        ck2,
    ))
    .unwrap();
    block_on(async {
        let d = s.scan_tagged(b"V", None)[0].0;
        let r = s.get(&d).await.unwrap().expect("present");
        let b = r.device_bytes as usize;
        assert!(
            b >= r.payload.len() && b % 4096 == 0,
            "{b} device bytes for {}",
            r.payload.len()
        );
        assert_eq!(s.get(&d).await.unwrap().expect("present").device_bytes, 0);
    });
}

/// Stopping the background work does not wait out its timer: with `flush_ms_max` at ten
/// minutes the task sleeps five between rounds, and `wake_background` ends that sleep.
#[test]
fn background_work_stops_at_once_when_woken() {
    let r = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .spawn(|| async move {
            let cfg = StoreConfig {
                flush_ms_max: 600_000,
                ..small_cfg(Durability::Buffered)
            };
            let dev = SimDevice::new(1 << 20, 3);
            let s = Rc::new(
                Shard::create(0, cfg, Device::Sim(dev), Clock::System)
                    .await
                    .unwrap(),
            );
            s.put(&key(1), &val(1, 1, 100), WriteMode::Plain, 0)
                .await
                .unwrap();
            let stop = Rc::new(Cell::new(false));
            let task =
                glommio::spawn_local(shards::runtime::run_background(s.clone(), stop.clone()));
            // Let it reach its wait.
            glommio::timer::sleep(std::time::Duration::from_millis(50)).await;
            let t = std::time::Instant::now();
            stop.set(true);
            s.wake_background();
            let ended = futures_lite::future::or(
                async {
                    task.await;
                    true
                },
                async {
                    glommio::timer::sleep(std::time::Duration::from_secs(60)).await;
                    false
                },
            )
            .await;
            // Its last act is a flush: the record is on the device.
            (ended, t.elapsed(), s.stats().flushes)
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(
        r.0,
        "the background task did not end within 60 s of being woken"
    );
    assert!(r.1 < std::time::Duration::from_secs(60));
    assert!(r.2 >= 1, "the final flush did not run");
}
