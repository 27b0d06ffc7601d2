//! A pool of worker threads for blocking or CPU-heavy work, whose results
//! come back to the loop that asked for them.
//!
//! Two halves meet in a per-loop *port*. The pool side ([`Pool`]) is
//! thread-safe: a queue of jobs and the threads that run them. The loop
//! side ([`Port`]) lives in the loop's locals: it keeps each job's
//! `on_done` closure (which need not be `Send`) and one [`Async`] watcher
//! that workers poke when results are waiting. One port serves every pool
//! a loop uses.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::num::NonZeroUsize;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

use slab::Slab;

use crate::ffi::panic;
use crate::{Async, AsyncSender, Loop, Watcher};

/// Why a job submitted to a [`Pool`] produced no value.
///
/// ```
/// use hinge::{JobError, Loop, Pool};
///
/// let lp = Loop::new()?;
/// let pool = Pool::with_threads(1);
/// pool.submit(&lp, || panic!("disk on fire"), |_, r: Result<(), JobError>| {
///     assert_eq!(r, Err(JobError::Panicked("disk on fire".into())));
/// });
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The work panicked; this is the panic message (`"Box<dyn Any>"` when
    /// the payload was neither a `&str` nor a `String`).
    #[error("job panicked: {0}")]
    Panicked(String),
    /// The pool shut down before the job started.
    #[error("job cancelled: its pool shut down before it started")]
    Cancelled,
}

/// A pool of worker threads, named `hinge-pool-0`, `hinge-pool-1`, ...,
/// that runs closures off the loop and hands each result to a callback
/// on the loop that submitted it.
///
/// `Pool` is a cheap, `Send + Sync` handle: clone it to share one pool
/// among several loops on several threads. Dropping the last handle
/// shuts the pool down (see [`shutdown`](Pool::shutdown)).
///
/// Jobs in flight keep [`Loop::run`] alive; a pool with nothing in flight
/// for a loop does not.
///
/// A worker survives anything its job does: a panic, even one whose
/// payload panics again when dropped, becomes [`JobError::Panicked`], and
/// every submitted job gets exactly one callback. Thread counts: at least
/// one ([`Pool::with_threads`] raises 0 to 1, the builder refuses it);
/// above what the OS can start, `build` fails and `new`/`with_threads`
/// panic, like [`std::thread::spawn`].
///
/// ```
/// use hinge::{Loop, Pool};
///
/// let lp = Loop::new()?;
/// let pool = Pool::new();
/// pool.submit(&lp, || (1..=20u64).product::<u64>(), |_lp, result| {
///     println!("20! = {}", result.unwrap());
/// });
/// lp.run(); // returns once the callback has run
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone)]
#[must_use = "dropping the last Pool handle shuts its threads down"]
pub struct Pool {
    owner: Arc<Owner>,
}

impl Pool {
    /// A pool with one thread per available core
    /// ([`std::thread::available_parallelism`]).
    ///
    /// # Panics
    ///
    /// If the OS cannot start a thread, like [`std::thread::spawn`]; use
    /// [`Pool::builder`] to get an error instead.
    ///
    /// ```
    /// let pool = hinge::Pool::new();
    /// assert!(pool.threads() >= 1);
    /// ```
    #[allow(clippy::new_without_default)] // starting threads is not a default value
    pub fn new() -> Pool {
        Pool::builder()
            .build()
            .expect("hinge: failed to start pool threads")
    }

    /// A pool of `threads` threads (at least one).
    ///
    /// # Panics
    ///
    /// If the OS cannot start a thread, like [`std::thread::spawn`].
    ///
    /// ```
    /// let pool = hinge::Pool::with_threads(2);
    /// assert_eq!(pool.threads(), 2);
    /// ```
    pub fn with_threads(threads: usize) -> Pool {
        Pool::builder()
            .threads(threads.max(1))
            .build()
            .expect("hinge: failed to start pool threads")
    }

    /// Options for a new pool.
    ///
    /// ```
    /// let pool = hinge::Pool::builder().threads(3).build()?;
    /// assert_eq!(pool.threads(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// Runs `work` on a pool thread, then `on_done` on `lp`'s thread with
    /// its value, or with [`JobError::Panicked`] if it panicked, or
    /// [`JobError::Cancelled`] if the pool shut down before it started.
    ///
    /// `on_done` runs exactly once, during a later iteration of `lp` (never
    /// inside `submit`); if `lp` is dropped first, it is dropped unrun. It
    /// may submit more jobs.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use std::cell::Cell;
    /// use hinge::{Loop, Pool};
    ///
    /// let lp = Loop::new()?;
    /// let pool = Pool::with_threads(2);
    /// let total = Rc::new(Cell::new(0)); // on_done need not be Send
    /// for n in 1..=4u32 {
    ///     let total = total.clone();
    ///     pool.submit(&lp, move || n * n, move |_, r| total.set(total.get() + r.unwrap()));
    /// }
    /// lp.run();
    /// assert_eq!(total.get(), 1 + 4 + 9 + 16);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn submit<T, W, D>(&self, lp: &Loop, work: W, on_done: D)
    where
        T: Send + 'static,
        W: FnOnce() -> T + Send + 'static,
        D: FnOnce(&Loop, Result<T, JobError>) + 'static,
    {
        let port = Port::of(lp);
        let slot = port.hold(Box::new(move |lp: &Loop, out: Outcome| {
            on_done(lp, out.map(unbox::<T>))
        }));
        let job = Job {
            task: Box::new(move || Box::new(work()) as Value),
            reply: Reply::new(port.mailbox.clone(), slot),
        };
        if let Err(job) = self.owner.shared.push(job) {
            drop(job); // its reply says Cancelled
        }
    }

    /// Like [`submit`](Pool::submit), with one callback for a value and
    /// another for a failure.
    ///
    /// ```
    /// use hinge::{Loop, Pool};
    ///
    /// let lp = Loop::new()?;
    /// let pool = Pool::with_threads(1);
    /// pool.submit_split(
    ///     &lp,
    ///     || std::fs::read_to_string("/definitely/not/here").is_ok(),
    ///     |_, found| assert!(!found),
    ///     |_, err| panic!("job failed: {err}"),
    /// );
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn submit_split<T, W, S, F>(&self, lp: &Loop, work: W, on_success: S, on_failure: F)
    where
        T: Send + 'static,
        W: FnOnce() -> T + Send + 'static,
        S: FnOnce(&Loop, T) + 'static,
        F: FnOnce(&Loop, JobError) + 'static,
    {
        self.submit(lp, work, move |lp, result| match result {
            Ok(value) => on_success(lp, value),
            Err(err) => on_failure(lp, err),
        });
    }

    /// How many worker threads the pool has.
    ///
    /// ```
    /// assert_eq!(hinge::Pool::with_threads(2).threads(), 2);
    /// ```
    pub fn threads(&self) -> usize {
        self.owner.shared.threads.get()
    }

    /// How many jobs wait for a free thread (not counting running ones).
    ///
    /// ```
    /// let pool = hinge::Pool::with_threads(1);
    /// assert_eq!(pool.queued(), 0);
    /// ```
    pub fn queued(&self) -> usize {
        self.owner.shared.lock().queue.len()
    }

    /// Whether the pool has shut down; every job submitted since then is
    /// [`Cancelled`](JobError::Cancelled).
    ///
    /// ```
    /// let pool = hinge::Pool::with_threads(1);
    /// pool.shutdown();
    /// assert!(pool.is_shut_down());
    /// ```
    pub fn is_shut_down(&self) -> bool {
        self.owner.shared.lock().closed
    }

    /// Stops the pool for every handle: each queued job's callback gets
    /// [`JobError::Cancelled`] on its loop's next iteration, running jobs
    /// finish and deliver normally, and this call waits for the worker
    /// threads to exit (unless called from one of them, where waiting
    /// would deadlock). Later submits are cancelled. Calling it again does
    /// nothing.
    ///
    /// Dropping the last `Pool` handle does the same.
    ///
    /// ```
    /// use hinge::{JobError, Loop, Pool};
    ///
    /// let lp = Loop::new()?;
    /// let pool = Pool::with_threads(1);
    /// pool.shutdown();
    /// pool.submit(&lp, || 1, |_, r| assert_eq!(r, Err(JobError::Cancelled)));
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn shutdown(&self) {
        self.owner.shared.shutdown();
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.threads())
            .field("queued", &self.queued())
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}

/// Options for a new [`Pool`].
///
/// ```
/// let pool = hinge::Pool::builder()
///     .threads(2)
///     .stack_size(256 * 1024)
///     .build()?;
/// assert_eq!(pool.threads(), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolBuilder {
    threads: Option<usize>,
    stack_size: Option<usize>,
}

impl PoolBuilder {
    /// The number of worker threads (default: one per available core).
    /// Zero makes [`build`](PoolBuilder::build) fail.
    ///
    /// ```
    /// assert_eq!(hinge::Pool::builder().threads(1).build()?.threads(), 1);
    /// assert!(hinge::Pool::builder().threads(0).build().is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn threads(mut self, threads: usize) -> PoolBuilder {
        self.threads = Some(threads);
        self
    }

    /// Each worker's stack size in bytes (default: Rust's, usually 2 MiB).
    ///
    /// ```
    /// let pool = hinge::Pool::builder().stack_size(512 * 1024).build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> PoolBuilder {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the threads. Fails if `threads(0)` was asked for or the OS
    /// cannot start a thread; threads already started are then stopped.
    ///
    /// ```
    /// let pool = hinge::Pool::builder().build()?;
    /// assert!(pool.threads() >= 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn build(self) -> io::Result<Pool> {
        let threads = match self.threads {
            Some(n) => n,
            None => thread::available_parallelism().map_or(1, NonZeroUsize::get),
        };
        let threads = NonZeroUsize::new(threads).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "a pool needs at least one thread",
            )
        })?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            threads,
            workers: Mutex::new(Vec::with_capacity(threads.get())),
        });
        // Made first so that a failed spawn below shuts down the others.
        let owner = Arc::new(Owner {
            shared: shared.clone(),
        });
        for i in 0..threads.get() {
            let mut builder = thread::Builder::new().name(format!("hinge-pool-{i}"));
            if let Some(bytes) = self.stack_size {
                builder = builder.stack_size(bytes);
            }
            let shared = shared.clone();
            let handle = builder.spawn(move || shared.serve())?;
            lock(&owner.shared.workers).push(handle);
        }
        Ok(Pool { owner })
    }
}

// ---------------------------------------------------------------------
// The pool side: thread-safe
// ---------------------------------------------------------------------

/// A job's value, type-erased for the trip back.
type Value = Box<dyn Any + Send>;

/// A job's value or its failure.
type Outcome = Result<Value, JobError>;

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

fn unbox<T: 'static>(value: Value) -> T {
    match value.downcast::<T>() {
        Ok(value) => *value,
        Err(_) => unreachable!("a job's output has the type its callback was made for"),
    }
}

/// A job: dropping it unrun cancels it (its reply says so).
struct Job {
    /// The user's work, wrapped to box its value.
    task: Box<dyn FnOnce() -> Value + Send>,
    reply: Reply,
}

impl Job {
    fn run(self) {
        let Job { task, reply } = self;
        let out = panic::catch(task).map_err(|payload| {
            let message = panic_message(&*payload);
            // The payload's own Drop may panic: never here, unguarded.
            panic::drop_payload(payload);
            JobError::Panicked(message)
        });
        reply.deliver(out);
    }
}

/// Where a job's outcome goes: its loop's mailbox, under its slot there.
/// Every reply is delivered exactly once: one dropped undelivered (a
/// cancelled job, or a panic on the way) delivers `Cancelled`.
struct Reply {
    mailbox: Option<Arc<Mailbox>>,
    slot: usize,
}

impl Reply {
    fn new(mailbox: Arc<Mailbox>, slot: usize) -> Reply {
        Reply {
            mailbox: Some(mailbox),
            slot,
        }
    }

    fn deliver(mut self, out: Outcome) {
        self.send(out);
    }

    fn send(&mut self, out: Outcome) {
        if let Some(mailbox) = self.mailbox.take() {
            mailbox.post(Done {
                slot: self.slot,
                out,
            });
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        self.send(Err(JobError::Cancelled));
    }
}

struct Done {
    slot: usize,
    out: Outcome,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    closed: bool,
    /// Workers waiting for a job: a push wakes one only if some wait,
    /// which saves a syscall per job while all are busy.
    idle: usize,
}

/// What the workers share with the handles.
struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued or the pool closes.
    ready: Condvar,
    threads: NonZeroUsize,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

thread_local! {
    /// On a worker thread, the address of its pool's `Shared`.
    static WORKER_OF: Cell<usize> = const { Cell::new(0) };
}

/// Locks, ignoring poison: every critical section here leaves the data
/// consistent, and user code never runs under these locks.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Queues a job, or hands it back if the pool is closed.
    fn push(&self, job: Job) -> Result<(), Job> {
        let mut state = self.lock();
        if state.closed {
            return Err(job);
        }
        state.queue.push_back(job);
        let wake = state.idle > 0;
        drop(state);
        if wake {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// The next job, or `None` once the pool is closed and drained.
    fn next(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                return Some(job);
            }
            if state.closed {
                return None;
            }
            state.idle += 1;
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
            state.idle -= 1;
        }
    }

    /// A worker thread's body.
    fn serve(&self) {
        WORKER_OF.with(|w| w.set(self as *const Shared as usize));
        while let Some(job) = self.next() {
            // `run` catches the work's panics; this one catches a panic in
            // dropping an undeliverable value, so the thread survives both.
            if let Err(payload) = panic::catch(|| job.run()) {
                panic::drop_payload(payload);
            }
        }
    }

    fn shutdown(&self) {
        let cancelled = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.queue)
        };
        self.ready.notify_all();
        // Outside the lock: dropping the work closures runs user code,
        // which may panic; each job still sends its `Cancelled`.
        for job in cancelled {
            if let Err(payload) = panic::catch(move || drop(job)) {
                panic::drop_payload(payload);
            }
        }
        if WORKER_OF.with(|w| w.get()) == self as *const Shared as usize {
            return; // joining our own thread would never end; all exit soon
        }
        // Held while joining, so a concurrent second shutdown also waits.
        for handle in lock(&self.workers).drain(..) {
            if let Err(payload) = handle.join() {
                panic::drop_payload(payload);
            }
        }
    }
}

/// The handles' share; when the last handle goes, the pool shuts down.
struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.shutdown();
    }
}

// ---------------------------------------------------------------------
// The loop side: one port per loop
// ---------------------------------------------------------------------

/// The thread-safe half of a port: workers leave outcomes here.
struct Mailbox {
    tx: mpsc::Sender<Done>,
    /// Set by the first delivery since the loop last drained, so a batch
    /// of results costs one wakeup.
    armed: AtomicBool,
    wake: AsyncSender,
}

impl Mailbox {
    fn post(&self, done: Done) {
        // Fails only when the loop is gone: nobody is left to call back.
        if self.tx.send(done).is_err() {
            return;
        }
        if !self.armed.swap(true, Ordering::AcqRel) {
            self.wake.send();
        }
    }
}

/// A job's `on_done`, type-erased; it stays on its loop's thread.
type OnDone = Box<dyn FnOnce(&Loop, Outcome)>;

/// A loop's end of every pool: pending callbacks and the watcher that
/// delivers outcomes to them.
struct Port {
    mailbox: Arc<Mailbox>,
    rx: mpsc::Receiver<Done>,
    /// `on_done` closures of jobs in flight, by slot.
    pending: RefCell<Slab<OnDone>>,
    waker: Async,
}

impl Port {
    /// `lp`'s port, made on first use.
    fn of(lp: &Loop) -> Rc<Port> {
        Rc::clone(&lp.local(|| Port::new(lp)))
    }

    fn new(lp: &Loop) -> Rc<Port> {
        Rc::new_cyclic(|me: &Weak<Port>| {
            // Weak: the loop's locals own the port, the port owns the watcher.
            let me = me.clone();
            let waker = Async::new(lp, move |lp, _| {
                if let Some(port) = me.upgrade() {
                    port.drain(lp);
                }
            });
            waker.unref(); // nothing in flight yet
            let (tx, rx) = mpsc::channel();
            Port {
                mailbox: Arc::new(Mailbox {
                    tx,
                    armed: AtomicBool::new(false),
                    wake: waker.sender(),
                }),
                rx,
                pending: RefCell::new(Slab::new()),
                waker,
            }
        })
    }

    fn hold(&self, on_done: OnDone) -> usize {
        let slot = self.pending.borrow_mut().insert(on_done);
        self.sync_ref();
        slot
    }

    /// Keeps `run` alive exactly while something is in flight.
    fn sync_ref(&self) {
        if self.pending.borrow().is_empty() {
            self.waker.unref();
        } else {
            self.waker.ref_();
        }
    }

    /// Calls back every outcome that has arrived, one at a time and with
    /// no borrow held, so callbacks may submit more.
    fn drain(&self, lp: &Loop) {
        self.mailbox.armed.swap(false, Ordering::AcqRel);
        let _rearm = Rearm(self);
        while let Ok(done) = self.rx.try_recv() {
            let on_done = self.pending.borrow_mut().try_remove(done.slot);
            self.sync_ref();
            if let Some(on_done) = on_done {
                on_done(lp, done.out);
            }
        }
    }
}

/// If a callback panics mid-drain, wakes the port again so the outcomes
/// still queued are delivered by the next `run`.
struct Rearm<'a>(&'a Port);

impl Drop for Rearm<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.waker.send();
        }
    }
}
