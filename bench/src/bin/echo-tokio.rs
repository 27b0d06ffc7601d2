//! The canonical tokio echo server: one task per connection, reading into
//! a 64 KiB buffer and `write_all`-ing it back (so it stops reading while
//! a backlog exists, like the C reference).
//!
//! ```sh
//! cargo run --release -p hinge-bench --bin echo-tokio -- 4545          # current_thread
//! cargo run --release -p hinge-bench --bin echo-tokio -- 4545 --multi  # multi_thread
//! ```
//!
//! `--multi` uses the multi-thread runtime with its default worker count
//! (`available_parallelism`, which honours `taskset`).

use std::io;

use hinge_bench::{listen, port_arg, READ_BUF};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn main() -> io::Result<()> {
    let port = port_arg("echo-tokio", " [--multi]");
    let multi = std::env::args().skip(2).any(|a| a == "--multi");
    let mut builder = if multi {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = builder.enable_io().build()?;
    runtime.block_on(serve(port))
}

async fn serve(port: u16) -> io::Result<()> {
    let listener = TcpListener::from_std(listen(port)?)?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(echo(stream));
            }
            Err(e) => eprintln!("echo-tokio: accept: {e}"),
        }
    }
}

async fn echo(mut stream: TcpStream) {
    let mut buf = vec![0u8; READ_BUF];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
