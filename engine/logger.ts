/**
 * Logging in the spec's `[timestamp] [Correlation: id] message` form, through a
 * pluggable {@link Logger} so applications can route lines to their own sink.
 *
 * @module
 */
import { printable } from "./printable.ts";

/**
 * Severity of a log line.
 *
 * @example Keeping warnings and errors only
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Logger, LogLevel } from "natsbridge";
 * const kept: string[] = [];
 * const wanted: ReadonlySet<LogLevel> = new Set(["warn", "error"]);
 * const logger: Logger = { log: (level, line) => void (wanted.has(level) && kept.push(line)) };
 * logger.log("info", "[t] [Correlation: c] Message published to chat", { timestamp: "t", correlationId: "c", message: "" });
 * assert.equal(kept.length, 0);
 * ```
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * Receives natsbridge's log events. `line` is already formatted as the spec
 * wants; structured fields are passed too for loggers that prefer them.
 *
 * @example Collecting lines in memory
 * ```ts
 * import type { Logger } from "natsbridge";
 * const lines: string[] = [];
 * const logger: Logger = { log: (_level, line) => lines.push(line) };
 * ```
 */
export interface Logger {
  /**
   * Receives one log event.
   *
   * @param level Severity.
   * @param line The formatted `[timestamp] [Correlation: id] message` line.
   * @param fields The same facts, unformatted.
   */
  log(
    level: LogLevel,
    line: string,
    fields: { timestamp: string; correlationId: string; message: string },
  ): void;
  /**
   * Optional: whether lines of `level` are kept at all. When it says no,
   * natsbridge does not even format the line (a send logs at "info").
   */
  enabled?(level: LogLevel): boolean;
}

/**
 * Formats one log line as the spec does.
 *
 * @param correlationId Correlation id of the message concerned (`""` if none).
 * @param message What happened.
 * @param at Time of the event; now by default.
 * @returns `[<ISO timestamp>] [Correlation: <id>] <message>`.
 *
 * @example
 * ```ts
 * import { formatLogLine } from "natsbridge";
 * const line = formatLogLine("abc", "Message published to chat", new Date(0));
 * console.log(line); // "[1970-01-01T00:00:00.000Z] [Correlation: abc] Message published to chat"
 * ```
 */
export function formatLogLine(correlationId: string, message: string, at: Date = new Date()): string {
  // Ids and names in a message may come from a peer: no escape sequences reach a terminal or a log.
  return `[${at.toISOString()}] [Correlation: ${printable(correlationId)}] ${printable(message)}`;
}

/**
 * A logger that writes lines at or above `minLevel` to the console
 * (stderr-bound methods, so stdout stays free for the application's output).
 *
 * @param minLevel Lowest level written; `"warn"` by default, so a library call
 *   stays quiet unless something goes wrong.
 * @returns A {@link Logger}.
 *
 * @example
 * ```ts
 * import { consoleLogger } from "natsbridge";
 * const logger = consoleLogger("info");
 * ```
 */
export function consoleLogger(minLevel: LogLevel = "warn"): Logger {
  const threshold = LEVEL_RANK[minLevel];
  return {
    enabled: (level) => LEVEL_RANK[level] >= threshold,
    log(level, line) {
      if (LEVEL_RANK[level] < threshold) return;
      if (level === "error") console.error(line);
      else console.warn(line);
    },
  };
}

/**
 * A logger that drops everything.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { silentLogger, smartsend } from "natsbridge";
 * const [env] = await smartsend("chat", [["m", "hi", "text"]], { is_publish: false, logger: silentLogger });
 * assert.equal(env.payloads.length, 1);
 * ```
 */
export const silentLogger: Logger = Object.freeze({ log() {}, enabled: () => false });

/** Formats and emits one event; the single place that builds log lines. */
export function logEvent(
  logger: Logger,
  level: LogLevel,
  correlationId: string,
  message: string,
): void {
  if (logger.enabled?.(level) === false) return;
  const at = new Date();
  logger.log(level, formatLogLine(correlationId, message, at), {
    timestamp: at.toISOString(),
    correlationId,
    message,
  });
}
