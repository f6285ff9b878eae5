//! The `call()` step's service registry: named services a graph offers (TinkerPop's
//! `ServiceRegistry`), how the machine runs them (start, streaming, barrier), and the two demo
//! services TinkerGraph registers (`tinker.search`, `tinker.degree.centrality`), which the
//! reference graph offers too.
//!
//! A graph exposes its registry through [`crate::graph::Graph::services`]; the engine registers
//! its own (admin) services the same way, by implementing [`Service`].

use std::sync::{Arc, OnceLock};

use indexmap::IndexMap;

use super::compile::{Arg, Trav};
use super::Traverser;
use crate::error::GremlinError;
use crate::graph::{Direction, Graph};
use crate::value::{Map, Value};

/// The built-in service that lists the registered ones (`g.call()` is `g.call("--list")`).
pub const LIST_SERVICE: &str = "--list";

/// How a service is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    /// At the start of a traversal (`g.call(...)`): no input, produces results.
    Start,
    /// Mid-traversal, once per incoming traverser.
    Streaming,
    /// Mid-traversal, once over all incoming traversers together.
    Barrier,
}

/// One result of a service call.
#[derive(Clone, Debug)]
pub struct ServiceItem {
    /// The object emitted.
    pub value: Value,
    /// The element a property result belongs to (what `element()` then yields).
    pub element: Option<Value>,
}

impl ServiceItem {
    /// A plain result.
    pub fn of(value: Value) -> ServiceItem {
        ServiceItem {
            value,
            element: None,
        }
    }
}

/// A named service callable with `call(name, params)`. Every method gets the merged
/// parameters: the static map, the `with(key, value)` options, then the map the dynamic
/// parameter traversal produced.
pub trait Service: Send + Sync {
    /// The name `call()` uses.
    fn name(&self) -> &str;
    /// Whether the service can run as `kind`.
    fn supports(&self, kind: ServiceKind) -> bool;
    /// Parameter names with a description of each (listed by `call("--list")` verbose).
    fn describe_params(&self) -> Map {
        Map::new()
    }
    /// Runs at the start of a traversal.
    fn start(
        &self,
        _graph: &mut dyn Graph,
        _params: &Map,
    ) -> Result<Vec<ServiceItem>, GremlinError> {
        Err(unsupported(self.name(), ServiceKind::Start))
    }
    /// Runs for one incoming object.
    fn stream(
        &self,
        _graph: &mut dyn Graph,
        _input: &Value,
        _params: &Map,
    ) -> Result<Vec<ServiceItem>, GremlinError> {
        Err(unsupported(self.name(), ServiceKind::Streaming))
    }
    /// Runs once over all incoming objects.
    fn barrier(
        &self,
        _graph: &mut dyn Graph,
        _inputs: &[Value],
        _params: &Map,
    ) -> Result<Vec<ServiceItem>, GremlinError> {
        Err(unsupported(self.name(), ServiceKind::Barrier))
    }
}

fn unsupported(name: &str, kind: ServiceKind) -> GremlinError {
    GremlinError::runtime(format!(
        "Service {name} does not support {} execution",
        match kind {
            ServiceKind::Start => "Start",
            ServiceKind::Streaming => "Streaming",
            ServiceKind::Barrier => "Barrier",
        }
    ))
}

/// The services one graph offers, by name, in registration order.
#[derive(Clone, Default)]
pub struct ServiceRegistry {
    services: IndexMap<Arc<str>, Arc<dyn Service>>,
}

impl std::fmt::Debug for ServiceRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.services.keys()).finish()
    }
}

impl ServiceRegistry {
    /// An empty registry.
    pub fn new() -> ServiceRegistry {
        ServiceRegistry::default()
    }

    /// Registers (or replaces) a service under its name.
    pub fn register(&mut self, service: Arc<dyn Service>) {
        self.services.insert(Arc::from(service.name()), service);
    }

    /// The service called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Service>> {
        self.services.get(name)
    }

    /// Names of the registered services, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &Arc<str>> {
        self.services.keys()
    }

    /// TinkerGraph's demo services, as TinkerGraph registers them (shared instance).
    pub fn tinker_demo() -> Arc<ServiceRegistry> {
        static DEMO: OnceLock<Arc<ServiceRegistry>> = OnceLock::new();
        DEMO.get_or_init(|| {
            let mut r = ServiceRegistry::new();
            r.register(Arc::new(TextSearch));
            r.register(Arc::new(DegreeCentrality));
            Arc::new(r)
        })
        .clone()
    }
}

/// A compiled `call(...)` step with its `with()` options.
#[derive(Clone, Debug, Default)]
pub struct CallSpec {
    /// The service name; `None` means `--list`.
    pub service: Option<Arc<str>>,
    /// The static parameter map.
    pub params: Map,
    /// `with(key, value)` options (values may be traversals, evaluated per traverser).
    pub options: Vec<(Value, Arg)>,
    /// The dynamic parameter traversal (must produce a map).
    pub dynamic: Option<Trav>,
}

/// The names `call("--list")` answers, filtered by its `service` parameter.
pub(crate) fn list(registry: Option<&ServiceRegistry>, params: &Map) -> Vec<ServiceItem> {
    let Some(r) = registry else {
        return Vec::new();
    };
    let only = params.get(&Value::str("service"));
    let verbose = matches!(params.get(&Value::str("verbose")), Some(Value::Bool(true)));
    let mut out = Vec::new();
    for (name, s) in &r.services {
        if let Some(o) = only {
            if !matches!(o, Value::String(x) if x == name) {
                continue;
            }
        }
        if verbose {
            let mut kinds = Vec::new();
            for (k, n) in [
                (ServiceKind::Start, "Start"),
                (ServiceKind::Streaming, "Streaming"),
                (ServiceKind::Barrier, "Barrier"),
            ] {
                if s.supports(k) {
                    kinds.push(Value::str(n));
                }
            }
            let mut d = Map::new();
            d.insert(Value::str("name"), Value::String(name.clone()));
            d.insert(Value::str("type:[requirements]"), Value::List(kinds));
            d.insert(Value::str("params"), Value::Map(s.describe_params()));
            out.push(ServiceItem::of(Value::Map(d)));
        } else {
            out.push(ServiceItem::of(Value::String(name.clone())));
        }
    }
    out
}

/// `tinker.search`: properties whose string value contains the `search` text; `type` picks
/// `Vertex` (default), `Edge` or `VertexProperty` (meta-properties). Start only.
struct TextSearch;

impl Service for TextSearch {
    fn name(&self) -> &str {
        "tinker.search"
    }

    fn supports(&self, kind: ServiceKind) -> bool {
        kind == ServiceKind::Start
    }

    fn describe_params(&self) -> Map {
        let mut m = Map::new();
        m.insert(
            Value::str("search"),
            Value::str("Specify the search string for the search service"),
        );
        m.insert(
            Value::str("type"),
            Value::str(
                "Specify the Element type for the search service (Vertex, Edge, VertexProperty)",
            ),
        );
        m
    }

    fn start(&self, graph: &mut dyn Graph, params: &Map) -> Result<Vec<ServiceItem>, GremlinError> {
        let search = match params.get(&Value::str("search")) {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(GremlinError::runtime(
                    "tinker.search requires a String 'search' parameter",
                ))
            }
        };
        let kind = match params.get(&Value::str("type")) {
            None | Some(Value::Null) => Arc::from("Vertex"),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(GremlinError::runtime(format!(
                    "tinker.search: type must be Vertex, Edge or VertexProperty, got {}",
                    other.type_name()
                )))
            }
        };
        let hit = |v: &Value| matches!(v, Value::String(s) if s.contains(&*search));
        let mut out = Vec::new();
        match &*kind {
            "Vertex" | "VertexProperty" => {
                let ids = graph.scan_vertex_ids()?;
                for v in graph.vertices(&ids)?.into_iter().flatten() {
                    for p in v.properties.iter().flatten() {
                        if kind.as_ref() == "Vertex" {
                            if hit(&p.value) {
                                out.push(ServiceItem {
                                    value: Value::VertexProperty(Arc::new(p.clone())),
                                    element: Some(Value::Vertex(v.clone())),
                                });
                            }
                            continue;
                        }
                        let vp = Value::VertexProperty(Arc::new(p.clone()));
                        for m in p.properties.iter().flatten() {
                            if hit(&m.value) {
                                out.push(ServiceItem {
                                    value: Value::Property(Arc::new(m.clone())),
                                    element: Some(vp.clone()),
                                });
                            }
                        }
                    }
                }
            }
            "Edge" => {
                let ids = graph.scan_edge_ids()?;
                for e in graph.edges(&ids)?.into_iter().flatten() {
                    for p in e.properties.iter().flatten() {
                        if hit(&p.value) {
                            out.push(ServiceItem {
                                value: Value::Property(Arc::new(p.clone())),
                                element: Some(Value::Edge(e.clone())),
                            });
                        }
                    }
                }
            }
            other => {
                return Err(GremlinError::runtime(format!(
                    "tinker.search: type must be Vertex, Edge or VertexProperty, got {other}"
                )))
            }
        }
        Ok(out)
    }
}

/// `tinker.degree.centrality`: the number of edges of each incoming vertex in `direction`
/// (`IN` by default), as a Long. Streaming, or barrier (one map vertex -> degree).
struct DegreeCentrality;

impl DegreeCentrality {
    fn direction(params: &Map) -> Result<Direction, GremlinError> {
        let name = match params.get(&Value::str("direction")) {
            None | Some(Value::Null) => return Ok(Direction::In),
            Some(Value::Enum(e)) => e.name.clone(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(GremlinError::runtime(format!(
                    "tinker.degree.centrality: direction must be a Direction, got {}",
                    other.type_name()
                )))
            }
        };
        match &*name {
            "OUT" | "out" | "from" => Ok(Direction::Out),
            "IN" | "in" | "to" => Ok(Direction::In),
            "BOTH" | "both" => Ok(Direction::Both),
            other => Err(GremlinError::runtime(format!(
                "tinker.degree.centrality: unknown direction {other}"
            ))),
        }
    }

    fn degrees(
        graph: &mut dyn Graph,
        inputs: &[Value],
        params: &Map,
    ) -> Result<Vec<i64>, GremlinError> {
        let dir = Self::direction(params)?;
        let mut ids = Vec::with_capacity(inputs.len());
        for v in inputs {
            match v {
                Value::Vertex(v) => ids.push(v.id.clone()),
                other => {
                    return Err(GremlinError::runtime(format!(
                        "tinker.degree.centrality expects a Vertex, got {}",
                        other.type_name()
                    )))
                }
            }
        }
        let inc = graph.incident(&ids, dir, &[])?;
        Ok(inc
            .iter()
            .map(|l| i64::try_from(l.len()).unwrap_or(i64::MAX))
            .collect())
    }
}

impl Service for DegreeCentrality {
    fn name(&self) -> &str {
        "tinker.degree.centrality"
    }

    fn supports(&self, kind: ServiceKind) -> bool {
        matches!(kind, ServiceKind::Streaming | ServiceKind::Barrier)
    }

    fn describe_params(&self) -> Map {
        let mut m = Map::new();
        m.insert(
            Value::str("direction"),
            Value::str("Specify the direction of the edges counted (default IN)"),
        );
        m
    }

    fn stream(
        &self,
        graph: &mut dyn Graph,
        input: &Value,
        params: &Map,
    ) -> Result<Vec<ServiceItem>, GremlinError> {
        let d = Self::degrees(graph, std::slice::from_ref(input), params)?;
        Ok(d.into_iter()
            .map(|n| ServiceItem::of(Value::Long(n)))
            .collect())
    }

    fn barrier(
        &self,
        graph: &mut dyn Graph,
        inputs: &[Value],
        params: &Map,
    ) -> Result<Vec<ServiceItem>, GremlinError> {
        let d = Self::degrees(graph, inputs, params)?;
        let mut m = Map::new();
        for (v, n) in inputs.iter().zip(d) {
            m.insert(v.clone(), Value::Long(n));
        }
        Ok(vec![ServiceItem::of(Value::Map(m))])
    }
}

impl<G: Graph> super::exec::Ctx<'_, G> {
    /// The parameters of one call for traverser `t`: static map, `with()` options, then the
    /// dynamic traversal's map.
    fn call_params(&mut self, spec: &CallSpec, t: &Traverser) -> Result<Map, GremlinError> {
        let mut params = spec.params.clone();
        for (k, a) in &spec.options {
            let v = self.arg_value(a, t)?;
            params.insert(k.clone(), v);
        }
        if let Some(d) = &spec.dynamic {
            match self.arg_value(&Arg::Trav(d.clone()), t)? {
                Value::Map(m) => params.extend(m),
                Value::Null => {}
                other => {
                    return Err(GremlinError::runtime(format!(
                        "The parameter traversal of call() must produce a Map, got {}",
                        other.type_name()
                    )))
                }
            }
        }
        Ok(params)
    }

    /// Runs a `call()` step: `--list`, or a registered service as start (on the seed
    /// traverser), streaming (per traverser) or barrier (over all) step.
    pub(crate) fn call_step(
        &mut self,
        spec: &CallSpec,
        trs: Vec<Traverser>,
    ) -> Result<Vec<Traverser>, GremlinError> {
        let registry = self.g.services();
        let name = spec.service.as_deref().unwrap_or(LIST_SERVICE);
        let mut out = Vec::new();
        if name == LIST_SERVICE {
            for t in &trs {
                let params = self.call_params(spec, t)?;
                for item in list(registry.as_deref(), &params) {
                    out.push(self.emit(t, item));
                }
            }
            return Ok(out);
        }
        let service = registry
            .as_deref()
            .and_then(|r| r.get(name))
            .cloned()
            .ok_or_else(|| GremlinError::runtime(format!("Service not found: {name}")))?;
        let seeded = trs.iter().any(|t| t.seed);
        if seeded
            || !(service.supports(ServiceKind::Streaming) || service.supports(ServiceKind::Barrier))
        {
            if !service.supports(ServiceKind::Start) {
                return Err(unsupported(name, ServiceKind::Start));
            }
            if !seeded {
                return Err(GremlinError::runtime(format!(
                    "Service {name} can only run at the start of a traversal"
                )));
            }
            for t in &trs {
                let params = self.call_params(spec, t)?;
                let items = service.start(&mut *self.g, &params)?;
                self.check_items(items.len())?;
                for item in items {
                    out.push(self.emit(t, item));
                }
            }
        } else if service.supports(ServiceKind::Streaming) {
            for t in &trs {
                let params = self.call_params(spec, t)?;
                let items = service.stream(&mut *self.g, &t.value, &params)?;
                self.check_items(items.len())?;
                for item in items {
                    out.push(self.emit(t, item));
                }
            }
        } else {
            let Some(first) = trs.first() else {
                return Ok(out);
            };
            let params = self.call_params(spec, first)?;
            let mut inputs = Vec::new();
            for t in &trs {
                let n = usize::try_from(t.bulk).unwrap_or(0);
                self.check_items(inputs.len().saturating_add(n))?;
                inputs.extend(std::iter::repeat_n(t.value.clone(), n));
            }
            let items = service.barrier(&mut *self.g, &inputs, &params)?;
            self.check_items(items.len())?;
            for item in items {
                let mut n = self.born(item.value);
                n.parent = item.element;
                out.push(n);
            }
        }
        Ok(out)
    }

    fn emit(&self, t: &Traverser, item: ServiceItem) -> Traverser {
        let mut n = self.gen(t, item.value);
        n.parent = item.element;
        n
    }

    fn check_items(&self, n: usize) -> Result<(), GremlinError> {
        if n as u64 > self.m.limits.barrier_items_max {
            return Err(GremlinError::LimitExceeded {
                limit: "barrier_items_max",
                max: self.m.limits.barrier_items_max,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytecode::Bytecode;
    use crate::machine::execute;
    use crate::machine::tests::modern;

    /// A service registered from outside: barrier-capable, counts its inputs.
    struct CountInputs;

    impl Service for CountInputs {
        fn name(&self) -> &str {
            "test.count"
        }
        fn supports(&self, kind: ServiceKind) -> bool {
            kind == ServiceKind::Barrier
        }
        fn barrier(
            &self,
            _graph: &mut dyn Graph,
            inputs: &[Value],
            params: &Map,
        ) -> Result<Vec<ServiceItem>, GremlinError> {
            let extra = match params.get(&Value::str("plus")) {
                Some(Value::Long(n)) => *n,
                _ => 0,
            };
            Ok(vec![ServiceItem::of(Value::Long(
                inputs.len() as i64 + extra,
            ))])
        }
    }

    #[test]
    fn registered_services_run_as_barrier_and_are_listed() {
        let mut g = modern();
        let mut r = ServiceRegistry::new();
        r.register(Arc::new(CountInputs));
        g.set_services(Arc::new(r));
        let bc = Bytecode::default()
            .step("V", vec![])
            .step("call", vec![Value::str("test.count")])
            .step("with", vec![Value::str("plus"), Value::Long(10)]);
        assert_eq!(execute(&mut g, &bc).ok(), Some(vec![Value::Long(16)]));
        let list = Bytecode::default().step("call", vec![]);
        assert_eq!(
            execute(&mut g, &list).ok(),
            Some(vec![Value::str("test.count")])
        );
        // the demo services are gone with the replaced registry
        let search = Bytecode::default().step("call", vec![Value::str("tinker.search")]);
        let err = execute(&mut g, &search).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("Service not found: tinker.search")));
    }

    #[test]
    fn start_only_service_refuses_mid_traversal_and_search_needs_its_parameter() {
        let mut g = modern();
        let bc = Bytecode::default()
            .step("V", vec![])
            .step("call", vec![Value::str("tinker.search")]);
        assert!(execute(&mut g, &bc).is_err());
        let bc = Bytecode::default().step("call", vec![Value::str("tinker.search")]);
        let err = execute(&mut g, &bc).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("'search'")));
    }
}
