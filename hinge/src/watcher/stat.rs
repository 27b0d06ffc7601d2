//! File attribute changes.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::event_loop::seconds;
use crate::ffi::{Handle, StatKind, StatParams};
use crate::{Error, Loop, Result};

/// Calls back when the attributes of a path change: created, deleted,
/// written, renamed onto, chmod-ed...
///
/// libev uses inotify on Linux and falls back to polling every `interval`
/// (zero picks libev's default of about 5 s).
///
/// ```
/// use std::time::Duration;
/// use hinge::{Loop, Stat, Watcher};
///
/// let lp = Loop::new()?;
/// let path = std::env::temp_dir().join(format!("hinge-doc-stat-{}", std::process::id()));
/// let _w = Stat::new(&lp, &path, Duration::ZERO, |_, w| {
///     println!("{} changed: {:?}", w.path().display(), w.attr());
///     w.stop();
/// })?;
/// std::fs::write(&path, b"hello").expect("write");
/// lp.run();
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), hinge::Error>(())
/// ```
#[must_use = "a watcher stops when its handle is dropped: keep it, e.g. `let _w = ...`"]
pub struct Stat {
    h: Handle<StatKind>,
}

watcher_type!(Stat, StatKind);

/// A snapshot of a path's attributes.
///
/// ```
/// # use std::time::Duration;
/// # let lp = hinge::Loop::new()?;
/// let w = hinge::Stat::new(&lp, "/", Duration::ZERO, |_, _| {})?;
/// let attr: hinge::FileStat = w.attr().expect("/ exists");
/// assert!(attr.is_dir());
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStat {
    /// Size in bytes.
    pub size: u64,
    /// Type and permission bits (`st_mode`).
    pub mode: u32,
    /// Inode number.
    pub ino: u64,
    /// Device id.
    pub dev: u64,
    /// Hard link count.
    pub nlink: u64,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Last modification.
    pub modified: SystemTime,
    /// Last status change.
    pub changed: SystemTime,
}

impl FileStat {
    /// Whether the path is a directory.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// # let w = hinge::Stat::new(&lp, "/", Duration::ZERO, |_, _| {})?;
    /// assert!(w.attr().unwrap().is_dir());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    /// Whether the path is a regular file.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// # let w = hinge::Stat::new(&lp, "/", Duration::ZERO, |_, _| {})?;
    /// assert!(!w.attr().unwrap().is_file());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }

    fn from_raw(st: &libev_sys::ev_statdata) -> Option<FileStat> {
        // libev zeroes st_nlink when the path does not exist.
        if st.st_nlink == 0 {
            return None;
        }
        let time = |secs: i64, nanos: i64| {
            let (secs, nanos) = (u64::try_from(secs).ok()?, u32::try_from(nanos).ok()?);
            UNIX_EPOCH.checked_add(Duration::new(secs, nanos.min(999_999_999)))
        };
        Some(FileStat {
            size: st.st_size.max(0) as u64,
            mode: st.st_mode,
            ino: st.st_ino,
            dev: st.st_dev,
            nlink: st.st_nlink,
            uid: st.st_uid,
            gid: st.st_gid,
            modified: time(st.st_mtim.tv_sec, st.st_mtim.tv_nsec).unwrap_or(UNIX_EPOCH),
            changed: time(st.st_ctim.tv_sec, st.st_ctim.tv_nsec).unwrap_or(UNIX_EPOCH),
        })
    }
}

impl Stat {
    /// Creates and starts a watcher for `path`, which need not exist yet.
    /// A path with a NUL byte is an [`Error::InvalidPath`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use hinge::{Error, Loop, Stat};
    /// # let lp = Loop::new()?;
    /// assert!(matches!(Stat::new(&lp, "a\0b", Duration::ZERO, |_, _| {}), Err(Error::InvalidPath)));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn new<F>(
        lp: &Loop,
        path: impl AsRef<Path>,
        interval: Duration,
        callback: F,
    ) -> Result<Stat>
    where
        F: FnMut(&Loop, &Stat) + 'static,
    {
        let path =
            CString::new(path.as_ref().as_os_str().as_bytes()).map_err(|_| Error::InvalidPath)?;
        let params = StatParams {
            path,
            interval: seconds(interval),
        };
        let w = Stat {
            h: Handle::new(lp, params, plain_callback!(Stat, callback)),
        };
        w.h.start();
        Ok(w)
    }

    /// The watched path.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// let w = hinge::Stat::new(&lp, "/tmp", Duration::ZERO, |_, _| {})?;
    /// assert_eq!(w.path(), std::path::Path::new("/tmp"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn path(&self) -> PathBuf {
        use std::os::unix::ffi::OsStringExt;
        PathBuf::from(std::ffi::OsString::from_vec(
            self.h.extra().path.as_bytes().to_vec(),
        ))
    }

    /// The attributes seen at the latest check, `None` if the path did not
    /// exist then.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// let w = hinge::Stat::new(&lp, "/no/such/path", Duration::ZERO, |_, _| {})?;
    /// assert_eq!(w.attr(), None);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn attr(&self) -> Option<FileStat> {
        self.h.read(|w| FileStat::from_raw(&w.attr))
    }

    /// The attributes before the latest change.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// let w = hinge::Stat::new(&lp, "/", Duration::ZERO, |_, _| {})?;
    /// let _before = w.prev();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn prev(&self) -> Option<FileStat> {
        self.h.read(|w| FileStat::from_raw(&w.prev))
    }

    /// Re-reads the attributes now (without calling back).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// let w = hinge::Stat::new(&lp, "/", Duration::ZERO, |_, _| {})?;
    /// w.refresh();
    /// assert!(w.attr().is_some());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn refresh(&self) {
        self.h.refresh();
    }

    /// Replaces the callback.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// let w = hinge::Stat::new(&lp, "/", Duration::ZERO, |_, _| {})?;
    /// w.set_callback(|_, w| println!("{:?}", w.attr()));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_callback<F>(&self, callback: F)
    where
        F: FnMut(&Loop, &Stat) + 'static,
    {
        self.h.set_callback(plain_callback!(Stat, callback));
    }
}
