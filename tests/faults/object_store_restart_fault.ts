/**
 * Fault test: the Object Store claim check across a nats-server kill (SIGKILL)
 * and restart on the same port and store. A 40 MiB put is interrupted mid-way
 * (it resumes after the chunks the server kept); a 40 MiB streamed read is
 * interrupted mid-way (its ordered consumer is recreated from the last chunk
 * seen); a 40 MiB file sent by path and a 40 MiB ReadableStream are each
 * interrupted mid-upload (the put resumes after the chunks the server kept).
 * All must end with every byte verified. A server killed for good during a
 * put must give `UPLOAD_FAILED` once the resume attempts are spent, not hang or
 * start the put over.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  Bridge,
  NatsBridgeError,
  objectStoreFileServer,
  smartreceive,
  smartsend,
  type TransferProgress,
  UploadError,
} from "natsbridge";
import { type NatsServer, startNats } from "../../scripts/servers.ts";
import { bytesOf, drainBreakingAt, piecesOf } from "../_helpers.ts";

const MiB = 1024 * 1024;
const quiet = { log() {} };

/** Kills `nats` and starts it again on the same port and store after `downMs`; resolves once it is back. */
async function crashAndRestart(nats: NatsServer, downMs: number): Promise<NatsServer> {
  const { port, storeDir } = nats;
  await nats.stop({ signal: "SIGKILL", keepStore: true });
  await new Promise((r) => setTimeout(r, downMs));
  return await startNats({ port, storeDir });
}

test("Object Store: a 40 MiB put, a 40 MiB streamed read, a 40 MiB file by path and a 40 MiB ReadableStream each survive a nats-server kill and restart", async () => {
  let nats = await startNats();
  const bridge = await Bridge.connect({ broker_url: nats.url, logger: quiet });
  const t0 = Date.now();
  try {
    const store = await objectStoreFileServer({ connection: bridge.connection, bucket: "fault_obj" });
    const data = bytesOf(40 * MiB, 11);
    const want = createHash("sha256").update(data).digest("hex");

    // The put: the server dies once a quarter of it is out.
    let restarting: Promise<NatsServer> | undefined;
    const onProgress = (p: TransferProgress) => {
      if (!restarting && p.direction === "upload" && p.done >= 10 * MiB) restarting = crashAndRestart(nats, 1000);
    };
    const send = (name: string, payload: unknown) =>
      smartsend("fault.obj", [[name, payload, "binary"]], { is_publish: false, fileserver: store, on_progress: onProgress, logger: quiet });
    const [, json] = await send("blob", data);
    assert.ok(restarting, "the server was killed during the put");
    nats = await restarting!;
    const put = `put interrupted at 10 MiB, completed ${((Date.now() - t0) / 1000).toFixed(1)}s`;

    // The read: the server dies a quarter of the way through the stream.
    const t1 = Date.now();
    const r = await smartreceive(json, { fileserver: store, stream: true, logger: quiet });
    const got = await drainBreakingAt(r.payloads[0][1], 10 * MiB, async () => (nats = await crashAndRestart(nats, 1000)));
    assert.ok(got.brokeAt, "the server was killed during the read");
    assert.equal(got.size, data.byteLength);
    assert.equal(got.sha256, want);
    const read = `streamed read interrupted at 10 MiB, verified ${((Date.now() - t1) / 1000).toFixed(1)}s`;

    // A file sent by path: streamed; the put resumes after the failure.
    const t2 = Date.now();
    const path = join(mkdtempSync(join(tmpdir(), "natsbridge-fault-")), "payload.bin");
    writeFileSync(path, data);
    restarting = undefined;
    const [fileEnv, fileJson] = await send("file", path);
    assert.ok(restarting, "the server was killed during the file's upload");
    nats = await restarting!;
    assert.equal(fileEnv.payloads[0].metadata.checksum, want);
    const back = await smartreceive(fileJson, { fileserver: store, logger: quiet });
    assert.equal(createHash("sha256").update(back.payloads[0][1] as Uint8Array).digest("hex"), want);
    rmSync(dirname(path), { recursive: true, force: true });
    const file = `file by path interrupted at 10 MiB, resumed and verified ${((Date.now() - t2) / 1000).toFixed(1)}s`;

    // A ReadableStream cannot be read again: the put resumes after the chunks the server kept.
    const t3 = Date.now();
    restarting = undefined;
    let backwards = false;
    const source = piecesOf(data, 100_000); // not a multiple of the chunk size
    let lastDone = 0;
    const [streamEnv, streamJson] = await smartsend("fault.obj", [["stream", source, "binary"]], {
      is_publish: false,
      fileserver: store,
      logger: quiet,
      on_progress: (p) => {
        if (p.done < lastDone) backwards = true;
        lastDone = p.done;
        onProgress(p);
      },
    });
    assert.ok(restarting, "the server was killed during the stream's upload");
    nats = await restarting!;
    assert.equal(backwards, false, "progress never went back");
    assert.equal(streamEnv.payloads[0].metadata.checksum, want);
    const streamBack = await smartreceive(streamJson, { fileserver: store, logger: quiet });
    assert.equal(createHash("sha256").update(streamBack.payloads[0][1] as Uint8Array).digest("hex"), want);
    console.log(
      `fault/object-store-restart: ${put}; ${read}; ${file}; ReadableStream interrupted at 10 MiB, resumed and verified ${
        ((Date.now() - t3) / 1000).toFixed(1)
      }s`,
    );
  } finally {
    await bridge.close().catch(() => {});
    await nats.stop();
  }
});

test("Object Store: a put whose server is killed for good fails with UPLOAD_FAILED once its resume attempts are spent", async () => {
  const nats = await startNats();
  const bridge = await Bridge.connect({ broker_url: nats.url, logger: quiet, connect_options: { maxReconnectAttempts: -1 } });
  try {
    const store = await objectStoreFileServer({ connection: bridge.connection, bucket: "fault_obj_gone" });
    let killed: Promise<void> | undefined;
    let t0 = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(bytesOf(MiB, 3)); // endless: only the kill ends this put
      },
    });
    const err = await smartsend("fault.obj", [["stream", source, "binary"]], {
      is_publish: false,
      fileserver: store,
      logger: quiet,
      on_progress: (p) => {
        if (!killed && p.done >= 10 * MiB) {
          t0 = Date.now();
          killed = nats.stop({ signal: "SIGKILL" });
        }
      },
    }).then(() => undefined, (e) => e);
    await killed;
    const after = (Date.now() - t0) / 1000;
    assert.ok(err instanceof UploadError, `expected UploadError, got ${err}`);
    assert.equal(err.code, "UPLOAD_FAILED");
    assert.match(err.message, /attempts to resume failed/);
    assert.ok(err.cause instanceof NatsBridgeError, "the cause says the publish failed");
    assert.ok(after < 90, `failed ${after.toFixed(1)}s after the kill`);
    console.log(`fault/object-store-gone: server killed at 10 MiB, UPLOAD_FAILED ${after.toFixed(1)}s later: ${err.message}`);
  } finally {
    await bridge.close().catch(() => {});
    await nats.stop().catch(() => {});
  }
});
