//! A type of your own with typed events, as hinge's sockets have: a
//! thermometer that emits `reading` on every sample and `alarm` once a
//! reading crosses a threshold.
//!
//! ```sh
//! cargo run --example custom_emitter
//! ```

use std::rc::Rc;
use std::time::Duration;

use hinge::{Event, Loop};

/// The emitting object: its events are plain fields, so a misspelled event
/// is a compile error, and each carries its own payload type.
#[derive(Default)]
struct Thermometer {
    reading: Event<Thermometer, f64>,
    alarm: Event<Thermometer, f64>,
    limit: f64,
}

impl Thermometer {
    /// A new sample: every `reading` listener runs, then `alarm` ones if
    /// the sample is over the limit.
    fn sample(&self, lp: &Loop, celsius: f64) {
        self.reading.emit(lp, self, &celsius);
        if celsius > self.limit {
            self.alarm.emit(lp, self, &celsius);
        }
    }
}

fn main() -> hinge::Result<()> {
    let lp = Loop::new()?;
    let thermo = Rc::new(Thermometer {
        limit: 30.0,
        ..Default::default()
    });
    thermo.reading.on(|_, _, t| println!("reading: {t:.1} C"));
    // `once`: the first alarm only; it removes itself.
    thermo
        .alarm
        .once(|_, th, t| println!("alarm: {t:.1} C is over {:.1} C", th.limit));

    // Feed it from a timer: a source the loop owns, cleared when done.
    let samples = [21.5, 28.0, 31.5, 33.0, 29.0];
    let mut next = 0;
    let th = thermo.clone();
    lp.set_interval(Duration::from_millis(10), move |lp, timer| {
        th.sample(lp, samples[next]);
        next += 1;
        if next == samples.len() {
            timer.clear(); // nothing else is active: run() returns
        }
    });
    lp.run();
    println!(
        "{} reading listener(s) left",
        thermo.reading.listener_count()
    );
    Ok(())
}
