/**
 * Ids and timestamps as senders emit them: RFC 4122 v4 UUIDs with dashes, and
 * ISO 8601 UTC timestamps with `Z`.
 *
 * @module
 */

/**
 * A new random RFC 4122 version 4 UUID.
 *
 * @returns e.g. `"6f1c0c1e-8a39-4c36-9f8a-0b1d2e3f4a5b"`.
 *
 * @example
 * ```ts
 * import { uuid4 } from "./ids.ts";
 * console.log(/^[0-9a-f-]{36}$/.test(uuid4())); // true
 * ```
 */
export function uuid4(): string {
  // randomUUID exists only in secure contexts in browsers; getRandomValues everywhere.
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The current time as the envelope's `timestamp`.
 *
 * @param at The time; now by default.
 * @returns ISO 8601 UTC with milliseconds and `Z`.
 *
 * @example
 * ```ts
 * import { isoTimestamp } from "./ids.ts";
 * console.log(isoTimestamp(new Date(0))); // "1970-01-01T00:00:00.000Z"
 * ```
 */
export function isoTimestamp(at?: Date): string {
  if (at) return at.toISOString();
  // Formatting showed in send profiles (~1 µs); a burst of sends shares one millisecond.
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

let lastMs = -1;
let lastIso = "";
