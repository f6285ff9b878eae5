//! The store as an import or a load writes it: a write the store refused for overload (its
//! bounded write queue is full because the device is slower than the writer) is retried
//! after a growing pause instead of failing. Wraps any [`Kv`], owned or by reference, so the
//! executor's own model store can be used online.

use std::time::Duration;

use crate::model::kv::{Digest, Got, Kv, KvError, Unsynced, WriteMode};

/// Retries of one overloaded write before it fails.
pub const OVERLOAD_RETRIES_MAX: u32 = 20_000;
/// Longest pause between two retries (the pause doubles from 1 ms).
pub const OVERLOAD_WAIT_MS_MAX: u64 = 20;

/// [`Kv`] over `K` with overloaded writes retried (on a glommio executor: the pause is a
/// glommio timer).
#[derive(Clone)]
pub struct OverloadRetry<K>(pub K);

fn overloaded(e: &KvError) -> bool {
    // `shards::StoreError::Overload` reaches the model as a store message.
    matches!(e, KvError::Store(m) if m.contains("overload"))
}

async fn pause(wait_ms: &mut u64) {
    glommio::timer::sleep(Duration::from_millis(*wait_ms)).await;
    *wait_ms = (*wait_ms * 2).min(OVERLOAD_WAIT_MS_MAX);
}

impl<K: Kv> Kv for OverloadRetry<K> {
    async fn get(&self, digest: &Digest) -> Result<Option<Got>, KvError> {
        self.0.get(digest).await
    }

    async fn put(&self, digest: &Digest, payload: &[u8], mode: WriteMode) -> Result<u16, KvError> {
        let mut wait = 1;
        for _ in 0..OVERLOAD_RETRIES_MAX {
            match self.0.put(digest, payload, mode).await {
                Err(e) if overloaded(&e) => pause(&mut wait).await,
                r => return r,
            }
        }
        self.0.put(digest, payload, mode).await
    }

    async fn delete(&self, digest: &Digest, mode: WriteMode) -> Result<bool, KvError> {
        let mut wait = 1;
        for _ in 0..OVERLOAD_RETRIES_MAX {
            match self.0.delete(digest, mode).await {
                Err(e) if overloaded(&e) => pause(&mut wait).await,
                r => return r,
            }
        }
        self.0.delete(digest, mode).await
    }

    fn scan(&self) -> Vec<Digest> {
        self.0.scan()
    }

    fn scan_tagged(&self, tags: &[u8]) -> Vec<Digest> {
        self.0.scan_tagged(tags)
    }

    async fn get_run(&self, digests: &[Digest]) -> Result<Vec<Option<Got>>, KvError> {
        self.0.get_run(digests).await
    }

    async fn put_unsynced(
        &self,
        digest: &Digest,
        payload: &[u8],
        mode: WriteMode,
    ) -> Result<(u16, Unsynced), KvError> {
        let mut wait = 1;
        for _ in 0..OVERLOAD_RETRIES_MAX {
            match self.0.put_unsynced(digest, payload, mode).await {
                Err(e) if overloaded(&e) => pause(&mut wait).await,
                r => return r,
            }
        }
        self.0.put_unsynced(digest, payload, mode).await
    }

    async fn sync(&self, unsynced: &Unsynced) -> Result<(), KvError> {
        self.0.sync(unsynced).await
    }

    fn indexes(&self) -> Option<std::rc::Rc<crate::index::CoreIndexes>> {
        self.0.indexes()
    }
}
