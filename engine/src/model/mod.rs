//! The property-graph data model over record storage: record layouts, keys, and the graph
//! operations as pure logic over a small record-level key-value trait (see `docs/graph-model.md`).
//!
//! Layers: [`wire`] (bytes) -> [`keys`] (ids and digests) -> [`records`] (vertex, edge pack,
//! edge locator, adjacency-index page) -> [`kv`] (the record store seam) -> [`ops`] (add/drop/
//! set, generation-checked, retried) -> [`adapter`] (gremlin's `Graph` trait on one core).

pub mod adapter;
pub mod bulk;
pub mod keys;
pub mod kv;
pub mod locks;
pub mod ops;
pub mod records;
pub mod settings;
pub mod shard_kv;
pub mod wire;

#[cfg(test)]
mod tests;

/// Largest edge cache a vertex may be configured with (entries).
pub const EDGE_CACHE_ENTRIES_MAX: usize = 4096;
/// Largest edge pack (edges per pack record).
pub const PACK_EDGES_MAX: usize = 1024;
/// Largest adjacency-index page (entries per page record).
pub const INDEX_PAGE_ENTRIES_MAX: usize = 4096;
/// Largest number of edge-property keys copied into adjacency-index entries.
pub const INDEXED_EDGE_KEYS_MAX: usize = 16;
/// Attempts of one generation-checked read-modify-write before it fails with
/// [`ModelError::Contention`].
pub const RMW_ATTEMPTS_MAX: u32 = 256;

/// Settings of the graph model (per named graph).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelConfig {
    /// Edge-cache entries kept in a vertex record before it becomes a supernode.
    pub edge_cache_entries: usize,
    /// Edges per edge-pack record.
    pub pack_edges: usize,
    /// Entries per adjacency-index page record.
    pub index_page_entries: usize,
    /// Edge-property keys whose values are copied into adjacency-index entries, so that a
    /// supernode's edges can be filtered on them without reading the packs.
    pub indexed_edge_keys: Vec<std::sync::Arc<str>>,
}

/// Default edge-cache entries per vertex.
pub const EDGE_CACHE_ENTRIES_DEFAULT: usize = 64;
/// Default edges per pack (the AGS default).
pub const PACK_EDGES_DEFAULT: usize = 10;
/// Default entries per adjacency-index page.
pub const INDEX_PAGE_ENTRIES_DEFAULT: usize = 256;

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            edge_cache_entries: EDGE_CACHE_ENTRIES_DEFAULT,
            pack_edges: PACK_EDGES_DEFAULT,
            index_page_entries: INDEX_PAGE_ENTRIES_DEFAULT,
            indexed_edge_keys: Vec::new(),
        }
    }
}

impl ModelConfig {
    /// Checks every setting against its limit.
    pub fn validate(&self) -> Result<(), ModelError> {
        let check = |name: &'static str, v: usize, max: usize| {
            if v == 0 || v > max {
                Err(ModelError::Config(format!(
                    "{name} = {v}: must be in 1..={max}"
                )))
            } else {
                Ok(())
            }
        };
        check(
            "edge_cache_entries",
            self.edge_cache_entries,
            EDGE_CACHE_ENTRIES_MAX,
        )?;
        check("pack_edges", self.pack_edges, PACK_EDGES_MAX)?;
        check(
            "index_page_entries",
            self.index_page_entries,
            INDEX_PAGE_ENTRIES_MAX,
        )?;
        if self.indexed_edge_keys.len() > INDEXED_EDGE_KEYS_MAX {
            return Err(ModelError::Config(format!(
                "{} indexed edge keys: at most {INDEXED_EDGE_KEYS_MAX}",
                self.indexed_edge_keys.len()
            )));
        }
        Ok(())
    }
}

/// Errors of the graph model. Messages of the user-facing ones are TinkerPop's.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelError {
    /// A record's bytes do not decode (corruption or a foreign record under a model key).
    Decode(wire::DecodeError),
    /// The record store failed.
    Kv(kv::KvError),
    /// An element id of a type that cannot be an id.
    InvalidId {
        element: &'static str,
        type_name: &'static str,
    },
    /// A vertex the operation needs does not exist.
    VertexMissing(keys::ElementId),
    /// An edge the operation needs does not exist.
    EdgeMissing(keys::ElementId),
    /// `addV` with an id already taken.
    VertexExists(keys::ElementId),
    /// `addE` with an id already taken.
    EdgeExists(keys::ElementId),
    /// A value could not be encoded (e.g. nested too deeply).
    Encode(String),
    /// A generation-checked update lost [`RMW_ATTEMPTS_MAX`] times in a row.
    Contention { attempts: u32 },
    /// A record would exceed a named limit.
    Limit { limit: &'static str, max: u64 },
    /// A setting is out of range.
    Config(String),
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelError::Decode(e) => write!(f, "corrupt graph record: {e}"),
            ModelError::Kv(e) => write!(f, "record store: {e}"),
            ModelError::InvalidId { element, type_name } => {
                write!(f, "{element} id type not supported: {type_name}")
            }
            ModelError::VertexMissing(id) => write!(f, "Vertex with id {id} does not exist"),
            ModelError::EdgeMissing(id) => write!(f, "Edge with id {id} does not exist"),
            ModelError::VertexExists(id) => write!(f, "Vertex with id already exists: {id}"),
            ModelError::EdgeExists(id) => write!(f, "Edge with id already exists: {id}"),
            ModelError::Encode(e) => write!(f, "cannot encode value: {e}"),
            ModelError::Contention { attempts } => {
                write!(f, "record update lost {attempts} generation races in a row")
            }
            ModelError::Limit { limit, max } => write!(f, "limit {limit} ({max}) exceeded"),
            ModelError::Config(e) => write!(f, "bad graph model setting: {e}"),
        }
    }
}

impl std::error::Error for ModelError {}

impl From<wire::DecodeError> for ModelError {
    fn from(e: wire::DecodeError) -> Self {
        ModelError::Decode(e)
    }
}

impl From<kv::KvError> for ModelError {
    fn from(e: kv::KvError) -> Self {
        ModelError::Kv(e)
    }
}
