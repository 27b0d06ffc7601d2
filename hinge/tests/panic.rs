//! A panic in a callback never unwinds into C: it is caught, breaks the
//! loop, and resumes from `run` on the caller's side.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use common::{DropCounter, Hits};
use hinge::{Idle, Loop, Timer, Watcher};

fn message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn panic_resumes_from_run_and_the_loop_stays_usable() {
    let lp = Loop::new().unwrap();
    let hits = Hits::default();
    let h = hits.clone();
    let t = Timer::new(
        &lp,
        Duration::ZERO,
        Duration::from_millis(1),
        move |_, _| {
            h.hit();
            if h.get() == 2 {
                panic!("boom in callback");
            }
            if h.get() == 4 {
                // later: stop normally
            }
        },
    );
    let err = catch_unwind(AssertUnwindSafe(|| lp.run())).expect_err("run re-raises the panic");
    assert_eq!(message(err), "boom in callback");
    assert_eq!(hits.get(), 2);
    // The watcher and its closure survived; the loop runs on.
    assert!(t.is_active());
    let stopper = Timer::new(&lp, Duration::from_millis(5), Duration::ZERO, |lp, _| {
        lp.break_all()
    });
    lp.run();
    assert!(hits.get() > 2);
    drop(stopper);
}

#[test]
fn only_the_first_panic_of_an_iteration_is_raised() {
    // Both idles are pending in one iteration and both panic; the one
    // libev dispatched first is the one `run` raises.
    let lp = Loop::new().unwrap();
    let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let (o1, o2) = (order.clone(), order.clone());
    let _a = Idle::new(&lp, move |_, _| {
        o1.borrow_mut().push("a");
        panic!("a")
    });
    let _b = Idle::new(&lp, move |_, _| {
        o2.borrow_mut().push("b");
        panic!("b")
    });
    let err = catch_unwind(AssertUnwindSafe(|| lp.run())).unwrap_err();
    assert_eq!(
        order.borrow().len(),
        2,
        "the iteration's other callback still ran"
    );
    assert_eq!(message(err), order.borrow()[0]);
}

#[test]
fn a_panic_in_a_nested_run_reaches_the_outermost_run() {
    let lp = Loop::new().unwrap();
    let _outer = Timer::new(&lp, Duration::ZERO, Duration::ZERO, |lp, _| {
        let _inner = Timer::new(lp, Duration::ZERO, Duration::ZERO, |_, _| panic!("inner"));
        lp.run();
        unreachable!("the nested run re-raised");
    });
    let err = catch_unwind(AssertUnwindSafe(|| lp.run())).unwrap_err();
    assert_eq!(message(err), "inner");
}

#[test]
fn a_panicking_callback_that_dropped_its_watcher_frees_its_closure() {
    let lp = Loop::new().unwrap();
    let drops = DropCounter::default();
    let tok = drops.token();
    let slot = std::rc::Rc::new(std::cell::RefCell::new(None));
    let s = slot.clone();
    *slot.borrow_mut() = Some(Timer::new(
        &lp,
        Duration::ZERO,
        Duration::ZERO,
        move |_, _| {
            let _ = &tok;
            s.borrow_mut().take();
            panic!("after dropping myself");
        },
    ));
    assert!(catch_unwind(AssertUnwindSafe(|| lp.run())).is_err());
    assert_eq!(drops.dropped(), 1);
}

#[test]
fn a_panic_in_a_cleanup_callback_surfaces_when_the_loop_drops() {
    let lp = Loop::new().unwrap();
    let _c = hinge::Cleanup::new(&lp, |_, _| panic!("cleanup"));
    let err = catch_unwind(AssertUnwindSafe(move || drop(lp))).unwrap_err();
    assert_eq!(message(err), "cleanup");
}

/// A value whose destructor panics.
struct Boom;
impl Drop for Boom {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("boom in drop");
        }
    }
}

#[test]
fn a_panicking_destructor_in_a_replaced_callback_surfaces_from_run() {
    let lp = Loop::new().unwrap();
    let b = Boom;
    let _t = Timer::new(&lp, Duration::ZERO, Duration::ZERO, move |_, t| {
        let _ = &b;
        // Replacing ourselves drops this closure (and Boom) after we return.
        t.set_callback(|_, _| {});
    });
    let err = catch_unwind(AssertUnwindSafe(|| lp.run())).unwrap_err();
    assert_eq!(message(err), "boom in drop");
}

#[test]
fn a_panicking_destructor_during_loop_teardown_still_tears_everything_down() {
    let lp = Loop::new().unwrap();
    let drops = DropCounter::default();
    let tok = drops.token();
    let other = Timer::new(&lp, Duration::from_secs(60), Duration::ZERO, move |_, _| {
        tok.touch()
    });
    let b = Boom;
    let _c = hinge::Cleanup::new(&lp, move |_, c| {
        let _ = &b;
        c.set_callback(|_, _| {});
    });
    let err = catch_unwind(AssertUnwindSafe(move || drop(lp))).unwrap_err();
    assert_eq!(message(err), "boom in drop");
    // The other watcher was still stopped, detached and its closure freed.
    assert_eq!(drops.dropped(), 1);
    assert!(!other.is_active());
    other.start(); // inert, not a use-after-free
}

/// A panic payload whose own `Drop` panics again.
struct PayloadThatPanics;

impl Drop for PayloadThatPanics {
    fn drop(&mut self) {
        panic!("the payload's drop panics too");
    }
}

/// A value whose `Drop` panics with a `PayloadThatPanics`.
struct PanicsOnDrop(common::Token);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        std::panic::panic_any(PayloadThatPanics);
    }
}

/// Drops a caught payload that may panic when dropped, as a user must.
fn drop_guarded(payload: Box<dyn std::any::Any + Send>) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
}

#[test]
fn loop_teardown_with_panicking_drops_and_payloads_never_aborts() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let mut keep = Vec::new();
    for _ in 0..4 {
        let bomb = PanicsOnDrop(drops.token());
        keep.push(Timer::new(
            &lp,
            Duration::from_secs(60),
            Duration::ZERO,
            move |_, _| {
                bomb.0.touch();
            },
        ));
    }
    // The loop's drop frees every closure and re-raises one panic.
    let outcome = catch_unwind(AssertUnwindSafe(move || drop(lp)));
    let payload = outcome.expect_err("one panic is re-raised");
    assert!(payload.is::<PayloadThatPanics>());
    drop_guarded(payload);
    assert_eq!(drops.dropped(), 4, "every closure was freed");
    drop(keep);
}

#[test]
fn callbacks_panicking_with_panicking_payloads_are_contained() {
    let lp = Loop::new().unwrap();
    let mut keep = Vec::new();
    for _ in 0..3 {
        keep.push(Idle::new(&lp, |_, _| {
            std::panic::panic_any(PayloadThatPanics)
        }));
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| lp.run()));
    let payload = outcome.expect_err("the first panic resumes from run");
    assert!(payload.is::<PayloadThatPanics>());
    drop_guarded(payload);
    drop(keep);
    // The loop still works.
    let hits = Hits::default();
    let h = hits.clone();
    let _t = Timer::new(&lp, Duration::ZERO, Duration::ZERO, move |_, _| h.hit());
    lp.run();
    assert_eq!(hits.get(), 1);
}

#[test]
fn an_emitter_clears_every_listener_even_if_one_drop_panics() {
    let drops = DropCounter::default();
    let ev: hinge::Event<(), ()> = hinge::Event::new();
    let bomb = PanicsOnDrop(drops.token());
    ev.on(move |_, _, _| bomb.0.touch());
    for _ in 0..3 {
        let t = drops.token();
        ev.on(move |_, _, _| t.touch());
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| ev.clear()));
    drop_guarded(outcome.expect_err("the drop's panic is re-raised"));
    assert_eq!(ev.listener_count(), 0);
    assert_eq!(drops.dropped(), 4);
}

#[test]
fn a_socket_whose_listeners_all_panic_on_drop_is_freed_with_its_loop() {
    use std::io::Read;
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let s = hinge::Socket::from_unix_stream(&lp, a).unwrap();
    let bombs: Vec<_> = (0..3).map(|_| PanicsOnDrop(drops.token())).collect();
    let mut bombs = bombs.into_iter();
    let (x, y, z) = (
        bombs.next().unwrap(),
        bombs.next().unwrap(),
        bombs.next().unwrap(),
    );
    s.on_data(move |_, _, _| x.0.touch());
    s.on_error(move |_, _, _| y.0.touch());
    s.on_close(move |_, _, _| z.0.touch());
    drop(s);
    let outcome = catch_unwind(AssertUnwindSafe(move || drop(lp)));
    drop_guarded(outcome.expect_err("one panic is re-raised"));
    assert_eq!(drops.dropped(), 3, "every listener was freed");
    let mut rest = Vec::new();
    b.read_to_end(&mut rest).unwrap(); // EOF: the fd was closed
}

#[test]
fn a_socket_listener_that_panics_with_a_capture_that_panics_on_drop_surfaces_from_run() {
    use std::io::Write;
    struct Loud;
    impl Drop for Loud {
        fn drop(&mut self) {
            panic!("the capture's drop panics");
        }
    }
    let lp = Loop::new().unwrap();
    let (server, port) = common::local_server(&lp);
    server.on_connection(|_, _, client| {
        let loud = Loud;
        client.on_data(move |_, _, _| {
            let _ = &loud;
            panic!("data listener")
        });
    });
    let mut peer = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    peer.write_all(b"x").unwrap();
    let err = catch_unwind(AssertUnwindSafe(|| lp.run())).expect_err("run re-raises");
    assert_eq!(message(err), "data listener");
    server.close();
    server.close_connections();
    drop(peer);
    common::run_bounded(&lp, 5);
}
