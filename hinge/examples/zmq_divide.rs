//! The ancestor's "async" example: a SUB socket takes numbers, divides
//! 1337 by each on the work pool, and prints the result back on the loop.
//!
//! ```sh
//! cargo run --features zmq --example zmq_divide                # serve
//! cargo run --features zmq --example zmq_divide -- --send 4    # in another terminal
//! cargo run --features zmq --example zmq_divide -- --send 0    # an error
//! ```
//!
//! The endpoint is an `ipc://` path in the temp directory unless given as
//! the first argument (`zmq_divide tcp://127.0.0.1:5556 [--send N]`).

use std::time::Duration;

use hinge::zmq::{Kind, ZmqSocket};
use hinge::{Loop, Pool};

fn main() -> hinge::Result<()> {
    let mut endpoint = format!("ipc://{}/hinge-zmq-divide", std::env::temp_dir().display());
    let mut send = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--send" => send = args.next(),
            other => endpoint = other.to_string(),
        }
    }
    let lp = Loop::new()?;
    match send {
        Some(n) => publish(&lp, &endpoint, n),
        None => serve(&lp, &endpoint),
    }
}

fn serve(lp: &Loop, endpoint: &str) -> hinge::Result<()> {
    let pool = Pool::new();
    let sub = ZmqSocket::new(lp, Kind::Sub)?;
    sub.bind(endpoint)?;
    sub.subscribe("")?; // everything
    println!("zmq_divide listening on {endpoint}");
    sub.on_data(move |lp, _, msg| {
        let text = String::from_utf8_lossy(&msg[0]).trim().to_string();
        println!("Got {text}");
        pool.submit(
            lp,
            move || {
                // The work runs on a pool thread, and fails there.
                let worker = std::thread::current().name().unwrap_or("?").to_string();
                println!("dividing on {worker}");
                let n: f64 = text
                    .parse()
                    .map_err(|_| format!("{text:?} is not a number"))?;
                if n == 0.0 {
                    return Err("cannot divide by zero".to_string());
                }
                Ok(1337.0 / n)
            },
            |_, outcome| match outcome {
                Ok(Ok(q)) => println!("Result: {q}"),
                Ok(Err(e)) => println!("Error: {e}"),
                Err(e) => println!("Error: {e}"),
            },
        );
    });
    lp.set_interval(Duration::from_secs(10), |_, _| println!("still kicking"));
    lp.run();
    Ok(())
}

fn publish(lp: &Loop, endpoint: &str, n: String) -> hinge::Result<()> {
    let publisher = ZmqSocket::new(lp, Kind::Pub)?;
    publisher.connect(endpoint)?;
    // A PUB drops what it sends before the subscriber is connected: give
    // the connection a moment.
    lp.set_timeout(Duration::from_millis(300), move |_| {
        publisher.send_frame(&n).ok();
        publisher.close();
    });
    lp.run();
    Ok(())
}
