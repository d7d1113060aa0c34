/**
 * Files the user names on the command line (`--dict @f`, `--table`, `--file`,
 * `inspect f`, `--tls-ca`, `--creds`, …), read whole. A file that cannot be
 * read is the user's input, so it is a usage error (exit 2) in one wording
 * that says where the path came from, never a stack trace.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { UsageError } from "./exit_codes.ts";

/**
 * The usage error for a file that cannot be read.
 *
 * @param path The path as the user gave it.
 * @param from The flag or environment variable it came from, if any.
 * @param err What the read or stat threw; its `code` (`ENOENT`) is shown when it has one.
 * @param command For the error.
 * @returns `<from>: cannot read "<path>" (<code>)`.
 *
 * @example
 * ```ts
 * import { unreadableFile } from "./user_files.ts";
 * const err = unreadableFile("a.json", "--table", Object.assign(new Error("x"), { code: "ENOENT" }), "send");
 * console.log(err.message); // --table: cannot read "a.json" (ENOENT)
 * ```
 */
export function unreadableFile(path: string, from: string | undefined, err: unknown, command: string): UsageError {
  const why = (err as { code?: unknown }).code ?? (err instanceof Error ? err.message : String(err));
  return new UsageError(`${from ? `${from}: ` : ""}cannot read "${path}" (${why})`, command);
}

/**
 * Reads a file the user named, whole. Synchronous: the CLI reads such files
 * before it has anything else to do, and they are small (large `--file`
 * payloads are streamed from their path, not read here).
 *
 * @param path The path as the user gave it.
 * @param from The flag or environment variable it came from, if any.
 * @param command For the error.
 * @returns The file's bytes.
 * @throws {UsageError} The file cannot be read ({@link unreadableFile}).
 *
 * @example
 * ```ts
 * import { readUserFile } from "./user_files.ts";
 * try {
 *   readUserFile("/no/such/file", "--creds", "send");
 * } catch (err) {
 *   console.log((err as Error).message); // --creds: cannot read "/no/such/file" (ENOENT)
 * }
 * ```
 */
export function readUserFile(path: string, from: string | undefined, command: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw unreadableFile(path, from, err, command);
  }
}
