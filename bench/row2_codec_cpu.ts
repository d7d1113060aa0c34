/**
 * Row 2 — encode and decode cost of one 10 KiB binary payload, in process, against
 * the spec's 50 ms budget: `smartsend(…, { is_publish: false })` (bytes → envelope
 * JSON, checksum on) and `smartreceive(json)` (JSON → bytes, checksum verified).
 * Wall time per op in a tight loop, median of batches; CPU time
 * (`process.cpuUsage`) per op beside it. The naive JSON+base64 codec of row 1
 * is timed the same way for scale.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import { smartreceive, smartsend } from "natsbridge";
import { type BenchContext, check, KiB, median, now, randomBytes, result, type RowResult, size } from "./_harness.ts";

const SPEC_MS = 50;

/** µs per op of `fn`: median over `batches` batches of `per` calls, after a warm-up; and CPU µs per op. */
export async function microsPerOp(
  fn: () => Promise<unknown> | unknown,
  per: number,
  batches: number,
): Promise<{ wall: number; cpu: number | undefined }> {
  for (let i = 0; i < per; i++) await fn();
  const walls: number[] = [];
  const cpu0 = cpuMicros();
  for (let b = 0; b < batches; b++) {
    const t0 = now();
    for (let i = 0; i < per; i++) await fn();
    walls.push(((now() - t0) * 1000) / per);
  }
  const cpu1 = cpuMicros();
  return { wall: median(walls), cpu: cpu0 !== undefined && cpu1 !== undefined ? (cpu1 - cpu0) / (per * batches) : undefined };
}

function cpuMicros(): number | undefined {
  try {
    const u = process.cpuUsage();
    return u.user + u.system;
  } catch {
    return undefined;
  }
}

/** Row 2. */
export async function row2(_ctx: BenchContext): Promise<RowResult[]> {
  const bytes = randomBytes(10 * KiB);
  const per = size(2000, 500);
  const batches = size(7, 3);
  const [, json] = await smartsend("bench.codec", [["payload", bytes, "binary"]], { is_publish: false });
  const naiveJson = JSON.stringify({ dataname: "payload", data: Buffer.from(bytes).toString("base64") });

  const enc = await microsPerOp(() => smartsend("bench.codec", [["payload", bytes, "binary"]], { is_publish: false }), per, batches);
  const dec = await microsPerOp(() => smartreceive(json), per, batches);
  const naiveEnc = await microsPerOp(
    () => JSON.stringify({ dataname: "payload", data: Buffer.from(bytes).toString("base64") }),
    per,
    batches,
  );
  const naiveDec = await microsPerOp(() => Buffer.from(JSON.parse(naiveJson).data, "base64"), per, batches);
  // Two steps of smartsend's publish, timed alone on this envelope: the non-ASCII regex scan
  // (send.ts byteLength) and the UTF-8 encode it stands in for (which nats.js's publish does anyway).
  const encoder = new TextEncoder();
  // deno-lint-ignore no-control-regex
  const scan = await microsPerOp(() => /[^\x00-\x7f]/.test(json), per, batches);
  const utf8 = await microsPerOp(() => encoder.encode(json), per, batches);

  const spec = { label: "spec budget", value: SPEC_MS * 1000, unit: "µs" };
  return [
    result({
      row: 2,
      id: "2a",
      name: "encode 10 KiB (smartsend is_publish:false)",
      measured: { label: "smartsend → envelope JSON", value: enc.wall, unit: "µs/op" },
      baseline: spec,
      ratio: enc.wall / (SPEC_MS * 1000),
      ratioLabel: "× 50 ms",
      checks: [check("≤ 50 ms", enc.wall / 1000, "<=", SPEC_MS)],
      extra: {
        cpu_us_op: enc.cpu ?? "n/a",
        naive_encode_us_op: naiveEnc.wall,
        vs_naive: enc.wall / naiveEnc.wall,
        envelope_bytes: json.length,
        envelope_regex_scan_us: scan.wall,
        envelope_utf8_encode_us: utf8.wall,
      },
    }),
    result({
      row: 2,
      id: "2b",
      name: "decode 10 KiB (smartreceive of the JSON)",
      measured: { label: "smartreceive(json)", value: dec.wall, unit: "µs/op" },
      baseline: spec,
      ratio: dec.wall / (SPEC_MS * 1000),
      ratioLabel: "× 50 ms",
      checks: [check("≤ 50 ms", dec.wall / 1000, "<=", SPEC_MS)],
      extra: { cpu_us_op: dec.cpu ?? "n/a", naive_decode_us_op: naiveDec.wall, vs_naive: dec.wall / naiveDec.wall },
    }),
  ];
}
