//! The owner side of the frontier path: evaluates a batch of traversers on the records of
//! ONE core. Every read goes through [`ReadKv`], which refuses any record another core owns
//! (so a plan that would need a remote record fails loudly instead of fetching it), reads
//! each record once per batch, and counts reads per operation.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use gremlin::machine::sem;
use gremlin::value::{Edge, Value, Vertex};
use gremlin::GremlinError;
use indexmap::IndexMap;

use crate::frontier::{
    add_at, Batch, Check, EdgeRef, Elem, MidIndex, Need, Op, Query, Reply, Tr,
    DEADLINE_CHECK_TRAVERSERS, FRONTIER_BATCH_MAX, FRONTIER_MEMO_RECORDS_MAX,
    MID_INDEX_CANDIDATES_MAX,
};
use crate::model::adapter::{edge_value, to_gremlin, vertex_value};
use crate::model::keys::pack_digest;
use crate::model::keys::{Dir, ElementId};
use crate::model::kv::{Digest, Got, Kv, KvError, WriteMode};
use crate::model::ops::{EdgeView, ManualClock, Model};
use crate::model::records::{expired, EdgeLocator, EdgePack, PropFilter, VertexRecord};
use crate::model::ModelError;

/// A read-only view of one core's records for one batch: refuses records of other cores,
/// reads each record once, counts reads per operation.
pub struct ReadKv<K: Kv, F: Fn(&Digest) -> bool> {
    inner: K,
    is_local: F,
    memo: RefCell<HashMap<Digest, Option<Got>>>,
    /// Records of the scan chunk being run, read ahead together ([`ReadKv::prefetch`]);
    /// replaced by the next chunk's, so at most `FRONTIER_BATCH_MAX` records.
    ahead: RefCell<HashMap<Digest, Option<Got>>>,
    /// The operation reads are counted for.
    op: Cell<usize>,
    reads: RefCell<Vec<u64>>,
    /// Record payload bytes read, by operation.
    bytes: RefCell<Vec<u64>>,
    /// Bytes the reads took from the device, by operation.
    pub(crate) device_bytes: RefCell<Vec<u64>>,
}

impl<K: Kv, F: Fn(&Digest) -> bool> ReadKv<K, F> {
    pub fn new(inner: K, is_local: F) -> Self {
        ReadKv {
            inner,
            is_local,
            memo: RefCell::new(HashMap::new()),
            ahead: RefCell::new(HashMap::new()),
            op: Cell::new(0),
            reads: RefCell::new(Vec::new()),
            bytes: RefCell::new(Vec::new()),
            device_bytes: RefCell::new(Vec::new()),
        }
    }

    /// Counts a record read for operation `op`: its payload bytes and its device bytes.
    fn count(&self, op: usize, g: &Got) {
        add_at(&mut self.bytes.borrow_mut(), op, g.payload.len() as u64);
        add_at(
            &mut self.device_bytes.borrow_mut(),
            op,
            u64::from(g.device_bytes),
        );
    }
}

impl<K: Kv, F: Fn(&Digest) -> bool> ReadKv<K, F> {
    /// Reads the records under `digests` (a chunk of a scan, in the store's location order)
    /// with `get_run`s of `SCAN_RUN_RECORDS`, all in flight at once, into the read-ahead set,
    /// replacing the previous chunk's; counted as reads of the current operation. Records in
    /// the memo or of another core are left out. Without it, every scanned vertex would be
    /// read again one at a time as its traverser runs.
    pub async fn prefetch(&self, digests: &[Digest]) -> Result<(), KvError> {
        let missing: Vec<Digest> = {
            let memo = self.memo.borrow();
            digests
                .iter()
                .filter(|d| !memo.contains_key(*d) && (self.is_local)(d))
                .copied()
                .collect()
        };
        self.ahead.borrow_mut().clear();
        let runs = missing.chunks(crate::model::ops::SCAN_RUN_RECORDS);
        let reads: Vec<_> = runs
            .clone()
            .map(|r| Box::pin(self.inner.get_run(r)))
            .collect();
        let mut ahead = HashMap::with_capacity(missing.len());
        let op = self.op.get();
        for (run, got) in runs.zip(crate::runtime::join_all(reads).await) {
            for (d, g) in run.iter().zip(got?) {
                if let Some(g) = &g {
                    self.count(op, g);
                }
                ahead.insert(*d, g);
            }
        }
        add_at(&mut self.reads.borrow_mut(), op, missing.len() as u64);
        *self.ahead.borrow_mut() = ahead;
        Ok(())
    }
}

impl<K: Kv, F: Fn(&Digest) -> bool> Kv for ReadKv<K, F> {
    async fn get(&self, digest: &Digest) -> Result<Option<Got>, KvError> {
        if let Some(g) = self.memo.borrow().get(digest) {
            return Ok(g.clone());
        }
        if let Some(g) = self.ahead.borrow().get(digest) {
            return Ok(g.clone());
        }
        if !(self.is_local)(digest) {
            return Err(KvError::Store(
                "frontier: a step read a record another core owns (plan error)".to_string(),
            ));
        }
        let got = self.inner.get(digest).await?;
        add_at(&mut self.reads.borrow_mut(), self.op.get(), 1);
        if let Some(g) = &got {
            self.count(self.op.get(), g);
        }
        let mut memo = self.memo.borrow_mut();
        if memo.len() < FRONTIER_MEMO_RECORDS_MAX {
            memo.insert(*digest, got.clone());
        }
        Ok(got)
    }

    async fn put(&self, _: &Digest, _: &[u8], _: WriteMode) -> Result<u16, KvError> {
        Err(KvError::Store("frontier: read-only".to_string()))
    }

    async fn delete(&self, _: &Digest, _: WriteMode) -> Result<bool, KvError> {
        Err(KvError::Store("frontier: read-only".to_string()))
    }

    fn scan(&self) -> Vec<Digest> {
        self.inner.scan()
    }

    fn scan_tagged(&self, tags: &[u8]) -> Vec<Digest> {
        self.inner.scan_tagged(tags)
    }

    /// Like `get` for each (memo, locality check, counts), the records not in the memo
    /// read with one `get_run` of the store.
    async fn get_run(&self, digests: &[Digest]) -> Result<Vec<Option<Got>>, KvError> {
        let mut out: Vec<Option<Option<Got>>> = Vec::with_capacity(digests.len());
        let mut missing = Vec::new();
        {
            let memo = self.memo.borrow();
            let ahead = self.ahead.borrow();
            for d in digests {
                let m = memo.get(d).or_else(|| ahead.get(d)).cloned();
                if m.is_none() {
                    if !(self.is_local)(d) {
                        return Err(KvError::Store(
                            "frontier: a step read a record another core owns (plan error)"
                                .to_string(),
                        ));
                    }
                    missing.push(*d);
                }
                out.push(m);
            }
        }
        let mut read = self.inner.get_run(&missing).await?.into_iter();
        let op = self.op.get();
        add_at(&mut self.reads.borrow_mut(), op, missing.len() as u64);
        let mut memo = self.memo.borrow_mut();
        let mut done = Vec::with_capacity(out.len());
        for (d, m) in digests.iter().zip(out) {
            let got = match m {
                Some(g) => g,
                None => {
                    let got = read.next().flatten();
                    if let Some(g) = &got {
                        self.count(op, g);
                    }
                    if memo.len() < FRONTIER_MEMO_RECORDS_MAX {
                        memo.insert(*d, got.clone());
                    }
                    got
                }
            };
            done.push(got);
        }
        Ok(done)
    }

    fn indexes(&self) -> Option<std::rc::Rc<crate::index::CoreIndexes>> {
        self.inner.indexes()
    }
}

fn limit(max: u64) -> GremlinError {
    GremlinError::LimitExceeded {
        limit: "traversers_max",
        max,
    }
}

/// A reference vertex (no properties), as the attempts executor answers for a vertex whose
/// record is gone.
fn vertex_ref(id: &ElementId, label: Option<&Arc<str>>) -> Value {
    Value::Vertex(Arc::new(Vertex {
        id: id.to_value(),
        label: label.cloned().unwrap_or_else(|| Arc::from("vertex")),
        properties: None,
    }))
}

fn test(p: &Option<Arc<gremlin::value::Predicate>>, vals: &[Value]) -> Result<bool, GremlinError> {
    match p {
        None => Ok(!vals.is_empty()),
        Some(p) => {
            for v in vals {
                if sem::test(p, v)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

/// The current element once read.
enum Here {
    /// A vertex: its record if live (`None`: gone, answered as a reference).
    V(Option<VertexRecord>),
    E(EdgeView),
}

struct Run<'a, K: Kv, F: Fn(&Digest) -> bool> {
    q: &'a Query,
    model: &'a Model<ReadKv<K, F>>,
    work: Vec<Tr>,
    forward: Vec<Tr>,
    /// Results by value (only counted: merged, first order kept).
    merged: IndexMap<Value, (i64, Vec<u32>)>,
    /// Results in order (their values are returned).
    listed: Vec<(Value, i64, Vec<u32>)>,
    /// Traversers each operation produced (by operation index).
    out_trs: Vec<u64>,
    /// Their bulk (elements).
    out_bulk: Vec<u64>,
    /// Property keys the plan reads (`None`: all), from [`crate::frontier::Plan::prop_keys`].
    keys: Option<Vec<Arc<str>>>,
    /// Property bytes decoded, by operation.
    prop_bytes: RefCell<Vec<u64>>,
    /// Traversers handed back for the coordinator's index decision.
    deferred: Vec<(Tr, u64)>,
}

/// The order of the `i`-th branch of a traverser at `ord`.
fn branch(ord: &[u32], i: usize) -> Vec<u32> {
    let mut o = Vec::with_capacity(ord.len() + 1);
    o.extend_from_slice(ord);
    o.push(u32::try_from(i).unwrap_or(u32::MAX));
    o
}

/// Puts `items` in a uniformly random order (Fisher-Yates over a splitmix64 stream from
/// `seed`).
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for k in (1..items.len()).rev() {
        // k + 1 <= len fits u64; the remainder is at most k.
        let j = usize::try_from(next() % (k as u64 + 1)).unwrap_or(0);
        items.swap(k, j);
    }
}

impl<K: Kv, F: Fn(&Digest) -> bool> Run<'_, K, F> {
    /// The properties a record read materializes: with property omission only the keys the
    /// plan reads, else all.
    fn filter(&self) -> PropFilter<'_> {
        match (&self.keys, self.q.plan.omit_properties()) {
            (_, false) | (None, true) => PropFilter::All,
            (Some(k), true) if k.is_empty() => PropFilter::None,
            (Some(k), true) => PropFilter::Keys(k),
        }
    }

    /// The properties a pack read only to confirm an edge materializes (none with property
    /// omission).
    fn no_props(&self) -> PropFilter<'static> {
        if self.q.plan.omit_properties() {
            PropFilter::None
        } else {
            PropFilter::All
        }
    }

    fn count_props(&self, n: u64) {
        if n > 0 {
            add_at(&mut self.prop_bytes.borrow_mut(), self.model.kv.op.get(), n);
        }
    }

    /// The live vertex record of `id` under digest `d`, decoded with [`Run::filter`].
    async fn vertex_at(
        &self,
        d: &Digest,
        id: &ElementId,
    ) -> Result<Option<VertexRecord>, GremlinError> {
        let Some(g) = self
            .model
            .kv
            .get(d)
            .await
            .map_err(|e| to_gremlin(e.into()))?
        else {
            return Ok(None);
        };
        let (v, n) = VertexRecord::decode_with(&g.payload, self.filter())
            .map_err(|e| to_gremlin(ModelError::from(e)))?;
        self.count_props(n);
        let now = self.model.now_s();
        Ok(Some(v).filter(|v| v.is_live(now) && v.id == *id))
    }

    /// Pack `pack_no` of the vertex whose digest is `vd`, decoded with `props`.
    async fn pack_at(
        &self,
        vd: &Digest,
        pack_no: u32,
        props: PropFilter<'_>,
    ) -> Result<Option<EdgePack>, GremlinError> {
        let d = pack_digest(vd, pack_no);
        let Some(g) = self
            .model
            .kv
            .get(&d)
            .await
            .map_err(|e| to_gremlin(e.into()))?
        else {
            return Ok(None);
        };
        let (p, n) = EdgePack::decode_with(&g.payload, props)
            .map_err(|e| to_gremlin(ModelError::from(e)))?;
        self.count_props(n);
        Ok(Some(p))
    }

    /// Counts one traverser of `bulk` produced by operation `op`.
    fn produced(&mut self, op: usize, bulk: i64) {
        add_at(&mut self.out_trs, op, 1);
        add_at(&mut self.out_bulk, op, u64::try_from(bulk).unwrap_or(0));
    }

    /// Emits a result made by operation `op`.
    fn emit_at(&mut self, op: usize, v: Value, bulk: i64, ord: &[u32]) -> Result<(), GremlinError> {
        self.produced(op, bulk);
        self.emit(v, bulk, ord)
    }

    fn emit(&mut self, v: Value, bulk: i64, ord: &[u32]) -> Result<(), GremlinError> {
        if self.q.plan.need == Need::Value {
            self.listed.push((v, bulk, ord.to_vec()));
        } else {
            let n = self.merged.entry(v).or_insert_with(|| (0, ord.to_vec()));
            n.0 = n.0.saturating_add(bulk);
            if *ord < *n.1 {
                n.1 = ord.to_vec();
            }
        }
        if (self.listed.len() + self.merged.len()) as u64 > self.q.traversers_max {
            return Err(limit(self.q.traversers_max));
        }
        Ok(())
    }

    fn push(&mut self, t: Tr) -> Result<(), GremlinError> {
        if (self.work.len() + self.forward.len()) as u64 > self.q.traversers_max {
            return Err(limit(self.q.traversers_max));
        }
        self.produced((t.at as usize).saturating_sub(1), t.bulk);
        self.work.push(t);
        Ok(())
    }

    /// The value a vertex traverser finishes with when it needs no visit (only its bulk, its
    /// identity, or its id), or `None` when its owner must read it.
    fn free_finish(&self, t: &Tr) -> Option<Value> {
        let Elem::V(id) = &t.elem else { return None };
        if t.check != Check::None {
            return None;
        }
        let plan = &self.q.plan;
        let ops = &plan.ops;
        let rest = ops.get(t.at as usize..).unwrap_or(&[]);
        match rest {
            [Op::Id] if plan.fusion() => Some(id.to_value()),
            [] if plan.count_without_visit() => match plan.need {
                Need::Bulk => Some(Value::Null),
                Need::Identity => Some(vertex_ref(id, t.hint.as_ref())),
                Need::Value => None,
            },
            _ => None,
        }
    }

    /// Evaluates traverser `t` at its element, whose home digest is `home`.
    async fn one(&mut self, mut t: Tr, home: Digest) -> Result<(), GremlinError> {
        let model = self.model;
        let ops = &self.q.plan.ops;
        model.kv.op.set(t.at as usize);
        // Read the element (and verify how the traverser got here).
        let mut here = match &t.elem {
            Elem::Loc(id) => {
                // The locator says which pack of which out vertex holds the edge.
                let d = self.q.space.edge_digest(id);
                let loc = model
                    .read::<EdgeLocator>(&d)
                    .await
                    .map_err(to_gremlin)?
                    .map(|l| l.0)
                    .filter(|l| l.edge == *id);
                let Some(loc) = loc else { return Ok(()) };
                return self.push(Tr {
                    elem: Elem::E(EdgeRef {
                        id: loc.edge,
                        out: loc.out,
                        pack_no: loc.pack_no,
                        from_out: false,
                    }),
                    ..t
                });
            }
            Elem::V(id) => {
                if let Check::Edge { edge, pack_no } = &t.check {
                    let pack = self.pack_at(&home, *pack_no, self.no_props()).await?;
                    let now = model.now_s();
                    let Some(pack) = pack.filter(|p| {
                        p.edges
                            .iter()
                            .any(|e| e.id == *edge && !expired(e.void_time_s, now))
                    }) else {
                        return Ok(());
                    };
                    t.hint = Some(pack.owner_label.clone());
                }
                let plan = &self.q.plan;
                let hinted = t.hint.is_some();
                // Without fusion every vertex is read where it arrives; with it, only when
                // a later step needs more than its id (or the label its edge carries).
                let needs_record = t.check == Check::Exists
                    || !plan.fusion()
                    || ops
                        .get(t.at as usize..)
                        .unwrap_or(&[])
                        .iter()
                        .any(|o| match o {
                            Op::Id | Op::HasId(_) => false,
                            Op::Label => !hinted,
                            Op::HasLabel(_) => !(hinted && plan.label_pushdown()),
                            _ => true,
                        })
                    || (ops.len() <= t.at as usize
                        && (plan.need == Need::Value || !plan.count_without_visit()));
                let rec = if needs_record {
                    self.vertex_at(&home, id).await?
                } else {
                    None
                };
                if t.check == Check::Exists {
                    if rec.is_none() {
                        return Ok(());
                    }
                    self.produced(0, t.bulk);
                }
                Here::V(rec)
            }
            Elem::E(r) => {
                let pack = self.pack_at(&home, r.pack_no, self.filter()).await?;
                let now = model.now_s();
                let Some(pack) = pack else { return Ok(()) };
                let Some(e) = pack
                    .edges
                    .iter()
                    .find(|e| e.id == r.id && !expired(e.void_time_s, now))
                else {
                    return Ok(());
                };
                Here::E(EdgeView::of(&pack, e))
            }
        };
        loop {
            model.kv.op.set(t.at as usize);
            let Some(op) = ops.get(t.at as usize) else {
                return self.finish(&t, &here);
            };
            let pass = match (op, &mut here) {
                (Op::HasProp(k, p), Here::V(rec)) => {
                    let vals: Vec<Value> = rec
                        .iter()
                        .flat_map(|r| r.props.iter())
                        .filter(|vp| vp.key == *k)
                        .map(|vp| vp.value.clone())
                        .collect();
                    test(p, &vals)?
                }
                (Op::HasProp(k, p), Here::E(e)) => {
                    let vals: Vec<Value> = e
                        .props
                        .iter()
                        .filter(|pr| pr.key == *k)
                        .map(|pr| pr.value.clone())
                        .collect();
                    test(p, &vals)?
                }
                (Op::HasLabel(p), Here::V(rec)) => {
                    let l = match (rec.as_ref(), &t.hint) {
                        (Some(r), _) => r.label.clone(),
                        (None, Some(h)) => h.clone(),
                        (None, None) => Arc::from("vertex"),
                    };
                    sem::test(p, &Value::String(l))?
                }
                (Op::HasLabel(p), Here::E(e)) => sem::test(p, &Value::String(e.label.clone()))?,
                // The record's id when read (the width it was created with), as the
                // attempts executor's vertex has it.
                (Op::HasId(p), Here::V(Some(r))) => sem::test(p, &r.id.to_value())?,
                (Op::HasId(p), Here::V(None)) => match &t.elem {
                    Elem::V(id) => sem::test(p, &id.to_value())?,
                    Elem::E(_) | Elem::Loc(_) => false,
                },
                (Op::HasId(p), Here::E(e)) => sem::test(p, &e.id.to_value())?,
                (Op::HasNot(k), Here::V(rec)) => !rec
                    .iter()
                    .flat_map(|r| r.props.iter())
                    .any(|vp| vp.key == *k),
                (Op::HasNot(k), Here::E(e)) => !e.props.iter().any(|pr| pr.key == *k),
                (
                    Op::Adj {
                        dirs,
                        labels,
                        edges,
                    },
                    Here::V(rec),
                ) => {
                    let Some(rec) = rec.as_ref() else {
                        return Ok(());
                    };
                    return self.adjacent(&t, &home, rec, dirs, labels, *edges).await;
                }
                (Op::EdgeV(dirs), Here::E(e)) => {
                    let mut next = Vec::with_capacity(dirs.len());
                    for (i, d) in dirs.iter().enumerate() {
                        let (id, label) = match d {
                            Dir::Out => (&e.out_id, &e.out_label),
                            Dir::In => (&e.in_id, &e.in_label),
                        };
                        next.push(Tr {
                            elem: Elem::V(id.clone()),
                            at: t.at + 1,
                            bulk: t.bulk,
                            check: Check::None,
                            hint: Some(label.clone()),
                            ord: branch(&t.ord, i),
                        });
                    }
                    // Last in, first out: push in reverse so the first branch goes first.
                    for n in next.into_iter().rev() {
                        self.push(n)?;
                    }
                    return Ok(());
                }
                (Op::OtherV, Here::E(e)) => {
                    let from_out = matches!(&t.elem, Elem::E(r) if r.from_out);
                    let (id, label) = if from_out {
                        (&e.in_id, &e.in_label)
                    } else {
                        (&e.out_id, &e.out_label)
                    };
                    return self.push(Tr {
                        elem: Elem::V(id.clone()),
                        at: t.at + 1,
                        bulk: t.bulk,
                        check: Check::None,
                        hint: Some(label.clone()),
                        ord: t.ord.clone(),
                    });
                }
                (Op::Values(_) | Op::Id | Op::Label, _) => {
                    return self.finish(&t, &here);
                }
                _ => {
                    return Err(GremlinError::Graph(format!(
                        "frontier: step {} does not apply here (plan error)",
                        t.at
                    )))
                }
            };
            if !pass {
                return Ok(());
            }
            self.produced(t.at as usize, t.bulk);
            t.at += 1;
        }
    }

    /// The traversers one vertex's adjacency step makes: out-edges are checked in this
    /// vertex's own packs; an in-edge lives in its out vertex's pack, so the traverser
    /// carries the check there (where an `in()` goes anyway).
    async fn adjacent(
        &mut self,
        t: &Tr,
        vd: &Digest,
        rec: &VertexRecord,
        dirs: &[Dir],
        labels: &[Arc<str>],
        edges: bool,
    ) -> Result<(), GremlinError> {
        let model = self.model;
        let plan = &self.q.plan;
        let at = t.at as usize;
        // A `has()` next that a secondary index may answer, on a supernode: the coordinator
        // decides (index candidates or a scan) once it knows the adjacency's size.
        let mut candidates = None;
        // Only when this core holds a ready index that could answer it: without one the
        // coordinator's probe round would end in a scan anyway.
        let indexed = || match (plan.mid_index_filter(at), model.kv.indexes()) {
            (Some((k, p)), Some(ix)) => !ix
                .usable(
                    self.q.space.name(),
                    &[Op::HasProp(k.clone(), Some(p.clone()))],
                    edges,
                )
                .is_empty(),
            _ => false,
        };
        if rec.is_supernode() && plan.mid_index_filter(at).is_some() && indexed() {
            match &plan.mid_index {
                MidIndex::Undecided => {
                    let page = self.q.model.index_page_entries as u64;
                    let size = rec
                        .index
                        .iter()
                        .filter(|lp| {
                            dirs.contains(&lp.dir)
                                && (labels.is_empty() || labels.contains(&lp.label))
                        })
                        .map(|lp| u64::from(lp.pages).saturating_mul(page))
                        .sum::<u64>()
                        .saturating_add(rec.cache.len() as u64);
                    self.deferred.push((t.clone(), size));
                    return Ok(());
                }
                MidIndex::Candidates { at: c_at, ids } if *c_at == at => {
                    candidates = Some(ids.clone());
                }
                _ => {}
            }
        }
        let mut adj = model
            .adjacency(rec, dirs, labels)
            .await
            .map_err(to_gremlin)?;
        // Only entries to an index candidate can pass the `has()` (which still checks them).
        if let Some(ids) = candidates {
            adj.retain(|a| ids.contains(if edges { &a.edge } else { &a.other }));
        }
        // Supernode predicate pushdown: index entries carry copies of the indexed edge
        // properties; an entry whose copy fails the next `has()` is dropped unread.
        if let Some(Op::HasProp(k, Some(p))) = plan.index_filter(at) {
            if self.q.model.indexed_edge_keys.contains(k) {
                let mut kept = Vec::with_capacity(adj.len());
                for a in adj {
                    let keep = match &a.props {
                        None => true,
                        Some(props) => {
                            let vals: Vec<Value> = props
                                .iter()
                                .filter(|pr| pr.key == *k)
                                .map(|pr| pr.value.clone())
                                .collect();
                            test(&Some(p.clone()), &vals)?
                        }
                    };
                    if keep {
                        kept.push(a);
                    }
                }
                adj = kept;
            }
        }
        // Local count: the traversal only counts these neighbours.
        let count_here = plan.local_count() == Some(at);
        let mut counted: i64 = 0;
        // Limit pushdown: at most this many confirmed neighbours are needed.
        let wanted = plan
            .limit_pushdown()
            .filter(|(i, _)| *i == at)
            .map(|(_, n)| n);
        // Traversers at the same element merge (their bulks add up, at the first one's
        // place): past the n-th confirmed neighbour only entries to one of those are read.
        let mut kept: std::collections::HashSet<ElementId> = std::collections::HashSet::new();
        let mut confirmed: u64 = 0;
        // Sample pushdown: the entries in a uniformly random order (in memory, nothing read),
        // then the first `n` live ones: a uniform draw without replacement.
        let draw = plan
            .sample_pushdown()
            .filter(|(i, _)| *i == at)
            .map(|(_, n)| n);
        if draw.is_some() {
            shuffle(&mut adj, plan.seed);
        }
        let now = model.now_s();
        let mut all = Vec::new();
        // Packs of this vertex read so far (a vertex has few: its edges fill them in order).
        let mut packs: Vec<(u32, Option<EdgePack>)> = Vec::new();
        for a in adj {
            if draw.is_some_and(|n| confirmed >= n) {
                break;
            }
            if wanted.is_some_and(|n| confirmed >= n)
                && (edges || a.dir == Dir::In || !kept.contains(&a.other))
            {
                continue;
            }
            let ord = branch(&t.ord, all.len());
            // An in-edge whose pack this core holds (a self-loop, or a neighbour on this
            // core) is checked here when only counted.
            let local_in = count_here
                && a.dir == Dir::In
                && (model.kv.is_local)(&crate::model::keys::pack_digest(
                    &self.q.space.vertex_digest(&a.other),
                    a.pack_no,
                ));
            if local_in {
                let od = self.q.space.vertex_digest(&a.other);
                let pack = self.pack_at(&od, a.pack_no, self.no_props()).await?;
                let live = pack.as_ref().is_some_and(|p| {
                    p.edges
                        .iter()
                        .any(|e| e.id == a.edge && !expired(e.void_time_s, now))
                });
                if live {
                    counted = counted.saturating_add(t.bulk);
                }
                continue;
            }
            let next = match a.dir {
                Dir::Out => {
                    // Each of this vertex's packs is read and decoded once for all its
                    // edges listed here.
                    let at_pack = match packs.iter().position(|(n, _)| *n == a.pack_no) {
                        Some(i) => i,
                        None => {
                            let p = self.pack_at(vd, a.pack_no, self.no_props()).await?;
                            packs.push((a.pack_no, p));
                            packs.len() - 1
                        }
                    };
                    let pack = packs.get(at_pack).and_then(|(_, p)| p.as_ref());
                    let Some(e) = pack.and_then(|p| {
                        p.edges
                            .iter()
                            .find(|e| e.id == a.edge && !expired(e.void_time_s, now))
                    }) else {
                        continue;
                    };
                    if edges || draw.is_some() || kept.insert(e.in_id.clone()) {
                        confirmed += 1;
                    }
                    if count_here {
                        counted = counted.saturating_add(t.bulk);
                        continue;
                    }
                    if edges {
                        Tr {
                            elem: Elem::E(EdgeRef {
                                id: a.edge.clone(),
                                out: rec.id.clone(),
                                pack_no: a.pack_no,
                                from_out: true,
                            }),
                            at: t.at + 1,
                            bulk: t.bulk,
                            check: Check::None,
                            hint: None,
                            ord,
                        }
                    } else {
                        Tr {
                            elem: Elem::V(e.in_id.clone()),
                            at: t.at + 1,
                            bulk: t.bulk,
                            check: Check::None,
                            hint: Some(e.in_label.clone()),
                            ord,
                        }
                    }
                }
                Dir::In if edges => {
                    // Checked where the edge's pack is: not a confirmed neighbour yet.
                    Tr {
                        elem: Elem::E(EdgeRef {
                            id: a.edge.clone(),
                            out: a.other.clone(),
                            pack_no: a.pack_no,
                            from_out: false,
                        }),
                        at: t.at + 1,
                        bulk: t.bulk,
                        check: Check::None,
                        hint: None,
                        ord,
                    }
                }
                Dir::In => Tr {
                    elem: Elem::V(a.other.clone()),
                    at: t.at + 1,
                    bulk: t.bulk,
                    check: Check::Edge {
                        edge: a.edge.clone(),
                        pack_no: a.pack_no,
                    },
                    hint: None,
                    ord,
                },
            };
            all.push(next);
            if all.len() as u64 > self.q.traversers_max {
                return Err(limit(self.q.traversers_max));
            }
        }
        if counted > 0 {
            self.emit_at(at, Value::Null, counted, &t.ord)?;
        }
        // Last in, first out: push in reverse so the first neighbour goes first.
        for n in all.into_iter().rev() {
            self.push(n)?;
        }
        Ok(())
    }

    /// A traverser past the local operations (or at its final map step): its results.
    fn finish(&mut self, t: &Tr, here: &Here) -> Result<(), GremlinError> {
        let last = self.q.plan.ops.get(t.at as usize);
        let bulk = t.bulk;
        // The map step that makes the result (a traverser past the last step was counted
        // where it was made).
        let at = t.at as usize;
        match (last, here) {
            (Some(Op::Values(keys)), Here::V(rec)) => {
                let want = |k: &Arc<str>| keys.is_empty() || keys.contains(k);
                for vp in rec.iter().flat_map(|r| r.props.iter()) {
                    if want(&vp.key) {
                        self.emit_at(at, vp.value.clone(), bulk, &t.ord)?;
                    }
                }
            }
            (Some(Op::Values(keys)), Here::E(e)) => {
                let want = |k: &Arc<str>| keys.is_empty() || keys.contains(k);
                for p in &e.props {
                    if want(&p.key) {
                        self.emit_at(at, p.value.clone(), bulk, &t.ord)?;
                    }
                }
            }
            (Some(Op::Id), Here::V(Some(r))) => self.emit_at(at, r.id.to_value(), bulk, &t.ord)?,
            (Some(Op::Id), Here::V(None)) => {
                if let Elem::V(id) = &t.elem {
                    self.emit_at(at, id.to_value(), bulk, &t.ord)?;
                }
            }
            (Some(Op::Id), Here::E(e)) => self.emit_at(at, e.id.to_value(), bulk, &t.ord)?,
            (Some(Op::Label), Here::V(rec)) => {
                let l = match (rec, &t.hint) {
                    (Some(r), _) => r.label.clone(),
                    (None, Some(h)) => h.clone(),
                    (None, None) => Arc::from("vertex"),
                };
                self.emit_at(at, Value::String(l), bulk, &t.ord)?;
            }
            (Some(Op::Label), Here::E(e)) => {
                self.emit_at(at, Value::String(e.label.clone()), bulk, &t.ord)?
            }
            (Some(_), _) => {
                return Err(GremlinError::Graph(
                    "frontier: finished before the last step (plan error)".to_string(),
                ))
            }
            (None, Here::V(rec)) => {
                let Elem::V(id) = &t.elem else {
                    return Ok(());
                };
                let v = match (self.q.plan.need, rec) {
                    (Need::Bulk, _) => Value::Null,
                    (Need::Value, Some(r)) => Value::Vertex(Arc::new(vertex_value(r))),
                    (_, Some(r)) => vertex_ref(id, Some(&r.label)),
                    (_, None) => vertex_ref(id, t.hint.as_ref()),
                };
                self.emit(v, bulk, &t.ord)?;
            }
            (None, Here::E(e)) => {
                let v = match self.q.plan.need {
                    Need::Bulk => Value::Null,
                    Need::Value => Value::Edge(Arc::new(edge_value(e))),
                    Need::Identity => Value::Edge(Arc::new(Edge {
                        properties: None,
                        ..edge_value(e)
                    })),
                };
                self.emit(v, bulk, &t.ord)?;
            }
        }
        Ok(())
    }
}

/// The answer to a mid-traversal index probe ([`MidIndex::Probe`]): the ids every shard of
/// this core's ready index names for the plan's filters, read from memory (no record);
/// an error when a shard has no such index or the candidates pass
/// [`MID_INDEX_CANDIDATES_MAX`].
fn probe<K: Kv, F: Fn(&Digest) -> bool>(
    model: &Model<ReadKv<K, F>>,
    q: &Query,
    edges: bool,
) -> Result<Reply, GremlinError> {
    let none = || GremlinError::Graph("frontier: no ready index for the probe".to_string());
    let ix = model.kv.indexes().ok_or_else(none)?;
    let rest = q.plan.ops.get(1..).unwrap_or(&[]);
    let mut results = Vec::new();
    for s in ix.shard_ids() {
        match ix.choose(s, q.space.name(), rest, edges) {
            crate::index::StartChoice::Index { candidates, .. } => {
                for (_, id) in candidates {
                    results.push((id.to_value(), 1, Vec::new()));
                }
            }
            crate::index::StartChoice::Scan => return Err(none()),
        }
        if results.len() > MID_INDEX_CANDIDATES_MAX {
            return Err(GremlinError::LimitExceeded {
                limit: "MID_INDEX_CANDIDATES_MAX",
                max: MID_INDEX_CANDIDATES_MAX as u64,
            });
        }
    }
    Ok(Reply {
        results,
        ..Reply::default()
    })
}

/// Evaluates `batch` on the core whose records `inner` reads (`is_local` says which digests
/// are its own). Traversers that reach another core's element come back in
/// [`Reply::forward`]; finished values (merged by equality, bulks summed) in
/// [`Reply::results`].
pub async fn process<K: Kv, F: Fn(&Digest) -> bool>(
    inner: K,
    is_local: F,
    q: &Query,
    batch: Batch,
) -> Result<Reply, GremlinError> {
    // A batch of a query already given up (it waited in the inbox) is not started.
    if let Some(e) = q.stopped() {
        return Err(e);
    }
    let model = Model::new(
        ReadKv::new(inner, is_local),
        q.space.clone(),
        q.model.clone(),
        Box::new(ManualClock(Cell::new(q.now_s))),
    )
    .map_err(to_gremlin)?;
    let mut run = Run {
        q,
        model: &model,
        work: batch.trs,
        forward: Vec::new(),
        merged: IndexMap::new(),
        listed: Vec::new(),
        out_trs: Vec::new(),
        out_bulk: Vec::new(),
        keys: q.plan.prop_keys(),
        prop_bytes: RefCell::new(Vec::new()),
        deferred: Vec::new(),
    };
    if let MidIndex::Probe { edges } = &q.plan.mid_index {
        return probe(&model, q, *edges);
    }
    // The batch is processed last-in first-out: reverse so that its first traverser goes
    // first.
    run.work.reverse();
    // The start of a scan: secondary indexes or counters (crate::index) where they answer.
    let ids = if batch.scan {
        match crate::index::owner_start(&model, q, batch.slice).await? {
            crate::index::OwnerStart::Count(n) => {
                let bulk = i64::try_from(n).unwrap_or(i64::MAX);
                let results = if bulk > 0 {
                    vec![(Value::Null, bulk, vec![batch.scan_ord, 0])]
                } else {
                    Vec::new()
                };
                return Ok(Reply {
                    forward: Vec::new(),
                    results,
                    reads: model.kv.reads.borrow().clone(),
                    bytes: model.kv.bytes.borrow().clone(),
                    device_bytes: model.kv.device_bytes.borrow().clone(),
                    // The counters answered: one count result standing for `n` elements.
                    traversers: vec![u64::from(n > 0)],
                    elements: vec![n],
                    nanos: Vec::new(),
                    prop_bytes: Vec::new(),
                    deferred: Vec::new(),
                });
            }
            crate::index::OwnerStart::Elems(e) => e,
        }
    } else {
        Vec::new()
    };
    // Scanned vertices enter in chunks of FRONTIER_BATCH_MAX, each run to the end before
    // the next, so the work stack stays bounded however many vertices the core has.
    let mut scanned = ids.into_iter().enumerate();
    let mut nanos: Vec<u64> = Vec::new();
    let mut done = 0usize;
    loop {
        if run.work.is_empty() {
            let chunk: Vec<_> = scanned.by_ref().take(FRONTIER_BATCH_MAX).collect();
            if chunk.is_empty() {
                break;
            }
            // The chunk's vertices (in the scan's location order) are read together now,
            // counted for the scan step, rather than one at a time by their traversers.
            let digests: Vec<Digest> = chunk
                .iter()
                .filter_map(|(_, e)| match e {
                    Elem::V(id) => Some(q.space.vertex_digest(id)),
                    _ => None,
                })
                .collect();
            if !digests.is_empty() {
                // Where each traverser's own read of its vertex was counted.
                model.kv.op.set(1);
                model
                    .kv
                    .prefetch(&digests)
                    .await
                    .map_err(|e| to_gremlin(ModelError::from(e)))?;
            }
            add_at(&mut run.out_trs, 0, chunk.len() as u64);
            add_at(&mut run.out_bulk, 0, chunk.len() as u64);
            for (i, elem) in chunk.into_iter().rev() {
                run.work.push(Tr {
                    elem,
                    at: 1,
                    bulk: 1,
                    check: Check::None,
                    hint: None,
                    ord: vec![batch.scan_ord, u32::try_from(i).unwrap_or(u32::MAX)],
                });
            }
        }
        let Some(t) = run.work.pop() else {
            continue;
        };
        done += 1;
        if done % DEADLINE_CHECK_TRAVERSERS == 0 {
            if let Some(e) = q.stopped() {
                return Err(e);
            }
        }
        if t.bulk <= 0 {
            continue;
        }
        if let Some(v) = run.free_finish(&t) {
            if (t.at as usize) < q.plan.ops.len() {
                run.emit_at(t.at as usize, v, t.bulk, &t.ord)?;
            } else {
                run.emit(v, t.bulk, &t.ord)?;
            }
            continue;
        }
        let home = t.elem.home(&q.space);
        if !(model.kv.is_local)(&home) {
            run.forward.push(t);
            continue;
        }
        let entered = t.at as usize;
        let started = Instant::now();
        run.one(t, home).await?;
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        add_at(&mut nanos, entered, ns);
    }
    let reads = model.kv.reads.borrow().clone();
    let bytes = model.kv.bytes.borrow().clone();
    let device_bytes = model.kv.device_bytes.borrow().clone();
    Ok(Reply {
        bytes,
        device_bytes,
        prop_bytes: run.prop_bytes.take(),
        traversers: run.out_trs,
        elements: run.out_bulk,
        nanos,
        forward: run.forward,
        deferred: run.deferred,
        results: run
            .listed
            .into_iter()
            .chain(run.merged.into_iter().map(|(v, (b, o))| (v, b, o)))
            .collect(),
        reads,
    })
}
