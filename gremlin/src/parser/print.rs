//! Bytecode back to gremlin-lang text (the inverse of [`super::parse`]) for logs, error
//! messages and round-trip tests. Values with no gremlin-lang literal (edges, paths, `Float`
//! NaN, ...) make it fail with [`Unprintable`].

use std::fmt::{self, Write};

use crate::bytecode::{Bytecode, Instruction};
use crate::value::{BigDecimal, DateTime, EnumKind, Value};

use super::NESTING_DEPTH_MAX;

/// A value that gremlin-lang cannot express, by type name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unprintable(pub &'static str);

impl fmt::Display for Unprintable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} has no gremlin-lang form", self.0)
    }
}

impl std::error::Error for Unprintable {}

type PResult = Result<(), Unprintable>;

/// The gremlin-lang text of a traversal: `g`, its source instructions, its steps.
/// Bindings print as their variable names.
pub fn to_gremlin(bytecode: &Bytecode) -> Result<String, Unprintable> {
    let mut out = String::from("g");
    for ins in &bytecode.source {
        out.push('.');
        instruction(&mut out, ins, 0)?;
    }
    for ins in &bytecode.steps {
        out.push('.');
        instruction(&mut out, ins, 0)?;
    }
    Ok(out)
}

fn instruction(out: &mut String, ins: &Instruction, depth: usize) -> PResult {
    out.push_str(&ins.op);
    out.push('(');
    for (i, arg) in ins.args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        value(out, arg, depth + 1)?;
    }
    out.push(')');
    Ok(())
}

fn kind_name(kind: EnumKind) -> &'static str {
    match kind {
        EnumKind::Barrier => "Barrier",
        EnumKind::Cardinality => "Cardinality",
        EnumKind::Column => "Column",
        EnumKind::Direction => "Direction",
        EnumKind::Operator => "Operator",
        EnumKind::Order => "Order",
        EnumKind::Pick => "Pick",
        EnumKind::Pop => "Pop",
        EnumKind::Scope => "Scope",
        EnumKind::T => "T",
        EnumKind::Merge => "Merge",
        EnumKind::DT => "DT",
        EnumKind::GType => "GType",
    }
}

fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn double(out: &mut String, x: f64, suffix: char) {
    if x.is_nan() {
        out.push_str("NaN");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        let _ = write!(out, "{x:?}{suffix}");
    }
}

fn big_decimal(out: &mut String, d: &BigDecimal) {
    let digits = d.unscaled.magnitude().to_string();
    if d.unscaled.sign() == num_bigint::Sign::Minus {
        out.push('-');
    }
    if d.scale <= 0 {
        let _ = write!(out, "{digits}e{}m", -i64::from(d.scale));
        return;
    }
    // Leading zeros are written out only up to this many; beyond, exponent form.
    const LEADING_ZEROS_MAX: usize = 20;
    let scale = usize::try_from(d.scale).unwrap_or(usize::MAX);
    if scale > digits.len().saturating_add(LEADING_ZEROS_MAX) {
        let _ = write!(out, "{digits}e-{scale}m");
    } else if scale >= digits.len() {
        let _ = write!(out, "0.{}{digits}m", "0".repeat(scale - digits.len()));
    } else {
        let (int, frac) = digits.split_at(digits.len() - scale);
        let _ = write!(out, "{int}.{frac}m");
    }
}

/// (year, month, day) of days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn datetime(out: &mut String, d: &DateTime) -> PResult {
    let Some(local) = d.epoch_seconds.checked_add(i64::from(d.offset_seconds)) else {
        return Err(Unprintable("OffsetDateTime out of range"));
    };
    let (y, m, day) = civil_from_days(local.div_euclid(86_400));
    let secs = local.rem_euclid(86_400);
    let _ = write!(
        out,
        "datetime(\"{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if d.nanos > 0 {
        let _ = write!(out, ".{:09}", d.nanos);
    }
    if d.offset_seconds == 0 {
        out.push('Z');
    } else {
        let sign = if d.offset_seconds < 0 { '-' } else { '+' };
        let o = d.offset_seconds.unsigned_abs();
        let _ = write!(out, "{sign}{:02}:{:02}", o / 3600, o / 60 % 60);
        if o % 60 != 0 {
            let _ = write!(out, ":{:02}", o % 60);
        }
    }
    out.push_str("\")");
    Ok(())
}

fn list(out: &mut String, items: &[Value], open: char, close: char, depth: usize) -> PResult {
    out.push(open);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        value(out, item, depth + 1)?;
    }
    out.push(close);
    Ok(())
}

fn value(out: &mut String, v: &Value, depth: usize) -> PResult {
    if depth > NESTING_DEPTH_MAX {
        return Err(Unprintable("value nested too deeply"));
    }
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Byte(x) => {
            let _ = write!(out, "{x}b");
        }
        Value::Short(x) => {
            let _ = write!(out, "{x}s");
        }
        Value::Int(x) => {
            let _ = write!(out, "{x}");
        }
        Value::Long(x) => {
            let _ = write!(out, "{x}L");
        }
        Value::BigInt(x) => {
            let _ = write!(out, "{x}n");
        }
        Value::BigDecimal(d) => big_decimal(out, d),
        Value::Float(x) => {
            if !x.is_finite() {
                return Err(Unprintable("non-finite Float"));
            }
            let _ = write!(out, "{x:?}f");
        }
        Value::Double(x) => double(out, *x, 'd'),
        Value::String(s) => string(out, s),
        Value::Uuid(u) => {
            let _ = write!(out, "UUID(\"{u}\")");
        }
        Value::DateTime(d) => datetime(out, d)?,
        Value::List(items) => list(out, items, '[', ']', depth)?,
        Value::Set(items) => {
            let items: Vec<Value> = items.iter().cloned().collect();
            list(out, &items, '{', '}', depth)?;
        }
        Value::Map(m) => {
            if m.is_empty() {
                out.push_str("[:]");
            } else {
                out.push('[');
                for (i, (k, val)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push('(');
                    value(out, k, depth + 1)?;
                    out.push_str("): ");
                    value(out, val, depth + 1)?;
                }
                out.push(']');
            }
        }
        Value::Vertex(vx) => {
            out.push_str("new Vertex(");
            value(out, &vx.id, depth + 1)?;
            out.push_str(", ");
            string(out, &vx.label);
            out.push(')');
        }
        Value::Enum(e) => {
            let _ = write!(out, "{}.{}", kind_name(e.kind), e.name);
        }
        Value::P(p) => match (&*p.name, p.args.as_slice()) {
            ("and" | "or", [a, b]) => {
                value(out, a, depth + 1)?;
                let _ = write!(out, ".{}(", p.name);
                value(out, b, depth + 1)?;
                out.push(')');
            }
            _ => {
                out.push_str(if p.text { "TextP." } else { "P." });
                out.push_str(&p.name);
                list(out, &p.args, '(', ')', depth)?;
            }
        },
        Value::Bytecode(b) => {
            if let ([card], []) = (b.source.as_slice(), b.steps.as_slice()) {
                if &*card.op == "CardinalityValueTraversal" {
                    if let [Value::Enum(c), x] = card.args.as_slice() {
                        let _ = write!(out, "Cardinality.{}(", c.name);
                        value(out, x, depth + 1)?;
                        out.push(')');
                        return Ok(());
                    }
                }
            }
            if !b.source.is_empty() {
                return Err(Unprintable("nested traversal with source instructions"));
            }
            out.push_str("__");
            for ins in &b.steps {
                out.push('.');
                instruction(out, ins, depth + 1)?;
            }
        }
        Value::Binding(b) => out.push_str(&b.0),
        Value::Class(c) => out.push_str(c),
        Value::Strategy(s) => {
            out.push_str("new ");
            out.push_str(&s.class);
            if !s.config.is_empty() {
                out.push('(');
                for (i, (k, val)) in s.config.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let Value::String(k) = k else {
                        return Err(Unprintable(
                            "strategy configuration key that is not a String",
                        ));
                    };
                    out.push_str(k);
                    out.push_str(": ");
                    value(out, val, depth + 1)?;
                }
                out.push(')');
            }
        }
        other => return Err(Unprintable(other.type_name())),
    }
    Ok(())
}
