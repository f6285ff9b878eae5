//! The record-level key-value seam the graph model runs over: get, put (plain, create-only,
//! expecting a generation), delete, and a local scan. Async-ready: the shards store
//! implements it with real I/O; [`MemKv`] is an in-memory implementation for tests that can
//! yield at every call so that concurrent operations interleave.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use indexmap::IndexMap;
pub use shards::digest::Digest;
pub use shards::store::WriteMode;

/// Why a record-store call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvError {
    /// `CreateOnly` found a live record.
    Exists,
    /// `ExpectGeneration` found another generation (or no record, or one when 0 was expected).
    GenerationMismatch,
    /// Anything else (I/O, overload, record too big), with the store's message.
    Store(String),
}

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvError::Exists => write!(f, "record exists"),
            KvError::GenerationMismatch => write!(f, "generation mismatch"),
            KvError::Store(s) => write!(f, "{s}"),
        }
    }
}

/// A record as read: its generation and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Got {
    pub generation: u16,
    pub payload: Vec<u8>,
    /// Bytes the read took from the device (0: served from memory; stores without a device
    /// answer 0).
    pub device_bytes: u32,
}

/// Writes a store acknowledged before they were durable ([`Kv::put_unsynced`]): per shard,
/// the flush that makes the newest of them durable (one entry per shard touched, so at most
/// the data directory's shard count). [`Kv::sync`] waits for them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unsynced {
    flushes: Vec<(u32, u64)>,
}

impl Unsynced {
    /// Notes a write on `shard` that flush `flush` makes durable.
    pub fn note(&mut self, shard: u32, flush: u64) {
        match self.flushes.iter_mut().find(|(s, _)| *s == shard) {
            Some(f) => f.1 = f.1.max(flush),
            None => self.flushes.push((shard, flush)),
        }
    }

    /// Adds `other`'s writes.
    pub fn merge(&mut self, other: &Unsynced) {
        for &(s, f) in &other.flushes {
            self.note(s, f);
        }
    }

    /// Whether nothing is left to sync.
    pub fn is_empty(&self) -> bool {
        self.flushes.is_empty()
    }

    /// `(shard, flush)` pairs, one per shard.
    pub fn flushes(&self) -> &[(u32, u64)] {
        &self.flushes
    }
}

/// The record store one core's graph model runs over. Futures need not be `Send` (a core's
/// tasks stay on it). No implementation may hold a borrow across an `.await`.
#[allow(async_fn_in_trait)] // per-core executor: futures are never sent between threads
pub trait Kv {
    /// The live record under `digest`, if any.
    async fn get(&self, digest: &Digest) -> Result<Option<Got>, KvError>;
    /// Writes a record; returns its new generation.
    async fn put(&self, digest: &Digest, payload: &[u8], mode: WriteMode) -> Result<u16, KvError>;
    /// Deletes a record; returns whether a live one existed.
    async fn delete(&self, digest: &Digest, mode: WriteMode) -> Result<bool, KvError>;
    /// Digests of every live record this core holds, in a stable order.
    fn scan(&self) -> Vec<Digest>;
    /// Digests of the live records this core holds whose payload starts with one of `tags`
    /// (the record kinds' magic bytes, `crate::model::records::MAGIC_*`), in the order to
    /// read them: on the shards store, by device location, decided from the primary index
    /// without reading a record. May be a superset (the default is [`Kv::scan`]): callers
    /// check the kind of every record they read.
    fn scan_tagged(&self, tags: &[u8]) -> Vec<Digest> {
        let _ = tags;
        self.scan()
    }
    /// The live records under `digests`, in input order (`None` where absent), as
    /// [`Kv::get`] answers each. For scans: the shards store reads neighbouring records (as
    /// [`Kv::scan_tagged`] lists them, in location order) with one device read. Default:
    /// `get` each in turn.
    async fn get_run(&self, digests: &[Digest]) -> Result<Vec<Option<Got>>, KvError> {
        let mut out = Vec::with_capacity(digests.len());
        for d in digests {
            out.push(self.get(d).await?);
        }
        Ok(out)
    }
    /// Writes like [`Kv::put`], but a store that acknowledges writes once durable may answer
    /// before this one is: the caller passes the returned [`Unsynced`] to [`Kv::sync`]
    /// before it acknowledges anything that depends on the write. Refusals are answered as
    /// by `put`. Default: `put`, nothing left to sync.
    async fn put_unsynced(
        &self,
        digest: &Digest,
        payload: &[u8],
        mode: WriteMode,
    ) -> Result<(u16, Unsynced), KvError> {
        Ok((self.put(digest, payload, mode).await?, Unsynced::default()))
    }
    /// Waits until the writes `unsynced` names, and every write made before them to the same
    /// shards, are durable. Default: nothing to wait for.
    async fn sync(&self, unsynced: &Unsynced) -> Result<(), KvError> {
        let _ = unsynced;
        Ok(())
    }
    /// This core's secondary indexes and counters (`crate::index`), when the store has them.
    fn indexes(&self) -> Option<std::rc::Rc<crate::index::CoreIndexes>> {
        None
    }
}

/// A store by reference is a store (the overload-retrying wrapper over a model's own store).
impl<K: Kv> Kv for &K {
    async fn get(&self, digest: &Digest) -> Result<Option<Got>, KvError> {
        (**self).get(digest).await
    }

    async fn put(&self, digest: &Digest, payload: &[u8], mode: WriteMode) -> Result<u16, KvError> {
        (**self).put(digest, payload, mode).await
    }

    async fn delete(&self, digest: &Digest, mode: WriteMode) -> Result<bool, KvError> {
        (**self).delete(digest, mode).await
    }

    fn scan(&self) -> Vec<Digest> {
        (**self).scan()
    }

    fn scan_tagged(&self, tags: &[u8]) -> Vec<Digest> {
        (**self).scan_tagged(tags)
    }

    async fn get_run(&self, digests: &[Digest]) -> Result<Vec<Option<Got>>, KvError> {
        (**self).get_run(digests).await
    }

    async fn put_unsynced(
        &self,
        digest: &Digest,
        payload: &[u8],
        mode: WriteMode,
    ) -> Result<(u16, Unsynced), KvError> {
        (**self).put_unsynced(digest, payload, mode).await
    }

    async fn sync(&self, unsynced: &Unsynced) -> Result<(), KvError> {
        (**self).sync(unsynced).await
    }

    fn indexes(&self) -> Option<std::rc::Rc<crate::index::CoreIndexes>> {
        (**self).indexes()
    }
}

/// `K` with every put made by [`Kv::put_unsynced`], collecting what is left to sync: the
/// writes of an edge add before its commit, made durable together by one [`Kv::sync`]
/// (one flush per shard touched, concurrently) instead of one flush each in sequence.
/// Deletes stay durable ones.
pub struct Deferring<'a, K> {
    kv: &'a K,
    unsynced: RefCell<Unsynced>,
}

impl<'a, K: Kv> Deferring<'a, K> {
    /// Puts through `kv`, nothing collected yet.
    pub fn new(kv: &'a K) -> Deferring<'a, K> {
        Deferring {
            kv,
            unsynced: RefCell::new(Unsynced::default()),
        }
    }

    /// Waits until every put made through this wrapper so far is durable.
    pub async fn sync_all(&self) -> Result<(), KvError> {
        let u = std::mem::take(&mut *self.unsynced.borrow_mut());
        if u.is_empty() {
            return Ok(());
        }
        self.kv.sync(&u).await
    }
}

impl<K: Kv> Kv for Deferring<'_, K> {
    async fn get(&self, digest: &Digest) -> Result<Option<Got>, KvError> {
        self.kv.get(digest).await
    }

    async fn put(&self, digest: &Digest, payload: &[u8], mode: WriteMode) -> Result<u16, KvError> {
        let (g, u) = self.kv.put_unsynced(digest, payload, mode).await?;
        self.unsynced.borrow_mut().merge(&u);
        Ok(g)
    }

    async fn delete(&self, digest: &Digest, mode: WriteMode) -> Result<bool, KvError> {
        self.kv.delete(digest, mode).await
    }

    fn scan(&self) -> Vec<Digest> {
        self.kv.scan()
    }

    fn scan_tagged(&self, tags: &[u8]) -> Vec<Digest> {
        self.kv.scan_tagged(tags)
    }

    async fn get_run(&self, digests: &[Digest]) -> Result<Vec<Option<Got>>, KvError> {
        self.kv.get_run(digests).await
    }

    fn indexes(&self) -> Option<std::rc::Rc<crate::index::CoreIndexes>> {
        self.kv.indexes()
    }
}

/// Counters of a [`MemKv`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemKvStats {
    pub gets: u64,
    pub puts: u64,
    pub deletes: u64,
    /// Writes refused for `Exists` or `GenerationMismatch`.
    pub conflicts: u64,
}

/// An in-memory [`Kv`]: insertion-ordered, generations as the store counts them (16-bit,
/// wrapping, skipping 0).
#[derive(Debug, Default)]
pub struct MemKv {
    records: RefCell<IndexMap<Digest, (u16, Vec<u8>)>>,
    stats: Cell<MemKvStats>,
    /// When set, every call yields once before it acts, so concurrent tasks interleave.
    yield_each_call: Cell<bool>,
}

/// A future that is pending once.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn next_generation(g: u16) -> u16 {
    match g.wrapping_add(1) {
        0 => 1,
        n => n,
    }
}

impl MemKv {
    /// An empty store.
    pub fn new() -> MemKv {
        MemKv::default()
    }

    /// Makes every call yield once first (for concurrency tests).
    pub fn set_yield_each_call(&self, on: bool) {
        self.yield_each_call.set(on);
    }

    /// The counters so far.
    pub fn stats(&self) -> MemKvStats {
        self.stats.get()
    }

    /// Number of live records.
    pub fn len(&self) -> usize {
        self.records.borrow().len()
    }

    /// Whether no record is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces a record's payload without any check (to test decoders on corrupt bytes).
    pub fn corrupt(&self, digest: &Digest, payload: Vec<u8>) {
        if let Some(r) = self.records.borrow_mut().get_mut(digest) {
            r.1 = payload;
        }
    }

    async fn pause(&self) {
        if self.yield_each_call.get() {
            YieldOnce(false).await;
        }
    }

    fn bump(&self, f: impl FnOnce(&mut MemKvStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    fn check(&self, current: Option<u16>, mode: WriteMode) -> Result<(), KvError> {
        let r = match (mode, current) {
            (WriteMode::Plain, _) => Ok(()),
            (WriteMode::CreateOnly, Some(_)) => Err(KvError::Exists),
            (WriteMode::CreateOnly, None) => Ok(()),
            (WriteMode::ExpectGeneration(0), None) => Ok(()),
            (WriteMode::ExpectGeneration(g), Some(c)) if g == c => Ok(()),
            (WriteMode::ExpectGeneration(_), _) => Err(KvError::GenerationMismatch),
        };
        if r.is_err() {
            self.bump(|s| s.conflicts += 1);
        }
        r
    }
}

impl Kv for MemKv {
    async fn get(&self, digest: &Digest) -> Result<Option<Got>, KvError> {
        self.pause().await;
        self.bump(|s| s.gets += 1);
        Ok(self.records.borrow().get(digest).map(|(g, p)| Got {
            generation: *g,
            payload: p.clone(),
            device_bytes: 0,
        }))
    }

    async fn put(&self, digest: &Digest, payload: &[u8], mode: WriteMode) -> Result<u16, KvError> {
        self.pause().await;
        self.bump(|s| s.puts += 1);
        let mut recs = self.records.borrow_mut();
        let current = recs.get(digest).map(|r| r.0);
        self.check(current, mode)?;
        let g = next_generation(current.unwrap_or(0));
        match recs.get_mut(digest) {
            Some(r) => *r = (g, payload.to_vec()),
            None => {
                recs.insert(*digest, (g, payload.to_vec()));
            }
        }
        Ok(g)
    }

    async fn delete(&self, digest: &Digest, mode: WriteMode) -> Result<bool, KvError> {
        self.pause().await;
        self.bump(|s| s.deletes += 1);
        let mut recs = self.records.borrow_mut();
        let current = recs.get(digest).map(|r| r.0);
        self.check(current, mode)?;
        Ok(recs.shift_remove(digest).is_some())
    }

    fn scan(&self) -> Vec<Digest> {
        self.records.borrow().keys().copied().collect()
    }

    /// Exactly the records of `tags` (as the shards store answers), in insertion order.
    fn scan_tagged(&self, tags: &[u8]) -> Vec<Digest> {
        self.records
            .borrow()
            .iter()
            .filter(|(_, r)| r.1.first().is_some_and(|t| tags.contains(t)))
            .map(|(d, _)| *d)
            .collect()
    }
}

/// A [`Kv`] that spans every core, as the query executor sees the store: batched reads and a
/// scan of every shard. The per-core runtime implements it over the shards (local records
/// directly, remote ones by message to their owner core, grouped per core); [`MemKv`] by its
/// single map. `get`/`put`/`delete` of the underlying [`Kv`] route by digest the same way.
#[allow(async_fn_in_trait)] // per-core executor: futures are never sent between threads
pub trait Records: Kv {
    /// The records under `digests`, `None` where absent, in input order. Implementations
    /// fetch concurrently and send one message per owner core, never one per record.
    async fn get_many(&self, digests: &[Digest]) -> Result<Vec<Option<Got>>, KvError> {
        let mut out = Vec::with_capacity(digests.len());
        for d in digests {
            out.push(self.get(d).await?);
        }
        Ok(out)
    }

    /// The cross-core messages `get_many(digests)` sends and receives (each request and each
    /// reply counts one; 0 for a store on one map).
    fn get_many_messages(&self, _digests: &[Digest]) -> u64 {
        0
    }

    /// The cross-core messages `scan_all()` sends and receives.
    fn scan_all_messages(&self) -> u64 {
        0
    }

    /// Digests of every live record on every core (each core's in its stable scan order,
    /// cores in order).
    async fn scan_all(&self) -> Result<Vec<Digest>, KvError> {
        Ok(self.scan())
    }

    /// Runs a frontier plan across every core (`crate::frontier`): `None` when this store
    /// cannot (one map, no cores), and the attempts executor runs the query instead.
    async fn frontier(
        &self,
        _q: std::sync::Arc<crate::frontier::Query>,
        _bytecode: &gremlin::bytecode::Bytecode,
        _limits: gremlin::machine::Limits,
        _cancel: Option<std::rc::Rc<Cell<bool>>>,
        _stream: Option<&crate::frontier::coord::ResultSender>,
    ) -> Option<
        Result<
            (
                Vec<gremlin::machine::Traverser>,
                crate::frontier::FrontierStats,
            ),
            gremlin::GremlinError,
        >,
    > {
        None
    }
}

impl Records for MemKv {}
