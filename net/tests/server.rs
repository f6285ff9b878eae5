//! End-to-end tests of the server over real sockets on 127.0.0.1: WebSocket handshake and
//! framing, Gremlin request handling (batching, status codes, in-flight limit, timeouts),
//! authentication, the admin port and graceful shutdown. The wire format is the test format of
//! `common` and the engine the test service there (the real engine is not wired yet).

mod common;

use std::time::{Duration, Instant};

use common::*;

fn default_server() -> net::ServerHandle {
    start(net::Config::default())
}

#[test]
fn upgrade_is_refused_off_path_and_for_bad_requests() {
    let server = default_server();
    let addr = server.local_addr();
    let err = Client::connect_path(addr, "/other").err().expect("refused");
    assert!(err.starts_with("HTTP/1.1 404"), "{err}");
    // Not an upgrade at all.
    let (status, _) = http_get(addr, "/gremlin", None);
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
    // Garbage instead of HTTP.
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    std::io::Write::write_all(&mut s, b"\x00\x01\x02garbage\r\n\r\n").expect("write");
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut text);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    // The server still serves.
    let mut c = Client::connect(addr);
    c.eval(&uuid(1), "range 1", &[]);
    assert_eq!(c.response().code, 200);
    server.shutdown().expect("shutdown");
}

#[test]
fn results_stream_in_batches() {
    let server = default_server();
    let mut c = Client::connect(server.local_addr());
    let id = uuid(7);
    c.eval(&id, "range 130", &[]);
    let rs = c.responses_until_final();
    let shape: Vec<(u16, Option<usize>)> = rs.iter().map(|r| (r.code, r.count)).collect();
    assert_eq!(
        shape,
        vec![(206, Some(64)), (206, Some(64)), (200, Some(2))]
    );
    assert!(rs.iter().all(|r| r.id == uuid_text(&id)));
    let items: Vec<String> = rs.iter().flat_map(|r| r.items.clone()).collect();
    let expected: Vec<String> = (0..130).map(|i| format!("i:{i}")).collect();
    assert_eq!(items, expected);
    // The final message carries the client's address.
    let host = rs.last().map(|r| r.attributes.clone()).unwrap_or_default();
    assert!(
        host.iter().any(|a| a.starts_with("@host=s:/127.0.0.1:")),
        "{host:?}"
    );
    assert!(rs[0].attributes.is_empty());

    // Exactly one batch: one 200, no trailing empty message.
    c.eval(&uuid(8), "range 64", &[]);
    let rs = c.responses_until_final();
    assert_eq!(rs.len(), 1);
    assert_eq!((rs[0].code, rs[0].count), (200, Some(64)));

    // Empty: 204 with null data.
    c.eval(&uuid(9), "empty", &[]);
    let r = c.response();
    assert_eq!((r.code, r.count), (204, None));

    // batchSize from the request.
    c.eval(&uuid(10), "range 25", &["batchSize=i:10"]);
    let counts: Vec<_> = c
        .responses_until_final()
        .iter()
        .map(|r| (r.code, r.count))
        .collect();
    assert_eq!(
        counts,
        vec![(206, Some(10)), (206, Some(10)), (200, Some(5))]
    );

    // 10,000 results at the default batch size: 156 frames of 206 and one 200 of 16.
    c.eval(&uuid(11), "range 10000", &[]);
    let rs = c.responses_until_final();
    assert_eq!(
        rs.iter()
            .filter(|r| r.code == 206 && r.count == Some(64))
            .count(),
        156
    );
    assert_eq!(rs.len(), 157);
    assert_eq!((rs[156].code, rs[156].count), (200, Some(16)));
    server.shutdown().expect("shutdown");
}

#[test]
fn batches_are_split_under_the_frame_limit() {
    let server = start(net::Config {
        response_frame_bytes_max: 10_000,
        ..net::Config::default()
    });
    let mut c = Client::connect(server.local_addr());
    c.eval(&uuid(1), "big 10 3000", &[]);
    let rs = c.responses_until_final();
    assert!(
        rs.len() >= 4,
        "10 x 3000 bytes need at least 4 frames of 10000: {}",
        rs.len()
    );
    assert!(rs[..rs.len() - 1].iter().all(|r| r.code == 206));
    assert_eq!(rs.last().map(|r| r.code), Some(200));
    let total: usize = rs.iter().map(|r| r.items.len()).sum();
    assert_eq!(total, 10);
    // One result larger than a frame: 599.
    c.eval(&uuid(2), "big 1 20000", &[]);
    let r = c.response();
    assert_eq!(r.code, 599, "{r:?}");
    assert!(
        r.message.contains("exceeds the response frame limit"),
        "{r:?}"
    );
    server.shutdown().expect("shutdown");
}

#[test]
fn status_codes_and_messages() {
    let server = default_server();
    let mut c = Client::connect(server.local_addr());
    let check = |c: &mut Client, code: u16, needle: &str| {
        let r = c.response();
        assert_eq!(r.code, code, "{r:?}");
        assert!(r.message.contains(needle), "{needle:?} not in {r:?}");
        r
    };
    c.eval(&uuid(1), "fail", &[]);
    check(&mut c, 597, "boom");
    c.eval(&uuid(2), "failstep", &[]);
    let r = check(&mut c, 595, "fail() step");
    assert!(
        r.attributes
            .contains(&"@failStepMessage=s:stop here".to_string()),
        "{r:?}"
    );
    c.request(
        &uuid(3),
        "eval",
        "session",
        &["gremlin=s:range 1", "session=s:abc"],
    );
    check(&mut c, 499, "session processor is not supported");
    c.request(&uuid(4), "foo", "", &[]);
    check(&mut c, 498, "Message with op code [foo] is not recognized.");
    c.request(&uuid(5), "eval", "", &[]);
    check(&mut c, 499, "[gremlin]");
    c.request(&uuid(6), "bytecode", "traversal", &["gremlin=b:V,count"]);
    check(&mut c, 499, "[aliases]");
    c.request(
        &uuid(7),
        "bytecode",
        "traversal",
        &["gremlin=b:V,count", "aliases=m:g>gmodern"],
    );
    let r = check(&mut c, 200, "");
    assert_eq!(r.items, vec!["t:1:s:V", "t:1:s:count"]);
    c.request(
        &uuid(8),
        "eval",
        "",
        &["gremlin=s:range 1", "batchSize=i:0"],
    );
    check(&mut c, 499, "[batchSize]");
    c.request(&uuid(9), "eval", "nosuch", &["gremlin=s:range 1"]);
    check(&mut c, 499, "Invalid OpProcessor requested [nosuch]");
    // Undecodable value: 497 with the request id.
    c.request(&uuid(10), "eval", "", &["gremlin=z:what"]);
    let r = check(&mut c, 497, "could not be deserialized");
    assert_eq!(r.id, uuid_text(&uuid(10)));
    // Unparseable envelope: 498 with a null id.
    c.send_request(TEST_MIME, b"not a request");
    let r = check(&mut c, 498, "Message could not be parsed.");
    assert_eq!(r.id, "null");
    // Mime length 0: 498.
    c.send_frame(true, 2, &[0, 1, 2, 3]);
    check(&mut c, 498, "could not be parsed");
    // Errors after some batches: the batches stay sent, then 500 ends the stream.
    c.eval(&uuid(11), "then-error 100", &["batchSize=i:10"]);
    let rs = c.responses_until_final();
    assert!(rs.len() >= 2, "{rs:?}");
    assert!(rs[..rs.len() - 1]
        .iter()
        .all(|r| r.code == 206 && r.count == Some(10)));
    assert_eq!(
        rs.last().map(|r| (r.code, r.message.clone())),
        Some((500, "iteration failed".to_string()))
    );
    // A panicking engine answers 500 and the connection and core keep working.
    c.eval(&uuid(12), "panic", &[]);
    check(&mut c, 500, "Internal error");
    c.eval(&uuid(13), "range 3", &[]);
    assert_eq!(c.response().count, Some(3));
    // Metrics counted the final codes.
    let m = server.metrics();
    assert!(m.responses(597) >= 1 && m.responses(499) >= 4 && m.responses(200) >= 2);
    server.shutdown().expect("shutdown");
}

#[test]
fn concurrent_requests_interleave_and_are_limited() {
    let server = start(net::Config {
        requests_in_flight_max: 2,
        ..net::Config::default()
    });
    let mut c = Client::connect(server.local_addr());
    c.eval(&uuid(1), "sleep 400", &[]);
    c.eval(&uuid(2), "sleep 100", &[]);
    c.eval(&uuid(3), "range 1", &[]);
    // The third is past the limit of 2: 429 at once, before the others finish.
    let r = c.response();
    assert_eq!((r.id.clone(), r.code), (uuid_text(&uuid(3)), 429), "{r:?}");
    assert!(r.message.contains("at most 2 requests"), "{r:?}");
    // The shorter one finishes first: responses are matched by id, not order.
    let a = c.response();
    let b = c.response();
    assert_eq!((a.id, a.code), (uuid_text(&uuid(2)), 200));
    assert_eq!((b.id, b.code), (uuid_text(&uuid(1)), 200));
    // Slots are free again.
    c.eval(&uuid(4), "range 2", &[]);
    assert_eq!(c.response().code, 200);
    server.shutdown().expect("shutdown");
}

#[test]
fn evaluation_timeout_bounds_the_request() {
    let server = start(net::Config {
        evaluation_timeout_ms_default: 300,
        ..net::Config::default()
    });
    let mut c = Client::connect(server.local_addr());
    let t = Instant::now();
    c.eval(&uuid(1), "sleep 5000", &["evaluationTimeout=l:100"]);
    let r = c.response();
    assert_eq!(r.code, 598, "{r:?}");
    assert!(r
        .message
        .contains("consider increasing the limit given to evaluationTimeout"));
    assert!(
        t.elapsed() < Duration::from_millis(2000),
        "{:?}",
        t.elapsed()
    );
    // The server default applies without the argument; 0 means none.
    c.eval(&uuid(2), "sleep 5000", &[]);
    assert_eq!(c.response().code, 598);
    c.eval(&uuid(3), "sleep 500", &["evaluationTimeout=i:0"]);
    assert_eq!(c.response().code, 200);
    server.shutdown().expect("shutdown");
}

#[test]
fn websocket_fragmentation_ping_close_and_text() {
    let server = default_server();
    let mut c = Client::connect(server.local_addr());
    // A request in three fragments with a ping in between.
    let body = format!("{}\neval\n\ngremlin=s:range 2", uuid_text(&uuid(1)));
    let mut payload = vec![TEST_MIME.len() as u8];
    payload.extend_from_slice(TEST_MIME.as_bytes());
    payload.extend_from_slice(body.as_bytes());
    let (a, rest) = payload.split_at(10);
    let (b, d) = rest.split_at(15);
    c.send_frame(false, 2, a);
    c.send_frame(false, 0, b);
    c.send_frame(true, 9, b"are you there");
    c.send_frame(true, 0, d);
    assert_eq!(c.read_frame(), Some((true, 0xA, b"are you there".to_vec())));
    let r = c.response();
    assert_eq!((r.code, r.count), (200, Some(2)));
    // A text frame is answered in a text frame.
    let text_body = format!("{}\neval\n\ngremlin=s:range 1", uuid_text(&uuid(2)));
    c.send_frame(true, 1, text_body.as_bytes());
    let (_, op, payload) = c.read_frame().expect("frame");
    assert_eq!(op, 1);
    assert_eq!(parse_resp(&payload).code, 200);
    // Close is echoed, then the server closes the TCP connection.
    c.send_frame(true, 8, &[0x03, 0xe8]);
    assert_eq!(c.read_frame(), Some((true, 8, vec![0x03, 0xe8])));
    assert_eq!(c.read_frame(), None);
    server.shutdown().expect("shutdown");
}

#[test]
fn bad_frames_close_only_their_connection() {
    let server = start(net::Config {
        frame_size_bytes_max: 1024,
        message_size_bytes_max: 2048,
        ..net::Config::default()
    });
    let addr = server.local_addr();
    let mut good = Client::connect(addr);
    let close_code = |c: &mut Client| match c.read_frame() {
        Some((_, 8, p)) => u16::from_be_bytes([p[0], p[1]]),
        other => panic!("expected a close frame, got {other:?}"),
    };
    // Oversized frame: 1009.
    let mut c = Client::connect(addr);
    c.send_frame(true, 2, &[0u8; 2000]);
    assert_eq!(close_code(&mut c), 1009);
    // Oversized message across fragments: 1009.
    let mut c = Client::connect(addr);
    c.send_frame(false, 2, &[1u8; 1000]);
    c.send_frame(false, 0, &[1u8; 1000]);
    c.send_frame(true, 0, &[1u8; 1000]);
    assert_eq!(close_code(&mut c), 1009);
    // Unmasked frame: 1002.
    let mut c = Client::connect(addr);
    std::io::Write::write_all(&mut c.stream, &[0x82, 0x03, 1, 2, 3]).expect("write");
    assert_eq!(close_code(&mut c), 1002);
    // Garbage bytes: 1002 (reserved bits / unknown opcode).
    let mut c = Client::connect(addr);
    std::io::Write::write_all(&mut c.stream, &[0xff; 64]).expect("write");
    assert_eq!(close_code(&mut c), 1002);
    // Invalid UTF-8 in a text frame: 1007.
    let mut c = Client::connect(addr);
    c.send_frame(true, 1, &[0xc3, 0x28]);
    assert_eq!(close_code(&mut c), 1007);
    // Truncated frame then hang-up: nothing to answer, nothing breaks.
    let mut c = Client::connect(addr);
    std::io::Write::write_all(&mut c.stream, &[0x82, 0xfe, 0x10]).expect("write");
    drop(c);
    // The first connection is unaffected.
    good.eval(&uuid(1), "range 3", &[]);
    let r = good.response();
    assert_eq!((r.code, r.count), (200, Some(3)));
    server.shutdown().expect("shutdown");
}

#[test]
fn every_core_accepts() {
    let server = default_server();
    let cores = net::server::allowed_cpus().expect("affinity").len().min(2);
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..40u8 {
        let mut c = Client::connect(server.local_addr());
        c.eval(&uuid(i), "core", &[]);
        let r = c.response();
        seen.insert(r.items[0].clone());
    }
    assert_eq!(seen.len(), cores, "{seen:?}");
    server.shutdown().expect("shutdown");
}

#[test]
fn authentication_challenge_failure_and_success() {
    let dir = std::env::temp_dir().join(format!("coregraph-net-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("credentials");
    let _ = std::fs::remove_file(&path);
    net::auth::add_user(&path, "stephen", "password").expect("add user");
    let server = start(net::Config {
        credentials_path: Some(path.clone()),
        ..net::Config::default()
    });
    let addr = server.local_addr();
    // Wrong password: the held request gets 401.
    let mut c = Client::connect(addr);
    c.eval(&uuid(1), "user", &[]);
    let r = c.response();
    assert_eq!(
        (r.id.clone(), r.code, r.count),
        (uuid_text(&uuid(1)), 407, None)
    );
    // "\0stephen\0wrong"
    c.request(
        &uuid(1),
        "authentication",
        "traversal",
        &["sasl=s:AHN0ZXBoZW4Ad3Jvbmc=", "saslMechanism=s:PLAIN"],
    );
    let r = c.response();
    assert_eq!((r.id.clone(), r.code), (uuid_text(&uuid(1)), 401), "{r:?}");
    // Right password: the held request (and one queued behind it) run.
    let mut c = Client::connect(addr);
    c.eval(&uuid(2), "user", &[]);
    assert_eq!(c.response().code, 407);
    c.eval(&uuid(3), "range 2", &[]);
    c.request(
        &uuid(2),
        "authentication",
        "traversal",
        &["sasl=s:AHN0ZXBoZW4AcGFzc3dvcmQ="],
    );
    let a = c.response();
    assert_eq!((a.id.clone(), a.code), (uuid_text(&uuid(2)), 200), "{a:?}");
    assert_eq!(a.items, vec!["s:stephen"]);
    let b = c.response();
    assert_eq!((b.id, b.code, b.count), (uuid_text(&uuid(3)), 200, Some(2)));
    // Later requests on the connection need nothing more.
    c.eval(&uuid(4), "range 1", &[]);
    assert_eq!(c.response().code, 200);
    // The admin port wants the same credentials.
    let admin = server.admin_addr().expect("admin");
    assert!(http_get(admin, "/healthcheck", None)
        .0
        .starts_with("HTTP/1.1 401"));
    let ok = http_get(admin, "/healthcheck", Some("c3RlcGhlbjpwYXNzd29yZA==")); // stephen:password
    assert!(ok.0.starts_with("HTTP/1.1 200"), "{ok:?}");
    server.shutdown().expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn admin_healthcheck_and_metrics() {
    let extra = net::config::ExtraMetrics(std::sync::Arc::new(|| {
        "# TYPE coregraph_shard_records gauge\ncoregraph_shard_records{shard=\"0\"} 42\n"
            .to_string()
    }));
    let server = start(net::Config {
        extra_metrics: Some(extra),
        ..net::Config::default()
    });
    let admin = server.admin_addr().expect("admin");
    let mut c = Client::connect(server.local_addr());
    c.eval(&uuid(1), "range 1", &[]);
    assert_eq!(c.response().code, 200);
    c.eval(&uuid(2), "fail", &[]);
    assert_eq!(c.response().code, 597);
    let (status, body) = http_get(admin, "/healthcheck", None);
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(body, "OK\n");
    let (status, body) = http_get(admin, "/metrics", None);
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(
        body.contains("coregraph_responses_total{code=\"200\"} 1\n"),
        "{body}"
    );
    assert!(
        body.contains("coregraph_responses_total{code=\"597\"} 1\n"),
        "{body}"
    );
    assert!(
        body.contains("coregraph_request_errors_total 1\n"),
        "{body}"
    );
    assert!(
        body.contains("coregraph_request_duration_seconds_count{op=\"eval\"} 2\n"),
        "{body}"
    );
    assert!(body.contains("coregraph_connections{core=\"0\"}"), "{body}");
    assert!(
        body.ends_with("coregraph_shard_records{shard=\"0\"} 42\n"),
        "{body}"
    );
    let open: i64 = body
        .lines()
        .filter(|l| l.starts_with("coregraph_connections{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
        .sum();
    assert_eq!(open, 1);
    assert!(http_get(admin, "/nope", None).0.starts_with("HTTP/1.1 404"));
    server.shutdown().expect("shutdown");
}

#[test]
fn graceful_shutdown_finishes_in_flight_requests() {
    let server = default_server();
    let addr = server.local_addr();
    let mut c = Client::connect(addr);
    c.eval(&uuid(1), "sleep 300", &[]);
    std::thread::sleep(Duration::from_millis(50));
    let stopper = server.stopper();
    let t = Instant::now();
    let joiner = std::thread::spawn(move || server.join());
    stopper.stop();
    let r = c.response();
    assert_eq!(r.code, 200, "in-flight request finished: {r:?}");
    match c.read_frame() {
        Some((_, 8, p)) => assert_eq!(u16::from_be_bytes([p[0], p[1]]), 1001),
        other => panic!("expected close 1001, got {other:?}"),
    }
    joiner.join().expect("join thread").expect("clean exit");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "no longer accepting"
    );
}

/// An idle server keeps serving: the accept is not re-polled by the stop-flag timer. glommio
/// keeps a waker clone per poll of a pending accept and the task's reference count is an
/// `i16`, so when the stop timer (every `stop_poll`, 20 ms by default) re-polled it, each core
/// panicked after 32767 polls (about 11 idle minutes). Here the timer fires every 50 µs for
/// 3 s of idling (some 10^4 to 6x10^4 wakes on a loaded machine, past the old limit when the
/// machine is quiet), then a new connection must still be served and the stop must be clean.
#[test]
fn an_idle_server_keeps_accepting() {
    let server = start(net::Config {
        stop_poll: std::time::Duration::from_micros(50),
        ..net::Config::default()
    });
    std::thread::sleep(std::time::Duration::from_secs(3));
    let mut c = Client::connect(server.local_addr());
    c.eval(&uuid(3), "range 2", &[]);
    assert_eq!(c.response().code, 200);
    drop(c);
    server.shutdown().expect("a clean stop");
}
