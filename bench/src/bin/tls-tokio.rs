//! The tokio peers of the TLS benchmark (bench/tls.sh), on tokio's
//! `current_thread` runtime with tokio-rustls: hyper 1.x answering every
//! request like `https_echo`'s `GET /hello` (ALPN `http/1.1`), or, with
//! `--echo`, the canonical echo server of `echo-tokio` over TLS (a 64 KiB
//! read buffer, `write_all` back), like `tls_echo`.
//!
//! ```sh
//! cargo run --release -p hinge-bench --bin tls-tokio -- 8443 cert.pem key.pem
//! cargo run --release -p hinge-bench --bin tls-tokio -- 8443 cert.pem key.pem --echo
//! cargo run --release -p hinge-bench --bin tls-tokio -- 8443 cert.pem key.pem --provider ring
//! ```
//!
//! The server configuration is `hinge::tls::server_config`'s (TLS 1.2
//! and 1.3, tickets on) on the provider `--provider` names (`aws-lc`, the
//! default and hinge's, or `ring`), with its default key-exchange
//! groups (`--groups x25519`: X25519 only).

use std::convert::Infallible;
use std::io;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use hinge_bench::tls::{flag, provider, server_config};
use hinge_bench::{listen, READ_BUF};

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(port), Some(cert), Some(key)) = (
        args.get(1).and_then(|p| p.parse::<u16>().ok()),
        args.get(2),
        args.get(3),
    ) else {
        eprintln!(
            "usage: tls-tokio PORT CERT KEY [--echo] [--provider aws-lc|ring] [--groups default|x25519]"
        );
        std::process::exit(2);
    };
    let echo = args.iter().any(|a| a == "--echo");
    let provider_name = flag("--provider", "aws-lc");
    let provider = provider(&provider_name, &flag("--groups", "default"))?;
    let alpn: &[&[u8]] = if echo { &[] } else { &[b"http/1.1"] };
    let config = server_config(provider, &provider_name, cert, key, alpn)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    runtime.block_on(serve(port, TlsAcceptor::from(config), echo))
}

async fn serve(port: u16, acceptor: TlsAcceptor, echo: bool) -> io::Result<()> {
    let listener = TcpListener::from_std(listen(port)?)?;
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                eprintln!("tls-tokio: accept: {e}");
                continue;
            }
        };
        // The same socket options as the other peers: Nagle off (the
        // listener's, inherited, is ECHO_NODELAY's).
        stream.set_nodelay(true)?;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            if echo {
                echo_loop(tls).await;
            } else {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service_fn(hello))
                    .await;
            }
        });
    }
}

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut res = Response::new(Full::new(Bytes::from_static(b"Hello world!")));
    res.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    Ok(res)
}

async fn echo_loop<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = vec![0u8; READ_BUF];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    // The client closed: close_notify back, then FIN.
    let _ = stream.shutdown().await;
}
