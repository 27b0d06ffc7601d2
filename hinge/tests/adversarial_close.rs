//! An adversarial pass over the close path of issue 25, first part (the
//! second is tests/adversarial_close_eof.rs): the socket cell is its own
//! deferred job, `had_error` is a state bit, and the sends still queued
//! at close wait in `Rare::unsent`. Safe code only, real sockets
//! (UnixStream pairs and 127.0.0.1), real libev. Drop counters prove that
//! nothing outlives its close; tests that could abort run in a child
//! process.

mod common;

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use common::adversary::{in_child, PanicOnDrop};
use common::close::*;
use common::{run_bounded, DropCounter, Hits};
use hinge::{Error, Loop, Socket};

// ---------------------------------------------------------------------
// Unsent sends: each callback once, Err(Closed), and nothing leaks
// ---------------------------------------------------------------------

/// `destroy` with queued sends whose callbacks capture the socket: each
/// is called once with `Err(Closed)`, before `close`, and freed.
#[test]
fn destroy_with_queued_sends_capturing_the_socket_fails_each_once_and_frees_them() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (s, _b) = pair(&lp);
    let outcomes = queue_sends(&s, 3, &drops);
    let closes = record_close(&s, &drops);
    let order = outcomes.clone();
    let seen_at_close = Rc::new(Cell::new(usize::MAX));
    let at = seen_at_close.clone();
    s.on_close(move |_, _, _| at.set(order.borrow().len()));
    s.destroy();
    assert!(outcomes.borrow().is_empty(), "never inside destroy");
    run_bounded(&lp, 10);
    // The first send went out in part; all three were still queued.
    assert_eq!(*outcomes.borrow(), vec![(0, false), (1, false), (2, false)]);
    assert_eq!(seen_at_close.get(), 3, "callbacks run before close");
    assert_eq!(*closes.borrow(), vec![false]);
    assert_eq!(drops.dropped(), 4, "3 callbacks + the close listener");
    assert_eq!(s.listener_count(), 0);
    drop(s);
    drop(lp);
    assert_eq!(drops.dropped(), 4);
}

/// The loop is dropped after `destroy` but before its deferred close
/// runs: the callbacks are dropped uncalled (teardown), `close` is emitted
/// once, and the cycle socket -> unsent -> callback -> socket is freed.
#[test]
fn loop_dropped_before_the_deferred_close_runs_frees_the_unsent_cycle() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (s, _b) = pair(&lp);
    let outcomes = queue_sends(&s, 2, &drops);
    let closes = record_close(&s, &drops);
    s.destroy();
    drop(s);
    drop(lp);
    assert!(outcomes.borrow().is_empty(), "teardown drops the callbacks");
    assert_eq!(*closes.borrow(), vec![false], "close once, at teardown");
    assert_eq!(drops.dropped(), 3, "every callback and listener freed");
}

/// Same, with a graceful `close()` whose flush the peer never lets end,
/// and the handle kept past the loop: inert afterwards.
#[test]
fn loop_dropped_while_a_graceful_close_still_flushes() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (s, _b) = pair(&lp);
    let outcomes = queue_sends(&s, 2, &drops);
    let closes = record_close(&s, &drops);
    s.close();
    for _ in 0..3 {
        lp.run_nowait();
    }
    assert!(closes.borrow().is_empty(), "still flushing");
    drop(lp);
    assert!(outcomes.borrow().is_empty());
    assert_eq!(*closes.borrow(), vec![false]);
    assert_eq!(drops.dropped(), 3);
    assert!(s.is_closed());
    assert!(matches!(s.send(b"x"), Err(Error::Closed { .. })));
    let tok = drops.token();
    s.send_then(b"x", move |_, _, _| tok.touch()).unwrap_err();
    assert_eq!(drops.dropped(), 4, "a refused callback is dropped at once");
}

/// A graceful close with a reading peer: every callback `Ok`, once, in
/// order, then `close(false)`; the peer gets every byte.
#[test]
fn graceful_close_flushes_every_send_then_closes_once() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (s, b) = pair(&lp);
    let outcomes = queue_sends(&s, 3, &drops);
    let closes = record_close(&s, &drops);
    s.close();
    let reader = drain_in_thread(b);
    run_bounded(&lp, 20);
    assert_eq!(*outcomes.borrow(), vec![(0, true), (1, true), (2, true)]);
    assert_eq!(*closes.borrow(), vec![false]);
    assert_eq!(reader.join().unwrap(), 3 * BIG);
    drop(s);
    drop(lp);
    assert_eq!(drops.dropped(), 4);
}

/// The first send's `Ok` callback destroys the socket: the others get
/// `Err(Closed)` once each, from the loop.
#[test]
fn an_ok_callback_that_destroys_fails_the_rest_once() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (s, b) = pair(&lp);
    let outcomes: Outcomes = Rc::default();
    for i in 0..4 {
        let (o, me, tok) = (outcomes.clone(), s.clone(), drops.token());
        s.send_then(vec![1u8; BIG / 2], move |_, s, r| {
            tok.touch();
            let _ = &me;
            o.borrow_mut().push((i, r.is_ok()));
            if i == 0 {
                s.destroy();
                s.destroy();
                s.close();
            }
        })
        .unwrap();
    }
    let closes = record_close(&s, &drops);
    let reader = drain_in_thread(b);
    run_bounded(&lp, 20);
    assert_eq!(
        *outcomes.borrow(),
        vec![(0, true), (1, false), (2, false), (3, false)]
    );
    assert_eq!(*closes.borrow(), vec![false]);
    reader.join().unwrap();
    drop(s);
    drop(lp);
    assert_eq!(drops.dropped(), 5);
}

/// `Err` callbacks that send again (refused), close again and run the
/// loop nested: each callback still runs once, `close` once.
#[test]
fn err_callbacks_that_send_close_and_run_nested_are_each_called_once() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (s, _b) = pair(&lp);
    let calls = Hits::default();
    for _ in 0..3 {
        let (c, me, tok, d) = (calls.clone(), s.clone(), drops.token(), drops.clone());
        s.send_then(vec![2u8; BIG], move |lp, s, r| {
            tok.touch();
            c.hit();
            assert!(r.is_err());
            let tok2 = d.token();
            let again = me.send_then(b"again", move |_, _, _| {
                tok2.touch();
                panic!("a refused send's callback must never run");
            });
            assert!(matches!(again, Err(Error::Closed { .. })), "{again:?}");
            s.close();
            s.destroy();
            lp.run_nowait();
            lp.run_once();
        })
        .unwrap();
    }
    let closes = record_close(&s, &drops);
    let _guard = guard_timer(&lp);
    // Another socket's deferred close queued from inside: runs too.
    let (other, _b2) = pair(&lp);
    let other_closes = record_close(&other, &drops);
    let o = other.clone();
    s.on_close(move |lp, _, _| {
        o.destroy();
        lp.run_once();
    });
    s.destroy();
    run_bounded(&lp, 10);
    assert_eq!(calls.get(), 3);
    assert_eq!(*closes.borrow(), vec![false]);
    assert_eq!(*other_closes.borrow(), vec![false]);
    drop((s, other));
    drop(lp);
    // 3 callbacks, 3 refused callbacks, 2 close recorders.
    assert_eq!(drops.dropped(), 8);
}

/// The peer goes away with sends queued: an error close, `had_error`
/// true, and each callback `Err` once.
#[test]
fn peer_gone_with_sends_queued_is_an_error_close() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (s, b) = pair(&lp);
    let outcomes = queue_sends(&s, 2, &drops);
    let closes = record_close(&s, &drops);
    let errors = Hits::default();
    let e = errors.clone();
    s.on_error(move |_, _, _| e.hit());
    drop(b);
    run_bounded(&lp, 10);
    assert_eq!(errors.get(), 1);
    assert_eq!(*closes.borrow(), vec![true]);
    assert_eq!(*outcomes.borrow(), vec![(0, false), (1, false)]);
    drop(s);
    drop(lp);
    assert_eq!(drops.dropped(), 3);
}

/// A socket that failed (an error close) and whose loop is dropped before
/// the deferred `close` runs: `close` still says `had_error` (teardown
/// reads the socket's `CLOSED_WITH_ERROR` bit; it used to say `false`).
#[test]
fn an_error_close_owed_at_teardown_still_says_had_error() {
    let lp = Loop::new().unwrap();
    let (s, b) = pair(&lp);
    s.set_high_water_mark(1);
    let closes = record_close(&s, &DropCounter::default());
    s.on_error(|_, _, _| {});
    drop(b);
    // The peer is gone: the direct send fails, the socket closes with an
    // error, and its `close` is deferred.
    let r = s.send(vec![0u8; 1 << 16]);
    assert!(r.is_err(), "{r:?}");
    assert!(s.is_closed());
    drop(lp);
    assert_eq!(*closes.borrow(), vec![true]);
}

/// The same error close, with the loop run: `close(true)` once.
#[test]
fn an_error_close_from_a_direct_send_says_had_error() {
    let lp = Loop::new().unwrap();
    let (s, b) = pair(&lp);
    let closes = record_close(&s, &DropCounter::default());
    drop(b);
    assert!(s.send(vec![0u8; 1 << 16]).is_err());
    run_bounded(&lp, 10);
    assert_eq!(*closes.borrow(), vec![true]);
}

/// A connect that is refused with sends queued while connecting: the
/// callbacks get `Err` once, `close(true)`, nothing leaks.
#[test]
fn refused_connect_with_sends_queued_fails_them_and_says_had_error() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let port = common::closed_port();
    let s = Socket::connect_addr(&lp, ([127, 0, 0, 1], port).into()).unwrap();
    let outcomes: Outcomes = Rc::default();
    for i in 0..2 {
        let (o, me, tok) = (outcomes.clone(), s.clone(), drops.token());
        s.send_then(b"hello", move |_, _, r| {
            tok.touch();
            let _ = &me;
            o.borrow_mut().push((i, r.is_ok()));
        })
        .unwrap();
    }
    let closes = record_close(&s, &drops);
    s.on_error(|_, _, _| {});
    run_bounded(&lp, 10);
    assert_eq!(*outcomes.borrow(), vec![(0, false), (1, false)]);
    assert_eq!(*closes.borrow(), vec![true]);
    drop(s);
    drop(lp);
    assert_eq!(drops.dropped(), 3);
}

// ---------------------------------------------------------------------
// Panics on the close path
// ---------------------------------------------------------------------

/// An `Err` callback panics: the other callbacks and `close` still run,
/// the socket finishes, the panic surfaces from `run`, the loop goes on.
#[test]
fn a_panicking_err_callback_does_not_skip_the_others_or_close() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (s, _b) = pair(&lp);
    let outcomes: Outcomes = Rc::default();
    for i in 0..3 {
        let (o, me, tok) = (outcomes.clone(), s.clone(), drops.token());
        s.send_then(vec![3u8; BIG], move |_, _, r| {
            tok.touch();
            let _ = &me;
            o.borrow_mut().push((i, r.is_ok()));
            if i == 0 {
                panic!("on_written panics");
            }
        })
        .unwrap();
    }
    let closes = record_close(&s, &drops);
    s.on_close(|_, _, _| panic!("close panics too"));
    s.destroy();
    let err = catch_unwind(AssertUnwindSafe(|| lp.run())).expect_err("re-raised");
    assert_eq!(message(&*err), "on_written panics", "the first panic");
    assert_eq!(*outcomes.borrow(), vec![(0, false), (1, false), (2, false)]);
    assert_eq!(*closes.borrow(), vec![false]);
    assert_eq!(s.listener_count(), 0);
    assert_eq!(drops.dropped(), 4);
    // The loop is still usable, and the socket left its table.
    let hits = Hits::default();
    let h = hits.clone();
    lp.defer(move |_| h.hit());
    run_bounded(&lp, 5);
    assert_eq!(hits.get(), 1);
    drop(s);
    drop(lp);
}

/// Several sockets' close steps queued in one iteration; the first's
/// `close` listener panics (the drain stops there): the others still
/// close, once each, on the next run; and close listeners that run the
/// loop nested drain the rest from inside.
#[test]
fn a_panicking_close_listener_does_not_lose_the_other_queued_closes() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let mut keep = Vec::new();
    let mut all = Vec::new();
    for i in 0..6 {
        let (s, b) = pair(&lp);
        let outcomes = queue_sends(&s, 1, &drops);
        let closes = record_close(&s, &drops);
        match i {
            0 => {
                s.on_close(|_, _, _| panic!("first close panics"));
            }
            2 => {
                s.on_close(|lp, _, _| {
                    lp.run_nowait();
                });
            }
            _ => {}
        }
        keep.push(b);
        all.push((s, outcomes, closes));
    }
    for (s, _, _) in &all {
        s.destroy();
    }
    let err = catch_unwind(AssertUnwindSafe(|| lp.run())).expect_err("re-raised");
    assert_eq!(message(&*err), "first close panics");
    run_bounded(&lp, 5);
    for (s, outcomes, closes) in &all {
        assert_eq!(*outcomes.borrow(), vec![(0, false)]);
        assert_eq!(*closes.borrow(), vec![false]);
        assert_eq!(s.listener_count(), 0);
    }
    drop(all);
    drop(lp);
    assert_eq!(drops.dropped(), 12);
}

/// Callbacks whose captures panic on drop, run by the close step: every
/// one runs (and drops) in its own step; no abort.
#[test]
fn err_callbacks_with_panicking_captures_never_abort() {
    let r = in_child("err_callbacks_with_panicking_captures_never_abort", || {
        let drops = DropCounter::default();
        let lp = Loop::new().unwrap();
        let (s, _b) = pair(&lp);
        let calls = Hits::default();
        for _ in 0..3 {
            let (c, me, tok, bomb) = (calls.clone(), s.clone(), drops.token(), PanicOnDrop);
            s.send_then(vec![4u8; BIG], move |_, _, _| {
                let _ = (&bomb, &me);
                tok.touch();
                c.hit();
            })
            .unwrap();
        }
        s.destroy();
        let err = catch_unwind(AssertUnwindSafe(|| lp.run())).expect_err("re-raised");
        assert_eq!(message(&*err), "PanicOnDrop");
        assert_eq!(calls.get(), 3);
        assert_eq!(drops.dropped(), 3);
        drop(s);
        drop(lp);
    });
    r.unwrap();
}

/// Two unsent callbacks whose captures panic on drop, and the loop
/// dropped before the close step: teardown drops them, re-raises one
/// panic, and must not abort (a second panic while the first unwinds).
#[test]
fn teardown_of_unsent_callbacks_with_panicking_captures_never_aborts() {
    let r = in_child(
        "teardown_of_unsent_callbacks_with_panicking_captures_never_aborts",
        || {
            let drops = DropCounter::default();
            let lp = Loop::new().unwrap();
            let (s, _b) = pair(&lp);
            for _ in 0..2 {
                let (me, tok, bomb) = (s.clone(), drops.token(), PanicOnDrop);
                s.send_then(vec![5u8; BIG], move |_, _, _| {
                    let _ = (&bomb, &me);
                    tok.touch();
                })
                .unwrap();
            }
            s.destroy();
            drop(s);
            let err = catch_unwind(AssertUnwindSafe(move || drop(lp))).expect_err("re-raised");
            assert_eq!(message(&*err), "PanicOnDrop");
            assert_eq!(drops.dropped(), 2);
        },
    );
    r.unwrap();
}

/// The same for an open socket's queue (no close in flight): teardown
/// drops each chunk in a step of its own (it used to drop them all in
/// one, and the second panic aborted).
#[test]
fn teardown_of_an_open_sockets_queue_with_panicking_captures_never_aborts() {
    let r = in_child(
        "teardown_of_an_open_sockets_queue_with_panicking_captures_never_aborts",
        || {
            let lp = Loop::new().unwrap();
            let (s, _b) = pair(&lp);
            for _ in 0..2 {
                let bomb = PanicOnDrop;
                s.send_then(vec![5u8; BIG], move |_, _, _| {
                    let _ = &bomb;
                })
                .unwrap();
            }
            drop(s);
            let err = catch_unwind(AssertUnwindSafe(move || drop(lp))).expect_err("re-raised");
            assert_eq!(message(&*err), "PanicOnDrop");
        },
    );
    r.unwrap();
}

/// Two deferred closures with panicking captures, never run: the loop's
/// drop frees the deferred queue one job at a time (it used to drop the
/// queue as one value, and the second panic aborted).
#[test]
fn teardown_of_deferred_closures_with_panicking_captures_never_aborts() {
    let r = in_child(
        "teardown_of_deferred_closures_with_panicking_captures_never_aborts",
        || {
            let lp = Loop::new().unwrap();
            for _ in 0..2 {
                let bomb = PanicOnDrop;
                lp.defer(move |_| {
                    let _ = &bomb;
                });
            }
            let err = catch_unwind(AssertUnwindSafe(move || drop(lp))).expect_err("re-raised");
            assert_eq!(message(&*err), "PanicOnDrop");
        },
    );
    r.unwrap();
}

/// One unsent callback with a panicking capture at teardown: the panic
/// surfaces from the loop's drop, and everything else is still freed.
#[test]
fn teardown_of_one_unsent_callback_with_a_panicking_capture() {
    let r = in_child(
        "teardown_of_one_unsent_callback_with_a_panicking_capture",
        || {
            let drops = DropCounter::default();
            let lp = Loop::new().unwrap();
            let (s, _b) = pair(&lp);
            let (me, tok, bomb) = (s.clone(), drops.token(), PanicOnDrop);
            s.send_then(vec![5u8; BIG], move |_, _, _| {
                let _ = (&bomb, &me);
                tok.touch();
            })
            .unwrap();
            let closes = record_close(&s, &drops);
            s.destroy();
            drop(s);
            let err = catch_unwind(AssertUnwindSafe(move || drop(lp))).expect_err("re-raised");
            assert_eq!(message(&*err), "PanicOnDrop");
            assert_eq!(*closes.borrow(), vec![false]);
            assert_eq!(drops.dropped(), 2);
        },
    );
    r.unwrap();
}

/// A close listener at teardown destroys another socket whose sends hold
/// it: the other's close is emitted once and its cycle freed.
#[test]
fn a_close_listener_at_teardown_destroys_another_socket_with_unsent_sends() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (a, _pa) = pair(&lp);
    let (b, _pb) = pair(&lp);
    let outcomes_b = queue_sends(&b, 2, &drops);
    let closes_b = record_close(&b, &drops);
    let closes_a = record_close(&a, &drops);
    let other = b.clone();
    a.on_close(move |_, _, _| other.destroy());
    // And the other way round, whichever the table tears down first.
    let other = a.clone();
    b.on_close(move |_, _, _| other.destroy());
    drop((a, b));
    drop(lp);
    assert!(outcomes_b.borrow().is_empty());
    assert_eq!(*closes_a.borrow(), vec![false]);
    assert_eq!(*closes_b.borrow(), vec![false]);
    assert_eq!(drops.dropped(), 4);
}

/// A cleanup watcher (run first at teardown, while the loop still works)
/// destroys a socket whose sends hold it: its close step is queued on a
/// loop that will not run again; teardown emits `close` once and frees it.
#[test]
fn a_cleanup_callback_closes_a_socket_with_unsent_sends() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (s, _b) = pair(&lp);
    let outcomes = queue_sends(&s, 2, &drops);
    let closes = record_close(&s, &drops);
    let me = s.clone();
    let _c = hinge::Cleanup::new(&lp, move |lp, _| {
        me.destroy();
        assert!(!lp.run_once(), "a loop being torn down does not run");
    });
    drop(s);
    drop(lp);
    assert!(outcomes.borrow().is_empty());
    assert_eq!(*closes.borrow(), vec![false]);
    assert_eq!(drops.dropped(), 3);
}

/// The loop dropped while a panic unwinds, with a close queued whose
/// unsent callback's capture panics on drop: no abort, the outer panic
/// wins, everything is freed.
#[test]
fn loop_dropped_while_unwinding_with_a_queued_close_and_a_panicking_capture() {
    let r = in_child(
        "loop_dropped_while_unwinding_with_a_queued_close_and_a_panicking_capture",
        || {
            let drops = DropCounter::default();
            let d = drops.clone();
            let err = catch_unwind(AssertUnwindSafe(move || {
                let lp = Loop::new().unwrap();
                let (s, _b) = pair(&lp);
                let (me, tok, bomb) = (s.clone(), d.token(), PanicOnDrop);
                s.send_then(vec![5u8; BIG], move |_, _, _| {
                    let _ = (&bomb, &me);
                    tok.touch();
                })
                .unwrap();
                let tok = d.token();
                s.on_close(move |_, _, _| {
                    tok.touch();
                    panic!("close at teardown panics too");
                });
                s.destroy();
                panic!("outer");
            }))
            .expect_err("the outer panic");
            assert_eq!(message(&*err), "outer");
            assert_eq!(drops.dropped(), 2);
        },
    );
    r.unwrap();
}

/// A send that went out whole, with a callback (deferred `Ok`), then
/// `destroy`: the callback runs once with `Ok`, before `close`.
#[test]
fn a_written_sends_ok_callback_runs_before_the_close_it_preceded() {
    let lp = Loop::new().unwrap();
    let (s, _b) = pair(&lp);
    let order = Rc::new(RefCell::new(Vec::new()));
    let o = order.clone();
    s.send_then(b"small", move |_, _, r| {
        o.borrow_mut().push(format!("written {}", r.is_ok()))
    })
    .unwrap();
    let o = order.clone();
    s.on_close(move |_, _, e| o.borrow_mut().push(format!("close {e}")));
    s.destroy();
    run_bounded(&lp, 5);
    assert_eq!(*order.borrow(), vec!["written true", "close false"]);
}

/// A close listener at run time destroys a socket with unsent sends and
/// then the loop is dropped before that socket's close step runs.
#[test]
fn a_close_queued_from_a_close_listener_then_the_loop_dropped() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (a, _pa) = pair(&lp);
    let (b, _pb) = pair(&lp);
    let outcomes_b = queue_sends(&b, 2, &drops);
    let closes_b = record_close(&b, &drops);
    let other = b.clone();
    a.on_close(move |lp, _, _| {
        other.destroy();
        lp.break_all();
    });
    a.destroy();
    lp.run_once();
    assert!(closes_b.borrow().is_empty(), "queued, not yet run");
    drop((a, b));
    drop(lp);
    assert!(outcomes_b.borrow().is_empty());
    assert_eq!(*closes_b.borrow(), vec![false]);
    assert_eq!(drops.dropped(), 3);
}
