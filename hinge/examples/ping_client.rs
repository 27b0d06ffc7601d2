//! A pinging client: connects, sends `PING` on an interval, prints each
//! reply line with its round trip, and hangs up after N replies.
//!
//! ```sh
//! cargo run --example pingpong                          # a server, port 4545
//! cargo run --example ping_client -- 127.0.0.1 4545 3   # in another terminal
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hinge::{Loop, Socket};

fn main() -> hinge::Result<()> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".to_string());
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(4545);
    let count: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(3);

    let lp = Loop::new()?;
    let sock = Socket::connect(&lp, &host, port)?;
    // When the last PING went out, shared by the timer and the reader.
    let sent_at = Rc::new(Cell::new(None::<Instant>));

    // Ping every 100 ms. The interval belongs to the loop; the socket is
    // used from the timer through a clone (a cheap handle).
    let pinger = sock.clone();
    let at = sent_at.clone();
    let interval = lp.set_interval(Duration::from_millis(100), move |_, timer| {
        if pinger.is_closed() {
            timer.clear();
            return;
        }
        at.set(Some(Instant::now()));
        pinger.send("PING\n").ok();
    });

    // Replies are lines; a line over 256 bytes would be an error.
    let mut replies = 0;
    sock.on_line(256, move |_, sock, line| {
        let rtt = sent_at.get().map(|t| t.elapsed()).unwrap_or_default();
        println!("{} in {rtt:?}", String::from_utf8_lossy(line));
        replies += 1;
        if replies == count {
            sock.close(); // done: flush and hang up
        }
    });
    sock.on_error(|_, _, e| eprintln!("ping_client: {e}"));
    sock.on_close(move |_, _, had_error| {
        interval.clear();
        println!("closed{}", if *had_error { " after an error" } else { "" });
    });
    lp.run();
    Ok(())
}
