//! Token tables (enum short and qualified forms, option constants) and the `datetime(...)` /
//! `UUID()` literal helpers of the gremlin-lang parser.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::value::{DateTime, EnumKind, Uuid, Value};

/// Members of each token enum: (written name, canonical Java name). Aliases map to their
/// canonical constant (`incr` is `asc`, `from` is `OUT`).
pub(crate) fn enum_members(kind: EnumKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        EnumKind::T => &[
            ("id", "id"),
            ("label", "label"),
            ("key", "key"),
            ("value", "value"),
        ],
        EnumKind::Order => &[
            ("asc", "asc"),
            ("desc", "desc"),
            ("shuffle", "shuffle"),
            ("incr", "asc"),
            ("decr", "desc"),
        ],
        EnumKind::Direction => &[
            ("OUT", "OUT"),
            ("IN", "IN"),
            ("BOTH", "BOTH"),
            ("from", "OUT"),
            ("to", "IN"),
        ],
        EnumKind::Cardinality => &[("single", "single"), ("set", "set"), ("list", "list")],
        EnumKind::Column => &[("keys", "keys"), ("values", "values")],
        EnumKind::Pop => &[
            ("first", "first"),
            ("last", "last"),
            ("all", "all"),
            ("mixed", "mixed"),
        ],
        EnumKind::Operator => &[
            ("addAll", "addAll"),
            ("and", "and"),
            ("assign", "assign"),
            ("div", "div"),
            ("max", "max"),
            ("min", "min"),
            ("minus", "minus"),
            ("mult", "mult"),
            ("or", "or"),
            ("sum", "sum"),
            ("sumLong", "sumLong"),
        ],
        EnumKind::Pick => &[
            ("any", "any"),
            ("none", "none"),
            ("unproductive", "unproductive"),
        ],
        EnumKind::Merge => &[
            ("onCreate", "onCreate"),
            ("onMatch", "onMatch"),
            ("outV", "outV"),
            ("inV", "inV"),
        ],
        EnumKind::DT => &[
            ("second", "second"),
            ("minute", "minute"),
            ("hour", "hour"),
            ("day", "day"),
        ],
        EnumKind::Scope => &[("local", "local"), ("global", "global")],
        EnumKind::Barrier => &[("normSack", "normSack")],
        EnumKind::GType => &[
            ("BIGDECIMAL", "BIGDECIMAL"),
            ("BIGINT", "BIGINT"),
            ("BINARY", "BINARY"),
            ("BOOLEAN", "BOOLEAN"),
            ("BYTE", "BYTE"),
            ("CHAR", "CHAR"),
            ("DATETIME", "DATETIME"),
            ("DOUBLE", "DOUBLE"),
            ("DURATION", "DURATION"),
            ("EDGE", "EDGE"),
            ("FLOAT", "FLOAT"),
            ("GRAPH", "GRAPH"),
            ("INT", "INT"),
            ("LIST", "LIST"),
            ("LONG", "LONG"),
            ("MAP", "MAP"),
            ("NULL", "NULL"),
            ("NUMBER", "NUMBER"),
            ("PATH", "PATH"),
            ("PROPERTY", "PROPERTY"),
            ("SET", "SET"),
            ("SHORT", "SHORT"),
            ("STRING", "STRING"),
            ("TREE", "TREE"),
            ("UUID", "UUID"),
            ("VERTEX", "VERTEX"),
            ("VPROPERTY", "VPROPERTY"),
        ],
    }
}

/// The enum a qualifier names (`T`, `Order`, ...), if any.
pub(crate) fn enum_kind(qualifier: &str) -> Option<EnumKind> {
    Some(match qualifier {
        "T" => EnumKind::T,
        "Order" => EnumKind::Order,
        "Direction" => EnumKind::Direction,
        "Cardinality" => EnumKind::Cardinality,
        "Column" => EnumKind::Column,
        "Pop" => EnumKind::Pop,
        "Operator" => EnumKind::Operator,
        "Pick" => EnumKind::Pick,
        "Merge" => EnumKind::Merge,
        "DT" => EnumKind::DT,
        "Scope" => EnumKind::Scope,
        "Barrier" => EnumKind::Barrier,
        "GType" => EnumKind::GType,
        _ => return None,
    })
}

/// Enums whose members may be written without their qualifier (`desc`, `local`, ...).
/// Their short names are all distinct.
const SHORT_FORM_KINDS: [EnumKind; 12] = [
    EnumKind::T,
    EnumKind::Order,
    EnumKind::Direction,
    EnumKind::Cardinality,
    EnumKind::Column,
    EnumKind::Pop,
    EnumKind::Operator,
    EnumKind::Pick,
    EnumKind::Merge,
    EnumKind::DT,
    EnumKind::Scope,
    EnumKind::Barrier,
];

/// The canonical member for a written name of `kind`.
pub(crate) fn enum_member(kind: EnumKind, name: &str) -> Option<&'static str> {
    enum_members(kind)
        .iter()
        .find(|(written, _)| *written == name)
        .map(|(_, canonical)| *canonical)
}

/// A bare token (`desc`, `local`, `id`, ...): its enum and canonical name.
pub(crate) fn short_form(name: &str) -> Option<(EnumKind, &'static str)> {
    SHORT_FORM_KINDS
        .iter()
        .find_map(|kind| enum_member(*kind, name).map(|c| (*kind, c)))
}

/// Qualified constants that are plain values in Java (`WithOptions.tokens`, `IO.reader`, ...).
pub(crate) fn constant(qualifier: &str, name: &str) -> Option<Value> {
    let s = |x: &str| Some(Value::str(x));
    match (qualifier, name) {
        ("WithOptions", "tokens") => s("~tinkerpop.valueMap.tokens"),
        ("WithOptions", "none") => Some(Value::Int(0)),
        ("WithOptions", "ids") => Some(Value::Int(1)),
        ("WithOptions", "labels") => Some(Value::Int(2)),
        ("WithOptions", "keys") => Some(Value::Int(4)),
        ("WithOptions", "values") => Some(Value::Int(8)),
        ("WithOptions", "all") => Some(Value::Int(15)),
        ("WithOptions", "indexer") => s("~tinkerpop.index.indexer"),
        ("WithOptions", "list") => Some(Value::Int(0)),
        ("WithOptions", "map") => Some(Value::Int(1)),
        ("IO", "reader") => s("~tinkerpop.io.reader"),
        ("IO", "writer") => s("~tinkerpop.io.writer"),
        ("IO", "gryo") => s("gryo"),
        ("IO", "graphson") => s("graphson"),
        ("IO", "graphml") => s("graphml"),
        ("ConnectedComponent", "component") => {
            s("gremlin.connectedComponentVertexProgram.component")
        }
        ("ConnectedComponent", "edges") => s("~tinkerpop.connectedComponent.edges"),
        ("ConnectedComponent", "propertyName") => s("~tinkerpop.connectedComponent.propertyName"),
        ("PageRank", "edges") => s("~tinkerpop.pageRank.edges"),
        ("PageRank", "times") => s("~tinkerpop.pageRank.times"),
        ("PageRank", "propertyName") => s("~tinkerpop.pageRank.propertyName"),
        ("PeerPressure", "edges") => s("~tinkerpop.peerPressure.edges"),
        ("PeerPressure", "times") => s("~tinkerpop.peerPressure.times"),
        ("PeerPressure", "propertyName") => s("~tinkerpop.peerPressure.propertyName"),
        ("ShortestPath", "target") => s("~tinkerpop.shortestPath.target"),
        ("ShortestPath", "edges") => s("~tinkerpop.shortestPath.edges"),
        ("ShortestPath", "distance") => s("~tinkerpop.shortestPath.distance"),
        ("ShortestPath", "maxDistance") => s("~tinkerpop.shortestPath.maxDistance"),
        ("ShortestPath", "includeEdges") => s("~tinkerpop.shortestPath.includeEdges"),
        _ => None,
    }
}

/// Qualifiers that [`constant`] knows.
pub(crate) fn is_constant_qualifier(q: &str) -> bool {
    matches!(
        q,
        "WithOptions" | "IO" | "ConnectedComponent" | "PageRank" | "PeerPressure" | "ShortestPath"
    )
}

/// `P` predicate names (`P.x(...)` and bare `x(...)`).
pub(crate) const P_NAMES: &[&str] = &[
    "eq", "neq", "lt", "lte", "gt", "gte", "inside", "outside", "between", "within", "without",
    "not", "typeOf",
];

/// `TextP` predicate names.
pub(crate) const TEXT_P_NAMES: &[&str] = &[
    "containing",
    "notContaining",
    "startingWith",
    "notStartingWith",
    "endingWith",
    "notEndingWith",
    "regex",
    "notRegex",
];

/// The predicate `negate()` gives for a simple predicate name, if it is one.
pub(crate) fn negated_name(name: &str) -> Option<&'static str> {
    Some(match name {
        "eq" => "neq",
        "neq" => "eq",
        "lt" => "gte",
        "gte" => "lt",
        "gt" => "lte",
        "lte" => "gt",
        "within" => "without",
        "without" => "within",
        "containing" => "notContaining",
        "notContaining" => "containing",
        "startingWith" => "notStartingWith",
        "notStartingWith" => "startingWith",
        "endingWith" => "notEndingWith",
        "notEndingWith" => "endingWith",
        "regex" => "notRegex",
        "notRegex" => "regex",
        _ => return None,
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn num(&mut self, min_digits: usize, max_digits: usize) -> Option<u32> {
        let start = self.i;
        let mut v: u32 = 0;
        while self.i - start < max_digits {
            match self.s.get(self.i) {
                Some(b) if b.is_ascii_digit() => {
                    v = v * 10 + u32::from(b - b'0');
                    self.i += 1;
                }
                _ => break,
            }
        }
        (self.i - start >= min_digits).then_some(v)
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
}

/// Parses the ISO-8601 forms TinkerPop's `DatetimeHelper.parse` accepts: `2023-08`,
/// `2023-08-02`, `2023-08-02T10:11`, `2023-08-02T10:11:12.345`, the last three optionally
/// followed by `Z`, `+01:00`, `+0100`, `+01`, `+01:00:30` or `+010030`. No offset means UTC;
/// a given offset is kept (Java's `OffsetDateTime`).
pub(crate) fn parse_datetime(text: &str) -> Option<DateTime> {
    let mut c = Cursor {
        s: text.trim().as_bytes(),
        i: 0,
    };
    let negative_year = c.eat(b'-');
    if !negative_year {
        c.eat(b'+');
    }
    let year = i64::from(c.num(4, 9)?);
    let year = if negative_year { -year } else { year };
    if !c.eat(b'-') {
        return None;
    }
    let month_at = c.i;
    let month = c.num(1, 2)?;
    if c.i == c.s.len() {
        // Year-month only (`2023-8`): the first of the month, UTC midnight.
        if !(1..=12).contains(&month) {
            return None;
        }
        return Some(DateTime {
            epoch_seconds: days_from_civil(year, month, 1) * 86_400,
            nanos: 0,
            offset_seconds: 0,
        });
    }
    if c.i - month_at != 2 || !c.eat(b'-') {
        return None;
    }
    let day = c.num(2, 2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let (mut hour, mut minute, mut second, mut nanos) = (0u32, 0u32, 0u32, 0u32);
    if c.eat(b'T') || c.eat(b't') || c.eat(b' ') {
        hour = c.num(2, 2)?;
        if !c.eat(b':') {
            return None;
        }
        minute = c.num(2, 2)?;
        if c.eat(b':') {
            second = c.num(2, 2)?;
            if c.eat(b'.') || c.eat(b',') {
                let start = c.i;
                let frac = c.num(1, 9)?;
                let digits = c.i - start;
                nanos = frac * 10u32.pow(u32::try_from(9 - digits).ok()?);
            }
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
    }
    let mut offset: i32 = 0;
    match c.peek() {
        None => {}
        Some(b'Z' | b'z') => {
            c.i += 1;
        }
        Some(sign @ (b'+' | b'-')) => {
            c.i += 1;
            let oh = c.num(2, 2)?;
            let (om, os) = if c.eat(b':') {
                let om = c.num(2, 2)?;
                let os = if c.eat(b':') { c.num(2, 2)? } else { 0 };
                (om, os)
            } else {
                let om = c.num(2, 2).unwrap_or(0);
                (om, c.num(2, 2).unwrap_or(0))
            };
            if oh > 18 || om > 59 || os > 59 {
                return None;
            }
            let total = i32::try_from(oh * 3600 + om * 60 + os).ok()?;
            if total > 18 * 3600 {
                return None;
            }
            offset = if sign == b'-' { -total } else { total };
        }
        Some(_) => return None,
    }
    if c.i != c.s.len() {
        return None;
    }
    let local = days_from_civil(year, month, day) * 86_400
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + i64::from(second);
    Some(DateTime {
        epoch_seconds: local - i64::from(offset),
        nanos,
        offset_seconds: offset,
    })
}

/// The current time at UTC (`datetime()` without an argument).
pub(crate) fn now() -> DateTime {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    DateTime {
        epoch_seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: d.subsec_nanos(),
        offset_seconds: 0,
    }
}

/// A random version-4 UUID (`UUID()` without an argument). Randomness comes from the standard
/// library's randomly keyed hasher, mixed with the clock and a process-wide counter.
pub(crate) fn random_uuid() -> Uuid {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let state = std::collections::hash_map::RandomState::new();
    let half = |salt: u64| {
        let mut h = state.build_hasher();
        h.write_u64(salt);
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        h.finish()
    };
    let hi = half(1).to_be_bytes();
    let lo = half(2).to_be_bytes();
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&hi);
    b[8..].copy_from_slice(&lo);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Uuid(b)
}
