/**
 * The browser build's `utf8.ts`: browsers have no `node:buffer`, so a fatal
 * `TextDecoder` decides (it decodes, which costs more; it is the only native
 * check there).
 *
 * @module
 */

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Whether `bytes` are valid UTF-8.
 *
 * @param bytes Any bytes.
 * @returns `true` when every byte belongs to a well-formed UTF-8 sequence.
 *
 * @example
 * ```ts
 * import { isValidUtf8 } from "./utf8_browser.ts";
 * console.log(isValidUtf8(new TextEncoder().encode("€")), isValidUtf8(Uint8Array.of(0xe2, 0x82))); // true false
 * ```
 */
export function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    decoder.decode(bytes);
    return true;
  } catch {
    return false;
  }
}
