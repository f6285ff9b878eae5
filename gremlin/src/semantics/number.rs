//! Java `NumberHelper` arithmetic over numeric [`Value`]s: the widest common type of the two
//! operands (Byte < Short < Int < Long < BigInteger; any float makes it Float/Double/BigDecimal
//! by width), with TinkerPop 3.8's overflow rule: Byte, Short, Int and Float results that
//! overflow are recomputed in the next wider type; Long overflow raises `ArithmeticException`
//! ("long overflow"/"integer overflow"); Double overflow yields ±Infinity.

use std::cmp::Ordering;

use num_bigint::BigInt;

use crate::value::{BigDecimal, EnumKind, Value};

use super::{decimal, ErrorKind, SemanticsError};

/// A numeric type, in `NumberHelper`'s promotion order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NumClass {
    Byte,
    Short,
    Int,
    Long,
    BigInt,
    Float,
    Double,
    BigDecimal,
}

impl NumClass {
    /// The class of a numeric value (`None` for non-numbers).
    pub fn of(v: &Value) -> Option<NumClass> {
        Some(match v {
            Value::Byte(_) => NumClass::Byte,
            Value::Short(_) => NumClass::Short,
            Value::Int(_) => NumClass::Int,
            Value::Long(_) => NumClass::Long,
            Value::BigInt(_) => NumClass::BigInt,
            Value::Float(_) => NumClass::Float,
            Value::Double(_) => NumClass::Double,
            Value::BigDecimal(_) => NumClass::BigDecimal,
            _ => return None,
        })
    }

    fn info(self) -> (u32, bool) {
        match self {
            NumClass::Byte => (8, false),
            NumClass::Short => (16, false),
            NumClass::Int => (32, false),
            NumClass::Long => (64, false),
            NumClass::BigInt => (128, false),
            NumClass::Float => (32, true),
            NumClass::Double => (64, true),
            NumClass::BigDecimal => (128, true),
        }
    }

    fn from_info(bits: u32, fp: bool) -> NumClass {
        match (fp, bits) {
            (true, 0..=32) => NumClass::Float,
            (true, 33..=64) => NumClass::Double,
            (true, _) => NumClass::BigDecimal,
            (false, 0..=8) => NumClass::Byte,
            (false, 9..=16) => NumClass::Short,
            (false, 17..=32) => NumClass::Int,
            (false, 33..=64) => NumClass::Long,
            (false, _) => NumClass::BigInt,
        }
    }

    /// Java simple class name.
    pub fn java_name(self) -> &'static str {
        match self {
            NumClass::Byte => "Byte",
            NumClass::Short => "Short",
            NumClass::Int => "Integer",
            NumClass::Long => "Long",
            NumClass::BigInt => "BigInteger",
            NumClass::Float => "Float",
            NumClass::Double => "Double",
            NumClass::BigDecimal => "BigDecimal",
        }
    }
}

/// True for the eight numeric variants.
pub fn is_number(v: &Value) -> bool {
    NumClass::of(v).is_some()
}

/// True for a Float or Double NaN.
pub fn is_nan(v: &Value) -> bool {
    match v {
        Value::Float(x) => x.is_nan(),
        Value::Double(x) => x.is_nan(),
        _ => false,
    }
}

/// The widest common class (`getHighestCommonNumberClass`); NaN operands are skipped as in Java.
fn common_info(force_fp: bool, values: &[&Value]) -> (u32, bool) {
    let mut bits = 8;
    let mut fp = force_fp;
    for v in values {
        if is_nan(v) {
            continue;
        }
        if let Some(c) = NumClass::of(v) {
            let (b, f) = c.info();
            bits = bits.max(b);
            fp |= f;
        }
    }
    (bits, fp)
}

/// The class an operation on `a` and `b` is computed in.
pub fn common_class(a: &Value, b: &Value) -> NumClass {
    let (bits, fp) = common_info(false, &[a, b]);
    NumClass::from_info(bits, fp)
}

/// Java `Number.longValue()` (floats saturate, NaN is 0, BigInteger keeps the low 64 bits).
pub fn to_i64(v: &Value) -> Option<i64> {
    Some(match v {
        Value::Byte(x) => i64::from(*x),
        Value::Short(x) => i64::from(*x),
        Value::Int(x) => i64::from(*x),
        Value::Long(x) => *x,
        Value::BigInt(x) => bigint_low_i64(x),
        Value::Float(x) => *x as i64,
        Value::Double(x) => *x as i64,
        Value::BigDecimal(x) => bigint_low_i64(&decimal::to_bigint(x)),
        _ => return None,
    })
}

fn bigint_low_i64(x: &BigInt) -> i64 {
    let (_, digits) = x.to_u64_digits();
    let low = digits.first().copied().unwrap_or(0);
    let low = if x.sign() == num_bigint::Sign::Minus {
        low.wrapping_neg()
    } else {
        low
    };
    low as i64
}

/// Java `Number.doubleValue()`.
pub fn to_f64(v: &Value) -> Option<f64> {
    Some(match v {
        Value::Byte(x) => f64::from(*x),
        Value::Short(x) => f64::from(*x),
        Value::Int(x) => f64::from(*x),
        Value::Long(x) => *x as f64,
        Value::BigInt(x) => x.to_string().parse::<f64>().unwrap_or(f64::NAN),
        Value::Float(x) => f64::from(*x),
        Value::Double(x) => *x,
        Value::BigDecimal(x) => decimal::to_f64(x),
        _ => return None,
    })
}

fn to_f32(v: &Value) -> f32 {
    match v {
        Value::Float(x) => *x,
        other => to_f64(other).unwrap_or(f64::NAN) as f32,
    }
}

fn to_bigint(v: &Value) -> BigInt {
    match v {
        Value::BigInt(x) => x.clone(),
        Value::BigDecimal(x) => decimal::to_bigint(x),
        other => BigInt::from(to_i64(other).unwrap_or(0)),
    }
}

/// Java `NumberHelper.bigDecimalValue`.
fn to_bigdecimal(v: &Value) -> Result<BigDecimal, SemanticsError> {
    match v {
        Value::BigDecimal(x) => Ok(x.clone()),
        Value::BigInt(x) => Ok(decimal::from_bigint(x)),
        Value::Float(_) | Value::Double(_) => {
            let x = to_f64(v).unwrap_or(f64::NAN);
            decimal::from_f64(x)
                .ok_or_else(|| SemanticsError::new(ErrorKind::Parse, "Infinite or NaN".to_string()))
        }
        other => Ok(decimal::from_i64(to_i64(other).unwrap_or(0))),
    }
}

/// Arithmetic operators of `NumberHelper` (and `Operator` for `sack`/`math`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

fn not_a_number(v: &Value) -> SemanticsError {
    SemanticsError::illegal_argument(format!(
        "The value {} is not a number ({})",
        super::text::to_java_string(v),
        v.type_name()
    ))
}

/// One attempt at `op` in class `c`; `Err(Overflow)` asks the caller to promote.
enum Attempt {
    Done(Value),
    Overflow(SemanticsError),
}

fn attempt(op: Op, c: NumClass, a: &Value, b: &Value) -> Result<Attempt, SemanticsError> {
    use Attempt::*;
    let overflow = |m: &str| Ok(Overflow(SemanticsError::arithmetic(m)));
    let by_zero = || Ok(Overflow(SemanticsError::arithmetic("/ by zero")));
    match c {
        NumClass::Byte | NumClass::Short | NumClass::Int => {
            let (x, y) = (to_i64(a).unwrap_or(0), to_i64(b).unwrap_or(0));
            let (lo, hi, name) = match c {
                NumClass::Byte => (i64::from(i8::MIN), i64::from(i8::MAX), "byte overflow"),
                NumClass::Short => (i64::from(i16::MIN), i64::from(i16::MAX), "short overflow"),
                _ => (i64::from(i32::MIN), i64::from(i32::MAX), "integer overflow"),
            };
            let r = match op {
                Op::Add => x + y,
                Op::Sub => x - y,
                Op::Mul => x * y,
                Op::Div => {
                    if y == 0 {
                        return by_zero();
                    }
                    // Java truncates and, for byte/short, casts back (wrapping): -128/-1 is -128.
                    let q = x / y;
                    match c {
                        NumClass::Byte => i64::from(q as i8),
                        NumClass::Short => i64::from(q as i16),
                        _ => i64::from(q as i32),
                    }
                }
            };
            if r < lo || r > hi {
                return overflow(name);
            }
            Ok(Done(match c {
                NumClass::Byte => Value::Byte(r as i8),
                NumClass::Short => Value::Short(r as i16),
                _ => Value::Int(r as i32),
            }))
        }
        NumClass::Long => {
            let (x, y) = (to_i64(a).unwrap_or(0), to_i64(b).unwrap_or(0));
            let r = match op {
                Op::Add => x.checked_add(y),
                Op::Sub => x.checked_sub(y),
                Op::Mul => x.checked_mul(y),
                Op::Div => {
                    if y == 0 {
                        return by_zero();
                    }
                    x.checked_div(y)
                }
            };
            match r {
                Some(r) => Ok(Done(Value::Long(r))),
                None => overflow("long overflow"),
            }
        }
        NumClass::BigInt => {
            let (x, y) = (to_bigint(a), to_bigint(b));
            Ok(Done(Value::BigInt(match op {
                Op::Add => x + y,
                Op::Sub => x - y,
                Op::Mul => x * y,
                Op::Div => {
                    if y.sign() == num_bigint::Sign::NoSign {
                        return Ok(Overflow(SemanticsError::arithmetic(
                            "BigInteger divide by zero",
                        )));
                    }
                    x / y
                }
            })))
        }
        NumClass::Float => {
            let (x, y) = (to_f32(a), to_f32(b));
            let r = match op {
                Op::Add => x + y,
                Op::Sub => x - y,
                Op::Mul => x * y,
                Op::Div => x / y,
            };
            if r.is_infinite() {
                return overflow("Floating point overflow detected");
            }
            Ok(Done(Value::Float(r)))
        }
        NumClass::Double => {
            let (x, y) = (to_f64(a).unwrap_or(0.0), to_f64(b).unwrap_or(0.0));
            let r = match op {
                Op::Add => x + y,
                Op::Sub => x - y,
                Op::Mul => x * y,
                Op::Div => x / y,
            };
            // Java detects the infinity, then returns it anyway for 64-bit floating point.
            Ok(Done(Value::Double(r)))
        }
        NumClass::BigDecimal => {
            let (x, y) = (to_bigdecimal(a)?, to_bigdecimal(b)?);
            let r = match op {
                Op::Add => decimal::add(&x, &y)?,
                Op::Sub => decimal::sub(&x, &y)?,
                Op::Mul => decimal::mul(&x, &y)?,
                Op::Div => match decimal::div(&x, &y) {
                    Ok(r) => r,
                    // NumberHelper swallows ArithmeticException for 128-bit floating point and
                    // returns its initial result, the Integer 0.
                    Err(e) if e.kind == ErrorKind::Arithmetic => return Ok(Done(Value::Int(0))),
                    Err(e) => return Err(e),
                },
            };
            Ok(Done(Value::BigDecimal(r)))
        }
    }
}

/// `NumberHelper.mathOperationWithPromote`: `a op b` in the common class, promoting on overflow.
/// A null operand returns `a` unchanged (Java: `null == a || null == b` returns `a`).
pub fn arith(op: Op, a: &Value, b: &Value) -> Result<Value, SemanticsError> {
    arith_fp(op, false, a, b)
}

fn arith_fp(op: Op, force_fp: bool, a: &Value, b: &Value) -> Result<Value, SemanticsError> {
    if matches!(a, Value::Null) || matches!(b, Value::Null) {
        return Ok(a.clone());
    }
    if !is_number(a) {
        return Err(not_a_number(a));
    }
    if !is_number(b) {
        return Err(not_a_number(b));
    }
    let (mut bits, fp) = common_info(force_fp, &[a, b]);
    loop {
        let class = NumClass::from_info(bits, fp);
        match attempt(op, class, a, b)? {
            Attempt::Done(v) => return Ok(v),
            Attempt::Overflow(e) => {
                if bits >= 64 {
                    // Long/BigInteger overflow or division by zero: raise.
                    // (Double never reports overflow; BigDecimal handled in `attempt`.)
                    return Err(e);
                }
                bits <<= 1;
            }
        }
    }
}

/// `a + b`.
pub fn add(a: &Value, b: &Value) -> Result<Value, SemanticsError> {
    arith(Op::Add, a, b)
}

/// `a - b`.
pub fn sub(a: &Value, b: &Value) -> Result<Value, SemanticsError> {
    arith(Op::Sub, a, b)
}

/// `a * b`.
pub fn mul(a: &Value, b: &Value) -> Result<Value, SemanticsError> {
    arith(Op::Mul, a, b)
}

/// `a / b` (integer division for integer classes; "/ by zero" error).
pub fn div(a: &Value, b: &Value) -> Result<Value, SemanticsError> {
    arith(Op::Div, a, b)
}

/// `NumberHelper.div(a, b, true)`: division forced into floating point (used by `mean`).
pub fn div_fp(a: &Value, b: &Value) -> Result<Value, SemanticsError> {
    arith_fp(Op::Div, true, a, b)
}

/// Java `NumberHelper.compare`: orderability for numbers. Null sorts first, NaN after
/// +Infinity (NaN equals NaN), otherwise by value in the common class (`Double.compare`
/// semantics, so `-0.0 < 0.0`). Non-numbers compare as null would: callers pass numbers.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => return Ordering::Equal,
        (Value::Null, _) => return Ordering::Less,
        (_, Value::Null) => return Ordering::Greater,
        _ => {}
    }
    match (is_nan(a), is_nan(b)) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    match common_class(a, b) {
        NumClass::Byte | NumClass::Short | NumClass::Int | NumClass::Long => {
            to_i64(a).unwrap_or(0).cmp(&to_i64(b).unwrap_or(0))
        }
        NumClass::BigInt => to_bigint(a).cmp(&to_bigint(b)),
        NumClass::Float => java_float_compare(to_f32(a), to_f32(b)),
        NumClass::Double => java_double_compare(to_f64(a).unwrap_or(0.0), to_f64(b).unwrap_or(0.0)),
        NumClass::BigDecimal => {
            let (x, y) = (to_f64(a).unwrap_or(0.0), to_f64(b).unwrap_or(0.0));
            let a_float = matches!(a, Value::Float(_) | Value::Double(_));
            let b_float = matches!(b, Value::Float(_) | Value::Double(_));
            if a_float && x == f64::INFINITY {
                return Ordering::Greater;
            }
            if a_float && x == f64::NEG_INFINITY {
                return Ordering::Less;
            }
            if b_float && y == f64::INFINITY {
                return Ordering::Less;
            }
            if b_float && y == f64::NEG_INFINITY {
                return Ordering::Greater;
            }
            match (to_bigdecimal(a), to_bigdecimal(b)) {
                (Ok(x), Ok(y)) => decimal::cmp(&x, &y),
                _ => x.total_cmp(&y),
            }
        }
    }
}

/// Java `Double.compare` (every NaN equal and greatest, `-0.0 < 0.0`).
pub fn java_double_compare(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.total_cmp(&b),
    }
}

/// Java `Float.compare`.
pub fn java_float_compare(a: f32, b: f32) -> Ordering {
    java_double_compare(f64::from(a), f64::from(b))
}

/// `NumberHelper.min`: null and NaN operands lose unless both are; result in the common class.
pub fn min(a: &Value, b: &Value) -> Value {
    min_max(a, b, true)
}

/// `NumberHelper.max`: null and NaN operands lose unless both are; result in the common class.
pub fn max(a: &Value, b: &Value) -> Value {
    min_max(a, b, false)
}

fn min_max(a: &Value, b: &Value, want_min: bool) -> Value {
    if matches!(a, Value::Null) {
        return b.clone();
    }
    if matches!(b, Value::Null) {
        return a.clone();
    }
    if is_nan(a) || is_nan(b) {
        return if is_nan(a) { b.clone() } else { a.clone() };
    }
    let ord = compare(a, b);
    let pick_a = if want_min {
        ord != Ordering::Greater
    } else {
        ord != Ordering::Less
    };
    let chosen = if pick_a { a } else { b };
    convert_to(chosen, common_class(a, b))
}

/// The value converted into class `c` (widening; Java `xxxValue()` narrowing otherwise).
pub fn convert_to(v: &Value, c: NumClass) -> Value {
    match c {
        NumClass::Byte => Value::Byte(to_i64(v).unwrap_or(0) as i8),
        NumClass::Short => Value::Short(to_i64(v).unwrap_or(0) as i16),
        NumClass::Int => Value::Int(to_i64(v).unwrap_or(0) as i32),
        NumClass::Long => Value::Long(to_i64(v).unwrap_or(0)),
        NumClass::BigInt => Value::BigInt(to_bigint(v)),
        NumClass::Float => Value::Float(to_f32(v)),
        NumClass::Double => Value::Double(to_f64(v).unwrap_or(f64::NAN)),
        NumClass::BigDecimal => match to_bigdecimal(v) {
            Ok(d) => Value::BigDecimal(d),
            Err(_) => Value::Double(to_f64(v).unwrap_or(f64::NAN)),
        },
    }
}

/// Unary minus in the value's own class (Java negation; `Int::MIN` promotes to Long).
pub fn neg(v: &Value) -> Result<Value, SemanticsError> {
    Ok(match v {
        Value::Byte(x) => match x.checked_neg() {
            Some(r) => Value::Byte(r),
            None => Value::Short(-i16::from(*x)),
        },
        Value::Short(x) => match x.checked_neg() {
            Some(r) => Value::Short(r),
            None => Value::Int(-i32::from(*x)),
        },
        Value::Int(x) => match x.checked_neg() {
            Some(r) => Value::Int(r),
            None => Value::Long(-i64::from(*x)),
        },
        Value::Long(x) => Value::Long(
            x.checked_neg()
                .ok_or_else(|| SemanticsError::arithmetic("long overflow"))?,
        ),
        Value::BigInt(x) => Value::BigInt(-x.clone()),
        Value::Float(x) => Value::Float(-x),
        Value::Double(x) => Value::Double(-x),
        Value::BigDecimal(x) => Value::BigDecimal(BigDecimal {
            unscaled: -x.unscaled.clone(),
            scale: x.scale,
        }),
        Value::Null => Value::Null,
        other => return Err(not_a_number(other)),
    })
}

/// `sum()` over values: `NumberHelper.add` folded from `Int 0`... as `SumGlobalStep` does it
/// (seeded with the first value; nulls skipped). `None` for no numbers at all.
pub fn sum<'a, I>(values: I) -> Result<Option<Value>, SemanticsError>
where
    I: IntoIterator<Item = &'a Value>,
{
    let mut acc: Option<Value> = None;
    for v in values {
        if matches!(v, Value::Null) {
            continue;
        }
        acc = Some(match acc {
            None => {
                if !is_number(v) {
                    return Err(not_a_number(v));
                }
                v.clone()
            }
            Some(a) => add(&a, v)?,
        });
    }
    Ok(acc)
}

/// `mean()` over values: the sum divided by the count in floating point (`Double`, or
/// `BigDecimal` when a BigDecimal/BigInteger is involved... as `NumberHelper.div(sum, count,
/// true)` decides). Nulls are skipped; `None` when there are no numbers.
pub fn mean<'a, I>(values: I) -> Result<Option<Value>, SemanticsError>
where
    I: IntoIterator<Item = &'a Value>,
{
    let mut acc: Option<Value> = None;
    let mut count: i64 = 0;
    for v in values {
        if matches!(v, Value::Null) {
            continue;
        }
        if !is_number(v) {
            return Err(not_a_number(v));
        }
        acc = Some(match acc {
            None => v.clone(),
            Some(a) => add(&a, v)?,
        });
        count += 1;
    }
    match acc {
        None => Ok(None),
        Some(total) => Ok(Some(div_fp(&total, &Value::Long(count))?)),
    }
}

/// The numeric type named by a `GType` token for `asNumber(GType)`.
fn gtype_class(token: &str) -> Option<NumClass> {
    Some(match token {
        "BYTE" => NumClass::Byte,
        "SHORT" => NumClass::Short,
        "INT" => NumClass::Int,
        "LONG" => NumClass::Long,
        "BIGINT" => NumClass::BigInt,
        "FLOAT" => NumClass::Float,
        "DOUBLE" => NumClass::Double,
        "BIGDECIMAL" => NumClass::BigDecimal,
        _ => return None,
    })
}

/// The `asNumber()` / `asNumber(GType)` step. `target` is the `GType` enum value (or `None`
/// for plain `asNumber()`); null passes through.
pub fn as_number(v: &Value, target: Option<&Value>) -> Result<Value, SemanticsError> {
    let class = match target {
        None | Some(Value::Null) => None,
        Some(Value::Enum(e)) if e.kind == EnumKind::GType => match gtype_class(&e.name) {
            Some(c) => Some(c),
            None => {
                return Err(SemanticsError::illegal_argument(format!(
                    "asNumber() requires a numeric type token, got {}",
                    e.name
                )))
            }
        },
        Some(other) => {
            return Err(SemanticsError::illegal_argument(format!(
                "asNumber() requires a numeric type token, got {}",
                super::text::to_java_string(other)
            )))
        }
    };
    let number = match v {
        Value::Null => return Ok(Value::Null),
        n if is_number(n) => n.clone(),
        Value::String(s) => parse_number(s)?,
        Value::DateTime(dt) => Value::Long(super::datetime::to_epoch_millis(dt)),
        Value::Date(ms) => Value::Long(*ms),
        other => {
            return Err(SemanticsError::parse(format!(
                "Can't parse type {} as number.",
                java_class_simple_name(other)
            )))
        }
    };
    match class {
        None => Ok(number),
        Some(c) => cast_number(&number, c),
    }
}

/// The Java simple class name TinkerPop prints for a value's runtime type.
fn java_class_simple_name(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "ArrayList",
        Value::Set(_) => "LinkedHashSet",
        Value::Map(_) => "LinkedHashMap",
        Value::Bool(_) => "Boolean",
        Value::Vertex(_) => "DetachedVertex",
        Value::Edge(_) => "DetachedEdge",
        other => other.type_name(),
    }
}

/// Parses a string the way `asNumber()` does (commons-lang3 `NumberUtils.createNumber` after
/// `isCreatable`): optional sign; hex (`0x`, `0X`, `#`) and leading-zero octal integers;
/// integers become the smallest of Int, Long, BigInteger; a trailing `L` forces Long
/// (BigInteger if too big), `f`/`d` force Float/Double; decimals become Float when Float and
/// Double print identically, else Double when exact, else BigDecimal.
pub fn parse_number(s: &str) -> Result<Value, SemanticsError> {
    let err = || SemanticsError::parse(format!("Can't parse string '{s}' as number."));
    let t = s.trim();
    let (negative, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty() {
        return Err(err());
    }
    let signed = |big: BigInt| if negative { -big } else { big };
    // Hex.
    let hex = body
        .strip_prefix("0x")
        .or_else(|| body.strip_prefix("0X"))
        .or_else(|| body.strip_prefix('#'));
    if let Some(hex) = hex {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err());
        }
        let big = BigInt::parse_bytes(hex.as_bytes(), 16).ok_or_else(err)?;
        return Ok(narrow_integer(signed(big)));
    }
    // Split off a type qualifier.
    let (numeric, qualifier) = match body.as_bytes().last() {
        Some(q @ (b'l' | b'L' | b'f' | b'F' | b'd' | b'D')) => (&body[..body.len() - 1], Some(*q)),
        _ => (body, None),
    };
    let (mantissa, exponent) = match numeric.find(['e', 'E']) {
        Some(i) => (&numeric[..i], Some(&numeric[i + 1..])),
        None => (numeric, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (mantissa, None),
    };
    let all_digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) || !frac_part.is_none_or(all_digits) {
        return Err(err());
    }
    if int_part.is_empty() && frac_part.is_none_or(|f| f.is_empty()) {
        return Err(err());
    }
    if let Some(e) = exponent {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        if digits.is_empty() || !all_digits(digits) {
            return Err(err());
        }
    }
    let integral = frac_part.is_none() && exponent.is_none();
    let mantissa_zero = int_part
        .bytes()
        .chain(frac_part.unwrap_or("").bytes())
        .all(|b| b == b'0');
    let text = format!("{}{numeric}", if negative { "-" } else { "" });
    let as_float = || -> Option<Value> {
        let f = text.parse::<f32>().ok()?;
        (!f.is_infinite() && (f != 0.0 || mantissa_zero)).then_some(Value::Float(f))
    };
    let as_double = || -> Option<Value> {
        let d = text.parse::<f64>().ok()?;
        (!d.is_infinite() && (d != 0.0 || mantissa_zero)).then_some(Value::Double(d))
    };
    let as_decimal = || decimal::parse(&text).map(Value::BigDecimal);
    match qualifier {
        Some(b'l' | b'L') => {
            if !integral || int_part.is_empty() {
                return Err(err());
            }
            let big = signed(int_part.parse::<BigInt>().map_err(|_| err())?);
            Ok(match i64::try_from(&big) {
                Ok(x) => Value::Long(x),
                Err(_) => Value::BigInt(big),
            })
        }
        Some(b'f' | b'F') => as_float()
            .or_else(as_double)
            .or_else(as_decimal)
            .ok_or_else(err),
        Some(_) => as_double().or_else(as_decimal).ok_or_else(err),
        None if integral => {
            if int_part.len() > 1 && int_part.starts_with('0') {
                // Leading zero: octal, as Java's Integer.decode reads it.
                let big = BigInt::parse_bytes(int_part.as_bytes(), 8).ok_or_else(err)?;
                return Ok(narrow_integer(signed(big)));
            }
            let big = int_part.parse::<BigInt>().map_err(|_| err())?;
            Ok(narrow_integer(signed(big)))
        }
        None => {
            if let (Some(Value::Float(f)), Some(Value::Double(d))) = (as_float(), as_double()) {
                if super::text::float_to_string(f) == super::text::double_to_string(d) {
                    return Ok(Value::Float(f));
                }
            }
            if let Some(Value::Double(d)) = as_double() {
                let exact = match (decimal::parse(&text), decimal::from_f64(d)) {
                    (Some(b), Some(bd)) => decimal::cmp(&b, &bd) == Ordering::Equal,
                    _ => false,
                };
                return Ok(if exact {
                    Value::Double(d)
                } else {
                    as_decimal().ok_or_else(err)?
                });
            }
            as_decimal().ok_or_else(err)
        }
    }
}

fn narrow_integer(big: BigInt) -> Value {
    if let Ok(x) = i32::try_from(&big) {
        Value::Int(x)
    } else if let Ok(x) = i64::try_from(&big) {
        Value::Long(x)
    } else {
        Value::BigInt(big)
    }
}

/// Converts a number to class `c` for `asNumber(GType)`: integer targets truncate floating
/// values, and a value out of the target's range raises
/// "Can't convert number of type X to Y due to overflow.".
pub fn cast_number(v: &Value, c: NumClass) -> Result<Value, SemanticsError> {
    let from = NumClass::of(v).ok_or_else(|| not_a_number(v))?;
    let overflow = || {
        SemanticsError::arithmetic(format!(
            "Can't convert number of type {} to {} due to overflow.",
            from.java_name(),
            c.java_name()
        ))
    };
    let integral = |v: &Value| -> Result<BigInt, SemanticsError> {
        match v {
            Value::Float(_) | Value::Double(_) => {
                let x = to_f64(v).unwrap_or(f64::NAN);
                if !x.is_finite() {
                    return Err(overflow());
                }
                Ok(decimal::to_bigint(
                    &decimal::from_f64(x.trunc()).ok_or_else(overflow)?,
                ))
            }
            other => Ok(to_bigint(other)),
        }
    };
    Ok(match c {
        NumClass::Byte => Value::Byte(i8::try_from(&integral(v)?).map_err(|_| overflow())?),
        NumClass::Short => Value::Short(i16::try_from(&integral(v)?).map_err(|_| overflow())?),
        NumClass::Int => Value::Int(i32::try_from(&integral(v)?).map_err(|_| overflow())?),
        NumClass::Long => Value::Long(i64::try_from(&integral(v)?).map_err(|_| overflow())?),
        NumClass::BigInt => Value::BigInt(integral(v)?),
        NumClass::Float => {
            let x = to_f64(v).unwrap_or(f64::NAN);
            if x.is_finite() && x.abs() > f64::from(f32::MAX) {
                return Err(overflow());
            }
            Value::Float(x as f32)
        }
        NumClass::Double => {
            let x = to_f64(v).unwrap_or(f64::NAN);
            if x.is_infinite() && !matches!(v, Value::Float(_) | Value::Double(_)) {
                return Err(overflow());
            }
            Value::Double(x)
        }
        NumClass::BigDecimal => Value::BigDecimal(to_bigdecimal(v).map_err(|_| overflow())?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_on_overflow_matches_the_suite() {
        // Sum.feature g_V_injectX2147483647i_1iX_sumXX: d[2147483648].l
        assert_eq!(
            add(&Value::Int(i32::MAX), &Value::Int(1)).unwrap(),
            Value::Long(2_147_483_648)
        );
        // Sack.feature: 2147483647i * 2i = 4294967294L
        assert_eq!(
            mul(&Value::Int(i32::MAX), &Value::Int(2)).unwrap(),
            Value::Long(4_294_967_294)
        );
        // Sack.feature: 2147483647i / 0.5f is a Float.
        assert_eq!(
            div(&Value::Int(i32::MAX), &Value::Float(0.5)).unwrap(),
            Value::Float(4.294_967_3e9)
        );
        assert_eq!(
            add(&Value::Byte(127), &Value::Byte(1)).unwrap(),
            Value::Short(128)
        );
        assert_eq!(
            sub(&Value::Short(-32768), &Value::Short(1)).unwrap(),
            Value::Int(-32769)
        );
        let e = add(&Value::Long(i64::MAX), &Value::Long(1)).unwrap_err();
        assert_eq!(e.message, "long overflow");
        // Double overflow is Infinity, Float overflow promotes to Double.
        assert_eq!(
            add(&Value::Double(f64::MAX), &Value::Double(f64::MAX)).unwrap(),
            Value::Double(f64::INFINITY)
        );
        assert_eq!(
            mul(&Value::Float(f32::MAX), &Value::Float(2.0)).unwrap(),
            Value::Double(f64::from(f32::MAX) * 2.0)
        );
    }

    #[test]
    fn types_promote_to_widest() {
        assert_eq!(
            add(&Value::Int(1), &Value::Long(2)).unwrap(),
            Value::Long(3)
        );
        assert_eq!(
            add(&Value::Int(1), &Value::Double(2.5)).unwrap(),
            Value::Double(3.5)
        );
        assert_eq!(
            add(&Value::Long(1), &Value::Float(2.5)).unwrap(),
            Value::Double(3.5)
        );
        assert_eq!(div(&Value::Int(7), &Value::Int(2)).unwrap(), Value::Int(3));
        assert_eq!(
            div(&Value::Int(1), &Value::Int(0)).unwrap_err().message,
            "/ by zero"
        );
        // NumberHelper.div(7, 2, true): 32 bits + floating point is Float; mean divides by a Long.
        assert_eq!(
            div_fp(&Value::Int(7), &Value::Int(2)).unwrap(),
            Value::Float(3.5)
        );
        assert_eq!(
            div_fp(&Value::Int(7), &Value::Long(2)).unwrap(),
            Value::Double(3.5)
        );
        assert_eq!(add(&Value::Null, &Value::Int(1)).unwrap(), Value::Null);
        assert_eq!(add(&Value::Int(1), &Value::Null).unwrap(), Value::Int(1));
        assert!(add(&Value::str("a"), &Value::Int(1)).is_err());
    }

    #[test]
    fn compare_orders_nan_last_and_null_first() {
        assert_eq!(
            compare(&Value::Int(1), &Value::Double(1.0)),
            Ordering::Equal
        );
        assert_eq!(
            compare(&Value::Double(f64::NAN), &Value::Double(f64::INFINITY)),
            Ordering::Greater
        );
        assert_eq!(
            compare(&Value::Double(f64::NAN), &Value::Float(f32::NAN)),
            Ordering::Equal
        );
        assert_eq!(compare(&Value::Null, &Value::Int(0)), Ordering::Less);
        assert_eq!(
            compare(
                &Value::Long(i64::MAX),
                &Value::BigInt(BigInt::from(i64::MAX) + 1)
            ),
            Ordering::Less
        );
    }

    #[test]
    fn min_max_skip_nan_and_null() {
        assert_eq!(min(&Value::Double(f64::NAN), &Value::Int(1)), Value::Int(1));
        assert_eq!(max(&Value::Null, &Value::Int(1)), Value::Int(1));
        assert_eq!(max(&Value::Int(3), &Value::Long(2)), Value::Long(3));
    }

    #[test]
    fn mean_and_sum() {
        let vals = [
            Value::Int(29),
            Value::Int(27),
            Value::Int(32),
            Value::Int(35),
        ];
        assert_eq!(sum(vals.iter()).unwrap(), Some(Value::Int(123)));
        assert_eq!(mean(vals.iter()).unwrap(), Some(Value::Double(30.75)));
        assert_eq!(mean([].iter()).unwrap(), None);
    }

    #[test]
    fn parse_number_follows_commons_lang() {
        assert_eq!(parse_number("5").unwrap(), Value::Int(5));
        assert_eq!(parse_number(" -7 ").unwrap(), Value::Int(-7));
        assert_eq!(
            parse_number("3000000000").unwrap(),
            Value::Long(3_000_000_000)
        );
        assert_eq!(
            parse_number("99999999999999999999").unwrap(),
            Value::BigInt("99999999999999999999".parse().unwrap())
        );
        assert_eq!(parse_number("5L").unwrap(), Value::Long(5));
        assert_eq!(parse_number("0x1F").unwrap(), Value::Int(31));
        assert_eq!(parse_number("-#10").unwrap(), Value::Int(-16));
        assert_eq!(parse_number("010").unwrap(), Value::Int(8));
        assert!(parse_number("09").is_err());
        assert_eq!(parse_number("5.5").unwrap(), Value::Float(5.5));
        assert_eq!(parse_number("1.5d").unwrap(), Value::Double(1.5));
        assert_eq!(parse_number("2f").unwrap(), Value::Float(2.0));
        // Float would print 0.1 too, so the Float wins, as in commons-lang.
        assert_eq!(parse_number("0.1").unwrap(), Value::Float(0.1));
        // Needs double precision.
        assert_eq!(
            parse_number("1.7976931348623157E308").unwrap(),
            Value::Double(f64::MAX)
        );
        // Float and Double print alike: Float (commons-lang compares their toString forms).
        assert_eq!(
            parse_number("0.10000000000000000000000001").unwrap(),
            Value::Float(0.1)
        );
        assert_eq!(
            parse_number("1.00000001").unwrap(),
            Value::Double(1.00000001)
        );
        assert_eq!(
            parse_number("0.12345678901234567890").unwrap(),
            Value::BigDecimal(decimal::parse("0.12345678901234567890").unwrap())
        );
        for bad in ["", "-", "1,000", "test", "1.2.3", "1e", "0x", "1.5L", "."] {
            assert!(parse_number(bad).is_err(), "{bad}");
        }
    }

    fn gtype(name: &str) -> Value {
        Value::Enum(crate::value::EnumValue {
            kind: EnumKind::GType,
            name: name.into(),
        })
    }

    #[test]
    fn as_number_matches_feature_cases() {
        assert_eq!(as_number(&Value::str("5"), None).unwrap(), Value::Int(5));
        assert_eq!(
            as_number(&Value::str("test"), None).unwrap_err().message,
            "Can't parse string 'test' as number."
        );
        assert_eq!(
            as_number(&Value::List(vec![Value::Int(1)]), None)
                .unwrap_err()
                .message,
            "Can't parse type ArrayList as number."
        );
        assert_eq!(
            as_number(&Value::Double(5.67), Some(&gtype("INT"))).unwrap(),
            Value::Int(5)
        );
        assert_eq!(
            as_number(&Value::Int(32768), Some(&gtype("SHORT")))
                .unwrap_err()
                .message,
            "Can't convert number of type Integer to Short due to overflow."
        );
        assert_eq!(
            as_number(&Value::Int(300), Some(&gtype("BYTE")))
                .unwrap_err()
                .message,
            "Can't convert number of type Integer to Byte due to overflow."
        );
        assert_eq!(
            as_number(&Value::Int(1), Some(&gtype("VERTEX")))
                .unwrap_err()
                .message,
            "asNumber() requires a numeric type token, got VERTEX"
        );
        assert_eq!(
            as_number(&Value::str("1,000"), Some(&gtype("BIGINT")))
                .unwrap_err()
                .message,
            "Can't parse string '1,000' as number."
        );
        assert_eq!(as_number(&Value::str("0x5"), None).unwrap(), Value::Int(5));
        assert_eq!(
            as_number(&Value::Float(5.75), None).unwrap(),
            Value::Float(5.75)
        );
        let dt = super::super::datetime::parse("2020-08-02T00:00:00Z").unwrap();
        assert_eq!(
            as_number(&Value::DateTime(dt), None).unwrap(),
            Value::Long(1_596_326_400_000)
        );
        assert_eq!(
            as_number(&Value::Null, Some(&gtype("INT"))).unwrap(),
            Value::Null
        );
        assert_eq!(
            as_number(&Value::str("5"), Some(&gtype("BYTE"))).unwrap(),
            Value::Byte(5)
        );
    }
}
