//! Edge repair after a restore (or a crash between the writes of a cross-core edge): makes
//! every edge present at both endpoints or at neither, by the recovery rule of
//! `docs/graph-model.md`: a locator whose pack slot exists and is not pending (and whose
//! endpoints exist) is a committed edge and gets any missing entry; anything else is not,
//! and its leftovers (pending slot, pack slot without locator, locator without pack slot,
//! entries of uncommitted edges) are removed. Not for a graph that is being written
//! concurrently.

use std::sync::Arc;

use super::{Action, Model};
use crate::model::keys::{pack_digest, Dir, ElementId};
use crate::model::kv::Kv;
use crate::model::records::{
    EdgeLocator, EdgePack, VertexRecord, MAGIC_LOCATOR, MAGIC_VERTEX, VOID_PENDING_S,
};
use crate::model::ModelError;

/// Pack numbers examined per vertex at most (a vertex's packs are `0..next_pack`).
pub const REPAIR_PACKS_PER_VERTEX_MAX: u32 = 1 << 20;

/// What one [`Model::repair_edges`] pass found and changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Committed edges checked (locator with its pack slot).
    pub edges_checked: u64,
    /// Entries added to complete a committed edge.
    pub entries_added: u64,
    /// Entries removed (their edge was not committed).
    pub entries_removed: u64,
    /// Pack slots removed (no locator claims them).
    pub pack_slots_removed: u64,
    /// Locators removed (no pack slot: the edge was never committed).
    pub locators_removed: u64,
    /// Committed edges dropped because an endpoint vertex is missing.
    pub edges_dropped: u64,
}

impl<K: Kv> Model<K> {
    async fn locator_of(&self, edge: &ElementId) -> Result<Option<EdgeLocator>, ModelError> {
        Ok(self
            .read::<EdgeLocator>(&self.space.edge_digest(edge))
            .await?
            .map(|r| r.0)
            .filter(|l| l.edge == *edge))
    }

    /// Whether `edge` is committed: its locator exists and names a pack slot that holds it.
    async fn committed(
        &self,
        edge: &ElementId,
    ) -> Result<Option<(EdgeLocator, crate::model::records::PackEdge)>, ModelError> {
        let Some(l) = self.locator_of(edge).await? else {
            return Ok(None);
        };
        let slot = self
            .pack(&l.out, l.pack_no)
            .await?
            .filter(|p| p.owner == l.out)
            .and_then(|p| {
                p.edges
                    .into_iter()
                    .find(|e| e.id == *edge && e.void_time_s != VOID_PENDING_S)
            });
        Ok(slot.map(|s| (l, s)))
    }

    async fn has_entry(
        &self,
        v: &VertexRecord,
        dir: Dir,
        label: &Arc<str>,
        edge: &ElementId,
    ) -> Result<bool, ModelError> {
        Ok(self
            .adjacency(v, &[dir], std::slice::from_ref(label))
            .await?
            .iter()
            .any(|a| a.edge == *edge))
    }

    /// Runs the three repair passes over the records this core's store scan returns (run it
    /// on every core, or on a single-core cluster over the whole data directory):
    /// 1. pack slots of every vertex without a matching locator are removed with their
    ///    entries;
    /// 2. every locator: without its pack slot it is removed (with the out vertex's entry
    ///    if any); with it, a missing endpoint vertex drops the edge, otherwise a missing
    ///    out or in entry is added;
    /// 3. every entry of every vertex whose edge is not committed is removed.
    pub async fn repair_edges(&self) -> Result<RepairReport, ModelError> {
        let mut rep = RepairReport::default();
        let mut vertices = Vec::new();
        let mut locators = Vec::new();
        for d in self.kv.scan() {
            let Some(g) = self.kv.get(&d).await? else {
                continue;
            };
            match g.payload.first() {
                Some(&MAGIC_VERTEX) => {
                    if let Ok(v) = VertexRecord::decode(&g.payload) {
                        if self.space.vertex_digest(&v.id) == d {
                            vertices.push(v.id);
                        }
                    }
                }
                Some(&MAGIC_LOCATOR) => {
                    if let Ok(l) = EdgeLocator::decode(&g.payload) {
                        if self.space.edge_digest(&l.edge) == d {
                            locators.push(l);
                        }
                    }
                }
                _ => {}
            }
        }
        // Pass 1: pack slots nobody's locator points at.
        for vid in &vertices {
            let Some(v) = self.vertex(vid).await? else {
                continue;
            };
            let vd = self.space.vertex_digest(vid);
            for pack_no in 0..v.next_pack.min(REPAIR_PACKS_PER_VERTEX_MAX) {
                let Some(p) = self.pack(vid, pack_no).await? else {
                    continue;
                };
                for e in p.edges {
                    // A pending slot is an add a crash cut before its commit.
                    let ok = e.void_time_s != VOID_PENDING_S
                        && self
                            .locator_of(&e.id)
                            .await?
                            .is_some_and(|l| l.out == *vid && l.pack_no == pack_no);
                    if ok {
                        continue;
                    }
                    self.remove_entry(vid, Dir::Out, &e.label, &e.id).await?;
                    self.remove_entry(&e.in_id, Dir::In, &e.label, &e.id)
                        .await?;
                    let id = e.id.clone();
                    self.rmw(&pack_digest(&vd, pack_no), |p: Option<EdgePack>| {
                        let Some(mut p) = p else {
                            return Ok(Action::Keep(()));
                        };
                        p.edges.retain(|x| x.id != id);
                        if p.edges.is_empty() {
                            Ok(Action::Delete(()))
                        } else {
                            Ok(Action::Put(p, ()))
                        }
                    })
                    .await?;
                    rep.pack_slots_removed += 1;
                }
            }
        }
        // Pass 2: locators.
        for l in &locators {
            let Some((_, slot)) = self.committed(&l.edge).await? else {
                if self.locator_of(&l.edge).await?.is_none() {
                    continue;
                }
                // Never committed: the out vertex may hold an entry already.
                if let Some(v) = self.vertex(&l.out).await? {
                    for a in self.adjacency(&v, &[Dir::Out], &[]).await? {
                        if a.edge == l.edge {
                            self.remove_entry(&l.out, Dir::Out, &a.label, &l.edge)
                                .await?;
                            self.remove_entry(&a.other, Dir::In, &a.label, &l.edge)
                                .await?;
                            rep.entries_removed += 1;
                        }
                    }
                }
                let id = l.edge.clone();
                self.rmw(
                    &self.space.edge_digest(&l.edge),
                    |x: Option<EdgeLocator>| match x {
                        Some(x) if x.edge == id => Ok(Action::Delete(())),
                        _ => Ok(Action::Keep(())),
                    },
                )
                .await?;
                rep.locators_removed += 1;
                continue;
            };
            rep.edges_checked += 1;
            let (Some(out_v), Some(in_v)) =
                (self.vertex(&l.out).await?, self.vertex(&slot.in_id).await?)
            else {
                self.drop_edge(&l.edge).await?;
                rep.edges_dropped += 1;
                continue;
            };
            if !self
                .has_entry(&out_v, Dir::Out, &slot.label, &l.edge)
                .await?
            {
                self.add_entry(
                    &self.kv,
                    &l.out,
                    Dir::Out,
                    &slot.label,
                    &l.edge,
                    &slot.in_id,
                    l.pack_no,
                    &slot.props,
                )
                .await?;
                rep.entries_added += 1;
            }
            // Re-read: a self-loop's in entry lives in the record just changed.
            let in_v = if in_v.id == out_v.id {
                self.vertex(&in_v.id).await?.unwrap_or(in_v)
            } else {
                in_v
            };
            if !self.has_entry(&in_v, Dir::In, &slot.label, &l.edge).await? {
                self.add_entry(
                    &self.kv,
                    &slot.in_id,
                    Dir::In,
                    &slot.label,
                    &l.edge,
                    &l.out,
                    l.pack_no,
                    &slot.props,
                )
                .await?;
                rep.entries_added += 1;
            }
        }
        // Pass 3: entries of edges that are not committed.
        for vid in &vertices {
            let Some(v) = self.vertex(vid).await? else {
                continue;
            };
            for a in self.adjacency(&v, &[Dir::Out, Dir::In], &[]).await? {
                let ok = match self.committed(&a.edge).await? {
                    Some((l, slot)) => {
                        l.out == *a.out_vertex(vid)
                            && match a.dir {
                                Dir::Out => slot.in_id == a.other,
                                Dir::In => slot.in_id == *vid,
                            }
                    }
                    None => false,
                };
                if !ok {
                    self.remove_entry(vid, a.dir, &a.label, &a.edge).await?;
                    rep.entries_removed += 1;
                }
            }
        }
        Ok(rep)
    }
}

/// Whether every edge of the graph is present at both endpoints or at neither: every entry
/// names a committed edge with the right endpoints, and every committed edge whose
/// endpoints exist has its out and in entry. Returns the problems found (empty = consistent)
/// and the number of committed edges. For tests and `coregraph restore --check`.
pub async fn edge_problems<K: Kv>(m: &Model<K>) -> Result<(Vec<String>, u64), ModelError> {
    let mut problems = Vec::new();
    let mut edges = 0u64;
    for d in m.kv.scan() {
        let Some(g) = m.kv.get(&d).await? else {
            continue;
        };
        match g.payload.first() {
            Some(&MAGIC_LOCATOR) => {
                let Ok(l) = EdgeLocator::decode(&g.payload) else {
                    continue;
                };
                if m.space.edge_digest(&l.edge) != d {
                    continue;
                }
                let Some((l, slot)) = m.committed(&l.edge).await? else {
                    problems.push(format!("locator of {:?} without a pack slot", l.edge));
                    continue;
                };
                edges += 1;
                for (v, dir) in [(&l.out, Dir::Out), (&slot.in_id, Dir::In)] {
                    match m.vertex(v).await? {
                        Some(vr) => {
                            if !m.has_entry(&vr, dir, &slot.label, &l.edge).await? {
                                problems.push(format!(
                                    "edge {:?} has no {dir:?} entry at {v:?}",
                                    l.edge
                                ));
                            }
                        }
                        None => problems.push(format!("edge {:?}: endpoint {v:?} missing", l.edge)),
                    }
                }
            }
            Some(&MAGIC_VERTEX) => {
                let Ok(v) = VertexRecord::decode(&g.payload) else {
                    continue;
                };
                if m.space.vertex_digest(&v.id) != d || m.vertex(&v.id).await?.is_none() {
                    continue;
                }
                for a in m.adjacency(&v, &[Dir::Out, Dir::In], &[]).await? {
                    let ok = match m.committed(&a.edge).await? {
                        Some((l, slot)) => {
                            l.out == *a.out_vertex(&v.id)
                                && match a.dir {
                                    Dir::Out => slot.in_id == a.other,
                                    Dir::In => slot.in_id == v.id,
                                }
                        }
                        None => false,
                    };
                    if !ok {
                        problems.push(format!(
                            "{:?} entry of edge {:?} at {:?} names no committed edge",
                            a.dir, a.edge, v.id
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok((problems, edges))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::keys::{IntWidth, KeySpace};
    use crate::model::kv::{MemKv, WriteMode};
    use crate::model::ops::ManualClock;
    use crate::model::ModelConfig;
    use futures_lite::future::block_on;
    use std::rc::Rc;

    fn int(v: i64) -> ElementId {
        ElementId::Int {
            value: v,
            width: IntWidth::Long,
        }
    }

    #[test]
    fn repair_completes_committed_edges_and_removes_the_rest() {
        let clock = Rc::new(ManualClock::default());
        clock.0.set(1_000);
        let cfg = ModelConfig {
            edge_cache_entries: 2,
            pack_edges: 3,
            index_page_entries: 4,
            indexed_edge_keys: vec![],
        };
        let m = Model::new(
            MemKv::new(),
            KeySpace::new("g").unwrap(),
            cfg,
            Box::new(clock),
        )
        .unwrap();
        block_on(async {
            for v in 1..=6 {
                m.add_vertex(int(v), "p", 0).await.unwrap();
            }
            // Vertex 1 becomes a supernode (cache of 2); edges 100.. from 1 to 2..=6 twice.
            let mut e = 100;
            for round in 0..2 {
                for v in 2..=6 {
                    let (o, i) = if round == 0 { (1, v) } else { (v, 1) };
                    m.add_edge(int(e), "k", &int(o), &int(i), 0).await.unwrap();
                    e += 1;
                }
            }
            let (p, n) = edge_problems(&m).await.unwrap();
            assert!(p.is_empty(), "{p:?}");
            assert_eq!(n, 10);
            // Cut writes the way a backup across cores can.
            m.remove_entry(&int(3), Dir::In, "k", &int(101))
                .await
                .unwrap(); // in entry lost
            m.remove_entry(&int(1), Dir::Out, "k", &int(102))
                .await
                .unwrap(); // out entry lost
            m.kv.delete(&m.space.edge_digest(&int(103)), WriteMode::Plain)
                .await
                .unwrap(); // locator lost: slot not committed
            let l = m.locator_of(&int(104)).await.unwrap().unwrap();
            let pd = pack_digest(&m.space.vertex_digest(&l.out), l.pack_no);
            m.rmw(&pd, |p: Option<EdgePack>| {
                let mut p = p.unwrap();
                p.edges.retain(|x| x.id != int(104));
                Ok(Action::Put(p, ()))
            })
            .await
            .unwrap(); // pack slot lost: locator and entries not committed
            m.kv.delete(&m.space.vertex_digest(&int(5)), WriteMode::Plain)
                .await
                .unwrap(); // endpoint lost: edges 103 and 108 touch vertex 5
            let (p, _) = edge_problems(&m).await.unwrap();
            assert!(p.len() >= 5, "{p:?}");
            let rep = m.repair_edges().await.unwrap();
            let (p, n) = edge_problems(&m).await.unwrap();
            assert!(p.is_empty(), "after repair: {p:?} ({rep:?})");
            assert_eq!(rep.entries_added, 2, "{rep:?}");
            assert_eq!(rep.pack_slots_removed, 1, "{rep:?}");
            assert_eq!(rep.locators_removed, 1, "{rep:?}");
            assert_eq!(rep.edges_dropped, 1, "{rep:?}");
            // 100, 101, 102, 105, 106, 107, 109 remain (103, 104 cut; 108 lost vertex 5).
            assert_eq!(n, 7);
            for (id, o, i) in [(101, 1, 3), (102, 1, 4)] {
                let seen = m
                    .incident(&int(i), &[Dir::In], &[], &[])
                    .await
                    .unwrap()
                    .iter()
                    .any(|(_, e)| e.id == int(id));
                assert!(seen, "edge {id} from the in side");
                let seen = m
                    .incident(&int(o), &[Dir::Out], &[], &[])
                    .await
                    .unwrap()
                    .iter()
                    .any(|(_, e)| e.id == int(id));
                assert!(seen, "edge {id} from the out side");
            }
            // A second pass finds nothing to do.
            let again = m.repair_edges().await.unwrap();
            assert_eq!(again.entries_added + again.entries_removed, 0, "{again:?}");
        });
    }
}
