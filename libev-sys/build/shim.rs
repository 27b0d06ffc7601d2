//! The C shim: libev's function-like macros as callable functions.
//!
//! With vendored bindings it is also the layout check: `HINGE_VENDORED_LAYOUT`
//! turns on static asserts that the local ev.h matches libev 4.33 on x86_64,
//! so a differently configured libev fails here rather than at run time.

use super::bindings::Source;
use super::find::Libev;

pub fn build(lib: &Libev, source: Source) {
    let mut build = cc::Build::new();
    build
        .file("shim/hinge_ev.c")
        .include(&lib.include_dir)
        .include("shim")
        .warnings(true)
        .flag_if_supported("-std=c11");
    if source == Source::Vendored {
        build.define("HINGE_VENDORED_LAYOUT", None);
    }
    build.compile("hinge_ev_shim");
}
