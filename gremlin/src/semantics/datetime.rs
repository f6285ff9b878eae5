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
    let local = dt
        .epoch_seconds
        .saturating_add(i64::from(dt.offset_seconds));
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

/// Java `java.util.Date.toString()` in UTC (the JVM zone TinkerPop's servers run in):
/// `Tue Aug 01 00:00:00 UTC 2023`.
pub fn format_legacy_date(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let weekday = DAYS
        .get(days.rem_euclid(7) as usize)
        .copied()
        .unwrap_or("Thu");
    let month = MONTHS
        .get((m as usize).saturating_sub(1))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{weekday} {month} {d:02} {:02}:{:02}:{:02} UTC {y}",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
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

/// Parses ISO-8601 as TinkerPop's `DatetimeHelper` does (for `datetime()` and `asDate()`):
/// `yyyy-MM`, `yyyy-MM-dd`, `HH:mm[:ss[.fraction]]` (on 1970-01-01), and
/// `yyyy-MM-ddTHH:mm[:ss[.fraction]]` with an optional `Z` or `±HH[:MM[:SS]]` / `±HHMM[SS]`
/// offset (none means UTC). Case-insensitive `T` and `Z`.
pub fn parse(s: &str) -> Option<DateTime> {
    let s = s.trim();
    if s.as_bytes().get(2) == Some(&b':') {
        let (secs, nanos, offset) = parse_time(s)?;
        return Some(DateTime {
            epoch_seconds: secs - i64::from(offset),
            nanos,
            offset_seconds: offset,
        });
    }
    let (date, rest) = match s.find(['T', 't']) {
        Some(i) => (s.get(..i)?, Some(s.get(i + 1..)?)),
        None => (s, None),
    };
    // Years beyond 4 digits carry a sign, as Java prints them (`+19011-09-01`, `-0001-01-01`).
    let (year_sign, date) = match date.as_bytes().first() {
        Some(b'+') => (1, date.get(1..)?),
        Some(b'-') => (-1, date.get(1..)?),
        _ => (1, date),
    };
    let mut dparts = date.splitn(3, '-');
    let y: i64 = {
        let t = dparts.next()?;
        if t.len() < 4 || t.len() > 9 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        year_sign * t.parse::<i64>().ok()?
    };
    let mo_text = dparts.next()?;
    let day_text = dparts.next();
    let mo: u32 = if day_text.is_none() && rest.is_none() {
        // Year-month (lenient width, as DatetimeHelper's yearMonthFormatter).
        if mo_text.is_empty() || mo_text.len() > 2 || !mo_text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        mo_text.parse().ok()?
    } else {
        digits(mo_text, 2)?
    };
    let d = match day_text {
        Some(t) => digits(t, 2)?,
        None => 1,
    };
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let (secs_of_day, nanos, offset) = match rest {
        Some(rest) => parse_time(rest)?,
        None => (0, 0, 0),
    };
    let local = days_from_civil(y, mo, d) * 86_400 + secs_of_day;
    Some(DateTime {
        epoch_seconds: local - i64::from(offset),
        nanos,
        offset_seconds: offset,
    })
}

/// `HH:mm[:ss[.fraction]][offset]`: seconds of day, nanos, offset seconds.
fn parse_time(rest: &str) -> Option<(i64, u32, i32)> {
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
    let mut nanos = 0;
    if let Some(f) = frac {
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        nanos = f.parse::<u32>().ok()? * 10u32.pow(9 - f.len() as u32);
    }
    let offset = match off {
        Some(o) => parse_offset(o)?,
        None => 0,
    };
    Some((i64::from(hh * 3600 + mm * 60 + ss), nanos, offset))
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
        // +HH:MM[:SS]
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
            6 => (
                digits(body.get(..2)?, 2)?,
                digits(body.get(2..4)?, 2)?,
                digits(body.get(4..)?, 2)?,
            ),
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

/// The `asDate()` step: ISO-8601 strings (`DatetimeHelper` forms), Byte/Short/Int/Long and
/// BigInteger (when it fits a long) as epoch milliseconds, date-times as themselves.
/// Everything else, null and floating-point numbers included, raises TinkerPop's
/// "Can't parse ... as OffsetDateTime." (`null as DateTime.`).
pub fn as_date(v: &Value) -> Result<DateTime, SemanticsError> {
    let err = |what: String, as_what: &str| {
        SemanticsError::illegal_argument(format!("Can't parse {what} as {as_what}."))
    };
    match v {
        Value::Null => Err(err("null".into(), "DateTime")),
        Value::DateTime(dt) => Ok(*dt),
        Value::Date(ms) => Ok(from_epoch_millis(*ms)),
        Value::String(s) => parse(s).ok_or_else(|| err(s.to_string(), "OffsetDateTime")),
        Value::Byte(x) => Ok(from_epoch_millis(i64::from(*x))),
        Value::Short(x) => Ok(from_epoch_millis(i64::from(*x))),
        Value::Int(x) => Ok(from_epoch_millis(i64::from(*x))),
        Value::Long(x) => Ok(from_epoch_millis(*x)),
        Value::BigInt(x) => i64::try_from(x)
            .map(from_epoch_millis)
            .map_err(|_| err(x.to_string(), "Date")),
        other => Err(err(
            super::text::java_class_name(other).to_string(),
            "OffsetDateTime",
        )),
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
        // DatetimeHelper's documented forms.
        let utc = |s: &str| parse(s).map(|d| (d.epoch_seconds, d.nanos));
        let base = utc("2018-03-22T00:35:44Z").unwrap();
        assert_eq!(utc("2018-03-22T00:35:44"), Some(base));
        assert_eq!(utc("2018-03-22t00:35:44z"), Some(base));
        assert_eq!(utc("2018-03-22T00:35:44.741Z"), Some((base.0, 741_000_000)));
        assert_eq!(
            utc("2018-03-22T16:35:44.741+1600"),
            Some((base.0, 741_000_000))
        );
        assert_eq!(
            utc("2018-03-22T16:35:44.741+16:00"),
            Some((base.0, 741_000_000))
        );
        assert_eq!(
            utc("2018-03-22T16:35:44.741+160000"),
            Some((base.0, 741_000_000))
        );
        assert_eq!(
            utc("2018-03-22T16:35:44.741+16:00:00"),
            Some((base.0, 741_000_000))
        );
        assert_eq!(utc("2018-03"), utc("2018-03-01T00:00Z"));
        assert_eq!(utc("00:35:44"), Some((35 * 60 + 44, 0)));
        assert!(parse("2018-03-22 00:35:44").is_none());
        // Java's signed years round-trip.
        for text in [
            "+19011-09-01T00:00Z",
            "-0001-01-01T00:00Z",
            "0000-01-01T00:00Z",
        ] {
            assert_eq!(format(&parse(text).unwrap()), text);
        }
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
            as_date(&Value::Null).unwrap_err().message,
            "Can't parse null as DateTime."
        );
        assert_eq!(
            as_date(&Value::Double(1.5)).unwrap_err().message,
            "Can't parse java.lang.Double as OffsetDateTime."
        );
        assert_eq!(
            as_date(&Value::str("nope")).unwrap_err().message,
            "Can't parse nope as OffsetDateTime."
        );
        assert_eq!(
            to_epoch_millis(&as_date(&Value::Long(-131_587_200_000)).unwrap()),
            -131_587_200_000
        );
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        for secs in [i64::MAX, i64::MIN, 0] {
            let dt = DateTime {
                epoch_seconds: secs,
                nanos: 999_999_999,
                offset_seconds: 18 * 3600,
            };
            assert!(!format(&dt).is_empty());
            let _ = date_add(&dt, "day", i64::MAX);
            let _ = date_diff(&dt, Some(&dt));
        }
        assert!(!format_legacy_date(i64::MIN).is_empty());
    }

    #[test]
    fn legacy_date_string() {
        // 2023-08-01 was a Tuesday.
        let ms = to_epoch_millis(&parse("2023-08-01T00:00:00Z").unwrap());
        assert_eq!(format_legacy_date(ms), "Tue Aug 01 00:00:00 UTC 2023");
        assert_eq!(format_legacy_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(format_legacy_date(-1000), "Wed Dec 31 23:59:59 UTC 1969");
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
