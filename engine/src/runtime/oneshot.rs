//! A one-value channel between threads for replies to cross-core requests: the owner core
//! completes it with `send` (never blocks), the requesting core's task awaits it. Dropping the
//! sender without sending closes it, so a requester never waits for a reply that cannot come.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

struct State<T> {
    value: Option<T>,
    waker: Option<Waker>,
    /// The sender was sent or dropped.
    done: bool,
}

type Shared<T> = Arc<Mutex<State<T>>>;

fn lock<T>(s: &Shared<T>) -> MutexGuard<'_, State<T>> {
    // A panic while holding this lock leaves the state consistent (plain field writes).
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// The sending half; `Send`, consumed by [`Sender::send`].
pub struct Sender<T> {
    shared: Option<Shared<T>>,
}

/// The receiving half: a future of `Some(value)`, or `None` when the sender was dropped.
pub struct Receiver<T> {
    shared: Shared<T>,
}

/// A new channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(State {
        value: None,
        waker: None,
        done: false,
    }));
    (
        Sender {
            shared: Some(shared.clone()),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    /// Delivers `value` (dropped if the receiver is gone) and wakes the receiver.
    pub fn send(mut self, value: T) {
        if let Some(s) = self.shared.take() {
            finish(&s, Some(value));
        }
    }
}

fn finish<T>(s: &Shared<T>, value: Option<T>) {
    let waker = {
        let mut st = lock(s);
        st.value = value;
        st.done = true;
        st.waker.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(s) = self.shared.take() {
            finish(&s, None);
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut st = lock(&self.shared);
        if st.done {
            return Poll::Ready(st.value.take());
        }
        st.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    #[test]
    fn value_arrives_across_threads() {
        let (tx, rx) = channel::<u32>();
        let t = std::thread::spawn(move || tx.send(7));
        assert_eq!(block_on(rx), Some(7));
        t.join().unwrap();
    }

    #[test]
    fn dropped_sender_closes() {
        let (tx, rx) = channel::<u32>();
        drop(tx);
        assert_eq!(block_on(rx), None);
    }
}
