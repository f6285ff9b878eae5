//! Java string forms of values (`toString` as `asString()` prints them: Double `1.0`, lists
//! `[1, 2]`, maps `{a=1}`, vertices `v[1]`, edges `e[7][1-knows->2]`) and the string steps'
//! helpers (`format`, `split`, `substring`, `replace`, trims, `reverse`, case, `concat`,
//! `length`) with the errors TinkerPop raises.

use crate::value::{Duration, Value};

use super::{decimal, SemanticsError};

/// Recursion limit when printing nested values.
pub const DEPTH_MAX: usize = 256;

/// Java `Double.toString`.
pub fn double_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    java_float_format(&format!("{x:e}"), x.abs() >= 1e-3 && x.abs() < 1e7)
}

/// Java `Float.toString`.
pub fn float_to_string(x: f32) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    java_float_format(&format!("{x:e}"), x.abs() >= 1e-3 && x.abs() < 1e7)
}

/// Builds Java's form from Rust's shortest `{:e}` output (`-1.2345e3`).
fn java_float_format(sci: &str, plain: bool) -> String {
    let (negative, body) = match sci.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, sci),
    };
    let (mantissa, exp) = body.split_once('e').unwrap_or((body, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if plain {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.push_str(&"0".repeat(int_len - digits.len()));
                out.push_str(".0");
            } else {
                let (i, f) = digits.split_at(int_len);
                out.push_str(i);
                out.push('.');
                out.push_str(f);
            }
        } else {
            out.push_str("0.");
            out.push_str(&"0".repeat((-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        out.push('.');
        out.push_str(if rest.is_empty() { "0" } else { rest });
        out.push('E');
        out.push_str(&exp.to_string());
    }
    out
}

/// Java `Duration.toString` (`PT8H6M12.345S`, `PT0S`).
pub fn duration_to_string(d: &Duration) -> String {
    if d.seconds == 0 && d.nanos == 0 {
        return "PT0S".into();
    }
    // Java normalises to seconds (floor) + non-negative nanos; print like Java does.
    let mut effective = d.seconds;
    if effective < 0 && d.nanos > 0 {
        effective += 1;
    }
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
    if secs == 0 && d.nanos == 0 && out.len() > 2 {
        return out;
    }
    if d.seconds < 0 && d.nanos > 0 && secs == 0 {
        out.push_str("-0");
    } else {
        out.push_str(&secs.to_string());
    }
    if d.nanos > 0 {
        let frac = if d.seconds < 0 {
            1_000_000_000 - d.nanos
        } else {
            d.nanos
        };
        let mut f = format!("{frac:09}");
        while f.ends_with('0') {
            f.pop();
        }
        out.push('.');
        out.push_str(&f);
    }
    out.push('S');
    out
}

/// Apache `StringUtils.abbreviate(s, 20)` as `StringFactory` uses it for property values.
fn abbreviate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let head: String = s.chars().take(width.saturating_sub(3)).collect();
    format!("{head}...")
}

/// Java `toString()` of a value, as `asString()`, `format()` and error messages print it.
pub fn to_java_string(v: &Value) -> String {
    let mut out = String::new();
    write_java(v, &mut out, 0);
    out
}

fn write_seq<'a, I: Iterator<Item = &'a Value>>(items: I, out: &mut String, depth: usize) {
    out.push('[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_java(item, out, depth + 1);
    }
    out.push(']');
}

fn write_java(v: &Value, out: &mut String, depth: usize) {
    if depth > DEPTH_MAX {
        out.push_str("...");
        return;
    }
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Byte(x) => out.push_str(&x.to_string()),
        Value::Short(x) => out.push_str(&x.to_string()),
        Value::Int(x) => out.push_str(&x.to_string()),
        Value::Long(x) => out.push_str(&x.to_string()),
        Value::BigInt(x) => out.push_str(&x.to_string()),
        Value::BigDecimal(x) => out.push_str(&decimal::to_java_string(x)),
        Value::Float(x) => out.push_str(&float_to_string(*x)),
        Value::Double(x) => out.push_str(&double_to_string(*x)),
        Value::Char(c) => out.push(*c),
        Value::String(s) => out.push_str(s),
        Value::Uuid(u) => out.push_str(&u.to_string()),
        Value::Date(ms) => out.push_str(&super::datetime::format(
            &super::datetime::from_epoch_millis(*ms),
        )),
        Value::DateTime(dt) => out.push_str(&super::datetime::format(dt)),
        Value::Duration(d) => out.push_str(&duration_to_string(d)),
        Value::Binary(b) => out.push_str(&format!(
            "java.nio.HeapByteBuffer[pos=0 lim={} cap={}]",
            b.len(),
            b.len()
        )),
        Value::List(l) => write_seq(l.iter(), out, depth),
        Value::Set(s) => write_seq(s.iter(), out, depth),
        Value::BulkSet(b) => {
            out.push('[');
            let mut first = true;
            for (item, bulk) in b {
                for _ in 0..(*bulk).clamp(0, 1 << 16) {
                    if !first {
                        out.push_str(", ");
                    }
                    first = false;
                    write_java(item, out, depth + 1);
                }
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_java(k, out, depth + 1);
                out.push('=');
                write_java(val, out, depth + 1);
            }
            out.push('}');
        }
        Value::Tree(t) => {
            out.push('{');
            for (i, (k, val)) in t.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_java(k, out, depth + 1);
                out.push('=');
                write_java(val, out, depth + 1);
            }
            out.push('}');
        }
        Value::Vertex(x) => {
            out.push_str("v[");
            write_java(&x.id, out, depth + 1);
            out.push(']');
        }
        Value::Edge(e) => {
            out.push_str("e[");
            write_java(&e.id, out, depth + 1);
            out.push_str("][");
            write_java(&e.out_v_id, out, depth + 1);
            out.push('-');
            out.push_str(&e.label);
            out.push_str("->");
            write_java(&e.in_v_id, out, depth + 1);
            out.push(']');
        }
        Value::VertexProperty(p) => {
            out.push_str("vp[");
            out.push_str(&p.key);
            out.push_str("->");
            out.push_str(&abbreviate(&to_java_string(&p.value), 20));
            out.push(']');
        }
        Value::Property(p) => {
            out.push_str("p[");
            out.push_str(&p.key);
            out.push_str("->");
            out.push_str(&abbreviate(&to_java_string(&p.value), 20));
            out.push(']');
        }
        Value::Path(p) => {
            out.push_str("path");
            write_seq(p.objects.iter(), out, depth);
        }
        Value::Graph(g) => out.push_str(&format!(
            "tinkergraph[vertices:{} edges:{}]",
            g.vertices.len(),
            g.edges.len()
        )),
        Value::Metrics(_) => out.push_str("Traversal Metrics"),
        Value::Traverser(t) => write_java(&t.1, out, depth + 1),
        Value::Enum(e) => out.push_str(&e.name),
        Value::P(p) => {
            out.push_str(&p.name);
            out.push('(');
            if p.args.len() == 1 {
                write_java(&p.args[0], out, depth + 1);
            } else {
                write_seq(p.args.iter(), out, depth);
            }
            out.push(')');
        }
        Value::Bytecode(_) => out.push_str("[bytecode]"),
        Value::Binding(b) => {
            out.push_str("binding[");
            out.push_str(&b.0);
            out.push('=');
            write_java(&b.1, out, depth + 1);
            out.push(']');
        }
        Value::Lambda(l) => out.push_str(&l.script),
        Value::Class(c) => out.push_str(c),
        Value::Strategy(s) => out.push_str(&s.class),
    }
}

/// The `asString()` step: Java `toString`; null raises an error.
pub fn as_string(v: &Value) -> Result<Value, SemanticsError> {
    match v {
        Value::Null => Err(SemanticsError::illegal_argument(
            "Can't parse null as String.",
        )),
        Value::String(_) => Ok(v.clone()),
        other => Ok(Value::str(&to_java_string(other))),
    }
}

fn needs_string(step: &str, v: &Value) -> Result<(), SemanticsError> {
    match v {
        Value::String(_) | Value::Null => Ok(()),
        _ => Err(SemanticsError::illegal_argument(format!(
            "The {step}() step can only take string as argument, encountered {}",
            v.type_name()
        ))),
    }
}

/// Java `Character.isWhitespace` (what `String.strip()` trims): Unicode space separators
/// except the no-break spaces, plus the ASCII controls TAB..CR and FS..US.
pub fn is_java_whitespace(c: char) -> bool {
    match c {
        '\u{00A0}' | '\u{2007}' | '\u{202F}' => false,
        '\u{1C}'..='\u{1F}' => true,
        other => other.is_whitespace() && other != '\u{85}',
    }
}

/// Applies a string step in `Scope.local` form: on a string, or on each element of a list
/// (nulls stay null). Anything else raises "The {step}(local) step can only take string or
/// list of strings".
pub fn map_local(
    step: &str,
    v: &Value,
    f: fn(&Value) -> Result<Value, SemanticsError>,
) -> Result<Value, SemanticsError> {
    let err = |got: &Value| {
        SemanticsError::illegal_argument(format!(
            "The {step}(local) step can only take string or list of strings, encountered {}",
            got.type_name()
        ))
    };
    match v {
        Value::String(_) | Value::Null => f(v),
        Value::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(_) | Value::Null => out.push(f(item)?),
                    other => return Err(err(other)),
                }
            }
            Ok(Value::List(out))
        }
        other => Err(err(other)),
    }
}

/// The `toUpper()` step (null passes through).
pub fn to_upper(v: &Value) -> Result<Value, SemanticsError> {
    needs_string("toUpper", v)?;
    Ok(match v {
        Value::String(s) => Value::str(&s.to_uppercase()),
        other => other.clone(),
    })
}

/// The `toLower()` step (null passes through).
pub fn to_lower(v: &Value) -> Result<Value, SemanticsError> {
    needs_string("toLower", v)?;
    Ok(match v {
        Value::String(s) => Value::str(&s.to_lowercase()),
        other => other.clone(),
    })
}

/// The `trim()` step (null passes through).
pub fn trim(v: &Value) -> Result<Value, SemanticsError> {
    needs_string("trim", v)?;
    Ok(match v {
        Value::String(s) => Value::str(s.trim_matches(is_java_whitespace)),
        other => other.clone(),
    })
}

/// The `lTrim()` step (null passes through).
pub fn ltrim(v: &Value) -> Result<Value, SemanticsError> {
    needs_string("lTrim", v)?;
    Ok(match v {
        Value::String(s) => Value::str(s.trim_start_matches(is_java_whitespace)),
        other => other.clone(),
    })
}

/// The `rTrim()` step (null passes through).
pub fn rtrim(v: &Value) -> Result<Value, SemanticsError> {
    needs_string("rTrim", v)?;
    Ok(match v {
        Value::String(s) => Value::str(s.trim_end_matches(is_java_whitespace)),
        other => other.clone(),
    })
}

/// The `length()` step: Java `String.length()` (UTF-16 units) as an Int; null passes through.
pub fn length(v: &Value) -> Result<Value, SemanticsError> {
    needs_string("length", v)?;
    Ok(match v {
        Value::String(s) => Value::Int(s.encode_utf16().count().min(i32::MAX as usize) as i32),
        other => other.clone(),
    })
}

/// The `reverse()` step on a string (code points reversed); lists reverse element order;
/// other values pass through unchanged.
pub fn reverse(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::str(&s.chars().rev().collect::<String>()),
        Value::List(l) => Value::List(l.iter().rev().cloned().collect()),
        other => other.clone(),
    }
}

/// The `replace(old, new)` step (null value passes through; null `old` means nothing to
/// replace).
pub fn replace(v: &Value, old: &Value, new: &Value) -> Result<Value, SemanticsError> {
    needs_string("replace", v)?;
    let s = match v {
        Value::String(s) => s,
        other => return Ok(other.clone()),
    };
    match (old, new) {
        (Value::String(o), Value::String(n)) => Ok(Value::str(&s.replace(&**o, n))),
        (Value::String(o), Value::Null) => Ok(Value::str(&s.replace(&**o, "null"))),
        _ => Ok(v.clone()),
    }
}

/// The `split(separator)` step: Java `StringUtils.splitByWholeSeparator` semantics as
/// TinkerPop uses them: a null separator splits on whitespace runs; an empty separator splits
/// into characters. Null value passes through.
pub fn split(v: &Value, separator: &Value) -> Result<Value, SemanticsError> {
    needs_string("split", v)?;
    let s = match v {
        Value::String(s) => s,
        other => return Ok(other.clone()),
    };
    let parts: Vec<Value> = match separator {
        Value::Null => s.split_whitespace().map(Value::str).collect(),
        Value::String(sep) if sep.is_empty() => {
            s.chars().map(|c| Value::str(&c.to_string())).collect()
        }
        Value::String(sep) => s.split(&**sep).map(Value::str).collect(),
        other => {
            return Err(SemanticsError::illegal_argument(format!(
                "The split() step separator must be a string, encountered {}",
                other.type_name()
            )))
        }
    };
    Ok(Value::List(parts))
}

/// The `substring(start[, end])` step with TinkerPop's index rules: negative indices count from
/// the end, indices are clamped into the string, an end before the start gives "". Indices
/// are in UTF-16 units like Java. Null value passes through.
pub fn substring(v: &Value, start: i64, end: Option<i64>) -> Result<Value, SemanticsError> {
    needs_string("substring", v)?;
    let s = match v {
        Value::String(s) => s,
        other => return Ok(other.clone()),
    };
    let units: Vec<u16> = s.encode_utf16().collect();
    let len = units.len() as i64;
    let norm = |i: i64| -> i64 {
        if i < 0 {
            (len + i).max(0)
        } else {
            i.min(len)
        }
    };
    let b = norm(start);
    let e = match end {
        None => len,
        Some(e) => norm(e),
    };
    if e <= b {
        return Ok(Value::str(""));
    }
    let slice = &units[b as usize..e as usize];
    Ok(Value::str(&String::from_utf16_lossy(slice)))
}

/// The `concat(...)` step: the incoming string followed by each argument (the string
/// arguments, or the first result of each argument traversal). Null parts are skipped; when
/// every part is null the result is null. The incoming value must be a string or null.
pub fn concat(v: &Value, args: &[Value]) -> Result<Value, SemanticsError> {
    let mut out = String::new();
    let mut any = false;
    for (i, part) in std::iter::once(v).chain(args.iter()).enumerate() {
        match part {
            Value::String(s) => {
                out.push_str(s);
                any = true;
            }
            Value::Null => {}
            other if i == 0 => {
                return Err(SemanticsError::illegal_argument(format!(
                    "String concat() can only take string as argument, encountered {}",
                    other.type_name()
                )))
            }
            // Argument traversals are typed String in Java; print anything else as Java would.
            other => {
                out.push_str(&to_java_string(other));
                any = true;
            }
        }
    }
    Ok(if any { Value::str(&out) } else { Value::Null })
}

/// A `format()` template piece.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatPart {
    /// Text copied as is (a `%` that does not start a variable stays literal).
    Literal(String),
    /// `%{name}`: a property of the current element, else a scope variable (step label,
    /// side effect, map key).
    Var(String),
    /// The n-th `%{_}` of the template (0-based); it takes the value of `by()` modulator
    /// `n % number_of_modulators`, as TinkerPop's traversal ring does.
    By(usize),
}

/// Parses a `format()` template like TinkerPop's `(?<!%)%\{(.*?)\}`: `%{name}` is a
/// variable unless the `%` follows another `%`.
pub fn parse_format(template: &str) -> Vec<FormatPart> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut by_index = 0;
    let mut rest = template;
    let mut prev_percent = false;
    while let Some(i) = rest.find("%{") {
        let escaped = if i == 0 {
            prev_percent
        } else {
            rest[..i].ends_with('%')
        };
        let after = &rest[i + 2..];
        let close = after.find('}');
        match close {
            Some(j) if !escaped => {
                lit.push_str(&rest[..i]);
                if !lit.is_empty() {
                    parts.push(FormatPart::Literal(std::mem::take(&mut lit)));
                }
                let name = &after[..j];
                if name == "_" {
                    parts.push(FormatPart::By(by_index));
                    by_index += 1;
                } else {
                    parts.push(FormatPart::Var(name.to_string()));
                }
                rest = &after[j + 1..];
                prev_percent = false;
            }
            Some(_) => {
                // Escaped: keep "%{" literally and continue after it.
                lit.push_str(&rest[..i + 2]);
                rest = after;
                prev_percent = false;
            }
            None => break,
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        parts.push(FormatPart::Literal(lit));
    }
    parts
}

/// The variable names a template references (TinkerPop's `getScopeKeys`), without `_`.
pub fn format_variables(template: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in parse_format(template) {
        if let FormatPart::Var(name) = p {
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// Renders a `format()` template; `lookup` resolves each variable. Returns `None` when a
/// variable is unresolved or null (the step then drops the traverser).
pub fn format(template: &str, lookup: &dyn Fn(&FormatPart) -> Option<Value>) -> Option<String> {
    let mut out = String::new();
    for part in parse_format(template) {
        match &part {
            FormatPart::Literal(l) => out.push_str(l),
            var => match lookup(var)? {
                Value::Null => return None,
                v => out.push_str(&to_java_string(&v)),
            },
        }
    }
    Some(out)
}

/// The `asBool()` step: booleans as is, numbers `!= 0` (NaN is false), the strings "true" /
/// "false" in any case; null and anything else raise "Can't parse ... as Boolean.".
pub fn as_bool(v: &Value) -> Result<Value, SemanticsError> {
    match v {
        Value::Null => Err(SemanticsError::illegal_argument(
            "Can't parse null as Boolean.",
        )),
        Value::Bool(_) => Ok(v.clone()),
        n if super::number::is_number(n) => {
            // Java: `doubleValue() != 0d` (so -0.0 is false), NaN is false.
            let d = super::number::to_f64(n).unwrap_or(f64::NAN);
            Ok(Value::Bool(d != 0.0 && !d.is_nan()))
        }
        Value::String(s) => {
            if s.eq_ignore_ascii_case("true") {
                Ok(Value::Bool(true))
            } else if s.eq_ignore_ascii_case("false") {
                Ok(Value::Bool(false))
            } else {
                Err(SemanticsError::illegal_argument(format!(
                    "Can't parse {s} as Boolean."
                )))
            }
        }
        other => Err(SemanticsError::illegal_argument(format!(
            "Can't parse {} as Boolean.",
            other.type_name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn java_number_strings() {
        assert_eq!(double_to_string(1.0), "1.0");
        assert_eq!(double_to_string(29.0), "29.0");
        assert_eq!(double_to_string(0.5), "0.5");
        assert_eq!(double_to_string(1e7), "1.0E7");
        assert_eq!(double_to_string(1.0e-4), "1.0E-4");
        assert_eq!(double_to_string(0.001), "0.001");
        assert_eq!(double_to_string(-1234.5), "-1234.5");
        assert_eq!(
            double_to_string(1.7976931348623157e308),
            "1.7976931348623157E308"
        );
        assert_eq!(float_to_string(5.75), "5.75");
        assert_eq!(float_to_string(4.294_967_3e9), "4.2949673E9");
        assert_eq!(to_java_string(&Value::Long(1)), "1");
    }

    #[test]
    fn element_and_collection_strings() {
        let e = Value::Edge(Arc::new(crate::value::Edge {
            id: Value::Int(7),
            label: "knows".into(),
            out_v_id: Value::Int(1),
            out_v_label: "person".into(),
            in_v_id: Value::Int(2),
            in_v_label: "person".into(),
            properties: None,
        }));
        assert_eq!(to_java_string(&e), "e[7][1-knows->2]");
        let vp = Value::VertexProperty(Arc::new(crate::value::VertexProperty {
            id: Value::Long(0),
            key: "name".into(),
            value: Value::str("marko"),
            properties: None,
        }));
        assert_eq!(to_java_string(&vp), "vp[name->marko]");
        let mut m = crate::value::Map::new();
        m.insert(Value::str("name"), Value::List(vec![Value::str("marko")]));
        assert_eq!(to_java_string(&Value::Map(m)), "{name=[marko]}");
        assert_eq!(
            to_java_string(&Value::List(vec![Value::Int(1), Value::Double(2.0)])),
            "[1, 2.0]"
        );
        assert!(as_string(&Value::Null)
            .unwrap_err()
            .message
            .contains("Can't parse"));
    }

    #[test]
    fn trims_use_java_whitespace() {
        // Trim.feature: ideographic spaces (U+3000) are trimmed.
        assert_eq!(
            trim(&Value::str("\u{3000}abc\u{3000}")).unwrap(),
            Value::str("abc")
        );
        assert_eq!(
            ltrim(&Value::str("abc\u{3000}")).unwrap(),
            Value::str("abc\u{3000}")
        );
        assert_eq!(
            trim(&Value::str("\u{3000}\u{3000}")).unwrap(),
            Value::str("")
        );
        // Java does not treat the no-break space as whitespace.
        assert_eq!(trim(&Value::str("\u{A0}x")).unwrap(), Value::str("\u{A0}x"));
        let list = Value::List(vec![Value::str(" a "), Value::Null]);
        assert_eq!(
            map_local("trim", &list, trim).unwrap(),
            Value::List(vec![Value::str("a"), Value::Null])
        );
        let bad = Value::List(vec![Value::Int(1), Value::Int(2)]);
        assert!(map_local("trim", &bad, trim)
            .unwrap_err()
            .message
            .contains("The trim(local) step can only take string or list of strings"));
    }

    #[test]
    fn concat_and_as_bool() {
        // Concat.feature
        assert_eq!(concat(&Value::Null, &[]).unwrap(), Value::Null);
        assert_eq!(
            concat(&Value::Null, &[Value::Null, Value::str("b")]).unwrap(),
            Value::str("b")
        );
        assert_eq!(
            concat(&Value::str("a"), &[Value::Null, Value::str("b")]).unwrap(),
            Value::str("ab")
        );
        assert!(concat(&Value::List(vec![]), &[Value::str("d")])
            .unwrap_err()
            .message
            .contains("String concat() can only take string as argument"));
        // AsBool.feature
        assert_eq!(as_bool(&Value::Int(1)).unwrap(), Value::Bool(true));
        assert_eq!(as_bool(&Value::Double(-0.0)).unwrap(), Value::Bool(false));
        assert_eq!(
            as_bool(&Value::Double(f64::NAN)).unwrap(),
            Value::Bool(false)
        );
        assert_eq!(as_bool(&Value::Long(0)).unwrap(), Value::Bool(false));
        assert_eq!(as_bool(&Value::str("tRUe")).unwrap(), Value::Bool(true));
        assert_eq!(
            as_bool(&Value::Null).unwrap_err().message,
            "Can't parse null as Boolean."
        );
        assert_eq!(
            as_bool(&Value::str("hello")).unwrap_err().message,
            "Can't parse hello as Boolean."
        );
        assert!(as_bool(&Value::List(vec![Value::Int(1)]))
            .unwrap_err()
            .message
            .contains("Can't parse"));
    }

    #[test]
    fn string_steps() {
        assert_eq!(
            substring(&Value::str("marko"), 2, None).unwrap(),
            Value::str("rko")
        );
        assert_eq!(
            substring(&Value::str("marko"), -3, Some(-1)).unwrap(),
            Value::str("rk")
        );
        assert_eq!(
            substring(&Value::str("marko"), 3, Some(1)).unwrap(),
            Value::str("")
        );
        assert_eq!(
            split(&Value::str("a b  c"), &Value::Null).unwrap(),
            Value::List(vec![Value::str("a"), Value::str("b"), Value::str("c")])
        );
        assert_eq!(trim(&Value::str("  x ")).unwrap(), Value::str("x"));
        assert_eq!(ltrim(&Value::str("  x ")).unwrap(), Value::str("x "));
        assert_eq!(rtrim(&Value::str("  x ")).unwrap(), Value::str("  x"));
        assert_eq!(reverse(&Value::str("abc")), Value::str("cba"));
        assert_eq!(to_upper(&Value::Null).unwrap(), Value::Null);
        assert!(to_upper(&Value::Int(1))
            .unwrap_err()
            .message
            .contains("The toUpper() step can only take string as argument"));
        let lookup = |p: &FormatPart| match p {
            FormatPart::Var(n) if n == "name" => Some(Value::str("marko")),
            FormatPart::Var(n) if n == "age" => Some(Value::Int(29)),
            FormatPart::By(i) => Some(if i % 2 == 0 {
                Value::str("hello")
            } else {
                Value::str("marko")
            }),
            _ => None,
        };
        // Format.feature cases.
        assert_eq!(
            format("%{name} is %{age} years old", &lookup),
            Some("marko is 29 years old".into())
        );
        assert_eq!(
            format("%{_} %{_} %{_}", &lookup),
            Some("hello marko hello".into())
        );
        assert_eq!(format("Hello world", &lookup), Some("Hello world".into()));
        assert_eq!(format("%{missing}", &lookup), None);
        assert_eq!(
            format("%%{name} 100%", &lookup),
            Some("%%{name} 100%".into())
        );
        assert_eq!(format_variables("%{a} %{_} %{b} %{a}"), vec!["a", "b"]);
    }
}
