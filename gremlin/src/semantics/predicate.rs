//! `P` and `TextP` predicates evaluated with Gremlin semantics, to a [`Ternary`].
//!
//! - `eq`/`neq`/`within`/`without` use [`compare::equals`] (never an error).
//! - `lt`/`lte`/`gt`/`gte` use [`compare::compare`]; incomparable pairs are `Error`.
//! - `inside(a,b)` = `gt(a) and lt(b)`, `outside(a,b)` = `lt(a) or gt(b)`,
//!   `between(a,b)` = `gte(a) and lt(b)`, all in ternary logic.
//! - `and`/`or`/`not` combine in ternary logic (`not(Error)` is `Error`).
//! - TextP predicates on a non-string value are `Error` (TinkerPop raises a type error).
//! - `regex`/`notRegex` use the `regex` crate with `find` semantics (a match anywhere, as
//!   Java's `Matcher.find()`). Differences from `java.util.regex`: no backreferences or
//!   look-around (such patterns are rejected with an error), and `\s`, `\w`, `\d` are
//!   Unicode-aware in Rust but ASCII-only in Java by default.
//! - `typeOf(GType | name)` tests the value's runtime type.

use crate::value::{EnumKind, Predicate, Value};

use super::compare::{self, Comparison, Ternary};
use super::SemanticsError;

/// Nesting limit for `and`/`or`/`not` predicates.
pub const DEPTH_MAX: usize = 64;
/// Compiled size limit for `regex` patterns, in bytes.
pub const REGEX_SIZE_BYTES_MAX: usize = 1 << 20;

/// Evaluates predicate `p` against value `v`.
pub fn test(p: &Predicate, v: &Value) -> Result<Ternary, SemanticsError> {
    test_depth(p, v, 0)
}

fn arg(p: &Predicate, i: usize) -> Result<&Value, SemanticsError> {
    p.args.get(i).ok_or_else(|| {
        SemanticsError::illegal_argument(format!(
            "The predicate {}() requires {} argument(s)",
            p.name,
            i + 1
        ))
    })
}

fn as_predicate(v: &Value) -> Result<&Predicate, SemanticsError> {
    match v {
        Value::P(p) => Ok(p),
        other => Err(SemanticsError::illegal_argument(format!(
            "Expected a predicate but got {}",
            other.type_name()
        ))),
    }
}

/// The values a `within`/`without` tests against: the arguments, or the elements of a single
/// collection argument.
pub fn collection_args(p: &Predicate) -> Vec<&Value> {
    if p.args.len() == 1 {
        match &p.args[0] {
            Value::List(l) => return l.iter().collect(),
            Value::Set(s) => return s.iter().collect(),
            _ => {}
        }
    }
    p.args.iter().collect()
}

fn cmp_test(v: &Value, a: &Value, ok: fn(Comparison) -> bool) -> Ternary {
    match compare::compare(v, a) {
        Comparison::Incomparable => Ternary::Error,
        c => Ternary::from_bool(ok(c)),
    }
}

fn lt(c: Comparison) -> bool {
    c == Comparison::Less
}
fn lte(c: Comparison) -> bool {
    matches!(c, Comparison::Less | Comparison::Equal)
}
fn gt(c: Comparison) -> bool {
    c == Comparison::Greater
}
fn gte(c: Comparison) -> bool {
    matches!(c, Comparison::Greater | Comparison::Equal)
}

fn test_depth(p: &Predicate, v: &Value, depth: usize) -> Result<Ternary, SemanticsError> {
    if depth > DEPTH_MAX {
        return Err(SemanticsError::illegal_argument(
            "Predicate nesting is too deep",
        ));
    }
    if p.text {
        return text_test(p, v);
    }
    Ok(match &*p.name {
        "eq" => Ternary::from_bool(compare::equals(v, arg(p, 0)?)),
        "neq" => Ternary::from_bool(!compare::equals(v, arg(p, 0)?)),
        "lt" => cmp_test(v, arg(p, 0)?, lt),
        "lte" => cmp_test(v, arg(p, 0)?, lte),
        "gt" => cmp_test(v, arg(p, 0)?, gt),
        "gte" => cmp_test(v, arg(p, 0)?, gte),
        "inside" => cmp_test(v, arg(p, 0)?, gt).and(cmp_test(v, arg(p, 1)?, lt)),
        "outside" => cmp_test(v, arg(p, 0)?, lt).or(cmp_test(v, arg(p, 1)?, gt)),
        "between" => cmp_test(v, arg(p, 0)?, gte).and(cmp_test(v, arg(p, 1)?, lt)),
        "within" => Ternary::from_bool(collection_args(p).iter().any(|a| compare::equals(v, a))),
        "without" => Ternary::from_bool(!collection_args(p).iter().any(|a| compare::equals(v, a))),
        "not" => test_depth(as_predicate(arg(p, 0)?)?, v, depth + 1)?.not(),
        "and" => {
            let mut acc = Ternary::True;
            for a in &p.args {
                acc = acc.and(test_depth(as_predicate(a)?, v, depth + 1)?);
                if acc == Ternary::False {
                    break;
                }
            }
            acc
        }
        "or" => {
            let mut acc = Ternary::False;
            for a in &p.args {
                acc = acc.or(test_depth(as_predicate(a)?, v, depth + 1)?);
                if acc == Ternary::True {
                    break;
                }
            }
            acc
        }
        "typeOf" => Ternary::from_bool(type_of(v, arg(p, 0)?)?),
        "containing" | "notContaining" | "startingWith" | "notStartingWith" | "endingWith"
        | "notEndingWith" | "regex" | "notRegex" => text_test(p, v)?,
        other => {
            return Err(SemanticsError::illegal_argument(format!(
                "Unknown predicate: {other}"
            )))
        }
    })
}

fn text_test(p: &Predicate, v: &Value) -> Result<Ternary, SemanticsError> {
    let needle = match arg(p, 0)? {
        Value::String(s) => s.clone(),
        Value::Null => return Ok(Ternary::Error),
        other => {
            return Err(SemanticsError::illegal_argument(format!(
                "TextP.{}() requires a String argument, got {}",
                p.name,
                other.type_name()
            )))
        }
    };
    let s = match v {
        Value::String(s) => s,
        _ => return Ok(Ternary::Error),
    };
    Ok(Ternary::from_bool(match &*p.name {
        "containing" => s.contains(&*needle),
        "notContaining" => !s.contains(&*needle),
        "startingWith" => s.starts_with(&*needle),
        "notStartingWith" => !s.starts_with(&*needle),
        "endingWith" => s.ends_with(&*needle),
        "notEndingWith" => !s.ends_with(&*needle),
        "regex" => compile_regex(&needle)?.is_match(s),
        "notRegex" => !compile_regex(&needle)?.is_match(s),
        other => {
            return Err(SemanticsError::illegal_argument(format!(
                "Unknown text predicate: {other}"
            )))
        }
    }))
}

/// Compiles a Java-style regex for `TextP.regex` (see the module docs for differences).
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, SemanticsError> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_BYTES_MAX)
        .build()
        .map_err(|e| SemanticsError::illegal_argument(format!("Invalid regex '{pattern}': {e}")))
}

/// The `GType` names and Java class names `typeOf` accepts, tested against a value.
fn type_of(v: &Value, t: &Value) -> Result<bool, SemanticsError> {
    let name: &str = match t {
        Value::Enum(e) if e.kind == EnumKind::GType => &e.name,
        Value::String(s) => s,
        Value::Class(c) => c,
        other => {
            return Err(SemanticsError::illegal_argument(format!(
                "typeOf() requires a GType or a type name, got {}",
                other.type_name()
            )))
        }
    };
    let simple = name.rsplit('.').next().unwrap_or(name);
    use Value as V;
    Ok(match simple {
        "NULL" => matches!(v, V::Null),
        "BOOLEAN" | "Boolean" => matches!(v, V::Bool(_)),
        "BYTE" | "Byte" => matches!(v, V::Byte(_)),
        "SHORT" | "Short" => matches!(v, V::Short(_)),
        "INT" | "Integer" => matches!(v, V::Int(_)),
        "LONG" | "Long" => matches!(v, V::Long(_)),
        "BIGINT" | "BigInteger" => matches!(v, V::BigInt(_)),
        "FLOAT" | "Float" => matches!(v, V::Float(_)),
        "DOUBLE" | "Double" => matches!(v, V::Double(_)),
        "BIGDECIMAL" | "BigDecimal" => matches!(v, V::BigDecimal(_)),
        "NUMBER" | "Number" => super::number::is_number(v),
        "CHAR" | "Character" => matches!(v, V::Char(_)),
        "STRING" | "String" => matches!(v, V::String(_)),
        "UUID" => matches!(v, V::Uuid(_)),
        "DATETIME" | "OffsetDateTime" => matches!(v, V::DateTime(_)),
        "Date" => matches!(v, V::Date(_)),
        "DURATION" | "Duration" => matches!(v, V::Duration(_)),
        "BINARY" | "ByteBuffer" => matches!(v, V::Binary(_)),
        "LIST" | "List" => matches!(v, V::List(_)),
        "SET" | "Set" => matches!(v, V::Set(_) | V::BulkSet(_)),
        "MAP" | "Map" => matches!(v, V::Map(_) | V::Tree(_)),
        "TREE" | "Tree" => matches!(v, V::Tree(_)),
        "PATH" | "Path" => matches!(v, V::Path(_)),
        "VERTEX" | "Vertex" => matches!(v, V::Vertex(_)),
        "EDGE" | "Edge" => matches!(v, V::Edge(_)),
        "VPROPERTY" | "VertexProperty" => matches!(v, V::VertexProperty(_)),
        "PROPERTY" | "Property" => matches!(v, V::Property(_) | V::VertexProperty(_)),
        "ELEMENT" | "Element" => matches!(v, V::Vertex(_) | V::Edge(_) | V::VertexProperty(_)),
        "GRAPH" | "Graph" => matches!(v, V::Graph(_)),
        "Object" => true,
        _ => {
            return Err(SemanticsError::illegal_argument(format!(
                "{name} is not a registered type"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn p(name: &str, args: Vec<Value>) -> Predicate {
        Predicate {
            text: false,
            name: name.into(),
            args,
        }
    }

    fn tp(name: &str, arg: &str) -> Predicate {
        Predicate {
            text: true,
            name: name.into(),
            args: vec![Value::str(arg)],
        }
    }

    #[test]
    fn compare_predicates() {
        assert_eq!(
            test(&p("eq", vec![Value::Long(1)]), &Value::Int(1)),
            Ok(Ternary::True)
        );
        assert_eq!(
            test(&p("gt", vec![Value::Int(30)]), &Value::Double(32.0)),
            Ok(Ternary::True)
        );
        assert_eq!(
            test(&p("lt", vec![Value::Int(30)]), &Value::str("x")),
            Ok(Ternary::Error)
        );
        assert_eq!(
            test(
                &p("neq", vec![Value::Double(f64::NAN)]),
                &Value::Double(f64::NAN)
            ),
            Ok(Ternary::True)
        );
        assert_eq!(
            test(
                &p("between", vec![Value::Int(1), Value::Int(3)]),
                &Value::Int(3)
            ),
            Ok(Ternary::False)
        );
        assert_eq!(
            test(
                &p("inside", vec![Value::Int(1), Value::Int(3)]),
                &Value::Int(2)
            ),
            Ok(Ternary::True)
        );
        assert_eq!(
            test(
                &p("outside", vec![Value::Int(1), Value::Int(3)]),
                &Value::Int(4)
            ),
            Ok(Ternary::True)
        );
        let not_lt = p(
            "not",
            vec![Value::P(Arc::new(p("lt", vec![Value::Int(1)])))],
        );
        assert_eq!(test(&not_lt, &Value::str("x")), Ok(Ternary::Error));
        assert_eq!(test(&not_lt, &Value::Int(5)), Ok(Ternary::True));
    }

    #[test]
    fn within_accepts_args_or_one_list() {
        let w = p("within", vec![Value::Int(1), Value::Int(2)]);
        assert_eq!(test(&w, &Value::Long(2)), Ok(Ternary::True));
        let wl = p(
            "within",
            vec![Value::List(vec![Value::str("a"), Value::str("b")])],
        );
        assert_eq!(test(&wl, &Value::str("b")), Ok(Ternary::True));
        assert_eq!(test(&wl, &Value::str("c")), Ok(Ternary::False));
        let wo = p("without", vec![Value::Int(1)]);
        assert_eq!(test(&wo, &Value::Int(2)), Ok(Ternary::True));
        assert_eq!(
            test(&p("within", vec![]), &Value::Int(2)),
            Ok(Ternary::False)
        );
    }

    #[test]
    fn text_predicates() {
        assert_eq!(
            test(&tp("regex", "^mar"), &Value::str("marko")),
            Ok(Ternary::True)
        );
        assert_eq!(
            test(&tp("notRegex", "^mar"), &Value::str("marko")),
            Ok(Ternary::False)
        );
        assert_eq!(
            test(&tp("regex", "Tinker"), &Value::str("a Tinker b")),
            Ok(Ternary::True)
        );
        assert_eq!(
            test(&tp("containing", "ark"), &Value::str("marko")),
            Ok(Ternary::True)
        );
        assert_eq!(
            test(&tp("endingWith", "ko"), &Value::str("marko")),
            Ok(Ternary::True)
        );
        assert_eq!(
            test(&tp("startingWith", "x"), &Value::Int(1)),
            Ok(Ternary::Error)
        );
        assert!(test(&tp("regex", "("), &Value::str("x")).is_err());
    }

    #[test]
    fn type_of() {
        let gt = |n: &str| {
            Value::Enum(crate::value::EnumValue {
                kind: EnumKind::GType,
                name: n.into(),
            })
        };
        assert_eq!(
            test(&p("typeOf", vec![gt("STRING")]), &Value::str("a")),
            Ok(Ternary::True)
        );
        assert_eq!(
            test(&p("typeOf", vec![gt("INT")]), &Value::Long(1)),
            Ok(Ternary::False)
        );
        assert_eq!(
            test(&p("typeOf", vec![Value::str("String")]), &Value::str("a")),
            Ok(Ternary::True)
        );
        assert!(test(
            &p("typeOf", vec![Value::str("non-registered-Name")]),
            &Value::Int(1)
        )
        .is_err());
    }
}
