//! The record read cache inside the store: hits after a device read, and never a stale
//! version after an overwrite, a delete, TTL expiry, a defrag move or a block reuse; the CRC
//! is still checked on every device read.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use futures_lite::future::block_on;
use shards::device::{Device, SimDevice, SimRng};
use shards::{Clock, Digest, Durability, Shard, StoreConfig, StoreError, WriteMode};

fn cfg(cache_bytes: u64) -> StoreConfig {
    StoreConfig {
        block_size_bytes: 64 * 1024,
        flush_size_bytes: 16 * 1024,
        record_size_max: 8 * 1024,
        durability: Durability::Buffered,
        defrag_reserve_blocks: 2,
        used_space_max_pct: 95,
        write_queue_blocks_max: 4,
        read_cache_blocks_max: 1,
        read_cache_bytes_max: cache_bytes,
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

/// A shard whose first `n` records (1000 bytes each) are on the device only: more blocks
/// were written after theirs than the recent-block cache holds.
fn shard_with_cold_records(n: u64, cache_bytes: u64) -> (Shard, Rc<Cell<u64>>) {
    let (ck, c) = clock();
    let s = block_on(Shard::create(
        0,
        cfg(cache_bytes),
        Device::Sim(SimDevice::new(2 << 20, 7)),
        ck,
    ))
    .unwrap();
    block_on(async {
        for i in 0..n {
            s.put(&key(i), &val(i, 0, 1000), WriteMode::Plain, 0)
                .await
                .unwrap();
        }
        // Three more blocks of filler push the records' blocks out of memory.
        for i in 0..200 {
            s.put(&key(1_000_000 + i), &val(i, 0, 1000), WriteMode::Plain, 0)
                .await
                .unwrap();
            if i % 20 == 0 {
                s.flush().await.unwrap();
            }
        }
        s.flush().await.unwrap();
    });
    (s, c)
}

#[test]
fn second_read_is_a_cache_hit_not_a_device_read() {
    let (s, _) = shard_with_cold_records(50, 1 << 20);
    block_on(async {
        let before = s.stats();
        assert_eq!(
            s.get(&key(3)).await.unwrap().unwrap().payload,
            val(3, 0, 1000)
        );
        let mid = s.stats();
        assert_eq!(mid.device_reads, before.device_reads + 1);
        for _ in 0..5 {
            assert_eq!(
                s.get(&key(3)).await.unwrap().unwrap().payload,
                val(3, 0, 1000)
            );
        }
        let after = s.stats();
        assert_eq!(after.device_reads, mid.device_reads, "{after:?}");
        assert_eq!(after.record_cache_hits, mid.record_cache_hits + 5);
        assert!(after.record_cache_entries >= 1 && after.record_cache_bytes > 1000);
    });
}

#[test]
fn zero_budget_reads_the_device_every_time() {
    let (s, _) = shard_with_cold_records(50, 0);
    block_on(async {
        let before = s.stats();
        for _ in 0..4 {
            assert!(s.get(&key(3)).await.unwrap().is_some());
        }
        let after = s.stats();
        assert_eq!(after.device_reads, before.device_reads + 4);
        assert_eq!(after.record_cache_hits, 0);
        assert_eq!(after.record_cache_entries, 0);
    });
}

#[test]
fn overwrite_and_delete_are_never_served_stale() {
    let (s, _) = shard_with_cold_records(50, 1 << 20);
    block_on(async {
        for i in 0..10 {
            assert!(s.get(&key(i)).await.unwrap().is_some());
        }
        assert!(s.stats().record_cache_entries >= 10);
        // Overwrite (new payload in the write buffer) and read: the new version.
        s.put(&key(1), b"new", WriteMode::Plain, 0).await.unwrap();
        let r = s.get(&key(1)).await.unwrap().unwrap();
        assert_eq!((r.generation, r.payload.as_slice()), (2, &b"new"[..]));
        // Delete: gone, even though the old version was cached.
        assert!(s.delete(&key(2), WriteMode::Plain).await.unwrap());
        assert_eq!(s.get(&key(2)).await.unwrap(), None);
        // Push the new versions out of the write buffers: still the new ones.
        for i in 0..200 {
            s.put(&key(2_000_000 + i), &val(i, 1, 1000), WriteMode::Plain, 0)
                .await
                .unwrap();
        }
        s.flush().await.unwrap();
        let r = s.get(&key(1)).await.unwrap().unwrap();
        assert_eq!((r.generation, r.payload.as_slice()), (2, &b"new"[..]));
        assert_eq!(s.get(&key(2)).await.unwrap(), None);
        assert!(s.stats().record_cache_invalidations >= 2);
    });
}

#[test]
fn expiry_is_checked_on_a_hit() {
    let (ck, c) = clock();
    let s = block_on(Shard::create(
        0,
        cfg(1 << 20),
        Device::Sim(SimDevice::new(2 << 20, 8)),
        ck,
    ))
    .unwrap();
    block_on(async {
        s.put(&key(1), &val(1, 0, 1000), WriteMode::Plain, 10)
            .await
            .unwrap();
        for i in 0..200 {
            s.put(&key(1_000 + i), &val(i, 0, 1000), WriteMode::Plain, 0)
                .await
                .unwrap();
        }
        s.flush().await.unwrap();
        assert!(s.get(&key(1)).await.unwrap().is_some());
        assert!(s.get(&key(1)).await.unwrap().is_some());
        assert!(s.stats().record_cache_hits >= 1, "{:?}", s.stats());
        c.set(c.get() + 11_000);
        assert_eq!(s.get(&key(1)).await.unwrap(), None);
    });
}

#[test]
fn a_device_read_checks_the_crc_and_a_damaged_record_is_not_cached() {
    let (s, _) = shard_with_cold_records(50, 1 << 20);
    let (off, _, _) = s.locate(&key(5)).unwrap();
    let Device::Sim(sim) = s.device() else {
        panic!("simulator expected")
    };
    sim.flip_bit(off + 100, 3);
    block_on(async {
        for _ in 0..3 {
            assert!(matches!(s.get(&key(5)).await, Err(StoreError::Corrupt(_))));
        }
        assert_eq!(s.stats().corrupt_reads, 3);
        assert_eq!(s.stats().record_cache_hits, 0);
    });
}

/// Random puts, overwrites, deletes, TTL writes, clock moves and background work (defrag,
/// sweeps, block reuse) on a small device, every read checked against a model.
#[test]
fn random_workload_matches_a_model_through_defrag_and_block_reuse() {
    let (ck, c) = clock();
    let s = block_on(Shard::create(
        0,
        cfg(256 << 10),
        Device::Sim(SimDevice::new(2 << 20, 9)),
        ck,
    ))
    .unwrap();
    let mut rng = SimRng::new(11);
    // key -> (payload, void-time s)
    let mut model: HashMap<u64, (Vec<u8>, u32)> = HashMap::new();
    let keys = 600u64;
    block_on(async {
        for step in 0..30_000u64 {
            let k = rng.below(keys);
            let now_s = (c.get() / 1000) as u32;
            match rng.below(100) {
                0..=69 => {
                    let got = s.get(&key(k)).await.unwrap().map(|r| r.payload);
                    let want = model
                        .get(&k)
                        .filter(|(_, v)| *v == 0 || *v > now_s)
                        .map(|(p, _)| p.clone());
                    assert_eq!(got, want, "step {step} key {k}");
                }
                70..=86 => {
                    let len = 200 + rng.below(1200) as usize;
                    let ttl = if rng.chance(100_000) { 5 } else { 0 };
                    let p = val(k, step, len);
                    match s.put(&key(k), &p, WriteMode::Plain, ttl).await {
                        Ok(_) => {
                            let void = if ttl == 0 { 0 } else { now_s + ttl };
                            model.insert(k, (p, void));
                        }
                        Err(StoreError::Overload | StoreError::DeviceFull) => {
                            s.maintain(true).await.unwrap();
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                87..=92 => match s.delete(&key(k), WriteMode::Plain).await {
                    Ok(_) => {
                        model.remove(&k);
                    }
                    Err(StoreError::Overload | StoreError::DeviceFull) => {
                        s.maintain(true).await.unwrap();
                    }
                    Err(e) => panic!("{e}"),
                },
                93..=97 => {
                    s.maintain(true).await.unwrap();
                }
                _ => c.set(c.get() + 1000),
            }
        }
    });
    let st = s.stats();
    assert!(st.blocks_reused > 5, "{st:?}");
    assert!(st.defrag_records > 0, "{st:?}");
    assert!(st.record_cache_hits > 1000, "{st:?}");
    assert!(st.record_cache_invalidations > 100, "{st:?}");
    assert!(st.expired_removed > 0, "{st:?}");
}
