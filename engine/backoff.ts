/**
 * Exponential backoff as the spec defines it: wait `base_delay`, then double,
 * capped at `max_delay` — and sleeps that an `AbortSignal` can cut short.
 *
 * @module
 */
import { AbortedError } from "./errors.ts";
import { followAbort } from "./linked_abort.ts";

/**
 * The delays (ms) between `attempts` tries: one fewer than the attempts.
 *
 * @param attempts Total tries (the spec's `max_retries`).
 * @param baseDelay First delay, ms.
 * @param maxDelay Cap, ms.
 * @returns The delays in order.
 *
 * @example
 * ```ts
 * import { backoffDelays } from "./backoff.ts";
 * console.log(backoffDelays(5, 100, 5000)); // [100, 200, 400, 800]
 * ```
 */
export function backoffDelays(attempts: number, baseDelay: number, maxDelay: number): number[] {
  const delays: number[] = [];
  let delay = Math.min(baseDelay, maxDelay);
  for (let i = 1; i < attempts; i++) {
    delays.push(delay);
    delay = Math.min(delay * 2, maxDelay);
  }
  return delays;
}

/**
 * How uploads that can be made again (bytes, files, Blobs) retry a transient
 * failure: 4 attempts, 250 ms doubling to 2 s between them.
 */
export const UPLOAD_RETRY = { attempts: 4, baseDelay: 250, maxDelay: 2000 } as const;

/** Options of {@link retry}. */
export interface RetryOptions {
  /** Total attempts (at least one is made). */
  attempts: number;
  /** First delay, ms. */
  baseDelay: number;
  /** Longest delay, ms. */
  maxDelay: number;
  /** Cuts a wait short with {@link AbortedError}. */
  signal?: AbortSignal | undefined;
  /** Errors for which another attempt cannot help: thrown as they are. */
  isFinal?: ((err: unknown) => boolean) | undefined;
  /** Called before each wait (for a log line). */
  onRetry?: ((err: unknown, attempt: number, delay: number) => void) | undefined;
  /** The error to throw once the last attempt has failed. */
  exhausted: (err: unknown, attempts: number) => Error;
}

/**
 * Runs `fn` until it succeeds, waiting the {@link backoffDelays} between
 * attempts: the one retry loop of the download, upload and publish paths.
 *
 * @param fn The operation; gets the attempt number (from 1).
 * @param options Attempts, delays, which errors are final, the give-up error.
 * @returns What `fn` returned.
 *
 * @example
 * ```ts
 * import { retry } from "./backoff.ts";
 * let calls = 0;
 * const v = await retry(async () => {
 *   if (++calls < 3) throw new Error("busy");
 *   return "done";
 * }, { attempts: 5, baseDelay: 1, maxDelay: 4, exhausted: (e) => e as Error });
 * console.log(v, calls); // "done" 3
 * ```
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const delays = backoffDelays(Math.max(1, options.attempts), options.baseDelay, options.maxDelay);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (options.isFinal?.(err)) throw err;
      const delay = delays[attempt - 1];
      if (delay === undefined) throw options.exhausted(err, attempt);
      options.onRetry?.(err, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}

/**
 * Resolves after `ms`, or rejects with {@link AbortedError} as soon as `signal` aborts.
 *
 * @param ms Milliseconds.
 * @param signal Optional cancellation.
 * @returns A promise.
 *
 * @example
 * ```ts
 * import { sleep } from "./backoff.ts";
 * await sleep(1);
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const timer = setTimeout(() => {
      unfollow();
      resolve();
    }, ms);
    const unfollow = signal
      ? followAbort(signal, () => {
        clearTimeout(timer);
        reject(abortReason(signal));
      })
      : () => {};
  });
}

/**
 * `work`, unless `ms` pass first (it rejects with `late()`) or `signal`
 * aborts (with {@link AbortedError}). `work` itself goes on: a timer cannot
 * stop it, and its own settling later stays handled. Each call has its own
 * timer and listener, both gone when it settles, so nothing keeps `work`'s
 * result reachable afterwards.
 *
 * @param work What to wait for.
 * @param ms Longest wait.
 * @param late The error for a wait that ran out.
 * @param signal Optional cancellation.
 * @param what What an abort says was aborted.
 * @param correlationId Correlation id for the abort error.
 * @returns What `work` resolves to.
 *
 * @example
 * ```ts
 * import { settleWithin } from "./backoff.ts";
 * const n = await settleWithin(Promise.resolve(42), 1000, () => new Error("too slow"));
 * console.log(n); // 42
 * ```
 */
export async function settleWithin<T>(
  work: Promise<T>,
  ms: number,
  late: () => Error,
  signal?: AbortSignal,
  what = "Operation",
  correlationId = "",
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let unfollow = () => {};
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
    if (!signal) return;
    const onAbort = () => reject(abortReason(signal, what, correlationId));
    if (signal.aborted) onAbort();
    else unfollow = followAbort(signal, onAbort);
  });
  try {
    return await Promise.race([work, guard]);
  } finally {
    clearTimeout(timer);
    unfollow();
  }
}

/**
 * `work`, or {@link AbortedError} as soon as `signal` aborts, for waits on
 * things that take no signal themselves (a nats.js ack, a caller's stream).
 * `work` itself goes on; its outcome is then ignored.
 *
 * @param work What to wait for.
 * @param signal Cancellation; without one, `work` is returned as it is.
 * @param what What an abort says was aborted.
 * @param correlationId Correlation id for the abort error.
 * @returns What `work` resolves to.
 *
 * @example
 * ```ts
 * import { untilAborted } from "./backoff.ts";
 * const n = await untilAborted(Promise.resolve(42), new AbortController().signal, "Read");
 * console.log(n); // 42
 * ```
 */
export function untilAborted<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  what = "Operation",
  correlationId = "",
): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => {}); // its failure, if any, is no longer anyone's
    return Promise.reject(abortReason(signal, what, correlationId));
  }
  return new Promise<T>((resolve, reject) => {
    const unfollow = followAbort(signal, () => {
      work.catch(() => {});
      reject(abortReason(signal, what, correlationId));
    });
    work.then(resolve, reject).finally(unfollow);
  });
}

/** Throws {@link AbortedError} if `signal` has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string, correlationId = ""): void {
  if (signal?.aborted) throw abortReason(signal, what, correlationId);
}

/** The error an aborted operation rejects with. */
export function abortReason(signal: AbortSignal, what = "Operation", correlationId = ""): AbortedError {
  const reason = signal.reason;
  // Ours, passed down from an operation this one is part of, is kept; another
  // transfer's (an app cancelling a group with the error one raised) is the
  // cause of this one's own.
  if (reason instanceof AbortedError && (!correlationId || !reason.correlationId || reason.correlationId === correlationId)) return reason;
  return new AbortedError(`${what} aborted`, { correlationId, cause: reason });
}
