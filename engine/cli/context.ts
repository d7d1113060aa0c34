/**
 * What every command gets: a way to its output and the signal that Ctrl-C
 * (SIGINT) or SIGTERM aborts.
 *
 * @module
 */
import type { Output } from "./io.ts";

/** The environment of one command run. */
export interface CommandContext {
  /** stdout/stderr, in `--json` mode or not. */
  output(json: boolean): Output;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
}

/** A command: arguments after its name in, exit code out. Errors it throws are reported by `main`. */
export type Command = (argv: string[], ctx: CommandContext) => Promise<number>;
