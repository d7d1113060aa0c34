/**
 * The `dictionary` and `jsontable` payloads: JSON as UTF-8 bytes.
 *
 * @module
 */
import { DecodeError, InputError } from "../errors.ts";
import { describe } from "./text.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Serializes a `dictionary` payload.
 *
 * @param data A JSON-serializable plain object or array.
 * @returns UTF-8 JSON bytes.
 *
 * @example
 * ```ts
 * import { serializeDictionary } from "./json.ts";
 * console.log(new TextDecoder().decode(serializeDictionary({ a: 1 }))); // '{"a":1}'
 * ```
 */
export function serializeDictionary(data: unknown): Uint8Array {
  if (data === null || typeof data !== "object" || data instanceof Uint8Array) {
    throw new InputError(`dictionary payload must be an object or an array, got ${describe(data)}`);
  }
  const text = stringify(data, "dictionary");
  // A toJSON() may write it as something else (a Date, a URL as a string),
  // which every receiver would refuse.
  if (text[0] !== "{" && text[0] !== "[") {
    throw new InputError(`dictionary payload must be written as a JSON object or array, but ${describe(data)} is written as ${text.slice(0, 40)}`);
  }
  return encoder.encode(text);
}

/**
 * Serializes a `jsontable` payload.
 *
 * @param data An array of row objects.
 * @returns UTF-8 JSON bytes.
 *
 * @example
 * ```ts
 * import { serializeJsonTable } from "./json.ts";
 * const bytes = serializeJsonTable([{ id: 1, name: "Alice" }]);
 * console.log(new TextDecoder().decode(bytes)); // '[{"id":1,"name":"Alice"}]'
 * ```
 */
export function serializeJsonTable(data: unknown): Uint8Array {
  assertRows(data, "jsontable", InputError);
  return encoder.encode(stringify(data, "jsontable"));
}

/**
 * Deserializes a `dictionary` payload.
 *
 * @param bytes UTF-8 JSON.
 * @returns The parsed object or array.
 *
 * @example
 * ```ts
 * import { deserializeDictionary } from "./json.ts";
 * console.log(deserializeDictionary(new TextEncoder().encode('{"a":1}'))); // { a: 1 }
 * ```
 */
export function deserializeDictionary(bytes: Uint8Array): unknown {
  const value = parse(bytes, "dictionary");
  if (value === null || typeof value !== "object") {
    throw new DecodeError(`dictionary payload must hold a JSON object or array, got ${describe(value)}`);
  }
  return value;
}

/**
 * Deserializes a `jsontable` payload.
 *
 * @param bytes UTF-8 JSON of an array of row objects.
 * @returns The rows.
 *
 * @example
 * ```ts
 * import { deserializeJsonTable } from "./json.ts";
 * console.log(deserializeJsonTable(new TextEncoder().encode('[{"id":1}]'))); // [{ id: 1 }]
 * ```
 */
export function deserializeJsonTable(bytes: Uint8Array): Record<string, unknown>[] {
  const value = parse(bytes, "jsontable");
  assertRows(value, "jsontable", DecodeError);
  return value;
}

/** Throws `ErrorClass` unless `value` is an array of plain row objects. */
export function assertRows(
  value: unknown,
  what: string,
  ErrorClass: typeof InputError | typeof DecodeError,
): asserts value is Record<string, unknown>[] {
  if (!Array.isArray(value)) {
    throw new ErrorClass(`${what} payload must be an array of row objects, got ${describe(value)}`);
  }
  for (let i = 0; i < value.length; i++) {
    const row = value[i];
    if (row === null || typeof row !== "object" || Array.isArray(row)) {
      throw new ErrorClass(`${what} row ${i} must be an object, got ${describe(row)}`);
    }
  }
}

function stringify(data: unknown, what: string): string {
  try {
    const text = JSON.stringify(data);
    if (text === undefined) throw new Error("not JSON-serializable");
    return text;
  } catch (err) {
    throw new InputError(`${what} payload is not JSON-serializable: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function parse(bytes: Uint8Array, what: string): unknown {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new DecodeError(`${what} payload is not valid UTF-8`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DecodeError(`${what} payload is not valid JSON: ${(err as Error).message}`);
  }
}
