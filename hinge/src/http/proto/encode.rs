//! Heads (responses for the server, requests for the client) and body
//! framing on the wire, and the `Date` header, formatted at most once a
//! second.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::http::header::{HeaderName, HeaderValue};
use ::http::StatusCode;

/// How a response body is delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::http) enum Framing {
    /// No body may follow (HEAD, 1xx, 204, 304).
    Empty,
    /// `Content-Length`, with this many bytes still to come.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Delimited by closing the connection (an HTTP/1.0 client).
    Close,
}

/// The `Date` header's line, reformatted when the second changes.
pub(in crate::http) struct DateCache {
    cached: RefCell<(u64, [u8; DATE_LINE])>,
}

/// `date: ` and an IMF-fixdate (29 bytes) and CRLF.
const DATE_LINE: usize = 6 + 29 + 2;

impl DateCache {
    pub fn new() -> DateCache {
        let mut line = [b' '; DATE_LINE];
        line[..6].copy_from_slice(b"date: ");
        line[DATE_LINE - 2..].copy_from_slice(b"\r\n");
        DateCache {
            cached: RefCell::new((u64::MAX, line)),
        }
    }

    /// Appends `date: ...\r\n` for the wall-clock second `now`.
    pub fn write(&self, now: f64, out: &mut Vec<u8>) {
        let secs = if now.is_finite() && now > 0.0 {
            now as u64
        } else {
            0
        };
        let mut cached = self.cached.borrow_mut();
        if cached.0 != secs {
            Self::format(secs, &mut cached.1[6..6 + 29]);
            cached.0 = secs;
        }
        out.extend_from_slice(&cached.1);
    }

    #[cold]
    #[inline(never)]
    fn format(secs: u64, into: &mut [u8]) {
        let text = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
        if text.len() == 29 {
            into.copy_from_slice(text.as_bytes());
        } else {
            let fallback = httpdate::fmt_http_date(SystemTime::now());
            let n = fallback.len().min(29);
            into[..n].copy_from_slice(&fallback.as_bytes()[..n]);
        }
    }
}

/// What the connection header of a response says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::http) enum Persist {
    /// Nothing: HTTP/1.1's default, keep-alive.
    Default,
    /// `connection: keep-alive` (an HTTP/1.0 client asked for it).
    KeepAlive,
    /// `connection: close`.
    Close,
}

/// Appends a response head.
pub(in crate::http) fn head<'h>(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: impl IntoIterator<Item = &'h (HeaderName, HeaderValue)>,
    framing: Framing,
    persist: Persist,
    date: Option<(&DateCache, f64)>,
) {
    // Room for a typical head at once: the appends below then only check.
    out.reserve(128);
    status_line(out, status);
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some((cache, now)) = date {
        cache.write(now, out);
    }
    match framing {
        Framing::Length(n) => length_line(out, n),
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::Empty | Framing::Close => {}
    }
    match persist {
        Persist::Default => {}
        Persist::KeepAlive => out.extend_from_slice(b"connection: keep-alive\r\n"),
        Persist::Close => out.extend_from_slice(b"connection: close\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// `HTTP/1.1 200 OK` and CRLF (the common one as one copy).
fn status_line(out: &mut Vec<u8>, status: StatusCode) {
    if status == StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        return;
    }
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends a request head: the request line, `headers` as given (the
/// caller's, `host` among them), then the framing's header.
pub(in crate::http) fn request_head<'h>(
    out: &mut Vec<u8>,
    method: &::http::Method,
    target: &str,
    headers: impl IntoIterator<Item = &'h (HeaderName, HeaderValue)>,
    framing: Framing,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Length(n) => length_line(out, n),
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::Empty | Framing::Close => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends one chunk of a chunked body (nothing for an empty one, which
/// would read as the end).
pub(in crate::http) fn chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    hex(out, data.len());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk and an empty trailer.
pub(in crate::http) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// `content-length: n` and CRLF, in one append.
fn length_line(out: &mut Vec<u8>, n: u64) {
    const PREFIX: &[u8] = b"content-length: ";
    let mut buf = [0u8; 16 + 20 + 2];
    let end = buf.len() - 2;
    buf[end..].copy_from_slice(b"\r\n");
    let i = digits(&mut buf[..end], n) - PREFIX.len();
    buf[i..i + PREFIX.len()].copy_from_slice(PREFIX);
    out.extend_from_slice(&buf[i..]);
}

/// Writes `n` in decimal at the end of `buf` (room for 20 digits);
/// returns where the digits start.
fn digits(buf: &mut [u8], mut n: u64) -> usize {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return i;
        }
    }
}

fn hex(out: &mut Vec<u8>, mut n: usize) {
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[n & 15];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(out: &mut Vec<u8>, n: u64) {
        let mut buf = [0u8; 20];
        let i = digits(&mut buf, n);
        out.extend_from_slice(&buf[i..]);
    }

    #[test]
    fn numbers_and_chunks() {
        let mut out = Vec::new();
        decimal(&mut out, 0);
        decimal(&mut out, 1234567890);
        assert_eq!(out, b"01234567890");
        let mut out = Vec::new();
        chunk(&mut out, b"0123456789abcdefXYZ");
        chunk(&mut out, b"");
        assert_eq!(out, b"13\r\n0123456789abcdefXYZ\r\n");
    }

    #[test]
    fn date_is_imf_fixdate() {
        let mut out = Vec::new();
        DateCache::new().write(784111777.0, &mut out);
        assert_eq!(out, b"date: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
    }
}
