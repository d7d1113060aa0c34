const rss = () => Math.round(((globalThis as any).process?.memoryUsage?.().rss ?? 0) / 1048576);
import process from "node:process";
const mode = process.argv[2] ?? "keep";
const base = process.memoryUsage().rss;
let peak = 0;
let sink = 0;
for (let i = 0; i < 4096; i++) {
  const b = new Uint8Array(256 * 1024);
  b[i % 1000] = 1;
  sink += b[5];
  if (mode === "xfer") (b.buffer as any).transfer(0);
  if (i % 16 === 0) { const r = process.memoryUsage().rss - base; if (r > peak) peak = r; await new Promise(r=>setTimeout(r,0)); }
}
console.log(mode, "peak above base MiB", Math.round(peak / 1048576), typeof (ArrayBuffer.prototype as any).transfer);
