/**
 * The spec's four integration scenarios — cross-platform text, Arrow round
 * trip, large file via link, mixed multi-payload — over a real nats-server
 * with JetStream, once per claim-check store: the Plik-compatible server and
 * the NATS JetStream Object Store.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { tableFromArrays } from "apache-arrow";
import { Bridge, type FileServer, objectStoreFileServer, plikFileServer, type ReceivedEnvelope, type SendItem } from "natsbridge";
import { startNats, startPlik } from "../scripts/servers.ts";
import { bytesOf } from "./_helpers.ts";

const nats = await startNats();
const plik = await startPlik();
const quiet = { log() {} };
const bridge = await Bridge.connect({ broker_url: nats.url, logger: quiet });
const stores: Record<string, FileServer> = {
  plik: plikFileServer({ url: plik.url }),
  objectstore: await objectStoreFileServer({ connection: bridge.connection, bucket: "scenarios", ttl: 600 }),
};

after(async () => {
  await bridge.close();
  await nats.stop();
  await plik.stop();
});

let seq = 0;
/** Sends `items` through the bridge and returns what a subscriber received. */
async function exchange(store: string, items: readonly SendItem[], extra: Record<string, unknown> = {}) {
  const subject = `scenario.${store}.${++seq}`;
  const sub = bridge.subscribe(subject, { receive: { fileserver: stores[store] } });
  const received = (async () => {
    for await (const env of sub) return env;
  })();
  const [sent] = await bridge.send(subject, items, {
    fileserver: stores[store],
    fileserver_url: store === "plik" ? plik.url : undefined,
    ...extra,
  });
  const env = (await received) as ReceivedEnvelope;
  return { sent, env };
}

for (const store of ["plik", "objectstore"]) {
  test(`[${store}] scenario 1: cross-platform text arrives with envelope fields intact`, async () => {
    const { sent, env } = await exchange(store, [["message", "Hello from natsbridge ✓ 日本語", "text"]], {
      msg_purpose: "chat",
      sender_name: "scenario-1",
      correlation_id: "11111111-2222-4333-8444-555555555555",
    });
    assert.deepEqual(env.payloads, [["message", "Hello from natsbridge ✓ 日本語", "text"]]);
    assert.equal(env.correlation_id, "11111111-2222-4333-8444-555555555555");
    assert.equal(env.msg_id, sent.msg_id);
    assert.equal(env.sender_name, "scenario-1");
    assert.equal(env.send_to, sent.send_to);
    assert.equal(sent.payloads[0].transport, "direct");
  });

  test(`[${store}] scenario 2: an Arrow table round-trips with its schema and values`, async () => {
    const n = 10_000;
    const table = tableFromArrays({
      id: Int32Array.from({ length: n }, (_, i) => i),
      value: Float64Array.from({ length: n }, (_, i) => i / 7),
      name: Array.from({ length: n }, (_, i) => `row-${i}`),
    });
    const { env } = await exchange(store, [["table_data", table, "arrowtable"]]);
    const [name, got, type] = env.payloads[0];
    assert.equal(name, "table_data");
    assert.equal(type, "arrowtable");
    const t = got as typeof table;
    assert.equal(t.numRows, n);
    assert.deepEqual(t.schema.fields.map((f) => f.name), ["id", "value", "name"]);
    assert.equal(t.getChild("value")!.get(700), 100);
    assert.equal(t.getChild("name")!.get(n - 1), `row-${n - 1}`);
  });

  test(`[${store}] scenario 3: a large file goes by link and arrives byte-exact`, async () => {
    const video = bytesOf(3_000_000, 7);
    const { sent, env } = await exchange(store, [["clip", video, "video"]]);
    assert.equal(sent.payloads[0].transport, "link");
    assert.equal(sent.payloads[0].encoding, "none");
    assert.equal(sent.payloads[0].size, video.length);
    assert.match(sent.payloads[0].data, store === "plik" ? /^http:\/\/127\.0\.0\.1:\d+\/file\// : /^nats-obj:\/\/scenarios\//);
    assert.deepEqual(env.payloads[0], ["clip", video, "video"]);
  });

  test(`[${store}] scenario 4: mixed payloads, direct and link, keep their order and values`, async () => {
    const image = bytesOf(40_000, 3);
    const audio = bytesOf(800_000, 4);
    const items: SendItem[] = [
      ["text", "Hello!", "text"],
      ["image", image, "image"],
      ["config", { step_size: 0.01, nested: { ok: true } }, "dictionary"],
      ["users", [{ id: 1, name: "Alice" }, { id: 2, name: "Bob" }], "jsontable"],
      ["recording", audio, "audio"],
      ["blob", bytesOf(5, 5), "binary"],
    ];
    const { sent, env } = await exchange(store, items);
    assert.deepEqual(sent.payloads.map((p) => p.transport), ["direct", "direct", "direct", "direct", "link", "direct"]);
    assert.deepEqual(env.payloads.map((p) => p[0]), items.map((i) => i[0]));
    assert.deepEqual(env.payloads[0][1], "Hello!");
    assert.deepEqual(env.payloads[1][1], image);
    assert.deepEqual(env.payloads[2][1], items[2][1]);
    assert.deepEqual(env.payloads[3][1], items[3][1]);
    assert.deepEqual(env.payloads[4][1], audio);
    assert.deepEqual(env.payloads[5][1], bytesOf(5, 5));
    for (const p of sent.payloads) assert.match(String(p.metadata.checksum), /^[0-9a-f]{64}$/);
  });
}
