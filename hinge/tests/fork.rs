//! Fork watchers run after the loop is told about a fork.
//!
//! This drives libev's fork handling in-process (`Loop::fork`), which is
//! exactly what a child calls after `fork()`; forking the multi-threaded
//! test harness itself would need `unsafe` and is not worth the risk.

mod common;

use common::Hits;
use hinge::{Fork, Idle, Loop, Watcher};

#[test]
fn fork_watchers_run_once_after_loop_fork() {
    let lp = Loop::new().unwrap();
    let hits = Hits::default();
    let h = hits.clone();
    let f = Fork::new(&lp, move |_, _| h.hit());
    f.unref();
    let spin = |lp: &Loop| {
        let mut n = 0;
        let _idle = Idle::new(lp, move |_, i| {
            n += 1;
            if n == 3 {
                i.stop();
            }
        });
        lp.run();
    };
    spin(&lp);
    assert_eq!(hits.get(), 0, "no fork yet");
    lp.fork();
    spin(&lp);
    assert_eq!(hits.get(), 1);
    lp.fork();
    spin(&lp);
    assert_eq!(hits.get(), 2);
}
