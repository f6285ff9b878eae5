//! The in-memory reference graph: the oracle the sharded store is tested against. One owner;
//! insertion-ordered; integer ids of any width are one key, strings never equal numbers.

use std::sync::Arc;

use indexmap::IndexMap;

use crate::error::GremlinError;
use crate::graph::{Cardinality, Direction, Graph, Incident};
use crate::machine::services::ServiceRegistry;
use crate::value::{Edge, GraphData, Property, Value, Vertex, VertexProperty};

/// An id as a map key: every integer width is one key; any other value keys by itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IdKey {
    Int(i64),
    Other(Value),
}

impl IdKey {
    /// The key for an id value (elements key by their own id).
    pub fn of(v: &Value) -> IdKey {
        match v {
            Value::Byte(x) => IdKey::Int(i64::from(*x)),
            Value::Short(x) => IdKey::Int(i64::from(*x)),
            Value::Int(x) => IdKey::Int(i64::from(*x)),
            Value::Long(x) => IdKey::Int(*x),
            Value::Vertex(v) => IdKey::of(&v.id),
            Value::Edge(e) => IdKey::of(&e.id),
            Value::VertexProperty(p) => IdKey::of(&p.id),
            other => IdKey::Other(other.clone()),
        }
    }
}

#[derive(Clone, Debug)]
struct VRec {
    vertex: Arc<Vertex>,
    out: Vec<IdKey>,
    in_: Vec<IdKey>,
}

/// The in-memory reference graph.
#[derive(Clone, Debug, Default)]
pub struct RefGraph {
    vertices: IndexMap<IdKey, VRec>,
    edges: IndexMap<IdKey, Arc<Edge>>,
    next_id: i64,
    /// Services for `call()`; `None` means TinkerGraph's demo services.
    services: Option<Arc<ServiceRegistry>>,
}

fn vertex_missing(id: &Value) -> GremlinError {
    GremlinError::runtime(format!("Vertex with id {} does not exist", show_id(id)))
}

fn show_id(id: &Value) -> String {
    match id {
        Value::String(s) => s.to_string(),
        Value::Int(x) => x.to_string(),
        Value::Long(x) => x.to_string(),
        Value::Short(x) => x.to_string(),
        Value::Byte(x) => x.to_string(),
        Value::Uuid(u) => u.to_string(),
        other => format!("{other:?}"),
    }
}

/// Whether a value may be a user-supplied element id.
fn valid_id(id: &Value) -> bool {
    matches!(
        id,
        Value::Byte(_)
            | Value::Short(_)
            | Value::Int(_)
            | Value::Long(_)
            | Value::String(_)
            | Value::Uuid(_)
    )
}

impl RefGraph {
    /// Replaces the services `call()` runs (TinkerGraph's demo services by default).
    pub fn set_services(&mut self, services: Arc<ServiceRegistry>) {
        self.services = Some(services);
    }

    /// An empty graph.
    pub fn new() -> RefGraph {
        RefGraph::default()
    }

    /// A graph holding `data` (ids, labels, multi- and meta-properties kept as given).
    pub fn from_graph_data(data: &GraphData) -> Result<RefGraph, GremlinError> {
        let mut g = RefGraph::new();
        for v in &data.vertices {
            g.bump(&v.id);
            let key = IdKey::of(&v.id);
            if g.vertices.contains_key(&key) {
                return Err(GremlinError::Graph(format!(
                    "Vertex with id already exists: {}",
                    show_id(&v.id)
                )));
            }
            let props = v.properties.clone().unwrap_or_default();
            for p in &props {
                g.bump(&p.id);
            }
            let vertex = Vertex {
                id: v.id.clone(),
                label: v.label.clone(),
                properties: Some(props),
            };
            g.vertices.insert(
                key,
                VRec {
                    vertex: Arc::new(vertex),
                    out: Vec::new(),
                    in_: Vec::new(),
                },
            );
        }
        for e in &data.edges {
            g.bump(&e.id);
            let edge = g.add_edge(Some(e.id.clone()), &e.label, &e.out_v_id, &e.in_v_id)?;
            if let Some(props) = &e.properties {
                for p in props {
                    g.set_edge_property(&edge.id, &p.key, p.value.clone())?;
                }
            }
        }
        Ok(g)
    }

    /// Number of vertices.
    pub fn vertex_count(&self) -> usize {
        self.vertices.len()
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// The whole graph as data (e.g. for `subgraph` or export).
    pub fn to_graph_data(&self) -> GraphData {
        GraphData {
            vertices: self
                .vertices
                .values()
                .map(|r| (*r.vertex).clone())
                .collect(),
            edges: self.edges.values().map(|e| (**e).clone()).collect(),
        }
    }

    fn bump(&mut self, id: &Value) {
        if let IdKey::Int(x) = IdKey::of(id) {
            if x >= self.next_id {
                self.next_id = x.saturating_add(1);
            }
        }
    }

    fn fresh_id(&mut self) -> Value {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        Value::Long(id)
    }

    fn vrec_mut(&mut self, id: &Value) -> Result<&mut VRec, GremlinError> {
        self.vertices
            .get_mut(&IdKey::of(id))
            .ok_or_else(|| vertex_missing(id))
    }
}

impl Graph for RefGraph {
    /// The reference graph emulates TinkerGraph's numeric id managers (the feature suite's
    /// graphs): `g.V("1")` finds the vertex with id `1`.
    fn string_ids_spell_numbers(&self) -> bool {
        true
    }

    fn services(&self) -> Option<Arc<ServiceRegistry>> {
        Some(
            self.services
                .clone()
                .unwrap_or_else(ServiceRegistry::tinker_demo),
        )
    }

    fn vertices(&self, ids: &[Value]) -> Result<Vec<Option<Arc<Vertex>>>, GremlinError> {
        Ok(ids
            .iter()
            .map(|id| self.vertices.get(&IdKey::of(id)).map(|r| r.vertex.clone()))
            .collect())
    }

    fn edges(&self, ids: &[Value]) -> Result<Vec<Option<Arc<Edge>>>, GremlinError> {
        Ok(ids
            .iter()
            .map(|id| self.edges.get(&IdKey::of(id)).cloned())
            .collect())
    }

    fn incident(
        &self,
        ids: &[Value],
        direction: Direction,
        labels: &[Arc<str>],
    ) -> Result<Vec<Vec<Incident>>, GremlinError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let mut list = Vec::new();
            if let Some(r) = self.vertices.get(&IdKey::of(id)) {
                let mut push = |keys: &[IdKey], d: Direction| {
                    for k in keys {
                        if let Some(e) = self.edges.get(k) {
                            if labels.is_empty() || labels.iter().any(|l| *l == e.label) {
                                list.push(Incident {
                                    edge: e.clone(),
                                    direction: d,
                                });
                            }
                        }
                    }
                };
                if matches!(direction, Direction::Out | Direction::Both) {
                    push(&r.out, Direction::Out);
                }
                if matches!(direction, Direction::In | Direction::Both) {
                    push(&r.in_, Direction::In);
                }
            }
            out.push(list);
        }
        Ok(out)
    }

    fn scan_vertex_ids(&self) -> Result<Vec<Value>, GremlinError> {
        Ok(self
            .vertices
            .values()
            .map(|r| r.vertex.id.clone())
            .collect())
    }

    fn scan_edge_ids(&self) -> Result<Vec<Value>, GremlinError> {
        Ok(self.edges.values().map(|e| e.id.clone()).collect())
    }

    fn add_vertex(&mut self, id: Option<Value>, label: &str) -> Result<Arc<Vertex>, GremlinError> {
        let id = match id {
            Some(id) if !valid_id(&id) => {
                return Err(GremlinError::runtime(format!(
                    "Vertex id type not supported: {}",
                    id.type_name()
                )))
            }
            Some(id) => {
                self.bump(&id);
                id
            }
            None => self.fresh_id(),
        };
        let key = IdKey::of(&id);
        if self.vertices.contains_key(&key) {
            return Err(GremlinError::runtime(format!(
                "Vertex with id already exists: {}",
                show_id(&id)
            )));
        }
        let v = Arc::new(Vertex {
            id,
            label: Arc::from(label),
            properties: Some(Vec::new()),
        });
        self.vertices.insert(
            key,
            VRec {
                vertex: v.clone(),
                out: Vec::new(),
                in_: Vec::new(),
            },
        );
        Ok(v)
    }

    fn add_edge(
        &mut self,
        id: Option<Value>,
        label: &str,
        out: &Value,
        in_: &Value,
    ) -> Result<Arc<Edge>, GremlinError> {
        let id = match id {
            Some(id) if !valid_id(&id) => {
                return Err(GremlinError::runtime(format!(
                    "Edge id type not supported: {}",
                    id.type_name()
                )))
            }
            Some(id) => {
                self.bump(&id);
                id
            }
            None => self.fresh_id(),
        };
        let key = IdKey::of(&id);
        if self.edges.contains_key(&key) {
            return Err(GremlinError::runtime(format!(
                "Edge with id already exists: {}",
                show_id(&id)
            )));
        }
        let (ok, ik) = (IdKey::of(out), IdKey::of(in_));
        let out_v = self.vertices.get(&ok).ok_or_else(|| vertex_missing(out))?;
        let in_v = self.vertices.get(&ik).ok_or_else(|| vertex_missing(in_))?;
        let e = Arc::new(Edge {
            id,
            label: Arc::from(label),
            out_v_id: out_v.vertex.id.clone(),
            out_v_label: out_v.vertex.label.clone(),
            in_v_id: in_v.vertex.id.clone(),
            in_v_label: in_v.vertex.label.clone(),
            properties: Some(Vec::new()),
        });
        self.edges.insert(key.clone(), e.clone());
        if let Some(r) = self.vertices.get_mut(&ok) {
            r.out.push(key.clone());
        }
        if let Some(r) = self.vertices.get_mut(&ik) {
            r.in_.push(key);
        }
        Ok(e)
    }

    fn set_vertex_property(
        &mut self,
        vertex: &Value,
        cardinality: Cardinality,
        key: &str,
        value: Value,
        id: Option<Value>,
        meta: Vec<Property>,
    ) -> Result<Value, GremlinError> {
        let id = match id {
            Some(id) => {
                self.bump(&id);
                id
            }
            None => self.fresh_id(),
        };
        let r = self.vrec_mut(vertex)?;
        let v = Arc::make_mut(&mut r.vertex);
        let props = v.properties.get_or_insert_with(Vec::new);
        match cardinality {
            Cardinality::Single => props.retain(|p| &*p.key != key),
            Cardinality::Set => {
                if let Some(p) = props
                    .iter_mut()
                    .find(|p| &*p.key == key && p.value == value)
                {
                    // Java: an equal value is not added again; meta-properties still apply.
                    let metas = p.properties.get_or_insert_with(Vec::new);
                    for m in meta {
                        metas.retain(|x| x.key != m.key);
                        metas.push(m);
                    }
                    return Ok(p.id.clone());
                }
            }
            Cardinality::List => {}
        }
        props.push(VertexProperty {
            id: id.clone(),
            key: Arc::from(key),
            value,
            properties: Some(meta),
        });
        Ok(id)
    }

    fn set_edge_property(
        &mut self,
        edge: &Value,
        key: &str,
        value: Value,
    ) -> Result<(), GremlinError> {
        let e = self.edges.get_mut(&IdKey::of(edge)).ok_or_else(|| {
            GremlinError::runtime(format!("Edge with id {} does not exist", show_id(edge)))
        })?;
        let e = Arc::make_mut(e);
        let props = e.properties.get_or_insert_with(Vec::new);
        if let Some(p) = props.iter_mut().find(|p| &*p.key == key) {
            p.value = value;
        } else {
            props.push(Property {
                key: Arc::from(key),
                value,
            });
        }
        Ok(())
    }

    fn set_meta_property(
        &mut self,
        vertex: &Value,
        vp_id: &Value,
        key: &str,
        value: Value,
    ) -> Result<(), GremlinError> {
        let r = self.vrec_mut(vertex)?;
        let v = Arc::make_mut(&mut r.vertex);
        let want = IdKey::of(vp_id);
        if let Some(p) = v
            .properties
            .get_or_insert_with(Vec::new)
            .iter_mut()
            .find(|p| IdKey::of(&p.id) == want)
        {
            let metas = p.properties.get_or_insert_with(Vec::new);
            if let Some(m) = metas.iter_mut().find(|m| &*m.key == key) {
                m.value = value;
            } else {
                metas.push(Property {
                    key: Arc::from(key),
                    value,
                });
            }
        }
        Ok(())
    }

    fn drop_vertex(&mut self, id: &Value) -> Result<(), GremlinError> {
        let Some(r) = self.vertices.shift_remove(&IdKey::of(id)) else {
            return Ok(());
        };
        for k in r.out.iter().chain(r.in_.iter()) {
            if let Some(e) = self.edges.shift_remove(k) {
                for end in [&e.out_v_id, &e.in_v_id] {
                    if let Some(o) = self.vertices.get_mut(&IdKey::of(end)) {
                        o.out.retain(|x| x != k);
                        o.in_.retain(|x| x != k);
                    }
                }
            }
        }
        Ok(())
    }

    fn drop_edge(&mut self, id: &Value) -> Result<(), GremlinError> {
        let k = IdKey::of(id);
        if let Some(e) = self.edges.shift_remove(&k) {
            for end in [&e.out_v_id, &e.in_v_id] {
                if let Some(o) = self.vertices.get_mut(&IdKey::of(end)) {
                    o.out.retain(|x| *x != k);
                    o.in_.retain(|x| *x != k);
                }
            }
        }
        Ok(())
    }

    fn drop_vertex_property(&mut self, vertex: &Value, vp_id: &Value) -> Result<(), GremlinError> {
        if let Some(r) = self.vertices.get_mut(&IdKey::of(vertex)) {
            let want = IdKey::of(vp_id);
            let v = Arc::make_mut(&mut r.vertex);
            if let Some(props) = v.properties.as_mut() {
                props.retain(|p| IdKey::of(&p.id) != want);
            }
        }
        Ok(())
    }

    fn drop_edge_property(&mut self, edge: &Value, key: &str) -> Result<(), GremlinError> {
        if let Some(e) = self.edges.get_mut(&IdKey::of(edge)) {
            let e = Arc::make_mut(e);
            if let Some(props) = e.properties.as_mut() {
                props.retain(|p| &*p.key != key);
            }
        }
        Ok(())
    }

    fn drop_meta_property(
        &mut self,
        vertex: &Value,
        vp_id: &Value,
        key: &str,
    ) -> Result<(), GremlinError> {
        if let Some(r) = self.vertices.get_mut(&IdKey::of(vertex)) {
            let want = IdKey::of(vp_id);
            let v = Arc::make_mut(&mut r.vertex);
            for p in v.properties.iter_mut().flatten() {
                if IdKey::of(&p.id) == want {
                    if let Some(m) = p.properties.as_mut() {
                        m.retain(|m| &*m.key != key);
                    }
                }
            }
        }
        Ok(())
    }
}
