/**
 * Object Store puts that resume, against a real nats-server. The server is
 * real; what a fault would do to single publishes (an ack lost, a publish
 * lost while later ones are stored, as across a cluster leader change) is
 * injected in the JetStream client the writer is given, so each case happens
 * every run instead of when a node happens to die at the right moment (the
 * fault tests do that too: `tests/faults/cluster_node_fault.ts`).
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { errors } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { jetstream, JetStreamApiError, type JetStreamClient, jetstreamManager, type PubAck } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { writeObject } from "../engine/handlers/object_store_writer.ts";
import { ACK_WAIT_MS, AckPace, FIRST_ACK_WAIT_MS, PUT_IN_FLIGHT_BYTES } from "../engine/handlers/ack_pace.ts";
import { startNats } from "../scripts/servers.ts";
import { bytesOf, piecesOf } from "./_helpers.ts";

const nats = await startNats();
const nc = await connect({ servers: nats.url });
const objm = new Objm(nc);
const js = jetstream(nc);
after(async () => {
  await nc.close();
  await nats.stop();
});

type Publish = JetStreamClient["publish"];

/**
 * `js` with its chunk publishes (the n-th, from 0) handed to `fault`, which
 * may publish for real, or not, and say the ack was lost either way.
 */
function faulty(fault: (n: number, publish: () => Promise<PubAck>) => Promise<PubAck> | undefined): JetStreamClient {
  let n = 0;
  const publish: Publish = (subject, data, options) => {
    const real = () => js.publish(subject, data, options);
    if (!subject.includes(".C.")) return real();
    return fault(n++, real) ?? real();
  };
  return new Proxy(js, { get: (target, key) => key === "publish" ? publish : Reflect.get(target, key) });
}

/** An ack that never came. */
const lost = () => new Promise<PubAck>((_, reject) => setTimeout(() => reject(new errors.TimeoutError()), 20));

async function storedChunks(bucket: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const si = await jsm.streams.info(`OBJ_${bucket}`, { subjects_filter: `$O.${bucket}.C.>` });
  return Object.values(si.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

async function readBack(bucket: string, name: string): Promise<Uint8Array> {
  const store = await objm.open(bucket);
  const bytes = await store.getBlob(name); // nats.js's reader, which checks the object's digest
  assert.ok(bytes, `${name} is readable`);
  return bytes;
}

test("a chunk lost while the ones after it were stored (a leader change) is put back in order", async () => {
  const bucket = "resume_order";
  await objm.create(bucket);
  const data = bytesOf(64 * 1024, 21);
  // Chunks 3 and 4 never reach the server; 5 and later are stored and acked.
  const client = faulty((n) => n === 3 || n === 4 ? lost() : undefined);
  const said: string[] = [];
  const written = await writeObject(client, bucket, data, {
    name: "o",
    description: "o",
    chunkSize: 1024,
    onResume: (m) => said.push(m),
  });
  assert.equal(written.checksum, createHash("sha256").update(data).digest("hex"));
  assert.deepEqual(await readBack(bucket, "o"), data);
  assert.equal(await storedChunks(bucket), 64, "every chunk once, the ones stored out of order deleted");
  assert.equal(said.length, 2, said.join("\n"));
  assert.match(said[0], /^61 chunks not acknowledged \(.*timeout.*\); resuming after stream sequence \d+$/i);
  assert.match(said[1], /of 61 unacknowledged chunks the server had 0, 61 were published again, 59 stored out of order were deleted$/);
});

test("a chunk the server stored although its ack was lost is not stored twice", async () => {
  const bucket = "resume_dup";
  await objm.create(bucket);
  const data = bytesOf(64 * 1024, 22);
  // Chunks 10 to 12 are stored, but their acks are lost.
  const client = faulty((n, publish) => n >= 10 && n <= 12 ? publish().then(lost) : undefined);
  const said: string[] = [];
  await writeObject(client, bucket, data, { name: "o", description: "o", chunkSize: 1024, onResume: (m) => said.push(m) });
  assert.deepEqual(await readBack(bucket, "o"), data);
  assert.equal(await storedChunks(bucket), 64);
  assert.match(said.at(-1) ?? "", /of 54 unacknowledged chunks the server had 54, 0 were published again$/);
});

test("a chunk the cluster answers 'JetStream system temporarily unavailable' (503) is resumed, not a refusal", async () => {
  // Seen in the R3 fault test: while a killed node's streams elected leaders,
  // one chunk's publish got this answer and the put failed at once as if a
  // limit had refused it.
  const bucket = "resume_503";
  await objm.create(bucket);
  const data = bytesOf(64 * 1024, 24);
  const unavailable = () =>
    Promise.reject(new JetStreamApiError({ code: 503, err_code: 10008, description: "JetStream system temporarily unavailable" }));
  const client = faulty((n) => n === 5 || n === 6 ? unavailable() : undefined);
  const said: string[] = [];
  await writeObject(client, bucket, data, { name: "o", description: "o", chunkSize: 1024, onResume: (m) => said.push(m) });
  assert.deepEqual(await readBack(bucket, "o"), data);
  assert.equal(await storedChunks(bucket), 64);
  assert.match(said[0] ?? "", /chunks not acknowledged \(JetStream system temporarily unavailable\)/);
});

test("an object's metadata answered 503 is published again (it is a rollup: once or twice is the same)", async () => {
  const bucket = "meta_503";
  await objm.create(bucket);
  let refusals = 0;
  const publish: Publish = (subject, data, options) => {
    if (subject.includes(".M.") && refusals++ < 2) {
      return Promise.reject(new JetStreamApiError({ code: 503, err_code: 10008, description: "JetStream system temporarily unavailable" }));
    }
    return js.publish(subject, data, options);
  };
  const client = new Proxy(js, { get: (target, key) => key === "publish" ? publish : Reflect.get(target, key) });
  const data = bytesOf(4 * 1024, 26);
  await writeObject(client, bucket, data, { name: "o", description: "o", chunkSize: 1024 });
  assert.equal(refusals, 3);
  assert.deepEqual(await readBack(bucket, "o"), data);
  // Unavailable for longer than the retries wait: an error that says so, and may be tried again (503).
  refusals = -100;
  await assert.rejects(
    writeObject(client, bucket, data, { name: "p", description: "p", chunkSize: 1024 }),
    (err: Error & { code?: string; status?: number }) =>
      err.code === "UPLOAD_FAILED" && err.status === 503 && /JetStream was unavailable \(JetStream system temporarily unavailable\)/.test(err.message),
  );
});

test("a chunk the server refuses with an error of its own (not 503) still fails at once, naming it", async () => {
  const bucket = "refused_400";
  await objm.create(bucket);
  const client = faulty((n) =>
    n === 2 ? Promise.reject(new JetStreamApiError({ code: 400, err_code: 10054, description: "maximum messages exceeded" })) : undefined
  );
  await assert.rejects(
    writeObject(client, bucket, bytesOf(8 * 1024, 25), { name: "o", description: "o", chunkSize: 1024 }),
    (err: Error & { code?: string }) => err.code === "UPLOAD_FAILED" && /is full \(maximum messages exceeded\)/.test(err.message),
  );
});

test("a ReadableStream put resumes after lost acks (it cannot be read again)", async () => {
  const bucket = "resume_stream";
  await objm.create(bucket);
  const data = bytesOf(100 * 1024, 23);
  const source = piecesOf(data, 3000); // pieces that do not line up with the chunks
  const client = faulty((n, publish) => n === 7 ? lost() : n === 9 ? publish().then(lost) : undefined);
  await writeObject(client, bucket, source, { name: "o", description: "o", chunkSize: 1024 });
  assert.deepEqual(await readBack(bucket, "o"), data);
  assert.equal(await storedChunks(bucket), 100);
});

test("a put paces its chunks by the acks: two chunks until the link shows its pace, then about a second of it", () => {
  const chunk = 256 * 1024;
  const pace = new AckPace(chunk);
  assert.equal(pace.windowBytes(), 2 * chunk);
  assert.equal(pace.ackTimeout(chunk), FIRST_ACK_WAIT_MS, "a slow link and a dead server look alike before the first ack");
  // ~100 KB/s: two chunks in flight, and the second's ack may take 4x the 5.2 s they take.
  pace.acked(chunk, 0, 2_621);
  assert.equal(Math.round(pace.rate / 1000), 100);
  assert.equal(pace.windowBytes(), 2 * chunk);
  assert.equal(pace.ackTimeout(2 * chunk), 20_968);
  // A fast link: 4 MiB at most, and nats.js's 5 s for any ack at least.
  const fast = new AckPace(chunk);
  for (let t = 0; t < 10; t++) fast.acked(chunk, t, t + 1);
  assert.equal(fast.windowBytes(), PUT_IN_FLIGHT_BYTES);
  assert.equal(fast.ackTimeout(PUT_IN_FLIGHT_BYTES), ACK_WAIT_MS);
  // The link time of a chunk queued behind others starts at the previous ack, not its publication.
  const queued = new AckPace(chunk);
  queued.acked(chunk, 0, 1_000);
  queued.acked(chunk, 0, 2_000);
  assert.equal(Math.round(queued.rate), chunk);
});
