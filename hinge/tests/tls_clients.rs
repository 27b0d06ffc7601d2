//! TLS against real peers: Python's `ssl`, `openssl s_client` (TLS 1.2
//! and 1.3, ALPN, SNI) and `openssl s_server`, with certificates made at
//! run time.
#![cfg(feature = "tls")]

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::local_server;
use common::tls::{certs, openssl, python, serve_while, Certs};
use hinge::tls;
use hinge::{Loop, Server};

/// A TLS echo server with `config`, recording each connection's
/// negotiated (version, ALPN, SNI, has a client certificate).
type Seen = Rc<RefCell<Vec<(String, Option<String>, Option<String>, bool)>>>;

fn echo(lp: &Loop, config: std::sync::Arc<tls::rustls::ServerConfig>) -> (Server, u16, Seen) {
    let (server, port) = local_server(lp);
    server.set_tls(config);
    let seen: Seen = Rc::default();
    let s2 = seen.clone();
    server.on_connection(move |_, _, s| {
        let s2 = s2.clone();
        s.on_secure(move |_, s| {
            let i = s.tls_info().unwrap();
            s2.borrow_mut().push((
                format!("{:?}", i.version.unwrap()),
                i.alpn.map(|a| String::from_utf8(a).unwrap()),
                i.server_name,
                !i.peer_certificates.is_empty(),
            ));
        });
        s.on_data(|_, s, d| {
            s.send(d).unwrap();
        });
        s.on_error(|_, _, _| {});
    });
    (server, port, seen)
}

/// Python's ssl client: connects (verifying against the CA for
/// `name`), sends `msg`, reads the echo, ends with close_notify; prints
/// the echo, the version, and whether the session was resumed.
const PY_CLIENT: &str = r#"
import socket, ssl, sys
port, ca, name, msg = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].encode()
cert = sys.argv[5] if len(sys.argv) > 5 else None
ctx = ssl.create_default_context(cafile=ca)
if cert:
    ctx.load_cert_chain(cert, sys.argv[6])
session = None
for attempt in range(2):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name, session=session) as s:
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            print(got.decode(), s.version(), s.session_reused)
            session = s.session
            s.unwrap()
"#;

#[test]
fn python_ssl_echoes_verifies_and_resumes_its_session() {
    let c = certs();
    let lp = Loop::new().unwrap();
    let (server, port, seen) = echo(&lp, tls::server_config(c.cert(), c.key()).unwrap());
    let args = [
        port.to_string(),
        path(&c.ca()),
        "localhost".into(),
        "ping".into(),
    ];
    let (ok, out, err) = serve_while(&lp, &server, move || {
        python(
            PY_CLIENT,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    });
    assert!(ok, "{out}\n{err}");
    // The second connection resumed the first's session (a ticket).
    assert_eq!(out, "ping TLSv1.3 False\nping TLSv1.3 True\n", "{err}");
    assert_eq!(seen.borrow().len(), 2);
    assert_eq!(seen.borrow()[0].2.as_deref(), Some("localhost"));
}

#[test]
fn sni_picks_the_certificate_by_name_and_refuses_an_unknown_one() {
    let c = certs();
    let lp = Loop::new().unwrap();
    let config = tls::sni_server_config(&[
        ("localhost", c.cert(), c.key()),
        ("other.test", c.other_cert(), c.other_key()),
    ])
    .unwrap();
    let (server, port, seen) = echo(&lp, config);
    let ca = path(&c.ca());
    let (a, b, unknown) = serve_while(&lp, &server, move || {
        let run = |name: &str| python(PY_CLIENT, &[&port.to_string(), &ca, name, "sni"]);
        (run("localhost"), run("other.test"), run("unknown.test"))
    });
    assert!(a.0 && b.0, "{a:?} {b:?}");
    assert!(!unknown.0, "{unknown:?}");
    let names: Vec<_> = seen.borrow().iter().map(|s| s.2.clone().unwrap()).collect();
    assert_eq!(
        names,
        ["localhost", "localhost", "other.test", "other.test"]
    );
}

#[test]
fn mutual_tls_requires_a_client_certificate_from_the_ca() {
    let c = certs();
    let lp = Loop::new().unwrap();
    let config = tls::server_config_mtls(c.cert(), c.key(), c.ca()).unwrap();
    let (server, port, seen) = echo(&lp, config);
    let (ca, cert, key) = (path(&c.ca()), path(&c.client_cert()), path(&c.client_key()));
    let (without, with) = serve_while(&lp, &server, move || {
        let p = port.to_string();
        let without = python(PY_CLIENT, &[&p, &ca, "localhost", "mtls"]);
        let with = python(PY_CLIENT, &[&p, &ca, "localhost", "mtls", &cert, &key]);
        (without, with)
    });
    assert!(
        !without.0,
        "a client without a certificate got in: {without:?}"
    );
    assert!(with.0, "{with:?}");
    assert!(seen.borrow().iter().all(|s| s.3), "{:?}", seen.borrow());
    assert_eq!(seen.borrow().len(), 2);
}

#[test]
fn openssl_s_client_speaks_tls_1_2_and_1_3_with_alpn() {
    let c = certs();
    let lp = Loop::new().unwrap();
    let server = hinge::http::Server::new(&lp);
    server.set_tls(tls::server_config(c.cert(), c.key()).unwrap());
    server.on_request(|_, _, _, res| {
        res.end("Hello over TLS!").unwrap();
    });
    server.listen_on("127.0.0.1", 0).unwrap();
    let port = server.local_addr().unwrap().port();
    let ca = path(&c.ca());
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let outputs = serve_while(&lp, server.transport(), move || {
        let connect = format!("127.0.0.1:{port}");
        let run = |extra: &[&str]| {
            let mut args = vec!["s_client", "-connect", &connect, "-CAfile", &ca, "-ign_eof"];
            args.extend_from_slice(extra);
            openssl(&args, request)
        };
        [
            run(&["-tls1_3", "-servername", "localhost", "-alpn", "http/1.1"]),
            run(&["-tls1_2", "-servername", "localhost", "-alpn", "http/1.1"]),
            // A name the certificate does not cover: a single-certificate
            // server answers anyway, and s_client reports the mismatch.
            run(&[
                "-tls1_3",
                "-servername",
                "wrong.example",
                "-verify_hostname",
                "wrong.example",
            ]),
        ]
    });
    let [v13, v12, wrong] = outputs;
    for (out, version) in [(&v13, "TLSv1.3"), (&v12, "TLSv1.2")] {
        assert!(
            out.contains(&format!("Protocol  : {version}"))
                || out.contains(&format!("New, {version}")),
            "{out}"
        );
        assert!(out.contains("ALPN protocol: http/1.1"), "{out}");
        assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
        assert!(out.contains("Hello over TLS!"), "{out}");
    }
    assert!(wrong.contains("Verify return code: 62"), "{wrong}");
}

#[test]
fn the_hinge_client_talks_to_openssl_s_server() {
    let c = certs();
    let port = common::closed_port();
    let mut s_server = std::process::Command::new("openssl")
        .args(["s_server", "-accept", &port.to_string(), "-www"])
        .args(["-cert", &path(&c.cert()), "-key", &path(&c.key())])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl is installed");
    // Until s_server listens (a bare connect it shrugs off).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "s_server never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let lp = Loop::new().unwrap();
    let config = tls::client_config_with_ca(c.ca()).unwrap();
    let s = hinge::Socket::connect_tls_as(&lp, "127.0.0.1", port, "localhost", config).unwrap();
    s.send("GET / HTTP/1.0\r\n\r\n").unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    s.on_data(move |_, _, d| g.borrow_mut().extend_from_slice(d));
    // s_server -www closes without close_notify: a truncation, reported.
    let errors = Rc::new(RefCell::new(Vec::new()));
    let e = errors.clone();
    s.on_error(move |_, _, err| e.borrow_mut().push(err.to_string()));
    common::run_bounded(&lp, 30);
    let _ = s_server.kill();
    let _ = s_server.wait();
    let text = String::from_utf8_lossy(&got.borrow()).into_owned();
    assert!(text.starts_with("HTTP/1.0 200 ok"), "{text}");
    assert!(text.contains("TLSv1.3"), "{text}");
    assert!(errors.borrow().len() <= 1, "{:?}", errors.borrow());
}

fn path(p: &std::path::Path) -> String {
    Certs::s(p).to_string()
}
