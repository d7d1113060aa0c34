/**
 * The golden vectors (interop/vectors/README.md) on Deno, Bun and Node: every
 * vector — written by the TypeScript and by the Python peer — decodes with
 * natsbridge's smartreceive to the expected envelope fields, wire facts,
 * checksums and canonical values; and natsbridge's smartsend on this runtime
 * writes the TypeScript vectors again byte for byte.
 *
 * Runs from source (`deno test -A interop/vectors/vectors_test.ts`, `bun test
 * interop/vectors/vectors_test.ts`) and, bundled like tests/*_test.ts, under
 * `node --test` against lib/. Finds the vectors from the repository root, so
 * the bundle may live anywhere inside the repository.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Bridge } from "natsbridge";
import { sha256Hex } from "../common/bytes.ts";
import { jsonDiff } from "../common/canonical.ts";
import { createRenderer } from "../common/peer_core.ts";
import { loadVectors, tsEnvelope, VECTOR_CASES } from "./vectors.ts";

const { manifest, vectors } = loadVectors();
// Vectors are direct transport only, so nothing is downloaded and no bridge is needed.
const render = createRenderer(undefined as unknown as Bridge, { fileserver: "http://127.0.0.1:9" });

test("the manifest lists every case for both peers, and each file is intact", async () => {
  for (const peer of ["ts", "python"]) {
    assert.deepEqual(
      manifest.vectors.filter((v) => v.peer === peer).map((v) => v.case),
      [...VECTOR_CASES],
      `${peer} vectors`,
    );
  }
  for (const { entry, text } of vectors) {
    assert.equal(
      await sha256Hex(new TextEncoder().encode(text)),
      entry.sha256,
      `${entry.file} changed since generation`,
    );
  }
});

for (const { entry, vector } of vectors) {
  test(`${entry.peer} vector ${entry.case} decodes to its expected values`, async () => {
    const out = await render({
      data: new TextEncoder().encode(vector.envelope_json),
      subject: "vectors",
    }) as
      & Record<string, unknown>
      & { error?: unknown; payloads: Array<Record<string, unknown>> };
    assert.equal(out.error, undefined, `receive failed: ${JSON.stringify(out.error)}`);
    for (const [k, v] of Object.entries(vector.expected.envelope)) {
      assert.equal(jsonDiff(out[k], v), undefined, `envelope field ${k}`);
    }
    assert.equal(out.payloads.length, vector.expected.payloads.length);
    vector.expected.payloads.forEach((e, i) => {
      const g = out.payloads[i];
      const at = `payload ${i} "${e.dataname}"`;
      assert.equal(g.dataname, e.dataname, at);
      assert.equal(g.payload_type, e.payload_type, at);
      assert.equal(g.transport, "direct", at);
      assert.equal(g.encoding, e.encoding, at);
      assert.equal(g.size, e.size, at);
      assert.equal(g.checksum, e.checksum, `${at}: checksum`);
      assert.equal(g.checksum_recomputed, e.bytes_sha256, `${at}: SHA-256 of the bytes`);
      assert.equal(e.checksum, e.bytes_sha256, `${at}: the vector's own checksum`);
      assert.equal(
        jsonDiff(g.value, e.value, "value"),
        undefined,
        `${at}: ${jsonDiff(g.value, e.value, "value")}`,
      );
    });
  });
}

for (const { entry, vector } of vectors.filter((v) => v.entry.peer === "ts")) {
  test(`smartsend on this runtime writes the ts vector ${entry.case} byte for byte`, async () => {
    assert.equal(await tsEnvelope(entry.case, manifest.fixed), vector.envelope_json);
  });
}

test("a vector with a tampered checksum is refused with CHECKSUM_MISMATCH", async () => {
  const { vector } = vectors.find((v) => v.entry.peer === "python" && v.entry.case === "binary")!;
  const env = JSON.parse(vector.envelope_json);
  env.payloads[0].metadata.checksum = "f".repeat(64);
  const out = await render({
    data: new TextEncoder().encode(JSON.stringify(env)),
    subject: "vectors",
  }) as {
    error?: { code: string; correlation_id: string; dataname: string };
  };
  assert.equal(out.error?.code, "CHECKSUM_MISMATCH");
  assert.equal(out.error?.correlation_id, manifest.fixed.correlation_id);
  assert.equal(out.error?.dataname, "blob");
});
