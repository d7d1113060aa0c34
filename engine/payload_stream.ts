/**
 * The stream a receiver is handed for a payload (`smartreceive(…, { stream:
 * true })`): a readable byte stream, checked as it flows, that a reader may
 * read into its own buffer (`getReader({ mode: "byob" })`).
 *
 * Why a byte stream: a default stream hands each chunk over, and a chunk the
 * application has read is garbage the runtime collects when it decides; V8
 * and JavaScriptCore let about 64 MiB of such buffers pile up first, so a
 * 1 GiB stream read chunk by chunk peaked at +111 MiB on Deno (bench row
 * 7b). Read into the reader's own buffer, each chunk natsbridge alone holds
 * (those of an Object Store read, marked by `ownStream`) is copied there and
 * freed at once (`buffer_release.ts`). A default reader still gets such a
 * chunk without a copy; others (an HTTP body's, a custom store's, a `tee()`
 * branch's, which someone else may hold) are copied, since a byte stream
 * takes over the buffer of what it hands out.
 *
 * @module
 */
import { ChecksumError, DownloadError, SizeMismatchError } from "./errors.ts";
import { copyBytes, isOwnedStream, isWholeBuffer, releaseBuffer } from "./platform/buffer_release.ts";
import { createSha256 } from "./platform/sha256.ts";
import { printable, quoted } from "./printable.ts";

/** What a {@link payloadStream} checks as its chunks pass and at its end. */
export interface StreamChecks {
  /** Sees each chunk before the reader does; throws to error the stream. */
  chunk?(chunk: Uint8Array): void;
  /** Runs when the source ends, before the stream closes; throws to error it instead. */
  end?(): void;
}

/** Whether this runtime makes byte streams (`type: "bytes"`): all but Safari before 26.4. */
const BYTE_STREAMS: boolean = (() => {
  try {
    new ReadableStream({ type: "bytes" });
    return true;
  } catch {
    return false;
  }
})();

/** What {@link watchPayloadStream} needs of a payload stream. */
interface Controls {
  watch(onError: (error: unknown) => void): void;
  stop(): Promise<void>;
}
const controls = new WeakMap<ReadableStream<Uint8Array>, Controls>();

/**
 * A readable byte stream of `source`'s chunks, checked by `checks` as they
 * are read. Reads pull from `source` only as the reader asks (no read-ahead
 * of its own), so a slow reader holds back the download.
 *
 * @param source The download (or any stream of `Uint8Array` chunks).
 * @param checks Checks run on each chunk and at the end.
 * @param context The payload's name and correlation id, for errors.
 * @param byteStream Whether to make a byte stream: where the runtime can
 *   (Safari before 26.4 cannot, and gets a default stream of the same chunks).
 * @returns The stream to hand to the receiver.
 *
 * @example A payload stream read into one reused buffer
 * ```ts
 * import { payloadStream } from "./payload_stream.ts";
 * const source = new Blob([new Uint8Array(100_000)]).stream();
 * const reader = payloadStream(source).getReader({ mode: "byob" });
 * let buffer = new Uint8Array(64 * 1024);
 * let total = 0;
 * for (;;) {
 *   const { value, done } = await reader.read(buffer);
 *   if (done) break;
 *   total += value.byteLength;
 *   buffer = new Uint8Array(value.buffer);
 * }
 * console.log(total); // 100000
 * ```
 */
export function payloadStream(
  source: ReadableStream<Uint8Array>,
  checks: StreamChecks = {},
  context: { correlationId?: string; dataname?: string } = {},
  byteStream: boolean = BYTE_STREAMS,
): ReadableStream<Uint8Array> {
  // Chunks of a stream marked as natsbridge's are this reader's alone (ownStream).
  const ownChunks = isOwnedStream(source);
  const reader = source.getReader();
  let onError: ((error: unknown) => void) | undefined;
  let stopped = false;
  // The rest of a chunk a reader's buffer could not take, and that chunk's
  // buffer when natsbridge alone holds all of it (to free, or hand over uncopied).
  let rest: Uint8Array | undefined;
  let sole: ArrayBufferLike | undefined;

  const nextChunk = async (): Promise<Uint8Array | undefined> => {
    for (;;) {
      const { value, done } = await reader.read();
      if (stopped) return undefined;
      if (done) {
        checks.end?.();
        return undefined;
      }
      if (!(value instanceof Uint8Array)) {
        throw new DownloadError(
          `The download of ${quoted(context.dataname ?? "")} yielded ${describeChunk(value)}, not a Uint8Array`,
          context,
        );
      }
      if (value.byteLength === 0) continue; // a byte stream may not hand out nothing
      checks.chunk?.(value);
      return value;
    }
  };

  const underlying = {
    async pull(controller: ReadableByteStreamController | ReadableStreamDefaultController<Uint8Array>) {
      if (rest === undefined && !stopped) {
        try {
          rest = await nextChunk();
          sole = rest && ownChunks && isWholeBuffer(rest) ? rest.buffer : undefined;
        } catch (err) {
          if (!stopped) onError?.(err);
          throw err;
        }
      }
      const request = "byobRequest" in controller ? controller.byobRequest : null;
      if (rest === undefined) {
        controller.close();
        request?.respond(0);
        return;
      }
      if (request?.view) {
        const into = new Uint8Array(request.view.buffer, request.view.byteOffset, request.view.byteLength);
        const n = Math.min(into.byteLength, rest.byteLength);
        into.set(rest.subarray(0, n));
        rest = n < rest.byteLength ? rest.subarray(n) : undefined;
        // Copied out to its last byte: nobody reads this chunk again.
        if (rest === undefined && sole) releaseBuffer(sole);
        request.respond(n);
        return;
      }
      // A byte stream takes over the buffer of what it hands out: a buffer
      // anyone else may hold is copied first.
      const chunk = !byteStream || sole ? rest as Uint8Array<ArrayBuffer> : copyBytes(rest);
      rest = sole = undefined;
      controller.enqueue(chunk);
    },
    cancel(reason?: unknown) {
      stopped = true;
      rest = sole = undefined;
      return reader.cancel(reason);
    },
  };
  const stream: ReadableStream<Uint8Array> = byteStream
    ? new ReadableStream({ type: "bytes", ...underlying } as UnderlyingByteSource, { highWaterMark: 0 })
    : new ReadableStream<Uint8Array>(underlying as UnderlyingDefaultSource<Uint8Array>, { highWaterMark: 0 });

  controls.set(stream, {
    watch: (fn) => (onError = fn),
    stop: async () => {
      stopped = true;
      await reader.cancel().catch(() => {});
    },
  });
  return stream;
}

/**
 * A {@link payloadStream} of bytes already received (a payload that came
 * inside its envelope, asked for as a stream).
 *
 * @param bytes The payload's bytes; copied as they are read, never taken over.
 * @param context The payload's name and correlation id, for errors.
 * @returns The stream.
 *
 * @example
 * ```ts
 * import { payloadStreamOf } from "./payload_stream.ts";
 * const stream = payloadStreamOf(new TextEncoder().encode("hello"));
 * console.log(await new Response(stream).text()); // hello
 * ```
 */
export function payloadStreamOf(
  bytes: Uint8Array,
  context: { correlationId?: string; dataname?: string } = {},
): ReadableStream<Uint8Array> {
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
  return payloadStream(source, {}, context);
}

function describeChunk(value: unknown): string {
  if (value === null || typeof value !== "object") return `a chunk of type ${value === null ? "null" : typeof value}`;
  return `a chunk of type ${(value as object).constructor?.name ?? "object"}`;
}

/**
 * Watches a stream {@link payloadStream} made: `onError` is told the first
 * error a read of it raises. `Bridge.consume` uses it to learn that a payload
 * it handed over as a stream failed verification in the application's hands,
 * which decides between ack, nak and dead letter.
 *
 * @param stream A stream from {@link payloadStream}.
 * @param onError Called with an error a read raised (not after `stop`).
 * @returns `stop`, which ends the download even while a reader holds the
 *   stream: that reader then sees the stream end.
 *
 * @example
 * ```ts
 * import { payloadStream, watchPayloadStream } from "./payload_stream.ts";
 * const stream = payloadStream(new Blob(["abc"]).stream());
 * const stop = watchPayloadStream(stream, (e) => console.error(e));
 * await stop();
 * console.log((await stream.getReader().read()).done); // true
 * ```
 */
export function watchPayloadStream(
  stream: ReadableStream<Uint8Array>,
  onError: (error: unknown) => void,
): () => Promise<void> {
  const c = controls.get(stream);
  if (!c) throw new TypeError("watchPayloadStream: not a stream payloadStream made");
  c.watch(onError);
  return c.stop;
}

/**
 * Wraps a downloaded stream so it is checked as it flows: more bytes than
 * `expectedSize` errors at once, fewer at the end, and a SHA-256 different from
 * `expectedChecksum` errors the stream at its end instead of closing it.
 *
 * @param source The download.
 * @param expect What the envelope announced, and the error context.
 * @returns A {@link payloadStream} that ends only if every check passed.
 *
 * @example
 * ```ts
 * import { verifiedStream } from "./payload_stream.ts";
 * const stream = verifiedStream(new Blob(["abc"]).stream(), {
 *   size: 4, checksum: undefined, correlationId: "c-1", dataname: "note",
 * });
 * await new Response(stream).arrayBuffer().catch((e) => console.log(e.code)); // SIZE_MISMATCH
 * ```
 */
export function verifiedStream(
  source: ReadableStream<Uint8Array>,
  expect: {
    size: number;
    checksum: string | undefined;
    correlationId: string;
    dataname: string;
    onProgress?: (done: number, total: number | undefined) => void;
    /**
     * The digest the source computed and checked itself, known once it has
     * ended; given, the bytes are not hashed a second time here.
     */
    reportedChecksum?: () => string | undefined;
  },
): ReadableStream<Uint8Array> {
  const hasher = expect.checksum && !expect.reportedChecksum ? createSha256() : undefined;
  const ctx = { correlationId: expect.correlationId, dataname: expect.dataname };
  let size = 0;
  return payloadStream(source, {
    chunk(chunk) {
      size += chunk.byteLength;
      if (size > expect.size) {
        throw new DownloadError(
          `Payload ${quoted(expect.dataname)} download exceeds its announced size of ${expect.size} bytes`,
          ctx,
          "PAYLOAD_TOO_LARGE",
        );
      }
      hasher?.update(chunk);
      expect.onProgress?.(size, expect.size);
    },
    end() {
      // Nothing flowed (an empty payload): still one report, 0 of 0.
      if (size === 0) expect.onProgress?.(0, expect.size);
      if (size !== expect.size) {
        throw new SizeMismatchError(
          `Payload ${quoted(expect.dataname)} announced ${expect.size} bytes but the download ended at ${size}`,
          ctx,
        );
      }
      if (!expect.checksum) return;
      const actual = expect.reportedChecksum ? expect.reportedChecksum() : hasher!.digestHex();
      if (actual !== expect.checksum.toLowerCase()) {
        throw new ChecksumError(
          `Checksum mismatch for payload ${quoted(expect.dataname)} (correlation ${printable(expect.correlationId)}): expected ${expect.checksum}, got ${actual ?? "no digest from the store"}`,
          ctx,
        );
      }
    },
  }, ctx);
}
