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
  for (let i = 0; i < data.length; i++) assertWrittenAsObject(data[i], i);
  return encoder.encode(stringify(data, "jsontable"));
}

/**
 * Throws unless JSON writes the row as an object: a Date row would go out as
 * a string every receiver refuses, a Map row as `{}`.
 */
function assertWrittenAsObject(row: object, i: number): void {
  if (Object.prototype.toString.call(row) !== "[object Object]") {
    throw new InputError(`jsontable row ${i} must be an object, got ${describe(row)}`);
  }
  const toJSON = (row as { toJSON?: unknown }).toJSON;
  if (typeof toJSON !== "function") return;
  const written = toJSON.call(row, String(i));
  if (written === null || typeof written !== "object" || Array.isArray(written)) {
    throw new InputError(`jsontable row ${i} is written by its toJSON() as ${JSON.stringify(written)?.slice(0, 40)}, not as an object`);
  }
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
  let text: string | undefined;
  try {
    text = JSON.stringify(data);
    if (text === undefined) throw new Error("not JSON-serializable");
  } catch (err) {
    // Node and Bun's JSON.stringify run out of stack on deep nesting; Deno's does not.
    if (err instanceof RangeError && /call stack|recursion/i.test(err.message)) throw new InputError(tooDeep(what), { cause: err });
    throw new InputError(`${what} payload is not JSON-serializable: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (jsonDeeperThan(text, MAX_JSON_DEPTH)) throw new InputError(tooDeep(what));
  // After stringify, which has refused cycles and bigints, and the depth check: the walk ends.
  return walkJson(data, `${what} payload`) ? stringifyKeepingNegativeZero(data) : text;
}

/**
 * `JSON.stringify(data)` with each -0 written `-0.0`, as Python and Julia
 * write it (`JSON.stringify` writes `0`; `-0` would reach a Python peer as
 * the integer 0). Rare, so a second pass: each -0 is swapped for a marker no
 * string holds, then the quoted marker for the number.
 */
function stringifyKeepingNegativeZero(data: unknown): string {
  const marker = `natsbridge-negative-zero-${crypto.randomUUID()}`;
  const text = JSON.stringify(data, (_key, value) => Object.is(primitiveNumber(value), -0) ? marker : value);
  return text.replaceAll(`"${marker}"`, "-0.0");
}

/** What unboxes each boxed primitive JSON writes as itself; it throws for an object that only carries the tag. */
const UNBOXERS: Record<string, () => unknown> = {
  "[object String]": String.prototype.valueOf,
  "[object Boolean]": Boolean.prototype.valueOf,
  "[object Number]": Number.prototype.valueOf,
};

/** The number a number or a boxed Number is written as by JSON; `undefined` for anything else. */
function primitiveNumber(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (value !== null && typeof value === "object" && Object.prototype.toString.call(value) === "[object Number]") {
    // The tag can be any object's own (Symbol.toStringTag); only a real Number has a number inside.
    try {
      return Number.prototype.valueOf.call(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Deepest nesting a `dictionary`, `jsontable` or `arrowtable` row value may
 * have. The Python peer's parser stops near 1000 levels; deeper values also
 * overflow the stack of any recursive code that handles them later (50,000
 * levels crashed the CLI).
 *
 * @example
 * ```ts
 * import { MAX_JSON_DEPTH } from "./json.ts";
 * console.log(MAX_JSON_DEPTH); // 512
 * ```
 */
export const MAX_JSON_DEPTH = 512;

/**
 * Whether `value` nests objects and arrays more than `max` levels deep (the
 * value itself is level 1), walked without recursion: a hostile peer's
 * 100,000 levels parse fine and overflowed the stack of whatever handled them
 * next. A cycle counts as too deep. Cheap for the small, flat metadata every
 * message carries.
 *
 * @param value An object or array.
 * @param max Deepest nesting allowed.
 * @returns `true` when deeper.
 *
 * @example
 * ```ts
 * import { nestedDeeperThan } from "./json.ts";
 * console.log(nestedDeeperThan({ a: [[1]] }, 3)); // false
 * console.log(nestedDeeperThan({ a: [[[1]]] }, 3)); // true
 * ```
 */
export function nestedDeeperThan(value: object, max: number): boolean {
  const pending: [object, number][] = [[value, 1]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [node, depth] = next;
    for (const child of Object.values(node)) {
      if (child === null || typeof child !== "object") continue;
      if (depth + 1 > max) return true;
      pending.push([child, depth + 1]);
    }
  }
  return false;
}

const tooDeep = (what: string) =>
  `${what} payload is nested deeper than ${MAX_JSON_DEPTH} levels, more than peers read or recursive code handles`;

/**
 * Whether valid JSON `text` nests arrays and objects deeper than `max`;
 * brackets in strings do not count.
 *
 * @param text JSON text, as `JSON.stringify` wrote it.
 * @param max Deepest nesting allowed.
 * @returns `true` when deeper.
 *
 * @example
 * ```ts
 * import { jsonDeeperThan } from "./json.ts";
 * console.log(jsonDeeperThan('{"a":[["]]]"]]}', 3)); // false
 * ```
 */
export function jsonDeeperThan(text: string, max: number): boolean {
  if (text.length <= 2 * max) return false; // each level takes two characters
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) { // a string: to its closing quote, over escapes
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * Throws `INVALID_INPUT` for a value JSON would change on the way: NaN and
 * Infinity (written as null), a Map, Set or typed array (written as {}), a
 * function or symbol, undefined in a list, an invalid Date (null). A -0 is
 * noted for {@link jsonText}, which writes it kept. Cycles and bigints are
 * left to `JSON.stringify`, which throws for them.
 *
 * @param value The value, as it will be given to `JSON.stringify`.
 * @param what What it is, for the message ("metadata").
 * @throws {InputError} Naming the path of the first such value.
 *
 * @example
 * ```ts
 * import { checkJsonKeeps } from "./json.ts";
 * checkJsonKeeps({ step: 0.5, tags: ["a"] }, "metadata");
 * ```
 */
export function checkJsonKeeps(value: unknown, what: string): void {
  if (walkJson(value, what) && typeof value === "object" && value !== null) holdingNegativeZero.add(value);
}

/** What {@link checkJsonKeeps} found a -0 in: {@link jsonText} writes it kept. */
const holdingNegativeZero = new WeakSet<object>();

/**
 * `JSON.stringify(value)`, but with each -0 written `-0.0` when
 * {@link checkJsonKeeps} found one in `value` (envelope metadata: a relayed
 * Python peer's `-0.0` would go out as `0`). Checked values only, so the
 * metadata of every send costs no second walk.
 *
 * @param value A value given to {@link checkJsonKeeps} before.
 * @returns The JSON text.
 *
 * @example
 * ```ts
 * import { checkJsonKeeps, jsonText } from "./json.ts";
 * const metadata = { offset: -0 };
 * checkJsonKeeps(metadata, "metadata");
 * console.log(jsonText(metadata)); // '{"offset":-0.0}'
 * ```
 */
export function jsonText(value: unknown): string | undefined {
  return typeof value === "object" && value !== null && holdingNegativeZero.has(value)
    ? stringifyKeepingNegativeZero(value)
    : JSON.stringify(value);
}

/**
 * Throws where JSON.stringify would silently write another value: NaN and
 * ±Infinity as null, an integer beyond ±2^53−1 as digits peers read
 * differently, a Map, Set or Error as `{}`, a typed array as `{"0":…}`, a
 * function or symbol dropped, undefined in a list as null, an invalid Date as
 * null. A boxed number is checked as the number it is written as. A value with
 * a toJSON() is checked as what it returns (a Date, known to be a string,
 * only for being valid), and a class instance as its fields, as JSON writes
 * them everywhere. Returns whether it holds a -0, which JSON.stringify
 * writes as 0 and the caller writes itself.
 */
function walkJson(root: unknown, what: string): boolean {
  let negativeZero = false;
  const walk = (value: unknown, key: string, path: string, inList: boolean, written: boolean): void => {
    const where = () => path || "the top level";
    const kind = typeof value;
    if (kind === "function" || kind === "symbol" || (kind === "undefined" && inList)) {
      // An undefined field is left alone: JSON drops it, and absent is what it means.
      const shown = kind === "undefined" ? "undefined" : `a ${kind}`;
      throw new InputError(`${what} holds ${shown} at ${where()}: JSON would ${inList ? "write it as null" : "drop it"}`);
    }
    const n = primitiveNumber(value);
    if (n !== undefined) {
      if (!Number.isFinite(n)) {
        throw new InputError(`${what} holds ${n} at ${where()}: JSON has no NaN or Infinity (it would be written as null)`);
      }
      // Below 1e21 JSON writes it as digits, which each peer reads as another
      // number: 2**60 goes out as 1152921504606847000, an integer a Python
      // peer keeps exactly and a JavaScript one refuses, as it cannot tell it
      // from a Python integer it would round.
      if (Number.isInteger(n) && !Number.isSafeInteger(n) && Math.abs(n) < 1e21) {
        throw new InputError(
          `${what} holds ${JSON.stringify(n)} at ${where()}, an integer beyond ±2^53−1: JSON writes it as ${JSON.stringify(n)}, which peers read as different numbers; send it as a string`,
        );
      }
      if (Object.is(n, -0)) negativeZero = true;
      return;
    }
    if (value === null || typeof value !== "object") return;
    // A Date's own toJSON writes its ISO string (null when invalid). One that
    // a toJSON returned is not written so: it is checked below, as an object.
    if (!written && value instanceof Date && value.toJSON === Date.prototype.toJSON) {
      if (Number.isNaN(value.getTime())) throw new InputError(`${what} holds an invalid Date at ${where()}: JSON would write it as null`);
      return;
    }
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    // JSON.stringify writes what toJSON returns, as it is (no second toJSON).
    if (!written && typeof toJSON === "function") return walk(toJSON.call(value, key), key, path, inList, true);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) walk(value[i], String(i), `${path}[${i}]`, true, false);
      return;
    }
    const tag = Object.prototype.toString.call(value);
    const unboxes = UNBOXERS[tag];
    if (unboxes) {
      // Boxed: written as the primitive (a Number was checked above). An
      // object that only calls itself so (Symbol.toStringTag) is written as its fields.
      try {
        unboxes.call(value);
        return;
      } catch { /* its fields, below */ }
    } else if (tag !== "[object Object]") {
      const bytes = ArrayBuffer.isView(value) || value instanceof ArrayBuffer;
      throw new InputError(
        `${what} holds ${describe(value)} at ${where()}: ${bytes ? "send bytes as a binary payload" : "JSON would write it as {}"}`,
      );
    }
    for (const k of Object.keys(value)) walk((value as Record<string, unknown>)[k], k, path ? `${path}.${k}` : k, false, false);
  };
  walk(root, "", "", false, false);
  return negativeZero;
}

/**
 * Whether a number literal survives as a double: within its range (1e400 is
 * Infinity), and an integer of 16 digits or more only where a double holds
 * it exactly (9007199254740993 becomes …992).
 *
 * @param literal A JSON or CSV number, as written.
 * @returns `true` when `Number(literal)` is the value written.
 *
 * @example
 * ```ts
 * import { isExactAsDouble } from "./json.ts";
 * console.log(isExactAsDouble("9007199254740992"), isExactAsDouble("9007199254740993"), isExactAsDouble("1e400")); // true false false
 * ```
 */
export function isExactAsDouble(literal: string): boolean {
  const n = Number(literal);
  if (!Number.isFinite(n)) return false;
  return !(/^[+-]?\d{16,}$/.test(literal) && BigInt(n) !== BigInt(literal));
}

/** Text that may hold a number JSON.parse rounds: 16+ digits, or an exponent of 3 digits. */
const MAYBE_INEXACT = /\d{16}|[eE]\+?\d{3}/;
/** JSON strings (skipped) and numbers, in order. */
const JSON_TOKENS = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

/**
 * What to say of a number literal in JSON `text` that a JavaScript number
 * cannot hold: an integer beyond ±2^53−1 that is not a double exactly (a
 * Python peer's 2**53 + 1 became 2**53), or one beyond the double range
 * (Infinity). Numbers inside strings do not count.
 *
 * @param text Valid JSON text.
 * @param what What holds the number, e.g. `Envelope "metadata"`.
 * @returns The sentence naming the first such number, or `undefined` when
 *   every number survives `JSON.parse`.
 *
 * @example
 * ```ts
 * import { inexactNumberIn } from "./json.ts";
 * console.log(inexactNumberIn('{"a": "9007199254740993", "b": 9007199254740993}', "x")?.includes("9007199254740993")); // true
 * console.log(inexactNumberIn('{"a": 9007199254740992}', "x")); // undefined
 * ```
 */
export function inexactNumberIn(text: string, what: string): string | undefined {
  if (!MAYBE_INEXACT.test(text)) return undefined;
  for (const [token] of text.matchAll(JSON_TOKENS)) {
    if (token[0] === '"') continue;
    if (isExactAsDouble(token)) continue;
    const shown = token.length > 40 ? `${token.slice(0, 20)}… (${token.length} characters)` : token;
    return `${what} holds the number ${shown}, which a JavaScript number cannot hold exactly ` +
      `(integers beyond ±2^53−1 lose digits, beyond ±1.8e308 all): the sender should write it as a string`;
  }
  return undefined;
}

/** The checksum vouches for the bytes, not for what JSON.parse makes of them. */
function assertNumbersExact(text: string, what: string): void {
  const inexact = inexactNumberIn(text, what);
  if (inexact) throw new DecodeError(inexact);
}

function parse(bytes: Uint8Array, what: string): unknown {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new DecodeError(`${what} payload is not valid UTF-8`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new DecodeError(`${what} payload is not valid JSON: ${(err as Error).message}`);
  }
  if (jsonDeeperThan(text, MAX_JSON_DEPTH)) throw new DecodeError(tooDeep(what));
  assertNumbersExact(text, what);
  return value;
}
