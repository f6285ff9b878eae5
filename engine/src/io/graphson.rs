//! Streaming GraphSON 3.0 adjacency-list import and export over the graph model (the format
//! of `../shared/tinkerpop/data/*.json`: one vertex per line with its `outE` and `inE`).
//!
//! **Import** ([`import_file`]) reads the file twice, a line at a time, never holding more
//! than [`IMPORT_BATCH_LINES`] parsed lines: pass 1 writes every vertex (its record with all
//! its properties, ids and meta-properties in one create-only write), pass 2 every edge from
//! the `outE` lists (as TinkerPop's `GraphSONReader` does; `inE` lists are only counted),
//! with the model's normal, generation-checked operations, which reach each record on the
//! core that owns it. A line that does not parse, a vertex or edge id that is already taken,
//! and an edge to a vertex that is missing (or was not imported) are errors of that element
//! only: each is counted, reported with its line number to the caller's sink, and the import
//! goes on until more than `errors_max` errors stop it. An edge is added and then given its
//! properties; if a property fails the edge is dropped again, so no element is half-applied.
//!
//! **Export** ([`export`]) scans the digests of every core, reads the records in batches of
//! [`EXPORT_BATCH_RECORDS`], and writes one line per live vertex with its properties and its
//! incident edges (`outE` and `inE`, as TinkerPop writes them) straight to the writer. It
//! holds the digest list of the scan and one batch of records, never the graph.
//!
//! File I/O is `std::io` (blocking): on a serving core a read or write of the file waits for
//! the page cache or the device like any small syscall.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::Path;

use gremlin::codec::graphson::{read_vertex_line, write_vertex_line, VertexLine};
use gremlin::value::{Edge, Vertex};

use crate::model::adapter::{edge_value, vertex_value};
use crate::model::keys::{Dir, ElementId};
use crate::model::kv::{Kv, KvError, Records, WriteMode};
use crate::model::ops::Model;
use crate::model::records::{VProp, VertexRecord, MAGIC_VERTEX, PROPERTIES_MAX};
use crate::model::ModelError;

/// Longest line (one vertex with all its edges) the importer reads.
pub const LINE_BYTES_MAX: usize = 256 << 20;
/// Parsed lines held at once by the importer (then written before more are read).
pub const IMPORT_BATCH_LINES: usize = 256;
/// Records read per batch by the exporter.
pub const EXPORT_BATCH_RECORDS: usize = 1024;
/// Default error budget: elements that may fail before an import stops.
pub const ERRORS_MAX_DEFAULT: u64 = 1000;
/// Largest error budget (vertex ids that failed are remembered until pass 2).
pub const ERRORS_MAX_MAX: u64 = 1 << 20;
/// Error messages kept in an [`ImportReport`] (all of them go to the sink).
pub const REPORT_ERRORS_MAX: usize = 20;
/// Lines between two progress calls.
pub const PROGRESS_LINES: u64 = 10_000;

/// What went wrong with one element of an import file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElementError {
    /// 1-based line of the file.
    pub line: u64,
    /// `parse`, `vertex`, `edge`.
    pub kind: &'static str,
    pub message: String,
}

impl std::fmt::Display for ElementError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.kind, self.message)
    }
}

/// Counts of an import, so far or at the end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Non-empty lines read in pass 1.
    pub lines: u64,
    pub vertices_created: u64,
    pub edges_created: u64,
    /// Entries of `outE` lists / of `inE` lists (equal in a complete file: every edge is
    /// listed at both ends).
    pub out_listed: u64,
    pub in_listed: u64,
    /// Elements rejected.
    pub errors: u64,
    /// The first [`REPORT_ERRORS_MAX`] of them.
    pub first_errors: Vec<ElementError>,
    /// Why the import stopped early (the error budget), if it did.
    pub stopped: Option<String>,
    /// 1 = vertices, 2 = edges.
    pub pass: u8,
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} lines, {} vertices and {} edges created, {} rejected",
            self.lines, self.vertices_created, self.edges_created, self.errors
        )?;
        if self.in_listed != self.out_listed {
            write!(
                f,
                " (the file lists {} edges under outE and {} under inE: edges are read from outE only)",
                self.out_listed, self.in_listed
            )?;
        }
        if let Some(s) = &self.stopped {
            write!(f, "; stopped: {s}")?;
        }
        Ok(())
    }
}

/// Why an import or export could not run at all (element errors are in the report).
#[derive(Debug)]
pub enum IoError {
    /// The file could not be read or written.
    File(String),
    /// The store failed.
    Store(String),
    /// A setting is out of range.
    Config(String),
}

impl std::fmt::Display for IoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IoError::File(e) => write!(f, "{e}"),
            IoError::Store(e) => write!(f, "record store: {e}"),
            IoError::Config(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for IoError {}

fn store(e: impl std::fmt::Display) -> IoError {
    IoError::Store(e.to_string())
}

/// Settings of an import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    /// Elements that may fail; one more stops the import (at most [`ERRORS_MAX_MAX`]).
    pub errors_max: u64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            errors_max: ERRORS_MAX_DEFAULT,
        }
    }
}

/// Where an import reports: every rejected element, and progress every
/// [`PROGRESS_LINES`] lines.
pub trait ImportSink {
    /// One rejected element.
    fn error(&mut self, e: &ElementError);
    /// Counts so far.
    fn progress(&mut self, _report: &ImportReport) {}
}

/// A sink that only counts (the report keeps the first errors).
pub struct NoSink;

impl ImportSink for NoSink {
    fn error(&mut self, _e: &ElementError) {}
}

/// Reads one line (without its end) into `buf`; `Ok(false)` at the end of the file.
fn next_line<B: BufRead>(r: &mut B, buf: &mut Vec<u8>, line_no: u64) -> Result<bool, IoError> {
    buf.clear();
    let limit = (LINE_BYTES_MAX as u64).saturating_add(1);
    let n = std::io::Read::take(&mut *r, limit)
        .read_until(b'\n', buf)
        .map_err(|e| IoError::File(format!("line {line_no}: {e}")))?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    } else if n as u64 >= limit {
        return Err(IoError::File(format!(
            "line {line_no}: longer than LINE_BYTES_MAX ({LINE_BYTES_MAX} bytes)"
        )));
    }
    Ok(true)
}

/// One import in progress: the report and the element errors.
struct Importer<'a, S: ImportSink> {
    report: ImportReport,
    opts: ImportOptions,
    sink: &'a mut S,
    /// Vertex ids of lines that were not imported (their edges are skipped too).
    failed: HashSet<ElementId>,
}

impl<S: ImportSink> Importer<'_, S> {
    /// Records a rejected element; `false` once the budget is spent.
    fn reject(&mut self, line: u64, kind: &'static str, message: String) -> bool {
        let e = ElementError {
            line,
            kind,
            message,
        };
        self.sink.error(&e);
        self.report.errors += 1;
        if self.report.first_errors.len() < REPORT_ERRORS_MAX {
            self.report.first_errors.push(e);
        }
        if self.report.errors > self.opts.errors_max {
            self.report.stopped = Some(format!(
                "more than {} rejected elements (the error budget)",
                self.opts.errors_max
            ));
            return false;
        }
        true
    }
}

/// Imports the adjacency-list file at `path` into `model` (see the module documentation).
/// `Err` only when the file or the store fails; rejected elements are in the report.
pub async fn import_file<K: Kv, S: ImportSink>(
    model: &Model<K>,
    path: &Path,
    opts: ImportOptions,
    sink: &mut S,
) -> Result<ImportReport, IoError> {
    if opts.errors_max > ERRORS_MAX_MAX {
        return Err(IoError::Config(format!(
            "errors_max {}: at most {ERRORS_MAX_MAX}",
            opts.errors_max
        )));
    }
    let open = || {
        std::fs::File::open(path)
            .map(|f| std::io::BufReader::with_capacity(1 << 20, f))
            .map_err(|e| IoError::File(format!("{}: {e}", path.display())))
    };
    let mut imp = Importer {
        report: ImportReport {
            pass: 1,
            ..ImportReport::default()
        },
        opts,
        sink,
        failed: HashSet::new(),
    };
    for pass in [1u8, 2] {
        imp.report.pass = pass;
        let mut r = open()?;
        let mut buf = Vec::new();
        let mut line_no = 0u64;
        let mut batch: Vec<(u64, VertexLine)> = Vec::with_capacity(IMPORT_BATCH_LINES);
        loop {
            let more = next_line(&mut r, &mut buf, line_no.saturating_add(1))?;
            if more {
                line_no += 1;
                let parsed = std::str::from_utf8(&buf)
                    .map_err(|e| format!("not UTF-8: {e}"))
                    .and_then(|text| {
                        if text.trim().is_empty() {
                            Ok(None)
                        } else {
                            read_vertex_line(text).map(Some).map_err(|e| e.to_string())
                        }
                    });
                match parsed {
                    Ok(Some(vl)) => batch.push((line_no, vl)),
                    Ok(None) => {}
                    // A bad line is reported once, in pass 1.
                    Err(e) if pass == 1 => {
                        imp.report.lines += 1;
                        if !imp.reject(line_no, "parse", e) {
                            return Ok(imp.report);
                        }
                    }
                    Err(_) => {}
                }
            }
            if batch.len() >= IMPORT_BATCH_LINES || (!more && !batch.is_empty()) {
                let lines = std::mem::take(&mut batch);
                let go_on = if pass == 1 {
                    imp.vertices(model, lines).await?
                } else {
                    imp.edges(model, lines).await?
                };
                if !go_on {
                    return Ok(imp.report);
                }
            }
            if !more {
                break;
            }
            if line_no % PROGRESS_LINES == 0 {
                imp.sink.progress(&imp.report);
            }
        }
    }
    imp.sink.progress(&imp.report);
    Ok(imp.report)
}

impl<S: ImportSink> Importer<'_, S> {
    /// Pass 1: writes the vertices of `lines`; `false` once the error budget is spent.
    async fn vertices<K: Kv>(
        &mut self,
        model: &Model<K>,
        lines: Vec<(u64, VertexLine)>,
    ) -> Result<bool, IoError> {
        for (line, vl) in lines {
            self.report.lines += 1;
            self.report.out_listed += vl.out_e.len() as u64;
            self.report.in_listed += vl.in_e.len() as u64;
            let r = match ElementId::from_value(&vl.vertex.id, "Vertex") {
                Ok(id) => match write_vertex(model, &id, &vl.vertex).await {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        self.failed.insert(id);
                        Err(e)
                    }
                },
                Err(e) => Err(e),
            };
            match r {
                Ok(()) => self.report.vertices_created += 1,
                Err(ModelError::Kv(e)) if !matches!(e, KvError::Exists) => {
                    return Err(store(e));
                }
                Err(e) => {
                    if !self.reject(line, "vertex", e.to_string()) {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }

    /// Pass 2: adds the `outE` edges of `lines`; `false` once the error budget is spent.
    async fn edges<K: Kv>(
        &mut self,
        model: &Model<K>,
        lines: Vec<(u64, VertexLine)>,
    ) -> Result<bool, IoError> {
        for (line, vl) in lines {
            for e in &vl.out_e {
                let r = self.edge(model, e).await;
                match r {
                    Ok(()) => self.report.edges_created += 1,
                    Err(ModelError::Kv(e)) if !matches!(e, KvError::Exists) => {
                        return Err(store(e));
                    }
                    Err(err) => {
                        if !self.reject(line, "edge", format!("edge {:?}: {err}", e.id)) {
                            return Ok(false);
                        }
                    }
                }
            }
        }
        Ok(true)
    }

    async fn edge<K: Kv>(&self, model: &Model<K>, e: &Edge) -> Result<(), ModelError> {
        let id = ElementId::from_value(&e.id, "Edge")?;
        let out = ElementId::from_value(&e.out_v_id, "Vertex")?;
        let in_ = ElementId::from_value(&e.in_v_id, "Vertex")?;
        for v in [&out, &in_] {
            if self.failed.contains(v) {
                return Err(ModelError::Config(format!(
                    "skipped: its vertex {v} was not imported"
                )));
            }
        }
        model.add_edge(id.clone(), &e.label, &out, &in_, 0).await?;
        for p in e.properties.iter().flatten() {
            if let Err(err) = model.set_edge_property(&id, &p.key, p.value.clone()).await {
                model.drop_edge(&id).await?;
                return Err(err);
            }
        }
        Ok(())
    }
}

/// Writes vertex `id` with every property (ids, values, meta-properties) in one create-only
/// record write. A live vertex under the id is [`ModelError::VertexExists`]; a dead one
/// (expired, half-dropped) is purged through [`Model::add_vertex`] first and the properties
/// are then set one by one.
async fn write_vertex<K: Kv>(
    model: &Model<K>,
    id: &ElementId,
    v: &Vertex,
) -> Result<(), ModelError> {
    let props: Vec<VProp> = v
        .properties
        .iter()
        .flatten()
        .map(|p| VProp {
            id: p.id.clone(),
            key: p.key.clone(),
            value: p.value.clone(),
            meta: p.properties.clone().unwrap_or_default(),
        })
        .collect();
    if props.len() > PROPERTIES_MAX {
        return Err(ModelError::Limit {
            limit: "PROPERTIES_MAX",
            max: PROPERTIES_MAX as u64,
        });
    }
    let mut rec = VertexRecord::new(id.clone(), v.label.clone(), 0);
    rec.props = props;
    let d = model.space.vertex_digest(id);
    match model
        .kv
        .put(&d, &rec.encode()?, WriteMode::CreateOnly)
        .await
    {
        Ok(_) => return Ok(()),
        Err(KvError::Exists) => {}
        Err(e) => return Err(e.into()),
    }
    if model.vertex(id).await?.is_some() {
        return Err(ModelError::VertexExists(id.clone()));
    }
    model.add_vertex(id.clone(), &v.label, 0).await?;
    for p in rec.props {
        model
            .set_vertex_property(
                id,
                gremlin::graph::Cardinality::List,
                &p.key,
                p.value,
                p.id,
                p.meta,
            )
            .await?;
    }
    Ok(())
}

/// Counts of an export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportReport {
    pub vertices: u64,
    /// Edges (each once, counted at its out vertex).
    pub edges: u64,
    pub bytes: u64,
}

impl std::fmt::Display for ExportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} vertices, {} edges, {} bytes",
            self.vertices, self.edges, self.bytes
        )
    }
}

/// Writes every live vertex of `model`'s graph, with its properties and incident edges, as
/// GraphSON 3.0 adjacency-list lines to `out` (see the module documentation); `progress` is
/// called after each batch of records.
pub async fn export<R: Records, W: Write>(
    model: &Model<R>,
    out: &mut W,
    progress: &mut dyn FnMut(&ExportReport),
) -> Result<ExportReport, IoError> {
    let digests = model.kv.scan_all().await.map_err(store)?;
    let now = model.now_s();
    let mut report = ExportReport::default();
    let mut text = String::new();
    for chunk in digests.chunks(EXPORT_BATCH_RECORDS) {
        let got = model.kv.get_many(chunk).await.map_err(store)?;
        for (d, g) in chunk.iter().zip(got) {
            let Some(g) = g else { continue };
            if g.payload.first() != Some(&MAGIC_VERTEX) {
                continue;
            }
            let rec = VertexRecord::decode(&g.payload).map_err(store)?;
            // Another graph's vertex does not hash to this digest.
            if model.space.vertex_digest(&rec.id) != *d || !rec.is_live(now) {
                continue;
            }
            let incident = model
                .incident(&rec.id, &[Dir::Out, Dir::In], &[], &[])
                .await
                .map_err(store)?;
            let edges: Vec<(Dir, Edge)> = incident
                .iter()
                .map(|(dir, e)| (*dir, edge_value(e)))
                .collect();
            let out_e: Vec<&Edge> = edges
                .iter()
                .filter(|(d, _)| *d == Dir::Out)
                .map(|(_, e)| e)
                .collect();
            let in_e: Vec<&Edge> = edges
                .iter()
                .filter(|(d, _)| *d == Dir::In)
                .map(|(_, e)| e)
                .collect();
            text.clear();
            write_vertex_line(&mut text, &vertex_value(&rec), &out_e, &in_e)
                .map_err(|e| IoError::File(format!("vertex {}: {e}", rec.id)))?;
            out.write_all(text.as_bytes())
                .map_err(|e| IoError::File(e.to_string()))?;
            report.vertices += 1;
            report.edges += out_e.len() as u64;
            report.bytes += text.len() as u64;
        }
        progress(&report);
    }
    out.flush().map_err(|e| IoError::File(e.to_string()))?;
    Ok(report)
}

/// Exports `model`'s graph to a new file at `path` (written to `path` + `.part`, then
/// renamed, so a failed export leaves no partial file under the name).
pub async fn export_file<R: Records>(
    model: &Model<R>,
    path: &Path,
    progress: &mut dyn FnMut(&ExportReport),
) -> Result<ExportReport, IoError> {
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    let part = std::path::PathBuf::from(part);
    let file = std::fs::File::create(&part)
        .map_err(|e| IoError::File(format!("{}: {e}", part.display())))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let r = export(model, &mut w, progress).await;
    let r = r.and_then(|rep| {
        let f = w
            .into_inner()
            .map_err(|e| IoError::File(format!("{}: {e}", part.display())))?;
        f.sync_all()
            .map_err(|e| IoError::File(format!("{}: {e}", part.display())))?;
        std::fs::rename(&part, path)
            .map_err(|e| IoError::File(format!("{}: {e}", path.display())))?;
        Ok(rep)
    });
    if r.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    r
}

/// One line per element of `g` (vertices with every property id, type, value and
/// meta-property; edges with both endpoints, labels and properties), sorted: two graphs are
/// the same exactly when these lists are equal. For tests and checks that compare graphs
/// element by element.
pub fn element_lines(g: &gremlin::value::GraphData) -> Vec<String> {
    let mut out = Vec::with_capacity(g.vertices.len() + g.edges.len());
    for v in &g.vertices {
        let props: Vec<String> = v
            .properties
            .iter()
            .flatten()
            .map(|p| {
                format!(
                    "{:?}={:?}#{:?}{:?}",
                    p.key,
                    p.value,
                    p.id,
                    p.properties.as_deref().unwrap_or_default()
                )
            })
            .collect();
        out.push(format!("V {:?} {:?} {props:?}", v.id, v.label));
    }
    for e in &g.edges {
        out.push(format!(
            "E {:?} {:?} {:?}({:?})->{:?}({:?}) {:?}",
            e.id,
            e.label,
            e.out_v_id,
            e.out_v_label,
            e.in_v_id,
            e.in_v_label,
            e.properties.as_deref().unwrap_or_default()
        ));
    }
    out.sort();
    out
}
