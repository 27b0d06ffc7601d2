//! `http_proxy` as a real process, in front of a hinge server on its own
//! thread: 100 MB each way through it with a slow client and bounded
//! memory, 502 for an unreachable or broken upstream, 504 for a slow one.
#![cfg(feature = "http")]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hinge::http;
use hinge::Loop;

mod common;
use common::process::*;

/// 100 MB each way; 10 MB under valgrind (`.ci/leak-check`), where the
/// upstream in this process runs 50 times slower.
fn body_size() -> usize {
    if common::under_valgrind() {
        10_000_000
    } else {
        100_000_000
    }
}

/// An upstream on its own thread and loop: `/echo` streams the body
/// back with backpressure, `/big?N` sends N bytes, `/slow` never
/// answers, anything else says hello. No body limit.
fn upstream() -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let lp = Loop::new().unwrap();
        let mut config = http::Config::default();
        config.max_body_bytes = u64::MAX;
        let server = http::Server::with_config(&lp, config);
        server.on_request(|lp, _, req, res| match req.path() {
            "/echo" => {
                let (r, q) = (res.clone(), req.clone());
                req.on_data(move |_, _, b| {
                    if !r.write(b).unwrap_or(true) {
                        q.pause();
                    }
                });
                let q = req.clone();
                res.on_drain(move |_, _| q.resume());
                req.on_end(move |_, _| {
                    res.end("").ok();
                });
            }
            "/big" => {
                let total: usize = req.query().and_then(|q| q.parse().ok()).unwrap_or(0);
                let sent = std::rc::Rc::new(std::cell::Cell::new(0usize));
                let chunk = vec![b'z'; 64 * 1024];
                let pump = move |res: &http::Response| {
                    while sent.get() < total {
                        let n = chunk.len().min(total - sent.get());
                        sent.set(sent.get() + n);
                        if !res.write(&chunk[..n]).unwrap_or(false) {
                            return;
                        }
                    }
                    res.end("").ok();
                };
                res.set_header("content-length", total.to_string()).ok();
                let p = pump.clone();
                res.on_drain(move |_, res| p(res));
                pump(&res);
            }
            "/slow" => {
                // Kept unanswered (the thread's loop outlives the test).
                lp.set_timeout(Duration::from_secs(3600), move |_| drop(res))
                    .unref();
            }
            _ => {
                res.end("hello from upstream").ok();
            }
        });
        server.listen_on("127.0.0.1", 0).unwrap();
        tx.send(server.local_addr().unwrap().port()).unwrap();
        lp.run();
    });
    rx.recv().unwrap()
}

fn proxy(upstream_url: &str) -> (Running, u16) {
    let port = free_port();
    let child = Command::new(example("http_proxy"))
        .args([&port.to_string(), upstream_url, "--quiet"])
        .env("PROXY_TIMEOUT_MS", "500")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start http_proxy");
    let running = Running(child);
    drop(connect(port));
    (running, port)
}

fn peak_rss_kib(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap()
}

/// Reads a response head; returns (status line, headers text).
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "closed in the head");
        head.push(b[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Reads `n` body bytes slowly (a pause every 256 KiB), checking them.
fn read_slowly(s: &mut TcpStream, n: usize, byte: u8) {
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let mut since_pause = 0;
    while got < n {
        let want = (n - got).min(buf.len());
        let k = s.read(&mut buf[..want]).unwrap();
        assert!(k > 0, "closed after {got} of {n} bytes");
        assert!(buf[..k].iter().all(|&c| c == byte));
        got += k;
        since_pause += k;
        if since_pause >= 256 * 1024 {
            since_pause = 0;
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

#[test]
fn a_hundred_megabytes_each_way_with_a_slow_client_in_bounded_memory() {
    let up = upstream();
    let (proxy_proc, port) = proxy(&format!("http://127.0.0.1:{up}"));
    let pid = proxy_proc.0.id();
    let start = Instant::now();
    let hundred_mb = body_size();

    // Upload 100 MB, echoed back through the proxy while it is sent.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        write!(
            w,
            "POST /echo HTTP/1.1\r\nHost: proxy\r\nContent-Length: {hundred_mb}\r\n\r\n"
        )
        .unwrap();
        let chunk = vec![b'u'; 64 * 1024];
        let mut left = hundred_mb;
        while left > 0 {
            let n = chunk.len().min(left);
            w.write_all(&chunk[..n]).unwrap();
            left -= n;
        }
    });
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    // The chunked body, decoded by hand: sizes, data, CRLF.
    let mut got = 0usize;
    loop {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            s.read_exact(&mut b).unwrap();
            line.push(b[0]);
        }
        let size = usize::from_str_radix(std::str::from_utf8(&line[..line.len() - 2]).unwrap(), 16)
            .unwrap();
        if size == 0 {
            break;
        }
        read_slowly(&mut s, size, b'u');
        let mut crlf = [0u8; 2];
        s.read_exact(&mut crlf).unwrap();
        got += size;
    }
    writer.join().unwrap();
    assert_eq!(got, hundred_mb);

    // Download 100 MB: Content-Length passes through.
    write!(s, "GET /big?{hundred_mb} HTTP/1.1\r\nHost: proxy\r\n\r\n").unwrap();
    let head = read_head(&mut s);
    assert!(
        head.contains(&format!("content-length: {hundred_mb}")),
        "{head}"
    );
    read_slowly(&mut s, hundred_mb, b'z');

    let peak = peak_rss_kib(pid);
    eprintln!("http_proxy peaked at {peak} KiB");
    assert!(peak < 48 * 1024, "the proxy peaked at {peak} KiB");
    assert!(start.elapsed() < Duration::from_secs(120));
}

#[test]
fn bad_gateways_and_timeouts() {
    // Nobody listens upstream: 502.
    let (_p, port) = proxy(&format!("http://127.0.0.1:{}", common::closed_port()));
    let (status, _) = run_curl(&[
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://127.0.0.1:{port}/"),
    ]);
    assert_eq!(status, b"502");

    // A slow upstream: 504 after PROXY_TIMEOUT_MS; a good path still works.
    let up = upstream();
    let (_p, port) = proxy(&format!("http://127.0.0.1:{up}"));
    let (status, _) = run_curl(&[
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://127.0.0.1:{port}/slow"),
    ]);
    assert_eq!(status, b"504");
    assert_eq!(
        curl(&[&format!("http://127.0.0.1:{port}/hi")]),
        b"hello from upstream"
    );

    // A broken upstream: 502, and the proxy keeps serving.
    let bad = TcpListener::bind("127.0.0.1:0").unwrap();
    let bad_port = bad.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (mut s, _) = bad.accept().unwrap();
        let mut b = [0u8; 4096];
        let _ = s.read(&mut b);
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
    });
    let (_p, port) = proxy(&format!("http://127.0.0.1:{bad_port}"));
    let (status, _) = run_curl(&[
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://127.0.0.1:{port}/"),
    ]);
    assert_eq!(status, b"502");
    t.join().unwrap();
}
