//! `rnats-protocol`: pure parsing and encoding for the NATS wire protocols.
//!
//! Nothing in this crate performs I/O, logs, or allocates on the message hot
//! path. Every parser works over a caller-owned byte slice and hands back ops
//! whose fields borrow from it, so a payload is never copied until the server
//! appends it to a receiver's outbound buffer. Every entry point is safe to
//! call with arbitrary bytes, which is what the fuzz targets do.
#![forbid(unsafe_code)]

pub mod client;
pub mod conf;
pub mod encode;
pub mod framing;
pub mod gotime;
pub mod http;
pub mod jetstream;
pub mod json;
pub mod route;
pub mod subject;
#[cfg(test)]
mod testing;
pub mod websocket;

pub use framing::{Frame, FrameParser, ParseError, Status};
