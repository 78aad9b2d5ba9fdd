//! WebSocket (RFC 6455) as the Go nats-server speaks it on its
//! `websocket {}` listener: a transport beneath the client (and leaf node)
//! protocol, whose byte stream is the concatenation of the data frames'
//! payloads.
//!
//! * [`handshake`]: the HTTP/1.1 upgrade request ([`RequestParser`],
//!   [`validate_upgrade`]) and every response Go writes to it: the 101
//!   ([`write_upgrade_response`]), the HTTP server's own errors
//!   ([`RequestError`]) and the upgrade's rejections ([`Reject`]).
//! * [`origin`]: `same_origin` and `allowed_origins` ([`OriginPolicy`]).
//! * [`frame`]: frame headers in ([`FrameDecoder`], [`unmask`]) and out
//!   ([`write_frame_header`], close frames, pongs), and the answer to a
//!   peer's close frame ([`close_reply`]).
//! * [`accept`]: SHA-1 and base64 for the `Sec-WebSocket-Accept` key.
//!
//! Where Go versions differ, this follows the newest servers (2.15.1,
//! observed; the 2.11.14+ / 2.12.5+ hardening): a key must be base64 of 16
//! bytes, RSV2/RSV3 and oversized 64-bit lengths are refused, the scheme
//! counts for `same_origin`, a `/mqtt` path without MQTT gets 404, a path
//! Go's multiplexer would clean gets a 307 redirect, and a close frame
//! with an invalid code or a 1-byte payload is a protocol error.
//!
//! Compression itself (`permessage-deflate`) is not here: only its
//! negotiation ([`parse_deflate_offer`], [`DEFLATE_EXTENSION`]) and the
//! RSV1 bookkeeping of the frame decoder.

pub mod accept;
pub mod frame;
pub mod handshake;
pub mod origin;
mod url;

pub use accept::{accept_key, base64_decode, base64_encode, is_valid_key, sha1, WS_GUID};
pub use frame::{
    close_reply, is_valid_close_code, max_compressed_message_size, unmask, write_close_frame, write_close_payload,
    write_frame_header, write_masked_frame_header, write_pong, CloseReply, FrameDecoder, FrameError, FrameHeader,
    Opcode, BROWSER_FRAME_SIZE, CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR, CLOSE_INVALID_PAYLOAD, CLOSE_MESSAGE_TOO_BIG,
    CLOSE_NORMAL, CLOSE_NO_STATUS, CLOSE_POLICY_VIOLATION, CLOSE_PROTOCOL_ERROR, CLOSE_TLS_HANDSHAKE,
    CLOSE_UNSUPPORTED_DATA, COMPRESS_THRESHOLD, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN,
};
pub use handshake::{
    parse_deflate_offer, validate_upgrade, write_http_date, write_upgrade_response, Body, DeflateOffer, Headers, Kind,
    Next, Reject, Request, RequestError, RequestParser, Upgrade, UpgradeOptions, DEFLATE_EXTENSION, MAX_DISCARDED_BODY,
    MAX_HEAD,
};
pub use origin::{OriginConfigError, OriginError, OriginPolicy};
