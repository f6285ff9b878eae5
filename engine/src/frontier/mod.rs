//! Distributed execution of element-local traversals: traversers (element id + bulk, no
//! path) travel to the core that owns their element in bounded frontier batches, the owner
//! evaluates the steps on its own records only, and the coordinating core (the one that got
//! the request) merges bulks, detects the end of each round and runs the final barrier steps.
//!
//! Shapes taken (see [`plan::plan`]): `V()`/`V(ids)`/`E(ids)`, then any run of `out/in/both(labels)`,
//! `outE/inE/bothE`, `inV/outV/bothV/otherV`, `has/hasLabel/hasId(P)` and `hasNot` on the
//! current element, optionally one of `values(keys)`/`id()`/`label()`, then barrier steps
//! that need no graph (`count`, `dedup`, `limit`/`range`, `fold`, `min`/`max`,
//! `is`), optionally `profile()` or `explain()`; source instructions only
//! `withoutStrategies` of the strategies in [`strategy`]. Anything else runs on the attempts
//! executor (`crate::exec`).
//!
//! Where results go: every owner answers its batch to the coordinator (on the request's
//! one-shot reply, never on the core mesh) with the traversers that reached another core's
//! element and the results it finished. The coordinator merges equal traversers (summing
//! bulk) and sends the next round. Why not forward owner to owner: a handler that sends on
//! the mesh can block on a full channel while holding an inbox slot, and a cycle of such
//! handlers deadlocks; answering on the one-shot keeps the runtime's deadlock-freedom argument
//! (`docs/ARCHITECTURE.md`, "Cross-core requests") as it is, makes termination detection a
//! count of outstanding replies, and lets the coordinator merge a round's duplicates before
//! they fan out again. The cost is one reply per request, which the messages counter shows.
//!
//! A plan with nothing after its element-local part is streamed ([`coord::streamable`]): the
//! coordinator hands each reply's results to the request's reader as it arrives, and stops
//! sending work while the reader is behind. Every copy of a query shares
//! [`Query::cancelled`], set when the coordinator stops (its future dropped included), so
//! owners stop work nobody will read.

pub mod coord;
pub mod owner;
pub mod plan;
pub mod strategy;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use gremlin::value::{Predicate, Value};

use crate::model::keys::{Dir, ElementId, KeySpace};
use crate::model::kv::Digest;
use crate::model::ModelConfig;

/// Most traversers in one frontier batch (one request to one core).
pub const FRONTIER_BATCH_MAX: usize = 1024;
/// Most batches the coordinator has outstanding at one core at once.
pub const FRONTIER_BATCHES_IN_FLIGHT_PER_CORE_MAX: usize = 4;
/// Most rounds (hops plus the start) one query may take; a plan has at most this many steps.
pub const FRONTIER_ROUNDS_MAX: usize = 256;
/// Records one batch keeps read (so each is read once per batch); past it, reads go to the
/// store again.
pub const FRONTIER_MEMO_RECORDS_MAX: usize = 65_536;
/// Most candidates a mid-traversal index probe may gather from every core; past it the
/// supernode's adjacency is scanned.
pub const MID_INDEX_CANDIDATES_MAX: usize = 65_536;
/// Traversers between which an owner checks the deadline and whether the query was given up.
pub const DEADLINE_CHECK_TRAVERSERS: usize = 256;

/// One element-local operation of a plan (index = the compiled step's index).
#[derive(Clone, Debug)]
pub enum Op {
    /// The start: these vertex ids (`None`: every vertex, scanned on every core).
    Start(Option<Vec<ElementId>>),
    /// The start `E(ids)`: these edge ids (found through their locators).
    StartE(Vec<ElementId>),
    /// The start `E()` (taken only before `has(key, P)` or as `E().count()`): every edge, from
    /// an edge index or the counters where ready, else by scanning each core's locators.
    ScanE,
    /// `has(key)` (`None`) or `has(key, P)`.
    HasProp(Arc<str>, Option<Arc<Predicate>>),
    /// `hasLabel(P)`.
    HasLabel(Arc<Predicate>),
    /// `hasId(P)`.
    HasId(Arc<Predicate>),
    /// `hasNot(key)`.
    HasNot(Arc<str>),
    /// `out/in/both` (`edges` false) or `outE/inE/bothE`, from a vertex.
    Adj {
        dirs: Vec<Dir>,
        labels: Vec<Arc<str>>,
        edges: bool,
    },
    /// `outV/inV/bothV` from an edge (`dirs`: the ends taken, out first).
    EdgeV(Vec<Dir>),
    /// `otherV` from an edge.
    OtherV,
    /// `values(keys)` (all when empty): the last operation only.
    Values(Vec<Arc<str>>),
    /// `id()`: the last operation only.
    Id,
    /// `label()`: the last operation only.
    Label,
}

/// What the coordinator's remaining steps need of each finished traverser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// The full element (or the mapped value when the plan ends in a map step).
    Value,
    /// Only its identity (a reference element): the rest is `dedup`/`limit` then `count`.
    Identity,
    /// Nothing but its bulk: the rest is `count` (possibly after `limit`).
    Bulk,
}

/// A traversal the frontier path runs.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Element-local operations, `ops[0]` the start; the compiled steps from `ops.len()` on
    /// run at the coordinator.
    pub ops: Vec<Op>,
    /// What finished traversers must carry.
    pub need: Need,
    /// `limit(n)` right after the local part: stop once `n` results are in.
    pub stop_after: Option<u64>,
    /// `sample(n)` (global, no `by()`) right after the local part.
    pub sample: Option<u64>,
    /// Where a pushed-down `sample(n)` starts drawing (random per query; tests fix it).
    pub seed: u64,
    /// The traversal ended in `profile()` (stripped from `bytecode`).
    pub profile: bool,
    /// The compiled step names (for the profile).
    pub step_names: Vec<String>,
    /// The strategies on (see [`strategy`]).
    pub strategies: strategy::Strategies,
    /// The traversal ended in `explain()` (stripped): answer the plan's explanation.
    pub explain: bool,
    /// Extra lines for `explain()` after the final traversal (e.g. which index or scan the
    /// start chose).
    pub notes: Vec<String>,
    /// A `has()` after a vertex step on a supernode, answered from a secondary index or not
    /// (see [`Plan::mid_index`]).
    pub mid_index: MidIndex,
    /// The coordinator's steps are only a count (`count()`, or `dedup().count()` of
    /// references): answered from the gathered results without running the step machine.
    pub count_tail: Option<CountTail>,
}

/// What a count-only tail counts ([`Plan::count_tail`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountTail {
    /// `count()`: the results' bulk.
    Bulk,
    /// `dedup().count()`: the distinct results (they are merged by identity).
    Distinct,
}

/// Whether a `has(k, P)` after a vertex or edge step on a supernode takes its candidates from
/// a secondary index (see `strategy::Strategy::SupernodePredicatePushdown`).
#[derive(Clone, Debug, Default)]
pub enum MidIndex {
    /// Not decided yet: an owner that meets a supernode at such a step hands the traverser
    /// back ([`Reply::deferred`]) with its adjacency size; the coordinator probes the
    /// indexes and decides.
    #[default]
    Undecided,
    /// Decided against (no ready index, or more candidates than adjacency entries): scan.
    Scan,
    /// The ids (of vertices, or of edges after an edge step) the index names for the
    /// `has()` after the step at `at`: only adjacency entries to one of them are followed
    /// (the `has()` still checks each).
    Candidates {
        at: usize,
        ids: Arc<std::collections::HashSet<ElementId>>,
    },
    /// This plan is the probe: a `scan` batch answers each shard's index candidates for
    /// `ops[1..]` (ids as values), or fails when a shard has no ready index for them.
    Probe { edges: bool },
}

/// Everything a core needs to evaluate batches of one query (shared by every batch).
#[derive(Debug)]
pub struct Query {
    pub plan: Plan,
    pub space: KeySpace,
    pub model: ModelConfig,
    /// The coordinator's clock reading: every core sees the same expiry.
    pub now_s: u32,
    pub deadline: Option<Instant>,
    /// Traversers one reply may carry (the query's `traversers_max`).
    pub traversers_max: u64,
    /// Set once the coordinator has given the query up (its client went away, its task was
    /// dropped, it failed, or it has every result it needs): owners stop at their next check
    /// instead of finishing batches nobody will read. Shared by every copy of the query.
    pub cancelled: Arc<AtomicBool>,
}

impl Query {
    /// Why an owner must stop now: the query was given up, or its deadline passed.
    pub fn stopped(&self) -> Option<gremlin::GremlinError> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Some(gremlin::GremlinError::Runtime(
                crate::exec::CANCEL_MESSAGE.to_string(),
            ));
        }
        if self.deadline.is_some_and(|d| Instant::now() > d) {
            return Some(gremlin::GremlinError::Runtime(
                crate::exec::DEADLINE_MESSAGE.to_string(),
            ));
        }
        None
    }
}

/// An edge as a traverser holds it: enough to find it in its out vertex's pack.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EdgeRef {
    pub id: ElementId,
    pub out: ElementId,
    pub pack_no: u32,
    /// The traverser came to the edge from its out vertex (`otherV` then goes to the in one).
    pub from_out: bool,
}

/// The element a traverser is at.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Elem {
    V(ElementId),
    E(EdgeRef),
    /// An edge known by id only: at its locator's owner, which turns it into an [`EdgeRef`].
    Loc(ElementId),
}

impl Elem {
    /// The digest whose owner core evaluates this element.
    pub fn home(&self, space: &KeySpace) -> crate::model::kv::Digest {
        match self {
            Elem::V(id) => space.vertex_digest(id),
            Elem::E(r) => space.vertex_digest(&r.out),
            Elem::Loc(id) => space.edge_digest(id),
        }
    }
}

/// What the owner must verify before the traverser counts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Check {
    None,
    /// The vertex must be live (a start id).
    Exists,
    /// The edge that led here must be live in this vertex's pack `pack_no` (an `in()` step
    /// reached this vertex, the edge's out end, from its in end).
    Edge {
        edge: ElementId,
        pack_no: u32,
    },
}

/// A frontier traverser: plain data, sent between cores.
#[derive(Clone, Debug)]
pub struct Tr {
    pub elem: Elem,
    /// Index of the next operation.
    pub at: u32,
    pub bulk: i64,
    pub check: Check,
    /// The element's label as the edge that led here has it (for a vertex whose record is
    /// gone, as the attempts executor answers a reference).
    pub hint: Option<Arc<str>>,
    /// Where the traverser stands in the attempts executor's order: the index of its start,
    /// then of the branch taken at each step that branched (compared lexicographically, this
    /// is the order in which the step machine generates traversers step by step). One entry
    /// per round at most, so bounded by [`FRONTIER_ROUNDS_MAX`].
    pub ord: Vec<u32>,
}

/// One request to one core.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Start by scanning this core's vertices (`V()`).
    pub scan: bool,
    /// The first `ord` entry of the scanned traversers (the core's number: the attempts
    /// executor lists cores in order).
    pub scan_ord: u32,
    /// The partitions a scan covers (of this core's).
    pub slice: ScanSlice,
    pub trs: Vec<Tr>,
}

/// Partitions `lo..hi` (of the store's [`shards::PARTITION_COUNT`]): the part of a core's
/// elements one scan batch starts from. A streamed `V()` is scanned in
/// [`SCAN_SLICES_STREAMED`] slices per core, so that its results leave in as many replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanSlice {
    pub lo: u16,
    pub hi: u16,
}

/// The store's partitions, as a partition number's type.
const PARTITIONS: u16 = shards::PARTITION_COUNT as u16;
const _: () = assert!(shards::PARTITION_COUNT == PARTITIONS as usize);

impl Default for ScanSlice {
    fn default() -> ScanSlice {
        ScanSlice::ALL
    }
}

impl ScanSlice {
    /// Every partition.
    pub const ALL: ScanSlice = ScanSlice {
        lo: 0,
        hi: PARTITIONS,
    };

    /// Slice `i` of `n` equal slices.
    pub fn nth(i: usize, n: usize) -> ScanSlice {
        let total = shards::PARTITION_COUNT;
        let n = n.clamp(1, total);
        let at = |k: usize| u16::try_from(k * total / n).unwrap_or(PARTITIONS);
        ScanSlice {
            lo: at(i.min(n)),
            hi: at((i + 1).min(n)),
        }
    }

    pub fn is_all(&self) -> bool {
        *self == ScanSlice::ALL
    }

    /// Whether the record under `d` is in the slice.
    pub fn holds(&self, d: &Digest) -> bool {
        (self.lo..self.hi).contains(&d.partition())
    }
}

/// Scan batches per core for a streamed `V()`/`E()` (each lists the core's elements again
/// from its primary index: a walk of memory, no I/O, per slice).
pub const SCAN_SLICES_STREAMED: usize = 8;

/// One core's answer to a batch.
#[derive(Clone, Debug, Default)]
pub struct Reply {
    /// Traversers now at another core's element.
    pub forward: Vec<Tr>,
    /// Finished values with their bulk and order.
    pub results: Vec<(Value, i64, Vec<u32>)>,
    /// Records read, by operation index.
    pub reads: Vec<u64>,
    /// Record payload bytes read, by operation index.
    pub bytes: Vec<u64>,
    /// Bytes those reads took from the device, by operation index.
    pub device_bytes: Vec<u64>,
    /// Property bytes decoded from the records read, by operation index.
    pub prop_bytes: Vec<u64>,
    /// Traversers each operation produced.
    pub traversers: Vec<u64>,
    /// Their bulk (elements).
    pub elements: Vec<u64>,
    /// Time spent evaluating traversers that entered at each operation, in nanoseconds.
    pub nanos: Vec<u64>,
    /// Traversers at a supernode's vertex step that wait for the coordinator's index
    /// decision ([`MidIndex::Undecided`]), with the supernode's adjacency size (estimated).
    pub deferred: Vec<(Tr, u64)>,
}

/// Frontier data crosses threads: checked at compile time.
const _: fn() = || {
    fn is_send<T: Send + Sync>() {}
    is_send::<Query>();
    is_send::<Batch>();
    is_send::<Reply>();
};

/// Per-step counters of one query on the frontier path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrontierStats {
    /// Records read, by compiled step index.
    pub reads: Vec<u64>,
    /// Record payload bytes read (from memory or the device), by step index.
    pub bytes: Vec<u64>,
    /// Bytes the reads took from the device (sector-aligned reads; 0 for records a write
    /// buffer or the record cache served), by step index.
    pub device_bytes: Vec<u64>,
    /// Property bytes decoded from the records read (what property omission saves), by
    /// step index.
    pub prop_bytes: Vec<u64>,
    /// Traversers each local step produced (after the coordinator merged nothing).
    pub traversers: Vec<u64>,
    /// Their bulk (elements).
    pub elements: Vec<u64>,
    /// Owner time evaluating traversers that entered at each step, in nanoseconds.
    pub nanos: Vec<u64>,
    /// Cross-core messages (each request and each reply counts one), by compiled step index
    /// (the step the batch's first traverser runs next).
    pub messages: Vec<u64>,
    /// Rounds taken.
    pub rounds: u32,
    /// Batches sent to other cores.
    pub remote_batches: u64,
    /// Batches evaluated on the coordinator's own core.
    pub local_batches: u64,
}

impl FrontierStats {
    /// Records read over every step.
    pub fn reads_total(&self) -> u64 {
        self.reads.iter().sum()
    }

    /// Property bytes decoded over every step.
    pub fn prop_bytes_total(&self) -> u64 {
        self.prop_bytes.iter().sum()
    }

    /// Messages over every step.
    pub fn messages_total(&self) -> u64 {
        self.messages.iter().sum()
    }
}

/// Adds `v` at index `i`, growing the vector.
pub(crate) fn add_at(v: &mut Vec<u64>, i: usize, n: u64) {
    if v.len() <= i {
        v.resize(i + 1, 0);
    }
    if let Some(x) = v.get_mut(i) {
        *x = x.saturating_add(n);
    }
}
