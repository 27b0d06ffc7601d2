//! The ancestor's first HTTP example: every request is answered
//! "Hello world! [N]", with N computed on the work pool, so the response
//! is written later, from the pool's callback on the loop's thread.
//!
//! ```sh
//! cargo run --example http_hello           # port 4545
//! cargo run --example http_hello -- 5000
//! curl localhost:4545/                     # Hello world! [...]
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use hinge::{http, Loop, Pool};

fn main() -> hinge::Result<()> {
    let port = match std::env::args().nth(1) {
        Some(p) => p.parse().unwrap_or_else(|_| {
            eprintln!("usage: http_hello [PORT]");
            std::process::exit(2)
        }),
        None => 4545,
    };
    let lp = Loop::new()?;
    let pool = Pool::new();
    let server = http::Server::new(&lp);
    server.on_request(move |lp, _, _req, res| {
        // Some work off the loop's thread: the request's nanosecond clock,
        // hashed. The response waits in its (owned) handle meanwhile.
        pool.submit(
            lp,
            || {
                let seed = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                (0..1000).fold(u64::from(seed), |h, i| h.rotate_left(5) ^ i) % 1000
            },
            move |_, n| {
                let text = match n {
                    Ok(n) => format!("Hello world! [{n}]\n"),
                    Err(e) => format!("Hello world! [{e}]\n"),
                };
                res.set_header("content-type", "text/plain").ok();
                res.end(text).ok();
            },
        );
    });
    server.listen(port)?;
    println!("http_hello listening on http://127.0.0.1:{port}");
    lp.run();
    Ok(())
}
