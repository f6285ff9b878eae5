//! Tests of the graph model: every record layout (round trip, truncation, corruption), the
//! key rules, supernode transition and property pushdown, drop semantics, TTL, concurrency.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_lite::future::block_on;
use gremlin::graph::Cardinality;
use gremlin::value::{Property, Uuid, Value};

use super::keys::{index_page_digest, pack_digest, Dir, ElementId, IntWidth, KeySpace};
use super::kv::{Kv, MemKv};
use super::ops::{ManualClock, Model};
use super::records::*;
use super::{ModelConfig, ModelError};

fn int(v: i64) -> ElementId {
    ElementId::Int {
        value: v,
        width: IntWidth::Long,
    }
}

fn s(x: &str) -> Arc<str> {
    Arc::from(x)
}

fn prop(k: &str, v: Value) -> Property {
    Property {
        key: s(k),
        value: v,
    }
}

fn sample_vertex() -> VertexRecord {
    let mut v = VertexRecord::new(
        ElementId::Int {
            value: 7,
            width: IntWidth::Int,
        },
        s("person"),
        1234,
    );
    v.next_seq = 300;
    v.open_pack = 2;
    v.next_pack = 3;
    v.props = vec![
        VProp {
            id: Value::Long(1),
            key: s("location"),
            value: Value::str("santa fe"),
            meta: vec![
                prop("startTime", Value::Int(2005)),
                prop("endTime", Value::Int(2006)),
            ],
        },
        VProp {
            id: Value::Long(2),
            key: s("location"),
            value: Value::str("brussels"),
            meta: vec![],
        },
        VProp {
            id: Value::Long(3),
            key: s("bytes"),
            value: Value::List(vec![Value::Double(1.5), Value::Uuid(Uuid([9; 16]))]),
            meta: vec![],
        },
    ];
    v.cache = vec![
        CacheEntry {
            seq: 5,
            edge: ElementId::Str(s("e-1")),
            label: s("knows"),
            dir: Dir::Out,
            other: ElementId::Uuid([3; 16]),
            pack_no: 0,
        },
        CacheEntry {
            seq: 6,
            edge: int(-9),
            label: s("created"),
            dir: Dir::In,
            other: int(1 << 40),
            pack_no: 17,
        },
    ];
    v
}

/// Every prefix of a valid encoding fails to decode (without panicking); so does every
/// single-byte corruption decode or fail without panicking.
fn check_bad_bytes<T: std::fmt::Debug>(
    bytes: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, super::wire::DecodeError>,
) {
    for n in 0..bytes.len() {
        assert!(decode(&bytes[..n]).is_err(), "prefix of {n} bytes decoded");
    }
    let mut extra = bytes.to_vec();
    extra.push(0);
    assert!(decode(&extra).is_err(), "trailing byte accepted");
    for i in 0..bytes.len() {
        for x in [0x00u8, 0xFF, 0x80, 0x7F] {
            let mut b = bytes.to_vec();
            b[i] = x;
            let _ = decode(&b);
        }
    }
}

#[test]
fn vertex_record_round_trips_and_rejects_bad_bytes() {
    let v = sample_vertex();
    let bytes = v.encode().unwrap();
    assert_eq!(bytes[0], MAGIC_VERTEX);
    assert_eq!(bytes[1], LAYOUT_VERSION);
    assert_eq!(VertexRecord::decode(&bytes).unwrap(), v);
    check_bad_bytes(&bytes, VertexRecord::decode);
    // A supernode summary round-trips; a summary without the flag is refused.
    let mut sn = v.clone();
    sn.flags = FLAG_SUPERNODE;
    sn.cache.clear();
    sn.index = vec![LabelPages {
        dir: Dir::In,
        label: s("knows"),
        pages: 4,
    }];
    assert_eq!(VertexRecord::decode(&sn.encode().unwrap()).unwrap(), sn);
    sn.flags = 0;
    assert!(VertexRecord::decode(&sn.encode().unwrap()).is_err());
}

#[test]
fn pack_locator_and_index_page_round_trip() {
    let pack = EdgePack {
        owner: ElementId::Str(s("a")),
        owner_label: s("person"),
        edges: (0..10)
            .map(|i| PackEdge {
                id: int(i),
                label: s("knows"),
                in_id: ElementId::Int {
                    value: i * 3,
                    width: IntWidth::Short,
                },
                in_label: s("software"),
                void_time_s: i as u32,
                props: vec![prop("weight", Value::Double(0.5 * i as f64))],
            })
            .collect(),
    };
    let b = pack.encode().unwrap();
    assert_eq!(EdgePack::decode(&b).unwrap(), pack);
    check_bad_bytes(&b, EdgePack::decode);

    let loc = EdgeLocator {
        edge: ElementId::Uuid([7; 16]),
        out: int(300),
        pack_no: 70_000,
    };
    let b = loc.encode();
    assert_eq!(EdgeLocator::decode(&b).unwrap(), loc);
    check_bad_bytes(&b, EdgeLocator::decode);

    let page = IndexPage {
        vertex: int(1),
        dir: Dir::Out,
        label: s("follows"),
        page: 3,
        entries: vec![IndexEntry {
            seq: 99,
            edge: int(5),
            other: ElementId::Str(s("5")),
            pack_no: 2,
            props: vec![prop("since", Value::Int(2010))],
        }],
    };
    let b = page.encode().unwrap();
    assert_eq!(IndexPage::decode(&b).unwrap(), page);
    check_bad_bytes(&b, IndexPage::decode);
    // One record kind is never taken for another.
    assert!(VertexRecord::decode(&b).is_err());
    assert!(EdgePack::decode(&loc.encode()).is_err());
}

#[test]
fn integer_ids_are_one_key_strings_and_uuids_are_not_numbers() {
    let ks = KeySpace::new("g").unwrap();
    let i32_1 = ElementId::from_value(&Value::Int(1), "Vertex").unwrap();
    let i64_1 = ElementId::from_value(&Value::Long(1), "Vertex").unwrap();
    let i8_1 = ElementId::from_value(&Value::Byte(1), "Vertex").unwrap();
    let str_1 = ElementId::from_value(&Value::str("1"), "Vertex").unwrap();
    assert_eq!(i32_1, i64_1);
    assert_eq!(i8_1, i64_1);
    assert_eq!(ks.vertex_digest(&i32_1), ks.vertex_digest(&i64_1));
    assert_ne!(str_1, i64_1);
    assert_ne!(ks.vertex_digest(&str_1), ks.vertex_digest(&i64_1));
    let u = ElementId::from_value(&Value::Uuid(Uuid([1; 16])), "Vertex").unwrap();
    assert_ne!(ks.vertex_digest(&u), ks.vertex_digest(&i64_1));
    // The id keeps its type.
    assert_eq!(i32_1.to_value(), Value::Int(1));
    assert!(matches!(i32_1.to_value(), Value::Int(1)));
    assert!(matches!(i64_1.to_value(), Value::Long(1)));
    // Vertex and edge key spaces differ, and so do graphs.
    assert_ne!(ks.vertex_digest(&i64_1), ks.edge_digest(&i64_1));
    let other = KeySpace::new("h").unwrap();
    assert_ne!(ks.vertex_digest(&i64_1), other.vertex_digest(&i64_1));
    // Not ids.
    assert!(matches!(
        ElementId::from_value(&Value::Double(1.0), "Vertex"),
        Err(ModelError::InvalidId { .. })
    ));
    assert!(KeySpace::new("").is_err());
    assert!(KeySpace::new("a.v").is_err());
}

#[test]
fn packs_and_index_pages_live_in_the_vertex_partition() {
    let ks = KeySpace::new("g").unwrap();
    let mut partitions = std::collections::HashSet::new();
    for i in 0..2000i64 {
        let id = if i % 2 == 0 {
            int(i)
        } else {
            ElementId::Str(Arc::from(format!("v{i}")))
        };
        let vd = ks.vertex_digest(&id);
        partitions.insert(vd.partition());
        for p in [0u32, 1, 77, u32::MAX] {
            let pd = pack_digest(&vd, p);
            assert_eq!(pd.partition(), vd.partition());
            assert_ne!(pd, vd);
        }
        let a = index_page_digest(&vd, Dir::Out, "knows", 0);
        let b = index_page_digest(&vd, Dir::In, "knows", 0);
        let c = index_page_digest(&vd, Dir::Out, "knows", 1);
        assert_eq!(a.partition(), vd.partition());
        assert!(a != b && a != c && b != c);
    }
    // The ids really spread over partitions (the test would be vacuous otherwise).
    assert!(partitions.len() > 1000, "{}", partitions.len());
}

fn model(cfg: ModelConfig) -> (Model<MemKv>, Rc<ManualClock>) {
    let clock = Rc::new(ManualClock::default());
    clock.0.set(1_000);
    let m = Model::new(
        MemKv::new(),
        KeySpace::new("g").unwrap(),
        cfg,
        Box::new(clock.clone()),
    )
    .unwrap();
    (m, clock)
}

fn small() -> ModelConfig {
    ModelConfig {
        edge_cache_entries: 2,
        pack_edges: 3,
        index_page_entries: 4,
        indexed_edge_keys: vec![s("w")],
    }
}

fn ids(v: &[(Dir, super::ops::EdgeView)]) -> Vec<i64> {
    v.iter()
        .map(|(_, e)| match e.id {
            ElementId::Int { value, .. } => value,
            _ => -1,
        })
        .collect()
}

#[test]
fn int32_vertex_found_by_long_comes_back_int32() {
    let (m, _) = model(ModelConfig::default());
    block_on(async {
        m.add_vertex(
            ElementId::from_value(&Value::Int(1), "Vertex").unwrap(),
            "person",
            0,
        )
        .await
        .unwrap();
        let v = m.vertex(&int(1)).await.unwrap().unwrap();
        assert!(matches!(v.id.to_value(), Value::Int(1)));
        assert!(matches!(
            m.add_vertex(int(1), "person", 0).await,
            Err(ModelError::VertexExists(_))
        ));
        assert!(m.vertex(&ElementId::Str(s("1"))).await.unwrap().is_none());
    });
}

#[test]
fn supernode_transition_keeps_every_edge_in_order() {
    let (m, _) = model(small());
    block_on(async {
        for i in 0..12 {
            m.add_vertex(int(i), "v", 0).await.unwrap();
        }
        // 0 -> 1..=11 alternating labels, plus 3 in-edges to 0 and a self-loop.
        let mut want_out = Vec::new();
        for i in 1..=11 {
            let label = if i % 2 == 0 { "a" } else { "b" };
            m.add_edge(int(100 + i), label, &int(0), &int(i), 0)
                .await
                .unwrap();
            m.set_edge_property(&int(100 + i), "w", Value::Int(i as i32))
                .await
                .unwrap();
            want_out.push(100 + i);
        }
        for i in 1..=3 {
            m.add_edge(int(200 + i), "a", &int(i), &int(0), 0)
                .await
                .unwrap();
        }
        m.add_edge(int(300), "a", &int(0), &int(0), 0)
            .await
            .unwrap();
        want_out.push(300);
        let v = m.vertex(&int(0)).await.unwrap().unwrap();
        assert!(v.is_supernode());
        assert!(v.cache.is_empty(), "cache not migrated: {:?}", v.cache);
        let out = m.incident(&int(0), &[Dir::Out], &[], &[]).await.unwrap();
        assert_eq!(ids(&out), want_out);
        let inn = m.incident(&int(0), &[Dir::In], &[], &[]).await.unwrap();
        assert_eq!(ids(&inn), vec![201, 202, 203, 300]);
        let both = m
            .incident(&int(0), &[Dir::Out, Dir::In], &[s("b")], &[])
            .await
            .unwrap();
        assert_eq!(ids(&both), vec![101, 103, 105, 107, 109, 111]);
        // The other endpoints see the edges too (their caches point back).
        let from5 = m.incident(&int(5), &[Dir::In], &[], &[]).await.unwrap();
        assert_eq!(ids(&from5), vec![105]);
        assert_eq!(from5[0].1.out_id, int(0));
        // Edge properties came along.
        let e = m.edge(&int(107)).await.unwrap().unwrap();
        assert_eq!(e.props, vec![prop("w", Value::Int(7))]);
    });
}

#[test]
fn supernode_filters_on_label_and_indexed_property_without_reading_every_pack() {
    let (m, _) = model(small());
    block_on(async {
        m.add_vertex(int(0), "hub", 0).await.unwrap();
        for i in 1..=40 {
            m.add_vertex(int(i), "v", 0).await.unwrap();
            m.add_edge(int(1000 + i), "r", &int(0), &int(i), 0)
                .await
                .unwrap();
            m.set_edge_property(&int(1000 + i), "w", Value::Int((i % 10) as i32))
                .await
                .unwrap();
        }
        m.add_edge(int(5000), "other", &int(0), &int(1), 0)
            .await
            .unwrap();
        let before = m.kv.stats().gets;
        let hit = m
            .incident(&int(0), &[Dir::Out], &[s("r")], &[prop("w", Value::Int(3))])
            .await
            .unwrap();
        let gets = m.kv.stats().gets - before;
        assert_eq!(ids(&hit), vec![1003, 1013, 1023, 1033]);
        // 1 vertex + 10 pages of (out, r) + at most 4 packs; reading every pack would be 14+.
        let pages = 40usize.div_ceil(4) as u64;
        assert!(gets <= 1 + pages + 4, "{gets} reads");
        // Without the index the same filter reads all 14 packs.
        let before = m.kv.stats().gets;
        let all = m
            .incident(&int(0), &[Dir::Out], &[s("r")], &[])
            .await
            .unwrap();
        assert_eq!(all.len(), 40);
        assert!(m.kv.stats().gets - before >= 1 + pages + 13);
        // An indexed value changed later is seen by the filter.
        m.set_edge_property(&int(1004), "w", Value::Int(3))
            .await
            .unwrap();
        let hit = m
            .incident(&int(0), &[Dir::Out], &[s("r")], &[prop("w", Value::Int(3))])
            .await
            .unwrap();
        assert_eq!(ids(&hit), vec![1003, 1004, 1013, 1023, 1033]);
    });
}

#[test]
fn drop_edge_and_vertex_clean_both_endpoints_and_leave_no_records() {
    for cfg in [small(), ModelConfig::default()] {
        let (m, _) = model(cfg);
        block_on(async {
            for i in 0..6 {
                m.add_vertex(int(i), "v", 0).await.unwrap();
            }
            let mut n = 0;
            for a in 0..6 {
                for b in 0..6 {
                    if (a + b) % 2 == 0 {
                        m.add_edge(int(100 + n), "l", &int(a), &int(b), 0)
                            .await
                            .unwrap();
                        n += 1;
                    }
                }
            }
            m.drop_edge(&int(100)).await.unwrap(); // 0 -> 0 self-loop
            assert!(m.edge(&int(100)).await.unwrap().is_none());
            let out0 = m
                .incident(&int(0), &[Dir::Out, Dir::In], &[], &[])
                .await
                .unwrap();
            assert!(ids(&out0).iter().all(|e| *e != 100));
            // Dropping vertex 2 takes every edge touching it, seen from every other vertex.
            m.drop_vertex(&int(2)).await.unwrap();
            assert!(m.vertex(&int(2)).await.unwrap().is_none());
            for v in [0, 4] {
                let adj = m
                    .incident(&int(v), &[Dir::Out, Dir::In], &[], &[])
                    .await
                    .unwrap();
                assert!(adj
                    .iter()
                    .all(|(_, e)| e.in_id != int(2) && e.out_id != int(2)));
                assert!(!adj.is_empty());
            }
            let edges = m.scan_edge_ids().await.unwrap();
            assert_eq!(edges.len(), n as usize - 1 - 5); // 2 had edges with 0, 2 (loop), 4
            for e in &edges {
                assert!(m.edge(e).await.unwrap().is_some());
            }
            // Dropping what does not exist is a no-op.
            m.drop_vertex(&int(2)).await.unwrap();
            m.drop_edge(&int(100)).await.unwrap();
            for v in [0, 1, 3, 4, 5] {
                m.drop_vertex(&int(v)).await.unwrap();
            }
            assert_eq!(m.kv.len(), 0, "records left: {:?}", m.kv.scan());
        });
    }
}

#[test]
fn vertex_properties_cardinality_meta_and_drops() {
    let (m, _) = model(ModelConfig::default());
    block_on(async {
        m.add_vertex(int(1), "p", 0).await.unwrap();
        let v = int(1);
        m.set_vertex_property(
            &v,
            Cardinality::List,
            "loc",
            Value::str("a"),
            Value::Long(10),
            vec![prop("t", Value::Int(1))],
        )
        .await
        .unwrap();
        m.set_vertex_property(
            &v,
            Cardinality::List,
            "loc",
            Value::str("a"),
            Value::Long(11),
            vec![],
        )
        .await
        .unwrap();
        let same = m
            .set_vertex_property(
                &v,
                Cardinality::Set,
                "loc",
                Value::str("a"),
                Value::Long(12),
                vec![prop("u", Value::Int(2))],
            )
            .await
            .unwrap();
        assert_eq!(same, Value::Long(10));
        m.set_meta_property(&v, &Value::Int(11), "t", Value::Int(5))
            .await
            .unwrap();
        let r = m.vertex(&v).await.unwrap().unwrap();
        assert_eq!(r.props.len(), 2);
        assert_eq!(
            r.props[0].meta,
            vec![prop("t", Value::Int(1)), prop("u", Value::Int(2))]
        );
        assert_eq!(r.props[1].meta, vec![prop("t", Value::Int(5))]);
        m.set_vertex_property(
            &v,
            Cardinality::Single,
            "loc",
            Value::str("b"),
            Value::Long(13),
            vec![],
        )
        .await
        .unwrap();
        let r = m.vertex(&v).await.unwrap().unwrap();
        assert_eq!(r.props.len(), 1);
        assert_eq!(r.props[0].value, Value::str("b"));
        m.drop_meta_property(&v, &Value::Long(13), "x")
            .await
            .unwrap();
        m.drop_vertex_property(&v, &Value::Long(13)).await.unwrap();
        assert!(m.vertex(&v).await.unwrap().unwrap().props.is_empty());
        assert!(matches!(
            m.set_vertex_property(
                &int(2),
                Cardinality::Single,
                "k",
                Value::Int(1),
                Value::Long(1),
                vec![]
            )
            .await,
            Err(ModelError::VertexMissing(_))
        ));
    });
}

#[test]
fn ttl_expired_vertex_disappears_with_its_edges_on_both_ends() {
    for cfg in [small(), ModelConfig::default()] {
        let (m, clock) = model(cfg);
        block_on(async {
            m.add_vertex(int(1), "keep", 0).await.unwrap();
            m.add_vertex(int(2), "temp", 1_100).await.unwrap();
            for i in 0..5 {
                m.add_edge(int(10 + i), "x", &int(1), &int(2), 0)
                    .await
                    .unwrap();
                m.add_edge(int(20 + i), "y", &int(2), &int(1), 0)
                    .await
                    .unwrap();
            }
            m.add_vertex(int(3), "keep", 0).await.unwrap();
            m.add_edge(int(30), "z", &int(1), &int(3), 1_050)
                .await
                .unwrap(); // edge TTL
            m.add_edge(int(31), "z", &int(1), &int(3), 0).await.unwrap();
            assert_eq!(
                m.incident(&int(1), &[Dir::Out, Dir::In], &[], &[])
                    .await
                    .unwrap()
                    .len(),
                12
            );
            clock.0.set(1_050);
            assert!(m.edge(&int(30)).await.unwrap().is_none());
            assert_eq!(
                m.incident(&int(1), &[Dir::Out, Dir::In], &[], &[])
                    .await
                    .unwrap()
                    .len(),
                11
            );
            clock.0.set(1_100);
            // Invisible at once, before any sweep.
            assert!(m.vertex(&int(2)).await.unwrap().is_none());
            let adj = m
                .incident(&int(1), &[Dir::Out, Dir::In], &[], &[])
                .await
                .unwrap();
            assert_eq!(ids(&adj), vec![31]);
            assert!(m.edge(&int(10)).await.unwrap().is_none());
            let report = m.expire().await.unwrap();
            assert_eq!(report.vertices, 1);
            let v1 = m.vertex(&int(1)).await.unwrap().unwrap();
            let adj = m.adjacency(&v1, &[Dir::Out, Dir::In], &[]).await.unwrap();
            assert_eq!(adj.len(), 1, "{adj:?}");
            // The id can be used again.
            m.add_vertex(int(2), "again", 0).await.unwrap();
            assert!(m
                .incident(&int(2), &[Dir::Out, Dir::In], &[], &[])
                .await
                .unwrap()
                .is_empty());
            assert_eq!(m.scan_edge_ids().await.unwrap(), vec![int(31)]);
        });
    }
}

#[test]
fn edge_ids_are_unique_and_missing_endpoints_fail() {
    let (m, _) = model(ModelConfig::default());
    block_on(async {
        m.add_vertex(int(1), "v", 0).await.unwrap();
        m.add_vertex(int(2), "v", 0).await.unwrap();
        m.add_edge(ElementId::Str(s("e")), "l", &int(1), &int(2), 0)
            .await
            .unwrap();
        assert!(matches!(
            m.add_edge(ElementId::Str(s("e")), "l", &int(2), &int(1), 0)
                .await,
            Err(ModelError::EdgeExists(_))
        ));
        assert!(matches!(
            m.add_edge(int(9), "l", &int(1), &int(3), 0).await,
            Err(ModelError::VertexMissing(_))
        ));
        assert_eq!(
            m.scan_edge_ids().await.unwrap(),
            vec![ElementId::Str(s("e"))]
        );
        assert_eq!(
            m.incident(&int(2), &[Dir::Out, Dir::In], &[], &[])
                .await
                .unwrap()
                .len(),
            1
        );
    });
}

/// Several models over one store (named graphs, or two writers without shared locks).
struct Shared(Rc<MemKv>);
impl Kv for Shared {
    async fn get(
        &self,
        d: &super::kv::Digest,
    ) -> Result<Option<super::kv::Got>, super::kv::KvError> {
        self.0.get(d).await
    }
    async fn put(
        &self,
        d: &super::kv::Digest,
        p: &[u8],
        m: super::kv::WriteMode,
    ) -> Result<u16, super::kv::KvError> {
        self.0.put(d, p, m).await
    }
    async fn delete(
        &self,
        d: &super::kv::Digest,
        m: super::kv::WriteMode,
    ) -> Result<bool, super::kv::KvError> {
        self.0.delete(d, m).await
    }
    fn scan(&self) -> Vec<super::kv::Digest> {
        self.0.scan()
    }
    fn scan_tagged(&self, tags: &[u8]) -> Vec<super::kv::Digest> {
        self.0.scan_tagged(tags)
    }
}

#[test]
fn named_graphs_share_a_store_but_not_keys() {
    let kv = Rc::new(MemKv::new());
    let mk = |name: &str| {
        Model::new(
            Shared(kv.clone()),
            KeySpace::new(name).unwrap(),
            ModelConfig::default(),
            Box::new(ManualClock::default()),
        )
        .unwrap()
    };
    let (a, b) = (mk("a"), mk("b"));
    block_on(async {
        a.add_vertex(int(1), "in-a", 0).await.unwrap();
        b.add_vertex(int(1), "in-b", 0).await.unwrap();
        b.add_vertex(int(2), "in-b", 0).await.unwrap();
        assert_eq!(a.vertex(&int(1)).await.unwrap().unwrap().label, s("in-a"));
        assert_eq!(b.vertex(&int(1)).await.unwrap().unwrap().label, s("in-b"));
        assert_eq!(a.scan_vertex_ids().await.unwrap(), vec![int(1)]);
        assert_eq!(b.scan_vertex_ids().await.unwrap().len(), 2);
        a.drop_vertex(&int(1)).await.unwrap();
        assert!(b.vertex(&int(1)).await.unwrap().is_some());
    });
}

#[test]
fn corrupt_record_is_an_error_not_a_panic() {
    let (m, _) = model(ModelConfig::default());
    block_on(async {
        m.add_vertex(int(1), "v", 0).await.unwrap();
        let d = m.space.vertex_digest(&int(1));
        m.kv.corrupt(&d, vec![MAGIC_VERTEX, LAYOUT_VERSION, 0, 0xFF]);
        assert!(matches!(
            m.vertex(&int(1)).await,
            Err(ModelError::Decode(_))
        ));
        assert!(matches!(
            m.scan_vertex_ids().await,
            Err(ModelError::Decode(_))
        ));
    });
}

/// A boxed task of the concurrency test.
type Task<'a> = Pin<Box<dyn Future<Output = Result<(), ModelError>> + 'a>>;

/// Polls every future round-robin until all are done (one thread, like a core's executor).
fn join_all<T>(mut futs: Vec<Pin<Box<dyn Future<Output = T> + '_>>>) -> Vec<T> {
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    let mut cx = Context::from_waker(Waker::noop());
    let mut left = futs.len();
    let mut rounds = 0u64;
    while left > 0 {
        rounds += 1;
        assert!(rounds < 10_000_000, "tasks do not finish");
        for (i, f) in futs.iter_mut().enumerate() {
            if out[i].is_some() {
                continue;
            }
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                out[i] = Some(v);
                left -= 1;
            }
        }
    }
    out.into_iter().flatten().collect()
}

#[test]
fn concurrent_add_edges_on_one_vertex_lose_nothing() {
    for cfg in [small(), ModelConfig::default()] {
        // Two models over one store: tasks of one model queue on its per-key locks; the two
        // models race each other and only generation checks keep their writes apart.
        let kv = Rc::new(MemKv::new());
        let mk = || {
            Model::new(
                Shared(kv.clone()),
                KeySpace::new("g").unwrap(),
                cfg.clone(),
                Box::new(ManualClock::default()),
            )
            .unwrap()
        };
        let (a, b) = (mk(), mk());
        block_on(async {
            a.add_vertex(int(0), "hub", 0).await.unwrap();
            for i in 1..=8 {
                a.add_vertex(int(i), "v", 0).await.unwrap();
            }
        });
        kv.set_yield_each_call(true);
        let n = 1000i64;
        let futs: Vec<Task<'_>> = (0..n)
            .map(|k| {
                let m = if k % 2 == 0 { &a } else { &b };
                Box::pin(async move {
                    let other = int(1 + k % 8);
                    let (x, y) = if k % 3 == 0 {
                        (other, int(0))
                    } else {
                        (int(0), other)
                    };
                    m.add_edge(int(1000 + k), "l", &x, &y, 0).await.map(|_| ())
                }) as Pin<Box<dyn Future<Output = _>>>
            })
            .collect();
        for r in join_all(futs) {
            r.unwrap();
        }
        assert!(
            kv.stats().conflicts > 0,
            "no generation conflict: test is vacuous"
        );
        assert!(
            a.locks().waits() > 0 && b.locks().waits() > 0,
            "tasks never queued"
        );
        assert_eq!(a.locks().held() + b.locks().held(), 0);
        kv.set_yield_each_call(false);
        block_on(async {
            let hub = a
                .incident(&int(0), &[Dir::Out, Dir::In], &[], &[])
                .await
                .unwrap();
            let mut got = ids(&hub);
            got.sort_unstable();
            assert_eq!(got, (1000..1000 + n).collect::<Vec<_>>());
            let mut total = 0;
            for i in 1..=8 {
                total += b
                    .incident(&int(i), &[Dir::Out, Dir::In], &[], &[])
                    .await
                    .unwrap()
                    .len();
            }
            assert_eq!(total, n as usize);
            assert_eq!(a.scan_edge_ids().await.unwrap().len(), n as usize);
        });
    }
}

#[test]
fn generated_ids_are_persisted_per_core_and_skip_user_ids() {
    let kv = Rc::new(MemKv::new());
    let mk = |core: u16| {
        Model::new(
            Shared(kv.clone()),
            KeySpace::new("g").unwrap(),
            ModelConfig::default(),
            Box::new(ManualClock::default()),
        )
        .unwrap()
        .with_core(core)
    };
    block_on(async {
        let a = mk(0);
        a.add_vertex(int(1), "user", 0).await.unwrap();
        let v0 = a.add_vertex_generated("gen", 0).await.unwrap();
        let v1 = a.add_vertex_generated("gen", 0).await.unwrap();
        assert_eq!(
            (v0.id.clone(), v1.id.clone()),
            (int(0), int(2)),
            "id 1 is the user's"
        );
        // A restarted core continues after its reserved block, never reusing an id.
        let again = mk(0);
        let v2 = again.add_vertex_generated("gen", 0).await.unwrap();
        assert_eq!(v2.id, int(super::ops::ID_BLOCK_IDS as i64));
        // Another core allocates in its own range.
        let b = mk(3);
        let w = b.generate_id().await.unwrap();
        assert_eq!(w, int(3i64 << super::ops::ID_CORE_SHIFT_BITS));
    });
    // A model with a larger block (the bulk loader's) hands out the whole block before it
    // reserves again; the next model on the core starts after what it reserved.
    block_on(async {
        let big = mk(5).with_id_block(5000);
        for i in 0..5000i64 {
            assert_eq!(
                big.generate_id().await.unwrap(),
                int((5i64 << super::ops::ID_CORE_SHIFT_BITS) | i)
            );
        }
        let next = big.generate_id().await.unwrap();
        assert_eq!(next, int((5i64 << super::ops::ID_CORE_SHIFT_BITS) | 5000));
        let after = mk(5).generate_id().await.unwrap();
        assert_eq!(
            after,
            int((5i64 << super::ops::ID_CORE_SHIFT_BITS) | 10_000)
        );
    });
    let g = IdGen { next: 77 };
    assert_eq!(IdGen::decode(&g.encode()).unwrap(), g);
    check_bad_bytes(&g.encode(), IdGen::decode);
}

#[test]
fn concurrent_drop_vertex_and_add_edges_leave_no_dangling_edge() {
    for cfg in [small(), ModelConfig::default()] {
        for drop_after in [0usize, 7, 40] {
            let (m, _) = model(cfg.clone());
            block_on(async {
                for i in 0..6 {
                    m.add_vertex(int(i), "v", 0).await.unwrap();
                }
            });
            m.kv.set_yield_each_call(true);
            let mut futs: Vec<Task<'_>> = (0..120i64)
                .map(|k| {
                    let m = &m;
                    Box::pin(async move {
                        let other = int(1 + k % 5);
                        let (x, y) = if k % 2 == 0 {
                            (int(0), other)
                        } else {
                            (other, int(0))
                        };
                        match m.add_edge(int(1000 + k), "l", &x, &y, 0).await {
                            Ok(_) | Err(ModelError::VertexMissing(_)) => Ok(()),
                            Err(e) => Err(e),
                        }
                    }) as Task<'_>
                })
                .collect();
            let m2 = &m;
            futs.insert(
                drop_after,
                Box::pin(async move { m2.drop_vertex(&int(0)).await }),
            );
            for r in join_all(futs) {
                r.unwrap();
            }
            m.kv.set_yield_each_call(false);
            block_on(async {
                assert!(m.vertex(&int(0)).await.unwrap().is_none());
                // Vertex 0 is gone and so is every edge that touched it, from every side.
                for e in m.scan_edge_ids().await.unwrap() {
                    let e = m.edge(&e).await.unwrap().unwrap();
                    assert!(e.out_id != int(0) && e.in_id != int(0), "{e:?}");
                }
                for i in 1..6 {
                    let v = m.vertex(&int(i)).await.unwrap().unwrap();
                    let adj = m.adjacency(&v, &[Dir::Out, Dir::In], &[]).await.unwrap();
                    assert!(
                        adj.iter().all(|a| a.other != int(0)),
                        "dangling entry on {i}: {adj:?}"
                    );
                }
                // Nothing of vertex 0 is left in the store.
                let mut left = Vec::new();
                for d in m.kv.scan() {
                    let g = m.kv.get(&d).await.unwrap().unwrap();
                    match g.payload.first() {
                        Some(&MAGIC_VERTEX) => {}
                        // Emptied index pages stay with their (live) supernode.
                        Some(&MAGIC_INDEX) => {
                            let p = IndexPage::decode(&g.payload).unwrap();
                            assert!(
                                p.vertex != int(0) && p.entries.iter().all(|e| e.other != int(0))
                            );
                        }
                        _ => left.push(String::from_utf8_lossy(&g.payload).to_string()),
                    }
                }
                assert!(left.is_empty(), "{drop_after}: records left: {left:?}");
            });
        }
    }
}
