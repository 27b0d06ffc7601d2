//! TLS (feature `tls`): hinge's client and server on one loop, over real
//! sockets on 127.0.0.1, with certificates made at run time. The real
//! outside clients (curl, openssl, Python) are in `tls_clients.rs`, and
//! hostile peers in `tls_hostile.rs`.
#![cfg(feature = "tls")]

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::tls::certs;
use common::{local_server, run_bounded, Hits};
use hinge::tls::{self, rustls};
use hinge::{Error, Loop, Server, Socket};

/// A TLS echo server on an ephemeral port, and the errors its sockets saw.
fn echo_server(lp: &Loop, c: &common::tls::Certs) -> (Server, u16, Rc<RefCell<Vec<String>>>) {
    let (server, port) = local_server(lp);
    server.set_tls(tls::server_config(c.cert(), c.key()).unwrap());
    let errors = Rc::new(RefCell::new(Vec::new()));
    let errs = errors.clone();
    server.on_connection(move |_, _, s| {
        s.on_data(|_, s, d| {
            if !s.send(d).unwrap() {
                s.pause();
            }
        });
        s.on_drain(|_, s| s.resume());
        let errs = errs.clone();
        s.on_error(move |_, _, e| errs.borrow_mut().push(e.to_string()));
    });
    (server, port, errors)
}

fn client(lp: &Loop, c: &common::tls::Certs, port: u16) -> Socket {
    let config = tls::client_config_with_ca(c.ca()).unwrap();
    Socket::connect_tls_as(lp, "127.0.0.1", port, "localhost", config).unwrap()
}

#[test]
fn a_hinge_client_and_server_echo_and_end_with_close_notify() {
    let c = certs();
    let lp = Loop::new().unwrap();
    let (server, port, errors) = echo_server(&lp, &c);
    let server_info = Rc::new(RefCell::new(None));
    let si = server_info.clone();
    server.on_connection(move |_, _, s| {
        let si = si.clone();
        s.on_secure(move |_, s| *si.borrow_mut() = s.tls_info());
    });
    let s = client(&lp, &c, port);
    // Sent before the handshake: waits for it, then goes encrypted.
    assert!(s.send("hello ").unwrap());
    s.send("over tls").unwrap();
    assert!(!s.is_secure());
    let got = Rc::new(RefCell::new(Vec::new()));
    let (g, secure, ended) = (got.clone(), Hits::default(), Hits::default());
    let sec = secure.clone();
    s.on_secure(move |_, s| {
        sec.hit();
        assert!(s.is_secure());
        let info = s.tls_info().unwrap();
        assert_eq!(info.version, Some(rustls::ProtocolVersion::TLSv1_3));
        assert!(!info.peer_certificates.is_empty());
    });
    s.on_data(move |_, s, d| {
        g.borrow_mut().extend_from_slice(d);
        if g.borrow().len() == 14 {
            s.end(); // close_notify, then FIN
        }
    });
    let e = ended.clone();
    s.on_end(move |_, _| e.hit()); // the server's own close_notify
    s.on_error(|_, _, e| panic!("client error: {e}"));
    let srv = server.clone();
    s.on_close(move |_, _, had_error| {
        assert!(!had_error);
        srv.close();
    });
    run_bounded(&lp, 20);
    assert_eq!(&*got.borrow(), b"hello over tls");
    assert_eq!((secure.get(), ended.get()), (1, 1));
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
    let info = server_info.borrow().clone().unwrap();
    assert_eq!(info.server_name.as_deref(), Some("localhost"));
    assert!(info.peer_certificates.is_empty());
    assert!(info.cipher_suite.is_some());
}

#[test]
fn a_certificate_for_another_name_or_from_another_ca_fails_the_handshake() {
    let c = certs();
    let other = certs(); // another CA
    let lp = Loop::new().unwrap();
    let (server, port, _) = echo_server(&lp, &c);
    let errors = Rc::new(RefCell::new(Vec::new()));
    let cases = [
        ("wrong.example", tls::client_config_with_ca(c.ca()).unwrap()),
        ("localhost", tls::client_config_with_ca(other.ca()).unwrap()),
        ("localhost", tls::client_config()), // the webpki roots
    ];
    let n = cases.len();
    for (name, config) in cases {
        let s = Socket::connect_tls_as(&lp, "127.0.0.1", port, name, config).unwrap();
        s.send("never sent in the clear").unwrap();
        s.on_secure(|_, _| panic!("secure with a bad certificate"));
        s.on_data(|_, _, _| panic!("data with a bad certificate"));
        let (errs, srv) = (errors.clone(), server.clone());
        s.on_error(move |_, _, e| {
            errs.borrow_mut().push(e.to_string());
            if errs.borrow().len() == n {
                srv.close();
            }
        });
    }
    run_bounded(&lp, 20);
    let errors = errors.borrow();
    assert_eq!(errors.len(), n, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|e| e.contains("TLS: invalid peer certificate")),
        "{errors:?}"
    );
}

#[test]
fn connect_tls_refused_and_bad_names_are_typed_errors() {
    let lp = Loop::new().unwrap();
    let port = common::closed_port();
    let s = Socket::connect_tls(&lp, "127.0.0.1", port, tls::client_config()).unwrap();
    let seen = Rc::new(RefCell::new(None));
    let got = seen.clone();
    s.on_error(move |_, _, e| {
        *got.borrow_mut() = Some(matches!(e, Error::ConnectionRefused { .. }))
    });
    run_bounded(&lp, 10);
    assert_eq!(*seen.borrow(), Some(true));
    let bad = Socket::connect_tls_as(&lp, "127.0.0.1", port, "not a name!", tls::client_config());
    assert!(matches!(bad, Err(Error::InvalidAddress { .. })), "{bad:?}");
}

#[test]
fn a_server_socket_sees_a_truncation_as_an_error_and_a_close_notify_as_end() {
    let c = certs();
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    server.set_tls(tls::server_config(c.cert(), c.key()).unwrap());
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s2 = seen.clone();
    server.on_connection(move |_, _, s| {
        let (a, b) = (s2.clone(), s2.clone());
        s.on_end(move |_, _| a.borrow_mut().push("end".to_string()));
        s.on_error(move |_, _, e| {
            let kind = if matches!(e, Error::Truncated { .. }) {
                "truncated"
            } else {
                "other"
            };
            b.borrow_mut().push(kind.to_string());
        });
    });
    // One client ends cleanly; one drops its TCP connection after the
    // handshake without close_notify.
    for clean in [true, false] {
        let s = client(&lp, &c, port);
        s.on_secure(move |_, s| {
            if clean {
                s.end();
            } else {
                s.destroy();
            }
        });
    }
    let (srv, s3) = (server.clone(), seen.clone());
    let _t = lp.set_interval(Duration::from_millis(5), move |_, t| {
        if s3.borrow().len() == 2 {
            t.clear();
            srv.close();
        }
    });
    run_bounded(&lp, 20);
    let mut seen = seen.borrow().clone();
    seen.sort();
    assert_eq!(seen, ["end", "truncated"]);
}

#[test]
fn send_counts_encrypted_bytes_against_the_high_water_mark_and_drain_follows_the_kernel() {
    let c = certs();
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    server.set_tls(tls::server_config(c.cert(), c.key()).unwrap());
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    let l = log.clone();
    server.on_connection(move |_, _, s| {
        let l = l.clone();
        s.on_secure(move |_, s| {
            // The client does not read yet: a 4 MiB burst must stop at
            // the mark, with everything still owed queued.
            let chunk = vec![7u8; 64 * 1024];
            let mut sent = 0;
            while s.send(&chunk).unwrap() {
                sent += chunk.len();
                assert!(sent < 64 << 20, "send never said stop");
            }
            sent += chunk.len();
            assert!(s.pending_bytes() >= hinge::DEFAULT_HIGH_WATER);
            l.borrow_mut().push(format!("sent {sent}"));
            let l2 = l.clone();
            s.on_drain(move |_, s| {
                assert_eq!(s.pending_bytes(), 0);
                l2.borrow_mut().push("drain".into());
                s.end();
            });
        });
    });
    let s = client(&lp, &c, port);
    s.pause();
    let total = Rc::new(std::cell::Cell::new(0usize));
    let t = total.clone();
    s.on_data(move |_, _, d| t.set(t.get() + d.len()));
    let sock = s.clone();
    lp.set_timeout(Duration::from_millis(300), move |_| sock.resume());
    let srv = server.clone();
    s.on_end(move |_, _| srv.close());
    run_bounded(&lp, 30);
    let log = log.borrow();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[1], "drain");
    let sent: usize = log[0].trim_start_matches("sent ").parse().unwrap();
    assert_eq!(total.get(), sent, "every plaintext byte arrived");
}

#[test]
fn a_handshake_that_stalls_times_out_and_costs_only_a_timer() {
    let c = certs();
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    server.set_tls(tls::server_config(c.cert(), c.key()).unwrap());
    let errors = Rc::new(RefCell::new(Vec::new()));
    let errs = errors.clone();
    server.on_connection(move |_, _, s| {
        s.set_handshake_timeout(Duration::from_millis(200));
        let errs = errs.clone();
        s.on_error(move |_, _, e| {
            let timed_out = matches!(
                e,
                Error::TimedOut {
                    op: "handshake",
                    ..
                }
            );
            errs.borrow_mut().push(timed_out);
        });
    });
    // Half a ClientHello, then silence.
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(&mut raw, &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).unwrap();
    let (srv, e2) = (server.clone(), errors.clone());
    let _t = lp.set_interval(Duration::from_millis(10), move |_, t| {
        if !e2.borrow().is_empty() {
            t.clear();
            srv.close();
        }
    });
    run_bounded(&lp, 20);
    assert_eq!(*errors.borrow(), [true]);
    assert_eq!(server.connections(), 0);
    let mut buf = [0u8; 64];
    // The server closed it (an alert may come first).
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    loop {
        match std::io::Read::read(&mut raw, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

#[test]
fn tls_sockets_work_from_async_tasks_both_ways() {
    use futures_util::{AsyncReadExt, AsyncWriteExt};
    let c = certs();
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    server.set_tls(tls::server_config(c.cert(), c.key()).unwrap());
    let mut incoming = server.incoming();
    let served = lp.spawn_local(async move {
        let mut s = incoming.accept().await.expect("a connection");
        let mut buf = vec![0u8; 100_000];
        s.read_exact(&mut buf).await.unwrap();
        assert!(buf.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
        s.write_all(b"got it all").await.unwrap();
        AsyncWriteExt::close(&mut s).await.unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        rest.len()
    });
    let config = tls::client_config_with_ca(c.ca()).unwrap();
    let asked = lp.spawn_local({
        let lp = lp.handle();
        async move {
            let mut s = Socket::connect_tls_as(&lp, "127.0.0.1", port, "localhost", config)
                .unwrap()
                .connected()
                .await
                .unwrap();
            let data: Vec<u8> = (0..100_000).map(|i| (i % 251) as u8).collect();
            s.write_all(&data).await.unwrap();
            let mut reply = String::new();
            s.read_to_string(&mut reply).await.unwrap();
            AsyncWriteExt::close(&mut s).await.unwrap();
            reply
        }
    });
    let both = lp
        .block_on(async move { (asked.await, served.await) })
        .unwrap();
    assert_eq!(both, ("got it all".to_string(), 0));
    server.close();
}

#[test]
fn a_server_keeps_serving_after_garbage_plaintext_and_an_old_client() {
    let c = certs();
    let lp = Loop::new().unwrap();
    let (server, port, errors) = echo_server(&lp, &c);
    let hostile: Vec<Vec<u8>> = vec![
        b"\x00\x01garbage that is not a ClientHello at all\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        tls10_client_hello(),
        huge_hello(),
    ];
    let n = hostile.len();
    let done = std::thread::spawn(move || {
        let mut answers = Vec::new();
        for bytes in hostile {
            let mut raw = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            std::io::Write::write_all(&mut raw, &bytes).unwrap();
            let mut got = Vec::new();
            let _ = std::io::Read::read_to_end(&mut raw, &mut got);
            answers.push(got);
        }
        answers
    });
    // A good client, after the hostile ones are done.
    let s = client(&lp, &c, port);
    let got = Rc::new(RefCell::new(Vec::new()));
    let (g, srv, errs) = (got.clone(), server.clone(), errors.clone());
    let thread = Rc::new(RefCell::new(Some(done)));
    let answers = Rc::new(RefCell::new(None));
    let (th, ans) = (thread.clone(), answers.clone());
    let sock = s.clone();
    let _t = lp.set_interval(Duration::from_millis(5), move |_, t| {
        if th.borrow().as_ref().is_some_and(|h| h.is_finished()) {
            *ans.borrow_mut() = Some(th.borrow_mut().take().unwrap().join().unwrap());
            sock.send("still serving").unwrap();
        }
        if errs.borrow().len() == n && g.borrow().len() == 13 {
            t.clear();
            srv.close();
            srv.destroy_connections();
        }
    });
    let g = got.clone();
    s.on_data(move |_, _, d| g.borrow_mut().extend_from_slice(d));
    run_bounded(&lp, 30);
    assert_eq!(&*got.borrow(), b"still serving");
    let errors = errors.borrow();
    assert_eq!(errors.len(), n, "one error per hostile client: {errors:?}");
    assert!(errors.iter().all(|e| e.contains("TLS")), "{errors:?}");
    // Each hostile client got at most a TLS alert (content type 21), then EOF.
    for a in answers.borrow().as_ref().unwrap() {
        assert!(a.is_empty() || a[0] == 21, "{a:?}");
    }
}

/// Records of a ClientHello that claims 16 MiB: more than any buffer
/// should take.
fn huge_hello() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..6 {
        out.extend([0x16, 0x03, 0x01, 0x40, 0x00]); // a full 16 KiB record
        let mut body = vec![0u8; 0x4000];
        if i == 0 {
            body[..4].copy_from_slice(&[0x01, 0xff, 0xff, 0xff]);
        }
        out.extend(body);
    }
    out
}

/// A ClientHello that offers TLS 1.0 only (no supported_versions).
fn tls10_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x01]; // client_version TLS 1.0
    body.extend([0x42; 32]); // random
    body.push(0); // no session id
    body.extend([0x00, 0x02, 0x00, 0x2f]); // TLS_RSA_WITH_AES_128_CBC_SHA
    body.extend([0x01, 0x00]); // null compression
    let mut hs = vec![0x01, 0x00, 0x00, body.len() as u8];
    hs.extend(body);
    let mut rec = vec![0x16, 0x03, 0x01, 0x00, hs.len() as u8];
    rec.extend(hs);
    rec
}

#[test]
fn handshakes_opened_and_dropped_leave_nothing_behind() {
    let c = certs();
    let lp = Loop::new().unwrap();
    let (server, port, errors) = echo_server(&lp, &c);
    let n = common::tls::churn();
    let hello = client_hello(&c);
    let done = std::thread::spawn(move || {
        for i in 0..n {
            let mut raw = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            // Every other one sends its whole ClientHello, the rest half.
            let part = if i % 2 == 0 {
                &hello[..]
            } else {
                &hello[..hello.len() / 2]
            };
            let _ = std::io::Write::write_all(&mut raw, part);
        }
    });
    let fds_before = common::open_fds();
    let s = client(&lp, &c, port);
    let thread = Rc::new(RefCell::new(Some(done)));
    let (th, srv, sock) = (thread.clone(), server.clone(), s.clone());
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let _t = lp.set_interval(Duration::from_millis(10), move |_, t| {
        if th.borrow().as_ref().is_some_and(|h| h.is_finished()) {
            th.borrow_mut().take().unwrap().join().unwrap();
            sock.send("after the churn").unwrap();
        }
        if th.borrow().is_none() && g.borrow().len() == 15 && srv.connections() == 1 {
            t.clear();
            srv.close();
            srv.destroy_connections();
        }
    });
    let g = got.clone();
    s.on_data(move |_, _, d| g.borrow_mut().extend_from_slice(d));
    run_bounded(&lp, 300);
    assert_eq!(&*got.borrow(), b"after the churn");
    assert!(common::open_fds() <= fds_before + 2);
    // The dropped handshakes are reported (each once), not silent.
    assert!(!errors.borrow().is_empty());
    assert!(errors.borrow().len() <= n);
}

/// The first flight of a real rustls client.
fn client_hello(c: &common::tls::Certs) -> Vec<u8> {
    let config = tls::client_config_with_ca(c.ca()).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut out = Vec::new();
    conn.write_tls(&mut out).unwrap();
    out
}

#[test]
fn a_socket_takes_one_layer_and_none_once_closed() {
    let lp = Loop::new().unwrap();
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let s = Socket::from_unix_stream(&lp, a).unwrap();
    let session = || tls::Session::client(tls::client_config(), "localhost", "peer").unwrap();
    s.set_layer(session()).unwrap();
    assert!(matches!(s.set_layer(session()), Err(Error::AlreadyLayered)));
    assert!(s.tls_info().is_some());
    let (c, _d) = std::os::unix::net::UnixStream::pair().unwrap();
    let closed = Socket::from_unix_stream(&lp, c).unwrap();
    closed.destroy();
    assert!(matches!(
        closed.set_layer(session()),
        Err(Error::Closed { .. })
    ));
    assert!(closed.tls_info().is_none());
}

#[test]
fn a_bare_tcp_probe_is_no_tls_error_but_half_a_hello_is() {
    let c = certs();
    let lp = Loop::new().unwrap();
    let (server, port, errors) = echo_server(&lp, &c);
    let closes = Hits::default();
    let cl = closes.clone();
    server.on_connection(move |_, _, s| {
        let cl = cl.clone();
        s.on_close(move |_, _, _| cl.hit());
    });
    let thread = std::thread::spawn(move || {
        drop(std::net::TcpStream::connect(("127.0.0.1", port)).unwrap());
        let mut half = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        std::io::Write::write_all(&mut half, &[0x16, 0x03, 0x01, 0x00, 0x40, 0x01]).unwrap();
    });
    let (srv, cl) = (server.clone(), closes.clone());
    let _t = lp.set_interval(Duration::from_millis(5), move |_, t| {
        if cl.get() == 2 {
            t.clear();
            srv.close();
        }
    });
    run_bounded(&lp, 20);
    thread.join().unwrap();
    let errors = errors.borrow();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("during the handshake"), "{errors:?}");
}
