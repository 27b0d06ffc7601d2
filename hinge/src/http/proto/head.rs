//! The request head: parsing with `httparse`, then the checks RFC 9112
//! asks of a server before it trusts a message's framing.

use std::mem::MaybeUninit;

use ::http::{Method, Uri, Version};
use bytes::Bytes;

use super::fields::Fields;
use crate::http::config::{Config, MAX_HEADERS_CAP};

/// How the request body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::http) enum Framing {
    Length(u64),
    Chunked,
}

/// A parsed and checked request head.
pub(in crate::http) struct Head {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: Fields,
    pub framing: Framing,
    /// The client allows the connection to stay open after this exchange.
    pub keep_alive: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
    /// `Connection: upgrade` with an `Upgrade` header.
    pub upgrade: bool,
}

/// A request refused before it reaches the handler: the status to answer
/// and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::http) struct Refusal {
    pub status: u16,
    pub reason: &'static str,
}

pub(in crate::http) const fn refuse(status: u16, reason: &'static str) -> Refusal {
    Refusal { status, reason }
}

// Returned once per head and moved straight into the request's cell:
// boxing it would cost an allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
pub(in crate::http) enum Parsed {
    /// More bytes are needed.
    Partial,
    /// A complete head of this many bytes.
    Complete(Head, usize),
}

/// Checks the limits that apply while a head is still incomplete.
pub(in crate::http) fn check_partial(buf: &[u8], config: &Config) -> Result<(), Refusal> {
    if !buf.contains(&b'\n') && buf.len() > config.max_uri_bytes + 32 {
        return Err(refuse(414, "the request target is too long"));
    }
    if buf.len() > config.max_head_bytes {
        return Err(refuse(431, "the request head is too large"));
    }
    Ok(())
}

/// Shares the bytes of heads with the values parsed from them: one copy
/// of a read's pipelined heads serves all of them (the target and header
/// values are slices of it), instead of one copy per request.
pub(in crate::http) struct HeadBytes<'a> {
    data: &'a [u8],
    /// Where the head being parsed starts in `data`.
    pub at: usize,
    /// A copy of `data[start..]`, or of one head.
    copy: Option<(usize, Bytes)>,
}

/// Input beyond this is not copied ahead (a body may follow).
const SHARE_AHEAD: usize = 4096;

impl<'a> HeadBytes<'a> {
    pub fn new(data: &'a [u8]) -> HeadBytes<'a> {
        HeadBytes {
            data,
            at: 0,
            copy: None,
        }
    }

    /// The `n` bytes at `at`, as a shared `Bytes`.
    pub(in crate::http) fn head(&mut self, n: usize) -> Bytes {
        let at = self.at;
        if let Some((start, bytes)) = &self.copy {
            if *start <= at && at + n <= start + bytes.len() {
                return bytes.slice(at - start..at - start + n);
            }
        }
        let rest = self.data.len() - at;
        let take = rest.min(SHARE_AHEAD).max(n);
        let bytes = Bytes::copy_from_slice(&self.data[at..at + take]);
        let head = bytes.slice(0..n);
        self.copy = Some((at, bytes));
        head
    }
}

/// Parses the head at `bytes.at` (which `buf` starts with).
pub(in crate::http) fn parse(
    buf: &[u8],
    config: &Config,
    bytes: &mut HeadBytes<'_>,
) -> Result<Parsed, Refusal> {
    let mut slots: [MaybeUninit<httparse::Header<'_>>; MAX_HEADERS_CAP] =
        std::array::from_fn(|_| MaybeUninit::uninit());
    let max = config.max_headers.clamp(1, MAX_HEADERS_CAP);
    let mut req = httparse::Request::new(&mut []);
    let n = match req.parse_with_uninit_headers(buf, &mut slots[..max]) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            check_partial(buf, config)?;
            return Ok(Parsed::Partial);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(refuse(431, "too many header lines")),
        Err(httparse::Error::Version) => return parse_other_version(buf, config, bytes),
        Err(_) => return Err(refuse(400, "malformed request head")),
    };
    if n > config.max_head_bytes {
        return Err(refuse(431, "the request head is too large"));
    }
    // A bare CR anywhere in the head is httparse's error already (every
    // CR it accepts is followed by LF): answered 400 above.
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(refuse(505, "unsupported HTTP version")),
    };
    let target = req.path.unwrap_or("");
    if target.len() > config.max_uri_bytes {
        return Err(refuse(414, "the request target is too long"));
    }
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|_| refuse(400, "invalid method"))?;
    let form = target_form(&method, target.as_bytes())?;

    // One copy of the head; the target and header values share it.
    let shared = bytes.head(n);
    let base = buf.as_ptr() as usize;
    let slice = |part: &[u8]| {
        let start = part.as_ptr() as usize - base;
        shared.slice(start..start + part.len())
    };
    let uri = if target.is_empty() {
        return Err(refuse(400, "empty request target"));
    } else {
        Uri::from_maybe_shared(slice(target.as_bytes()))
            .map_err(|_| refuse(400, "invalid request target"))?
    };
    if form == Form::Absolute && uri.authority().is_none() {
        return Err(refuse(400, "an absolute-form target without an authority"));
    }

    let mut headers = Fields::new(shared);
    let offset = |part: &[u8]| (part.as_ptr() as usize - base, part.len());
    let mut lengths: Option<u64> = None;
    let mut te = TransferCodings::default();
    let mut hosts = 0;
    let mut host_empty = false;
    let mut tokens = ConnectionTokens::default();
    let mut expect_continue = false;
    let mut has_upgrade = false;
    for h in req.headers.iter() {
        // httparse checked the name (a token) and the value by the `http`
        // crate's own rules (see `fields`); names longer than a
        // `HeaderName` takes are refused as it would.
        if h.name.len() > MAX_NAME {
            return Err(refuse(400, "invalid header name"));
        }
        match Known::of(h.name.as_bytes()) {
            Some(Known::ContentLength) => {
                let n = parse_content_length(h.value)?;
                if lengths.is_some_and(|m| m != n) {
                    return Err(refuse(400, "conflicting Content-Length headers"));
                }
                lengths = Some(n);
            }
            Some(Known::TransferEncoding) => {
                te.add(h.value).map_err(|reason| refuse(400, reason))?;
            }
            Some(Known::Host) => {
                hosts += 1;
                host_empty = h.value.is_empty();
                if !is_host(h.value) {
                    return Err(refuse(400, "invalid Host header"));
                }
            }
            Some(Known::Connection) => tokens.add(h.value),
            Some(Known::Expect) => {
                if trim(h.value).eq_ignore_ascii_case(b"100-continue") {
                    expect_continue = version == Version::HTTP_11;
                } else {
                    return Err(refuse(417, "unsupported expectation"));
                }
            }
            Some(Known::Upgrade) => has_upgrade = true,
            None => {}
        }
        headers.push(offset(h.name.as_bytes()), offset(h.value));
    }

    let framing = if te.seen {
        if version == Version::HTTP_10 {
            return Err(refuse(400, "Transfer-Encoding in an HTTP/1.0 request"));
        }
        if lengths.is_some() {
            return Err(refuse(400, "both Content-Length and Transfer-Encoding"));
        }
        if !te.chunked {
            return Err(refuse(400, "the last transfer coding is not chunked"));
        }
        if te.other {
            return Err(refuse(501, "a transfer coding other than chunked"));
        }
        Framing::Chunked
    } else {
        let n = lengths.unwrap_or(0);
        if n > config.max_body_bytes {
            return Err(refuse(413, "the request body is too large"));
        }
        Framing::Length(n)
    };
    match (version, hosts) {
        (Version::HTTP_11, 0) => return Err(refuse(400, "no Host header")),
        (_, h) if h > 1 => return Err(refuse(400, "several Host headers")),
        _ => {}
    }
    // An http URI has a host: an empty Host names none, which only an
    // absolute-form target (whose authority wins) makes up for.
    if host_empty && form != Form::Absolute {
        return Err(refuse(400, "an empty Host header"));
    }
    let keep_alive = match version {
        Version::HTTP_11 => !tokens.close,
        _ => tokens.keep_alive && !tokens.close,
    };
    let upgrade = tokens.upgrade && has_upgrade;
    Ok(Parsed::Complete(
        Head {
            method,
            uri,
            version,
            headers,
            framing,
            keep_alive,
            expect_continue,
            upgrade,
        },
        n,
    ))
}

/// The longest name a `HeaderName` takes.
const MAX_NAME: usize = (1 << 16) - 1;

/// The header lines the server reads itself.
#[derive(Clone, Copy)]
enum Known {
    ContentLength,
    TransferEncoding,
    Host,
    Connection,
    Expect,
    Upgrade,
}

impl Known {
    fn of(name: &[u8]) -> Option<Known> {
        let (known, text): (Known, &[u8]) = match name.len() {
            4 => (Known::Host, b"host"),
            6 => (Known::Expect, b"expect"),
            7 => (Known::Upgrade, b"upgrade"),
            10 => (Known::Connection, b"connection"),
            14 => (Known::ContentLength, b"content-length"),
            17 => (Known::TransferEncoding, b"transfer-encoding"),
            _ => return None,
        };
        // `| 0x20` lowercases a token's letters and changes no other
        // token byte into one of these (letters and `-`).
        let same = name.iter().zip(text).all(|(&a, &b)| a | 0x20 == b);
        same.then_some(known)
    }
}

/// The four forms of a request target (RFC 9112 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// `/path?query`: every method but CONNECT.
    Origin,
    /// `http://host/path`: what a client sends to a proxy.
    Absolute,
    /// `host:port`: CONNECT only.
    Authority,
    /// `*`: OPTIONS only.
    Asterisk,
}

/// Which form `target` has, or why it is refused. Only visible ASCII is
/// allowed: raw non-ASCII bytes must be percent-encoded.
fn target_form(method: &Method, target: &[u8]) -> Result<Form, Refusal> {
    // The common case first: an origin-form target of ASCII bytes.
    if target.first() == Some(&b'/')
        && *method != Method::CONNECT
        && target.iter().all(|&b| b < 0x7f)
    {
        return Ok(Form::Origin);
    }
    target_form_slow(method, target)
}

#[cold]
#[inline(never)]
fn target_form_slow(method: &Method, target: &[u8]) -> Result<Form, Refusal> {
    // httparse refused controls and spaces already: what is left to
    // refuse is bytes above 0x7e (0x7f included).
    if target.iter().any(|&b| b >= 0x7f) {
        return Err(refuse(400, "a request target must be visible ASCII"));
    }
    if *method == Method::CONNECT {
        return match target.iter().rposition(|&b| b == b':') {
            Some(colon)
                if colon + 1 < target.len()
                    && target[colon + 1..].iter().all(u8::is_ascii_digit)
                    && is_host(target) =>
            {
                Ok(Form::Authority)
            }
            _ => Err(refuse(400, "CONNECT needs a host:port target")),
        };
    }
    match target {
        b"*" if *method == Method::OPTIONS => Ok(Form::Asterisk),
        b"*" => Err(refuse(400, "an asterisk target is for OPTIONS only")),
        [b'/', ..] => Ok(Form::Origin),
        _ if has_scheme(target) => Ok(Form::Absolute),
        _ => Err(refuse(
            400,
            "a request target must start with / (or be absolute)",
        )),
    }
}

/// `scheme "://"` at the start: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn has_scheme(target: &[u8]) -> bool {
    let Some(end) = target.windows(3).position(|w| w == b"://") else {
        return false;
    };
    let scheme = &target[..end];
    scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
}

/// A Host value (RFC 9110 §7.2): `uri-host [ ":" port ]`, or empty. The
/// host is an IP literal in brackets, or a reg-name (unreserved,
/// percent-encoded and sub-delims bytes: no space, `/`, `?`, `#`, `@`).
fn is_host(value: &[u8]) -> bool {
    // The common case, a plain name or IPv4 address with or without a
    // port: one pass over the bytes.
    match value.iter().position(|&b| !REG_NAME[usize::from(b)]) {
        None => true,
        Some(at) if value[at] == b':' => {
            let port = &value[at + 1..];
            port.iter().all(u8::is_ascii_digit) || is_host_slow(value)
        }
        Some(_) => is_host_slow(value),
    }
}

/// `is_host` for IP literals, and for what it refuses.
#[cold]
#[inline(never)]
fn is_host_slow(value: &[u8]) -> bool {
    let (host, port) = match value.iter().rposition(|&b| b == b':') {
        // A colon inside brackets belongs to an IPv6 literal.
        Some(colon) if !value[colon..].contains(&b']') => (&value[..colon], &value[colon + 1..]),
        _ => (value, &b""[..]),
    };
    if !port.iter().all(u8::is_ascii_digit) {
        return false;
    }
    match host {
        [b'[', literal @ .., b']'] => {
            !literal.is_empty()
                && literal.iter().all(|&b| {
                    b.is_ascii_hexdigit() || b == b':' || b == b'.' || b == b'v' || b == b'V'
                })
        }
        _ => host.iter().all(|&b| REG_NAME[usize::from(b)]),
    }
}

/// The bytes of a reg-name (RFC 3986): unreserved, `%` of pct-encoded,
/// sub-delims.
static REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        b += 1;
    }
    table
};

/// A head whose version httparse refused. RFC 9110 §2.5: a higher minor
/// version of HTTP/1 is served as 1.1; httparse knows only 1.0 and 1.1,
/// so a copy that says 1.1 is parsed (same offsets, so the values still
/// slice `bytes`). Any other well-formed `HTTP/x.y` is a version we do
/// not speak (505); anything else is a malformed line (400).
#[cold]
#[inline(never)]
fn parse_other_version(
    buf: &[u8],
    config: &Config,
    bytes: &mut HeadBytes<'_>,
) -> Result<Parsed, Refusal> {
    match version_of(buf) {
        LineVersion::Later1(at) => {
            let mut copy = buf.to_vec();
            copy[at] = b'1';
            parse(&copy, config, bytes)
        }
        LineVersion::Other => Err(refuse(505, "unsupported HTTP version")),
        LineVersion::Malformed => Err(refuse(400, "malformed request line")),
    }
}

/// What the version of a request line httparse refused is.
enum LineVersion {
    /// `HTTP/1.x` with x from 2 to 9: its minor digit is at this index.
    Later1(usize),
    /// A well-formed `HTTP/x.y` of another major version.
    Other,
    /// Not `HTTP/` digit `.` digit, or not where a version goes.
    Malformed,
}

fn version_of(buf: &[u8]) -> LineVersion {
    let Some(line_end) = buf.iter().position(|&b| b == b'\r' || b == b'\n') else {
        return LineVersion::Malformed;
    };
    let line = &buf[..line_end];
    // method SP target SP version: exactly two single spaces.
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return LineVersion::Malformed;
    };
    if method.is_empty() || target.is_empty() {
        return LineVersion::Malformed;
    }
    match version {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'2'..=b'9'] => {
            LineVersion::Later1(line_end - 1)
        }
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            LineVersion::Other
        }
        _ => LineVersion::Malformed,
    }
}

/// What the Transfer-Encoding lines of a message say (requests and
/// responses alike).
#[derive(Default)]
pub(in crate::http) struct TransferCodings {
    pub seen: bool,
    /// The last coding is chunked (nothing may follow it).
    pub chunked: bool,
    /// A coding other than chunked came before it.
    pub other: bool,
}

impl TransferCodings {
    /// Adds one Transfer-Encoding line; the error is why it is refused.
    pub fn add(&mut self, value: &[u8]) -> Result<(), &'static str> {
        self.seen = true;
        for coding in value.split(|&b| b == b',') {
            let coding = trim(coding);
            if coding.is_empty() {
                continue;
            }
            if self.chunked {
                return Err("a transfer coding after chunked");
            }
            if coding.eq_ignore_ascii_case(b"chunked") {
                self.chunked = true;
            } else {
                self.other = true;
            }
        }
        Ok(())
    }
}

/// The tokens of the Connection lines that matter to persistence and
/// upgrades.
#[derive(Default)]
pub(in crate::http) struct ConnectionTokens {
    pub close: bool,
    pub keep_alive: bool,
    pub upgrade: bool,
}

impl ConnectionTokens {
    pub fn add(&mut self, value: &[u8]) {
        for token in value.split(|&b| b == b',') {
            let token = trim(token);
            self.close |= token.eq_ignore_ascii_case(b"close");
            self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            self.upgrade |= token.eq_ignore_ascii_case(b"upgrade");
        }
    }
}

/// A Content-Length value: one or more identical lists of digits.
pub(in crate::http) fn parse_content_length(value: &[u8]) -> Result<u64, Refusal> {
    let bad = refuse(400, "invalid Content-Length");
    let mut found: Option<u64> = None;
    for part in value.split(|&b| b == b',') {
        let part = trim(part);
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(bad);
        }
        let mut n: u64 = 0;
        for &d in part {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .ok_or(bad)?;
        }
        if found.is_some_and(|m| m != n) {
            return Err(refuse(400, "conflicting Content-Length values"));
        }
        found = Some(n);
    }
    found.ok_or(bad)
}

pub(in crate::http) fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(req: &str) -> u16 {
        match parse(
            req.as_bytes(),
            &Config::default(),
            &mut HeadBytes::new(req.as_bytes()),
        ) {
            Ok(Parsed::Complete(..)) => 200,
            Ok(Parsed::Partial) => 0,
            Err(r) => r.status,
        }
    }

    #[test]
    fn content_length_rules() {
        assert_eq!(parse_content_length(b"42"), Ok(42));
        assert_eq!(parse_content_length(b"7, 7"), Ok(7));
        assert_eq!(parse_content_length(b"7, 8").unwrap_err().status, 400);
        assert_eq!(parse_content_length(b"+7").unwrap_err().status, 400);
        assert_eq!(parse_content_length(b"0x10").unwrap_err().status, 400);
        assert_eq!(
            parse_content_length(b"99999999999999999999999")
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn framing_and_host() {
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.0\r\n\r\n"), 200);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            501
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            400
        );
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r"), 0);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nX\r: b\r\n\r\n"), 400);
        assert_eq!(status("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\rHost: a\r\n\r\n"), 400);
    }

    #[test]
    fn host_values() {
        let host = |h: &str| status(&format!("GET / HTTP/1.1\r\nHost: {h}\r\n\r\n"));
        for good in [
            "a",
            "a:80",
            "example.com",
            "127.0.0.1:8080",
            "[::1]",
            "[::1]:80",
            "a_b~c",
        ] {
            assert_eq!(host(good), 200, "{good:?}");
        }
        for bad in [
            "a b",
            "localhost/path",
            "a, b",
            "a:b",
            "a@b",
            "[::1",
            "a?b",
            "a#b",
            "a:80:x",
            "",
        ] {
            assert_eq!(host(bad), 400, "{bad:?}");
        }
    }

    #[test]
    fn target_forms() {
        let req = |line: &str| status(&format!("{line}\r\nHost: a\r\n\r\n"));
        assert_eq!(req("GET / HTTP/1.1"), 200);
        assert_eq!(req("GET /a?b HTTP/1.1"), 200);
        assert_eq!(req("GET http://a/b HTTP/1.1"), 200);
        assert_eq!(req("OPTIONS * HTTP/1.1"), 200);
        assert_eq!(req("CONNECT a:443 HTTP/1.1"), 200);
        for bad in [
            "GET ! HTTP/1.1",
            "GET hello HTTP/1.1",
            "GET a:80 HTTP/1.1",
            "GET * HTTP/1.1",
            "POST ! HTTP/1.1",
            "CONNECT / HTTP/1.1",
            "CONNECT a HTTP/1.1",
            "CONNECT http://a:80/ HTTP/1.1",
            "GET http:// HTTP/1.1",
            "GET /\u{3b4}\u{b6} HTTP/1.1",
        ] {
            assert_eq!(req(bad), 400, "{bad:?}");
        }
        for raw in [
            &b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /a\x80b HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET http://a/\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            let parsed = parse(raw, &Config::default(), &mut HeadBytes::new(raw));
            assert_eq!(parsed.err().map(|r| r.status), Some(400), "{raw:?}");
        }
    }

    #[test]
    fn later_minor_versions_are_served_as_1_1() {
        let raw = "GET /v HTTP/1.2\r\nHost: a\r\nX: y\r\n\r\n";
        let Ok(Parsed::Complete(head, n)) = parse(
            raw.as_bytes(),
            &Config::default(),
            &mut HeadBytes::new(raw.as_bytes()),
        ) else {
            panic!("HTTP/1.2 is served")
        };
        assert_eq!(n, raw.len());
        assert_eq!(head.version, Version::HTTP_11);
        assert_eq!(head.uri.path(), "/v");
        assert_eq!(head.headers.get_str("x"), Some("y"));
        assert_eq!(status("GET / HTTP/1.9\r\nHost: a\r\n\r\n"), 200);
        assert_eq!(status("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
        assert_eq!(status("GET / HTTPS/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status("GET / http/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), 400);
    }
}
