//! Secondary indexes over the admin port of a serving `coregraph serve` process: `POST /index`
//! creates one (202, then 409 for the same name), `GET /index` lists it until it is ready, an
//! indexed `has()` query answers the same as before, `DELETE /index?name=` drops it (200, then
//! 404), and other methods get 405.

#[path = "../../net/tests/common/mod.rs"]
mod common;
mod process;

use std::time::{Duration, Instant};

use common::{http_get, http_request, Client};
use gremlin::value::Value;
use process::{eval, start, stop};

/// Time an index build on a few hundred vertices may take before the test fails.
const BUILD_WAIT_S: u64 = 60;

fn long(v: &[Value]) -> i64 {
    match v {
        [Value::Long(n)] => *n,
        other => panic!("expected one Long, got {other:?}"),
    }
}

#[test]
fn creates_lists_uses_and_drops_an_index_over_http() {
    let root = std::env::temp_dir().join(format!("cg-index-http-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("dir");
    let (server, addr, admin) = start(&root, 2, &[]);
    let mut c = Client::connect(addr);
    for chunk in 0..6 {
        let mut script = String::from("g");
        for i in chunk * 50..(chunk + 1) * 50 {
            script.push_str(&format!(
                ".addV('person').property('uid',{i}).property('m',{})",
                i % 7
            ));
        }
        script.push_str(".iterate()");
        let (code, r) = eval(&mut c, 1, &script);
        assert!(code == 200 || code == 204, "{code}: {r:?}");
    }
    let (code, r) = eval(&mut c, 2, "g.V().has('person','m',3).count()");
    assert_eq!(code, 200);
    let scanned = long(&r);
    assert_eq!(scanned, (0..300).filter(|i| i % 7 == 3).count() as i64);

    let (status, body) = http_request(admin, "POST", "/index?name=by_m&kind=vertex&keys=m", None);
    assert!(status.contains("202"), "{status}: {body}");
    let (status, body) = http_request(admin, "POST", "/index?name=by_m&kind=vertex&keys=m", None);
    assert!(status.contains("409"), "{status}: {body}");
    let (status, body) = http_request(admin, "POST", "/index?kind=nonsense&keys=m", None);
    assert!(status.contains("400"), "{status}: {body}");

    let deadline = Instant::now() + Duration::from_secs(BUILD_WAIT_S);
    loop {
        let (status, body) = http_get(admin, "/index", None);
        assert!(status.contains("200"), "{status}: {body}");
        assert!(body.contains("by_m ") && body.contains("keys=m"), "{body}");
        if body.contains("status=ready") {
            break;
        }
        assert!(Instant::now() < deadline, "index not ready: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, r) = eval(&mut c, 3, "g.V().has('person','m',3).count()");
    assert_eq!((code, long(&r)), (200, scanned));
    let (code, r) = eval(&mut c, 4, "g.V().has('person','m',3).count().explain()");
    assert_eq!(code, 200);
    assert!(
        format!("{r:?}").contains("by_m"),
        "explain names the index: {r:?}"
    );

    let (status, body) = http_request(admin, "PUT", "/index?name=by_m", None);
    assert!(status.contains("405"), "{status}: {body}");
    let (status, body) = http_request(admin, "DELETE", "/index?name=by_m", None);
    assert!(status.contains("200"), "{status}: {body}");
    let (status, body) = http_request(admin, "DELETE", "/index?name=by_m", None);
    assert!(status.contains("404"), "{status}: {body}");
    let (status, body) = http_request(admin, "DELETE", "/healthcheck", None);
    assert!(status.contains("405"), "{status}: {body}");
    let (status, body) = http_get(admin, "/index", None);
    assert!(
        status.contains("200") && body.contains("no indexes"),
        "{status}: {body}"
    );
    let (code, r) = eval(&mut c, 5, "g.V().has('person','m',3).count()");
    assert_eq!((code, long(&r)), (200, scanned));
    drop(c);
    stop(server);
    let _ = std::fs::remove_dir_all(&root);
}
