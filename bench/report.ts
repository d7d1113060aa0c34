/**
 * Writes bench/RESULTS.md and bench/results.svg from bench/results/<runtime>.json
 * (bench/results/quick/ with `BENCH_QUICK=1`, written there too):
 * the command, the machine, the date, one table per runtime with each row's
 * figure, baseline, ratio, target and PASS/MISS, the missed targets with the
 * reason and its evidence (bench/_why.ts, CPU profile summaries in
 * results/profiles/), and a chart of each row's headroom against its target.
 *
 *     deno run -A bench/report.ts
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { round, type RowResult, type RunFile } from "./_harness.ts";
import { fmtNumber, formatTable } from "./_table.ts";
import { chartSvg } from "./_chart.ts";
import { WHY } from "./_why.ts";

const ROOT = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..");
const QUICK = process.env.BENCH_QUICK === "1";
const DIR = join(ROOT, "bench", "results", ...(QUICK ? ["quick"] : []));
const OUT_MD = join(QUICK ? DIR : join(ROOT, "bench"), "RESULTS.md");
const OUT_SVG = join(QUICK ? DIR : join(ROOT, "bench"), "results.svg");
// node24: Node's current LTS (scripts/setup.sh fetches it), beside the machine's Node.
const RUNTIMES = ["deno", "bun", "node", "node24"] as const;

function load(): RunFile[] {
  const runs: RunFile[] = [];
  for (const rt of RUNTIMES) {
    const f = join(DIR, `${rt}.json`);
    if (existsSync(f)) runs.push(JSON.parse(readFileSync(f, "utf8")));
  }
  if (runs.length === 0) throw new Error(`no results in ${DIR}: run bench/run.ts first`);
  return runs;
}

/** One result's headline in a cell: ratio and verdicts. */
function cell(r: RowResult | undefined): string {
  if (!r) return "—";
  const verdict = r.checks.every((c) => c.pass) ? "PASS" : "**MISS**";
  return `${fmtNumber(r.ratio)}${r.ratioLabel} ${verdict}`;
}

function details(r: RowResult): string {
  const parts = Object.entries(r.extra).map(([k, v]) => `${k}=${typeof v === "number" ? fmtNumber(v) : v}`);
  return `- **${r.id}** ${parts.join(", ")}`;
}

function profilesFor(row: number): string[] {
  const dir = join(DIR, "profiles");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.startsWith(`row${row}_`) && f.endsWith(".md"))
    .sort()
    .map((f) => `<details><summary>CPU profile: ${f.replace(/\.md$/, "")}</summary>\n\n${readFileSync(join(dir, f), "utf8").trim()}\n\n</details>`);
}

/** One case of a codec micro-benchmark file (deno bench --json's shape; tinybench writes it too). */
interface CodecBench {
  group: string;
  name: string;
  baseline: boolean;
  results: { ok?: { avg: number; n: number } }[];
}

/** The codec micro-benchmarks: per group, µs/op on each runtime and the ratio to the group's baseline. */
function codecSection(): string[] {
  const files = RUNTIMES.map((rt) => ({ rt, f: join(DIR, `codec_${rt}.json`) })).filter(({ f }) => existsSync(f));
  if (files.length === 0) return [];
  const data = files.map(({ rt, f }) => ({ rt, benches: (JSON.parse(readFileSync(f, "utf8")).benches as CodecBench[]) }));
  const out = [
    "## Codec micro-benchmarks",
    "",
    "`deno bench -A bench/codec_bench.ts` on Deno, `bench/codec_tinybench.ts` (tinybench) on Bun and Node (both versions): the",
    "same cases (`bench/codec_cases.ts`), mean µs per operation and, in brackets, the ratio to the group's",
    "baseline (the first line of each group), measured in the same run.",
    "",
  ];
  const groups = [...new Set(data.flatMap((d) => d.benches.map((b) => b.group)))];
  for (const group of groups) {
    out.push(`| ${group} | ${data.map((d) => d.rt).join(" | ")} |`);
    out.push(`| --- | ${data.map(() => "---:").join(" | ")} |`);
    const names = [...new Set(data.flatMap((d) => d.benches.filter((b) => b.group === group).map((b) => b.name)))];
    for (const name of names) {
      const cells = data.map((d) => {
        const inGroup = d.benches.filter((b) => b.group === group);
        const b = inGroup.find((x) => x.name === name);
        const base = inGroup.find((x) => x.baseline);
        const ns = b?.results[0]?.ok?.avg;
        if (ns === undefined) return "—";
        const baseNs = base?.results[0]?.ok?.avg;
        const ratio = b!.baseline || baseNs === undefined ? "" : ` (${fmtNumber(round(ns / baseNs))}×)`;
        return `${fmtNumber(round(ns / 1000))}${ratio}`;
      });
      out.push(`| ${name} | ${cells.join(" | ")} |`);
    }
    out.push("");
  }
  return out;
}

function main(): void {
  const runs = load();
  const ids = [...new Set(runs.flatMap((r) => r.results.map((x) => x.id)))];
  const byId = (run: RunFile, id: string) => run.results.find((x) => x.id === id);
  const m = runs[0].machine;
  const lines: string[] = [];
  lines.push(`# natsbridge benchmarks${QUICK ? " (quick mode)" : ""}`);
  lines.push("");
  lines.push("Every figure is set against a baseline measured in the same run, on the same machine; the machine");
  lines.push("is shared and noisy, so read the ratios, not the absolute numbers. Generated by `bench/report.ts`.");
  lines.push("");
  lines.push(`- **Command:** \`${QUICK ? "BENCH_QUICK=1 " : ""}npm run bench\` (\`bash bench/all.sh\`), which runs:`);
  for (const r of runs) lines.push(`  - ${r.version}: \`${r.command}\` (${r.seconds} s)`);
  lines.push(`- **Machine:** ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB memory, ${m.os}`);
  lines.push(`- **Date:** ${runs.map((r) => r.date).sort()[0].slice(0, 16).replace("T", " ")} UTC`);
  lines.push(`- **Chart:** [results.svg](${QUICK ? "results.svg" : "results.svg"}) — each row's headroom against its target`);
  lines.push("");
  lines.push("## Summary");
  lines.push("");
  lines.push(`| row | what | target | ${runs.map((r) => r.runtime).join(" | ")} |`);
  lines.push(`| --- | --- | --- | ${runs.map(() => "---").join(" | ")} |`);
  for (const id of ids) {
    const any = runs.map((r) => byId(r, id)).find(Boolean)!;
    lines.push(`| ${id} | ${any.name} | ${any.checks.map((c) => c.label).join("; ")} | ${runs.map((r) => cell(byId(r, id))).join(" | ")} |`);
  }
  lines.push("");

  for (const run of runs) {
    lines.push(`## ${run.version}`);
    lines.push("");
    lines.push(`\`${run.command}\` — ${run.date.slice(0, 19).replace("T", " ")} UTC, ${run.seconds} s`);
    lines.push("");
    lines.push(formatTable(run));
    lines.push("");
    lines.push("<details><summary>All figures of this run</summary>");
    lines.push("");
    for (const r of run.results) lines.push(details(r));
    lines.push("");
    lines.push("</details>");
    lines.push("");
  }

  lines.push(...codecSection());

  const missed = ids.filter((id) => runs.some((r) => byId(r, id)?.checks.some((c) => !c.pass)));
  const errors = runs.flatMap((r) => r.errors.map((e) => ({ ...e, runtime: r.runtime })));
  lines.push("## Missed targets, and why");
  lines.push("");
  if (missed.length === 0 && errors.length === 0) lines.push("None: every target was met on every runtime.");
  const profiled = new Set<number>();
  for (const id of missed) {
    const any = runs.map((r) => byId(r, id)).find(Boolean)!;
    lines.push(`### ${id} — ${any.name}`);
    lines.push("");
    for (const run of runs) {
      const r = byId(run, id);
      if (!r) continue;
      const miss = r.checks.filter((c) => !c.pass).map((c) => `${c.label}: got ${fmtNumber(c.actual)}`);
      lines.push(`- ${run.runtime}: ${miss.length ? `**MISS** (${miss.join("; ")})` : "PASS"}`);
    }
    lines.push("");
    const why = WHY[id];
    lines.push(why ? why({ runs, get: (rt, i) => runs.find((r) => r.runtime === rt)?.results.find((x) => x.id === i) }).trim() : "_No explanation written for this row yet._");
    lines.push("");
    if (!profiled.has(any.row)) {
      profiled.add(any.row);
      const profs = profilesFor(any.row);
      if (profs.length) {
        lines.push(...profs.flatMap((p) => [p, ""]));
      }
    }
  }
  for (const e of errors) lines.push(`- **row ${e.row} failed on ${e.runtime}:** ${e.message}`);
  lines.push("");

  writeFileSync(OUT_MD, lines.join("\n"));
  writeFileSync(OUT_SVG, chartSvg(runs));
  console.log(`wrote ${OUT_MD} and ${OUT_SVG}`);
}

main();
