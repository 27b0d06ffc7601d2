//! The echo server of the quickstart, written with async/await: one task
//! per connection, on the same loop as the signal handler's callback.
//!
//! ```sh
//! cargo run --example async_echo            # port 4545
//! cargo run --example async_echo -- 5000    # another port
//! cargo run --example async_echo -- --quiet # no per-connection output
//! cargo run --example async_echo -- --no-nodelay # Nagle on (hinge turns it off)
//! nc localhost 4545                         # in another terminal
//! ```

use futures_util::{AsyncBufReadExt, AsyncWriteExt, StreamExt};
use hinge::{signal, Loop, Server, Socket};

/// Echoes until the client ends. The reader borrows a buffer from the
/// loop only while it holds bytes: a client that says nothing costs the
/// socket and this task, not a buffer.
async fn echo(client: Socket, quiet: bool) -> std::io::Result<()> {
    let mut reader = client.reader();
    let mut writer = client.clone();
    loop {
        let data = reader.fill_buf().await?;
        if data.is_empty() {
            return Ok(()); // the client ended
        }
        if !quiet {
            println!(
                "echoing {} bytes: {:?}",
                data.len(),
                String::from_utf8_lossy(data).trim_end()
            );
        }
        // Waits while the client reads slower than it writes.
        writer.write_all(data).await?;
        let n = data.len();
        reader.consume_unpin(n);
    }
}

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
                    eprintln!("usage: async_echo [PORT] [--quiet] [--no-nodelay]");
                    std::process::exit(2);
                }
            },
        }
    }

    let lp = Loop::new()?;
    let server = Server::new(&lp);
    server.set_nodelay(nodelay);
    server.listen(port)?;
    println!("listening on {}", server.local_addr().expect("listening"));

    // Exit cleanly on Ctrl-C or kill, with a callback: stop listening
    // (the stream of connections ends) and close the clients (their
    // tasks read the end).
    for signum in [signal::SIGINT, signal::SIGTERM] {
        let server = server.clone();
        lp.on_signal(signum, move |_, _| {
            println!("shutting down");
            server.close();
            server.close_connections();
        })?;
    }

    let h = lp.handle();
    lp.block_on(async move {
        let mut incoming = server.incoming();
        while let Some(client) = incoming.next().await {
            let peer = client
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            if !quiet {
                println!("new client {peer}");
            }
            h.spawn_local(async move {
                if let Err(e) = echo(client, quiet).await {
                    eprintln!("client error: {e}");
                }
                if !quiet {
                    println!("client {peer} left");
                }
            })
            .detach();
        }
    })?;
    // The server closed: let the tasks finish their clients.
    lp.run();
    Ok(())
}
