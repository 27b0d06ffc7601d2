//! Cleanup watchers run when the loop is dropped.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::{DropCounter, Hits};
use hinge::{Cleanup, Loop, Timer, Watcher};

#[test]
fn cleanup_runs_on_drop_and_does_not_keep_run_alive() {
    let lp = Loop::new().unwrap();
    let hits = Hits::default();
    let h = hits.clone();
    let c = Cleanup::new(&lp, move |lp, _| {
        h.hit();
        assert!(!lp.run(), "run does nothing during teardown");
    });
    lp.run(); // returns at once
    assert_eq!(hits.get(), 0);
    drop(lp);
    assert_eq!(hits.get(), 1);
    assert!(!c.is_active(), "inert after its loop is gone");
}

#[test]
fn cleanup_can_stop_other_watchers_and_create_new_ones_safely() {
    let lp = Loop::new().unwrap();
    let drops = DropCounter::default();
    let tok = drops.token();
    let timer = Rc::new(Timer::new(
        &lp,
        Duration::from_secs(60),
        Duration::ZERO,
        move |_, _| {
            let _ = &tok;
        },
    ));
    let t = timer.clone();
    let created = Rc::new(RefCell::new(None));
    let c2 = created.clone();
    let _c = Cleanup::new(&lp, move |lp, _| {
        t.stop();
        // A watcher created during teardown is stopped and detached too.
        *c2.borrow_mut() = Some(Timer::new(lp, Duration::ZERO, Duration::ZERO, |_, _| {}));
    });
    drop(lp);
    assert!(!timer.is_active());
    assert_eq!(
        drops.dropped(),
        1,
        "the timer's closure was freed with the loop"
    );
    assert!(!created.borrow().as_ref().unwrap().is_active());
}

#[test]
fn a_stopped_cleanup_does_not_run() {
    let lp = Loop::new().unwrap();
    let c = Cleanup::new(&lp, |_, _| panic!("stopped cleanup ran"));
    c.stop();
    drop(lp);
}

#[test]
fn unref_on_a_cleanup_watcher_does_not_disturb_the_loop() {
    // libev already keeps cleanup watchers from holding a reference.
    let lp = Loop::new().unwrap();
    let c = Cleanup::new(&lp, |_, _| {});
    c.unref();
    c.ref_();
    c.unref();
    let hits = Hits::default();
    let h = hits.clone();
    let _t = Timer::new(
        &lp,
        Duration::from_millis(2),
        Duration::ZERO,
        move |_, _| h.hit(),
    );
    lp.run(); // neither hangs nor returns before the timer
    assert_eq!(hits.get(), 1);
}
