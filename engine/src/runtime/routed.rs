//! [`RoutedKv`]: the record store as one core sees the whole cluster. A digest's partition
//! names its shard, the shard its owner core; records of this core's shards are read and
//! written directly, others by a message over the core mesh to their owner, whose inbox task
//! serves it from its local shards and answers on a per-request [`oneshot`].

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use glommio::channels::channel_mesh::Senders;
use glommio::sync::Semaphore;
use shards::{DataDir, Shard};

use gremlin::bytecode::Bytecode;
use gremlin::machine::{Limits, Traverser};
use gremlin::GremlinError;

use crate::frontier::coord::{self, Transport};
use crate::frontier::{owner, Batch, FrontierStats, Query, Reply};
use crate::model::kv::{Digest, Got, Kv, KvError, Records, Unsynced, WriteMode};
use crate::runtime::oneshot;
use crate::runtime::RuntimeConfig;

/// A request from one core to the owner of the records it names. Everything in it is `Send`:
/// digests, payload bytes, the write mode, and the reply channel.
pub(crate) enum Msg {
    /// Read these records (all owned by the receiving core).
    Get {
        digests: Vec<Digest>,
        reply: oneshot::Sender<Result<Vec<Option<Got>>, KvError>>,
    },
    /// Write one record.
    Put {
        digest: Digest,
        payload: Vec<u8>,
        mode: WriteMode,
        reply: oneshot::Sender<Result<u16, KvError>>,
    },
    /// Write one record without waiting for it to be durable ([`Kv::put_unsynced`]); the
    /// answer carries the flush that makes it durable.
    PutUnsynced {
        digest: Digest,
        payload: Vec<u8>,
        mode: WriteMode,
        reply: oneshot::Sender<Result<(u16, Unsynced), KvError>>,
    },
    /// Wait until these flushes of the receiving core's shards are durable ([`Kv::sync`]).
    Sync {
        unsynced: Unsynced,
        reply: oneshot::Sender<Result<(), KvError>>,
    },
    /// Delete one record.
    Delete {
        digest: Digest,
        mode: WriteMode,
        reply: oneshot::Sender<Result<bool, KvError>>,
    },
    /// Digests of every live record of the receiving core.
    Scan {
        reply: oneshot::Sender<Result<Vec<Digest>, KvError>>,
    },
    /// Evaluate a frontier batch on the receiving core's records (`crate::frontier`).
    Frontier {
        query: Arc<Query>,
        batch: Batch,
        reply: oneshot::Sender<Result<Reply, GremlinError>>,
    },
}

/// Messages cross threads: checked at compile time.
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<Msg>();
};

/// Counters of one core's routing (cheap to copy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteStats {
    /// Requests this core sent to other cores.
    pub messages_sent: u64,
    /// Records this core asked other cores for.
    pub remote_digests_read: u64,
    /// Requests this core served for other cores.
    pub messages_served: u64,
    /// Calls refused because too many remote requests were already waiting.
    pub overloads: u64,
    /// Frontier batches this core evaluated (its own queries' and other cores').
    pub frontier_batches: u64,
    /// Of those, batches stopped (or never started) because their query was given up: its
    /// client went away, its request was dropped, or it failed elsewhere.
    pub frontier_batches_given_up: u64,
}

/// One core's routing state, shared by every [`RoutedKv`] clone on the core.
pub(crate) struct Local {
    pub(crate) core: usize,
    pub(crate) cores: usize,
    pub(crate) dir: Arc<DataDir>,
    /// Indexed by shard id; `Some` for the shards this core owns.
    pub(crate) shards: Vec<Option<Rc<Shard>>>,
    pub(crate) senders: Senders<Msg>,
    /// Mesh peer index of each core.
    pub(crate) peer_of_core: Vec<usize>,
    pub(crate) cfg: RuntimeConfig,
    /// Remote requests this core may have outstanding at once.
    pub(crate) outgoing: Rc<Semaphore>,
    /// One sender at a time per peer channel (so a full channel has one waiter).
    pub(crate) peer_send: Vec<Rc<Semaphore>>,
    /// Remote calls waiting for an `outgoing` permit.
    pub(crate) waiting: Cell<usize>,
    /// Remote calls holding a permit (sent or sending, reply not yet in).
    pub(crate) in_flight: Cell<usize>,
    /// Set by shutdown: new remote calls fail.
    pub(crate) closing: Cell<bool>,
    pub(crate) stats: Cell<RouteStats>,
    /// This core's secondary indexes and counters (`crate::index`).
    pub(crate) indexes: Rc<crate::index::CoreIndexes>,
}

impl Local {
    pub(crate) fn bump(&self, f: impl FnOnce(&mut RouteStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    /// Evaluates a frontier batch on this core's records, counted in [`RouteStats`].
    async fn frontier_batch(&self, q: &Query, batch: Batch) -> Result<Reply, GremlinError> {
        let r = owner::process(
            LocalShards(self),
            |d| self.owner_core(d) == self.core,
            q,
            batch,
        )
        .await;
        let given_up = r.is_err() && q.cancelled.load(std::sync::atomic::Ordering::Relaxed);
        self.bump(|s| {
            s.frontier_batches += 1;
            s.frontier_batches_given_up += u64::from(given_up);
        });
        r
    }

    fn owner_core(&self, d: &Digest) -> usize {
        self.dir.shard_of(d) as usize % self.cores.max(1)
    }

    fn shard(&self, d: &Digest) -> Result<&Rc<Shard>, KvError> {
        let id = self.dir.shard_of(d);
        self.shards
            .get(id as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| {
                KvError::Store(format!(
                    "shard {id} is not owned by core {} (routing error)",
                    self.core
                ))
            })
    }

    /// Digests of every live record of this core's shards, shards in id order.
    pub(crate) fn scan(&self) -> Vec<Digest> {
        let mut out = Vec::new();
        for s in self.shards.iter().flatten() {
            out.extend(s.scan_digests(None));
        }
        out
    }

    /// Digests of the live records of `tags` of this core's shards, shards in id order, each
    /// shard's in device location order ([`Shard::scan_tagged`]).
    pub(crate) fn scan_tagged(&self, tags: &[u8]) -> Vec<Digest> {
        let mut out = Vec::new();
        for s in self.shards.iter().flatten() {
            out.extend(s.scan_tagged(tags, None).into_iter().map(|(d, _)| d));
        }
        out
    }

    /// Reads records of this core's shards with [`Shard::get_run`] (neighbouring records of
    /// a location-ordered list in one device read), each stretch of one shard's digests by
    /// that shard.
    pub(crate) async fn get_run(&self, digests: &[Digest]) -> Result<Vec<Option<Got>>, KvError> {
        let mut out = Vec::with_capacity(digests.len());
        let mut rest = digests;
        while let Some(first) = rest.first() {
            let id = self.dir.shard_of(first);
            let n = rest
                .iter()
                .position(|d| self.dir.shard_of(d) != id)
                .unwrap_or(rest.len());
            let (part, tail) = rest.split_at(n);
            out.extend(Kv::get_run(&**self.shard(first)?, part).await?);
            rest = tail;
        }
        Ok(out)
    }

    /// Reads records of this core's shards, at most `local_reads_concurrent_max` at a time.
    pub(crate) async fn read(&self, digests: &[Digest]) -> Result<Vec<Option<Got>>, KvError> {
        let lanes = self
            .cfg
            .local_reads_concurrent_max
            .clamp(1, digests.len().max(1));
        let lane_futs: Vec<_> = (0..lanes)
            .map(|lane| {
                Box::pin(async move {
                    let mut got = Vec::new();
                    for (i, d) in digests.iter().enumerate().skip(lane).step_by(lanes) {
                        let shard = self.shard(d)?;
                        got.push((i, Kv::get(&**shard, d).await?));
                    }
                    Ok::<_, KvError>(got)
                })
            })
            .collect();
        let mut out = vec![None; digests.len()];
        for r in join_all(lane_futs).await {
            for (i, g) in r? {
                if let Some(slot) = out.get_mut(i) {
                    *slot = g;
                }
            }
        }
        Ok(out)
    }

    /// Waits until the flushes `unsynced` names on this core's shards are durable, all
    /// shards at once (a shard flushes only when someone waits for it).
    pub(crate) async fn sync(&self, unsynced: &Unsynced) -> Result<(), KvError> {
        let mut waits = Vec::new();
        for &(id, flush) in unsynced.flushes() {
            let shard = self
                .shards
                .get(id as usize)
                .and_then(Option::as_ref)
                .ok_or_else(|| {
                    KvError::Store(format!(
                        "shard {id} is not owned by core {} (routing error)",
                        self.core
                    ))
                })?;
            waits.push(Box::pin(shard.wait_flushed(flush)));
        }
        for r in join_all(waits).await {
            r.map_err(|e| KvError::Store(e.to_string()))?;
        }
        Ok(())
    }

    /// Serves one request from another core. Touches only this core's shards, so it never
    /// waits on another core (the deadlock-freedom argument in docs/ARCHITECTURE.md).
    pub(crate) async fn serve(&self, msg: Msg) {
        self.bump(|s| s.messages_served += 1);
        match msg {
            Msg::Get { digests, reply } => reply.send(self.read(&digests).await),
            Msg::Put {
                digest,
                payload,
                mode,
                reply,
            } => {
                let r = match self.shard(&digest) {
                    Ok(s) => Kv::put(&**s, &digest, &payload, mode).await,
                    Err(e) => Err(e),
                };
                reply.send(r);
            }
            Msg::PutUnsynced {
                digest,
                payload,
                mode,
                reply,
            } => {
                let r = match self.shard(&digest) {
                    Ok(s) => Kv::put_unsynced(&**s, &digest, &payload, mode).await,
                    Err(e) => Err(e),
                };
                reply.send(r);
            }
            Msg::Sync { unsynced, reply } => reply.send(self.sync(&unsynced).await),
            Msg::Delete {
                digest,
                mode,
                reply,
            } => {
                let r = match self.shard(&digest) {
                    Ok(s) => Kv::delete(&**s, &digest, mode).await,
                    Err(e) => Err(e),
                };
                reply.send(r);
            }
            Msg::Frontier {
                query,
                batch,
                reply,
            } => {
                // Local records only (LocalShards refuses others): never waits on a core.
                let r = self.frontier_batch(&query, batch).await;
                reply.send(r);
            }
            Msg::Scan { reply } => {
                let d = self.scan();
                reply.send(if d.len() > self.cfg.scan_digests_max {
                    Err(scan_limit(&self.cfg))
                } else {
                    Ok(d)
                });
            }
        }
    }
}

/// This core's own shards as a [`Kv`] (reads only; a record of another core is an error).
pub(crate) struct LocalShards<'a>(pub(crate) &'a Local);

impl Kv for LocalShards<'_> {
    async fn get(&self, digest: &Digest) -> Result<Option<Got>, KvError> {
        Kv::get(&**self.0.shard(digest)?, digest).await
    }

    async fn put(&self, _: &Digest, _: &[u8], _: WriteMode) -> Result<u16, KvError> {
        Err(KvError::Store("local shard view is read-only".to_string()))
    }

    async fn delete(&self, _: &Digest, _: WriteMode) -> Result<bool, KvError> {
        Err(KvError::Store("local shard view is read-only".to_string()))
    }

    fn scan(&self) -> Vec<Digest> {
        self.0.scan()
    }

    fn scan_tagged(&self, tags: &[u8]) -> Vec<Digest> {
        self.0.scan_tagged(tags)
    }

    async fn get_run(&self, digests: &[Digest]) -> Result<Vec<Option<Got>>, KvError> {
        self.0.get_run(digests).await
    }

    fn indexes(&self) -> Option<Rc<crate::index::CoreIndexes>> {
        Some(self.0.indexes.clone())
    }
}

fn scan_limit(cfg: &RuntimeConfig) -> KvError {
    KvError::Store(format!(
        "limit scan_digests_max ({}) exceeded",
        cfg.scan_digests_max
    ))
}

/// Decrements a counter when dropped (so a cancelled call leaves the counts right).
struct CountGuard<'a>(&'a Cell<usize>);

impl<'a> CountGuard<'a> {
    fn new(c: &'a Cell<usize>) -> CountGuard<'a> {
        c.set(c.get() + 1);
        CountGuard(c)
    }
}

impl Drop for CountGuard<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// The store spanning every core, as the graph model and the query executor on one core use
/// it. Cheap to clone (an `Rc`); not `Send` (it belongs to its core).
#[derive(Clone)]
pub struct RoutedKv {
    pub(crate) local: Rc<Local>,
}

impl RoutedKv {
    /// The core this store belongs to.
    pub fn core(&self) -> usize {
        self.local.core
    }

    /// The core owning the record under `digest`.
    pub fn owner_core(&self, digest: &Digest) -> usize {
        self.local.owner_core(digest)
    }

    /// This core's routing counters.
    pub fn route_stats(&self) -> RouteStats {
        self.local.stats.get()
    }

    /// Sends a request to `core` and waits for its answer. Fails fast (never waits without
    /// bound) when `remote_requests_waiting_max` calls already wait for a slot.
    async fn call<T>(
        &self,
        core: usize,
        make: impl FnOnce(oneshot::Sender<T>) -> Msg,
    ) -> Result<T, KvError> {
        let l = &*self.local;
        if l.closing.get() {
            return Err(KvError::Store(format!("core {} is shutting down", l.core)));
        }
        if l.waiting.get() >= l.cfg.remote_requests_waiting_max {
            l.bump(|s| s.overloads += 1);
            return Err(KvError::Store(format!(
                "overload: limit remote_requests_waiting_max ({}) reached on core {}",
                l.cfg.remote_requests_waiting_max, l.core
            )));
        }
        let (peer, peer_send) = match (l.peer_of_core.get(core), l.peer_send.get(core)) {
            (Some(p), Some(s)) => (*p, s.clone()),
            _ => return Err(KvError::Store(format!("no core {core}"))),
        };
        let _permit = {
            let _waiting = CountGuard::new(&l.waiting);
            l.outgoing
                .acquire_permit(1)
                .await
                .map_err(|e| KvError::Store(format!("core {} is shutting down: {e}", l.core)))?
        };
        let _in_flight = CountGuard::new(&l.in_flight);
        let (tx, rx) = oneshot::channel();
        {
            let _one_sender = peer_send
                .acquire_permit(1)
                .await
                .map_err(|e| KvError::Store(format!("core {} is shutting down: {e}", l.core)))?;
            if l.closing.get() {
                return Err(KvError::Store(format!("core {} is shutting down", l.core)));
            }
            l.senders
                .send_to(peer, make(tx))
                .await
                .map_err(|_| KvError::Store(format!("core {core} is not accepting requests")))?;
        }
        l.bump(|s| s.messages_sent += 1);
        rx.await
            .ok_or_else(|| KvError::Store(format!("core {core} dropped the request")))
    }
}

impl Kv for RoutedKv {
    async fn get(&self, digest: &Digest) -> Result<Option<Got>, KvError> {
        let core = self.local.owner_core(digest);
        if core == self.local.core {
            return Kv::get(&**self.local.shard(digest)?, digest).await;
        }
        let digests = vec![*digest];
        self.local.bump(|s| s.remote_digests_read += 1);
        let mut got = self
            .call(core, |reply| Msg::Get { digests, reply })
            .await??;
        Ok(got.pop().flatten())
    }

    async fn put(&self, digest: &Digest, payload: &[u8], mode: WriteMode) -> Result<u16, KvError> {
        let core = self.local.owner_core(digest);
        if core == self.local.core {
            return Kv::put(&**self.local.shard(digest)?, digest, payload, mode).await;
        }
        let (digest, payload) = (*digest, payload.to_vec());
        self.call(core, |reply| Msg::Put {
            digest,
            payload,
            mode,
            reply,
        })
        .await?
    }

    async fn delete(&self, digest: &Digest, mode: WriteMode) -> Result<bool, KvError> {
        let core = self.local.owner_core(digest);
        if core == self.local.core {
            return Kv::delete(&**self.local.shard(digest)?, digest, mode).await;
        }
        let digest = *digest;
        self.call(core, |reply| Msg::Delete {
            digest,
            mode,
            reply,
        })
        .await?
    }

    fn scan(&self) -> Vec<Digest> {
        self.local.scan()
    }

    fn scan_tagged(&self, tags: &[u8]) -> Vec<Digest> {
        self.local.scan_tagged(tags)
    }

    /// This core's records by [`Local::get_run`]; with any other core's, `get` each.
    async fn get_run(&self, digests: &[Digest]) -> Result<Vec<Option<Got>>, KvError> {
        if digests
            .iter()
            .all(|d| self.local.owner_core(d) == self.local.core)
        {
            return self.local.get_run(digests).await;
        }
        let mut out = Vec::with_capacity(digests.len());
        for d in digests {
            out.push(self.get(d).await?);
        }
        Ok(out)
    }

    async fn put_unsynced(
        &self,
        digest: &Digest,
        payload: &[u8],
        mode: WriteMode,
    ) -> Result<(u16, Unsynced), KvError> {
        let core = self.local.owner_core(digest);
        if core == self.local.core {
            return Kv::put_unsynced(&**self.local.shard(digest)?, digest, payload, mode).await;
        }
        let (digest, payload) = (*digest, payload.to_vec());
        self.call(core, |reply| Msg::PutUnsynced {
            digest,
            payload,
            mode,
            reply,
        })
        .await?
    }

    /// One wait per owner core, all cores at once (this core's shards directly, each other
    /// core by one message).
    async fn sync(&self, unsynced: &Unsynced) -> Result<(), KvError> {
        let l = &*self.local;
        let mut per_core: Vec<Unsynced> = vec![Unsynced::default(); l.cores.max(1)];
        for &(shard, flush) in unsynced.flushes() {
            let core = shard as usize % l.cores.max(1);
            if let Some(u) = per_core.get_mut(core) {
                u.note(shard, flush);
            }
        }
        type SyncPart<'a> = Pin<Box<dyn Future<Output = Result<(), KvError>> + 'a>>;
        let mut parts: Vec<SyncPart<'_>> = Vec::new();
        for (core, u) in per_core.into_iter().enumerate() {
            if u.is_empty() {
                continue;
            }
            if core == l.core {
                parts.push(Box::pin(async move { l.sync(&u).await }));
            } else {
                parts.push(Box::pin(async move {
                    self.call(core, |reply| Msg::Sync { unsynced: u, reply })
                        .await?
                }));
            }
        }
        for r in join_all(parts).await {
            r?;
        }
        Ok(())
    }

    fn indexes(&self) -> Option<Rc<crate::index::CoreIndexes>> {
        Some(self.local.indexes.clone())
    }
}

impl Transport for RoutedKv {
    fn core(&self) -> usize {
        self.local.core
    }

    fn owner_core(&self, digest: &Digest) -> usize {
        self.local.owner_core(digest)
    }

    async fn process(
        &self,
        core: usize,
        q: &Arc<Query>,
        batch: Batch,
    ) -> Result<Reply, GremlinError> {
        let l = &*self.local;
        if core == l.core {
            return l.frontier_batch(q, batch).await;
        }
        let query = q.clone();
        self.call(core, |reply| Msg::Frontier {
            query,
            batch,
            reply,
        })
        .await
        .map_err(|e| GremlinError::Graph(format!("record store: {e}")))?
    }
}

type ScanPart<'a> = Pin<Box<dyn Future<Output = Result<Vec<Digest>, KvError>> + 'a>>;
type Part<'a> = Pin<Box<dyn Future<Output = Result<Vec<(usize, Option<Got>)>, KvError>> + 'a>>;

impl Records for RoutedKv {
    /// Groups `digests` by owner core: this core's are read directly (concurrently, bounded by
    /// `local_reads_concurrent_max`), each other core gets one message per
    /// `message_digests_max` digests; all cores are asked at once.
    async fn get_many(&self, digests: &[Digest]) -> Result<Vec<Option<Got>>, KvError> {
        let l = &*self.local;
        let mut per_core: Vec<(Vec<usize>, Vec<Digest>)> = vec![(Vec::new(), Vec::new()); l.cores];
        for (i, d) in digests.iter().enumerate() {
            if let Some((idx, ds)) = per_core.get_mut(l.owner_core(d)) {
                idx.push(i);
                ds.push(*d);
            }
        }
        let chunk = l.cfg.message_digests_max.max(1);
        let mut parts: Vec<Part<'_>> = Vec::new();
        for (core, (idx, ds)) in per_core.into_iter().enumerate() {
            if ds.is_empty() {
                continue;
            }
            if core == l.core {
                parts.push(Box::pin(async move {
                    let got = l.read(&ds).await?;
                    Ok(idx.into_iter().zip(got).collect())
                }));
                continue;
            }
            parts.push(Box::pin(async move {
                let mut out = Vec::with_capacity(ds.len());
                for (ic, dc) in idx.chunks(chunk).zip(ds.chunks(chunk)) {
                    let digests = dc.to_vec();
                    l.bump(|s| s.remote_digests_read += dc.len() as u64);
                    let got = self
                        .call(core, |reply| Msg::Get { digests, reply })
                        .await??;
                    if got.len() != dc.len() {
                        return Err(KvError::Store(format!(
                            "core {core} answered {} records for {} digests",
                            got.len(),
                            dc.len()
                        )));
                    }
                    out.extend(ic.iter().copied().zip(got));
                }
                Ok(out)
            }));
        }
        let mut out = vec![None; digests.len()];
        for r in join_all(parts).await {
            for (i, g) in r? {
                if let Some(slot) = out.get_mut(i) {
                    *slot = g;
                }
            }
        }
        Ok(out)
    }

    fn get_many_messages(&self, digests: &[Digest]) -> u64 {
        let l = &*self.local;
        let mut per_core = vec![0u64; l.cores];
        for d in digests {
            if let Some(n) = per_core.get_mut(l.owner_core(d)) {
                *n += 1;
            }
        }
        let chunk = l.cfg.message_digests_max.max(1) as u64;
        per_core
            .iter()
            .enumerate()
            .filter(|&(core, _)| core != l.core)
            .map(|(_, &n)| 2 * n.div_ceil(chunk))
            .sum()
    }

    fn scan_all_messages(&self) -> u64 {
        2 * (self.local.cores as u64).saturating_sub(1)
    }

    async fn frontier(
        &self,
        q: Arc<Query>,
        bytecode: &Bytecode,
        limits: Limits,
        cancel: Option<Rc<std::cell::Cell<bool>>>,
        stream: Option<&coord::ResultSender>,
    ) -> Option<Result<(Vec<Traverser>, FrontierStats), GremlinError>> {
        Some(coord::run(self, q, bytecode, limits, cancel, self.local.cores, stream).await)
    }

    async fn scan_all(&self) -> Result<Vec<Digest>, KvError> {
        let l = &*self.local;
        let mut parts: Vec<ScanPart<'_>> = Vec::new();
        for core in 0..l.cores {
            if core == l.core {
                parts.push(Box::pin(async move { Ok(l.scan()) }));
            } else {
                parts.push(Box::pin(async move {
                    self.call(core, |reply| Msg::Scan { reply }).await?
                }));
            }
        }
        let mut out = Vec::new();
        for r in join_all(parts).await {
            out.extend(r?);
            if out.len() > l.cfg.scan_digests_max {
                return Err(scan_limit(&l.cfg));
            }
        }
        Ok(out)
    }
}

/// Polls every future until all are done; outputs in input order.
pub(crate) struct JoinAll<F: Future + Unpin> {
    futs: Vec<Option<F>>,
    out: Vec<Option<F::Output>>,
}

/// Runs `futs` concurrently on the current task.
pub(crate) fn join_all<F: Future + Unpin>(futs: Vec<F>) -> JoinAll<F> {
    let out = futs.iter().map(|_| None).collect();
    JoinAll {
        futs: futs.into_iter().map(Some).collect(),
        out,
    }
}

// The outputs are never pinned: only the futures are polled through `Pin`.
impl<F: Future + Unpin> Unpin for JoinAll<F> {}

impl<F: Future + Unpin> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut pending = false;
        for (slot, out) in this.futs.iter_mut().zip(this.out.iter_mut()) {
            if let Some(f) = slot {
                match Pin::new(f).poll(cx) {
                    Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            return Poll::Pending;
        }
        Poll::Ready(this.out.iter_mut().filter_map(Option::take).collect())
    }
}
