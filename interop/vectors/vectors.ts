/**
 * Shared by the vector generator (`generate.ts`) and the TypeScript vector test
 * (`vectors_test.ts`): where the vectors live, the fixed ids, how an envelope
 * is pinned, and how the TypeScript side builds a case's envelope.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { smartsend } from "natsbridge";
import { sendItemsOf } from "../common/cases.ts";
import { CASES } from "../common/cases.ts";

/** This folder, found from the repository root (also when this module is bundled elsewhere). */
export const VECTORS_DIR: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "deno.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, "interop", "vectors");
})();

/** The fixed ids and timestamp every vector carries (`fixed.json`). */
export interface Fixed {
  correlation_id: string;
  msg_id: string;
  sender_id: string;
  timestamp: string;
  broker_url: string;
  subject_prefix: string;
  payload_id_prefix: string;
}

/** Reads `fixed.json`. */
export function loadFixed(): Fixed {
  return JSON.parse(readFileSync(join(VECTORS_DIR, "fixed.json"), "utf8"));
}

/** Cases that have no vector: vectors are direct transport only, and a link cannot be fetched later. */
export const SKIPPED_CASES: readonly string[] = ["large_link"];

/** The cases that have vectors, in order. */
export const VECTOR_CASES: readonly string[] = CASES.map((c) => c.name).filter((c) =>
  !SKIPPED_CASES.includes(c)
);

/**
 * Pins what `smartsend` cannot be told: the timestamp, and each payload's `id`
 * (the i-th becomes `<payload_id_prefix><i+1, 12 digits>`). Textual, so every
 * other byte of the envelope stays as the sender wrote it.
 */
export function pin(text: string, fixed: Fixed): string {
  let n = 0;
  const out = text
    .replace(/("timestamp"\s*:\s*)"[^"]*"/, (_, k) => `${k}"${fixed.timestamp}"`)
    .replace(
      /("id"\s*:\s*)"[^"]*"/g,
      (_, k) => `${k}"${fixed.payload_id_prefix}${String(++n).padStart(12, "0")}"`,
    );
  return out;
}

/** The TypeScript envelope of a case, as natsbridge's smartsend writes it, pinned. */
export async function tsEnvelope(caseName: string, fixed: Fixed): Promise<string> {
  const items = CASES.find((c) => c.name === caseName)!.items();
  const [, json] = await smartsend(fixed.subject_prefix + caseName, sendItemsOf(items) as never, {
    is_publish: false,
    broker_url: fixed.broker_url,
    correlation_id: fixed.correlation_id,
    msg_id: fixed.msg_id,
    sender_id: fixed.sender_id,
    sender_name: "natsbridge-ts-peer",
    size_threshold: 10_000_000,
    logger: { log() {} },
  });
  return pin(json, fixed);
}

/** A payload of a vector as it must decode. */
export interface VectorPayload {
  dataname: string;
  payload_type: string;
  transport: "direct";
  encoding: string;
  size: number;
  /** `metadata.checksum` in the envelope. */
  checksum: string;
  /** SHA-256 of the serialized bytes the payload carries (its base64 decoded), computed by the generator. */
  bytes_sha256: string;
  /** The canonical rendering of the decoded value (the Python peer's `expect`). */
  value: unknown;
}

/** One vector file. */
export interface Vector {
  case: string;
  peer: "ts" | "python";
  /** The envelope exactly as the peer wrote it (then pinned). */
  envelope_json: string;
  expected: {
    /** The 13 envelope fields besides `payloads`, as a receiver must return them. */
    envelope: Record<string, unknown>;
    payloads: VectorPayload[];
  };
}

/** An entry of `manifest.json`. */
export interface ManifestEntry {
  file: string;
  peer: "ts" | "python";
  case: string;
  /** SHA-256 of the vector file. */
  sha256: string;
}

/** `manifest.json`. */
export interface Manifest {
  format: string;
  fixed: Fixed;
  skipped_cases: string[];
  vectors: ManifestEntry[];
}

/** Reads `manifest.json` and every vector it lists. */
export function loadVectors(): {
  manifest: Manifest;
  vectors: Array<{ entry: ManifestEntry; text: string; vector: Vector }>;
} {
  const manifest = JSON.parse(readFileSync(join(VECTORS_DIR, "manifest.json"), "utf8")) as Manifest;
  const vectors = manifest.vectors.map((entry) => {
    const text = readFileSync(join(VECTORS_DIR, entry.file), "utf8");
    return { entry, text, vector: JSON.parse(text) as Vector };
  });
  return { manifest, vectors };
}
