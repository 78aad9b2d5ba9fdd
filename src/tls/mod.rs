//! TLS settings: the rustls configurations built from the `tls {}` blocks
//! (`config`), certificate reading and checks (`x509`), and the Go server's
//! wording of TLS failures (`errors`). The TLS session that carries a
//! connection's bytes is a transport: `crate::conn::transport::tls`.

pub mod config;
pub mod errors;
pub mod x509;

pub use config::Configs;
