//! Timers on real time.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{run_bounded, DropCounter, Hits};
use hinge::{Loop, Timer, Watcher};

#[test]
fn one_shot_fires_once_after_its_delay_and_run_returns() {
    let lp = Loop::new().unwrap();
    let hits = Hits::default();
    let h = hits.clone();
    let start = Instant::now();
    let t = Timer::new(
        &lp,
        Duration::from_millis(20),
        Duration::ZERO,
        move |_, _| h.hit(),
    );
    assert!(t.is_active());
    assert!(!lp.run());
    assert_eq!(hits.get(), 1);
    assert!(
        start.elapsed() >= Duration::from_millis(19),
        "fired early: {:?}",
        start.elapsed()
    );
    assert!(!t.is_active(), "libev stops a one-shot timer");
}

#[test]
fn repeating_timer_fires_until_stopped_from_its_callback() {
    let lp = Loop::new().unwrap();
    let (_t, hits) = common::ticker(&lp, Duration::from_millis(2), 5, |_, _| {});
    lp.run();
    assert_eq!(hits.get(), 5);
}

#[test]
fn timers_fire_in_deadline_order() {
    let lp = Loop::new().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let mut keep = Vec::new();
    for ms in [30u64, 10, 20] {
        let o = order.clone();
        keep.push(Timer::new(
            &lp,
            Duration::from_millis(ms),
            Duration::ZERO,
            move |_, _| o.borrow_mut().push(ms),
        ));
    }
    lp.run();
    assert_eq!(*order.borrow(), vec![10, 20, 30]);
}

#[test]
fn again_pushes_an_inactivity_timeout_forward() {
    let lp = Loop::new().unwrap();
    let fired_at = Rc::new(RefCell::new(None));
    let f = fired_at.clone();
    let start = Instant::now();
    let timeout = Rc::new(Timer::new(
        &lp,
        Duration::ZERO,
        Duration::from_millis(30),
        move |_, t| {
            *f.borrow_mut() = Some(start.elapsed());
            t.stop();
        },
    ));
    timeout.again(); // now 30 ms out
                     // "Activity" every 10 ms for 50 ms keeps re-arming it.
    let to = timeout.clone();
    let mut bumps = 0;
    let _activity = Timer::new(
        &lp,
        Duration::from_millis(10),
        Duration::from_millis(10),
        move |_, t| {
            to.again();
            bumps += 1;
            if bumps == 5 {
                t.stop();
            }
        },
    );
    lp.run();
    let fired = fired_at.borrow().expect("timeout fired");
    assert!(
        fired >= Duration::from_millis(75),
        "fired after only {fired:?}"
    );
}

#[test]
fn remaining_counts_down_and_set_reconfigures() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp, Duration::from_secs(10), Duration::ZERO, |_, _| {});
    let left = t.remaining();
    assert!(
        left <= Duration::from_secs(10) && left > Duration::from_secs(9),
        "{left:?}"
    );
    t.set(Duration::from_millis(1), Duration::ZERO);
    assert!(t.is_active(), "set restarts an active timer");
    assert!(t.remaining() <= Duration::from_millis(1));
    lp.run();
    assert!(!t.is_active());
    assert_eq!(t.remaining(), Duration::ZERO);
}

#[test]
fn a_callback_can_restart_its_own_one_shot_timer() {
    let lp = Loop::new().unwrap();
    let hits = Hits::default();
    let h = hits.clone();
    let _t = Timer::new(
        &lp,
        Duration::from_millis(1),
        Duration::ZERO,
        move |_, t| {
            h.hit();
            if h.get() < 3 {
                t.start();
            }
        },
    );
    lp.run();
    assert_eq!(hits.get(), 3);
}

#[test]
fn set_callback_from_inside_the_callback_takes_effect_next_time() {
    let lp = Loop::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let _t = Timer::new(
        &lp,
        Duration::ZERO,
        Duration::from_millis(1),
        move |_, t| {
            l.borrow_mut().push("first");
            let l2 = l.clone();
            t.set_callback(move |_, t| {
                l2.borrow_mut().push("second");
                t.stop();
            });
        },
    );
    lp.run();
    assert_eq!(*log.borrow(), vec!["first", "second"]);
}

#[test]
fn an_unreferenced_timer_does_not_keep_run_alive_but_still_fires() {
    let lp = Loop::new().unwrap();
    let hits = Hits::default();
    let h = hits.clone();
    let bg = Timer::new(
        &lp,
        Duration::from_millis(1),
        Duration::from_millis(1),
        move |_, _| h.hit(),
    );
    bg.unref();
    // Nothing referenced: run returns at once.
    let start = Instant::now();
    lp.run();
    assert!(start.elapsed() < Duration::from_millis(500));
    // With a referenced timer running for 30 ms, the background one fires too.
    let _fg = Timer::new(&lp, Duration::from_millis(30), Duration::ZERO, |_, _| {});
    lp.run();
    assert!(
        hits.get() >= 5,
        "background timer fired {} times",
        hits.get()
    );
    // Re-referencing makes it keep the loop alive again; stop it from a one-shot.
    bg.ref_();
    let bg = Rc::new(bg);
    let b = bg.clone();
    let _stopper = Timer::new(
        &lp,
        Duration::from_millis(5),
        Duration::ZERO,
        move |_, _| b.stop(),
    );
    lp.run();
    assert!(!bg.is_active());
}

#[test]
fn unref_one_shot_that_libev_stops_keeps_the_count_balanced() {
    // libev stops an expired one-shot itself; hinge must not drift the
    // loop's reference count, or later runs would hang or return early.
    let lp = Loop::new().unwrap();
    for _ in 0..3 {
        let t = Timer::new(&lp, Duration::ZERO, Duration::ZERO, |_, _| {});
        t.unref();
        let _keep = Timer::new(&lp, Duration::from_millis(2), Duration::ZERO, |_, _| {});
        lp.run();
        assert!(!t.is_active());
    }
    let hits = Hits::default();
    let h = hits.clone();
    let _last = Timer::new(
        &lp,
        Duration::from_millis(2),
        Duration::ZERO,
        move |_, _| h.hit(),
    );
    lp.run();
    assert_eq!(hits.get(), 1, "run still waits for referenced timers");
}

/// Timers keep their libev structs in a per-loop pool of chunks: many
/// timers span several chunks, dropped ones give their slots to new ones,
/// and every timer still fires at its deadline, in order.
#[test]
fn thousands_of_timers_reuse_slots_and_fire_in_order() {
    let lp = Loop::new().unwrap();
    let fired = Rc::new(RefCell::new(Vec::new()));
    let drops = DropCounter::default();
    let make = |i: usize| {
        let f = fired.clone();
        let tok = drops.token();
        // Deadlines 1..=8 ms, interleaved so the heap reorders them.
        let ms = 1 + (i * 5) % 8;
        Timer::new(
            &lp,
            Duration::from_millis(ms as u64),
            Duration::ZERO,
            move |_, _| {
                tok.touch();
                f.borrow_mut().push((ms, i));
            },
        )
    };
    let mut timers: Vec<Timer> = (0..3000).map(make).collect();
    // Free every other slot across all chunks, then refill them.
    let mut i = 0;
    timers.retain(|_| {
        i += 1;
        i % 2 == 0
    });
    assert_eq!(drops.dropped(), 1500);
    timers.extend((3000..4500).map(make));
    run_bounded(&lp, 5);
    let fired = fired.borrow();
    assert_eq!(fired.len(), 3000);
    assert!(fired.windows(2).all(|w| w[0].0 <= w[1].0), "out of order");
    let mut ids: Vec<usize> = fired.iter().map(|&(_, i)| i).collect();
    ids.sort_unstable();
    let mut want: Vec<usize> = (1..3000).step_by(2).chain(3000..4500).collect();
    want.sort_unstable();
    assert_eq!(ids, want);
    // One-shot timers keep their closures until dropped.
    drop(timers);
    assert_eq!(drops.dropped(), 4500);
}

/// A timer may outlive its loop: its pooled struct stays valid, inert.
#[test]
fn timers_outliving_their_loop_stay_inert() {
    let lp = Loop::new().unwrap();
    let timers: Vec<Timer> = (0..600)
        .map(|_| Timer::new(&lp, Duration::from_secs(60), Duration::ZERO, |_, _| {}))
        .collect();
    drop(lp);
    for t in &timers {
        assert!(!t.is_active());
        t.start();
        t.again();
        assert!(!t.is_active());
    }
}
