/**
 * JetStream mode against a real nats-server: publish with Nats-Msg-Id and
 * ack, durable consumption that acks after verification, naks transient
 * failures, dead-letters permanent ones and never hands a msg_id over twice.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { join } from "node:path";
import process from "node:process";
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { Bridge, type ConsumeOptions, objectStoreFileServer, type DeadLetter, ensureStream, type NatsBridgeError, plikFileServer, type ReceivedEnvelope, smartreceive, smartsend } from "natsbridge";
import { ROOT, startNats, startPlik } from "../scripts/servers.ts";
import { jetStreamOf, reservedReadAhead } from "../engine/handlers/object_store_reader.ts";
import { closeWatchers } from "../engine/connection_close.ts";
import { bytesOf, deliveriesUntilRedelivered, pollUntil, rejectsWithCode, sampleEnvelope } from "./_helpers.ts";

const nats = await startNats();
const plik = await startPlik();
const quiet = { log() {} };
const bridge = await Bridge.connect({ broker_url: nats.url, fileserver_url: plik.url, logger: quiet });
await ensureStream(bridge.connection, { name: "JOBS", subjects: ["jobs.>"] });

after(async () => {
  await bridge.close();
  await nats.stop();
  await plik.stop();
});

/** The dead letters published to `subject` on `nc`, collected as they arrive; `sub` ends the collection. */
function deadLettersOn(nc: NatsConnection, subject: string): { dead: DeadLetter[]; sub: Subscription } {
  const dead: DeadLetter[] = [];
  const sub = nc.subscribe(subject);
  (async () => { for await (const m of sub) dead.push(m.json<DeadLetter>()); })();
  return { dead, sub };
}

/** Consumes until `n` envelopes arrived, then stops cleanly through the signal (so the last is acked). */
async function collect(
  options: Omit<ConsumeOptions, "signal">,
  n: number,
  ms = 15_000,
): Promise<ReceivedEnvelope[]> {
  const out: ReceivedEnvelope[] = [];
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  for await (const env of bridge.consume({ ...options, signal: ac.signal })) {
    out.push(env);
    if (out.length === n) ac.abort();
  }
  clearTimeout(timer);
  return out;
}

test("a JetStream publish is acked, and the same msg_id published again is stored once", async () => {
  const [env, json] = await bridge.send("jobs.dedupe", [["job", { id: 1 }, "dictionary"]], { jetstream: true });
  // A producer retrying after a lost ack republishes the same envelope.
  const js = (await import("@nats-io/jetstream")).jetstream(bridge.connection);
  const again = await js.publish("jobs.dedupe", json, { msgID: env.msg_id });
  assert.equal(again.duplicate, true);
  const jsm = await jetstreamManager(bridge.connection);
  const info = await jsm.streams.info("JOBS", { subjects_filter: "jobs.dedupe" } as never);
  assert.equal(info.state.subjects?.["jobs.dedupe"], 1);
});

test("a durable consumer yields each message once, with link payloads verified, and acks them", async () => {
  for (let i = 0; i < 20; i++) {
    await bridge.send("jobs.work", [
      ["n", { i }, "dictionary"],
      ...(i % 5 === 0 ? [["blob", bytesOf(600_000, i + 1), "binary"] as const] : []),
    ], { jetstream: true });
  }
  const got = await collect({ stream: "JOBS", durable: "workers", filter_subject: "jobs.work" }, 20);
  assert.deepEqual(got.map((e) => (e.payloads[0][1] as { i: number }).i), Array.from({ length: 20 }, (_, i) => i));
  assert.deepEqual(got[5].payloads[1][1], bytesOf(600_000, 6));
  const jsm = await jetstreamManager(bridge.connection);
  const ci = await jsm.consumers.info("JOBS", "workers");
  assert.equal(ci.num_ack_pending, 0);
  assert.equal(ci.num_pending, 0);
});

test("JetStream sends started together on one subject are stored in call order", async () => {
  await ensureStream(bridge.connection, { name: "ORD", subjects: ["ord.>"] });
  const n = 9;
  const items = (i: number) =>
    i % 3 === 0
      ? [["i", String(i), "text"], ["big", bytesOf(600_000, i), "binary"]] // by link (Plik)
      : i % 3 === 1
      ? [["i", String(i), "text"], ["mid", bytesOf(300_000, i), "binary"]] // direct, encoded on a worker
      : [["i", String(i), "text"]];
  await Promise.all(Array.from({ length: n }, (_, i) => bridge.send("ord.x", items(i) as never, { jetstream: true })));
  const got = await collect({ stream: "ORD", durable: "ord" }, n);
  assert.deepEqual(got.map((e) => e.payloads[0][1]), Array.from({ length: n }, (_, i) => String(i)));
});

test("a permanently bad message is dead-lettered with its reason and the consumer goes on", async () => {
  const { dead, sub: dl } = deadLettersOn(bridge.connection, "dead.jobs");
  bridge.connection.publish("jobs.bad", "not an envelope");
  const [, json] = await smartsend("jobs.bad", [["t", "x", "text"]], { is_publish: false });
  const tampered = JSON.parse(json);
  tampered.payloads[0].metadata.checksum = "0".repeat(64);
  bridge.connection.publish("jobs.bad", JSON.stringify(tampered));
  await bridge.send("jobs.bad", [["t", "good", "text"]], { jetstream: true });
  const errors: [string, string][] = [];
  const got = await collect({
    stream: "JOBS", durable: "bad", filter_subject: "jobs.bad", dead_letter_subject: "dead.jobs",
    on_error: (e: NatsBridgeError, action) => errors.push([e.code, action]),
  }, 1);
  assert.equal(got[0].payloads[0][1], "good");
  assert.deepEqual(errors, [["ENVELOPE_INVALID", "dead-letter"], ["CHECKSUM_MISMATCH", "dead-letter"]]);
  await bridge.connection.flush();
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(dead.map((d) => d.code), ["ENVELOPE_INVALID", "CHECKSUM_MISMATCH"]);
  assert.equal(dead[1].correlation_id, tampered.correlation_id);
  assert.equal(dead[0].data, "not an envelope");
  dl.unsubscribe();
});

test("a transient download failure is naked and the redelivery succeeds", async () => {
  let failures = 2;
  const proxy = createServer(async (req, res) => {
    if (failures-- > 0) return void res.writeHead(503).end();
    const up = await fetch(plik.url + req.url);
    res.writeHead(up.status).end(new Uint8Array(await up.arrayBuffer()));
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", () => r()));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  const [, json] = await smartsend("x", [["blob", bytesOf(100, 3), "binary"]], {
    is_publish: false, size_threshold: 1, fileserver_url: plik.url,
  });
  bridge.connection.publish("jobs.flaky", json.replaceAll(plik.url, proxyUrl));
  const actions: string[] = [];
  const got = await collect({
    stream: "JOBS", durable: "flaky", filter_subject: "jobs.flaky", nak_base_delay: 50,
    receive: { fileserver_url: proxyUrl, max_retries: 1 },
    on_error: (_e, action) => actions.push(action),
  }, 1);
  assert.deepEqual(got[0].payloads[0][1], bytesOf(100, 3));
  assert.deepEqual(actions, ["nak", "nak"]);
  proxy.closeAllConnections();
  proxy.close();
});

test("a message stays with its worker while its link payload downloads, or streams to the loop body, past ack_wait", async () => {
  // Nothing told the server the worker was still on it: a download longer than
  // ack_wait had the message delivered again, and a second worker of the
  // durable ran it too (or, with delete_after_ack, dead-lettered it PAYLOAD_GONE).
  const size = 100_000;
  const proxy = createServer(async (req, res) => {
    const body = new Uint8Array(await (await fetch(plik.url + req.url)).arrayBuffer());
    res.writeHead(200, { "content-length": String(body.byteLength) });
    // 2.5 s in 10 pieces: bytes keep coming, more slowly than ack_wait (1 s) allows for the whole.
    for (let i = 0; i < 10; i++) {
      res.write(body.subarray((i * body.byteLength) / 10, ((i + 1) * body.byteLength) / 10));
      await new Promise((r) => setTimeout(r, 250));
    }
    res.end();
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", () => r()));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  try {
    for (const stream of [false, true]) {
      const subject = `jobs.slowlink.${stream}`;
      const [, json] = await smartsend("x", [["blob", bytesOf(size, 5), "binary"]], {
        is_publish: false, size_threshold: 1, fileserver_url: plik.url,
      });
      bridge.connection.publish(subject, json.replaceAll(plik.url, proxyUrl));
      const handed: number[] = [];
      const ac = new AbortController();
      const worker = async (id: number) => {
        for await (const env of bridge.consume({
          stream: "JOBS", durable: `slowlink_${stream}`, filter_subject: subject, ack_wait: 1000, signal: ac.signal,
          receive: { fileserver_url: proxyUrl, stream },
        })) {
          handed.push(id);
          const value = env.payloads[0][1];
          const bytes = value instanceof ReadableStream ? new Uint8Array(await new Response(value).arrayBuffer()) : value;
          assert.deepEqual(bytes, bytesOf(size, 5));
        }
      };
      const timer = setTimeout(() => ac.abort(), 5000);
      await Promise.all([worker(1), worker(2)]);
      clearTimeout(timer);
      assert.equal(handed.length, 1, `stream: ${stream}: handed over to workers ${handed.join(", ")}`);
    }
  } finally {
    proxy.closeAllConnections();
    proxy.close();
  }
});

test("a naked message is one warning when no on_error is given, and none when it is", async () => {
  // It was "Receive failed" at warn, beside on_error's report; without on_error
  // that line did not say the message would come back, or when.
  const proxy = createServer(async (req, res) => {
    if (failures-- > 0) return void res.writeHead(503).end();
    const up = await fetch(plik.url + req.url);
    res.writeHead(up.status).end(new Uint8Array(await up.arrayBuffer()));
  });
  let failures = 0;
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", () => r()));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  try {
    for (const observed of [false, true]) {
      failures = 1;
      const lines: string[] = [];
      const [, json] = await smartsend("x", [["blob", bytesOf(100, 4), "binary"]], {
        is_publish: false, size_threshold: 1, fileserver_url: plik.url,
      });
      bridge.connection.publish("jobs.naklog", json.replaceAll(plik.url, proxyUrl));
      const actions: string[] = [];
      const got = await collect({
        stream: "JOBS", durable: "naklog", filter_subject: "jobs.naklog", nak_base_delay: 50,
        receive: { fileserver_url: proxyUrl, max_retries: 1, logger: { log: (level, line) => lines.push(`${level} ${line}`) } },
        on_error: observed ? (_e, action) => void actions.push(action) : undefined,
      }, 1);
      assert.deepEqual(got[0].payloads[0][1], bytesOf(100, 4));
      const warnings = lines.filter((l) => /^(warn|error) /.test(l));
      if (observed) {
        assert.deepEqual(actions, ["nak"]);
        assert.deepEqual(warnings, []);
      } else {
        assert.equal(warnings.length, 1, warnings.join("\n"));
        assert.match(warnings[0], /Message jobs\.naklog#\d+ failed \(DOWNLOAD_FAILED .*\): delivered again in 50 ms \(delivery 1 of 5\)/);
      }
    }
  } finally {
    proxy.closeAllConnections();
    proxy.close();
  }
});

test("a durable whose max_deliver another worker lowers while this one consumes still dead-letters, not drops", async () => {
  // A worker counted with the max_deliver it read at start: lowered under it
  // (a rolling deploy, nats consumer edit), the server stopped delivering a
  // failing message while the worker still naked it, and no dead letter came.
  const down = createServer((_req, res) => void res.writeHead(503).end());
  await new Promise<void>((r) => down.listen(0, "127.0.0.1", () => r()));
  const downUrl = `http://127.0.0.1:${(down.address() as { port: number }).port}`;
  const opts = {
    stream: "JOBS", durable: "lowered", filter_subject: "jobs.lowered", dead_letter_subject: "dead.lowered", nak_base_delay: 20,
    receive: { fileserver_url: downUrl, max_retries: 1 },
  };
  const { dead, sub: dl } = deadLettersOn(bridge.connection, "dead.lowered");
  const ac = new AbortController();
  const actions: [string, number][] = [];
  const loop = (async () => {
    for await (const _ of bridge.consume({ ...opts, max_deliver: 5, signal: ac.signal, on_error: (_e, a) => actions.push([a, actions.length + 1]) })) { /* fails */ }
  })();
  await new Promise((r) => setTimeout(r, 300));
  // Another worker starts with max_deliver 1: the durable's becomes 3.
  await (await jetstreamManager(bridge.connection)).consumers.update("JOBS", "lowered", { max_deliver: 3 });
  const [, json] = await smartsend("x", [["blob", bytesOf(100, 3), "binary"]], { is_publish: false, size_threshold: 1, fileserver_url: plik.url });
  bridge.connection.publish("jobs.lowered", json.replaceAll(plik.url, downUrl));
  await pollUntil(() => dead.length > 0, 5000);
  ac.abort();
  await loop;
  assert.deepEqual(dead.map((d) => d.code), ["DOWNLOAD_FAILED"], JSON.stringify(actions));
  dl.unsubscribe();
  down.close();
});

test("a payload received as a stream that fails its checksum in the loop body is dead-lettered, not acked", async () => {
  // It was acked: the stream's error reached the application only, and the
  // message counted as handled. Nothing told on_error or the dead-letter subject.
  const { dead, sub: dl } = deadLettersOn(bridge.connection, "dead.streamed");
  const [, json] = await smartsend("x", [["blob", bytesOf(200_000, 7), "binary"]], {
    is_publish: false, size_threshold: 1, fileserver_url: plik.url, logger: quiet,
  });
  const tampered = JSON.parse(json);
  tampered.payloads[0].metadata.checksum = "0".repeat(64);
  bridge.connection.publish("jobs.streamed", JSON.stringify(tampered));
  await bridge.send("jobs.streamed", [["blob", bytesOf(200_000, 8), "binary"]], { jetstream: true, size_threshold: 1 });
  const errors: [string, string][] = [];
  const deliveries: [string, number, string][] = [];
  const outcomes: string[] = [];
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 15_000);
  for await (const env of bridge.consume({
    stream: "JOBS", durable: "streamed", filter_subject: "jobs.streamed", dead_letter_subject: "dead.streamed",
    receive: { stream: true }, signal: ac.signal,
    on_error: (e, action) => errors.push([e.code, action]),
    on_delivery: (d) => deliveries.push([d.subject, d.deliveries, JSON.parse(new TextDecoder().decode(d.data)).msg_id]),
  })) {
    const reader = (env.payloads[0][1] as ReadableStream<Uint8Array>).getReader();
    let size = 0;
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) size += r.value.byteLength;
      outcomes.push(`read ${size}`);
      ac.abort();
    } catch (err) {
      outcomes.push((err as NatsBridgeError).code); // swallowed here, yet the message must not be acked
    }
  }
  clearTimeout(timer);
  assert.deepEqual(outcomes, ["CHECKSUM_MISMATCH", "read 200000"]);
  assert.deepEqual(errors, [["CHECKSUM_MISMATCH", "dead-letter"]]);
  assert.deepEqual(deliveries.map(([s, n]) => [s, n]), [["jobs.streamed", 1], ["jobs.streamed", 1]]);
  assert.equal(deliveries[0][2], tampered.msg_id);
  await bridge.connection.flush();
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(dead.map((d) => [d.code, d.correlation_id]), [["CHECKSUM_MISMATCH", tampered.correlation_id]]);
  const ci = await (await jetstreamManager(bridge.connection)).consumers.info("JOBS", "streamed");
  assert.equal(ci.num_ack_pending, 0);
  assert.equal(ci.num_pending, 0);
  dl.unsubscribe();
});

test("leaving the loop mid-message leaves it unacked for the next consumer run, delivered once there", async () => {
  await bridge.send("jobs.resume", [["n", "first", "text"]], { jetstream: true });
  await bridge.send("jobs.resume", [["n", "second", "text"]], { jetstream: true });
  const opts = { stream: "JOBS", durable: "resume", filter_subject: "jobs.resume" };
  for await (const env of bridge.consume(opts)) {
    assert.equal(env.payloads[0][1], "first");
    break; // crash-like exit before the loop body finished
  }
  const t0 = Date.now();
  const rest = await collect(opts, 2);
  assert.ok(Date.now() - t0 < 5000, "redelivered promptly, not after ack_wait");
  assert.deepEqual(rest.map((e) => e.payloads[0][1]), ["first", "second"]);
});

test("a message whose loop body never finishes is dead-lettered on its last delivery, not dropped", async () => {
  // Each early exit naked it, also the last one: the server then stopped
  // delivering it, and nothing reached the dead-letter subject.
  const { dead, sub: dl } = deadLettersOn(bridge.connection, "dead.unfinished");
  const [sent] = await bridge.send("jobs.unfinished", [["job", { id: 1 }, "dictionary"]], { jetstream: true });
  const opts = {
    stream: "JOBS", durable: "unfinished", filter_subject: "jobs.unfinished", max_deliver: 2,
    dead_letter_subject: "dead.unfinished",
  };
  const errors: [string, string][] = [];
  let deliveries = 0;
  for (let run = 0; run < 3; run++) {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 1500);
    try {
      for await (const _ of bridge.consume({ ...opts, signal: ac.signal, on_error: (e, a) => errors.push([e.code, a]) })) {
        deliveries++;
        throw new Error("a bug in the loop body");
      }
    } catch { /* the supervisor restarts the consumer */ }
    clearTimeout(timer);
  }
  assert.equal(deliveries, 2);
  assert.deepEqual(errors, [["ABORTED", "dead-letter"]]);
  await bridge.connection.flush();
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(dead.map((d) => [d.code, d.correlation_id, d.deliveries]), [["ABORTED", sent.correlation_id, 2]]);
  dl.unsubscribe();
});

test("a message whose worker dies mid-body on every delivery is dead-lettered after max_deliver, not handed over again and dropped", async () => {
  // A crash neither acks nor naks. The server's extra delivery (max_deliver
  // + 1, kept for dead-lettering) was handed to the application like any
  // other, and after it the server dropped the message: no dead letter.
  const { dead, sub: dl } = deadLettersOn(bridge.connection, "dead.crashing");
  const opts = {
    stream: "JOBS", durable: "crashing", filter_subject: "jobs.crashing", max_deliver: 2, ack_wait: 500,
    dead_letter_subject: "dead.crashing",
  };
  await collect(opts, 0, 100); // makes the durable
  const [sent] = await bridge.send("jobs.crashing", [["job", { id: 1 }, "dictionary"]], { jetstream: true });
  // Workers that die holding the message: pulled, never acked nor naked. The
  // delivery after max_deliver is handed over once more (it is the one a
  // clean stop on the last delivery leaves), and its worker dies too.
  const consumer = await (await import("@nats-io/jetstream")).jetstream(bridge.connection).consumers.get("JOBS", "crashing");
  for (let delivery = 1; delivery <= 3; delivery++) {
    const m = await consumer.next({ expires: 5000 });
    assert.equal(m?.info.deliveryCount, delivery);
  }
  const errors: [string, string][] = [];
  const delivered: [string, number][] = [];
  const handed = await collect({
    ...opts, on_error: (e, a) => errors.push([e.code, a]), on_delivery: (d) => delivered.push([d.subject, d.deliveries]),
  }, 1, 3000);
  assert.equal(handed.length, 0, "not handed over a fourth time");
  assert.deepEqual(errors, [["ABORTED", "dead-letter"]]);
  // Seen by on_delivery first (the CLI names the message's subject from it).
  assert.deepEqual(delivered, [["jobs.crashing", 4]]);
  await bridge.connection.flush();
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(dead.map((d) => [d.code, d.correlation_id, d.deliveries]), [["ABORTED", sent.correlation_id, 4]]);
  assert.match(dead[0].reason, /was not finished in 3 deliveries \(max_deliver 2\), the last ending without an ack or a nak/);
  dl.unsubscribe();
});

test("an on_error that throws or rejects is logged; the bad message is still dead-lettered and the loop goes on", async () => {
  // A throwing on_error ended the loop with a plain Error, the bad message
  // neither naked nor termed and the good one never delivered; a rejecting
  // one was an unhandled rejection that killed the process.
  const { dead, sub: dl } = deadLettersOn(bridge.connection, "dead.observer");
  const js = (await import("@nats-io/jetstream")).jetstream(bridge.connection);
  const lines: string[] = [];
  const own = await Bridge.connect({ broker_url: nats.url, logger: { log: (_l, line) => lines.push(line) } });
  try {
    for (const on_error of [() => { throw new Error("logger down"); }, () => Promise.reject(new Error("logger down"))]) {
      await js.publish("jobs.observer", "not an envelope");
      await bridge.send("jobs.observer", [["n", "fine", "text"]], { jetstream: true });
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), 5000);
      const got: unknown[] = [];
      for await (const env of own.consume({
        stream: "JOBS", durable: "observer", filter_subject: "jobs.observer", dead_letter_subject: "dead.observer",
        on_error: on_error as () => void, signal: ac.signal,
      })) {
        got.push(env.payloads[0][1]);
        ac.abort();
      }
      clearTimeout(timer);
      assert.deepEqual(got, ["fine"]);
    }
  } finally {
    await own.close();
  }
  await bridge.connection.flush();
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(dead.map((d) => d.code), ["ENVELOPE_INVALID", "ENVELOPE_INVALID"]);
  assert.equal(lines.filter((l) => /on_error threw: logger down/.test(l)).length, 2, lines.join("\n"));
  dl.unsubscribe();
});

/** A Bridge of its own whose log lines land in `logged`. */
async function loggingBridge(): Promise<{ bridge: Bridge; logged: string[] }> {
  const logged: string[] = [];
  return { bridge: await Bridge.connect({ broker_url: nats.url, logger: { log: (_l, m) => logged.push(m) } }), logged };
}

test("a dead letter a stream stores is published with its ack: one the stream refuses is naked, not termed and lost", async () => {
  // Published to core NATS, the record was dropped by the stream without a
  // word (here: larger than the stream's max_msg_size), and the message termed.
  const jsm = await jetstreamManager(bridge.connection);
  await jsm.streams.add({ name: "DEAD_SMALL", subjects: ["dl.small"], max_msg_size: 64 });
  const tampered = sampleEnvelope();
  tampered.payloads[0].data = "aGo="; // the checksum no longer matches: permanent
  await (await import("@nats-io/jetstream")).jetstream(bridge.connection).publish("jobs.dl_small", JSON.stringify(tampered));
  const { bridge: logging, logged } = await loggingBridge();
  const options = { stream: "JOBS", durable: "dl_small", filter_subject: "jobs.dl_small", dead_letter_subject: "dl.small", nak_base_delay: 50, nak_max_delay: 50 };
  try {
    const deliveries = await deliveriesUntilRedelivered(logging, options, 3000);
    assert.deepEqual(deliveries.slice(0, 2), [1, 2], logged.join("\n"));
    assert.ok(logged.some((m) => /Could not dead-letter jobs\.dl_small#\d+ to dl\.small .*maximum/i.test(m)), logged.join("\n"));
    assert.equal((await jsm.streams.info("DEAD_SMALL")).state.messages, 0);
    // Where the stream takes it, the record is stored once, even if the message is dead-lettered again.
    await jsm.streams.update("DEAD_SMALL", { subjects: ["dl.small"], max_msg_size: -1 });
    await collect(options, 0, 1000);
    const stored = await jsm.streams.getMessage("DEAD_SMALL", { last_by_subj: "dl.small" });
    assert.equal(stored?.json<DeadLetter>().code, "CHECKSUM_MISMATCH");
    assert.equal((await jsm.streams.info("DEAD_SMALL")).state.messages, 1);
  } finally {
    await logging.close();
    await jsm.streams.delete("DEAD_SMALL");
  }
});

test("consume says once when no stream stores its dead letters (only subscribers at that moment see them)", async () => {
  const { bridge: logging, logged } = await loggingBridge();
  try {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    for await (const _ of logging.consume({ stream: "JOBS", durable: "dl_unstored", filter_subject: "jobs.dl_unstored", signal: ac.signal }));
    assert.equal(logged.filter((m) => /Dead letters go to "natsbridge\.dead\.JOBS", which no stream stores/.test(m)).length, 1, logged.join("\n"));
  } finally {
    await logging.close();
  }
});

test("a bad message too large to carry in its dead letter is dead-lettered without its body, and the loop goes on", async () => {
  // The record (the whole original and the reason) passed max_payload: the
  // publish threw, every consume loop ended on it, nothing behind it was delivered.
  const { dead, sub: dl } = deadLettersOn(bridge.connection, "dead.toobig");
  const js = (await import("@nats-io/jetstream")).jetstream(bridge.connection);
  const max = bridge.connection.info!.max_payload;
  // ASCII, and two-byte characters (half as many JavaScript characters as bytes).
  const bodies = [new Uint8Array(max - 200).fill(0x61), new TextEncoder().encode("é".repeat((max - 200) / 2))];
  for (const [i, body] of bodies.entries()) {
    const stored = await js.publish("jobs.toobig", body);
    await bridge.send("jobs.toobig", [["n", `fine ${i}`, "text"]], { jetstream: true });
    const got = await collect({ stream: "JOBS", durable: "toobig", filter_subject: "jobs.toobig", dead_letter_subject: "dead.toobig" }, 1, 5000);
    assert.deepEqual(got.map((e) => e.payloads[0][1]), [`fine ${i}`]);
    await bridge.connection.flush();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(dead.length, i + 1);
    assert.equal(dead[i].code, "ENVELOPE_INVALID");
    assert.equal(dead[i].stream_seq, stored.seq);
    assert.equal(dead[i].data, "");
    assert.equal(dead[i].data_bytes, body.byteLength);
  }
  dl.unsubscribe();
});

test("a dead_letter_subject the consumer itself would read is INVALID_OPTION at start, not an endless dead-letter loop", async () => {
  // Each record was stored in the stream, consumed, found no envelope and
  // dead-lettered again, wrapping the one before, until it passed max_payload.
  for (const [durable, filter] of [["dl_loop_all", undefined], ["dl_loop_wide", "jobs.>"]] as const) {
    const e = await rejectsWithCode(
      () => collect({ stream: "JOBS", durable, filter_subject: filter, dead_letter_subject: "jobs.dead" }, 1, 1000),
      "INVALID_OPTION",
      /dead_letter_subject "jobs\.dead" is stored in stream "JOBS" and read by this consumer/,
    );
    assert.equal(e.field, "dead_letter_subject");
  }
  // Stored in the stream but outside the consumer's filter: a dead-letter log kept in JetStream.
  assert.deepEqual(await collect({ stream: "JOBS", durable: "dl_kept", filter_subject: "jobs.kept_dl", dead_letter_subject: "jobs.dead" }, 1, 200), []);
});

test("on_ready is called once the durable is open, before the first message, and not when consume is refused", async () => {
  // A service (and listen --jetstream) said "listening" before consume had
  // opened the durable, then failed with INVALID_OPTION.
  const events: string[] = [];
  await bridge.send("jobs.ready", [["n", { n: 1 }, "dictionary"]], { jetstream: true });
  const ac = new AbortController();
  for await (const _ of bridge.consume({
    stream: "JOBS",
    durable: "ready",
    filter_subject: "jobs.ready",
    signal: ac.signal,
    on_ready: () => events.push("ready"),
    on_delivery: () => events.push("delivery"),
  })) {
    events.push("message");
    ac.abort();
  }
  assert.deepEqual(events, ["ready", "delivery", "message"]);
  let ready = false;
  await rejectsWithCode(
    () => collect({ stream: "JOBS", durable: "ready_refused", dead_letter_subject: "jobs.dead", on_ready: () => (ready = true) }, 1, 1000),
    "INVALID_OPTION",
  );
  assert.equal(ready, false);
  // Its bug is logged, as on_error's is; the consumer goes on.
  const { bridge: thrower, logged } = await loggingBridge();
  try {
    const ac2 = new AbortController();
    setTimeout(() => ac2.abort(), 300);
    for await (const _ of thrower.consume({ stream: "JOBS", durable: "ready_throws", filter_subject: "jobs.ready_throws", signal: ac2.signal, on_ready: () => { throw new Error("oops"); } }));
    assert.ok(logged.some((m) => /on_ready threw: oops/.test(m)), logged.join("\n"));
  } finally {
    await thrower.close();
  }
});

test("an existing durable takes the max_deliver and ack_wait consume is given", async () => {
  // The server kept the old max_deliver while consume counted with the new one,
  // so a failing message stopped being delivered before it was dead-lettered.
  const opts = { stream: "JOBS", durable: "retuned", filter_subject: "jobs.retuned" };
  await collect({ ...opts, max_deliver: 2, ack_wait: 10_000 }, 0, 200);
  await collect({ ...opts, max_deliver: 4, ack_wait: 20_000 }, 0, 200);
  const ci = await (await jetstreamManager(bridge.connection)).consumers.info("JOBS", "retuned");
  assert.deepEqual([ci.config.max_deliver, ci.config.ack_wait], [6, 20_000 * 1_000_000]);
});

test("consume: streams the loop body does not read give back their read-ahead once the message is acked", async () => {
  const store = await objectStoreFileServer({ connection: bridge.connection, bucket: "js_unread" });
  for (let i = 0; i < 8; i++) {
    await bridge.send("jobs.unread", [["blob", bytesOf(1_000_000, i + 1), "binary"]], { jetstream: true, fileserver: store });
  }
  // Not aborted until the last: by the 8th message, the 7 before it were acked with their streams unread.
  const ac = new AbortController();
  let n = 0;
  let held = 0;
  for await (const _ of bridge.consume({ stream: "JOBS", durable: "unread", filter_subject: "jobs.unread", receive: { fileserver: store, stream: true }, signal: ac.signal })) {
    if (++n < 8) continue;
    held = reservedReadAhead(jetStreamOf(bridge.connection));
    ac.abort();
  }
  assert.ok(held <= 4 * 1024 * 1024, `${held / 2 ** 20} MiB of read-ahead held by the 8th message`);
  assert.equal(reservedReadAhead(jetStreamOf(bridge.connection)), 0);
});

test("consume with dedupe_window 0 acks a handled message and dead-letters nothing", async () => {
  const { dead, sub: dl } = deadLettersOn(bridge.connection, "dead.nodedupe");
  await bridge.send("jobs.nodedupe", [["job", { id: 1 }, "dictionary"]], { jetstream: true });
  const errors: string[] = [];
  const got = await collect({
    stream: "JOBS", durable: "nodedupe", filter_subject: "jobs.nodedupe", max_deliver: 1, dedupe_window: 0,
    dead_letter_subject: "dead.nodedupe", on_error: (e) => errors.push(e.code),
  }, 1);
  assert.equal(got.length, 1);
  await bridge.connection.flush();
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual([errors, dead.length], [[], 0]);
  const ci = await (await jetstreamManager(bridge.connection)).consumers.info("JOBS", "nodedupe");
  assert.equal(ci.num_ack_pending, 0);
  dl.unsubscribe();
});

test("consume stopped by its signal mid-stream on the last delivery naks the message; it is not dead-lettered", async () => {
  const store = await objectStoreFileServer({ connection: bridge.connection, bucket: "js_stop" });
  await bridge.send("jobs.stopmid", [["blob", bytesOf(8_000_000, 3), "binary"]], { jetstream: true, fileserver: store });
  const errors: string[] = [];
  const opts = { stream: "JOBS", durable: "stopmid", filter_subject: "jobs.stopmid", max_deliver: 1, receive: { fileserver: store, stream: true } };
  const ac = new AbortController();
  for await (const env of bridge.consume({ ...opts, signal: ac.signal, on_error: (e) => errors.push(e.code) })) {
    const reader = (env.payloads[0][1] as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    ac.abort();
    await reader.read().catch(() => {});
  }
  assert.deepEqual(errors, []);
  const again = await collect(opts, 1, 5000);
  assert.equal(again.length, 1, "redelivered to the next consumer");
});

test("an existing durable keeps its max_deliver when consume is not given one", async () => {
  const opts = { stream: "JOBS", durable: "kept", filter_subject: "jobs.kept" };
  await collect({ ...opts, max_deliver: 7 }, 0, 200);
  await collect(opts, 0, 200);
  const ci = await (await jetstreamManager(bridge.connection)).consumers.info("JOBS", "kept");
  assert.equal(ci.config.max_deliver, 9);
});

test("an existing durable given only one of max_deliver and ack_wait keeps the other", async () => {
  // Both were written when either was given: max_deliver alone reset a 10-minute
  // ack_wait to 30 s (long jobs then ran twice), ack_wait alone reset max_deliver to 6.
  const opts = { stream: "JOBS", durable: "partial", filter_subject: "jobs.partial" };
  const config = async () => {
    const ci = await (await jetstreamManager(bridge.connection)).consumers.info("JOBS", "partial");
    return [ci.config.max_deliver, (ci.config.ack_wait ?? 0) / 1_000_000];
  };
  await collect({ ...opts, max_deliver: 2, ack_wait: 600_000 }, 0, 200);
  assert.deepEqual(await config(), [4, 600_000]);
  await collect({ ...opts, max_deliver: 4 }, 0, 200);
  assert.deepEqual(await config(), [6, 600_000]);
  await collect({ ...opts, ack_wait: 120_000 }, 0, 200);
  assert.deepEqual(await config(), [6, 120_000]);
});

test("a durable that already exists with another filter is INVALID_OPTION, not the wrong messages", async () => {
  // The existing consumer's filter was used as it was: consuming "jobs.only_a"
  // through a durable made for "jobs.>" delivered jobs.other's messages.
  await collect({ stream: "JOBS", durable: "wide", filter_subject: "jobs.>" }, 0, 300);
  const e = await rejectsWithCode(
    () => collect({ stream: "JOBS", durable: "wide", filter_subject: "jobs.only_a" }, 1, 1000),
    "INVALID_OPTION",
    /durable "wide" of stream "JOBS" already consumes "jobs\.>", not "jobs\.only_a"/,
  );
  assert.equal(e.field, "filter_subject");
  // The same filter, or none asked for, reuses it.
  await collect({ stream: "JOBS", durable: "wide", filter_subject: "jobs.>" }, 0, 300);
  await collect({ stream: "JOBS", durable: "wide" }, 0, 300);
});

test("a filter_subject the stream never captures is INVALID_OPTION, not a consumer that waits for ever", async () => {
  // The server accepted the consumer; it could never deliver anything.
  await rejectsWithCode(
    () => collect({ stream: "JOBS", durable: "elsewhere", filter_subject: "other.x" }, 1, 1000),
    "INVALID_OPTION",
    /stream "JOBS" captures "jobs\.>", which never includes "other\.x"/,
  );
  // Overlapping filters are fine, wildcards included.
  await collect({ stream: "JOBS", durable: "overlap1", filter_subject: "jobs.*" }, 0, 200);
  await collect({ stream: "JOBS", durable: "overlap2", filter_subject: "*.x" }, 0, 200);
});

test("with delete_after_ack, a second copy of a handled message is skipped, not dead-lettered as PAYLOAD_GONE", async () => {
  // The copy was received (its payload downloaded) before the redelivery
  // check: the first copy's ack had deleted the payload, so it was dead-lettered.
  await ensureStream(bridge.connection, { name: "WQDUP", subjects: ["wqdup.>"], retention: "workqueue" });
  const store = await objectStoreFileServer({ connection: bridge.connection, bucket: "wqdup", ttl: 600 });
  const [, json] = await bridge.send("wqdup.job", [["blob", bytesOf(700_000, 9), "binary"]], { is_publish: false, fileserver: store });
  const js = (await import("@nats-io/jetstream")).jetstream(bridge.connection);
  await js.publish("wqdup.job", json); // a producer's retry past the duplicate window, or a replay
  await js.publish("wqdup.job", json);
  const { dead, sub: dl } = deadLettersOn(bridge.connection, "dead.wqdup");
  const got = await collect({ stream: "WQDUP", durable: "wqdup", delete_after_ack: true, dead_letter_subject: "dead.wqdup", receive: { fileserver: store } }, 2, 3000);
  assert.equal(got.length, 1);
  await bridge.connection.flush();
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(dead.map((d) => d.code), []);
  const ci = await (await jetstreamManager(bridge.connection)).consumers.info("WQDUP", "wqdup");
  assert.equal(ci.num_ack_pending + ci.num_pending, 0, "both copies acked");
  dl.unsubscribe();
});

test("delete_after_ack removes Object Store payloads once acked, and is refused on a fan-out stream", async () => {
  await ensureStream(bridge.connection, { name: "WQ", subjects: ["wq.>"], retention: "workqueue" });
  const store = await objectStoreFileServer({ connection: bridge.connection, bucket: "wq", ttl: 600 });
  const [sent] = await bridge.send("wq.job", [["blob", bytesOf(700_000, 8), "binary"]], { jetstream: true, fileserver: store });
  const url = sent.payloads[0].data;
  const got = await collect({ stream: "WQ", durable: "wq", delete_after_ack: true, receive: { fileserver: store } }, 1);
  assert.deepEqual(got[0].payloads[0][1], bytesOf(700_000, 8));
  await new Promise((r) => setTimeout(r, 100));
  const gone = await bridge.receive(JSON.stringify(sent), { fileserver: store }).then(() => "still there", (e) => e.code);
  assert.equal(gone, "PAYLOAD_GONE", `${url} should be deleted`);
  let refused = "";
  try {
    for await (const _ of bridge.consume({ stream: "JOBS", durable: "nope", delete_after_ack: true, receive: { fileserver: store } })) break;
  } catch (e) {
    refused = (e as { code: string }).code;
  }
  assert.equal(refused, "INVALID_OPTION");
});

test("close() while a loop body runs: the loop ends quietly at once, the unacked message comes back with its payloads", async () => {
  // The ack after the body waited out nats.js's 5 s ack timer on the closed
  // connection, said nothing, and delete_after_ack then deleted the payloads
  // of a message the server had not seen acked: its redelivery was PAYLOAD_GONE.
  await ensureStream(bridge.connection, { name: "CLOSING", subjects: ["closing.>"], retention: "workqueue" });
  const store = await objectStoreFileServer({ connection: bridge.connection, bucket: "closing", ttl: 600 });
  await bridge.send("closing.job", [["blob", bytesOf(700_000, 3), "binary"]], { jetstream: true, fileserver: store });
  const lines: string[] = [];
  const worker = await Bridge.connect({ broker_url: nats.url, logger: { log: (_level, line) => lines.push(line) } });
  const workerStore = await objectStoreFileServer({ connection: bridge.connection, bucket: "closing", ttl: 600 });
  const opts = { stream: "CLOSING", durable: "w", ack_wait: 1000, delete_after_ack: true } as const;
  let bodyDone = 0;
  // Compared as Buffers: a failed deepEqual of 700 KB takes Deno minutes to print.
  const sameBytes = (v: unknown) => v instanceof Uint8Array && Buffer.from(v).equals(bytesOf(700_000, 3));
  for await (const env of worker.consume({ ...opts, receive: { fileserver: workerStore } })) {
    assert.ok(sameBytes(env.payloads[0][1]));
    const closing = worker.close();
    await new Promise((r) => setTimeout(r, 200));
    bodyDone = Date.now();
    void closing;
  }
  assert.ok(Date.now() - bodyDone < 1500, `the loop took ${Date.now() - bodyDone} ms to end after its body`);
  assert.ok(lines.some((l) => /closing\.job#1 handled but not acked.*delivered again/.test(l)), lines.join("\n"));
  const again = await collect({ ...opts, receive: { fileserver: store } }, 1);
  assert.ok(sameBytes(again[0]?.payloads[0][1]), `came back as ${again.length} messages, not with its payload`);
});

test("acking leaves nothing waiting on the connection's close: a long-lived consumer does not grow per message", async () => {
  // Each ack raced nc.closed(), which stays pending for the connection's
  // life: ~500 bytes per message were kept until it closed.
  const own = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  for (let i = 0; i < 30; i++) await own.send("jobs.watchers", [["n", `m${i}`, "text"]], { jetstream: true });
  // Each call of closed() is a reaction kept until the close: counted, not replaced.
  const nc = own.connection as { closed(): Promise<void | Error> };
  const closed = nc.closed.bind(nc);
  let reactions = 0;
  nc.closed = () => (reactions++, closed());
  const got = [];
  const stop = new AbortController();
  for await (const env of own.consume({ stream: "JOBS", durable: "watchers", filter_subject: "jobs.watchers", signal: stop.signal })) {
    if (got.push(env) === 30) stop.abort();
  }
  assert.equal(got.length, 30);
  assert.ok(reactions <= 3, `${reactions} reactions to the close for 30 messages`);
  assert.equal(closeWatchers(own.connection), 0);
  await own.close();
});

test("a worker whose loop body closes its bridge exits at once, not 5 s later (nats.js's ack timer)", async () => {
  const runtime = "Deno" in globalThis ? "deno" : process.versions.bun ? "bun" : "node";
  const script = join(ROOT, "tests/fixtures/processes/close_in_consume_body.mjs");
  const argv = runtime === "deno" ? ["run", "-A", "--quiet", "--config", join(ROOT, "deno.json"), script] : [script];
  const child = spawn(process.execPath, [...argv, "EXITS"], { env: { ...process.env, NATS_URL: nats.url }, stdio: ["ignore", "pipe", "inherit"] });
  let ended = 0;
  child.stdout!.on("data", (d) => { if (String(d).includes("loop ended")) ended = Date.now(); });
  const code = await new Promise((r) => child.on("close", r));
  assert.equal(code, 0);
  assert.ok(ended > 0, "the loop never ended");
  assert.ok(Date.now() - ended < 2000, `exited ${Date.now() - ended} ms after its loop ended`);
});

test("close() while consume receives or waits: no message handed over after it, no on_error, no warning; the loop ends quietly", async () => {
  // A message whose download finished after close() was handed to the body
  // (which could not ack it: handled twice); one whose download failed on the
  // closing connection went to on_error as DOWNLOAD_FAILED; an idle pull
  // logged "JetStream pull … failed: connection draining".
  for (const ending of ["download finishes", "download fails", "idle"] as const) {
    const lines: string[] = [];
    const errors: string[] = [];
    const b = await Bridge.connect({ broker_url: nats.url, fileserver_url: plik.url, logger: { log: (level, line) => lines.push(`${level} ${line}`) } });
    const subject = `jobs.closing.${ending.replace(/ /g, "_")}`;
    if (ending !== "idle") await b.send(subject, [["blob", bytesOf(600_000, 4), "binary"]], { jetstream: true });
    let closedAt = 0;
    const close = () => (closedAt ||= Date.now(), void b.close());
    let handed = 0;
    for await (const _ of b.consume({
      stream: "JOBS", durable: `closing_${ending.replace(/ /g, "_")}`, filter_subject: subject,
      on_error: (e) => void errors.push(e.code),
      on_ready: () => { if (ending === "idle") setTimeout(close, 300); },
      receive: {
        fileserver_download_handler: async (url) => {
          close();
          await new Promise((r) => setTimeout(r, 100));
          if (ending === "download fails") throw new Error("closed connection");
          return new Uint8Array(await (await fetch(url)).arrayBuffer());
        },
      },
    })) handed++;
    assert.equal(handed, 0, `${ending}: handed over after close()`);
    assert.deepEqual(errors, [], `${ending}: on_error called`);
    // The receive's own line for a download that did fail stays.
    assert.deepEqual(lines.filter((l) => /^(warn|error) /.test(l) && !/Receive failed: DOWNLOAD_FAILED/.test(l)), [], ending);
    assert.ok(Date.now() - closedAt < 1000, `${ending}: the loop ended ${Date.now() - closedAt} ms after close()`);
  }
});

test("a JetStream send on a closed connection fails at once, before any upload, not after 10 attempts", async () => {
  // The retry loop did not look at the connection: 11 s and 10 attempts for a connection that never comes back.
  const b = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  await b.close();
  let uploads = 0;
  const fileserver_upload_handler = () => (uploads++, Promise.reject(new Error("not to be called")));
  for (const size_threshold of [undefined, 1]) { // direct, then by link
    const options = { jetstream: true, size_threshold, fileserver_upload_handler };
    const started = Date.now();
    await rejectsWithCode(() => b.send("jobs.closed", [["t", "x", "text"]], options), "PUBLISH_FAILED", /the bridge is closed/);
    assert.ok(Date.now() - started < 2000, `failed after ${Date.now() - started} ms`);
    await rejectsWithCode(() => smartsend("jobs.closed", [["t", "x", "text"]], { ...options, nats_connection: b.connection }), "PUBLISH_FAILED", /connection closed/);
  }
  assert.equal(uploads, 0);
});

test("a bridge closed with its own connection refuses sends, requests, subscriptions and consume as closed, naming what was asked", async () => {
  // A request said 'Cannot subscribe to "_INBOX.…": closed connection', naming its reply inbox.
  const b = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  await b.close();
  await rejectsWithCode(() => b.send("own.x", [["t", "x", "text"]]), "PUBLISH_FAILED", /^Publish to "own\.x" refused: the bridge is closed$/);
  await rejectsWithCode(() => b.request("own.svc", [["t", "x", "text"]]), "PUBLISH_FAILED", /^Request to "own\.svc" refused: the bridge is closed$/);
  await rejectsWithCode(() => b.subscribe("own.sub"), "CONNECTION_FAILED", /^Cannot subscribe to "own\.sub": the bridge is closed$/);
  await rejectsWithCode(async () => {
    for await (const _ of b.consume({ stream: "JOBS", durable: "own_closed" })) { /* none */ }
  }, "CONNECTION_FAILED", /^Cannot consume: the bridge is closed$/);
  const [built] = await b.send("own.x", [["t", "x", "text"]], { is_publish: false });
  assert.equal(built.send_to, "own.x");
});

test("close() of a bridge on the application's connection ends its subscriptions and consume loops, lets its sends finish and refuses new ones; the connection stays open", async () => {
  // close() did nothing on an adopted connection: the loops ran on, and sends after it still went out.
  const nc = (await Bridge.connect({ broker_url: nats.url, logger: quiet })).connection;
  const adopted = await Bridge.connect({ nats_connection: nc, fileserver_url: plik.url, logger: quiet });
  const sub = adopted.subscribe("adopted.sub");
  const subEnded = (async () => { for await (const _ of sub) { /* nothing is sent */ } })();
  let ready: () => void = () => {};
  const consuming = new Promise<void>((r) => (ready = r));
  const consumeEnded = (async () => {
    for await (const _ of adopted.consume({ stream: "JOBS", durable: "adopted_close", filter_subject: "jobs.adopted", on_ready: () => ready() })) { /* none */ }
  })();
  await consuming;
  const store = await objectStoreFileServer({ connection: nc, bucket: "adopted_close" });
  const sending = adopted.send("adopted.x", [["big", bytesOf(20_000_000, 2), "binary"]], { fileserver: store });
  await new Promise((r) => setTimeout(r, 20));
  await adopted.close();
  const [env] = await sending;
  assert.equal(env.payloads[0].transport, "link");
  const late = (what: string) => new Promise((_, no) => setTimeout(() => no(new Error(`${what} still running 5 s after close()`)), 5000));
  await Promise.race([subEnded, late("the subscription")]);
  await Promise.race([consumeEnded, late("the consume loop")]);
  await rejectsWithCode(() => adopted.send("adopted.x", [["t", "x", "text"]]), "PUBLISH_FAILED", /the bridge is closed/);
  await rejectsWithCode(() => adopted.subscribe("adopted.sub"), "CONNECTION_FAILED", /the bridge is closed/);
  // Named by its subject, not its inbox ("Cannot subscribe to "_INBOX.…"").
  await rejectsWithCode(() => adopted.request("adopted.svc", [["t", "x", "text"]]), "PUBLISH_FAILED", /^Request to "adopted\.svc" refused: the bridge is closed/);
  // Nothing to publish: an envelope is built, as on a closed bridge of its own.
  const [built] = await adopted.send("adopted.x", [["t", "x", "text"]], { is_publish: false });
  assert.equal(built.send_to, "adopted.x");
  assert.equal(nc.isClosed(), false);
  await nc.close();
});

test("a request in flight when close() ends a bridge over the application's connection says so, not that the connection closed", async () => {
  const nc = (await Bridge.connect({ broker_url: nats.url, logger: quiet })).connection;
  const adopted = await Bridge.connect({ nats_connection: nc, logger: quiet });
  const pending = rejectsWithCode(() => adopted.request("adopted.nobody", [["t", "x", "text"]], { timeout: 10_000, confirm: false }), "CONNECTION_FAILED", /the bridge was closed/);
  await new Promise((r) => setTimeout(r, 50));
  await adopted.close();
  await pending;
  assert.equal(nc.isClosed(), false);
  await nc.close();
});

test("JetStream set-up failures are typed errors naming the stream: a missing stream, bad names, overlapping subjects, no JetStream", async () => {
  const b = await Bridge.connect({ broker_url: nats.url, logger: { log() {} } });
  const plain = await startNats({ jetstream: false });
  const nojs = await Bridge.connect({ broker_url: plain.url, logger: { log() {} } });
  const first = (it: AsyncIterable<unknown>) => (async () => { for await (const _ of it) break; })();
  try {
    await rejectsWithCode(() => first(b.consume({ stream: "NOPE_S", durable: "d" })), "INVALID_OPTION",
      /^Cannot consume from stream "NOPE_S": stream not found/);
    await rejectsWithCode(() => first(b.consume({ stream: "NOPE_S", durable: "a.b" })), "INVALID_OPTION",
      /^Cannot consume from stream "NOPE_S": durable name \('a\.b'\) cannot contain '\.'/);
    await ensureStream(b.connection, { name: "OVL1", subjects: ["ovl.>"] });
    await rejectsWithCode(() => ensureStream(b.connection, { name: "OVL2", subjects: ["ovl.x"] }), "INVALID_OPTION",
      /^Cannot set up stream "OVL2": subjects overlap with an existing stream/);
    await rejectsWithCode(() => ensureStream(b.connection, { name: "a.b", subjects: ["ab.x"] }), "INVALID_OPTION",
      /^Cannot set up stream "a.b": stream name \('a\.b'\) cannot contain '\.'/);
    await rejectsWithCode(() => ensureStream(nojs.connection, { name: "S", subjects: ["s.x"] }), "CONNECTION_FAILED",
      /^Cannot set up stream "S": JetStream is not enabled on this server/);
    await rejectsWithCode(() => first(nojs.consume({ stream: "S", durable: "d" })), "CONNECTION_FAILED",
      /^Cannot consume from stream "S": JetStream is not enabled on this server/);
  } finally {
    await nojs.close();
    await plain.stop();
    await b.close();
  }
});

test("a subject NATS would refuse or never match is INVALID_OPTION, for subscribe and send alike", async () => {
  // nats.js passes the last four on, and the server answers only with a status error: the
  // subscription would silently receive nothing.
  for (const subject of ["", "a b", "a\tb", "a..b", ".a", "a.", "a.>.b"]) {
    await rejectsWithCode(() => bridge.subscribe(subject), "INVALID_OPTION", /subject/);
    await rejectsWithCode(() => bridge.send(subject, [["t", "x", "text"]]), "INVALID_OPTION", /subject/);
  }
  await rejectsWithCode(() => bridge.subscribe("a..b"), "INVALID_OPTION", /subject "a\.\.b" has an empty token/);
  await rejectsWithCode(() => bridge.subscribe("a.>.b"), "INVALID_OPTION", /subject "a\.>\.b": ">" may only be the last token/);
  // Wildcards are for subscribing; a message is published to one subject.
  for (const subject of ["a.*", "a.>", "*", ">"]) {
    await rejectsWithCode(() => bridge.send(subject, [["t", "x", "text"]]), "INVALID_OPTION", /cannot publish to the wildcard subject/);
  }
  // What NATS takes literally stays allowed: wildcard characters inside a token, and wildcards when subscribing.
  for (const subject of ["a.*b", "a.b>", "a.*.c", "a.>"]) bridge.subscribe(subject).unsubscribe();
  await bridge.send("a.*b", [["t", "x", "text"]]);
});

test("a timeout longer than a JavaScript timer can wait is INVALID_OPTION, not a timeout at once", async () => {
  // setTimeout treats anything above 2^31-1 ms as 1 ms: a "wait practically
  // for ever" request timed out after 3 ms.
  const tooLong = 2 ** 31;
  await rejectsWithCode(() => bridge.request("svc.none", [["q", "x", "text"]], { timeout: tooLong }), "INVALID_OPTION", /timeout must be .* at most 2147483647/);
  await rejectsWithCode(() => bridge.send("a.b", [["t", "x", "text"]], { confirm: true, confirm_timeout: 3e9 }), "INVALID_OPTION", /confirm_timeout/);
  await rejectsWithCode(() => Promise.resolve().then(() => plikFileServer({ idleTimeout: tooLong })), "INVALID_OPTION", /idleTimeout/);
  await rejectsWithCode(() => smartreceive(JSON.stringify(sampleEnvelope()), { max_delay: tooLong }), "INVALID_OPTION", /max_delay/);
  await bridge.send("a.b", [["t", "x", "text"]], { confirm: true, confirm_timeout: tooLong - 1 });
});

test("a queue group NATS would refuse is INVALID_OPTION, and the connection stays up", async () => {
  // nats.js sent "SUB q.bad bad queue 7": the server closed the connection,
  // and every reconnect sent it again, so the whole Bridge went dark.
  for (const queue of ["bad queue", "a\tb", "", 5]) {
    await rejectsWithCode(() => bridge.subscribe("q.bad", { queue: queue as string }), "INVALID_OPTION", /queue/);
  }
  bridge.subscribe("q.ok", { queue: "workers.eu-1" }).unsubscribe();
  await bridge.send("q.good", [["a", "x", "text"]], { confirm: true });
});

test("consume options out of range are INVALID_OPTION before anything is created", async () => {
  const first = (it: AsyncIterable<unknown>) => (async () => { for await (const _ of it) break; })();
  const bad: [Partial<ConsumeOptions>, RegExp][] = [
    [{ max_deliver: 0 }, /max_deliver must be an integer ≥ 1/],
    [{ ack_wait: -1 }, /ack_wait must be an integer ≥ 1/],
    [{ nak_base_delay: -5 }, /nak_base_delay must be an integer ≥ 0/],
    [{ nak_max_delay: 1.5 }, /nak_max_delay must be an integer ≥ 0/],
    [{ dedupe_window: -1 }, /dedupe_window must be an integer ≥ 0/],
    [{ stream: "" }, /stream must be a non-empty string/],
    [{ durable: "" }, /durable must be a non-empty string/],
    // Checked per message, these dead-lettered every good message in turn.
    [{ receive: { max_retries: "5" as never } }, /max_retries/],
    [{ receive: { verify_checksum: "no" as never } }, /verify_checksum/],
    [{ signal: {} as never }, /signal/],
    [{ on_error: "log" as never }, /on_error/],
    [{ on_delivery: 5 as never }, /on_delivery/],
    [{ on_ready: true as never }, /on_ready/],
    [{ dead_letter_subject: "dead letters" }, /dead_letter_subject/],
    [{ filter_subject: 5 as never }, /filter_subject/],
  ];
  for (const [options, message] of bad) {
    await rejectsWithCode(() => first(bridge.consume({ stream: "JOBS", durable: "never", ...options } as ConsumeOptions)), "INVALID_OPTION", message);
  }
  await rejectsWithCode(() => first(bridge.consume(null as never)), "INVALID_OPTION", /stream/);
  const jsm = await jetstreamManager(bridge.connection);
  await assert.rejects(jsm.consumers.info("JOBS", "never"), /consumer not found/);
});

test("ensureStream options it cannot honour are INVALID_OPTION, not a default or a CONNECTION_FAILED", async () => {
  // retention "WorkQueue" made a limits stream, max_age "1h" kept messages for ever,
  // and a missing subjects list or connection was CONNECTION_FAILED "… is not iterable".
  const bad: [unknown, unknown, RegExp][] = [
    [bridge.connection, { name: "BADR", subjects: ["badr.x"], retention: "WorkQueue" }, /retention must be "limits" or "workqueue", got "WorkQueue"/],
    [bridge.connection, { name: "BADS", subjects: ["bads.x"], storage: "Memory" }, /storage must be "file" or "memory"/],
    [bridge.connection, { name: "BADA", subjects: ["bada.x"], max_age: "1h" }, /max_age must be an integer ≥ 0/],
    [bridge.connection, { name: "JOBS" }, /subjects must be a non-empty array/],
    [bridge.connection, { name: "BADJ", subjects: ["a b"] }, /subjects "a b" must not contain whitespace/],
    [bridge.connection, null, /options must be an object/],
    [null, { name: "X", subjects: ["x"] }, /needs an open NATS connection/],
  ];
  for (const [nc, options, message] of bad) {
    await rejectsWithCode(() => ensureStream(nc as never, options as never), "INVALID_OPTION", message);
  }
});

test("a worker not allowed to change consumers still consumes an existing durable, counting with its max_deliver", async () => {
  // Only an administrator may create or update consumers here; consume was
  // given max_deliver 2 but must count with the durable's own 4 (and say why).
  const secured = await startNats({
    config: `authorization { users = [
      { user: admin, password: admin }
      { user: worker, password: worker, permissions: {
        publish: { allow: ["$JS.API.INFO", "$JS.API.STREAM.INFO.>", "$JS.API.CONSUMER.INFO.>", "$JS.API.CONSUMER.MSG.NEXT.>", "$JS.ACK.>", "dead.>"] }
        subscribe: { allow: ["_INBOX.>"] }
      } }
    ] }`,
  });
  const url = (user: string) => secured.url.replace("nats://", `nats://${user}:${user}@`);
  const admin = await Bridge.connect({ broker_url: url("admin"), logger: quiet });
  const warnings: string[] = [];
  const worker = await Bridge.connect({
    broker_url: url("worker"),
    logger: { log: (level, line) => void (level === "warn" && warnings.push(line)) },
  });
  try {
    await ensureStream(admin.connection, { name: "TASKS", subjects: ["tasks.>"] });
    const jsm = await jetstreamManager(admin.connection);
    await jsm.consumers.add("TASKS", { durable_name: "locked", ack_policy: "explicit" as never, max_deliver: 6, filter_subject: "tasks.a" });
    const { dead, sub: dl } = deadLettersOn(admin.connection, "dead.locked");
    await admin.send("tasks.a", [["job", { id: 1 }, "dictionary"]], { jetstream: true });

    const opts = {
      stream: "TASKS", durable: "locked", filter_subject: "tasks.a", max_deliver: 2, dead_letter_subject: "dead.locked",
      nak_base_delay: 10,
    };
    let deliveries = 0;
    // Each run's loop body fails the message, until it is dead-lettered.
    for (let run = 0; run < 5 && dead.length === 0; run++) {
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), 1500);
      try {
        for await (const _ of worker.consume({ ...opts, signal: ac.signal })) {
          deliveries++;
          throw new Error("a bug in the loop body");
        }
      } catch { /* the supervisor restarts the consumer */ }
      clearTimeout(timer);
      await admin.connection.flush();
    }
    assert.equal(deliveries, 4);
    assert.deepEqual(dead.map((d) => [d.code, d.deliveries]), [["ABORTED", 4]]);
    assert.match(warnings.join("\n"), /Cannot set max_deliver\/ack_wait of durable "locked".*using its own/);
    assert.equal((await jsm.consumers.info("TASKS", "locked")).config.max_deliver, 6);
    dl.unsubscribe();
  } finally {
    await worker.close();
    await admin.close();
    await secured.stop();
  }
});

test("consume hands over a different message that reuses a msg_id; only the same bytes again are skipped", async () => {
  // A second message with another payload but the same msg_id was acked and
  // dropped as a "redelivery", with no error and no dead letter.
  const js = (await import("@nats-io/jetstream")).jetstream(bridge.connection);
  const [first, firstJson] = await bridge.send("jobs.reused", [["n", { n: 1 }, "dictionary"]], { jetstream: true });
  const [, otherJson] = await bridge.send("jobs.reused", [["n", { n: 2 }, "dictionary"]], {
    is_publish: false, msg_id: first.msg_id, correlation_id: first.correlation_id,
  });
  await js.publish("jobs.reused", otherJson); // no Nats-Msg-Id: JetStream keeps it
  await js.publish("jobs.reused", firstJson); // the first message's very bytes again: a duplicate
  const warnings: string[] = [];
  const got = await collect({
    stream: "JOBS", durable: "reused", filter_subject: "jobs.reused",
    receive: { logger: { log: (level, line) => void (level === "warn" && warnings.push(line)) } },
  }, 3, 3000);
  assert.deepEqual(got.map((e) => e.payloads[0][1]), [{ n: 1 }, { n: 2 }]);
  assert.match(warnings.join("\n"), /msg_id .* reused by a different message/);
});

test("consume whose connection closes for good (reconnects given up) fails CONNECTION_FAILED, not a quiet end", async () => {
  // A worker's loop ended as if asked to stop, and the process exited 0 with work left in the stream.
  const own = await startNats();
  const b = await Bridge.connect({ broker_url: own.url, logger: quiet, connect_options: { maxReconnectAttempts: 1, reconnectTimeWait: 50 } });
  await ensureStream(b.connection, { name: "GONE", subjects: ["gone.>"] });
  const ended = (async () => {
    for await (const _ of b.consume({ stream: "GONE", durable: "w", on_ready: () => void own.stop() })) { /* nothing arrives */ }
  })();
  await rejectsWithCode(() => ended, "CONNECTION_FAILED", /stream "GONE".*the connection to NATS closed/);
  await b.close();
});

test("a dead letter is stored once per message and consumer: not taken for a duplicate after its stream is made again", async () => {
  // Their Nats-Msg-Id was natsbridge.dead:<stream>:<seq>: a stream deleted and
  // made again starts at seq 1 again, so the next record was "a duplicate",
  // not stored, and the message termed all the same.
  const jsm = await jetstreamManager(bridge.connection);
  await jsm.streams.add({ name: "DEAD_AGAIN", subjects: ["dl.again"] });
  const tampered = sampleEnvelope();
  tampered.payloads[0].data = "aGo=";
  const js = (await import("@nats-io/jetstream")).jetstream(bridge.connection);
  try {
    for (const round of [1, 2]) {
      await ensureStream(bridge.connection, { name: "AGAIN", subjects: ["again.>"] });
      await js.publish("again.x", JSON.stringify(tampered));
      await collect({ stream: "AGAIN", durable: "w", dead_letter_subject: "dl.again" }, 0, 800);
      assert.equal((await jsm.streams.info("DEAD_AGAIN")).state.messages, round);
      await jsm.streams.delete("AGAIN");
    }
  } finally {
    await jsm.streams.delete("DEAD_AGAIN");
  }
});

test("a dead letter near max_payload is stored by a dead-letter stream too: its Nats-Msg-Id header counts", async () => {
  // The record was sized against max_payload without the header the JetStream
  // publish adds: nats.js refused it, and the message was naked for ever.
  const small = await startNats({ config: "max_payload: 4096" });
  const b = await Bridge.connect({ broker_url: small.url, logger: quiet });
  try {
    const jsm = await jetstreamManager(b.connection);
    await ensureStream(b.connection, { name: "NEAR", subjects: ["near.>"] });
    await jsm.streams.add({ name: "DEAD_NEAR", subjects: ["natsbridge.dead.NEAR"] });
    const js = (await import("@nats-io/jetstream")).jetstream(b.connection);
    // Not envelopes: each is dead-lettered; some records land within a header's length of max_payload.
    for (let size = 3600; size <= 3900; size += 4) await js.publish("near.x", "x".repeat(size));
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 8000);
    const wanted = (await jsm.streams.info("NEAR")).state.messages;
    for await (const _ of b.consume({ stream: "NEAR", durable: "w", signal: ac.signal, nak_base_delay: 10, nak_max_delay: 10, on_error: async () => {
      if ((await jsm.streams.info("DEAD_NEAR")).state.messages >= wanted) ac.abort();
    } }));
    clearTimeout(timer);
    assert.equal((await jsm.streams.info("DEAD_NEAR")).state.messages, wanted);
  } finally {
    await b.close();
    await small.stop();
  }
});

test("with reconnect: false, a subscription and a consume of a bridge that opened its connection fail CONNECTION_FAILED when the server goes", async () => {
  // nats.js resolves closed() with nothing when it does not reconnect: both ended as if asked to stop.
  const own = await startNats();
  const b = await Bridge.connect({ broker_url: own.url, logger: quiet, connect_options: { reconnect: false } });
  await ensureStream(b.connection, { name: "NORECONNECT", subjects: ["norec.>"] });
  const subscribed = (async () => {
    for await (const _ of b.subscribe("norec.core")) { /* nothing arrives */ }
  })();
  const consumed = (async () => {
    for await (const _ of b.consume({ stream: "NORECONNECT", durable: "w", on_ready: () => void own.stop() })) { /* nothing arrives */ }
  })();
  // Awaited together: the one that fails first must not be an unhandled rejection meanwhile.
  await Promise.all([rejectsWithCode(() => subscribed, "CONNECTION_FAILED"), rejectsWithCode(() => consumed, "CONNECTION_FAILED")]);
  await b.close();
  // The application's own drain or close of bridge.connection ends them quietly, as it did.
  for (const end of ["drain", "close"] as const) {
    const c = await Bridge.connect({ broker_url: nats.url, logger: quiet });
    const quietSub = (async () => {
      for await (const _ of c.subscribe("norec.quiet")) { /* nothing arrives */ }
    })();
    const quietConsume = (async () => {
      for await (const _ of c.consume({ stream: "JOBS", durable: `quiet_${end}`, filter_subject: "jobs.quiet", on_ready: () => void c.connection[end]() })) { /* nothing arrives */ }
    })();
    await quietSub;
    await quietConsume;
    await c.close();
  }
});
