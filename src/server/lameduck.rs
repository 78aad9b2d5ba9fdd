//! Lame duck mode (SIGUSR2): stop taking clients, tell clients and peers
//! this server is going away, then after a grace period close the clients
//! one by one, spread over `lame_duck_duration`, and shut down. Clients that
//! accept async INFO are given the other servers' URLs so they reconnect
//! elsewhere; peers drop our client URLs from what they advertise.

use std::time::Duration;

use crate::conn::CloseReason;
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

    /// Closes the next client; when none is left, shuts the server down.
    pub fn lame_duck_close_next(&mut self) {
        let Some(slot) = self.next_open_client() else {
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
