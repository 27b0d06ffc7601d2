//! Connection churn and idle connections: no growth in fds, memory or
//! closures. Both ends are hinge sockets on one loop.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::{local_server, open_fds, rss_kib, run_bounded, under_valgrind, DropCounter};
use hinge::{Loop, Server, Socket};

/// Runs `cycles` connect/send/echo/close cycles, `parallel` at a time.
fn churn(lp: &Loop, port: u16, cycles: usize, parallel: usize, drops: &DropCounter) {
    let started = Rc::new(Cell::new(0usize));
    let finished = Rc::new(Cell::new(0usize));
    fn start(
        lp: &Loop,
        port: u16,
        cycles: usize,
        started: Rc<Cell<usize>>,
        finished: Rc<Cell<usize>>,
        drops: DropCounter,
    ) {
        if started.get() >= cycles {
            return;
        }
        started.set(started.get() + 1);
        let client = Socket::connect_addr(lp, ([127, 0, 0, 1], port).into()).expect("connect");
        client.send(b"ping").expect("send before connect is queued");
        let tok = drops.token();
        client.on_data(move |_, s, data| {
            tok.touch();
            assert_eq!(data, b"ping");
            s.close();
        });
        client.on_error(|_, _, e| panic!("client: {e}"));
        client.on_close(move |lp, _, had_error| {
            assert!(!had_error);
            finished.set(finished.get() + 1);
            if finished.get() == cycles {
                lp.break_one(); // the listening server would keep run going
            }
            start(
                lp,
                port,
                cycles,
                started.clone(),
                finished.clone(),
                drops.clone(),
            );
        });
    }
    for _ in 0..parallel {
        start(
            lp,
            port,
            cycles,
            started.clone(),
            finished.clone(),
            drops.clone(),
        );
    }
    run_bounded(lp, 600);
    assert_eq!(finished.get(), cycles);
}

fn echo_server(lp: &Loop) -> (Server, u16) {
    let (server, port) = local_server(lp);
    server.on_connection(|_, _, s| {
        s.on_data(|_, s, d| {
            s.send(d).unwrap();
        });
    });
    (server, port)
}

#[test]
fn hundred_thousand_cycles_leave_no_growth() {
    let cycles: usize = std::env::var("HINGE_LEAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let lp = Loop::new().unwrap();
    let (server, port) = echo_server(&lp);
    let drops = DropCounter::default();
    // Warm up: allocator pools, the read buffer, slab capacity.
    churn(&lp, port, 2_000, 16, &drops);
    let (fds0, rss0) = (open_fds(), rss_kib());
    churn(&lp, port, cycles, 16, &drops);
    let (fds1, rss1) = (open_fds(), rss_kib());
    eprintln!("{cycles} cycles: fds {fds0} -> {fds1}, rss {rss0} KiB -> {rss1} KiB");
    assert_eq!(fds1, fds0, "file descriptors leaked");
    if !under_valgrind() {
        assert!(rss1 <= rss0 + 1024, "memory grew by {} KiB", rss1 - rss0);
    }
    assert_eq!(
        drops.dropped(),
        2_000 + cycles,
        "every listener closure was freed"
    );
    server.close();
    lp.run();
}
