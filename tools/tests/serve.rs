//! `coregraph serve` as a process: it serves Gremlin over the data directory under its
//! working directory, SIGTERM flushes and exits 0, and a restart (with another executor
//! count) finds what was written. Writes and reads go through the wire (raw GraphBinary).

#[path = "../../net/tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Client;
use gremlin::codec::message::{self, Format, RequestMessage};
use gremlin::value::{Map, Uuid, Value};

/// Time allowed for the server to start or stop.
const PROCESS_WAIT_S: u64 = 60;

fn coregraph() -> Command {
    Command::new(env!("CARGO_BIN_EXE_coregraph"))
}

/// A server process, killed (and reaped) when dropped unless [`stop`] stopped it.
struct Server(Option<Child>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `coregraph serve` in `cwd` on ephemeral ports (Gremlin and admin) with `executors`
/// executors (all on the first CPU this process may use); returns it and its two addresses.
fn start(cwd: &Path, executors: usize) -> (Server, SocketAddr, SocketAddr) {
    let cpu = net::server::allowed_cpus().expect("affinity")[0];
    let cpus = vec![cpu.to_string(); executors].join(",");
    let mut server = Server(Some(
        coregraph()
            .current_dir(cwd)
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--admin-addr",
                "127.0.0.1:0",
                "--cpus",
                &cpus,
                "--shards",
                "4",
                "--shard-size-mib",
                "32",
                "--block-size-mib",
                "2",
                "--flush-size-kib",
                "256",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("coregraph starts"),
    ));
    let stdout = server
        .0
        .as_mut()
        .and_then(|c| c.stdout.take())
        .expect("stdout");
    // A reader thread forwards stdout lines (and keeps draining the pipe afterwards), so the
    // wait below has a real timeout.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(PROCESS_WAIT_S);
    let mut gremlin = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("server printed its addresses in time");
        if let Some(rest) = line.split("serving Gremlin on ws://").nth(1) {
            let addr = rest.split('/').next().expect("address");
            gremlin = Some(addr.parse().expect("socket address"));
        }
        if let Some(rest) = line.split("admin on http://").nth(1) {
            let admin = rest.split(' ').next().expect("address");
            let admin = admin.parse().expect("socket address");
            return (server, gremlin.expect("Gremlin address first"), admin);
        }
    }
}

fn stop(mut server: Server) {
    let mut child = server.0.take().expect("running");
    // SAFETY: `kill` with a pid of a child we started and still own (not yet waited for).
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0, "SIGTERM sent");
    let deadline = Instant::now() + Duration::from_secs(PROCESS_WAIT_S);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "exit status after SIGTERM: {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server did not stop within {PROCESS_WAIT_S} s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a script; (final status code, all result items).
fn eval(c: &mut Client, id: u8, script: &str) -> (i32, Vec<Value>) {
    let mut args = Map::default();
    args.insert(Value::str("gremlin"), Value::str(script));
    let req = RequestMessage {
        request_id: Uuid([id; 16]),
        op: "eval".into(),
        processor: String::new(),
        args,
    };
    c.send_frame(
        true,
        2,
        &message::encode_request_frame(Format::GraphBinaryV1, &req).expect("encode"),
    );
    let mut items = Vec::new();
    loop {
        let (_, _, payload) = c.read_frame().expect("response");
        let r = message::decode_response(Format::GraphBinaryV1, &payload).expect("decodes");
        if let Value::List(l) = r.result_data {
            items.extend(l);
        }
        if r.status_code != 206 {
            return (r.status_code, items);
        }
    }
}

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
    let (server, addr, admin) = start(&cwd, 2);
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
    stop(server);
    // One executor now: every shard on it.
    let (server, addr, _) = start(&cwd, 1);
    let mut c = Client::connect(addr);
    let (code, items) = eval(&mut c, 3, "g.V().count()");
    assert_eq!((code, items), (200, vec![Value::Long(3)]));
    let (code, items) = eval(&mut c, 4, "g.V(1).out('knows').values('name')");
    assert_eq!((code, items), (200, vec![Value::str("vadas")]));
    drop(c);
    stop(server);
    let _ = std::fs::remove_dir_all(&cwd);
}
