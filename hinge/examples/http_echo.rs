//! The HTTP server that outside clients and benchmarks talk to.
//!
//! ```sh
//! cargo run --release --example http_echo               # port 8080
//! cargo run --release --example http_echo -- 9000 --quiet
//! cargo run --release --example http_echo -- --threads 2  # 2 loops, one port
//! curl -i localhost:8080/hello
//! curl --data-binary @big.file localhost:8080/echo -o copy
//! curl -H 'Transfer-Encoding: chunked' --data-binary @big.file localhost:8080/echo -o copy
//! ```
//!
//! - `GET /` and `GET /hello`: 200, `text/plain`, `Hello world!` with a
//!   Content-Length.
//! - `POST /echo`: the request body streamed back as it arrives, with
//!   backpressure; chunked when the request was, otherwise with the
//!   request's Content-Length.
//! - `GET /chunked`: `Hello chunk one!\nHello chunk two!\nHello world!\n`,
//!   chunked, in three chunks and a last one.
//! - `HEAD` of these: the same headers, no body. Anything else: 404.
//!
//! The library's default limits apply (`hinge::http::Config`): heads up
//! to 16 KiB and 100 header lines, targets up to 8 KiB, bodies up to
//! 64 MiB (a request declaring more is refused at once with 413), 60 s
//! for a head to arrive, 5 s of keep-alive idleness, 30 s of body
//! silence. Ctrl-C closes gracefully. With `--threads N`, N loops (one
//! per thread) serve the port, and each prints how many connections it
//! served when it closes (unless `--quiet`).

use std::cell::Cell;
use std::rc::Rc;

use hinge::http::{self, Method, Request, Response};
use hinge::{signal, Loop, Workers};

fn main() -> hinge::Result<()> {
    let mut port = 8080;
    let mut quiet = false;
    let mut threads = 1;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quiet" | "-q" => quiet = true,
            "--threads" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => threads = n,
                _ => usage(),
            },
            p => match p.parse() {
                Ok(p) => port = p,
                Err(_) => usage(),
            },
        }
    }

    run("http_echo", "http", port, quiet, threads, |_| {})
}

/// Serves the routes on `threads` loops (one: on this thread), with
/// `prepare` applied to each loop's server before it accepts anything,
/// until SIGINT or SIGTERM closes them (`https_echo` runs this too).
pub fn run<P>(
    name: &str,
    scheme: &str,
    port: u16,
    quiet: bool,
    threads: usize,
    prepare: P,
) -> hinge::Result<()>
where
    P: Fn(&http::Server) + Send + Sync,
{
    if threads == 1 {
        let lp = Loop::new()?;
        let server = serve(&lp, port, quiet, None)?;
        prepare(&server);
        println!("{name} listening on {scheme}://127.0.0.1:{port}");
        for signum in [signal::SIGINT, signal::SIGTERM] {
            let server = server.clone();
            lp.on_signal(signum, move |_, _| server.close())?;
        }
        lp.run();
        return Ok(());
    }
    // A loop per thread on one port; Ctrl-C or kill closes every server.
    Workers::new()
        .threads(threads)
        .stop_on_signals(&[signal::SIGINT, signal::SIGTERM])
        .run(|lp, worker| {
            let index = worker.index();
            let server = serve(lp, port, quiet, Some(index))?;
            prepare(&server);
            println!("{name} loop {index} listening on {scheme}://127.0.0.1:{port}");
            worker.on_stop(move |_| server.close());
            Ok(())
        })
}

fn usage() -> ! {
    eprintln!("usage: http_echo [PORT] [--quiet] [--threads N]");
    std::process::exit(2);
}

/// The server on one loop; `worker` is its index in a group of loops,
/// which then share the port.
fn serve(lp: &Loop, port: u16, quiet: bool, worker: Option<usize>) -> hinge::Result<http::Server> {
    let server = http::Server::new(lp);
    if quiet {
        // Refused requests (a 413, say) are answered either way; quiet
        // means they are not reported on stderr either.
        server.on_client_error(|_, _, _| {});
    }
    server.on_request(move |_, _, req, res| route(req, res, quiet));
    if let Some(index) = worker {
        server.transport().set_reuse_port(true);
        // Counted per loop, printed as the server closes.
        let served = Rc::new(Cell::new(0usize));
        let count = served.clone();
        server
            .transport()
            .on_connection(move |_, _, _| served.set(served.get() + 1));
        server.on_close(move |_, _| {
            if !quiet {
                println!("loop {index} served {} connections", count.get());
            }
        });
    }
    server.listen(port)?;
    Ok(server)
}

/// The routes (`https_echo` serves them too, over TLS).
pub fn route(req: Request, res: Response, quiet: bool) {
    if !quiet {
        println!("{} {}", req.method(), req.uri());
    }
    let get = req.method() == Method::GET || req.method() == Method::HEAD;
    let answered = match req.path() {
        "/" | "/hello" if get => hello(&res),
        "/chunked" if get => chunked(&res),
        "/echo" if req.method() == Method::POST => echo(req, res.clone()),
        _ => res.error(404),
    };
    if let Err(e) = answered {
        eprintln!("answering failed: {e}");
    }
}

fn hello(res: &Response) -> hinge::Result<()> {
    res.set_header("content-type", "text/plain")?;
    res.end("Hello world!")
}

fn chunked(res: &Response) -> hinge::Result<()> {
    res.write_head(200, &[("content-type", "text/html")])?;
    res.write("Hello chunk one!\n")?;
    res.write("Hello chunk two!\n")?;
    res.end("Hello world!\n")
}

/// Streams the body back: when the client sends faster than it reads,
/// `write` returns false and the request pauses until `drain`.
fn echo(req: Request, res: Response) -> hinge::Result<()> {
    if let Some(n) = req.content_length() {
        res.set_header("content-length", n)?;
    }
    let kind = req
        .header("content-type")
        .unwrap_or("application/octet-stream");
    res.set_header("content-type", kind)?;
    let paused = req.clone();
    res.on_drain(move |_, _| paused.resume());
    let out = res.clone();
    req.on_data(move |_, req, chunk| match out.write(chunk) {
        Ok(true) => {}
        Ok(false) => req.pause(),
        Err(_) => req.pause(), // the client is gone; close follows
    });
    req.on_end(move |_, _| {
        res.end("").ok();
    });
    Ok(())
}
