/**
 * Exponential backoff as the spec defines it: wait `base_delay`, then double,
 * capped at `max_delay` — and sleeps that an `AbortSignal` can cut short.
 *
 * @module
 */
import { AbortedError } from "./errors.ts";

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
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Throws {@link AbortedError} if `signal` has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string, correlationId = ""): void {
  if (signal?.aborted) throw abortReason(signal, what, correlationId);
}

/** The error an aborted operation rejects with. */
export function abortReason(signal: AbortSignal, what = "Operation", correlationId = ""): AbortedError {
  const reason = signal.reason;
  if (reason instanceof AbortedError) return reason;
  return new AbortedError(`${what} aborted`, { correlationId, cause: reason });
}
