/**
 * Parsing and validation of `msg_envelope_v1`: whatever a peer, a log or a
 * webhook hands us becomes a checked {@link MsgEnvelopeV1} or an
 * {@link EnvelopeError} naming the field at fault.
 *
 * @module
 */
import { clip } from "./printable.ts";
import { EnvelopeError } from "./errors.ts";
import { describe } from "./codecs/text.ts";
import { inexactNumberIn, MAX_JSON_DEPTH, nestedDeeperThan } from "./codecs/json.ts";
import { JSON_TYPES, resolvePayloadType } from "./codecs/registry.ts";
import {
  ENVELOPE_KEYS,
  type MsgEnvelopeV1,
  type MsgPayloadV1,
  PAYLOAD_KEYS,
  type PayloadType,
} from "./types.ts";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const lenientUtf8 = new TextDecoder("utf-8");
const STRING_KEYS = ENVELOPE_KEYS.filter((k) => k !== "metadata" && k !== "payloads");
const NON_EMPTY_KEYS = new Set(["correlation_id", "msg_id"]);
const KNOWN_ENVELOPE_KEYS = new Set<string>(ENVELOPE_KEYS);
const KNOWN_PAYLOAD_KEYS = new Set<string>(PAYLOAD_KEYS);

/**
 * The first key of `obj` outside `known` whose value nests deeper than
 * payload values may: peers' extra keys are kept (and printed by the CLI), so
 * they get the metadata's cap.
 */
function deepExtraKey(obj: Record<string, unknown>, known: Set<string>): string | undefined {
  for (const key in obj) {
    if (known.has(key)) continue;
    const v = obj[key];
    if (v !== null && typeof v === "object" && nestedDeeperThan(v, MAX_JSON_DEPTH)) return key;
  }
  return undefined;
}
const PAYLOAD_STRING_KEYS = ["id", "dataname", "payload_type", "transport", "encoding", "data"] as const;
// Senders write `Z`; Julia's `Dates.now(UTC)` writes no zone; offsets are legal ISO 8601.
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):?(\d{2}))?$/;

/** Whether `s` is an ISO 8601 timestamp of a real instant (no month 13, February 30 or hour 24). */
function isTimestamp(s: string): boolean {
  // A burst of messages from one sender shares its millisecond: the last valid one is remembered.
  if (s === lastTimestamp) return true;
  if (!checkTimestamp(s)) return false;
  lastTimestamp = s;
  return true;
}
let lastTimestamp = "";

function checkTimestamp(s: string): boolean {
  const m = TIMESTAMP.exec(s);
  if (!m) return false;
  const [year, month, day, hour, minute, second = 0, offsetHours = 0, offsetMinutes = 0] = m.slice(1).map((v) =>
    v === undefined ? undefined : Number(v)
  ) as number[];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  // Second 60: a leap second, which ISO 8601 allows.
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour <= 23 && minute <= 59 &&
    second <= 60 && offsetHours <= 23 && offsetMinutes <= 59;
}
const HEX64 = /^[0-9a-fA-F]{64}$/;

/**
 * A payload after validation, with its type resolved to a canonical name.
 *
 * @example A legacy type name resolved
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CheckedPayload, parseEnvelope, smartsend } from "natsbridge";
 * const [env] = await smartsend("chat", [["t", [{ a: 1 }], "arrowtable"]], { is_publish: false });
 * env.payloads[0].payload_type = "table"; // as older Python peers write it
 * const [p]: CheckedPayload[] = parseEnvelope(env).payloads;
 * assert.equal(p.resolvedType, "arrowtable");
 * ```
 */
export interface CheckedPayload extends MsgPayloadV1 {
  /** `payload_type` with aliases (`table`) resolved. */
  readonly resolvedType: PayloadType;
}

/**
 * Parses and validates an envelope.
 *
 * @param input JSON text, UTF-8 bytes of it, or an already-parsed object.
 * @returns The envelope (the parsed object itself, extra keys kept) and its
 *   payloads with resolved types.
 * @throws {EnvelopeError} On invalid JSON or any breach of the contract; `code`
 *   is `UNKNOWN_PAYLOAD_TYPE`, `UNKNOWN_TRANSPORT` or `UNKNOWN_ENCODING` for those
 *   cases and `ENVELOPE_INVALID` otherwise, `field` names the offending field.
 *
 * @example
 * ```ts
 * import { parseEnvelope } from "natsbridge";
 * import { EnvelopeError } from "natsbridge";
 * try {
 *   parseEnvelope('{"msg_id": 1}');
 * } catch (e) {
 *   console.log(e instanceof EnvelopeError); // true
 * }
 * ```
 */
export function parseEnvelope(
  input: string | Uint8Array | object,
): { envelope: MsgEnvelopeV1; payloads: CheckedPayload[] } {
  const text = typeof input === "string" ? input : input instanceof Uint8Array ? decodeUtf8(input) : undefined;
  const value = text === undefined ? input : parseJson(text);
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new EnvelopeError(`Envelope must be a JSON object, got ${kind(value)}`);
  }
  // Not a parsed envelope: say what it is, not which envelope key it lacks.
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw new EnvelopeError(
      `Envelope must be a JSON object, its JSON text or UTF-8 bytes, or a nats.js Msg; got ${describe(value)}`,
    );
  }
  const obj = value as Record<string, unknown>;
  if (Object.hasOwn(obj, "data") && !Object.hasOwn(obj, "msg_id") && !Object.hasOwn(obj, "payloads")) {
    throw new EnvelopeError(
      `Envelope must be a JSON object; got an object with "data" but no envelope keys: pass the nats.js Msg itself, or its data as text or bytes`,
    );
  }
  const correlationId = typeof obj.correlation_id === "string" ? obj.correlation_id : "";
  const fail = (field: string, message: string, code?: ConstructorParameters<typeof EnvelopeError>[2], dataname?: string) =>
    new EnvelopeError(message, { field, correlationId, dataname }, code);

  for (const key of ENVELOPE_KEYS) {
    if (!Object.hasOwn(obj, key)) throw fail(key, `Envelope is missing key "${key}"`);
  }
  for (const key of STRING_KEYS) {
    const v = obj[key];
    if (typeof v !== "string") throw fail(key, `Envelope "${key}" must be a string, got ${kind(v)}`);
    if (NON_EMPTY_KEYS.has(key) && v === "") throw fail(key, `Envelope "${key}" must not be empty`);
  }
  if (!isTimestamp(obj.timestamp as string)) {
    throw fail("timestamp", `Envelope "timestamp" is not ISO 8601: "${clip(obj.timestamp as string)}"`);
  }
  if (!isPlainObject(obj.metadata)) {
    throw fail("metadata", `Envelope "metadata" must be an object, got ${kind(obj.metadata)}`);
  }
  if (nestedDeeperThan(obj.metadata, MAX_JSON_DEPTH)) throw fail("metadata", tooDeep('Envelope "metadata"'));
  const deepKey = deepExtraKey(obj, KNOWN_ENVELOPE_KEYS);
  if (deepKey !== undefined) throw fail(deepKey, tooDeep(`Envelope key "${clip(deepKey)}"`));
  if (!Array.isArray(obj.payloads)) {
    throw fail("payloads", `Envelope "payloads" must be an array, got ${kind(obj.payloads)}`);
  }
  const payloads = obj.payloads.map((p, i) => checkPayload(p, `payloads[${i}]`, fail));
  if (text !== undefined) {
    const rounded = roundedField(obj, KNOWN_ENVELOPE_KEYS, "") ??
      payloads.reduce<string | undefined>((found, p, i) => found ?? roundedField(p, KNOWN_PAYLOAD_KEYS, `payloads[${i}].`), undefined);
    // Only then is the text scanned: it is rare, and the scan costs what parsing does.
    const inexact = rounded === undefined ? undefined : inexactNumberIn(text, `Envelope field "${rounded}"`);
    if (inexact) throw fail(rounded!, inexact);
  }
  return { envelope: obj as unknown as MsgEnvelopeV1, payloads };
}

/**
 * The first field of `obj` (its `metadata`, or a key outside `known`) with a
 * number `JSON.parse` may have rounded: a peer's metadata is handed over as
 * it is, and a changed value would pass for the one sent.
 */
function roundedField(obj: object, known: Set<string>, at: string): string | undefined {
  for (const key in obj) {
    if ((key === "metadata" || !known.has(key)) && mayBeRounded((obj as Record<string, unknown>)[key])) return `${at}${key}`;
  }
  return undefined;
}

/** Whether `value` holds an integer beyond ±2^53−1 or an infinity (depth already capped). */
function mayBeRounded(value: unknown): boolean {
  if (typeof value === "number") return !Number.isSafeInteger(value) && (Number.isInteger(value) || !Number.isFinite(value));
  if (value === null || typeof value !== "object") return false;
  for (const v of Object.values(value)) if (mayBeRounded(v)) return true;
  return false;
}

function checkPayload(
  p: unknown,
  at: string,
  failAt: (field: string, message: string, code?: ConstructorParameters<typeof EnvelopeError>[2], dataname?: string) => EnvelopeError,
): CheckedPayload {
  let fail = failAt;
  if (!isPlainObject(p)) throw fail(at, `${at} must be an object, got ${kind(p)}`);
  for (const key of PAYLOAD_KEYS) {
    if (!Object.hasOwn(p, key)) throw fail(`${at}.${key}`, `${at} is missing key "${key}"`);
  }
  for (const key of PAYLOAD_STRING_KEYS) {
    if (typeof p[key] !== "string") {
      throw fail(`${at}.${key}`, `${at}.${key} must be a string, got ${kind(p[key])}`);
    }
  }
  const payload = p as unknown as MsgPayloadV1;
  // From here on the payload has a name: errors carry it, as every error does where known.
  fail = (field, message, code) => failAt(field, message, code, payload.dataname);
  // Built only for an error message: receive profiles showed it on every payload.
  const name = () => `${at} ("${clip(payload.dataname)}")`;
  if (payload.id === "") throw fail(`${at}.id`, `${name()} has an empty id`);
  if (typeof payload.size !== "number" || !Number.isSafeInteger(payload.size) || payload.size < 0) {
    throw fail(`${at}.size`, `${name()} size must be a non-negative integer, got ${kind(payload.size)}`);
  }
  if (!isPlainObject(payload.metadata)) {
    throw fail(`${at}.metadata`, `${name()} metadata must be an object, got ${kind(payload.metadata)}`);
  }
  if (nestedDeeperThan(payload.metadata, MAX_JSON_DEPTH)) throw fail(`${at}.metadata`, tooDeep(`${name()} metadata`));
  const deepKey = deepExtraKey(p, KNOWN_PAYLOAD_KEYS);
  if (deepKey !== undefined) throw fail(`${at}.${deepKey}`, tooDeep(`${name()} key "${clip(deepKey)}"`));
  const checksum = payload.metadata.checksum;
  // null: none, as the Python peer reads it (Julia writes `nothing` so).
  if (checksum != null && (typeof checksum !== "string" || !HEX64.test(checksum))) {
    throw fail(`${at}.metadata.checksum`, `${name()} checksum must be 64 hex characters (SHA-256)`);
  }
  const resolvedType = resolvePayloadType(payload.payload_type);
  if (!resolvedType) {
    throw fail(
      `${at}.payload_type`,
      `${name()} has unknown payload_type "${clip(payload.payload_type)}"`,
      "UNKNOWN_PAYLOAD_TYPE",
    );
  }
  if (payload.transport === "direct") {
    const ok = payload.encoding === "base64" ||
      (payload.encoding === "json" && JSON_TYPES.has(resolvedType));
    if (!ok) {
      throw fail(
        `${at}.encoding`,
        `${name()} has encoding "${clip(payload.encoding)}", not supported for direct ${resolvedType} (expected "base64"${
          JSON_TYPES.has(resolvedType) ? ' or "json"' : ""
        })`,
        "UNKNOWN_ENCODING",
      );
    }
  } else if (payload.transport === "link") {
    // The spec's own example labels a linked Arrow table "arrow-ipc"; the bytes
    // behind the URL are the serialized payload either way.
    if (payload.encoding !== "none" && !(payload.encoding === "arrow-ipc" && resolvedType === "arrowtable")) {
      throw fail(
        `${at}.encoding`,
        `${name()} has encoding "${clip(payload.encoding)}", not supported for link transport (expected "none")`,
        "UNKNOWN_ENCODING",
      );
    }
    if (!URL.canParse(payload.data)) {
      throw fail(`${at}.data`, `${name()} link is not a valid URL: "${clip(payload.data)}"`);
    }
  } else {
    throw fail(
      `${at}.transport`,
      `${name()} has unknown transport "${clip(payload.transport)}" (expected "direct" or "link")`,
      "UNKNOWN_TRANSPORT",
    );
  }
  return { ...payload, resolvedType };
}

function decodeUtf8(input: Uint8Array): string {
  // The lenient decoder replaces bad sequences with U+FFFD, so text without
  // one was valid; only text with one (rare) is decoded again strictly. The
  // strict decoder costs 5 µs per 14 KB on Deno against 0.9 µs.
  const text = lenientUtf8.decode(input);
  if (text.indexOf("\uFFFD") !== -1) {
    try {
      strictUtf8.decode(input);
    } catch {
      throw new EnvelopeError("Envelope is not valid UTF-8");
    }
  }
  return text;
}

function parseJson(text: string): unknown {
  try {
    // A BOM, which JSON parsers may ignore (RFC 8259 §8.1): TextDecoder drops
    // it from bytes, so text gets the same.
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    throw new EnvelopeError(`Envelope is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

const tooDeep = (what: string) =>
  `${what} is nested deeper than ${MAX_JSON_DEPTH} levels, more than peers read or recursive code handles`;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function kind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  // JSON.stringify throws for a bigint (a BigInt-aware decoder's parsed envelope).
  return `${typeof v} ${clip(typeof v === "bigint" ? String(v) : JSON.stringify(v) ?? String(v))}`;
}

