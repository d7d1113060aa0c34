/**
 * The Object Store at the limits an operator sets on its bucket, against a
 * real nats-server: a send is told when the store will not keep its object
 * whole, at once and saying why, and never publishes a link to a broken one.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, DiscardPolicy, jetstream, jetstreamManager, type StreamConfig } from "@nats-io/jetstream";
import { Bridge, ensureStream, type FileServer, objectStoreFileServer, smartreceive, smartsend } from "natsbridge";
import { startNats } from "../scripts/servers.ts";
import { bytesOf, rejectsWithCode } from "./_helpers.ts";

const nats = await startNats();
const nc = await connect({ servers: nats.url });
const jsm = await jetstreamManager(nc);
after(async () => {
  await nc.close();
  await nats.stop();
});

const quiet = { log() {} };
let buckets = 0;

/** A fresh bucket whose stream the operator then changed as `config` says. */
async function bucketWith(config: Partial<StreamConfig>, ttl?: number): Promise<{ store: FileServer; bucket: string }> {
  const bucket = `limits${++buckets}`;
  const open = () => objectStoreFileServer({ connection: nc, bucket, ...(ttl ? { ttl } : {}) });
  await open();
  const { config: current } = await jsm.streams.info(`OBJ_${bucket}`);
  await jsm.streams.update(`OBJ_${bucket}`, { ...current, ...config });
  // Opened by the application after the operator's change, as in production.
  return { store: await open(), bucket };
}

/** What the bucket lists and holds. */
async function contents(bucket: string): Promise<{ objects: number; messages: number }> {
  const si = await jsm.streams.info(`OBJ_${bucket}`);
  return { objects: Object.keys(si.state.subjects ?? {}).length, messages: si.state.messages };
}

/** `bytes` in pieces of 256 KiB, one every `ms`. */
function slowly(bytes: Uint8Array, ms: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    async pull(c) {
      if (at >= bytes.byteLength) return c.close();
      await new Promise((r) => setTimeout(r, ms));
      c.enqueue(bytes.slice(at, at += 256 * 1024));
    },
  });
}

test("a bucket that drops chunks while the object is written fails the send at once, naming why; no link to a broken object goes out", async () => {
  // The send said "ok", and every receiver got PAYLOAD_GONE five seconds
  // later: the stream had kept 1 of 4 chunks.
  const cases: [string, Partial<StreamConfig>, RegExp][] = [
    ["per subject", { max_msgs_per_subject: 1 }, /kept 1 of 4 chunks.*max_msgs_per_subject/],
    ["discard old", { discard: DiscardPolicy.Old, max_bytes: 500_000 }, /kept \d of 4 chunks.*discards old messages/],
  ];
  for (const [name, config, why] of cases) {
    const { store, bucket } = await bucketWith(config);
    const started = Date.now();
    const e = await rejectsWithCode(
      () => smartsend("limits", [["big", bytesOf(800_000, 5), "binary"]], { is_publish: false, fileserver: store, logger: quiet }),
      "UPLOAD_FAILED",
      why,
    );
    assert.ok(Date.now() - started < 3000, `${name}: took ${Date.now() - started} ms`);
    assert.match(e.message, new RegExp(`bucket "${bucket}"`));
    assert.deepEqual((await contents(bucket)).objects, 0, `${name}: chunks of the broken object left behind`);
  }
});

test("an upload that outlasts the bucket's TTL fails, saying so, instead of linking to expired chunks", async () => {
  const { store } = await bucketWith({}, 1);
  await rejectsWithCode(
    () => smartsend("limits", [["slow", slowly(bytesOf(768 * 1024, 6), 750), "binary"]], { is_publish: false, fileserver: store, logger: quiet }),
    "UPLOAD_FAILED",
    /kept \d of 3 chunks.*longer than the bucket's TTL of 1 s/,
  );
});

test("a full bucket fails the send at once with UPLOAD_FAILED saying it is full, without retrying", async () => {
  const { store, bucket } = await bucketWith({ max_bytes: 2_000_000 });
  const started = Date.now();
  await rejectsWithCode(
    () => smartsend("limits", [["huge", bytesOf(3_000_000, 7), "binary"]], { is_publish: false, fileserver: store, logger: quiet }),
    "UPLOAD_FAILED",
    new RegExp(`bucket "${bucket}" is full.*max_bytes`),
  );
  assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
  const { last_seq } = (await jsm.streams.info(`OBJ_${bucket}`)).state;
  assert.ok(last_seq <= 12, `${last_seq} chunks written for one attempt of 12 chunks`);
  // The bucket still takes what fits.
  const [, json] = await smartsend("limits", [["fits", bytesOf(600_000, 8), "binary"]], { is_publish: false, fileserver: store, logger: quiet });
  assert.deepEqual((await smartreceive(json, { fileserver: store, logger: quiet })).payloads[0][1], bytesOf(600_000, 8));
});

test("a bucket whose stream takes messages smaller than a chunk (max_msg_size) still stores and serves objects", async () => {
  const { store } = await bucketWith({ max_msg_size: 200_000 });
  const [, json] = await smartsend("limits", [["p", bytesOf(600_000, 9), "binary"]], { is_publish: false, fileserver: store, logger: quiet });
  const got = await smartreceive(json, { fileserver: store, logger: quiet });
  assert.ok(Buffer.from(got.payloads[0][1] as Uint8Array).equals(bytesOf(600_000, 9)));
});

test("a link to a bucket of another case than the store's is ORIGIN_REFUSED at once, not a DOWNLOAD_FAILED retried", async () => {
  const { store, bucket } = await bucketWith({});
  const [env] = await smartsend("limits", [["p", bytesOf(600_000, 10), "binary"]], { is_publish: false, fileserver: store, logger: quiet });
  env.payloads[0].data = env.payloads[0].data.replace(`//${bucket}/`, `//${bucket.toUpperCase()}/`);
  await rejectsWithCode(() => smartreceive(JSON.stringify(env), { fileserver: store, logger: quiet }), "ORIGIN_REFUSED");
});

test("a ttl longer than the server can hold is INVALID_OPTION naming ttl, not the server's JSON error", async () => {
  await rejectsWithCode(() => objectStoreFileServer({ connection: nc, bucket: "limits_ttl", ttl: 9_300_000_000 }), "INVALID_OPTION", /ttl must be .*9223372036/);
});

test("an account that requires max_bytes on every stream can use the Object Store through maxBytes", async () => {
  // The only way was to create the bucket outside natsbridge: the error said
  // "account requires a stream config to have max bytes set", and no option could.
  const strict = await startNats({
    config: `accounts { A: { jetstream: { max_file: 1G, max_mem: 64M, max_bytes_required: true }, users: [ { user: "a", password: "a" } ] } }`,
  });
  const c = await connect({ servers: strict.url, user: "a", pass: "a" });
  try {
    await rejectsWithCode(() => objectStoreFileServer({ connection: c, bucket: "strict" }), "INVALID_OPTION", /maxBytes/);
    const store = await objectStoreFileServer({ connection: c, bucket: "strict", maxBytes: 10_000_000 });
    const [, json] = await smartsend("limits", [["p", bytesOf(600_000, 11), "binary"]], { is_publish: false, fileserver: store, logger: quiet });
    assert.ok(Buffer.from((await smartreceive(json, { fileserver: store, logger: quiet })).payloads[0][1] as Uint8Array).equals(bytesOf(600_000, 11)));
    await rejectsWithCode(() => objectStoreFileServer({ connection: c, bucket: "strict2", maxBytes: 0 }), "INVALID_OPTION", /maxBytes/);
  } finally {
    await c.close();
    await strict.stop();
  }
});

test("a user whose permissions refuse the bucket's chunk subjects or its consumers is PERMISSION_DENIED at once, not retried", async () => {
  // Refused chunks were resumed four times and failed UPLOAD_FAILED; a refused
  // consumer was tried five times and failed DOWNLOAD_FAILED, which consume
  // naks until max_deliver: no retry helps either.
  const guarded = await startNats({
    config: `authorization { users: [
      { user: admin, password: admin }
      { user: nochunks, password: p, permissions: { publish: { allow: ["_INBOX.>", "$JS.API.>"] }, subscribe: { allow: ["_INBOX.>"] } } }
      { user: noconsumer, password: p, permissions: { publish: { allow: ["_INBOX.>", "$JS.API.STREAM.INFO.>", "$JS.API.STREAM.MSG.GET.>", "$JS.API.DIRECT.GET.>"] }, subscribe: { allow: ["_INBOX.>"] } } }
      { user: worker, password: p, permissions: { publish: { allow: ["_INBOX.>", "$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.INFO.>", "$JS.API.STREAM.MSG.GET.>", "$JS.API.DIRECT.GET.>", "$JS.API.CONSUMER.INFO.JOBS.>", "$JS.API.CONSUMER.MSG.NEXT.JOBS.>", "$JS.ACK.>"] }, subscribe: { allow: ["_INBOX.>"] } } }
    ] }`,
  });
  const as = (user: string, pass: string) => connect({ servers: guarded.url, user, pass });
  const [admin, nochunks, noconsumer, worker] = await Promise.all([as("admin", "admin"), as("nochunks", "p"), as("noconsumer", "p"), as("worker", "p")]);
  try {
    const adminStore = await objectStoreFileServer({ connection: admin, bucket: "guarded" });
    const writer = await objectStoreFileServer({ connection: nochunks, bucket: "guarded" });
    for (const data of [bytesOf(1_000_000, 12), new Blob([bytesOf(1_000_000, 12) as Uint8Array<ArrayBuffer>])]) {
      const t0 = Date.now();
      await rejectsWithCode(
        () => smartsend("limits", [["p", data, "binary"]], { is_publish: false, fileserver: writer, logger: quiet }),
        "PERMISSION_DENIED",
        /^Object Store put of "p": the NATS server.s permissions do not let this user publish to "\$O\.guarded\.C\./,
      );
      assert.ok(Date.now() - t0 < 1000, `refused after ${Date.now() - t0} ms`);
    }
    const [, json] = await smartsend("limits", [["p", bytesOf(1_000_000, 13), "binary"]], { is_publish: false, fileserver: adminStore, logger: quiet });
    const reader = await objectStoreFileServer({ connection: noconsumer, bucket: "guarded" });
    for (const stream of [false, true]) {
      const t0 = Date.now();
      await rejectsWithCode(async () => {
        const env = await smartreceive(json, { fileserver: reader, stream, logger: quiet });
        const value = env.payloads[0][1];
        if (value instanceof ReadableStream) await new Response(value).arrayBuffer();
      }, "PERMISSION_DENIED", /^Object Store download of "p": the NATS server.s permissions do not let this user publish to "\$JS\.API\.CONSUMER\.CREATE\.OBJ_guarded/);
      assert.ok(Date.now() - t0 < 1000, `stream: ${stream}: refused after ${Date.now() - t0} ms`);
    }
    // A consume whose downloads are refused would fail every message alike: it
    // stops, saying so, and the message stays in the stream for when it may.
    await ensureStream(admin, { name: "JOBS", subjects: ["jobs.>"] });
    await jetstreamManager(admin).then((m) => m.consumers.add("JOBS", { durable_name: "w", ack_policy: AckPolicy.Explicit }));
    await (await jetstream(admin).publish("jobs.x", json)).seq;
    const errors: string[] = [];
    const b = await Bridge.connect({ nats_connection: worker, logger: quiet });
    const t0 = Date.now();
    await rejectsWithCode(async () => {
      for await (const _ of b.consume({ stream: "JOBS", durable: "w", signal: AbortSignal.timeout(10_000), receive: { fileserver: await objectStoreFileServer({ connection: worker, bucket: "guarded" }) }, on_error: (e, action) => void errors.push(`${e.code} ${action}`) })) {
        assert.fail("handed over");
      }
    }, "PERMISSION_DENIED", /CONSUMER\.CREATE\.OBJ_guarded/);
    assert.ok(Date.now() - t0 < 2000, `consume stopped after ${Date.now() - t0} ms`);
    assert.deepEqual(errors, []);
    const ci = await jetstreamManager(admin).then((m) => m.consumers.info("JOBS", "w"));
    assert.equal(ci.num_ack_pending + ci.num_pending, 1, "the message is still there, not dead-lettered");
  } finally {
    await Promise.all([admin.close(), nochunks.close(), noconsumer.close(), worker.close()]);
    await guarded.stop();
  }
});
