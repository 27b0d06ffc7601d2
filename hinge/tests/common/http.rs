//! HTTP test helpers: a hinge HTTP server on its own thread and loop, and
//! a strict client-side parser of raw response bytes.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hinge::http::{Config, Request, Response, Server};
use hinge::{Async, AsyncSender, Loop, Watcher};

/// A server running on its own thread; dropping it closes it.
pub struct TestServer {
    pub port: u16,
    stop: Option<AsyncSender>,
    graceful: AsyncSender,
    thread: Option<JoinHandle<()>>,
    /// Panics that `run` re-raised (the server thread runs again after).
    pub panics: Arc<AtomicUsize>,
    /// The server thread's id, for its CPU time in /proc.
    pub tid: u32,
}

/// Starts a server with `config`, set up by `setup` on the server's thread.
pub fn serve(config: Config, setup: fn(&Loop, &Server)) -> TestServer {
    let (tx, rx) = mpsc::channel();
    let panics = Arc::new(AtomicUsize::new(0));
    let p = panics.clone();
    let thread = std::thread::spawn(move || {
        let lp = Loop::new().unwrap();
        let server = Server::with_config(&lp, config);
        setup(&lp, &server);
        server.listen_on("127.0.0.1", 0).unwrap();
        let port = server.local_addr().unwrap().inet().unwrap().port();
        let s = server.clone();
        let stop = Async::new(&lp, move |_, w| {
            w.stop();
            s.close();
            s.transport().destroy_connections();
        });
        let s = server.clone();
        let graceful = Async::new(&lp, move |_, w| {
            w.stop();
            s.close();
        });
        graceful.unref();
        let tid = std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|p| p.file_name()?.to_str()?.parse().ok())
            .unwrap_or(0);
        tx.send((port, stop.sender(), graceful.sender(), tid))
            .unwrap();
        loop {
            match std::panic::catch_unwind(AssertUnwindSafe(|| lp.run())) {
                Ok(_) => break,
                Err(_) => {
                    p.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        drop(stop);
        drop(graceful);
    });
    let (port, stop, graceful, tid) = rx.recv().expect("the server thread started");
    TestServer {
        port,
        stop: Some(stop),
        graceful,
        tid,
        thread: Some(thread),
        panics,
    }
}

impl TestServer {
    /// The server thread's CPU time (user + system), in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{}/stat", self.tid)).unwrap();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    /// `Server::close` on the server's thread.
    pub fn close_gracefully(&self) {
        self.graceful.send();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send();
        }
        if let Some(t) = self.thread.take() {
            if t.join().is_err() && !std::thread::panicking() {
                panic!("the server thread panicked");
            }
        }
    }
}

/// A response as the client saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub chunks: usize,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Headers without `date`, for comparing two answers.
    pub fn without_date(&self) -> Resp {
        let mut r = self.clone();
        r.headers.retain(|(n, _)| n != "date");
        r
    }
}

/// Parses one response at the start of `buf`, strictly. `Ok(None)` means
/// more bytes are needed; `eof` says none will come.
pub fn parse_one(
    buf: &[u8],
    head_request: bool,
    eof: bool,
) -> Result<Option<(Resp, usize)>, String> {
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut slots);
    let n = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if eof => return Err("truncated head".into()),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("bad head: {e}")),
    };
    if r.version != Some(1) {
        return Err("not HTTP/1.1".into());
    }
    if buf[..n].windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r') {
        return Err("a bare LF in the head".into());
    }
    let status = r.code.unwrap();
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8(h.value.to_vec()).expect("ascii header value"),
            )
        })
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    let dates = get("date");
    if status >= 200 && (dates.len() != 1 || dates[0].len() != 29 || !dates[0].ends_with(" GMT")) {
        return Err(format!("bad date header: {dates:?}"));
    }
    let cl = get("content-length");
    let te = get("transfer-encoding");
    if !cl.is_empty() && !te.is_empty() {
        return Err("both content-length and transfer-encoding".into());
    }
    if cl.len() > 1 {
        return Err("several content-lengths".into());
    }
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
        chunks: 0,
    };
    let no_body = head_request || status == 204 || status == 304 || (100..200).contains(&status);
    if (status == 204 || (100..200).contains(&status)) && (!cl.is_empty() || !te.is_empty()) {
        return Err("framing headers on a bodiless status".into());
    }
    if no_body {
        return Ok(Some((resp, n)));
    }
    let rest = &buf[n..];
    if te.len() == 1 && te[0] == "chunked" {
        let mut pos = 0;
        loop {
            let Some(line_end) = find(&rest[pos..], b"\r\n") else {
                return if eof {
                    Err("truncated chunk size".into())
                } else {
                    Ok(None)
                };
            };
            let line =
                std::str::from_utf8(&rest[pos..pos + line_end]).map_err(|e| e.to_string())?;
            let size =
                usize::from_str_radix(line, 16).map_err(|_| format!("bad chunk size {line:?}"))?;
            pos += line_end + 2;
            if size == 0 {
                if rest.len() < pos + 2 {
                    return if eof {
                        Err("truncated end".into())
                    } else {
                        Ok(None)
                    };
                }
                if &rest[pos..pos + 2] != b"\r\n" {
                    return Err("trailers or junk after the last chunk".into());
                }
                return Ok(Some((resp, n + pos + 2)));
            }
            if rest.len() < pos + size + 2 {
                return if eof {
                    Err("truncated chunk".into())
                } else {
                    Ok(None)
                };
            }
            resp.body.extend_from_slice(&rest[pos..pos + size]);
            resp.chunks += 1;
            if &rest[pos + size..pos + size + 2] != b"\r\n" {
                return Err("chunk without CRLF".into());
            }
            pos += size + 2;
        }
    } else if !te.is_empty() {
        Err(format!("unexpected transfer-encoding {te:?}"))
    } else if let Some(len) = cl.first() {
        let len: usize = len.parse().map_err(|_| "bad content-length")?;
        if rest.len() < len {
            return if eof {
                Err("truncated body".into())
            } else {
                Ok(None)
            };
        }
        resp.body = rest[..len].to_vec();
        Ok(Some((resp, n + len)))
    } else {
        // Delimited by the close.
        if !eof {
            return Ok(None);
        }
        resp.body = rest.to_vec();
        Ok(Some((resp, buf.len())))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses every response in `buf` (a whole conversation, read to EOF).
pub fn parse_all(buf: &[u8], head_requests: &[bool]) -> Result<Vec<Resp>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < buf.len() {
        let head = head_requests.get(i).copied().unwrap_or(false);
        match parse_one(&buf[pos..], head, true)? {
            Some((r, n)) => {
                if r.status >= 200 {
                    i += 1;
                }
                out.push(r);
                pos += n;
            }
            None => return Err("incomplete".into()),
        }
    }
    Ok(out)
}

/// A raw client connection.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
    pub eof: bool,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).unwrap();
    }

    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    fn fill(&mut self) {
        let mut tmp = [0u8; 65536];
        match self.stream.read(&mut tmp) {
            Ok(0) => self.eof = true,
            Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                panic!("the server hung: no answer within the read timeout")
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                panic!(
                    "the connection was reset (buffered: {:?})",
                    String::from_utf8_lossy(&self.buf)
                )
            }
            Err(e) => panic!("read: {e}"),
        }
    }

    /// The next response (or 1xx).
    pub fn response(&mut self, head_request: bool) -> Resp {
        loop {
            match parse_one(&self.buf, head_request, self.eof) {
                Ok(Some((r, n))) => {
                    self.buf.drain(..n);
                    return r;
                }
                Ok(None) if self.eof => panic!("EOF before a response"),
                Ok(None) => self.fill(),
                Err(e) => panic!(
                    "invalid response: {e}: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// Reads until the server closes; returns what came.
    pub fn until_close(&mut self) -> Vec<u8> {
        while !self.eof {
            self.fill();
        }
        std::mem::take(&mut self.buf)
    }

    /// Asserts the server closes without sending more.
    pub fn expect_close(&mut self) {
        let rest = self.until_close();
        assert!(
            rest.is_empty(),
            "unexpected bytes before close: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }

    /// Whether the connection is still open after `wait` (nothing sent).
    pub fn open_after(&mut self, wait: Duration) -> bool {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut tmp = [0u8; 1];
        let open = match self.stream.read(&mut tmp) {
            Ok(0) => false,
            Ok(_) => panic!("unexpected bytes"),
            Err(e) => e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut,
        };
        self.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        open
    }

    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }
}

/// Sends `raw`, half-closes, and reads to EOF (panics on a hang).
pub fn roundtrip(port: u16, raw: &[u8]) -> Vec<u8> {
    let mut c = Client::connect(port);
    c.send(raw);
    c.shutdown_write();
    c.until_close()
}

/// Waits until `f` holds, up to 10 s.
pub fn wait_for(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// `POST /echo` as `http_echo` answers it: the body streamed back with
/// backpressure, with the request's Content-Length when it had one.
pub fn echo(req: Request, res: Response) {
    if let Some(n) = req.content_length() {
        res.set_header("content-length", n).unwrap();
    }
    let r = req.clone();
    res.on_drain(move |_, _| r.resume());
    let out = res.clone();
    req.on_data(move |_, req, chunk| {
        if !out.write(chunk).unwrap_or(false) {
            req.pause();
        }
    });
    req.on_end(move |_, _| {
        let _ = res.end("");
    });
}
