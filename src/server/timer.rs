//! A deadline heap for the reactor: the poll timeout is the time to the
//! nearest deadline, and due entries are popped after each poll.
//!
//! Cancellation is lazy: an entry names a connection by slot *and* cid, and
//! the handler ignores it when the slot now holds another connection or the
//! connection no longer waits for that timer.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// What to do when a deadline passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimerKind {
    /// Send a PING or declare the connection stale.
    Ping { slot: usize, cid: u64 },
    /// The client did not authenticate in time.
    AuthTimeout { slot: usize, cid: u64 },
    /// A connection closing after a flush waited too long for its peer.
    CloseDeadline { slot: usize, cid: u64 },
    /// Cluster manager: dial route target `id`.
    RouteDial { id: usize },
    /// A dialed route connection must be connected by now.
    RouteDialTimeout { slot: usize, cid: u64 },
    /// Dial the hub of leaf remote `remote`.
    LeafDial { remote: usize },
    /// A dialed leaf connection must be connected (and greeted) by now.
    LeafDialTimeout { slot: usize, cid: u64 },
    /// Accept again after running out of file descriptors.
    AcceptRetry,
    /// Lame duck mode: close the next client.
    LameDuckClose,
    /// Check whether a stalled connection resumed reading.
    WriteDeadline { slot: usize, cid: u64 },
    /// The client's TLS handshake must be complete by now.
    TlsTimeout { slot: usize, cid: u64 },
    /// JetStream's nearest deadline.
    #[cfg_attr(not(feature = "jetstream"), allow(dead_code))]
    JetStream,
    /// `handshake_first` fallback delay: the client sent nothing, INFO goes
    /// out in clear.
    TlsFallback { slot: usize, cid: u64 },
}

#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, TimerKind)>>,
}

impl Timers {
    pub fn add(&mut self, at: Instant, kind: TimerKind) {
        self.heap.push(Reverse((at, kind)));
    }

    pub fn add_in(&mut self, after: Duration, kind: TimerKind) {
        self.add(Instant::now() + after, kind);
    }

    /// Time until the nearest deadline (zero if one is due), `None` if none.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.heap.peek().map(|Reverse((at, _))| at.saturating_duration_since(now))
    }

    /// Removes and returns one due entry.
    pub fn pop_due(&mut self, now: Instant) -> Option<TimerKind> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse((_, k))| k),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_due() {
        let mut t = Timers::default();
        let now = Instant::now();
        t.add(now + Duration::from_secs(2), TimerKind::AuthTimeout { slot: 2, cid: 2 });
        t.add(now + Duration::from_secs(1), TimerKind::AuthTimeout { slot: 1, cid: 1 });
        assert_eq!(t.pop_due(now), None);
        assert_eq!(t.timeout(now), Some(Duration::from_secs(1)));
        let later = now + Duration::from_secs(3);
        assert_eq!(t.pop_due(later), Some(TimerKind::AuthTimeout { slot: 1, cid: 1 }));
        assert_eq!(t.pop_due(later), Some(TimerKind::AuthTimeout { slot: 2, cid: 2 }));
        assert_eq!(t.pop_due(later), None);
    }
}
