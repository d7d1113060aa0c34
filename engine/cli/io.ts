/**
 * Where the command writes: stdout for results (human lines, or one JSON
 * object per line with `--json`), stderr for errors, status and progress.
 * Writes are awaited so nothing is lost when the process exits right after.
 *
 * @module
 */
import process from "node:process";

/** The part of a Node writable stream used here. */
interface Writable {
  write(text: string, callback: () => void): unknown;
}

/** Output of one command run. */
export interface Output {
  /** `--json`: results as one JSON object per line, no status or progress. */
  readonly json: boolean;
  /** stderr is a terminal (progress bars are drawn only then). */
  readonly stderrIsTTY: boolean;
  /** Terminal width, 80 when unknown. */
  readonly columns: number;
  /** Writes a result line to stdout. */
  line(text: string): Promise<void>;
  /** Writes one JSON object as a line to stdout. */
  record(value: Record<string, unknown>): Promise<void>;
  /** Writes a status line to stderr (suppressed with `--json`). */
  status(text: string): Promise<void>;
  /** Writes raw text to stderr (errors, progress). */
  stderr(text: string): Promise<void>;
}

/**
 * Writes `text` to a Node-style stream and resolves once it was handed to the OS.
 *
 * @param stream `process.stdout` or `process.stderr`.
 * @param text What to write.
 * @returns When written.
 */
export function writeTo(stream: Writable, text: string): Promise<void> {
  return new Promise((resolve) => {
    try {
      stream.write(text, () => resolve());
    } catch {
      resolve(); // a closed pipe (`| head`) is not an error of ours
    }
  });
}

let watchingStdout = false;

/**
 * Ends the process quietly once stdout's reader has gone (`listen | head -1`):
 * nobody reads what comes next. The EPIPE arrives as an 'error' event, which
 * unhandled crashed Node and Deno with a stack trace and left Bun waiting on
 * a write callback that never came.
 */
function exitWhenStdoutCloses(): void {
  if (watchingStdout) return;
  watchingStdout = true;
  (process.stdout as unknown as { on(event: "error", listener: (err: { code?: string }) => void): void }).on("error", (err) => {
    if (err?.code === "EPIPE" || err?.code === "ERR_STREAM_DESTROYED") process.exit(0);
    process.stderr.write(`natsbridge: cannot write to stdout: ${(err as Error)?.message ?? String(err)}\n`);
    process.exit(1);
  });
}

/**
 * The process's output.
 *
 * @param json `--json` mode.
 * @returns An {@link Output}.
 */
export function processOutput(json: boolean): Output {
  exitWhenStdoutCloses();
  const err = process.stderr as unknown as { isTTY?: boolean; columns?: number };
  return {
    json,
    stderrIsTTY: err.isTTY === true,
    columns: err.columns || 80,
    line: (text) => writeTo(process.stdout, `${text}\n`),
    record: (value) => writeTo(process.stdout, `${JSON.stringify(value, jsonReplacer)}\n`),
    status: (text) => (json ? Promise.resolve() : writeTo(process.stderr, `${text}\n`)),
    stderr: (text) => writeTo(process.stderr, text),
  };
}

/** JSON.stringify replacer: bigints (Arrow Int64) as numbers when safe, else strings. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") {
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : value.toString();
  }
  return value;
}

/**
 * Reads all of stdin.
 *
 * @returns The bytes.
 */
export async function readStdin(): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Uint8Array);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * A byte count for humans: `512 B`, `1.5 KiB`, `3.2 MiB`.
 *
 * @param n Bytes.
 * @returns The text.
 */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

