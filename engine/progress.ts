/**
 * Calling the application's `on_progress` callback without letting it break
 * the transfer it reports on.
 *
 * @module
 */
import { type Logger, logEvent } from "./logger.ts";
import type { ProgressCallback } from "./types.ts";
import { quoted } from "./printable.ts";

/**
 * The `(done, total)` reporter of one link transfer, or `undefined` without a
 * callback. A callback that throws is a bug in the application's display,
 * not a failed transfer: it is logged (once per transfer) and the bytes keep
 * moving. Left to propagate, it was retried as a network failure, and under
 * `consume` the message was naked again and again.
 *
 * `finish(size)` reports `size` of `size` unless that was the last report: a
 * transfer in which no byte flowed (an empty payload) reported nothing, and a
 * progress bar waiting for `done === total` never completed.
 *
 * @param callback The application's `on_progress`.
 * @param dataname The payload the transfer carries.
 * @param direction Upload or download.
 * @param logger Where the warning goes.
 * @param correlationId For the warning.
 * @returns The reporter.
 *
 * @example
 * ```ts
 * import { progressReporter } from "./progress.ts";
 * import { silentLogger } from "./logger.ts";
 * const report = progressReporter(({ done }) => console.log(done), "photo", "upload", silentLogger, "c-1");
 * report?.(10, 100); // 10
 * ```
 */
export function progressReporter(
  callback: ProgressCallback | undefined,
  dataname: string,
  direction: "upload" | "download",
  logger: Logger,
  correlationId: string,
): ProgressReporter | undefined {
  if (!callback) return undefined;
  let warned = false;
  let last: [number, number | undefined] | undefined;
  const report = (done: number, total: number | undefined) => {
    last = [done, total];
    try {
      callback({ dataname, direction, done, total });
    } catch (err) {
      if (warned) return;
      warned = true;
      logEvent(
        logger,
        "warn",
        correlationId,
        `on_progress threw for ${quoted(dataname)} (${direction}): ${(err as Error)?.message ?? String(err)}; the transfer goes on`,
      );
    }
  };
  return Object.assign(report, {
    finish(size: number) {
      if (last?.[0] !== size || last[1] !== size) report(size, size);
    },
  });
}

/** What {@link progressReporter} returns: `(done, total)`, and `finish(size)` once the transfer is whole. */
export type ProgressReporter = ((done: number, total: number | undefined) => void) & { finish(size: number): void };
