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
  // TextEncoder would write a lone surrogate as U+FFFD, and the checksum
  // would vouch for the changed text. isWellFormed is native and scans fast.
  if (!(data as string & { isWellFormed(): boolean }).isWellFormed()) {
    throw new InputError(`text payload holds a lone surrogate at index ${loneSurrogateAt(data)}: UTF-8 cannot carry it`);
  }
  return encoder.encode(data);
}

/**
 * Index of the first UTF-16 surrogate without its pair, or -1.
 *
 * @param s The string.
 * @returns The index.
 *
 * @example
 * ```ts
 * import { loneSurrogateAt } from "./text.ts";
 * console.log(loneSurrogateAt("a\ud800")); // 1
 * ```
 */
export function loneSurrogateAt(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
      else return i;
    } else if (c >= 0xdc00 && c <= 0xdfff) return i;
  }
  return -1;
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
    // "an Error", "an ArrayBuffer"; "a Uint8Array" (said "you").
    return name && name !== "Object" ? `${/^[AEIO]/.test(name) ? "an" : "a"} ${name}` : "an object";
  }
  return `a ${typeof value}`;
}
