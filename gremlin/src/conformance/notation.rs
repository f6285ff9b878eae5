//! The feature suite's value notation (`d[1].i`, `v[marko]`, `m[{...}]`, `p[...]`, ...):
//! parsing into [`Notation`] and resolving element references into [`Value`]s.
//!
//! A string is parsed by the first matching rule; anything else is a plain string, as in
//! TinkerPop's runners. Element references are left symbolic ([`Notation::Vertex`], ...) and
//! resolved later by a [`Resolver`], which for the runner asks the backend under test.

use std::sync::Arc;

use num_bigint::BigInt;

use crate::value::{
    BigDecimal, DateTime, EnumKind, EnumValue, Lambda, Map, Path, Set, Uuid, Value,
};

/// Deepest nesting accepted in one notation string (lists in maps in lists ...).
pub const NESTING_DEPTH_MAX: usize = 64;

/// The identity of an edge in notation: `e[out-label->in]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EdgeKey {
    pub out_name: String,
    pub label: String,
    pub in_name: String,
}

impl std::fmt::Display for EdgeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}->{}", self.out_name, self.label, self.in_name)
    }
}

/// A parsed notation value, with element references still symbolic.
#[derive(Clone, Debug, PartialEq)]
pub enum Notation {
    /// A plain value (numbers, strings, enums, dates, ...).
    Value(Value),
    /// `v[name]`.
    Vertex(String),
    /// `v[name].id`.
    VertexId(String),
    /// `v[name].sid`.
    VertexSid(String),
    /// `e[a-label->b]`.
    Edge(EdgeKey),
    /// `e[...].id`.
    EdgeId(EdgeKey),
    /// `e[...].sid`.
    EdgeSid(EdgeKey),
    /// `vp[name-key->value]`.
    VertexProperty {
        vertex: String,
        key: String,
        value: Box<Notation>,
    },
    List(Vec<Notation>),
    Set(Vec<Notation>),
    Map(Vec<(Notation, Notation)>),
    /// `p[...]`: path objects (labels are never asserted).
    Path(Vec<Notation>),
}

/// A notation error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotationError(pub String);

impl std::fmt::Display for NotationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotationError {}

fn nerr<T>(msg: impl Into<String>) -> Result<T, NotationError> {
    Err(NotationError(msg.into()))
}

/// Parses one notation string.
pub fn parse(text: &str) -> Result<Notation, NotationError> {
    parse_at(text, 0)
}

/// `prefix[inner]suffix` → `inner`, when `text` has exactly that shape.
fn bracketed<'a>(text: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    text.strip_prefix(prefix)?.strip_suffix(suffix)
}

fn parse_at(text: &str, depth: usize) -> Result<Notation, NotationError> {
    if depth > NESTING_DEPTH_MAX {
        return nerr("notation nested too deeply");
    }
    let v = |x: Value| Ok(Notation::Value(x));
    match text {
        "null" => return v(Value::Null),
        "true" => return v(Value::Bool(true)),
        "false" => return v(Value::Bool(false)),
        "d[NaN]" => return v(Value::Double(f64::NAN)),
        "d[Infinity]" => return v(Value::Double(f64::INFINITY)),
        "d[-Infinity]" => return v(Value::Double(f64::NEG_INFINITY)),
        _ => {}
    }
    if let Some(inner) = bracketed(text, "str[", "]") {
        return v(Value::str(inner));
    }
    if text.starts_with("d[") {
        if let Some(value) = parse_number(text)? {
            return v(value);
        }
    }
    if let Some(inner) = bracketed(text, "v[", "].id") {
        return Ok(Notation::VertexId(inner.to_string()));
    }
    if let Some(inner) = bracketed(text, "v[", "].sid") {
        return Ok(Notation::VertexSid(inner.to_string()));
    }
    if let Some(inner) = bracketed(text, "v[", "]") {
        return Ok(Notation::Vertex(inner.to_string()));
    }
    if let Some(inner) = bracketed(text, "e[", "].id") {
        return Ok(Notation::EdgeId(edge_key(inner)?));
    }
    if let Some(inner) = bracketed(text, "e[", "].sid") {
        return Ok(Notation::EdgeSid(edge_key(inner)?));
    }
    if let Some(inner) = bracketed(text, "e[", "]") {
        return Ok(Notation::Edge(edge_key(inner)?));
    }
    if let Some(inner) = bracketed(text, "vp[", "]") {
        let (left, value) = inner
            .split_once("->")
            .ok_or_else(|| NotationError(format!("bad vertex property {text:?}")))?;
        let (vertex, key) = left
            .split_once('-')
            .ok_or_else(|| NotationError(format!("bad vertex property {text:?}")))?;
        return Ok(Notation::VertexProperty {
            vertex: vertex.to_string(),
            key: key.to_string(),
            value: Box::new(parse_at(value, depth + 1)?),
        });
    }
    if let Some(inner) = bracketed(text, "l[", "]") {
        return Ok(Notation::List(parse_items(inner, depth)?));
    }
    if let Some(inner) = bracketed(text, "s[", "]") {
        return Ok(Notation::Set(parse_items(inner, depth)?));
    }
    if let Some(inner) = bracketed(text, "p[", "]") {
        return Ok(Notation::Path(parse_items(inner, depth)?));
    }
    if let Some(inner) = bracketed(text, "m[", "]") {
        let json = json::parse(inner).map_err(|e| NotationError(format!("{text:?}: {e}")))?;
        return json_to_notation(&json, depth + 1);
    }
    if let Some(inner) = bracketed(text, "t[", "]") {
        return v(enum_value(EnumKind::T, inner));
    }
    if let Some(inner) = bracketed(text, "D[", "]") {
        let name = match inner {
            "from" | "OUT" => "OUT",
            "to" | "IN" => "IN",
            "BOTH" => "BOTH",
            other => return nerr(format!("unknown direction {other:?}")),
        };
        return v(enum_value(EnumKind::Direction, name));
    }
    if let Some(inner) = bracketed(text, "M[", "]") {
        return v(enum_value(EnumKind::Merge, inner));
    }
    if let Some(inner) = bracketed(text, "dt[", "]") {
        return v(Value::DateTime(parse_datetime(inner)?));
    }
    if let Some(inner) = bracketed(text, "uuid[", "]") {
        return Uuid::parse(inner)
            .map(|u| Notation::Value(Value::Uuid(u)))
            .ok_or_else(|| NotationError(format!("bad uuid {inner:?}")));
    }
    if let Some(inner) = bracketed(text, "c[", "]") {
        return v(Value::Lambda(Arc::new(Lambda {
            language: Arc::from("gremlin-groovy"),
            script: Arc::from(inner),
            arguments: -1,
        })));
    }
    v(Value::str(text))
}

fn enum_value(kind: EnumKind, name: &str) -> Value {
    Value::Enum(EnumValue {
        kind,
        name: Arc::from(name),
    })
}

fn edge_key(inner: &str) -> Result<EdgeKey, NotationError> {
    let (left, in_name) = inner
        .rsplit_once("->")
        .ok_or_else(|| NotationError(format!("bad edge {inner:?}")))?;
    let (out_name, label) = left
        .rsplit_once('-')
        .ok_or_else(|| NotationError(format!("bad edge {inner:?}")))?;
    Ok(EdgeKey {
        out_name: out_name.to_string(),
        label: label.to_string(),
        in_name: in_name.to_string(),
    })
}

/// Splits `a,b,c` at top-level commas (brackets and braces nest) and parses each item.
fn parse_items(inner: &str, depth: usize) -> Result<Vec<Notation>, NotationError> {
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut items = Vec::new();
    let mut level: usize = 0;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '[' | '{' => level += 1,
            ']' | '}' => level = level.saturating_sub(1),
            ',' if level == 0 => {
                let item = inner.get(start..i).unwrap_or("");
                items.push(parse_at(item, depth + 1)?);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(parse_at(inner.get(start..).unwrap_or(""), depth + 1)?);
    Ok(items)
}

/// `d[x].t` → number of type `t`. `Ok(None)` when the text is not number notation.
fn parse_number(text: &str) -> Result<Option<Value>, NotationError> {
    let Some(body) = text.strip_prefix("d[") else {
        return Ok(None);
    };
    let Some((num, suffix)) = body.rsplit_once("].") else {
        return Ok(None);
    };
    let bad = || NotationError(format!("bad number {text:?}"));
    let value = match suffix {
        "b" => Value::Byte(num.parse().map_err(|_| bad())?),
        "s" => Value::Short(num.parse().map_err(|_| bad())?),
        "i" => Value::Int(num.parse().map_err(|_| bad())?),
        "l" => Value::Long(num.parse().map_err(|_| bad())?),
        "f" => Value::Float(parse_float(num).ok_or_else(bad)? as f32),
        "d" => Value::Double(parse_float(num).ok_or_else(bad)?),
        "n" => Value::BigInt(num.parse::<BigInt>().map_err(|_| bad())?),
        "m" => Value::BigDecimal(parse_big_decimal(num).ok_or_else(bad)?),
        _ => return Ok(None),
    };
    Ok(Some(value))
}

fn parse_float(num: &str) -> Option<f64> {
    match num {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => num.parse().ok(),
    }
}

/// Java `new BigDecimal(String)`: `[-]digits[.digits][E[+-]digits]`, scale kept.
pub fn parse_big_decimal(num: &str) -> Option<BigDecimal> {
    let (mantissa, exponent) = match num.find(['e', 'E']) {
        Some(i) => (num.get(..i)?, num.get(i + 1..)?.parse::<i32>().ok()?),
        None => (num, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int_part}{frac_part}");
    let body = digits.strip_prefix(['-', '+']).unwrap_or(&digits);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let unscaled: BigInt = digits.parse().ok()?;
    let frac_len = i32::try_from(frac_part.len()).ok()?;
    Some(BigDecimal {
        unscaled,
        scale: frac_len.checked_sub(exponent)?,
    })
}

/// ISO-8601 `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
pub fn parse_datetime(text: &str) -> Result<DateTime, NotationError> {
    let bad = || NotationError(format!("bad date-time {text:?}"));
    let (date, rest) = text.split_once('T').ok_or_else(bad)?;
    let mut dparts = date.splitn(3, '-');
    let year: i64 = dparts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let month: u32 = dparts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let day: u32 = dparts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let (time, offset_seconds) = if let Some(t) = rest.strip_suffix('Z') {
        (t, 0)
    } else {
        let i = rest.rfind(['+', '-']).ok_or_else(bad)?;
        let (t, off) = rest.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off
            .get(1..)
            .ok_or_else(bad)?
            .split_once(':')
            .ok_or_else(bad)?;
        let oh: i32 = oh.parse().map_err(|_| bad())?;
        let om: i32 = om.parse().map_err(|_| bad())?;
        (t, sign * (oh * 3600 + om * 60))
    };
    let mut tparts = time.splitn(3, ':');
    let hour: i64 = tparts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let minute: i64 = tparts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let sec_text = tparts.next().unwrap_or("0");
    let (sec, frac) = sec_text.split_once('.').unwrap_or((sec_text, ""));
    let second: i64 = sec.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    let mut nanos: u32 = 0;
    for (i, c) in frac.chars().take(9).enumerate() {
        let d = c.to_digit(10).ok_or_else(bad)?;
        nanos += d * 10u32.pow(8 - i as u32);
    }
    let local = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Ok(DateTime {
        epoch_seconds: local - i64::from(offset_seconds),
        nanos,
        offset_seconds,
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn json_to_notation(json: &json::Json, depth: usize) -> Result<Notation, NotationError> {
    if depth > NESTING_DEPTH_MAX {
        return nerr("notation nested too deeply");
    }
    Ok(match json {
        json::Json::Null => Notation::Value(Value::Null),
        json::Json::Bool(b) => Notation::Value(Value::Bool(*b)),
        json::Json::Int(text) => {
            // Jackson: Integer when it fits, else Long, else BigInteger.
            if let Ok(i) = text.parse::<i32>() {
                Notation::Value(Value::Int(i))
            } else if let Ok(l) = text.parse::<i64>() {
                Notation::Value(Value::Long(l))
            } else {
                Notation::Value(Value::BigInt(
                    text.parse()
                        .map_err(|_| NotationError(format!("bad number {text}")))?,
                ))
            }
        }
        json::Json::Float(x) => Notation::Value(Value::Double(*x)),
        json::Json::String(s) => parse_at(s, depth + 1)?,
        json::Json::Array(items) => Notation::List(
            items
                .iter()
                .map(|item| json_to_notation(item, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        json::Json::Object(entries) => Notation::Map(
            entries
                .iter()
                .map(|(k, v)| Ok((parse_at(k, depth + 1)?, json_to_notation(v, depth + 1)?)))
                .collect::<Result<_, NotationError>>()?,
        ),
    })
}

/// Looks element references up; the runner implements it with traversals on the backend.
pub trait Resolver {
    /// The vertex whose `name` is `name`.
    fn vertex(&mut self, name: &str) -> Result<Value, String>;
    /// The edge `out-label->in` (by vertex names).
    fn edge(&mut self, key: &EdgeKey) -> Result<Value, String>;
    /// The vertex property `key` with `value` on the vertex named `vertex`.
    fn vertex_property(&mut self, vertex: &str, key: &str, value: &Value) -> Result<Value, String>;
}

/// Java `toString()` of an id (for `.sid`).
pub fn id_string(id: &Value) -> String {
    match id {
        Value::String(s) => s.to_string(),
        Value::Int(x) => x.to_string(),
        Value::Long(x) => x.to_string(),
        Value::Short(x) => x.to_string(),
        Value::Byte(x) => x.to_string(),
        Value::BigInt(x) => x.to_string(),
        Value::Uuid(u) => u.to_string(),
        other => format!("{other:?}"),
    }
}

fn element_id(v: &Value) -> Result<Value, String> {
    match v {
        Value::Vertex(x) => Ok(x.id.clone()),
        Value::Edge(x) => Ok(x.id.clone()),
        Value::VertexProperty(x) => Ok(x.id.clone()),
        other => Err(format!(
            "lookup returned a {} instead of an element",
            other.type_name()
        )),
    }
}

/// Resolves a notation into a value, looking elements up through `resolver`.
pub fn resolve(n: &Notation, resolver: &mut dyn Resolver) -> Result<Value, String> {
    Ok(match n {
        Notation::Value(v) => v.clone(),
        Notation::Vertex(name) => resolver.vertex(name)?,
        Notation::VertexId(name) => element_id(&resolver.vertex(name)?)?,
        Notation::VertexSid(name) => Value::str(&id_string(&element_id(&resolver.vertex(name)?)?)),
        Notation::Edge(key) => resolver.edge(key)?,
        Notation::EdgeId(key) => element_id(&resolver.edge(key)?)?,
        Notation::EdgeSid(key) => Value::str(&id_string(&element_id(&resolver.edge(key)?)?)),
        Notation::VertexProperty { vertex, key, value } => {
            let value = resolve(value, resolver)?;
            resolver.vertex_property(vertex, key, &value)?
        }
        Notation::List(items) => Value::List(
            items
                .iter()
                .map(|i| resolve(i, resolver))
                .collect::<Result<_, _>>()?,
        ),
        Notation::Set(items) => {
            let mut set = Set::new();
            for i in items {
                set.insert(resolve(i, resolver)?);
            }
            Value::Set(set)
        }
        Notation::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                map.insert(resolve(k, resolver)?, resolve(v, resolver)?);
            }
            Value::Map(map)
        }
        Notation::Path(items) => {
            let objects: Vec<Value> = items
                .iter()
                .map(|i| resolve(i, resolver))
                .collect::<Result<_, _>>()?;
            Value::Path(Arc::new(Path {
                labels: vec![Vec::new(); objects.len()],
                objects,
            }))
        }
    })
}

/// A minimal JSON reader for `m[{...}]` (numbers keep their text so integer types follow Jackson).
pub mod json {
    /// Deepest JSON nesting accepted.
    pub const JSON_DEPTH_MAX: usize = 64;

    /// A JSON value; objects keep key order.
    #[derive(Clone, Debug, PartialEq)]
    pub enum Json {
        Null,
        Bool(bool),
        /// An integer literal, as written.
        Int(String),
        Float(f64),
        String(String),
        Array(Vec<Json>),
        Object(Vec<(String, Json)>),
    }

    struct Reader<'a> {
        bytes: &'a [u8],
        pos: usize,
    }

    /// Parses a complete JSON document.
    pub fn parse(text: &str) -> Result<Json, String> {
        let mut r = Reader {
            bytes: text.as_bytes(),
            pos: 0,
        };
        let v = r.value(0)?;
        r.ws();
        if r.pos != r.bytes.len() {
            return Err(format!("trailing characters at {}", r.pos));
        }
        Ok(v)
    }

    impl Reader<'_> {
        fn peek(&self) -> Option<u8> {
            self.bytes.get(self.pos).copied()
        }
        fn ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.pos += 1;
            }
        }
        fn expect(&mut self, b: u8) -> Result<(), String> {
            self.ws();
            if self.peek() == Some(b) {
                self.pos += 1;
                Ok(())
            } else {
                Err(format!("expected '{}' at {}", b as char, self.pos))
            }
        }
        fn literal(&mut self, word: &str, v: Json) -> Result<Json, String> {
            if self.bytes.get(self.pos..self.pos + word.len()) == Some(word.as_bytes()) {
                self.pos += word.len();
                Ok(v)
            } else {
                Err(format!("bad literal at {}", self.pos))
            }
        }
        fn value(&mut self, depth: usize) -> Result<Json, String> {
            if depth > JSON_DEPTH_MAX {
                return Err("JSON nested too deeply".into());
            }
            self.ws();
            match self.peek() {
                Some(b'n') => self.literal("null", Json::Null),
                Some(b't') => self.literal("true", Json::Bool(true)),
                Some(b'f') => self.literal("false", Json::Bool(false)),
                Some(b'"') => Ok(Json::String(self.string()?)),
                Some(b'[') => {
                    self.pos += 1;
                    let mut items = Vec::new();
                    self.ws();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        return Ok(Json::Array(items));
                    }
                    loop {
                        items.push(self.value(depth + 1)?);
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b']') => {
                                self.pos += 1;
                                return Ok(Json::Array(items));
                            }
                            _ => return Err(format!("expected ',' or ']' at {}", self.pos)),
                        }
                    }
                }
                Some(b'{') => {
                    self.pos += 1;
                    let mut entries = Vec::new();
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        return Ok(Json::Object(entries));
                    }
                    loop {
                        self.ws();
                        let key = self.string()?;
                        self.expect(b':')?;
                        let v = self.value(depth + 1)?;
                        entries.push((key, v));
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b'}') => {
                                self.pos += 1;
                                return Ok(Json::Object(entries));
                            }
                            _ => return Err(format!("expected ',' or '}}' at {}", self.pos)),
                        }
                    }
                }
                Some(b'-' | b'0'..=b'9') => self.number(),
                _ => Err(format!("unexpected character at {}", self.pos)),
            }
        }
        fn number(&mut self) -> Result<Json, String> {
            let start = self.pos;
            let mut float = false;
            while let Some(b) = self.peek() {
                match b {
                    b'0'..=b'9' | b'-' | b'+' => {}
                    b'.' | b'e' | b'E' => float = true,
                    _ => break,
                }
                self.pos += 1;
            }
            let text = std::str::from_utf8(self.bytes.get(start..self.pos).unwrap_or(b""))
                .map_err(|e| e.to_string())?;
            if float {
                text.parse()
                    .map(Json::Float)
                    .map_err(|_| format!("bad number {text:?}"))
            } else if text.is_empty() || text == "-" {
                Err(format!("bad number at {start}"))
            } else {
                Ok(Json::Int(text.to_string()))
            }
        }
        fn string(&mut self) -> Result<String, String> {
            if self.peek() != Some(b'"') {
                return Err(format!("expected a string at {}", self.pos));
            }
            self.pos += 1;
            let mut out: Vec<u8> = Vec::new();
            loop {
                let b = self.peek().ok_or("unterminated string")?;
                self.pos += 1;
                match b {
                    b'"' => break,
                    b'\\' => {
                        let e = self.peek().ok_or("unterminated escape")?;
                        self.pos += 1;
                        match e {
                            b'"' => out.push(b'"'),
                            b'\\' => out.push(b'\\'),
                            b'/' => out.push(b'/'),
                            b'n' => out.push(b'\n'),
                            b't' => out.push(b'\t'),
                            b'r' => out.push(b'\r'),
                            b'b' => out.push(8),
                            b'f' => out.push(12),
                            b'u' => {
                                let hex = self
                                    .bytes
                                    .get(self.pos..self.pos + 4)
                                    .and_then(|h| std::str::from_utf8(h).ok())
                                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                                    .ok_or("bad \\u escape")?;
                                self.pos += 4;
                                let c = char::from_u32(hex).unwrap_or('\u{fffd}');
                                let mut buf = [0u8; 4];
                                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            }
                            _ => return Err(format!("bad escape at {}", self.pos)),
                        }
                    }
                    _ => out.push(b),
                }
            }
            String::from_utf8(out).map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Vertex;

    struct Names;

    impl Resolver for Names {
        fn vertex(&mut self, name: &str) -> Result<Value, String> {
            let id = match name {
                "marko" => 1,
                "josh" => 4,
                _ => return Err(format!("no vertex {name}")),
            };
            Ok(Value::Vertex(Arc::new(Vertex {
                id: Value::Int(id),
                label: Arc::from("person"),
                properties: None,
            })))
        }
        fn edge(&mut self, key: &EdgeKey) -> Result<Value, String> {
            Err(format!("no edge {key}"))
        }
        fn vertex_property(&mut self, _: &str, _: &str, _: &Value) -> Result<Value, String> {
            Err("none".into())
        }
    }

    fn val(text: &str) -> Value {
        resolve(&parse(text).expect("parses"), &mut Names).expect("resolves")
    }

    #[test]
    fn numbers_keep_their_java_type() {
        assert_eq!(val("d[1].i"), Value::Int(1));
        assert_eq!(val("d[1].l"), Value::Long(1));
        assert_ne!(val("d[1].i"), val("d[1].l"));
        assert_eq!(val("d[-3].b"), Value::Byte(-3));
        assert_eq!(val("d[300].s"), Value::Short(300));
        assert_eq!(val("d[1.5].f"), Value::Float(1.5));
        assert_eq!(val("d[1.5].d"), Value::Double(1.5));
        assert_eq!(val("d[4.294967294e+09].f"), Value::Float(4.294_967_3e9));
        assert_eq!(
            val("d[123456789012345678901234567890].n"),
            Value::BigInt("123456789012345678901234567890".parse().expect("bigint"))
        );
        assert_eq!(
            val("d[1.0].m"),
            Value::BigDecimal(BigDecimal {
                unscaled: BigInt::from(10),
                scale: 1
            })
        );
        assert_ne!(val("d[1.0].m"), val("d[1.00].m"));
        assert!(matches!(val("d[NaN]"), Value::Double(x) if x.is_nan()));
        assert_eq!(val("d[-Infinity]"), Value::Double(f64::NEG_INFINITY));
        assert!(parse("d[x].i").is_err());
        assert!(parse("d[300].b").is_err());
    }

    #[test]
    fn strings_and_tokens() {
        assert_eq!(val("josh"), Value::str("josh"));
        assert_eq!(val("str[  a b ]"), Value::str("  a b "));
        assert_eq!(val("str[]"), Value::str(""));
        assert_eq!(val("str[v[1]]"), Value::str("v[1]"));
        assert_eq!(val("null"), Value::Null);
        assert_eq!(val("true"), Value::Bool(true));
        assert_eq!(val("t[id]"), enum_value(EnumKind::T, "id"));
        assert_eq!(val("D[from]"), enum_value(EnumKind::Direction, "OUT"));
        assert_eq!(val("D[IN]"), enum_value(EnumKind::Direction, "IN"));
        assert_eq!(val("M[onCreate]"), enum_value(EnumKind::Merge, "onCreate"));
        assert_eq!(
            val("uuid[f47af10b-58cc-4372-a567-0f02b2f3d479]").type_name(),
            "UUID"
        );
        assert!(matches!(val("c[it.get()]"), Value::Lambda(_)));
    }

    #[test]
    fn date_times() {
        let utc = parse_datetime("2023-08-02T00:00:00Z").expect("date");
        assert_eq!(utc.epoch_seconds, 1_690_934_400);
        assert_eq!(utc.offset_seconds, 0);
        let west = parse_datetime("2023-08-02T00:00:00-07:00").expect("date");
        assert_eq!(west.epoch_seconds, 1_690_934_400 + 7 * 3600);
        assert_eq!(west.offset_seconds, -7 * 3600);
        let frac = parse_datetime("1965-10-31T00:00:00.5Z").expect("date");
        assert_eq!(frac.nanos, 500_000_000);
        assert!(frac.epoch_seconds < 0);
        assert!(parse_datetime("2023-13-02T00:00:00Z").is_err());
        assert!(parse("dt[yesterday]").is_err());
    }

    #[test]
    fn elements_resolve_through_the_resolver() {
        let marko = val("v[marko]");
        assert!(matches!(&marko, Value::Vertex(v) if v.id == Value::Int(1)));
        assert_eq!(val("v[josh].id"), Value::Int(4));
        assert_eq!(val("v[josh].sid"), Value::str("4"));
        assert!(resolve(&parse("v[nobody]").expect("parses"), &mut Names).is_err());
        assert_eq!(
            parse("e[marko-knows->josh].id").expect("parses"),
            Notation::EdgeId(EdgeKey {
                out_name: "marko".into(),
                label: "knows".into(),
                in_name: "josh".into()
            })
        );
        assert_eq!(
            parse("vp[marko-age->d[29].i]").expect("parses"),
            Notation::VertexProperty {
                vertex: "marko".into(),
                key: "age".into(),
                value: Box::new(Notation::Value(Value::Int(29)))
            }
        );
    }

    #[test]
    fn collections_nest() {
        assert_eq!(
            val("l[d[1].i,josh,l[a,b],null]"),
            Value::List(vec![
                Value::Int(1),
                Value::str("josh"),
                Value::List(vec![Value::str("a"), Value::str("b")]),
                Value::Null
            ])
        );
        assert_eq!(val("l[]"), Value::List(vec![]));
        let s = val("s[a,b,a]");
        assert!(matches!(&s, Value::Set(x) if x.len() == 2));
        match val("p[v[marko],v[josh],lop]") {
            Value::Path(p) => {
                assert_eq!(p.objects.len(), 3);
                assert_eq!(p.objects[2], Value::str("lop"));
            }
            other => panic!("not a path: {other:?}"),
        }
    }

    #[test]
    fn maps_parse_json_with_typed_keys() {
        let m = val(
            r#"m[{"d[1].l":["a","v[marko].id"],"t[label]":"knows","n":15,"x":15.0,"b":false,"z":null,"big":5000000000}]"#,
        );
        let Value::Map(m) = m else {
            panic!("not a map")
        };
        assert_eq!(
            m.get(&Value::Long(1)),
            Some(&Value::List(vec![Value::str("a"), Value::Int(1)]))
        );
        assert_eq!(
            m.get(&enum_value(EnumKind::T, "label")),
            Some(&Value::str("knows"))
        );
        assert_eq!(m.get(&Value::str("n")), Some(&Value::Int(15)));
        assert_eq!(m.get(&Value::str("x")), Some(&Value::Double(15.0)));
        assert_eq!(m.get(&Value::str("b")), Some(&Value::Bool(false)));
        assert_eq!(m.get(&Value::str("z")), Some(&Value::Null));
        assert_eq!(m.get(&Value::str("big")), Some(&Value::Long(5_000_000_000)));
        // A nested map written as an escaped string.
        let nested = val(r#"m[{"a":"m[{\"d[32].i\":\"d[1].l\"}]"}]"#);
        let Value::Map(nested) = nested else {
            panic!("not a map")
        };
        let Some(Value::Map(inner)) = nested.get(&Value::str("a")) else {
            panic!("inner not a map")
        };
        assert_eq!(inner.get(&Value::Int(32)), Some(&Value::Long(1)));
        assert!(parse("m[{not json}]").is_err());
        assert!(parse("m[{\"a\":1]").is_err());
        assert_eq!(
            parse("m[{\"a\":1").expect("string"),
            Notation::Value(Value::str("m[{\"a\":1"))
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{}{}", "l[".repeat(500), "]".repeat(500));
        assert!(parse(&deep).is_err());
        let deep_json = format!("m[{}{}]", "[".repeat(500), "]".repeat(500));
        assert!(parse(&deep_json).is_err());
    }
}
