//! What an idle connection costs in memory (its own binary, so nothing
//! else in the process moves the RSS figure).

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::{local_server, rss_kib, run_bounded, under_valgrind};
use hinge::Loop;

#[test]
fn idle_connection_memory() {
    const N: usize = 5_000;
    if under_valgrind() {
        return; // valgrind's own memory swamps the figure
    }
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    let want = (3 * N as u64 + 100).min(hard);
    if soft < want {
        rlimit::setrlimit(rlimit::Resource::NOFILE, want, hard).unwrap();
    }
    if want < 3 * N as u64 {
        eprintln!("skipped: fd limit {hard} too low");
        return;
    }
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let accepted = Rc::new(Cell::new(0usize));
    let a = accepted.clone();
    server.on_connection(move |lp, _, s| {
        s.on_data(|_, _, _| {});
        a.set(a.get() + 1);
        if a.get() == N {
            lp.break_one();
        }
    });
    // Clients are plain std sockets held by another thread: the RSS growth
    // of this process is what an idle hinge connection costs (the client
    // side adds only kernel memory and a small Vec).
    lp.run_nowait();
    let rss0 = rss_kib();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        let clients: Vec<_> = (0..N)
            .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        let _ = rx.recv(); // hold them until the measurement is done
        drop(clients);
    });
    run_bounded(&lp, 60);
    let rss1 = rss_kib();
    let per_conn = (rss1.saturating_sub(rss0)) as f64 * 1024.0 / N as f64;
    eprintln!(
        "idle connections: {N}, rss {rss0} KiB -> {rss1} KiB, {per_conn:.0} bytes per connection"
    );
    assert_eq!(accepted.get(), N);
    // About 470 bytes on x86_64 (issue 12 asks for under 512 in the bench);
    // the margin is for allocator and RSS noise.
    assert!(per_conn < 768.0, "{per_conn} bytes per idle connection");
    tx.send(()).unwrap();
    t.join().unwrap();
    server.close();
    run_bounded(&lp, 30);
}
