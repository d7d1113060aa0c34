/**
 * Every problem of an envelope, for `inspect`. `parseEnvelope` stops at the
 * first breach it finds, so this asks it again and again: after each error,
 * the field it names is replaced by a valid stand-in and the envelope is
 * checked once more, until it passes. Each payload is checked on its own (in
 * an envelope holding only it), so a broken payload cannot hide the problems
 * of the next. Stand-ins are chosen not to cause problems of their own: an
 * unknown transport is replaced together with its encoding, so no encoding
 * error is reported for a transport that was not understood.
 *
 * Then, without any network: direct payloads are received for real (base64,
 * size, checksum, decoding by type), and link origins are checked when the
 * caller names the trusted file servers.
 *
 * @module
 */
import { parseEnvelope } from "../envelope.ts";
import { EnvelopeError, NatsBridgeError } from "../errors.ts";
import { assertAllowedOrigin } from "../origins.ts";
import { smartreceive } from "../receive.ts";
import { silentLogger } from "../logger.ts";
import { decodeBase64 } from "../platform/base64.ts";
import { ENVELOPE_KEYS } from "../types.ts";
import { CodecPool } from "../../workers/pool.ts";
import { quoted } from "../printable.ts";

/** One breach of the contract. */
export interface Problem {
  /** The field at fault (`"payloads[2].size"`), `""` for the envelope as a whole. */
  field: string;
  /** natsbridge error code (`ENVELOPE_INVALID`, `UNKNOWN_ENCODING`, `CHECKSUM_MISMATCH`, …). */
  code: string;
  /** What is wrong, as natsbridge says it on receive. */
  message: string;
}

/** The outcome of {@link inspectEnvelope}. */
export interface Inspection {
  /** Every problem found; none means valid. */
  problems: Problem[];
  /** Remarks that do not make the envelope invalid (no checksum, extra keys, links not fetched). */
  notes: string[];
  /** Payloads, for a valid summary (only when the structure could be read). */
  payloads: { name: string; type: string; size: number; transport: string; checksum: boolean }[];
}

/** Options of {@link inspectEnvelope}. */
export interface InspectOptions {
  /** Trusted origins for links; when absent, link origins are not checked. */
  allowedOrigins?: readonly string[];
}

const MAX_ROUNDS = 200;
const STANDIN_URL = "http://standin.invalid/";

/**
 * Finds every problem of an envelope.
 *
 * @param input Envelope JSON as text or UTF-8 bytes.
 * @param options Trusted origins for the link check.
 * @returns Problems, notes, payload summary.
 *
 * @example A payload with two problems
 * ```ts
 * import assert from "node:assert/strict";
 * import { inspectEnvelope } from "./problems.ts";
 * const env = {
 *   correlation_id: "c", msg_id: "m", timestamp: "2026-03-13T10:30:00Z", send_to: "chat",
 *   msg_purpose: "chat", sender_name: "s", sender_id: "i", receiver_name: "", receiver_id: "",
 *   reply_to: "", reply_to_msg_id: "", broker_url: "", metadata: {},
 *   payloads: [{ id: "p", dataname: "x", payload_type: "pdf", transport: "direct",
 *     encoding: "base64", size: -1, data: "aGk=", metadata: {} }],
 * };
 * const { problems } = await inspectEnvelope(JSON.stringify(env));
 * assert.deepEqual(problems.map((p) => p.field), ["payloads[0].size", "payloads[0].payload_type"]);
 * ```
 */
export async function inspectEnvelope(
  input: string | Uint8Array,
  options: InspectOptions = {},
): Promise<Inspection> {
  const result: Inspection = { problems: [], notes: [], payloads: [] };
  try {
    parseEnvelope(input);
  } catch (err) {
    if (!(err instanceof EnvelopeError)) throw err;
    if (!err.field) {
      // Not JSON, not UTF-8, not an object: nothing further can be read.
      result.problems.push(problemOf(err));
      return result;
    }
  }
  const root: Record<string, unknown> = JSON.parse(
    typeof input === "string" ? input : new TextDecoder().decode(input),
  );

  // The envelope's own keys, payloads set aside.
  const rawPayloads = root.payloads;
  const top: Record<string, unknown> = {
    ...root,
    payloads: Array.isArray(rawPayloads) ? [] : rawPayloads,
  };
  if (!Object.hasOwn(root, "payloads")) delete top.payloads;
  collect(top, repairTop, result.problems, (p) => p);
  // Stand-ins must not appear in the messages of later checks.
  top.correlation_id = typeof root.correlation_id === "string" && root.correlation_id !== ""
    ? root.correlation_id
    : "(none)";
  for (const key of Object.keys(root)) {
    if (!(ENVELOPE_KEYS as readonly string[]).includes(key)) {
      result.notes.push(`extra envelope key "${key}" (kept by receivers)`);
    }
  }
  if (!Array.isArray(rawPayloads)) return result;

  // Each payload on its own, in an envelope that is otherwise valid.
  const valid: number[] = [];
  for (const [i, p] of rawPayloads.entries()) {
    const before = result.problems.length;
    const one = { ...top, payloads: [clone(p)] };
    collect(one, repairPayload, result.problems, (problem) => renumber(problem, i));
    if (result.problems.length === before) valid.push(i);
  }

  // Content of structurally valid payloads, and link origins.
  const pool = new CodecPool({ maxThreads: 0 });
  for (const i of valid) {
    const p = rawPayloads[i] as Record<string, unknown>;
    const at = `payloads[${i}]`;
    const checksum = typeof (p.metadata as Record<string, unknown>).checksum === "string";
    result.payloads.push({
      name: p.dataname as string,
      type: p.payload_type as string,
      size: p.size as number,
      transport: p.transport as string,
      checksum,
    });
    if (!checksum) {
      result.notes.push(
        `${at} (${quoted(String(p.dataname))}) has no checksum: receivers cannot verify its bytes`,
      );
    }
    if (p.transport === "link") {
      if (options.allowedOrigins) {
        try {
          assertAllowedOrigin(p.data as string, options.allowedOrigins, {
            correlationId: "",
            dataname: p.dataname as string,
          });
        } catch (err) {
          result.problems.push({ ...problemOf(err), field: `${at}.data` });
        }
      }
      continue;
    }
    await contentProblems(top, p, at, pool, result.problems);
  }
  sortByPayload(result.problems);
  const links = result.payloads.filter((p) => p.transport === "link").length;
  if (links > 0) {
    result.notes.push(
      `${links} link payload(s) not fetched${
        options.allowedOrigins
          ? ""
          : "; link origins not checked (pass --fileserver or --allow-origin)"
      }`,
    );
  }
  return result;
}

/**
 * Receives a direct payload for real, without a network. A size mismatch is
 * reported and the check repeated with the actual size, a checksum mismatch
 * reported and the check repeated without it, so a payload that also fails
 * to decode says so too.
 */
async function contentProblems(
  top: Record<string, unknown>,
  payload: Record<string, unknown>,
  at: string,
  pool: CodecPool,
  problems: Problem[],
): Promise<void> {
  const p = structuredClone(payload);
  for (let round = 0; round < 3; round++) {
    try {
      await smartreceive({ ...top, payloads: [p] }, {
        pool,
        logger: silentLogger,
        verify_checksum: true,
      });
      return;
    } catch (err) {
      const problem = problemOf(err);
      problems.push({ ...problem, field: at });
      if (problem.code === "SIZE_MISMATCH") {
        p.size = decodeBase64(p.data as string).byteLength;
      } else if (problem.code === "CHECKSUM_MISMATCH") {
        delete (p.metadata as Record<string, unknown>).checksum;
      } else {
        return;
      }
    }
  }
}

/** Envelope problems first, then each payload's, in payload order (stable within each). */
function sortByPayload(problems: Problem[]): void {
  const indexOf = (p: Problem) => {
    const m = /^payloads\[(\d+)\]/.exec(p.field);
    return m ? Number(m[1]) : -1;
  };
  const sorted = problems.map((p, i) => ({ p, i })).sort((a, b) =>
    indexOf(a.p) - indexOf(b.p) || a.i - b.i
  );
  problems.splice(0, problems.length, ...sorted.map((x) => x.p));
}

/** Checks `work` again and again, repairing the field of each error, until it passes. */
function collect(
  work: Record<string, unknown>,
  repair: (work: Record<string, unknown>, field: string) => boolean,
  problems: Problem[],
  map: (p: Problem) => Problem,
): void {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    try {
      parseEnvelope(work);
      return;
    } catch (err) {
      if (!(err instanceof EnvelopeError)) throw err;
      problems.push(map(problemOf(err)));
      if (!err.field || !repair(work, err.field)) return;
    }
  }
}

/** Replaces a broken top-level field with a valid stand-in. */
function repairTop(work: Record<string, unknown>, field: string): boolean {
  switch (field) {
    case "timestamp":
      work.timestamp = "1970-01-01T00:00:00Z";
      return true;
    case "metadata":
      work.metadata = {};
      return true;
    case "payloads":
      work.payloads = [];
      return true;
    default:
      if (!(ENVELOPE_KEYS as readonly string[]).includes(field)) return false;
      work[field] = "standin";
      return true;
  }
}

/** Replaces a broken field of `payloads[0]` with a valid stand-in. */
function repairPayload(work: Record<string, unknown>, field: string): boolean {
  if (!field.startsWith("payloads[0]")) return repairTop(work, field);
  const payloads = work.payloads as unknown[];
  const rest = field.slice("payloads[0]".length);
  if (rest === "") {
    payloads[0] = {
      id: "standin",
      dataname: "standin",
      payload_type: "binary",
      transport: "direct",
      encoding: "base64",
      size: 0,
      data: "",
      metadata: {},
    };
    return true;
  }
  const p = payloads[0] as Record<string, unknown>;
  switch (rest) {
    case ".id":
    case ".dataname":
      p[rest.slice(1)] = "standin";
      return true;
    case ".size":
      p.size = 0;
      return true;
    case ".metadata":
      p.metadata = {};
      return true;
    case ".metadata.checksum":
      delete (p.metadata as Record<string, unknown>).checksum;
      return true;
    case ".payload_type":
      p.payload_type = p.encoding === "json" ? "dictionary" : "binary";
      return true;
    case ".transport":
      // Judge the encoding and data against the transport they fit, or replace them too.
      if (p.encoding === "none" && typeof p.data === "string" && URL.canParse(p.data)) {
        p.transport = "link";
      } else Object.assign(p, { transport: "direct", encoding: "base64", data: "" });
      return true;
    case ".encoding":
      p.encoding = p.transport === "link" ? "none" : "base64";
      if (p.transport !== "link") p.data = typeof p.data === "string" ? p.data : "";
      return true;
    case ".data":
      p.data = p.transport === "link" ? STANDIN_URL : "";
      return true;
    default:
      return false;
  }
}

function problemOf(err: unknown): Problem {
  if (err instanceof NatsBridgeError) {
    return { field: err.field, code: err.code, message: err.message };
  }
  return { field: "", code: "ERROR", message: err instanceof Error ? err.message : String(err) };
}

/** `payloads[0]` → `payloads[i]` in a problem checked in a one-payload envelope. */
function renumber(p: Problem, i: number): Problem {
  const fix = (s: string) => s.replace("payloads[0]", `payloads[${i}]`);
  return { field: fix(p.field), code: p.code, message: fix(p.message) };
}

/**
 * A copy of a raw payload the repairs may change: they set its fields and
 * delete `metadata.checksum`, nothing deeper. Not `structuredClone`, which
 * recursed through a hostile peer's 100,000 levels of metadata until the
 * stack overflowed.
 */
function clone(v: unknown): unknown {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
  const p = { ...v } as Record<string, unknown>;
  if (p.metadata !== null && typeof p.metadata === "object" && !Array.isArray(p.metadata)) p.metadata = { ...p.metadata };
  return p;
}
