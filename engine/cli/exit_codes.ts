/**
 * Exit codes of the `natsbridge` command and the one-line error format
 * (`natsbridge: CODE message`) every failure is reported in.
 *
 * @module
 */
import { INVALID_MESSAGE_CODES, NatsBridgeError } from "../errors.ts";
import { printable } from "../printable.ts";

/** Exit codes, documented in the README ("Command line"). */
export const EXIT = Object.freeze({
  /** Success; `inspect`: the envelope is valid. */
  OK: 0,
  /** Runtime or transport error (NATS, file server, file system); `inspect`: the envelope is invalid. */
  RUNTIME: 1,
  /** Usage error: unknown command or flag, bad flag value, unreadable or ill-formed input. */
  USAGE: 2,
  /** A received envelope or payload is invalid (bad envelope, checksum or size mismatch, refused origin, …). */
  INVALID: 3,
  /** Timed out (`request --timeout`, `listen --timeout`). */
  TIMEOUT: 4,
  /** Interrupted (Ctrl-C, SIGTERM). */
  INTERRUPTED: 130,
});

/** A mistake on the command line: unknown flag, missing argument, bad value. */
export class UsageError extends Error {
  /** Command whose help the message points to, or `""` for the top level. */
  readonly command: string;
  /**
   * Creates a usage error.
   *
   * @param message What is wrong, naming the flag or value.
   * @param command The command concerned, for the `--help` hint.
   */
  constructor(message: string, command = "") {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** Error codes caused by what the user typed or pointed at. */
const USAGE_CODES: ReadonlySet<string> = new Set(["INVALID_OPTION", "INVALID_INPUT"]);

/**
 * The exit code for an error.
 *
 * @param err Anything thrown.
 * @returns One of {@link EXIT}.
 */
export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError) return EXIT.USAGE;
  const code = codeOf(err);
  if (code === "TIMEOUT") return EXIT.TIMEOUT;
  if (code === "ABORTED") return EXIT.INTERRUPTED;
  if (INVALID_MESSAGE_CODES.has(code)) return EXIT.INVALID;
  if (USAGE_CODES.has(code)) return EXIT.USAGE;
  return EXIT.RUNTIME;
}

/**
 * The stable code shown for an error: the natsbridge `code`, `USAGE` for a
 * usage error, the Node `code` of a system error (`ENOENT`, …), else `ERROR`.
 *
 * @param err Anything thrown.
 * @returns The code.
 */
export function codeOf(err: unknown): string {
  if (err instanceof UsageError) return "USAGE";
  if (err instanceof NatsBridgeError) return err.code;
  const code = (err as { code?: unknown })?.code;
  // natsbridge errors from another copy of the module (lib/ vs source) still carry a code.
  if (typeof code === "string" && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
  return "ERROR";
}

/**
 * Formats an error as the single stderr line `natsbridge: CODE message`.
 *
 * @param err Anything thrown.
 * @returns The line, without a newline; the message is flattened to one line.
 */
export function errorLine(err: unknown): string {
  let message = err instanceof Error ? err.message : String(err);
  if (err instanceof UsageError) {
    message += ` (see: natsbridge ${err.command ? `${err.command} ` : ""}--help)`;
  }
  // A message quotes what a peer sent (a dataname, a URL): a control character
  // in it would move the cursor or recolour the screen of whoever reads stderr.
  return `natsbridge: ${codeOf(err)} ${printable(message.replace(/\s*\n\s*/g, " ").trim())}`;
}
