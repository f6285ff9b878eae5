//! GraphBinary 1.0 (`application/vnd.graphbinary-v1.0`): every [`Value`] as a fully-qualified
//! value, plus the request/response envelopes. Layouts: PROTOCOL.md sections 6.1-6.7.
//!
//! Decoding is total: any byte string yields a value or a [`DecodeError`], never a panic, and
//! allocation is bounded by the input length (claimed counts are checked against the bytes that
//! remain before anything is reserved).
//!
//! Type mapping decisions:
//! - Date `04` and Timestamp `05` decode to `Value::Date` (written back as `04`).
//! - OffsetDateTime `88` and ZonedDateTime `8d` (same layout) decode to `Value::DateTime` with
//!   their offset; Instant `83`, LocalDateTime `85` and LocalDate `84` (midnight) decode to
//!   `Value::DateTime` at offset 0. `Value::DateTime` is always written as `88`.
//! - LocalTime, OffsetTime, MonthDay, Year, YearMonth, Period, ZoneOffset, InetAddress and
//!   Custom have no `Value` and are refused with [`K::Unsupported`](super::DecodeErrorKind).
//! - A standalone Metrics `2c` is refused (it only occurs inside TraversalMetrics `2d`).
//! - BigInteger accepts any two's-complement length, including gremlinpython's non-minimal
//!   forms and zero as zero bytes; it is written minimal, as Java does.
//! - Enum values are canonicalised (`Direction.from` -> `OUT`, `Order.incr` -> `asc`).
//! - Element parents are skipped on read whatever they hold and written as `fe 01`.

use std::sync::Arc;

use hashbrown::HashMap;
use num_bigint::BigInt;

use super::message::{RequestMessage, ResponseMessage};
use super::time::{from_local, to_local, LocalFields};
use super::{
    canonical_enum_name, DecodeError, DecodeErrorKind as K, EncodeError, COLLECTION_ITEMS_MAX,
    DECODED_VALUES_MAX, ENUM_KINDS, NESTING_DEPTH_MAX,
};
use crate::bytecode::{Bytecode, Instruction};
use crate::value::{
    BigDecimal, DateTime, Duration, Edge, EnumKind, EnumValue, GraphData, Lambda, Map, Metrics,
    Path, Predicate, Property, Set, Strategy, TraversalMetrics, Uuid, Value, Vertex,
    VertexProperty,
};

/// The envelope version byte of GraphBinary 1.0 messages.
pub const VERSION: u8 = 0x81;

/// GraphBinary type codes (PROTOCOL.md 6.2).
pub mod code {
    pub const CUSTOM: u8 = 0x00;
    pub const INT: u8 = 0x01;
    pub const LONG: u8 = 0x02;
    pub const STRING: u8 = 0x03;
    pub const DATE: u8 = 0x04;
    pub const TIMESTAMP: u8 = 0x05;
    pub const CLASS: u8 = 0x06;
    pub const DOUBLE: u8 = 0x07;
    pub const FLOAT: u8 = 0x08;
    pub const LIST: u8 = 0x09;
    pub const MAP: u8 = 0x0a;
    pub const SET: u8 = 0x0b;
    pub const UUID: u8 = 0x0c;
    pub const EDGE: u8 = 0x0d;
    pub const PATH: u8 = 0x0e;
    pub const PROPERTY: u8 = 0x0f;
    pub const GRAPH: u8 = 0x10;
    pub const VERTEX: u8 = 0x11;
    pub const VERTEX_PROPERTY: u8 = 0x12;
    pub const BINDING: u8 = 0x14;
    pub const BYTECODE: u8 = 0x15;
    pub const LAMBDA: u8 = 0x1d;
    pub const P: u8 = 0x1e;
    pub const TRAVERSER: u8 = 0x21;
    pub const BIG_DECIMAL: u8 = 0x22;
    pub const BIG_INTEGER: u8 = 0x23;
    pub const BYTE: u8 = 0x24;
    pub const BYTE_BUFFER: u8 = 0x25;
    pub const SHORT: u8 = 0x26;
    pub const BOOLEAN: u8 = 0x27;
    pub const TEXT_P: u8 = 0x28;
    pub const TRAVERSAL_STRATEGY: u8 = 0x29;
    pub const BULK_SET: u8 = 0x2a;
    pub const TREE: u8 = 0x2b;
    pub const METRICS: u8 = 0x2c;
    pub const TRAVERSAL_METRICS: u8 = 0x2d;
    pub const CHAR: u8 = 0x80;
    pub const DURATION: u8 = 0x81;
    pub const INET_ADDRESS: u8 = 0x82;
    pub const INSTANT: u8 = 0x83;
    pub const LOCAL_DATE: u8 = 0x84;
    pub const LOCAL_DATE_TIME: u8 = 0x85;
    pub const LOCAL_TIME: u8 = 0x86;
    pub const MONTH_DAY: u8 = 0x87;
    pub const OFFSET_DATE_TIME: u8 = 0x88;
    pub const OFFSET_TIME: u8 = 0x89;
    pub const PERIOD: u8 = 0x8a;
    pub const YEAR: u8 = 0x8b;
    pub const YEAR_MONTH: u8 = 0x8c;
    pub const ZONED_DATE_TIME: u8 = 0x8d;
    pub const ZONE_OFFSET: u8 = 0x8e;
    pub const UNSPECIFIED_NULL: u8 = 0xfe;
}

const FLAG_VALUE: u8 = 0x00;
const FLAG_NULL: u8 = 0x01;

// ------------------------------------------------------------------------------------------
// Encoding
// ------------------------------------------------------------------------------------------

/// Encodes one value fully qualified (`{type_code}{value_flag}{value}`).
pub fn encode_value(v: &Value) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    write_value(&mut out, v)?;
    Ok(out)
}

/// Appends one fully-qualified value to `out`.
pub fn write_value(out: &mut Vec<u8>, v: &Value) -> Result<(), EncodeError> {
    Writer { out, depth: 0 }.fq(v)
}

/// Encodes a request message (without the mime prefix; see `message::encode_request_frame`).
pub fn encode_request(m: &RequestMessage) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    let mut w = Writer {
        out: &mut out,
        depth: 0,
    };
    w.out.push(VERSION);
    w.out.extend_from_slice(&m.request_id.0);
    w.string(&m.op)?;
    w.string(&m.processor)?;
    w.map_vo(&m.args)?;
    Ok(out)
}

/// Encodes a response message.
pub fn encode_response(m: &ResponseMessage) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    let mut w = Writer {
        out: &mut out,
        depth: 0,
    };
    w.out.push(VERSION);
    match &m.request_id {
        Some(id) => {
            w.out.push(FLAG_VALUE);
            w.out.extend_from_slice(&id.0);
        }
        None => w.out.push(FLAG_NULL),
    }
    w.i32(m.status_code);
    match &m.status_message {
        Some(s) => {
            w.out.push(FLAG_VALUE);
            w.string(s)?;
        }
        None => w.out.push(FLAG_NULL),
    }
    w.map_vo(&m.status_attributes)?;
    w.map_vo(&m.result_meta)?;
    w.fq(&m.result_data)?;
    Ok(out)
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
    depth: usize,
}

fn len_i32(n: usize, what: &str) -> Result<i32, EncodeError> {
    i32::try_from(n).map_err(|_| EncodeError::new(format!("{what} too long for GraphBinary ({n})")))
}

impl Writer<'_> {
    fn i32(&mut self, x: i32) {
        self.out.extend_from_slice(&x.to_be_bytes());
    }
    fn i64(&mut self, x: i64) {
        self.out.extend_from_slice(&x.to_be_bytes());
    }
    fn len(&mut self, n: usize, what: &str) -> Result<(), EncodeError> {
        let n = len_i32(n, what)?;
        self.i32(n);
        Ok(())
    }
    fn string(&mut self, s: &str) -> Result<(), EncodeError> {
        self.len(s.len(), "string")?;
        self.out.extend_from_slice(s.as_bytes());
        Ok(())
    }
    fn head(&mut self, code: u8) {
        self.out.push(code);
        self.out.push(FLAG_VALUE);
    }
    fn null(&mut self) {
        self.out.push(code::UNSPECIFIED_NULL);
        self.out.push(FLAG_NULL);
    }
    fn big_int(&mut self, x: &BigInt) -> Result<(), EncodeError> {
        let bytes = x.to_signed_bytes_be();
        self.len(bytes.len(), "BigInteger")?;
        self.out.extend_from_slice(&bytes);
        Ok(())
    }
    fn map_vo(&mut self, m: &Map) -> Result<(), EncodeError> {
        self.len(m.len(), "map")?;
        for (k, v) in m {
            self.fq(k)?;
            self.fq(v)?;
        }
        Ok(())
    }
    fn list_vo<'v>(
        &mut self,
        items: impl ExactSizeIterator<Item = &'v Value>,
    ) -> Result<(), EncodeError> {
        self.len(items.len(), "list")?;
        for item in items {
            self.fq(item)?;
        }
        Ok(())
    }
    fn instructions(&mut self, list: &[Instruction]) -> Result<(), EncodeError> {
        self.len(list.len(), "instruction list")?;
        for ins in list {
            self.string(&ins.op)?;
            self.list_vo(ins.args.iter())?;
        }
        Ok(())
    }
    fn properties(&mut self, props: &[Property]) -> Result<(), EncodeError> {
        self.head(code::LIST);
        self.properties_vo(props)
    }
    /// A value-only List of Property (what Java's GraphSerializer writes inside a Graph).
    fn properties_vo(&mut self, props: &[Property]) -> Result<(), EncodeError> {
        self.len(props.len(), "property list")?;
        for p in props {
            self.head(code::PROPERTY);
            self.property_vo(p)?;
        }
        Ok(())
    }
    fn property_vo(&mut self, p: &Property) -> Result<(), EncodeError> {
        self.string(&p.key)?;
        self.fq(&p.value)?;
        self.null();
        Ok(())
    }
    fn vertex_property_vo(&mut self, vp: &VertexProperty) -> Result<(), EncodeError> {
        self.fq(&vp.id)?;
        self.string(&vp.key)?;
        self.fq(&vp.value)?;
        self.null();
        match &vp.properties {
            Some(props) => self.properties(props),
            None => {
                self.null();
                Ok(())
            }
        }
    }
    fn metrics_vo(&mut self, m: &Metrics) -> Result<(), EncodeError> {
        self.string(&m.id)?;
        self.string(&m.name)?;
        self.i64(m.duration_nanos);
        self.len(m.counts.len(), "metrics counts")?;
        for (k, n) in &m.counts {
            self.head(code::STRING);
            self.string(k)?;
            self.head(code::LONG);
            self.i64(*n);
        }
        self.len(m.annotations.len(), "metrics annotations")?;
        for (k, v) in &m.annotations {
            self.head(code::STRING);
            self.string(k)?;
            self.fq(v)?;
        }
        self.nested_metrics(&m.nested)
    }
    fn nested_metrics(&mut self, list: &[Metrics]) -> Result<(), EncodeError> {
        self.len(list.len(), "metrics list")?;
        for n in list {
            self.enter()?;
            self.head(code::METRICS);
            self.metrics_vo(n)?;
            self.depth -= 1;
        }
        Ok(())
    }
    fn tree_vo(&mut self, tree: &[(Value, Value)]) -> Result<(), EncodeError> {
        self.len(tree.len(), "tree")?;
        for (key, sub) in tree {
            self.fq(key)?;
            match sub {
                Value::Tree(t) => {
                    self.enter()?;
                    self.tree_vo(t)?;
                    self.depth -= 1;
                }
                Value::Null => self.i32(0),
                other => {
                    return Err(EncodeError::new(format!(
                        "a Tree subtree must be a Tree, not {}",
                        other.type_name()
                    )))
                }
            }
        }
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

    fn fq(&mut self, v: &Value) -> Result<(), EncodeError> {
        self.enter()?;
        let r = self.fq_inner(v);
        self.depth -= 1;
        r
    }

    fn fq_inner(&mut self, v: &Value) -> Result<(), EncodeError> {
        match v {
            Value::Null => self.null(),
            Value::Bool(b) => {
                self.head(code::BOOLEAN);
                self.out.push(u8::from(*b));
            }
            Value::Byte(x) => {
                self.head(code::BYTE);
                self.out.extend_from_slice(&x.to_be_bytes());
            }
            Value::Short(x) => {
                self.head(code::SHORT);
                self.out.extend_from_slice(&x.to_be_bytes());
            }
            Value::Int(x) => {
                self.head(code::INT);
                self.i32(*x);
            }
            Value::Long(x) => {
                self.head(code::LONG);
                self.i64(*x);
            }
            Value::BigInt(x) => {
                self.head(code::BIG_INTEGER);
                self.big_int(x)?;
            }
            Value::BigDecimal(x) => {
                self.head(code::BIG_DECIMAL);
                self.i32(x.scale);
                self.big_int(&x.unscaled)?;
            }
            Value::Float(x) => {
                self.head(code::FLOAT);
                self.out.extend_from_slice(&x.to_bits().to_be_bytes());
            }
            Value::Double(x) => {
                self.head(code::DOUBLE);
                self.out.extend_from_slice(&x.to_bits().to_be_bytes());
            }
            Value::Char(c) => {
                self.head(code::CHAR);
                let mut buf = [0u8; 4];
                self.out
                    .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            Value::String(s) => {
                self.head(code::STRING);
                self.string(s)?;
            }
            Value::Uuid(u) => {
                self.head(code::UUID);
                self.out.extend_from_slice(&u.0);
            }
            Value::Date(ms) => {
                self.head(code::DATE);
                self.i64(*ms);
            }
            Value::DateTime(dt) => {
                let f = to_local(dt).map_err(EncodeError::new)?;
                self.head(code::OFFSET_DATE_TIME);
                // to_local guarantees |year| <= 999_999_999, which fits an i32.
                self.i32(f.year as i32);
                self.out.push(f.month as u8);
                self.out.push(f.day as u8);
                self.i64(f.nano_of_day);
                self.i32(f.offset_seconds);
            }
            Value::Duration(d) => {
                self.head(code::DURATION);
                self.i64(d.seconds);
                self.i32(d.nanos);
            }
            Value::Binary(b) => {
                self.head(code::BYTE_BUFFER);
                self.len(b.len(), "byte buffer")?;
                self.out.extend_from_slice(b);
            }
            Value::List(items) => {
                self.head(code::LIST);
                self.list_vo(items.iter())?;
            }
            Value::Set(items) => {
                self.head(code::SET);
                self.list_vo(items.iter())?;
            }
            Value::Map(m) => {
                self.head(code::MAP);
                self.map_vo(m)?;
            }
            Value::BulkSet(items) => {
                self.head(code::BULK_SET);
                self.len(items.len(), "bulk set")?;
                for (item, bulk) in items {
                    self.fq(item)?;
                    self.i64(*bulk);
                }
            }
            Value::Tree(t) => {
                self.head(code::TREE);
                self.tree_vo(t)?;
            }
            Value::Vertex(vx) => {
                self.head(code::VERTEX);
                self.fq(&vx.id)?;
                self.string(&vx.label)?;
                match &vx.properties {
                    Some(props) => {
                        self.head(code::LIST);
                        self.len(props.len(), "vertex property list")?;
                        for vp in props {
                            self.head(code::VERTEX_PROPERTY);
                            self.vertex_property_vo(vp)?;
                        }
                    }
                    None => self.null(),
                }
            }
            Value::Edge(e) => {
                self.head(code::EDGE);
                self.fq(&e.id)?;
                self.string(&e.label)?;
                self.fq(&e.in_v_id)?;
                self.string(&e.in_v_label)?;
                self.fq(&e.out_v_id)?;
                self.string(&e.out_v_label)?;
                self.null();
                match &e.properties {
                    Some(props) => self.properties(props)?,
                    None => self.null(),
                }
            }
            Value::VertexProperty(vp) => {
                self.head(code::VERTEX_PROPERTY);
                self.vertex_property_vo(vp)?;
            }
            Value::Property(p) => {
                self.head(code::PROPERTY);
                self.property_vo(p)?;
            }
            Value::Path(p) => {
                if p.labels.len() != p.objects.len() {
                    return Err(EncodeError::new(format!(
                        "path has {} label sets but {} objects",
                        p.labels.len(),
                        p.objects.len()
                    )));
                }
                self.head(code::PATH);
                self.head(code::LIST);
                self.len(p.labels.len(), "path")?;
                for labels in &p.labels {
                    self.head(code::SET);
                    self.len(labels.len(), "path labels")?;
                    for l in labels {
                        self.head(code::STRING);
                        self.string(l)?;
                    }
                }
                self.head(code::LIST);
                self.list_vo(p.objects.iter())?;
            }
            Value::Graph(g) => {
                self.head(code::GRAPH);
                self.len(g.vertices.len(), "graph vertices")?;
                for vx in &g.vertices {
                    self.fq(&vx.id)?;
                    self.string(&vx.label)?;
                    let props = vx.properties.as_deref().unwrap_or(&[]);
                    self.len(props.len(), "vertex properties")?;
                    for vp in props {
                        self.fq(&vp.id)?;
                        self.string(&vp.key)?;
                        self.fq(&vp.value)?;
                        self.null();
                        self.properties_vo(vp.properties.as_deref().unwrap_or(&[]))?;
                    }
                }
                self.len(g.edges.len(), "graph edges")?;
                for e in &g.edges {
                    self.fq(&e.id)?;
                    self.string(&e.label)?;
                    self.fq(&e.in_v_id)?;
                    self.null();
                    self.fq(&e.out_v_id)?;
                    self.null();
                    self.null();
                    self.properties_vo(e.properties.as_deref().unwrap_or(&[]))?;
                }
            }
            Value::Metrics(m) => {
                self.head(code::TRAVERSAL_METRICS);
                self.i64(m.duration_nanos);
                self.nested_metrics(&m.metrics)?;
            }
            Value::Traverser(t) => {
                self.head(code::TRAVERSER);
                self.i64(t.0);
                self.fq(&t.1)?;
            }
            Value::Enum(e) => {
                let code = ENUM_KINDS
                    .iter()
                    .find(|(k, _, _)| *k == e.kind)
                    .map_or(code::STRING, |(_, c, _)| *c);
                self.head(code);
                self.head(code::STRING);
                self.string(&e.name)?;
            }
            Value::P(p) => {
                self.head(if p.text { code::TEXT_P } else { code::P });
                self.string(&p.name)?;
                self.list_vo(p.args.iter())?;
            }
            Value::Bytecode(b) => {
                self.head(code::BYTECODE);
                self.instructions(&b.steps)?;
                self.instructions(&b.source)?;
            }
            Value::Binding(b) => {
                self.head(code::BINDING);
                self.string(&b.0)?;
                self.fq(&b.1)?;
            }
            Value::Lambda(l) => {
                self.head(code::LAMBDA);
                self.string(&l.language)?;
                self.string(&l.script)?;
                self.i32(l.arguments);
            }
            Value::Class(c) => {
                self.head(code::CLASS);
                self.string(c)?;
            }
            Value::Strategy(s) => {
                self.head(code::TRAVERSAL_STRATEGY);
                self.string(&s.class)?;
                self.map_vo(&s.config)?;
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// Decoding
// ------------------------------------------------------------------------------------------

/// Decodes exactly one fully-qualified value; trailing bytes are an error.
pub fn decode_value(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut r = Reader::new(bytes);
    let v = r.value()?;
    r.finish()?;
    Ok(v)
}

/// Decodes a request message body (after the mime prefix).
pub fn decode_request(bytes: &[u8]) -> Result<RequestMessage, DecodeError> {
    let mut r = Reader::new(bytes);
    r.version()?;
    let request_id = r.uuid()?;
    let op = r.string()?.to_string();
    let processor = r.string()?.to_string();
    let args = r.map_vo()?;
    r.finish()?;
    Ok(RequestMessage {
        request_id,
        op,
        processor,
        args,
    })
}

/// Decodes a response message.
pub fn decode_response(bytes: &[u8]) -> Result<ResponseMessage, DecodeError> {
    let mut r = Reader::new(bytes);
    r.version()?;
    let request_id = match r.flag()? {
        FLAG_VALUE => Some(r.uuid()?),
        _ => None,
    };
    let status_code = r.i32()?;
    let status_message = match r.flag()? {
        FLAG_VALUE => Some(r.string()?.to_string()),
        _ => None,
    };
    let status_attributes = r.map_vo()?;
    let result_meta = r.map_vo()?;
    let result_data = r.value()?;
    r.finish()?;
    Ok(ResponseMessage {
        request_id,
        status_code,
        status_message,
        status_attributes,
        result_meta,
        result_data,
    })
}

/// A bounds-checked cursor over untrusted GraphBinary bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    depth: usize,
    /// Values decoded so far, against [`DECODED_VALUES_MAX`].
    values: usize,
}

type R<T> = Result<T, DecodeError>;

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            depth: 0,
            values: 0,
        }
    }

    fn err(&self, kind: K, detail: impl Into<String>) -> DecodeError {
        DecodeError::new(kind, self.pos, format!("GraphBinary: {}", detail.into()))
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn finish(&self) -> R<()> {
        if self.remaining() != 0 {
            return Err(self.err(
                K::TrailingBytes,
                format!("{} unexpected bytes after the message", self.remaining()),
            ));
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.err(
                K::Truncated,
                format!("needed {n} bytes but only {} remain", self.remaining()),
            ));
        }
        let s = self.buf.get(self.pos..self.pos + n).unwrap_or_default();
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> R<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self) -> R<u8> {
        Ok(self.array::<1>()?[0])
    }
    fn i32(&mut self) -> R<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    fn i64(&mut self) -> R<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    fn uuid(&mut self) -> R<Uuid> {
        Ok(Uuid(self.array()?))
    }

    fn version(&mut self) -> R<()> {
        let v = self.u8()?;
        if v != VERSION {
            self.pos -= 1;
            return Err(self.err(
                K::Invalid,
                format!("unsupported message version byte 0x{v:02x} (expected 0x81)"),
            ));
        }
        Ok(())
    }

    fn flag(&mut self) -> R<u8> {
        match self.u8()? {
            f @ (FLAG_VALUE | FLAG_NULL) => Ok(f),
            f => {
                self.pos -= 1;
                Err(self.err(K::Invalid, format!("bad value flag 0x{f:02x}")))
            }
        }
    }

    /// A non-negative Int length of a collection whose items take at least `item_bytes_min`
    /// bytes each; checked against the remaining input and [`COLLECTION_ITEMS_MAX`].
    fn count(&mut self, what: &str, item_bytes_min: usize) -> R<usize> {
        let n = self.i32()?;
        if n < 0 {
            self.pos -= 4;
            return Err(self.err(K::TooLarge, format!("negative {what} length {n}")));
        }
        let n = n as usize;
        if n > COLLECTION_ITEMS_MAX {
            self.pos -= 4;
            return Err(self.err(
                K::TooLarge,
                format!("{what} of {n} items exceeds the limit of {COLLECTION_ITEMS_MAX}"),
            ));
        }
        if n.saturating_mul(item_bytes_min) > self.remaining() {
            self.pos -= 4;
            return Err(self.err(
                K::Truncated,
                format!(
                    "{what} claims {n} items but only {} bytes remain",
                    self.remaining()
                ),
            ));
        }
        Ok(n)
    }

    /// `{length: Int}{bytes}` (strings, byte buffers, BigInteger magnitudes): bounded by the
    /// remaining input only, since the bytes are copied, never expanded.
    fn bytes_vo(&mut self, what: &str) -> R<&'a [u8]> {
        let n = self.i32()?;
        if n < 0 {
            self.pos -= 4;
            return Err(self.err(K::TooLarge, format!("negative {what} length {n}")));
        }
        self.take(n as usize)
    }

    fn string(&mut self) -> R<Arc<str>> {
        let start = self.pos;
        let bytes = self.bytes_vo("string")?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Arc::from(s)),
            Err(e) => Err(DecodeError::new(
                K::Invalid,
                start + 4 + e.valid_up_to(),
                "GraphBinary: string is not valid UTF-8",
            )),
        }
    }

    fn big_int(&mut self) -> R<BigInt> {
        let bytes = self.bytes_vo("BigInteger")?;
        if bytes.is_empty() {
            // gremlinpython 3.8.1 writes zero as an empty byte string.
            return Ok(BigInt::from(0));
        }
        Ok(BigInt::from_signed_bytes_be(bytes))
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > NESTING_DEPTH_MAX {
            return Err(self.err(
                K::TooDeep,
                format!("values nested deeper than {NESTING_DEPTH_MAX} levels"),
            ));
        }
        Ok(())
    }

    /// One fully-qualified value.
    fn value(&mut self) -> R<Value> {
        self.values += 1;
        if self.values > DECODED_VALUES_MAX {
            return Err(self.err(
                K::TooLarge,
                format!("more than {DECODED_VALUES_MAX} values in one message"),
            ));
        }
        self.enter()?;
        let r = self.value_inner();
        self.depth -= 1;
        r
    }

    fn value_inner(&mut self) -> R<Value> {
        let start = self.pos;
        let code = self.u8()?;
        if code == code::CUSTOM {
            self.pos = start;
            return Err(self.err(K::Unsupported, "Custom types (0x00) are not supported"));
        }
        let flag = self.flag()?;
        if code == code::UNSPECIFIED_NULL {
            if flag != FLAG_NULL {
                self.pos -= 1;
                return Err(self.err(K::Invalid, "unspecified null (0xfe) must have flag 0x01"));
            }
            return Ok(Value::Null);
        }
        if flag == FLAG_NULL {
            if !known_code(code) {
                self.pos = start;
                return Err(self.err(K::UnknownType, format!("unknown type code 0x{code:02x}")));
            }
            return Ok(Value::Null);
        }
        let v = self.value_of(code);
        if let Err(e) = &v {
            if e.kind == K::UnknownType || e.kind == K::Unsupported {
                // Point at the type code, not the flag.
                return Err(DecodeError::new(e.kind, start, e.detail.clone()));
            }
        }
        v
    }

    /// The `{value}` part of a non-null value of type `code`.
    fn value_of(&mut self, code: u8) -> R<Value> {
        Ok(match code {
            code::INT => Value::Int(self.i32()?),
            code::LONG => Value::Long(self.i64()?),
            code::STRING => Value::String(self.string()?),
            code::DATE | code::TIMESTAMP => Value::Date(self.i64()?),
            code::CLASS => Value::Class(self.string()?),
            code::DOUBLE => Value::Double(f64::from_be_bytes(self.array()?)),
            code::FLOAT => Value::Float(f32::from_be_bytes(self.array()?)),
            code::LIST => Value::List(self.list_vo()?),
            code::SET => {
                let items = self.list_vo()?;
                Value::Set(items.into_iter().collect::<Set>())
            }
            code::MAP => Value::Map(self.map_vo()?),
            code::UUID => Value::Uuid(self.uuid()?),
            code::EDGE => Value::Edge(Arc::new(self.edge_vo()?)),
            code::PATH => Value::Path(Arc::new(self.path_vo()?)),
            code::PROPERTY => Value::Property(Arc::new(self.property_vo()?)),
            code::GRAPH => Value::Graph(Arc::new(self.graph_vo()?)),
            code::VERTEX => Value::Vertex(Arc::new(self.vertex_vo()?)),
            code::VERTEX_PROPERTY => Value::VertexProperty(Arc::new(self.vertex_property_vo()?)),
            code::BINDING => {
                let key = self.string()?;
                let value = self.value()?;
                Value::Binding(Arc::new((key, value)))
            }
            code::BYTECODE => Value::Bytecode(Arc::new(self.bytecode_vo()?)),
            code::LAMBDA => {
                let language = self.string()?;
                let script = self.string()?;
                let arguments = self.i32()?;
                Value::Lambda(Arc::new(Lambda {
                    language,
                    script,
                    arguments,
                }))
            }
            code::P | code::TEXT_P => {
                let name = self.string()?;
                let args = self.list_vo()?;
                Value::P(Arc::new(Predicate {
                    text: code == code::TEXT_P,
                    name,
                    args,
                }))
            }
            code::TRAVERSER => {
                let bulk = self.i64()?;
                let value = self.value()?;
                Value::Traverser(Arc::new((bulk, value)))
            }
            code::BIG_DECIMAL => {
                let scale = self.i32()?;
                let unscaled = self.big_int()?;
                Value::BigDecimal(BigDecimal { unscaled, scale })
            }
            code::BIG_INTEGER => Value::BigInt(self.big_int()?),
            code::BYTE => Value::Byte(i8::from_be_bytes(self.array()?)),
            code::BYTE_BUFFER => Value::Binary(Arc::from(self.bytes_vo("byte buffer")?)),
            code::SHORT => Value::Short(i16::from_be_bytes(self.array()?)),
            code::BOOLEAN => match self.u8()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => {
                    self.pos -= 1;
                    return Err(self.err(K::Invalid, format!("bad Boolean byte 0x{b:02x}")));
                }
            },
            code::TRAVERSAL_STRATEGY => {
                let class = self.string()?;
                let config = self.map_vo()?;
                Value::Strategy(Arc::new(Strategy { class, config }))
            }
            code::BULK_SET => {
                // Each entry is at least a 2-byte item and an 8-byte bulk.
                let n = self.count("bulk set", 10)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    let item = self.value()?;
                    let bulk = self.i64()?;
                    items.push((item, bulk));
                }
                Value::BulkSet(items)
            }
            code::TREE => Value::Tree(self.tree_vo()?),
            code::METRICS => {
                return Err(self.err(
                    K::Unsupported,
                    "a Metrics (0x2c) value outside TraversalMetrics is not supported",
                ))
            }
            code::TRAVERSAL_METRICS => {
                let duration_nanos = self.i64()?;
                let metrics = self.metrics_list_vo()?;
                Value::Metrics(Arc::new(TraversalMetrics {
                    duration_nanos,
                    metrics,
                }))
            }
            code::CHAR => Value::Char(self.char()?),
            code::DURATION => {
                let seconds = self.i64()?;
                let nanos = self.i32()?;
                // Java's Duration.ofSeconds(s, n) normalises any nanos adjustment.
                let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
                let seconds = i64::try_from(total.div_euclid(1_000_000_000))
                    .map_err(|_| self.err(K::Invalid, "Duration out of range"))?;
                Value::Duration(Duration {
                    seconds,
                    nanos: total.rem_euclid(1_000_000_000) as i32,
                })
            }
            code::OFFSET_DATE_TIME | code::ZONED_DATE_TIME => {
                let local = self.local_date_time()?;
                let offset = self.i32()?;
                self.date_time(LocalFields {
                    offset_seconds: offset,
                    ..local
                })?
            }
            code::LOCAL_DATE_TIME => {
                let local = self.local_date_time()?;
                self.date_time(local)?
            }
            code::LOCAL_DATE => {
                let (year, month, day) = self.local_date()?;
                self.date_time(LocalFields {
                    year,
                    month,
                    day,
                    nano_of_day: 0,
                    offset_seconds: 0,
                })?
            }
            code::INSTANT => {
                let seconds = self.i64()?;
                let nanos = self.i32()?;
                if !(0..1_000_000_000).contains(&nanos) {
                    return Err(self.err(K::Invalid, format!("Instant nanos {nanos} out of range")));
                }
                let dt = DateTime {
                    epoch_seconds: seconds,
                    nanos: nanos as u32,
                    offset_seconds: 0,
                };
                // Java's Instant has the same year range as OffsetDateTime.
                to_local(&dt).map_err(|e| self.err(K::Invalid, e))?;
                Value::DateTime(dt)
            }
            code::INET_ADDRESS
            | code::LOCAL_TIME
            | code::MONTH_DAY
            | code::OFFSET_TIME
            | code::PERIOD
            | code::YEAR
            | code::YEAR_MONTH
            | code::ZONE_OFFSET => {
                return Err(self.err(
                    K::Unsupported,
                    format!("type 0x{code:02x} ({}) is not supported", type_name(code)),
                ))
            }
            _ => match ENUM_KINDS.iter().find(|(_, c, _)| *c == code) {
                Some((kind, _, _)) => Value::Enum(self.enum_vo(*kind)?),
                None => {
                    return Err(self.err(K::UnknownType, format!("unknown type code 0x{code:02x}")))
                }
            },
        })
    }

    fn date_time(&self, f: LocalFields) -> R<Value> {
        from_local(f)
            .map(Value::DateTime)
            .map_err(|e| self.err(K::Invalid, e))
    }

    fn local_date(&mut self) -> R<(i64, u32, u32)> {
        let year = i64::from(self.i32()?);
        let month = u32::from(self.u8()?);
        let day = u32::from(self.u8()?);
        Ok((year, month, day))
    }

    fn local_date_time(&mut self) -> R<LocalFields> {
        let (year, month, day) = self.local_date()?;
        let nano_of_day = self.i64()?;
        Ok(LocalFields {
            year,
            month,
            day,
            nano_of_day,
            offset_seconds: 0,
        })
    }

    fn char(&mut self) -> R<char> {
        let first = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| self.err(K::Truncated, "missing Char byte"))?;
        let n = match first {
            0x00..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => return Err(self.err(K::Invalid, format!("bad Char lead byte 0x{first:02x}"))),
        };
        let start = self.pos;
        let bytes = self.take(n)?;
        match std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.chars().next())
        {
            Some(c) => Ok(c),
            None => Err(DecodeError::new(
                K::Invalid,
                start,
                "GraphBinary: Char is not valid UTF-8",
            )),
        }
    }

    fn enum_vo(&mut self, kind: EnumKind) -> R<EnumValue> {
        // The enum's value is a fully-qualified String (PROTOCOL.md 12).
        let name = match self.value()? {
            Value::String(s) => s,
            other => {
                return Err(self.err(
                    K::Invalid,
                    format!("{kind:?} value must be a String, not {}", other.type_name()),
                ))
            }
        };
        let canonical = canonical_enum_name(kind, &name);
        let name = if canonical == &*name {
            name
        } else {
            Arc::from(canonical)
        };
        Ok(EnumValue { kind, name })
    }

    fn list_vo(&mut self) -> R<Vec<Value>> {
        let n = self.count("list", 2)?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.value()?);
        }
        Ok(items)
    }

    fn map_vo(&mut self) -> R<Map> {
        let n = self.count("map", 4)?;
        let mut m = Map::with_capacity(n);
        for _ in 0..n {
            let k = self.value()?;
            let v = self.value()?;
            m.insert(k, v);
        }
        Ok(m)
    }

    fn instructions(&mut self) -> R<Vec<Instruction>> {
        // Each instruction is at least a 4-byte name length and a 4-byte argument count.
        let n = self.count("instruction list", 8)?;
        let mut list = Vec::with_capacity(n);
        for _ in 0..n {
            let op = self.string()?;
            let args = self.list_vo()?;
            list.push(Instruction { op, args });
        }
        Ok(list)
    }

    fn bytecode_vo(&mut self) -> R<Bytecode> {
        let steps = self.instructions()?;
        let source = self.instructions()?;
        Ok(Bytecode { source, steps })
    }

    fn tree_vo(&mut self) -> R<Vec<(Value, Value)>> {
        self.enter()?;
        // Each node is at least a 2-byte key and a 4-byte subtree count.
        let n = self.count("tree", 6)?;
        let mut nodes = Vec::with_capacity(n);
        for _ in 0..n {
            let key = self.value()?;
            let sub = self.tree_vo()?;
            nodes.push((key, Value::Tree(sub)));
        }
        self.depth -= 1;
        Ok(nodes)
    }

    fn metrics_vo(&mut self) -> R<Metrics> {
        let id = self.string()?;
        let name = self.string()?;
        let duration_nanos = self.i64()?;
        let n = self.count("metrics counts", 4)?;
        let mut counts = Vec::with_capacity(n);
        for _ in 0..n {
            let k = self.value()?;
            let v = self.value()?;
            let key = match k {
                Value::String(s) => s,
                other => {
                    return Err(self.err(
                        K::Invalid,
                        format!(
                            "metrics count key must be a String, not {}",
                            other.type_name()
                        ),
                    ))
                }
            };
            let count = match v {
                Value::Long(x) => x,
                Value::Int(x) => i64::from(x),
                other => {
                    return Err(self.err(
                        K::Invalid,
                        format!("metrics count must be a Long, not {}", other.type_name()),
                    ))
                }
            };
            counts.push((key, count));
        }
        let n = self.count("metrics annotations", 4)?;
        let mut annotations = Vec::with_capacity(n);
        for _ in 0..n {
            let k = self.value()?;
            let v = self.value()?;
            match k {
                Value::String(s) => annotations.push((s, v)),
                other => {
                    return Err(self.err(
                        K::Invalid,
                        format!(
                            "metrics annotation key must be a String, not {}",
                            other.type_name()
                        ),
                    ))
                }
            }
        }
        let nested = self.metrics_list_vo()?;
        Ok(Metrics {
            id,
            name,
            duration_nanos,
            counts,
            annotations,
            nested,
        })
    }

    fn metrics_list_vo(&mut self) -> R<Vec<Metrics>> {
        self.enter()?;
        let n = self.count("metrics list", 2)?;
        let mut list = Vec::with_capacity(n);
        for _ in 0..n {
            let code = self.u8()?;
            if code == code::UNSPECIFIED_NULL || code == code::METRICS {
                let flag = self.flag()?;
                if flag == FLAG_VALUE && code == code::METRICS {
                    list.push(self.metrics_vo()?);
                    continue;
                }
            }
            self.pos -= 1;
            return Err(self.err(K::Invalid, "metrics list items must be Metrics (0x2c)"));
        }
        self.depth -= 1;
        Ok(list)
    }

    /// `properties` of an element: `None` for null, else a list whose items must be `T`.
    fn element_list<T>(
        &mut self,
        what: &str,
        pick: impl Fn(Value) -> Option<T>,
    ) -> R<Option<Vec<T>>> {
        match self.value()? {
            Value::Null => Ok(None),
            Value::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let name = item.type_name();
                    match pick(item) {
                        Some(x) => out.push(x),
                        None => {
                            return Err(self.err(K::Invalid, format!("{what} list holds a {name}")))
                        }
                    }
                }
                Ok(Some(out))
            }
            other => Err(self.err(
                K::Invalid,
                format!("{what} must be a List or null, not {}", other.type_name()),
            )),
        }
    }

    fn properties(&mut self) -> R<Option<Vec<Property>>> {
        self.element_list("Property", |v| match v {
            Value::Property(p) => Some(Arc::unwrap_or_clone(p)),
            _ => None,
        })
    }

    /// A value-only List whose items must be Property (inside a Graph).
    fn properties_vo(&mut self) -> R<Vec<Property>> {
        let items = self.list_vo()?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Value::Property(p) => out.push(Arc::unwrap_or_clone(p)),
                other => {
                    return Err(self.err(
                        K::Invalid,
                        format!("graph property list holds a {}", other.type_name()),
                    ))
                }
            }
        }
        Ok(out)
    }

    fn vertex_vo(&mut self) -> R<Vertex> {
        let id = self.value()?;
        let label = self.string()?;
        let properties = self.element_list("VertexProperty", |v| match v {
            Value::VertexProperty(p) => Some(Arc::unwrap_or_clone(p)),
            _ => None,
        })?;
        Ok(Vertex {
            id,
            label,
            properties,
        })
    }

    fn edge_vo(&mut self) -> R<Edge> {
        let id = self.value()?;
        let label = self.string()?;
        let in_v_id = self.value()?;
        let in_v_label = self.string()?;
        let out_v_id = self.value()?;
        let out_v_label = self.string()?;
        let _parent = self.value()?;
        let properties = self.properties()?;
        Ok(Edge {
            id,
            label,
            out_v_id,
            out_v_label,
            in_v_id,
            in_v_label,
            properties,
        })
    }

    fn vertex_property_vo(&mut self) -> R<VertexProperty> {
        let id = self.value()?;
        let key = self.string()?;
        let value = self.value()?;
        let _parent = self.value()?;
        let properties = self.properties()?;
        Ok(VertexProperty {
            id,
            key,
            value,
            properties,
        })
    }

    fn property_vo(&mut self) -> R<Property> {
        let key = self.string()?;
        let value = self.value()?;
        let _parent = self.value()?;
        Ok(Property { key, value })
    }

    fn path_vo(&mut self) -> R<Path> {
        let labels = match self.value()? {
            Value::List(items) => {
                let mut labels = Vec::with_capacity(items.len());
                for item in items {
                    let set: Vec<Value> = match item {
                        Value::Set(s) => s.into_iter().collect(),
                        Value::List(l) => l,
                        other => {
                            return Err(self.err(
                                K::Invalid,
                                format!("path labels must be Sets, not {}", other.type_name()),
                            ))
                        }
                    };
                    let mut names = Vec::with_capacity(set.len());
                    for l in set {
                        match l {
                            Value::String(s) => names.push(s),
                            other => {
                                return Err(self.err(
                                    K::Invalid,
                                    format!(
                                        "path label must be a String, not {}",
                                        other.type_name()
                                    ),
                                ))
                            }
                        }
                    }
                    labels.push(names);
                }
                labels
            }
            other => {
                return Err(self.err(
                    K::Invalid,
                    format!("path labels must be a List, not {}", other.type_name()),
                ))
            }
        };
        let objects = match self.value()? {
            Value::List(items) => items,
            other => {
                return Err(self.err(
                    K::Invalid,
                    format!("path objects must be a List, not {}", other.type_name()),
                ))
            }
        };
        if labels.len() != objects.len() {
            return Err(self.err(
                K::Invalid,
                format!(
                    "path has {} label sets but {} objects",
                    labels.len(),
                    objects.len()
                ),
            ));
        }
        Ok(Path { labels, objects })
    }

    fn graph_vo(&mut self) -> R<GraphData> {
        // A vertex is at least a 2-byte id, 4-byte label and 4-byte property count.
        let nv = self.count("graph vertices", 10)?;
        let mut vertices = Vec::with_capacity(nv);
        let mut labels: HashMap<Value, Arc<str>> = HashMap::with_capacity(nv);
        for _ in 0..nv {
            let id = self.value()?;
            let label = self.string()?;
            let np = self.count("vertex properties", 12)?;
            let mut props = Vec::with_capacity(np);
            for _ in 0..np {
                let id = self.value()?;
                let key = self.string()?;
                let value = self.value()?;
                let _parent = self.value()?;
                let properties = Some(self.properties_vo()?);
                props.push(VertexProperty {
                    id,
                    key,
                    value,
                    properties,
                });
            }
            labels.insert(id.clone(), label.clone());
            vertices.push(Vertex {
                id,
                label,
                properties: Some(props),
            });
        }
        let ne = self.count("graph edges", 16)?;
        let mut edges = Vec::with_capacity(ne);
        let fallback: Arc<str> = Arc::from("vertex");
        for _ in 0..ne {
            let id = self.value()?;
            let label = self.string()?;
            let in_v_id = self.value()?;
            let in_label = self.value()?;
            let out_v_id = self.value()?;
            let out_label = self.value()?;
            let _parent = self.value()?;
            let properties = Some(self.properties_vo()?);
            let resolve = |given: Value, vid: &Value| match given {
                Value::String(s) => s,
                _ => labels.get(vid).cloned().unwrap_or_else(|| fallback.clone()),
            };
            let in_v_label = resolve(in_label, &in_v_id);
            let out_v_label = resolve(out_label, &out_v_id);
            edges.push(Edge {
                id,
                label,
                out_v_id,
                out_v_label,
                in_v_id,
                in_v_label,
                properties,
            });
        }
        Ok(GraphData { vertices, edges })
    }
}

fn known_code(code: u8) -> bool {
    matches!(code, 0x01..=0x12 | 0x14 | 0x15 | 0x1d | 0x1e | 0x21..=0x2d | 0x80..=0x8e)
        || ENUM_KINDS.iter().any(|(_, c, _)| *c == code)
}

fn type_name(code: u8) -> &'static str {
    match code {
        code::INET_ADDRESS => "InetAddress",
        code::LOCAL_TIME => "LocalTime",
        code::MONTH_DAY => "MonthDay",
        code::OFFSET_TIME => "OffsetTime",
        code::PERIOD => "Period",
        code::YEAR => "Year",
        code::YEAR_MONTH => "YearMonth",
        code::ZONE_OFFSET => "ZoneOffset",
        _ => "unknown",
    }
}
