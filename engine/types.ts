/**
 * The wire model (`msg_envelope_v1`, `msg_payload_v1`) and the shapes of the
 * public API: send items, received tuples and file-server handler signatures.
 *
 * @module
 */
import type { Table } from "apache-arrow";

/**
 * The payload types every NATSBridge peer understands.
 *
 * @example Checking a type name from the wire
 * ```ts
 * import assert from "node:assert/strict";
 * import { PAYLOAD_TYPES, type PayloadType } from "natsbridge";
 * const isPayloadType = (s: string): s is PayloadType => (PAYLOAD_TYPES as readonly string[]).includes(s);
 * assert.ok(isPayloadType("arrowtable"));
 * assert.ok(!isPayloadType("pdf"));
 * ```
 */
export type PayloadType =
  | "text"
  | "dictionary"
  | "arrowtable"
  | "jsontable"
  | "image"
  | "audio"
  | "video"
  | "binary";

/**
 * All payload types, in the order the spec lists them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PAYLOAD_TYPES } from "natsbridge";
 * assert.equal(PAYLOAD_TYPES.length, 8);
 * assert.equal(PAYLOAD_TYPES[0], "text");
 * ```
 */
export const PAYLOAD_TYPES: readonly PayloadType[] = Object.freeze([
  "text",
  "dictionary",
  "arrowtable",
  "jsontable",
  "image",
  "audio",
  "video",
  "binary",
]);

/**
 * How a payload travels: inside the message, or as a URL to a file server.
 *
 * @example Which payloads went by link
 * ```ts
 * import assert from "node:assert/strict";
 * import { smartsend, type Transport } from "natsbridge";
 * const [env] = await smartsend("chat", [["m", "hi", "text"]], { is_publish: false });
 * const transports: Transport[] = env.payloads.map((p) => p.transport as Transport);
 * assert.deepEqual(transports, ["direct"]);
 * ```
 */
export type Transport = "direct" | "link";

/**
 * One payload as it appears on the wire (`msg_payload_v1`): exactly these 8 keys.
 *
 * @example
 * ```ts
 * import type { MsgPayloadV1 } from "natsbridge";
 * const p: MsgPayloadV1 = {
 *   id: "6f1c0c1e-8a39-4c36-9f8a-0b1d2e3f4a5b", dataname: "msg", payload_type: "text",
 *   transport: "direct", encoding: "base64", size: 2, data: "aGk=", metadata: {},
 * };
 * ```
 */
export interface MsgPayloadV1 {
  /** Payload id (senders: UUID v4). */
  id: string;
  /** Name the application gave the payload. */
  dataname: string;
  /** One of {@link PayloadType} (receivers also accept the legacy `table`). */
  payload_type: string;
  /** `direct` or `link`. */
  transport: string;
  /** `base64` for direct, `none` for link (receivers also accept `json` for JSON types). */
  encoding: string;
  /** Byte length of the serialized payload, before base64. */
  size: number;
  /** Base64 text (direct), a URL (link) or JSON text (`encoding: "json"`). */
  data: string;
  /** Payload metadata; `checksum` holds the lowercase hex SHA-256 of the serialized bytes. */
  metadata: Record<string, unknown>;
}

/**
 * The message envelope as it appears on the wire (`msg_envelope_v1`): exactly
 * these 14 keys, always present, `""` where unknown. Extra keys a peer adds are
 * kept on receive.
 *
 * @example Building the envelope without publishing it
 * ```ts
 * import assert from "node:assert/strict";
 * import { type MsgEnvelopeV1, smartsend } from "natsbridge";
 * const [env, json]: [MsgEnvelopeV1, string] = await smartsend("chat", [["m", "hi", "text"]], { is_publish: false });
 * assert.equal(env.send_to, "chat");
 * assert.deepEqual(JSON.parse(json), env);
 * ```
 */
export interface MsgEnvelopeV1 {
  /** Groups related messages for tracing; every log line carries it. */
  correlation_id: string;
  /** Id of this message. */
  msg_id: string;
  /** ISO 8601 UTC time of sending. */
  timestamp: string;
  /** Subject the message was published to. */
  send_to: string;
  /** `chat`, `ACK`, `NACK`, `updateStatus`, `shutdown`, … */
  msg_purpose: string;
  /** Sender application name. */
  sender_name: string;
  /** Sender id. */
  sender_id: string;
  /** Intended receiver name, `""` for broadcast. */
  receiver_name: string;
  /** Intended receiver id, `""` for broadcast. */
  receiver_id: string;
  /** Subject a reply should go to, `""` for none. */
  reply_to: string;
  /** `msg_id` this message replies to, `""` for none. */
  reply_to_msg_id: string;
  /** NATS URL the sender used. */
  broker_url: string;
  /** Message-level metadata. */
  metadata: Record<string, unknown>;
  /** The payloads, in order. */
  payloads: MsgPayloadV1[];
}

/**
 * The 14 envelope keys, in wire order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ENVELOPE_KEYS, smartsend } from "natsbridge";
 * const [env] = await smartsend("chat", [], { is_publish: false });
 * assert.deepEqual(Object.keys(env), [...ENVELOPE_KEYS]);
 * ```
 */
export const ENVELOPE_KEYS: readonly (keyof MsgEnvelopeV1)[] = Object.freeze([
  "correlation_id",
  "msg_id",
  "timestamp",
  "send_to",
  "msg_purpose",
  "sender_name",
  "sender_id",
  "receiver_name",
  "receiver_id",
  "reply_to",
  "reply_to_msg_id",
  "broker_url",
  "metadata",
  "payloads",
]);

/**
 * The 8 payload keys, in wire order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PAYLOAD_KEYS, smartsend } from "natsbridge";
 * const [env] = await smartsend("chat", [["m", "hi", "text"]], { is_publish: false });
 * assert.deepEqual(Object.keys(env.payloads[0]), [...PAYLOAD_KEYS]);
 * ```
 */
export const PAYLOAD_KEYS: readonly (keyof MsgPayloadV1)[] = Object.freeze([
  "id",
  "dataname",
  "payload_type",
  "transport",
  "encoding",
  "size",
  "data",
  "metadata",
]);

/**
 * One item handed to `smartsend`: `[dataname, data, payload_type]`.
 *
 * Input types: `text` string; `dictionary` plain object or array; `jsontable`
 * array of row objects; `arrowtable` an apache-arrow `Table` or array of row
 * objects; `image`/`audio`/`video`/`binary` a `Uint8Array` (a Node `Buffer` is one),
 * or — streamed by link, never held whole in memory — a `ReadableStream<Uint8Array>`,
 * a `Blob`, a file path or a `file:` URL.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type SendItem, smartsend } from "natsbridge";
 * const items: SendItem[] = [
 *   ["message", "Hello!", "text"],
 *   ["config", { step_size: 0.01 }, "dictionary"],
 *   ["image", new Uint8Array([0x89, 0x50, 0x4e, 0x47]), "image"],
 * ];
 * const [env] = await smartsend("chat", items, { is_publish: false });
 * assert.equal(env.payloads.length, 3);
 * ```
 */
export type SendItem = readonly [dataname: string, data: unknown, payload_type: PayloadType];

/**
 * One received payload: `[dataname, value, payload_type]`. Values: `text` string;
 * `dictionary` object or array; `jsontable` array of row objects; `arrowtable`
 * apache-arrow `Table`; `image`/`audio`/`video`/`binary` `Uint8Array`, or a
 * `ReadableStream<Uint8Array>` when received with `stream`. Checking the type
 * narrows the value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ReceivedPayload, smartreceive, smartsend } from "natsbridge";
 * const [, json] = await smartsend("chat", [["message", "Hello!", "text"]], { is_publish: false });
 * const [first]: ReceivedPayload[] = (await smartreceive(json)).payloads;
 * assert.deepEqual(first, ["message", "Hello!", "text"]);
 * const [, value, type] = first;
 * if (type === "text") assert.equal(value.toUpperCase(), "HELLO!");
 * ```
 */
export type ReceivedPayload =
  | [dataname: string, value: string, payload_type: "text"]
  | [dataname: string, value: Record<string, unknown> | unknown[], payload_type: "dictionary"]
  | [dataname: string, value: Record<string, unknown>[], payload_type: "jsontable"]
  | [dataname: string, value: Table, payload_type: "arrowtable"]
  | [dataname: string, value: Uint8Array | ReadableStream<Uint8Array>, payload_type: "image" | "audio" | "video" | "binary"];

/**
 * What `smartreceive` returns: the envelope with `payloads` replaced by
 * `[dataname, value, payload_type]` tuples, in order. Unknown extra keys a peer
 * sent are kept.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ReceivedEnvelope, smartreceive, smartsend } from "natsbridge";
 * const [, json] = await smartsend("chat", [["config", { a: 1 }, "dictionary"]], { is_publish: false, correlation_id: "c-1" });
 * const env: ReceivedEnvelope = await smartreceive(json);
 * assert.equal(env.correlation_id, "c-1");
 * assert.deepEqual(env.payloads, [["config", { a: 1 }, "dictionary"]]);
 * ```
 */
export type ReceivedEnvelope =
  & Omit<MsgEnvelopeV1, "payloads">
  & { payloads: ReceivedPayload[] }
  & Record<string, unknown>;

/**
 * Progress of one link upload or download.
 *
 * @example Printing upload progress
 * ```ts ignore
 * import { smartsend, type TransferProgress } from "natsbridge";
 * const show = (p: TransferProgress) =>
 *   console.log(`${p.direction} ${p.dataname}: ${p.done}/${p.total ?? "?"} bytes`);
 * await smartsend("files", [["video", "./movie.mp4", "video"]], { on_progress: show });
 * ```
 */
export interface TransferProgress {
  /** `dataname` of the payload. */
  dataname: string;
  /** `upload` or `download`. */
  direction: "upload" | "download";
  /** Bytes moved so far. */
  done: number;
  /**
   * Total bytes, or `undefined` when unknown (a stream of unknown size, until
   * its upload completes: the last report then has `done === total`).
   */
  total: number | undefined;
}

/**
 * Called as a link transfer progresses.
 *
 * @example Counting bytes downloaded
 * ```ts ignore
 * import { type ProgressCallback, smartreceive } from "natsbridge";
 * import { connect } from "@nats-io/transport-node";
 * const nc = await connect({ servers: "nats://127.0.0.1:4222" });
 * let bytes = 0;
 * const onProgress: ProgressCallback = ({ direction, done }) => {
 *   if (direction === "download") bytes = done;
 * };
 * for await (const msg of nc.subscribe("files")) {
 *   await smartreceive(msg, { on_progress: onProgress });
 *   console.log(`${bytes} bytes downloaded`);
 * }
 * ```
 */
export type ProgressCallback = (progress: TransferProgress) => void;

/**
 * What an upload handler returns (the spec's `{status, uploadid, fileid, url}`).
 *
 * @example An upload handler of your own
 * ```ts ignore
 * import type { UploadHandler, UploadResult } from "natsbridge";
 * const upload: UploadHandler = async (fileserver_url, dataname, data): Promise<UploadResult> => {
 *   const res = await fetch(`${fileserver_url}/put/${encodeURIComponent(dataname)}`, { method: "PUT", body: data });
 *   const { id } = await res.json() as { id: string };
 *   return { status: res.status, uploadid: id, fileid: id, url: `${fileserver_url}/get/${id}` };
 * };
 * ```
 */
export interface UploadResult {
  /**
   * HTTP-like status of the upload, 200 on success. One outside 200-299
   * fails the send with `UPLOAD_FAILED` and this status: nothing is
   * published (retrying is the handler's own).
   */
  status: number;
  /** Id of the upload (Plik upload id, object store bucket, …). */
  uploadid: string;
  /** Id of the file within the upload. */
  fileid: string;
  /** URL the receiver downloads from; goes into the payload's `data`. */
  url: string;
  /**
   * Lowercase hex SHA-256 of the stored bytes, when the store computed it
   * anyway (the Object Store does); natsbridge then does not hash again.
   */
  checksum?: string;
  /**
   * Undoes this upload. natsbridge calls it when the send the upload was for
   * fails before its envelope leaves, so no file stays that no message points
   * to. Plik's needs the upload's token, which only the uploader holds.
   */
  remove?: () => Promise<void>;
}

/**
 * What a streaming upload returns: the result plus what the stream turned out to hold.
 *
 * @example
 * ```ts ignore
 * import { plikStreamUploadHandler, type StreamUploadResult } from "natsbridge";
 * const { stream, size } = { stream: (await fetch("http://example.com/big")).body!, size: undefined };
 * const res: StreamUploadResult = await plikStreamUploadHandler()("http://127.0.0.1:8080", "big", stream, {
 *   correlationId: "c-1",
 *   size,
 * });
 * console.log(res.url, res.size, res.checksum);
 * ```
 */
export interface StreamUploadResult extends UploadResult {
  /** Bytes uploaded. */
  size: number;
  /** Lowercase hex SHA-256 of the bytes uploaded. */
  checksum: string;
}

/**
 * Extras natsbridge passes to an upload handler beyond the spec's three arguments.
 *
 * @example A handler that reports progress and honours cancellation
 * ```ts ignore
 * import type { UploadContext, UploadHandler } from "natsbridge";
 * const upload: UploadHandler = async (url, dataname, data, context?: UploadContext) => {
 *   context?.onProgress?.(0, data.byteLength);
 *   const res = await fetch(`${url}/put/${dataname}`, { method: "PUT", body: data, signal: context?.signal });
 *   context?.onProgress?.(data.byteLength, data.byteLength);
 *   return { status: res.status, uploadid: dataname, fileid: dataname, url: `${url}/get/${dataname}` };
 * };
 * ```
 */
export interface UploadContext {
  /** Correlation id of the message being sent. */
  correlationId: string;
  /** Lowercase hex SHA-256 of the bytes, already computed by the sender. */
  checksum?: string;
  /** Cancels the upload. */
  signal?: AbortSignal;
  /** Reports bytes uploaded. */
  onProgress?: (done: number, total: number | undefined) => void;
  /** Where a store reports what it recovered from (a put resumed after a server restart). */
  logger?: import("./logger.ts").Logger;
}

/**
 * Uploads one serialized payload and returns where it can be fetched.
 * Signature of the spec: `(fileserver_url, dataname, data)`; the 4th argument is
 * natsbridge's extra context and may be ignored.
 *
 * @example
 * ```ts ignore
 * import { smartsend, type UploadHandler } from "natsbridge";
 * const upload: UploadHandler = async (fileserver_url, dataname, data) => {
 *   const res = await fetch(`${fileserver_url}/put/${dataname}`, { method: "PUT", body: data });
 *   return { status: res.status, uploadid: dataname, fileid: dataname, url: `${fileserver_url}/get/${dataname}` };
 * };
 * await smartsend("files", [["big", new Uint8Array(600_000), "binary"]], { fileserver_upload_handler: upload });
 * ```
 */
export type UploadHandler = (
  fileserver_url: string,
  dataname: string,
  // Over an ArrayBuffer, never a SharedArrayBuffer: fetch, Blob and Response take it as it is.
  data: Uint8Array<ArrayBuffer>,
  context?: UploadContext,
) => Promise<UploadResult>;

/**
 * Extras natsbridge passes to a download handler beyond the spec's five arguments.
 *
 * @example A handler that checks the announced size
 * ```ts ignore
 * import type { DownloadContext, DownloadHandler } from "natsbridge";
 * const download: DownloadHandler = async (url, _retries, _base, _max, _correlation, context?: DownloadContext) => {
 *   const bytes = new Uint8Array(await (await fetch(url, { signal: context?.signal })).arrayBuffer());
 *   if (context?.expectedSize !== undefined && bytes.byteLength > context.expectedSize) throw new Error("too large");
 *   return bytes;
 * };
 * ```
 */
export interface DownloadContext {
  /** `dataname` of the payload. */
  dataname: string;
  /** Byte size the envelope announced; more bytes than this is an error. */
  expectedSize?: number;
  /** Cancels the download and any backoff wait. */
  signal?: AbortSignal;
  /** Reports bytes downloaded. */
  onProgress?: (done: number, total: number | undefined) => void;
  /** Where log lines go. */
  logger?: import("./logger.ts").Logger;
  /** Checksum the envelope announced, when it announced one. */
  expectedChecksum?: string;
  /**
   * A handler whose store already verified the bytes against a SHA-256 (the
   * Object Store does on every get) reports it here; natsbridge compares it
   * with the envelope's checksum instead of hashing the bytes again.
   */
  onVerified?: (checksum: string) => void;
}

/**
 * Downloads one link payload, retrying with exponential backoff.
 * Signature of the spec: `(url, max_retries, base_delay, max_delay, correlation_id)`;
 * the 6th argument is natsbridge's extra context and may be ignored.
 *
 * @example
 * ```ts ignore
 * import { type DownloadHandler, fetchWithBackoff, smartreceive } from "natsbridge";
 * const logged: DownloadHandler = (url, ...rest) => {
 *   console.log("fetching", url);
 *   return fetchWithBackoff(url, ...rest);
 * };
 * import { connect } from "@nats-io/transport-node";
 * const nc = await connect({ servers: "nats://127.0.0.1:4222" });
 * for await (const msg of nc.subscribe("files")) {
 *   const env = await smartreceive(msg, { fileserver_download_handler: logged });
 *   console.log(env.payloads.length);
 * }
 * ```
 */
export type DownloadHandler = (
  url: string,
  max_retries: number,
  base_delay: number,
  max_delay: number,
  correlation_id: string,
  context?: DownloadContext,
) => Promise<Uint8Array>;

/**
 * A file store as one object: the upload and download handlers that belong
 * together and the URL origins its links use (so receivers accept them).
 * `plikFileServer()` and `objectStoreFileServer()` return one.
 *
 * @example Plik as the store for both ends
 * ```ts ignore
 * import { type FileServer, plikFileServer, smartreceive, smartsend } from "natsbridge";
 * const store: FileServer = plikFileServer({ url: "http://127.0.0.1:8080", ttl: 3600 });
 * const [, json] = await smartsend("files", [["big", new Uint8Array(600_000), "binary"]], { fileserver: store, is_publish: false });
 * const env = await smartreceive(json, { fileserver: store });
 * ```
 */
export interface FileServer {
  /** Uploads a payload. */
  upload: UploadHandler;
  /** Downloads a payload. */
  download: DownloadHandler;
  /** Origins (`scheme://host[:port]`) of the URLs this store hands out. */
  origins: readonly string[];
  /**
   * Uploads a stream of unknown size in chunks, hashing as it goes. Stores
   * without it get streamed payloads collected in memory first. `context.blob`
   * is the source itself when it is a Blob or File (`data` reads it): a store
   * that cannot stream a request body (Plik in a browser) may send it as it
   * is rather than collect `data`.
   */
  uploadStream?: (
    fileserver_url: string,
    dataname: string,
    data: ReadableStream<Uint8Array>,
    context: UploadContext & { size?: number; blob?: Blob },
  ) => Promise<StreamUploadResult>;
  /**
   * Deletes what a link points to. Used by the opt-in delete-after-ack of
   * JetStream consumers, and by a send that fails before its envelope leaves
   * (for the links it uploaded, which no message points to). So each upload
   * must get a link of its own: a store that hands out one link for equal
   * bytes (content addressing) must not delete while another send uses it.
   * Absent where the receiver cannot delete (Plik needs the uploader's
   * token; its files expire by TTL instead).
   */
  delete?: (url: string) => Promise<void>;
  /**
   * Opens a link as a stream (after the same retries as `download` for the
   * response to start). natsbridge wraps the stream to check its size, and its
   * checksum unless {@link FileServer.verifiesStreams} says the store does.
   */
  downloadStream?: (
    url: string,
    max_retries: number,
    base_delay: number,
    max_delay: number,
    correlation_id: string,
    context: DownloadContext,
  ) => Promise<ReadableStream<Uint8Array>>;
  /**
   * `true` when `downloadStream` hashes the bytes itself as they flow and
   * reports the digest through `context.onVerified` before its stream ends
   * (the Object Store does); natsbridge then compares that digest with the
   * envelope's checksum instead of hashing every byte a second time.
   */
  verifiesStreams?: boolean;
}
