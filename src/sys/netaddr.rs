//! Network addresses: binding listeners (dual-stack for the any-address),
//! how Go shows hosts and peers, and the `nats://` URLs of routes.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use mio::net::TcpListener;

/// Whether `host` is the any-address (`0.0.0.0` or `::`).
pub fn is_unspecified(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_unspecified())
}

/// Binds a listener with socket2 (address reuse, a deep backlog). The
/// any-address, `0.0.0.0` or `::`, listens dual-stack on `[::]` as Go's
/// listeners do, so IPv6 clients reach it too; a machine without IPv6 gets
/// an IPv4 listener.
pub fn listen(host: &str, port: i64) -> io::Result<TcpListener> {
    let port = if port < 0 { 0 } else { port as u16 };
    if is_unspecified(host) {
        let any6 = SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port));
        if let Ok(l) = bind(any6, true) {
            return Ok(l);
        }
        return bind(SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, port)), false);
    }
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))?;
    bind(addr, false)
}

fn bind(addr: SocketAddr, dual_stack: bool) -> io::Result<TcpListener> {
    let domain = if addr.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if dual_stack {
        s.set_only_v6(false)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    Ok(TcpListener::from_std(s.into()))
}

/// A peer address as Go shows it: an IPv4 client of a dual-stack listener
/// is `1.2.3.4`, not `::ffff:1.2.3.4`.
pub fn canonical_peer(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(peer.ip().to_canonical(), peer.port())
}

/// A parsed `nats://[user:pass@]host:port` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteUrl {
    pub host: String,
    pub port: i64,
    pub user: Option<String>,
    pub pass: Option<String>,
}

impl RouteUrl {
    pub fn parse(s: &str) -> Result<RouteUrl, String> {
        let rest = s.split_once("://").map(|(_, r)| r).unwrap_or(s);
        let rest = rest.trim_end_matches('/');
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<i64>().map_err(|_| format!("invalid port in URL {s:?}"))?),
            None => return Err(format!("missing port in URL {s:?}")),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let (user, pass) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((a, b)) => (Some(a.to_string()), Some(b.to_string())),
                None => (Some(u.to_string()), None),
            },
            None => (None, None),
        };
        Ok(RouteUrl { host: if host.is_empty() { "0.0.0.0".into() } else { host }, port, user, pass })
    }

    pub fn host_port(&self) -> String {
        display_host_port(&self.host, self.port.max(0) as u16)
    }
}

/// The hub's port when a URL names none (Go's DEFAULT_LEAFNODE_PORT).
const DEFAULT_LEAF_PORT: i64 = 7422;

/// Parses a leaf node remote's URL as Go does: any scheme, credentials before `@`,
/// 7422 when no port is given.
pub fn leaf_url(s: &str) -> Result<RouteUrl, String> {
    let rest = s.split_once("://").map(|(_, r)| r).unwrap_or(s).trim_end_matches('/');
    let hostport = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    let has_port = match hostport.rfind(']') {
        Some(i) => hostport[i..].contains(':'),
        None => hostport.contains(':') && hostport.matches(':').count() == 1,
    };
    if has_port {
        RouteUrl::parse(s)
    } else {
        RouteUrl::parse(&format!("{rest}:{DEFAULT_LEAF_PORT}"))
    }
}

/// Whether a leaf remote URL dials a WebSocket port (`ws://`, `wss://`).
pub fn is_ws_url(s: &str) -> bool {
    let lower = s.trim().to_ascii_lowercase();
    lower.starts_with("ws://") || lower.starts_with("wss://")
}

/// A leaf remote's `ws://` or `wss://` URL: the address (port 80 or 443
/// when not given), whether it is `wss`, and the path to upgrade on (Go
/// 2.10+: the URL's path followed by `/leafnode`).
pub fn leaf_ws_url(s: &str) -> Result<(RouteUrl, bool, String), String> {
    let (scheme, rest) = s.trim().split_once("://").ok_or("not a websocket URL")?;
    let wss = scheme.eq_ignore_ascii_case("wss");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let has_port = match hostport.rfind(']') {
        Some(i) => hostport[i..].contains(':'),
        None => hostport.matches(':').count() == 1,
    };
    let url = if has_port {
        RouteUrl::parse(authority)?
    } else {
        RouteUrl::parse(&format!("{authority}:{}", if wss { 443 } else { 80 }))?
    };
    Ok((url, wss, format!("{path}/leafnode")))
}

/// `host:port` with IPv6 hosts in brackets.
pub fn display_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_websocket_urls() {
        let (u, wss, path) = leaf_ws_url("ws://a:b@hub:8080").expect("parses");
        assert_eq!(
            (u.host.as_str(), u.port, u.user.as_deref(), wss, path.as_str()),
            ("hub", 8080, Some("a"), false, "/leafnode")
        );
        let (u, wss, path) = leaf_ws_url("wss://hub.example/nats/").expect("parses");
        assert_eq!((u.port, wss, path.as_str()), (443, true, "/nats/leafnode"));
        assert!(is_ws_url("WS://x") && !is_ws_url("nats://x"));
    }

    #[test]
    fn route_urls_parse_as_go_reads_them() {
        let u = RouteUrl::parse("nats-route://ru:rp@127.0.0.1:6222/").expect("valid URL");
        assert_eq!(
            (u.host.as_str(), u.port, u.user.as_deref(), u.pass.as_deref()),
            ("127.0.0.1", 6222, Some("ru"), Some("rp"))
        );
        let u = RouteUrl::parse("nats://[::1]:4248").expect("valid URL");
        assert_eq!((u.host.as_str(), u.port, u.user.as_deref()), ("::1", 4248, None));
        assert_eq!(u.host_port(), "[::1]:4248");
        // An empty host is the any-address; a user without a password keeps none.
        let u = RouteUrl::parse("nats://me@:-1").expect("valid URL");
        assert_eq!((u.host.as_str(), u.port, u.user.as_deref(), u.pass), ("0.0.0.0", -1, Some("me"), None));
        assert!(RouteUrl::parse("nats://host").is_err());
        assert!(RouteUrl::parse("nats://host:x").is_err());
    }

    #[test]
    fn hosts_and_peers_are_shown_as_go_shows_them() {
        assert_eq!(display_host_port("10.0.0.1", 4222), "10.0.0.1:4222");
        assert_eq!(display_host_port("fd00::1", 4222), "[fd00::1]:4222");
        let mapped: SocketAddr = "[::ffff:1.2.3.4]:5".parse().expect("address");
        assert_eq!(canonical_peer(mapped).to_string(), "1.2.3.4:5");
        assert!(is_unspecified("0.0.0.0") && is_unspecified("::"));
        assert!(!is_unspecified("127.0.0.1") && !is_unspecified("localhost"));
    }
}
