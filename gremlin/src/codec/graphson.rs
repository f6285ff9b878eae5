//! GraphSON 3.0 (`application/vnd.gremlin-v3.0+json`): typed JSON for every [`Value`], the
//! request/response envelopes (PROTOCOL.md section 7), and the adjacency-list graph files of
//! `../shared/tinkerpop/data/*.json` ([`read_graph`], [`write_graph`]; one line at a time:
//! [`read_vertex_line`], [`write_vertex_line`]).
//!
//! Shape decisions:
//! - Element `properties` are omitted when absent or empty (as Java writes them) and an
//!   absent `properties` reads as `None`; so `Some(vec![])` becomes `None` after a trip.
//! - Untyped JSON reads as Java's GraphSON reader does: integers as Int, else Long, else
//!   BigInteger; other numbers as Double; arrays as List; objects as Map with String keys.
//! - `gx:OffsetDateTime`, `gx:ZonedDateTime`, `gx:Instant`, `gx:LocalDateTime`, `gx:LocalDate`
//!   read as `Value::DateTime` (UTC when the text has no offset); dates are written as
//!   `gx:OffsetDateTime` in Java's `toString()` form.
//! - A standalone `g:Metrics` reads as its Map; inside `g:TraversalMetrics` it is `Metrics`
//!   (durations travel as milliseconds in a Double, as Java writes them).
//! - Strategies read from `{"@type":"g:<Name>","@value":{"fqcn":..,"conf":..}}` or the older
//!   `{"@type":"g:<Name>Strategy","@value":<config map>}` (class = simple name).

use std::fmt::Write as _;
use std::sync::Arc;

use hashbrown::{HashMap, HashSet};
use num_bigint::BigInt;

use super::json::{self, write_string, Json};
use super::message::{RequestMessage, ResponseMessage};
use super::time::{format_duration, format_offset_date_time, parse_date_time, parse_duration};
use super::{
    canonical_enum_name, DecodeError, DecodeErrorKind as K, EncodeError, ENUM_KINDS,
    NESTING_DEPTH_MAX,
};
use crate::bytecode::{Bytecode, Instruction};
use crate::value::{
    BigDecimal, Edge, EnumValue, GraphData, Lambda, Map, Metrics, Path, Predicate, Property, Set,
    Strategy, TraversalMetrics, Uuid, Value, Vertex, VertexProperty,
};

type R<T> = Result<T, DecodeError>;

fn invalid(detail: impl Into<String>) -> DecodeError {
    DecodeError::new(K::Invalid, 0, format!("GraphSON: {}", detail.into()))
}

// ------------------------------------------------------------------------------------------
// Encoding
// ------------------------------------------------------------------------------------------

/// Encodes one value as typed GraphSON 3.0 text.
pub fn encode_value(v: &Value) -> Result<String, EncodeError> {
    let mut out = String::new();
    write_value(&mut out, v)?;
    Ok(out)
}

/// Appends one value as typed GraphSON 3.0.
pub fn write_value(out: &mut String, v: &Value) -> Result<(), EncodeError> {
    W { out, depth: 0 }.value(v)
}

/// Encodes a request as Python/JS send it: typed `requestId`, `args` as a `g:Map`-free plain
/// object whose values are typed.
pub fn encode_request(m: &RequestMessage) -> Result<String, EncodeError> {
    let mut out = String::new();
    let mut w = W {
        out: &mut out,
        depth: 0,
    };
    w.out.push_str("{\"requestId\":");
    w.value(&Value::Uuid(m.request_id))?;
    w.out.push_str(",\"op\":");
    write_string(w.out, &m.op);
    w.out.push_str(",\"processor\":");
    write_string(w.out, &m.processor);
    w.out.push_str(",\"args\":");
    w.string_keyed_object(&m.args)?;
    w.out.push('}');
    Ok(out)
}

/// Encodes a response in Gremlin Server's exact shape (plain-string `requestId`, plain `code`).
pub fn encode_response(m: &ResponseMessage) -> Result<String, EncodeError> {
    let mut out = String::new();
    let mut w = W {
        out: &mut out,
        depth: 0,
    };
    w.out.push_str("{\"requestId\":");
    match &m.request_id {
        Some(id) => write_string(w.out, &id.to_string()),
        None => w.out.push_str("null"),
    }
    w.out.push_str(",\"status\":{\"message\":");
    match &m.status_message {
        Some(s) => write_string(w.out, s),
        None => w.out.push_str("null"),
    }
    let _ = write!(w.out, ",\"code\":{},\"attributes\":", m.status_code);
    w.map(&m.status_attributes)?;
    w.out.push_str("},\"result\":{\"data\":");
    w.value(&m.result_data)?;
    w.out.push_str(",\"meta\":");
    w.map(&m.result_meta)?;
    w.out.push_str("}}");
    Ok(out)
}

struct W<'a> {
    out: &'a mut String,
    depth: usize,
}

fn simple_name(class: &str) -> &str {
    class.rsplit('.').next().unwrap_or(class)
}

/// Java's `BigDecimal.toString()`.
fn big_decimal_text(d: &BigDecimal) -> String {
    let neg = d.unscaled.sign() == num_bigint::Sign::Minus;
    let coeff = d.unscaled.magnitude().to_string();
    let scale = i64::from(d.scale);
    let adjusted = -scale + (coeff.len() as i64 - 1);
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if scale >= 0 && adjusted >= -6 {
        let scale = scale as usize;
        if scale == 0 {
            s.push_str(&coeff);
        } else if coeff.len() > scale {
            let (a, b) = coeff.split_at(coeff.len() - scale);
            s.push_str(a);
            s.push('.');
            s.push_str(b);
        } else {
            s.push_str("0.");
            s.extend(std::iter::repeat_n('0', scale - coeff.len()));
            s.push_str(&coeff);
        }
    } else {
        let (a, b) = coeff.split_at(1);
        s.push_str(a);
        if !b.is_empty() {
            s.push('.');
            s.push_str(b);
        }
        let _ = write!(s, "E{}{}", if adjusted >= 0 { "+" } else { "" }, adjusted);
    }
    s
}

impl W<'_> {
    fn typed_raw(&mut self, ty: &str, raw: &str) {
        let _ = write!(self.out, "{{\"@type\":\"{ty}\",\"@value\":{raw}}}");
    }
    fn typed_str(&mut self, ty: &str, s: &str) {
        let _ = write!(self.out, "{{\"@type\":\"{ty}\",\"@value\":");
        write_string(self.out, s);
        self.out.push('}');
    }
    fn open(&mut self, ty: &str) {
        // Escaped: a strategy's type name comes from its (untrusted) class name.
        self.out.push_str("{\"@type\":");
        write_string(self.out, ty);
        self.out.push_str(",\"@value\":");
    }
    fn float_text(x: f64, debug: String) -> String {
        if x.is_nan() {
            "\"NaN\"".into()
        } else if x.is_infinite() {
            if x > 0.0 {
                "\"Infinity\"".into()
            } else {
                "\"-Infinity\"".into()
            }
        } else {
            debug
        }
    }
    fn list<'v>(
        &mut self,
        ty: &str,
        items: impl Iterator<Item = &'v Value>,
    ) -> Result<(), EncodeError> {
        self.open(ty);
        self.array(items)?;
        self.out.push('}');
        Ok(())
    }
    fn array<'v>(&mut self, items: impl Iterator<Item = &'v Value>) -> Result<(), EncodeError> {
        self.out.push('[');
        for (i, item) in items.enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.value(item)?;
        }
        self.out.push(']');
        Ok(())
    }
    fn map(&mut self, m: &Map) -> Result<(), EncodeError> {
        self.open("g:Map");
        self.out.push('[');
        for (i, (k, v)) in m.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.value(k)?;
            self.out.push(',');
            self.value(v)?;
        }
        self.out.push_str("]}");
        Ok(())
    }
    /// A plain JSON object; non-string keys are an error.
    fn string_keyed_object(&mut self, m: &Map) -> Result<(), EncodeError> {
        self.out.push('{');
        for (i, (k, v)) in m.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            let k = k.as_str().ok_or_else(|| {
                EncodeError::new(format!(
                    "object key must be a String, not {}",
                    k.type_name()
                ))
            })?;
            write_string(self.out, k);
            self.out.push(':');
            self.value(v)?;
        }
        self.out.push('}');
        Ok(())
    }
    fn key(&mut self, first: bool, k: &str) {
        if !first {
            self.out.push(',');
        }
        write_string(self.out, k);
        self.out.push(':');
    }
    /// `,"properties":{key: value, ...}` of an adjacency-list element, when it has any.
    fn properties_member(&mut self, props: Option<&[Property]>) -> Result<(), EncodeError> {
        let Some(props) = props.filter(|p| !p.is_empty()) else {
            return Ok(());
        };
        self.out.push_str(",\"properties\":{");
        for (k, p) in props.iter().enumerate() {
            self.key(k == 0, &p.key);
            self.value(&p.value)?;
        }
        self.out.push('}');
        Ok(())
    }
    fn vertex_property(&mut self, vp: &VertexProperty) -> Result<(), EncodeError> {
        self.open("g:VertexProperty");
        self.out.push_str("{\"id\":");
        self.value(&vp.id)?;
        self.out.push_str(",\"value\":");
        self.value(&vp.value)?;
        self.out.push_str(",\"label\":");
        write_string(self.out, &vp.key);
        if let Some(props) = vp.properties.as_deref().filter(|p| !p.is_empty()) {
            self.out.push_str(",\"properties\":{");
            for (i, p) in props.iter().enumerate() {
                self.key(i == 0, &p.key);
                self.value(&p.value)?;
            }
            self.out.push('}');
        }
        self.out.push_str("}}");
        Ok(())
    }
    fn property(&mut self, p: &Property) -> Result<(), EncodeError> {
        self.open("g:Property");
        self.out.push_str("{\"key\":");
        write_string(self.out, &p.key);
        self.out.push_str(",\"value\":");
        self.value(&p.value)?;
        self.out.push_str("}}");
        Ok(())
    }
    fn vertex(&mut self, vx: &Vertex) -> Result<(), EncodeError> {
        self.open("g:Vertex");
        self.out.push_str("{\"id\":");
        self.value(&vx.id)?;
        self.out.push_str(",\"label\":");
        write_string(self.out, &vx.label);
        if let Some(props) = vx.properties.as_deref().filter(|p| !p.is_empty()) {
            self.out.push_str(",\"properties\":{");
            for (i, (key, group)) in group_by_key(props, |vp| &vp.key).into_iter().enumerate() {
                self.key(i == 0, key);
                self.out.push('[');
                for (j, vp) in group.into_iter().enumerate() {
                    if j > 0 {
                        self.out.push(',');
                    }
                    self.vertex_property(vp)?;
                }
                self.out.push(']');
            }
            self.out.push('}');
        }
        self.out.push_str("}}");
        Ok(())
    }
    fn edge(&mut self, e: &Edge) -> Result<(), EncodeError> {
        self.open("g:Edge");
        self.out.push_str("{\"id\":");
        self.value(&e.id)?;
        self.out.push_str(",\"label\":");
        write_string(self.out, &e.label);
        self.out.push_str(",\"inVLabel\":");
        write_string(self.out, &e.in_v_label);
        self.out.push_str(",\"outVLabel\":");
        write_string(self.out, &e.out_v_label);
        self.out.push_str(",\"inV\":");
        self.value(&e.in_v_id)?;
        self.out.push_str(",\"outV\":");
        self.value(&e.out_v_id)?;
        if let Some(props) = e.properties.as_deref().filter(|p| !p.is_empty()) {
            self.out.push_str(",\"properties\":{");
            for (i, p) in props.iter().enumerate() {
                self.key(i == 0, &p.key);
                self.property(p)?;
            }
            self.out.push('}');
        }
        self.out.push_str("}}");
        Ok(())
    }
    fn metrics(&mut self, m: &Metrics) -> Result<(), EncodeError> {
        self.open("g:Metrics");
        self.open("g:Map");
        self.out.push_str("[\"dur\",");
        self.value(&Value::Double(m.duration_nanos as f64 / 1e6))?;
        self.out.push_str(",\"counts\",");
        let counts: Map = m
            .counts
            .iter()
            .map(|(k, n)| (Value::String(k.clone()), Value::Long(*n)))
            .collect();
        self.map(&counts)?;
        self.out.push_str(",\"name\",");
        write_string(self.out, &m.name);
        self.out.push_str(",\"annotations\",");
        let annotations: Map = m
            .annotations
            .iter()
            .map(|(k, v)| (Value::String(k.clone()), v.clone()))
            .collect();
        self.map(&annotations)?;
        self.out.push_str(",\"id\",");
        write_string(self.out, &m.id);
        if !m.nested.is_empty() {
            self.out.push_str(",\"metrics\",");
            self.metrics_list(&m.nested)?;
        }
        self.out.push_str("]}}");
        Ok(())
    }
    fn metrics_list(&mut self, list: &[Metrics]) -> Result<(), EncodeError> {
        self.enter()?;
        self.open("g:List");
        self.out.push('[');
        for (i, n) in list.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.metrics(n)?;
        }
        self.out.push_str("]}");
        self.depth -= 1;
        Ok(())
    }
    fn tree(&mut self, t: &[(Value, Value)]) -> Result<(), EncodeError> {
        self.enter()?;
        self.open("g:Tree");
        self.out.push('[');
        for (i, (k, sub)) in t.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str("{\"key\":");
            self.value(k)?;
            self.out.push_str(",\"value\":");
            match sub {
                Value::Tree(s) => self.tree(s)?,
                Value::Null => self.tree(&[])?,
                other => {
                    return Err(EncodeError::new(format!(
                        "a Tree subtree must be a Tree, not {}",
                        other.type_name()
                    )))
                }
            }
            self.out.push('}');
        }
        self.out.push_str("]}");
        self.depth -= 1;
        Ok(())
    }
    fn instructions(&mut self, list: &[Instruction]) -> Result<(), EncodeError> {
        self.out.push('[');
        for (i, ins) in list.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push('[');
            write_string(self.out, &ins.op);
            for a in &ins.args {
                self.out.push(',');
                self.value(a)?;
            }
            self.out.push(']');
        }
        self.out.push(']');
        Ok(())
    }
    fn enter(&mut self) -> Result<(), EncodeError> {
        self.depth += 1;
        if self.depth > NESTING_DEPTH_MAX {
            return Err(EncodeError::new(format!(
                "value nested deeper than {NESTING_DEPTH_MAX} levels"
            )));
        }
        Ok(())
    }

    fn value(&mut self, v: &Value) -> Result<(), EncodeError> {
        self.enter()?;
        let r = self.value_inner(v);
        self.depth -= 1;
        r
    }

    fn value_inner(&mut self, v: &Value) -> Result<(), EncodeError> {
        match v {
            Value::Null => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Byte(x) => self.typed_raw("gx:Byte", &x.to_string()),
            Value::Short(x) => self.typed_raw("gx:Int16", &x.to_string()),
            Value::Int(x) => self.typed_raw("g:Int32", &x.to_string()),
            Value::Long(x) => self.typed_raw("g:Int64", &x.to_string()),
            Value::BigInt(x) => self.typed_raw("gx:BigInteger", &x.to_string()),
            Value::BigDecimal(x) => self.typed_raw("gx:BigDecimal", &big_decimal_text(x)),
            Value::Float(x) => {
                let t = Self::float_text(f64::from(*x), format!("{x:?}"));
                self.typed_raw("g:Float", &t)
            }
            Value::Double(x) => {
                let t = Self::float_text(*x, format!("{x:?}"));
                self.typed_raw("g:Double", &t)
            }
            Value::Char(c) => self.typed_str("gx:Char", c.encode_utf8(&mut [0u8; 4])),
            Value::String(s) => write_string(self.out, s),
            Value::Uuid(u) => self.typed_str("g:UUID", &u.to_string()),
            Value::Date(ms) => self.typed_raw("g:Date", &ms.to_string()),
            Value::DateTime(dt) => {
                let text = format_offset_date_time(dt).map_err(EncodeError::new)?;
                self.typed_str("gx:OffsetDateTime", &text)
            }
            Value::Duration(d) => self.typed_str("gx:Duration", &format_duration(d)),
            Value::Binary(b) => self.typed_str("gx:ByteBuffer", &base64_encode(b)),
            Value::List(items) => self.list("g:List", items.iter())?,
            Value::Set(items) => self.list("g:Set", items.iter())?,
            Value::Map(m) => self.map(m)?,
            Value::BulkSet(items) => {
                self.open("g:BulkSet");
                self.out.push('[');
                for (i, (item, bulk)) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.value(item)?;
                    self.out.push(',');
                    self.typed_raw("g:Int64", &bulk.to_string());
                }
                self.out.push_str("]}");
            }
            Value::Tree(t) => self.tree(t)?,
            Value::Vertex(vx) => self.vertex(vx)?,
            Value::Edge(e) => self.edge(e)?,
            Value::VertexProperty(vp) => self.vertex_property(vp)?,
            Value::Property(p) => self.property(p)?,
            Value::Path(p) => {
                if p.labels.len() != p.objects.len() {
                    return Err(EncodeError::new(format!(
                        "path has {} label sets but {} objects",
                        p.labels.len(),
                        p.objects.len()
                    )));
                }
                self.open("g:Path");
                self.out.push_str("{\"labels\":");
                self.open("g:List");
                self.out.push('[');
                for (i, labels) in p.labels.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.open("g:Set");
                    self.out.push('[');
                    for (j, l) in labels.iter().enumerate() {
                        if j > 0 {
                            self.out.push(',');
                        }
                        write_string(self.out, l);
                    }
                    self.out.push_str("]}");
                }
                self.out.push_str("]},\"objects\":");
                self.list("g:List", p.objects.iter())?;
                self.out.push_str("}}");
            }
            Value::Graph(g) => {
                self.open("tinker:graph");
                self.out.push_str("{\"vertices\":[");
                for (i, vx) in g.vertices.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.vertex(vx)?;
                }
                self.out.push_str("],\"edges\":[");
                for (i, e) in g.edges.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.edge(e)?;
                }
                self.out.push_str("]}}");
            }
            Value::Metrics(m) => {
                self.open("g:TraversalMetrics");
                self.open("g:Map");
                self.out.push_str("[\"dur\",");
                self.value(&Value::Double(m.duration_nanos as f64 / 1e6))?;
                self.out.push_str(",\"metrics\",");
                self.metrics_list(&m.metrics)?;
                self.out.push_str("]}}");
            }
            Value::Traverser(t) => {
                self.open("g:Traverser");
                self.out.push_str("{\"bulk\":");
                self.typed_raw("g:Int64", &t.0.to_string());
                self.out.push_str(",\"value\":");
                self.value(&t.1)?;
                self.out.push_str("}}");
            }
            Value::Enum(e) => {
                let ty = ENUM_KINDS
                    .iter()
                    .find(|(k, _, _)| *k == e.kind)
                    .map_or("g:T", |(_, _, t)| *t);
                self.typed_str(ty, &e.name)
            }
            Value::P(p) => {
                self.open(if p.text { "g:TextP" } else { "g:P" });
                self.out.push_str("{\"predicate\":");
                write_string(self.out, &p.name);
                self.out.push_str(",\"value\":");
                match (&*p.name, p.args.as_slice()) {
                    ("within" | "without" | "between" | "inside" | "outside", args) => {
                        self.list("g:List", args.iter())?
                    }
                    ("and" | "or", args) => self.array(args.iter())?,
                    (_, [one]) => self.value(one)?,
                    (_, []) => self.out.push_str("null"),
                    (_, args) => self.list("g:List", args.iter())?,
                }
                self.out.push_str("}}");
            }
            Value::Bytecode(b) => {
                self.open("g:Bytecode");
                self.out.push('{');
                let mut first = true;
                if !b.source.is_empty() {
                    self.key(first, "source");
                    self.instructions(&b.source)?;
                    first = false;
                }
                if !b.steps.is_empty() {
                    self.key(first, "step");
                    self.instructions(&b.steps)?;
                }
                self.out.push_str("}}");
            }
            Value::Binding(b) => {
                self.open("g:Binding");
                self.out.push_str("{\"key\":");
                write_string(self.out, &b.0);
                self.out.push_str(",\"value\":");
                self.value(&b.1)?;
                self.out.push_str("}}");
            }
            Value::Lambda(l) => {
                self.open("g:Lambda");
                self.out.push_str("{\"script\":");
                write_string(self.out, &l.script);
                self.out.push_str(",\"language\":");
                write_string(self.out, &l.language);
                let _ = write!(self.out, ",\"arguments\":{}}}}}", l.arguments);
            }
            Value::Class(c) => self.typed_str("g:Class", c),
            Value::Strategy(s) => {
                let ty = format!("g:{}", simple_name(&s.class));
                self.open(&ty);
                self.out.push_str("{\"fqcn\":");
                write_string(self.out, &s.class);
                self.out.push_str(",\"conf\":");
                self.map(&s.config)?;
                self.out.push_str("}}");
            }
        }
        Ok(())
    }
}

/// Groups items by key, keys in first-appearance order, items in order within a key.
fn group_by_key<'a, T>(
    items: &'a [T],
    key: impl Fn(&T) -> &Arc<str>,
) -> Vec<(&'a str, Vec<&'a T>)> {
    let mut groups: Vec<(&'a str, Vec<&'a T>)> = Vec::new();
    let mut index: HashMap<&'a str, usize> = HashMap::new();
    for item in items {
        let k: &'a str = key(item);
        match index.get(k) {
            Some(&i) => {
                if let Some(g) = groups.get_mut(i) {
                    g.1.push(item);
                }
            }
            None => {
                index.insert(k, groups.len());
                groups.push((k, vec![item]));
            }
        }
    }
    groups
}

// ------------------------------------------------------------------------------------------
// Decoding
// ------------------------------------------------------------------------------------------

/// Decodes one GraphSON 3.0 value from text.
pub fn decode_value(text: &str) -> R<Value> {
    value_from_json(&json::parse(text)?)
}

/// Decodes a request body (UTF-8 JSON). Accepts a typed or plain-string `requestId` and
/// `args` as a plain object or a `g:Map`.
pub fn decode_request(body: &[u8]) -> R<RequestMessage> {
    let text = utf8(body)?;
    let root = json::parse(text)?;
    let request_id = match root.get("requestId") {
        Some(j) => uuid_of(j)?,
        None => return Err(invalid("request has no requestId")),
    };
    let op = match root.get("op") {
        Some(Json::String(s)) => s.clone(),
        _ => return Err(invalid("request has no string op")),
    };
    let processor = match root.get("processor") {
        Some(Json::String(s)) => s.clone(),
        None | Some(Json::Null) => String::new(),
        Some(other) => {
            return Err(invalid(format!(
                "processor must be a string, not {}",
                other.kind()
            )))
        }
    };
    let args = match root.get("args") {
        None | Some(Json::Null) => Map::new(),
        Some(j) => match value_from_json(j)? {
            Value::Map(m) => m,
            other => {
                return Err(invalid(format!(
                    "args must be a map, not {}",
                    other.type_name()
                )))
            }
        },
    };
    Ok(RequestMessage {
        request_id,
        op,
        processor,
        args,
    })
}

/// Decodes a response body.
pub fn decode_response(body: &[u8]) -> R<ResponseMessage> {
    let text = utf8(body)?;
    let root = json::parse(text)?;
    let request_id = match root.get("requestId") {
        None | Some(Json::Null) => None,
        Some(j) => Some(uuid_of(j)?),
    };
    let status = root
        .get("status")
        .ok_or_else(|| invalid("response has no status"))?;
    let status_code = match status.get("code").map(value_from_json).transpose()? {
        Some(Value::Int(c)) => c,
        _ => return Err(invalid("status.code must be an Int")),
    };
    let status_message = match status.get("message") {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid("status.message must be a string")),
    };
    let map_at = |j: Option<&Json>, what: &str| -> R<Map> {
        match j.map(value_from_json).transpose()? {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Map(m)) => Ok(m),
            Some(other) => Err(invalid(format!(
                "{what} must be a map, not {}",
                other.type_name()
            ))),
        }
    };
    let status_attributes = map_at(status.get("attributes"), "status.attributes")?;
    let result = root.get("result");
    let result_meta = map_at(result.and_then(|r| r.get("meta")), "result.meta")?;
    let result_data = match result.and_then(|r| r.get("data")) {
        Some(j) => value_from_json(j)?,
        None => Value::Null,
    };
    Ok(ResponseMessage {
        request_id,
        status_code,
        status_message,
        status_attributes,
        result_meta,
        result_data,
    })
}

fn utf8(body: &[u8]) -> R<&str> {
    std::str::from_utf8(body).map_err(|e| {
        DecodeError::new(
            K::Invalid,
            e.valid_up_to(),
            "GraphSON: body is not valid UTF-8",
        )
    })
}

fn uuid_of(j: &Json) -> R<Uuid> {
    match value_from_json(j)? {
        Value::Uuid(u) => Ok(u),
        Value::String(s) => {
            Uuid::parse(&s).ok_or_else(|| invalid(format!("requestId {s:?} is not a UUID")))
        }
        other => Err(invalid(format!(
            "requestId must be a UUID, not {}",
            other.type_name()
        ))),
    }
}

fn raw_number(j: &Json) -> Option<&str> {
    match j {
        Json::Number(n) => Some(n),
        _ => None,
    }
}

fn int_text(j: &Json, ty: &str) -> R<i64> {
    let raw = raw_number(j).ok_or_else(|| invalid(format!("{ty} value must be a number")))?;
    raw.parse::<i64>()
        .map_err(|_| invalid(format!("{ty} value {raw} is not an integer in range")))
}

fn float_of(j: &Json, ty: &str) -> R<f64> {
    match j {
        Json::Number(n) => n
            .parse::<f64>()
            .map_err(|_| invalid(format!("{ty} value {n} is not a number"))),
        Json::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(invalid(format!("{ty} value {s:?} is not a number"))),
        },
        other => Err(invalid(format!(
            "{ty} value must be a number, not {}",
            other.kind()
        ))),
    }
}

fn big_int_text(s: &str) -> R<BigInt> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty()
        || !digits
            .strip_prefix('-')
            .unwrap_or(digits)
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        return Err(invalid(format!("{s:?} is not an integer")));
    }
    digits
        .parse::<BigInt>()
        .map_err(|_| invalid(format!("{s:?} is not an integer")))
}

/// Parses a decimal number text (`-12.30`, `1.2E+5`) into a `BigDecimal` keeping its scale.
fn big_decimal_of(s: &str) -> R<BigDecimal> {
    let bad = || invalid(format!("{s:?} is not a decimal number"));
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => {
            let e = s.get(i + 1..).ok_or_else(bad)?;
            let e = e.strip_prefix('+').unwrap_or(e);
            (
                s.get(..i).ok_or_else(bad)?,
                e.parse::<i64>().map_err(|_| bad())?,
            )
        }
        None => (s, 0),
    };
    let (int_part, frac) = match mantissa.find('.') {
        Some(i) => (
            mantissa.get(..i).ok_or_else(bad)?,
            mantissa.get(i + 1..).ok_or_else(bad)?,
        ),
        None => (mantissa, ""),
    };
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let unscaled = big_int_text(&format!("{int_part}{frac}"))?;
    let scale = (frac.len() as i64)
        .checked_sub(exp)
        .and_then(|x| i32::try_from(x).ok())
        .ok_or_else(bad)?;
    Ok(BigDecimal { unscaled, scale })
}

fn str_of<'j>(j: &'j Json, what: &str) -> R<&'j str> {
    j.as_str()
        .ok_or_else(|| invalid(format!("{what} must be a string, not {}", j.kind())))
}

fn field<'j>(obj: &'j Json, key: &str, ty: &str) -> R<&'j Json> {
    obj.get(key)
        .ok_or_else(|| invalid(format!("{ty} has no {key:?} field")))
}

fn array_of<'j>(j: &'j Json, what: &str) -> R<&'j [Json]> {
    match j {
        Json::Array(items) => Ok(items),
        other => Err(invalid(format!(
            "{what} must be an array, not {}",
            other.kind()
        ))),
    }
}

/// The items of a typed `g:List`/`g:Set` or of a plain array.
fn list_items(j: &Json, what: &str) -> R<Vec<Value>> {
    match value_from_json(j)? {
        Value::List(items) => Ok(items),
        Value::Set(items) => Ok(items.into_iter().collect()),
        other => Err(invalid(format!(
            "{what} must be a list, not {}",
            other.type_name()
        ))),
    }
}

/// Decodes a parsed JSON value as GraphSON 3.0. Recursion is bounded by the parser's
/// nesting limit.
pub fn value_from_json(j: &Json) -> R<Value> {
    match j {
        Json::Null => Ok(Value::Null),
        Json::Bool(b) => Ok(Value::Bool(*b)),
        Json::String(s) => Ok(Value::str(s)),
        Json::Number(n) => Ok(untyped_number(n)),
        Json::Array(items) => Ok(Value::List(
            items.iter().map(value_from_json).collect::<R<Vec<_>>>()?,
        )),
        Json::Object(members) => match (j.get("@type"), j.get("@value")) {
            (Some(Json::String(ty)), Some(v)) if members.len() == 2 => typed(ty, v),
            (Some(Json::String(ty)), None) if members.len() == 1 => typed(ty, &Json::Null),
            _ => {
                let mut m = Map::with_capacity(members.len());
                for (k, v) in members {
                    m.insert(Value::str(k), value_from_json(v)?);
                }
                Ok(Value::Map(m))
            }
        },
    }
}

fn untyped_number(n: &str) -> Value {
    if let Ok(i) = n.parse::<i64>() {
        return match i32::try_from(i) {
            Ok(x) => Value::Int(x),
            Err(_) => Value::Long(i),
        };
    }
    if let Ok(b) = big_int_text(n) {
        return Value::BigInt(b);
    }
    // The parser validated JSON number syntax, which f64 parsing accepts.
    Value::Double(n.parse::<f64>().unwrap_or(f64::NAN))
}

fn typed(ty: &str, v: &Json) -> R<Value> {
    Ok(match ty {
        "g:Int32" => {
            let x = int_text(v, ty)?;
            Value::Int(i32::try_from(x).map_err(|_| invalid(format!("g:Int32 {x} out of range")))?)
        }
        "g:Int64" => Value::Long(int_text(v, ty)?),
        "gx:Int16" => {
            let x = int_text(v, ty)?;
            Value::Short(
                i16::try_from(x).map_err(|_| invalid(format!("gx:Int16 {x} out of range")))?,
            )
        }
        "gx:Byte" => {
            let x = int_text(v, ty)?;
            // Java bytes are signed; accept 128..=255 as their two's-complement (as drivers
            // with unsigned bytes write them).
            let b = i8::try_from(x)
                .or_else(|_| u8::try_from(x).map(|u| u as i8))
                .map_err(|_| invalid(format!("gx:Byte {x} out of range")))?;
            Value::Byte(b)
        }
        "g:Double" => Value::Double(float_of(v, ty)?),
        "g:Float" => match v {
            Json::Number(n) => Value::Float(
                n.parse::<f32>()
                    .map_err(|_| invalid(format!("g:Float value {n} is not a number")))?,
            ),
            _ => Value::Float(float_of(v, ty)? as f32),
        },
        "gx:BigInteger" => match v {
            Json::Number(n) => Value::BigInt(big_int_text(n)?),
            Json::String(s) => Value::BigInt(big_int_text(s)?),
            _ => return Err(invalid("gx:BigInteger value must be an integer")),
        },
        "gx:BigDecimal" => match v {
            Json::Number(n) => Value::BigDecimal(big_decimal_of(n)?),
            Json::String(s) => Value::BigDecimal(big_decimal_of(s)?),
            _ => return Err(invalid("gx:BigDecimal value must be a number")),
        },
        "g:UUID" => {
            let s = str_of(v, ty)?;
            Value::Uuid(Uuid::parse(s).ok_or_else(|| invalid(format!("{s:?} is not a UUID")))?)
        }
        "g:Date" | "g:Timestamp" => Value::Date(int_text(v, ty)?),
        "g:Class" => Value::Class(Arc::from(str_of(v, ty)?)),
        "gx:Char" => {
            let s = str_of(v, ty)?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Value::Char(c),
                _ => return Err(invalid(format!("gx:Char {s:?} is not one character"))),
            }
        }
        "gx:ByteBuffer" => Value::Binary(Arc::from(base64_decode(str_of(v, ty)?)?)),
        "gx:Duration" => Value::Duration(parse_duration(str_of(v, ty)?).map_err(invalid)?),
        "gx:OffsetDateTime" | "gx:ZonedDateTime" | "gx:Instant" | "gx:LocalDateTime"
        | "gx:LocalDate" => Value::DateTime(parse_date_time(str_of(v, ty)?).map_err(invalid)?),
        "g:List" => Value::List(
            array_of(v, ty)?
                .iter()
                .map(value_from_json)
                .collect::<R<Vec<_>>>()?,
        ),
        "g:Set" => Value::Set(
            array_of(v, ty)?
                .iter()
                .map(value_from_json)
                .collect::<R<Set>>()?,
        ),
        "g:Map" => {
            let items = array_of(v, ty)?;
            if items.len() % 2 != 0 {
                return Err(invalid("g:Map has an odd number of items"));
            }
            let mut m = Map::with_capacity(items.len() / 2);
            for pair in items.chunks_exact(2) {
                if let [k, val] = pair {
                    m.insert(value_from_json(k)?, value_from_json(val)?);
                }
            }
            Value::Map(m)
        }
        "g:BulkSet" => {
            let items = array_of(v, ty)?;
            if items.len() % 2 != 0 {
                return Err(invalid("g:BulkSet has an odd number of items"));
            }
            let mut out = Vec::with_capacity(items.len() / 2);
            for pair in items.chunks_exact(2) {
                if let [item, bulk] = pair {
                    let bulk = match value_from_json(bulk)? {
                        Value::Long(b) => b,
                        Value::Int(b) => i64::from(b),
                        other => {
                            return Err(invalid(format!(
                                "g:BulkSet bulk must be a Long, not {}",
                                other.type_name()
                            )))
                        }
                    };
                    out.push((value_from_json(item)?, bulk));
                }
            }
            Value::BulkSet(out)
        }
        "g:Tree" => Value::Tree(tree_of(v)?),
        "g:Vertex" => Value::Vertex(Arc::new(vertex_of(v)?)),
        "g:Edge" => Value::Edge(Arc::new(edge_of(v)?)),
        "g:VertexProperty" => Value::VertexProperty(Arc::new(vertex_property_of(v, None)?)),
        "g:Property" => Value::Property(Arc::new(property_of(v, None)?)),
        "g:Path" => Value::Path(Arc::new(path_of(v)?)),
        "tinker:graph" => Value::Graph(Arc::new(graph_of(v)?)),
        "g:Traverser" => {
            let bulk = match value_from_json(field(v, "bulk", ty)?)? {
                Value::Long(b) => b,
                Value::Int(b) => i64::from(b),
                other => {
                    return Err(invalid(format!(
                        "g:Traverser bulk must be a Long, not {}",
                        other.type_name()
                    )))
                }
            };
            let value = value_from_json(field(v, "value", ty)?)?;
            Value::Traverser(Arc::new((bulk, value)))
        }
        "g:Bytecode" => Value::Bytecode(Arc::new(bytecode_of(v)?)),
        "g:Binding" => {
            let key = str_of(field(v, "key", ty)?, "g:Binding key")?;
            let value = match v.get("value") {
                Some(j) => value_from_json(j)?,
                None => Value::Null,
            };
            Value::Binding(Arc::new((Arc::from(key), value)))
        }
        "g:P" | "g:TextP" => Value::P(Arc::new(predicate_of(v, ty == "g:TextP")?)),
        "g:Lambda" => {
            let script = str_of(field(v, "script", ty)?, "g:Lambda script")?;
            let language = match v.get("language") {
                Some(j) => str_of(j, "g:Lambda language")?,
                None => "gremlin-groovy",
            };
            // Plain JSON number (Java, Python) or a typed g:Int32.
            let arguments = match v.get("arguments").map(value_from_json).transpose()? {
                Some(Value::Int(n)) => n,
                None | Some(Value::Null) => -1,
                Some(other) => {
                    return Err(invalid(format!(
                        "g:Lambda arguments must be an Int, not {}",
                        other.type_name()
                    )))
                }
            };
            Value::Lambda(Arc::new(Lambda {
                language: Arc::from(language),
                script: Arc::from(script),
                arguments,
            }))
        }
        "g:TraversalMetrics" => {
            let m = metrics_map(v)?;
            let duration_nanos = dur_nanos(m.get("dur"))?;
            let metrics = match m.get("metrics") {
                Some(j) => metrics_list(j)?,
                None => Vec::new(),
            };
            Value::Metrics(Arc::new(TraversalMetrics {
                duration_nanos,
                metrics,
            }))
        }
        // One step's metrics has no Value of its own: it decodes to its map form, which
        // `g:TraversalMetrics` reads back into `Metrics`.
        "g:Metrics" => match value_from_json(v)? {
            m @ Value::Map(_) => m,
            other => {
                return Err(invalid(format!(
                    "g:Metrics must hold a map, not {}",
                    other.type_name()
                )))
            }
        },
        _ => {
            if let Some((kind, _, _)) = ENUM_KINDS.iter().find(|(_, _, t)| *t == ty) {
                let name = str_of(v, ty)?;
                return Ok(Value::Enum(EnumValue {
                    kind: *kind,
                    name: Arc::from(canonical_enum_name(*kind, name)),
                }));
            }
            if let Some(simple) = ty.strip_prefix("g:") {
                if v.get("fqcn").is_some() || simple.ends_with("Strategy") {
                    return Ok(Value::Strategy(Arc::new(strategy_of(simple, v)?)));
                }
            }
            return Err(DecodeError::new(
                K::UnknownType,
                0,
                format!("GraphSON: unknown type {ty:?}"),
            ));
        }
    })
}

fn strategy_of(simple: &str, v: &Json) -> R<Strategy> {
    let (class, conf) = match v.get("fqcn") {
        Some(fqcn) => (str_of(fqcn, "strategy fqcn")?, v.get("conf")),
        None => (simple, Some(v)),
    };
    let config = match conf.map(value_from_json).transpose()? {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Map(m)) => m,
        Some(other) => {
            return Err(invalid(format!(
                "strategy configuration must be a map, not {}",
                other.type_name()
            )))
        }
    };
    Ok(Strategy {
        class: Arc::from(class),
        config,
    })
}

fn dur_nanos(j: Option<&Value>) -> R<i64> {
    match j {
        Some(Value::Double(ms)) => Ok((ms * 1e6).round() as i64),
        Some(Value::Float(ms)) => Ok((f64::from(*ms) * 1e6).round() as i64),
        Some(Value::Long(ms)) => Ok(ms.saturating_mul(1_000_000)),
        Some(Value::Int(ms)) => Ok(i64::from(*ms) * 1_000_000),
        None => Ok(0),
        Some(other) => Err(invalid(format!(
            "metrics dur must be a number, not {}",
            other.type_name()
        ))),
    }
}

/// The `g:Map` (or plain object) inside `g:Metrics` / `g:TraversalMetrics`, keyed by name.
fn metrics_map(v: &Json) -> R<HashMap<String, Value>> {
    match value_from_json(v)? {
        Value::Map(m) => {
            let mut out = HashMap::with_capacity(m.len());
            for (k, val) in m {
                match k {
                    Value::String(s) => {
                        out.insert(s.to_string(), val);
                    }
                    other => {
                        return Err(invalid(format!(
                            "metrics key must be a String, not {}",
                            other.type_name()
                        )))
                    }
                }
            }
            Ok(out)
        }
        other => Err(invalid(format!(
            "metrics must be a map, not {}",
            other.type_name()
        ))),
    }
}

fn metrics_list(v: &Value) -> R<Vec<Metrics>> {
    let items = match v {
        Value::List(items) => items,
        other => {
            return Err(invalid(format!(
                "metrics must be a list, not {}",
                other.type_name()
            )))
        }
    };
    items.iter().map(metrics_of_value).collect()
}

/// `g:Metrics` values were decoded into a marker map by [`typed`]; re-read from the map form.
fn metrics_of_value(v: &Value) -> R<Metrics> {
    let m = match v {
        Value::Map(m) => m,
        other => {
            return Err(invalid(format!(
                "metrics entry must be g:Metrics, not {}",
                other.type_name()
            )))
        }
    };
    let get = |k: &str| m.get(&Value::str(k));
    let text = |k: &str| -> R<Arc<str>> {
        match get(k) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(invalid(format!("g:Metrics needs a string {k:?}"))),
        }
    };
    let mut counts = Vec::new();
    if let Some(Value::Map(c)) = get("counts") {
        for (k, n) in c {
            match (k, n) {
                (Value::String(k), Value::Long(n)) => counts.push((k.clone(), *n)),
                (Value::String(k), Value::Int(n)) => counts.push((k.clone(), i64::from(*n))),
                _ => return Err(invalid("g:Metrics counts must map strings to Longs")),
            }
        }
    }
    let mut annotations = Vec::new();
    if let Some(Value::Map(a)) = get("annotations") {
        for (k, val) in a {
            match k {
                Value::String(k) => annotations.push((k.clone(), val.clone())),
                _ => return Err(invalid("g:Metrics annotation keys must be strings")),
            }
        }
    }
    let nested = match get("metrics") {
        Some(list) => metrics_list(list)?,
        None => Vec::new(),
    };
    Ok(Metrics {
        id: text("id")?,
        name: text("name")?,
        duration_nanos: dur_nanos(get("dur"))?,
        counts,
        annotations,
        nested,
    })
}

fn predicate_of(v: &Json, text: bool) -> R<Predicate> {
    let ty = if text { "g:TextP" } else { "g:P" };
    let name = str_of(field(v, "predicate", ty)?, "predicate name")?;
    let value = v.get("value").unwrap_or(&Json::Null);
    let args = match name {
        "within" | "without" | "between" | "inside" | "outside" | "and" | "or" => {
            match value_from_json(value)? {
                Value::List(items) => items,
                Value::Set(items) => items.into_iter().collect(),
                other => vec![other],
            }
        }
        _ => vec![value_from_json(value)?],
    };
    Ok(Predicate {
        text,
        name: Arc::from(name),
        args,
    })
}

fn bytecode_of(v: &Json) -> R<Bytecode> {
    let instructions = |key: &str| -> R<Vec<Instruction>> {
        let Some(list) = v.get(key) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for ins in array_of(list, "bytecode instructions")? {
            let parts = array_of(ins, "bytecode instruction")?;
            let (op, args) = parts
                .split_first()
                .ok_or_else(|| invalid("empty bytecode instruction"))?;
            let op = str_of(op, "instruction name")?;
            let args = args.iter().map(value_from_json).collect::<R<Vec<_>>>()?;
            out.push(Instruction {
                op: Arc::from(op),
                args,
            });
        }
        Ok(out)
    };
    Ok(Bytecode {
        source: instructions("source")?,
        steps: instructions("step")?,
    })
}

fn tree_of(v: &Json) -> R<Vec<(Value, Value)>> {
    let mut out = Vec::new();
    for node in array_of(v, "g:Tree")? {
        let key = value_from_json(field(node, "key", "g:Tree node")?)?;
        let sub = match node.get("value").map(value_from_json).transpose()? {
            Some(Value::Tree(t)) => t,
            None | Some(Value::Null) => Vec::new(),
            Some(Value::List(l)) if l.is_empty() => Vec::new(),
            Some(other) => {
                return Err(invalid(format!(
                    "g:Tree subtree must be a g:Tree, not {}",
                    other.type_name()
                )))
            }
        };
        out.push((key, Value::Tree(sub)));
    }
    Ok(out)
}

fn label_of(v: &Json, key: &str, ty: &str) -> R<Arc<str>> {
    match v.get(key) {
        Some(j) => Ok(Arc::from(str_of(j, &format!("{ty} {key}"))?)),
        None => Ok(Arc::from("vertex")),
    }
}

/// A `g:VertexProperty` value object (or an adjacency-file vertex property, whose key comes
/// from the enclosing object: `key`).
fn vertex_property_of(v: &Json, key: Option<&str>) -> R<VertexProperty> {
    let ty = "g:VertexProperty";
    let id = match v.get("id") {
        Some(j) => value_from_json(j)?,
        None => Value::Null,
    };
    let key: Arc<str> = match (v.get("label"), key) {
        (Some(j), _) => Arc::from(str_of(j, "g:VertexProperty label")?),
        (None, Some(k)) => Arc::from(k),
        (None, None) => return Err(invalid("g:VertexProperty has no label")),
    };
    let value = value_from_json(field(v, "value", ty)?)?;
    let properties = match v.get("properties") {
        None | Some(Json::Null) => None,
        Some(Json::Object(members)) => {
            let mut props = Vec::with_capacity(members.len());
            for (k, val) in members {
                props.push(Property {
                    key: Arc::from(k.as_str()),
                    value: value_from_json(val)?,
                });
            }
            Some(props)
        }
        Some(other) => {
            return Err(invalid(format!(
                "meta-properties must be an object, not {}",
                other.kind()
            )))
        }
    };
    Ok(VertexProperty {
        id,
        key,
        value,
        properties,
    })
}

fn property_of(v: &Json, key: Option<&str>) -> R<Property> {
    let key: Arc<str> = match (v.get("key"), key) {
        (Some(j), _) => Arc::from(str_of(j, "g:Property key")?),
        (None, Some(k)) => Arc::from(k),
        (None, None) => return Err(invalid("g:Property has no key")),
    };
    let value = match v.get("value") {
        Some(j) => value_from_json(j)?,
        None => Value::Null,
    };
    Ok(Property { key, value })
}

fn vertex_of(v: &Json) -> R<Vertex> {
    let id = value_from_json(field(v, "id", "g:Vertex")?)?;
    let label = label_of(v, "label", "g:Vertex")?;
    let properties = match v.get("properties") {
        None | Some(Json::Null) => None,
        Some(Json::Object(members)) => {
            let mut props = Vec::new();
            for (key, list) in members {
                for item in array_of(list, "vertex properties")? {
                    let inner = match (item.get("@type"), item.get("@value")) {
                        (Some(Json::String(t)), Some(val)) if t == "g:VertexProperty" => val,
                        _ => item,
                    };
                    props.push(vertex_property_of(inner, Some(key))?);
                }
            }
            Some(props)
        }
        Some(other) => {
            return Err(invalid(format!(
                "vertex properties must be an object, not {}",
                other.kind()
            )))
        }
    };
    Ok(Vertex {
        id,
        label,
        properties,
    })
}

fn edge_of(v: &Json) -> R<Edge> {
    let ty = "g:Edge";
    let properties = match v.get("properties") {
        None | Some(Json::Null) => None,
        Some(Json::Object(members)) => {
            let mut props = Vec::with_capacity(members.len());
            for (key, val) in members {
                match value_from_json(val)? {
                    Value::Property(p) => props.push(Arc::unwrap_or_clone(p)),
                    other => props.push(Property {
                        key: Arc::from(key.as_str()),
                        value: other,
                    }),
                }
            }
            Some(props)
        }
        Some(other) => {
            return Err(invalid(format!(
                "edge properties must be an object, not {}",
                other.kind()
            )))
        }
    };
    Ok(Edge {
        id: value_from_json(field(v, "id", ty)?)?,
        label: label_of(v, "label", ty)?,
        out_v_id: value_from_json(field(v, "outV", ty)?)?,
        out_v_label: label_of(v, "outVLabel", ty)?,
        in_v_id: value_from_json(field(v, "inV", ty)?)?,
        in_v_label: label_of(v, "inVLabel", ty)?,
        properties,
    })
}

fn path_of(v: &Json) -> R<Path> {
    let mut labels = Vec::new();
    for set in list_items(field(v, "labels", "g:Path")?, "g:Path labels")? {
        let names = match set {
            Value::Set(s) => s.into_iter().collect::<Vec<_>>(),
            Value::List(l) => l,
            other => {
                return Err(invalid(format!(
                    "path labels must be sets, not {}",
                    other.type_name()
                )))
            }
        };
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            match n {
                Value::String(s) => out.push(s),
                other => {
                    return Err(invalid(format!(
                        "path label must be a string, not {}",
                        other.type_name()
                    )))
                }
            }
        }
        labels.push(out);
    }
    let objects = list_items(field(v, "objects", "g:Path")?, "g:Path objects")?;
    if labels.len() != objects.len() {
        return Err(invalid(format!(
            "path has {} label sets but {} objects",
            labels.len(),
            objects.len()
        )));
    }
    Ok(Path { labels, objects })
}

fn graph_of(v: &Json) -> R<GraphData> {
    let mut g = GraphData::default();
    if let Some(vs) = v.get("vertices") {
        for item in array_of(vs, "tinker:graph vertices")? {
            match value_from_json(item)? {
                Value::Vertex(vx) => g.vertices.push(Arc::unwrap_or_clone(vx)),
                other => {
                    return Err(invalid(format!(
                        "graph vertex must be g:Vertex, not {}",
                        other.type_name()
                    )))
                }
            }
        }
    }
    if let Some(es) = v.get("edges") {
        for item in array_of(es, "tinker:graph edges")? {
            match value_from_json(item)? {
                Value::Edge(e) => g.edges.push(Arc::unwrap_or_clone(e)),
                other => {
                    return Err(invalid(format!(
                        "graph edge must be g:Edge, not {}",
                        other.type_name()
                    )))
                }
            }
        }
    }
    Ok(g)
}

// ------------------------------------------------------------------------------------------
// Adjacency-list graph files
// ------------------------------------------------------------------------------------------

/// One line of an adjacency-list file: a vertex with the edges listed under it. `out_e` are
/// its out-edges (`out_v_*` = this vertex, `in_v_label` empty: the line does not say it);
/// `in_e` its in-edges (`in_v_*` = this vertex, `out_v_label` empty). Edge property lists are
/// always `Some`, as are the vertex's property and meta-property lists.
#[derive(Clone, Debug)]
pub struct VertexLine {
    pub vertex: Vertex,
    pub out_e: Vec<Edge>,
    pub in_e: Vec<Edge>,
}

/// Reads one line of a GraphSON 3.0 adjacency-list file (one vertex with its `outE` and
/// `inE`). Error offsets are within `line`.
pub fn read_vertex_line(line: &str) -> Result<VertexLine, DecodeError> {
    let j = json::parse(line)?;
    let id = value_from_json(field(&j, "id", "vertex")?)?;
    let label = label_of(&j, "label", "vertex")?;
    let mut props = Vec::new();
    if let Some(p) = j.get("properties") {
        let Json::Object(members) = p else {
            return Err(invalid("vertex properties must be an object"));
        };
        for (key, list) in members {
            for item in array_of(list, "vertex property list")? {
                let mut vp = vertex_property_of(item, Some(key))?;
                vp.properties.get_or_insert_with(Vec::new);
                props.push(vp);
            }
        }
    }
    let edge_props = |item: &Json| -> R<Vec<Property>> {
        let mut out = Vec::new();
        match item.get("properties") {
            None | Some(Json::Null) => {}
            Some(Json::Object(members)) => {
                for (k, val) in members {
                    out.push(Property {
                        key: Arc::from(k.as_str()),
                        value: value_from_json(val)?,
                    });
                }
            }
            Some(_) => return Err(invalid("edge properties must be an object")),
        }
        Ok(out)
    };
    let mut lists: [Vec<Edge>; 2] = [Vec::new(), Vec::new()];
    for (slot, key, other_key) in [(0, "outE", "inV"), (1, "inE", "outV")] {
        let Some(e) = j.get(key) else { continue };
        let Json::Object(groups) = e else {
            return Err(invalid(format!("{key} must be an object")));
        };
        for (elabel, list) in groups {
            let elabel: Arc<str> = Arc::from(elabel.as_str());
            for item in array_of(list, key)? {
                let eid = value_from_json(field(item, "id", "edge")?)?;
                let other = value_from_json(field(item, other_key, "edge")?)?;
                let properties = Some(edge_props(item)?);
                let (out_v_id, out_v_label, in_v_id, in_v_label) = if slot == 0 {
                    (id.clone(), label.clone(), other, Arc::from(""))
                } else {
                    (other, Arc::from(""), id.clone(), label.clone())
                };
                if let Some(l) = lists.get_mut(slot) {
                    l.push(Edge {
                        id: eid,
                        label: elabel.clone(),
                        out_v_id,
                        out_v_label,
                        in_v_id,
                        in_v_label,
                        properties,
                    });
                }
            }
        }
    }
    let [out_e, in_e] = lists;
    Ok(VertexLine {
        vertex: Vertex {
            id,
            label,
            properties: Some(props),
        },
        out_e,
        in_e,
    })
}

/// Reads a GraphSON 3.0 adjacency-list file (one vertex per line, edges under `outE` of their
/// tail and `inE` of their head) into a graph. Each edge is taken once, from `outE`; an edge
/// listed only under some `inE` is taken from there. Vertices and their property lists are
/// always `Some` (possibly empty), as are meta-property and edge-property lists.
pub fn read_graph(text: &str) -> Result<GraphData, DecodeError> {
    let mut g = GraphData::default();
    let mut labels: HashMap<Value, Arc<str>> = HashMap::new();
    let mut out_ids: HashSet<Value> = HashSet::new();
    // Edges seen only under some inE (so far): taken once every line is read.
    let mut in_only: Vec<Edge> = Vec::new();
    let mut line_start = 0usize;
    for (n, line) in text.split('\n').enumerate() {
        let this_start = line_start;
        line_start += line.len() + 1;
        if line.trim().is_empty() {
            continue;
        }
        let at = |e: DecodeError| {
            DecodeError::new(
                e.kind,
                this_start + e.offset,
                format!("line {}: {}", n + 1, e.detail),
            )
        };
        let VertexLine {
            vertex,
            out_e,
            in_e,
        } = read_vertex_line(line).map_err(at)?;
        for e in out_e {
            if !out_ids.insert(e.id.clone()) {
                return Err(at(invalid(format!("edge id {:?} appears twice", e.id))));
            }
            g.edges.push(e);
        }
        in_only.extend(in_e);
        if labels
            .insert(vertex.id.clone(), vertex.label.clone())
            .is_some()
        {
            return Err(at(invalid(format!(
                "vertex id {:?} appears twice",
                vertex.id
            ))));
        }
        g.vertices.push(vertex);
    }
    for mut e in in_only {
        if out_ids.contains(&e.id) {
            continue;
        }
        e.out_v_label = labels.get(&e.out_v_id).cloned().ok_or_else(|| {
            invalid(format!(
                "edge {:?} comes from unknown vertex {:?}",
                e.id, e.out_v_id
            ))
        })?;
        out_ids.insert(e.id.clone());
        g.edges.push(e);
    }
    for e in &mut g.edges {
        e.in_v_label = labels.get(&e.in_v_id).cloned().ok_or_else(|| {
            invalid(format!(
                "edge {:?} points at unknown vertex {:?}",
                e.id, e.in_v_id
            ))
        })?;
    }
    Ok(g)
}

/// Appends one adjacency-list line (with its `\n`) for vertex `vx`: `in_e` under `inE` and
/// `out_e` under `outE`, each grouped by label in first-appearance order, then the vertex's
/// properties grouped by key. The line [`read_vertex_line`] reads back.
pub fn write_vertex_line(
    text: &mut String,
    vx: &Vertex,
    out_e: &[&Edge],
    in_e: &[&Edge],
) -> Result<(), EncodeError> {
    let mut w = W {
        out: text,
        depth: 0,
    };
    w.out.push_str("{\"id\":");
    w.value(&vx.id)?;
    w.out.push_str(",\"label\":");
    write_string(w.out, &vx.label);
    for (key, edges, other_end) in [("inE", in_e, "outV"), ("outE", out_e, "inV")] {
        if edges.is_empty() {
            continue;
        }
        let _ = write!(w.out, ",\"{key}\":{{");
        let groups = group_by_key(edges, |e| &e.label);
        for (i, (label, group)) in groups.into_iter().enumerate() {
            w.key(i == 0, label);
            w.out.push('[');
            for (j, e) in group.into_iter().enumerate() {
                if j > 0 {
                    w.out.push(',');
                }
                w.out.push_str("{\"id\":");
                w.value(&e.id)?;
                let _ = write!(w.out, ",\"{other_end}\":");
                w.value(if other_end == "inV" {
                    &e.in_v_id
                } else {
                    &e.out_v_id
                })?;
                w.properties_member(e.properties.as_deref())?;
                w.out.push('}');
            }
            w.out.push(']');
        }
        w.out.push('}');
    }
    if let Some(props) = vx.properties.as_deref().filter(|p| !p.is_empty()) {
        w.out.push_str(",\"properties\":{");
        for (i, (key, group)) in group_by_key(props, |vp| &vp.key).into_iter().enumerate() {
            w.key(i == 0, key);
            w.out.push('[');
            for (j, vp) in group.into_iter().enumerate() {
                if j > 0 {
                    w.out.push(',');
                }
                w.out.push_str("{\"id\":");
                w.value(&vp.id)?;
                w.out.push_str(",\"value\":");
                w.value(&vp.value)?;
                w.properties_member(vp.properties.as_deref())?;
                w.out.push('}');
            }
            w.out.push(']');
        }
        w.out.push('}');
    }
    w.out.push_str("}\n");
    Ok(())
}

/// Writes a graph as a GraphSON 3.0 adjacency-list file that [`read_graph`] (and TinkerPop's
/// `GraphSONReader`) reads back exactly. Fails if an edge names a vertex the graph lacks.
pub fn write_graph(g: &GraphData) -> Result<String, EncodeError> {
    let mut out_edges: HashMap<&Value, Vec<&Edge>> = HashMap::new();
    let mut in_edges: HashMap<&Value, Vec<&Edge>> = HashMap::new();
    let ids: HashSet<&Value> = g.vertices.iter().map(|v| &v.id).collect();
    for e in &g.edges {
        for end in [&e.out_v_id, &e.in_v_id] {
            if !ids.contains(end) {
                return Err(EncodeError::new(format!(
                    "edge {:?} names vertex {end:?}, which is not in the graph",
                    e.id
                )));
            }
        }
        out_edges.entry(&e.out_v_id).or_default().push(e);
    }
    // inE lists follow the order the edges are written in (and so read back in): vertex by
    // vertex, each one's outE grouped by label. Then reading the file and writing it again
    // gives the same text (an edge known only from an inE list moves to its tail's outE on
    // the first trip and keeps its place after that).
    let mut listed: HashSet<&Value> = HashSet::new();
    for vx in &g.vertices {
        if !listed.insert(&vx.id) {
            continue;
        }
        if let Some(edges) = out_edges.get(&vx.id) {
            for (_, group) in group_by_key(edges, |e| &e.label) {
                for e in group {
                    in_edges.entry(&e.in_v_id).or_default().push(e);
                }
            }
        }
    }
    let mut text = String::new();
    for vx in &g.vertices {
        let out_e = out_edges.get(&vx.id).map(Vec::as_slice).unwrap_or_default();
        let in_e = in_edges.get(&vx.id).map(Vec::as_slice).unwrap_or_default();
        write_vertex_line(&mut text, vx, out_e, in_e)?;
    }
    Ok(text)
}

// ------------------------------------------------------------------------------------------
// Base64 (RFC 4648 standard alphabet, padded) for gx:ByteBuffer
// ------------------------------------------------------------------------------------------

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard padded base64.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64, padded or not; whitespace is not allowed.
pub fn base64_decode(text: &str) -> R<Vec<u8>> {
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2 || trimmed.len() % 4 == 1 {
        return Err(invalid("bad base64 length"));
    }
    let mut out = Vec::with_capacity(trimmed.len() / 4 * 3 + 2);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for b in trimmed.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(invalid("bad base64 character")),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}
