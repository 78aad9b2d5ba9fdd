//! The floor under request/reply: what a single-threaded epoll reactor must
//! spend per round when it does nothing but move bytes.
//!
//! `floor` starts this program again as `relay` (a child process, so its CPU
//! time is its own), connects a requester and a responder to it over
//! loopback TCP, and runs `--msgs` rounds: the requester writes one request
//! (the same bytes `reqrep` publishes) and waits for it to come back, the
//! responder echoes whatever it reads. The relay forwards each read to the
//! other connection: per hop one `epoll_wait`, one `read` and one `write`,
//! the system calls a NATS server makes per hop at the least, and no parsing,
//! no subject lookup, no allocation. Its CPU per round is therefore the
//! kernel's share of a request/reply round on this machine, which no
//! single-threaded reactor can go below.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use std::os::unix::io::AsRawFd;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::{addr, ioe, payload, pub_op, Opts, Report, Res, INBOX, REQ_SUBJECT};

/// The relay: accepts two connections and forwards bytes between them until
/// either closes.
pub fn run_relay(o: &Opts, rep: &mut Report) -> Res<()> {
    let listener = TcpListener::bind(addr(&o.host, o.port)?).map_err(|e| ioe("bind", e))?;
    let port = listener.local_addr().map_err(|e| ioe("local_addr", e))?.port();
    // The parent reads this line to learn the port.
    println!("port={port}");
    std::io::stdout().flush().map_err(|e| ioe("stdout", e))?;
    let mut conns = Vec::with_capacity(2);
    for _ in 0..2 {
        let (s, _) = listener.accept().map_err(|e| ioe("accept", e))?;
        s.set_nodelay(true).map_err(|e| ioe("nodelay", e))?;
        s.set_nonblocking(true).map_err(|e| ioe("nonblocking", e))?;
        conns.push(s);
    }
    let mut poll = Poll::new().map_err(|e| ioe("poll", e))?;
    for (i, c) in conns.iter().enumerate() {
        let fd = c.as_raw_fd();
        poll.registry().register(&mut SourceFd(&fd), Token(i), Interest::READABLE).map_err(|e| ioe("register", e))?;
    }
    let mut events = Events::with_capacity(16);
    let mut buf = vec![0u8; 64 * 1024];
    let mut forwarded = 0u64;
    loop {
        poll.poll(&mut events, None).map_err(|e| ioe("poll", e))?;
        for ev in events.iter() {
            let from = ev.token().0;
            loop {
                let n = match conns[from].read(&mut buf) {
                    Ok(0) => {
                        rep.add("forwarded", forwarded);
                        return Ok(());
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(ioe("read", e)),
                };
                write_all_nb(&mut conns[1 - from], &buf[..n])?;
                forwarded += 1;
                // A short read drained the socket; edge triggering reports
                // the next arrival (as the server's read loop assumes).
                if n < buf.len() {
                    break;
                }
            }
        }
    }
}

/// Writes all of `b` to a non-blocking socket (the requests are small, so
/// this practically never waits).
fn write_all_nb(s: &mut TcpStream, mut b: &[u8]) -> Res<()> {
    while !b.is_empty() {
        match s.write(b) {
            Ok(n) => b = &b[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ioe("write", e)),
        }
    }
    Ok(())
}

/// CPU time of the (single-threaded) relay: total seconds from schedstat
/// (nanosecond resolution), user and system seconds from stat (clock
/// ticks), and voluntary context switches.
fn proc_cpu(pid: u32) -> Res<(f64, f64, f64, u64)> {
    let sched = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).map_err(|e| ioe("schedstat", e))?;
    let total = sched.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 1e9;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| ioe("stat", e))?;
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or("bad /proc stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tck = unsafe { libc_sysconf_clk_tck() } as f64;
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / tck;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| ioe("status", e))?;
    let vol = status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok((total, ticks(11), ticks(12), vol))
}

extern "C" {
    fn sysconf(name: i32) -> i64;
}

/// `sysconf(_SC_CLK_TCK)`.
unsafe fn libc_sysconf_clk_tck() -> i64 {
    const SC_CLK_TCK: i32 = 2;
    let t = sysconf(SC_CLK_TCK);
    if t > 0 {
        t
    } else {
        100
    }
}

/// The measurement: relay child, requester and responder, `--msgs` rounds.
pub fn run_floor(o: &Opts, rep: &mut Report) -> Res<()> {
    let exe = std::env::current_exe().map_err(|e| ioe("current_exe", e))?;
    let mut child = Command::new(exe)
        .args(["relay", "--host", &o.host, "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| ioe("spawn relay", e))?;
    let result = (|| -> Res<()> {
        let out = child.stdout.take().ok_or("no relay stdout")?;
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).map_err(|e| ioe("relay port", e))?;
        let port: u16 = line.trim().strip_prefix("port=").and_then(|p| p.parse().ok()).ok_or("relay port line")?;
        let a: SocketAddr = addr(&o.host, port)?;
        let mut req = TcpStream::connect_timeout(&a, o.timeout).map_err(|e| ioe("connect", e))?;
        // The relay takes the first connection as the requester's.
        std::thread::sleep(Duration::from_millis(50));
        let mut rsp = TcpStream::connect_timeout(&a, o.timeout).map_err(|e| ioe("connect", e))?;
        for s in [&req, &rsp] {
            s.set_nodelay(true).map_err(|e| ioe("nodelay", e))?;
            s.set_read_timeout(Some(o.timeout)).map_err(|e| ioe("timeout", e))?;
        }
        let responder = std::thread::spawn(move || {
            let mut b = vec![0u8; 64 * 1024];
            while let Ok(n) = rsp.read(&mut b) {
                if n == 0 || rsp.write_all(&b[..n]).is_err() {
                    break;
                }
            }
        });
        let msg = pub_op(REQ_SUBJECT, Some(INBOX), &payload(o.size));
        let mut back = vec![0u8; msg.len()];
        let mut round = |req: &mut TcpStream| -> Res<()> {
            req.write_all(&msg).map_err(|e| ioe("write", e))?;
            req.read_exact(&mut back).map_err(|e| ioe("read", e))
        };
        for _ in 0..200 {
            round(&mut req)?;
        }
        let pid = child.id();
        let (c0, u0, s0, v0) = proc_cpu(pid)?;
        let mut lat = Vec::with_capacity(o.msgs as usize);
        let t0 = Instant::now();
        for _ in 0..o.msgs {
            let t = Instant::now();
            round(&mut req)?;
            lat.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let wall = t0.elapsed().as_secs_f64();
        let (c1, u1, s1, v1) = proc_cpu(pid)?;
        drop(req);
        let _ = responder.join();
        let n = o.msgs.max(1) as f64;
        lat.sort_by(|x, y| x.total_cmp(y));
        rep.add("rounds", o.msgs);
        rep.add("relay_cpu_us_per_round", format!("{:.2}", (c1 - c0) * 1e6 / n));
        rep.add("relay_user_us_per_round", format!("{:.2}", (u1 - u0) * 1e6 / n));
        rep.add("relay_sys_us_per_round", format!("{:.2}", (s1 - s0) * 1e6 / n));
        rep.add("relay_sleeps_per_round", format!("{:.2}", (v1 - v0) as f64 / n));
        rep.add("p50_us", format!("{:.1}", lat.get(lat.len() / 2).copied().unwrap_or(0.0)));
        rep.add("elapsed_s", format!("{wall:.3}"));
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}
