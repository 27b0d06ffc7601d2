//! The deferred queue: priorities, FIFO order, and no starvation of I/O.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::{run_bounded, Hits};
use hinge::{Loop, Priority};

#[test]
fn fifo_within_a_priority_and_high_before_low() {
    let lp = Loop::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    for (p, name) in [
        (Priority::Low, "low1"),
        (Priority::Normal, "n1"),
        (Priority::High, "h1"),
        (Priority::Low, "low2"),
        (Priority::Normal, "n2"),
        (Priority::High, "h2"),
    ] {
        let l = log.clone();
        lp.defer_with(p, move |_| l.borrow_mut().push(name));
    }
    lp.run();
    assert_eq!(*log.borrow(), ["h1", "h2", "n1", "n2", "low1", "low2"]);
}

#[test]
fn a_self_requeueing_closure_does_not_starve_timers_or_io() {
    let lp = Loop::new().unwrap();
    let spins = Hits::default();
    fn again(lp: &Loop, spins: Hits) {
        spins.hit();
        let s = spins.clone();
        lp.defer(move |lp| again(lp, s));
    }
    let s = spins.clone();
    lp.defer(move |lp| again(lp, s));
    let fired = Hits::default();
    let f = fired.clone();
    let _t = lp.set_timeout(Duration::from_millis(20), move |lp| {
        f.hit();
        lp.break_all();
    });
    run_bounded(&lp, 10);
    assert_eq!(
        fired.get(),
        1,
        "the timer ran although the queue never empties"
    );
    assert!(spins.get() >= 1);
}
