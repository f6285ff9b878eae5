//! `coregraph backup` / `coregraph restore` as processes: an online backup of a serving
//! process through its admin port, a restore into a fresh directory that a new server then
//! serves with the same graph, and the refusals (non-empty target, damaged backup, a data
//! directory a server holds).

#[path = "../../net/tests/common/mod.rs"]
mod common;
mod process;

use common::Client;
use gremlin::value::Value;
use process::{coregraph, eval, start, stop};

const VERTICES: i64 = 40;

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
    let (server, addr, admin) = start(&a, 2, &[]);
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

    let (server, addr, _) = start(&b, 2, &[]);
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
    let (server, _, admin) = start(&root, 2, &["--credentials", creds_s]);
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
