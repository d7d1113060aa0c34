/**
 * Frees the memory of buffers natsbridge made and is done with at once,
 * instead of at the runtime's next garbage collection.
 *
 * Why: V8 and JavaScriptCore collect ArrayBuffers when their own heuristics
 * decide, and V8 lets about 64 MiB of them pile up before it does. A large
 * upload makes such buffers at the speed of the network (file reads, nats.js
 * packing each publish into a fresh buffer), so its peak memory was mostly
 * garbage: measured sending 1 GiB from a file to an Object Store, +108 MiB
 * RSS on Deno and +140 MiB on Bun, and +55 / +28 MiB once those buffers
 * were freed as their last use ended. `ArrayBuffer.prototype.transfer(0)`
 * detaches a buffer and gives its memory back on the spot; where a runtime
 * lacks it (Node 20), nothing is freed early and nothing else changes.
 *
 * Only a buffer nobody else can hold may be released: an application's
 * buffer never is, nor a chunk of a stream anyone but natsbridge could read
 * (see {@link ownStream} and {@link ownBuffer}).
 *
 * @module
 */

type Transferable = ArrayBuffer & { transfer?: (newLength?: number) => ArrayBuffer; detached?: boolean };

/** Buffers natsbridge allocated and hands to no one but its own code. */
const owned = new WeakSet<ArrayBufferLike>();
/** Streams whose chunks are such buffers, read by natsbridge alone. */
const ownedStreams = new WeakSet<ReadableStream<Uint8Array>>();

/**
 * Whether this runtime can free a buffer before garbage collection
 * (`ArrayBuffer.prototype.transfer`: Deno, Bun, Node 22 and later, browsers).
 *
 * @example
 * ```ts
 * import { CAN_RELEASE } from "./buffer_release.ts";
 * console.log(typeof CAN_RELEASE); // "boolean"
 * ```
 */
export const CAN_RELEASE: boolean = typeof (ArrayBuffer.prototype as Transferable).transfer === "function";

/**
 * Marks a buffer natsbridge just allocated as its own, so
 * {@link releaseOwnedEnd} may free it once its last view is done with.
 *
 * @param bytes A view of a buffer natsbridge created and shares with no one.
 * @returns `bytes`.
 *
 * @example
 * ```ts
 * import { ownBuffer } from "./buffer_release.ts";
 * const chunk = ownBuffer(new Uint8Array(1024));
 * console.log(chunk.byteLength); // 1024
 * ```
 */
export function ownBuffer<T extends Uint8Array>(bytes: T): T {
  if (CAN_RELEASE) owned.add(bytes.buffer);
  return bytes;
}

/**
 * Whether `view` spans the whole of its buffer.
 *
 * @param view Any view.
 * @returns Whether no bytes of its buffer lie outside it.
 *
 * @example
 * ```ts
 * import { isWholeBuffer } from "./buffer_release.ts";
 * const bytes = new Uint8Array(8);
 * console.log(isWholeBuffer(bytes), isWholeBuffer(bytes.subarray(1))); // true false
 * ```
 */
export function isWholeBuffer(view: Uint8Array): boolean {
  return view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
}

/**
 * A copy of `view` in a buffer of its own, exactly its size. Not
 * `view.slice()`: a Node `Buffer`'s `slice` is a view of the same memory
 * (and Node, Deno's Node layer and Bun hand socket reads out as Buffers).
 *
 * @param view Any bytes.
 * @returns The copy, the whole of its buffer.
 *
 * @example
 * ```ts
 * import { Buffer } from "node:buffer";
 * import { copyBytes } from "./buffer_release.ts";
 * const read = Buffer.alloc(100);
 * const copy = copyBytes(read.subarray(10, 20));
 * console.log(copy.buffer !== read.buffer, copy.buffer.byteLength); // true 10
 * ```
 */
export function copyBytes(view: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(view);
}

/**
 * Marks a stream whose every chunk is a buffer of its own that nothing else
 * holds (a file read, a Blob piece, an Object Store chunk) and that only
 * natsbridge reads: what reads it may take its chunks as its own
 * ({@link ownBuffer}), free them or hand them over without a copy. A stream
 * handed to application code (a custom upload handler may `tee()` it) yields
 * another stream, which is not marked; nor may a stream handed out be read
 * by anyone but the one reader it can have.
 *
 * @param stream The stream, before anyone has read from it.
 * @returns `stream`.
 *
 * @example
 * ```ts
 * import { isOwnedStream, ownStream } from "./buffer_release.ts";
 * const stream = ownStream(new ReadableStream<Uint8Array>());
 * console.log(isOwnedStream(stream)); // true
 * ```
 */
export function ownStream(stream: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  // Marked where nothing can be freed too (Node 20): handing a chunk over without a copy needs no `transfer`.
  ownedStreams.add(stream);
  return stream;
}

/**
 * Whether `stream` is a byte stream (`type: "bytes"`), whose default reader
 * is handed each chunk by transfer and so holds it alone. Tells by asking
 * for a BYOB reader, released at once.
 *
 * @param stream A stream nobody has locked.
 * @returns Whether it is a byte stream.
 *
 * @example
 * ```ts
 * import { isByteStream } from "./buffer_release.ts";
 * console.log(isByteStream(new ReadableStream({ type: "bytes" }))); // true
 * console.log(isByteStream(new ReadableStream())); // false
 * ```
 */
export function isByteStream(stream: ReadableStream<Uint8Array>): boolean {
  try {
    stream.getReader({ mode: "byob" }).releaseLock();
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether {@link ownStream} marked `stream`.
 *
 * @param stream Any stream.
 * @returns Whether its chunks are natsbridge's alone.
 *
 * @example
 * ```ts
 * import { isOwnedStream } from "./buffer_release.ts";
 * console.log(isOwnedStream(new ReadableStream<Uint8Array>())); // false
 * ```
 */
export function isOwnedStream(stream: ReadableStream<Uint8Array>): boolean {
  return ownedStreams.has(stream);
}

/**
 * Frees `buffer`'s memory now; it is left detached (length 0).
 *
 * @param buffer A buffer no one will read again.
 * @returns Whether it was freed (not when the runtime cannot, or the buffer
 *   is shared, already detached, or pinned by the runtime).
 *
 * @example
 * ```ts
 * import { CAN_RELEASE, releaseBuffer } from "./buffer_release.ts";
 * const buffer = new ArrayBuffer(1024);
 * console.log(releaseBuffer(buffer) === CAN_RELEASE); // true
 * ```
 */
export function releaseBuffer(buffer: ArrayBufferLike): boolean {
  if (!CAN_RELEASE || !(buffer instanceof ArrayBuffer) || (buffer as Transferable).detached) return false;
  try {
    (buffer as Transferable).transfer!(0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Frees the buffer under `view` if natsbridge owns it ({@link ownBuffer}) and
 * `view` reaches its end. Callers pass the views of one buffer in order, when
 * each is done with, so the view that reaches the end is the last one.
 *
 * @param view A view that will not be read again.
 * @returns Whether the buffer was freed.
 *
 * @example
 * ```ts
 * import { CAN_RELEASE, ownBuffer, releaseOwnedEnd } from "./buffer_release.ts";
 * const read = ownBuffer(new Uint8Array(2048));
 * console.log(releaseOwnedEnd(read.subarray(0, 1024))); // false: the second half is still to come
 * console.log(releaseOwnedEnd(read.subarray(1024)) === CAN_RELEASE); // true
 * ```
 */
export function releaseOwnedEnd(view: Uint8Array): boolean {
  const buffer = view.buffer;
  if (!owned.has(buffer) || view.byteOffset + view.byteLength !== buffer.byteLength) return false;
  owned.delete(buffer);
  return releaseBuffer(buffer);
}
