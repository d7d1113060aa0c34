/**
 * Summarizes V8 `.cpuprofile` files (from `node --cpu-prof` or
 * `deno run --cpu-prof`): the functions with the most self time, with their
 * file and line, as a Markdown table.
 *
 *     deno run -A bench/cpuprof.ts <profile.cpuprofile> [top=15] > summary.md
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Self time per function (ms and share of samples), heaviest first. */
export function topSelfTime(profile: CpuProfile, top = 15): { name: string; where: string; ms: number; share: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0) || 1;
  const agg = new Map<string, { name: string; where: string; us: number }>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const file = f.url.replace(/^file:\/\//, "").replace(/.*\/node_modules\//, "").replace(/.*\/(natsbridge|main)\//, "");
    const where = file ? `${file}:${f.lineNumber + 1}` : "(native)";
    const name = f.functionName || "(anonymous)";
    const key = `${name}@${where}`;
    const a = agg.get(key) ?? { name, where, us: 0 };
    a.us += us;
    agg.set(key, a);
  }
  return [...agg.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((a) => ({ name: a.name, where: a.where, ms: Math.round(a.us / 100) / 10, share: Math.round((a.us / total) * 1000) / 10 }));
}

/** The summary as a Markdown table. */
export function summaryMarkdown(profile: CpuProfile, top = 15): string {
  const rows = topSelfTime(profile, top);
  const wall = Math.round((profile.endTime - profile.startTime) / 1000);
  return [
    `profile: ${profile.samples.length} samples over ${wall} ms`,
    "",
    "| self ms | share | function | where |",
    "| ---: | ---: | --- | --- |",
    ...rows.map((r) => `| ${r.ms} | ${r.share}% | \`${r.name}\` | ${r.where} |`),
  ].join("\n");
}

if (import.meta.main ?? (process.argv[1] && import.meta.url.endsWith(process.argv[1]))) {
  const [file, top] = process.argv.slice(2);
  console.log(summaryMarkdown(JSON.parse(readFileSync(file, "utf8")), Number(top ?? 15)));
}
