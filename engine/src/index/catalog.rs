//! The cluster-wide list of index definitions: created, dropped, listed and watched through
//! `call()` services (`coregraph.index.*` and Aerospike Graph's `aerospike.graph.admin.index.*`)
//! and the HTTP admin port (`/index`); persisted, checksummed, in the data directory
//! ([`DEFS_FILE_NAME`]). Each core polls it ([`spawn_index_worker`]) and builds or forgets
//! its shards' copies; cores report build progress back here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use glommio::{Latency, Shares};
use gremlin::graph::Graph;
use gremlin::machine::services::{Service, ServiceItem, ServiceKind};
use gremlin::value::{Map, Value};
use gremlin::GremlinError;

use crate::index::{
    build, CoreIndexes, Status, COMPOUND_KEYS_MAX, INDEXES_MAX, INDEX_MEMORY_BYTES_DEFAULT,
    INDEX_MEMORY_BYTES_MAX,
};

/// The definitions file in the data directory.
pub const DEFS_FILE_NAME: &str = "indexes.def";
/// Largest definitions file read (bytes).
pub const DEFS_FILE_BYTES_MAX: u64 = 1 << 20;
/// Longest index name or key (bytes).
pub const INDEX_NAME_BYTES_MAX: usize = 128;
/// How often each core looks for new or dropped definitions.
pub const INDEX_POLL_MS: u64 = 20;
/// Shares of the index build task queue (serving has 1000).
pub const INDEX_BUILD_SHARES: usize = 100;

/// What an index is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexKind {
    /// Vertex labels.
    VertexLabel,
    /// One vertex property key, or several (compound: equality on all).
    VertexProps(Vec<Arc<str>>),
    /// One edge property key.
    EdgeProp(Arc<str>),
}

/// One index definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDef {
    pub name: Arc<str>,
    /// The graph (traversal source name).
    pub graph: Arc<str>,
    pub kind: IndexKind,
    /// Estimated memory one core's copy may take; past it the copy is refused.
    pub memory_bytes_max: u64,
}

impl IndexDef {
    fn kind_str(&self) -> (&'static str, String) {
        match &self.kind {
            IndexKind::VertexLabel => ("vertex_label", String::new()),
            IndexKind::VertexProps(k) => ("vertex", k.join(",")),
            IndexKind::EdgeProp(k) => ("edge", k.to_string()),
        }
    }

    fn line(&self) -> String {
        let (kind, keys) = self.kind_str();
        format!(
            "{}\t{}\t{kind}\t{keys}\t{}\n",
            self.name, self.graph, self.memory_bytes_max
        )
    }

    fn parse(line: &str) -> Result<IndexDef, String> {
        let f: Vec<&str> = line.split('\t').collect();
        let [name, graph, kind, keys, mem] = f.as_slice() else {
            return Err(format!("bad definition line {line:?}"));
        };
        let mem: u64 = mem
            .parse()
            .map_err(|_| format!("bad memory limit {mem:?}"))?;
        let kind = match *kind {
            "vertex_label" => IndexKind::VertexLabel,
            "vertex" => IndexKind::VertexProps(keys.split(',').map(Arc::from).collect()),
            "edge" => IndexKind::EdgeProp(Arc::from(*keys)),
            k => return Err(format!("unknown index kind {k:?}")),
        };
        let d = IndexDef {
            name: Arc::from(*name),
            graph: Arc::from(*graph),
            kind,
            memory_bytes_max: mem,
        };
        d.validate()?;
        Ok(d)
    }

    /// Checks names, keys and limits.
    pub fn validate(&self) -> Result<(), String> {
        let ok = |s: &str| {
            !s.is_empty() && s.len() <= INDEX_NAME_BYTES_MAX && !s.contains(['\t', '\n', '\r', ','])
        };
        if !ok(&self.name) || !ok(&self.graph) {
            return Err(format!(
                "index and graph names: 1..={INDEX_NAME_BYTES_MAX} bytes, no tab, comma or newline"
            ));
        }
        match &self.kind {
            IndexKind::VertexLabel => {}
            IndexKind::VertexProps(keys) => {
                if keys.is_empty() || keys.len() > COMPOUND_KEYS_MAX {
                    return Err(format!("1..={COMPOUND_KEYS_MAX} keys"));
                }
                if !keys.iter().all(|k| ok(k)) {
                    return Err("bad property key".into());
                }
            }
            IndexKind::EdgeProp(k) => {
                if !ok(k) {
                    return Err("bad property key".into());
                }
            }
        }
        if self.memory_bytes_max == 0 || self.memory_bytes_max > INDEX_MEMORY_BYTES_MAX {
            return Err(format!(
                "memory_bytes_max must be in 1..={INDEX_MEMORY_BYTES_MAX}"
            ));
        }
        Ok(())
    }

    /// The definition as a map (for `list`).
    pub fn to_map(&self) -> Map {
        let (kind, keys) = self.kind_str();
        let mut m = Map::new();
        m.insert(Value::str("name"), Value::str(&self.name));
        m.insert(Value::str("graph"), Value::str(&self.graph));
        m.insert(Value::str("kind"), Value::str(kind));
        m.insert(Value::str("keys"), Value::str(&keys));
        m.insert(
            Value::str("memory_bytes_max"),
            Value::Long(i64::try_from(self.memory_bytes_max).unwrap_or(i64::MAX)),
        );
        m
    }
}

/// One core's last report on one index.
#[derive(Clone, Debug)]
struct CoreReport {
    status: Status,
    bytes: u64,
}

#[derive(Default)]
struct State {
    defs: Vec<Arc<IndexDef>>,
    version: u64,
    reports: BTreeMap<(String, usize), CoreReport>,
    counts_ready: BTreeMap<usize, bool>,
}

/// The definitions shared by every core (`Send + Sync + Clone`).
#[derive(Clone)]
pub struct IndexCatalog {
    st: Arc<Mutex<State>>,
    /// Where definitions persist (`None`: memory only, for tests).
    path: Option<PathBuf>,
    cores: usize,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn checksum(body: &[u8]) -> u32 {
    // FNV-1a folded to 32 bits: detects torn or edited files (not an adversary).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h ^ (h >> 32)) as u32
}

impl IndexCatalog {
    /// The catalog of a server of `cores` cores whose data directory is `dir` (`None`: not
    /// persisted): reads the definitions file if present, refusing a corrupt one.
    pub fn open(dir: Option<&Path>, cores: usize) -> Result<IndexCatalog, String> {
        let path = dir.map(|d| d.join(DEFS_FILE_NAME));
        let mut defs = Vec::new();
        if let Some(p) = &path {
            if p.exists() {
                let len = std::fs::metadata(p).map_err(|e| e.to_string())?.len();
                if len > DEFS_FILE_BYTES_MAX {
                    return Err(format!(
                        "{}: {len} bytes, more than DEFS_FILE_BYTES_MAX ({DEFS_FILE_BYTES_MAX})",
                        p.display()
                    ));
                }
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("reading {}: {e}", p.display()))?;
                let (body, last) = text
                    .trim_end_matches('\n')
                    .rsplit_once('\n')
                    .map_or(("", text.trim_end_matches('\n')), |(b, l)| (b, l));
                let want = last
                    .strip_prefix("checksum ")
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("{}: no checksum line", p.display()))?;
                let body = if body.is_empty() {
                    String::new()
                } else {
                    format!("{body}\n")
                };
                if checksum(body.as_bytes()) != want {
                    return Err(format!("{}: checksum mismatch (corrupt)", p.display()));
                }
                for line in body.lines().filter(|l| !l.is_empty()) {
                    defs.push(Arc::new(
                        IndexDef::parse(line).map_err(|e| format!("{}: {e}", p.display()))?,
                    ));
                }
            }
        }
        Ok(IndexCatalog {
            st: Arc::new(Mutex::new(State {
                defs,
                version: 1,
                ..State::default()
            })),
            path,
            cores: cores.max(1),
        })
    }

    fn persist(&self, defs: &[Arc<IndexDef>]) -> Result<(), String> {
        let Some(p) = &self.path else { return Ok(()) };
        let body: String = defs.iter().map(|d| d.line()).collect();
        let text = format!("{body}checksum {:08x}\n", checksum(body.as_bytes()));
        let tmp = p.with_extension("def.tmp");
        let write = || -> std::io::Result<()> {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, p)?;
            if let Some(parent) = p.parent() {
                std::fs::File::open(parent)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| format!("writing {}: {e}", p.display()))
    }

    /// Adds a definition (persisted before it is visible). Fails on a duplicate name, an
    /// index of the same kind and keys on the same graph, or past [`INDEXES_MAX`].
    pub fn create(&self, def: IndexDef) -> Result<(), String> {
        def.validate()?;
        let mut st = lock(&self.st);
        if st.defs.len() >= INDEXES_MAX {
            return Err(format!("at most INDEXES_MAX ({INDEXES_MAX}) indexes"));
        }
        if let Some(d) = st
            .defs
            .iter()
            .find(|d| d.name == def.name || (d.graph == def.graph && d.kind == def.kind))
        {
            return Err(format!("index {} already exists", d.name));
        }
        let mut defs = st.defs.clone();
        defs.push(Arc::new(def));
        self.persist(&defs)?;
        st.defs = defs;
        st.version += 1;
        Ok(())
    }

    /// Drops a definition; returns whether it existed.
    pub fn drop_index(&self, name: &str) -> Result<bool, String> {
        let mut st = lock(&self.st);
        let defs: Vec<Arc<IndexDef>> = st
            .defs
            .iter()
            .filter(|d| &*d.name != name)
            .cloned()
            .collect();
        if defs.len() == st.defs.len() {
            return Ok(false);
        }
        self.persist(&defs)?;
        st.defs = defs;
        st.version += 1;
        st.reports.retain(|(n, _), _| n != name);
        Ok(true)
    }

    /// The definitions.
    pub fn defs(&self) -> Vec<Arc<IndexDef>> {
        lock(&self.st).defs.clone()
    }

    /// Definitions and their version (changes on every create or drop).
    pub fn snapshot(&self) -> (u64, Vec<Arc<IndexDef>>) {
        let st = lock(&self.st);
        (st.version, st.defs.clone())
    }

    pub(crate) fn report(&self, core: usize, name: &str, status: Status, bytes: u64) {
        lock(&self.st)
            .reports
            .insert((name.to_string(), core), CoreReport { status, bytes });
    }

    pub(crate) fn report_counts(&self, core: usize, ready: bool) {
        lock(&self.st).counts_ready.insert(core, ready);
    }

    /// The status of index `name` over every core: `(state, percent, bytes)` where state is
    /// `ready`, `building` or `failed: why` (`None`: no such index).
    pub fn status(&self, name: &str) -> Option<(String, u32, u64)> {
        let st = lock(&self.st);
        st.defs.iter().find(|d| &*d.name == name)?;
        let mut done = 0u64;
        let mut total = 0u64;
        let mut bytes = 0u64;
        let mut ready = 0usize;
        for c in 0..self.cores {
            let Some(r) = st.reports.get(&(name.to_string(), c)) else {
                continue;
            };
            bytes = bytes.saturating_add(r.bytes);
            match &r.status {
                Status::Failed(e) => return Some((format!("failed: {e}"), 0, 0)),
                Status::Ready => ready += 1,
                Status::Building { done: a, total: b } => {
                    done += a;
                    total += b;
                }
            }
        }
        if ready == self.cores {
            return Some(("ready".into(), 100, bytes));
        }
        let pct = done
            .saturating_mul(100)
            .checked_div(total)
            .map_or(0, |p| p.min(99) as u32);
        Some(("building".into(), pct, bytes))
    }

    /// Status as a map (for the services).
    pub fn status_map(&self, name: &str) -> Option<Map> {
        let (state, pct, bytes) = self.status(name)?;
        let def = self.defs().into_iter().find(|d| &*d.name == name)?;
        let mut m = def.to_map();
        m.insert(Value::str("status"), Value::str(&state));
        m.insert(Value::str("progress_pct"), Value::Int(pct as i32));
        m.insert(
            Value::str("memory_bytes"),
            Value::Long(i64::try_from(bytes).unwrap_or(i64::MAX)),
        );
        Some(m)
    }

    /// The `call()` services: `coregraph.index.create` / `.drop` / `.list` / `.status` and
    /// the same under `aerospike.graph.admin.index.*` (`.stats` too).
    pub fn services(&self) -> Vec<Arc<dyn Service>> {
        let mut out: Vec<Arc<dyn Service>> = Vec::new();
        for prefix in ["coregraph.index", "aerospike.graph.admin.index"] {
            for op in [Op::Create, Op::Drop, Op::List, Op::Status] {
                out.push(Arc::new(IndexService {
                    cat: self.clone(),
                    op,
                    name: format!("{prefix}.{}", op.word()),
                }));
            }
        }
        out.push(Arc::new(IndexService {
            cat: self.clone(),
            op: Op::Status,
            name: "aerospike.graph.admin.index.stats".into(),
        }));
        out
    }

    /// The admin endpoint: `POST /index?name=N&kind=vertex|vertex_label|edge&keys=a,b[&graph=G]
    /// [&memory_bytes_max=B]`, `GET /index` (every index's status), `DELETE /index?name=N`.
    /// `None` for other paths.
    pub fn admin(&self, method: &str, path: &str, query: &str) -> Option<(String, String)> {
        if path != "/index" {
            return None;
        }
        let param = |name: &str| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| crate::backup::percent_decode(v))
        };
        let bad = |b: String| Some(("400 Bad Request".to_string(), b + "\n"));
        match method {
            "GET" => {
                let mut out = String::new();
                for d in self.defs() {
                    let (state, pct, bytes) = self.status(&d.name).unwrap_or(("gone".into(), 0, 0));
                    let (kind, keys) = d.kind_str();
                    out.push_str(&format!(
                        "{} graph={} kind={kind} keys={keys} status={state} progress={pct}% memory_bytes={bytes}\n",
                        d.name, d.graph
                    ));
                }
                if out.is_empty() {
                    out.push_str("no indexes\n");
                }
                Some(("200 OK".into(), out))
            }
            "POST" => {
                let mut m = Map::new();
                for k in ["name", "kind", "keys", "graph", "memory_bytes_max"] {
                    if let Some(v) = param(k) {
                        m.insert(Value::str(k), Value::str(&v));
                    }
                }
                match def_from_params(&m) {
                    Err(e) => bad(e),
                    Ok(def) => {
                        let name = def.name.clone();
                        match self.create(def) {
                            Ok(()) => Some((
                                "202 Accepted".into(),
                                format!("index {name} created; building\n"),
                            )),
                            Err(e) if e.contains("already exists") => {
                                Some(("409 Conflict".into(), e + "\n"))
                            }
                            Err(e) => bad(e),
                        }
                    }
                }
            }
            "DELETE" => {
                let Some(name) = param("name") else {
                    return bad("DELETE /index?name=N: name missing".into());
                };
                match self.drop_index(&name) {
                    Ok(true) => Some(("200 OK".into(), format!("index {name} dropped\n"))),
                    Ok(false) => Some(("404 Not Found".into(), format!("no index {name}\n"))),
                    Err(e) => Some(("500 Internal Server Error".into(), e + "\n")),
                }
            }
            _ => Some((
                "405 Method Not Allowed".into(),
                "GET, POST or DELETE\n".into(),
            )),
        }
    }
}

fn get_str(m: &Map, k: &str) -> Option<String> {
    match m.get(&Value::str(k))? {
        Value::String(s) => Some(s.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// A definition from service or HTTP parameters: `name`, `kind` (`vertex`, `vertex_label`,
/// `edge`; AGS's `element_type`), `keys` (comma-separated; AGS's `property_key`, where
/// `~label` means the label), `graph`, `memory_bytes_max`. A missing name is made from
/// the kind and keys.
fn def_from_params(m: &Map) -> Result<IndexDef, String> {
    let element = get_str(m, "kind")
        .or_else(|| get_str(m, "element_type"))
        .unwrap_or_else(|| "vertex".into());
    let keys = get_str(m, "keys").or_else(|| get_str(m, "property_key"));
    let kind = match (element.as_str(), keys.as_deref()) {
        ("vertex_label", _) | ("vertex", Some("~label")) => IndexKind::VertexLabel,
        ("vertex", Some(k)) => IndexKind::VertexProps(k.split(',').map(Arc::from).collect()),
        ("edge", Some(k)) => IndexKind::EdgeProp(Arc::from(k)),
        (e, None) => return Err(format!("{e} index: keys (property_key) missing")),
        (e, _) => return Err(format!("unknown kind {e:?}: vertex, vertex_label or edge")),
    };
    let graph = get_str(m, "graph").unwrap_or_else(|| crate::runtime::DEFAULT_GRAPH.into());
    let name = get_str(m, "name").unwrap_or_else(|| {
        let k = keys.clone().unwrap_or_default().replace([',', '~'], "_");
        format!("{element}_{k}")
    });
    let memory_bytes_max = match m.get(&Value::str("memory_bytes_max")) {
        None => INDEX_MEMORY_BYTES_DEFAULT,
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| format!("memory_bytes_max {s:?}: not a number"))?,
        Some(v) => gremlin::machine::sem::to_f64(v)
            .filter(|x| *x >= 1.0)
            .map(|x| x as u64)
            .ok_or("memory_bytes_max: a positive number")?,
    };
    let def = IndexDef {
        name: Arc::from(name.as_str()),
        graph: Arc::from(graph.as_str()),
        kind,
        memory_bytes_max,
    };
    def.validate()?;
    Ok(def)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Create,
    Drop,
    List,
    Status,
}

impl Op {
    fn word(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Drop => "drop",
            Op::List => "list",
            Op::Status => "status",
        }
    }
}

struct IndexService {
    cat: IndexCatalog,
    op: Op,
    name: String,
}

impl Service for IndexService {
    fn name(&self) -> &str {
        &self.name
    }

    fn supports(&self, kind: ServiceKind) -> bool {
        kind == ServiceKind::Start
    }

    fn describe_params(&self) -> Map {
        let mut m = Map::new();
        if matches!(self.op, Op::Create | Op::Drop | Op::Status) {
            m.insert(Value::str("name"), Value::str("index name"));
        }
        if self.op == Op::Create {
            m.insert(
                Value::str("kind"),
                Value::str("vertex, vertex_label or edge (AGS: element_type)"),
            );
            m.insert(
                Value::str("keys"),
                Value::str("property keys, comma-separated (AGS: property_key; ~label)"),
            );
            m.insert(Value::str("graph"), Value::str("graph name (default g)"));
            m.insert(
                Value::str("memory_bytes_max"),
                Value::str("memory limit per core"),
            );
        }
        m
    }

    fn start(
        &self,
        _graph: &mut dyn Graph,
        params: &Map,
    ) -> Result<Vec<ServiceItem>, GremlinError> {
        let fail = |e: String| GremlinError::runtime(format!("{}: {e}", self.name));
        // AGS drops and watches by element type and key: the same name rule as create.
        let name_of = |m: &Map| -> Result<String, GremlinError> {
            match get_str(m, "name") {
                Some(n) => Ok(n),
                None => def_from_params(m).map(|d| d.name.to_string()).map_err(fail),
            }
        };
        match self.op {
            Op::Create => {
                let def = def_from_params(params).map_err(fail)?;
                let name = def.name.to_string();
                self.cat.create(def).map_err(fail)?;
                let m = self.cat.status_map(&name).unwrap_or_default();
                Ok(vec![ServiceItem::of(Value::Map(m))])
            }
            Op::Drop => {
                let name = name_of(params)?;
                let existed = self.cat.drop_index(&name).map_err(fail)?;
                if !existed {
                    return Err(fail(format!("no index {name}")));
                }
                Ok(vec![ServiceItem::of(Value::str(&format!(
                    "index {name} dropped"
                )))])
            }
            Op::List => Ok(self
                .cat
                .defs()
                .iter()
                .filter_map(|d| self.cat.status_map(&d.name))
                .map(|m| ServiceItem::of(Value::Map(m)))
                .collect()),
            Op::Status => {
                if params.is_empty() {
                    return Ok(self
                        .cat
                        .defs()
                        .iter()
                        .filter_map(|d| self.cat.status_map(&d.name))
                        .map(|m| ServiceItem::of(Value::Map(m)))
                        .collect());
                }
                let name = name_of(params)?;
                let m = self
                    .cat
                    .status_map(&name)
                    .ok_or_else(|| fail(format!("no index {name}")))?;
                Ok(vec![ServiceItem::of(Value::Map(m))])
            }
        }
    }
}

/// The per-core index worker: builds this core's counters and indexes at start, then every
/// [`INDEX_POLL_MS`] applies new and dropped definitions (building new ones online over the
/// existing records). Runs in a low-shares task queue until the executor ends.
pub fn spawn_index_worker(
    cat: IndexCatalog,
    ix: Rc<CoreIndexes>,
    shards: Vec<Rc<glommio_shard::Shard>>,
) -> Result<(), String> {
    let q = glommio::executor().create_task_queue(
        Shares::Static(INDEX_BUILD_SHARES),
        Latency::NotImportant,
        "index-build",
    );
    glommio::spawn_local_into(
        async move {
            let mut seen = 0u64;
            let mut first = true;
            loop {
                let (version, defs) = cat.snapshot();
                if version != seen || first {
                    seen = version;
                    for name in ix.index_names() {
                        if !defs.iter().any(|d| d.name == name) {
                            ix.drop_index(&name);
                        }
                    }
                    let mut added = first;
                    for d in defs {
                        added |= ix.add_index(d);
                    }
                    first = false;
                    if added {
                        build(&ix, &shards).await;
                    }
                }
                ix.report();
                glommio::timer::sleep(Duration::from_millis(INDEX_POLL_MS)).await;
            }
        },
        q,
    )
    .map_err(|e| format!("starting the index worker: {e}"))?
    .detach();
    Ok(())
}

/// The shard type the worker builds over (a path alias keeps the signature readable).
mod glommio_shard {
    pub use shards::Shard;
}
