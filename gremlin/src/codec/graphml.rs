//! GraphML graph files (TinkerPop's `GraphMLReader` layout): `<key>` declarations with
//! `attr.name`/`attr.type`, `<node id>` and `<edge id source target>` with `<data key>` values,
//! labels in the `labelV`/`labelE` keys. Reading only; a small XML scanner for the subset
//! GraphML uses (elements, attributes, text, the five entities and character references;
//! comments, processing instructions, DOCTYPE and CDATA are handled).

use std::collections::HashMap;
use std::sync::Arc;

use super::{DecodeError, DecodeErrorKind, DECODED_VALUES_MAX, NESTING_DEPTH_MAX};
use crate::value::{Edge, GraphData, Property, Value, Vertex, VertexProperty};

/// The data key holding a vertex label.
const LABEL_V: &str = "labelV";
/// The data key holding an edge label.
const LABEL_E: &str = "labelE";

/// The node or edge being read: (is an edge, id, source, target, data key name and value).
type Pending = (bool, String, String, String, Vec<(String, Value)>);

fn invalid(offset: usize, detail: impl Into<String>) -> DecodeError {
    DecodeError::new(DecodeErrorKind::Invalid, offset, detail)
}

/// One XML event.
enum Event {
    Start {
        name: String,
        attrs: Vec<(String, String)>,
        empty: bool,
    },
    End,
    Text(String),
}

/// Replaces entity and character references.
fn unescape(s: &str, offset: usize) -> Result<String, DecodeError> {
    if !s.contains('&') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(rest.get(..i).unwrap_or(""));
        let tail = rest.get(i + 1..).unwrap_or("");
        let end = tail
            .find(';')
            .ok_or_else(|| invalid(offset, "unterminated entity reference"))?;
        let name = tail.get(..end).unwrap_or("");
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(h) = name.strip_prefix("#x") {
                    u32::from_str_radix(h, 16).ok()
                } else if let Some(d) = name.strip_prefix('#') {
                    d.parse::<u32>().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| invalid(offset, format!("unknown entity &{name};")))?
            }
        };
        out.push(c);
        rest = tail.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    Ok(out)
}

/// Splits the document into events.
fn events(text: &str) -> Result<Vec<(usize, Event)>, DecodeError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < text.len() {
        let rest = text.get(pos..).unwrap_or("");
        if out.len() >= DECODED_VALUES_MAX {
            return Err(DecodeError::new(
                DecodeErrorKind::TooLarge,
                pos,
                "too many XML nodes",
            ));
        }
        if let Some(r) = rest.strip_prefix("<![CDATA[") {
            let end = r
                .find("]]>")
                .ok_or_else(|| DecodeError::new(DecodeErrorKind::Truncated, pos, "open CDATA"))?;
            out.push((pos, Event::Text(r.get(..end).unwrap_or("").to_string())));
            pos += 9 + end + 3;
            continue;
        }
        let skip = [("<?", "?>"), ("<!--", "-->"), ("<!", ">")]
            .into_iter()
            .find(|(open, _)| rest.starts_with(open));
        if let Some((open, close)) = skip {
            let end = rest
                .get(open.len()..)
                .and_then(|r| r.find(close))
                .ok_or_else(|| DecodeError::new(DecodeErrorKind::Truncated, pos, "open markup"))?;
            pos += open.len() + end + close.len();
            continue;
        }
        if let Some(r) = rest.strip_prefix("</") {
            let end = r
                .find('>')
                .ok_or_else(|| DecodeError::new(DecodeErrorKind::Truncated, pos, "open tag"))?;
            out.push((pos, Event::End));
            pos += 2 + end + 1;
            continue;
        }
        if let Some(r) = rest.strip_prefix('<') {
            let end = r
                .find('>')
                .ok_or_else(|| DecodeError::new(DecodeErrorKind::Truncated, pos, "open tag"))?;
            let inner = r.get(..end).unwrap_or("");
            let (inner, empty) = match inner.strip_suffix('/') {
                Some(i) => (i, true),
                None => (inner, false),
            };
            let name_end = inner
                .find(|c: char| c.is_whitespace())
                .unwrap_or(inner.len());
            let name = inner.get(..name_end).unwrap_or("").to_string();
            let mut attrs = Vec::new();
            let mut a = inner.get(name_end..).unwrap_or("").trim_start();
            while !a.is_empty() {
                let eq = a
                    .find('=')
                    .ok_or_else(|| invalid(pos, "attribute without a value"))?;
                let key = a.get(..eq).unwrap_or("").trim().to_string();
                let v = a.get(eq + 1..).unwrap_or("").trim_start();
                let quote = v
                    .chars()
                    .next()
                    .filter(|c| *c == '"' || *c == '\'')
                    .ok_or_else(|| invalid(pos, "unquoted attribute value"))?;
                let body = v.get(1..).unwrap_or("");
                let close = body
                    .find(quote)
                    .ok_or_else(|| invalid(pos, "unterminated attribute value"))?;
                attrs.push((key, unescape(body.get(..close).unwrap_or(""), pos)?));
                a = body.get(close + 1..).unwrap_or("").trim_start();
            }
            out.push((pos, Event::Start { name, attrs, empty }));
            pos += 1 + end + 1;
            continue;
        }
        let end = rest.find('<').unwrap_or(rest.len());
        let t = rest.get(..end).unwrap_or("");
        if !t.trim().is_empty() {
            out.push((pos, Event::Text(unescape(t, pos)?)));
        }
        pos += end;
    }
    Ok(out)
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A `<data>` text converted by its key's `attr.type`.
fn typed(text: &str, ty: &str, offset: usize) -> Result<Value, DecodeError> {
    let bad = || invalid(offset, format!("{text:?} is not a valid {ty}"));
    Ok(match ty {
        "int" => Value::Int(text.trim().parse().map_err(|_| bad())?),
        "long" => Value::Long(text.trim().parse().map_err(|_| bad())?),
        "float" => Value::Float(text.trim().parse().map_err(|_| bad())?),
        "double" => Value::Double(text.trim().parse().map_err(|_| bad())?),
        "boolean" => Value::Bool(text.trim().parse().map_err(|_| bad())?),
        _ => Value::String(Arc::from(text)),
    })
}

/// Reads a GraphML document. Vertex and edge ids are the GraphML `id` strings.
pub fn read_graph(text: &str) -> Result<GraphData, DecodeError> {
    let evs = events(text)?;
    // key id -> (attr.name, attr.type)
    let mut keys: HashMap<String, (String, String)> = HashMap::new();
    let mut g = GraphData::default();
    let mut labels: HashMap<String, Arc<str>> = HashMap::new();
    // the element being read: (is_edge, id, source, target, data)
    let mut current: Option<Pending> = None;
    let mut data_key: Option<String> = None;
    let mut data_text = String::new();
    let mut depth = 0usize;
    for (pos, ev) in evs {
        match ev {
            Event::Start { name, attrs, empty } => {
                if !empty {
                    depth += 1;
                    if depth > NESTING_DEPTH_MAX {
                        return Err(DecodeError::new(DecodeErrorKind::TooDeep, pos, "too deep"));
                    }
                }
                match name.as_str() {
                    "key" => {
                        let id =
                            attr(&attrs, "id").ok_or_else(|| invalid(pos, "key without id"))?;
                        let n = attr(&attrs, "attr.name").unwrap_or(id);
                        let t = attr(&attrs, "attr.type").unwrap_or("string");
                        keys.insert(id.to_string(), (n.to_string(), t.to_string()));
                    }
                    "node" | "edge" => {
                        let id = attr(&attrs, "id")
                            .ok_or_else(|| invalid(pos, format!("{name} without id")))?;
                        let s = attr(&attrs, "source").unwrap_or("").to_string();
                        let t = attr(&attrs, "target").unwrap_or("").to_string();
                        if name == "edge" && (s.is_empty() || t.is_empty()) {
                            return Err(invalid(pos, "edge without source or target"));
                        }
                        current = Some((name == "edge", id.to_string(), s, t, Vec::new()));
                        if empty {
                            finish(&mut g, &mut labels, current.take(), pos)?;
                        }
                    }
                    "data" if current.is_some() => {
                        data_key = attr(&attrs, "key").map(str::to_string);
                        data_text.clear();
                    }
                    _ => {}
                }
            }
            Event::Text(t) => {
                if data_key.is_some() {
                    data_text.push_str(&t);
                }
            }
            Event::End => {
                depth = depth.saturating_sub(1);
                if let Some(k) = data_key.take() {
                    let (name, ty) = keys
                        .get(&k)
                        .cloned()
                        .unwrap_or_else(|| (k.clone(), "string".to_string()));
                    let v = typed(&data_text, &ty, pos)?;
                    if let Some(c) = current.as_mut() {
                        c.4.push((name, v));
                    }
                } else if current.is_some() {
                    finish(&mut g, &mut labels, current.take(), pos)?;
                }
            }
        }
    }
    Ok(g)
}

fn finish(
    g: &mut GraphData,
    labels: &mut HashMap<String, Arc<str>>,
    el: Option<Pending>,
    pos: usize,
) -> Result<(), DecodeError> {
    let Some((is_edge, id, source, target, data)) = el else {
        return Ok(());
    };
    let label_key = if is_edge { LABEL_E } else { LABEL_V };
    let mut label: Arc<str> = Arc::from(if is_edge { "edge" } else { "vertex" });
    let mut props = Vec::new();
    for (k, v) in data {
        if k == label_key {
            if let Value::String(s) = v {
                label = s;
            }
            continue;
        }
        props.push((k, v));
    }
    if is_edge {
        let vlabel = |vid: &str| -> Result<Arc<str>, DecodeError> {
            labels
                .get(vid)
                .cloned()
                .ok_or_else(|| invalid(pos, format!("edge {id} names an unknown node {vid}")))
        };
        g.edges.push(Edge {
            id: Value::String(Arc::from(id.as_str())),
            label,
            out_v_label: vlabel(&source)?,
            in_v_label: vlabel(&target)?,
            out_v_id: Value::String(Arc::from(source.as_str())),
            in_v_id: Value::String(Arc::from(target.as_str())),
            properties: Some(
                props
                    .into_iter()
                    .map(|(k, value)| Property {
                        key: Arc::from(k.as_str()),
                        value,
                    })
                    .collect(),
            ),
        });
    } else {
        labels.insert(id.clone(), label.clone());
        g.vertices.push(Vertex {
            id: Value::String(Arc::from(id.as_str())),
            label,
            properties: Some(
                props
                    .into_iter()
                    .map(|(k, value)| VertexProperty {
                        id: Value::Null,
                        key: Arc::from(k.as_str()),
                        value,
                        properties: Some(Vec::new()),
                    })
                    .collect(),
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nodes_edges_typed_data_and_escapes() {
        let doc = r#"<?xml version="1.0"?><!-- c --><graphml>
            <key id="labelV" for="node" attr.name="labelV" attr.type="string"/>
            <key id="k1" for="node" attr.name="age" attr.type="int"></key>
            <key id="w" for="edge" attr.name="weight" attr.type="double"></key>
            <graph><node id="1"><data key="labelV">person</data><data key="k1">29</data>
            <data key="name">a &amp; b&#33;</data></node><node id="2"/>
            <edge id="7" source="1" target="2"><data key="labelE">knows</data>
            <data key="w">0.5</data></edge></graph></graphml>"#;
        let g = read_graph(doc).map_err(|e| e.to_string());
        let g = match g {
            Ok(g) => g,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(g.vertices.len(), 2);
        assert_eq!(&*g.vertices[0].label, "person");
        assert_eq!(&*g.vertices[1].label, "vertex");
        let props = g.vertices[0].properties.clone().unwrap_or_default();
        assert_eq!(props[0].value, Value::Int(29));
        assert_eq!(props[1].value, Value::str("a & b!"));
        assert_eq!(g.edges.len(), 1);
        assert_eq!(&*g.edges[0].label, "knows");
        assert_eq!(&*g.edges[0].out_v_label, "person");
        let ep = g.edges[0].properties.clone().unwrap_or_default();
        assert_eq!(ep[0].value, Value::Double(0.5));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [
            "<graphml><node id=\"1\"><data key=\"x\">&bogus;</data></node></graphml>",
            "<graphml><edge id=\"1\" source=\"9\" target=\"8\"></edge></graphml>",
            "<graphml><node id=1></node></graphml>",
            "<graphml><node id=\"1\"",
            "<key id=\"a\" attr.type=\"int\"/><node id=\"1\"><data key=\"a\">x</data></node>",
        ] {
            assert!(read_graph(bad).is_err(), "{bad}");
        }
    }
}
