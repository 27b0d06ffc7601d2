//! Adversarial review of the HTTP client, part 2: attacks that found
//! nothing (controls and edge cases: destroy at every stage, 1xx, 101,
//! CONNECT, trailers, pause, panics, error counts), then the stale
//! response handles and the retried 100-continue request of part 1's
//! findings. Loopback only, bounded.

#![cfg(feature = "http")]
#![allow(unused_imports)]

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use hinge::http::{self, Agent, AgentConfig, Method};
use hinge::Loop;

mod common;
use common::scripted::*;

// ---------------------------------------------------------------------
// Attacks expected to pass (controls and edge cases).

#[test]
fn expect_continue_on_fresh_connection_sends_body_after_wait() {
    let url = scripted(1, |_, mut s| {
        read_head(&mut s);
        let mut body = [0u8; 5];
        match s.read_exact(&mut body) {
            Ok(()) => s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ngot")
                .unwrap(),
            Err(_) => s
                .write_all(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
                .unwrap(),
        }
        drain_to_eof(&mut s);
    });
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    let req = agent.request(&lp, Method::POST, &url).unwrap();
    req.set_header("expect", "100-continue").unwrap();
    let out = collect_req(&req);
    req.end("hello").unwrap();
    assert_eq!(wait(&lp, &out, 5), Ok((200, b"got".to_vec())));
}

#[test]
fn expect_continue_final_417_drops_body_and_connection() {
    let (tx, rx) = std::sync::mpsc::channel();
    let url = scripted(2, move |i, mut s| {
        read_head(&mut s);
        if i == 0 {
            s.write_all(b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
            tx.send(rest).unwrap();
        } else {
            s.write_all(OK_HI).unwrap();
            drain_to_eof(&mut s);
        }
    });
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    let req = agent.request(&lp, Method::POST, &url).unwrap();
    req.set_header("expect", "100-continue").unwrap();
    let out = collect_req(&req);
    req.end("hello").unwrap();
    assert_eq!(wait(&lp, &out, 5), Ok((417, vec![])));
    let next = get_via(&lp, &agent, &url);
    assert_eq!(wait(&lp, &next, 5), Ok((200, b"hi".to_vec())));
    let rest = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        rest.is_empty(),
        "the held body must not be sent after a final 417: {rest:?}"
    );
}

#[test]
fn early_hints_then_final_response() {
    let url = scripted(1, |_, mut s| {
        read_head(&mut s);
        s.write_all(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
            .unwrap();
        drain_to_eof(&mut s);
    });
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    let req = agent.request(&lp, Method::GET, &url).unwrap();
    let infos = Rc::new(RefCell::new(Vec::new()));
    let i = infos.clone();
    req.on_information(move |_, _, res| i.borrow_mut().push(res.status().as_u16()));
    let out = collect_req(&req);
    req.end("").unwrap();
    assert_eq!(wait(&lp, &out, 5), Ok((200, b"hi".to_vec())));
    assert_eq!(*infos.borrow(), vec![103]);
    assert_eq!(agent.idle_connections(), 1);
}

#[test]
fn upgrade_101_without_listener_is_an_error_and_no_hang() {
    let url = scripted(1, |_, mut s| {
        read_head(&mut s);
        s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\nNEW",
        )
        .unwrap();
        drain_to_eof(&mut s);
    });
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    let req = agent.request(&lp, Method::GET, &url).unwrap();
    let errors = Rc::new(Cell::new(0));
    let e = errors.clone();
    req.on_error(move |_, _, _| e.set(e.get() + 1));
    req.on_response(|_, _, _| panic!("no response event for a 101"));
    req.end("").unwrap();
    lp.run();
    assert_eq!(errors.get(), 1);
    assert_eq!(agent.connections(), 0);
}

#[test]
fn upgrade_101_with_listener_hands_over_socket_and_head() {
    let url = scripted(1, |_, mut s| {
        read_head(&mut s);
        s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\nNEW",
        )
        .unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        s.write_all(&b).unwrap();
    });
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    let req = agent.request(&lp, Method::GET, &url).unwrap();
    req.set_header("connection", "upgrade").unwrap();
    req.set_header("upgrade", "x").unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    req.on_upgrade(move |_, _, up| {
        g.borrow_mut().extend_from_slice(&up.head);
        let g = g.clone();
        up.socket.on_data(move |_, s, bytes| {
            g.borrow_mut().extend_from_slice(bytes);
            if g.borrow().len() >= 7 {
                s.close();
            }
        });
        up.socket.send("ping").unwrap();
    });
    req.end("").unwrap();
    assert!(run_until(&lp, 5, || got.borrow().len() >= 7));
    assert_eq!(&got.borrow()[..], b"NEWping");
    assert!(req.is_finished());
    assert_eq!(agent.connections(), 0);
}

#[test]
fn connect_tunnel() {
    let url = scripted(1, |_, mut s| {
        let head = read_head(&mut s);
        assert!(
            head.starts_with(b"CONNECT example.com:443 HTTP/1.1\r\n"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\nT")
            .unwrap();
        drain_to_eof(&mut s);
    });
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    let req = agent.request(&lp, Method::CONNECT, &url).unwrap();
    req.set_target("example.com:443").unwrap();
    let head = Rc::new(RefCell::new(None));
    let h = head.clone();
    req.on_upgrade(move |_, _, up| {
        *h.borrow_mut() = Some(up.head.clone());
        up.socket.destroy();
    });
    req.end("").unwrap();
    assert!(run_until(&lp, 5, || head.borrow().is_some()));
    assert_eq!(head.borrow().as_deref(), Some(&b"T"[..]));
}

#[test]
fn chunked_response_with_trailers() {
    let url = scripted(1, |_, mut s| {
        read_head(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\n\r\n2\r\nhi\r\n3\r\nyou\r\n0\r\nX-Sum: 5\r\n\r\n")
            .unwrap();
        drain_to_eof(&mut s);
    });
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    let req = agent.request(&lp, Method::GET, &url).unwrap();
    let trailer = Rc::new(RefCell::new(None));
    let t = trailer.clone();
    let out = collect_req(&req);
    req.on_response(move |_, _, res| {
        let t = t.clone();
        res.on_end(move |_, res| {
            *t.borrow_mut() = res
                .trailers()
                .and_then(|h| h.get("x-sum").map(|v| v.to_str().unwrap().to_string()));
        });
    });
    req.end("").unwrap();
    assert_eq!(wait(&lp, &out, 5), Ok((200, b"hiyou".to_vec())));
    lp.run_once();
    assert_eq!(trailer.borrow().as_deref(), Some("5"));
    assert_eq!(agent.idle_connections(), 1);
}

/// req.destroy() at each stage: no later event, the agent keeps serving.
fn destroy_at(stage: &'static str) {
    let url = scripted(2, |_, mut s| {
        read_head(&mut s);
        let _ = s.write_all(
            b"HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab",
        );
        thread::sleep(Duration::from_millis(50));
        let _ = s.write_all(b"cd");
        drain_to_eof(&mut s);
    });
    let lp = Loop::new().unwrap();
    let mut config = AgentConfig::default();
    config.max_connections_per_host = 1;
    let agent = Agent::with_config(&lp, config);
    let req = agent
        .request(&lp, Method::GET, &format!("{url}/{stage}"))
        .unwrap();
    let events = Rc::new(RefCell::new(Vec::<String>::new()));
    let ev = events.clone();
    req.on_information(move |_, req, _| {
        ev.borrow_mut().push("info".into());
        if stage == "info" {
            req.destroy();
        }
    });
    let ev = events.clone();
    req.on_response(move |_, req, res| {
        ev.borrow_mut().push("response".into());
        if stage == "response" {
            req.destroy();
            return;
        }
        let (ev2, ev3, ev4, r) = (ev.clone(), ev.clone(), ev.clone(), req.clone());
        res.on_data(move |_, _, b| {
            ev2.borrow_mut().push(format!("data {}", b.len()));
            if stage == "data" {
                r.destroy();
            }
        });
        res.on_end(move |_, _| ev3.borrow_mut().push("end".into()));
        res.on_error(move |_, _, e| ev4.borrow_mut().push(format!("res error {e}")));
    });
    let ev = events.clone();
    req.on_error(move |_, _, e| ev.borrow_mut().push(format!("error {e}")));
    // Queued behind it.
    let next = get_via(&lp, &agent, &format!("{url}/next"));
    if stage == "now" {
        req.destroy();
    }
    req.end("").ok();
    assert_eq!(
        wait(&lp, &next, 5).map(|r| r.0),
        Ok(200),
        "stage {stage}: {:?}",
        events.borrow()
    );
    lp.run();
    let ev = events.borrow();
    assert!(
        !ev.iter()
            .any(|e| e == "end" || e.starts_with("error") || e.starts_with("res error")),
        "stage {stage}: {ev:?}"
    );
    assert!(req.is_finished());
}

#[test]
fn req_destroy_before_sending() {
    destroy_at("now");
}
#[test]
fn req_destroy_in_on_information() {
    destroy_at("info");
}
#[test]
fn req_destroy_in_on_response() {
    destroy_at("response");
}
#[test]
fn req_destroy_in_on_data() {
    destroy_at("data");
}

#[test]
fn queued_requests_destroyed_others_complete_in_order() {
    let url = scripted(1, |_, mut s| {
        for _ in 0..3 {
            let h = read_head(&mut s);
            if h.is_empty() {
                return;
            }
            let path = String::from_utf8_lossy(&h)
                .split(' ')
                .nth(1)
                .unwrap()
                .to_string();
            let body = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
                path.len(),
                path
            );
            s.write_all(body.as_bytes()).unwrap();
        }
        drain_to_eof(&mut s);
    });
    let lp = Loop::new().unwrap();
    let mut config = AgentConfig::default();
    config.max_connections_per_host = 1;
    let agent = Agent::with_config(&lp, config);
    let mut outs = Vec::new();
    let mut reqs = Vec::new();
    for i in 0..6 {
        let req = agent
            .request(&lp, Method::GET, &format!("{url}/{i}"))
            .unwrap();
        outs.push(collect_req(&req));
        req.end("").unwrap();
        reqs.push(req);
    }
    for i in [1, 3, 5] {
        reqs[i].destroy();
    }
    for i in [0, 2, 4] {
        assert_eq!(
            wait(&lp, &outs[i], 5),
            Ok((200, format!("/{i}").into_bytes()))
        );
    }
    for i in [1, 3, 5] {
        assert!(outs[i].borrow().is_none());
    }
    assert_eq!(agent.connections(), 1);
}

#[test]
fn response_before_request_body_ended_does_not_reuse_connection() {
    let url = scripted(2, |i, mut s| {
        read_head(&mut s);
        s.write_all(OK_HI).unwrap();
        if i == 0 {
            // Whatever comes next must not be a new request on this connection.
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
            assert!(!String::from_utf8_lossy(&rest).contains("GET /second"));
        } else {
            drain_to_eof(&mut s);
        }
    });
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    let req = agent
        .request(&lp, Method::POST, &format!("{url}/upload"))
        .unwrap();
    let out = collect_req(&req);
    req.write("part one").unwrap(); // chunked, never ended
    assert_eq!(wait(&lp, &out, 5), Ok((200, b"hi".to_vec())));
    assert!(req.write("more").is_err());
    let next = get_via(&lp, &agent, &format!("{url}/second"));
    assert_eq!(wait(&lp, &next, 5), Ok((200, b"hi".to_vec())));
}

#[test]
fn pause_bounds_read_ahead_and_resume_delivers_everything() {
    const TOTAL: usize = 16 << 20;
    let (tx, rx) = std::sync::mpsc::channel();
    let url = scripted(1, move |_, mut s| {
        read_head(&mut s);
        s.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {TOTAL}\r\n\r\n").as_bytes())
            .unwrap();
        s.set_write_timeout(Some(Duration::from_millis(700)))
            .unwrap();
        let chunk = vec![b'z'; 64 * 1024];
        let mut sent = 0;
        let mut blocked = false;
        while sent < TOTAL {
            match s.write(&chunk[..chunk.len().min(TOTAL - sent)]) {
                Ok(n) => sent += n,
                Err(_) if !blocked => {
                    blocked = true;
                    tx.send(sent).unwrap();
                    s.set_write_timeout(Some(Duration::from_secs(4))).unwrap();
                }
                Err(_) => return,
            }
        }
        if !blocked {
            tx.send(sent).unwrap();
        }
        drain_to_eof(&mut s);
    });
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    // run_once must wake up while the body is paused.
    let ticker = hinge::Timer::new(
        &lp,
        Duration::from_millis(20),
        Duration::from_millis(20),
        |_, _| {},
    );
    let req = agent.request(&lp, Method::GET, &url).unwrap();
    let got = Rc::new(Cell::new(0usize));
    let stash: Rc<RefCell<Option<http::ClientResponse>>> = Rc::default();
    let (g, st) = (got.clone(), stash.clone());
    req.on_response(move |_, _, res| {
        let g = g.clone();
        res.on_data(move |_, res, b| {
            g.set(g.get() + b.len());
            if g.get() == b.len() {
                res.pause(); // once, after the first piece
            }
        });
        *st.borrow_mut() = Some(res.clone());
    });
    req.end("").unwrap();
    // Paused after the first bytes: the server must block well before the end.
    let mut sent_when_blocked = None;
    assert!(run_until(&lp, 4, || {
        sent_when_blocked = rx.try_recv().ok();
        sent_when_blocked.is_some()
    }));
    assert!(
        sent_when_blocked.unwrap() < TOTAL,
        "the server was never pushed back"
    );
    let before = got.get();
    assert!(before < 1 << 20, "delivered {before} bytes while paused");
    let res = stash.borrow().clone().unwrap();
    res.resume();
    let g = got.clone();
    let ok = run_until(&lp, 4, || g.get() >= TOTAL);
    drop(ticker);
    assert!(
        ok,
        "after resume only {} of {TOTAL} bytes arrived",
        got.get()
    );
}

// ---------------------------------------------------------------------
// Attack (passes): a nested lp.run_once() inside on_response while the
// body arrives does not strand it.

#[test]
fn nested_run_once_in_on_response_does_not_strand_the_body() {
    let url = scripted(1, |_, mut s| {
        read_head(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
            .unwrap();
        thread::sleep(Duration::from_millis(100));
        s.write_all(b"body").unwrap();
        drain_to_eof(&mut s);
    });
    let (lp, agent, _ticker) = ticking_agent();
    let req = agent.request(&lp, Method::GET, &url).unwrap();
    let body = Rc::new(RefCell::new(Vec::new()));
    let ended = Rc::new(Cell::new(false));
    let (b, e) = (body.clone(), ended.clone());
    req.on_response(move |lp, _, res| {
        let b = b.clone();
        res.on_data(move |_, _, bytes| b.borrow_mut().extend_from_slice(bytes));
        let e = e.clone();
        res.on_end(move |_, _| e.set(true));
        // A nested turn of the loop while the body arrives.
        let until = Instant::now() + Duration::from_millis(300);
        while Instant::now() < until {
            lp.run_once();
        }
    });
    req.end("").unwrap();
    let ok = run_until(&lp, 3, || ended.get());
    assert!(
        ok,
        "stranded: body so far {:?}",
        String::from_utf8_lossy(&body.borrow())
    );
    assert_eq!(&body.borrow()[..], b"body");
}

#[test]
fn panic_in_on_data_connection_not_reused_agent_still_works() {
    let url = scripted(2, |_, mut s| {
        read_head(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbo")
            .unwrap();
        thread::sleep(Duration::from_millis(30));
        let _ = s.write_all(b"dy");
        drain_to_eof(&mut s);
    });
    let lp = Loop::new().unwrap();
    let mut config = AgentConfig::default();
    config.max_connections_per_host = 1;
    let agent = Agent::with_config(&lp, config);
    let req = agent.request(&lp, Method::GET, &url).unwrap();
    req.on_response(|_, _, res| {
        res.on_data(|_, _, _| panic!("boom in on_data"));
    });
    req.end("").unwrap();
    let next = get_via(&lp, &agent, &url);
    let err = catch_unwind(AssertUnwindSafe(|| lp.run())).expect_err("run re-raises the panic");
    assert_eq!(err.downcast_ref::<&str>().copied(), Some("boom in on_data"));
    assert_eq!(
        wait(&lp, &next, 5),
        Ok((200, b"body".to_vec())),
        "a fresh connection after the panic"
    );
}

fn truncated_case(res_listener: bool) -> (usize, usize) {
    let url = scripted(1, |_, mut s| {
        read_head(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd")
            .unwrap();
    });
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    let req = agent.request(&lp, Method::GET, &url).unwrap();
    let (res_errs, req_errs) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let r = res_errs.clone();
    req.on_response(move |_, _, res| {
        res.on_data(|_, _, _| {});
        if res_listener {
            let r = r.clone();
            res.on_error(move |_, _, _| r.set(r.get() + 1));
        }
    });
    let q = req_errs.clone();
    req.on_error(move |_, _, _| q.set(q.get() + 1));
    req.end("").unwrap();
    lp.run();
    assert_eq!(agent.connections(), 0);
    (res_errs.get(), req_errs.get())
}

#[test]
fn truncated_body_error_reported_exactly_once() {
    assert_eq!(truncated_case(true), (1, 0));
    assert_eq!(truncated_case(false), (0, 1));
}

#[test]
fn head_timeout_reports_once_and_closes() {
    let url = scripted(1, |_, mut s| {
        read_head(&mut s);
        drain_to_eof(&mut s);
    });
    let lp = Loop::new().unwrap();
    let mut config = AgentConfig::default();
    config.head_timeout = Some(Duration::from_millis(200));
    let agent = Agent::with_config(&lp, config);
    let req = agent.request(&lp, Method::GET, &url).unwrap();
    let errs = Rc::new(RefCell::new(Vec::new()));
    let e = errs.clone();
    req.on_error(move |_, _, err| e.borrow_mut().push(format!("{err:?}")));
    req.end("").unwrap();
    lp.run();
    assert_eq!(errs.borrow().len(), 1, "{:?}", errs.borrow());
    assert!(
        errs.borrow()[0].contains("timed out"),
        "{:?}",
        errs.borrow()
    );
    assert_eq!(agent.connections(), 0);
}

#[test]
fn get_to_a_closed_port_errors_once() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let lp = Loop::new().unwrap();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    http::get(&lp, &format!("http://127.0.0.1:{port}/"), move |_, r| {
        assert!(r.is_err());
        c.set(c.get() + 1);
    })
    .unwrap();
    lp.run();
    assert_eq!(calls.get(), 1);
}

// ---------------------------------------------------------------------
// Finding 6: a ClientResponse keeps a Weak to its connection after it
// completed; destroy()/pause() on that stale handle act on the
// connection now serving ANOTHER request (back in the pool, reused).

fn stale_response_case(action: &'static str) -> Result<(u16, Vec<u8>), String> {
    let url = scripted(2, |_, mut s| {
        for _ in 0..2 {
            if read_head(&mut s).is_empty() {
                return;
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbo")
                .unwrap();
            thread::sleep(Duration::from_millis(50));
            let _ = s.write_all(b"dy");
        }
        drain_to_eof(&mut s);
    });
    let (lp, agent, _ticker) = ticking_agent();
    let stash: Rc<RefCell<Option<http::ClientResponse>>> = Rc::default();
    let req = agent
        .request(&lp, Method::GET, &format!("{url}/first"))
        .unwrap();
    let s = stash.clone();
    req.on_response(move |_, _, res| {
        let s = s.clone();
        res.on_end(move |_, res| *s.borrow_mut() = Some(res.clone()));
    });
    req.end("").unwrap();
    assert!(run_until(&lp, 5, || stash.borrow().is_some()));
    assert_eq!(agent.idle_connections(), 1);
    let old = stash.borrow_mut().take().unwrap();
    // The next request reuses the connection; the old response's handle
    // is touched while the new body is in flight.
    let req = agent
        .request(&lp, Method::GET, &format!("{url}/second"))
        .unwrap();
    let out = collect_req(&req);
    req.on_response(move |_, _, _| {
        // After the new body started flowing.
        match action {
            "destroy" => old.destroy(),
            _ => old.pause(),
        }
    });
    req.end("").unwrap();
    if !run_until(&lp, 2, || out.borrow().is_some()) {
        return Err("hung".into());
    }
    let r = out.borrow_mut().take().unwrap();
    r
}

#[test]
fn stale_response_destroy_does_not_kill_the_next_request() {
    assert_eq!(stale_response_case("destroy"), Ok((200, b"body".to_vec())));
}

#[test]
fn stale_response_pause_does_not_stall_the_next_request() {
    assert_eq!(stale_response_case("pause"), Ok((200, b"body".to_vec())));
}

// ---------------------------------------------------------------------
// Finding 7: the retry of an idempotent request with Expect:
// 100-continue sends its body TWICE (once from the replay buffer, once
// from the held body): the second copy is read by the server as the
// start of another request.

#[test]
fn retried_expect_continue_request_sends_body_once() {
    let (tx, rx) = std::sync::mpsc::channel();
    let url = scripted(2, move |i, mut s| {
        if i == 0 {
            read_head(&mut s);
            s.write_all(OK_HI).unwrap();
            // The PUT's head arrives; the server closes the connection
            // without a byte of response (the idle-close race).
            read_head(&mut s);
            return;
        }
        let head = read_head(&mut s);
        assert!(
            head.starts_with(b"PUT /put "),
            "{}",
            String::from_utf8_lossy(&head)
        );
        let mut body = [0u8; 5];
        s.read_exact(&mut body).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut extra = vec![0u8; 64];
        let n = s.read(&mut extra).unwrap_or(0);
        extra.truncate(n);
        tx.send((body.to_vec(), extra)).unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nput")
            .unwrap();
        drain_to_eof(&mut s);
    });
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    let first = get_via(&lp, &agent, &url);
    assert_eq!(wait(&lp, &first, 5), Ok((200, b"hi".to_vec())));
    let req = agent
        .request(&lp, Method::PUT, &format!("{url}/put"))
        .unwrap();
    req.set_header("expect", "100-continue").unwrap();
    let out = collect_req(&req);
    req.end("hello").unwrap();
    assert_eq!(wait(&lp, &out, 5), Ok((200, b"put".to_vec())));
    let (body, extra) = rx.recv_timeout(Duration::from_secs(2)).unwrap();
    assert_eq!(body, b"hello");
    assert_eq!(
        String::from_utf8_lossy(&extra),
        "",
        "bytes after the body: the body went twice"
    );
}

// ---------------------------------------------------------------------
// Attack (passes): the server closes after a partial head or a partial
// chunk-size line: the request fails at once (no wait for a timeout).

fn truncated_at(resp: &'static [u8]) -> (Result<(u16, Vec<u8>), String>, Duration) {
    let url = scripted(1, move |_, mut s| {
        read_head(&mut s);
        s.write_all(resp).unwrap();
        // close
    });
    let lp = Loop::new().unwrap();
    let mut config = AgentConfig::default();
    config.head_timeout = Some(Duration::from_secs(3));
    config.idle_timeout = Some(Duration::from_secs(3));
    let agent = Agent::with_config(&lp, config);
    let t0 = Instant::now();
    let out = get_via(&lp, &agent, &url);
    let r = wait(&lp, &out, 5);
    (r, t0.elapsed())
}

#[test]
fn eof_after_partial_head_fails_promptly() {
    let (r, took) = truncated_at(b"HTTP/1.1 200 OK\r\nContent-Le");
    assert!(r.is_err());
    assert!(took < Duration::from_secs(1), "took {took:?}: {r:?}");
}

#[test]
fn eof_after_partial_chunk_size_fails_promptly() {
    let (r, took) =
        truncated_at(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n1");
    assert!(r.is_err());
    assert!(took < Duration::from_secs(1), "took {took:?}: {r:?}");
}

// Finding 4b: clear_listeners() never clears the request's `error`
// listeners, even after destroy(): an on_error closure holding its
// request is a cycle that nothing breaks.
#[test]
fn request_error_listener_released_after_destroy() {
    let token = Rc::new(());
    {
        let lp = Loop::new().unwrap();
        let agent = Agent::new(&lp);
        let req = agent
            .request(&lp, Method::GET, "http://127.0.0.1:9/")
            .unwrap();
        let (t, me) = (token.clone(), req.clone());
        req.on_error(move |_, _, _| {
            let _ = (&t, &me);
        });
        req.destroy();
        lp.run();
        drop((req, agent));
        drop(lp);
    }
    assert_eq!(
        Rc::strong_count(&token),
        1,
        "the destroyed request leaked through its error listener"
    );
}

/// A loop that wakes every 10 ms (so that `run_once` never blocks for
/// long), and an agent on it.
fn ticking_agent() -> (Loop, Agent, hinge::Timer) {
    let lp = Loop::new().unwrap();
    let ticker = hinge::Timer::new(
        &lp,
        Duration::from_millis(10),
        Duration::from_millis(10),
        |_, _| {},
    );
    let agent = Agent::new(&lp);
    (lp, agent, ticker)
}
