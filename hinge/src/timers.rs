//! Node-style timers: `set_timeout`, `set_interval` and `clear`.
//!
//! Unlike a [`Timer`] watcher, these belong to the loop: the handle may be
//! dropped and the timer still fires. `clear` cancels it.

use std::time::Duration;

use crate::handle::{Entry, Registry};
use crate::{Loop, Timer, Watcher};

/// The loop's table of live Node-style timers.
/// A handle to a timer made by [`Loop::set_timeout`] or
/// [`Loop::set_interval`]. Cloning it is cheap; dropping it does not
/// cancel the timer.
///
/// ```
/// use std::time::Duration;
/// let lp = hinge::Loop::new()?;
/// let t = lp.set_timeout(Duration::from_secs(60), |_| unreachable!());
/// t.clear();
/// lp.run(); // returns at once
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone)]
pub struct TimerHandle {
    entry: Entry<Timer>,
}

impl TimerHandle {
    fn with<R>(&self, f: impl FnOnce(&Timer) -> R) -> Option<R> {
        self.entry.with(f)
    }

    /// Cancels the timer. Safe to call more than once, after it fired, or
    /// from inside its own callback.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = hinge::Loop::new()?;
    /// let mut n = 0;
    /// lp.set_interval(Duration::from_millis(1), move |_, me| {
    ///     n += 1;
    ///     if n == 3 {
    ///         me.clear();
    ///     }
    /// });
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn clear(&self) {
        self.entry.clear();
    }

    /// Whether the timer is still scheduled.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = hinge::Loop::new()?;
    /// let t = lp.set_timeout(Duration::ZERO, |_| {});
    /// assert!(t.is_active());
    /// lp.run();
    /// assert!(!t.is_active());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_active(&self) -> bool {
        self.with(|t| t.is_active()).unwrap_or(false)
    }

    /// Stops this timer from keeping `run` alive (Node's `unref`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = hinge::Loop::new()?;
    /// lp.set_interval(Duration::from_secs(1), |_, _| {}).unref();
    /// lp.run(); // returns at once
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn unref(&self) {
        self.with(|t| t.unref());
    }

    /// Undoes [`unref`](TimerHandle::unref).
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = hinge::Loop::new()?;
    /// let t = lp.set_timeout(Duration::ZERO, |_| {});
    /// t.unref();
    /// t.ref_();
    /// lp.run(); // waits for the timer again
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn ref_(&self) {
        self.with(|t| t.ref_());
    }
}

impl std::fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerHandle")
            .field("active", &self.is_active())
            .finish()
    }
}

impl Loop {
    fn schedule(
        &self,
        after: Duration,
        repeat: Duration,
        mut f: impl FnMut(&Loop, &TimerHandle) + 'static,
    ) -> TimerHandle {
        let timers = self.local(Registry::<Timer>::default);
        let handle = TimerHandle {
            entry: timers.reserve(),
        };
        let me = handle.clone();
        let one_shot = repeat.is_zero();
        let timer = Timer::new(self, after, repeat, move |lp, _| {
            if one_shot {
                // Fired: forget it first, so `clear` and `is_active` agree.
                // The closure itself is freed once this call returns.
                me.clear();
            }
            f(lp, &me);
        });
        // Timer::new runs no callback, so the reserved entry is still ours.
        timers.insert(&handle.entry, timer);
        handle
    }

    /// Calls `f` once after `delay` (Node's `setTimeout`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = hinge::Loop::new()?;
    /// lp.set_timeout(Duration::from_millis(5), |lp| println!("at {:.3}", lp.now()));
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_timeout<F: FnOnce(&Loop) + 'static>(&self, delay: Duration, f: F) -> TimerHandle {
        let mut f = Some(f);
        self.schedule(delay, Duration::ZERO, move |lp, _| {
            if let Some(f) = f.take() {
                f(lp)
            }
        })
    }

    /// Calls `f` every `period` until cleared (Node's `setInterval`). The
    /// callback gets its own handle, so it can clear itself.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = hinge::Loop::new()?;
    /// let mut left = 2;
    /// lp.set_interval(Duration::from_millis(1), move |_, me| {
    ///     left -= 1;
    ///     if left == 0 {
    ///         me.clear();
    ///     }
    /// });
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_interval<F: FnMut(&Loop, &TimerHandle) + 'static>(
        &self,
        period: Duration,
        f: F,
    ) -> TimerHandle {
        // A zero period would spin: libev treats repeat 0 as one-shot.
        let period = period.max(Duration::from_micros(1));
        self.schedule(period, period, f)
    }
}
