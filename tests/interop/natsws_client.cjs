// The nats.ws client (with the `ws` package as its WebSocket) against a
// server's WebSocket port: argv[2] is the ws:// URL. Prints one
// "ok - ..." or "not ok - ..." line per check; exits 1 when one fails.
// Run by tests/test_websocket.py, which installs the pinned packages.
"use strict";
globalThis.WebSocket = require("ws");
const { connect, StringCodec, headers, Empty, ErrorCode } = require("nats.ws");

const sc = StringCodec();
let failed = 0;

function check(name, ok, detail) {
  if (ok) {
    console.log("ok - " + name);
  } else {
    failed++;
    console.log("not ok - " + name + (detail === undefined ? "" : ": " + detail));
  }
}

async function until(cond, ms) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

async function main() {
  const nc = await connect({ servers: process.argv[2], timeout: 5000, reconnect: false });
  check("connected, INFO read", typeof nc.info.server_id === "string" && nc.info.headers === true,
    JSON.stringify(nc.info));

  const sub = nc.subscribe("t.>", { max: 3 });
  nc.publish("t.a", sc.encode("1"));
  nc.publish("t.b", sc.encode("2"));
  nc.publish("t.c.d", sc.encode("3"));
  const got = [];
  for await (const m of sub) {
    got.push(m.subject + "=" + sc.decode(m.data));
  }
  check("wildcard subscription, in order", got.join(",") === "t.a=1,t.b=2,t.c.d=3", got.join(","));

  const svc = nc.subscribe("svc");
  (async () => {
    for await (const m of svc) {
      const h = headers();
      h.set("X-Echo", m.headers ? m.headers.get("X-In") : "none");
      m.respond(sc.encode("re:" + sc.decode(m.data)), { headers: h });
    }
  })();
  const h = headers();
  h.set("X-In", "abc");
  const r = await nc.request("svc", sc.encode("q"), { timeout: 5000, headers: h });
  check("request and reply with headers",
    sc.decode(r.data) === "re:q" && r.headers !== undefined && r.headers.get("X-Echo") === "abc",
    sc.decode(r.data));

  const big = new Uint8Array(200 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  const bsub = nc.subscribe("big", { max: 1 });
  nc.publish("big", big);
  for await (const m of bsub) {
    check("200 KB message both ways", m.data.length === big.length && m.data.every((b, i) => b === i % 251),
      m.data.length);
  }

  const counts = [0, 0];
  for (const i of [0, 1]) {
    const q = nc.subscribe("work", { queue: "g" });
    (async () => {
      for await (const _m of q) counts[i]++;
    })();
  }
  await nc.flush();
  for (let i = 0; i < 50; i++) nc.publish("work", Empty);
  await nc.flush();
  await until(() => counts[0] + counts[1] >= 50, 5000);
  await new Promise((r) => setTimeout(r, 100));
  check("queue group: each message once", counts[0] + counts[1] === 50, counts.join("+"));

  try {
    await nc.request("nobody.home", Empty, { timeout: 3000 });
    check("no responders", false, "a reply came");
  } catch (e) {
    check("no responders", e.code === ErrorCode.NoResponders, e.code);
  }

  await nc.drain();
  check("drained and closed", nc.isClosed());
}

main()
  .catch((e) => check("no error", false, e && e.stack ? e.stack : String(e)))
  .finally(() => process.exit(failed ? 1 : 0));
