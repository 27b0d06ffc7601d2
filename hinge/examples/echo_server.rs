//! The quickstart: an echo server.
//!
//! ```sh
//! cargo run --example echo_server            # port 4545
//! cargo run --example echo_server -- 5000    # another port
//! cargo run --example echo_server -- --quiet # no per-connection output
//! cargo run --example echo_server -- --no-nodelay # Nagle on (hinge turns it off)
//! cargo run --example echo_server -- --threads 4  # 4 loops on one port
//! nc localhost 4545                          # in another terminal
//! ```

use std::cell::Cell;
use std::rc::Rc;

use hinge::{signal, Loop, Server, Socket, Workers};

struct Options {
    port: u16,
    quiet: bool,
    nodelay: bool,
    threads: usize,
}

fn main() -> hinge::Result<()> {
    let opts = options();
    if opts.threads == 1 {
        // One loop, on this thread.
        let lp = Loop::new()?;
        let server = serve(&lp, &opts, 0)?;
        // Exit cleanly on Ctrl-C or kill: stop listening and close the
        // clients once they have their echoes; run() then returns.
        for signum in [signal::SIGINT, signal::SIGTERM] {
            let server = server.clone(); // a cheap handle, like an Rc
            lp.on_signal(signum, move |_, _| shut_down(&server))?;
        }
        lp.run();
        return Ok(());
    }
    // A loop per thread, all listening on the same port (SO_REUSEPORT:
    // the kernel spreads the connections); Ctrl-C or kill stops them all.
    Workers::new()
        .threads(opts.threads)
        .stop_on_signals(&[signal::SIGINT, signal::SIGTERM])
        .run(|lp, worker| {
            let server = serve(lp, &opts, worker.index())?;
            worker.on_stop(move |_| shut_down(&server));
            Ok(())
        })
}

fn options() -> Options {
    let mut opts = Options {
        port: 4545,
        quiet: false,
        nodelay: true,
        threads: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quiet" | "-q" => opts.quiet = true,
            "--no-nodelay" => opts.nodelay = false,
            "--threads" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => opts.threads = n,
                _ => usage(),
            },
            p => match p.parse() {
                Ok(p) => opts.port = p,
                Err(_) => usage(),
            },
        }
    }
    opts
}

fn usage() -> ! {
    eprintln!("usage: echo_server [PORT] [--quiet] [--no-nodelay] [--threads N]");
    std::process::exit(2);
}

/// Stop listening; close each client once it has its echoes.
/// What a `send` said: on backpressure (the peer reads slower than it
/// writes), stop reading until our queue drains.
fn echo(client: &Socket, sent: hinge::Result<bool>) {
    match sent {
        Ok(true) => {}
        Ok(false) => client.pause(),
        Err(e) => eprintln!("send failed: {e}"),
    }
}

fn shut_down(server: &Server) {
    println!("shutting down");
    server.close();
    server.close_connections();
}

/// The echo server on one loop (`index` names the loop in the output).
fn serve(lp: &Loop, opts: &Options, index: usize) -> hinge::Result<Server> {
    let quiet = opts.quiet;
    let server = Server::new(lp);
    server.set_nodelay(opts.nodelay);
    server.set_reuse_port(opts.threads > 1);

    // Counted per loop, printed as the server closes.
    let served = Rc::new(Cell::new(0usize));
    let count = served.clone();
    server.on_close(move |_, _| {
        if !quiet {
            println!("loop {index} served {} connections", count.get());
        }
    });

    server.on_listening(|_, server| {
        println!("listening on {}", server.local_addr().expect("listening"));
    });

    server.on_connection(move |_, _, client| {
        served.set(served.get() + 1);
        if quiet {
            // The lean path: no per-connection state, so the listeners
            // capture nothing and cost no allocation.
            client.on_data(|_, client, data| echo(client, client.send(data)));
        } else {
            // Formatting an address costs more than accepting: only here.
            let peer = client
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            println!("new client {peer}");
            client.on_data(move |_, client, data| {
                println!(
                    "echoing {} bytes: {:?}",
                    data.len(),
                    String::from_utf8_lossy(data).trim_end()
                );
                let sent = client.send_then(data, |_, _, written| {
                    if written.is_ok() {
                        println!("data written");
                    }
                });
                echo(client, sent)
            });
            client.on_close(move |_, _, _| println!("client {peer} left"));
        }
        client.on_drain(|_, client| client.resume());
        client.on_error(|_, _, e| eprintln!("client error: {e}"));
    });

    server.listen(opts.port)?;
    Ok(server)
}
