//! Builds the C reference echo server, `peers/echo_libev.c`, into an
//! executable in `OUT_DIR`, and hands its path to `src/bin/echo-libev.rs`
//! as `ECHO_LIBEV_BIN`.
//!
//! The `cc` crate only builds libraries, so its configured compiler (which
//! honours `CC`, `CFLAGS` and cross settings) is asked for and run by hand
//! to compile and link the program in one step.
//!
//! libev is found the way `libev-sys` found it: its header directory comes
//! from `libev-sys` as `DEP_EV_INCLUDE`, and `LIBEV_LIB_DIR` is honoured.

use std::env;
use std::path::PathBuf;
use std::process::exit;

const SOURCE: &str = "peers/echo_libev.c";

fn main() {
    println!("cargo:rerun-if-changed={SOURCE}");
    println!("cargo:rerun-if-env-changed=LIBEV_LIB_DIR");

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let exe = out_dir.join("echo_libev");

    let compiler = cc::Build::new()
        .opt_level(2)
        .warnings(true)
        .cargo_metadata(false)
        .get_compiler();
    let mut cmd = compiler.to_command();
    if let Some(include) = env::var_os("DEP_EV_INCLUDE") {
        cmd.arg("-I").arg(include);
    }
    cmd.arg(SOURCE).arg("-o").arg(&exe);
    if let Some(lib_dir) = env::var_os("LIBEV_LIB_DIR") {
        let lib_dir = PathBuf::from(lib_dir);
        cmd.arg(format!("-L{}", lib_dir.display()));
        cmd.arg(format!("-Wl,-rpath,{}", lib_dir.display()));
    }
    cmd.arg("-lev");

    match cmd.status() {
        Ok(status) if status.success() => {}
        Ok(status) => fail(&format!("compiling {SOURCE} failed ({status}): {cmd:?}")),
        Err(e) => fail(&format!("cannot run the C compiler for {SOURCE}: {e}")),
    }
    println!("cargo:rustc-env=ECHO_LIBEV_BIN={}", exe.display());
}

/// Ends the build with a readable message instead of a panic backtrace.
fn fail(message: &str) -> ! {
    println!("cargo:warning=hinge-bench: {message}");
    eprintln!("\nhinge-bench: {message}\n");
    exit(1);
}
