/**
 * `deno bench` suite for the codec path (row 2 of the benchmark issue) and the
 * primitives under it. Every group has a baseline, so `deno bench` prints each
 * case as a ratio to it:
 *
 *     deno bench -A bench/codec_bench.ts
 *
 * - row 2: `smartsend(…, { is_publish: false })` and `smartreceive(json)` of a
 *   10 KiB binary payload, against the naive JSON+base64 envelope (row 1's);
 * - base64 encode/decode at 10 KiB and 1 MiB: the engine's choice against
 *   `Uint8Array.prototype.toBase64`/`fromBase64`, `Buffer`, and `btoa`/`atob`;
 * - the envelope's UTF-8 encode against the non-ASCII regex scan smartsend does instead;
 * - SHA-256 at 10 KiB and 1 MiB: `node:crypto` (the engine's) against
 *   WebCrypto `crypto.subtle.digest` and hash-wasm.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash, randomFillSync } from "node:crypto";
import { sha256 as wasmSha256 } from "hash-wasm";
import { smartreceive, smartsend } from "natsbridge";
import { decodeBase64, encodeBase64 } from "../engine/platform/base64.ts";
import { sha256Hex } from "../engine/platform/sha256.ts";

const KiB = 1024;
const random = (n: number) => randomFillSync(new Uint8Array(n));

interface NativeBase64 {
  toBase64(): string;
}
interface NativeBase64Ctor {
  fromBase64(s: string): Uint8Array;
}
const hasNative = typeof (Uint8Array.prototype as unknown as Partial<NativeBase64>).toBase64 === "function";

// ---------------------------------------------------------------------------
// Row 2: encode and decode of one 10 KiB payload

const payload = random(10 * KiB);
const [, envelopeJson] = await smartsend("bench.codec", [["payload", payload, "binary"]], { is_publish: false });
const naiveJson = JSON.stringify({ dataname: "payload", data: Buffer.from(payload).toString("base64") });

Deno.bench({
  name: "naive JSON.stringify + Buffer base64",
  group: "row 2 encode 10 KiB",
  baseline: true,
  fn: () => {
    JSON.stringify({ dataname: "payload", data: Buffer.from(payload).toString("base64") });
  },
});
Deno.bench({
  name: "smartsend is_publish:false (checksum on)",
  group: "row 2 encode 10 KiB",
  fn: async () => {
    await smartsend("bench.codec", [["payload", payload, "binary"]], { is_publish: false });
  },
});
Deno.bench({
  name: "smartsend is_publish:false, checksum:false",
  group: "row 2 encode 10 KiB",
  fn: async () => {
    await smartsend("bench.codec", [["payload", payload, "binary"]], { is_publish: false, checksum: false });
  },
});

Deno.bench({
  name: "naive JSON.parse + Buffer base64",
  group: "row 2 decode 10 KiB",
  baseline: true,
  fn: () => {
    Buffer.from(JSON.parse(naiveJson).data, "base64");
  },
});
Deno.bench({
  name: "smartreceive(json) (checksum verified)",
  group: "row 2 decode 10 KiB",
  fn: async () => {
    await smartreceive(envelopeJson);
  },
});
Deno.bench({
  name: "smartreceive(json), verify_checksum:false",
  group: "row 2 decode 10 KiB",
  fn: async () => {
    await smartreceive(envelopeJson, { verify_checksum: false });
  },
});

// What smartsend does to the finished envelope before publishing: a non-ASCII regex scan
// (engine/send.ts byteLength) standing in for the UTF-8 encode that nats.js then does anyway.
const utf8 = new TextEncoder();
Deno.bench({
  name: "TextEncoder.encode(envelope)",
  group: "envelope before publish",
  baseline: true,
  fn: () => void utf8.encode(envelopeJson),
});
Deno.bench({
  name: "/[^\\x00-\\x7f]/.test(envelope)",
  group: "envelope before publish",
  fn: () => void /[^\x00-\x7f]/.test(envelopeJson),
});

// ---------------------------------------------------------------------------
// base64

for (const [label, size] of [["10 KiB", 10 * KiB], ["1 MiB", 1024 * KiB]] as const) {
  const bytes = random(size);
  const text = encodeBase64(bytes);
  const small = size <= 10 * KiB;

  Deno.bench({ name: "engine encodeBase64", group: `base64 encode ${label}`, baseline: true, fn: () => void encodeBase64(bytes) });
  if (hasNative) {
    Deno.bench({ name: "Uint8Array.prototype.toBase64", group: `base64 encode ${label}`, fn: () => void (bytes as unknown as NativeBase64).toBase64() });
  }
  Deno.bench({ name: "Buffer.toString('base64')", group: `base64 encode ${label}`, fn: () => void Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64") });
  if (small) {
    Deno.bench({ name: "btoa(String.fromCharCode(...))", group: `base64 encode ${label}`, fn: () => void btoa(String.fromCharCode(...bytes)) });
  }

  Deno.bench({ name: "engine decodeBase64 (strict)", group: `base64 decode ${label}`, baseline: true, fn: () => void decodeBase64(text) });
  if (hasNative) {
    Deno.bench({ name: "Uint8Array.fromBase64", group: `base64 decode ${label}`, fn: () => void (Uint8Array as unknown as NativeBase64Ctor).fromBase64(text) });
  }
  Deno.bench({ name: "Buffer.from(text, 'base64') (lenient)", group: `base64 decode ${label}`, fn: () => void Buffer.from(text, "base64") });
  if (small) {
    Deno.bench({
      name: "atob + charCodeAt loop",
      group: `base64 decode ${label}`,
      fn: () => {
        const s = atob(text);
        const out = new Uint8Array(s.length);
        for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
      },
    });
  }
}

// ---------------------------------------------------------------------------
// SHA-256

for (const [label, size] of [["10 KiB", 10 * KiB], ["1 MiB", 1024 * KiB]] as const) {
  const bytes = random(size);
  Deno.bench({ name: "engine sha256Hex (node:crypto)", group: `sha256 ${label}`, baseline: true, fn: () => void sha256Hex(bytes) });
  Deno.bench({ name: "createHash('sha256') direct", group: `sha256 ${label}`, fn: () => void createHash("sha256").update(bytes).digest("hex") });
  Deno.bench({ name: "crypto.subtle.digest", group: `sha256 ${label}`, fn: async () => void await crypto.subtle.digest("SHA-256", bytes) });
  Deno.bench({ name: "hash-wasm sha256", group: `sha256 ${label}`, fn: async () => void await wasmSha256(bytes) });
}
