//! Configuration reload on SIGHUP: the file is read again with the original
//! command line applied over it, as at startup. Logging, authorization and
//! permissions, client limits and timers, TLS certificates (files read
//! again, for new connections) and leaf node remotes (added, removed, or
//! with a new `tls {}`) take effect at once; options that need a new
//! listener (addresses, ports, cluster settings, server name, TLS turned on
//! or off) cannot change and make the whole reload fail.

use crate::config::cli::{parse_args, Action};
use crate::config::options::Options;
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
    // The leaf port's TLS certificates can change (read again below), and
    // the remotes (compared one by one in leaf::remote::plan_leaf_reload).
    check(
        "leafnodes",
        old.leaf_reconnect != new.leaf_reconnect
            || old.leaf_listen != new.leaf_listen
            || old.leaf_advertise != new.leaf_advertise
            || old.leaf_no_advertise != new.leaf_no_advertise
            || old.leaf_auth != new.leaf_auth
            || old.leaf_tls.is_some() != new.leaf_tls.is_some()
            || old.leaf_tls_timeout != new.leaf_tls_timeout,
    );
    check("websocket", old.websocket != new.websocket);
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
        let leaf_plan = match self.plan_leaf_reload(&new) {
            Ok(p) => p,
            Err(e) => {
                log::error!("Failed to reload server configuration: config reload not supported for LeafNode: {e}");
                return;
            }
        };
        // Certificate, key and CA files are read again whether or not their
        // names changed (rotation in place); sessions already up keep theirs.
        #[cfg(feature = "tls")]
        match crate::tls::Configs::build(&new) {
            Ok(c) => {
                if new.tls.is_some() || new.cluster_tls.is_some() || new.leaf_tls.is_some() {
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
        self.apply_leaf_reload(leaf_plan);
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
        for (_, c) in self.conns.iter_mut() {
            c.role.set_limits(o);
        }
        self.build_info_head();
        if auth_changed {
            self.reapply_authorization();
        }
        log::info!("Reloaded server configuration");
    }
}
