//! Runs the C reference echo server (`peers/echo_libev.c`, built by
//! `build.rs`) in place of this process, so its PID is the server's.
//! `echo-libev --path` prints where the C binary is instead.
//!
//! ```sh
//! cargo run --release -p hinge-bench --bin echo-libev -- 4545
//! ```

use std::os::unix::process::CommandExt;
use std::process::{exit, Command};

const SERVER: &str = env!("ECHO_LIBEV_BIN");

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--path") {
        println!("{SERVER}");
        return;
    }
    let err = Command::new(SERVER)
        .args(std::env::args_os().skip(1))
        .exec();
    eprintln!("echo-libev: cannot run {SERVER}: {err}");
    exit(1);
}
