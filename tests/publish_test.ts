/**
 * Core-mode publishing against a real nats-server: what `is_publish`,
 * `confirm` and the connection's state do to a send, and that the envelope
 * text published is exactly `JSON.stringify(envelope)` whatever it holds.
 */
import { after, test } from "node:test";
import process from "node:process";
import assert from "node:assert/strict";
import fc from "fast-check";
import { connect } from "@nats-io/transport-node";
import { Bridge, smartreceive, smartsend } from "natsbridge";
import { withConnection } from "../engine/connection.ts";
import { startNats } from "../scripts/servers.ts";
import { bytesOf, rejectsWithCode, suspend } from "./_helpers.ts";

const quiet = { log() {} };
const nats = await startNats();
const nc = await connect({ servers: nats.url });
after(async () => {
  await nc.close();
  await nats.stop();
});

/** Messages on `subject` within `ms`. */
async function collect(subject: string, send: () => Promise<unknown>, ms = 300): Promise<Uint8Array[]> {
  const sub = nc.subscribe(subject);
  await nc.flush();
  const got: Uint8Array[] = [];
  const loop = (async () => {
    for await (const m of sub) got.push(m.data);
  })();
  await send();
  await new Promise((r) => setTimeout(r, ms));
  sub.unsubscribe();
  await loop;
  return got;
}

test("is_publish: false with a nats_connection builds the envelope and publishes nothing", async () => {
  const got = await collect("pub.none", () =>
    smartsend("pub.none", [["t", "x", "text"]], { is_publish: false, nats_connection: nc, logger: quiet }));
  assert.equal(got.length, 0);
});

test("a send returns once handed to the connection; every one arrives, in order", async () => {
  const n = 200;
  const got = await collect("pub.burst", async () => {
    for (let i = 0; i < n; i++) await smartsend("pub.burst", [["i", String(i), "text"]], { nats_connection: nc, logger: quiet });
  });
  const seen = await Promise.all(got.map(async (d) => (await smartreceive(d, { logger: quiet })).payloads[0][1]));
  assert.deepEqual(seen, Array.from({ length: n }, (_, i) => String(i)));
});

/** The "i" text payload of each envelope, in arrival order. */
function indexes(got: Uint8Array[]): string[] {
  return got.map((d) => {
    const p = JSON.parse(new TextDecoder().decode(d)).payloads.find((x: { dataname: string }) => x.dataname === "i");
    return atob(p.data);
  });
}

test("sends started together on one subject are published in call order, whatever each has to encode or upload", async () => {
  // A send that needed a worker or an upload was published when that work
  // ended: the small sends started after it overtook it.
  const n = 12;
  const slowUpload = async (_url: string, dataname: string) => {
    await new Promise((r) => setTimeout(r, 30));
    return { status: 200, uploadid: "u", fileid: dataname, url: `http://127.0.0.1:1/file/u/${dataname}/x` };
  };
  const items = (i: number) =>
    i % 3 === 0
      ? [["i", String(i), "text"], ["big", bytesOf(600_000, i), "binary"]] // by link, uploaded in 30 ms
      : i % 3 === 1
      ? [["i", String(i), "text"], ["mid", bytesOf(300_000, i), "binary"]] // direct, encoded on a worker
      : [["i", String(i), "text"]];
  const got = await collect("pub.order", () =>
    Promise.all(Array.from({ length: n }, (_, i) =>
      smartsend("pub.order", items(i) as never, {
        nats_connection: nc, logger: quiet, fileserver_upload_handler: slowUpload, size_threshold: 500_000,
      }))), 500);
  assert.deepEqual(indexes(got), Array.from({ length: n }, (_, i) => String(i)));

  // A send that fails, or is aborted while it waits its turn, lets the later ones go.
  const ac = new AbortController();
  const failing = async () => {
    await new Promise((r) => setTimeout(r, 30));
    throw new Error("store down");
  };
  const mixed = await collect("pub.order2", async () => {
    const sends = [
      smartsend("pub.order2", [["i", "0", "text"], ["big", bytesOf(600_000), "binary"]], {
        nats_connection: nc, logger: quiet, fileserver_upload_handler: failing, size_threshold: 500_000,
      }),
      smartsend("pub.order2", [["i", "1", "text"], ["big", bytesOf(600_000), "binary"]], {
        nats_connection: nc, logger: quiet, fileserver_upload_handler: slowUpload, size_threshold: 500_000,
      }),
      smartsend("pub.order2", [["i", "2", "text"]], { nats_connection: nc, logger: quiet, signal: ac.signal }),
      smartsend("pub.order2", [["i", "3", "text"]], { nats_connection: nc, logger: quiet }),
    ];
    ac.abort(); // send 2 is waiting for send 1's upload
    const results = await Promise.allSettled(sends);
    assert.deepEqual(results.map((r) => r.status), ["rejected", "fulfilled", "rejected", "fulfilled"]);
    assert.equal((results[2] as PromiseRejectedResult).reason.code, "ABORTED");
  }, 500);
  assert.deepEqual(indexes(mixed), ["1", "3"]);
});

test("confirm: true resolves after the server has the message; sends in flight together share the round trip", async () => {
  const got = await collect("pub.confirm", () =>
    Promise.all(Array.from({ length: 50 }, (_, i) =>
      smartsend("pub.confirm", [["i", bytesOf(1000, i), "binary"]], { nats_connection: nc, confirm: true, logger: quiet }))));
  assert.equal(got.length, 50);
});

test("a confirmed send waits for the server's answer, not for a timer: no timer under confirm_timeout fires on its way", async () => {
  // A setTimeout(0) per send (clamped to 1 ms or more) made confirmed sends and
  // requests 10-20x slower one at a time (bench row 1, natsbridge-confirm).
  const g = globalThis as { setTimeout: typeof setTimeout };
  const real = g.setTimeout;
  const short: number[] = [];
  g.setTimeout = ((fn: () => void, ms?: number) => {
    if ((ms ?? 0) < 1000) short.push(ms ?? 0);
    return real(fn, ms);
  }) as typeof setTimeout;
  try {
    for (let i = 0; i < 5; i++) {
      await smartsend("pub.confirm.timer", [["i", String(i), "text"]], { nats_connection: nc, confirm: true, logger: quiet });
    }
  } finally {
    g.setTimeout = real;
  }
  assert.deepEqual(short, []);
});

test("a send with confirm on a closed connection fails with PUBLISH_FAILED", async () => {
  const other = await connect({ servers: nats.url });
  await smartsend("pub.closed", [["t", "x", "text"]], { nats_connection: other, logger: quiet });
  await other.close();
  await rejectsWithCode(
    () => smartsend("pub.closed", [["t", "x", "text"]], { nats_connection: other, confirm: true, logger: quiet }),
    "PUBLISH_FAILED",
  );
  await rejectsWithCode(
    () => smartsend("pub.closed", [["t", "x", "text"]], { nats_connection: other, logger: quiet }),
    "PUBLISH_FAILED",
  );
});

test("a send with confirm whose connection is closed before the server confirms fails at once, not after confirm_timeout", async () => {
  // nats.js's flush never settles once a close has begun: the send waited the whole confirm_timeout.
  const other = await connect({ servers: nats.url });
  const t0 = Date.now();
  const sending = smartsend("pub.closing", [["t", "x", "text"]], { nats_connection: other, confirm: true, confirm_timeout: 5000, logger: quiet });
  const closing = other.close();
  await rejectsWithCode(() => sending, "PUBLISH_FAILED", /connection closed before the server confirmed/);
  await closing;
  assert.ok(Date.now() - t0 < 2000, `failed after ${Date.now() - t0} ms`);
});

/** Whether `v` holds an integer JSON writes as digits beyond ±2^53−1. */
function holdsUnsafeInteger(v: unknown): boolean {
  if (typeof v === "number") return Number.isInteger(v) && !Number.isSafeInteger(v) && Math.abs(v) < 1e21;
  return v !== null && typeof v === "object" && Object.values(v).some(holdsUnsafeInteger);
}

test("the published bytes are JSON.stringify(envelope), for any text, names and metadata", async () => {
  const sub = nc.subscribe("pub.json");
  await nc.flush();
  const it = sub[Symbol.asyncIterator]();
  await fc.assert(
    fc.asyncProperty(
      fc.string({ unit: "binary" }),
      fc.string({ unit: "binary", minLength: 1 }),
      // Integers beyond 2^53 are refused when sent (peers read their digits differently).
      fc.dictionary(fc.string(), fc.jsonValue()).filter((m) => !holdsUnsafeInteger(m)),
      fc.uint8Array({ maxLength: 64 }),
      async (text, name, metadata, bin) => {
        const [env, json] = await smartsend("pub.json", [[name, text, "text"], ["b", bin, "binary"]], {
          nats_connection: nc, metadata, sender_name: name, logger: quiet,
        });
        // But for -0 in metadata, which JSON.stringify writes as 0 and natsbridge keeps (-0.0).
        assert.equal(json, JSON.stringify(env, (_k, v) => Object.is(v, -0) ? "NEG0" : v).replaceAll('"NEG0"', "-0.0"));
        const m = await it.next();
        assert.equal(new TextDecoder().decode(m.value!.data), json);
        const back = await smartreceive(m.value!.data, { logger: quiet });
        assert.equal(back.payloads[0][1], text.toWellFormed());
        assert.deepEqual(back.payloads[1][1], bin);
      },
    ),
    { numRuns: 150 },
  );
  sub.unsubscribe();
});

test("sends of small payloads reach the connection before smartsend yields, so a burst leaves together", async () => {
  await smartsend("pub.sync", [["t", "warm", "text"]], { nats_connection: nc, logger: quiet });
  const before = nc.stats().outMsgs;
  const burst = Array.from({ length: 10 }, (_, i) =>
    smartsend("pub.sync", [["i", bytesOf(10_240, i), "binary"]], { nats_connection: nc, logger: quiet }));
  assert.equal(nc.stats().outMsgs, before + 10);
  await Promise.all(burst);
});

test("confirm on a server that hangs fails with PUBLISH_FAILED after confirm_timeout instead of waiting for ever; an abort ends the wait too", async () => {
  const hung = await startNats();
  const conn = await connect({ servers: hung.url });
  try {
    await smartsend("pub.hung", [["t", "x", "text"]], { nats_connection: conn, confirm: true, logger: quiet });
    await suspend(hung.pid); // the socket stays open; nothing answers
    let t0 = Date.now();
    await rejectsWithCode(
      () => smartsend("pub.hung", [["t", "x", "text"]], { nats_connection: conn, confirm: true, confirm_timeout: 300, logger: quiet }),
      "PUBLISH_FAILED",
      /not confirmed by the server within 0.3 s: it may still arrive/,
    );
    assert.ok(Date.now() - t0 < 3000, `${Date.now() - t0} ms`);
    t0 = Date.now();
    await rejectsWithCode(
      () => smartsend("pub.hung", [["t", "x", "text"]], { nats_connection: conn, confirm: true, signal: AbortSignal.timeout(200), logger: quiet }),
      "ABORTED",
    );
    assert.ok(Date.now() - t0 < 3000, `${Date.now() - t0} ms`);
  } finally {
    process.kill(hung.pid, "SIGCONT");
    await conn.close().catch(() => {});
    await hung.stop();
  }
});

test("a confirm_timeout that is not a whole number of ms ≥ 1 is refused before anything is sent", async () => {
  for (const confirm_timeout of [0, -5, 1.5, Number.NaN]) {
    await rejectsWithCode(
      () => smartsend("pub.bad", [["t", "x", "text"]], { nats_connection: nc, confirm: true, confirm_timeout, logger: quiet }),
      "INVALID_OPTION",
      /confirm_timeout must be a whole number of ms from 1/,
    );
  }
});

test("closing on a server that hangs does not wait for ever: Bridge.close() and a call's own connection give up draining and close", async () => {
  const hung = await startNats();
  const bridge = await Bridge.connect({ broker_url: hung.url, logger: quiet });
  try {
    await bridge.send("pub.close", [["t", "x", "text"]], { confirm: true });
    bridge.subscribe("pub.close.sub"); // a subscription to drain as well
    await suspend(hung.pid);
    let t0 = Date.now();
    await bridge.close({ timeout: 300 });
    assert.ok(Date.now() - t0 < 3000, `Bridge.close: ${Date.now() - t0} ms`);
    assert.ok(bridge.connection.isClosed());
    process.kill(hung.pid, "SIGCONT");
    t0 = Date.now();
    let own: { isClosed(): boolean } | undefined;
    await withConnection(undefined, hung.url, "c-1", async (nc) => {
      own = nc;
      await suspend(hung.pid);
    }, undefined, 300);
    assert.ok(Date.now() - t0 < 3000, `withConnection: ${Date.now() - t0} ms`);
    assert.ok(own?.isClosed());
  } finally {
    process.kill(hung.pid, "SIGCONT");
    await hung.stop();
  }
});
