/**
 * Text from a peer (datanames, ids, error messages) made safe to show on a
 * terminal: without control characters (C0, DEL, C1: ESC and CSI sequences
 * could clear the screen or set the title), line and paragraph separators
 * (U+2028, U+2029: a forged log line) or bidirectional overrides (which
 * could make `gnp.exe` read as `exe.png`).
 *
 * @module
 */

/**
 * Every control and bidi-override character, globally.
 *
 * @example
 * ```ts
 * import { UNPRINTABLE } from "./printable.ts";
 * console.log("a\u001b[2Jb".replace(UNPRINTABLE, "?")); // "a?[2Jb"
 * ```
 */
// deno-lint-ignore no-control-regex
export const UNPRINTABLE: RegExp = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `s` with each {@link UNPRINTABLE} character shown as `?`.
 *
 * @param s Text from a peer.
 * @returns The text, safe to print.
 *
 * @example
 * ```ts
 * import { printable } from "./printable.ts";
 * console.log(printable("red\u202egnp.exe")); // "red?gnp.exe"
 * ```
 */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, "?");
}

/**
 * `s` cut to `max` UTF-16 units with `…` after it, never between the two
 * halves of a surrogate pair.
 *
 * @param s Text from a peer.
 * @param max Longest kept (80 by default).
 * @returns `s`, or its start and `…`.
 *
 * @example
 * ```ts
 * import { clip } from "./printable.ts";
 * console.log(clip("abcdef", 3)); // "abc…"
 * ```
 */
export function clip(s: string, max = 80): string {
  if (s.length <= max) return s;
  const end = /[\uD800-\uDBFF]/.test(s[max - 1] ?? "") ? max - 1 : max;
  return `${s.slice(0, end)}…`;
}

/**
 * A peer's dataname quoted for an error message or a log line, cut to 120
 * characters (a 100,000-character name would otherwise fill every error and
 * log line about its payload) and {@link printable} (a name with a newline
 * forged log lines where an application printed the message). The error's
 * `dataname` field keeps it whole and as sent.
 *
 * @param name The dataname.
 * @returns `"name"`, or `"start…"`.
 *
 * @example
 * ```ts
 * import { quoted } from "./printable.ts";
 * console.log(`Download of ${quoted("photo.png")} failed`); // Download of "photo.png" failed
 * ```
 */
export function quoted(name: string): string {
  return `"${printable(clip(name, 120))}"`;
}
