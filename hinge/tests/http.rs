//! The HTTP server over real sockets: raw request bytes in, exact
//! responses checked by a strict client-side parser.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::http::{parse_all, roundtrip, serve, wait_for, Client, Resp, TestServer};
use hinge::http::{Config, Method, Request, Response, Server};
use hinge::Loop;

static CLOSED_EARLY: AtomicUsize = AtomicUsize::new(0);

fn routes(_: &Loop, server: &Server) {
    server.on_client_error(|_, _, _| {});
    server.on_request(route);
}

fn route(lp: &Loop, _: &Server, req: Request, res: Response) {
    match req.path() {
        "/" | "/hello" => {
            res.set_header("content-type", "text/plain").unwrap();
            res.end("Hello world!").unwrap();
        }
        "/chunked" => {
            res.write_head(200, &[("content-type", "text/html")])
                .unwrap();
            res.write("Hello chunk one!\n").unwrap();
            res.write("Hello chunk two!\n").unwrap();
            res.end("Hello world!\n").unwrap();
        }
        "/echo" => common::http::echo(req, res),
        "/collect" => req.collect(1 << 20, move |_, req, body| match body {
            Ok(body) => {
                let trailer = req
                    .trailers()
                    .and_then(|t| t.get("x-sum").map(|v| v.to_str().unwrap().to_string()))
                    .unwrap_or_default();
                res.end(format!("{} {trailer}", body.len())).unwrap();
            }
            Err(_) => {
                let _ = res.error(413); // the server may have answered already
            }
        }),
        "/slow" => {
            lp.set_timeout(Duration::from_millis(50), move |_| {
                res.end("slow").unwrap();
            });
        }
        "/no-content" => {
            res.set_status(204).unwrap();
            res.end("").unwrap();
        }
        "/not-modified" => {
            res.set_status(304).unwrap();
            res.end("").unwrap();
        }
        "/early-hints" => {
            res.write_head(103, &[("link", "</a.css>; rel=preload")])
                .unwrap();
            res.end("ok").unwrap();
        }
        "/drop" => drop(res),
        "/drop-after-head" => {
            res.write("partial").unwrap();
            drop(res);
        }
        "/panic" => panic!("a handler panics"),
        "/reject" => res.error(401).unwrap(),
        "/pause-then-answer" => {
            req.on_data(|_, _, _| {});
            req.pause();
            res.error(502).unwrap();
        }
        "/cookies" => {
            res.write_head(200, &[("set-cookie", "a=1"), ("set-cookie", "b=2")])
                .unwrap();
            res.end("").unwrap();
        }
        "/write-then-collect" => {
            res.write("started;").unwrap();
            req.collect(1 << 20, move |_, _, body| {
                res.end(format!("{} bytes", body.map(|b| b.len()).unwrap_or(0)))
                    .unwrap();
            });
        }
        "/close" => {
            res.set_header("connection", "close").unwrap();
            res.end("bye").unwrap();
        }
        "/never" => {
            let keep = res.clone();
            res.on_close(move |_, _| {
                let _ = &keep;
                CLOSED_EARLY.fetch_add(1, Ordering::SeqCst);
            });
        }
        _ => res.error(404).unwrap(),
    }
}

fn server() -> TestServer {
    serve(Config::default(), routes)
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
}

fn one(port: u16, raw: &str) -> Resp {
    let bytes = roundtrip(port, raw.as_bytes());
    let head = raw.starts_with("HEAD");
    let mut all = parse_all(&bytes, &[head])
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&bytes)));
    all.retain(|r| r.status >= 200);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

/// The request is refused with `status`, and the connection closes after
/// the answer (which the client reads in full).
fn refused(port: u16, raw: &[u8], status: u16) {
    let mut c = Client::connect(port);
    c.send(raw);
    let r = c.response(false);
    assert_eq!(r.status, status, "{:?}", String::from_utf8_lossy(raw));
    assert_eq!(r.header("connection"), Some("close"));
    c.expect_close();
}

#[test]
fn hello_with_exact_headers() {
    let s = server();
    let r = one(s.port, &get("/hello"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"Hello world!");
    let names: Vec<&str> = r.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["content-type", "date", "content-length"]);
    assert_eq!(r.header("content-length"), Some("12"));
}

#[test]
fn keep_alive_by_default_and_connection_close() {
    let s = server();
    let mut c = Client::connect(s.port);
    for _ in 0..3 {
        c.send(get("/hello"));
        let r = c.response(false);
        assert_eq!(r.body, b"Hello world!");
        assert_eq!(r.header("connection"), None);
    }
    c.send("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r = c.response(false);
    assert_eq!(r.header("connection"), Some("close"));
    c.expect_close();

    // The handler may ask for the close itself.
    let mut c = Client::connect(s.port);
    c.send(get("/close"));
    assert_eq!(c.response(false).body, b"bye");
    c.expect_close();
}

#[test]
fn http10_keep_alive_only_on_request_and_never_chunked() {
    let s = server();
    let mut c = Client::connect(s.port);
    c.send("GET /hello HTTP/1.0\r\n\r\n");
    let r = c.response(false);
    assert_eq!(r.header("connection"), Some("close"));
    c.expect_close();

    let mut c = Client::connect(s.port);
    c.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(c.response(false).header("connection"), Some("keep-alive"));
    c.send("GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    // Unknown length for 1.0: no chunked, delimited by the close.
    let rest = c.until_close();
    let r = parse_all(&rest, &[false]).unwrap().remove(0);
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(
        r.body,
        b"Hello chunk one!\nHello chunk two!\nHello world!\n"
    );
}

#[test]
fn pipelined_requests_are_answered_in_order_in_one_write() {
    let s = server();
    let mut c = Client::connect(s.port);
    let batch: String = (0..16)
        .map(|i| get(if i % 2 == 0 { "/hello" } else { "/chunked" }))
        .collect();
    c.send(&batch);
    // All sixteen answers arrive together: one send on the server's side.
    let first = c.response(false);
    assert_eq!(first.body, b"Hello world!");
    let mut got = vec![first];
    for _ in 1..16 {
        got.push(c.response(false));
    }
    for (i, r) in got.iter().enumerate() {
        let want: &[u8] = if i % 2 == 0 {
            b"Hello world!"
        } else {
            b"Hello chunk one!\nHello chunk two!\nHello world!\n"
        };
        assert_eq!(r.body, want, "response {i}");
    }
    assert!(c.buffered().is_empty());

    // A slow answer holds back the ones after it.
    c.send(format!("{}{}{}", get("/slow"), get("/hello"), get("/slow")));
    assert_eq!(c.response(false).body, b"slow");
    assert_eq!(c.response(false).body, b"Hello world!");
    assert_eq!(c.response(false).body, b"slow");
}

#[test]
fn request_bodies_by_length_and_chunked_with_trailers() {
    let s = server();
    let r = one(
        s.port,
        "POST /collect HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(r.body, b"5 ");
    let r = one(
        s.port,
        "POST /collect HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
         5;name=value;x=\"quoted\"\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n",
    );
    assert_eq!(r.body, b"11 11");
    // A chunked echo stays chunked; a length echo keeps its length.
    let r = one(
        s.port,
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    assert_eq!(
        (r.header("transfer-encoding"), r.body.as_slice()),
        (Some("chunked"), &b"abc"[..])
    );
    let r = one(
        s.port,
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz",
    );
    assert_eq!(
        (r.header("content-length"), r.body.as_slice()),
        (Some("3"), &b"xyz"[..])
    );
    // An unread body is discarded and the connection stays usable.
    let mut c = Client::connect(s.port);
    c.send("POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nabcd");
    c.send(get("/hello"));
    assert_eq!(c.response(false).body, b"Hello world!");
    assert_eq!(c.response(false).body, b"Hello world!");
}

#[test]
fn bodiless_answers() {
    let s = server();
    let r = one(s.port, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((r.header("content-length"), r.body.len()), (Some("12"), 0));
    let r = one(s.port, "HEAD /chunked HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        (r.header("transfer-encoding"), r.body.len()),
        (Some("chunked"), 0)
    );
    let r = one(s.port, &get("/no-content"));
    assert_eq!((r.status, r.header("content-length")), (204, None));
    let r = one(s.port, &get("/not-modified"));
    assert_eq!((r.status, r.body.len()), (304, 0));
    // A 103 goes first, then the answer, on the same connection.
    let mut c = Client::connect(s.port);
    c.send(get("/early-hints"));
    let hint = c.response(false);
    assert_eq!(
        (hint.status, hint.header("link")),
        (103, Some("</a.css>; rel=preload"))
    );
    assert_eq!(c.response(false).body, b"ok");
}

#[test]
fn expect_continue() {
    let s = server();
    let mut c = Client::connect(s.port);
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(c.response(false).status, 100);
    c.send("data");
    assert_eq!(c.response(false).body, b"data");

    // Answered before reading: no 100, and the connection closes.
    let mut c = Client::connect(s.port);
    c.send("POST /reject HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    let r = c.response(false);
    assert_eq!((r.status, r.header("connection")), (401, Some("close")));
    c.expect_close();

    refused(
        s.port,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx",
        417,
    );

    // Answered first, read afterwards: no 100, the body still arrives
    // when the client sends it anyway, and the connection then closes.
    let mut c = Client::connect(s.port);
    c.send("POST /write-then-collect HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    std::thread::sleep(Duration::from_millis(50));
    c.send("hello");
    let r = c.response(false);
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"started;5 bytes"[..])
    );
    assert_eq!(r.header("connection"), Some("close"));
    c.expect_close();
}

#[test]
fn smuggling_defences() {
    let s = server();
    let cases: &[&[u8]] = &[
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\n",
        b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1x\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: t\rX: y\r\n\r\n",
        b"GET /hello HTTP/1.1\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: t\r\n folded: header\r\n\r\n",
    ];
    for raw in cases {
        refused(s.port, raw, 400);
    }
    // The refused request's body never reaches a handler as a request.
    let mut c = Client::connect(s.port);
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response(false).status, 400);
    c.expect_close();
}

fn small_limits() -> Config {
    let mut c = Config::default();
    c.max_head_bytes = 1024;
    c.max_headers = 10;
    c.max_uri_bytes = 256;
    c.max_body_bytes = 100;
    c.max_requests_per_connection = Some(3);
    c
}

#[test]
fn limits() {
    let s = serve(small_limits(), routes);
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(2000)
    );
    refused(s.port, big_header.as_bytes(), 431);
    let many: String = (0..11).map(|i| format!("X-{i}: v\r\n")).collect();
    refused(
        s.port,
        format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n").as_bytes(),
        431,
    );
    let long = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "u".repeat(300));
    refused(s.port, long.as_bytes(), 414);
    // A long target still arriving is refused before its line ends.
    refused(s.port, format!("GET /{}", "u".repeat(600)).as_bytes(), 414);
    // A declared body over the limit is refused at once, unread.
    refused(
        s.port,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n",
        413,
    );
    refused(
        s.port,
        format!(
            "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n{}\r\n",
            "b".repeat(101)
        )
        .as_bytes(),
        413,
    );
    // Requests per connection: the third answer says close.
    let mut c = Client::connect(s.port);
    for i in 0..3 {
        c.send(get("/hello"));
        let r = c.response(false);
        assert_eq!(
            r.header("connection"),
            if i == 2 { Some("close") } else { None }
        );
    }
    c.expect_close();
    // Chunk extensions are bounded.
    let ext = format!(
        "POST /collect HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1;{}\r\n",
        "e".repeat(2000)
    );
    refused(s.port, ext.as_bytes(), 400);
}

fn quick_timeouts() -> Config {
    let mut c = Config::default();
    c.headers_timeout = Duration::from_millis(300);
    c.keep_alive_timeout = Duration::from_millis(300);
    c.body_timeout = Duration::from_millis(300);
    c.linger = Duration::from_millis(300);
    c.check_interval = Duration::from_millis(50);
    c
}

#[test]
fn timeouts() {
    let s = serve(quick_timeouts(), routes);
    // Slowloris: a head that trickles in gets 408.
    let mut c = Client::connect(s.port);
    c.send("GET / HTTP/1.1\r\n");
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(50));
        let _ = std::io::Write::write_all(&mut c.stream, b"X: y\r\n");
    }
    let r = c.response(false);
    assert_eq!((r.status, r.header("connection")), (408, Some("close")));
    c.expect_close();
    // An idle keep-alive connection is closed.
    let mut c = Client::connect(s.port);
    c.send(get("/hello"));
    c.response(false);
    assert!(c.open_after(Duration::from_millis(100)));
    assert!(!c.open_after(Duration::from_secs(3)));
    // A stalled body gets 408.
    let mut c = Client::connect(s.port);
    c.send("POST /collect HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    let rest = c.until_close();
    let all = parse_all(&rest, &[false]).unwrap();
    assert_eq!(all.last().map(|r| r.status), Some(408), "{all:?}");
    // Answered without reading a body that then stops coming: closed.
    let mut c = Client::connect(s.port);
    c.send("POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nabc");
    assert_eq!(c.response(false).body, b"Hello world!");
    let _ = c.until_close();
    // A connection that never says anything is closed quietly.
    let mut c = Client::connect(s.port);
    c.expect_close();
}

#[test]
fn error_answers_are_read_not_reset() {
    let s = server();
    let mut c = Client::connect(s.port);
    // A bad head followed by a lot more: the client still reads the 400.
    let mut junk = b"GET /hello HTTP/1.1\r\n\r\n".to_vec();
    junk.extend(std::iter::repeat_n(b'x', 200_000));
    let _ = std::io::Write::write_all(&mut c.stream, &junk);
    let r = c.response(false);
    assert_eq!(r.status, 400);
}

#[test]
fn dropped_responses_never_hang() {
    let s = server();
    let mut c = Client::connect(s.port);
    c.send(get("/drop"));
    assert_eq!(c.response(false).status, 500);
    c.send(get("/hello"));
    assert_eq!(
        c.response(false).status,
        200,
        "the connection is still usable"
    );

    let mut c = Client::connect(s.port);
    c.send(get("/drop-after-head"));
    let rest = c.until_close();
    assert!(
        parse_all(&rest, &[false]).is_err(),
        "a truncated body, then the close"
    );
    assert!(String::from_utf8_lossy(&rest).contains("partial"));
}

#[test]
fn a_panicking_handler_leaves_other_connections_alone() {
    let s = server();
    let mut other = Client::connect(s.port);
    other.send(get("/slow"));
    let mut c = Client::connect(s.port);
    c.send(get("/panic"));
    // Its own client gets a 500 and the close (its state is unknown).
    let r = c.response(false);
    assert_eq!((r.status, r.header("connection")), (500, Some("close")));
    c.expect_close();
    assert_eq!(other.response(false).body, b"slow");
    assert!(wait_for(|| s.panics.load(Ordering::SeqCst) == 1));
    let mut c = Client::connect(s.port);
    c.send(get("/hello"));
    assert_eq!(c.response(false).status, 200);
}

#[test]
fn close_event_when_the_client_leaves_early() {
    let s = server();
    let before = CLOSED_EARLY.load(Ordering::SeqCst);
    let mut c = Client::connect(s.port);
    c.send(get("/never"));
    std::thread::sleep(Duration::from_millis(50));
    drop(c);
    assert!(wait_for(|| CLOSED_EARLY.load(Ordering::SeqCst) > before));
}

#[test]
fn upgrade_hands_over_the_socket() {
    fn setup(lp: &Loop, server: &Server) {
        routes(lp, server);
        server.on_upgrade(|_, _, req, sock, head| {
            assert_eq!(req.header("upgrade"), Some("echo"));
            sock.send(
                "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n",
            )
            .unwrap();
            sock.send(head).unwrap();
            sock.on_data(|_, s, bytes| {
                s.send(bytes).unwrap();
            });
        });
    }
    let s = serve(Config::default(), setup);
    let mut c = Client::connect(s.port);
    c.send("GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly");
    let r = c.response(false);
    assert_eq!(r.status, 101);
    c.send(" and later");
    let mut got = c.buffered().to_vec();
    while got.len() < "early and later".len() {
        let mut buf = [0u8; 64];
        let n = std::io::Read::read(&mut c.stream, &mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"early and later");
}

#[test]
fn graceful_close() {
    let s = server();
    let mut idle = Client::connect(s.port);
    idle.send(get("/hello"));
    idle.response(false);
    let mut busy = Client::connect(s.port);
    busy.send(get("/slow"));
    std::thread::sleep(Duration::from_millis(10));
    s.close_gracefully();
    idle.expect_close();
    let r = busy.response(false);
    assert_eq!(
        (r.body.as_slice(), r.header("connection")),
        (&b"slow"[..], Some("close"))
    );
    busy.expect_close();
    assert!(std::net::TcpStream::connect(("127.0.0.1", s.port)).is_err());
}

#[test]
fn byte_split_requests_get_the_same_answers() {
    let s = server();
    let requests: Vec<Vec<u8>> = vec![
        get("/hello").into_bytes(),
        b"POST /collect HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX-Sum: 5\r\n\r\n".to_vec(),
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\nabcdefg".to_vec(),
        b"HEAD /chunked HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
        b"GET /hello HTTP/1.1\r\nHost: t\rX: y\r\n\r\n".to_vec(),
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n".to_vec(),
    ];
    for raw in &requests {
        let head = raw.starts_with(b"HEAD");
        let whole = parse_all(&roundtrip(s.port, raw), &[head]).unwrap();
        let whole: Vec<Resp> = whole.iter().map(Resp::without_date).collect();
        let mut splits: Vec<Vec<usize>> = (1..raw.len()).map(|i| vec![i]).collect();
        splits.push((1..raw.len()).collect()); // one byte at a time
        for cuts in splits {
            let mut c = Client::connect(s.port);
            let mut from = 0;
            for &cut in &cuts {
                c.send(&raw[from..cut]);
                from = cut;
                std::thread::sleep(Duration::from_micros(200));
            }
            c.send(&raw[from..]);
            c.shutdown_write();
            let got = parse_all(&c.until_close(), &[head]).unwrap();
            let got: Vec<Resp> = got.iter().map(Resp::without_date).collect();
            assert_eq!(
                got,
                whole,
                "{:?} cut at {cuts:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}

#[test]
fn the_method_and_target_reach_the_handler() {
    fn setup(_: &Loop, server: &Server) {
        server.on_request(|_, _, req, res| {
            assert_eq!(req.method(), Method::PUT);
            res.end(format!(
                "{}|{}|{:?}",
                req.path(),
                req.query().unwrap_or(""),
                req.header("x-a")
            ))
            .unwrap();
        });
    }
    let s = serve(Config::default(), setup);
    let r = one(s.port, "PUT /a/b?c=d HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n\r\n");
    assert_eq!(r.body, b"/a/b|c=d|Some(\"1\")");
}

#[test]
fn closing_frees_every_exchange_and_the_server() {
    use common::DropCounter;
    let lp = Loop::new().unwrap();
    let server = Server::new(&lp);
    let drops = DropCounter::default();
    let d = drops.clone();
    let in_handler = d.token();
    server.on_request(move |_, _, req, res| {
        in_handler.touch();
        // Listeners that capture their own request and response: cycles
        // that closing or ending must break.
        let (t1, t2, t3) = (d.token(), d.token(), d.token());
        let (r, q) = (res.clone(), req.clone());
        res.on_drain(move |_, _| {
            t1.touch();
            let _ = &r;
        });
        let r = res.clone();
        res.on_close(move |_, _| {
            t2.touch();
            let _ = &r;
        });
        req.on_data(move |_, _, _| {
            t3.touch();
            let _ = &q;
        });
        if req.path() == "/end" {
            req.on_end(move |_, _| {
                res.end("x").unwrap();
            });
        } else {
            let keep = res.clone();
            req.on_end(move |_, _| {
                let _ = &keep; // never answered: the client leaves
            });
        }
    });
    server.listen_on("127.0.0.1", 0).unwrap();
    let port = server.local_addr().unwrap().inet().unwrap().port();
    let s = server.clone();
    let stop = hinge::Async::new(&lp, move |_, w| {
        hinge::Watcher::stop(w);
        s.close();
    });
    let sender = stop.sender();
    let client = std::thread::spawn(move || {
        let mut c = Client::connect(port);
        c.send(get("/end"));
        assert_eq!(c.response(false).body, b"x");
        c.send(get("/leave"));
        std::thread::sleep(Duration::from_millis(50));
        drop(c);
        std::thread::sleep(Duration::from_millis(50));
        sender.send();
    });
    lp.run();
    client.join().unwrap();
    assert_eq!(server.connections(), 0);
    // The exchanges' listeners, and the handler: a closed server lets go
    // of it, so a handler that captures the server is no cycle.
    assert_eq!(drops.dropped(), 7);
    drop(stop);
    drop(server);
    drop(lp);
    assert_eq!(drops.dropped(), 7);
}

#[test]
fn an_echo_larger_than_the_high_water_mark_completes() {
    let s = server();
    let body: Vec<u8> = (0..4 << 20).map(|i| (i * 7 % 251) as u8).collect();
    let mut c = Client::connect(s.port);
    let mut writer = c.stream.try_clone().unwrap();
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let sent = body.clone();
    let t = std::thread::spawn(move || {
        std::io::Write::write_all(&mut writer, head.as_bytes()).unwrap();
        for piece in sent.chunks(100_000) {
            std::io::Write::write_all(&mut writer, piece).unwrap();
        }
    });
    let r = c.response(false);
    t.join().unwrap();
    assert!(
        r.body == body,
        "{} of {} bytes back",
        r.body.len(),
        body.len()
    );
}

#[test]
fn a_stale_request_handle_cannot_pause_the_next_exchange() {
    fn setup(_: &Loop, server: &Server) {
        let kept: std::rc::Rc<std::cell::RefCell<Option<Request>>> = Default::default();
        server.on_request(move |_, _, req, res| {
            if let Some(old) = kept.borrow_mut().replace(req.clone()) {
                old.pause(); // the previous exchange is over: no effect
            }
            res.end(req.path()).unwrap();
        });
    }
    let s = serve(Config::default(), setup);
    let mut c = Client::connect(s.port);
    for path in ["/a", "/b", "/c"] {
        c.send(get(path));
        assert_eq!(c.response(false).body, path.as_bytes());
    }
}

#[test]
fn a_waiting_partial_head_costs_no_cpu() {
    let s = server();
    let mut c = Client::connect(s.port);
    c.send("GET /hello HTTP/1.1\r\nHost: t\r\n");
    std::thread::sleep(Duration::from_millis(100));
    let before = s.cpu_ticks();
    std::thread::sleep(Duration::from_millis(1000));
    let spent = s.cpu_ticks() - before;
    // The server thread waits idle; a spinning loop would burn about 100
    // ticks here.
    assert!(spent < 30, "{spent} ticks of CPU while a head waited");
    c.send("\r\n");
    assert_eq!(c.response(false).body, b"Hello world!");
}

#[test]
fn a_request_paused_when_its_answer_ends_does_not_stall_the_connection() {
    let s = server();
    let mut c = Client::connect(s.port);
    c.send("POST /pause-then-answer HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789");
    assert_eq!(c.response(false).status, 502);
    c.send(get("/hello"));
    assert_eq!(c.response(false).body, b"Hello world!");
}

#[test]
fn write_head_keeps_repeated_names() {
    let s = server();
    let r = one(s.port, &get("/cookies"));
    let cookies: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
}

#[test]
fn a_head_larger_than_the_read_ahead_completes() {
    fn setup(lp: &Loop, server: &Server) {
        routes(lp, server);
    }
    let mut config = Config::default();
    config.max_head_bytes = 256 * 1024;
    let s = serve(config, setup);
    let mut c = Client::connect(s.port);
    c.send("GET /hello HTTP/1.1\r\nHost: t\r\n");
    for i in 0..20 {
        c.send(format!("X-Big-{i}: {}\r\n", "v".repeat(8000)));
    }
    c.send("\r\n");
    assert_eq!(c.response(false).body, b"Hello world!");
}
