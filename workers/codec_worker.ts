/**
 * The worker side of the codec pool: one module, several named handlers (a
 * task names the one it wants). Buffers arrive by transfer and go back by
 * transfer, so the caller gets its memory back without a copy.
 *
 * Runs in a `node:worker_threads` worker under Node, Bun and Deno (piscina).
 *
 * @module
 */
import { move, transferableSymbol, valueSymbol } from "piscina";
import { encodeBase64, decodeBase64 } from "../engine/platform/base64.ts";
import { sha256Hex } from "../engine/platform/sha256.ts";

/** A byte range inside a transferred buffer. */
export interface BufferSlice {
  /** The whole transferred buffer. */
  buffer: ArrayBuffer;
  /** Start of the bytes in `buffer`. */
  byteOffset: number;
  /** Length of the bytes. */
  byteLength: number;
}

const view = (s: BufferSlice) => new Uint8Array(s.buffer, s.byteOffset, s.byteLength);

/**
 * Wraps a result so piscina transfers `buffers` instead of copying them: a
 * result holding a buffer beside other fields is a piscina Transferable (the
 * two symbols), marked by `move()`.
 */
function transferring<T>(value: T, buffers: ArrayBuffer[]): T {
  return move({ [transferableSymbol]: buffers, [valueSymbol]: value } as never) as unknown as T;
}

/**
 * SHA-256 of the slice; hands the buffer back.
 *
 * @param slice The bytes.
 * @returns Hex digest and the buffer.
 */
export function sha256(slice: BufferSlice): { hex: string; slice: BufferSlice } {
  const hex = sha256Hex(view(slice));
  return transferring({ hex, slice }, [slice.buffer]);
}

/**
 * SHA-256 and base64 of the slice in one round trip (a direct payload's two
 * costs); hands the buffer back.
 *
 * @param slice The bytes.
 * @returns Hex digest, base64 text and the buffer; or an error message and the buffer.
 */
export function encodeDirect(
  slice: BufferSlice,
): { hex: string; base64: string; slice: BufferSlice } | { error: string; slice: BufferSlice } {
  const bytes = view(slice);
  try {
    return transferring({ hex: sha256Hex(bytes), base64: encodeBase64(bytes), slice }, [slice.buffer]);
  } catch (err) {
    // Past V8's longest string (~400 MB of bytes): the payload's fault, said
    // as a value; thrown, the pool would report it as its own (WORKER_FAILED).
    return transferring({ error: (err as Error).message, slice }, [slice.buffer]);
  }
}

/**
 * Decodes base64 and hashes the result.
 *
 * @param text Base64 text.
 * @returns The bytes (transferred) and their hex digest; or an error message.
 */
export function decodeDirect(text: string): { hex: string; slice: BufferSlice } | { error: string } {
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(text);
  } catch (err) {
    return { error: (err as Error).message };
  }
  // decodeBase64's bytes are alone in their buffer: the transfer moves only them.
  const slice = { buffer: bytes.buffer as ArrayBuffer, byteOffset: 0, byteLength: bytes.byteLength };
  return transferring({ hex: sha256Hex(bytes), slice }, [slice.buffer]);
}
