/**
 * Writes one Object Store object: its chunks, then its meta record, in the
 * layout every NATS client reads (`$O.<bucket>.C.<nuid>` for the chunks,
 * `$O.<bucket>.M.<base64url(name)>` for the JSON info, rolled up).
 *
 * `@nats-io/obj`'s `put()` copies every chunk out of an internal buffer, hashes
 * it and waits for its ack before sending the next. Here a chunk of the
 * caller's bytes is published as the view it already is, hashed after a yield
 * to the event loop (so no task holds the main thread for more than about one
 * chunk's hash), and up to 4 MiB of chunks await their acks at once: fewer
 * over a slow link, whose pace {@link AckPace} measures.
 *
 * Those chunks are also what a put needs to resume: when acks fail for a
 * reason another try may cure (the server restarting, a timeout, a cluster
 * leader change), the put waits, asks the server which of them it kept (in
 * order; what it kept out of order is deleted), and publishes the rest again,
 * so a stream that cannot be read twice still arrives whole and a large put
 * does not start over.
 *
 * @module
 */
import { errors, headers, nuid } from "@nats-io/nats-core";
import {
  type JetStreamClient,
  JetStreamApiError,
  JetStreamApiCodes,
  type MsgRequest,
  type NextMsgRequest,
  type PubAck,
} from "@nats-io/jetstream";
import { createSha256 } from "../platform/sha256.ts";
import { isOwnedStream, ownBuffer, releaseOwnedEnd } from "../platform/buffer_release.ts";
import { encodeBase64 } from "../platform/base64.ts";
import { yieldToEventLoop } from "../../workers/inline_codec.ts";
import { abortReason, retry, settleWithin, untilAborted, UPLOAD_RETRY } from "../backoff.ts";
import { NatsBridgeError, permissionDenied, TransportError, UploadError } from "../errors.ts";
import { AckPace } from "./ack_pace.ts";
import { clusterUnavailable, lostChunks, refusedChunk } from "./object_store_limits.ts";
import { followAbort } from "../linked_abort.ts";

/** The object as stored: what a reader's `info()` returns, in brief. */
export interface WrittenObject {
  /** Object name. */
  name: string;
  /** Bytes written. */
  size: number;
  /** Lowercase hex SHA-256 of the bytes. */
  checksum: string;
}

/** Where and how {@link writeObject} writes. */
export interface WriteObjectOptions {
  /** Object name (unique: an existing object of the same name is not cleaned up). */
  name: string;
  /** Free text kept with the object. */
  description: string;
  /** Bytes per chunk. */
  chunkSize: number;
  /** Bytes written so far. */
  onProgress?: (done: number) => void;
  /** Stops the put before its next chunk (the chunks already stored are purged). */
  signal?: AbortSignal;
  /** Told, in a sentence, when the put resumes after failed acks and how it went. */
  onResume?: (message: string) => void;
  /**
   * Milliseconds a stream source may go without producing a byte before the
   * put fails with {@link UploadError}; none when absent.
   */
  idleTimeout?: number;
}

/** A chunk published whose ack has not been seen yet. */
interface Unconfirmed {
  bytes: Uint8Array;
  ack: Promise<PubAck>;
}

/**
 * A read of the put's source failed after `bytesRead` bytes (a file's read
 * error, an application's stream that errored): the source's fault, not the
 * store's, so the put is not tried again.
 *
 * @example
 * ```ts ignore
 * import { SourceReadError } from "./object_store_writer.ts";
 * try { await writeObject(js, "b", stream, options); } catch (err) {
 *   if (err instanceof SourceReadError) console.log(err.bytesRead, err.cause);
 * }
 * ```
 */
export class SourceReadError extends Error {
  /**
   * @param cause What the read rejected with.
   * @param bytesRead Bytes the source gave before.
   */
  constructor(override readonly cause: unknown, readonly bytesRead: number) {
    super((cause as Error)?.message ?? String(cause));
    this.name = "SourceReadError";
  }
}

/**
 * The chunks stored are not the object's in order (a publish reached the
 * server after the put had moved on): resuming cannot put the object
 * together, starting over (bytes, files) can.
 */
class CannotResume extends Error {}

/**
 * Whether a failed chunk publish may succeed when made again: not when the
 * put was aborted, the connection closed for good or is closing, the server answered with
 * an error of its own (a full stream, a limit), or it stored chunks out of
 * order, or its permissions refuse the chunks' subject. "JetStream system temporarily unavailable" is not the server's last
 * word: a cluster says it while a dead node's streams elect new leaders (seen
 * in tests/faults/cluster_node_fault.ts).
 */
function mayResume(err: unknown, signal: AbortSignal | undefined): boolean {
  if (err instanceof JetStreamApiError) return !signal?.aborted && clusterUnavailable(err);
  return !signal?.aborted && !(err instanceof NatsBridgeError) && !(err instanceof errors.ClosedConnectionError) &&
    !(err instanceof errors.DrainingConnectionError) && !(err instanceof CannotResume) &&
    permissionDenied(err, "") === undefined;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** base64url with padding, as the Object Store names its meta subjects and digests. */
function base64Url(bytes: Uint8Array): string {
  return encodeBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_");
}

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Cuts a byte source into chunks of exactly `size` (the last may be shorter).
 * A chunk that already has that size passes as it is, uncopied. A stream that
 * produces nothing for `idle.ms` fails with `idle.error()`: the timer runs per
 * read, so a slow source is not an idle one.
 */
async function* rechunk(
  source: Uint8Array | ReadableStream<Uint8Array>,
  size: number,
  signal?: AbortSignal,
  idle?: { ms: number; error: () => Error },
): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    for (let i = 0; i < source.byteLength; i += size) yield source.subarray(i, i + size);
    return;
  }
  // Its chunks are natsbridge's reads: once stored, their memory may be freed.
  const ownChunks = isOwnedStream(source);
  let pending: Uint8Array | undefined;
  let filled = 0;
  let bytesRead = 0;
  // A reader, not `for await`: Safari's streams are not async iterable.
  const reader = source.getReader();
  let ended = false;
  // An abort cancels the source at once, also while a read of it is pending.
  const onAbort = () => void reader.cancel(signal!.reason).catch(() => {});
  const unfollow = signal ? followAbort(signal, onAbort) : () => {};
  if (signal?.aborted) onAbort(); // aborted before: "abort" will not fire again
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await (idle ? settleWithin(reader.read(), idle.ms, idle.error) : reader.read());
      } catch (err) {
        // Ours (the idle timeout, a chunk that is no Uint8Array) or an abort: as it is.
        throw err instanceof NatsBridgeError || signal?.aborted ? err : new SourceReadError(err, bytesRead);
      }
      const { done, value: piece } = next;
      if (done) break;
      bytesRead += piece.byteLength;
      if (ownChunks) ownBuffer(piece);
      let at = 0;
      while (at < piece.byteLength) {
        if (filled === 0 && piece.byteLength - at >= size) {
          yield piece.subarray(at, at + size);
          at += size;
          continue;
        }
        pending ??= ownBuffer(new Uint8Array(size));
        const n = Math.min(size - filled, piece.byteLength - at);
        pending.set(piece.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === size) {
          yield pending;
          pending = undefined; // handed to the connection: a new buffer for the next
          filled = 0;
        }
      }
    }
    ended = true;
  } finally {
    unfollow();
    // Stopped early (a publish failed): tell the source to stop producing.
    if (!ended) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  if (filled > 0) yield pending!.subarray(0, filled);
}

/** How long an aborted put waits for its purge before it reports the abort (the purge goes on). */
const ABORT_PURGE_WAIT_MS = 1000;

/**
 * Writes `source` as the object `options.name` of `bucket`, and returns once
 * the server has acknowledged every chunk and the meta record. Chunks whose
 * acks fail for a passing reason are published again (the put resumes,
 * {@link UPLOAD_RETRY} attempts per failure); on a failure that stays, the
 * chunks already stored are purged (best effort) and the error is rethrown.
 *
 * @param js JetStream client of the connection holding the bucket.
 * @param bucket Bucket name (its stream is `OBJ_<bucket>`).
 * @param source The bytes, whole or as a stream of chunks of any size.
 * @param options Name, description, chunk size, progress.
 * @returns Name, size and hex SHA-256 of what was stored.
 *
 * @example
 * ```ts ignore
 * import { jetstream } from "@nats-io/jetstream";
 * import { writeObject } from "./object_store_writer.ts";
 * const info = await writeObject(jetstream(nc), "payloads", new Uint8Array(3_000_000), {
 *   name: "report", description: "", chunkSize: 1024 * 1024,
 * });
 * console.log(info.size); // 3000000
 * ```
 */
export async function writeObject(
  js: JetStreamClient,
  bucket: string,
  source: Uint8Array | ReadableStream<Uint8Array>,
  options: WriteObjectOptions,
): Promise<WrittenObject> {
  const startedAt = performance.now();
  const id = nuid.next();
  const stream = `OBJ_${bucket}`;
  const chunkSubject = `$O.${bucket}.C.${id}`;
  const hasher = createSha256();
  // In publish order; the first is the oldest chunk not yet known to be stored.
  const unconfirmed: Unconfirmed[] = [];
  const unconfirmedBytes = () => unconfirmed.reduce((n, u) => n + u.bytes.byteLength, 0);
  const pace = new AckPace(options.chunkSize);
  let size = 0;
  let chunks = 0;
  // Stream sequence of the last chunk known to be stored.
  let lastSeq = 0;
  let resumed = false;
  /** Publishes a chunk behind `ahead` bytes still awaiting their acks. */
  const publish = (bytes: Uint8Array, ahead: number) => {
    const publishedAt = performance.now();
    const ack = js.publish(chunkSubject, bytes, { timeout: pace.ackTimeout(ahead + bytes.byteLength) });
    // Timed as it arrives, not when awaited; a failure is awaited in order,
    // and must not be unhandled meanwhile.
    ack.then(() => pace.acked(bytes.byteLength, publishedAt), () => {});
    return ack;
  };

  /** Takes the oldest unconfirmed chunk as stored at `seq`, which must follow the last one. */
  const confirmed = (seq: number) => {
    if (seq <= lastSeq) throw new CannotResume(`a chunk of "${options.description}" was stored out of order`);
    lastSeq = seq;
    // Stored: the server has the bytes, and a buffer natsbridge read them into is garbage now.
    releaseOwnedEnd(unconfirmed.shift()!.bytes);
  };

  /**
   * After failed acks, once every publish has settled: the server may have
   * kept unconfirmed chunks although their acks were lost, and across a
   * cluster leader change it may have kept later ones and lost earlier ones.
   * What it kept after the last confirmed chunk is compared with the chunks
   * due, in order and byte for byte: a match is confirmed, anything else
   * deleted. The chunks still unconfirmed are then published again.
   */
  const resumeOnce = async () => {
    await Promise.allSettled(unconfirmed.map((u) => u.ack));
    const jsm = await js.jetstreamManager();
    const due = unconfirmed.length;
    let removed = 0;
    for (let from = lastSeq + 1;;) {
      // The server's STREAM.MSG.GET takes next_by_subj; nats.js types it only
      // for direct gets, which need allow_direct on the stream.
      const next: NextMsgRequest = { next_by_subj: chunkSubject, seq: from };
      const kept = await jsm.streams.getMessage(stream, next as unknown as MsgRequest);
      if (!kept) break;
      from = kept.seq + 1;
      if (unconfirmed.length && sameBytes(kept.data, unconfirmed[0].bytes)) confirmed(kept.seq);
      else {
        await jsm.streams.deleteMessage(stream, kept.seq, false);
        removed++;
      }
    }
    const again = unconfirmed.length;
    let ahead = 0;
    for (const u of unconfirmed) {
      u.ack = publish(u.bytes, ahead);
      ahead += u.bytes.byteLength;
    }
    while (unconfirmed.length) confirmed((await unconfirmed[0].ack).seq);
    options.onResume?.(
      `resumed at ${size} bytes: of ${due} unacknowledged chunks the server had ${due - again}, ` +
        `${again} were published again${removed ? `, ${removed} stored out of order were deleted` : ""}`,
    );
  };

  const what = `Object Store put of "${options.description}"`;
  const bucketGone = async () => {
    try {
      await (await js.jetstreamManager()).streams.info(stream);
      return false;
    } catch (err) {
      return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
    }
  };
  /** Waits for the oldest unconfirmed chunk's ack; if it failed, resumes. */
  const confirmOldest = async () => {
    try {
      confirmed((await untilAborted(unconfirmed[0].ack, options.signal, what)).seq);
    } catch (err) {
      if (!mayResume(err, options.signal)) throw err;
      // No stream answered the chunk: a bucket deleted under us is final, not an outage.
      if (/no responders|jetstream is not enabled/i.test((err as Error).message) && await bucketGone()) {
        throw new UploadError(`Object Store put of "${options.description}" failed: bucket "${bucket}" no longer exists`, {
          dataname: options.description,
          cause: err,
        });
      }
      resumed = true;
      options.onResume?.(
        `${unconfirmed.length} chunks not acknowledged (${(err as Error).message}); resuming after stream sequence ${lastSeq}`,
      );
      await retry(resumeOnce, {
        ...UPLOAD_RETRY,
        signal: options.signal,
        isFinal: (e) => !mayResume(e, options.signal),
        // Final: a put started over would wait out the same outage again.
        exhausted: (e, attempts) => {
          const why = `chunks not acknowledged, and ${attempts} attempts to resume failed: ${(e as Error).message}`;
          return new UploadError(`Object Store put of "${options.description}" failed: ${why}`, {
            dataname: options.description,
            cause: new TransportError("PUBLISH_FAILED", why, { cause: e }),
          });
        },
      });
    }
  };

  const idle = options.idleTimeout === undefined ? undefined : {
    ms: options.idleTimeout,
    error: () =>
      new UploadError(`Object Store put of "${options.description}" failed: its source produced nothing for ${options.idleTimeout! / 1000} s`, {
        dataname: options.description,
      }),
  };
  const chunksOfSource = rechunk(source, options.chunkSize, options.signal, idle);
  try {
    for (;;) {
      // A source that stops producing must not hold an aborted put.
      const next = await untilAborted(chunksOfSource.next(), options.signal, what);
      if (next.done) break;
      const chunk = next.value;
      if (options.signal?.aborted) throw abortReason(options.signal, what);
      while (unconfirmed.length && unconfirmedBytes() + chunk.byteLength > pace.windowBytes()) await confirmOldest();
      await yieldToEventLoop();
      hasher.update(chunk);
      unconfirmed.push({ bytes: chunk, ack: publish(chunk, unconfirmedBytes()) });
      size += chunk.byteLength;
      chunks++;
      options.onProgress?.(size);
    }
    while (unconfirmed.length) await confirmOldest();
    // Not known after a resume unless asked; otherwise every chunk was acked,
    // and a server too busy to say how many it still holds does not fail the put.
    const si = await (await js.jetstreamManager()).streams.info(stream, { subjects_filter: chunkSubject })
      .catch((err) => { if (resumed) throw err; });
    const stored = si?.state.subjects?.[chunkSubject] ?? 0;
    // A publish that reached the server after a resume's check would be a chunk stored twice.
    if (resumed && stored !== chunks) {
      throw new CannotResume(`the server holds ${stored} chunks of "${options.description}", ${chunks} were sent`);
    }
    // Acked and then dropped by the bucket's own limits (a TTL shorter than
    // the upload, discard old, one message per subject): listed whole, the
    // object would fail every reader.
    if (si && stored < chunks) throw lostChunks(stored, chunks, si.config, performance.now() - startedAt, bucket, what);
    const checksum = hasher.digestHex();
    const info = {
      name: options.name,
      description: options.description,
      options: { max_chunk_size: options.chunkSize },
      bucket,
      nuid: id,
      size,
      chunks,
      mtime: new Date().toISOString(),
      digest: `SHA-256=${base64Url(hexToBytes(checksum))}`,
      deleted: false,
    };
    const h = headers();
    h.set("Nats-Rollup", "sub");
    const metaSubject = `$O.${bucket}.M.${base64Url(new TextEncoder().encode(options.name))}`;
    // A rollup of its subject, so publishing it twice is publishing it once:
    // a cluster's "temporarily unavailable" is waited out, as for chunks.
    await retry(() => js.publish(metaSubject, JSON.stringify(info), { headers: h }), {
      ...UPLOAD_RETRY,
      signal: options.signal,
      isFinal: (e) => !!options.signal?.aborted || !clusterUnavailable(e),
      exhausted: (e) => e as Error,
    });
    return { name: options.name, size, checksum };
  } catch (err) {
    // Stops the source. After an abort a read of it may still be pending,
    // which return() would wait behind: the abort has cancelled it already.
    const stopSource = chunksOfSource.return(undefined).catch(() => undefined);
    if (!options.signal?.aborted) await stopSource;
    const purge = (async () => {
      await Promise.allSettled(unconfirmed.map((u) => u.ack));
      const jsm = await js.jetstreamManager().catch(() => undefined);
      await jsm?.streams.purge(stream, { filter: chunkSubject }).catch(() => {});
    })();
    // An aborted put returns promptly: against a server that stopped
    // answering, the acks take their timeouts to settle, and the purge
    // carries on after the abort has been reported.
    if (options.signal?.aborted) await settleWithin(purge, ABORT_PURGE_WAIT_MS, () => new Error("purge still running")).catch(() => {});
    else await purge;
    throw refusedChunk(err, bucket, what) ?? err;
  }
}
