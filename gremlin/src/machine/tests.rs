//! Machine tests over a hand-built modern graph and hand-built bytecode.

use std::sync::Arc;

use super::*;
use crate::graph::{Direction, Graph, Incident, Owner};
use crate::refgraph::RefGraph;
use crate::value::{
    Edge, EnumKind, EnumValue, GraphData, Predicate, Property, Vertex, VertexProperty,
};

pub(crate) fn s(x: &str) -> Value {
    Value::str(x)
}

fn p(name: &str, args: Vec<Value>) -> Value {
    Value::P(Arc::new(Predicate {
        text: false,
        name: Arc::from(name),
        args,
    }))
}

fn en(kind: EnumKind, name: &str) -> Value {
    Value::Enum(EnumValue {
        kind,
        name: Arc::from(name),
    })
}

/// Builds bytecode from (op, args) pairs.
fn bc(steps: Vec<(&str, Vec<Value>)>) -> Bytecode {
    let mut b = Bytecode::default();
    for (op, args) in steps {
        b = b.step(op, args);
    }
    b
}

fn anon(steps: Vec<(&str, Vec<Value>)>) -> Value {
    Value::Bytecode(Arc::new(bc(steps)))
}

/// The TinkerPop "modern" graph, as in tinkerpop-modern.json.
pub(crate) fn modern() -> RefGraph {
    let mut pid = 0i64;
    let mut vp = |k: &str, v: Value| {
        let id = Value::Long(pid);
        pid += 1;
        VertexProperty {
            id,
            key: Arc::from(k),
            value: v,
            properties: Some(Vec::new()),
        }
    };
    let mut vs = Vec::new();
    for (id, label, name, k, v) in [
        (1, "person", "marko", "age", Value::Int(29)),
        (2, "person", "vadas", "age", Value::Int(27)),
        (3, "software", "lop", "lang", s("java")),
        (4, "person", "josh", "age", Value::Int(32)),
        (5, "software", "ripple", "lang", s("java")),
        (6, "person", "peter", "age", Value::Int(35)),
    ] {
        let props = vec![vp("name", s(name)), vp(k, v)];
        vs.push(Vertex {
            id: Value::Int(id),
            label: Arc::from(label),
            properties: Some(props),
        });
    }
    let label_of = |id: i32| {
        if id == 3 || id == 5 {
            "software"
        } else {
            "person"
        }
    };
    let mut es = Vec::new();
    for (id, o, l, i, w) in [
        (7, 1, "knows", 2, 0.5),
        (8, 1, "knows", 4, 1.0),
        (9, 1, "created", 3, 0.4),
        (10, 4, "created", 5, 1.0),
        (11, 4, "created", 3, 0.4),
        (12, 6, "created", 3, 0.2),
    ] {
        es.push(Edge {
            id: Value::Int(id),
            label: Arc::from(l),
            out_v_id: Value::Int(o),
            out_v_label: Arc::from(label_of(o)),
            in_v_id: Value::Int(i),
            in_v_label: Arc::from(label_of(i)),
            properties: Some(vec![Property {
                key: Arc::from("weight"),
                value: Value::Double(w),
            }]),
        });
    }
    RefGraph::from_graph_data(&GraphData {
        vertices: vs,
        edges: es,
    })
    .expect("modern graph loads")
}

fn run(g: &mut RefGraph, steps: Vec<(&str, Vec<Value>)>) -> Vec<Value> {
    execute(g, &bc(steps)).expect("traversal runs")
}

fn names(vals: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = vals
        .iter()
        .map(|v| match v {
            Value::String(s) => s.to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    out.sort();
    out
}

#[test]
fn out_values_and_ids_keep_int_and_long_as_one_key() {
    let mut g = modern();
    let r = run(
        &mut g,
        vec![
            ("V", vec![Value::Long(1)]),
            ("out", vec![s("knows")]),
            ("values", vec![s("name")]),
        ],
    );
    assert_eq!(names(&r), vec!["josh", "vadas"]);
    // the vertex comes back with its Int32 id
    let r = run(&mut g, vec![("V", vec![Value::Long(1)]), ("id", vec![])]);
    assert_eq!(r, vec![Value::Int(1)]);
    // like TinkerGraph's numeric id managers, a string id that spells a number finds
    // the element with that id (the feature suite's `v[marko].sid` parameters)
    let r = run(&mut g, vec![("V", vec![s("1")]), ("id", vec![])]);
    assert_eq!(r, vec![Value::Int(1)]);
    let r = run(&mut g, vec![("V", vec![s("one")])]);
    assert!(r.is_empty());
    let r = run(
        &mut g,
        vec![("V", vec![]), ("hasId", vec![s("2")]), ("id", vec![])],
    );
    assert_eq!(r, vec![Value::Int(2)]);
}

#[test]
fn has_count_and_predicates() {
    let mut g = modern();
    let r = run(
        &mut g,
        vec![
            ("V", vec![]),
            ("has", vec![s("age"), p("gt", vec![Value::Int(30)])]),
            ("values", vec![s("name")]),
        ],
    );
    assert_eq!(names(&r), vec!["josh", "peter"]);
    let r = run(
        &mut g,
        vec![
            ("V", vec![]),
            ("hasLabel", vec![s("software")]),
            ("count", vec![]),
        ],
    );
    assert_eq!(r, vec![Value::Long(2)]);
    let r = run(
        &mut g,
        vec![
            ("E", vec![]),
            ("has", vec![s("weight"), p("lt", vec![Value::Double(0.5)])]),
            ("count", vec![]),
        ],
    );
    assert_eq!(r, vec![Value::Long(3)]);
}

#[test]
fn group_count_order_and_select() {
    let mut g = modern();
    let r = run(
        &mut g,
        vec![
            ("V", vec![]),
            ("out", vec![]),
            ("groupCount", vec![]),
            ("by", vec![s("name")]),
        ],
    );
    let Value::Map(m) = &r[0] else {
        panic!("expected a map, got {r:?}")
    };
    assert_eq!(m.get(&s("lop")), Some(&Value::Long(3)));
    assert_eq!(m.get(&s("josh")), Some(&Value::Long(1)));
    let r = run(
        &mut g,
        vec![
            ("V", vec![]),
            ("hasLabel", vec![s("person")]),
            ("order", vec![]),
            ("by", vec![s("age"), en(EnumKind::Order, "desc")]),
            ("values", vec![s("name")]),
        ],
    );
    assert_eq!(r, vec![s("peter"), s("josh"), s("marko"), s("vadas")]);
    let r = run(
        &mut g,
        vec![
            ("V", vec![Value::Int(1)]),
            ("as", vec![s("a")]),
            ("out", vec![s("created")]),
            ("as", vec![s("b")]),
            ("select", vec![s("a"), s("b")]),
            ("by", vec![s("name")]),
        ],
    );
    let Value::Map(m) = &r[0] else {
        panic!("expected a map")
    };
    assert_eq!(m.get(&s("a")), Some(&s("marko")));
    assert_eq!(m.get(&s("b")), Some(&s("lop")));
}

#[test]
fn repeat_times_emit_and_path() {
    let mut g = modern();
    let r = run(
        &mut g,
        vec![
            ("V", vec![Value::Int(1)]),
            ("repeat", vec![anon(vec![("out", vec![])])]),
            ("times", vec![Value::Int(2)]),
            ("values", vec![s("name")]),
        ],
    );
    assert_eq!(names(&r), vec!["lop", "ripple"]);
    let r = run(
        &mut g,
        vec![
            ("V", vec![Value::Int(1)]),
            ("repeat", vec![anon(vec![("out", vec![])])]),
            ("emit", vec![]),
            ("count", vec![]),
        ],
    );
    assert_eq!(r, vec![Value::Long(5)]);
    let r = run(
        &mut g,
        vec![
            ("V", vec![Value::Int(1)]),
            ("out", vec![]),
            ("out", vec![]),
            ("path", vec![]),
            ("by", vec![s("name")]),
        ],
    );
    assert_eq!(r.len(), 2);
    let Value::Path(p0) = &r[0] else {
        panic!("expected a path")
    };
    assert_eq!(p0.objects[0], s("marko"));
    assert_eq!(p0.objects[1], s("josh"));
}

#[test]
fn branches_and_barriers_with_bulk() {
    let mut g = modern();
    let r = run(
        &mut g,
        vec![
            ("V", vec![]),
            (
                "union",
                vec![anon(vec![("out", vec![])]), anon(vec![("in", vec![])])],
            ),
            ("count", vec![]),
        ],
    );
    assert_eq!(r, vec![Value::Long(12)]);
    let r = run(
        &mut g,
        vec![
            ("V", vec![]),
            ("out", vec![]),
            ("barrier", vec![]),
            ("dedup", vec![]),
            ("count", vec![]),
        ],
    );
    assert_eq!(r, vec![Value::Long(4)]);
    let r = run(
        &mut g,
        vec![("V", vec![]), ("values", vec![s("age")]), ("sum", vec![])],
    );
    assert_eq!(r, vec![Value::Int(123)]);
    let r = run(
        &mut g,
        vec![("V", vec![]), ("values", vec![s("age")]), ("mean", vec![])],
    );
    assert_eq!(r, vec![Value::Double(30.75)]);
    let r = run(
        &mut g,
        vec![
            ("V", vec![]),
            (
                "choose",
                vec![
                    anon(vec![("hasLabel", vec![s("person")])]),
                    anon(vec![("constant", vec![s("p")])]),
                    anon(vec![("constant", vec![s("s")])]),
                ],
            ),
            ("groupCount", vec![]),
        ],
    );
    let Value::Map(m) = &r[0] else { panic!("map") };
    assert_eq!(m.get(&s("p")), Some(&Value::Long(4)));
    assert_eq!(m.get(&s("s")), Some(&Value::Long(2)));
    let r = run(
        &mut g,
        vec![
            ("V", vec![]),
            ("limit", vec![Value::Int(2)]),
            ("fold", vec![]),
            ("count", vec![en(EnumKind::Scope, "local")]),
        ],
    );
    assert_eq!(r, vec![Value::Long(2)]);
}

#[test]
fn bulk_merging_keeps_counts_exact_and_count_of_nothing_is_zero() {
    let mut g = modern();
    // 3 hops of both() from every vertex: counted through merged bulks and through paths
    let merged = run(
        &mut g,
        vec![
            ("V", vec![]),
            ("both", vec![]),
            ("both", vec![]),
            ("both", vec![]),
            ("count", vec![]),
        ],
    );
    let paths = run(
        &mut g,
        vec![
            ("V", vec![]),
            ("both", vec![]),
            ("both", vec![]),
            ("both", vec![]),
            ("path", vec![]),
            ("count", vec![]),
        ],
    );
    assert_eq!(merged, paths);
    assert!(matches!(merged[0], Value::Long(n) if n > 12));
    let r = run(
        &mut g,
        vec![
            ("V", vec![]),
            ("has", vec![s("name"), s("nobody")]),
            ("count", vec![]),
        ],
    );
    assert_eq!(r, vec![Value::Long(0)]);
    let r = run(
        &mut g,
        vec![
            ("V", vec![]),
            ("has", vec![s("name"), s("nobody")]),
            ("fold", vec![]),
        ],
    );
    assert_eq!(r, vec![Value::List(Vec::new())]);
}

#[test]
fn mutations_add_property_and_drop() {
    let mut g = RefGraph::new();
    run(
        &mut g,
        vec![
            ("addV", vec![s("person")]),
            ("property", vec![s("name"), s("a")]),
        ],
    );
    run(
        &mut g,
        vec![
            ("addV", vec![s("person")]),
            ("property", vec![s("name"), s("b")]),
        ],
    );
    run(
        &mut g,
        vec![
            ("V", vec![]),
            ("has", vec![s("name"), s("a")]),
            ("addE", vec![s("knows")]),
            (
                "to",
                vec![anon(vec![("V", vec![]), ("has", vec![s("name"), s("b")])])],
            ),
        ],
    );
    let r = run(
        &mut g,
        vec![
            ("V", vec![]),
            ("out", vec![s("knows")]),
            ("values", vec![s("name")]),
        ],
    );
    assert_eq!(r, vec![s("b")]);
    run(
        &mut g,
        vec![
            ("V", vec![]),
            ("has", vec![s("name"), s("b")]),
            ("drop", vec![]),
        ],
    );
    assert_eq!(g.vertex_count(), 1);
    assert_eq!(g.edge_count(), 0);
    // ReadOnlyStrategy refuses mutations
    let mut b = bc(vec![("addV", vec![])]);
    b.source.push(crate::bytecode::Instruction::new(
        "withStrategies",
        vec![Value::Strategy(Arc::new(crate::value::Strategy {
            class: Arc::from("ReadOnlyStrategy"),
            config: Default::default(),
        }))],
    ));
    assert_eq!(execute(&mut g, &b), Err(GremlinError::ReadOnly));
}

#[test]
fn lambdas_are_refused_and_limits_are_errors() {
    let mut g = modern();
    let lam = Value::Lambda(Arc::new(crate::value::Lambda {
        language: Arc::from("gremlin-groovy"),
        script: Arc::from("it.get()"),
        arguments: 1,
    }));
    assert_eq!(
        execute(&mut g, &bc(vec![("V", vec![]), ("map", vec![lam])])),
        Err(GremlinError::Lambda)
    );
    let limits = Limits {
        repeat_depth_max: 5,
        ..Limits::default()
    };
    let mut m = Machine::with_limits(
        &bc(vec![
            ("V", vec![]),
            ("repeat", vec![anon(vec![("both", vec![])])]),
            ("times", vec![Value::Int(100)]),
        ]),
        limits,
    )
    .expect("compiles");
    let start = m.start();
    assert!(matches!(
        m.run(&mut g, start),
        Err(GremlinError::LimitExceeded {
            limit: "repeat_depth_max",
            ..
        })
    ));
    let limits = Limits {
        traversers_max: 10,
        ..Limits::default()
    };
    let mut m = Machine::with_limits(
        &bc(vec![
            ("V", vec![]),
            ("both", vec![]),
            ("both", vec![]),
            ("path", vec![]),
        ]),
        limits,
    )
    .expect("compiles");
    let start = m.start();
    assert!(matches!(
        m.run(&mut g, start),
        Err(GremlinError::LimitExceeded {
            limit: "traversers_max",
            ..
        })
    ));
}

/// A view of a shared reference graph as one of two owners: odd vertex ids belong to owner 1,
/// even ones to owner 0.
struct Half<'a> {
    g: &'a mut RefGraph,
    me: Owner,
}

fn owner_of(id: &Value) -> Owner {
    match id {
        Value::Int(x) => Owner((x.rem_euclid(2)) as u32),
        _ => Owner(0),
    }
}

impl Graph for Half<'_> {
    fn local_owner(&self) -> Owner {
        self.me
    }
    fn owner_count(&self) -> u32 {
        2
    }
    fn owner_of_vertex(&self, id: &Value) -> Owner {
        owner_of(id)
    }
    fn vertices(&self, ids: &[Value]) -> Result<Vec<Option<Arc<Vertex>>>, GremlinError> {
        self.g.vertices(ids)
    }
    fn edges(&self, ids: &[Value]) -> Result<Vec<Option<Arc<Edge>>>, GremlinError> {
        self.g.edges(ids)
    }
    fn incident(
        &self,
        ids: &[Value],
        d: Direction,
        l: &[Arc<str>],
    ) -> Result<Vec<Vec<Incident>>, GremlinError> {
        assert!(
            ids.iter().all(|i| owner_of(i) == self.me),
            "adjacency asked of a non-owner"
        );
        self.g.incident(ids, d, l)
    }
    fn scan_vertex_ids(&self) -> Result<Vec<Value>, GremlinError> {
        Ok(self
            .g
            .scan_vertex_ids()?
            .into_iter()
            .filter(|i| owner_of(i) == self.me)
            .collect())
    }
    fn scan_edge_ids(&self) -> Result<Vec<Value>, GremlinError> {
        Ok(Vec::new())
    }
    fn add_vertex(&mut self, id: Option<Value>, label: &str) -> Result<Arc<Vertex>, GremlinError> {
        self.g.add_vertex(id, label)
    }
    fn add_edge(
        &mut self,
        id: Option<Value>,
        label: &str,
        o: &Value,
        i: &Value,
    ) -> Result<Arc<Edge>, GremlinError> {
        self.g.add_edge(id, label, o, i)
    }
    fn set_vertex_property(
        &mut self,
        v: &Value,
        c: crate::graph::Cardinality,
        k: &str,
        val: Value,
        id: Option<Value>,
        meta: Vec<Property>,
    ) -> Result<Value, GremlinError> {
        self.g.set_vertex_property(v, c, k, val, id, meta)
    }
    fn set_edge_property(&mut self, e: &Value, k: &str, v: Value) -> Result<(), GremlinError> {
        self.g.set_edge_property(e, k, v)
    }
    fn set_meta_property(
        &mut self,
        v: &Value,
        p: &Value,
        k: &str,
        val: Value,
    ) -> Result<(), GremlinError> {
        self.g.set_meta_property(v, p, k, val)
    }
    fn drop_vertex(&mut self, id: &Value) -> Result<(), GremlinError> {
        self.g.drop_vertex(id)
    }
    fn drop_edge(&mut self, id: &Value) -> Result<(), GremlinError> {
        self.g.drop_edge(id)
    }
    fn drop_vertex_property(&mut self, v: &Value, p: &Value) -> Result<(), GremlinError> {
        self.g.drop_vertex_property(v, p)
    }
    fn drop_edge_property(&mut self, e: &Value, k: &str) -> Result<(), GremlinError> {
        self.g.drop_edge_property(e, k)
    }
    fn drop_meta_property(&mut self, v: &Value, p: &Value, k: &str) -> Result<(), GremlinError> {
        self.g.drop_meta_property(v, p, k)
    }
}

/// Runs a traversal over two owners the way the engine would: each owner runs the same
/// compiled machine on the traversers it owns, moved traversers are delivered to their owner,
/// and coordinator steps run on owner 0 once no traverser is in flight.
fn run_two_owners(g: &mut RefGraph, b: &Bytecode) -> (Vec<Value>, usize) {
    let mut machines = [
        Machine::compile(b).expect("compiles"),
        Machine::compile(b).expect("compiles"),
    ];
    machines[1].coordinator = false;
    machines[0].coordinator = false;
    let mut inbox: [Vec<Traverser>; 2] = [machines[0].start(), machines[1].start()];
    let mut gathered: Vec<Traverser> = Vec::new();
    let mut finished = Vec::new();
    let mut moves = 0;
    loop {
        while inbox.iter().any(|b| !b.is_empty()) {
            for o in 0..2 {
                let batch = std::mem::take(&mut inbox[o]);
                if batch.is_empty() {
                    continue;
                }
                let mut view = Half {
                    g,
                    me: Owner(o as u32),
                };
                let out = machines[o].run(&mut view, batch).expect("runs");
                finished.extend(out.finished);
                gathered.extend(out.at_coordinator);
                for (to, t) in out.moved {
                    moves += 1;
                    inbox[to.0 as usize].push(t);
                }
            }
        }
        if gathered.is_empty() {
            break;
        }
        // quiescent: the coordinator runs the gathered barrier step(s)
        let batch = std::mem::take(&mut gathered);
        let min = batch.iter().map(|t| t.step).min().unwrap_or(0);
        let (now, later): (Vec<_>, Vec<_>) = batch.into_iter().partition(|t| t.step == min);
        gathered = later;
        let mut view = Half { g, me: Owner(0) };
        let out = machines[0]
            .run_step(&mut view, min, now)
            .expect("barrier runs");
        inbox[0].extend(out);
    }
    let mut vals = Vec::new();
    for t in finished {
        for _ in 0..t.bulk {
            vals.push(t.value.clone());
        }
    }
    (vals, moves)
}

#[test]
fn two_owners_move_traversers_and_agree_with_one_owner() {
    let mut g = modern();
    let cases = vec![
        bc(vec![
            ("V", vec![]),
            ("out", vec![]),
            ("out", vec![]),
            ("values", vec![s("name")]),
        ]),
        bc(vec![
            ("V", vec![]),
            ("both", vec![]),
            ("has", vec![s("age")]),
            ("values", vec![s("name")]),
        ]),
        bc(vec![
            ("V", vec![]),
            ("out", vec![]),
            ("in", vec![]),
            ("values", vec![s("name")]),
            ("order", vec![]),
            ("fold", vec![]),
        ]),
        bc(vec![("V", vec![]), ("both", vec![]), ("count", vec![])]),
    ];
    let mut total_moves = 0;
    for b in cases {
        let want = execute(&mut g, &b).expect("single owner runs");
        let (got, moves) = run_two_owners(&mut g, &b);
        total_moves += moves;
        let (mut w, mut o) = (names(&want), names(&got));
        w.sort();
        o.sort();
        assert_eq!(o, w, "two owners disagree for {b:?}");
    }
    assert!(total_moves > 0, "no traverser ever moved between owners");
}

#[test]
fn productive_by_strategy_turns_missing_values_into_null() {
    let mut g = modern();
    let mut b = bc(vec![
        ("V", vec![]),
        ("aggregate", vec![s("x")]),
        ("by", vec![s("age")]),
        ("cap", vec![s("x")]),
    ]);
    b.source.push(crate::bytecode::Instruction::new(
        "withStrategies",
        vec![Value::Strategy(Arc::new(crate::value::Strategy {
            class: Arc::from("ProductiveByStrategy"),
            config: Default::default(),
        }))],
    ));
    let r = execute(&mut g, &b).expect("runs");
    let Value::List(items) = &r[0] else {
        panic!("expected a list, got {r:?}")
    };
    assert_eq!(items.len(), 6, "{items:?}");
    assert_eq!(items.iter().filter(|v| matches!(v, Value::Null)).count(), 2);
}

#[test]
fn add_e_property_t_id_sets_the_edge_id() {
    let mut g = modern();
    let r = run(
        &mut g,
        vec![
            ("V", vec![Value::Int(1)]),
            ("addE", vec![s("likes")]),
            ("to", vec![anon(vec![("V", vec![Value::Int(2)])])]),
            ("property", vec![en(EnumKind::T, "id"), Value::Long(700)]),
            ("property", vec![s("w"), Value::Int(3)]),
            ("id", vec![]),
        ],
    );
    assert_eq!(r, vec![Value::Long(700)]);
    // The edge exists under that id with its property; no vertex 700 was made.
    let e = run(
        &mut g,
        vec![("E", vec![Value::Long(700)]), ("values", vec![s("w")])],
    );
    assert_eq!(e, vec![Value::Int(3)]);
    assert!(run(&mut g, vec![("V", vec![Value::Long(700)])]).is_empty());
}

#[test]
fn profile_counts_what_each_step_produced() {
    let mut g = modern();
    // V(1): 1 vertex; out(): 3 (lop, vadas, josh); hasLabel(person): 2; profile.
    let got = run(
        &mut g,
        vec![
            ("V", vec![Value::Int(1)]),
            ("out", vec![]),
            ("hasLabel", vec![s("person")]),
            ("profile", vec![]),
        ],
    );
    let Some(Value::Metrics(m)) = got.first() else {
        panic!("{got:?}")
    };
    let counts: Vec<(i64, i64)> = m
        .metrics
        .iter()
        .map(|s| {
            let get = |k: &str| {
                s.counts
                    .iter()
                    .find(|(n, _)| &**n == k)
                    .map(|(_, v)| *v)
                    .unwrap_or(-1)
            };
            (get("traverserCount"), get("elementCount"))
        })
        .collect();
    assert_eq!(counts, vec![(1, 1), (3, 3), (2, 2)]);
}

#[test]
fn profile_and_explain_answer_once_when_no_traverser_reaches_them() {
    let mut g = modern();
    // V('missing'): nothing reaches out() nor profile(); TinkerPop still answers one
    // TraversalMetrics with every step at zero.
    let got = run(
        &mut g,
        vec![
            ("V", vec![s("missing")]),
            ("out", vec![]),
            ("profile", vec![]),
        ],
    );
    assert_eq!(got.len(), 1, "{got:?}");
    let Some(Value::Metrics(m)) = got.first() else {
        panic!("{got:?}")
    };
    assert_eq!(m.metrics.len(), 2, "{m:?}");
    for step in &m.metrics {
        for (k, v) in &step.counts {
            assert_eq!(*v, 0, "{k} of {step:?}");
        }
    }
    let got = run(
        &mut g,
        vec![
            ("V", vec![s("missing")]),
            ("out", vec![]),
            ("explain", vec![]),
        ],
    );
    assert_eq!(got.len(), 1, "{got:?}");
    let Some(Value::String(t)) = got.first() else {
        panic!("{got:?}")
    };
    assert!(t.starts_with("Traversal Explanation\n"), "{t}");
    assert!(t.contains("VertexStep(OUT,[],vertex)"), "{t}");
    // A filter that drops every traverser before profile(): still one answer.
    let got = run(
        &mut g,
        vec![
            ("V", vec![]),
            ("hasLabel", vec![s("nope")]),
            ("profile", vec![]),
        ],
    );
    assert!(matches!(got.as_slice(), [Value::Metrics(_)]), "{got:?}");
}

#[test]
fn explain_has_tinkerpop_shape() {
    let mut g = modern();
    let got = run(
        &mut g,
        vec![("V", vec![]), ("out", vec![]), ("explain", vec![])],
    );
    let Some(Value::String(t)) = got.first() else {
        panic!("{got:?}")
    };
    assert!(t.starts_with("Traversal Explanation\n"), "{t}");
    assert!(t.contains("Original Traversal"), "{t}");
    assert!(t.contains("Final Traversal"), "{t}");
    assert!(!t.contains("Explain"), "{t}");
    assert!(
        t.contains("[GraphStep(vertex,[]), VertexStep(OUT,[],vertex)]"),
        "{t}"
    );
}

#[test]
fn has_with_a_label_compiles_to_two_plain_filters() {
    let mut g = modern();
    let got = run(
        &mut g,
        vec![
            ("V", vec![]),
            (
                "has",
                vec![
                    Value::str("person"),
                    Value::str("name"),
                    Value::str("marko"),
                ],
            ),
            ("explain", vec![]),
        ],
    );
    let Some(Value::String(t)) = got.first() else {
        panic!("{got:?}")
    };
    assert!(
        t.contains(
            "[GraphStep(vertex,[]), HasStep([~label.eq(person)]), HasStep([name.eq(marko)])]"
        ),
        "{t}"
    );
    let got = run(
        &mut g,
        vec![
            ("V", vec![]),
            (
                "has",
                vec![
                    Value::str("software"),
                    Value::str("name"),
                    Value::str("marko"),
                ],
            ),
            ("count", vec![]),
        ],
    );
    assert_eq!(got, vec![Value::Long(0)]);
}
