/**
 * The codec pool: SHA-256 and base64, on worker threads when that pays and
 * inline when it does not. The engine asks the pool and never knows which way
 * a task ran. Arrow IPC is built and read inline: a table's buffers are the
 * application's (a transfer would detach them, and a copy to a worker costs
 * about what writing them does), and reading makes views, not copies; the
 * bytes it writes are hashed and encoded here.
 *
 * When offloading pays: an empty round trip to a piscina worker costs
 * ~45–80 µs here (Bun 44, Deno 66, Node 79), and SHA-256 runs at ~1.8 GB/s,
 * base64 at 0.5–17 GB/s depending on runtime. A 10 KB payload costs ~10 µs
 * inline, so it stays inline; the crossover is in the hundreds of KB. Above
 * {@link DEFAULT_OFFLOAD_THRESHOLD} (256 KiB; `offload_threshold` to change,
 * `bench/` measures it) work goes to a worker so a large payload does not
 * stall the event loop.
 *
 * Buffers cross by transfer, never by copy, and come back by transfer. Only
 * buffers natsbridge created itself (serialized output, downloads) are
 * transferred; an application's `Uint8Array` is never detached: large ones are
 * hashed inline in 1 MiB slices with a yield to the event loop between slices,
 * which bounds the lag they cause without copying them.
 *
 * @module
 */
import { availableParallelism } from "node:os";
import { Piscina } from "piscina";
import { decodeBase64, encodeBase64 } from "../engine/platform/base64.ts";
import { sha256Hex } from "../engine/platform/sha256.ts";
import type { BufferSlice } from "./codec_worker.ts";
import { WorkerError } from "../engine/errors.ts";
import { checkCount, checkKnownKeys, checkMillis, optionNames } from "../engine/config.ts";
import { decodeInline, encodeInline, hashInSlices } from "./inline_codec.ts";

/**
 * Byte size from which a task goes to a worker.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CodecPool, DEFAULT_OFFLOAD_THRESHOLD } from "natsbridge";
 * const pool = new CodecPool({ maxThreads: 0 });
 * assert.equal(pool.offloadThreshold, DEFAULT_OFFLOAD_THRESHOLD);
 * ```
 */
export const DEFAULT_OFFLOAD_THRESHOLD = 256 * 1024;

/**
 * Options of {@link CodecPool}.
 *
 * @example A pool of two workers, offloading from 1 MiB
 * ```ts
 * import assert from "node:assert/strict";
 * import { CodecPool, type CodecPoolOptions } from "natsbridge";
 * const options: CodecPoolOptions = { maxThreads: 2, offload_threshold: 1024 * 1024, idleTimeout: 5000 };
 * const pool = new CodecPool(options);
 * assert.equal(pool.offloadThreshold, 1024 * 1024);
 * await pool.destroy();
 * ```
 */
export interface CodecPoolOptions {
  /**
   * Worker threads; 0 runs everything inline (browsers, or to compare).
   * @default {the number of CPUs, at least 1}
   */
  maxThreads?: number | undefined;
  /**
   * Byte size from which a task goes to a worker.
   * @default {262144}
   */
  offload_threshold?: number | undefined;
  /**
   * Milliseconds an idle worker lives.
   * @default {10000}
   */
  idleTimeout?: number | undefined;
}

const POOL_OPTION_NAMES = optionNames<CodecPoolOptions>({ maxThreads: true, offload_threshold: true, idleTimeout: true });

/**
 * SHA-256, base64 and Arrow IPC work, inline or on workers.
 *
 * @example
 * ```ts
 * import { CodecPool } from "natsbridge";
 * const pool = new CodecPool({ maxThreads: 0 });
 * console.log((await pool.checksum(new Uint8Array(), { owned: false })).checksum);
 * // "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
 * await pool.destroy();
 * ```
 */
export class CodecPool {
  /** Byte size from which tasks are offloaded. */
  readonly offloadThreshold: number;
  readonly #maxThreads: number;
  readonly #idleTimeout: number;
  #current: PoolLife | undefined;
  /** Tasks handed to piscina now, at most `#maxThreads`. */
  #busy = 0;
  readonly #waiting: (() => void)[] = [];
  #offloaded = 0;

  /**
   * Creates a pool; no worker starts until a task needs one.
   *
   * @param options Threads, cutoff, idle timeout.
   */
  constructor(options: CodecPoolOptions = {}) {
    options ??= {}; // null from plain JavaScript callers: no options
    checkKnownKeys(options, POOL_OPTION_NAMES, "CodecPool");
    // Checked here: piscina, started at the first large task, would fail that task instead.
    this.#maxThreads = checkCount(options.maxThreads ?? Math.max(1, availableParallelism()), "maxThreads", 0);
    // Loaded from JSR or another URL: no worker can start, so the work runs here,
    // in slices that yield to the event loop (as with maxThreads: 0).
    if (!workersLoadableFrom(import.meta.url)) this.#maxThreads = 0;
    this.offloadThreshold = checkCount(options.offload_threshold ?? DEFAULT_OFFLOAD_THRESHOLD, "offload_threshold", 0);
    this.#idleTimeout = checkMillis(options.idleTimeout ?? 10_000, "idleTimeout", 0);
  }

  /** Tasks that ran on a worker so far (for tests and benchmarks). */
  get offloaded(): number {
    return this.#offloaded;
  }

  /**
   * Lowercase hex SHA-256.
   *
   * An owned buffer goes to a worker and comes back: use the returned
   * `bytes`, as the buffer passed in is detached.
   *
   * @param bytes Input.
   * @param options `owned`: natsbridge created this buffer and may move it to a
   *   worker and back; otherwise it is never detached.
   * @returns The digest and the bytes (the same memory).
   */
  async checksum(bytes: Uint8Array, options: { owned: boolean }): Promise<{ checksum: string; bytes: Uint8Array }> {
    if (bytes.byteLength < this.offloadThreshold) return { checksum: sha256Hex(bytes), bytes };
    if (!options.owned || !this.#canTransfer(bytes)) return { checksum: await hashInSlices(bytes), bytes };
    const r = await this.#run<{ hex: string; slice: BufferSlice }>("sha256", bytes);
    return { checksum: r.hex, bytes: viewOf(r.slice) };
  }

  /**
   * Base64 text and (optionally) SHA-256 of a direct payload, in one task.
   *
   * @param bytes Serialized payload.
   * @param options `owned` as in {@link CodecPool.checksum}; `checksum` to hash too.
   * @returns Base64, digest, and the bytes (use these: an owned buffer passed in is detached).
   */
  async encodeDirect(
    bytes: Uint8Array,
    options: { owned: boolean; checksum: boolean },
  ): Promise<{ base64: string; checksum: string | undefined; bytes: Uint8Array }> {
    const inline = this.encodeDirectSync(bytes, options);
    if (inline) return { ...inline, bytes };
    if (!options.owned || !this.#canTransfer(bytes)) {
      // Large but not ours to move: hashed here in slices (checksum() yields between them).
      const checksum = options.checksum ? (await this.checksum(bytes, options)).checksum : undefined;
      return { base64: encodeBase64(bytes), checksum, bytes };
    }
    const r = await this.#run<{ hex: string; base64: string; slice: BufferSlice }>("encodeDirect", bytes);
    return { base64: r.base64, checksum: options.checksum ? r.hex : undefined, bytes: viewOf(r.slice) };
  }

  /**
   * {@link CodecPool.encodeDirect} on the calling thread, synchronously, when
   * the payload is below the offload cutoff; `undefined` when it belongs on a
   * worker. A send made only of small payloads then reaches the connection
   * without yielding, so sends started together leave in one socket write.
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
   * @param options `checksum: false` when nothing will be verified: small
   *   payloads are then not hashed at all (a worker hashes as it decodes anyway).
   * @returns The bytes and their digest (`undefined` when not computed).
   * @throws {Error} With the decoder's message on malformed base64.
   */
  async decodeDirect(
    text: string,
    options: { checksum?: boolean } = {},
  ): Promise<{ bytes: Uint8Array; checksum: string | undefined }> {
    const inline = this.decodeDirectSync(text, options);
    if (inline) return inline;
    if (!this.#workersOn()) {
      const bytes = decodeBase64(text);
      return options.checksum === false ? { bytes, checksum: undefined } : this.checksum(bytes, { owned: true });
    }
    const r = await this.#task((pool) => pool.run(text, { name: "decodeDirect" }), () => true) as
      | { hex: string; slice: BufferSlice }
      | { error: string };
    this.#offloaded++;
    if ("error" in r) throw new Error(r.error);
    return { bytes: viewOf(r.slice), checksum: r.hex };
  }

  /**
   * {@link CodecPool.decodeDirect} on the calling thread, synchronously, below
   * the offload cutoff; `undefined` above it.
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

  /** Stops the workers, failing their tasks. The pool restarts them on the next large task. */
  async destroy(): Promise<void> {
    if (this.#current) await this.#end(this.#current, new Error("the pool was destroyed"), false);
  }

  #workersOn(): boolean {
    return this.#maxThreads > 0;
  }

  #canTransfer(bytes: Uint8Array): boolean {
    return this.#workersOn() && bytes.buffer instanceof ArrayBuffer && bytes.byteLength === bytes.buffer.byteLength;
  }

  async #run<T extends { slice: BufferSlice }>(name: string, bytes: Uint8Array): Promise<T> {
    const slice: BufferSlice = {
      buffer: bytes.buffer as ArrayBuffer,
      byteOffset: bytes.byteOffset,
      byteLength: bytes.byteLength,
    };
    // piscina infers TransferList from node:worker_threads' typings, which Deno's differ
    // from; at run time it is the plain array postMessage takes. A task that
    // never reached a worker still has its buffer (not detached): it may go again.
    const result = await this.#task(
      (pool) => pool.run(slice, { name, transferList: [slice.buffer] as never }),
      () => slice.buffer.byteLength > 0 || slice.byteLength === 0,
    ) as T | { error: string };
    this.#offloaded++;
    // The payload's own fault (a base64 text too long for a string): not the pool's.
    if ("error" in result) throw new Error(result.error);
    return result;
  }

  /**
   * A worker task whose failure is the pool's (terminated, crashed, could
   * not start), not the payload's: a bad payload comes back as a value.
   *
   * At most one task per thread is handed to piscina; the rest wait here,
   * their buffers still ours. In piscina's own queue, a worker that died
   * stranded them until another task started a worker, and on Deno piscina
   * handed one to the dying worker (lost, or its assertion ended the
   * process). A task that waited on a pool given up (its only worker died
   * as it started) goes again on a new one.
   */
  async #task(run: (pool: Piscina) => Promise<unknown>, retryable: () => boolean): Promise<unknown> {
    const release = await this.#slot();
    try {
      for (let attempt = 1;; attempt++) {
        const life = this.#life();
        try {
          return await Promise.race([run(life.pool), life.gone]);
        } catch (err) {
          if (life.abandoned && attempt < 3 && retryable()) continue;
          throw new WorkerError(`Codec worker failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
        }
      }
    } finally {
      release();
    }
  }

  /** Waits for one of the `maxThreads` places; the release hands it to the next waiting, in order. */
  async #slot(): Promise<() => void> {
    if (this.#busy < this.#maxThreads) this.#busy++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    return () => {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#busy--;
    };
  }

  /** Ends `life`: its tasks stop waiting with `reason`; given up on a worker's death, they may go again. */
  #end(life: PoolLife, reason: Error, abandoned = true): Promise<void> {
    if (this.#current === life) this.#current = undefined;
    life.abandoned = abandoned;
    life.end(reason);
    return life.pool.destroy().catch(() => {});
  }

  #life(): PoolLife {
    if (!this.#current) {
      // From source (Deno, Bun) the worker is a .ts file; in the built lib/ a .js one.
      const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
      const pool = new Piscina({
        filename: new URL(`./codec_worker${ext}`, import.meta.url).href,
        maxThreads: this.#maxThreads,
        minThreads: 0,
        idleTimeout: this.#idleTimeout,
      });
      // Emitted when a worker with no task dies: unheard, an EventEmitter's
      // "error" is thrown, and would end the process. piscina has dropped it.
      pool.on("error", () => {});
      let end: (reason: Error) => void = () => {};
      const gone = new Promise<never>((_, reject) => (end = reject));
      gone.catch(() => {}); // only ever raced
      const life: PoolLife = { pool, gone, end, abandoned: false };
      // A worker that dies as it starts fails no task, and piscina starts no
      // other for the tasks queued: with none left, they would wait for ever.
      pool.on("workerDestroy", () =>
        queueMicrotask(() => {
          if (this.#current === life && pool.queueSize > 0 && pool.threads.length === 0) {
            void this.#end(life, new Error("its worker died before it could start"));
          }
        })
      );
      this.#current = life;
    }
    return this.#current;
  }
}

/**
 * Whether piscina can start the codec worker beside a module loaded from
 * `moduleUrl`: only from a file. It takes every other URL for a path
 * (`https://jsr.io/…` became `file:///cwd/https:/…`), and the worker's failure
 * to load then escaped as an uncaught error that ended a Deno process.
 *
 * @param moduleUrl Where this module was loaded from (`import.meta.url`).
 * @returns `true` for a `file:` URL.
 *
 * @example
 * ```ts
 * import { workersLoadableFrom } from "./pool.ts";
 * console.log(workersLoadableFrom("https://jsr.io/@natsbridge/natsbridge/0.1.0/workers/pool.ts")); // false
 * ```
 */
export function workersLoadableFrom(moduleUrl: string): boolean {
  return moduleUrl.startsWith("file:");
}

/** One piscina instance, and the promise its tasks race so that none outlives it. */
interface PoolLife {
  pool: Piscina;
  /** Rejects when the pool ends: piscina lost a queued task of a dead worker's pool on Deno. */
  gone: Promise<never>;
  end(reason: Error): void;
  /** Ended because a worker died, not by destroy(): its waiting tasks may go again. */
  abandoned: boolean;
}

const viewOf = (s: BufferSlice) => new Uint8Array(s.buffer, s.byteOffset, s.byteLength);

let shared: CodecPool | undefined;

/**
 * The process-wide pool the engine uses unless given another.
 *
 * @returns The shared {@link CodecPool}.
 *
 * @example Letting the process exit without waiting for idle workers
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultCodecPool } from "natsbridge";
 * assert.equal(defaultCodecPool(), defaultCodecPool());
 * await defaultCodecPool().destroy();
 * ```
 */
export function defaultCodecPool(): CodecPool {
  return (shared ??= new CodecPool());
}
