/**
 * The results chart, hand-written SVG (no dependency): for each row, one bar
 * per runtime showing its headroom against the row's tightest target — actual ÷
 * target for "≥" targets, target ÷ actual for "≤" ones — on a log scale, so 1
 * (the dashed line) is exactly on target and a bar reaching past it is a PASS.
 * Each bar is labelled with the row's headline ratio.
 *
 * @module
 */
import type { RowResult, RunFile } from "./_harness.ts";
import { fmtNumber } from "./_table.ts";

const COLORS: Record<string, string> = { deno: "#2f6f9f", bun: "#c77d1e", node: "#3f8f3f", node24: "#1d5a2a" };
const MIN = 0.05;
const MAX = 100;

/** Headroom of a result against its tightest target (≥ 1: every target met). */
export function headroom(r: RowResult): number {
  const each = r.checks.map((c) =>
    !Number.isFinite(c.actual) || c.actual <= 0 ? NaN : c.op === ">=" ? c.actual / c.target : c.target / c.actual
  );
  return each.length ? Math.min(...each) : NaN;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The SVG document. */
export function chartSvg(runs: RunFile[]): string {
  const ids = [...new Set(runs.flatMap((r) => r.results.map((x) => x.id)))];
  const labelW = 330;
  const plotW = 520;
  const barH = 11;
  const groupGap = 12;
  const top = 58;
  const groupH = runs.length * (barH + 2) + groupGap;
  const height = top + ids.length * groupH + 40;
  const width = labelW + plotW + 270;
  const x = (v: number) => labelW + (Math.log10(Math.min(MAX, Math.max(MIN, v)) / MIN) / Math.log10(MAX / MIN)) * plotW;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="10" y="20" font-size="14" font-weight="bold">natsbridge benchmarks: headroom against each row's tightest target (log scale)</text>`);
  out.push(`<text x="10" y="38" fill="#555">Bar = actual ÷ target ("≥" targets) or target ÷ actual ("≤" targets); past the dashed line = PASS. Label: the row's headline ratio.</text>`);
  // Axis ticks.
  for (const t of [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]) {
    const xt = x(t);
    out.push(`<line x1="${xt.toFixed(1)}" y1="${top - 6}" x2="${xt.toFixed(1)}" y2="${height - 30}" stroke="${t === 1 ? "#c00" : "#e4e4e4"}" ${t === 1 ? 'stroke-dasharray="4 3" stroke-width="1.5"' : ""}/>`);
    out.push(`<text x="${xt.toFixed(1)}" y="${height - 16}" text-anchor="middle" fill="#555">${t}×</text>`);
  }
  ids.forEach((id, gi) => {
    const y0 = top + gi * groupH;
    const any = runs.map((r) => r.results.find((x) => x.id === id)).find(Boolean)!;
    const name = any.name.length > 52 ? `${any.name.slice(0, 50)}…` : any.name;
    out.push(`<text x="10" y="${(y0 + (runs.length * (barH + 2)) / 2 + 4).toFixed(1)}"><tspan font-weight="bold">${esc(id)}</tspan> ${esc(name)}</text>`);
    runs.forEach((run, ri) => {
      const r = run.results.find((x) => x.id === id);
      const y = y0 + ri * (barH + 2);
      if (!r) return;
      const h = headroom(r);
      const pass = r.checks.every((c) => c.pass);
      const w = Number.isFinite(h) ? x(h) - labelW : 0;
      out.push(`<rect x="${labelW}" y="${y}" width="${Math.max(1, w).toFixed(1)}" height="${barH}" fill="${COLORS[run.runtime] ?? "#888"}" opacity="${pass ? 1 : 0.55}"/>`);
      const clipped = h > MAX ? " ›" : "";
      const text = `${run.runtime}: ${fmtNumber(r.ratio)}${r.ratioLabel}${clipped} ${pass ? "PASS" : "MISS"}`;
      out.push(`<text x="${(labelW + Math.max(1, w) + 4).toFixed(1)}" y="${y + barH - 2}" fill="${pass ? "#222" : "#b00"}">${esc(text)}</text>`);
    });
  });
  out.push(`</svg>`);
  return `${out.join("\n")}\n`;
}
