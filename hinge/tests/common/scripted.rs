//! Scripted raw-socket HTTP servers and waits, for the HTTP client's
//! adversarial tests.

use std::cell::RefCell;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use hinge::http::{Agent, Method};
use hinge::Loop;

/// A server thread running `script` on each accepted connection, for
/// `conns` connections (the thread is detached: a test never blocks on it).
pub fn scripted<F>(conns: usize, mut script: F) -> String
where
    F: FnMut(usize, TcpStream) + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for i in 0..conns {
            let (s, _) = listener.accept().unwrap();
            s.set_nodelay(true).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            script(i, s);
        }
    });
    format!("http://127.0.0.1:{port}")
}

pub fn read_head(s: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => break,
        }
    }
    head
}

pub fn drain_to_eof(s: &mut TcpStream) {
    let mut b = [0u8; 4096];
    while let Ok(n) = s.read(&mut b) {
        if n == 0 {
            break;
        }
    }
}

pub type Outcome = Rc<RefCell<Option<Result<(u16, Vec<u8>), String>>>>;

/// Collects `req`'s response (status and body) or its error.
pub fn collect_req(req: &hinge::http::ClientRequest) -> Outcome {
    let out: Outcome = Rc::new(RefCell::new(None));
    let o = out.clone();
    req.on_response(move |_, _, res| {
        let o = o.clone();
        res.collect(1 << 20, move |_, res, body| {
            *o.borrow_mut() = Some(
                body.map(|b| (res.status().as_u16(), b))
                    .map_err(|e| format!("{e:?}")),
            );
        });
    });
    let o = out.clone();
    req.on_error(move |_, _, e| {
        o.borrow_mut().get_or_insert(Err(format!("{e:?}")));
    });
    out
}

/// GETs `url` through `agent`; the outcome fills in as the loop runs.
pub fn get_via(lp: &Loop, agent: &Agent, url: &str) -> Outcome {
    let req = agent.request(lp, Method::GET, url).unwrap();
    let out = collect_req(&req);
    req.end("").unwrap();
    out
}

pub fn run_until(lp: &Loop, secs: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        lp.run_once();
    }
    true
}

pub fn wait(lp: &Loop, out: &Outcome, secs: u64) -> Result<(u16, Vec<u8>), String> {
    assert!(run_until(lp, secs, || out.borrow().is_some()), "timed out");
    out.borrow_mut().take().unwrap()
}

/// A response with a two-byte body.
pub const OK_HI: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
