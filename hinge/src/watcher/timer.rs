//! Relative timers.

use std::time::Duration;

use crate::event_loop::seconds;
use crate::ffi::{Handle, TimerKind};
use crate::Loop;

/// Fires after a delay, then optionally every `repeat`.
///
/// Times are relative to the loop's cached [`now`](Loop::now). A repeating
/// timer with [`again`](Timer::again) is libev's cheap inactivity timeout:
/// restarting it on every activity costs almost nothing.
///
/// ```
/// use std::time::Duration;
/// use hinge::{Loop, Timer, Watcher};
///
/// let lp = Loop::new()?;
/// let mut ticks = 0;
/// let _t = Timer::new(&lp, Duration::ZERO, Duration::from_millis(1), move |_, t| {
///     ticks += 1;
///     if ticks == 3 {
///         t.stop();
///     }
/// });
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
#[must_use = "a watcher stops when its handle is dropped: keep it, e.g. `let _w = ...`"]
pub struct Timer {
    h: Handle<TimerKind>,
}

watcher_type!(Timer, TimerKind);

impl Timer {
    /// Creates and starts a timer that fires after `after` and then every
    /// `repeat` (never again if `repeat` is zero).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let lp = hinge::Loop::new()?;
    /// let t = hinge::Timer::new(&lp, Duration::from_millis(5), Duration::ZERO, |_, _| {});
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn new<F>(lp: &Loop, after: Duration, repeat: Duration, callback: F) -> Timer
    where
        F: FnMut(&Loop, &Timer) + 'static,
    {
        let t = Timer {
            h: Handle::new(lp, (), plain_callback!(Timer, callback)),
        };
        t.h.set(seconds(after), seconds(repeat));
        t.h.start();
        t
    }

    /// Changes the delay and repeat; restarts the timer if it was active.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// let t = hinge::Timer::new(&lp, Duration::from_secs(60), Duration::ZERO, |_, _| {});
    /// t.set(Duration::ZERO, Duration::ZERO);
    /// lp.run(); // fires at once
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set(&self, after: Duration, repeat: Duration) {
        self.h.set(seconds(after), seconds(repeat));
    }

    /// libev's `ev_timer_again`: if the timer repeats, (re)start it with
    /// `repeat` as the timeout; if `repeat` is zero, stop it. Use it to
    /// push an inactivity timeout forward on every activity.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use hinge::Watcher;
    /// # let lp = hinge::Loop::new()?;
    /// let t = hinge::Timer::new(&lp, Duration::ZERO, Duration::from_secs(30), |_, _| {});
    /// t.again(); // now 30 s from now
    /// assert!(t.remaining() > Duration::from_secs(29));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn again(&self) {
        self.h.again();
    }

    /// Time left until the timer fires (zero if inactive or detached).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// let t = hinge::Timer::new(&lp, Duration::from_secs(10), Duration::ZERO, |_, _| {});
    /// assert!(t.remaining() <= Duration::from_secs(10));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn remaining(&self) -> Duration {
        let left = self.h.remaining().unwrap_or(0.0);
        Duration::try_from_secs_f64(left.max(0.0)).unwrap_or(Duration::ZERO)
    }

    /// The repeat interval.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// let t = hinge::Timer::new(&lp, Duration::ZERO, Duration::from_secs(2), |_, _| {});
    /// assert_eq!(t.repeat(), Duration::from_secs(2));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn repeat(&self) -> Duration {
        let r = self.h.read(|w| w.repeat);
        Duration::try_from_secs_f64(r.max(0.0)).unwrap_or(Duration::ZERO)
    }

    /// Changes the repeat interval, taking effect at the next expiry or
    /// [`again`](Timer::again).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// let t = hinge::Timer::new(&lp, Duration::ZERO, Duration::ZERO, |_, _| {});
    /// t.set_repeat(Duration::from_millis(10));
    /// assert_eq!(t.repeat(), Duration::from_millis(10));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_repeat(&self, repeat: Duration) {
        self.h.set_repeat(seconds(repeat));
    }

    /// Replaces the callback.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// let t = hinge::Timer::new(&lp, Duration::ZERO, Duration::ZERO, |_, _| unreachable!());
    /// t.set_callback(|_, _| println!("replaced"));
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_callback<F>(&self, callback: F)
    where
        F: FnMut(&Loop, &Timer) + 'static,
    {
        self.h.set_callback(plain_callback!(Timer, callback));
    }
}
