//! Which traversals the frontier path takes: the compiled steps are matched against the
//! element-local shape; anything else (or anything unsure) answers `None` and runs on the
//! attempts executor.

use std::sync::Arc;

use gremlin::bytecode::Bytecode;
use gremlin::graph::Direction;
use gremlin::machine::compile::{Cond, HasOn, Step};
use gremlin::machine::{Limits, Machine};
use gremlin::value::Value;

use crate::frontier::strategy::Strategies;
use crate::frontier::{CountTail, Need, Op, Plan, FRONTIER_ROUNDS_MAX};
use crate::model::keys::{Dir, ElementId};

/// What the current element is, as the plan is matched.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Vertex,
    Edge,
    /// A mapped value (after `values`/`id`/`label`): no more local steps.
    Mapped,
}

fn dirs(d: Direction) -> Vec<Dir> {
    match d {
        Direction::Out => vec![Dir::Out],
        Direction::In => vec![Dir::In],
        Direction::Both => vec![Dir::Out, Dir::In],
    }
}

/// Whether a coordinator step needs no graph (runs on gathered values alone). Not `sum`/
/// `mean`: they multiply by bulk, and merged bulks would change the number type (Int to Long).
fn graph_free(s: &Step) -> bool {
    match s {
        Step::Count(false)
        | Step::Fold(None)
        | Step::Min(false)
        | Step::Max(false)
        | Step::Is(_)
        | Step::Identity => true,
        Step::Dedup {
            local: false,
            labels,
            by: None,
        } => labels.is_empty(),
        Step::Range { local: false, .. } => true,
        // A uniform draw over the gathered traversers (bulks merged or not: the same draw).
        Step::Sample {
            local: false,
            by: None,
            ..
        } => true,
        _ => false,
    }
}

/// The start ids of `V(ids)` as the attempts executor reads them (an id that cannot be an
/// id, or a lone null, names no vertex).
fn start_ids(ids: &[Value], element: &'static str) -> Vec<ElementId> {
    if ids.len() == 1 && matches!(ids.first(), Some(Value::Null)) {
        return Vec::new();
    }
    ids.iter()
        .filter_map(|v| ElementId::from_value(v, element).ok())
        .collect()
}

/// The frontier plan of `bytecode`, or `None` when it must run on the attempts executor.
pub fn plan(bytecode: &Bytecode, limits: Limits) -> Option<Plan> {
    // Source instructions (strategies, sacks, side effects, options) change what steps do:
    // only `withoutStrategies` of the frontier's own strategies is taken.
    let strategies = Strategies::of_source(&bytecode.source)?;
    let explain = bytecode.steps.last().is_some_and(|s| &*s.op == "explain");
    let stripped;
    let bytecode = if explain {
        let mut b = bytecode.clone();
        b.steps.pop();
        stripped = b;
        &stripped
    } else {
        bytecode
    };
    let m = Machine::with_limits(bytecode, limits).ok()?;
    let steps = m.steps();
    if steps.is_empty() || steps.len() > FRONTIER_ROUNDS_MAX {
        return None;
    }
    if steps.iter().any(|s| !s.labels.is_empty()) {
        return None;
    }
    let mut ops = Vec::new();
    let mut kind = Kind::Vertex;
    match &steps.first()?.step {
        Step::V(ids) => ops.push(Op::Start(if ids.is_empty() {
            None
        } else {
            Some(start_ids(ids, "Vertex"))
        })),
        // `E()` scans every edge locator and reads its pack: left to the attempts executor.
        // `E()` (every edge) only where an edge index or the counters may answer it.
        Step::E(ids) if ids.is_empty() && crate::index::plan_scan_e(steps) => {
            kind = Kind::Edge;
            ops.push(Op::ScanE);
        }
        Step::E(ids) if !ids.is_empty() => {
            kind = Kind::Edge;
            ops.push(Op::StartE(start_ids(ids, "Edge")));
        }
        _ => return None,
    }
    let mut i = 1;
    while let Some(sd) = steps.get(i) {
        let op = match (&sd.step, kind) {
            (_, Kind::Mapped) => break,
            (Step::Adj { dir, labels, edges }, Kind::Vertex) => {
                let op = Op::Adj {
                    dirs: dirs(*dir),
                    labels: labels.clone(),
                    edges: *edges,
                };
                if *edges {
                    kind = Kind::Edge;
                }
                op
            }
            (Step::EdgeV(d), Kind::Edge) => {
                kind = Kind::Vertex;
                Op::EdgeV(dirs(*d))
            }
            (Step::OtherV, Kind::Edge) => {
                kind = Kind::Vertex;
                Op::OtherV
            }
            (Step::Has { on, cond }, _) => match (on, cond) {
                (HasOn::Prop(k), None) => Op::HasProp(k.clone(), None),
                (HasOn::Prop(k), Some(Cond::P(p))) => Op::HasProp(k.clone(), Some(p.clone())),
                (HasOn::Label, Some(Cond::P(p))) => Op::HasLabel(p.clone()),
                (HasOn::Id, Some(Cond::P(p))) => Op::HasId(p.clone()),
                _ => break,
            },
            (Step::HasNot(k), _) => Op::HasNot(k.clone()),
            (Step::Values(keys), _) => {
                kind = Kind::Mapped;
                Op::Values(keys.clone())
            }
            (Step::Id, _) => {
                kind = Kind::Mapped;
                Op::Id
            }
            (Step::Label, _) => {
                kind = Kind::Mapped;
                Op::Label
            }
            _ => break,
        };
        ops.push(op);
        i += 1;
    }
    let rest = steps.get(i..).unwrap_or(&[]);
    let (rest, profile) = match rest.split_last() {
        Some((last, before)) if matches!(last.step, Step::Profile) => (before, true),
        _ => (rest, false),
    };
    if !rest.iter().all(|s| graph_free(&s.step)) {
        return None;
    }
    let mapped = matches!(ops.last(), Some(Op::Values(_) | Op::Id | Op::Label));
    // Before the first count, only dedup/limit: a reference (id) is all they compare, and
    // without a dedup only the bulk counts.
    let first_count = rest
        .iter()
        .position(|s| matches!(s.step, Step::Count(false)));
    let need = match first_count {
        Some(c) if !mapped => {
            let before = rest.get(..c).unwrap_or(&[]);
            let only = before.iter().all(|s| {
                matches!(
                    s.step,
                    Step::Dedup { .. } | Step::Range { .. } | Step::Identity
                )
            });
            let dedup = before.iter().any(|s| matches!(s.step, Step::Dedup { .. }));
            match (only, dedup) {
                (true, true) => Need::Identity,
                (true, false) => Need::Bulk,
                _ => Need::Value,
            }
        }
        _ => Need::Value,
    };
    // A tail that only counts is answered from the gathered results (`coord::run`).
    let count_tail = match rest {
        [c] if matches!(c.step, Step::Count(false)) && need == Need::Bulk => Some(CountTail::Bulk),
        [d, c]
            if matches!(
                &d.step,
                Step::Dedup {
                    local: false,
                    labels,
                    by: None,
                } if labels.is_empty()
            ) && matches!(c.step, Step::Count(false))
                && need == Need::Identity =>
        {
            Some(CountTail::Distinct)
        }
        _ => None,
    };
    let stop_after = match rest.first().map(|s| &s.step) {
        Some(Step::Range {
            local: false,
            lo,
            hi,
        }) if *hi >= 0 && *lo >= 0 => u64::try_from(*hi).ok(),
        _ => None,
    };
    let sample = match rest.first().map(|s| &s.step) {
        Some(Step::Sample {
            local: false,
            n,
            by: None,
        }) if *n >= 0 => u64::try_from(*n).ok(),
        _ => None,
    };
    let step_names = steps.iter().map(|s| s.step.name()).collect();
    Some(Plan {
        ops,
        need,
        stop_after,
        sample,
        seed: crate::exec::query_seed(),
        profile,
        step_names,
        strategies,
        explain,
        notes: Vec::new(),
        mid_index: crate::frontier::MidIndex::Undecided,
        count_tail,
    })
}

impl Plan {
    /// The property keys any step of the plan reads (`has(k)`, `hasNot(k)`, `values(k)`),
    /// or `None` when every property is needed (`values()` of all keys, or finished
    /// elements answered whole). Property omission decodes only these.
    pub fn prop_keys(&self) -> Option<Vec<Arc<str>>> {
        let mapped = matches!(self.ops.last(), Some(Op::Values(_) | Op::Id | Op::Label));
        if self.need == Need::Value && !mapped {
            return None;
        }
        let mut keys: Vec<Arc<str>> = Vec::new();
        for op in &self.ops {
            match op {
                Op::HasProp(k, _) | Op::HasNot(k) => keys.push(k.clone()),
                Op::Values(ks) if ks.is_empty() => return None,
                Op::Values(ks) => keys.extend(ks.iter().cloned()),
                _ => {}
            }
        }
        keys.sort();
        keys.dedup();
        Some(keys)
    }
}

/// The bytecode the coordinator's machine runs (the traversal without `profile()`).
pub fn without_profile(bytecode: &Bytecode) -> Bytecode {
    let mut b = bytecode.clone();
    if b.steps.last().is_some_and(|s| &*s.op == "profile") {
        b.steps.pop();
    }
    b
}

/// The label of a step for errors and profiles.
pub fn op_name(op: &Op) -> Arc<str> {
    Arc::from(match op {
        Op::Start(_) => "V",
        Op::StartE(_) | Op::ScanE => "E",
        Op::HasProp(..) | Op::HasLabel(_) | Op::HasId(_) => "Has",
        Op::HasNot(_) => "HasNot",
        Op::Adj { edges: false, .. } => "Vertex",
        Op::Adj { edges: true, .. } => "Edge",
        Op::EdgeV(_) => "EdgeVertex",
        Op::OtherV => "EdgeOtherVertex",
        Op::Values(_) => "Values",
        Op::Id => "Id",
        Op::Label => "Label",
    })
}
