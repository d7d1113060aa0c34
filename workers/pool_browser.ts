/**
 * The codec pool of the browser build: the same exports as `pool.ts`, every
 * task inline (no piscina, no `node:worker_threads`, no `node:os`). Large
 * buffers are hashed in 1 MiB slices (`inline_codec.ts`) with a yield to the event
 * loop between slices, as `pool.ts` does for buffers it may not detach, so a
 * big payload does not freeze the page for its whole length.
 *
 * @module
 */
import { decodeBase64, encodeBase64 } from "../engine/platform/base64.ts";
import { sha256Hex } from "../engine/platform/sha256.ts";
import { decodeInline, encodeInline, hashInSlices } from "./inline_codec.ts";
import { checkCount, checkKnownKeys, checkMillis, optionNames } from "../engine/config.ts";

/** Byte size from which a task would go to a worker (kept for parity; inline here). */
export const DEFAULT_OFFLOAD_THRESHOLD = 256 * 1024;

/** Options of {@link CodecPool}. */
export interface CodecPoolOptions {
  /** Ignored in the browser build: everything runs inline. */
  maxThreads?: number;
  /**
   * Byte size from which hashing yields to the event loop between slices.
   * @default {262144}
   */
  offload_threshold?: number;
  /** Ignored in the browser build. */
  idleTimeout?: number;
}

const POOL_OPTION_NAMES = optionNames<CodecPoolOptions>({ maxThreads: true, offload_threshold: true, idleTimeout: true });

/**
 * SHA-256 and base64 work, inline (browser build).
 *
 * @example
 * ```ts ignore
 * import { CodecPool } from "./pool_browser.ts";
 * const pool = new CodecPool();
 * console.log((await pool.checksum(new Uint8Array(), { owned: false })).checksum);
 * ```
 */
export class CodecPool {
  /** Byte size from which hashing is sliced. */
  readonly offloadThreshold: number;

  /** @param options Cutoff; thread options are ignored. */
  constructor(options: CodecPoolOptions = {}) {
    // Checked as pool.ts checks them, so options that fail on a server fail here too.
    options ??= {};
    checkKnownKeys(options, POOL_OPTION_NAMES, "CodecPool");
    checkCount(options.maxThreads ?? 0, "maxThreads", 0);
    checkMillis(options.idleTimeout ?? 0, "idleTimeout", 0);
    this.offloadThreshold = checkCount(options.offload_threshold ?? DEFAULT_OFFLOAD_THRESHOLD, "offload_threshold", 0);
  }

  /** Tasks that ran on a worker: always 0 here. */
  get offloaded(): number {
    return 0;
  }

  /**
   * Lowercase hex SHA-256.
   *
   * @param bytes Input (never detached here).
   * @param _options Kept for parity with `pool.ts`.
   * @returns The digest and the same bytes.
   */
  async checksum(
    bytes: Uint8Array,
    _options: { owned: boolean },
  ): Promise<{ checksum: string; bytes: Uint8Array }> {
    if (bytes.byteLength < this.offloadThreshold) return { checksum: sha256Hex(bytes), bytes };
    return { checksum: await hashInSlices(bytes), bytes };
  }

  /**
   * Base64 text and (optionally) SHA-256 of a direct payload.
   *
   * @param bytes Serialized payload.
   * @param options `checksum` to hash too.
   * @returns Base64, digest, and the same bytes.
   */
  async encodeDirect(
    bytes: Uint8Array,
    options: { owned: boolean; checksum: boolean },
  ): Promise<{ base64: string; checksum: string | undefined; bytes: Uint8Array }> {
    const checksum = options.checksum ? (await this.checksum(bytes, options)).checksum : undefined;
    return { base64: encodeBase64(bytes), checksum, bytes };
  }

  /**
   * {@link CodecPool.encodeDirect} synchronously below the cutoff, else `undefined`.
   *
   * @param bytes Serialized payload.
   * @param options `checksum` to hash too.
   * @returns Base64 and digest, or `undefined` above the cutoff.
   */
  encodeDirectSync(
    bytes: Uint8Array,
    options: { checksum: boolean },
  ): { base64: string; checksum: string | undefined } | undefined {
    if (bytes.byteLength >= this.offloadThreshold) return undefined;
    return encodeInline(bytes, options.checksum);
  }

  /**
   * Decodes base64 and, unless told not to, hashes the bytes.
   *
   * @param text Base64.
   * @param options `checksum: false` when nothing will be verified.
   * @returns The bytes and their digest (`undefined` when not computed).
   * @throws {Error} With the decoder's message on malformed base64.
   */
  decodeDirect(
    text: string,
    options: { checksum?: boolean } = {},
  ): Promise<{ bytes: Uint8Array; checksum: string | undefined }> {
    let bytes: Uint8Array;
    try {
      const inline = this.decodeDirectSync(text, options);
      if (inline) return Promise.resolve(inline);
      bytes = decodeBase64(text);
    } catch (err) {
      return Promise.reject(err);
    }
    if (options.checksum === false) return Promise.resolve({ bytes, checksum: undefined });
    return this.checksum(bytes, { owned: true });
  }

  /**
   * {@link CodecPool.decodeDirect} synchronously below the cutoff, else `undefined`.
   *
   * @param text Base64.
   * @param options `checksum: false` to skip the hash.
   * @returns The bytes and their digest, or `undefined` above the cutoff.
   * @throws {Error} With the decoder's message on malformed base64.
   */
  decodeDirectSync(
    text: string,
    options: { checksum?: boolean } = {},
  ): { bytes: Uint8Array; checksum: string | undefined } | undefined {
    if (text.length * 0.75 >= this.offloadThreshold) return undefined;
    return decodeInline(text, options.checksum !== false);
  }

  /** Nothing to stop in the browser build. */
  async destroy(): Promise<void> {}
}

let shared: CodecPool | undefined;

/**
 * The pool the engine uses unless given another.
 *
 * @returns The shared {@link CodecPool}.
 */
export function defaultCodecPool(): CodecPool {
  return (shared ??= new CodecPool());
}

/**
 * Whether codec worker threads can start beside a module loaded from
 * `moduleUrl`: never in the browser build, which codes inline.
 *
 * @param _moduleUrl Where the module was loaded from.
 * @returns `false`.
 *
 * @example
 * ```ts
 * import { workersLoadableFrom } from "./pool_browser.ts";
 * console.log(workersLoadableFrom(import.meta.url)); // false
 * ```
 */
export function workersLoadableFrom(_moduleUrl: string): boolean {
  return false;
}
