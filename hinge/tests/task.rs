//! Tasks on the loop: the waker rules, scheduling, cancellation, panics,
//! teardown, timers, the pool and `AsyncFd`.

mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use common::{run_bounded, DropCounter};
use hinge::task::{interval, sleep, timeout, AsyncFd, Elapsed};
use hinge::{Error, Loop, Pool, Watcher};

/// A future that parks until its flag is set, handing its waker out.
#[derive(Clone, Default)]
struct Gate {
    open: Arc<Mutex<bool>>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }
    fn wait(&self) -> impl Future<Output = ()> + use<> {
        let g = self.clone();
        std::future::poll_fn(move |cx| {
            if *g.open.lock().unwrap() {
                return Poll::Ready(());
            }
            *g.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        })
    }
}

/// Yields once: wakes itself from inside its own poll.
struct YieldNow(bool);
impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn spawned_task_runs_and_its_output_is_awaited() {
    let lp = Loop::new().unwrap();
    let t = lp.spawn_local(async { "done" });
    assert_eq!(lp.block_on(t).unwrap(), "done");
}

#[test]
fn a_wake_from_another_thread_ends_a_blocking_wait() {
    let lp = Loop::new().unwrap();
    let gate = Gate::default();
    let g = gate.clone();
    let started = Instant::now();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        g.open();
    });
    // Nothing else is active: the loop blocks until the remote wake.
    lp.block_on(gate.wait()).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(40));
    t.join().unwrap();
}

#[test]
fn a_remote_wake_reaches_a_spawned_task_while_run_blocks() {
    let lp = Loop::new().unwrap();
    let gate = Gate::default();
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    let wait = gate.wait();
    let task = lp.spawn_local(async move {
        wait.await;
        d.set(true);
    });
    // A timer keeps run() blocking in the backend while the thread wakes
    // the task; the task then breaks the loop by finishing first.
    let g = gate.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        g.open();
    });
    let lp2 = lp.handle();
    let watch = lp.spawn_local(async move {
        task.await;
        lp2.break_one();
    });
    let _keep = hinge::Timer::new(&lp, Duration::from_secs(10), Duration::ZERO, |_, _| {});
    run_bounded(&lp, 5);
    t.join().unwrap();
    assert!(done.get());
    drop(watch);
}

#[test]
fn a_wake_from_a_callback_runs_the_task_in_the_same_iteration() {
    let lp = Loop::new().unwrap();
    let gate = Gate::default();
    let ran_at = Rc::new(Cell::new(0u32));
    let r = ran_at.clone();
    let h = lp.handle();
    let wait = gate.wait();
    lp.spawn_local(async move {
        wait.await;
        r.set(h.iteration());
    })
    .detach();
    lp.run_nowait(); // the task parks
    let woken_at = Rc::new(Cell::new(0u32));
    let w = woken_at.clone();
    let _t = hinge::Timer::new(
        &lp,
        Duration::from_millis(1),
        Duration::ZERO,
        move |lp, _| {
            w.set(lp.iteration());
            gate.open();
        },
    );
    lp.run();
    assert_ne!(woken_at.get(), 0);
    assert_eq!(ran_at.get(), woken_at.get());
}

#[test]
fn a_task_that_wakes_itself_is_polled_again() {
    let lp = Loop::new().unwrap();
    let polls = lp
        .block_on(async {
            for _ in 0..10 {
                YieldNow(false).await;
            }
            10
        })
        .unwrap();
    assert_eq!(polls, 10);
}

#[test]
fn a_wake_after_the_task_finished_is_harmless() {
    let lp = Loop::new().unwrap();
    let kept = Rc::new(RefCell::new(None::<Waker>));
    let k = kept.clone();
    let t = lp.spawn_local(std::future::poll_fn(move |cx| {
        *k.borrow_mut() = Some(cx.waker().clone());
        Poll::Ready(7)
    }));
    assert_eq!(lp.block_on(t).unwrap(), 7);
    let waker = kept.borrow_mut().take().unwrap();
    waker.wake_by_ref();
    std::thread::spawn(move || waker.wake()).join().unwrap();
    lp.run_nowait();
}

#[test]
fn a_task_dropped_while_its_waker_lives_on_another_thread() {
    let lp = Loop::new().unwrap();
    let drops = DropCounter::default();
    let token = drops.token();
    let gate = Gate::default();
    let wait = gate.wait();
    let task = lp.spawn_local(async move {
        let _t = token;
        wait.await;
    });
    lp.run_nowait(); // parks; the gate holds its waker
    let waker = gate.waker.lock().unwrap().take().unwrap();
    drop(task); // cancelled: the future is dropped on this thread
    lp.run_nowait();
    assert_eq!(drops.dropped(), 1);
    // The other thread wakes and drops the last waker: nothing to run.
    std::thread::spawn(move || waker.wake()).join().unwrap();
    lp.run_nowait();
}

#[test]
fn a_waker_kept_on_another_thread_outlives_the_loop() {
    let drops = DropCounter::default();
    let gate = Gate::default();
    {
        let lp = Loop::new().unwrap();
        let token = drops.token();
        let wait = gate.wait();
        lp.spawn_local(async move {
            let _t = token;
            wait.await;
        })
        .detach();
        lp.run_nowait();
    } // the loop goes: the task is cancelled here, on its thread
    assert_eq!(drops.dropped(), 1);
    let g = gate.clone();
    std::thread::spawn(move || g.open()).join().unwrap();
}

#[test]
fn dropping_the_loop_drops_every_unfinished_task() {
    let drops = DropCounter::default();
    {
        let lp = Loop::new().unwrap();
        for i in 0..50 {
            let token = drops.token();
            let h = lp.handle();
            let t = lp.spawn_local(async move {
                let _t = token;
                sleep(&h, Duration::from_secs(60 + i)).await;
            });
            t.detach();
        }
        // Some run and park, some never ran at all.
        lp.run_nowait();
        for _ in 0..10 {
            let token = drops.token();
            lp.spawn_local(async move {
                let _t = token;
            })
            .detach();
        }
    }
    assert_eq!(drops.dropped(), 60);
}

#[test]
fn cancelling_at_an_await_point_drops_the_future_at_once() {
    let lp = Loop::new().unwrap();
    let drops = DropCounter::default();
    let token = drops.token();
    let h = lp.handle();
    let task = lp.spawn_local(async move {
        let _t = token;
        sleep(&h, Duration::from_secs(60)).await;
    });
    lp.run_nowait();
    assert_eq!(drops.dropped(), 0);
    assert_eq!(lp.block_on(task.cancel()).unwrap(), None);
    assert_eq!(drops.dropped(), 1);
    // The sleep's timer went with it: nothing keeps the loop alive.
    assert!(!lp.run());
}

#[test]
fn nested_block_on_is_refused() {
    let lp = Loop::new().unwrap();
    let inner = lp.block_on(async { lp.block_on(async { 1 }) }).unwrap();
    assert!(matches!(inner, Err(Error::NestedBlockOn)));
    // From a callback, too.
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    let _t = hinge::Timer::new(&lp, Duration::ZERO, Duration::ZERO, move |lp, _| {
        *s.borrow_mut() = Some(lp.block_on(async {}).is_err());
    });
    lp.run();
    assert_eq!(*seen.borrow(), Some(true));
    // And the loop is still usable.
    assert_eq!(lp.block_on(async { 2 }).unwrap(), 2);
}

#[test]
fn a_hundred_thousand_short_tasks() {
    let lp = Loop::new().unwrap();
    let count = Rc::new(Cell::new(0u32));
    for _ in 0..100_000 {
        let c = count.clone();
        lp.spawn_local(async move { c.set(c.get() + 1) }).detach();
    }
    lp.run();
    assert_eq!(count.get(), 100_000);
}

#[test]
fn a_busy_task_does_not_starve_timers() {
    let lp = Loop::new().unwrap();
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    let spins = Rc::new(Cell::new(0u64));
    let s = spins.clone();
    let busy = lp.spawn_local(async move {
        while !f.get() {
            s.set(s.get() + 1);
            YieldNow(false).await;
        }
    });
    let f = fired.clone();
    let _t = hinge::Timer::new(
        &lp,
        Duration::from_millis(5),
        Duration::ZERO,
        move |_, _| f.set(true),
    );
    lp.block_on(busy).unwrap();
    assert!(fired.get());
    assert!(spins.get() > 1);
}

#[test]
fn a_panic_in_an_awaited_task_reaches_the_awaiter() {
    let lp = Loop::new().unwrap();
    let t = lp.spawn_local(async { panic!("task boom") });
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.block_on(t)));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"task boom"));
    // The loop survives.
    assert_eq!(lp.block_on(async { 3 }).unwrap(), 3);
}

#[test]
fn a_panic_in_a_detached_task_resumes_from_run() {
    let lp = Loop::new().unwrap();
    lp.spawn_local(async { panic!("detached boom") }).detach();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run()));
    assert_eq!(
        caught.unwrap_err().downcast_ref::<&str>(),
        Some(&"detached boom")
    );
    let ok = Rc::new(Cell::new(false));
    let o = ok.clone();
    lp.spawn_local(async move { o.set(true) }).detach();
    lp.run();
    assert!(ok.get());
}

#[test]
fn a_task_whose_drop_panics_during_teardown_does_not_abort() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("drop boom");
        }
    }
    let r = std::panic::catch_unwind(|| {
        let lp = Loop::new().unwrap();
        let h = lp.handle();
        lp.spawn_local(async move {
            let _b = Bomb;
            sleep(&h, Duration::from_secs(60)).await;
        })
        .detach();
        lp.run_nowait();
        drop(lp);
    });
    assert!(r.is_err());
}

#[test]
fn a_task_may_drop_its_own_task_handle_and_spawn_from_itself() {
    let lp = Loop::new().unwrap();
    let slot: Rc<RefCell<Option<hinge::Task<()>>>> = Rc::default();
    let s = slot.clone();
    let h = lp.handle();
    let out = Rc::new(Cell::new(0));
    let o = out.clone();
    let t = lp.spawn_local(async move {
        // Cancelling yourself from inside: takes effect at the next await.
        let me = s.borrow_mut().take();
        let o2 = o.clone();
        h.spawn_local(async move { o2.set(1) }).detach();
        drop(me);
        sleep(&h, Duration::from_millis(1)).await;
        o.set(2); // never reached
    });
    *slot.borrow_mut() = Some(t);
    lp.run();
    assert_eq!(out.get(), 1);
}

#[test]
fn sleep_timeout_and_interval() {
    let lp = Loop::new().unwrap();
    let h = lp.handle();
    lp.block_on(async {
        h.update_now();
        let start = Instant::now();
        sleep(&h, Duration::from_millis(20)).await;
        assert!(start.elapsed() >= Duration::from_millis(19));
        let r = timeout(
            &h,
            Duration::from_millis(5),
            sleep(&h, Duration::from_secs(30)),
        )
        .await;
        assert_eq!(r, Err(Elapsed(())));
        let r = timeout(&h, Duration::from_secs(30), async { 5 }).await;
        assert_eq!(r, Ok(5));
        // Timers count from the loop's cached time: refresh it first
        // (valgrind makes the cache old enough to matter).
        h.update_now();
        let start = Instant::now();
        let mut ticks = interval(&h, Duration::from_millis(2));
        for _ in 0..5 {
            ticks.tick().await;
        }
        assert!(start.elapsed() >= Duration::from_millis(9));
    })
    .unwrap();
    // The interval was dropped with the future: the loop has nothing left.
    assert!(!lp.run());
}

#[test]
fn a_pool_job_is_awaited_on_the_loop_thread() {
    let lp = Loop::new().unwrap();
    let pool = Pool::with_threads(2);
    let me = std::thread::current().id();
    let (value, there) = lp
        .block_on(async {
            let job = pool.spawn(&lp, || (std::thread::current().id(), 21 * 2));
            let (there, v) = job.await.unwrap();
            assert_eq!(std::thread::current().id(), me);
            (v, there)
        })
        .unwrap();
    assert_eq!(value, 42);
    assert_ne!(there, me);
    let failed = lp.block_on(pool.spawn(&lp, || -> u8 { panic!("job boom") }));
    assert!(matches!(failed.unwrap(), Err(hinge::JobError::Panicked(m)) if m.contains("job boom")));
}

#[test]
fn async_fd_readiness() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let lp = Loop::new().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let fd = AsyncFd::new(&lp, a).unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        b.write_all(b"late").unwrap();
        b
    });
    let got = lp
        .block_on(fd.read_with(|mut s| {
            let mut buf = [0u8; 8];
            let n = s.read(&mut buf)?;
            Ok(buf[..n].to_vec())
        }))
        .unwrap()
        .unwrap();
    assert_eq!(got, b"late");
    let _b = t.join().unwrap();
    // Nobody waits: the watcher is stopped, run() returns at once.
    assert!(!lp.run());
}

#[test]
fn tasks_do_not_keep_run_alive_by_themselves() {
    let lp = Loop::new().unwrap();
    let gate = Gate::default();
    let t = lp.spawn_local(gate.wait());
    // Like a pending promise: run() returns with the task still parked.
    assert!(!lp.run());
    assert!(!t.is_finished());
    let g = gate.clone();
    std::thread::spawn(move || g.open()).join().unwrap();
    lp.block_on(t).unwrap();
}

#[test]
fn the_idle_watcher_goes_once_the_queue_is_empty() {
    let lp = Loop::new().unwrap();
    lp.spawn_local(async {}).detach();
    lp.run();
    // With nothing queued the loop blocks again: a 20 ms timer takes 20 ms.
    lp.update_now();
    let start = Instant::now();
    let t = hinge::Timer::new(&lp, Duration::from_millis(20), Duration::ZERO, |_, _| {});
    lp.run();
    assert!(start.elapsed() >= Duration::from_millis(19));
    assert!(!t.is_active());
}

#[test]
fn a_future_that_wakes_itself_as_it_completes_leaves_the_loop_blocking() {
    let lp = Loop::new().unwrap();
    lp.block_on(std::future::poll_fn(|cx| {
        cx.waker().wake_by_ref();
        Poll::Ready(())
    }))
    .unwrap();
    lp.update_now();
    let start = Instant::now();
    let _t = hinge::Timer::new(&lp, Duration::from_millis(20), Duration::ZERO, |_, _| {});
    assert!(!lp.run());
    assert!(start.elapsed() >= Duration::from_millis(19));
}
