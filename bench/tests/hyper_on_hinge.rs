//! hyper 1.x on hinge's loop, through hinge's `tokio` feature: the
//! strongest proof that the async ecosystem runs on hinge. A real hyper
//! server connection, one hinge task per connection, a std client.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

async fn echo(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Reads the whole body through hinge's socket, as hyper drives it.
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Ok(Response::new(Full::new(body)))
}

#[test]
fn hyper_serves_http1_from_hinge_sockets() {
    let lp = hinge::Loop::new().unwrap();
    let server = hinge::Server::new(&lp);
    server.listen_on("127.0.0.1", 0).unwrap();
    let port = server.local_addr().unwrap().port();
    let client = std::thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let body = vec![b'z'; 300_000];
        // Two requests on one connection, the first with a large body.
        write!(
            c,
            "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        c.write_all(&body).unwrap();
        c.write_all(
            b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        )
        .unwrap();
        let mut all = Vec::new();
        c.read_to_end(&mut all).unwrap();
        all
    });
    let h = lp.handle();
    let s = server.clone();
    lp.block_on(async move {
        let mut incoming = s.incoming();
        let sock = incoming.next().await.unwrap();
        // One connection: served in a task of its own, awaited here.
        let conn = h.spawn_local(async move {
            http1::Builder::new()
                .serve_connection(TokioIo::new(sock), service_fn(echo))
                .await
        });
        conn.await.unwrap();
    })
    .unwrap();
    let all = client.join().unwrap();
    let text = String::from_utf8_lossy(&all);
    assert_eq!(
        text.matches("HTTP/1.1 200 OK").count(),
        2,
        "{}",
        &text[..200.min(text.len())]
    );
    assert!(text.contains("content-length: 300000"));
    assert!(text.ends_with("hello"));
    server.close();
    lp.run();
}
