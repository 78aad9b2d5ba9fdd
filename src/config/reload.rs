//! Configuration reload on SIGHUP: the file is read again with the original
//! command line applied over it, as at startup. Logging, authorization and
//! permissions, client limits and timers, and TLS certificates (files read
//! again, for new connections) take effect at once; options that need a new
//! listener (addresses, ports, cluster settings, server name, TLS turned on
//! or off) cannot change and make the whole reload fail.

use crate::config::options::{parse_args, Action, Options};
use crate::conn::{CloseReason, Role};
use crate::server::Server;

/// Options that can only be set at startup: (name, changed?).
fn fixed_changes(old: &Options, new: &Options) -> Vec<&'static str> {
    let mut v = Vec::new();
    let mut check = |name, changed: bool| {
        if changed {
            v.push(name);
        }
    };
    check("host", old.host != new.host);
    check("port", old.port != new.port);
    check("server_name", old.server_name != new.server_name);
    check("http", old.http_port != new.http_port || old.http_host != new.http_host);
    check("cluster", old.cluster_listen != new.cluster_listen || old.cluster_name != new.cluster_name);
    check("cluster routes", old.routes != new.routes);
    check("cluster authorization", old.cluster_auth != new.cluster_auth);
    check("client_advertise", old.client_advertise != new.client_advertise);
    check("log_file", old.log_file != new.log_file);
    // Each account has its sublist and its name on routes; the users in
    // them can change.
    let sorted = |a: &[String]| {
        let mut v = a.to_vec();
        v.sort();
        v
    };
    check("accounts", sorted(&old.accounts) != sorted(&new.accounts));
    // TLS can change (new certificate files, other CA, timeouts) but not be
    // turned on or off: the listeners and INFO were set up for one or the
    // other.
    check("tls", old.tls.is_some() != new.tls.is_some());
    check("allow_non_tls", old.allow_non_tls != new.allow_non_tls);
    check("cluster tls", old.cluster_tls.is_some() != new.cluster_tls.is_some());
    check("https", old.https_port != new.https_port);
    v
}

impl Server {
    pub fn reload(&mut self) {
        if self.opts.config_file.is_none() {
            log::error!(
                "Failed to reload server configuration: can only reload config when a file is provided using -c or --config"
            );
            return;
        }
        let new = match parse_args(&self.opts.cli_args) {
            Ok(Action::Run(o)) => *o,
            Ok(_) => return,
            Err(e) => {
                log::error!("Failed to reload server configuration: {e}");
                return;
            }
        };
        let fixed = fixed_changes(&self.opts, &new);
        if !fixed.is_empty() {
            log::error!("Failed to reload server configuration: config reload not supported for {}", fixed.join(", "));
            return;
        }
        // Certificate, key and CA files are read again whether or not their
        // names changed (rotation in place); sessions already up keep theirs.
        #[cfg(feature = "tls")]
        match crate::tls::Configs::build(&new) {
            Ok(c) => {
                if new.tls.is_some() || new.cluster_tls.is_some() {
                    log::info!("Reloaded: TLS certificates");
                }
                self.tls = c;
            }
            Err(e) => {
                log::error!("Failed to reload server configuration: {e}");
                return;
            }
        }
        let old = std::mem::replace(&mut self.opts, new);
        let o = &self.opts;
        macro_rules! changed {
            ($($f:ident),*) => {$(
                if old.$f != o.$f {
                    log::info!("Reloaded: {} = {:?}", stringify!($f), o.$f);
                }
            )*};
        }
        changed!(
            debug,
            trace,
            logtime,
            max_payload,
            max_control_line,
            max_connections,
            max_subscriptions,
            max_pending,
            ping_interval,
            ping_max,
            write_deadline,
            auth_timeout,
            max_traced_msg_len,
            no_advertise
        );
        let auth_changed = old.user != o.user
            || old.pass != o.pass
            || old.auth_token != o.auth_token
            || old.users != o.users
            || old.nkeys != o.nkeys
            || old.no_auth_user != o.no_auth_user;
        if auth_changed {
            log::info!("Reloaded: authorization users");
        }
        crate::logging::set_levels(o.debug, o.trace);
        let (mcl, mp) = (o.max_control_line, o.max_payload);
        let (route_line, route_payload) = crate::route::route_limits(o);
        for (_, c) in self.conns.iter_mut() {
            match &mut c.role {
                Role::Client(cl) => {
                    cl.parser.set_max_control_line(mcl);
                    cl.parser.set_max_payload(mp);
                }
                Role::Route(r) => r.parser.set_limits(route_line, route_payload),
                Role::Http => {}
            }
        }
        self.build_info_head();
        if auth_changed {
            self.reapply_authorization();
        }
        log::info!("Reloaded server configuration");
    }

    /// After an authorization change: clients whose user is gone are
    /// disconnected, the others get their user's new permissions, and
    /// subscriptions those no longer allow are removed with an `-ERR`.
    fn reapply_authorization(&mut self) {
        let slots: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.closing.is_none() && c.client().is_some_and(|cl| cl.connected))
            .map(|(k, _)| k)
            .collect();
        for slot in slots {
            let Some(c) = self.conns[slot].client() else { continue };
            let user = self.opts.users.iter().chain(&self.opts.nkeys).find(|u| u.name == c.user);
            let still_valid = if !self.opts.auth_required() {
                true
            } else if !self.opts.users.is_empty() || !self.opts.nkeys.is_empty() {
                user.is_some()
            } else {
                self.opts.user.as_deref().is_none_or(|u| u == c.user)
            };
            // A user moved to another account logs in again.
            let moved = user.is_some() && self.user_account(&c.user) != Some(c.account);
            if !still_valid || moved {
                self.send_err(slot, "Authorization Violation");
                self.close_after_flush(slot, CloseReason::AuthenticationViolation);
                continue;
            }
            let perms = user.and_then(|u| u.permissions.clone());
            let Some(c) = self.conns[slot].client_mut() else { continue };
            c.perms = perms.clone();
            let Some(sp) = perms.as_ref().and_then(|p| p.subscribe.clone()) else { continue };
            let revoked: Vec<_> =
                c.subs.values().filter(|s| !sp.allows_subscribe(s.subject(), s.queue())).cloned().collect();
            for sub in revoked {
                let text = format!(
                    "Permissions Violation for Subscription to {} (sid {})",
                    crate::logging::go_quote(sub.subject()),
                    crate::logging::go_quote(sub.sid())
                );
                self.send_err(slot, &text);
                self.remove_client_sub(&sub);
            }
        }
    }
}
