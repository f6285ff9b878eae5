//! The machine's seam to value semantics: thin calls into [`crate::semantics`] with its
//! errors mapped to [`GremlinError`].

use std::cmp::Ordering;

use crate::error::GremlinError;
use crate::semantics::{self, SemanticsError};
use crate::value::{Predicate, Value};

/// Maps a semantics error onto the machine's runtime error (the message is TinkerPop's).
pub fn err(e: SemanticsError) -> GremlinError {
    GremlinError::Runtime(e.message)
}

/// Whether a value is a number.
pub fn is_number(v: &Value) -> bool {
    semantics::number::is_number(v)
}

/// Gremlin equality (`P.eq`): numbers compare by value across types.
pub fn equals(a: &Value, b: &Value) -> bool {
    semantics::compare::equals(a, b)
}

/// Gremlin comparability: `None` when the two are not comparable.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    semantics::compare::compare(a, b).ordering()
}

/// Gremlin orderability: a total order over all values.
pub fn order(a: &Value, b: &Value) -> Ordering {
    semantics::compare::order(a, b)
}

/// `a + b` with Java number promotion.
pub fn add(a: &Value, b: &Value) -> Result<Value, GremlinError> {
    semantics::number::add(a, b).map_err(err)
}

/// `a - b`.
pub fn sub(a: &Value, b: &Value) -> Result<Value, GremlinError> {
    semantics::number::sub(a, b).map_err(err)
}

/// `a * b`.
pub fn mul(a: &Value, b: &Value) -> Result<Value, GremlinError> {
    semantics::number::mul(a, b).map_err(err)
}

/// `a / b` (integer division for integers).
pub fn div(a: &Value, b: &Value) -> Result<Value, GremlinError> {
    semantics::number::div(a, b).map_err(err)
}

/// The value as f64, if a number.
pub fn to_f64(v: &Value) -> Option<f64> {
    semantics::number::to_f64(v)
}

/// Tests a `P`/`TextP` predicate against a value (a type error counts as false).
pub fn test(p: &Predicate, v: &Value) -> Result<bool, GremlinError> {
    Ok(semantics::predicate::test(p, v).map_err(err)?.is_true())
}
