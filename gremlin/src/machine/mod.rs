//! The traversal machine: the one step library. Compiles [`Bytecode`] into steps and runs
//! them over batches of [`Traverser`]s against any [`Graph`].
//!
//! Batch model: every traverser carries the index of the step it waits at. [`Machine::run`]
//! takes a batch, always advances the traversers at the lowest step index together (so a step
//! sees its whole frontier at once, which is what barriers need and what lets the graph serve
//! one batched read per step), and yields three kinds of traversers:
//! - finished ones (past the last step),
//! - ones that must move to another owner before a step that reads their element
//!   ([`Step::needs_owner`]); the owner resumes them with its own `Machine::run`,
//! - ones waiting at a coordinator step ([`Step::is_coordinator`]: barriers, side effects)
//!   when the machine is not allowed to run those (engine mode); the coordinator gathers them
//!   from every core and runs them with `coordinator` set.
//!
//! With one owner (the reference graph) [`execute`] runs everything in one call.
//! Child traversals (`where(...)`, `by(...)`, `union(...)`, `repeat(...)`) run locally inside
//! their parent step.

pub mod compile;
mod exec;
pub mod explain;
mod funcs;
pub mod io;
#[cfg(test)]
mod path_tests;
pub mod sem;
pub mod services;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use indexmap::IndexMap;

use crate::bytecode::Bytecode;
use crate::error::GremlinError;
use crate::graph::{Graph, Owner};
use crate::value::{Path, Value};

pub use compile::{Compiled, Step, StepDef};

/// Named limits of one query.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Traversers alive in one step's frontier (bulk not counted).
    pub traversers_max: u64,
    /// Items one barrier (`order`, `group`, `fold`, `aggregate`, ...) may hold.
    pub barrier_items_max: u64,
    /// Iterations of one `repeat` (and `loops()` depth).
    pub repeat_depth_max: u64,
    /// Nesting depth of child traversals evaluated inside one another at run time.
    pub nesting_depth_max: usize,
}

/// Default traversers in one frontier.
pub const TRAVERSERS_MAX: u64 = 250_000;
/// Default items held by one barrier.
pub const BARRIER_ITEMS_MAX: u64 = 1_000_000;
/// Default iterations of one `repeat`.
pub const REPEAT_DEPTH_MAX: u64 = 1_000;
/// Default nesting of child traversals at run time.
pub const NESTING_DEPTH_MAX: usize = 256;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            traversers_max: TRAVERSERS_MAX,
            barrier_items_max: BARRIER_ITEMS_MAX,
            repeat_depth_max: REPEAT_DEPTH_MAX,
            nesting_depth_max: NESTING_DEPTH_MAX,
        }
    }
}

/// One loop counter of a traverser (`repeat` name, iterations done).
pub type LoopCounter = (Option<Arc<str>>, u64);

/// A traverser: plain data, so it can be sent between cores.
#[derive(Clone, Debug, PartialEq)]
pub struct Traverser {
    /// The current object.
    pub value: Value,
    /// How many traversers this one stands for.
    pub bulk: i64,
    /// Objects seen, with their step labels.
    pub path: Path,
    /// Loop counters of the enclosing `repeat`s, innermost last.
    pub loops: Vec<LoopCounter>,
    /// The sack, if `withSack` was used.
    pub sack: Option<Value>,
    /// Index of the step this traverser waits at.
    pub step: u32,
    /// The element a property value belongs to (for `drop()` and `element()` of properties).
    pub parent: Option<Value>,
    /// Whether `value` is a map entry (a one-entry map from unfolding a map).
    pub entry: bool,
    /// Whether the query needs paths (else `path` stays empty and equal traversers merge).
    pub track_path: bool,
    /// The empty start traverser a start step (`V()`, `inject()`, `addV()`) generates from.
    pub seed: bool,
}

impl Traverser {
    /// A fresh traverser at step 0 holding `value`.
    pub fn new(value: Value) -> Traverser {
        Traverser {
            path: Path {
                labels: vec![Vec::new()],
                objects: vec![value.clone()],
            },
            value,
            bulk: 1,
            loops: Vec::new(),
            sack: None,
            step: 0,
            parent: None,
            entry: false,
            track_path: true,
            seed: false,
        }
    }

    /// A fresh traverser holding `value` that keeps no path (a result made outside a
    /// path-tracking traversal).
    pub fn pathless(value: Value) -> Traverser {
        let mut t = Traverser::new(value);
        t.track_path = false;
        t.path.objects.clear();
        t.path.labels.clear();
        t
    }

    /// This traverser moved on to `value` (path extended).
    pub fn extend(&self, value: Value) -> Traverser {
        let mut t = self.clone();
        if t.track_path {
            t.path.objects.push(value.clone());
            t.path.labels.push(Vec::new());
        }
        t.seed = false;
        t.value = value;
        t.parent = None;
        t.entry = false;
        t
    }

    /// This traverser with `value` replacing the current object without a path entry.
    pub fn replace(&self, value: Value) -> Traverser {
        let mut t = self.clone();
        t.value = value;
        t.entry = false;
        t
    }

    /// Adds step labels to the current path entry.
    pub fn add_labels(&mut self, labels: &[Arc<str>]) {
        if labels.is_empty() || !self.track_path {
            return;
        }
        if self.path.objects.is_empty() {
            self.path.objects.push(self.value.clone());
            self.path.labels.push(Vec::new());
        }
        if let Some(last) = self.path.labels.last_mut() {
            for l in labels {
                if !last.contains(l) {
                    last.push(l.clone());
                }
            }
        }
    }
}

/// What one [`Machine::run`] call yields.
#[derive(Debug, Default)]
pub struct Output {
    /// Traversers past the last step.
    pub finished: Vec<Traverser>,
    /// Traversers that must continue on another owner (their `step` says where).
    pub moved: Vec<(Owner, Traverser)>,
    /// Traversers waiting at a coordinator step (only when `coordinator` is false).
    pub at_coordinator: Vec<Traverser>,
}

/// Query-wide options from the source instructions.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub read_only: bool,
    pub seed: Option<u64>,
    pub sack: Option<(Value, Option<Arc<str>>)>,
    pub subgraph: Option<SubgraphFilter>,
    pub partition: Option<Partition>,
    pub productive_by: bool,
    /// `ReservedKeysVerificationStrategy(throwException: true)` keys.
    pub reserved_keys: Option<Vec<Arc<str>>>,
    /// `EdgeLabelVerificationStrategy(throwException: true)`.
    pub edge_labels_required: bool,
}

/// `SubgraphStrategy` filters.
#[derive(Clone, Debug, Default)]
pub struct SubgraphFilter {
    pub vertices: Option<compile::Trav>,
    pub edges: Option<compile::Trav>,
    pub vertex_properties: Option<compile::Trav>,
}

/// `PartitionStrategy` configuration.
#[derive(Clone, Debug, Default)]
pub struct Partition {
    pub key: Arc<str>,
    pub write: Option<Value>,
    pub read: Vec<Value>,
    pub include_meta: bool,
}

/// A compiled traversal with its side effects and options, ready to run batches.
pub struct Machine {
    pub(crate) compiled: Arc<Compiled>,
    pub(crate) side_effects: IndexMap<Arc<str>, Value>,
    pub(crate) pending: IndexMap<Arc<str>, (Step, Vec<Traverser>)>,
    /// Side-effect reducers from `withSideEffect(key, value, Operator)`.
    pub(crate) reducers: IndexMap<Arc<str>, Arc<str>>,
    pub(crate) options: Options,
    pub(crate) limits: Limits,
    pub(crate) rng: u64,
    /// Whether this machine may run coordinator steps (barriers, side effects).
    pub coordinator: bool,
    /// Whether the traversal needs paths.
    pub(crate) track_path: bool,
    /// When the query must give up (checked between steps).
    pub deadline: Option<std::time::Instant>,
    /// Reads and writes graph files for `io()` (`None`: `io()` fails).
    pub io: Option<Arc<dyn io::IoHandler>>,
    /// Per top-level step: traversers it produced and their bulk (for `profile()`).
    pub(crate) produced: Vec<(u64, u64)>,
    /// Whether the traversal ends in `profile()`: top-level steps are timed and the graph
    /// told which step runs ([`Graph::step_began`]).
    pub(crate) profiling: bool,
    /// Per top-level step: the machine's time in it, in nanoseconds (profiling only).
    pub(crate) step_nanos: Vec<u64>,
}

impl Machine {
    /// Compiles a traversal (source instructions included) with default limits.
    pub fn compile(bc: &Bytecode) -> Result<Machine, GremlinError> {
        Machine::with_limits(bc, Limits::default())
    }

    /// Compiles a traversal with the given limits.
    pub fn with_limits(bc: &Bytecode, limits: Limits) -> Result<Machine, GremlinError> {
        let mut c = compile::Compiler::new();
        let compiled = c.compile(bc)?;
        let mut m = Machine {
            compiled: Arc::new(compiled),
            side_effects: IndexMap::new(),
            pending: IndexMap::new(),
            reducers: IndexMap::new(),
            options: Options::default(),
            limits,
            rng: 0x9E37_79B9_7F4A_7C15,
            coordinator: true,
            track_path: false,
            deadline: None,
            io: None,
            produced: Vec::new(),
            profiling: false,
            step_nanos: Vec::new(),
        };
        exec::apply_source(&mut m, &mut c, bc)?;
        m.profiling = m
            .compiled
            .steps
            .iter()
            .any(|s| matches!(s.step, compile::Step::Profile));
        if m.options.read_only && m.compiled_mutates() {
            return Err(GremlinError::ReadOnly);
        }
        m.track_path = exec::needs_path(&m.compiled)
            || m.options.subgraph.as_ref().is_some_and(|s| {
                [&s.vertices, &s.edges, &s.vertex_properties]
                    .into_iter()
                    .flatten()
                    .any(|t| exec::needs_path(t))
            });
        // aggregate() side effects exist (empty) from the start, as in TinkerPop
        fn aggregate_keys(c: &Compiled, out: &mut Vec<Arc<str>>, grouped: &mut Vec<Step>) {
            for s in &c.steps {
                match &s.step {
                    Step::Aggregate { key, .. } => out.push(key.clone()),
                    Step::Subgraph(_) => grouped.push(s.step.clone()),
                    Step::Group { key: Some(_), .. } | Step::GroupCount { key: Some(_), .. } => {
                        grouped.push(s.step.clone())
                    }
                    _ => {}
                }
                for t in exec::children(&s.step) {
                    aggregate_keys(&t, out, grouped);
                }
            }
        }
        let mut keys = Vec::new();
        let mut grouped = Vec::new();
        aggregate_keys(&m.compiled, &mut keys, &mut grouped);
        for k in keys {
            if !m.side_effects.contains_key(&k) {
                m.side_effects.insert(k, Value::List(Vec::new()));
            }
        }
        // group(key)/groupCount(key) that no traverser reaches still leave an empty map,
        // subgraph(key) an empty graph.
        for step in grouped {
            if let Step::Subgraph(k) = &step {
                if !m.side_effects.contains_key(k) {
                    m.side_effects.insert(
                        k.clone(),
                        Value::Graph(Arc::new(crate::value::GraphData::default())),
                    );
                }
                continue;
            }
            if let Step::Group { key: Some(k), .. } | Step::GroupCount { key: Some(k), .. } = &step
            {
                if !m.side_effects.contains_key(k) && !m.pending.contains_key(k) {
                    m.pending.insert(k.clone(), (step.clone(), Vec::new()));
                }
            }
        }
        if let Some(seed) = m.options.seed {
            // `new java.util.Random(seed)`'s scrambled initial state.
            m.rng = (seed ^ exec::JAVA_RANDOM_MULTIPLIER) & exec::JAVA_RANDOM_MASK;
        }
        Ok(m)
    }

    fn compiled_mutates(&self) -> bool {
        fn any(c: &Compiled) -> bool {
            c.steps.iter().any(|s| {
                matches!(
                    s.step,
                    Step::AddV(_)
                        | Step::AddE { .. }
                        | Step::Property { .. }
                        | Step::Drop
                        | Step::MergeV { .. }
                        | Step::MergeE { .. }
                ) || exec::children(&s.step).iter().any(|t| any(t))
            })
        }
        any(&self.compiled)
    }

    /// The compiled steps.
    pub fn steps(&self) -> &[StepDef] {
        &self.compiled.steps
    }

    /// Seeds the random draws (`sample`, `coin`, `order().by(shuffle)`, ...) unless the
    /// traversal fixed its own seed (`SeedStrategy`). A new machine draws the same numbers
    /// every time; an engine gives each query its own seed, and the same one to every
    /// attempt of that query (so a retried attempt draws what the first one drew).
    pub fn seed_random(&mut self, seed: u64) {
        if self.options.seed.is_none() {
            self.rng = (seed ^ exec::JAVA_RANDOM_MULTIPLIER) & exec::JAVA_RANDOM_MASK;
        }
    }

    /// The start traversers: one empty traverser at step 0 (the first step, `V()`/`E()`/
    /// `inject()`, generates from it). On several owners, every owner starts one; `V()`/`E()`
    /// scan locally and `inject()` runs on the coordinator only.
    pub fn start(&self) -> Vec<Traverser> {
        let mut t = Traverser::new(Value::Null);
        t.path = Path {
            labels: Vec::new(),
            objects: Vec::new(),
        };
        t.seed = true;
        t.track_path = self.track_path;
        vec![t]
    }

    /// Runs a batch until every traverser is finished, has to move, or waits at a
    /// coordinator step this machine may not run.
    pub fn run<G: Graph>(
        &mut self,
        graph: &mut G,
        batch: Vec<Traverser>,
    ) -> Result<Output, GremlinError> {
        exec::run_batch(self, graph, batch)
    }

    /// Runs coordinator step `step` over every traverser gathered for it (engine mode: call
    /// once no traverser is in flight anywhere; runs even with none, so `count()` gives 0).
    /// Returns the traversers positioned after it, to be fed to [`Machine::run`] again.
    pub fn run_step<G: Graph>(
        &mut self,
        graph: &mut G,
        step: u32,
        gathered: Vec<Traverser>,
    ) -> Result<Vec<Traverser>, GremlinError> {
        exec::run_step(self, graph, step, gathered)
    }

    /// Per top-level step, the traversers this machine's runs made it produce and their
    /// bulk (what `profile()` reports as traverser and element counts).
    pub fn produced(&self) -> &[(u64, u64)] {
        &self.produced
    }

    /// A side effect by key (computed from gathered traversers when needed).
    pub fn side_effect<G: Graph>(
        &mut self,
        graph: &mut G,
        key: &str,
    ) -> Result<Option<Value>, GremlinError> {
        exec::side_effect_value(self, graph, key)
    }
}

/// Runs a traversal to completion on a single-owner graph; results as TinkerPop returns them
/// (bulk expanded).
pub fn execute<G: Graph>(graph: &mut G, traversal: &Bytecode) -> Result<Vec<Value>, GremlinError> {
    execute_with(graph, traversal, Limits::default(), None)
}

/// [`execute`] with explicit limits and a deadline.
pub fn execute_with<G: Graph>(
    graph: &mut G,
    traversal: &Bytecode,
    limits: Limits,
    deadline: Option<std::time::Instant>,
) -> Result<Vec<Value>, GremlinError> {
    execute_with_io(graph, traversal, limits, deadline, None)
}

/// [`execute_with`] with a handler for `io()` graph files.
pub fn execute_with_io<G: Graph>(
    graph: &mut G,
    traversal: &Bytecode,
    limits: Limits,
    deadline: Option<std::time::Instant>,
    io: Option<Arc<dyn io::IoHandler>>,
) -> Result<Vec<Value>, GremlinError> {
    let mut m = Machine::with_limits(traversal, limits)?;
    m.deadline = deadline;
    m.io = io;
    let start = m.start();
    let out = m.run(graph, start)?;
    if !out.moved.is_empty() || !out.at_coordinator.is_empty() {
        return Err(GremlinError::Graph(
            "execute() needs a single-owner graph; use Machine::run on a sharded one".to_string(),
        ));
    }
    let mut results = Vec::new();
    let mut total: u64 = 0;
    for t in out.finished {
        let n = u64::try_from(t.bulk).unwrap_or(0);
        total = total.saturating_add(n);
        if total > m.limits.traversers_max {
            return Err(GremlinError::LimitExceeded {
                limit: "traversers_max",
                max: m.limits.traversers_max,
            });
        }
        for _ in 0..n {
            results.push(t.value.clone());
        }
    }
    Ok(results)
}
