//! Work pool throughput and round-trip latency.
//!
//! Run with `cargo bench -p hinge --bench pool`. Plain `Instant` timing,
//! no harness: each figure is printed with the number of samples behind it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use hinge::{Loop, Pool};

const JOBS: usize = 200_000;
const ROUNDS: usize = 10;
const SAMPLES: usize = 20_000;
const WARMUP: usize = 1_000;

/// Submits `JOBS` empty jobs, runs the loop until every callback has run;
/// returns jobs per second for the whole trip.
fn throughput(pool: &Pool) -> f64 {
    let lp = Loop::new().expect("loop");
    let done = Rc::new(Cell::new(0usize));
    let start = Instant::now();
    for _ in 0..JOBS {
        let done = done.clone();
        pool.submit(
            &lp,
            || (),
            move |_, r| {
                r.expect("empty job");
                done.set(done.get() + 1);
            },
        );
    }
    lp.run();
    let elapsed = start.elapsed();
    assert_eq!(done.get(), JOBS);
    JOBS as f64 / elapsed.as_secs_f64()
}

/// One job at a time, the next submitted from the previous `on_done`;
/// returns each submit-to-callback time.
fn latencies(pool: &Pool, count: usize) -> Vec<Duration> {
    fn next(lp: &Loop, pool: Pool, left: usize, out: Rc<RefCell<Vec<Duration>>>) {
        let again = pool.clone();
        let sent = Instant::now();
        pool.submit(
            lp,
            || (),
            move |lp, r| {
                out.borrow_mut().push(sent.elapsed());
                r.expect("empty job");
                if left > 1 {
                    next(lp, again, left - 1, out);
                }
            },
        );
    }
    let lp = Loop::new().expect("loop");
    let out = Rc::new(RefCell::new(Vec::with_capacity(count)));
    next(&lp, pool.clone(), count, out.clone());
    lp.run();
    let v = out.borrow().clone();
    v
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let pool = Pool::new();
    println!("work pool: {} threads", pool.threads());

    let mut rates: Vec<f64> = (0..ROUNDS).map(|_| throughput(&pool)).collect();
    rates.sort_by(f64::total_cmp);
    println!(
        "throughput, {JOBS} empty jobs x {ROUNDS} rounds: median {:.0} jobs/s (min {:.0}, max {:.0})",
        rates[ROUNDS / 2],
        rates[0],
        rates[ROUNDS - 1]
    );

    let mut lat = latencies(&pool, WARMUP + SAMPLES);
    let mut lat = lat.split_off(WARMUP);
    lat.sort();
    let mean = lat.iter().sum::<Duration>() / lat.len() as u32;
    println!(
        "round trip submit -> on_done, {SAMPLES} samples: p50 {:.1} us, p99 {:.1} us, mean {:.1} us, max {:.1} us",
        percentile(&lat, 0.50).as_secs_f64() * 1e6,
        percentile(&lat, 0.99).as_secs_f64() * 1e6,
        mean.as_secs_f64() * 1e6,
        lat[lat.len() - 1].as_secs_f64() * 1e6,
    );
}
