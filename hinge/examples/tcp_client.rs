//! cl-async's one-call client: connect, send, read the reply, with timeouts.
//!
//! ```sh
//! cargo run --example echo_server &            # something to talk to
//! cargo run --example tcp_client -- localhost 4545 "hello"
//! ```

use std::time::Duration;

use hinge::{tcp_send, Loop, SendOptions};

fn main() -> hinge::Result<()> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "localhost".into());
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(4545);
    let message = args.next().unwrap_or_else(|| "hello from hinge".into()) + "\n";

    let lp = Loop::new()?;
    let options = SendOptions {
        connect_timeout: Some(Duration::from_secs(5)),
        read_timeout: Some(Duration::from_secs(5)),
        write_timeout: Some(Duration::from_secs(5)),
    };
    tcp_send(
        &lp,
        &host,
        port,
        message,
        options,
        |_, sock, reply| {
            print!("reply: {}", String::from_utf8_lossy(reply));
            sock.close(); // one answer is all we wanted
        },
        |_, _, err| eprintln!("failed: {err}"),
    )?;
    lp.run();
    Ok(())
}
