/**
 * Child processes for the interop harness: line-oriented stdout, a request /
 * reply session over stdin/stdout (the peers' `serve` mode), and stopping by
 * PID. Runs under Deno, Bun and Node (`node:child_process`).
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { createInterface } from "node:readline";

/** A started process whose stdout is read line by line. */
export class LineProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  #stderr = "";
  #waiters: Array<{ pred: (l: string) => boolean; resolve: (l: string) => void }> = [];
  #listeners: Array<(l: string) => void> = [];

  /**
   * @param label Name for messages.
   * @param cmd Executable.
   * @param args Arguments.
   * @param options Working directory, extra environment, whether stderr is echoed.
   */
  constructor(
    readonly label: string,
    cmd: string,
    args: string[],
    options: { cwd?: string; env?: Record<string, string>; echoStderr?: boolean } = {},
  ) {
    this.child = spawn(cmd, args, {
      cwd: options.cwd,
      env: { ...process.env, NO_COLOR: "1", ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.child.stdin!.on("error", () => {}); // a peer that exits early must not crash the harness
    this.exited = new Promise((res) => this.child.once("close", (code) => res(code)));
    createInterface({ input: this.child.stdout!, crlfDelay: Infinity }).on("line", (line) => {
      this.lines.push(line);
      for (const l of this.#listeners) l(line);
      this.#waiters = this.#waiters.filter((w) => (w.pred(line) ? (w.resolve(line), false) : true));
    });
    this.child.stderr!.on("data", (d) => {
      this.#stderr = (this.#stderr + d).slice(-20_000);
      if (options.echoStderr) process.stderr.write(`[${label}] ${d}`);
    });
  }

  /** The last 20 kB of stderr. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Calls `fn` for each stdout line from now on. */
  onLine(fn: (line: string) => void): void {
    this.#listeners.push(fn);
  }

  /** Resolves with the first line (already seen or future) that satisfies `pred`. */
  waitForLine(pred: (l: string) => boolean, timeoutMs: number): Promise<string> {
    const seen = this.lines.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `${this.label}: no matching line within ${timeoutMs} ms\n${this.stderr.slice(-2000)}`,
          ),
        );
      }, timeoutMs);
      this.exited.then((code) => {
        clearTimeout(timer);
        reject(
          new Error(
            `${this.label} exited (${code}) before the line came\n${this.stderr.slice(-2000)}`,
          ),
        );
      });
      this.#waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  }

  /** Writes one line to stdin. */
  write(line: string): void {
    this.child.stdin!.write(line + "\n");
  }

  /** Closes stdin (a `serve` session then ends). */
  end(): void {
    this.child.stdin!.end();
  }

  /** Stops the process by PID (SIGTERM, then SIGKILL after `graceMs`). */
  async stop(graceMs = 3000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    try {
      process.kill(this.child.pid!, "SIGTERM");
    } catch { /* gone */ }
    const timer = setTimeout(() => {
      try {
        process.kill(this.child.pid!, "SIGKILL");
      } catch { /* gone */ }
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** A `serve` session: one JSON request per line in, one line out per request, in order. */
export class Session {
  readonly proc: LineProcess;
  #pending: Array<(line: string) => void> = [];
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    label: string,
    cmd: string,
    args: string[],
    options: { cwd?: string; env?: Record<string, string> } = {},
  ) {
    this.proc = new LineProcess(label, cmd, args, options);
    this.proc.onLine((line) => this.#pending.shift()?.(line));
    this.proc.exited.then(() => {
      for (const p of this.#pending.splice(0)) {
        p(JSON.stringify({ error: { code: "EXITED", message: `${label} exited` } }));
      }
    });
  }

  /** Sends one request and resolves with its reply line; requests run one at a time. */
  request(req: Record<string, unknown>, timeoutMs = 120_000): Promise<string> {
    const run = () =>
      new Promise<string>((resolve) => {
        const timer = setTimeout(() => {
          const i = this.#pending.indexOf(done);
          if (i >= 0) this.#pending.splice(i, 1);
          resolve(
            JSON.stringify({
              error: { code: "TIMEOUT", message: `no reply within ${timeoutMs} ms` },
            }),
          );
        }, timeoutMs);
        const done = (line: string) => (clearTimeout(timer), resolve(line));
        this.#pending.push(done);
        this.proc.write(JSON.stringify(req));
      });
    const p = this.#queue.then(run, run);
    this.#queue = p;
    return p;
  }

  /** Ends the session and waits for the process (stopping it after `graceMs`). */
  async close(graceMs = 10_000): Promise<void> {
    this.proc.end();
    const timer = setTimeout(() => this.proc.stop(), graceMs);
    await this.proc.exited;
    clearTimeout(timer);
  }
}

/** Runs a command to completion; resolves with its exit code and output. */
export function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; input?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: { ...process.env, NO_COLOR: "1", ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "", stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    child.stdin!.on("error", () => {});
    child.stdin!.end(options.input ?? "");
    const timer = setTimeout(() => {
      try {
        process.kill(child.pid!, "SIGKILL");
      } catch { /* gone */ }
    }, options.timeoutMs ?? 120_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
