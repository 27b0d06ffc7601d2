//! A pool job as a future: `Pool::spawn`.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::{JobError, Loop, Pool};

/// The job's outcome, or the waker of whoever waits for it.
enum Slot<T> {
    Waiting(Option<Waker>),
    Done(Result<T, JobError>),
    Taken,
}

/// The future of [`Pool::spawn`]: the job's result, delivered on the
/// loop's thread. Dropping it does not stop the job (it may already run);
/// its result is then dropped on the loop's thread.
///
/// ```
/// let lp = hinge::Loop::new()?;
/// let pool = hinge::Pool::with_threads(1);
/// let job: hinge::task::PoolTask<u32> = pool.spawn(&lp, || 2 + 2);
/// assert_eq!(lp.block_on(job)?, Ok(4));
/// # Ok::<(), hinge::Error>(())
/// ```
#[must_use = "a PoolTask gives its result only when awaited"]
pub struct PoolTask<T> {
    slot: Rc<RefCell<Slot<T>>>,
}

impl Pool {
    /// Runs `work` on a pool thread; the returned future completes, on
    /// the loop's thread, with its value, or with a [`JobError`] if it
    /// panicked or the pool shut down first. `work` must be `Send`; the
    /// future need not be.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let pool = hinge::Pool::with_threads(2);
    /// let sum = lp.block_on(async {
    ///     let a = pool.spawn(&lp, || (1..=10u64).sum::<u64>());
    ///     let b = pool.spawn(&lp, || (11..=20u64).sum::<u64>());
    ///     a.await.unwrap() + b.await.unwrap()
    /// })?;
    /// assert_eq!(sum, 210);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn spawn<T, W>(&self, lp: &Loop, work: W) -> PoolTask<T>
    where
        T: Send + 'static,
        W: FnOnce() -> T + Send + 'static,
    {
        let slot = Rc::new(RefCell::new(Slot::Waiting(None)));
        let s = slot.clone();
        self.submit(lp, work, move |_, result| {
            let old = std::mem::replace(&mut *s.borrow_mut(), Slot::Done(result));
            if let Slot::Waiting(Some(w)) = old {
                w.wake();
            }
        });
        PoolTask { slot }
    }
}

impl<T> Future for PoolTask<T> {
    type Output = Result<T, JobError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.slot.borrow_mut();
        match std::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Done(result) => Poll::Ready(result),
            Slot::Waiting(_) => {
                *slot = Slot::Waiting(Some(cx.waker().clone()));
                Poll::Pending
            }
            Slot::Taken => panic!("PoolTask polled after it completed"),
        }
    }
}

impl<T> fmt::Debug for PoolTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let done = matches!(&*self.slot.borrow(), Slot::Done(_));
        f.debug_struct("PoolTask").field("done", &done).finish()
    }
}
