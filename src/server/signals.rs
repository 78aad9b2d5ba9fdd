//! Signal delivery into the reactor through a self-pipe.
//!
//! The handler only sets a bit and writes one byte to a socket registered
//! with the poller; the loop then reads the bits and acts outside signal
//! context.

use std::io::Read;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

static PENDING: AtomicU32 = AtomicU32::new(0);
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

pub const SIGS: [libc::c_int; 5] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2];

extern "C" fn on_signal(sig: libc::c_int) {
    if let Some(i) = SIGS.iter().position(|s| *s == sig) {
        PENDING.fetch_or(1 << i, Ordering::SeqCst);
    }
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        crate::sys::wake(fd);
    }
}

/// The poller's end of the self-pipe.
pub struct SignalPipe {
    pub rx: mio::net::UnixStream,
    _tx: UnixStream,
}

/// Installs the handlers; returns the end to register with the poller.
pub fn install() -> std::io::Result<SignalPipe> {
    let (rx, tx) = UnixStream::pair()?;
    rx.set_nonblocking(true)?;
    tx.set_nonblocking(true)?;
    WAKE_FD.store(tx.as_raw_fd(), Ordering::SeqCst);
    for sig in SIGS {
        crate::sys::set_signal_handler(sig, on_signal);
    }
    crate::sys::ignore_sigpipe();
    Ok(SignalPipe { rx: mio::net::UnixStream::from_std(rx), _tx: tx })
}

impl SignalPipe {
    /// Drains the wake-up bytes and returns the signals received since the
    /// last call.
    pub fn take(&mut self) -> Vec<libc::c_int> {
        let mut buf = [0u8; 64];
        while let Ok(n) = self.rx.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        let bits = PENDING.swap(0, Ordering::SeqCst);
        SIGS.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, s)| *s).collect()
    }
}

/// Go's name for a signal, used in the "Trapped" log line.
pub fn name(sig: libc::c_int) -> &'static str {
    match sig {
        libc::SIGINT => "interrupt",
        libc::SIGTERM => "terminated",
        libc::SIGHUP => "hangup",
        libc::SIGUSR1 => "user defined signal 1",
        libc::SIGUSR2 => "user defined signal 2",
        _ => "unknown",
    }
}
