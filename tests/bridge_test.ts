/**
 * Integration tests of the bridge against real servers: a nats-server with
 * JetStream and the Plik-compatible file server, both on loopback, started and
 * stopped by PID. Bad input over a live subscription must be reported as typed
 * errors while the loop keeps going.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { connect as tcpConnect, createServer as createTcpServer, type Socket } from "node:net";
import process from "node:process";
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import {
  Bridge,
  ensureStream,
  type NatsBridgeError,
  objectStoreFileServer,
  plikFileServer,
  plikUploadHandler,
  type ReceivedEnvelope,
  smartreceive,
  smartsend,
  type SubscribeOptions,
} from "natsbridge";
import { startNats, startPlik } from "../scripts/servers.ts";
import { bytesOf, forcedGc, piecesOf, pollUntil, rejectsWithCode, suspend } from "./_helpers.ts";

const nats = await startNats();
const small = await startNats({ config: "max_payload: 65536" });
const plik = await startPlik();
const quiet = { log() {} };
const bridge = await Bridge.connect({ broker_url: nats.url, fileserver_url: plik.url, logger: quiet });

after(async () => {
  await bridge.close();
  await Promise.all([nats.stop(), small.stop(), plik.stop()]);
});

/** A local HTTP server for fault tests; counts requests. */
type Res = { writeHead(status: number, headers?: Record<string, string>): Res; write(b: Uint8Array): void; end(b?: Uint8Array | string): void };
async function httpServer(handler: (req: { url?: string }, res: Res) => void) {
  let requests = 0;
  const srv = createServer((req, res) => {
    requests++;
    handler(req, res as unknown as Res);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const { port } = srv.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    close: () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); }),
  };
}

/**
 * A nats-server of its own that stops answering (SIGSTOP) once `setup` has
 * run on a connection to it; `body` then runs against it. Resumed and stopped
 * by PID afterwards, whatever happened.
 */
async function againstHungServer<T>(
  setup: (conn: NatsConnection) => Promise<T>,
  body: (conn: NatsConnection, ready: T) => Promise<void>,
): Promise<void> {
  const hung = await startNats();
  const conn = await connect({ servers: hung.url });
  try {
    const ready = await setup(conn);
    await suspend(hung.pid);
    await body(conn, ready);
  } finally {
    process.kill(hung.pid, "SIGCONT");
    await conn.close();
    await hung.stop();
  }
}

test("a send that opens its own connection is ABORTED by its signal while the server does not answer, not after the connect timeout", async () => {
  const hung = await startNats();
  try {
    await suspend(hung.pid);
    const t0 = Date.now();
    await rejectsWithCode(
      () => smartsend("hung", [["t", "x", "text"]], { broker_url: hung.url, signal: AbortSignal.timeout(500), logger: quiet }),
      "ABORTED",
    );
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  } finally {
    process.kill(hung.pid, "SIGCONT");
    await hung.stop();
  }
});

test("smartsend() and smartreceive() work standalone with broker_url and a raw nats.js subscription", async () => {
  const nc = await connect({ servers: nats.url });
  const sub = nc.subscribe("standalone");
  const got = (async () => {
    for await (const m of sub) return await smartreceive(m, { fileserver_url: plik.url, logger: quiet });
  })();
  const [env] = await smartsend("standalone", [["big", bytesOf(600_000), "binary"], ["t", "x", "text"]], {
    broker_url: nats.url, fileserver_url: plik.url, logger: quiet,
  });
  assert.equal(env.payloads[0].transport, "link");
  const r = (await got)!;
  assert.deepEqual(r.payloads[0][1], bytesOf(600_000));
  assert.equal(r.payloads[1][1], "x");
  await nc.close();
});

test("smartsend() reuses nats_connection and leaves it open", async () => {
  const nc = await connect({ servers: nats.url });
  for (let i = 0; i < 3; i++) {
    await smartsend("reuse", [["i", { i }, "dictionary"]], { nats_connection: nc, logger: quiet });
  }
  assert.equal(nc.isClosed(), false);
  await nc.close();
});

/** Runs `fn` with the environment variables `vars` set, restoring them after. */
async function withEnv(vars: Record<string, string>, fn: () => Promise<void>): Promise<void> {
  const env = (globalThis as unknown as { process: { env: Record<string, string | undefined> } }).process.env;
  const saved = { ...env };
  const deno = (globalThis as unknown as { Deno?: { env: { set(k: string, v: string): void; delete(k: string): void } } }).Deno;
  const set = (k: string, v: string) => (deno ? deno.env.set(k, v) : (env[k] = v));
  try {
    for (const [k, v] of Object.entries(vars)) set(k, v);
    await fn();
  } finally {
    for (const k of Object.keys(vars)) {
      if (saved[k] === undefined) deno ? deno.env.delete(k) : delete env[k];
      else set(k, saved[k]!);
    }
  }
}

test("a peer's dataname and correlation id reach an error's message without control, bidi or line-separator characters", async () => {
  // They went in raw: on_error: (e) => console.error(e.code, e.message), as the
  // README shows, printed forged log lines and terminal escapes.
  const [env] = await smartsend("s", [["d", "hello", "text"]], { is_publish: false });
  const name = "report\n[2026-01-01T00:00:00.000Z] [Correlation: admin] login ok\u001b]0;pwned\u0007\u2028\u202e";
  env.payloads[0].dataname = name;
  env.correlation_id = "c\u001b[2J\u001b[Hcleared";
  env.payloads[0].metadata.checksum = "0".repeat(64);
  const err = await rejectsWithCode(() => smartreceive(JSON.stringify(env), { logger: quiet }), "CHECKSUM_MISMATCH");
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(err.message, /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202e]/);
  assert.equal(err.dataname, name, "the error's fields keep what the peer sent");
  assert.equal(err.correlationId, env.correlation_id);
});

test("a receiver given only a store does not also trust the default http://localhost:8080", async () => {
  // Any publisher could make such a receiver GET any path on its own
  // localhost:8080, and a payload without a checksum handed the answer over.
  assert.equal(process.env.FILESERVER_URL, undefined, "the tests run without FILESERVER_URL");
  const store = await objectStoreFileServer({ connection: bridge.connection, bucket: "only_store" });
  const [, json] = await smartsend("s", [["q", "x".repeat(22), "text"]], { is_publish: false });
  const env = JSON.parse(json);
  Object.assign(env.payloads[0], { transport: "link", encoding: "none", data: "http://localhost:8080/admin/delete-all", metadata: {} });
  await rejectsWithCode(() => smartreceive(JSON.stringify(env), { fileserver: store, logger: quiet }), "ORIGIN_REFUSED", /localhost:8080/);
  // Named, it is trusted: by the option, or by FILESERVER_URL.
  const named = (e: unknown) => (e as NatsBridgeError).code !== "ORIGIN_REFUSED";
  assert.ok(await smartreceive(JSON.stringify(env), { fileserver: store, fileserver_url: "http://localhost:8080", max_retries: 1, logger: quiet }).then(() => true, named));
  await withEnv({ FILESERVER_URL: "http://localhost:8080" }, async () => {
    assert.ok(await smartreceive(JSON.stringify(env), { fileserver: store, max_retries: 1, logger: quiet }).then(() => true, named));
  });
  // No store, no URL: the default stands, as the spec has it.
  assert.ok(await smartreceive(JSON.stringify(env), { max_retries: 1, logger: quiet }).then(() => true, named));
});

test("smartsend() reads NATS_URL, FILESERVER_URL and SIZE_THRESHOLD from the environment", async () => {
  await withEnv({ NATS_URL: nats.url, FILESERVER_URL: plik.url, SIZE_THRESHOLD: "10" }, async () => {
    const [sent, json] = await smartsend("envvars", [["t", "more than ten bytes", "text"]], { logger: quiet });
    assert.equal(sent.broker_url, nats.url);
    assert.equal(sent.payloads[0].transport, "link");
    assert.ok(sent.payloads[0].data.startsWith(plik.url));
    const r = await smartreceive(json, { logger: quiet });
    assert.equal(r.payloads[0][1], "more than ten bytes");
  });
});

test("a link whose file name a peer left unescaped, as the spec builds it ('50%.bin', 'my file.bin'), is downloaded", async () => {
  // A raw "%" went to Plik as it was, which answered 400: DOWNLOAD_FAILED.
  const items: [string, Uint8Array, "binary"][] = [["50%.bin", bytesOf(64, 1), "binary"], ["my file.bin", bytesOf(64, 2), "binary"]];
  const [sent] = await smartsend("rawnames", items, { is_publish: false, size_threshold: 0, fileserver_url: plik.url, logger: quiet });
  for (const p of sent.payloads) {
    const at = p.data.lastIndexOf("/") + 1;
    p.data = p.data.slice(0, at) + decodeURIComponent(p.data.slice(at));
  }
  assert.ok(sent.payloads[0].data.endsWith("/50%.bin") && sent.payloads[1].data.endsWith("/my file.bin"), sent.payloads[0].data);
  const got = await smartreceive(JSON.stringify(sent), { fileserver_url: plik.url, logger: quiet, max_retries: 1 });
  assert.deepEqual(got.payloads.map(([, v]) => v), items.map(([, v]) => v));
});

test("SIZE_THRESHOLD is decimal digits, as the Python peer reads it: anything else is INVALID_OPTION, not another threshold", async () => {
  // " " was 0 (every payload went by link), "1e6" and "0x10" were numbers the Python peer refused.
  for (const bad of [" ", "1e6", "0x10", "1000000.0", "1_000_000", "+5", "-1", "ten", "5\x1c", "5\x85", "5\ufeff"]) {
    await withEnv({ SIZE_THRESHOLD: bad }, () =>
      rejectsWithCode(() => smartsend("envvars", [["t", "x", "text"]], { is_publish: false }), "INVALID_OPTION", /SIZE_THRESHOLD/).then(() => {}));
  }
  await withEnv({ SIZE_THRESHOLD: " 4 " }, async () => {
    const [sent] = await smartsend("envvars", [["t", "abc", "text"], ["u", "fiver", "text"]], { is_publish: false, fileserver_upload_handler: () => Promise.resolve({ status: 200, uploadid: "u", fileid: "f", url: "http://127.0.0.1:1/f" }) });
    assert.deepEqual(sent.payloads.map((p) => p.transport), ["direct", "link"]);
  });
});

test("a binary payload over a SharedArrayBuffer is sent whole, direct and by link, and its handler gets an ArrayBuffer", async () => {
  // By link it failed UPLOAD_FAILED on Deno ("Failed to construct 'Blob': … a
  // view on a SharedArrayBuffer"), and a handler of one's own was handed the
  // shared memory, which another thread may change while it is hashed and sent.
  const shared = new Uint8Array(new SharedArrayBuffer(600_000));
  shared.set(bytesOf(600_000, 8));
  let handed: unknown;
  const custom = (_u: string, _n: string, d: Uint8Array) => (handed = d.buffer, Promise.reject(new Error("stop here")));
  await rejectsWithCode(() => smartsend("shared", [["b", shared, "binary"]], { is_publish: false, fileserver_upload_handler: custom, logger: quiet }), "UPLOAD_FAILED", /stop here/);
  assert.ok(handed instanceof ArrayBuffer, Object.prototype.toString.call(handed));
  for (const size_threshold of [1_000_000, 1]) {
    const [, json] = await smartsend("shared", [["b", shared, "binary"], ["sab", shared.buffer, "binary"]], { is_publish: false, size_threshold, fileserver_url: plik.url, logger: quiet });
    const env = await smartreceive(json, { fileserver_url: plik.url, logger: quiet });
    assert.deepEqual(env.payloads.map(([, v]) => v), [bytesOf(600_000, 8), bytesOf(600_000, 8)], `size_threshold ${size_threshold}`);
  }
});

test("an upload handler that reports a status outside 2xx fails the send UPLOAD_FAILED with it; nothing is published", async () => {
  // The status was not read: a handler answered 404 by its store, as the doc
  // examples return it, and the send published a link to nothing.
  const sub = bridge.connection.subscribe("refusedupload");
  await bridge.connection.flush();
  for (const status of [404, 500, 0, 199]) {
    const handler = () => Promise.resolve({ status, uploadid: "u", fileid: "f", url: "http://127.0.0.1:1/f" });
    const err = await rejectsWithCode(
      () => smartsend("refusedupload", [["big", bytesOf(600_000, 2), "binary"]], { nats_connection: bridge.connection, fileserver_upload_handler: handler, logger: quiet }),
      "UPLOAD_FAILED",
      new RegExp(`The upload handler reported status ${status} for "big": the file was not stored`),
    );
    assert.equal((err as NatsBridgeError & { status: number }).status, status);
  }
  // Any 2xx is stored; a status left out (plain JavaScript) is taken as success, as before.
  for (const status of [200, 201, 204, undefined]) {
    const handler = () => Promise.resolve({ status, uploadid: "u", fileid: "f", url: "http://127.0.0.1:1/f" } as never);
    await smartsend("refusedupload", [["big", bytesOf(600_000, 2), "binary"]], { nats_connection: bridge.connection, fileserver_upload_handler: handler, logger: quiet });
  }
  await bridge.connection.flush();
  assert.equal(sub.getReceived(), 4);
  sub.unsubscribe();
});

test("an envelope over the server's max_payload moves its largest direct payload to link", async () => {
  const b = await Bridge.connect({ broker_url: small.url, fileserver_url: plik.url, logger: quiet });
  const sub = b.subscribe("maxpayload");
  const got = (async () => { for await (const e of sub) return e; })();
  const [sent] = await b.send("maxpayload", [["a", bytesOf(40_000, 1), "binary"], ["b", bytesOf(30_000, 2), "binary"]]);
  assert.deepEqual(sent.payloads.map((p) => p.transport), ["link", "direct"]);
  const env = (await got)!;
  assert.deepEqual(env.payloads[0][1], bytesOf(40_000, 1));
  assert.deepEqual(env.payloads[1][1], bytesOf(30_000, 2));
  await b.close();
});

test("Bridge.request() gets the reply whose reply_to_msg_id matches, via Bridge.reply()", async () => {
  const service = bridge.subscribe("svc.echo");
  (async () => {
    for await (const env of service) {
      await bridge.reply(env, [["echo", `echo: ${env.payloads[0][1]}`, "text"]], { msg_purpose: "ACK" });
    }
  })();
  const reply = await bridge.request("svc.echo", [["q", "ping", "text"]], { timeout: 5000, correlation_id: "rr-1" });
  assert.deepEqual(reply.payloads, [["echo", "echo: ping", "text"]]);
  assert.equal(reply.msg_purpose, "ACK");
  assert.equal(reply.correlation_id, "rr-1");
  service.unsubscribe();
  await rejectsWithCode(() => bridge.request("svc.nobody", [["q", "ping", "text"]], { timeout: 200 }), "TIMEOUT");
});

test("Bridge.request() takes a reply that leaves reply_to_msg_id empty, as the spec's services may; a reply to another message is named in the TIMEOUT", async () => {
  // A spec-style service (Python, Julia) answers with smartsend(env.reply_to, ...)
  // and reply_to_msg_id at its default "": the reply was dropped, and the
  // request timed out saying no reply came.
  const service = bridge.subscribe("svc.plain.>");
  (async () => {
    for await (const env of service) {
      const reply_to_msg_id = env.send_to.endsWith("other") ? "some-other-message" : "";
      await bridge.send(env.reply_to, [["echo", `echo: ${env.payloads[0][1]}`, "text"]], { reply_to_msg_id, correlation_id: env.correlation_id });
    }
  })();
  try {
    const reply = await bridge.request("svc.plain.empty", [["q", "ping", "text"]], { timeout: 5000 });
    assert.deepEqual(reply.payloads, [["echo", "echo: ping", "text"]]);
    await rejectsWithCode(
      () => bridge.request("svc.plain.other", [["q", "ping", "text"]], { timeout: 500 }),
      "TIMEOUT",
      /within 500 ms; 1 envelope came to its inbox answering another message \(reply_to_msg_id "some-other-message", not this request's "[0-9a-f-]{36}"\)/,
    );
  } finally {
    service.unsubscribe();
  }
});

test("a transfer aborted with another transfer's ABORTED error as the reason reports its own correlation id", async () => {
  // An app cancelling a group with the error one transfer raised: every other
  // transfer then threw that very error, with the first one's correlation id.
  const first = new AbortController();
  first.abort();
  const errA = await rejectsWithCode(() => bridge.send("group.a", [["a", "x", "text"]], { correlation_id: "cid-A", signal: first.signal }), "ABORTED");
  assert.equal(errA.correlationId, "cid-A");
  const group = new AbortController();
  group.abort(errA);
  const b = await rejectsWithCode(() => bridge.send("group.b", [["b", "x", "text"]], { correlation_id: "cid-B", signal: group.signal }), "ABORTED");
  assert.equal(b.correlationId, "cid-B");
  assert.notEqual(b, errA);
  assert.equal((b as Error).cause, errA);
  const [, json] = await bridge.send("group.r", [["r", bytesOf(600_000), "binary"]], { is_publish: false, correlation_id: "cid-R", size_threshold: 1000 });
  const r = await rejectsWithCode(() => bridge.receive(json, { signal: group.signal }), "ABORTED");
  assert.equal(r.correlationId, "cid-R");
});

test("options given as undefined leave the bridge's and the reply's defaults in place (README: undefined counts as not given)", async () => {
  // Spread over the defaults, { reply_to_msg_id: undefined } sent a reply no
  // request matched (TIMEOUT), correlation_id: undefined gave it a new id, and
  // sender_name: undefined replaced the bridge's own.
  const own = await Bridge.connect({ broker_url: nats.url, fileserver_url: plik.url, sender_name: "svc", logger: quiet });
  try {
    const service = own.subscribe("svc.undef", { receive: { fileserver_url: undefined } });
    (async () => {
      for await (const env of service) {
        await own.reply(env, [["big", bytesOf(600_000, 4), "binary"]], {
          reply_to_msg_id: undefined, correlation_id: undefined, sender_name: undefined, fileserver_url: undefined,
        });
      }
    })();
    const reply = await own.request("svc.undef", [["q", "ping", "text"]], {
      timeout: 5000, correlation_id: "undef-1", sender_name: undefined, receive: { fileserver_url: undefined },
    });
    assert.equal(reply.correlation_id, "undef-1");
    assert.equal(reply.sender_name, "svc");
    assert.deepEqual(reply.payloads[0][1], bytesOf(600_000, 4));
    const [sent] = await own.send("svc.undef.none", [["t", "x", "text"]], { sender_name: undefined });
    assert.equal(sent.sender_name, "svc");
    service.unsubscribe();
  } finally {
    await own.close();
  }
});

test("Bridge.request() that fails before it is sent leaves no timer and no listener behind; is_publish: false is INVALID_OPTION", async () => {
  // A bad receive option, or a closed bridge, failed at once but left the
  // request's timer (the process stayed up for its whole timeout) and its
  // listener on the caller's signal.
  const { signal, listeners } = countedSignal();
  const t0 = Date.now();
  for (let i = 0; i < 5; i++) {
    await rejectsWithCode(() => bridge.request("svc.x", [["q", "x", "text"]], { signal, timeout: 60_000, receive: { max_retries: -1 } }), "INVALID_OPTION");
  }
  const closed = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  await closed.close();
  await rejectsWithCode(() => closed.request("svc.x", [["q", "x", "text"]], { signal, timeout: 60_000 }), "PUBLISH_FAILED", /the bridge is closed/);
  assert.equal(listeners(), 0);
  // Sent nothing, so nothing can answer: it waited out its timeout and said TIMEOUT.
  await rejectsWithCode(() => bridge.request("svc.x", [["q", "x", "text"]], { timeout: 60_000, is_publish: false }), "INVALID_OPTION", /is_publish/);
  assert.ok(Date.now() - t0 < 5000);
});

test("a reply received as a stream still heeds the request's signal after request() returned", async () => {
  // request() cut its link to the caller's signal on return: aborting it did
  // not stop the reply's download, as it does for Bridge.receive().
  const service = bridge.subscribe("svc.stream");
  (async () => {
    for await (const env of service) await bridge.reply(env, [["big", bytesOf(8_000_000, 5), "binary"]], { size_threshold: 1 });
  })();
  const ac = new AbortController();
  const reply = await bridge.request("svc.stream", [["q", "x", "text"]], { timeout: 10_000, signal: ac.signal, receive: { stream: true } });
  const reader = (reply.payloads[0][1] as ReadableStream<Uint8Array>).getReader();
  await reader.read();
  // The link lasts as long as the stream, through a collection too.
  const gc = forcedGc();
  for (let i = 0; gc && i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  ac.abort();
  let read = 0;
  const e = await rejectsWithCode(async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      read += value.byteLength;
    }
  }, "ABORTED");
  assert.ok(read < 8_000_000, `read ${read} bytes after the abort`);
  assert.ok(e);
  service.unsubscribe();
});

test("Bridge.request() receives a reply that links to the Object Store it sent through, or to receive.fileserver", async () => {
  const own = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  try {
    const store = await objectStoreFileServer({ connection: own.connection, bucket: "request_replies" });
    const service = own.subscribe("svc.big", { receive: { fileserver: store } });
    void (async () => {
      for await (const env of service) {
        await own.reply(env, [["r", bytesOf(600_000, 7), "binary"]], { fileserver: store, size_threshold: 1000 });
      }
    })();
    const expected = bytesOf(600_000, 7);
    // The store the request went through: its replies are accepted from it too.
    const viaSend = await own.request("svc.big", [["q", bytesOf(5000, 1), "binary"]], {
      fileserver: store,
      size_threshold: 1000,
      timeout: 10_000,
    });
    assert.deepEqual(viaSend.payloads[0][1], expected);
    // A request sent inline names the reply's store in receive.
    const viaReceive = await own.request("svc.big", [["q", "ping", "text"]], { receive: { fileserver: store }, timeout: 10_000 });
    assert.deepEqual(viaReceive.payloads[0][1], expected);
    // A bridge whose default store is the Object Store still takes its replies when one request
    // goes by another store (the request's store replaced the default for the reply).
    const byStore = await Bridge.connect({ nats_connection: own.connection, fileserver: store, logger: quiet });
    const viaDefault = await byStore.request("svc.big", [["q", "small, inline", "text"]], {
      fileserver: plikFileServer({ url: plik.url }),
      timeout: 10_000,
    });
    assert.deepEqual(viaDefault.payloads[0][1], expected);
    // Without either, the link is refused, as for any receiver: the error says what to pass.
    await rejectsWithCode(
      () => own.request("svc.big", [["q", "ping", "text"]], { timeout: 10_000 }),
      "ORIGIN_REFUSED",
      /from nats-obj:\/\/request_replies: origin not in the allowed file servers \(pass the store as the fileserver option, or the CLI's --store\)/,
    );
    service.unsubscribe();
  } finally {
    await own.close();
  }
});

/** A signal whose abort listeners are counted as they are added and removed. */
/** How many composite signals Node keeps for `signal` (its AbortSignal.any bookkeeping); 0 elsewhere. */
function dependantsOf(signal: AbortSignal): number {
  const key = Object.getOwnPropertySymbols(signal).find((k) => String(k) === "Symbol(kDependantSignals)");
  return key ? (signal as unknown as Record<symbol, Set<unknown>>)[key].size : 0;
}

function countedSignal(controller = new AbortController()): { signal: AbortSignal; listeners: () => number } {
  const signal = controller.signal;
  const live = new Set<unknown>();
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((type: string, fn: unknown, o?: unknown) => {
    if (type === "abort") live.add(fn);
    add(type, fn as EventListener, o as AddEventListenerOptions);
  }) as typeof signal.addEventListener;
  signal.removeEventListener = ((type: string, fn: unknown, o?: unknown) => {
    if (type === "abort") live.delete(fn);
    remove(type, fn as EventListener, o as EventListenerOptions);
  }) as typeof signal.removeEventListener;
  return { signal, listeners: () => live.size };
}

test("a subscription or request ended without iterating leaves no listener on the caller's signal", async () => {
  // One long-lived signal for a service's whole life: each subscription left
  // behind on it (and each failed request) was kept, with its composite signal.
  const { signal, listeners } = countedSignal();
  for (let i = 0; i < 20; i++) bridge.subscribe("leak.sub", { signal }).unsubscribe();
  for (let i = 0; i < 20; i++) {
    await rejectsWithCode(() => bridge.request("leak.req", [["q", 5, "text"]], { signal, timeout: 5000 }), "INVALID_INPUT");
  }
  assert.equal(listeners(), 0);
});

test("thirty subscriptions sharing one signal put one listener on it, and its abort ends them all", async () => {
  // Node warns of a leak from the 11th listener on one signal; a service with
  // one shutdown signal and many subjects is not leaking.
  const shutdown = new AbortController();
  const { signal, listeners } = countedSignal(shutdown);
  const unsubscribed = Array.from({ length: 30 }, (_, i) => bridge.subscribe(`many.sub.${i}`, { signal }));
  assert.equal(listeners(), 1);
  unsubscribed.forEach((sub) => sub.unsubscribe());
  assert.equal(listeners(), 0);
  const subs = Array.from({ length: 30 }, (_, i) => bridge.subscribe(`many.sub.${i}`, { signal }));
  assert.equal(listeners(), 1);
  const ended = Promise.all(subs.map(async (sub) => {
    for await (const _ of sub) { /* nothing is sent */ }
  }));
  shutdown.abort();
  await Promise.race([ended, new Promise((_, no) => setTimeout(() => no(new Error("not ended by the abort")), 5000))]);
});

test("a long-lived signal holds nothing of the sends, receives and requests that used it", async () => {
  // Node 20's AbortSignal.any keeps each composite signal made from a source
  // that never aborts (nodejs/node#55351): a service passing one signal to
  // every call grew by ~50-460 bytes per call, for ever.
  const { signal, listeners } = countedSignal();
  const dependants = () => dependantsOf(signal);
  const service = bridge.subscribe("held.svc");
  void (async () => {
    for await (const env of service) await bridge.reply(env, [["r", "ok", "text"]]);
  })();
  for (let i = 0; i < 5; i++) {
    const [env] = await bridge.send("held.link", [["big", bytesOf(600_000, i), "binary"]], { signal, is_publish: false });
    await bridge.receive(env, { signal });
    await bridge.request("held.svc", [["q", "x", "text"]], { signal, timeout: 5000 });
  }
  service.unsubscribe();
  assert.equal(dependants(), 0, "composite signals kept by the caller's signal");
  assert.equal(listeners(), 0, "listeners left on the caller's signal");
});

test("a request's link to the caller's signal ends with it, or, when the reply came as streams, once they are collected", async (t) => {
  // request() kept its link while streams were handed over, and never cut it: a service
  // passing its shutdown signal to every request kept one controller per request.
  // Joined with AbortSignal.any instead, Node 20 kept an entry per request on the
  // signal even when the reply had no stream (nodejs/node#55351).
  const gc = forcedGc();
  if (!gc) return t.skip("no way to force a garbage collection on this runtime");
  const { signal, listeners } = countedSignal();
  const dependants = () => dependantsOf(signal);
  const service = bridge.subscribe("held.stream.>");
  void (async () => {
    for await (const env of service) {
      const big = env.send_to.endsWith("link");
      await bridge.reply(env, [["r", bytesOf(big ? 100_000 : 10, 3), "binary"]], { size_threshold: big ? 1 : undefined });
    }
  })();
  try {
    for (let i = 0; i < 3; i++) await bridge.request("held.stream.direct", [["q", "x", "text"]], { signal, timeout: 10_000, receive: { stream: true } });
    assert.equal(listeners(), 0, "listeners left by replies without streams");
    assert.equal(dependants(), 0, "composite signals left by replies without streams");
    // In a function of its own: a variable of this frame would keep the last reply.
    const readOne = async () => {
      const reply = await bridge.request("held.stream.link", [["q", "x", "text"]], { signal, timeout: 10_000, receive: { stream: true } });
      return (await new Response(reply.payloads[0][1] as ReadableStream).arrayBuffer()).byteLength;
    };
    for (let i = 0; i < 3; i++) assert.equal(await readOne(), 100_000);
    for (let i = 0; i < 50 && listeners() > 0; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(listeners(), 0, "listeners left once the streams were collected");
    assert.equal(dependants(), 0, "composite signals left by replies with streams");
  } finally {
    service.unsubscribe();
  }
});

test("two close() calls at once share one close; null options from plain JavaScript mean none", async () => {
  // The second closed the connection under the first's drain, which then
  // waited out its whole 10 s timeout.
  const own = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  const t0 = Date.now();
  await Promise.all([own.close(), own.close(null as never)]);
  assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
  const other = await Bridge.connect({ broker_url: nats.url, logger: quiet, max_retries: "x" as never }).then(
    (b) => b.close().then(() => "connected"),
    (e) => e.code,
  );
  assert.equal(other, "INVALID_OPTION");
  await rejectsWithCode(() => bridge.reply(null as never, [["r", "x", "text"]]), "INVALID_OPTION", /no reply_to/);
  await rejectsWithCode(() => bridge.request("nobody.here", [["q", 5, "text"]], null as never), "INVALID_INPUT");
});

test("subscribe() checks its options and its receive options when called, not on each message", async () => {
  // A bad receive option made every message an INVALID_OPTION error, one by one.
  const bad: [SubscribeOptions, RegExp][] = [
    [{ receive: { max_retries: "5" as never } }, /max_retries/],
    [{ receive: { verify_checksum: "false" as never } }, /verify_checksum/],
    [{ receive: { stream: "yes" as never } }, /stream/],
    [{ receive: { on_progress: 5 as never } }, /on_progress/],
    [{ receive: { allowed_origins: "http://x" as never } }, /allowed_origins/],
    [{ receive: { fileserver_url: "127.0.0.1:8080" } }, /fileserver_url/],
    [{ on_error: "log" as never }, /on_error/],
    [{ signal: {} as never }, /signal/],
  ];
  for (const [options, field] of bad) {
    await rejectsWithCode(() => bridge.subscribe("checked.sub", options), "INVALID_OPTION", field);
  }
  // null from a plain JavaScript caller: no options.
  bridge.subscribe("checked.sub", null as never).unsubscribe();
});

test("Bridge.connect() receive options apply to what its subscribers receive: max_download_bytes, stream, pool", async () => {
  const { CodecPool } = await import("natsbridge");
  const pool = new CodecPool({ maxThreads: 0 });
  const capped = await Bridge.connect({
    broker_url: nats.url, fileserver_url: plik.url, logger: quiet, size_threshold: 10, max_download_bytes: 50,
  });
  const streaming = await Bridge.connect({
    broker_url: nats.url, fileserver_url: plik.url, logger: quiet, size_threshold: 10, stream: true, pool,
  });
  try {
    const errors: NatsBridgeError[] = [];
    const a = capped.subscribe("defaults.capped", { on_error: (e) => errors.push(e) });
    const b = streaming.subscribe("defaults.stream");
    const firstOf = async (sub: AsyncIterable<ReceivedEnvelope>) => {
      for await (const env of sub) return env;
    };
    const gotB = firstOf(b);
    await capped.send("defaults.capped", [["blob", bytesOf(100, 1), "binary"]], { confirm: true });
    await capped.send("defaults.capped", [["small", bytesOf(40, 2), "binary"]], { confirm: true });
    const env = await firstOf(a);
    assert.equal(env!.payloads[0][0], "small");
    assert.deepEqual(errors.map((e) => [e.code, e.dataname]), [["PAYLOAD_TOO_LARGE", "blob"]]);
    await streaming.send("defaults.stream", [["blob", bytesOf(100, 1), "binary"]], { confirm: true });
    const streamed = (await gotB)!.payloads[0][1];
    assert.ok(streamed instanceof ReadableStream, `a stream, got ${Object.prototype.toString.call(streamed)}`);
    assert.equal((await new Response(streamed).arrayBuffer()).byteLength, 100);
  } finally {
    await Promise.all([capped.close(), streaming.close()]);
    await pool.destroy();
  }
});

test("a message that fails to decode is reported once: to on_error when given, else as one warning", async () => {
  // Each was also logged as "Receive failed" at warn: twice without on_error, and once beside on_error's own report.
  const lines: string[] = [];
  const b = await Bridge.connect({ broker_url: nats.url, logger: { log: (level, line) => lines.push(`${level} ${line}`) } });
  const nc = await connect({ servers: nats.url });
  try {
    for (const handled of [true, false]) {
      lines.length = 0;
      const errors: string[] = [];
      const ac = new AbortController();
      const subject = `reported.${handled}`;
      const sub = b.subscribe(subject, { signal: ac.signal, on_error: handled ? (e) => void errors.push(e.code) : undefined });
      const loop = (async () => {
        for await (const _ of sub) ac.abort();
      })();
      await b.connection.flush();
      // A payload whose base64 is broken: refused inside the receive, after the envelope passed.
      const [, valid] = await smartsend(subject, [["end", "x", "text"]], { is_publish: false });
      const broken = JSON.parse(valid);
      broken.payloads[0].data = "***";
      nc.publish(subject, JSON.stringify(broken));
      nc.publish(subject, valid);
      await loop;
      const warnings = lines.filter((l) => /^(warn|error) /.test(l));
      if (handled) {
        assert.deepEqual(errors, ["DECODE_FAILED"]);
        assert.deepEqual(warnings, []);
      } else {
        assert.equal(warnings.length, 1, warnings.join("\n"));
        assert.match(warnings[0], /Dropped a message on reported\.false: DECODE_FAILED/);
      }
    }
  } finally {
    await Promise.all([b.close(), nc.close()]);
  }
});

test("the subscriber loop reports every bad message as a typed error and keeps going", async () => {
  const errors: NatsBridgeError[] = [];
  const ac = new AbortController();
  const sub = bridge.subscribe("hostile", { signal: ac.signal, on_error: (e) => errors.push(e) });
  const good: ReceivedEnvelope[] = [];
  const loop = (async () => {
    for await (const env of sub) {
      good.push(env);
      if (good.length === 2) ac.abort();
    }
  })();
  const nc = await connect({ servers: nats.url });
  const [, valid] = await smartsend("hostile", [["ok", "first", "text"]], { is_publish: false });
  const v = JSON.parse(valid);
  // deno-lint-ignore no-explicit-any
  const mutate = (f: (e: Record<string, any>) => void) => {
    const e = structuredClone(v);
    f(e);
    return JSON.stringify(e);
  };
  const hostile = [
    "not json",
    "",
    "[]",
    '{"msg_id": "x"}',
    mutate((e) => delete e.payloads),
    mutate((e) => (e.payloads[0].payload_type = "pdf")),
    mutate((e) => (e.payloads[0].encoding = "rot13")),
    mutate((e) => (e.payloads[0].transport = "pigeon")),
    mutate((e) => (e.payloads[0].data = "!!!!")),
    mutate((e) => (e.payloads[0].size = 999)),
    mutate((e) => (e.payloads[0].metadata.checksum = "0".repeat(64))),
    mutate((e) => Object.assign(e.payloads[0], { transport: "link", encoding: "none", data: "http://169.254.169.254/latest" })),
    mutate((e) => Object.assign(e.payloads[0], { payload_type: "arrowtable" })),
    "[".repeat(100_000),
  ];
  for (const h of hostile) nc.publish("hostile", h);
  nc.publish("hostile", valid);
  nc.publish("hostile", mutate((e) => (e.payloads[0].data = btoa("second"), e.payloads[0].size = 6, e.payloads[0].metadata = {})));
  await nc.flush();
  await Promise.race([loop, new Promise((_, rej) => setTimeout(() => rej(new Error("subscriber loop hung")), 10_000))]);
  assert.deepEqual(good.map((e) => e.payloads[0][1]), ["first", "second"]);
  assert.equal(errors.length, hostile.length);
  const codes = errors.map((e) => e.code);
  assert.deepEqual(codes.slice(4, 13), [
    "ENVELOPE_INVALID", "UNKNOWN_PAYLOAD_TYPE", "UNKNOWN_ENCODING", "UNKNOWN_TRANSPORT",
    "DECODE_FAILED", "SIZE_MISMATCH", "CHECKSUM_MISMATCH", "ORIGIN_REFUSED", "DECODE_FAILED",
  ]);
  for (const e of errors.slice(4)) if (e.code !== "ENVELOPE_INVALID") assert.equal(e.correlationId, v.correlation_id);
  await nc.close();
});

test("a one-shot Plik link can be fetched once; the second receiver gets PAYLOAD_GONE", async () => {
  const [, json] = await smartsend("oneshot", [["f", bytesOf(1000), "binary"]], {
    is_publish: false, size_threshold: 1, fileserver_url: plik.url,
    fileserver_upload_handler: plikUploadHandler({ oneShot: true }),
  });
  const first = await smartreceive(json, { fileserver_url: plik.url, logger: quiet });
  assert.deepEqual(first.payloads[0][1], bytesOf(1000));
  const e = await rejectsWithCode(() => smartreceive(json, { fileserver_url: plik.url, logger: quiet }), "PAYLOAD_GONE");
  assert.equal(e.dataname, "f");
});

test("a Plik server that requires a token refuses uploads without it and accepts them with it", async () => {
  const guarded = await startPlik({ args: ["-token", "s3cret"] });
  try {
    await rejectsWithCode(() => smartsend("tok", [["f", bytesOf(10), "binary"]], {
      is_publish: false, size_threshold: 1, fileserver_url: guarded.url,
    }), "UPLOAD_FAILED", /HTTP 400 .*anonymous uploads are disabled.*: this Plik wants a user token \(plikFileServer\(\{ token \}\), PLIK_TOKEN or --plik-token\)$/);
    // A wrong token is said to be the one refused, not a generic HTTP 403.
    await rejectsWithCode(() => smartsend("tok", [["f", bytesOf(10), "binary"]], {
      is_publish: false, size_threshold: 1, fileserver: plikFileServer({ url: guarded.url, token: "wrong" }),
    }), "UPLOAD_FAILED", /HTTP 403 invalid token: the Plik token given was refused/);
    const [, json] = await smartsend("tok", [["f", bytesOf(10), "binary"]], {
      is_publish: false, size_threshold: 1, fileserver: plikFileServer({ url: guarded.url, token: "s3cret" }),
      fileserver_url: guarded.url,
    });
    const r = await smartreceive(json, { fileserver_url: guarded.url, logger: quiet });
    assert.deepEqual(r.payloads[0][1], bytesOf(10));
  } finally {
    await guarded.stop();
  }
});

test("downloads retry with backoff through a file-server outage and recover", async () => {
  const flaky = await startPlik();
  const [, json] = await smartsend("flaky", [["f", bytesOf(50_000), "binary"]], {
    is_publish: false, size_threshold: 1, fileserver_url: flaky.url,
  });
  // Fails the first attempts with 503, then proxies to the real server.
  let failures = 3;
  const proxy = await httpServer(async (req, res) => {
    if (failures-- > 0) {
      res.writeHead(503).end();
      return;
    }
    const upstream = await fetch(flaky.url + req.url);
    res.writeHead(upstream.status, { "content-length": upstream.headers.get("content-length") ?? "" });
    res.end(new Uint8Array(await upstream.arrayBuffer()));
  });
  const viaProxy = json.replaceAll(flaky.url, proxy.url);
  const lines: string[] = [];
  const t0 = Date.now();
  const r = await smartreceive(viaProxy, {
    fileserver_url: proxy.url, base_delay: 50, max_delay: 1000, logger: { log: (_l, line) => lines.push(line) },
  });
  assert.deepEqual(r.payloads[0][1], bytesOf(50_000));
  assert.equal(proxy.requests, 4);
  assert.ok(Date.now() - t0 >= 50 + 100 + 200, "waited the backoff delays");
  assert.equal(lines.filter((l) => /retrying in/.test(l)).length, 3);
  assert.match(lines[0], /^\[\d{4}-.*Z\] \[Correlation: [0-9a-f-]{36}\] Download of "f" failed \(HTTP 503\)/);
  await proxy.close();
  await flaky.stop();
});

test("a file server that stays down gives DOWNLOAD_FAILED with the correlation id within the retry budget", async () => {
  const gone = await startPlik();
  const [, json] = await smartsend("down", [["f", bytesOf(100), "binary"]], {
    is_publish: false, size_threshold: 1, fileserver_url: gone.url, correlation_id: "down-1",
  });
  await gone.stop();
  const t0 = Date.now();
  const e = await rejectsWithCode(
    () => smartreceive(json, { fileserver_url: gone.url, max_retries: 4, base_delay: 20, max_delay: 40, logger: quiet }),
    "DOWNLOAD_FAILED",
    /after 4 attempts/,
  );
  assert.equal(e.correlationId, "down-1");
  assert.equal((e as unknown as { attempts: number }).attempts, 4);
  assert.ok(Date.now() - t0 < 5000);
});

/**
 * A TCP server in front of `target` that passes everything on until a request
 * matching `stall` begins, and from then on stops reading that connection and
 * never answers: a file server that hangs. Without `target`, every connection
 * hangs from its first byte.
 */
async function hangingServer(stall: RegExp, target?: string): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const srv = createTcpServer((client) => {
    sockets.add(client);
    const upstream = target ? tcpConnect(Number(new URL(target).port), "127.0.0.1") : undefined;
    if (upstream) {
      sockets.add(upstream);
      upstream.pipe(client);
      upstream.on("error", () => client.destroy());
    }
    let hung = !upstream;
    client.on("data", (d: Buffer) => {
      hung ||= stall.test(d.toString("latin1"));
      if (hung) client.pause(); // what the client sends from now on fills the socket buffers, then waits
      else upstream!.write(d);
    });
    client.on("error", () => upstream?.destroy());
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(srv.address() as { port: number }).port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

test("a Plik upload to a server that never answers fails with UPLOAD_FAILED after its idle timeout, it does not hang", async () => {
  const silent = await hangingServer(/./);
  try {
    const fileserver = plikFileServer({ url: silent.url, idleTimeout: 200 });
    const t0 = Date.now();
    // Bytes are retried (4 attempts); a stream is uploaded once.
    const e = await rejectsWithCode(() => smartsend("hang", [["f", bytesOf(1000), "binary"]], {
      is_publish: false, size_threshold: 1, fileserver, correlation_id: "hang-1",
    }), "UPLOAD_FAILED", /no answer for 0.2 s/);
    assert.equal(e.correlationId, "hang-1");
    assert.ok(Date.now() - t0 < 10_000, `${Date.now() - t0} ms`);
    await rejectsWithCode(() => smartsend("hang", [["f", piecesOf(bytesOf(100_000), 10_000), "binary"]], {
      is_publish: false, fileserver,
    }), "UPLOAD_FAILED", /no answer for 0.2 s/);
  } finally {
    await silent.close();
  }
});

test("an aborted Plik upload is ABORTED with its correlation id and dataname, whatever the source", async () => {
  // An abort was reported as UPLOAD_FAILED ("The signal has been aborted"), which
  // an application retrying on UPLOAD_FAILED would retry.
  const hanging = await hangingServer(/^POST \/file\//, plik.url);
  try {
    const fileserver = plikFileServer({ url: hanging.url });
    const sources: [string, () => unknown][] = [
      ["small bytes", () => bytesOf(1000, 1)],
      ["large bytes", () => bytesOf(8 * 1024 * 1024, 3)],
      ["stream", () => piecesOf(bytesOf(8 * 1024 * 1024, 4), 65_536)],
      ["blob", () => new Blob([bytesOf(8 * 1024 * 1024, 5) as Uint8Array<ArrayBuffer>])],
    ];
    for (const [what, source] of sources) {
      const t0 = Date.now();
      const e = await rejectsWithCode(() => smartsend("hang", [[what, source(), "binary"]], {
        is_publish: false, size_threshold: 1, fileserver, correlation_id: "abort-1", signal: AbortSignal.timeout(300),
      }), "ABORTED");
      assert.equal(e.correlationId, "abort-1", what);
      assert.equal(e.dataname, what);
      assert.ok(Date.now() - t0 < 5_000, `${what}: ${Date.now() - t0} ms`);
      for (const ms of [0, 20]) {
        const early = await rejectsWithCode(() => smartsend("hang", [[what, source(), "binary"]], {
          is_publish: false, size_threshold: 1, fileserver, correlation_id: "abort-2", signal: AbortSignal.timeout(ms),
        }), "ABORTED");
        assert.deepEqual([early.correlationId, early.dataname], ["abort-2", what], `${what} after ${ms} ms`);
      }
    }
  } finally {
    await hanging.close();
  }
});

test("an on_progress callback that throws is logged once per transfer, and the transfer goes on", async () => {
  // It failed the download as DOWNLOAD_FAILED after five attempts (the callback
  // ran five times), and under consume would have naked the message over and over.
  const warnings: string[] = [];
  const logger = { log: (level: string, line: string) => void (level === "warn" && warnings.push(line)) };
  const boom = () => {
    throw new Error("bug in the progress bar");
  };
  const fileserver = plikFileServer({ url: plik.url });
  const [, json] = await smartsend("progress", [["big", bytesOf(3_000_000, 9), "binary"]], {
    is_publish: false, size_threshold: 1, fileserver, on_progress: boom, logger,
  });
  const r = await smartreceive(json, { fileserver, on_progress: boom, logger });
  assert.deepEqual(r.payloads[0][1], bytesOf(3_000_000, 9));
  assert.equal(warnings.length, 2, warnings.join("\n"));
  assert.match(warnings[0], /on_progress threw for "big" \(upload\): bug in the progress bar; the transfer goes on/);
  assert.match(warnings[1], /on_progress threw for "big" \(download\)/);
});

test("a source that fails while it is uploaded to Plik is INVALID_INPUT with its own reason, not retried", async () => {
  // Both were UPLOAD_FAILED "Cannot reach the Plik server … fetch failed", the
  // reason lost; a directory given as a file path was tried four times.
  const fileserver = plikFileServer({ url: plik.url });
  let pulls = 0;
  const breaking = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (++pulls > 2) throw new Error("source broke");
      controller.enqueue(bytesOf(65_536, pulls));
    },
  });
  const e = await rejectsWithCode(() => smartsend("src", [["s", breaking, "binary"]], {
    is_publish: false, fileserver, correlation_id: "src-1",
  }), "INVALID_INPUT", /the source of "s" failed after 131072 bytes: source broke/);
  assert.equal(e.correlationId, "src-1");
  const t0 = Date.now();
  await rejectsWithCode(() => smartsend("src", [["d", new URL(".", import.meta.url), "binary"]], {
    is_publish: false, fileserver, size_threshold: 1,
  }), "INVALID_INPUT", /Cannot read file for payload "d": .* is not a regular file/);
  assert.ok(Date.now() - t0 < 1000, `${Date.now() - t0} ms: not retried`);
});

test("a Plik idle timeout that is not a whole number of ms ≥ 1 is refused when the handler is made", async () => {
  for (const idleTimeout of [0, -1, Number.NaN, Infinity, "30" as unknown as number]) {
    await rejectsWithCode(() => plikFileServer({ idleTimeout }), "INVALID_OPTION", /idleTimeout must be a whole number of ms from 1/);
  }
});

test("a Plik upload whose file request hangs mid-body fails with UPLOAD_FAILED after its idle timeout", async () => {
  const hanging = await hangingServer(/^POST \/file\//, plik.url);
  try {
    const fileserver = plikFileServer({ url: hanging.url, idleTimeout: 300 });
    // 8 MiB: more than loopback's socket buffers take, so the body stops being taken.
    for (const data of [bytesOf(8 * 1024 * 1024, 3), piecesOf(bytesOf(8 * 1024 * 1024, 4), 65_536)]) {
      const t0 = Date.now();
      await rejectsWithCode(() => smartsend("hang", [["f", data, "binary"]], { is_publish: false, fileserver }),
        "UPLOAD_FAILED", /no answer for 0.3 s/);
      assert.ok(Date.now() - t0 < 10_000, `${Date.now() - t0} ms`);
    }
  } finally {
    await hanging.close();
  }
});

test("many Object Store payloads received at once on one connection keep it up: read-ahead is shared", async () => {
  // Each read asked 4 MiB ahead whatever the others did: 30 at once passed the
  // server's 64 MiB max_pending, which dropped the connection as a slow consumer.
  const own = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  const events: string[] = [];
  void (async () => { for await (const s of own.status()) events.push(s.type); })();
  try {
    const store = await objectStoreFileServer({ connection: own.connection, bucket: "many_reads" });
    const items = Array.from({ length: 30 }, (_, i) => [`f${i}`, bytesOf(8_000_000, i + 1), "video"] as const);
    const [env] = await own.send("many.reads", items, { fileserver: store, is_publish: false });
    const got = await own.receive(env, { fileserver: store });
    assert.equal(got.payloads.length, 30);
    assert.deepEqual(got.payloads[29][1], items[29][1]);
    assert.deepEqual(events.filter((e) => e === "disconnect"), []);
  } finally {
    await own.close();
  }
});

test("an Object Store payload held as a stream ends when its connection closes: DOWNLOAD_FAILED, not SIZE_MISMATCH", async () => {
  // Its consumer went on (and its heartbeat timer kept Node and Deno from
  // exiting); reading it then said "ended at 262144 of 1500000 bytes", which
  // consume would dead-letter as a bad message.
  const own = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  const store = await objectStoreFileServer({ connection: own.connection, bucket: "held_streams" });
  const [env] = await own.send("held", [["b", bytesOf(1_500_000, 2), "binary"]], { fileserver: store, is_publish: false });
  const got = await own.receive(env, { fileserver: store, stream: true });
  await own.close();
  const t0 = Date.now();
  await rejectsWithCode(async () => {
    for await (const _ of got.payloads[0][1] as ReadableStream<Uint8Array>) { /* read */ }
  }, "DOWNLOAD_FAILED", /connection closed|closed connection/);
  assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
});

test("an Object Store on a server without JetStream, or on one that hangs, is a typed error naming the bucket", async () => {
  const plain = await startNats({ jetstream: false });
  const conn = await connect({ servers: plain.url });
  try {
    await rejectsWithCode(() => objectStoreFileServer({ connection: conn, bucket: "nojs" }), "CONNECTION_FAILED",
      /Cannot open Object Store bucket "nojs": JetStream is not enabled on this server/);
  } finally {
    await conn.close();
    await plain.stop();
  }
  await againstHungServer((conn2) => conn2.flush(), async (conn2) => {
    await rejectsWithCode(() => objectStoreFileServer({ connection: conn2, bucket: "hung" }), "TIMEOUT",
      /Cannot open Object Store bucket "hung": the server did not answer/);
  });
});

test("a JetStream send to a server that does not answer is ABORTED as soon as its signal aborts", async () => {
  // The signal was not passed on: the send went on waiting and retrying for
  // seconds, and resolved once the server came back.
  await againstHungServer((conn) => ensureStream(conn, { name: "HUNG", subjects: ["hung.>"] }), async (conn) => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const t0 = Date.now();
    const err = await rejectsWithCode(
      () => smartsend("hung.x", [["t", "x", "text"]], { nats_connection: conn, jetstream: true, signal: ac.signal, logger: quiet }),
      "ABORTED",
    );
    assert.ok(Date.now() - t0 < 2000, `aborted after ${Date.now() - t0} ms`);
    assert.ok(err.correlationId);
  });
});

test("an Object Store upload to a server that stopped answering is ABORTED as soon as its signal aborts", async () => {
  // Waits for chunk acks were not raced against the signal: an abort at 0.5 s
  // still had the send pending 15 s later.
  await againstHungServer((conn) => objectStoreFileServer({ connection: conn, bucket: "hung_put" }), async (_conn, store) => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 500);
    const t0 = Date.now();
    await rejectsWithCode(
      () => smartsend("x", [["big", bytesOf(20_000_000, 3), "binary"]], { is_publish: false, fileserver: store, signal: ac.signal, logger: quiet }),
      "ABORTED",
    );
    assert.ok(Date.now() - t0 < 3500, `settled after ${Date.now() - t0} ms`);
  });
});

test("Bridge.close() lets the sends in progress finish before it drains", async () => {
  // close() drained at once: a 40 MB Object Store send then failed on the
  // closed connection and left its chunks behind.
  const own = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  const store = await objectStoreFileServer({ connection: own.connection, bucket: "close_mid" });
  const sending = own.send("close.mid", [["big", bytesOf(40_000_000, 5), "binary"]], { fileserver: store });
  await new Promise((r) => setTimeout(r, 20));
  await own.close();
  const [env] = await sending;
  assert.equal(env.payloads[0].transport, "link");
  const nc = await connect({ servers: nats.url });
  try {
    const got = await smartreceive(env, { fileserver: await objectStoreFileServer({ connection: nc, bucket: "close_mid" }), logger: quiet });
    assert.equal((got.payloads[0][1] as Uint8Array).byteLength, 40_000_000);
  } finally {
    await nc.close();
  }
});

test("a subscription whose loop falls behind by more than 64 MiB says so, once", async () => {
  // Its backlog grew in memory without a word (400 MB published, 785 MB held):
  // an async loop keeps the socket read, so the server never cut it off.
  const lines: string[] = [];
  // A server that lets the client be 512 MB behind: on a loaded machine the
  // client's reads fell behind the burst and the default 64 MiB cut it off.
  const roomy = await startNats({ config: "max_pending: 536870912" });
  const b = await Bridge.connect({ broker_url: roomy.url, logger: { log: (level, line) => lines.push(`${level} ${line}`) } });
  const ac = new AbortController();
  let handled = 0;
  const loop = (async () => {
    for await (const _ of b.subscribe("behind", { signal: ac.signal })) {
      if (handled++ === 0) await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  await b.connection.flush();
  const [, json] = await smartsend("behind", [["b", bytesOf(100_000, 1), "binary"]], { is_publish: false, logger: quiet });
  const nc = await connect({ servers: roomy.url });
  for (let i = 0; i < 800; i++) nc.publish("behind", json); // ~107 MB as base64 in JSON
  await nc.flush();
  await pollUntil(() => handled === 800, 30_000);
  ac.abort();
  await loop;
  await Promise.all([nc.close(), b.close()]);
  await roomy.stop();
  assert.equal(handled, 800);
  const warnings = lines.filter((l) => /^warn /.test(l));
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(warnings[0], /Subscription to "behind" has \d+ messages \(about \d+ MiB\) waiting in memory: its loop is slower than they arrive/);
});

test("close() of a bridge with its own connection hands no more buffered messages to its loops", async () => {
  // The loop went on for seconds after close() resolved, handling every
  // buffered request (37 of 40) whose reply could then only fail; a bridge
  // over the application's connection already stopped at once.
  const clients = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  const svc = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  let closing = false;
  let handedAfter = 0;
  const loop = (async () => {
    for await (const env of svc.subscribe("svc.buffered")) {
      if (closing) handedAfter++;
      await new Promise((r) => setTimeout(r, 50));
      await svc.reply(env, [["r", "done", "text"]]).catch(() => {});
    }
  })();
  await svc.connection.flush();
  const requests = Array.from({ length: 20 }, (_, i) => clients.request("svc.buffered", [["q", String(i), "text"]], { timeout: 1500 }).catch((e) => e.code));
  await new Promise((r) => setTimeout(r, 120));
  closing = true;
  await svc.close();
  await loop;
  assert.equal(handedAfter, 0);
  await Promise.all(requests);
  await clients.close();
});

test("a send or receive whose own handler never answers is ABORTED when its signal or close() aborts it", async () => {
  // The spec's handlers take no signal: one that never settled held the send
  // (and every send queued behind it on its subject) and the receive for ever,
  // though the signal was aborted and close() had timed out.
  const hung = () => new Promise<never>(() => {});
  const big = bytesOf(600_000, 3);
  const aborted = AbortSignal.timeout(100);
  await rejectsWithCode(() => smartsend("hung", [["b", big, "binary"]], { is_publish: false, fileserver_upload_handler: hung, signal: aborted, logger: quiet }), "ABORTED");
  const [, json] = await smartsend("hung", [["b", big, "binary"]], { is_publish: false, size_threshold: 1, fileserver_url: plik.url, logger: quiet });
  for (const stream of [false, true]) {
    const ac = new AbortController();
    const receiving = smartreceive(json, { fileserver_url: plik.url, fileserver_download_handler: hung, stream, signal: ac.signal, logger: quiet });
    await new Promise((r) => setTimeout(r, 50));
    // With stream: true the caller's signal held the download's controller
    // weakly, and a hung handler holds nothing: collected, the abort never came.
    forcedGc()?.();
    ac.abort();
    await rejectsWithCode(() => receiving, "ABORTED");
  }
  const own = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  const sending = own.send("hung", [["b", big, "binary"]], { fileserver_upload_handler: hung });
  const after = own.send("hung", [["small", "x", "text"]]);
  await own.close({ timeout: 200 });
  await rejectsWithCode(() => sending, "ABORTED");
  await rejectsWithCode(() => after, "ABORTED");
  // A handler that answers after the abort: what it stored is removed, as no message points to it.
  let removed = 0;
  const late = () => new Promise((r) => setTimeout(r, 300)).then(() => ({ status: 200, uploadid: "u", fileid: "f", url: "http://127.0.0.1:1/f", remove: () => Promise.resolve(void removed++) }));
  await rejectsWithCode(() => smartsend("hung", [["b", big, "binary"]], { is_publish: false, fileserver_upload_handler: late, signal: AbortSignal.timeout(100), logger: quiet }), "ABORTED");
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(removed, 1);
});

test("Bridge.close({ timeout }) shorter than a send aborts it, which leaves no chunks behind, instead of draining under it", async () => {
  // The drain failed the put on the closing connection: it "resumed" on it,
  // and left 14 MB of chunks no object points to.
  const own = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  const store = await objectStoreFileServer({ connection: own.connection, bucket: "close_short" });
  const slow = new ReadableStream<Uint8Array>({
    async pull(c) {
      await new Promise((r) => setTimeout(r, 20));
      c.enqueue(bytesOf(256 * 1024, 6));
    },
  });
  const sending = own.send("close.short", [["endless", slow, "binary"]], { fileserver: store });
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  await own.close({ timeout: 200 });
  assert.ok(Date.now() - t0 < 3000, `close took ${Date.now() - t0} ms`);
  await rejectsWithCode(() => sending, "ABORTED");
  const nc = await connect({ servers: nats.url });
  try {
    const si = await (await jetstreamManager(nc)).streams.info("OBJ_close_short");
    assert.equal(si.state.messages, 0, `${si.state.messages} chunks left behind`);
  } finally {
    await nc.close();
  }
});

test("a link outside the allowed origins is refused without any request reaching it", async () => {
  const evil = await httpServer((_req, res) => res.end("secret"));
  const [, json] = await smartsend("ssrf", [["f", bytesOf(100), "binary"]], {
    is_publish: false, size_threshold: 1, fileserver_url: plik.url,
  });
  const pointed = JSON.parse(json);
  pointed.payloads[0].data = `${evil.url}/file/x/y/z`;
  await rejectsWithCode(() => smartreceive(pointed, { fileserver_url: plik.url, logger: quiet }), "ORIGIN_REFUSED");
  assert.equal(evil.requests, 0);
  await evil.close();
});

for (const honoursRange of [true, false]) {
  test(`a streamed download that breaks off goes on from where it broke (server ${honoursRange ? "answers the Range" : "ignores the Range"})`, async () => {
    const data = bytesOf(3_000_000, 31);
    const [, json] = await smartsend("cut", [["f", data, "binary"]], { is_publish: false, size_threshold: 1, fileserver_url: plik.url });
    const ranges: (string | undefined)[] = [];
    // In front of the real Plik: the first response is cut after 1 MB.
    const proxy = await httpServer(async (req, res) => {
      const range = (req as { headers?: Record<string, string> }).headers?.range;
      ranges.push(range);
      const upstream = await fetch(plik.url + req.url, { headers: honoursRange && range ? { range } : {} });
      const body = new Uint8Array(await upstream.arrayBuffer());
      const headers: Record<string, string> = { "content-length": String(body.byteLength) };
      const contentRange = upstream.headers.get("content-range");
      if (contentRange) headers["content-range"] = contentRange;
      res.writeHead(upstream.status, headers);
      if (ranges.length === 1) {
        res.write(body.subarray(0, 1_000_000));
        setTimeout(() => (res as unknown as { destroy(): void }).destroy(), 50);
        return;
      }
      res.end(body);
    });
    const lines: string[] = [];
    const env = await smartreceive(json.replaceAll(plik.url, proxy.url), {
      fileserver_url: proxy.url,
      stream: true,
      base_delay: 20,
      logger: { log: (_l, line) => lines.push(line) },
    });
    const got = new Uint8Array(await new Response(env.payloads[0][1] as ReadableStream<Uint8Array>).arrayBuffer());
    assert.equal(got.byteLength, data.byteLength);
    assert.ok(got.every((b, i) => b === data[i]), "the bytes, in order, once");
    assert.equal(ranges.length, 2);
    assert.equal(ranges[0], undefined);
    assert.match(ranges[1] ?? "", /^bytes=\d+-$/);
    assert.match(lines.join("\n"), /Download of "f" broke off at \d+ bytes \(.*\); resuming from there/);
    await proxy.close();
  });
}

for (const answer of [200, 206]) {
  test(`a streamed download that keeps breaking off without progress fails DOWNLOAD_FAILED after max_retries, not for ever (server answers ${answer})`, async () => {
    // A hostile or broken server: each response breaks off before any new
    // byte, so every resume starts from the same place.
    let requests = 0;
    const breaker = await httpServer((req, res) => {
      requests++;
      const ranged = answer === 206 && (req as { headers?: Record<string, string> }).headers?.range;
      res.writeHead(ranged ? 206 : 200, ranged ? { "content-range": "bytes 100-999/1000", "content-length": "900" } : { "content-length": "1000" });
      res.write(new Uint8Array(ranged ? 0 : 100));
      setTimeout(() => (res as unknown as { destroy(): void }).destroy(), 5);
    });
    const [, json] = await smartsend("cut", [["f", bytesOf(1000), "binary"]], { is_publish: false, size_threshold: 1, fileserver_url: plik.url });
    const pointed = JSON.parse(json);
    pointed.payloads[0].data = `${breaker.url}/file/x/y/f`;
    const env = await smartreceive(pointed, { allowed_origins: [breaker.url], stream: true, max_retries: 3, base_delay: 10, logger: quiet });
    const stream = env.payloads[0][1] as ReadableStream<Uint8Array>;
    const read = new Response(stream).arrayBuffer();
    const e = await rejectsWithCode(
      () => Promise.race([read, new Promise((_, no) => setTimeout(() => no(new Error(`still reading after 10 s, ${requests} requests`)), 10_000))]),
      "DOWNLOAD_FAILED",
      /the last 3 resumes brought nothing new, the server breaking off each time \(at byte 100 now;/,
    );
    assert.equal(e.dataname, "f");
    assert.ok(requests <= 4, `${requests} requests`);
    await breaker.close();
  });
}

test("a streamed download whose server drips a byte per connection gives up too; one break with max_retries 1 still resumes", async () => {
  // Any progress reset the count: one new byte per connection made a request
  // per byte, for hours on a large link. And with max_retries 1 the first
  // break, after 100,000 new bytes, ended the download.
  const size = 200_000;
  const data = bytesOf(size, 9);
  let requests = 0;
  let mode: "drip" | "once" = "drip";
  const server = await httpServer((req, res) => {
    requests++;
    const range = /bytes=(\d+)-/.exec((req as { headers?: Record<string, string> }).headers?.range ?? "");
    const from = range ? Number(range[1]) : 0;
    const head: Record<string, string> = range
      ? { "content-range": `bytes ${from}-${size - 1}/${size}`, "content-length": String(size - from) }
      : { "content-length": String(size) };
    res.writeHead(range ? 206 : 200, head);
    if (mode === "once" && requests > 1) return res.end(data.subarray(from));
    res.write(data.subarray(from, from + (mode === "drip" && from > 0 ? 1 : 100_000)));
    setTimeout(() => (res as unknown as { destroy(): void }).destroy(), 5);
  });
  const [, json] = await smartsend("cut", [["f", data, "binary"]], { is_publish: false, size_threshold: 1, fileserver_url: plik.url });
  const pointed = JSON.parse(json);
  pointed.payloads[0].data = `${server.url}/file/x/y/f`;
  const read = async (max_retries: number) => {
    const env = await smartreceive(pointed, { allowed_origins: [server.url], stream: true, max_retries, base_delay: 10, logger: quiet });
    return new Uint8Array(await new Response(env.payloads[0][1] as ReadableStream<Uint8Array>).arrayBuffer());
  };
  const late = () => new Promise((_, no) => setTimeout(() => no(new Error(`still reading after 10 s, ${requests} requests`)), 10_000));
  await rejectsWithCode(() => Promise.race([read(3), late()]), "DOWNLOAD_FAILED", /brought too little new/);
  assert.ok(requests <= 5, `${requests} requests`);
  mode = "once";
  requests = 0;
  assert.deepEqual(await read(1), data);
  assert.equal(requests, 2);
  await server.close();
});

test("a server sending more bytes than announced is cut off with PAYLOAD_TOO_LARGE", async () => {
  const liar = await httpServer((_req, res) => {
    res.writeHead(200);
    res.write(new Uint8Array(64 * 1024));
    res.end(new Uint8Array(64 * 1024));
  });
  const [, json] = await smartsend("liar", [["f", bytesOf(100), "binary"]], {
    is_publish: false, size_threshold: 1, fileserver_url: plik.url,
  });
  const pointed = JSON.parse(json);
  pointed.payloads[0].data = `${liar.url}/file/x`;
  await rejectsWithCode(() => smartreceive(pointed, { allowed_origins: [liar.url], logger: quiet }), "PAYLOAD_TOO_LARGE");
  await liar.close();
});

test("an AbortSignal cancels a stalled download promptly", async () => {
  const stall = await httpServer(() => { /* never answers */ });
  const env = JSON.parse((await smartsend("abort", [["f", bytesOf(100), "binary"]], {
    is_publish: false, size_threshold: 1, fileserver_url: plik.url,
  }))[1]);
  env.payloads[0].data = `${stall.url}/f`;
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  const t0 = Date.now();
  await rejectsWithCode(() => smartreceive(env, { allowed_origins: [stall.url], signal: ac.signal, logger: quiet }), "ABORTED");
  assert.ok(Date.now() - t0 < 3000);
  await stall.close();
});

test("Bridge.request() surfaces a reply that fails to decode instead of timing out", async () => {
  const service = bridge.subscribe("svc.broken");
  (async () => {
    for await (const env of service) {
      const [, json] = await smartsend(env.reply_to, [["r", "x", "text"]], {
        is_publish: false, reply_to_msg_id: env.msg_id, correlation_id: env.correlation_id,
      });
      const bad = JSON.parse(json);
      bad.payloads[0].metadata.checksum = "0".repeat(64);
      bridge.connection.publish(env.reply_to, JSON.stringify(bad));
    }
  })();
  const t0 = Date.now();
  await rejectsWithCode(() => bridge.request("svc.broken", [["q", "?", "text"]], { timeout: 5000 }), "CHECKSUM_MISMATCH");
  assert.ok(Date.now() - t0 < 4000, "did not wait for the timeout");
  service.unsubscribe();
});

test("Bridge.subscribe() with a signal already aborted delivers nothing and ends", async () => {
  // The abort listener never fired for a signal aborted before the call, so messages kept coming.
  const ac = new AbortController();
  ac.abort();
  const got: string[] = [];
  const done = (async () => {
    for await (const env of bridge.subscribe("pre.aborted", { signal: ac.signal })) got.push(env.msg_id);
  })();
  await bridge.send("pre.aborted", [["t", "hi", "text"]]);
  await bridge.connection.flush();
  const ended = await Promise.race([done.then(() => true), new Promise((r) => setTimeout(() => r(false), 1000))]);
  assert.deepEqual([ended, got], [true, []]);
});

test("Bridge.request() whose timeout passes while its payloads are still uploading is TIMEOUT, not ABORTED", async () => {
  const stalled = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) });
  const err = await rejectsWithCode(
    () => bridge.request("svc.slow", [["big", stalled, "binary"]], { timeout: 300 }),
    "TIMEOUT",
    /within 300 ms/,
  );
  assert.ok(err.correlationId, "the request's correlation id");
});

test("ensureStream() keeps the subjects a stream already has", async () => {
  const { ensureStream } = await import("natsbridge");
  await ensureStream(bridge.connection, { name: "MERGE", subjects: ["merge.a"] });
  await ensureStream(bridge.connection, { name: "MERGE", subjects: ["merge.b"] });
  const info = await (await jetstreamManager(bridge.connection)).streams.info("MERGE");
  assert.deepEqual([...info.config.subjects].sort(), ["merge.a", "merge.b"]);
});

test("a JetStream publish to a subject no stream captures fails fast and says so", async () => {
  const t0 = Date.now();
  await rejectsWithCode(() => bridge.send("nostream.here", [["t", "x", "text"]], { jetstream: true }), "PUBLISH_FAILED", /No JetStream stream captures/);
  assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
});

test("options that are not an object are INVALID_OPTION saying so, not an unknown option \"0\"", async () => {
  // smartsend("s", [], "x") said: Unknown smartsend option "0".
  await rejectsWithCode(() => smartsend("s", [], "x" as never), "INVALID_OPTION", /^smartsend options must be an object, got "x"$/);
  const [, json] = await smartsend("s", [["t", "x", "text"]], { is_publish: false });
  await rejectsWithCode(() => smartreceive(json, 5 as never), "INVALID_OPTION", /^receive options must be an object, got 5$/);
  await rejectsWithCode(() => Promise.resolve().then(() => bridge.subscribe("s", ["queue"] as never)), "INVALID_OPTION", /^subscribe options must be an object, got an array$/);
});

test("a misspelled option is INVALID_OPTION naming the one meant, wherever options are taken", async () => {
  // Each was ignored: isPublish: false published, fileserverUrl uploaded to
  // localhost:8080, brokerUrl connected to localhost:4222.
  const [, json] = await smartsend("typo", [["t", "x", "text"]], { is_publish: false });
  const cases: [() => unknown, RegExp][] = [
    [() => smartsend("typo", [["t", "x", "text"]], { isPublish: false } as never), /Unknown smartsend option "isPublish" \(did you mean "is_publish"\?\)/],
    [() => smartsend("typo", [["t", "x", "text"]], { is_publish: false, fileserverUrl: "http://x" } as never), /"fileserverUrl" \(did you mean "fileserver_url"\?\)/],
    [() => smartreceive(json, { allowedOrigins: [] } as never), /Unknown receive option "allowedOrigins" \(did you mean "allowed_origins"\?\)/],
    [() => Bridge.connect({ brokerUrl: nats.url } as never), /Unknown Bridge.connect option "brokerUrl" \(did you mean "broker_url"\?\)/],
    [() => bridge.subscribe("typo", { onError: () => {} } as never), /Unknown subscribe option "onError" \(did you mean "on_error"\?\)/],
    [() => bridge.subscribe("typo", { receive: { maxRetries: 3 } } as never), /"maxRetries" \(did you mean "max_retries"\?\)/],
    [() => bridge.send("typo", [["t", "x", "text"]], { jetStream: true } as never), /"jetStream" \(did you mean "jetstream"\?\)/],
    [() => bridge.request("typo", [["t", "x", "text"]], { timout: 5 } as never), /Unknown smartsend option "timout"/],
    [() => (async () => { for await (const _ of bridge.consume({ stream: "S", durable: "d", maxDeliver: 2 } as never)) break; })(), /"maxDeliver" \(did you mean "max_deliver"\?\)/],
  ];
  for (const [call, message] of cases) await rejectsWithCode(call, "INVALID_OPTION", message);
  // Options left undefined are no slip (spread from a config that lacks them).
  await smartsend("typo", [["t", "x", "text"]], { is_publish: false, whatever: undefined } as never);
});

test("send options that cannot work are INVALID_OPTION before anything is uploaded or sent", async () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    // Each was accepted: a JetStream publish retried 10 times over 11 s, a string "false" published to
    // JetStream, a reply_to the replier could not answer, an upload to a URL fetch could not parse.
    [{ jetstream: "false" }, /jetstream must be true, false or JetStream publish options/],
    [{ jetstream: { timeout: -5 } }, /timeout must be a whole number of ms/],
    [{ jetstream: { attempts: 0 } }, /attempts must be an integer ≥ 1/],
    [{ jetstream: { expect_stream: 5 } }, /expect_stream must be a non-empty string/],
    [{ reply_to: "a b" }, /reply_to "a b" must not contain whitespace/],
    [{ on_progress: 5 }, /on_progress/],
    [{ fileserver_url: "127.0.0.1:8080" }, /fileserver_url must be an http\(s\) URL/],
    [{ broker_url: "" , nats_connection: undefined }, /broker_url must be NATS URL\(s\) like "nats:\/\/host:4222", got ""/],
    [{ broker_url: "nats://u:secret@not a host", nats_connection: undefined }, /got "nats:\/\/\*\*\*@not a host"/],
  ];
  for (const [options, message] of bad) {
    await rejectsWithCode(() => smartsend("opts.bad", [["t", "x", "text"]], { logger: quiet, nats_connection: bridge.connection, ...options } as never), "INVALID_OPTION", message);
  }
});

test("a broker_url of a scheme the runtime's build cannot dial is INVALID_OPTION, not a CONNECTION_FAILED to retry", async () => {
  // ws:// outside the browser build, and nats:// (or the nats://localhost
  // default) inside it, were CONNECTION_FAILED, which applications retry as
  // an outage: a misconfiguration then retried for ever.
  const e = await rejectsWithCode(() => Bridge.connect({ broker_url: "ws://127.0.0.1:1", logger: quiet }), "INVALID_OPTION", /ws:\/\/ and wss:\/\/ need natsbridge's browser build/);
  assert.equal(e.field, "broker_url");
  const { openConnection } = await import("../engine/platform/connect_browser.ts");
  for (const servers of ["nats://127.0.0.1:4222", "http://127.0.0.1:8443"]) {
    const b = await rejectsWithCode(() => openConnection({ servers }), "INVALID_OPTION", /browsers reach NATS over WebSocket only: .* is not a ws:\/\/ or wss:\/\/ URL/);
    assert.equal(b.field, "broker_url");
  }
});

test("a JetStream publish to a subject no stream captures, with a plain subscriber on it, fails fast and says so", async () => {
  // No "no responders" then: every attempt timed out, 10 of them over 60 s,
  // and the subscriber got the message 10 times.
  const sub = bridge.connection.subscribe("nostream.heard");
  let copies = 0;
  void (async () => { for await (const _ of sub) copies++; })();
  const t0 = Date.now();
  await rejectsWithCode(
    () => bridge.send("nostream.heard", [["t", "x", "text"]], { jetstream: { timeout: 500 } }),
    "PUBLISH_FAILED",
    /No JetStream stream captures "nostream.heard"/,
  );
  assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
  assert.equal(copies, 1);
  sub.unsubscribe();
});

test("a Plik server that refuses a large upload part-way is UPLOAD_FAILED with its own reason, at once, from every source", async () => {
  // On Node the server's answer was dropped for the broken pipe it left:
  // "Cannot reach the Plik server: write EPIPE", and 100 MB sent 4 times.
  const strict = await startPlik({ args: ["-max-file-size", "5000000"] });
  const dir = mkdtempSync(join(tmpdir(), "natsbridge-big-"));
  try {
    const big = bytesOf(40_000_000, 3);
    const path = join(dir, "big.bin");
    writeFileSync(path, big);
    const sources: [string, unknown][] = [["bytes", big], ["file", path], ["blob", new Blob([big as Uint8Array<ArrayBuffer>])]];
    for (const [what, data] of sources) {
      const t0 = Date.now();
      await rejectsWithCode(
        () => smartsend("too.big", [["big", data, "binary"]], { is_publish: false, fileserver_url: strict.url, logger: quiet } as never),
        "UPLOAD_FAILED",
        /Plik refused to upload the file: HTTP 400.*too big/,
      );
      assert.ok(Date.now() - t0 < 5000, `${what}: took ${Date.now() - t0} ms`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await strict.stop();
  }
});

test("a Plik upload of bytes that is tried again says so in the log, as a file's does", async () => {
  let creates = 0;
  const flaky = await httpServer((req, res) => {
    if (req.url === "/upload" && creates++ === 0) return res.writeHead(503).end();
    (req as unknown as NodeJS.ReadableStream).resume();
    (req as unknown as NodeJS.ReadableStream).on("end", () => {
      res.writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify(req.url === "/upload" ? { id: "u1", uploadToken: "t" } : { id: "f1", fileName: "b" }));
    });
  });
  const lines: string[] = [];
  const logger = { log: (level: string, line: string) => lines.push(`${level} ${line}`) };
  const [env] = await smartsend("retry.log", [["b", bytesOf(600_000), "binary"]], {
    is_publish: false, fileserver_url: flaky.url, logger,
  });
  assert.equal(env.payloads[0].transport, "link");
  assert.ok(lines.some((l) => /^warn .*Upload of "b" failed \(.*503.*\), trying again from the start in \d+ ms \(attempt 2\)/.test(l)), lines.join("\n"));
  await flaky.close();
});

test("a send, reply or request through a bridge refuses a connection of its own: INVALID_OPTION, not ignored", async () => {
  // nats_connection and connect_options were silently overridden by the
  // bridge's, and broker_url went into the envelope though it was not used.
  const env = { reply_to: "_INBOX.x", msg_id: "m", correlation_id: "c" };
  for (const [key, value] of [["nats_connection", bridge.connection], ["connect_options", { name: "x" }], ["broker_url", "nats://elsewhere:4222"]] as const) {
    const options = { [key]: value } as never;
    const why = new RegExp(`${key} is the bridge's: give it to Bridge.connect`);
    await rejectsWithCode(() => bridge.send("own", [["t", "x", "text"]], options), "INVALID_OPTION", why);
    await rejectsWithCode(() => bridge.reply(env, [["t", "x", "text"]], options), "INVALID_OPTION", why);
    await rejectsWithCode(() => bridge.request("own", [["t", "x", "text"]], options), "INVALID_OPTION", why);
  }
});

test("store options that cannot work are INVALID_OPTION when the store is made", async () => {
  await rejectsWithCode(() => plikFileServer({ url: "not a url" }), "INVALID_OPTION", /url must be an http\(s\) URL, got "not a url"/);
  await rejectsWithCode(() => plikFileServer({ url: "ftp://127.0.0.1/" }), "INVALID_OPTION", /url must be an http\(s\) URL/);
  // These failed at upload time as UPLOAD_FAILED "HTTP 400 cannot unmarshal", or were ignored.
  await rejectsWithCode(() => plikFileServer({ oneShot: "false" as never }), "INVALID_OPTION", /oneShot must be true or false/);
  await rejectsWithCode(() => plikFileServer({ ttl: "1h" as never }), "INVALID_OPTION", /ttl must be an integer ≥ -1, got "1h"/);
  // A number written as a string was shown as the number: "got 5" for "5".
  await rejectsWithCode(() => plikFileServer({ ttl: "5" as never }), "INVALID_OPTION", /ttl must be an integer ≥ -1, got "5" \(a string\)/);
  await rejectsWithCode(() => plikFileServer({ idleTimeout: "5" as never }), "INVALID_OPTION", /idleTimeout must be .*, got "5" \(a string\)/);
  await rejectsWithCode(() => plikFileServer({ idleTimeout: [5] as never }), "INVALID_OPTION", /idleTimeout must be .*, got an array$/);
  await rejectsWithCode(() => plikFileServer({ ttl: 1.5 }), "INVALID_OPTION", /ttl must be an integer ≥ -1/);
  await rejectsWithCode(() => plikFileServer({ ttl: -2 }), "INVALID_OPTION", /ttl must be an integer ≥ -1/);
  // -1 is Plik's "never expires": kept, as before the check.
  const [kept] = await smartsend("ttl.forever", [["b", bytesOf(2000), "binary"]], {
    is_publish: false, size_threshold: 1, fileserver: plikFileServer({ url: plik.url, ttl: -1 }), logger: quiet,
  });
  assert.equal(kept.payloads[0].transport, "link");
  await rejectsWithCode(() => plikFileServer({ token: 5 as never }), "INVALID_OPTION", /token must be a string/);
  await rejectsWithCode(() => plikFileServer("http://127.0.0.1:8080" as never), "INVALID_OPTION", /options must be an object like \{ url: "http:\/\/host:8080" \}/);
  assert.deepEqual(plikFileServer(null as never).origins, []);
  await rejectsWithCode(() => plikFileServer({ one_shot: true } as never), "INVALID_OPTION", /"one_shot" \(did you mean "oneShot"\?\)/);
  await rejectsWithCode(() => objectStoreFileServer({ connection: bridge.connection, Bucket: "x" } as never), "INVALID_OPTION", /"Bucket" \(did you mean "bucket"\?\)/);
  await rejectsWithCode(() => objectStoreFileServer({ connection: bridge.connection, bucket: 5 as never }), "INVALID_OPTION", /bucket/);
  await rejectsWithCode(() => objectStoreFileServer(null as never), "INVALID_OPTION", /connection must be an open NATS connection/);
  await rejectsWithCode(() => objectStoreFileServer({ connection: undefined as never }), "INVALID_OPTION", /connection must be an open NATS connection/);
  const conn = await connect({ servers: nats.url });
  try {
    await rejectsWithCode(() => objectStoreFileServer({ connection: conn, bucket: "a.b" }), "INVALID_OPTION",
      /bucket name must match \[A-Za-z0-9_-\]\+, got "a.b"/);
  } finally {
    await conn.close();
  }
});

test("a subscription stops at once when its signal aborts, also with messages already buffered", async () => {
  // nats.js hands over what it had buffered after unsubscribe: the loop body ran 180 more times.
  const ac = new AbortController();
  const sub = bridge.subscribe("buffered.stop", { signal: ac.signal });
  for (let i = 0; i < 200; i++) await bridge.send("buffered.stop", [["n", { i }, "dictionary"]]);
  await bridge.connection.flush();
  let seen = 0;
  for await (const _ of sub) {
    if (++seen === 20) ac.abort();
  }
  assert.equal(seen, 20);
});

test("a request whose connection closes before the reply is CONNECTION_FAILED, not TIMEOUT", async () => {
  const own = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  const t0 = Date.now();
  const asking = own.request("nobody.answers", [["q", "?", "text"]], { timeout: 10_000 });
  setTimeout(() => void own.connection.close(), 200);
  await rejectsWithCode(() => asking, "CONNECTION_FAILED", /No reply on "nobody\.answers": the connection closed/);
  assert.ok(Date.now() - t0 < 5000);
  await own.close();
});

test("a file upload that fails closes its file, on every attempt, without waiting for the garbage collector", async () => {
  // The stream was locked by the upload, so cancel() was refused and the handle
  // waited for the garbage collector (Bun: "A FileHandle object was closed
  // during garbage collection"; Node: DEP0137), one per retry.
  const dir = mkdtempSync(join(tmpdir(), "natsbridge-fh-"));
  const path = join(dir, "big.bin");
  writeFileSync(path, bytesOf(3_000_000, 5));
  // A file server that fails mid-body (a Plik killed during the upload), and then
  // refuses to start the next uploads (restarting): those never read the file.
  let uploads = 0;
  const dying = createServer((req, res) => {
    if (req.url === "/upload") {
      if (uploads++ > 0) return void res.writeHead(503).end("restarting");
      return void res.end(JSON.stringify({ id: "u", uploadToken: "t" }));
    }
    req.once("data", () => req.socket.destroy());
  });
  await new Promise<void>((r) => dying.listen(0, "127.0.0.1", () => r()));
  const refusing = {
    url: `http://127.0.0.1:${(dying.address() as { port: number }).port}`,
    close: () => new Promise<void>((r) => { dying.closeAllConnections(); dying.close(() => r()); }),
  };
  const openOnFile = () =>
    readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === path;
      } catch {
        return false;
      }
    }).length;
  try {
    await rejectsWithCode(
      () => bridge.send("fh.leak", [["big", path, "binary"]], { fileserver: plikFileServer({ url: refusing.url }) }),
      "UPLOAD_FAILED",
    );
    // Closed, not left to the garbage collector: gone within a moment (Deno closes a read in flight after it).
    for (let i = 0; i < 20 && openOnFile() > 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(openOnFile(), 0, "file handles left open");
  } finally {
    await refusing.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an AbortSignal ends a download received as a stream mid-body, at once", async () => {
  // On Deno the body went on to its end (20 s through a slow link) after Ctrl-C:
  // the abort reached fetch, which had already returned the response.
  const size = 4 * 1024 * 1024;
  const slow = await httpServer((_req, res) => {
    res.writeHead(200, { "content-length": String(size) });
    let sent = 0;
    const timer = setInterval(() => {
      if (sent >= size) return clearInterval(timer);
      res.write(new Uint8Array(64 * 1024));
      sent += 64 * 1024;
    }, 50);
  });
  const env = JSON.parse((await smartsend("abort", [["f", bytesOf(100), "binary"]], {
    is_publish: false, size_threshold: 1, fileserver_url: plik.url,
  }))[1]);
  env.payloads[0].data = `${slow.url}/f`;
  env.payloads[0].size = size;
  delete env.payloads[0].metadata.checksum;
  const ac = new AbortController();
  const got = await smartreceive(env, { allowed_origins: [slow.url], signal: ac.signal, stream: true, logger: quiet });
  const reader = (got.payloads[0][1] as ReadableStream<Uint8Array>).getReader();
  await reader.read();
  ac.abort();
  const t0 = Date.now();
  await rejectsWithCode(async () => { for (;;) if ((await reader.read()).done) break; }, "ABORTED");
  assert.ok(Date.now() - t0 < 1000, `ended after ${Date.now() - t0} ms`);
  await slow.close();
});

test("Bridge.reply to an envelope without reply_to rejects its promise instead of throwing", async () => {
  // It threw synchronously: a service doing reply(...).catch(...) died on a plain message.
  let replying: Promise<unknown> | undefined;
  assert.doesNotThrow(() => {
    replying = bridge.reply({ reply_to: "", msg_id: "m-1", correlation_id: "c-1" }, [["t", "x", "text"]]);
  });
  const e = await rejectsWithCode(() => replying!, "INVALID_OPTION", /no reply_to/);
  assert.equal(e.correlationId, "c-1");
});

test("the link payloads one message would hold in memory together are capped by max_download_bytes, before any request", async () => {
  // The cap was per payload, and all were fetched at once: a 3 KB envelope
  // linking one 200 MB file ten times took the receiver to 2 GB.
  const files = await httpServer((_req, res) => res.end(new Uint8Array(1000)));
  const [, json] = await smartsend("cap", [["a", bytesOf(1000), "binary"]], { is_publish: false, size_threshold: 1, fileserver_url: plik.url, logger: quiet });
  const env = JSON.parse(json);
  const link = { ...env.payloads[0], data: `${files.url}/f`, metadata: {} };
  env.payloads = [0, 1, 2].map((i) => ({ ...link, id: `p${i}`, dataname: `p${i}` }));
  const options = { allowed_origins: [files.url], max_download_bytes: 2500, logger: quiet };
  await rejectsWithCode(() => smartreceive(env, options), "PAYLOAD_TOO_LARGE", /announce 3000 bytes together/);
  assert.equal(files.requests, 0);
  // As streams they are not held: each is within the cap.
  const streamed = await smartreceive(env, { ...options, stream: true });
  assert.equal(streamed.payloads.length, 3);
  for (const [, s] of streamed.payloads) await (s as ReadableStream<Uint8Array>).cancel();
  await files.close();
});

test("a file server that redirects a link is refused at once, saying so, and the other origin is never asked", async () => {
  // fetch's redirect: "error" failed as "fetch failed", retried four more times.
  const other = await httpServer((_req, res) => res.end("elsewhere"));
  const redirecting = await httpServer((_req, res) => res.writeHead(302, { location: `${other.url}/f` }).end());
  const [, json] = await smartsend("redir", [["f", bytesOf(100), "binary"]], { is_publish: false, size_threshold: 1, fileserver_url: plik.url, logger: quiet });
  const env = JSON.parse(json);
  env.payloads[0].data = `${redirecting.url}/f`;
  await rejectsWithCode(
    () => smartreceive(env, { allowed_origins: [redirecting.url], logger: quiet }),
    "DOWNLOAD_FAILED",
    new RegExp(`redirect.*${other.url.replace(/[.:/]/g, "\\$&")}.*no redirects`),
  );
  assert.deepEqual([redirecting.requests, other.requests], [1, 0]);
  await other.close();
  await redirecting.close();
});

test("a subscription whose connection closes for good (reconnects given up) fails CONNECTION_FAILED; one ended by close() ends quietly", async () => {
  // It ended like a subscription that was asked to stop: a service's loop
  // finished and the process exited 0, receiving nothing more.
  const own = await startNats();
  const b = await Bridge.connect({ broker_url: own.url, logger: quiet, connect_options: { maxReconnectAttempts: 1, reconnectTimeWait: 50 } });
  const ended = (async () => {
    for await (const _ of b.subscribe("gone")) { /* nothing arrives */ }
  })();
  await b.connection.flush();
  await own.stop();
  await rejectsWithCode(() => ended, "CONNECTION_FAILED", /Subscription to "gone" ended: the connection to NATS closed/);
  await b.close();
  const other = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  const closing = (async () => {
    for await (const _ of other.subscribe("stays")) { /* nothing arrives */ }
  })();
  await other.connection.flush();
  await other.close();
  await closing; // no error
});

test("the bridge logs losing and regaining its connection: core messages sent meanwhile are lost, and nothing said so", async () => {
  // A server that cuts off a slow consumer, or restarts, lost every message
  // published meanwhile to the bridge's subscriptions without a log line.
  const own = await startNats();
  const lines: string[] = [];
  const b = await Bridge.connect({ broker_url: own.url, logger: { log: (_l, line) => lines.push(line) }, connect_options: { reconnectTimeWait: 50 } });
  try {
    await own.stop();
    const again = await startNats({ port: own.port });
    try {
      for (let i = 0; i < 100 && !lines.some((l) => /Reconnected to NATS/.test(l)); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(lines.some((l) => /Disconnected from NATS at 127\.0\.0\.1:\d+: core messages published to this bridge's subscriptions meanwhile are lost/.test(l)), lines.join("\n"));
      assert.ok(lines.some((l) => /Reconnected to NATS at 127\.0\.0\.1:\d+/.test(l)), lines.join("\n"));
    } finally {
      await b.close();
      await again.stop();
    }
  } finally {
    await b.close();
  }
});
