/**
 * nats.js's parser assembles each large incoming message in one buffer of its
 * size, and the socket reads of a connection natsbridge opened are freed once
 * parsed (engine/platform/parser_buffers.ts), with every message, subject,
 * reply and header intact; an application's own connection keeps its reads.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { headers, type Msg, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { openConnection } from "../engine/platform/connect.ts";
import { startNats } from "../scripts/servers.ts";
import { bytesOf, NO_TRANSFER } from "./_helpers.ts";
import { makeCerts } from "./_secured.ts";

// Room for a message longer than two of Bun's 512 KiB reads (see SIZES).
const MAX_PAYLOAD = "max_payload: 4MB";
const nats = await startNats({ jetstream: false, config: MAX_PAYLOAD });
const sender = await connect({ servers: nats.url });

after(async () => {
  await sender.close();
  await nats.stop();
});

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Sizes around the reads' (64 KiB on Deno and Node, 512 KiB on Bun) and the parser's thresholds. */
// The last is longer than two reads of any runtime, so some read lies wholly inside it and
// holds no small message: one is then freed whatever the read boundaries. Without it, on
// Bun every read held one in about 1 run in 7 (one round after a reconnect), and was kept.
const SIZES = [0, 1, 100, 16_383, 16_384, 65_535, 65_536, 65_537, 200_000, 262_144, 524_289, 1_000_000, 3_000_000];

interface Sent {
  subject: string;
  reply: string;
  header: string;
  sha: string;
  size: number;
}

/**
 * Publishes every size in turn, each followed by a small message so reads hold
 * whole messages next to pieces of large ones; each with its own reply
 * subject and a header.
 */
async function publishMix(sender: NatsConnection, prefix: string, rounds: number): Promise<Sent[]> {
  const sent: Sent[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const [i, size] of SIZES.entries()) {
      for (const [kind, n] of [["big", size], ["small", 37 + i]] as const) {
        const data = bytesOf(n, r * 100 + i + (kind === "big" ? 0 : 50));
        const s: Sent = {
          subject: `${prefix}.${kind}.${r}.${i}`,
          reply: `reply.${prefix}.${r}.${i}.${kind}`,
          header: `h-${r}-${i}-${kind}`,
          sha: sha(data),
          size: n,
        };
        const h = headers();
        h.set("X-Check", s.header);
        sender.publish(s.subject, data, { reply: s.reply, headers: h });
        sent.push(s);
      }
    }
    await sender.flush();
  }
  return sent;
}

/** Receives `count` messages on `nc` and checks them only once all have arrived, so later reads came in between. */
async function receiveAndCheck(nc: NatsConnection, prefix: string, rounds: number, from = sender): Promise<Msg[]> {
  const sub = nc.subscribe(`${prefix}.>`);
  await nc.flush();
  const count = rounds * SIZES.length * 2;
  const got: Msg[] = [];
  const all = (async () => {
    for await (const m of sub) {
      got.push(m);
      if (got.length === count) break;
    }
  })();
  const sent = await publishMix(from, prefix, rounds);
  await all;
  assert.equal(got.length, sent.length);
  for (const [i, s] of sent.entries()) {
    const m = got[i];
    assert.equal(m.subject, s.subject, `message ${i}: subject`);
    assert.equal(m.reply, s.reply, `message ${i}: reply`);
    assert.equal(m.headers?.get("X-Check"), s.header, `message ${i}: header`);
    assert.equal(m.data.byteLength, s.size, `message ${i} (${s.subject}): size`);
    assert.equal(sha(m.data), s.sha, `message ${i} (${s.subject}): bytes`);
  }
  return got;
}

/** Reads that were the whole of their buffer when they came: the only ones natsbridge may free. */
const wholeReads = new WeakSet<Uint8Array>();

/** Every socket read `nc` gets from now on. */
function recordReads(nc: NatsConnection): Uint8Array[] {
  const reads: Uint8Array[] = [];
  // deno-lint-ignore no-explicit-any
  const socket = (nc as any).protocol.transport.socket;
  socket.on("data", (frame: Uint8Array) => {
    if (frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength) wholeReads.add(frame);
    reads.push(frame);
  });
  return reads;
}

const detached = (b: Uint8Array) => b.buffer.byteLength === 0;

/** Drops `nc`'s socket and waits until it has reconnected (on a new transport). */
async function reconnectNow(nc: NatsConnection): Promise<void> {
  const reconnected = (async () => {
    for await (const s of nc.status()) if (s.type === "reconnect") return;
  })();
  nc.reconnect();
  await reconnected;
}

test("[parser] messages of every size reach a natsbridge connection intact: bytes, subject, reply, headers", async () => {
  const nc = await openConnection({ servers: nats.url });
  try {
    await receiveAndCheck(nc, "mix", 3);
  } finally {
    await nc.close();
  }
});

test("[parser] a natsbridge connection frees the reads it has parsed, and keeps those a delivered message points into", { skip: NO_TRANSFER }, async () => {
  const nc = await openConnection({ servers: nats.url });
  try {
    const reads = recordReads(nc);
    const got = await receiveAndCheck(nc, "free", 3);
    const freed = reads.filter(detached);
    assert.ok(freed.length > 0, `none of ${reads.length} reads was freed`);
    // The small messages sit whole inside reads: their reads are kept, and their bytes were checked above.
    const held = new Set(got.map((m) => m.data.buffer));
    for (const r of reads) if (held.has(r.buffer)) assert.ok(!detached(r));
  } finally {
    await nc.close();
  }
});

test("[parser] on a natsbridge connection a large message inside one read gets a buffer of its own, so the read is not kept for it", { skip: NO_TRANSFER }, async () => {
  const nc = await openConnection({ servers: nats.url });
  try {
    const reads = recordReads(nc);
    const got = await receiveAndCheck(nc, "own", 2);
    const large = got.filter((m) => m.data.byteLength >= 16 * 1024);
    assert.ok(large.length > 0);
    // A read that is a slice of a buffer the runtime reuses (Node 24 at times) is never freed, so nothing is copied out of it.
    assert.ok(reads.some((r) => wholeReads.has(r)), `none of ${reads.length} reads was a whole buffer`);
    for (const m of large) {
      const read = reads.find((r) => r.buffer === m.data.buffer);
      if (read) {
        assert.ok(!wholeReads.has(read), `${m.subject} (${m.data.byteLength} B) is a view of a read natsbridge may free (${read.byteLength} B)`);
      }
      else assert.equal(m.data.byteOffset + m.data.byteLength, m.data.buffer.byteLength, `${m.subject}: its buffer holds it and its header only`);
    }
  } finally {
    await nc.close();
  }
});

test("[parser] a natsbridge connection that reconnects frees the reads of its new transport too", { skip: NO_TRANSFER }, async () => {
  const nc = await openConnection({ servers: nats.url, reconnectTimeWait: 50 });
  try {
    await reconnectNow(nc);
    const reads = recordReads(nc);
    await receiveAndCheck(nc, "again", 1);
    assert.ok(reads.some(detached), `none of ${reads.length} reads was freed`);
  } finally {
    await nc.close();
  }
});

test("[parser] an application's own connection keeps its reads, and gets each large message in a buffer of its size", async () => {
  const nc = await connect({ servers: nats.url });
  try {
    // Installed once the process opened any natsbridge connection, or read an Object Store link.
    await (await openConnection({ servers: nats.url })).close();
    const reads = recordReads(nc);
    const got = await receiveAndCheck(nc, "app", 2);
    assert.deepEqual(reads.filter(detached), []);
    // A message larger than a read was assembled, not handed out as a view of one.
    const assembled = got.filter((m) => !reads.some((r) => r.buffer === m.data.buffer) && m.data.byteLength > 0);
    assert.ok(assembled.length > 0);
    // The header comes first in the same buffer: it holds headers and data, and nothing more.
    for (const m of assembled) assert.equal(m.data.buffer.byteLength, m.data.byteOffset + m.data.byteLength);
  } finally {
    await nc.close();
  }
});

test("[parser] an application's connection that reconnects after natsbridge opened one still keeps its reads and frames", async () => {
  // nats.js has one transport factory per process: the reconnect gets natsbridge's.
  const nc = await connect({ servers: nats.url, reconnectTimeWait: 50 });
  const own = await openConnection({ servers: nats.url });
  try {
    await reconnectNow(nc);
    const reads = recordReads(nc);
    // Each frame written, with its length when written (a freed one reads 0 after).
    const sent: [Uint8Array, number][] = [];
    // deno-lint-ignore no-explicit-any
    const transport = (nc as any).protocol.transport;
    const send = transport._send;
    transport._send = (frame: Uint8Array) => {
      sent.push([frame, frame.byteLength]);
      return send.call(transport, frame);
    };
    await receiveAndCheck(nc, "reconnected", 1, own);
    nc.publish("reconnected.out", bytesOf(300_000, 9));
    await nc.flush();
    assert.ok(sent.some(([, n]) => n > 300_000), "the large publish went out in a frame of its own");
    assert.deepEqual(reads.filter(detached).length, 0, "reads freed");
    assert.deepEqual(sent.filter(([f, n]) => n > 0 && detached(f)).length, 0, "frames freed");
  } finally {
    await own.close();
    await nc.close();
  }
});

test("[parser] over TLS too, where runtimes hand out reads differently (Node 24: slices of a shared buffer), every message arrives intact", async () => {
  const dir = mkdtempSync(join(tmpdir(), "natsbridge-parser-tls-"));
  const { ca, cert, key } = makeCerts(dir);
  const secure = await startNats({ jetstream: false, config: `${MAX_PAYLOAD}\ntls { cert_file: "${cert}", key_file: "${key}" }` });
  const url = `tls://127.0.0.1:${secure.port}`;
  const tls = { tls: { caFile: ca } };
  const from = await connect({ servers: url, ...tls });
  const nc = await openConnection({ servers: url, ...tls });
  try {
    await receiveAndCheck(nc, "tls", 2, from);
  } finally {
    await nc.close();
    await from.close();
    await secure.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
