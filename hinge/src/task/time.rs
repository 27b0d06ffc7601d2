//! Timers as futures, on libev timers: `sleep`, `timeout`, `interval`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_core::Stream;

use crate::{Loop, Timer};

/// What a timer future's libev timer shares with it.
#[derive(Default)]
struct Shared {
    /// Whether an expiration waits to be taken by a poll (0 or 1).
    fired: Cell<u64>,
    waker: RefCell<Option<Waker>>,
}

impl Shared {
    fn timer(lp: &Loop, after: Duration, repeat: Duration) -> (Rc<Shared>, Timer) {
        let shared = Rc::new(Shared::default());
        let s = shared.clone();
        let timer = Timer::new(lp, after, repeat, move |_, _| {
            // Expirations a busy task missed are not made up: one tick
            // waits at most.
            s.fired.set(1);
            if let Some(w) = s.waker.borrow_mut().take() {
                w.wake();
            }
        });
        (shared, timer)
    }

    /// Takes one expiration, or registers `cx`'s waker for the next.
    fn poll_fired(&self, cx: &mut Context<'_>) -> Poll<()> {
        match self.fired.get() {
            0 => {
                let mut slot = self.waker.borrow_mut();
                match slot.as_ref() {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            n => {
                self.fired.set(n - 1);
                Poll::Ready(())
            }
        }
    }
}

/// A future that completes once `duration` has passed on the loop's
/// clock. The timer starts when `sleep` is called, and keeps the loop
/// alive until it fires; dropping the future stops it.
///
/// ```
/// use std::time::{Duration, Instant};
/// let lp = hinge::Loop::new()?;
/// let start = Instant::now();
/// lp.block_on(hinge::task::sleep(&lp, Duration::from_millis(5)))?;
/// assert!(start.elapsed() >= Duration::from_millis(4));
/// # Ok::<(), hinge::Error>(())
/// ```
pub fn sleep(lp: &Loop, duration: Duration) -> Sleep {
    let (shared, timer) = Shared::timer(lp, duration, Duration::ZERO);
    Sleep {
        shared,
        _timer: timer,
    }
}

/// The future of [`sleep`].
///
/// ```
/// let lp = hinge::Loop::new()?;
/// let s: hinge::task::Sleep = hinge::task::sleep(&lp, std::time::Duration::ZERO);
/// lp.block_on(s)?;
/// # Ok::<(), hinge::Error>(())
/// ```
#[must_use = "a Sleep does nothing unless awaited, and its timer stops when dropped"]
pub struct Sleep {
    shared: Rc<Shared>,
    _timer: Timer,
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.shared.fired.get() > 0 {
            return Poll::Ready(());
        }
        self.shared.poll_fired(cx)
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("elapsed", &(self.shared.fired.get() > 0))
            .finish()
    }
}

/// [`timeout`]'s error: the time ran out first.
///
/// ```
/// let e = hinge::task::Elapsed(());
/// assert_eq!(e.to_string(), "deadline has elapsed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(pub ());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// Runs `future` for at most `duration`: its output, or [`Elapsed`] if
/// the time ran out first (the future is then dropped, which cancels it).
/// The clock starts when `timeout` is called.
///
/// ```
/// use std::time::Duration;
/// use hinge::task::{sleep, timeout, Elapsed};
/// let lp = hinge::Loop::new()?;
/// let slow = sleep(&lp, Duration::from_secs(60));
/// let r = lp.block_on(timeout(&lp, Duration::from_millis(1), slow))?;
/// assert_eq!(r, Err(Elapsed(())));
/// # Ok::<(), hinge::Error>(())
/// ```
pub fn timeout<F: Future>(
    lp: &Loop,
    duration: Duration,
    future: F,
) -> impl Future<Output = Result<F::Output, Elapsed>> {
    let mut deadline = sleep(lp, duration);
    async move {
        let mut future = std::pin::pin!(future);
        std::future::poll_fn(move |cx| {
            if let Poll::Ready(out) = future.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            match Pin::new(&mut deadline).poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }
}

/// A stream that yields every `period`, the first time one `period` from
/// now. Ticks the task missed are not made up: at most one waits, and the
/// next come at the period's own pace (tokio's `MissedTickBehavior::Skip`).
/// Dropping it stops the timer.
///
/// ```
/// use std::time::Duration;
/// use futures_util::StreamExt;
/// let lp = hinge::Loop::new()?;
/// let mut ticks = hinge::task::interval(&lp, Duration::from_millis(1));
/// lp.block_on(async {
///     for _ in 0..3 {
///         ticks.tick().await;
///     }
///     ticks.next().await // a Stream too
/// })?;
/// # Ok::<(), hinge::Error>(())
/// ```
pub fn interval(lp: &Loop, period: Duration) -> Interval {
    let (shared, timer) = Shared::timer(lp, period, period);
    Interval {
        shared,
        _timer: timer,
    }
}

/// The stream of [`interval`].
///
/// ```
/// let lp = hinge::Loop::new()?;
/// let _i: hinge::task::Interval = hinge::task::interval(&lp, std::time::Duration::from_secs(1));
/// # Ok::<(), hinge::Error>(())
/// ```
#[must_use = "an Interval does nothing unless polled, and its timer stops when dropped"]
pub struct Interval {
    shared: Rc<Shared>,
    _timer: Timer,
}

impl Interval {
    /// Waits for the next tick.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let mut i = hinge::task::interval(&lp, std::time::Duration::from_millis(1));
    /// lp.block_on(i.tick())?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn tick(&mut self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| self.shared.poll_fired(cx))
    }
}

impl Stream for Interval {
    type Item = ();
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.shared.poll_fired(cx).map(Some)
    }
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval").finish_non_exhaustive()
    }
}
