/**
 * `smartsend`: serialize each payload, choose its transport by size, upload the
 * large ones, build the envelope and publish it.
 *
 * @module
 */
import type { ConnectOptions, NatsConnection } from "./nats_types.ts";
import { retry, throwIfAborted, untilAborted, UPLOAD_RETRY } from "./backoff.ts";
import { codecFor, resolvePayloadType } from "./codecs/registry.ts";
import { describe } from "./codecs/text.ts";
import {
  checkBoolean,
  checkCommonShapes,
  checkCount,
  checkFunction,
  checkHttpUrl,
  checkKnownKeys,
  optionNames,
  checkMetadata,
  checkMillis,
  checkNonEmpty,
  checkShape,
  checkSubject,
  checkString,
  resolveBrokerUrl,
  resolveFileserverUrl,
  resolveSizeThreshold,
} from "./config.ts";
import { redact, withConnection } from "./connection.ts";
import { encodePieces, envelopePieces, joinPieces, stringifyEnvelope } from "./envelope_json.ts";
import { InputError, isTransientUploadError, OptionsError, TransportError, UploadError, withContext } from "./errors.ts";
import { plikFileServer } from "./handlers/plik.ts";
import { isoTimestamp, uuid4 } from "./ids.ts";
import { consoleLogger, type Logger, logEvent } from "./logger.ts";
import { progressReporter } from "./progress.ts";
import { isStreamSource, openSource } from "./streams.ts";
import { type JetStreamPublishOptions, publishToJetStream } from "./jetstream.ts";
import { DEFAULT_CONFIRM_TIMEOUT, markNotDelivered, notDelivered, publishEnvelope, whyUnpublishable } from "./publisher.ts";
import { type LinkedAbort, linkedAbort } from "./linked_abort.ts";
import { takeTurn } from "./publish_order.ts";
import { type CodecPool, defaultCodecPool } from "../workers/pool.ts";
import type {
  FileServer,
  MsgEnvelopeV1,
  MsgPayloadV1,
  PayloadType,
  ProgressCallback,
  SendItem,
  UploadHandler,
  UploadResult,
} from "./types.ts";
import { quoted } from "./printable.ts";

/**
 * Options of {@link smartsend}: the spec's, then natsbridge's extras.
 *
 * @example A status update to one receiver, replies expected
 * ```ts
 * import assert from "node:assert/strict";
 * import { smartsend, type SmartSendOptions } from "natsbridge";
 * const options: SmartSendOptions = {
 *   msg_purpose: "updateStatus",
 *   sender_name: "sensor-7",
 *   receiver_name: "dashboard",
 *   reply_to: "sensor-7.replies",
 *   metadata: { site: "lab" },
 *   is_publish: false,
 * };
 * const [env] = await smartsend("status", [["reading", { t: 21.5 }, "dictionary"]], options);
 * assert.equal(env.reply_to, "sensor-7.replies");
 * assert.deepEqual(env.metadata, { site: "lab" });
 * ```
 */
export interface SmartSendOptions {
  /**
   * NATS URL to connect to when no `nats_connection` is given; also written to the envelope.
   * @default {env NATS_URL, else "nats://localhost:4222"}
   */
  broker_url?: string | undefined;
  /**
   * File server base URL handed to the upload handler.
   * @default {env FILESERVER_URL, else "http://localhost:8080"}
   */
  fileserver_url?: string | undefined;
  /**
   * Uploads a payload that goes by link. Takes precedence over `fileserver.upload`.
   * @default {plikUpload (24 h TTL)}
   */
  fileserver_upload_handler?: UploadHandler | undefined;
  /**
   * Serialized size in bytes from which a payload goes by link.
   * @default {env SIZE_THRESHOLD, else 500000}
   */
  size_threshold?: number | undefined;
  /**
   * Groups related messages for tracing; every log line carries it.
   * @default {a new UUID v4}
   */
  correlation_id?: string | undefined;
  /**
   * What the message is for: `chat`, `ACK`, `NACK`, `updateStatus`, `shutdown`, ….
   * @default {"chat"}
   */
  msg_purpose?: string | undefined;
  /**
   * Sender application name.
   * @default {"NATSBridge"}
   */
  sender_name?: string | undefined;
  /**
   * Intended receiver name, `""` for broadcast.
   * @default {""}
   */
  receiver_name?: string | undefined;
  /**
   * Intended receiver id, `""` for broadcast.
   * @default {""}
   */
  receiver_id?: string | undefined;
  /**
   * Subject a reply should go to.
   * @default {""}
   */
  reply_to?: string | undefined;
  /**
   * `msg_id` of the message this one replies to.
   * @default {""}
   */
  reply_to_msg_id?: string | undefined;
  /**
   * Publish the envelope; `false` only builds it (uploads still happen).
   * @default {true}
   */
  is_publish?: boolean | undefined;
  /** An open connection to publish on; when absent, one is opened to `broker_url` and closed after. */
  nats_connection?: NatsConnection | undefined;
  /**
   * Beyond the spec: nats.js connection options for a connection natsbridge
   * opens itself (TLS `{ tls: { caFile } }`, `token`, `user`/`pass`,
   * `authenticator` for NKeys or creds, reconnect settings). `servers` comes
   * from `broker_url`.
   */
  connect_options?: ConnectOptions | undefined;
  /**
   * Id of this message (JetStream mode: also its `Nats-Msg-Id`).
   * @default {a new UUID v4}
   */
  msg_id?: string | undefined;
  /**
   * Sender id.
   * @default {a new UUID v4}
   */
  sender_id?: string | undefined;

  /** Beyond the spec: a file store (`plikFileServer()`, `objectStoreFileServer()`) for link payloads. */
  fileserver?: FileServer | undefined;
  /**
   * Beyond the spec: envelope-level metadata.
   * @default {{}}
   */
  metadata?: Record<string, unknown> | undefined;
  /**
   * Beyond the spec: set `metadata.checksum` (SHA-256) on every payload.
   * @default {true}
   */
  checksum?: boolean | undefined;
  /**
   * Beyond the spec: largest envelope the server takes. Direct payloads move to
   * link transport until the envelope fits.
   * @default {the connected server's announced max_payload}
   */
  max_payload?: number | undefined;
  /**
   * Beyond the spec: wait until the server has the message (a round trip,
   * shared by sends in flight together) instead of returning once it is handed
   * to the connection. Either way a send while the connection is down fails
   * with `PUBLISH_FAILED`. Delivery to subscribers is still at-most-once; for
   * more, use `jetstream`.
   * @default {false}
   */
  confirm?: boolean | undefined;
  /**
   * Beyond the spec: milliseconds a send waits for the server's confirmation
   * (`confirm`, and the first send on a connection natsbridge has not seen)
   * before it fails with `PUBLISH_FAILED`; the message may still arrive.
   * @default {10000}
   */
  confirm_timeout?: number | undefined;
  /** Beyond the spec: cancels uploads and the publish. */
  signal?: AbortSignal | undefined;
  /** Beyond the spec: progress of link uploads. */
  on_progress?: ProgressCallback | undefined;
  /** Beyond the spec: where log lines go. @default {consoleLogger("warn")} */
  logger?: Logger | undefined;
  /** Beyond the spec: the codec pool (worker threads) to use. @default {defaultCodecPool()} */
  pool?: CodecPool | undefined;
  /**
   * Beyond the spec: publish to JetStream with `Nats-Msg-Id` = `msg_id` and
   * wait for the stream's ack (at-least-once; the subject must belong to a
   * stream, see `ensureStream`). `true` or publish options.
   * @default {false}
   */
  jetstream?: boolean | JetStreamPublishOptions | undefined;
}

/** A payload after serialization, before it has a transport. */
interface Prepared {
  dataname: string;
  type: PayloadType;
  /** Serialized bytes; absent for streamed sources. */
  bytes?: Uint8Array;
  /** natsbridge created `bytes` and may move them to a worker (until a handler has seen them). */
  owned: boolean;
  /** A stream, Blob or file path (binary types only). */
  source?: unknown;
}

/**
 * Sends payloads as one `msg_envelope_v1` message.
 *
 * Each payload is serialized by its type; one whose serialized size is at
 * least `size_threshold` is uploaded through the upload handler and travels as
 * a link, the others travel inside the message as base64. If the finished
 * envelope would still exceed the server's `max_payload`, the largest direct
 * payloads move to link transport until it fits. A binary-type payload given as
 * a `ReadableStream`, `Blob` or file path always goes by link, uploaded in
 * chunks and hashed as it flows.
 *
 * @param subject NATS subject to publish to.
 * @param data `[dataname, data, payload_type]` items.
 * @param options The spec's options and natsbridge's extras.
 * @returns `[envelope, envelopeJson]` — the envelope object and the exact text published.
 * @throws {InputError} When an item's data does not fit its type.
 * @throws {UploadError} When a link payload cannot be uploaded.
 * @throws {TransportError} When NATS cannot be reached or the envelope cannot fit.
 *
 * @example Sending a text and a dictionary
 * ```ts ignore
 * import { smartsend } from "natsbridge";
 * const [env, json] = await smartsend("chat", [
 *   ["message", "Hello!", "text"],
 *   ["config", { step_size: 0.01 }, "dictionary"],
 * ], { broker_url: "nats://127.0.0.1:4222" });
 * console.log(env.payloads.length); // 2
 * ```
 */
export async function smartsend(
  subject: string,
  data: readonly SendItem[],
  options: SmartSendOptions = {},
): Promise<[MsgEnvelopeV1, string]> {
  options ??= {}; // null from plain JavaScript callers: no options
  checkSubject(subject, false);
  if (!Array.isArray(data)) {
    throw new InputError(`data must be an array of [dataname, data, payload_type] items`);
  }
  const brokerUrl = resolveBrokerUrl(options.broker_url);
  // Read only when something goes by link: most messages never need it.
  let fileserverUrl: string | undefined;
  const fileserverUrlOf = () => (fileserverUrl ??= resolveFileserverUrl(options.fileserver_url));
  const threshold = resolveSizeThreshold(options.size_threshold);
  const confirmTimeout = checkMillis(options.confirm_timeout ?? DEFAULT_CONFIRM_TIMEOUT, "confirm_timeout", 1);
  const correlationId = checkString(options.correlation_id, "correlation_id") || uuid4();
  // Every option is checked before anything is uploaded: a refusal after the
  // uploads would leave their files behind.
  const fields = sendFields(options, correlationId);
  const explicitUpload = checkFunction(options.fileserver_upload_handler, "fileserver_upload_handler");
  const store = options.fileserver ?? DEFAULT_PLIK;
  const upload = explicitUpload ?? store.upload;
  // A user-supplied handler takes bytes only; the store's streaming path applies when it is the store's.
  const uploadStream = explicitUpload ? undefined : store.uploadStream;
  const { withChecksum } = fields;
  const pool = options.pool ?? defaultCodecPool();
  const logger = options.logger ?? consoleLogger();
  const { signal } = options;
  // What uploads listen to: the caller's signal, joined by a sibling's failure (see encodeAll).
  let uploadSignal = signal;
  const ctx = { correlationId };

  throwIfAborted(signal, "Send", correlationId);
  const prepared = data.map((item, i) => prepareItem(item, i, correlationId));

  const progressOf = (dataname: string) =>
    progressReporter(options.on_progress, dataname, "upload", logger, correlationId);

  /** How to undo each upload, by its link, for those whose result said (UploadResult.remove). */
  const removers = new Map<string, () => Promise<void>>();

  const linked = (p: Prepared, url: string, size: number, checksum: string | undefined): MsgPayloadV1 => {
    logEvent(logger, "debug", correlationId, `Uploaded ${quoted(p.dataname)} (${size} bytes) to ${url}`);
    return payloadOf(p, "link", "none", size, url, checksum);
  };

  /** Uploads bytes; `checksum` is reused when the caller already has it. */
  const uploadBytes = async (p: Prepared, bytes: Uint8Array, known?: string): Promise<MsgPayloadV1> => {
    throwIfAborted(uploadSignal, "Send", correlationId);
    try {
      const progress = progressOf(p.dataname);
      // Never shared memory: serializeBytes copies it, and every other codec allocates.
      const uploading = upload(fileserverUrlOf(), p.dataname, bytes as Uint8Array<ArrayBuffer>, {
        correlationId,
        checksum: known,
        signal: uploadSignal,
        onProgress: progress,
        logger,
      });
      // The spec's handlers take no signal: one that never answers is let go
      // when the send is aborted, and what one stores after that is removed.
      const abandoned = () => void uploading.then((r) => r?.remove?.()).catch(() => {});
      const res = await untilAborted(uploading, uploadSignal, "Send", correlationId).catch((err) => {
        if (uploadSignal?.aborted) abandoned();
        throw err;
      });
      const url = checkUploadResult(res, p.dataname);
      if (res.remove) removers.set(url, res.remove);
      const size = bytes.byteLength;
      progress?.finish(size);
      // Not ours to move any more, even if it was: the handler may have kept
      // the buffer (an in-memory store, a cache), and a transfer to a worker
      // would leave it empty.
      const checksum = known ?? res.checksum ??
        (withChecksum ? (await pool.checksum(bytes, { owned: false })).checksum : undefined);
      return linked(p, url, size, withChecksum ? checksum : undefined);
    } catch (err) {
      throw withContext(err, { ...ctx, dataname: p.dataname }, (m, o) => new UploadError(m, o));
    }
  };

  const uploadSource = (p: Prepared): Promise<MsgPayloadV1> => {
    // A file or a Blob can be read again, so a streamed upload of one that
    // failed for a passing reason (a store restarting, HTTP 5xx) starts over,
    // as a byte upload does; a ReadableStream is spent once read.
    if (p.source instanceof ReadableStream || !uploadStream) return uploadSourceOnce(p);
    return retry(() => uploadSourceOnce(p), {
      ...UPLOAD_RETRY,
      signal: uploadSignal,
      isFinal: (err) => !isTransientUploadError(err),
      onRetry: (err, attempt, delay) =>
        logEvent(logger, "warn", correlationId, `Upload of ${quoted(p.dataname)} failed (${(err as Error).message}), reading it again from the start in ${delay} ms (attempt ${attempt + 1})`),
      exhausted: (err) => err as Error,
    });
  };

  const uploadSourceOnce = async (p: Prepared): Promise<MsgPayloadV1> => {
    throwIfAborted(uploadSignal, "Send", correlationId);
    const source = await openSource(p.source, p.dataname).catch((err) => {
      throw withContext(err, { ...ctx, dataname: p.dataname }, (m, o) => new UploadError(m, o));
    });
    try {
      if (!uploadStream) {
        // Spec-signature handlers take bytes: collect the stream first.
        const bytes = new Uint8Array(await new Response(source.stream).arrayBuffer());
        return await uploadBytes(p, bytes);
      }
      const progress = progressOf(p.dataname);
      const res = await uploadStream(fileserverUrlOf(), p.dataname, source.stream, {
        correlationId,
        signal: uploadSignal,
        size: source.size,
        blob: typeof Blob !== "undefined" && p.source instanceof Blob ? p.source : undefined,
        onProgress: progress,
        logger,
      });
      const url = checkUploadResult(res, p.dataname);
      if (res.remove) removers.set(url, res.remove);
      progress?.finish(res.size);
      return linked(p, url, res.size, withChecksum ? res.checksum : undefined);
    } catch (err) {
      // cancel() is refused while the upload's reader holds the stream: close the file itself.
      await source.stream.cancel().catch(() => {});
      await source.close?.().catch(() => {});
      throw withContext(err, { ...ctx, dataname: p.dataname }, (m, o) => new UploadError(m, o));
    }
  };

  /** Direct payloads whose data our encoder wrote: spliced into the JSON unescaped. */
  const base64Trusted = new Set<MsgPayloadV1>();
  const direct = (p: Prepared, size: number, base64: string, checksum: string | undefined): MsgPayloadV1 => {
    const payload = payloadOf(p, "direct", "base64", size, base64, checksum);
    base64Trusted.add(payload);
    return payload;
  };

  const encodeOne = async (p: Prepared): Promise<MsgPayloadV1> => {
    if (p.bytes === undefined) return uploadSource(p);
    if (p.bytes.byteLength >= threshold) return uploadBytes(p, p.bytes);
    const size = p.bytes.byteLength;
    let r;
    try {
      r = await pool.encodeDirect(p.bytes, { owned: p.owned, checksum: withChecksum });
    } catch (err) {
      throw withContext(err, { ...ctx, dataname: p.dataname }, (m, o) => new InputError(m, o));
    }
    p.bytes = r.bytes; // the pool may have moved them to a worker and back
    return direct(p, size, r.base64, r.checksum);
  };

  /** A small direct payload, encoded without yielding; `undefined` when it needs I/O or a worker. */
  const encodeInline = (p: Prepared): MsgPayloadV1 | undefined => {
    if (p.bytes === undefined || p.bytes.byteLength >= threshold) return undefined;
    const r = pool.encodeDirectSync(p.bytes, { checksum: withChecksum });
    return r && direct(p, p.bytes.byteLength, r.base64, r.checksum);
  };

  /** Each payload encoded without yielding, or `undefined` where it needs a worker or an upload. */
  let inline: (MsgPayloadV1 | undefined)[] = [];

  /**
   * Deletes uploads no envelope will point to: by the upload's own `remove`
   * (Plik's, with the token only its uploader holds), else by the store's
   * `delete` (the Object Store). A caller's own upload handler that returns
   * no `remove` leaves them to the store's TTL.
   */
  const removeUploads = async (payloads: Iterable<MsgPayloadV1 | undefined>): Promise<void> => {
    const storeDelete = !explicitUpload && store.delete ? store.delete.bind(store) : undefined;
    await Promise.all([...payloads].map((p) => {
      if (p?.transport !== "link") return;
      const remove = removers.get(p.data) ?? (storeDelete && (() => storeDelete(p.data)));
      if (!remove) return;
      // A store's delete that throws at once must not replace the send's error.
      return Promise.resolve().then(remove).catch((e) =>
        logEvent(logger, "warn", correlationId, `Could not remove ${p.data} after the send failed: ${(e as Error).message}`)
      );
    }));
  };

  /** Joins the caller's signal and a sibling's failure, for uploads; unlinked when the send ends. */
  let joined: LinkedAbort | undefined;

  /**
   * Encodes and uploads what could not be done inline. The envelope goes
   * whole or not at all: when one payload fails, the uploads still running
   * are aborted (a store removes what an aborted upload wrote) and those that
   * finished are deleted (removeUploads), so nothing is left that no envelope
   * points to.
   */
  const encodeAll = async (): Promise<MsgPayloadV1[]> => {
    // Only an upload can leave something behind: direct payloads encoded on a
    // worker need no controller (~2 µs a message on Node under load).
    const uploads = prepared.some((p) => p.bytes === undefined || p.bytes.byteLength >= threshold);
    joined = uploads ? linkedAbort(signal) : undefined;
    const failed = joined?.controller;
    if (failed) uploadSignal = failed.signal;
    const tasks = prepared.map((p, i) => inline[i] ? Promise.resolve(inline[i]) : encodeOne(p));
    try {
      return await Promise.all(tasks);
    } catch (err) {
      if (!failed) throw err;
      failed.abort(err);
      // A caller's handler may not heed the abort: the failure is not held up
      // waiting for it, as there is nothing to remove after it anyway.
      if (!explicitUpload) {
        const settled = await Promise.allSettled(tasks);
        await removeUploads(settled.map((r) => r.status === "fulfilled" ? r.value : undefined));
      }
      joined?.unlink();
      throw err;
    }
  };
  // Taken now, when the send is called (nothing above has awaited): its
  // publish waits for the sends called before it.
  const turn = fields.publish && options.nats_connection ? takeTurn(options.nats_connection, subject) : undefined;
  let payloads: MsgPayloadV1[];
  try {
    // With every payload inline nothing is awaited before the publish: sends
    // started together are then written to the socket together.
    inline = prepared.map(encodeInline);
    if (inline.every((p) => p !== undefined)) payloads = inline as MsgPayloadV1[];
    else {
      // Refused now, not after uploads no envelope would point to. JetStream
      // retries while the connection reconnects; only a closed one is final.
      const nc = fields.publish ? options.nats_connection : undefined;
      const down = nc && (options.jetstream ? (nc.isClosed() ? "connection closed" : undefined) : whyUnpublishable(nc));
      if (down) throw markNotDelivered(new TransportError("PUBLISH_FAILED", `Publish to "${subject}" failed: ${down}`, ctx));
      payloads = await encodeAll();
    }
  } catch (err) {
    turn?.leave();
    throw err;
  }

  const envelope: MsgEnvelopeV1 = {
    correlation_id: correlationId,
    msg_id: fields.msg_id,
    timestamp: isoTimestamp(),
    send_to: subject,
    msg_purpose: fields.msg_purpose,
    sender_name: fields.sender_name,
    sender_id: fields.sender_id,
    receiver_name: fields.receiver_name,
    receiver_id: fields.receiver_id,
    reply_to: fields.reply_to,
    reply_to_msg_id: fields.reply_to_msg_id,
    // The envelope travels to every subscriber and into logs: never with credentials.
    broker_url: redact(brokerUrl),
    metadata: fields.metadata,
    payloads,
  };

  const moveToLink = (i: number) => {
    const p = prepared[i];
    return uploadBytes(p, p.bytes!, payloads[i].metadata.checksum as string | undefined);
  };

  const { publish } = fields;
  const finish = async (nc: NatsConnection | undefined): Promise<[MsgEnvelopeV1, string]> => {
    // Until the envelope is handed to NATS, a failure leaves its uploads pointed to by nothing.
    let handedOver = false;
    try {
      return await fitAndPublish(nc, () => (handedOver = true));
    } catch (err) {
      turn?.leave();
      const cause = (err as { cause?: unknown }).cause;
      if (!handedOver || notDelivered(err) || notDelivered(cause)) await removeUploads(envelope.payloads);
      throw err;
    }
  };

  const fitAndPublish = async (
    nc: NatsConnection | undefined,
    handOver: () => void,
  ): Promise<[MsgEnvelopeV1, string]> => {
    const limit = fields.maxPayload ?? nc?.info?.max_payload;
    const pieces = envelopePieces(envelope, base64Trusted);
    let json = joinPieces(pieces);
    // Encoded here, not by nats.js, so max_payload is checked on the exact bytes;
    // by pieces, so the text stays a rope sharing the payloads' base64 (see encodePieces).
    let bytes = publish ? encodePieces(pieces) : undefined;
    if (limit !== undefined && (bytes ? bytes.byteLength > limit : exceeds(json, limit))) {
      json = await fitWithinMaxPayload(envelope, limit, moveToLink, logger, base64Trusted);
      if (bytes) bytes = encoder.encode(json);
    }
    // is_publish: false may still pass a connection, for its max_payload only;
    // with publish set, `bytes` holds the envelope.
    if (nc && publish) {
      if (turn?.ahead) await untilAborted(turn.ahead, signal, "Send", correlationId);
      throwIfAborted(signal, "Send", correlationId);
      handOver();
      try {
        if (options.jetstream) {
          const js = options.jetstream === true ? {} : options.jetstream;
          const storing = publishToJetStream(nc, subject, bytes!, envelope.msg_id, js, correlationId, logger, signal);
          turn?.leave(); // written: the next send may publish while this one waits for its ack
          const ack = await storing;
          logEvent(logger, "debug", correlationId, `Stored in stream ${ack.stream} at seq ${ack.seq}`);
        } else {
          const confirming = publishEnvelope(nc, subject, bytes!, fields.confirm, confirmTimeout, signal, logger);
          turn?.leave(); // written: the next send may publish while this one waits for its confirm
          await confirming;
        }
      } catch (err) {
        throw withContext(err, ctx, (m, o) => new TransportError("PUBLISH_FAILED", `Publish to "${subject}" failed: ${m}`, o));
      }
      logEvent(logger, "info", correlationId, `Message published to ${subject}`);
    }
    return [envelope, json];
  };

  const run = () =>
    publish
      ? withConnection(options.nats_connection, brokerUrl, correlationId, finish, options.connect_options, undefined, options.signal)
      : finish(options.nats_connection);
  if (!joined) return run();
  try {
    return await run(); // uploads may still be made here, to fit max_payload
  } finally {
    joined.unlink();
  }
}

/** Plik with its defaults, the spec's default store. */
const DEFAULT_PLIK: FileServer = plikFileServer();

const BINARY_TYPES: ReadonlySet<PayloadType> = new Set(["image", "audio", "video", "binary"]);

function prepareItem(item: unknown, index: number, correlationId: string): Prepared {
  if (!Array.isArray(item) || item.length !== 3) {
    throw new InputError(`data[${index}] must be a [dataname, data, payload_type] array`, { correlationId });
  }
  const [dataname, value, typeName] = item as [unknown, unknown, unknown];
  if (typeof dataname !== "string") {
    throw new InputError(`data[${index}] dataname must be a string, got ${typeof dataname}`, { correlationId });
  }
  const type = typeof typeName === "string" ? resolvePayloadType(typeName) : undefined;
  if (!type || typeName === "table") {
    throw new InputError(
      `data[${index}] (${quoted(dataname)}) has unknown payload_type ${JSON.stringify(typeName)}; expected one of text, dictionary, arrowtable, jsontable, image, audio, video, binary`,
      { correlationId, dataname },
    );
  }
  if (BINARY_TYPES.has(type) && isStreamSource(value)) return { dataname, type, owned: false, source: value };
  let bytes: Uint8Array;
  try {
    bytes = codecFor(type).serialize(value);
  } catch (err) {
    throw withContext(err, { correlationId, dataname }, (m, o) => new InputError(m, o));
  }
  // Binary types pass the application's buffer through; every other codec made a new one.
  return { dataname, type, bytes, owned: !BINARY_TYPES.has(type) };
}

function checkUploadResult(res: UploadResult | undefined, dataname: string): string {
  // The spec's handlers report a refusal by status, not by throwing: a link to
  // a file the store did not keep would reach every receiver as PAYLOAD_GONE.
  // Left out (plain JavaScript), it is taken as success.
  if (typeof res?.status === "number" && !(res.status >= 200 && res.status <= 299)) {
    throw new UploadError(`The upload handler reported status ${res.status} for ${quoted(dataname)}: the file was not stored`, {
      dataname,
      status: res.status,
    });
  }
  if (!res || typeof res.url !== "string" || !URL.canParse(res.url)) {
    throw new UploadError(`Upload handler returned no valid url for ${quoted(dataname)}`);
  }
  return res.url;
}

function payloadOf(
  p: Prepared,
  transport: "direct" | "link",
  encoding: string,
  size: number,
  data: string,
  checksum: string | undefined,
): MsgPayloadV1 {
  return {
    id: uuid4(),
    dataname: p.dataname,
    payload_type: p.type,
    transport,
    encoding,
    size,
    data,
    metadata: checksum ? { checksum } : {},
  };
}

/** Moves the largest direct payloads to link transport until the envelope fits. */
async function fitWithinMaxPayload(
  envelope: MsgEnvelopeV1,
  limit: number,
  moveToLink: (index: number) => Promise<MsgPayloadV1>,
  logger: Logger,
  base64Trusted: ReadonlySet<MsgPayloadV1>,
): Promise<string> {
  const order = envelope.payloads
    .map((p, i) => ({ p, i }))
    .filter(({ p }) => p.transport === "direct")
    .sort((a, b) => b.p.data.length - a.p.data.length);
  let json = stringifyEnvelope(envelope, base64Trusted);
  for (const { i } of order) {
    if (!exceeds(json, limit)) break;
    const moved = await moveToLink(i);
    envelope.payloads[i] = moved;
    logEvent(
      logger,
      "info",
      envelope.correlation_id,
      `Payload ${quoted(moved.dataname)} moved to link transport: envelope exceeded the server's max_payload of ${limit} bytes`,
    );
    json = stringifyEnvelope(envelope, base64Trusted);
  }
  if (exceeds(json, limit)) {
    throw new TransportError(
      "PUBLISH_FAILED",
      `Envelope is ${encoder.encode(json).byteLength} bytes even with every payload by link, over the server's max_payload of ${limit}`,
      { correlationId: envelope.correlation_id },
    );
  }
  return json;
}

const encoder = new TextEncoder();
/** Whether `s` encodes to more than `limit` UTF-8 bytes. */
function exceeds(s: string, limit: number): boolean {
  // A UTF-16 unit is at most 3 UTF-8 bytes and at least 1: most envelopes are
  // decided by their length alone, without scanning (profiles showed a regex
  // scan of every envelope costing more than the encode it tried to avoid).
  if (s.length * 3 <= limit) return false;
  if (s.length > limit) return true;
  return encoder.encode(s).byteLength > limit;
}

/** `jetstream`: a boolean, or publish options whose every value can work. */
function checkJetStreamPublish(value: unknown): void {
  if (value === undefined || typeof value === "boolean") return;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new OptionsError(`jetstream must be true, false or JetStream publish options, got ${describe(value)}`, {
      field: "jetstream",
    });
  }
  const js = value as JetStreamPublishOptions;
  if (js.timeout !== undefined) checkMillis(js.timeout, "jetstream.timeout", 1);
  if (js.attempts !== undefined) checkCount(js.attempts, "jetstream.attempts", 1);
  if (js.expect_stream !== undefined) checkNonEmpty(js.expect_stream, "jetstream.expect_stream");
}

/**
 * The names of {@link SmartSendOptions}: anything else is a slip (see checkKnownKeys).
 *
 * @example
 * ```ts
 * import { SEND_OPTION_NAMES } from "./send.ts";
 * console.log(SEND_OPTION_NAMES.has("fileserver_url")); // true
 * ```
 */
export const SEND_OPTION_NAMES: ReadonlySet<string> = optionNames<SmartSendOptions>({
  broker_url: true,
  fileserver_url: true,
  fileserver_upload_handler: true,
  size_threshold: true,
  correlation_id: true,
  msg_purpose: true,
  sender_name: true,
  receiver_name: true,
  receiver_id: true,
  reply_to: true,
  reply_to_msg_id: true,
  is_publish: true,
  nats_connection: true,
  connect_options: true,
  msg_id: true,
  sender_id: true,
  fileserver: true,
  metadata: true,
  checksum: true,
  max_payload: true,
  confirm: true,
  confirm_timeout: true,
  signal: true,
  on_progress: true,
  logger: true,
  pool: true,
  jetstream: true,
});

/** The envelope fields and switches of a send, checked (INVALID_OPTION, with the correlation id). */
function sendFields(options: SmartSendOptions, correlationId: string) {
  try {
    checkKnownKeys(options, SEND_OPTION_NAMES, "smartsend");
    checkCommonShapes(options);
    checkShape(options.nats_connection, "nats_connection", ["publish", "isClosed"], "an open NATS connection");
    const connect = options.connect_options;
    if (connect !== undefined && (typeof connect !== "object" || connect === null)) {
      throw new OptionsError(`connect_options must be an object (nats.js ConnectionOptions), got ${JSON.stringify(connect)}`, {
        field: "connect_options",
      });
    }
    checkJetStreamPublish(options.jetstream);
    checkFunction(options.on_progress, "on_progress");
    // Read only when something goes by link; a value given is checked now, before any upload.
    if (options.fileserver_url !== undefined) checkHttpUrl(options.fileserver_url, "fileserver_url");
    const replyTo = checkString(options.reply_to, "reply_to") ?? "";
    // The replier would refuse it: said here, to the one who can fix it.
    if (replyTo !== "") checkSubject(replyTo, false, "reply_to");
    return {
      maxPayload: options.max_payload === undefined ? undefined : checkCount(options.max_payload, "max_payload", 1),
      msg_id: checkString(options.msg_id, "msg_id") || uuid4(),
      msg_purpose: checkString(options.msg_purpose, "msg_purpose") ?? "chat",
      sender_name: checkString(options.sender_name, "sender_name") ?? "NATSBridge",
      sender_id: checkString(options.sender_id, "sender_id") || uuid4(),
      receiver_name: checkString(options.receiver_name, "receiver_name") ?? "",
      receiver_id: checkString(options.receiver_id, "receiver_id") ?? "",
      reply_to: replyTo,
      reply_to_msg_id: checkString(options.reply_to_msg_id, "reply_to_msg_id") ?? "",
      metadata: checkMetadata(options.metadata, "metadata") ?? {},
      publish: checkBoolean(options.is_publish, "is_publish") ?? true,
      confirm: checkBoolean(options.confirm, "confirm") ?? false,
      withChecksum: checkBoolean(options.checksum, "checksum") ?? true,
    };
  } catch (err) {
    throw withContext(err, { correlationId }, (m, o) => new OptionsError(m, o));
  }
}
