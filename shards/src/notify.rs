//! A tiny single-threaded broadcast notification (runtime-agnostic): tasks wait for the next
//! `notify_all`. Used for group commit and to wake the background flusher.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Wakes every waiting task on `notify_all`.
#[derive(Default)]
pub struct Notify {
    epoch: Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
}

impl Notify {
    /// Wakes all current waiters.
    pub fn notify_all(&self) {
        self.epoch.set(self.epoch.get().wrapping_add(1));
        let ws = std::mem::take(&mut *self.waiters.borrow_mut());
        for w in ws {
            w.wake();
        }
    }

    /// Completes after the next `notify_all`.
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            n: self,
            epoch: self.epoch.get(),
        }
    }
}

/// Future returned by [`Notify::wait`].
pub struct Wait<'a> {
    n: &'a Notify,
    epoch: u64,
}

impl Future for Wait<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.n.epoch.get() != self.epoch {
            return Poll::Ready(());
        }
        let mut ws = self.n.waiters.borrow_mut();
        if !ws.iter().any(|w| w.will_wake(cx.waker())) {
            ws.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
