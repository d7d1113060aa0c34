/**
 * Defaults, environment variables and option checking: the one place where
 * options are merged with defaults and bad or conflicting ones are rejected by
 * name.
 *
 * @module
 */
import { checkJsonKeeps, jsonDeeperThan, MAX_JSON_DEPTH, nestedDeeperThan } from "./codecs/json.ts";
import { describe } from "./codecs/text.ts";
import { OptionsError } from "./errors.ts";

/**
 * Default NATS URL when neither `broker_url` nor `NATS_URL` is set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_BROKER_URL } from "natsbridge";
 * assert.equal(DEFAULT_BROKER_URL, "nats://localhost:4222");
 * ```
 */
export const DEFAULT_BROKER_URL = "nats://localhost:4222";
/**
 * Default file-server URL when neither `fileserver_url` nor `FILESERVER_URL` is set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_FILESERVER_URL } from "natsbridge";
 * assert.equal(new URL(DEFAULT_FILESERVER_URL).port, "8080");
 * ```
 */
export const DEFAULT_FILESERVER_URL = "http://localhost:8080";
/**
 * Serialized size (bytes) from which a payload goes by link (DESIGN.md §1).
 *
 * @example Sending a payload by link from a lower size
 * ```ts ignore
 * import { DEFAULT_SIZE_THRESHOLD, smartsend } from "natsbridge";
 * // Payloads over 100 KB go by link (to the file server at FILESERVER_URL).
 * await smartsend("chat", [["photo", new Uint8Array(200_000), "image"]], { size_threshold: DEFAULT_SIZE_THRESHOLD / 10 });
 * ```
 */
export const DEFAULT_SIZE_THRESHOLD = 500_000;
/**
 * Download attempts before giving up.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_BASE_DELAY, DEFAULT_MAX_DELAY, DEFAULT_MAX_RETRIES } from "natsbridge";
 * // The waits between the 5 attempts: 100, 200, 400, 800 ms (each capped at 5000).
 * const waits = Array.from({ length: DEFAULT_MAX_RETRIES - 1 }, (_, i) => Math.min(DEFAULT_BASE_DELAY * 2 ** i, DEFAULT_MAX_DELAY));
 * assert.deepEqual(waits, [100, 200, 400, 800]);
 * ```
 */
export const DEFAULT_MAX_RETRIES = 5;
/**
 * First backoff delay, ms.
 *
 * @example Retrying a flaky file server for longer
 * ```ts ignore
 * import { DEFAULT_BASE_DELAY, smartreceive } from "natsbridge";
 * import { connect } from "@nats-io/transport-node";
 * const nc = await connect({ servers: "nats://127.0.0.1:4222" });
 * for await (const msg of nc.subscribe("chat")) {
 *   const env = await smartreceive(msg, { max_retries: 10, base_delay: DEFAULT_BASE_DELAY * 5 });
 *   console.log(env.payloads.length);
 * }
 * ```
 */
export const DEFAULT_BASE_DELAY = 100;
/**
 * Longest backoff delay, ms.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_BASE_DELAY, DEFAULT_MAX_DELAY } from "natsbridge";
 * assert.equal(Math.min(DEFAULT_BASE_DELAY * 2 ** 10, DEFAULT_MAX_DELAY), 5000);
 * ```
 */
export const DEFAULT_MAX_DELAY = 5000;

/**
 * Reads an environment variable on any runtime; `undefined` where there is no
 * environment (browsers) or no permission to read it (Deno without --allow-env).
 *
 * @param name Variable name.
 * @returns Its value, or `undefined`.
 *
 * @example
 * ```ts
 * import { readEnv } from "./config.ts";
 * const url = readEnv("NATS_URL") ?? "nats://localhost:4222";
 * ```
 */
export function readEnv(name: string): string | undefined {
  const g = globalThis as unknown as {
    Deno?: { env: { get(n: string): string | undefined } };
    process?: { env?: Record<string, string | undefined> };
  };
  try {
    if (g.Deno) return g.Deno.env.get(name) || undefined;
    return g.process?.env?.[name] || undefined;
  } catch {
    return undefined;
  }
}

/** `broker_url` option, else `NATS_URL`, else the default. */
export function resolveBrokerUrl(option?: string): string {
  return checkString(option, "broker_url") ?? readEnv("NATS_URL") ?? DEFAULT_BROKER_URL;
}

/** `fileserver_url` option, else `FILESERVER_URL`, else the default. */
export function resolveFileserverUrl(option?: string): string {
  const given = checkString(option, "fileserver_url");
  const fromEnv = given === undefined ? readEnv("FILESERVER_URL") : undefined;
  const url = given ?? fromEnv ?? DEFAULT_FILESERVER_URL;
  return refuseCredentials(url, given === undefined && fromEnv !== undefined ? "FILESERVER_URL" : "fileserver_url").replace(/\/+$/, "");
}

/** `size_threshold` option, else `SIZE_THRESHOLD`, else 500_000. */
export function resolveSizeThreshold(option?: number): number {
  if (option !== undefined) return checkCount(option, "size_threshold", 0);
  const env = readEnv("SIZE_THRESHOLD");
  if (env === undefined) return DEFAULT_SIZE_THRESHOLD;
  // Decimal digits only, as the Python peer reads it: Number() would take " "
  // for 0, and "1e6" or "0x10", which the peers would read differently.
  const n = /^[ \t]*[0-9]+[ \t]*$/.test(env) ? Number(env) : -1;
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new OptionsError(`SIZE_THRESHOLD must be a non-negative integer, got "${env}"`, {
      field: "SIZE_THRESHOLD",
    });
  }
  return n;
}

/** Throws unless `value` is undefined or a string. */
export function checkString(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") {
    throw new OptionsError(`${name} must be a string, got ${typeof value}`, { field: name });
  }
  return value;
}

/**
 * Throws unless `value` is a NATS subject the server would take and could
 * match: dot-separated tokens, none empty, no whitespace; when subscribing
 * (`wildcards`), `*` tokens and a `>` last token; when publishing, neither.
 * Wildcard characters inside a longer token are literal, as NATS reads them.
 * nats.js checks only emptiness and whitespace: the rest reached the server,
 * which answered with a status error and left the subscription empty.
 */
export function checkSubject(value: unknown, wildcards: boolean, name = "subject"): string {
  const subject = checkNonEmpty(value, name);
  const refuse = (why: string) => new OptionsError(`${name} ${JSON.stringify(subject)}${why}`, { field: name });
  if (/\s/.test(subject)) throw refuse(" must not contain whitespace");
  const tokens = subject.split(".");
  tokens.forEach((t, i) => {
    if (t === "") throw refuse(" has an empty token");
    if (t === ">" && i < tokens.length - 1) throw refuse(': ">" may only be the last token');
  });
  if (!wildcards && tokens.some((t) => t === "*" || t === ">")) {
    // A dead-letter subject is published to as well: named, so the user knows which flag or option.
    const what = name === "subject" ? "" : ` (${name})`;
    throw new OptionsError(`cannot publish to the wildcard subject ${JSON.stringify(subject)}${what}: name one subject`, { field: name });
  }
  return subject;
}

/**
 * Throws unless `value` is a queue group name NATS accepts: a non-empty
 * string without whitespace. nats.js sends any string, and a server that
 * refuses the SUB closes the connection, which then refuses it again on every
 * reconnect.
 *
 * @example
 * ```ts
 * import { checkQueue } from "./config.ts";
 * checkQueue("workers.eu-1"); // ok
 * ```
 */
export function checkQueue(value: unknown, name = "queue"): string {
  const queue = checkNonEmpty(value, name);
  if (/\s/.test(queue)) {
    throw new OptionsError(`${name} ${JSON.stringify(queue)} must not contain whitespace`, { field: name });
  }
  return queue;
}

/**
 * Throws unless `value` is `true`, `false` or absent: a string such as
 * `"false"` would otherwise count as true.
 *
 * @example
 * ```ts
 * import { checkBoolean } from "./config.ts";
 * console.log(checkBoolean(undefined, "confirm") ?? false); // false
 * ```
 */
export function checkBoolean(value: unknown, name: string): boolean | undefined {
  if (value === undefined || typeof value === "boolean") return value;
  throw new OptionsError(`${name} must be true or false, got ${JSON.stringify(value) ?? String(value)}`, { field: name });
}

const DEEPER = `is nested deeper than ${MAX_JSON_DEPTH} levels, more than receivers accept`;

/**
 * Throws unless `value` is absent or an object whose JSON is an object: what
 * every receiver accepts as envelope metadata (an array, a Date, a BigInt or
 * a cycle is refused here rather than by each subscriber).
 *
 * @example
 * ```ts
 * import { checkMetadata } from "./config.ts";
 * console.log(checkMetadata({ site: "lab" }, "metadata")); // { site: "lab" }
 * ```
 */
export function checkMetadata(value: unknown, name: string): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  const refuse = (why: string) => new OptionsError(`${name} must be an object JSON can carry, ${why}`, { field: name });
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw refuse(`got ${describe(value)}`);
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    // Too deep for the stack: say so, not "Maximum call stack size exceeded".
    if (err instanceof RangeError && nestedDeeperThan(value, MAX_JSON_DEPTH)) throw refuse(`but it ${DEEPER}`);
    throw refuse(`but ${(err as Error).message}`);
  }
  // Receivers refuse metadata deeper than that (ENVELOPE_INVALID): refused
  // here, before anything is sent; what counts is what JSON wrote (toJSON).
  if (jsonDeeperThan(text, MAX_JSON_DEPTH)) throw refuse(`but it ${DEEPER}`);
  // A toJSON() may turn it into something else (a Date into a string).
  if (text?.[0] !== "{") throw refuse(`but ${describe(value)} is written as ${text?.slice(0, 40)}`);
  try {
    checkJsonKeeps(value, name); // NaN went out as null, a Map as {}
  } catch (err) {
    throw new OptionsError((err as Error).message, { field: name });
  }
  return value as Record<string, unknown>;
}

/** Throws unless `value` is an absolute http: or https: URL without credentials. */
export function checkHttpUrl(value: unknown, name: string): string {
  let ok = false;
  try {
    ok = typeof value === "string" && /^https?:$/.test(new URL(value).protocol);
  } catch { /* not a URL: reported below */ }
  if (!ok) {
    const shown = typeof value === "string" ? JSON.stringify(value.replace(/\/\/[^/]*@/, "//***@")) : JSON.stringify(value) ?? String(value);
    throw new OptionsError(`${name} must be an http(s) URL, got ${shown}`, { field: name });
  }
  return refuseCredentials(value as string, name);
}

/**
 * Throws when the file server URL `url` carries credentials (`user:pass@`):
 * every link is built from it, so they would travel in every envelope (and
 * Node's fetch refuses such URLs anyway).
 *
 * @param url The URL.
 * @param name The option or variable it came from, for the error.
 * @returns `url`.
 *
 * @example
 * ```ts
 * import { refuseCredentials } from "./config.ts";
 * console.log(refuseCredentials("http://127.0.0.1:8080", "fileserver_url")); // "http://127.0.0.1:8080"
 * ```
 */
export function refuseCredentials(url: string, name: string): string {
  if (!url.includes("@")) return url; // no credentials without one: no parse per send
  const parsed = URL.parse(url);
  if (parsed && (parsed.username || parsed.password)) {
    throw new OptionsError(
      `${name} must not carry credentials: every link is built from it, so they would travel in every envelope ` +
        `(a Plik token goes in the token option or PLIK_TOKEN), got "${parsed.protocol}//***@${parsed.host}${parsed.pathname === "/" ? "" : parsed.pathname}"`,
      { field: name },
    );
  }
  return url;
}

/** Throws unless `value` is a non-empty string. */
export function checkNonEmpty(value: unknown, name: string): string {
  if (typeof value !== "string" || value === "") {
    throw new OptionsError(`${name} must be a non-empty string, got ${JSON.stringify(value) ?? String(value)}`, {
      field: name,
    });
  }
  return value;
}

/**
 * Throws unless `value` is absent or an object with the named methods: a
 * logger, a store or a pool of the wrong shape would otherwise fail deep in a
 * transfer, reported as the transfer's failure.
 *
 * @example
 * ```ts
 * import { checkShape } from "./config.ts";
 * checkShape({ log() {} }, "logger", ["log"], "a Logger ({ log(level, line) })"); // ok
 * ```
 */
export function checkShape<T>(value: T | undefined, name: string, methods: readonly string[], what: string): T | undefined {
  if (value === undefined) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof value !== "object" || value === null || methods.some((m) => typeof v[m] !== "function")) {
    throw new OptionsError(`${name} must be ${what}, got ${describe(value)}`, { field: name });
  }
  return value;
}

/**
 * The checks every send and receive makes of the objects it is given:
 * `logger`, `fileserver`, `pool`, `signal`.
 *
 * @example
 * ```ts
 * import { checkCommonShapes } from "./config.ts";
 * checkCommonShapes({ signal: new AbortController().signal }); // ok
 * ```
 */
export function checkCommonShapes(options: { logger?: unknown; fileserver?: unknown; pool?: unknown; signal?: unknown }): void {
  checkShape(options.logger, "logger", ["log"], "a Logger ({ log(level, line, fields) })");
  const fs = checkShape(options.fileserver, "fileserver", ["upload", "download"], "a FileServer (plikFileServer() or objectStoreFileServer())");
  if (fs !== undefined && !Array.isArray((fs as { origins?: unknown }).origins)) {
    throw new OptionsError("fileserver must be a FileServer with an origins array", { field: "fileserver" });
  }
  checkShape(options.pool, "pool", ["checksum", "encodeDirect"], "a CodecPool");
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new OptionsError(`signal must be an AbortSignal, got ${describe(options.signal)}`, { field: "signal" });
  }
}

/**
 * `options` without the keys set to `undefined`, for spreading over defaults:
 * the README promises that an option set to `undefined` counts as not given,
 * and a spread would let it replace the default (a reply's `reply_to_msg_id:
 * undefined` went out without the id its request waits for).
 *
 * @param options Options from a caller, or nothing.
 * @returns The options that have a value.
 *
 * @example
 * ```ts
 * import { definedOnly } from "./config.ts";
 * console.log({ ...{ a: 1, b: 2 }, ...definedOnly({ a: undefined, b: 3 }) }); // { a: 1, b: 3 }
 * ```
 */
export function definedOnly<T extends object>(options: T | null | undefined): Partial<T> {
  const out: Partial<T> = {};
  if (!options) return out;
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined) (out as Record<string, unknown>)[key] = value;
  }
  return out;
}

/**
 * Throws `INVALID_OPTION` for an option name that is not one of `known`: a
 * misspelled option (`fileserverUrl`, `isPublish`) was ignored without a word,
 * and its default (another server, a publish) silently used instead.
 *
 * @param options The options object as given.
 * @param known Every option name it may hold.
 * @param what What the options are for, for the message.
 *
 * @example
 * ```ts
 * import { checkKnownKeys } from "./config.ts";
 * checkKnownKeys({ max_retries: 3 }, new Set(["max_retries"]), "smartreceive");
 * ```
 */
export function checkKnownKeys(options: object, known: ReadonlySet<string>, what: string): void {
  // A string's characters and an array's items would each be an unknown option "0".
  if (typeof options !== "object" || Array.isArray(options)) {
    throw new OptionsError(`${what} options must be an object, got ${shown(options)}`, { field: "options" });
  }
  for (const key in options) {
    if (known.has(key) || (options as Record<string, unknown>)[key] === undefined) continue;
    const squash = (k: string) => k.toLowerCase().replace(/[_-]/g, "");
    const near = [...known].find((k) => squash(k) === squash(key));
    throw new OptionsError(
      `Unknown ${what} option "${key}"${near ? ` (did you mean "${near}"?)` : ""}`,
      { field: key },
    );
  }
}

/**
 * The option names of an options type, for {@link checkKnownKeys}. Given as
 * a record so that the compiler holds the list to the type: a name missing
 * or one too many is a type error.
 *
 * @param names Every option name of `T`, each `true`.
 * @returns The names.
 *
 * @example
 * ```ts
 * import { optionNames } from "./config.ts";
 * const names = optionNames<{ ttl?: number; url?: string }>({ ttl: true, url: true });
 * console.log(names.has("url")); // true
 * ```
 */
export function optionNames<T>(names: Record<keyof T, true>): ReadonlySet<string> {
  return new Set(Object.keys(names));
}

/**
 * Throws `INVALID_OPTION` unless `value` is absent or one of `allowed`: a
 * value it does not know would otherwise fall back to a default unsaid.
 *
 * @param value The option as given.
 * @param name Its name, for the error.
 * @param allowed The values it may take.
 *
 * @example
 * ```ts
 * import { checkOneOf } from "./config.ts";
 * checkOneOf("memory", "storage", ["file", "memory"]);
 * ```
 */
export function checkOneOf(value: unknown, name: string, allowed: readonly string[]): void {
  if (value !== undefined && !allowed.includes(value as string)) {
    throw new OptionsError(
      `${name} must be ${allowed.map((a) => `"${a}"`).join(" or ")}, got ${JSON.stringify(value) ?? describe(value)}`,
      { field: name },
    );
  }
}

/** The longest delay `setTimeout` keeps (2^31 - 1 ms, about 24.8 days); beyond it, runtimes fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Throws unless `value` is a whole number of milliseconds from `min` to
 * {@link MAX_TIMER_MS}: a longer timer would fire at once, not late.
 *
 * @example
 * ```ts
 * import { checkMillis } from "./config.ts";
 * console.log(checkMillis(5000, "timeout", 1)); // 5000
 * ```
 */
export function checkMillis(value: unknown, name: string, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > MAX_TIMER_MS) {
    throw new OptionsError(
      `${name} must be a whole number of ms from ${min} to at most ${MAX_TIMER_MS} (about 24.8 days), got ${shown(value)}`,
      { field: name },
    );
  }
  return value;
}

/**
 * A value as an error shows it: a number as written, a string quoted (and
 * named one when it reads as a number, which String() hid), else its kind.
 */
function shown(value: unknown): string {
  if (value == null || typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "string") return /^\s*[-+]?[\d.]/.test(value) ? `${JSON.stringify(value)} (a string)` : JSON.stringify(value);
  return describe(value);
}

/** Throws unless `value` is a safe integer ≥ `min`. */
export function checkCount(value: unknown, name: string, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new OptionsError(`${name} must be an integer ≥ ${min}, got ${shown(value)}`, {
      field: name,
    });
  }
  return value;
}

/** Throws unless `value` is undefined or a function. */
export function checkFunction<T>(value: T | undefined, name: string): T | undefined {
  if (value !== undefined && typeof value !== "function") {
    throw new OptionsError(`${name} must be a function, got ${typeof value}`, { field: name });
  }
  return value;
}
