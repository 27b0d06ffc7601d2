//! The loop itself: run modes, breaking, time, backends, default loop.

mod common;

use std::time::{Duration, Instant};

use common::Hits;
use hinge::{Backend, Error, Idle, Loop, Timer, Watcher};

#[test]
fn run_returns_when_nothing_is_active() {
    let lp = Loop::new().unwrap();
    assert!(!lp.run());
    assert!(!lp.run_once());
    assert!(!lp.run_nowait());
}

#[test]
fn run_once_blocks_for_one_event_and_run_nowait_does_not_block() {
    let lp = Loop::new().unwrap();
    let hits = Hits::default();
    let h = hits.clone();
    let _t = Timer::new(
        &lp,
        Duration::from_millis(30),
        Duration::ZERO,
        move |_, _| h.hit(),
    );
    let start = Instant::now();
    lp.run_nowait();
    assert!(start.elapsed() < Duration::from_millis(25));
    assert_eq!(hits.get(), 0);
    lp.run_once();
    assert_eq!(hits.get(), 1);
    assert!(start.elapsed() >= Duration::from_millis(29));
}

#[test]
fn break_one_leaves_only_the_inner_run_and_break_all_leaves_both() {
    let lp = Loop::new().unwrap();
    let depths = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let d = depths.clone();
    let _outer = Timer::new(
        &lp,
        Duration::ZERO,
        Duration::from_millis(1),
        move |lp, _| {
            if !d.borrow().is_empty() {
                // A deferred event from the nested run below (see the next
                // test); nesting again would reset libev's break state.
                return;
            }
            d.borrow_mut().push(lp.depth());
            // A nested run from inside a callback, ended by another watcher.
            let d2 = d.clone();
            let _inner = Timer::new(
                lp,
                Duration::from_millis(1),
                Duration::ZERO,
                move |lp, _| {
                    d2.borrow_mut().push(lp.depth());
                    lp.break_one();
                },
            );
            assert!(lp.run(), "inner run broken, outer timer still active");
            lp.break_all();
        },
    );
    assert!(lp.run(), "broken while the timer is active");
    assert_eq!(*depths.borrow(), vec![1, 2]);
    assert_eq!(lp.depth(), 0);
}

#[test]
fn events_for_a_running_callback_are_deferred_not_lost() {
    // The outer timer's own events arrive during its nested run; they are
    // delivered after the outer call returns instead of being dropped.
    let lp = Loop::new().unwrap();
    let calls = Hits::default();
    let c = calls.clone();
    let _t = Timer::new(
        &lp,
        Duration::ZERO,
        Duration::from_millis(1),
        move |lp, t| {
            c.hit();
            if c.get() == 1 {
                let _stop = Timer::new(lp, Duration::from_millis(20), Duration::ZERO, |lp, _| {
                    lp.break_one()
                });
                lp.run(); // the repeating timer fires ~20 times meanwhile
            } else {
                t.stop();
            }
        },
    );
    lp.run();
    assert_eq!(
        calls.get(),
        2,
        "one deferred delivery, not twenty, and none lost"
    );
}

#[test]
fn time_iteration_and_pending_count() {
    let lp = Loop::new().unwrap();
    let before = lp.now();
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(lp.now(), before, "cached until updated");
    lp.update_now();
    assert!(lp.now() >= before + 0.004);
    assert!((hinge::time() - lp.now()).abs() < 1.0);
    let i0 = lp.iteration();
    lp.run_nowait();
    assert_eq!(lp.iteration(), i0 + 1);
    let idle = Idle::new(&lp, |_, _| {});
    idle.stop();
    idle.feed_event(hinge::Ready::CUSTOM);
    assert_eq!(lp.pending_count(), 1);
    assert_eq!(idle.clear_pending(), hinge::Ready::CUSTOM);
    assert!(!idle.is_pending());
}

#[test]
fn every_supported_backend_can_run_a_timer() {
    let supported = Backend::supported();
    for backend in [Backend::SELECT, Backend::POLL, Backend::EPOLL] {
        if !supported.contains(backend) {
            continue;
        }
        let lp = Loop::builder().backend(backend).no_env().build().unwrap();
        assert_eq!(lp.backend(), backend);
        assert_eq!(lp.backend_name(), backend.name());
        let hits = Hits::default();
        let h = hits.clone();
        let _t = Timer::new(
            &lp,
            Duration::from_millis(1),
            Duration::ZERO,
            move |_, _| h.hit(),
        );
        lp.run();
        assert_eq!(hits.get(), 1, "{backend:?}");
    }
    assert!(
        matches!(
            Loop::builder().backend(Backend::PORT).build(),
            Err(Error::LoopCreate { .. })
        ),
        "Solaris ports do not exist on Linux"
    );
}

#[test]
fn suspend_and_resume_pair_up() {
    let lp = Loop::new().unwrap();
    lp.suspend();
    lp.suspend(); // idempotent
    lp.resume();
    lp.resume();
    lp.suspend();
    let _t = Timer::new(&lp, Duration::from_millis(1), Duration::ZERO, |_, _| {});
    lp.run(); // run resumes a suspended loop itself
}

#[test]
fn many_loops_on_many_threads() {
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let lp = Loop::new().unwrap();
                let hits = Hits::default();
                let h = hits.clone();
                let _t = Timer::new(
                    &lp,
                    Duration::ZERO,
                    Duration::from_millis(1),
                    move |_, t| {
                        h.hit();
                        if h.get() == 10 + i {
                            t.stop();
                        }
                    },
                );
                lp.run();
                hits.get()
            })
        })
        .collect();
    let counts: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(counts, vec![10, 11, 12, 13]);
}

#[test]
fn libev_is_at_least_4_0() {
    let (major, _) = hinge::libev_version();
    assert!(major >= 4);
}

#[test]
fn a_huge_timeout_collect_interval_is_clamped_not_an_endless_block() {
    // Past ~24 days libev's int of milliseconds for epoll_wait overflows
    // to a negative timeout: an endless block. Clamped, a timer is late by
    // at most Loop::MAX_COLLECT_INTERVAL.
    for huge in [Duration::from_secs(30 * 86_400), Duration::MAX] {
        let lp = Loop::new().unwrap();
        lp.set_timeout_collect_interval(huge);
        lp.set_io_collect_interval(huge);
        let hits = Hits::default();
        let h = hits.clone();
        let _t = Timer::new(
            &lp,
            Duration::from_millis(1),
            Duration::ZERO,
            move |_, _| h.hit(),
        );
        let start = Instant::now();
        common::run_bounded(&lp, 10);
        assert_eq!(hits.get(), 1);
        assert!(
            start.elapsed() < Loop::MAX_COLLECT_INTERVAL * 3,
            "{:?}",
            start.elapsed()
        );
    }
}
