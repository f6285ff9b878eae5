//! `OffsetDateTime` values: ISO-8601 parsing and Java's `toString` form
//! (`2023-08-02T00:00Z`, seconds and fractions only when non-zero), `dateAdd`, `dateDiff`
//! and the `asDate()` conversion.

use crate::value::{DateTime, EnumKind, Value};

use super::SemanticsError;

/// Days since 1970-01-01 for a proleptic Gregorian date (Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A UTC date-time from epoch milliseconds.
pub fn from_epoch_millis(ms: i64) -> DateTime {
    DateTime {
        epoch_seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as u32,
        offset_seconds: 0,
    }
}

/// Epoch milliseconds of a date-time (Java `toInstant().toEpochMilli()`, floor division).
pub fn to_epoch_millis(dt: &DateTime) -> i64 {
    dt.epoch_seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(dt.nanos / 1_000_000))
}

/// Java `OffsetDateTime.toString()`: `uuuu-MM-ddTHH:mm[:ss[.fff…]]` plus `Z` or `±HH:MM[:SS]`.
pub fn format(dt: &DateTime) -> String {
    let local = dt.epoch_seconds + i64::from(dt.offset_seconds);
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = if (0..=9999).contains(&y) {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}")
    } else if y > 9999 {
        format!("+{y}-{m:02}-{d:02}T{hh:02}:{mm:02}")
    } else {
        format!("-{:04}-{m:02}-{d:02}T{hh:02}:{mm:02}", -y)
    };
    if ss != 0 || dt.nanos != 0 {
        out.push_str(&format!(":{ss:02}"));
        if dt.nanos != 0 {
            if dt.nanos % 1_000_000 == 0 {
                out.push_str(&format!(".{:03}", dt.nanos / 1_000_000));
            } else if dt.nanos % 1000 == 0 {
                out.push_str(&format!(".{:06}", dt.nanos / 1000));
            } else {
                out.push_str(&format!(".{:09}", dt.nanos));
            }
        }
    }
    out.push_str(&format_offset(dt.offset_seconds));
    out
}

fn format_offset(offset: i32) -> String {
    if offset == 0 {
        return "Z".into();
    }
    let sign = if offset < 0 { '-' } else { '+' };
    let a = offset.unsigned_abs();
    let (h, m, s) = (a / 3600, (a % 3600) / 60, a % 60);
    if s != 0 {
        format!("{sign}{h:02}:{m:02}:{s:02}")
    } else {
        format!("{sign}{h:02}:{m:02}")
    }
}

fn digits(s: &str, n: usize) -> Option<u32> {
    if s.len() != n || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses ISO-8601 as gremlin-lang `datetime()` and `asDate()` accept it:
/// `yyyy-MM-dd`, `yyyy-MM-ddTHH:mm[:ss[.fraction]]` with optional `Z` or `±HH:MM[:SS]` / `±HHMM`
/// (no offset means UTC).
pub fn parse(s: &str) -> Option<DateTime> {
    let s = s.trim();
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (s.get(..i)?, Some(s.get(i + 1..)?)),
        None => (s, None),
    };
    let mut dparts = date.splitn(3, '-');
    let y: i64 = {
        let t = dparts.next()?;
        if t.len() < 4 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()?
    };
    let mo = digits(dparts.next()?, 2)?;
    let d = digits(dparts.next()?, 2)?;
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let (mut secs_of_day, mut nanos, mut offset) = (0i64, 0u32, 0i32);
    if let Some(rest) = rest {
        let (time, off) = match rest.find(['Z', 'z', '+', '-']) {
            Some(i) => (rest.get(..i)?, Some(rest.get(i..)?)),
            None => (rest, None),
        };
        let (hms, frac) = match time.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (time, None),
        };
        let mut t = hms.split(':');
        let hh = digits(t.next()?, 2)?;
        let mm = digits(t.next()?, 2)?;
        let ss = match t.next() {
            Some(x) => digits(x, 2)?,
            None => 0,
        };
        if t.next().is_some() || hh > 23 || mm > 59 || ss > 59 {
            return None;
        }
        if let Some(f) = frac {
            if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            nanos = f.parse::<u32>().ok()? * 10u32.pow(9 - f.len() as u32);
        }
        secs_of_day = i64::from(hh * 3600 + mm * 60 + ss);
        if let Some(off) = off {
            offset = parse_offset(off)?;
        }
    }
    let local = days_from_civil(y, mo, d) * 86_400 + secs_of_day;
    Some(DateTime {
        epoch_seconds: local - i64::from(offset),
        nanos,
        offset_seconds: offset,
    })
}

fn parse_offset(off: &str) -> Option<i32> {
    if off.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let sign = match off.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let body = off.get(1..)?;
    let (h, m, s) = if body.contains(':') {
        let mut p = body.split(':');
        let h = digits(p.next()?, 2)?;
        let m = digits(p.next()?, 2)?;
        let s = match p.next() {
            Some(x) => digits(x, 2)?,
            None => 0,
        };
        (h, m, s)
    } else {
        match body.len() {
            2 => (digits(body, 2)?, 0, 0),
            4 => (digits(body.get(..2)?, 2)?, digits(body.get(2..)?, 2)?, 0),
            _ => return None,
        }
    };
    if h > 18 || m > 59 || s > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60 + s) as i32)
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

/// The `dateAdd(DT, amount)` step. `unit` is the `DT` constant name (`second`, `minute`,
/// `hour`, `day`). The offset is kept.
pub fn date_add(dt: &DateTime, unit: &str, amount: i64) -> Result<DateTime, SemanticsError> {
    let per = match unit {
        "second" => 1,
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        other => {
            return Err(SemanticsError::illegal_argument(format!(
                "{other} is not a supported DT unit"
            )))
        }
    };
    let delta = amount
        .checked_mul(per)
        .ok_or_else(|| SemanticsError::arithmetic("long overflow"))?;
    let epoch_seconds = dt
        .epoch_seconds
        .checked_add(delta)
        .ok_or_else(|| SemanticsError::arithmetic("long overflow"))?;
    Ok(DateTime {
        epoch_seconds,
        ..*dt
    })
}

/// The `DT` unit name from a `Value` (an `Enum` of kind DT, or a bare string).
pub fn dt_unit(v: &Value) -> Option<&str> {
    match v {
        Value::Enum(e) if e.kind == EnumKind::DT => Some(&e.name),
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// The `dateDiff(other)` step: `value - other` in milliseconds (a Long). A null `other`
/// counts as the epoch, as TinkerPop does.
pub fn date_diff(dt: &DateTime, other: Option<&DateTime>) -> i64 {
    let a = to_epoch_millis(dt);
    let b = other.map(to_epoch_millis).unwrap_or(0);
    a.saturating_sub(b)
}

/// A date-time value (`DateTime`, or a legacy `Date` as UTC) from a `Value`.
pub fn as_datetime(v: &Value) -> Option<DateTime> {
    match v {
        Value::DateTime(dt) => Some(*dt),
        Value::Date(ms) => Some(from_epoch_millis(*ms)),
        _ => None,
    }
}

/// The `asDate()` step: ISO-8601 strings, integral numbers as epoch milliseconds, dates as
/// themselves. Everything else, null included, raises "Can't parse ...".
pub fn as_date(v: &Value) -> Result<DateTime, SemanticsError> {
    let err = || {
        SemanticsError::parse(format!(
            "Can't parse {} as Date.",
            super::text::to_java_string(v)
        ))
    };
    match v {
        Value::DateTime(dt) => Ok(*dt),
        Value::Date(ms) => Ok(from_epoch_millis(*ms)),
        Value::String(s) => parse(s).ok_or_else(err),
        Value::Byte(x) => Ok(from_epoch_millis(i64::from(*x))),
        Value::Short(x) => Ok(from_epoch_millis(i64::from(*x))),
        Value::Int(x) => Ok(from_epoch_millis(i64::from(*x))),
        Value::Long(x) => Ok(from_epoch_millis(*x)),
        Value::BigInt(x) => i64::try_from(x).map(from_epoch_millis).map_err(|_| err()),
        _ => Err(err()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_java_offsetdatetime() {
        let dt = parse("2023-08-02T00:00:00Z").unwrap();
        assert_eq!(format(&dt), "2023-08-02T00:00Z");
        let dt = parse("2023-08-02T00:00:00-07:00").unwrap();
        assert_eq!(format(&dt), "2023-08-02T00:00-07:00");
        assert_eq!(dt.epoch_seconds, 1_690_959_600);
        let dt = parse("2023-09-06T16:28:27.5Z").unwrap();
        assert_eq!(format(&dt), "2023-09-06T16:28:27.500Z");
        assert!(parse("This String is not an ISO 8601 Date").is_none());
        assert!(parse("2023-02-30").is_none());
    }

    #[test]
    fn as_date_matches_feature_cases() {
        // AsDate.feature: 1694017707000 -> 2023-09-06T16:28:27Z
        assert_eq!(
            as_date(&Value::Long(1_694_017_707_000)).unwrap(),
            parse("2023-09-06T16:28:27Z").unwrap()
        );
        assert_eq!(
            as_date(&Value::str("2020-08-02")).unwrap(),
            parse("2020-08-02T00:00:00Z").unwrap()
        );
        for bad in [
            Value::Double(1_694_017_709_000.1),
            Value::List(vec![Value::Int(1), Value::Int(2)]),
            Value::Null,
            Value::str("This String is not an ISO 8601 Date"),
        ] {
            assert!(as_date(&bad).unwrap_err().message.contains("Can't parse"));
        }
        assert_eq!(
            to_epoch_millis(&as_date(&Value::Long(-131_587_200_000)).unwrap()),
            -131_587_200_000
        );
    }

    #[test]
    fn add_and_diff() {
        let dt = parse("2023-08-02T00:00:00Z").unwrap();
        assert_eq!(
            date_add(&dt, "hour", -1).unwrap(),
            parse("2023-08-01T23:00:00Z").unwrap()
        );
        let d2 = parse("2023-09-06T00:00:00Z").unwrap();
        assert_eq!(
            date_add(&d2, "day", 11).unwrap(),
            parse("2023-09-17T00:00:00Z").unwrap()
        );
        let later = parse("2023-08-09T00:00:00Z").unwrap();
        assert_eq!(date_diff(&dt, Some(&later)), -604_800_000);
        assert_eq!(
            date_diff(&from_epoch_millis(1_596_326_400_000), None),
            1_596_326_400_000
        );
    }
}
