//! `coregraph backup` (online through a running server's admin port, or offline on a data
//! directory no server has open) and `coregraph restore` (into an empty data directory,
//! then edge repair).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use shards::{DataDir, DirOptions, StoreConfig};

/// Time between status polls of an online backup.
pub const STATUS_POLL_MS: u64 = 500;
/// Longest admin HTTP answer read.
pub const ADMIN_ANSWER_BYTES_MAX: u64 = 1 << 20;
/// Timeout of one admin HTTP exchange.
pub const ADMIN_TIMEOUT_MS: u64 = 30_000;
/// Longest wait for an online backup to end.
pub const BACKUP_WAIT_S_MAX: u64 = 7 * 24 * 3600;

/// Settings of `coregraph backup`.
#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// Backup directory to create (must not hold a backup). For --admin it is the server's
    /// path (made absolute here).
    #[arg(long)]
    pub to: PathBuf,
    /// Admin address of a running server (`serve --admin-addr`): the server backs itself up
    /// while serving.
    #[arg(long, conflicts_with = "data_dir")]
    pub admin: Option<SocketAddr>,
    /// Offline: a data directory no server has open.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Admin user when the server has authentication on (password from
    /// COREGRAPH_PASSWORD or the first line of standard input).
    #[arg(long)]
    pub user: Option<String>,
}

/// Settings of `coregraph restore`.
#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The backup directory.
    #[arg(long)]
    pub from: PathBuf,
    /// The data directory to fill: absent or empty.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Graphs whose edges to repair (as `serve --graphs`).
    #[arg(long, value_delimiter = ',', default_value = "g")]
    pub graphs: Vec<String>,
    /// As `serve --edge-cache-entries` (used when repair adds entries).
    #[arg(long, default_value_t = engine::model::EDGE_CACHE_ENTRIES_DEFAULT)]
    pub edge_cache_entries: usize,
    /// As `serve --pack-edges`.
    #[arg(long, default_value_t = engine::model::PACK_EDGES_DEFAULT)]
    pub pack_edges: usize,
}

/// Runs `coregraph backup`.
pub fn backup(a: &BackupArgs) -> Result<(), String> {
    match (&a.admin, &a.data_dir) {
        (Some(addr), _) => backup_online(*addr, &a.to, a.user.as_deref()),
        (None, Some(d)) => {
            let dir = DataDir::open_or_create_existing(d)?;
            let m = engine::backup::backup_offline(dir, &a.to)?;
            println!(
                "coregraph: backup of {} shards in {}: {} records, {} ms",
                m.shard_count,
                a.to.display(),
                m.shards.iter().map(|s| s.records).sum::<u64>(),
                m.finished_ms.saturating_sub(m.started_ms)
            );
            Ok(())
        }
        (None, None) => {
            Err("give --admin ADDR (running server) or --data-dir DIR (offline)".into())
        }
    }
}

trait OpenExisting {
    fn open_or_create_existing(d: &Path) -> Result<DataDir, String>;
}

impl OpenExisting for DataDir {
    /// Opens an existing data directory (never creates one).
    fn open_or_create_existing(d: &Path) -> Result<DataDir, String> {
        if !d.join(shards::dir::META_FILE).exists() {
            return Err(format!("{}: not a coregraph data directory", d.display()));
        }
        DataDir::open_or_create(d, &DirOptions::default()).map_err(|e| match e {
            shards::StoreError::Locked(m) => {
                format!("{m}: a server has it open; back it up online with --admin ADDR")
            }
            e => format!("{}: {e}", d.display()),
        })
    }
}

fn basic_auth(user: Option<&str>) -> Result<String, String> {
    let Some(user) = user else {
        return Ok(String::new());
    };
    let password = match std::env::var("COREGRAPH_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| format!("reading the password from stdin: {e}"))?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    Ok(format!("Authorization: Basic {token}\r\n"))
}

/// One HTTP/1.1 exchange with the admin port: (status code, body).
fn http(addr: SocketAddr, method: &str, target: &str, auth: &str) -> Result<(u16, String), String> {
    let timeout = Duration::from_millis(ADMIN_TIMEOUT_MS);
    let mut s =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("admin {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .map_err(|e| format!("admin {addr}: {e}"))?;
    let mut buf = Vec::new();
    s.take(ADMIN_ANSWER_BYTES_MAX)
        .read_to_end(&mut buf)
        .map_err(|e| format!("admin {addr}: {e}"))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("admin {addr}: not an HTTP answer"))?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("admin {addr}: bad status line"))?;
    Ok((code, body.to_string()))
}

fn backup_online(addr: SocketAddr, to: &Path, user: Option<&str>) -> Result<(), String> {
    let to = if to.is_absolute() {
        to.to_path_buf()
    } else {
        std::env::current_dir().map_err(|e| e.to_string())?.join(to)
    };
    let auth = basic_auth(user)?;
    let target = format!(
        "/backup?to={}",
        engine::backup::percent_encode(&to.to_string_lossy())
    );
    let (code, body) = http(addr, "POST", &target, &auth)?;
    if code != 202 {
        return Err(format!(
            "server refused the backup ({code}): {}",
            body.trim()
        ));
    }
    println!("coregraph: {}", body.trim());
    let deadline = std::time::Instant::now() + Duration::from_secs(BACKUP_WAIT_S_MAX);
    loop {
        std::thread::sleep(Duration::from_millis(STATUS_POLL_MS));
        let (code, body) = http(addr, "GET", "/backup", &auth)?;
        let line = body.trim();
        if code != 200 {
            return Err(format!("status ({code}): {line}"));
        }
        if line.starts_with("done") {
            println!("coregraph: {line}");
            return Ok(());
        }
        if line.starts_with("failed") {
            return Err(line.to_string());
        }
        eprint!("\rcoregraph: {line}   ");
        if std::time::Instant::now() > deadline {
            return Err("gave up waiting for the backup".into());
        }
    }
}

/// Runs `coregraph restore`.
pub fn restore(a: &RestoreArgs) -> Result<(), String> {
    let rt = engine::runtime::RuntimeConfig {
        graphs: a.graphs.clone(),
        model: engine::model::ModelConfig {
            edge_cache_entries: a.edge_cache_entries,
            pack_edges: a.pack_edges,
            ..engine::model::ModelConfig::default()
        },
        ..engine::runtime::RuntimeConfig::default()
    };
    let r = engine::backup::restore_and_repair(&a.from, &a.data_dir, &StoreConfig::default(), rt)?;
    println!(
        "coregraph: restored {} records into {}",
        r.records,
        a.data_dir.display()
    );
    for ((g, rep), (_, edges)) in r.repairs.iter().zip(&r.edges) {
        println!(
            "coregraph: graph {g}: {edges} edges; repair added {} entries, removed {} entries, {} pack slots, {} locators, dropped {} edges with a missing endpoint",
            rep.entries_added, rep.entries_removed, rep.pack_slots_removed, rep.locators_removed, rep.edges_dropped
        );
    }
    Ok(())
}
