//! The ports file: `<executable>_<pid>.ports` in `ports_file_dir`, the JSON
//! of the URLs each listener can be reached on (`-p -1` and friends pick
//! random ports; test launchers read them here). Written once every
//! listener is bound, removed at shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rnats_protocol::json::write_str;

use crate::sys::netaddr::display_host_port;

/// `DIR/<base name of argv[0]>_<pid>.ports`.
pub fn path(dir: &Path) -> PathBuf {
    let exe = std::env::args_os().next().map(PathBuf::from).unwrap_or_default();
    let base = exe.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "rnats-server".into());
    dir.join(format!("{base}_{}.ports", std::process::id()))
}

/// `scheme://host:port` for a bound listener: one URL per interface address
/// when it is bound to the any-address, else its own address.
pub fn listener_urls(scheme: &str, addr: SocketAddr) -> Vec<String> {
    let ips = if addr.ip().is_unspecified() { crate::sys::interfaces::interface_ips() } else { vec![addr.ip()] };
    ips.iter().map(|ip| format!("{scheme}://{}", display_host_port(&ip.to_string(), addr.port()))).collect()
}

/// The file's JSON: `nats`, `monitoring`, `cluster`, each omitted when empty.
pub fn contents(sections: &[(&str, Vec<String>)]) -> Vec<u8> {
    let mut v = vec![b'{'];
    for (name, urls) in sections.iter().filter(|(_, u)| !u.is_empty()) {
        if v.len() > 1 {
            v.push(b',');
        }
        write_str(&mut v, name.as_bytes());
        v.extend_from_slice(b":[");
        for (i, u) in urls.iter().enumerate() {
            if i > 0 {
                v.push(b',');
            }
            write_str(&mut v, u.as_bytes());
        }
        v.push(b']');
    }
    v.push(b'}');
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let a: SocketAddr = "127.0.0.1:4222".parse().unwrap();
        let b: SocketAddr = "[::1]:8222".parse().unwrap();
        let got = contents(&[
            ("nats", listener_urls("nats", a)),
            ("monitoring", listener_urls("http", b)),
            ("cluster", Vec::new()),
        ]);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            r#"{"nats":["nats://127.0.0.1:4222"],"monitoring":["http://[::1]:8222"]}"#
        );
        let any: SocketAddr = "[::]:4222".parse().unwrap();
        assert!(listener_urls("nats", any).contains(&"nats://127.0.0.1:4222".to_string()));
    }

    #[test]
    fn name() {
        let p = path(Path::new("/tmp/x"));
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.ends_with(&format!("_{}.ports", std::process::id())), "{name}");
        assert_eq!(p.parent(), Some(Path::new("/tmp/x")));
    }
}
