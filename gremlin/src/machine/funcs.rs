//! String, list and `math()` functions of the machine (value-level work goes through `sem`).

use std::sync::Arc;

use indexmap::IndexSet;

use super::compile::By;
use super::exec::{show, Ctx};
use super::Traverser;
use crate::error::GremlinError;
use crate::graph::Graph;
use crate::value::Value;

fn rt(msg: impl Into<String>) -> GremlinError {
    GremlinError::runtime(msg)
}

fn list_of(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::List(l) => Some(l.clone()),
        Value::Set(s) => Some(s.iter().cloned().collect()),
        _ => None,
    }
}

fn str_fn(name: &str, s: &str, args: &[Value]) -> Result<Value, GremlinError> {
    let arg_s = |i: usize| args.get(i).and_then(Value::as_str).map(str::to_string);
    let arg_i = |i: usize| match args.get(i) {
        Some(Value::Int(x)) => Some(i64::from(*x)),
        Some(Value::Long(x)) => Some(*x),
        _ => None,
    };
    Ok(match name {
        "toUpper" => Value::str(&s.to_uppercase()),
        "toLower" => Value::str(&s.to_lowercase()),
        "length" => Value::Int(i32::try_from(s.encode_utf16().count()).unwrap_or(i32::MAX)),
        "trim" => Value::str(s.trim()),
        "lTrim" => Value::str(s.trim_start()),
        "rTrim" => Value::str(s.trim_end()),
        "reverse" => Value::str(&s.chars().rev().collect::<String>()),
        "replace" => match (arg_s(0), args.get(1)) {
            (Some(a), Some(Value::String(b))) => Value::str(&s.replace(&a, b)),
            (Some(a), Some(Value::Null)) => Value::str(&s.replace(&a, "")),
            _ => Value::str(s),
        },
        "split" => {
            let sep = arg_s(0);
            let parts: Vec<Value> = match sep.as_deref() {
                None | Some("") if args.first().is_some_and(|a| matches!(a, Value::Null)) => {
                    s.split_whitespace().map(Value::str).collect()
                }
                Some("") => s.chars().map(|c| Value::str(&c.to_string())).collect(),
                Some(sep) => s.split(sep).map(Value::str).collect(),
                None => s.split_whitespace().map(Value::str).collect(),
            };
            Value::List(parts)
        }
        "substring" => {
            let chars: Vec<char> = s.chars().collect();
            let len = chars.len() as i64;
            let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
            let start = norm(arg_i(0).unwrap_or(0));
            let end = match arg_i(1) {
                Some(e) => norm(e),
                None => len,
            };
            if end <= start {
                Value::str("")
            } else {
                Value::str(
                    &chars[start as usize..end as usize]
                        .iter()
                        .collect::<String>(),
                )
            }
        }
        _ => return Err(rt(format!("{name}() is not supported on String"))),
    })
}

/// Applies a string or list function step to one traverser.
pub(crate) fn apply<G: Graph>(
    ctx: &mut Ctx<'_, G>,
    name: &str,
    args: &[Value],
    local: bool,
    t: &Traverser,
) -> Result<Value, GremlinError> {
    let v = &t.value;
    // resolve traversal arguments
    let mut rargs = Vec::with_capacity(args.len());
    for a in args {
        match a {
            Value::Bytecode(b) => {
                let c = super::compile::Compiler::new().compile(b)?;
                rargs.push(ctx.arg_value(&super::compile::Arg::Trav(Arc::new(c)), t)?);
            }
            other => rargs.push(other.clone()),
        }
    }
    let args = rargs;
    match name {
        "concat" => {
            let mut s = match v {
                Value::Null => String::new(),
                Value::String(s) => s.to_string(),
                other => {
                    return Err(rt(format!(
                        "The concat() step can only take string as argument, encountered {}",
                        other.type_name()
                    )))
                }
            };
            for a in &args {
                match a {
                    Value::String(x) => s.push_str(x),
                    Value::Null => {}
                    other => s.push_str(&show(other)),
                }
            }
            Ok(Value::str(&s))
        }
        "asString" => {
            if local {
                if let Some(l) = list_of(v) {
                    return Ok(Value::List(
                        l.iter().map(|x| Value::str(&show(x))).collect(),
                    ));
                }
            }
            if matches!(v, Value::Null) {
                return Err(rt("Can't parse null as String."));
            }
            Ok(Value::str(&show(v)))
        }
        "toUpper" | "toLower" | "length" | "trim" | "lTrim" | "rTrim" | "reverse" | "replace"
        | "split" | "substring" => {
            if local {
                if let Some(l) = list_of(v) {
                    let mut out = Vec::new();
                    for x in l {
                        out.push(match &x {
                            Value::String(s) => str_fn(name, s, &args)?,
                            Value::Null => Value::Null,
                            other => {
                                return Err(rt(format!(
                                    "The {name}(local) step can only take string or list of strings, encountered {}",
                                    other.type_name()
                                )))
                            }
                        });
                    }
                    return Ok(Value::List(out));
                }
            }
            match v {
                Value::String(s) => str_fn(name, s, &args),
                Value::Null => Ok(Value::Null),
                Value::List(l) if name == "reverse" => {
                    Ok(Value::List(l.iter().rev().cloned().collect()))
                }
                other => Err(rt(format!(
                    "The {name}() step can only take string as argument, encountered {}",
                    other.type_name()
                ))),
            }
        }
        "combine" | "difference" | "disjunct" | "intersect" | "merge" | "product" | "conjoin" => {
            let Some(a) = list_of(v) else {
                return Err(rt(format!(
                    "{name} step can only take an array or an Iterable type for incoming traversers, encountered {}",
                    v.type_name()
                )));
            };
            if name == "conjoin" {
                let sep = args.first().and_then(Value::as_str).unwrap_or("");
                let parts: Vec<String> = a
                    .iter()
                    .filter(|x| !matches!(x, Value::Null))
                    .map(show)
                    .collect();
                return Ok(Value::str(&parts.join(sep)));
            }
            let b = match args.first() {
                Some(x) => list_of(x).ok_or_else(|| {
                    rt(format!(
                        "{name} step can only take an array or an Iterable as an argument, encountered {}",
                        x.type_name()
                    ))
                })?,
                None => Vec::new(),
            };
            let sa: IndexSet<Value> = a.iter().cloned().collect();
            let sb: IndexSet<Value> = b.iter().cloned().collect();
            Ok(match name {
                "combine" => Value::List(a.into_iter().chain(b).collect()),
                "merge" => Value::Set(sa.union(&sb).cloned().collect()),
                "difference" => Value::Set(sa.difference(&sb).cloned().collect()),
                "intersect" => Value::Set(sa.intersection(&sb).cloned().collect()),
                "disjunct" => Value::Set(sa.symmetric_difference(&sb).cloned().collect()),
                _ => Value::List(
                    a.iter()
                        .flat_map(|x| {
                            b.iter()
                                .map(move |y| Value::List(vec![x.clone(), y.clone()]))
                        })
                        .collect(),
                ),
            })
        }
        _ => Err(rt(format!("{name}() is not supported yet"))),
    }
}

/// `math()`: needs the expression parser of the semantics module.
pub(crate) fn math<G: Graph>(
    _ctx: &mut Ctx<'_, G>,
    expr: &str,
    _by: &[By],
    _t: &Traverser,
) -> Result<Value, GremlinError> {
    Err(rt(format!("math('{expr}') is not supported yet")))
}
