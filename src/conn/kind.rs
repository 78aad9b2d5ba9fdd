//! What kind of peer a connection serves, as subscriptions, counters and
//! log lines name it. The state each kind holds is its role's
//! (`crate::server::roles`).

/// What kind of peer a connection serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Client,
    /// A connection to another server of the cluster.
    Route,
    /// A leaf node connection (to a hub of ours or from a leaf of ours).
    Leaf,
    /// A request to the HTTP monitoring port.
    Http,
    /// The server itself (JetStream's subscriptions); no connection.
    Internal,
}

/// Connections cut as slow consumers, one count per kind of connection.
#[derive(Debug, Default, Clone, Copy)]
pub struct SlowConsumers {
    pub clients: u64,
    pub routes: u64,
    pub leafs: u64,
    pub http: u64,
}

impl SlowConsumers {
    pub fn of(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Client => self.clients,
            Kind::Route => self.routes,
            Kind::Leaf => self.leafs,
            Kind::Http | Kind::Internal => self.http,
        }
    }

    pub fn of_mut(&mut self, kind: Kind) -> &mut u64 {
        match kind {
            Kind::Client => &mut self.clients,
            Kind::Route => &mut self.routes,
            Kind::Leaf => &mut self.leafs,
            Kind::Http | Kind::Internal => &mut self.http,
        }
    }
}

impl Kind {
    /// Every kind, with its label in `/metrics`.
    pub const ALL: [(Kind, &'static str); 4] =
        [(Kind::Client, "client"), (Kind::Route, "route"), (Kind::Leaf, "leaf"), (Kind::Http, "http")];
}
