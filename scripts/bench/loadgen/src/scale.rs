//! Scenarios at edge scale and with TLS: many subjects, many connections,
//! subscription churn, connect storms. The measured phases run for
//! `--duration` seconds (publishing) rather than a message count, so their
//! run time stays bounded whatever the server's speed.
//!
//! With `--pause 1` each scenario prints `scenario=phase phase=NAME ...`
//! lines at its phase boundaries and waits for a line on stdin before going
//! on, so the driver can read the server's CPU time and RSS there.

use super::*;

/// Counters shared by the publisher, the subscriber threads and the churner.
pub(crate) struct Timed {
    delivered: AtomicU64,
    /// Messages published in all, known once publishing has finished
    /// (u64::MAX until then).
    target: AtomicU64,
    stop: AtomicBool,
}

impl Timed {
    fn new() -> Arc<Timed> {
        Arc::new(Timed { delivered: AtomicU64::new(0), target: AtomicU64::new(u64::MAX), stop: AtomicBool::new(false) })
    }
    fn done(&self) -> bool {
        self.delivered.load(Ordering::Acquire) >= self.target.load(Ordering::Acquire)
    }
}

/// Prints a phase line and, with `--pause 1`, waits for a line on stdin.
fn phase(o: &Opts, name: &str, kv: &[(&str, String)]) {
    let mut r = Report::new("phase");
    r.add("phase", name);
    for (k, v) in kv {
        r.add(k, v);
    }
    r.print();
    if o.pause {
        let mut line = String::new();
        let _ = io::stdin().read_line(&mut line);
    }
}

/// Appends the decimal digits of `n`.
fn push_u64(v: &mut Vec<u8>, mut n: u64) {
    let mut d = [0u8; 20];
    let mut i = d.len();
    loop {
        i -= 1;
        d[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    v.extend_from_slice(&d[i..]);
}

/// xorshift64*: cheap reproducible random numbers for subject choice.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) % n.max(1)
    }
}

/// Appends `PUB <prefix><n><suffix> <len>\r\n<body>\r\n`.
fn push_pub(b: &mut Vec<u8>, prefix: &[u8], n: u64, suffix: &[u8], body: &[u8]) {
    b.extend_from_slice(b"PUB ");
    b.extend_from_slice(prefix);
    push_u64(b, n);
    b.extend_from_slice(suffix);
    b.push(b' ');
    push_u64(b, body.len() as u64);
    b.extend_from_slice(b"\r\n");
    b.extend_from_slice(body);
    b.extend_from_slice(b"\r\n");
}

/// Counts MSG frames on one connection until every published message has
/// been delivered (or stop / deadline).
fn count_sub(mut c: Conn, sh: Arc<Timed>, deadline: Instant) -> Res<u64> {
    let mut count = 0u64;
    loop {
        if sh.stop.load(Ordering::Relaxed) || sh.done() {
            return Ok(count);
        }
        let mut got = 0u64;
        let r = c.pump_until(deadline, &mut |ev| {
            if let Ev::Msg { .. } = ev {
                got += 1;
            }
        });
        if got > 0 {
            count += got;
            sh.delivered.fetch_add(got, Ordering::AcqRel);
        }
        if let Err(e) = r {
            sh.stop.store(true, Ordering::Relaxed);
            return Err(format!("subscriber: {e}"));
        }
    }
}

/// Publishes batches made by `fill` (which appends operations to the
/// buffer and returns how many messages it added) for `o.duration`,
/// keeping at most `window` messages in flight, then waits until all of
/// them were delivered. Reports the usual counters.
fn timed_publish(
    o: &Opts,
    rep: &mut Report,
    pc: &mut Conn,
    sh: &Timed,
    window: u64,
    deadline: Instant,
    fill: &mut dyn FnMut(&mut Vec<u8>) -> u64,
) -> Res<()> {
    let mut batch = Vec::with_capacity(BATCH_BYTES + 4096);
    let cpu0 = self_cpu();
    let t0 = Instant::now();
    let mut sent = 0u64;
    let mut err = None;
    'outer: while t0.elapsed() < o.duration {
        batch.clear();
        let k = fill(&mut batch);
        while sent + k > sh.delivered.load(Ordering::Acquire) + window {
            if sh.stop.load(Ordering::Relaxed) {
                err = Some("a subscriber failed".to_string());
                break 'outer;
            }
            if Instant::now() >= deadline {
                err = Some("timed out while publishing".to_string());
                break 'outer;
            }
            thread::sleep(Duration::from_micros(50));
        }
        if let Err(e) = pc.send(&batch) {
            err = Some(e);
            break;
        }
        sent += k;
    }
    let pub_end = Instant::now();
    if err.is_none() {
        if let Err(e) = pc.flush_pong(deadline) {
            err = Some(e);
        }
    }
    sh.target.store(sent, Ordering::Release);
    if let Some(e) = err {
        sh.stop.store(true, Ordering::Relaxed);
        return Err(e);
    }
    while !sh.done() {
        if sh.stop.load(Ordering::Relaxed) {
            return Err("a subscriber failed".into());
        }
        if Instant::now() >= deadline {
            sh.stop.store(true, Ordering::Relaxed);
            return Err(format!("incomplete delivery: {} of {sent}", sh.delivered.load(Ordering::Acquire)));
        }
        thread::sleep(Duration::from_micros(100));
    }
    let end = Instant::now();
    let elapsed = (end - t0).as_secs_f64().max(1e-9);
    let delivered = sh.delivered.load(Ordering::Acquire);
    rep.add("elapsed_s", format!("{elapsed:.6}"));
    rep.add("published", sent);
    rep.add("delivered", delivered);
    rep.add("pub_per_s", format!("{:.0}", sent as f64 / elapsed));
    rep.add("delivered_per_s", format!("{:.0}", delivered as f64 / elapsed));
    rep.add("pub_elapsed_s", format!("{:.6}", (pub_end - t0).as_secs_f64()));
    rep.add("lg_cpu_s", format!("{:.2}", self_cpu() - cpu0));
    Ok(())
}

fn window_msgs(o: &Opts, op_len: usize) -> u64 {
    if o.window == 0 {
        u64::MAX / 2
    } else {
        ((o.window / (op_len + 16)) as u64).max(1024)
    }
}

fn join<T>(h: thread::JoinHandle<Res<T>>, what: &str) -> Res<T> {
    h.join().map_err(|_| format!("{what} thread panicked"))?
}

// ---------------------------------------------------------------------------

/// One subscriber on `--subjects` literal subjects `telemetry.dev<i>.temp`
/// plus `--wildcards` subjects `cmd.<i>.*`; a publisher sends `--size`-byte
/// messages to random subjects among the literal ones.
/// Phases: `connected` (both connections open), `subscribed` (every SUB
/// answered by the PONG after it), then the measured publishing.
pub(crate) fn run_subjects(o: &Opts, rep: &mut Report) -> Res<()> {
    let a = addr(&o.host, o.port)?;
    let deadline = Instant::now() + o.timeout;
    let (n, w) = (o.subjects.max(1), o.wildcards);
    rep.add("subjects", n);
    rep.add("wildcards", w);
    rep.add("size", o.size);
    let mut sc = Conn::open(a, o.timeout)?;
    sc.cache_hdr = false;
    let mut pc = Conn::open(a, o.timeout)?;
    phase(o, "connected", &[]);

    let t = Instant::now();
    let mut buf = Vec::with_capacity(BATCH_BYTES + 256);
    for i in 0..n + w {
        if i < n {
            buf.extend_from_slice(b"SUB telemetry.dev");
            push_u64(&mut buf, i);
            buf.extend_from_slice(b".temp ");
        } else {
            buf.extend_from_slice(b"SUB cmd.");
            push_u64(&mut buf, i - n);
            buf.extend_from_slice(b".* ");
        }
        push_u64(&mut buf, i + 1);
        buf.extend_from_slice(b"\r\n");
        if buf.len() >= BATCH_BYTES {
            sc.send(&buf)?;
            buf.clear();
        }
    }
    sc.send(&buf)?;
    sc.flush_pong(deadline)?;
    let subscribe_s = t.elapsed().as_secs_f64();
    rep.add("subscribe_s", format!("{subscribe_s:.3}"));
    phase(o, "subscribed", &[("subs", (n + w).to_string()), ("subscribe_s", format!("{subscribe_s:.3}"))]);

    let sh = Timed::new();
    let h = {
        let sh = sh.clone();
        thread::Builder::new()
            .name("sub".into())
            .spawn(move || count_sub(sc, sh, deadline))
            .map_err(|e| ioe("spawn", e))?
    };
    let body = payload(o.size);
    let mut rng = Rng::new(o.seed);
    let op_len = "PUB telemetry.dev.temp  \r\n\r\n".len() + 7 + 3 + o.size;
    let r = timed_publish(o, rep, &mut pc, &sh, window_msgs(o, op_len), deadline, &mut |b| {
        let mut k = 0;
        while b.len() < BATCH_BYTES {
            push_pub(b, b"telemetry.dev", rng.below(n), b".temp", &body);
            k += 1;
        }
        k
    });
    let s = join(h, "subscriber");
    r?;
    s.map(|_| ())
}

// ---------------------------------------------------------------------------

/// Reads every subscriber connection with one readiness-polling thread and
/// counts their MSG frames.
fn poll_reader(mut conns: Vec<Conn>, sh: Arc<Timed>, deadline: Instant) -> Res<()> {
    use mio::unix::SourceFd;
    use mio::{Events, Interest, Poll, Token};
    let fail = |sh: &Timed, e: String| {
        sh.stop.store(true, Ordering::Relaxed);
        Err(e)
    };
    let mut poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => return fail(&sh, ioe("poll", e)),
    };
    for (i, c) in conns.iter().enumerate() {
        let fd = c.s.tcp().as_raw_fd();
        if let Err(e) =
            c.s.set_nonblocking(true)
                .and_then(|_| poll.registry().register(&mut SourceFd(&fd), Token(i), Interest::READABLE))
        {
            return fail(&sh, ioe("register", e));
        }
    }
    let mut events = Events::with_capacity(1024);
    loop {
        if sh.stop.load(Ordering::Relaxed) || sh.done() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return fail(&sh, "subscribers timed out".into());
        }
        if let Err(e) = poll.poll(&mut events, Some(POLL)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return fail(&sh, ioe("poll", e));
        }
        for ev in events.iter() {
            let i = ev.token().0;
            let c = &mut conns[i];
            // Edge-triggered: read until the socket is empty.
            loop {
                let mut got = 0u64;
                let r = c.pump(&mut |ev| {
                    if let Ev::Msg { .. } = ev {
                        got += 1;
                    }
                });
                if got > 0 {
                    sh.delivered.fetch_add(got, Ordering::AcqRel);
                }
                match r {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => return fail(&sh, format!("subscriber {i}: {e}")),
                }
            }
        }
    }
}

/// `--conns` connections, connection i subscribed to `lg.c.<i>`; one
/// publisher addresses them in turn.
pub(crate) fn run_conns(o: &Opts, rep: &mut Report) -> Res<()> {
    let a = addr(&o.host, o.port)?;
    let deadline = Instant::now() + o.timeout;
    let n = o.conns.max(1);
    rep.add("conns", n);
    rep.add("size", o.size);
    let t = Instant::now();
    let mut conns = Vec::with_capacity(n);
    let mut op = Vec::with_capacity(64);
    for i in 0..n {
        op.clear();
        op.extend_from_slice(b"SUB lg.c.");
        push_u64(&mut op, i as u64);
        op.extend_from_slice(b" 1\r\n");
        let c = Conn::open_ops(a, o.timeout.min(Duration::from_secs(10)), &op, 4096)
            .map_err(|e| format!("connection {i}: {e}"))?;
        conns.push(c);
        if Instant::now() >= deadline {
            return Err(format!("timed out after {i} connections"));
        }
    }
    let connect_s = t.elapsed().as_secs_f64();
    rep.add("connect_s", format!("{connect_s:.3}"));
    let mut pc = Conn::open(a, o.timeout)?;
    phase(o, "subscribed", &[("connect_s", format!("{connect_s:.3}"))]);

    let sh = Timed::new();
    let h = {
        let sh = sh.clone();
        thread::Builder::new()
            .name("readers".into())
            .spawn(move || poll_reader(conns, sh, deadline))
            .map_err(|e| ioe("spawn", e))?
    };
    let body = payload(o.size);
    let mut next = 0u64;
    let op_len = "PUB lg.c.  \r\n\r\n".len() + 5 + 3 + o.size;
    let r = timed_publish(o, rep, &mut pc, &sh, window_msgs(o, op_len), deadline, &mut |b| {
        let mut k = 0;
        while b.len() < BATCH_BYTES {
            push_pub(b, b"lg.c.", next, b"", &body);
            next = (next + 1) % n as u64;
            k += 1;
        }
        k
    });
    let s = join(h, "reader");
    r?;
    s
}

// ---------------------------------------------------------------------------

/// SUB/UNSUB churn on one connection at `--rate` subscriptions per second
/// (each subscription lives until `--live` newer ones exist, then is
/// unsubscribed) while a publisher sends to a subscriber on `lg.bench`.
/// `--rate 0`, or the scenario name `pair`, gives the same timed 1 to 1
/// pub/sub run without churn.
pub(crate) fn run_churn(o: &Opts, rep: &mut Report) -> Res<()> {
    let a = addr(&o.host, o.port)?;
    let deadline = Instant::now() + o.timeout;
    let rate = if o.scenario == "pair" { 0 } else { o.rate };
    rep.add("rate", rate);
    rep.add("live", o.live);
    rep.add("size", o.size);
    let sc = Conn::open_ops(a, o.timeout, format!("SUB {SUBJECT} 1\r\n").as_bytes(), 256 * 1024)?;
    let mut pc = Conn::open(a, o.timeout)?;
    let cc = if rate > 0 { Some(Conn::open(a, o.timeout)?) } else { None };
    phase(o, "subscribed", &[]);

    let sh = Timed::new();
    let h = {
        let sh = sh.clone();
        thread::Builder::new()
            .name("sub".into())
            .spawn(move || count_sub(sc, sh, deadline))
            .map_err(|e| ioe("spawn", e))?
    };
    let churner = match cc {
        None => None,
        Some(mut c) => {
            let sh = sh.clone();
            let live = o.live.max(1) as u64;
            Some(
                thread::Builder::new()
                    .name("churn".into())
                    .spawn(move || -> Res<(u64, u64, f64)> {
                        let t0 = Instant::now();
                        let (mut subs, mut unsubs) = (0u64, 0u64);
                        let mut ops = Vec::with_capacity(256 * 1024);
                        let r = (|| -> Res<()> {
                            // Stops once the publisher has finished.
                            while sh.target.load(Ordering::Acquire) == u64::MAX && !sh.stop.load(Ordering::Relaxed) {
                                let due = (t0.elapsed().as_secs_f64() * rate as f64) as u64;
                                let k = due.saturating_sub(subs).min(5000);
                                ops.clear();
                                for _ in 0..k {
                                    ops.extend_from_slice(b"SUB lg.churn.");
                                    push_u64(&mut ops, subs);
                                    ops.push(b' ');
                                    push_u64(&mut ops, 1000 + subs);
                                    ops.extend_from_slice(b"\r\n");
                                    subs += 1;
                                    if subs - unsubs > live {
                                        ops.extend_from_slice(b"UNSUB ");
                                        push_u64(&mut ops, 1000 + unsubs);
                                        ops.extend_from_slice(b"\r\n");
                                        unsubs += 1;
                                    }
                                }
                                if !ops.is_empty() {
                                    c.send(&ops)?;
                                }
                                if k < 5000 {
                                    thread::sleep(Duration::from_millis(1));
                                }
                            }
                            c.flush_pong(deadline)
                        })();
                        if let Err(e) = r {
                            sh.stop.store(true, Ordering::Relaxed);
                            return Err(format!("churn: {e}"));
                        }
                        Ok((subs, unsubs, t0.elapsed().as_secs_f64()))
                    })
                    .map_err(|e| ioe("spawn", e))?,
            )
        }
    };
    let op = pub_op(SUBJECT, None, &payload(o.size));
    let per_batch = (BATCH_BYTES / op.len()).max(1);
    let batch: Vec<u8> = op.iter().copied().cycle().take(op.len() * per_batch).collect();
    let r = timed_publish(o, rep, &mut pc, &sh, window_msgs(o, op.len()), deadline, &mut |b| {
        b.extend_from_slice(&batch);
        per_batch as u64
    });
    if r.is_err() {
        sh.stop.store(true, Ordering::Relaxed);
    }
    let s = join(h, "subscriber");
    let ch = churner.map(|c| join(c, "churn"));
    r?;
    s?;
    let (subs, unsubs, secs) = match ch {
        Some(c) => c?,
        None => (0, 0, 0.0),
    };
    rep.add("churn_subs", subs);
    rep.add("churn_unsubs", unsubs);
    rep.add("churn_s", format!("{secs:.3}"));
    rep.add("churn_per_s", format!("{:.0}", if secs > 0.0 { subs as f64 / secs } else { 0.0 }));
    Ok(())
}

// ---------------------------------------------------------------------------

/// `--conns` clients connect at once from `--threads` threads (TLS with
/// `--tls-ca`): each completes INFO, the handshake, CONNECT and PING/PONG.
/// Reports the time until every one of them got its PONG; then (phase
/// `connected`) holds them until a line on stdin with `--pause 1`.
pub(crate) fn run_storm(o: &Opts, rep: &mut Report) -> Res<()> {
    let a = addr(&o.host, o.port)?;
    let n = o.conns.max(1);
    let threads = o.threads.clamp(1, n);
    rep.add("conns", n);
    rep.add("threads", threads);
    rep.add("tls", tls_config().is_some() as u8);
    let t0 = Instant::now();
    let mut hs = Vec::new();
    for ti in 0..threads {
        let count = n / threads + usize::from(ti < n % threads);
        let timeout = o.timeout;
        hs.push(
            thread::Builder::new()
                .name(format!("storm{ti}"))
                .spawn(move || -> Res<Vec<Conn>> {
                    let mut v = Vec::with_capacity(count);
                    for i in 0..count {
                        let c = Conn::open_ops(a, timeout, b"", 512)
                            .map_err(|e| format!("thread {ti} connection {i}: {e}"))?;
                        v.push(c);
                    }
                    Ok(v)
                })
                .map_err(|e| ioe("spawn", e))?,
        );
    }
    let mut all = Vec::with_capacity(n);
    let mut err = None;
    for h in hs {
        match join(h, "storm") {
            Ok(v) => all.extend(v),
            Err(e) => {
                err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = err {
        return Err(e);
    }
    let connect_s = t0.elapsed().as_secs_f64();
    rep.add("connected", all.len());
    rep.add("connect_s", format!("{connect_s:.4}"));
    phase(o, "connected", &[("connect_s", format!("{connect_s:.4}"))]);
    drop(all);
    Ok(())
}
