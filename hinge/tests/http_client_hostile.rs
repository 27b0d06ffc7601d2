//! The HTTP client against scripted raw-socket servers: hostile and
//! broken responses (each a typed error on its request only, the
//! connection not reused), responses nobody asked for, the retry rule,
//! and every response split at every byte.

#![cfg(feature = "http")]

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use hinge::http::{self, Agent, Method};
use hinge::{Error, Loop};

mod common;
use common::scripted::{get_via, read_head, Outcome};

/// A server thread that runs `script` on each accepted connection, in
/// order, for `conns` connections. Returns the base URL.
fn scripted<F>(conns: usize, mut script: F) -> (String, thread::JoinHandle<()>)
where
    F: FnMut(usize, TcpStream) + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        for i in 0..conns {
            let (s, _) = listener.accept().unwrap();
            s.set_nodelay(true).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            script(i, s);
        }
    });
    (format!("http://127.0.0.1:{port}"), handle)
}

/// Waits (20 s at most) for `out`.
fn wait(lp: &Loop, out: &Outcome) -> Result<(u16, Vec<u8>), String> {
    common::scripted::wait(lp, out, 20)
}

#[test]
fn hostile_responses_are_typed_errors_on_their_request_only() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("malformed status line", b"HTTP/1.1 OK\r\n\r\n".to_vec()),
        ("not HTTP", b"SSH-2.0-OpenSSH\r\n\r\n".to_vec()),
        (
            "two Content-Lengths",
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_vec(),
        ),
        (
            "CL plus TE",
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n".to_vec(),
        ),
        (
            "a bad chunk size",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".to_vec(),
        ),
        ("a head that never ends", {
            let mut v = b"HTTP/1.1 200 OK\r\n".to_vec();
            for i in 0..5000 {
                v.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "y".repeat(40)).as_bytes());
            }
            v
        }),
        (
            "a body shorter than declared",
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this".to_vec(),
        ),
        (
            "a chunked body cut short",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab".to_vec(),
        ),
        ("nothing at all", Vec::new()),
    ];
    let n = cases.len();
    let answers: Vec<Vec<u8>> = cases.iter().map(|c| c.1.clone()).collect();
    // Connection n (after the hostile ones) is a good server.
    let (base, server) = scripted(n + 1, move |i, mut s| {
        read_head(&mut s);
        if i < answers.len() {
            let _ = s.write_all(&answers[i]);
        } else {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            read_head(&mut s);
        }
        // The connection closes (the client must not wait for more).
    });
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    for (what, _) in &cases {
        let got = wait(&lp, &get_via(&lp, &agent, &format!("{base}/")));
        let err = got.expect_err(what);
        assert!(err.contains("invalid HTTP response"), "{what}: {err}");
        assert_eq!(agent.idle_connections(), 0, "{what}: not reused");
    }
    // The agent still serves a good server afterwards.
    let got = wait(&lp, &get_via(&lp, &agent, &format!("{base}/")));
    assert_eq!(got.unwrap(), (200, b"ok".to_vec()));
    drop(agent);
    server.join().unwrap();
}

#[test]
fn a_response_nobody_asked_for_closes_the_idle_connection() {
    let (base, server) = scripted(2, |i, mut s| {
        read_head(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
            .unwrap();
        if i == 0 {
            thread::sleep(Duration::from_millis(100));
            // Unasked: a second response on the idle connection.
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nX");
            let _ = read_head(&mut s);
        }
    });
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    assert_eq!(
        wait(&lp, &get_via(&lp, &agent, &format!("{base}/")))
            .unwrap()
            .1,
        b"a"
    );
    assert_eq!(agent.idle_connections(), 1);
    let t = lp.set_timeout(Duration::from_millis(300), |_| {});
    while t.is_active() {
        lp.run_once();
    }
    assert_eq!(
        agent.idle_connections(),
        0,
        "the tainted connection is gone"
    );
    // The next request goes on a fresh connection and gets its own answer.
    assert_eq!(
        wait(&lp, &get_via(&lp, &agent, &format!("{base}/")))
            .unwrap()
            .1,
        b"a"
    );
    server.join().unwrap();
}

/// The server answers the first request, then closes the kept-alive
/// connection when the second arrives, without a byte; a third
/// connection answers.
fn closes_on_reuse() -> (String, thread::JoinHandle<()>) {
    scripted(2, |i, mut s| {
        read_head(&mut s);
        if i == 0 {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
                .unwrap();
            read_head(&mut s); // the second request: closed unanswered
        } else {
            let mut rest = [0u8; 64];
            let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
            let _ = s.read(&mut rest); // a body, if any
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
                .unwrap();
        }
    })
}

#[test]
fn an_idempotent_request_is_retried_when_a_reused_connection_closes_unanswered() {
    let (base, server) = closes_on_reuse();
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    assert_eq!(
        wait(&lp, &get_via(&lp, &agent, &format!("{base}/")))
            .unwrap()
            .1,
        b"first"
    );
    assert_eq!(
        wait(&lp, &get_via(&lp, &agent, &format!("{base}/")))
            .unwrap()
            .1,
        b"second"
    );
    server.join().unwrap();
}

#[test]
fn a_post_is_not_retried() {
    let (base, server) = closes_on_reuse();
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);
    assert_eq!(
        wait(&lp, &get_via(&lp, &agent, &format!("{base}/")))
            .unwrap()
            .1,
        b"first"
    );
    let out: Outcome = Rc::new(RefCell::new(None));
    let req = agent
        .request(&lp, Method::POST, &format!("{base}/"))
        .unwrap();
    let o = out.clone();
    req.on_error(move |_, _, e| *o.borrow_mut() = Some(Err(format!("{e:?}"))));
    let o = out.clone();
    req.on_response(move |_, _, res| *o.borrow_mut() = Some(Ok((res.status().as_u16(), vec![]))));
    req.end("data").unwrap();
    let err = wait(&lp, &out).unwrap_err();
    // The server closed with the body unread: a reset, or a plain close.
    assert!(
        err.contains("closed before a response") || err.contains("reset"),
        "{err}"
    );
    // Let the script's second connection finish.
    assert_eq!(
        wait(&lp, &get_via(&lp, &agent, &format!("{base}/")))
            .unwrap()
            .1,
        b"second"
    );
    server.join().unwrap();
}

#[test]
fn every_response_split_at_every_byte() {
    let responses: Vec<(&[u8], &[u8])> = vec![
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-A: b\r\n\r\nhello world",
            b"hello world",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
            b"hello world",
        ),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            b"ok",
        ),
        (b"HTTP/1.0 200 OK\r\n\r\nuntil the close", b"until the close"),
    ];
    let mut jobs = Vec::new();
    for (raw, body) in &responses {
        for cut in 1..raw.len() {
            jobs.push((raw.to_vec(), body.to_vec(), cut));
        }
    }
    let script: Vec<(Vec<u8>, usize)> = jobs.iter().map(|j| (j.0.clone(), j.2)).collect();
    let (base, server) = scripted(jobs.len(), move |i, mut s| {
        read_head(&mut s);
        let (raw, cut) = &script[i];
        s.write_all(&raw[..*cut]).unwrap();
        thread::sleep(Duration::from_millis(2));
        let _ = s.write_all(&raw[*cut..]);
        // Close: each case on its own connection.
    });
    let lp = Loop::new().unwrap();
    let mut config = http::AgentConfig::default();
    config.max_idle_per_host = 0;
    let agent = Agent::with_config(&lp, config);
    for (raw, body, cut) in &jobs {
        let got = wait(&lp, &get_via(&lp, &agent, &format!("{base}/")));
        let what = format!("{:?} cut at {cut}", String::from_utf8_lossy(raw));
        assert_eq!(got.expect(&what).1, *body, "{what}");
    }
    server.join().unwrap();
}

#[test]
fn errors_do_not_leak_to_other_requests() {
    // One bad server, one good hinge server, requests interleaved.
    let (bad, bad_server) = scripted(3, |_, mut s| {
        read_head(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab");
    });
    let lp = Loop::new().unwrap();
    let server = http::Server::new(&lp);
    server.on_request(|_, _, _, res| {
        res.end("good").ok();
    });
    server.listen_on("127.0.0.1", 0).unwrap();
    let good = format!("http://127.0.0.1:{}", server.local_addr().unwrap().port());
    let agent = Agent::new(&lp);
    let mut outs = Vec::new();
    for _ in 0..3 {
        outs.push((false, get_via(&lp, &agent, &format!("{bad}/"))));
        outs.push((true, get_via(&lp, &agent, &format!("{good}/"))));
    }
    for (ok, out) in outs {
        let got = wait(&lp, &out);
        if ok {
            assert_eq!(got.unwrap().1, b"good");
        } else {
            assert!(matches!(got, Err(e) if e.contains("invalid HTTP response")));
        }
    }
    bad_server.join().unwrap();
    let _ = Error::Closed { op: "" };
}
