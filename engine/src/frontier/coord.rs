//! The coordinator of the frontier path, on the core that received the request: runs the
//! query in rounds. Each round partitions the frontier by owner core, sends each core its
//! traversers in batches of at most [`FRONTIER_BATCH_MAX`] (its own core's batches are
//! evaluated in place), and gathers every reply; the round ends when every batch has been
//! answered (termination is a count of outstanding replies, which the round's join holds).
//! Forwarded traversers are merged (equal element, step and check: bulks summed) into the
//! next round; finished values are merged into the result. After the last round the
//! coordinator runs the remaining barrier steps with gremlin's machine.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use gremlin::bytecode::Bytecode;
use gremlin::machine::{Limits, Machine, Traverser};
use gremlin::refgraph::RefGraph;
use gremlin::value::{Metrics, TraversalMetrics, Value};
use gremlin::GremlinError;
use indexmap::IndexMap;

use crate::exec::{CANCEL_MESSAGE, DEADLINE_MESSAGE};
use crate::frontier::plan::without_profile;
use crate::frontier::{
    add_at, Batch, Check, CountTail, Elem, FrontierStats, MidIndex, Need, Op, Plan, Query, Reply,
    ScanSlice, Tr, FRONTIER_BATCHES_IN_FLIGHT_PER_CORE_MAX, FRONTIER_BATCH_MAX,
    FRONTIER_ROUNDS_MAX, MID_INDEX_CANDIDATES_MAX, SCAN_SLICES_STREAMED,
};
use crate::model::kv::Digest;
use crate::runtime::join_all;

/// How the coordinator reaches the cores.
#[allow(async_fn_in_trait)] // per-core executor: futures are never sent between threads
pub trait Transport {
    /// This core.
    fn core(&self) -> usize;
    /// The core owning the record under `digest`.
    fn owner_core(&self, digest: &Digest) -> usize;
    /// Evaluates `batch` on `core`: this core's directly; another's by one request and its
    /// reply.
    async fn process(
        &self,
        core: usize,
        q: &Arc<Query>,
        batch: Batch,
    ) -> Result<Reply, GremlinError>;
}

fn check_stop(
    deadline: Option<Instant>,
    cancel: &Option<Rc<Cell<bool>>>,
) -> Result<(), GremlinError> {
    if cancel.as_ref().is_some_and(|c| c.get()) {
        return Err(GremlinError::Runtime(CANCEL_MESSAGE.to_string()));
    }
    if deadline.is_some_and(|d| Instant::now() > d) {
        return Err(GremlinError::Runtime(DEADLINE_MESSAGE.to_string()));
    }
    Ok(())
}

/// A streaming query's results on their way to the request's sender: finished traversers
/// as each owner batch answers, then the end (the channel closes) or one error.
pub type ResultSender = glommio::channels::local_channel::LocalSender<StreamItem>;
/// What a [`ResultSender`] carries.
pub type StreamItem = Result<Vec<Traverser>, GremlinError>;
/// Result batches a streaming query may have sent and its reader not taken yet; past it the
/// coordinator waits (so owners are not sent more work than the client reads).
pub const STREAM_BATCHES_BUFFERED_MAX: usize = 4;

/// Whether the plan's results can go to the client as owners answer: nothing runs after the
/// element-local part (no barrier, no `limit`, no `profile()`/`explain()`) and results are
/// not merged.
pub fn streamable(plan: &Plan) -> bool {
    !plan.profile
        && !plan.explain
        && plan.need == Need::Value
        && plan.stop_after.is_none()
        && plan.step_names.len() == plan.ops.len()
}

/// Gives the query up when the coordinator stops for any reason, its future dropped
/// included (the client went away, the request timed out): owners check the flag.
struct GiveUpOnDrop(Arc<AtomicBool>);

impl Drop for GiveUpOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Results as traversers, in the attempts executor's order.
fn traversers(mut results: Vec<(Value, i64, Vec<u32>)>) -> Vec<Traverser> {
    results.sort_by(|a, b| a.2.cmp(&b.2));
    results
        .into_iter()
        .map(|(v, bulk, _)| {
            let mut t = Traverser::pathless(v);
            t.bulk = bulk;
            t
        })
        .collect()
}

fn limit(max: u64) -> GremlinError {
    GremlinError::LimitExceeded {
        limit: "traversers_max",
        max,
    }
}

/// Runs the plan of `q` (made from `bytecode`) to its finished traversers. With `stream`
/// and a [`streamable`] plan, results go to `stream` as each owner batch answers (none are
/// gathered here) and the returned list is empty.
pub async fn run<T: Transport>(
    tp: &T,
    q: Arc<Query>,
    bytecode: &Bytecode,
    limits: Limits,
    cancel: Option<Rc<Cell<bool>>>,
    cores: usize,
    stream: Option<&ResultSender>,
) -> Result<(Vec<Traverser>, FrontierStats), GremlinError> {
    let _give_up = GiveUpOnDrop(q.cancelled.clone());
    let stream = stream.filter(|_| streamable(&q.plan));
    let started = Instant::now();
    let mut stats = FrontierStats::default();
    // `q` may be replaced (a mid-traversal index decision); the plan's shape stays.
    let q0 = q.clone();
    let plan = &q0.plan;
    let mut q = q;
    if plan.explain {
        let t = Traverser::pathless(Value::String(Arc::from(plan.explain(&plan.notes).as_str())));
        return Ok((vec![t], stats));
    }
    let (mut frontier, mut scan) = match plan.ops.first() {
        Some(Op::Start(Some(ids))) => (
            ids.iter()
                .enumerate()
                .map(|(i, id)| Tr {
                    elem: Elem::V(id.clone()),
                    at: 1,
                    bulk: 1,
                    check: Check::Exists,
                    hint: None,
                    ord: vec![u32::try_from(i).unwrap_or(u32::MAX)],
                })
                .collect::<Vec<_>>(),
            false,
        ),
        Some(Op::Start(None) | Op::ScanE) => (Vec::new(), true),
        Some(Op::StartE(ids)) => (
            ids.iter()
                .enumerate()
                .map(|(i, id)| Tr {
                    elem: Elem::Loc(id.clone()),
                    at: 1,
                    bulk: 1,
                    check: Check::None,
                    hint: None,
                    ord: vec![u32::try_from(i).unwrap_or(u32::MAX)],
                })
                .collect::<Vec<_>>(),
            false,
        ),
        _ => {
            return Err(GremlinError::Graph(
                "frontier: a plan must start with V() or E(ids) (plan error)".to_string(),
            ))
        }
    };
    let mut deferred: Vec<(Tr, u64)> = Vec::new();
    let merge_results = plan.need != Need::Value;
    let mut merged_results: IndexMap<Value, (i64, Vec<u32>)> = IndexMap::new();
    let mut results: Vec<(Value, i64, Vec<u32>)> = Vec::new();
    let mut results_bulk: u64 = 0;
    let stop_after = plan.stop_after;
    loop {
        check_stop(q.deadline, &cancel)?;
        if frontier.is_empty() && !scan {
            break;
        }
        if stop_after.is_some_and(|n| results_bulk >= n) {
            break;
        }
        if stats.rounds as usize >= FRONTIER_ROUNDS_MAX {
            return Err(GremlinError::LimitExceeded {
                limit: "FRONTIER_ROUNDS_MAX",
                max: FRONTIER_ROUNDS_MAX as u64,
            });
        }
        stats.rounds += 1;
        // Merge equal traversers, then partition by owner core.
        let mut merged: IndexMap<(Elem, u32, Check), Tr> = IndexMap::new();
        for t in frontier.drain(..) {
            match merged.entry((t.elem.clone(), t.at, t.check.clone())) {
                indexmap::map::Entry::Occupied(mut o) => {
                    // As the step machine merges: one traverser, at the first one's place.
                    let m = o.get_mut();
                    m.bulk = m.bulk.saturating_add(t.bulk);
                    if t.ord < m.ord {
                        m.ord = t.ord;
                    }
                }
                indexmap::map::Entry::Vacant(v) => {
                    v.insert(t);
                }
            }
        }
        if merged.len() as u64 > q.traversers_max {
            return Err(limit(q.traversers_max));
        }
        let mut per_core: Vec<Vec<Tr>> = vec![Vec::new(); cores.max(1)];
        for (_, t) in merged {
            let core = tp.owner_core(&t.elem.home(&q.space));
            match per_core.get_mut(core) {
                Some(v) => v.push(t),
                None => {
                    return Err(GremlinError::Graph(format!(
                        "frontier: no core {core} (routing error)"
                    )))
                }
            }
        }
        let first_scan = std::mem::take(&mut scan);
        let got = Cell::new(results_bulk);
        let stop = Cell::new(false);
        let mut parts = Vec::new();
        for (core, trs) in per_core.into_iter().enumerate() {
            if trs.is_empty() && !first_scan {
                continue;
            }
            let mut batches: Vec<Batch> = Vec::new();
            if first_scan {
                // Streamed, a core's elements are scanned slice by slice, so that results
                // leave as each slice answers (and owners stop between slices when the
                // reader is behind); gathered, in one batch.
                let slices = if stream.is_some() {
                    SCAN_SLICES_STREAMED
                } else {
                    1
                };
                for i in 0..slices {
                    batches.push(Batch {
                        scan: true,
                        scan_ord: u32::try_from(core * slices + i).unwrap_or(u32::MAX),
                        slice: ScanSlice::nth(i, slices),
                        trs: Vec::new(),
                    });
                }
            }
            let mut trs = trs.into_iter().peekable();
            while trs.peek().is_some() {
                batches.push(Batch {
                    scan: false,
                    scan_ord: 0,
                    slice: ScanSlice::ALL,
                    trs: trs.by_ref().take(FRONTIER_BATCH_MAX).collect(),
                });
            }
            let (q, cancel, got, stop) = (&q, &cancel, &got, &stop);
            // Each core's batches go in waves of at most FRONTIER_BATCHES_IN_FLIGHT_PER_CORE_MAX.
            parts.push(Box::pin(async move {
                let mut replies: Vec<(u32, Reply)> = Vec::new();
                let mut batches = batches.into_iter().peekable();
                while batches.peek().is_some() {
                    if stop.get() {
                        break;
                    }
                    check_stop(q.deadline, cancel)?;
                    let wave: Vec<Batch> = batches
                        .by_ref()
                        .take(FRONTIER_BATCHES_IN_FLIGHT_PER_CORE_MAX)
                        .collect();
                    let firsts: Vec<u32> = wave
                        .iter()
                        .map(|b| {
                            if b.scan {
                                0
                            } else {
                                b.trs.first().map_or(0, |t| t.at)
                            }
                        })
                        .collect();
                    let futs: Vec<_> = wave
                        .into_iter()
                        .map(|b| Box::pin(tp.process(core, q, b)))
                        .collect();
                    for (at, r) in firsts.into_iter().zip(join_all(futs).await) {
                        let mut r = r?;
                        let n: i64 = r.results.iter().map(|(_, b, _)| *b).sum();
                        got.set(got.get().saturating_add(u64::try_from(n).unwrap_or(0)));
                        if stop_after.is_some_and(|s| got.get() >= s) {
                            stop.set(true);
                        }
                        if let Some(tx) = stream {
                            let trs = traversers(std::mem::take(&mut r.results));
                            if !trs.is_empty() && tx.send(Ok(trs)).await.is_err() {
                                // The reader is gone: nobody wants the rest.
                                return Err(GremlinError::Runtime(CANCEL_MESSAGE.to_string()));
                            }
                        }
                        replies.push((at, r));
                    }
                }
                Ok::<_, GremlinError>((core, replies))
            }));
        }
        for part in join_all(parts).await {
            let (core, replies) = part?;
            for (at, r) in replies {
                if core == tp.core() {
                    stats.local_batches += 1;
                } else {
                    stats.remote_batches += 1;
                    add_at(&mut stats.messages, at as usize, 2);
                }
                for (i, n) in r.reads.iter().enumerate() {
                    add_at(&mut stats.reads, i, *n);
                }
                for (dst, src) in [
                    (&mut stats.bytes, &r.bytes),
                    (&mut stats.prop_bytes, &r.prop_bytes),
                    (&mut stats.device_bytes, &r.device_bytes),
                    (&mut stats.traversers, &r.traversers),
                    (&mut stats.elements, &r.elements),
                    (&mut stats.nanos, &r.nanos),
                ] {
                    for (i, n) in src.iter().enumerate() {
                        add_at(dst, i, *n);
                    }
                }
                for (v, b, o) in r.results {
                    results_bulk = results_bulk.saturating_add(u64::try_from(b).unwrap_or(0));
                    if merge_results {
                        let e = merged_results.entry(v).or_insert_with(|| (0, o.clone()));
                        e.0 = e.0.saturating_add(b);
                        if o < e.1 {
                            e.1 = o;
                        }
                    } else {
                        results.push((v, b, o));
                    }
                }
                if (results.len() + merged_results.len()) as u64 > q.traversers_max {
                    return Err(limit(q.traversers_max));
                }
                frontier.extend(r.forward);
                deferred.extend(r.deferred);
                if frontier.len() as u64 > q.traversers_max.saturating_mul(2) {
                    return Err(limit(q.traversers_max));
                }
            }
        }
        if !deferred.is_empty() {
            q = decide_mid_index(tp, &q, &deferred, cores, &mut stats).await;
            frontier.extend(deferred.drain(..).map(|(t, _)| t));
        }
    }
    if stream.is_some() {
        return Ok((Vec::new(), stats));
    }
    if let (Some(tail), false) = (plan.count_tail, plan.profile) {
        // No machine, no sort: the count of what was gathered.
        let n: i64 = match tail {
            CountTail::Distinct => {
                i64::try_from(merged_results.len() + results.len()).unwrap_or(i64::MAX)
            }
            CountTail::Bulk => merged_results
                .values()
                .map(|(b, _)| *b)
                .chain(results.iter().map(|(_, b, _)| *b))
                .fold(0i64, i64::saturating_add),
        };
        return Ok((vec![Traverser::pathless(Value::Long(n))], stats));
    }
    let n = plan.ops.len();
    results.extend(merged_results.into_iter().map(|(v, (b, o))| (v, b, o)));
    // The attempts executor's order (stable: one traverser's values stay in their order).
    results.sort_by(|a, b| a.2.cmp(&b.2));
    let (finished, tail) = finish(
        &without_profile(bytecode),
        limits,
        q.deadline,
        n,
        results,
        q.plan.seed,
    )?;
    for (i, (trs, elems)) in tail {
        add_at(&mut stats.traversers, i, trs);
        add_at(&mut stats.elements, i, elems);
    }
    stats
        .reads
        .resize(plan.step_names.len().max(stats.reads.len()), 0);
    stats
        .messages
        .resize(plan.step_names.len().max(stats.messages.len()), 0);
    if plan.profile {
        let total = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        return Ok((vec![profile(&plan.step_names, &stats, total)], stats));
    }
    Ok((finished, stats))
}

/// The query with its mid-traversal index decided ([`MidIndex`]), for traversers an owner
/// handed back at a supernode's vertex step: every core's ready index is probed for the
/// `has()` after it (in memory, no record read); when the index names fewer candidates than
/// the largest of those supernodes has adjacency entries, only entries to a candidate are
/// followed; otherwise (or with no ready index on some shard) the adjacency is scanned.
async fn decide_mid_index<T: Transport>(
    tp: &T,
    q: &Arc<Query>,
    deferred: &[(Tr, u64)],
    cores: usize,
    stats: &mut FrontierStats,
) -> Arc<Query> {
    let with = |mid_index: MidIndex| {
        Arc::new(Query {
            plan: Plan {
                mid_index,
                ..q.plan.clone()
            },
            space: q.space.clone(),
            model: q.model.clone(),
            now_s: q.now_s,
            deadline: q.deadline,
            traversers_max: q.traversers_max,
            cancelled: q.cancelled.clone(),
        })
    };
    let at = deferred.first().map_or(0, |(t, _)| t.at as usize);
    let adjacency = deferred.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let (Some((k, p)), Some(Op::Adj { edges, .. })) =
        (q.plan.mid_index_filter(at), q.plan.ops.get(at))
    else {
        return with(MidIndex::Scan);
    };
    let edges = *edges;
    let probe = Arc::new(Query {
        plan: Plan {
            ops: vec![
                if edges { Op::ScanE } else { Op::Start(None) },
                Op::HasProp(k.clone(), Some(p.clone())),
            ],
            mid_index: MidIndex::Probe { edges },
            ..q.plan.clone()
        },
        space: q.space.clone(),
        model: q.model.clone(),
        now_s: q.now_s,
        deadline: q.deadline,
        traversers_max: q.traversers_max,
        cancelled: q.cancelled.clone(),
    });
    let futs: Vec<_> = (0..cores.max(1))
        .map(|core| {
            let batch = Batch {
                scan: true,
                scan_ord: u32::try_from(core).unwrap_or(u32::MAX),
                slice: ScanSlice::ALL,
                trs: Vec::new(),
            };
            Box::pin(tp.process(core, &probe, batch))
        })
        .collect();
    let element = if edges { "Edge" } else { "Vertex" };
    let mut ids = std::collections::HashSet::new();
    for (core, r) in join_all(futs).await.into_iter().enumerate() {
        if core != tp.core() {
            add_at(&mut stats.messages, at, 2);
        }
        let Ok(r) = r else {
            return with(MidIndex::Scan);
        };
        for (v, _, _) in r.results {
            if let Ok(id) = crate::model::keys::ElementId::from_value(&v, element) {
                ids.insert(id);
            }
        }
        if ids.len() > MID_INDEX_CANDIDATES_MAX {
            return with(MidIndex::Scan);
        }
    }
    if (ids.len() as u64) < adjacency {
        with(MidIndex::Candidates {
            at,
            ids: Arc::new(ids),
        })
    } else {
        with(MidIndex::Scan)
    }
}

/// Traversers and their bulk, by step index, that the coordinator's steps produced.
type Produced = Vec<(usize, (u64, u64))>;

fn tally(trs: &[Traverser]) -> (u64, u64) {
    (
        trs.len() as u64,
        trs.iter().map(|t| u64::try_from(t.bulk).unwrap_or(0)).sum(),
    )
}

/// Runs the compiled steps from `from` on over the gathered values; also what each
/// coordinator step (and the last step) produced.
fn finish(
    bytecode: &Bytecode,
    limits: Limits,
    deadline: Option<Instant>,
    from: usize,
    results: Vec<(Value, i64, Vec<u32>)>,
    seed: u64,
) -> Result<(Vec<Traverser>, Produced), GremlinError> {
    let mut produced = Vec::new();
    let mut m = Machine::with_limits(bytecode, limits)?;
    m.seed_random(seed);
    m.deadline = deadline;
    m.coordinator = false;
    let steps = m.steps().len();
    let at = u32::try_from(from).unwrap_or(u32::MAX);
    let mut pending: Vec<Traverser> = results
        .into_iter()
        .map(|(v, bulk, _)| {
            let mut t = Traverser::pathless(v);
            t.bulk = bulk;
            t.step = at;
            t
        })
        .collect();
    let mut g = RefGraph::new();
    let mut finished = Vec::new();
    let mut step = from;
    while step < steps {
        let coordinator = m.steps().get(step).is_some_and(|s| s.step.is_coordinator());
        if coordinator {
            pending = m.run_step(&mut g, step as u32, pending)?;
            produced.push((step, tally(&pending)));
            step += 1;
            continue;
        }
        let out = m.run(&mut g, std::mem::take(&mut pending))?;
        if !out.moved.is_empty() {
            return Err(GremlinError::Graph(
                "frontier: a final step wanted another owner".to_string(),
            ));
        }
        finished.extend(out.finished);
        pending = out.at_coordinator;
        // The next coordinator step (where `run` stopped), or the end.
        step = (step + 1..steps)
            .find(|&i| m.steps().get(i).is_some_and(|s| s.step.is_coordinator()))
            .unwrap_or(steps);
        if pending.iter().any(|t| t.step as usize != step) {
            return Err(GremlinError::Graph(
                "frontier: traversers stopped at an unexpected step".to_string(),
            ));
        }
    }
    finished.extend(pending);
    if steps > from {
        let last = steps - 1;
        if !produced.iter().any(|(i, _)| *i == last) {
            produced.push((last, tally(&finished)));
        }
    }
    Ok((finished, produced))
}

/// The `profile()` answer: per compiled step, the traversers and elements it produced, the
/// owners' time on traversers entering it, records read, their payload bytes and the bytes
/// those reads took from the device, property bytes decoded, and cross-core messages.
fn profile(names: &[String], stats: &FrontierStats, total_nanos: u64) -> Traverser {
    let get =
        |v: &[u64], i: usize| i64::try_from(v.get(i).copied().unwrap_or(0)).unwrap_or(i64::MAX);
    let metrics = names
        .iter()
        .enumerate()
        .filter(|(_, n)| n.as_str() != "Profile")
        .map(|(i, name)| {
            Metrics::step(
                i,
                Arc::from(name.as_str()),
                stats.nanos.get(i).copied().unwrap_or(0),
                total_nanos,
                vec![
                    (Arc::from("traverserCount"), get(&stats.traversers, i)),
                    (Arc::from("elementCount"), get(&stats.elements, i)),
                    (Arc::from("recordsRead"), get(&stats.reads, i)),
                    (Arc::from("recordBytesRead"), get(&stats.bytes, i)),
                    (Arc::from("propertyBytesDecoded"), get(&stats.prop_bytes, i)),
                    (Arc::from("deviceBytesRead"), get(&stats.device_bytes, i)),
                    (Arc::from("crossCoreMessages"), get(&stats.messages, i)),
                ],
            )
        })
        .collect();
    Traverser::pathless(Value::Metrics(Arc::new(TraversalMetrics {
        duration_nanos: i64::try_from(total_nanos).unwrap_or(i64::MAX),
        metrics,
    })))
}
