//! Locating libev: overrides, then pkg-config, then the compiler's own paths.
//!
//! Debian's `libev-dev` ships no `libev.pc`, so the last step is the one
//! most Linux users hit: the compiler is asked where it finds `ev.h` and
//! `libev.so`, which respects its built-in and `CPATH`/`LIBRARY_PATH` paths.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{env, fail};

/// What the rest of the build needs to know about the libev found.
pub struct Libev {
    pub include_dir: PathBuf,
    /// `None` when the linker finds the library on its default path.
    pub lib_dir: Option<PathBuf>,
    pub version: (u32, u32),
    /// pkg-config already printed the link lines.
    linked_by_pkg_config: bool,
}

impl Libev {
    pub fn emit_link(&self, want_static: bool) {
        if self.linked_by_pkg_config {
            return;
        }
        if let Some(dir) = &self.lib_dir {
            println!("cargo:rustc-link-search=native={}", dir.display());
        }
        if want_static {
            println!("cargo:rustc-link-lib=static=ev");
            // libev.a calls into libm (floor, ceil) and must pull it in itself.
            println!("cargo:rustc-link-lib=m");
        } else {
            println!("cargo:rustc-link-lib=ev");
        }
    }
}

const INSTALL_HINT: &str = "libev was not found. Install its development package:
  Debian/Ubuntu: apt-get install libev-dev
  Fedora:        dnf install libev-devel
  Arch:          pacman -S libev
  Homebrew:      brew install libev
or point LIBEV_INCLUDE_DIR / LIBEV_LIB_DIR at an existing installation.";

pub fn libev(want_static: bool) -> Libev {
    let found = from_overrides()
        .or_else(|| from_pkg_config(want_static))
        .or_else(from_compiler)
        .unwrap_or_else(|| fail(INSTALL_HINT));
    let (major, minor) = found.version;
    if major < 4 {
        fail(&format!(
            "libev {major}.{minor} found at {}, but hinge needs libev 4.0 or newer",
            found.include_dir.display()
        ));
    }
    found
}

fn from_overrides() -> Option<Libev> {
    let include = env("LIBEV_INCLUDE_DIR").map(PathBuf::from);
    let lib = env("LIBEV_LIB_DIR").map(PathBuf::from);
    if include.is_none() && lib.is_none() {
        return None;
    }
    let include_dir = include.or_else(compiler_include_dir).unwrap_or_else(|| {
        fail("LIBEV_LIB_DIR is set but ev.h was not found; set LIBEV_INCLUDE_DIR too")
    });
    if !include_dir.join("ev.h").is_file() {
        fail(&format!(
            "LIBEV_INCLUDE_DIR={} holds no ev.h",
            include_dir.display()
        ));
    }
    Some(Libev {
        version: header_version(&include_dir.join("ev.h")),
        include_dir,
        lib_dir: lib,
        linked_by_pkg_config: false,
    })
}

fn from_pkg_config(want_static: bool) -> Option<Libev> {
    let lib = pkg_config::Config::new()
        .atleast_version("4.0")
        .statik(want_static)
        .probe("libev")
        .ok()?;
    let include_dir = lib
        .include_paths
        .iter()
        .find(|dir| dir.join("ev.h").is_file())
        .cloned()
        .or_else(compiler_include_dir)?;
    Some(Libev {
        version: header_version(&include_dir.join("ev.h")),
        include_dir,
        lib_dir: None,
        linked_by_pkg_config: true,
    })
}

fn from_compiler() -> Option<Libev> {
    let include_dir = compiler_include_dir()?;
    if !compiler_has_library() {
        return None;
    }
    Some(Libev {
        version: header_version(&include_dir.join("ev.h")),
        include_dir,
        lib_dir: None,
        linked_by_pkg_config: false,
    })
}

/// Asks the C compiler which `ev.h` an `#include <ev.h>` resolves to.
fn compiler_include_dir() -> Option<PathBuf> {
    let compiler = cc::Build::new().cargo_metadata(false).get_compiler();
    let mut cmd = compiler.to_command();
    cmd.args(["-E", "-M", "-x", "c", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().ok()?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take()?;
        stdin.write_all(b"#include <ev.h>\n").ok()?;
    }
    let output = child.wait_with_output().ok()?;
    if !output.status.success() {
        return None;
    }
    let deps = String::from_utf8_lossy(&output.stdout);
    deps.split_whitespace()
        .map(|word| Path::new(word.trim_end_matches('\\')))
        .find(|path| path.file_name().is_some_and(|name| name == "ev.h"))
        .and_then(Path::parent)
        .map(Path::to_path_buf)
}

/// Asks the C compiler whether it can find libev to link against.
fn compiler_has_library() -> bool {
    let compiler = cc::Build::new().cargo_metadata(false).get_compiler();
    ["libev.so", "libev.a", "libev.dylib"].iter().any(|name| {
        Command::new(compiler.path())
            .arg(format!("-print-file-name={name}"))
            .output()
            .ok()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .is_some_and(|path| Path::new(&path).is_absolute() && Path::new(&path).exists())
    })
}

/// Reads EV_VERSION_MAJOR/MINOR from the header itself.
fn header_version(header: &Path) -> (u32, u32) {
    let text = std::fs::read_to_string(header)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", header.display())));
    let define = |name: &str| {
        text.lines()
            .filter_map(|line| line.trim().strip_prefix("#define"))
            .filter_map(|rest| rest.trim().strip_prefix(name))
            .find_map(|value| value.trim().parse::<u32>().ok())
    };
    match (define("EV_VERSION_MAJOR"), define("EV_VERSION_MINOR")) {
        (Some(major), Some(minor)) => (major, minor),
        _ => fail(&format!(
            "{} defines no EV_VERSION_MAJOR/EV_VERSION_MINOR; is it libev's ev.h?",
            header.display()
        )),
    }
}
