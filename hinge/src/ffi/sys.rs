//! The syscalls of the socket hot path, on raw fds: `recv`, `send` and
//! `accept4`, each one call with no allocation; and `fcntl(F_DUPFD)`, with
//! which a watcher takes its own reference to a descriptor it was lent.

use std::mem::MaybeUninit;
use std::os::raw::c_int;

/// `recv(2)` into `buf`, which need not be initialised (so a read buffer
/// costs no zeroing): returns the part the kernel filled. Any fd value is
/// memory-safe here: a stale one fails with EBADF; the buffer is a valid,
/// exclusively borrowed slice. A signal's interruption (EINTR) is retried
/// here, so callers meet only real outcomes.
#[inline]
pub(crate) fn recv(fd: c_int, buf: &mut [MaybeUninit<u8>]) -> std::io::Result<&[u8]> {
    let n = loop {
        // SAFETY: buf is valid for writes of buf.len() bytes (the kernel
        // never reads them). `read` is `recv` without flags, with a
        // lighter libc wrapper.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            break n;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    // read(2) never returns more than it was asked for; the min makes
    // that this function's guarantee rather than the kernel's.
    let n = (n as usize).min(buf.len());
    // SAFETY: the kernel wrote the first n bytes of buf, which stays
    // borrowed for as long as the returned slice lives.
    Ok(unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) })
}

/// An uninitialised buffer of `len` bytes, for [`recv`]: no zeroing, and
/// no page is touched before the kernel writes it.
pub(crate) fn uninit_buf(len: usize) -> Box<[MaybeUninit<u8>]> {
    let mut v = Vec::with_capacity(len);
    // SAFETY: MaybeUninit<u8> needs no initialisation, and the capacity
    // is at least len.
    unsafe { v.set_len(len) };
    v.into_boxed_slice()
}

/// `send(2)` with MSG_NOSIGNAL: a closed peer is an EPIPE error, never a
/// SIGPIPE.
#[inline]
pub(crate) fn send(fd: c_int, buf: &[u8]) -> std::io::Result<usize> {
    // SAFETY: buf is valid for reads of buf.len() bytes.
    let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `sendmsg(2)` of a gather list with MSG_NOSIGNAL: a layer's records
/// (TLS) in one system call. At most `UIO_MAXIOV` buffers are passed;
/// the count says how far it got.
#[inline]
pub(crate) fn send_vectored(fd: c_int, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
    // SAFETY: a zeroed msghdr names no address and carries no control
    // data; `IoSlice` is guaranteed ABI-compatible with `iovec` on Unix,
    // and each one is valid for reads of its length for this call; the
    // kernel only reads through msg_iov.
    let n = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = bufs.len().min(libc::UIO_MAXIOV as usize) as _;
        libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL)
    };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `accept4(2)` with `SOCK_NONBLOCK | SOCK_CLOEXEC`: a ready-to-use
/// connection in one system call.
pub(crate) fn accept(fd: c_int) -> std::io::Result<(socket2::Socket, socket2::SockAddr)> {
    // SAFETY: socket2's try_init hands us zeroed storage of the right size
    // and length to fill; accept4 writes at most that many bytes. A
    // successful accept4 returns a new fd that nothing else owns, which
    // the OwnedFd takes over.
    unsafe {
        let mut conn = -1;
        let ((), addr) = socket2::SockAddr::try_init(|storage, len| {
            conn = libc::accept4(
                fd,
                storage.cast(),
                len,
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            );
            if conn < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        })?;
        use std::os::fd::FromRawFd;
        Ok((
            socket2::Socket::from(std::os::fd::OwnedFd::from_raw_fd(conn)),
            addr,
        ))
    }
}

/// `fcntl(F_DUPFD_CLOEXEC)`: a new descriptor, owned by the caller, for
/// the open file that `fd` refers to. Fails with `EBADF` for any number
/// that is not an open descriptor (negative, huge, or closed).
pub(crate) fn dup_fd(fd: c_int) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: fcntl with F_DUPFD_CLOEXEC reads no memory, and is defined
    // for any integer: one that is not an open descriptor fails with
    // EBADF. Duplicating a descriptor someone else owns takes nothing
    // from them (their fd stays theirs).
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a successful F_DUPFD returns a fresh descriptor that nothing
    // else refers to; the OwnedFd is its only owner.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(new) })
}

/// `read(2)` into an initialised buffer: the byte count.
#[cfg(feature = "async")]
pub(crate) fn recv_into(fd: c_int, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: buf is valid for writes of buf.len() bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // read(2) never returns more than it was asked for.
    Ok((n as usize).min(buf.len()))
}
