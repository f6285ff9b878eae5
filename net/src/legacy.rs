//! Results for drivers older than TinkerPop 3.8: they cannot decode `OffsetDateTime` (what
//! 3.8 servers, and coregraph, return for dates), so on their connections dates go out as
//! `java.util.Date` (epoch milliseconds), as 3.7 servers sent them. The driver line comes
//! from the `User-Agent` header every stock driver sends with the WebSocket upgrade
//! (`... Gremlin-Python.3.7.7 ...`, `Gremlin-Java.3.7.2`, `gremlin-javascript.3.7.3`, ...).

use std::sync::Arc;

use gremlin::value::{Edge, Path, Property, Value, Vertex, VertexProperty};

/// Nesting followed when rewriting a result (deeper values are left as they are).
pub const LEGACY_DEPTH_MAX: usize = 64;

/// Whether a `User-Agent` names a stock TinkerPop driver of a line before 3.8.
pub fn wants_legacy_dates(user_agent: Option<&str>) -> bool {
    let Some(ua) = user_agent else {
        return false;
    };
    ua.split_whitespace().any(|token| {
        let lower = token.to_ascii_lowercase();
        let Some(rest) = lower.strip_prefix("gremlin-") else {
            return false;
        };
        // `python.3.7.7`: the language, then the version.
        let Some((_, version)) = rest.split_once('.') else {
            return false;
        };
        let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
        match (parts.next().flatten(), parts.next().flatten()) {
            (Some(major), Some(minor)) => (major, minor) < (3, 8),
            _ => false,
        }
    })
}

/// `v` with every date-time as a `Date` of the same instant (sub-millisecond digits dropped).
pub fn legacy_dates(v: Value) -> Value {
    rewrite(v, 0)
}

fn millis(dt: &gremlin::value::DateTime) -> i64 {
    dt.epoch_seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(dt.nanos / 1_000_000))
}

fn props(ps: &[Property], depth: usize) -> Vec<Property> {
    ps.iter()
        .map(|p| Property {
            key: p.key.clone(),
            value: rewrite(p.value.clone(), depth),
        })
        .collect()
}

fn vertex_property(vp: &VertexProperty, depth: usize) -> VertexProperty {
    VertexProperty {
        id: vp.id.clone(),
        key: vp.key.clone(),
        value: rewrite(vp.value.clone(), depth),
        properties: vp.properties.as_deref().map(|m| props(m, depth)),
    }
}

fn rewrite(v: Value, depth: usize) -> Value {
    if depth >= LEGACY_DEPTH_MAX {
        return v;
    }
    let d = depth + 1;
    match v {
        Value::DateTime(dt) => Value::Date(millis(&dt)),
        Value::List(items) => Value::List(items.into_iter().map(|x| rewrite(x, d)).collect()),
        Value::Set(set) => Value::Set(set.into_iter().map(|x| rewrite(x, d)).collect()),
        Value::Map(map) => Value::Map(
            map.into_iter()
                .map(|(k, x)| (rewrite(k, d), rewrite(x, d)))
                .collect(),
        ),
        Value::BulkSet(items) => {
            Value::BulkSet(items.into_iter().map(|(x, n)| (rewrite(x, d), n)).collect())
        }
        Value::Traverser(t) => {
            let (bulk, x) = Arc::unwrap_or_clone(t);
            Value::Traverser(Arc::new((bulk, rewrite(x, d))))
        }
        Value::Property(p) => Value::Property(Arc::new(Property {
            key: p.key.clone(),
            value: rewrite(p.value.clone(), d),
        })),
        Value::VertexProperty(vp) => Value::VertexProperty(Arc::new(vertex_property(&vp, d))),
        Value::Vertex(vx) => Value::Vertex(Arc::new(Vertex {
            id: rewrite(vx.id.clone(), d),
            label: vx.label.clone(),
            properties: vx
                .properties
                .as_deref()
                .map(|ps| ps.iter().map(|vp| vertex_property(vp, d)).collect()),
        })),
        Value::Edge(e) => Value::Edge(Arc::new(Edge {
            id: rewrite(e.id.clone(), d),
            label: e.label.clone(),
            out_v_id: e.out_v_id.clone(),
            out_v_label: e.out_v_label.clone(),
            in_v_id: e.in_v_id.clone(),
            in_v_label: e.in_v_label.clone(),
            properties: e.properties.as_deref().map(|ps| props(ps, d)),
        })),
        Value::Path(p) => Value::Path(Arc::new(Path {
            labels: p.labels.clone(),
            objects: p.objects.iter().map(|x| rewrite(x.clone(), d)).collect(),
        })),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gremlin::value::DateTime;

    #[test]
    fn user_agents_of_older_driver_lines() {
        let py37 = "NotAvailable Gremlin-Python.3.7.7 3.11.2 Linux.6.1 x86_64";
        assert!(wants_legacy_dates(Some(py37)));
        assert!(wants_legacy_dates(Some(
            "App Gremlin-Java.3.6.8 17 Linux.5 amd64"
        )));
        assert!(!wants_legacy_dates(Some(
            "NotAvailable Gremlin-Python.3.8.2 3.11.2 Linux.6.1 x86_64"
        )));
        assert!(!wants_legacy_dates(Some("Gremlin-Python.4.0.0")));
        assert!(!wants_legacy_dates(Some("curl/8.0")));
        assert!(!wants_legacy_dates(Some("Gremlin-Python.x.y")));
        assert!(!wants_legacy_dates(None));
    }

    #[test]
    fn dates_inside_results_become_java_dates() {
        let dt = DateTime {
            epoch_seconds: 1_690_934_400,
            nanos: 123_456_789,
            offset_seconds: 3600,
        };
        let v = Value::Traverser(Arc::new((
            2,
            Value::List(vec![Value::DateTime(dt), Value::Int(1)]),
        )));
        let Value::Traverser(t) = legacy_dates(v) else {
            panic!("not a traverser")
        };
        assert_eq!(t.0, 2);
        assert_eq!(
            t.1,
            Value::List(vec![Value::Date(1_690_934_400_123), Value::Int(1)])
        );
    }
}
