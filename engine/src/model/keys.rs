//! Element ids and record keys: the vertex and edge-locator digests of a named graph, and
//! the digests of a vertex's edge packs and adjacency-index pages, derived from the vertex's
//! digest so that they fall in the vertex's partition (one core serves a one-hop step).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use gremlin::value::{Uuid, Value};
use shards::digest::{Digest, KeyType};

use crate::model::wire::{put_str, Reader};
use crate::model::ModelError;

/// Longest graph name, in bytes.
pub const GRAPH_NAME_BYTES_MAX: usize = 63;

/// The width a user gave an integer id; kept so the id comes back as it went in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntWidth {
    Byte,
    Short,
    Int,
    Long,
}

/// An element id. Integer ids of every width are one key (`Int32 1 == Int64 1`, same hash,
/// same digest); a string is never a number; UUIDs are their own kind.
#[derive(Clone, Debug)]
pub enum ElementId {
    Int { value: i64, width: IntWidth },
    Str(Arc<str>),
    Uuid([u8; 16]),
}

impl PartialEq for ElementId {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ElementId::Int { value: a, .. }, ElementId::Int { value: b, .. }) => a == b,
            (ElementId::Str(a), ElementId::Str(b)) => a == b,
            (ElementId::Uuid(a), ElementId::Uuid(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for ElementId {}

impl Hash for ElementId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            ElementId::Int { value, .. } => (0u8, value).hash(state),
            ElementId::Str(s) => (1u8, s).hash(state),
            ElementId::Uuid(u) => (2u8, u).hash(state),
        }
    }
}

impl std::fmt::Display for ElementId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ElementId::Int { value, .. } => write!(f, "{value}"),
            ElementId::Str(s) => write!(f, "{s}"),
            ElementId::Uuid(u) => write!(f, "{}", Uuid(*u)),
        }
    }
}

/// Id tags of the encoding (one byte, then the payload).
const TAG_BYTE: u8 = 1;
const TAG_SHORT: u8 = 2;
const TAG_INT: u8 = 3;
const TAG_LONG: u8 = 4;
const TAG_STR: u8 = 5;
const TAG_UUID: u8 = 6;

impl ElementId {
    /// The id for a value given as an element id (`element` names it in errors: "Vertex",
    /// "Edge"). Elements given in place of ids stand for their own id.
    pub fn from_value(v: &Value, element: &'static str) -> Result<ElementId, ModelError> {
        Ok(match v {
            Value::Byte(x) => ElementId::Int {
                value: i64::from(*x),
                width: IntWidth::Byte,
            },
            Value::Short(x) => ElementId::Int {
                value: i64::from(*x),
                width: IntWidth::Short,
            },
            Value::Int(x) => ElementId::Int {
                value: i64::from(*x),
                width: IntWidth::Int,
            },
            Value::Long(x) => ElementId::Int {
                value: *x,
                width: IntWidth::Long,
            },
            Value::String(s) => ElementId::Str(s.clone()),
            Value::Uuid(u) => ElementId::Uuid(u.0),
            Value::Vertex(x) => return ElementId::from_value(&x.id, element),
            Value::Edge(x) => return ElementId::from_value(&x.id, element),
            other => {
                return Err(ModelError::InvalidId {
                    element,
                    type_name: other.type_name(),
                })
            }
        })
    }

    /// The id as the value the user gave (same integer width).
    pub fn to_value(&self) -> Value {
        match self {
            ElementId::Int { value, width } => {
                let v = *value;
                // The width was recorded from a value of that width, so these fit; fall back
                // to Long rather than panic if a record lies.
                match width {
                    IntWidth::Byte => i8::try_from(v).map_or(Value::Long(v), Value::Byte),
                    IntWidth::Short => i16::try_from(v).map_or(Value::Long(v), Value::Short),
                    IntWidth::Int => i32::try_from(v).map_or(Value::Long(v), Value::Int),
                    IntWidth::Long => Value::Long(v),
                }
            }
            ElementId::Str(s) => Value::String(s.clone()),
            ElementId::Uuid(u) => Value::Uuid(Uuid(*u)),
        }
    }

    /// Appends the id's encoding: a tag byte, then 1/2/4/8 big-endian bytes for integers,
    /// varint length + UTF-8 for strings, 16 bytes for UUIDs.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ElementId::Int { value, width } => match width {
                IntWidth::Byte => {
                    out.push(TAG_BYTE);
                    out.extend_from_slice(&(*value as i8).to_be_bytes());
                }
                IntWidth::Short => {
                    out.push(TAG_SHORT);
                    out.extend_from_slice(&(*value as i16).to_be_bytes());
                }
                IntWidth::Int => {
                    out.push(TAG_INT);
                    out.extend_from_slice(&(*value as i32).to_be_bytes());
                }
                IntWidth::Long => {
                    out.push(TAG_LONG);
                    out.extend_from_slice(&value.to_be_bytes());
                }
            },
            ElementId::Str(s) => {
                out.push(TAG_STR);
                put_str(out, s);
            }
            ElementId::Uuid(u) => {
                out.push(TAG_UUID);
                out.extend_from_slice(u);
            }
        }
    }

    /// Reads an id written by [`ElementId::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<ElementId, crate::model::wire::DecodeError> {
        let tag = r.u8()?;
        Ok(match tag {
            TAG_BYTE => ElementId::Int {
                value: i64::from(i8::from_be_bytes(r.array::<1>()?)),
                width: IntWidth::Byte,
            },
            TAG_SHORT => ElementId::Int {
                value: i64::from(i16::from_be_bytes(r.array::<2>()?)),
                width: IntWidth::Short,
            },
            TAG_INT => ElementId::Int {
                value: i64::from(i32::from_be_bytes(r.array::<4>()?)),
                width: IntWidth::Int,
            },
            TAG_LONG => ElementId::Int {
                value: i64::from_be_bytes(r.array::<8>()?),
                width: IntWidth::Long,
            },
            TAG_STR => ElementId::Str(r.str()?),
            TAG_UUID => ElementId::Uuid(r.array::<16>()?),
            t => return Err(r.err(format!("unknown id tag {t}"))),
        })
    }

    /// The key digest of this id in `set`: integers of every width as Aerospike integer keys
    /// (8 big-endian bytes), strings as string keys, UUIDs as 16-byte blob keys.
    pub fn digest(&self, set: &[u8]) -> Digest {
        match self {
            ElementId::Int { value, .. } => Digest::of_int(set, *value),
            ElementId::Str(s) => Digest::of_str(set, s),
            ElementId::Uuid(u) => Digest::of(set, KeyType::Blob, u),
        }
    }
}

/// Edge direction as stored (a vertex's entry says which end it is).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    Out = 0,
    In = 1,
}

impl Dir {
    /// The stored byte.
    pub fn byte(self) -> u8 {
        self as u8
    }

    /// Reads a stored direction byte.
    pub fn decode(r: &mut Reader<'_>) -> Result<Dir, crate::model::wire::DecodeError> {
        match r.u8()? {
            0 => Ok(Dir::Out),
            1 => Ok(Dir::In),
            b => Err(r.err(format!("bad direction byte {b}"))),
        }
    }
}

/// A named graph's key space: its record sets are `<name>.v` (vertices), `<name>.e` (edge
/// locators) and `<name>.m` (metadata such as id allocators); packs and index pages derive from vertex digests, so they are separate too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySpace {
    vertex_set: Vec<u8>,
    edge_set: Vec<u8>,
    meta_set: Vec<u8>,
    name: Arc<str>,
}

impl KeySpace {
    /// The key space of graph `name`: 1 to [`GRAPH_NAME_BYTES_MAX`] bytes of ASCII letters,
    /// digits, `_` and `-` (so that set names never run into each other).
    pub fn new(name: &str) -> Result<KeySpace, ModelError> {
        let ok = !name.is_empty()
            && name.len() <= GRAPH_NAME_BYTES_MAX
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(ModelError::Config(format!(
                "graph name {name:?}: 1-{GRAPH_NAME_BYTES_MAX} ASCII letters, digits, '_', '-'"
            )));
        }
        Ok(KeySpace {
            vertex_set: format!("{name}.v").into_bytes(),
            edge_set: format!("{name}.e").into_bytes(),
            meta_set: format!("{name}.m").into_bytes(),
            name: Arc::from(name),
        })
    }

    /// The graph's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Digest of the vertex record of `id`.
    pub fn vertex_digest(&self, id: &ElementId) -> Digest {
        id.digest(&self.vertex_set)
    }

    /// Digest of the graph's metadata record `key` (e.g. an id allocator).
    pub fn meta_digest(&self, key: &str) -> Digest {
        Digest::of_str(&self.meta_set, key)
    }

    /// Digest of the edge-locator record of edge `id`.
    pub fn edge_digest(&self, id: &ElementId) -> Digest {
        id.digest(&self.edge_set)
    }
}

/// Copies the partition bits (low 12 bits of the little-endian u32 of bytes 0-3, i.e. byte 0
/// and the low nibble of byte 1) of `from` into `d`.
fn with_partition_of(mut d: Digest, from: &Digest) -> Digest {
    d.0[0] = from.0[0];
    d.0[1] = (d.0[1] & 0xF0) | (from.0[1] & 0x0F);
    d
}

/// Digest of pack `pack_no` of the vertex with digest `vertex`: RIPEMD-160 over set `pack`,
/// blob key (vertex digest, pack number BE), then the vertex's partition bits.
pub fn pack_digest(vertex: &Digest, pack_no: u32) -> Digest {
    let mut key = Vec::with_capacity(24);
    key.extend_from_slice(&vertex.0);
    key.extend_from_slice(&pack_no.to_be_bytes());
    with_partition_of(Digest::of(b"pack", KeyType::Blob, &key), vertex)
}

/// Digest of adjacency-index page `page` of (vertex, direction, label): RIPEMD-160 over set
/// `adj`, blob key (vertex digest, direction byte, page BE, label), then the vertex's
/// partition bits.
pub fn index_page_digest(vertex: &Digest, dir: Dir, label: &str, page: u32) -> Digest {
    let mut key = Vec::with_capacity(25 + label.len());
    key.extend_from_slice(&vertex.0);
    key.push(dir.byte());
    key.extend_from_slice(&page.to_be_bytes());
    key.extend_from_slice(label.as_bytes());
    with_partition_of(Digest::of(b"adj", KeyType::Blob, &key), vertex)
}
