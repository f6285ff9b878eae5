//! Loading into a serving `coregraph serve` process: `POST /load` on the admin port while
//! another connection keeps querying, `GET /load` until done (a second start meanwhile is
//! refused with 409), then counts and a sample of edges from both ends; a rerun started with
//! `g.call('coregraph.load', ...)` finds everything present and adds nothing.

#[path = "../../net/tests/common/mod.rs"]
mod common;
mod process;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{http_get, Client};
use gremlin::value::Value;
use process::{eval, start, stop};

const VERTICES: usize = 400;
const EDGES: usize = 3000;
/// Time a load may take before the test fails.
const LOAD_WAIT_S: u64 = 120;

fn lcg(s: &mut u64) -> u64 {
    *s = s
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *s >> 33
}

/// Writes a load directory; returns the edges as (id, from, to).
fn write_input(dir: &Path) -> Vec<(String, usize, usize)> {
    std::fs::create_dir_all(dir.join("vertices")).expect("dir");
    std::fs::create_dir_all(dir.join("edges")).expect("dir");
    let mut v = String::from("~id,~label,name:String,n:Int\n");
    for i in 0..VERTICES {
        v.push_str(&format!("v{i},person,name{i},{i}\n"));
    }
    std::fs::write(dir.join("vertices/v.csv"), v).expect("write");
    let mut e = String::from("~id,~from,~to,~label,w:Double\n");
    let mut seed = 11u64;
    let mut list = Vec::new();
    for i in 0..EDGES {
        // v0 is a hub: past the edge cache, so it becomes a supernode.
        let from = if i % 7 == 0 {
            0
        } else {
            lcg(&mut seed) as usize % VERTICES
        };
        let to = lcg(&mut seed) as usize % VERTICES;
        e.push_str(&format!("e{i},v{from},v{to},knows,{}.5\n", i % 10));
        list.push((format!("e{i}"), from, to));
    }
    std::fs::write(dir.join("edges/e.csv"), e).expect("write");
    list
}

/// A plain HTTP POST on the admin port: (status line, body).
fn http_post(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect admin");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("send");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

fn long(v: &[Value]) -> i64 {
    match v {
        [Value::Long(n)] => *n,
        other => panic!("expected one Long, got {other:?}"),
    }
}

/// Waits until `GET /load` says the job is no longer running; returns the status body.
fn wait_done(admin: SocketAddr) -> String {
    let deadline = Instant::now() + Duration::from_secs(LOAD_WAIT_S);
    loop {
        let (status, body) = http_get(admin, "/load", None);
        assert!(status.contains("200"), "{status}: {body}");
        if !body.starts_with("running") {
            return body;
        }
        assert!(Instant::now() < deadline, "load still running: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn loads_into_a_serving_server_while_it_answers_queries() {
    let root = std::env::temp_dir().join(format!("cg-load-online-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let input = root.join("input");
    let edges = write_input(&input);
    let work = root.join("work");
    std::fs::create_dir_all(&work).expect("dir");
    let (server, addr, admin) = start(&work, 2, &[]);
    let mut c = Client::connect(addr);
    let (code, r) = eval(&mut c, 1, "g.V().count()");
    assert_eq!((code, long(&r)), (200, 0));

    // Queries keep running on another connection during the load; counts never go down.
    let stop_flag = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop_flag = stop_flag.clone();
        std::thread::spawn(move || {
            let mut c = Client::connect(addr);
            let (mut queries, mut last) = (0u64, 0i64);
            while !stop_flag.load(Ordering::Acquire) {
                let (code, r) = eval(&mut c, 2, "g.V().count()");
                assert_eq!(code, 200, "a query failed during the load");
                let n = long(&r);
                assert!(n >= last, "vertex count went down: {last} -> {n}");
                last = n;
                queries += 1;
            }
            queries
        })
    };

    let from = common_path(&input);
    let (status, body) = http_post(admin, &format!("/load?from={from}"));
    assert!(status.contains("202"), "{status}: {body}");
    let (status, body) = http_post(admin, &format!("/load?from={from}"));
    assert!(
        status.contains("409"),
        "second load while one runs: {status}: {body}"
    );
    let body = wait_done(admin);
    assert!(body.starts_with("done"), "{body}");
    assert!(
        body.contains(&format!(
            "{} vertices, {} edges, 0 rejected",
            VERTICES, EDGES
        )),
        "{body}"
    );
    stop_flag.store(true, Ordering::Release);
    let queries = reader.join().expect("reader thread");
    assert!(queries > 0, "no query ran during the load");

    // Counts, and a sample of edges seen from both ends.
    let check = |c: &mut Client| {
        let (code, r) = eval(c, 3, "g.V().count()");
        assert_eq!((code, long(&r)), (200, VERTICES as i64));
        let (code, r) = eval(c, 3, "g.E().count()");
        assert_eq!((code, long(&r)), (200, EDGES as i64));
        let mut outd: BTreeMap<usize, i64> = BTreeMap::new();
        let mut ind: BTreeMap<usize, i64> = BTreeMap::new();
        for (_, f, t) in &edges {
            *outd.entry(*f).or_insert(0) += 1;
            *ind.entry(*t).or_insert(0) += 1;
        }
        for v in [0usize, 1, 17, VERTICES - 1] {
            let (_, r) = eval(c, 4, &format!("g.V('v{v}').outE().count()"));
            assert_eq!(long(&r), outd.get(&v).copied().unwrap_or(0), "out of v{v}");
            let (_, r) = eval(c, 4, &format!("g.V('v{v}').inE().count()"));
            assert_eq!(long(&r), ind.get(&v).copied().unwrap_or(0), "in of v{v}");
        }
        for (id, f, t) in edges.iter().step_by(97) {
            let (_, r) = eval(c, 5, &format!("g.E('{id}').outV().id()"));
            assert_eq!(r, vec![Value::str(&format!("v{f}"))], "{id} out");
            let (_, r) = eval(c, 5, &format!("g.E('{id}').inV().id()"));
            assert_eq!(r, vec![Value::str(&format!("v{t}"))], "{id} in");
            let (_, r) = eval(
                c,
                5,
                &format!("g.V('v{f}').outE().hasId('{id}').inV().id()"),
            );
            assert_eq!(
                r,
                vec![Value::str(&format!("v{t}"))],
                "{id} from its out vertex"
            );
            let (_, r) = eval(
                c,
                5,
                &format!("g.V('v{t}').inE().hasId('{id}').outV().id()"),
            );
            assert_eq!(
                r,
                vec![Value::str(&format!("v{f}"))],
                "{id} from its in vertex"
            );
        }
    };
    check(&mut c);

    // A rerun through the call() service: everything is present, nothing is added.
    let dir = input.to_str().expect("utf8").replace('\'', "\\'");
    let (code, r) = eval(
        &mut c,
        6,
        &format!("g.call('coregraph.load', ['path': '{dir}'])"),
    );
    assert_eq!(code, 200, "{r:?}");
    let deadline = Instant::now() + Duration::from_secs(LOAD_WAIT_S);
    let status = loop {
        let (code, r) = eval(&mut c, 7, "g.call('coregraph.load.status')");
        assert_eq!(code, 200);
        let Some(Value::Map(m)) = r.first() else {
            panic!("status: {r:?}");
        };
        let state = m.get(&Value::str("state")).cloned();
        if state != Some(Value::str("running")) {
            break m.clone();
        }
        assert!(Instant::now() < deadline, "rerun still running");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        status.get(&Value::str("state")),
        Some(&Value::str("done")),
        "{status:?}"
    );
    assert_eq!(status.get(&Value::str("job")), Some(&Value::Long(2)));
    assert_eq!(
        status.get(&Value::str("edges")),
        Some(&Value::Long(EDGES as i64)),
        "{status:?}"
    );
    assert_eq!(status.get(&Value::str("rejected")), Some(&Value::Long(0)));
    check(&mut c);
    drop(c);
    stop(server);
    let _ = std::fs::remove_dir_all(&root);
}

/// `path` percent-encoded for a query string.
fn common_path(path: &Path) -> String {
    engine::backup::percent_encode(path.to_str().expect("utf8"))
}
