//! Test harness shared by the engine's multi-core tests: one glommio executor per core
//! joining a cluster, with a watchdog, and a cross-core barrier that keeps executors serving.

#![allow(dead_code)]

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use engine::exec::{Executor, RunOptions, Started};
use engine::runtime::{Cluster, CoreHost, RoutedKv};
use glommio::{LocalExecutorBuilder, Placement};
use gremlin::machine::Traverser;

/// Waits (without blocking the executor, which must keep serving other cores) until `n`
/// cores have arrived.
pub async fn barrier(count: &AtomicUsize, n: usize) {
    count.fetch_add(1, Ordering::AcqRel);
    while count.load(Ordering::Acquire) < n {
        glommio::timer::sleep(Duration::from_millis(2)).await;
    }
}

/// Starts `cores` executors (threads named `{name}-{core}`) that join `cluster` and run
/// `body` on each; returns their results in core order, or panics when a core has not
/// finished within `watchdog_s` seconds (a deadlock or a crash).
pub fn run_cluster<T, F, Fut>(
    cluster: Cluster,
    cores: usize,
    name: &str,
    watchdog_s: u64,
    body: F,
) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Rc<CoreHost>, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    let (tx, rx) = mpsc::channel();
    let mut handles = Vec::new();
    for core in 0..cores {
        let cluster = cluster.clone();
        let body = body.clone();
        let tx = tx.clone();
        handles.push(
            LocalExecutorBuilder::new(Placement::Unbound)
                .name(&format!("{name}-{core}"))
                .spawn(move || async move {
                    let host = Rc::new(cluster.join(core).await.expect("join"));
                    let out = body(host.clone(), core).await;
                    let host = Rc::try_unwrap(host).ok().expect("host still shared");
                    host.shutdown().await.expect("shutdown");
                    let _ = tx.send((core, out));
                })
                .expect("executor"),
        );
    }
    drop(cluster);
    drop(tx);
    let mut outs: Vec<Option<T>> = (0..cores).map(|_| None).collect();
    for _ in 0..cores {
        let (core, out) = rx
            .recv_timeout(Duration::from_secs(watchdog_s))
            .expect("a core did not finish in time: deadlock or crash");
        outs[core] = Some(out);
    }
    // Every core has finished; its thread (holding the data directory) ends now.
    for h in handles {
        h.join().expect("executor thread");
    }
    outs.into_iter().map(|o| o.expect("every core")).collect()
}

/// Traversers' values as text, each repeated by its bulk, sorted (a multiset to compare).
pub fn sorted_values(trs: &[Traverser]) -> Vec<String> {
    let mut v: Vec<String> = trs
        .iter()
        .flat_map(|t| {
            std::iter::repeat_n(
                format!("{:?}", t.value),
                usize::try_from(t.bulk).unwrap_or(0),
            )
        })
        .collect();
    v.sort();
    v
}

/// Runs `text` through [`Executor::start`] as the server does (streamed where the shape
/// allows); its traversers, and whether they were streamed.
pub async fn run_started(g: &Rc<Executor<RoutedKv>>, text: &str) -> (Vec<Traverser>, bool) {
    let bc = gremlin::parser::parse(text, &|_| None).expect("parses");
    match g.start(&bc, &RunOptions::default()).await {
        Started::Done(r) => (r.unwrap_or_else(|e| panic!("{text}: {e}")), false),
        Started::Streaming(mut s) => {
            let mut all = Vec::new();
            while let Some(item) = s.next().await {
                all.extend(item.unwrap_or_else(|e| panic!("{text} (streamed): {e}")));
            }
            (all, true)
        }
    }
}
