/**
 * Fault test 3: the file server goes down during downloads. Down for 2 s:
 * the receivers' backoff rides it out. Down for good: each receive fails with
 * a typed error carrying the correlation id, within the configured retry budget.
 * Down for 1 s during uploads: bytes, files and Blobs are uploaded once it is back.
 * Killed in the middle of a streamed download: the stream goes on from where
 * it broke (a Range request) once the server is back, and errors with
 * `DOWNLOAD_FAILED` within the retry budget if it never is.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type NatsBridgeError, smartreceive, smartsend } from "natsbridge";
import { startPlik } from "../../scripts/servers.ts";
import { bytesOf, drainBreakingAt } from "../_helpers.ts";

const quiet = { log() {} };
const N = 20;

async function envelopes(url: string): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < N; i++) {
    const [, json] = await smartsend("down", [["blob", bytesOf(200_000, i + 1), "binary"]], {
      is_publish: false, size_threshold: 1, fileserver_url: url, correlation_id: `down-${i}`,
    });
    out.push(json);
  }
  return out;
}

test(`file server down for 2 s during ${N} downloads: backoff recovers all of them`, async () => {
  let plik = await startPlik();
  const jsons = await envelopes(plik.url);
  const { port, dataDir, url } = plik;
  await plik.stop({ keepStore: true });
  const t0 = Date.now();
  setTimeout(async () => (plik = await startPlik({ port, dataDir })), 2000);
  try {
    // Budget: 100+200+400+800+1000+1000 ms of waits > 2 s outage.
    const got = await Promise.all(jsons.map((j) =>
      smartreceive(j, { fileserver_url: url, max_retries: 7, base_delay: 100, max_delay: 1000, logger: quiet })
    ));
    console.log(`fault/fileserver-2s: ${got.length}/${N} downloads recovered after ${(Date.now() - t0) / 1000}s`);
    got.forEach((env, i) => assert.deepEqual(env.payloads[0][1], bytesOf(200_000, i + 1)));
  } finally {
    await new Promise((r) => setTimeout(r, Math.max(0, 2100 - (Date.now() - t0))));
    await plik.stop();
  }
});

test(`file server down for good: ${N} typed errors with correlation ids within the retry budget`, async () => {
  const plik = await startPlik();
  const jsons = await envelopes(plik.url);
  await plik.stop();
  const t0 = Date.now();
  const budget = 50 + 100 + 200 + 400; // max_retries 5, base 50 ms
  const results = await Promise.allSettled(jsons.map((j) =>
    smartreceive(j, { fileserver_url: plik.url, max_retries: 5, base_delay: 50, max_delay: 1000, logger: quiet })
  ));
  const elapsed = Date.now() - t0;
  console.log(`fault/fileserver-gone: ${results.filter((r) => r.status === "rejected").length}/${N} failed as DOWNLOAD_FAILED in ${elapsed} ms (waits ${budget} ms)`);
  results.forEach((r, i) => {
    assert.equal(r.status, "rejected");
    const e = (r as PromiseRejectedResult).reason as NatsBridgeError;
    assert.equal(e.code, "DOWNLOAD_FAILED");
    assert.equal(e.correlationId, `down-${i}`);
    assert.equal(e.dataname, "blob");
  });
  assert.ok(elapsed < budget + 3000, `gave up in ${elapsed} ms`);
});

test("file server down for 1 s during uploads: bytes, a file and a Blob are uploaded once it is back", async () => {
  let plik = await startPlik();
  const { port, dataDir, url } = plik;
  await plik.stop({ keepStore: true });
  const t0 = Date.now();
  setTimeout(async () => (plik = await startPlik({ port, dataDir })), 1000);
  const dir = mkdtempSync(join(tmpdir(), "natsbridge-upfault-"));
  try {
    const small = bytesOf(200_000, 1); // one multipart POST
    const large = bytesOf(3_000_000, 2); // a streamed body
    const path = join(dir, "file.bin");
    writeFileSync(path, large);
    const sources: [string, unknown, Uint8Array][] = [
      ["bytes", small, small],
      ["large bytes", large, large],
      ["file", path, large],
      ["Blob", new Blob([large as Uint8Array<ArrayBuffer>]), large],
    ];
    const sent = await Promise.all(sources.map(([name, data]) =>
      smartsend("up", [[name, data, "binary"]], { is_publish: false, size_threshold: 1, fileserver_url: url, logger: quiet })
    ));
    console.log(`fault/fileserver-upload-1s: ${sent.length}/${sources.length} uploads done after ${(Date.now() - t0) / 1000}s`);
    for (const [i, [, json]] of sent.entries()) {
      const env = await smartreceive(json, { fileserver_url: url, logger: quiet });
      assert.deepEqual(env.payloads[0][1], sources[i][2], sources[i][0]);
    }
  } finally {
    await new Promise((r) => setTimeout(r, Math.max(0, 1100 - (Date.now() - t0))));
    await plik.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("file server killed during a 40 MiB streamed download: the stream goes on from where it broke once the server is back", async () => {
  let plik = await startPlik();
  const MiB = 1024 * 1024;
  const data = bytesOf(40 * MiB, 9);
  const want = createHash("sha256").update(data).digest("hex");
  const [, json] = await smartsend("down", [["big", data, "binary"]], { is_publish: false, size_threshold: 1, fileserver_url: plik.url });
  const { port, dataDir, url } = plik;
  const lines: string[] = [];
  try {
    const env = await smartreceive(json, {
      fileserver_url: url,
      stream: true,
      max_retries: 7,
      base_delay: 100,
      max_delay: 1000,
      logger: { log: (_level, line) => lines.push(line) },
    });
    const t0 = Date.now();
    let restarted: Promise<unknown> | undefined;
    const got = await drainBreakingAt(env.payloads[0][1], 10 * MiB, async () => {
      await plik.stop({ signal: "SIGKILL", keepStore: true });
      restarted = new Promise((r) => setTimeout(r, 1000)).then(async () => (plik = await startPlik({ port, dataDir })));
    });
    assert.ok(got.brokeAt, "the server was killed during the download");
    await restarted;
    assert.equal(got.size, data.byteLength);
    assert.equal(got.sha256, want);
    const resumed = lines.filter((l) => l.includes("resuming")).length;
    console.log(`fault/fileserver-stream: killed at 10 MiB, back after 1 s; stream resumed ${resumed}x and verified ${(Date.now() - t0) / 1000}s`);
  } finally {
    await plik.stop();
  }
});

test("file server killed for good during a streamed download: the stream errors with DOWNLOAD_FAILED within the retry budget", async () => {
  const plik = await startPlik();
  const MiB = 1024 * 1024;
  const [, json] = await smartsend("down", [["big", bytesOf(40 * MiB, 10), "binary"]], {
    is_publish: false, size_threshold: 1, fileserver_url: plik.url, correlation_id: "gone-stream",
  });
  const env = await smartreceive(json, { fileserver_url: plik.url, stream: true, max_retries: 5, base_delay: 50, logger: quiet });
  let t0 = 0;
  const err = await drainBreakingAt(env.payloads[0][1], 10 * MiB, async () => {
    await plik.stop({ signal: "SIGKILL" });
    t0 = Date.now();
  }).then(() => undefined, (e) => e as NatsBridgeError);
  const elapsed = Date.now() - t0;
  assert.ok(err, "the stream errored");
  assert.equal(err.code, "DOWNLOAD_FAILED");
  assert.equal(err.correlationId, "gone-stream");
  assert.ok(elapsed < 750 + 3000, `gave up ${elapsed} ms after the kill`);
  console.log(`fault/fileserver-stream-gone: killed at 10 MiB, the stream errored ${elapsed} ms later: ${err.code} ${err.message}`);
});
