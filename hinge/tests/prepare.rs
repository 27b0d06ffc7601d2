//! Prepare watchers run just before the loop blocks.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use hinge::{Check, Loop, Prepare, Timer, Watcher};

#[test]
fn prepare_runs_before_blocking_and_check_after_waking() {
    let lp = Loop::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let prepare = Prepare::new(&lp, move |_, _| l.borrow_mut().push("prepare"));
    let l = log.clone();
    let check = Check::new(&lp, move |_, _| l.borrow_mut().push("check"));
    let l = log.clone();
    let _t = Timer::new(
        &lp,
        Duration::from_millis(5),
        Duration::ZERO,
        move |_, _| l.borrow_mut().push("timer"),
    );
    // Prepare and check alone would keep the loop alive: unref them.
    prepare.unref();
    check.unref();
    lp.run();
    let log = log.borrow();
    let timer = log.iter().position(|e| *e == "timer").expect("timer ran");
    assert_eq!(log[0], "prepare", "{log:?}");
    assert_eq!(
        log[timer - 1],
        "check",
        "check runs right after waking: {log:?}"
    );
    assert!(prepare.is_active() && check.is_active());
}

#[test]
fn a_prepare_watcher_can_stop_itself() {
    let lp = Loop::new().unwrap();
    // A prepare alone would let the loop block forever; an idle keeps it
    // iterating until the prepare is done.
    let mut n = 0;
    let p = Prepare::new(&lp, move |_, p| {
        n += 1;
        if n == 3 {
            p.stop();
        }
    });
    let p = std::rc::Rc::new(p);
    let watched = p.clone();
    let _spin = hinge::Idle::new(&lp, move |_, idle| {
        if !watched.is_active() {
            idle.stop();
        }
    });
    lp.run();
    assert!(!p.is_active());
}
