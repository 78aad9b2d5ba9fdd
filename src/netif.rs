//! Addresses of the machine's network interfaces: the client URLs a server
//! bound to all interfaces advertises, and the URLs of its ports file.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Every address of every interface, ordered by interface index and, within
/// one interface, IPv4 before IPv6 (the order Go's `net.Interfaces` walk
/// gives).
pub fn interface_ips() -> Vec<IpAddr> {
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
    out.sort_by_key(|(index, ip)| (*index, ip.is_ipv6()));
    out.into_iter().map(|(_, ip)| ip).collect()
}

/// Go's `IP.IsGlobalUnicast`: not unspecified, loopback, multicast,
/// link-local or the IPv4 broadcast address. Private ranges and IPv6 ULAs
/// (`fd00::/8`) count as global.
pub fn is_global_unicast(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            !(a.is_unspecified() || a.is_loopback() || a.is_multicast() || a.is_link_local() || a.is_broadcast())
        }
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_global_unicast(&IpAddr::V4(v4));
            }
            let link_local = (a.segments()[0] & 0xffc0) == 0xfe80;
            !(a.is_unspecified() || a.is_loopback() || a.is_multicast() || link_local)
        }
    }
}

/// The global unicast addresses of the machine, in interface order.
pub fn global_unicast_ips() -> Vec<IpAddr> {
    interface_ips().into_iter().filter(is_global_unicast).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_unicast_as_go() {
        let yes = ["10.0.0.1", "192.168.1.2", "8.8.8.8", "fd00:1::1", "2001:db8::1", "::ffff:10.1.2.3"];
        let no =
            ["127.0.0.1", "0.0.0.0", "169.254.1.1", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "ff02::1"];
        for s in yes {
            assert!(is_global_unicast(&s.parse().unwrap()), "{s}");
        }
        for s in no {
            assert!(!is_global_unicast(&s.parse().unwrap()), "{s}");
        }
    }

    #[test]
    fn loopback_is_listed_but_not_global() {
        let all = interface_ips();
        assert!(all.iter().any(|ip| ip.is_loopback()), "{all:?}");
        assert!(global_unicast_ips().iter().all(|ip| !ip.is_loopback()));
    }
}
