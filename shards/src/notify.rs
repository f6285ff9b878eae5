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

/// Polls all futures concurrently until every one is done; results in input order.
pub async fn join_all<F: Future>(futs: Vec<F>) -> Vec<F::Output> {
    JoinAll {
        futs: futs.into_iter().map(|f| (Box::pin(f), None)).collect(),
    }
    .await
}

/// A future being polled and its output once ready.
type Slot<F> = (Pin<Box<F>>, Option<<F as Future>::Output>);

struct JoinAll<F: Future> {
    futs: Vec<Slot<F>>,
}

impl<F: Future> Unpin for JoinAll<F> {}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut pending = false;
        for (f, out) in self.futs.iter_mut() {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            return Poll::Pending;
        }
        Poll::Ready(self.futs.iter_mut().filter_map(|(_, o)| o.take()).collect())
    }
}
