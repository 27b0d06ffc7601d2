//! `http_echo` over TLS: the same routes, served by the same
//! `http::Server` code path, on encrypted connections (ALPN `http/1.1`).
//!
//! ```sh
//! cargo run --release --features tls --example https_echo -- 8443 cert.pem key.pem
//! curl --cacert ca.pem https://localhost:8443/hello
//! curl --cacert ca.pem --data-binary @big.file https://localhost:8443/echo -o copy
//! ```

// The routes of the plain example: GET / and /hello, POST /echo,
// GET /chunked, HEAD, 404.
#[path = "http_echo.rs"]
#[allow(dead_code)]
mod http_echo;

use hinge::{http, signal, Loop};

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
        eprintln!("usage: https_echo PORT CERT KEY [--quiet]");
        std::process::exit(2);
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("https_echo: bad port {port:?}");
        std::process::exit(2);
    };

    let lp = Loop::new()?;
    let server = http::Server::new(&lp);
    server.set_tls(hinge::tls::server_config(cert, key)?);
    if quiet {
        server.on_client_error(|_, _, _| {});
    }
    server.on_request(move |_, _, req, res| http_echo::route(req, res, quiet));
    server.listen(port)?;
    println!("https_echo listening on https://127.0.0.1:{port}");

    for signum in [signal::SIGINT, signal::SIGTERM] {
        let server = server.clone();
        lp.on_signal(signum, move |_, _| server.close())?;
    }
    lp.run();
    Ok(())
}
