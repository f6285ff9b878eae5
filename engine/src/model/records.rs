//! Record layouts of the graph model: vertex (with edge cache and supernode summary), edge
//! pack, edge locator and adjacency-index page. Byte-by-byte description in
//! `docs/graph-model.md`; every decoder checks bounds and limits and never panics.

use std::sync::Arc;

use gremlin::value::{Property, Value};

use crate::model::keys::{Dir, ElementId};
use crate::model::wire::{
    put_str, put_value, put_varint, DecodeError, Reader, LIST_ITEMS_MAX, STRING_BYTES_MAX,
    VALUE_BYTES_MAX,
};
use crate::model::ModelError;

/// Layout version written after the magic byte of every record.
pub const LAYOUT_VERSION: u8 = 1;
/// Magic of a vertex record (`V`).
pub const MAGIC_VERTEX: u8 = b'V';
/// Magic of an edge pack (`P`).
pub const MAGIC_PACK: u8 = b'P';
/// Magic of an edge locator (`L`).
pub const MAGIC_LOCATOR: u8 = b'L';
/// Magic of an adjacency-index page (`I`).
pub const MAGIC_INDEX: u8 = b'I';
/// Magic of an id-allocator record (`G`).
pub const MAGIC_IDGEN: u8 = b'G';

/// Vertex flag: adjacency lives in the adjacency index, not the edge cache.
pub const FLAG_SUPERNODE: u8 = 1;
/// Vertex flag: the vertex is being dropped (invisible; new edges refused).
pub const FLAG_DROPPING: u8 = 2;
const FLAGS_KNOWN: u8 = FLAG_SUPERNODE | FLAG_DROPPING;

/// Most properties on one element (vertex properties incl. multi-properties, or edge
/// properties, or meta-properties of one vertex property).
pub const PROPERTIES_MAX: usize = 65_536;

fn header(r: &mut Reader<'_>, magic: u8) -> Result<(), DecodeError> {
    let m = r.u8()?;
    if m != magic {
        return Err(r.err(format!("magic {m:#04x}, expected {magic:#04x}")));
    }
    let v = r.u8()?;
    if v != LAYOUT_VERSION {
        return Err(r.err(format!("layout version {v}, expected {LAYOUT_VERSION}")));
    }
    Ok(())
}

/// Initial capacity of an encoding buffer: header, id, label.
const ENCODE_BASE_BYTES: usize = 64;
/// Initial capacity per property, adjacency entry or pack edge (a typical one; past it the
/// buffer grows as usual).
const ENCODE_ITEM_BYTES: usize = 48;

fn put_props(out: &mut Vec<u8>, props: &[Property]) -> Result<(), ModelError> {
    put_varint(out, props.len() as u64);
    for p in props {
        put_str(out, &p.key);
        put_value(out, &p.value)?;
    }
    Ok(())
}

fn get_props(r: &mut Reader<'_>) -> Result<Vec<Property>, DecodeError> {
    let n = r.len(PROPERTIES_MAX)?;
    let mut out = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let key = r.str()?;
        let value = r.value()?;
        out.push(Property { key, value });
    }
    Ok(out)
}

/// Which properties a partial decode materializes (the others are skipped over unread:
/// their bytes are bounds-checked but neither UTF-8- nor GraphBinary-decoded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropFilter<'a> {
    /// Every property (a full decode).
    All,
    /// No property.
    None,
    /// Only properties with one of these keys (with their meta-properties).
    Keys(&'a [Arc<str>]),
}

impl PropFilter<'_> {
    /// Whether a property whose key is `key` (raw UTF-8 bytes) is materialized.
    pub fn wants(&self, key: &[u8]) -> bool {
        match self {
            PropFilter::All => true,
            PropFilter::None => false,
            PropFilter::Keys(keys) => keys.iter().any(|k| k.as_bytes() == key),
        }
    }
}

/// Skips a property list written by `put_props` (count, then key and value each).
fn skip_props(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    let n = r.len(PROPERTIES_MAX)?;
    for _ in 0..n {
        r.bytes(STRING_BYTES_MAX)?;
        r.bytes(VALUE_BYTES_MAX)?;
    }
    Ok(())
}

/// A string whose raw bytes were already taken (as [`Reader::str`] checks it).
fn utf8(r: &Reader<'_>, b: &[u8]) -> Result<Arc<str>, DecodeError> {
    std::str::from_utf8(b)
        .map(Arc::from)
        .map_err(|_| r.err("string is not UTF-8"))
}

/// One vertex property (one of possibly several with the same key).
#[derive(Clone, Debug, PartialEq)]
pub struct VProp {
    /// The vertex-property id (any value; generated ones are longs).
    pub id: Value,
    pub key: Arc<str>,
    pub value: Value,
    /// Meta-properties.
    pub meta: Vec<Property>,
}

/// One edge-cache entry: an incident edge as seen from this vertex.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheEntry {
    /// Insertion order among this vertex's entries (reads return edges in this order).
    pub seq: u64,
    pub edge: ElementId,
    pub label: Arc<str>,
    /// `Out` if this vertex is the edge's tail.
    pub dir: Dir,
    /// The other endpoint (this vertex again for a self-loop).
    pub other: ElementId,
    /// The pack of the edge's out vertex that holds the edge.
    pub pack_no: u32,
}

/// Supernode summary: how many index pages (vertex, dir, label) has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelPages {
    pub dir: Dir,
    pub label: Arc<str>,
    pub pages: u32,
}

/// A vertex record.
#[derive(Clone, Debug, PartialEq)]
pub struct VertexRecord {
    pub id: ElementId,
    pub label: Arc<str>,
    /// [`FLAG_SUPERNODE`], [`FLAG_DROPPING`].
    pub flags: u8,
    /// Seconds since the Unix epoch after which the vertex (and its edges) is gone; 0 = never.
    pub void_time_s: u32,
    /// Next entry sequence number.
    pub next_seq: u64,
    /// The pack new out-edges go to.
    pub open_pack: u32,
    /// The next unused pack number.
    pub next_pack: u32,
    pub props: Vec<VProp>,
    /// The edge cache (empty once a supernode).
    pub cache: Vec<CacheEntry>,
    /// Supernode adjacency-index summary.
    pub index: Vec<LabelPages>,
}

impl VertexRecord {
    /// A fresh vertex with no properties and no edges.
    pub fn new(id: ElementId, label: Arc<str>, void_time_s: u32) -> VertexRecord {
        VertexRecord {
            id,
            label,
            flags: 0,
            void_time_s,
            next_seq: 0,
            open_pack: 0,
            next_pack: 1,
            props: Vec::new(),
            cache: Vec::new(),
            index: Vec::new(),
        }
    }

    /// Whether the adjacency index (not the cache) holds the edges.
    pub fn is_supernode(&self) -> bool {
        self.flags & FLAG_SUPERNODE != 0
    }

    /// Whether the vertex is visible at `now_s` (not dropping, not expired).
    pub fn is_live(&self, now_s: u32) -> bool {
        self.flags & FLAG_DROPPING == 0 && !expired(self.void_time_s, now_s)
    }

    /// Encodes the record.
    pub fn encode(&self) -> Result<Vec<u8>, ModelError> {
        // Sized for typical entries up front: growing by doubling copied a large record's
        // bytes several times (`memmove` in the loader's and writers' profiles).
        let mut out = Vec::with_capacity(
            ENCODE_BASE_BYTES
                + ENCODE_ITEM_BYTES * (self.props.len() + self.cache.len() + self.index.len()),
        );
        out.push(MAGIC_VERTEX);
        out.push(LAYOUT_VERSION);
        out.push(self.flags);
        out.extend_from_slice(&self.void_time_s.to_be_bytes());
        self.id.encode(&mut out);
        put_str(&mut out, &self.label);
        put_varint(&mut out, self.next_seq);
        put_varint(&mut out, u64::from(self.open_pack));
        put_varint(&mut out, u64::from(self.next_pack));
        put_varint(&mut out, self.props.len() as u64);
        for p in &self.props {
            put_value(&mut out, &p.id)?;
            put_str(&mut out, &p.key);
            put_value(&mut out, &p.value)?;
            put_props(&mut out, &p.meta)?;
        }
        put_varint(&mut out, self.cache.len() as u64);
        for e in &self.cache {
            put_varint(&mut out, e.seq);
            e.edge.encode(&mut out);
            put_str(&mut out, &e.label);
            out.push(e.dir.byte());
            e.other.encode(&mut out);
            put_varint(&mut out, u64::from(e.pack_no));
        }
        put_varint(&mut out, self.index.len() as u64);
        for l in &self.index {
            out.push(l.dir.byte());
            put_str(&mut out, &l.label);
            put_varint(&mut out, u64::from(l.pages));
        }
        Ok(out)
    }

    /// Decodes a record written by [`VertexRecord::encode`].
    pub fn decode(bytes: &[u8]) -> Result<VertexRecord, DecodeError> {
        Ok(VertexRecord::decode_with(bytes, PropFilter::All)?.0)
    }

    /// Decodes a record materializing only the properties `props` wants (the others are
    /// left out of [`VertexRecord::props`]); also the bytes of the properties materialized.
    pub fn decode_with(
        bytes: &[u8],
        props: PropFilter<'_>,
    ) -> Result<(VertexRecord, u64), DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, MAGIC_VERTEX)?;
        let flags = r.u8()?;
        if flags & !FLAGS_KNOWN != 0 {
            return Err(r.err(format!("unknown vertex flags {flags:#04x}")));
        }
        let void_time_s = u32::from_be_bytes(r.array::<4>()?);
        let id = ElementId::decode(&mut r)?;
        let label = r.str()?;
        let next_seq = r.varint()?;
        let open_pack = r.varint_u32()?;
        let next_pack = r.varint_u32()?;
        let n = r.len(PROPERTIES_MAX)?;
        let mut decoded: u64 = 0;
        let mut kept = Vec::with_capacity(if props == PropFilter::None {
            0
        } else {
            n.min(64)
        });
        for _ in 0..n {
            let start = r.pos();
            let id = r.bytes(VALUE_BYTES_MAX)?;
            let key = r.bytes(STRING_BYTES_MAX)?;
            if !props.wants(key) {
                r.bytes(VALUE_BYTES_MAX)?;
                skip_props(&mut r)?;
                continue;
            }
            let id = crate::model::wire::value_of(&r, id)?;
            let key = utf8(&r, key)?;
            let value = r.value()?;
            let meta = get_props(&mut r)?;
            decoded = decoded.saturating_add((r.pos() - start) as u64);
            kept.push(VProp {
                id,
                key,
                value,
                meta,
            });
        }
        let n = r.len(crate::model::EDGE_CACHE_ENTRIES_MAX)?;
        let mut cache = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            cache.push(CacheEntry {
                seq: r.varint()?,
                edge: ElementId::decode(&mut r)?,
                label: r.str()?,
                dir: Dir::decode(&mut r)?,
                other: ElementId::decode(&mut r)?,
                pack_no: r.varint_u32()?,
            });
        }
        let n = r.len(LIST_ITEMS_MAX)?;
        let mut index = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            index.push(LabelPages {
                dir: Dir::decode(&mut r)?,
                label: r.str()?,
                pages: r.varint_u32()?,
            });
        }
        r.finish()?;
        if flags & FLAG_SUPERNODE == 0 && !index.is_empty() {
            return Err(r.err("index summary on a vertex that is not a supernode"));
        }
        Ok((
            VertexRecord {
                id,
                label,
                flags,
                void_time_s,
                next_seq,
                open_pack,
                next_pack,
                props: kept,
                cache,
                index,
            },
            decoded,
        ))
    }
}

/// The void time of an edge slot written by an add that has not committed yet (its
/// entries are being written): it reads as expired at any clock, so the edge is invisible
/// until the add rewrites the slot with its real void time (see `docs/graph-model.md`,
/// "Operations and write order").
pub const VOID_PENDING_S: u32 = 1;

/// Whether a void time has passed (0 never does; [`VOID_PENDING_S`] always has).
pub fn expired(void_time_s: u32, now_s: u32) -> bool {
    void_time_s != 0 && (void_time_s == VOID_PENDING_S || void_time_s <= now_s)
}

/// The earliest of void times (0 = never).
pub fn earliest_void(times: &[u32]) -> u32 {
    times.iter().copied().filter(|t| *t != 0).min().unwrap_or(0)
}

/// One edge in a pack (its out vertex is the pack's owner).
#[derive(Clone, Debug, PartialEq)]
pub struct PackEdge {
    pub id: ElementId,
    pub label: Arc<str>,
    pub in_id: ElementId,
    pub in_label: Arc<str>,
    /// Earliest void time of the edge and both endpoints at creation; 0 = never;
    /// [`VOID_PENDING_S`] while the add is not committed.
    pub void_time_s: u32,
    pub props: Vec<Property>,
}

/// An edge pack: up to `pack_edges` edges of one out vertex.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgePack {
    pub owner: ElementId,
    pub owner_label: Arc<str>,
    pub edges: Vec<PackEdge>,
}

impl EdgePack {
    /// Encodes the pack.
    pub fn encode(&self) -> Result<Vec<u8>, ModelError> {
        let mut out = Vec::with_capacity(ENCODE_BASE_BYTES + ENCODE_ITEM_BYTES * self.edges.len());
        out.push(MAGIC_PACK);
        out.push(LAYOUT_VERSION);
        self.owner.encode(&mut out);
        put_str(&mut out, &self.owner_label);
        put_varint(&mut out, self.edges.len() as u64);
        for e in &self.edges {
            e.id.encode(&mut out);
            put_str(&mut out, &e.label);
            e.in_id.encode(&mut out);
            put_str(&mut out, &e.in_label);
            out.extend_from_slice(&e.void_time_s.to_be_bytes());
            put_props(&mut out, &e.props)?;
        }
        Ok(out)
    }

    /// Decodes a pack written by [`EdgePack::encode`].
    pub fn decode(bytes: &[u8]) -> Result<EdgePack, DecodeError> {
        Ok(EdgePack::decode_with(bytes, PropFilter::All)?.0)
    }

    /// Decodes a pack materializing only the edge properties `props` wants; also the bytes
    /// of the properties materialized.
    pub fn decode_with(
        bytes: &[u8],
        props: PropFilter<'_>,
    ) -> Result<(EdgePack, u64), DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, MAGIC_PACK)?;
        let owner = ElementId::decode(&mut r)?;
        let owner_label = r.str()?;
        let n = r.len(crate::model::PACK_EDGES_MAX)?;
        let mut edges = Vec::with_capacity(n.min(64));
        let mut decoded: u64 = 0;
        for _ in 0..n {
            let id = ElementId::decode(&mut r)?;
            let label = r.str()?;
            let in_id = ElementId::decode(&mut r)?;
            let in_label = r.str()?;
            let void_time_s = u32::from_be_bytes(r.array::<4>()?);
            let props = match props {
                PropFilter::All => {
                    let start = r.pos();
                    let p = get_props(&mut r)?;
                    decoded = decoded.saturating_add((r.pos() - start) as u64);
                    p
                }
                PropFilter::None => {
                    skip_props(&mut r)?;
                    Vec::new()
                }
                PropFilter::Keys(_) => {
                    let k = r.len(PROPERTIES_MAX)?;
                    let mut out = Vec::new();
                    for _ in 0..k {
                        let start = r.pos();
                        let key = r.bytes(STRING_BYTES_MAX)?;
                        let value = r.bytes(VALUE_BYTES_MAX)?;
                        if props.wants(key) {
                            out.push(Property {
                                key: utf8(&r, key)?,
                                value: crate::model::wire::value_of(&r, value)?,
                            });
                            decoded = decoded.saturating_add((r.pos() - start) as u64);
                        }
                    }
                    out
                }
            };
            edges.push(PackEdge {
                id,
                label,
                in_id,
                in_label,
                void_time_s,
                props,
            });
        }
        r.finish()?;
        Ok((
            EdgePack {
                owner,
                owner_label,
                edges,
            },
            decoded,
        ))
    }
}

/// An edge locator: where edge `edge` lives (found by edge id for `g.E(id)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeLocator {
    pub edge: ElementId,
    pub out: ElementId,
    pub pack_no: u32,
}

impl EdgeLocator {
    /// Encodes the locator.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        EdgeLocator::encode_parts(&self.edge, &self.out, self.pack_no, &mut out);
        out
    }

    /// Appends the encoding of the locator of `edge` (out vertex `out`, pack `pack_no`) to
    /// `out`, without building an `EdgeLocator` (the loader encodes millions into one buffer).
    pub fn encode_parts(edge: &ElementId, out_v: &ElementId, pack_no: u32, out: &mut Vec<u8>) {
        out.push(MAGIC_LOCATOR);
        out.push(LAYOUT_VERSION);
        edge.encode(out);
        out_v.encode(out);
        put_varint(out, u64::from(pack_no));
    }

    /// Decodes a locator written by [`EdgeLocator::encode`].
    pub fn decode(bytes: &[u8]) -> Result<EdgeLocator, DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, MAGIC_LOCATOR)?;
        let l = EdgeLocator {
            edge: ElementId::decode(&mut r)?,
            out: ElementId::decode(&mut r)?,
            pack_no: r.varint_u32()?,
        };
        r.finish()?;
        Ok(l)
    }
}

/// One adjacency-index entry (label and direction are the page's).
#[derive(Clone, Debug, PartialEq)]
pub struct IndexEntry {
    pub seq: u64,
    pub edge: ElementId,
    pub other: ElementId,
    pub pack_no: u32,
    /// Copies of the edge's properties whose keys are indexed (`ModelConfig::indexed_edge_keys`).
    pub props: Vec<Property>,
}

/// A page of a supernode's adjacency index for one (direction, label).
#[derive(Clone, Debug, PartialEq)]
pub struct IndexPage {
    pub vertex: ElementId,
    pub dir: Dir,
    pub label: Arc<str>,
    pub page: u32,
    pub entries: Vec<IndexEntry>,
}

impl IndexPage {
    /// Encodes the page.
    pub fn encode(&self) -> Result<Vec<u8>, ModelError> {
        let mut out =
            Vec::with_capacity(ENCODE_BASE_BYTES + ENCODE_ITEM_BYTES * self.entries.len());
        out.push(MAGIC_INDEX);
        out.push(LAYOUT_VERSION);
        self.vertex.encode(&mut out);
        out.push(self.dir.byte());
        put_str(&mut out, &self.label);
        put_varint(&mut out, u64::from(self.page));
        put_varint(&mut out, self.entries.len() as u64);
        for e in &self.entries {
            put_varint(&mut out, e.seq);
            e.edge.encode(&mut out);
            e.other.encode(&mut out);
            put_varint(&mut out, u64::from(e.pack_no));
            put_props(&mut out, &e.props)?;
        }
        Ok(out)
    }

    /// Decodes a page written by [`IndexPage::encode`].
    pub fn decode(bytes: &[u8]) -> Result<IndexPage, DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, MAGIC_INDEX)?;
        let vertex = ElementId::decode(&mut r)?;
        let dir = Dir::decode(&mut r)?;
        let label = r.str()?;
        let page = r.varint_u32()?;
        let n = r.len(crate::model::INDEX_PAGE_ENTRIES_MAX)?;
        let mut entries = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            entries.push(IndexEntry {
                seq: r.varint()?,
                edge: ElementId::decode(&mut r)?,
                other: ElementId::decode(&mut r)?,
                pack_no: r.varint_u32()?,
                props: get_props(&mut r)?,
            });
        }
        r.finish()?;
        Ok(IndexPage {
            vertex,
            dir,
            label,
            page,
            entries,
        })
    }
}

/// An id allocator: the first id number not yet reserved by its core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdGen {
    pub next: u64,
}

impl IdGen {
    /// Encodes the allocator.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![MAGIC_IDGEN, LAYOUT_VERSION];
        put_varint(&mut out, self.next);
        out
    }

    /// Decodes an allocator written by [`IdGen::encode`].
    pub fn decode(bytes: &[u8]) -> Result<IdGen, DecodeError> {
        let mut r = Reader::new(bytes);
        header(&mut r, MAGIC_IDGEN)?;
        let next = r.varint()?;
        r.finish()?;
        Ok(IdGen { next })
    }
}
