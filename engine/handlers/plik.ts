/**
 * Plik file-server handlers. An upload is two requests: `POST /upload` creates
 * an upload and returns its `uploadToken`; `POST /file/{id}` sends the bytes as
 * multipart field `file` with header `X-UploadToken`. The download URL is
 * `{fileserver_url}/file/{uploadid}/{fileid}/{fileName}`.
 *
 * Default is a TTL (24 h), not one-shot: a NATS subject fans out to every
 * subscriber, and Plik deletes a one-shot file as soon as a first download
 * *starts*, even one that breaks off and must be retried.
 *
 * @module
 */
import { isTransientUploadError, OptionsError, UploadError } from "../errors.ts";
import { checkBoolean, checkCount, checkHttpUrl, checkKnownKeys, checkMillis, checkString, optionNames, refuseCredentials } from "../config.ts";
import { describe } from "../codecs/text.ts";
import { logEvent } from "../logger.ts";
import { abortReason, retry, untilAborted, UPLOAD_RETRY } from "../backoff.ts";
import { originOf } from "../origins.ts";
import type { FileServer, StreamUploadResult, UploadContext, UploadHandler, UploadResult } from "../types.ts";
import { DEFAULT_IDLE_TIMEOUT, fetchWithBackoff, openWithBackoff } from "./http_download.ts";
import { idleGuard, type IdleGuard } from "./idle_guard.ts";
import { uuid4 } from "../ids.ts";
import { redact } from "../connection.ts";
import { meteredStream, sourceFailed } from "../streams.ts";
import { CAN_STREAM_REQUEST_BODY, postStreamedBody } from "../platform/request_streams.ts";
import { fetchFailureHint } from "../platform/fetch_failures.ts";
import { quoted } from "../printable.ts";

/**
 * Options of the Plik handlers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { plikFileServer, type PlikOptions } from "natsbridge";
 * const options: PlikOptions = { url: "http://127.0.0.1:8080", ttl: 3600, oneShot: false };
 * assert.deepEqual(plikFileServer(options).origins, ["http://127.0.0.1:8080"]);
 * ```
 */
export interface PlikOptions {
  /**
   * Seconds the file lives on the server; `-1` never expires, `0` is the
   * server's own default.
   * @default {86400}
   */
  ttl?: number | undefined;
  /**
   * Delete the file when its first download starts. Only safe with exactly one
   * receiver that never needs a retry.
   * @default {false}
   */
  oneShot?: boolean | undefined;
  /** Plik user token (`X-PlikToken`) for servers that require authentication to upload. */
  token?: string | undefined;
  /** Base URL of the Plik server; when set, uploads go there whatever `fileserver_url` says. */
  url?: string | undefined;
  /**
   * Milliseconds an upload may go without progress (no body bytes taken, no
   * answer) before it is abandoned as failed; bytes, files and Blobs are then
   * tried again.
   * @default {30000}
   */
  idleTimeout?: number | undefined;
}

/**
 * Default lifetime of an uploaded payload, seconds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_PLIK_TTL } from "natsbridge";
 * assert.equal(DEFAULT_PLIK_TTL, 24 * 60 * 60);
 * ```
 */
export const DEFAULT_PLIK_TTL = 86_400;

/**
 * Byte size from which a byte payload is uploaded as a streamed body of views
 * into it. From 1 MiB, it was: 300 uploads of 600 KB at once held 340-380 MiB
 * more (Blob copy, then multipart body, per attempt, outside the JS heap),
 * against 9-160 MiB streamed, at the same time per upload (5-8 ms here on
 * Deno, Bun and Node, .scratch measurement of 200 in a row).
 */
const STREAM_FROM = 64 * 1024;
/** Slice of a byte payload per body chunk. */
const STREAM_CHUNK = 1024 * 1024;

/**
 * Makes an upload handler for Plik with the given options.
 *
 * @param options TTL, one-shot, user token.
 * @returns A handler with the spec's signature `(fileserver_url, dataname, data)`.
 *
 * @example
 * ```ts
 * import { plikUploadHandler } from "natsbridge";
 * const upload = plikUploadHandler({ ttl: 3600 });
 * // smartsend("subject", items, { fileserver_upload_handler: upload })
 * ```
 */
export function plikUploadHandler(options: PlikOptions = {}): UploadHandler {
  options = checkPlikOptions(options);
  const session = plikSession(options);
  const streamed = plikStreamUploadHandler(options);
  // Bytes can be sent again: a failure another attempt may cure (Plik
  // restarting, HTTP 5xx) is retried with a new upload; the abandoned one
  // expires with its TTL.
  return function plikUpload(fileserver_url, dataname, data, context) {
    return retry(() => uploadOnce(fileserver_url, dataname, data, context), {
      ...UPLOAD_RETRY,
      signal: context?.signal,
      isFinal: (err) => !isTransientUploadError(err),
      // Said as file and Blob uploads say it: a retried upload is no longer silent.
      onRetry: (err, attempt, delay) =>
        context?.logger && logEvent(context.logger, "warn", context.correlationId ?? "",
          `Upload of ${quoted(dataname)} failed (${(err as Error).message}), trying again from the start in ${delay} ms (attempt ${attempt + 1})`),
      exhausted: (err) => err as Error,
    });
  };

  function uploadOnce(fileserver_url: string, dataname: string, data: Uint8Array, context: UploadContext | undefined) {
    if (CAN_STREAM_REQUEST_BODY && data.byteLength >= STREAM_FROM) {
      // Large payloads go as a streamed body of views into `data`: no copy into
      // a Blob (a stall of 40-100 ms at 100 MiB), and hashed on the way, so the
      // sender need not hash them again.
      let at = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (at >= data.byteLength) return controller.close();
          controller.enqueue(data.subarray(at, at + STREAM_CHUNK));
          at += STREAM_CHUNK;
        },
      }, { highWaterMark: 1 });
      return streamed(fileserver_url, dataname, body, { correlationId: "", ...context, size: data.byteLength });
    }
    const form = new FormData();
    form.append("file", new Blob([data as Uint8Array<ArrayBuffer>]), safeFileName(dataname));
    context?.onProgress?.(0, data.byteLength);
    return session.upload(fileserver_url, dataname, form, {}, context).then((res) => {
      context?.onProgress?.(data.byteLength, data.byteLength);
      return res;
    });
  }
}

/** The options object itself: `null` means none; a bare URL string is a likely slip, said so. */
function checkPlikOptions(options: PlikOptions | null): PlikOptions {
  if (options === null || options === undefined) return {};
  if (typeof options !== "object" || Array.isArray(options)) {
    throw new OptionsError(`Plik options must be an object like { url: "http://host:8080" }, got ${describe(options)}`, {
      field: "options",
    });
  }
  checkKnownKeys(options, PLIK_OPTION_NAMES, "Plik");
  return options;
}

const PLIK_OPTION_NAMES = optionNames<PlikOptions>({ ttl: true, oneShot: true, token: true, url: true, idleTimeout: true });

/** The two requests of a Plik upload, with the body of the second left to the caller. */
function plikSession(options: PlikOptions) {
  // Refused now, not by Plik at upload time ("HTTP 400 cannot unmarshal").
  const ttl = checkCount(options.ttl ?? DEFAULT_PLIK_TTL, "ttl", -1);
  const oneShot = checkBoolean(options.oneShot, "oneShot") ?? false;
  const token = checkString(options.token, "token");
  const authHeaders: Record<string, string> = token ? { "X-PlikToken": token } : {};
  // Refused now: 0 would fail every upload, NaN or Infinity would never fail one.
  const idleTimeout = checkMillis(options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT, "idleTimeout", 1);
  /** The idle guard of one upload; a streamed body touches it as the server takes it. */
  const guard = (context: UploadContext | undefined): IdleGuard => idleGuard(idleTimeout, context?.signal);
  return {
    guard,
    async upload(
      fileserver_url: string,
      dataname: string,
      body: BodyInit,
      headers: Record<string, string>,
      context: UploadContext | undefined,
      idle: IdleGuard = guard(context),
    ): Promise<UploadResult> {
      // A store made for one server uploads there, whatever fileserver_url the call carries.
      const base = refuseCredentials(options.url ?? fileserver_url, "fileserver_url").replace(/\/+$/, "");
      const errContext = { correlationId: context?.correlationId ?? "", dataname };
      try {
        const created = await postJson(`${base}/upload`, {
          method: "POST",
          headers: { "Content-Type": "application/json", ...authHeaders },
          body: JSON.stringify({ ttl, oneShot }),
        }, "create the upload", errContext, idle);
        const uploadid = stringField(created, "id", errContext);
        const uploadToken = stringField(created, "uploadToken", errContext);
        const remove = () => removeUpload(base, uploadid, { "X-UploadToken": uploadToken, ...authHeaders });
        idle.touch();
        let file: Record<string, unknown>;
        try {
          file = await postJson(`${base}/file/${encodeURIComponent(uploadid)}`, {
            method: "POST",
            headers: { "X-UploadToken": uploadToken, ...authHeaders, ...headers },
            body,
          }, "upload the file", errContext, idle);
        } catch (err) {
          // An upload with no file in it would stay, "uploading", until its TTL.
          await remove().catch(() => {});
          throw err;
        }
        const fileid = stringField(file, "id", errContext);
        const storedName = typeof file.fileName === "string" ? file.fileName : safeFileName(dataname);
        return {
          status: 200,
          uploadid,
          fileid,
          url: `${base}/file/${encodeURIComponent(uploadid)}/${encodeURIComponent(fileid)}/${
            encodeURIComponent(storedName)
          }`,
          remove,
        };
      } finally {
        idle.stop();
      }
    },
  };
}

/**
 * Makes a streaming upload for Plik: the multipart body is written as the
 * source is read, so memory stays bounded whatever the size; SHA-256 is
 * computed on the way.
 *
 * @param options TTL, one-shot, token, URL.
 * @returns A `FileServer["uploadStream"]`.
 *
 * @example Uploading a file of any size without reading it into memory
 * ```ts ignore
 * import { openAsBlob } from "node:fs";
 * import { plikStreamUploadHandler } from "natsbridge";
 * const upload = plikStreamUploadHandler({ ttl: 3600 });
 * const res = await upload("http://127.0.0.1:8080", "movie.mp4", (await openAsBlob("movie.mp4")).stream(), {
 *   correlationId: "c-1",
 * });
 * console.log(res.url, res.size, res.checksum);
 * ```
 */
export function plikStreamUploadHandler(options: PlikOptions = {}): NonNullable<FileServer["uploadStream"]> {
  options = checkPlikOptions(options);
  const session = plikSession(options);
  return async (fileserver_url, dataname, data, context) => {
    if (!CAN_STREAM_REQUEST_BODY) return await uploadCollected(session, fileserver_url, dataname, data, context);
    const boundary = `natsbridge-${uuid4()}`;
    const enc = new TextEncoder();
    const head = enc.encode(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${safeFileName(dataname).replace(/"/g, "_")}"\r\n` +
        `Content-Type: application/octet-stream\r\n\r\n`,
    );
    const tail = enc.encode(`\r\n--${boundary}--\r\n`);
    const metered = meteredStream(data, { hash: true, total: context.size, onProgress: context.onProgress });
    const reader = metered.stream.getReader();
    const idle = session.guard(context);
    let stage = 0;
    let sourceError: unknown;
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        idle.touch(); // the server is taking the body
        if (stage === 0) {
          stage = 1;
          controller.enqueue(head);
          return;
        }
        if (stage === 1) {
          let next: ReadableStreamReadResult<Uint8Array>;
          try {
            next = await reader.read();
          } catch (err) {
            // fetch reports a body that errors as "fetch failed": keep the source's own reason.
            sourceError = err;
            throw err;
          }
          const { value, done } = next;
          if (!done) {
            sent += value.byteLength;
            return controller.enqueue(value);
          }
          stage = 2;
          controller.enqueue(tail);
          return;
        }
        controller.close();
      },
      cancel: (reason) => reader.cancel(reason),
    });
    let res: UploadResult;
    try {
      res = await session.upload(fileserver_url, dataname, body, {
        "Content-Type": `multipart/form-data; boundary=${boundary}`,
      }, context, idle);
    } catch (err) {
      if (sourceError === undefined) throw err;
      throw sourceFailed(sourceError, dataname, sent, context);
    }
    const { size, checksum } = await metered.done;
    return { ...res, size, checksum: checksum! };
  };
}

/**
 * A stream source read whole (hashed on the way, each read within the idle
 * timeout) and uploaded as one Blob, where `fetch` cannot stream a request
 * body ({@link CAN_STREAM_REQUEST_BODY}: browsers). The browser may keep a
 * large Blob on disk. A source that is a Blob already (a File a user picked)
 * is only read to hash it, and sent as it is: collected as well, a 300 MiB
 * File took 450 MiB of the page's memory, and a 300 MiB Blob failed
 * (ERR_BLOB_OUT_OF_MEMORY, reported as "Cannot reach the Plik server").
 */
async function uploadCollected(
  session: ReturnType<typeof plikSession>,
  fileserver_url: string,
  dataname: string,
  data: ReadableStream<Uint8Array>,
  context: UploadContext & { size?: number; blob?: Blob },
): Promise<StreamUploadResult> {
  // Not given on_progress: reading is not uploading. fetch reports nothing of
  // a body it sends, so the bytes count as sent once Plik has them (a 20 MB
  // File reported 100% within 0.2 s of a 5 s upload).
  const metered = meteredStream(data, { hash: true, total: context.size });
  const reader = metered.stream.getReader();
  const idle = session.guard(context);
  const parts: Uint8Array<ArrayBuffer>[] = [];
  let sent = 0;
  try {
    for (;;) {
      const { value, done } = await untilAborted(reader.read(), idle.signal, `Upload of ${quoted(dataname)}`, context.correlationId);
      if (done) break;
      idle.touch();
      if (!context.blob) parts.push(value as Uint8Array<ArrayBuffer>);
      sent += value.byteLength;
    }
  } catch (err) {
    idle.stop();
    reader.cancel(err).catch(() => {});
    if (idle.fired) {
      throw new UploadError(`Upload of ${quoted(dataname)} failed: its source sent nothing: ${(idle.signal.reason as Error).message}`, {
        correlationId: context.correlationId,
        dataname,
      });
    }
    throw context.signal?.aborted ? err : sourceFailed(err, dataname, sent, context);
  }
  const form = new FormData();
  form.append("file", context.blob ?? new Blob(parts), safeFileName(dataname));
  context.onProgress?.(0, sent);
  const res = await session.upload(fileserver_url, dataname, form, {}, context, idle);
  const { size, checksum } = await metered.done;
  context.onProgress?.(size, size);
  return { ...res, size, checksum: checksum! };
}

/**
 * The spec's default upload handler: Plik with a 24 h TTL.
 *
 * @example
 * ```ts ignore
 * import { plikUpload } from "natsbridge";
 * const res = await plikUpload("http://127.0.0.1:8080", "report.pdf", new Uint8Array([1, 2, 3]));
 * console.log(res.url);
 * ```
 */
export const plikUpload: UploadHandler = plikUploadHandler();

/**
 * Plik as a {@link FileServer}: its upload handler, the default HTTP download
 * handler, and its origin for the allowed-origins rule.
 *
 * @param options Server URL, TTL, one-shot, token.
 * @returns A {@link FileServer}.
 *
 * @example
 * ```ts
 * import { plikFileServer } from "natsbridge";
 * const plik = plikFileServer({ url: "http://127.0.0.1:8080", ttl: 3600 });
 * console.log(plik.origins); // ["http://127.0.0.1:8080"]
 * ```
 */
export function plikFileServer(options: PlikOptions = {}): FileServer {
  options = checkPlikOptions(options);
  const origin = options.url !== undefined ? checkHttpUrl(options.url, "url") && originOf(options.url) : undefined;
  return {
    upload: plikUploadHandler(options),
    uploadStream: plikStreamUploadHandler(options),
    download: fetchWithBackoff,
    downloadStream: openWithBackoff,
    origins: origin ? [origin] : [],
  };
}

/**
 * Deletes an upload and its files (`DELETE /upload/{id}`, with the token Plik
 * gave its uploader), within 10 s: a send that failed is not held longer by
 * the cleanup of what it left.
 */
async function removeUpload(base: string, uploadid: string, headers: Record<string, string>): Promise<void> {
  const res = await fetch(`${base}/upload/${encodeURIComponent(uploadid)}`, {
    method: "DELETE",
    headers,
    signal: AbortSignal.timeout(10_000),
  });
  await res.body?.cancel();
  if (!res.ok && res.status !== 404) throw new Error(`Plik refused to delete upload ${uploadid}: HTTP ${res.status}`);
}

/** One request of an upload, its answer read as JSON; abandoned when `idle` fires. */
async function postJson(
  url: string,
  init: RequestInit,
  what: string,
  errContext: { correlationId: string; dataname: string },
  idle: IdleGuard,
): Promise<Record<string, unknown>> {
  let status: number;
  let text: string;
  try {
    if (init.body instanceof ReadableStream) {
      ({ status, text } = await postStreamedBody(url, init.headers as Record<string, string>, init.body, idle.signal));
    } else {
      const res = await fetch(url, { ...init, signal: idle.signal });
      status = res.status;
      text = await res.text();
    }
  } catch (err) {
    // The caller's abort is its own; the guard's is no answer (status 0: tried again).
    if (idle.signal.aborted && !idle.fired) {
      throw abortReason(idle.signal, `Upload of ${quoted(errContext.dataname)}`, errContext.correlationId);
    }
    const why = idle.fired ? (idle.signal.reason as Error).message : (err as Error).message;
    // Credentials in the URL stay out of messages and logs (Node's fetch quotes the URL too).
    const hint = idle.fired ? "" : fetchFailureHint(url);
    throw new UploadError(`Cannot reach the Plik server to ${what} (${redact(url)}): ${redact(why)}${hint}`, { ...errContext, cause: err });
  }
  if (status < 200 || status > 299) {
    // Plik says so in words, with 400 or 403, not with a 401.
    const answer = text.slice(0, 200).trim();
    const tokenHint = /anonymous uploads are disabled/i.test(answer)
      ? ": this Plik wants a user token (plikFileServer({ token }), PLIK_TOKEN or --plik-token)"
      : (status === 401 || status === 403) && /token/i.test(answer)
      ? ": the Plik token given was refused (plikFileServer({ token }), PLIK_TOKEN or --plik-token)"
      : "";
    throw new UploadError(`Plik refused to ${what}: HTTP ${status} ${answer}${tokenHint}`, { ...errContext, status });
  }
  try {
    const body = JSON.parse(text);
    if (body && typeof body === "object") return body as Record<string, unknown>;
  } catch { /* reported below */ }
  throw new UploadError(`Plik answered ${what} with something other than a JSON object`, errContext);
}

function stringField(
  obj: Record<string, unknown>,
  key: string,
  errContext: { correlationId: string; dataname: string },
): string {
  const v = obj[key];
  if (typeof v !== "string" || v === "") {
    throw new UploadError(`Plik response lacks "${key}"`, errContext);
  }
  return v;
}

/** A file name Plik and every HTTP client accept; the dataname stays in the envelope. */
function safeFileName(dataname: string): string {
  // Control characters are exactly what is being removed.
  // deno-lint-ignore no-control-regex
  const cleaned = dataname.replace(/[\/\\\x00-\x1f]/g, "_").slice(0, 200);
  return cleaned === "" || cleaned === "." || cleaned === ".." ? "payload" : cleaned;
}
