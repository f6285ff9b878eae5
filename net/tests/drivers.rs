//! The stock drivers against the server (with the test engine of `common`): gremlinpython runs
//! when `COREGRAPH_PYTHON` names a Python with gremlinpython 3.8 installed, gremlin-javascript
//! when `COREGRAPH_NODE_PATH` names a `node_modules` holding `gremlin` 3.8; otherwise each test
//! says on stderr that it did not run, and does nothing.

mod common;

use std::process::Command;

use common::*;

/// The driver location in `var`; `None` (the test says NOT RUN) when unset, which under
/// `CI=true` is a failure: `.ci/run` installs the drivers.
fn driver_env(var: &str, driver: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but {var} is not set: .ci/run installs {driver}"
            );
            eprintln!("{driver} driver test NOT RUN: set {var} (see net/README.md)");
            None
        }
    }
}

fn python() -> Option<String> {
    driver_env("COREGRAPH_PYTHON", "gremlinpython 3.8")
}

fn run(python: &str, args: &[&str]) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/drivers/gremlinpython_smoke.py"
    );
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("all ok"), "{stdout}");
}

#[test]
fn gremlinpython_without_auth() {
    let Some(python) = python() else { return };
    let server = start_with(net::Config::default(), net::wire::Serializers::standard());
    let url = format!("ws://{}/gremlin", server.local_addr());
    run(&python, &[&url]);
    server.shutdown().expect("shutdown");
}

#[test]
fn gremlinpython_with_auth() {
    let Some(python) = python() else { return };
    let dir = std::env::temp_dir().join(format!("coregraph-net-py-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("credentials");
    let _ = std::fs::remove_file(&path);
    net::auth::add_user(&path, "stephen", "password").expect("add user");
    let server = start_with(
        net::Config {
            credentials_path: Some(path),
            ..net::Config::default()
        },
        net::wire::Serializers::standard(),
    );
    let url = format!("ws://{}/gremlin", server.local_addr());
    run(&python, &[&url, "stephen", "password"]);
    server.shutdown().expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

fn node_path() -> Option<String> {
    driver_env("COREGRAPH_NODE_PATH", "gremlin-javascript 3.8")
}

fn run_js(node_path: &str, args: &[&str]) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/drivers/gremlin_js_smoke.js"
    );
    let out = Command::new("node")
        .env("NODE_PATH", node_path)
        .arg(script)
        .args(args)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("all ok"), "{stdout}");
}

#[test]
fn gremlin_javascript_multiplexed_and_authenticated() {
    let Some(node_path) = node_path() else { return };
    let server = start_with(net::Config::default(), net::wire::Serializers::standard());
    let url = format!("ws://{}/gremlin", server.local_addr());
    run_js(&node_path, &[&url]);
    server.shutdown().expect("shutdown");

    let dir = std::env::temp_dir().join(format!("coregraph-net-js-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("credentials");
    let _ = std::fs::remove_file(&path);
    net::auth::add_user(&path, "marko", "rainbow").expect("add user");
    let server = start_with(
        net::Config {
            credentials_path: Some(path),
            ..net::Config::default()
        },
        net::wire::Serializers::standard(),
    );
    let url = format!("ws://{}/gremlin", server.local_addr());
    run_js(&node_path, &[&url, "marko", "rainbow"]);
    server.shutdown().expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}
