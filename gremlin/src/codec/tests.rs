//! Codec tests: round trips for every value type in both formats, exact bytes from
//! PROTOCOL.md, the TinkerPop data files, and a randomized no-panic test of both decoders.

use std::path::PathBuf;
use std::sync::Arc;

use num_bigint::BigInt;

use super::message::{self, Format, RequestMessage, ResponseMessage};
use super::{graphbinary as gb, graphson as gs, DecodeErrorKind};
use crate::bytecode::{Bytecode, Instruction};
use crate::value::*;

fn s(x: &str) -> Arc<str> {
    Arc::from(x)
}

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).expect("test hex"))
        .collect()
}

fn map(pairs: Vec<(Value, Value)>) -> Map {
    pairs.into_iter().collect()
}

fn p(name: &str, args: Vec<Value>) -> Value {
    Value::P(Arc::new(Predicate {
        text: false,
        name: s(name),
        args,
    }))
}

fn en(kind: EnumKind, name: &str) -> Value {
    Value::Enum(EnumValue {
        kind,
        name: s(name),
    })
}

fn prop(k: &str, v: Value) -> Property {
    Property {
        key: s(k),
        value: v,
    }
}

fn sample_vertex() -> Vertex {
    Vertex {
        id: Value::Int(1),
        label: s("person"),
        properties: Some(vec![
            VertexProperty {
                id: Value::Long(0),
                key: s("name"),
                value: Value::str("marko"),
                properties: Some(vec![prop("since", Value::Int(2009))]),
            },
            VertexProperty {
                id: Value::Long(6),
                key: s("location"),
                value: Value::str("san diego"),
                properties: Some(vec![
                    prop("startTime", Value::Int(1997)),
                    prop("endTime", Value::Int(2001)),
                ]),
            },
        ]),
    }
}

fn sample_edge() -> Edge {
    Edge {
        id: Value::Int(13),
        label: s("develops"),
        out_v_id: Value::Int(1),
        out_v_label: s("person"),
        in_v_id: Value::Int(10),
        in_v_label: s("software"),
        properties: Some(vec![prop("since", Value::Int(2009))]),
    }
}

fn sample_metrics() -> TraversalMetrics {
    let leaf = Metrics {
        id: s("7.0.0()"),
        name: s("VertexStep(OUT,vertex)"),
        duration_nanos: 1_234_000,
        counts: vec![(s("traverserCount"), 4), (s("elementCount"), 4)],
        annotations: vec![(s("percentDur"), Value::Double(12.5))],
        nested: vec![],
    };
    TraversalMetrics {
        duration_nanos: 9_876_000,
        metrics: vec![Metrics {
            id: s("0.0.0()"),
            name: s("TinkerGraphStep(vertex,[])"),
            duration_nanos: 5_000_000,
            counts: vec![(s("traverserCount"), 6)],
            annotations: vec![],
            nested: vec![leaf],
        }],
    }
}

/// One or more values of every `Value` variant, in shapes both formats carry exactly.
fn samples() -> Vec<Value> {
    let bytecode = Bytecode {
        source: vec![Instruction::new("withSack", vec![Value::Int(1)])],
        steps: vec![
            Instruction::new("V", vec![]),
            Instruction::new(
                "has",
                vec![
                    Value::str("name"),
                    p("within", vec![Value::str("a"), Value::str("b")]),
                ],
            ),
            Instruction::new("out", vec![Value::str("knows")]),
        ],
    };
    let anon = Bytecode::default().step("out", vec![]);
    vec![
        Value::Null,
        Value::Bool(true),
        Value::Bool(false),
        Value::Byte(-5),
        Value::Short(-300),
        Value::Int(i32::MIN),
        Value::Int(42),
        Value::Long(i64::MAX),
        Value::Long(-9_007_199_254_740_993),
        Value::BigInt(BigInt::parse_bytes(b"-123456789012345678901234567890", 10).expect("big")),
        Value::BigInt(BigInt::from(0)),
        Value::BigDecimal(BigDecimal { unscaled: BigInt::from(12345), scale: 2 }),
        Value::BigDecimal(BigDecimal { unscaled: BigInt::from(-1), scale: 3 }),
        Value::BigDecimal(BigDecimal { unscaled: BigInt::from(1), scale: -3 }),
        Value::BigDecimal(BigDecimal { unscaled: BigInt::from(7), scale: 9 }),
        Value::BigDecimal(BigDecimal {
            unscaled: BigInt::parse_bytes(b"31415926535897932384626433832795", 10).expect("big"),
            scale: 31,
        }),
        Value::Float(1.5),
        Value::Float(f32::NAN),
        Value::Float(0.1),
        Value::Double(0.1),
        Value::Double(-0.0),
        Value::Double(f64::INFINITY),
        Value::Double(f64::NEG_INFINITY),
        Value::Double(f64::NAN),
        Value::Double(1e300),
        Value::Char('a'),
        Value::Char('€'),
        Value::Char('😀'),
        Value::str(""),
        Value::str("line\nbreak \"quoted\" \\ \u{1} ünï"),
        Value::Uuid(Uuid::parse("41d2e28a-20a4-4ab0-b379-d810dede3786").expect("uuid")),
        Value::Date(1_481_750_076_295),
        Value::Date(-1),
        Value::DateTime(DateTime { epoch_seconds: 1_196_673_330, nanos: 0, offset_seconds: 3600 }),
        Value::DateTime(DateTime { epoch_seconds: -86_400 * 800_000, nanos: 123_456_789, offset_seconds: -(5 * 3600 + 30 * 60) }),
        Value::DateTime(DateTime { epoch_seconds: 0, nanos: 0, offset_seconds: 0 }),
        Value::Duration(Duration { seconds: 432_000, nanos: 0 }),
        Value::Duration(Duration { seconds: -1, nanos: 500_000_000 }),
        Value::Duration(Duration { seconds: 3723, nanos: 4_000 }),
        Value::Binary(Arc::from(&b"\x00\x01\xfehello"[..])),
        Value::Binary(Arc::from(&b""[..])),
        Value::List(vec![Value::Int(1), Value::Null, Value::List(vec![Value::str("x")])]),
        Value::Set([Value::Int(1), Value::Long(1), Value::str("1")].into_iter().collect()),
        Value::Map(map(vec![
            (Value::str("a"), Value::Int(1)),
            (Value::Int(2), Value::List(vec![])),
            (Value::List(vec![Value::Int(1)]), Value::Null),
            (en(EnumKind::T, "id"), Value::Int(1)),
        ])),
        Value::BulkSet(vec![(Value::str("marko"), 3), (Value::Int(1), 1)]),
        Value::Tree(vec![(
            Value::Int(1),
            Value::Tree(vec![(Value::str("a"), Value::Tree(vec![])), (Value::str("b"), Value::Tree(vec![]))]),
        )]),
        Value::Vertex(Arc::new(sample_vertex())),
        Value::Vertex(Arc::new(Vertex { id: Value::Long(7), label: s("vertex"), properties: None })),
        Value::Edge(Arc::new(sample_edge())),
        Value::Edge(Arc::new(Edge { properties: None, ..sample_edge() })),
        Value::VertexProperty(Arc::new(VertexProperty {
            id: Value::Long(0),
            key: s("name"),
            value: Value::str("marko"),
            properties: None,
        })),
        Value::Property(Arc::new(prop("weight", Value::Double(0.5)))),
        Value::Path(Arc::new(Path {
            labels: vec![vec![s("a")], vec![], vec![s("b"), s("c")]],
            objects: vec![Value::Int(1), Value::str("x"), Value::Vertex(Arc::new(sample_vertex()))],
        })),
        Value::Graph(Arc::new(GraphData { vertices: vec![sample_vertex(), Vertex { id: Value::Int(10), label: s("software"), properties: Some(vec![VertexProperty { id: Value::Long(9), key: s("name"), value: Value::str("gremlin"), properties: Some(vec![prop("x", Value::Int(1))]) }]) }], edges: vec![sample_edge()] })),
        Value::Metrics(Arc::new(sample_metrics())),
        Value::Traverser(Arc::new((3, Value::str("v")))),
        en(EnumKind::T, "label"),
        en(EnumKind::Direction, "OUT"),
        en(EnumKind::Order, "desc"),
        en(EnumKind::Scope, "local"),
        en(EnumKind::Pop, "all"),
        en(EnumKind::Column, "keys"),
        en(EnumKind::Cardinality, "single"),
        en(EnumKind::Operator, "sumLong"),
        en(EnumKind::Pick, "any"),
        en(EnumKind::Barrier, "normSack"),
        en(EnumKind::Merge, "onCreate"),
        en(EnumKind::DT, "day"),
        en(EnumKind::GType, "VERTEX"),
        p("gt", vec![Value::Int(30)]),
        p("between", vec![Value::Int(1), Value::Int(5)]),
        p("within", vec![Value::Int(1), Value::Int(2), Value::Int(3)]),
        p("without", vec![]),
        p("and", vec![p("gt", vec![Value::Int(1)]), p("lt", vec![Value::Int(9)])]),
        p("not", vec![p("eq", vec![Value::str("x")])]),
        p("eq", vec![Value::List(vec![Value::Int(1), Value::Int(2)])]),
        p("typeOf", vec![en(EnumKind::GType, "INT")]),
        Value::P(Arc::new(Predicate { text: true, name: s("containing"), args: vec![Value::str("ark")] })),
        Value::Bytecode(Arc::new(bytecode)),
        Value::Bytecode(Arc::new(anon.clone())),
        Value::Binding(Arc::new((s("x"), Value::Int(5)))),
        Value::Lambda(Arc::new(Lambda { language: s("gremlin-groovy"), script: s("it.get()"), arguments: 1 })),
        Value::Class(s("org.apache.tinkerpop.gremlin.process.traversal.strategy.optimization.CountStrategy")),
        Value::Strategy(Arc::new(Strategy {
            class: s("org.apache.tinkerpop.gremlin.process.traversal.strategy.decoration.SubgraphStrategy"),
            config: map(vec![
                (Value::str("vertices"), Value::Bytecode(Arc::new(anon))),
                (Value::str("checkAdjacentVertices"), Value::Bool(false)),
            ]),
        })),
    ]
}

fn every_variant_covered(values: &[Value]) {
    let names: std::collections::HashSet<&str> = values.iter().map(Value::type_name).collect();
    for name in [
        "null",
        "Boolean",
        "Byte",
        "Short",
        "Integer",
        "Long",
        "BigInteger",
        "BigDecimal",
        "Float",
        "Double",
        "Character",
        "String",
        "UUID",
        "Date",
        "OffsetDateTime",
        "Duration",
        "byte[]",
        "List",
        "Set",
        "Map",
        "BulkSet",
        "Tree",
        "Vertex",
        "Edge",
        "VertexProperty",
        "Property",
        "Path",
        "Graph",
        "TraversalMetrics",
        "Traverser",
        "Enum",
        "P",
        "Bytecode",
        "Binding",
        "Lambda",
        "Class",
        "TraversalStrategy",
    ] {
        assert!(names.contains(name), "samples lack a {name}");
    }
}

#[test]
fn graphbinary_round_trips_every_type() {
    let values = samples();
    every_variant_covered(&values);
    for v in &values {
        let bytes = gb::encode_value(v).expect("encode");
        let back = gb::decode_value(&bytes).unwrap_or_else(|e| panic!("decode {v:?}: {e}"));
        assert_eq!(
            format!("{v:?}"),
            format!("{back:?}"),
            "round trip of {}",
            v.type_name()
        );
        if !matches!(v, Value::Graph(_)) {
            assert_eq!(&back, v);
        }
        assert_eq!(gb::encode_value(&back).expect("re-encode"), bytes);
    }
}

#[test]
fn graphson_round_trips_every_type() {
    let values = samples();
    for v in &values {
        let text = gs::encode_value(v).expect("encode");
        let back = gs::decode_value(&text).unwrap_or_else(|e| panic!("decode {text}: {e}"));
        assert_eq!(
            format!("{v:?}"),
            format!("{back:?}"),
            "round trip of {text}"
        );
        assert_eq!(gs::encode_value(&back).expect("re-encode"), text);
    }
}

#[test]
fn graphbinary_exact_bytes() {
    let enc = |v: &Value| gb::encode_value(v).expect("encode");
    assert_eq!(
        enc(&en(EnumKind::T, "label")),
        hex("20 00 03 00 00 00 00 05 6c 61 62 65 6c")
    );
    assert_eq!(enc(&Value::Int(1)), hex("01 00 00 00 00 01"));
    assert_eq!(
        enc(&Value::Double(1.0)),
        hex("07 00 3f f0 00 00 00 00 00 00")
    );
    assert_eq!(enc(&Value::Float(1.0)), hex("08 00 3f 80 00 00"));
    assert_eq!(enc(&Value::str("")), hex("03 00 00 00 00 00"));
    assert_eq!(enc(&Value::Null), hex("fe 01"));
    assert_eq!(enc(&Value::Char('a')), hex("80 00 61"));
    let u = Uuid::parse("00112233-4455-6677-8899-aabbccddeeff").expect("uuid");
    assert_eq!(
        enc(&Value::Uuid(u)),
        hex("0c 00 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff")
    );
    for (n, bytes) in [
        (0, "00 00 00 01 00"),
        (128, "00 00 00 02 00 80"),
        (-1, "00 00 00 01 ff"),
        (-129, "00 00 00 02 ff 7f"),
        (127, "00 00 00 01 7f"),
    ] {
        let mut want = hex("23 00");
        want.extend(hex(bytes));
        assert_eq!(enc(&Value::BigInt(BigInt::from(n))), want, "BigInteger {n}");
        assert_eq!(
            gb::decode_value(&want).expect("decode"),
            Value::BigInt(BigInt::from(n))
        );
    }
    // Non-minimal forms gremlinpython 3.8.1 writes.
    assert_eq!(
        gb::decode_value(&hex("23 00 00 00 00 02 00 01")).expect("1"),
        Value::BigInt(BigInt::from(1))
    );
    assert_eq!(
        gb::decode_value(&hex("23 00 00 00 00 00")).expect("0"),
        Value::BigInt(BigInt::from(0))
    );
    assert_eq!(
        gb::decode_value(&hex("23 00 00 00 00 03 ff ff 7f")).expect("-129"),
        Value::BigInt(BigInt::from(-129))
    );
    // Vertex parents and references: properties null is exactly `fe 01`.
    let vref = Value::Vertex(Arc::new(Vertex {
        id: Value::Int(1),
        label: s("person"),
        properties: None,
    }));
    assert_eq!(
        enc(&vref),
        hex("11 00 01 00 00 00 00 01 00 00 00 06 70 65 72 73 6f 6e fe 01")
    );
    let pr = Value::Property(Arc::new(prop("k", Value::Int(2))));
    assert_eq!(
        enc(&pr),
        hex("0f 00 00 00 00 01 6b 01 00 00 00 00 02 fe 01")
    );
    // Graph, as Java's GraphSerializer writes it: property lists are value-only Lists.
    let g = Value::Graph(Arc::new(GraphData {
        vertices: vec![Vertex {
            id: Value::Int(1),
            label: s("a"),
            properties: Some(vec![VertexProperty {
                id: Value::Long(0),
                key: s("k"),
                value: Value::Int(2),
                properties: Some(vec![prop("m", Value::Int(3))]),
            }]),
        }],
        edges: vec![Edge {
            id: Value::Int(9),
            label: s("e"),
            out_v_id: Value::Int(1),
            out_v_label: s("a"),
            in_v_id: Value::Int(1),
            in_v_label: s("a"),
            properties: Some(vec![]),
        }],
    }));
    let want = hex(
        "10 00  00 00 00 01
         01 00 00 00 00 01  00 00 00 01 61  00 00 00 01
           02 00 00 00 00 00 00 00 00 00  00 00 00 01 6b  01 00 00 00 00 02  fe 01
           00 00 00 01  0f 00 00 00 00 01 6d 01 00 00 00 00 03 fe 01
         00 00 00 01
         01 00 00 00 00 09  00 00 00 01 65  01 00 00 00 00 01  fe 01  01 00 00 00 00 01  fe 01  fe 01
           00 00 00 00",
    );
    assert_eq!(enc(&g), want);
    assert_eq!(
        format!("{:?}", gb::decode_value(&want).expect("graph")),
        format!("{g:?}")
    );
    // Date / Timestamp both decode to Date; OffsetDateTime is 18 bytes.
    assert_eq!(
        gb::decode_value(&hex("05 00 00 00 00 00 00 00 00 07")).expect("ts"),
        Value::Date(7)
    );
    let odt = Value::DateTime(DateTime {
        epoch_seconds: 1_196_673_330,
        nanos: 0,
        offset_seconds: 3600,
    });
    // 2007-12-03T10:15:30+01:00: year 2007, month 12, day 3, nano-of-day 36930e9, offset 3600.
    let want = hex("88 00 00 00 07 d7 0c 03 00 00 21 96 6f 88 14 00 00 00 0e 10");
    assert_eq!(enc(&odt), want);
    assert_eq!(gb::decode_value(&want).expect("odt"), odt);
    // Instant and LocalDateTime map to UTC date-times; LocalTime is refused.
    assert_eq!(
        gb::decode_value(&hex("83 00 00 00 00 00 00 00 00 3c 00 00 00 05")).expect("instant"),
        Value::DateTime(DateTime {
            epoch_seconds: 60,
            nanos: 5,
            offset_seconds: 0
        })
    );
    assert_eq!(
        gb::decode_value(&hex("85 00 00 00 07 b2 01 01 00 00 00 00 00 00 00 00")).expect("ldt"),
        Value::DateTime(DateTime {
            epoch_seconds: 0,
            nanos: 0,
            offset_seconds: 0
        })
    );
    let e = gb::decode_value(&hex("86 00 00 00 00 00 00 00 00 00")).expect_err("LocalTime");
    assert_eq!(e.kind, DecodeErrorKind::Unsupported);
    assert!(e.to_string().contains("LocalTime"), "{e}");
}

const PYTHON_REQUEST: &str = "20 61 70 70 6c 69 63 61 74 69 6f 6e 2f 76 6e 64 2e 67 72 61 70 68 62 69 6e 61 72 79 2d 76 31 2e 30
81
cb 68 25 78 9d 92 44 99 9e bc 5c 6a a7 3c 53 97
00 00 00 08 62 79 74 65 63 6f 64 65
00 00 00 09 74 72 61 76 65 72 73 61 6c
00 00 00 02
03 00 00 00 00 07 67 72 65 6d 6c 69 6e
15 00  00 00 00 02  00 00 00 01 56 00 00 00 00  00 00 00 05 63 6f 75 6e 74 00 00 00 00  00 00 00 00
03 00 00 00 00 07 61 6c 69 61 73 65 73
0a 00 00 00 00 01 03 00 00 00 00 01 67 03 00 00 00 00 07 67 6d 6f 64 65 72 6e";

fn python_request() -> RequestMessage {
    RequestMessage {
        request_id: Uuid::parse("cb682578-9d92-4499-9ebc-5c6aa73c5397").expect("uuid"),
        op: "bytecode".into(),
        processor: "traversal".into(),
        args: map(vec![
            (
                Value::str("gremlin"),
                Value::Bytecode(Arc::new(
                    Bytecode::default().step("V", vec![]).step("count", vec![]),
                )),
            ),
            (
                Value::str("aliases"),
                Value::Map(map(vec![(Value::str("g"), Value::str("gmodern"))])),
            ),
        ]),
    }
}

#[test]
fn graphbinary_request_envelope_as_gremlinpython_sends_it() {
    let frame = hex(PYTHON_REQUEST);
    assert_eq!(frame.len(), 163);
    let (mime, body) = message::split_mime(&frame).expect("mime");
    assert_eq!(mime, message::MIME_GRAPHBINARY_V1);
    let format = Format::from_mime(mime).expect("known mime");
    let req = message::decode_request(format, body).expect("decode");
    assert_eq!(req, python_request());
    assert_eq!(
        message::encode_request_frame(format, &req).expect("encode"),
        frame
    );
    assert_eq!(
        message::decode_request_frame(&frame).expect("frame"),
        (Format::GraphBinaryV1, req.clone())
    );
    let json = message::encode_request_frame(Format::GraphSonV3, &req).expect("json frame");
    assert_eq!(json[0], 33);
    assert_eq!(
        message::decode_request_frame(&json).expect("json"),
        (Format::GraphSonV3, req)
    );
    // A truncated frame reports an offset into the whole frame.
    let e = message::decode_request_frame(&frame[..40]).expect_err("truncated");
    assert!(e.offset >= 33, "{e}");
}

#[test]
fn graphbinary_response_envelope_exact_bytes() {
    let want = hex(
        "81  00 cb 68 25 78 9d 92 44 99 9e bc 5c 6a a7 3c 53 97  00 00 00 c8  00 00 00 00 00
         00 00 00 00  00 00 00 00  09 00 00 00 00 01  21 00 00 00 00 00 00 00 00 01  02 00 00 00 00 00 00 00 00 06",
    );
    let resp = ResponseMessage {
        request_id: Uuid::parse("cb682578-9d92-4499-9ebc-5c6aa73c5397"),
        status_code: 200,
        status_message: Some(String::new()),
        status_attributes: Map::new(),
        result_meta: Map::new(),
        result_data: Value::List(vec![Value::Traverser(Arc::new((1, Value::Long(6))))]),
    };
    assert_eq!(
        message::encode_response(Format::GraphBinaryV1, &resp).expect("encode"),
        want
    );
    assert_eq!(
        message::decode_response(Format::GraphBinaryV1, &want).expect("decode"),
        resp
    );
    // A 407 challenge with null data.
    let challenge = hex("81 00 cb 68 25 78 9d 92 44 99 9e bc 5c 6a a7 3c 53 97 00 00 01 97 00 00 00 00 00 00 00 00 00 00 00 00 00 fe 01");
    let r = gb::decode_response(&challenge).expect("407");
    assert_eq!((r.status_code, r.result_data), (407, Value::Null));
}

#[test]
fn graphson_request_envelope_as_gremlinpython_sends_it() {
    let text = r#"{"requestId":{"@type":"g:UUID","@value":"cb682578-9d92-4499-9ebc-5c6aa73c5397"},
 "processor":"traversal","op":"bytecode",
 "args":{"gremlin":{"@type":"g:Bytecode","@value":{"step":[["V"],["count"]]}},"aliases":{"g":"gmodern"}}}"#;
    let req = gs::decode_request(text.as_bytes()).expect("decode");
    assert_eq!(req, python_request());
    // Java writes a plain-string requestId and a g:Map args; plain numbers are Int.
    let java = r#"{"requestId":"cb682578-9d92-4499-9ebc-5c6aa73c5397","op":"eval","processor":"",
      "args":{"@type":"g:Map","@value":["gremlin","g.V()","batchSize",64,"evaluationTimeout",{"@type":"g:Int64","@value":500}]}}"#;
    let req = gs::decode_request(java.as_bytes()).expect("decode java");
    assert_eq!(
        req.args.get(&Value::str("batchSize")),
        Some(&Value::Int(64))
    );
    assert_eq!(
        req.args.get(&Value::str("evaluationTimeout")),
        Some(&Value::Long(500))
    );
    let round = gs::decode_request(
        gs::encode_request(&python_request())
            .expect("enc")
            .as_bytes(),
    )
    .expect("dec");
    assert_eq!(round, python_request());
}

#[test]
fn graphson_response_has_gremlin_server_shape() {
    let resp = ResponseMessage {
        request_id: Uuid::parse("cb682578-9d92-4499-9ebc-5c6aa73c5397"),
        status_code: 200,
        status_message: Some(String::new()),
        status_attributes: Map::new(),
        result_meta: Map::new(),
        result_data: Value::List(vec![Value::Traverser(Arc::new((1, Value::Long(6))))]),
    };
    let text = gs::encode_response(&resp).expect("encode");
    assert_eq!(
        text,
        r#"{"requestId":"cb682578-9d92-4499-9ebc-5c6aa73c5397","status":{"message":"","code":200,"attributes":{"@type":"g:Map","@value":[]}},"result":{"data":{"@type":"g:List","@value":[{"@type":"g:Traverser","@value":{"bulk":{"@type":"g:Int64","@value":1},"value":{"@type":"g:Int64","@value":6}}}]},"meta":{"@type":"g:Map","@value":[]}}}"#
    );
    assert_eq!(gs::decode_response(text.as_bytes()).expect("decode"), resp);
}

#[test]
fn graphson_scalars_exact_text() {
    let enc = |v: &Value| gs::encode_value(v).expect("encode");
    assert_eq!(enc(&Value::Int(100)), r#"{"@type":"g:Int32","@value":100}"#);
    assert_eq!(
        enc(&Value::Double(100.0)),
        r#"{"@type":"g:Double","@value":100.0}"#
    );
    assert_eq!(
        enc(&Value::Double(f64::NAN)),
        r#"{"@type":"g:Double","@value":"NaN"}"#
    );
    assert_eq!(
        enc(&Value::DateTime(DateTime {
            epoch_seconds: 1_196_673_330,
            nanos: 0,
            offset_seconds: 3600
        })),
        r#"{"@type":"gx:OffsetDateTime","@value":"2007-12-03T10:15:30+01:00"}"#
    );
    assert_eq!(
        enc(&Value::DateTime(DateTime {
            epoch_seconds: 1_196_673_300,
            nanos: 0,
            offset_seconds: 0
        })),
        r#"{"@type":"gx:OffsetDateTime","@value":"2007-12-03T09:15Z"}"#
    );
    assert_eq!(
        enc(&Value::Duration(Duration {
            seconds: 432_000,
            nanos: 0
        })),
        r#"{"@type":"gx:Duration","@value":"PT120H"}"#
    );
    assert_eq!(
        enc(&Value::Duration(Duration {
            seconds: -1,
            nanos: 500_000_000
        })),
        r#"{"@type":"gx:Duration","@value":"PT-0.5S"}"#
    );
    assert_eq!(
        enc(&Value::BigDecimal(BigDecimal {
            unscaled: BigInt::from(1),
            scale: -3
        })),
        r#"{"@type":"gx:BigDecimal","@value":1E+3}"#
    );
    assert_eq!(
        enc(&Value::BigDecimal(BigDecimal {
            unscaled: BigInt::from(7),
            scale: 9
        })),
        r#"{"@type":"gx:BigDecimal","@value":7E-9}"#
    );
    assert_eq!(
        enc(&Value::Binary(Arc::from(&b"hello"[..]))),
        r#"{"@type":"gx:ByteBuffer","@value":"aGVsbG8="}"#
    );
    assert_eq!(
        enc(&en(EnumKind::T, "label")),
        r#"{"@type":"g:T","@value":"label"}"#
    );
    // Precision: Int64 and BigInteger are not routed through f64.
    assert_eq!(
        gs::decode_value(r#"{"@type":"g:Int64","@value":9007199254740993}"#).expect("long"),
        Value::Long(9_007_199_254_740_993)
    );
    assert_eq!(
        gs::decode_value(r#"{"@type":"gx:BigInteger","@value":123456789012345678901234567890}"#)
            .expect("big"),
        Value::BigInt(BigInt::parse_bytes(b"123456789012345678901234567890", 10).expect("big"))
    );
    // Python writes BigDecimal as a string.
    assert_eq!(
        gs::decode_value(r#"{"@type":"gx:BigDecimal","@value":"1.50"}"#).expect("dec"),
        Value::BigDecimal(BigDecimal {
            unscaled: BigInt::from(150),
            scale: 2
        })
    );
    // Python's datetime with microseconds, and a Z offset.
    assert_eq!(
        gs::decode_value(r#"{"@type":"gx:OffsetDateTime","@value":"1970-01-01T00:00:01.000002Z"}"#)
            .expect("dt"),
        Value::DateTime(DateTime {
            epoch_seconds: 1,
            nanos: 2_000,
            offset_seconds: 0
        })
    );
    assert_eq!(
        gs::decode_value(r#"{"@type":"gx:Duration","@value":"P1DT-1H30.25S"}"#).expect("dur"),
        Value::Duration(Duration {
            seconds: 86_400 - 3600 + 30,
            nanos: 250_000_000
        })
    );
}

#[test]
fn limits_are_enforced_without_allocating() {
    // A list claiming i32::MAX items in a 10-byte input: refused before any reservation.
    let e = gb::decode_value(&hex("09 00 7f ff ff ff 01 00 00 00")).expect_err("huge");
    assert_eq!(e.kind, DecodeErrorKind::TooLarge);
    let e = gb::decode_value(&hex("09 00 00 10 00 00 01 00 00 00")).expect_err("claimed");
    assert_eq!(e.kind, DecodeErrorKind::Truncated);
    let e = gb::decode_value(&hex("03 00 00 00 00 09 61")).expect_err("short string");
    assert_eq!(e.kind, DecodeErrorKind::Truncated);
    let e = gb::decode_value(&hex("09 00 ff ff ff ff")).expect_err("negative");
    assert_eq!(e.kind, DecodeErrorKind::TooLarge);
    // Nesting deeper than the limit.
    let mut deep = Vec::new();
    for _ in 0..=super::NESTING_DEPTH_MAX {
        deep.extend(hex("09 00 00 00 00 01"));
    }
    deep.extend(hex("fe 01"));
    assert_eq!(
        gb::decode_value(&deep).expect_err("deep").kind,
        DecodeErrorKind::TooDeep
    );
    let json = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    assert_eq!(
        gs::decode_value(&json).expect_err("deep json").kind,
        DecodeErrorKind::TooDeep
    );
    // Garbage is a typed error, not a panic.
    assert_eq!(
        gb::decode_value(&hex("77 00")).expect_err("unknown").kind,
        DecodeErrorKind::UnknownType
    );
    assert_eq!(
        gb::decode_value(&hex("01 00 00 00 00 01 00"))
            .expect_err("trailing")
            .kind,
        DecodeErrorKind::TrailingBytes
    );
    assert_eq!(
        gb::decode_value(&hex("27 00 02")).expect_err("bool").kind,
        DecodeErrorKind::Invalid
    );
    assert!(gs::decode_value(r#"{"@type":"g:Int32","@value":3000000000}"#).is_err());
    assert!(
        gs::decode_value(r#"{"@type":"gx:BigDecimal","@value":1E-9223372036854775808}"#).is_err()
    );
    assert!(
        gs::decode_value(r#"{"@type":"gx:BigDecimal","@value":"1E-9223372036854775808"}"#).is_err()
    );
    // An offset of i32::MIN seconds is refused, not negated.
    let e = gb::decode_value(&hex(
        "88 00 00 00 07 d0 01 01 00 00 00 00 00 00 00 00 80 00 00 00",
    ))
    .expect_err("offset");
    assert_eq!(e.kind, DecodeErrorKind::Invalid);
    // An Instant beyond Java's year range is refused (found by the fuzzer).
    let e =
        gb::decode_value(&hex("83 00 00 87 00 11 9b 01 9b 35 00 31 31 31")).expect_err("instant");
    assert_eq!(e.kind, DecodeErrorKind::Invalid);
    assert!(message::split_mime(&[0]).is_err());
    assert!(message::split_mime(&[5, b'a']).is_err());
}

// ---------------------------------------------------------------------------- data files

fn tinkerpop_dir() -> Option<PathBuf> {
    // Relative paths (as in `.ci/run`'s default) are relative to the workspace root.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = match std::env::var_os("COREGRAPH_TINKERPOP") {
        Some(d) => root.join(PathBuf::from(d)),
        None => root.join("../shared/tinkerpop"),
    };
    if dir.join("data").is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "TinkerPop data not found at {} (set COREGRAPH_TINKERPOP)",
        dir.display()
    );
    eprintln!(
        "SKIPPED: TinkerPop data not found at {} (set COREGRAPH_TINKERPOP)",
        dir.display()
    );
    None
}

fn load(dir: &std::path::Path, file: &str) -> GraphData {
    let text = std::fs::read_to_string(dir.join("data").join(file)).expect("read data file");
    gs::read_graph(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn vertex(g: &GraphData, id: i32) -> &Vertex {
    g.vertices
        .iter()
        .find(|v| v.id == Value::Int(id))
        .expect("vertex present")
}

fn values_of(v: &Vertex, key: &str) -> Vec<Value> {
    v.properties
        .iter()
        .flatten()
        .filter(|p| &*p.key == key)
        .map(|p| p.value.clone())
        .collect()
}

fn assert_write_read_exact(g: &GraphData, file: &str) {
    let text = gs::write_graph(g).expect("write");
    let back = gs::read_graph(&text).expect("read back");
    assert_eq!(
        format!("{g:?}"),
        format!("{back:?}"),
        "{file}: write+read differs"
    );
    // And through GraphBinary's Graph type.
    let value = Value::Graph(Arc::new(g.clone()));
    let bytes = gb::encode_value(&value).expect("encode graph");
    let back = gb::decode_value(&bytes).expect("decode graph");
    assert_eq!(
        format!("{value:?}"),
        format!("{back:?}"),
        "{file}: GraphBinary graph differs"
    );
}

#[test]
fn reads_and_rewrites_the_tinkerpop_graphs() {
    let Some(dir) = tinkerpop_dir() else { return };

    let modern = load(&dir, "tinkerpop-modern.json");
    assert_eq!((modern.vertices.len(), modern.edges.len()), (6, 6));
    assert_eq!(
        values_of(vertex(&modern, 1), "name"),
        vec![Value::str("marko")]
    );
    assert_eq!(values_of(vertex(&modern, 1), "age"), vec![Value::Int(29)]);
    assert_eq!(&*vertex(&modern, 3).label, "software");
    let e7 = modern
        .edges
        .iter()
        .find(|e| e.id == Value::Int(7))
        .expect("edge 7");
    assert_eq!(
        (&*e7.label, &e7.out_v_id, &e7.in_v_id),
        ("knows", &Value::Int(1), &Value::Int(2))
    );
    assert_eq!((&*e7.out_v_label, &*e7.in_v_label), ("person", "person"));
    assert_eq!(
        e7.properties.as_deref(),
        Some(&[prop("weight", Value::Double(0.5))][..])
    );
    let vp_ids: Vec<&Value> = modern
        .vertices
        .iter()
        .flat_map(|v| v.properties.iter().flatten())
        .map(|p| &p.id)
        .collect();
    assert_eq!(vp_ids.len(), 12);
    assert!(vp_ids.iter().all(|id| matches!(id, Value::Long(0..=11))));
    assert_write_read_exact(&modern, "modern");

    let crew = load(&dir, "tinkerpop-crew.json");
    assert_eq!((crew.vertices.len(), crew.edges.len()), (6, 14));
    let marko = vertex(&crew, 1);
    let locations: Vec<&VertexProperty> = marko
        .properties
        .iter()
        .flatten()
        .filter(|p| &*p.key == "location")
        .collect();
    assert_eq!(locations.len(), 4);
    assert_eq!(locations[0].value, Value::str("san diego"));
    assert_eq!(
        locations[0].properties.as_deref(),
        Some(
            &[
                prop("startTime", Value::Int(1997)),
                prop("endTime", Value::Int(2001))
            ][..]
        )
    );
    assert_eq!(
        locations[3].properties.as_deref(),
        Some(&[prop("startTime", Value::Int(2005))][..])
    );
    let all_locations = crew
        .vertices
        .iter()
        .flat_map(|v| v.properties.iter().flatten())
        .filter(|p| &*p.key == "location")
        .count();
    assert_eq!(all_locations, 14);
    assert_write_read_exact(&crew, "crew");

    let classic = load(&dir, "tinkerpop-classic.json");
    assert_eq!((classic.vertices.len(), classic.edges.len()), (6, 6));
    assert!(classic.edges.iter().all(|e| matches!(
        e.properties.as_deref(),
        Some([Property {
            value: Value::Float(_),
            ..
        }])
    )));
    assert_write_read_exact(&classic, "classic");

    let sink = load(&dir, "tinkerpop-sink.json");
    assert_eq!((sink.vertices.len(), sink.edges.len()), (3, 3));
    let self_loop = sink
        .edges
        .iter()
        .find(|e| e.id == Value::Int(1001))
        .expect("self loop");
    assert_eq!(
        (&self_loop.out_v_id, &self_loop.in_v_id),
        (&Value::Int(1000), &Value::Int(1000))
    );
    assert_write_read_exact(&sink, "sink");

    let grateful = load(&dir, "grateful-dead.json");
    assert_eq!((grateful.vertices.len(), grateful.edges.len()), (808, 8049));
    let ids: std::collections::HashSet<&Value> = grateful.edges.iter().map(|e| &e.id).collect();
    assert_eq!(ids.len(), 8049, "each edge exactly once");
    assert_eq!(
        values_of(vertex(&grateful, 1), "name"),
        vec![Value::str("HEY BO DIDDLEY")]
    );
    assert_eq!(
        values_of(vertex(&grateful, 1), "songType"),
        vec![Value::str("cover")]
    );
    let labels: std::collections::HashSet<&str> =
        grateful.edges.iter().map(|e| &*e.label).collect();
    assert_eq!(
        labels,
        ["followedBy", "sungBy", "writtenBy"].into_iter().collect()
    );
    assert_write_read_exact(&grateful, "grateful");
}

#[test]
fn graph_reader_reports_bad_lines() {
    let e =
        gs::read_graph("{\"id\":{\"@type\":\"g:Int32\",\"@value\":1},\"label\":\"a\"}\n{\"id\":")
            .expect_err("truncated");
    assert!(e.detail.contains("line 2"), "{e}");
    let e = gs::read_graph("{\"id\":1,\"label\":\"a\",\"outE\":{\"x\":[{\"id\":5,\"inV\":9}]}}")
        .expect_err("dangling");
    assert!(e.detail.contains("unknown vertex"), "{e}");
    // Two edges with one id are refused (writing them back could not be stable).
    let e = gs::read_graph("{\"id\":1,\"label\":\"a\",\"outE\":{\"x\":[{\"id\":5,\"inV\":1}]}}\n{\"id\":2,\"label\":\"a\",\"outE\":{\"x\":[{\"id\":5,\"inV\":1}]}}")
        .expect_err("duplicate edge id");
    assert!(e.detail.contains("appears twice"), "{e}");
    // An edge listed only under inE is still taken once.
    let g = gs::read_graph("{\"id\":1,\"label\":\"a\"}\n{\"id\":2,\"label\":\"b\",\"inE\":{\"x\":[{\"id\":5,\"outV\":1}]}}").expect("inE only");
    assert_eq!(g.edges.len(), 1);
    assert_eq!(
        (&*g.edges[0].out_v_label, &*g.edges[0].in_v_label),
        ("a", "b")
    );
}

// ---------------------------------------------------------------------------- no-panic

/// xorshift64*: a small deterministic generator, so failures reproduce.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Mutates `input` with a few random edits: byte flips, interesting bytes, insertions,
/// deletions, duplications and truncation.
pub(super) fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = v.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, b'"', b'{', b'['][rng.below(9)];
            }
            2 => {
                let i = rng.below(len + 1);
                v.insert(i, rng.next() as u8);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(len - i + 1);
                v.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below((len - i).min(64) + 1);
                let chunk: Vec<u8> = v[i..i + n].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, chunk);
            }
            5 => v.truncate(rng.below(len + 1)),
            _ if len >= 4 => {
                // Overwrite a 4-byte length with a large or negative number.
                let i = rng.below(len - 3);
                let n: i32 = [i32::MAX, -1, 0x7fff, 1 << 20][rng.below(4)];
                v[i..i + 4].copy_from_slice(&n.to_be_bytes());
            }
            _ => {}
        }
    }
    v
}

pub(super) fn binary_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = samples()
        .iter()
        .map(|v| gb::encode_value(v).expect("seed"))
        .collect();
    seeds.push(gb::encode_request(&python_request()).expect("seed"));
    seeds.push(hex(PYTHON_REQUEST));
    seeds
}

pub(super) fn json_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = samples()
        .iter()
        .map(|v| gs::encode_value(v).expect("seed").into_bytes())
        .collect();
    seeds.push(
        gs::encode_request(&python_request())
            .expect("seed")
            .into_bytes(),
    );
    seeds
}

/// Feeds every decoder one input and checks the round-trip invariants.
fn exercise_decoders(data: &[u8]) {
    super::fuzz::graphbinary_one(data);
    super::fuzz::graphson_one(data);
}

#[test]
fn mutated_encodings_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let binary = binary_seeds();
    let json = json_seeds();
    for round in 0..50_000 {
        let seeds = if round % 2 == 0 { &binary } else { &json };
        let seed = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed);
        exercise_decoders(&input);
    }
}

/// Every input that once crashed a fuzz target (`gremlin/fuzz/regressions/<target>/`) is
/// replayed through both decoders.
#[test]
fn fuzz_regressions_stay_fixed() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut replayed = 0;
    for target in ["graphbinary", "graphson"] {
        let dir = root.join(target);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                continue;
            }
            let data = std::fs::read(&path).expect("read regression input");
            exercise_decoders(&data);
            replayed += 1;
        }
    }
    assert!(
        replayed > 0,
        "no regression inputs found under {}",
        root.display()
    );
}

/// Writes the fuzz seed corpus (`gremlin/fuzz/seeds/<target>/`) from the samples above.
#[test]
#[ignore = "regenerates gremlin/fuzz/seeds; run by hand"]
fn write_fuzz_seeds() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut graph_text = gs::write_graph(&GraphData {
        vertices: vec![
            sample_vertex(),
            Vertex {
                id: Value::Int(10),
                label: s("software"),
                properties: Some(vec![]),
            },
        ],
        edges: vec![sample_edge()],
    })
    .expect("graph");
    graph_text.push('\n');
    let mut frames = Vec::new();
    for format in [Format::GraphBinaryV1, Format::GraphSonV3] {
        frames.push(message::encode_request_frame(format, &python_request()).expect("frame"));
    }
    let mut json = json_seeds();
    json.push(graph_text.into_bytes());
    for (target, seeds) in [("graphbinary", binary_seeds()), ("graphson", json)] {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (i, seed) in seeds.iter().chain(&frames).enumerate() {
            std::fs::write(dir.join(format!("seed-{i:03}")), seed).expect("write seed");
        }
    }
}

/// The element and predicate shapes of PROTOCOL.md 7.3/7.4 as Java and Python write them.
#[test]
fn graphson_reads_driver_shapes() {
    let v = gs::decode_value(r#"{"@type":"g:Vertex","@value":{"id":{"@type":"g:Int32","@value":1},"label":"person",
      "properties":{"name":[{"@type":"g:VertexProperty","@value":{"id":{"@type":"g:Int64","@value":0},"value":"marko","label":"name"}}],
                    "location":[{"@type":"g:VertexProperty","@value":{"id":{"@type":"g:Int64","@value":6},"value":"san diego","label":"location",
                                 "properties":{"startTime":{"@type":"g:Int32","@value":1997}}}}]}}}"#).expect("vertex");
    let Value::Vertex(vx) = v else {
        panic!("not a vertex: {v:?}")
    };
    let props = vx.properties.as_deref().expect("properties");
    assert_eq!(props.len(), 2);
    assert_eq!(
        (&*props[1].key, &props[1].value),
        ("location", &Value::str("san diego"))
    );
    assert_eq!(
        props[1].properties.as_deref(),
        Some(&[prop("startTime", Value::Int(1997))][..])
    );
    let e = gs::decode_value(r#"{"@type":"g:Edge","@value":{"id":{"@type":"g:Int32","@value":13},"label":"develops","inVLabel":"software","outVLabel":"person",
      "inV":{"@type":"g:Int32","@value":10},"outV":{"@type":"g:Int32","@value":1},
      "properties":{"since":{"@type":"g:Property","@value":{"key":"since","value":{"@type":"g:Int32","@value":2009}}}}}}"#).expect("edge");
    let Value::Edge(e) = e else {
        panic!("not an edge")
    };
    assert_eq!(format!("{:?}", *e), format!("{:?}", sample_edge()));
    // Python: between as a plain array, within as a g:List, and/or as a plain array of P.
    let between = gs::decode_value(r#"{"@type":"g:P","@value":{"predicate":"between","value":[{"@type":"g:Int32","@value":1},{"@type":"g:Int32","@value":5}]}}"#).expect("between");
    assert_eq!(between, p("between", vec![Value::Int(1), Value::Int(5)]));
    let or = gs::decode_value(r#"{"@type":"g:P","@value":{"predicate":"or","value":[{"@type":"g:P","@value":{"predicate":"eq","value":"a"}},{"@type":"g:P","@value":{"predicate":"within","value":{"@type":"g:List","@value":["b","c"]}}}]}}"#).expect("or");
    assert_eq!(
        or,
        p(
            "or",
            vec![
                p("eq", vec![Value::str("a")]),
                p("within", vec![Value::str("b"), Value::str("c")])
            ]
        )
    );
    // Strategies with and without fqcn; lambdas with a plain argument count.
    let st = gs::decode_value(r#"{"@type":"g:OptionsStrategy","@value":{"@type":"g:Map","@value":["evaluationTimeout",{"@type":"g:Int32","@value":500}]}}"#).expect("options");
    let Value::Strategy(st) = st else {
        panic!("not a strategy")
    };
    assert_eq!(
        (&*st.class, st.config.get(&Value::str("evaluationTimeout"))),
        ("OptionsStrategy", Some(&Value::Int(500)))
    );
    let l = gs::decode_value(r#"{"@type":"g:Lambda","@value":{"script":"x -> x","language":"gremlin-groovy","arguments":1}}"#).expect("lambda");
    assert!(matches!(l, Value::Lambda(l) if l.arguments == 1));
    // Enum aliases become canonical names.
    assert_eq!(
        gs::decode_value(r#"{"@type":"g:Direction","@value":"from"}"#).expect("dir"),
        en(EnumKind::Direction, "OUT")
    );
    assert!(
        matches!(gs::decode_value(r#"{"@type":"g:Nope","@value":1}"#), Err(e) if e.kind == DecodeErrorKind::UnknownType)
    );
}

/// The memory bound documented in `codec/mod.rs` (DECODED_VALUES_MAX values of 80 bytes), and
/// the value budget itself.
#[test]
fn value_size_keeps_the_documented_bound() {
    let size = std::mem::size_of::<Value>();
    eprintln!("size_of::<Value>() = {size}");
    assert!(
        size <= 80,
        "Value grew to {size} bytes; update the bound in codec/mod.rs"
    );
    let n = super::DECODED_VALUES_MAX;
    let mut list = hex("09 00");
    list.extend_from_slice(&(n as i32).to_be_bytes());
    list.extend(std::iter::repeat_n([0xfe, 0x01], n).flatten());
    assert_eq!(
        gb::decode_value(&list).expect_err("budget").kind,
        DecodeErrorKind::TooLarge
    );
    let json = format!("[{}]", vec!["0"; n].join(","));
    assert_eq!(
        gs::decode_value(&json).expect_err("budget").kind,
        DecodeErrorKind::TooLarge
    );
    let json = format!("[{}]", vec!["0"; n - 1].join(","));
    assert!(matches!(gs::decode_value(&json), Ok(Value::List(l)) if l.len() == n - 1));
}

// ---------------------------------------------------------------------------- random values

fn random_string(rng: &mut Rng) -> Arc<str> {
    const POOL: [char; 12] = [
        'a', 'Z', '0', ' ', '"', '\\', '\n', '\u{1}', 'é', '€', '😀', '\u{7f}',
    ];
    let n = rng.below(6);
    let text: String = (0..n).map(|_| POOL[rng.below(POOL.len())]).collect();
    Arc::from(text)
}

fn random_big(rng: &mut Rng) -> BigInt {
    let bytes: Vec<u8> = (0..rng.below(20)).map(|_| rng.next() as u8).collect();
    BigInt::from_signed_bytes_be(&bytes)
}

fn random_props(rng: &mut Rng, depth: usize) -> Option<Vec<Property>> {
    // Some(non-empty) or None: the shapes both formats carry exactly.
    if rng.below(3) == 0 {
        return None;
    }
    Some(
        (0..=rng.below(2))
            .map(|_| Property {
                key: random_string(rng),
                value: random_value(rng, depth + 1),
            })
            .collect(),
    )
}

/// A random value of any variant, in the canonical shapes both formats carry exactly.
fn random_value(rng: &mut Rng, depth: usize) -> Value {
    let leaf = depth >= 4;
    let pick = if leaf { rng.below(18) } else { rng.below(37) };
    let n = if leaf { 0 } else { rng.below(4) };
    let id = |rng: &mut Rng| {
        [
            Value::Int(rng.next() as i32),
            Value::Long(rng.next() as i64),
            Value::str("x"),
        ][rng.below(3)]
        .clone()
    };
    match pick {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => Value::Byte(rng.next() as i8),
        3 => Value::Short(rng.next() as i16),
        4 => Value::Int(rng.next() as i32),
        5 => Value::Long(rng.next() as i64),
        6 => Value::BigInt(random_big(rng)),
        7 => Value::BigDecimal(BigDecimal {
            unscaled: random_big(rng),
            scale: [rng.next() as i32, rng.below(20) as i32 - 5][rng.below(2)],
        }),
        8 => Value::Float(f32::from_bits(rng.next() as u32)),
        9 => Value::Double(f64::from_bits(rng.next())),
        10 => Value::Char(char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('?')),
        11 => Value::String(random_string(rng)),
        12 => Value::Uuid(Uuid(
            (rng.next() as u128 | ((rng.next() as u128) << 64)).to_be_bytes(),
        )),
        13 => Value::Date(rng.next() as i64),
        14 => Value::DateTime(DateTime {
            epoch_seconds: (rng.next() % 60_000_000_000_000) as i64 - 30_000_000_000_000,
            nanos: rng.below(1_000_000_000) as u32,
            offset_seconds: rng.below(2 * 64_800 + 1) as i32 - 64_800,
        }),
        15 => Value::Duration(Duration {
            seconds: rng.next() as i64 / 1024,
            nanos: rng.below(1_000_000_000) as i32,
        }),
        16 => Value::Binary(
            (0..rng.below(7))
                .map(|_| rng.next() as u8)
                .collect::<Vec<u8>>()
                .into(),
        ),
        17 => Value::Class(random_string(rng)),
        18 => Value::List((0..n).map(|_| random_value(rng, depth + 1)).collect()),
        19 => Value::Set((0..n).map(|_| random_value(rng, depth + 1)).collect()),
        20 => Value::Map(
            (0..n)
                .map(|_| (random_value(rng, depth + 1), random_value(rng, depth + 1)))
                .collect(),
        ),
        21 => Value::BulkSet(
            (0..n)
                .map(|_| (random_value(rng, depth + 1), rng.next() as i64))
                .collect(),
        ),
        22 => {
            fn tree(rng: &mut Rng, depth: usize) -> Tree {
                let n = if depth >= 4 { 0 } else { rng.below(3) };
                (0..n)
                    .map(|_| (random_value(rng, 4), Value::Tree(tree(rng, depth + 1))))
                    .collect()
            }
            Value::Tree(tree(rng, depth))
        }
        23 => Value::Vertex(Arc::new(Vertex {
            id: id(rng),
            label: random_string(rng),
            properties: (rng.below(2) == 0).then(|| {
                (0..=rng.below(2))
                    .map(|_| VertexProperty {
                        id: id(rng),
                        key: random_string(rng),
                        value: random_value(rng, depth + 1),
                        properties: random_props(rng, depth),
                    })
                    .collect()
            }),
        })),
        24 => Value::Edge(Arc::new(Edge {
            id: id(rng),
            label: random_string(rng),
            out_v_id: id(rng),
            out_v_label: random_string(rng),
            in_v_id: id(rng),
            in_v_label: random_string(rng),
            properties: random_props(rng, depth),
        })),
        25 => Value::VertexProperty(Arc::new(VertexProperty {
            id: id(rng),
            key: random_string(rng),
            value: random_value(rng, depth + 1),
            properties: random_props(rng, depth),
        })),
        26 => Value::Property(Arc::new(Property {
            key: random_string(rng),
            value: random_value(rng, depth + 1),
        })),
        27 => Value::Path(Arc::new(Path {
            labels: (0..n)
                .map(|_| {
                    (0..rng.below(3))
                        .map(|i| Arc::from(format!("l{i}")))
                        .collect()
                })
                .collect(),
            objects: (0..n).map(|_| random_value(rng, depth + 1)).collect(),
        })),
        28 => Value::Traverser(Arc::new((rng.next() as i64, random_value(rng, depth + 1)))),
        29 => {
            let (kind, _, _) = super::ENUM_KINDS[rng.below(super::ENUM_KINDS.len())];
            en(kind, ["id", "OUT", "asc", "local", "x"][rng.below(5)])
        }
        30 => {
            let name = ["gt", "within", "between", "and", "not", "containing"][rng.below(6)];
            let args = match name {
                "gt" | "containing" | "not" => vec![random_value(rng, depth + 1)],
                _ => (0..n).map(|_| random_value(rng, depth + 1)).collect(),
            };
            Value::P(Arc::new(Predicate {
                text: name == "containing",
                name: s(name),
                args,
            }))
        }
        31 | 32 => {
            let ins = |rng: &mut Rng| -> Vec<Instruction> {
                (0..rng.below(3))
                    .map(|_| Instruction {
                        op: random_string(rng),
                        args: (0..rng.below(3))
                            .map(|_| random_value(rng, depth + 1))
                            .collect(),
                    })
                    .collect()
            };
            Value::Bytecode(Arc::new(Bytecode {
                source: ins(rng),
                steps: ins(rng),
            }))
        }
        33 => Value::Binding(Arc::new((random_string(rng), random_value(rng, depth + 1)))),
        34 => Value::Lambda(Arc::new(Lambda {
            language: random_string(rng),
            script: random_string(rng),
            arguments: rng.next() as i32,
        })),
        35 => Value::Strategy(Arc::new(Strategy {
            class: Arc::from(format!("org.example.{}Strategy", rng.below(9))),
            config: (0..n)
                .map(|_| (random_value(rng, depth + 1), random_value(rng, depth + 1)))
                .collect(),
        })),
        _ => Value::Metrics(Arc::new(sample_metrics())),
    }
}

#[test]
fn random_values_round_trip_in_both_formats() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut seen = Vec::new();
    for _ in 0..5_000 {
        let v = random_value(&mut rng, 0);
        seen.push(v.clone());
        let want = format!("{v:?}");
        let bytes =
            gb::encode_value(&v).unwrap_or_else(|e| panic!("GraphBinary encode {want}: {e}"));
        let back =
            gb::decode_value(&bytes).unwrap_or_else(|e| panic!("GraphBinary decode {want}: {e}"));
        assert_eq!(want, format!("{back:?}"), "GraphBinary");
        let text = gs::encode_value(&v).unwrap_or_else(|e| panic!("GraphSON encode {want}: {e}"));
        let back =
            gs::decode_value(&text).unwrap_or_else(|e| panic!("GraphSON decode {text}: {e}"));
        assert_eq!(want, format!("{back:?}"), "GraphSON {text}");
    }
    // Every variant but Graph (covered by `samples`) was generated.
    seen.push(Value::Graph(Arc::default()));
    every_variant_covered(&seen);
}
