//! Interest as servers tell each other of it: the key of a subscription
//! (`subject[ queue]`), the key of a peer's interest that names the cluster
//! of a leaf node behind it, and where an interest change comes from.

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

/// The subject and queue of an interest key (`subject[ queue]`).
pub fn split_key(key: &[u8]) -> (&[u8], Option<&[u8]>) {
    match key.iter().position(|b| *b == b' ') {
        None => (key, None),
        Some(i) => (&key[..i], Some(&key[i + 1..])),
    }
}

/// The key of a peer's interest: as sent (Go's key), or, for interest of
/// a leaf node over there from a peer that names origins in LS- too
/// (`lnocu`), NUL, the origin cluster and a blank before it, so that it
/// is apart from plain interest in the same subject and from another
/// origin's (Go keys them apart the same way).
pub fn origin_key<'a>(origin: Option<&[u8]>, key: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
    match origin {
        None => std::borrow::Cow::Borrowed(key),
        Some(o) => {
            let mut k = Vec::with_capacity(o.len() + key.len() + 2);
            k.push(0);
            k.extend_from_slice(o);
            k.push(b' ');
            k.extend_from_slice(key);
            std::borrow::Cow::Owned(k)
        }
    }
}

/// The origin cluster in a key made by [`origin_key`] (empty for plain
/// interest).
pub fn key_origin(key: &[u8]) -> &[u8] {
    match key.split_first() {
        Some((0, rest)) => rest.split(|b| *b == b' ').next().unwrap_or_default(),
        _ => b"",
    }
}

/// Where an interest change comes from.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    Local,
    /// A route peer; `cluster` is the origin of interest that a leaf node
    /// over there has (empty for plain interest).
    Route {
        cluster: &'a [u8],
    },
    /// A leaf link: `hub_side` when the peer is a leaf node of ours,
    /// `cluster` the peer's cluster.
    Leaf {
        slot: usize,
        hub_side: bool,
        cluster: &'a str,
    },
}
