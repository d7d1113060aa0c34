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
 * @param data A `Uint8Array` (a Node `Buffer` is one), or an `ArrayBuffer`.
 * @param type The payload type, for the error message.
 * @returns A `Uint8Array` view of the same memory (no copy).
 *
 * @example
 * ```ts
 * import { serializeBytes } from "./bytes.ts";
 * console.log(serializeBytes(new Uint8Array([1, 2]), "binary").length); // 2
 * ```
 */
export function serializeBytes(data: unknown, type = "binary"): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  throw new InputError(`${type} payload must be a Uint8Array, got ${describe(data)}`);
}
