//! Timers: one-shots, intervals, clearing, and an inactivity-style timer.

use std::time::Duration;

use hinge::{Loop, Timer, Watcher};

fn main() -> hinge::Result<()> {
    let lp = Loop::new()?;
    let start = lp.now();

    // A one-shot, Node's setTimeout.
    lp.set_timeout(Duration::from_millis(250), move |lp| {
        println!("{:>5.3}s timeout fired", lp.now() - start);
    });

    // A timeout that is cleared before it fires.
    let never = lp.set_timeout(Duration::from_millis(500), |_| unreachable!());
    never.clear();

    // An interval that stops itself after four ticks.
    let mut ticks = 0;
    lp.set_interval(Duration::from_millis(100), move |lp, me| {
        ticks += 1;
        println!("{:>5.3}s tick {ticks}", lp.now() - start);
        if ticks == 4 {
            me.clear();
        }
    });

    // A raw libev timer used as an inactivity timeout: every `again()`
    // pushes it 300 ms into the future.
    let idle = Timer::new(
        &lp,
        Duration::ZERO,
        Duration::from_millis(300),
        move |lp, t| {
            println!("{:>5.3}s idle for 300 ms", lp.now() - start);
            t.stop();
        },
    );
    idle.again();

    lp.run();
    println!("{:>5.3}s nothing left, run returned", lp.now() - start);
    Ok(())
}
