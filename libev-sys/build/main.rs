//! Build script for libev-sys.
//!
//! It answers three questions, each in its own module:
//!
//! 1. Where is libev? ([`find`]): explicit overrides, then pkg-config,
//!    then the C compiler's default search paths.
//! 2. Where do the Rust bindings come from? ([`bindings`]): bindgen at
//!    build time when the `bindgen` feature is on and libclang loads,
//!    otherwise the pre-generated file under `vendor/`.
//! 3. How are libev's macros reached? ([`shim`]): a small C file built
//!    with `cc`, which also asserts at compile time that the header's
//!    struct layout matches what the bindings assume.
//!
//! Environment variables read (each triggers a rebuild when it changes):
//!
//! | variable | effect |
//! |---|---|
//! | `LIBEV_INCLUDE_DIR` | directory holding `ev.h`; skips discovery |
//! | `LIBEV_LIB_DIR` | directory holding `libev.so` / `libev.a`; skips discovery |
//! | `LIBEV_STATIC` | `1` links libev statically (as does the `static` feature) |
//! | `LIBEV_SYS_VENDORED_BINDINGS` | `1` skips bindgen and uses `vendor/` even when libclang is present |
//! | `LIBCLANG_PATH` | where to look for libclang (read by clang-sys) |
//! | `PKG_CONFIG_PATH` and friends | read by the pkg-config crate |
//! | `DOCS_RS` | set by docs.rs, which has no libev: document the shipped bindings, link nothing |

use std::path::PathBuf;

mod bindings;
mod find;
mod shim;

/// Ends the build with a readable message instead of a panic backtrace.
fn fail(message: &str) -> ! {
    for line in message.lines() {
        println!("cargo:warning={line}");
    }
    eprintln!("\nlibev-sys: {message}\n");
    std::process::exit(1);
}

/// Reads an environment variable and registers it for rebuilds.
fn env(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn main() {
    println!("cargo:rerun-if-changed=build");
    println!("cargo:rerun-if-changed=shim");
    println!("cargo:rerun-if-changed=vendor");

    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    if env("DOCS_RS").is_some() {
        // Documentation only: nothing is linked or run.
        bindings::for_docs(&out_dir);
        return;
    }
    let want_static = cfg!(feature = "static") || env("LIBEV_STATIC").as_deref() == Some("1");

    let lib = find::libev(want_static);
    lib.emit_link(want_static);
    // Dependents read this as DEP_EV_INCLUDE.
    println!("cargo:include={}", lib.include_dir.display());
    println!("cargo:version={}.{}", lib.version.0, lib.version.1);

    let source = bindings::write(&lib, &out_dir);
    shim::build(&lib, source);
}
