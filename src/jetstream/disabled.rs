//! A build without the `jetstream` feature: JetStream is refused at start
//! (never ignored), `$JS.API` requests get the core no-responders status
//! as from a Go server without JetStream (`/jsz` says it is disabled:
//! `crate::monitor::jsz_disabled`).

use std::collections::VecDeque;

pub use crate::config::options::JsOpts;
use crate::routing::accounts::AccId;
use crate::routing::sublist::Subscription;
use crate::server::deliver::Msg;
use crate::server::Server;

/// What JetStream holds: nothing in this configuration.
pub mod state {
    /// Never built in this configuration.
    pub struct JetStream {
        pub opts: super::JsOpts,
    }

    /// Never built in this configuration.
    pub struct Inbound;
}

impl Server {
    pub fn start_jetstream(&mut self) -> Result<(), String> {
        if self.opts.jetstream.is_some() {
            return Err(
                "JetStream is not supported by this build of the server (built without the \"jetstream\" feature)"
                    .into(),
            );
        }
        Ok(())
    }

    pub fn run_jetstream(&mut self) {
        self.js_inbox = VecDeque::new();
    }

    pub fn jetstream_tick(&mut self) {}

    pub fn stop_jetstream(&mut self) {}

    pub fn js_enqueue(&mut self, _from: usize, _acc: AccId, _sub: &Subscription, _m: Msg<'_>) {}

    pub fn js_interest_added(&mut self, _acc: AccId, _subject: &[u8]) {}
}
