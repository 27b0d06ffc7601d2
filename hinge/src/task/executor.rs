//! The executor: a run queue beside the loop, fed by async-task's
//! `Runnable`s and drained by the loop's own watchers.
//!
//! * A task woken on the loop's thread joins the queue; the loop's last
//!   callback of the iteration (a `Check` at the lowest priority) runs it,
//!   and a `Prepare` runs what is left before the loop would block.
//! * A task woken on another thread joins the queue under its lock and
//!   wakes the loop through an `Async` watcher.
//! * Each pass polls at most `BUDGET` tasks; while any is left, an `Idle`
//!   watcher keeps the loop from blocking (and `run` from returning), so a
//!   busy task cannot starve I/O and timers, nor they it.
//! * Dropping the loop cancels every unfinished task on its thread (a
//!   `Cleanup` watcher), before sockets and servers are torn down.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use async_task::Runnable;
use slab::Slab;

use super::Task;
use crate::{Async, AsyncSender, Check, Cleanup, Idle, Loop, Prepare, Watcher};

type Panic = Box<dyn Any + Send>;

/// Task polls per pass of the run queue.
pub(crate) const BUDGET: usize = 64;

thread_local! {
    static THREAD_MARK: u8 = const { 0 };
}

/// A cheap identity of the current thread (the address of a thread-local),
/// unique among the threads alive at one time. The loop's thread lives at
/// least as long as its loop, whose tasks are cancelled before it dies.
pub(crate) fn thread_key() -> usize {
    THREAD_MARK.with(|m| m as *const u8 as usize)
}

/// What wakers on any thread share: the run queue and the way to wake the
/// loop.
pub(crate) struct Shared {
    queue: Mutex<VecDeque<Runnable>>,
    /// The queue's length, readable without the lock.
    len: AtomicUsize,
    pub(crate) owner: usize,
    pub(crate) sender: AsyncSender,
    closed: AtomicBool,
    /// `block_on`'s future was woken: the loop must not block before it
    /// is polled again.
    pub(crate) main_woken: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Runnable>> {
        // A panic never happens while the lock is held (push and pop do
        // not unwind), but a poisoned queue is still a good queue.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn schedule(&self, runnable: Runnable) {
        let on_loop = thread_key() == self.owner;
        if on_loop && self.closed.load(Ordering::Acquire) {
            // The loop is gone: the task is cancelled here, on its thread.
            drop(runnable);
            return;
        }
        {
            let mut q = self.lock();
            q.push_back(runnable);
            self.len.store(q.len(), Ordering::Release);
        }
        if !on_loop {
            self.sender.send();
        }
    }

    fn pop(&self) -> Option<Runnable> {
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut q = self.lock();
        let r = q.pop_front();
        self.len.store(q.len(), Ordering::Release);
        r
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }

    fn take_all(&self) -> VecDeque<Runnable> {
        let mut q = self.lock();
        self.len.store(0, Ordering::Release);
        std::mem::take(&mut *q)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // A wake racing the loop's teardown can leave a runnable here
        // after the executor's last look. Dropping it on another thread
        // would drop its future there (async-task panics): leak it, a few
        // bytes, instead.
        let left = std::mem::take(&mut *self.lock());
        if thread_key() == self.owner {
            drop(left);
        } else {
            left.into_iter().for_each(std::mem::forget);
        }
    }
}

/// The watchers that drive the queue.
struct Drivers {
    _prepare: Prepare,
    _check: Check,
    idle: Idle,
    /// Whether `idle` is started (saves asking libev on every pass).
    idling: Cell<bool>,
    _cleanup: Cleanup,
}

/// One loop's executor, kept as a loop local.
pub(crate) struct Executor {
    pub(crate) shared: Arc<Shared>,
    /// Wakes the loop from other threads; referenced only while
    /// `block_on` waits.
    wake: Async,
    /// A waker of every unfinished task, to cancel them at teardown.
    active: RefCell<Slab<Waker>>,
    drivers: RefCell<Option<Drivers>>,
    closed: Cell<bool>,
    /// `block_on` is on the stack.
    pub(crate) blocking: Cell<bool>,
    /// A panic from a task's drop, to re-raise from the loop.
    dropped_panic: RefCell<Option<Panic>>,
}

impl Executor {
    fn new(lp: &Loop) -> Executor {
        // Its callback has nothing to do: the `Check` after it runs the
        // queue. It only ends the loop's blocking wait.
        let wake = Async::new(lp, |_, _| {});
        wake.unref();
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
            owner: thread_key(),
            sender: wake.sender(),
            closed: AtomicBool::new(false),
            main_woken: AtomicBool::new(false),
        });
        Executor {
            shared,
            wake,
            active: RefCell::new(Slab::new()),
            drivers: RefCell::new(None),
            closed: Cell::new(!lp.core().is_alive()),
            blocking: Cell::new(false),
            dropped_panic: RefCell::new(None),
        }
    }

    /// The loop's executor, created and started on first use.
    pub(crate) fn of(lp: &Loop) -> Rc<Executor> {
        let ex = lp.local(|| Executor::new(lp));
        if !ex.closed.get() && ex.drivers.borrow().is_none() {
            ex.install(lp);
        }
        ex
    }

    fn install(self: &Rc<Self>, lp: &Loop) {
        let (min, _) = crate::priority_range();
        let pass = |w: Weak<Executor>| {
            move || {
                if let Some(ex) = w.upgrade() {
                    ex.run_queue();
                }
            }
        };
        let run = pass(Rc::downgrade(self));
        let prepare = Prepare::new(lp, move |_, _| run());
        let run = pass(Rc::downgrade(self));
        let check = Check::new(lp, move |_, _| run());
        for w in [&prepare as &dyn Watcher, &check] {
            // Last of their kind in an iteration, and never what keeps
            // `run` alive: the idle watcher does that while tasks wait.
            // (libev takes a priority only while the watcher is stopped.)
            w.stop();
            let _ = w.set_priority(min);
            w.unref();
            w.start();
        }
        let idle = Idle::new(lp, |_, _| {});
        idle.stop();
        let me = Rc::downgrade(self);
        let cleanup = Cleanup::new(lp, move |_, _| {
            if let Some(ex) = me.upgrade() {
                ex.close();
            }
        });
        *self.drivers.borrow_mut() = Some(Drivers {
            _prepare: prepare,
            _check: check,
            idle,
            idling: Cell::new(false),
            _cleanup: cleanup,
        });
    }

    /// One pass: polls up to `BUDGET` queued tasks.
    fn run_queue(&self) {
        // Also when a task's panic unwinds from here: tasks left in the
        // queue must still keep the loop awake.
        struct Rearm<'a>(&'a Executor);
        impl Drop for Rearm<'_> {
            fn drop(&mut self) {
                self.0.rearm();
            }
        }
        let _rearm = Rearm(self);
        for _ in 0..BUDGET {
            match self.shared.pop() {
                Some(runnable) => {
                    runnable.run();
                    self.rethrow();
                }
                None => break,
            }
        }
    }

    /// Keeps the first panic of a task's drop (later ones are dropped).
    pub(crate) fn stash_panic(&self, panic: Panic) {
        let mut slot = self.dropped_panic.borrow_mut();
        match slot.is_some() {
            true => crate::discard_panic(panic),
            false => *slot = Some(panic),
        }
    }

    /// Re-raises a panic of a task's drop, here where unwinding is safe.
    fn rethrow(&self) {
        let panic = self.dropped_panic.borrow_mut().take();
        if let Some(p) = panic {
            std::panic::resume_unwind(p);
        }
    }

    /// Keeps the loop from blocking exactly while tasks are queued (or
    /// `block_on`'s future was woken).
    fn rearm(&self) {
        if let Ok(drivers) = self.drivers.try_borrow() {
            if let Some(d) = drivers.as_ref() {
                // A wake of `block_on`'s future counts only while it waits:
                // a stale waker woken later must not keep the loop awake.
                let main = self.blocking.get() && self.shared.main_woken.load(Ordering::Acquire);
                let idle = self.shared.is_empty() && !main;
                if idle == d.idling.get() {
                    match idle {
                        true => d.idle.stop(),
                        false => d.idle.start(),
                    }
                    d.idling.set(!idle);
                }
            }
        }
    }

    /// Spawns `future` as a task of this loop.
    pub(crate) fn spawn<F>(self: &Rc<Self>, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let joined = Rc::new(Cell::new(true));
        let key = self.active.borrow().vacant_key();
        let future = Guarded {
            future: Some(Box::pin(future)),
            awaited: joined.clone(),
            executor: Rc::downgrade(self),
            key: Some(key),
        };
        let shared = self.shared.clone();
        let (runnable, task) = async_task::spawn_local(future, move |r| shared.schedule(r));
        if self.closed.get() {
            drop(runnable); // cancelled: the loop is gone
        } else {
            self.active.borrow_mut().insert(runnable.waker());
            runnable.schedule();
            self.rearm();
        }
        Task::new(task, joined)
    }

    /// The loop is being dropped: every unfinished task is cancelled here,
    /// on the loop's thread, and no new one will run.
    pub(crate) fn close(&self) {
        self.closed.set(true);
        self.shared.closed.store(true, Ordering::Release);
        let mut steps = crate::ffi::panic::Steps::default();
        // A future's drop may wake or spawn others: a few rounds.
        for _ in 0..8 {
            let wakers: Vec<Waker> = self.active.borrow_mut().drain().collect();
            // Waking queues each task's runnable (on this thread: the
            // closed queue drops it, which drops the future here).
            for w in wakers {
                steps.run(move || w.wake());
                steps.run(|| self.rethrow());
            }
            let left = self.shared.take_all();
            if left.is_empty() && self.active.borrow().is_empty() {
                break;
            }
            for r in left {
                steps.run(move || drop(r));
                steps.run(|| self.rethrow());
            }
        }
        drop(self.drivers.borrow_mut().take());
        steps.finish();
    }

    /// Lets `block_on` block in the loop even with nothing else active.
    pub(crate) fn hold_open(&self) -> HoldOpen<'_> {
        self.wake.ref_();
        HoldOpen(self)
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        // Only an executor of a dead loop (made after teardown) can still
        // hold runnables: cancel them here, on the loop's thread.
        drop(self.shared.take_all());
    }
}

/// Undoes `hold_open`.
pub(crate) struct HoldOpen<'a>(&'a Executor);

impl Drop for HoldOpen<'_> {
    fn drop(&mut self) {
        self.0.wake.unref();
    }
}

/// A task's future as the executor runs it: catches the panics of the
/// user's future, in its poll and in its drop (async-task aborts the
/// process on a panicking drop), and holds the task's entry in
/// `Executor::active`, removed when the future ends. Boxed, so that it can
/// be dropped inside `catch_unwind` without pin projection.
struct Guarded<F: Future> {
    future: Option<Pin<Box<F>>>,
    /// Whether a `Task` may still take the output (or the panic).
    awaited: Rc<Cell<bool>>,
    executor: Weak<Executor>,
    /// The entry in `Executor::active`, until removed.
    key: Option<usize>,
}

impl<F: Future> Guarded<F> {
    /// Drops the user's future; a panic of its drop goes to the executor,
    /// which re-raises it from the loop.
    fn finish(&mut self) {
        if let Some(f) = self.future.take() {
            if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(move || drop(f))) {
                match self.executor.upgrade() {
                    Some(ex) => ex.stash_panic(panic),
                    None => crate::discard_panic(panic),
                }
            }
        }
        let Some(key) = self.key.take() else { return };
        if let Some(ex) = self.executor.upgrade() {
            if let Ok(mut active) = ex.active.try_borrow_mut() {
                let gone = active.try_remove(key);
                drop(active);
                drop(gone);
            }
        }
    }
}

/// A task's output (or its panic) on its way to the `Task`: if nobody
/// takes it (the `Task` was dropped or detached), async-task drops it, and
/// would abort the process on a panicking drop; this drop catches it and
/// hands the panic to the executor, which re-raises it from the loop.
pub(crate) struct Output<T> {
    value: Option<Result<T, Panic>>,
    executor: Weak<Executor>,
}

impl<T> Output<T> {
    pub(crate) fn take(mut self) -> Result<T, Panic> {
        self.value.take().expect("an output is taken once")
    }
}

impl<T> Drop for Output<T> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
                match self.executor.upgrade() {
                    Some(ex) => ex.stash_panic(panic),
                    None => crate::discard_panic(panic),
                }
            }
        }
    }
}

impl<F: Future> Future for Guarded<F> {
    type Output = Output<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(future) = self.future.as_mut() else {
            return Poll::Pending; // finished; async-task never polls again
        };
        let out = match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(value)) => Ok(value),
            Err(panic) => Err(panic),
        };
        self.finish();
        match out {
            Err(panic) if !self.awaited.get() => {
                // Detached: the panic goes on to `run()`, as a callback's.
                std::panic::resume_unwind(panic)
            }
            out => Poll::Ready(Output {
                value: Some(out),
                executor: self.executor.clone(),
            }),
        }
    }
}

impl<F: Future> Drop for Guarded<F> {
    fn drop(&mut self) {
        self.finish();
    }
}
