/**
 * Core-mode connection resilience against a real nats-server that is killed
 * and restarted: the bridge reports the outage on its status stream,
 * reconnects by itself, and its subscription keeps delivering afterwards.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Bridge } from "natsbridge";
import { startNats } from "../scripts/servers.ts";
import { rejectsWithCode } from "./_helpers.ts";

test("a bridge reports disconnect/reconnect and keeps its subscription across a server restart", async () => {
  let nats = await startNats();
  const bridge = await Bridge.connect({
    broker_url: nats.url, logger: { log() {} }, connect_options: { reconnectTimeWait: 100 },
  });
  const events: string[] = [];
  (async () => { for await (const s of bridge.status()) events.push(s.type); })();
  const got: unknown[] = [];
  const sub = bridge.subscribe("res");
  const loop = (async () => { for await (const e of sub) { got.push(e.payloads[0][1]); if (got.length === 2) break; } })();
  try {
    // A send returns once handed to the connection, not once delivered: wait
    // for the delivery before killing the server, or it may die with it in flight.
    await bridge.send("res", [["t", "before", "text"]]);
    const seen = Date.now() + 10_000;
    while (got.length === 0 && Date.now() < seen) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(got, ["before"]);
    const { port, storeDir } = nats;
    await nats.stop({ signal: "SIGKILL", keepStore: true });
    await new Promise((r) => setTimeout(r, 300));
    // Core mode is at-most-once: a send while the server is down is reported
    // as failed (the server never confirmed it), not returned as if delivered.
    await rejectsWithCode(() => bridge.send("res", [["t", "during", "text"]]), "PUBLISH_FAILED");
    nats = await startNats({ port, storeDir });
    const deadline = Date.now() + 10_000;
    while (!events.includes("reconnect") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await bridge.send("res", [["t", "after", "text"]]);
    await Promise.race([loop, new Promise((_, rej) => setTimeout(() => rej(new Error(`no delivery after reconnect: got ${JSON.stringify(got)}, events ${events}`)), 10_000))]);
    assert.deepEqual(got, ["before", "after"]);
    assert.ok(events.includes("disconnect"), events.join(","));
    assert.ok(events.includes("reconnect"), events.join(","));
  } finally {
    await bridge.close();
    await nats.stop();
  }
});
