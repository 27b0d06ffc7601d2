//! Drop rules, proven with drop counters: dropping a watcher frees its
//! closure; dropping the loop frees everything still registered; callbacks
//! may drop their own watcher or others.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::{DropCounter, Hits};
use hinge::{Async, Idle, Io, Loop, Ready, Signal, Stat, Timer, Watcher};

#[test]
fn dropping_a_watcher_frees_its_closure_at_once() {
    let lp = Loop::new().unwrap();
    let drops = DropCounter::default();
    let tok = drops.token();
    let t = Timer::new(&lp, Duration::from_secs(60), Duration::ZERO, move |_, _| {
        let _ = &tok;
    });
    assert_eq!(drops.dropped(), 0);
    drop(t);
    assert_eq!(drops.dropped(), 1);
    assert!(!lp.run(), "nothing active is left");
}

#[test]
fn dropping_the_loop_frees_every_closure_of_every_kind() {
    let lp = Loop::new().unwrap();
    let drops = DropCounter::default();
    let (a, b, c, d, e, f) = (
        drops.token(),
        drops.token(),
        drops.token(),
        drops.token(),
        drops.token(),
        drops.token(),
    );
    let (r, _w) = std::os::unix::net::UnixStream::pair().unwrap();
    let handles = (
        Timer::new(&lp, Duration::from_secs(60), Duration::ZERO, move |_, _| {
            a.touch()
        }),
        Idle::new(&lp, move |_, _| b.touch()),
        Io::new(&lp, r, Ready::READ, move |_, _, _| c.touch()).unwrap(),
        Async::new(&lp, move |_, _| d.touch()),
        Signal::new(&lp, libc::SIGWINCH, move |_, _| e.touch()).unwrap(),
        Stat::new(&lp, "/", Duration::ZERO, move |_, _| f.touch()).unwrap(),
    );
    drop(lp);
    assert_eq!(drops.dropped(), 6);
    // Handles outlive the loop safely and are inert.
    assert!(!handles.0.is_active());
    handles.0.start();
    handles.0.again();
    handles.1.feed_event(Ready::CUSTOM);
    assert!(!handles.1.is_pending());
    assert!(!handles.3.sender().send());
    drop(handles);
    assert_eq!(drops.dropped(), 6, "no double drop");
}

#[test]
fn a_callback_may_drop_its_own_watcher() {
    let lp = Loop::new().unwrap();
    let drops = DropCounter::default();
    let tok = drops.token();
    let slot: Rc<RefCell<Option<Timer>>> = Rc::default();
    let s = slot.clone();
    let hits = Hits::default();
    let h = hits.clone();
    *slot.borrow_mut() = Some(Timer::new(
        &lp,
        Duration::ZERO,
        Duration::from_millis(1),
        move |_, _| {
            let _ = &tok;
            h.hit();
            // Dropping ourselves: the closure (and `s` with it) dies after we return.
            s.borrow_mut().take();
        },
    ));
    lp.run();
    assert_eq!(hits.get(), 1);
    assert_eq!(drops.dropped(), 1);
    assert!(slot.borrow().is_none());
}

#[test]
fn a_callback_may_drop_another_pending_watcher() {
    // Two idles pending in the same iteration, each dropping the other:
    // whichever libev dispatches first wins, and the other, though already
    // pending, must never run.
    let lp = Loop::new().unwrap();
    let ran = Hits::default();
    let drops = DropCounter::default();
    let slots: Rc<RefCell<Vec<Option<Idle>>>> = Rc::new(RefCell::new(vec![None, None]));
    for i in 0..2 {
        let (s, r, tok) = (slots.clone(), ran.clone(), drops.token());
        let idle = Idle::new(&lp, move |_, _| {
            let _ = &tok;
            r.hit();
            let other = s.borrow_mut()[1 - i].take();
            drop(other);
            // Stop ourselves by dropping too, so run() can end.
            let me = s.borrow_mut()[i].take();
            drop(me);
        });
        slots.borrow_mut()[i] = Some(idle);
    }
    lp.run();
    assert_eq!(ran.get(), 1);
    assert_eq!(drops.dropped(), 2);
}

#[test]
fn a_callback_may_create_watchers_that_outlive_it() {
    let lp = Loop::new().unwrap();
    let made: Rc<RefCell<Vec<Timer>>> = Rc::default();
    let hits = Hits::default();
    let (m, h) = (made.clone(), hits.clone());
    let _root = Timer::new(&lp, Duration::ZERO, Duration::ZERO, move |lp, _| {
        for _ in 0..10 {
            let h = h.clone();
            m.borrow_mut().push(Timer::new(
                lp,
                Duration::from_millis(1),
                Duration::ZERO,
                move |_, _| h.hit(),
            ));
        }
    });
    lp.run();
    assert_eq!(hits.get(), 10);
}

#[test]
fn replaced_callbacks_are_dropped_exactly_once() {
    let lp = Loop::new().unwrap();
    let drops = DropCounter::default();
    let first = drops.token();
    let t = Timer::new(&lp, Duration::ZERO, Duration::ZERO, move |_, _| {
        let _ = &first;
    });
    let second = drops.token();
    t.set_callback(move |_, _| {
        let _ = &second;
    });
    assert_eq!(drops.dropped(), 1);
    lp.run();
    drop(t);
    assert_eq!(drops.dropped(), 2);
}

#[test]
fn create_and_drop_many_watchers_without_growth() {
    // Registry slots are reused; nothing accumulates.
    let lp = Loop::new().unwrap();
    let drops = DropCounter::default();
    for _ in 0..10_000 {
        let tok = drops.token();
        let t = Timer::new(&lp, Duration::from_secs(1), Duration::ZERO, move |_, _| {
            let _ = &tok;
        });
        drop(t);
    }
    assert_eq!(drops.dropped(), 10_000);
    assert!(!lp.run());
}
