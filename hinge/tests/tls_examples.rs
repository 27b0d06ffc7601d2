//! The TLS examples as real processes, with certificates made at run
//! time: `tls_echo` against `openssl s_client`, `https_echo` against
//! curl (`http_echo`'s contract), and `tls_get` against both servers and
//! bad certificates.
#![cfg(feature = "tls")]

use std::cell::{Cell, RefCell};
use std::process::Command;
use std::rc::Rc;

mod common;
use common::process::*;
use common::tls::{certs, openssl, Certs};

fn p(path: std::path::PathBuf) -> String {
    Certs::s(&path).to_string()
}

#[test]
fn tls_echo_echoes_to_openssl_s_client_and_exits_cleanly() {
    let c = certs();
    let port = free_port();
    let mut server = start("tls_echo", &[&port.to_string(), &p(c.cert()), &p(c.key())]);
    drop(connect(port)); // it listens (a bare connect it shrugs off)
    let out = openssl(
        &[
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-CAfile",
            &p(c.ca()),
            "-servername",
            "localhost",
        ],
        b"hello over tls\n",
    );
    assert!(out.contains("hello over tls"), "{out}");
    let printed = terminate(&mut server);
    assert!(printed.contains("new client 127.0.0.1:"), "{printed}");
    assert!(printed.contains("TLSv1_3"), "{printed}");
    assert!(printed.contains("SNI Some(\"localhost\")"), "{printed}");
    assert!(
        printed.contains("echoing 15 bytes: \"hello over tls\""),
        "{printed}"
    );
}

#[test]
fn tls_echo_quiet_honours_backpressure() {
    // A client that writes 8 MiB and reads only afterwards gets every
    // byte back: the server paused instead of queueing without bound.
    let c = certs();
    let port = free_port();
    let _server = start(
        "tls_echo",
        &[&port.to_string(), &p(c.cert()), &p(c.key()), "--quiet"],
    );
    drop(connect(port));
    // The client is hinge's own: it sends the first MiB before reading
    // at all, then the rest as `drain` allows.
    let data: Rc<Vec<u8>> = Rc::new((0..8u32 << 20).map(|i| (i % 251) as u8).collect());
    let lp = hinge::Loop::new().unwrap();
    let config = hinge::tls::client_config_with_ca(c.ca()).unwrap();
    let s = hinge::Socket::connect_tls_as(&lp, "127.0.0.1", port, "localhost", config).unwrap();
    s.pause();
    let sent = Rc::new(Cell::new(0usize));
    let pump = {
        let (data, sent) = (data.clone(), sent.clone());
        move |s: &hinge::Socket| {
            while sent.get() < data.len() {
                let end = (sent.get() + (64 << 10)).min(data.len());
                let more = s.send(&data[sent.get()..end]).unwrap();
                sent.set(end);
                if sent.get() >= 1 << 20 && s.is_paused() {
                    s.resume();
                }
                if !more {
                    return;
                }
            }
            s.resume();
        }
    };
    pump(&s);
    s.on_drain(move |_, s| pump(s));
    let got = Rc::new(RefCell::new(Vec::with_capacity(data.len())));
    let (g, d) = (got.clone(), data.clone());
    s.on_data(move |_, s, bytes| {
        g.borrow_mut().extend_from_slice(bytes);
        if g.borrow().len() >= d.len() {
            s.end();
        }
    });
    s.on_error(|_, _, e| panic!("{e}"));
    common::run_bounded(&lp, 60);
    assert_eq!(got.borrow().len(), data.len());
    assert!(*got.borrow() == *data);
}

#[test]
fn https_echo_keeps_http_echos_contract_over_tls() {
    let c = certs();
    let port = free_port();
    let mut server = start(
        "https_echo",
        &[&port.to_string(), &p(c.cert()), &p(c.key())],
    );
    drop(connect(port));
    let ca = p(c.ca());
    let url = |path: &str| format!("https://localhost:{port}{path}");
    let tls = ["--cacert", ca.as_str()];
    assert_eq!(curl(&[&tls[..], &[&url("/")]].concat()), b"Hello world!");
    assert_eq!(
        curl(&[&tls[..], &[&url("/hello")]].concat()),
        b"Hello world!"
    );
    let chunked = curl_verbose(&[&tls[..], &[&url("/chunked")]].concat());
    assert!(chunked.contains("transfer-encoding: chunked"), "{chunked}");
    assert!(
        chunked.contains("Hello chunk one!\nHello chunk two!\nHello world!\n"),
        "{chunked}"
    );
    // HTTP/1.1 over ALPN, and HEAD: the headers, no body.
    let head = curl_verbose(&[&tls[..], &["-I", &url("/hello")]].concat());
    assert!(head.contains("ALPN: server accepted http/1.1"), "{head}");
    assert!(head.contains("content-length: 12"), "{head}");
    assert!(!head.contains("Hello world!"), "{head}");
    let missing = curl(
        &[
            &tls[..],
            &["-o", "/dev/null", "-w", "%{http_code}", &url("/nope")],
        ]
        .concat(),
    );
    assert_eq!(missing, b"404");
    // POST /echo streams 3 MiB back, with a Content-Length and chunked.
    let body: Vec<u8> = (0..3u32 << 20).map(|i| (i % 253) as u8).collect();
    let file = c.dir.join("body.bin");
    std::fs::write(&file, &body).unwrap();
    let data = format!("@{}", file.display());
    for extra in [&[][..], &["-H", "Transfer-Encoding: chunked"][..]] {
        let echoed = curl(&[&tls[..], extra, &["--data-binary", &data, &url("/echo")]].concat());
        assert!(echoed == body, "echoed {} bytes", echoed.len());
    }
    let printed = terminate(&mut server);
    assert!(printed.contains("GET /hello"), "{printed}");
    assert!(printed.contains("POST /echo"), "{printed}");
}

fn tls_get(args: &[&str]) -> std::process::Output {
    Command::new(example("tls_get"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn tls_get_fetches_over_verified_tls_and_fails_with_one_line() {
    let c = certs();
    let port = free_port();
    let _server = start(
        "https_echo",
        &[&port.to_string(), &p(c.cert()), &p(c.key()), "--quiet"],
    );
    drop(connect(port));
    let port_s = port.to_string();
    let ca = p(c.ca());
    // By name, and by address with the name given.
    for args in [
        vec!["localhost", &port_s, "--cafile", &ca],
        vec![
            "127.0.0.1",
            &port_s,
            "--cafile",
            &ca,
            "--servername",
            "localhost",
        ],
    ] {
        let out = tls_get(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("connection: close"), "{text}");
        assert!(text.ends_with("\r\n\r\nHello world!"), "{text}");
    }
    let other = certs();
    let refused = common::closed_port().to_string();
    for (args, why) in [
        (
            vec!["localhost", &port_s],
            "invalid peer certificate: UnknownIssuer",
        ),
        (
            vec![
                "localhost",
                &port_s,
                "--cafile",
                &ca,
                "--servername",
                "wrong.example",
            ],
            "not valid for name",
        ),
        (
            vec!["localhost", &port_s, "--cafile", &p(other.ca())],
            "invalid peer certificate",
        ),
        (
            vec!["127.0.0.1", &refused, "--cafile", &ca],
            "connection refused",
        ),
    ] {
        let out = tls_get(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("tls_get: ") && err.contains(why),
            "{args:?}: {err}"
        );
    }
}
