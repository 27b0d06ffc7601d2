//! Evented networking: TCP and Unix-domain servers and sockets.

mod addr;
mod client;
mod lines;
mod server;
mod stream;
mod sys;

pub use addr::Addr;
pub use client::{tcp_send, SendOptions};
pub use lines::LineSplitter;
pub use server::{Server, ServerEvent};
pub use stream::{Socket, SocketEvent, DEFAULT_HIGH_WATER};
