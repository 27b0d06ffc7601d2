//! The quickstart: an echo server.
//!
//! ```sh
//! cargo run --example echo_server            # port 4545
//! cargo run --example echo_server -- 5000    # another port
//! cargo run --example echo_server -- --quiet # no per-connection output
//! cargo run --example echo_server -- --no-nodelay # Nagle on (hinge turns it off)
//! nc localhost 4545                          # in another terminal
//! ```

use hinge::{signal, Loop, Server};

fn main() -> hinge::Result<()> {
    let mut port = 4545;
    let mut quiet = false;
    let mut nodelay = true;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quiet" | "-q" => quiet = true,
            "--no-nodelay" => nodelay = false,
            p => match p.parse() {
                Ok(p) => port = p,
                Err(_) => {
                    eprintln!("usage: echo_server [PORT] [--quiet] [--no-nodelay]");
                    std::process::exit(2);
                }
            },
        }
    }

    let lp = Loop::new()?;
    let server = Server::new(&lp);
    server.set_nodelay(nodelay);

    server.on_listening(|_, server| {
        println!("listening on {}", server.local_addr().expect("listening"));
    });

    server.on_connection(move |_, _, client| {
        // Formatting an address costs more than accepting: skip it when quiet.
        let peer = if quiet {
            String::new()
        } else {
            client
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        };
        if !quiet {
            println!("new client {peer}");
        }
        client.on_data(move |_, client, data| {
            if !quiet {
                println!(
                    "echoing {} bytes: {:?}",
                    data.len(),
                    String::from_utf8_lossy(data).trim_end()
                );
            }
            let sent = if quiet {
                client.send(data)
            } else {
                client.send_then(data, |_, _, written| {
                    if written.is_ok() {
                        println!("data written");
                    }
                })
            };
            match sent {
                Ok(true) => {}
                // Backpressure: the peer reads slower than it writes.
                // Stop reading until our queue drains.
                Ok(false) => client.pause(),
                Err(e) => eprintln!("send failed: {e}"),
            }
        });
        client.on_drain(|_, client| client.resume());
        client.on_error(|_, _, e| eprintln!("client error: {e}"));
        client.on_close(move |_, _, _| {
            if !quiet {
                println!("client {peer} left");
            }
        });
    });

    server.listen(port)?;

    // Exit cleanly on Ctrl-C or kill: stop listening and close the
    // clients once they have their echoes; run() then returns.
    for signum in [signal::SIGINT, signal::SIGTERM] {
        let server = server.clone(); // a cheap handle, like an Rc
        lp.on_signal(signum, move |_, _| {
            println!("shutting down");
            server.close();
            server.close_connections();
        })?;
    }

    lp.run();
    Ok(())
}
