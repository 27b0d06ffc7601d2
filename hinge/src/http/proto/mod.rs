//! The HTTP/1.1 wire format, shared by the server and the client: one
//! parser (`httparse`, with RFC 9112's framing checks) and one encoder.
//!
//! | file | concern |
//! |---|---|
//! | `head.rs` | request heads (the server), and the checks both sides share |
//! | `fields.rs` | a request head's header lines, as spans of its bytes |
//! | `status.rs` | response heads (the client) |
//! | `decode.rs` | bodies: Content-Length, chunked, until the close |
//! | `encode.rs` | heads and chunks on the wire, the `Date` cache |

pub(in crate::http) mod decode;
pub(in crate::http) mod encode;
pub(in crate::http) mod fields;
pub(in crate::http) mod head;
pub(in crate::http) mod status;
