//! The comparator: does an actual traversal result match the expected notation value, with
//! Java's `equals` semantics as TinkerPop's Java runner applies them (types matter, `d[1].i` is
//! not `d[1].l`; finite doubles within `DOUBLE_TOLERANCE`; paths compare objects only;
//! elements compare by id; lists ordered; sets, maps and trees unordered).

use crate::value::{GraphData, Value};

/// Absolute tolerance for finite doubles (the Java runner's).
pub const DOUBLE_TOLERANCE: f64 = 1e-15;

/// Whether `actual` matches `expected`.
pub fn matches(expected: &Value, actual: &Value) -> bool {
    use Value::*;
    match (expected, actual) {
        (Double(e), Double(a)) => {
            (e.is_nan() && a.is_nan())
                || e == a
                || (e.is_finite() && a.is_finite() && (e - a).abs() <= DOUBLE_TOLERANCE)
        }
        (List(e), List(a)) => e.len() == a.len() && e.iter().zip(a).all(|(e, a)| matches(e, a)),
        (Set(e), Set(a)) => {
            let e: Vec<&Value> = e.iter().collect();
            let a: Vec<&Value> = a.iter().collect();
            multiset_matches(&e, &a)
        }
        // A bulk set (aggregate side effect) compares as the multiset of its items.
        (List(_) | Set(_), BulkSet(a)) => {
            let e: Vec<&Value> = match expected {
                List(e) => e.iter().collect(),
                Set(e) => e.iter().collect(),
                _ => Vec::new(),
            };
            let a = expand_bulk(a);
            let a: Vec<&Value> = a.iter().collect();
            multiset_matches(&e, &a)
        }
        (Map(e), Map(a)) => {
            e.len() == a.len()
                && e.iter().all(|(ek, ev)| match a.get(ek) {
                    Some(av) => matches(ev, av),
                    None => a.iter().any(|(ak, av)| matches(ek, ak) && matches(ev, av)),
                })
        }
        (Path(e), Path(a)) => {
            e.objects.len() == a.objects.len()
                && e.objects.iter().zip(&a.objects).all(|(e, a)| matches(e, a))
        }
        (Tree(e), Tree(a)) => tree_matches(e, a),
        _ => expected == actual,
    }
}

fn expand_bulk(items: &[(Value, i64)]) -> Vec<Value> {
    let mut out = Vec::new();
    for (v, bulk) in items {
        for _ in 0..(*bulk).clamp(0, EXPANDED_BULK_MAX) {
            out.push(v.clone());
        }
    }
    out
}

/// Largest bulk expanded when comparing a bulk set item by item.
pub const EXPANDED_BULK_MAX: i64 = 1_000_000;

/// Multiset equality: same size and every expected item matched by a distinct actual item.
pub fn multiset_matches(expected: &[&Value], actual: &[&Value]) -> bool {
    if expected.len() != actual.len() {
        return false;
    }
    let mut used = vec![false; actual.len()];
    expected.iter().all(|e| {
        let found = actual
            .iter()
            .zip(used.iter())
            .position(|(a, u)| !*u && matches(e, a));
        match found.and_then(|i| used.get_mut(i)) {
            Some(slot) => {
                *slot = true;
                true
            }
            None => false,
        }
    })
}

fn tree_matches(expected: &[(Value, Value)], actual: &[(Value, Value)]) -> bool {
    expected.len() == actual.len()
        && expected.iter().all(|(ek, es)| {
            actual
                .iter()
                .any(|(ak, asub)| matches(ek, ak) && subtree_matches(es, asub))
        })
}

fn subtree_matches(expected: &Value, actual: &Value) -> bool {
    let empty: &[(Value, Value)] = &[];
    let e = match expected {
        Value::Tree(t) => t.as_slice(),
        Value::Null => empty,
        _ => return false,
    };
    let a = match actual {
        Value::Tree(t) => t.as_slice(),
        Value::Null => empty,
        _ => return false,
    };
    tree_matches(e, a)
}

/// The `result should be unordered` check.
pub fn unordered(expected: &[Value], actual: &[Value]) -> bool {
    let e: Vec<&Value> = expected.iter().collect();
    let a: Vec<&Value> = actual.iter().collect();
    multiset_matches(&e, &a)
}

/// The `result should be ordered` check.
pub fn ordered(expected: &[Value], actual: &[Value]) -> bool {
    expected.len() == actual.len() && expected.iter().zip(actual).all(|(e, a)| matches(e, a))
}

/// The `result should be of` check: every actual item is one of the expected values.
pub fn of(expected: &[Value], actual: &[Value]) -> bool {
    actual
        .iter()
        .all(|a| expected.iter().any(|e| matches(e, a)))
}

/// What `When iterated next` leaves to assert on: the elements inside the first result (a
/// List, Set, bulk set or Path gives its items; a Map gives its entries as one-entry maps, as the
/// Java runner does; anything else is itself).
pub fn next_items(first: &Value) -> Vec<Value> {
    match first {
        Value::List(items) => items.clone(),
        Value::Set(items) => items.iter().cloned().collect(),
        Value::BulkSet(items) => expand_bulk(items),
        // A Java `Path` is `Iterable` over its objects.
        Value::Path(p) => p.objects.clone(),
        Value::Map(m) => m
            .iter()
            .map(|(k, v)| {
                let mut one = crate::value::Map::new();
                one.insert(k.clone(), v.clone());
                Value::Map(one)
            })
            .collect(),
        other => vec![other.clone()],
    }
}

/// Parses the ASCII tree notation (`|--node`, three spaces per level); each node is given to
/// `node` to turn into a value. Returns the tree's top level.
pub fn parse_tree(
    text: &str,
    node: &mut dyn FnMut(&str) -> Result<Value, String>,
) -> Result<Vec<(Value, Value)>, String> {
    // (depth, value) in document order.
    let mut flat: Vec<(usize, Value)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let pos = line
            .find("|--")
            .ok_or_else(|| format!("tree line without '|--': {line:?}"))?;
        let depth = pos / 3;
        let text = line.get(pos + 3..).unwrap_or("").trim();
        flat.push((depth, node(text)?));
    }
    let base = flat.first().map(|(d, _)| *d).unwrap_or(0);
    let mut i = 0;
    build_level(&flat, &mut i, base, 0)
}

/// Deepest tree accepted in the notation.
pub const TREE_DEPTH_MAX: usize = 64;

fn build_level(
    flat: &[(usize, Value)],
    i: &mut usize,
    depth: usize,
    nesting: usize,
) -> Result<Vec<(Value, Value)>, String> {
    if nesting > TREE_DEPTH_MAX {
        return Err("tree nested too deeply".into());
    }
    let mut level: Vec<(Value, Value)> = Vec::new();
    while let Some((d, v)) = flat.get(*i) {
        if *d < depth {
            break;
        }
        if *d > depth {
            return Err(format!("tree node indented too far at node {}", *i + 1));
        }
        *i += 1;
        let children = match flat.get(*i) {
            Some((cd, _)) if *cd > depth => build_level(flat, i, depth + 1, nesting + 1)?,
            _ => Vec::new(),
        };
        level.push((v.clone(), Value::Tree(children)));
    }
    Ok(level)
}

/// Which half of a subgraph a `result should be a subgraph with the following` table names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubgraphPart {
    Vertices,
    Edges,
}

/// Compares one half of a subgraph with expected elements (resolved from the source graph):
/// same ids, and for each the same label and (when both sides carry them) the same properties.
pub fn subgraph_matches(
    part: SubgraphPart,
    expected: &[Value],
    actual: &GraphData,
) -> Result<(), String> {
    match part {
        SubgraphPart::Vertices => {
            if expected.len() != actual.vertices.len() {
                return Err(format!(
                    "expected {} vertices, subgraph has {}",
                    expected.len(),
                    actual.vertices.len()
                ));
            }
            for e in expected {
                let Value::Vertex(ev) = e else {
                    return Err(format!("expected value {e:?} is not a vertex"));
                };
                let av = actual
                    .vertices
                    .iter()
                    .find(|v| v.id == ev.id)
                    .ok_or_else(|| format!("subgraph lacks vertex {:?}", ev.id))?;
                if av.label != ev.label {
                    return Err(format!(
                        "vertex {:?}: label {} != {}",
                        ev.id, av.label, ev.label
                    ));
                }
                if let (Some(ep), Some(ap)) = (&ev.properties, &av.properties) {
                    let e: Vec<Value> = ep
                        .iter()
                        .map(|p| Value::List(vec![Value::str(&p.key), p.value.clone()]))
                        .collect();
                    let a: Vec<Value> = ap
                        .iter()
                        .map(|p| Value::List(vec![Value::str(&p.key), p.value.clone()]))
                        .collect();
                    if !unordered(&e, &a) {
                        return Err(format!("vertex {:?}: properties differ", ev.id));
                    }
                }
            }
        }
        SubgraphPart::Edges => {
            if expected.len() != actual.edges.len() {
                return Err(format!(
                    "expected {} edges, subgraph has {}",
                    expected.len(),
                    actual.edges.len()
                ));
            }
            for e in expected {
                let Value::Edge(ee) = e else {
                    return Err(format!("expected value {e:?} is not an edge"));
                };
                let ae = actual
                    .edges
                    .iter()
                    .find(|x| x.id == ee.id)
                    .ok_or_else(|| format!("subgraph lacks edge {:?}", ee.id))?;
                if ae.label != ee.label || ae.out_v_id != ee.out_v_id || ae.in_v_id != ee.in_v_id {
                    return Err(format!("edge {:?}: label or endpoints differ", ee.id));
                }
                if let (Some(ep), Some(ap)) = (&ee.properties, &ae.properties) {
                    let e: Vec<Value> = ep
                        .iter()
                        .map(|p| Value::Property(p.clone().into()))
                        .collect();
                    let a: Vec<Value> = ap
                        .iter()
                        .map(|p| Value::Property(p.clone().into()))
                        .collect();
                    if !unordered(&e, &a) {
                        return Err(format!("edge {:?}: properties differ", ee.id));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::value::{Edge, Map, Path, Property, Set, Vertex};

    fn vertex(id: i32) -> Value {
        Value::Vertex(Arc::new(Vertex {
            id: Value::Int(id),
            label: Arc::from("person"),
            properties: None,
        }))
    }

    fn path(objects: Vec<Value>, label: &str) -> Value {
        Value::Path(Arc::new(Path {
            labels: vec![vec![Arc::from(label)]; objects.len()],
            objects,
        }))
    }

    #[test]
    fn types_matter() {
        assert!(!matches(&Value::Int(1), &Value::Long(1)));
        assert!(!matches(&Value::Double(1.0), &Value::Float(1.0)));
        assert!(matches(&Value::Int(1), &Value::Int(1)));
        assert!(!matches(&Value::str("1"), &Value::Int(1)));
        assert!(matches(&Value::Double(f64::NAN), &Value::Double(f64::NAN)));
        assert!(matches(&Value::Double(0.3), &Value::Double(0.1 + 0.2)));
        assert!(!matches(&Value::Double(0.3), &Value::Double(0.300001)));
        assert!(!matches(
            &Value::Double(f64::INFINITY),
            &Value::Double(f64::MAX)
        ));
    }

    #[test]
    fn unordered_is_multiset_equality() {
        let a = [Value::Int(1), Value::Int(1), Value::Int(2)];
        assert!(unordered(
            &a,
            &[Value::Int(2), Value::Int(1), Value::Int(1)]
        ));
        assert!(!unordered(
            &a,
            &[Value::Int(2), Value::Int(2), Value::Int(1)]
        ));
        assert!(!unordered(&a, &[Value::Int(1), Value::Int(2)]));
        assert!(unordered(&[], &[]));
    }

    #[test]
    fn ordered_and_of() {
        let a = [Value::Int(1), Value::Int(2)];
        assert!(ordered(&a, &[Value::Int(1), Value::Int(2)]));
        assert!(!ordered(&a, &[Value::Int(2), Value::Int(1)]));
        assert!(of(&a, &[Value::Int(2), Value::Int(2), Value::Int(1)]));
        assert!(!of(&a, &[Value::Int(3)]));
    }

    #[test]
    fn collections_recurse_with_java_rules() {
        let e = Value::List(vec![Value::Double(0.3), Value::Int(1)]);
        assert!(matches(
            &e,
            &Value::List(vec![Value::Double(0.1 + 0.2), Value::Int(1)])
        ));
        assert!(!matches(
            &e,
            &Value::List(vec![Value::Int(1), Value::Double(0.3)])
        ));
        let mut em = Map::new();
        em.insert(Value::str("a"), Value::Long(2));
        em.insert(Value::Int(7), Value::Double(0.3));
        let mut am = Map::new();
        am.insert(Value::Int(7), Value::Double(0.1 + 0.2));
        am.insert(Value::str("a"), Value::Long(2));
        assert!(matches(&Value::Map(em.clone()), &Value::Map(am.clone())));
        am.insert(Value::str("b"), Value::Null);
        assert!(!matches(&Value::Map(em), &Value::Map(am)));
        let es: Set = [Value::Int(1), Value::Int(2)].into_iter().collect();
        let as_: Set = [Value::Int(2), Value::Int(1)].into_iter().collect();
        assert!(matches(&Value::Set(es.clone()), &Value::Set(as_)));
        let bulk = Value::BulkSet(vec![(Value::Int(1), 2), (Value::Int(2), 1)]);
        let three = Value::List(vec![Value::Int(1), Value::Int(2), Value::Int(1)]);
        assert!(matches(&three, &bulk));
        assert!(!matches(&Value::Set(es), &bulk));
    }

    #[test]
    fn paths_ignore_labels_elements_compare_by_id() {
        assert!(matches(
            &path(vec![vertex(1), Value::str("lop")], "a"),
            &path(vec![vertex(1), Value::str("lop")], "b")
        ));
        assert!(!matches(
            &path(vec![vertex(1)], "a"),
            &path(vec![vertex(2)], "a")
        ));
    }

    #[test]
    fn next_items_expand_containers() {
        let mut m = Map::new();
        m.insert(Value::str("a"), Value::Int(1));
        m.insert(Value::str("b"), Value::Int(2));
        let items = next_items(&Value::Map(m));
        assert_eq!(items.len(), 2);
        assert!(matches!(&items[0], Value::Map(x) if x.len() == 1));
        assert_eq!(next_items(&Value::Int(3)), vec![Value::Int(3)]);
        assert_eq!(
            next_items(&Value::BulkSet(vec![(Value::Int(1), 3)])).len(),
            3
        );
    }

    #[test]
    fn trees_parse_and_compare_unordered() {
        let text = "|--marko\n   |--josh\n      |--lop\n      |--ripple\n|--peter\n";
        let mut node = |s: &str| Ok(Value::str(s));
        let tree = parse_tree(text, &mut node).expect("tree");
        assert_eq!(tree.len(), 2);
        let leaf = |s: &str| (Value::str(s), Value::Tree(vec![]));
        let actual = vec![
            leaf("peter"),
            (
                Value::str("marko"),
                Value::Tree(vec![(
                    Value::str("josh"),
                    Value::Tree(vec![leaf("ripple"), leaf("lop")]),
                )]),
            ),
        ];
        assert!(matches(&Value::Tree(tree.clone()), &Value::Tree(actual)));
        let wrong = vec![leaf("peter"), leaf("marko")];
        assert!(!matches(&Value::Tree(tree), &Value::Tree(wrong)));
        assert!(parse_tree("no bar", &mut node).is_err());
        assert!(parse_tree("|--a\n         |--b", &mut node).is_err());
        assert_eq!(parse_tree("", &mut node).expect("empty"), vec![]);
    }

    #[test]
    fn subgraphs_compare_ids_labels_endpoints() {
        let edge = |id: i32, out: i32, inn: i32| Edge {
            id: Value::Int(id),
            label: Arc::from("knows"),
            out_v_id: Value::Int(out),
            out_v_label: Arc::from("person"),
            in_v_id: Value::Int(inn),
            in_v_label: Arc::from("person"),
            properties: Some(vec![Property {
                key: Arc::from("weight"),
                value: Value::Double(0.5),
            }]),
        };
        let graph = GraphData {
            vertices: vec![],
            edges: vec![edge(7, 1, 2), edge(8, 1, 4)],
        };
        let expected = vec![
            Value::Edge(Arc::new(edge(8, 1, 4))),
            Value::Edge(Arc::new(edge(7, 1, 2))),
        ];
        assert!(subgraph_matches(SubgraphPart::Edges, &expected, &graph).is_ok());
        let wrong = vec![
            Value::Edge(Arc::new(edge(8, 1, 4))),
            Value::Edge(Arc::new(edge(7, 2, 1))),
        ];
        assert!(subgraph_matches(SubgraphPart::Edges, &wrong, &graph).is_err());
        assert!(subgraph_matches(SubgraphPart::Vertices, &[vertex(1)], &graph).is_err());
        assert!(subgraph_matches(SubgraphPart::Vertices, &[], &graph).is_ok());
    }
}
