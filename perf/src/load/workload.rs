//! Workloads of the load generator: the line-format file parser, the built-in workloads, the
//! parameter generators (uniform, zipfian, counter) and the building of each request as
//! gremlinpython builds it (`op=bytecode` for templates parsed from gremlin-lang text,
//! `op=eval` with bindings for scripts).
//!
//! File format, one directive per line, `#` starts a comment line:
//!
//! ```text
//! workload read-mostly            # name (default: the file name)
//! warmup 2s                       # s or ms
//! duration 10s
//! source g                        # traversal source alias sent as aliases {g: ...}
//! param vid zipf 0 999999 0.99 as string   # uniform LO HI | zipf LO HI THETA | counter START
//! param age uniform 18 80 as int           # as int | long (default) | string
//! op lookup 95 bytecode g.V(vid).elementMap()
//! op insert 5 eval g.addV('person').property('age', age)
//! ```
//!
//! `op NAME WEIGHT bytecode|eval TEXT`: bytecode text is gremlin-lang, parsed once with
//! `gremlin::parser`, its variables are the params; each request substitutes fresh values
//! (plain values, as `g.V(123)` in gremlinpython sends them). Eval text is sent as is, the
//! params it names go in `bindings`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gremlin::bytecode::{Bytecode, Instruction};
use gremlin::codec::message::RequestMessage;
use gremlin::value::{Map, Predicate, Uuid, Value};

/// Largest workload file accepted.
pub const FILE_SIZE_BYTES_MAX: u64 = 1 << 20;
/// Most operations in one workload.
pub const OPS_MAX: usize = 64;
/// Most parameters in one workload.
pub const PARAMS_MAX: usize = 64;
/// Largest id range a zipfian generator accepts (its zeta constant is summed at start-up).
pub const ZIPF_ITEMS_MAX: u64 = 100_000_000;
/// Longest warm-up or measured phase, in seconds (one week).
pub const PHASE_S_MAX: u64 = 7 * 24 * 3600;
/// Deepest nesting the parameter substitution walks (the parser bounds it lower already).
const SUBSTITUTION_DEPTH_MAX: usize = 256;

/// A workload error: where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadError(pub String);

impl std::fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WorkloadError {}

/// A small fast PRNG (SplitMix64); quality is ample for picking ids.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n) (n > 0), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A random (version 4) request id, as gremlinpython's `uuid.uuid4()`.
    pub fn uuid(&mut self) -> Uuid {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        b[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        b[6] = (b[6] & 0x0F) | 0x40;
        b[8] = (b[8] & 0x3F) | 0x80;
        Uuid(b)
    }
}

/// Zipfian ranks over `n` items (Gray et al., "Quickly generating billion-record synthetic
/// databases", as YCSB does): rank 0 is the most popular, i.e. the id `lo`.
#[derive(Clone, Debug)]
pub struct Zipf {
    n: u64,
    theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
}

impl Zipf {
    pub fn new(n: u64, theta: f64) -> Result<Zipf, WorkloadError> {
        if n == 0 || n > ZIPF_ITEMS_MAX {
            return Err(WorkloadError(format!(
                "zipf range of {n} ids: must be 1..={ZIPF_ITEMS_MAX}"
            )));
        }
        if !(theta > 0.0 && theta < 1.0) {
            return Err(WorkloadError(format!(
                "zipf theta {theta}: must be in (0, 1)"
            )));
        }
        let zeta = |k: u64| (1..=k).map(|i| 1.0 / (i as f64).powf(theta)).sum::<f64>();
        let zetan = zeta(n);
        let zeta2 = zeta(2.min(n));
        let eta = if n < 2 {
            0.0
        } else {
            (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan)
        };
        Ok(Zipf {
            n,
            theta,
            alpha: 1.0 / (1.0 - theta),
            zetan,
            eta,
        })
    }

    /// A rank in [0, n).
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.next_f64();
        let uz = u * self.zetan;
        if uz < 1.0 || self.n < 2 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1;
        }
        let r = (self.n as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        r.min(self.n - 1)
    }
}

/// How a parameter's values are drawn.
#[derive(Clone, Debug)]
pub enum Dist {
    /// Uniform in `lo..=hi`.
    Uniform { lo: i64, hi: i64 },
    /// Zipfian over `lo..=hi`, `lo` hottest.
    Zipf { lo: i64, zipf: Arc<Zipf> },
    /// `start`, `start + 1`, ... shared by every connection (unique values, e.g. new ids).
    Counter { next: Arc<AtomicI64> },
}

/// The Gremlin type a parameter is sent as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    Int,
    Long,
    /// The decimal text (`coregraph gen` ids are strings).
    String,
}

/// A named parameter.
#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    pub dist: Dist,
    pub ty: ValueType,
}

impl Param {
    fn draw_number(&self, rng: &mut Rng) -> i64 {
        match &self.dist {
            Dist::Uniform { lo, hi } => {
                let span = hi.abs_diff(*lo).saturating_add(1);
                lo.wrapping_add(rng.below(span) as i64)
            }
            Dist::Zipf { lo, zipf } => lo.wrapping_add(zipf.sample(rng) as i64),
            Dist::Counter { next } => next.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The next value.
    pub fn draw(&self, rng: &mut Rng) -> Value {
        let n = self.draw_number(rng);
        match self.ty {
            ValueType::Int => Value::Int(n as i32),
            ValueType::Long => Value::Long(n),
            ValueType::String => Value::str(&n.to_string()),
        }
    }

    /// The next value, appended to `out` fully qualified in GraphBinary (what
    /// `graphbinary::write_value(out, &self.draw(rng))` writes, without building a `Value`).
    pub fn draw_graphbinary(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        let n = self.draw_number(rng);
        match self.ty {
            ValueType::Int => {
                out.extend_from_slice(&[0x01, 0x00]);
                out.extend_from_slice(&(n as i32).to_be_bytes());
            }
            ValueType::Long => {
                out.extend_from_slice(&[0x02, 0x00]);
                out.extend_from_slice(&n.to_be_bytes());
            }
            ValueType::String => {
                use std::io::Write as _;
                out.extend_from_slice(&[0x03, 0x00, 0, 0, 0, 0]);
                let at = out.len();
                let _ = write!(out, "{n}");
                let len = (out.len() - at) as u32;
                if let Some(slot) = out.get_mut(at - 4..at) {
                    slot.copy_from_slice(&len.to_be_bytes());
                }
            }
        }
    }
}

/// What an operation sends.
#[derive(Clone, Debug)]
pub enum Template {
    /// `op=bytecode`, `processor=traversal`; params appear as `Value::Binding`s to substitute.
    Bytecode(Bytecode),
    /// `op=eval`, `processor=""`; the script text.
    Eval(String),
}

/// One operation of a workload.
#[derive(Clone, Debug)]
pub struct Op {
    pub name: String,
    pub weight: u32,
    pub template: Template,
    /// The text as written in the workload.
    pub text: String,
    /// Indices into [`Workload::params`] of the params this op uses.
    pub params: Vec<usize>,
    /// The request frame pre-encoded around its parameter values.
    pub encoded: EncodedTemplate,
}

/// An op's request frame (mime prefix and GraphBinary message) encoded once, split where the
/// parameter values go: `pieces[0] value(slots[0]) pieces[1] ... pieces[n]`, the request id at
/// [`REQUEST_ID_OFFSET`] of `pieces[0]`. GraphBinary composite values carry item counts, not
/// byte lengths, so a value of any length can be spliced in; the test
/// `encoded_templates_equal_the_full_encoder` holds this to the full encoder's bytes.
#[derive(Clone, Debug, Default)]
pub struct EncodedTemplate {
    pieces: Vec<Vec<u8>>,
    /// For each gap, the position in [`Op::params`] of the param whose value goes there.
    slots: Vec<usize>,
}

/// Where the request id sits in a GraphBinary request frame: the mime length byte, the mime
/// type, the version byte.
pub const REQUEST_ID_OFFSET: usize = 1 + gremlin::codec::message::MIME_GRAPHBINARY_V1.len() + 1;

/// Per-connection scratch space of [`Workload::encode_frame`] (reused, so a request costs no
/// allocation once warm).
#[derive(Default)]
pub struct Scratch {
    values: Vec<u8>,
    ranges: Vec<(usize, usize)>,
    frame: Vec<u8>,
}

/// The sentinel string standing for param `k` while a template is encoded: NUL bytes and a
/// marker no Gremlin text produces by accident.
fn sentinel(k: usize) -> String {
    format!("\u{0}coregraph-perf-slot-{k}\u{0}")
}

impl EncodedTemplate {
    /// Encodes `template` with sentinels for its `n_params` params and splits at them.
    fn new(template: &Template, source: &str, params: &[&str]) -> Result<EncodedTemplate, String> {
        let sentinels: Vec<String> = (0..params.len()).map(sentinel).collect();
        let values: Vec<(&str, Value)> = params
            .iter()
            .zip(&sentinels)
            .map(|(name, s)| (*name, Value::str(s)))
            .collect();
        let m = build_request(Some(template), source, &values, Uuid([0; 16]));
        let frame = gremlin::codec::message::encode_request_frame(
            gremlin::codec::message::Format::GraphBinaryV1,
            &m,
        )
        .map_err(|e| format!("cannot encode: {e}"))?;
        let needles: Vec<Vec<u8>> = sentinels
            .iter()
            .map(|s| {
                let mut b = Vec::new();
                gremlin::codec::graphbinary::write_value(&mut b, &Value::str(s))
                    .map_err(|e| e.to_string())
                    .map(|()| b)
            })
            .collect::<Result<_, _>>()?;
        let mut pieces = Vec::new();
        let mut slots = Vec::new();
        let mut rest: &[u8] = &frame;
        loop {
            let next = needles
                .iter()
                .enumerate()
                .filter_map(|(k, n)| {
                    rest.windows(n.len().max(1))
                        .position(|w| w == n.as_slice())
                        .map(|at| (at, k))
                })
                .min();
            let Some((at, k)) = next else { break };
            let needle_len = needles.get(k).map_or(0, Vec::len);
            pieces.push(rest.get(..at).unwrap_or_default().to_vec());
            slots.push(k);
            rest = rest.get(at + needle_len..).unwrap_or_default();
        }
        pieces.push(rest.to_vec());
        if pieces
            .first()
            .is_none_or(|p| p.len() < REQUEST_ID_OFFSET + 16)
        {
            return Err("a parameter value lands before the request id".to_string());
        }
        Ok(EncodedTemplate { pieces, slots })
    }
}

/// A workload: a weighted mix of operations, its parameters and timing.
#[derive(Clone, Debug)]
pub struct Workload {
    pub name: String,
    pub warmup: Duration,
    pub duration: Duration,
    /// The traversal source name (`aliases: {g: source}`).
    pub source: String,
    pub params: Vec<Param>,
    pub ops: Vec<Op>,
    /// Sum of the op weights.
    pub weight_total: u64,
}

fn bad(line_no: usize, m: impl std::fmt::Display) -> WorkloadError {
    WorkloadError(format!("line {line_no}: {m}"))
}

/// `2s`, `1.5s`, `500ms` or a bare number of seconds, at most [`PHASE_S_MAX`].
pub fn parse_duration(s: &str) -> Option<Duration> {
    if let Some(ms) = s.strip_suffix("ms") {
        return ms
            .parse()
            .ok()
            .map(Duration::from_millis)
            .filter(|d| d.as_secs() <= PHASE_S_MAX);
    }
    let secs: f64 = s.strip_suffix('s').unwrap_or(s).parse().ok()?;
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| d.as_secs() <= PHASE_S_MAX)
}

/// Identifier-like words of a script (for finding the params an eval op names).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

impl Workload {
    /// Parses the line format (module docs); `default_name` names it when no `workload` line.
    pub fn parse(text: &str, default_name: &str) -> Result<Workload, WorkloadError> {
        let mut w = Workload {
            name: default_name.to_string(),
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(10),
            source: "g".to_string(),
            params: Vec::new(),
            ops: Vec::new(),
            weight_total: 0,
        };
        // Ops are compiled after every param is known (a param may follow the op using it).
        let mut raw_ops: Vec<(usize, String, u32, bool, String)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim();
            match key {
                "workload" if !rest.is_empty() => w.name = rest.to_string(),
                "source" if !rest.is_empty() => w.source = rest.to_string(),
                "warmup" => {
                    w.warmup = parse_duration(rest)
                        .ok_or_else(|| bad(n, format!("bad duration '{rest}'")))?
                }
                "duration" => {
                    w.duration = parse_duration(rest)
                        .ok_or_else(|| bad(n, format!("bad duration '{rest}'")))?
                }
                "param" => {
                    if w.params.len() >= PARAMS_MAX {
                        return Err(bad(n, format!("more than {PARAMS_MAX} params")));
                    }
                    let p = parse_param(rest).map_err(|m| bad(n, m))?;
                    if w.params.iter().any(|q| q.name == p.name) {
                        return Err(bad(n, format!("param '{}' defined twice", p.name)));
                    }
                    w.params.push(p);
                }
                "op" => {
                    if raw_ops.len() >= OPS_MAX {
                        return Err(bad(n, format!("more than {OPS_MAX} ops")));
                    }
                    let mut it = rest.splitn(4, char::is_whitespace);
                    let (Some(name), Some(weight), Some(kind), Some(body)) =
                        (it.next(), it.next(), it.next(), it.next())
                    else {
                        return Err(bad(n, "expected 'op NAME WEIGHT bytecode|eval TEXT'"));
                    };
                    let weight: u32 = weight
                        .parse()
                        .map_err(|_| bad(n, format!("bad weight '{weight}'")))?;
                    let bytecode = match kind {
                        "bytecode" => true,
                        "eval" => false,
                        other => {
                            return Err(bad(
                                n,
                                format!("op kind '{other}': expected bytecode or eval"),
                            ))
                        }
                    };
                    raw_ops.push((
                        n,
                        name.to_string(),
                        weight,
                        bytecode,
                        body.trim().to_string(),
                    ));
                }
                other => return Err(bad(n, format!("unknown directive '{other}'"))),
            }
        }
        for (n, name, weight, bytecode, body) in raw_ops {
            let op = w
                .compile_op(&name, weight, bytecode, &body)
                .map_err(|m| bad(n, m))?;
            w.weight_total += u64::from(op.weight);
            w.ops.push(op);
        }
        if w.ops.is_empty() || w.weight_total == 0 {
            return Err(WorkloadError(format!(
                "workload '{}' has no op with a positive weight",
                w.name
            )));
        }
        Ok(w)
    }

    /// Reads and parses a workload file.
    pub fn load(path: &std::path::Path) -> Result<Workload, WorkloadError> {
        let io = |e: std::io::Error| WorkloadError(format!("{}: {e}", path.display()));
        let size = std::fs::metadata(path).map_err(io)?.len();
        if size > FILE_SIZE_BYTES_MAX {
            return Err(WorkloadError(format!(
                "{}: {size} bytes, more than the limit of {FILE_SIZE_BYTES_MAX}",
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("workload");
        Workload::parse(&text, stem).map_err(|e| WorkloadError(format!("{}: {e}", path.display())))
    }

    fn compile_op(
        &self,
        name: &str,
        weight: u32,
        bytecode: bool,
        body: &str,
    ) -> Result<Op, String> {
        let index = |n: &str| self.params.iter().position(|p| p.name == n);
        let (template, mut params) = if bytecode {
            let used = std::cell::RefCell::new(Vec::new());
            let bc = gremlin::parser::parse(body, &|var| {
                let i = index(var)?;
                used.borrow_mut().push(i);
                Some(Value::Null)
            })
            .map_err(|e| format!("op '{name}': {e}"))?;
            (Template::Bytecode(bc), used.into_inner())
        } else {
            let used = words(body).filter_map(index).collect();
            (Template::Eval(body.to_string()), used)
        };
        params.sort_unstable();
        params.dedup();
        let names: Vec<&str> = params
            .iter()
            .filter_map(|&i| self.params.get(i))
            .map(|p| p.name.as_str())
            .collect();
        let encoded = EncodedTemplate::new(&template, &self.source, &names)
            .map_err(|e| format!("op '{name}': {e}"))?;
        Ok(Op {
            name: name.to_string(),
            weight,
            template,
            text: body.to_string(),
            params,
            encoded,
        })
    }

    /// Picks an op index by weight.
    pub fn pick(&self, rng: &mut Rng) -> usize {
        let mut x = rng.below(self.weight_total);
        for (i, op) in self.ops.iter().enumerate() {
            let w = u64::from(op.weight);
            if x < w {
                return i;
            }
            x -= w;
        }
        self.ops.len().saturating_sub(1)
    }

    /// The request frame (mime prefix and GraphBinary message) for op `op_index` with fresh
    /// parameter values and id `request_id`: the bytes of
    /// `encode_request_frame(GraphBinaryV1, &self.request(..))` for the same random state,
    /// spliced from the op's pre-encoded template. Empty for an unknown op.
    pub fn encode_frame<'s>(
        &self,
        op_index: usize,
        rng: &mut Rng,
        request_id: Uuid,
        scratch: &'s mut Scratch,
    ) -> &'s [u8] {
        scratch.values.clear();
        scratch.ranges.clear();
        scratch.frame.clear();
        let Some(op) = self.ops.get(op_index) else {
            return &scratch.frame;
        };
        for p in op.params.iter().filter_map(|&i| self.params.get(i)) {
            let start = scratch.values.len();
            p.draw_graphbinary(rng, &mut scratch.values);
            scratch.ranges.push((start, scratch.values.len()));
        }
        let t = &op.encoded;
        for (i, piece) in t.pieces.iter().enumerate() {
            scratch.frame.extend_from_slice(piece);
            if i == 0 {
                if let Some(id) = scratch
                    .frame
                    .get_mut(REQUEST_ID_OFFSET..REQUEST_ID_OFFSET + 16)
                {
                    id.copy_from_slice(&request_id.0);
                }
            }
            if let Some(&slot) = t.slots.get(i) {
                if let Some(&(a, b)) = scratch.ranges.get(slot) {
                    scratch
                        .frame
                        .extend_from_slice(scratch.values.get(a..b).unwrap_or_default());
                }
            }
        }
        &scratch.frame
    }

    /// The request for op `op_index` with fresh parameter values and id `request_id`: the
    /// same message gremlinpython 3.8 builds (`DriverRemoteConnection` for bytecode,
    /// `Client.submit(script, bindings)` for eval).
    pub fn request(&self, op_index: usize, rng: &mut Rng, request_id: Uuid) -> RequestMessage {
        let values: Vec<(&str, Value)> = match self.ops.get(op_index) {
            Some(op) => op
                .params
                .iter()
                .filter_map(|&i| self.params.get(i))
                .map(|p| (p.name.as_str(), p.draw(rng)))
                .collect(),
            None => Vec::new(),
        };
        let template = self.ops.get(op_index).map(|op| &op.template);
        build_request(template, &self.source, &values, request_id)
    }
}

/// Builds the request message for a template and parameter values.
pub fn build_request(
    template: Option<&Template>,
    source: &str,
    values: &[(&str, Value)],
    request_id: Uuid,
) -> RequestMessage {
    let mut aliases = Map::default();
    aliases.insert(Value::str("g"), Value::str(source));
    let mut args = Map::default();
    let (op, processor) = match template {
        Some(Template::Bytecode(bc)) => {
            let bc = substitute_bytecode(bc, values, 0);
            args.insert(Value::str("gremlin"), Value::Bytecode(Arc::new(bc)));
            args.insert(Value::str("aliases"), Value::Map(aliases));
            ("bytecode", "traversal")
        }
        Some(Template::Eval(script)) => {
            args.insert(Value::str("gremlin"), Value::str(script));
            args.insert(Value::str("aliases"), Value::Map(aliases));
            if !values.is_empty() {
                let mut bindings = Map::default();
                for (k, v) in values {
                    bindings.insert(Value::str(k), v.clone());
                }
                args.insert(Value::str("bindings"), Value::Map(bindings));
            }
            ("eval", "")
        }
        None => ("eval", ""),
    };
    RequestMessage {
        request_id,
        op: op.to_string(),
        processor: processor.to_string(),
        args,
    }
}

/// The answer to a 407 challenge of request `id`: SASL PLAIN (`\0user\0password`, base64)
/// under the same request id, `processor=traversal`, `op=authentication`, as gremlinpython's
/// protocol handler sends it.
pub fn authentication_request(id: Uuid, user: &str, password: &str) -> RequestMessage {
    use base64::Engine as _;
    let plain = format!("\0{user}\0{password}");
    let mut args = Map::default();
    args.insert(
        Value::str("sasl"),
        Value::str(&base64::engine::general_purpose::STANDARD.encode(plain)),
    );
    RequestMessage {
        request_id: id,
        op: "authentication".to_string(),
        processor: "traversal".to_string(),
        args,
    }
}

fn substitute_instructions(
    list: &[Instruction],
    values: &[(&str, Value)],
    depth: usize,
) -> Vec<Instruction> {
    list.iter()
        .map(|i| Instruction {
            op: i.op.clone(),
            args: i
                .args
                .iter()
                .map(|a| substitute(a, values, depth + 1))
                .collect(),
        })
        .collect()
}

fn substitute_bytecode(bc: &Bytecode, values: &[(&str, Value)], depth: usize) -> Bytecode {
    Bytecode {
        source: substitute_instructions(&bc.source, values, depth),
        steps: substitute_instructions(&bc.steps, values, depth),
    }
}

/// `v` with every `Binding` named in `values` replaced by its value.
fn substitute(v: &Value, values: &[(&str, Value)], depth: usize) -> Value {
    if depth > SUBSTITUTION_DEPTH_MAX {
        return v.clone();
    }
    match v {
        Value::Binding(b) => values
            .iter()
            .find(|(k, _)| *k == &*b.0)
            .map_or_else(|| v.clone(), |(_, x)| x.clone()),
        Value::Bytecode(bc) => Value::Bytecode(Arc::new(substitute_bytecode(bc, values, depth))),
        Value::P(p) => Value::P(Arc::new(Predicate {
            text: p.text,
            name: p.name.clone(),
            args: p
                .args
                .iter()
                .map(|a| substitute(a, values, depth + 1))
                .collect(),
        })),
        Value::List(items) => Value::List(
            items
                .iter()
                .map(|a| substitute(a, values, depth + 1))
                .collect(),
        ),
        Value::Map(m) => Value::Map(
            m.iter()
                .map(|(k, x)| {
                    (
                        substitute(k, values, depth + 1),
                        substitute(x, values, depth + 1),
                    )
                })
                .collect(),
        ),
        Value::Set(items) => Value::Set(
            items
                .iter()
                .map(|a| substitute(a, values, depth + 1))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn parse_param(rest: &str) -> Result<Param, String> {
    let (spec, ty) = match rest.rsplit_once(" as ") {
        Some((spec, ty)) => (spec, ty.trim()),
        None => (rest, "long"),
    };
    let ty = match ty {
        "int" => ValueType::Int,
        "long" => ValueType::Long,
        "string" => ValueType::String,
        other => {
            return Err(format!(
                "param type '{other}': expected int, long or string"
            ))
        }
    };
    let f: Vec<&str> = spec.split_whitespace().collect();
    let int = |i: usize| -> Result<i64, String> {
        let s = f.get(i).ok_or("missing number")?;
        s.parse().map_err(|_| format!("bad number '{s}'"))
    };
    let name = f.first().ok_or("param without a name")?.to_string();
    if !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Err(format!("param name '{name}': letters, digits and _ only"));
    }
    let dist = match f.get(1).copied() {
        Some("uniform") => {
            let (lo, hi) = (int(2)?, int(3)?);
            if hi < lo {
                return Err(format!("uniform {lo} {hi}: empty range"));
            }
            Dist::Uniform { lo, hi }
        }
        Some("zipf") => {
            let (lo, hi) = (int(2)?, int(3)?);
            if hi < lo {
                return Err(format!("zipf {lo} {hi}: empty range"));
            }
            let theta: f64 = match f.get(4) {
                Some(t) => t.parse().map_err(|_| format!("bad theta '{t}'"))?,
                None => 0.99,
            };
            let n = hi.abs_diff(lo).saturating_add(1);
            Dist::Zipf {
                lo,
                zipf: Arc::new(Zipf::new(n, theta).map_err(|e| e.0)?),
            }
        }
        Some("counter") => Dist::Counter {
            next: Arc::new(AtomicI64::new(int(2)?)),
        },
        other => {
            return Err(format!(
                "param distribution {other:?}: expected uniform, zipf or counter"
            ))
        }
    };
    Ok(Param { name, dist, ty })
}

/// Names of the built-in workloads.
pub const BUILTINS: [&str; 7] = [
    "lookup",
    "one-hop",
    "two-hop",
    "has-after-out",
    "vertex-insert",
    "edge-insert",
    "read-mostly",
];

/// A built-in workload over the ids `0..ids` of a `coregraph gen` graph (`dist` is `uniform`
/// or `zipf`; `ty` how ids are sent: `coregraph gen` ids are strings).
pub fn builtin(
    name: &str,
    ids: u64,
    dist: &str,
    ty: &str,
    warmup: &str,
    duration: &str,
) -> Result<Workload, WorkloadError> {
    let hi = ids.saturating_sub(1);
    let dist = match dist {
        "uniform" => format!("uniform 0 {hi}"),
        "zipf" => format!("zipf 0 {hi} 0.99"),
        other => return Err(WorkloadError(format!("id distribution '{other}'"))),
    };
    let ids = format!("param vid {dist} as {ty}\nparam dst uniform 0 {hi} as {ty}\n");
    let lookup = "op lookup 1 bytecode g.V(vid).elementMap()";
    let insert_v = "op vertex-insert 1 bytecode g.addV('person').property('name', 'perf').property('age', age)";
    let body = match name {
        "lookup" => lookup.to_string(),
        "one-hop" => "op one-hop 1 bytecode g.V(vid).out().id()".to_string(),
        "two-hop" => "op two-hop 1 bytecode g.V(vid).out().out().dedup().count()".to_string(),
        "has-after-out" => {
            "op has-after-out 1 bytecode g.V(vid).out().has('age', gt(40)).id()".to_string()
        }
        "vertex-insert" => insert_v.to_string(),
        "edge-insert" => {
            "op edge-insert 1 bytecode g.V(vid).addE('knows').to(__.V(dst)).property('weight', 0.5d)"
                .to_string()
        }
        "read-mostly" => format!(
            "{}\n{}",
            lookup.replace(" 1 ", " 95 "),
            insert_v.replace(" 1 ", " 5 ")
        ),
        other => {
            return Err(WorkloadError(format!(
                "no built-in workload '{other}' (built in: {})",
                BUILTINS.join(", ")
            )))
        }
    };
    let text = format!(
        "workload {name}\nwarmup {warmup}\nduration {duration}\n{ids}param age uniform 18 80 as int\n{body}\n"
    );
    Workload::parse(&text, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_format_parses_and_rejects() {
        let w = Workload::parse(
            "# c\nworkload mix\nwarmup 500ms\nduration 2s\nsource gmodern\n\
             param vid zipf 1 1000 0.9 as long\nparam n counter 7 as string\n\
             op read 3 bytecode g.V(vid).out('knows').has('age', gt(vid)).values('name')\n\
             op write 1 eval g.addV('x').property('n', n)\n",
            "x",
        )
        .expect("parses");
        assert_eq!(w.name, "mix");
        assert_eq!(w.warmup, Duration::from_millis(500));
        assert_eq!(w.duration, Duration::from_secs(2));
        assert_eq!(w.weight_total, 4);
        assert_eq!(w.ops[0].params, vec![0]);
        assert_eq!(w.ops[1].params, vec![1]);
        let mut rng = Rng::new(1);
        let m = w.request(0, &mut rng, Uuid([1; 16]));
        assert_eq!(
            (m.op.as_str(), m.processor.as_str()),
            ("bytecode", "traversal")
        );
        let Some(Value::Bytecode(bc)) = m.args.get(&Value::str("gremlin")) else {
            panic!("no bytecode: {m:?}")
        };
        // The same drawn id in V() and in the predicate.
        let Some(Value::Long(id)) = bc.steps[0].args.first() else {
            panic!("{bc:?}")
        };
        assert!((1..=1000).contains(id));
        let Some(Value::P(p)) = bc.steps[2].args.get(1) else {
            panic!("{bc:?}")
        };
        assert_eq!(p.args, vec![Value::Long(*id)]);
        let e = w.request(1, &mut rng, Uuid([2; 16]));
        assert_eq!((e.op.as_str(), e.processor.as_str()), ("eval", ""));
        let Some(Value::Map(b)) = e.args.get(&Value::str("bindings")) else {
            panic!("{e:?}")
        };
        assert_eq!(b.get(&Value::str("n")), Some(&Value::str("7")));
        let e2 = w.request(1, &mut rng, Uuid([2; 16]));
        let Some(Value::Map(b)) = e2.args.get(&Value::str("bindings")) else {
            panic!("{e2:?}")
        };
        assert_eq!(b.get(&Value::str("n")), Some(&Value::str("8")));

        for (text, what) in [
            ("op a 1 bytecode g.V(nope)", "unknown variable"),
            ("op a x bytecode g.V()", "bad weight"),
            ("op a 1 gremlin g.V()", "expected bytecode or eval"),
            ("param a zipf 5 1", "empty range"),
            ("param a zipf 1 5 1.5", "theta"),
            ("frobnicate", "unknown directive"),
            ("op a 0 bytecode g.V()", "no op with a positive weight"),
            ("warmup soon", "bad duration"),
            ("duration 1e300s", "bad duration"),
            ("duration -1s", "bad duration"),
        ] {
            let e = Workload::parse(text, "t").expect_err(text);
            assert!(e.0.contains(what), "{text}: {e}");
        }
    }

    /// The spliced frames are the full encoder's bytes, for every built-in and for ops with
    /// a param used twice, in a predicate, in an eval's bindings, of each value type.
    #[test]
    fn encoded_templates_equal_the_full_encoder() {
        use gremlin::codec::message::{encode_request_frame, Format};
        let mut workloads: Vec<Workload> = BUILTINS
            .iter()
            .flat_map(|name| {
                ["string", "long", "int"].map(|ty| builtin(name, 1 << 20, "zipf", ty, "0s", "1s"))
            })
            .collect::<Result<_, _>>()
            .expect("built-ins");
        workloads.push(
            Workload::parse(
                "source gmodern\nparam a uniform -5 5 as int\nparam b counter 99999 as string\n\
                 param c zipf 1 1000 0.5 as long\n\
                 op twice 1 bytecode g.V(c).has('x', within(a, b, c)).where(__.has('y', gt(a)))\n\
                 op script 1 eval g.V(b).has('n', c).limit(a)\nop none 1 bytecode g.V().count()\n\
                 op collections 1 bytecode g.inject([a, [b, c]], {c}, [k: a]).unfold()\n",
                "mixed",
            )
            .expect("parses"),
        );
        fn has_binding(v: &Value) -> bool {
            match v {
                Value::Binding(_) => true,
                Value::Bytecode(bc) => bc
                    .source
                    .iter()
                    .chain(&bc.steps)
                    .any(|i| i.args.iter().any(has_binding)),
                Value::P(p) => p.args.iter().any(has_binding),
                Value::List(l) => l.iter().any(has_binding),
                Value::Set(l) => l.iter().any(has_binding),
                Value::Map(m) => m.iter().any(|(k, v)| has_binding(k) || has_binding(v)),
                _ => false,
            }
        }
        // The checker sees the bindings the parser leaves in a template (in a list, a set
        // and a map), so its silence below means something.
        let mixed = workloads.last().expect("mixed");
        let Template::Bytecode(collections) = &mixed.ops[3].template else {
            panic!("collections is bytecode")
        };
        assert!(has_binding(&Value::Bytecode(Arc::new(collections.clone()))));
        let mut scratch = Scratch::default();
        for w in &workloads {
            for op in 0..w.ops.len() {
                // Params go out as plain values, wherever they sit.
                let m = w.request(op, &mut Rng::new(7), Uuid([0; 16]));
                assert!(
                    !m.args.values().any(has_binding),
                    "{} op {op}: {m:?}",
                    w.name
                );
                for seed in 0..50 {
                    let mut r1 = Rng::new(seed);
                    let mut r2 = Rng::new(seed);
                    let id = Uuid([seed as u8; 16]);
                    let slow =
                        encode_request_frame(Format::GraphBinaryV1, &w.request(op, &mut r1, id))
                            .expect("encodes");
                    // Counters advanced on that draw: rewind the ones this op used.
                    for &i in &w.ops[op].params {
                        if let Dist::Counter { next } = &w.params[i].dist {
                            next.fetch_sub(1, Ordering::Relaxed);
                        }
                    }
                    let fast = w.encode_frame(op, &mut r2, id, &mut scratch);
                    assert_eq!(fast, slow.as_slice(), "{} op {op} seed {seed}", w.name);
                }
            }
        }
    }

    #[test]
    fn weights_and_distributions() {
        let w = builtin("read-mostly", 1000, "zipf", "string", "0s", "1s").expect("built in");
        let mut rng = Rng::new(42);
        let picks = (0..20_000).filter(|_| w.pick(&mut rng) == 0).count();
        assert!(
            (18_600..19_400).contains(&picks),
            "{picks} of 20000 lookups"
        );
        let zipf = Zipf::new(1000, 0.99).expect("zipf");
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            counts[zipf.sample(&mut rng) as usize] += 1;
        }
        // Rank 0 is far hotter than the median rank, and every rank is within range.
        assert!(
            counts[0] > 50 * counts[500].max(1),
            "{} vs {}",
            counts[0],
            counts[500]
        );
        let uniform = Param {
            name: "u".into(),
            dist: Dist::Uniform { lo: 10, hi: 12 },
            ty: ValueType::Int,
        };
        let mut seen = [0u32; 3];
        for _ in 0..3000 {
            let Value::Int(v) = uniform.draw(&mut rng) else {
                panic!()
            };
            seen[(v - 10) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
        for name in BUILTINS {
            builtin(name, 100, "uniform", "long", "0s", "1s").expect(name);
        }
        assert!(builtin("nope", 100, "uniform", "long", "0s", "1s").is_err());
    }
}
