//! `echo_server` over TLS: every byte a client sends comes back,
//! encrypted both ways.
//!
//! ```sh
//! cargo run --features tls --example tls_echo -- 4443 cert.pem key.pem
//! cargo run --features tls --example tls_echo -- 4443 cert.pem key.pem --quiet
//! openssl s_client -connect localhost:4443 -CAfile ca.pem   # in another terminal
//! ```

use hinge::{signal, Loop, Server};

fn main() -> hinge::Result<()> {
    let mut args = Vec::new();
    let mut quiet = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quiet" | "-q" => quiet = true,
            _ => args.push(arg),
        }
    }
    let [port, cert, key] = &args[..] else {
        eprintln!("usage: tls_echo PORT CERT KEY [--quiet]");
        std::process::exit(2);
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("tls_echo: bad port {port:?}");
        std::process::exit(2);
    };

    let lp = Loop::new()?;
    let server = Server::new(&lp);
    // Every accepted connection speaks TLS; `data` is plaintext.
    server.set_tls(hinge::tls::server_config(cert, key)?);

    server.on_listening(|_, server| {
        println!("listening on {}", server.local_addr().expect("listening"));
    });

    server.on_connection(move |_, _, client| {
        client.on_secure(move |_, client| {
            if !quiet {
                let info = client.tls_info().unwrap_or_default();
                println!(
                    "new client {} ({:?}, SNI {:?})",
                    client
                        .peer_addr()
                        .map(|a| a.to_string())
                        .unwrap_or_default(),
                    info.version,
                    info.server_name
                );
            }
        });
        client.on_data(move |_, client, data| {
            if !quiet {
                println!(
                    "echoing {} bytes: {:?}",
                    data.len(),
                    String::from_utf8_lossy(data).trim_end()
                );
            }
            match client.send(data) {
                Ok(true) => {}
                // Backpressure: stop reading until the encrypted queue drains.
                Ok(false) => client.pause(),
                Err(e) => eprintln!("send failed: {e}"),
            }
        });
        client.on_drain(|_, client| client.resume());
        client.on_error(|_, _, e| eprintln!("client error: {e}"));
    });

    server.listen(port)?;

    // Ctrl-C or kill: stop listening; clients get their close_notify.
    for signum in [signal::SIGINT, signal::SIGTERM] {
        let server = server.clone();
        lp.on_signal(signum, move |_, _| {
            println!("shutting down");
            server.close();
            server.close_connections();
        })?;
    }

    lp.run();
    Ok(())
}
