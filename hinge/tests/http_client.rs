//! The HTTP client against hinge's own server on the same loop: methods,
//! framing both ways, keep-alive and the pool's limits, backpressure,
//! 1xx and upgrades, timeouts, and the retry rule.

#![cfg(feature = "http")]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use hinge::http::{self, Agent, AgentConfig, Method};
use hinge::{Error, Loop};

mod common;

/// A server on 127.0.0.1 with `http_echo`-like routes.
fn serve(lp: &Loop) -> (http::Server, String) {
    let server = http::Server::new(lp);
    server.on_request(|lp, _, req, res| match req.path() {
        "/hello" => {
            res.set_header("content-type", "text/plain").ok();
            res.end("Hello world!").ok();
        }
        "/echo" => {
            let res2 = res.clone();
            req.on_data(move |_, _, b| {
                res2.write(b).ok();
            });
            req.on_end(move |_, _| {
                res.end("").ok();
            });
        }
        "/chunked" => {
            res.write("one,").ok();
            res.write("two,").ok();
            res.end("three").ok();
        }
        "/empty" => {
            res.set_status(204).ok();
            res.end("").ok();
        }
        "/big" => {
            let n: usize = req.query().and_then(|q| q.parse().ok()).unwrap_or(1 << 20);
            res.end(vec![b'x'; n]).ok();
        }
        "/close" => {
            res.set_header("connection", "close").ok();
            res.end("bye").ok();
        }
        "/never" => {
            // Kept unanswered until the loop is dropped.
            lp.set_timeout(Duration::from_secs(3600), move |_| drop(res))
                .unref();
        }
        "/method" => {
            let m = req.method().to_string();
            res.end(m).ok();
        }
        _ => {
            res.error(404).ok();
        }
    });
    server.listen_on("127.0.0.1", 0).unwrap();
    let port = server.local_addr().unwrap().port();
    (server, format!("http://127.0.0.1:{port}"))
}

/// GETs `url` and collects the body: (status, body).
type Fetched = Rc<RefCell<Option<hinge::Result<(u16, Vec<u8>)>>>>;

fn fetch(lp: &Loop, url: &str) -> Fetched {
    let out = Rc::new(RefCell::new(None));
    let o = out.clone();
    http::get(lp, url, move |_, res| match res {
        Ok(res) => {
            let o = o.clone();
            res.collect(16 << 20, move |_, res, body| {
                *o.borrow_mut() = Some(body.map(|b| (res.status().as_u16(), b)));
            })
        }
        Err(e) => *o.borrow_mut() = Some(Err(e)),
    })
    .unwrap();
    out
}

fn run_until(lp: &Loop, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out");
        lp.run_once();
    }
}

#[test]
fn get_collects_bodies_of_every_framing() {
    let lp = Loop::new().unwrap();
    let (_server, base) = serve(&lp);
    for (path, status, body) in [
        ("/hello", 200, &b"Hello world!"[..]),
        ("/chunked", 200, b"one,two,three"),
        ("/empty", 204, b""),
        ("/missing", 404, b"Not Found"),
        ("/close", 200, b"bye"),
    ] {
        let out = fetch(&lp, &format!("{base}{path}"));
        run_until(&lp, || out.borrow().is_some());
        let got = out.borrow_mut().take().unwrap().unwrap();
        assert_eq!(got.0, status, "{path}");
        if status != 404 {
            assert_eq!(got.1, body, "{path}");
        }
    }
    let out = fetch(&lp, &format!("{base}/big?3000000"));
    run_until(&lp, || out.borrow().is_some());
    assert_eq!(out.borrow_mut().take().unwrap().unwrap().1.len(), 3_000_000);
}

#[test]
fn keep_alive_reuses_one_connection_and_idle_ones_let_the_loop_end() {
    let lp = Loop::new().unwrap();
    let (server, base) = serve(&lp);
    let agent = Agent::new(&lp);
    let done = Rc::new(Cell::new(0));
    fn next(lp: &Loop, agent: &Agent, base: &str, done: &Rc<Cell<u32>>) {
        let req = agent
            .request(lp, Method::GET, &format!("{base}/hello"))
            .unwrap();
        let (agent, base, done) = (agent.clone(), base.to_string(), done.clone());
        req.on_response(move |_, _, res| {
            let (agent, base, done) = (agent.clone(), base.clone(), done.clone());
            res.collect(1024, move |lp, _, body| {
                assert_eq!(body.unwrap(), b"Hello world!");
                done.set(done.get() + 1);
                if done.get() < 10 {
                    next(lp, &agent, &base, &done);
                }
            });
        });
        req.end("").unwrap();
    }
    next(&lp, &agent, &base, &done);
    run_until(&lp, || done.get() == 10);
    lp.run_once();
    assert_eq!(server.connections(), 1, "ten requests, one connection");
    assert_eq!(agent.idle_connections(), 1);
    server.close();
    // The idle connection does not keep the loop running.
    lp.run();
}

#[test]
fn post_bodies_by_length_and_chunked_with_backpressure() {
    let lp = Loop::new().unwrap();
    let (_server, base) = serve(&lp);
    // Whole body at `end`: Content-Length.
    let got = Rc::new(RefCell::new(None));
    let req = http::request(&lp, Method::POST, &format!("{base}/echo")).unwrap();
    let g = got.clone();
    req.on_response(move |_, _, res| {
        let g = g.clone();
        res.collect(1 << 20, move |_, _, b| *g.borrow_mut() = Some(b.unwrap()));
    });
    req.end("hello body").unwrap();
    run_until(&lp, || got.borrow().is_some());
    assert_eq!(got.borrow().as_deref(), Some(&b"hello body"[..]));

    // 8 MiB streamed in writes, honouring `false` and `drain`.
    let total = 8usize << 20;
    let received = Rc::new(Cell::new(0usize));
    let ended = Rc::new(Cell::new(false));
    let req = http::request(&lp, Method::PUT, &format!("{base}/echo")).unwrap();
    let (r, e) = (received.clone(), ended.clone());
    req.on_response(move |_, _, res| {
        let r = r.clone();
        res.on_data(move |_, _, b| r.set(r.get() + b.len()));
        let e = e.clone();
        res.on_end(move |_, _| e.set(true));
    });
    let sent = Rc::new(Cell::new(0usize));
    let falses = Rc::new(Cell::new(0));
    let pump = {
        let (sent, falses) = (sent.clone(), falses.clone());
        move |req: &http::ClientRequest| {
            while sent.get() < total {
                sent.set(sent.get() + 65536);
                if !req.write(vec![b'y'; 65536]).unwrap() {
                    falses.set(falses.get() + 1);
                    return;
                }
            }
            req.end("").unwrap();
        }
    };
    let p = pump.clone();
    req.on_drain(move |_, req| p(req));
    pump(&req);
    run_until(&lp, || ended.get());
    assert_eq!(received.get(), total);
    assert!(falses.get() > 0, "backpressure was seen");
}

#[test]
fn methods_and_head() {
    let lp = Loop::new().unwrap();
    let (_server, base) = serve(&lp);
    for m in [Method::GET, Method::DELETE, Method::OPTIONS, Method::PATCH] {
        let got = Rc::new(RefCell::new(None));
        let req = http::request(&lp, m.clone(), &format!("{base}/method")).unwrap();
        let g = got.clone();
        req.on_response(move |_, _, res| {
            let g = g.clone();
            res.collect(1024, move |_, _, b| *g.borrow_mut() = Some(b.unwrap()));
        });
        req.end("").unwrap();
        run_until(&lp, || got.borrow().is_some());
        assert_eq!(got.borrow().as_deref(), Some(m.as_str().as_bytes()));
    }
    // HEAD: a Content-Length but no body; the connection stays usable.
    let got = Rc::new(RefCell::new(None));
    let req = http::request(&lp, Method::HEAD, &format!("{base}/hello")).unwrap();
    let g = got.clone();
    req.on_response(move |_, _, res| {
        let g = g.clone();
        let len = res.header("content-length").map(str::to_string);
        res.collect(1024, move |_, _, b| {
            *g.borrow_mut() = Some((len, b.unwrap()))
        });
    });
    req.end("").unwrap();
    run_until(&lp, || got.borrow().is_some());
    let (len, body) = got.borrow_mut().take().unwrap();
    assert_eq!(len.as_deref(), Some("12"));
    assert!(body.is_empty());
}

#[test]
fn connection_limit_queues_requests_in_order() {
    let lp = Loop::new().unwrap();
    let (server, base) = serve(&lp);
    let mut config = AgentConfig::default();
    config.max_connections_per_host = 2;
    let agent = Agent::with_config(&lp, config);
    let order = Rc::new(RefCell::new(Vec::new()));
    for i in 0..12 {
        let req = agent
            .request(&lp, Method::GET, &format!("{base}/hello"))
            .unwrap();
        let o = order.clone();
        req.on_response(move |_, _, res| {
            let o = o.clone();
            res.collect(1024, move |_, _, _| o.borrow_mut().push(i));
        });
        req.end("").unwrap();
    }
    assert!(agent.connections() <= 2);
    run_until(&lp, || order.borrow().len() == 12);
    lp.run_once();
    assert!(server.connections() <= 2, "{}", server.connections());
}

#[test]
fn errors_are_typed() {
    let lp = Loop::new().unwrap();
    assert!(matches!(
        http::request(&lp, Method::GET, "ftp://x/"),
        Err(Error::InvalidUrl { .. })
    ));
    assert!(matches!(
        http::request(&lp, Method::GET, "/relative"),
        Err(Error::InvalidUrl { .. })
    ));
    // Nobody listens on the port: connection refused, to `error`.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = Rc::new(RefCell::new(None));
    let e = err.clone();
    http::get(&lp, &format!("http://127.0.0.1:{port}/"), move |_, r| {
        *e.borrow_mut() = Some(r.err().map(|e| e.to_string()));
    })
    .unwrap();
    run_until(&lp, || err.borrow().is_some());
    assert!(err.borrow().clone().unwrap().unwrap().contains("refused"));
}

#[test]
fn head_timeout_is_its_own_error() {
    let lp = Loop::new().unwrap();
    let (_server, base) = serve(&lp);
    let mut config = AgentConfig::default();
    config.head_timeout = Some(Duration::from_millis(100));
    let agent = Agent::with_config(&lp, config);
    let req = agent
        .request(&lp, Method::GET, &format!("{base}/never"))
        .unwrap();
    let err = Rc::new(RefCell::new(None));
    let e = err.clone();
    req.on_error(move |_, _, x| *e.borrow_mut() = Some(x.to_string()));
    req.end("").unwrap();
    run_until(&lp, || err.borrow().is_some());
    assert!(
        err.borrow().as_ref().unwrap().contains("response head"),
        "{:?}",
        err.borrow()
    );
}

#[test]
fn expect_continue_waits_for_100_then_sends_the_body() {
    let lp = Loop::new().unwrap();
    let server = http::Server::new(&lp);
    // The server answers 100 when the handler reads the body.
    server.on_request(|_, _, req, res| {
        req.collect(1 << 20, move |_, _, body| {
            res.end(format!("got {}", body.unwrap().len())).ok();
        });
    });
    server.listen_on("127.0.0.1", 0).unwrap();
    let url = format!("http://127.0.0.1:{}/", server.local_addr().unwrap().port());
    let req = http::request(&lp, Method::POST, &url).unwrap();
    req.set_header("expect", "100-continue").unwrap();
    let infos = Rc::new(RefCell::new(Vec::new()));
    let i = infos.clone();
    req.on_information(move |_, _, info| i.borrow_mut().push(info.status().as_u16()));
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    req.on_response(move |_, _, res| {
        let g = g.clone();
        res.collect(1024, move |_, _, b| *g.borrow_mut() = Some(b.unwrap()));
    });
    req.end(vec![b'b'; 5000]).unwrap();
    run_until(&lp, || got.borrow().is_some());
    assert_eq!(got.borrow().as_deref(), Some(&b"got 5000"[..]));
    assert_eq!(*infos.borrow(), vec![100]);
}

#[test]
fn upgrade_and_connect_hand_the_socket_over() {
    let lp = Loop::new().unwrap();
    let server = http::Server::new(&lp);
    server.on_upgrade(|_, _, _req, sock, head| {
        sock.send("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\nwelcome;")
            .ok();
        let early = head.to_vec();
        if !early.is_empty() {
            sock.send(early).ok();
        }
        sock.on_data(|_, s, b| {
            s.send(b).ok();
        });
    });
    server.on_connect(|_, _, req, sock, _| {
        assert_eq!(req.uri().to_string(), "example.com:443");
        sock.send("HTTP/1.1 200 Connection Established\r\n\r\n")
            .ok();
        sock.on_data(|_, s, b| {
            s.send(b.to_ascii_uppercase()).ok();
        });
    });
    server.listen_on("127.0.0.1", 0).unwrap();
    let base = format!("http://127.0.0.1:{}", server.local_addr().unwrap().port());

    let heard = Rc::new(RefCell::new(Vec::new()));
    let req = http::request(&lp, Method::GET, &format!("{base}/chat")).unwrap();
    req.set_header("connection", "upgrade").unwrap();
    req.set_header("upgrade", "echo").unwrap();
    let h = heard.clone();
    req.on_upgrade(move |_, _, up| {
        assert_eq!(up.response.status(), 101);
        h.borrow_mut().extend_from_slice(&up.head);
        let h = h.clone();
        up.socket
            .on_data(move |_, _, b| h.borrow_mut().extend_from_slice(b));
        up.socket.send("ping").ok();
    });
    req.end("").unwrap();
    run_until(&lp, || heard.borrow().ends_with(b"ping"));
    assert!(heard.borrow().starts_with(b"welcome;"));

    let tunnel = Rc::new(RefCell::new(Vec::new()));
    let req = http::request(&lp, Method::CONNECT, &base).unwrap();
    req.set_target("example.com:443").unwrap();
    let t = tunnel.clone();
    req.on_upgrade(move |_, _, up| {
        assert_eq!(up.response.status(), 200);
        let t = t.clone();
        up.socket
            .on_data(move |_, _, b| t.borrow_mut().extend_from_slice(b));
        up.socket.send("through the tunnel").ok();
    });
    req.end("").unwrap();
    run_until(&lp, || tunnel.borrow().as_slice() == b"THROUGH THE TUNNEL");
}

#[test]
fn trailers_pause_and_limits() {
    let lp = Loop::new().unwrap();
    let (server, base) = serve(&lp);
    drop(server.clone());

    // Paused: the body waits (bounded), then flows on resume.
    let got = Rc::new(Cell::new(0usize));
    let ended = Rc::new(Cell::new(false));
    let req = http::request(&lp, Method::GET, &format!("{base}/big?8000000")).unwrap();
    let (g, e) = (got.clone(), ended.clone());
    let held = Rc::new(RefCell::new(None));
    let hd = held.clone();
    req.on_response(move |_, _, res| {
        res.pause();
        let g = g.clone();
        res.on_data(move |_, _, b| g.set(g.get() + b.len()));
        let e = e.clone();
        res.on_end(move |_, _| e.set(true));
        *hd.borrow_mut() = Some(res.clone());
    });
    req.end("").unwrap();
    run_until(&lp, || held.borrow().is_some());
    let t = lp.set_timeout(Duration::from_millis(200), |_| {});
    while t.is_active() {
        lp.run_once();
    }
    assert_eq!(got.get(), 0, "nothing while paused");
    held.borrow().as_ref().unwrap().resume();
    run_until(&lp, || ended.get());
    assert_eq!(got.get(), 8_000_000);

    // collect past its limit: TooLarge, and the connection is not reused.
    let agent = Agent::new(&lp);
    let err = Rc::new(RefCell::new(None));
    let req = agent
        .request(&lp, Method::GET, &format!("{base}/big?1000000"))
        .unwrap();
    let e = err.clone();
    req.on_response(move |_, _, res| {
        let e = e.clone();
        res.collect(1000, move |_, _, b| *e.borrow_mut() = Some(b.unwrap_err()));
    });
    req.end("").unwrap();
    run_until(&lp, || err.borrow().is_some());
    assert!(matches!(
        err.borrow().as_ref(),
        Some(Error::TooLarge { limit: 1000, .. })
    ));
    lp.run_once();
    assert_eq!(agent.idle_connections(), 0);
}

#[test]
fn connect_and_idle_timeouts_are_their_own_errors() {
    // A listener whose backlog is full: the SYN is never answered.
    let full = common::full_backlog();
    let port = full.port;
    let lp = Loop::new().unwrap();
    let mut config = AgentConfig::default();
    config.connect_timeout = Some(Duration::from_millis(200));
    config.idle_timeout = Some(Duration::from_millis(200));
    let agent = Agent::with_config(&lp, config);
    let err = Rc::new(RefCell::new(None));
    let e = err.clone();
    let req = agent
        .request(&lp, Method::GET, &format!("http://127.0.0.1:{port}/"))
        .unwrap();
    req.on_error(move |_, _, x| *e.borrow_mut() = Some(x.to_string()));
    req.end("").unwrap();
    run_until(&lp, || err.borrow().is_some());
    let msg = err.borrow_mut().take().unwrap();
    assert!(msg.starts_with("connect "), "{msg}");
    assert!(msg.contains("timed out"), "{msg}");
    drop(full);

    // A server that sends the head, then half the body, then nothing.
    let stalled = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = stalled.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = stalled.accept().unwrap();
        let mut b = [0u8; 1024];
        let _ = s.read(&mut b);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf.")
            .unwrap();
        let _ = s.read(&mut b); // until the client gives up
    });
    let req = agent
        .request(&lp, Method::GET, &format!("http://127.0.0.1:{port}/"))
        .unwrap();
    let e = err.clone();
    req.on_response(move |_, _, res| {
        let e = e.clone();
        res.collect(1024, move |_, _, body| {
            *e.borrow_mut() = Some(body.unwrap_err().to_string())
        });
    });
    req.end("").unwrap();
    run_until(&lp, || err.borrow().is_some());
    let msg = err.borrow_mut().take().unwrap();
    assert!(msg.starts_with("idle "), "{msg}");
    server.join().unwrap();
}
