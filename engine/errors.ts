/**
 * Typed errors. Every error natsbridge raises is a {@link NatsBridgeError} with a
 * stable `code`, and carries the correlation id and payload name where they are
 * known, so a log line or a dead-letter record can say which message failed and why
 * without parsing the message text.
 *
 * @module
 */

/**
 * Stable machine-readable error codes. Never renamed once released.
 *
 * @example Deciding whether to retry
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChecksumError, type ErrorCode, TransportError } from "natsbridge";
 * const retryable: ReadonlySet<ErrorCode> = new Set(["DOWNLOAD_FAILED", "CONNECTION_FAILED", "PUBLISH_FAILED", "TIMEOUT"]);
 * assert.ok(retryable.has(new TransportError("TIMEOUT", "No reply").code));
 * assert.ok(!retryable.has(new ChecksumError("Checksum mismatch").code));
 * ```
 */
export type ErrorCode =
  | "INVALID_OPTION"
  | "INVALID_INPUT"
  | "ENVELOPE_INVALID"
  | "UNKNOWN_PAYLOAD_TYPE"
  | "UNKNOWN_ENCODING"
  | "UNKNOWN_TRANSPORT"
  | "DECODE_FAILED"
  | "SIZE_MISMATCH"
  | "CHECKSUM_MISMATCH"
  | "ORIGIN_REFUSED"
  | "DOWNLOAD_FAILED"
  | "PAYLOAD_GONE"
  | "PAYLOAD_TOO_LARGE"
  | "UPLOAD_FAILED"
  | "CONNECTION_FAILED"
  | "PUBLISH_FAILED"
  | "PERMISSION_DENIED"
  | "TIMEOUT"
  | "ABORTED"
  | "WORKER_FAILED";

/**
 * Codes saying the message itself is bad: what arrived breaks the contract
 * or fails its own checks. Receiving it again cannot help; the JetStream
 * consumer dead-letters on them and the CLI exits with its "invalid" code.
 *
 * @example
 * ```ts ignore
 * import { INVALID_MESSAGE_CODES } from "./errors.ts";
 * console.log(INVALID_MESSAGE_CODES.has("CHECKSUM_MISMATCH")); // true
 * ```
 */
export const INVALID_MESSAGE_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  "ENVELOPE_INVALID",
  "UNKNOWN_PAYLOAD_TYPE",
  "UNKNOWN_ENCODING",
  "UNKNOWN_TRANSPORT",
  "DECODE_FAILED",
  "SIZE_MISMATCH",
  "CHECKSUM_MISMATCH",
  "ORIGIN_REFUSED",
  "PAYLOAD_TOO_LARGE",
]);

/**
 * Facts an error can carry besides its message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DecodeError, type NatsBridgeErrorOptions } from "natsbridge";
 * const cause = new SyntaxError("Unexpected token");
 * const options: NatsBridgeErrorOptions = { correlationId: "c-1", dataname: "config", cause };
 * const err = new DecodeError("dictionary payload is not valid JSON", options);
 * assert.equal(err.dataname, "config");
 * assert.equal(err.cause, cause);
 * ```
 */
export interface NatsBridgeErrorOptions extends ErrorOptions {
  /** Correlation id of the message being sent or received, when known. */
  correlationId?: string;
  /** `dataname` of the payload concerned, when one is. */
  dataname?: string;
  /** Envelope or payload field at fault (`"payloads[2].size"`), when one is. */
  field?: string;
}

/**
 * Base class of every error natsbridge throws.
 *
 * @example Telling errors apart by code
 * ```ts
 * import { NatsBridgeError, ChecksumError } from "natsbridge";
 *
 * const err: unknown = new ChecksumError("Checksum mismatch", { correlationId: "c1", dataname: "img" });
 * if (err instanceof NatsBridgeError && err.code === "CHECKSUM_MISMATCH") {
 *   console.log(err.correlationId, err.dataname); // "c1" "img"
 * }
 * ```
 */
export class NatsBridgeError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Correlation id of the message concerned, or `""` when there is none yet. */
  readonly correlationId: string;
  /** `dataname` of the payload concerned, or `""`. */
  readonly dataname: string;
  /** The envelope field at fault, or `""`. */
  readonly field: string;

  /**
   * Creates the error.
   *
   * @param code Stable error code.
   * @param message Human-readable description; names the failing value.
   * @param options Correlation id, payload name, field and cause.
   */
  constructor(code: ErrorCode, message: string, options: NatsBridgeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "NatsBridgeError";
    this.code = code;
    this.correlationId = options.correlationId ?? "";
    this.dataname = options.dataname ?? "";
    this.field = options.field ?? "";
  }
}

/**
 * An option passed to a natsbridge function is missing, of the wrong type, or
 * conflicts with another.
 *
 * @example
 * ```ts
 * import { OptionsError } from "natsbridge";
 * const e = new OptionsError("size_threshold must be a positive integer, got -1", { field: "size_threshold" });
 * console.log(e.code); // "INVALID_OPTION"
 * ```
 */
export class OptionsError extends NatsBridgeError {
  /** Stable machine-readable code: this class's. */
  declare readonly code: "INVALID_OPTION";
  /**
   * Creates the error.
   *
   * @param message What is wrong.
   * @param options Context.
   */
  constructor(message: string, options?: NatsBridgeErrorOptions) {
    super("INVALID_OPTION", message, options);
    this.name = "OptionsError";
  }
}

/**
 * Data handed to `smartsend` does not fit the payload type it was declared as
 * (for example a number declared as `"text"`).
 *
 * @example
 * ```ts
 * import { InputError } from "natsbridge";
 * const e = new InputError("text payload must be a string", { dataname: "msg" });
 * console.log(e.code); // "INVALID_INPUT"
 * ```
 */
export class InputError extends NatsBridgeError {
  /** Stable machine-readable code: this class's. */
  declare readonly code: "INVALID_INPUT";
  /**
   * Creates the error.
   *
   * @param message What is wrong.
   * @param options Context.
   */
  constructor(message: string, options?: NatsBridgeErrorOptions) {
    super("INVALID_INPUT", message, options);
    this.name = "InputError";
  }
}

/**
 * A received envelope breaks the `msg_envelope_v1` contract: invalid JSON, a
 * missing key, a value of the wrong type, an unknown payload type, encoding or
 * transport. `code` says which.
 *
 * @example
 * ```ts
 * import { EnvelopeError } from "natsbridge";
 * const e = new EnvelopeError("payloads[0].size must be a non-negative integer", { field: "payloads[0].size" });
 * console.log(e.code, e.field); // "ENVELOPE_INVALID" "payloads[0].size"
 * ```
 */
export class EnvelopeError extends NatsBridgeError {
  /** Stable machine-readable code: this class's. */
  declare readonly code: "ENVELOPE_INVALID" | "UNKNOWN_PAYLOAD_TYPE" | "UNKNOWN_ENCODING" | "UNKNOWN_TRANSPORT";
  /**
   * Creates the error.
   *
   * @param message What is wrong.
   * @param options Context.
   * @param code One of the envelope-level codes; `ENVELOPE_INVALID` by default.
   */
  constructor(
    message: string,
    options?: NatsBridgeErrorOptions,
    code: "ENVELOPE_INVALID" | "UNKNOWN_PAYLOAD_TYPE" | "UNKNOWN_ENCODING" | "UNKNOWN_TRANSPORT" =
      "ENVELOPE_INVALID",
  ) {
    super(code, message, options);
    this.name = "EnvelopeError";
  }
}

/**
 * Payload bytes could not be decoded: bad base64, invalid UTF-8, invalid JSON,
 * corrupt Arrow IPC.
 *
 * @example
 * ```ts
 * import { DecodeError } from "natsbridge";
 * const e = new DecodeError("Payload data is not valid base64", { dataname: "img" });
 * console.log(e.code); // "DECODE_FAILED"
 * ```
 */
export class DecodeError extends NatsBridgeError {
  /** Stable machine-readable code: this class's. */
  declare readonly code: "DECODE_FAILED";
  /**
   * Creates the error.
   *
   * @param message What is wrong.
   * @param options Context.
   */
  constructor(message: string, options?: NatsBridgeErrorOptions) {
    super("DECODE_FAILED", message, options);
    this.name = "DecodeError";
  }
}

/**
 * The bytes of a payload are not the size its envelope announced.
 *
 * @example
 * ```ts
 * import { SizeMismatchError } from "natsbridge";
 * const e = new SizeMismatchError("Payload \"a\" announced 10 bytes, got 12", { dataname: "a" });
 * console.log(e.code); // "SIZE_MISMATCH"
 * ```
 */
export class SizeMismatchError extends NatsBridgeError {
  /** Stable machine-readable code: this class's. */
  declare readonly code: "SIZE_MISMATCH";
  /**
   * Creates the error.
   *
   * @param message What is wrong.
   * @param options Context.
   */
  constructor(message: string, options?: NatsBridgeErrorOptions) {
    super("SIZE_MISMATCH", message, options);
    this.name = "SizeMismatchError";
  }
}

/**
 * The SHA-256 of a payload's bytes differs from `metadata.checksum`.
 *
 * @example
 * ```ts
 * import { ChecksumError } from "natsbridge";
 * const e = new ChecksumError("Checksum mismatch", { dataname: "a", correlationId: "c" });
 * console.log(e.code); // "CHECKSUM_MISMATCH"
 * ```
 */
export class ChecksumError extends NatsBridgeError {
  /** Stable machine-readable code: this class's. */
  declare readonly code: "CHECKSUM_MISMATCH";
  /**
   * Creates the error.
   *
   * @param message What is wrong.
   * @param options Context.
   */
  constructor(message: string, options?: NatsBridgeErrorOptions) {
    super("CHECKSUM_MISMATCH", message, options);
    this.name = "ChecksumError";
  }
}

/**
 * A link URL points outside the allowed file-server origins; it was refused
 * without any request being made (SSRF protection).
 *
 * @example
 * ```ts
 * import { OriginRefusedError } from "natsbridge";
 * const e = new OriginRefusedError("Refused to fetch http://169.254.169.254/: origin not allowed");
 * console.log(e.code); // "ORIGIN_REFUSED"
 * ```
 */
export class OriginRefusedError extends NatsBridgeError {
  /** Stable machine-readable code: this class's. */
  declare readonly code: "ORIGIN_REFUSED";
  /**
   * Creates the error.
   *
   * @param message What is wrong.
   * @param options Context.
   */
  constructor(message: string, options?: NatsBridgeErrorOptions) {
    super("ORIGIN_REFUSED", message, options);
    this.name = "OriginRefusedError";
  }
}

/**
 * A link payload could not be downloaded. `code` is `DOWNLOAD_FAILED` after the
 * retry budget is spent, `PAYLOAD_GONE` when the file server says the file does
 * not exist (expired, or a one-shot file already taken), `PAYLOAD_TOO_LARGE` when
 * the server sends more bytes than announced or allowed.
 *
 * @example
 * ```ts
 * import { DownloadError } from "natsbridge";
 * const e = new DownloadError("Download failed after 5 attempts", { attempts: 5, status: 503 });
 * console.log(e.code, e.attempts, e.status); // "DOWNLOAD_FAILED" 5 503
 * ```
 */
export class DownloadError extends NatsBridgeError {
  /** Stable machine-readable code: this class's. */
  declare readonly code: "DOWNLOAD_FAILED" | "PAYLOAD_GONE" | "PAYLOAD_TOO_LARGE";
  /** Attempts made before giving up. */
  readonly attempts: number;
  /** Last HTTP status seen, or 0 when no response arrived. */
  readonly status: number;

  /**
   * Creates the error.
   *
   * @param message What is wrong.
   * @param options Context, attempts made and last status.
   * @param code Which kind of download failure.
   */
  constructor(
    message: string,
    options: NatsBridgeErrorOptions & { attempts?: number; status?: number } = {},
    code: "DOWNLOAD_FAILED" | "PAYLOAD_GONE" | "PAYLOAD_TOO_LARGE" = "DOWNLOAD_FAILED",
  ) {
    super(code, message, options);
    this.name = "DownloadError";
    this.attempts = options.attempts ?? 0;
    this.status = options.status ?? 0;
  }
}

/**
 * A payload could not be uploaded to the file server or object store.
 *
 * @example
 * ```ts
 * import { UploadError } from "natsbridge";
 * const e = new UploadError("Plik refused the upload: HTTP 401", { status: 401 });
 * console.log(e.code, e.status); // "UPLOAD_FAILED" 401
 * ```
 */
export class UploadError extends NatsBridgeError {
  /** Stable machine-readable code: this class's. */
  declare readonly code: "UPLOAD_FAILED";
  /** HTTP status of the refusal, or 0. */
  readonly status: number;
  /**
   * Creates the error.
   *
   * @param message What is wrong.
   * @param options Context and status.
   */
  constructor(message: string, options: NatsBridgeErrorOptions & { status?: number } = {}) {
    super("UPLOAD_FAILED", message, options);
    this.name = "UploadError";
    this.status = options.status ?? 0;
  }
}

/**
 * A nats.js failure of a JetStream set-up (a stream, a consumer, a bucket) as
 * a natsbridge error whose message starts with `what`: `TIMEOUT` when the
 * server did not answer, `CONNECTION_FAILED` when it has no JetStream or the
 * connection failed, `INVALID_OPTION` when nats.js or the server refused what
 * was asked (a name, a subject, a stream that does not exist). nats.js's own
 * errors carry numeric codes or none.
 *
 * @param what What was being done, e.g. `Cannot set up stream "JOBS"`.
 * @param err What nats.js threw.
 * @returns The error to throw (a natsbridge error is returned as it is).
 *
 * @example
 * ```ts
 * import { jetStreamError } from "./errors.ts";
 * const e = jetStreamError(`Cannot set up stream "S"`, new Error("jetstream is not enabled"));
 * console.log(e.code); // "CONNECTION_FAILED"
 * ```
 */
export function jetStreamError(what: string, err: unknown): NatsBridgeError {
  if (err instanceof NatsBridgeError) return err;
  const denied = permissionDenied(err, what);
  if (denied) return denied;
  const name = (err as Error)?.name ?? "";
  const message = (err as Error)?.message ?? String(err);
  if (name === "TimeoutError") {
    return new TransportError("TIMEOUT", `${what}: the server did not answer in time`, { cause: err });
  }
  if (/jetstream is not enabled|no responders|503/i.test(message)) {
    const why = "JetStream is not enabled on this server (start nats-server with -js, or enable it for the account)";
    return new TransportError("CONNECTION_FAILED", `${what}: ${why}`, { cause: err });
  }
  if (/^Invalid|NotFound|^JetStreamApiError$/.test(name)) return new OptionsError(`${what}: ${message}`, { cause: err });
  return new TransportError("CONNECTION_FAILED", `${what}: ${message}`, { cause: err });
}

/**
 * A refusal by the NATS server's permissions (nats.js's
 * `PermissionViolationError`, or its text) as `PERMISSION_DENIED`: no retry
 * can help until an administrator changes them. Anything else: `undefined`.
 *
 * @param err What nats.js threw or reported.
 * @param what What was being done, for the message.
 * @param correlationId For the error.
 * @returns The typed error, or `undefined` when `err` is no permissions refusal.
 *
 * @example
 * ```ts
 * import { permissionDenied } from "./errors.ts";
 * const e = permissionDenied(new Error(`Permissions Violation for Publish to "jobs.new"`), "Send");
 * console.log(e?.code); // "PERMISSION_DENIED"
 * ```
 */
export function permissionDenied(err: unknown, what: string, correlationId?: string): TransportError | undefined {
  if (err instanceof NatsBridgeError) return err.code === "PERMISSION_DENIED" ? err as TransportError : undefined;
  const message = (err as Error)?.message ?? String(err);
  const m = /Permissions Violation for (Publish|Subscription) to "?([^"\s]+)"?/i.exec(message);
  if (!m && (err as Error)?.name !== "PermissionViolationError") return undefined;
  const op = m?.[1].toLowerCase() === "subscription" ? "subscribe to" : "publish to";
  const subject = m?.[2] ?? (err as { subject?: string }).subject ?? "?";
  return new TransportError(
    "PERMISSION_DENIED",
    `${what}: the NATS server's permissions do not let this user ${op} "${subject}" (ask its administrator, or use a subject it allows)`,
    { correlationId, cause: err },
  );
}

/**
 * Whether another attempt may cure an upload failure: no answer (status 0) or
 * a server-side HTTP status (5xx, 408, 429), not caused by natsbridge refusing
 * something itself.
 *
 * @param err What an upload threw.
 * @returns `true` for a failure worth retrying.
 *
 * @example
 * ```ts
 * import { isTransientUploadError, UploadError } from "./errors.ts";
 * console.log(isTransientUploadError(new UploadError("busy", { status: 503 }))); // true
 * console.log(isTransientUploadError(new UploadError("no", { status: 401 }))); // false
 * ```
 */
export function isTransientUploadError(err: unknown): boolean {
  if (!(err instanceof UploadError) || err.cause instanceof NatsBridgeError) return false;
  return err.status === 0 || err.status >= 500 || err.status === 408 || err.status === 429;
}

/**
 * Connecting to NATS or publishing failed. `code` is `CONNECTION_FAILED`,
 * `PUBLISH_FAILED`, `PERMISSION_DENIED` (the server refuses this user's
 * credentials, or its permissions refuse the user the subject: retrying
 * cannot help) or `TIMEOUT`.
 *
 * @example
 * ```ts
 * import { TransportError } from "natsbridge";
 * const e = new TransportError("CONNECTION_FAILED", "Cannot connect to nats://127.0.0.1:1");
 * console.log(e.code); // "CONNECTION_FAILED"
 * ```
 */
export class TransportError extends NatsBridgeError {
  /** Stable machine-readable code: this class's. */
  declare readonly code: "CONNECTION_FAILED" | "PUBLISH_FAILED" | "PERMISSION_DENIED" | "TIMEOUT";
  /**
   * Creates the error.
   *
   * @param code Which failure.
   * @param message What is wrong.
   * @param options Context.
   */
  constructor(
    code: "CONNECTION_FAILED" | "PUBLISH_FAILED" | "PERMISSION_DENIED" | "TIMEOUT",
    message: string,
    options?: NatsBridgeErrorOptions,
  ) {
    super(code, message, options);
    this.name = "TransportError";
  }
}

/**
 * A codec worker failed: it was terminated (`CodecPool.destroy()` with work in
 * flight), crashed, or could not start. The payload was not at fault, so it
 * is not `DECODE_FAILED`: consumers nak it, and trying again may pass.
 *
 * @example
 * ```ts
 * import { WorkerError } from "natsbridge";
 * console.log(new WorkerError("Codec worker failed: Terminating worker thread").code); // "WORKER_FAILED"
 * ```
 */
export class WorkerError extends NatsBridgeError {
  /** Stable machine-readable code: this class's. */
  declare readonly code: "WORKER_FAILED";
  /**
   * Creates the error.
   *
   * @param message What failed.
   * @param options Context.
   */
  constructor(message: string, options?: NatsBridgeErrorOptions) {
    super("WORKER_FAILED", message, options);
    this.name = "WorkerError";
  }
}

/**
 * The operation was cancelled through its `AbortSignal`.
 *
 * @example
 * ```ts
 * import { AbortedError } from "natsbridge";
 * console.log(new AbortedError("Send aborted").code); // "ABORTED"
 * ```
 */
export class AbortedError extends NatsBridgeError {
  /** Stable machine-readable code: this class's. */
  declare readonly code: "ABORTED";
  /**
   * Creates the error.
   *
   * @param message What was aborted.
   * @param options Context.
   */
  constructor(message: string, options?: NatsBridgeErrorOptions) {
    super("ABORTED", message, options);
    this.name = "AbortedError";
  }
}

/**
 * Returns a copy of `err` tagged with a correlation id and payload name, when it
 * is one of ours and lacks them; other errors are wrapped as `fallback`.
 * Used at the boundary of each payload's processing, where those facts are known.
 */
export function withContext(
  err: unknown,
  context: { correlationId: string; dataname?: string },
  fallback: (message: string, options: NatsBridgeErrorOptions) => NatsBridgeError,
): NatsBridgeError {
  if (err instanceof NatsBridgeError) {
    if (err.correlationId && (err.dataname || !context.dataname)) return err;
    // Fields are readonly for callers; filling gaps in-place keeps the original
    // class, stack and cause, which a re-wrap would bury.
    const writable = err as unknown as { correlationId: string; dataname: string };
    if (!err.correlationId) writable.correlationId = context.correlationId;
    if (!err.dataname && context.dataname) writable.dataname = context.dataname;
    return err;
  }
  const message = err instanceof Error ? err.message : String(err);
  return fallback(message, { ...context, cause: err });
}
