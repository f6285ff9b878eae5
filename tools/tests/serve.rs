//! `coregraph serve` as a process: it serves Gremlin over the data directory under its
//! working directory, SIGTERM flushes and exits 0, and a restart (with another executor
//! count) finds what was written. Writes and reads go through the wire (raw GraphBinary).

#[path = "../../net/tests/common/mod.rs"]
mod common;
mod process;

use common::Client;
use gremlin::value::Value;
use process::{coregraph, eval, start, start_orphaned, stop};

#[test]
fn serve_help_explains_the_settings() {
    let out = coregraph()
        .args(["serve", "--help"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--addr",
        "--admin-addr",
        "--cpus",
        "--durability",
        "--graphs",
        "--credentials",
        "--tls-cert",
        "--tls-key",
        "--config",
        "--data-dir",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn sigterm_flushes_and_a_restart_finds_the_data() {
    let cwd = std::env::temp_dir().join(format!("cg-serve-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cwd);
    std::fs::create_dir_all(&cwd).expect("dir");
    let (server, addr, admin) = start(&cwd, 2, &[]);
    assert!(
        cwd.join("coregraph-data").join("coregraph.meta").exists(),
        "the default data directory is under the working directory"
    );
    let mut c = Client::connect(addr);
    for (i, name) in ["marko", "vadas", "lop"].iter().enumerate() {
        let script = format!(
            "g.addV('thing').property(T.id, {}).property('name', '{name}')",
            i + 1
        );
        let (code, items) = eval(&mut c, 1, &script);
        assert_eq!((code, items.len()), (200, 1), "{script}");
    }
    let (code, _) = eval(
        &mut c,
        2,
        "g.V(1).addE('knows').to(__.V(2)).property(T.id, 7)",
    );
    assert_eq!(code, 200);
    drop(c);
    // Per-shard storage figures on the admin port (published by each core every second).
    let (status, body) = common::http_get(admin, "/metrics", None);
    assert!(status.contains("200"), "{status}");
    for shard in 0..4 {
        assert!(
            body.contains(&format!(
                "coregraph_shard_writes_total{{shard=\"{shard}\"}}"
            )),
            "shard {shard} missing from /metrics:\n{body}"
        );
    }
    // Per-core routing counters too (the query above ran on the frontier path).
    for core in 0..2 {
        for name in [
            "coregraph_core_frontier_batches_total",
            "coregraph_core_frontier_batches_given_up_total",
            "coregraph_core_messages_sent_total",
        ] {
            assert!(
                body.contains(&format!("{name}{{core=\"{core}\"}} ")),
                "{name} of core {core} missing from /metrics:\n{body}"
            );
        }
    }
    stop(server);
    // One executor now: every shard on it; it polls 200 µs before parking when idle.
    let (server, addr, _) = start(&cwd, 1, &["--spin-before-park-us", "200"]);
    let mut c = Client::connect(addr);
    let (code, items) = eval(&mut c, 3, "g.V().count()");
    assert_eq!((code, items), (200, vec![Value::Long(3)]));
    let (code, items) = eval(&mut c, 4, "g.V(1).out('knows').values('name')");
    assert_eq!((code, items), (200, vec![Value::str("vadas")]));
    drop(c);
    stop(server);
    let _ = std::fs::remove_dir_all(&cwd);
}

/// A server whose parent exited (stdout and stderr closed pipes) still stops cleanly on
/// SIGTERM: it used to hang, because the log subscriber reported the failed write with
/// `eprintln!`, which panicked in the signal thread before it stopped the server.
#[test]
fn sigterm_stops_a_server_whose_output_pipes_are_closed() {
    let cwd = std::env::temp_dir().join(format!("cg-serve-orphan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cwd);
    std::fs::create_dir_all(&cwd).expect("dir");
    let (server, addr, admin) = start_orphaned(&cwd, 2, &[]);
    // Work that logs (with RUST_LOG unset: info) and answers.
    let mut c = Client::connect(addr);
    let (code, items) = eval(&mut c, 1, "g.addV('thing').property(T.id, 1)");
    assert_eq!((code, items.len()), (200, 1));
    drop(c);
    let (status, _) = common::http_get(admin, "/healthcheck", None);
    assert!(status.contains("200"), "{status}");
    stop(server); // asserts exit 0 within PROCESS_WAIT_S
    let _ = std::fs::remove_dir_all(&cwd);
}

/// `--indexed-edge-keys` is fixed when the data directory is created: a later open asking for
/// a key the entries carry no copy of is refused with the flag to use, one asking for none
/// uses the recorded keys; the edge-key pushdown answers like a plain filter on a supernode
/// whose entries carry the copies.
#[test]
fn indexed_edge_keys_are_fixed_at_creation() {
    let cwd = std::env::temp_dir().join(format!("cg-serve-edge-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cwd);
    std::fs::create_dir_all(&cwd).expect("dir");
    let (server, addr, _) = start(
        &cwd,
        1,
        &["--indexed-edge-keys", "w", "--edge-cache-entries", "2"],
    );
    let mut c = Client::connect(addr);
    let mut script = String::from("g.addV('hub').property(T.id, 0)");
    for i in 1..=20 {
        script.push_str(&format!(
            ".addV('leaf').property(T.id, {i}).addE('e').from(__.V(0)).property('w', {})",
            i % 5
        ));
    }
    let (code, _) = eval(&mut c, 1, &format!("{script}.iterate()"));
    assert!(code == 200 || code == 204, "{code}");
    let (code, with) = eval(&mut c, 2, "g.V(0).outE().has('w', gt(2)).count()");
    let (code2, without) = eval(
        &mut c,
        3,
        "g.withoutStrategies(SupernodePredicatePushdownStrategy).V(0).outE().has('w', gt(2)).count()",
    );
    assert_eq!((code, code2), (200, 200));
    assert_eq!(with, vec![Value::Long(8)]);
    assert_eq!(with, without);
    drop(c);
    stop(server);
    for other in [
        &["--indexed-edge-keys", "v"][..],
        &["--indexed-edge-keys", "w,v"],
    ] {
        let out = coregraph()
            .current_dir(&cwd)
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--admin-addr",
                "127.0.0.1:0",
            ])
            .args(other)
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{other:?} was accepted");
        assert!(err.contains("--indexed-edge-keys w"), "{other:?}: {err}");
    }
    // No keys named: the directory's.
    let (server, addr, _) = start(&cwd, 1, &["--edge-cache-entries", "2"]);
    let mut c = Client::connect(addr);
    let (code, again) = eval(&mut c, 4, "g.V(0).outE().has('w', gt(2)).count()");
    assert_eq!((code, again), (200, vec![Value::Long(8)]));
    drop(c);
    stop(server);
    let _ = std::fs::remove_dir_all(&cwd);
}
