/**
 * NATS JetStream Object Store as a claim-check store. Links have the form
 *
 *     nats-obj://<bucket>/<object-name>
 *
 * which any peer connected to the same NATS system can resolve with an Object
 * Store `get` on that bucket. The bucket is created with a TTL so unclaimed
 * payloads expire on their own.
 *
 * @module
 */
import type { NatsConnection } from "../nats_types.ts";
import { type ObjectInfo, Objm, type ObjectStore, StorageType } from "@nats-io/obj";
import { abortReason, retry, UPLOAD_RETRY } from "../backoff.ts";
import { DownloadError, EnvelopeError, jetStreamError, NatsBridgeError, OptionsError, OriginRefusedError, permissionDenied, UploadError } from "../errors.ts";
import { uuid4 } from "../ids.ts";
import { checkCount, checkKnownKeys, checkMillis, checkOneOf, optionNames } from "../config.ts";
import { describe } from "../codecs/text.ts";
import { DEFAULT_IDLE_TIMEOUT } from "./http_download.ts";
import { logEvent } from "../logger.ts";
import { decodeBase64 } from "../platform/base64.ts";
import { releaseBuffer } from "../platform/buffer_release.ts";
import { meteredStream, sourceFailed } from "../streams.ts";
import { jetStreamOf, readObjectChunks } from "./object_store_reader.ts";
import { SourceReadError, type WrittenObject, writeObject } from "./object_store_writer.ts";
import { yieldToEventLoop } from "../../workers/inline_codec.ts";
import type { DownloadContext, FileServer, StreamUploadResult, UploadContext, UploadResult } from "../types.ts";
import { quoted } from "../printable.ts";


/**
 * URL scheme of Object Store links.
 *
 * @example Telling Object Store links apart
 * ```ts
 * import assert from "node:assert/strict";
 * import { OBJECT_STORE_SCHEME } from "natsbridge";
 * assert.equal(new URL("nats-obj://payloads/3f2a").protocol, OBJECT_STORE_SCHEME);
 * ```
 */
export const OBJECT_STORE_SCHEME = "nats-obj:";
/** Default bucket name. */
export const DEFAULT_BUCKET = "natsbridge";
/**
 * Chunk size of natsbridge's Object Store puts. With 4 MiB in flight each way,
 * 256 KiB chunks moved 100 MiB fastest here (Node 172, Deno 233, Bun 235 MB/s,
 * against 159, 202, 207 at 1 MiB and 152, 213 on Node and Deno at 128 KiB) and
 * kept the main thread freest: nats.js assembles each inbound message in a
 * buffer grown by doubling, so a larger message costs more copies and garbage.
 * Readers take any chunk size.
 *
 * @example
 * ```ts
 * import { OBJECT_CHUNK_SIZE } from "natsbridge";
 * console.log(OBJECT_CHUNK_SIZE); // 262144
 * ```
 */
export const OBJECT_CHUNK_SIZE = 256 * 1024;

/**
 * Options of {@link objectStoreFileServer}.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@nats-io/transport-node";
 * import { objectStoreFileServer, type ObjectStoreFileServerOptions } from "natsbridge";
 * const nc = await connect({ servers: "nats://127.0.0.1:4222" });
 * const options: ObjectStoreFileServerOptions = { connection: nc, bucket: "payloads", ttl: 3600, replicas: 3 };
 * const store = await objectStoreFileServer(options);
 * ```
 */
export interface ObjectStoreFileServerOptions {
  /** Connection to the NATS system that holds the bucket. */
  connection: NatsConnection;
  /**
   * Bucket name (letters, digits, `-`, `_`).
   * @default {"natsbridge"}
   */
  bucket?: string | undefined;
  /**
   * Seconds an object lives (0: until deleted); applied when the bucket is created.
   * @default {86400}
   */
  ttl?: number | undefined;
  /**
   * Stream replicas when the bucket is created.
   * @default {1}
   */
  replicas?: number | undefined;
  /**
   * Storage of the bucket's stream when created.
   * @default {"file"}
   */
  storage?: "file" | "memory" | undefined;
  /**
   * Milliseconds a streamed payload's source (a `ReadableStream`, `Blob` or
   * file) may go without producing a byte before its upload fails with
   * `UPLOAD_FAILED` and its chunks are purged, as `plikFileServer`'s
   * `idleTimeout` does. A slow source is fine: the time counts from its last
   * byte. The caller's `signal` ends a wait sooner.
   * @default {30000}
   */
  idleTimeout?: number | undefined;
  /**
   * Bytes the bucket may hold in all (its stream's `max_bytes`), applied
   * when the bucket is created; needed where the account requires every
   * stream to set it. A full bucket fails puts with `UPLOAD_FAILED`.
   * @default {unlimited}
   */
  maxBytes?: number | undefined;
}

/**
 * Longest lifetime a NATS server keeps, in seconds (it holds max_age in int64
 * nanoseconds); the CLI's `--ttl` is bounded by it for either store.
 *
 * @example
 * ```ts
 * import { MAX_TTL_SECONDS } from "./object_store.ts";
 * console.log(MAX_TTL_SECONDS); // 9223372036
 * ```
 */
export const MAX_TTL_SECONDS = 9_223_372_036;

const OBJECT_STORE_OPTION_NAMES = optionNames<ObjectStoreFileServerOptions>({
  connection: true, bucket: true, ttl: true, replicas: true, storage: true, idleTimeout: true, maxBytes: true,
});

/**
 * Opens (creating if needed) an Object Store bucket and returns it as a
 * {@link FileServer} whose links are `nats-obj://<bucket>/<name>`.
 *
 * @param options Connection, bucket, TTL.
 * @returns The file server; pass it as the `fileserver` option.
 * @throws {TransportError} `CONNECTION_FAILED` when the bucket cannot be opened
 *   (JetStream not enabled, no permission), `TIMEOUT` when the server does not answer.
 *
 * @example
 * ```ts ignore
 * import { objectStoreFileServer, smartsend } from "natsbridge";
 * import { connect } from "@nats-io/transport-node";
 * const nc = await connect({ servers: "nats://127.0.0.1:4222" });
 * const store = await objectStoreFileServer({ connection: nc, bucket: "payloads", ttl: 3600 });
 * await smartsend("files", [["big", new Uint8Array(2_000_000), "binary"]], { nats_connection: nc, fileserver: store });
 * ```
 */
export async function objectStoreFileServer(
  options: ObjectStoreFileServerOptions,
): Promise<FileServer> {
  if (typeof options?.connection?.request !== "function") {
    throw new OptionsError("connection must be an open NATS connection (nats.js NatsConnection)", { field: "connection" });
  }
  checkKnownKeys(options, OBJECT_STORE_OPTION_NAMES, "objectStoreFileServer");
  const bucket = options.bucket ?? DEFAULT_BUCKET;
  const idleTimeout = checkMillis(options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT, "idleTimeout", 1);
  if (typeof bucket !== "string" || !/^[A-Za-z0-9_-]+$/.test(bucket)) {
    throw new OptionsError(`Object Store bucket name must match [A-Za-z0-9_-]+, got ${typeof bucket === "string" ? `"${bucket}"` : describe(bucket)}`, { field: "bucket" });
  }
  const ttlSeconds = checkCount(options.ttl ?? 86_400, "ttl", 0);
  // The server keeps max_age in int64 nanoseconds.
  if (ttlSeconds > MAX_TTL_SECONDS) {
    throw new OptionsError(`ttl must be at most ${MAX_TTL_SECONDS} seconds (about 292 years; 0 keeps objects until deleted), got ${ttlSeconds}`, { field: "ttl" });
  }
  if (options.replicas !== undefined) checkCount(options.replicas, "replicas", 1);
  if (options.maxBytes !== undefined) checkCount(options.maxBytes, "maxBytes", 1);
  checkOneOf(options.storage, "storage", ["file", "memory"]);
  const objm = new Objm(jetStreamOf(options.connection)); // no API check: see jetStreamOf
  let store: ObjectStore;
  try {
    store = await objm.create(bucket, {
      ttl: ttlSeconds * 1_000_000_000,
      replicas: options.replicas ?? 1,
      storage: options.storage === "memory" ? StorageType.Memory : StorageType.File,
      ...(options.maxBytes !== undefined ? { max_bytes: options.maxBytes } : {}),
    });
  } catch (err) {
    if (/requires .*max bytes/i.test((err as Error)?.message ?? "")) {
      throw new OptionsError(`Cannot open Object Store bucket "${bucket}": the account requires every stream to set its size: pass maxBytes`, { field: "maxBytes", cause: err });
    }
    throw jetStreamError(`Cannot open Object Store bucket "${bucket}"`, err);
  }
  const origin = `${OBJECT_STORE_SCHEME}//${bucket.toLowerCase()}`;
  const js = jetStreamOf(options.connection);
  // An operator may have capped the bucket stream's messages below our chunk
  // size (max_msg_size): @nats-io/obj's own puts fit such a bucket, ours must too.
  let maxMsgSize = 0;
  try {
    maxMsgSize = (await store.status()).streamInfo.config.max_msg_size ?? 0;
  } catch { /* not allowed to read it: the server's max_payload bounds the chunks */ }

  const put = (
    dataname: string,
    data: Uint8Array | ReadableStream<Uint8Array>,
    context: UploadContext | undefined,
    onProgress?: (done: number) => void,
  ) =>
    // A refusal by the server's permissions is PERMISSION_DENIED, final: no retry helps.
    denying(`Object Store put of ${quoted(dataname)}`, context?.correlationId, () => writeObject(js, bucket, data, {
      name: uuid4(),
      description: dataname.slice(0, 200),
      // A server (max_payload) or the bucket (max_msg_size) may allow less per message than our chunk size.
      chunkSize: Math.min(OBJECT_CHUNK_SIZE, options.connection.info?.max_payload || OBJECT_CHUNK_SIZE, maxMsgSize > 0 ? maxMsgSize : OBJECT_CHUNK_SIZE),
      onProgress,
      signal: context?.signal,
      idleTimeout,
      onResume: context?.logger &&
        ((m) => logEvent(context.logger!, "warn", context.correlationId, `Object Store put of ${quoted(dataname)}: ${m}`)),
    }));
  // An abort stays ABORTED and bad input INVALID_INPUT (also a source whose
  // read failed); anything else is the store's failure.
  const putFailed = (dataname: string, context: UploadContext | undefined, err: unknown) =>
    err instanceof SourceReadError
      ? sourceFailed(err.cause, dataname, err.bytesRead, { correlationId: context?.correlationId })
      : err instanceof NatsBridgeError
      ? err
      : new UploadError(`Object Store put of ${quoted(dataname)} failed: ${(err as Error).message}`, {
      correlationId: context?.correlationId,
      dataname,
      cause: err,
    });
  const resultOf = (written: WrittenObject): UploadResult => ({
    status: 200,
    uploadid: bucket,
    fileid: written.name,
    url: `${OBJECT_STORE_SCHEME}//${bucket}/${encodeURIComponent(written.name)}`,
    // The put hashed every byte for the object's digest already: reuse it (hash once).
    checksum: written.checksum,
  });

  function upload(
    _fileserver_url: string,
    dataname: string,
    data: Uint8Array,
    context?: UploadContext,
  ): Promise<UploadResult> {
    context?.onProgress?.(0, data.byteLength);
    // A put resumes across a passing failure by itself; one that cannot (a
    // publish reached the server after the put had moved on) is retried under
    // a fresh name, since bytes can be put again. The failed attempt's chunks
    // are purged, or expire with the TTL.
    const signal = context?.signal;
    const onProgress = context?.onProgress && ((done: number) => context.onProgress!(done, data.byteLength));
    return retry(async () => {
      try {
        return resultOf(await put(dataname, data, context, onProgress));
      } catch (err) {
        if (signal?.aborted) throw putFailed(dataname, context, err);
        throw err;
      }
    }, {
      ...UPLOAD_RETRY,
      signal,
      isFinal: (err) => err instanceof NatsBridgeError,
      exhausted: (err) => putFailed(dataname, context, err),
    });
  }

  async function uploadStream(
    _fileserver_url: string,
    dataname: string,
    data: ReadableStream<Uint8Array>,
    context: UploadContext & { size?: number },
  ): Promise<StreamUploadResult> {
    const metered = meteredStream(data, { hash: false, total: context.size, onProgress: context.onProgress });
    try {
      const written = await put(dataname, metered.stream, context);
      return { ...resultOf(written), size: written.size, checksum: written.checksum };
    } catch (err) {
      throw putFailed(dataname, context, err);
    }
  }

  /** Looks the object up; `PAYLOAD_GONE` when it is not there. */
  async function locate(url: string, correlation_id: string, context: DownloadContext): Promise<ObjectInfo> {
    const { dataname } = context;
    const errContext = { correlationId: correlation_id, dataname };
    const { bucket: linkBucket, name } = parseObjectStoreUrl(url, errContext);
    if (linkBucket !== bucket) {
      // Its origin matched (origins ignore case): still another bucket, which no retry makes this one.
      throw new OriginRefusedError(`Link names bucket "${linkBucket}" but this store serves "${bucket}" (bucket names are case-sensitive)`, errContext);
    }
    let info: ObjectInfo | null;
    try {
      info = await store.info(name);
    } catch (err) {
      // The bucket's stream was deleted: so was everything in it.
      if (/stream not found/i.test((err as Error).message)) {
        throw new DownloadError(`Payload ${quoted(dataname)} is gone: Object Store bucket "${bucket}" no longer exists`, {
          ...errContext,
          cause: err,
        }, "PAYLOAD_GONE");
      }
      throw err;
    }
    if (!info || info.deleted) {
      throw new DownloadError(
        `Payload ${quoted(dataname)} is gone from Object Store bucket "${bucket}": expired or deleted`,
        errContext,
        "PAYLOAD_GONE",
      );
    }
    return info;
  }

  /** Runs `fn` with the spec's backoff on transient (non-natsbridge) errors. */
  function retrying<T>(
    what: string,
    max_retries: number,
    base_delay: number,
    max_delay: number,
    correlation_id: string,
    context: DownloadContext,
    fn: () => Promise<T>,
  ): Promise<T> {
    const { dataname, signal, logger } = context;
    return retry(() => {
      if (signal?.aborted) throw abortReason(signal, `${what} of ${quoted(dataname)}`, correlation_id);
      return denying(`Object Store ${what.toLowerCase()} of ${quoted(dataname)}`, correlation_id, fn);
    }, {
      attempts: max_retries,
      baseDelay: base_delay,
      maxDelay: max_delay,
      signal,
      isFinal: (err) => err instanceof NatsBridgeError,
      onRetry: (err, _attempt, delay) =>
        logger &&
        logEvent(logger, "warn", correlation_id, `Object Store ${what.toLowerCase()} of ${quoted(dataname)} failed (${(err as Error).message}), retrying in ${delay} ms`),
      exhausted: (err, attempts) =>
        new DownloadError(
          `Object Store ${what.toLowerCase()} of ${quoted(dataname)} failed after ${attempts} attempts: ${(err as Error).message}`,
          { correlationId: correlation_id, dataname, attempts, cause: err },
        ),
    });
  }


  /**
   * The object behind `url` as a verified stream with backpressure (see
   * `object_store_reader.ts`); `PAYLOAD_GONE` when it is not there (any more).
   */
  async function open(url: string, correlation_id: string, context: DownloadContext) {
    let info = await locate(url, correlation_id, context);
    const errContext = { correlationId: correlation_id, dataname: context.dataname };
    const link = info.options?.link;
    if (link) {
      // natsbridge never makes link objects; other clients can. Follow one
      // within the bucket (the store's get does the same); another bucket is
      // another store, which this one does not read.
      const target = link.bucket === bucket && link.name ? await store.info(link.name) : null;
      if (!target || target.deleted || target.options?.link) {
        throw new DownloadError(
          `Payload ${quoted(context.dataname)} is an Object Store link to ${quoted(`${link.bucket}/${link.name ?? ""}`)}, which this store cannot read`,
          errContext,
          "PAYLOAD_GONE",
        );
      }
      info = target;
    }
    if (context.expectedSize !== undefined && info.size > context.expectedSize) {
      throw new DownloadError(
        `Payload ${quoted(context.dataname)} is ${info.size} bytes in the store, more than the announced ${context.expectedSize}`,
        errContext,
        "PAYLOAD_TOO_LARGE",
      );
    }
    const { logger } = context;
    const data = await readObjectChunks(js, bucket, info, {
      errContext,
      digestHex: digestToHex(info.digest),
      onVerified: context.onVerified,
      signal: context.signal,
      onReopen: logger &&
        ((m) => logEvent(logger, "warn", correlation_id, `Object Store read of ${quoted(context.dataname)}: ${m}`)),
    });
    return { info, data };
  }

  function download(
    url: string,
    max_retries: number,
    base_delay: number,
    max_delay: number,
    correlation_id: string,
    context: DownloadContext = { dataname: "" },
  ): Promise<Uint8Array> {
    return retrying("Download", max_retries, base_delay, max_delay, correlation_id, context, async () => {
      // Read into a buffer of the known size as chunks arrive: getBlob would
      // look the object up again and copy it whole at the end (a 50+ ms stall
      // and twice the memory at 100 MiB). The reader checks the size and the
      // object's SHA-256 digest as it reads, and reports the digest.
      const { info, data } = await open(url, correlation_id, context);
      const bytes = new Uint8Array(info.size);
      let done = 0;
      for await (const chunk of data as unknown as AsyncIterable<Uint8Array>) {
        if (done + chunk.byteLength > bytes.byteLength) {
          throw new DownloadError(`Payload ${quoted(context.dataname)} is longer in the store than its info says`, {
            correlationId: correlation_id,
            dataname: context.dataname,
          }, "PAYLOAD_TOO_LARGE");
        }
        await yieldToEventLoop();
        bytes.set(chunk, done);
        done += chunk.byteLength;
        // Read by nothing after this copy (readObjectChunks's chunks are their
        // reader's alone): freed now rather than at the next GC.
        releaseBuffer(chunk.buffer);
        context.onProgress?.(done, bytes.byteLength);
      }
      if (done !== bytes.byteLength) throw new Error(`object ended at ${done} of ${bytes.byteLength} bytes`);
      return bytes;
    });
  }

  function downloadStream(
    url: string,
    max_retries: number,
    base_delay: number,
    max_delay: number,
    correlation_id: string,
    context: DownloadContext,
  ): Promise<ReadableStream<Uint8Array>> {
    return retrying("Download", max_retries, base_delay, max_delay, correlation_id, context, async () => {
      return (await open(url, correlation_id, context)).data;
    });
  }

  async function remove(url: string): Promise<void> {
    const { bucket: linkBucket, name } = parseObjectStoreUrl(url, { correlationId: "" });
    if (linkBucket === bucket) await store.delete(name);
  }

  return { upload, uploadStream, download, downloadStream, verifiesStreams: true, delete: remove, origins: [origin] };
}

/**
 * Hex form of an Object Store digest (`SHA-256=<base64url>`), or `undefined`
 * for another algorithm.
 *
 * @param digest `ObjectInfo.digest`.
 * @returns Lowercase hex SHA-256.
 *
 * @example
 * ```ts
 * import { digestToHex } from "natsbridge";
 * console.log(digestToHex("SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU="));
 * // "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
 * ```
 */
export function digestToHex(digest: string): string | undefined {
  const prefix = "SHA-256=";
  if (!digest.startsWith(prefix)) return undefined;
  let b64 = digest.slice(prefix.length).replace(/-/g, "+").replace(/_/g, "/");
  while (b64.length % 4) b64 += "=";
  return Array.from(decodeBase64(b64), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Splits a `nats-obj://bucket/name` link.
 *
 * @param url The link.
 * @param errContext For the error when the link is malformed.
 * @returns Bucket and object name (percent-decoded).
 * @throws {EnvelopeError} `ENVELOPE_INVALID` for a link that is not one (no
 *   name, another scheme, a name that is not percent-encoded).
 *
 * @example
 * ```ts
 * import { parseObjectStoreUrl } from "natsbridge";
 * console.log(parseObjectStoreUrl("nats-obj://payloads/abc", { correlationId: "" }));
 * // { bucket: "payloads", name: "abc" }
 * ```
 */
export function parseObjectStoreUrl(
  url: string,
  errContext: { correlationId: string; dataname?: string },
): { bucket: string; name: string } {
  let u: URL | undefined;
  let name = "";
  try {
    u = new URL(url);
    // Names are percent-encoded in links (encodeURIComponent): a raw "%" is not one.
    name = decodeURIComponent(u.pathname.replace(/^\//, ""));
  } catch { /* below */ }
  if (!u || u.protocol !== OBJECT_STORE_SCHEME || !u.host || !name) {
    // A malformed link stays malformed: no retry, no redelivery cures it.
    throw new EnvelopeError(
      `Not an Object Store link (nats-obj://bucket/name, the name percent-encoded): "${url.slice(0, 100)}"`,
      { ...errContext, field: "data" },
    );
  }
  return { bucket: u.host, name };
}

/** `fn`, whose refusal by the server's permissions is thrown as `PERMISSION_DENIED` (a natsbridge error: final). */
async function denying<T>(what: string, correlationId: string | undefined, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw permissionDenied(err, what, correlationId) ?? err;
  }
}
