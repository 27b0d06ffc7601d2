//! A WebSocket echo server: the HTTP side in callbacks, the WebSocket
//! side in async/await with async-tungstenite, on one loop.
//!
//! ```sh
//! cargo run --example ws_echo              # port 8080
//! cargo run --example ws_echo -- 9000      # another port (0: any free one)
//! # then open http://localhost:8080/ in a browser, or:
//! python3 -m websockets ws://localhost:8080/ws
//! ```
//!
//! - `GET /`: a page whose script talks to `/ws`.
//! - `/ws`: the `upgrade` listener answers `101 Switching Protocols` and
//!   hands the socket to a task. Text and binary messages come back as
//!   sent; pings are answered and closes completed (by tungstenite).
//!   Messages up to 16 MiB; a larger one closes with 1009 (too big).
//! - Ctrl-C or SIGTERM: stop listening, close every connection, exit.

use std::time::Duration;

use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::WebSocketStream;
use futures_util::{AsyncReadExt, StreamExt};
use hinge::http::{self, Method, Request};
use hinge::{signal, Loop, LoopHandle, Socket};

/// The largest message (and frame) a client may send.
const MAX_MESSAGE: usize = 16 << 20;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>hinge ws_echo</title>
<input id="msg" value="hello hinge" autofocus> <button id="send">send</button>
<pre id="log"></pre>
<script>
  const log = (line) => (document.getElementById("log").textContent += line + "\n");
  const ws = new WebSocket(`ws://${location.host}/ws`);
  ws.onopen = () => log("open");
  ws.onmessage = (e) => log("echo: " + e.data);
  ws.onclose = (e) => log(`closed (${e.code})`);
  document.getElementById("send").onclick = () => ws.send(document.getElementById("msg").value);
</script>
"#;

fn main() -> hinge::Result<()> {
    let port = match std::env::args().nth(1) {
        Some(p) => p.parse().unwrap_or_else(|_| {
            eprintln!("usage: ws_echo [PORT]");
            std::process::exit(2)
        }),
        None => 8080,
    };
    let lp = Loop::new()?;
    let server = http::Server::new(&lp);

    server.on_request(|_, _, req, res| {
        let get = req.method() == Method::GET || req.method() == Method::HEAD;
        let answered = match req.path() {
            "/" if get => res
                .set_header("content-type", "text/html; charset=utf-8")
                .and_then(|_| res.end(PAGE)),
            _ => res.error(404),
        };
        if let Err(e) = answered {
            eprintln!("answering failed: {e}");
        }
    });

    // The handshake is ours to answer: the server has let go of the
    // socket, and `head` holds what the client sent after its request.
    server.on_upgrade(|lp, _, req, sock, head| {
        let Some(accept) = accept_key(&req) else {
            sock.send("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .ok();
            sock.close();
            return;
        };
        // With no `data` listener attached, the server hands the socket
        // over paused: what the client sends next waits in the kernel
        // for the task's reads.
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\
             connection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
        );
        if sock.send(answer).is_err() {
            return; // the client is gone
        }
        let (h, head) = (lp.handle(), head.to_vec());
        lp.spawn_local(async move {
            let peer = sock.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            println!("websocket {peer} open");
            match echo(&h, sock, head).await {
                Ok(()) => println!("websocket {peer} closed"),
                Err(e) => eprintln!("websocket {peer}: {e}"),
            }
        })
        .detach();
    });

    server.listen(port)?;
    // The port it got: 0 asks for a free one.
    let port = server.local_addr().map_or(port, |a| a.port());
    println!("ws_echo listening on http://127.0.0.1:{port}");

    // Exit cleanly on Ctrl-C or kill: stop listening, then close every
    // connection (upgraded ones too: the transport still lists them)
    // once what is queued is written; run() then returns.
    for signum in [signal::SIGINT, signal::SIGTERM] {
        let server = server.clone();
        lp.on_signal(signum, move |_, _| {
            println!("shutting down");
            server.close();
            server.transport().close_connections();
        })?;
    }
    lp.run();
    Ok(())
}

/// `Sec-WebSocket-Accept` for a valid WebSocket handshake to `/ws`.
fn accept_key(req: &Request) -> Option<String> {
    let is = |name, value: &str| {
        req.header(name)
            .is_some_and(|v| v.eq_ignore_ascii_case(value))
    };
    let valid = req.path() == "/ws"
        && req.method() == Method::GET
        && is("upgrade", "websocket")
        && is("sec-websocket-version", "13");
    let key = req.header("sec-websocket-key").filter(|_| valid)?;
    Some(derive_accept_key(key.as_bytes()))
}

/// Echoes messages until the client closes. The socket is a futures-io
/// stream; dropping its last handle (with `ws`) closes it.
async fn echo(h: &LoopHandle, sock: Socket, head: Vec<u8>) -> Result<(), WsError> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let mut ws = WebSocketStream::from_partially_read(sock, head, Role::Server, Some(config)).await;
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => ws.send(msg).await?,
            Ok(_) => {} // pings and closes: tungstenite answers them
            Err(e @ WsError::Capacity(_)) => {
                too_big(h, ws).await;
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Tungstenite refuses an oversized message mid-frame and says nothing:
/// send 1009 ourselves, end our side, then discard what the client still
/// sends until it closes (closing with unread input would reset the
/// connection, and the client could lose the close frame).
async fn too_big(h: &LoopHandle, mut ws: WebSocketStream<Socket>) {
    let frame = CloseFrame {
        code: CloseCode::Size,
        reason: "message too big".into(),
    };
    if ws.close(Some(frame)).await.is_err() {
        return;
    }
    let mut sock = ws.into_inner();
    sock.end();
    let mut buf = vec![0; 64 * 1024];
    let drain = async { while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {} };
    hinge::task::timeout(h, Duration::from_secs(10), drain)
        .await
        .ok();
}
