//! GraphBinary 1.0 and GraphSON 3.0 requests and responses through a running server, with the
//! codecs of `gremlin::codec` on the client side and the exact bytes of PROTOCOL.md 6.6/6.7.

mod common;

use std::sync::Arc;

use common::*;
use gremlin::codec::message::{self, Format, RequestMessage};
use gremlin::codec::{graphbinary, graphson};
use gremlin::value::{Map, Uuid, Value};
use net::wire::Serializers;

fn server(config: net::Config) -> net::ServerHandle {
    start_with(config, Serializers::standard())
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex"))
        .collect()
}

/// PROTOCOL.md 6.6: gremlinpython's `g.V().count().to_list()` against alias `gmodern`.
const PYTHON_COUNT: &str = "20 61 70 70 6c 69 63 61 74 69 6f 6e 2f 76 6e 64 2e 67 72 61 70 68 62 69 6e 61 72 79 2d 76 31 2e 30
81
cb 68 25 78 9d 92 44 99 9e bc 5c 6a a7 3c 53 97
00 00 00 08 62 79 74 65 63 6f 64 65
00 00 00 09 74 72 61 76 65 72 73 61 6c
00 00 00 02
03 00 00 00 00 07 67 72 65 6d 6c 69 6e
15 00  00 00 00 02  00 00 00 01 56 00 00 00 00  00 00 00 05 63 6f 75 6e 74 00 00 00 00  00 00 00 00
03 00 00 00 00 07 61 6c 69 61 73 65 73
0a 00 00 00 00 01 03 00 00 00 00 01 67 03 00 00 00 00 07 67 6d 6f 64 65 72 6e";

fn request_id() -> Uuid {
    Uuid::parse("cb682578-9d92-4499-9ebc-5c6aa73c5397").expect("uuid")
}

fn eval_request(id: Uuid, script: &str, extra: &[(&str, Value)]) -> RequestMessage {
    let mut args = Map::default();
    args.insert(Value::str("gremlin"), Value::str(script));
    for (k, v) in extra {
        args.insert(Value::str(k), v.clone());
    }
    RequestMessage {
        request_id: id,
        op: "eval".into(),
        processor: String::new(),
        args,
    }
}

#[test]
fn python_bytecode_request_bytes_round_trip() {
    let server = server(net::Config::default());
    let mut c = Client::connect(server.local_addr());
    let frame = hex(PYTHON_COUNT);
    assert_eq!(frame.len(), 163);
    c.send_frame(true, 2, &frame);
    let (_, op, payload) = c.read_frame().expect("response");
    assert_eq!(op, 2, "binary request, binary response");
    // Header bytes as in PROTOCOL.md 6.7: version, id, code 200, empty message.
    let mut head = vec![0x81, 0x00];
    head.extend_from_slice(&request_id().0);
    head.extend_from_slice(&[0, 0, 0, 0xc8, 0, 0, 0, 0, 0]);
    assert_eq!(&payload[..head.len()], &head[..]);
    let r = graphbinary::decode_response(&payload).expect("decodes");
    assert_eq!(r.request_id, Some(request_id()));
    assert_eq!(r.status_code, 200);
    let expected = Value::List(vec![
        Value::Traverser(Arc::new((1, Value::str("V")))),
        Value::Traverser(Arc::new((1, Value::str("count")))),
    ]);
    assert_eq!(r.result_data, expected);
    let host = r
        .status_attributes
        .get(&Value::str("host"))
        .and_then(Value::as_str);
    assert!(
        host.is_some_and(|h| h.starts_with("/127.0.0.1:")),
        "{host:?}"
    );
    server.shutdown().expect("shutdown");
}

#[test]
fn graphbinary_eval_batches_and_errors() {
    let server = server(net::Config::default());
    let mut c = Client::connect(server.local_addr());
    let id = Uuid([5; 16]);
    let req = eval_request(id, "range 5", &[("batchSize", Value::Int(2))]);
    let frame = message::encode_request_frame(Format::GraphBinaryV1, &req).expect("encode");
    c.send_frame(true, 2, &frame);
    let mut codes = Vec::new();
    let mut items = Vec::new();
    loop {
        let (_, _, payload) = c.read_frame().expect("frame");
        let r = graphbinary::decode_response(&payload).expect("decodes");
        assert_eq!(r.request_id, Some(id));
        codes.push(r.status_code);
        if let Value::List(l) = r.result_data {
            items.extend(l);
        }
        if r.status_code != 206 {
            break;
        }
    }
    assert_eq!(codes, vec![206, 206, 200]);
    assert_eq!(items, (0..5).map(Value::Int).collect::<Vec<_>>());
    // 204 has null data.
    let req = eval_request(id, "empty", &[]);
    c.send_frame(
        true,
        2,
        &message::encode_request_frame(Format::GraphBinaryV1, &req).expect("encode"),
    );
    let r = graphbinary::decode_response(&c.read_frame().expect("frame").2).expect("decodes");
    assert_eq!((r.status_code, r.result_data), (204, Value::Null));
    // Truncated GraphBinary: 498 with a null request id; the connection keeps working.
    let mut truncated = message::encode_request_frame(Format::GraphBinaryV1, &req).expect("encode");
    truncated.truncate(truncated.len() - 3);
    c.send_frame(true, 2, &truncated);
    let r = graphbinary::decode_response(&c.read_frame().expect("frame").2).expect("decodes");
    assert_eq!((r.status_code, r.request_id), (498, None));
    assert!(r
        .status_message
        .unwrap_or_default()
        .starts_with("Message could not be parsed."));
    // An unknown mime type falls back to GraphBinary.
    let mut frame = vec![10u8];
    frame.extend_from_slice(b"text/weird");
    frame.extend_from_slice(
        &graphbinary::encode_request(&eval_request(id, "range 1", &[])).expect("encode"),
    );
    c.send_frame(true, 2, &frame);
    let r = graphbinary::decode_response(&c.read_frame().expect("frame").2).expect("decodes");
    assert_eq!(
        (r.status_code, r.result_data),
        (200, Value::List(vec![Value::Int(0)]))
    );
    server.shutdown().expect("shutdown");
}

#[test]
fn graphson_in_binary_and_text_frames() {
    let server = server(net::Config::default());
    let mut c = Client::connect(server.local_addr());
    let req = eval_request(request_id(), "range 2", &[]);
    let frame = message::encode_request_frame(Format::GraphSonV3, &req).expect("encode");
    c.send_frame(true, 2, &frame);
    let (_, op, payload) = c.read_frame().expect("frame");
    assert_eq!(
        op, 2,
        "GraphSON in a binary frame is answered in a binary frame"
    );
    let text = String::from_utf8(payload.clone()).expect("utf8");
    assert!(
        text.contains("\"requestId\":\"cb682578-9d92-4499-9ebc-5c6aa73c5397\""),
        "{text}"
    );
    let r = graphson::decode_response(&payload).expect("decodes");
    assert_eq!(r.status_code, 200);
    assert_eq!(
        r.result_data,
        Value::List(vec![Value::Int(0), Value::Int(1)])
    );
    // A text frame is read as GraphSON 3 and answered in a text frame.
    let body =
        message::encode_request(Format::GraphSonV3, &eval_request(request_id(), "fail", &[]))
            .expect("encode");
    c.send_frame(true, 1, &body);
    let (_, op, payload) = c.read_frame().expect("frame");
    assert_eq!(op, 1);
    let r = graphson::decode_response(&payload).expect("decodes");
    assert_eq!(
        (r.status_code, r.status_message.as_deref()),
        (597, Some("boom"))
    );
    // Python's GraphSON request shape from PROTOCOL.md 7.5 (typed id, untyped args).
    let python = r#"{"requestId":{"@type":"g:UUID","@value":"cb682578-9d92-4499-9ebc-5c6aa73c5397"},"processor":"traversal","op":"bytecode","args":{"gremlin":{"@type":"g:Bytecode","@value":{"step":[["V"],["count"]]}},"aliases":{"g":"gmodern"}}}"#;
    c.send_request(message::MIME_GRAPHSON_V3, python.as_bytes());
    let r = graphson::decode_response(&c.read_frame().expect("frame").2).expect("decodes");
    assert_eq!(r.status_code, 200);
    assert_eq!(r.request_id, Some(request_id()));
    server.shutdown().expect("shutdown");
}

#[test]
fn graphbinary_authentication_challenge_bytes() {
    let dir = std::env::temp_dir().join(format!("coregraph-net-codec-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("credentials");
    let _ = std::fs::remove_file(&path);
    net::auth::add_user(&path, "stephen", "password").expect("add user");
    let server = server(net::Config {
        credentials_path: Some(path),
        ..net::Config::default()
    });
    let mut c = Client::connect(server.local_addr());
    c.send_frame(true, 2, &hex(PYTHON_COUNT));
    let (_, _, payload) = c.read_frame().expect("challenge");
    // PROTOCOL.md 6.7: the 407 challenge.
    let mut expected = vec![0x81, 0x00];
    expected.extend_from_slice(&request_id().0);
    expected.extend_from_slice(&hex(
        "00 00 01 97 00 00 00 00 00 00 00 00 00 00 00 00 00 fe 01",
    ));
    assert_eq!(payload, expected);
    // Python answers with the same request id and processor "traversal".
    let mut args = Map::default();
    args.insert(Value::str("sasl"), Value::str("AHN0ZXBoZW4AcGFzc3dvcmQ="));
    args.insert(Value::str("saslMechanism"), Value::str("PLAIN"));
    let auth = RequestMessage {
        request_id: request_id(),
        op: "authentication".into(),
        processor: "traversal".into(),
        args,
    };
    c.send_frame(
        true,
        2,
        &message::encode_request_frame(Format::GraphBinaryV1, &auth).expect("encode"),
    );
    let r = graphbinary::decode_response(&c.read_frame().expect("frame").2).expect("decodes");
    assert_eq!((r.request_id, r.status_code), (Some(request_id()), 200));
    server.shutdown().expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mutated_graphbinary_requests_get_answers_and_harm_nobody() {
    let server = server(net::Config::default());
    let mut c = Client::connect(server.local_addr());
    let mut bystander = Client::connect(server.local_addr());
    let valid = hex(PYTHON_COUNT);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut codes = std::collections::BTreeMap::new();
    for _ in 0..300 {
        let mut frame = valid.clone();
        for _ in 0..1 + next() % 3 {
            // Mutate past the mime prefix so the GraphBinary decoder sees the damage.
            let at = 33 + (next() as usize) % (frame.len() - 33);
            frame[at] = next() as u8;
        }
        if next() % 4 == 0 {
            let keep = 33 + (next() as usize) % (frame.len() - 33);
            frame.truncate(keep);
        }
        c.send_frame(true, 2, &frame);
        let (_, op, payload) = c.read_frame().expect("an answer to every request");
        assert_eq!(op, 2);
        let r = graphbinary::decode_response(&payload).expect("answers decode");
        *codes.entry(r.status_code).or_insert(0) += 1;
    }
    assert!(
        codes.keys().all(|c| [200, 204, 497, 498, 499].contains(c)),
        "{codes:?}"
    );
    assert!(codes.contains_key(&498), "{codes:?}");
    // The other connection, and this one, still work.
    for client in [&mut bystander, &mut c] {
        client.send_frame(true, 2, &valid);
        let r =
            graphbinary::decode_response(&client.read_frame().expect("frame").2).expect("decodes");
        assert_eq!(r.status_code, 200);
    }
    server.shutdown().expect("shutdown");
}

#[test]
fn java_driver_request_shapes() {
    let dir = std::env::temp_dir().join(format!("coregraph-net-java-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("credentials");
    let _ = std::fs::remove_file(&path);
    net::auth::add_user(&path, "stephen", "password").expect("add user");
    let server = server(net::Config {
        credentials_path: Some(path),
        ..net::Config::default()
    });
    let mut c = Client::connect(server.local_addr());
    // Java's GraphSON: plain-string requestId, args as a g:Map, batchSize always sent.
    let java = r#"{"requestId":"cb682578-9d92-4499-9ebc-5c6aa73c5397","op":"eval","processor":"","args":{"@type":"g:Map","@value":["gremlin","range 3","batchSize",{"@type":"g:Int32","@value":64},"aliases",{"@type":"g:Map","@value":["g","g"]}]}}"#;
    c.send_request(message::MIME_GRAPHSON_V3, java.as_bytes());
    let r = graphson::decode_response(&c.read_frame().expect("frame").2).expect("decodes");
    assert_eq!((r.request_id, r.status_code), (Some(request_id()), 407));
    // Java authenticates with a fresh request id, processor "" and saslMechanism.
    let auth = r#"{"requestId":"00000000-0000-0000-0000-000000000001","op":"authentication","processor":"","args":{"@type":"g:Map","@value":["saslMechanism","PLAIN","sasl","AHN0ZXBoZW4AcGFzc3dvcmQ="]}}"#;
    c.send_request(message::MIME_GRAPHSON_V3, auth.as_bytes());
    // The answer is the held request's, under its own id.
    let r = graphson::decode_response(&c.read_frame().expect("frame").2).expect("decodes");
    assert_eq!((r.request_id, r.status_code), (Some(request_id()), 200));
    assert_eq!(
        r.result_data,
        Value::List(vec![Value::Int(0), Value::Int(1), Value::Int(2)])
    );
    server.shutdown().expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}
