//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::cell::Cell;
use std::rc::Rc;

/// Counts how many times values it made were dropped.
#[derive(Clone, Default)]
pub struct DropCounter(Rc<Cell<usize>>);

/// Increments its counter when dropped; move it into a closure.
pub struct Token(Rc<Cell<usize>>);

impl DropCounter {
    pub fn token(&self) -> Token {
        Token(self.0.clone())
    }
    pub fn dropped(&self) -> usize {
        self.0.get()
    }
}

impl Token {
    /// Uses the token inside a closure, so the closure captures it.
    pub fn touch(&self) {}
}

impl Drop for Token {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// A shared counter for callbacks.
#[derive(Clone, Default)]
pub struct Hits(Rc<Cell<usize>>);

impl Hits {
    pub fn hit(&self) {
        self.0.set(self.0.get() + 1);
    }
    pub fn get(&self) -> usize {
        self.0.get()
    }
}

/// Runs the loop, failing the test if it has not returned after `secs`.
pub fn run_bounded(lp: &hinge::Loop, secs: u64) {
    use hinge::Watcher;
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    let guard = hinge::Timer::new(
        lp,
        std::time::Duration::from_secs(secs),
        std::time::Duration::ZERO,
        move |lp, _| {
            f.set(true);
            lp.break_all();
        },
    );
    guard.unref();
    lp.run();
    assert!(!fired.get(), "the loop was still running after {secs} s");
}

/// A listening hinge server on 127.0.0.1 with an ephemeral port.
pub fn local_server(lp: &hinge::Loop) -> (hinge::Server, u16) {
    let server = hinge::Server::new(lp);
    server.listen_on("127.0.0.1", 0).expect("listen");
    let port = server.local_addr().expect("bound").port();
    (server, port)
}

/// Open fds of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Resident set size of this process, in KiB.
pub fn rss_kib() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

/// Set by `.ci/leak-check`: RSS and timing figures mean nothing under valgrind.
pub fn under_valgrind() -> bool {
    std::env::var_os("HINGE_UNDER_VALGRIND").is_some()
}

/// A port on 127.0.0.1 where nothing listens (taken, then freed), for
/// connections that must be refused.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("an ephemeral port")
        .port()
}

/// A repeating timer that counts its calls and stops itself after `n`,
/// calling `each` with the count first; returns it and the count.
pub fn ticker(
    lp: &hinge::Loop,
    period: std::time::Duration,
    n: usize,
    mut each: impl FnMut(&hinge::Loop, usize) + 'static,
) -> (hinge::Timer, Hits) {
    use hinge::Watcher;
    let hits = Hits::default();
    let h = hits.clone();
    let timer = hinge::Timer::new(lp, std::time::Duration::ZERO, period, move |lp, t| {
        h.hit();
        each(lp, h.get());
        if h.get() >= n {
            t.stop();
        }
    });
    (timer, hits)
}

pub mod adversary;
pub mod close;
pub mod http;
pub mod process;
pub mod scripted;
pub mod task;
pub mod tls;

/// A loopback listener whose accept queue is full: a connect to its port
/// never completes (the SYN is dropped). Keep the value alive while it
/// is needed.
pub struct FullBacklog {
    pub port: u16,
    _listener: socket2::Socket,
    _fillers: Vec<socket2::Socket>,
}

pub fn full_backlog() -> FullBacklog {
    let listener =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    listener.listen(0).unwrap();
    let port = listener.local_addr().unwrap().as_socket().unwrap().port();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into());
        fillers.push(s);
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    FullBacklog {
        port,
        _listener: listener,
        _fillers: fillers,
    }
}
