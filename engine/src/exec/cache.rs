//! The per-query record cache of the executor and [`CacheKv`], the `Kv` one attempt runs
//! over: reads answer from the cache (a digest not cached is recorded as a miss and reads
//! as absent), writes go to a per-attempt overlay with `MemKv`'s generation semantics.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use indexmap::IndexMap;

use crate::model::kv::{Digest, Got, Kv, KvError, WriteMode};

/// What an attempt found missing, so that the executor fetches it and retries.
#[derive(Debug, Default)]
pub(crate) struct Needs {
    /// Digests read but not cached, in first-read order, each with the top-level step that
    /// first read it (0 unless the machine is profiling).
    pub missed: Vec<(Digest, usize)>,
    /// A scan was asked before the digest list of every core was fetched.
    pub scan: bool,
    /// The top-level step that asked for the scan.
    pub scan_step: usize,
    /// The attempt ran out of reserved generated ids.
    pub ids: bool,
    /// A per-query limit was hit (name, value): the query fails.
    pub limit: Option<(&'static str, u64)>,
}

impl Needs {
    /// Whether the attempt saw everything it asked for.
    pub fn is_empty(&self) -> bool {
        self.missed.is_empty() && !self.scan && !self.ids && self.limit.is_none()
    }
}

/// What the store work of one top-level step cost, over every attempt (`profile()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepCosts {
    /// Records fetched for the step (present or absent).
    pub records: u64,
    /// Their payload bytes.
    pub record_bytes: u64,
    /// Bytes those reads took from the device.
    pub device_bytes: u64,
    /// Cross-core messages its fetches and scans took (each request and reply counts one).
    pub messages: u64,
    /// The machine's time in the step over every attempt, plus its share of fetch time.
    pub nanos: u64,
}

/// The records one query has fetched: digest -> record (`None`: absent), the scan list once
/// fetched, what the current attempt missed, and (profiling) what each step cost.
#[derive(Debug)]
pub(crate) struct QueryCache {
    records: RefCell<HashMap<Digest, Option<Got>>>,
    scan: RefCell<Option<Rc<Vec<Digest>>>>,
    /// Payload bytes held by `records`.
    bytes: Cell<u64>,
    /// Most payload bytes held by the cache plus one attempt's overlay.
    bytes_max: u64,
    missed: RefCell<IndexMap<Digest, usize>>,
    scan_needed: Cell<Option<usize>>,
    /// The top-level step the machine runs (profiling; 0 otherwise).
    step: Cell<usize>,
    /// Whether the machine said which step runs (it profiles).
    profiling: Cell<bool>,
    /// Per top-level step, its costs so far (profiling only).
    costs: RefCell<Vec<StepCosts>>,
    ids_short: Cell<bool>,
    limit: Cell<Option<(&'static str, u64)>>,
}

impl QueryCache {
    pub fn new(bytes_max: u64) -> QueryCache {
        QueryCache {
            records: RefCell::new(HashMap::new()),
            scan: RefCell::new(None),
            bytes: Cell::new(0),
            bytes_max,
            missed: RefCell::new(IndexMap::new()),
            scan_needed: Cell::new(None),
            step: Cell::new(0),
            profiling: Cell::new(false),
            costs: RefCell::new(Vec::new()),
            ids_short: Cell::new(false),
            limit: Cell::new(None),
        }
    }

    /// Number of records cached (absent ones included).
    pub fn len(&self) -> usize {
        self.records.borrow().len()
    }

    /// Payload bytes cached.
    pub fn bytes(&self) -> u64 {
        self.bytes.get()
    }

    /// Whether `d` is cached (present or known absent).
    pub fn has(&self, d: &Digest) -> bool {
        self.records.borrow().contains_key(d)
    }

    /// Whether the scan list was fetched.
    pub fn has_scan(&self) -> bool {
        self.scan.borrow().is_some()
    }

    /// Adds fetched records; fails when the bytes limit is exceeded.
    pub fn insert_all(
        &self,
        digests: &[Digest],
        got: Vec<Option<Got>>,
    ) -> Result<(), (&'static str, u64)> {
        let mut recs = self.records.borrow_mut();
        let mut bytes = self.bytes.get();
        for (d, g) in digests.iter().zip(got) {
            bytes = bytes.saturating_add(g.as_ref().map_or(0, |g| g.payload.len() as u64));
            recs.insert(*d, g);
        }
        self.bytes.set(bytes);
        if bytes > self.bytes_max {
            return Err(("QUERY_CACHE_BYTES_MAX", self.bytes_max));
        }
        Ok(())
    }

    /// Stores the scan list of every core.
    pub fn set_scan(&self, digests: Vec<Digest>) {
        *self.scan.borrow_mut() = Some(Rc::new(digests));
    }

    /// Whether the current attempt cannot go on (out of generated ids, or a limit hit): its
    /// later graph calls fail fast. A miss does not block: the step machine reads some
    /// elements one call per traverser (`vertex_ref`) and treats a failed read as a bare
    /// reference, so the attempt goes on, reading what is cached and recording every other
    /// miss of the frontier, which the executor then fetches in one batch.
    pub fn blocked(&self) -> bool {
        self.ids_short.get() || self.limit.get().is_some()
    }

    /// Records that the attempt ran out of generated ids.
    pub fn ids_short(&self) {
        self.ids_short.set(true);
    }

    /// Profiling: the machine runs top-level step `step` now.
    pub fn set_step(&self, step: usize) {
        self.profiling.set(true);
        self.step.set(step);
    }

    /// Whether the machine is profiling (it said which step runs).
    pub fn profiling(&self) -> bool {
        self.profiling.get()
    }

    /// Profiling: adds to what top-level step `step` cost.
    pub fn add_cost(&self, step: usize, f: impl FnOnce(&mut StepCosts)) {
        let mut costs = self.costs.borrow_mut();
        if costs.len() <= step {
            costs.resize(step + 1, StepCosts::default());
        }
        if let Some(c) = costs.get_mut(step) {
            f(c);
        }
    }

    /// Profiling: what top-level step `step` cost so far.
    pub fn cost(&self, step: usize) -> StepCosts {
        self.costs.borrow().get(step).copied().unwrap_or_default()
    }

    /// Records a hit limit (the query fails once the attempt returns).
    pub fn hit_limit(&self, limit: &'static str, max: u64) {
        if self.limit.get().is_none() {
            self.limit.set(Some((limit, max)));
        }
    }

    /// What the attempt that just ended needs; resets for the next attempt.
    pub fn take_needs(&self) -> Needs {
        Needs {
            missed: std::mem::take(&mut *self.missed.borrow_mut())
                .into_iter()
                .collect(),
            scan: self.scan_needed.get().is_some(),
            scan_step: self.scan_needed.replace(None).unwrap_or(0),
            ids: self.ids_short.replace(false),
            limit: self.limit.take(),
        }
    }

    /// The cached record (outer `None`: not cached; the miss is recorded).
    fn lookup(&self, d: &Digest) -> Option<Option<Got>> {
        match self.records.borrow().get(d) {
            Some(g) => Some(g.clone()),
            None => {
                let step = self.step.get();
                self.missed.borrow_mut().entry(*d).or_insert(step);
                None
            }
        }
    }
}

/// One attempt's writes: digest -> record (`None`: deleted), and the digests that became live
/// in this attempt in the order they did (a scan lists them after the fetched ones, as
/// `MemKv` appends new records).
#[derive(Debug, Default)]
struct Overlay {
    recs: HashMap<Digest, Option<(u16, Vec<u8>)>>,
    appended: IndexMap<Digest, ()>,
    bytes: u64,
}

/// The `Kv` of one attempt: the query's cache under this attempt's overlay. Every future it
/// returns is ready at once.
pub(crate) struct CacheKv {
    cache: Rc<QueryCache>,
    overlay: RefCell<Overlay>,
}

fn next_generation(g: u16) -> u16 {
    match g.wrapping_add(1) {
        0 => 1,
        n => n,
    }
}

fn check(current: Option<u16>, mode: WriteMode) -> Result<(), KvError> {
    match (mode, current) {
        (WriteMode::Plain, _) | (WriteMode::CreateOnly, None) => Ok(()),
        (WriteMode::CreateOnly, Some(_)) => Err(KvError::Exists),
        (WriteMode::ExpectGeneration(0), None) => Ok(()),
        (WriteMode::ExpectGeneration(g), Some(c)) if g == c => Ok(()),
        (WriteMode::ExpectGeneration(_), _) => Err(KvError::GenerationMismatch),
    }
}

impl CacheKv {
    pub fn new(cache: Rc<QueryCache>) -> CacheKv {
        CacheKv {
            cache,
            overlay: RefCell::new(Overlay::default()),
        }
    }

    /// The record as this attempt sees it (a miss reads as absent and is recorded).
    fn view(&self, d: &Digest) -> Option<Got> {
        if let Some(r) = self.overlay.borrow().recs.get(d) {
            return r.as_ref().map(|(g, p)| Got {
                generation: *g,
                payload: p.clone(),
                device_bytes: 0,
            });
        }
        self.cache.lookup(d).flatten()
    }

    /// The generation this attempt sees under `d` (no payload copy).
    fn generation(&self, d: &Digest) -> Option<u16> {
        if let Some(r) = self.overlay.borrow().recs.get(d) {
            return r.as_ref().map(|(g, _)| *g);
        }
        self.cache.lookup(d).flatten().map(|g| g.generation)
    }

    fn over_limit(&self, overlay_bytes: u64) -> bool {
        self.cache.bytes().saturating_add(overlay_bytes) > self.cache.bytes_max
    }
}

impl Kv for CacheKv {
    async fn get(&self, digest: &Digest) -> Result<Option<Got>, KvError> {
        Ok(self.view(digest))
    }

    async fn put(&self, digest: &Digest, payload: &[u8], mode: WriteMode) -> Result<u16, KvError> {
        let current = self.generation(digest);
        check(current, mode)?;
        let g = next_generation(current.unwrap_or(0));
        let mut o = self.overlay.borrow_mut();
        let old = o
            .recs
            .insert(*digest, Some((g, payload.to_vec())))
            .flatten()
            .map_or(0, |(_, p)| p.len() as u64);
        o.bytes = o
            .bytes
            .saturating_sub(old)
            .saturating_add(payload.len() as u64);
        if current.is_none() {
            o.appended.shift_remove(digest);
            o.appended.insert(*digest, ());
        }
        if self.over_limit(o.bytes) {
            self.cache
                .hit_limit("QUERY_CACHE_BYTES_MAX", self.cache.bytes_max);
            return Err(KvError::Store(
                "the query's records exceed QUERY_CACHE_BYTES_MAX".to_string(),
            ));
        }
        Ok(g)
    }

    async fn delete(&self, digest: &Digest, mode: WriteMode) -> Result<bool, KvError> {
        let current = self.generation(digest);
        check(current, mode)?;
        let mut o = self.overlay.borrow_mut();
        let old = o
            .recs
            .insert(*digest, None)
            .flatten()
            .map_or(0, |(_, p)| p.len() as u64);
        o.bytes = o.bytes.saturating_sub(old);
        o.appended.shift_remove(digest);
        Ok(current.is_some())
    }

    fn scan(&self) -> Vec<Digest> {
        let Some(base) = self.cache.scan.borrow().clone() else {
            if self.cache.scan_needed.get().is_none() {
                self.cache.scan_needed.set(Some(self.cache.step.get()));
            }
            return Vec::new();
        };
        let o = self.overlay.borrow();
        let mut out: Vec<Digest> = base
            .iter()
            .filter(|d| !o.appended.contains_key(*d) && !matches!(o.recs.get(*d), Some(None)))
            .copied()
            .collect();
        out.extend(o.appended.keys().copied());
        out
    }
}
