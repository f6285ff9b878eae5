//! Per-shard secondary indexes and exact element counters, held in memory on the core that
//! owns the shard. Every applied record write reaches [`CoreIndexes::observe`] through the
//! shard's write hook (`shards::Shard::set_write_hook`), in the write's synchronous section,
//! so an index changes in the same step as the record and in the same order; nothing here
//! is held across an `.await`. Contents are rebuilt at open and built online at creation
//! by a background scan ([`build`]); a query uses an index (or the counters) of a shard only
//! once that shard's copy is ready, and otherwise scans. Index answers are candidate sets:
//! the plan keeps the `has()` that chose them, so the owner re-checks every candidate on its
//! record and an index only ever decides which records are read, never what matches.
//! Definitions live in [`catalog`] (cluster-wide, persisted in the data directory).

pub mod catalog;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::ops::Bound;
use std::rc::Rc;
use std::sync::Arc;

use gremlin::machine::sem;
use gremlin::value::{Predicate, Value};
use shards::Shard;

use crate::frontier::Op;
use crate::model::keys::{ElementId, KeySpace};
use crate::model::kv::Digest;
use crate::model::records::{
    expired, EdgePack, VertexRecord, FLAG_DROPPING, MAGIC_PACK, MAGIC_VERTEX,
};

pub use catalog::{IndexCatalog, IndexDef, IndexKind};

/// Default memory one index may take on one core before it is refused (bytes, estimated).
pub const INDEX_MEMORY_BYTES_DEFAULT: u64 = 256 << 20;
/// Largest memory limit an index may be given (bytes).
pub const INDEX_MEMORY_BYTES_MAX: u64 = 64 << 30;
/// Most indexes (all graphs).
pub const INDEXES_MAX: usize = 64;
/// Most keys of a compound index.
pub const COMPOUND_KEYS_MAX: usize = 8;
/// Most entries one vertex adds to a compound index (multi-properties multiply); past it
/// the index is refused for that vertex's shard (marked failed).
pub const COMPOUND_COMBINATIONS_MAX: usize = 64;
/// Reads a build has in flight: its location-ordered list of records is read in stretches
/// of [`crate::model::ops::SCAN_RUN_RECORDS`] (`Shard::get_run`: neighbouring records in one
/// device read), this many stretches at once.
pub const BUILD_READS_IN_FLIGHT_MAX: usize = 32;
/// Records of one chunk of a build's scan (its reads in flight at once; the build yields to
/// other tasks between chunks).
pub const BUILD_CHUNK_RECORDS: usize =
    BUILD_READS_IN_FLIGHT_MAX * crate::model::ops::SCAN_RUN_RECORDS;
/// How often a build logs its progress.
pub const BUILD_PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// Pack numbers tried when a pack's graph is ambiguous (the same owner id in two graphs).
pub const PACK_PROBE_MAX: u32 = 64;
/// Fixed bytes counted per index entry (map node, set slot, digest) in the memory estimate.
pub const ENTRY_OVERHEAD_BYTES: u64 = 96;

/// An index key: one property value, normalized so that values the step machine's equality
/// calls equal map to one key (every number is its `f64` order key, so `1`, `1L` and `1.0`
/// share a key; a string is never a number). Keys may collide for unequal values (big
/// integers past `f64` precision, hashed kinds): callers re-check, so a key set only needs
/// to be a superset of the matches.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IKey {
    Null,
    Bool(bool),
    /// A number's order-preserving `f64` bits.
    Num(u64),
    NaN,
    Str(Arc<str>),
    /// `Date`: ms since the epoch.
    Date(i64),
    /// `OffsetDateTime`: the instant (seconds, nanos).
    DateTime(i64, u32),
    /// Any other kind: its Java-semantics hash.
    Other(u64),
}

/// Order-preserving bits of a finite or infinite `f64` (`-0.0` is `0.0`).
fn ord_bits(x: f64) -> u64 {
    let x = if x == 0.0 { 0.0 } else { x };
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

impl IKey {
    /// The key of a value.
    pub fn of(v: &Value) -> IKey {
        match v {
            Value::Null => IKey::Null,
            Value::Bool(b) => IKey::Bool(*b),
            Value::String(s) => IKey::Str(s.clone()),
            Value::Date(ms) => IKey::Date(*ms),
            Value::DateTime(d) => IKey::DateTime(d.epoch_seconds, d.nanos),
            _ if sem::is_number(v) => match sem::to_f64(v) {
                Some(x) if x.is_nan() => IKey::NaN,
                Some(x) => IKey::Num(ord_bits(x)),
                None => IKey::NaN,
            },
            other => {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                other.hash(&mut h);
                IKey::Other(h.finish())
            }
        }
    }

    /// The smallest and largest key of `v`'s kind, for open-ended ranges (`None`: the kind
    /// has no index range).
    fn kind_bounds(v: &Value) -> Option<(IKey, IKey)> {
        match IKey::of(v) {
            IKey::Num(_) => Some((IKey::Num(0), IKey::Num(u64::MAX))),
            IKey::Date(_) => Some((IKey::Date(i64::MIN), IKey::Date(i64::MAX))),
            IKey::DateTime(..) => Some((
                IKey::DateTime(i64::MIN, 0),
                IKey::DateTime(i64::MAX, u32::MAX),
            )),
            _ => None,
        }
    }
}

/// The key ranges (inclusive) holding every value `p` can accept, or `None` when `p` is not
/// one an index answers (`neq`, `outside`, text predicates, string ranges, ...).
pub fn key_ranges(p: &Predicate) -> Option<Vec<(IKey, IKey)>> {
    if p.text {
        return None;
    }
    let point = |v: &Value| {
        let k = IKey::of(v);
        (k.clone(), k)
    };
    let arg = |i: usize| p.args.get(i);
    match &*p.name {
        "eq" => Some(vec![point(arg(0)?)]),
        "within" => {
            let vals: Vec<&Value> = match p.args.as_slice() {
                [Value::List(l)] => l.iter().collect(),
                [Value::Set(s)] => s.iter().collect(),
                other => other.iter().collect(),
            };
            Some(vals.into_iter().map(point).collect())
        }
        "lt" | "lte" => {
            let v = arg(0)?;
            let (lo, _) = IKey::kind_bounds(v)?;
            Some(vec![(lo, IKey::of(v))])
        }
        "gt" | "gte" => {
            let v = arg(0)?;
            let (_, hi) = IKey::kind_bounds(v)?;
            Some(vec![(IKey::of(v), hi)])
        }
        "between" | "inside" => {
            let (a, b) = (arg(0)?, arg(1)?);
            IKey::kind_bounds(a)?;
            let (ka, kb) = (IKey::of(a), IKey::of(b));
            if std::mem::discriminant(&ka) != std::mem::discriminant(&kb) {
                return None;
            }
            Some(if ka <= kb { vec![(ka, kb)] } else { Vec::new() })
        }
        _ => None,
    }
}

/// Build state of one shard's copy of an index (or of its counters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Scanning: records done of a snapshot of `total`.
    Building {
        done: u64,
        total: u64,
    },
    Ready,
    /// Refused (memory limit) or broken; not used.
    Failed(String),
}

/// What one vertex record contributes.
#[derive(Clone, Debug)]
struct VInfo {
    graph: usize,
    label: Arc<str>,
    void_s: u32,
    next_pack: u32,
}

/// What one edge pack contributes: its live-or-pending edges (id, label, void time).
#[derive(Clone, Debug)]
struct PInfo {
    graph: usize,
    edges: Vec<(ElementId, Arc<str>, u32)>,
}

/// Element counters of one graph on one shard. Elements with a void time are also listed
/// (`ttl_*`) so that expired but unswept ones are subtracted at count time.
#[derive(Clone, Debug, Default)]
struct Counts {
    vertices: u64,
    v_label: HashMap<Arc<str>, u64>,
    edges: u64,
    e_label: HashMap<Arc<str>, u64>,
    ttl_vertices: HashSet<Digest>,
    ttl_packs: HashSet<Digest>,
}

fn bump(m: &mut HashMap<Arc<str>, u64>, k: &Arc<str>, up: bool) {
    let n = m.entry(k.clone()).or_insert(0);
    *n = if up {
        n.saturating_add(1)
    } else {
        n.saturating_sub(1)
    };
    if *n == 0 {
        m.remove(k);
    }
}

/// One shard's copy of one index.
struct IxData {
    def: Arc<IndexDef>,
    graph: usize,
    status: Status,
    /// Digests written since the build started (the build skips them: the write was newer).
    touched: HashSet<Digest>,
    /// Entries by key: (record digest, element id); a pack holds several edges.
    map: BTreeMap<Vec<IKey>, HashSet<(Digest, ElementId)>>,
    /// Keys each record's entries are under (to remove them when it changes).
    rev: HashMap<Digest, Vec<(Vec<IKey>, ElementId)>>,
    bytes: u64,
}

fn key_bytes(k: &[IKey]) -> u64 {
    k.iter()
        .map(|x| match x {
            IKey::Str(s) => 16 + s.len() as u64,
            _ => 16,
        })
        .sum()
}

impl IxData {
    fn new(def: Arc<IndexDef>, graph: usize) -> IxData {
        IxData {
            def,
            graph,
            status: Status::Building { done: 0, total: 0 },
            touched: HashSet::new(),
            map: BTreeMap::new(),
            rev: HashMap::new(),
            bytes: 0,
        }
    }

    fn remove(&mut self, d: &Digest) {
        let Some(old) = self.rev.remove(d) else {
            return;
        };
        for (k, id) in old {
            self.bytes = self
                .bytes
                .saturating_sub(ENTRY_OVERHEAD_BYTES + key_bytes(&k));
            if let Some(set) = self.map.get_mut(&k) {
                set.remove(&(*d, id));
                if set.is_empty() {
                    self.map.remove(&k);
                }
            }
        }
    }

    fn insert(&mut self, d: Digest, entries: Vec<(Vec<IKey>, ElementId)>) {
        if entries.is_empty() || matches!(self.status, Status::Failed(_)) {
            return;
        }
        for (k, id) in &entries {
            self.bytes = self
                .bytes
                .saturating_add(ENTRY_OVERHEAD_BYTES + key_bytes(k));
            self.map
                .entry(k.clone())
                .or_default()
                .insert((d, id.clone()));
        }
        self.rev.insert(d, entries);
        if self.bytes > self.def.memory_bytes_max {
            self.fail(format!(
                "memory limit memory_bytes_max ({}) exceeded on this shard: index refused",
                self.def.memory_bytes_max
            ));
        }
    }

    fn fail(&mut self, why: String) {
        self.status = Status::Failed(why);
        self.map.clear();
        self.rev.clear();
        self.touched.clear();
        self.bytes = 0;
    }

    /// The entries a vertex record gives this index.
    fn vertex_entries(&self, v: &VertexRecord) -> Result<Vec<(Vec<IKey>, ElementId)>, String> {
        match &self.def.kind {
            IndexKind::VertexLabel => Ok(vec![(vec![IKey::Str(v.label.clone())], v.id.clone())]),
            IndexKind::VertexProps(keys) => {
                let mut combos: Vec<Vec<IKey>> = vec![Vec::new()];
                for k in keys {
                    let vals: Vec<IKey> = v
                        .props
                        .iter()
                        .filter(|p| p.key == *k)
                        .map(|p| IKey::of(&p.value))
                        .collect();
                    if vals.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut next = Vec::with_capacity(combos.len() * vals.len());
                    for c in &combos {
                        for x in &vals {
                            let mut c2 = c.clone();
                            c2.push(x.clone());
                            next.push(c2);
                        }
                    }
                    if next.len() > COMPOUND_COMBINATIONS_MAX {
                        return Err(format!(
                            "vertex {} gives more than COMPOUND_COMBINATIONS_MAX ({COMPOUND_COMBINATIONS_MAX}) entries",
                            v.id
                        ));
                    }
                    combos = next;
                }
                combos.sort();
                combos.dedup();
                Ok(combos.into_iter().map(|c| (c, v.id.clone())).collect())
            }
            IndexKind::EdgeProp(_) => Ok(Vec::new()),
        }
    }

    fn pack_entries(&self, p: &EdgePack) -> Vec<(Vec<IKey>, ElementId)> {
        let IndexKind::EdgeProp(k) = &self.def.kind else {
            return Vec::new();
        };
        let mut out: Vec<(Vec<IKey>, ElementId)> = Vec::new();
        for e in &p.edges {
            for pr in e.props.iter().filter(|pr| pr.key == *k) {
                out.push((vec![IKey::of(&pr.value)], e.id.clone()));
            }
        }
        out
    }
}

/// The decoded meaning of one record for the indexes.
enum Rec {
    Vertex(usize, VertexRecord),
    Pack(usize, EdgePack),
    /// Unknown or foreign, or a pack whose graph could not be told (counted as unresolved).
    Other,
}

/// One shard's indexes and counters.
struct ShardIx {
    base: Status,
    base_touched: HashSet<Digest>,
    vertices: HashMap<Digest, VInfo>,
    packs: HashMap<Digest, PInfo>,
    counts: Vec<Counts>,
    /// Packs whose graph could not be told: edge counts of this shard are not exact.
    unresolved_packs: HashSet<Digest>,
    ixs: Vec<IxData>,
}

/// The indexes and counters of every shard one core owns. Lives on that core (`Rc`).
pub struct CoreIndexes {
    graphs: Vec<KeySpace>,
    shards: RefCell<BTreeMap<u32, ShardIx>>,
    catalog: Option<IndexCatalog>,
    core: usize,
}

/// Index candidates: (record digest, element id).
pub type Candidates = Vec<(Digest, ElementId)>;

/// How a frontier start reads its vertices on one shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartChoice {
    /// Scan every record.
    Scan,
    /// Only these candidates (digest, id) from index `name`.
    Index {
        name: Arc<str>,
        candidates: Vec<(Digest, ElementId)>,
    },
}

impl CoreIndexes {
    /// The indexes of core `core` over graphs `graphs` (numbered in this order), reporting
    /// build progress to `catalog`.
    pub fn new(graphs: Vec<KeySpace>, catalog: Option<IndexCatalog>, core: usize) -> Rc<Self> {
        Rc::new(CoreIndexes {
            graphs,
            shards: RefCell::new(BTreeMap::new()),
            catalog,
            core,
        })
    }

    /// Starts tracking `shard`: installs its write hook; contents come from [`build`].
    pub fn attach(self: &Rc<Self>, shard: &Shard) {
        let id = shard.id();
        self.shards.borrow_mut().insert(
            id,
            ShardIx {
                base: Status::Building { done: 0, total: 0 },
                base_touched: HashSet::new(),
                vertices: HashMap::new(),
                packs: HashMap::new(),
                counts: vec![Counts::default(); self.graphs.len()],
                unresolved_packs: HashSet::new(),
                ixs: Vec::new(),
            },
        );
        let me = Rc::downgrade(self);
        shard.set_write_hook(Some(Rc::new(move |d: &Digest, p: Option<&[u8]>| {
            if let Some(me) = me.upgrade() {
                me.observe(id, d, p);
            }
        })));
    }

    fn graph_of(&self, name: &str) -> Option<usize> {
        self.graphs.iter().position(|g| g.name() == name)
    }

    fn decode(&self, sx: &ShardIx, d: &Digest, payload: Option<&[u8]>) -> Rec {
        let Some(p) = payload else { return Rec::Other };
        match p.first() {
            Some(&MAGIC_VERTEX) => {
                let Ok(v) = VertexRecord::decode(p) else {
                    return Rec::Other;
                };
                match self
                    .graphs
                    .iter()
                    .position(|g| g.vertex_digest(&v.id) == *d)
                {
                    Some(g) if v.flags & FLAG_DROPPING == 0 => Rec::Vertex(g, v),
                    _ => Rec::Other,
                }
            }
            Some(&MAGIC_PACK) => {
                let Ok(pk) = EdgePack::decode(p) else {
                    return Rec::Other;
                };
                if self.graphs.len() == 1 {
                    return Rec::Pack(0, pk);
                }
                // The graph whose owner vertex digest makes this pack digest.
                let mut found = None;
                for (g, ks) in self.graphs.iter().enumerate() {
                    let vd = ks.vertex_digest(&pk.owner);
                    let top = sx
                        .vertices
                        .get(&vd)
                        .map_or(0, |v| v.next_pack)
                        .saturating_add(PACK_PROBE_MAX);
                    if (0..top).any(|n| crate::model::keys::pack_digest(&vd, n) == *d) {
                        found = Some(g);
                        break;
                    }
                }
                match found {
                    Some(g) => Rec::Pack(g, pk),
                    None => Rec::Other,
                }
            }
            _ => Rec::Other,
        }
    }

    /// Applies one written record (`None`: deleted) to shard `shard`'s indexes and counters.
    /// Called by the shard's write hook, synchronously with the write.
    pub fn observe(&self, shard: u32, d: &Digest, payload: Option<&[u8]>) {
        let mut shards = self.shards.borrow_mut();
        let Some(sx) = shards.get_mut(&shard) else {
            return;
        };
        let rec = self.decode(sx, d, payload);
        let unresolved = matches!(payload.and_then(|p| p.first()), Some(&MAGIC_PACK))
            && matches!(rec, Rec::Other);
        if matches!(sx.base, Status::Building { .. }) {
            sx.base_touched.insert(*d);
        }
        apply_base(sx, d, &rec, unresolved);
        for ix in &mut sx.ixs {
            if matches!(ix.status, Status::Building { .. }) {
                ix.touched.insert(*d);
            }
            apply_ix(ix, d, &rec);
        }
    }

    /// Registers a definition on every shard of this core (building), or does nothing when
    /// it is there already. Returns whether it was new.
    pub fn add_index(&self, def: Arc<IndexDef>) -> bool {
        let Some(g) = self.graph_of(&def.graph) else {
            return false;
        };
        let mut shards = self.shards.borrow_mut();
        let mut new = false;
        for sx in shards.values_mut() {
            if sx.ixs.iter().any(|i| i.def.name == def.name) {
                continue;
            }
            sx.ixs.push(IxData::new(def.clone(), g));
            new = true;
        }
        new
    }

    /// Forgets an index on every shard of this core.
    pub fn drop_index(&self, name: &str) {
        for sx in self.shards.borrow_mut().values_mut() {
            sx.ixs.retain(|i| &*i.def.name != name);
        }
    }

    /// Names of the indexes this core has.
    pub fn index_names(&self) -> Vec<Arc<str>> {
        let shards = self.shards.borrow();
        let mut out: Vec<Arc<str>> = Vec::new();
        for sx in shards.values() {
            for i in &sx.ixs {
                if !out.contains(&i.def.name) {
                    out.push(i.def.name.clone());
                }
            }
        }
        out
    }

    /// Status of index `name` over this core's shards (`None`: not here): ready only when
    /// every shard is; failed when any is; otherwise building with summed progress.
    pub fn status(&self, name: &str) -> Option<(Status, u64)> {
        let shards = self.shards.borrow();
        let mut done = 0u64;
        let mut total = 0u64;
        let mut bytes = 0u64;
        let mut building = false;
        let mut seen = false;
        for sx in shards.values() {
            let Some(ix) = sx.ixs.iter().find(|i| &*i.def.name == name) else {
                continue;
            };
            seen = true;
            bytes = bytes.saturating_add(ix.bytes);
            match &ix.status {
                Status::Failed(e) => return Some((Status::Failed(e.clone()), 0)),
                Status::Building { done: a, total: b } => {
                    building = true;
                    done += a;
                    total += b;
                }
                Status::Ready => {}
            }
        }
        if !seen {
            return None;
        }
        Some((
            if building {
                Status::Building { done, total }
            } else {
                Status::Ready
            },
            bytes,
        ))
    }

    /// Whether every shard's counters are ready.
    pub fn counts_ready(&self) -> bool {
        self.shards
            .borrow()
            .values()
            .all(|s| s.base == Status::Ready)
    }

    fn report(&self) {
        let Some(cat) = &self.catalog else { return };
        for name in self.index_names() {
            if let Some((st, bytes)) = self.status(&name) {
                cat.report(self.core, &name, st, bytes);
            }
        }
        cat.report_counts(self.core, self.counts_ready());
    }

    /// Exact count of live vertices (of `label`) of graph `graph` on shard `shard` at
    /// `now_s`, or `None` when the counters are not ready there.
    pub fn count_vertices(
        &self,
        shard: u32,
        graph: &str,
        label: Option<&str>,
        now_s: u32,
    ) -> Option<u64> {
        let g = self.graph_of(graph)?;
        let shards = self.shards.borrow();
        let sx = shards.get(&shard)?;
        if sx.base != Status::Ready {
            return None;
        }
        let c = sx.counts.get(g)?;
        let total = match label {
            None => c.vertices,
            Some(l) => c.v_label.get(l).copied().unwrap_or(0),
        };
        let gone = c
            .ttl_vertices
            .iter()
            .filter_map(|d| sx.vertices.get(d))
            .filter(|v| expired(v.void_s, now_s) && label.is_none_or(|l| &*v.label == l))
            .count() as u64;
        Some(total.saturating_sub(gone))
    }

    /// Exact count of live edges (of `label`) of graph `graph` whose out vertex is on shard
    /// `shard`, or `None` when not ready or not exact (a pack of unknown graph).
    pub fn count_edges(
        &self,
        shard: u32,
        graph: &str,
        label: Option<&str>,
        now_s: u32,
    ) -> Option<u64> {
        let g = self.graph_of(graph)?;
        let shards = self.shards.borrow();
        let sx = shards.get(&shard)?;
        if sx.base != Status::Ready || !sx.unresolved_packs.is_empty() {
            return None;
        }
        let c = sx.counts.get(g)?;
        let total = match label {
            None => c.edges,
            Some(l) => c.e_label.get(l).copied().unwrap_or(0),
        };
        let gone = c
            .ttl_packs
            .iter()
            .filter_map(|d| sx.packs.get(d))
            .flat_map(|p| p.edges.iter())
            .filter(|(_, l, void)| expired(*void, now_s) && label.is_none_or(|x| &**l == x))
            .count() as u64;
        Some(total.saturating_sub(gone))
    }

    /// Shard ids this core tracks.
    pub fn shard_ids(&self) -> Vec<u32> {
        self.shards.borrow().keys().copied().collect()
    }

    /// Live (or pending) records of graph `graph` on `shard`: vertices, or edges.
    fn records(&self, sx: &ShardIx, g: usize, edges: bool) -> u64 {
        sx.counts
            .get(g)
            .map_or(0, |c| if edges { c.edges } else { c.vertices })
    }

    /// How a start followed by the filters `ops` (the plan's operations after the start)
    /// reads graph `graph`'s vertices (or edges, `edges`) on `shard`: through the ready index
    /// that matches the fewest entries when that is fewer than the records there, else a
    /// scan. The filters stay in the plan and re-check every candidate.
    pub fn choose(&self, shard: u32, graph: &str, ops: &[Op], edges: bool) -> StartChoice {
        let Some(g) = self.graph_of(graph) else {
            return StartChoice::Scan;
        };
        let shards = self.shards.borrow();
        let Some(sx) = shards.get(&shard) else {
            return StartChoice::Scan;
        };
        let filters: Vec<&Op> = ops
            .iter()
            .take_while(|o| matches!(o, Op::HasProp(..) | Op::HasLabel(_) | Op::HasId(_)))
            .collect();
        let mut best: Option<(Arc<str>, Candidates)> = None;
        for ix in &sx.ixs {
            if ix.graph != g || ix.status != Status::Ready {
                continue;
            }
            let Some(ranges) = ranges_for(&ix.def.kind, &filters, edges) else {
                continue;
            };
            let mut seen = HashSet::new();
            let mut cands = Vec::new();
            for (lo, hi) in ranges {
                if lo > hi {
                    continue;
                }
                for (_, set) in ix
                    .map
                    .range::<Vec<IKey>, _>((Bound::Included(lo), Bound::Included(hi)))
                {
                    for (d, id) in set {
                        if seen.insert((*d, id.clone())) {
                            cands.push((*d, id.clone()));
                        }
                    }
                }
            }
            if best.as_ref().is_none_or(|b| cands.len() < b.1.len()) {
                best = Some((ix.def.name.clone(), cands));
            }
        }
        match best {
            Some((name, mut candidates))
                if (candidates.len() as u64) < self.records(sx, g, edges).max(1) =>
            {
                candidates.sort_by_key(|c| c.0 .0);
                StartChoice::Index { name, candidates }
            }
            _ => StartChoice::Scan,
        }
    }

    /// The names of ready indexes of graph `graph` that could answer `ops` (for explain).
    pub fn usable(&self, graph: &str, ops: &[Op], edges: bool) -> Vec<Arc<str>> {
        let Some(g) = self.graph_of(graph) else {
            return Vec::new();
        };
        let filters: Vec<&Op> = ops
            .iter()
            .take_while(|o| matches!(o, Op::HasProp(..) | Op::HasLabel(_) | Op::HasId(_)))
            .collect();
        let shards = self.shards.borrow();
        let mut out: Vec<Arc<str>> = Vec::new();
        for sx in shards.values() {
            for ix in &sx.ixs {
                if ix.graph == g
                    && ix.status == Status::Ready
                    && ranges_for(&ix.def.kind, &filters, edges).is_some()
                    && !out.contains(&ix.def.name)
                {
                    out.push(ix.def.name.clone());
                }
            }
        }
        out
    }
}

/// Inclusive ranges of whole index keys.
type KeyRanges = Vec<(Vec<IKey>, Vec<IKey>)>;

fn one_key(r: Vec<(IKey, IKey)>) -> KeyRanges {
    r.into_iter().map(|(a, b)| (vec![a], vec![b])).collect()
}

/// The key ranges index kind `kind` answers for the filters `filters` (`None`: it cannot).
fn ranges_for(kind: &IndexKind, filters: &[&Op], edges: bool) -> Option<KeyRanges> {
    match kind {
        IndexKind::VertexLabel if !edges => filters.iter().find_map(|o| match o {
            Op::HasLabel(p) => key_ranges(p).map(one_key),
            _ => None,
        }),
        IndexKind::EdgeProp(k) if edges => filters.iter().find_map(|o| match o {
            Op::HasProp(key, Some(p)) if key == k => key_ranges(p).map(one_key),
            _ => None,
        }),
        IndexKind::VertexProps(keys) if !edges && keys.len() == 1 => {
            let k = keys.first()?;
            filters.iter().find_map(|o| match o {
                Op::HasProp(key, Some(p)) if key == k => key_ranges(p).map(one_key),
                _ => None,
            })
        }
        IndexKind::VertexProps(keys) if !edges => {
            // Compound: equality (one value) on every key.
            let mut key = Vec::with_capacity(keys.len());
            for k in keys {
                let v = filters.iter().find_map(|o| match o {
                    Op::HasProp(key, Some(p)) if key == k && &*p.name == "eq" && !p.text => {
                        p.args.first()
                    }
                    _ => None,
                })?;
                key.push(IKey::of(v));
            }
            Some(vec![(key.clone(), key)])
        }
        _ => None,
    }
}

fn apply_base(sx: &mut ShardIx, d: &Digest, rec: &Rec, unresolved: bool) {
    // Remove what the digest held.
    if let Some(old) = sx.vertices.remove(d) {
        if let Some(c) = sx.counts.get_mut(old.graph) {
            c.vertices = c.vertices.saturating_sub(1);
            bump(&mut c.v_label, &old.label, false);
            c.ttl_vertices.remove(d);
        }
    }
    if let Some(old) = sx.packs.remove(d) {
        if let Some(c) = sx.counts.get_mut(old.graph) {
            for (_, l, _) in &old.edges {
                c.edges = c.edges.saturating_sub(1);
                bump(&mut c.e_label, l, false);
            }
            c.ttl_packs.remove(d);
        }
    }
    if unresolved {
        sx.unresolved_packs.insert(*d);
    } else {
        sx.unresolved_packs.remove(d);
    }
    match rec {
        Rec::Vertex(g, v) => {
            if let Some(c) = sx.counts.get_mut(*g) {
                c.vertices += 1;
                bump(&mut c.v_label, &v.label, true);
                if v.void_time_s != 0 {
                    c.ttl_vertices.insert(*d);
                }
            }
            sx.vertices.insert(
                *d,
                VInfo {
                    graph: *g,
                    label: v.label.clone(),
                    void_s: v.void_time_s,
                    next_pack: v.next_pack,
                },
            );
        }
        Rec::Pack(g, p) => {
            let edges: Vec<(ElementId, Arc<str>, u32)> = p
                .edges
                .iter()
                .map(|e| (e.id.clone(), e.label.clone(), e.void_time_s))
                .collect();
            if let Some(c) = sx.counts.get_mut(*g) {
                for (_, l, _) in &edges {
                    c.edges += 1;
                    bump(&mut c.e_label, l, true);
                }
                if edges.iter().any(|e| e.2 != 0) {
                    c.ttl_packs.insert(*d);
                }
            }
            sx.packs.insert(*d, PInfo { graph: *g, edges });
        }
        Rec::Other => {}
    }
}

fn apply_ix(ix: &mut IxData, d: &Digest, rec: &Rec) {
    if matches!(ix.status, Status::Failed(_)) {
        return;
    }
    ix.remove(d);
    let entries = match rec {
        Rec::Vertex(g, v) if *g == ix.graph => match ix.vertex_entries(v) {
            Ok(e) => e,
            Err(why) => {
                ix.fail(why);
                return;
            }
        },
        Rec::Pack(g, p) if *g == ix.graph => ix.pack_entries(p),
        _ => Vec::new(),
    };
    ix.insert(*d, entries);
}

/// Builds, on this core, the counters (when `base`) and every index still building, by one
/// scan of each shard's vertex and edge pack records (the only kinds they hold; picked by
/// their tag in the primary index, [`Shard::scan_tagged`], and read in device location
/// order). A record written while the scan runs is skipped (its write already applied the
/// newer state). Yields every [`BUILD_CHUNK_RECORDS`] records.
pub async fn build(ix: &Rc<CoreIndexes>, shards: &[Rc<Shard>]) {
    for shard in shards {
        let id = shard.id();
        let digests: Vec<Digest> = shard
            .scan_tagged(&[MAGIC_VERTEX, MAGIC_PACK], None)
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        let total = digests.len() as u64;
        // Which targets this pass builds (counters, indexes by name).
        let (base, names) = {
            let mut all = ix.shards.borrow_mut();
            let Some(sx) = all.get_mut(&id) else { continue };
            let base = matches!(sx.base, Status::Building { .. });
            if base {
                sx.base = Status::Building { done: 0, total };
            }
            let mut names = Vec::new();
            for i in &mut sx.ixs {
                if matches!(i.status, Status::Building { .. }) {
                    i.status = Status::Building { done: 0, total };
                    names.push(i.def.name.clone());
                }
            }
            (base, names)
        };
        if !base && names.is_empty() {
            continue;
        }
        let started = std::time::Instant::now();
        tracing::info!(
            shard = id,
            records = total,
            counters = base,
            indexes = names.len(),
            "index build: started"
        );
        let mut next_log = std::time::Instant::now() + BUILD_PROGRESS_EVERY;
        'scan: for (c, chunk) in digests.chunks(BUILD_CHUNK_RECORDS).enumerate() {
            ix.report();
            glommio::yield_if_needed().await;
            if std::time::Instant::now() >= next_log {
                next_log = std::time::Instant::now() + BUILD_PROGRESS_EVERY;
                tracing::info!(
                    shard = id,
                    done = c * BUILD_CHUNK_RECORDS,
                    total,
                    "index build: progress"
                );
            }
            // The chunk's stretches are read concurrently (the device serves them in
            // parallel); each record is applied after all of them are in, with no borrow
            // held across the await, and a record written meanwhile is skipped as below. A
            // stretch that fails is read again record by record, so that one damaged record
            // loses only itself.
            let reads: Vec<_> = chunk
                .chunks(crate::model::ops::SCAN_RUN_RECORDS)
                .map(|run| Box::pin(shard.get_run(run)))
                .collect();
            let mut got_all = Vec::with_capacity(chunk.len());
            for (run, got) in chunk
                .chunks(crate::model::ops::SCAN_RUN_RECORDS)
                .zip(crate::runtime::join_all(reads).await)
            {
                match got {
                    Ok(g) if g.len() == run.len() => got_all.extend(g.into_iter().map(Ok)),
                    _ => {
                        for d in run {
                            got_all.push(shard.get(d).await);
                        }
                    }
                }
            }
            for (k, (d, got)) in chunk.iter().zip(got_all).enumerate() {
                let n = c * BUILD_CHUNK_RECORDS + k;
                let got = match got {
                    Ok(g) => g,
                    Err(e) => {
                        tracing::warn!(shard = id, error = %e, "index build: record unreadable");
                        None
                    }
                };
                let payload = got.as_ref().map(|r| r.payload.as_slice());
                let mut all = ix.shards.borrow_mut();
                let Some(sx) = all.get_mut(&id) else {
                    break 'scan;
                };
                let rec = ix.decode(sx, d, payload);
                let unresolved = matches!(payload.and_then(|p| p.first()), Some(&MAGIC_PACK))
                    && matches!(rec, Rec::Other);
                let done = n as u64 + 1;
                if base && sx.base != Status::Ready {
                    if !sx.base_touched.contains(d) {
                        apply_base(sx, d, &rec, unresolved);
                    }
                    sx.base = Status::Building { done, total };
                }
                for i in &mut sx.ixs {
                    if !names.contains(&i.def.name) || !matches!(i.status, Status::Building { .. })
                    {
                        continue;
                    }
                    if !i.touched.contains(d) {
                        apply_ix(i, d, &rec);
                    }
                    if let Status::Building { .. } = i.status {
                        i.status = Status::Building { done, total };
                    }
                }
            }
        }
        tracing::info!(
            shard = id,
            records = total,
            ms = started.elapsed().as_millis() as u64,
            "index build: done"
        );
        let mut all = ix.shards.borrow_mut();
        if let Some(sx) = all.get_mut(&id) {
            if base {
                sx.base = Status::Ready;
                sx.base_touched = HashSet::new();
            }
            for i in &mut sx.ixs {
                if names.contains(&i.def.name) && matches!(i.status, Status::Building { .. }) {
                    i.status = Status::Ready;
                    i.touched = HashSet::new();
                }
            }
        }
    }
    ix.report();
}

/// How one core starts a `V()` scan of a frontier plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanStart {
    /// The plan is `V().count()` or `V().hasLabel(l).count()`: this many (from counters).
    Count(u64),
    /// Only these vertices (index candidates of every shard of the core), by index name.
    Ids(Arc<str>, Vec<ElementId>),
    /// Read every vertex.
    Scan,
}

/// The start of a `V()` frontier scan on this core (`ops` the plan's operations, `counting`
/// whether the rest of the traversal is exactly `count()`): counters when the plan only
/// counts (by label), an index when every shard of the core has a ready one that matches
/// fewer vertices than it holds, else a scan.
pub fn frontier_start(
    ix: &CoreIndexes,
    graph: &str,
    ops: &[Op],
    counting: bool,
    now_s: u32,
) -> ScanStart {
    let shards = ix.shard_ids();
    if counting {
        let label = match ops.get(1..) {
            Some([]) => Some(None),
            Some([Op::HasLabel(p)]) if &*p.name == "eq" && !p.text => match p.args.first() {
                Some(Value::String(s)) => Some(Some(s.clone())),
                _ => None,
            },
            _ => None,
        };
        if let Some(label) = label {
            let mut n = 0u64;
            let mut all = true;
            for s in &shards {
                match ix.count_vertices(*s, graph, label.as_deref(), now_s) {
                    Some(c) => n = n.saturating_add(c),
                    None => all = false,
                }
            }
            if all {
                return ScanStart::Count(n);
            }
        }
    }
    let rest = ops.get(1..).unwrap_or(&[]);
    let mut ids = Vec::new();
    let mut name = None;
    for s in &shards {
        match ix.choose(*s, graph, rest, false) {
            StartChoice::Index {
                name: n,
                candidates,
            } => {
                name.get_or_insert(n);
                ids.extend(candidates.into_iter().map(|(_, id)| id));
            }
            StartChoice::Scan => return ScanStart::Scan,
        }
    }
    match name {
        Some(n) => ScanStart::Ids(n, ids),
        None => ScanStart::Scan,
    }
}

/// Whether the frontier plan may start `E()` (no ids) as [`Op::ScanE`]: only as
/// `E().has(key, P)...`, `E().count()` or `E().hasLabel(l).count()`, the shapes an edge
/// index or the counters answer (other `E()` traversals stay on the attempts executor).
pub fn plan_scan_e(steps: &[gremlin::machine::compile::StepDef]) -> bool {
    use gremlin::machine::compile::{Cond, HasOn, Step};
    let step = |i: usize| steps.get(i).map(|s| &s.step);
    let has_prop = matches!(
        step(1),
        Some(Step::Has {
            on: HasOn::Prop(_),
            cond: Some(Cond::P(_))
        })
    );
    let count_at = |i: usize| steps.len() == i + 1 && matches!(step(i), Some(Step::Count(false)));
    let label_count = matches!(
        step(1),
        Some(Step::Has {
            on: HasOn::Label,
            cond: Some(Cond::P(_))
        })
    ) && count_at(2);
    has_prop || count_at(1) || label_count
}

/// How a frontier owner starts a scan (`V()` or `E()`).
#[derive(Clone, Debug)]
pub enum OwnerStart {
    /// The plan only counts: this many (from the counters, no record read).
    Count(u64),
    /// These elements (index candidates, or every one scanned), in start order.
    Elems(Vec<crate::frontier::Elem>),
}

/// The start of a frontier scan on the core `model` reads: counters when the plan is exactly
/// a count (of a label), an index when every shard of the core has a ready one matching
/// fewer elements than it holds, else a scan of the core's records. The plan's filters stay
/// and re-check every element.
pub async fn owner_start<K: crate::model::kv::Kv>(
    model: &crate::model::ops::Model<K>,
    q: &crate::frontier::Query,
    slice: crate::frontier::ScanSlice,
) -> Result<OwnerStart, gremlin::GremlinError> {
    use crate::frontier::Elem;
    use crate::model::adapter::to_gremlin;
    let ops = &q.plan.ops;
    let graph = q.space.name();
    // Exactly `count()` after the local part (need Bulk and one step more); the counters
    // answer for every partition, so only a batch of all of them counts.
    let counting = slice.is_all()
        && q.plan.need == crate::frontier::Need::Bulk
        && q.plan.step_names.len() == ops.len() + 1
        && q.plan.step_names.last().is_some_and(|s| s == "Count");
    let ix = model.kv.indexes();
    if !matches!(ops.first(), Some(Op::ScanE)) {
        if let Some(ix) = &ix {
            match frontier_start(ix, graph, ops, counting, q.now_s) {
                ScanStart::Count(n) => return Ok(OwnerStart::Count(n)),
                ScanStart::Ids(_, ids) => {
                    return Ok(OwnerStart::Elems(
                        ids.into_iter()
                            .filter(|id| slice.holds(&q.space.vertex_digest(id)))
                            .map(Elem::V)
                            .collect(),
                    ))
                }
                ScanStart::Scan => {}
            }
        }
        let ids = model
            .scan_vertex_ids_where(|d| slice.holds(d))
            .await
            .map_err(to_gremlin)?;
        return Ok(OwnerStart::Elems(ids.into_iter().map(Elem::V).collect()));
    }
    if let Some(ix) = &ix {
        let shards = ix.shard_ids();
        if counting {
            let label = match ops.get(1..) {
                Some([]) => Some(None),
                Some([Op::HasLabel(p)]) if &*p.name == "eq" && !p.text => match p.args.first() {
                    Some(Value::String(s)) => Some(Some(s.clone())),
                    _ => None,
                },
                _ => None,
            };
            if let Some(label) = label {
                let counts: Option<Vec<u64>> = shards
                    .iter()
                    .map(|s| ix.count_edges(*s, graph, label.as_deref(), q.now_s))
                    .collect();
                if let Some(c) = counts {
                    return Ok(OwnerStart::Count(c.iter().sum()));
                }
            }
        }
        let rest = ops.get(1..).unwrap_or(&[]);
        let mut ids = Vec::new();
        let mut all = !shards.is_empty();
        for s in &shards {
            match ix.choose(*s, graph, rest, true) {
                StartChoice::Index { candidates, .. } => ids.extend(
                    candidates
                        .into_iter()
                        .filter(|(_, id)| slice.holds(&q.space.edge_digest(id)))
                        .map(|(_, id)| Elem::Loc(id)),
                ),
                StartChoice::Scan => {
                    all = false;
                    break;
                }
            }
        }
        if all {
            return Ok(OwnerStart::Elems(ids));
        }
    }
    // Scan: every edge whose pack this core holds (as an edge index partitions them, so
    // that cores choosing differently still cover every edge once).
    let mut out = Vec::new();
    for d in model
        .kv
        .scan_tagged(&[MAGIC_PACK])
        .into_iter()
        .filter(|d| slice.holds(d))
    {
        let Some((pack, _)) = model.read::<EdgePack>(&d).await.ok().flatten() else {
            continue;
        };
        let vd = q.space.vertex_digest(&pack.owner);
        let top = match model.read::<VertexRecord>(&vd).await.ok().flatten() {
            Some((v, _)) => v.next_pack.saturating_add(PACK_PROBE_MAX),
            None => PACK_PROBE_MAX,
        };
        // This graph's pack of that owner (another graph's pack has another digest).
        let Some(pack_no) = (0..top).find(|n| crate::model::keys::pack_digest(&vd, *n) == d) else {
            continue;
        };
        for e in &pack.edges {
            if !expired(e.void_time_s, q.now_s) {
                out.push(Elem::E(crate::frontier::EdgeRef {
                    id: e.id.clone(),
                    out: pack.owner.clone(),
                    pack_no,
                    from_out: false,
                }));
            }
        }
    }
    Ok(OwnerStart::Elems(out))
}

/// The `explain()` line of a traversal's start on this core: for `V()`/`E()` without ids
/// followed by `has()` filters (and maybe `count()`), what each of this core's shards would
/// read — counters, which index with how many candidates, or a scan; empty for other starts.
pub fn explain_notes(
    ix: &CoreIndexes,
    graph: &str,
    steps: &[gremlin::machine::compile::StepDef],
    now_s: u32,
) -> Vec<String> {
    use gremlin::machine::compile::{Cond, HasOn, Step};
    // The explain() and profile() steps themselves are not part of what is explained.
    let steps = match steps.split_last() {
        Some((last, before)) if matches!(last.step, Step::Explain | Step::Profile) => before,
        _ => steps,
    };
    let edges = match steps.first().map(|s| &s.step) {
        Some(Step::V(ids)) if ids.is_empty() => false,
        Some(Step::E(ids)) if ids.is_empty() => true,
        _ => return Vec::new(),
    };
    let mut ops = vec![if edges { Op::ScanE } else { Op::Start(None) }];
    let mut i = 1;
    while let Some(s) = steps.get(i) {
        match &s.step {
            Step::Has {
                on: HasOn::Prop(k),
                cond: Some(Cond::P(p)),
            } => ops.push(Op::HasProp(k.clone(), Some(p.clone()))),
            Step::Has {
                on: HasOn::Label,
                cond: Some(Cond::P(p)),
            } => ops.push(Op::HasLabel(p.clone())),
            _ => break,
        }
        i += 1;
    }
    let counting =
        steps.len() == i + 1 && matches!(steps.get(i).map(|s| &s.step), Some(Step::Count(false)));
    let rest = ops.get(1..).unwrap_or(&[]);
    let label = match rest {
        [] => Some(None),
        [Op::HasLabel(p)] if &*p.name == "eq" && !p.text => match p.args.first() {
            Some(Value::String(s)) => Some(Some(s.clone())),
            _ => None,
        },
        _ => None,
    };
    let mut parts = Vec::new();
    for s in ix.shard_ids() {
        if counting {
            if let Some(l) = &label {
                let n = if edges {
                    ix.count_edges(s, graph, l.as_deref(), now_s)
                } else {
                    ix.count_vertices(s, graph, l.as_deref(), now_s)
                };
                if let Some(n) = n {
                    parts.push(format!("shard {s}: counters ({n})"));
                    continue;
                }
            }
        }
        match ix.choose(s, graph, rest, edges) {
            StartChoice::Index { name, candidates } => parts.push(format!(
                "shard {s}: index {name} ({} candidates)",
                candidates.len()
            )),
            StartChoice::Scan => parts.push(format!("shard {s}: full scan")),
        }
    }
    vec![format!(
        "start on core {}: {}",
        ix.core,
        if parts.is_empty() {
            "no shards".to_string()
        } else {
            parts.join(", ")
        }
    )]
}
