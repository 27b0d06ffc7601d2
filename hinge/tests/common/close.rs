//! Helpers of the close-path attacks (tests/adversarial_close*.rs).

use std::cell::{Cell, RefCell};
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use super::DropCounter;
use hinge::{Error, Loop, Socket, Timer, Watcher};

/// More than a Unix socket's kernel buffers hold: part of it stays queued.
pub const BIG: usize = 4 << 20;

/// What each `on_written` callback saw, in call order.
pub type Outcomes = Rc<RefCell<Vec<(usize, bool)>>>;

/// A socket on one end of a Unix pair, and the other end (blocking).
pub fn pair(lp: &Loop) -> (Socket, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    (Socket::from_unix_stream(lp, a).unwrap(), b)
}

/// Queues `n` sends of `BIG` bytes; each callback records (index, ok),
/// holds a clone of the socket (a cycle through the cell) and a token.
pub fn queue_sends(s: &Socket, n: usize, drops: &DropCounter) -> Outcomes {
    let outcomes: Outcomes = Rc::default();
    for i in 0..n {
        let (o, me, tok) = (outcomes.clone(), s.clone(), drops.token());
        s.send_then(vec![7u8; BIG], move |_, s, r| {
            tok.touch();
            assert!(*s == me);
            if let Err(e) = &r {
                assert!(matches!(e, Error::Closed { op: "send" }), "{e:?}");
            }
            o.borrow_mut().push((i, r.is_ok()));
        })
        .unwrap();
    }
    assert!(s.pending_bytes() > 0, "some bytes must stay queued");
    outcomes
}

/// Records each `close` (its `had_error`) and holds the socket itself.
pub fn record_close(s: &Socket, drops: &DropCounter) -> Rc<RefCell<Vec<bool>>> {
    let closes: Rc<RefCell<Vec<bool>>> = Rc::default();
    let (c, me, tok) = (closes.clone(), s.clone(), drops.token());
    s.on_close(move |_, s, had_error| {
        tok.touch();
        assert!(*s == me);
        c.borrow_mut().push(*had_error);
    });
    closes
}

/// An unref'd repeating timer: a nested `run_once` never blocks longer
/// than 5 ms, and the outer `run` is not kept alive by it.
pub fn guard_timer(lp: &Loop) -> Timer {
    let t = Timer::new(lp, Duration::ZERO, Duration::from_millis(5), |_, _| {});
    t.unref();
    t
}

/// Reads `b` until EOF in a thread; returns the byte count.
pub fn drain_in_thread(mut b: UnixStream) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0;
        loop {
            match b.read(&mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
        }
    })
}

/// Loop iterations (counted by a prepare watcher, which runs before each
/// poll, nested runs included) during a run of `ms`.
pub fn iterations_over(lp: &Loop, ms: u64) -> u32 {
    let polls = Rc::new(Cell::new(0u32));
    let p = polls.clone();
    let prepare = hinge::Prepare::new(lp, move |_, _| p.set(p.get() + 1));
    prepare.unref();
    let t = Timer::new(lp, Duration::from_millis(ms), Duration::ZERO, |lp, _| {
        lp.break_one()
    });
    lp.run();
    drop((t, prepare));
    polls.get()
}

/// A caught panic's message.
pub fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}
