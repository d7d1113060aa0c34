/**
 * The demo: starts nats-server (JetStream) and the Plik-compatible file
 * server on loopback, runs a receiver in its own process, sends it one mixed
 * message — text, a PNG image, a dictionary and a 1,000,000-row Arrow table
 * that goes by link — and prints what the receiver got.
 *
 *     deno run -A scripts/demo.ts            (or: bash scripts/demo.sh)
 *
 * @module
 */
import { spawn } from "node:child_process";
import { deflateSync } from "node:zlib";
import process from "node:process";
import { tableFromArrays } from "apache-arrow";
import { Bridge, consoleLogger, type ReceivedEnvelope } from "../mod.ts";
import { ROOT, startNats, startPlik } from "./servers.ts";

const role = process.argv[2] ?? "main";

if (role === "receiver") {
  // Receiver process: prints one JSON line per message so the parent can show it.
  const [brokerUrl, fileserverUrl] = process.argv.slice(3);
  const bridge = await Bridge.connect({ broker_url: brokerUrl, fileserver_url: fileserverUrl });
  const sub = bridge.subscribe("demo.mixed");
  console.log("READY");
  for await (const env of sub) {
    console.log(JSON.stringify(describe(env)));
    break;
  }
  await bridge.close();
  process.exit(0);
}

function describe(env: ReceivedEnvelope) {
  return {
    correlation_id: env.correlation_id,
    msg_id: env.msg_id,
    sender_name: env.sender_name,
    payloads: env.payloads.map(([name, value, type]) => {
      if (type === "arrowtable") {
        const t = value as ReturnType<typeof tableFromArrays>;
        const last = t.get(t.numRows - 1)?.toJSON();
        return { name, type, rows: t.numRows, columns: t.schema.fields.map((f: { name: string; type: unknown }) => `${f.name}:${f.type}`), last_row: last };
      }
      if (value instanceof Uint8Array) {
        const png = value[1] === 0x50 && value[2] === 0x4e && value[3] === 0x47;
        return { name, type, bytes: value.byteLength, format: png ? "PNG" : "raw" };
      }
      return { name, type, value };
    }),
  };
}

/** A small real PNG (a gradient), so the image payload is an actual image. */
function makePng(w: number, h: number): Uint8Array {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Uint8Array) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, data.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(data, 8);
    dv.setUint32(8 + data.length, crc(out.subarray(4, 8 + data.length)));
    return out;
  };
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, w);
  dv.setUint32(4, h);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const raw = new Uint8Array(h * (1 + w * 3));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) raw.set([x * 255 / w, y * 255 / h, 160], y * (1 + w * 3) + 1 + x * 3);
  }
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", new Uint8Array(deflateSync(raw))),
    chunk("IEND", new Uint8Array()),
  ];
  const png = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (png.set(p, o), o += p.length);
  return png;
}

const nats = await startNats();
const plik = await startPlik();
console.log(`nats-server  ${nats.url} (pid ${nats.pid})`);
console.log(`file server  ${plik.url} (pid ${plik.pid}, Plik API)`);
try {
  const runtime = process.execPath;
  const receiver = spawn(runtime, [...(globalThis as { Deno?: unknown }).Deno ? ["run", "-A"] : [], `${ROOT}/scripts/demo.ts`, "receiver", nats.url, plik.url], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  const ready = new Promise<void>((res) => receiver.stdout!.on("data", (d) => {
    out += d;
    if (out.includes("READY")) res();
  }));
  const done = new Promise<void>((res) => receiver.on("exit", () => res()));
  await ready;

  const n = 1_000_000;
  const table = tableFromArrays({
    id: Int32Array.from({ length: n }, (_, i) => i),
    value: Float64Array.from({ length: n }, (_, i) => Math.sin(i)),
  });
  const bridge = await Bridge.connect({ broker_url: nats.url, fileserver_url: plik.url, logger: consoleLogger("info") });
  const t0 = performance.now();
  const [env] = await bridge.send("demo.mixed", [
    ["greeting", "Hello from natsbridge 👋", "text"],
    ["thumbnail", makePng(64, 48), "image"],
    ["config", { step_size: 0.01, labels: ["a", "b"], nested: { ok: true } }, "dictionary"],
    ["measurements", table, "arrowtable"],
  ], { sender_name: "natsbridge-demo" });
  console.log(`\nsent ${env.payloads.length} payloads in ${(performance.now() - t0).toFixed(0)} ms:`);
  for (const p of env.payloads) {
    console.log(`  ${p.dataname.padEnd(13)} ${p.payload_type.padEnd(11)} ${String(p.size).padStart(9)} B  ${p.transport}${p.transport === "link" ? `  ${p.data}` : ""}`);
  }
  await done;
  const line = out.split("\n").find((l) => l.startsWith("{"));
  console.log("\nreceiver got:");
  console.log(JSON.stringify(JSON.parse(line ?? "null"), null, 2));
  await bridge.close();
  if (!line) process.exitCode = 1;
} finally {
  await nats.stop();
  await plik.stop();
}
