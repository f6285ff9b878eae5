//! Step implementations and the batch executor of the machine.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use indexmap::{IndexMap, IndexSet};

use super::compile::{
    plain, Arg, By, ChooseOn, Compiled, Compiler, Cond, HasOn, Ord2, Repeat, Step, StepDef, Trav,
};
use super::sem;
use super::{Machine, Output, Partition, SubgraphFilter, Traverser};
use crate::bytecode::Bytecode;
use crate::error::GremlinError;
use crate::graph::{Cardinality, Direction, Graph, Owner, StepCost};
use crate::value::{
    EnumKind, EnumValue, GraphData, Map, Metrics, Path, Predicate, Property, TraversalMetrics,
    Value, Vertex,
};

pub(crate) struct Ctx<'a, G: Graph> {
    pub m: &'a mut Machine,
    pub g: &'a mut G,
    pub depth: usize,
}

fn enum_v(kind: EnumKind, name: &str) -> Value {
    Value::Enum(EnumValue {
        kind,
        name: Arc::from(name),
    })
}

fn rt(msg: impl Into<String>) -> GremlinError {
    GremlinError::runtime(msg)
}

/// Child traversals of a step (for whole-traversal checks such as read-only).
pub(crate) fn children(s: &Step) -> Vec<Trav> {
    let mut out = Vec::new();
    let by = |b: &By, out: &mut Vec<Trav>| {
        if let By::Trav(t) = b {
            out.push(t.clone());
        }
    };
    let arg = |a: &Arg, out: &mut Vec<Trav>| {
        if let Arg::Trav(t) = a {
            out.push(t.clone());
        }
    };
    let cond = |c: &Cond, out: &mut Vec<Trav>| {
        if let Cond::Trav(t) = c {
            out.push(t.clone());
        }
    };
    match s {
        Step::Filter(t)
        | Step::Not(t)
        | Step::WhereTrav(t)
        | Step::Optional(t)
        | Step::Local(t)
        | Step::Map(t)
        | Step::FlatMap(t)
        | Step::SideEffect(t) => out.push(t.clone()),
        Step::And(ts) | Step::Or(ts) | Step::Union(ts) | Step::Coalesce(ts) | Step::Match(ts) => {
            out.extend(ts.iter().cloned())
        }
        Step::Repeat(r) => {
            if let Some(b) = &r.body {
                out.push(b.clone());
            }
        }
        Step::Choose {
            options,
            none,
            on,
            unproductive,
            ..
        } => {
            out.extend(options.iter().map(|o| o.1.clone()));
            out.extend(none.iter().cloned());
            out.extend(unproductive.iter().cloned());
            match on {
                ChooseOn::Pick(t) => out.push(t.clone()),
                ChooseOn::Test(c) => cond(c, &mut out),
            }
        }
        Step::AddV(a) => arg(a, &mut out),
        Step::Call(c) => {
            c.options.iter().for_each(|o| arg(&o.1, &mut out));
            out.extend(c.dynamic.iter().cloned());
        }
        Step::AddVId(a, b) => {
            arg(a, &mut out);
            arg(b, &mut out);
        }
        Step::AddE {
            label,
            from,
            to,
            id,
        } => {
            arg(label, &mut out);
            from.iter().for_each(|a| arg(a, &mut out));
            to.iter().for_each(|a| arg(a, &mut out));
            id.iter().for_each(|a| arg(a, &mut out));
        }
        Step::Property {
            key, value, meta, ..
        } => {
            arg(key, &mut out);
            arg(value, &mut out);
            meta.iter().for_each(|m| arg(&m.1, &mut out));
        }
        Step::Order { by: bs, .. } => bs.iter().for_each(|b| by(&b.0, &mut out)),
        Step::Group { by: bs, .. }
        | Step::Project { by: bs, .. }
        | Step::Select { by: bs, .. }
        | Step::Path { by: bs, .. }
        | Step::SimplePath { by: bs, .. }
        | Step::Math { by: bs, .. } => bs.iter().for_each(|b| by(b, &mut out)),
        Step::MergeV {
            arg: a,
            on_create,
            on_match,
        } => {
            for x in [a, on_create, on_match].into_iter().flatten() {
                arg(x, &mut out);
            }
        }
        Step::Has { cond: Some(c), .. } => cond(c, &mut out),
        Step::Dedup { by: Some(b), .. }
        | Step::GroupCount { by: Some(b), .. }
        | Step::Aggregate { by: Some(b), .. }
        | Step::SackSet { by: Some(b), .. } => by(b, &mut out),
        Step::WhereP { by: bs, .. } | Step::Tree { by: bs, .. } | Step::ValueMap { by: bs, .. } => {
            bs.iter().for_each(|b| by(b, &mut out))
        }
        Step::MergeE {
            arg: a,
            on_create,
            on_match,
            out_v,
            in_v,
        } => {
            for x in [a, on_create, on_match, out_v, in_v].into_iter().flatten() {
                arg(x, &mut out);
            }
        }
        _ => {}
    }
    if let Step::Select { trav: Some(t), .. } = s {
        out.push(t.clone());
    }
    out
}

/// Applies the source instructions (`withSideEffect`, `withSack`, `withStrategies`, ...).
pub(crate) fn apply_source(
    m: &mut Machine,
    c: &mut Compiler,
    bc: &Bytecode,
) -> Result<(), GremlinError> {
    for ins in &bc.source {
        let args: Vec<Value> = ins.args.iter().map(plain).collect();
        match &*ins.op {
            "withSideEffect" => {
                if let (Some(Value::String(k)), Some(v)) = (args.first(), args.get(1)) {
                    m.side_effects.insert(k.clone(), v.clone());
                    if let Some(Value::Enum(e)) = args.get(2) {
                        m.reducers.insert(k.clone(), e.name.clone());
                    }
                }
            }
            "withSack" => {
                let op = args.get(1).and_then(|a| match a {
                    Value::Enum(e) if e.kind == EnumKind::Operator => Some(e.name.clone()),
                    _ => None,
                });
                if let Some(v) = args.first() {
                    if matches!(v, Value::Lambda(_)) {
                        return Err(GremlinError::Lambda);
                    }
                    m.options.sack = Some((v.clone(), op));
                }
            }
            "withStrategies" => {
                for a in &args {
                    if let Value::Strategy(s) = a {
                        let name = s.class.rsplit('.').next().unwrap_or(&s.class).to_string();
                        let cfg = |k: &str| s.config.get(&Value::str(k)).cloned();
                        match name.as_str() {
                            "ReadOnlyStrategy" => m.options.read_only = true,
                            "SeedStrategy" => {
                                m.options.seed = cfg("seed").and_then(|v| match v {
                                    Value::Long(x) => Some(x as u64),
                                    Value::Int(x) => Some(x as u64),
                                    _ => None,
                                })
                            }
                            "ProductiveByStrategy" => m.options.productive_by = true,
                            "ReservedKeysVerificationStrategy"
                                if matches!(cfg("throwException"), Some(Value::Bool(true))) =>
                            {
                                let keys = match cfg("keys") {
                                    Some(v) => as_list(&v)
                                        .unwrap_or_default()
                                        .into_iter()
                                        .filter_map(|k| match k {
                                            Value::String(s) => Some(s),
                                            _ => None,
                                        })
                                        .collect(),
                                    None => vec![Arc::from("id"), Arc::from("label")],
                                };
                                m.options.reserved_keys = Some(keys);
                            }
                            "EdgeLabelVerificationStrategy"
                                if matches!(cfg("throwException"), Some(Value::Bool(true))) =>
                            {
                                m.options.edge_labels_required = true;
                            }
                            "SubgraphStrategy" => {
                                let mut f = SubgraphFilter::default();
                                let mut t = |k: &str| -> Result<Option<Trav>, GremlinError> {
                                    match cfg(k) {
                                        Some(Value::Bytecode(b)) => {
                                            Ok(Some(Arc::new(c.compile(&b)?)))
                                        }
                                        _ => Ok(None),
                                    }
                                };
                                f.vertices = t("vertices")?;
                                f.edges = t("edges")?;
                                f.vertex_properties = t("vertexProperties")?;
                                m.options.subgraph = Some(f);
                            }
                            "PartitionStrategy" => {
                                let key = match cfg("partitionKey") {
                                    Some(Value::String(k)) => k,
                                    _ => {
                                        return Err(GremlinError::compile(
                                            "The partitionKey cannot be null",
                                        ))
                                    }
                                };
                                let read = match cfg("readPartitions") {
                                    Some(Value::List(l)) => l,
                                    Some(Value::Set(s)) => s.into_iter().collect(),
                                    Some(v) => vec![v],
                                    None => Vec::new(),
                                };
                                m.options.partition = Some(Partition {
                                    key,
                                    write: cfg("writePartition"),
                                    read,
                                    include_meta: matches!(
                                        cfg("includeMetaProperties"),
                                        Some(Value::Bool(true))
                                    ),
                                });
                            }
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn element_owner<G: Graph>(g: &G, t: &Traverser) -> Option<Owner> {
    match &t.value {
        Value::Vertex(v) => Some(g.owner_of_vertex(&v.id)),
        Value::Edge(e) => Some(g.owner_of_vertex(&e.out_v_id)),
        Value::VertexProperty(_) | Value::Property(_) => match &t.parent {
            Some(Value::Vertex(v)) => Some(g.owner_of_vertex(&v.id)),
            Some(Value::Edge(e)) => Some(g.owner_of_vertex(&e.out_v_id)),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn run_batch<G: Graph>(
    m: &mut Machine,
    g: &mut G,
    batch: Vec<Traverser>,
) -> Result<Output, GremlinError> {
    let compiled = m.compiled.clone();
    let n = compiled.steps.len() as u32;
    let mut waiting: BTreeMap<u32, Vec<Traverser>> = BTreeMap::new();
    let mut out = Output::default();
    for t in batch {
        if t.step >= n {
            out.finished.push(t);
        } else {
            waiting.entry(t.step).or_default().push(t);
        }
    }
    let multi = g.owner_count() > 1;
    let local = g.local_owner();
    let mut ctx = Ctx { m, g, depth: 0 };
    let Some(mut i) = waiting.keys().next().copied() else {
        return Ok(out);
    };
    while i < n {
        let trs = waiting.remove(&i).unwrap_or_default();
        let Some(sd) = compiled.steps.get(i as usize) else {
            out.finished.extend(trs);
            break;
        };
        i += 1;
        let mut here = trs;
        if multi && sd.step.needs_owner() {
            let mut keep = Vec::with_capacity(here.len());
            for t in here {
                match element_owner(ctx.g, &t) {
                    Some(o) if o != local => out.moved.push((o, t)),
                    _ => keep.push(t),
                }
            }
            here = keep;
        }
        if sd.step.is_coordinator() && !ctx.m.coordinator {
            out.at_coordinator.extend(here);
            continue;
        }
        // A mid-traversal `inject()` adds its values even when nothing reaches it.
        let emits = emits_on_empty(&sd.step) || matches!(sd.step, Step::Inject(_));
        if here.is_empty() && !(ctx.m.coordinator && !multi && emits) {
            continue;
        }
        // A start step on a non-coordinator owner: only V()/E() scan locally.
        if multi && i == 1 && !ctx.m.coordinator && !matches!(sd.step, Step::V(_) | Step::E(_)) {
            continue;
        }
        let res = timed(&mut ctx, i as usize - 1, |ctx| ctx.apply(sd, here))?;
        count_produced(ctx.m, i as usize - 1, &res);
        for mut t in res {
            t.step = i;
            if t.step >= n {
                out.finished.push(t);
            } else {
                waiting.entry(t.step).or_default().push(t);
            }
        }
    }
    Ok(out)
}

/// Runs exactly one (coordinator) step over every traverser gathered for it from all owners;
/// returns them positioned at the next step. Runs even when `gathered` is empty, so `count()`
/// of nothing is 0.
pub(crate) fn run_step<G: Graph>(
    m: &mut Machine,
    g: &mut G,
    step: u32,
    gathered: Vec<Traverser>,
) -> Result<Vec<Traverser>, GremlinError> {
    let compiled = m.compiled.clone();
    let Some(sd) = compiled.steps.get(step as usize) else {
        return Ok(gathered);
    };
    if gathered.is_empty() && !emits_on_empty(&sd.step) {
        return Ok(Vec::new());
    }
    let mut ctx = Ctx { m, g, depth: 0 };
    let mut res = timed(&mut ctx, step as usize, |ctx| ctx.apply(sd, gathered))?;
    count_produced(ctx.m, step as usize, &res);
    for t in &mut res {
        t.step = step + 1;
    }
    Ok(res)
}

/// Runs top-level step `i`; when profiling, tells the graph which step runs and adds the
/// machine's time in it to the step's.
fn timed<G: Graph, T>(
    ctx: &mut Ctx<'_, G>,
    i: usize,
    f: impl FnOnce(&mut Ctx<'_, G>) -> Result<T, GremlinError>,
) -> Result<T, GremlinError> {
    if !ctx.m.profiling {
        return f(ctx);
    }
    ctx.g.step_began(i);
    let began = std::time::Instant::now();
    let r = f(ctx);
    let nanos = u64::try_from(began.elapsed().as_nanos()).unwrap_or(u64::MAX);
    if ctx.m.step_nanos.len() <= i {
        ctx.m.step_nanos.resize(i + 1, 0);
    }
    if let Some(n) = ctx.m.step_nanos.get_mut(i) {
        *n = n.saturating_add(nanos);
    }
    ctx.g.step_ended(i, nanos);
    r
}

/// Adds what top-level step `i` produced to the machine's profile counts.
fn count_produced(m: &mut Machine, i: usize, res: &[Traverser]) {
    if m.produced.len() <= i {
        m.produced.resize(i + 1, (0, 0));
    }
    if let Some(c) = m.produced.get_mut(i) {
        c.0 = c.0.saturating_add(res.len() as u64);
        c.1 = c.1.saturating_add(res.iter().map(bulk_n).sum::<u64>());
    }
}

/// Steps that produce a result from no input (`count()` is 0, `fold()` is `[]`, and
/// `profile()`/`explain()` always answer exactly one metrics object / explanation).
fn emits_on_empty(s: &Step) -> bool {
    matches!(
        s,
        Step::Count(false)
            | Step::Profile
            | Step::Explain
            | Step::Fold(_)
            | Step::Group { key: None, .. }
            | Step::GroupCount { key: None, .. }
            | Step::Tree { key: None, .. }
            | Step::Cap(_)
    )
}

pub(crate) fn side_effect_value<G: Graph>(
    m: &mut Machine,
    g: &mut G,
    key: &str,
) -> Result<Option<Value>, GremlinError> {
    let mut ctx = Ctx { m, g, depth: 0 };
    ctx.side_effect(key)
}

fn bulk_n(t: &Traverser) -> u64 {
    u64::try_from(t.bulk).unwrap_or(0)
}

fn as_list(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::List(l) => Some(l.clone()),
        Value::Set(s) => Some(s.iter().cloned().collect()),
        Value::BulkSet(b) => Some(
            b.iter()
                .flat_map(|(v, n)| std::iter::repeat_n(v.clone(), usize::try_from(*n).unwrap_or(0)))
                .collect(),
        ),
        Value::Path(p) => Some(p.objects.clone()),
        _ => None,
    }
}

fn entry(k: Value, v: Value) -> Value {
    let mut m = Map::new();
    m.insert(k, v);
    Value::Map(m)
}

impl<G: Graph> Ctx<'_, G> {
    fn apply(&mut self, sd: &StepDef, trs: Vec<Traverser>) -> Result<Vec<Traverser>, GremlinError> {
        if let Some(d) = self.m.deadline {
            if std::time::Instant::now() > d {
                return Err(GremlinError::Runtime(
                    "The traversal exceeded its time limit".to_string(),
                ));
            }
        }
        let mut out = self.step(&sd.step, trs)?;
        if !self.m.track_path
            && matches!(
                sd.step,
                Step::Adj { .. }
                    | Step::Barrier
                    | Step::Repeat(_)
                    | Step::Union(_)
                    | Step::EdgeV(_)
            )
        {
            out = merge_bulk(out);
        }
        if out.len() as u64 > self.m.limits.traversers_max {
            return Err(GremlinError::LimitExceeded {
                limit: "traversers_max",
                max: self.m.limits.traversers_max,
            });
        }
        if !sd.labels.is_empty() {
            for t in &mut out {
                t.add_labels(&sd.labels);
            }
        }
        Ok(out)
    }

    /// Runs a child traversal over a batch.
    fn run_local(
        &mut self,
        c: &Compiled,
        mut trs: Vec<Traverser>,
    ) -> Result<Vec<Traverser>, GremlinError> {
        self.depth += 1;
        if self.depth > self.m.limits.nesting_depth_max {
            self.depth -= 1;
            return Err(GremlinError::LimitExceeded {
                limit: "nesting_depth_max",
                max: self.m.limits.nesting_depth_max as u64,
            });
        }
        let mut r = Ok(());
        for sd in &c.steps {
            if trs.is_empty() && !emits_on_empty(&sd.step) {
                continue;
            }
            match self.apply(sd, trs) {
                Ok(t) => trs = t,
                Err(e) => {
                    r = Err(e);
                    trs = Vec::new();
                    break;
                }
            }
        }
        self.depth -= 1;
        r.map(|_| trs)
    }

    fn sub(&mut self, c: &Compiled, t: &Traverser) -> Result<Vec<Traverser>, GremlinError> {
        let mut t = t.clone();
        t.bulk = 1;
        self.run_local(c, vec![t])
    }

    fn sub_first(&mut self, c: &Compiled, t: &Traverser) -> Result<Option<Value>, GremlinError> {
        Ok(self.sub(c, t)?.into_iter().next().map(|t| t.value))
    }

    fn sub_any(&mut self, c: &Compiled, t: &Traverser) -> Result<bool, GremlinError> {
        Ok(!self.sub(c, t)?.is_empty())
    }

    fn test_cond(&mut self, c: &Cond, t: &Traverser) -> Result<bool, GremlinError> {
        match c {
            Cond::P(p) => self.test_p(p, &t.value),
            Cond::Trav(tr) => self.sub_any(tr, t),
        }
    }

    /// Looks up again, as integers, the string ids that found nothing: like TinkerGraph's
    /// numeric id managers, `g.V("1")` finds the vertex with id `1`.
    fn retry_string_ids<T>(
        &mut self,
        ids: &[Value],
        mut found: Vec<Option<T>>,
        look: impl Fn(&G, &[Value]) -> Result<Vec<Option<T>>, GremlinError>,
    ) -> Result<Vec<Option<T>>, GremlinError> {
        if !self.g.string_ids_spell_numbers() {
            return Ok(found);
        }
        for (slot, id) in found.iter_mut().zip(ids) {
            if slot.is_some() {
                continue;
            }
            if let Some(n) = numeric_id(id) {
                if let Some(hit) = look(&*self.g, std::slice::from_ref(&n))?.into_iter().next() {
                    *slot = hit;
                }
            }
        }
        Ok(found)
    }

    /// Path objects through `by()` projections (round robin); `None` when one is
    /// unproductive.
    fn project_path(
        &mut self,
        objs: &[Value],
        by: &[By],
        t: &Traverser,
    ) -> Result<Option<Vec<Value>>, GremlinError> {
        if by.is_empty() {
            return Ok(Some(objs.to_vec()));
        }
        let mut out = Vec::with_capacity(objs.len());
        for (i, o) in objs.iter().enumerate() {
            let b = &by[i % by.len()];
            match self.by_on(b, o, t)? {
                Some(v) => out.push(v),
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    fn test_p(&mut self, p: &Predicate, v: &Value) -> Result<bool, GremlinError> {
        sem::test(p, v)
    }

    /// The next `bits` bits of `java.util.Random`'s generator (a 48-bit LCG), so that
    /// `SeedStrategy(seed: n)` draws the numbers TinkerPop draws with `new Random(n)`.
    fn next_bits(&mut self, bits: u32) -> u64 {
        self.m.rng = self
            .m
            .rng
            .wrapping_mul(JAVA_RANDOM_MULTIPLIER)
            .wrapping_add(0xB)
            & JAVA_RANDOM_MASK;
        self.m.rng >> (48 - bits)
    }

    fn rand(&mut self) -> u64 {
        (self.next_bits(32) << 32) | self.next_bits(32)
    }

    /// `Random.nextDouble()`.
    fn rand_f64(&mut self) -> f64 {
        let hi = self.next_bits(26);
        let lo = self.next_bits(27);
        ((hi << 27) | lo) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn born(&self, v: Value) -> Traverser {
        let mut t = if self.m.track_path {
            Traverser::new(v)
        } else {
            Traverser::pathless(v)
        };
        if let Some((s, _)) = &self.m.options.sack {
            t.sack = Some(s.clone());
        }
        t
    }

    pub(crate) fn gen(&self, from: &Traverser, v: Value) -> Traverser {
        if from.seed {
            let mut t = self.born(v);
            t.bulk = from.bulk;
            t.loops = from.loops.clone();
            if from.sack.is_some() {
                t.sack = from.sack.clone();
            }
            t
        } else {
            from.extend(v)
        }
    }

    /// A fresh traverser after a reducing barrier (new path).
    fn reduced(&self, v: Value) -> Traverser {
        self.born(v)
    }

    /// The `profile()` answer: per top-level step (the profile step aside), the traversers
    /// and elements it produced, its time and what it cost the store (when the graph keeps
    /// an account, [`Graph::step_cost`]: its time then includes the store's work).
    fn profile_metrics(&self) -> TraversalMetrics {
        let long = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        // Per step (the profile step aside): its time, and the store's counts when it keeps
        // an account.
        let costs: Vec<(usize, StepCost)> = self
            .m
            .compiled
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| !matches!(s.step, Step::Profile))
            .map(|(i, _)| {
                let cost = self.g.step_cost(i).unwrap_or_else(|| StepCost {
                    nanos: self.m.step_nanos.get(i).copied().unwrap_or(0),
                    counts: Vec::new(),
                });
                (i, cost)
            })
            .collect();
        let total = costs
            .iter()
            .map(|(_, c)| c.nanos)
            .fold(0, u64::saturating_add);
        let metrics = costs
            .into_iter()
            .map(|(i, cost)| {
                let (traversers, elements) = self.m.produced.get(i).copied().unwrap_or((0, 0));
                let mut counts = vec![
                    (Arc::from("traverserCount"), long(traversers)),
                    (Arc::from("elementCount"), long(elements)),
                ];
                counts.extend(cost.counts);
                let name = self
                    .m
                    .compiled
                    .steps
                    .get(i)
                    .map_or_else(|| "Step".to_string(), |s| s.step.name());
                Metrics::step(i, Arc::from(name.as_str()), cost.nanos, total, counts)
            })
            .collect();
        TraversalMetrics {
            duration_nanos: long(total),
            metrics,
        }
    }

    fn check_barrier(&self, n: usize) -> Result<(), GremlinError> {
        if n as u64 > self.m.limits.barrier_items_max {
            return Err(GremlinError::LimitExceeded {
                limit: "barrier_items_max",
                max: self.m.limits.barrier_items_max,
            });
        }
        Ok(())
    }

    // ---------------------------------------------------------------- element access

    fn fresh_vertex(&mut self, id: &Value) -> Result<Option<Arc<Vertex>>, GremlinError> {
        Ok(self
            .g
            .vertices(std::slice::from_ref(id))?
            .into_iter()
            .next()
            .flatten())
    }

    fn vertex_visible(&mut self, v: &Value) -> Result<bool, GremlinError> {
        if let Some(p) = self.m.options.partition.clone() {
            let Value::Vertex(vx) = v else {
                return Ok(true);
            };
            let Some(full) = self.fresh_vertex(&vx.id)? else {
                return Ok(false);
            };
            let ok = full
                .properties
                .iter()
                .flatten()
                .any(|vp| vp.key == p.key && p.read.iter().any(|r| sem::equals(r, &vp.value)));
            if !ok {
                return Ok(false);
            }
        }
        if let Some(SubgraphFilter {
            vertices: Some(f), ..
        }) = self.m.options.subgraph.clone()
        {
            let saved = self.m.options.subgraph.take();
            let r = self.sub_any(&f, &Traverser::new(v.clone()));
            self.m.options.subgraph = saved;
            return r;
        }
        Ok(true)
    }

    fn edge_visible(&mut self, e: &Value) -> Result<bool, GremlinError> {
        let Value::Edge(ed) = e else { return Ok(true) };
        if let Some(p) = self.m.options.partition.clone() {
            let ok = ed
                .properties
                .iter()
                .flatten()
                .any(|pr| pr.key == p.key && p.read.iter().any(|r| sem::equals(r, &pr.value)));
            if !ok {
                return Ok(false);
            }
        }
        if let Some(sg) = self.m.options.subgraph.clone() {
            let saved = self.m.options.subgraph.take();
            let mut ok = true;
            if let Some(f) = &sg.edges {
                ok = self.sub_any(f, &Traverser::new(e.clone()))?;
            }
            self.m.options.subgraph = saved;
            if ok && sg.vertices.is_some() {
                let ov = self.vertex_ref(&ed.out_v_id, &ed.out_v_label);
                let iv = self.vertex_ref(&ed.in_v_id, &ed.in_v_label);
                ok = self.vertex_visible(&ov)? && self.vertex_visible(&iv)?;
            }
            return Ok(ok);
        }
        Ok(true)
    }

    fn vertex_ref(&mut self, id: &Value, label: &Arc<str>) -> Value {
        match self.g.vertices(std::slice::from_ref(id)) {
            Ok(mut v) if v.first().is_some_and(Option::is_some) => {
                Value::Vertex(v.swap_remove(0).unwrap_or_else(|| {
                    Arc::new(Vertex {
                        id: id.clone(),
                        label: label.clone(),
                        properties: None,
                    })
                }))
            }
            _ => Value::Vertex(Arc::new(Vertex {
                id: id.clone(),
                label: label.clone(),
                properties: None,
            })),
        }
    }

    /// Property objects of an element (VertexProperty for vertices, Property otherwise).
    pub(crate) fn props(
        &mut self,
        v: &Value,
        keys: &[Arc<str>],
    ) -> Result<Vec<Value>, GremlinError> {
        let want = |k: &Arc<str>| keys.is_empty() || keys.iter().any(|x| x == k);
        let mut out = Vec::new();
        match v {
            Value::Vertex(vx) => {
                let Some(full) = self.fresh_vertex(&vx.id)? else {
                    return Ok(out);
                };
                let part = self.m.options.partition.clone();
                for p in full.properties.iter().flatten() {
                    if let Some(pt) = &part {
                        if p.key == pt.key {
                            continue;
                        }
                    }
                    if want(&p.key) {
                        let mut p = p.clone();
                        if let (Some(pt), Some(meta)) = (&part, p.properties.as_mut()) {
                            if pt.include_meta {
                                let keep: Vec<Property> = meta.clone();
                                let ok = keep.iter().any(|m| {
                                    m.key == pt.key
                                        && pt.read.iter().any(|r| sem::equals(r, &m.value))
                                });
                                if !ok {
                                    continue;
                                }
                                meta.retain(|m| m.key != pt.key);
                            }
                        }
                        out.push(Value::VertexProperty(Arc::new(p)));
                    }
                }
                if let Some(SubgraphFilter {
                    vertex_properties: Some(f),
                    ..
                }) = self.m.options.subgraph.clone()
                {
                    let saved = self.m.options.subgraph.take();
                    let mut kept = Vec::new();
                    for p in out {
                        let mut t = Traverser::new(p.clone());
                        t.parent = Some(v.clone());
                        if self.sub_any(&f, &t)? {
                            kept.push(p);
                        }
                    }
                    self.m.options.subgraph = saved;
                    out = kept;
                }
            }
            Value::Edge(e) => {
                let full = self
                    .g
                    .edges(std::slice::from_ref(&e.id))?
                    .into_iter()
                    .next()
                    .flatten();
                let part = self.m.options.partition.clone();
                for p in full.iter().flat_map(|e| e.properties.iter().flatten()) {
                    if part.as_ref().is_some_and(|pt| pt.key == p.key) {
                        continue;
                    }
                    if want(&p.key) {
                        out.push(Value::Property(Arc::new(p.clone())));
                    }
                }
            }
            Value::VertexProperty(vp) => {
                for p in vp.properties.iter().flatten() {
                    if want(&p.key) {
                        out.push(Value::Property(Arc::new(p.clone())));
                    }
                }
            }
            Value::Null => {}
            other => {
                return Err(rt(format!(
                    "The properties() step requires an Element, got {}",
                    other.type_name()
                )))
            }
        }
        Ok(out)
    }

    pub(crate) fn prop_value(p: &Value) -> Value {
        match p {
            Value::VertexProperty(vp) => vp.value.clone(),
            Value::Property(p) => p.value.clone(),
            other => other.clone(),
        }
    }

    fn id_of(v: &Value) -> Result<Value, GremlinError> {
        Ok(match v {
            Value::Vertex(x) => x.id.clone(),
            Value::Edge(x) => x.id.clone(),
            Value::VertexProperty(x) => x.id.clone(),
            other => {
                return Err(rt(format!(
                    "The id() step requires an Element, got {}",
                    other.type_name()
                )))
            }
        })
    }

    fn label_of(v: &Value) -> Result<Value, GremlinError> {
        Ok(match v {
            Value::Vertex(x) => Value::String(x.label.clone()),
            Value::Edge(x) => Value::String(x.label.clone()),
            Value::VertexProperty(x) => Value::String(x.key.clone()),
            other => {
                return Err(rt(format!(
                    "The label() step requires an Element, got {}",
                    other.type_name()
                )))
            }
        })
    }

    // ---------------------------------------------------------------- by() and scopes

    /// Evaluates a `by()` modulator; `None` when it yields nothing.
    pub(crate) fn by_value(
        &mut self,
        by: &By,
        t: &Traverser,
    ) -> Result<Option<Value>, GremlinError> {
        let r = self.by_value_raw(by, t)?;
        if r.is_none() && self.m.options.productive_by && matches!(by, By::Trav(_) | By::Key(_)) {
            return Ok(Some(Value::Null));
        }
        Ok(r)
    }

    fn by_value_raw(&mut self, by: &By, t: &Traverser) -> Result<Option<Value>, GremlinError> {
        let v = &t.value;
        Ok(match by {
            By::Identity => Some(v.clone()),
            By::Trav(c) => self.sub_first(c, t)?,
            By::Key(k) => match v {
                Value::Vertex(_) | Value::Edge(_) | Value::VertexProperty(_) => self
                    .props(v, std::slice::from_ref(k))?
                    .first()
                    .map(Self::prop_value),
                Value::Map(m) => m.get(&Value::String(k.clone())).cloned(),
                other => {
                    return Err(rt(format!(
                        "The by(\"{k}\") modulator can only be applied to a traverser that is an Element or a Map - it is being applied to [{}] a {} class instead",
                        crate::machine::exec::show(other),
                        other.type_name()
                    )))
                }
            },
            By::Token(tok) => match &**tok {
                "id" => Some(Self::id_of(v)?),
                "label" => Some(Self::label_of(v)?),
                "key" => match v {
                    Value::VertexProperty(p) => Some(Value::String(p.key.clone())),
                    Value::Property(p) => Some(Value::String(p.key.clone())),
                    _ => None,
                },
                "value" => match v {
                    Value::VertexProperty(_) | Value::Property(_) => Some(Self::prop_value(v)),
                    _ => None,
                },
                _ => None,
            },
            By::Column(c) => match (v, &**c, t.entry) {
                (Value::Map(m), "keys", true) => m.keys().next().cloned(),
                (Value::Map(m), "values", true) => m.values().next().cloned(),
                (Value::Map(m), "keys", false) => Some(Value::Set(m.keys().cloned().collect())),
                (Value::Map(m), _, false) => Some(Value::List(m.values().cloned().collect())),
                _ => None,
            },
        })
    }

    pub(crate) fn by_on(
        &mut self,
        by: &By,
        v: &Value,
        from: &Traverser,
    ) -> Result<Option<Value>, GremlinError> {
        let t = from.replace(v.clone());
        self.by_value(by, &t)
    }

    fn side_effect(&mut self, key: &str) -> Result<Option<Value>, GremlinError> {
        if let Some((step, trs)) = self.m.pending.get(key).cloned() {
            let v = match &step {
                Step::Group { by, .. } => self.group(by, &trs)?,
                Step::GroupCount { by, .. } => self.group_count(by.as_ref(), &trs)?,
                Step::Tree { by, .. } => self.tree(by, &trs)?,
                _ => Value::Null,
            };
            return Ok(Some(v));
        }
        Ok(self.m.side_effects.get(key).cloned())
    }

    /// Scoped value of `key` (map entry, side effect, path label).
    pub(crate) fn scope_value(
        &mut self,
        t: &Traverser,
        key: &str,
        pop: &str,
    ) -> Result<Option<Value>, GremlinError> {
        if let Value::Map(m) = &t.value {
            if let Some(v) = m.get(&Value::str(key)) {
                return Ok(Some(v.clone()));
            }
        }
        if let Some(v) = self.side_effect(key)? {
            return Ok(Some(v));
        }
        Ok(path_get(&t.path, key, pop))
    }

    // ---------------------------------------------------------------- steps

    fn step(&mut self, step: &Step, trs: Vec<Traverser>) -> Result<Vec<Traverser>, GremlinError> {
        let mut out = Vec::with_capacity(trs.len());
        match step {
            Step::Identity | Step::Barrier => return Ok(trs),
            Step::V(ids) | Step::E(ids) => {
                let is_v = matches!(step, Step::V(_));
                let mut idv: Vec<Value> = ids
                    .iter()
                    .map(|i| match i {
                        Value::Vertex(v) => v.id.clone(),
                        Value::Edge(e) => e.id.clone(),
                        other => other.clone(),
                    })
                    .collect();
                let all = idv.is_empty();
                if all {
                    idv = if is_v {
                        self.g.scan_vertex_ids()?
                    } else {
                        self.g.scan_edge_ids()?
                    };
                } else if ids.iter().any(|v| matches!(v, Value::Null)) && ids.len() == 1 {
                    idv.clear();
                }
                let mut elems = Vec::new();
                if is_v {
                    let found = self.g.vertices(&idv)?;
                    let found = self.retry_string_ids(&idv, found, |g, ids| g.vertices(ids))?;
                    for v in found.into_iter().flatten() {
                        let v = Value::Vertex(v);
                        if self.vertex_visible(&v)? {
                            elems.push(v);
                        }
                    }
                } else {
                    let found = self.g.edges(&idv)?;
                    let found = self.retry_string_ids(&idv, found, |g, ids| g.edges(ids))?;
                    for e in found.into_iter().flatten() {
                        let e = Value::Edge(e);
                        if self.edge_visible(&e)? {
                            elems.push(e);
                        }
                    }
                }
                for t in &trs {
                    for e in &elems {
                        out.push(self.gen(t, e.clone()));
                    }
                }
            }
            Step::Inject(vals) => {
                let seed = trs.len() == 1 && trs[0].seed;
                let child = self.depth > 0 && !seed;
                if child {
                    out.extend(trs.iter().cloned());
                }
                for v in vals {
                    out.push(self.born(v.clone()));
                }
                if !seed && !child {
                    out.extend(trs);
                }
            }
            Step::AddV(label) | Step::AddVId(label, _) => {
                self.mutating()?;
                for t in &trs {
                    let l = self.arg_value(label, t)?;
                    let l = match l {
                        Value::String(s) => s,
                        Value::Null if matches!(step, Step::AddVId(..)) => Arc::from("vertex"),
                        _ => return Err(rt("The label of a vertex must be a String")),
                    };
                    let id = match step {
                        Step::AddVId(_, a) => Some(self.arg_value(a, t)?),
                        _ => None,
                    };
                    if matches!(step, Step::AddVId(..))
                        && !t.seed
                        && matches!(t.value, Value::Vertex(_))
                        && matches!(label, Arg::Const(Value::Null))
                    {
                        return Err(rt("T.id is immutable on existing elements"));
                    }
                    let v = self.g.add_vertex(id, &l)?;
                    let vv = Value::Vertex(v.clone());
                    if let Some(p) = self.m.options.partition.clone() {
                        if let Some(w) = &p.write {
                            self.g.set_vertex_property(
                                &v.id,
                                Cardinality::Single,
                                &p.key,
                                w.clone(),
                                None,
                                Vec::new(),
                            )?;
                        }
                    }
                    out.push(self.gen(t, vv));
                }
            }
            Step::AddE {
                label,
                from,
                to,
                id,
            } => {
                self.mutating()?;
                for t in &trs {
                    let l = match self.arg_value(label, t)? {
                        Value::String(s) => s,
                        _ => return Err(rt("The label of an edge must be a String")),
                    };
                    let f = match from {
                        Some(a) => self.endpoint(a, t)?,
                        None => t.value.clone(),
                    };
                    let to_v = match to {
                        Some(a) => self.endpoint(a, t)?,
                        None => t.value.clone(),
                    };
                    let fid =
                        vertex_id(&f).ok_or_else(|| rt(format!("The value given to addE({l}).from() must resolve to a Vertex or the ID of a Vertex present in the graph")))?;
                    let tid = vertex_id(&to_v)
                        .ok_or_else(|| rt(format!("The value given to addE({l}).to() must resolve to a Vertex or the ID of a Vertex present in the graph")))?;
                    let eid = match id {
                        Some(a) => match self.arg_value(a, t)? {
                            Value::Null => None,
                            v => Some(v),
                        },
                        None => None,
                    };
                    let e = self.g.add_edge(eid, &l, &fid, &tid)?;
                    if let Some(p) = self.m.options.partition.clone() {
                        if let Some(w) = &p.write {
                            self.g.set_edge_property(&e.id, &p.key, w.clone())?;
                        }
                    }
                    let e = self
                        .g
                        .edges(std::slice::from_ref(&e.id))?
                        .into_iter()
                        .next()
                        .flatten()
                        .unwrap_or(e);
                    out.push(self.gen(t, Value::Edge(e)));
                }
            }
            Step::Adj { labels, .. }
                if labels.is_empty() && self.m.options.edge_labels_required =>
            {
                return Err(rt(
                    "The provided traversal contains a vertex step without any specified edge label",
                ));
            }
            Step::Adj { dir, labels, edges } => {
                let ids: Vec<Value> = trs
                    .iter()
                    .map(|t| match &t.value {
                        Value::Vertex(v) => Ok(v.id.clone()),
                        other => Err(rt(format!(
                            "The vertex step requires a Vertex, got {}",
                            other.type_name()
                        ))),
                    })
                    .collect::<Result<_, _>>()?;
                let inc = self.g.incident(&ids, *dir, labels)?;
                for (t, list) in trs.iter().zip(inc) {
                    for i in list {
                        let ev = Value::Edge(i.edge.clone());
                        if !self.edge_visible(&ev)? {
                            continue;
                        }
                        if *edges {
                            out.push(t.extend(ev));
                        } else {
                            let (id, label) = match i.direction {
                                Direction::In => (&i.edge.out_v_id, &i.edge.out_v_label),
                                _ => (&i.edge.in_v_id, &i.edge.in_v_label),
                            };
                            let v = self.vertex_ref(id, label);
                            if self.vertex_visible(&v)? {
                                out.push(t.extend(v));
                            }
                        }
                    }
                }
            }
            Step::EdgeV(d) => {
                for t in &trs {
                    let Value::Edge(e) = &t.value else {
                        return Err(rt(format!("The {d:?}V() step requires an Edge")));
                    };
                    let e = e.clone();
                    if matches!(d, Direction::Out | Direction::Both) {
                        let v = self.vertex_ref(&e.out_v_id, &e.out_v_label);
                        out.push(t.extend(v));
                    }
                    if matches!(d, Direction::In | Direction::Both) {
                        let v = self.vertex_ref(&e.in_v_id, &e.in_v_label);
                        out.push(t.extend(v));
                    }
                }
            }
            Step::OtherV => {
                for t in &trs {
                    let Value::Edge(e) = &t.value else {
                        return Err(rt("The otherV() step requires an Edge"));
                    };
                    let e = e.clone();
                    // the vertex before the edge in the path
                    let prev = t
                        .path
                        .objects
                        .len()
                        .checked_sub(2)
                        .and_then(|i| t.path.objects.get(i));
                    let from_out = matches!(prev, Some(Value::Vertex(v)) if v.id == e.out_v_id);
                    let v = if from_out {
                        self.vertex_ref(&e.in_v_id, &e.in_v_label)
                    } else {
                        self.vertex_ref(&e.out_v_id, &e.out_v_label)
                    };
                    out.push(t.extend(v));
                }
            }
            Step::Has { on, cond } => {
                for t in trs {
                    if self.has(on, cond.as_ref(), &t)? {
                        out.push(t);
                    }
                }
            }
            Step::HasNot(k) => {
                for t in trs {
                    if self.props(&t.value, std::slice::from_ref(k))?.is_empty() {
                        out.push(t);
                    }
                }
            }
            Step::Is(p) => {
                for t in trs {
                    if self.test_p(p, &t.value)? {
                        out.push(t);
                    }
                }
            }
            Step::Filter(c) => {
                for t in trs {
                    if self.sub_any(c, &t)? {
                        out.push(t);
                    }
                }
            }
            Step::Not(c) => {
                for t in trs {
                    if !self.sub_any(c, &t)? {
                        out.push(t);
                    }
                }
            }
            Step::And(cs) => {
                'tr: for t in trs {
                    for c in cs {
                        if !self.sub_any(c, &t)? {
                            continue 'tr;
                        }
                    }
                    out.push(t);
                }
            }
            Step::Or(cs) => {
                for t in trs {
                    for c in cs {
                        if self.sub_any(c, &t)? {
                            out.push(t);
                            break;
                        }
                    }
                }
            }
            Step::WhereTrav(c) => {
                for t in trs {
                    if self.where_trav(c, &t)? {
                        out.push(t);
                    }
                }
            }
            Step::WhereP { start, pred, by } => {
                for t in trs {
                    if self.where_p(start.as_deref(), pred, by, &t)? {
                        out.push(t);
                    }
                }
            }
            Step::Dedup {
                local: false,
                labels,
                by,
            } => {
                let mut seen: IndexSet<Value> = IndexSet::new();
                for mut t in trs {
                    let key = if labels.is_empty() {
                        match by {
                            Some(b) => match self.by_value(b, &t)? {
                                Some(v) => v,
                                None => continue,
                            },
                            None => t.value.clone(),
                        }
                    } else {
                        let mut ks = Vec::new();
                        for l in labels {
                            ks.push(self.scope_value(&t, l, "last")?.unwrap_or(Value::Null));
                        }
                        Value::List(ks)
                    };
                    if seen.insert(key) {
                        t.bulk = 1;
                        out.push(t);
                    }
                    self.check_barrier(seen.len())?;
                }
            }
            Step::Dedup { local: true, .. } => {
                for t in trs {
                    let v = match &t.value {
                        // TinkerPop answers a set (LinkedHashSet)
                        Value::List(l) => Value::Set(l.iter().cloned().collect()),
                        Value::Set(s) => Value::Set(s.clone()),
                        other => other.clone(),
                    };
                    out.push(t.extend(v));
                }
            }
            Step::Range {
                local: false,
                lo,
                hi,
            } => {
                let (lo, hi) = (*lo, *hi);
                let mut seen: i64 = 0;
                for mut t in trs {
                    if hi >= 0 && seen >= hi {
                        break;
                    }
                    let start = seen;
                    let end = seen.saturating_add(t.bulk);
                    seen = end;
                    let a = start.max(lo);
                    let b = if hi >= 0 { end.min(hi) } else { end };
                    if b > a {
                        t.bulk = b - a;
                        out.push(t);
                    }
                }
            }
            Step::Range {
                local: true,
                lo,
                hi,
            } => {
                for t in trs {
                    let v = range_local(&t.value, *lo, *hi);
                    out.push(t.extend(v));
                }
            }
            Step::Tail { local: false, n } => {
                let total: i64 = trs.iter().map(|t| t.bulk).sum();
                let lo = total - *n;
                let mut seen = 0i64;
                for mut t in trs {
                    let start = seen;
                    seen += t.bulk;
                    if seen > lo {
                        t.bulk = seen - start.max(lo);
                        out.push(t);
                    }
                }
            }
            Step::Tail { local: true, n } => {
                for t in trs {
                    let len = match &t.value {
                        Value::Map(m) => Some(m.len() as i64),
                        v => as_list(v).map(|l| l.len() as i64),
                    };
                    let v = match len {
                        Some(len) => range_local(&t.value, (len - *n).max(0), len),
                        None => t.value.clone(),
                    };
                    out.push(t.extend(v));
                }
            }
            Step::Coin(p) => {
                for mut t in trs {
                    let mut keep = 0;
                    for _ in 0..bulk_n(&t).min(1_000_000) {
                        if self.rand_f64() <= *p {
                            keep += 1;
                        }
                    }
                    if keep > 0 {
                        t.bulk = keep;
                        out.push(t);
                    }
                }
            }
            Step::Sample {
                local: false,
                n,
                by,
            } => {
                // TinkerPop's SampleGlobalStep: weighted passes over the traversers until
                // `n` are drawn; a traverser whose by() weight is unproductive is dropped.
                let want = usize::try_from(*n).unwrap_or(0);
                let mut items: Vec<(Traverser, f64)> = Vec::new();
                let mut total_bulk: i64 = 0;
                for t in trs {
                    let w = match by {
                        Some(b) => match self.by_value(b, &t)? {
                            Some(v) => sem::to_f64(&v).unwrap_or(0.0),
                            None => continue,
                        },
                        None => 1.0,
                    };
                    total_bulk = total_bulk.saturating_add(t.bulk);
                    items.push((t, w));
                    self.check_barrier(items.len())?;
                }
                if usize::try_from(total_bulk).unwrap_or(usize::MAX) <= want {
                    out = items.into_iter().map(|(t, _)| t).collect();
                } else {
                    let total: f64 = items.iter().map(|(t, w)| t.bulk as f64 * w).sum();
                    let mut taken: Vec<i64> = vec![0; items.len()];
                    let mut drawn = 0usize;
                    let mut order: Vec<usize> = Vec::new();
                    // every pass draws one unless all weights are zero
                    let mut passes = 0usize;
                    while drawn < want && passes < want.saturating_mul(SAMPLE_PASSES_PER_DRAW_MAX) {
                        passes += 1;
                        let mut running = total;
                        let mut hit = false;
                        for (idx, (t, w)) in items.iter().enumerate() {
                            let have = taken[idx];
                            if have >= t.bulk {
                                continue;
                            }
                            for _ in 0..(t.bulk - have).min(SAMPLE_BULK_DRAWS_MAX) {
                                if self.rand_f64() <= w / running {
                                    if have == 0 {
                                        order.push(idx);
                                    }
                                    taken[idx] += 1;
                                    drawn += 1;
                                    hit = true;
                                    break;
                                }
                                running -= w;
                            }
                            if hit || drawn >= want {
                                break;
                            }
                        }
                    }
                    for idx in order {
                        if let Some((t, _)) = items.get(idx) {
                            let mut c = t.clone();
                            c.bulk = taken[idx];
                            out.push(c);
                        }
                    }
                }
            }
            Step::Sample { local: true, n, .. } => {
                for t in trs {
                    let Some(mut l) = as_list(&t.value) else {
                        // A single value samples to itself.
                        out.push(t);
                        continue;
                    };
                    while l.len() > usize::try_from(*n).unwrap_or(0) {
                        let i = (self.rand() % l.len() as u64) as usize;
                        l.remove(i);
                    }
                    out.push(t.extend(Value::List(l)));
                }
            }
            Step::SimplePath {
                simple,
                from,
                to,
                by,
            } => {
                for t in trs {
                    let (lo, hi) = path_segment(&t.path, from, to);
                    let seg = t.path.objects.get(lo..hi).unwrap_or(&[]);
                    let Some(seg) = self.project_path(seg, by, &t)? else {
                        continue;
                    };
                    let set: IndexSet<&Value> = seg.iter().collect();
                    let is_simple = set.len() == seg.len();
                    if is_simple == *simple {
                        out.push(t);
                    }
                }
            }
            Step::Values(keys) => {
                for t in trs {
                    if let Value::Map(m) = &t.value {
                        for k in keys {
                            if let Some(v) = m.get(&Value::String(k.clone())) {
                                out.push(t.extend(v.clone()));
                            }
                        }
                        continue;
                    }
                    for p in self.props(&t.value, keys)? {
                        out.push(t.extend(Self::prop_value(&p)));
                    }
                }
            }
            Step::Properties(keys) => {
                for t in trs {
                    for p in self.props(&t.value, keys)? {
                        let mut n = t.extend(p);
                        n.parent = Some(t.value.clone());
                        out.push(n);
                    }
                }
            }
            Step::ValueMap { keys, tokens, by } => {
                for t in trs {
                    let mut m = Map::new();
                    if tokens & 1 != 0 {
                        m.insert(enum_v(EnumKind::T, "id"), Self::id_of(&t.value)?);
                    }
                    if let Value::VertexProperty(p) = &t.value {
                        if tokens & 4 != 0 {
                            m.insert(enum_v(EnumKind::T, "key"), Value::String(p.key.clone()));
                        }
                        if tokens & 8 != 0 {
                            m.insert(enum_v(EnumKind::T, "value"), p.value.clone());
                        }
                    } else if tokens & 2 != 0 {
                        m.insert(enum_v(EnumKind::T, "label"), Self::label_of(&t.value)?);
                    }
                    let is_vertex = matches!(t.value, Value::Vertex(_));
                    for p in self.props(&t.value, keys)? {
                        let (k, v) = match &p {
                            Value::VertexProperty(vp) => (vp.key.clone(), vp.value.clone()),
                            Value::Property(pp) => (pp.key.clone(), pp.value.clone()),
                            _ => continue,
                        };
                        let k = Value::String(k);
                        if is_vertex {
                            if let Value::List(l) =
                                m.entry(k).or_insert_with(|| Value::List(Vec::new()))
                            {
                                l.push(v);
                            }
                        } else {
                            m.insert(k, v);
                        }
                    }
                    if let Some(b) = by.first() {
                        let keys: Vec<Value> = m.keys().cloned().collect();
                        for k in keys {
                            if matches!(k, Value::Enum(_)) {
                                continue;
                            }
                            if let Some(v) = m.get(&k).cloned() {
                                match self.by_on(b, &v, &t)? {
                                    Some(r) => {
                                        m.insert(k, r);
                                    }
                                    None => {
                                        m.shift_remove(&k);
                                    }
                                }
                            }
                        }
                    }
                    out.push(t.extend(Value::Map(m)));
                }
            }
            Step::ElementMap(keys) => {
                for t in trs {
                    let v = self.element_map(&t.value, keys)?;
                    out.push(t.extend(v));
                }
            }
            Step::Id => {
                for t in trs {
                    let v = Self::id_of(&t.value)?;
                    out.push(t.extend(v));
                }
            }
            Step::Label => {
                for t in trs {
                    let v = Self::label_of(&t.value)?;
                    out.push(t.extend(v));
                }
            }
            Step::Key => {
                for t in trs {
                    let v = match &t.value {
                        Value::VertexProperty(p) => Value::String(p.key.clone()),
                        Value::Property(p) => Value::String(p.key.clone()),
                        other => {
                            return Err(rt(format!(
                                "The key() step requires a Property, got {}",
                                other.type_name()
                            )))
                        }
                    };
                    out.push(t.extend(v));
                }
            }
            Step::Value => {
                for t in trs {
                    let v = match &t.value {
                        Value::VertexProperty(_) | Value::Property(_) => Self::prop_value(&t.value),
                        other => {
                            return Err(rt(format!(
                                "The value() step requires a Property, got {}",
                                other.type_name()
                            )))
                        }
                    };
                    out.push(t.extend(v));
                }
            }
            Step::Element => {
                for t in trs {
                    if let Some(p) = t.parent.clone() {
                        out.push(t.extend(p));
                    } else if matches!(t.value, Value::Vertex(_) | Value::Edge(_)) {
                        out.push(t);
                    }
                }
            }
            Step::Count(false) => {
                let n: i64 = trs.iter().map(|t| t.bulk).sum();
                out.push(self.reduced(Value::Long(n)));
            }
            Step::Count(true) => {
                for t in trs {
                    let n = match &t.value {
                        Value::Map(m) => m.len() as i64,
                        Value::Tree(tr) => tr.len() as i64,
                        v => as_list(v).map(|l| l.len() as i64).unwrap_or(1),
                    };
                    out.push(t.extend(Value::Long(n)));
                }
            }
            Step::Sum(false) | Step::Min(false) | Step::Max(false) | Step::Mean(false) => {
                let items: Vec<(Value, i64)> = trs.into_iter().map(|t| (t.value, t.bulk)).collect();
                if let Some(v) = reduce_numbers(step, &items)? {
                    out.push(self.reduced(v));
                }
            }
            Step::Sum(true) | Step::Min(true) | Step::Max(true) | Step::Mean(true) => {
                for t in trs {
                    let items: Vec<(Value, i64)> = match as_list(&t.value) {
                        Some(l) => l.into_iter().map(|v| (v, 1)).collect(),
                        None => vec![(t.value.clone(), 1)],
                    };
                    if let Some(v) = reduce_numbers(step, &items)? {
                        out.push(t.extend(v));
                    }
                }
            }
            Step::Fold(None) => {
                let mut l = Vec::new();
                for t in trs {
                    for _ in 0..bulk_n(&t) {
                        l.push(t.value.clone());
                    }
                    self.check_barrier(l.len())?;
                }
                out.push(self.reduced(Value::List(l)));
            }
            Step::Fold(Some((seed, op))) => {
                let mut acc = seed.clone();
                for t in trs {
                    for _ in 0..bulk_n(&t) {
                        acc = operator(op, &acc, &t.value)?;
                    }
                }
                out.push(self.reduced(acc));
            }
            Step::Unfold => {
                for t in trs {
                    match &t.value {
                        Value::Map(m) => {
                            for (k, v) in m {
                                let mut n = t.extend(entry(k.clone(), v.clone()));
                                n.entry = true;
                                out.push(n);
                            }
                        }
                        v => match as_list(v) {
                            Some(l) => {
                                for x in l {
                                    out.push(t.extend(x));
                                }
                            }
                            None => out.push(t),
                        },
                    }
                }
            }
            Step::Order { local: false, by } => {
                self.check_barrier(trs.len())?;
                let mut keyed = Vec::with_capacity(trs.len());
                for t in trs {
                    let mut ks = Vec::new();
                    let mut ok = true;
                    if by.is_empty() {
                        ks.push(t.value.clone());
                    }
                    for (b, _) in by {
                        match self.by_value(b, &t)? {
                            Some(v) => ks.push(v),
                            None => {
                                ok = false;
                                break;
                            }
                        }
                    }
                    if ok {
                        keyed.push((ks, t));
                    }
                }
                let dirs: Vec<Ord2> = if by.is_empty() {
                    vec![Ord2::Asc]
                } else {
                    by.iter().map(|b| b.1).collect()
                };
                if dirs.contains(&Ord2::Shuffle) {
                    for i in (1..keyed.len()).rev() {
                        let j = (self.rand() % (i as u64 + 1)) as usize;
                        keyed.swap(i, j);
                    }
                } else {
                    keyed.sort_by(|a, b| cmp_keys(&a.0, &b.0, &dirs));
                }
                out = keyed.into_iter().map(|k| k.1).collect();
            }
            Step::Order { local: true, by } => {
                for t in trs {
                    let v = self.order_local(&t, by)?;
                    out.push(t.extend(v));
                }
            }
            Step::Group { key: None, by } => {
                let v = self.group(by, &trs)?;
                out.push(self.reduced(v));
            }
            Step::GroupCount { key: None, by } => {
                let v = self.group_count(by.as_ref(), &trs)?;
                out.push(self.reduced(v));
            }
            Step::Tree { key: None, by } => {
                let v = self.tree(by, &trs)?;
                out.push(self.reduced(v));
            }
            Step::Group { key: Some(k), .. }
            | Step::GroupCount { key: Some(k), .. }
            | Step::Tree { key: Some(k), .. } => {
                let e = self
                    .m
                    .pending
                    .entry(k.clone())
                    .or_insert_with(|| (step.clone(), Vec::new()));
                e.1.extend(trs.iter().cloned());
                let n = e.1.len();
                self.check_barrier(n)?;
                return Ok(trs);
            }
            Step::Select {
                pop,
                keys,
                by,
                trav,
            } => {
                for t in trs {
                    if let Some(v) = self.select(&t, pop, keys, by, trav.as_ref())? {
                        out.push(t.extend(v));
                    }
                }
            }
            Step::SelectCol(c) => {
                for t in trs {
                    let v = match (&t.value, t.entry) {
                        (Value::Map(m), true) => {
                            if &**c == "keys" {
                                m.keys().next().cloned()
                            } else {
                                m.values().next().cloned()
                            }
                        }
                        (Value::Map(m), false) => Some(if &**c == "keys" {
                            Value::Set(m.keys().cloned().collect())
                        } else {
                            Value::List(m.values().cloned().collect())
                        }),
                        (Value::Path(p), _) => Some(if &**c == "keys" {
                            Value::List(
                                p.labels
                                    .iter()
                                    .map(|l| {
                                        Value::Set(
                                            l.iter().map(|s| Value::String(s.clone())).collect(),
                                        )
                                    })
                                    .collect(),
                            )
                        } else {
                            Value::List(p.objects.clone())
                        }),
                        (other, _) => {
                            return Err(rt(format!(
                                "The select({c}) step requires a Map, got {}",
                                other.type_name()
                            )))
                        }
                    };
                    if let Some(v) = v {
                        out.push(t.extend(v));
                    }
                }
            }
            Step::Path { by, from, to } => {
                for t in trs {
                    let mut p = t.path.clone();
                    if from.is_some() || to.is_some() {
                        // Path.subPath: a label the path does not carry is an error.
                        for (which, label) in [("from", from), ("to", to)] {
                            if let Some(l) = label {
                                if !p.labels.iter().any(|ls| ls.iter().any(|x| x == l)) {
                                    return Err(rt(format!("Unable to locate {which} label: {l}")));
                                }
                            }
                        }
                        let (lo, hi) = path_segment(&p, from, to);
                        p.objects = p.objects.get(lo..hi).unwrap_or(&[]).to_vec();
                        p.labels = p.labels.get(lo..hi).unwrap_or(&[]).to_vec();
                    }
                    // An unproductive by() filters the traverser.
                    let Some(objs) = self.project_path(&p.objects, by, &t)? else {
                        continue;
                    };
                    p.objects = objs;
                    out.push(t.extend(Value::Path(Arc::new(p))));
                }
            }
            Step::Repeat(r) => out = self.repeat(r, trs)?,
            Step::Union(ts) => {
                if trs.len() == 1 {
                    for c in ts {
                        out.extend(self.run_local(c, trs.clone())?);
                    }
                } else {
                    for t in &trs {
                        for c in ts {
                            out.extend(self.run_local(c, vec![t.clone()])?);
                        }
                    }
                }
            }
            Step::Choose {
                on,
                options,
                none,
                unproductive,
                branch: is_branch,
            } => {
                for t in trs {
                    let branch = match on {
                        ChooseOn::Test(c) => {
                            if self.test_cond(c, &t)? {
                                options.first().map(|o| o.1.clone())
                            } else {
                                none.clone()
                            }
                        }
                        ChooseOn::Pick(c) => {
                            let pick = self.sub_first(c, &t)?;
                            match pick {
                                None if unproductive.is_some() => unproductive.clone(),
                                None => Some(Arc::new(Compiled::default())),
                                Some(p) => {
                                    let mut found: Vec<Trav> = Vec::new();
                                    let mut any: Vec<Trav> = Vec::new();
                                    for (k, b) in options {
                                        let hit = match k {
                                            Value::P(pr) => self.test_p(pr, &p)?,
                                            Value::Bytecode(bc) => {
                                                let c = Compiler::new().compile(bc)?;
                                                self.sub_any(&c, &t)?
                                            }
                                            Value::Enum(e) if e.kind == EnumKind::Pick => {
                                                any.push(b.clone());
                                                false
                                            }
                                            k => sem::equals(k, &p),
                                        };
                                        if hit {
                                            found.push(b.clone());
                                            if !*is_branch {
                                                break;
                                            }
                                        }
                                    }
                                    if found.is_empty() {
                                        if let Some(n) = none.clone() {
                                            found.push(n);
                                        }
                                    }
                                    found.extend(any);
                                    if found.len() > 1 {
                                        for b in &found {
                                            out.extend(self.run_local(b, vec![t.clone()])?);
                                        }
                                        continue;
                                    }
                                    found.pop()
                                }
                            }
                        }
                    };
                    if let Some(b) = branch {
                        out.extend(self.run_local(&b, vec![t])?);
                    } else if matches!(on, ChooseOn::Pick(_))
                        && none.is_none()
                        && unproductive.is_none()
                    {
                        out.push(t);
                    }
                }
            }
            Step::Optional(c) => {
                for t in trs {
                    let r = self.run_local(c, vec![t.clone()])?;
                    if r.is_empty() {
                        out.push(t);
                    } else {
                        out.extend(r);
                    }
                }
            }
            Step::Coalesce(cs) => {
                for t in trs {
                    for c in cs {
                        let r = self.run_local(c, vec![t.clone()])?;
                        if !r.is_empty() {
                            out.extend(r);
                            break;
                        }
                    }
                }
            }
            Step::Local(c) => {
                for mut t in trs {
                    let b = t.bulk;
                    t.bulk = 1;
                    for mut r in self.run_local(c, vec![t])? {
                        r.bulk = r.bulk.saturating_mul(b);
                        out.push(r);
                    }
                }
            }
            Step::Project { keys, by } => {
                for t in trs {
                    let mut m = Map::new();
                    for (i, k) in keys.iter().enumerate() {
                        let b = if by.is_empty() {
                            &By::Identity
                        } else {
                            &by[i % by.len()]
                        };
                        if let Some(v) = self.by_value(b, &t)? {
                            m.insert(Value::String(k.clone()), v);
                        }
                    }
                    out.push(t.extend(Value::Map(m)));
                }
            }
            Step::Constant(v) => {
                for t in trs {
                    out.push(t.extend(v.clone()));
                }
            }
            Step::Map(c) => {
                for t in trs {
                    if let Some(v) = self.sub_first(c, &t)? {
                        out.push(t.extend(v));
                    }
                }
            }
            Step::FlatMap(c) => {
                for t in trs {
                    for r in self.sub(c, &t)? {
                        let mut n = t.extend(r.value);
                        n.bulk = t.bulk.saturating_mul(r.bulk);
                        out.push(n);
                    }
                }
            }
            Step::Aggregate { key, by, .. }
                if self.m.reducers.contains_key(key)
                    || matches!(self.m.side_effects.get(key), Some(Value::Set(_))) =>
            {
                let op = self.m.reducers.get(key).cloned();
                let mut acc = self.m.side_effects.get(key).cloned().unwrap_or(Value::Null);
                for t in &trs {
                    let v = match by {
                        Some(b) => match self.by_value(b, t)? {
                            Some(v) => v,
                            None => continue,
                        },
                        None => t.value.clone(),
                    };
                    for _ in 0..bulk_n(t) {
                        acc = match (&op, acc) {
                            (Some(op), a) => operator(op, &a, &v)?,
                            (None, Value::Set(mut s)) => {
                                s.insert(v.clone());
                                Value::Set(s)
                            }
                            (None, a) => a,
                        };
                    }
                }
                self.m.side_effects.insert(key.clone(), acc);
                return Ok(trs);
            }
            Step::Aggregate { key, by, .. } => {
                let mut items = match self.m.side_effects.get(key) {
                    Some(Value::List(l)) => l.clone(),
                    Some(Value::BulkSet(_)) | Some(Value::Set(_)) => {
                        as_list(self.m.side_effects.get(key).unwrap_or(&Value::Null))
                            .unwrap_or_default()
                    }
                    _ => Vec::new(),
                };
                for t in &trs {
                    let v = match by {
                        Some(b) => match self.by_value(b, t)? {
                            Some(v) => v,
                            None => continue,
                        },
                        None => t.value.clone(),
                    };
                    for _ in 0..bulk_n(t) {
                        items.push(v.clone());
                    }
                    self.check_barrier(items.len())?;
                }
                self.m.side_effects.insert(key.clone(), Value::List(items));
                return Ok(trs);
            }
            Step::Cap(keys) => {
                let v = if keys.len() == 1 {
                    self.side_effect(&keys[0])?.unwrap_or(Value::Null)
                } else {
                    let mut m = Map::new();
                    for k in keys {
                        m.insert(
                            Value::String(k.clone()),
                            self.side_effect(k)?.unwrap_or(Value::Null),
                        );
                    }
                    Value::Map(m)
                };
                out.push(self.reduced(v));
            }
            Step::SideEffect(c) => {
                for t in &trs {
                    self.sub(c, t)?;
                }
                return Ok(trs);
            }
            Step::Property {
                card,
                key,
                value,
                meta,
            } => {
                self.mutating()?;
                for t in trs {
                    self.property(*card, key, value, meta, &t)?;
                    out.push(t);
                }
            }
            Step::Drop => {
                self.mutating()?;
                for t in trs {
                    self.drop(&t)?;
                }
            }
            Step::MergeV {
                arg,
                on_create,
                on_match,
            } => {
                self.mutating()?;
                for t in trs {
                    out.extend(self.merge_v(
                        arg.as_ref(),
                        on_create.as_ref(),
                        on_match.as_ref(),
                        t,
                    )?);
                }
            }
            Step::MergeE { .. } => {
                self.mutating()?;
                for t in trs {
                    out.extend(self.merge_e(step, t)?);
                }
            }
            Step::SackGet => {
                for t in trs {
                    let v = t.sack.clone().unwrap_or(Value::Null);
                    out.push(t.extend(v));
                }
            }
            Step::SackSet { op, by } => {
                for mut t in trs {
                    let operand = match by {
                        Some(b) => match self.by_value(b, &t)? {
                            Some(v) => v,
                            None => continue,
                        },
                        None => t.value.clone(),
                    };
                    let cur = t.sack.clone().unwrap_or(Value::Null);
                    t.sack = Some(operator(op, &cur, &operand)?);
                    out.push(t);
                }
            }
            Step::Loops(name) => {
                for t in trs {
                    let n = match name {
                        Some(n) => t
                            .loops
                            .iter()
                            .rev()
                            .find(|l| l.0.as_ref() == Some(n))
                            .map(|l| l.1),
                        None => t.loops.last().map(|l| l.1),
                    }
                    .unwrap_or(0);
                    out.push(t.extend(Value::Int(i32::try_from(n).unwrap_or(i32::MAX))));
                }
            }
            Step::Index(as_map) => {
                for t in trs {
                    let l = as_list(&t.value).unwrap_or_else(|| vec![t.value.clone()]);
                    if *as_map {
                        let mut m = Map::new();
                        for (i, x) in l.into_iter().enumerate() {
                            m.insert(Value::Int(i32::try_from(i).unwrap_or(i32::MAX)), x);
                        }
                        out.push(t.extend(Value::Map(m)));
                        continue;
                    }
                    let v = Value::List(
                        l.into_iter()
                            .enumerate()
                            .map(|(i, x)| Value::List(vec![x, Value::Int(i as i32)]))
                            .collect(),
                    );
                    out.push(t.extend(v));
                }
            }
            Step::Fail(msg) => {
                if !trs.is_empty() {
                    return Err(rt(format!(
                        "fail() step triggered: {}",
                        msg.as_deref().unwrap_or("")
                    )));
                }
            }
            Step::Profile => {
                let metrics = self.profile_metrics();
                out.push(self.reduced(Value::Metrics(Arc::new(metrics))));
            }
            Step::Explain => {
                let steps: Vec<String> = self
                    .m
                    .compiled
                    .steps
                    .iter()
                    .filter(|s| !matches!(s.step, Step::Explain))
                    .map(|s| crate::machine::explain::step_text(&s.step))
                    .collect();
                // The store's start choice (index, counters or scan), one line each.
                let notes = self.g.explain_notes(&self.m.compiled.steps);
                // The attempts executor applies no traversal strategy of its own.
                let text = crate::machine::explain::explanation(
                    &format!("[{}]", steps.join(", ")),
                    &[],
                    &notes,
                );
                out.push(self.reduced(Value::String(Arc::from(text.as_str()))));
            }
            Step::Subgraph(key) => {
                let mut gd = match self.m.side_effects.get(key) {
                    Some(Value::Graph(g)) => (**g).clone(),
                    _ => GraphData::default(),
                };
                for t in &trs {
                    if let Value::Edge(e) = &t.value {
                        if !gd.edges.iter().any(|x| x.id == e.id) {
                            gd.edges.push((**e).clone());
                            for (id, _) in
                                [(&e.out_v_id, &e.out_v_label), (&e.in_v_id, &e.in_v_label)]
                            {
                                if !gd.vertices.iter().any(|v| &v.id == id) {
                                    if let Some(v) = self.fresh_vertex(id)? {
                                        gd.vertices.push((*v).clone());
                                    }
                                }
                            }
                        }
                    }
                }
                self.m
                    .side_effects
                    .insert(key.clone(), Value::Graph(Arc::new(gd)));
                return Ok(trs);
            }
            Step::Func { name, .. } if &**name == "discard" => {}
            Step::Func {
                name,
                args,
                local,
                by,
            } => {
                for t in trs {
                    if let Some(v) = super::funcs::apply(self, name, args, *local, by, &t)? {
                        out.push(t.extend(v));
                    }
                }
            }
            Step::ListPred { name, pred } => {
                for t in trs {
                    let Some(l) = as_list(&t.value) else { continue };
                    let mut n = 0;
                    for x in &l {
                        if self.test_p(pred, x)? {
                            n += 1;
                        }
                    }
                    let keep = match &**name {
                        "any" => n > 0,
                        "all" => n == l.len(),
                        _ => n == 0,
                    };
                    if keep {
                        out.push(t);
                    }
                }
            }
            Step::Math { expr, by } => {
                for t in trs {
                    if let Some(v) = super::funcs::math(self, expr, by, &t)? {
                        out.push(t.extend(v));
                    }
                }
            }
            Step::Match(pats) => {
                for t in trs {
                    out.extend(self.match_step(pats, t)?);
                }
            }
            Step::Call(spec) => out = self.call_step(spec, trs)?,
            Step::Io(spec) => out = self.io_step(spec, trs)?,
            Step::ShortestPath => {
                return Err(GremlinError::compile(
                    "shortestPath() requires a GraphComputer",
                ))
            }
        }
        Ok(out)
    }

    pub(crate) fn mutating(&self) -> Result<(), GremlinError> {
        if self.m.options.read_only {
            return Err(GremlinError::ReadOnly);
        }
        Ok(())
    }

    pub(crate) fn arg_value(&mut self, a: &Arg, t: &Traverser) -> Result<Value, GremlinError> {
        match a {
            Arg::Const(v) => Ok(v.clone()),
            Arg::Trav(c) => Ok(self.sub_first(c, t)?.unwrap_or(Value::Null)),
        }
    }

    fn endpoint(&mut self, a: &Arg, t: &Traverser) -> Result<Value, GremlinError> {
        match a {
            Arg::Const(v) => Ok(v.clone()),
            Arg::Trav(c) => self
                .sub_first(c, t)?
                .ok_or_else(|| rt("The provided traverser does not map to a value")),
        }
    }

    fn has(
        &mut self,
        on: &HasOn,
        cond: Option<&Cond>,
        t: &Traverser,
    ) -> Result<bool, GremlinError> {
        let v = &t.value;
        let vals: Vec<Value> = match on {
            HasOn::Prop(k) => {
                if !matches!(
                    v,
                    Value::Vertex(_) | Value::Edge(_) | Value::VertexProperty(_)
                ) {
                    return Ok(false);
                }
                self.props(v, std::slice::from_ref(k))?
                    .iter()
                    .map(Self::prop_value)
                    .collect()
            }
            HasOn::Label => match Self::label_of(v) {
                Ok(l) => vec![l],
                Err(_) => return Ok(false),
            },
            HasOn::Id => match Self::id_of(v) {
                Ok(l) => vec![l],
                Err(_) => return Ok(false),
            },
            HasOn::Key => match v {
                Value::VertexProperty(p) => vec![Value::String(p.key.clone())],
                Value::Property(p) => vec![Value::String(p.key.clone())],
                _ => return Ok(false),
            },
            HasOn::Value => match v {
                Value::VertexProperty(_) | Value::Property(_) => vec![Self::prop_value(v)],
                _ => return Ok(false),
            },
        };
        let Some(c) = cond else {
            return Ok(!vals.is_empty());
        };
        for x in vals {
            let ok = match c {
                Cond::P(p) => self.test_p(p, &x)?,
                Cond::Trav(tr) => self.sub_any(tr, &t.replace(x.clone()))?,
            };
            if ok {
                return Ok(true);
            }
        }
        // TinkerGraph's numeric id managers read a string id as the number it spells:
        // `hasId("1")` matches the vertex with id `1` (equality and `within` only).
        if let (HasOn::Id, Cond::P(p)) = (on, c) {
            if matches!(&*p.name, "eq" | "within") && self.g.string_ids_spell_numbers() {
                if let Some(n) = Self::id_of(v).ok().as_ref().and_then(integer_of) {
                    return self.test_p(p, &Value::String(n.to_string().into()));
                }
            }
        }
        Ok(false)
    }

    fn element_map(&mut self, v: &Value, keys: &[Arc<str>]) -> Result<Value, GremlinError> {
        let mut m = Map::new();
        m.insert(enum_v(EnumKind::T, "id"), Self::id_of(v)?);
        match v {
            Value::VertexProperty(p) => {
                m.insert(enum_v(EnumKind::T, "key"), Value::String(p.key.clone()));
                m.insert(enum_v(EnumKind::T, "value"), p.value.clone());
            }
            _ => {
                m.insert(enum_v(EnumKind::T, "label"), Self::label_of(v)?);
            }
        }
        if let Value::Edge(e) = v {
            let end = |id: &Value, l: &Arc<str>| {
                let mut x = Map::new();
                x.insert(enum_v(EnumKind::T, "id"), id.clone());
                x.insert(enum_v(EnumKind::T, "label"), Value::String(l.clone()));
                Value::Map(x)
            };
            m.insert(
                enum_v(EnumKind::Direction, "IN"),
                end(&e.in_v_id, &e.in_v_label),
            );
            m.insert(
                enum_v(EnumKind::Direction, "OUT"),
                end(&e.out_v_id, &e.out_v_label),
            );
        }
        for p in self.props(v, keys)? {
            let (k, val) = match &p {
                Value::VertexProperty(vp) => (vp.key.clone(), vp.value.clone()),
                Value::Property(pp) => (pp.key.clone(), pp.value.clone()),
                _ => continue,
            };
            m.entry(Value::String(k)).or_insert(val);
        }
        Ok(Value::Map(m))
    }

    fn order_local(&mut self, t: &Traverser, by: &[(By, Ord2)]) -> Result<Value, GremlinError> {
        let dirs: Vec<Ord2> = if by.is_empty() {
            vec![Ord2::Asc]
        } else {
            by.iter().map(|b| b.1).collect()
        };
        let keyed_sort =
            |this: &mut Self, items: Vec<(Value, Traverser)>| -> Result<Vec<Value>, GremlinError> {
                let mut keyed = Vec::new();
                for (item, tt) in items {
                    let mut ks = Vec::new();
                    if by.is_empty() {
                        ks.push(item.clone());
                    }
                    let mut productive = true;
                    for (b, _) in by {
                        if let Some(v) = this.by_value(b, &tt)? {
                            ks.push(v);
                        } else {
                            productive = false;
                        }
                    }
                    if productive {
                        keyed.push((ks, item));
                    }
                }
                if dirs.contains(&Ord2::Shuffle) {
                    for i in (1..keyed.len()).rev() {
                        let j = (this.rand() % (i as u64 + 1)) as usize;
                        keyed.swap(i, j);
                    }
                } else {
                    keyed.sort_by(|a, b| cmp_keys(&a.0, &b.0, &dirs));
                }
                Ok(keyed.into_iter().map(|k| k.1).collect())
            };
        Ok(match &t.value {
            Value::Map(m) => {
                let items: Vec<(Value, Traverser)> = m
                    .iter()
                    .map(|(k, v)| {
                        let e = entry(k.clone(), v.clone());
                        let mut tt = t.replace(e.clone());
                        tt.entry = true;
                        (e, tt)
                    })
                    .collect();
                let sorted = keyed_sort(self, items)?;
                let mut out = Map::new();
                for e in sorted {
                    if let Value::Map(x) = e {
                        out.extend(x);
                    }
                }
                Value::Map(out)
            }
            v => match as_list(v) {
                Some(l) => {
                    let items = l.into_iter().map(|x| (x.clone(), t.replace(x))).collect();
                    Value::List(keyed_sort(self, items)?)
                }
                None => v.clone(),
            },
        })
    }

    fn group(&mut self, by: &[By], trs: &[Traverser]) -> Result<Value, GremlinError> {
        let kb = by.first().cloned().unwrap_or(By::Identity);
        let vb = by.get(1).cloned();
        let mut groups: IndexMap<Value, Vec<Traverser>> = IndexMap::new();
        for t in trs {
            let Some(k) = self.by_value(&kb, t)? else {
                continue;
            };
            groups.entry(k).or_default().push(t.clone());
        }
        self.check_barrier(groups.len())?;
        let mut m = Map::new();
        for (k, members) in groups {
            let v = match &vb {
                None | Some(By::Identity) => Value::List(
                    members
                        .iter()
                        .flat_map(|t| std::iter::repeat_n(t.value.clone(), bulk_n(t) as usize))
                        .collect(),
                ),
                Some(By::Trav(c)) if ends_reducing(c) => {
                    match self.run_local(c, members)?.into_iter().next() {
                        Some(t) => t.value,
                        None => continue,
                    }
                }
                Some(By::Trav(c)) => match self.run_local(c, members)?.into_iter().next() {
                    Some(t) => t.value,
                    None => continue,
                },
                Some(b) => {
                    let mut l = Vec::new();
                    for t in &members {
                        if let Some(v) = self.by_value(b, t)? {
                            for _ in 0..bulk_n(t) {
                                l.push(v.clone());
                            }
                        }
                    }
                    Value::List(l)
                }
            };
            m.insert(k, v);
        }
        Ok(Value::Map(m))
    }

    fn group_count(&mut self, by: Option<&By>, trs: &[Traverser]) -> Result<Value, GremlinError> {
        let mut m: IndexMap<Value, i64> = IndexMap::new();
        for t in trs {
            let k = match by {
                Some(b) => match self.by_value(b, t)? {
                    Some(k) => k,
                    None => continue,
                },
                None => t.value.clone(),
            };
            *m.entry(k).or_insert(0) += t.bulk;
        }
        self.check_barrier(m.len())?;
        Ok(Value::Map(
            m.into_iter().map(|(k, v)| (k, Value::Long(v))).collect(),
        ))
    }

    fn tree(&mut self, by: &[By], trs: &[Traverser]) -> Result<Value, GremlinError> {
        fn insert(tree: &mut Vec<(Value, Value)>, path: &[Value]) {
            let Some((first, rest)) = path.split_first() else {
                return;
            };
            let idx = match tree.iter().position(|(k, _)| k == first) {
                Some(i) => i,
                None => {
                    tree.push((first.clone(), Value::Tree(Vec::new())));
                    tree.len() - 1
                }
            };
            if let Some((_, Value::Tree(sub))) = tree.get_mut(idx) {
                insert(sub, rest);
            }
        }
        let mut root = Vec::new();
        for t in trs {
            let mut objs = Vec::new();
            for (i, o) in t.path.objects.iter().enumerate() {
                let v = if by.is_empty() {
                    o.clone()
                } else {
                    self.by_on(&by[i % by.len()], o, t)?.unwrap_or(Value::Null)
                };
                objs.push(v);
            }
            insert(&mut root, &objs);
        }
        Ok(Value::Tree(root))
    }

    fn select(
        &mut self,
        t: &Traverser,
        pop: &str,
        keys: &[Arc<str>],
        by: &[By],
        trav: Option<&Trav>,
    ) -> Result<Option<Value>, GremlinError> {
        if let Some(c) = trav {
            let Some(k) = self.sub_first(c, t)? else {
                return Ok(None);
            };
            let Value::String(k) = k else {
                // A non-string key selects from a map by that key (null included).
                let Value::Map(m) = &t.value else {
                    return Ok(None);
                };
                let Some(v) = m.get(&k).cloned() else {
                    return Ok(None);
                };
                return match by.first() {
                    Some(b) => self.by_on(b, &v, t),
                    None => Ok(Some(v)),
                };
            };
            return self.select(t, pop, &[k], by, None);
        }
        if keys.len() == 1 {
            let Some(v) = self.scope_value(t, &keys[0], pop)? else {
                return Ok(None);
            };
            return match by.first() {
                Some(b) => self.by_on(b, &v, t),
                None => Ok(Some(v)),
            };
        }
        let mut m = Map::new();
        for (i, k) in keys.iter().enumerate() {
            let Some(v) = self.scope_value(t, k, pop)? else {
                return Ok(None);
            };
            let v = if by.is_empty() {
                v
            } else {
                match self.by_on(&by[i % by.len()], &v, t)? {
                    Some(v) => v,
                    None => return Ok(None),
                }
            };
            m.insert(Value::String(k.clone()), v);
        }
        Ok(Some(Value::Map(m)))
    }

    fn where_trav(&mut self, c: &Compiled, t: &Traverser) -> Result<bool, GremlinError> {
        let start = c
            .steps
            .first()
            .filter(|s| matches!(s.step, Step::Identity) && !s.labels.is_empty());
        let end_labels: Vec<Arc<str>> =
            c.steps.last().map(|s| s.labels.clone()).unwrap_or_default();
        let mut input = t.clone();
        input.bulk = 1;
        if let Some(s) = start {
            let Some(v) = self.scope_value(t, &s.labels[0], "last")? else {
                return Ok(false);
            };
            input = t.replace(v);
        }
        let has_end = c.steps.len() > 1 || start.is_none();
        let res = self.run_local(c, vec![input])?;
        if has_end && !end_labels.is_empty() && c.steps.len() > 1 {
            let want = end_labels[0].clone();
            let Some(target) = self.scope_value(t, &want, "last")? else {
                return Ok(false);
            };
            return Ok(res.iter().any(|r| r.value == target));
        }
        Ok(!res.is_empty())
    }

    fn where_p(
        &mut self,
        start: Option<&str>,
        pred: &Predicate,
        by: &[By],
        t: &Traverser,
    ) -> Result<bool, GremlinError> {
        let a = match start {
            Some(s) => match self.scope_value(t, s, "last")? {
                Some(v) => v,
                None => return Ok(false),
            },
            None => t.value.clone(),
        };
        let a = match by.first() {
            Some(b) => match self.by_on(b, &a, t)? {
                Some(v) => v,
                None => return Ok(false),
            },
            None => a,
        };
        let b_by = by.get(1).or(by.first()).cloned();
        let p = match self.resolve_pred(pred, t, b_by.as_ref())? {
            Some(p) => p,
            None => return Ok(false),
        };
        self.test_p(&p, &a)
    }

    fn resolve_pred(
        &mut self,
        p: &Predicate,
        t: &Traverser,
        by: Option<&By>,
    ) -> Result<Option<Predicate>, GremlinError> {
        let mut args = Vec::new();
        for a in &p.args {
            match a {
                Value::P(q) => match self.resolve_pred(q, t, by)? {
                    Some(q) => args.push(Value::P(Arc::new(q))),
                    None => return Ok(None),
                },
                Value::String(s) => {
                    let Some(v) = self.scope_value(t, s, "last")? else {
                        return Ok(None);
                    };
                    let v = match by {
                        Some(b) => match self.by_on(b, &v, t)? {
                            Some(v) => v,
                            None => return Ok(None),
                        },
                        None => v,
                    };
                    args.push(v);
                }
                Value::List(l) => {
                    let mut out = Vec::new();
                    for x in l {
                        if let Value::String(s) = x {
                            if let Some(v) = self.scope_value(t, s, "last")? {
                                out.push(v);
                            }
                        }
                    }
                    args.push(Value::List(out));
                }
                other => args.push(other.clone()),
            }
        }
        Ok(Some(Predicate {
            text: p.text,
            name: p.name.clone(),
            args,
        }))
    }

    fn repeat(&mut self, r: &Repeat, trs: Vec<Traverser>) -> Result<Vec<Traverser>, GremlinError> {
        let Some(body) = r.body.clone() else {
            return Ok(trs);
        };
        let mut out = Vec::new();
        let pop = |mut t: Traverser| {
            t.loops.pop();
            t
        };
        let mut cur = Vec::new();
        for mut t in trs {
            t.loops.push((r.name.clone(), 0));
            if r.until_first {
                if let Some(u) = &r.until {
                    if self.test_cond(u, &t)? {
                        out.push(pop(t));
                        continue;
                    }
                }
            }
            if r.emit_first {
                if let Some(e) = &r.emit {
                    let ok = match e {
                        None => true,
                        Some(c) => self.test_cond(c, &t)?,
                    };
                    if ok {
                        out.push(pop(t.clone()));
                    }
                }
            }
            cur.push(t);
        }
        let mut iter: u64 = 0;
        while !cur.is_empty() {
            if r.times.is_some_and(|n| iter >= n) {
                out.extend(cur.into_iter().map(pop));
                break;
            }
            iter += 1;
            if iter > self.m.limits.repeat_depth_max {
                return Err(GremlinError::LimitExceeded {
                    limit: "repeat_depth_max",
                    max: self.m.limits.repeat_depth_max,
                });
            }
            let mut res = self.run_local(&body, cur)?;
            if !self.m.track_path {
                res = merge_bulk(res);
            }
            let mut next = Vec::new();
            for mut t in res {
                if let Some(l) = t.loops.last_mut() {
                    l.1 += 1;
                }
                let loops = t.loops.last().map(|l| l.1).unwrap_or(0);
                if r.times.is_some_and(|n| loops >= n) {
                    out.push(pop(t));
                    continue;
                }
                if let Some(u) = &r.until {
                    if self.test_cond(u, &t)? {
                        out.push(pop(t));
                        continue;
                    }
                }
                if let Some(e) = &r.emit {
                    let ok = match e {
                        None => true,
                        Some(c) => self.test_cond(c, &t)?,
                    };
                    if ok {
                        out.push(pop(t.clone()));
                    }
                }
                next.push(t);
            }
            cur = next;
        }
        Ok(out)
    }

    fn property(
        &mut self,
        card: Option<Cardinality>,
        key: &Arg,
        value: &Arg,
        meta: &[(Value, Arg)],
        t: &Traverser,
    ) -> Result<(), GremlinError> {
        let k = self.arg_value(key, t)?;
        let mut v = self.arg_value(value, t)?;
        let mut card = card;
        if let Some((c, x)) = card_of(&v) {
            card = Some(c);
            v = x;
        }
        if let (Value::Null, Value::Map(m)) = (&k, &v) {
            for (mk, mv) in m {
                self.property(
                    card,
                    &Arg::Const(mk.clone()),
                    &Arg::Const(mv.clone()),
                    &[],
                    t,
                )?;
            }
            return Ok(());
        }
        if let (Some(keys), Value::String(s)) = (&self.m.options.reserved_keys, &k) {
            if keys.contains(s) {
                return Err(rt(format!(
                    "The provided traversal is setting a property key to a reserved word: {s}"
                )));
            }
        }
        let key = match &k {
            Value::String(s) => s.clone(),
            Value::Enum(e) if e.kind == EnumKind::T => {
                return Err(rt(format!(
                    "T.{} is immutable on existing elements",
                    e.name
                )))
            }
            other => {
                return Err(rt(format!(
                    "Property key must be a String, got {}",
                    other.type_name()
                )))
            }
        };
        let mut metas = Vec::new();
        for (mk, mv) in meta {
            let Value::String(mk) = mk else { continue };
            let mv = self.arg_value(mv, t)?;
            metas.push(Property {
                key: mk.clone(),
                value: mv,
            });
        }
        if let Some(p) = self.m.options.partition.clone() {
            if p.include_meta {
                if let Some(w) = &p.write {
                    metas.push(Property {
                        key: p.key.clone(),
                        value: w.clone(),
                    });
                }
            }
        }
        match &t.value {
            Value::Vertex(vx) => {
                let (v_list, card) = match (&v, card) {
                    (Value::List(l), Some(Cardinality::List)) if false => {
                        (l.clone(), Cardinality::List)
                    }
                    (_, c) => (vec![v.clone()], c.unwrap_or(Cardinality::Single)),
                };
                if matches!(v, Value::Null) {
                    if card == Cardinality::Single {
                        for p in self.props(&t.value, std::slice::from_ref(&key))? {
                            if let Value::VertexProperty(vp) = p {
                                self.g.drop_vertex_property(&vx.id, &vp.id)?;
                            }
                        }
                    }
                    return Ok(());
                }
                for x in v_list {
                    self.g
                        .set_vertex_property(&vx.id, card, &key, x, None, metas.clone())?;
                }
            }
            Value::Edge(e) => {
                if card.is_some() && card != Some(Cardinality::Single) {
                    return Err(rt("Edge properties do not support cardinality"));
                }
                if matches!(v, Value::Null) {
                    self.g.drop_edge_property(&e.id, &key)?;
                } else {
                    self.g.set_edge_property(&e.id, &key, v)?;
                }
            }
            Value::VertexProperty(vp) => {
                let Some(Value::Vertex(owner)) = &t.parent else {
                    return Err(rt("The vertex of this property is unknown"));
                };
                if matches!(v, Value::Null) {
                    self.g.drop_meta_property(&owner.id, &vp.id, &key)?;
                } else {
                    self.g.set_meta_property(&owner.id, &vp.id, &key, v)?;
                }
            }
            other => {
                return Err(rt(format!(
                    "The property() step requires an Element, got {}",
                    other.type_name()
                )))
            }
        }
        Ok(())
    }

    fn drop(&mut self, t: &Traverser) -> Result<(), GremlinError> {
        match (&t.value, &t.parent) {
            (Value::Vertex(v), _) => self.g.drop_vertex(&v.id),
            (Value::Edge(e), _) => self.g.drop_edge(&e.id),
            (Value::VertexProperty(p), Some(Value::Vertex(v))) => {
                self.g.drop_vertex_property(&v.id, &p.id)
            }
            (Value::Property(p), Some(Value::Edge(e))) => self.g.drop_edge_property(&e.id, &p.key),
            (Value::Property(p), Some(Value::VertexProperty(vp))) => {
                // meta-property: find the vertex owning vp through the path
                let owner = t.path.objects.iter().rev().find_map(|o| match o {
                    Value::Vertex(v) => Some(v.id.clone()),
                    _ => None,
                });
                match owner {
                    Some(id) => self.g.drop_meta_property(&id, &vp.id, &p.key),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    fn merge_map(
        &mut self,
        a: Option<&Arg>,
        t: &Traverser,
        what: &str,
    ) -> Result<Option<Map>, GremlinError> {
        let v = match a {
            None => return Ok(None),
            Some(a) => self.arg_value(a, t)?,
        };
        match v {
            Value::Map(m) => Ok(Some(m)),
            Value::Null => Ok(None),
            other => Err(rt(format!(
                "{what} must be a Map but was {}",
                other.type_name()
            ))),
        }
    }

    fn merge_v(
        &mut self,
        arg: Option<&Arg>,
        on_create: Option<&Arg>,
        on_match: Option<&Arg>,
        t: Traverser,
    ) -> Result<Vec<Traverser>, GremlinError> {
        let search = match arg {
            None => match &t.value {
                Value::Map(m) => m.clone(),
                _ => Map::new(),
            },
            Some(a) => self
                .merge_map(Some(a), &t, "mergeV() argument")?
                .unwrap_or_default(),
        };
        validate_merge_keys(&search, false)?;
        let matches = self.find_vertices(&search)?;
        let mut out = Vec::new();
        if matches.is_empty() {
            let mut create = self
                .merge_map(on_create, &t, "onCreate")?
                .unwrap_or_else(|| search.clone());
            if on_create.is_some() {
                validate_merge_keys(&create, false)?;
                check_override(&search, &create)?;
                for (k, v) in &search {
                    if !create.contains_key(k) {
                        create.insert(k.clone(), v.clone());
                    }
                }
            }
            let id = create.get(&enum_v(EnumKind::T, "id")).cloned();
            let label = match create.get(&enum_v(EnumKind::T, "label")) {
                Some(Value::String(s)) => s.clone(),
                _ => Arc::from("vertex"),
            };
            let v = self.g.add_vertex(id, &label)?;
            for (k, val) in &create {
                if let Value::String(k) = k {
                    let (card, val) = card_value(val);
                    self.g
                        .set_vertex_property(&v.id, card, k, val, None, Vec::new())?;
                }
            }
            if let Some(p) = self.m.options.partition.clone() {
                if let Some(w) = &p.write {
                    self.g.set_vertex_property(
                        &v.id,
                        Cardinality::Single,
                        &p.key,
                        w.clone(),
                        None,
                        Vec::new(),
                    )?;
                }
            }
            let v = self.fresh_vertex(&v.id)?.unwrap_or(v);
            out.push(self.gen(&t, Value::Vertex(v)));
        } else {
            for v in matches {
                if let Some(m) =
                    self.merge_map(on_match, &t.extend(Value::Vertex(v.clone())), "onMatch")?
                {
                    validate_merge_keys(&m, false)?;
                    for (k, val) in &m {
                        match k {
                            Value::String(k) => {
                                let (card, val) = card_value(val);
                                self.g.set_vertex_property(
                                    &v.id,
                                    card,
                                    k,
                                    val,
                                    None,
                                    Vec::new(),
                                )?;
                            }
                            _ => return Err(rt(
                                "option(onMatch) cannot set the id or label of an existing vertex",
                            )),
                        }
                    }
                }
                let v = self.fresh_vertex(&v.id)?.unwrap_or(v);
                out.push(self.gen(&t, Value::Vertex(v)));
            }
        }
        Ok(out)
    }

    fn find_vertices(&mut self, search: &Map) -> Result<Vec<Arc<Vertex>>, GremlinError> {
        let ids = match search.get(&enum_v(EnumKind::T, "id")) {
            Some(id) => vec![id.clone()],
            None => self.g.scan_vertex_ids()?,
        };
        let mut out = Vec::new();
        for v in self.g.vertices(&ids)?.into_iter().flatten() {
            let vv = Value::Vertex(v.clone());
            if !self.vertex_visible(&vv)? {
                continue;
            }
            let mut ok = true;
            for (k, val) in search {
                match k {
                    Value::Enum(e) if &*e.name == "label" => {
                        ok &= matches!(val, Value::String(s) if *s == v.label)
                    }
                    Value::Enum(_) => {}
                    Value::String(key) => {
                        ok &= v
                            .properties
                            .iter()
                            .flatten()
                            .any(|p| p.key == *key && sem::equals(&p.value, val))
                    }
                    _ => ok = false,
                }
            }
            if ok {
                out.push(v);
            }
        }
        Ok(out)
    }

    fn merge_e(&mut self, step: &Step, t: Traverser) -> Result<Vec<Traverser>, GremlinError> {
        let Step::MergeE {
            arg,
            on_create,
            on_match,
            out_v,
            in_v,
        } = step
        else {
            return Ok(Vec::new());
        };
        let mut search = match arg {
            None => match &t.value {
                Value::Map(m) => m.clone(),
                _ => Map::new(),
            },
            Some(a) => self
                .merge_map(Some(a), &t, "mergeE() argument")?
                .unwrap_or_default(),
        };
        validate_merge_keys(&search, true)?;
        let dir_out = enum_v(EnumKind::Direction, "OUT");
        let dir_in = enum_v(EnumKind::Direction, "IN");
        for (d, opt) in [(&dir_out, out_v), (&dir_in, in_v)] {
            if let Some(Value::Enum(e)) = search.get(d) {
                if &*e.name == "outV" || &*e.name == "inV" {
                    let Some(a) = opt else {
                        return Err(rt(format!(
                            "Merge.{} token was used but option(Merge.{}) was not given",
                            e.name, e.name
                        )));
                    };
                    let v = self.arg_value(a, &t)?;
                    let v = match v {
                        Value::Map(m) => {
                            let found = self.find_vertices(&m)?;
                            match found.first() {
                                Some(v) => Value::Vertex(v.clone()),
                                None => return Err(rt("Vertex does not exist")),
                            }
                        }
                        v => v,
                    };
                    search.insert(d.clone(), v);
                }
            }
        }
        let out_id = search.get(&dir_out).and_then(vertex_id);
        let in_id = search.get(&dir_in).and_then(vertex_id);
        // find matching edges
        let cand_ids = match search.get(&enum_v(EnumKind::T, "id")) {
            Some(id) => vec![id.clone()],
            None => self.g.scan_edge_ids()?,
        };
        let mut found = Vec::new();
        for e in self.g.edges(&cand_ids)?.into_iter().flatten() {
            let mut ok = true;
            for (k, val) in &search {
                match k {
                    Value::Enum(en) if &*en.name == "label" => {
                        ok &= matches!(val, Value::String(s) if *s == e.label)
                    }
                    Value::Enum(en) if &*en.name == "OUT" => {
                        ok &= out_id.as_ref().is_some_and(|i| sem::equals(i, &e.out_v_id))
                    }
                    Value::Enum(en) if &*en.name == "IN" => {
                        ok &= in_id.as_ref().is_some_and(|i| sem::equals(i, &e.in_v_id))
                    }
                    Value::Enum(_) => {}
                    Value::String(key) => {
                        ok &= e
                            .properties
                            .iter()
                            .flatten()
                            .any(|p| p.key == *key && sem::equals(&p.value, val))
                    }
                    _ => ok = false,
                }
            }
            if ok && self.edge_visible(&Value::Edge(e.clone()))? {
                found.push(e);
            }
        }
        let mut out = Vec::new();
        if found.is_empty() {
            let mut create = self
                .merge_map(on_create.as_ref(), &t, "onCreate")?
                .unwrap_or_else(|| search.clone());
            if on_create.is_some() {
                validate_merge_keys(&create, true)?;
                check_override(&search, &create)?;
                for (k, v) in &search {
                    create.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            let o = create.get(&dir_out).and_then(vertex_id).or(out_id.clone());
            let i = create.get(&dir_in).and_then(vertex_id).or(in_id.clone());
            let Some(o) = o else {
                return Err(rt("Out Vertex not specified"));
            };
            let Some(i) = i else {
                return Err(rt("In Vertex not specified"));
            };
            for (id, _) in [(&o, 0), (&i, 1)] {
                if self.fresh_vertex(id)?.is_none() {
                    return Err(rt(format!(
                        "Vertex id could not be resolved from mergeE: {}",
                        show(id)
                    )));
                }
            }
            let label = match create.get(&enum_v(EnumKind::T, "label")) {
                Some(Value::String(s)) => s.clone(),
                _ => Arc::from("edge"),
            };
            let id = create.get(&enum_v(EnumKind::T, "id")).cloned();
            let e = self.g.add_edge(id, &label, &o, &i)?;
            for (k, v) in &create {
                if let Value::String(k) = k {
                    self.g.set_edge_property(&e.id, k, v.clone())?;
                }
            }
            if let Some(p) = self.m.options.partition.clone() {
                if let Some(w) = &p.write {
                    self.g.set_edge_property(&e.id, &p.key, w.clone())?;
                }
            }
            let e = self
                .g
                .edges(std::slice::from_ref(&e.id))?
                .into_iter()
                .next()
                .flatten()
                .unwrap_or(e);
            out.push(self.gen(&t, Value::Edge(e)));
        } else {
            for e in found {
                let et = t.extend(Value::Edge(e.clone()));
                if let Some(m) = self.merge_map(on_match.as_ref(), &et, "onMatch")? {
                    for (k, v) in &m {
                        match k {
                            Value::String(k) => self.g.set_edge_property(&e.id, k, v.clone())?,
                            _ => return Err(rt("option(onMatch) cannot set the id, label or vertices of an existing edge")),
                        }
                    }
                }
                let e = self
                    .g
                    .edges(std::slice::from_ref(&e.id))?
                    .into_iter()
                    .next()
                    .flatten()
                    .unwrap_or(e);
                out.push(self.gen(&t, Value::Edge(e)));
            }
        }
        Ok(out)
    }

    fn match_step(&mut self, pats: &[Trav], t: Traverser) -> Result<Vec<Traverser>, GremlinError> {
        // Bindings live in the traverser's path labels. A pattern `as(x)...as(y)` runs from the
        // value bound to x and binds or checks y; a pattern without an end label filters.
        let start_of = |p: &Compiled| -> Option<Arc<str>> {
            p.steps
                .first()
                .filter(|s| matches!(s.step, Step::Identity))
                .and_then(|s| s.labels.first().cloned())
        };
        let end_of = |p: &Compiled| -> Option<Arc<str>> {
            if p.steps.len() > 1 || start_of(p).is_none() {
                p.steps.last().and_then(|s| s.labels.first().cloned())
            } else {
                None
            }
        };
        let mut all_labels: Vec<Arc<str>> = Vec::new();
        for p in pats {
            for l in [start_of(p), end_of(p)].into_iter().flatten() {
                if !all_labels.contains(&l) {
                    all_labels.push(l);
                }
            }
        }
        let mut t = t;
        if let Some(first) = pats.first().and_then(|p| start_of(p)) {
            if !bound(&t, &first) {
                t.add_labels(std::slice::from_ref(&first));
            }
        }
        let mut states = vec![(t, vec![false; pats.len()])];
        let mut done = Vec::new();
        let mut guard = 0u64;
        while let Some((tr, used)) = states.pop() {
            guard += 1;
            if guard > self.m.limits.traversers_max {
                return Err(GremlinError::LimitExceeded {
                    limit: "traversers_max",
                    max: self.m.limits.traversers_max,
                });
            }
            let ready = (0..pats.len())
                .find(|&i| !used[i] && start_of(&pats[i]).is_none_or(|l| bound(&tr, &l)));
            let Some(pi) = ready else {
                if used.iter().all(|u| *u) {
                    done.push(tr);
                }
                continue;
            };
            let p = pats[pi].clone();
            let start = start_of(&p);
            let end = end_of(&p);
            let mut input = tr.clone();
            input.bulk = 1;
            if let Some(l) = &start {
                if let Some(v) = path_get(&tr.path, l, "last") {
                    input = input.replace(v);
                }
            }
            let mut body = (*p).clone();
            if start.is_some() {
                if let Some(s0) = body.steps.first_mut() {
                    s0.labels.clear();
                }
            }
            if end.is_some() {
                if let Some(sl) = body.steps.last_mut() {
                    sl.labels.clear();
                }
            }
            let mut used2 = used.clone();
            used2[pi] = true;
            let res = self.run_local(&body, vec![input])?;
            let Some(el) = end else {
                if !res.is_empty() {
                    states.push((tr, used2));
                }
                continue;
            };
            for r in res {
                if let Some(existing) = path_get(&tr.path, &el, "last") {
                    if existing == r.value {
                        states.push((tr.clone(), used2.clone()));
                    }
                } else {
                    let mut n = tr.extend(r.value.clone());
                    n.add_labels(std::slice::from_ref(&el));
                    n.bulk = tr.bulk.saturating_mul(r.bulk);
                    states.push((n, used2.clone()));
                }
            }
        }
        let mut out = Vec::new();
        for tr in done.into_iter().rev() {
            let mut m = Map::new();
            for l in &all_labels {
                if let Some(v) = path_get(&tr.path, l, "last") {
                    m.insert(Value::String(l.clone()), v);
                }
            }
            let mut n = tr.clone();
            n.value = Value::Map(m);
            out.push(n);
        }
        Ok(out)
    }
}

/// Merges equal traversers (same value, loops, sack, step) into one with the summed bulk.
fn merge_bulk(trs: Vec<Traverser>) -> Vec<Traverser> {
    if trs.len() < 2 {
        return trs;
    }
    type Key = (
        Value,
        Vec<(Option<Arc<str>>, u64)>,
        Option<Value>,
        Option<Value>,
        bool,
        u32,
    );
    let mut m: IndexMap<Key, Traverser> = IndexMap::with_capacity(trs.len());
    for t in trs {
        let k = (
            t.value.clone(),
            t.loops.clone(),
            t.sack.clone(),
            t.parent.clone(),
            t.entry,
            t.step,
        );
        match m.get_mut(&k) {
            Some(x) => x.bulk = x.bulk.saturating_add(t.bulk),
            None => {
                m.insert(k, t);
            }
        }
    }
    m.into_values().collect()
}

/// Whether a compiled traversal (or a child) reads paths or step labels.
pub(crate) fn needs_path(c: &Compiled) -> bool {
    c.steps.iter().any(|s| {
        matches!(
            s.step,
            Step::Path { .. }
                | Step::Tree { .. }
                | Step::SimplePath { .. }
                | Step::Select { .. }
                | Step::WhereP { .. }
                | Step::WhereTrav(_)
                | Step::Match(_)
                | Step::OtherV
                | Step::Drop
                | Step::Math { .. }
                | Step::Func { .. }
                | Step::Dedup { labels: _, .. }
        ) && !matches!(&s.step, Step::Dedup { labels, .. } if labels.is_empty())
            || children(&s.step).iter().any(|t| needs_path(t))
    })
}

fn bound(t: &Traverser, l: &str) -> bool {
    t.path.labels.iter().any(|ls| ls.iter().any(|x| &**x == l))
}

fn check_override(search: &Map, create: &Map) -> Result<(), GremlinError> {
    for (k, v) in search {
        if let Some(c) = create.get(k) {
            if c != v {
                return Err(rt(format!(
                    "option(onCreate) cannot override values from merge() argument: ({}, {})",
                    show(k),
                    show(v)
                )));
            }
        }
    }
    Ok(())
}

fn validate_merge_keys(m: &Map, edge: bool) -> Result<(), GremlinError> {
    for (k, v) in m {
        if let (Value::Enum(e), Value::String(s)) = (k, v) {
            if &*e.name == "label" && s.starts_with('~') {
                return Err(rt(format!("Label can not be a hidden key: {s}")));
            }
        }
        if let (Value::Enum(e), Value::Null, false) = (k, v, edge) {
            if e.kind == EnumKind::T && &*e.name == "label" {
                return Err(rt("Label can not be null"));
            }
        }
        match k {
            Value::String(s) if s.starts_with('~') => {
                return Err(rt(format!("Property key can not be a hidden key: {s}")))
            }
            Value::String(_) => {}
            Value::Enum(e) if e.kind == EnumKind::T && matches!(&*e.name, "id" | "label") => {}
            Value::Enum(e) if edge && e.kind == EnumKind::Direction => {}
            other => {
                return Err(rt(format!(
                    "{} is not an allowed key in a {}",
                    show(other),
                    if edge { "mergeE() map" } else { "mergeV() map" }
                )))
            }
        }
    }
    Ok(())
}

fn card_value(v: &Value) -> (Cardinality, Value) {
    card_of(v).unwrap_or((Cardinality::Single, v.clone()))
}

/// A `Cardinality.list(x)`-style value (the parser's `CardinalityValueTraversal`).
pub(crate) fn card_of(v: &Value) -> Option<(Cardinality, Value)> {
    let Value::Bytecode(b) = v else { return None };
    let ins = b
        .source
        .first()
        .filter(|i| &*i.op == "CardinalityValueTraversal")?;
    let card = match ins.args.first() {
        Some(Value::Enum(e)) if &*e.name == "list" => Cardinality::List,
        Some(Value::Enum(e)) if &*e.name == "set" => Cardinality::Set,
        _ => Cardinality::Single,
    };
    Some((card, ins.args.get(1).cloned().unwrap_or(Value::Null)))
}

fn vertex_id(v: &Value) -> Option<Value> {
    match v {
        Value::Vertex(x) => Some(x.id.clone()),
        Value::Null | Value::Edge(_) | Value::Map(_) | Value::List(_) => None,
        other => Some(other.clone()),
    }
}

fn ends_reducing(c: &Compiled) -> bool {
    c.steps.last().is_some_and(|s| {
        matches!(
            s.step,
            Step::Count(false)
                | Step::Sum(false)
                | Step::Min(false)
                | Step::Max(false)
                | Step::Mean(false)
                | Step::Fold(_)
                | Step::Group { key: None, .. }
                | Step::GroupCount { key: None, .. }
                | Step::Tree { key: None, .. }
        )
    })
}

/// Gets a labelled object from a path by pop.
pub(crate) fn path_get(p: &Path, key: &str, pop: &str) -> Option<Value> {
    let hits: Vec<&Value> = p
        .labels
        .iter()
        .zip(&p.objects)
        .filter(|(ls, _)| ls.iter().any(|l| &**l == key))
        .map(|(_, o)| o)
        .collect();
    if hits.is_empty() {
        return None;
    }
    match pop {
        "first" => hits.first().map(|v| (*v).clone()),
        "all" => Some(Value::List(hits.into_iter().cloned().collect())),
        "mixed" if hits.len() > 1 => Some(Value::List(hits.into_iter().cloned().collect())),
        _ => hits.last().map(|v| (*v).clone()),
    }
}

fn cmp_keys(a: &[Value], b: &[Value], dirs: &[Ord2]) -> Ordering {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let o = sem::order(x, y);
        let o = if dirs.get(i) == Some(&Ord2::Desc) {
            o.reverse()
        } else {
            o
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn range_local(v: &Value, lo: i64, hi: i64) -> Value {
    let lo = usize::try_from(lo.max(0)).unwrap_or(0);
    match v {
        Value::Map(m) => {
            let hi = if hi < 0 {
                m.len()
            } else {
                usize::try_from(hi).unwrap_or(0).min(m.len())
            };
            Value::Map(
                m.iter()
                    .skip(lo)
                    .take(hi.saturating_sub(lo))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        }
        v => match as_list(v) {
            Some(l) => {
                let hi = if hi < 0 {
                    l.len()
                } else {
                    usize::try_from(hi).unwrap_or(0).min(l.len())
                };
                let items: Vec<Value> =
                    l.into_iter().skip(lo).take(hi.saturating_sub(lo)).collect();
                Value::List(items)
            }
            None => v.clone(),
        },
    }
}

fn reduce_numbers(step: &Step, items: &[(Value, i64)]) -> Result<Option<Value>, GremlinError> {
    let mut acc: Option<Value> = None;
    let mut n: i64 = 0;
    for (v, bulk) in items {
        if matches!(v, Value::Null) {
            continue;
        }
        match step {
            Step::Sum(_) | Step::Mean(_) => {
                if !sem::is_number(v) {
                    return Err(rt(format!(
                        "{} step can only take Number as its input. Found {} of type {}",
                        if matches!(step, Step::Sum(_)) {
                            "Sum"
                        } else {
                            "Mean"
                        },
                        show(v),
                        v.type_name()
                    )));
                }
                let x = if *bulk == 1 {
                    v.clone()
                } else {
                    sem::mul(v, &Value::Long(*bulk))?
                };
                acc = Some(match acc {
                    None => x,
                    Some(a) => sem::add(&a, &x)?,
                });
                n += bulk;
            }
            _ => {
                let better = match &acc {
                    None => true,
                    Some(a) => {
                        let o = sem::compare(v, a).unwrap_or_else(|| sem::order(v, a));
                        if matches!(step, Step::Min(_)) {
                            o.is_lt()
                        } else {
                            o.is_gt()
                        }
                    }
                };
                if better {
                    acc = Some(v.clone());
                }
            }
        }
    }
    if acc.is_none() && !items.is_empty() {
        // Only nulls: the result is null (an empty input has no result).
        return Ok(Some(Value::Null));
    }
    if let (Step::Mean(_), Some(a)) = (step, &acc) {
        let total = sem::to_f64(a).unwrap_or(f64::NAN);
        return Ok(Some(Value::Double(total / n as f64)));
    }
    Ok(acc)
}

/// Applies an `Operator` (sack, fold).
pub(crate) fn operator(op: &str, a: &Value, b: &Value) -> Result<Value, GremlinError> {
    Ok(match op {
        "sum" => sem::add(a, b)?,
        "minus" => sem::sub(a, b)?,
        "mult" => sem::mul(a, b)?,
        "div" => sem::div(a, b)?,
        "min" => {
            if sem::compare(b, a).is_some_and(Ordering::is_lt) {
                b.clone()
            } else {
                a.clone()
            }
        }
        "max" => {
            if sem::compare(b, a).is_some_and(Ordering::is_gt) {
                b.clone()
            } else {
                a.clone()
            }
        }
        "assign" => b.clone(),
        "and" => Value::Bool(matches!(a, Value::Bool(true)) && matches!(b, Value::Bool(true))),
        "or" => Value::Bool(matches!(a, Value::Bool(true)) || matches!(b, Value::Bool(true))),
        "addAll" => match (a, b) {
            (Value::List(x), y) => {
                let mut x = x.clone();
                x.extend(as_list(y).unwrap_or_else(|| vec![y.clone()]));
                Value::List(x)
            }
            (Value::Set(x), y) => {
                let mut x = x.clone();
                x.extend(as_list(y).unwrap_or_else(|| vec![y.clone()]));
                Value::Set(x)
            }
            (Value::Map(x), Value::Map(y)) => {
                let mut x = x.clone();
                x.extend(y.iter().map(|(k, v)| (k.clone(), v.clone())));
                Value::Map(x)
            }
            _ => return Err(rt("addAll requires collections")),
        },
        other => {
            return Err(GremlinError::compile(format!(
                "Operator.{other} is not supported"
            )))
        }
    })
}

/// A value as Java's `toString` would roughly print it (for messages).
pub(crate) fn show(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::String(s) => s.to_string(),
        Value::Int(x) => x.to_string(),
        Value::Long(x) => x.to_string(),
        Value::Short(x) => x.to_string(),
        Value::Byte(x) => x.to_string(),
        Value::Double(x) => format!("{x:?}"),
        Value::Float(x) => format!("{x:?}"),
        Value::Bool(b) => b.to_string(),
        Value::Vertex(x) => format!("v[{}]", show(&x.id)),
        Value::Edge(x) => format!(
            "e[{}][{}-{}->{}]",
            show(&x.id),
            show(&x.out_v_id),
            x.label,
            show(&x.in_v_id)
        ),
        Value::VertexProperty(p) => format!("vp[{}->{}]", p.key, show(&p.value)),
        Value::Property(p) => format!("p[{}->{}]", p.key, show(&p.value)),
        Value::List(l) => format!("[{}]", l.iter().map(show).collect::<Vec<_>>().join(", ")),
        Value::Map(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}={}", show(k), show(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Enum(e) => e.name.to_string(),
        Value::Uuid(u) => u.to_string(),
        other => format!("{other:?}"),
    }
}

/// An integer id's value (any width).
fn integer_of(v: &Value) -> Option<i64> {
    match v {
        Value::Byte(x) => Some(i64::from(*x)),
        Value::Short(x) => Some(i64::from(*x)),
        Value::Int(x) => Some(i64::from(*x)),
        Value::Long(x) => Some(*x),
        _ => None,
    }
}

/// The integer a string id spells (`"1"` -> `1`), as TinkerGraph's numeric id managers
/// read it.
fn numeric_id(v: &Value) -> Option<Value> {
    let Value::String(s) = v else { return None };
    let n: i64 = s.trim().parse().ok()?;
    Some(match i32::try_from(n) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::Long(n),
    })
}

/// `java.util.Random`'s multiplier.
pub(crate) const JAVA_RANDOM_MULTIPLIER: u64 = 0x5_DEEC_E66D;
/// `java.util.Random`'s state is 48 bits.
pub(crate) const JAVA_RANDOM_MASK: u64 = (1 << 48) - 1;

/// The `[lo, hi)` range of path positions from the first `from` label to the last `to`
/// label (the whole path when neither is given).
fn path_segment(p: &Path, from: &Option<Arc<str>>, to: &Option<Arc<str>>) -> (usize, usize) {
    let pos = |l: &Option<Arc<str>>, first: bool| {
        l.as_ref().and_then(|l| {
            let mut it = p
                .labels
                .iter()
                .enumerate()
                .filter(|(_, ls)| ls.iter().any(|x| x == l))
                .map(|(i, _)| i);
            if first {
                it.next()
            } else {
                it.next_back()
            }
        })
    };
    let lo = pos(from, true).unwrap_or(0);
    let hi = pos(to, false)
        .map(|i| i + 1)
        .unwrap_or(p.objects.len())
        .min(p.objects.len());
    (lo.min(hi), hi)
}

/// `sample()`: passes over the input allowed per value drawn before giving up (zero
/// weights never draw).
const SAMPLE_PASSES_PER_DRAW_MAX: usize = 1_000;
/// `sample()`: draws tried per traverser in one pass (bulks above this draw as this many).
const SAMPLE_BULK_DRAWS_MAX: i64 = 1_000_000;
