//! Graceful shutdown on SIGTERM/SIGINT for the binary: block both signals in the process
//! before the executors start (threads inherit the mask, so no executor is killed by them),
//! then wait for one on a dedicated thread and stop the server.
//!
//! ```no_run
//! # use net::service::{GremlinRequest, GremlinService, ServiceError, VecResults};
//! # struct Engine;
//! # impl GremlinService for Engine {
//! #     type Results = VecResults;
//! #     async fn submit(&self, _: GremlinRequest) -> Result<VecResults, ServiceError> {
//! #         Ok(VecResults::new(Vec::new()))
//! #     }
//! # }
//! # fn engine(_core: usize) -> Engine { Engine }
//! net::signals::block_termination_signals().expect("mask");
//! let server = net::serve(net::Config::default(), net::wire::Serializers::standard(), engine)
//!     .expect("bind");
//! let waiter = net::signals::stop_on_termination_signal(server.stopper()).expect("waiter");
//! server.join().expect("clean stop");
//! let _signal = waiter.join();
//! ```

use std::io;
use std::thread::JoinHandle;

use crate::server::Stopper;

/// The signal set {SIGINT, SIGTERM}.
fn termination_set() -> io::Result<libc::sigset_t> {
    // SAFETY: `sigset_t` is a plain bit set for which all-zero is a valid value; it is then
    // initialised by `sigemptyset` before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed `sigset_t`; SIGINT and SIGTERM are valid
    // signal numbers.
    let rc = unsafe {
        libc::sigemptyset(&mut set)
            | libc::sigaddset(&mut set, libc::SIGINT)
            | libc::sigaddset(&mut set, libc::SIGTERM)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(set)
}

/// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts afterwards.
/// Call it first thing in `main`, before [`crate::serve`].
pub fn block_termination_signals() -> io::Result<()> {
    let set = termination_set()?;
    // SAFETY: `set` is an initialised signal set; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Starts a thread that waits for SIGINT or SIGTERM (blocked beforehand with
/// [`block_termination_signals`]), then stops the server; the thread returns the signal.
pub fn stop_on_termination_signal(stopper: Stopper) -> io::Result<JoinHandle<i32>> {
    let set = termination_set()?;
    std::thread::Builder::new()
        .name("coregraph-signals".to_string())
        .spawn(move || {
            let mut signal: libc::c_int = 0;
            loop {
                // SAFETY: `set` is an initialised signal set and `signal` a valid out pointer.
                let rc = unsafe { libc::sigwait(&set, &mut signal) };
                if rc == 0 {
                    break;
                }
            }
            // Stop first: nothing after this may keep the server from stopping (logging
            // included, whose writer may be a closed pipe).
            stopper.stop();
            tracing::info!(signal, "termination signal: stopping the server");
            signal
        })
}
