/**
 * Fault test 2: a 3-node NATS cluster with an R3 Object Store bucket; one
 * node is killed during 100 transfers of 10 MB. All must complete and verify.
 * Then the bucket's stream leader is killed in the middle of a 40 MiB
 * `ReadableStream` put, once while the client is connected elsewhere and once
 * while connected to it: a stream cannot be read twice, so the put must resume.
 * And the leader is killed in the middle of a 40 MiB streamed read, four
 * times: the read must go on from the last chunk it delivered.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { Bridge, objectStoreFileServer } from "natsbridge";
import { startCluster } from "../../scripts/servers.ts";
import { bytesOf } from "../_helpers.ts";

const env = (globalThis as { process?: { env: Record<string, string> } }).process?.env ?? {};
const TRANSFERS = Number(env.FAULT_TRANSFERS ?? 100);
const SIZE = Number(env.FAULT_TRANSFER_MB ?? 10) * 1024 * 1024;

test(`R3 Object Store: ${TRANSFERS} transfers of ${SIZE / 1048576} MB survive a node kill`, async () => {
  const cluster = await startCluster(3);
  const quiet = { log() {} };
  // Connect through the nodes that survive, so the kill tests the store, not client failover alone.
  const bridge = await Bridge.connect({ broker_url: cluster.urls, logger: quiet });
  try {
    const store = await objectStoreFileServer({ connection: bridge.connection, bucket: "r3", replicas: 3, ttl: 600 });
    const payload = bytesOf(SIZE, 42);
    const sha = createHash("sha256").update(payload).digest("hex");
    let ok = 0;
    let killed = -1;
    const t0 = Date.now();
    for (let i = 0; i < TRANSFERS; i++) {
      if (i === Math.floor(TRANSFERS / 3)) {
        // Kill a node that is not the one we are connected to.
        const connected = bridge.connection.getServer();
        killed = cluster.nodes.findIndex((n) => !connected.endsWith(`:${n.port}`));
        await cluster.nodes[killed].stop({ signal: "SIGKILL", keepStore: true });
      }
      if (i === Math.floor((2 * TRANSFERS) / 3) && killed >= 0) await cluster.restart(killed);
      const [, json] = await bridge.send("r3", [["blob", payload, "binary"]], {
        is_publish: false, fileserver: store, size_threshold: 1,
      });
      const got = await bridge.receive(json, { fileserver: store, max_retries: 8, base_delay: 200 });
      assert.equal((got.payloads[0][1] as Uint8Array).byteLength, SIZE);
      ok++;
    }
    console.log(`fault/cluster-node: ${ok}/${TRANSFERS} transfers of ${SIZE} B verified (sha ${sha.slice(0, 12)}…), node n${killed} killed and restarted, ${(Date.now() - t0) / 1000}s`);
    assert.equal(ok, TRANSFERS);
  } finally {
    await bridge.close().catch(() => {});
    await Promise.all(cluster.nodes.map((n) => n.stop()));
  }
});

/**
 * Waits until the stream is whole again after a node's restart (a leader, and
 * both other replicas current), and returns its leader's index.
 */
async function healedLeader(jsm: Awaited<ReturnType<typeof jetstreamManager>>, stream: string): Promise<number> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const c = await jsm.streams.info(stream).then((si) => si.cluster, () => undefined);
    const replicas = c?.replicas ?? [];
    if (c?.leader && replicas.length === 2 && replicas.every((r) => r.current && !r.offline)) return Number(c.leader.slice(1));
    if (Date.now() > deadline) throw new Error(`${stream} not whole 60 s after a restart: ${JSON.stringify(c)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test("R3 Object Store: a ReadableStream put resumes across the stream leader's kill", async () => {
  const MiB = 1024 * 1024;
  const cluster = await startCluster(3);
  const quiet = { log() {} };
  const admin = await Bridge.connect({ broker_url: cluster.urls, logger: quiet });
  try {
    await objectStoreFileServer({ connection: admin.connection, bucket: "r3s", replicas: 3, ttl: 600 });
    const jsm = await jetstreamManager(admin.connection);
    const data = bytesOf(40 * MiB, 5);
    const want = createHash("sha256").update(data).digest("hex");
    const rounds: string[] = [];
    for (const onLeader of [false, true]) {
      const victim = await healedLeader(jsm, "OBJ_r3s");
      const others = cluster.nodes.filter((_, i) => i !== victim).map((n) => n.url);
      // On the leader: listed first and not shuffled, so the client starts there and fails over.
      const lines: string[] = [];
      const bridge = await Bridge.connect({
        broker_url: (onLeader ? [cluster.nodes[victim].url, ...others] : others).join(","),
        connect_options: { noRandomize: true },
        logger: { log: (_level, line) => lines.push(line) },
      });
      try {
        const store = await objectStoreFileServer({ connection: bridge.connection, bucket: "r3s", replicas: 3, ttl: 600 });
        let streamed = 0;
        let killed: Promise<void> | undefined;
        const source = new ReadableStream<Uint8Array>({
          pull(c) {
            if (streamed >= data.byteLength) return c.close();
            c.enqueue(data.slice(streamed, streamed + 100_000));
            streamed += 100_000;
          },
        });
        const t0 = Date.now();
        const [env, json] = await bridge.send("r3s", [["stream", source, "binary"]], {
          is_publish: false,
          fileserver: store,
          on_progress: (p) => {
            if (!killed && p.done >= 10 * MiB) killed = cluster.nodes[victim].stop({ signal: "SIGKILL", keepStore: true });
          },
        });
        assert.ok(killed, "the leader was killed during the put");
        await killed;
        assert.equal(env.payloads[0].metadata.checksum, want);
        const got = await bridge.receive(json, { fileserver: store, max_retries: 8, base_delay: 200 });
        assert.equal(createHash("sha256").update(got.payloads[0][1] as Uint8Array).digest("hex"), want);
        const resumes = lines.filter((l) => l.includes("resumed at")).length;
        rounds.push(
          `leader n${victim} killed${onLeader ? " under the client" : ""}, put resumed ${resumes}x and verified in ${(Date.now() - t0) / 1000}s`,
        );
      } finally {
        await bridge.close().catch(() => {});
      }
      await cluster.restart(victim);
    }
    console.log(`fault/cluster-leader-stream: ${rounds.join("; ")}`);
  } finally {
    await admin.close().catch(() => {});
    await Promise.all(cluster.nodes.map((n) => n.stop()));
  }
});

test("R3 Object Store: a streamed read resumes across the stream leader's kill", async () => {
  const MiB = 1024 * 1024;
  const cluster = await startCluster(3);
  const quiet = { log() {} };
  const admin = await Bridge.connect({ broker_url: cluster.urls, logger: quiet });
  try {
    await objectStoreFileServer({ connection: admin.connection, bucket: "r3r", replicas: 3, ttl: 600 });
    const jsm = await jetstreamManager(admin.connection);
    const data = bytesOf(40 * MiB, 6);
    const want = createHash("sha256").update(data).digest("hex");
    const rounds: string[] = [];
    for (const onLeader of [false, true, false, true]) {
      const victim = await healedLeader(jsm, "OBJ_r3r");
      const others = cluster.nodes.filter((_, i) => i !== victim).map((n) => n.url);
      const lines: string[] = [];
      const bridge = await Bridge.connect({
        broker_url: (onLeader ? [cluster.nodes[victim].url, ...others] : others).join(","),
        connect_options: { noRandomize: true },
        logger: { log: (_level, line) => lines.push(line) },
      });
      try {
        const store = await objectStoreFileServer({ connection: bridge.connection, bucket: "r3r", replicas: 3, ttl: 600 });
        const [, json] = await bridge.send("r3r", [["blob", data, "binary"]], { is_publish: false, fileserver: store });
        const t0 = Date.now();
        const got = await bridge.receive(json, { fileserver: store, stream: true });
        const h = createHash("sha256");
        let n = 0;
        let killed = false;
        for await (const chunk of got.payloads[0][1] as unknown as AsyncIterable<Uint8Array>) {
          h.update(chunk);
          n += chunk.byteLength;
          if (!killed && n >= 10 * MiB) {
            killed = true;
            await cluster.nodes[victim].stop({ signal: "SIGKILL", keepStore: true });
          }
        }
        assert.ok(killed, "the leader was killed during the read");
        assert.equal(n, data.byteLength);
        assert.equal(h.digest("hex"), want);
        const reopened = lines.filter((l) => l.includes("with a new consumer")).length;
        rounds.push(`n${victim}${onLeader ? " (the client's node)" : ""} ${(Date.now() - t0) / 1000}s, consumer replaced ${reopened}x`);
      } finally {
        await bridge.close().catch(() => {});
      }
      await cluster.restart(victim);
    }
    console.log(`fault/cluster-leader-read: stream leader killed during a 40 MiB streamed read, read verified: ${rounds.join("; ")}`);
  } finally {
    await admin.close().catch(() => {});
    await Promise.all(cluster.nodes.map((n) => n.stop()));
  }
});
