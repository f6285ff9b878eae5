//! Calendar arithmetic for the codecs: `OffsetDateTime` <-> (year, month, day, nano-of-day,
//! offset), ISO-8601 text as Java prints and parses it, and `Duration` ISO text (`PT8H6M12.5S`).

use crate::value::{DateTime, Duration};

/// Nanoseconds in a day.
pub const NANOS_PER_DAY: i64 = 86_400_000_000_000;
/// Java's `ZoneOffset` range: at most 18 hours either way.
pub const OFFSET_SECONDS_MAX: i32 = 18 * 3600;
/// Java's `Year` range (`Year.MIN_VALUE..=Year.MAX_VALUE`).
pub const YEAR_MAX: i64 = 999_999_999;

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days in a month of a proleptic Gregorian year.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Local date-time fields of an `OffsetDateTime` (what GraphBinary `88` carries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalFields {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub nano_of_day: i64,
    pub offset_seconds: i32,
}

/// Builds a `DateTime` from local fields, checking every range as Java does.
pub fn from_local(f: LocalFields) -> Result<DateTime, String> {
    if !(-YEAR_MAX..=YEAR_MAX).contains(&f.year) {
        return Err(format!("year {} out of range", f.year));
    }
    if !(1..=12).contains(&f.month) {
        return Err(format!("month {} out of range", f.month));
    }
    if f.day < 1 || f.day > days_in_month(f.year, f.month) {
        return Err(format!("day {} out of range for month {}", f.day, f.month));
    }
    if !(0..NANOS_PER_DAY).contains(&f.nano_of_day) {
        return Err(format!("nano-of-day {} out of range", f.nano_of_day));
    }
    if f.offset_seconds.unsigned_abs() > OFFSET_SECONDS_MAX.unsigned_abs() {
        return Err(format!("zone offset {} s out of range", f.offset_seconds));
    }
    let days = days_from_civil(f.year, f.month, f.day);
    let local_seconds = days * 86_400 + f.nano_of_day / 1_000_000_000;
    Ok(DateTime {
        epoch_seconds: local_seconds - i64::from(f.offset_seconds),
        nanos: (f.nano_of_day % 1_000_000_000) as u32,
        offset_seconds: f.offset_seconds,
    })
}

/// The local fields of a `DateTime`, or an error if it lies outside Java's range.
pub fn to_local(dt: &DateTime) -> Result<LocalFields, String> {
    if dt.nanos >= 1_000_000_000
        || dt.offset_seconds.unsigned_abs() > OFFSET_SECONDS_MAX.unsigned_abs()
    {
        return Err(format!("invalid date-time {dt:?}"));
    }
    let local = dt
        .epoch_seconds
        .checked_add(i64::from(dt.offset_seconds))
        .ok_or_else(|| format!("date-time {dt:?} out of range"))?;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if !(-YEAR_MAX..=YEAR_MAX).contains(&year) {
        return Err(format!("date-time year {year} out of range"));
    }
    Ok(LocalFields {
        year,
        month,
        day,
        nano_of_day: secs * 1_000_000_000 + i64::from(dt.nanos),
        offset_seconds: dt.offset_seconds,
    })
}

fn push_fraction(out: &mut String, nanos: u32) {
    if nanos == 0 {
        return;
    }
    if nanos % 1_000_000 == 0 {
        out.push_str(&format!(".{:03}", nanos / 1_000_000));
    } else if nanos % 1000 == 0 {
        out.push_str(&format!(".{:06}", nanos / 1000));
    } else {
        out.push_str(&format!(".{nanos:09}"));
    }
}

/// Java's `OffsetDateTime.toString()`: `2007-12-03T10:15:30+01:00`, `...T10:15Z`, with the
/// seconds left out when they and the fraction are zero.
pub fn format_offset_date_time(dt: &DateTime) -> Result<String, String> {
    let f = to_local(dt)?;
    let mut out = String::new();
    if f.year > 9999 {
        out.push_str(&format!("+{}", f.year));
    } else if f.year < 0 {
        out.push_str(&format!("-{:04}", -f.year));
    } else {
        out.push_str(&format!("{:04}", f.year));
    }
    let secs = f.nano_of_day / 1_000_000_000;
    let nanos = (f.nano_of_day % 1_000_000_000) as u32;
    out.push_str(&format!(
        "-{:02}-{:02}T{:02}:{:02}",
        f.month,
        f.day,
        secs / 3600,
        secs / 60 % 60
    ));
    if secs % 60 != 0 || nanos != 0 {
        out.push_str(&format!(":{:02}", secs % 60));
        push_fraction(&mut out, nanos);
    }
    let off = f.offset_seconds;
    if off == 0 {
        out.push('Z');
    } else {
        let sign = if off < 0 { '-' } else { '+' };
        let a = off.unsigned_abs();
        out.push_str(&format!("{sign}{:02}:{:02}", a / 3600, a / 60 % 60));
        if a % 60 != 0 {
            out.push_str(&format!(":{:02}", a % 60));
        }
    }
    Ok(out)
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(format!("expected '{}' at position {}", b as char, self.pos))
        }
    }
    /// Exactly `n` digits.
    fn digits(&mut self, n: usize) -> Result<i64, String> {
        let mut v = 0i64;
        for _ in 0..n {
            match self.peek() {
                Some(b @ b'0'..=b'9') => {
                    v = v * 10 + i64::from(b - b'0');
                    self.pos += 1;
                }
                _ => return Err(format!("expected a digit at position {}", self.pos)),
            }
        }
        Ok(v)
    }
    /// One to `max` digits, returning the value and how many were read.
    fn some_digits(&mut self, max: usize) -> Result<(i64, usize), String> {
        let mut v = 0i64;
        let mut n = 0;
        while let Some(b @ b'0'..=b'9') = self.peek() {
            if n == max {
                return Err(format!("too many digits at position {}", self.pos));
            }
            v = v * 10 + i64::from(b - b'0');
            self.pos += 1;
            n += 1;
        }
        if n == 0 {
            return Err(format!("expected a digit at position {}", self.pos));
        }
        Ok((v, n))
    }
    fn done(&self) -> bool {
        self.pos >= self.s.len()
    }
}

/// Parses an ISO-8601 date-time with optional seconds, fraction and offset
/// (`2007-12-03T10:15:30.5+01:00`, `2007-12-03T10:15Z`, `2007-12-03T10:15:30`). A missing
/// offset means UTC (Java `LocalDateTime`/`Instant` texts). A bare date means midnight UTC.
pub fn parse_date_time(text: &str) -> Result<DateTime, String> {
    let mut c = Cursor {
        s: text.as_bytes(),
        pos: 0,
    };
    let neg = c.eat(b'-');
    let plus = !neg && c.eat(b'+');
    let (year, ndigits) = c.some_digits(9)?;
    if ndigits < 4 || (ndigits > 4 && !plus && !neg) {
        return Err(format!("bad year in date-time {text:?}"));
    }
    let year = if neg { -year } else { year };
    c.expect(b'-')?;
    let month = c.digits(2)? as u32;
    c.expect(b'-')?;
    let day = c.digits(2)? as u32;
    let mut nano_of_day = 0i64;
    if c.eat(b'T') || c.eat(b't') {
        let h = c.digits(2)?;
        c.expect(b':')?;
        let m = c.digits(2)?;
        let mut s = 0;
        let mut nanos = 0i64;
        if c.eat(b':') {
            s = c.digits(2)?;
            if c.eat(b'.') || c.eat(b',') {
                let (frac, n) = c.some_digits(9)?;
                nanos = frac * 10i64.pow(9 - n as u32);
            }
        }
        if h > 23 || m > 59 || s > 59 {
            return Err(format!("time out of range in {text:?}"));
        }
        nano_of_day = ((h * 60 + m) * 60 + s) * 1_000_000_000 + nanos;
    }
    let mut offset = 0i64;
    if c.eat(b'Z') || c.eat(b'z') {
    } else if let Some(sign @ (b'+' | b'-')) = c.peek() {
        c.pos += 1;
        let h = c.digits(2)?;
        let colon = c.eat(b':');
        let m = c.digits(2)?;
        let mut s = 0;
        if colon && c.eat(b':') {
            s = c.digits(2)?;
        }
        if m > 59 || s > 59 {
            return Err(format!("bad zone offset in {text:?}"));
        }
        offset = h * 3600 + m * 60 + s;
        if sign == b'-' {
            offset = -offset;
        }
    }
    // A zone id in brackets (ZonedDateTime text) is ignored: the offset already fixes the instant.
    if c.eat(b'[') {
        while let Some(b) = c.peek() {
            c.pos += 1;
            if b == b']' {
                break;
            }
        }
    }
    if !c.done() {
        return Err(format!("unexpected text at position {} in {text:?}", c.pos));
    }
    from_local(LocalFields {
        year,
        month,
        day,
        nano_of_day,
        offset_seconds: offset as i32,
    })
}

/// Java's `Duration.toString()` (`PT0S`, `PT8H6M12.345S`, `PT-0.5S`).
pub fn format_duration(d: &Duration) -> String {
    let (seconds, nanos) = (d.seconds, i64::from(d.nanos));
    if seconds == 0 && nanos == 0 {
        return "PT0S".to_string();
    }
    let effective = if seconds < 0 && nanos > 0 {
        seconds + 1
    } else {
        seconds
    };
    let hours = effective / 3600;
    let minutes = (effective % 3600) / 60;
    let secs = effective % 60;
    let mut out = String::from("PT");
    if hours != 0 {
        out.push_str(&format!("{hours}H"));
    }
    if minutes != 0 {
        out.push_str(&format!("{minutes}M"));
    }
    if secs == 0 && nanos == 0 && out.len() > 2 {
        return out;
    }
    if seconds < 0 && nanos > 0 && secs == 0 {
        out.push_str("-0");
    } else {
        out.push_str(&secs.to_string());
    }
    if nanos > 0 {
        let frac = if seconds < 0 {
            2 * 1_000_000_000 - nanos
        } else {
            nanos + 1_000_000_000
        };
        let digits = frac.to_string();
        let trimmed = digits.trim_end_matches('0');
        out.push('.');
        out.push_str(trimmed.get(1..).unwrap_or(""));
    }
    out.push('S');
    out
}

/// Parses ISO-8601 durations as Java's `Duration.parse` does: `[-]P[nD][T[nH][nM][n[.f]S]]`,
/// each number optionally signed.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("bad ISO-8601 duration {text:?}");
    let mut c = Cursor {
        s: text.as_bytes(),
        pos: 0,
    };
    let negate = c.eat(b'-');
    if !negate {
        c.eat(b'+');
    }
    if !(c.eat(b'P') || c.eat(b'p')) {
        return Err(bad());
    }
    let mut total: i128 = 0;
    let mut in_time = false;
    let mut any = false;
    while !c.done() {
        if !in_time && (c.eat(b'T') || c.eat(b't')) {
            in_time = true;
            continue;
        }
        let neg = c.eat(b'-');
        if !neg {
            c.eat(b'+');
        }
        let (whole, _) = c.some_digits(18).map_err(|_| bad())?;
        let mut frac_nanos: i128 = 0;
        if c.eat(b'.') || c.eat(b',') {
            let (f, n) = c.some_digits(9).map_err(|_| bad())?;
            frac_nanos = i128::from(f) * 10i128.pow(9 - n as u32);
        }
        let unit = c.peek().ok_or_else(bad)?.to_ascii_uppercase();
        c.pos += 1;
        let per: i128 = match (in_time, unit) {
            (false, b'D') => 86_400_000_000_000,
            (true, b'H') => 3_600_000_000_000,
            (true, b'M') => 60_000_000_000,
            (true, b'S') => 1_000_000_000,
            _ => return Err(bad()),
        };
        if frac_nanos != 0 && unit != b'S' {
            return Err(bad());
        }
        let mut part = i128::from(whole) * per + frac_nanos;
        if neg {
            part = -part;
        }
        total = total.checked_add(part).ok_or_else(bad)?;
        any = true;
    }
    if !any {
        return Err(bad());
    }
    if negate {
        total = -total;
    }
    let seconds = total.div_euclid(1_000_000_000);
    let nanos = total.rem_euclid(1_000_000_000) as i32;
    let seconds = i64::try_from(seconds).map_err(|_| bad())?;
    Ok(Duration { seconds, nanos })
}
