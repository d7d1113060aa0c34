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
import { Bridge, ensureStream, type FileServer, objectStoreFileServer } from "natsbridge";
import { startCluster } from "../../scripts/servers.ts";
import { bytesOf, drainBreakingAt, piecesOf } from "../_helpers.ts";

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

/** What a round of {@link leaderKillRounds} gets: a client, its store, and the node to kill. */
interface Round {
  bridge: Bridge;
  store: FileServer;
  kill: () => Promise<void>;
  /** The client's log lines so far. */
  lines: string[];
}

/**
 * An R3 bucket on a fresh 3-node cluster, then one round per entry of
 * `onLeader`: a client connected to the nodes other than the stream's leader
 * (`false`) or to the leader first (`true`: it must fail over), `round` run
 * with a `kill()` of the leader, the node restarted after. Returns what each
 * round said.
 */
async function leaderKillRounds(bucket: string, onLeader: boolean[], round: (r: Round) => Promise<string>): Promise<string[]> {
  const cluster = await startCluster(3);
  const admin = await Bridge.connect({ broker_url: cluster.urls, logger: { log() {} } });
  // Opening the bucket right after a node's restart may time out on a loaded
  // machine (the cluster still catching up): what these tests measure comes after.
  const storeOf = async (bridge: Bridge) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await objectStoreFileServer({ connection: bridge.connection, bucket, replicas: 3, ttl: 600 });
      } catch (err) {
        if ((err as { code?: string }).code !== "TIMEOUT" || attempt === 3) throw err;
      }
    }
  };
  const said: string[] = [];
  try {
    await storeOf(admin);
    const jsm = await jetstreamManager(admin.connection);
    for (const first of onLeader) {
      const victim = await healedLeader(jsm, `OBJ_${bucket}`);
      const others = cluster.nodes.filter((_, i) => i !== victim).map((n) => n.url);
      const lines: string[] = [];
      // On the leader: listed first and not shuffled, so the client starts there and fails over.
      const bridge = await Bridge.connect({
        broker_url: (first ? [cluster.nodes[victim].url, ...others] : others).join(","),
        connect_options: { noRandomize: true },
        logger: { log: (_level, line) => lines.push(line) },
      });
      try {
        const kill = () => cluster.nodes[victim].stop({ signal: "SIGKILL", keepStore: true });
        said.push(`leader n${victim} killed${first ? " under the client" : ""}: ${await round({ bridge, store: await storeOf(bridge), kill, lines })}`);
      } finally {
        await bridge.close().catch(() => {});
      }
      await cluster.restart(victim);
    }
    return said;
  } finally {
    await admin.close().catch(() => {});
    await Promise.all(cluster.nodes.map((n) => n.stop()));
  }
}

test("R3 Object Store: a ReadableStream put resumes across the stream leader's kill", async () => {
  const MiB = 1024 * 1024;
  const data = bytesOf(40 * MiB, 5);
  const want = createHash("sha256").update(data).digest("hex");
  const rounds = await leaderKillRounds("r3s", [false, true], async ({ bridge, store, kill, lines }) => {
    let killed: Promise<void> | undefined;
    const source = piecesOf(data, 100_000);
    const t0 = Date.now();
    const [env, json] = await bridge.send("r3s", [["stream", source, "binary"]], {
      is_publish: false,
      fileserver: store,
      on_progress: (p) => {
        if (!killed && p.done >= 10 * MiB) killed = kill();
      },
    });
    assert.ok(killed, "the leader was killed during the put");
    await killed;
    assert.equal(env.payloads[0].metadata.checksum, want);
    const got = await bridge.receive(json, { fileserver: store, max_retries: 8, base_delay: 200 });
    assert.equal(createHash("sha256").update(got.payloads[0][1] as Uint8Array).digest("hex"), want);
    const resumes = lines.filter((l) => l.includes("resumed at")).length;
    return `put resumed ${resumes}x, verified in ${(Date.now() - t0) / 1000}s`;
  });
  console.log(`fault/cluster-leader-stream: 40 MiB ReadableStream puts: ${rounds.join("; ")}`);
});

test("R3 Object Store: a streamed read resumes across the stream leader's kill", async () => {
  const MiB = 1024 * 1024;
  const data = bytesOf(40 * MiB, 6);
  const want = createHash("sha256").update(data).digest("hex");
  const rounds = await leaderKillRounds("r3r", [false, true, false, true], async ({ bridge, store, kill, lines }) => {
    const [, json] = await bridge.send("r3r", [["blob", data, "binary"]], { is_publish: false, fileserver: store });
    const t0 = Date.now();
    const got = await bridge.receive(json, { fileserver: store, stream: true });
    const read = await drainBreakingAt(got.payloads[0][1], 10 * MiB, kill);
    assert.ok(read.brokeAt, "the leader was killed during the read");
    assert.equal(read.size, data.byteLength);
    assert.equal(read.sha256, want);
    const reopened = lines.filter((l) => l.includes("with a new consumer")).length;
    return `read verified in ${(Date.now() - t0) / 1000}s, consumer replaced ${reopened}x`;
  });
  console.log(`fault/cluster-leader-read: 40 MiB streamed reads: ${rounds.join("; ")}`);
});

test("a JetStream send through a cluster node without JetStream retries across the stream's node restart, not 'JetStream is not enabled'", async () => {
  // The node's INFO has no "jetstream", so the 503 of the moment the stream's
  // node was away was taken for a server without JetStream: CONNECTION_FAILED at once.
  const cluster = await startCluster(3, { withoutJetStream: [2] });
  const bridge = await Bridge.connect({ broker_url: cluster.nodes[2].url, logger: { log() {} } });
  try {
    await ensureStream(bridge.connection, { name: "MIXED", subjects: ["mixed.>"] });
    await bridge.send("mixed.a", [["t", "before", "text"]], { jetstream: true });
    const jsm = await jetstreamManager(bridge.connection);
    const holder = Number((await jsm.streams.info("MIXED")).cluster!.leader!.slice(1));
    await cluster.nodes[holder].stop({ signal: "SIGKILL", keepStore: true });
    const sending = bridge.send("mixed.b", [["t", "during", "text"]], { jetstream: true });
    await new Promise((r) => setTimeout(r, 1500));
    await cluster.restart(holder);
    const [env] = await sending;
    const stored = await jsm.streams.getMessage("MIXED", { last_by_subj: "mixed.b" });
    assert.equal(JSON.parse(stored!.string()).msg_id, env.msg_id);
  } finally {
    await bridge.close().catch(() => {});
    await Promise.all(cluster.nodes.map((n) => n.stop()));
  }
});

test("consume and the Object Store start while the JetStream meta leader is being re-elected, when their stream is up", async () => {
  // nats.js checks the JetStream API first ($JS.API.INFO), which only the meta
  // leader answers: for the seconds of an election, consume and
  // objectStoreFileServer failed TIMEOUT though their R3 stream answered.
  const cluster = await startCluster(3);
  const admin = await Bridge.connect({ broker_url: cluster.urls, logger: { log() {} } });
  try {
    await ensureStream(admin.connection, { name: "META", subjects: ["meta.>"], replicas: 3 });
    await objectStoreFileServer({ connection: admin.connection, bucket: "meta", replicas: 3 });
    for await (const _ of admin.consume({ stream: "META", durable: "w", signal: AbortSignal.timeout(300) })) { /* none yet */ }
    // Only the meta leader dies: the stream's, the bucket's and the durable's leaders are moved off it first.
    const leader = await cluster.metaLeader();
    const jsm = await jetstreamManager(admin.connection);
    for (let i = 0; i < 20; i++) {
      const onIt = async (api: string, info: () => Promise<{ cluster?: { leader?: string } }>) => {
        if ((await info()).cluster?.leader !== `n${leader}`) return false;
        await admin.connection.request(api, undefined, { timeout: 5000 }).catch(() => {});
        await new Promise((r) => setTimeout(r, 500));
        return true;
      };
      const moved = [
        await onIt("$JS.API.STREAM.LEADER.STEPDOWN.META", () => jsm.streams.info("META")),
        await onIt("$JS.API.STREAM.LEADER.STEPDOWN.OBJ_meta", () => jsm.streams.info("OBJ_meta")),
        await onIt("$JS.API.CONSUMER.LEADER.STEPDOWN.META.w", () => jsm.consumers.info("META", "w")),
      ];
      if (!moved.includes(true)) break;
    }
    const others = cluster.nodes.filter((_, i) => i !== leader).map((n) => n.url).join(",");
    const bridge = await Bridge.connect({ broker_url: others, logger: { log() {} } });
    try {
      await cluster.nodes[leader].stop({ signal: "SIGKILL", keepStore: true });
      const t0 = Date.now();
      await objectStoreFileServer({ connection: bridge.connection, bucket: "meta", replicas: 3 });
      let ready = false;
      for await (const _ of bridge.consume({ stream: "META", durable: "w", signal: AbortSignal.timeout(1000), on_ready: () => (ready = true) })) { /* none */ }
      assert.ok(ready, "consume started");
      assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    } finally {
      await bridge.close().catch(() => {});
    }
  } finally {
    await admin.close().catch(() => {});
    await Promise.all(cluster.nodes.map((n) => n.stop()));
  }
});
