//! Where a message goes: the subscription index (`sublist`) and the
//! accounts that separate subject spaces. The delivery path that walks
//! them is the reactor's (`crate::server::deliver`).

pub mod accounts;
pub mod fxhash;
pub mod interest;
pub mod sublist;

/// An account's index (see `accounts`): 0 is the global account.
pub type AccId = u16;
const _: () = assert!(AccId::MAX as usize == crate::config::options::MAX_ACCOUNTS);

/// The global account's index.
pub const GLOBAL: AccId = 0;
