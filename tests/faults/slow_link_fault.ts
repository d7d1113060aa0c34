/**
 * Fault tests: a slow link. A client reaches nats-server through a TCP proxy
 * that lets 40 KB/s (the read) or 100 KB/s (the put) through one way, so one
 * 256 KiB Object Store chunk takes 6.5 s or 2.6 s to cross: longer than the
 * wait after which a read replaces a consumer it takes for silent, and, a
 * few chunks at a time, longer than nats.js's 5 s publish-ack timeout. A slow
 * link is neither a silent consumer nor a dead server: reads and puts must go
 * on at the link's pace.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, connect as tcpConnect, type Socket } from "node:net";
import { Bridge, objectStoreFileServer } from "natsbridge";
import { startNats } from "../../scripts/servers.ts";
import { bytesOf } from "../_helpers.ts";

/**
 * A proxy to `port` that passes the bytes going `slowWay` at `bytesPerSecond`,
 * in tenth-of-a-second steps, and the other way at full speed.
 */
async function slowProxy(
  port: number,
  slowWay: "toClient" | "toServer",
  bytesPerSecond: number,
): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const srv = createServer((client) => {
    const upstream = tcpConnect(port, "127.0.0.1");
    sockets.add(client).add(upstream);
    const [from, to] = slowWay === "toClient" ? [upstream, client] : [client, upstream];
    to.pipe(from);
    const queue: Buffer[] = [];
    let timer: ReturnType<typeof setInterval> | undefined;
    from.on("data", (d: Buffer) => {
      queue.push(d);
      timer ??= setInterval(() => {
        let budget = bytesPerSecond / 10;
        while (budget > 0 && queue.length) {
          const head = queue[0];
          const n = Math.min(budget, head.byteLength);
          to.write(head.subarray(0, n));
          budget -= n;
          if (n === head.byteLength) queue.shift();
          else queue[0] = head.subarray(n);
        }
      }, 100);
    });
    const end = () => {
      clearInterval(timer);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const { port: own } = srv.address() as { port: number };
  return {
    url: `nats://127.0.0.1:${own}`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

test("a streamed Object Store read over a slow link goes on; it does not take the link for a silent consumer", async () => {
  const nats = await startNats();
  const proxy = await slowProxy(nats.port, "toClient", 40_000);
  const quiet = { log() {} };
  const sender = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  const lines: string[] = [];
  const receiver = await Bridge.connect({ broker_url: proxy.url, logger: { log: (_l, line) => lines.push(line) } });
  try {
    const data = bytesOf(600 * 1024, 12); // three chunks: 256 + 256 + 88 KiB
    const store = await objectStoreFileServer({ connection: sender.connection, bucket: "slow" });
    const [, json] = await sender.send("slow", [["blob", data, "binary"]], { is_publish: false, fileserver: store });
    const t0 = Date.now();
    const env = await receiver.receive(json, { fileserver: await objectStoreFileServer({ connection: receiver.connection, bucket: "slow" }), stream: true });
    const h = createHash("sha256");
    let n = 0;
    for await (const chunk of env.payloads[0][1] as unknown as AsyncIterable<Uint8Array>) {
      h.update(chunk);
      n += chunk.byteLength;
    }
    assert.equal(n, data.byteLength);
    assert.equal(h.digest("hex"), createHash("sha256").update(data).digest("hex"));
    const reopened = lines.filter((l) => l.includes("with a new consumer")).length;
    console.log(`fault/slow-link: 600 KiB streamed at ~40 KB/s in ${(Date.now() - t0) / 1000}s, consumer replaced ${reopened}x`);
    assert.equal(reopened, 0, lines.join("\n"));
  } finally {
    await receiver.close().catch(() => {});
    await sender.close().catch(() => {});
    await proxy.close();
    await nats.stop();
  }
});

test("an Object Store put over a slow link arrives whole, at the link's pace, without resuming", async () => {
  const nats = await startNats();
  const proxy = await slowProxy(nats.port, "toServer", 100_000);
  const lines: string[] = [];
  const sender = await Bridge.connect({ broker_url: proxy.url, logger: { log: (_l, line) => lines.push(line) } });
  const receiver = await Bridge.connect({ broker_url: nats.url, logger: { log() {} } });
  try {
    // Eight chunks: all of them in flight at once would wait ~21 s for the last
    // ack, four times nats.js's publish-ack timeout.
    const data = bytesOf(2 * 1024 * 1024, 13);
    const store = await objectStoreFileServer({ connection: sender.connection, bucket: "slowput" });
    const t0 = Date.now();
    const [, json] = await sender.send("slowput", [["blob", data, "binary"]], { is_publish: false, fileserver: store });
    const seconds = (Date.now() - t0) / 1000;
    const env = await receiver.receive(json, { fileserver: await objectStoreFileServer({ connection: receiver.connection, bucket: "slowput" }) });
    assert.deepEqual(env.payloads[0][1], data);
    const resumed = lines.filter((l) => l.includes("not acknowledged")).length;
    console.log(`fault/slow-link: 2 MiB put at ~100 KB/s in ${seconds}s, resumed ${resumed}x`);
    assert.equal(resumed, 0, lines.join("\n"));
  } finally {
    await receiver.close().catch(() => {});
    await sender.close().catch(() => {});
    await proxy.close();
    await nats.stop();
  }
});
