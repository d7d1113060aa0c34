/**
 * The results table, as Markdown: printed by bench/run.ts and embedded in
 * bench/RESULTS.md by bench/report.ts.
 *
 * @module
 */
import type { Figure, RowResult, RunFile } from "./_harness.ts";

/** `12,345 msgs/s`, `0.42 ms`. */
export function fmtFigure(f: Figure): string {
  return `${fmtNumber(f.value)} ${f.unit}`;
}

/** Thousands separators for large numbers, significant digits for small ones. */
export function fmtNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString("en-US");
  return String(x);
}

/** One Markdown table of a run. */
export function formatTable(run: RunFile): string {
  const lines = [
    "| row | what | measured | baseline | ratio | target | result |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of run.results) lines.push(rowLine(r));
  for (const e of run.errors) lines.push(`| ${e.row} | **failed to run**: ${escape(e.message)} | | | | | ERROR |`);
  return lines.join("\n");
}

function rowLine(r: RowResult): string {
  const targets = r.checks.map((c) => c.label).join("; ");
  const verdict = r.checks.map((c) => (c.pass ? "PASS" : "**MISS**")).join("; ");
  return `| ${r.id} | ${escape(r.name)} | ${fmtFigure(r.measured)} | ${escape(r.baseline.label)}: ${fmtFigure(r.baseline)} | ${
    fmtNumber(r.ratio)
  }${r.ratioLabel} | ${targets} | ${verdict} |`;
}

function escape(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}
