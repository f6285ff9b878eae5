//! The frontier planner's traversal strategies: named rewrites of a [`Plan`] that change how
//! owners evaluate it (never what it answers). Each is on by default; the Gremlin source
//! instruction `withoutStrategies(Name, ...)` turns named ones off (any other source
//! instruction, or an unknown name, keeps the traversal on the attempts executor). What each
//! applies to is decided here once ([`Plan`]'s methods below), for the owners and for
//! `explain()` alike.

use std::sync::Arc;

use gremlin::bytecode::Instruction;
use gremlin::machine::explain::{explanation, Applied};
use gremlin::value::Value;

use crate::frontier::{Need, Op, Plan};
use crate::model::keys::Dir;

/// One frontier strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// `out/in/both` answered from the edge cache; a neighbour's record is read only when a
    /// later step needs it (its edge cache, a property, existence), on its owner core in the
    /// round that batches every traverser bound there.
    VertexStepFusion,
    /// `hasLabel()` after a vertex step answered from the label the edge carries (edge
    /// packs hold both ends' labels), without reading the neighbour. (Every `has()` on the
    /// frontier path is evaluated where its element lives, in the round that reaches it:
    /// that is the path itself, not a strategy one can turn off.)
    HasPushdown,
    /// `limit(n)`/`range(_, n)` right after a final vertex step: each traverser's adjacency is
    /// walked (and its edges checked) only until `n` neighbours are found. Also `sample(n)`
    /// right after a final `out()`/`outE()` from one start vertex: `n` entries are drawn
    /// uniformly (without replacement) from the edge cache (or adjacency index) and only
    /// their edges checked, not every neighbour's.
    LimitPushdown,
    /// A traversal that ends in a vertex step then `count()`: each neighbour is counted where
    /// the edge is checked, without reading or visiting the neighbour. Also: traversers that
    /// finish only to be counted (`count()`, `dedup().count()`) are not visited.
    LocalCount,
    /// `outE/inE/bothE(...).has(k, P)` on a supernode: index entries whose indexed copy of
    /// `k` fails `P` are dropped before any edge pack is read. Also `out/in/both().has(k, P)`
    /// and `outE/inE/bothE().has(k, P)` on a supernode where a secondary index on `k` (of
    /// vertices, or of edges) is ready on every core: when the index names fewer candidates
    /// than the supernode has adjacency entries, only entries to a candidate are followed.
    SupernodePredicatePushdown,
    /// Only the properties a later step reads (`has(k)`, `values(k)`, or a whole element
    /// answered) are decoded from vertex records and edge packs; the rest are skipped unread
    /// (see [`Plan::prop_keys`]). Traversers sent between cores never carry properties.
    PropertyOmission,
}

/// Every strategy, in the order they apply (and `explain()` lists them).
pub const STRATEGIES: [Strategy; 6] = [
    Strategy::VertexStepFusion,
    Strategy::HasPushdown,
    Strategy::LimitPushdown,
    Strategy::LocalCount,
    Strategy::SupernodePredicatePushdown,
    Strategy::PropertyOmission,
];

impl Strategy {
    /// The name `withoutStrategies` and `explain()` use.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::VertexStepFusion => "VertexStepFusionStrategy",
            Strategy::HasPushdown => "HasPushdownStrategy",
            Strategy::LimitPushdown => "LimitPushdownStrategy",
            Strategy::LocalCount => "LocalCountStrategy",
            Strategy::SupernodePredicatePushdown => "SupernodePredicatePushdownStrategy",
            Strategy::PropertyOmission => "PropertyOmissionStrategy",
        }
    }

    /// The strategy named `name` (a simple or fully qualified class name).
    pub fn named(name: &str) -> Option<Strategy> {
        let simple = name.rsplit('.').next().unwrap_or(name);
        STRATEGIES.into_iter().find(|s| s.name() == simple)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Which strategies are on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strategies {
    off: u8,
}

impl Default for Strategies {
    fn default() -> Self {
        Strategies::all()
    }
}

impl Strategies {
    /// Every strategy on.
    pub fn all() -> Strategies {
        Strategies { off: 0 }
    }

    /// Every strategy off.
    pub fn none() -> Strategies {
        Strategies {
            off: STRATEGIES.iter().fold(0, |a, s| a | s.bit()),
        }
    }

    pub fn on(self, s: Strategy) -> bool {
        self.off & s.bit() == 0
    }

    #[must_use]
    pub fn without(self, s: Strategy) -> Strategies {
        Strategies {
            off: self.off | s.bit(),
        }
    }

    /// The strategies a traversal's source instructions leave on, or `None` when a source
    /// instruction is anything but `withoutStrategies` of frontier strategies (the
    /// traversal then runs on the attempts executor).
    pub fn of_source(source: &[Instruction]) -> Option<Strategies> {
        let mut s = Strategies::all();
        for i in source {
            if &*i.op != "withoutStrategies" {
                return None;
            }
            for a in &i.args {
                let name = match a {
                    Value::Class(c) => c,
                    Value::String(c) => c,
                    _ => return None,
                };
                s = s.without(Strategy::named(name)?);
            }
        }
        Some(s)
    }
}

impl Plan {
    /// Whether a vertex's neighbours are read lazily (else every vertex traverser reads its
    /// record where it arrives).
    pub fn fusion(&self) -> bool {
        self.strategies.on(Strategy::VertexStepFusion)
    }

    /// Whether `hasLabel()` on a vertex reached by an edge uses the edge's label for it.
    pub fn label_pushdown(&self) -> bool {
        self.strategies.on(Strategy::HasPushdown)
    }

    /// The index of a final vertex step whose every traverser needs at most `n` neighbours:
    /// `(op index, n)`. Only the first hop from one start id: traversers from several
    /// parents merge at a shared neighbour (bulks summed at the first one's place), so a
    /// parent's cut-off tail could still add to an earlier result.
    pub fn limit_pushdown(&self) -> Option<(usize, u64)> {
        if !self.strategies.on(Strategy::LimitPushdown) {
            return None;
        }
        if !matches!(self.ops.first(), Some(Op::Start(Some(ids))) if ids.len() == 1) {
            return None;
        }
        let n = self.stop_after?;
        let (i, op) = self
            .ops
            .iter()
            .enumerate()
            .rev()
            .find(|(_, o)| matches!(o, Op::Adj { .. }))?;
        // Only one-to-one steps after it: each neighbour makes exactly one result.
        let after = self.ops.get(i + 1..).unwrap_or(&[]);
        let one_to_one = after.iter().all(|o| matches!(o, Op::Id | Op::Label));
        (one_to_one && i == 1 && matches!(op, Op::Adj { .. })).then_some((i, n))
    }

    /// The index of a final `out()`/`outE()` step from one start vertex followed by
    /// `sample(n)`: `(op index, n)`. The owner draws `n` live edges uniformly from the
    /// adjacency; the coordinator's `sample(n)` then keeps them all. Only `out`: an in-edge
    /// is checked on its out vertex's core, so a dead one found there could not be replaced
    /// by another draw.
    pub fn sample_pushdown(&self) -> Option<(usize, u64)> {
        if !self.strategies.on(Strategy::LimitPushdown) {
            return None;
        }
        if !matches!(self.ops.first(), Some(Op::Start(Some(ids))) if ids.len() == 1) {
            return None;
        }
        let n = self.sample?;
        let after = self.ops.get(2..).unwrap_or(&[]);
        let one_to_one = after.iter().all(|o| matches!(o, Op::Id | Op::Label));
        let out =
            matches!(self.ops.get(1), Some(Op::Adj { dirs, .. }) if dirs.as_slice() == [Dir::Out]);
        (one_to_one && out).then_some((1, n))
    }

    /// The index of a final vertex step whose results are only counted.
    pub fn local_count(&self) -> Option<usize> {
        if !self.strategies.on(Strategy::LocalCount) || self.need != Need::Bulk {
            return None;
        }
        let last = self.ops.len().checked_sub(1)?;
        matches!(self.ops.get(last), Some(Op::Adj { .. })).then_some(last)
    }

    /// Whether finished traversers that are only counted (or compared by identity) need no
    /// visit to their element.
    pub fn count_without_visit(&self) -> bool {
        self.strategies.on(Strategy::LocalCount)
    }

    /// Whether records are decoded with only the properties [`Plan::prop_keys`] names.
    pub fn omit_properties(&self) -> bool {
        self.strategies.on(Strategy::PropertyOmission)
    }

    /// The `has(k, P)` right after the edge step at `i`, to test on index entries.
    pub fn index_filter(&self, i: usize) -> Option<&Op> {
        if !self.strategies.on(Strategy::SupernodePredicatePushdown) {
            return None;
        }
        match (self.ops.get(i), self.ops.get(i + 1)) {
            (Some(Op::Adj { edges: true, .. }), Some(f @ Op::HasProp(_, Some(_)))) => Some(f),
            _ => None,
        }
    }

    /// The `has(k, P)` right after the vertex or edge step at `i` that a secondary index may
    /// answer on a supernode (`P` one an index answers by key ranges).
    pub fn mid_index_filter(
        &self,
        i: usize,
    ) -> Option<(&Arc<str>, &Arc<gremlin::value::Predicate>)> {
        if !self.strategies.on(Strategy::SupernodePredicatePushdown) {
            return None;
        }
        match (self.ops.get(i), self.ops.get(i + 1)) {
            (Some(Op::Adj { .. }), Some(Op::HasProp(k, Some(p))))
                if crate::index::key_ranges(p).is_some() =>
            {
                Some((k, p))
            }
            _ => None,
        }
    }

    /// The `explain()` text: the plan as compiled, after each strategy that changes it, and
    /// `extra` lines (e.g. the start's index choice).
    pub fn explain(&self, extra: &[String]) -> String {
        let original = self.render(Strategies::none());
        let mut applied = Vec::new();
        let mut on = Strategies::none();
        let mut before = original.clone();
        for s in STRATEGIES {
            if !self.strategies.on(s) {
                continue;
            }
            on = Strategies {
                off: on.off & !s.bit(),
            };
            let after = self.render(on);
            if after != before {
                applied.push(Applied {
                    name: s.name().to_string(),
                    category: 'P',
                    after: after.clone(),
                });
                before = after;
            }
        }
        let mut lines = extra.to_vec();
        for i in 0..self.ops.len() {
            if let Some((k, _)) = self.mid_index_filter(i) {
                lines.push(format!(
                    "step {i} on a supernode: has({k}) candidates from a ready index on {k} \
                     when fewer than its adjacency entries (decided per query), else an \
                     adjacency scan"
                ));
            }
        }
        explanation(&original, &applied, &lines)
    }

    /// The plan as a step list with the strategies `on` applied.
    fn render(&self, on: Strategies) -> String {
        let p = Plan {
            strategies: on,
            ..self.clone()
        };
        let mut parts: Vec<String> = Vec::new();
        let mut after_hop = false;
        let lazy = p.fusion();
        for (i, op) in p.ops.iter().enumerate() {
            let mut notes: Vec<String> = Vec::new();
            let base = match op {
                Op::Start(None) => "FrontierScanStep(vertex)".to_string(),
                Op::Start(Some(ids)) => format!("FrontierStartStep(vertex,{} ids)", ids.len()),
                Op::StartE(ids) => format!("FrontierStartStep(edge,{} ids)", ids.len()),
                Op::ScanE => "FrontierScanStep(edge)".to_string(),
                Op::Adj {
                    dirs,
                    labels,
                    edges,
                } => {
                    let d = match dirs.as_slice() {
                        [Dir::Out] => "OUT",
                        [Dir::In] => "IN",
                        _ => "BOTH",
                    };
                    let kind = if *edges { "edge" } else { "vertex" };
                    if lazy && !*edges {
                        notes.push("edgeCache".into());
                        notes.push("lazyNext".into());
                    }
                    if let Some((at, n)) = p.limit_pushdown() {
                        if at == i {
                            notes.push(format!("limit={n}"));
                        }
                    }
                    if let Some((at, n)) = p.sample_pushdown() {
                        if at == i {
                            notes.push(format!("sample={n}"));
                        }
                    }
                    if p.index_filter(i).is_some() {
                        notes.push("indexFilter".into());
                    }
                    if let Some((k, _)) = p.mid_index_filter(i) {
                        notes.push(format!("supernode:indexCandidates({k})"));
                    }
                    if p.local_count() == Some(i) {
                        format!("LocalCountStep({d},{labels:?},{kind})")
                    } else {
                        format!("VertexStep({d},{labels:?},{kind})")
                    }
                }
                Op::HasProp(k, None) => format!("HasStep([{k}])"),
                Op::HasProp(k, Some(pr)) => format!("HasStep([{k}.{pr:?}])"),
                Op::HasLabel(pr) => {
                    if after_hop && p.label_pushdown() {
                        notes.push("fromEdge".into());
                    }
                    format!("HasStep([~label.{pr:?}])")
                }
                Op::HasId(pr) => format!("HasStep([~id.{pr:?}])"),
                Op::HasNot(k) => format!("NotStep([{k}])"),
                Op::EdgeV(_) => "EdgeVertexStep".to_string(),
                Op::OtherV => "EdgeOtherVertexStep".to_string(),
                Op::Values(keys) => format!("PropertiesStep({keys:?},value)"),
                Op::Id => "IdStep".to_string(),
                Op::Label => "LabelStep".to_string(),
            };
            if matches!(op, Op::Adj { .. } | Op::EdgeV(_) | Op::OtherV) {
                after_hop = true;
            }
            parts.push(if notes.is_empty() {
                base
            } else {
                format!("{base}{{{}}}", notes.join(","))
            });
        }
        for name in p.step_names.iter().skip(p.ops.len()) {
            parts.push(format!("{name}Step"));
        }
        if p.count_without_visit() && p.need != Need::Value {
            parts.push("{finishWithoutVisit}".to_string());
        }
        if p.omit_properties() {
            parts.push(match p.prop_keys() {
                None => "{properties=all}".to_string(),
                Some(keys) => format!("{{properties={keys:?}}}"),
            });
        }
        format!("[{}]", parts.join(", "))
    }
}

/// Names of every strategy (for errors and docs).
pub fn names() -> Vec<Arc<str>> {
    STRATEGIES.iter().map(|s| Arc::from(s.name())).collect()
}
