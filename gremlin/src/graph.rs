//! The graph-access trait the step machine runs against: small and batch-shaped, with a notion
//! of locality (which core owns an element) so the sharded engine can implement it per core.
//!
//! Reads take a batch of ids and answer one entry per id, in order. Scans answer only the
//! elements the local owner holds. Elements come back as full [`Vertex`]/[`Edge`] values
//! (properties `Some`); the machine hands out references of them to results.

use std::sync::Arc;

use crate::error::GremlinError;
use crate::value::{Edge, Property, Value, Vertex};

/// Which core (shard owner) holds an element. The reference graph has one owner, `Owner(0)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner(pub u32);

/// Edge direction relative to a vertex.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Out,
    In,
    Both,
}

/// Vertex-property cardinality (`VertexProperty.Cardinality`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cardinality {
    Single,
    List,
    Set,
}

/// One incident edge of a vertex, as adjacency reads return it.
#[derive(Clone, Debug)]
pub struct Incident {
    /// The edge, with its properties.
    pub edge: Arc<Edge>,
    /// `Out` when the asking vertex is the edge's tail, `In` when its head (a self-loop
    /// appears once with each).
    pub direction: Direction,
}

/// What one top-level step cost the store, for `profile()` ([`Graph::step_cost`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepCost {
    /// Time the step took, the store's work for it included, in nanoseconds.
    pub nanos: u64,
    /// The store's counters for the step (name, value), e.g. records read.
    pub counts: Vec<(Arc<str>, i64)>,
}

/// Access to a property graph, batch-shaped so that one call serves a frontier of traversers.
///
/// Locality: an element is owned by one [`Owner`]; an edge is owned by its out-vertex's owner
/// (its packs live in that vertex's partition). Reads of a vertex's properties or adjacency
/// are only asked of its owner; the machine moves traversers to the owner first.
pub trait Graph {
    /// Lines `explain()` adds about how the store reads the traversal's start (secondary
    /// index, counters or scan); none by default.
    fn explain_notes(&self, _steps: &[crate::machine::compile::StepDef]) -> Vec<String> {
        Vec::new()
    }

    /// Profiling (traversals ending in `profile()` only): the machine is about to run
    /// top-level step `step`; what the store reads until the next call is that step's.
    fn step_began(&mut self, _step: usize) {}

    /// Profiling: top-level step `step` ran for `nanos` of the machine's time.
    fn step_ended(&mut self, _step: usize, _nanos: u64) {}

    /// Profiling: what top-level step `step` cost, time included (`None`: the store keeps
    /// no account; `profile()` reports the machine's own time and no store counters).
    fn step_cost(&self, _step: usize) -> Option<StepCost> {
        None
    }

    /// The owner this instance runs on.
    fn local_owner(&self) -> Owner {
        Owner(0)
    }

    /// How many owners the graph is spread over (1 for the reference graph).
    fn owner_count(&self) -> u32 {
        1
    }

    /// The owner of the vertex with this id.
    fn owner_of_vertex(&self, _id: &Value) -> Owner {
        Owner(0)
    }

    /// Whether a string id that finds nothing is read again as the integer it spells
    /// (`g.V("1")` finding the vertex with id `1`), as TinkerGraph's numeric id managers do and
    /// the TinkerPop feature suite assumes. coregraph's own stores answer `false`: a string id
    /// is never a number.
    fn string_ids_spell_numbers(&self) -> bool {
        false
    }

    /// The services `call()` can run on this graph (`None`: no services).
    fn services(&self) -> Option<Arc<crate::machine::services::ServiceRegistry>> {
        None
    }

    /// The vertices with these ids (`None` where absent), in order.
    fn vertices(&self, ids: &[Value]) -> Result<Vec<Option<Arc<Vertex>>>, GremlinError>;

    /// The edges with these ids (`None` where absent), in order.
    fn edges(&self, ids: &[Value]) -> Result<Vec<Option<Arc<Edge>>>, GremlinError>;

    /// For each vertex id, its incident edges in `direction` whose label is in `labels`
    /// (all labels when empty).
    fn incident(
        &self,
        ids: &[Value],
        direction: Direction,
        labels: &[Arc<str>],
    ) -> Result<Vec<Vec<Incident>>, GremlinError>;

    /// Ids of all locally owned vertices, in the graph's iteration order.
    fn scan_vertex_ids(&self) -> Result<Vec<Value>, GremlinError>;

    /// Ids of all locally owned edges, in the graph's iteration order.
    fn scan_edge_ids(&self) -> Result<Vec<Value>, GremlinError>;

    /// Adds a vertex; `id` `None` asks the graph to generate one.
    fn add_vertex(&mut self, id: Option<Value>, label: &str) -> Result<Arc<Vertex>, GremlinError>;

    /// Adds an edge `out -label-> in`.
    fn add_edge(
        &mut self,
        id: Option<Value>,
        label: &str,
        out: &Value,
        in_: &Value,
    ) -> Result<Arc<Edge>, GremlinError>;

    /// Sets a vertex property with the given cardinality and meta-properties; returns the
    /// new vertex-property id. `id` `None` asks the graph to generate one.
    fn set_vertex_property(
        &mut self,
        vertex: &Value,
        cardinality: Cardinality,
        key: &str,
        value: Value,
        id: Option<Value>,
        meta: Vec<Property>,
    ) -> Result<Value, GremlinError>;

    /// Sets (replaces) an edge property.
    fn set_edge_property(
        &mut self,
        edge: &Value,
        key: &str,
        value: Value,
    ) -> Result<(), GremlinError>;

    /// Sets a meta-property on the vertex property `vp_id` of `vertex`.
    fn set_meta_property(
        &mut self,
        vertex: &Value,
        vp_id: &Value,
        key: &str,
        value: Value,
    ) -> Result<(), GremlinError>;

    /// Drops a vertex and its incident edges (absent: no-op).
    fn drop_vertex(&mut self, id: &Value) -> Result<(), GremlinError>;

    /// Drops an edge (absent: no-op).
    fn drop_edge(&mut self, id: &Value) -> Result<(), GremlinError>;

    /// Drops one vertex property by id.
    fn drop_vertex_property(&mut self, vertex: &Value, vp_id: &Value) -> Result<(), GremlinError>;

    /// Drops an edge property by key.
    fn drop_edge_property(&mut self, edge: &Value, key: &str) -> Result<(), GremlinError>;

    /// Drops a meta-property by key.
    fn drop_meta_property(
        &mut self,
        vertex: &Value,
        vp_id: &Value,
        key: &str,
    ) -> Result<(), GremlinError>;
}
