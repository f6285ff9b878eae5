//! `coregraph backup` / `coregraph restore` as processes: an online backup of a serving
//! process through its admin port, a restore into a fresh directory that a new server then
//! serves with the same graph, and the refusals (non-empty target, damaged backup, a data
//! directory a server holds).

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

const PROCESS_WAIT_S: u64 = 60;
const VERTICES: i64 = 40;

fn coregraph() -> Command {
    Command::new(env!("CARGO_BIN_EXE_coregraph"))
}

struct Server(Option<Child>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `coregraph serve` in `cwd` (data in `cwd/coregraph-data`), 2 executors, ephemeral ports.
fn start(cwd: &Path, extra: &[&str]) -> (Server, SocketAddr, SocketAddr) {
    let cpu = net::server::allowed_cpus().expect("affinity")[0];
    let cpus = format!("{cpu},{cpu}");
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
            .args(extra)
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
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(PROCESS_WAIT_S);
    let mut gremlin = None;
    loop {
        assert!(Instant::now() < deadline, "server did not start in time");
        let line = lines.next().expect("addresses printed").expect("line");
        if let Some(rest) = line.split("serving Gremlin on ws://").nth(1) {
            gremlin = Some(rest.split('/').next().expect("addr").parse().expect("addr"));
        }
        if let Some(rest) = line.split("admin on http://").nth(1) {
            let admin = rest.split(' ').next().expect("addr").parse().expect("addr");
            std::thread::spawn(move || for _ in lines.by_ref() {});
            return (server, gremlin.expect("Gremlin address first"), admin);
        }
    }
}

fn stop(mut server: Server) {
    let mut child = server.0.take().expect("running");
    // SAFETY: `kill` with the pid of a child we started and have not waited for.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let deadline = Instant::now() + Duration::from_secs(PROCESS_WAIT_S);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "{status}");
            return;
        }
        assert!(Instant::now() < deadline, "server did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

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

fn run(args: &[&str]) -> (bool, String) {
    let out = coregraph().args(args).output().expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn online_backup_restore_and_serve_the_restored_graph() {
    let root = std::env::temp_dir().join(format!("cg-backup-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (a, b) = (root.join("a"), root.join("b"));
    std::fs::create_dir_all(&a).expect("dir");
    std::fs::create_dir_all(&b).expect("dir");
    let (server, addr, admin) = start(&a, &[]);
    let mut c = Client::connect(addr);
    for i in 1..=VERTICES {
        let (code, _) = eval(
            &mut c,
            1,
            &format!("g.addV('n').property(T.id, {i}).property('k', {i})"),
        );
        assert_eq!(code, 200);
    }
    for i in 1..VERTICES {
        let (code, _) = eval(
            &mut c,
            2,
            &format!("g.V({i}).addE('next').to(__.V({}))", i + 1),
        );
        assert_eq!(code, 200);
    }
    let bk = root.join("bk");
    let (ok, out) = run(&[
        "backup",
        "--admin",
        &admin.to_string(),
        "--to",
        bk.to_str().expect("utf8"),
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("done job 1"), "{out}");
    // The data directory is held by the server: offline backup is refused with a hint.
    let data = a.join("coregraph-data");
    let (ok, out) = run(&[
        "backup",
        "--data-dir",
        data.to_str().expect("utf8"),
        "--to",
        root.join("bk2").to_str().expect("utf8"),
    ]);
    assert!(!ok && out.contains("--admin"), "{out}");
    drop(c);
    stop(server);

    let restored = b.join("coregraph-data");
    let (ok, out) = run(&[
        "restore",
        "--from",
        bk.to_str().expect("utf8"),
        "--data-dir",
        restored.to_str().expect("utf8"),
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("graph g: {} edges", VERTICES - 1)),
        "{out}"
    );
    let (ok, out) = run(&[
        "restore",
        "--from",
        bk.to_str().expect("utf8"),
        "--data-dir",
        restored.to_str().expect("utf8"),
    ]);
    assert!(!ok && out.contains("not empty"), "{out}");

    let (server, addr, _) = start(&b, &[]);
    let mut c = Client::connect(addr);
    assert_eq!(
        eval(&mut c, 3, "g.V().count()"),
        (200, vec![Value::Long(VERTICES)])
    );
    assert_eq!(
        eval(&mut c, 4, "g.E().count()"),
        (200, vec![Value::Long(VERTICES - 1)])
    );
    assert_eq!(
        eval(
            &mut c,
            5,
            &format!("g.V({}).in('next').values('k')", VERTICES)
        ),
        (200, vec![Value::Int((VERTICES - 1) as i32)])
    );
    drop(c);
    stop(server);

    // A damaged backup file is refused, naming it; nothing is written.
    let f = bk.join("shard-002.cgb");
    let mut bytes = std::fs::read(&f).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&f, &bytes).expect("write");
    let fresh = root.join("fresh");
    let (ok, out) = run(&[
        "restore",
        "--from",
        bk.to_str().expect("utf8"),
        "--data-dir",
        fresh.to_str().expect("utf8"),
    ]);
    assert!(!ok && out.contains("shard-002.cgb"), "{out}");
    assert!(!fresh.exists() || std::fs::read_dir(&fresh).expect("dir").next().is_none());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn online_backup_needs_credentials_when_auth_is_on() {
    let root = std::env::temp_dir().join(format!("cg-backup-auth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("dir");
    let creds = root.join("creds");
    let creds_s = creds.to_str().expect("utf8");
    let (ok, out) = run(&[
        "user",
        "add",
        "--credentials",
        creds_s,
        "admin",
        "--password",
        "s3cret",
    ]);
    assert!(ok, "{out}");
    let (server, _, admin) = start(&root, &["--credentials", creds_s]);
    let admin = admin.to_string();
    let bk = root.join("bk");
    let bk_s = bk.to_str().expect("utf8");
    let (ok, out) = run(&["backup", "--admin", &admin, "--to", bk_s]);
    assert!(!ok && out.contains("401"), "{out}");
    assert!(!bk.exists(), "refused before touching the target");
    let wrong = coregraph()
        .args(["backup", "--admin", &admin, "--to", bk_s, "--user", "admin"])
        .env("COREGRAPH_PASSWORD", "nope")
        .output()
        .expect("runs");
    assert!(!wrong.status.success());
    let good = coregraph()
        .args(["backup", "--admin", &admin, "--to", bk_s, "--user", "admin"])
        .env("COREGRAPH_PASSWORD", "s3cret")
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&good.stdout).to_string();
    assert!(
        good.status.success() && text.contains("done job 1"),
        "{text}"
    );
    assert!(bk.join("MANIFEST").exists());
    stop(server);
    let _ = std::fs::remove_dir_all(&root);
}
