//! Response heads, for the client: parsed with `httparse` like request
//! heads, and checked by the same rules (RFC 9112 §6.3) before their
//! framing is trusted.

use std::mem::MaybeUninit;

use ::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ::http::{Method, StatusCode, Version};

use super::head::{parse_content_length, ConnectionTokens, HeadBytes, TransferCodings};
use crate::http::config::MAX_HEADERS_CAP;

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::http) enum BodyKind {
    /// No body: a response to HEAD, a 1xx, 204 or 304.
    Empty,
    /// `Content-Length`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the server closes the connection.
    Close,
    /// A 2xx to CONNECT: the connection is a tunnel from here.
    Tunnel,
}

/// A parsed and checked response head.
#[derive(Debug)]
pub(in crate::http) struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    /// The reason phrase, when it is not the status's canonical one.
    pub reason: Option<Box<str>>,
    pub headers: HeaderMap,
    pub body: BodyKind,
    /// The server allows another request on this connection.
    pub keep_alive: bool,
}

// Returned once per head and moved into the response at once.
#[allow(clippy::large_enum_variant)]
pub(in crate::http) enum ParsedStatus {
    Partial,
    Complete(ResponseHead, usize),
}

/// The limits a response head is held to.
#[derive(Clone, Copy, Debug)]
pub(in crate::http) struct HeadLimits {
    pub max_head_bytes: usize,
    pub max_headers: usize,
}

/// Parses the response head at the start of `buf`, sent in answer to a
/// `method` request. The error is what was wrong with it.
pub(in crate::http) fn parse_response(
    buf: &[u8],
    limits: HeadLimits,
    method: &Method,
    bytes: &mut HeadBytes<'_>,
) -> Result<ParsedStatus, &'static str> {
    let mut slots: [MaybeUninit<httparse::Header<'_>>; MAX_HEADERS_CAP] =
        std::array::from_fn(|_| MaybeUninit::uninit());
    let max = limits.max_headers.clamp(1, MAX_HEADERS_CAP);
    let mut res = httparse::Response::new(&mut []);
    let parser = httparse::ParserConfig::default();
    let n = match parser.parse_response_with_uninit_headers(&mut res, buf, &mut slots[..max]) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.max_head_bytes {
                return Err("the response head is too large");
            }
            return Ok(ParsedStatus::Partial);
        }
        Err(httparse::Error::TooManyHeaders) => return Err("too many header lines"),
        Err(httparse::Error::Version) => return Err("not an HTTP/1.x status line"),
        Err(httparse::Error::Status) => return Err("an invalid status code"),
        Err(_) => return Err("a malformed response head"),
    };
    if n > limits.max_head_bytes {
        return Err("the response head is too large");
    }
    let version = match res.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let status = res
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or("an invalid status code")?;
    let reason = match res.reason {
        Some(r) if Some(r) != status.canonical_reason() => Some(r.into()),
        _ => None,
    };

    let shared = bytes.head(n);
    let base = buf.as_ptr() as usize;
    let slice = |part: &[u8]| {
        let start = part.as_ptr() as usize - base;
        shared.slice(start..start + part.len())
    };
    let mut headers = HeaderMap::with_capacity(res.headers.len());
    let mut length: Option<u64> = None;
    let mut te = TransferCodings::default();
    let mut tokens = ConnectionTokens::default();
    for h in res.headers.iter() {
        let name =
            HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| "an invalid header name")?;
        let value = HeaderValue::from_maybe_shared(slice(h.value))
            .map_err(|_| "an invalid header value")?;
        if name == header::CONTENT_LENGTH {
            let n = parse_content_length(h.value).map_err(|r| r.reason)?;
            if length.is_some_and(|m| m != n) {
                return Err("conflicting Content-Length headers");
            }
            length = Some(n);
        } else if name == header::TRANSFER_ENCODING {
            te.add(h.value)?;
        } else if name == header::CONNECTION {
            tokens.add(h.value);
        }
        headers.append(name, value);
    }

    let code = status.as_u16();
    let body =
        if *method == Method::HEAD || (100..200).contains(&code) || code == 204 || code == 304 {
            BodyKind::Empty
        } else if *method == Method::CONNECT && status.is_success() {
            BodyKind::Tunnel
        } else if te.seen {
            if length.is_some() {
                // RFC 9112 §6.1: a message with both may be an attempt at
                // smuggling; a client may not reuse the connection, and
                // hinge refuses the response.
                return Err("both Content-Length and Transfer-Encoding");
            }
            if version == Version::HTTP_10 {
                return Err("Transfer-Encoding in an HTTP/1.0 response");
            }
            if te.chunked {
                BodyKind::Chunked
            } else {
                BodyKind::Close
            }
        } else {
            match length {
                Some(n) => BodyKind::Length(n),
                None => BodyKind::Close,
            }
        };
    let keep_alive = body != BodyKind::Close
        && body != BodyKind::Tunnel
        && match version {
            Version::HTTP_11 => !tokens.close,
            _ => tokens.keep_alive && !tokens.close,
        };
    Ok(ParsedStatus::Complete(
        ResponseHead {
            status,
            version,
            reason,
            headers,
            body,
            keep_alive,
        },
        n,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_head_bytes: 16 * 1024,
        max_headers: 100,
    };

    fn parse(raw: &str, method: Method) -> Result<Option<(ResponseHead, usize)>, &'static str> {
        match parse_response(
            raw.as_bytes(),
            LIMITS,
            &method,
            &mut HeadBytes::new(raw.as_bytes()),
        )? {
            ParsedStatus::Partial => Ok(None),
            ParsedStatus::Complete(h, n) => Ok(Some((h, n))),
        }
    }

    fn body(raw: &str) -> Result<BodyKind, &'static str> {
        Ok(parse(raw, Method::GET)?.expect("complete").0.body)
    }

    #[test]
    fn framing() {
        assert_eq!(
            body("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
            Ok(BodyKind::Length(5))
        );
        assert_eq!(
            body("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Ok(BodyKind::Chunked)
        );
        assert_eq!(
            body("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
            Ok(BodyKind::Close)
        );
        assert_eq!(body("HTTP/1.1 200 OK\r\n\r\n"), Ok(BodyKind::Close));
        assert_eq!(
            body("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"),
            Ok(BodyKind::Empty)
        );
        assert_eq!(
            body("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Ok(BodyKind::Empty)
        );
        let head = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Method::HEAD);
        assert_eq!(head.unwrap().unwrap().0.body, BodyKind::Empty);
        let connect = parse(
            "HTTP/1.1 200 Connection established\r\n\r\n",
            Method::CONNECT,
        );
        assert_eq!(connect.unwrap().unwrap().0.body, BodyKind::Tunnel);
        assert_eq!(
            body("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"),
            Ok(BodyKind::Length(0))
        );
    }

    #[test]
    fn hostile_heads() {
        for (raw, why) in [
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                "two lengths",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
                "a list of lengths",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                "a negative length",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                "CL plus TE",
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip, chunked\r\n\r\n",
                "chunked twice",
            ),
            (
                "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                "TE in 1.0",
            ),
            ("HTTP/1.1 2000 OK\r\n\r\n", "a 4-digit status"),
            ("HTTP/1.1 OK\r\n\r\n", "no status"),
            ("HTTP/2.0 200 OK\r\n\r\n", "another version"),
            ("ICY 200 OK\r\n\r\n", "not HTTP"),
            ("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", "a bare CR"),
            (
                "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
                "a space in a name",
            ),
        ] {
            assert!(body(raw).is_err(), "{why}: {raw:?}");
        }
        let big = format!("HTTP/1.1 200 OK\r\nX: {}\r\n", "a".repeat(20_000));
        assert!(parse(&big, Method::GET).is_err(), "an endless head");
        assert!(matches!(
            parse("HTTP/1.1 200 OK\r\nX: y\r\n", Method::GET),
            Ok(None)
        ));
    }

    #[test]
    fn persistence() {
        let ka = |raw: &str| parse(raw, Method::GET).unwrap().unwrap().0.keep_alive;
        assert!(ka("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(!ka(
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ));
        assert!(!ka("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(ka(
            "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
        ));
        assert!(!ka("HTTP/1.1 200 OK\r\n\r\n"), "close-delimited");
    }
}
