//! Node-style timers owned by the loop.

mod common;

use std::time::{Duration, Instant};

use common::{run_bounded, DropCounter, Hits};
use hinge::Loop;

#[test]
fn set_timeout_fires_once_even_if_the_handle_is_dropped() {
    let lp = Loop::new().unwrap();
    let hits = Hits::default();
    let h = hits.clone();
    let start = Instant::now();
    drop(lp.set_timeout(Duration::from_millis(10), move |_| h.hit()));
    run_bounded(&lp, 5);
    assert_eq!(hits.get(), 1);
    assert!(start.elapsed() >= Duration::from_millis(9));
}

#[test]
fn clear_cancels_and_frees_the_closure() {
    let lp = Loop::new().unwrap();
    let drops = DropCounter::default();
    let tok = drops.token();
    let t = lp.set_timeout(Duration::from_secs(60), move |_| tok.touch());
    assert!(t.is_active());
    t.clear();
    t.clear(); // twice is fine
    assert!(!t.is_active());
    assert_eq!(drops.dropped(), 1);
    lp.run(); // nothing left
}

#[test]
fn an_interval_clears_itself_from_its_own_callback() {
    let lp = Loop::new().unwrap();
    let hits = Hits::default();
    let drops = DropCounter::default();
    let (h, tok) = (hits.clone(), drops.token());
    lp.set_interval(Duration::from_millis(1), move |_, me| {
        tok.touch();
        h.hit();
        if h.get() == 5 {
            me.clear();
        }
    });
    run_bounded(&lp, 5);
    assert_eq!(hits.get(), 5);
    assert_eq!(drops.dropped(), 1);
}

#[test]
fn an_unref_interval_does_not_keep_the_loop_alive() {
    let lp = Loop::new().unwrap();
    let bg = Hits::default();
    let b = bg.clone();
    lp.set_interval(Duration::from_millis(1), move |_, _| b.hit())
        .unref();
    // The only referenced watcher: it lets go once the interval has
    // repeated (however slow the machine, e.g. under valgrind), and then
    // run must return with the unref'd interval still active.
    let b = bg.clone();
    lp.set_interval(Duration::from_millis(2), move |_, me| {
        if b.get() >= 3 {
            me.clear();
        }
    });
    run_bounded(&lp, 5);
    assert!(bg.get() >= 3);
}
