//! Tests of `path().from().to()` sub-paths and of the demo `call()` services over the modern
//! graph.

use super::tests::{modern, s};
use super::*;

fn q(steps: &[(&str, Vec<Value>)]) -> Bytecode {
    let mut b = Bytecode::default();
    for (op, args) in steps {
        b = b.step(op, args.clone());
    }
    b
}

fn path_names(v: &Value) -> Vec<String> {
    match v {
        Value::Path(p) => p
            .objects
            .iter()
            .map(|o| match o {
                Value::String(x) => x.to_string(),
                other => format!("{other:?}"),
            })
            .collect(),
        other => vec![format!("{other:?}")],
    }
}

#[test]
fn sub_path_runs_from_one_label_to_another_and_errors_on_a_missing_label() {
    let mut g = modern();
    let bc = q(&[
        ("V", vec![]),
        ("as", vec![s("a")]),
        ("out", vec![]),
        ("as", vec![s("b")]),
        ("out", vec![]),
        ("as", vec![s("c")]),
        ("path", vec![]),
        ("from", vec![s("b")]),
        ("to", vec![s("c")]),
        ("by", vec![s("name")]),
    ]);
    let mut got: Vec<Vec<String>> = execute(&mut g, &bc)
        .unwrap_or_default()
        .iter()
        .map(path_names)
        .collect();
    got.sort();
    assert_eq!(got, vec![vec!["josh", "lop"], vec!["josh", "ripple"]]);
    // from only: to the end of the path
    let bc = q(&[
        ("V", vec![]),
        ("as", vec![s("a")]),
        ("out", vec![]),
        ("as", vec![s("b")]),
        ("out", vec![]),
        ("path", vec![]),
        ("from", vec![s("b")]),
        ("by", vec![s("name")]),
    ]);
    let got: Vec<Vec<String>> = execute(&mut g, &bc)
        .unwrap_or_default()
        .iter()
        .map(path_names)
        .collect();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|p| p.len() == 2 && p[0] == "josh"));
    let bc = q(&[("V", vec![]), ("path", vec![]), ("from", vec![s("nope")])]);
    let err = execute(&mut g, &bc).err().map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("Unable to locate from label: nope")));
}

#[test]
fn degree_centrality_counts_in_edges_by_default_and_out_edges_on_request() {
    let mut g = modern();
    let call = |dir: Option<&str>| {
        let mut steps = vec![
            ("V", vec![]),
            ("has", vec![s("name"), s("marko")]),
            ("call", vec![s("tinker.degree.centrality")]),
        ];
        if let Some(d) = dir {
            steps.push(("with", vec![s("direction"), s(d)]));
        }
        q(&steps)
    };
    assert_eq!(
        execute(&mut g, &call(None)).ok(),
        Some(vec![Value::Long(0)])
    );
    assert_eq!(
        execute(&mut g, &call(Some("OUT"))).ok(),
        Some(vec![Value::Long(3)])
    );
    assert!(execute(&mut g, &call(Some("sideways"))).is_err());
}
