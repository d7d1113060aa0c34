/**
 * natsbridge — the TypeScript member of the NATSBridge family: typed payloads
 * (text, dictionary, arrowtable, jsontable, image, audio, video, binary) in one
 * JSON envelope (`msg_envelope_v1`) over NATS, large ones by claim check
 * through Plik or a NATS JetStream Object Store.
 *
 * @example Send and receive
 * ```ts ignore
 * import { smartreceive, smartsend } from "natsbridge";
 * const [env] = await smartsend("chat", [["message", "Hello!", "text"]], { broker_url: "nats://127.0.0.1:4222" });
 * ```
 *
 * @module
 */
export { Bridge } from "./engine/bridge.ts";
export type { BridgeOptions, BridgeSendOptions, BridgeStatus, RequestOptions, SubscribeOptions } from "./engine/bridge.ts";
export {
  DEFAULT_BASE_DELAY,
  DEFAULT_BROKER_URL,
  DEFAULT_FILESERVER_URL,
  DEFAULT_MAX_DELAY,
  DEFAULT_MAX_RETRIES,
  DEFAULT_SIZE_THRESHOLD,
} from "./engine/config.ts";
export { parseEnvelope } from "./engine/envelope.ts";
export type { CheckedPayload } from "./engine/envelope.ts";
export {
  AbortedError,
  ChecksumError,
  DecodeError,
  DownloadError,
  EnvelopeError,
  InputError,
  NatsBridgeError,
  OptionsError,
  OriginRefusedError,
  SizeMismatchError,
  TransportError,
  UploadError,
  WorkerError,
} from "./engine/errors.ts";
export type { ErrorCode, NatsBridgeErrorOptions } from "./engine/errors.ts";
export type { ConnectOptions, NatsConnection } from "./engine/nats_types.ts";
export { fetchWithBackoff, httpFileServer, openWithBackoff } from "./engine/handlers/http_download.ts";
export {
  digestToHex,
  OBJECT_CHUNK_SIZE,
  OBJECT_STORE_SCHEME,
  objectStoreFileServer,
  parseObjectStoreUrl,
} from "./engine/handlers/object_store.ts";
export type { ObjectStoreFileServerOptions } from "./engine/handlers/object_store.ts";
export { CONNECTION_READ_AHEAD_BYTES, READ_AHEAD_BYTES } from "./engine/handlers/object_store_reader.ts";
export {
  DEFAULT_PLIK_TTL,
  plikFileServer,
  plikStreamUploadHandler,
  plikUpload,
  plikUploadHandler,
} from "./engine/handlers/plik.ts";
export type { PlikOptions } from "./engine/handlers/plik.ts";
export {
  DEFAULT_MAX_ARROW_DECOMPRESSED_BYTES,
  setMaxArrowDecompressedBytes,
} from "./engine/codecs/arrow_compression.ts";
export { consumeEnvelopes, ensureStream, publishToJetStream } from "./engine/jetstream.ts";
export type {
  ConsumeOptions,
  DeadLetter,
  Delivery,
  EnsureStreamOptions,
  JetStreamPublishOptions,
  PubAck,
} from "./engine/jetstream.ts";
export { consoleLogger, formatLogLine, silentLogger } from "./engine/logger.ts";
export type { Logger, LogLevel } from "./engine/logger.ts";
export { originOf } from "./engine/origins.ts";
export { DEFAULT_MAX_DOWNLOAD_BYTES, smartreceive } from "./engine/receive.ts";
export type { MsgLike, SmartReceiveOptions } from "./engine/receive.ts";
export { smartsend } from "./engine/send.ts";
export type { SmartSendOptions } from "./engine/send.ts";
export { ENVELOPE_KEYS, PAYLOAD_KEYS, PAYLOAD_TYPES } from "./engine/types.ts";
export { CodecPool, DEFAULT_OFFLOAD_THRESHOLD, defaultCodecPool } from "./workers/pool.ts";
export type { CodecPoolOptions } from "./workers/pool.ts";
export type {
  DownloadContext,
  DownloadHandler,
  FileServer,
  MsgEnvelopeV1,
  MsgPayloadV1,
  PayloadType,
  ProgressCallback,
  ReceivedEnvelope,
  ReceivedPayload,
  SendItem,
  StreamUploadResult,
  TransferProgress,
  Transport,
  UploadContext,
  UploadHandler,
  UploadResult,
} from "./engine/types.ts";
