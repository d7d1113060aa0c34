/**
 * smartsend → smartreceive without a network: envelopes built with
 * `is_publish: false` and handed to `smartreceive` as text. The link tests here
 * use an in-memory upload/download pair (a fake, said so); the real file
 * servers are exercised in the integration tests.
 */
import { test } from "node:test";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import assert from "node:assert/strict";
import { tableFromArrays } from "apache-arrow";
import {
  type DownloadHandler,
  ENVELOPE_KEYS,
  fetchWithBackoff,
  type FileServer,
  PAYLOAD_KEYS,
  smartreceive,
  smartsend,
  type UploadHandler,
} from "natsbridge";
import { bytesOf, rejectsWithCode, sampleEnvelope } from "./_helpers.ts";

const quiet = { log() {} };

/** Fake store: a Map behind the handler signatures (unit tests only). */
function memoryStore(origin = "http://files.test") {
  const files = new Map<string, Uint8Array>();
  const calls = { upload: 0, download: 0 };
  // deno-lint-ignore require-await -- a handler is async by contract
  const upload: UploadHandler = async (_url, dataname, data) => {
    calls.upload++;
    const url = `${origin}/file/${files.size}/${encodeURIComponent(dataname)}`;
    files.set(url, data.slice());
    return { status: 200, uploadid: String(files.size), fileid: "f", url };
  };
  // deno-lint-ignore require-await -- a handler is async by contract
  const download: DownloadHandler = async (url) => {
    calls.download++;
    const f = files.get(url);
    if (!f) throw new Error("not found");
    return f;
  };
  const fileserver: FileServer = { upload, download, origins: [origin] };
  return { files, calls, fileserver };
}

test("smartsend() builds an envelope with exactly the 14 keys and payloads with exactly the 8 keys", async () => {
  const [env, json] = await smartsend("chat", [["m", "hi", "text"]], { is_publish: false, logger: quiet });
  assert.deepEqual(Object.keys(env), [...ENVELOPE_KEYS]);
  assert.deepEqual(Object.keys(env.payloads[0]), [...PAYLOAD_KEYS]);
  assert.equal(JSON.parse(json).payloads[0].data, "aGk=");
  assert.match(env.msg_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.match(env.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(env.payloads[0].metadata.checksum, "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4");
  assert.equal(env.msg_purpose, "chat");
  assert.equal(env.sender_name, "NATSBridge");
});

test("smartsend() passes every envelope option through", async () => {
  const opts = {
    correlation_id: "corr", msg_id: "mid", sender_id: "sid", msg_purpose: "updateStatus", sender_name: "me",
    receiver_name: "you", receiver_id: "rid", reply_to: "back", reply_to_msg_id: "prev", broker_url: "nats://h:1",
  };
  const [env] = await smartsend("s", [], { ...opts, is_publish: false, metadata: { k: 1 } });
  for (const [k, v] of Object.entries(opts)) assert.equal((env as unknown as Record<string, unknown>)[k], v);
  assert.deepEqual(env.metadata, { k: 1 });
  assert.deepEqual(env.payloads, []);
});

test("smartsend() → smartreceive() round-trips all eight payload types directly", async () => {
  const table = tableFromArrays({ id: Int32Array.from([1, 2, 3]), v: Float64Array.from([0.5, 1.5, 2.5]) });
  const items = [
    ["text", "héllo ✓", "text"],
    ["empty", "", "text"],
    ["dict", { a: { b: [1, 2, 3] }, s: "x" }, "dictionary"],
    ["rows", [{ id: 1, name: "Alice" }, { id: 2, name: "Bob" }], "jsontable"],
    ["arrow", table, "arrowtable"],
    ["img", bytesOf(1000, 2), "image"],
    ["aud", bytesOf(10, 3), "audio"],
    ["vid", bytesOf(0, 4), "video"],
    ["bin", bytesOf(333, 5), "binary"],
  ] as const;
  const [, json] = await smartsend("s", items, { is_publish: false });
  const env = await smartreceive(json, { logger: quiet });
  assert.equal(env.payloads.length, items.length);
  for (let i = 0; i < items.length; i++) {
    const [name, value, type] = env.payloads[i];
    assert.equal(name, items[i][0]);
    assert.equal(type, items[i][2]);
    if (type === "arrowtable") {
      const t = value as typeof table;
      assert.equal(t.numRows, 3);
      assert.deepEqual(Array.from(t.getChild("v")!.toArray()), [0.5, 1.5, 2.5]);
    } else assert.deepEqual(value, items[i][1]);
  }
});

test("smartsend() picks link at size_threshold and direct below it", async () => {
  const store = memoryStore();
  const [env, json] = await smartsend("s", [["small", bytesOf(99), "binary"], ["big", bytesOf(100), "binary"]], {
    is_publish: false,
    size_threshold: 100,
    fileserver: store.fileserver,
  });
  assert.equal(env.payloads[0].transport, "direct");
  assert.equal(env.payloads[1].transport, "link");
  assert.equal(env.payloads[1].encoding, "none");
  assert.equal(env.payloads[1].size, 100);
  const got = await smartreceive(json, { fileserver: store.fileserver, logger: quiet });
  assert.deepEqual(got.payloads[1][1], bytesOf(100));
});

test("smartsend() moves the largest direct payloads to link when the envelope exceeds max_payload", async () => {
  const store = memoryStore();
  const [env, json] = await smartsend("s", [
    ["a", bytesOf(30_000, 1), "binary"],
    ["b", bytesOf(60_000, 2), "binary"],
    ["c", "small", "text"],
  ], { is_publish: false, max_payload: 64 * 1024, fileserver: store.fileserver, logger: quiet });
  assert.deepEqual(env.payloads.map((p) => p.transport), ["direct", "link", "direct"]);
  assert.ok(json.length <= 64 * 1024);
  await rejectsWithCode(
    () => smartsend("s", [["a", "x", "text"]], { is_publish: false, max_payload: 100, fileserver: store.fileserver, logger: quiet }),
    "PUBLISH_FAILED",
    /max_payload/,
  );
});

test("smartreceive() refuses links outside the allowed origins without a request", async () => {
  const store = memoryStore("http://files.test");
  const [, json] = await smartsend("s", [["big", bytesOf(10), "binary"]], {
    is_publish: false, size_threshold: 1, fileserver: store.fileserver,
  });
  const e = await rejectsWithCode(
    () => smartreceive(json, { fileserver_download_handler: store.fileserver.download, fileserver_url: "http://other.test", logger: quiet }),
    "ORIGIN_REFUSED",
  );
  assert.equal(store.calls.download, 0);
  assert.equal(e.dataname, "big");
  // allowed_origins opens it up.
  const ok = await smartreceive(json, {
    fileserver_download_handler: store.fileserver.download, allowed_origins: ["http://files.test"], logger: quiet,
  });
  assert.deepEqual(ok.payloads[0][1], bytesOf(10));
});

test("smartreceive() rejects bad base64, size and checksum mismatches with the correlation id", async () => {
  const cases: [(p: Record<string, unknown>) => void, string][] = [
    [(p) => (p.data = "aGk"), "DECODE_FAILED"],
    [(p) => (p.data = "a$k="), "DECODE_FAILED"],
    [(p) => (p.size = 3), "SIZE_MISMATCH"],
    [(p) => (p.data = "aGo="), "CHECKSUM_MISMATCH"],
  ];
  for (const [mutate, code] of cases) {
    const env = sampleEnvelope();
    mutate(env.payloads[0]);
    const e = await rejectsWithCode(() => smartreceive(JSON.stringify(env), { logger: quiet }), code);
    assert.equal(e.correlationId, env.correlation_id);
    assert.equal(e.dataname, "msg");
  }
});

test("a peer's 100,000-character dataname (and a 1,000,000-character link host) is clipped in error messages, and kept whole in the error's dataname", async () => {
  // Each error (and the log line or CLI line quoting it) carried the whole name.
  const long = "n".repeat(100_000);
  const server = createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const cases: [(p: Record<string, unknown>) => void, string, Record<string, unknown>?][] = [
      [(p) => (p.size = 3), "SIZE_MISMATCH"],
      [(p) => (p.data = "aGo="), "CHECKSUM_MISMATCH"],
      [(p) => (p.data = "a$k="), "DECODE_FAILED"],
      [(p) => ((p.transport = "link"), (p.encoding = "none"), (p.data = "http://elsewhere.test/x")), "ORIGIN_REFUSED"],
      [(p) => ((p.transport = "link"), (p.encoding = "none"), (p.data = `${origin}/file/x`)), "PAYLOAD_GONE", { fileserver_url: origin }],
      [(p) => ((p.transport = "link"), (p.encoding = "none"), (p.data = `${origin}/file/x`), (p.size = 10)), "PAYLOAD_TOO_LARGE", { fileserver_url: origin, max_download_bytes: 5 }],
    ];
    for (const [mutate, code, options] of cases) {
      const env = sampleEnvelope();
      env.payloads[0].dataname = long;
      mutate(env.payloads[0]);
      const e = await rejectsWithCode(() => smartreceive(JSON.stringify(env), { logger: quiet, ...options }), code);
      assert.ok(e.message.length < 500, `${code}: a message of ${e.message.length} characters`);
      assert.match(e.message, /"n{40,}…"/, code);
      assert.equal(e.dataname, long, code);
    }
    // A link to a 1,000,000-character host: the message and the warning logged carried it whole.
    const env = sampleEnvelope();
    Object.assign(env.payloads[0], { transport: "link", encoding: "none", data: `http://${"h".repeat(1_000_000)}.test/x` });
    const e1 = await rejectsWithCode(() => smartreceive(JSON.stringify(env), { logger: quiet }), "ORIGIN_REFUSED", /http:\/\/h{40,}…/);
    assert.ok(e1.message.length < 500, `ORIGIN_REFUSED: a message of ${e1.message.length} characters`);
    // Asked for as a stream.
    const store = memoryStore();
    const [, json] = await smartsend("s", [[long, bytesOf(100), "binary"]], { is_publish: false, size_threshold: 1, fileserver: store.fileserver });
    const tampered = JSON.parse(json);
    tampered.payloads[0].metadata.checksum = "0".repeat(64);
    const e = await rejectsWithCode(async () => {
      const got = await smartreceive(tampered, { fileserver: store.fileserver, stream: true, logger: quiet });
      await new Response(got.payloads[0][1] as ReadableStream).arrayBuffer();
    }, "CHECKSUM_MISMATCH");
    assert.ok(e.message.length < 500, `stream: a message of ${e.message.length} characters`);
    assert.equal(e.dataname, long);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test("smartreceive() accepts encoding 'json' for dictionary and jsontable", async () => {
  const env = sampleEnvelope();
  env.payloads = [
    { id: "1", dataname: "d", payload_type: "dictionary", transport: "direct", encoding: "json", size: 7, data: '{"a":1}', metadata: {} },
    { id: "2", dataname: "t", payload_type: "jsontable", transport: "direct", encoding: "json", size: 1024, data: '[{"id":1,"name":"Alice"}]', metadata: {} },
  ];
  const got = await smartreceive(env, { logger: quiet });
  assert.deepEqual(got.payloads, [["d", { a: 1 }, "dictionary"], ["t", [{ id: 1, name: "Alice" }], "jsontable"]]);
});

test("encoding 'json' text holding a lone surrogate is DECODE_FAILED, not changed to U+FFFD", async () => {
  // UTF-8 cannot carry U+D800: the value arrived with U+FFFD in its place.
  for (const [type, data] of [["dictionary", '{"a":"x\uD800y"}'], ["jsontable", '[{"a":"\uDC00"}]']]) {
    for (const checksum of [false, true]) {
      const env = sampleEnvelope();
      env.payloads = [{ id: "1", dataname: "d", payload_type: type, transport: "direct", encoding: "json", size: data.length, data, metadata: checksum ? { checksum: "0".repeat(64) } : {} }];
      const e = await rejectsWithCode(() => smartreceive(JSON.stringify(env), { logger: quiet }), "DECODE_FAILED", /lone surrogate|not valid Unicode/);
      assert.equal(e.dataname, "d");
      assert.equal(e.correlationId, env.correlation_id);
    }
  }
});

test("smartreceive() decodes a NATS-message-like object, and keeps extra envelope keys", async () => {
  const env = { ...sampleEnvelope(), extra_key: 7 };
  const msg = { subject: "chat", data: new TextEncoder().encode(JSON.stringify(env)) };
  const got = await smartreceive(msg, { logger: quiet });
  assert.deepEqual(got.payloads, [["msg", "hi", "text"]]);
  assert.equal(got.extra_key, 7);
});

test("smartsend() rejects bad items with INVALID_INPUT naming the item", async () => {
  const bad: unknown[] = [
    [["a", 1, "text"]],
    [["a", "x", "pdf"]],
    [["a", "x"]],
    [[1, "x", "text"]],
    [["a", "x", "table"]],
    [["a", { x: 1 }, "jsontable"]],
    [["a", "str", "binary"]],
  ];
  for (const items of bad) {
    await rejectsWithCode(() => smartsend("s", items as never, { is_publish: false }), "INVALID_INPUT");
  }
  await rejectsWithCode(() => smartsend("", [], { is_publish: false }), "INVALID_OPTION");
  await rejectsWithCode(() => smartsend("s", [], { is_publish: false, size_threshold: -1 }), "INVALID_OPTION");
  // UTF-8 cannot hold a lone surrogate: it arrived as U+FFFD, checksum verified.
  await rejectsWithCode(
    () => smartsend("s", [["t", "x\uD800y", "text"]], { is_publish: false }),
    "INVALID_INPUT",
    /text payload holds a lone surrogate at index 1/,
  );
  // In a dictionary it is written as an escape, and arrives intact.
  const [, json] = await smartsend("s", [["d", { s: "x\uD800y" }, "dictionary"]], { is_publish: false });
  assert.deepEqual((await smartreceive(json, { logger: quiet })).payloads[0][1], { s: "x\uD800y" });
});

test("a -0 in metadata is written -0.0 and arrives as -0, as one from a Python peer does", async () => {
  // JSON.stringify wrote it as 0: a service relaying a peer's metadata changed it.
  const metadata = { offset: -0, list: [0, -0], fine: 1.5 };
  const [env, json] = await smartsend("s", [["t", "x", "text"]], { is_publish: false, metadata });
  assert.match(json, /"metadata":\{"offset":-0\.0,"list":\[0,-0\.0\],"fine":1\.5\}/);
  assert.equal(json.replaceAll("-0.0", "0"), JSON.stringify(env));
  const back = await smartreceive(json, { logger: quiet });
  assert.ok(Object.is(back.metadata.offset, -0) && Object.is((back.metadata.list as number[])[1], -0));
  // Relayed: sent on as it came.
  const [, again] = await smartsend("s", [["t", "x", "text"]], { is_publish: false, metadata: back.metadata });
  assert.match(again, /"offset":-0\.0/);
});

test("smartsend() refuses what every receiver would reject, before uploading anything", async () => {
  // Each of these was published, and every subscriber failed on it (or the
  // send threw a plain TypeError after the uploads were done).
  const store = memoryStore();
  const send = (items: unknown[], options: Record<string, unknown>) =>
    smartsend("s", items as never, { is_publish: false, size_threshold: 1, fileserver: store.fileserver, ...options });
  const big: [string, unknown, string][] = [["big", new Uint8Array(100), "binary"]];
  // The last six went out changed: NaN as null, a Map as {}, a function dropped, a boxed
  // NaN and an invalid Date as null, a boxed 2**60 as digits peers read differently.
  for (
    const metadata of [
      "str", [1, 2], null, { toJSON: () => 5 }, { n: 1n }, new Date(0), { n: NaN }, { m: new Map() }, { f: () => 1 },
      { n: new Number(NaN) }, { d: new Date(NaN) }, { n: new Number(2 ** 60) },
    ]
  ) {
    const e = await rejectsWithCode(() => send(big, { metadata, correlation_id: "meta-1" }), "INVALID_OPTION", /metadata/);
    assert.equal(e.correlationId, "meta-1");
  }
  // Receivers refuse metadata deeper than 512 levels; 100,000 said "Maximum call stack size exceeded".
  const deep = (n: number) => JSON.parse("[".repeat(n) + "]".repeat(n));
  for (const levels of [600, 100_000]) {
    await rejectsWithCode(() => send(big, { metadata: { nested: deep(levels) } }), "INVALID_OPTION", /metadata .*nested deeper than 512 levels/);
  }
  assert.ok(await smartsend("s", [["t", "x", "text"]], { is_publish: false, metadata: { nested: deep(500) } }));
  // What counts is what JSON writes: a node with toJSON (and a cycle JSON never follows) is
  // flat; a shallow object whose toJSON returns 600 levels is not.
  const node: Record<string, unknown> = { name: "root", toJSON: () => "root" };
  node.child = { parent: node };
  const [sentNode] = await smartsend("s", [["t", "x", "text"]], { is_publish: false, metadata: { node } });
  assert.deepEqual(JSON.parse(JSON.stringify(sentNode.metadata)), { node: "root" });
  await rejectsWithCode(
    () => smartsend("s", [["t", "x", "text"]], { is_publish: false, metadata: { lazy: { toJSON: () => deep(600) } } }),
    "INVALID_OPTION",
    /nested deeper than 512 levels/,
  );
  for (const dict of [new Date(0), new URL("http://x.test/"), { toJSON: () => "text" }]) {
    await rejectsWithCode(() => send([["d", dict, "dictionary"]], {}), "INVALID_INPUT", /dictionary payload/);
  }
  for (const [name, value] of [["msg_id", 5], ["msg_purpose", 5], ["sender_name", {}], ["reply_to", 1]] as const) {
    await rejectsWithCode(() => send(big, { [name]: value }), "INVALID_OPTION", new RegExp(name));
  }
  for (const name of ["is_publish", "confirm", "checksum"]) {
    await rejectsWithCode(() => send(big, { [name]: "no" }), "INVALID_OPTION", new RegExp(`${name} must be true or false`));
  }
  // max_payload "abc" or NaN was ignored; 0 or -1 failed PUBLISH_FAILED after every upload.
  for (const max_payload of ["abc", Number.NaN, 0, -1, 1.5]) {
    await rejectsWithCode(() => send(big, { max_payload }), "INVALID_OPTION", /max_payload/);
  }
  await rejectsWithCode(() => send(big, { connect_options: 5 }), "INVALID_OPTION", /connect_options must be an object/);
  assert.equal(store.calls.upload, 0);
  // A file that cannot be read names the send's correlation id too.
  const missing = await rejectsWithCode(() => send([["f", "/nonexistent/file.bin", "binary"]], { correlation_id: "c-7" }), "INVALID_INPUT");
  assert.deepEqual([missing.correlationId, missing.dataname], ["c-7", "f"]);
  // null options from plain JavaScript are no options, not a TypeError.
  await rejectsWithCode(() => smartsend("s", [["t", 5, "text"]], null as never), "INVALID_INPUT");
  const [, plain] = await smartsend("s", [["t", "hi", "text"]], { is_publish: false });
  assert.equal((await smartreceive(plain, null as never)).payloads[0][1], "hi");
  // Still fine: metadata with nested values, a dictionary that is an array.
  const [env] = await send([["d", [1, { a: 2 }], "dictionary"]], { metadata: { a: { b: [1] } } });
  assert.deepEqual(env.metadata, { a: { b: [1] } });
});

test("options of the wrong shape are INVALID_OPTION naming the option, not a TypeError or a failed transfer", async () => {
  // logger: {} was UPLOAD_FAILED "logger.log is not a function"; fileserver: {}
  // UPLOAD_FAILED on send and DECODE_FAILED on receive; pool: 5 a TypeError;
  // signal: "x" DECODE_FAILED.
  const store = memoryStore();
  const big: [string, unknown, string][] = [["big", new Uint8Array(100), "binary"]];
  const [, json] = await smartsend("s", big as never, { is_publish: false, size_threshold: 1, fileserver: store.fileserver });
  const wrong: Record<string, unknown>[] = [
    { logger: {} }, { fileserver: {} }, { fileserver: { ...store.fileserver, origins: "x" } }, { pool: 5 }, { signal: "x" },
  ];
  for (const bad of wrong) {
    const name = Object.keys(bad)[0];
    await rejectsWithCode(
      () => smartsend("s", big as never, { is_publish: false, size_threshold: 1, fileserver: store.fileserver, ...bad }),
      "INVALID_OPTION",
      new RegExp(`^${name} must be`),
    );
    await rejectsWithCode(() => smartreceive(json, { fileserver: store.fileserver, ...bad }), "INVALID_OPTION", new RegExp(`^${name} must be`));
  }
  await rejectsWithCode(() => smartsend("s", big as never, { nats_connection: {} as never }), "INVALID_OPTION", /^nats_connection must be/);
  assert.equal(store.calls.upload, 1);
});

test("smartreceive() refuses allowed_origins that are not a list of origins, instead of refusing the link", async () => {
  // A string was split into characters (the right origin then got
  // ORIGIN_REFUSED); a number was DECODE_FAILED "is not iterable".
  const store = memoryStore();
  const [, json] = await smartsend("s", [["big", new Uint8Array(100), "binary"]], { is_publish: false, size_threshold: 1, fileserver: store.fileserver });
  for (const allowed_origins of ["http://files.test", 5, [5], ["files.test:80"], ["not a url"]]) {
    await rejectsWithCode(
      () => smartreceive(json, { fileserver_download_handler: store.fileserver.download, allowed_origins: allowed_origins as never, logger: quiet }),
      "INVALID_OPTION",
      /allowed_origins/,
    );
  }
  const ok = await smartreceive(json, { fileserver_download_handler: store.fileserver.download, allowed_origins: ["http://files.test"], logger: quiet });
  assert.equal((ok.payloads[0][1] as Uint8Array).byteLength, 100);
});

test("a download handler that throws a plain Error is DOWNLOAD_FAILED (transient), not DECODE_FAILED", async () => {
  // It was DECODE_FAILED, which consume takes for permanent: the message was
  // dead-lettered on its first delivery for what was a refused connection.
  const handler: DownloadHandler = () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:9"));
  const env = sampleEnvelope();
  env.payloads[0] = { ...env.payloads[0], transport: "link", encoding: "none", data: "http://files.test/x" };
  const err = await rejectsWithCode(
    () => smartreceive(env, { fileserver_download_handler: handler, allowed_origins: ["http://files.test"], logger: quiet }),
    "DOWNLOAD_FAILED",
    /ECONNREFUSED/,
  );
  assert.equal(err.correlationId, env.correlation_id);
  assert.equal(err.dataname, env.payloads[0].dataname);
});

test("a store whose downloadStream throws a plain Error is DOWNLOAD_FAILED with stream: true too", async () => {
  const store = memoryStore();
  store.fileserver.downloadStream = () => Promise.reject(new Error("connect ECONNREFUSED"));
  const [, json] = await smartsend("s", [["b", bytesOf(2000, 1), "binary"]], {
    is_publish: false, size_threshold: 1000, fileserver: store.fileserver, logger: quiet,
  });
  await rejectsWithCode(
    () => smartreceive(json, { fileserver: store.fileserver, stream: true, logger: quiet }),
    "DOWNLOAD_FAILED",
    /ECONNREFUSED/,
  );
});

test("a send whose upload fails is not held up by a caller's upload handler that ignores the abort", async () => {
  const upload: UploadHandler = (_url, dataname) =>
    dataname === "bad" ? Promise.reject(new Error("quota exceeded")) : new Promise(() => {});
  const t0 = Date.now();
  await rejectsWithCode(
    () => smartsend("s", [["slow", bytesOf(2000, 1), "binary"], ["bad", bytesOf(2000, 2), "binary"]], {
      is_publish: false, size_threshold: 1000, fileserver_upload_handler: upload, fileserver_url: "http://files.test", logger: quiet,
    }),
    "UPLOAD_FAILED",
    /quota exceeded/,
  );
  assert.ok(Date.now() - t0 < 1000);
});

test("smartreceive() cancels sibling downloads when one payload fails; a bad direct payload fails before any download", async () => {
  let cancelled = false;
  let calls = 0;
  const handler: DownloadHandler = (url, _r, _b, _m, _c, ctx) => {
    calls++;
    if (url.endsWith("/bad")) return Promise.resolve(new Uint8Array(1)); // wrong size
    return new Promise((_res, rej) => ctx?.signal?.addEventListener("abort", () => { cancelled = true; rej(new Error("aborted")); }));
  };
  const link = (dataname: string, data: string) => ({ ...sampleEnvelope().payloads[0], id: dataname, dataname, transport: "link", encoding: "none", data });
  const options = { fileserver_download_handler: handler, allowed_origins: ["http://files.test"], logger: quiet };

  const twoLinks = sampleEnvelope();
  twoLinks.payloads = [link("slow", "http://files.test/slow"), link("bad", "http://files.test/bad")];
  await rejectsWithCode(() => smartreceive(twoLinks, options), "SIZE_MISMATCH");
  assert.ok(cancelled, "the slow sibling download was aborted");

  calls = 0;
  const badDirect = sampleEnvelope();
  badDirect.payloads[0].data = "aGo=";
  badDirect.payloads.push(link("slow", "http://files.test/slow"));
  await rejectsWithCode(() => smartreceive(badDirect, options), "CHECKSUM_MISMATCH");
  assert.equal(calls, 0, "no download started for an envelope already known to be bad");
});

test("smartsend() never writes broker credentials into the envelope", async () => {
  const [env, json] = await smartsend("s", [["t", "x", "text"]], {
    is_publish: false, broker_url: "nats://alice:s3cret@127.0.0.1:4222,nats://tok3n@127.0.0.1:4223",
  });
  assert.equal(env.broker_url, "nats://***@127.0.0.1:4222,nats://***@127.0.0.1:4223");
  assert.ok(!json.includes("s3cret") && !json.includes("tok3n"));
});

test("smartreceive() refuses a link announcing more than max_download_bytes without a request", async () => {
  const store = memoryStore();
  const [, json] = await smartsend("s", [["big", bytesOf(5000), "binary"]], {
    is_publish: false, size_threshold: 1, fileserver: store.fileserver,
  });
  const e = await rejectsWithCode(
    () => smartreceive(json, { fileserver: store.fileserver, max_download_bytes: 4096, logger: quiet }),
    "PAYLOAD_TOO_LARGE",
    /max_download_bytes/,
  );
  assert.equal(e.dataname, "big");
  assert.equal(store.calls.download, 0);
});

test("smartreceive() never detaches the buffer a caller's download handler returns", async () => {
  const cached = bytesOf(1_000_000, 4);
  const store = memoryStore();
  const [, json] = await smartsend("s", [["big", cached, "binary"]], { is_publish: false, size_threshold: 1, fileserver: store.fileserver });
  // deno-lint-ignore require-await -- a handler is async by contract
  const handler: DownloadHandler = async () => cached; // e.g. a cache that returns the same buffer each time
  for (let i = 0; i < 2; i++) {
    const r = await smartreceive(json, { fileserver_download_handler: handler, allowed_origins: ["http://files.test"], logger: quiet });
    assert.equal((r.payloads[0][1] as Uint8Array).byteLength, 1_000_000);
  }
  assert.equal(cached.byteLength, 1_000_000);
});

test("smartsend() leaves whole the bytes its upload handler was given and kept", async () => {
  // A handler that keeps the buffer it is handed (an in-memory store, a cache,
  // a background upload): serialized payloads above the offload cutoff were
  // hashed on a worker after the handler returned, which detached its copy.
  const kept = new Map<string, Uint8Array>();
  // deno-lint-ignore require-await -- a handler is async by contract
  const upload: UploadHandler = async (_url, dataname, data) => {
    const url = `http://mem.test/${dataname}`;
    kept.set(url, data);
    return { status: 200, uploadid: "1", fileid: "1", url };
  };
  const items: [string, unknown, string][] = [
    ["t", "y".repeat(300_000), "text"],
    ["d", { rows: Array.from({ length: 20_000 }, (_, i) => i) }, "dictionary"],
  ];
  const [env, json] = await smartsend("s", items as never, { is_publish: false, size_threshold: 1000, fileserver_upload_handler: upload });
  for (const p of env.payloads) assert.equal(kept.get(p.data)!.byteLength, p.size, p.dataname);
  // deno-lint-ignore require-await -- a handler is async by contract
  const download: DownloadHandler = async (url) => kept.get(url)!;
  const r = await smartreceive(json, { fileserver_download_handler: download, allowed_origins: ["http://mem.test"], logger: quiet });
  assert.equal(r.payloads[0][1], "y".repeat(300_000));
});

test("smartreceive({stream}) refuses a nats-obj link without its store at once, naming the fix", async () => {
  const env = sampleEnvelope();
  Object.assign(env.payloads[0], { payload_type: "binary", transport: "link", encoding: "none", data: "nats-obj://bucket/x" });
  const t0 = Date.now();
  await rejectsWithCode(
    () => smartreceive(env, { stream: true, allowed_origins: ["nats-obj://bucket"], logger: quiet }),
    "DOWNLOAD_FAILED",
    /fileserver option/,
  );
  assert.ok(Date.now() - t0 < 500, "no retries for a link no handler can open");
});

test("fetchWithBackoff called as the spec calls it (no payload name) names the link in its errors, not \"\"", async () => {
  const server = createServer((_, res) => void res.writeHead(503).end()).listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/file/u/f/report.csv`;
  try {
    await rejectsWithCode(
      () => fetchWithBackoff(url, 2, 1, 5, "cid-1"),
      "DOWNLOAD_FAILED",
      new RegExp(`^Download of "${url.replaceAll(".", "\\.")}" failed after 2 attempts: HTTP 503$`),
    );
  } finally {
    server.close();
  }
});
