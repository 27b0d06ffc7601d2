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

    // Each loop's server serves TLS, set before the loop accepts anything.
    http_echo::run("https_echo", "https", port, quiet, threads, |server| {
        server.set_tls(tls.clone())
    })
}

fn usage() -> ! {
    eprintln!("usage: https_echo PORT CERT KEY [--quiet] [--threads N]");
    std::process::exit(2);
}
