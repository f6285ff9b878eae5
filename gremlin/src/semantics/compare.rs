//! Gremlin equality, comparability and orderability (TinkerPop's `GremlinValueComparator`),
//! and the ternary boolean logic predicates evaluate to.
//!
//! - [`equals`]: `P.eq`/`neq` equality. Numbers by value across types (`1 == 1L == 1.0`), NaN
//!   equal to nothing (itself included), values of different type families never equal,
//!   collections element by element, elements by id.
//! - [`compare`]: `P.lt`/`gt`/... comparability. Only within one type family; NaN, null against
//!   non-null, and cross-type pairs are [`Comparison::Incomparable`] (an ERROR in ternary logic).
//! - [`order`]: orderability, the total order `order()` sorts by: nulls first, then by type
//!   priority (Boolean, Number, Date/DateTime, String, UUID, Vertex, Edge, VertexProperty, Property, Path,
//!   Set, List, Map, then everything else), within a type by value; NaN sorts after +Infinity.

use std::cmp::Ordering;

use crate::value::{Uuid, Value};

use super::number;

/// The outcome of a comparability test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Comparison {
    Less,
    Equal,
    Greater,
    /// Different type families, NaN involved, or null against non-null: a type error.
    Incomparable,
}

impl Comparison {
    /// The ordering, if comparable.
    pub fn ordering(self) -> Option<Ordering> {
        match self {
            Comparison::Less => Some(Ordering::Less),
            Comparison::Equal => Some(Ordering::Equal),
            Comparison::Greater => Some(Ordering::Greater),
            Comparison::Incomparable => None,
        }
    }

    fn from_ordering(o: Ordering) -> Comparison {
        match o {
            Ordering::Less => Comparison::Less,
            Ordering::Equal => Comparison::Equal,
            Ordering::Greater => Comparison::Greater,
        }
    }
}

/// TinkerPop's ternary boolean: a predicate is TRUE, FALSE, or ERROR (a type error, e.g.
/// `lt` across types). `and`/`or`/`not` follow the Gremlin semantics docs:
/// `F && E = F`, `T && E = E`, `T || E = T`, `F || E = E`, `!E = E`. A filter step reduces
/// ERROR to FALSE at its boundary ([`Ternary::is_true`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ternary {
    True,
    False,
    Error,
}

impl Ternary {
    /// `True`/`False` from a bool.
    pub fn from_bool(b: bool) -> Ternary {
        if b {
            Ternary::True
        } else {
            Ternary::False
        }
    }

    /// Ternary AND.
    pub fn and(self, other: Ternary) -> Ternary {
        match (self, other) {
            (Ternary::False, _) | (_, Ternary::False) => Ternary::False,
            (Ternary::True, Ternary::True) => Ternary::True,
            _ => Ternary::Error,
        }
    }

    /// Ternary OR.
    pub fn or(self, other: Ternary) -> Ternary {
        match (self, other) {
            (Ternary::True, _) | (_, Ternary::True) => Ternary::True,
            (Ternary::False, Ternary::False) => Ternary::False,
            _ => Ternary::Error,
        }
    }

    /// Ternary NOT (`!ERROR` is `ERROR`).
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Ternary {
        match self {
            Ternary::True => Ternary::False,
            Ternary::False => Ternary::True,
            Ternary::Error => Ternary::Error,
        }
    }

    /// The filter-boundary reduction: only `True` passes.
    pub fn is_true(self) -> bool {
        self == Ternary::True
    }
}

/// Recursion limit for comparing nested collections (deeper nesting compares as equal
/// beyond this depth rather than overflowing the stack on hostile input).
pub const DEPTH_MAX: usize = 256;

/// Type families, in orderability priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Family {
    Null,
    Boolean,
    Number,
    Date,
    String,
    Uuid,
    Vertex,
    Edge,
    VertexProperty,
    Property,
    Path,
    Set,
    List,
    Map,
    Unknown,
}

fn family(v: &Value) -> Family {
    match v {
        Value::Null => Family::Null,
        Value::Bool(_) => Family::Boolean,
        Value::Byte(_)
        | Value::Short(_)
        | Value::Int(_)
        | Value::Long(_)
        | Value::BigInt(_)
        | Value::BigDecimal(_)
        | Value::Float(_)
        | Value::Double(_) => Family::Number,
        Value::Date(_) | Value::DateTime(_) => Family::Date,
        Value::String(_) => Family::String,
        Value::Uuid(_) => Family::Uuid,
        Value::Vertex(_) => Family::Vertex,
        Value::Edge(_) => Family::Edge,
        Value::VertexProperty(_) => Family::VertexProperty,
        Value::Property(_) => Family::Property,
        Value::Path(_) => Family::Path,
        Value::Set(_) | Value::BulkSet(_) => Family::Set,
        Value::List(_) => Family::List,
        Value::Map(_) | Value::Tree(_) => Family::Map,
        _ => Family::Unknown,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Comparability,
    Orderability,
}

/// Items of a collection-like value, in iteration order (map entries as key/value pairs).
enum Items<'a> {
    Seq(Vec<&'a Value>),
    Entries(Vec<(&'a Value, &'a Value)>),
}

fn items(v: &Value) -> Option<Items<'_>> {
    Some(match v {
        Value::List(l) => Items::Seq(l.iter().collect()),
        Value::Set(s) => Items::Seq(s.iter().collect()),
        Value::BulkSet(b) => {
            // A BulkSet iterates each item `bulk` times; cap the expansion.
            let mut out = Vec::new();
            for (item, bulk) in b {
                let n = (*bulk).clamp(0, 1 << 20) as usize;
                out.extend(std::iter::repeat_n(item, n));
            }
            Items::Seq(out)
        }
        Value::Path(p) => Items::Seq(p.objects.iter().collect()),
        Value::Map(m) => Items::Entries(m.iter().collect()),
        Value::Tree(t) => Items::Entries(t.iter().map(|(k, v)| (k, v)).collect()),
        _ => return None,
    })
}

fn seq_sorted(v: &Value, depth: usize) -> Vec<&Value> {
    match items(v) {
        Some(Items::Seq(mut s)) => {
            if matches!(v, Value::Set(_) | Value::BulkSet(_)) {
                s.sort_by(|a, b| order_depth(a, b, depth + 1));
            }
            s
        }
        _ => Vec::new(),
    }
}

fn entries_sorted(v: &Value, depth: usize) -> Vec<(&Value, &Value)> {
    match items(v) {
        Some(Items::Entries(mut e)) => {
            e.sort_by(|a, b| {
                order_depth(a.0, b.0, depth + 1).then_with(|| order_depth(a.1, b.1, depth + 1))
            });
            e
        }
        _ => Vec::new(),
    }
}

fn element_id(v: &Value) -> Option<&Value> {
    match v {
        Value::Vertex(x) => Some(&x.id),
        Value::Edge(x) => Some(&x.id),
        Value::VertexProperty(x) => Some(&x.id),
        _ => None,
    }
}

/// Java `comparable(f, s)`: same type family, no NaN, contents mutually comparable.
pub fn comparable(a: &Value, b: &Value) -> bool {
    comparable_depth(a, b, 0)
}

fn comparable_depth(a: &Value, b: &Value, depth: usize) -> bool {
    if depth > DEPTH_MAX {
        return true;
    }
    match (a, b) {
        (Value::Null, Value::Null) => return true,
        (Value::Null, _) | (_, Value::Null) => return false,
        _ => {}
    }
    if number::is_nan(a) || number::is_nan(b) {
        return false;
    }
    let (fa, fb) = (family(a), family(b));
    if fa != fb {
        return false;
    }
    match fa {
        Family::List | Family::Path | Family::Set => {
            let (x, y) = (seq_sorted(a, depth), seq_sorted(b, depth));
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|(p, q)| comparable_depth(p, q, depth + 1))
        }
        Family::Map => {
            let (x, y) = (entries_sorted(a, depth), entries_sorted(b, depth));
            x.len() == y.len()
                && x.iter().zip(y.iter()).all(|(p, q)| {
                    comparable_depth(p.0, q.0, depth + 1) && comparable_depth(p.1, q.1, depth + 1)
                })
        }
        Family::Vertex | Family::Edge | Family::VertexProperty => {
            match (element_id(a), element_id(b)) {
                (Some(x), Some(y)) => comparable_depth(x, y, depth + 1),
                _ => false,
            }
        }
        Family::Property => match (a, b) {
            (Value::Property(x), Value::Property(y)) => {
                comparable_depth(&x.value, &y.value, depth + 1)
            }
            _ => false,
        },
        Family::Unknown => naturally_comparable(a, b),
        _ => true,
    }
}

/// Unknown-family values that Java compares with their own `compareTo` (same class), or that
/// are `equals`.
fn naturally_comparable(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Duration(_), Value::Duration(_))
        | (Value::Char(_), Value::Char(_))
        | (Value::Binary(_), Value::Binary(_)) => true,
        (Value::Enum(x), Value::Enum(y)) => x.kind == y.kind,
        _ => a == b,
    }
}

/// Java class name used to order unrelated unknown-family values.
fn java_class_name(v: &Value) -> String {
    match v {
        Value::DateTime(_) => "java.time.OffsetDateTime".into(),
        Value::Duration(_) => "java.time.Duration".into(),
        Value::Char(_) => "java.lang.Character".into(),
        Value::Binary(_) => "java.nio.HeapByteBuffer".into(),
        Value::Enum(e) => format!("org.apache.tinkerpop.gremlin.{:?}", e.kind),
        other => other.type_name().into(),
    }
}

/// Java `String.compareTo`: UTF-16 code unit order.
pub fn java_string_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Java `UUID.compareTo`: most then least significant halves as *signed* longs.
fn uuid_cmp(a: &Uuid, b: &Uuid) -> Ordering {
    let halves = |u: &Uuid| {
        let mut hi = [0u8; 8];
        let mut lo = [0u8; 8];
        hi.copy_from_slice(&u.0[..8]);
        lo.copy_from_slice(&u.0[8..]);
        (i64::from_be_bytes(hi), i64::from_be_bytes(lo))
    };
    halves(a).cmp(&halves(b))
}

/// `OffsetDateTime.compareTo`: by instant, then by local date-time (larger offset later).
pub fn datetime_cmp(a: &crate::value::DateTime, b: &crate::value::DateTime) -> Ordering {
    (a.epoch_seconds, a.nanos)
        .cmp(&(b.epoch_seconds, b.nanos))
        .then_with(|| {
            let la = a.epoch_seconds + i64::from(a.offset_seconds);
            let lb = b.epoch_seconds + i64::from(b.offset_seconds);
            la.cmp(&lb)
        })
}

/// Comparison of two values of the same family (`comparator(type)` in Java).
fn same_family_cmp(mode: Mode, a: &Value, b: &Value, depth: usize) -> Ordering {
    if depth > DEPTH_MAX {
        return Ordering::Equal;
    }
    let rec = |x: &Value, y: &Value| -> Ordering {
        match mode {
            Mode::Orderability => order_depth(x, y, depth + 1),
            Mode::Comparability => same_family_or_order(x, y, depth + 1),
        }
    };
    match family(a) {
        Family::Null => Ordering::Equal,
        Family::Boolean => match (a, b) {
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            _ => Ordering::Equal,
        },
        Family::Number => number::compare(a, b),
        Family::Date => match (a, b) {
            (Value::Date(x), Value::Date(y)) => x.cmp(y),
            (Value::DateTime(x), Value::DateTime(y)) => datetime_cmp(x, y),
            // Legacy Date against OffsetDateTime: by instant.
            _ => match (
                super::datetime::as_datetime(a),
                super::datetime::as_datetime(b),
            ) {
                (Some(x), Some(y)) => (x.epoch_seconds, x.nanos).cmp(&(y.epoch_seconds, y.nanos)),
                _ => Ordering::Equal,
            },
        },
        Family::String => java_string_cmp(a.as_str().unwrap_or(""), b.as_str().unwrap_or("")),
        Family::Uuid => match (a, b) {
            (Value::Uuid(x), Value::Uuid(y)) => uuid_cmp(x, y),
            _ => Ordering::Equal,
        },
        Family::Vertex | Family::Edge | Family::VertexProperty => {
            match (element_id(a), element_id(b)) {
                (Some(x), Some(y)) => rec(x, y),
                _ => Ordering::Equal,
            }
        }
        Family::Property => match (a, b) {
            (Value::Property(x), Value::Property(y)) => {
                java_string_cmp(&x.key, &y.key).then_with(|| rec(&x.value, &y.value))
            }
            _ => Ordering::Equal,
        },
        Family::Path | Family::List | Family::Set => {
            let (x, y) = (seq_sorted(a, depth), seq_sorted(b, depth));
            for (p, q) in x.iter().zip(y.iter()) {
                let o = rec(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        Family::Map => {
            let (x, y) = (entries_sorted(a, depth), entries_sorted(b, depth));
            for (p, q) in x.iter().zip(y.iter()) {
                let o = rec(p.0, q.0).then_with(|| rec(p.1, q.1));
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        Family::Unknown => unknown_cmp(a, b),
    }
}

/// Comparability's recursion: contents are known to be comparable, so compare them in their
/// family (falling back to orderability if they are not, which cannot happen after a
/// successful [`comparable`] check).
fn same_family_or_order(a: &Value, b: &Value, depth: usize) -> Ordering {
    if family(a) == family(b) {
        same_family_cmp(Mode::Comparability, a, b, depth)
    } else {
        order_depth(a, b, depth)
    }
}

/// Unknown-family values: natural order when both are the same comparable class, else by
/// class name, then by Java `toString`.
fn unknown_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Duration(x), Value::Duration(y)) => {
            return (x.seconds, x.nanos).cmp(&(y.seconds, y.nanos))
        }
        (Value::Char(x), Value::Char(y)) => return x.cmp(y),
        (Value::Binary(x), Value::Binary(y)) => {
            // ByteBuffer.compareTo: signed byte order, then length.
            return x.iter().map(|b| *b as i8).cmp(y.iter().map(|b| *b as i8));
        }
        (Value::Enum(x), Value::Enum(y)) if x.kind == y.kind => {
            return java_string_cmp(&x.name, &y.name)
        }
        _ => {}
    }
    if a == b {
        return Ordering::Equal;
    }
    java_class_name(a).cmp(&java_class_name(b)).then_with(|| {
        java_string_cmp(
            &super::text::to_java_string(a),
            &super::text::to_java_string(b),
        )
    })
}

/// Orderability: the total order of `order()` (and of `min`/`max` over mixed types).
pub fn order(a: &Value, b: &Value) -> Ordering {
    order_depth(a, b, 0)
}

fn order_depth(a: &Value, b: &Value, depth: usize) -> Ordering {
    let (fa, fb) = (family(a), family(b));
    if fa != fb {
        return fa.cmp(&fb);
    }
    same_family_cmp(Mode::Orderability, a, b, depth)
}

/// Comparability: `lt`/`lte`/`gt`/`gte`. Incomparable across type families, with NaN, and
/// for null against non-null (null against null is `Equal`).
pub fn compare(a: &Value, b: &Value) -> Comparison {
    if !comparable(a, b) {
        return Comparison::Incomparable;
    }
    Comparison::from_ordering(same_family_cmp(Mode::Comparability, a, b, 0))
}

fn container_len(v: &Value) -> Option<usize> {
    match v {
        Value::List(l) => Some(l.len()),
        Value::Set(s) => Some(s.len()),
        Value::Map(m) => Some(m.len()),
        Value::Path(p) => Some(p.objects.len()),
        _ => None,
    }
}

/// Equality for `P.eq`/`neq`, `within`, `is(x)`, `where(eq)`: never an error.
pub fn equals(a: &Value, b: &Value) -> bool {
    if let (Some(x), Some(y)) = (container_len(a), container_len(b)) {
        if x != y {
            return false;
        }
    }
    if !comparable(a, b) {
        return false;
    }
    same_family_cmp(Mode::Comparability, a, b, 0) == Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn list(items: &[Value]) -> Value {
        Value::List(items.to_vec())
    }

    #[test]
    fn numbers_equal_across_types_but_nan_never() {
        // Equality.feature: 1b == 1s == 1i == 1l == 1f == 1d == 1m == 1n, 1000i is not.
        let ones = [
            Value::Byte(1),
            Value::Short(1),
            Value::Int(1),
            Value::Long(1),
            Value::Float(1.0),
            Value::Double(1.0),
            Value::BigInt(1.into()),
            super::super::decimal::parse("1")
                .map(Value::BigDecimal)
                .unwrap(),
        ];
        for a in &ones {
            for b in &ones {
                assert!(equals(a, b), "{a:?} == {b:?}");
            }
            assert!(!equals(a, &Value::Int(1000)));
        }
        let nan = Value::Double(f64::NAN);
        assert!(!equals(&nan, &nan));
        assert_eq!(compare(&nan, &Value::Int(1)), Comparison::Incomparable);
        assert!(equals(&Value::Null, &Value::Null));
        assert!(!equals(&Value::Null, &Value::Int(0)));
        assert!(!equals(&Value::str("1"), &Value::Int(1)));
    }

    #[test]
    fn comparability_within_families_only() {
        assert_eq!(
            compare(&Value::Int(1), &Value::Double(2.0)),
            Comparison::Less
        );
        assert_eq!(
            compare(&Value::str("a"), &Value::Int(1)),
            Comparison::Incomparable
        );
        assert_eq!(
            compare(&Value::Null, &Value::Int(1)),
            Comparison::Incomparable
        );
        assert_eq!(compare(&Value::Null, &Value::Null), Comparison::Equal);
        assert_eq!(
            compare(
                &list(&[Value::Int(1), Value::Int(2)]),
                &list(&[Value::Int(1), Value::Int(3)])
            ),
            Comparison::Less
        );
        assert_eq!(
            compare(&list(&[Value::Int(1)]), &list(&[Value::str("a")])),
            Comparison::Incomparable
        );
        assert_eq!(
            compare(&Value::Bool(false), &Value::Bool(true)),
            Comparison::Less
        );
    }

    #[test]
    fn orderability_is_total() {
        let mut vals = vec![
            Value::str("b"),
            Value::Double(f64::NAN),
            Value::Null,
            Value::Bool(true),
            Value::Double(f64::INFINITY),
            Value::Int(1),
            list(&[Value::Int(1)]),
            Value::Bool(false),
            Value::str("a"),
        ];
        vals.sort_by(order);
        assert_eq!(
            vals,
            vec![
                Value::Null,
                Value::Bool(false),
                Value::Bool(true),
                Value::Int(1),
                Value::Double(f64::INFINITY),
                Value::Double(f64::NAN),
                Value::str("a"),
                Value::str("b"),
                list(&[Value::Int(1)]),
            ]
        );
    }

    #[test]
    fn orderability_feature_g_inject_order() {
        use crate::value::Uuid;
        let dt = |s: &str| Value::DateTime(super::super::datetime::parse(s).unwrap());
        let uuid = |s: &str| Value::Uuid(Uuid::parse(s).unwrap());
        let strs = |xs: &[&str]| xs.iter().map(|x| Value::str(x)).collect::<Vec<_>>();
        let map = |kv: &[(&str, Value)]| {
            let mut m = crate::value::Map::new();
            for (k, v) in kv {
                m.insert(Value::str(k), v.clone());
            }
            Value::Map(m)
        };
        let set: crate::value::Set = strs(&["x", "y", "z"]).into_iter().collect();
        let expected = vec![
            Value::Null,
            Value::Bool(false),
            Value::Bool(true),
            Value::Double(f64::NEG_INFINITY),
            Value::Int(1),
            Value::Double(2.0),
            Value::Double(f64::INFINITY),
            Value::Double(f64::NAN),
            dt("2023-01-01T00:00:00Z"),
            dt("2023-08-01T00:00:00Z"),
            Value::str("bar"),
            Value::str("foo"),
            Value::str("zzz"),
            uuid("5100808b-62f9-42b7-957e-ed66c30f40d1"),
            uuid("6100808b-62f9-42b7-957e-ed66c30f40d1"),
            Value::Set(set),
            Value::List(strs(&["a", "b", "c"])),
            Value::List(strs(&["a", "b", "c", "d"])),
            map(&[
                ("a", Value::str("a")),
                ("b", Value::Bool(false)),
                ("c", Value::str("c")),
            ]),
            map(&[("a", Value::str("a")), ("b", Value::str("b"))]),
        ];
        let mut shuffled = expected.clone();
        shuffled.reverse();
        shuffled.swap(3, 11);
        shuffled.swap(0, 7);
        shuffled.sort_by(order);
        assert_eq!(shuffled, expected);
        // Descending is the exact reverse.
        shuffled.sort_by(|a, b| order(b, a));
        let mut rev = expected.clone();
        rev.reverse();
        assert_eq!(shuffled, rev);
    }

    #[test]
    fn ternary_logic_tables() {
        use Ternary::*;
        assert_eq!(False.and(Error), False);
        assert_eq!(True.and(Error), Error);
        assert_eq!(True.or(Error), True);
        assert_eq!(False.or(Error), Error);
        assert_eq!(Error.not(), Error);
        assert!(!Error.is_true());
    }

    #[test]
    fn strings_compare_by_utf16() {
        // U+FF61 sorts after U+1F600 in code points but before it in UTF-16 code units.
        assert_eq!(java_string_cmp("\u{1F600}", "\u{FF61}"), Ordering::Less);
        let a: Value = Value::String(Arc::from("\u{1F600}"));
        assert_eq!(order(&a, &Value::str("\u{FF61}")), Ordering::Less);
    }
}
