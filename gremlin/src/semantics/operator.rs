//! TinkerPop's `Operator` (the reducers of `sack()`, `withSack`, `fold(seed, op)` and
//! side-effect reducers): `sum minus mult div min max assign and or addAll sumLong`, and the
//! generic `min`/`max` the `min()`/`max()` steps fold with.

use std::cmp::Ordering;

use crate::value::Value;

use super::{compare, number, SemanticsError};

/// `min()` step reduction: numbers via `NumberHelper.min` (common type, NaN and null lose);
/// other values by orderability, null losing.
pub fn min_value(a: &Value, b: &Value) -> Value {
    pick(a, b, true)
}

/// `max()` step reduction: numbers via `NumberHelper.max` (common type, NaN and null lose);
/// other values by orderability, null losing.
pub fn max_value(a: &Value, b: &Value) -> Value {
    pick(a, b, false)
}

fn pick(a: &Value, b: &Value, want_min: bool) -> Value {
    if number::is_number(a) && number::is_number(b) {
        return if want_min {
            number::min(a, b)
        } else {
            number::max(a, b)
        };
    }
    if matches!(a, Value::Null) {
        return b.clone();
    }
    if matches!(b, Value::Null) {
        return a.clone();
    }
    if number::is_nan(a) {
        return b.clone();
    }
    if number::is_nan(b) {
        return a.clone();
    }
    let ord = compare::order(a, b);
    let take_a = if want_min {
        ord != Ordering::Greater
    } else {
        ord != Ordering::Less
    };
    if take_a {
        a.clone()
    } else {
        b.clone()
    }
}

fn expect_bool(v: &Value, op: &str) -> Result<bool, SemanticsError> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(SemanticsError::illegal_argument(format!(
            "Operator.{op} requires Boolean values, got {}",
            other.type_name()
        ))),
    }
}

/// Applies the `Operator` named `name` (its Java constant name) to `a` (the current value,
/// e.g. the sack) and `b` (the argument).
pub fn apply(name: &str, a: &Value, b: &Value) -> Result<Value, SemanticsError> {
    match name {
        "sum" => number::add(a, b),
        "minus" => number::sub(a, b),
        "mult" => number::mul(a, b),
        "div" => number::div(a, b),
        "min" => Ok(min_value(a, b)),
        "max" => Ok(max_value(a, b)),
        "assign" => Ok(b.clone()),
        "and" => Ok(Value::Bool(
            expect_bool(a, "and")? && expect_bool(b, "and")?,
        )),
        "or" => Ok(Value::Bool(expect_bool(a, "or")? || expect_bool(b, "or")?)),
        "sumLong" => {
            let x = number::to_i64(a).ok_or_else(|| not_number(a))?;
            let y = number::to_i64(b).ok_or_else(|| not_number(b))?;
            Ok(Value::Long(x.wrapping_add(y)))
        }
        "addAll" => add_all(a, b),
        other => Err(SemanticsError::illegal_argument(format!(
            "Unknown operator: {other}"
        ))),
    }
}

fn not_number(v: &Value) -> SemanticsError {
    SemanticsError::illegal_argument(format!("{} is not a number", v.type_name()))
}

/// `Operator.addAll`: maps merge (`putAll`), collections append (sets keep distinct items).
fn add_all(a: &Value, b: &Value) -> Result<Value, SemanticsError> {
    let items = |v: &Value| -> Option<Vec<Value>> {
        match v {
            Value::List(l) => Some(l.clone()),
            Value::Set(s) => Some(s.iter().cloned().collect()),
            Value::BulkSet(bs) => Some(
                bs.iter()
                    .flat_map(|(v, n)| {
                        std::iter::repeat_n(
                            v.clone(),
                            usize::try_from(*n)
                                .unwrap_or(0)
                                .min(compare::BULK_ITEMS_MAX),
                        )
                    })
                    .collect(),
            ),
            _ => None,
        }
    };
    match (a, b) {
        (Value::Map(x), Value::Map(y)) => {
            let mut m = x.clone();
            for (k, v) in y {
                m.insert(k.clone(), v.clone());
            }
            Ok(Value::Map(m))
        }
        (Value::Set(x), _) => {
            let mut s = x.clone();
            s.extend(items(b).ok_or_else(|| collection_error(b))?);
            Ok(Value::Set(s))
        }
        (Value::List(x), _) => {
            let mut l = x.clone();
            l.extend(items(b).ok_or_else(|| collection_error(b))?);
            Ok(Value::List(l))
        }
        _ => Err(collection_error(a)),
    }
}

fn collection_error(v: &Value) -> SemanticsError {
    SemanticsError::illegal_argument(format!(
        "Operator.addAll requires collections or maps, got {}",
        v.type_name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sack_operators() {
        // Sack.feature: withSack(2147483647i).inject(1i).sack(sum) -> 2147483648L
        assert_eq!(
            apply("sum", &Value::Int(i32::MAX), &Value::Int(1)).unwrap(),
            Value::Long(2_147_483_648)
        );
        assert_eq!(
            apply("minus", &Value::Int(5), &Value::Int(7)).unwrap(),
            Value::Int(-2)
        );
        assert_eq!(
            apply("assign", &Value::Int(5), &Value::str("x")).unwrap(),
            Value::str("x")
        );
        assert_eq!(
            apply("and", &Value::Bool(true), &Value::Bool(false)).unwrap(),
            Value::Bool(false)
        );
        assert!(apply("and", &Value::Int(1), &Value::Bool(false)).is_err());
        assert_eq!(
            apply(
                "addAll",
                &Value::List(vec![Value::Int(1)]),
                &Value::List(vec![Value::Int(2)])
            )
            .unwrap(),
            Value::List(vec![Value::Int(1), Value::Int(2)])
        );
        assert!(apply("nope", &Value::Int(1), &Value::Int(1)).is_err());
    }

    #[test]
    fn min_max_values() {
        // Min.feature: min over [29, 0.4, 0.5, 1.0] is Double 0.4.
        let vals = [
            Value::Int(29),
            Value::Double(0.4),
            Value::Double(0.5),
            Value::Double(1.0),
        ];
        let m = vals
            .iter()
            .skip(1)
            .fold(vals[0].clone(), |acc, v| min_value(&acc, v));
        assert_eq!(m, Value::Double(0.4));
        assert_eq!(
            min_value(&Value::str("marko"), &Value::str("josh")),
            Value::str("josh")
        );
        assert_eq!(max_value(&Value::Null, &Value::str("a")), Value::str("a"));
        assert_eq!(
            max_value(&Value::Double(f64::NAN), &Value::Int(1)),
            Value::Int(1)
        );
    }
}
