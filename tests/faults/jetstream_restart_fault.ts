/**
 * Fault test 1: nats-server killed (SIGKILL) and restarted on the same port
 * and store while 10,000 mixed messages (5% by link) flow in JetStream mode.
 * Expect 0 lost, 0 delivered twice, every checksum verified (smartreceive
 * verifies each payload before the consumer yields it). The same guarantee in
 * an R3 cluster whose stream leader is killed halfway through 3,000 messages.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Bridge, ensureStream, type SendItem } from "natsbridge";
import { jetstreamManager } from "@nats-io/jetstream";
import { startCluster, startNats, startPlik } from "../../scripts/servers.ts";
import { bytesOf } from "../_helpers.ts";

const TOTAL = Number((globalThis as { process?: { env: Record<string, string> } }).process?.env.FAULT_MESSAGES ?? 10_000);

test(`JetStream: ${TOTAL} mixed messages across a nats-server kill and restart — 0 lost, 0 duplicated`, async () => {
  let nats = await startNats();
  const plik = await startPlik();
  const quiet = { log() {} };
  const opts = { broker_url: nats.url, fileserver_url: plik.url, logger: quiet };
  const sender = await Bridge.connect(opts);
  const receiver = await Bridge.connect(opts);
  await ensureStream(sender.connection, { name: "FAULT", subjects: ["fault.>"] });
  const sent = new Set<string>();
  const delivered = new Map<string, number>();
  const ac = new AbortController();
  let restarted = false;
  try {
    const consuming = (async () => {
      for await (const env of receiver.consume({ stream: "FAULT", durable: "fault", signal: ac.signal, receive: { max_retries: 8 } })) {
        const i = (env.payloads[0][1] as { i: number }).i;
        delivered.set(env.msg_id, (delivered.get(env.msg_id) ?? 0) + 1);
        if (i >= 0 && delivered.size === TOTAL) ac.abort();
      }
    })();

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
    const deadline = Date.now() + 120_000;
    while (delivered.size < TOTAL && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    ac.abort();
    await consuming;
    const lost = [...sent].filter((id) => !delivered.has(id)).length;
    const duplicated = [...delivered.values()].filter((n) => n > 1).length;
    console.log(`fault/jetstream-restart: sent ${sent.size}, delivered ${delivered.size}, lost ${lost}, duplicated ${duplicated}, ${(Date.now() - t0) / 1000}s`);
    assert.equal(sent.size, TOTAL);
    assert.equal(lost, 0);
    assert.equal(duplicated, 0);
  } finally {
    ac.abort();
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
  const delivered = new Map<string, number>();
  const ac = new AbortController();
  try {
    await ensureStream(sender.connection, { name: "FAULT_R3", subjects: ["fault3.>"], replicas: 3 });
    const jsm = await jetstreamManager(sender.connection);
    const consuming = (async () => {
      for await (const env of receiver.consume({ stream: "FAULT_R3", durable: "fault", signal: ac.signal })) {
        delivered.set(env.msg_id, (delivered.get(env.msg_id) ?? 0) + 1);
        if (delivered.size === total) ac.abort();
      }
    })();
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
    const deadline = Date.now() + 60_000;
    while (delivered.size < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    ac.abort();
    await consuming;
    const lost = [...sent].filter((id) => !delivered.has(id)).length;
    const duplicated = [...delivered.values()].filter((n) => n > 1).length;
    console.log(`fault/jetstream-leader: stream leader ${killed} killed halfway; sent ${sent.size}, delivered ${delivered.size}, lost ${lost}, duplicated ${duplicated}, ${(Date.now() - t0) / 1000}s`);
    assert.equal(lost, 0);
    assert.equal(duplicated, 0);
  } finally {
    ac.abort();
    await sender.close().catch(() => {});
    await receiver.close().catch(() => {});
    await Promise.all(cluster.nodes.map((n) => n.stop()));
  }
});
