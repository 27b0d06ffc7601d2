//! The hyper peer of the HTTP benchmark (bench/http.sh): hyper 1.x on
//! tokio's `current_thread` runtime, answering every request with the
//! same 12-byte body and headers as `http_echo`'s `GET /hello`
//! (content-type, content-length, date).
//!
//! With `--threads N` it runs on tokio's multi-thread runtime with N
//! workers instead, one listener shared by them (bench/workers.sh, the
//! side-by-side at N workers).
//!
//! ```sh
//! cargo run --release -p hinge-bench --bin http-hyper -- 8080                   # hyper's defaults
//! cargo run --release -p hinge-bench --bin http-hyper -- 8080 --pipeline-flush  # its pipelining answer
//! cargo run --release -p hinge-bench --bin http-hyper -- 8080 --threads 2       # multi_thread, 2 workers
//! ```

use std::convert::Infallible;
use std::io;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use hinge_bench::{listen, port_arg};

fn main() -> io::Result<()> {
    let port = port_arg("http-hyper", " [--pipeline-flush] [--threads N]");
    let args: Vec<String> = std::env::args().skip(2).collect();
    let flush = args.iter().any(|a| a == "--pipeline-flush");
    let threads = match args.iter().position(|a| a == "--threads") {
        Some(i) => match args.get(i + 1).and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n > 0 => Some(n),
            _ => {
                eprintln!("http-hyper: --threads takes a positive number");
                std::process::exit(2);
            }
        },
        None => None,
    };
    let mut builder = match threads {
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = builder.enable_io().enable_time().build()?;
    runtime.block_on(serve(port, flush))
}

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut res = Response::new(Full::new(Bytes::from_static(b"Hello world!")));
    res.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    Ok(res)
}

async fn serve(port: u16, flush: bool) -> io::Result<()> {
    let listener = TcpListener::from_std(listen(port)?)?;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("http-hyper: accept: {e}");
                continue;
            }
        };
        // The same socket options as the other peers: Nagle off.
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .pipeline_flush(flush)
                .serve_connection(TokioIo::new(stream), service_fn(hello))
                .await;
        });
    }
}
