//! Bulk writes of the graph model for the loader (`engine::load`): a vertex with all its
//! properties in one record write; many out-edges of one vertex written as whole packs and
//! one vertex-record write; many adjacency entries of one vertex (edge cache, then the
//! supernode index past the cache size) in one vertex-record write. Record layouts and
//! invariants are those of `docs/graph-model.md`; the write order of a bulk edge is locator
//! (claimed by the caller first), packs, out entries, in entries (see "Bulk loading" there).

use std::collections::HashSet;
use std::sync::Arc;

use gremlin::value::{Property, Value};

use crate::model::keys::{index_page_digest, pack_digest, Dir, ElementId};
use crate::model::kv::{Digest, Kv, KvError, WriteMode};
use crate::model::ops::{Action, Model};
use crate::model::records::{
    earliest_void, CacheEntry, EdgePack, IndexEntry, IndexPage, LabelPages, PackEdge, VProp,
    VertexRecord, FLAG_SUPERNODE, PROPERTIES_MAX,
};
use crate::model::{ModelError, RMW_ATTEMPTS_MAX};

/// An edge to add to its out vertex's packs.
#[derive(Clone, Debug, PartialEq)]
pub struct BulkEdge {
    pub id: ElementId,
    pub label: Arc<str>,
    pub in_id: ElementId,
    pub in_label: Arc<str>,
    /// The in vertex's void time (0 = never).
    pub in_void_s: u32,
    pub props: Vec<Property>,
}

/// An adjacency entry to add to a vertex.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEntry {
    pub dir: Dir,
    pub label: Arc<str>,
    pub edge: ElementId,
    pub other: ElementId,
    pub pack_no: u32,
    /// The edge's properties (the indexed ones are copied into index entries).
    pub props: Vec<Property>,
}

/// What a vertex load found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VertexLoad {
    /// Written.
    Created,
    /// A live vertex with the same id, label and properties was there (a rerun).
    Identical,
}

/// Where the planned edges of one out vertex go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackPlan {
    /// Pack number of each edge, in input order.
    pub pack_nos: Vec<u32>,
    /// The out vertex's label and void time.
    pub label: Arc<str>,
    pub void_time_s: u32,
}

/// Packs past a vertex record's `next_pack` that a plan skips at most (see
/// [`Model::plan_out_edges`]).
pub const PACK_PROBES_MAX: usize = 64;

/// Pack numbers of `n` new out-edges of a vertex whose open pack `open_pack` holds
/// `open_used` edges and whose next unused pack is `next_pack`, `per` edges per pack: the
/// rest of the open pack, then new packs.
pub fn plan_packs(
    open_pack: u32,
    open_used: usize,
    next_pack: u32,
    per: usize,
    n: usize,
) -> Vec<u32> {
    let per = per.max(1);
    let mut pack_nos = Vec::with_capacity(n);
    let (mut p, mut used) = if open_used < per {
        (open_pack, open_used)
    } else {
        (next_pack, 0)
    };
    let mut next = next_pack.max(p.saturating_add(1));
    for _ in 0..n {
        if used >= per {
            p = next;
            next = next.saturating_add(1);
            used = 0;
        }
        pack_nos.push(p);
        used += 1;
    }
    pack_nos
}

/// Whether two property lists hold the same (key, value) pairs in the same order (ids and
/// meta-properties aside).
fn same_props(a: &[VProp], b: &[VProp]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.key == y.key && x.value == y.value)
}

impl<K: Kv> Model<K> {
    /// Creates vertex `id` with its properties (`props`: key, value, in order; property ids
    /// are generated) in one create-only write. A live vertex with the same label and the
    /// same (key, value) list is [`VertexLoad::Identical`]; any other live one is
    /// [`ModelError::VertexExists`]. An expired or half-dropped one is purged first.
    pub async fn load_vertex(
        &self,
        id: ElementId,
        label: Arc<str>,
        props: Vec<(Arc<str>, Value)>,
    ) -> Result<VertexLoad, ModelError> {
        self.load_vertex_record(id, label, props)
            .await
            .map(|(found, _)| found)
    }

    /// [`Model::load_vertex`], also returning, when it wrote the vertex, the record written
    /// and its generation (the offline loader keeps it in memory for the edge phase).
    pub async fn load_vertex_record(
        &self,
        id: ElementId,
        label: Arc<str>,
        props: Vec<(Arc<str>, Value)>,
    ) -> Result<(VertexLoad, Option<(VertexRecord, u16)>), ModelError> {
        if props.len() > PROPERTIES_MAX {
            return Err(ModelError::Limit {
                limit: "PROPERTIES_MAX",
                max: PROPERTIES_MAX as u64,
            });
        }
        let d = self.space.vertex_digest(&id);
        let mut rec = VertexRecord::new(id.clone(), label, 0);
        for (key, value) in props {
            let pid = self.generate_id().await?.to_value();
            rec.props.push(VProp {
                id: pid,
                key,
                value,
                meta: Vec::new(),
            });
        }
        let bytes = rec.encode()?;
        for _ in 0..RMW_ATTEMPTS_MAX {
            match self.kv.put(&d, &bytes, WriteMode::CreateOnly).await {
                Ok(g) => return Ok((VertexLoad::Created, Some((rec, g)))),
                Err(KvError::Exists) => match self.vertex(&id).await? {
                    Some(v) if v.label == rec.label && same_props(&v.props, &rec.props) => {
                        return Ok((VertexLoad::Identical, None))
                    }
                    Some(_) => return Err(ModelError::VertexExists(id)),
                    None => self.drop_vertex(&id).await?,
                },
                Err(e) => return Err(e.into()),
            }
        }
        Err(ModelError::Contention {
            attempts: RMW_ATTEMPTS_MAX,
        })
    }

    /// Plans `n` new out-edges of `out`: the rest of its open pack, then new packs. Writes
    /// nothing. `None` when `out` is not a live vertex. The caller serialises plans and
    /// writes of one vertex (the loader has one edge writer per core).
    pub async fn plan_out_edges(
        &self,
        out: &ElementId,
        n: usize,
    ) -> Result<Option<PackPlan>, ModelError> {
        let Some(v) = self.vertex(out).await? else {
            return Ok(None);
        };
        let open = self
            .pack(out, v.open_pack)
            .await?
            .map_or(0, |p| p.edges.len());
        // A rerun after an interrupted load may find packs past the record's `next_pack`
        // (written before the record was): skip them.
        let mut next_pack = v.next_pack;
        for _ in 0..PACK_PROBES_MAX {
            if self.pack(out, next_pack).await?.is_none() {
                break;
            }
            next_pack = next_pack.saturating_add(1);
        }
        Ok(Some(PackPlan {
            pack_nos: plan_packs(v.open_pack, open, next_pack, self.cfg.pack_edges, n),
            label: v.label,
            void_time_s: v.void_time_s,
        }))
    }

    /// Writes planned edges of `out` (`(edge, pack number)`; their locators are already
    /// claimed) into its packs, each pack once (appended to what it holds; an edge already
    /// there is not added twice), then adds their out entries and the pack numbers to the
    /// vertex record in one write. `present`: edges found already loaded (a rerun), whose
    /// out entries are added only where missing.
    pub async fn bulk_add_out_edges(
        &self,
        out: &ElementId,
        edges: Vec<(BulkEdge, u32)>,
        present: Vec<NewEntry>,
    ) -> Result<(), ModelError> {
        let Some(v) = self.vertex(out).await? else {
            return Err(ModelError::VertexMissing(out.clone()));
        };
        let vd = self.space.vertex_digest(out);
        let mut by_pack: Vec<(u32, Vec<PackEdge>)> = Vec::new();
        let mut entries = Vec::with_capacity(edges.len());
        for (e, p) in edges {
            entries.push(NewEntry {
                dir: Dir::Out,
                label: e.label.clone(),
                edge: e.id.clone(),
                other: e.in_id.clone(),
                pack_no: p,
                props: e.props.clone(),
            });
            let pe = PackEdge {
                id: e.id,
                label: e.label,
                in_id: e.in_id,
                in_label: e.in_label,
                void_time_s: earliest_void(&[v.void_time_s, e.in_void_s]),
                props: e.props,
            };
            match by_pack.iter_mut().find(|(q, _)| *q == p) {
                Some((_, list)) => list.push(pe),
                None => by_pack.push((p, vec![pe])),
            }
        }
        let mut last = None;
        for (p, list) in by_pack {
            self.append_to_pack(&vd, &v.id, &v.label, p, &list).await?;
            last = Some(last.map_or(p, |l: u32| l.max(p)));
        }
        let _guard = self.lock(vd).await?;
        let (mut rec, g) = match self.read::<VertexRecord>(&vd).await? {
            Some((r, g)) if r.id == *out && r.is_live(self.now_s()) => (r, g),
            _ => return Err(ModelError::VertexMissing(out.clone())),
        };
        if let Some(l) = last {
            if l >= rec.open_pack {
                rec.open_pack = l;
            }
            rec.next_pack = rec.next_pack.max(l.saturating_add(1));
        }
        let present = self.missing_entries(&rec, present).await?;
        entries.extend(present);
        self.add_entries_to(&mut rec, entries).await?;
        self.kv
            .put(&vd, &rec.encode()?, WriteMode::ExpectGeneration(g))
            .await?;
        Ok(())
    }

    /// Appends `list` to pack `p` of vertex `vd` (`owner`, `owner_label`): read, append
    /// (an edge already there is not added twice), write.
    async fn append_to_pack(
        &self,
        vd: &Digest,
        owner: &ElementId,
        owner_label: &Arc<str>,
        p: u32,
        list: &[PackEdge],
    ) -> Result<(), ModelError> {
        let pd = pack_digest(vd, p);
        let limit = crate::model::PACK_EDGES_MAX;
        self.rmw(&pd, |cur: Option<EdgePack>| {
            let mut pack = cur.unwrap_or_else(|| EdgePack {
                owner: owner.clone(),
                owner_label: owner_label.clone(),
                edges: Vec::new(),
            });
            for e in list {
                if !pack.edges.iter().any(|x| x.id == e.id) {
                    pack.edges.push(e.clone());
                }
            }
            if pack.edges.len() > limit {
                return Err(ModelError::Limit {
                    limit: "PACK_EDGES_MAX",
                    max: limit as u64,
                });
            }
            Ok(Action::Put(pack, ()))
        })
        .await
    }

    /// Writes pack `p` of vertex `vd` (`owner`, `owner_label`) holding `edges`. With `fresh`
    /// (the caller knows the pack was never written: a vertex created by this load, a pack
    /// number it has not used) the pack is written whole, create-only, without a read; if
    /// one exists after all, or without `fresh`, the edges are appended to it.
    pub async fn write_pack(
        &self,
        vd: &Digest,
        owner: &ElementId,
        owner_label: &Arc<str>,
        p: u32,
        edges: Vec<PackEdge>,
        fresh: bool,
    ) -> Result<(), ModelError> {
        if fresh && edges.len() <= crate::model::PACK_EDGES_MAX {
            let pack = EdgePack {
                owner: owner.clone(),
                owner_label: owner_label.clone(),
                edges,
            };
            match self
                .kv
                .put(&pack_digest(vd, p), &pack.encode()?, WriteMode::CreateOnly)
                .await
            {
                Ok(_) => return Ok(()),
                Err(KvError::Exists) => {
                    return self
                        .append_to_pack(vd, owner, owner_label, p, &pack.edges)
                        .await
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.append_to_pack(vd, owner, owner_label, p, &edges).await
    }

    /// Adds adjacency entries to vertex `v` in one vertex-record write (index pages first
    /// when it is or becomes a supernode). With `ensure`, entries already present (cache or
    /// index) are skipped, so a rerun adds nothing twice.
    pub async fn bulk_add_entries(
        &self,
        v: &ElementId,
        entries: Vec<NewEntry>,
        ensure: bool,
    ) -> Result<(), ModelError> {
        let vd = self.space.vertex_digest(v);
        let _guard = self.lock(vd).await?;
        let (mut rec, g) = match self.read::<VertexRecord>(&vd).await? {
            Some((r, g)) if r.id == *v && r.is_live(self.now_s()) => (r, g),
            _ => return Err(ModelError::VertexMissing(v.clone())),
        };
        let entries = if ensure {
            self.missing_entries(&rec, entries).await?
        } else {
            entries
        };
        if entries.is_empty() {
            return Ok(());
        }
        self.add_entries_to(&mut rec, entries).await?;
        self.kv
            .put(&vd, &rec.encode()?, WriteMode::ExpectGeneration(g))
            .await?;
        Ok(())
    }

    /// The entries of `entries` that `rec` does not list yet (cache or index pages).
    async fn missing_entries(
        &self,
        rec: &VertexRecord,
        entries: Vec<NewEntry>,
    ) -> Result<Vec<NewEntry>, ModelError> {
        if entries.is_empty() {
            return Ok(entries);
        }
        let mut have: HashSet<(Dir, ElementId)> =
            rec.cache.iter().map(|e| (e.dir, e.edge.clone())).collect();
        if rec.is_supernode() {
            let vd = self.space.vertex_digest(&rec.id);
            for lp in &rec.index {
                if !entries
                    .iter()
                    .any(|e| e.dir == lp.dir && e.label == lp.label)
                {
                    continue;
                }
                for page in 0..lp.pages {
                    let pd = index_page_digest(&vd, lp.dir, &lp.label, page);
                    if let Some((p, _)) = self.read::<IndexPage>(&pd).await? {
                        have.extend(p.entries.into_iter().map(|e| (lp.dir, e.edge)));
                    }
                }
            }
        }
        Ok(entries
            .into_iter()
            .filter(|e| have.insert((e.dir, e.edge.clone())))
            .collect())
    }

    /// Adds `entries` to `rec` in memory: into the edge cache while all fit; otherwise the
    /// vertex becomes a supernode and its cached entries plus the new ones are appended to
    /// the index pages of their (direction, label), which are written here (pages before
    /// the vertex record, which the caller writes).
    pub(crate) async fn add_entries_to(
        &self,
        rec: &mut VertexRecord,
        entries: Vec<NewEntry>,
    ) -> Result<(), ModelError> {
        let cap = self.cfg.edge_cache_entries;
        let mut seqd = Vec::with_capacity(entries.len());
        for e in entries {
            let seq = rec.next_seq;
            rec.next_seq = rec.next_seq.saturating_add(1);
            seqd.push((seq, e));
        }
        if !rec.is_supernode() && rec.cache.len() + seqd.len() <= cap {
            rec.cache
                .extend(seqd.into_iter().map(|(seq, e)| CacheEntry {
                    seq,
                    edge: e.edge,
                    label: e.label,
                    dir: e.dir,
                    other: e.other,
                    pack_no: e.pack_no,
                }));
            return Ok(());
        }
        // Supernode: every entry goes to the index, cached ones first (in seq order).
        let mut to_index: Vec<(Dir, Arc<str>, IndexEntry)> = Vec::new();
        let cached = std::mem::take(&mut rec.cache);
        for c in cached {
            let props = if self.cfg.indexed_edge_keys.is_empty() {
                Vec::new()
            } else {
                let out = match c.dir {
                    Dir::Out => rec.id.clone(),
                    Dir::In => c.other.clone(),
                };
                match self.pack(&out, c.pack_no).await? {
                    Some(p) => p
                        .edges
                        .iter()
                        .find(|x| x.id == c.edge)
                        .map(|x| self.indexed(&x.props))
                        .unwrap_or_default(),
                    None => Vec::new(),
                }
            };
            to_index.push((
                c.dir,
                c.label,
                IndexEntry {
                    seq: c.seq,
                    edge: c.edge,
                    other: c.other,
                    pack_no: c.pack_no,
                    props,
                },
            ));
        }
        for (seq, e) in seqd {
            let props = self.indexed(&e.props);
            to_index.push((
                e.dir,
                e.label,
                IndexEntry {
                    seq,
                    edge: e.edge,
                    other: e.other,
                    pack_no: e.pack_no,
                    props,
                },
            ));
        }
        rec.flags |= FLAG_SUPERNODE;
        let mut groups: Vec<(Dir, Arc<str>, Vec<IndexEntry>)> = Vec::new();
        for (dir, label, entry) in to_index {
            match groups.iter_mut().find(|(d, l, _)| *d == dir && *l == label) {
                Some((_, _, list)) => list.push(entry),
                None => groups.push((dir, label, vec![entry])),
            }
        }
        let vd = self.space.vertex_digest(&rec.id);
        let max = self.cfg.index_page_entries;
        for (dir, label, list) in groups {
            let pages = match rec
                .index
                .iter()
                .find(|lp| lp.dir == dir && lp.label == label)
            {
                Some(lp) => lp.pages,
                None => 0,
            };
            let mut page = pages.saturating_sub(1);
            let mut rest = list.as_slice();
            let mut highest = page;
            while !rest.is_empty() {
                let pd = index_page_digest(&vd, dir, &label, page);
                let vid = rec.id.clone();
                let taken = self
                    .rmw(&pd, |p: Option<IndexPage>| {
                        let mut p = p.unwrap_or_else(|| IndexPage {
                            vertex: vid.clone(),
                            dir,
                            label: label.clone(),
                            page,
                            entries: Vec::new(),
                        });
                        let mut taken = 0;
                        for e in rest {
                            if p.entries.len() >= max {
                                break;
                            }
                            taken += 1;
                            if !p.entries.iter().any(|x| x.edge == e.edge) {
                                p.entries.push(e.clone());
                            }
                        }
                        if taken == 0 {
                            return Ok(Action::Keep(0));
                        }
                        Ok(Action::Put(p, taken))
                    })
                    .await?;
                rest = rest.get(taken..).unwrap_or_default();
                highest = page;
                if !rest.is_empty() {
                    page = page.saturating_add(1);
                }
            }
            let pages_now = highest.saturating_add(1).max(pages);
            match rec
                .index
                .iter_mut()
                .find(|lp| lp.dir == dir && lp.label == label)
            {
                Some(lp) => lp.pages = pages_now,
                None => rec.index.push(LabelPages {
                    dir,
                    label,
                    pages: pages_now,
                }),
            }
        }
        Ok(())
    }
}
