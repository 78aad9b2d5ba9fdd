//! Every call into libc that needs `unsafe`, each with the reason it is
//! sound. The rest of the server uses these safe wrappers.

pub mod interfaces;
pub mod netaddr;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Fills `buf` from the kernel's random source (getrandom(2), which does
/// not need a file descriptor); left as is if that fails, the callers mix
/// in their own seed.
pub fn fill_random(buf: &mut [u8]) {
    // SAFETY: the pointer and length describe `buf`, writable for the call.
    unsafe {
        libc::getrandom(buf.as_mut_ptr() as *mut libc::c_void, buf.len(), libc::GRND_NONBLOCK);
    }
}

/// Calendar time of `secs` since the epoch, in local time or UTC:
/// (year, month 1-12, day, hour, minute, second).
pub fn calendar(secs: u64, utc: bool) -> (i32, i32, i32, i32, i32, i32) {
    // The C time type, named by inference (its alias is deprecated on musl).
    let secs = secs as _;
    // SAFETY: `tm` is plain data that localtime_r/gmtime_r fill in; both
    // pointers are valid for the duration of the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe {
        if utc {
            libc::gmtime_r(&secs, &mut tm);
        } else {
            libc::localtime_r(&secs, &mut tm);
        }
    }
    (tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
}

/// The memory page size in bytes.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    page.max(4096) as u64
}

/// Bytes available to this process on the file system holding `dir`.
#[cfg_attr(not(feature = "jetstream"), allow(dead_code))]
pub fn free_disk_space(dir: &std::path::Path) -> Option<i64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `path` is a NUL-terminated string that outlives the call and
    // statvfs only writes the plain-data struct it is given.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    // The field types differ between targets (u32 on some 32-bit ones).
    #[allow(clippy::useless_conversion)]
    let free = u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize));
    i64::try_from(free).ok()
}

/// Processors online (at least 1).
/// Starts writing `file`'s dirty pages to disk without waiting for them, so
/// that a later fsync of it has little left to wait for.
#[cfg_attr(not(feature = "jetstream"), allow(dead_code))]
pub fn start_writeback(file: &std::fs::File) {
    use std::os::unix::io::AsRawFd;
    // SAFETY: `file` is an open descriptor for the whole call; the call only
    // schedules I/O (an error leaves the fsync all the work).
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

pub fn cpus_online() -> i64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    (unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }).max(1) as i64
}

/// CPU time used by this process (user plus system), in seconds.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the provided struct, plain data.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Sends signal `sig` to process `pid`.
pub fn kill(pid: i32, sig: libc::c_int) -> std::io::Result<()> {
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Writes one byte to `fd`; safe to call from a signal handler.
pub fn wake(fd: libc::c_int) {
    let b = [1u8];
    // SAFETY: write(2) is async-signal-safe; the buffer is valid.
    unsafe {
        libc::write(fd, b.as_ptr() as *const libc::c_void, 1);
    }
}

/// Installs `handler` for `sig` (restarting interrupted calls).
pub fn set_signal_handler(sig: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: the handler the callers pass only touches atomics and calls
    // `wake`; the sigaction struct is plain data, zeroed then filled in.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

/// Ignores SIGPIPE, so a write to a closed socket returns EPIPE instead of
/// ending the process.
pub fn ignore_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Every address of every interface with the interface's index.
pub fn interface_addrs() -> Vec<(u32, IpAddr)> {
    let mut out: Vec<(u32, IpAddr)> = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we walk read-only and then free
    // with freeifaddrs; every pointer is checked for null before use, and
    // ifa_name is a NUL-terminated string owned by that list.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return Vec::new();
        }
        let mut cur = head;
        while !cur.is_null() {
            let ifa = &*cur;
            cur = ifa.ifa_next;
            if ifa.ifa_addr.is_null() {
                continue;
            }
            let ip = match (*ifa.ifa_addr).sa_family as libc::c_int {
                libc::AF_INET => {
                    let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    IpAddr::V4(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)))
                }
                libc::AF_INET6 => {
                    let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    IpAddr::V6(Ipv6Addr::from(sa.sin6_addr.s6_addr))
                }
                _ => continue,
            };
            let index = if ifa.ifa_name.is_null() { 0 } else { libc::if_nametoindex(ifa.ifa_name) };
            out.push((index, ip));
        }
        libc::freeifaddrs(head);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_calendar_of_known_instants() {
        assert_eq!(calendar(0, true), (1970, 1, 1, 0, 0, 0));
        // 2026-11-29 01:02:03 UTC
        assert_eq!(calendar(1_795_914_123, true), (2026, 11, 29, 1, 2, 3));
    }

    #[test]
    fn random_fill_changes_the_buffer() {
        let mut a = [0u8; 32];
        fill_random(&mut a);
        assert_ne!(a, [0u8; 32]);
    }
}
