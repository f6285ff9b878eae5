//! Online backup of a running cluster and restore with edge repair: a [`BackupCoordinator`]
//! (thread-safe; the admin endpoint starts jobs and reads their status) and a per-core worker
//! ([`serve_backups`], in a low-shares task queue) that backs up the shards its core owns;
//! the core that finishes last writes the manifest. [`restore_and_repair`] restores a backup
//! into an empty data directory and runs the edge repair pass of every graph.
//! Format and guarantees: `docs/storage-format.md` ("Backup and restore").

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use glommio::{Latency, Shares};
use shards::backup::{self, ShardBackupSummary};
use shards::{DataDir, Shard, StoreConfig};

use crate::model::keys::KeySpace;
use crate::model::ops::repair::{edge_problems, RepairReport};
use crate::model::ops::{Model, SystemClock};
use crate::runtime::{Cluster, CoreHost, RuntimeConfig};

/// How often an idle core checks for a new backup job.
pub const BACKUP_POLL_MS: u64 = 100;
/// CPU shares of the backup task queue (serving queues have the default 1000; storage
/// background work 100).
pub const BACKUP_SHARES: usize = 50;
/// A core that has not picked a job up after this long fails the job (its worker is not
/// running).
pub const BACKUP_PICKUP_MS_MAX: u64 = 30_000;
/// Longest backup target path accepted from the admin endpoint.
pub const BACKUP_PATH_BYTES_MAX: usize = 4096;

/// Progress of one core in a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoreState {
    /// Not started yet.
    Pending,
    /// Backing up: records written and records in the snapshots taken so far.
    Running { done: u64, total: u64 },
    /// Finished its shards.
    Done(Vec<ShardBackupSummary>),
    /// Failed.
    Failed(String),
}

/// One backup job.
#[derive(Clone, Debug)]
pub struct Job {
    /// Job number (1, 2, ... per process).
    pub id: u64,
    /// Target directory.
    pub to: PathBuf,
    /// Start, ms since the Unix epoch.
    pub started_ms: u64,
    /// Per core.
    pub cores: Vec<CoreState>,
    /// `None` while running; then `Ok(records)` or the first error.
    pub result: Option<Result<u64, String>>,
    /// End, ms since the Unix epoch (0 while running).
    pub finished_ms: u64,
}

impl Job {
    /// One line of status: `running`, `done` or `failed`, with counts.
    pub fn status_line(&self) -> String {
        let (mut done, mut total) = (0, 0);
        for c in &self.cores {
            match c {
                CoreState::Running { done: d, total: t } => {
                    done += d;
                    total += t;
                }
                CoreState::Done(s) => {
                    let n: u64 = s.iter().map(|x| x.records).sum();
                    done += n;
                    total += n;
                }
                _ => {}
            }
        }
        let cores_done = self
            .cores
            .iter()
            .filter(|c| matches!(c, CoreState::Done(_)))
            .count();
        match &self.result {
            None => format!(
                "running job {} to {}: {done} of {total} records so far, {cores_done}/{} cores done\n",
                self.id,
                self.to.display(),
                self.cores.len()
            ),
            Some(Ok(n)) => format!(
                "done job {} to {}: {n} records, {} shards, {} ms\n",
                self.id,
                self.to.display(),
                self.cores
                    .iter()
                    .map(|c| match c {
                        CoreState::Done(s) => s.len(),
                        _ => 0,
                    })
                    .sum::<usize>(),
                self.finished_ms.saturating_sub(self.started_ms)
            ),
            Some(Err(e)) => format!("failed job {} to {}: {e}\n", self.id, self.to.display()),
        }
    }
}

#[derive(Default)]
struct State {
    next_id: u64,
    job: Option<Job>,
}

/// Starts backup jobs and tracks them; shared by every core (`Send + Sync + Clone`). One job
/// at a time.
#[derive(Clone)]
pub struct BackupCoordinator {
    cores: usize,
    dir: Arc<DataDir>,
    st: Arc<Mutex<State>>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl BackupCoordinator {
    /// A coordinator for the cores of `cluster`.
    pub fn new(cluster: &Cluster) -> BackupCoordinator {
        BackupCoordinator {
            cores: cluster.cores(),
            dir: cluster.dir().clone(),
            st: Arc::default(),
        }
    }

    /// Starts a backup to `to` (created; must not hold a backup). Cheap: the cores pick the
    /// job up within [`BACKUP_POLL_MS`]. Fails while another job runs.
    pub fn start(&self, to: &Path) -> Result<u64, String> {
        let mut st = lock(&self.st);
        if st.job.as_ref().is_some_and(|j| j.result.is_none()) {
            return Err("a backup is already running".into());
        }
        backup::prepare_backup_dir(to).map_err(|e| e.to_string())?;
        st.next_id += 1;
        let id = st.next_id;
        st.job = Some(Job {
            id,
            to: to.to_path_buf(),
            started_ms: backup::now_ms(),
            cores: vec![CoreState::Pending; self.cores],
            result: None,
            finished_ms: 0,
        });
        Ok(id)
    }

    /// The current (or last) job.
    pub fn job(&self) -> Option<Job> {
        let mut st = lock(&self.st);
        let job = st.job.as_mut()?;
        let waited = backup::now_ms().saturating_sub(job.started_ms);
        if job.result.is_none() && waited > BACKUP_PICKUP_MS_MAX {
            if let Some(core) = job.cores.iter().position(|c| *c == CoreState::Pending) {
                job.result = Some(Err(format!(
                    "core {core} did not start its part within {BACKUP_PICKUP_MS_MAX} ms (no backup worker?)"
                )));
                job.finished_ms = backup::now_ms();
            }
        }
        Some(job.clone())
    }

    fn set(&self, id: u64, core: usize, state: CoreState) {
        let mut st = lock(&self.st);
        let Some(job) = st.job.as_mut().filter(|j| j.id == id) else {
            return;
        };
        if let Some(c) = job.cores.get_mut(core) {
            *c = state;
        }
        if job.result.is_some() {
            return;
        }
        if let Some(e) = job.cores.iter().find_map(|c| match c {
            CoreState::Failed(e) => Some(e.clone()),
            _ => None,
        }) {
            job.result = Some(Err(e));
            job.finished_ms = backup::now_ms();
            return;
        }
        if job.cores.iter().all(|c| matches!(c, CoreState::Done(_))) {
            let sums: Vec<ShardBackupSummary> = job
                .cores
                .iter()
                .flat_map(|c| match c {
                    CoreState::Done(s) => s.clone(),
                    _ => Vec::new(),
                })
                .collect();
            let n = sums.iter().map(|s| s.records).sum();
            // The last core writes the manifest (small; under the lock so status never shows
            // `done` before it is durable).
            job.result = Some(
                backup::write_manifest(&job.to, &self.dir, job.started_ms, sums)
                    .map(|_| n)
                    .map_err(|e| format!("writing the manifest: {e}")),
            );
            job.finished_ms = backup::now_ms();
        }
    }

    /// The admin endpoint: `POST /backup?to=DIR` starts a job (DIR percent-decoded, absolute),
    /// `GET /backup` shows the current job. `None` for other paths.
    pub fn admin(&self, method: &str, path: &str, query: &str) -> Option<(String, String)> {
        if path != "/backup" {
            return None;
        }
        let ok = |b: String| Some(("200 OK".to_string(), b));
        let bad = |b: String| Some(("400 Bad Request".to_string(), b + "\n"));
        match method {
            "GET" => match self.job() {
                Some(j) => ok(j.status_line()),
                None => ok("no backup has run\n".into()),
            },
            "POST" => {
                let to = query
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .find(|(k, _)| *k == "to")
                    .and_then(|(_, v)| percent_decode(v));
                let Some(to) = to.filter(|t| t.len() <= BACKUP_PATH_BYTES_MAX) else {
                    return bad("POST /backup?to=DIR: DIR missing or badly encoded".into());
                };
                let to = PathBuf::from(to);
                if !to.is_absolute() {
                    return bad(format!("{}: give an absolute path", to.display()));
                }
                match self.start(&to) {
                    Ok(id) => Some((
                        "202 Accepted".to_string(),
                        format!("started job {id} to {}\n", to.display()),
                    )),
                    Err(e) => Some(("409 Conflict".to_string(), e + "\n")),
                }
            }
            _ => Some((
                "405 Method Not Allowed".to_string(),
                "GET or POST\n".to_string(),
            )),
        }
    }
}

/// Decodes a percent-encoded query value (`+` is a space); `None` if badly encoded.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes a path for `POST /backup?to=`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Backs up `shards` (this core's) for job `id` and reports to `coord`.
pub async fn backup_core_shards(
    coord: &BackupCoordinator,
    id: u64,
    core: usize,
    to: &Path,
    shards: &[Rc<Shard>],
) {
    let mut sums = Vec::new();
    let (mut done_before, mut total_before) = (0, 0);
    for s in shards {
        let r = backup::backup_shard(s, to, |done, total| {
            coord.set(
                id,
                core,
                CoreState::Running {
                    done: done_before + done,
                    total: total_before + total,
                },
            );
        })
        .await;
        match r {
            Ok(sum) => {
                done_before += sum.records;
                total_before += sum.records;
                sums.push(sum);
            }
            Err(e) => {
                coord.set(
                    id,
                    core,
                    CoreState::Failed(format!("shard {}: {e}", s.id())),
                );
                return;
            }
        }
    }
    coord.set(id, core, CoreState::Done(sums));
}

/// The per-core backup worker: spawn it once per core (after `Cluster::join`) with the
/// core's shards; it polls for jobs every [`BACKUP_POLL_MS`] and runs them in a task queue
/// with [`BACKUP_SHARES`] shares, so serving keeps priority. Runs until the executor ends.
pub fn spawn_backup_worker(coord: BackupCoordinator, host: &CoreHost) -> Result<(), String> {
    let core = host.core();
    let shards = host.shards();
    let q = glommio::executor().create_task_queue(
        Shares::Static(BACKUP_SHARES),
        Latency::NotImportant,
        "backup",
    );
    glommio::spawn_local_into(serve_backups(coord, core, shards), q)
        .map_err(|e| format!("starting the backup worker: {e}"))?
        .detach();
    Ok(())
}

/// The worker loop of [`spawn_backup_worker`].
pub async fn serve_backups(coord: BackupCoordinator, core: usize, shards: Vec<Rc<Shard>>) {
    loop {
        glommio::timer::sleep(Duration::from_millis(BACKUP_POLL_MS)).await;
        let Some(job) = coord.job() else { continue };
        if job.result.is_some() || job.cores.get(core) != Some(&CoreState::Pending) {
            continue;
        }
        coord.set(job.id, core, CoreState::Running { done: 0, total: 0 });
        backup_core_shards(&coord, job.id, core, &job.to, &shards).await;
    }
}

/// Offline backup of a data directory no server has open: every shard, one executor.
pub fn backup_offline(dir: DataDir, to: &Path) -> Result<backup::Manifest, String> {
    backup::prepare_backup_dir(to).map_err(|e| e.to_string())?;
    let to = to.to_path_buf();
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .spawn(move || async move {
            let started = backup::now_ms();
            let mut sums = Vec::new();
            for id in 0..dir.shard_count() {
                let (s, _) = dir
                    .open_shard(id, shards::Clock::System)
                    .await
                    .map_err(|e| format!("opening shard {id}: {e}"))?;
                let sum = backup::backup_shard(&s, &to, |_, _| {})
                    .await
                    .map_err(|e| format!("shard {id}: {e}"))?;
                eprintln!("coregraph: shard {id}: {} records", sum.records);
                sums.push(sum);
            }
            backup::write_manifest(&to, &dir, started, sums).map_err(|e| e.to_string())
        })
        .map_err(|e| e.to_string())?
        .join()
        .map_err(|e| e.to_string())?
}

/// What [`restore_and_repair`] did.
#[derive(Clone, Debug, Default)]
pub struct RestoreReport {
    /// Records restored.
    pub records: u64,
    /// Repair per graph.
    pub repairs: Vec<(String, RepairReport)>,
    /// Committed edges per graph after repair.
    pub edges: Vec<(String, u64)>,
}

/// Restores the backup `from` into the empty data directory `to` (checks every checksum
/// first), then opens it on one executor and runs [`Model::repair_edges`] for each graph of
/// `rt.graphs`, then checks that no edge is left at one endpoint only.
pub fn restore_and_repair(
    from: &Path,
    to: &Path,
    store: &StoreConfig,
    rt: RuntimeConfig,
) -> Result<RestoreReport, String> {
    let sum = backup::restore(from, to, store).map_err(|e| e.to_string())?;
    let dir = DataDir::open_or_create(
        to,
        &shards::DirOptions {
            store: store.clone(),
            ..shards::DirOptions::default()
        },
    )
    .map_err(|e| format!("{}: {e}", to.display()))?;
    let graphs = rt.graphs.clone();
    let model_cfg = rt.model.clone();
    let cluster = Cluster::new(Arc::new(dir), 1, rt).map_err(|e| e.to_string())?;
    let mut report = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .spawn(move || async move {
            let host = cluster.join(0).await.map_err(|e| e.to_string())?;
            let mut rep = RestoreReport::default();
            let mut failure = None;
            for g in &graphs {
                let r = async {
                    let space = KeySpace::new(g).map_err(|e| e.to_string())?;
                    let m = Model::new(host.kv(), space, model_cfg.clone(), Box::new(SystemClock))
                        .map_err(|e| e.to_string())?;
                    let r = m.repair_edges().await.map_err(|e| e.to_string())?;
                    let (problems, edges) = edge_problems(&m).await.map_err(|e| e.to_string())?;
                    if let Some(p) = problems.first() {
                        return Err(format!(
                            "graph {g}: {} edge problems left after repair, first: {p}",
                            problems.len()
                        ));
                    }
                    Ok::<_, String>((r, edges))
                }
                .await;
                match r {
                    Ok((r, edges)) => {
                        rep.repairs.push((g.clone(), r));
                        rep.edges.push((g.clone(), edges));
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            host.shutdown().await.map_err(|e| e.to_string())?;
            match failure {
                Some(e) => Err(e),
                None => Ok(rep),
            }
        })
        .map_err(|e| e.to_string())?
        .join()
        .map_err(|e| e.to_string())??;
    report.records = sum.records;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_without_worker_fails_the_job_and_another_can_start() {
        let data = std::env::temp_dir().join(format!("cg-coord-{}", std::process::id()));
        let to = data.with_extension("bk");
        let _ = std::fs::remove_dir_all(&data);
        let _ = std::fs::remove_dir_all(&to);
        let dir = DataDir::open_or_create(
            &data,
            &shards::DirOptions {
                shard_count: Some(2),
                shard_size_bytes: 16 << 20,
                store: StoreConfig {
                    block_size_bytes: 1 << 20,
                    flush_size_bytes: 64 * 1024,
                    record_size_max: 64 * 1024,
                    ..StoreConfig::default()
                },
            },
        )
        .unwrap();
        let cluster = Cluster::new(Arc::new(dir), 2, RuntimeConfig::default()).unwrap();
        let c = BackupCoordinator::new(&cluster);
        assert_eq!(
            c.admin("GET", "/backup", "").unwrap().1,
            "no backup has run\n"
        );
        assert_eq!(c.admin("GET", "/other", ""), None);
        assert!(c
            .admin("POST", "/backup", "to=rel")
            .unwrap()
            .0
            .starts_with("400"));
        assert!(c
            .admin("POST", "/backup", "x=1")
            .unwrap()
            .0
            .starts_with("400"));
        let q = format!("to={}", percent_encode(&to.to_string_lossy()));
        assert!(c.admin("POST", "/backup", &q).unwrap().0.starts_with("202"));
        assert!(c.admin("POST", "/backup", &q).unwrap().0.starts_with("409"));
        // Core 1 reports; core 0 never picks the job up.
        c.set(1, 1, CoreState::Done(Vec::new()));
        assert!(c.job().unwrap().result.is_none());
        lock(&c.st).job.as_mut().unwrap().started_ms -= BACKUP_PICKUP_MS_MAX + 1;
        let j = c.job().unwrap();
        let e = j.result.clone().unwrap().unwrap_err();
        assert!(e.contains("core 0"), "{e}");
        assert!(
            j.status_line().starts_with("failed job 1"),
            "{}",
            j.status_line()
        );
        // Nothing was written to the directory, so a new job may use it.
        let body = c.admin("POST", "/backup", &q).unwrap();
        assert!(body.0.starts_with("202"), "{body:?}");
        let _ = std::fs::remove_dir_all(&data);
        let _ = std::fs::remove_dir_all(&to);
    }

    #[test]
    fn percent_coding_round_trips_and_rejects_bad_escapes() {
        for p in ["/tmp/a b/c", "/x/%41/ü", "/plain"] {
            assert_eq!(percent_decode(&percent_encode(p)).as_deref(), Some(p));
        }
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
