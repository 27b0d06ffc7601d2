//! `http_echo` over TLS: the same routes, served by the same
//! `http::Server` code path, on encrypted connections (ALPN `http/1.1`).
//!
//! ```sh
//! cargo run --release --features tls --example https_echo -- 8443 cert.pem key.pem
//! curl --cacert ca.pem https://localhost:8443/hello
//! curl --cacert ca.pem --data-binary @big.file https://localhost:8443/echo -o copy
//! cargo run --release --features tls --example https_echo -- 8443 cert.pem key.pem --threads 2
//! ```

// The routes of the plain example: GET / and /hello, POST /echo,
// GET /chunked, HEAD, 404.
#[path = "http_echo.rs"]
#[allow(dead_code)]
mod http_echo;

use hinge::{http, signal, Loop, Workers};

fn main() -> hinge::Result<()> {
    let mut args = Vec::new();
    let mut quiet = false;
    let mut threads = 1;
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--quiet" | "-q" => quiet = true,
            "--threads" => match argv.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => threads = n,
                _ => usage(),
            },
            _ => args.push(arg),
        }
    }
    let [port, cert, key] = &args[..] else {
        usage()
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("https_echo: bad port {port:?}");
        std::process::exit(2);
    };
    let tls = hinge::tls::server_config(cert, key)?;

    if threads == 1 {
        let lp = Loop::new()?;
        let server = http::Server::new(&lp);
        server.set_tls(tls);
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
        return Ok(());
    }
    // `http_echo --threads N`'s loops, each serving TLS.
    Workers::new()
        .threads(threads)
        .stop_on_signals(&[signal::SIGINT, signal::SIGTERM])
        .run(|lp, worker| {
            let index = worker.index();
            let server = http_echo::serve(lp, port, quiet, Some(index))?;
            server.set_tls(tls.clone()); // before the loop accepts anything
            println!("https_echo loop {index} listening on https://127.0.0.1:{port}");
            worker.on_stop(move |_| server.close());
            Ok(())
        })
}

fn usage() -> ! {
    eprintln!("usage: https_echo PORT CERT KEY [--quiet] [--threads N]");
    std::process::exit(2);
}
