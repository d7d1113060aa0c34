/**
 * The default download handler: HTTP GET with the spec's exponential backoff,
 * a cap at the announced size, an idle timeout, and no redirects (a redirect
 * could lead outside the allowed origins).
 *
 * @module
 */
import { abortReason, backoffDelays, sleep } from "../backoff.ts";
import { DownloadError, NatsBridgeError } from "../errors.ts";
import { logEvent } from "../logger.ts";
import type { DownloadContext } from "../types.ts";

/** Milliseconds without a byte arriving before an attempt is abandoned. */
export const DEFAULT_IDLE_TIMEOUT = 30_000;

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
 * import { fetchWithBackoff } from "./http_download.ts";
 * const bytes = await fetchWithBackoff("http://127.0.0.1:8080/file/u/f/name", 5, 100, 5000, "corr-1");
 * ```
 */
export async function fetchWithBackoff(
  url: string,
  max_retries: number,
  base_delay: number,
  max_delay: number,
  correlation_id: string,
  context: DownloadContext = { dataname: "" },
): Promise<Uint8Array> {
  const { dataname, signal, logger } = context;
  const errContext = { correlationId: correlation_id, dataname };
  const delays = backoffDelays(Math.max(1, max_retries), base_delay, max_delay);
  let lastStatus = 0;
  let lastError: unknown;
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw abortReason(signal, `Download of "${dataname}"`, correlation_id);
    try {
      return await downloadOnce(url, context, errContext);
    } catch (err) {
      if (err instanceof NatsBridgeError && !(err instanceof RetryableError)) {
        if (err instanceof DownloadError) {
          throw new DownloadError(err.message, { ...errContext, attempts: attempt, status: err.status }, err.code as "PAYLOAD_GONE");
        }
        throw err;
      }
      if (signal?.aborted) throw abortReason(signal, `Download of "${dataname}"`, correlation_id);
      lastError = err instanceof RetryableError ? err.cause : err;
      lastStatus = err instanceof RetryableError ? err.status : 0;
      const delay = delays[attempt - 1];
      const why = lastStatus ? `HTTP ${lastStatus}` : (lastError as Error)?.message ?? String(lastError);
      if (delay === undefined) break;
      if (logger) {
        logEvent(logger, "warn", correlation_id, `Download of "${dataname}" failed (${why}), attempt ${attempt}/${max_retries}, retrying in ${delay} ms`);
      }
      await sleep(delay, signal);
    }
  }
  const attempts = Math.max(1, max_retries);
  throw new DownloadError(
    `Download of "${dataname}" failed after ${attempts} attempts: ${
      lastStatus ? `HTTP ${lastStatus}` : (lastError as Error)?.message ?? String(lastError)
    }`,
    { ...errContext, attempts, status: lastStatus, cause: lastError },
  );
}

/** A failure worth another attempt. */
class RetryableError extends NatsBridgeError {
  constructor(readonly status: number, cause: unknown) {
    super("DOWNLOAD_FAILED", status ? `HTTP ${status}` : String((cause as Error)?.message ?? cause), {
      cause,
    });
  }
}

async function downloadOnce(
  url: string,
  context: DownloadContext,
  errContext: { correlationId: string; dataname: string },
): Promise<Uint8Array> {
  const { expectedSize, onProgress } = context;
  const idle = new AbortController();
  const signal = context.signal ? AbortSignal.any([context.signal, idle.signal]) : idle.signal;
  let timer = setTimeout(() => idle.abort(new Error("idle timeout")), DEFAULT_IDLE_TIMEOUT);
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(new Error("idle timeout")), DEFAULT_IDLE_TIMEOUT);
  };
  try {
    let res: Response;
    try {
      res = await fetch(url, { signal, redirect: "error" });
    } catch (err) {
      throw new RetryableError(0, err);
    }
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel();
      throw new DownloadError(
        `Payload "${errContext.dataname}" is gone from the file server (HTTP ${res.status}): expired, deleted, or a one-shot file already downloaded`,
        { ...errContext, status: res.status },
        "PAYLOAD_GONE",
      );
    }
    if (!res.ok) {
      await res.body?.cancel();
      if (res.status >= 500 || res.status === 408 || res.status === 429) {
        throw new RetryableError(res.status, undefined);
      }
      throw new DownloadError(`Download of "${errContext.dataname}" refused: HTTP ${res.status}`, {
        ...errContext,
        status: res.status,
      });
    }
    const announced = Number(res.headers.get("content-length") ?? NaN);
    if (expectedSize !== undefined && Number.isFinite(announced) && announced > expectedSize) {
      await res.body?.cancel();
      throw tooLarge(errContext, expectedSize, announced);
    }
    const total = expectedSize ?? (Number.isFinite(announced) ? announced : undefined);
    try {
      return await readBody(res, total, expectedSize, errContext, (done) => {
        touch();
        onProgress?.(done, total);
      });
    } catch (err) {
      if (err instanceof NatsBridgeError) throw err;
      throw new RetryableError(0, err);
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Reads the body into one buffer, sized up front when the size is known. */
async function readBody(
  res: Response,
  total: number | undefined,
  cap: number | undefined,
  errContext: { correlationId: string; dataname: string },
  progress: (done: number) => void,
): Promise<Uint8Array> {
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  let out = new Uint8Array(total ?? 64 * 1024);
  let done = 0;
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    if (cap !== undefined && done + value.byteLength > cap) {
      await reader.cancel();
      throw tooLarge(errContext, cap, done + value.byteLength);
    }
    if (done + value.byteLength > out.byteLength) {
      const grown = new Uint8Array(Math.max(out.byteLength * 2, done + value.byteLength));
      grown.set(out.subarray(0, done));
      out = grown;
    }
    out.set(value, done);
    done += value.byteLength;
    progress(done);
  }
  return done === out.byteLength ? out : out.subarray(0, done);
}

function tooLarge(
  errContext: { correlationId: string; dataname: string },
  expected: number,
  got: number,
): DownloadError {
  return new DownloadError(
    `Payload "${errContext.dataname}" download exceeds its announced size of ${expected} bytes (got at least ${got})`,
    errContext,
    "PAYLOAD_TOO_LARGE",
  );
}
