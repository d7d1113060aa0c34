/**
 * Type declarations for the parts of `lz4js` 0.2 that natsbridge uses. The package is
 * CommonJS and ships no types; `arrow_compression.ts` points its import here with a
 * `@ts-types` directive.
 *
 * @module
 */

/** The `lz4js` module object (`module.exports` of `lz4js/lz4.js`). */
export interface Lz4js {
  /**
   * Decodes one raw LZ4 block from `src[sIndex, sIndex + sLength)` into `dst` starting at
   * `dIndex`. Performs no bounds checks: writes past the end of `dst` are dropped by the
   * typed array and reads past the end of `src` yield `undefined`.
   *
   * @returns The index in `dst` one past the last byte written.
   */
  decompressBlock(
    src: Uint8Array,
    dst: Uint8Array,
    sIndex: number,
    sLength: number,
    dIndex: number,
  ): number;
  /**
   * Decodes a whole LZ4 frame. Not used by natsbridge: it misplaces block checksums and
   * checks no bounds (see `arrow_compression.ts`).
   */
  decompress(src: Uint8Array, maxSize?: number): Uint8Array;
  /** Encodes `src` as one LZ4 frame (64 KiB-4 MiB blocks, no checksums). */
  compress(src: Uint8Array, maxSize?: number): Uint8Array;
}

/** The `lz4js/xxh32.js` module object. */
export interface Lz4jsXxh32 {
  /** XXH32 of `src[index, index + len)` with `seed`, as an unsigned 32-bit integer. */
  hash(seed: number, src: Uint8Array, index: number, len: number): number;
}

declare const lz4js: Lz4js;
export default lz4js;
