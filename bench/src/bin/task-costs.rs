//! What a hinge task costs: bytes per parked task (resident memory over
//! 100,000 of them), and, under callgrind, instructions per wake (a task
//! that yields N times, against N = 0).
//!
//! ```sh
//! cargo run --release -p hinge-bench --bin task-costs -- bytes
//! valgrind --tool=callgrind target/release/task-costs wakes 0
//! valgrind --tool=callgrind target/release/task-costs wakes 100000
//! valgrind --tool=callgrind target/release/task-costs main-wakes 100000
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// This process's resident memory, in bytes.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// Wakes itself once, then completes: one wake and two polls.
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

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_default();
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let lp = hinge::Loop::new().expect("a loop");
    match what.as_str() {
        "bytes" => {
            // The executor's own allocations come with the first task.
            lp.spawn_local(async {}).detach();
            lp.run();
            const TASKS: usize = 100_000;
            let before = rss();
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| lp.spawn_local(std::future::pending::<()>()))
                .collect();
            lp.run_nowait(); // every task polled once, and parked
            let after = rss();
            let handle = std::mem::size_of::<hinge::Task<()>>();
            println!(
                "bytes per parked task (a pending::<()> future): {:.0}, of which {handle} for its Task handle",
                (after - before) as f64 / TASKS as f64,
            );
            drop(tasks);
        }
        "wakes" => {
            // A spawned task waking itself: the executor's own cost.
            let task = lp.spawn_local(async move {
                for _ in 0..n {
                    YieldNow(false).await;
                }
            });
            lp.block_on(task).expect("block_on");
            println!("{n} wakes of a spawned task");
        }
        "main-wakes" => {
            // block_on's own future waking itself: a loop iteration each.
            lp.block_on(async {
                for _ in 0..n {
                    YieldNow(false).await;
                }
            })
            .expect("block_on");
            println!("{n} wakes of block_on's future");
        }
        _ => {
            eprintln!("usage: task-costs bytes | wakes N | main-wakes N");
            std::process::exit(2);
        }
    }
}
