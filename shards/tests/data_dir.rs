//! A data directory written by one executor layout is read back completely by another:
//! shards are whole units, routed by the persisted partition table.

use std::sync::Arc;

use shards::{Clock, DataDir, Digest, DirOptions, StoreConfig, WriteMode};

const KEYS: i64 = 600;

fn opts() -> DirOptions {
    DirOptions {
        shard_count: Some(3),
        shard_size_bytes: 4 << 20,
        store: StoreConfig {
            block_size_bytes: 256 * 1024,
            flush_size_bytes: 64 * 1024,
            record_size_max: 4096,
            defrag_reserve_blocks: 2,
            ..StoreConfig::default()
        },
    }
}

/// Runs `executors` executors; executor i opens its shards and, for every key routed to one
/// of them, writes it (`write`) or counts it if it reads back right.
fn run(dir: Arc<DataDir>, executors: usize, write: bool) -> i64 {
    let handles: Vec<_> = (0..executors)
        .map(|e| {
            let dir = dir.clone();
            glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
                .spawn(move || async move {
                    let mut n = 0;
                    for id in dir.shards_of_executor(e, executors) {
                        let (shard, _) = dir.open_shard(id, Clock::System).await.unwrap();
                        for k in 0..KEYS {
                            let d = Digest::of_int(b"v", k);
                            if dir.shard_of(&d) != id {
                                continue;
                            }
                            let v = format!("value {k}").into_bytes();
                            if write {
                                shard.put(&d, &v, WriteMode::CreateOnly, 0).await.unwrap();
                                n += 1;
                            } else if shard.get(&d).await.unwrap().map(|r| r.payload) == Some(v) {
                                n += 1;
                            }
                        }
                        shard.flush().await.unwrap();
                    }
                    n
                })
                .unwrap()
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

#[test]
fn another_executor_count_finds_every_record() {
    let p = std::env::temp_dir().join(format!("cg-dd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    let dir = Arc::new(DataDir::open_or_create(&p, &opts()).unwrap());
    assert_eq!(run(dir.clone(), 1, true), KEYS);
    drop(dir);
    let dir = Arc::new(
        DataDir::open_or_create(
            &p,
            &DirOptions {
                shard_count: Some(7),
                ..opts()
            },
        )
        .unwrap(),
    );
    assert_eq!(dir.shard_count(), 3);
    assert_eq!(run(dir, 2, false), KEYS);
    let _ = std::fs::remove_dir_all(&p);
}
