//! libzmq's errors as typed `hinge::Error`s naming the endpoint.

use crate::Error;

/// Maps a libzmq error during `op` on `endpoint` (or the socket's kind).
pub(super) fn from_zmq(op: &'static str, endpoint: &str, e: zmq::Error) -> Error {
    let invalid = |reason| Error::InvalidAddress {
        addr: endpoint.to_string(),
        reason,
    };
    match e {
        zmq::Error::EINVAL if matches!(op, "bind" | "connect" | "unbind" | "disconnect") => {
            invalid("not a valid ZeroMQ endpoint")
        }
        zmq::Error::EPROTONOSUPPORT => invalid("unsupported transport"),
        zmq::Error::ENOCOMPATPROTO => invalid("transport not compatible with the socket kind"),
        zmq::Error::ENOENT if matches!(op, "unbind" | "disconnect") => {
            invalid("not bound or connected there")
        }
        // The OS errors keep hinge's own variants (AddrInUse, ...).
        zmq::Error::EADDRINUSE
        | zmq::Error::EADDRNOTAVAIL
        | zmq::Error::ENODEV
        | zmq::Error::ECONNREFUSED
        | zmq::Error::EHOSTUNREACH
            if !matches!(op, "send") =>
        {
            Error::from_io(op, endpoint, std::io::Error::from_raw_os_error(e.to_raw()))
        }
        source => Error::Zmq {
            op,
            endpoint: endpoint.to_string(),
            source,
        },
    }
}
