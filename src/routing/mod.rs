//! Where a message goes: the subscription index (`sublist`), the accounts
//! that separate subject spaces, and the one delivery path every message
//! takes, whoever sent it (`deliver`).

pub mod accounts;
pub mod deliver;
pub mod fxhash;
pub mod sublist;
