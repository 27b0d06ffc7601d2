//! Idle watchers run only when nothing else is pending.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::Hits;
use hinge::{Idle, Loop, Timer, Watcher};

#[test]
fn idle_runs_each_iteration_until_stopped() {
    let lp = Loop::new().unwrap();
    let hits = Hits::default();
    let h = hits.clone();
    let _idle = Idle::new(&lp, move |_, idle| {
        h.hit();
        if h.get() == 100 {
            idle.stop();
        }
    });
    lp.run();
    assert_eq!(hits.get(), 100);
    assert!(lp.iteration() >= 100);
}

#[test]
fn idle_yields_to_higher_priority_events() {
    let lp = Loop::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let idle = Idle::new(&lp, move |_, idle| {
        l.borrow_mut().push("idle");
        idle.stop();
    });
    // The idle watcher has the lowest priority, a timer the default one.
    idle.stop();
    idle.set_priority(hinge::priority_range().0).unwrap();
    idle.start();
    let l = log.clone();
    let _t = Timer::new(&lp, Duration::ZERO, Duration::ZERO, move |_, _| {
        l.borrow_mut().push("timer")
    });
    lp.run();
    assert_eq!(*log.borrow(), vec!["timer", "idle"]);
}
