import process from "node:process";
const mode = process.argv[2] ?? "keep";
const base = process.memoryUsage().rss;
let peak = 0, sink = 0;
for (let i = 0; i < 4096; i++) {
  const a = new Uint8Array(256 * 1024); a[i % 1000] = 1; sink += a[5];
  const b = new Uint8Array(256 * 1024); b[i % 1000] = 1; sink += b[5];
  if (mode === "half") (b.buffer as any).transfer(0);
  if (mode === "both") { (b.buffer as any).transfer(0); (a.buffer as any).transfer(0); }
  for (let k = 0; k < 50; k++) sink += ({ x: k, y: [k] }).y[0];
  if (i % 16 === 0) { const r = process.memoryUsage().rss - base; if (r > peak) peak = r; await new Promise(r=>setTimeout(r,0)); }
}
console.log(mode, "peak MiB", Math.round(peak / 1048576));
