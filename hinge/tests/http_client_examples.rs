//! `http_get` as a real process: against `http_echo`, a scripted server
//! that allows exactly one connection (keep-alive proven), bad servers
//! and closed ports (exit codes), and `https_echo` through hinge::tls.
#![cfg(feature = "http")]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::Duration;

mod common;
use common::process::*;

fn http_get(args: &[&str]) -> Output {
    Command::new(example("http_get"))
        .args(args)
        .output()
        .expect("run http_get (cargo test builds the examples)")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn fetches_from_http_echo_with_status_headers_and_body() {
    let port = free_port();
    let _server = start("http_echo", &[&port.to_string(), "--quiet"]);
    drop(connect(port));
    let base = format!("http://127.0.0.1:{port}");
    let out = http_get(&[&format!("{base}/hello"), &format!("{base}/chunked")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "Hello world!Hello chunk one!\nHello chunk two!\nHello world!\n"
    );
    let err = text(&out.stderr);
    assert!(err.starts_with("200 OK\n"), "{err}");
    assert!(err.contains("content-length: 12\n"), "{err}");
    assert!(err.contains("transfer-encoding: chunked\n"), "{err}");

    let out = http_get(&["--head", &format!("{base}/hello")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("content-length: 12"));

    // An error status: exit 1, and the later URLs are still fetched.
    let out = http_get(&[&format!("{base}/nope"), &format!("{base}/hello")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).ends_with("Hello world!"));
}

#[test]
fn repeated_hosts_share_one_kept_alive_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        for i in 0..3 {
            while !String::from_utf8_lossy(&buf).contains("\r\n\r\n") {
                let mut b = [0u8; 1024];
                let n = s.read(&mut b).unwrap();
                assert!(n > 0, "the client closed after {i} requests");
                buf.extend_from_slice(&b[..n]);
            }
            let end = String::from_utf8_lossy(&buf).find("\r\n\r\n").unwrap() + 4;
            buf.drain(..end);
            let body = format!("response {i}\n");
            write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        }
        // No second connection is ever made.
        listener.set_nonblocking(true).unwrap();
        assert!(listener.accept().is_err());
    });
    let url = format!("http://127.0.0.1:{port}/");
    let out = http_get(&[&url, &url, &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "response 0\nresponse 1\nresponse 2\n");
    server.join().unwrap();
}

#[test]
fn connection_and_protocol_errors_exit_2_with_one_line() {
    let out = http_get(&[&format!("http://127.0.0.1:{}/", common::closed_port())]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("connection refused"), "{err}");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut b = [0u8; 1024];
        let _ = s.read(&mut b);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab");
    });
    let out = http_get(&[&format!("http://127.0.0.1:{port}/")]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("invalid HTTP response: conflicting Content-Length"),
        "{err}"
    );
    server.join().unwrap();

    let out = http_get(&["ftp://127.0.0.1/"]);
    assert_eq!(out.status.code(), Some(2));
}

#[cfg(feature = "tls")]
#[test]
fn https_urls_go_through_hinge_tls() {
    use common::tls::{certs, Certs};
    let c = certs();
    let port = free_port();
    let _server = start(
        "https_echo",
        &[
            &port.to_string(),
            Certs::s(&c.cert()),
            Certs::s(&c.key()),
            "--quiet",
        ],
    );
    drop(connect(port));
    let url = format!("https://localhost:{port}/hello");
    let out = http_get(&[&url, &url, "--cafile", Certs::s(&c.ca())]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Hello world!Hello world!");
    // Without the CA, the certificate is refused: a connection error.
    let out = http_get(&[&url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("certificate"),
        "{}",
        text(&out.stderr)
    );
}
