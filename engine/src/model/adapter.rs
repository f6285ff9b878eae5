//! gremlin's `Graph` trait over the graph model on ONE core, for a store whose futures are
//! ready at once (the in-memory [`MemKv`], or the query executor's per-query record cache,
//! `crate::exec`): each call blocks on the model's future. Over the real store the executor
//! runs it on that cache and fetches what an attempt missed (see `docs/graph-model.md`).

use std::sync::Arc;

use futures_lite::future::block_on;
use gremlin::graph::{Cardinality, Direction, Graph, Incident};
use gremlin::machine::services::ServiceRegistry;
use gremlin::value::{Edge, GraphData, Property, Value, Vertex, VertexProperty};
use gremlin::GremlinError;

use crate::model::keys::{Dir, ElementId, KeySpace};
use crate::model::kv::{Kv, MemKv};
use crate::model::ops::{Clock, EdgeView, Model};
use crate::model::records::VertexRecord;
use crate::model::{ModelConfig, ModelError};

/// The graph model of one named graph on one core, as a gremlin [`Graph`].
pub struct ModelGraph<K: Kv = MemKv> {
    pub model: Model<K>,
    /// Next generated id (as the reference graph: above every integer id seen).
    next_id: i64,
    /// Services `call()` reaches (none unless registered).
    services: Option<Arc<ServiceRegistry>>,
}

/// The gremlin error of a model error (user-facing ones keep TinkerPop's message).
pub(crate) fn to_gremlin(e: ModelError) -> GremlinError {
    match e {
        ModelError::VertexMissing(_)
        | ModelError::EdgeMissing(_)
        | ModelError::VertexExists(_)
        | ModelError::EdgeExists(_)
        | ModelError::InvalidId { .. } => GremlinError::runtime(e.to_string()),
        ModelError::Limit { limit, max } => GremlinError::LimitExceeded { limit, max },
        other => GremlinError::Graph(other.to_string()),
    }
}

/// The gremlin vertex of a record.
pub fn vertex_value(v: &VertexRecord) -> Vertex {
    Vertex {
        id: v.id.to_value(),
        label: v.label.clone(),
        properties: Some(
            v.props
                .iter()
                .map(|p| VertexProperty {
                    id: p.id.clone(),
                    key: p.key.clone(),
                    value: p.value.clone(),
                    properties: Some(p.meta.clone()),
                })
                .collect(),
        ),
    }
}

/// The gremlin edge of a model edge.
pub fn edge_value(e: &EdgeView) -> Edge {
    Edge {
        id: e.id.to_value(),
        label: e.label.clone(),
        out_v_id: e.out_id.to_value(),
        out_v_label: e.out_label.clone(),
        in_v_id: e.in_id.to_value(),
        in_v_label: e.in_label.clone(),
        properties: Some(e.props.clone()),
    }
}

impl ModelGraph<MemKv> {
    /// An empty graph `name` over a fresh in-memory store.
    pub fn in_memory(
        name: &str,
        cfg: ModelConfig,
        clock: Box<dyn Clock>,
    ) -> Result<ModelGraph<MemKv>, ModelError> {
        let model = Model::new(MemKv::new(), KeySpace::new(name)?, cfg, clock)?;
        Ok(ModelGraph {
            model,
            next_id: 0,
            services: None,
        })
    }
}

impl<K: Kv> ModelGraph<K> {
    /// A graph over an existing model.
    pub fn new(model: Model<K>) -> ModelGraph<K> {
        ModelGraph {
            model,
            next_id: 0,
            services: None,
        }
    }

    /// Loads `data` (ids, labels, multi- and meta-properties as given).
    pub fn load(&mut self, data: &GraphData) -> Result<(), GremlinError> {
        for v in &data.vertices {
            self.add_vertex(Some(v.id.clone()), &v.label)?;
            for p in v.properties.iter().flatten() {
                self.set_vertex_property(
                    &v.id,
                    Cardinality::List,
                    &p.key,
                    p.value.clone(),
                    Some(p.id.clone()),
                    p.properties.clone().unwrap_or_default(),
                )?;
            }
        }
        for e in &data.edges {
            self.add_edge(Some(e.id.clone()), &e.label, &e.out_v_id, &e.in_v_id)?;
            for p in e.properties.iter().flatten() {
                self.set_edge_property(&e.id, &p.key, p.value.clone())?;
            }
        }
        Ok(())
    }

    fn bump(&mut self, id: &Value) {
        if let Ok(ElementId::Int { value, .. }) = ElementId::from_value(id, "Element") {
            if value >= self.next_id {
                self.next_id = value.saturating_add(1);
            }
        }
    }

    fn fresh_id(&mut self) -> Value {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        Value::Long(id)
    }

    fn new_id(
        &mut self,
        id: Option<Value>,
        element: &'static str,
    ) -> Result<ElementId, GremlinError> {
        match id {
            Some(v) => {
                let e = ElementId::from_value(&v, element).map_err(to_gremlin)?;
                self.bump(&v);
                Ok(e)
            }
            None => {
                let v = self.fresh_id();
                ElementId::from_value(&v, element).map_err(to_gremlin)
            }
        }
    }
}

fn vid(v: &Value) -> Result<ElementId, GremlinError> {
    ElementId::from_value(v, "Vertex").map_err(to_gremlin)
}

fn eid(v: &Value) -> Result<ElementId, GremlinError> {
    ElementId::from_value(v, "Edge").map_err(to_gremlin)
}

impl<K: Kv> ModelGraph<K> {
    /// Registers the services `call()` reaches on this graph.
    pub fn set_services(&mut self, services: Arc<ServiceRegistry>) {
        self.services = Some(services);
    }
}

impl<K: Kv> Graph for ModelGraph<K> {
    fn services(&self) -> Option<Arc<ServiceRegistry>> {
        self.services.clone()
    }

    fn vertices(&self, ids: &[Value]) -> Result<Vec<Option<Arc<Vertex>>>, GremlinError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            // An id that cannot be an id names no vertex.
            let Ok(id) = ElementId::from_value(id, "Vertex") else {
                out.push(None);
                continue;
            };
            let v = block_on(self.model.vertex(&id)).map_err(to_gremlin)?;
            out.push(v.map(|v| Arc::new(vertex_value(&v))));
        }
        Ok(out)
    }

    fn edges(&self, ids: &[Value]) -> Result<Vec<Option<Arc<Edge>>>, GremlinError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Ok(id) = ElementId::from_value(id, "Edge") else {
                out.push(None);
                continue;
            };
            let e = block_on(self.model.edge(&id)).map_err(to_gremlin)?;
            out.push(e.map(|e| Arc::new(edge_value(&e))));
        }
        Ok(out)
    }

    fn incident(
        &self,
        ids: &[Value],
        direction: Direction,
        labels: &[Arc<str>],
    ) -> Result<Vec<Vec<Incident>>, GremlinError> {
        let dirs: &[Dir] = match direction {
            Direction::Out => &[Dir::Out],
            Direction::In => &[Dir::In],
            Direction::Both => &[Dir::Out, Dir::In],
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Ok(id) = ElementId::from_value(id, "Vertex") else {
                out.push(Vec::new());
                continue;
            };
            let edges =
                block_on(self.model.incident(&id, dirs, labels, &[])).map_err(to_gremlin)?;
            out.push(
                edges
                    .iter()
                    .map(|(d, e)| Incident {
                        edge: Arc::new(edge_value(e)),
                        direction: match d {
                            Dir::Out => Direction::Out,
                            Dir::In => Direction::In,
                        },
                    })
                    .collect(),
            );
        }
        Ok(out)
    }

    fn scan_vertex_ids(&self) -> Result<Vec<Value>, GremlinError> {
        let ids = block_on(self.model.scan_vertex_ids()).map_err(to_gremlin)?;
        Ok(ids.iter().map(ElementId::to_value).collect())
    }

    fn scan_edge_ids(&self) -> Result<Vec<Value>, GremlinError> {
        let ids = block_on(self.model.scan_edge_ids()).map_err(to_gremlin)?;
        Ok(ids.iter().map(ElementId::to_value).collect())
    }

    fn add_vertex(&mut self, id: Option<Value>, label: &str) -> Result<Arc<Vertex>, GremlinError> {
        let id = self.new_id(id, "Vertex")?;
        let v = block_on(self.model.add_vertex(id, label, 0)).map_err(to_gremlin)?;
        Ok(Arc::new(vertex_value(&v)))
    }

    fn add_edge(
        &mut self,
        id: Option<Value>,
        label: &str,
        out: &Value,
        in_: &Value,
    ) -> Result<Arc<Edge>, GremlinError> {
        let id = self.new_id(id, "Edge")?;
        let (out, in_) = (vid(out)?, vid(in_)?);
        let e = block_on(self.model.add_edge(id, label, &out, &in_, 0)).map_err(to_gremlin)?;
        Ok(Arc::new(edge_value(&e)))
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
        let v = vid(vertex)?;
        block_on(
            self.model
                .set_vertex_property(&v, cardinality, key, value, id, meta),
        )
        .map_err(to_gremlin)
    }

    fn set_edge_property(
        &mut self,
        edge: &Value,
        key: &str,
        value: Value,
    ) -> Result<(), GremlinError> {
        let e = eid(edge)?;
        block_on(self.model.set_edge_property(&e, key, value)).map_err(to_gremlin)
    }

    fn set_meta_property(
        &mut self,
        vertex: &Value,
        vp_id: &Value,
        key: &str,
        value: Value,
    ) -> Result<(), GremlinError> {
        let v = vid(vertex)?;
        block_on(self.model.set_meta_property(&v, vp_id, key, value)).map_err(to_gremlin)
    }

    fn drop_vertex(&mut self, id: &Value) -> Result<(), GremlinError> {
        let v = vid(id)?;
        block_on(self.model.drop_vertex(&v)).map_err(to_gremlin)
    }

    fn drop_edge(&mut self, id: &Value) -> Result<(), GremlinError> {
        let e = eid(id)?;
        block_on(self.model.drop_edge(&e)).map_err(to_gremlin)
    }

    fn drop_vertex_property(&mut self, vertex: &Value, vp_id: &Value) -> Result<(), GremlinError> {
        let v = vid(vertex)?;
        block_on(self.model.drop_vertex_property(&v, vp_id)).map_err(to_gremlin)
    }

    fn drop_edge_property(&mut self, edge: &Value, key: &str) -> Result<(), GremlinError> {
        let e = eid(edge)?;
        block_on(self.model.drop_edge_property(&e, key)).map_err(to_gremlin)
    }

    fn drop_meta_property(
        &mut self,
        vertex: &Value,
        vp_id: &Value,
        key: &str,
    ) -> Result<(), GremlinError> {
        let v = vid(vertex)?;
        block_on(self.model.drop_meta_property(&v, vp_id, key)).map_err(to_gremlin)
    }
}
