/**
 * The `image`, `audio`, `video` and `binary` payloads: raw bytes, unchanged.
 *
 * @module
 */
import { InputError } from "../errors.ts";
import { describe } from "./text.ts";

/**
 * Checks and returns the bytes of a binary-type payload.
 *
 * @param data A `Uint8Array` (a Node `Buffer` is one), another typed array or
 *   `DataView`, an `ArrayBuffer` or a `SharedArrayBuffer`.
 * @param type The payload type, for the error message.
 * @returns A `Uint8Array` view of the same memory (no copy), except over
 *   shared memory: that is copied, since another thread may change it while
 *   it is hashed and sent, and `Blob`, `fetch` and `Response` refuse it.
 *
 * @example
 * ```ts
 * import { serializeBytes } from "./bytes.ts";
 * console.log(serializeBytes(new Uint8Array([1, 2]), "binary").length); // 2
 * ```
 */
export function serializeBytes(data: unknown, type = "binary"): Uint8Array<ArrayBuffer> {
  if (isShared(data)) return new Uint8Array(data).slice();
  if (ArrayBuffer.isView(data)) {
    const view = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return isShared(view.buffer) ? view.slice() : view as Uint8Array<ArrayBuffer>;
  }
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new InputError(`${type} payload must be a Uint8Array, got ${describe(data)}`);
}

/** Whether `x` is a SharedArrayBuffer (absent where cross-origin isolation is off). */
function isShared(x: unknown): x is SharedArrayBuffer {
  return typeof SharedArrayBuffer !== "undefined" && x instanceof SharedArrayBuffer;
}
