//! `coregraph serve` as a child process for the binary's tests: start it on ephemeral ports,
//! stop it with SIGTERM (asserting exit 0), and run gremlin-lang scripts over raw GraphBinary.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::Client;
use gremlin::codec::message::{self, Format, RequestMessage};
use gremlin::value::{Map, Uuid, Value};

/// Time allowed for the server to start or stop.
pub const PROCESS_WAIT_S: u64 = 60;

pub fn coregraph() -> Command {
    Command::new(env!("CARGO_BIN_EXE_coregraph"))
}

/// A server process, killed (and reaped) when dropped unless [`stop`] stopped it.
pub struct Server(Option<Child>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `coregraph serve` in `cwd` on ephemeral ports (Gremlin and admin) with `executors`
/// executors (all on the first CPU this process may use) and `extra` flags; returns it and
/// its two addresses.
pub fn start(cwd: &Path, executors: usize, extra: &[&str]) -> (Server, SocketAddr, SocketAddr) {
    start_with(cwd, executors, extra, false)
}

/// [`start`], then both output pipes closed once the addresses are read, as when the parent
/// that read them has exited.
#[allow(dead_code)] // serve.rs only; the module is shared with backup_cli.rs
pub fn start_orphaned(
    cwd: &Path,
    executors: usize,
    extra: &[&str],
) -> (Server, SocketAddr, SocketAddr) {
    start_with(cwd, executors, extra, true)
}

fn start_with(
    cwd: &Path,
    executors: usize,
    extra: &[&str],
    orphaned: bool,
) -> (Server, SocketAddr, SocketAddr) {
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
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(if orphaned {
                Stdio::piped()
            } else {
                Stdio::null()
            })
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
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let last = line.contains("admin on http://");
            let _ = tx.send(line);
            if orphaned && last {
                return; // drops (closes) stdout
            }
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
            if orphaned {
                reader.join().expect("stdout reader");
                drop(server.0.as_mut().and_then(|c| c.stderr.take()));
            }
            return (server, gremlin.expect("Gremlin address first"), admin);
        }
    }
}

pub fn stop(mut server: Server) {
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
pub fn eval(c: &mut Client, id: u8, script: &str) -> (i32, Vec<Value>) {
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
