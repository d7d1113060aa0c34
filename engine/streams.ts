/**
 * Payload data given as a stream (`ReadableStream`, `Blob`, or a file path /
 * `file:` URL for binary types): normalization, and the transform that counts
 * and hashes bytes as they flow so a stream is never held whole in memory.
 * The receiving side's streams are `payload_stream.ts`.
 *
 * @module
 */
import { InputError, NatsBridgeError } from "./errors.ts";
import { openFileStream } from "./platform/file_source.ts";
import { isOwnedStream, ownStream } from "./platform/buffer_release.ts";
import { createSha256 } from "./platform/sha256.ts";
import { quoted } from "./printable.ts";

/** A byte source of possibly unknown size. */
export interface ByteSource {
  /** The bytes. */
  stream: ReadableStream<Uint8Array>;
  /** Total size when known up front. */
  size: number | undefined;
  /**
   * Releases what the source holds (a file's handle) even while its stream is
   * locked by a reader, where `cancel()` is refused.
   */
  close?: () => Promise<void>;
}

/**
 * True when `data` is a streamed source for a binary-type payload.
 *
 * @param data Payload data as given to `smartsend`.
 * @returns Whether it is a `ReadableStream`, `Blob`, path string or `file:` URL.
 */
export function isStreamSource(data: unknown): boolean {
  return data instanceof ReadableStream || (typeof Blob !== "undefined" && data instanceof Blob) ||
    typeof data === "string" || (data instanceof URL && data.protocol === "file:");
}

/**
 * Turns a stream source into a {@link ByteSource}.
 *
 * @param data A `ReadableStream<Uint8Array>`, `Blob`, file path or `file:` URL.
 * @param dataname For errors.
 * @returns The stream and its size when known.
 */
export async function openSource(data: unknown, dataname: string): Promise<ByteSource> {
  if (data instanceof ReadableStream) return { stream: data, size: undefined };
  const path = typeof Blob !== "undefined" && data instanceof Blob ? bunFilePath(data) : data as string | URL;
  if (path === undefined) {
    const blob = data as Blob;
    // Bun.file() of a device or a descriptor: a size that no read reaches.
    if (!Number.isSafeInteger(blob.size)) {
      throw new InputError(`Blob of payload ${quoted(dataname)} has no end (size ${blob.size}): is it a device?`, { dataname });
    }
    // Fresh buffers read for this send alone: an Object Store put may free each once stored.
    return { stream: ownStream(blobPieces(blob)), size: blob.size };
  }
  try {
    const file = await openFileStream(path);
    return { ...file, stream: ownStream(file.stream) };
  } catch (err) {
    throw new InputError(`Cannot read file for payload ${quoted(dataname)}: ${(err as Error).message}`, {
      dataname,
      cause: err,
    });
  }
}

/**
 * The path of a `Bun.file(path)`: a Blob Bun sizes lazily, 0 for a file that
 * is missing or that stat calls empty (`/proc`), which reading it by its size
 * sent as nothing. It is read as the file it names instead. A `File` also has
 * a name, but no path; `Bun.s3` files name a key, not a path.
 */
function bunFilePath(blob: Blob): string | undefined {
  const b = blob as Blob & { name?: unknown; presign?: unknown };
  if (typeof File !== "undefined" && blob instanceof File) return undefined;
  return typeof (globalThis as { Bun?: unknown }).Bun !== "undefined" && typeof b.name === "string" && b.presign === undefined
    ? b.name
    : undefined;
}

/** Bytes a Blob is read in: progress moves at least this often. */
const BLOB_PIECE = 1024 * 1024;

/**
 * A Blob read a piece at a time. `Blob.stream()` hands over a Blob held in
 * memory as one chunk on Deno and Node, so progress, which counts chunks as
 * they are sent, jumped to 100% before the upload began.
 */
function blobPieces(blob: Blob): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (at >= blob.size) return controller.close();
      const end = Math.min(at + BLOB_PIECE, blob.size);
      controller.enqueue(new Uint8Array(await blob.slice(at, end).arrayBuffer()));
      at = end;
    },
  }, { highWaterMark: 0 });
}

/**
 * The error for a stream source that failed after `sent` bytes (a read error
 * of a file, an application's stream that errored): bad input, which no
 * upload retry cures. Its own error when it is one of ours.
 *
 * @param err What the source's read rejected with.
 * @param dataname The payload.
 * @param sent Bytes read from it before.
 * @param context The send's correlation id.
 * @returns An `INVALID_INPUT` error, or `err` itself.
 *
 * @example
 * ```ts
 * import { sourceFailed } from "./streams.ts";
 * const err = sourceFailed(new Error("EIO"), "scan", 1024, { correlationId: "c-1" });
 * console.log(err.code, err.message); // INVALID_INPUT the source of "scan" failed after 1024 bytes: EIO
 * ```
 */
export function sourceFailed(err: unknown, dataname: string, sent: number, context: { correlationId?: string | undefined }): NatsBridgeError {
  if (err instanceof NatsBridgeError) return err;
  return new InputError(`the source of ${quoted(dataname)} failed after ${sent} bytes: ${(err as Error)?.message ?? String(err)}`, {
    correlationId: context.correlationId,
    dataname,
    cause: err,
  });
}

/** What a {@link meteredStream} learned once its source ended. */
export interface Metered {
  /** Bytes that passed. */
  size: number;
  /** Their lowercase hex SHA-256 (when hashing was on). */
  checksum: string | undefined;
}

/**
 * Wraps a stream so every byte is counted (and hashed) once as it flows.
 *
 * @param source Input stream.
 * @param options `hash`: compute SHA-256; `onProgress`: bytes so far, total.
 * @returns The pass-through stream and a promise of the totals, settled when the source ends.
 */
export function meteredStream(
  source: ReadableStream<Uint8Array>,
  options: { hash: boolean; total?: number; onProgress?: (done: number, total: number | undefined) => void },
): { stream: ReadableStream<Uint8Array>; done: Promise<Metered> } {
  const hasher = options.hash ? createSha256() : undefined;
  let size = 0;
  let resolve!: (m: Metered) => void;
  let reject!: (e: unknown) => void;
  const done = new Promise<Metered>((res, rej) => ((resolve = res), (reject = rej)));
  done.catch(() => {}); // observed by the caller; never an unhandled rejection
  const through = source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (!(chunk instanceof Uint8Array)) {
          const err = new InputError("Stream chunks must be Uint8Array");
          reject(err);
          throw err;
        }
        hasher?.update(chunk);
        size += chunk.byteLength;
        options.onProgress?.(size, options.total);
        controller.enqueue(chunk);
      },
      flush() {
        resolve({ size, checksum: hasher?.digestHex() });
      },
    }),
  );
  // The chunks pass on untouched and unkept: whoever owned them still does.
  const stream = isOwnedStream(source) ? ownStream(through) : through;
  return { stream, done };
}
