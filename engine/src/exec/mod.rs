//! The query executor: runs a compiled Gremlin traversal over the graph model on an async
//! record store spanning every core ([`Records`]), without ever blocking on a record read.
//!
//! The step machine and gremlin's `Graph` trait are synchronous; the store is not. A query
//! therefore runs as optimistic **attempts** over a per-query record cache: an attempt runs
//! the whole traversal synchronously against the cache ([`cache::CacheKv`] under the model);
//! every record it reads that is not cached is recorded as a miss (and reads as absent); the
//! attempt goes on so that it records every miss of the frontier (only running out of
//! reserved ids or hitting a limit stops it early). When an attempt ends with misses, the executor
//! fetches them all with one [`Records::get_many`] (and the scan list of every core with
//! [`Records::scan_all`] when a scan was asked), adds them to the cache and runs a fresh
//! attempt. The first attempt that misses nothing is the answer: its logged mutations are
//! replayed, in order, with the real model's async operations, and its finished traversers
//! are returned. See `docs/ARCHITECTURE.md` ("Life of a query").

pub mod cache;
pub mod graph;
#[cfg(test)]
mod tests;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use gremlin::bytecode::Bytecode;
use gremlin::graph::Graph;
use gremlin::machine::io::IoHandler;
use gremlin::machine::services::ServiceRegistry;
use gremlin::machine::{Limits, Machine, Traverser};
use gremlin::value::GraphData;
use gremlin::GremlinError;

use crate::exec::cache::{CacheKv, QueryCache, StepCosts};
use crate::exec::graph::{AttemptGraph, IdList, WriteOp};
use crate::frontier::{self, FrontierStats, Query};
use crate::model::adapter::to_gremlin;
use crate::model::keys::ElementId;
use crate::model::kv::{Digest, Got, KvError, Records};
use crate::model::ops::{ManualClock, Model, NewVertexProperty};
use crate::model::ModelError;

/// Default: records (present or absent) one query may fetch into its cache.
pub const QUERY_RECORDS_MAX: u64 = 1_000_000;
/// Default: payload bytes one query's cache (plus one attempt's writes) may hold.
pub const QUERY_CACHE_BYTES_MAX: u64 = 256 * 1024 * 1024;
/// Default: attempts one query may take (each fetches what the previous one missed).
pub const QUERY_ATTEMPTS_MAX: u32 = 256;
/// Default: mutations one query may make.
pub const QUERY_WRITES_MAX: usize = 100_000;
/// Generated ids one query may hold.
pub const QUERY_IDS_MAX: usize = 2 * QUERY_WRITES_MAX;
/// Generated ids a query takes from the pool when it first runs short (then doubling).
pub const ID_TAKE_IDS: usize = 16;

/// The message of a query stopped by its deadline (the step machine's own message).
pub const DEADLINE_MESSAGE: &str = "The traversal exceeded its time limit";
/// The message of a query stopped because the client went away.
pub const CANCEL_MESSAGE: &str = "The traversal was cancelled (the client went away)";

/// Per-request options.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// When the request must give up (`evaluationTimeout`).
    pub deadline: Option<Instant>,
    /// Set by the server when the client went away: stop at the next chance.
    pub cancel: Option<std::rc::Rc<std::cell::Cell<bool>>>,
}

/// The executor's own per-query limits (the step machine's are [`Limits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecLimits {
    /// Records one query may fetch ([`QUERY_RECORDS_MAX`]).
    pub records_max: u64,
    /// Bytes one query may cache ([`QUERY_CACHE_BYTES_MAX`]).
    pub cache_bytes_max: u64,
    /// Attempts one query may take ([`QUERY_ATTEMPTS_MAX`]).
    pub attempts_max: u32,
    /// Mutations one query may make ([`QUERY_WRITES_MAX`]).
    pub writes_max: usize,
}

impl Default for ExecLimits {
    fn default() -> Self {
        ExecLimits {
            records_max: QUERY_RECORDS_MAX,
            cache_bytes_max: QUERY_CACHE_BYTES_MAX,
            attempts_max: QUERY_ATTEMPTS_MAX,
            writes_max: QUERY_WRITES_MAX,
        }
    }
}

/// What one query cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Attempts run (1 when everything was cached from the start).
    pub attempts: u32,
    /// `get_many` calls (at most one per attempt).
    pub fetch_calls: u32,
    /// Records fetched (present or absent).
    pub records_fetched: u64,
    /// `scan_all` calls (at most one per query).
    pub scans: u32,
    /// Payload bytes cached at the end.
    pub cache_bytes: u64,
    /// Generated ids the query took from the executor's pool.
    pub ids_taken: u64,
    /// Mutations replayed on the store.
    pub writes_replayed: u64,
}

/// One named graph's executor on one core.
pub struct Executor<R: Records> {
    /// The graph model over the store that spans every core.
    pub model: Model<R>,
    /// Limits every query of this executor runs under.
    pub limits: Limits,
    /// The executor's own per-query limits.
    pub exec_limits: ExecLimits,
    /// Services `call()` reaches (none unless set).
    pub services: Option<Arc<ServiceRegistry>>,
    /// Reads and writes `io()` graph files through the step machine (whole files in memory;
    /// used when `io_dir` is `None`; both `None`: `io()` fails).
    pub io: Option<Arc<dyn IoHandler>>,
    /// The directory `io(file).read()` / `.write()` files are confined to; when set, an
    /// io() traversal runs as a streaming GraphSON import or export over the store
    /// ([`crate::io::graphson`]), not through the attempts cache.
    pub io_dir: Option<std::path::PathBuf>,
    /// Generated ids reserved from the model's persisted allocator, not yet handed out.
    id_pool: RefCell<VecDeque<ElementId>>,
    /// Attempts run by every query so far.
    attempts_total: Cell<u64>,
    /// Whether traversals of the frontier shape run distributed (`crate::frontier`) when the
    /// store can (default on).
    frontier: Cell<bool>,
}

/// How [`Executor::start`] began a traversal.
pub enum Started {
    /// It ran to completion (it was not of a streaming shape).
    Done(Result<Vec<Traverser>, GremlinError>),
    /// Its results arrive while it runs.
    Streaming(Streaming),
}

/// The results of a streaming traversal ([`Executor::start`]); dropping it stops the
/// traversal on every core.
pub struct Streaming {
    rx: glommio::channels::local_channel::LocalReceiver<frontier::coord::StreamItem>,
    _task: glommio::Task<()>,
}

impl Streaming {
    /// The next finished traversers, an error (the last item), or `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Vec<Traverser>, GremlinError>> {
        self.rx.recv().await
    }
}

/// How an attempt ended.
struct Attempt {
    result: Result<Vec<Traverser>, GremlinError>,
    log: Vec<WriteOp>,
}

/// A random seed for one query's draws (std's per-thread random hasher keys: a new one per
/// call, no extra dependency).
pub fn query_seed() -> u64 {
    std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), 0u8)
}

fn kv_error(e: KvError) -> GremlinError {
    GremlinError::Graph(format!("record store: {e}"))
}

fn elapsed_nanos(began: Instant) -> u64 {
    u64::try_from(began.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn check_stop(options: &RunOptions) -> Result<(), GremlinError> {
    if options.cancel.as_ref().is_some_and(|c| c.get()) {
        return Err(GremlinError::Runtime(CANCEL_MESSAGE.to_string()));
    }
    if options.deadline.is_some_and(|d| Instant::now() > d) {
        return Err(GremlinError::Runtime(DEADLINE_MESSAGE.to_string()));
    }
    Ok(())
}

impl<R: Records> Executor<R> {
    /// An executor over `model`.
    pub fn new(model: Model<R>, limits: Limits) -> Executor<R> {
        Executor {
            model,
            limits,
            exec_limits: ExecLimits::default(),
            services: None,
            io: None,
            io_dir: None,
            id_pool: RefCell::new(VecDeque::new()),
            attempts_total: Cell::new(0),
            frontier: Cell::new(true),
        }
    }

    /// Turns the frontier path on or off (off: every query runs as attempts).
    pub fn set_frontier(&self, on: bool) {
        self.frontier.set(on);
    }

    /// Attempts run by every query of this executor so far.
    pub fn attempts_total(&self) -> u64 {
        self.attempts_total.get()
    }

    /// Runs a traversal to completion; the finished traversers (value and bulk), in order.
    pub async fn run(
        &self,
        bytecode: &Bytecode,
        options: &RunOptions,
    ) -> Result<Vec<Traverser>, GremlinError> {
        self.run_with_stats(bytecode, options).await.0
    }

    /// [`Executor::run`], with what the query cost.
    pub async fn run_with_stats(
        &self,
        bytecode: &Bytecode,
        options: &RunOptions,
    ) -> (Result<Vec<Traverser>, GremlinError>, RunStats) {
        let (r, stats, _) = self.run_with_frontier_stats(bytecode, options).await;
        (r, stats)
    }

    /// [`Executor::run_with_stats`], with the frontier path's per-step counters when the
    /// query took it (`None`: it ran as attempts).
    pub async fn run_with_frontier_stats(
        &self,
        bytecode: &Bytecode,
        options: &RunOptions,
    ) -> (
        Result<Vec<Traverser>, GremlinError>,
        RunStats,
        Option<FrontierStats>,
    ) {
        self.run_planned(bytecode, options, self.frontier_plan(bytecode))
            .await
    }

    /// The frontier path's plan for `bytecode` (`None`: the path is off, or the traversal
    /// is not of its shape).
    fn frontier_plan(&self, bytecode: &Bytecode) -> Option<frontier::Plan> {
        self.frontier
            .get()
            .then(|| frontier::plan::plan(bytecode, self.limits))
            .flatten()
    }

    /// [`Executor::run_with_frontier_stats`] with the frontier plan already made (`None`: the
    /// attempts executor runs it).
    async fn run_planned(
        &self,
        bytecode: &Bytecode,
        options: &RunOptions,
        plan: Option<frontier::Plan>,
    ) -> (
        Result<Vec<Traverser>, GremlinError>,
        RunStats,
        Option<FrontierStats>,
    ) {
        if let Some(mut plan) = plan {
            if plan.explain {
                // The start's choice on this core's shards (index, counters or scan).
                if let (Some(ix), Ok(m)) = (
                    self.model.kv.indexes(),
                    gremlin::machine::Machine::with_limits(bytecode, self.limits),
                ) {
                    plan.notes.extend(crate::index::explain_notes(
                        &ix,
                        self.model.space.name(),
                        m.steps(),
                        self.model.now_s(),
                    ));
                }
            }
            let q = self.frontier_query(plan, options);
            let r = self
                .model
                .kv
                .frontier(q, bytecode, self.limits, options.cancel.clone(), None)
                .await;
            match r {
                Some(Ok((trs, fs))) => return (Ok(trs), RunStats::default(), Some(fs)),
                Some(Err(e)) => return (Err(e), RunStats::default(), None),
                None => {}
            }
        }
        let (r, stats) = self.run_attempts_with_stats(bytecode, options).await;
        (r, stats, None)
    }

    /// The frontier path's query for `plan`.
    fn frontier_query(&self, plan: frontier::Plan, options: &RunOptions) -> Arc<Query> {
        Arc::new(Query {
            plan,
            space: self.model.space.clone(),
            model: self.model.cfg.clone(),
            now_s: self.model.now_s(),
            deadline: options.deadline,
            traversers_max: self.limits.traversers_max,
            cancelled: Arc::default(),
        })
    }

    /// Starts a traversal whose results may be read while it runs: a frontier plan with
    /// nothing after its element-local part ([`frontier::coord::streamable`]) runs in its own
    /// task on this core and sends each owner batch's results as it answers (at most
    /// [`frontier::coord::STREAM_BATCHES_BUFFERED_MAX`] batches waiting for the reader);
    /// anything else runs to completion here first. Dropping the [`Streaming`] stops the
    /// query, on every core. Needs a glommio executor (it spawns a local task).
    pub async fn start(self: &Rc<Self>, bytecode: &Bytecode, options: &RunOptions) -> Started
    where
        R: 'static,
    {
        // One plan per request: streamed, or handed to the ordinary run.
        let plan = match self.frontier_plan(bytecode) {
            Some(p) if frontier::coord::streamable(&p) => p,
            other => return Started::Done(self.run_planned(bytecode, options, other).await.0),
        };
        let q = self.frontier_query(plan, options);
        let (tx, rx) = glommio::channels::local_channel::new_bounded(
            frontier::coord::STREAM_BATCHES_BUFFERED_MAX,
        );
        let exec = self.clone();
        let bytecode = bytecode.clone();
        let options = options.clone();
        let task = glommio::spawn_local(async move {
            let r = exec
                .model
                .kv
                .frontier(q, &bytecode, exec.limits, options.cancel.clone(), Some(&tx))
                .await;
            let rest = match r {
                Some(Ok((trs, _))) => Ok(trs),
                Some(Err(e)) => Err(e),
                // The store has no cores to run it on: the attempts executor answers.
                None => exec.run_attempts_with_stats(&bytecode, &options).await.0,
            };
            match rest {
                Ok(trs) if trs.is_empty() => {}
                other => {
                    // The reader may have gone; then nobody wants it.
                    let _ = tx.send(other).await;
                }
            }
        });
        Started::Streaming(Streaming { rx, _task: task })
    }

    async fn run_attempts_with_stats(
        &self,
        bytecode: &Bytecode,
        options: &RunOptions,
    ) -> (Result<Vec<Traverser>, GremlinError>, RunStats) {
        let mut stats = RunStats::default();
        if let Some(dir) = &self.io_dir {
            if let Some(req) = crate::io::IoRequest::of(bytecode) {
                let r = match req {
                    Ok(req) => self.run_io(dir, &req).await,
                    Err(e) => Err(e),
                };
                return (r, stats);
            }
        }
        let cache = Rc::new(QueryCache::new(self.exec_limits.cache_bytes_max));
        let mut ids = IdList::default();
        let r = self
            .run_attempts(bytecode, options, &cache, &mut ids, &mut stats)
            .await;
        // Ids the last attempt did not use were written nowhere: back to the pool.
        let keep = if ids.committed { ids.used } else { 0 };
        let unused = ids.ids.split_off(keep.min(ids.ids.len()));
        let mut pool = self.id_pool.borrow_mut();
        for id in unused.into_iter().rev() {
            pool.push_front(id);
        }
        stats.cache_bytes = cache.bytes();
        (r, stats)
    }

    async fn run_attempts(
        &self,
        bytecode: &Bytecode,
        options: &RunOptions,
        cache: &Rc<QueryCache>,
        ids: &mut IdList,
        stats: &mut RunStats,
    ) -> Result<Vec<Traverser>, GremlinError> {
        // One clock reading per query: every attempt sees the same expiry.
        let now = self.model.now_s();
        // One random seed per query: every attempt draws the same `sample()`/`coin()`.
        let seed = query_seed();
        loop {
            check_stop(options)?;
            if stats.attempts >= self.exec_limits.attempts_max {
                return Err(GremlinError::LimitExceeded {
                    limit: "QUERY_ATTEMPTS_MAX",
                    max: u64::from(self.exec_limits.attempts_max),
                });
            }
            stats.attempts += 1;
            self.attempts_total
                .set(self.attempts_total.get().saturating_add(1));
            let attempt = self.attempt(bytecode, options, cache, ids, now, seed);
            let needs = cache.take_needs();
            if let Some((limit, max)) = needs.limit {
                return Err(GremlinError::LimitExceeded { limit, max });
            }
            if needs.is_empty() {
                // Complete: apply its writes (also when it failed: what a step did before
                // the error stays done, as on TinkerGraph without transactions).
                ids.committed = true;
                self.replay(&attempt.log, stats).await?;
                return attempt.result;
            }
            check_stop(options)?;
            if needs.ids {
                self.take_ids(ids, stats).await?;
            }
            let mut want = needs.missed;
            if needs.scan && !cache.has_scan() {
                let began = Instant::now();
                let all = self.model.kv.scan_all().await.map_err(kv_error)?;
                stats.scans += 1;
                if cache.profiling() {
                    let messages = self.model.kv.scan_all_messages();
                    let nanos = elapsed_nanos(began);
                    cache.add_cost(needs.scan_step, |c| {
                        c.messages = c.messages.saturating_add(messages);
                        c.nanos = c.nanos.saturating_add(nanos);
                    });
                }
                // Every scanned record is read by the scan that asked: fetch them now.
                let mut seen: std::collections::HashSet<_> = want.iter().map(|w| w.0).collect();
                for d in &all {
                    if !cache.has(d) && seen.insert(*d) {
                        want.push((*d, needs.scan_step));
                    }
                }
                cache.set_scan(all);
            }
            if want.is_empty() {
                continue;
            }
            let total = (cache.len() as u64).saturating_add(want.len() as u64);
            if total > self.exec_limits.records_max {
                return Err(GremlinError::LimitExceeded {
                    limit: "QUERY_RECORDS_MAX",
                    max: self.exec_limits.records_max,
                });
            }
            let digests: Vec<Digest> = want.iter().map(|w| w.0).collect();
            let began = Instant::now();
            let got = self.model.kv.get_many(&digests).await.map_err(kv_error)?;
            if got.len() != want.len() {
                return Err(GremlinError::Graph(format!(
                    "record store answered {} records for {} digests",
                    got.len(),
                    want.len()
                )));
            }
            if cache.profiling() {
                self.account_fetch(cache, &digests, &want, &got, elapsed_nanos(began));
            }
            stats.fetch_calls += 1;
            stats.records_fetched += want.len() as u64;
            cache
                .insert_all(&digests, got)
                .map_err(|(limit, max)| GremlinError::LimitExceeded { limit, max })?;
        }
    }

    /// Profiling: adds one fetch (`digests`, each with the step that missed it in `want`)'s
    /// records, bytes, messages and time to the steps that missed them. The fetch is one `get_many`, so its messages are split: each step gets
    /// what fetching its digests alone would take, less any excess over the whole fetch's
    /// (shared messages), taken from the steps with the most; its time is split by records.
    fn account_fetch(
        &self,
        cache: &QueryCache,
        digests: &[Digest],
        want: &[(Digest, usize)],
        got: &[Option<Got>],
        nanos: u64,
    ) {
        let mut steps: BTreeMap<usize, (Vec<Digest>, StepCosts)> = BTreeMap::new();
        for ((d, step), g) in want.iter().zip(got) {
            let (ds, c) = steps.entry(*step).or_default();
            ds.push(*d);
            c.records += 1;
            if let Some(g) = g {
                c.record_bytes = c.record_bytes.saturating_add(g.payload.len() as u64);
                c.device_bytes = c.device_bytes.saturating_add(u64::from(g.device_bytes));
            }
        }
        let total = self.model.kv.get_many_messages(digests);
        let mut alone: Vec<(usize, u64, StepCosts)> = steps
            .iter()
            .map(|(step, (ds, c))| (*step, self.model.kv.get_many_messages(ds), *c))
            .collect();
        let mut excess = alone
            .iter()
            .map(|a| a.1)
            .fold(0u64, u64::saturating_add)
            .saturating_sub(total);
        alone.sort_by_key(|a| std::cmp::Reverse(a.2.records));
        let records = want.len().max(1) as u128;
        for (step, mut messages, c) in alone {
            let cut = messages.min(excess);
            messages -= cut;
            excess -= cut;
            let share = u64::try_from(u128::from(nanos) * u128::from(c.records) / records)
                .unwrap_or(u64::MAX);
            cache.add_cost(step, |t| {
                t.records = t.records.saturating_add(c.records);
                t.record_bytes = t.record_bytes.saturating_add(c.record_bytes);
                t.device_bytes = t.device_bytes.saturating_add(c.device_bytes);
                t.messages = t.messages.saturating_add(messages);
                t.nanos = t.nanos.saturating_add(share);
            });
        }
    }

    /// Runs an `io()` request as a streaming import or export of the whole graph (no
    /// deadline: stopping half way would leave half a graph). A read that rejected elements
    /// fails with the counts and the first rejections (what was imported stays).
    async fn run_io(
        &self,
        dir: &std::path::Path,
        req: &crate::io::IoRequest,
    ) -> Result<Vec<Traverser>, GremlinError> {
        use crate::io::graphson::{export_file, import_file, ImportOptions, NoSink};
        use gremlin::machine::io::IoAction;
        let path = crate::io::resolve_under(dir, &req.file).map_err(GremlinError::Runtime)?;
        match req.action {
            IoAction::Read => {
                let m = &self.model;
                let model = Model::new(
                    crate::io::retry::OverloadRetry(&m.kv),
                    m.space.clone(),
                    m.cfg.clone(),
                    Box::new(crate::model::ops::SystemClock),
                )
                .map_err(to_gremlin)?;
                let rep = import_file(&model, &path, ImportOptions::default(), &mut NoSink)
                    .await
                    .map_err(|e| GremlinError::Runtime(format!("io(): {}: {e}", req.file)))?;
                if rep.errors > 0 {
                    let first: Vec<String> =
                        rep.first_errors.iter().map(ToString::to_string).collect();
                    return Err(GremlinError::Runtime(format!(
                        "io(): {}: {rep}; first rejections: {}",
                        req.file,
                        first.join("; ")
                    )));
                }
            }
            IoAction::Write => {
                export_file(&self.model, &path, &mut |_| {})
                    .await
                    .map_err(|e| GremlinError::Runtime(format!("io(): {}: {e}", req.file)))?;
            }
        }
        Ok(Vec::new())
    }

    /// One attempt: a fresh machine over the cached model.
    fn attempt(
        &self,
        bytecode: &Bytecode,
        options: &RunOptions,
        cache: &Rc<QueryCache>,
        ids: &mut IdList,
        now: u32,
        seed: u64,
    ) -> Attempt {
        let model = match Model::new(
            CacheKv::new(cache.clone()),
            self.model.space.clone(),
            self.model.cfg.clone(),
            Box::new(ManualClock(Cell::new(now))),
        ) {
            Ok(m) => m,
            Err(e) => {
                return Attempt {
                    result: Err(to_gremlin(e)),
                    log: Vec::new(),
                }
            }
        };
        let mut graph = AttemptGraph::new(
            model,
            self.services.clone(),
            cache.clone(),
            ids,
            self.exec_limits.writes_max,
        );
        graph.indexes = self.model.kv.indexes();
        let result = self.run_machine(bytecode, options, &mut graph, seed);
        Attempt {
            result,
            log: graph.into_log(),
        }
    }

    fn run_machine<G: Graph>(
        &self,
        bytecode: &Bytecode,
        options: &RunOptions,
        graph: &mut G,
        seed: u64,
    ) -> Result<Vec<Traverser>, GremlinError> {
        let mut m = Machine::with_limits(bytecode, self.limits)?;
        m.seed_random(seed);
        m.deadline = options.deadline;
        m.io = self.io.clone();
        let start = m.start();
        let out = m.run(graph, start)?;
        if !out.moved.is_empty() || !out.at_coordinator.is_empty() {
            return Err(GremlinError::Graph(
                "executor: traversers left over on a single-owner graph".to_string(),
            ));
        }
        Ok(out.finished)
    }

    /// Moves more reserved ids into the query's list (reserving from the persisted allocator
    /// when the pool is dry). No `.await` between taking from the pool and owning the ids, so
    /// two queries never hold the same id.
    async fn take_ids(&self, ids: &mut IdList, stats: &mut RunStats) -> Result<(), GremlinError> {
        let want = ids.ids.len().max(ID_TAKE_IDS);
        if ids.ids.len().saturating_add(want) > QUERY_IDS_MAX {
            return Err(GremlinError::LimitExceeded {
                limit: "QUERY_IDS_MAX",
                max: QUERY_IDS_MAX as u64,
            });
        }
        loop {
            {
                let mut pool = self.id_pool.borrow_mut();
                if pool.len() >= want {
                    ids.ids.extend(pool.drain(..want));
                    stats.ids_taken += want as u64;
                    return Ok(());
                }
            }
            let id = self.model.generate_id().await.map_err(to_gremlin)?;
            self.id_pool.borrow_mut().push_back(id);
        }
    }

    /// Applies an attempt's mutations in order with the store's operations.
    async fn replay(&self, log: &[WriteOp], stats: &mut RunStats) -> Result<(), GremlinError> {
        let mut i = 0;
        while let Some(op) = log.get(i) {
            // An added vertex's first properties go into its creating write: one durable
            // write instead of one per property (`addV().property()...`).
            // Likewise an added edge's first properties go into its pending slot.
            let props = match op {
                WriteOp::AddVertex { id, .. } => new_vertex_properties(id, log.get(i + 1..)),
                _ => Vec::new(),
            };
            let edge_props = match op {
                WriteOp::AddEdge { id, .. } => new_edge_properties(id, log.get(i + 1..)),
                _ => Vec::new(),
            };
            let applied = match op {
                WriteOp::AddVertex { id, label } if !props.is_empty() => self
                    .model
                    .add_vertex_with(id.clone(), label, 0, &props)
                    .await
                    .map(drop),
                WriteOp::AddEdge {
                    id,
                    label,
                    out,
                    in_,
                } if !edge_props.is_empty() => self
                    .model
                    .add_edge_with(id.clone(), label, out, in_, 0, &edge_props)
                    .await
                    .map(drop),
                _ => self.apply(op).await,
            };
            applied.map_err(|e| {
                let context = format!(
                    "write {} of {} ({}) failed; the {i} before it stay applied",
                    i + 1,
                    log.len(),
                    op.name()
                );
                match to_gremlin(e) {
                    // TinkerPop's own message first (e.g. a vertex id taken meanwhile).
                    GremlinError::Runtime(m) => GremlinError::Runtime(format!("{m} ({context})")),
                    GremlinError::Graph(m) => GremlinError::Graph(format!("{m} ({context})")),
                    other => other,
                }
            })?;
            let n = 1 + props.len() + edge_props.len();
            stats.writes_replayed += n as u64;
            i += n;
        }
        Ok(())
    }

    async fn apply(&self, op: &WriteOp) -> Result<(), ModelError> {
        let m = &self.model;
        match op {
            WriteOp::AddVertex { id, label } => m.add_vertex(id.clone(), label, 0).await.map(drop),
            WriteOp::AddEdge {
                id,
                label,
                out,
                in_,
            } => m.add_edge(id.clone(), label, out, in_, 0).await.map(drop),
            WriteOp::SetVertexProperty {
                vertex,
                cardinality,
                key,
                value,
                id,
                meta,
            } => m
                .set_vertex_property(
                    vertex,
                    *cardinality,
                    key,
                    value.clone(),
                    id.clone(),
                    meta.clone(),
                )
                .await
                .map(drop),
            WriteOp::SetEdgeProperty { edge, key, value } => {
                m.set_edge_property(edge, key, value.clone()).await
            }
            WriteOp::SetMetaProperty {
                vertex,
                vp_id,
                key,
                value,
            } => m.set_meta_property(vertex, vp_id, key, value.clone()).await,
            WriteOp::DropVertex(id) => m.drop_vertex(id).await,
            WriteOp::DropEdge(id) => m.drop_edge(id).await,
            WriteOp::DropVertexProperty { vertex, vp_id } => {
                m.drop_vertex_property(vertex, vp_id).await
            }
            WriteOp::DropEdgeProperty { edge, key } => m.drop_edge_property(edge, key).await,
            WriteOp::DropMetaProperty { vertex, vp_id, key } => {
                m.drop_meta_property(vertex, vp_id, key).await
            }
        }
    }

    /// Loads `data` into the store (ids, labels, multi- and meta-properties as given), with
    /// the model's operations directly (for tests and bulk loads of small graphs).
    pub async fn load(&self, data: &GraphData) -> Result<(), GremlinError> {
        let m = &self.model;
        let vid = |v| ElementId::from_value(v, "Vertex").map_err(to_gremlin);
        for v in &data.vertices {
            let id = vid(&v.id)?;
            m.add_vertex(id.clone(), &v.label, 0)
                .await
                .map_err(to_gremlin)?;
            for p in v.properties.iter().flatten() {
                m.set_vertex_property(
                    &id,
                    gremlin::graph::Cardinality::List,
                    &p.key,
                    p.value.clone(),
                    p.id.clone(),
                    p.properties.clone().unwrap_or_default(),
                )
                .await
                .map_err(to_gremlin)?;
            }
        }
        for e in &data.edges {
            let id = ElementId::from_value(&e.id, "Edge").map_err(to_gremlin)?;
            m.add_edge(
                id.clone(),
                &e.label,
                &vid(&e.out_v_id)?,
                &vid(&e.in_v_id)?,
                0,
            )
            .await
            .map_err(to_gremlin)?;
            for p in e.properties.iter().flatten() {
                m.set_edge_property(&id, &p.key, p.value.clone())
                    .await
                    .map_err(to_gremlin)?;
            }
        }
        Ok(())
    }
}

/// The property writes right after the add of edge `id` in a write log (`rest`: the log
/// after the add), as properties of the new edge (in order; a later value of a key wins).
fn new_edge_properties(id: &ElementId, rest: Option<&[WriteOp]>) -> Vec<gremlin::value::Property> {
    rest.unwrap_or_default()
        .iter()
        .map_while(|op| match op {
            WriteOp::SetEdgeProperty { edge, key, value } if edge == id => {
                Some(gremlin::value::Property {
                    key: key.clone(),
                    value: value.clone(),
                })
            }
            _ => None,
        })
        .collect()
}

/// The property writes right after the add of vertex `id` in a write log (`rest`: the log
/// after the add), as properties of the new vertex.
fn new_vertex_properties(id: &ElementId, rest: Option<&[WriteOp]>) -> Vec<NewVertexProperty> {
    rest.unwrap_or_default()
        .iter()
        .map_while(|op| match op {
            WriteOp::SetVertexProperty {
                vertex,
                cardinality,
                key,
                value,
                id: prop_id,
                meta,
            } if vertex == id => Some(NewVertexProperty {
                cardinality: *cardinality,
                key: key.to_string(),
                value: value.clone(),
                id: prop_id.clone(),
                meta: meta.clone(),
            }),
            _ => None,
        })
        .collect()
}
