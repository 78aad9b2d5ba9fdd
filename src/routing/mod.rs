//! Where a message goes: the subscription index (`sublist`) and the
//! accounts that separate subject spaces. The delivery path that walks
//! them is the reactor's (`crate::server::deliver`).

pub mod accounts;
pub mod fxhash;
pub mod sublist;

/// An account's index (see `accounts`): 0 is the global account.
pub type AccId = u16;
const _: () = assert!(AccId::MAX as usize == crate::config::options::MAX_ACCOUNTS);

/// The global account's index.
pub const GLOBAL: AccId = 0;

/// The key of an interest as servers announce it to each other: the
/// subject, and the queue after a blank.
pub fn interest_key(subject: &[u8], queue: Option<&[u8]>) -> Box<[u8]> {
    match queue {
        None => subject.into(),
        Some(q) => {
            let mut k = Vec::with_capacity(subject.len() + q.len() + 1);
            k.extend_from_slice(subject);
            k.push(b' ');
            k.extend_from_slice(q);
            k.into()
        }
    }
}
