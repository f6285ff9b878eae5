//! SIGTERM stops the server gracefully: an in-flight request finishes, the client gets a
//! Close frame (1001), the process carries on. Own `main` (no test harness) so the signal
//! mask is set before any other thread exists.

mod common;

use common::*;

fn main() {
    net::signals::block_termination_signals().expect("block signals");
    let server = start(net::Config::default());
    let waiter = net::signals::stop_on_termination_signal(server.stopper()).expect("waiter");
    let mut c = Client::connect(server.local_addr());
    c.eval(&uuid(1), "sleep 300", &[]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    // SAFETY: sending SIGTERM to this process; it is blocked in every thread and taken by the
    // waiter's sigwait.
    let rc = unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    assert_eq!(rc, 0);
    assert_eq!(waiter.join().expect("waiter"), libc::SIGTERM);
    let r = c.response();
    assert_eq!(r.code, 200, "in-flight request finished: {r:?}");
    match c.read_frame() {
        Some((_, 8, p)) => assert_eq!(u16::from_be_bytes([p[0], p[1]]), 1001),
        other => panic!("expected close 1001, got {other:?}"),
    }
    server.join().expect("clean stop");
    println!("test sigterm_stops_the_server_gracefully ... ok");
}
