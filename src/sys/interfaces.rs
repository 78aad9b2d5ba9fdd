//! Addresses of the machine's network interfaces: the client URLs a server
//! bound to all interfaces advertises, and the URLs of its ports file.

use std::net::IpAddr;

/// Every address of every interface, ordered by interface index and, within
/// one interface, IPv4 before IPv6 (the order Go's `net.Interfaces` walk
/// gives).
pub fn interface_ips() -> Vec<IpAddr> {
    let mut out = crate::sys::interface_addrs();
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
