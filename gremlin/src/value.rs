//! `Value`: every value a traversal, a codec or a request can carry (GraphBinary's type set).
//!
//! `Eq`/`Hash` here are **Java `equals`/`hashCode` semantics**: type-strict (`1` Int is not `1L`
//! Long), doubles and floats compared by bits with NaN canonicalised (NaN equals NaN, `0.0` is
//! not `-0.0`), `BigDecimal` scale-sensitive (`2.0` is not `2.00`), elements equal by id, lists
//! ordered, sets and maps unordered. This is what `HashMap` keys (`groupCount`, `dedup`) use.
//! Gremlin's own comparison semantics (`P.eq(1)` matching `1L`, orderability) live in the
//! step machine, not here.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use indexmap::{IndexMap, IndexSet};
use num_bigint::BigInt;

use crate::bytecode::Bytecode;

/// An insertion-ordered map with Java `Map.equals` semantics (order-insensitive).
pub type Map = IndexMap<Value, Value>;
/// An insertion-ordered set with Java `Set.equals` semantics (order-insensitive).
pub type Set = IndexSet<Value>;

/// A Gremlin value.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// `null` (GraphBinary unspecified null `fe 01`).
    #[default]
    Null,
    Bool(bool),
    /// Java `byte`: signed.
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    BigInt(BigInt),
    BigDecimal(BigDecimal),
    Float(f32),
    Double(f64),
    Char(char),
    String(Arc<str>),
    Uuid(Uuid),
    /// Legacy `java.util.Date` / `Timestamp`: milliseconds since the Unix epoch (UTC).
    Date(i64),
    /// `java.time.OffsetDateTime`, the 3.8 default date type.
    DateTime(DateTime),
    Duration(Duration),
    /// `ByteBuffer` / `byte[]`.
    Binary(Arc<[u8]>),
    List(Vec<Value>),
    Set(Set),
    Map(Map),
    /// A bulk set (`aggregate()` side effects): each distinct item with its bulk.
    BulkSet(Vec<(Value, i64)>),
    /// `tree()` result: each node's key and its subtree.
    Tree(Tree),
    Vertex(Arc<Vertex>),
    Edge(Arc<Edge>),
    VertexProperty(Arc<VertexProperty>),
    Property(Arc<Property>),
    Path(Arc<Path>),
    /// `subgraph()` result (GraphBinary `Graph`, a TinkerGraph).
    Graph(Arc<GraphData>),
    /// `profile()` result.
    Metrics(Arc<TraversalMetrics>),
    /// A result wrapped with its bulk (GraphBinary `Traverser`).
    Traverser(Arc<(i64, Value)>),
    /// A Java enum constant such as `T.id` or `Direction.OUT`.
    Enum(EnumValue),
    /// `P` or `TextP` predicate.
    P(Arc<Predicate>),
    /// A (nested) traversal, e.g. the argument of `where(__.out())`.
    Bytecode(Arc<Bytecode>),
    /// A named parameter inside bytecode.
    Binding(Arc<(Arc<str>, Value)>),
    /// A script lambda; always refused at compile time, but it must decode.
    Lambda(Arc<Lambda>),
    /// A Java class name (`Class` type), e.g. the argument of `withoutStrategies`.
    Class(Arc<str>),
    /// A `TraversalStrategy` with its configuration (source instruction `withStrategies`).
    Strategy(Arc<Strategy>),
}

impl Value {
    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::String(Arc::from(s))
    }

    /// The string slice, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A short type name for error messages (Java simple class names where TinkerPop uses them).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "Boolean",
            Value::Byte(_) => "Byte",
            Value::Short(_) => "Short",
            Value::Int(_) => "Integer",
            Value::Long(_) => "Long",
            Value::BigInt(_) => "BigInteger",
            Value::BigDecimal(_) => "BigDecimal",
            Value::Float(_) => "Float",
            Value::Double(_) => "Double",
            Value::Char(_) => "Character",
            Value::String(_) => "String",
            Value::Uuid(_) => "UUID",
            Value::Date(_) => "Date",
            Value::DateTime(_) => "OffsetDateTime",
            Value::Duration(_) => "Duration",
            Value::Binary(_) => "byte[]",
            Value::List(_) => "List",
            Value::Set(_) => "Set",
            Value::Map(_) => "Map",
            Value::BulkSet(_) => "BulkSet",
            Value::Tree(_) => "Tree",
            Value::Vertex(_) => "Vertex",
            Value::Edge(_) => "Edge",
            Value::VertexProperty(_) => "VertexProperty",
            Value::Property(_) => "Property",
            Value::Path(_) => "Path",
            Value::Graph(_) => "Graph",
            Value::Metrics(_) => "TraversalMetrics",
            Value::Traverser(_) => "Traverser",
            Value::Enum(_) => "Enum",
            Value::P(_) => "P",
            Value::Bytecode(_) => "Bytecode",
            Value::Binding(_) => "Binding",
            Value::Lambda(_) => "Lambda",
            Value::Class(_) => "Class",
            Value::Strategy(_) => "TraversalStrategy",
        }
    }
}

/// `java.math.BigDecimal`: `unscaled × 10^-scale`. Equality is scale-sensitive, as in Java.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BigDecimal {
    pub unscaled: BigInt,
    pub scale: i32,
}

/// A UUID, most significant byte first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// Parses the canonical 8-4-4-4-12 hex form (case-insensitive).
    pub fn parse(s: &str) -> Option<Uuid> {
        let hex: Vec<u8> = s.bytes().filter(|b| *b != b'-').collect();
        if hex.len() != 32 || s.len() != 36 {
            return None;
        }
        for (i, b) in s.bytes().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) != (b == b'-') {
                return None;
            }
        }
        let mut out = [0u8; 16];
        for (i, pair) in hex.chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Uuid(out))
    }
}

impl std::fmt::Display for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// `java.time.OffsetDateTime`: an instant plus the offset it was written in.
/// Equality is Java's: same local date-time and same offset (equivalently: same instant and
/// same offset). Ordering by instant is the step machine's business.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DateTime {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub epoch_seconds: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub nanos: u32,
    /// Offset from UTC in seconds (`+01:00` is 3600).
    pub offset_seconds: i32,
}

/// `java.time.Duration`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Duration {
    pub seconds: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub nanos: i32,
}

/// A tree node list: each key with its subtree, in insertion order.
pub type Tree = Vec<(Value, Value)>;

/// A vertex. Equal by id (Java `ElementHelper.areEqual`).
#[derive(Clone, Debug)]
pub struct Vertex {
    pub id: Value,
    pub label: Arc<str>,
    /// `None` for a reference vertex (no properties sent).
    pub properties: Option<Vec<VertexProperty>>,
}

/// An edge. Equal by id.
#[derive(Clone, Debug)]
pub struct Edge {
    pub id: Value,
    pub label: Arc<str>,
    pub out_v_id: Value,
    pub out_v_label: Arc<str>,
    pub in_v_id: Value,
    pub in_v_label: Arc<str>,
    /// `None` for a reference edge.
    pub properties: Option<Vec<Property>>,
}

/// A vertex property (possibly one of several with the same key). Equal by id.
#[derive(Clone, Debug)]
pub struct VertexProperty {
    pub id: Value,
    pub key: Arc<str>,
    pub value: Value,
    /// Meta-properties; `None` for a reference.
    pub properties: Option<Vec<Property>>,
}

/// An edge property or meta-property. Equal by key and value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Property {
    pub key: Arc<str>,
    pub value: Value,
}

/// A traversal path: objects with the step labels each was seen under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Path {
    pub labels: Vec<Vec<Arc<str>>>,
    pub objects: Vec<Value>,
}

/// A whole (sub)graph, as `subgraph()` returns it.
#[derive(Clone, Debug, Default)]
pub struct GraphData {
    pub vertices: Vec<Vertex>,
    pub edges: Vec<Edge>,
}

/// `profile()` output: total duration and one entry per step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TraversalMetrics {
    pub duration_nanos: i64,
    pub metrics: Vec<Metrics>,
}

/// One step's profile metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Metrics {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub duration_nanos: i64,
    /// Counter name -> Long (e.g. `traverserCount`, `elementCount`).
    pub counts: Vec<(Arc<str>, i64)>,
    /// Annotation name -> value (e.g. `percentDur`).
    pub annotations: Vec<(Arc<str>, Value)>,
    pub nested: Vec<Metrics>,
}

impl Metrics {
    /// Top-level step `index`'s entry: its name, time (its share of `total_nanos` as the
    /// `percentDur` annotation) and counts.
    pub fn step(
        index: usize,
        name: Arc<str>,
        nanos: u64,
        total_nanos: u64,
        counts: Vec<(Arc<str>, i64)>,
    ) -> Metrics {
        let pct = if total_nanos == 0 {
            0.0
        } else {
            nanos as f64 * 100.0 / total_nanos as f64
        };
        Metrics {
            id: Arc::from(format!("{index}.0.0()").as_str()),
            name,
            duration_nanos: i64::try_from(nanos).unwrap_or(i64::MAX),
            counts,
            annotations: vec![(Arc::from("percentDur"), Value::Double(pct))],
            nested: Vec::new(),
        }
    }
}

/// Which Java enum an [`EnumValue`] belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EnumKind {
    Barrier,
    Cardinality,
    Column,
    Direction,
    Operator,
    Order,
    Pick,
    Pop,
    Scope,
    T,
    Merge,
    DT,
    GType,
}

/// A Java enum constant, by its Java name (`T.id` is `{T, "id"}`, `Direction.OUT` is
/// `{Direction, "OUT"}`). Names are canonical: codecs and parser map aliases (`Direction.from`
/// is `OUT`, `Order.incr` is `asc`) before building one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnumValue {
    pub kind: EnumKind,
    pub name: Arc<str>,
}

/// A `P` or `TextP` predicate by name with its arguments (`and`/`or`/`not` take `P` values).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Predicate {
    /// `true` for `TextP` (GraphBinary `28`), `false` for `P` (`1e`).
    pub text: bool,
    pub name: Arc<str>,
    pub args: Vec<Value>,
}

/// A script lambda as drivers send it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lambda {
    pub language: Arc<str>,
    pub script: Arc<str>,
    pub arguments: i32,
}

/// A traversal strategy and its configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Strategy {
    /// Fully qualified Java class name, or the simple name when written in gremlin-lang.
    pub class: Arc<str>,
    pub config: Map,
}

fn hash_unordered<'a, I, T>(items: I) -> u64
where
    I: IntoIterator<Item = T>,
    T: Hash + 'a,
{
    items
        .into_iter()
        .map(|item| {
            let mut h = DefaultHasher::new();
            item.hash(&mut h);
            h.finish()
        })
        .fold(0u64, u64::wrapping_add)
}

fn f64_key(x: f64) -> u64 {
    if x.is_nan() {
        f64::NAN.to_bits()
    } else {
        x.to_bits()
    }
}

fn f32_key(x: f32) -> u32 {
    if x.is_nan() {
        f32::NAN.to_bits()
    } else {
        x.to_bits()
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) => true,
            (Bool(a), Bool(b)) => a == b,
            (Byte(a), Byte(b)) => a == b,
            (Short(a), Short(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (Long(a), Long(b)) => a == b,
            (BigInt(a), BigInt(b)) => a == b,
            (BigDecimal(a), BigDecimal(b)) => a == b,
            (Float(a), Float(b)) => f32_key(*a) == f32_key(*b),
            (Double(a), Double(b)) => f64_key(*a) == f64_key(*b),
            (Char(a), Char(b)) => a == b,
            (String(a), String(b)) => a == b,
            (Uuid(a), Uuid(b)) => a == b,
            (Date(a), Date(b)) => a == b,
            (DateTime(a), DateTime(b)) => a == b,
            (Duration(a), Duration(b)) => a == b,
            (Binary(a), Binary(b)) => a == b,
            (List(a), List(b)) => a == b,
            (Set(a), Set(b)) => a == b,
            (Map(a), Map(b)) => a == b,
            (BulkSet(a), BulkSet(b)) => a.len() == b.len() && a.iter().all(|item| b.contains(item)),
            (Tree(a), Tree(b)) => a.len() == b.len() && a.iter().all(|item| b.contains(item)),
            (Vertex(a), Vertex(b)) => a.id == b.id,
            (Edge(a), Edge(b)) => a.id == b.id,
            (VertexProperty(a), VertexProperty(b)) => a.id == b.id,
            (Property(a), Property(b)) => a == b,
            (Path(a), Path(b)) => a == b,
            (Graph(a), Graph(b)) => Arc::ptr_eq(a, b),
            (Metrics(a), Metrics(b)) => a == b,
            (Traverser(a), Traverser(b)) => a == b,
            (Enum(a), Enum(b)) => a == b,
            (P(a), P(b)) => a == b,
            (Bytecode(a), Bytecode(b)) => a == b,
            (Binding(a), Binding(b)) => a == b,
            (Lambda(a), Lambda(b)) => a == b,
            (Class(a), Class(b)) => a == b,
            (Strategy(a), Strategy(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        use Value::*;
        match self {
            Null => {}
            Bool(x) => x.hash(state),
            Byte(x) => x.hash(state),
            Short(x) => x.hash(state),
            Int(x) => x.hash(state),
            Long(x) => x.hash(state),
            BigInt(x) => x.hash(state),
            BigDecimal(x) => x.hash(state),
            Float(x) => f32_key(*x).hash(state),
            Double(x) => f64_key(*x).hash(state),
            Char(x) => x.hash(state),
            String(x) => x.hash(state),
            Uuid(x) => x.hash(state),
            Date(x) => x.hash(state),
            DateTime(x) => x.hash(state),
            Duration(x) => x.hash(state),
            Binary(x) => x.hash(state),
            List(x) => x.hash(state),
            Set(x) => hash_unordered(x.iter()).hash(state),
            Map(x) => hash_unordered(x.iter()).hash(state),
            BulkSet(x) => hash_unordered(x.iter()).hash(state),
            Tree(x) => hash_unordered(x.iter()).hash(state),
            Vertex(x) => x.id.hash(state),
            Edge(x) => x.id.hash(state),
            VertexProperty(x) => x.id.hash(state),
            Property(x) => x.hash(state),
            Path(x) => x.hash(state),
            Graph(x) => Arc::as_ptr(x).hash(state),
            Metrics(x) => x.hash(state),
            Traverser(x) => x.hash(state),
            Enum(x) => x.hash(state),
            P(x) => x.hash(state),
            Bytecode(x) => x.hash(state),
            Binding(x) => x.hash(state),
            Lambda(x) => x.hash(state),
            Class(x) => x.hash(state),
            Strategy(x) => {
                x.class.hash(state);
                hash_unordered(x.config.iter()).hash(state);
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::str(s)
    }
}

impl From<i32> for Value {
    fn from(x: i32) -> Value {
        Value::Int(x)
    }
}

impl From<i64> for Value {
    fn from(x: i64) -> Value {
        Value::Long(x)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Double(x)
    }
}

impl From<bool> for Value {
    fn from(x: bool) -> Value {
        Value::Bool(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(v: &Value) -> u64 {
        let mut h = DefaultHasher::new();
        v.hash(&mut h);
        h.finish()
    }

    #[test]
    fn equality_is_type_strict() {
        assert_ne!(Value::Int(1), Value::Long(1));
        assert_ne!(Value::str("1"), Value::Int(1));
        assert_eq!(Value::Double(f64::NAN), Value::Double(f64::NAN));
        assert_ne!(Value::Double(0.0), Value::Double(-0.0));
    }

    #[test]
    fn maps_and_sets_compare_unordered() {
        let mut a = Map::new();
        a.insert(Value::Int(1), Value::str("x"));
        a.insert(Value::Int(2), Value::str("y"));
        let mut b = Map::new();
        b.insert(Value::Int(2), Value::str("y"));
        b.insert(Value::Int(1), Value::str("x"));
        assert_eq!(Value::Map(a.clone()), Value::Map(b.clone()));
        assert_eq!(hash_of(&Value::Map(a)), hash_of(&Value::Map(b)));
        assert_ne!(
            Value::List(vec![Value::Int(1), Value::Int(2)]),
            Value::List(vec![Value::Int(2), Value::Int(1)])
        );
    }

    #[test]
    fn uuid_round_trips() {
        let text = "00112233-4455-6677-8899-aabbccddeeff";
        let u = Uuid::parse(text).expect("valid uuid");
        assert_eq!(u.0[0], 0x00);
        assert_eq!(u.0[15], 0xff);
        assert_eq!(u.to_string(), text);
        assert!(Uuid::parse("00112233-4455-6677-8899-aabbccddeef").is_none());
        assert!(Uuid::parse("0011223344556677-8899-aabbccddeeff-").is_none());
    }
}
