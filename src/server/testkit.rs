//! Unit-test support: a server driven without sockets. Connections get an
//! in-memory transport; their input goes through the same parsers and
//! handlers as on the reactor, and their output is read back from `out`.

use std::io;
use std::net::SocketAddr;

use rnats_protocol::client::ClientParser;
use rnats_protocol::route::RouteParser;

use crate::client::state::ClientState;
use crate::config::options::Options;
use crate::conn::Transport;
use crate::route::state::RouteState;
use crate::server::Server;
use crate::server::{Conn, Role};

/// A stream with nothing to read that drops what is written.
pub struct Memory;

impl Transport for Memory {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn source(&mut self) -> Option<&mut dyn mio::event::Source> {
        None
    }
    fn connect_state(&self) -> io::Result<bool> {
        Ok(true)
    }
    fn shutdown(&mut self) {}
}

fn peer(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A server with `opts`, its client INFO built, no listener opened.
pub fn server(opts: Options) -> Server {
    let mut s = Server::without_signals(opts).expect("poller");
    s.build_info_head();
    s.build_info_tail();
    s
}

/// A server with a cluster configured (named `X`), no listener opened.
pub fn cluster_server(opts: Options) -> Server {
    let opts = Options { cluster_listen: Some("nats://127.0.0.1:-1".into()), cluster_name: Some("X".into()), ..opts };
    server(opts)
}

/// Adds a client connection and returns its slot.
pub fn client(s: &mut Server) -> usize {
    let mut parser = ClientParser::new(s.opts.max_control_line, s.opts.max_payload);
    parser.set_headers(false);
    let cid = s.next_cid();
    let slot = s.conns.vacant_key();
    s.conns.insert(Conn::new(cid, Role::Client(ClientState::new(parser)), Box::new(Memory), peer(slot as u16 + 1000)))
}

/// Adds an accepted route connection and returns its slot.
pub fn route(s: &mut Server) -> usize {
    let (line, payload) = s.opts.server_link_limits();
    let state = RouteState { parser: RouteParser::new(line, payload), ..Default::default() };
    let cid = s.next_cid();
    let slot = s.conns.vacant_key();
    s.conns.insert(Conn::new(cid, Role::Route(Box::new(state)), Box::new(Memory), peer(slot as u16 + 2000)))
}

/// Feeds `input` to connection `slot` as if it had been read from it.
pub fn send(s: &mut Server, slot: usize, input: &str) {
    match s.conns[slot].role {
        Role::Route(_) => s.route_input(slot, input.as_bytes()),
        _ => s.client_input(slot, input.as_bytes()),
    }
}

/// Takes what the server queued for `slot` so far.
pub fn output(s: &mut Server, slot: usize) -> String {
    let c = &mut s.conns[slot];
    let out = String::from_utf8_lossy(&c.out[c.out_pos..]).into_owned();
    c.out.clear();
    c.out_pos = 0;
    out
}

/// A fake peer server's handshake on route `slot`: CONNECT then INFO.
pub fn route_handshake(s: &mut Server, slot: usize, id: &str, verbose: bool) {
    let connect = format!(
        "CONNECT {{\"verbose\":{verbose},\"pedantic\":false,\"headers\":true,\"name\":\"{id}\",\"cluster\":\"X\"}}\r\n"
    );
    let info = format!(
        "INFO {{\"server_id\":\"{id}\",\"server_name\":\"{id}\",\"version\":\"2.9.10\",\"proto\":2,\"host\":\"127.0.0.1\",\
         \"port\":1,\"headers\":true,\"max_payload\":1048576,\"cluster\":\"X\"}}\r\n"
    );
    send(s, slot, &connect);
    send(s, slot, &info);
}
