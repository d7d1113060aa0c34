/**
 * Fault test 1: nats-server killed (SIGKILL) and restarted on the same port
 * and store while 10,000 mixed messages (5% by link) flow in JetStream mode.
 * Expect 0 lost, 0 delivered twice, every checksum verified (smartreceive
 * verifies each payload before the consumer yields it). The same guarantee in
 * an R3 cluster whose stream leader is killed halfway through 3,000 messages.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Bridge, type ConsumeOptions, ensureStream, type SendItem } from "natsbridge";
import { jetstreamManager } from "@nats-io/jetstream";
import { startCluster, startNats, startPlik } from "../../scripts/servers.ts";
import { bytesOf } from "../_helpers.ts";

const TOTAL = Number((globalThis as { process?: { env: Record<string, string> } }).process?.env.FAULT_MESSAGES ?? 10_000);

/**
 * Consumes `stream` (durable "fault") with `receiver`, counting deliveries
 * per `msg_id`, until `total` distinct ones have come or `stop()`.
 */
function countDeliveries(receiver: Bridge, stream: string, total: number, receive?: ConsumeOptions["receive"]) {
  const ac = new AbortController();
  const delivered = new Map<string, number>();
  const consuming = (async () => {
    for await (const env of receiver.consume({ stream, durable: "fault", signal: ac.signal, receive })) {
      delivered.set(env.msg_id, (delivered.get(env.msg_id) ?? 0) + 1);
      if (delivered.size === total) ac.abort();
    }
  })();
  return {
    delivered,
    stop: () => ac.abort(),
    /** Waits up to `waitMs` for all `total`, stops, and counts the `sent` ids lost and the ones delivered twice. */
    async finish(sent: Set<string>, waitMs: number): Promise<{ lost: number; duplicated: number }> {
      const deadline = Date.now() + waitMs;
      while (delivered.size < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      ac.abort();
      await consuming;
      return {
        lost: [...sent].filter((id) => !delivered.has(id)).length,
        duplicated: [...delivered.values()].filter((n) => n > 1).length,
      };
    },
  };
}

test(`JetStream: ${TOTAL} mixed messages across a nats-server kill and restart — 0 lost, 0 duplicated`, async () => {
  let nats = await startNats();
  const plik = await startPlik();
  const quiet = { log() {} };
  const opts = { broker_url: nats.url, fileserver_url: plik.url, logger: quiet };
  const sender = await Bridge.connect(opts);
  const receiver = await Bridge.connect(opts);
  await ensureStream(sender.connection, { name: "FAULT", subjects: ["fault.>"] });
  const sent = new Set<string>();
  const counted = countDeliveries(receiver, "FAULT", TOTAL, { max_retries: 8 });
  let restarted = false;
  try {
    const t0 = Date.now();
    for (let i = 0; i < TOTAL; i++) {
      if (i === Math.floor(TOTAL / 2) && !restarted) {
        // Kill mid-stream; the store dir survives, the port is reused.
        restarted = true;
        const { port, storeDir } = nats;
        await nats.stop({ signal: "SIGKILL", keepStore: true });
        setTimeout(async () => {
          nats = await startNats({ port, storeDir });
        }, 1000);
      }
      const items: SendItem[] = [["n", { i }, "dictionary"]];
      if (i % 20 === 0) items.push(["blob", bytesOf(600_000, i + 1), "binary"]); // 5% by link
      else items.push(["t", `message ${i}`, "text"]);
      const [env] = await sender.send("fault.mixed", items, { jetstream: { attempts: 30, timeout: 2000 } });
      sent.add(env.msg_id);
    }
    const { lost, duplicated } = await counted.finish(sent, 120_000);
    console.log(`fault/jetstream-restart: sent ${sent.size}, delivered ${counted.delivered.size}, lost ${lost}, duplicated ${duplicated}, ${(Date.now() - t0) / 1000}s`);
    assert.equal(sent.size, TOTAL);
    assert.equal(lost, 0);
    assert.equal(duplicated, 0);
  } finally {
    counted.stop();
    await sender.close().catch(() => {});
    await receiver.close().catch(() => {});
    await nats.stop();
    await plik.stop();
  }
});

test("JetStream: 3000 messages across the R3 stream leader's kill — 0 lost, 0 duplicated", async () => {
  const total = 3000;
  const cluster = await startCluster(3);
  const quiet = { log() {} };
  const sender = await Bridge.connect({ broker_url: cluster.urls, logger: quiet });
  const receiver = await Bridge.connect({ broker_url: cluster.urls, logger: quiet });
  const sent = new Set<string>();
  let counted: ReturnType<typeof countDeliveries> | undefined;
  try {
    await ensureStream(sender.connection, { name: "FAULT_R3", subjects: ["fault3.>"], replicas: 3 });
    const jsm = await jetstreamManager(sender.connection);
    counted = countDeliveries(receiver, "FAULT_R3", total);
    const t0 = Date.now();
    let killed = "";
    for (let i = 0; i < total; i++) {
      if (i === total / 2) {
        killed = (await jsm.streams.info("FAULT_R3")).cluster?.leader ?? "";
        await cluster.nodes[Number(killed.slice(1))].stop({ signal: "SIGKILL", keepStore: true });
      }
      const [env] = await sender.send("fault3.x", [["n", { i }, "dictionary"]], { jetstream: { attempts: 30, timeout: 2000 } });
      sent.add(env.msg_id);
    }
    const { lost, duplicated } = await counted.finish(sent, 60_000);
    console.log(`fault/jetstream-leader: stream leader ${killed} killed halfway; sent ${sent.size}, delivered ${counted.delivered.size}, lost ${lost}, duplicated ${duplicated}, ${(Date.now() - t0) / 1000}s`);
    assert.equal(lost, 0);
    assert.equal(duplicated, 0);
  } finally {
    counted?.stop();
    await sender.close().catch(() => {});
    await receiver.close().catch(() => {});
    await Promise.all(cluster.nodes.map((n) => n.stop()));
  }
});
