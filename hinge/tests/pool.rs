//! The work pool: real threads, real loops, bounded time.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use hinge::{JobError, Loop, Pool, Timer, Watcher};

/// Fails the test if `run` is still going after `secs`; unreferenced, so
/// it never keeps the loop alive itself.
fn watchdog(lp: &Loop, secs: u64) -> Timer {
    let t = Timer::new(lp, Duration::from_secs(secs), Duration::ZERO, |_, _| {
        panic!("loop still running: the test hung")
    });
    t.unref();
    t
}

/// Counts calls and drops of the closure that owns it (loop side, `!Send`).
#[derive(Clone, Default)]
struct Counts {
    calls: Rc<Cell<usize>>,
    drops: Rc<Cell<usize>>,
}

struct Tally(Counts);

impl Tally {
    fn hit(&self) {
        self.0.calls.set(self.0.calls.get() + 1);
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.0.drops.set(self.0.drops.get() + 1);
    }
}

/// Counts drops of the work closure that owns it (pool side, `Send`).
struct WorkTally(Arc<AtomicUsize>);

impl Drop for WorkTally {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Unblocks a running job once `pool` is shut down, so that no queued
/// job can start before the shutdown cancels it.
fn release_after_shutdown(pool: &Pool, release: mpsc::Sender<()>) -> thread::JoinHandle<()> {
    let pool = pool.clone();
    thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pool.is_shut_down() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        release.send(()).unwrap();
    })
}

#[test]
fn results_arrive_on_the_loop_thread_from_named_workers() {
    let lp = Loop::new().unwrap();
    let _w = watchdog(&lp, 20);
    let pool = Pool::with_threads(2);
    let loop_thread = thread::current().id();
    let names = Rc::new(RefCell::new(Vec::new()));
    for _ in 0..8 {
        let names = names.clone();
        pool.submit(
            &lp,
            || thread::current().name().map(str::to_owned),
            move |_, r| {
                assert_eq!(thread::current().id(), loop_thread);
                names.borrow_mut().push(r.unwrap().unwrap());
            },
        );
    }
    lp.run();
    let names = names.borrow();
    assert_eq!(names.len(), 8);
    for name in names.iter() {
        assert!(name.starts_with("hinge-pool-"), "worker named {name:?}");
    }
}

#[test]
fn default_size_is_available_parallelism() {
    let cores = thread::available_parallelism().unwrap().get();
    assert_eq!(Pool::new().threads(), cores);
    assert_eq!(Pool::builder().threads(3).build().unwrap().threads(), 3);
    assert!(Pool::builder().threads(0).build().is_err());
}

/// Runs `n` jobs that each wait until all `n` are running at once.
fn all_run_together(lp: &Loop, pool: &Pool, n: usize) -> bool {
    let arrived = Arc::new(AtomicUsize::new(0));
    let together = Rc::new(Cell::new(0));
    for _ in 0..n {
        let arrived = arrived.clone();
        let together = together.clone();
        pool.submit(
            lp,
            move || {
                arrived.fetch_add(1, Ordering::SeqCst);
                let deadline = Instant::now() + Duration::from_secs(5);
                while arrived.load(Ordering::SeqCst) < n {
                    if Instant::now() > deadline {
                        return false;
                    }
                    thread::sleep(Duration::from_millis(1));
                }
                true
            },
            move |_, r| together.set(together.get() + usize::from(r.unwrap())),
        );
    }
    lp.run();
    together.get() == n
}

#[test]
fn a_panic_becomes_an_error_and_the_pool_keeps_its_size() {
    let lp = Loop::new().unwrap();
    let _w = watchdog(&lp, 30);
    let pool = Pool::with_threads(3);
    let got = Rc::new(RefCell::new(Vec::new()));
    let record = |got: &Rc<RefCell<Vec<_>>>| {
        let got = got.clone();
        move |_: &Loop, r: Result<(), JobError>| got.borrow_mut().push(r)
    };
    pool.submit(&lp, || panic!("static message"), record(&got));
    pool.submit(&lp, || panic!("formatted {}", 42), record(&got));
    pool.submit(&lp, || std::panic::panic_any(7u8), record(&got));
    for _ in 0..6 {
        pool.submit(&lp, || panic!("again"), |_, _: Result<(), _>| {});
    }
    lp.run();
    let got = got.borrow();
    assert!(got.contains(&Err(JobError::Panicked("static message".into()))));
    assert!(got.contains(&Err(JobError::Panicked("formatted 42".into()))));
    assert!(got.contains(&Err(JobError::Panicked("Box<dyn Any>".into()))));
    assert_eq!(got.len(), 3);
    assert_eq!(pool.threads(), 3);
    assert!(
        all_run_together(&lp, &pool, 3),
        "a worker died after a panic"
    );
}

#[test]
fn shutdown_cancels_queued_jobs_and_lets_running_ones_finish() {
    let lp = Loop::new().unwrap();
    let _w = watchdog(&lp, 20);
    let pool = Pool::with_threads(1);
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let running = Rc::new(RefCell::new(None));
    let r = running.clone();
    pool.submit(
        &lp,
        move || {
            started_tx.send(()).unwrap();
            release_rx.recv_timeout(Duration::from_secs(10)).is_ok()
        },
        move |_, result| *r.borrow_mut() = Some(result),
    );
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();

    let cancelled = Rc::new(Cell::new(0));
    let work_drops = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let cancelled = cancelled.clone();
        let tally = WorkTally(work_drops.clone());
        pool.submit(
            &lp,
            move || {
                let _keep = &tally;
                unreachable!("a queued job ran after shutdown")
            },
            move |_, r: Result<(), _>| {
                assert_eq!(r, Err(JobError::Cancelled));
                cancelled.set(cancelled.get() + 1);
            },
        );
    }
    assert_eq!(pool.queued(), 10);

    let releaser = release_after_shutdown(&pool, release_tx);
    pool.shutdown(); // returns once the running job is done
    releaser.join().unwrap();
    assert!(pool.is_shut_down());
    assert_eq!(pool.queued(), 0);
    assert_eq!(
        work_drops.load(Ordering::SeqCst),
        10,
        "cancelled work dropped unrun"
    );
    // Delivered on the loop's next iteration, not inside shutdown.
    assert_eq!(cancelled.get(), 0);
    assert!(running.borrow().is_none());

    lp.run();
    assert_eq!(cancelled.get(), 10);
    assert_eq!(*running.borrow(), Some(Ok(true)));

    // Later submits are cancelled too.
    let late = Rc::new(RefCell::new(None));
    let l = late.clone();
    pool.submit(&lp, || 1, move |_, r| *l.borrow_mut() = Some(r));
    lp.run();
    assert_eq!(*late.borrow(), Some(Err(JobError::Cancelled)));
    pool.shutdown(); // again: nothing happens
}

#[test]
fn dropping_the_last_handle_shuts_down() {
    let lp = Loop::new().unwrap();
    let _w = watchdog(&lp, 20);
    let pool = Pool::with_threads(1);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel();
    pool.submit(
        &lp,
        move || {
            started_tx.send(()).unwrap();
            release_rx.recv_timeout(Duration::from_secs(10)).is_ok()
        },
        |_, r| assert_eq!(r, Ok(true)),
    );
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let outcomes = Rc::new(RefCell::new(Vec::new()));
    for _ in 0..5 {
        let o = outcomes.clone();
        pool.submit(&lp, || (), move |_, r| o.borrow_mut().push(r));
    }
    let clone = pool.clone();
    drop(pool); // not the last
    assert_eq!(clone.queued(), 5);
    release_tx.send(()).unwrap();
    drop(clone); // the last: cancels what is still queued, joins
    lp.run();
    let outcomes = outcomes.borrow();
    assert_eq!(outcomes.len(), 5);
    assert!(outcomes
        .iter()
        .all(|r| r.is_ok() || *r == Err(JobError::Cancelled)));
}

#[test]
fn dropping_the_last_handle_inside_a_job_does_not_hang() {
    let lp = Loop::new().unwrap();
    let _w = watchdog(&lp, 20);
    let pool = Pool::with_threads(2);
    let inner = pool.clone();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    pool.submit(
        &lp,
        move || {
            go_rx.recv_timeout(Duration::from_secs(10)).unwrap();
            let threads = inner.threads();
            drop(inner); // the last handle: shutdown from a worker
            threads
        },
        move |_, r| {
            assert_eq!(r, Ok(2));
            d.set(true);
        },
    );
    drop(pool);
    go_tx.send(()).unwrap();
    lp.run();
    assert!(done.get());
}

#[test]
fn a_hundred_thousand_jobs_complete_exactly_once() {
    const N: usize = 100_000;
    let lp = Loop::new().unwrap();
    let _w = watchdog(&lp, 60);
    let pool = Pool::with_threads(2);
    let hits = Rc::new(RefCell::new(vec![0u8; N]));
    let ran = Arc::new(AtomicUsize::new(0));
    for i in 0..N {
        let hits = hits.clone();
        let ran = ran.clone();
        pool.submit(
            &lp,
            move || {
                ran.fetch_add(1, Ordering::Relaxed);
                i
            },
            move |_, r| {
                let j = r.unwrap();
                assert_eq!(i, j);
                hits.borrow_mut()[j] += 1;
            },
        );
    }
    lp.run();
    assert_eq!(ran.load(Ordering::SeqCst), N);
    let hits = hits.borrow();
    let wrong: Vec<_> = hits.iter().enumerate().filter(|(_, h)| **h != 1).collect();
    assert!(
        wrong.is_empty(),
        "jobs not called back exactly once: {:?}",
        &wrong[..wrong.len().min(10)]
    );
}

#[test]
fn loops_on_several_threads_share_one_pool() {
    const LOOPS: usize = 4;
    const JOBS: usize = 2_000;
    let pool = Pool::with_threads(2);
    let threads: Vec<_> = (0..LOOPS)
        .map(|me| {
            let pool = pool.clone();
            thread::spawn(move || {
                let lp = Loop::new().unwrap();
                let _w = watchdog(&lp, 30);
                let mine = thread::current().id();
                let got = Rc::new(RefCell::new(vec![0u8; JOBS]));
                for i in 0..JOBS {
                    let got = got.clone();
                    pool.submit(
                        &lp,
                        move || (me, i),
                        move |_, r| {
                            assert_eq!(thread::current().id(), mine);
                            let (owner, j) = r.unwrap();
                            assert_eq!(owner, me, "a result reached the wrong loop");
                            got.borrow_mut()[j] += 1;
                        },
                    );
                }
                lp.run();
                let all_once = got.borrow().iter().all(|h| *h == 1);
                all_once
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap(), "some loop missed or repeated a result");
    }
}

#[test]
fn several_pools_serve_one_loop() {
    let lp = Loop::new().unwrap();
    let _w = watchdog(&lp, 20);
    let a = Pool::with_threads(1);
    let b = Pool::with_threads(1);
    let sum = Rc::new(Cell::new(0));
    for n in 0..50u32 {
        let pool = if n % 2 == 0 { &a } else { &b };
        let s = sum.clone();
        pool.submit(&lp, move || n, move |_, r| s.set(s.get() + r.unwrap()));
    }
    lp.run();
    assert_eq!(sum.get(), (0..50).sum::<u32>());
}

#[test]
fn an_idle_pool_does_not_keep_run_alive() {
    let lp = Loop::new().unwrap();
    let _w = watchdog(&lp, 20);
    let pool = Pool::with_threads(1);
    assert!(!lp.run());
    // Once the port exists and is idle again, `run` still returns at once.
    pool.submit(&lp, || (), |_, _| {});
    lp.run();
    let t0 = Instant::now();
    assert!(!lp.run());
    assert!(t0.elapsed() < Duration::from_millis(500));
}

#[test]
fn pending_jobs_keep_run_alive() {
    let lp = Loop::new().unwrap();
    let _w = watchdog(&lp, 20);
    let pool = Pool::with_threads(1);
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    pool.submit(
        &lp,
        || thread::sleep(Duration::from_millis(100)),
        move |_, r| {
            r.unwrap();
            d.set(true);
        },
    );
    let t0 = Instant::now();
    lp.run();
    assert!(done.get(), "run returned before the job came back");
    assert!(t0.elapsed() >= Duration::from_millis(90));
}

#[test]
fn submit_from_on_done_chains() {
    fn next(lp: &Loop, pool: Pool, left: u32, count: Rc<Cell<u32>>) {
        let again = pool.clone();
        pool.submit(
            lp,
            move || left,
            move |lp, r| {
                assert_eq!(r, Ok(left));
                count.set(count.get() + 1);
                if left > 1 {
                    next(lp, again, left - 1, count);
                }
            },
        );
    }
    let lp = Loop::new().unwrap();
    let _w = watchdog(&lp, 20);
    let count = Rc::new(Cell::new(0));
    next(&lp, Pool::with_threads(2), 100, count.clone());
    lp.run();
    assert_eq!(count.get(), 100);
}

#[test]
fn submit_from_another_watchers_callback() {
    let lp = Loop::new().unwrap();
    let _w = watchdog(&lp, 20);
    let pool = Pool::with_threads(1);
    let got = Rc::new(Cell::new(0));
    let g = got.clone();
    let _t = Timer::new(
        &lp,
        Duration::from_millis(1),
        Duration::ZERO,
        move |lp, _| {
            let g = g.clone();
            pool.submit(lp, || 5, move |_, r| g.set(r.unwrap()));
        },
    );
    lp.run();
    assert_eq!(got.get(), 5);
}

#[test]
fn split_callbacks() {
    let lp = Loop::new().unwrap();
    let _w = watchdog(&lp, 20);
    let pool = Pool::with_threads(1);
    let log = Rc::new(RefCell::new(Vec::new()));
    let (ok, err) = (log.clone(), log.clone());
    pool.submit_split(
        &lp,
        || 3,
        move |_, v| ok.borrow_mut().push(format!("ok {v}")),
        |_, e| panic!("unexpected {e}"),
    );
    let ok2 = log.clone();
    pool.submit_split(
        &lp,
        || -> u8 { panic!("nope") },
        move |_, v| ok2.borrow_mut().push(format!("ok {v}")),
        move |_, e| err.borrow_mut().push(e.to_string()),
    );
    lp.run();
    let mut log = log.borrow().clone();
    log.sort();
    assert_eq!(log, ["job panicked: nope", "ok 3"]);
}

#[test]
fn a_panic_in_on_done_leaves_the_other_results_for_the_next_run() {
    let lp = Loop::new().unwrap();
    let _w = watchdog(&lp, 20);
    let pool = Pool::with_threads(1);
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let delivered = Rc::new(Cell::new(0));
    // Hold the worker so all results arrive in one batch.
    pool.submit(
        &lp,
        move || go_rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        |_, _| panic!("on_done panics"),
    );
    for _ in 0..5 {
        let d = delivered.clone();
        pool.submit(&lp, || (), move |_, _| d.set(d.get() + 1));
    }
    go_tx.send(()).unwrap();
    thread::sleep(Duration::from_millis(50));
    let first = catch_unwind(AssertUnwindSafe(|| lp.run()));
    assert!(first.is_err(), "the callback's panic resurfaces from run");
    lp.run();
    assert_eq!(delivered.get(), 5);
}

#[test]
fn on_done_closures_are_dropped_exactly_once() {
    let pool = Pool::with_threads(1);

    // Completed normally.
    let lp = Loop::new().unwrap();
    let _w = watchdog(&lp, 20);
    let counts = Counts::default();
    for _ in 0..20 {
        let t = Tally(counts.clone());
        pool.submit(
            &lp,
            || (),
            move |_, r| {
                r.unwrap();
                t.hit();
            },
        );
    }
    lp.run();
    assert_eq!((counts.calls.get(), counts.drops.get()), (20, 20));

    // Cancelled by shutdown.
    let small = Pool::with_threads(1);
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel();
    let counts = Counts::default();
    let t = Tally(counts.clone());
    small.submit(
        &lp,
        move || {
            started_tx.send(()).unwrap();
            go_rx.recv_timeout(Duration::from_secs(10)).unwrap()
        },
        move |_, _| t.hit(),
    );
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    for _ in 0..10 {
        let t = Tally(counts.clone());
        small.submit(
            &lp,
            || (),
            move |_, r| {
                assert_eq!(r, Err(JobError::Cancelled));
                t.hit();
            },
        );
    }
    let releaser = release_after_shutdown(&small, go_tx);
    small.shutdown();
    releaser.join().unwrap();
    assert_eq!(counts.drops.get(), 0, "closures live until delivered");
    lp.run();
    assert_eq!((counts.calls.get(), counts.drops.get()), (11, 11));
    drop(_w);
    drop(lp);

    // The loop is dropped with jobs still running and queued.
    let lp = Loop::new().unwrap();
    let counts = Counts::default();
    let work_drops = Arc::new(AtomicUsize::new(0));
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel();
    let t = Tally(counts.clone());
    pool.submit(
        &lp,
        move || {
            started_tx.send(()).unwrap();
            go_rx.recv_timeout(Duration::from_secs(10)).unwrap();
            vec![1u8; 1024] // a value nobody will receive
        },
        move |_, _| t.hit(),
    );
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    for _ in 0..10 {
        let t = Tally(counts.clone());
        let w = WorkTally(work_drops.clone());
        pool.submit(
            &lp,
            move || {
                let _keep = &w;
            },
            move |_, _| t.hit(),
        );
    }
    drop(lp);
    assert_eq!((counts.calls.get(), counts.drops.get()), (0, 11));
    go_tx.send(()).unwrap(); // the worker finishes and finds no one to tell
                             // The pool survives and still serves other loops.
    let lp = Loop::new().unwrap();
    let _w = watchdog(&lp, 20);
    let ok = Rc::new(Cell::new(false));
    let o = ok.clone();
    pool.submit(&lp, || 1, move |_, r| o.set(r == Ok(1)));
    lp.run();
    assert!(ok.get());
    assert_eq!(work_drops.load(Ordering::SeqCst), 10);
    pool.shutdown();
    assert_eq!((counts.calls.get(), counts.drops.get()), (0, 11));
}

#[test]
fn debug_shows_the_pool() {
    let pool = Pool::with_threads(2);
    let text = format!("{pool:?}");
    assert!(text.contains("threads: 2"), "{text}");
}

/// A panic payload whose own `Drop` panics again.
struct PayloadThatPanics;

impl Drop for PayloadThatPanics {
    fn drop(&mut self) {
        panic!("the payload's drop panics too");
    }
}

#[test]
fn a_worker_survives_a_panic_whose_payload_panics_when_dropped() {
    let lp = Loop::new().unwrap();
    let pool = Pool::with_threads(1);
    let results = Rc::new(RefCell::new(Vec::new()));
    let r = results.clone();
    pool.submit(
        &lp,
        || -> u32 { std::panic::panic_any(PayloadThatPanics) },
        move |_, out| r.borrow_mut().push(out.map_err(|e| e.to_string())),
    );
    // The same (only) worker must still be there for these.
    for n in 0..3u32 {
        let r = results.clone();
        pool.submit(
            &lp,
            move || n,
            move |_, out| r.borrow_mut().push(out.map_err(|e| e.to_string())),
        );
    }
    let guard = Timer::new(&lp, Duration::from_secs(10), Duration::ZERO, |lp, _| {
        lp.break_all()
    });
    guard.unref();
    lp.run();
    let results = results.borrow();
    assert_eq!(
        results.len(),
        4,
        "every job gets exactly one callback: {results:?}"
    );
    let first = results[0].as_ref().unwrap_err();
    assert!(first.contains("panicked"), "{first}");
    assert_eq!(results[1..], [Ok(0), Ok(1), Ok(2)]);
}
