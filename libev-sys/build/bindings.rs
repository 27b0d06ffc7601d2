//! Where the Rust bindings come from: bindgen now, or vendor/ as shipped.
//!
//! bindgen is preferred because it reads the very `ev.h` that was found.
//! It needs libclang at build time; machines without it (or builds with
//! the `bindgen` feature off) get the file generated for libev 4.33 on
//! x86_64-linux-gnu, and the C shim then proves at compile time that the
//! local header has the same layout.

use std::path::Path;

#[cfg(feature = "bindgen")]
use super::env;
use super::fail;
use super::find::Libev;

/// Which kind of bindings ended up in `$OUT_DIR/bindings.rs`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Generated,
    Vendored,
}

/// The one vendored file, named by libev version and target.
pub const VENDORED: &str = "vendor/bindings-4.33-x86_64-linux-gnu.rs";
const VENDORED_TARGET: &str = "x86_64-unknown-linux-gnu";

pub fn write(lib: &Libev, out_dir: &Path) -> Source {
    let dest = out_dir.join("bindings.rs");
    if let Some(why_not) = generated(lib, &dest) {
        vendored(lib, &dest, &why_not);
        Source::Vendored
    } else {
        Source::Generated
    }
}

/// Runs bindgen; returns why it did not, if it did not.
#[cfg(feature = "bindgen")]
fn generated(lib: &Libev, dest: &Path) -> Option<String> {
    if env("LIBEV_SYS_VENDORED_BINDINGS").as_deref() == Some("1") {
        return Some("LIBEV_SYS_VENDORED_BINDINGS=1 is set".into());
    }
    println!("cargo:rerun-if-env-changed=LIBCLANG_PATH");
    // Load libclang ourselves first: bindgen panics when it cannot.
    if let Err(e) = clang_sys::load() {
        return Some(format!("libclang could not be loaded ({e})"));
    }
    let bindings = bindgen::Builder::default()
        .header("shim/hinge_ev.h")
        .clang_arg(format!("-I{}", lib.include_dir.display()))
        .allowlist_function("ev_.*|hinge_ev_.*")
        .allowlist_type("ev_.*|hinge_ev_.*")
        .allowlist_var("EV_.*|EVFLAG_.*|EVBACKEND_.*|EVRUN_.*|EVBREAK_.*")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .derive_default(true)
        .generate_comments(false)
        .layout_tests(true)
        .generate();
    match bindings {
        Ok(bindings) => {
            if let Err(e) = bindings.write_to_file(dest) {
                fail(&format!("cannot write {}: {e}", dest.display()));
            }
            None
        }
        Err(e) => Some(format!(
            "bindgen failed on {} ({e})",
            lib.include_dir.join("ev.h").display()
        )),
    }
}

#[cfg(not(feature = "bindgen"))]
fn generated(_lib: &Libev, _dest: &Path) -> Option<String> {
    Some("the `bindgen` feature is off".into())
}

fn vendored(lib: &Libev, dest: &Path, why: &str) {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target != VENDORED_TARGET {
        fail(&format!(
            "{why}, and the shipped bindings only cover {VENDORED_TARGET} (this is {target}).\n\
             Install libclang (Debian/Ubuntu: libclang-dev, Fedora: clang-devel) so bindgen can run."
        ));
    }
    if lib.version != (4, 33) {
        println!(
            "cargo:warning=libev-sys: vendored bindings are for libev 4.33 but {}.{} was found; \
             the C shim checks the layout at compile time",
            lib.version.0, lib.version.1
        );
    }
    println!("cargo:warning=libev-sys: {why}; using pre-generated bindings from {VENDORED}");
    if let Err(e) = std::fs::copy(VENDORED, dest) {
        fail(&format!("cannot copy {VENDORED}: {e}"));
    }
}

/// For docs.rs, which has no libev: the shipped bindings, as they are.
pub fn for_docs(out_dir: &Path) {
    if let Err(e) = std::fs::copy(VENDORED, out_dir.join("bindings.rs")) {
        fail(&format!("cannot copy {VENDORED}: {e}"));
    }
}
