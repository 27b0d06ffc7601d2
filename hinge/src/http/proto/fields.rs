//! A request head's header lines as spans of its bytes. The parser has
//! checked them already (httparse's token and value rules are the `http`
//! crate's), so a request costs no `HeaderName`, `HeaderValue` or
//! `HeaderMap` until a handler asks for the map: looking up one header
//! scans the spans.

use ::http::header::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;

/// Header lines kept without an allocation; more go to a `Vec`.
const INLINE: usize = 8;

/// One header line: where its name and value are in the head's bytes.
#[derive(Clone, Copy, Default)]
struct Span {
    name: u32,
    name_len: u32,
    value: u32,
    value_len: u32,
}

/// The header lines of one head, in the order received.
pub(in crate::http) struct Fields {
    head: Bytes,
    inline: [Span; INLINE],
    len: usize,
    more: Vec<Span>,
}

impl Fields {
    /// No lines yet, over `head` (the head's bytes, shared).
    pub fn new(head: Bytes) -> Fields {
        Fields {
            head,
            inline: [Span::default(); INLINE],
            len: 0,
            more: Vec::new(),
        }
    }

    /// Adds a line whose name and value are these ranges of the head
    /// (checked by the parser: a token, and a valid field value).
    pub fn push(&mut self, name: (usize, usize), value: (usize, usize)) {
        // Heads are far below 4 GiB (`max_head_bytes`), so the offsets fit.
        let span = Span {
            name: name.0 as u32,
            name_len: name.1 as u32,
            value: value.0 as u32,
            value_len: value.1 as u32,
        };
        if self.len < INLINE {
            self.inline[self.len] = span;
        } else {
            self.more.push(span);
        }
        self.len += 1;
    }

    fn spans(&self) -> impl Iterator<Item = &Span> {
        self.inline[..self.len.min(INLINE)].iter().chain(&self.more)
    }

    fn name(&self, s: &Span) -> &[u8] {
        &self.head[s.name as usize..(s.name + s.name_len) as usize]
    }

    fn value(&self, s: &Span) -> &[u8] {
        &self.head[s.value as usize..(s.value + s.value_len) as usize]
    }

    /// The first value of `name` (any case), as `HeaderValue::to_str`
    /// gives it: only if it is visible ASCII.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        let name = name.as_bytes();
        let s = self.spans().find(|s| {
            s.name_len as usize == name.len() && self.name(s).eq_ignore_ascii_case(name)
        })?;
        let value = self.value(s);
        if value
            .iter()
            .all(|&b| b == b'\t' || (b' '..0x7f).contains(&b))
        {
            std::str::from_utf8(value).ok()
        } else {
            None
        }
    }

    /// The lines as a `HeaderMap`, in order (repeated names kept).
    pub fn to_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.len);
        for s in self.spans() {
            let start = s.value as usize;
            let value = self.head.slice(start..start + s.value_len as usize);
            // The parser accepted both, under the same rules.
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(self.name(s)),
                HeaderValue::from_maybe_shared(value),
            ) {
                map.append(name, value);
            }
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parser's checks stand for the `http` crate's: every byte
    /// httparse takes in a name or a value, `HeaderName` and
    /// `HeaderValue` take too.
    #[test]
    fn httparse_rules_are_the_http_crates() {
        for b in 0..=255u8 {
            let name = [b'x', b, b'y'];
            let raw = [b"GET / HTTP/1.1\r\n".as_slice(), &name, b": v\r\n\r\n"].concat();
            let mut headers = [httparse::EMPTY_HEADER; 4];
            let parsed = httparse::Request::new(&mut headers).parse(&raw);
            if matches!(parsed, Ok(httparse::Status::Complete(_)))
                && headers[0].name.as_bytes() == name
            {
                assert!(HeaderName::from_bytes(&name).is_ok(), "name byte {b:#x}");
            }
            let value = [b'a', b, b'b'];
            let raw = [b"GET / HTTP/1.1\r\nx: ".as_slice(), &value, b"\r\n\r\n"].concat();
            let mut headers = [httparse::EMPTY_HEADER; 4];
            let parsed = httparse::Request::new(&mut headers).parse(&raw);
            if matches!(parsed, Ok(httparse::Status::Complete(_))) && headers[0].value == value {
                assert!(HeaderValue::from_bytes(&value).is_ok(), "value byte {b:#x}");
            }
        }
    }

    #[test]
    fn lookups_and_map() {
        let head = Bytes::from_static(b"Host: a\r\nX-Y: \xff\r\nx-y: 2\r\n");
        let mut f = Fields::new(head);
        f.push((0, 4), (6, 1));
        f.push((9, 3), (14, 1));
        f.push((17, 3), (22, 1));
        assert_eq!(f.get_str("host"), Some("a"));
        assert_eq!(f.get_str("x-y"), None); // not visible ASCII
        assert_eq!(f.get_str("z"), None);
        let map = f.to_map();
        assert_eq!(map.get_all("x-y").iter().count(), 2);
        assert_eq!(map["host"], "a");
    }
}
