/**
 * Command-line parsing shared by the TypeScript peer (`interop/peer.ts`) and
 * the browser peer's driver (`interop/browser/driver.ts`): the Python peer's
 * arguments, by the same long names.
 *
 * @module
 */
import { CASE_NAMES } from "./cases.ts";
import type { SendCaseOptions } from "./peer_core.ts";
import type { ReceiveLoopOptions } from "./peer_core.ts";

/** Bad arguments: exit status 2. */
export class UsageError extends Error {}

/** Parsed `--name value` arguments. */
export type Args = Record<string, string | boolean | string[]>;

const FLAGS = new Set(["one-shot"]);
const REPEATED = new Set(["allowed-origin"]);

export const USAGE =
  `usage: send    --broker URL --fileserver URL --subject S --case NAME [--threshold N] [--store plik|objectstore] [--bucket B] [--ttl SEC] [--one-shot] [--plik-token T]
       receive --broker URL --fileserver URL --subject S --count N [--timeout SEC] [--allowed-origin URL]... [--bucket B]
       expect  --case NAME [--threshold N]
       inputs  --case NAME
       cases
       serve   --broker URL --fileserver URL`;

/** Splits argv into the command and its `--name value` arguments. */
export function parseArgs(argv: string[]): { command: string; args: Args } {
  const [command, ...rest] = argv;
  if (!command) throw new UsageError("a command is required");
  const args: Args = {};
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (!a.startsWith("--")) throw new UsageError(`unexpected argument "${a}"`);
    const name = a.slice(2);
    if (FLAGS.has(name)) {
      args[name] = true;
      continue;
    }
    const value = rest[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    if (REPEATED.has(name)) ((args[name] ??= []) as string[]).push(value);
    else args[name] = value;
  }
  return { command, args };
}

/** A serve request (`{"command", ...options}`) as CLI-style arguments. */
export function argsOfRequest(req: Record<string, unknown>): Args {
  const args: Args = {};
  for (const [k, v] of Object.entries(req)) {
    if (k === "command" || v === undefined || v === null) continue;
    args[k] = typeof v === "boolean" ? v : Array.isArray(v) ? v.map(String) : String(v);
  }
  return args;
}

export function str(args: Args, name: string, required: true): string;
export function str(args: Args, name: string, required?: false): string | undefined;
export function str(args: Args, name: string, required = false): string | undefined {
  const v = args[name];
  if (v === undefined) {
    if (required) throw new UsageError(`--${name} is required`);
    return undefined;
  }
  if (typeof v !== "string") throw new UsageError(`--${name} takes one value`);
  return v;
}

export function num(args: Args, name: string, fallback?: number): number | undefined {
  const v = str(args, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    throw new UsageError(`--${name} must be a non-negative number, got "${v}"`);
  }
  return n;
}

export function caseName(args: Args): string {
  const c = str(args, "case", true);
  if (!CASE_NAMES.includes(c)) {
    throw new UsageError(`unknown case "${c}"; known: ${CASE_NAMES.join(", ")}`);
  }
  return c;
}

export function sendOptions(args: Args): SendCaseOptions {
  const store = str(args, "store") ?? "plik";
  if (store !== "plik" && store !== "objectstore") {
    throw new UsageError(`--store must be plik or objectstore`);
  }
  return {
    subject: str(args, "subject", true),
    case: caseName(args),
    fileserver: str(args, "fileserver", true),
    threshold: num(args, "threshold"),
    store,
    bucket: str(args, "bucket"),
    ttl: num(args, "ttl"),
    oneShot: args["one-shot"] === true,
    plikToken: str(args, "plik-token"),
  };
}

export function receiveOptions(args: Args): ReceiveLoopOptions {
  const count = num(args, "count");
  if (count === undefined) throw new UsageError("--count is required");
  return {
    subject: str(args, "subject", true),
    fileserver: str(args, "fileserver", true),
    count,
    timeout: num(args, "timeout", 30)!,
    allowedOrigins: (args["allowed-origin"] as string[] | undefined) ?? [],
    bucket: str(args, "bucket"),
  };
}
