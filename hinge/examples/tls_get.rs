//! A TLS client: `GET /` over HTTPS, the raw response to stdout.
//!
//! ```sh
//! cargo run --features tls --example tls_get -- example.com 443
//! cargo run --features tls --example tls_get -- 127.0.0.1 8443 --cafile ca.pem --servername localhost
//! ```
//!
//! The server's certificate is checked against `--cafile`'s CAs (else the
//! built-in webpki roots) for `--servername` (else HOST). A certificate
//! that fails, a refused connection or a failed handshake exits 1 with one
//! line on stderr; the bytes received go to stdout until the server
//! closes, then it exits 0.

use std::io::Write;
use std::process::exit;

use hinge::{Loop, Socket};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut positional = Vec::new();
    let (mut cafile, mut servername) = (None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cafile" => cafile = args.next(),
            "--servername" => servername = args.next(),
            _ => positional.push(arg),
        }
    }
    let (Some(host), Some(Ok(port))) = (
        positional.first(),
        positional.get(1).map(|p| p.parse::<u16>()),
    ) else {
        eprintln!("usage: tls_get HOST PORT [--cafile CA] [--servername NAME]");
        exit(2);
    };
    if let Err(e) = get(host, port, cafile, servername) {
        eprintln!("tls_get: {e}");
        exit(1);
    }
}

fn get(host: &str, port: u16, cafile: Option<String>, name: Option<String>) -> hinge::Result<()> {
    let config = match cafile {
        Some(ca) => hinge::tls::client_config_with_ca(ca)?,
        None => hinge::tls::client_config(),
    };
    let lp = Loop::new()?;
    let name = name.as_deref().unwrap_or(host);
    let sock = Socket::connect_tls_as(&lp, host, port, name, config)?;
    // Sent at once; the bytes wait for the handshake.
    sock.send(format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    ))?;
    sock.on_data(|_, _, bytes| {
        let mut out = std::io::stdout().lock();
        if out.write_all(bytes).and_then(|()| out.flush()).is_err() {
            exit(1); // stdout is gone
        }
    });
    sock.on_error(|_, _, e| {
        eprintln!("tls_get: {e}");
        exit(1);
    });
    lp.run();
    Ok(())
}
