//! The ancestor's second HTTP example: a chunked response written in
//! pieces, one by one, then `end` with the last one.
//!
//! ```sh
//! cargo run --example http_chunked         # port 4545
//! curl --raw -i localhost:4545/            # shows the chunks
//! ```

use hinge::{http, Loop};

fn main() -> hinge::Result<()> {
    let port = match std::env::args().nth(1) {
        Some(p) => p.parse().unwrap_or_else(|_| {
            eprintln!("usage: http_chunked [PORT]");
            std::process::exit(2)
        }),
        None => 4545,
    };
    let lp = Loop::new()?;
    let server = http::Server::new(&lp);
    server.on_request(|_, _, _req, res| {
        // write_head fixes the head; it goes out with the first chunk.
        let answer = || -> hinge::Result<()> {
            res.write_head(200, &[("content-type", "text/html")])?;
            res.write("Hello chunk one!")?;
            res.write("\n")?;
            res.write("Hello chunk two!")?;
            res.write("\n")?;
            res.end("Hello world!\n")
        };
        if let Err(e) = answer() {
            eprintln!("answering failed: {e}");
        }
    });
    server.listen(port)?;
    println!("http_chunked listening on http://127.0.0.1:{port}");
    lp.run();
    Ok(())
}
