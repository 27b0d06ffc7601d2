//! Periodic watchers on the real wall clock.

mod common;

use std::time::Duration;

use common::Hits;
use hinge::{Error, Loop, Periodic, Watcher};

#[test]
fn fires_at_an_absolute_time() {
    let lp = Loop::new().unwrap();
    let when = hinge::time() + 0.02;
    let fired = std::rc::Rc::new(std::cell::Cell::new(0.0));
    let f = fired.clone();
    let p = Periodic::new(&lp, when, Duration::ZERO, move |_, _| f.set(hinge::time())).unwrap();
    assert!((p.at() - when).abs() < 1e-6);
    lp.run();
    assert!(
        fired.get() >= when - 0.001,
        "fired at {} before {when}",
        fired.get()
    );
    assert!(!p.is_active());
}

#[test]
fn interval_mode_fires_on_multiples_of_the_interval() {
    let lp = Loop::new().unwrap();
    let hits = Hits::default();
    let h = hits.clone();
    let interval = 0.01;
    let _p = Periodic::new(&lp, 0.0, Duration::from_secs_f64(interval), move |_, p| {
        h.hit();
        // Each scheduled time is a multiple of the interval.
        let k = p.at() / interval;
        assert!(
            (k - k.round()).abs() < 1e-3,
            "at {} is not on the grid",
            p.at()
        );
        if h.get() == 3 {
            p.stop();
        }
    })
    .unwrap();
    lp.run();
    assert_eq!(hits.get(), 3);
}

#[test]
fn set_and_again_reschedule() {
    let lp = Loop::new().unwrap();
    let p = Periodic::new(&lp, 0.0, Duration::from_secs(3600), |_, _| {}).unwrap();
    p.set(hinge::time() + 0.005, Duration::ZERO).unwrap();
    p.again();
    assert!(p.is_active());
    lp.run();
    assert!(!p.is_active());
    assert!(matches!(
        p.set(f64::NAN, Duration::ZERO),
        Err(Error::InvalidTime(_))
    ));
    assert!(matches!(
        Periodic::new(&lp, f64::INFINITY, Duration::ZERO, |_, _| {}),
        Err(Error::InvalidTime(_))
    ));
}

#[test]
fn far_off_offsets_with_tiny_intervals_return_and_fire() {
    // libev steps from the offset to now: hinge must hand it an offset
    // within one interval, or these take ~10^18 steps.
    for offset in [1e300, -1e20, -1e300, 1e20] {
        let lp = Loop::new().unwrap();
        let hits = Hits::default();
        let h = hits.clone();
        let p = Periodic::new(&lp, offset, Duration::from_nanos(1), move |_, p| {
            h.hit();
            p.stop();
        })
        .unwrap();
        assert!(
            (p.at() - hinge::time()).abs() < 1.0,
            "offset {offset}: at {}",
            p.at()
        );
        common::run_bounded(&lp, 10);
        assert_eq!(hits.get(), 1, "offset {offset}");
        // set() takes the same path.
        p.set(offset, Duration::from_micros(1)).unwrap();
        assert!((p.at() - hinge::time()).abs() < 1.0);
    }
}

#[test]
fn an_absolute_time_far_away_is_accepted_and_never_comes() {
    let lp = Loop::new().unwrap();
    let p = Periodic::new(&lp, 1e300, Duration::ZERO, |_, _| panic!("never")).unwrap();
    assert_eq!(p.at(), 1e300);
    p.unref();
    common::run_bounded(&lp, 10);
}
