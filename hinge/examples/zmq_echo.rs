//! A ROUTER that sends every message it receives, all frames, back to the
//! peer that sent it: any number of DEALER or REQ peers at once. Outside
//! clients and the benchmark talk to it.
//!
//! ```sh
//! cargo run --features zmq --example zmq_echo -- tcp://127.0.0.1:5555
//! ```
//!
//! A REQ peer's messages arrive as `[peer id, "", body...]`, a DEALER's as
//! `[peer id, body...]`: sending the frames back unchanged answers both.

use hinge::zmq::{Kind, ZmqSocket};
use hinge::{signal, Loop};

fn main() -> hinge::Result<()> {
    let endpoint = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp://127.0.0.1:5555".to_string());
    let lp = Loop::new()?;
    let router = ZmqSocket::new(&lp, Kind::Router)?;
    router.bind(&endpoint)?;
    println!("zmq_echo on {}", router.last_endpoint().unwrap_or(endpoint));

    router.on_data(|_, router, msg| match router.send(msg) {
        Ok(true) => {}
        // The peer is slow: stop receiving until what is queued is sent.
        Ok(false) => router.pause(),
        Err(e) => eprintln!("zmq_echo: {e}"),
    });
    router.on_drain(|_, router| router.resume());
    router.on_error(|_, _, e| eprintln!("zmq_echo: {e}"));

    for signum in [signal::SIGINT, signal::SIGTERM] {
        let router = router.clone();
        lp.on_signal(signum, move |_, _| router.close())?;
    }
    lp.run();
    Ok(())
}
