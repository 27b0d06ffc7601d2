//! Async watchers woken from other threads.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use common::Hits;
use hinge::{Async, AsyncSender, Loop, Timer, Watcher};

fn assert_send_sync<T: Send + Sync + Clone>() {}

#[test]
fn the_sender_is_send_sync_and_clone() {
    assert_send_sync::<AsyncSender>();
}

#[test]
fn other_threads_wake_the_loop_and_sends_coalesce() {
    let lp = Loop::new().unwrap();
    let (tx, rx) = mpsc::channel::<usize>();
    let received = Hits::default();
    let callbacks = Hits::default();
    let (r, c) = (received.clone(), callbacks.clone());
    let me = std::thread::current().id();
    let w = Async::new(&lp, move |_, w| {
        assert_eq!(std::thread::current().id(), me);
        c.hit();
        for _ in rx.try_iter() {
            r.hit();
        }
        if r.get() == 4 * 1000 {
            w.stop();
        }
    });
    let barrier = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (tx, s, b) = (tx.clone(), w.sender(), barrier.clone());
            std::thread::spawn(move || {
                b.wait();
                for i in 0..1000 {
                    tx.send(i).unwrap();
                    assert!(s.send());
                }
            })
        })
        .collect();
    lp.run();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(received.get(), 4000);
    assert!(
        callbacks.get() < 4000,
        "sends coalesce: {} callbacks",
        callbacks.get()
    );
}

#[test]
fn sending_after_the_watcher_or_loop_is_gone_is_harmless() {
    let lp = Loop::new().unwrap();
    let w = Async::new(&lp, |_, _| {});
    let s = w.sender();
    assert!(s.is_connected());
    drop(w);
    assert!(!s.send() && !s.is_connected());

    let w2 = Async::new(&lp, |_, _| {});
    let s2 = w2.sender();
    drop(lp);
    assert!(!s2.send(), "loop gone");
    drop(w2);
}

#[test]
fn racing_sends_against_loop_teardown() {
    // Threads keep sending while the loop is dropped: no crash, no hang.
    for _ in 0..20 {
        let lp = Loop::new().unwrap();
        let w = Async::new(&lp, |_, _| {});
        let sent = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (s, n) = (w.sender(), sent.clone());
                std::thread::spawn(move || {
                    while s.send() {
                        n.fetch_add(1, Ordering::Relaxed);
                        // Let the loop's thread in: a scheduler that runs
                        // one thread at a time (valgrind's) would
                        // otherwise never get to the teardown.
                        std::thread::yield_now();
                    }
                })
            })
            .collect();
        let _t = Timer::new(&lp, Duration::from_millis(1), Duration::ZERO, |_, _| {});
        w.unref();
        lp.run();
        drop(lp);
        for t in threads {
            t.join().unwrap();
        }
        drop(w);
    }
}
