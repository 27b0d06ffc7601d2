//! Raw FFI bindings to the system [libev](http://software.schmorp.de/pkg/libev.html).
//!
//! This crate only declares what libev's `ev.h` declares, plus `hinge_ev_*`
//! functions for the parts of libev's API that are macros (`ev_io_init`,
//! `ev_is_active`, `ev_set_priority`, ...). Everything here is `unsafe`;
//! the [hinge](https://docs.rs/hinge) crate is the safe layer.
//!
//! The bindings are generated at build time by bindgen from the header that
//! was found, or copied from `vendor/` when libclang is unavailable. See the
//! build script's documentation for the environment variables it reads.
//!
//! ```
//! // SAFETY: ev_version_major has no preconditions.
//! let major = unsafe { libev_sys::ev_version_major() };
//! assert!(major >= 4);
//! ```

#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case)]
#![allow(clippy::all)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
