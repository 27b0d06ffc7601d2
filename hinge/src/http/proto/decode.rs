//! Message body decoding, for requests (the server) and responses (the
//! client): Content-Length, chunked (strict about CRLF, with bounded
//! chunk extensions and trailers) and, for responses, until the close.

use ::http::HeaderMap;

use super::head::{refuse, Refusal};
use crate::http::config::Config;

/// What the decoder found next.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::http) enum Step<'a> {
    /// Body bytes.
    Data(&'a [u8]),
    /// The body is complete.
    Done,
    /// Everything given was consumed; more is needed.
    More,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// Hex digits of the size (`digits` so far).
    Size,
    /// Whitespace after the size, before `;`.
    SizeSpace,
    /// After a `;`: optional whitespace, then an extension's name.
    ExtStart,
    /// An extension's name (a token).
    ExtName,
    /// Whitespace after a name: `=`, `;` or the end of the line follow.
    ExtNameEnd,
    /// After `=`: optional whitespace, then a token or a quoted string.
    ExtValue,
    /// A token value.
    ExtToken,
    /// Inside a quoted-string value.
    ExtQuoted,
    /// After a backslash inside a quoted string.
    ExtEscape,
    /// After a value: whitespace, then `;` or the end of the line.
    ExtValueEnd,
    /// The LF after the size line's CR.
    SizeLf,
    /// Chunk data (`left` bytes to go).
    Data,
    /// The CR after chunk data.
    DataCr,
    /// The LF after chunk data.
    DataLf,
    /// The start of a trailer line, or the final CRLF.
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    /// The LF of a trailer line.
    TrailerLf,
    /// The LF of the final empty line.
    EndLf,
    Done,
}

/// A body decoder for one request.
#[derive(Debug)]
pub(in crate::http) enum Decoder {
    Length {
        left: u64,
    },
    Chunked(Box<Chunked>),
    /// Everything until the connection closes (a response without
    /// Content-Length or chunked framing): the caller ends it at EOF.
    Close,
}

#[derive(Debug)]
pub(in crate::http) struct Chunked {
    state: Chunk,
    size: u64,
    digits: u32,
    ext: usize,
    total: u64,
    trailer: Vec<u8>,
}

impl Decoder {
    pub fn length(n: u64) -> Decoder {
        Decoder::Length { left: n }
    }

    pub fn chunked() -> Decoder {
        Decoder::Chunked(Box::new(Chunked {
            state: Chunk::Size,
            size: 0,
            digits: 0,
            ext: 0,
            total: 0,
            trailer: Vec::new(),
        }))
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        match self {
            Decoder::Length { left } => *left == 0,
            Decoder::Chunked(c) => c.state == Chunk::Done,
            Decoder::Close => false,
        }
    }

    /// Body bytes still expected, when the framing says.
    pub fn remaining(&self) -> Option<u64> {
        match self {
            Decoder::Length { left } => Some(*left),
            Decoder::Chunked(_) | Decoder::Close => None,
        }
    }

    /// The trailers of a finished chunked body.
    pub fn take_trailers(&mut self) -> Result<Option<HeaderMap>, Refusal> {
        match self {
            Decoder::Chunked(c) if !c.trailer.is_empty() => {
                parse_trailers(&std::mem::take(&mut c.trailer)).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Decodes from `buf[*pos..]`, advancing `pos` past what it used.
    pub fn decode<'a>(
        &mut self,
        buf: &'a [u8],
        pos: &mut usize,
        config: &Config,
    ) -> Result<Step<'a>, Refusal> {
        match self {
            Decoder::Length { left } => {
                if *left == 0 {
                    return Ok(Step::Done);
                }
                let avail = buf.len() - *pos;
                if avail == 0 {
                    return Ok(Step::More);
                }
                let n = (*left).min(avail as u64) as usize;
                let data = &buf[*pos..*pos + n];
                *pos += n;
                *left -= n as u64;
                Ok(Step::Data(data))
            }
            Decoder::Chunked(c) => c.decode(buf, pos, config),
            Decoder::Close => {
                if *pos == buf.len() {
                    return Ok(Step::More);
                }
                let data = &buf[*pos..];
                *pos = buf.len();
                Ok(Step::Data(data))
            }
        }
    }
}

impl Chunked {
    fn decode<'a>(
        &mut self,
        buf: &'a [u8],
        pos: &mut usize,
        config: &Config,
    ) -> Result<Step<'a>, Refusal> {
        let bad_size = refuse(400, "invalid chunk size line");
        let bad_crlf = refuse(400, "chunk data not followed by CRLF");
        while *pos < buf.len() {
            if self.state == Chunk::Data {
                let avail = buf.len() - *pos;
                let n = self.size.min(avail as u64) as usize;
                let data = &buf[*pos..*pos + n];
                *pos += n;
                self.size -= n as u64;
                if self.size == 0 {
                    self.state = Chunk::DataCr;
                }
                return Ok(Step::Data(data));
            }
            let b = buf[*pos];
            *pos += 1;
            self.state = match (self.state, b) {
                (Chunk::Size, b) if b.is_ascii_hexdigit() => {
                    if self.digits >= 16 {
                        return Err(refuse(400, "chunk size too large"));
                    }
                    self.digits += 1;
                    self.size = self.size * 16 + u64::from(hex(b));
                    Chunk::Size
                }
                (Chunk::Size | Chunk::SizeSpace, b' ' | b'\t') if self.digits > 0 => {
                    Chunk::SizeSpace
                }
                (Chunk::Size | Chunk::SizeSpace, b';') if self.digits > 0 => Chunk::ExtStart,
                (Chunk::Size, b'\r') if self.digits > 0 => Chunk::SizeLf,
                (Chunk::Size | Chunk::SizeSpace, _) => return Err(bad_size),
                (
                    state @ (Chunk::ExtStart
                    | Chunk::ExtName
                    | Chunk::ExtNameEnd
                    | Chunk::ExtValue
                    | Chunk::ExtToken
                    | Chunk::ExtQuoted
                    | Chunk::ExtEscape
                    | Chunk::ExtValueEnd),
                    b,
                ) => {
                    self.ext += 1;
                    if self.ext > config.max_chunk_ext_bytes {
                        return Err(refuse(400, "chunk extension too long"));
                    }
                    extension(state, b).ok_or(refuse(400, "invalid chunk extension"))?
                }
                (Chunk::SizeLf, b'\n') => {
                    self.total = self.total.saturating_add(self.size);
                    if self.total > config.max_body_bytes {
                        return Err(refuse(413, "the request body is too large"));
                    }
                    self.digits = 0;
                    self.ext = 0;
                    if self.size == 0 {
                        Chunk::TrailerStart
                    } else {
                        Chunk::Data
                    }
                }
                (Chunk::SizeLf, _) => return Err(bad_size),
                (Chunk::DataCr, b'\r') => Chunk::DataLf,
                (Chunk::DataLf, b'\n') => Chunk::Size,
                (Chunk::DataCr | Chunk::DataLf, _) => return Err(bad_crlf),
                (Chunk::TrailerStart, b'\r') => Chunk::EndLf,
                (Chunk::EndLf, b'\n') => {
                    self.state = Chunk::Done;
                    return Ok(Step::Done);
                }
                (Chunk::EndLf, _) => return Err(refuse(400, "bad end of a chunked body")),
                (Chunk::Trailer, b'\r') => {
                    self.push_trailer(b'\r', config)?;
                    Chunk::TrailerLf
                }
                (Chunk::TrailerStart | Chunk::Trailer, b'\n') => {
                    return Err(refuse(400, "a bare LF in the trailers"))
                }
                (Chunk::TrailerStart | Chunk::Trailer, b) => {
                    self.push_trailer(b, config)?;
                    Chunk::Trailer
                }
                (Chunk::TrailerLf, b'\n') => {
                    self.push_trailer(b'\n', config)?;
                    Chunk::TrailerStart
                }
                (Chunk::TrailerLf, _) => return Err(refuse(400, "a bare CR in the trailers")),
                (Chunk::Data, _) => return Err(bad_size), // handled above
                (Chunk::Done, _) => {
                    *pos -= 1;
                    return Ok(Step::Done);
                }
            };
        }
        if self.state == Chunk::Done {
            Ok(Step::Done)
        } else {
            Ok(Step::More)
        }
    }

    fn push_trailer(&mut self, b: u8, config: &Config) -> Result<(), Refusal> {
        if self.trailer.len() >= config.max_head_bytes {
            return Err(refuse(431, "the trailers are too large"));
        }
        self.trailer.push(b);
        Ok(())
    }
}

/// One byte of the chunk extensions, RFC 9112 §7.1.1:
/// `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`.
/// `None` for a byte the grammar does not allow there.
fn extension(state: Chunk, b: u8) -> Option<Chunk> {
    let space = b == b' ' || b == b'\t';
    Some(match state {
        Chunk::ExtStart if space => Chunk::ExtStart,
        Chunk::ExtStart if is_tchar(b) => Chunk::ExtName,
        Chunk::ExtName if is_tchar(b) => Chunk::ExtName,
        Chunk::ExtName | Chunk::ExtNameEnd if space => Chunk::ExtNameEnd,
        Chunk::ExtName | Chunk::ExtNameEnd if b == b'=' => Chunk::ExtValue,
        Chunk::ExtValue if space => Chunk::ExtValue,
        Chunk::ExtValue if b == b'"' => Chunk::ExtQuoted,
        Chunk::ExtValue if is_tchar(b) => Chunk::ExtToken,
        Chunk::ExtToken if is_tchar(b) => Chunk::ExtToken,
        Chunk::ExtToken | Chunk::ExtValueEnd if space => Chunk::ExtValueEnd,
        Chunk::ExtQuoted if b == b'"' => Chunk::ExtValueEnd,
        Chunk::ExtQuoted if b == b'\\' => Chunk::ExtEscape,
        // qdtext: HTAB, SP, visible ASCII but `"` and `\`, obs-text.
        Chunk::ExtQuoted if space || (0x21..=0x7e).contains(&b) || b >= 0x80 => Chunk::ExtQuoted,
        Chunk::ExtEscape if space || (0x21..=0x7e).contains(&b) || b >= 0x80 => Chunk::ExtQuoted,
        // A complete extension: another one, or the end of the line.
        Chunk::ExtName | Chunk::ExtNameEnd | Chunk::ExtToken | Chunk::ExtValueEnd => match b {
            b';' => Chunk::ExtStart,
            b'\r' => Chunk::SizeLf,
            _ => return None,
        },
        _ => return None,
    })
}

/// RFC 9110's `tchar`: the bytes of a token.
pub(in crate::http) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

fn parse_trailers(block: &[u8]) -> Result<HeaderMap, Refusal> {
    let bad = refuse(400, "malformed trailers");
    let mut lines = block.to_vec();
    lines.extend_from_slice(b"\r\n");
    let mut slots = [httparse::EMPTY_HEADER; 64];
    match httparse::parse_headers(&lines, &mut slots) {
        Ok(httparse::Status::Complete((_, headers))) => {
            let mut map = HeaderMap::with_capacity(headers.len());
            for h in headers {
                let name = ::http::HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| bad)?;
                let value = ::http::HeaderValue::from_bytes(h.value).map_err(|_| bad)?;
                map.append(name, value);
            }
            Ok(map)
        }
        Err(httparse::Error::TooManyHeaders) => Err(refuse(431, "too many trailer lines")),
        _ => Err(bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> Result<(Vec<u8>, bool), u16> {
        let mut d = Decoder::chunked();
        let mut body = Vec::new();
        let mut pos = 0;
        loop {
            match d.decode(input, &mut pos, &Config::default()) {
                Ok(Step::Data(b)) => body.extend_from_slice(b),
                Ok(Step::Done) => return Ok((body, true)),
                Ok(Step::More) => return Ok((body, false)),
                Err(r) => return Err(r.status),
            }
        }
    }

    #[test]
    fn chunked_bodies() {
        assert_eq!(
            run(b"5\r\nhello\r\n0\r\n\r\n"),
            Ok((b"hello".to_vec(), true))
        );
        assert_eq!(
            run(b"5;a=b\r\nhello\r\n0\r\n\r\n"),
            Ok((b"hello".to_vec(), true))
        );
        assert_eq!(
            run(b"5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n").map(|r| r.1),
            Ok(true)
        );
        assert_eq!(run(b"5\r\nhel"), Ok((b"hel".to_vec(), false)));
        assert_eq!(run(b"5\nhello\r\n0\r\n\r\n"), Err(400));
        assert_eq!(run(b"5\r\nhelloX\r\n"), Err(400));
        assert_eq!(run(b"x\r\n"), Err(400));
        assert_eq!(run(b"\r\n"), Err(400));
        assert_eq!(run(b"11111111111111111\r\n"), Err(400));
        assert_eq!(run(b"5;a\nb\r\n"), Err(400));
    }

    #[test]
    fn chunk_extensions_follow_the_grammar() {
        let ok = |ext: &str| {
            let body = format!("1{ext}\r\nx\r\n0\r\n\r\n");
            run(body.as_bytes()).map(|r| r.1)
        };
        for good in [
            ";a",
            ";a=b",
            "; a = b",
            ";a=\"q s\"",
            ";a=\"esc\\\"aped\"",
            ";a;b=c;d=\"\"",
            " ;a",
        ] {
            assert_eq!(ok(good), Ok(true), "{good:?}");
        }
        for bad in [
            ";",
            ";\r",
            ";a b",
            ";a=\"unterminated",
            ";a=\"q\r\n\"",
            ";a=",
            ";a=b c",
            ";=b",
            ";a=b=c",
            ";a@b",
            ";a=\"x\"y",
        ] {
            assert_eq!(ok(bad), Err(400), "{bad:?}");
        }
    }
}
