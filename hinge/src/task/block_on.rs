//! `Loop::block_on`: runs the loop until one future completes.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::executor::{thread_key, Executor, Shared};
use crate::{Error, Loop, Result};

/// The waker of the future `block_on` polls itself.
struct MainWaker {
    shared: Arc<Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.shared.main_woken.store(true, Ordering::Release);
        // On the loop's thread the loop is not blocked (this code runs):
        // the executor's next pass sees the flag and keeps it from
        // blocking, and `block_on` looks at it after each iteration.
        if thread_key() != self.shared.owner {
            self.shared.sender.send();
        }
    }
}

impl Loop {
    /// Runs the loop until `future` completes, and returns its output,
    /// like tokio's `Runtime::block_on`. The future need not be `'static`
    /// or `Send`. Callbacks, watchers and other tasks run meanwhile; the
    /// loop keeps running even with nothing else active, until the future
    /// completes (a future that waits for nothing waits forever).
    ///
    /// A panic in the future or in a callback resumes from here. Calling
    /// it while the loop runs (from a callback, a task, or another
    /// `block_on`) is refused with [`Error::NestedBlockOn`], and on a loop
    /// that was dropped (through a [`LoopHandle`](crate::LoopHandle), or
    /// from a future dropped at teardown) with [`Error::LoopGone`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = hinge::Loop::new()?;
    /// let msg = String::from("borrowed, not moved");
    /// let len = lp.block_on(async {
    ///     hinge::task::sleep(&lp, Duration::from_millis(1)).await;
    ///     msg.len()
    /// })?;
    /// assert_eq!(len, msg.len());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn block_on<F: Future>(&self, future: F) -> Result<F::Output> {
        if !self.core().can_run() {
            // Nothing could ever wake the future: refuse, never spin.
            return Err(Error::LoopGone { op: "block_on" });
        }
        let ex = Executor::of(self);
        if self.depth() > 0 || ex.blocking.get() {
            return Err(Error::NestedBlockOn);
        }
        struct Blocking<'a>(&'a Executor);
        impl Drop for Blocking<'_> {
            fn drop(&mut self) {
                self.0.blocking.set(false);
                // A wake of the finished future must not keep the loop
                // from blocking later.
                self.0.shared.main_woken.store(false, Ordering::Release);
            }
        }
        ex.blocking.set(true);
        let _blocking = Blocking(&ex);
        let _open = ex.hold_open();
        let shared = ex.shared.clone();
        shared.main_woken.store(true, Ordering::Release);
        let waker = Waker::from(Arc::new(MainWaker {
            shared: shared.clone(),
        }));
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if shared.main_woken.swap(false, Ordering::AcqRel) {
                if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                    return Ok(out);
                }
            }
            if !self.core().can_run() {
                // Dropped from a callback or a task meanwhile.
                return Err(Error::LoopGone { op: "block_on" });
            }
            if shared.main_woken.load(Ordering::Acquire) {
                self.run_nowait();
            } else {
                self.run_once();
            }
        }
    }
}
