//! Work on a background pool, results back on the loop thread.
//!
//! A TCP line protocol: each line is a number n; the server computes
//! 1337.0 / n on the pool and answers with the result. A second, integer
//! division `1337 / n` shows the failure path: with n = 0 it panics on the
//! worker, and the panic arrives as a failure callback on the loop.
//!
//! ```sh
//! cargo run --example async_work          # port 4546
//! nc localhost 4546                       # type 4, then 0
//! ```

use hinge::{Loop, Pool, Server};

fn main() -> hinge::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(4546);
    let lp = Loop::new()?;
    let pool = Pool::new();
    println!(
        "loop thread: {}",
        std::thread::current().name().unwrap_or("?")
    );

    let server = Server::new(&lp);
    server.on_listening(|_, s| println!("async_work on {}", s.local_addr().expect("bound")));
    server.on_connection(move |_, _, client| {
        let pool = pool.clone();
        client.on_line(64, move |lp, client, line| {
            let text = String::from_utf8_lossy(line).trim().to_string();
            let Ok(n) = text.parse::<i64>() else {
                client.send(format!("not a number: {text:?}\n")).ok();
                return;
            };
            let reply_to = client.clone();
            let fail_to = client.clone();
            pool.submit_split(
                lp,
                move || {
                    let worker = std::thread::current().name().unwrap_or("?").to_string();
                    let float = 1337.0 / n as f64;
                    let int = 1337 / n; // panics for n = 0: the failure path
                    (worker, float, int)
                },
                move |_, (worker, float, int)| {
                    let here = std::thread::current().name().unwrap_or("?").to_string();
                    println!("1337/{n} = {float} (integer {int}), computed on {worker}, delivered on {here}");
                    reply_to.send(format!("{float}\n")).ok();
                },
                move |_, err| {
                    let here = std::thread::current().name().unwrap_or("?").to_string();
                    println!("1337/{n} failed: {err} (delivered on {here})");
                    fail_to.send(format!("error: {err}\n")).ok();
                },
            );
        });
    });
    server.listen(port)?;
    lp.run();
    Ok(())
}
