//! The `Graph` one executor attempt runs the step machine against: the one-core adapter
//! ([`ModelGraph`]) over the query's record cache, which fails fast once the attempt is
//! blocked (out of reserved ids, or a limit hit), hands out generated ids reserved by the
//! executor, and logs every
//! mutation with its resolved arguments so that the executor can replay it on the real store.

use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use gremlin::graph::{Cardinality, Direction, Graph, Incident, Owner};
use gremlin::machine::services::ServiceRegistry;
use gremlin::value::{Edge, Property, Value, Vertex};
use gremlin::GremlinError;

use crate::exec::cache::{CacheKv, QueryCache};
use crate::model::adapter::{edge_value, to_gremlin, vertex_value, ModelGraph};
use crate::model::keys::ElementId;
use crate::model::ops::{Model, ID_COLLISIONS_MAX};
use crate::model::ModelError;

/// The message of the error a blocked attempt's graph calls return (never seen by clients:
/// the executor fetches what was missing and runs the attempt again).
pub const RETRY_MESSAGE: &str = "records not fetched yet (the executor fetches and retries)";

/// One mutation of a traversal, with every argument resolved (generated ids included).
#[derive(Clone, Debug, PartialEq)]
pub enum WriteOp {
    AddVertex {
        id: ElementId,
        label: Arc<str>,
    },
    AddEdge {
        id: ElementId,
        label: Arc<str>,
        out: ElementId,
        in_: ElementId,
    },
    SetVertexProperty {
        vertex: ElementId,
        cardinality: Cardinality,
        key: Arc<str>,
        value: Value,
        id: Value,
        meta: Vec<Property>,
    },
    SetEdgeProperty {
        edge: ElementId,
        key: Arc<str>,
        value: Value,
    },
    SetMetaProperty {
        vertex: ElementId,
        vp_id: Value,
        key: Arc<str>,
        value: Value,
    },
    DropVertex(ElementId),
    DropEdge(ElementId),
    DropVertexProperty {
        vertex: ElementId,
        vp_id: Value,
    },
    DropEdgeProperty {
        edge: ElementId,
        key: Arc<str>,
    },
    DropMetaProperty {
        vertex: ElementId,
        vp_id: Value,
        key: Arc<str>,
    },
}

impl WriteOp {
    /// A short name for error messages.
    pub fn name(&self) -> String {
        match self {
            WriteOp::AddVertex { id, .. } => format!("add vertex {id}"),
            WriteOp::AddEdge { id, .. } => format!("add edge {id}"),
            WriteOp::SetVertexProperty { vertex, key, .. } => {
                format!("set property {key} of vertex {vertex}")
            }
            WriteOp::SetEdgeProperty { edge, key, .. } => {
                format!("set property {key} of edge {edge}")
            }
            WriteOp::SetMetaProperty { vertex, key, .. } => {
                format!("set meta-property {key} on vertex {vertex}")
            }
            WriteOp::DropVertex(id) => format!("drop vertex {id}"),
            WriteOp::DropEdge(id) => format!("drop edge {id}"),
            WriteOp::DropVertexProperty { vertex, .. } => {
                format!("drop a property of vertex {vertex}")
            }
            WriteOp::DropEdgeProperty { edge, key } => {
                format!("drop property {key} of edge {edge}")
            }
            WriteOp::DropMetaProperty { vertex, key, .. } => {
                format!("drop meta-property {key} on vertex {vertex}")
            }
        }
    }
}

/// Generated ids a query holds (taken from the executor's reserved pool); each attempt
/// starts again at the first.
#[derive(Debug, Default)]
pub(crate) struct IdList {
    pub ids: Vec<ElementId>,
    /// Ids the current attempt has used.
    pub used: usize,
    /// Whether the last attempt's writes were (being) replayed, so its ids may be in the
    /// store.
    pub committed: bool,
}

/// Runs a future of the cached model, which is always ready at once.
fn ready<T>(f: impl Future<Output = Result<T, ModelError>>) -> Result<T, ModelError> {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(ModelError::Config(
            "executor: a cached model operation did not complete at once".to_string(),
        )),
    }
}

/// The graph of one attempt.
pub(crate) struct AttemptGraph<'a> {
    inner: ModelGraph<CacheKv>,
    /// The store's secondary indexes (for `explain()`'s start line).
    pub(crate) indexes: Option<Rc<crate::index::CoreIndexes>>,
    cache: Rc<QueryCache>,
    ids: &'a mut IdList,
    log: Vec<WriteOp>,
    writes_max: usize,
}

fn vid(v: &Value) -> Result<ElementId, GremlinError> {
    ElementId::from_value(v, "Vertex").map_err(to_gremlin)
}

fn eid(v: &Value) -> Result<ElementId, GremlinError> {
    ElementId::from_value(v, "Edge").map_err(to_gremlin)
}

impl<'a> AttemptGraph<'a> {
    pub fn new(
        model: Model<CacheKv>,
        services: Option<Arc<ServiceRegistry>>,
        cache: Rc<QueryCache>,
        ids: &'a mut IdList,
        writes_max: usize,
    ) -> AttemptGraph<'a> {
        ids.used = 0;
        let mut inner = ModelGraph::new(model);
        if let Some(s) = services {
            inner.set_services(s);
        }
        AttemptGraph {
            inner,
            indexes: None,
            cache,
            ids,
            log: Vec::new(),
            writes_max,
        }
    }

    /// The mutations of the attempt, in order.
    pub fn into_log(self) -> Vec<WriteOp> {
        self.log
    }

    fn go(&self) -> Result<(), GremlinError> {
        if self.cache.blocked() {
            Err(GremlinError::Graph(RETRY_MESSAGE.to_string()))
        } else {
            Ok(())
        }
    }

    fn record(&mut self, op: WriteOp) -> Result<(), GremlinError> {
        if self.log.len() >= self.writes_max {
            let max = self.writes_max as u64;
            self.cache.hit_limit("QUERY_WRITES_MAX", max);
            return Err(GremlinError::LimitExceeded {
                limit: "QUERY_WRITES_MAX",
                max,
            });
        }
        self.log.push(op);
        Ok(())
    }

    fn take_id(&mut self) -> Result<ElementId, GremlinError> {
        match self.ids.ids.get(self.ids.used) {
            Some(id) => {
                self.ids.used += 1;
                Ok(id.clone())
            }
            None => {
                self.cache.ids_short();
                Err(GremlinError::Graph(RETRY_MESSAGE.to_string()))
            }
        }
    }
}

impl Graph for AttemptGraph<'_> {
    fn explain_notes(&self, steps: &[gremlin::machine::compile::StepDef]) -> Vec<String> {
        self.indexes.as_ref().map_or_else(Vec::new, |ix| {
            crate::index::explain_notes(
                ix,
                self.inner.model.space.name(),
                steps,
                self.inner.model.now_s(),
            )
        })
    }

    fn step_began(&mut self, step: usize) {
        self.cache.set_step(step);
    }

    fn step_ended(&mut self, step: usize, nanos: u64) {
        self.cache
            .add_cost(step, |c| c.nanos = c.nanos.saturating_add(nanos));
    }

    fn step_cost(&self, step: usize) -> Option<gremlin::graph::StepCost> {
        let c = self.cache.cost(step);
        let long = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Some(gremlin::graph::StepCost {
            nanos: c.nanos,
            counts: vec![
                (Arc::from("recordsRead"), long(c.records)),
                (Arc::from("recordBytesRead"), long(c.record_bytes)),
                (Arc::from("deviceBytesRead"), long(c.device_bytes)),
                (Arc::from("crossCoreMessages"), long(c.messages)),
            ],
        })
    }

    fn local_owner(&self) -> Owner {
        self.inner.local_owner()
    }

    fn owner_count(&self) -> u32 {
        self.inner.owner_count()
    }

    fn owner_of_vertex(&self, id: &Value) -> Owner {
        self.inner.owner_of_vertex(id)
    }

    fn string_ids_spell_numbers(&self) -> bool {
        self.inner.string_ids_spell_numbers()
    }

    fn services(&self) -> Option<Arc<ServiceRegistry>> {
        self.inner.services()
    }

    fn vertices(&self, ids: &[Value]) -> Result<Vec<Option<Arc<Vertex>>>, GremlinError> {
        self.go()?;
        self.inner.vertices(ids)
    }

    fn edges(&self, ids: &[Value]) -> Result<Vec<Option<Arc<Edge>>>, GremlinError> {
        self.go()?;
        self.inner.edges(ids)
    }

    fn incident(
        &self,
        ids: &[Value],
        direction: Direction,
        labels: &[Arc<str>],
    ) -> Result<Vec<Vec<Incident>>, GremlinError> {
        self.go()?;
        self.inner.incident(ids, direction, labels)
    }

    fn scan_vertex_ids(&self) -> Result<Vec<Value>, GremlinError> {
        self.go()?;
        self.inner.scan_vertex_ids()
    }

    fn scan_edge_ids(&self) -> Result<Vec<Value>, GremlinError> {
        self.go()?;
        self.inner.scan_edge_ids()
    }

    fn add_vertex(&mut self, id: Option<Value>, label: &str) -> Result<Arc<Vertex>, GremlinError> {
        self.go()?;
        let given = id.map(|v| vid(&v)).transpose()?;
        let mut collisions = 0u32;
        loop {
            let id = match &given {
                Some(id) => id.clone(),
                None => self.take_id()?,
            };
            match ready(self.inner.model.add_vertex(id.clone(), label, 0)) {
                Ok(v) => {
                    self.record(WriteOp::AddVertex {
                        id,
                        label: Arc::from(label),
                    })?;
                    return Ok(Arc::new(vertex_value(&v)));
                }
                // A generated id a user already took: the next one (as
                // `Model::add_vertex_generated` does).
                Err(ModelError::VertexExists(_))
                    if given.is_none() && collisions < ID_COLLISIONS_MAX =>
                {
                    collisions += 1;
                }
                Err(e) => return Err(to_gremlin(e)),
            }
        }
    }

    fn add_edge(
        &mut self,
        id: Option<Value>,
        label: &str,
        out: &Value,
        in_: &Value,
    ) -> Result<Arc<Edge>, GremlinError> {
        self.go()?;
        let given = id.map(|v| eid(&v)).transpose()?;
        let (out, in_) = (vid(out)?, vid(in_)?);
        let mut collisions = 0u32;
        loop {
            let id = match &given {
                Some(id) => id.clone(),
                None => self.take_id()?,
            };
            match ready(self.inner.model.add_edge(id.clone(), label, &out, &in_, 0)) {
                Ok(e) => {
                    self.record(WriteOp::AddEdge {
                        id,
                        label: Arc::from(label),
                        out,
                        in_,
                    })?;
                    return Ok(Arc::new(edge_value(&e)));
                }
                Err(ModelError::EdgeExists(_))
                    if given.is_none() && collisions < ID_COLLISIONS_MAX =>
                {
                    collisions += 1;
                }
                Err(e) => return Err(to_gremlin(e)),
            }
        }
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
        self.go()?;
        let id = match id {
            Some(id) => id,
            None => self.take_id()?.to_value(),
        };
        let v = vid(vertex)?;
        let r = self.inner.set_vertex_property(
            vertex,
            cardinality,
            key,
            value.clone(),
            Some(id.clone()),
            meta.clone(),
        )?;
        self.record(WriteOp::SetVertexProperty {
            vertex: v,
            cardinality,
            key: Arc::from(key),
            value,
            id,
            meta,
        })?;
        Ok(r)
    }

    fn set_edge_property(
        &mut self,
        edge: &Value,
        key: &str,
        value: Value,
    ) -> Result<(), GremlinError> {
        self.go()?;
        let e = eid(edge)?;
        self.inner.set_edge_property(edge, key, value.clone())?;
        self.record(WriteOp::SetEdgeProperty {
            edge: e,
            key: Arc::from(key),
            value,
        })
    }

    fn set_meta_property(
        &mut self,
        vertex: &Value,
        vp_id: &Value,
        key: &str,
        value: Value,
    ) -> Result<(), GremlinError> {
        self.go()?;
        let v = vid(vertex)?;
        self.inner
            .set_meta_property(vertex, vp_id, key, value.clone())?;
        self.record(WriteOp::SetMetaProperty {
            vertex: v,
            vp_id: vp_id.clone(),
            key: Arc::from(key),
            value,
        })
    }

    fn drop_vertex(&mut self, id: &Value) -> Result<(), GremlinError> {
        self.go()?;
        let v = vid(id)?;
        self.inner.drop_vertex(id)?;
        self.record(WriteOp::DropVertex(v))
    }

    fn drop_edge(&mut self, id: &Value) -> Result<(), GremlinError> {
        self.go()?;
        let e = eid(id)?;
        self.inner.drop_edge(id)?;
        self.record(WriteOp::DropEdge(e))
    }

    fn drop_vertex_property(&mut self, vertex: &Value, vp_id: &Value) -> Result<(), GremlinError> {
        self.go()?;
        let v = vid(vertex)?;
        self.inner.drop_vertex_property(vertex, vp_id)?;
        self.record(WriteOp::DropVertexProperty {
            vertex: v,
            vp_id: vp_id.clone(),
        })
    }

    fn drop_edge_property(&mut self, edge: &Value, key: &str) -> Result<(), GremlinError> {
        self.go()?;
        let e = eid(edge)?;
        self.inner.drop_edge_property(edge, key)?;
        self.record(WriteOp::DropEdgeProperty {
            edge: e,
            key: Arc::from(key),
        })
    }

    fn drop_meta_property(
        &mut self,
        vertex: &Value,
        vp_id: &Value,
        key: &str,
    ) -> Result<(), GremlinError> {
        self.go()?;
        let v = vid(vertex)?;
        self.inner.drop_meta_property(vertex, vp_id, key)?;
        self.record(WriteOp::DropMetaProperty {
            vertex: v,
            vp_id: vp_id.clone(),
            key: Arc::from(key),
        })
    }
}
