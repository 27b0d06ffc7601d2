//! Wall-clock timers.

use std::time::Duration;

use crate::event_loop::{check_time, seconds};
use crate::ffi::{Handle, PeriodicKind, TimeParams};
use crate::{Loop, Result};

/// Fires at absolute wall-clock times: at `offset`, or, with an
/// `interval`, at every `offset + k * interval` (e.g. every full hour).
///
/// Unlike a [`Timer`](crate::Timer), a periodic follows changes of the
/// system clock.
///
/// ```
/// use std::time::Duration;
/// use hinge::{Loop, Periodic, Watcher};
///
/// let lp = Loop::new()?;
/// // Fire at the next multiple of 10 ms of wall-clock time, three times.
/// let mut left = 3;
/// let _p = Periodic::new(&lp, 0.0, Duration::from_millis(10), move |lp, p| {
///     println!("at {:.3} (scheduled {:.3})", lp.now(), p.at());
///     left -= 1;
///     if left == 0 {
///         p.stop();
///     }
/// })?;
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
#[must_use = "a watcher stops when its handle is dropped: keep it, e.g. `let _w = ...`"]
pub struct Periodic {
    h: Handle<PeriodicKind>,
}

watcher_type!(Periodic, PeriodicKind);

impl Periodic {
    /// The shortest interval libev computes with (1/8192 s); shorter ones
    /// are raised to it.
    ///
    /// ```
    /// assert_eq!(hinge::Periodic::MIN_INTERVAL, 1.0 / 8192.0);
    /// ```
    pub const MIN_INTERVAL: f64 = 1.0 / 8192.0;

    /// Creates and starts a periodic. With a zero `interval` it fires once
    /// at the absolute time `offset` (seconds since the epoch); otherwise
    /// at every `offset + k * interval`, with `offset` taken modulo the
    /// interval. A non-finite `offset` is an [`Error::InvalidTime`](crate::Error::InvalidTime).
    ///
    /// Accepted ranges: any finite `offset`, any `interval`. hinge reduces
    /// a repeating periodic's offset into `[0, interval)` itself, and
    /// raises an interval below [`Periodic::MIN_INTERVAL`] to it, because
    /// libev computes the next event by stepping from the offset: far-off
    /// offsets (`1e300`, `-1e20`) or tiny steps would make that loop run
    /// for ages. An absolute time far in the future simply never comes.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let lp = hinge::Loop::new()?;
    /// let when = hinge::time() + 0.005;
    /// let _p = hinge::Periodic::new(&lp, when, Duration::ZERO, |_, _| println!("now"))?;
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn new<F>(lp: &Loop, offset: f64, interval: Duration, callback: F) -> Result<Periodic>
    where
        F: FnMut(&Loop, &Periodic) + 'static,
    {
        let params = periodic_params(offset, interval)?;
        let p = Periodic {
            h: Handle::new(lp, params, plain_callback!(Periodic, callback)),
        };
        p.h.start();
        Ok(p)
    }

    /// The absolute time of the next (or, in its callback, current) event.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// let p = hinge::Periodic::new(&lp, 0.0, Duration::from_secs(3600), |_, _| {})?;
    /// assert!(p.at() > hinge::time());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn at(&self) -> f64 {
        self.h.at()
    }

    /// Changes offset and interval; restarts the watcher if it was active.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// let p = hinge::Periodic::new(&lp, 0.0, Duration::from_secs(3600), |_, _| {})?;
    /// p.set(0.0, Duration::from_secs(60))?;
    /// assert!(p.at() - hinge::time() <= 60.0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set(&self, offset: f64, interval: Duration) -> Result<()> {
        let TimeParams { a, b } = periodic_params(offset, interval)?;
        self.h.set(a, b);
        Ok(())
    }

    /// Recomputes the next event time from the current wall clock
    /// (`ev_periodic_again`) and starts the watcher.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// let p = hinge::Periodic::new(&lp, 0.0, Duration::from_secs(1), |_, _| {})?;
    /// p.again();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn again(&self) {
        self.h.again();
    }

    /// Replaces the callback.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// let p = hinge::Periodic::new(&lp, 0.0, Duration::from_secs(1), |_, _| {})?;
    /// p.set_callback(|_, p| println!("at {}", p.at()));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_callback<F>(&self, callback: F)
    where
        F: FnMut(&Loop, &Periodic) + 'static,
    {
        self.h.set_callback(plain_callback!(Periodic, callback));
    }
}

/// Offset and interval as libev can compute with them: finite, the
/// interval at least `MIN_INTERVAL`, and a repeating offset within one
/// interval (exact: `rem_euclid` of finite floats rounds nothing).
fn periodic_params(offset: f64, interval: Duration) -> Result<TimeParams> {
    let offset = check_time(offset)?;
    let interval = seconds(interval);
    if interval == 0.0 {
        return Ok(TimeParams { a: offset, b: 0.0 });
    }
    let interval = interval.max(Periodic::MIN_INTERVAL);
    Ok(TimeParams {
        a: offset.rem_euclid(interval),
        b: interval,
    })
}
