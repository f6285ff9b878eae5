//! Per-key serialization of read-modify-writes on one core: an async lock per record digest,
//! so that concurrent tasks updating one hot record queue up instead of losing generation
//! races over and over. Generation-checked writes stay as the backstop. A logical lock only:
//! no `RefCell` borrow is held across an `.await`.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::task::{Poll, Waker};

use crate::model::kv::Digest;

/// Tasks that may wait on one key at once (a full queue fails the lock attempt).
pub const KEY_WAITERS_MAX: usize = 1 << 16;

/// The locks of one core.
#[derive(Debug, Default)]
pub struct KeyLocks {
    /// Held keys, each with the wakers of the tasks waiting for it.
    held: RefCell<HashMap<Digest, VecDeque<Waker>>>,
    /// Times a task found its key held and waited.
    waits: Cell<u64>,
}

/// A held key; released on drop.
#[derive(Debug)]
pub struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    key: Digest,
}

impl KeyLocks {
    /// Waits until `key` is free and takes it; `None` if [`KEY_WAITERS_MAX`] tasks wait.
    pub async fn lock(&self, key: Digest) -> Option<KeyGuard<'_>> {
        poll_fn(|cx| {
            let mut held = self.held.borrow_mut();
            match held.get_mut(&key) {
                None => {
                    held.insert(key, VecDeque::new());
                    Poll::Ready(Some(()))
                }
                Some(q) if q.len() >= KEY_WAITERS_MAX => Poll::Ready(None),
                Some(q) => {
                    // A task polled again before its key was released (e.g. one branch of a
                    // join woke it) is queued once, not once per poll.
                    if !q.iter().any(|w| w.will_wake(cx.waker())) {
                        self.waits.set(self.waits.get().saturating_add(1));
                        q.push_back(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await
        .map(|()| KeyGuard { locks: self, key })
    }

    /// Times a task found its key held and waited, so far.
    pub fn waits(&self) -> u64 {
        self.waits.get()
    }

    /// Number of keys held now.
    pub fn held(&self) -> usize {
        self.held.borrow().len()
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let waiters = self.locks.held.borrow_mut().remove(&self.key);
        // Wake every waiter: one takes the key, the others queue again.
        for w in waiters.into_iter().flatten() {
            w.wake();
        }
    }
}
