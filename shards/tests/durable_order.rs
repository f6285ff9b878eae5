//! The write-order invariant of one shard in commit-to-device mode, over the power-cut
//! simulator: once a write is acknowledged durable (a `put` answered, or
//! `Shard::wait_flushed` of an unsynced write's flush returned), every write appended before
//! it on that shard survives a power cut, whatever the flushes in between. Writes made with
//! `Shard::put_unsynced` start no flush of their own. Replay a failure with
//! `DURABLE_ORDER_SEED=<seed> cargo test -p shards --test durable_order`.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use futures_lite::future::block_on;
use shards::device::{Device, SimDevice, SimRng};
use shards::{Clock, Digest, Durability, Shard, StoreConfig, WriteMode};

const CUTS: u64 = 300;
const KEYS: u64 = 60;

fn cfg() -> StoreConfig {
    StoreConfig {
        block_size_bytes: 64 * 1024,
        flush_size_bytes: 16 * 1024,
        record_size_max: 4096,
        durability: Durability::CommitToDevice,
        defrag_reserve_blocks: 2,
        write_queue_blocks_max: 4,
        read_cache_blocks_max: 2,
        ..StoreConfig::default()
    }
}

fn key(i: u64) -> Digest {
    Digest::of_int(b"order", i as i64)
}

/// One write in append order: its key and value.
struct Written {
    key: u64,
    value: Vec<u8>,
}

fn run(seed: u64) -> Result<(u64, u64), String> {
    let mut rng = SimRng::new(seed);
    let clock_ms = Rc::new(Cell::new(1_700_000_000_000u64));
    let clock = Clock::Manual(clock_ms.clone());
    let dev = SimDevice::new(4 << 20, seed ^ 0x5EED);
    let mut shard = block_on(Shard::create(
        0,
        cfg(),
        Device::Sim(dev.clone()),
        clock.clone(),
    ))
    .map_err(|e| e.to_string())?;
    let mut dev = dev;
    // Values each key may read back as: the newest one acknowledged (by the invariant) and
    // any written after it.
    let mut durable_value: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut counter = 0u64;
    let mut checked = 0u64;
    let mut waits = 0u64;
    for cut in 0..CUTS {
        let mut log: Vec<Written> = Vec::new();
        // Per log position: the flush an unsynced write named (`None`: an acknowledged put).
        let mut flushes: Vec<Option<u64>> = Vec::new();
        // Writes of this life up to this index are acknowledged durable.
        let mut acked_upto: Option<usize> = None;
        let ops = 1 + rng.below(60);
        for _ in 0..ops {
            clock_ms.set(clock_ms.get() + rng.below(3));
            if rng.below(16) == 0 {
                // Background work (defrag, due flushes) between writes, as the host runs it.
                block_on(shard.maintain(true)).map_err(|e| format!("cut {cut}: maintain: {e}"))?;
            }
            let k = rng.below(KEYS);
            counter += 1;
            let mut v = format!("{k}/{counter}/").into_bytes();
            v.resize(8 + rng.below(900) as usize, (counter % 251) as u8);
            let unsynced: Vec<usize> = (0..flushes.len())
                .filter(|&i| flushes[i].is_some())
                .collect();
            match rng.below(10) {
                // An acknowledged write: it and everything before it are durable.
                0 => {
                    let flushes_before = shard.stats().flushes;
                    block_on(shard.put(&key(k), &v, WriteMode::Plain, 0))
                        .map_err(|e| format!("cut {cut}: put: {e}"))?;
                    if shard.stats().flushes == flushes_before {
                        return Err(format!("cut {cut}: an acknowledged put ran no flush"));
                    }
                    log.push(Written { key: k, value: v });
                    flushes.push(None);
                    acked_upto = Some(log.len() - 1);
                }
                // Wait for an earlier unsynced write's flush: it and everything before it.
                1 if !unsynced.is_empty() => {
                    let i = unsynced[rng.below(unsynced.len() as u64) as usize];
                    let f = flushes[i].unwrap_or(0);
                    block_on(shard.wait_flushed(f))
                        .map_err(|e| format!("cut {cut}: wait_flushed: {e}"))?;
                    waits += 1;
                    acked_upto = Some(acked_upto.map_or(i, |a| a.max(i)));
                }
                _ => {
                    let flushes_before = shard.stats().flushes;
                    let (_, f) = block_on(shard.put_unsynced(&key(k), &v, WriteMode::Plain, 0))
                        .map_err(|e| format!("cut {cut}: put_unsynced: {e}"))?;
                    if shard.stats().flushes != flushes_before {
                        return Err(format!("cut {cut}: put_unsynced ran a flush"));
                    }
                    log.push(Written { key: k, value: v });
                    flushes.push(Some(f));
                }
            }
        }
        // What must survive: per key, its newest value at or before `acked_upto`; any value
        // written later may have replaced it.
        let mut may: HashMap<u64, Vec<Vec<u8>>> = HashMap::new();
        if let Some(a) = acked_upto {
            for w in log.iter().take(a + 1) {
                durable_value.insert(w.key, w.value.clone());
            }
            for w in log.iter().skip(a + 1) {
                may.entry(w.key).or_default().push(w.value.clone());
            }
        } else {
            for w in &log {
                may.entry(w.key).or_default().push(w.value.clone());
            }
        }
        drop(shard);
        dev.power_cut();
        dev = dev.reboot();
        clock_ms.set(clock_ms.get() + 1);
        let (s, _) = block_on(Shard::open(
            0,
            cfg(),
            Device::Sim(dev.clone()),
            clock.clone(),
        ))
        .map_err(|e| format!("cut {cut}: reopen: {e}"))?;
        shard = s;
        for (k, want) in &durable_value {
            let got = block_on(shard.get(&key(*k)))
                .map_err(|e| format!("cut {cut}: get: {e}"))?
                .map(|r| r.payload);
            let later = may
                .get(k)
                .is_some_and(|m| got.as_ref().is_some_and(|g| m.contains(g)));
            if got.as_ref() != Some(want) && !later {
                return Err(format!(
                    "cut {cut}: key {k} lost a write acknowledged durable (or made durable by a \
                     later acknowledgement): read {:?}",
                    got.map(|g| String::from_utf8_lossy(&g[..g.len().min(16)]).to_string())
                ));
            }
            checked += 1;
        }
        // After the reopen, what was read back is what later lives must keep.
        for k in 0..KEYS {
            if let Some(r) = block_on(shard.get(&key(k))).map_err(|e| e.to_string())? {
                durable_value.insert(k, r.payload);
            } else {
                durable_value.remove(&k);
            }
        }
    }
    Ok((checked, waits))
}

#[test]
fn an_acknowledged_write_makes_every_earlier_write_durable() {
    let seed = std::env::var("DURABLE_ORDER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xC0DE_0001u64);
    match run(seed) {
        Ok((checked, waits)) => {
            assert!(checked > 1000, "too few keys checked: {checked}");
            assert!(waits > 100, "too few wait_flushed calls: {waits}");
        }
        Err(e) => panic!("seed {seed}: {e}"),
    }
}

/// Unsynced writes that nobody waits for are not durable: a power cut loses them (so the
/// test above checks something a store without the invariant would fail).
#[test]
fn unsynced_writes_nobody_waits_for_are_lost_at_a_power_cut() {
    let clock = Clock::Manual(Rc::new(Cell::new(1_700_000_000_000u64)));
    let dev = SimDevice::new(4 << 20, 7);
    let shard = block_on(Shard::create(
        0,
        cfg(),
        Device::Sim(dev.clone()),
        clock.clone(),
    ))
    .unwrap();
    for k in 0..20 {
        block_on(shard.put_unsynced(&key(k), b"unsynced", WriteMode::Plain, 0)).unwrap();
    }
    assert_eq!(shard.stats().flushes, 0, "put_unsynced flushed");
    let (_, f) = block_on(shard.put_unsynced(&key(99), b"waited", WriteMode::Plain, 0)).unwrap();
    block_on(shard.wait_flushed(f)).unwrap();
    assert_eq!(shard.stats().flushes, 1, "one flush for 21 writes");
    for k in 100..120 {
        block_on(shard.put_unsynced(&key(k), b"lost", WriteMode::Plain, 0)).unwrap();
    }
    drop(shard);
    dev.power_cut();
    let dev = dev.reboot();
    let (shard, _) = block_on(Shard::open(0, cfg(), Device::Sim(dev), clock)).unwrap();
    for k in (0..20).chain([99]) {
        assert!(
            block_on(shard.get(&key(k))).unwrap().is_some(),
            "key {k} was made durable by the wait"
        );
    }
    let lost = (100..120)
        .filter(|&k| block_on(shard.get(&key(k))).unwrap().is_none())
        .count();
    assert_eq!(lost, 20, "writes never flushed survived the power cut");
}
