//! Adversarial tests of the transport seam (`hinge::Layer`) and of TLS
//! on it, from safe code: layers that lie or fail, listeners that close,
//! panic or pause at the worst moment, loops dropped mid-handshake, and
//! servers closing on clients that never finish theirs.
#![cfg(feature = "tls")]

mod common;

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::tls::{certs, Certs};
use common::{local_server, run_bounded, DropCounter, Hits};
use hinge::tls;
use hinge::{Decoded, Layer, Loop, Server, Socket};

fn tls_client(lp: &Loop, c: &Certs, port: u16) -> Socket {
    let config = tls::client_config_with_ca(c.ca()).unwrap();
    Socket::connect_tls_as(lp, "127.0.0.1", port, "localhost", config).unwrap()
}

fn tls_server(lp: &Loop, c: &Certs) -> (Server, u16) {
    let (server, port) = local_server(lp);
    server.set_tls(tls::server_config(c.cert(), c.key()).unwrap());
    (server, port)
}

/// Stops the loop once `done` holds (checked every 5 ms).
fn until(lp: &Loop, done: impl Fn() -> bool + 'static) -> hinge::TimerHandle {
    lp.set_interval(Duration::from_millis(5), move |lp, _| {
        if done() {
            lp.break_all();
        }
    })
}

/// Reads from `raw` until EOF or `secs`; whether EOF came, and the bytes.
fn read_to_eof(raw: &mut TcpStream, secs: u64) -> (bool, Vec<u8>) {
    raw.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match raw.read(&mut buf) {
            Ok(0) => return (true, all),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return (true, all),
            Err(_) => {}
        }
    }
    (false, all)
}

// ---------------------------------------------------------------------
// Layers that lie
// ---------------------------------------------------------------------

/// A layer with no transformation whose `read` claims `extra` bytes more
/// than it copied (a bug in a user's layer).
struct Overclaim {
    inbound: Vec<u8>,
    extra: usize,
}

impl Layer for Overclaim {
    fn receive(&mut self, wire: &[u8]) -> hinge::Result<()> {
        self.inbound.extend_from_slice(wire);
        Ok(())
    }
    fn read(&mut self, buf: &mut [u8]) -> hinge::Result<Decoded> {
        if self.inbound.is_empty() {
            return Ok(Decoded::Empty);
        }
        let n = buf.len().min(self.inbound.len());
        buf[..n].copy_from_slice(&self.inbound[..n]);
        self.inbound.drain(..n);
        Ok(Decoded::Bytes(buf.len() + self.extra))
    }
    fn write(&mut self, _: &[u8]) -> hinge::Result<()> {
        Ok(())
    }
    fn output(&mut self, _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
}

/// A layer that says it decoded more bytes than the buffer holds is
/// broken: the socket fails with a typed error instead of handing `data`
/// a silently clamped slice.
#[test]
fn a_layer_claiming_more_bytes_than_the_buffer_holds_fails_the_socket() {
    let lp = Loop::new().unwrap();
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let s = Socket::from_unix_stream(&lp, a).unwrap();
    s.set_layer(Overclaim {
        inbound: Vec::new(),
        extra: 1,
    })
    .unwrap();
    b.write_all(b"hello").unwrap();
    let (data, errors) = (Hits::default(), Rc::new(RefCell::new(Vec::new())));
    let d = data.clone();
    s.on_data(move |_, _, _| d.hit());
    let errs = errors.clone();
    s.on_error(move |_, _, e| errs.borrow_mut().push(e.to_string()));
    run_bounded(&lp, 10);
    assert!(s.is_closed());
    assert_eq!(
        data.get(),
        0,
        "data from a layer that lied about its length"
    );
    assert_eq!(errors.borrow().len(), 1, "{:?}", errors.borrow());
}

/// The same layer under `AsyncRead`: a read that returned more than the
/// buffer's length would make `read_exact` (or tokio's `ReadBuf`) panic.
#[test]
fn a_layer_claiming_more_bytes_than_the_buffer_holds_is_an_async_read_error() {
    use futures_util::AsyncReadExt;
    let lp = Loop::new().unwrap();
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut s = Socket::from_unix_stream(&lp, a).unwrap();
    s.set_layer(Overclaim {
        inbound: Vec::new(),
        extra: 7,
    })
    .unwrap();
    b.write_all(b"hello").unwrap();
    let r = common::task::within_loop(&lp, async move {
        let mut buf = [0u8; 5];
        let r = s.read_exact(&mut buf).await;
        (r.is_err(), s.is_closed())
    });
    assert_eq!(r, (true, true));
}

/// A layer that needs no answer from the peer: it writes a preamble (as
/// a PROXY-protocol header does) and is ready once that is out.
struct Preamble {
    said: bool,
    outbound: Vec<u8>,
}

impl Layer for Preamble {
    fn receive(&mut self, _: &[u8]) -> hinge::Result<()> {
        Ok(())
    }
    fn read(&mut self, _: &mut [u8]) -> hinge::Result<Decoded> {
        Ok(Decoded::Empty)
    }
    fn write(&mut self, data: &[u8]) -> hinge::Result<()> {
        self.outbound.extend_from_slice(data);
        Ok(())
    }
    fn output(&mut self, wire: &mut dyn Write) -> io::Result<()> {
        if !self.said {
            wire.write_all(b"PREAMBLE\n")?;
            self.said = true;
        }
        wire.write_all(&self.outbound)?;
        self.outbound.clear();
        Ok(())
    }
    fn is_ready(&self) -> bool {
        self.said
    }
}

/// A layer that becomes ready by writing (not by reading the peer): the
/// sends that waited for it go out, and `secure` comes, without the peer
/// having to say anything first.
#[test]
fn a_layer_ready_after_its_own_output_releases_the_waiting_sends() {
    let lp = Loop::new().unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = vec![0u8; b"PREAMBLE\nearly".len()];
        let r = c.read_exact(&mut got);
        (r.is_ok(), got)
    });
    let s = Socket::connect(&lp, "127.0.0.1", port).unwrap();
    s.set_layer(Preamble {
        said: false,
        outbound: Vec::new(),
    })
    .unwrap();
    s.send("early").unwrap();
    let secure = Hits::default();
    let sec = secure.clone();
    s.on_secure(move |_, _| sec.hit());
    let (p, sock) = (Rc::new(RefCell::new(Some(peer))), s.clone());
    let p2 = p.clone();
    let _t = until(&lp, move || {
        p2.borrow().as_ref().is_none_or(|h| h.is_finished())
    });
    run_bounded(&lp, 10);
    sock.destroy();
    let (ok, got) = p.borrow_mut().take().unwrap().join().unwrap();
    assert!(ok, "the peer got only {:?}", String::from_utf8_lossy(&got));
    assert_eq!(&got, b"PREAMBLE\nearly");
    assert_eq!(secure.get(), 1);
}

// ---------------------------------------------------------------------
// Closing during the handshake
// ---------------------------------------------------------------------

/// `close()` on a socket whose peer never finishes its handshake, with
/// nothing waiting to be sent: closes now, cleanly, without waiting for
/// the handshake timeout and then reporting it as an error.
#[test]
fn close_during_a_stalled_handshake_closes_at_once() {
    let c = certs();
    let lp = Loop::new().unwrap();
    let (server, port) = tls_server(&lp, &c);
    let errors = Rc::new(RefCell::new(Vec::new()));
    let closed = Rc::new(RefCell::new(Vec::new()));
    let (errs, cl) = (errors.clone(), closed.clone());
    server.on_connection(move |_, _, s| {
        s.set_handshake_timeout(Duration::from_secs(60));
        let errs = errs.clone();
        s.on_error(move |_, _, e| errs.borrow_mut().push(e.to_string()));
        let cl = cl.clone();
        s.on_close(move |_, _, had_error| cl.borrow_mut().push(*had_error));
        s.close();
    });
    let mut raw = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let c2 = closed.clone();
    let _t = until(&lp, move || !c2.borrow().is_empty());
    run_bounded(&lp, 10);
    assert_eq!(*closed.borrow(), [false]);
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
    assert!(read_to_eof(&mut raw, 5).0, "the peer saw no end");
    server.close();
}

/// `Server::close_connections` with a client stuck in its handshake: the
/// server closes (and emits `close`) without waiting for the peer.
#[test]
fn close_connections_does_not_wait_for_stalled_handshakes() {
    let c = certs();
    let lp = Loop::new().unwrap();
    let (server, port) = tls_server(&lp, &c);
    server.on_connection(|_, _, s| s.set_handshake_timeout(Duration::from_secs(60)));
    let errors = Rc::new(RefCell::new(Vec::new()));
    let errs = errors.clone();
    server.on_connection(move |_, _, s| {
        let errs = errs.clone();
        s.on_error(move |_, _, e| errs.borrow_mut().push(e.to_string()));
    });
    // One peer that completes a handshake and one that never starts.
    let good = tls_client(&lp, &c, port);
    let mut raw = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let ended = Hits::default();
    let e2 = ended.clone();
    good.on_end(move |_, _| e2.hit()); // the server's close_notify
    let srv = server.clone();
    let server_closed = Hits::default();
    let sc = server_closed.clone();
    server.on_close(move |_, _| sc.hit());
    let started = Rc::new(std::cell::Cell::new(false));
    let (st, g) = (started.clone(), good.clone());
    let sc = server_closed.clone();
    let _t = lp.set_interval(Duration::from_millis(5), move |lp, _| {
        if !st.get() && srv.connections() == 2 && g.is_secure() {
            st.set(true);
            srv.close();
            srv.close_connections();
        }
        if sc.get() == 1 {
            lp.break_all();
        }
    });
    run_bounded(&lp, 10);
    assert_eq!(server_closed.get(), 1);
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
    assert!(read_to_eof(&mut raw, 5).0);
}

/// The last handle of a task's TLS socket dropped mid-handshake: the
/// socket closes without waiting for the handshake (and without an
/// unhandled timeout error later).
#[test]
fn dropping_a_tasks_tls_socket_mid_handshake_closes_it_now() {
    use futures_util::AsyncWriteExt;
    let lp = Loop::new().unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let c = certs();
    let config = tls::client_config_with_ca(c.ca()).unwrap();
    let h = lp.handle();
    let closed = Rc::new(RefCell::new(Vec::new()));
    let cl = closed.clone();
    common::task::within_loop(&lp, async move {
        let s = Socket::connect_tls_as(&h, "127.0.0.1", port, "localhost", config).unwrap();
        s.set_handshake_timeout(Duration::from_secs(60));
        s.on_close(move |_, _, e| cl.borrow_mut().push(*e));
        let mut s = s.connected().await.unwrap();
        s.flush().await.unwrap();
        drop(s);
    });
    let (mut peer, _) = l.accept().unwrap();
    let c2 = closed.clone();
    let _t = until(&lp, move || !c2.borrow().is_empty());
    run_bounded(&lp, 10);
    assert_eq!(*closed.borrow(), [false]);
    assert!(read_to_eof(&mut peer, 5).0);
}

// ---------------------------------------------------------------------
// Listeners that panic or close at the worst moment
// ---------------------------------------------------------------------

/// A `secure` listener panics: `run` re-raises it, and afterwards the
/// sends that waited for the handshake still go out (the socket is not
/// left with them stuck, holding back every later send and `close`).
#[test]
fn a_panic_in_a_secure_listener_leaves_the_waiting_sends_flowing() {
    let c = certs();
    let lp = Loop::new().unwrap();
    let (server, port) = tls_server(&lp, &c);
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    server.on_connection(move |_, _, s| {
        let g = g.clone();
        s.on_data(move |_, _, d| g.borrow_mut().extend_from_slice(d));
    });
    let s = tls_client(&lp, &c, port);
    s.send("waited ").unwrap();
    s.send("for it").unwrap();
    s.on_secure(|_, _| panic!("boom in secure"));
    let err = catch_unwind(AssertUnwindSafe(|| run_bounded(&lp, 10)))
        .expect_err("run re-raises the panic");
    assert_eq!(err.downcast_ref::<&str>(), Some(&"boom in secure"));
    assert!(s.is_secure());
    s.send(" and after").unwrap();
    s.close();
    let g2 = got.clone();
    let _t = until(&lp, move || g2.borrow().len() >= 23);
    run_bounded(&lp, 10);
    assert_eq!(
        String::from_utf8_lossy(&got.borrow()),
        "waited for it and after"
    );
    server.close();
}

/// A layer factory that panics: `run` re-raises it, and the accepted
/// connection it was making is not left open, unowned and unlisted.
#[test]
fn a_panicking_layer_factory_leaves_no_orphan_connection() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let calls = Hits::default();
    let cl = calls.clone();
    server.set_layer(move |_| -> hinge::Result<Overclaim> {
        cl.hit();
        panic!("boom in the factory")
    });
    let mut raw = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let err = catch_unwind(AssertUnwindSafe(|| run_bounded(&lp, 10)))
        .expect_err("run re-raises the panic");
    assert_eq!(err.downcast_ref::<&str>(), Some(&"boom in the factory"));
    assert_eq!(calls.get(), 1);
    assert_eq!(server.connections(), 0);
    server.close();
    // The loop has nothing left to do: no orphan keeps it alive...
    run_bounded(&lp, 5);
    // ...and the peer was hung up on.
    assert!(read_to_eof(&mut raw, 5).0, "the connection was left open");
}

/// Each `send_then` made during the handshake has its callback run once,
/// with an error, when a `secure` listener destroys the socket.
#[test]
fn send_then_callbacks_run_once_when_secure_destroys_the_socket() {
    let c = certs();
    let lp = Loop::new().unwrap();
    let (server, port) = tls_server(&lp, &c);
    let s = tls_client(&lp, &c, port);
    let results = Rc::new(RefCell::new(Vec::new()));
    for i in 0..3 {
        let r = results.clone();
        s.send_then(format!("chunk {i}"), move |_, _, res| {
            r.borrow_mut().push((i, res.is_ok()))
        })
        .unwrap();
    }
    s.on_secure(|_, s| s.destroy());
    let srv = server.clone();
    s.on_close(move |_, _, _| srv.close());
    run_bounded(&lp, 10);
    server.destroy_connections();
    run_bounded(&lp, 5);
    assert_eq!(*results.borrow(), [(0, false), (1, false), (2, false)]);
}

// ---------------------------------------------------------------------
// Loop teardown
// ---------------------------------------------------------------------

/// A layer that counts its drop.
struct Counted(#[allow(dead_code)] common::Token, Overclaim);

impl Layer for Counted {
    fn receive(&mut self, wire: &[u8]) -> hinge::Result<()> {
        self.1.receive(wire)
    }
    fn read(&mut self, buf: &mut [u8]) -> hinge::Result<Decoded> {
        self.1.read(buf)
    }
    fn write(&mut self, d: &[u8]) -> hinge::Result<()> {
        self.1.write(d)
    }
    fn output(&mut self, w: &mut dyn Write) -> io::Result<()> {
        self.1.output(w)
    }
    fn is_ready(&self) -> bool {
        false // a handshake that never ends
    }
}

/// The loop dropped while sends wait for a handshake: their callbacks
/// (which hold the socket) and the layer are freed; no Rc cycle through
/// the waiting sends outlives the loop.
#[test]
fn dropping_the_loop_mid_handshake_frees_waiting_sends_and_the_layer() {
    let lp = Loop::new().unwrap();
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let s = Socket::from_unix_stream(&lp, a).unwrap();
    let counter = DropCounter::default();
    s.set_layer(Counted(
        counter.token(),
        Overclaim {
            inbound: Vec::new(),
            extra: 0,
        },
    ))
    .unwrap();
    for _ in 0..2 {
        let (t, me) = (counter.token(), s.clone());
        s.send_then("waits", move |_, _, _| {
            t.touch();
            drop(me);
        })
        .unwrap();
    }
    let t = counter.token();
    s.on_secure(move |_, _| t.touch());
    drop(s);
    drop(lp);
    assert_eq!(counter.dropped(), 4, "layer, two callbacks, one listener");
}

/// The same through a real TLS client whose server never answers.
#[test]
fn dropping_the_loop_mid_tls_handshake_frees_everything() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let c = certs();
    let lp = Loop::new().unwrap();
    let counter = DropCounter::default();
    let s = tls_client(&lp, &c, port);
    let (t, me) = (counter.token(), s.clone());
    s.send_then("never", move |_, _, _| {
        t.touch();
        drop(me);
    })
    .unwrap();
    let (t, me) = (counter.token(), s.clone());
    s.on_data(move |_, _, _| {
        t.touch();
        let _ = &me;
    });
    let _peer = l.accept().unwrap();
    let sock = s.clone();
    let _t = until(&lp, move || sock.bytes_written() > 0); // the ClientHello
    run_bounded(&lp, 10);
    drop(s);
    drop(lp);
    assert_eq!(counter.dropped(), 2);
}

// ---------------------------------------------------------------------
// Pause, resume, and bytes buffered inside the layer
// ---------------------------------------------------------------------

/// A rustls client over a blocking std socket, on a thread of its own.
fn std_tls(
    c: &Certs,
    port: u16,
) -> tls::rustls::StreamOwned<tls::rustls::ClientConnection, TcpStream> {
    let config = tls::client_config_with_ca(c.ca()).unwrap();
    let name = tls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = tls::rustls::ClientConnection::new(config, name).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tls::rustls::StreamOwned::new(conn, tcp)
}

/// The peer sends 2 MiB in big records, then `close_notify` and its FIN
/// at once; the server pauses after every chunk and resumes from the
/// loop. Every byte arrives, in order, and the session ends with `end`,
/// never as a truncation (the FIN is read only after the layer's bytes).
#[test]
fn pausing_after_every_chunk_loses_nothing_and_ends_cleanly() {
    let c = certs();
    let lp = Loop::new().unwrap();
    let (server, port) = tls_server(&lp, &c);
    const TOTAL: usize = 2 << 20;
    let got = Rc::new(RefCell::new(Vec::with_capacity(TOTAL)));
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (g, sn) = (got.clone(), seen.clone());
    server.on_connection(move |_, _, s| {
        s.pause(); // reads its handshake anyway
        let g = g.clone();
        s.on_data(move |lp, s, d| {
            g.borrow_mut().extend_from_slice(d);
            s.pause();
            let s = s.clone();
            lp.defer(move |_| s.resume());
        });
        let (a, b) = (sn.clone(), sn.clone());
        s.on_end(move |_, _| a.borrow_mut().push("end".to_string()));
        s.on_error(move |_, _, e| b.borrow_mut().push(e.to_string()));
        let s2 = s.clone();
        s.on_secure(move |lp, _| {
            let s2 = s2.clone();
            lp.set_timeout(Duration::from_millis(50), move |_| s2.resume());
        });
    });
    let peer = std::thread::spawn(move || {
        let mut t = std_tls(&c, port);
        let data: Vec<u8> = (0..TOTAL).map(|i| (i % 253) as u8).collect();
        t.write_all(&data).unwrap();
        t.conn.send_close_notify();
        t.flush().unwrap();
        let _ = t.sock.shutdown(std::net::Shutdown::Write);
        let mut rest = Vec::new();
        let _ = t.read_to_end(&mut rest);
    });
    let sn = seen.clone();
    let _t = until(&lp, move || !sn.borrow().is_empty());
    run_bounded(&lp, 30);
    server.close();
    server.destroy_connections();
    peer.join().unwrap();
    let got = got.borrow();
    assert_eq!(got.len(), TOTAL);
    assert!(got.iter().enumerate().all(|(i, b)| *b == (i % 253) as u8));
    assert_eq!(*seen.borrow(), ["end"]);
}

/// A task that only writes (never reads) to a TLS socket during its
/// handshake, past the high-water mark: the handshake still completes,
/// the task neither spins nor hangs, and every byte arrives.
#[test]
fn a_write_only_task_past_the_mark_during_the_handshake_finishes() {
    use futures_util::AsyncWriteExt;
    let c = certs();
    let lp = Loop::new().unwrap();
    let (server, port) = tls_server(&lp, &c);
    let total = Rc::new(std::cell::Cell::new(0usize));
    let t = total.clone();
    server.on_connection(move |_, _, s| {
        let t = t.clone();
        s.on_data(move |_, _, d| t.set(t.get() + d.len()));
    });
    let config = tls::client_config_with_ca(c.ca()).unwrap();
    let h = lp.handle();
    let writer = lp.spawn_local(async move {
        let mut s = Socket::connect_tls_as(&h, "127.0.0.1", port, "localhost", config).unwrap();
        let chunk = vec![9u8; 16 * 1024];
        for _ in 0..64 {
            s.write_all(&chunk).await.unwrap();
        }
        s.flush().await.unwrap();
        AsyncWriteExt::close(&mut s).await.unwrap();
        // Kept: its drop would `close()` (see
        // `close_right_after_a_big_send_loses_nothing`).
        s
    });
    let t = total.clone();
    let _t = until(&lp, move || t.get() == 64 * 16 * 1024);
    run_bounded(&lp, 20);
    assert!(writer.is_finished());
    assert_eq!(total.get(), 64 * 16 * 1024);
    server.close();
    server.destroy_connections();
}

// ---------------------------------------------------------------------
// HTTPS
// ---------------------------------------------------------------------

/// Three pipelined requests in one TLS record get three responses, in
/// order; then a client that finishes its handshake and trickles a head
/// does not stop the server from answering another.
#[test]
fn https_pipelined_requests_in_one_record_and_a_trickling_head() {
    let c = certs();
    let lp = Loop::new().unwrap();
    let server = hinge::http::Server::new(&lp);
    server.set_tls(tls::server_config(c.cert(), c.key()).unwrap());
    server.on_request(|_, _, req, res| {
        let path = req.path().to_string();
        res.end(format!("path {path}")).ok();
    });
    server.listen_on("127.0.0.1", 0).unwrap();
    let port = server.local_addr().unwrap().port();
    let c2 = certs();
    std::fs::copy(c.ca(), c2.ca()).unwrap();
    let peer = std::thread::spawn(move || {
        // The trickler: handshake done, then a byte of its head at a time.
        let mut slow = std_tls(&c2, port);
        slow.write_all(b"GET /slow HTTP/1.1\r\n").unwrap();
        slow.flush().unwrap();
        let mut t = std_tls(&c2, port);
        let reqs = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        t.write_all(reqs).unwrap(); // one record
        let mut all = Vec::new();
        let _ = t.read_to_end(&mut all);
        String::from_utf8_lossy(&all).into_owned()
    });
    let th = Rc::new(RefCell::new(Some(peer)));
    let th2 = th.clone();
    let _t = until(&lp, move || {
        th2.borrow().as_ref().is_none_or(|h| h.is_finished())
    });
    run_bounded(&lp, 20);
    let all = th.borrow_mut().take().unwrap().join().unwrap();
    let paths: Vec<&str> = all.matches("path /").collect();
    assert_eq!(paths.len(), 3, "{all}");
    let (a, b, cc) = (
        all.find("path /a"),
        all.find("path /b"),
        all.find("path /c"),
    );
    assert!(a < b && b < cc, "{all}");
    server.close();
    server.transport().destroy_connections();
}

/// `send` a MiB then `close()` a TLS client as soon as it is secure: the
/// server gets every byte. (TLS 1.3 servers send session tickets after
/// the handshake, unasked: if they reach a client that closed its fd
/// without reading them, its kernel answers with a reset that discards
/// what it still had to send.)
#[test]
fn close_right_after_a_big_send_loses_nothing() {
    let c = certs();
    let lp = Loop::new().unwrap();
    let (server, port) = tls_server(&lp, &c);
    const TOTAL: usize = 1 << 20;
    let total = Rc::new(std::cell::Cell::new(0usize));
    let errors = Rc::new(RefCell::new(Vec::new()));
    let (t, errs) = (total.clone(), errors.clone());
    server.on_connection(move |_, _, s| {
        let t = t.clone();
        s.on_data(move |_, _, d| t.set(t.get() + d.len()));
        let errs = errs.clone();
        s.on_error(move |_, _, e| errs.borrow_mut().push(e.to_string()));
    });
    let s = tls_client(&lp, &c, port);
    s.on_secure(|_, s| {
        s.send(vec![1u8; TOTAL]).unwrap();
        s.close();
    });
    let (t, srv) = (total.clone(), server.clone());
    let _t = until(&lp, move || t.get() == TOTAL && srv.connections() == 0);
    run_bounded(&lp, 10);
    assert_eq!(total.get(), TOTAL);
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
    server.close();
}

/// The same layer on a socket already connected (`set_layer` speaks at
/// once): `secure` comes from the loop, and the waiting send follows.
#[test]
fn a_layer_ready_after_its_first_words_on_a_connected_socket() {
    let lp = Loop::new().unwrap();
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let s = Socket::from_unix_stream(&lp, a).unwrap();
    s.set_layer(Preamble {
        said: false,
        outbound: Vec::new(),
    })
    .unwrap();
    s.send("early").unwrap();
    let secure = Hits::default();
    let sec = secure.clone();
    s.on_secure(move |_, s| {
        sec.hit();
        s.close();
    });
    run_bounded(&lp, 10);
    let mut got = Vec::new();
    b.read_to_end(&mut got).unwrap();
    assert_eq!(&got, b"PREAMBLE\nearly");
    assert_eq!(secure.get(), 1);
}
