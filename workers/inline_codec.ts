/**
 * The codec work both pools do on the calling thread — small payloads whole,
 * large buffers they may not move in slices — shared by `pool.ts` and the
 * browser build's `pool_browser.ts`.
 *
 * @module
 */
import { decodeBase64, encodeBase64 } from "../engine/platform/base64.ts";
import { createSha256, sha256Hex } from "../engine/platform/sha256.ts";

/** Slice hashed between yields when a large buffer must stay on the calling thread. */
export const INLINE_SLICE = 1024 * 1024;

/**
 * Lets pending I/O and timers run: `setImmediate` where it exists (Node, Bun,
 * Deno: no 1 ms timer clamp), else a `MessageChannel` hop (pages: no 4 ms
 * clamp), else a timer.
 *
 * @returns A promise settled on a later turn of the event loop.
 *
 * @example
 * ```ts
 * import { yieldToEventLoop } from "./inline_codec.ts";
 * await yieldToEventLoop();
 * ```
 */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as unknown as { setImmediate?: (f: () => void) => void };
  if (g.setImmediate) return new Promise((r) => g.setImmediate!(r));
  if (typeof MessageChannel === "undefined") return new Promise((r) => setTimeout(r, 0));
  return new Promise((r) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      r();
    };
    ch.port2.postMessage(null);
  });
}

/**
 * SHA-256 of a buffer in {@link INLINE_SLICE} slices, yielding to the event
 * loop between them, so a large buffer does not stall it for its whole length.
 *
 * @param bytes Input (not detached).
 * @returns Lowercase hex digest.
 *
 * @example
 * ```ts
 * import { hashInSlices } from "./inline_codec.ts";
 * console.log(await hashInSlices(new Uint8Array())); // "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
 * ```
 */
export async function hashInSlices(bytes: Uint8Array): Promise<string> {
  const h = createSha256();
  for (let i = 0; i < bytes.byteLength; i += INLINE_SLICE) {
    h.update(bytes.subarray(i, i + INLINE_SLICE));
    await yieldToEventLoop();
  }
  return h.digestHex();
}

/**
 * Base64 of a small payload and, when asked, its SHA-256, synchronously.
 *
 * @param bytes The payload.
 * @param checksum Whether to hash it.
 * @returns The base64 and the digest (`undefined` when not asked).
 *
 * @example
 * ```ts
 * import { encodeInline } from "./inline_codec.ts";
 * console.log(encodeInline(new TextEncoder().encode("hi"), false)); // { base64: "aGk=", checksum: undefined }
 * ```
 */
export function encodeInline(bytes: Uint8Array, checksum: boolean): { base64: string; checksum: string | undefined } {
  return { base64: encodeBase64(bytes), checksum: checksum ? sha256Hex(bytes) : undefined };
}

/**
 * The bytes of a small base64 payload and, when asked, their SHA-256,
 * synchronously.
 *
 * @param text Base64.
 * @param checksum Whether to hash the bytes.
 * @returns The bytes and the digest (`undefined` when not asked).
 * @throws {Error} With the decoder's message on malformed base64.
 *
 * @example
 * ```ts
 * import { decodeInline } from "./inline_codec.ts";
 * console.log(decodeInline("aGk=", false).bytes.length); // 2
 * ```
 */
export function decodeInline(text: string, checksum: boolean): { bytes: Uint8Array; checksum: string | undefined } {
  const bytes = decodeBase64(text);
  return { bytes, checksum: checksum ? sha256Hex(bytes) : undefined };
}
