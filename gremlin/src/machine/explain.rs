//! The text of `explain()`, in TinkerPop's `TraversalExplanation` shape: the original
//! traversal, one line per applied strategy with the traversal after it, the final traversal,
//! then any extra lines (index choices and the like). One formatter for every executor.

/// One applied strategy and the traversal after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The strategy's name (TinkerPop style, e.g. `VertexStepFusionStrategy`).
    pub name: String,
    /// TinkerPop's category letter: `D`ecoration, `O`ptimization, `P`rovider optimization,
    /// `F`inalization, `V`erification.
    pub category: char,
    /// The traversal after the strategy.
    pub after: String,
}

/// The explanation text: `original`, then each of `applied`, then the final traversal (the
/// last applied one's, or the original), then each of `extra` on its own line.
pub fn explanation(original: &str, applied: &[Applied], extra: &[String]) -> String {
    let width = applied
        .iter()
        .map(|a| a.name.len())
        .max()
        .unwrap_or(0)
        .max("Original Traversal".len());
    let mut out = String::from("Traversal Explanation\n");
    let rule_len = width + 6 + original.len().clamp(20, 120);
    out.push_str(&"=".repeat(rule_len));
    out.push('\n');
    out.push_str(&format!(
        "{:<w$}       {original}\n\n",
        "Original Traversal",
        w = width
    ));
    for a in applied {
        out.push_str(&format!(
            "{:<w$} [{}]   {}\n",
            a.name,
            a.category,
            a.after,
            w = width
        ));
    }
    if !applied.is_empty() {
        out.push('\n');
    }
    let last = applied.last().map_or(original, |a| a.after.as_str());
    out.push_str(&format!(
        "{:<w$}       {last}",
        "Final Traversal",
        w = width
    ));
    for e in extra {
        out.push('\n');
        out.push_str(e);
    }
    out
}

/// A step as `explain()` shows it, in TinkerPop's naming where there is one
/// (`GraphStep(vertex,[1])`, `HasStep([~label.eq(person)])`, `VertexStep(OUT,[knows],vertex)`,
/// `CountGlobalStep`); other steps by their name alone.
pub fn step_text(s: &crate::machine::compile::Step) -> String {
    use crate::graph::Direction;
    use crate::machine::compile::{Cond, HasOn, Step};
    use crate::value::Value;
    fn value(v: &Value) -> String {
        match v {
            Value::String(s) => s.to_string(),
            Value::Int(n) => n.to_string(),
            Value::Long(n) => n.to_string(),
            Value::Double(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                let d = format!("{other:?}");
                d.chars().take(40).collect()
            }
        }
    }
    fn list(vs: &[Value]) -> String {
        vs.iter().map(value).collect::<Vec<_>>().join(", ")
    }
    match s {
        Step::V(ids) => format!("GraphStep(vertex,[{}])", list(ids)),
        Step::E(ids) => format!("GraphStep(edge,[{}])", list(ids)),
        Step::Adj { dir, labels, edges } => format!(
            "VertexStep({},[{}],{})",
            match dir {
                Direction::Out => "OUT",
                Direction::In => "IN",
                Direction::Both => "BOTH",
            },
            labels.join(", "),
            if *edges { "edge" } else { "vertex" }
        ),
        Step::Has { on, cond } => {
            let key = match on {
                HasOn::Prop(k) => k.to_string(),
                HasOn::Label => "~label".into(),
                HasOn::Id => "~id".into(),
                HasOn::Key => "~key".into(),
                HasOn::Value => "~value".into(),
            };
            match cond {
                None => format!("PropertiesStep([{key}])"),
                Some(Cond::P(p)) => format!("HasStep([{key}.{}({})])", p.name, list(&p.args)),
                Some(Cond::Trav(_)) => format!("TraversalFilterStep([{key}])"),
            }
        }
        Step::Count(false) => "CountGlobalStep".into(),
        Step::Count(true) => "CountLocalStep".into(),
        other => format!("{}Step", other.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_original_each_strategy_and_final() {
        let a = vec![
            Applied {
                name: "AStrategy".into(),
                category: 'P',
                after: "[X, Y]".into(),
            },
            Applied {
                name: "LongerNamedStrategy".into(),
                category: 'O',
                after: "[X, Z]".into(),
            },
        ];
        let t = explanation("[A, B]", &a, &["index: none".to_string()]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "Traversal Explanation");
        assert!(lines[2].starts_with("Original Traversal") && lines[2].ends_with("[A, B]"));
        assert!(lines[4].starts_with("AStrategy") && lines[4].contains("[P]"));
        assert!(lines[5].ends_with("[X, Z]"));
        assert!(lines[7].starts_with("Final Traversal") && lines[7].ends_with("[X, Z]"));
        assert_eq!(lines[8], "index: none");
        let none = explanation("[A]", &[], &[]);
        let last = none.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("Final Traversal") && last.ends_with(" [A]"),
            "{none}"
        );
    }
}
