//! `java.math.BigDecimal` arithmetic over [`crate::value::BigDecimal`] (unscaled × 10^-scale):
//! parsing, Java `toString`, comparison, and the operations `NumberHelper` uses, with Java's
//! scale rules (exact division keeps the preferred scale; non-terminating division rounds
//! HALF_UP to NumberHelper's precision).

use std::cmp::Ordering;

use num_bigint::{BigInt, Sign};

use crate::value::BigDecimal;

use super::SemanticsError;

/// The largest power of ten this module will build (guards `10^k` against absurd scales that
/// arrive from the wire, e.g. `1E-2000000000`).
pub const POW10_EXPONENT_MAX: u32 = 100_000;

/// `10^k` as a BigInt.
fn pow10(k: u32) -> BigInt {
    BigInt::from(10u32).pow(k)
}

fn checked_pow10(k: i64) -> Result<BigInt, SemanticsError> {
    if !(0..=i64::from(POW10_EXPONENT_MAX)).contains(&k) {
        return Err(SemanticsError::arithmetic("BigDecimal scale out of range"));
    }
    Ok(pow10(k as u32))
}

fn is_zero(x: &BigInt) -> bool {
    x.sign() == Sign::NoSign
}

/// A BigDecimal from an integer (scale 0).
pub fn from_i64(x: i64) -> BigDecimal {
    BigDecimal {
        unscaled: BigInt::from(x),
        scale: 0,
    }
}

/// A BigDecimal from a BigInteger (scale 0).
pub fn from_bigint(x: &BigInt) -> BigDecimal {
    BigDecimal {
        unscaled: x.clone(),
        scale: 0,
    }
}

/// Java `BigDecimal.valueOf(double)`: the decimal digits of `Double.toString(x)`.
/// `None` for NaN and infinities (Java throws `NumberFormatException`).
pub fn from_f64(x: f64) -> Option<BigDecimal> {
    if !x.is_finite() {
        return None;
    }
    parse(&super::text::double_to_string(x))
}

/// Parses Java `new BigDecimal(String)` syntax: `[+-]digits[.digits][(e|E)[+-]digits]`.
pub fn parse(s: &str) -> Option<BigDecimal> {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => {
            let exp_text = s.get(i + 1..)?;
            let exp_text = exp_text.strip_prefix('+').unwrap_or(exp_text);
            (s.get(..i)?, exp_text.parse::<i64>().ok()?)
        }
        None => (s, 0),
    };
    let (negative, body) = match mantissa.as_bytes().first() {
        Some(b'-') => (true, mantissa.get(1..)?),
        Some(b'+') => (false, mantissa.get(1..)?),
        _ => (false, mantissa),
    };
    let (int_part, frac_part) = match body.find('.') {
        Some(i) => (body.get(..i)?, body.get(i + 1..)?),
        None => (body, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part
        .bytes()
        .chain(frac_part.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let mut unscaled = digits.parse::<BigInt>().ok()?;
    if negative {
        unscaled = -unscaled;
    }
    let scale = i64::try_from(frac_part.len()).ok()? - exponent;
    let scale = i32::try_from(scale).ok()?;
    Some(BigDecimal { unscaled, scale })
}

/// Number of decimal digits of the unscaled value (Java `precision()`; zero has precision 1).
pub fn precision(x: &BigDecimal) -> u64 {
    let digits = x.unscaled.magnitude().to_string();
    digits.len() as u64
}

/// Java `BigDecimal.toString()` (scientific notation when the exponent is small or the scale
/// negative, as Java does).
pub fn to_java_string(x: &BigDecimal) -> String {
    let negative = x.unscaled.sign() == Sign::Minus;
    let digits = x.unscaled.magnitude().to_string();
    let sign = if negative { "-" } else { "" };
    if x.scale == 0 {
        return format!("{sign}{digits}");
    }
    let len = digits.len() as i64;
    let adjusted = -i64::from(x.scale) + (len - 1);
    if x.scale > 0 && adjusted >= -6 {
        let scale = x.scale as i64;
        if len > scale {
            let split = (len - scale) as usize;
            let (int, frac) = digits.split_at(split);
            return format!("{sign}{int}.{frac}");
        }
        let zeros = "0".repeat((scale - len) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let (first, rest) = digits.split_at(1);
    let mut out = format!("{sign}{first}");
    if !rest.is_empty() {
        out.push('.');
        out.push_str(rest);
    }
    out.push('E');
    if adjusted >= 0 {
        out.push('+');
    }
    out.push_str(&adjusted.to_string());
    out
}

/// Java `doubleValue()` (correctly rounded).
pub fn to_f64(x: &BigDecimal) -> f64 {
    let text = format!("{}e{}", x.unscaled, -i64::from(x.scale));
    text.parse::<f64>().unwrap_or(f64::NAN)
}

/// Java `toBigInteger()`: truncation toward zero.
pub fn to_bigint(x: &BigDecimal) -> BigInt {
    if x.scale <= 0 {
        match checked_pow10(-i64::from(x.scale)) {
            Ok(p) => &x.unscaled * p,
            Err(_) => BigInt::default(),
        }
    } else {
        match checked_pow10(i64::from(x.scale)) {
            Ok(p) => &x.unscaled / p,
            Err(_) => BigInt::default(),
        }
    }
}

/// Both values rescaled to the larger scale.
fn align(a: &BigDecimal, b: &BigDecimal) -> Result<(BigInt, BigInt, i32), SemanticsError> {
    let scale = a.scale.max(b.scale);
    let ua = &a.unscaled * checked_pow10(i64::from(scale) - i64::from(a.scale))?;
    let ub = &b.unscaled * checked_pow10(i64::from(scale) - i64::from(b.scale))?;
    Ok((ua, ub, scale))
}

/// Java `compareTo` (numeric value, scale-insensitive).
pub fn cmp(a: &BigDecimal, b: &BigDecimal) -> Ordering {
    match align(a, b) {
        Ok((ua, ub, _)) => ua.cmp(&ub),
        // Absurd scales: fall back to doubles.
        Err(_) => to_f64(a).total_cmp(&to_f64(b)),
    }
}

/// `a + b` (scale = max of scales).
pub fn add(a: &BigDecimal, b: &BigDecimal) -> Result<BigDecimal, SemanticsError> {
    let (ua, ub, scale) = align(a, b)?;
    Ok(BigDecimal {
        unscaled: ua + ub,
        scale,
    })
}

/// `a - b` (scale = max of scales).
pub fn sub(a: &BigDecimal, b: &BigDecimal) -> Result<BigDecimal, SemanticsError> {
    let (ua, ub, scale) = align(a, b)?;
    Ok(BigDecimal {
        unscaled: ua - ub,
        scale,
    })
}

/// `a * b` (scale = sum of scales).
pub fn mul(a: &BigDecimal, b: &BigDecimal) -> Result<BigDecimal, SemanticsError> {
    let scale = a
        .scale
        .checked_add(b.scale)
        .ok_or_else(|| SemanticsError::arithmetic("Overflow"))?;
    Ok(BigDecimal {
        unscaled: &a.unscaled * &b.unscaled,
        scale,
    })
}

/// Removes trailing zeros while the scale stays above `preferred`.
fn strip_to(mut x: BigDecimal, preferred: i64) -> BigDecimal {
    let ten = BigInt::from(10u32);
    while i64::from(x.scale) > preferred && !is_zero(&x.unscaled) {
        let r = &x.unscaled % &ten;
        if !is_zero(&r) {
            break;
        }
        x.unscaled /= &ten;
        x.scale -= 1;
    }
    x
}

/// Java `setScale(scale, RoundingMode.HALF_UP)`.
pub fn set_scale_half_up(x: &BigDecimal, scale: i32) -> Result<BigDecimal, SemanticsError> {
    if scale >= x.scale {
        let p = checked_pow10(i64::from(scale) - i64::from(x.scale))?;
        return Ok(BigDecimal {
            unscaled: &x.unscaled * p,
            scale,
        });
    }
    let p = checked_pow10(i64::from(x.scale) - i64::from(scale))?;
    Ok(BigDecimal {
        unscaled: div_half_up(&x.unscaled, &p),
        scale,
    })
}

/// `n / d` rounded HALF_UP (away from zero at exactly one half).
fn div_half_up(n: &BigInt, d: &BigInt) -> BigInt {
    let q = n / d;
    let r = n % d;
    if is_zero(&r) {
        return q;
    }
    let twice = r.magnitude() * 2u32;
    if twice >= *d.magnitude() {
        let negative = (n.sign() == Sign::Minus) != (d.sign() == Sign::Minus);
        if negative {
            q - 1
        } else {
            q + 1
        }
    } else {
        q
    }
}

/// Java `a.divide(b)`: the exact quotient, or `None` when it does not terminate.
fn divide_exact(a: &BigDecimal, b: &BigDecimal) -> Result<Option<BigDecimal>, SemanticsError> {
    let preferred = i64::from(a.scale) - i64::from(b.scale);
    if is_zero(&a.unscaled) {
        let scale = preferred.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        return Ok(Some(BigDecimal {
            unscaled: BigInt::default(),
            scale,
        }));
    }
    let mut d = b.unscaled.magnitude().clone();
    let (mut twos, mut fives) = (0i64, 0i64);
    let zero = num_bigint::BigUint::default();
    while (&d % 2u32) == zero && d != zero {
        d /= 2u32;
        twos += 1;
    }
    while (&d % 5u32) == zero && d != zero {
        d /= 5u32;
        fives += 1;
    }
    let k = twos.max(fives);
    let n = &a.unscaled * checked_pow10(k)?;
    if !is_zero(&(&n % &b.unscaled)) {
        return Ok(None);
    }
    let q = n / &b.unscaled;
    let scale = i32::try_from(preferred + k).map_err(|_| SemanticsError::arithmetic("Overflow"))?;
    let exact = strip_to(BigDecimal { unscaled: q, scale }, preferred);
    Ok(Some(exact))
}

/// `NumberHelper`'s BigDecimal division: exact when the quotient terminates, otherwise
/// rounded HALF_UP to `max(precision(a), precision(b)) + 10` digits and at most
/// `max(scale(a), scale(b), 10)` decimal places.
pub fn div(a: &BigDecimal, b: &BigDecimal) -> Result<BigDecimal, SemanticsError> {
    if is_zero(&b.unscaled) {
        return Err(SemanticsError::arithmetic(if is_zero(&a.unscaled) {
            "Division undefined"
        } else {
            "Division by zero"
        }));
    }
    if let Some(q) = divide_exact(a, b)? {
        return Ok(q);
    }
    let digits = precision(a).max(precision(b)) + 10;
    let preferred = i64::from(a.scale) - i64::from(b.scale);
    // Scale the dividend so the integer quotient has at least `digits + 1` digits.
    let na = precision(a) as i64;
    let nb = precision(b) as i64;
    let k = (digits as i64 + 2) - (na - nb);
    let (n, d) = if k >= 0 {
        (&a.unscaled * checked_pow10(k)?, b.unscaled.clone())
    } else {
        (a.unscaled.clone(), &b.unscaled * checked_pow10(-k)?)
    };
    let q = &n / &d;
    let mut scale = preferred + k;
    let q_digits = q.magnitude().to_string().len() as i64;
    let extra = q_digits - digits as i64;
    let mut unscaled = q;
    if extra > 0 {
        // The remainder is non-zero (the quotient does not terminate), so a dropped
        // "5000…" is strictly above one half: HALF_UP on the truncated digits is exact.
        let p = checked_pow10(extra)?;
        let negative = unscaled.sign() == Sign::Minus;
        let mag = BigInt::from(unscaled.magnitude().clone());
        let mut kept = &mag / &p;
        let dropped = &mag % &p;
        if dropped * 2 >= p {
            kept += 1;
        }
        if kept.magnitude().to_string().len() as i64 > digits as i64 {
            kept /= 10;
            scale -= 1;
        }
        unscaled = if negative { -kept } else { kept };
        scale -= extra;
    }
    let scale_i32 = i32::try_from(scale).map_err(|_| SemanticsError::arithmetic("Overflow"))?;
    let mut result = strip_to(
        BigDecimal {
            unscaled,
            scale: scale_i32,
        },
        preferred,
    );
    let scale_max = a.scale.max(b.scale).max(10);
    if result.scale > scale_max {
        result = set_scale_half_up(&result, scale_max)?;
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bd(s: &str) -> BigDecimal {
        parse(s).expect("valid decimal")
    }

    #[test]
    fn parse_and_print_like_java() {
        assert_eq!(to_java_string(&bd("1.0")), "1.0");
        assert_eq!(to_java_string(&bd("-0.001")), "-0.001");
        assert_eq!(to_java_string(&bd("123")), "123");
        assert_eq!(to_java_string(&bd("1E+3")), "1E+3");
        assert_eq!(to_java_string(&bd("0.00000001")), "1E-8");
        assert_eq!(to_java_string(&bd("1.5e2")), "1.5E+2");
        assert_eq!(to_java_string(&bd("150")), "150");
        assert!(parse("1.2.3").is_none());
        assert!(parse("").is_none());
        assert!(parse("e5").is_none());
    }

    #[test]
    fn division_follows_java_scale_rules() {
        assert_eq!(to_java_string(&div(&bd("1"), &bd("4")).unwrap()), "0.25");
        assert_eq!(to_java_string(&div(&bd("6"), &bd("2")).unwrap()), "3");
        assert_eq!(to_java_string(&div(&bd("6.00"), &bd("2")).unwrap()), "3.00");
        // Non-terminating: precision max(1,1)+10 = 11 digits, scale capped at 10.
        assert_eq!(
            to_java_string(&div(&bd("1"), &bd("3")).unwrap()),
            "0.3333333333"
        );
        assert_eq!(
            to_java_string(&div(&bd("2"), &bd("3")).unwrap()),
            "0.6666666667"
        );
        assert_eq!(
            to_java_string(&div(&bd("-2"), &bd("3")).unwrap()),
            "-0.6666666667"
        );
        assert!(div(&bd("1"), &bd("0")).is_err());
    }

    #[test]
    fn arithmetic_and_comparison() {
        assert_eq!(
            to_java_string(&add(&bd("1.5"), &bd("2.25")).unwrap()),
            "3.75"
        );
        assert_eq!(to_java_string(&sub(&bd("1"), &bd("2.5")).unwrap()), "-1.5");
        assert_eq!(
            to_java_string(&mul(&bd("1.5"), &bd("2.0")).unwrap()),
            "3.00"
        );
        assert_eq!(cmp(&bd("2.0"), &bd("2.00")), Ordering::Equal);
        assert_eq!(cmp(&bd("-1"), &bd("0.5")), Ordering::Less);
        assert_eq!(to_f64(&bd("0.1")), 0.1);
        assert_eq!(to_java_string(&from_f64(0.1).unwrap()), "0.1");
        assert_eq!(to_bigint(&bd("-7.9")), BigInt::from(-7));
    }
}
