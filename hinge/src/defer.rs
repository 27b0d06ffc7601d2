//! "Run this soon": a per-loop queue of deferred closures (Node's
//! `setImmediate`, the seed's `queue-work`).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use crate::{Check, Idle, Loop, Watcher};

/// The priority of a deferred closure; higher ones run first within an
/// iteration, and FIFO order holds within one priority.
///
/// ```
/// use hinge::{Loop, Priority};
/// let lp = Loop::new()?;
/// lp.defer_with(Priority::Low, |_| println!("second"));
/// lp.defer_with(Priority::High, |_| println!("first"));
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    /// After everything else queued for this iteration.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Before everything else queued for this iteration.
    High,
}

type Boxed = Box<dyn FnOnce(&Loop)>;

/// A deferred job that is its own allocation: an `Rc` whose `run` does
/// the work. hinge queues a closing socket this way, so that a connection's
/// close costs no box of its own.
pub(crate) trait RcJob {
    fn run(self: std::rc::Rc<Self>, lp: &Loop);
}

enum Job {
    Boxed(Boxed),
    Rc(std::rc::Rc<dyn RcJob>),
}

/// The queues, plus the watchers that drain them: a check watcher runs
/// them after each poll, and an idle watcher keeps that poll from blocking
/// while anything is queued.
pub(crate) struct Deferred {
    queues: [RefCell<VecDeque<Job>>; 3],
    len: Cell<usize>,
    check: Check,
    idle: Idle,
}

impl Deferred {
    fn of(lp: &Loop) -> std::rc::Rc<Deferred> {
        lp.core().hot_local(crate::ffi::Hot::Deferred, || {
            let check = Check::new(lp, |lp, _| Deferred::of(lp).drain(lp));
            let idle = Idle::new(lp, |_, _| {});
            check.stop();
            idle.stop();
            Deferred {
                queues: Default::default(),
                len: Cell::new(0),
                check,
                idle,
            }
        })
    }

    fn push(lp: &Loop, priority: Priority, job: Job) {
        let d = Deferred::of(lp);
        d.queues[priority as usize].borrow_mut().push_back(job);
        if d.len.replace(d.len.get() + 1) == 0 {
            d.check.start();
            d.idle.start();
        }
    }

    /// Runs what was queued before this drain began; later additions wait
    /// for the next iteration, so a closure that defers itself cannot
    /// starve I/O.
    fn drain(&self, lp: &Loop) {
        let counts = [2, 1, 0].map(|p| (p, self.queues[p].borrow().len()));
        for (p, count) in counts {
            for _ in 0..count {
                let Some(job) = self.queues[p].borrow_mut().pop_front() else {
                    break;
                };
                self.len.set(self.len.get() - 1);
                match job {
                    Job::Boxed(job) => job(lp),
                    Job::Rc(job) => job.run(lp),
                }
            }
        }
        if self.len.get() == 0 {
            self.check.stop();
            self.idle.stop();
        }
    }
}

/// Jobs never run (the loop was torn down) are dropped one at a time,
/// each under `catch`: a closure whose captures panic on drop must not
/// unwind through the others' drops, which would abort the process. The
/// first panic is re-raised once all are gone.
impl Drop for Deferred {
    fn drop(&mut self) {
        let mut panicked = None;
        for queue in &self.queues {
            loop {
                let job = queue.borrow_mut().pop_front();
                let Some(job) = job else { break };
                if let Err(payload) = crate::ffi::panic::catch(move || drop(job)) {
                    crate::ffi::panic::keep_first(&mut panicked, payload);
                }
            }
        }
        if let Some(payload) = panicked {
            std::panic::resume_unwind(payload);
        }
    }
}

impl Loop {
    /// Queues `job` as [`defer`](Loop::defer) would queue a closure.
    pub(crate) fn defer_rc(&self, job: std::rc::Rc<dyn RcJob>) {
        Deferred::push(self, Priority::Normal, Job::Rc(job));
    }

    /// Runs `f` soon: after the current callback and this iteration's I/O,
    /// before the loop blocks again. Deferred closures keep `run` alive.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// lp.defer(|lp| {
    ///     println!("deferred");
    ///     lp.defer(|_| println!("deferred again, next iteration"));
    /// });
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn defer<F: FnOnce(&Loop) + 'static>(&self, f: F) {
        Deferred::push(self, Priority::Normal, Job::Boxed(Box::new(f)));
    }

    /// [`defer`](Loop::defer) with a [`Priority`].
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// lp.defer_with(hinge::Priority::High, |_| println!("urgent"));
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn defer_with<F: FnOnce(&Loop) + 'static>(&self, priority: Priority, f: F) {
        Deferred::push(self, priority, Job::Boxed(Box::new(f)));
    }
}
