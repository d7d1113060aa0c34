/**
 * `smartreceive`: validate an envelope, fetch link payloads from allowed
 * origins, verify size and checksum, and decode each payload by its type.
 *
 * @module
 */
import { abortReason } from "./backoff.ts";
import { codecFor } from "./codecs/registry.ts";
import {
  checkCount,
  checkFunction,
  DEFAULT_BASE_DELAY,
  DEFAULT_MAX_DELAY,
  DEFAULT_MAX_RETRIES,
  resolveFileserverUrl,
} from "./config.ts";
import { type CheckedPayload, parseEnvelope } from "./envelope.ts";
import {
  ChecksumError,
  DecodeError,
  DownloadError,
  NatsBridgeError,
  SizeMismatchError,
  withContext,
} from "./errors.ts";
import { fetchWithBackoff } from "./handlers/http_download.ts";
import { consoleLogger, type Logger, logEvent } from "./logger.ts";
import { assertAllowedOrigin, originOf } from "./origins.ts";
import { Base64Error, decodeBase64 } from "./platform/base64.ts";
import { sha256Hex } from "./platform/sha256.ts";
import type {
  DownloadHandler,
  FileServer,
  ProgressCallback,
  ReceivedEnvelope,
  ReceivedPayload,
} from "./types.ts";

/** Options of {@link smartreceive}: the spec's, then natsbridge's extras. */
export interface SmartReceiveOptions {
  /**
   * Downloads a link payload. Takes precedence over `fileserver.download`.
   * @default {fetchWithBackoff}
   */
  fileserver_download_handler?: DownloadHandler;
  /**
   * Download attempts before giving up.
   * @default {5}
   */
  max_retries?: number;
  /**
   * First backoff delay, ms.
   * @default {100}
   */
  base_delay?: number;
  /**
   * Longest backoff delay, ms.
   * @default {5000}
   */
  max_delay?: number;

  /**
   * Beyond the spec: the trusted file server; links are fetched only from its
   * origin, `fileserver`'s origins and `allowed_origins`.
   * @default {env FILESERVER_URL, else "http://localhost:8080"}
   */
  fileserver_url?: string;
  /** Beyond the spec: more origins (or URLs) links may point to. */
  allowed_origins?: readonly string[];
  /** Beyond the spec: a file store whose links this receiver resolves (e.g. `objectStoreFileServer()`). */
  fileserver?: FileServer;
  /**
   * Beyond the spec: verify `metadata.checksum` when present.
   * @default {true}
   */
  verify_checksum?: boolean;
  /** Beyond the spec: cancels downloads and backoff waits. */
  signal?: AbortSignal;
  /** Beyond the spec: progress of link downloads. */
  on_progress?: ProgressCallback;
  /** Beyond the spec: where log lines go. @default {consoleLogger("warn")} */
  logger?: Logger;
}

/** A NATS message as nats.js delivers it (only what is read here). */
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
 * for await (const msg of nc.subscribe("chat")) {
 *   const env = await smartreceive(msg, { fileserver_url: "http://127.0.0.1:8080" });
 *   for (const [name, value, type] of env.payloads) console.log(name, type, value);
 * }
 * ```
 */
export async function smartreceive(
  msg: MsgLike | string | Uint8Array | object,
  options: SmartReceiveOptions = {},
): Promise<ReceivedEnvelope> {
  const { envelope, payloads } = parseEnvelope(isMsg(msg) ? msg.data : msg);
  const correlationId = envelope.correlation_id;
  const logger = options.logger ?? consoleLogger();
  const maxRetries = checkCount(options.max_retries ?? DEFAULT_MAX_RETRIES, "max_retries", 1);
  const baseDelay = checkCount(options.base_delay ?? DEFAULT_BASE_DELAY, "base_delay", 0);
  const maxDelay = checkCount(options.max_delay ?? DEFAULT_MAX_DELAY, "max_delay", 0);
  const explicitHandler = checkFunction(options.fileserver_download_handler, "fileserver_download_handler");
  const verify = options.verify_checksum ?? true;
  const fileserver = options.fileserver;
  const allowed = [
    resolveFileserverUrl(options.fileserver_url),
    ...(options.allowed_origins ?? []),
    ...(fileserver?.origins ?? []),
  ];
  const storeOrigins = new Set(fileserver?.origins.map((o) => originOf(o)));

  // One failed payload cancels the downloads of the others: the envelope is
  // returned whole or not at all.
  const abort = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, abort.signal]) : abort.signal;

  const receiveOne = async (p: CheckedPayload): Promise<ReceivedPayload> => {
    const ctx = { correlationId, dataname: p.dataname };
    let bytes: Uint8Array;
    if (p.transport === "direct") {
      bytes = decodeDirect(p, ctx);
    } else {
      assertAllowedOrigin(p.data, allowed, ctx);
      const handler = explicitHandler ??
        (fileserver && storeOrigins.has(originOf(p.data)) ? fileserver.download : httpOnly(p.data, ctx));
      const onProgress = options.on_progress
        ? (done: number, total: number | undefined) =>
          options.on_progress!({ dataname: p.dataname, direction: "download", done, total })
        : undefined;
      bytes = await handler(p.data, maxRetries, baseDelay, maxDelay, correlationId, {
        dataname: p.dataname,
        expectedSize: p.size,
        signal,
        onProgress,
        logger,
      });
      if (!(bytes instanceof Uint8Array)) {
        throw new DownloadError(`Download handler returned no bytes for "${p.dataname}"`, ctx);
      }
    }
    // encoding "json" carries the JSON text itself; peers disagree on what its
    // `size` counts, so only base64 and link sizes are held to the byte.
    if (p.encoding !== "json" && bytes.byteLength !== p.size) {
      throw new SizeMismatchError(
        `Payload "${p.dataname}" announced ${p.size} bytes but carries ${bytes.byteLength}`,
        ctx,
      );
    }
    const expected = p.metadata.checksum as string | undefined;
    if (verify && expected !== undefined) {
      const actual = sha256Hex(bytes);
      if (actual !== expected.toLowerCase()) {
        throw new ChecksumError(
          `Checksum mismatch for payload "${p.dataname}" (correlation ${correlationId}): expected ${expected.toLowerCase()}, got ${actual}`,
          ctx,
        );
      }
    }
    return [p.dataname, codecFor(p.resolvedType).deserialize(bytes), p.resolvedType];
  };

  let received: ReceivedPayload[];
  try {
    received = await Promise.all(payloads.map((p) =>
      receiveOne(p).catch((err) => {
        const e = withContext(err, { correlationId, dataname: p.dataname }, (m, o) => new DecodeError(m, o));
        abort.abort(e);
        throw e;
      })
    ));
  } catch (err) {
    if (options.signal?.aborted) throw abortReason(options.signal, "Receive", correlationId);
    const e = err as NatsBridgeError;
    logEvent(logger, "warn", correlationId, `Receive failed: ${e.code ?? "ERROR"} ${e.message}`);
    throw e;
  }
  logEvent(logger, "debug", correlationId, `Received ${received.length} payload(s) from ${envelope.send_to}`);
  return { ...envelope, payloads: received } as ReceivedEnvelope;
}

function isMsg(msg: unknown): msg is MsgLike {
  return typeof msg === "object" && msg !== null && !(msg instanceof Uint8Array) &&
    (msg as MsgLike).data instanceof Uint8Array && typeof (msg as MsgLike).subject === "string";
}

function decodeDirect(p: CheckedPayload, ctx: { correlationId: string; dataname: string }): Uint8Array {
  if (p.encoding === "json") return new TextEncoder().encode(p.data);
  try {
    return decodeBase64(p.data);
  } catch (err) {
    if (err instanceof Base64Error) {
      throw new DecodeError(`Payload "${p.dataname}" data is not valid base64: ${err.message}`, ctx);
    }
    throw err;
  }
}

/** The default handler, for HTTP(S) links only: other schemes need their store's handler. */
function httpOnly(url: string, ctx: { correlationId: string; dataname: string }): DownloadHandler {
  const protocol = new URL(url).protocol;
  if (protocol === "http:" || protocol === "https:") return fetchWithBackoff;
  throw new DownloadError(
    `No download handler for ${protocol}// links (payload "${ctx.dataname}"); pass the store as the fileserver option`,
    ctx,
  );
}
