//! The machine's seam to value semantics (equality, comparability, orderability, arithmetic,
//! predicates). Minimal local versions until the `semantics` module lands; then these become
//! thin calls into it.

use std::cmp::Ordering;

use crate::error::GremlinError;
use crate::value::{Predicate, Value};

enum Num {
    I(i128),
    F(f64),
}

fn num(v: &Value) -> Option<Num> {
    Some(match v {
        Value::Byte(x) => Num::I(i128::from(*x)),
        Value::Short(x) => Num::I(i128::from(*x)),
        Value::Int(x) => Num::I(i128::from(*x)),
        Value::Long(x) => Num::I(i128::from(*x)),
        Value::Float(x) => Num::F(f64::from(*x)),
        Value::Double(x) => Num::F(*x),
        Value::BigInt(b) => Num::I(i128::try_from(b).ok()?),
        _ => return None,
    })
}

/// Whether a value is a number.
pub fn is_number(v: &Value) -> bool {
    num(v).is_some()
}

fn num_cmp(a: &Num, b: &Num) -> Option<Ordering> {
    match (a, b) {
        (Num::I(x), Num::I(y)) => Some(x.cmp(y)),
        (Num::I(x), Num::F(y)) => (*x as f64).partial_cmp(y),
        (Num::F(x), Num::I(y)) => x.partial_cmp(&(*y as f64)),
        (Num::F(x), Num::F(y)) => x.partial_cmp(y),
    }
}

/// Gremlin equality (`P.eq`): numbers compare by value across types.
pub fn equals(a: &Value, b: &Value) -> bool {
    match (num(a), num(b)) {
        (Some(x), Some(y)) => num_cmp(&x, &y) == Some(Ordering::Equal),
        (None, None) => match (a, b) {
            (Value::List(x), Value::List(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equals(p, q))
            }
            _ => a == b,
        },
        _ => false,
    }
}

/// Gremlin comparability: `None` when the two are not comparable.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return num_cmp(&x, &y);
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Char(x), Value::Char(y)) => Some(x.cmp(y)),
        (Value::Date(x), Value::Date(y)) => Some(x.cmp(y)),
        (Value::DateTime(x), Value::DateTime(y)) => {
            Some((x.epoch_seconds, x.nanos).cmp(&(y.epoch_seconds, y.nanos)))
        }
        (Value::Uuid(x), Value::Uuid(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        v if num(v).is_some() => 2,
        Value::Date(_) | Value::DateTime(_) => 3,
        Value::String(_) | Value::Char(_) => 4,
        Value::Uuid(_) => 5,
        Value::Vertex(_) => 6,
        Value::Edge(_) => 7,
        Value::VertexProperty(_) => 8,
        Value::Property(_) => 9,
        Value::Path(_) => 10,
        Value::Set(_) => 11,
        Value::List(_) => 12,
        Value::Map(_) => 13,
        _ => 14,
    }
}

/// Gremlin orderability: a total order over all values.
pub fn order(a: &Value, b: &Value) -> Ordering {
    let (ra, rb) = (rank(a), rank(b));
    if ra != rb {
        return ra.cmp(&rb);
    }
    if let Some(o) = compare(a, b) {
        return o;
    }
    match (a, b) {
        (Value::Vertex(x), Value::Vertex(y)) => order(&x.id, &y.id),
        (Value::Edge(x), Value::Edge(y)) => order(&x.id, &y.id),
        (Value::VertexProperty(x), Value::VertexProperty(y)) => order(&x.id, &y.id),
        (Value::Property(x), Value::Property(y)) => {
            x.key.cmp(&y.key).then_with(|| order(&x.value, &y.value))
        }
        (Value::List(x), Value::List(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = order(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Double(x), Value::Double(y)) => x.total_cmp(y),
        _ => Ordering::Equal,
    }
}

fn from_num(n: Num, a: &Value, b: &Value) -> Value {
    let wide = |v: &Value| match v {
        Value::Byte(_) => 1,
        Value::Short(_) => 2,
        Value::Int(_) => 3,
        Value::Long(_) => 4,
        Value::BigInt(_) => 5,
        Value::Float(_) => 6,
        Value::Double(_) => 7,
        _ => 7,
    };
    let w = wide(a).max(wide(b));
    match n {
        Num::I(x) => match w {
            1..=3 if i32::try_from(x).is_ok() => Value::Int(x as i32),
            1..=4 if i64::try_from(x).is_ok() => Value::Long(x as i64),
            6 => Value::Float(x as f32),
            7 => Value::Double(x as f64),
            _ => Value::BigInt(x.into()),
        },
        Num::F(x) => {
            if w == 6 {
                Value::Float(x as f32)
            } else {
                Value::Double(x)
            }
        }
    }
}

fn arith(
    a: &Value,
    b: &Value,
    op: &str,
    fi: fn(i128, i128) -> Option<i128>,
    ff: fn(f64, f64) -> f64,
) -> Result<Value, GremlinError> {
    let (Some(x), Some(y)) = (num(a), num(b)) else {
        return Err(GremlinError::runtime(format!(
            "The {op} operation requires numbers: {} and {}",
            a.type_name(),
            b.type_name()
        )));
    };
    let n = match (x, y) {
        (Num::I(p), Num::I(q)) => match fi(p, q) {
            Some(r) => Num::I(r),
            None => return Err(GremlinError::runtime("Division by zero".to_string())),
        },
        (Num::I(p), Num::F(q)) => Num::F(ff(p as f64, q)),
        (Num::F(p), Num::I(q)) => Num::F(ff(p, q as f64)),
        (Num::F(p), Num::F(q)) => Num::F(ff(p, q)),
    };
    Ok(from_num(n, a, b))
}

/// `a + b` with Java number promotion.
pub fn add(a: &Value, b: &Value) -> Result<Value, GremlinError> {
    arith(a, b, "add", i128::checked_add, |x, y| x + y)
}

/// `a - b`.
pub fn sub(a: &Value, b: &Value) -> Result<Value, GremlinError> {
    arith(a, b, "sub", i128::checked_sub, |x, y| x - y)
}

/// `a * b`.
pub fn mul(a: &Value, b: &Value) -> Result<Value, GremlinError> {
    arith(a, b, "mult", i128::checked_mul, |x, y| x * y)
}

/// `a / b` (integer division for integers).
pub fn div(a: &Value, b: &Value) -> Result<Value, GremlinError> {
    arith(a, b, "div", i128::checked_div, |x, y| x / y)
}

/// The value as f64, if a number.
pub fn to_f64(v: &Value) -> Option<f64> {
    match num(v)? {
        Num::I(x) => Some(x as f64),
        Num::F(x) => Some(x),
    }
}

fn cmp_is(a: &Value, b: &Value, ok: fn(Ordering) -> bool) -> bool {
    compare(a, b).is_some_and(ok)
}

/// Tests a `P`/`TextP` predicate against a value.
pub fn test(p: &Predicate, v: &Value) -> Result<bool, GremlinError> {
    let arg = p.args.first().cloned().unwrap_or(Value::Null);
    let s = |x: &Value| x.as_str().map(str::to_string);
    Ok(match &*p.name {
        "eq" => equals(v, &arg),
        "neq" => !equals(v, &arg),
        "lt" => cmp_is(v, &arg, Ordering::is_lt),
        "lte" => cmp_is(v, &arg, Ordering::is_le),
        "gt" => cmp_is(v, &arg, Ordering::is_gt),
        "gte" => cmp_is(v, &arg, Ordering::is_ge),
        "within" | "without" => {
            let items: Vec<Value> = match (p.args.len(), &arg) {
                (1, Value::List(l)) => l.clone(),
                (1, Value::Set(s)) => s.iter().cloned().collect(),
                _ => p.args.clone(),
            };
            let hit = items.iter().any(|x| equals(v, x));
            if &*p.name == "within" {
                hit
            } else {
                !hit
            }
        }
        "between" => {
            let hi = p.args.get(1).cloned().unwrap_or(Value::Null);
            cmp_is(v, &arg, Ordering::is_ge) && cmp_is(v, &hi, Ordering::is_lt)
        }
        "inside" => {
            let hi = p.args.get(1).cloned().unwrap_or(Value::Null);
            cmp_is(v, &arg, Ordering::is_gt) && cmp_is(v, &hi, Ordering::is_lt)
        }
        "outside" => {
            let hi = p.args.get(1).cloned().unwrap_or(Value::Null);
            cmp_is(v, &arg, Ordering::is_lt) || cmp_is(v, &hi, Ordering::is_gt)
        }
        "and" | "or" => {
            let mut acc = &*p.name == "and";
            for a in &p.args {
                let Value::P(q) = a else { continue };
                let r = test(q, v)?;
                if &*p.name == "and" {
                    acc &= r;
                } else {
                    acc |= r;
                }
            }
            acc
        }
        "not" => match &arg {
            Value::P(q) => !test(q, v)?,
            _ => false,
        },
        "containing" | "notContaining" | "startingWith" | "notStartingWith" | "endingWith"
        | "notEndingWith" => {
            let (Some(x), Some(y)) = (s(v), s(&arg)) else {
                return Ok(false);
            };
            match &*p.name {
                "containing" => x.contains(&y),
                "notContaining" => !x.contains(&y),
                "startingWith" => x.starts_with(&y),
                "notStartingWith" => !x.starts_with(&y),
                "endingWith" => x.ends_with(&y),
                _ => !x.ends_with(&y),
            }
        }
        other => {
            return Err(GremlinError::compile(format!(
                "predicate {other} is not supported"
            )))
        }
    })
}
