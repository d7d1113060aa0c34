/**
 * The codec micro-benchmarks, defined once for both runners: `deno bench`
 * (`bench/codec_bench.ts`) and tinybench on Bun and Node
 * (`bench/codec_tinybench.ts`). Every group has one baseline; the runners
 * report each case as a ratio to it.
 *
 * - row 2: `smartsend(…, { is_publish: false })` and `smartreceive(json)` of a
 *   10 KiB binary payload, against the naive JSON+base64 envelope (row 1's);
 * - the envelope's JSON: `JSON.stringify` against the engine's splice;
 * - the received envelope's UTF-8 decode: strict decoder against the engine's
 *   lenient decode + U+FFFD check;
 * - base64 encode/decode at 10 KiB and 1 MiB: the engine's choice against
 *   `Uint8Array.prototype.toBase64`/`fromBase64`, `Buffer`, and `btoa`/`atob`;
 * - SHA-256 at 10 KiB and 1 MiB: `node:crypto` (the engine's) against
 *   WebCrypto `crypto.subtle.digest`, hash-wasm and, on Bun, `Bun.CryptoHasher`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash, randomFillSync } from "node:crypto";
import { sha256 as wasmSha256 } from "hash-wasm";
import { smartreceive, smartsend } from "natsbridge";
import { stringifyEnvelope } from "../engine/envelope_json.ts";
import { decodeBase64, encodeBase64 } from "../engine/platform/base64.ts";
import { sha256Hex } from "../engine/platform/sha256.ts";

/** One benchmark case. */
export interface CodecCase {
  group: string;
  name: string;
  /** The case the others in its group are compared with. */
  baseline?: boolean;
  fn: () => unknown;
}

const KiB = 1024;
const random = (n: number) => randomFillSync(new Uint8Array(n));

interface NativeBase64 {
  toBase64(): string;
}
interface NativeBase64Ctor {
  fromBase64(s: string): Uint8Array;
}
const hasNative = typeof (Uint8Array.prototype as unknown as Partial<NativeBase64>).toBase64 === "function";
const BunHasher = (globalThis as { Bun?: { CryptoHasher: new (alg: string) => { update(b: Uint8Array): { digest(enc: "hex"): string } } } })
  .Bun?.CryptoHasher;

/**
 * `fn` as a runner wants it: async only when it returns a promise, so the
 * synchronous primitives are not timed with a promise round trip each.
 */
export async function runnable(c: CodecCase): Promise<() => unknown> {
  const probe = c.fn();
  if (probe instanceof Promise) {
    await probe;
    return async () => void await c.fn();
  }
  return () => void c.fn();
}

/** All cases; builds the fixtures (one envelope through smartsend) first. */
export async function codecCases(): Promise<CodecCase[]> {
  const cases: CodecCase[] = [];
  const add = (group: string, name: string, fn: () => unknown, baseline = false) => cases.push({ group, name, fn, baseline });

  // Row 2: encode and decode of one 10 KiB payload.
  const payload = random(10 * KiB);
  const [envelope, envelopeJson] = await smartsend("bench.codec", [["payload", payload, "binary"]], { is_publish: false });
  const naiveJson = JSON.stringify({ dataname: "payload", data: Buffer.from(payload).toString("base64") });
  let g = "row 2 encode 10 KiB";
  add(g, "naive JSON.stringify + Buffer base64", () => JSON.stringify({ dataname: "payload", data: Buffer.from(payload).toString("base64") }), true);
  add(g, "smartsend is_publish:false (checksum on)", () => smartsend("bench.codec", [["payload", payload, "binary"]], { is_publish: false }));
  add(g, "smartsend is_publish:false, checksum:false", () =>
    smartsend("bench.codec", [["payload", payload, "binary"]], { is_publish: false, checksum: false }));
  g = "row 2 decode 10 KiB";
  add(g, "naive JSON.parse + Buffer base64", () => Buffer.from(JSON.parse(naiveJson).data, "base64"), true);
  add(g, "smartreceive(json) (checksum verified)", () => smartreceive(envelopeJson));
  add(g, "smartreceive(json), verify_checksum:false", () => smartreceive(envelopeJson, { verify_checksum: false }));

  // The envelope around a 10 KiB payload, written and read.
  const trusted = new Set(envelope.payloads);
  g = "envelope JSON 10 KiB";
  add(g, "JSON.stringify(envelope)", () => JSON.stringify(envelope), true);
  add(g, "engine stringifyEnvelope (base64 spliced)", () => stringifyEnvelope(envelope, trusted));
  const wire = new TextEncoder().encode(envelopeJson);
  const strict = new TextDecoder("utf-8", { fatal: true });
  const lenient = new TextDecoder();
  g = "envelope UTF-8 decode 14 KB";
  add(g, "TextDecoder fatal", () => strict.decode(wire), true);
  add(g, "engine: lenient TextDecoder + U+FFFD check", () => lenient.decode(wire).indexOf("\uFFFD"));

  for (const [label, size] of [["10 KiB", 10 * KiB], ["1 MiB", 1024 * KiB]] as const) {
    const bytes = random(size);
    const text = encodeBase64(bytes);
    const small = size <= 10 * KiB;
    g = `base64 encode ${label}`;
    add(g, "engine encodeBase64", () => encodeBase64(bytes), true);
    if (hasNative) add(g, "Uint8Array.prototype.toBase64", () => (bytes as unknown as NativeBase64).toBase64());
    add(g, "Buffer.toString('base64')", () => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64"));
    if (small) add(g, "btoa(String.fromCharCode(...))", () => btoa(String.fromCharCode(...bytes)));
    g = `base64 decode ${label}`;
    add(g, "engine decodeBase64 (strict)", () => decodeBase64(text), true);
    if (hasNative) add(g, "Uint8Array.fromBase64", () => (Uint8Array as unknown as NativeBase64Ctor).fromBase64(text));
    add(g, "Buffer.from(text, 'base64') (lenient)", () => Buffer.from(text, "base64"));
    if (small) {
      add(g, "atob + charCodeAt loop", () => {
        const s = atob(text);
        const out = new Uint8Array(s.length);
        for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
        return out;
      });
    }
  }

  for (const [label, size] of [["10 KiB", 10 * KiB], ["1 MiB", 1024 * KiB]] as const) {
    const bytes = random(size);
    g = `sha256 ${label}`;
    add(g, "engine sha256Hex (node:crypto)", () => sha256Hex(bytes), true);
    add(g, "createHash('sha256') direct", () => createHash("sha256").update(bytes).digest("hex"));
    add(g, "crypto.subtle.digest", () => crypto.subtle.digest("SHA-256", bytes));
    add(g, "hash-wasm sha256", () => wasmSha256(bytes));
    if (BunHasher) add(g, "Bun.CryptoHasher", () => new BunHasher("sha256").update(bytes).digest("hex"));
  }
  return cases;
}
