//! String, list, date and `math()` steps: the machine resolves arguments and scopes, the
//! value work is done by [`crate::semantics`].

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexSet;

use super::compile::{Arg, By, Compiler};
use super::exec::Ctx;
use super::sem::err;
use super::Traverser;
use crate::error::GremlinError;
use crate::graph::Graph;
use crate::semantics::{datetime, math as smath, number, text};
use crate::value::Value;

fn rt(msg: impl Into<String>) -> GremlinError {
    GremlinError::runtime(msg)
}

fn list_of(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::List(l) => Some(l.clone()),
        Value::Set(s) => Some(s.iter().cloned().collect()),
        Value::Path(p) => Some(p.objects.clone()),
        Value::BulkSet(b) => Some(
            b.iter()
                .flat_map(|(v, n)| std::iter::repeat_n(v.clone(), usize::try_from(*n).unwrap_or(0)))
                .collect(),
        ),
        _ => None,
    }
}

/// A one-argument semantics function.
type ValueFn = fn(&Value) -> Result<Value, crate::semantics::SemanticsError>;

fn int_arg(v: Option<&Value>) -> Option<i64> {
    number::to_i64(v?)
}

/// Applies a string, list or date step to one traverser; `None` drops the traverser.
pub(crate) fn apply<G: Graph>(
    ctx: &mut Ctx<'_, G>,
    name: &str,
    args: &[Value],
    local: bool,
    by: &[By],
    t: &Traverser,
) -> Result<Option<Value>, GremlinError> {
    let v = &t.value;
    let from_trav = matches!(args.first(), Some(Value::Bytecode(_)));
    let mut rargs = Vec::with_capacity(args.len());
    for a in args {
        match a {
            Value::Bytecode(b) => {
                let c = Compiler::new().compile(b)?;
                rargs.push(ctx.arg_value(&Arg::Trav(Arc::new(c)), t)?);
            }
            other => rargs.push(other.clone()),
        }
    }
    let args = rargs;
    let simple: Option<ValueFn> = match name {
        "toUpper" => Some(text::to_upper),
        "toLower" => Some(text::to_lower),
        "trim" => Some(text::trim),
        "lTrim" => Some(text::ltrim),
        "rTrim" => Some(text::rtrim),
        "length" => Some(text::length),
        _ => None,
    };
    if let Some(f) = simple {
        return if local {
            text::map_local(name, v, &f).map(Some).map_err(err)
        } else {
            f(v).map(Some).map_err(err)
        };
    }
    let each = |f: &dyn Fn(&Value) -> Result<Value, crate::semantics::SemanticsError>| {
        if local {
            if let Value::List(l) = v {
                let mut out = Vec::new();
                for x in l {
                    out.push(f(x).map_err(err)?);
                }
                return Ok(Some(Value::List(out)));
            }
        }
        f(v).map(Some).map_err(err)
    };
    match name {
        "reverse" => Ok(Some(text::reverse(v))),
        "replace" => {
            let (a, b) = (
                args.first().cloned().unwrap_or_default(),
                args.get(1).cloned().unwrap_or_default(),
            );
            each(&|x| text::replace(x, &a, &b))
        }
        "split" => {
            let a = args.first().cloned().unwrap_or_default();
            each(&|x| text::split(x, &a))
        }
        "substring" => {
            let start = int_arg(args.first()).unwrap_or(0);
            let end = int_arg(args.get(1));
            each(&|x| text::substring(x, start, end))
        }
        "concat" => text::concat(v, &args).map(Some).map_err(err),
        "asString" => each(&text::as_string),
        "asBool" => text::as_bool(v).map(Some).map_err(err),
        "asNumber" => number::as_number(v, args.first()).map(Some).map_err(err),
        "asDate" => datetime::as_date(v)
            .map(|d| Some(Value::DateTime(d)))
            .map_err(err),
        "dateAdd" => {
            let dt = datetime::as_datetime(v).ok_or_else(|| {
                rt(format!(
                    "dateAdd can only take DateTime as argument, encountered {}",
                    v.type_name()
                ))
            })?;
            let unit = args
                .first()
                .and_then(datetime::dt_unit)
                .unwrap_or("day")
                .to_string();
            let n = int_arg(args.get(1)).unwrap_or(0);
            datetime::date_add(&dt, &unit, n)
                .map(|d| Some(Value::DateTime(d)))
                .map_err(err)
        }
        "dateDiff" => {
            let dt = datetime::as_datetime(v).ok_or_else(|| {
                rt(format!(
                    "dateDiff can only take DateTime as argument, encountered {}",
                    v.type_name()
                ))
            })?;
            let other = match args.first() {
                None | Some(Value::Null) => None,
                Some(o) => Some(datetime::as_datetime(o).ok_or_else(|| {
                    rt(format!(
                        "dateDiff can only take DateTime as argument, encountered {}",
                        o.type_name()
                    ))
                })?),
            };
            Ok(Some(Value::Long(datetime::date_diff(&dt, other.as_ref()))))
        }
        "format" => format(ctx, args.first(), by, t),
        "combine" | "difference" | "disjunct" | "intersect" | "merge" | "product" | "conjoin" => {
            if matches!(v, Value::Null) {
                return Err(rt(format!(
                    "Incoming traverser for {name} step can't be null"
                )));
            }
            if name == "merge" {
                if let Value::Map(m) = v {
                    return match args.first() {
                        Some(Value::Map(o)) => {
                            let mut m = m.clone();
                            m.extend(o.iter().map(|(k, v)| (k.clone(), v.clone())));
                            Ok(Some(Value::Map(m)))
                        }
                        other => Err(rt(format!(
                            "merge step expected provided argument to evaluate to a Map, encountered {}",
                            other.map(Value::type_name).unwrap_or("null")
                        ))),
                    };
                }
            }
            let Some(a) = list_of(v) else {
                return Err(rt(format!(
                    "{name} step can only take an array or an Iterable type for incoming traversers, encountered {}",
                    v.type_name()
                )));
            };
            if name == "conjoin" {
                let sep = match args.first() {
                    Some(Value::String(s)) => s.to_string(),
                    Some(other) => {
                        return Err(rt(format!(
                            "conjoin step can only take a String as delimiter, encountered {}",
                            other.type_name()
                        )))
                    }
                    None => String::new(),
                };
                let parts: Vec<String> = a
                    .iter()
                    .filter(|x| !matches!(x, Value::Null))
                    .map(text::to_java_string)
                    .collect();
                return Ok(Some(Value::str(&parts.join(&sep))));
            }
            let b = match args.first() {
                Some(Value::Null) | None if from_trav => {
                    return Err(rt(format!(
                        "traversal argument for {name} step must yield an iterable type, not null"
                    )))
                }
                Some(Value::Null) => {
                    return Err(rt(format!(
                        "Argument provided for {name} step can't be null"
                    )))
                }
                Some(x @ Value::Map(_)) if name == "merge" && !from_trav => {
                    return Err(rt(format!(
                        "step type mismatch: expected argument to be Iterable but got {}",
                        x.type_name()
                    )))
                }
                Some(x) => match list_of(x) {
                    Some(l) => l,
                    None if from_trav => {
                        return Err(rt(format!(
                            "traversal argument for {name} step must yield an iterable type, encountered {}",
                            x.type_name()
                        )))
                    }
                    None => {
                        return Err(rt(format!(
                            "{name} step can only take an array or an Iterable as an argument, encountered {}",
                            x.type_name()
                        )))
                    }
                },
                None => {
                    return Err(rt(format!(
                        "{name} step can only take an array or an Iterable as an argument, encountered null"
                    )))
                }
            };
            let sa: IndexSet<Value> = a.iter().cloned().collect();
            let sb: IndexSet<Value> = b.iter().cloned().collect();
            Ok(Some(match name {
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
            }))
        }
        _ => Err(rt(format!("{name}() is not supported"))),
    }
}

fn format<G: Graph>(
    ctx: &mut Ctx<'_, G>,
    template: Option<&Value>,
    by: &[By],
    t: &Traverser,
) -> Result<Option<Value>, GremlinError> {
    let Some(Value::String(tpl)) = template else {
        return Err(rt("format() requires a String template"));
    };
    let mut vals: HashMap<String, Value> = HashMap::new();
    for name in text::format_variables(tpl) {
        let mut found = None;
        if matches!(
            t.value,
            Value::Vertex(_) | Value::Edge(_) | Value::VertexProperty(_)
        ) {
            let k: Arc<str> = Arc::from(name.as_str());
            found = ctx
                .props(&t.value, std::slice::from_ref(&k))?
                .first()
                .map(Ctx::<G>::prop_value);
        }
        if found.is_none() {
            found = ctx.scope_value(t, &name, "last")?;
        }
        if let Some(v) = found {
            vals.insert(name, v);
        }
    }
    let mut by_vals = Vec::new();
    for b in by {
        by_vals.push(ctx.by_value(b, t)?);
    }
    let out = text::format(tpl, &|part| match part {
        text::FormatPart::Var(n) => vals.get(n).cloned(),
        text::FormatPart::By(i) => {
            if by_vals.is_empty() {
                None
            } else {
                by_vals[i % by_vals.len()].clone()
            }
        }
        text::FormatPart::Literal(_) => None,
    });
    Ok(out.map(|s| Value::str(&s)))
}

/// `math()`: parses the expression, binds `_` and the step labels (with `by()` modulators in
/// order of first appearance), evaluates to a Double; `None` when a `by()` is unproductive.
pub(crate) fn math<G: Graph>(
    ctx: &mut Ctx<'_, G>,
    expr: &str,
    by: &[By],
    t: &Traverser,
) -> Result<Option<Value>, GremlinError> {
    let e = smath::parse(expr).map_err(err)?;
    let mut vals: HashMap<String, f64> = HashMap::new();
    for (i, var) in e.variables().into_iter().enumerate() {
        let raw = if var == "_" {
            Some(t.value.clone())
        } else {
            ctx.scope_value(t, &var, "last")?
        };
        let Some(raw) = raw else { continue };
        let v = if by.is_empty() {
            Some(raw)
        } else {
            ctx.by_on(&by[i % by.len()], &raw, t)?
        };
        // An unproductive by() filters the traverser.
        let Some(v) = v else { return Ok(None) };
        let f = number::to_f64(&v).ok_or_else(|| {
            rt(format!(
                "The variable {var} for math() step must resolve to a Number - it is instead of type {} with value {}",
                v.type_name(),
                text::to_java_string(&v)
            ))
        })?;
        vals.insert(var, f);
    }
    let r = e.eval(&|n| vals.get(n).copied()).map_err(err)?;
    Ok(Some(Value::Double(r)))
}
