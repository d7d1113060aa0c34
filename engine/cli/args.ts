/**
 * Command-line parsing on `node:util` `parseArgs` (Node, Deno and Bun all ship
 * it): the flags each command takes, and the small value parsers (durations,
 * counts) that turn a bad value into a {@link UsageError} naming the flag.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { MAX_TIMER_MS } from "../config.ts";
import { MAX_TTL_SECONDS } from "../handlers/object_store.ts";
import { UsageError } from "./exit_codes.ts";

/** One flag, as `parseArgs` takes it. */
type Flag = { type: "string" | "boolean"; multiple?: boolean; short?: string };
/** Flags by long name. */
export type FlagSpec = Record<string, Flag>;

/** Flags every command takes. */
export const COMMON_FLAGS: FlagSpec = {
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
  verbose: { type: "boolean", short: "v" },
};

/** Where NATS and the file store are. */
export const CONNECTION_FLAGS: FlagSpec = {
  broker: { type: "string" },
  fileserver: { type: "string" },
  "plik-token": { type: "string" },
  store: { type: "string" },
  ttl: { type: "string" },
  "one-shot": { type: "boolean" },
  "max-bytes": { type: "string" },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  creds: { type: "string" },
  nkey: { type: "string" },
};

/** What a receiving command does with payloads. */
export const RECEIVE_FLAGS: FlagSpec = {
  out: { type: "string" },
  "allow-origin": { type: "string", multiple: true },
};

/** Payloads to send, in command-line order. */
export const PAYLOAD_FLAGS: FlagSpec = {
  text: { type: "string", multiple: true },
  dict: { type: "string", multiple: true },
  table: { type: "string", multiple: true },
  file: { type: "string", multiple: true },
  name: { type: "string", multiple: true },
  as: { type: "string", multiple: true },
};

/** Envelope fields and send behaviour. */
export const ENVELOPE_FLAGS: FlagSpec = {
  purpose: { type: "string" },
  "correlation-id": { type: "string" },
  "msg-id": { type: "string" },
  "sender-name": { type: "string" },
  "sender-id": { type: "string" },
  "receiver-name": { type: "string" },
  "receiver-id": { type: "string" },
  "reply-to-msg-id": { type: "string" },
  metadata: { type: "string" },
  threshold: { type: "string" },
};

/** The outcome of parsing one command's arguments. */
export interface ParsedArgs {
  /** Flag values by long name. */
  values: Record<string, string | boolean | string[] | undefined>;
  /** Positional arguments after the command name. */
  positionals: string[];
  /** Options in command-line order (payload flags keep their order through these). */
  tokens: { name: string; value: string | undefined }[];
}

/**
 * Parses `argv` (without the command name) against `flags`.
 *
 * @param command Command name, for error messages.
 * @param argv Arguments after the command name.
 * @param flags Accepted flags.
 * @returns Values, positionals and ordered option tokens.
 * @throws {UsageError} On an unknown flag or a missing flag value.
 */
export function parseCommand(command: string, argv: string[], flags: FlagSpec): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: flags,
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (err) {
    throw new UsageError(cleanParseError((err as Error).message, argv), command);
  }
  const tokens = (parsed.tokens ?? [])
    .filter((t) => t.kind === "option")
    .map((t) => {
      const o = t as { name: string; value?: string };
      return { name: o.name, value: o.value };
    });
  return { values: parsed.values as ParsedArgs["values"], positionals: parsed.positionals, tokens };
}

/** parseArgs messages are long and Node-specific; keep the first sentence. */
function cleanParseError(message: string, argv: readonly string[]): string {
  // A value that starts with "-" (--text -5): the fix, which the first sentence leaves out.
  const ambiguous = /^Option '(--[^' ]+)[^']*' argument is ambiguous/.exec(message);
  const value = ambiguous ? argv[argv.indexOf(ambiguous[1]) + 1] : undefined;
  if (ambiguous && value !== undefined) {
    return `${ambiguous[1]} ${JSON.stringify(value)} looks like an option: write ${ambiguous[1]}=${value}`;
  }
  const first = message.split(/\.\s|\n/)[0].replace(/\.$/, "");
  return first.replace(/^Unknown option '([^']+)'.*$/, "unknown option $1")
    .replace(/^Option '(-[^' ]+)[^']*' argument missing.*$/, "option $1 needs a value")
    .replace(
      /^Option '(-[^' ]+)[^']*' does not take an argument.*$/,
      "option $1 does not take a value",
    );
}

/**
 * A string flag's value, or `undefined`.
 *
 * @param values Parsed values.
 * @param name Flag name.
 * @returns The value.
 */
export function stringFlag(values: ParsedArgs["values"], name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

/**
 * A repeatable string flag's values.
 *
 * @param values Parsed values.
 * @param name Flag name.
 * @returns The values, `[]` when absent.
 */
export function listFlag(values: ParsedArgs["values"], name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
}

/**
 * Parses a non-negative integer flag (`--count 3`, `--threshold 500000`).
 *
 * @param value The flag's text.
 * @param flag Flag name, for the error.
 * @param command Command, for the error.
 * @param min Smallest accepted value.
 * @returns The number.
 * @throws {UsageError} When it is not an integer ≥ `min`.
 */
export function parseCount(value: string, flag: string, command: string, min = 0): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${flag} must be an integer ≥ ${min}, got "${value}"`, command);
  }
  return n;
}

/** Milliseconds per unit a duration may be written in. */
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type DurationUnit = keyof typeof UNIT_MS;
/** What a timer may wait: days are for lifetimes a server keeps ({@link parseLifetime}). */
const TIMER_UNITS: readonly DurationUnit[] = ["ms", "s", "m", "h"];

/** `value` in milliseconds, unrounded (a bare number is seconds); NaN when it is no duration in `units`. */
function millisOf(value: string, units: readonly DurationUnit[]): number {
  const m = /^(\d+(?:\.\d+)?)([a-z]+)?$/.exec(value.trim());
  const unit = (m?.[2] ?? "s") as DurationUnit;
  return m && units.includes(unit) ? Number(m[1]) * UNIT_MS[unit] : NaN;
}

/**
 * Parses a duration: a number of seconds (`30`, `0.5`) or a number with a unit
 * (`500ms`, `10s`, `2m`).
 *
 * @param value The flag's text.
 * @param flag Flag name, for the error.
 * @param command Command, for the error.
 * @returns Milliseconds.
 * @throws {UsageError} When it is not a positive duration.
 */
export function parseDuration(value: string, flag: string, command: string): number {
  const ms = Math.round(millisOf(value, TIMER_UNITS));
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new UsageError(
      `--${flag} must be a positive duration like 30, 500ms, 10s or 2m, got "${value}"`,
      command,
    );
  }
  if (ms > MAX_TIMER_MS) {
    // 2^31 - 1 ms is 596 h 31 min: a JavaScript timer set longer fires at once.
    throw new UsageError(`--${flag} must be at most 596h (about 24.8 days), got "${value}"`, command);
  }
  return ms;
}

/**
 * A duration flag's text as messages show it: a bare number, which
 * {@link parseDuration} reads as seconds, with its unit ("within 3" said
 * nothing of one).
 *
 * @param value The flag's text.
 * @returns The text, `s` added to a bare number.
 *
 * @example
 * ```ts
 * import { durationText } from "./args.ts";
 * console.log(durationText("3"), durationText("500ms")); // "3s" "500ms"
 * ```
 */
export function durationText(value: string): string {
  return /^\s*\d*\.?\d+\s*$/.test(value) ? `${value.trim()}s` : value;
}

/**
 * Parses a lifetime the server keeps (`--ttl`): a duration as
 * {@link parseDuration} reads it, also in days (`30d`) and beyond what a
 * timer can wait, or `never`.
 *
 * @param value The flag's text.
 * @param flag Flag name, for the error.
 * @param command Command, for the error.
 * @returns Whole seconds (at least 1), or `"never"`.
 * @throws {UsageError} When it is neither.
 *
 * @example
 * ```ts
 * import { parseLifetime } from "./args.ts";
 * console.log(parseLifetime("30d", "ttl", "send"), parseLifetime("never", "ttl", "send")); // 2592000 "never"
 * ```
 */
export function parseLifetime(value: string, flag: string, command: string): number | "never" {
  if (value.trim() === "never") return "never";
  const seconds = millisOf(value, [...TIMER_UNITS, "d"]) / 1000;
  // Beyond ~292 years a server's nanoseconds overflow.
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_TTL_SECONDS) {
    throw new UsageError(`--${flag} must be a positive duration like 3600, 90m, 24h or 30d, or never, got "${value}"`, command);
  }
  return Math.max(1, Math.round(seconds));
}

/**
 * Exactly one positional argument (the subject, or the envelope file).
 *
 * @param positionals Positionals after the command.
 * @param what What the argument is, for the error.
 * @param command Command, for the error.
 * @returns The argument.
 * @throws {UsageError} When there are none or several.
 */
export function onePositional(positionals: string[], what: string, command: string): string {
  if (positionals.length === 0) throw new UsageError(`missing ${what}`, command);
  if (positionals.length > 1) {
    throw new UsageError(
      `expected one ${what}, got ${positionals.length}: ${positionals.join(" ")}`,
      command,
    );
  }
  return positionals[0];
}
