//! The storage shard as the graph model's record store: [`Kv`] for `shards::Shard`. Graph
//! records are written without a store TTL (the model keeps void times in the payload).

use shards::{Shard, StoreError};

use crate::model::kv::{Digest, Got, Kv, KvError, Unsynced, WriteMode};

fn kv_error(e: StoreError) -> KvError {
    match e {
        StoreError::Exists => KvError::Exists,
        StoreError::GenerationMismatch { .. } => KvError::GenerationMismatch,
        other => KvError::Store(other.to_string()),
    }
}

impl Kv for Shard {
    async fn get(&self, digest: &Digest) -> Result<Option<Got>, KvError> {
        Ok(Shard::get(self, digest)
            .await
            .map_err(kv_error)?
            .map(|r| Got {
                generation: r.generation,
                payload: r.payload,
                device_bytes: r.device_bytes,
            }))
    }

    async fn put(&self, digest: &Digest, payload: &[u8], mode: WriteMode) -> Result<u16, KvError> {
        Shard::put(self, digest, payload, mode, 0)
            .await
            .map_err(kv_error)
    }

    async fn delete(&self, digest: &Digest, mode: WriteMode) -> Result<bool, KvError> {
        Shard::delete(self, digest, mode).await.map_err(kv_error)
    }

    fn scan(&self) -> Vec<Digest> {
        self.scan_digests(None)
    }

    fn scan_tagged(&self, tags: &[u8]) -> Vec<Digest> {
        Shard::scan_tagged(self, tags, None)
            .into_iter()
            .map(|(d, _)| d)
            .collect()
    }

    async fn get_run(&self, digests: &[Digest]) -> Result<Vec<Option<Got>>, KvError> {
        Ok(Shard::get_run(self, digests)
            .await
            .map_err(kv_error)?
            .into_iter()
            .map(|r| {
                r.map(|r| Got {
                    generation: r.generation,
                    payload: r.payload,
                    device_bytes: r.device_bytes,
                })
            })
            .collect())
    }

    async fn put_unsynced(
        &self,
        digest: &Digest,
        payload: &[u8],
        mode: WriteMode,
    ) -> Result<(u16, Unsynced), KvError> {
        let (g, flush) = Shard::put_unsynced(self, digest, payload, mode, 0)
            .await
            .map_err(kv_error)?;
        let mut u = Unsynced::default();
        u.note(self.id(), flush);
        Ok((g, u))
    }

    async fn sync(&self, unsynced: &Unsynced) -> Result<(), KvError> {
        for &(shard, flush) in unsynced.flushes() {
            if shard != self.id() {
                return Err(KvError::Store(format!(
                    "sync of shard {shard} asked of shard {}",
                    self.id()
                )));
            }
            self.wait_flushed(flush).await.map_err(kv_error)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures_lite::future::block_on;
    use shards::device::{Device, SimDevice};
    use shards::{Clock, Shard, StoreConfig};

    use crate::model::keys::{Dir, ElementId, IntWidth, KeySpace};
    use crate::model::kv::{Kv, MemKv};
    use crate::model::ops::{ManualClock, Model};
    use crate::model::ModelConfig;

    fn int(v: i64) -> ElementId {
        ElementId::Int {
            value: v,
            width: IntWidth::Long,
        }
    }

    /// The same operations give the same graph on the shard (simulated device) as on MemKv.
    async fn script<K: Kv>(m: &Model<K>) -> Vec<String> {
        let mut seen = Vec::new();
        for i in 0..10 {
            m.add_vertex(int(i), "v", 0).await.unwrap();
        }
        for i in 0..30 {
            let (a, b) = (i % 3, (i * 7) % 10);
            let label = if i % 2 == 0 { "x" } else { "y" };
            m.add_edge(int(100 + i), label, &int(a), &int(b), 0)
                .await
                .unwrap();
            m.set_edge_property(&int(100 + i), "w", gremlin::value::Value::Long(i))
                .await
                .unwrap();
        }
        m.drop_edge(&int(104)).await.unwrap();
        m.drop_vertex(&int(7)).await.unwrap();
        for v in 0..10 {
            let adj = m
                .incident(&int(v), &[Dir::Out, Dir::In], &[], &[])
                .await
                .unwrap();
            seen.push(format!("{v}: {adj:?}"));
        }
        let x: Arc<str> = Arc::from("x");
        let hub = m.incident(&int(0), &[Dir::Out], &[x], &[]).await.unwrap();
        seen.push(format!("{hub:?}"));
        assert!(m.vertex(&int(0)).await.unwrap().unwrap().is_supernode());
        seen
    }

    #[test]
    fn shard_store_serves_the_model_like_memkv() {
        let cfg = ModelConfig {
            edge_cache_entries: 2,
            pack_edges: 3,
            index_page_entries: 2,
            indexed_edge_keys: vec![Arc::from("w")],
        };
        let store_cfg = StoreConfig {
            block_size_bytes: 64 * 1024,
            flush_size_bytes: 16 * 1024,
            record_size_max: 8 * 1024,
            ..StoreConfig::default()
        };
        let clock = Clock::Manual(std::rc::Rc::new(std::cell::Cell::new(1_700_000_000_000)));
        let shard = block_on(Shard::create(
            0,
            store_cfg,
            Device::Sim(SimDevice::new(4 << 20, 3)),
            clock,
        ))
        .unwrap();
        let ks = KeySpace::new("g").unwrap();
        let on_shard = Model::new(
            shard,
            ks.clone(),
            cfg.clone(),
            Box::new(ManualClock::default()),
        )
        .unwrap();
        let on_mem = Model::new(MemKv::new(), ks, cfg, Box::new(ManualClock::default())).unwrap();
        let a = block_on(script(&on_shard));
        let b = block_on(script(&on_mem));
        assert_eq!(a, b);
        assert!(
            a.iter().any(|s| s.contains("EdgeView")),
            "script produced no edges"
        );
        // The store holds exactly the records MemKv holds.
        assert_eq!(on_shard.kv.scan().len(), on_mem.kv.len());
    }

    /// In commit-to-device mode an edge add with a property waits for two flushes in
    /// sequence (the writes before its commit together, then the commit), and the
    /// acknowledged edge, property included, is there after a power cut.
    #[test]
    fn a_durable_edge_add_waits_for_two_flushes_and_survives_a_power_cut() {
        let store_cfg = StoreConfig {
            block_size_bytes: 64 * 1024,
            flush_size_bytes: 16 * 1024,
            record_size_max: 8 * 1024,
            durability: shards::Durability::CommitToDevice,
            ..StoreConfig::default()
        };
        let clock = Clock::Manual(std::rc::Rc::new(std::cell::Cell::new(1_700_000_000_000)));
        let dev = SimDevice::new(4 << 20, 5);
        let shard = block_on(Shard::create(
            0,
            store_cfg.clone(),
            Device::Sim(dev.clone()),
            clock.clone(),
        ))
        .unwrap();
        let ks = KeySpace::new("g").unwrap();
        let cfg = ModelConfig::default();
        let m = Model::new(
            shard,
            ks.clone(),
            cfg.clone(),
            Box::new(ManualClock::default()),
        )
        .unwrap();
        block_on(m.add_vertex(int(1), "v", 0)).unwrap();
        block_on(m.add_vertex(int(2), "v", 0)).unwrap();
        let weight = gremlin::value::Property {
            key: Arc::from("weight"),
            value: gremlin::value::Value::Double(0.5),
        };
        for (n, (a, b)) in [(1, 2), (2, 1), (1, 1)].into_iter().enumerate() {
            let before = m.kv.stats();
            let e = block_on(m.add_edge_with(
                int(100 + n as i64),
                "knows",
                &int(a),
                &int(b),
                0,
                std::slice::from_ref(&weight),
            ))
            .unwrap();
            assert_eq!(e.props, vec![weight.clone()]);
            let after = m.kv.stats();
            assert_eq!(
                after.flushes - before.flushes,
                2,
                "edge {a}->{b}: flushes waited for in sequence"
            );
            assert!(
                after.writes - before.writes >= 5,
                "locator, slot, two entries, commit"
            );
        }
        drop(m);
        dev.power_cut();
        let dev = dev.reboot();
        let (shard, _) = block_on(Shard::open(0, store_cfg, Device::Sim(dev), clock)).unwrap();
        let m = Model::new(shard, ks, cfg, Box::new(ManualClock::default())).unwrap();
        for (n, (a, b)) in [(1, 2), (2, 1), (1, 1)].into_iter().enumerate() {
            let id = int(100 + n as i64);
            let e = block_on(m.edge(&id))
                .unwrap()
                .expect("acknowledged edge after the cut");
            assert_eq!(e.props, vec![weight.clone()]);
            for (v, dir) in [(a, Dir::Out), (b, Dir::In)] {
                let adj = block_on(m.incident(&int(v), &[dir], &[], &[])).unwrap();
                assert!(
                    format!("{adj:?}").contains(&format!("{id:?}")),
                    "edge {a}->{b} seen from {v} ({dir:?}): {adj:?}"
                );
            }
        }
    }

    /// The scans read only their kind (vertices; locators and then packs), each record of
    /// it once, and find exactly the live elements, with edges, packs and adjacency index
    /// pages beside them, after drops and defrag moved records, and again after a reopen.
    #[test]
    fn scans_read_only_their_kind_after_defrag_and_reopen() {
        use std::collections::HashSet;
        let cfg = ModelConfig {
            edge_cache_entries: 2,
            pack_edges: 3,
            index_page_entries: 2,
            indexed_edge_keys: vec![Arc::from("w")],
        };
        let store_cfg = StoreConfig {
            block_size_bytes: 64 * 1024,
            flush_size_bytes: 16 * 1024,
            record_size_max: 8 * 1024,
            defrag_lwm_pct: 60,
            ..StoreConfig::default()
        };
        let clock = Clock::Manual(std::rc::Rc::new(std::cell::Cell::new(1_700_000_000_000)));
        let dev = SimDevice::new(8 << 20, 9);
        let shard = block_on(Shard::create(
            0,
            store_cfg.clone(),
            Device::Sim(dev.clone()),
            clock.clone(),
        ))
        .unwrap();
        let ks = KeySpace::new("g").unwrap();
        let m = Model::new(
            shard,
            ks.clone(),
            cfg.clone(),
            Box::new(ManualClock::default()),
        )
        .unwrap();
        let mut vertices: HashSet<ElementId> = HashSet::new();
        let mut edges: Vec<(ElementId, i64, i64)> = Vec::new();
        block_on(async {
            for i in 0..120 {
                m.add_vertex(int(i), "v", 0).await.unwrap();
                vertices.insert(int(i));
            }
            // Vertex 0 becomes a supernode (adjacency index pages).
            for i in 0..400 {
                let (a, b) = (if i % 4 == 0 { 0 } else { i % 120 }, (i * 7 + 1) % 120);
                m.add_edge(int(10_000 + i), "e", &int(a), &int(b), 0)
                    .await
                    .unwrap();
                m.set_edge_property(&int(10_000 + i), "w", gremlin::value::Value::Long(i))
                    .await
                    .unwrap();
                edges.push((int(10_000 + i), a, b));
                // Lets the writer flush (the write queue is small).
                m.kv.maintain(false).await.unwrap();
            }
            // Drops leave dead space, so that defrag moves the survivors.
            for i in (0..400).filter(|i| i % 3 == 1) {
                m.drop_edge(&int(10_000 + i)).await.unwrap();
                m.kv.maintain(false).await.unwrap();
            }
            edges.retain(|(id, _, _)| {
                let ElementId::Int { value, .. } = id else {
                    return true;
                };
                (value - 10_000) % 3 != 1
            });
            for v in (1..120).filter(|v| v % 5 == 2) {
                m.drop_vertex(&int(v)).await.unwrap();
                m.kv.maintain(false).await.unwrap();
                vertices.remove(&int(v));
                edges.retain(|(_, a, b)| *a != v && *b != v);
            }
            m.kv.flush().await.unwrap();
            for _ in 0..200 {
                m.kv.maintain(true).await.unwrap();
            }
        });
        assert!(
            m.kv.stats().defrag_records > 0,
            "defrag moved records: {:?}",
            m.kv.stats()
        );
        let check = |m: &Model<Shard>, when: &str| {
            let before = m.kv.stats();
            let got = block_on(m.scan_vertex_ids()).unwrap();
            let reads = m.kv.stats().reads - before.reads;
            let device_reads = m.kv.stats().device_reads - before.device_reads;
            if when == "after reopen" {
                // Nothing cached: neighbouring vertices come in shared device reads.
                assert!(
                    device_reads * 2 < vertices.len() as u64,
                    "{device_reads} device reads for {} vertices",
                    vertices.len()
                );
            }
            assert_eq!(got.len(), vertices.len(), "{when}: each vertex once");
            assert_eq!(
                got.iter().cloned().collect::<HashSet<_>>(),
                vertices,
                "{when}"
            );
            assert_eq!(
                reads,
                vertices.len() as u64,
                "{when}: read only vertex records"
            );
            let before = m.kv.stats().reads;
            let got = block_on(m.scan_edge_ids()).unwrap();
            let reads = m.kv.stats().reads - before;
            let want: HashSet<ElementId> = edges.iter().map(|e| e.0.clone()).collect();
            assert_eq!(got.len(), want.len(), "{when}: each edge once");
            assert_eq!(got.into_iter().collect::<HashSet<_>>(), want, "{when}");
            // A locator and its pack per edge (a pack lookup may read the owner vertex).
            assert!(
                reads >= 2 * want.len() as u64 && reads <= 3 * want.len() as u64,
                "{when}: {reads} reads for {} edges",
                want.len()
            );
            // Every record of the shard is far more than what the scans read.
            assert!(
                m.kv.scan().len() > vertices.len() + 2 * want.len(),
                "{when}"
            );
        };
        check(&m, "after defrag");
        drop(m);
        let (shard, _) =
            block_on(Shard::open(0, store_cfg, Device::Sim(dev.reboot()), clock)).unwrap();
        let m = Model::new(shard, ks, cfg, Box::new(ManualClock::default())).unwrap();
        check(&m, "after reopen");
    }
}
