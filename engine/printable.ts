/**
 * Text from a peer (datanames, ids, error messages) made safe to show on a
 * terminal: without control characters (C0, DEL, C1: ESC and CSI sequences
 * could clear the screen or set the title) or bidirectional overrides (which
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
export const UNPRINTABLE: RegExp = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

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
