//! JetStream in monitoring for a build without the `jetstream` feature: an
//! empty `jetstream` section of `/varz`, and `/jsz` saying it is disabled.

use crate::monitor::go_format::{Document, JsonOut};
use crate::server::Server;

impl Server {
    pub fn write_varz_jetstream(&self, j: &mut dyn Document) {
        j.empty_obj("jetstream");
    }

    pub fn jsz(&self, _query: &str) -> Result<Vec<u8>, String> {
        let mut j = JsonOut::new();
        j.open(None, b'{');
        j.str("server_id", &self.server_id);
        j.str("now", &rnats_protocol::gotime::rfc3339(std::time::SystemTime::now()));
        j.bool("disabled", true);
        j.close(b'}');
        Ok(j.buf)
    }
}
