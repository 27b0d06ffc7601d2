//! The transport seam: a [`Layer`] turns a socket's wire bytes into the
//! bytes its `data` listeners see, and the bytes they `send` into wire
//! bytes. TLS is one (`hinge::tls`); the socket keeps its events, its
//! queue and its backpressure whatever layer sits in it, so protocols on
//! top (HTTP) serve plain and encrypted connections with one code path.

use std::any::Any;
use std::io;

use crate::Result;

/// What [`Layer::read`] found.
///
/// ```
/// use hinge::Decoded;
/// let d = Decoded::Bytes(3);
/// assert_ne!(d, Decoded::Empty);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// This many decoded bytes were copied into the buffer.
    Bytes(usize),
    /// Nothing decoded is ready: more wire bytes are needed.
    Empty,
    /// The peer ended the layer's session cleanly (TLS: its
    /// `close_notify`): the socket's `end`.
    End,
}

/// A byte transformation between a [`Socket`](crate::Socket) and its
/// peer, such as TLS. It never touches the OS socket: the socket feeds it
/// what it reads, hands it what the user sends, and writes its output
/// with the socket's own queue and backpressure, as rustls is fed by
/// tokio-rustls.
///
/// Install one with [`Socket::set_layer`](crate::Socket::set_layer), or on
/// every connection of a server with
/// [`Server::set_layer`](crate::Server::set_layer). While
/// [`is_ready`](Layer::is_ready) is false (a handshake), what the user
/// sends waits in the socket, then goes through
/// [`write`](Layer::write) in order; the socket emits `secure` when the
/// layer becomes ready.
///
/// The socket calls the layer from the loop's thread, never re-entrantly,
/// and never while a listener runs: a layer may not call back into its
/// socket.
///
/// A layer that swaps each byte's case, both ways:
///
/// ```
/// use std::io::{self, Read, Write};
/// use hinge::{Decoded, Layer};
///
/// #[derive(Default)]
/// struct SwapCase {
///     inbound: Vec<u8>,
///     outbound: Vec<u8>,
/// }
///
/// fn swap(b: &[u8]) -> impl Iterator<Item = u8> + '_ {
///     b.iter().map(|c| if c.is_ascii_lowercase() { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
/// }
///
/// impl Layer for SwapCase {
///     fn receive(&mut self, wire: &[u8]) -> hinge::Result<()> {
///         self.inbound.extend(swap(wire));
///         Ok(())
///     }
///     fn read(&mut self, buf: &mut [u8]) -> hinge::Result<Decoded> {
///         if self.inbound.is_empty() {
///             return Ok(Decoded::Empty);
///         }
///         let n = buf.len().min(self.inbound.len());
///         buf[..n].copy_from_slice(&self.inbound[..n]);
///         self.inbound.drain(..n);
///         Ok(Decoded::Bytes(n))
///     }
///     fn write(&mut self, data: &[u8]) -> hinge::Result<()> {
///         self.outbound.extend(swap(data));
///         Ok(())
///     }
///     fn output(&mut self, wire: &mut dyn Write) -> io::Result<()> {
///         wire.write_all(&self.outbound)?;
///         self.outbound.clear();
///         Ok(())
///     }
/// }
///
/// let lp = hinge::Loop::new()?;
/// let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
/// let s = hinge::Socket::from_unix_stream(&lp, a)?;
/// s.set_layer(SwapCase::default())?;
/// s.send("Hello")?;
/// let mut got = [0u8; 5];
/// b.read_exact(&mut got).unwrap();
/// assert_eq!(&got, b"hELLO");
/// # Ok::<(), hinge::Error>(())
/// ```
pub trait Layer: Any {
    /// Takes bytes read from the wire. The layer keeps all of them,
    /// decoding what it can now; an `Err` (a protocol error) fails the
    /// socket, after what [`output`](Layer::output) then holds (say, an
    /// alert) was written.
    fn receive(&mut self, wire: &[u8]) -> Result<()>;

    /// Copies decoded bytes into `buf`: [`Decoded::Bytes`] (at most
    /// `buf.len()`: a larger count fails the socket), or
    /// [`Decoded::Empty`] when it needs more wire bytes, or
    /// [`Decoded::End`] once the peer ended its session and every byte
    /// before that was read. The socket calls it until `Empty` (or until
    /// a listener pauses the socket; `resume` calls it again).
    fn read(&mut self, buf: &mut [u8]) -> Result<Decoded>;

    /// Takes bytes the user sends, all of them; the socket writes the
    /// result of [`output`](Layer::output) right after. Called only once
    /// [`is_ready`](Layer::is_ready).
    fn write(&mut self, data: &[u8]) -> Result<()>;

    /// Writes every wire byte ready to go to `wire` (the socket's send
    /// path, which takes all it is given: straight to the kernel when
    /// nothing is queued, else into the queue). Called after every
    /// `receive`, `read`, `write` and `end`, and when a connect completes.
    fn output(&mut self, wire: &mut dyn io::Write) -> io::Result<()>;

    /// The user ends the socket: end the session (TLS: `close_notify`).
    /// Its output is written before the socket half-closes.
    fn end(&mut self) {}

    /// The wire ended without [`Decoded::End`]: `Ok` if that is a clean
    /// end for this layer (the default), or the error to report (TLS: a
    /// truncation).
    fn eof(&mut self) -> Result<()> {
        Ok(())
    }

    /// Whether user bytes can flow (false during a handshake).
    fn is_ready(&self) -> bool {
        true
    }

    /// How long the handshake may take, counted from
    /// [`set_layer`](crate::Socket::set_layer), before the socket fails
    /// with [`Error::TimedOut`](crate::Error::TimedOut); `None` (the
    /// default) for no limit. See
    /// [`Socket::set_handshake_timeout`](crate::Socket::set_handshake_timeout).
    fn handshake_timeout(&self) -> Option<std::time::Duration> {
        None
    }
}
