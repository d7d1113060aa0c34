/**
 * Fault test 4: a mixed-traffic soak (core NATS, direct and link payloads,
 * Plik and Object Store): memory must stay flat (no growth trend in RSS after
 * warm-up) and no message may be lost.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { Bridge, objectStoreFileServer, type SendItem } from "natsbridge";
import { startNats, startPlik } from "../../scripts/servers.ts";
import { bytesOf } from "../_helpers.ts";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
/** Messages per second. */
const RATE = Number(process.env.SOAK_RATE ?? 300);

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return num / den;
}

test(`soak: ${SECONDS}s of mixed traffic — flat memory, nothing lost`, async () => {
  const nats = await startNats();
  const plik = await startPlik();
  const quiet = { log() {} };
  const bridge = await Bridge.connect({ broker_url: nats.url, fileserver_url: plik.url, logger: quiet });
  const store = await objectStoreFileServer({ connection: bridge.connection, bucket: "soak", ttl: 120 });
  let received = 0;
  let failed = 0;
  const errors = new Map<string, number>();
  const sub = bridge.subscribe("soak.>", {
    receive: { fileserver: store },
    on_error: (e) => {
      failed++;
      errors.set(`${e.code} ${e.message.slice(0, 80)}`, (errors.get(`${e.code} ${e.message.slice(0, 80)}`) ?? 0) + 1);
    },
  });
  const loop = (async () => { for await (const _ of sub) received++; })();
  const samples: [number, number, number][] = [];
  const t0 = Date.now();
  // With --expose-gc the sample follows a full collection, so it measures what
  // is retained rather than how lazily the collector runs.
  const gc = (globalThis as { gc?: () => void }).gc;
  const sampler = setInterval(() => {
    gc?.();
    const m = process.memoryUsage();
    samples.push([(Date.now() - t0) / 1000, (m.heapUsed + m.arrayBuffers) / 1048576, m.rss / 1048576]);
  }, 1000);
  const blob = bytesOf(700_000, 5);
  let sent = 0;
  try {
    while (Date.now() - t0 < SECONDS * 1000) {
      const i = sent;
      const items: SendItem[] = [["n", { i, at: Date.now() }, "dictionary"], ["t", `soak ${i}`, "text"]];
      if (i % 25 === 0) items.push(["blob", blob, "binary"]);
      await bridge.send(`soak.${i % 4}`, items, i % 50 === 0 ? { fileserver: store } : {});
      sent++;
      // A steady rate, not a flood: a soak checks the steady state.
      const due = t0 + (sent / RATE) * 1000;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    }
    const deadline = Date.now() + 20_000;
    while (received + failed < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  } finally {
    clearInterval(sampler);
    sub.unsubscribe();
    await loop;
    await bridge.close();
    await nats.stop();
    await plik.stop();
  }
  const steady = samples.filter(([t]) => t >= Math.min(15, SECONDS / 4));
  const mbPerMin = slope(steady.map(([t]) => t), steady.map(([, m]) => m)) * 60;
  const live = steady.map(([, m]) => m);
  const rss = steady.map(([, , r]) => r);
  console.log(
    `fault/soak: ${SECONDS}s, sent ${sent}, received ${received}, failed ${failed}, lost ${sent - received - failed}; ` +
      `live heap+buffers ${Math.min(...live).toFixed(0)}–${Math.max(...live).toFixed(0)} MB (trend ${mbPerMin.toFixed(2)} MB/min), ` +
      `RSS ${Math.min(...rss).toFixed(0)}–${Math.max(...rss).toFixed(0)} MB, gc ${gc ? "forced before each sample" : "not exposed"}`,
  );
  for (const [e, n] of errors) console.log(`  ${n}× ${e}`);
  assert.equal(failed, 0);
  assert.equal(received, sent, "no message lost");
  assert.ok(mbPerMin < 8, `live memory grows ${mbPerMin.toFixed(2)} MB/min after warm-up`);
});
