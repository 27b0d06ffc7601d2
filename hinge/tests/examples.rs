//! The examples, started as real processes and driven over TCP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::process::*;

#[test]
fn echo_server_quickstart() {
    let port = free_port();
    let mut server = start("echo_server", &[&port.to_string()]);
    let mut c = connect(port);
    c.write_all(b"hello\n").unwrap();
    let mut buf = [0u8; 6];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello\n");
    drop(c);
    std::thread::sleep(Duration::from_millis(100));
    // SIGTERM: a clean exit.
    let out = terminate(&mut server);
    for line in [
        "listening on",
        "new client",
        "echoing 6 bytes",
        "data written",
        "left",
        "shutting down",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

/// An echo example started `--quiet`: 8 MiB written without reading for
/// a while all comes back (it paused reading rather than drop or buffer
/// without bound).
fn quiet_echo_honours_backpressure(example: &str) {
    let port = free_port();
    let _server = start(example, &[&port.to_string(), "--quiet"]);
    let c = connect(port);
    // Write 8 MiB without reading for a while, then read it all back.
    let mut w = c.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..128 {
            w.write_all(&chunk).unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut r = c;
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while total < 8 * 1024 * 1024 {
        let n = r.read(&mut buf).unwrap();
        assert!(n > 0);
        total += n;
    }
    writer.join().unwrap();
    assert_eq!(total, 8 * 1024 * 1024);
}

#[test]
fn echo_server_quiet_honours_backpressure() {
    quiet_echo_honours_backpressure("echo_server");
}

#[test]
fn pingpong_protocol() {
    let port = free_port();
    let mut server = start("pingpong", &[&port.to_string()]);
    let c = connect(port);
    let mut reader = BufReader::new(c.try_clone().unwrap());
    let mut w = c;
    let mut line = String::new();
    w.write_all(b"PING\n").unwrap();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "PONG\n");
    line.clear();
    w.write_all(b"RANDOM\n").unwrap();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("Random: "), "{line}");
    // An unknown command: refused and disconnected.
    let other = connect(port);
    let mut other_reader = BufReader::new(other.try_clone().unwrap());
    (&other).write_all(b"HELLO\n").unwrap();
    line.clear();
    other_reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("Unknown command"), "{line}");
    line.clear();
    assert_eq!(
        other_reader.read_line(&mut line).unwrap(),
        0,
        "disconnected"
    );
    // DIE ends the loop and the process.
    w.write_all(b"DIE\n").unwrap();
    let status = wait_exit(&mut server.0, 10);
    assert!(status.success());
}

#[test]
fn async_work_success_and_failure_paths() {
    let port = free_port();
    let _server = start("async_work", &[&port.to_string()]);
    let c = connect(port);
    let mut reader = BufReader::new(c.try_clone().unwrap());
    let mut w = c;
    let mut line = String::new();
    w.write_all(b"4\n").unwrap();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "334.25\n");
    line.clear();
    w.write_all(b"0\n").unwrap();
    reader.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("error: ") && line.contains("divide by zero"),
        "{line}"
    );
}

#[test]
fn tcp_client_talks_to_echo_server() {
    let port = free_port();
    let _server = start("echo_server", &[&port.to_string(), "--quiet"]);
    drop(connect(port)); // wait until it listens
    let out = Command::new(example("tcp_client"))
        .args(["127.0.0.1", &port.to_string(), "one call"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "reply: one call\n");
}

#[test]
fn timers_example_runs_to_completion() {
    let out = Command::new(example("timers")).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches(" tick ").count(), 4, "{text}");
    assert!(
        text.contains("timeout fired") && text.contains("run returned"),
        "{text}"
    );
}

#[test]
fn echo_server_shuts_down_gracefully_on_ctrl_c_with_a_client_connected() {
    let port = free_port();
    let mut server = start("echo_server", &[&port.to_string()]);
    let mut c = connect(port);
    c.write_all(b"last words\n").unwrap();
    let mut buf = [0u8; 11];
    c.read_exact(&mut buf).unwrap();
    // SIGINT while the client is still connected: the server stops
    // listening, closes the client, and run() returns on its own.
    signal(&server.0, "-INT");
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap(); // EOF: closed by the server
    assert!(rest.is_empty());
    let status = wait_exit(&mut server.0, 10);
    assert!(status.success(), "{status:?}");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn ping_client_pings_pingpong_on_an_interval() {
    let port = free_port();
    let _server = start("pingpong", &[&port.to_string()]);
    drop(connect(port)); // wait until it listens
    let out = Command::new(example("ping_client"))
        .args(["127.0.0.1", &port.to_string(), "3"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("PONG in ").count(), 3, "{text}");
    assert!(text.ends_with("closed\n"), "{text}");
}

#[test]
fn custom_emitter_example_prints_its_events() {
    let out = Command::new(example("custom_emitter")).output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "reading: 21.5 C\nreading: 28.0 C\nreading: 31.5 C\n\
         alarm: 31.5 C is over 30.0 C\nreading: 33.0 C\nreading: 29.0 C\n\
         1 reading listener(s) left\n"
    );
}

#[cfg(feature = "zmq")]
mod zmq_examples {
    use super::*;
    use std::process::Child;
    use std::time::Instant;

    fn zmq_endpoint(name: &str) -> String {
        let path = std::env::temp_dir().join(format!("hinge-ex-{}-{name}", std::process::id()));
        format!("ipc://{}", path.display())
    }

    /// Reads the child's stdout until `lines` lines have come, or 10 s.
    fn read_lines(child: &mut Child, lines: usize) -> Vec<String> {
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(out)
                .lines()
                .take(lines)
                .map(|l| l.unwrap())
                .collect::<Vec<_>>()
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while !reader.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            reader.is_finished(),
            "the example printed fewer than {lines} lines"
        );
        reader.join().unwrap()
    }

    #[test]
    fn zmq_echo_answers_req_and_dealer_clients() {
        let endpoint = zmq_endpoint("echo");
        let _server = start("zmq_echo", &[&endpoint]);
        let ctx = zmq::Context::new();
        let req = ctx.socket(zmq::REQ).unwrap();
        req.set_rcvtimeo(10_000).unwrap();
        req.connect(&endpoint).unwrap();
        req.send("ping", 0).unwrap();
        assert_eq!(req.recv_multipart(0).unwrap(), [b"ping".to_vec()]);
        let dealer = ctx.socket(zmq::DEALER).unwrap();
        dealer.set_rcvtimeo(10_000).unwrap();
        dealer.connect(&endpoint).unwrap();
        dealer.send_multipart(["a", "", "c"], 0).unwrap();
        assert_eq!(
            dealer.recv_multipart(0).unwrap(),
            [b"a".to_vec(), b"".to_vec(), b"c".to_vec()]
        );
    }

    #[test]
    fn zmq_divide_serves_and_sends() {
        let endpoint = zmq_endpoint("divide");
        let mut server = start("zmq_divide", &[&endpoint]);
        std::thread::sleep(Duration::from_millis(200));
        for n in ["4", "0", "abc"] {
            let status = Command::new(example("zmq_divide"))
                .args([&endpoint, "--send", n])
                .status()
                .unwrap();
            assert!(status.success());
        }
        let lines = read_lines(&mut server.0, 10);
        let text = lines.join("\n");
        assert!(
            text.contains("Got 4") && text.contains("Result: 334.25"),
            "{text}"
        );
        assert!(text.contains("Error: cannot divide by zero"), "{text}");
        assert!(text.contains("Error: \"abc\" is not a number"), "{text}");
        assert!(text.contains("dividing on hinge-pool-"), "{text}");
    }

    #[test]
    fn zmq_pause_holds_the_backlog_and_delivers_it_on_resume() {
        let endpoint = zmq_endpoint("pause");
        let mut server = start(
            "zmq_pause",
            &["--endpoint", &endpoint, "--interval-ms", "50"],
        );
        std::thread::sleep(Duration::from_millis(300));
        let command = |c: &str| {
            let status = Command::new(example("zmq_pause"))
                .args(["--endpoint", &endpoint, "--command", c])
                .status()
                .unwrap();
            assert!(status.success());
        };
        command("pause");
        std::thread::sleep(Duration::from_millis(500));
        command("resume");
        std::thread::sleep(Duration::from_millis(300));
        let _ = server.0.kill();
        let out = stdout_of(&mut server);
        let lines: Vec<&str> = out.lines().collect();
        let paused = lines.iter().position(|l| *l == "pausing").expect("paused");
        let resumed = lines
            .iter()
            .position(|l| *l == "resuming")
            .expect("resumed");
        assert_eq!(resumed, paused + 1, "nothing printed while paused:\n{out}");
        let backlog = lines[resumed + 1..]
            .iter()
            .filter(|l| l.starts_with("got time"))
            .count();
        assert!(backlog >= 8, "the backlog arrived on resume:\n{out}");
    }
}

#[test]
fn http_echo_with_curl() {
    let port = free_port();
    let _server = start("http_echo", &[&port.to_string(), "--quiet"]);
    drop(connect(port));
    let base = format!("http://127.0.0.1:{port}");
    // Keep-alive: curl reuses one connection for three URLs.
    let log = curl_verbose(&[
        &format!("{base}/"),
        &format!("{base}/hello"),
        &format!("{base}/chunked"),
    ]);
    assert!(
        log.contains("Hello world!Hello world!Hello chunk one!\nHello chunk two!\nHello world!\n"),
        "{log}"
    );
    assert_eq!(
        log.matches("Re-using existing connection").count(),
        2,
        "{log}"
    );
    assert!(log.contains("< content-length: 12"), "{log}");
    assert!(log.contains("< transfer-encoding: chunked"), "{log}");
    // HEAD: the same headers, no body.
    let head = curl_verbose(&["-I", &format!("{base}/hello")]);
    assert!(
        head.contains("content-length: 12") && !head.contains("Hello world!"),
        "{head}"
    );
    assert!(curl_verbose(&[&format!("{base}/nope")]).contains("< HTTP/1.1 404"));

    // 32 MiB up and back, by length and chunked.
    let dir = std::env::temp_dir().join(format!("hinge-curl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("upload.bin");
    let mut data = vec![0u8; 32 << 20];
    let mut x = 0x9e37_79b9_u32;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    std::fs::write(&file, &data).unwrap();
    let upload = format!("@{}", file.display());
    let echoed = curl(&["--data-binary", &upload, &format!("{base}/echo")]);
    assert!(
        echoed == data,
        "the 32 MiB echo differs ({} bytes back)",
        echoed.len()
    );
    let echoed = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &upload,
        &format!("{base}/echo"),
    ]);
    assert!(
        echoed == data,
        "the chunked echo differs ({} bytes back)",
        echoed.len()
    );
    // A body over the limit is refused at once, before it is sent.
    let refused = curl_verbose(&[
        "-H",
        "Content-Length: 4294967296",
        "-H",
        "Expect:",
        "--data-binary",
        "x",
        &format!("{base}/echo"),
    ]);
    assert!(refused.contains("< HTTP/1.1 413"), "{refused}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn http_hello_answers_from_the_pool() {
    let port = free_port();
    let _server = start("http_hello", &[&port.to_string()]);
    drop(connect(port));
    let body = curl(&[&format!("http://127.0.0.1:{port}/")]);
    let body = String::from_utf8(body).unwrap();
    assert!(
        body.starts_with("Hello world! [") && body.ends_with("]\n"),
        "{body:?}"
    );
}

#[test]
fn http_chunked_sends_three_chunks_and_more() {
    let port = free_port();
    let _server = start("http_chunked", &[&port.to_string()]);
    let mut c = connect(port);
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    c.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    assert!(
        raw.contains("content-type: text/html\r\n")
            && raw.contains("transfer-encoding: chunked\r\n")
    );
    let body = raw.split_once("\r\n\r\n").unwrap().1;
    assert_eq!(body, "10\r\nHello chunk one!\r\n1\r\n\n\r\n10\r\nHello chunk two!\r\n1\r\n\n\r\nd\r\nHello world!\n\r\n0\r\n\r\n");
}

#[test]
fn http_echo_quiet_prints_nothing_for_a_refused_request() {
    let port = free_port();
    let mut server = Command::new(example("http_echo"))
        .args([&port.to_string(), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("http_echo is built by cargo test");
    drop(connect(port));
    // A body over the limit: refused with 413, reported unless quiet.
    let mut c = connect(port);
    c.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4294967296\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let _ = server.kill();
    let out = server.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "--quiet is quiet");
}

#[test]
fn async_echo_behaves_as_echo_server() {
    let port = free_port();
    let mut server = start("async_echo", &[&port.to_string()]);
    let mut c = connect(port);
    c.write_all(b"hello\n").unwrap();
    let mut buf = [0u8; 6];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello\n");
    // A second client at the same time: one task each.
    let mut d = connect(port);
    d.write_all(b"other\n").unwrap();
    d.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"other\n");
    drop(c);
    std::thread::sleep(Duration::from_millis(100));
    let out = terminate(&mut server);
    for line in [
        "listening on",
        "new client",
        "echoing 6 bytes",
        "left",
        "shutting down",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    // Both clients left: the one that ended, and the one the shutdown closed.
    assert_eq!(out.matches(" left").count(), 2, "{out}");
}

#[test]
fn async_echo_quiet_honours_backpressure() {
    quiet_echo_honours_backpressure("async_echo");
}

/// `ws_echo`: the HTTP side with curl, the WebSocket side with a real
/// client, Python's `websockets` (.ci/run installs it).
#[cfg(all(feature = "async", feature = "http"))]
mod ws_examples {
    use super::*;

    /// Runs `body` as the inside of `async def main()` in Python, with
    /// `connect`, `ConnectionClosed` and `URL` in scope; at most 60 s.
    /// Returns the client's stdout.
    fn python_ws(port: u16, body: &str) -> String {
        let out = python_ws_command(port, body)
            .output()
            .unwrap_or_else(|e| panic!("python3 is needed (.ci/run installs it): {e}"));
        check_python(&out.status, &out.stdout, &out.stderr);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn python_ws_command(port: u16, body: &str) -> Command {
        let body: String = body.lines().map(|l| format!("    {l}\n")).collect();
        let script = format!(
            "import asyncio, sys\n\
             try:\n    \
                 from websockets.asyncio.client import connect\n    \
                 from websockets.exceptions import ConnectionClosed\n\
             except ImportError as e:\n    \
                 print(e, file=sys.stderr)\n    \
                 sys.exit(3)\n\
             URL = 'ws://127.0.0.1:{port}/ws'\n\
             async def main():\n{body}\n\
             asyncio.run(asyncio.wait_for(main(), 30))\n"
        );
        let mut cmd = Command::new("timeout");
        cmd.args(["60", "python3", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// A missing module fails the test, with what to do.
    fn check_python(status: &std::process::ExitStatus, stdout: &[u8], stderr: &[u8]) {
        let stderr = String::from_utf8_lossy(stderr);
        match status.code() {
            Some(0) => {}
            Some(3) => panic!(
                "python3 has no `websockets` module (13 or newer, for its asyncio client): \
                 run `python3 -m pip install websockets` (.ci/run does)\n{stderr}"
            ),
            Some(124) => panic!("the WebSocket client ran over 60 s\n{stderr}"),
            Some(127) => panic!("python3 is not installed (.ci/run installs it)"),
            _ => panic!(
                "the WebSocket client failed ({status:?}):\n{}{stderr}",
                String::from_utf8_lossy(stdout)
            ),
        }
    }

    /// Starts `ws_echo` on a port of its choosing (no race with other
    /// programs for a free port) and returns it, with the rest of its output.
    fn start_ws_echo() -> (Running, u16, BufReader<std::process::ChildStdout>) {
        let mut server = start("ws_echo", &["0"]);
        let mut out = BufReader::new(server.0.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let port = line
            .trim_end()
            .strip_prefix("ws_echo listening on http://127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("ws_echo did not listen: {line:?}"));
        (server, port, out)
    }

    #[test]
    fn ws_echo_serves_the_page_and_refuses_bad_handshakes() {
        let (server, port, log) = start_ws_echo();
        let page = curl_verbose(&[&format!("http://127.0.0.1:{port}/")]);
        assert!(page.contains("< HTTP/1.1 200 OK"), "{page}");
        assert!(page.contains("< content-type: text/html"), "{page}");
        assert!(
            page.contains("new WebSocket(`ws://${location.host}/ws`)"),
            "{page}"
        );
        let missing = curl_verbose(&[&format!("http://127.0.0.1:{port}/nope")]);
        assert!(missing.contains("< HTTP/1.1 404"), "{missing}");
        // An upgrade that is not a WebSocket version 13 handshake: 400.
        let mut c = connect(port);
        c.write_all(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
        )
        .unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
        terminate_reading(server, log);
    }

    #[test]
    fn ws_echo_echoes_text_binary_and_a_mebibyte_to_python_websockets() {
        let (server, port, log) = start_ws_echo();
        let out = python_ws(
            port,
            r#"async with connect(URL, max_size=None, proxy=None) as ws:
    await ws.send("hello, hinge ✓")
    print("text", await ws.recv() == "hello, hinge ✓")
    await ws.send(b"\x00\x01\xfe\xff")
    print("binary", await ws.recv() == b"\x00\x01\xfe\xff")
    big = bytes(i * 7 % 251 for i in range(1 << 20))
    await ws.send(big)
    print("1MiB", await ws.recv() == big)"#,
        );
        assert_eq!(out, "text True\nbinary True\n1MiB True\n");
        terminate_reading(server, log);
    }

    #[test]
    fn ws_echo_answers_a_ping_and_completes_the_close_handshake() {
        let (server, port, log) = start_ws_echo();
        let out = python_ws(
            port,
            r#"ws = await connect(URL, proxy=None)
pong = await ws.ping(b"are you there")
await asyncio.wait_for(pong, 10)
print("pong")
await ws.close()
print("closed", ws.close_code, repr(ws.close_reason))"#,
        );
        assert_eq!(out, "pong\nclosed 1000 ''\n");
        // The server saw the close handshake, not an error.
        let printed = terminate_reading(server, log);
        assert!(
            printed.contains(" open\n") && printed.contains(" closed\n"),
            "{printed}"
        );
    }

    #[test]
    fn ws_echo_takes_16_mib_and_closes_a_17_mib_message_with_1009() {
        let (server, port, log) = start_ws_echo();
        let out = python_ws(
            port,
            r#"ws = await connect(URL, max_size=None, proxy=None)
full = bytes([0x5a]) * (16 << 20)
await ws.send(full)
print("16MiB", await ws.recv() == full)
try:
    await ws.send(bytes(17 << 20))
    await ws.recv()
    print("not closed")
except ConnectionClosed as e:
    print("closed", e.rcvd and e.rcvd.code, e.rcvd and e.rcvd.reason)"#,
        );
        assert_eq!(out, "16MiB True\nclosed 1009 message too big\n");
        terminate_reading(server, log);
    }

    /// Masks `payload` into a client frame with this first byte.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut f = vec![first];
        match payload.len() {
            n @ 0..=125 => f.push(0x80 | n as u8),
            n @ 126..=0xffff => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    /// Reads one unmasked server frame: its first byte and payload.
    fn server_frame(c: &mut TcpStream) -> (u8, Vec<u8>) {
        let mut h = [0u8; 2];
        c.read_exact(&mut h).unwrap();
        assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
        let len = match h[1] & 0x7f {
            126 => {
                let mut n = [0u8; 2];
                c.read_exact(&mut n).unwrap();
                u16::from_be_bytes(n) as usize
            }
            127 => {
                let mut n = [0u8; 8];
                c.read_exact(&mut n).unwrap();
                u64::from_be_bytes(n) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        c.read_exact(&mut payload).unwrap();
        (h[0], payload)
    }

    /// Frames sent in the same write as the upgrade request reach the
    /// WebSocket whole: those the HTTP server read past the head (its
    /// `head` bytes), and those still in the kernel at the handover
    /// (200 KiB is more than one read of the loop's buffer).
    #[test]
    fn ws_echo_keeps_frames_sent_with_the_upgrade_request() {
        let (server, port, log) = start_ws_echo();
        let mut c = connect(port);
        let big: Vec<u8> = (0..200 * 1024).map(|i| (i * 13 % 256) as u8).collect();
        let mut out =
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                .to_vec();
        out.extend(client_frame(0x81, b"first"));
        out.extend(client_frame(0x82, &big));
        out.extend(client_frame(0x81, b"last"));
        // Once the server waits on this connection, all of it at once: the
        // loop's first read fills its 64 KiB buffer, and the rest comes in
        // the same read callback as the handover (lost if it is emitted
        // as `data` with nobody listening).
        std::thread::sleep(Duration::from_millis(100));
        c.write_all(&out).unwrap();
        // The 101, with RFC 6455's accept key for this key.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            c.read_exact(&mut b).unwrap();
            head.push(b[0]);
        }
        let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 101 "), "{head}");
        assert!(
            head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n"),
            "{head}"
        );
        assert_eq!(server_frame(&mut c), (0x81, b"first".to_vec()));
        let (first, echoed) = server_frame(&mut c);
        assert_eq!(first, 0x82);
        assert!(echoed == big, "the 200 KiB frame came back altered");
        assert_eq!(server_frame(&mut c), (0x81, b"last".to_vec()));
        // Close (1000): answered with 1000, then the server closes.
        c.write_all(&client_frame(0x88, &1000u16.to_be_bytes()))
            .unwrap();
        assert_eq!(server_frame(&mut c), (0x88, 1000u16.to_be_bytes().to_vec()));
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        terminate_reading(server, log);
    }

    #[test]
    fn ws_echo_exits_0_on_sigterm_with_a_websocket_open() {
        let (mut server, port, _out) = start_ws_echo();
        let mut client = python_ws_command(
            port,
            r#"ws = await connect(URL, proxy=None)
await ws.send("still here")
assert await ws.recv() == "still here"
print("ready", flush=True)
try:
    await ws.recv()
    print("not closed")
except ConnectionClosed:
    print("closed")"#,
        )
        .spawn()
        .unwrap_or_else(|e| panic!("python3 is needed (.ci/run installs it): {e}"));
        let mut lines = BufReader::new(client.stdout.take().unwrap());
        let mut line = String::new();
        lines.read_line(&mut line).unwrap();
        if line != "ready\n" {
            let out = client.wait_with_output().unwrap();
            check_python(&out.status, &out.stdout, &out.stderr);
            panic!("the client did not get its echo: {line:?}");
        }
        signal(&server.0, "-TERM");
        let status = wait_exit(&mut server.0, 10);
        assert!(status.success(), "{status:?}");
        line.clear();
        lines.read_line(&mut line).unwrap();
        let out = client.wait_with_output().unwrap();
        check_python(&out.status, &out.stdout, &out.stderr);
        assert_eq!(line, "closed\n");
    }
}
