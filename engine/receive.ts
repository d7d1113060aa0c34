/**
 * `smartreceive`: validate an envelope, fetch link payloads from allowed
 * origins, verify size and checksum, and decode each payload by its type.
 *
 * @module
 */
import { abortReason, untilAborted } from "./backoff.ts";
import { codecFor } from "./codecs/registry.ts";
import { type DecompressionAllowance, decompressionAllowance } from "./codecs/arrow_compression.ts";
import {
  checkBoolean,
  checkCommonShapes,
  checkCount,
  checkFunction,
  checkKnownKeys,
  optionNames,
  checkMillis,
  DEFAULT_BASE_DELAY,
  DEFAULT_MAX_DELAY,
  DEFAULT_MAX_RETRIES,
  readEnv,
  resolveFileserverUrl,
} from "./config.ts";
import { type CheckedPayload, parseEnvelope } from "./envelope.ts";
import {
  ChecksumError,
  DecodeError,
  DownloadError,
  type NatsBridgeError,
  OptionsError,
  SizeMismatchError,
  withContext,
} from "./errors.ts";
import { describe } from "./codecs/text.ts";
import { fetchWithBackoff, httpFileServer } from "./handlers/http_download.ts";
import { followAbort, followWhileReachable, holdSignal, linkedAbort } from "./linked_abort.ts";
import { consoleLogger, type Logger, logEvent } from "./logger.ts";
import { assertAllowedOrigin, checkOrigins, originOf } from "./origins.ts";
import { progressReporter } from "./progress.ts";
import { sha256Hex } from "./platform/sha256.ts";
import { payloadStreamOf, verifiedStream } from "./payload_stream.ts";
import { type CodecPool, defaultCodecPool } from "../workers/pool.ts";
import type {
  DownloadHandler,
  FileServer,
  ProgressCallback,
  ReceivedEnvelope,
  ReceivedPayload,
} from "./types.ts";
import { printable, quoted } from "./printable.ts";

const textEncoder = new TextEncoder();

/**
 * Options of {@link smartreceive}: the spec's, then natsbridge's extras.
 *
 * @example
 * ```ts ignore
 * import { smartreceive, type SmartReceiveOptions } from "natsbridge";
 * import { connect } from "@nats-io/transport-node";
 * const nc = await connect({ servers: "nats://127.0.0.1:4222" });
 * const options: SmartReceiveOptions = {
 *   fileserver_url: "http://127.0.0.1:8080",
 *   max_retries: 8,
 *   max_download_bytes: 100 * 1024 * 1024,
 *   on_progress: (p) => console.log(p.dataname, p.done, p.total),
 * };
 * for await (const msg of nc.subscribe("files")) console.log((await smartreceive(msg, options)).payloads);
 * ```
 */
export interface SmartReceiveOptions {
  /**
   * Downloads a link payload. Takes precedence over `fileserver.download`.
   * @default {fetchWithBackoff}
   */
  fileserver_download_handler?: DownloadHandler | undefined;
  /**
   * Download attempts before giving up.
   * @default {5}
   */
  max_retries?: number | undefined;
  /**
   * First backoff delay, ms.
   * @default {100}
   */
  base_delay?: number | undefined;
  /**
   * Longest backoff delay, ms.
   * @default {5000}
   */
  max_delay?: number | undefined;

  /**
   * Beyond the spec: the trusted file server; links are fetched only from its
   * origin, `fileserver`'s origins and `allowed_origins`. With `fileserver`
   * given and neither this nor `FILESERVER_URL` set, none: only the store's
   * origins (and `allowed_origins`) are trusted.
   * @default {env FILESERVER_URL, else "http://localhost:8080"}
   */
  fileserver_url?: string | undefined;
  /** Beyond the spec: more origins (or URLs) links may point to. */
  allowed_origins?: readonly string[] | undefined;
  /** Beyond the spec: a file store whose links this receiver resolves (e.g. `objectStoreFileServer()`). */
  fileserver?: FileServer | undefined;
  /**
   * Beyond the spec: verify `metadata.checksum` when present.
   * @default {true}
   */
  verify_checksum?: boolean | undefined;
  /** Beyond the spec: cancels downloads and backoff waits. */
  signal?: AbortSignal | undefined;
  /** Beyond the spec: progress of link downloads. */
  on_progress?: ProgressCallback | undefined;
  /** Beyond the spec: where log lines go. @default {consoleLogger("warn")} */
  logger?: Logger | undefined;
  /**
   * Beyond the spec: return link payloads of binary types (`image`, `audio`,
   * `video`, `binary`) as a `ReadableStream<Uint8Array>` instead of bytes —
   * `true` for all, or the datanames wanted. The stream is verified as it
   * flows (size, then SHA-256 at its end: a mismatch errors the stream). It
   * is a byte stream: read it into your own buffer
   * (`getReader({ mode: "byob" })`) and natsbridge frees each chunk it
   * received once copied there, instead of leaving it to the garbage
   * collector (bounded memory however large the payload).
   * @default {false}
   */
  stream?: boolean | readonly string[] | undefined;
  /** Beyond the spec: the codec pool (worker threads) to use. @default {defaultCodecPool()} */
  pool?: CodecPool | undefined;
  /**
   * Beyond the spec: largest link payload (bytes) this receiver accepts, and
   * the most the link payloads of one message received into memory may
   * announce together; more is refused before any request, and a download is
   * cut off at its announced size. Streams are not held in memory, but the cap
   * applies to each of them too.
   * @default {2147483648 (2 GiB)}
   */
  max_download_bytes?: number | undefined;
}

/**
 * Default {@link SmartReceiveOptions.max_download_bytes}.
 *
 * @example Accepting larger links than the default
 * ```ts ignore
 * import { DEFAULT_MAX_DOWNLOAD_BYTES, smartreceive } from "natsbridge";
 * import { connect } from "@nats-io/transport-node";
 * const nc = await connect({ servers: "nats://127.0.0.1:4222" });
 * for await (const msg of nc.subscribe("videos")) {
 *   const env = await smartreceive(msg, { max_download_bytes: 4 * DEFAULT_MAX_DOWNLOAD_BYTES, stream: true });
 *   console.log(env.payloads.map(([name]) => name));
 * }
 * ```
 */
export const DEFAULT_MAX_DOWNLOAD_BYTES = 2 * 1024 * 1024 * 1024;

/**
 * The names of {@link SmartReceiveOptions}: anything else is a slip (see checkKnownKeys).
 *
 * @example
 * ```ts
 * import { RECEIVE_OPTION_NAMES } from "./receive.ts";
 * console.log(RECEIVE_OPTION_NAMES.has("max_retries")); // true
 * ```
 */
export const RECEIVE_OPTION_NAMES: ReadonlySet<string> = optionNames<SmartReceiveOptions>({
  fileserver_download_handler: true,
  max_retries: true,
  base_delay: true,
  max_delay: true,
  fileserver_url: true,
  allowed_origins: true,
  fileserver: true,
  verify_checksum: true,
  signal: true,
  on_progress: true,
  logger: true,
  stream: true,
  pool: true,
  max_download_bytes: true,
});

/** Receive options as checked by {@link checkReceiveOptions}, defaults applied. */
export interface CheckedReceiveOptions {
  maxRetries: number;
  baseDelay: number;
  maxDelay: number;
  explicitHandler: DownloadHandler | undefined;
  verify: boolean;
  maxDownload: number;
}

/**
 * Throws `INVALID_OPTION` unless every receive option has a value it can
 * take. A subscriber or consumer calls it once when it starts, so a bad
 * option fails there instead of on every message (which a JetStream
 * consumer would otherwise have to nak or dead-letter, one by one).
 *
 * @param options Receive options as given.
 * @returns The checked values, with their defaults.
 * @throws {OptionsError} `INVALID_OPTION`, naming the option.
 *
 * @example
 * ```ts
 * import { checkReceiveOptions } from "./receive.ts";
 * console.log(checkReceiveOptions({ max_retries: 3 }).maxRetries); // 3
 * ```
 */
export function checkReceiveOptions(options: SmartReceiveOptions): CheckedReceiveOptions {
  checkKnownKeys(options, RECEIVE_OPTION_NAMES, "receive");
  checkCommonShapes(options);
  checkFunction(options.on_progress, "on_progress");
  const stream = options.stream;
  if (
    stream !== undefined && typeof stream !== "boolean" &&
    !(Array.isArray(stream) && stream.every((n) => typeof n === "string"))
  ) {
    throw new OptionsError(`stream must be true, false or an array of datanames, got ${describe(stream)}`, { field: "stream" });
  }
  // The origins are read when the first link arrives (the environment may say
  // FILESERVER_URL); what is given is checked now.
  if (options.fileserver_url !== undefined) checkOrigins([options.fileserver_url], "fileserver_url");
  if (options.allowed_origins !== undefined) checkOrigins(options.allowed_origins, "allowed_origins");
  return {
    maxRetries: checkCount(options.max_retries ?? DEFAULT_MAX_RETRIES, "max_retries", 1),
    baseDelay: checkMillis(options.base_delay ?? DEFAULT_BASE_DELAY, "base_delay", 0),
    maxDelay: checkMillis(options.max_delay ?? DEFAULT_MAX_DELAY, "max_delay", 0),
    explicitHandler: checkFunction(options.fileserver_download_handler, "fileserver_download_handler"),
    verify: checkBoolean(options.verify_checksum, "verify_checksum") ?? true,
    maxDownload: checkCount(options.max_download_bytes ?? DEFAULT_MAX_DOWNLOAD_BYTES, "max_download_bytes", 0),
  };
}

/**
 * A NATS message as nats.js delivers it (only what is read here).
 *
 * @example Receiving a message that did not come from nats.js
 * ```ts
 * import assert from "node:assert/strict";
 * import { type MsgLike, smartreceive, smartsend } from "natsbridge";
 * const [, json] = await smartsend("chat", [["m", "hi", "text"]], { is_publish: false });
 * const msg: MsgLike = { subject: "chat", data: new TextEncoder().encode(json) };
 * assert.deepEqual((await smartreceive(msg)).payloads, [["m", "hi", "text"]]);
 * ```
 */
export interface MsgLike {
  /** Message body. */
  data: Uint8Array;
  /** Subject it arrived on. */
  subject: string;
}

/**
 * Receives one `msg_envelope_v1` message.
 *
 * @param msg A nats.js `Msg`, or the envelope as JSON text, UTF-8 bytes or a
 *   parsed object (for envelopes that arrived through a stream, a log, a webhook).
 * @param options The spec's options and natsbridge's extras.
 * @returns The envelope with `payloads` as `[dataname, value, payload_type]` tuples.
 * @throws {EnvelopeError} When the envelope breaks the contract.
 * @throws {OriginRefusedError} When a link points outside the allowed origins.
 * @throws {DownloadError} When a link cannot be fetched within the retry budget.
 * @throws {SizeMismatchError} | {ChecksumError} | {DecodeError} On bad payload bytes.
 *
 * @example Receiving from a subscription
 * ```ts ignore
 * import { smartreceive } from "natsbridge";
 * import { connect } from "@nats-io/transport-node";
 * const nc = await connect({ servers: "nats://127.0.0.1:4222" });
 * for await (const msg of nc.subscribe("chat")) {
 *   const env = await smartreceive(msg, { fileserver_url: "http://127.0.0.1:8080" });
 *   for (const [name, value, type] of env.payloads) console.log(name, type, value);
 * }
 * ```
 */
export function smartreceive(
  msg: MsgLike | string | Uint8Array | object,
  options: SmartReceiveOptions = {},
): Promise<ReceivedEnvelope> {
  return receiveChecked(msg, options ?? {}); // null from plain JavaScript callers: no options
}

/**
 * {@link smartreceive}, given options {@link checkReceiveOptions} has already
 * checked: a subscriber or consumer checks its options once, not on every
 * message.
 *
 * @param msg As for {@link smartreceive}.
 * @param options The receive options.
 * @param checked What `checkReceiveOptions(options)` returned; checked here when absent.
 * @returns The envelope, as {@link smartreceive} returns it.
 *
 * @example
 * ```ts ignore
 * import { checkReceiveOptions, receiveChecked } from "./receive.ts";
 * const options = { max_retries: 3 };
 * const checked = checkReceiveOptions(options);
 * for await (const msg of sub) console.log((await receiveChecked(msg, options, checked)).payloads);
 * ```
 */
export async function receiveChecked(
  msg: MsgLike | string | Uint8Array | object,
  options: SmartReceiveOptions,
  checked?: CheckedReceiveOptions,
): Promise<ReceivedEnvelope> {
  const { envelope, payloads } = parseEnvelope(isMsg(msg) ? msg.data : msg);
  const correlationId = envelope.correlation_id;
  if (!checked) {
    try {
      checked = checkReceiveOptions(options);
    } catch (err) {
      throw withContext(err, { correlationId }, (m, o) => new DecodeError(m, o));
    }
  }
  const { maxRetries, baseDelay, maxDelay, explicitHandler, verify, maxDownload } = checked;
  const pool = options.pool ?? defaultCodecPool();
  const logger = options.logger ?? consoleLogger();
  const fileserver = options.fileserver;
  // Built on the first link payload: direct-only messages, most of them, never need it.
  let linkPolicy: { allowed: string[]; storeOrigins: Set<string | undefined> } | undefined;
  const policy = () =>
    linkPolicy ??= {
      allowed: [
        // Given only a store, the built-in default (http://localhost:8080) is
        // not trusted too: any publisher could make the receiver fetch any
        // path there. Named by the option or FILESERVER_URL, it is.
        ...(fileserver && options.fileserver_url === undefined && readEnv("FILESERVER_URL") === undefined
          ? []
          : [resolveFileserverUrl(options.fileserver_url)]),
        ...(options.allowed_origins ?? []),
        ...(fileserver?.origins ?? []),
      ],
      storeOrigins: new Set(fileserver?.origins.map((o) => originOf(o))),
    };

  // One failed payload cancels the downloads of the others: the envelope is
  // returned whole or not at all. Made with the first download: a controller
  // per message cost ~2 µs on Node under load, and direct payloads need none.
  let abort: AbortController | undefined;
  let signal: AbortSignal | undefined;
  /** Unlinks the caller's signal when the receive ends; not set while a stream handed over may still read. */
  let unlink: (() => void) | undefined;
  /** Unlinks the strong hold the caller's signal has on a stream's controller while this call runs. */
  let held: (() => void) | undefined;
  const downloadSignal = (): AbortSignal => {
    if (!signal) {
      if (payloads.some(streamWanted)) {
        // A stream outlives this call and must still heed the caller's signal:
        // followed for its life (AbortSignal.any would leave an entry on the
        // caller's signal per receive on Node 20; see linked_abort.ts).
        abort = new AbortController();
        signal = abort.signal;
        if (options.signal) {
          followWhileReachable(options.signal, abort);
          // Held for the call too: a handler that never answers holds nothing,
          // and the weak link alone was collected under it (Bun), so an abort
          // never reached the receive.
          const controller = abort;
          const caller = options.signal;
          held = followAbort(caller, () => controller.abort(caller.reason));
        }
      } else {
        ({ controller: abort, unlink } = linkedAbort(options.signal));
        signal = abort.signal;
      }
    }
    return signal;
  };

  const streamWanted = (p: CheckedPayload) =>
    p.transport === "link" && BINARY_TYPES.has(p.resolvedType) &&
    (options.stream === true || (Array.isArray(options.stream) && options.stream.includes(p.dataname)));

  const receiveOne = async (p: CheckedPayload): Promise<ReceivedPayload> => {
    const ctx = { correlationId, dataname: p.dataname };
    const expected = expectedOf(p);
    let bytes: Uint8Array;
    let actual: string | undefined;
    // Only buffers natsbridge made itself may be moved to a worker: a caller's
    // handler may hand back memory it keeps (a cache), which must stay usable.
    let owned = true;
    if (p.transport === "direct") {
      if (p.encoding === "json") {
        bytes = jsonTextBytes(p);
      } else {
        try {
          ({ bytes, checksum: actual } = await pool.decodeDirect(p.data, { checksum: expected !== undefined }));
        } catch (err) {
          throw notBase64(p, err);
        }
      }
    } else {
      const { allowed, storeOrigins } = policy();
      assertAllowedOrigin(p.data, allowed, ctx);
      if (p.size > maxDownload) {
        throw new DownloadError(
          `Payload ${quoted(p.dataname)} announces ${p.size} bytes, over this receiver's max_download_bytes of ${maxDownload}`,
          ctx,
          "PAYLOAD_TOO_LARGE",
        );
      }
      const fromStore = fileserver && storeOrigins.has(originOf(p.data)) ? fileserver : undefined;
      const onProgress = progressReporter(options.on_progress, p.dataname, "download", logger, correlationId);
      const dctx = { dataname: p.dataname, expectedSize: p.size, expectedChecksum: expected, signal: downloadSignal(), logger };
      if (streamWanted(p)) {
        // Without its store, only an HTTP(S) link can be opened (httpOnly throws otherwise).
        const open = explicitHandler ? undefined : (fromStore ?? (httpOnly(p.data, ctx), DEFAULT_HTTP)).downloadStream;
        if (open) {
          // A store that hashes as it streams reports its digest; compared below, not recomputed.
          let reported: string | undefined;
          const selfVerified = fromStore?.verifiesStreams === true && open === fromStore.downloadStream;
          let raw: ReadableStream<Uint8Array>;
          try {
            raw = await open(p.data, maxRetries, baseDelay, maxDelay, correlationId, {
              ...dctx,
              onVerified: (hex) => (reported = hex.toLowerCase()),
            });
          } catch (err) {
            throw downloadFailed(p, err);
          }
          const stream = verifiedStream(raw, {
            size: p.size,
            checksum: expected,
            ...ctx,
            onProgress,
            reportedChecksum: selfVerified ? () => reported : undefined,
          });
          return [p.dataname, holdSignal(stream, dctx.signal), p.resolvedType] as ReceivedPayload;
        }
      }
      const handler = explicitHandler ?? fromStore?.download ?? httpOnly(p.data, ctx);
      owned = handler === fetchWithBackoff;
      try {
        // The spec's handlers take no signal: one that never answers is let go when the receive is aborted.
        bytes = await untilAborted(
          handler(p.data, maxRetries, baseDelay, maxDelay, correlationId, {
            ...dctx,
            onProgress,
            onVerified: (hex) => (actual = hex.toLowerCase()),
          }),
          dctx.signal,
          `Download of ${quoted(p.dataname)}`,
          correlationId,
        );
      } catch (err) {
        throw downloadFailed(p, err);
      }
      if (!(bytes instanceof Uint8Array)) {
        throw new DownloadError(`Download handler returned no bytes for ${quoted(p.dataname)}`, ctx);
      }
      if (bytes.byteLength === p.size) onProgress?.finish(p.size);
    }
    checkSize(p, bytes);
    if (expected !== undefined && actual === undefined) ({ checksum: actual, bytes } = await pool.checksum(bytes, { owned }));
    checkDigest(p, expected, actual);
    const value = streamWanted(p) ? payloadStreamOf(bytes, ctx) : deserialize(p, bytes);
    return [p.dataname, value, p.resolvedType] as ReceivedPayload; // the codec of resolvedType made value
  };

  // The Arrow decompression cap holds for the message's tables together, not each.
  let allowance: DecompressionAllowance | undefined;
  const deserialize = (p: CheckedPayload, bytes: Uint8Array) =>
    codecFor(p.resolvedType).deserialize(bytes, p.resolvedType === "arrowtable" ? (allowance ??= decompressionAllowance()) : undefined);

  const checkSize = (p: CheckedPayload, bytes: Uint8Array) => {
    // encoding "json" carries the JSON text itself; peers disagree on what its
    // `size` counts, so only base64 and link sizes are held to the byte.
    if (p.encoding !== "json" && bytes.byteLength !== p.size) {
      throw new SizeMismatchError(
        `Payload ${quoted(p.dataname)} announced ${p.size} bytes but carries ${bytes.byteLength}`,
        { correlationId, dataname: p.dataname },
      );
    }
  };
  const checkDigest = (p: CheckedPayload, expected: string | undefined, actual: string | undefined) => {
    if (expected !== undefined && actual !== expected) {
      throw new ChecksumError(
        `Checksum mismatch for payload ${quoted(p.dataname)} (correlation ${printable(correlationId)}): expected ${expected}, got ${actual}`,
        { correlationId, dataname: p.dataname },
      );
    }
  };
  const expectedOf = (p: CheckedPayload) => verify ? (p.metadata.checksum as string | undefined)?.toLowerCase() : undefined;
  // A caller's handler or store throws plain errors (a refused connection):
  // that is a failed download, which may pass, not bytes that cannot be decoded.
  const downloadFailed = (p: CheckedPayload, err: unknown) =>
    withContext(err, { correlationId, dataname: p.dataname }, (m, o) => new DownloadError(`Download of ${quoted(p.dataname)} failed: ${m}`, o));
  // A worker's own failure (WORKER_FAILED) keeps its code: the payload was not at fault.
  /**
   * The UTF-8 bytes of an encoding "json" payload's text. UTF-8 cannot carry a
   * lone surrogate, which TextEncoder would silently write as U+FFFD.
   */
  const jsonTextBytes = (p: CheckedPayload): Uint8Array => {
    if (!(p.data as string & { isWellFormed(): boolean }).isWellFormed()) {
      throw new DecodeError(
        `Payload ${quoted(p.dataname)} JSON text holds a lone surrogate, which is not valid Unicode (UTF-8 cannot carry it)`,
        { correlationId, dataname: p.dataname },
      );
    }
    return textEncoder.encode(p.data);
  };

  const notBase64 = (p: CheckedPayload, err: unknown) =>
    withContext(err, { correlationId, dataname: p.dataname }, (m, o) => new DecodeError(`Payload ${quoted(p.dataname)} data is not valid base64: ${m}`, o));

  /**
   * A small direct payload, received without yielding; `undefined` when it
   * needs a download or a worker. A message of such payloads, most of them,
   * then costs no promise per payload.
   */
  const receiveInline = (p: CheckedPayload): ReceivedPayload | undefined => {
    if (p.transport !== "direct") return undefined;
    const expected = expectedOf(p);
    let decoded: { bytes: Uint8Array; checksum: string | undefined } | undefined;
    if (p.encoding === "json") {
      const bytes = jsonTextBytes(p);
      // A large one is hashed by the pool (receiveOne), off this thread.
      if (expected !== undefined && bytes.byteLength >= pool.offloadThreshold) return undefined;
      decoded = { bytes, checksum: expected === undefined ? undefined : sha256Hex(bytes) };
    } else {
      try {
        decoded = pool.decodeDirectSync(p.data, { checksum: expected !== undefined });
      } catch (err) {
        throw notBase64(p, err);
      }
      if (!decoded) return undefined;
    }
    checkSize(p, decoded.bytes);
    checkDigest(p, expected, decoded.checksum);
    return [p.dataname, deserialize(p, decoded.bytes), p.resolvedType] as ReceivedPayload;
  };

  const inContext = (p: CheckedPayload, err: unknown) =>
    withContext(err, { correlationId, dataname: p.dataname }, (m, o) => new DecodeError(m, o));
  let received: ReceivedPayload[];
  try {
    const inline = payloads.map((p) => {
      try {
        return receiveInline(p);
      } catch (err) {
        throw inContext(p, err);
      }
    });
    // Each link is within the cap, and so must be what they hold in memory together:
    // fetched at once, ten links to one big file would take ten times its size.
    // (One over the cap alone is refused by its own check, which names it.)
    const heldLinks = payloads.filter((p) => p.transport === "link" && !streamWanted(p));
    const held = heldLinks.reduce((n, p) => n + p.size, 0);
    if (held > maxDownload && heldLinks.every((p) => p.size <= maxDownload)) {
      throw new DownloadError(
        `The link payloads of this message announce ${held} bytes together, over this receiver's max_download_bytes of ${maxDownload} (receive them with stream: true)`,
        { correlationId },
        "PAYLOAD_TOO_LARGE",
      );
    }
    received = inline.every((r) => r !== undefined) ? inline as ReceivedPayload[] : await Promise.all(payloads.map((p, i) =>
      inline[i] ?? receiveOne(p).catch((err) => {
        const e = inContext(p, err);
        abort?.abort(e);
        throw e;
      })
    ));
  } catch (err) {
    if (options.signal?.aborted) throw abortReason(options.signal, "Receive", correlationId);
    const e = err as NatsBridgeError;
    // Debug, not warn: the error is thrown, and whoever catches it reports it
    // (a subscription's on_error or its "Dropped" warning, consume's nak or
    // dead-letter); a warning here too said it twice.
    logEvent(logger, "debug", correlationId, `Receive failed: ${e.code ?? "ERROR"} ${e.message}`);
    throw e;
  } finally {
    unlink?.();
    held?.();
  }
  logEvent(logger, "debug", correlationId, `Received ${received.length} payload(s) from ${envelope.send_to}`);
  return { ...envelope, payloads: received } as ReceivedEnvelope;
}

const BINARY_TYPES: ReadonlySet<string> = new Set(["image", "audio", "video", "binary"]);
const DEFAULT_HTTP = httpFileServer();

function isMsg(msg: unknown): msg is MsgLike {
  return typeof msg === "object" && msg !== null && !(msg instanceof Uint8Array) &&
    (msg as MsgLike).data instanceof Uint8Array && typeof (msg as MsgLike).subject === "string";
}

/** The default handler, for HTTP(S) links only: other schemes need their store's handler. */
function httpOnly(url: string, ctx: { correlationId: string; dataname: string }): DownloadHandler {
  const protocol = new URL(url).protocol;
  if (protocol === "http:" || protocol === "https:") return fetchWithBackoff;
  throw new DownloadError(
    `No download handler for ${protocol}// links (payload ${quoted(ctx.dataname)}); pass the store as the fileserver option`,
    ctx,
  );
}
