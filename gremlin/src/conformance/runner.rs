//! Runs one parsed scenario against a [`Backend`]: loads the graph, runs the initializer,
//! binds parameters and side effects, runs the traversal and checks every assertion.
//! Element references in parameters and expectations are resolved with lookup traversals
//! through the same backend, never by reading a graph directly.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

use super::compare::{self, SubgraphPart};
use super::gherkin::{Keyword, Scenario, Step};
use super::notation::{self, EdgeKey, Notation, Resolver};
use crate::value::Value;

/// The graphs the suite names (`Given the <name> graph`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GraphName {
    Modern,
    Classic,
    Crew,
    Grateful,
    Sink,
    /// Starts empty; the only graph a scenario may mutate; cleared before every scenario.
    Empty,
}

impl GraphName {
    /// All graphs.
    pub const ALL: [GraphName; 6] = [
        GraphName::Modern,
        GraphName::Classic,
        GraphName::Crew,
        GraphName::Grateful,
        GraphName::Sink,
        GraphName::Empty,
    ];

    /// The Gherkin name (`modern`, ...).
    pub fn name(self) -> &'static str {
        match self {
            GraphName::Modern => "modern",
            GraphName::Classic => "classic",
            GraphName::Crew => "crew",
            GraphName::Grateful => "grateful",
            GraphName::Sink => "sink",
            GraphName::Empty => "empty",
        }
    }

    /// The data file under `tinkerpop/data/` (none for `empty`).
    pub fn data_file(self) -> Option<&'static str> {
        match self {
            GraphName::Modern => Some("tinkerpop-modern.json"),
            GraphName::Classic => Some("tinkerpop-classic.json"),
            GraphName::Crew => Some("tinkerpop-crew.json"),
            GraphName::Grateful => Some("grateful-dead.json"),
            GraphName::Sink => Some("tinkerpop-sink.json"),
            GraphName::Empty => None,
        }
    }

    /// Parses a Gherkin graph name.
    pub fn parse(name: &str) -> Option<GraphName> {
        GraphName::ALL.into_iter().find(|g| g.name() == name)
    }
}

/// One traversal to run.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// gremlin-lang text, e.g. `g.V(vid1).values("name")`.
    pub gremlin: &'a str,
    /// Variables bound in the text (`vid1`, `xx1`, ...).
    pub params: &'a [(String, Value)],
    /// `withSideEffect(key, value)` to add to the source, in order.
    pub side_effects: &'a [(String, Value)],
    /// When the scenario's time is up; a backend should stop and return an error after it.
    /// (The test harness also enforces a hard timeout of its own.)
    pub deadline: Option<Instant>,
}

/// What the conformance runner drives: the in-memory reference graph here, the sharded
/// engine later. Synchronous on purpose; an async engine implements it by blocking on its
/// own future from the runner's thread.
pub trait Backend {
    /// Makes `graph` the current graph, in its pristine state (for `Empty`: no elements).
    fn load(&mut self, graph: GraphName) -> Result<(), String>;
    /// Runs a traversal to completion on the current graph and returns every result
    /// (bulk expanded). Errors carry the message TinkerPop would raise.
    fn execute(&mut self, request: &Request<'_>) -> Result<Vec<Value>, String>;
}

/// Runner limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Soft per-scenario budget handed to the backend as a deadline.
    pub scenario_ms_max: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            scenario_ms_max: 10_000,
        }
    }
}

/// A failed scenario, for the failure report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The traversal under test (empty if the scenario did not get that far).
    pub traversal: String,
    /// What was expected (the assertion and its table, as written).
    pub expected: String,
    /// What happened (results rendered in notation, or the error).
    pub got: String,
}

/// The outcome of one scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed(Failure),
    /// `@GraphComputerOnly`, or a `Given an unsupported test` placeholder.
    Unsupported(String),
}

/// How the traversal is iterated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Iterate {
    List,
    Next,
}

/// One assertion of a scenario.
#[derive(Clone, Debug)]
enum Check {
    Unordered(Vec<String>),
    Ordered(Vec<String>),
    Of(Vec<String>),
    Empty,
    Count(usize),
    GraphCount { count: i64, gremlin: String },
    Error(Option<String>),
    Tree(String),
    Subgraph(SubgraphPart, Vec<String>),
}

/// A scenario's steps, interpreted.
#[derive(Clone, Debug, Default)]
struct Plan {
    graph: Option<GraphName>,
    initializer: Option<String>,
    params: Vec<(String, String)>,
    side_effects: Vec<(String, String)>,
    traversal: Option<String>,
    iterate: Option<Iterate>,
    checks: Vec<(Check, String)>,
    unsupported: bool,
}

/// Strips one level of `"..."` and unescapes `\"` and `\\`.
fn quoted(text: &str) -> Option<String> {
    let inner = text.trim().strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// `using the parameter NAME defined as "VALUE"` → (NAME, VALUE).
fn name_defined_as(rest: &str) -> Option<(String, String)> {
    let (name, value) = rest.split_once(" defined as ")?;
    Some((name.trim().to_string(), quoted(value)?))
}

/// The rows of a one-column result table (header dropped).
fn column(step: &Step) -> Vec<String> {
    step.table
        .iter()
        .skip(1)
        .map(|row| row.first().cloned().unwrap_or_default())
        .collect()
}

fn describe(step: &Step) -> String {
    let mut s = step.text.clone();
    if let Some(doc) = &step.doc_string {
        let _ = write!(s, "\n  \"\"\"\n  {}\n  \"\"\"", doc.replace('\n', "\n  "));
    }
    for row in &step.table {
        let _ = write!(s, "\n  | {} |", row.join(" | "));
    }
    s
}

fn interpret(scenario: &Scenario) -> Result<Plan, String> {
    let mut plan = Plan::default();
    let mut phase = Keyword::Given;
    for step in &scenario.steps {
        if !matches!(step.keyword, Keyword::And | Keyword::But) {
            phase = step.keyword;
        }
        let t = step.text.as_str();
        let bad = || format!("line {}: unknown step {:?}", step.line, t);
        let doc = || {
            step.doc_string
                .clone()
                .ok_or_else(|| format!("line {}: step needs a doc string", step.line))
        };
        match phase {
            Keyword::Given | Keyword::And | Keyword::But => {
                if t == "an unsupported test" {
                    plan.unsupported = true;
                } else if let Some(name) = t
                    .strip_prefix("the ")
                    .and_then(|r| r.strip_suffix(" graph"))
                {
                    plan.graph = Some(GraphName::parse(name).ok_or_else(bad)?);
                } else if t == "the graph initializer of" {
                    plan.initializer = Some(doc()?);
                } else if t == "the traversal of" {
                    plan.traversal = Some(doc()?);
                } else if let Some(rest) = t.strip_prefix("using the parameter ") {
                    plan.params.push(name_defined_as(rest).ok_or_else(bad)?);
                } else if let Some(rest) = t.strip_prefix("using the side effect ") {
                    plan.side_effects
                        .push(name_defined_as(rest).ok_or_else(bad)?);
                } else {
                    return Err(bad());
                }
            }
            Keyword::When => match t {
                "iterated to list" => plan.iterate = Some(Iterate::List),
                "iterated next" => plan.iterate = Some(Iterate::Next),
                _ => return Err(bad()),
            },
            Keyword::Then => {
                let check = if t == "the result should be unordered" {
                    Check::Unordered(column(step))
                } else if t == "the result should be ordered" {
                    Check::Ordered(column(step))
                } else if t == "the result should be of" {
                    Check::Of(column(step))
                } else if t == "the result should be empty" {
                    Check::Empty
                } else if let Some(n) = t
                    .strip_prefix("the result should have a count of ")
                    .and_then(|n| n.trim().parse().ok())
                {
                    Check::Count(n)
                } else if let Some(rest) = t.strip_prefix("the graph should return ") {
                    let (n, g) = rest.split_once(" for count of ").ok_or_else(bad)?;
                    Check::GraphCount {
                        count: n.trim().parse().map_err(|_| bad())?,
                        gremlin: quoted(g).ok_or_else(bad)?,
                    }
                } else if t == "the traversal will raise an error" {
                    Check::Error(None)
                } else if let Some(text) = t.strip_prefix(
                    "the traversal will raise an error with message containing text of ",
                ) {
                    Check::Error(Some(quoted(text).ok_or_else(bad)?))
                } else if t == "the result should be a tree with a structure of" {
                    Check::Tree(doc()?)
                } else if t == "the result should be a subgraph with the following" {
                    let part = match step
                        .table
                        .first()
                        .and_then(|h| h.first())
                        .map(String::as_str)
                    {
                        Some("edges") => SubgraphPart::Edges,
                        Some("vertices") => SubgraphPart::Vertices,
                        _ => return Err(bad()),
                    };
                    Check::Subgraph(part, column(step))
                } else if t == "nothing should happen because" {
                    continue;
                } else {
                    return Err(bad());
                };
                plan.checks.push((check, describe(step)));
            }
        }
    }
    Ok(plan)
}

/// Why a scenario counts as unsupported, if it does.
pub fn unsupported_reason(scenario: &Scenario) -> Option<String> {
    if scenario.has_tag("@GraphComputerOnly") {
        return Some("@GraphComputerOnly (needs OLAP)".to_string());
    }
    if scenario
        .steps
        .iter()
        .any(|s| s.keyword == Keyword::Given && s.text == "an unsupported test")
    {
        let reason = scenario
            .steps
            .iter()
            .find(|s| s.text == "nothing should happen because")
            .and_then(|s| s.doc_string.clone())
            .unwrap_or_default();
        return Some(format!("unsupported test: {}", reason.trim()));
    }
    None
}

/// Interprets a scenario's steps and parses every notation string in it (parameters, side
/// effects, table rows, tree nodes) without running anything: a self-check of the runner
/// against the suite.
pub fn check_notation(scenario: &Scenario) -> Result<(), String> {
    if unsupported_reason(scenario).is_some() {
        return Ok(());
    }
    let plan = interpret(scenario)?;
    let parse = |text: &str| {
        notation::parse(text)
            .map(|_| ())
            .map_err(|e| format!("{}: {text:?}: {e}", scenario.name))
    };
    for (_, text) in plan.params.iter().chain(&plan.side_effects) {
        parse(text)?;
    }
    for (check, _) in &plan.checks {
        match check {
            Check::Unordered(rows) | Check::Ordered(rows) | Check::Of(rows) => {
                rows.iter().try_for_each(|r| parse(r))?;
            }
            Check::Subgraph(_, rows) => rows.iter().try_for_each(|r| parse(r))?,
            Check::Tree(doc) => {
                let mut node = |s: &str| {
                    notation::parse(s)
                        .map(|_| Value::Null)
                        .map_err(|e| format!("{}: {s:?}: {e}", scenario.name))
                };
                compare::parse_tree(doc, &mut node)?;
            }
            Check::Empty | Check::Count(_) | Check::GraphCount { .. } | Check::Error(_) => {}
        }
    }
    if plan.graph.is_none() {
        return Err(format!("{}: no graph named", scenario.name));
    }
    if plan.traversal.is_none() || plan.iterate.is_none() || plan.checks.is_empty() {
        return Err(format!(
            "{}: no traversal, iteration or assertion",
            scenario.name
        ));
    }
    Ok(())
}

/// Resolves element references with lookup traversals on the backend (cached per phase).
struct BackendResolver<'a> {
    backend: &'a mut dyn Backend,
    deadline: Option<Instant>,
    vertices: HashMap<String, Value>,
}

/// A gremlin-lang string literal.
fn literal(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

impl BackendResolver<'_> {
    fn run(&mut self, gremlin: &str) -> Result<Vec<Value>, String> {
        self.backend
            .execute(&Request {
                gremlin,
                params: &[],
                side_effects: &[],
                deadline: self.deadline,
            })
            .map_err(|e| format!("lookup `{gremlin}` failed: {e}"))
    }
}

impl Resolver for BackendResolver<'_> {
    fn vertex(&mut self, name: &str) -> Result<Value, String> {
        if let Some(v) = self.vertices.get(name) {
            return Ok(v.clone());
        }
        let q = format!("g.V().has(\"name\",{})", literal(name));
        let found = self
            .run(&q)?
            .into_iter()
            .find(|v| matches!(v, Value::Vertex(_)))
            .ok_or_else(|| format!("no vertex named {name:?} (lookup `{q}`)"))?;
        self.vertices.insert(name.to_string(), found.clone());
        Ok(found)
    }

    fn edge(&mut self, key: &EdgeKey) -> Result<Value, String> {
        let head = match self.vertex(&key.in_name)? {
            Value::Vertex(v) => v.id.clone(),
            _ => return Err("lookup returned a non-vertex".into()),
        };
        let q = format!(
            "g.V().has(\"name\",{}).outE({})",
            literal(&key.out_name),
            literal(&key.label)
        );
        self.run(&q)?
            .into_iter()
            .find(|e| matches!(e, Value::Edge(e) if e.in_v_id == head))
            .ok_or_else(|| format!("no edge {key} (lookup `{q}`)"))
    }

    fn vertex_property(&mut self, vertex: &str, key: &str, value: &Value) -> Result<Value, String> {
        let q = format!(
            "g.V().has(\"name\",{}).properties({})",
            literal(vertex),
            literal(key)
        );
        self.run(&q)?
            .into_iter()
            .find(|p| matches!(p, Value::VertexProperty(p) if compare::matches(value, &p.value)))
            .ok_or_else(|| format!("no vertex property {vertex}-{key}->{value:?} (lookup `{q}`)"))
    }
}

fn resolve_all(rows: &[String], resolver: &mut BackendResolver<'_>) -> Result<Vec<Value>, String> {
    rows.iter()
        .map(|r| {
            let n = notation::parse(r).map_err(|e| format!("bad expectation {r:?}: {e}"))?;
            notation::resolve(&n, resolver)
        })
        .collect()
}

fn resolve_named(
    pairs: &[(String, String)],
    resolver: &mut BackendResolver<'_>,
) -> Result<Vec<(String, Value)>, String> {
    pairs
        .iter()
        .map(|(name, text)| {
            let n: Notation =
                notation::parse(text).map_err(|e| format!("bad value for {name}: {e}"))?;
            Ok((name.clone(), notation::resolve(&n, resolver)?))
        })
        .collect()
}

/// Renders values in the suite's notation, for failure reports.
pub fn render(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Byte(x) => format!("d[{x}].b"),
        Value::Short(x) => format!("d[{x}].s"),
        Value::Int(x) => format!("d[{x}].i"),
        Value::Long(x) => format!("d[{x}].l"),
        Value::BigInt(x) => format!("d[{x}].n"),
        Value::BigDecimal(x) => format!("d[{}e-{}].m", x.unscaled, x.scale),
        Value::Float(x) => format!("d[{x:?}].f"),
        Value::Double(x) => format!("d[{x:?}].d"),
        Value::String(s) => s.to_string(),
        Value::Vertex(x) => format!("v[{}]", render(&x.id)),
        Value::Edge(x) => format!(
            "e[{}][{}-{}->{}]",
            render(&x.id),
            render(&x.out_v_id),
            x.label,
            render(&x.in_v_id)
        ),
        Value::VertexProperty(x) => format!("vp[{}->{}]", x.key, render(&x.value)),
        Value::Property(x) => format!("p[{}->{}]", x.key, render(&x.value)),
        Value::List(items) => format!("l[{}]", render_list(items.iter())),
        Value::Set(items) => format!("s[{}]", render_list(items.iter())),
        Value::BulkSet(items) => format!(
            "bulkset[{}]",
            items
                .iter()
                .map(|(v, n)| format!("{}x{n}", render(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Value::Map(m) => format!(
            "m[{{{}}}]",
            m.iter()
                .map(|(k, v)| format!("{}: {}", render(k), render(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Path(p) => format!("p[{}]", render_list(p.objects.iter())),
        Value::Enum(e) => format!("{:?}.{}", e.kind, e.name),
        Value::Tree(t) => format!(
            "tree[{}]",
            t.iter()
                .map(|(k, sub)| format!("{}:{}", render(k), render(sub)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Value::Graph(g) => format!(
            "graph[{} vertices, {} edges]",
            g.vertices.len(),
            g.edges.len()
        ),
        other => format!("{other:?}"),
    }
}

fn render_list<'a>(items: impl Iterator<Item = &'a Value>) -> String {
    items.map(render).collect::<Vec<_>>().join(",")
}

fn render_results(items: &[Value]) -> String {
    if items.is_empty() {
        return "(no results)".to_string();
    }
    items
        .iter()
        .map(|v| format!("  {}", render(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs one scenario. Never panics on bad input; every problem becomes a failure.
pub fn run_scenario(backend: &mut dyn Backend, scenario: &Scenario, limits: Limits) -> Outcome {
    if let Some(reason) = unsupported_reason(scenario) {
        return Outcome::Unsupported(reason);
    }
    let deadline =
        Instant::now().checked_add(std::time::Duration::from_millis(limits.scenario_ms_max));
    let plan = match interpret(scenario) {
        Ok(p) => p,
        Err(e) => {
            return Outcome::Failed(Failure {
                traversal: String::new(),
                expected: String::new(),
                got: format!("cannot interpret scenario: {e}"),
            })
        }
    };
    let traversal = plan.traversal.clone().unwrap_or_default();
    let fail = |expected: &str, got: String| {
        Outcome::Failed(Failure {
            traversal: traversal.clone(),
            expected: expected.to_string(),
            got,
        })
    };
    if plan.unsupported {
        return Outcome::Unsupported("unsupported test".into());
    }
    let Some(graph) = plan.graph else {
        return fail("", "scenario names no graph".into());
    };
    if let Err(e) = backend.load(graph) {
        return fail(
            "",
            format!("loading the {} graph failed: {e}", graph.name()),
        );
    }
    if let Some(init) = &plan.initializer {
        let r = backend.execute(&Request {
            gremlin: init,
            params: &[],
            side_effects: &[],
            deadline,
        });
        if let Err(e) = r {
            return fail("", format!("graph initializer failed: {e}\n  {init}"));
        }
    }
    let (params, side_effects) = {
        let mut resolver = BackendResolver {
            backend: &mut *backend,
            deadline,
            vertices: HashMap::new(),
        };
        let params = match resolve_named(&plan.params, &mut resolver) {
            Ok(p) => p,
            Err(e) => return fail("", format!("binding parameters failed: {e}")),
        };
        let side_effects = match resolve_named(&plan.side_effects, &mut resolver) {
            Ok(p) => p,
            Err(e) => return fail("", format!("binding side effects failed: {e}")),
        };
        (params, side_effects)
    };
    let Some(text) = &plan.traversal else {
        return fail("", "scenario has no traversal".into());
    };
    let result = backend
        .execute(&Request {
            gremlin: text,
            params: &params,
            side_effects: &side_effects,
            deadline,
        })
        .and_then(|results| match plan.iterate {
            Some(Iterate::Next) => results
                .first()
                .map(compare::next_items)
                .ok_or_else(|| "next() on an empty traversal (NoSuchElementException)".to_string()),
            _ => Ok(results),
        });
    // The raw first result, for tree and subgraph checks.
    let mut resolver = BackendResolver {
        backend: &mut *backend,
        deadline,
        vertices: HashMap::new(),
    };
    for (check, described) in &plan.checks {
        let outcome = check_one(check, &result, text, &params, &side_effects, &mut resolver);
        if let Err(got) = outcome {
            return fail(described, got);
        }
    }
    if plan.checks.is_empty() {
        return fail("", "scenario has no assertion".into());
    }
    Outcome::Passed
}

fn first_raw(result: &Result<Vec<Value>, String>) -> Result<Value, String> {
    // `next_items` of a tree or graph is the value itself.
    match result {
        Ok(items) if items.len() == 1 => items.first().cloned().ok_or_default(),
        Ok(items) => Err(format!(
            "expected one result, got:\n{}",
            render_results(items)
        )),
        Err(e) => Err(format!("error: {e}")),
    }
}

trait OkOrDefault<T> {
    fn ok_or_default(self) -> Result<T, String>;
}

impl<T> OkOrDefault<T> for Option<T> {
    fn ok_or_default(self) -> Result<T, String> {
        self.ok_or_else(|| "no result".to_string())
    }
}

fn check_one(
    check: &Check,
    result: &Result<Vec<Value>, String>,
    text: &str,
    params: &[(String, Value)],
    side_effects: &[(String, Value)],
    resolver: &mut BackendResolver<'_>,
) -> Result<(), String> {
    let results = || match result {
        Ok(r) => Ok(r),
        Err(e) => Err(format!("error: {e}")),
    };
    let compare_rows =
        |rows: &[String], resolver: &mut BackendResolver<'_>, f: fn(&[Value], &[Value]) -> bool| {
            let actual = results()?;
            let expected = resolve_all(rows, resolver)?;
            if f(&expected, actual) {
                Ok(())
            } else {
                Err(render_results(actual))
            }
        };
    match check {
        Check::Unordered(rows) => compare_rows(rows, resolver, compare::unordered),
        Check::Ordered(rows) => compare_rows(rows, resolver, compare::ordered),
        Check::Of(rows) => compare_rows(rows, resolver, compare::of),
        Check::Empty => {
            let actual = results()?;
            if actual.is_empty() {
                Ok(())
            } else {
                Err(render_results(actual))
            }
        }
        Check::Count(n) => {
            let actual = results()?;
            if actual.len() == *n {
                Ok(())
            } else {
                Err(format!(
                    "{} results:\n{}",
                    actual.len(),
                    render_results(actual)
                ))
            }
        }
        Check::GraphCount { count, gremlin } => {
            let q = format!("{gremlin}.count()");
            let got = resolver
                .backend
                .execute(&Request {
                    gremlin: &q,
                    params,
                    side_effects,
                    deadline: resolver.deadline,
                })
                .map_err(|e| format!("`{q}` failed: {e}"))?;
            if got.as_slice() == [Value::Long(*count)] {
                Ok(())
            } else {
                Err(format!("`{q}` returned:\n{}", render_results(&got)))
            }
        }
        Check::Error(text_expected) => match result {
            Ok(r) => Err(format!("no error; results:\n{}", render_results(r))),
            Err(e) => match text_expected {
                // Java's runner: case-insensitive "contains".
                Some(t) if !e.to_lowercase().contains(&t.to_lowercase()) => {
                    Err(format!("error without the expected text: {e}"))
                }
                _ => Ok(()),
            },
        },
        Check::Tree(doc) => {
            let _ = text;
            let actual = first_raw(result)?;
            let mut node = |s: &str| {
                let n = notation::parse(s).map_err(|e| e.to_string())?;
                notation::resolve(&n, resolver)
            };
            let expected = compare::parse_tree(doc, &mut node)?;
            if compare::matches(&Value::Tree(expected), &actual) {
                Ok(())
            } else {
                Err(render(&actual))
            }
        }
        Check::Subgraph(part, rows) => {
            let actual = first_raw(result)?;
            let Value::Graph(g) = &actual else {
                return Err(format!("not a graph: {}", render(&actual)));
            };
            let expected = resolve_all(rows, resolver)?;
            compare::subgraph_matches(*part, &expected, g)
        }
    }
}

/// One scenario's outcome with where it came from.
#[derive(Clone, Debug)]
pub struct ScenarioReport {
    /// Feature file path relative to the features directory.
    pub file: String,
    pub scenario: String,
    pub line: usize,
    pub outcome: Outcome,
}

/// Totals and per-file counts of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub unsupported: usize,
    /// file → (passed, failed, unsupported), sorted by file.
    pub per_file: Vec<(String, [usize; 3])>,
}

impl Summary {
    /// Tallies reports.
    pub fn of(reports: &[ScenarioReport]) -> Summary {
        let mut per_file: std::collections::BTreeMap<&str, [usize; 3]> = Default::default();
        let mut s = Summary::default();
        for r in reports {
            let slot = per_file.entry(&r.file).or_default();
            let i = match r.outcome {
                Outcome::Passed => {
                    s.passed += 1;
                    0
                }
                Outcome::Failed(_) => {
                    s.failed += 1;
                    1
                }
                Outcome::Unsupported(_) => {
                    s.unsupported += 1;
                    2
                }
            };
            if let Some(c) = slot.get_mut(i) {
                *c += 1;
            }
        }
        s.per_file = per_file
            .into_iter()
            .map(|(f, c)| (f.to_string(), c))
            .collect();
        s
    }

    /// `N passed, M failed, K unsupported`.
    pub fn headline(&self) -> String {
        format!(
            "{} passed, {} failed, {} unsupported",
            self.passed, self.failed, self.unsupported
        )
    }

    /// The per-file table.
    pub fn table(&self) -> String {
        let width = self
            .per_file
            .iter()
            .map(|(f, _)| f.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let mut out = format!("{:<width$}  passed  failed  unsupp\n", "file");
        for (file, [p, f, u]) in &self.per_file {
            let _ = writeln!(out, "{file:<width$}  {p:>6}  {f:>6}  {u:>6}");
        }
        out
    }
}

/// The failure file: every failing scenario with its traversal, expectation and result.
pub fn failure_report(reports: &[ScenarioReport]) -> String {
    let mut out = String::new();
    for r in reports {
        if let Outcome::Failed(f) = &r.outcome {
            let _ = write!(
                out,
                "=== {}:{} {}\n--- traversal\n{}\n--- expected\n{}\n--- got\n{}\n\n",
                r.file, r.line, r.scenario, f.traversal, f.expected, f.got
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::conformance::gherkin::parse_feature;
    use crate::value::{Edge, Vertex};

    /// A fake backend that answers by exact traversal text.
    struct Fake {
        answers: HashMap<String, Result<Vec<Value>, String>>,
        loaded: Vec<GraphName>,
        seen_params: Vec<(String, Value)>,
        seen_side_effects: Vec<(String, Value)>,
    }

    fn marko() -> Value {
        Value::Vertex(Arc::new(Vertex {
            id: Value::Int(1),
            label: Arc::from("person"),
            properties: None,
        }))
    }

    fn josh() -> Value {
        Value::Vertex(Arc::new(Vertex {
            id: Value::Int(4),
            label: Arc::from("person"),
            properties: None,
        }))
    }

    fn knows() -> Value {
        Value::Edge(Arc::new(Edge {
            id: Value::Int(8),
            label: Arc::from("knows"),
            out_v_id: Value::Int(1),
            out_v_label: Arc::from("person"),
            in_v_id: Value::Int(4),
            in_v_label: Arc::from("person"),
            properties: None,
        }))
    }

    impl Fake {
        fn new() -> Fake {
            let mut answers = HashMap::new();
            answers.insert(
                "g.V().has(\"name\",\"marko\")".to_string(),
                Ok(vec![marko()]),
            );
            answers.insert("g.V().has(\"name\",\"josh\")".to_string(), Ok(vec![josh()]));
            answers.insert(
                "g.V().has(\"name\",\"marko\").outE(\"knows\")".to_string(),
                Ok(vec![knows()]),
            );
            answers.insert(
                "g.V(vid1).out()".to_string(),
                Ok(vec![josh(), Value::str("x")]),
            );
            answers.insert(
                "g.V(vid1).values(\"age\")".to_string(),
                Ok(vec![Value::Int(29)]),
            );
            answers.insert("g.E(eid).count()".to_string(), Ok(vec![Value::Long(1)]));
            answers.insert(
                "g.V().range(3,2)".to_string(),
                Err("Not a legal range: [3, 2]".to_string()),
            );
            answers.insert(
                "g.V().fold()".to_string(),
                Ok(vec![Value::List(vec![marko(), josh()])]),
            );
            Fake {
                answers,
                loaded: Vec::new(),
                seen_params: Vec::new(),
                seen_side_effects: Vec::new(),
            }
        }
    }

    impl Backend for Fake {
        fn load(&mut self, graph: GraphName) -> Result<(), String> {
            self.loaded.push(graph);
            Ok(())
        }
        fn execute(&mut self, request: &Request<'_>) -> Result<Vec<Value>, String> {
            self.seen_params.extend(request.params.iter().cloned());
            self.seen_side_effects
                .extend(request.side_effects.iter().cloned());
            self.answers
                .get(request.gremlin)
                .cloned()
                .unwrap_or_else(|| Err(format!("fake cannot run {}", request.gremlin)))
        }
    }

    fn run(text: &str) -> (Vec<Outcome>, Fake) {
        let feature = parse_feature(text).expect("feature parses");
        let mut fake = Fake::new();
        let outcomes = feature
            .scenarios
            .iter()
            .map(|s| run_scenario(&mut fake, s, Limits::default()))
            .collect();
        (outcomes, fake)
    }

    const FEATURE: &str = r#"
@StepClassMap
Feature: fake

  Scenario: unordered_with_params
    Given the modern graph
    And using the parameter vid1 defined as "v[marko].id"
    And using the side effect a defined as "l[e[marko-knows->josh].id]"
    And the traversal of
      """
      g.V(vid1).out()
      """
    When iterated to list
    Then the result should be unordered
      | result |
      | x |
      | v[josh] |
    And the result should have a count of 2

  Scenario: wrong_type
    Given the modern graph
    And using the parameter vid1 defined as "v[marko].id"
    And the traversal of
      """
      g.V(vid1).values("age")
      """
    When iterated to list
    Then the result should be unordered
      | result |
      | d[29].l |

  Scenario: error_expected
    Given the modern graph
    And the traversal of
      """
      g.V().range(3,2)
      """
    When iterated to list
    Then the traversal will raise an error with message containing text of "not a legal range"

  @GraphComputerOnly
  Scenario: olap
    Given the modern graph
    And the traversal of
      """
      g.V().pageRank()
      """
    When iterated to list
    Then the result should be empty

  Scenario: placeholder
    Given an unsupported test
    Then nothing should happen because
      """
      it cannot be done
      """

  Scenario: graph_count_and_next
    Given the empty graph
    And using the parameter eid defined as "e[marko-knows->josh].id"
    And the traversal of
      """
      g.V().fold()
      """
    When iterated next
    Then the result should be ordered
      | result |
      | v[marko] |
      | v[josh] |
    And the graph should return 1 for count of "g.E(eid)"

  Scenario: unknown_step
    Given the modern graph
    And the traversal of
      """
      g.V().fold()
      """
    When iterated sideways
    Then the result should be empty

  Scenario: error_but_results_expected
    Given the modern graph
    And the traversal of
      """
      g.V().range(3,2)
      """
    When iterated to list
    Then the result should be empty
"#;

    #[test]
    fn drives_the_backend_and_checks_expectations() {
        let (outcomes, fake) = run(FEATURE);
        assert_eq!(outcomes[0], Outcome::Passed, "{:?}", outcomes[0]);
        assert_eq!(
            fake.seen_params.first(),
            Some(&("vid1".to_string(), Value::Int(1)))
        );
        assert_eq!(
            fake.seen_side_effects.first(),
            Some(&("a".to_string(), Value::List(vec![Value::Int(8)])))
        );
        match &outcomes[1] {
            Outcome::Failed(f) => {
                assert!(f.got.contains("d[29].i"), "{}", f.got);
                assert!(f.expected.contains("d[29].l"), "{}", f.expected);
                assert_eq!(f.traversal, "g.V(vid1).values(\"age\")");
            }
            other => panic!("expected failure, got {other:?}"),
        }
        assert_eq!(outcomes[2], Outcome::Passed, "{:?}", outcomes[2]);
        assert!(matches!(&outcomes[3], Outcome::Unsupported(r) if r.contains("GraphComputerOnly")));
        assert!(matches!(&outcomes[4], Outcome::Unsupported(r) if r.contains("cannot be done")));
        assert_eq!(outcomes[5], Outcome::Passed, "{:?}", outcomes[5]);
        assert!(matches!(&outcomes[6], Outcome::Failed(f) if f.got.contains("unknown step")));
        assert!(matches!(&outcomes[7], Outcome::Failed(f) if f.got.contains("Not a legal range")));
        assert_eq!(
            fake.loaded,
            vec![
                GraphName::Modern,
                GraphName::Modern,
                GraphName::Modern,
                GraphName::Empty,
                GraphName::Modern
            ]
        );
        let reports: Vec<ScenarioReport> = outcomes
            .into_iter()
            .enumerate()
            .map(|(i, outcome)| ScenarioReport {
                file: if i < 4 { "a.feature" } else { "b.feature" }.to_string(),
                scenario: format!("s{i}"),
                line: i,
                outcome,
            })
            .collect();
        let summary = Summary::of(&reports);
        assert_eq!(summary.headline(), "3 passed, 3 failed, 2 unsupported");
        assert_eq!(summary.per_file[0], ("a.feature".to_string(), [2, 1, 1]));
        assert!(summary.table().contains("b.feature"));
        let failures = failure_report(&reports);
        assert_eq!(failures.matches("=== ").count(), 3);
        assert!(failures.contains("s1"));
    }

    #[test]
    fn trees_and_subgraphs_are_checked_on_the_first_result() {
        let tree_feature = r#"
Feature: t
  Scenario: tree
    Given the modern graph
    And the traversal of
      """
      g.V().tree()
      """
    When iterated next
    Then the result should be a tree with a structure of
      """
      |--v[marko]
         |--v[josh]
      """

  Scenario: subgraph
    Given the modern graph
    And the traversal of
      """
      g.E().subgraph("sg").cap("sg")
      """
    When iterated next
    Then the result should be a subgraph with the following
      | edges |
      | e[marko-knows->josh] |
    And the result should be a subgraph with the following
      | vertices |
      | v[marko] |
"#;
        let feature = parse_feature(tree_feature).expect("parses");
        let mut fake = Fake::new();
        let tree = Value::Tree(vec![(
            marko(),
            Value::Tree(vec![(josh(), Value::Tree(vec![]))]),
        )]);
        fake.answers.insert("g.V().tree()".into(), Ok(vec![tree]));
        let graph = crate::value::GraphData {
            vertices: vec![Vertex {
                id: Value::Int(1),
                label: Arc::from("person"),
                properties: None,
            }],
            edges: match knows() {
                Value::Edge(e) => vec![(*e).clone()],
                _ => vec![],
            },
        };
        fake.answers.insert(
            "g.E().subgraph(\"sg\").cap(\"sg\")".into(),
            Ok(vec![Value::Graph(Arc::new(graph))]),
        );
        let outcomes: Vec<Outcome> = feature
            .scenarios
            .iter()
            .map(|s| run_scenario(&mut fake, s, Limits::default()))
            .collect();
        assert_eq!(outcomes, vec![Outcome::Passed, Outcome::Passed]);
        // A different tree fails.
        let flat = Value::Tree(vec![
            (marko(), Value::Tree(vec![])),
            (josh(), Value::Tree(vec![])),
        ]);
        fake.answers.insert("g.V().tree()".into(), Ok(vec![flat]));
        let again = run_scenario(&mut fake, &feature.scenarios[0], Limits::default());
        assert!(matches!(again, Outcome::Failed(_)), "{again:?}");
        // An empty subgraph fails both halves.
        fake.answers.insert(
            "g.E().subgraph(\"sg\").cap(\"sg\")".into(),
            Ok(vec![Value::Graph(Arc::new(
                crate::value::GraphData::default(),
            ))]),
        );
        let again = run_scenario(&mut fake, &feature.scenarios[1], Limits::default());
        assert!(
            matches!(&again, Outcome::Failed(f) if f.got.contains("expected 1 edges")),
            "{again:?}"
        );
    }

    #[test]
    fn quoted_arguments_unescape() {
        assert_eq!(
            quoted(r#""g.V().has(\"a\",1)""#).as_deref(),
            Some(r#"g.V().has("a",1)"#)
        );
        assert_eq!(quoted("no quotes"), None);
        assert_eq!(literal("a\"b"), r#""a\"b""#);
    }
}
