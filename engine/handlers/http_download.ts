/**
 * The default download handler: HTTP GET with the spec's exponential backoff,
 * a cap at the announced size, an idle timeout, and no redirects (a redirect
 * could lead outside the allowed origins).
 *
 * @module
 */
import { abortReason, backoffDelays, retry, settleWithin, sleep } from "../backoff.ts";
import { DownloadError, NatsBridgeError } from "../errors.ts";
import { logEvent } from "../logger.ts";
import { copyBytes, isByteStream, ownStream } from "../platform/buffer_release.ts";
import { idleGuard } from "./idle_guard.ts";
import { redact } from "../connection.ts";
import type { DownloadContext, FileServer } from "../types.ts";
import { quoted } from "../printable.ts";
import { fetchFailureHint } from "../platform/fetch_failures.ts";

/**
 * Bytes a resumed download must get before it breaks off again for the resume
 * to count as progress: a server that sends a byte per connection and breaks
 * off would otherwise be asked again for ever, a request per byte.
 */
const RESUME_PROGRESS = 64 * 1024;

/** Milliseconds without a byte arriving before an attempt is abandoned. */
export const DEFAULT_IDLE_TIMEOUT = 30_000;
/**
 * Largest buffer allocated up front from an announced size. The size in an
 * envelope is untrusted: beyond this the buffer grows as bytes actually arrive.
 */
const MAX_PREALLOCATION = 64 * 1024 * 1024;

/** What errors carry, and `label`: how messages name the payload. */
type ErrContext = { correlationId: string; dataname: string; label: string };

/**
 * The payload as messages name it: the link when there is no name (the
 * spec's handler signature, called directly, has none), not `""`.
 */
function labelOf(dataname: string, url: string): string {
  return quoted(dataname || redact(url));
}

/**
 * Downloads `url`, retrying transient failures (network errors, HTTP 5xx, 408,
 * 429, a body that breaks off) with delays `base_delay`, doubling, capped at
 * `max_delay`, for at most `max_retries` attempts. A 404 or 410 is not retried:
 * the file is gone (expired, or a one-shot file already taken).
 *
 * @param url The link.
 * @param max_retries Total attempts.
 * @param base_delay First delay, ms.
 * @param max_delay Longest delay, ms.
 * @param correlation_id For log lines and errors.
 * @param context Payload name, expected size, cancellation, progress.
 * @returns The downloaded bytes.
 * @throws {DownloadError} `DOWNLOAD_FAILED` after the last attempt,
 *   `PAYLOAD_GONE` on 404/410, `PAYLOAD_TOO_LARGE` when more bytes arrive than announced.
 *
 * @example
 * ```ts ignore
 * import { fetchWithBackoff } from "natsbridge";
 * const bytes = await fetchWithBackoff("http://127.0.0.1:8080/file/u/f/name", 5, 100, 5000, "corr-1");
 * ```
 */
export function fetchWithBackoff(
  url: string,
  max_retries: number,
  base_delay: number,
  max_delay: number,
  correlation_id: string,
  context: DownloadContext = { dataname: "" },
): Promise<Uint8Array> {
  return withBackoff(url, max_retries, base_delay, max_delay, correlation_id, context, async (res, errContext, touch) => {
    const total = context.expectedSize ?? contentLength(res);
    return await readBody(res, total, context.expectedSize, errContext, (done) => {
      touch();
      context.onProgress?.(done, total);
    });
  });
}

/**
 * Opens `url` as a stream, with the same retries as {@link fetchWithBackoff}
 * until the response starts. A body that breaks off later (the server
 * restarting, the network dropping, no byte for {@link DEFAULT_IDLE_TIMEOUT})
 * is asked for again from the first byte not yet delivered (`Range`), with
 * the same retries; a server that ignores the range sends the whole body
 * again and what was delivered is skipped. The stream errors only once those
 * retries are spent, when `max_retries` resumes in a row each got less than
 * 64 KiB further before the next break (waiting the retry delays between),
 * or when the file is gone (a one-shot file cannot be read twice).
 *
 * @param url The link.
 * @param max_retries Total attempts to get a response.
 * @param base_delay First delay, ms.
 * @param max_delay Longest delay, ms.
 * @param correlation_id For log lines and errors.
 * @param context Payload name, expected size, cancellation.
 * @returns The response body.
 *
 * @example
 * ```ts ignore
 * import { openWithBackoff } from "natsbridge";
 * const stream = await openWithBackoff("http://127.0.0.1:8080/file/u/f/n", 5, 100, 5000, "c", { dataname: "n" });
 * ```
 */
export function openWithBackoff(
  url: string,
  max_retries: number,
  base_delay: number,
  max_delay: number,
  correlation_id: string,
  context: DownloadContext = { dataname: "" },
): Promise<ReadableStream<Uint8Array>> {
  // The idle timer covers getting a response; the stream outlives the attempt.
  const open = (from: number) =>
    withBackoff(url, max_retries, base_delay, max_delay, correlation_id, context, (res) => Promise.resolve(res), false, from);
  const retries = { attempts: Math.max(1, max_retries), baseDelay: base_delay, maxDelay: max_delay };
  return open(0).then((first) => resumableBody(first, open, retries, correlation_id, context));
}

/**
 * `first`'s body, read on across breaks: `open(n)` gets a response from byte
 * `n` on (206), or the whole body again (200, the first `n` bytes skipped).
 * A resume that brings less than {@link RESUME_PROGRESS} new bytes before the
 * next break is waited out with the retry delays, and `retries.attempts` of
 * them in a row end the stream: a server that always breaks off before
 * sending much (a hostile one, or one whose file is damaged there) is
 * otherwise asked again for ever, as fast as it answers.
 */
function resumableBody(
  first: Response,
  open: (from: number) => Promise<Response>,
  retries: { attempts: number; baseDelay: number; maxDelay: number },
  correlation_id: string,
  context: DownloadContext,
): ReadableStream<Uint8Array> {
  const { dataname, signal, logger } = context;
  const label = labelOf(dataname, first.url);
  const total = contentLength(first);
  // A byte stream (fetch's body on Deno, Node and in browsers) hands each chunk
  // over by transfer, so its reader alone holds it; then so does whoever
  // alone reads this stream, which may free the chunks (payload_stream.ts).
  // Bun's body is a plain stream: its chunks may be anyone's.
  const bodyOf = (res: Response) => res.body ?? new Blob([]).stream();
  const firstBody = bodyOf(first);
  const sole = isByteStream(firstBody);
  // Taken at the first read: nothing is fetched until the application asks.
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const current = () => reader ??= firstBody.getReader();
  // A resumed body that is not a byte stream (another runtime's fetch cannot
  // answer, but a custom one might) is copied to keep that promise.
  let copy = false;
  let delivered = 0;
  let skip = 0;
  // Where the last break happened, and how many resumes in a row brought too little.
  let lastBreak: number | undefined;
  let stalls = 0;
  const delays = backoffDelays(retries.attempts, retries.baseDelay, retries.maxDelay);

  /**
   * One read, abandoned after DEFAULT_IDLE_TIMEOUT without a byte, or when
   * the signal aborts. The fetch has the signal too, but only through
   * AbortSignal.any, which on Deno stops passing aborts on once its composite
   * is collected (the whole stream then still arrived).
   */
  const read = () =>
    settleWithin(current().read(), DEFAULT_IDLE_TIMEOUT, () => new Error(`no data for ${DEFAULT_IDLE_TIMEOUT / 1000} s`), signal);

  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        try {
          const { value, done } = await read();
          if (done) {
            if (total !== undefined && delivered < total) throw new Error(`the body ended at ${delivered} of ${total} bytes`);
            droppedBodies.unregister(stop);
            controller.close();
            return;
          }
          const dropped = Math.min(skip, value.byteLength);
          skip -= dropped;
          if (dropped === value.byteLength) continue;
          delivered += value.byteLength - dropped;
          const chunk = dropped ? value.subarray(dropped) : value;
          controller.enqueue(copy ? copyBytes(chunk) : chunk);
          return;
        } catch (err) {
          if (signal?.aborted) {
            current().cancel().catch(() => {}); // stops the download itself
            throw abortReason(signal, `Download of ${label}`, correlation_id);
          }
          if (err instanceof NatsBridgeError) throw err;
          current().cancel().catch(() => {});
          // A resume that got less than RESUME_PROGRESS further before the
          // next break counts against max_retries; one that got further
          // starts the count again.
          const gained = lastBreak === undefined ? RESUME_PROGRESS : delivered - lastBreak;
          stalls = gained >= RESUME_PROGRESS ? 0 : stalls + 1;
          lastBreak = delivered;
          if (stalls >= retries.attempts) {
            throw new DownloadError(
              `Download of ${label} failed: the last ${stalls} resumes brought ${gained === 0 ? "nothing" : "too little"} new, ` +
                `the server breaking off each time (at byte ${delivered} now; ${(err as Error).message})`,
              { correlationId: correlation_id, dataname, attempts: stalls, cause: err },
            );
          }
          // stalls < attempts here, and there are attempts - 1 delays.
          if (stalls > 0) await sleep(delays[stalls - 1], signal);
          if (logger) {
            logEvent(logger, "warn", correlation_id, `Download of ${label} broke off at ${delivered} bytes (${(err as Error).message}); resuming from there`);
          }
          const res = await open(delivered);
          // 206: the rest, as asked. 200: the server ignored the range and starts over.
          const start = Number(/^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1] ?? NaN);
          if (res.status === 206 && start !== delivered) {
            await res.body?.cancel();
            throw new DownloadError(
              `Download of ${label} asked to go on from byte ${delivered}, the server answered from ${start}`,
              { correlationId: correlation_id, dataname },
            );
          }
          skip = res.status === 206 ? 0 : delivered;
          const body = bodyOf(res);
          copy = sole && !isByteStream(body);
          reader = body.getReader();
        }
      }
    },
    cancel(reason) {
      droppedBodies.unregister(stop);
      return current().cancel(reason);
    },
  }, { highWaterMark: 0 });
  // Not `stream`: the registry must not keep alive what it watches.
  const stop = { cancel: () => void current().cancel("the stream was dropped").catch(() => {}) };
  droppedBodies.register(stream, stop.cancel, stop);
  return sole ? ownStream(stream) : stream;
}

/**
 * Cancels the bodies of streams dropped before their end without a cancel:
 * Node's fetch otherwise keeps each one's connection open for as long as the
 * process lives (an application that skips a payload it does not want).
 */
const droppedBodies = new FinalizationRegistry<() => void>((cancel) => cancel());

/**
 * Plain HTTP(S) links as a {@link FileServer} (download side only; uploading
 * needs a file server's API, e.g. `plikFileServer()`).
 *
 * @returns A store whose `download` is {@link fetchWithBackoff}.
 *
 * @example
 * ```ts
 * import { httpFileServer } from "natsbridge";
 * console.log(typeof httpFileServer().downloadStream); // "function"
 * ```
 */
export function httpFileServer(): FileServer {
  return {
    upload: () => Promise.reject(new DownloadError("httpFileServer() cannot upload")),
    download: fetchWithBackoff,
    downloadStream: openWithBackoff,
    origins: [],
  };
}

/** A failure worth another attempt. */
class RetryableError extends NatsBridgeError {
  /** `unanswered`: fetch failed before any answer, and not for want of one in time. */
  constructor(readonly status: number, cause: unknown, readonly unanswered = false) {
    super("DOWNLOAD_FAILED", status ? `HTTP ${status}` : String((cause as Error)?.message ?? cause), { cause });
  }
}

function withBackoff<T>(
  url: string,
  max_retries: number,
  base_delay: number,
  max_delay: number,
  correlation_id: string,
  context: DownloadContext,
  consume: (res: Response, errContext: ErrContext, touch: () => void) => Promise<T>,
  idleDuringConsume = true,
  from = 0,
): Promise<T> {
  const { dataname, signal, logger } = context;
  const label = labelOf(dataname, url);
  const errContext = { correlationId: correlation_id, dataname, label };
  const attempts = Math.max(1, max_retries);
  return retry(async (attempt) => {
    if (signal?.aborted) throw abortReason(signal, `Download of ${label}`, correlation_id);
    try {
      return await attemptOnce(url, context, errContext, consume, idleDuringConsume, from);
    } catch (err) {
      if (signal?.aborted) throw abortReason(signal, `Download of ${label}`, correlation_id);
      if (err instanceof DownloadError) {
        throw new DownloadError(err.message, { ...errContext, attempts: attempt, status: err.status }, err.code as ConstructorParameters<typeof DownloadError>[2]);
      }
      throw err;
    }
  }, {
    attempts,
    baseDelay: base_delay,
    maxDelay: max_delay,
    signal,
    isFinal: (err) => !(err instanceof RetryableError),
    onRetry: (err, attempt, delay) =>
      logger &&
      logEvent(logger, "warn", correlation_id, `Download of ${label} failed (${(err as Error).message}), attempt ${attempt}/${attempts}, retrying in ${delay} ms`),
    exhausted: (err) => {
      const last = err as RetryableError;
      // No answer at all, as a page also gets from a file server whose CORS headers refuse it.
      const hint = last.unanswered ? fetchFailureHint(url) : "";
      return new DownloadError(`Download of ${label} failed after ${attempts} attempts: ${last.message}${hint}`, {
        ...errContext,
        attempts,
        status: last.status,
        cause: last.cause,
      });
    },
  });
}

async function attemptOnce<T>(
  url: string,
  context: DownloadContext,
  errContext: ErrContext,
  consume: (res: Response, errContext: ErrContext, touch: () => void) => Promise<T>,
  idleDuringConsume: boolean,
  from: number,
): Promise<T> {
  // A body consumed without the guard is read after this returns (a stream): its signal outlives it.
  const idle = idleGuard(DEFAULT_IDLE_TIMEOUT, context.signal, !idleDuringConsume);
  const touch = () => idle.touch();
  try {
    let res: Response;
    try {
      const headers = from > 0 ? { range: `bytes=${from}-` } : undefined;
      // "manual": a redirect is seen and refused below, not followed, and not
      // mistaken for an outage ("error" made it a "fetch failed", tried again).
      // A "%" that starts no escape is a peer's unescaped file name ("50%.bin",
      // as the spec builds links): sent raw, Plik answers 400.
      res = await fetch(url.replace(/%(?![0-9A-Fa-f]{2})/g, "%25"), { signal: idle.signal, redirect: "manual", headers });
    } catch (err) {
      throw new RetryableError(0, err, !idle.fired);
    }
    if (res.type === "opaqueredirect" || (res.status >= 300 && res.status < 400)) {
      await res.body?.cancel();
      const location = res.headers.get("location");
      const to = location ? URL.parse(location, url)?.href : undefined;
      throw new DownloadError(
        `Download of ${errContext.label} refused: the file server answered with a redirect (HTTP ${res.status}` +
          `${to ? ` to ${redact(to).slice(0, 200)}` : ""}); links are fetched only from allowed origins, with no redirects`,
        { ...errContext, status: res.status },
      );
    }
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel();
      throw new DownloadError(
        `Payload ${errContext.label} is gone from the file server (HTTP ${res.status}): expired, deleted, or a one-shot file already downloaded`,
        { ...errContext, status: res.status },
        "PAYLOAD_GONE",
      );
    }
    if (!res.ok) {
      await res.body?.cancel();
      if (res.status >= 500 || res.status === 408 || res.status === 429) throw new RetryableError(res.status, undefined);
      throw new DownloadError(`Download of ${errContext.label} refused: HTTP ${res.status}`, {
        ...errContext,
        status: res.status,
      });
    }
    const announced = contentLength(res);
    if (context.expectedSize !== undefined && announced !== undefined && announced > context.expectedSize) {
      await res.body?.cancel();
      throw tooLarge(errContext, context.expectedSize, announced);
    }
    if (!idleDuringConsume) idle.stop();
    try {
      return await consume(res, errContext, idleDuringConsume ? touch : () => {});
    } catch (err) {
      if (err instanceof NatsBridgeError) throw err;
      throw new RetryableError(0, err);
    }
  } finally {
    idle.stop();
  }
}

function contentLength(res: Response): number | undefined {
  const n = Number(res.headers.get("content-length") ?? NaN);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Reads the body into one buffer, sized up front (within reason) when the size is known. */
async function readBody(
  res: Response,
  total: number | undefined,
  cap: number | undefined,
  errContext: ErrContext,
  progress: (done: number) => void,
): Promise<Uint8Array> {
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  let out = new Uint8Array(Math.min(total ?? 64 * 1024, MAX_PREALLOCATION));
  let done = 0;
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    if (cap !== undefined && done + value.byteLength > cap) {
      await reader.cancel();
      throw tooLarge(errContext, cap, done + value.byteLength);
    }
    if (done + value.byteLength > out.byteLength) {
      // Grow straight to the announced size once the bytes prove it real, so
      // the result is exact (no slack, no slice a worker cannot take).
      const want = Math.max(out.byteLength * 2, done + value.byteLength);
      const grown = new Uint8Array(total !== undefined && total >= done + value.byteLength ? Math.min(want, total) : want);
      grown.set(out.subarray(0, done));
      out = grown;
    }
    out.set(value, done);
    done += value.byteLength;
    progress(done);
  }
  return done === out.byteLength ? out : out.subarray(0, done);
}

function tooLarge(errContext: ErrContext, expected: number, got: number): DownloadError {
  return new DownloadError(
    `Payload ${errContext.label} download exceeds its announced size of ${expected} bytes (got at least ${got})`,
    errContext,
    "PAYLOAD_TOO_LARGE",
  );
}
