//! hyper 1.x served from hinge sockets: `http1::serve_connection` on a
//! hinge `Socket`, through hinge's `tokio` feature (tokio's I/O traits)
//! and hyper-util's `TokioIo`, one task per connection on hinge's loop;
//! no tokio runtime. The same answer as `http-hyper` and `http_echo`'s
//! `GET /hello`.
//!
//! ```sh
//! cargo run --release -p hinge-bench --bin hyper-on-hinge -- 8080
//! cargo run --release -p hinge-bench --bin hyper-on-hinge -- 8080 --pipeline-flush
//! curl http://127.0.0.1:8080/hello
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use hinge_bench::port_arg;

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut res = Response::new(Full::new(Bytes::from_static(b"Hello world!")));
    res.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    Ok(res)
}

fn main() -> hinge::Result<()> {
    let port = port_arg("hyper-on-hinge", " [--pipeline-flush]");
    let flush = std::env::args().skip(2).any(|a| a == "--pipeline-flush");
    let lp = hinge::Loop::new()?;
    let server = hinge::Server::new(&lp);
    server.set_nodelay(true); // as every peer
    server.listen_on("0.0.0.0", port)?;
    println!("listening on {}", server.local_addr().expect("listening"));
    for signum in [hinge::signal::SIGINT, hinge::signal::SIGTERM] {
        let server = server.clone();
        lp.on_signal(signum, move |_, _| {
            server.close();
            server.destroy_connections();
        })?;
    }
    let h = lp.handle();
    lp.block_on(async move {
        let mut incoming = server.incoming();
        while let Some(sock) = incoming.next().await {
            h.spawn_local(async move {
                let _ = http1::Builder::new()
                    .pipeline_flush(flush)
                    .serve_connection(TokioIo::new(sock), service_fn(hello))
                    .await;
            })
            .detach();
        }
    })?;
    lp.run();
    Ok(())
}
