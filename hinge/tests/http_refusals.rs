//! Requests the server must refuse, over real sockets: each is answered
//! (400, or what was already written) and the connection then closes,
//! never left open, never dropped without a word.

mod common;

use std::time::Duration;

use common::http::{serve, Client};
use hinge::http::{Config, Server};
use hinge::Loop;

fn routes(_: &Loop, server: &Server) {
    server.on_client_error(|_, _, _| {});
    server.on_request(|_, _, req, res| match req.path() {
        "/echo" => common::http::echo(req, res),
        _ => {
            let host = req.host().unwrap_or("-").to_string();
            res.end(format!("ok {host}")).unwrap();
        }
    });
}

/// Sends `raw` (without half-closing) and returns the status of the one
/// answer, after checking that the server then closed.
fn refused(port: u16, raw: &str) -> u16 {
    let mut c = Client::connect(port);
    c.send(raw);
    let status = c.response(false).status;
    assert!(!c.open_after(Duration::from_secs(5)), "{raw:?}: left open");
    status
}

#[test]
fn bad_request_targets_and_hosts_are_answered_400_and_closed() {
    let server = serve(Config::default(), routes);
    for raw in [
        "GET ! HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET hello HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET * HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST ! HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        "GET /\u{3b4}\u{b6} HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: localhost/path\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n",
    ] {
        assert_eq!(refused(server.port, raw), 400, "{raw:?}");
    }
}

#[test]
fn an_absolute_target_names_the_host_and_a_later_minor_version_is_1_1() {
    let server = serve(Config::default(), routes);
    let mut c = Client::connect(server.port);
    c.send("GET http://example.com:81/x HTTP/1.1\r\nHost: other\r\n\r\n");
    let r = c.response(false);
    assert_eq!((r.status, &r.body[..]), (200, &b"ok example.com:81"[..]));
    c.send("GET /x HTTP/1.7\r\nHost: a\r\n\r\n");
    assert_eq!(c.response(false).status, 200, "served as HTTP/1.1");
    assert!(
        c.open_after(Duration::from_millis(100)),
        "kept alive, as 1.1"
    );
}

#[test]
fn a_framing_error_mid_body_flushes_what_the_handler_wrote_then_closes() {
    let server = serve(Config::default(), routes);
    let head = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    // The bad chunk size in the same read as the good chunk (the echo
    // is still in the connection's buffer), or in a later one.
    for pause in [None, Some(Duration::from_millis(100))] {
        let mut c = Client::connect(server.port);
        match pause {
            None => c.send(format!("{head}5\r\nhello\r\nzz\r\n")),
            Some(pause) => {
                c.send(format!("{head}5\r\nhello\r\n"));
                std::thread::sleep(pause);
                c.send("zz\r\n");
            }
        }
        let got = c.until_close();
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n"),
            "{pause:?}: {text:?}"
        );
        assert!(
            text.contains("\r\n5\r\nhello\r\n"),
            "{pause:?}: the echo: {text:?}"
        );
        assert!(
            !text.contains("0\r\n\r\n"),
            "{pause:?}: cut short: {text:?}"
        );
    }
}

#[test]
fn a_framing_error_before_the_handler_answers_is_a_400() {
    let server = serve(Config::default(), routes);
    for ext in ["2;", "1;a b", "1;a=\"unterminated", "1;a=\"q\r\n\""] {
        let raw = format!(
            "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{ext}\r\nx\r\n0\r\n\r\n"
        );
        assert_eq!(refused(server.port, &raw), 400, "{ext:?}");
    }
}
