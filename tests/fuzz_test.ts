/**
 * Hostile input: a property-based fuzz run (fast-check) over mutated
 * envelopes. Whatever the mutation, smartreceive either returns a whole
 * result or rejects with a typed natsbridge error — no crash, no hang, no
 * other exception. Links point at a download handler that counts calls, so
 * nothing leaves the process; bounded in runs and time.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { type DownloadHandler, smartreceive, smartsend } from "natsbridge";
import { bytesOf } from "./_helpers.ts";

const quiet = { log() {} };
const CODES = new Set([
  "ENVELOPE_INVALID", "UNKNOWN_PAYLOAD_TYPE", "UNKNOWN_ENCODING", "UNKNOWN_TRANSPORT", "DECODE_FAILED",
  "SIZE_MISMATCH", "CHECKSUM_MISMATCH", "ORIGIN_REFUSED", "DOWNLOAD_FAILED", "PAYLOAD_GONE", "PAYLOAD_TOO_LARGE",
]);

// A fake store (unit-level fuzzing; the real ones are covered by the integration tests).
const files = new Map<string, Uint8Array>();
// deno-lint-ignore require-await -- a handler is async by contract
const download: DownloadHandler = async (url) => {
  const f = files.get(url);
  if (!f) throw new Error("no such file");
  return f;
};
// deno-lint-ignore require-await -- a handler is async by contract
const upload = async (_u: string, name: string, data: Uint8Array) => {
  const url = `http://files.test/f/${files.size}/${name}`;
  files.set(url, data.slice());
  return { status: 200, uploadid: "u", fileid: "f", url };
};

const [, baseJson] = await smartsend("fuzz", [
  ["t", "héllo", "text"],
  ["d", { a: [1, 2, { b: null }] }, "dictionary"],
  ["j", [{ id: 1 }], "jsontable"],
  ["a", [{ x: 1, y: "s" }], "arrowtable"],
  ["b", bytesOf(300), "binary"],
  ["l", bytesOf(2000), "image"],
], { is_publish: false, size_threshold: 1000, fileserver_upload_handler: upload });
const base = JSON.parse(baseJson);

const receive = (input: unknown) =>
  smartreceive(input as object, {
    fileserver_download_handler: download, allowed_origins: ["http://files.test"], max_retries: 1, logger: quiet,
  });

/** Runs one input: must resolve or reject with a known code, within 2 s. */
async function survive(input: unknown): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise((_, rej) => (timer = setTimeout(() => rej(new Error("hang")), 2000)));
  try {
    await Promise.race([receive(input), hang]);
  } catch (err) {
    const e = err as { code?: string; message: string };
    assert.ok(e.code && CODES.has(e.code), `untyped rejection: ${e.code} ${e.message}`);
  } finally {
    clearTimeout(timer);
  }
}

const anyJson = fc.jsonValue({ maxDepth: 4 });
const paths: string[][] = [];
(function walk(v: unknown, p: string[]) {
  paths.push(p);
  if (v && typeof v === "object") for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k], [...p, k]);
})(base, []);

/** Replaces, deletes, or adds a value at one path of the base envelope. */
const mutation = fc.record({
  path: fc.constantFrom(...paths.filter((p) => p.length > 0)),
  op: fc.constantFrom("replace", "delete", "string", "number"),
  value: anyJson,
  s: fc.string({ maxLength: 40 }),
  n: fc.oneof(fc.integer(), fc.double()),
});

test("fuzz: 1500 single-field mutations of a valid envelope never crash, hang or throw untyped", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (muts) => {
      const env = structuredClone(base);
      for (const m of muts) {
        let parent: Record<string, unknown> = env;
        for (const k of m.path.slice(0, -1)) {
          const next = parent?.[k];
          if (!next || typeof next !== "object") return;
          parent = next as Record<string, unknown>;
        }
        const key = m.path.at(-1)!;
        if (m.op === "delete") delete parent[key];
        else parent[key] = m.op === "replace" ? m.value : m.op === "string" ? m.s : m.n;
      }
      await survive(JSON.stringify(env));
    }),
    { numRuns: 1500, seed: 20261123, interruptAfterTimeLimit: 60_000 },
  );
});

test("fuzz: 1500 byte-level corruptions of the envelope text never crash, hang or throw untyped", async () => {
  const bytes = new TextEncoder().encode(baseJson);
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      async (edits) => {
        const b = bytes.slice();
        for (const [i, v] of edits) b[i] = v;
        await survive(b);
      },
    ),
    { numRuns: 1500, seed: 42, interruptAfterTimeLimit: 60_000 },
  );
});

test("fuzz: arbitrary JSON values and oversize/deep documents are rejected as ENVELOPE_INVALID", async () => {
  // deno-lint-ignore require-await -- a handler is async by contract
  await fc.assert(fc.asyncProperty(anyJson, async (v) => survive(JSON.stringify(v))), { numRuns: 500, seed: 7 });
  for (const hostile of ["[".repeat(1_000_000), '{"a":' .repeat(100_000), `"${"x".repeat(20_000_000)}"`]) {
    await survive(hostile);
  }
});
