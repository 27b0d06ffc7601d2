//! `echo_server --threads N` and `http_echo --threads N` as real
//! processes: the same contract as one loop, on N loops sharing a port,
//! with connections landing on more than one of them.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::ChildStdout;

mod common;
use common::process::*;

/// Loops per example, and connections to spread over them: all of them
/// on one loop would be a 1 in 2^47 chance.
const LOOPS: usize = 2;
const CLIENTS: usize = 48;

/// Reads the example's output until `n` lines contain `marker`.
fn wait_for_lines(out: &mut BufReader<ChildStdout>, marker: &str, n: usize) -> String {
    let mut seen = 0;
    let mut text = String::new();
    while seen < n {
        let mut line = String::new();
        let read = out.read_line(&mut line).unwrap();
        assert!(read > 0, "the example ended early:\n{text}{line}");
        seen += usize::from(line.contains(marker));
        text.push_str(&line);
    }
    text
}

/// Starts `example` with `loops` loops on a free port (then `more`
/// arguments), and waits until each listens; returns it, its port and
/// the rest of its output.
fn start_loops(
    example: &str,
    loops: usize,
    more: &[&str],
) -> (Running, u16, BufReader<ChildStdout>) {
    let port = free_port();
    let (p, threads) = (port.to_string(), loops.to_string());
    let args = [&[p.as_str()], more, &["--threads", &threads]].concat();
    let mut server = start(example, &args);
    let mut out = BufReader::new(server.0.stdout.take().unwrap());
    wait_for_lines(&mut out, "listening on", loops);
    (server, port, out)
}

/// `loop I served N connections` for each loop, from the output.
fn served_per_loop(out: &str, loops: usize) -> Vec<usize> {
    (0..loops)
        .map(|i| {
            let prefix = format!("loop {i} served ");
            let line = out
                .lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no {prefix:?} in:\n{out}"));
            line[prefix.len()..]
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("bad count: {line}"))
        })
        .collect()
}

#[test]
fn echo_server_threads_echoes_on_every_loop_and_stops_on_sigterm() {
    let (server, port, out) = start_loops("echo_server", LOOPS, &[]);
    for i in 0..CLIENTS {
        let mut c = connect(port);
        let line = format!("hello {i}\n");
        c.write_all(line.as_bytes()).unwrap();
        let mut back = vec![0; line.len()];
        c.read_exact(&mut back).unwrap();
        assert_eq!(back, line.as_bytes());
    }
    // One client stays connected: the stop closes it gracefully.
    let mut last = connect(port);
    last.write_all(b"still here\n").unwrap();
    let mut back = [0u8; 11];
    last.read_exact(&mut back).unwrap();
    let rest = terminate_reading(server, out);
    let mut end = Vec::new();
    last.read_to_end(&mut end).unwrap(); // closed by the server
    assert!(rest.contains("shutting down"), "{rest}");
    let served = served_per_loop(&rest, LOOPS);
    assert_eq!(served.iter().sum::<usize>(), CLIENTS + 1, "{rest}");
    assert!(
        served.iter().all(|&n| n > 0),
        "one loop took all: {served:?}"
    );
}

#[test]
fn http_echo_threads_answers_on_every_loop_and_stops_on_sigterm() {
    let (server, port, out) = start_loops("http_echo", LOOPS, &[]);
    let hello = format!("http://127.0.0.1:{port}/hello");
    for _ in 0..CLIENTS {
        assert_eq!(curl(&[&hello]), b"Hello world!");
    }
    // A streamed echo, as in the one-loop contract.
    let body = curl(&[
        "--data-binary",
        "posted through some loop",
        &format!("http://127.0.0.1:{port}/echo"),
    ]);
    assert_eq!(body, b"posted through some loop");
    let rest = terminate_reading(server, out);
    let served = served_per_loop(&rest, LOOPS);
    assert_eq!(served.iter().sum::<usize>(), CLIENTS + 1, "{rest}");
    assert!(
        served.iter().all(|&n| n > 0),
        "one loop took all: {served:?}"
    );
}

#[cfg(feature = "tls")]
#[test]
fn https_echo_threads_answers_over_tls_on_every_loop() {
    let c = common::tls::certs();
    let (cert, key, ca) = (c.cert(), c.key(), c.ca());
    let (cert, key, ca) = (
        common::tls::Certs::s(&cert),
        common::tls::Certs::s(&key),
        common::tls::Certs::s(&ca),
    );
    let (server, port, out) = start_loops("https_echo", LOOPS, &[cert, key]);
    let hello = format!("https://localhost:{port}/hello");
    for _ in 0..CLIENTS {
        assert_eq!(curl(&["--cacert", ca, &hello]), b"Hello world!");
    }
    let rest = terminate_reading(server, out);
    let served = served_per_loop(&rest, LOOPS);
    assert_eq!(served.iter().sum::<usize>(), CLIENTS, "{rest}");
    assert!(
        served.iter().all(|&n| n > 0),
        "one loop took all: {served:?}"
    );
}

#[test]
fn one_thread_is_the_single_loop_of_before() {
    let (server, port, out) = start_loops("echo_server", 1, &[]);
    let mut c = connect(port);
    c.write_all(b"one\n").unwrap();
    let mut back = [0u8; 4];
    c.read_exact(&mut back).unwrap();
    drop(c);
    let rest = terminate_reading(server, out);
    assert!(rest.contains("loop 0 served 1 connections"), "{rest}");
    assert!(!rest.contains("loop 1"), "{rest}");
}

#[test]
fn a_bad_thread_count_is_a_usage_error() {
    for example in ["echo_server", "http_echo", "https_echo"] {
        let status = std::process::Command::new(self::example(example))
            .args(["--threads", "zero"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(2), "{example}");
    }
}
