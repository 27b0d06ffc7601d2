//! Every core: a group of loops, one per thread, as libev recommends.
//!
//! Nothing is shared between the loops while they run: each has its own
//! servers, sockets, timers and buffers. What crosses threads is the
//! setup closure (once per worker), the [`Stopper`] (once per stop), and
//! whatever the user sends through [`Loop::channel`]s.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{Error, Loop, Result, Sender};

/// A group of loops, one per thread, each set up by the same closure:
/// Node's `cluster` or nginx's workers, in one process. With
/// [`Server::set_reuse_port`](crate::Server::set_reuse_port), every
/// worker listens on the same port and the kernel spreads connections
/// across them.
///
/// [`run`](Workers::run) calls `setup` on each worker's thread with that
/// worker's [`Loop`] and its [`Worker`] (index, stop hooks), then runs
/// the loop; it returns once every loop has ended. Worker 0 runs on the
/// calling thread, the others on threads of their own.
///
/// ```no_run
/// use hinge::{signal, Server, Workers};
///
/// fn main() -> hinge::Result<()> {
///     Workers::new() // one loop per CPU
///         .stop_on_signals(&[signal::SIGINT, signal::SIGTERM])
///         .run(|lp, worker| {
///             let server = Server::new(lp);
///             server.set_reuse_port(true); // every loop on port 4545
///             server.on_connection(|_, _, client| {
///                 client.on_data(|_, client, data| {
///                     client.send(data).ok();
///                 });
///             });
///             server.listen(4545)?;
///             // Ctrl-C: stop listening, let the clients finish.
///             worker.on_stop(move |_| {
///                 server.close();
///                 server.close_connections();
///             });
///             Ok(())
///         })
/// }
/// ```
///
/// # Failures
///
/// A worker whose setup returns an error, or that panics (in its setup
/// or in any callback of its loop), ends; its loop is dropped on its
/// thread. The failure is reported at once (to the
/// [`on_failure`](Workers::on_failure) hook if there is one, else as
/// [`report_unhandled`](crate::report_unhandled) does), and the first
/// one is returned by `run`, as [`Error::WorkerPanicked`] or
/// [`Error::WorkerFailed`] naming the worker, once the others have ended.
/// Whether the others go on is yours to decide: by default they do (their
/// listeners still take the port's connections); to take them down too,
/// stop them from the hook:
///
/// ```
/// use hinge::{Error, Workers};
///
/// let result = Workers::new()
///     .threads(2)
///     .on_failure(|err, stopper| {
///         eprintln!("{err}; stopping the others");
///         stopper.stop();
///     })
///     .run(|lp, worker| {
///         if worker.index() == 1 {
///             panic!("worker 1 gives up");
///         }
///         lp.channel(1, |_, ()| {}).1.detach(); // keeps loop 0 running...
///         Ok(()) // ...until stop(): no on_stop hook, so its loop breaks
///     });
/// assert!(matches!(result, Err(Error::WorkerPanicked { index: 1, .. })));
/// ```
pub struct Workers {
    threads: usize,
    signals: Vec<i32>,
    on_failure: Option<FailureHook>,
    stopper: Stopper,
}

type FailureHook = Box<dyn Fn(&Error, &Stopper) + Send + Sync>;

impl Default for Workers {
    fn default() -> Workers {
        Workers::new()
    }
}

impl Workers {
    /// A group with one loop per CPU (`std::thread::available_parallelism`,
    /// or 1 if it cannot tell).
    ///
    /// ```
    /// let workers = hinge::Workers::new();
    /// assert!(workers.count() >= 1);
    /// ```
    pub fn new() -> Workers {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Workers {
            threads: cpus,
            signals: Vec::new(),
            on_failure: None,
            stopper: Stopper::default(),
        }
    }

    /// Sets how many loops (threads) to run; at least 1.
    ///
    /// ```
    /// assert_eq!(hinge::Workers::new().threads(3).count(), 3);
    /// assert_eq!(hinge::Workers::new().threads(0).count(), 1);
    /// ```
    pub fn threads(mut self, n: usize) -> Workers {
        self.threads = n.max(1);
        self
    }

    /// How many loops [`run`](Workers::run) starts.
    ///
    /// ```
    /// assert_eq!(hinge::Workers::new().threads(2).count(), 2);
    /// ```
    pub fn count(&self) -> usize {
        self.threads
    }

    /// Stops every worker gracefully when one of `signals` arrives:
    /// worker 0's loop watches them (libev lets one loop own a signal)
    /// and calls [`Stopper::stop`]. The watch does not keep the loop
    /// alive. It lives as long as worker 0's loop: if worker 0 fails or
    /// ends first, a signal no longer stops the others (use
    /// [`on_failure`](Workers::on_failure) to stop them all when one
    /// fails).
    ///
    /// ```
    /// let workers = hinge::Workers::new().stop_on_signals(&[hinge::signal::SIGINT]);
    /// # drop(workers);
    /// ```
    pub fn stop_on_signals(mut self, signals: &[i32]) -> Workers {
        self.signals.extend_from_slice(signals);
        self
    }

    /// Calls `hook` on a failing worker's thread, as soon as it fails,
    /// with the error `run` will return (if it is the first) and a
    /// [`Stopper`], to stop the others or not. Without a hook, failures
    /// are reported as [`report_unhandled`](crate::report_unhandled) does.
    ///
    /// ```
    /// let workers = hinge::Workers::new().on_failure(|err, stopper| {
    ///     eprintln!("{err}");
    ///     stopper.stop(); // all or nothing
    /// });
    /// # drop(workers);
    /// ```
    pub fn on_failure<F>(mut self, hook: F) -> Workers
    where
        F: Fn(&Error, &Stopper) + Send + Sync + 'static,
    {
        self.on_failure = Some(Box::new(hook));
        self
    }

    /// A handle that stops every worker, from any thread, before or
    /// during [`run`](Workers::run).
    ///
    /// ```
    /// use hinge::Workers;
    ///
    /// let workers = Workers::new().threads(2);
    /// let stopper = workers.stopper();
    /// stopper.stop(); // before run: each loop stops as soon as it runs
    /// workers.run(|lp, _| {
    ///     lp.channel(1, |_, ()| {}).1.detach(); // work that never ends
    ///     Ok(())
    /// })?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Runs the workers: on each, makes a [`Loop`], calls `setup` with it,
    /// and runs it. Returns once every loop has ended, with the first
    /// failure if a worker failed (see [Failures](Workers#failures)).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// let ran = AtomicUsize::new(0);
    /// hinge::Workers::new().threads(3).run(|_lp, worker| {
    ///     assert_eq!(worker.count(), 3);
    ///     ran.fetch_add(1, Ordering::Relaxed);
    ///     Ok(()) // nothing on the loop: it ends at once
    /// })?;
    /// assert_eq!(ran.load(Ordering::Relaxed), 3);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn run<F>(self, setup: F) -> Result<()>
    where
        F: Fn(&Loop, &Worker) -> Result<()> + Send + Sync,
    {
        let failures = Mutex::new(Vec::new());
        let this = &self;
        let (setup, failures_ref) = (&setup, &failures);
        std::thread::scope(|scope| {
            let mut spawned = Ok(());
            for index in 1..this.threads {
                let started = std::thread::Builder::new()
                    .name(format!("hinge-worker-{index}"))
                    .spawn_scoped(scope, move || this.worker(index, setup, failures_ref));
                if let Err(e) = started {
                    // The ones started run on; stop them.
                    this.stopper.stop();
                    spawned = Err(Error::from_io("spawn worker", index, e));
                    break;
                }
            }
            if spawned.is_ok() {
                this.worker(0, setup, failures_ref);
            }
            spawned
        })?;
        let first = lock(&failures).drain(..).next();
        first.map_or(Ok(()), Err)
    }

    /// One worker, start to end, on its own thread; a failure is
    /// reported and recorded, in the order failures happen.
    fn worker<F>(&self, index: usize, setup: &F, failures: &Mutex<Vec<Error>>)
    where
        F: Fn(&Loop, &Worker) -> Result<()>,
    {
        let ran = panic::catch_unwind(AssertUnwindSafe(|| self.serve(index, setup)));
        let err = match ran {
            Ok(Ok(())) => return,
            Ok(Err(e)) => Error::WorkerFailed {
                index,
                source: Box::new(e),
            },
            Err(payload) => Error::WorkerPanicked {
                index,
                message: panic_message(payload),
            },
        };
        match &self.on_failure {
            Some(hook) => hook(&err, &self.stopper),
            None => crate::report_unhandled(format_args!("hinge: {err}")),
        }
        lock(failures).push(err);
    }

    fn serve<F>(&self, index: usize, setup: &F) -> Result<()>
    where
        F: Fn(&Loop, &Worker) -> Result<()>,
    {
        let lp = Loop::new()?;
        let hooks = Rc::new(RefCell::new(Vec::new()));
        let on_stop = hooks.clone();
        // Unref'd: a worker's loop ends when its work does, stop or not.
        let (tx, rx) = lp.channel(1, move |lp, ()| stop_worker(lp, &on_stop));
        rx.unref();
        self.stopper.join(tx);
        if index == 0 {
            for &signum in &self.signals {
                let stopper = self.stopper.clone();
                lp.on_signal(signum, move |_, _| stopper.stop())?;
            }
        }
        let worker = Worker {
            index,
            count: self.threads,
            stopper: self.stopper.clone(),
            hooks,
        };
        setup(&lp, &worker)?;
        lp.run();
        drop(rx);
        Ok(())
    }
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("threads", &self.threads)
            .field("signals", &self.signals)
            .finish_non_exhaustive()
    }
}

type StopHook = Box<dyn FnOnce(&Loop)>;

/// Runs a worker's stop hooks; with none, breaks its loop.
fn stop_worker(lp: &Loop, hooks: &RefCell<Vec<StopHook>>) {
    let hooks = std::mem::take(&mut *hooks.borrow_mut());
    if hooks.is_empty() {
        lp.break_all();
    }
    for hook in hooks {
        hook(lp);
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(s) => (*s).to_string(),
            Err(_) => "(a panic without a message)".to_string(),
        },
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One worker of a [`Workers`] group, as its setup closure sees it: which
/// one it is, and where to say how it stops. `!Send`, like its loop.
///
/// ```
/// hinge::Workers::new().threads(2).run(|_lp, worker| {
///     println!("worker {} of {}", worker.index(), worker.count());
///     Ok(())
/// })?;
/// # Ok::<(), hinge::Error>(())
/// ```
pub struct Worker {
    index: usize,
    count: usize,
    stopper: Stopper,
    hooks: Rc<RefCell<Vec<StopHook>>>,
}

impl Worker {
    /// This worker's number, from 0 to [`count`](Worker::count) - 1.
    /// Worker 0 runs on the thread that called [`Workers::run`].
    ///
    /// ```
    /// hinge::Workers::new().threads(1).run(|_, worker| {
    ///     assert_eq!(worker.index(), 0);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many workers the group runs.
    ///
    /// ```
    /// hinge::Workers::new().threads(2).run(|_, worker| {
    ///     assert_eq!(worker.count(), 2);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn count(&self) -> usize {
        self.count
    }

    /// A handle that stops every worker of the group (this one included),
    /// for a callback to keep: a `DIE` command, an admin endpoint.
    ///
    /// ```
    /// hinge::Workers::new().threads(2).run(|lp, worker| {
    ///     let stopper = worker.stopper();
    ///     lp.set_timeout(std::time::Duration::ZERO, move |_| stopper.stop());
    ///     lp.channel(1, |_, ()| {}).1.detach(); // work that never ends
    ///     Ok(())
    /// })?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Runs `hook` on this worker's loop when the group is stopped
    /// ([`Stopper::stop`], or a signal of
    /// [`stop_on_signals`](Workers::stop_on_signals)): close the servers
    /// here, and the loop ends once their clients are gone. Hooks run in
    /// the order they were added. A worker with no hook has its loop
    /// broken instead (what is still open on it is then closed as the
    /// loop is dropped).
    ///
    /// ```no_run
    /// hinge::Workers::new().run(|lp, worker| {
    ///     let server = hinge::http::Server::new(lp);
    ///     server.transport().set_reuse_port(true);
    ///     server.on_request(|_, _, _req, res| {
    ///         res.end("hello").ok();
    ///     });
    ///     server.listen(8080)?;
    ///     worker.on_stop(move |_| server.close());
    ///     Ok(())
    /// })?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_stop<F>(&self, hook: F)
    where
        F: FnOnce(&Loop) + 'static,
    {
        self.hooks.borrow_mut().push(Box::new(hook));
    }
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("index", &self.index)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

/// Stops every worker of a [`Workers`] group, from any thread: each runs
/// its [`on_stop`](Worker::on_stop) hooks on its own loop. `Send`, `Sync`,
/// cheap to clone; stopping twice is stopping once. Workers that start
/// after a stop stop as soon as their loop runs.
///
/// ```
/// let workers = hinge::Workers::new().threads(2);
/// let stopper = workers.stopper();
/// assert!(!stopper.is_stopping());
/// stopper.stop();
/// assert!(stopper.is_stopping());
/// workers.run(|_, _| Ok(()))?;
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Stopper {
    shared: Arc<Mutex<StopState>>,
}

#[derive(Default)]
struct StopState {
    stopping: bool,
    /// Each running worker's stop channel.
    loops: Vec<Sender<()>>,
}

impl Stopper {
    /// Asks every worker to stop. Returns at once; [`Workers::run`]
    /// returns once their loops have ended.
    ///
    /// ```
    /// let stopper = hinge::Workers::new().stopper();
    /// std::thread::spawn(move || stopper.stop()).join().unwrap();
    /// ```
    pub fn stop(&self) {
        let loops = {
            let mut st = lock(&self.shared);
            st.stopping = true;
            st.loops.clone()
        };
        for tx in loops {
            // Full: a stop is already on its way. Closed: that loop ended.
            let _ = tx.try_send(());
        }
    }

    /// Whether [`stop`](Stopper::stop) was called.
    ///
    /// ```
    /// assert!(!hinge::Workers::new().stopper().is_stopping());
    /// ```
    pub fn is_stopping(&self) -> bool {
        lock(&self.shared).stopping
    }

    /// A worker's loop joins the group; one that joins after a stop is
    /// stopped at once.
    fn join(&self, tx: Sender<()>) {
        let mut st = lock(&self.shared);
        if st.stopping {
            let _ = tx.try_send(());
        }
        st.loops.push(tx);
    }
}

impl std::fmt::Debug for Stopper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stopper")
            .field("stopping", &self.is_stopping())
            .finish()
    }
}
