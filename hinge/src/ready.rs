//! libev's readiness bitmask: what an io watcher waits for, and what
//! fired when any watcher calls back. Named `Ready` so that it cannot be
//! mistaken for the emitter's [`Event`](crate::Event).

use libev_sys as sys;
use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

/// A set of libev event bits (`EV_READ`, `EV_TIMER`, `EV_ERROR`, ...).
///
/// Io watchers are created with a mask of [`Ready::READ`] and/or
/// [`Ready::WRITE`]; every callback receives the events that fired.
///
/// ```
/// use hinge::Ready;
///
/// let both = Ready::READ | Ready::WRITE;
/// assert!(both.contains(Ready::READ));
/// assert!(!Ready::READ.contains(both));
/// assert_eq!(format!("{both:?}"), "Ready(READ | WRITE)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ready(i32);

macro_rules! events {
    ($($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
        impl Ready {
            $($(#[$doc])* pub const $name: Ready = Ready($value as i32);)*
        }
        const NAMES: &[(&str, i32)] = &[$((stringify!($name), $value as i32)),*];
    };
}

events! {
    /// No event.
    NONE = 0;
    /// The fd is readable.
    READ = sys::EV_READ;
    /// The fd is writable.
    WRITE = sys::EV_WRITE;
    /// A timer expired.
    TIMER = sys::EV_TIMER;
    /// A periodic watcher reached its time.
    PERIODIC = sys::EV_PERIODIC;
    /// A signal arrived.
    SIGNAL = sys::EV_SIGNAL;
    /// A child process changed status.
    CHILD = sys::EV_CHILD;
    /// A watched path's attributes changed.
    STAT = sys::EV_STAT;
    /// The loop has nothing else to do.
    IDLE = sys::EV_IDLE;
    /// The loop is about to block.
    PREPARE = sys::EV_PREPARE;
    /// The loop has just woken up.
    CHECK = sys::EV_CHECK;
    /// An embedded loop needs attention.
    EMBED = sys::EV_EMBED;
    /// The loop was told a fork happened.
    FORK = sys::EV_FORK;
    /// The loop is being destroyed.
    CLEANUP = sys::EV_CLEANUP;
    /// Another thread woke the loop.
    ASYNC = sys::EV_ASYNC;
    /// A user-fed event.
    CUSTOM = sys::EV_CUSTOM;
    /// libev stopped the watcher because of an error (e.g. a closed fd).
    ERROR = sys::EV_ERROR;
}

impl Ready {
    /// The raw bits.
    ///
    /// ```
    /// assert_eq!(hinge::Ready::NONE.bits(), 0);
    /// ```
    pub const fn bits(self) -> i32 {
        self.0
    }

    /// Wraps raw libev bits.
    ///
    /// ```
    /// let e = hinge::Ready::from_bits(1);
    /// assert_eq!(e, hinge::Ready::READ);
    /// ```
    pub const fn from_bits(bits: i32) -> Ready {
        Ready(bits)
    }

    /// Whether every bit of `other` is set in `self`.
    ///
    /// ```
    /// use hinge::Ready;
    /// assert!((Ready::READ | Ready::ERROR).contains(Ready::ERROR));
    /// ```
    pub const fn contains(self, other: Ready) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no bit is set.
    ///
    /// ```
    /// assert!(hinge::Ready::NONE.is_empty());
    /// ```
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether [`Ready::READ`] is set.
    ///
    /// ```
    /// assert!(hinge::Ready::READ.is_readable());
    /// ```
    pub const fn is_readable(self) -> bool {
        self.contains(Ready::READ)
    }

    /// Whether [`Ready::WRITE`] is set.
    ///
    /// ```
    /// assert!(hinge::Ready::WRITE.is_writable());
    /// ```
    pub const fn is_writable(self) -> bool {
        self.contains(Ready::WRITE)
    }

    /// Whether [`Ready::ERROR`] is set.
    ///
    /// ```
    /// assert!(!hinge::Ready::READ.is_error());
    /// ```
    pub const fn is_error(self) -> bool {
        self.contains(Ready::ERROR)
    }
}

impl BitOr for Ready {
    type Output = Ready;
    fn bitor(self, rhs: Ready) -> Ready {
        Ready(self.0 | rhs.0)
    }
}

impl BitOrAssign for Ready {
    fn bitor_assign(&mut self, rhs: Ready) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Ready {
    type Output = Ready;
    fn bitand(self, rhs: Ready) -> Ready {
        Ready(self.0 & rhs.0)
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        let mut names = Vec::new();
        for &(name, bit) in NAMES {
            if bit != 0 && rest & bit == bit {
                names.push(name.to_string());
                rest &= !bit;
            }
        }
        if rest != 0 {
            names.push(format!("{rest:#x}"));
        }
        if names.is_empty() {
            names.push("NONE".into());
        }
        write!(f, "Ready({})", names.join(" | "))
    }
}
