//! Streaming responses: a body pumped from `drain` listeners alone, with
//! no handle kept, arrives whole; several `request` listeners share one
//! exchange.

mod common;

use common::http::{serve, Client};
use hinge::http::{Config, Response, Server};
use hinge::Loop;

const LINES: usize = 200_000; // about 2.6 MB: far above the high-water mark

fn line(i: usize) -> String {
    format!("line {i:07}\n")
}

/// Writes lines until the queue is full or the body is done.
fn pump(res: &Response, next: &mut usize) {
    while *next < LINES {
        let ok = res.write(line(*next)).unwrap_or(false);
        *next += 1;
        if !ok {
            return; // `drain` calls again
        }
    }
    res.end("").unwrap();
}

fn routes(_: &Loop, server: &Server) {
    server.on_client_error(|_, _, _| {});
    server.on_request(|_, _, req, res| match req.path() {
        "/pipe" => hinge::pipe(&req, &res, |_, r| r.unwrap()),
        "/stream" => {
            let mut next = 0;
            pump(&res, &mut next);
            res.on_drain(move |_, res| pump(res, &mut next));
            // `res` drops here: only the drain listener can end it.
        }
        _ => {
            res.set_header("x-first", "1").unwrap();
        }
    });
    // A second listener of the same exchange ends it.
    server.on_request(|_, _, req, res| {
        if req.path() == "/other" {
            res.end("two listeners").unwrap();
        }
    });
}

#[test]
fn a_body_pumped_from_drain_alone_arrives_whole() {
    // The client checks 2.6 MB strictly before its next request: slow
    // under valgrind, so the connection may idle longer than 5 s.
    let mut config = Config::default();
    config.keep_alive_timeout = std::time::Duration::from_secs(120);
    let server = serve(config, routes);
    let mut c = Client::connect(server.port);
    c.send("GET /stream HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.response(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), LINES * line(0).len(), "not truncated");
    assert!(r.body.ends_with(line(LINES - 1).as_bytes()));
    // The connection is still usable: the response ended cleanly.
    c.send("GET /other HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.response(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-first"), Some("1"));
    assert_eq!(&r.body[..], b"two listeners");
}

thread_local! {
    /// Responses the `/stuck` routes keep and never end.
    static STUCK: std::cell::RefCell<Vec<Response>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn stuck_routes(_: &Loop, server: &Server) {
    server.on_client_error(|_, _, _| {});
    server.on_request(|_, _, req, res| {
        if req.path() == "/stuck-after-head" {
            res.write("partial").unwrap();
        }
        STUCK.with(|s| s.borrow_mut().push(res));
    });
}

#[test]
fn a_response_never_ended_meets_the_response_timeout() {
    let mut config = Config::default();
    config.response_timeout = Some(std::time::Duration::from_millis(200));
    config.check_interval = std::time::Duration::from_millis(20);
    let server = serve(config, stuck_routes);
    // No head sent: a 503, then the close.
    let mut c = Client::connect(server.port);
    c.send("GET /stuck HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.response(false);
    assert_eq!((r.status, r.header("connection")), (503, Some("close")));
    c.expect_close();
    // The head sent: what was written, then the close.
    let mut c = Client::connect(server.port);
    c.send("GET /stuck-after-head HTTP/1.1\r\nHost: a\r\n\r\n");
    let got = String::from_utf8_lossy(&c.until_close()).to_string();
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(
        got.contains("partial") && !got.ends_with("0\r\n\r\n"),
        "{got}"
    );
}

#[test]
fn without_a_response_timeout_a_kept_response_holds_its_client() {
    let server = serve(Config::default(), stuck_routes);
    let mut c = Client::connect(server.port);
    c.send("GET /stuck HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(
        c.open_after(std::time::Duration::from_millis(300)),
        "documented: no deadline"
    );
}

#[test]
fn a_request_body_piped_into_its_response_comes_back_whole() {
    let server = serve(Config::default(), routes);
    let body: Vec<u8> = (0..4 << 20).map(|i: usize| (i % 251) as u8).collect();
    let mut c = Client::connect(server.port);
    let head = format!(
        "POST /pipe HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.send(head);
    // Written from a thread while this one reads: the server's queue
    // fills, the request pauses, and both sides keep moving.
    let mut w = c.stream.try_clone().unwrap();
    let sent = body.clone();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        w.write_all(&sent).unwrap();
    });
    let r = c.response(false);
    writer.join().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body == body, "{} bytes back", r.body.len());
}
