//! Options for a new loop: the [`LoopBuilder`] and libev's [`Backend`]s.

use std::os::raw::c_uint;

use libev_sys as sys;

use super::Loop;
use crate::ffi::{self, LoopCore};
use crate::Result;

/// Options for a new [`Loop`].
///
/// ```
/// use hinge::{Backend, Loop};
/// let lp = Loop::builder()
///     .backend(Backend::EPOLL | Backend::POLL)
///     .no_env()
///     .build()?;
/// assert!(matches!(lp.backend_name(), "epoll" | "poll"));
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct LoopBuilder {
    backends: u32,
    flags: u32,
}

impl LoopBuilder {
    /// Restricts libev to these backends (default: its recommendation).
    ///
    /// ```
    /// let lp = hinge::Loop::builder().backend(hinge::Backend::POLL).build()?;
    /// assert_eq!(lp.backend_name(), "poll");
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn backend(mut self, backends: Backend) -> LoopBuilder {
        self.backends = backends.0;
        self
    }

    /// Ignores the `LIBEV_FLAGS` environment variable (`EVFLAG_NOENV`).
    ///
    /// ```
    /// let lp = hinge::Loop::builder().no_env().build()?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn no_env(mut self) -> LoopBuilder {
        self.flags |= sys::EVFLAG_NOENV;
        self
    }

    /// Checks for a fork on every iteration (`EVFLAG_FORKCHECK`), so that
    /// [`Loop::fork`] need not be called.
    ///
    /// ```
    /// let lp = hinge::Loop::builder().fork_check().build()?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn fork_check(mut self) -> LoopBuilder {
        self.flags |= sys::EVFLAG_FORKCHECK;
        self
    }

    /// Makes [`Stat`](crate::Stat) watchers poll instead of using inotify.
    ///
    /// ```
    /// let lp = hinge::Loop::builder().no_inotify().build()?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn no_inotify(mut self) -> LoopBuilder {
        self.flags |= sys::EVFLAG_NOINOTIFY;
        self
    }

    /// Uses signalfd for signals (`EVFLAG_SIGNALFD`). This blocks the
    /// watched signals in the calling thread; other threads must block
    /// them too.
    ///
    /// ```
    /// let lp = hinge::Loop::builder().signalfd().build()?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn signalfd(mut self) -> LoopBuilder {
        self.flags |= sys::EVFLAG_SIGNALFD;
        self
    }

    /// Leaves the signal mask alone (`EVFLAG_NOSIGMASK`).
    ///
    /// ```
    /// let lp = hinge::Loop::builder().no_sigmask().build()?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn no_sigmask(mut self) -> LoopBuilder {
        self.flags |= sys::EVFLAG_NOSIGMASK;
        self
    }

    fn bits(&self) -> c_uint {
        self.backends | self.flags
    }

    /// Creates a new, private loop.
    ///
    /// ```
    /// let lp = hinge::Loop::builder().build()?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn build(self) -> Result<Loop> {
        Ok(Loop::from_core(LoopCore::new(self.bits(), false)?))
    }

    /// Takes the process-wide default loop (see [`Loop::default_loop`]).
    /// The options apply only if libev has not created it yet.
    ///
    /// ```
    /// let lp = hinge::Loop::builder().build_default()?;
    /// assert!(lp.is_default());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn build_default(self) -> Result<Loop> {
        Ok(Loop::from_core(LoopCore::new(self.bits(), true)?))
    }
}

/// A set of libev backends.
///
/// ```
/// use hinge::Backend;
/// let here = Backend::supported();
/// assert!(here.contains(Backend::SELECT));
/// assert!(Backend::supported().contains(Backend::recommended()));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Backend(pub(super) u32);

impl Backend {
    /// `select(2)`.
    pub const SELECT: Backend = Backend(sys::EVBACKEND_SELECT);
    /// `poll(2)`.
    pub const POLL: Backend = Backend(sys::EVBACKEND_POLL);
    /// Linux `epoll(7)`.
    pub const EPOLL: Backend = Backend(sys::EVBACKEND_EPOLL);
    /// Linux AIO (experimental in libev).
    pub const LINUXAIO: Backend = Backend(sys::EVBACKEND_LINUXAIO);
    /// Linux io_uring (experimental in libev).
    pub const IOURING: Backend = Backend(sys::EVBACKEND_IOURING);
    /// BSD `kqueue`.
    pub const KQUEUE: Backend = Backend(sys::EVBACKEND_KQUEUE);
    /// Solaris `/dev/poll`.
    pub const DEVPOLL: Backend = Backend(sys::EVBACKEND_DEVPOLL);
    /// Solaris event ports.
    pub const PORT: Backend = Backend(sys::EVBACKEND_PORT);

    /// Backends compiled into this libev and usable on this system.
    ///
    /// ```
    /// assert!(hinge::Backend::supported().contains(hinge::Backend::POLL));
    /// ```
    pub fn supported() -> Backend {
        Backend(ffi::supported_backends())
    }

    /// The backends libev recommends here (what `Loop::new` picks from).
    ///
    /// ```
    /// assert!(!hinge::Backend::recommended().is_empty());
    /// ```
    pub fn recommended() -> Backend {
        Backend(ffi::recommended_backends())
    }

    /// Backends that can be embedded in another loop.
    ///
    /// ```
    /// let _ = hinge::Backend::embeddable();
    /// ```
    pub fn embeddable() -> Backend {
        Backend(ffi::embeddable_backends())
    }

    /// The raw `EVBACKEND_*` bits.
    ///
    /// ```
    /// assert_eq!(hinge::Backend::SELECT.bits(), 1);
    /// ```
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Whether every backend in `other` is in `self`.
    ///
    /// ```
    /// use hinge::Backend;
    /// assert!((Backend::POLL | Backend::EPOLL).contains(Backend::EPOLL));
    /// ```
    pub fn contains(self, other: Backend) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    ///
    /// ```
    /// assert!(!hinge::Backend::POLL.is_empty());
    /// ```
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The name of a single backend (`"epoll"`), or `"mixed"` for a set.
    ///
    /// ```
    /// assert_eq!(hinge::Backend::EPOLL.name(), "epoll");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Backend::SELECT => "select",
            Backend::POLL => "poll",
            Backend::EPOLL => "epoll",
            Backend::LINUXAIO => "linuxaio",
            Backend::IOURING => "io_uring",
            Backend::KQUEUE => "kqueue",
            Backend::DEVPOLL => "devpoll",
            Backend::PORT => "port",
            Backend(0) => "none",
            _ => "mixed",
        }
    }
}

impl std::ops::BitOr for Backend {
    type Output = Backend;
    fn bitor(self, rhs: Backend) -> Backend {
        Backend(self.0 | rhs.0)
    }
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let all = [
            Backend::SELECT,
            Backend::POLL,
            Backend::EPOLL,
            Backend::LINUXAIO,
            Backend::IOURING,
            Backend::KQUEUE,
            Backend::DEVPOLL,
            Backend::PORT,
        ];
        let names: Vec<_> = all
            .iter()
            .filter(|b| self.contains(**b))
            .map(|b| b.name())
            .collect();
        write!(f, "Backend({})", names.join(" | "))
    }
}
