//! Compiles [`Bytecode`] into the machine's step list: modulators (`by`, `as`, `times`,
//! `until`, `emit`, `option`, `from`, `to`, `with`) fold into the step they modulate.

use std::sync::Arc;

use crate::bytecode::{Bytecode, Instruction};
use crate::error::GremlinError;
use crate::graph::{Cardinality, Direction};
use crate::value::{EnumKind, Predicate, Value};

/// Nesting depth of anonymous traversals accepted by the compiler.
pub const NESTING_DEPTH_MAX: usize = 64;

/// A compiled traversal: steps in order.
#[derive(Clone, Debug, Default)]
pub struct Compiled {
    pub steps: Vec<StepDef>,
}

/// A shared compiled child traversal.
pub type Trav = Arc<Compiled>;

/// One step with the labels `as()` gave it.
#[derive(Clone, Debug)]
pub struct StepDef {
    pub step: Step,
    pub labels: Vec<Arc<str>>,
}

/// Sort direction of an `order().by(...)` or `sample` modulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ord2 {
    Asc,
    Desc,
    Shuffle,
}

/// A `by()` modulator.
#[derive(Clone, Debug)]
pub enum By {
    Identity,
    Trav(Trav),
    /// A property key (or map key).
    Key(Arc<str>),
    /// `T.id`, `T.label`, `T.key`, `T.value`.
    Token(Arc<str>),
    /// `Column.keys` / `Column.values`.
    Column(Arc<str>),
}

/// A condition of a `has` family step.
#[derive(Clone, Debug)]
pub enum Cond {
    P(Arc<Predicate>),
    Trav(Trav),
}

/// What a `has` step looks at.
#[derive(Clone, Debug)]
pub enum HasOn {
    /// Property value by key; `None` cond means "key exists".
    Prop(Arc<str>),
    Label,
    Id,
    /// A property's key (`hasKey`).
    Key,
    /// A property's value (`hasValue`).
    Value,
}

/// Argument that is either a constant or a traversal evaluated per traverser.
#[derive(Clone, Debug)]
pub enum Arg {
    Const(Value),
    Trav(Trav),
}

/// A `choose` condition.
#[derive(Clone, Debug)]
pub enum ChooseOn {
    /// `choose(pred_trav, true_trav, false_trav)` or `choose(P, ...)`.
    Test(Cond),
    /// `choose(trav).option(pick, trav)...`
    Pick(Trav),
}

/// One repeat loop.
#[derive(Clone, Debug, Default)]
pub struct Repeat {
    pub name: Option<Arc<str>>,
    pub body: Option<Trav>,
    pub times: Option<u64>,
    pub until: Option<Cond>,
    pub until_first: bool,
    pub emit: Option<Option<Cond>>,
    pub emit_first: bool,
}

/// The steps of the machine.
#[derive(Clone, Debug)]
pub enum Step {
    Identity,
    V(Vec<Value>),
    E(Vec<Value>),
    Inject(Vec<Value>),
    AddV(Arg),
    /// `addV(label).property(T.id, id)`, folded.
    AddVId(Arg, Arg),
    AddE {
        label: Arg,
        from: Option<Arg>,
        to: Option<Arg>,
        /// `addE(label).property(T.id, id)`, folded (`None`: the graph generates one).
        id: Option<Arg>,
    },
    Adj {
        dir: Direction,
        labels: Vec<Arc<str>>,
        edges: bool,
    },
    EdgeV(Direction),
    OtherV,
    Has {
        on: HasOn,
        cond: Option<Cond>,
    },
    HasNot(Arc<str>),
    Is(Arc<Predicate>),
    Filter(Trav),
    Not(Trav),
    And(Vec<Trav>),
    Or(Vec<Trav>),
    WhereTrav(Trav),
    WhereP {
        start: Option<Arc<str>>,
        pred: Arc<Predicate>,
        by: Vec<By>,
    },
    Dedup {
        local: bool,
        labels: Vec<Arc<str>>,
        by: Option<By>,
    },
    Range {
        local: bool,
        lo: i64,
        hi: i64,
    },
    Tail {
        local: bool,
        n: i64,
    },
    Coin(f64),
    Sample {
        local: bool,
        n: i64,
        by: Option<By>,
    },
    SimplePath {
        simple: bool,
        from: Option<Arc<str>>,
        to: Option<Arc<str>>,
        /// Projections the path objects are compared by (round robin).
        by: Vec<By>,
    },
    Values(Vec<Arc<str>>),
    Properties(Vec<Arc<str>>),
    ValueMap {
        keys: Vec<Arc<str>>,
        /// `WithOptions` token bits: 1 ids, 2 labels, 4 keys, 8 values (0 none).
        tokens: u8,
        by: Vec<By>,
    },
    ElementMap(Vec<Arc<str>>),
    Id,
    Label,
    Key,
    Value,
    Element,
    Count(bool),
    Sum(bool),
    Min(bool),
    Max(bool),
    Mean(bool),
    Fold(Option<(Value, Arc<str>)>),
    Unfold,
    Order {
        local: bool,
        by: Vec<(By, Ord2)>,
    },
    Group {
        key: Option<Arc<str>>,
        by: Vec<By>,
    },
    GroupCount {
        key: Option<Arc<str>>,
        by: Option<By>,
    },
    Select {
        pop: Arc<str>,
        keys: Vec<Arc<str>>,
        by: Vec<By>,
        trav: Option<Trav>,
    },
    SelectCol(Arc<str>),
    Path {
        by: Vec<By>,
        /// The path segment between the first `from` label and the last `to` label.
        from: Option<Arc<str>>,
        to: Option<Arc<str>>,
    },
    Tree {
        key: Option<Arc<str>>,
        by: Vec<By>,
    },
    Repeat(Box<Repeat>),
    Union(Vec<Trav>),
    Choose {
        on: ChooseOn,
        options: Vec<(Value, Trav)>,
        none: Option<Trav>,
        unproductive: Option<Trav>,
        /// `branch()` runs every matching option; `choose()` only the first.
        branch: bool,
    },
    Optional(Trav),
    Coalesce(Vec<Trav>),
    Local(Trav),
    Project {
        keys: Vec<Arc<str>>,
        by: Vec<By>,
    },
    Constant(Value),
    Map(Trav),
    FlatMap(Trav),
    Aggregate {
        key: Arc<str>,
        local: bool,
        by: Option<By>,
    },
    Cap(Vec<Arc<str>>),
    SideEffect(Trav),
    Property {
        card: Option<Cardinality>,
        key: Arg,
        value: Arg,
        meta: Vec<(Value, Arg)>,
    },
    Drop,
    MergeV {
        arg: Option<Arg>,
        on_create: Option<Arg>,
        on_match: Option<Arg>,
    },
    MergeE {
        arg: Option<Arg>,
        on_create: Option<Arg>,
        on_match: Option<Arg>,
        out_v: Option<Arg>,
        in_v: Option<Arg>,
    },
    SackGet,
    SackSet {
        op: Arc<str>,
        by: Option<By>,
    },
    Math {
        expr: Arc<str>,
        by: Vec<By>,
    },
    Loops(Option<Arc<str>>),
    /// `index()`; `true` with `with(WithOptions.indexer, WithOptions.map)`.
    Index(bool),
    Barrier,
    Fail(Option<Arc<str>>),
    Profile,
    Explain,
    Subgraph(Arc<str>),
    /// String, list and date functions that map a value (name, constant args).
    Func {
        name: Arc<str>,
        args: Vec<Value>,
        local: bool,
        by: Vec<By>,
    },
    /// `any`/`all`/`none` list filters.
    ListPred {
        name: Arc<str>,
        pred: Arc<Predicate>,
    },
    Call(Box<super::services::CallSpec>),
    /// `io(file)` with its options and `read()`/`write()`.
    Io(Box<super::io::IoSpec>),
    /// `match(...)`: patterns as traversals.
    Match(Vec<Trav>),
    ShortestPath,
}

impl Step {
    /// The step's name as `profile()` lists it (its variant: `V`, `Adj`, `Count`, ...).
    pub fn name(&self) -> String {
        let d = format!("{self:?}");
        d.split(['(', ' ', '{'])
            .next()
            .unwrap_or("Step")
            .to_string()
    }

    /// Whether the step reads or writes the current element's record (so it must run on the
    /// element's owner).
    pub fn needs_owner(&self) -> bool {
        matches!(
            self,
            Step::Adj { .. }
                | Step::Has { .. }
                | Step::HasNot(_)
                | Step::Values(_)
                | Step::Properties(_)
                | Step::ValueMap { .. }
                | Step::ElementMap(_)
                | Step::Property { .. }
                | Step::Drop
        )
    }

    /// Whether the step gathers all traversers (or shared side effects) at the coordinator.
    pub fn is_coordinator(&self) -> bool {
        matches!(
            self,
            Step::Count(false)
                | Step::Sum(false)
                | Step::Min(false)
                | Step::Max(false)
                | Step::Mean(false)
                | Step::Fold(_)
                | Step::Order { local: false, .. }
                | Step::Group { .. }
                | Step::GroupCount { .. }
                | Step::Dedup { local: false, .. }
                | Step::Range { local: false, .. }
                | Step::Tail { local: false, .. }
                | Step::Sample { local: false, .. }
                | Step::Aggregate { .. }
                | Step::Cap(_)
                | Step::Tree { .. }
                | Step::Barrier
                | Step::Profile
                | Step::Explain
                | Step::Subgraph(_)
                | Step::Inject(_)
                | Step::Index(_)
        )
    }
}

/// Unwraps a parameter binding.
pub fn plain(v: &Value) -> Value {
    match v {
        Value::Binding(b) => b.1.clone(),
        other => other.clone(),
    }
}

fn bad(op: &str, why: &str) -> GremlinError {
    GremlinError::compile(format!("{op}(): {why}"))
}

fn string_arg(op: &str, v: &Value) -> Result<Arc<str>, GremlinError> {
    match plain(v) {
        Value::String(s) => Ok(s),
        other => Err(bad(
            op,
            &format!("expected a String, got {}", other.type_name()),
        )),
    }
}

fn strings(op: &str, args: &[Value]) -> Result<Vec<Arc<str>>, GremlinError> {
    let mut out = Vec::new();
    for a in args {
        match plain(a) {
            Value::List(l) => {
                for x in l {
                    out.push(string_arg(op, &x)?);
                }
            }
            Value::Null => {}
            other => out.push(string_arg(op, &other)?),
        }
    }
    Ok(out)
}

fn enum_name(v: &Value, kind: EnumKind) -> Option<Arc<str>> {
    match plain(v) {
        Value::Enum(e) if e.kind == kind => Some(e.name.clone()),
        _ => None,
    }
}

fn is_scope_local(args: &[Value]) -> bool {
    args.first()
        .and_then(|a| enum_name(a, EnumKind::Scope))
        .is_some_and(|n| &*n == "local")
}

fn eq_pred(v: Value) -> Arc<Predicate> {
    Arc::new(Predicate {
        text: false,
        name: Arc::from("eq"),
        args: vec![v],
    })
}

fn within(vals: Vec<Value>) -> Arc<Predicate> {
    Arc::new(Predicate {
        text: false,
        name: Arc::from("within"),
        args: vals,
    })
}

/// A predicate from a value (`P` as is; anything else means `eq`).
pub fn pred_of(v: &Value) -> Arc<Predicate> {
    match plain(v) {
        Value::P(p) => p,
        other => eq_pred(other),
    }
}

/// The compiler: tracks nesting depth.
pub struct Compiler {
    depth: usize,
}

impl Default for Compiler {
    fn default() -> Self {
        Compiler::new()
    }
}

impl Compiler {
    /// A compiler at nesting depth 0.
    pub fn new() -> Compiler {
        Compiler { depth: 0 }
    }

    fn trav(&mut self, v: &Value) -> Result<Trav, GremlinError> {
        match plain(v) {
            Value::Bytecode(b) => {
                self.depth += 1;
                if self.depth > NESTING_DEPTH_MAX {
                    return Err(GremlinError::LimitExceeded {
                        limit: "NESTING_DEPTH_MAX",
                        max: NESTING_DEPTH_MAX as u64,
                    });
                }
                let c = self.compile(&b);
                self.depth -= 1;
                Ok(Arc::new(c?))
            }
            Value::Lambda(_) => Err(GremlinError::Lambda),
            other => Err(GremlinError::compile(format!(
                "expected a traversal, got {}",
                other.type_name()
            ))),
        }
    }

    fn is_trav(v: &Value) -> bool {
        matches!(plain(v), Value::Bytecode(_))
    }

    fn arg(&mut self, v: &Value) -> Result<Arg, GremlinError> {
        if let Value::Bytecode(b) = plain(v) {
            if b.source
                .first()
                .is_some_and(|i| &*i.op == "CardinalityValueTraversal")
            {
                return Ok(Arg::Const(plain(v)));
            }
        }
        if Compiler::is_trav(v) {
            Ok(Arg::Trav(self.trav(v)?))
        } else {
            Ok(Arg::Const(plain(v)))
        }
    }

    fn cond(&mut self, v: &Value) -> Result<Cond, GremlinError> {
        if Compiler::is_trav(v) {
            Ok(Cond::Trav(self.trav(v)?))
        } else {
            Ok(Cond::P(pred_of(v)))
        }
    }

    fn by(&mut self, args: &[Value]) -> Result<(By, Ord2), GremlinError> {
        let mut by = By::Identity;
        let mut ord = Ord2::Asc;
        for a in args {
            match plain(a) {
                Value::Bytecode(_) => by = By::Trav(self.trav(a)?),
                Value::String(s) => by = By::Key(s),
                Value::Enum(e) => match e.kind {
                    EnumKind::T => by = By::Token(e.name.clone()),
                    EnumKind::Column => by = By::Column(e.name.clone()),
                    EnumKind::Order => {
                        ord = match &*e.name {
                            "desc" | "decr" => Ord2::Desc,
                            "shuffle" => Ord2::Shuffle,
                            _ => Ord2::Asc,
                        }
                    }
                    _ => return Err(bad("by", "unsupported modulator")),
                },
                Value::Lambda(_) => return Err(GremlinError::Lambda),
                other => {
                    return Err(bad(
                        "by",
                        &format!("unsupported argument {}", other.type_name()),
                    ))
                }
            }
        }
        Ok((by, ord))
    }

    /// Compiles one traversal (its source instructions are the caller's business).
    pub fn compile(&mut self, bc: &Bytecode) -> Result<Compiled, GremlinError> {
        let mut steps: Vec<StepDef> = Vec::new();
        let mut pending = Repeat::default();
        let mut has_pending = false;
        for ins in &bc.steps {
            if ins.args.iter().any(|a| matches!(a, Value::Lambda(_))) {
                return Err(GremlinError::Lambda);
            }
            let Instruction { op, args } = ins;
            let op: &str = op;
            let args: &[Value] = args;
            // `to(Direction, labels...)` / `toE(...)` are vertex steps, not modulators.
            let (op, args) = match (
                op,
                args.first().and_then(|a| enum_name(a, EnumKind::Direction)),
            ) {
                ("to" | "toE", Some(d))
                    if !matches!(steps.last().map(|s| &s.step), Some(Step::AddE { .. })) =>
                {
                    let edges = op == "toE";
                    let adj = match (&*d, edges) {
                        ("OUT", false) => "out",
                        ("IN", false) => "in",
                        ("BOTH", false) => "both",
                        ("OUT", true) => "outE",
                        ("IN", true) => "inE",
                        _ if edges => "bothE",
                        _ => "both",
                    };
                    (adj, args.get(1..).unwrap_or(&[]))
                }
                _ => (op, args),
            };
            match op {
                "as" => {
                    let labels = strings(op, args)?;
                    if steps.is_empty() {
                        steps.push(StepDef {
                            step: Step::Identity,
                            labels: Vec::new(),
                        });
                    }
                    if let Some(last) = steps.last_mut() {
                        last.labels.extend(labels);
                    }
                    continue;
                }
                "times" if !matches!(steps.last().map(|s| &s.step), Some(Step::Repeat(_))) => {
                    let n = match args.first().map(plain) {
                        Some(Value::Int(n)) => i64::from(n),
                        Some(Value::Long(n)) => n,
                        _ => return Err(bad("times", "expected an integer")),
                    };
                    has_pending = true;
                    pending.times = Some(n.max(0) as u64);
                    continue;
                }
                "from" | "to"
                    if matches!(steps.last().map(|s| &s.step), Some(Step::Property { .. })) =>
                {
                    let idx = steps
                        .iter()
                        .rposition(|s| !matches!(s.step, Step::Property { .. }));
                    if let Some(sd) = idx.and_then(|i| steps.get_mut(i)) {
                        let step = std::mem::replace(&mut sd.step, Step::Identity);
                        sd.step = self.modulate(step, op, args)?;
                        continue;
                    }
                    return Err(bad(op, "nothing to modulate"));
                }
                "by" | "times" | "option" | "from" | "to" | "with" | "read" | "write" => {
                    let Some(last) = steps.last_mut() else {
                        return Err(bad(op, "nothing to modulate"));
                    };
                    let step = std::mem::replace(&mut last.step, Step::Identity);
                    last.step = self.modulate(step, op, args)?;
                    continue;
                }
                "until" | "emit"
                    if !matches!(steps.last().map(|s| &s.step), Some(Step::Repeat(_))) =>
                {
                    // before repeat()
                    has_pending = true;
                    if op == "until" {
                        pending.until = Some(self.cond(args.first().unwrap_or(&Value::Null))?);
                        pending.until_first = true;
                    } else {
                        pending.emit = Some(match args.first() {
                            Some(a) => Some(self.cond(a)?),
                            None => None,
                        });
                        pending.emit_first = true;
                    }
                    continue;
                }
                "until" | "emit" => {
                    let c = match args.first() {
                        Some(a) => Some(self.cond(a)?),
                        None => None,
                    };
                    if let Some(StepDef {
                        step: Step::Repeat(r),
                        ..
                    }) = steps.last_mut()
                    {
                        if op == "until" {
                            r.until = c;
                        } else {
                            r.emit = Some(c);
                        }
                    }
                    continue;
                }
                _ => {}
            }
            let after_add =
                matches!(
                    steps.last(),
                    Some(StepDef {
                        step: Step::AddV(_) | Step::AddVId(..),
                        ..
                    })
                ) || (matches!(steps.last().map(|s| &s.step), Some(Step::Property { .. }))
                    && steps
                        .iter()
                        .rev()
                        .find(|s| !matches!(s.step, Step::Property { .. }))
                        .is_some_and(|s| matches!(s.step, Step::AddV(_) | Step::AddVId(..))));
            if op == "property" && after_add {
                if matches!(args.first().map(plain), Some(Value::Null)) && args.len() == 1 {
                    continue;
                }
                if matches!(
                    args.first()
                        .and_then(|a| enum_name(a, EnumKind::T))
                        .as_deref(),
                    Some("label")
                ) {
                    if let Some(idx) = steps
                        .iter()
                        .rposition(|s| matches!(s.step, Step::AddV(_) | Step::AddVId(..)))
                    {
                        let l = self.arg(args.get(1).unwrap_or(&Value::Null))?;
                        if let Some(sd) = steps.get_mut(idx) {
                            sd.step = match std::mem::replace(&mut sd.step, Step::Identity) {
                                Step::AddVId(_, id) => Step::AddVId(l, id),
                                _ => Step::AddV(l),
                            };
                        }
                        continue;
                    }
                }
            }
            // `addE(label).property(T.id, id)`: the edge's id, folded into the step.
            if op == "property"
                && args.len() == 2
                && matches!(
                    args.first()
                        .and_then(|a| enum_name(a, EnumKind::T))
                        .as_deref(),
                    Some("id")
                )
                && matches!(
                    steps.last().map(|s| &s.step),
                    Some(Step::AddE { id: None, .. })
                )
            {
                let new_id = self.arg(args.get(1).unwrap_or(&Value::Null))?;
                if let Some(StepDef {
                    step: Step::AddE { id, .. },
                    ..
                }) = steps.last_mut()
                {
                    *id = Some(new_id);
                }
                continue;
            }
            let step = if op == "property"
                && matches!(
                    args.first()
                        .and_then(|a| enum_name(a, EnumKind::T))
                        .as_deref(),
                    Some("id")
                )
                && matches!(steps.last().map(|s| &s.step), Some(Step::AddV(_)))
            {
                let id = self.arg(args.get(1).unwrap_or(&Value::Null))?;
                if let Some(last) = steps.last_mut() {
                    if let Step::AddV(l) = std::mem::replace(&mut last.step, Step::Identity) {
                        last.step = Step::AddVId(l, id);
                    }
                }
                continue;
            } else if op == "property" && after_add {
                match self.step(op, args)? {
                    Step::Property {
                        card: None,
                        key,
                        value,
                        meta,
                    } => Step::Property {
                        card: Some(Cardinality::List),
                        key,
                        value,
                        meta,
                    },
                    other => other,
                }
            } else if op == "repeat" {
                let mut r = std::mem::take(&mut pending);
                has_pending = false;
                let (name, body) = match args {
                    [n, b] => (Some(string_arg(op, n)?), b),
                    [b] => (None, b),
                    _ => return Err(bad(op, "expected a traversal")),
                };
                r.name = name;
                let b = self.trav(body)?;
                if matches!(b.steps.first().map(|s| &s.step), Some(Step::Inject(_))) {
                    return Err(GremlinError::compile(
                        "The parent of inject()-step can not be repeat()-step",
                    ));
                }
                r.body = Some(b);
                Step::Repeat(Box::new(r))
            } else if op == "has" {
                let mut parts = self.has_steps(args)?;
                let last = parts.pop().ok_or_else(|| bad(op, "no step"))?;
                steps.extend(parts.into_iter().map(|step| StepDef {
                    step,
                    labels: Vec::new(),
                }));
                last
            } else {
                self.step(op, args)?
            };
            steps.push(StepDef {
                step,
                labels: Vec::new(),
            });
        }
        if has_pending {
            return Err(GremlinError::compile(
                "The repeat()-traversal was not defined".to_string(),
            ));
        }
        if self.depth > 0 {
            steps = connectives(steps);
        }
        Ok(Compiled { steps })
    }

    fn modulate(&mut self, step: Step, op: &str, args: &[Value]) -> Result<Step, GremlinError> {
        Ok(match (step, op) {
            (Step::Repeat(mut r), "times") => {
                let n = match args.first().map(plain) {
                    Some(Value::Int(n)) => i64::from(n),
                    Some(Value::Long(n)) => n,
                    _ => return Err(bad("times", "expected an integer")),
                };
                // a trailing times(0) still runs the body once (do-while)
                r.times = Some(n.max(1) as u64);
                Step::Repeat(r)
            }
            (Step::Order { local, mut by }, "by") => {
                by.push(self.by(args)?);
                Step::Order { local, by }
            }
            (Step::Dedup { by: Some(_), .. }, "by") => {
                return Err(GremlinError::compile(
                    "Dedup step can only have one by modulator",
                ))
            }
            (Step::GroupCount { by: Some(_), .. }, "by") => {
                return Err(GremlinError::compile(
                    "GroupCount step can only have one by modulator",
                ))
            }
            (Step::ValueMap { by, .. }, "by") if !by.is_empty() => {
                return Err(GremlinError::compile(
                    "ValueMap step can only have one by modulator",
                ))
            }
            (Step::Dedup { local, labels, .. }, "by") => Step::Dedup {
                local,
                labels,
                by: Some(self.by(args)?.0),
            },
            (Step::Group { key, mut by }, "by") => {
                by.push(self.by(args)?.0);
                Step::Group { key, by }
            }
            (Step::GroupCount { key, .. }, "by") => Step::GroupCount {
                key,
                by: Some(self.by(args)?.0),
            },
            (
                Step::Select {
                    pop,
                    keys,
                    mut by,
                    trav,
                },
                "by",
            ) => {
                by.push(self.by(args)?.0);
                Step::Select {
                    pop,
                    keys,
                    by,
                    trav,
                }
            }
            (Step::Path { mut by, from, to }, "by") => {
                by.push(self.by(args)?.0);
                Step::Path { by, from, to }
            }
            (Step::Path { by, to, .. }, "from") => Step::Path {
                by,
                from: Some(string_arg("from", args.first().unwrap_or(&Value::Null))?),
                to,
            },
            (Step::Path { by, from, .. }, "to") => Step::Path {
                by,
                from,
                to: Some(string_arg("to", args.first().unwrap_or(&Value::Null))?),
            },
            (
                Step::SimplePath {
                    simple,
                    from,
                    to,
                    mut by,
                },
                "by",
            ) => {
                by.push(self.by(args)?.0);
                Step::SimplePath {
                    simple,
                    from,
                    to,
                    by,
                }
            }
            (Step::Tree { key, mut by }, "by") => {
                by.push(self.by(args)?.0);
                Step::Tree { key, by }
            }
            (Step::Project { keys, mut by }, "by") => {
                by.push(self.by(args)?.0);
                Step::Project { keys, by }
            }
            (
                Step::ValueMap {
                    keys,
                    tokens,
                    mut by,
                },
                "by",
            ) => {
                by.push(self.by(args)?.0);
                Step::ValueMap { keys, tokens, by }
            }
            (Step::ValueMap { keys, by, .. }, "with") => Step::ValueMap {
                keys,
                tokens: match args.get(1).map(plain) {
                    Some(Value::Int(bits)) => u8::try_from(bits & 15).unwrap_or(15),
                    _ => 15,
                },
                by,
            },
            (Step::Index(_), "with") => {
                Step::Index(matches!(args.get(1).map(plain), Some(Value::Int(1))))
            }
            (
                Step::WhereP {
                    start,
                    pred,
                    mut by,
                },
                "by",
            ) => {
                by.push(self.by(args)?.0);
                Step::WhereP { start, pred, by }
            }
            (Step::Aggregate { by: Some(_), .. }, "by") => {
                return Err(GremlinError::compile(
                    "Aggregate step can only have one by modulator",
                ))
            }
            (Step::SackSet { by: Some(_), .. }, "by") => {
                return Err(GremlinError::compile(
                    "Sack step can only have one by modulator",
                ))
            }
            (Step::Aggregate { key, local, .. }, "by") => Step::Aggregate {
                key,
                local,
                by: Some(self.by(args)?.0),
            },
            (Step::SackSet { op: o, .. }, "by") => Step::SackSet {
                op: o,
                by: Some(self.by(args)?.0),
            },
            (Step::Math { expr, mut by }, "by") => {
                by.push(self.by(args)?.0);
                Step::Math { expr, by }
            }
            (Step::AddE { label, to, id, .. }, "from") => Step::AddE {
                label,
                from: Some(self.endpoint(args)?),
                to,
                id,
            },
            (
                Step::AddE {
                    label, from, id, ..
                },
                "to",
            ) => Step::AddE {
                label,
                from,
                to: Some(self.endpoint(args)?),
                id,
            },
            (
                Step::Choose {
                    on,
                    mut options,
                    mut none,
                    mut unproductive,
                    branch,
                },
                "option",
            ) => {
                let (Some(pick), Some(t)) = (args.first(), args.get(1)) else {
                    return Err(bad("option", "expected a pick and a traversal"));
                };
                let t = self.trav(t)?;
                match plain(pick) {
                    // choose() keeps the first option of each Pick token.
                    Value::Enum(e) if e.kind == EnumKind::Pick && &*e.name == "none" => {
                        if branch || none.is_none() {
                            none = Some(t)
                        }
                    }
                    Value::Enum(e) if e.kind == EnumKind::Pick && &*e.name == "unproductive" => {
                        if branch || unproductive.is_none() {
                            unproductive = Some(t)
                        }
                    }
                    Value::Bytecode(_) if !branch => {
                        return Err(GremlinError::Runtime(
                            "Traversal is not allowed as a Pick token for choose().option()".into(),
                        ))
                    }
                    other => options.push((other, t)),
                }
                Step::Choose {
                    on,
                    options,
                    none,
                    unproductive,
                    branch,
                }
            }
            (
                Step::MergeV {
                    arg,
                    mut on_create,
                    mut on_match,
                },
                "option",
            ) => {
                let kind = args.first().and_then(|a| enum_name(a, EnumKind::Merge));
                let v = match args.get(1) {
                    Some(a) => Some(self.arg(a)?),
                    None => None,
                };
                match kind.as_deref() {
                    Some("onCreate") => on_create = v,
                    Some("onMatch") => on_match = v,
                    _ => return Err(bad("option", "expected Merge.onCreate or Merge.onMatch")),
                }
                Step::MergeV {
                    arg,
                    on_create,
                    on_match,
                }
            }
            (
                Step::MergeE {
                    arg,
                    mut on_create,
                    mut on_match,
                    mut out_v,
                    mut in_v,
                },
                "option",
            ) => {
                let kind = args.first().and_then(|a| enum_name(a, EnumKind::Merge));
                let v = match args.get(1) {
                    Some(a) => Some(self.arg(a)?),
                    None => None,
                };
                match kind.as_deref() {
                    Some("onCreate") => on_create = v,
                    Some("onMatch") => on_match = v,
                    Some("outV") => out_v = v,
                    Some("inV") => in_v = v,
                    _ => return Err(bad("option", "expected a Merge token")),
                }
                Step::MergeE {
                    arg,
                    on_create,
                    on_match,
                    out_v,
                    in_v,
                }
            }
            (
                Step::Func {
                    name,
                    args: a,
                    local,
                    mut by,
                },
                "by",
            ) => {
                by.push(self.by(args)?.0);
                Step::Func {
                    name,
                    args: a,
                    local,
                    by,
                }
            }
            (Step::Sample { local, n, by: None }, "by") => Step::Sample {
                local,
                n,
                by: Some(self.by(args)?.0),
            },
            (Step::Sample { .. }, "by") => {
                return Err(GremlinError::compile(
                    "Sample step can only have one by modulator",
                ))
            }
            (Step::SimplePath { simple, to, by, .. }, "from") => Step::SimplePath {
                simple,
                from: Some(string_arg("from", args.first().unwrap_or(&Value::Null))?),
                to,
                by,
            },
            (
                Step::SimplePath {
                    simple, from, by, ..
                },
                "to",
            ) => Step::SimplePath {
                simple,
                from,
                to: Some(string_arg("to", args.first().unwrap_or(&Value::Null))?),
                by,
            },
            (s, "times") => {
                let _ = s;
                return Err(GremlinError::compile(
                    "The repeat()-traversal was not defined",
                ));
            }
            (Step::Call(mut c), "with") => {
                let key = plain(args.first().unwrap_or(&Value::Null));
                let value = match args.get(1) {
                    Some(v) => self.arg(v)?,
                    None => Arg::Const(Value::Bool(true)),
                };
                c.options.push((key, value));
                Step::Call(c)
            }
            (Step::Io(mut io), "with") => {
                let key = plain(args.first().unwrap_or(&Value::Null));
                let value = match args.get(1) {
                    Some(v) => self.arg(v)?,
                    None => Arg::Const(Value::Bool(true)),
                };
                io.options.push((key, value));
                Step::Io(io)
            }
            (Step::Io(mut io), "read" | "write") if io.action.is_none() => {
                io.action = Some(if op == "read" {
                    super::io::IoAction::Read
                } else {
                    super::io::IoAction::Write
                });
                Step::Io(io)
            }
            (s, "with") => s,
            (s, op) => {
                return Err(GremlinError::compile(format!(
                    "{op}() cannot modulate {}",
                    step_name(&s)
                )))
            }
        })
    }

    /// `call()`, `call(name)`, `call(name, map)`, `call(name, traversal)`,
    /// `call(name, map, traversal)`.
    fn call(&mut self, args: &[Value]) -> Result<super::services::CallSpec, GremlinError> {
        let mut spec = super::services::CallSpec::default();
        let mut rest = args.iter();
        if let Some(n) = rest.next() {
            spec.service = Some(string_arg("call", n)?);
        }
        for a in rest {
            if Compiler::is_trav(a) {
                if spec.dynamic.is_some() {
                    return Err(bad("call", "only one parameter traversal is allowed"));
                }
                spec.dynamic = Some(self.trav(a)?);
                continue;
            }
            match plain(a) {
                Value::Map(m) if spec.dynamic.is_none() && spec.params.is_empty() => {
                    spec.params = m
                }
                Value::Null => {}
                other => {
                    return Err(bad(
                        "call",
                        &format!("expected a Map or a Traversal, got {}", other.type_name()),
                    ))
                }
            }
        }
        Ok(spec)
    }

    fn endpoint(&mut self, args: &[Value]) -> Result<Arg, GremlinError> {
        let a = args
            .first()
            .ok_or_else(|| bad("from/to", "missing argument"))?;
        match plain(a) {
            Value::String(s) => {
                // from('a') means select('a')
                let bc = Bytecode::default().step("select", vec![Value::String(s)]);
                Ok(Arg::Trav(Arc::new(self.compile(&bc)?)))
            }
            _ => self.arg(a),
        }
    }

    fn step(&mut self, op: &str, args: &[Value]) -> Result<Step, GremlinError> {
        let flat = |args: &[Value]| -> Vec<Value> {
            let mut out = Vec::new();
            for a in args {
                match plain(a) {
                    Value::List(l) => out.extend(l),
                    Value::Set(s) => out.extend(s),
                    other => out.push(other),
                }
            }
            out
        };
        let local = is_scope_local(args);
        let scoped = args
            .first()
            .and_then(|a| enum_name(a, EnumKind::Scope))
            .is_some();
        let rest = if scoped { &args[1..] } else { args };
        let int_arg = |v: Option<&Value>| -> Result<i64, GremlinError> {
            match v.map(plain) {
                Some(Value::Int(n)) => Ok(i64::from(n)),
                Some(Value::Long(n)) => Ok(n),
                Some(Value::Short(n)) => Ok(i64::from(n)),
                Some(Value::Byte(n)) => Ok(i64::from(n)),
                _ => Err(bad(op, "expected an integer")),
            }
        };
        Ok(match op {
            "identity" => Step::Identity,
            "V" => Step::V(flat(args)),
            "E" => Step::E(flat(args)),
            "inject" => Step::Inject(args.iter().map(plain).collect()),
            "addV" => Step::AddV(match args.first() {
                Some(a) => self.arg(a)?,
                None => Arg::Const(Value::str("vertex")),
            }),
            "addE" => Step::AddE {
                label: match args.first() {
                    Some(a) => self.arg(a)?,
                    None => return Err(bad(op, "missing label")),
                },
                from: None,
                to: None,
                id: None,
            },
            "out" | "in" | "both" | "outE" | "inE" | "bothE" => Step::Adj {
                dir: match op {
                    "out" | "outE" => Direction::Out,
                    "in" | "inE" => Direction::In,
                    _ => Direction::Both,
                },
                labels: strings(op, args)?,
                edges: op.ends_with('E'),
            },
            "outV" => Step::EdgeV(Direction::Out),
            "inV" => Step::EdgeV(Direction::In),
            "bothV" => Step::EdgeV(Direction::Both),
            "otherV" => Step::OtherV,
            "hasLabel" | "hasId" | "hasKey" | "hasValue" => {
                let on = match op {
                    "hasLabel" => HasOn::Label,
                    "hasId" => HasOn::Id,
                    "hasKey" => HasOn::Key,
                    _ => HasOn::Value,
                };
                let vals = flat(args);
                let pred = match vals.as_slice() {
                    [Value::P(p)] => p.clone(),
                    [v] => eq_pred(v.clone()),
                    _ => within(vals),
                };
                Step::Has {
                    on,
                    cond: Some(Cond::P(pred)),
                }
            }
            "hasNot" => Step::HasNot(string_arg(op, args.first().unwrap_or(&Value::Null))?),
            "is" => Step::Is(pred_of(args.first().unwrap_or(&Value::Null))),
            "filter" => Step::Filter(self.trav(args.first().unwrap_or(&Value::Null))?),
            "not" => Step::Not(self.trav(args.first().unwrap_or(&Value::Null))?),
            "and" | "or" | "union" | "coalesce" | "match" => {
                let mut ts = Vec::new();
                for a in args {
                    ts.push(self.trav(a)?);
                }
                match op {
                    "and" => Step::And(ts),
                    "or" => Step::Or(ts),
                    "union" => Step::Union(ts),
                    "match" => Step::Match(ts),
                    _ => Step::Coalesce(ts),
                }
            }
            "where" => match args {
                [t] if Compiler::is_trav(t) => Step::WhereTrav(self.trav(t)?),
                [p] => Step::WhereP {
                    start: None,
                    pred: pred_of(p),
                    by: Vec::new(),
                },
                [s, p] => Step::WhereP {
                    start: Some(string_arg(op, s)?),
                    pred: pred_of(p),
                    by: Vec::new(),
                },
                _ => return Err(bad(op, "unsupported arguments")),
            },
            "dedup" => Step::Dedup {
                local,
                labels: strings(op, rest)?,
                by: None,
            },
            "limit" => Step::Range {
                local,
                lo: 0,
                hi: int_arg(rest.first())?,
            },
            "skip" => Step::Range {
                local,
                lo: int_arg(rest.first())?,
                hi: -1,
            },
            "range" => {
                let (lo, hi) = (int_arg(rest.first())?, int_arg(rest.get(1))?);
                if hi >= 0 && lo > hi {
                    return Err(GremlinError::runtime(format!(
                        "Not a legal range: [{lo}, {hi}]"
                    )));
                }
                Step::Range { local, lo, hi }
            }
            "tail" => Step::Tail {
                local,
                n: if rest.is_empty() {
                    1
                } else {
                    int_arg(rest.first())?
                },
            },
            "coin" => Step::Coin(
                match args
                    .first()
                    .map(plain)
                    .as_ref()
                    .and_then(super::sem::to_f64)
                {
                    Some(x) => x,
                    None => return Err(bad(op, "expected a probability")),
                },
            ),
            "sample" => Step::Sample {
                local,
                n: int_arg(rest.first())?,
                by: None,
            },
            "simplePath" | "cyclicPath" => Step::SimplePath {
                simple: op == "simplePath",
                from: None,
                to: None,
                by: Vec::new(),
            },
            "values" => Step::Values(strings(op, args)?),
            "properties" => Step::Properties(strings(op, args)?),
            "valueMap" => {
                let tokens = if matches!(args.first().map(plain), Some(Value::Bool(true))) {
                    15
                } else {
                    0
                };
                let keys = args
                    .iter()
                    .filter(|a| !matches!(plain(a), Value::Bool(_)))
                    .cloned()
                    .collect::<Vec<_>>();
                Step::ValueMap {
                    keys: strings(op, &keys)?,
                    tokens,
                    by: Vec::new(),
                }
            }
            "elementMap" => Step::ElementMap(strings(op, args)?),
            "id" => Step::Id,
            "label" => Step::Label,
            "key" => Step::Key,
            "value" => Step::Value,
            "element" => Step::Element,
            "count" => Step::Count(local),
            "sum" => Step::Sum(local),
            "min" => Step::Min(local),
            "max" => Step::Max(local),
            "mean" => Step::Mean(local),
            "fold" => match args {
                [] => Step::Fold(None),
                [seed, o] => Step::Fold(Some((
                    plain(seed),
                    enum_name(o, EnumKind::Operator)
                        .ok_or_else(|| bad(op, "expected an Operator"))?,
                ))),
                _ => return Err(bad(op, "unsupported arguments")),
            },
            "unfold" => Step::Unfold,
            "order" => Step::Order {
                local,
                by: Vec::new(),
            },
            "group" => Step::Group {
                key: args.first().map(|a| string_arg(op, a)).transpose()?,
                by: Vec::new(),
            },
            "groupCount" => Step::GroupCount {
                key: args.first().map(|a| string_arg(op, a)).transpose()?,
                by: None,
            },
            "select" => {
                let mut pop: Arc<str> = Arc::from("last");
                let mut rest = args;
                if let Some(p) = args.first().and_then(|a| enum_name(a, EnumKind::Pop)) {
                    pop = p;
                    rest = &args[1..];
                }
                if let Some(c) = rest.first().and_then(|a| enum_name(a, EnumKind::Column)) {
                    Step::SelectCol(c)
                } else if rest.len() == 1 && Compiler::is_trav(&rest[0]) {
                    Step::Select {
                        pop,
                        keys: Vec::new(),
                        by: Vec::new(),
                        trav: Some(self.trav(&rest[0])?),
                    }
                } else {
                    Step::Select {
                        pop,
                        keys: strings(op, rest)?,
                        by: Vec::new(),
                        trav: None,
                    }
                }
            }
            "path" => Step::Path {
                by: Vec::new(),
                from: None,
                to: None,
            },
            "tree" => Step::Tree {
                key: args.first().map(|a| string_arg(op, a)).transpose()?,
                by: Vec::new(),
            },
            "choose" => {
                let on = match args.first().map(plain) {
                    Some(Value::Enum(e)) if e.kind == EnumKind::T && args.len() == 1 => {
                        let st = match &*e.name {
                            "id" => Step::Id,
                            "key" => Step::Key,
                            "value" => Step::Value,
                            _ => Step::Label,
                        };
                        ChooseOn::Pick(Arc::new(Compiled {
                            steps: vec![StepDef {
                                step: st,
                                labels: Vec::new(),
                            }],
                        }))
                    }
                    _ => match args.first() {
                        Some(a) if args.len() == 1 => ChooseOn::Pick(self.trav(a)?),
                        Some(a) => ChooseOn::Test(self.cond(a)?),
                        None => return Err(bad(op, "missing argument")),
                    },
                };
                let mut options = Vec::new();
                let mut none = None;
                if let Some(t) = args.get(1) {
                    options.push((Value::Bool(true), self.trav(t)?));
                }
                if let Some(f) = args.get(2) {
                    none = Some(self.trav(f)?);
                }
                if args.len() == 2 {
                    none = Some(Arc::new(Compiled::default()));
                }
                Step::Choose {
                    on,
                    options,
                    none,
                    unproductive: None,
                    branch: false,
                }
            }
            "branch" => Step::Choose {
                on: ChooseOn::Pick(self.trav(args.first().unwrap_or(&Value::Null))?),
                options: Vec::new(),
                none: None,
                unproductive: None,
                branch: true,
            },
            "optional" => Step::Optional(self.trav(args.first().unwrap_or(&Value::Null))?),
            "local" => Step::Local(self.trav(args.first().unwrap_or(&Value::Null))?),
            "project" => Step::Project {
                keys: strings(op, args)?,
                by: Vec::new(),
            },
            "constant" => Step::Constant(plain(args.first().unwrap_or(&Value::Null))),
            "map" => Step::Map(self.trav(args.first().unwrap_or(&Value::Null))?),
            "flatMap" => Step::FlatMap(self.trav(args.first().unwrap_or(&Value::Null))?),
            "aggregate" | "store" => Step::Aggregate {
                key: string_arg(op, rest.first().unwrap_or(&Value::Null))?,
                local: local || op == "store",
                by: None,
            },
            "cap" => Step::Cap(strings(op, args)?),
            "sideEffect" => Step::SideEffect(self.trav(args.first().unwrap_or(&Value::Null))?),
            "property"
                if matches!(
                    args.first()
                        .and_then(|a| enum_name(a, EnumKind::T))
                        .as_deref(),
                    Some("id")
                ) =>
            {
                let id = self.arg(args.get(1).unwrap_or(&Value::Null))?;
                return Ok(Step::AddVId(Arg::Const(Value::Null), id));
            }
            "property" => {
                let mut rest = args;
                let mut card = None;
                if let Some(c) = args
                    .first()
                    .and_then(|a| enum_name(a, EnumKind::Cardinality))
                {
                    card = Some(match &*c {
                        "list" => Cardinality::List,
                        "set" => Cardinality::Set,
                        _ => Cardinality::Single,
                    });
                    rest = &args[1..];
                }
                match rest {
                    // `property(card, null)`: a null map of properties adds nothing.
                    [Value::Null] if card.is_some() => Step::Identity,
                    [Value::Map(_)] | [Value::Binding(_)] if rest.len() == 1 => Step::Property {
                        card,
                        key: Arg::Const(Value::Null),
                        value: self.arg(&rest[0])?,
                        meta: Vec::new(),
                    },
                    [k, v, more @ ..] => {
                        let mut meta = Vec::new();
                        for pair in more.chunks(2) {
                            if let [mk, mv] = pair {
                                meta.push((plain(mk), self.arg(mv)?));
                            }
                        }
                        Step::Property {
                            card,
                            key: self.arg(k)?,
                            value: self.arg(v)?,
                            meta,
                        }
                    }
                    _ => return Err(bad(op, "expected a key and a value")),
                }
            }
            "drop" => Step::Drop,
            "mergeV" => Step::MergeV {
                arg: args.first().map(|a| self.arg(a)).transpose()?,
                on_create: None,
                on_match: None,
            },
            "mergeE" => Step::MergeE {
                arg: args.first().map(|a| self.arg(a)).transpose()?,
                on_create: None,
                on_match: None,
                out_v: None,
                in_v: None,
            },
            "sack" => match args.first() {
                None => Step::SackGet,
                Some(o) => Step::SackSet {
                    op: enum_name(o, EnumKind::Operator)
                        .ok_or_else(|| bad(op, "expected an Operator"))?,
                    by: None,
                },
            },
            "math" => Step::Math {
                expr: string_arg(op, args.first().unwrap_or(&Value::Null))?,
                by: Vec::new(),
            },
            "loops" => Step::Loops(args.first().map(|a| string_arg(op, a)).transpose()?),
            "index" => Step::Index(false),
            "barrier" => Step::Barrier,
            "fail" => Step::Fail(args.first().map(|a| string_arg(op, a)).transpose()?),
            "profile" => Step::Profile,
            "explain" => Step::Explain,
            "subgraph" => Step::Subgraph(string_arg(op, args.first().unwrap_or(&Value::Null))?),
            "any" | "all" | "none" => Step::ListPred {
                name: Arc::from(op),
                pred: pred_of(args.first().unwrap_or(&Value::Null)),
            },
            "call" => Step::Call(Box::new(self.call(args)?)),
            "io" => Step::Io(Box::new(super::io::IoSpec {
                file: string_arg(op, args.first().unwrap_or(&Value::Null))?,
                options: Vec::new(),
                action: None,
            })),
            "shortestPath" => Step::ShortestPath,
            "concat" | "asString" | "toUpper" | "toLower" | "length" | "trim" | "lTrim"
            | "rTrim" | "substring" | "split" | "replace" | "format" | "reverse" | "asNumber"
            | "asBool" | "asDate" | "dateAdd" | "dateDiff" | "combine" | "difference"
            | "disjunct" | "intersect" | "merge" | "product" | "conjoin" | "discard" => {
                let mut vals = Vec::new();
                for a in rest {
                    if Compiler::is_trav(a) {
                        vals.push(Value::Bytecode(match plain(a) {
                            Value::Bytecode(b) => b,
                            _ => continue,
                        }));
                    } else {
                        vals.push(plain(a));
                    }
                }
                Step::Func {
                    name: Arc::from(op),
                    args: vals,
                    local,
                    by: Vec::new(),
                }
            }
            other => {
                return Err(GremlinError::compile(format!(
                    "step {other}() is not supported"
                )))
            }
        })
    }

    /// The steps of `has(...)`: one, or two for `has(label, key, value)`, which is
    /// `hasLabel(label).has(key, value)` (two plain filters, so that index starts and has()
    /// pushdown see both).
    fn has_steps(&mut self, args: &[Value]) -> Result<Vec<Step>, GremlinError> {
        if args
            .first()
            .map(plain)
            .is_some_and(|k| matches!(k, Value::Null))
        {
            // a null key matches nothing
            return Ok(vec![Step::Func {
                name: Arc::from("discard"),
                args: Vec::new(),
                local: false,
                by: Vec::new(),
            }]);
        }
        let key_on = |v: &Value| -> Result<HasOn, GremlinError> {
            match plain(v) {
                Value::String(s) => Ok(HasOn::Prop(s)),
                Value::Enum(e) if e.kind == EnumKind::T => Ok(match &*e.name {
                    "id" => HasOn::Id,
                    "label" => HasOn::Label,
                    "key" => HasOn::Key,
                    _ => HasOn::Value,
                }),
                other => Err(bad("has", &format!("bad key {}", other.type_name()))),
            }
        };
        Ok(match args {
            [k] => vec![Step::Has {
                on: key_on(k)?,
                cond: None,
            }],
            [k, v] => vec![Step::Has {
                on: key_on(k)?,
                cond: Some(self.cond(v)?),
            }],
            [label, k, v] => vec![
                Step::Has {
                    on: HasOn::Label,
                    cond: Some(Cond::P(pred_of(label))),
                },
                Step::Has {
                    on: key_on(k)?,
                    cond: Some(self.cond(v)?),
                },
            ],
            _ => return Err(bad("has", "unsupported arguments")),
        })
    }
}

/// Rewrites infix `a.and().b.or().c` (argument-less `and()`/`or()`) of an anonymous traversal
/// into `or(and(a, b), c)`; `and` binds tighter than `or`.
fn connectives(steps: Vec<StepDef>) -> Vec<StepDef> {
    let is_marker = |s: &StepDef, or: bool| match &s.step {
        Step::Or(v) => or && v.is_empty(),
        Step::And(v) => !or && v.is_empty(),
        _ => false,
    };
    if !steps
        .iter()
        .any(|s| is_marker(s, true) || is_marker(s, false))
    {
        return steps;
    }
    let wrap = |steps: Vec<StepDef>| Arc::new(Compiled { steps });
    let mut ors: Vec<Vec<StepDef>> = vec![Vec::new()];
    for s in steps {
        if is_marker(&s, true) {
            ors.push(Vec::new());
        } else if let Some(last) = ors.last_mut() {
            last.push(s);
        }
    }
    let mut or_parts = Vec::new();
    for group in ors {
        let mut ands: Vec<Vec<StepDef>> = vec![Vec::new()];
        for s in group {
            if is_marker(&s, false) {
                ands.push(Vec::new());
            } else if let Some(last) = ands.last_mut() {
                last.push(s);
            }
        }
        if ands.len() == 1 {
            or_parts.push(wrap(ands.pop().unwrap_or_default()));
        } else {
            or_parts.push(wrap(vec![StepDef {
                step: Step::And(ands.into_iter().map(wrap).collect()),
                labels: Vec::new(),
            }]));
        }
    }
    if or_parts.len() == 1 {
        let only = or_parts.pop().map(|c| c.steps.clone()).unwrap_or_default();
        // `a.and().b` alone: keep it as a filter step
        return vec![StepDef {
            step: Step::And(vec![wrap(only)]),
            labels: Vec::new(),
        }];
    }
    vec![StepDef {
        step: Step::Or(or_parts),
        labels: Vec::new(),
    }]
}

/// A short name of a step for messages.
pub fn step_name(s: &Step) -> &'static str {
    match s {
        Step::Repeat(_) => "repeat",
        Step::Order { .. } => "order",
        Step::Group { .. } => "group",
        Step::Select { .. } => "select",
        Step::Adj { .. } => "vertex step",
        Step::Has { .. } => "has",
        _ => "this step",
    }
}
