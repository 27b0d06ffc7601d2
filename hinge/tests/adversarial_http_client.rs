//! Adversarial review of the HTTP client, part 1: the seven findings of
//! a fresh-eyes review (each fixed in the library, each a test here):
//! callbacks that destroy or arrive late, tainted connections, leaks
//! through Rc cycles, the 100-continue wait on a reused connection.
//! Part 2 is adversarial_http_client_stages.rs. Loopback only, bounded.

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
// Finding 1: Expect: 100-continue on a REUSED connection never releases
// the body when the server does not send 100 (the stale KeepAlive
// deadline blocks the 1 s Continue timer).

#[test]
fn expect_continue_on_reused_connection_sends_body_after_wait() {
    let url = scripted(1, |_, mut s| {
        read_head(&mut s);
        s.write_all(OK_HI).unwrap();
        // Second request: head only, then the server waits for the body
        // without sending 100 (as RFC 9110 allows).
        read_head(&mut s);
        s.set_read_timeout(Some(Duration::from_millis(3500)))
            .unwrap();
        let mut body = [0u8; 5];
        match s.read_exact(&mut body) {
            Ok(()) => s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ngot").unwrap(),
            Err(_) => s.write_all(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap(),
        }
        drain_to_eof(&mut s);
    });
    let lp = Loop::new().unwrap();
    let mut config = AgentConfig::default();
    config.head_timeout = Some(Duration::from_secs(4));
    let agent = Agent::with_config(&lp, config);
    let first = get_via(&lp, &agent, &format!("{url}/a"));
    assert_eq!(wait(&lp, &first, 5).unwrap().0, 200);
    assert_eq!(agent.idle_connections(), 1);

    let req = agent
        .request(&lp, Method::POST, &format!("{url}/b"))
        .unwrap();
    req.set_header("expect", "100-continue").unwrap();
    let out = collect_req(&req);
    req.end("hello").unwrap();
    let got = wait(&lp, &out, 6);
    assert_eq!(
        got,
        Ok((200, b"got".to_vec())),
        "the held body must go after ~1 s on a reused connection too"
    );
}

// ---------------------------------------------------------------------
// Finding 2: res.destroy() (or collect's TooLarge) while the rest of the
// body is already buffered: the connection, its socket destroyed, is
// still released to the agent and handed to the next queued request,
// which then fails with Error::Closed instead of going out.

fn destroyed_conn_case(use_collect: bool) {
    let url = scripted(2, |i, mut s| {
        read_head(&mut s);
        if i == 0 {
            let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec();
            resp.extend_from_slice(&[b'x'; 100]);
            s.write_all(&resp).unwrap();
            drain_to_eof(&mut s);
        } else {
            s.write_all(OK_HI).unwrap();
            drain_to_eof(&mut s);
        }
    });
    let lp = Loop::new().unwrap();
    let mut config = AgentConfig::default();
    config.max_connections_per_host = 1;
    let agent = Agent::with_config(&lp, config);

    let first: Outcome = Rc::new(RefCell::new(None));
    let req = agent
        .request(&lp, Method::GET, &format!("{url}/big"))
        .unwrap();
    let o = first.clone();
    req.on_response(move |_, _, res| {
        let o = o.clone();
        if use_collect {
            res.collect(10, move |_, _, body| {
                *o.borrow_mut() = Some(body.map(|b| (0, b)).map_err(|e| format!("{e:?}")));
            });
        } else {
            res.on_data(move |_, res, _| {
                res.destroy();
                o.borrow_mut().get_or_insert(Err("destroyed".into()));
            });
        }
    });
    req.end("").unwrap();
    // Queued behind the first (one connection per host).
    let second = get_via(&lp, &agent, &format!("{url}/next"));
    let got = wait(&lp, &second, 5);
    assert!(first.borrow().as_ref().is_some_and(|r| r.is_err()));
    assert_eq!(
        got,
        Ok((200, b"hi".to_vec())),
        "the queued request must get a fresh connection"
    );
}

#[test]
fn res_destroy_mid_body_does_not_hand_dead_connection_to_queued_request() {
    destroyed_conn_case(false);
}

#[test]
fn collect_too_large_does_not_hand_dead_connection_to_queued_request() {
    destroyed_conn_case(true);
}

// ---------------------------------------------------------------------
// Finding 3: after res.destroy(), the response's listeners are never
// cleared (fail() returns early on FAILED), so a listener holding the
// response is an Rc cycle that outlives the loop.

#[test]
fn res_destroy_clears_response_listeners() {
    let url = scripted(1, |_, mut s| {
        read_head(&mut s);
        let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec();
        resp.extend_from_slice(&[b'x'; 100]);
        s.write_all(&resp).unwrap();
        drain_to_eof(&mut s);
    });
    let token = Rc::new(());
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    let req = agent.request(&lp, Method::GET, &url).unwrap();
    let t = token.clone();
    let destroyed = Rc::new(Cell::new(false));
    let d = destroyed.clone();
    req.on_response(move |_, _, res| {
        let (t, keep) = (t.clone(), res.clone());
        res.on_end(move |_, _| {
            let _ = (&t, &keep); // the response held by its own listener
        });
        let d = d.clone();
        res.on_data(move |_, res, _| {
            res.destroy();
            d.set(true);
        });
    });
    req.end("").unwrap();
    assert!(run_until(&lp, 5, || destroyed.get()));
    lp.run();
    drop((req, agent));
    drop(lp);
    assert_eq!(
        Rc::strong_count(&token),
        1,
        "the response and its listeners leaked (Rc cycle)"
    );
}

// ---------------------------------------------------------------------
// Finding 4: a request answered successfully keeps its listeners
// (finished() does not clear them), so a listener holding its request
// is an Rc cycle that outlives the exchange and the loop.

#[test]
fn request_listeners_are_released_after_a_successful_exchange() {
    let url = scripted(1, |_, mut s| {
        read_head(&mut s);
        s.write_all(OK_HI).unwrap();
        drain_to_eof(&mut s);
    });
    let token = Rc::new(());
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    let req = agent.request(&lp, Method::GET, &url).unwrap();
    let (t, me) = (token.clone(), req.clone());
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    req.on_response(move |_, _, res| {
        let _ = (&t, &me);
        let d = d.clone();
        res.on_end(move |_, _| d.set(true));
    });
    req.end("").unwrap();
    assert!(run_until(&lp, 5, || done.get()));
    assert!(req.is_finished());
    drop((req, agent));
    drop(lp);
    assert_eq!(
        Rc::strong_count(&token),
        1,
        "request listeners leaked after the exchange ended (Rc cycle)"
    );
}

// ---------------------------------------------------------------------
// Attack (passes): a panic in on_response surfaces from run(), the
// agent still works, and nothing leaks.

#[test]
fn panic_in_on_response_surfaces_and_does_not_leak() {
    let url = scripted(2, |_, mut s| {
        read_head(&mut s);
        s.write_all(OK_HI).unwrap();
        drain_to_eof(&mut s);
    });
    let token = Rc::new(());
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    let req = agent
        .request(&lp, Method::GET, &format!("{url}/p"))
        .unwrap();
    let t = token.clone();
    req.on_response(move |_, _, _| {
        let _ = &t;
        panic!("boom in on_response");
    });
    req.end("").unwrap();
    drop(req);
    let err = catch_unwind(AssertUnwindSafe(|| lp.run())).expect_err("run re-raises the panic");
    assert_eq!(
        err.downcast_ref::<&str>().copied(),
        Some("boom in on_response")
    );
    // The agent still serves.
    let next = get_via(&lp, &agent, &format!("{url}/after"));
    assert_eq!(wait(&lp, &next, 5), Ok((200, b"hi".to_vec())));
    lp.run();
    drop(agent);
    drop(lp);
    assert_eq!(
        Rc::strong_count(&token),
        1,
        "the panicked exchange leaked (conn <-> req cycle)"
    );
}

// ---------------------------------------------------------------------
// Finding 5: a late `end` listener on a response that has completed is
// replayed only while the connection is alive: after a
// `Connection: close` response it never fires.

#[test]
fn late_on_end_fires_after_connection_close_response() {
    let url = scripted(1, |_, mut s| {
        read_head(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
            .unwrap();
    });
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    let req = agent.request(&lp, Method::GET, &url).unwrap();
    let stash: Rc<RefCell<Option<http::ClientResponse>>> = Rc::default();
    let s = stash.clone();
    req.on_response(move |_, _, res| {
        res.resume(); // discard the body
        *s.borrow_mut() = Some(res.clone());
    });
    req.end("").unwrap();
    lp.run();
    let res = stash.borrow_mut().take().unwrap();
    assert!(res.is_complete());
    let ended = Rc::new(Cell::new(false));
    let e = ended.clone();
    res.on_end(move |_, _| e.set(true));
    run_until(&lp, 1, || ended.get());
    assert!(
        ended.get(),
        "on_end on a complete response must fire (as documented: 'soon')"
    );
}

// ---------------------------------------------------------------------
// Attack (passes): dropping the Loop (and every handle) with a request
// in flight frees it.

#[test]
fn dropping_the_loop_with_a_request_in_flight_frees_it() {
    let (tx, rx) = std::sync::mpsc::channel();
    let url = scripted(1, move |_, mut s| {
        read_head(&mut s);
        tx.send(()).unwrap();
        drain_to_eof(&mut s); // never answers
    });
    let token = Rc::new(());
    {
        let lp = Loop::new().unwrap();
        let agent = Agent::new(&lp);
        let req = agent.request(&lp, Method::GET, &url).unwrap();
        let t = token.clone();
        req.on_error(move |_, _, _| {
            let _ = &t;
        });
        req.end("").unwrap();
        assert!(run_until(&lp, 5, || rx.try_recv().is_ok()));
        drop((req, agent));
        drop(lp);
    }
    assert_eq!(
        Rc::strong_count(&token),
        1,
        "the in-flight request leaked after the loop was dropped"
    );
}

// ---------------------------------------------------------------------
// Finding 3b: res.destroy() while the body is still coming: the request
// is never finished (is_finished() stays false) and gets no event.

#[test]
fn res_destroy_mid_body_finishes_the_request() {
    let url = scripted(1, |_, mut s| {
        read_head(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nxxxx")
            .unwrap();
        drain_to_eof(&mut s);
    });
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    let req = agent.request(&lp, Method::GET, &url).unwrap();
    let destroyed = Rc::new(Cell::new(false));
    let d = destroyed.clone();
    req.on_response(move |_, _, res| {
        let d = d.clone();
        res.on_data(move |_, res, _| {
            res.destroy();
            d.set(true);
        });
    });
    req.end("").unwrap();
    assert!(run_until(&lp, 5, || destroyed.get()));
    lp.run();
    assert_eq!(agent.connections(), 0);
    assert!(
        req.is_finished(),
        "the exchange is over once its response is destroyed"
    );
}
