//! Adversarial tests of `hinge::task` (async/await on the loop), written
//! from safe code as a hostile user would: teardown from odd places,
//! nested loops, wakers on other threads, sockets shared between
//! callbacks and tasks, the close-on-last-handle rule.
//!
//! Each test guards behaviour that holds; those marked "was a bug" failed
//! before their fix.

mod common;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::adversary::PanicOnDrop;
use common::task::{in_child, within, within_loop, YieldNow};
use common::{local_server, run_bounded, DropCounter};
use futures_util::{AsyncReadExt, StreamExt};
use hinge::task::{interval, sleep, timeout, AsyncFd, Elapsed};
use hinge::{Error, Loop, LoopHandle, Pool, Socket};

// ---------------------------------------------------------------------
// block_on where the loop cannot run
// ---------------------------------------------------------------------

/// Was a bug: `block_on` on a loop that is gone (a `LoopHandle` kept past the
/// `Loop`) spins forever at 100% CPU: `run_once` returns at once on a
/// dead loop and nothing can ever wake the future.
#[test]
fn block_on_on_a_dead_loop_returns_instead_of_spinning() {
    within(3, || {
        let lp = Loop::new().unwrap();
        let h = lp.handle();
        drop(lp);
        let r = h.block_on(sleep(&h, Duration::from_millis(10)));
        assert!(r.is_err(), "a dead loop cannot run a future to completion");
    });
}

/// A future whose drop calls `block_on` (cleanup code often does: "flush
/// and wait").
struct BlockOnInDrop(LoopHandle, Rc<Cell<Option<bool>>>);
impl Drop for BlockOnInDrop {
    fn drop(&mut self) {
        let r = self.0.block_on(sleep(&self.0, Duration::from_millis(10)));
        self.1.set(Some(r.is_err()));
    }
}

/// Was a bug: the same spin, reached from a task cancelled at teardown: the
/// executor's `Cleanup` drops the future outside `ev_run` (depth 0), so
/// `block_on` is not refused, and the tearing-down loop never runs.
#[test]
fn block_on_from_a_future_dropped_at_teardown_returns() {
    within(3, || {
        let lp = Loop::new().unwrap();
        let out = Rc::new(Cell::new(None));
        let guard = BlockOnInDrop(lp.handle(), out.clone());
        lp.spawn_local(async move {
            let _g = guard;
            std::future::pending::<()>().await
        })
        .detach();
        lp.run_nowait();
        drop(lp);
        assert_eq!(out.get(), Some(true), "block_on refused during teardown");
    });
}

#[test]
fn block_on_inside_a_callback_a_task_and_block_on_is_refused() {
    let lp = Loop::new().unwrap();
    let h = lp.handle();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let h2 = h.clone();
    let _t = lp.set_timeout(Duration::ZERO, move |_| {
        let r = h2.block_on(async { 1 });
        s.borrow_mut().push(matches!(r, Err(Error::NestedBlockOn)));
    });
    let s = seen.clone();
    let h3 = h.clone();
    lp.spawn_local(async move {
        let r = h3.block_on(async { 1 });
        s.borrow_mut().push(matches!(r, Err(Error::NestedBlockOn)));
    })
    .detach();
    let s = seen.clone();
    let h4 = h.clone();
    lp.block_on(async move {
        let r = h4.block_on(async { 1 });
        s.borrow_mut().push(matches!(r, Err(Error::NestedBlockOn)));
        sleep(&h4, Duration::from_millis(5)).await;
    })
    .unwrap();
    assert_eq!(&*seen.borrow(), &[true, true, true]);
    // And block_on still works afterwards.
    assert_eq!(lp.block_on(async { 7 }).unwrap(), 7);
}

// ---------------------------------------------------------------------
// Teardown from odd places
// ---------------------------------------------------------------------

/// Dropping the owning `Loop` from inside one of its own tasks (the loop
/// run through a handle) must not crash the process.
#[test]
fn dropping_the_loop_inside_its_own_task_does_not_crash() {
    let r = in_child(
        "dropping_the_loop_inside_its_own_task_does_not_crash",
        || {
            let drops = DropCounter::default();
            {
                let lp = Loop::new().unwrap();
                let h = lp.handle();
                let slot = Rc::new(RefCell::new(Some(lp)));
                let tok = drops.token();
                h.spawn_local(async move {
                    let _t = tok;
                    std::future::pending::<()>().await
                })
                .detach();
                let s = slot.clone();
                let h2 = h.clone();
                h.spawn_local(async move {
                    sleep(&h2, Duration::from_millis(1)).await;
                    let lp = s.borrow_mut().take();
                    drop(lp);
                    // Still polled to the end on a dead loop.
                    YieldNow(false).await;
                })
                .detach();
                h.run();
                h.run();
            }
            assert_eq!(drops.dropped(), 1, "the parked task was cancelled");
        },
    );
    r.unwrap();
}

/// Everything a task can park on, alive when the loop is dropped: every
/// future is dropped (no leak, no panic), and a pool job that completes
/// after the loop is gone is harmless.
#[test]
fn loop_dropped_while_tasks_park_on_everything() {
    let drops = DropCounter::default();
    let pool = Pool::with_threads(1);
    let (started_tx, started_rx) = mpsc::channel::<()>();
    {
        let lp = Loop::new().unwrap();
        let h = lp.handle();
        let (server, port) = local_server(&lp);
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let sock = Socket::from_unix_stream(&lp, a).unwrap();
        let (c, _d) = std::os::unix::net::UnixStream::pair().unwrap();
        c.set_nonblocking(true).unwrap();
        let fd = AsyncFd::new(&lp, c).unwrap();
        let connecting = Socket::connect(&lp, "127.0.0.1", common::closed_port()).unwrap();

        let t = drops.token();
        let mut s = sock.clone();
        lp.spawn_local(async move {
            let _t = t;
            let mut buf = [0u8; 4];
            let _ = s.read(&mut buf).await;
        })
        .detach();
        let t = drops.token();
        let h2 = h.clone();
        lp.spawn_local(async move {
            let _t = t;
            sleep(&h2, Duration::from_secs(60)).await;
        })
        .detach();
        let t = drops.token();
        let h2 = h.clone();
        lp.spawn_local(async move {
            let _t = t;
            let mut i = interval(&h2, Duration::from_secs(60));
            i.tick().await;
        })
        .detach();
        let t = drops.token();
        let job = pool.spawn(&lp, move || {
            let _ = started_tx.send(());
            std::thread::sleep(Duration::from_millis(200));
            5
        });
        lp.spawn_local(async move {
            let _t = t;
            let _ = job.await;
        })
        .detach();
        let t = drops.token();
        lp.spawn_local(async move {
            let _t = t;
            fd.readable().await;
        })
        .detach();
        let t = drops.token();
        let srv = server.clone();
        lp.spawn_local(async move {
            let _t = t;
            let mut inc = srv.incoming();
            let _ = inc.next().await;
        })
        .detach();
        let t = drops.token();
        let conn = connecting.connected();
        lp.spawn_local(async move {
            let _t = t;
            let _ = conn.await;
        })
        .detach();
        // A client connects, so Incoming has queued a socket too.
        let _client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        lp.run_nowait();
        lp.run_nowait();
        started_rx.recv().unwrap();
        drop(lp);
    }
    assert_eq!(drops.dropped(), 7, "every parked task was cancelled");
    // The pool job ends after the loop is gone.
    std::thread::sleep(Duration::from_millis(300));
    drop(pool);
}

/// A future whose drop panics, cancelled by dropping its `Task`: the panic
/// resumes from `run`, and the loop stays usable.
#[test]
fn a_panic_in_a_cancelled_futures_drop_resumes_from_run() {
    let lp = Loop::new().unwrap();
    let task = lp.spawn_local(async {
        let _p = PanicOnDrop;
        std::future::pending::<()>().await
    });
    lp.run_nowait();
    drop(task);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run()));
    assert!(r.is_err(), "the drop's panic resumes from run");
    assert_eq!(lp.block_on(async { 3 }).unwrap(), 3);
}

/// Panics in the drops of many futures at teardown: one is re-raised from
/// the loop's drop, none aborts, all futures go.
#[test]
fn many_panicking_drops_at_teardown_do_not_abort() {
    let r = in_child("many_panicking_drops_at_teardown_do_not_abort", || {
        let drops = DropCounter::default();
        let lp = Loop::new().unwrap();
        for _ in 0..10 {
            let t = drops.token();
            let h = lp.handle();
            lp.spawn_local(async move {
                let _t = t;
                let _p = PanicOnDrop;
                // Its drop also cancels a child whose own drop panics.
                let _child = h.spawn_local(async {
                    let _p = PanicOnDrop;
                    std::future::pending::<()>().await
                });
                std::future::pending::<()>().await
            })
            .detach();
        }
        lp.run_nowait();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(lp)));
        assert!(r.is_err());
        assert_eq!(drops.dropped(), 10);
    });
    r.unwrap();
}

/// Was a bug: a detached task whose *output* panics when dropped aborts the
/// process. `Guarded` catches panics of a task's poll and of its future's
/// drop, but async-task drops a detached task's output itself, under
/// `abort_on_panic` (async-task 4.7.1 `raw.rs:590`).
#[test]
fn a_detached_tasks_output_that_panics_on_drop_does_not_abort() {
    let r = in_child(
        "a_detached_tasks_output_that_panics_on_drop_does_not_abort",
        || {
            let lp = Loop::new().unwrap();
            lp.spawn_local(async { PanicOnDrop }).detach();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run()));
            assert!(r.is_err(), "the panic resumes from run, as a callback's");
        },
    );
    r.unwrap();
}

/// Was a bug: the same abort, with a task that drops its own `Task` handle (a
/// documented pattern) and then returns a value whose drop panics.
#[test]
fn a_task_dropping_its_own_handle_then_returning_a_panicky_output_does_not_abort() {
    let r = in_child(
        "a_task_dropping_its_own_handle_then_returning_a_panicky_output_does_not_abort",
        || {
            let lp = Loop::new().unwrap();
            let slot: Rc<RefCell<Option<hinge::task::Task<PanicOnDrop>>>> = Rc::default();
            let s = slot.clone();
            let task = lp.spawn_local(async move {
                YieldNow(false).await;
                drop(s.borrow_mut().take()); // its own handle
                PanicOnDrop
            });
            *slot.borrow_mut() = Some(task);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run()));
        },
    );
    r.unwrap();
}

// ---------------------------------------------------------------------
// Nested run, scheduling, starvation
// ---------------------------------------------------------------------

#[test]
fn a_nested_run_inside_a_task_runs_other_tasks_and_returns() {
    within(5, || {
        let lp = Loop::new().unwrap();
        let h = lp.handle();
        let done = Rc::new(Cell::new(0));
        let d = done.clone();
        let h2 = h.clone();
        lp.spawn_local(async move {
            let d2 = d.clone();
            let h3 = h2.clone();
            h2.spawn_local(async move {
                sleep(&h3, Duration::from_millis(2)).await;
                d2.set(d2.get() + 1);
            })
            .detach();
            h2.run(); // nested: runs the child to completion
            d.set(d.get() + 10);
        })
        .detach();
        run_bounded(&lp, 3);
        assert_eq!(done.get(), 11);
    });
}

/// A task that wakes itself forever does not starve socket callbacks.
#[test]
fn a_self_waking_task_does_not_starve_socket_callbacks() {
    let lp = Loop::new().unwrap();
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let sock = Socket::from_unix_stream(&lp, a).unwrap();
    let got = Rc::new(Cell::new(false));
    let g = got.clone();
    let h = lp.handle();
    sock.on_data(move |_, _, _| {
        g.set(true);
        h.break_all();
    });
    let busy = lp.spawn_local(async {
        loop {
            YieldNow(false).await;
        }
    });
    b.write_all(b"x").unwrap();
    let start = Instant::now();
    run_bounded(&lp, 3);
    assert!(got.get());
    assert!(start.elapsed() < Duration::from_secs(1));
    drop(busy);
}

/// Was a bug: `interval` says "Ticks the task missed are not made up",
/// but every expiration is counted (`Shared::fired`) and handed out later
/// at once: a task that was busy for ten periods gets ten ticks in a burst.
#[test]
fn interval_does_not_make_up_missed_ticks() {
    let lp = Loop::new().unwrap();
    let h = lp.handle();
    let burst = lp
        .block_on(async move {
            let mut i = interval(&h, Duration::from_millis(10));
            i.tick().await;
            // Busy elsewhere for ~10 periods, while the loop runs.
            sleep(&h, Duration::from_millis(105)).await;
            let start = Instant::now();
            for _ in 0..3 {
                i.tick().await;
            }
            start.elapsed()
        })
        .unwrap();
    // One waiting tick at once, then the period's next expirations (the
    // second within one period): at least one period, not a burst.
    assert!(
        burst >= Duration::from_millis(9),
        "3 ticks after a busy spell took {burst:?}: missed ticks were made up"
    );
}

#[test]
fn interval_dropped_inside_its_own_tick_and_zero_timeouts() {
    let lp = Loop::new().unwrap();
    let h = lp.handle();
    let r = lp
        .block_on(async move {
            let mut i = Some(interval(&h, Duration::from_millis(1)));
            let mut n = 0;
            while let Some(it) = i.as_mut() {
                it.tick().await;
                n += 1;
                if n == 3 {
                    i = None; // dropped right after its own tick
                }
            }
            let a = timeout(&h, Duration::ZERO, async { 1 }).await;
            let b = timeout(&h, Duration::ZERO, std::future::pending::<()>()).await;
            let c = timeout(&h, Duration::ZERO, sleep(&h, Duration::ZERO)).await;
            (n, a, b, c.is_ok() || c == Err(Elapsed(())))
        })
        .unwrap();
    assert_eq!(r, (3, Ok(1), Err(Elapsed(())), true));
}

// ---------------------------------------------------------------------
// AsyncFd
// ---------------------------------------------------------------------

/// Was a bug: `AsyncFd::readable()` takes `&self` (tokio's and async-io's
/// support many waiters), but one waker slot per direction means the
/// second task's registration silently replaces the first: the first
/// is never woken, even though the fd stays readable.
#[test]
fn two_tasks_awaiting_readable_on_one_async_fd_both_wake() {
    let lp = Loop::new().unwrap();
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let fd = Rc::new(AsyncFd::new(&lp, a).unwrap());
    let woke = Rc::new(Cell::new(0));
    for _ in 0..2 {
        let fd = fd.clone();
        let w = woke.clone();
        lp.spawn_local(async move {
            fd.readable().await;
            w.set(w.get() + 1);
        })
        .detach();
    }
    lp.run_nowait(); // both parked
    b.write_all(b"x").unwrap(); // nobody reads it: stays readable
    let h = lp.handle();
    lp.block_on(sleep(&h, Duration::from_millis(100))).unwrap();
    assert_eq!(woke.get(), 2, "both waiters see the readiness");
}

#[test]
fn async_fd_reader_and_writer_tasks_at_once() {
    let lp = Loop::new().unwrap();
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    let fa = Rc::new(AsyncFd::new(&lp, a).unwrap());
    let fb = AsyncFd::new(&lp, b).unwrap();
    // a's writer fills the buffer, then b drains it slowly; a's reader
    // waits for the reply meanwhile.
    let total = 1 << 20;
    let f = fa.clone();
    let writer = lp.spawn_local(async move {
        let chunk = vec![7u8; 4096];
        let mut sent = 0;
        while sent < total {
            sent += f.write_with(|mut s| s.write(&chunk)).await.unwrap();
        }
        sent
    });
    let f = fa.clone();
    let reader = lp.spawn_local(async move {
        let mut buf = [0u8; 8];
        f.read_with(|mut s| s.read(&mut buf)).await.unwrap()
    });
    let h = lp.handle();
    let peer = lp.spawn_local(async move {
        let mut got = 0;
        let mut buf = vec![0u8; 8192];
        while got < total {
            match fb.read_with(|mut s| s.read(&mut buf)).await.unwrap() {
                0 => break,
                n => got += n,
            }
            if got % (256 * 1024) < 8192 {
                sleep(&h, Duration::from_millis(1)).await;
            }
        }
        fb.write_with(|mut s| s.write(b"done")).await.unwrap();
        got
    });
    let r = within_loop(&lp, async move { (writer.await, peer.await, reader.await) });
    assert_eq!(r, (total, total, 4));
}
