//! Check watchers run just after the loop wakes.

mod common;

use std::time::Duration;

use common::Hits;
use hinge::{Check, Loop, Timer, Watcher};

#[test]
fn check_runs_once_per_iteration() {
    let lp = Loop::new().unwrap();
    let hits = Hits::default();
    let h = hits.clone();
    let check = Check::new(&lp, move |_, _| h.hit());
    check.unref();
    let mut left = 5;
    let _t = Timer::new(
        &lp,
        Duration::ZERO,
        Duration::from_millis(1),
        move |_, t| {
            left -= 1;
            if left == 0 {
                t.stop();
            }
        },
    );
    lp.run();
    let iterations = lp.iteration() as usize;
    assert!(
        hits.get() >= 5 && hits.get() <= iterations,
        "{} checks, {iterations} iterations",
        hits.get()
    );
}
