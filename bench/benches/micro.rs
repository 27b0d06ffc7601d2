//! Microbenchmarks of hinge's hot paths, each beside a baseline:
//!
//! * `timers`: start then stop 1,000,000 timers, hinge's `Timer` against
//!   `ev_timer_start`/`ev_timer_stop` on a preallocated array (raw FFI).
//! * `emit`: one `Event::emit` with 1, 4 and 16 listeners, against calling
//!   the same boxed closures from a plain `Vec`.
//! * `defer`: queue 100,000 closures with `Loop::defer` and drain them
//!   with `Loop::run`, against a plain `VecDeque` of boxed closures.
//!
//! ```sh
//! cargo bench -p hinge-bench --bench micro
//! ```
//!
//! Sample sizes are small so the whole run takes a few minutes.

use std::cell::Cell;
use std::collections::VecDeque;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hinge::{Event, Loop, Timer, Watcher};
use libev_sys as sys;

const TIMERS: usize = 1_000_000;
const DEFERRED: usize = 100_000;

/// Timer `i`'s delay: spread over a second, in an order that is not
/// sorted, so the heap does real work; the same for both contenders.
fn delay(i: usize) -> f64 {
    1.0 + ((i * 7919) % TIMERS) as f64 / TIMERS as f64
}

fn timers(c: &mut Criterion) {
    let mut group = c.benchmark_group("timers");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(TIMERS as u64));

    {
        let lp = Loop::new().expect("a libev loop");
        let timers: Vec<Timer> = (0..TIMERS)
            .map(|i| {
                let t = Timer::new(
                    &lp,
                    Duration::from_secs_f64(delay(i)),
                    Duration::ZERO,
                    |_, _| {},
                );
                t.stop();
                t
            })
            .collect();
        group.bench_function("hinge Timer start+stop x1M", |b| {
            b.iter(|| {
                for t in &timers {
                    t.start();
                }
                for t in &timers {
                    t.stop();
                }
            })
        });
    }

    {
        let raw = RawTimers::new(TIMERS);
        group.bench_function("libev-sys ev_timer_start+stop x1M", |b| {
            b.iter(|| raw.start_stop_all())
        });
    }
    group.finish();
}

/// A libev loop and a fixed array of initialised `ev_timer`s.
struct RawTimers {
    lp: *mut sys::ev_loop,
    /// Boxed so that the watchers never move while libev points at them.
    timers: Box<[sys::ev_timer]>,
}

unsafe extern "C" fn on_timer(_: *mut sys::ev_loop, _: *mut sys::ev_timer, _: i32) {}

impl RawTimers {
    fn new(n: usize) -> RawTimers {
        // SAFETY: ev_loop_new has no preconditions; null is checked below.
        let lp = unsafe { sys::ev_loop_new(sys::EVFLAG_AUTO as _) };
        assert!(!lp.is_null(), "ev_loop_new failed");
        let mut timers: Box<[sys::ev_timer]> = (0..n)
            // SAFETY: all-zero is a valid ev_timer (integers, a null data
            // pointer, a `None` callback); ev_timer_init sets it up next.
            .map(|_| unsafe { std::mem::MaybeUninit::<sys::ev_timer>::zeroed().assume_init() })
            .collect();
        for (i, w) in timers.iter_mut().enumerate() {
            // SAFETY: `w` is a valid, inactive watcher owned by `timers`.
            unsafe { sys::hinge_ev_timer_init(w, Some(on_timer), delay(i), 0.0) };
        }
        RawTimers { lp, timers }
    }

    fn start_stop_all(&self) {
        let base = self.timers.as_ptr() as *mut sys::ev_timer;
        for i in 0..self.timers.len() {
            // SAFETY: the loop is alive, the watcher is initialised and
            // inactive, and its storage stays put until `drop` below.
            unsafe { sys::ev_timer_start(self.lp, base.add(i)) };
        }
        for i in 0..self.timers.len() {
            // SAFETY: as above; stopping an active watcher of this loop.
            unsafe { sys::ev_timer_stop(self.lp, base.add(i)) };
        }
    }
}

impl Drop for RawTimers {
    fn drop(&mut self) {
        // SAFETY: every watcher is stopped (start_stop_all ends with stops),
        // so the loop holds no pointer into `timers`; the loop is ours.
        unsafe { sys::ev_loop_destroy(self.lp) };
    }
}

type Listener = Box<dyn FnMut(&Loop, &(), &u64)>;
type Job = Box<dyn FnOnce(&Loop)>;

fn emit(c: &mut Criterion) {
    let lp = Loop::new().expect("a libev loop");
    let mut group = c.benchmark_group("emit");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for listeners in [1usize, 4, 16] {
        group.throughput(Throughput::Elements(listeners as u64));
        let sum = Rc::new(Cell::new(0u64));
        let listener = |sum: &Rc<Cell<u64>>| {
            let sum = sum.clone();
            move |_: &Loop, _: &(), n: &u64| sum.set(sum.get().wrapping_add(*n))
        };

        let event: Event<(), u64> = Event::new();
        for _ in 0..listeners {
            event.on(listener(&sum));
        }
        group.bench_with_input(BenchmarkId::new("hinge Event", listeners), &(), |b, _| {
            b.iter(|| event.emit(&lp, &(), black_box(&1)))
        });

        let mut plain: Vec<Listener> = Vec::new();
        for _ in 0..listeners {
            plain.push(Box::new(listener(&sum)));
        }
        group.bench_with_input(
            BenchmarkId::new("Vec<Box<dyn FnMut>>", listeners),
            &(),
            |b, _| {
                b.iter(|| {
                    for f in plain.iter_mut() {
                        f(&lp, &(), black_box(&1));
                    }
                })
            },
        );
        black_box(sum.get());
    }
    group.finish();
}

fn defer(c: &mut Criterion) {
    let lp = Loop::new().expect("a libev loop");
    let mut group = c.benchmark_group("defer");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(DEFERRED as u64));
    let ran = Rc::new(Cell::new(0u64));

    group.bench_function("hinge Loop::defer + run x100k", |b| {
        b.iter(|| {
            for _ in 0..DEFERRED {
                let ran = ran.clone();
                lp.defer(move |_| ran.set(ran.get() + 1));
            }
            lp.run();
        })
    });

    group.bench_function("VecDeque<Box<dyn FnOnce>> x100k", |b| {
        let mut queue: VecDeque<Job> = VecDeque::new();
        b.iter(|| {
            for _ in 0..DEFERRED {
                let ran = ran.clone();
                queue.push_back(Box::new(move |_| ran.set(ran.get() + 1)));
            }
            while let Some(job) = queue.pop_front() {
                job(&lp);
            }
        })
    });
    black_box(ran.get());
    group.finish();
}

criterion_group!(benches, timers, emit, defer);
criterion_main!(benches);
