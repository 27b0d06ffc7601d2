//! Evented networking: TCP and Unix-domain servers and sockets.

mod addr;
mod client;
mod layer;
mod lines;
mod server;
mod stream;
mod sys;

pub use addr::Addr;
pub use client::{tcp_send, SendOptions};
pub use layer::{Decoded, Layer};
pub use lines::LineSplitter;
#[cfg(feature = "async")]
pub use server::Incoming;
pub use server::{Server, ServerEvent};
#[cfg(feature = "async")]
pub use stream::Connected;
pub use stream::{Socket, SocketEvent, DEFAULT_HIGH_WATER};
