/**
 * Writes the golden vectors: for every interop case but `large_link`, the
 * envelope each peer writes — TypeScript (natsbridge's smartsend, in this
 * process) and Python (`generate_python.py`, the Python peer's smartsend) —
 * with fixed ids and timestamp (`fixed.json`), and what it must decode to:
 * the envelope fields, each payload's wire facts, the SHA-256 of its bytes
 * and the canonical value (the Python peer's `expect`, the matrix's reference).
 * Files: `ts/<case>.json`, `python/<case>.json`, `manifest.json`.
 *
 * Regenerating is reproducible: the same sources give the same bytes.
 *
 * Usage: deno run -A interop/vectors/generate.ts [--check]
 *   --check  regenerate in memory and compare with the files; exit 1 on any difference
 *
 * @module
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fromBase64, sha256Hex } from "../common/bytes.ts";
import { run } from "../common/proc.ts";
import {
  type Fixed,
  loadFixed,
  type Manifest,
  pin,
  SKIPPED_CASES,
  tsEnvelope,
  type Vector,
  VECTOR_CASES,
  VECTORS_DIR,
} from "./vectors.ts";

const ROOT = join(VECTORS_DIR, "..", "..");

interface WirePayload {
  dataname: string;
  payload_type: string;
  transport: string;
  encoding: string;
  size: number;
  data: string;
  metadata: { checksum?: string };
}

async function vectorOf(
  peer: "ts" | "python",
  caseName: string,
  text: string,
  expect: { payloads: { dataname: string; payload_type: string; value: unknown }[] },
): Promise<Vector> {
  const env = JSON.parse(text) as Record<string, unknown> & { payloads: WirePayload[] };
  const { payloads: wire, ...fields } = env;
  if (wire.length !== expect.payloads.length) {
    throw new Error(`${peer}/${caseName}: payload count differs from expect`);
  }
  const payloads = await Promise.all(wire.map(async (p, i) => {
    const e = expect.payloads[i];
    if (p.transport !== "direct") {
      throw new Error(
        `${peer}/${caseName}: payload ${i} is ${p.transport}; vectors are direct only`,
      );
    }
    if (p.dataname !== e.dataname || p.payload_type !== e.payload_type) {
      throw new Error(
        `${peer}/${caseName}: payload ${i} is ${p.dataname}/${p.payload_type}, expect says ${e.dataname}/${e.payload_type}`,
      );
    }
    const bytes = p.encoding === "json" ? new TextEncoder().encode(p.data) : fromBase64(p.data);
    return {
      dataname: p.dataname,
      payload_type: p.payload_type,
      transport: "direct" as const,
      encoding: p.encoding,
      size: p.size,
      checksum: p.metadata.checksum ?? "",
      bytes_sha256: await sha256Hex(bytes),
      value: e.value,
    };
  }));
  return { case: caseName, peer, envelope_json: text, expected: { envelope: fields, payloads } };
}

async function generate(fixed: Fixed): Promise<Map<string, string>> {
  const py = await run(join(ROOT, ".venv", "bin", "python"), [
    join(VECTORS_DIR, "generate_python.py"),
  ], { cwd: ROOT });
  if (py.code !== 0) throw new Error(`generate_python.py failed:\n${py.stderr}`);
  const pyLines = py.stdout.trim().split("\n").map((l) =>
    JSON.parse(l) as {
      case: string;
      envelope_json: string;
      expect: { payloads: { dataname: string; payload_type: string; value: unknown }[] };
    }
  );
  const byCase = new Map(pyLines.map((l) => [l.case, l]));
  const files = new Map<string, string>();
  const manifest: Manifest = {
    format: "natsbridge-vectors/1",
    fixed,
    skipped_cases: [...SKIPPED_CASES],
    vectors: [],
  };
  for (const peer of ["ts", "python"] as const) {
    for (const c of VECTOR_CASES) {
      const ref = byCase.get(c);
      if (!ref) throw new Error(`generate_python.py printed no ${c}`);
      const text = peer === "ts" ? await tsEnvelope(c, fixed) : pin(ref.envelope_json, fixed);
      const body = JSON.stringify(await vectorOf(peer, c, text, ref.expect), null, 2) + "\n";
      const file = `${peer}/${c}.json`;
      files.set(file, body);
      manifest.vectors.push({
        file,
        peer,
        case: c,
        sha256: await sha256Hex(new TextEncoder().encode(body)),
      });
    }
  }
  files.set("manifest.json", JSON.stringify(manifest, null, 2) + "\n");
  return files;
}

const checkOnly = process.argv.includes("--check");
const files = await generate(loadFixed());
let differences = 0;
for (const [file, body] of files) {
  const path = join(VECTORS_DIR, file);
  const old = existsSync(path) ? readFileSync(path, "utf8") : undefined;
  if (checkOnly) {
    if (old !== body) {
      differences++;
      console.log(`differs: interop/vectors/${file}`);
    }
    continue;
  }
  mkdirSync(join(path, ".."), { recursive: true });
  if (old !== body) writeFileSync(path, body);
  console.log(`${old === body ? "unchanged" : "wrote"} interop/vectors/${file}`);
}
if (checkOnly) {
  console.log(
    differences
      ? `${differences} file(s) differ from a fresh generation`
      : `all ${files.size} files reproduce exactly`,
  );
  process.exit(differences ? 1 : 0);
}
