//! What a client connection holds beyond the connection itself: its parser,
//! CONNECT options and identity, permissions and subscriptions.

use std::rc::Rc;

use rnats_protocol::client::ClientParser;

use crate::routing::sublist::SidIndex;

/// Options a client chose in CONNECT. The defaults are the Go server's,
/// which also apply to a client that never sends CONNECT.
#[derive(Debug, Clone, Copy)]
pub struct ClientOpts {
    pub verbose: bool,
    pub pedantic: bool,
    pub echo: bool,
    pub headers: bool,
    pub no_responders: bool,
    pub protocol: i64,
}

impl Default for ClientOpts {
    fn default() -> Self {
        ClientOpts { verbose: true, pedantic: true, echo: true, headers: false, no_responders: false, protocol: 0 }
    }
}

/// What a client connection adds: its parser, CONNECT options, identity,
/// permissions and subscriptions.
pub struct ClientState {
    pub parser: ClientParser,
    /// Value of the cluster's URL version in the last INFO this client got.
    pub info_version: u64,
    /// The client has been answered a PING (async INFO goes only to those).
    pub ponged: bool,
    pub opts: ClientOpts,
    pub connected: bool,
    pub name: String,
    /// The user this client authenticated as.
    pub user: String,
    /// That user's permissions (`None`: unrestricted).
    pub perms: Option<Rc<crate::auth::Permissions>>,
    /// The account this client publishes and subscribes in.
    pub account: crate::routing::accounts::AccId,
    /// What CONNECT said about identity, kept so a later CONNECT that
    /// leaves a key out keeps its value (as Go merges CONNECTs).
    pub creds: Option<Box<crate::auth::ConnectCreds>>,
    /// Became `no_auth_user` by a first op other than CONNECT.
    pub implicit_user: bool,
    /// Reply subjects this client may answer (`allow_responses`).
    pub replies: Option<Box<crate::auth::Replies>>,
    pub lang: String,
    pub version: String,
    pub subs: SidIndex,
    /// Pedantic mode: the subject of the PUB whose payload is still coming
    /// has been checked already (when its line was read, as Go does).
    pub pub_subject_checked: bool,
}

impl ClientState {
    pub fn new(parser: ClientParser) -> ClientState {
        ClientState {
            parser,
            info_version: 0,
            ponged: false,
            opts: ClientOpts::default(),
            connected: false,
            name: String::new(),
            user: String::new(),
            perms: None,
            account: crate::routing::accounts::GLOBAL,
            creds: None,
            implicit_user: false,
            replies: None,
            lang: String::new(),
            version: String::new(),
            subs: SidIndex::default(),
            pub_subject_checked: false,
        }
    }
}

impl ClientState {
    /// The nonce of the client's first INFO, if it got one.
    pub fn nonce(&self) -> Option<&str> {
        self.creds.as_ref().map(|c| c.nonce.as_str()).filter(|n| !n.is_empty())
    }
}
