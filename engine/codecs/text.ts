/**
 * The `text` payload: a string as UTF-8 bytes.
 *
 * @module
 */
import { DecodeError, InputError } from "../errors.ts";

const encoder = new TextEncoder();
// fatal: invalid UTF-8 from a peer is an error, not silently replaced characters.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Serializes a `text` payload.
 *
 * @param data Must be a string.
 * @returns UTF-8 bytes.
 *
 * @example
 * ```ts
 * import { serializeText } from "./text.ts";
 * console.log(serializeText("héllo").length); // 6
 * ```
 */
export function serializeText(data: unknown): Uint8Array {
  if (typeof data !== "string") {
    throw new InputError(`text payload must be a string, got ${describe(data)}`);
  }
  return encoder.encode(data);
}

/**
 * Deserializes a `text` payload.
 *
 * @param bytes UTF-8 bytes.
 * @returns The string.
 *
 * @example
 * ```ts
 * import { deserializeText } from "./text.ts";
 * console.log(deserializeText(new Uint8Array([104, 105]))); // "hi"
 * ```
 */
export function deserializeText(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new DecodeError("text payload is not valid UTF-8");
  }
}

/** Short description of a value's type for error messages. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "a Uint8Array";
  if (typeof value === "object") {
    const name = (value as object).constructor?.name;
    return name && name !== "Object" ? `a ${name}` : "an object";
  }
  return `a ${typeof value}`;
}
