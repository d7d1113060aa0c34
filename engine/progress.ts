/**
 * Calling the application's `on_progress` callback without letting it break
 * the transfer it reports on.
 *
 * @module
 */
import { type Logger, logEvent } from "./logger.ts";
import type { ProgressCallback } from "./types.ts";

/**
 * The `(done, total)` reporter of one link transfer, or `undefined` without a
 * callback. A callback that throws is a bug in the application's display,
 * not a failed transfer: it is logged (once per transfer) and the bytes keep
 * moving. Left to propagate, it was retried as a network failure, and under
 * `consume` the message was naked again and again.
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
): ((done: number, total: number | undefined) => void) | undefined {
  if (!callback) return undefined;
  let warned = false;
  return (done, total) => {
    try {
      callback({ dataname, direction, done, total });
    } catch (err) {
      if (warned) return;
      warned = true;
      logEvent(
        logger,
        "warn",
        correlationId,
        `on_progress threw for "${dataname}" (${direction}): ${(err as Error)?.message ?? String(err)}; the transfer goes on`,
      );
    }
  };
}
