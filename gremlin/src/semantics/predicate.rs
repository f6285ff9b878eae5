//! `P` and `TextP` predicates evaluated with Gremlin semantics, to a [`Ternary`].
//!
//! - `eq`/`neq`/`within`/`without` use [`compare::equals`] (never an error).
//! - `lt`/`lte`/`gt`/`gte` use [`compare::compare`]; incomparable pairs are `Error`.
//! - `inside(a,b)` = `gt(a) and lt(b)`, `outside(a,b)` = `lt(a) or gt(b)`,
//!   `between(a,b)` = `gte(a) and lt(b)`, all in ternary logic.
//! - `and`/`or`/`not` combine in ternary logic (`not(Error)` is `Error`).
//! - TextP predicates on a non-string value are `Error` (TinkerPop raises a type error).
//! - `regex`/`notRegex` use the `regex` crate with `find` semantics (a match anywhere, as
//!   Java's `Matcher.find()`). [`java_regex_to_rust`] first rewrites the Java-only syntax
//!   (`\uXXXX`, `\Q...\E`, ASCII-only `\d \s \w` and their negations). Still different from
//!   `java.util.regex`: backreferences, look-around, possessive quantifiers and atomic groups
//!   are rejected with an error (the regex crate guarantees linear-time matching instead);
//!   `.` excludes only `\n` (Java also excludes `\r`, `\u0085`, `\u2028`, `\u2029`), and `$`
//!   without `(?m)` matches only at the very end (Java also before a final line terminator).
//! - `typeOf(GType | name)` tests the value's runtime type.

use crate::value::{EnumKind, Predicate, Value};

use super::compare::{self, Comparison, Ternary};
use super::SemanticsError;

/// Nesting limit for `and`/`or`/`not` predicates.
pub const DEPTH_MAX: usize = 64;
/// Compiled size limit for `regex` patterns, in bytes.
pub const REGEX_SIZE_BYTES_MAX: usize = 1 << 20;

/// Evaluates predicate `p` against value `v` (compiles it first; a step that tests many
/// values should [`compile`] once and call [`CompiledP::test`]).
pub fn test(p: &Predicate, v: &Value) -> Result<Ternary, SemanticsError> {
    Ok(compile(p)?.test(v))
}

/// A text predicate's operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextOp {
    Containing,
    StartingWith,
    EndingWith,
}

/// A predicate checked and prepared for repeated evaluation (regexes compiled, arguments
/// validated, `typeOf` names resolved).
#[derive(Clone, Debug)]
pub enum CompiledP {
    Eq(Value),
    Neq(Value),
    Lt(Value),
    Lte(Value),
    Gt(Value),
    Gte(Value),
    /// `gt(a) and lt(b)`.
    Inside(Value, Value),
    /// `lt(a) or gt(b)`.
    Outside(Value, Value),
    /// `gte(a) and lt(b)`.
    Between(Value, Value),
    Within(Vec<Value>),
    Without(Vec<Value>),
    Not(Box<CompiledP>),
    And(Vec<CompiledP>),
    Or(Vec<CompiledP>),
    TypeOf(TypeName),
    /// A text predicate; `negate` for the `not...` forms; `None` argument is a null argument
    /// (always `Error`).
    Text {
        op: TextOp,
        arg: Option<std::sync::Arc<str>>,
        negate: bool,
    },
    Regex {
        regex: regex::Regex,
        negate: bool,
    },
}

impl CompiledP {
    /// Evaluates against `v`.
    pub fn test(&self, v: &Value) -> Ternary {
        match self {
            CompiledP::Eq(a) => Ternary::from_bool(compare::equals(v, a)),
            CompiledP::Neq(a) => Ternary::from_bool(!compare::equals(v, a)),
            CompiledP::Lt(a) => cmp_test(v, a, lt),
            CompiledP::Lte(a) => cmp_test(v, a, lte),
            CompiledP::Gt(a) => cmp_test(v, a, gt),
            CompiledP::Gte(a) => cmp_test(v, a, gte),
            CompiledP::Inside(a, b) => cmp_test(v, a, gt).and(cmp_test(v, b, lt)),
            CompiledP::Outside(a, b) => cmp_test(v, a, lt).or(cmp_test(v, b, gt)),
            CompiledP::Between(a, b) => cmp_test(v, a, gte).and(cmp_test(v, b, lt)),
            CompiledP::Within(items) => {
                Ternary::from_bool(items.iter().any(|a| compare::equals(v, a)))
            }
            CompiledP::Without(items) => {
                Ternary::from_bool(!items.iter().any(|a| compare::equals(v, a)))
            }
            CompiledP::Not(p) => p.test(v).not(),
            CompiledP::And(ps) => {
                let mut acc = Ternary::True;
                for p in ps {
                    acc = acc.and(p.test(v));
                    if acc == Ternary::False {
                        break;
                    }
                }
                acc
            }
            CompiledP::Or(ps) => {
                let mut acc = Ternary::False;
                for p in ps {
                    acc = acc.or(p.test(v));
                    if acc == Ternary::True {
                        break;
                    }
                }
                acc
            }
            CompiledP::TypeOf(t) => Ternary::from_bool(t.matches(v)),
            CompiledP::Text { op, arg, negate } => {
                let (Value::String(s), Some(arg)) = (v, arg) else {
                    return Ternary::Error;
                };
                let hit = match op {
                    TextOp::Containing => s.contains(&**arg),
                    TextOp::StartingWith => s.starts_with(&**arg),
                    TextOp::EndingWith => s.ends_with(&**arg),
                };
                Ternary::from_bool(hit != *negate)
            }
            CompiledP::Regex { regex, negate } => match v {
                Value::String(s) => Ternary::from_bool(regex.is_match(s) != *negate),
                _ => Ternary::Error,
            },
        }
    }
}

/// Compiles a predicate: checks names and arities, compiles regexes, resolves `typeOf`.
pub fn compile(p: &Predicate) -> Result<CompiledP, SemanticsError> {
    compile_depth(p, 0)
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
/// collection argument (List, Set or BulkSet, e.g. a resolved `aggregate()` side effect).
pub fn collection_args(p: &Predicate) -> Vec<&Value> {
    if let [only] = p.args.as_slice() {
        match only {
            Value::List(l) => return l.iter().collect(),
            Value::Set(s) => return s.iter().collect(),
            Value::BulkSet(b) => return b.iter().map(|(item, _)| item).collect(),
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

/// A bytecode `Binding` argument stands for its value.
fn unbind(v: &Value) -> Value {
    match v {
        Value::Binding(b) => b.1.clone(),
        other => other.clone(),
    }
}

fn compile_depth(p: &Predicate, depth: usize) -> Result<CompiledP, SemanticsError> {
    if depth > DEPTH_MAX {
        return Err(SemanticsError::illegal_argument(
            "Predicate nesting is too deep",
        ));
    }
    let one = |i: usize| arg(p, i).map(unbind);
    Ok(match &*p.name {
        "eq" => CompiledP::Eq(one(0)?),
        "neq" => CompiledP::Neq(one(0)?),
        "lt" => CompiledP::Lt(one(0)?),
        "lte" => CompiledP::Lte(one(0)?),
        "gt" => CompiledP::Gt(one(0)?),
        "gte" => CompiledP::Gte(one(0)?),
        "inside" => CompiledP::Inside(one(0)?, one(1)?),
        "outside" => CompiledP::Outside(one(0)?, one(1)?),
        "between" => CompiledP::Between(one(0)?, one(1)?),
        "within" => CompiledP::Within(collection_args(p).into_iter().map(unbind).collect()),
        "without" => CompiledP::Without(collection_args(p).into_iter().map(unbind).collect()),
        "not" => CompiledP::Not(Box::new(compile_depth(
            as_predicate(arg(p, 0)?)?,
            depth + 1,
        )?)),
        "and" | "or" => {
            let mut parts = Vec::with_capacity(p.args.len());
            for a in &p.args {
                parts.push(compile_depth(as_predicate(a)?, depth + 1)?);
            }
            if parts.is_empty() {
                return Err(SemanticsError::illegal_argument(format!(
                    "The predicate {}() requires predicates to combine",
                    p.name
                )));
            }
            if &*p.name == "and" {
                CompiledP::And(parts)
            } else {
                CompiledP::Or(parts)
            }
        }
        "typeOf" => CompiledP::TypeOf(TypeName::resolve(arg(p, 0)?)?),
        "containing" | "notContaining" | "startingWith" | "notStartingWith" | "endingWith"
        | "notEndingWith" | "regex" | "notRegex" => compile_text(p)?,
        other => {
            return Err(SemanticsError::illegal_argument(format!(
                "Unknown predicate: {other}"
            )))
        }
    })
}

fn compile_text(p: &Predicate) -> Result<CompiledP, SemanticsError> {
    let text = match arg(p, 0)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => {
            return Err(SemanticsError::illegal_argument(format!(
                "TextP.{}() requires a String argument, got {}",
                p.name,
                other.type_name()
            )))
        }
    };
    let (op, negate) = match &*p.name {
        "containing" => (TextOp::Containing, false),
        "notContaining" => (TextOp::Containing, true),
        "startingWith" => (TextOp::StartingWith, false),
        "notStartingWith" => (TextOp::StartingWith, true),
        "endingWith" => (TextOp::EndingWith, false),
        "notEndingWith" => (TextOp::EndingWith, true),
        "regex" | "notRegex" => {
            let pattern = text.ok_or_else(|| {
                SemanticsError::illegal_argument("TextP.regex() requires a pattern")
            })?;
            return Ok(CompiledP::Regex {
                regex: compile_regex(&pattern)?,
                negate: &*p.name == "notRegex",
            });
        }
        other => {
            return Err(SemanticsError::illegal_argument(format!(
                "Unknown text predicate: {other}"
            )))
        }
    };
    Ok(CompiledP::Text {
        op,
        arg: text,
        negate,
    })
}

/// Rewrites Java `Pattern` syntax the `regex` crate spells differently: `\uXXXX` becomes
/// `\x{XXXX}`, `\Q...\E` becomes escaped literal text, and `\d \s \w \D \S \W` become
/// their ASCII classes (Java's defaults; the regex crate's are Unicode).
pub fn java_regex_to_rust(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len());
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c != '\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let Some(&next) = chars.get(i + 1) else {
            out.push(c);
            break;
        };
        match next {
            'u' if chars
                .get(i + 2..i + 6)
                .is_some_and(|h| h.iter().all(|c| c.is_ascii_hexdigit())) =>
            {
                let hex: String = chars[i + 2..i + 6].iter().collect();
                out.push_str(&format!("\\x{{{hex}}}"));
                i += 6;
            }
            'Q' => {
                let mut j = i + 2;
                let mut literal = String::new();
                while j < chars.len() && !(chars[j] == '\\' && chars.get(j + 1) == Some(&'E')) {
                    literal.push(chars[j]);
                    j += 1;
                }
                out.push_str(&regex::escape(&literal));
                i = if j < chars.len() { j + 2 } else { j };
            }
            'd' => {
                out.push_str("[0-9]");
                i += 2;
            }
            'D' => {
                out.push_str("[^0-9]");
                i += 2;
            }
            's' => {
                out.push_str("[\\t\\n\\x0B\\f\\r ]");
                i += 2;
            }
            'S' => {
                out.push_str("[^\\t\\n\\x0B\\f\\r ]");
                i += 2;
            }
            'w' => {
                out.push_str("[a-zA-Z_0-9]");
                i += 2;
            }
            'W' => {
                out.push_str("[^a-zA-Z_0-9]");
                i += 2;
            }
            other => {
                out.push('\\');
                out.push(other);
                i += 2;
            }
        }
    }
    out
}

/// Compiles a Java-style regex for `TextP.regex` (see the module docs for differences).
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, SemanticsError> {
    regex::RegexBuilder::new(&java_regex_to_rust(pattern))
        .size_limit(REGEX_SIZE_BYTES_MAX)
        .build()
        .map_err(|e| SemanticsError::illegal_argument(format!("Invalid regex '{pattern}': {e}")))
}

/// A runtime type `typeOf` tests for: a `GType` constant or a registered type name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeName {
    Null,
    Boolean,
    Byte,
    Short,
    Int,
    Long,
    BigInt,
    Float,
    Double,
    BigDecimal,
    Number,
    Char,
    String,
    Uuid,
    DateTime,
    Date,
    Duration,
    Binary,
    List,
    Set,
    Map,
    Tree,
    Path,
    Vertex,
    Edge,
    VertexProperty,
    Property,
    Element,
    Graph,
    Object,
}

impl TypeName {
    /// From a `GType` enum value, a type name string (`"String"`, `"java.lang.String"`), or a
    /// `Class`. Unknown names are an error ("... is not a registered type").
    pub fn resolve(t: &Value) -> Result<TypeName, SemanticsError> {
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
        use TypeName as T;
        Ok(match simple {
            "NULL" => T::Null,
            "BOOLEAN" | "Boolean" => T::Boolean,
            "BYTE" | "Byte" => T::Byte,
            "SHORT" | "Short" => T::Short,
            "INT" | "Integer" => T::Int,
            "LONG" | "Long" => T::Long,
            "BIGINT" | "BigInteger" => T::BigInt,
            "FLOAT" | "Float" => T::Float,
            "DOUBLE" | "Double" => T::Double,
            "BIGDECIMAL" | "BigDecimal" => T::BigDecimal,
            "NUMBER" | "Number" => T::Number,
            "CHAR" | "Character" => T::Char,
            "STRING" | "String" => T::String,
            "UUID" => T::Uuid,
            "DATETIME" | "OffsetDateTime" => T::DateTime,
            "Date" => T::Date,
            "DURATION" | "Duration" => T::Duration,
            "BINARY" | "ByteBuffer" => T::Binary,
            "LIST" | "List" => T::List,
            "SET" | "Set" => T::Set,
            "MAP" | "Map" => T::Map,
            "TREE" | "Tree" => T::Tree,
            "PATH" | "Path" => T::Path,
            "VERTEX" | "Vertex" => T::Vertex,
            "EDGE" | "Edge" => T::Edge,
            "VPROPERTY" | "VertexProperty" => T::VertexProperty,
            "PROPERTY" | "Property" => T::Property,
            "ELEMENT" | "Element" => T::Element,
            "GRAPH" | "Graph" => T::Graph,
            "Object" => T::Object,
            _ => {
                return Err(SemanticsError::illegal_argument(format!(
                    "{name} is not a registered type"
                )))
            }
        })
    }

    /// Whether `v` is an instance of this type.
    pub fn matches(self, v: &Value) -> bool {
        use TypeName as T;
        use Value as V;
        match self {
            T::Null => matches!(v, V::Null),
            T::Boolean => matches!(v, V::Bool(_)),
            T::Byte => matches!(v, V::Byte(_)),
            T::Short => matches!(v, V::Short(_)),
            T::Int => matches!(v, V::Int(_)),
            T::Long => matches!(v, V::Long(_)),
            T::BigInt => matches!(v, V::BigInt(_)),
            T::Float => matches!(v, V::Float(_)),
            T::Double => matches!(v, V::Double(_)),
            T::BigDecimal => matches!(v, V::BigDecimal(_)),
            T::Number => super::number::is_number(v),
            T::Char => matches!(v, V::Char(_)),
            T::String => matches!(v, V::String(_)),
            T::Uuid => matches!(v, V::Uuid(_)),
            T::DateTime => matches!(v, V::DateTime(_)),
            T::Date => matches!(v, V::Date(_)),
            T::Duration => matches!(v, V::Duration(_)),
            T::Binary => matches!(v, V::Binary(_)),
            T::List => matches!(v, V::List(_)),
            T::Set => matches!(v, V::Set(_) | V::BulkSet(_)),
            T::Map => matches!(v, V::Map(_) | V::Tree(_)),
            T::Tree => matches!(v, V::Tree(_)),
            T::Path => matches!(v, V::Path(_)),
            T::Vertex => matches!(v, V::Vertex(_)),
            T::Edge => matches!(v, V::Edge(_)),
            T::VertexProperty => matches!(v, V::VertexProperty(_)),
            T::Property => matches!(v, V::Property(_) | V::VertexProperty(_)),
            T::Element => matches!(v, V::Vertex(_) | V::Edge(_) | V::VertexProperty(_)),
            T::Graph => matches!(v, V::Graph(_)),
            T::Object => !matches!(v, V::Null),
        }
    }
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
    fn nested_connectives_from_has_label_feature() {
        // HasLabel.feature: has("age", P.not(P.lte(10).and(P.not(P.between(11, 20))))
        //   .and(P.lt(29).or(P.eq(35)))) keeps vadas (27) and peter (35).
        let pv = |x: Predicate| Value::P(Arc::new(x));
        let inner = p(
            "and",
            vec![
                pv(p("lte", vec![Value::Int(10)])),
                pv(p(
                    "not",
                    vec![pv(p("between", vec![Value::Int(11), Value::Int(20)]))],
                )),
            ],
        );
        let pred = p(
            "and",
            vec![
                pv(p("not", vec![pv(inner)])),
                pv(p(
                    "or",
                    vec![
                        pv(p("lt", vec![Value::Int(29)])),
                        pv(p("eq", vec![Value::Int(35)])),
                    ],
                )),
            ],
        );
        let c = compile(&pred).unwrap();
        let kept: Vec<i32> = [29, 27, 32, 35]
            .into_iter()
            .filter(|a| c.test(&Value::Int(*a)).is_true())
            .collect();
        assert_eq!(kept, vec![27, 35]);
        assert!(compile(&p("and", vec![])).is_err());
        assert!(compile(&p("lt", vec![])).is_err());
        assert!(compile(&p("bogus", vec![Value::Int(1)])).is_err());
    }

    /// Comparability.feature, the `is(P.xx(arg))` scenarios: (value, predicate, arg, passes).
    #[test]
    fn comparability_feature_table() {
        let nan = Value::Double(f64::NAN);
        let inf = Value::Double(f64::INFINITY);
        let ninf = Value::Double(f64::NEG_INFINITY);
        let one = Value::Double(1.0);
        let foo = Value::str("foo");
        let null = Value::Null;
        let cases: Vec<(&Value, &str, &Value, bool)> = vec![
            (&null, "eq", &null, true),
            (&null, "neq", &null, false),
            (&null, "lt", &null, false),
            (&null, "lte", &null, true),
            (&null, "gt", &null, false),
            (&null, "gte", &null, true),
            (&nan, "eq", &nan, false),
            (&nan, "neq", &nan, true),
            (&nan, "lt", &nan, false),
            (&nan, "lte", &nan, false),
            (&nan, "gt", &nan, false),
            (&nan, "gte", &nan, false),
            (&one, "eq", &nan, false),
            (&one, "neq", &nan, true),
            (&one, "lt", &nan, false),
            (&one, "lte", &nan, false),
            (&one, "gt", &nan, false),
            (&one, "gte", &nan, false),
            (&nan, "eq", &null, false),
            (&nan, "neq", &null, true),
            (&nan, "lt", &null, false),
            (&nan, "lte", &null, false),
            (&nan, "gt", &null, false),
            (&nan, "gte", &null, false),
            (&foo, "eq", &one, false),
            (&foo, "neq", &one, true),
            (&foo, "lt", &one, false),
            (&foo, "lte", &one, false),
            (&foo, "gt", &one, false),
            (&foo, "gte", &one, false),
            (&one, "eq", &foo, false),
            (&one, "neq", &foo, true),
            (&one, "lt", &foo, false),
            (&one, "lte", &foo, false),
            (&one, "gt", &foo, false),
            (&one, "gte", &foo, false),
            (&inf, "eq", &inf, true),
            (&inf, "neq", &inf, false),
            (&ninf, "eq", &ninf, true),
            (&ninf, "neq", &ninf, false),
            (&inf, "gt", &ninf, true),
            (&inf, "lt", &ninf, false),
            (&ninf, "lt", &inf, true),
            (&ninf, "gt", &inf, false),
        ];
        for (v, name, a, passes) in cases {
            let got = test(&p(name, vec![a.clone()]), v).unwrap();
            assert_eq!(got.is_true(), passes, "{v:?} {name} {a:?} gave {got:?}");
        }
        // The AND/OR scenarios: is(P.eq(1).and(P.lt(NaN))) etc. on 1d.
        let pv = |x: Predicate| Value::P(Arc::new(x));
        let t = || pv(p("eq", vec![Value::Int(1)]));
        let f = || pv(p("neq", vec![Value::Int(1)]));
        let e = || pv(p("lt", vec![nan.clone()]));
        let conj = |name: &str, a: Value, b: Value| test(&p(name, vec![a, b]), &one).unwrap();
        assert!(!conj("and", t(), e()).is_true());
        assert!(!conj("and", e(), t()).is_true());
        assert!(conj("or", t(), e()).is_true());
        assert!(conj("or", e(), t()).is_true());
        assert!(!conj("or", f(), e()).is_true());
        assert!(!conj("or", e(), e()).is_true());
        assert_eq!(conj("and", f(), e()), Ternary::False);
        assert_eq!(conj("or", f(), e()), Ternary::Error);
    }

    #[test]
    fn bindings_stand_for_their_values() {
        let bound = Value::Binding(Arc::new((Arc::from("x"), Value::Int(29))));
        assert_eq!(
            test(&p("eq", vec![bound.clone()]), &Value::Long(29)),
            Ok(Ternary::True)
        );
        assert_eq!(
            test(&p("within", vec![bound]), &Value::Int(29)),
            Ok(Ternary::True)
        );
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
        // All.feature/Any.feature: startingWith on a null element is an ERROR.
        assert_eq!(
            test(&tp("startingWith", "a"), &Value::Null),
            Ok(Ternary::Error)
        );
        assert_eq!(
            test(&tp("notStartingWith", "a"), &Value::Null),
            Ok(Ternary::Error)
        );
        let compiled = compile(&tp("notRegex", "^mar")).unwrap();
        assert_eq!(compiled.test(&Value::str("josh")), Ternary::True);
        assert_eq!(compiled.test(&Value::str("marko")), Ternary::False);
        // Has.feature g_V_hasXname_regexXTinkerUnicodeXX: Java's \u escape.
        let name = Value::str("Apache TinkerPop\u{A9}");
        assert_eq!(
            test(&tp("regex", "Tinker.*\\u00A9"), &name),
            Ok(Ternary::True)
        );
        assert_eq!(
            test(&tp("regex", "\\Qa.b\\E"), &Value::str("xa.by")),
            Ok(Ternary::True)
        );
        assert_eq!(
            test(&tp("regex", "\\Qa.b\\E"), &Value::str("xacby")),
            Ok(Ternary::False)
        );
        // Java's \d is ASCII-only: Arabic-Indic digits do not match.
        assert_eq!(
            test(&tp("regex", "^\\d+$"), &Value::str("\u{0661}")),
            Ok(Ternary::False)
        );
        assert_eq!(
            test(&tp("regex", "^[\\d]+$"), &Value::str("42")),
            Ok(Ternary::True)
        );
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
