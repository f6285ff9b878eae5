//! Graph operations as pure logic over [`Kv`]: every record change is a generation-checked
//! read-modify-write retried on conflict (so concurrent updates never lose one another's
//! change), and multi-record changes are ordered so that a reader between two writes sees a
//! state it can serve (see `docs/graph-model.md`, "Write order").

use std::sync::Arc;

use gremlin::graph::Cardinality;
use gremlin::value::{Property, Value};

use crate::model::keys::{index_page_digest, pack_digest, Dir, ElementId, KeySpace};
use crate::model::kv::{Deferring, Digest, Kv, KvError, WriteMode};
use crate::model::locks::{KeyGuard, KeyLocks};
use crate::model::records::{
    earliest_void, expired, CacheEntry, EdgeLocator, EdgePack, IdGen, IndexEntry, IndexPage,
    LabelPages, PackEdge, VProp, VertexRecord, FLAG_DROPPING, FLAG_SUPERNODE, VOID_PENDING_S,
};
use crate::model::wire::DecodeError;
use crate::model::{ModelConfig, ModelError, RMW_ATTEMPTS_MAX};

pub mod repair;
pub use repair::RepairReport;

/// Ids one core reserves from its persisted allocator at a time.
pub const ID_BLOCK_IDS: u64 = 1024;
/// Bits of a generated id below the core number.
pub const ID_CORE_SHIFT_BITS: u32 = 48;
/// Generated ids tried before giving up when user-supplied ids occupy them.
pub const ID_COLLISIONS_MAX: u32 = 1024;

/// Most pages of one (vertex, direction, label) adjacency index read by one call.
pub const INDEX_PAGES_READ_MAX: u32 = 1 << 20;
/// Reads a scan ([`Model::scan_vertex_ids`], [`Model::scan_edge_ids`]) has in flight: its
/// location-ordered list is read in stretches of [`SCAN_RUN_RECORDS`] records, this many
/// stretches at once (the device serves them in parallel; one record at a time, a scan of
/// 1 M vertices is 1 M sequential device round trips).
pub const SCAN_READS_IN_FLIGHT_MAX: usize = 32;
/// Records of one stretch of a scan, read by one [`Kv::get_run`] (neighbouring records in
/// one device read on the shards store).
pub const SCAN_RUN_RECORDS: usize = 64;

/// The time source of expiry.
pub trait Clock {
    /// Seconds since the Unix epoch.
    fn now_s(&self) -> u32;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_s(&self) -> u32 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
    }
}

/// A clock tests set by hand.
#[derive(Debug, Default)]
pub struct ManualClock(pub std::cell::Cell<u32>);

impl Clock for ManualClock {
    fn now_s(&self) -> u32 {
        self.0.get()
    }
}

impl<C: Clock + ?Sized> Clock for std::rc::Rc<C> {
    fn now_s(&self) -> u32 {
        (**self).now_s()
    }
}

/// A record type the model stores.
pub trait Rec: Sized {
    fn encode_rec(&self) -> Result<Vec<u8>, ModelError>;
    fn decode_rec(bytes: &[u8]) -> Result<Self, DecodeError>;
}

impl Rec for VertexRecord {
    fn encode_rec(&self) -> Result<Vec<u8>, ModelError> {
        self.encode()
    }
    fn decode_rec(bytes: &[u8]) -> Result<Self, DecodeError> {
        VertexRecord::decode(bytes)
    }
}

impl Rec for EdgePack {
    fn encode_rec(&self) -> Result<Vec<u8>, ModelError> {
        self.encode()
    }
    fn decode_rec(bytes: &[u8]) -> Result<Self, DecodeError> {
        EdgePack::decode(bytes)
    }
}

impl Rec for EdgeLocator {
    fn encode_rec(&self) -> Result<Vec<u8>, ModelError> {
        Ok(self.encode())
    }
    fn decode_rec(bytes: &[u8]) -> Result<Self, DecodeError> {
        EdgeLocator::decode(bytes)
    }
}

impl Rec for IdGen {
    fn encode_rec(&self) -> Result<Vec<u8>, ModelError> {
        Ok(self.encode())
    }
    fn decode_rec(bytes: &[u8]) -> Result<Self, DecodeError> {
        IdGen::decode(bytes)
    }
}

impl Rec for IndexPage {
    fn encode_rec(&self) -> Result<Vec<u8>, ModelError> {
        self.encode()
    }
    fn decode_rec(bytes: &[u8]) -> Result<Self, DecodeError> {
        IndexPage::decode(bytes)
    }
}

/// What a read-modify-write step decided.
pub enum Action<R, T> {
    /// Write this record (create-only if there was none, else expecting the read generation).
    Put(R, T),
    /// Delete the record (if there was one), expecting the read generation.
    Delete(T),
    /// Leave it.
    Keep(T),
}

/// An edge as the model returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeView {
    pub id: ElementId,
    pub label: Arc<str>,
    pub out_id: ElementId,
    pub out_label: Arc<str>,
    pub in_id: ElementId,
    pub in_label: Arc<str>,
    pub props: Vec<Property>,
}

impl EdgeView {
    /// Edge `e` of `pack` (whose owner is the out vertex).
    pub fn of(pack: &EdgePack, e: &PackEdge) -> EdgeView {
        EdgeView {
            id: e.id.clone(),
            label: e.label.clone(),
            out_id: pack.owner.clone(),
            out_label: pack.owner_label.clone(),
            in_id: e.in_id.clone(),
            in_label: e.in_label.clone(),
            props: e.props.clone(),
        }
    }
}

/// An adjacency entry from either the edge cache or the index.
#[derive(Clone, Debug, PartialEq)]
pub struct Adjacent {
    pub seq: u64,
    pub dir: Dir,
    pub label: Arc<str>,
    pub edge: ElementId,
    pub other: ElementId,
    /// Pack of the edge's out vertex holding it.
    pub pack_no: u32,
    /// Indexed edge properties (index entries only).
    pub props: Option<Vec<Property>>,
}

impl Adjacent {
    /// The out vertex (owner of the pack).
    pub fn out_vertex<'a>(&'a self, this: &'a ElementId) -> &'a ElementId {
        match self.dir {
            Dir::Out => this,
            Dir::In => &self.other,
        }
    }
}

/// Counts of one [`Model::expire`] sweep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpireReport {
    pub vertices: u64,
    pub edges: u64,
}

/// The graph model of one named graph over one record store.
pub struct Model<K: Kv> {
    pub kv: K,
    pub space: KeySpace,
    pub cfg: ModelConfig,
    clock: Box<dyn Clock>,
    locks: KeyLocks,
    /// Reserved, unused generated ids of this core: `[next, end)`.
    ids: std::cell::Cell<(u64, u64)>,
    /// Ids reserved from the persisted allocator at a time ([`ID_BLOCK_IDS`] by default).
    id_block: u64,
    core: u16,
}

impl<K: Kv> Model<K> {
    /// Sets the core number whose allocator generated ids come from (default 0).
    pub fn with_core(mut self, core: u16) -> Model<K> {
        self.core = core;
        self.ids.set((0, 0));
        self
    }

    /// Sets how many ids one reservation from the persisted allocator takes (at least 1;
    /// default [`ID_BLOCK_IDS`]). The bulk loader, which generates an id per property,
    /// takes large blocks: each reservation is a read-modify-write of a record that may be
    /// owned by another core.
    pub fn with_id_block(mut self, ids: u64) -> Model<K> {
        self.id_block = ids.max(1);
        self
    }

    /// A fresh generated id: a Long `(core << 48) | n`, `n` from this core's persisted
    /// allocator, reserved [`ID_BLOCK_IDS`] (or [`Model::with_id_block`]) at a time (ids
    /// reserved but unused before a restart are skipped, never reused).
    pub async fn generate_id(&self) -> Result<ElementId, ModelError> {
        let (mut next, mut end) = self.ids.get();
        if next >= end {
            let block = self.id_block;
            let d = self.space.meta_digest(&format!("idgen/{}", self.core));
            let start = self
                .rmw(&d, |g: Option<IdGen>| {
                    let start = g.map_or(0, |g| g.next);
                    let next = start.saturating_add(block);
                    Ok(Action::Put(IdGen { next }, start))
                })
                .await?;
            next = start;
            end = start.saturating_add(block);
        }
        let n = next & ((1u64 << ID_CORE_SHIFT_BITS) - 1);
        self.ids.set((next.saturating_add(1), end));
        let value = (i64::from(self.core) << ID_CORE_SHIFT_BITS) | n as i64;
        Ok(ElementId::Int {
            value,
            width: crate::model::keys::IntWidth::Long,
        })
    }

    /// Adds a vertex with a generated id (skipping ids users already took).
    pub async fn add_vertex_generated(
        &self,
        label: &str,
        void_time_s: u32,
    ) -> Result<VertexRecord, ModelError> {
        for _ in 0..ID_COLLISIONS_MAX {
            let id = self.generate_id().await?;
            match self.add_vertex(id, label, void_time_s).await {
                Err(ModelError::VertexExists(_)) => continue,
                r => return r,
            }
        }
        Err(ModelError::Limit {
            limit: "ID_COLLISIONS_MAX",
            max: u64::from(ID_COLLISIONS_MAX),
        })
    }

    /// A model of graph `space` over `kv`.
    pub fn new(
        kv: K,
        space: KeySpace,
        cfg: ModelConfig,
        clock: Box<dyn Clock>,
    ) -> Result<Model<K>, ModelError> {
        cfg.validate()?;
        Ok(Model {
            kv,
            space,
            cfg,
            clock,
            locks: KeyLocks::default(),
            ids: std::cell::Cell::new((0, 0)),
            id_block: ID_BLOCK_IDS,
            core: 0,
        })
    }

    /// The per-key locks of this model (for counters).
    pub fn locks(&self) -> &KeyLocks {
        &self.locks
    }

    /// The model's current time.
    pub fn now_s(&self) -> u32 {
        self.clock.now_s()
    }

    pub(crate) async fn read<R: Rec>(&self, d: &Digest) -> Result<Option<(R, u16)>, ModelError> {
        match self.kv.get(d).await? {
            None => Ok(None),
            Some(g) => Ok(Some((R::decode_rec(&g.payload)?, g.generation))),
        }
    }

    /// One generation-checked read-modify-write of the record under `d`, retried on conflict.
    /// `f` sees the current record (or `None`) and must be re-runnable.
    pub async fn rmw<R: Rec, T>(
        &self,
        d: &Digest,
        f: impl FnMut(Option<R>) -> Result<Action<R, T>, ModelError>,
    ) -> Result<T, ModelError> {
        self.rmw_on(&self.kv, d, f).await
    }

    /// [`Model::rmw`] writing through `kv` (the model's store, or a wrapper of it such as
    /// [`Deferring`]).
    async fn rmw_on<KV: Kv, R: Rec, T>(
        &self,
        kv: &KV,
        d: &Digest,
        mut f: impl FnMut(Option<R>) -> Result<Action<R, T>, ModelError>,
    ) -> Result<T, ModelError> {
        let _guard = self.lock(*d).await?;
        for _ in 0..RMW_ATTEMPTS_MAX {
            let cur = self.read::<R>(d).await?;
            let generation = cur.as_ref().map(|c| c.1);
            let res = match f(cur.map(|c| c.0))? {
                Action::Keep(t) => return Ok(t),
                Action::Put(r, t) => {
                    let mode =
                        generation.map_or(WriteMode::CreateOnly, WriteMode::ExpectGeneration);
                    kv.put(d, &r.encode_rec()?, mode).await.map(|_| t)
                }
                Action::Delete(t) => match generation {
                    None => return Ok(t),
                    Some(g) => kv
                        .delete(d, WriteMode::ExpectGeneration(g))
                        .await
                        .map(|_| t),
                },
            };
            match res {
                Ok(t) => return Ok(t),
                Err(KvError::Exists | KvError::GenerationMismatch) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ModelError::Contention {
            attempts: RMW_ATTEMPTS_MAX,
        })
    }

    pub(crate) async fn lock(&self, d: Digest) -> Result<KeyGuard<'_>, ModelError> {
        self.locks.lock(d).await.ok_or(ModelError::Limit {
            limit: "KEY_WAITERS_MAX",
            max: crate::model::locks::KEY_WAITERS_MAX as u64,
        })
    }

    // ----- reads -----

    /// The vertex record of `id` if it is live.
    pub async fn vertex(&self, id: &ElementId) -> Result<Option<VertexRecord>, ModelError> {
        let now = self.now_s();
        Ok(self
            .read::<VertexRecord>(&self.space.vertex_digest(id))
            .await?
            .map(|r| r.0)
            .filter(|v| v.is_live(now) && v.id == *id))
    }

    pub(crate) async fn pack(
        &self,
        out: &ElementId,
        pack_no: u32,
    ) -> Result<Option<EdgePack>, ModelError> {
        let d = pack_digest(&self.space.vertex_digest(out), pack_no);
        Ok(self.read::<EdgePack>(&d).await?.map(|r| r.0))
    }

    /// The edge `id` if it is live.
    pub async fn edge(&self, id: &ElementId) -> Result<Option<EdgeView>, ModelError> {
        let Some((loc, _)) = self
            .read::<EdgeLocator>(&self.space.edge_digest(id))
            .await?
        else {
            return Ok(None);
        };
        if loc.edge != *id {
            return Ok(None);
        }
        let now = self.now_s();
        let Some(pack) = self.pack(&loc.out, loc.pack_no).await? else {
            return Ok(None);
        };
        Ok(pack
            .edges
            .iter()
            .find(|e| e.id == *id && !expired(e.void_time_s, now))
            .map(|e| EdgeView::of(&pack, e)))
    }

    /// The adjacency entries of a vertex record in `dirs` with a label in `labels` (all when
    /// empty), outs before ins, each in insertion order; the cache and (for a supernode) the
    /// index pages of the matching (direction, label) pairs only.
    pub async fn adjacency(
        &self,
        v: &VertexRecord,
        dirs: &[Dir],
        labels: &[Arc<str>],
    ) -> Result<Vec<Adjacent>, ModelError> {
        let want = |d: Dir, l: &str| {
            dirs.contains(&d) && (labels.is_empty() || labels.iter().any(|x| &**x == l))
        };
        let mut out: Vec<Adjacent> = v
            .cache
            .iter()
            .filter(|e| want(e.dir, &e.label))
            .map(|e| Adjacent {
                seq: e.seq,
                dir: e.dir,
                label: e.label.clone(),
                edge: e.edge.clone(),
                other: e.other.clone(),
                pack_no: e.pack_no,
                props: None,
            })
            .collect();
        if v.is_supernode() {
            let vd = self.space.vertex_digest(&v.id);
            for lp in v.index.iter().filter(|lp| want(lp.dir, &lp.label)) {
                for page in 0..lp.pages.min(INDEX_PAGES_READ_MAX) {
                    let d = index_page_digest(&vd, lp.dir, &lp.label, page);
                    if let Some((p, _)) = self.read::<IndexPage>(&d).await? {
                        for e in p.entries {
                            out.push(Adjacent {
                                seq: e.seq,
                                dir: lp.dir,
                                label: lp.label.clone(),
                                edge: e.edge,
                                other: e.other,
                                pack_no: e.pack_no,
                                props: Some(e.props),
                            });
                        }
                    }
                }
            }
        }
        // During a cache-to-index migration an entry may be in both places: keep one.
        out.sort_by_key(|a| (a.dir, a.seq));
        let mut seen = std::collections::HashSet::new();
        out.retain(|a| seen.insert((a.dir, a.edge.clone())));
        Ok(out)
    }

    /// The live incident edges of vertex `id` in `dirs` with a label in `labels`, whose
    /// properties equal every `(key, value)` in `filter`. Index entries of a supernode are
    /// filtered on their indexed-property copies before any pack is read, when every filter
    /// key is indexed. Returns (direction, edge) pairs, outs before ins.
    pub async fn incident(
        &self,
        id: &ElementId,
        dirs: &[Dir],
        labels: &[Arc<str>],
        filter: &[Property],
    ) -> Result<Vec<(Dir, EdgeView)>, ModelError> {
        let Some(v) = self.vertex(id).await? else {
            return Ok(Vec::new());
        };
        let mut adj = self.adjacency(&v, dirs, labels).await?;
        let pushdown = filter
            .iter()
            .all(|f| self.cfg.indexed_edge_keys.contains(&f.key));
        if pushdown && !filter.is_empty() {
            adj.retain(|a| match &a.props {
                Some(props) => filter.iter().all(|f| props.iter().any(|p| p == f)),
                None => true,
            });
        }
        let now = self.now_s();
        // Each pack is read once however many of its edges are listed.
        let mut packs: std::collections::HashMap<(ElementId, u32), Option<EdgePack>> =
            std::collections::HashMap::new();
        let mut out = Vec::with_capacity(adj.len());
        for a in &adj {
            let key = (a.out_vertex(&v.id).clone(), a.pack_no);
            if !packs.contains_key(&key) {
                let p = self.pack(&key.0, key.1).await?;
                packs.insert(key.clone(), p);
            }
            let Some(Some(pack)) = packs.get(&key) else {
                continue;
            };
            let Some(e) = pack.edges.iter().find(|e| e.id == a.edge) else {
                continue;
            };
            // An entry left by an add that lost its id to another add names a slot of
            // other endpoints: not this vertex's edge.
            let ends_here = match a.dir {
                Dir::Out => pack.owner == v.id,
                Dir::In => e.in_id == v.id,
            };
            if !ends_here
                || expired(e.void_time_s, now)
                || !filter.iter().all(|f| e.props.iter().any(|p| p == f))
            {
                continue;
            }
            out.push((a.dir, EdgeView::of(pack, e)));
        }
        Ok(out)
    }

    /// Reads the live records of kind `tag` ([`Kv::scan_tagged`]: only those, in the store's
    /// read order) in stretches of [`SCAN_RUN_RECORDS`] ([`Kv::get_run`]),
    /// [`SCAN_READS_IN_FLIGHT_MAX`] stretches at a time, passing each record to `f` in order.
    pub async fn scan_kind<F>(&self, tag: u8, f: F) -> Result<(), ModelError>
    where
        F: FnMut(Digest, Vec<u8>) -> Result<(), ModelError>,
    {
        self.scan_kind_where(tag, |_| true, f).await
    }

    /// [`Model::scan_kind`] of the records whose digest `keep` accepts (decided before any
    /// read: e.g. a range of partitions).
    pub async fn scan_kind_where<P, F>(&self, tag: u8, keep: P, mut f: F) -> Result<(), ModelError>
    where
        P: Fn(&Digest) -> bool,
        F: FnMut(Digest, Vec<u8>) -> Result<(), ModelError>,
    {
        let mut digests = self.kv.scan_tagged(&[tag]);
        digests.retain(|d| keep(d));
        for chunk in digests.chunks(SCAN_READS_IN_FLIGHT_MAX * SCAN_RUN_RECORDS) {
            let reads: Vec<_> = chunk
                .chunks(SCAN_RUN_RECORDS)
                .map(|run| Box::pin(self.kv.get_run(run)))
                .collect();
            let mut got_all = Vec::with_capacity(chunk.len());
            for got in crate::runtime::join_all(reads).await {
                got_all.extend(got?);
            }
            for (d, got) in chunk.iter().zip(got_all) {
                // The tag may be a superset (some stores), or the record changed since.
                match got {
                    Some(g) if g.payload.first() == Some(&tag) => f(*d, g.payload)?,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Ids of every live vertex of this graph in the store, in the store's read order (by
    /// device location on the shards store); reads only vertex records.
    pub async fn scan_vertex_ids(&self) -> Result<Vec<ElementId>, ModelError> {
        self.scan_vertex_ids_where(|_| true).await
    }

    /// [`Model::scan_vertex_ids`] of the vertices whose digest `keep` accepts (decided
    /// before any read).
    pub async fn scan_vertex_ids_where<P: Fn(&Digest) -> bool>(
        &self,
        keep: P,
    ) -> Result<Vec<ElementId>, ModelError> {
        let now = self.now_s();
        let mut out = Vec::new();
        self.scan_kind_where(crate::model::records::MAGIC_VERTEX, keep, |d, payload| {
            let v = VertexRecord::decode(&payload)?;
            // Another graph's vertex (or a foreign record) does not hash to this digest.
            if self.space.vertex_digest(&v.id) == d && v.is_live(now) {
                out.push(v.id);
            }
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Ids of every live edge of this graph in the store, in the store's read order of its
    /// edge locators (by device location on the shards store); reads only locators and then
    /// each edge's pack.
    pub async fn scan_edge_ids(&self) -> Result<Vec<ElementId>, ModelError> {
        let mut located = Vec::new();
        self.scan_kind(crate::model::records::MAGIC_LOCATOR, |d, payload| {
            let l = EdgeLocator::decode(&payload)?;
            if self.space.edge_digest(&l.edge) == d {
                located.push(l.edge);
            }
            Ok(())
        })
        .await?;
        let mut out = Vec::new();
        for chunk in located.chunks(SCAN_READS_IN_FLIGHT_MAX) {
            let reads: Vec<_> = chunk.iter().map(|e| Box::pin(self.edge(e))).collect();
            for (e, got) in chunk.iter().zip(crate::runtime::join_all(reads).await) {
                if got?.is_some() {
                    out.push(e.clone());
                }
            }
        }
        Ok(out)
    }

    // ----- vertices -----

    /// Adds a vertex (`void_time_s` 0 = never expires). An expired or half-dropped vertex
    /// under the same id is purged first.
    pub async fn add_vertex(
        &self,
        id: ElementId,
        label: &str,
        void_time_s: u32,
    ) -> Result<VertexRecord, ModelError> {
        let rec = VertexRecord::new(id, Arc::from(label), void_time_s);
        self.add_vertex_record(rec).await
    }

    /// Adds a vertex with its first properties in one create-only write (a traversal's
    /// `addV()` followed by `property()` steps): what [`Model::add_vertex`] and then
    /// [`Model::set_vertex_property`] for each property would store, in one durable write.
    pub async fn add_vertex_with(
        &self,
        id: ElementId,
        label: &str,
        void_time_s: u32,
        props: &[NewVertexProperty],
    ) -> Result<VertexRecord, ModelError> {
        let mut rec = VertexRecord::new(id, Arc::from(label), void_time_s);
        for p in props {
            set_property_in(&mut rec, p.cardinality, &p.key, &p.value, &p.id, &p.meta)?;
        }
        self.add_vertex_record(rec).await
    }

    /// Writes a new vertex record create-only (an expired or half-dropped copy is purged
    /// first).
    async fn add_vertex_record(&self, rec: VertexRecord) -> Result<VertexRecord, ModelError> {
        let id = rec.id.clone();
        let d = self.space.vertex_digest(&id);
        let bytes = rec.encode()?;
        for _ in 0..RMW_ATTEMPTS_MAX {
            match self.kv.put(&d, &bytes, WriteMode::CreateOnly).await {
                Ok(_) => return Ok(rec),
                Err(KvError::Exists) => {
                    if self.vertex(&id).await?.is_some() {
                        return Err(ModelError::VertexExists(id));
                    }
                    self.purge_vertex(&id).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ModelError::Contention {
            attempts: RMW_ATTEMPTS_MAX,
        })
    }

    /// Read-modify-write of a live vertex record.
    async fn rmw_vertex<T>(
        &self,
        id: &ElementId,
        f: impl FnMut(&mut VertexRecord) -> Result<T, ModelError>,
    ) -> Result<T, ModelError> {
        self.rmw_vertex_on(&self.kv, id, f).await
    }

    /// [`Model::rmw_vertex`] writing through `kv`.
    async fn rmw_vertex_on<KV: Kv, T>(
        &self,
        kv: &KV,
        id: &ElementId,
        mut f: impl FnMut(&mut VertexRecord) -> Result<T, ModelError>,
    ) -> Result<T, ModelError> {
        let now = self.now_s();
        self.rmw_on(
            kv,
            &self.space.vertex_digest(id),
            |v: Option<VertexRecord>| {
                let mut v = v
                    .filter(|v| v.is_live(now) && v.id == *id)
                    .ok_or_else(|| ModelError::VertexMissing(id.clone()))?;
                let t = f(&mut v)?;
                Ok(Action::Put(v, t))
            },
        )
        .await
    }

    /// Sets a vertex property (TinkerPop cardinality rules); returns the property's id.
    pub async fn set_vertex_property(
        &self,
        vertex: &ElementId,
        cardinality: Cardinality,
        key: &str,
        value: Value,
        id: Value,
        meta: Vec<Property>,
    ) -> Result<Value, ModelError> {
        self.rmw_vertex(vertex, |v| {
            set_property_in(v, cardinality, key, &value, &id, &meta)
        })
        .await
    }

    /// Sets (replaces) a meta-property of vertex property `vp_id`.
    pub async fn set_meta_property(
        &self,
        vertex: &ElementId,
        vp_id: &Value,
        key: &str,
        value: Value,
    ) -> Result<(), ModelError> {
        self.rmw_vertex(vertex, |v| {
            if let Some(p) = v.props.iter_mut().find(|p| same_id(&p.id, vp_id)) {
                if let Some(m) = p.meta.iter_mut().find(|m| &*m.key == key) {
                    m.value = value.clone();
                } else {
                    p.meta.push(Property {
                        key: Arc::from(key),
                        value: value.clone(),
                    });
                }
            }
            Ok(())
        })
        .await
    }

    /// Drops vertex property `vp_id` (absent vertex or property: no-op).
    pub async fn drop_vertex_property(
        &self,
        vertex: &ElementId,
        vp_id: &Value,
    ) -> Result<(), ModelError> {
        match self
            .rmw_vertex(vertex, |v| {
                v.props.retain(|p| !same_id(&p.id, vp_id));
                Ok(())
            })
            .await
        {
            Err(ModelError::VertexMissing(_)) => Ok(()),
            r => r,
        }
    }

    /// Drops a meta-property by key (absent: no-op).
    pub async fn drop_meta_property(
        &self,
        vertex: &ElementId,
        vp_id: &Value,
        key: &str,
    ) -> Result<(), ModelError> {
        match self
            .rmw_vertex(vertex, |v| {
                for p in v.props.iter_mut().filter(|p| same_id(&p.id, vp_id)) {
                    p.meta.retain(|m| &*m.key != key);
                }
                Ok(())
            })
            .await
        {
            Err(ModelError::VertexMissing(_)) => Ok(()),
            r => r,
        }
    }

    /// Drops a vertex and every incident edge, on both endpoints (absent: no-op). The
    /// vertex is first marked dropping (invisible, refuses new edges), then its edges go,
    /// then its index pages, packs and record.
    pub async fn drop_vertex(&self, id: &ElementId) -> Result<(), ModelError> {
        let d = self.space.vertex_digest(id);
        let marked = self
            .rmw(&d, |v: Option<VertexRecord>| match v {
                Some(mut v) if v.id == *id => {
                    v.flags |= FLAG_DROPPING;
                    Ok(Action::Put(v, true))
                }
                _ => Ok(Action::Keep(false)),
            })
            .await?;
        if !marked {
            return Ok(());
        }
        self.purge_vertex(id).await
    }

    /// Removes a vertex record that is dropping or expired, with all its edges: drops every
    /// edge it lists, then deletes its index pages and packs, then the record itself,
    /// expecting the generation it read with no entry left (an entry added meanwhile sends
    /// it round again).
    async fn purge_vertex(&self, id: &ElementId) -> Result<(), ModelError> {
        let d = self.space.vertex_digest(id);
        let vd = d;
        for _ in 0..RMW_ATTEMPTS_MAX {
            let Some((v, g)) = self.read::<VertexRecord>(&d).await? else {
                return Ok(());
            };
            if v.id != *id || v.is_live(self.now_s()) {
                return Ok(());
            }
            let adj = self.adjacency(&v, &[Dir::Out, Dir::In], &[]).await?;
            if !adj.is_empty() {
                for a in &adj {
                    self.drop_edge(&a.edge).await?;
                    // An entry whose edge is already gone from its pack is removed directly.
                    self.remove_entry(id, a.dir, &a.label, &a.edge).await?;
                }
                continue;
            }
            for lp in &v.index {
                for page in 0..lp.pages.min(INDEX_PAGES_READ_MAX) {
                    let pd = index_page_digest(&vd, lp.dir, &lp.label, page);
                    self.kv.delete(&pd, WriteMode::Plain).await?;
                }
            }
            for p in 0..v.next_pack {
                self.kv
                    .delete(&pack_digest(&vd, p), WriteMode::Plain)
                    .await?;
            }
            match self.kv.delete(&d, WriteMode::ExpectGeneration(g)).await {
                Ok(_) => return Ok(()),
                Err(KvError::GenerationMismatch) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ModelError::Contention {
            attempts: RMW_ATTEMPTS_MAX,
        })
    }

    // ----- edges -----

    /// Adds edge `id` `out -label-> in` (`void_time_s` 0 = never). Order: the edge goes into
    /// a pack of `out` as a **pending** slot (void time [`VOID_PENDING_S`]: invisible; its
    /// locator first, claiming the id), then the out vertex's entry, then the in vertex's
    /// entry, then the slot is rewritten with its real void time: that one write (on the
    /// out vertex's core) makes the edge visible from both endpoints and by id at once. A
    /// failure before it drops the edge again; a crash before it leaves an invisible edge
    /// that [`Model::repair_edges`] and any later drop of either endpoint reclaim.
    pub async fn add_edge(
        &self,
        id: ElementId,
        label: &str,
        out: &ElementId,
        in_: &ElementId,
        void_time_s: u32,
    ) -> Result<EdgeView, ModelError> {
        self.add_edge_with(id, label, out, in_, void_time_s, &[])
            .await
    }

    /// [`Model::add_edge`] with the edge's first properties (a traversal's `addE()` followed
    /// by `property()` steps; a key given twice keeps its last value) written in its pending
    /// slot and index entries: what `add_edge` and then [`Model::set_edge_property`] for each
    /// would store. The writes before the commit are made without waiting for each to be
    /// durable ([`Kv::put_unsynced`]); one [`Kv::sync`] (one flush per shard touched, all
    /// at once) makes them durable before the commit is written, so a crash keeps the commit
    /// only together with the locator and both entries. In commit-to-device mode the add
    /// therefore waits for two flushes in sequence, whether its records are on one shard or
    /// on several.
    pub async fn add_edge_with(
        &self,
        id: ElementId,
        label: &str,
        out: &ElementId,
        in_: &ElementId,
        void_time_s: u32,
        props: &[Property],
    ) -> Result<EdgeView, ModelError> {
        let label: Arc<str> = Arc::from(label);
        let mut first: Vec<Property> = Vec::with_capacity(props.len());
        for p in props {
            match first.iter_mut().find(|q| q.key == p.key) {
                Some(q) => q.value = p.value.clone(),
                None => first.push(p.clone()),
            }
        }
        // Both endpoints read at once (usually on two cores: one round trip, not two).
        let (out_v, in_v) = futures_lite::future::zip(self.vertex(out), self.vertex(in_)).await;
        let out_v = out_v?.ok_or_else(|| ModelError::VertexMissing(out.clone()))?;
        let in_v = in_v?.ok_or_else(|| ModelError::VertexMissing(in_.clone()))?;
        let void = earliest_void(&[void_time_s, out_v.void_time_s, in_v.void_time_s]);
        let edge = PackEdge {
            id: id.clone(),
            label: label.clone(),
            in_id: in_v.id.clone(),
            in_label: in_v.label.clone(),
            void_time_s: VOID_PENDING_S,
            props: first.clone(),
        };
        let deferred = Deferring::new(&self.kv);
        let pack_no = self.place_in_pack(&deferred, &out_v.id, &edge).await?;
        let view = EdgeView {
            id: id.clone(),
            label: label.clone(),
            out_id: out_v.id.clone(),
            out_label: out_v.label.clone(),
            in_id: in_v.id.clone(),
            in_label: in_v.label.clone(),
            props: first.clone(),
        };
        // The out entry before the in entry: a concurrent drop of the in vertex finds the
        // edge (through the in entry) only once the out entry is complete, so its drop of
        // the edge removes both.
        for (v, dir, other) in [(out, Dir::Out, in_), (in_, Dir::In, out)] {
            if let Err(e) = self
                .add_entry(&deferred, v, dir, &label, &id, other, pack_no, &first)
                .await
            {
                self.drop_edge(&id).await?;
                return Err(e);
            }
        }
        // Locator, pending slot and both entries durable before the commit is written (a
        // flush may land its writes in any order, so they must not share the commit's).
        deferred.sync_all().await?;
        // Commit: the pending slot gets its real void time.
        let pd = pack_digest(&self.space.vertex_digest(out), pack_no);
        let committed = self
            .rmw(&pd, |p: Option<EdgePack>| {
                let Some(mut p) = p else {
                    return Ok(Action::Keep(false));
                };
                match p
                    .edges
                    .iter_mut()
                    .find(|e| e.id == id && e.void_time_s == VOID_PENDING_S)
                {
                    Some(e) => {
                        // A void time of 1 (long past) must not read as pending: 2 is as past.
                        e.void_time_s = if void == VOID_PENDING_S {
                            void + 1
                        } else {
                            void
                        };
                        Ok(Action::Put(p, true))
                    }
                    None => Ok(Action::Keep(false)),
                }
            })
            .await?;
        if committed {
            return Ok(view);
        }
        // The slot was taken meanwhile: a drop of an endpoint (purging its edges), or an add
        // of the same id that took the uncommitted id over. Entries of ours are removed
        // unless the id is claimed again (readers skip entries whose slot does not name
        // their vertex either way).
        if self
            .read::<EdgeLocator>(&self.space.edge_digest(&id))
            .await?
            .is_none()
        {
            self.remove_entry(out, Dir::Out, &label, &id).await?;
            self.remove_entry(in_, Dir::In, &label, &id).await?;
        }
        if self.vertex(out).await?.is_none() {
            return Err(ModelError::VertexMissing(out.clone()));
        }
        if self.vertex(in_).await?.is_none() {
            return Err(ModelError::VertexMissing(in_.clone()));
        }
        Err(ModelError::EdgeExists(id))
    }

    /// Puts `edge` into the open pack of `out` (opening a new one when full), after claiming
    /// the edge id with a create-only locator; returns the pack number.
    async fn place_in_pack<KV: Kv>(
        &self,
        kv: &KV,
        out: &ElementId,
        edge: &PackEdge,
    ) -> Result<u32, ModelError> {
        let vd = self.space.vertex_digest(out);
        let ld = self.space.edge_digest(&edge.id);
        let mut located: Option<u32> = None;
        let now = self.now_s();
        for _ in 0..RMW_ATTEMPTS_MAX {
            // Pack allocation is serialized per out vertex (released before any nested
            // read-modify-write below).
            let guard = self.lock(vd).await?;
            let (v, vg) = match self.read::<VertexRecord>(&vd).await? {
                Some((v, g)) if v.id == *out && v.is_live(now) => (v, g),
                _ => return Err(ModelError::VertexMissing(out.clone())),
            };
            let p = v.open_pack;
            let pd = pack_digest(&vd, p);
            let cur = self.read::<EdgePack>(&pd).await?;
            let full = cur
                .as_ref()
                .is_some_and(|(pk, _)| pk.edges.len() >= self.cfg.pack_edges);
            if full {
                let mut nv = v.clone();
                nv.open_pack = v.next_pack;
                nv.next_pack = v.next_pack.saturating_add(1);
                match kv
                    .put(&vd, &nv.encode()?, WriteMode::ExpectGeneration(vg))
                    .await
                {
                    Ok(_) | Err(KvError::GenerationMismatch) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            if located != Some(p) {
                let loc = EdgeLocator {
                    edge: edge.id.clone(),
                    out: out.clone(),
                    pack_no: p,
                };
                let mode = if located.is_none() {
                    WriteMode::CreateOnly
                } else {
                    WriteMode::Plain
                };
                match kv.put(&ld, &loc.encode(), mode).await {
                    Ok(_) => located = Some(p),
                    Err(KvError::Exists) => {
                        drop(guard);
                        // A live edge holds the id; a locator whose edge is gone (expired or
                        // half-dropped) is taken over.
                        if self.edge(&edge.id).await?.is_some() {
                            return Err(ModelError::EdgeExists(edge.id.clone()));
                        }
                        self.drop_edge(&edge.id).await?;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let (pack, mode) = match cur {
                Some((mut pk, g)) => {
                    pk.edges.push(edge.clone());
                    (pk, WriteMode::ExpectGeneration(g))
                }
                None => (
                    EdgePack {
                        owner: v.id.clone(),
                        owner_label: v.label.clone(),
                        edges: vec![edge.clone()],
                    },
                    WriteMode::CreateOnly,
                ),
            };
            match kv.put(&pd, &pack.encode()?, mode).await {
                Ok(_) => return Ok(p),
                Err(KvError::Exists | KvError::GenerationMismatch) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ModelError::Contention {
            attempts: RMW_ATTEMPTS_MAX,
        })
    }

    /// Adds an adjacency entry to vertex `v`: into the edge cache while it has room; when
    /// the cache is full the vertex becomes a supernode (flag set first, then the cached
    /// entries move to the index, then the cache is cleared) and entries go to the index.
    #[allow(clippy::too_many_arguments)]
    async fn add_entry<KV: Kv>(
        &self,
        kv: &KV,
        v: &ElementId,
        dir: Dir,
        label: &Arc<str>,
        edge: &ElementId,
        other: &ElementId,
        pack_no: u32,
        props: &[Property],
    ) -> Result<(), ModelError> {
        let cap = self.cfg.edge_cache_entries;
        // Step 1: cache, or reserve a sequence number (and flag a supernode).
        let (seq, converted) = self
            .rmw_vertex_on(kv, v, |rec| {
                let seq = rec.next_seq;
                rec.next_seq = rec.next_seq.saturating_add(1);
                if !rec.is_supernode() && rec.cache.len() < cap {
                    rec.cache.push(CacheEntry {
                        seq,
                        edge: edge.clone(),
                        label: label.clone(),
                        dir,
                        other: other.clone(),
                        pack_no,
                    });
                    return Ok((None, false));
                }
                let converted = !rec.is_supernode();
                rec.flags |= FLAG_SUPERNODE;
                Ok((Some(seq), converted))
            })
            .await?;
        let Some(seq) = seq else { return Ok(()) };
        if converted {
            self.migrate_cache(kv, v).await?;
        }
        let entry = IndexEntry {
            seq,
            edge: edge.clone(),
            other: other.clone(),
            pack_no,
            props: self.indexed(props),
        };
        self.index_insert(kv, v, dir, label, entry).await
    }

    pub(crate) fn indexed(&self, props: &[Property]) -> Vec<Property> {
        props
            .iter()
            .filter(|p| self.cfg.indexed_edge_keys.contains(&p.key))
            .cloned()
            .collect()
    }

    /// Moves the edge-cache entries of supernode `v` into its index, then clears them from
    /// the cache. Re-runnable: entries already in the index are not added twice.
    async fn migrate_cache<KV: Kv>(&self, kv: &KV, v: &ElementId) -> Result<(), ModelError> {
        let Some(rec) = self.vertex(v).await? else {
            return Ok(());
        };
        for e in &rec.cache {
            let props = match self.pack(e_out(&rec.id, e), e.pack_no).await? {
                Some(p) => p
                    .edges
                    .iter()
                    .find(|x| x.id == e.edge)
                    .map(|x| self.indexed(&x.props))
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            let entry = IndexEntry {
                seq: e.seq,
                edge: e.edge.clone(),
                other: e.other.clone(),
                pack_no: e.pack_no,
                props,
            };
            self.index_insert(kv, v, e.dir, &e.label, entry).await?;
        }
        let moved: Vec<(ElementId, Dir)> =
            rec.cache.iter().map(|e| (e.edge.clone(), e.dir)).collect();
        // Entries removed from the cache since the snapshot (a concurrent drop of the edge)
        // may have been copied into the index after that drop looked there.
        let gone: Vec<(ElementId, Dir)> = self
            .rmw_vertex_on(kv, v, |r| {
                let gone = moved
                    .iter()
                    .filter(|(id, d)| !r.cache.iter().any(|e| e.edge == *id && e.dir == *d))
                    .cloned()
                    .collect();
                r.cache
                    .retain(|e| !moved.iter().any(|(id, d)| *id == e.edge && *d == e.dir));
                Ok(gone)
            })
            .await?;
        for e in rec
            .cache
            .iter()
            .filter(|e| gone.iter().any(|(id, d)| *id == e.edge && *d == e.dir))
        {
            // Removed from the index again unless its pack slot still holds it.
            let slot = self.pack(e_out(&rec.id, e), e.pack_no).await?;
            if !slot.is_some_and(|p| p.edges.iter().any(|x| x.id == e.edge)) {
                self.remove_entry(v, e.dir, &e.label, &e.edge).await?;
            }
        }
        Ok(())
    }

    /// Appends `entry` to the last page of (v, dir, label), opening a page when it is full.
    /// The vertex's page count is raised before a page is created, so a reader never misses
    /// a page; an entry already present is not added again.
    async fn index_insert<KV: Kv>(
        &self,
        kv: &KV,
        v: &ElementId,
        dir: Dir,
        label: &Arc<str>,
        entry: IndexEntry,
    ) -> Result<(), ModelError> {
        let vd = self.space.vertex_digest(v);
        let max = self.cfg.index_page_entries;
        // The last page (create the (dir, label) summary if new).
        let mut page = self
            .rmw_vertex_on(kv, v, |r| {
                if let Some(lp) = r
                    .index
                    .iter()
                    .find(|lp| lp.dir == dir && lp.label == *label)
                {
                    return Ok(lp.pages.saturating_sub(1));
                }
                r.index.push(LabelPages {
                    dir,
                    label: label.clone(),
                    pages: 1,
                });
                Ok(0)
            })
            .await?;
        for _ in 0..RMW_ATTEMPTS_MAX {
            let pd = index_page_digest(&vd, dir, label, page);
            let full = self
                .rmw_on(kv, &pd, |p: Option<IndexPage>| {
                    let mut p = p.unwrap_or_else(|| IndexPage {
                        vertex: v.clone(),
                        dir,
                        label: label.clone(),
                        page,
                        entries: Vec::new(),
                    });
                    if p.entries.iter().any(|e| e.edge == entry.edge) {
                        return Ok(Action::Keep(false));
                    }
                    if p.entries.len() >= max {
                        return Ok(Action::Keep(true));
                    }
                    p.entries.push(entry.clone());
                    Ok(Action::Put(p, false))
                })
                .await?;
            if !full {
                return Ok(());
            }
            let next = page.saturating_add(1);
            self.rmw_vertex_on(kv, v, |r| {
                if let Some(lp) = r
                    .index
                    .iter_mut()
                    .find(|lp| lp.dir == dir && lp.label == *label)
                {
                    lp.pages = lp.pages.max(next.saturating_add(1));
                }
                Ok(())
            })
            .await?;
            page = next;
        }
        Err(ModelError::Contention {
            attempts: RMW_ATTEMPTS_MAX,
        })
    }

    /// Removes edge `edge`'s entry in `dir` from vertex `v` (cache and index). Works on a
    /// dropping or expired vertex too.
    async fn remove_entry(
        &self,
        v: &ElementId,
        dir: Dir,
        label: &str,
        edge: &ElementId,
    ) -> Result<(), ModelError> {
        let vd = self.space.vertex_digest(v);
        let pages = self
            .rmw(&vd, |r: Option<VertexRecord>| {
                let Some(mut r) = r.filter(|r| r.id == *v) else {
                    return Ok(Action::Keep(0));
                };
                let pages = r
                    .index
                    .iter()
                    .find(|lp| lp.dir == dir && &*lp.label == label)
                    .map_or(0, |lp| lp.pages);
                let before = r.cache.len();
                r.cache.retain(|e| !(e.edge == *edge && e.dir == dir));
                if r.cache.len() == before {
                    Ok(Action::Keep(pages))
                } else {
                    Ok(Action::Put(r, pages))
                }
            })
            .await?;
        for page in 0..pages.min(INDEX_PAGES_READ_MAX) {
            let pd = index_page_digest(&vd, dir, label, page);
            let found = self
                .rmw(&pd, |p: Option<IndexPage>| {
                    let Some(mut p) = p else {
                        return Ok(Action::Keep(false));
                    };
                    let before = p.entries.len();
                    p.entries.retain(|e| e.edge != *edge);
                    if p.entries.len() == before {
                        Ok(Action::Keep(false))
                    } else {
                        Ok(Action::Put(p, true))
                    }
                })
                .await?;
            if found {
                break;
            }
        }
        Ok(())
    }

    /// Drops an edge (absent: no-op): its pack slot first (that one write on the out
    /// vertex's core hides the edge from both endpoints and by id at once; an empty pack is
    /// deleted), then its entries on both endpoints, then its locator. A crash after the
    /// slot write leaves entries and a locator that name no slot: readers skip them, and
    /// [`Model::repair_edges`] or a later drop of an endpoint removes them.
    pub async fn drop_edge(&self, id: &ElementId) -> Result<(), ModelError> {
        let ld = self.space.edge_digest(id);
        let Some((loc, _)) = self.read::<EdgeLocator>(&ld).await? else {
            return Ok(());
        };
        if loc.edge != *id {
            return Ok(());
        }
        let vd = self.space.vertex_digest(&loc.out);
        let pd = pack_digest(&vd, loc.pack_no);
        let found = self
            .rmw(&pd, |p: Option<EdgePack>| {
                let Some(mut p) = p else {
                    return Ok(Action::Keep(None));
                };
                let Some(e) = p.edges.iter().find(|x| x.id == *id).cloned() else {
                    return Ok(Action::Keep(None));
                };
                p.edges.retain(|x| x.id != *id);
                if p.edges.is_empty() {
                    Ok(Action::Delete(Some(e)))
                } else {
                    Ok(Action::Put(p, Some(e)))
                }
            })
            .await?;
        if let Some(e) = &found {
            self.remove_entry(&loc.out, Dir::Out, &e.label, id).await?;
            self.remove_entry(&e.in_id, Dir::In, &e.label, id).await?;
        }
        self.rmw(&ld, |l: Option<EdgeLocator>| match l {
            Some(l) if l.edge == *id => Ok(Action::Delete(())),
            _ => Ok(Action::Keep(())),
        })
        .await
    }

    async fn rmw_edge(
        &self,
        id: &ElementId,
        mut f: impl FnMut(&mut PackEdge),
    ) -> Result<Option<PackEdge>, ModelError> {
        let Some((loc, _)) = self
            .read::<EdgeLocator>(&self.space.edge_digest(id))
            .await?
        else {
            return Ok(None);
        };
        let pd = pack_digest(&self.space.vertex_digest(&loc.out), loc.pack_no);
        let now = self.now_s();
        self.rmw(&pd, |p: Option<EdgePack>| {
            let Some(mut p) = p else {
                return Ok(Action::Keep(None));
            };
            let Some(e) = p
                .edges
                .iter_mut()
                .find(|e| e.id == *id && !expired(e.void_time_s, now))
            else {
                return Ok(Action::Keep(None));
            };
            f(e);
            let e = e.clone();
            Ok(Action::Put(p, Some(e)))
        })
        .await
    }

    /// Sets (replaces) an edge property; copies indexed keys into both endpoints' index
    /// entries.
    pub async fn set_edge_property(
        &self,
        id: &ElementId,
        key: &str,
        value: Value,
    ) -> Result<(), ModelError> {
        let e = self
            .rmw_edge(id, |e| {
                if let Some(p) = e.props.iter_mut().find(|p| &*p.key == key) {
                    p.value = value.clone();
                } else {
                    e.props.push(Property {
                        key: Arc::from(key),
                        value: value.clone(),
                    });
                }
            })
            .await?
            .ok_or_else(|| ModelError::EdgeMissing(id.clone()))?;
        self.refresh_index_props(id, &e, key).await
    }

    /// Drops an edge property (absent: no-op).
    pub async fn drop_edge_property(&self, id: &ElementId, key: &str) -> Result<(), ModelError> {
        if let Some(e) = self
            .rmw_edge(id, |e| e.props.retain(|p| &*p.key != key))
            .await?
        {
            self.refresh_index_props(id, &e, key).await?;
        }
        Ok(())
    }

    async fn refresh_index_props(
        &self,
        id: &ElementId,
        e: &PackEdge,
        key: &str,
    ) -> Result<(), ModelError> {
        if !self.cfg.indexed_edge_keys.iter().any(|k| &**k == key) {
            return Ok(());
        }
        let Some((loc, _)) = self
            .read::<EdgeLocator>(&self.space.edge_digest(id))
            .await?
        else {
            return Ok(());
        };
        let props = self.indexed(&e.props);
        for (v, dir) in [(&loc.out, Dir::Out), (&e.in_id, Dir::In)] {
            let Some(rec) = self.vertex(v).await? else {
                continue;
            };
            let vd = self.space.vertex_digest(v);
            let pages = rec
                .index
                .iter()
                .find(|lp| lp.dir == dir && lp.label == e.label)
                .map_or(0, |lp| lp.pages);
            for page in 0..pages.min(INDEX_PAGES_READ_MAX) {
                let pd = index_page_digest(&vd, dir, &e.label, page);
                let found = self
                    .rmw(&pd, |p: Option<IndexPage>| {
                        let Some(mut p) = p else {
                            return Ok(Action::Keep(false));
                        };
                        match p.entries.iter_mut().find(|x| x.edge == *id) {
                            Some(x) => {
                                x.props = props.clone();
                                Ok(Action::Put(p, true))
                            }
                            None => Ok(Action::Keep(false)),
                        }
                    })
                    .await?;
                if found {
                    break;
                }
            }
        }
        Ok(())
    }

    // ----- expiry -----

    /// One expiry sweep over the local records: every expired vertex is dropped with its
    /// edges on both endpoints, every expired edge is dropped. (Reads hide expired elements
    /// at once; the sweep reclaims them.)
    pub async fn expire(&self) -> Result<ExpireReport, ModelError> {
        let now = self.now_s();
        let mut report = ExpireReport::default();
        // Only vertices and edge locators matter here (by their tag, without reading others).
        let kinds = [
            crate::model::records::MAGIC_VERTEX,
            crate::model::records::MAGIC_LOCATOR,
        ];
        for d in self.kv.scan_tagged(&kinds) {
            let Some(g) = self.kv.get(&d).await? else {
                continue;
            };
            match g.payload.first() {
                Some(&crate::model::records::MAGIC_VERTEX) => {
                    let v = VertexRecord::decode(&g.payload)?;
                    if self.space.vertex_digest(&v.id) == d && expired(v.void_time_s, now) {
                        self.purge_vertex(&v.id).await?;
                        report.vertices += 1;
                    }
                }
                Some(&crate::model::records::MAGIC_LOCATOR) => {
                    let l = EdgeLocator::decode(&g.payload)?;
                    if self.space.edge_digest(&l.edge) != d {
                        continue;
                    }
                    let gone = match self.pack(&l.out, l.pack_no).await? {
                        Some(p) => p
                            .edges
                            .iter()
                            .find(|e| e.id == l.edge)
                            // A pending slot may be an add in progress: left to repair.
                            .is_some_and(|e| {
                                e.void_time_s != VOID_PENDING_S && expired(e.void_time_s, now)
                            }),
                        None => false,
                    };
                    if gone {
                        self.drop_edge(&l.edge).await?;
                        report.edges += 1;
                    }
                }
                _ => {}
            }
        }
        Ok(report)
    }
}

fn e_out<'a>(this: &'a ElementId, e: &'a CacheEntry) -> &'a ElementId {
    match e.dir {
        Dir::Out => this,
        Dir::In => &e.other,
    }
}

/// Whether two vertex-property ids are the same id (integers of every width are one id).
pub fn same_id(a: &Value, b: &Value) -> bool {
    match (
        ElementId::from_value(a, "VertexProperty"),
        ElementId::from_value(b, "VertexProperty"),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

#[allow(dead_code)]
const _: () = assert!(FLAG_SUPERNODE != FLAG_DROPPING);

/// A property of a vertex being added ([`Model::add_vertex_with`]).
#[derive(Clone, Debug)]
pub struct NewVertexProperty {
    pub cardinality: Cardinality,
    pub key: String,
    pub value: Value,
    pub id: Value,
    pub meta: Vec<Property>,
}

/// Sets a vertex property on a record by TinkerPop's cardinality rules; returns the
/// property's id (an existing equal value's under `set`).
fn set_property_in(
    v: &mut VertexRecord,
    cardinality: Cardinality,
    key: &str,
    value: &Value,
    id: &Value,
    meta: &[Property],
) -> Result<Value, ModelError> {
    match cardinality {
        Cardinality::Single => v.props.retain(|p| &*p.key != key),
        Cardinality::Set => {
            if let Some(p) = v
                .props
                .iter_mut()
                .find(|p| &*p.key == key && p.value == *value)
            {
                for m in meta {
                    p.meta.retain(|x| x.key != m.key);
                    p.meta.push(m.clone());
                }
                return Ok(p.id.clone());
            }
        }
        Cardinality::List => {}
    }
    if v.props.len() >= crate::model::records::PROPERTIES_MAX {
        return Err(ModelError::Limit {
            limit: "PROPERTIES_MAX",
            max: crate::model::records::PROPERTIES_MAX as u64,
        });
    }
    v.props.push(VProp {
        id: id.clone(),
        key: Arc::from(key),
        value: value.clone(),
        meta: meta.to_vec(),
    });
    Ok(id.clone())
}
