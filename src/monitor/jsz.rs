//! JetStream in monitoring: the `jetstream` section of `/varz` (and so
//! its `/metrics` samples) and `/jsz` with Go's fields and query flags
//! (`accounts`, `streams`, `consumers`, `config`, `acc`).

use std::time::SystemTime;

use crate::monitor::connz::Query;
use crate::monitor::go_format::{Document, JsonOut};
use crate::server::Server;

impl Server {
    fn js_config(&self, j: &mut dyn Document) {
        let Some(js) = &self.jetstream else { return };
        j.open(Some("config"), b'{');
        j.num("max_memory", &js.max_memory);
        j.num("max_storage", &js.max_store);
        j.str("store_dir", &js.root.display().to_string());
        j.num("sync_interval", &js.opts.sync_interval.as_nanos());
        if js.opts.sync_always {
            j.bool("sync_always", true);
        }
        if let Some(d) = &js.opts.domain {
            j.str("domain", d);
        }
        j.close(b'}');
    }

    fn js_totals(&self) -> (u64, u64, u64, u64, usize, usize, u64, u64) {
        let Some(js) = &self.jetstream else { return Default::default() };
        let (mut mem, mut file, mut msgs, mut bytes, mut streams, mut consumers, mut total, mut errors) =
            (0, 0, 0, 0, 0, 0, 0, 0);
        for a in &js.accounts {
            mem += a.usage(false);
            file += a.usage(true);
            streams += a.streams.len();
            consumers += a.consumers();
            total += a.api_total;
            errors += a.api_errors;
            for s in a.streams.values() {
                msgs += s.store.msgs();
                bytes += s.store.bytes;
            }
        }
        (mem, file, msgs, bytes, streams, consumers, total, errors)
    }

    /// The `jetstream` object of `/varz` (empty when JetStream is off).
    pub fn write_varz_jetstream(&self, j: &mut dyn Document) {
        let Some(js) = &self.jetstream else {
            j.empty_obj("jetstream");
            return;
        };
        let (mem, file, _, _, _, _, total, errors) = self.js_totals();
        j.open(Some("jetstream"), b'{');
        self.js_config(j);
        j.open(Some("stats"), b'{');
        j.num("memory", &mem);
        j.num("storage", &file);
        j.num("reserved_memory", &0);
        j.num("reserved_storage", &0);
        j.num("accounts", &js.accounts.len());
        j.num("ha_assets", &0);
        j.open(Some("api"), b'{');
        j.num("total", &total);
        j.num("errors", &errors);
        j.close(b'}');
        j.close(b'}');
        j.close(b'}');
    }

    /// `/jsz`.
    pub fn jsz(&self, query: &str) -> Result<Vec<u8>, String> {
        let q = Query::parse(query);
        let consumers_flag = q.bool("consumers")?;
        let streams_flag = q.bool("streams")? || consumers_flag;
        let accounts_flag = q.bool("accounts")? || streams_flag;
        let config_flag = q.bool("config")?;
        let acc_filter = q.get("acc").filter(|a| !a.is_empty());
        let mut j = JsonOut::new();
        j.open(None, b'{');
        j.str("server_id", &self.server_id);
        j.str("now", &rnats_protocol::gotime::rfc3339(SystemTime::now()));
        let Some(js) = &self.jetstream else {
            j.bool("disabled", true);
            j.close(b'}');
            return Ok(j.buf);
        };
        self.js_config(&mut j);
        let (mem, file, msgs, bytes, streams, consumers, total, errors) = self.js_totals();
        j.num("memory", mem);
        j.num("storage", file);
        j.num("reserved_memory", 0);
        j.num("reserved_storage", 0);
        j.num("accounts", js.accounts.len());
        j.num("ha_assets", 0);
        j.open(Some("api"), b'{');
        j.num("total", total);
        j.num("errors", errors);
        j.close(b'}');
        j.num("streams", streams);
        j.num("consumers", consumers);
        j.num("messages", msgs);
        j.num("bytes", bytes);
        j.num("total", js.accounts.len());
        if accounts_flag {
            j.open(Some("account_details"), b'[');
            for a in js.accounts.iter().filter(|a| acc_filter.is_none_or(|f| f == a.name)) {
                j.open(None, b'{');
                j.str("name", &a.name);
                j.str("id", &a.name);
                j.num("memory", a.usage(false));
                j.num("storage", a.usage(true));
                j.num("reserved_memory", u64::MAX);
                j.num("reserved_storage", u64::MAX);
                j.num("accounts", 1);
                j.num("ha_assets", 0);
                j.open(Some("api"), b'{');
                j.num("total", a.api_total);
                j.num("errors", a.api_errors);
                j.close(b'}');
                if streams_flag {
                    j.open(Some("stream_detail"), b'[');
                    for s in a.streams.values() {
                        j.open(None, b'{');
                        j.str("name", &s.cfg.name);
                        j.str("created", &crate::jetstream::time_text(s.created));
                        j.open(Some("cluster"), b'{');
                        j.str("leader", &self.server_name);
                        j.close(b'}');
                        if config_flag {
                            let mut raw = Vec::new();
                            rnats_protocol::json::write_value(&mut raw, &s.cfg.to_value());
                            write_raw(&mut j, "config", &raw);
                        }
                        let mut raw = Vec::new();
                        rnats_protocol::json::write_value(&mut raw, &s.state_value(false, None).0);
                        write_raw(&mut j, "state", &raw);
                        if consumers_flag {
                            j.open(Some("consumer_detail"), b'[');
                            for c in s.consumers.values() {
                                let mut o = crate::jetstream::config::Obj::default();
                                c.info_fields(&mut o, &s.cfg.name, c.waiting.len());
                                let mut raw = Vec::new();
                                rnats_protocol::json::write_value(&mut raw, &o.done());
                                write_raw_item(&mut j, &raw);
                            }
                            j.close(b']');
                        }
                        j.close(b'}');
                    }
                    j.close(b']');
                }
                j.close(b'}');
            }
            j.close(b']');
        }
        j.close(b'}');
        Ok(j.buf)
    }
}

/// A compact JSON value under key `k` (the pretty layout's indentation is
/// not kept inside it; JSON readers do not care).
fn write_raw(j: &mut JsonOut, k: &str, raw: &[u8]) {
    j.open(Some(k), b'{');
    j.buf.pop();
    j.buf.extend_from_slice(raw);
    j.close_raw();
}

fn write_raw_item(j: &mut JsonOut, raw: &[u8]) {
    j.open(None, b'{');
    j.buf.pop();
    j.buf.extend_from_slice(raw);
    j.close_raw();
}
