//! The signal registry: libev lets one loop at a time own a signal
//! number, so hinge keeps a process-wide table of claims and refuses a
//! second loop's claim with a typed error instead of libev's abort.

use std::os::raw::c_int;
use std::sync::Mutex;
/// Per signal number: the owning loop's address and its claim count.
static OWNERS: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

/// The claim key of the default loop while it is being created.
pub(crate) const DEFAULT_LOOP: usize = 1;

/// Signals a loop may watch: 1 to 64, except those that report a
/// synchronous fault, where deferring to the loop would re-fault forever.
pub(crate) fn valid(signum: c_int) -> bool {
    signum > 0
        && signum < 65
        && !matches!(
            signum,
            libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE
        )
}

/// Moves a claim from one owner key to another.
pub(crate) fn rekey(signum: c_int, from: usize, to: usize) {
    let mut owners = OWNERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(entry) = owners.get_mut(signum as usize) {
        if entry.0 == from {
            entry.0 = to;
        }
    }
}

/// Claims `signum` for `owner`; fails if another loop holds it.
pub(crate) fn claim(signum: c_int, owner: usize) -> bool {
    let mut owners = OWNERS.lock().unwrap_or_else(|e| e.into_inner());
    if owners.len() < 65 {
        owners.resize(65, (0, 0));
    }
    let entry = &mut owners[signum as usize];
    if entry.1 > 0 && entry.0 != owner {
        return false;
    }
    *entry = (owner, entry.1 + 1);
    true
}

pub(crate) fn release(signum: c_int, owner: usize) {
    let mut owners = OWNERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(entry) = owners.get_mut(signum as usize) {
        if entry.0 == owner && entry.1 > 0 {
            entry.1 -= 1;
        }
    }
}
