//! Child process status changes.

use crate::ffi::{ChildKind, ChildParams, Handle};
use crate::{Error, Loop, Result};

/// Calls back when a child process exits (or, with `trace`, also when it
/// stops or continues). libev reaps the child itself.
///
/// Child watchers only work on the [default loop](Loop::default_loop),
/// which installs libev's `SIGCHLD` handler. That handler reaps *every*
/// child of the process, so do not also `wait()` on the children you watch.
///
/// ```
/// use std::process::Command;
/// use hinge::{Child, Loop};
///
/// let lp = Loop::default_loop()?;
/// let child = Command::new("sh").args(["-c", "exit 3"]).spawn().expect("spawn sh");
/// let _w = Child::new(&lp, child.id() as i32, false, |_, c| {
///     assert_eq!(c.exit_code(), Some(3));
/// })?;
/// lp.run(); // the watcher stops itself once the child has exited
/// # Ok::<(), hinge::Error>(())
/// ```
#[must_use = "a watcher stops when its handle is dropped: keep it, e.g. `let _w = ...`"]
pub struct Child {
    h: Handle<ChildKind>,
}

watcher_type!(Child, ChildKind);

impl Child {
    /// Creates and starts a watcher for `pid` (0 means any child). Fails
    /// with [`Error::NotDefaultLoop`] on a loop that is not the default one.
    ///
    /// The watcher stops itself after a terminating status (exit or death
    /// by signal) of a specific `pid`, so `run` can return.
    ///
    /// ```
    /// # use hinge::{Child, Error, Loop};
    /// let lp = Loop::new()?;
    /// assert!(matches!(Child::new(&lp, 0, false, |_, _| {}), Err(Error::NotDefaultLoop)));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn new<F>(lp: &Loop, pid: i32, trace: bool, mut callback: F) -> Result<Child>
    where
        F: FnMut(&Loop, &Child) + 'static,
    {
        if !lp.is_default() {
            return Err(Error::NotDefaultLoop);
        }
        let params = ChildParams {
            pid,
            trace: trace as i32,
        };
        let cb = move |lp: &Loop, c: &Child| {
            if c.pid() != 0 && c.is_terminated() {
                crate::Watcher::stop(c);
            }
            callback(lp, c);
        };
        let c = Child {
            h: Handle::new(lp, params, plain_callback!(Child, cb)),
        };
        c.h.start();
        Ok(c)
    }

    /// The pid being watched (0 for any child).
    ///
    /// ```
    /// # let lp = hinge::Loop::default_loop()?;
    /// let c = hinge::Child::new(&lp, 0, false, |_, _| {})?;
    /// assert_eq!(c.pid(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn pid(&self) -> i32 {
        self.h.read(|w| w.pid)
    }

    /// The pid whose status changed most recently (0 before any change).
    ///
    /// ```
    /// # let lp = hinge::Loop::default_loop()?;
    /// let c = hinge::Child::new(&lp, 0, false, |_, _| {})?;
    /// assert_eq!(c.rpid(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn rpid(&self) -> i32 {
        self.h.read(|w| w.rpid)
    }

    /// The raw `waitpid` status of the latest change.
    ///
    /// ```
    /// # let lp = hinge::Loop::default_loop()?;
    /// let c = hinge::Child::new(&lp, 0, false, |_, _| {})?;
    /// assert_eq!(c.rstatus(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn rstatus(&self) -> i32 {
        self.h.read(|w| w.rstatus)
    }

    /// The exit code, if the child exited normally.
    ///
    /// ```
    /// # let lp = hinge::Loop::default_loop()?;
    /// let c = hinge::Child::new(&lp, 0, false, |_, _| {})?;
    /// assert_eq!(c.exit_code(), None); // no status yet
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn exit_code(&self) -> Option<i32> {
        let status = self.rstatus();
        (self.rpid() != 0 && libc::WIFEXITED(status)).then(|| libc::WEXITSTATUS(status))
    }

    /// The signal that killed the child, if one did.
    ///
    /// ```
    /// # let lp = hinge::Loop::default_loop()?;
    /// let c = hinge::Child::new(&lp, 0, false, |_, _| {})?;
    /// assert_eq!(c.term_signal(), None);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn term_signal(&self) -> Option<i32> {
        let status = self.rstatus();
        (self.rpid() != 0 && libc::WIFSIGNALED(status)).then(|| libc::WTERMSIG(status))
    }

    /// Whether the latest status says the child is gone (exited or killed).
    ///
    /// ```
    /// # let lp = hinge::Loop::default_loop()?;
    /// let c = hinge::Child::new(&lp, 0, false, |_, _| {})?;
    /// assert!(!c.is_terminated());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_terminated(&self) -> bool {
        self.exit_code().is_some() || self.term_signal().is_some()
    }

    /// Watches another pid; restarts the watcher if it was active.
    ///
    /// ```
    /// # let lp = hinge::Loop::default_loop()?;
    /// let c = hinge::Child::new(&lp, 0, false, |_, _| {})?;
    /// c.set(1, true);
    /// assert_eq!(c.pid(), 1);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set(&self, pid: i32, trace: bool) {
        self.h.set(pid, trace as i32);
    }

    /// Replaces the callback (the new one does not auto-stop the watcher).
    ///
    /// ```
    /// # let lp = hinge::Loop::default_loop()?;
    /// let c = hinge::Child::new(&lp, 0, false, |_, _| {})?;
    /// c.set_callback(|_, c| println!("{} changed", c.rpid()));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_callback<F>(&self, callback: F)
    where
        F: FnMut(&Loop, &Child) + 'static,
    {
        self.h.set_callback(plain_callback!(Child, callback));
    }
}
