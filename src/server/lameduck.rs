//! Lame duck mode (SIGUSR2): stop taking clients, tell clients and peers
//! this server is going away, then after a grace period close the clients
//! one by one, spread over `lame_duck_duration`, and shut down. Clients that
//! accept async INFO are given the other servers' URLs so they reconnect
//! elsewhere; peers drop our client URLs from what they advertise.

use std::time::Duration;

use rnats_protocol::json::write_str;

use crate::conn::{CloseReason, Kind};
use crate::server::timer::TimerKind;
use crate::server::Server;

impl Server {
    pub fn enter_lame_duck(&mut self) {
        if self.lame_duck {
            return;
        }
        self.lame_duck = true;
        log::info!("Entering lame duck mode, stop accepting new clients");
        self.stop_client_listener();
        self.send_ldm_to_routes();
        self.send_ldm_to_clients();
        let grace = self.opts.lame_duck_grace_period;
        if self.client_count == 0 {
            self.shutdown = true;
            return;
        }
        self.timers.add_in(grace, TimerKind::LameDuckClose);
    }

    fn send_ldm_to_routes(&mut self) {
        let Some(c) = &self.cluster else { return };
        let slots: Vec<usize> = c.routes.values().copied().collect();
        let mut info = self.route_info_json();
        info.pop();
        info.extend_from_slice(b",\"ldm\":true}");
        for slot in slots {
            let conn = &mut self.conns[slot];
            conn.out.extend_from_slice(b"INFO ");
            conn.out.extend_from_slice(&info);
            conn.out.extend_from_slice(b"\r\n");
            Server::queue_flush(&mut self.pending_flush, conn, slot);
        }
    }

    fn send_ldm_to_clients(&mut self) {
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
                write_str(&mut line, cl.name.as_bytes());
            }
            if !others.is_empty() {
                line.extend_from_slice(b",\"connect_urls\":[");
                for (i, u) in others.iter().enumerate() {
                    if i > 0 {
                        line.push(b',');
                    }
                    write_str(&mut line, u.as_bytes());
                }
                line.push(b']');
            }
            line.extend_from_slice(b",\"ldm\":true} \r\n");
            let c = &mut self.conns[slot];
            c.out.extend_from_slice(&line);
            Server::queue_flush(&mut self.pending_flush, c, slot);
        }
    }

    /// Closes the next client; when none is left, shuts the server down.
    pub fn lame_duck_close_next(&mut self) {
        let next = self.conns.iter().find(|(_, c)| c.kind() == Kind::Client && c.closing.is_none()).map(|(k, _)| k);
        let Some(slot) = next else {
            self.shutdown = true;
            return;
        };
        if self.lame_duck_closing_started.is_none() {
            log::info!("Closing existing clients");
            self.lame_duck_closing_started = Some(self.client_count);
        }
        self.mark_close(slot, CloseReason::ServerShutdown);
        // Pause a random time in [si/2, si), si = the remaining duration per
        // client, at most one second.
        let total = self.lame_duck_closing_started.unwrap_or(1).max(1) as u32;
        let span = self.opts.lame_duck_duration.saturating_sub(self.opts.lame_duck_grace_period);
        let si = (span / total).min(Duration::from_secs(1));
        let half = si / 2;
        let extra = if half.is_zero() { 0 } else { self.rand() % half.as_micros().max(1) as u64 };
        let pause = half + Duration::from_micros(extra);
        self.timers.add_in(pause, TimerKind::LameDuckClose);
    }
}
