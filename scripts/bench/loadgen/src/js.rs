//! JetStream load: publishing with a PubAck for every message into a file
//! stream (`jspub`, and `jsfill` to fill it before a measured `jspull`),
//! and a durable pull consumer fetching the stream with an explicit ack
//! for every message (`jspull`).

use std::time::Instant;

use crate::{addr, payload, pub_op, Conn, Ev, Opts, Report, Res};

const STREAM: &str = "LG";
const SUBJECT: &str = "lg.js";
const API_INBOX: &str = "_INBOX.lg.js.api";
const ACK_INBOX: &str = "_INBOX.lg.js.ack";
const PULL_INBOX: &str = "_INBOX.lg.js.pull";
/// PubAcks awaited at once.
const WINDOW: u64 = 256;
/// Messages asked for per pull request.
const BATCH: u64 = 1000;

fn open(o: &Opts, deadline: Instant) -> Res<Conn> {
    let mut c = Conn::open(addr(&o.host, o.port)?, o.timeout)?;
    c.send(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true}\r\n")?;
    c.send(b"SUB _INBOX.lg.js.> 1\r\n")?;
    c.flush_pong(deadline)?;
    Ok(c)
}

/// One API request; its JSON reply (an error reply is an error).
fn api(c: &mut Conn, subject: &str, body: &str, deadline: Instant) -> Res<Vec<u8>> {
    c.send(&pub_op(subject, Some(API_INBOX), body.as_bytes()))?;
    let mut reply: Option<Vec<u8>> = None;
    while reply.is_none() {
        c.pump_until(deadline, &mut |ev| {
            if let Ev::Msg { subject, payload, .. } = ev {
                if subject == API_INBOX.as_bytes() {
                    reply = Some(payload.to_vec());
                }
            }
        })
        .map_err(|e| format!("waiting for the reply to {subject}: {e}"))?;
    }
    let r = reply.unwrap_or_default();
    if r.windows(8).any(|w| w == b"\"error\":") || r.starts_with(b"NATS/1.0") {
        return Err(format!("{subject}: {}", String::from_utf8_lossy(&r)));
    }
    Ok(r)
}

fn create_stream(c: &mut Conn, deadline: Instant) -> Res<()> {
    let cfg = format!("{{\"name\":\"{STREAM}\",\"subjects\":[\"{SUBJECT}\"],\"storage\":\"file\"}}");
    api(c, &format!("$JS.API.STREAM.CREATE.{STREAM}"), &cfg, deadline).map(|_| ())
}

/// Publishes `n` messages, at most WINDOW without their PubAck; returns
/// the PubAcks received.
fn publish(c: &mut Conn, n: u64, size: usize, deadline: Instant) -> Res<u64> {
    let op = pub_op(SUBJECT, Some(ACK_INBOX), &payload(size));
    let (mut sent, mut acked, mut failed) = (0u64, 0u64, 0u64);
    let mut buf = Vec::with_capacity(op.len() * WINDOW as usize);
    while acked < n {
        while sent < n && sent - acked < WINDOW {
            buf.extend_from_slice(&op);
            sent += 1;
        }
        if !buf.is_empty() {
            c.send(&buf)?;
            buf.clear();
        }
        c.pump_until(deadline, &mut |ev| {
            if let Ev::Msg { subject, payload, .. } = ev {
                if subject == ACK_INBOX.as_bytes() {
                    acked += 1;
                    if payload.windows(8).any(|w| w == b"\"error\":") {
                        failed += 1;
                    }
                }
            }
        })
        .map_err(|e| format!("waiting for PubAck {acked}: {e}"))?;
        if failed > 0 {
            return Err(format!("{failed} publishes refused"));
        }
    }
    Ok(acked)
}

pub fn run_js(o: &Opts, rep: &mut Report) -> Res<()> {
    let deadline = Instant::now() + o.timeout;
    rep.add("msgs", o.msgs);
    rep.add("size", o.size);
    let mut c = open(o, deadline)?;
    match o.scenario.as_str() {
        "jspub" | "jsfill" => {
            create_stream(&mut c, deadline)?;
            let t0 = Instant::now();
            let acked = publish(&mut c, o.msgs, o.size, deadline)?;
            let elapsed = t0.elapsed().as_secs_f64().max(1e-9);
            rep.add("elapsed_s", format!("{elapsed:.6}"));
            rep.add("wall_s", format!("{elapsed:.6}"));
            rep.add("published", o.msgs);
            rep.add("delivered", acked);
        }
        _ => {
            let cfg = format!(
                "{{\"stream_name\":\"{STREAM}\",\"config\":{{\"durable_name\":\"LGC\",\"ack_policy\":\"explicit\",\
                 \"max_ack_pending\":{}}}}}",
                2 * BATCH
            );
            api(&mut c, &format!("$JS.API.CONSUMER.CREATE.{STREAM}.LGC"), &cfg, deadline)?;
            let next = format!("$JS.API.CONSUMER.MSG.NEXT.{STREAM}.LGC");
            let req =
                pub_op(&next, Some(PULL_INBOX), format!("{{\"batch\":{BATCH},\"expires\":5000000000}}").as_bytes());
            let t0 = Instant::now();
            let (mut delivered, mut in_request) = (0u64, 0u64);
            let mut acks = Vec::with_capacity(64 * 1024);
            while delivered < o.msgs {
                if in_request == 0 {
                    acks.extend_from_slice(&req);
                    in_request = BATCH;
                }
                if !acks.is_empty() {
                    c.send(&acks)?;
                    acks.clear();
                }
                c.pump_until(deadline, &mut |ev| {
                    if let Ev::Msg { reply: Some(r), .. } = ev {
                        if r.starts_with(b"$JS.ACK.") {
                            delivered += 1;
                            in_request = in_request.saturating_sub(1);
                            acks.extend_from_slice(b"PUB ");
                            acks.extend_from_slice(r);
                            acks.extend_from_slice(b" 0\r\n\r\n");
                        }
                    } else if let Ev::Msg { subject, reply: None, .. } = ev {
                        // A status ends the request (timeout, batch done).
                        if subject == PULL_INBOX.as_bytes() {
                            in_request = 0;
                        }
                    }
                })
                .map_err(|e| format!("waiting for message {delivered}: {e}"))?;
            }
            if !acks.is_empty() {
                c.send(&acks)?;
            }
            c.flush_pong(deadline)?;
            let elapsed = t0.elapsed().as_secs_f64().max(1e-9);
            rep.add("elapsed_s", format!("{elapsed:.6}"));
            rep.add("wall_s", format!("{elapsed:.6}"));
            rep.add("published", o.msgs);
            rep.add("delivered", delivered);
        }
    }
    Ok(())
}
