/**
 * Reads one Object Store object's chunks as a stream with backpressure, hashing
 * each byte once.
 *
 * `@nats-io/obj`'s `get()` feeds its stream from a push consumer as fast as the
 * server delivers, whatever the reader does: a reader slower than the network
 * ends up with the whole object queued in memory (measured: a reader pausing
 * 3 ms per 1 MiB chunk held 255 MiB of a 300 MiB object). Here the chunks come
 * from an ordered pull consumer that asks the server for the next few only as
 * the stream is read, so memory stays at {@link READ_AHEAD_BYTES} of chunks
 * whatever the object's size or the reader's pace (34 MiB for the same read).
 * The SHA-256 computed on the way is checked against the object's digest and
 * reported, so the receiver compares it with the envelope's checksum without
 * a second pass.
 *
 * @module
 */
import {
  type Consumer,
  type ConsumerMessages,
  DeliverPolicy,
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JsMsg,
} from "@nats-io/jetstream";
import type { ObjectInfo } from "@nats-io/obj";
import type { NatsConnection } from "../nats_types.ts";
import { settleWithin, sleep } from "../backoff.ts";
import { followAbort } from "../linked_abort.ts";
import { onClose } from "../connection_close.ts";
import { ChecksumError, DownloadError, NatsBridgeError, SizeMismatchError } from "../errors.ts";
import { copyBytes, isWholeBuffer, ownStream } from "../platform/buffer_release.ts";
import { createSha256 } from "../platform/sha256.ts";
import { presizeIncomingMessages } from "../platform/parser_buffers.ts";
import { yieldToEventLoop } from "../../workers/inline_codec.ts";
import { quoted } from "../printable.ts";

/**
 * Bytes of chunks an Object Store read asks the server for ahead of its
 * reader: enough to keep the link busy while one chunk is consumed, little
 * enough that a read holds a few MiB however large the object is and however
 * slowly it is read. Counted in the object's own chunks (at least two).
 *
 * @example Chunks a streamed Object Store receive holds ahead of its reader
 * ```ts
 * import { OBJECT_CHUNK_SIZE, READ_AHEAD_BYTES } from "natsbridge";
 * console.log(READ_AHEAD_BYTES / OBJECT_CHUNK_SIZE); // 16 (of natsbridge's 256 KiB chunks)
 * ```
 */
export const READ_AHEAD_BYTES = 4 * 1024 * 1024;

/**
 * Read-ahead bytes all concurrent Object Store reads on one connection ask for
 * together. Each read takes up to {@link READ_AHEAD_BYTES} of what is left, and
 * two chunks when nothing is. Without a shared cap, 17 concurrent reads of
 * 4 MiB passed nats-server's 64 MiB `max_pending` for one client: the server
 * called the connection a slow consumer and dropped it (measured: 30 × 10 MB
 * in one envelope took 10–17 s through three reconnects, against 0.3 s, and
 * a core subscription on that connection lost a quarter of its messages).
 *
 * @example
 * ```ts
 * import { CONNECTION_READ_AHEAD_BYTES, READ_AHEAD_BYTES } from "natsbridge";
 * console.log(CONNECTION_READ_AHEAD_BYTES / READ_AHEAD_BYTES); // 6
 * ```
 */
export const CONNECTION_READ_AHEAD_BYTES = 24 * 1024 * 1024;

/** Read-ahead bytes reserved by the open reads of each connection's JetStream client. */
const reservedAhead = new WeakMap<JetStreamClient, number>();

/**
 * Read-ahead bytes the open Object Store reads of a connection hold now (see
 * {@link CONNECTION_READ_AHEAD_BYTES}); 0 when none is open.
 *
 * @param js The connection's JetStream client ({@link jetStreamOf}).
 * @returns Bytes reserved.
 *
 * @example
 * ```ts ignore
 * import { jetStreamOf, reservedReadAhead } from "./object_store_reader.ts";
 * console.log(reservedReadAhead(jetStreamOf(nc))); // 0 when no read is open
 * ```
 */
export function reservedReadAhead(js: JetStreamClient): number {
  return reservedAhead.get(js) ?? 0;
}

/**
 * Stops reads whose stream was dropped without being read to its end or
 * cancelled: their consumers would go on, and their read-ahead stay reserved.
 */
const abandoned = new FinalizationRegistry<() => void>((stop) => stop());

/** Chunk size of objects whose meta does not say (the Object Store clients' default). */
const DEFAULT_CHUNK = 128 * 1024;
/** Range a declared chunk size is kept in when counting read-ahead. */
const MIN_CHUNK = 16 * 1024;
const MAX_CHUNK = 8 * 1024 * 1024;
/** nats-server's default max_payload: a chunk no larger always fits one pull. */
const MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * A read that receives nothing for this long fails instead of waiting forever
 * (an object purged mid-read, a server that went away for good).
 */
export const STALL_MS = 30_000;

/**
 * A read that has waited this long for its next chunk, and longer than
 * {@link PATIENCE_FACTOR} times its slowest chunk so far, replaces its consumer
 * with a new one starting after the last chunk delivered. nats.js recreates a
 * lost ordered consumer by itself, but not always when the stream's leader
 * dies under it: measured in an R3 cluster, its pulls were answered 503 and
 * then nothing came, or a recreated consumer kept sending heartbeats without
 * delivering, until {@link STALL_MS} failed the read. A healthy consumer of a
 * finished object delivers its next chunk in milliseconds on a fast link, and
 * in about the time its earlier chunks took on a slow one
 * (`tests/faults/slow_link_fault.ts`: at 40 KB/s a chunk takes 6.5 s). Until
 * a first chunk has shown the link's pace, the read does not replace its
 * consumer.
 */
const REOPEN_AFTER_MS = 5_000;

/** How many times its slowest chunk a read waits before it takes its consumer for silent. */
const PATIENCE_FACTOR = 4;

/** What {@link readObjectChunks} checks the bytes against, and where errors point. */
export interface ReadObjectOptions {
  /** Correlation id and dataname for errors. */
  errContext: { correlationId: string; dataname: string };
  /** The object's digest as lowercase hex (from `info.digest`), when SHA-256. */
  digestHex: string | undefined;
  /** Called with the verified hex digest just before the stream closes. */
  onVerified?: (hex: string) => void;
  /** Cancels the read. */
  signal?: AbortSignal;
  /** Told, in a sentence, when the read replaces a consumer that went silent. */
  onReopen?: (message: string) => void;
}

/**
 * The JetStream client of a connection, made once per connection.
 *
 * @param nc The connection.
 * @returns Its JetStream client.
 */
export function jetStreamOf(nc: NatsConnection): JetStreamClient {
  let js = clients.get(nc);
  // Without nats.js's API check ($JS.API.INFO): only the meta leader answers
  // it, so for the seconds of its election every call timed out though the
  // stream it was for answered. A server without JetStream still says so on
  // the first real call ("no responders", mapped by jetStreamError).
  if (!js) clients.set(nc, js = jetstream(nc, { checkAPI: false }));
  return js;
}
const clients = new WeakMap<NatsConnection, JetStreamClient>();


/**
 * Streams the chunks of the object `info` from bucket `bucket`, verified as
 * they flow: a digest mismatch, or more or fewer bytes than `info.size`,
 * errors the stream at the point it is found instead of closing it.
 *
 * @param js JetStream client of the connection holding the bucket.
 * @param bucket Bucket name.
 * @param info The object's info (from `ObjectStore.info`), not deleted, not a link.
 * @param options Expected digests and error context.
 * @returns A stream of the object, once its read has started; each chunk is
 *   a buffer of its own that nothing else holds ({@link ownStream}).
 *
 * @example
 * ```ts ignore
 * import { jetStreamOf, readObjectChunks } from "./object_store_reader.ts";
 * const info = (await store.info("report"))!;
 * const stream = await readObjectChunks(jetStreamOf(nc), "payloads", info, {
 *   errContext: { correlationId: "c1", dataname: "report" },
 *   digestHex: digestToHex(info.digest),
 * });
 * ```
 */
export async function readObjectChunks(
  js: JetStreamClient,
  bucket: string,
  info: ObjectInfo,
  options: ReadObjectOptions,
): Promise<ReadableStream<Uint8Array>> {
  const { errContext, signal } = options;
  // The chunks may come over the application's own connection, not one natsbridge opened.
  presizeIncomingMessages();
  const hasher = createSha256();
  let received = 0;
  let consumer: Consumer | undefined;
  let messages: ConsumerMessages | undefined;
  let iterator: AsyncIterator<JsMsg> | undefined;
  let stopped = false;
  // The object's own word for its chunk size, kept to a sane range: a writer
  // may lie (max_chunk_size 1 asked for 4 million chunks ahead, and the server
  // dropped the connection as a slow consumer). The pull is also capped in bytes.
  const declared = Number(info.options?.max_chunk_size);
  const chunkSize = Number.isFinite(declared) && declared > 0
    ? Math.min(Math.max(declared, MIN_CHUNK), MAX_CHUNK)
    : DEFAULT_CHUNK;
  // Stream sequence of the last chunk delivered: where a replacement consumer starts.
  let lastSeq = 0;
  // The current consumer was stopped to be replaced: its iterator's end is not the object's.
  let replacing = false;
  // This read's share of the connection's read-ahead, held until it stops.
  let ahead = 0;
  const chunksAhead = () => {
    if (ahead === 0) {
      const reserved = reservedAhead.get(js) ?? 0;
      const wanted = Math.max(2, Math.ceil(READ_AHEAD_BYTES / chunkSize));
      const free = Math.floor(Math.max(0, CONNECTION_READ_AHEAD_BYTES - reserved) / chunkSize);
      ahead = Math.max(2, Math.min(wanted, free));
      reservedAhead.set(js, reserved + ahead * chunkSize);
    }
    return ahead;
  };

  const nc = (js as unknown as { nc?: NatsConnection }).nc;
  let unfollow = () => {};
  const stop = () => {
    if (stopped) return;
    stopped = true;
    forgetRead();
    unfollow();
    abandoned.unregister(stop);
    if (ahead > 0) reservedAhead.set(js, Math.max(0, (reservedAhead.get(js) ?? 0) - ahead * chunkSize));
    messages?.stop();
    // The ordered consumer is ephemeral: delete it now rather than leave it to
    // its inactivity threshold. Not awaited: nobody waits on the cleanup.
    if (messages) consumer?.delete().catch(() => {});
  };

  const open = async () => {
    consumer = await js.consumers.get(`OBJ_${bucket}`, {
      filter_subjects: [`$O.${bucket}.C.${info.nuid}`],
      inactive_threshold: STALL_MS * 1_000_000,
      ...(lastSeq > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastSeq + 1 } : {}),
    });
    // Heartbeats every second: a consumer lost with a cluster node is noticed
    // (two missed) and recreated from the last chunk seen within ~2 s, where
    // the 30 s default would hold the read that long.
    const chunks = chunksAhead();
    messages = await consumer.consume({
      // In bytes, not chunks: bounded whatever the chunks really weigh, with
      // room for one of the largest messages a server takes, so a read never stalls.
      max_bytes: Math.max(chunks * chunkSize, MAX_MESSAGE_BYTES) + 64 * 1024,
      expires: 5_000,
      idle_heartbeat: 1_000,
    });
    iterator = messages[Symbol.asyncIterator]();
  };

  /** A new consumer from the chunk after the last one delivered, tried until one opens or the read stops. */
  const reopen = async () => {
    consumer?.delete().catch(() => {});
    for (;;) {
      try {
        return await open();
      } catch {
        // No leader yet: the election after a node's death takes a few seconds.
        if (stopped) return;
        await sleep(500);
      }
    }
  };

  // Longest wait for a chunk so far, ms: the link's pace.
  let slowest = 0;
  // What took the chunks under the read, if the server holds fewer than the object has.
  let gone: "object" | "bucket" | undefined;
  const chunkSubject = `$O.${bucket}.C.${info.nuid}`;
  const chunksLost = async (): Promise<typeof gone> => {
    try {
      const jsm = await js.jetstreamManager();
      const si = await jsm.streams.info(`OBJ_${bucket}`, { subjects_filter: chunkSubject });
      return (si.state.subjects?.[chunkSubject] ?? 0) < info.chunks ? "object" : undefined;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return "bucket";
      return undefined; // cannot tell (a server away): wait on as before
    }
  };

  /** The next chunk message's data, across consumer replacements; undefined at the end. */
  const pullOne = async (): Promise<Uint8Array | undefined> => {
    for (;;) {
      const current = messages!;
      const began = Date.now();
      const patience = Math.max(REOPEN_AFTER_MS, PATIENCE_FACTOR * slowest);
      // A long wait asks the server whether the chunks are still there; then,
      // once a first chunk has shown the link's pace, replaces a silent consumer.
      let waiting = true;
      const timer = setTimeout(async () => {
        if (current !== messages || stopped) return;
        const lost = await chunksLost();
        // The answer can take long on a slow link, queued behind chunks: one may have come meanwhile.
        if (!waiting || current !== messages || stopped) return;
        if (lost) gone = lost;
        else if (lastSeq === 0) return;
        else replacing = true;
        current.stop(); // ends the iterator; a chunk already on its way still comes first
      }, patience);
      let r: IteratorResult<JsMsg>;
      try {
        r = await iterator!.next();
      } finally {
        waiting = false;
        clearTimeout(timer);
      }
      if (!r.done) {
        slowest = Math.max(slowest, Date.now() - began);
        lastSeq = r.value.seq;
        return r.value.data;
      }
      if (gone) {
        throw new DownloadError(
          gone === "bucket"
            ? `Payload ${quoted(errContext.dataname)} is gone: Object Store bucket "${bucket}" was deleted while it was read (at ${received} of ${info.size} bytes)`
            : `Object Store object of ${quoted(errContext.dataname)} was deleted or expired while it was read (at ${received} of ${info.size} bytes)`,
          errContext,
          "PAYLOAD_GONE",
        );
      }
      if (!replacing || stopped) return undefined;
      options.onReopen?.(
        `nothing for ${Math.round((Date.now() - began) / 100) / 10} s at ${received} of ${info.size} bytes; reading on with a new consumer after stream sequence ${lastSeq}`,
      );
      await reopen();
      replacing = false;
    }
  };

  // A fresh guard per chunk (settleWithin), settled or dropped with it: racing
  // every chunk against one long-lived promise (an abort that never comes)
  // would keep every chunk reachable from that promise's reactions until the
  // read ends.
  const next = (): Promise<Uint8Array | undefined> =>
    settleWithin(
      pullOne(),
      STALL_MS,
      () =>
        new DownloadError(
          `Object Store read of ${quoted(errContext.dataname)} received nothing for ${
            STALL_MS / 1000
          } s at ${received} of ${info.size} bytes`,
          errContext,
        ),
      signal,
      `Object Store read of ${quoted(errContext.dataname)}`,
      errContext.correlationId,
    );

  const finish = () => {
    const hex = hasher.digestHex();
    if (options.digestHex !== undefined && hex !== options.digestHex) {
      throw new ChecksumError(
        `Object Store object of ${quoted(errContext.dataname)} does not match its own digest: expected ${options.digestHex}, got ${hex}`,
        errContext,
      );
    }
    options.onVerified?.(hex);
  };

  // A read left unread would keep its consumer's heartbeat timer, which
  // holds a Node or Deno process open after the connection's close.
  const forgetRead = onClose(nc, stop);
  // Opened before the stream is handed out, so a failure to start the read
  // (no such stream, no JetStream) reaches the caller's retries.
  if (info.size > 0) {
    try {
      await open();
    } catch (err) {
      stop(); // gives back its read-ahead
      throw err;
    }
  }
  // An abort (the caller's, or a sibling payload's failure) ends the read even
  // while nobody is reading the stream.
  if (signal?.aborted) stop();
  else if (signal) unfollow = followAbort(signal, stop);
  const source: UnderlyingDefaultSource<Uint8Array> = {
    async pull(controller) {
      try {
        if (info.size === 0) {
          finish();
          controller.close();
          return;
        }
        // Empty messages carry nothing; skip them rather than enqueue nothing.
        let data: Uint8Array | undefined;
        do data = await next(); while (data && data.byteLength === 0);
        if (!data && (nc?.isClosed() || nc?.isDraining())) {
          // Cut off, not short: a transient failure (consume naks it), not a bad message.
          // (A drain ends the consumer's messages before the connection is closed.)
          throw new DownloadError(
            `Object Store read of ${quoted(errContext.dataname)} stopped at ${received} of ${info.size} bytes: the NATS connection closed`,
            errContext,
          );
        }
        if (!data) {
          throw new SizeMismatchError(
            `Object Store object of ${quoted(errContext.dataname)} ended at ${received} of ${info.size} bytes`,
            errContext,
          );
        }
        received += data.byteLength;
        if (received > info.size) {
          throw new DownloadError(
            `Object Store object of ${quoted(errContext.dataname)} is longer than its info's ${info.size} bytes`,
            errContext,
            "PAYLOAD_TOO_LARGE",
          );
        }
        await yieldToEventLoop();
        hasher.update(data);
        // A chunk that is the whole of its buffer is nats.js's assembly of this
        // one message, which it keeps nothing of. A chunk inside a socket read
        // shares that read with other messages: it is copied (on an
        // application's connection; natsbridge's copy large messages out of
        // their reads already), so that every chunk is its reader's alone.
        controller.enqueue(isWholeBuffer(data) ? data : copyBytes(data));
        if (received === info.size) {
          stop();
          finish();
          controller.close();
        }
      } catch (err) {
        stop();
        throw err instanceof NatsBridgeError ? err : new DownloadError(
          `Object Store read of ${quoted(errContext.dataname)} failed at ${received} of ${info.size} bytes: ${
            (err as Error).message
          }`,
          { ...errContext, cause: err },
        );
      }
    },
    cancel() {
      stop();
    },
  };
  // Watched through its source, which the stream keeps while it can still be
  // read: Chromium dropped the JS object of a stream that was only piped
  // (verifiedStream's pipeThrough, at the time), and stopped reads of intact
  // objects mid-way (SIZE_MISMATCH, and consume dead-lettered them).
  abandoned.register(source, stop, stop);
  // Its one reader (natsbridge's, or the application's through the store's
  // downloadStream) may free or keep its chunks: nothing else holds them.
  return ownStream(new ReadableStream<Uint8Array>(source, { highWaterMark: 0 }));
}
