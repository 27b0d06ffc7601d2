//! `Task`: the handle of a spawned future.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::executor::Output;

/// A future spawned on a loop with [`Loop::spawn_local`](crate::Loop::spawn_local).
///
/// Awaiting it gives the future's output. Dropping it cancels the task
/// (its future is dropped, on the loop's thread, at its next turn);
/// [`detach`](Task::detach) lets it run to completion on its own.
///
/// A task that panics never aborts the process: awaiting its `Task`
/// re-raises the panic in the awaiter, and a detached task's panic is
/// re-raised from [`Loop::run`](crate::Loop::run), as a callback's is.
///
/// ```
/// let lp = hinge::Loop::new()?;
/// let task = lp.spawn_local(async { 6 * 7 });
/// assert_eq!(lp.block_on(task)?, 42);
/// # Ok::<(), hinge::Error>(())
/// ```
#[must_use = "a Task is cancelled when dropped: .await it, or detach() it"]
pub struct Task<T> {
    inner: Option<async_task::FallibleTask<Output<T>>>,
    /// Shared with the task's future: whether a `Task` may still take a
    /// panic (false once detached or dropped).
    joined: Rc<Cell<bool>>,
}

impl<T> Task<T> {
    pub(crate) fn new(task: async_task::Task<Output<T>>, joined: Rc<Cell<bool>>) -> Task<T> {
        Task {
            inner: Some(task.fallible()),
            joined,
        }
    }

    /// Lets the task run to completion without a handle; its output is
    /// dropped. The loop's teardown still cancels it if it is unfinished.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let lp = hinge::Loop::new()?;
    /// let done = Rc::new(Cell::new(false));
    /// let d = done.clone();
    /// lp.spawn_local(async move { d.set(true) }).detach();
    /// lp.run();
    /// assert!(done.get());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn detach(mut self) {
        self.joined.set(false);
        if let Some(t) = self.inner.take() {
            t.detach();
        }
    }

    /// Cancels the task and waits until its future is dropped; gives its
    /// output if it had already finished.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let task = lp.spawn_local(std::future::pending::<()>());
    /// assert_eq!(lp.block_on(task.cancel())?, None);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub async fn cancel(mut self) -> Option<T> {
        let t = self.inner.take()?;
        match t.cancel().await?.take() {
            Ok(value) => Some(value),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Whether the task has finished: completed, panicked or been
    /// cancelled.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let task = lp.spawn_local(async {});
    /// assert!(!task.is_finished());
    /// lp.run();
    /// assert!(task.is_finished());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.inner.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let Some(t) = self.inner.as_mut() else {
            panic!("hinge::Task polled after it completed");
        };
        match Pin::new(t).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(out) => {
                self.inner = None;
                match out.map(Output::take) {
                    Some(Ok(value)) => Poll::Ready(value),
                    Some(Err(panic)) => std::panic::resume_unwind(panic),
                    None => panic!("hinge::Task cancelled: its loop was dropped"),
                }
            }
        }
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.joined.set(false);
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("finished", &self.is_finished())
            .finish()
    }
}
