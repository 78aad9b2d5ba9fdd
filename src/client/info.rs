//! The client INFO: its fixed head (server identity, limits, auth), the
//! part that depends on the cluster (name, client URLs of every member),
//! and the async INFO protocol-1 clients get when the cluster changes.

use std::net::IpAddr;

use crate::server::Server;

impl Server {
    /// Rebuilds the part of client INFO that depends on the cluster.
    pub fn build_info_tail(&mut self) {
        use rnats_protocol::json::write_str;
        let mut v = Vec::new();
        if let Some(c) = &self.cluster {
            // Omitted when empty (a generated name can give way to an empty
            // one from a peer's CONNECT), as Go's omitempty does.
            if !c.name.is_empty() {
                v.extend_from_slice(b",\"cluster\":");
                write_str(&mut v, c.name.as_bytes());
            }
            // Once a peer URL was seen the list stays, with at least our own
            // URLs, so clients learn that departed servers are gone.
            if c.urls_version > 0 {
                v.extend_from_slice(b",\"connect_urls\":[");
                for (i, u) in self.cluster_client_urls().iter().enumerate() {
                    if i > 0 {
                        v.push(b',');
                    }
                    write_str(&mut v, u.as_bytes());
                }
                v.push(b']');
            }
        }
        self.info_tail = v;
    }

    pub fn urls_version(&self) -> u64 {
        self.cluster.as_ref().map_or(0, |c| c.urls_version)
    }

    /// The version of the URL list client `slot` is told of: the
    /// cluster's client URLs, or its WebSocket URLs for a WebSocket client.
    pub fn info_version_of(&self, slot: usize) -> u64 {
        let ws = self.conns.get(slot).is_some_and(|c| c.sock.websocket());
        self.cluster.as_ref().map_or(0, |c| if ws { c.ws_urls_version } else { c.urls_version })
    }

    /// Sends the current INFO to `slot` (async INFO for protocol-1 clients).
    pub fn send_info(&mut self, slot: usize) {
        let version = self.info_version_of(slot);
        let Some(c) = self.conns.get(slot) else {
            return;
        };
        let (cid, ip) = (c.cid, c.peer.ip());
        let mut line = Vec::with_capacity(self.info_head.len() + self.info_tail.len() + 64);
        if c.sock.websocket() {
            self.write_ws_client_info(&mut line, cid, ip, None);
        } else {
            self.write_client_info(&mut line, cid, ip, None);
        }
        let c = &mut self.conns[slot];
        if crate::logging::trace_enabled() {
            log::trace!("{} - ->> [{}]", c.prefix, String::from_utf8_lossy(&line[..line.len() - 2]));
        }
        c.out.extend_from_slice(&line);
        if let Some(cl) = c.client_mut() {
            cl.info_version = version;
        }
        Server::queue_flush(&mut self.pending_flush, c, slot);
    }

    /// The cluster's client URLs (`clients`) or WebSocket URLs (`ws`)
    /// changed: tell the clients concerned that accept async INFO.
    pub fn send_async_info(&mut self, clients: bool, ws: bool) {
        let slots: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.closing.is_none() && c.client().is_some_and(|cl| cl.opts.protocol >= 1 && cl.ponged))
            .filter(|(_, c)| if c.sock.websocket() { ws } else { clients })
            .map(|(k, _)| k)
            .collect();
        for slot in slots {
            self.send_info(slot);
        }
    }

    /// Host advertised in INFO: `client_advertise` or the listen host.
    pub fn info_host_port(&self) -> (String, u16) {
        let port = self.client_addr.map(|a| a.port()).unwrap_or(0);
        if let Some(adv) = &self.opts.client_advertise {
            if let Some((h, p)) = adv.rsplit_once(':') {
                if let Ok(p) = p.parse() {
                    return (h.to_string(), p);
                }
            }
            return (adv.clone(), port);
        }
        (self.opts.host.clone(), port)
    }

    pub fn build_info_head(&mut self) {
        use rnats_protocol::json::write_str;
        let (host, port) = self.info_host_port();
        let mut v = Vec::with_capacity(512);
        v.extend_from_slice(b"INFO ");
        self.info_start(&mut v, 1);
        write_str(&mut v, host.as_bytes());
        v.extend_from_slice(format!(",\"port\":{port},\"headers\":true").as_bytes());
        if self.auth_enforced() {
            v.extend_from_slice(b",\"auth_required\":true");
        }
        if let Some(t) = &self.opts.tls {
            // With allow_non_tls TLS is offered, not required (Go's order:
            // tls_required, tls_verify, tls_available).
            if !self.opts.allow_non_tls {
                v.extend_from_slice(b",\"tls_required\":true");
            }
            if t.verify {
                v.extend_from_slice(b",\"tls_verify\":true");
            }
            if self.opts.allow_non_tls {
                v.extend_from_slice(b",\"tls_available\":true");
            }
        }
        v.extend_from_slice(format!(",\"max_payload\":{}", self.opts.max_payload).as_bytes());
        if let Some(js) = self.jetstream.as_deref() {
            v.extend_from_slice(b",\"jetstream\":true");
            if let Some(d) = &js.opts.domain {
                v.extend_from_slice(b",\"domain\":");
                rnats_protocol::json::write_str(&mut v, d.as_bytes());
            }
        }
        self.info_head = v;
    }

    /// Appends the INFO line for client `cid` at `ip`, with the nonce of
    /// the client's first INFO when nkey users exist.
    pub fn write_client_info(&self, out: &mut Vec<u8>, cid: u64, ip: IpAddr, nonce: Option<&str>) {
        out.extend_from_slice(&self.client_info_prefix(cid, ip));
        if let Some(n) = nonce {
            out.extend_from_slice(b",\"nonce\":");
            rnats_protocol::json::write_str(out, n.as_bytes());
        }
        out.extend_from_slice(&self.info_tail);
        out.extend_from_slice(b"} \r\n");
    }

    /// Client INFO up to the client's id and address, without the cluster
    /// part and the closing brace.
    pub fn client_info_prefix(&self, cid: u64, ip: IpAddr) -> Vec<u8> {
        use rnats_protocol::json::write_str;
        let mut out = Vec::with_capacity(self.info_head.len() + 64);
        out.extend_from_slice(&self.info_head);
        out.extend_from_slice(b",\"client_id\":");
        rnats_protocol::encode::write_u64(&mut out, cid);
        out.extend_from_slice(b",\"client_ip\":");
        write_str(&mut out, ip.to_string().as_bytes());
        out
    }

    /// Lame duck mode: clients that take async INFO hear that this server
    /// is going away (`ldm`) and of the cluster's other client URLs.
    pub fn send_ldm_to_clients(&mut self) {
        let own = self.own_client_urls();
        let others: Vec<String> = self.cluster_client_urls().into_iter().filter(|u| !own.contains(u)).collect();
        let slots: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.closing.is_none() && c.client().is_some_and(|cl| cl.opts.protocol >= 1 && cl.connected))
            .map(|(k, _)| k)
            .collect();
        for slot in slots {
            let c = &self.conns[slot];
            let mut line = self.client_info_prefix(c.cid, c.peer.ip());
            if let Some(cl) = &self.cluster {
                line.extend_from_slice(b",\"cluster\":");
                rnats_protocol::json::write_str(&mut line, cl.name.as_bytes());
            }
            if !others.is_empty() {
                line.extend_from_slice(b",\"connect_urls\":[");
                for (i, u) in others.iter().enumerate() {
                    if i > 0 {
                        line.push(b',');
                    }
                    rnats_protocol::json::write_str(&mut line, u.as_bytes());
                }
                line.push(b']');
            }
            line.extend_from_slice(b",\"ldm\":true} \r\n");
            let c = &mut self.conns[slot];
            c.out.extend_from_slice(&line);
            Server::queue_flush(&mut self.pending_flush, c, slot);
        }
    }

    /// The first client still open (lame duck mode closes them one by one).
    pub fn next_open_client(&self) -> Option<usize> {
        self.conns.iter().find(|(_, c)| c.client().is_some() && c.closing.is_none()).map(|(k, _)| k)
    }
}
