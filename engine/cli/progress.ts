/**
 * Progress bars for link uploads and downloads, drawn on stderr only when it
 * is a terminal (and never with `--json`): one line per transfer, redrawn in
 * place at most ten times a second and once more when a transfer completes.
 *
 * @module
 */
import type { ProgressCallback, TransferProgress } from "../types.ts";
import { formatBytes, type Output } from "./io.ts";
import { printable } from "../printable.ts";

/** Draws progress, or does nothing. */
export interface Progress {
  /** The `on_progress` option to pass to natsbridge, `undefined` when bars are off. */
  readonly onProgress: ProgressCallback | undefined;
  /** Draws the final state and leaves the cursor below the bars. */
  finish(): Promise<void>;
}

const BAR = 24;
const INTERVAL_MS = 100;

/**
 * Makes the progress display for one command run.
 *
 * @param out The command's output; bars are drawn only when `out.stderrIsTTY` and not `out.json`.
 * @returns The display.
 */
export function progressBars(out: Output): Progress {
  if (!out.stderrIsTTY || out.json) {
    return {
      onProgress: undefined,
      finish: () => Promise.resolve(),
    };
  }
  const transfers = new Map<string, TransferProgress>();
  let drawn = 0;
  let last = 0;
  let dirty = false;
  let pending: Promise<void> = Promise.resolve();

  const draw = () => {
    const width = Math.max(40, out.columns - 1);
    let text = drawn > 0 ? `\x1b[${drawn}A` : "";
    for (const t of transfers.values()) text += `\r\x1b[2K${barLine(t, width)}\n`;
    drawn = transfers.size;
    last = Date.now();
    dirty = false;
    pending = pending.then(() => out.stderr(text));
  };

  return {
    onProgress(p) {
      const key = `${p.direction}\u0000${p.dataname}`;
      const isNew = !transfers.has(key);
      transfers.set(key, { ...p });
      dirty = true;
      const complete = p.total !== undefined && p.done >= p.total;
      if (isNew || complete || Date.now() - last >= INTERVAL_MS) draw();
    },
    async finish() {
      if (dirty) draw();
      // What is printed next goes below the bars; a later transfer starts a new block.
      transfers.clear();
      drawn = 0;
      await pending;
    },
  };
}

/**
 * One progress line: `upload   big.bin  [######------]  50%  5.0 MiB / 10.0 MiB`.
 *
 * @param t The transfer.
 * @param width Columns available.
 * @returns The line.
 */
export function barLine(t: TransferProgress, width: number): string {
  const dir = t.direction === "upload" ? "upload  " : "download";
  const amount = t.total === undefined
    ? formatBytes(t.done)
    : `${formatBytes(t.done)} / ${formatBytes(t.total)}`;
  let bar: string;
  let pct: string;
  if (t.total === undefined || t.total === 0) {
    bar = `[${"#".repeat(BAR)}]`;
    pct = t.total === 0 ? "100%" : "    ";
  } else {
    const f = Math.min(1, t.done / t.total);
    const full = Math.round(f * BAR);
    bar = `[${"#".repeat(full)}${"-".repeat(BAR - full)}]`;
    pct = `${Math.floor(f * 100)}%`.padStart(4);
  }
  const fixed = `${dir}  ${bar} ${pct}  ${amount}  `;
  const room = Math.max(8, width - fixed.length);
  const shown = printable(t.dataname);
  const name = shown.length > room ? `${shown.slice(0, room - 1)}…` : shown;
  return `${fixed}${name}`;
}
