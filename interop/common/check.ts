/**
 * The matrix's verdict on one message: values, checksums and envelope fields
 * (see `interop/matrix.ts`). Kept apart so `check_test.ts` can show that each
 * kind of damage is caught.
 *
 * @module
 */
import { ENVELOPE_KEYS } from "natsbridge";
import { jsonDiff } from "./canonical.ts";

/** The Object Store bucket the matrix uses. */
export const BUCKET = "interop";

/** A payload as the sender published it. */
export interface WirePayload {
  dataname: string;
  payload_type: string;
  transport: string;
  encoding: string;
  size: number;
  data: string;
  metadata: { checksum?: string };
}
/** An envelope as the sender published it. */
export type Envelope = Record<string, unknown> & {
  correlation_id: string;
  payloads: WirePayload[];
};
/** A payload of the reference `expect`. */
export interface ExpectedPayload {
  dataname: string;
  payload_type: string;
  transport: string;
  value: unknown;
}
/** A payload as a receiver printed it. */
export interface ReceivedPayload extends ExpectedPayload {
  encoding: string;
  size: number;
  checksum: string | null;
  checksum_recomputed: string | null;
}
/** What a receiver printed for one message. */
export type Received = Record<string, unknown> & {
  payloads?: ReceivedPayload[];
  error?: { code: string; message: string };
};

/** A case as the grid runs it: through Plik, or (`large_link@objectstore`) the Object Store. */
export interface Variant {
  label: string;
  case: string;
  store: "plik" | "objectstore";
}

/**
 * Everything wrong with one message of the grid; empty when it is right.
 *
 * @param c What the sender printed (or its error), what the receiver printed, the variant.
 * @param expected The reference `expect` payloads of the case.
 * @param plikUrl Base URL Plik links must start with.
 * @param bucket Object Store bucket `nats-obj://` links must name.
 */
export function check(
  c: { sent?: Envelope; sendError?: string; received?: Received; variant: Variant },
  expected: readonly ExpectedPayload[],
  plikUrl: string,
  bucket: string,
): string[] {
  if (c.sendError) return [`send failed: ${c.sendError}`];
  if (!c.sent) return ["not sent"];
  if (!c.received) return ["not received"];
  const got = c.received;
  if (got.error) return [`receive failed: ${got.error.code} ${got.error.message}`];
  const problems: string[] = [];
  for (const k of ENVELOPE_KEYS) {
    if (k === "payloads") continue;
    if (!(k in got)) problems.push(`envelope field ${k} missing`);
    else {
      const d = jsonDiff(got[k], c.sent[k]);
      if (d) problems.push(`envelope field ${k} changed: ${d}`);
    }
  }
  const gp = got.payloads ?? [];
  const sp = c.sent.payloads;
  if (gp.length !== expected.length || sp.length !== expected.length) {
    problems.push(
      `payload count: expected ${expected.length}, sent ${sp.length}, received ${gp.length}`,
    );
    return problems;
  }
  expected.forEach((e, i) => {
    const g = gp[i], s = sp[i];
    const at = `payload ${i} "${e.dataname}"`;
    if (g.dataname !== e.dataname || s.dataname !== e.dataname) {
      problems.push(`${at}: dataname sent "${s.dataname}", received "${g.dataname}"`);
    }
    if (g.payload_type !== e.payload_type) {
      problems.push(`${at}: payload_type "${g.payload_type}" ≠ "${e.payload_type}"`);
    }
    if (s.transport !== e.transport || g.transport !== e.transport) {
      problems.push(
        `${at}: transport expected ${e.transport}, sent ${s.transport}, received ${g.transport}`,
      );
    }
    if (s.transport === "link") {
      const want = c.variant.store === "objectstore" ? `nats-obj://${bucket}/` : `${plikUrl}/file/`;
      if (!s.data.startsWith(want)) {
        problems.push(`${at}: link ${s.data.slice(0, 60)} does not start with ${want}`);
      }
    }
    const d = jsonDiff(g.value, e.value, "value");
    if (d) problems.push(`${at}: ${d}`);
    if (!g.checksum) problems.push(`${at}: no checksum received`);
    else {
      if (g.checksum !== g.checksum_recomputed) {
        problems.push(`${at}: checksum ${g.checksum} ≠ recomputed ${g.checksum_recomputed}`);
      }
      if (g.checksum !== s.metadata?.checksum) {
        problems.push(`${at}: checksum received ≠ checksum sent`);
      }
    }
    if (g.size !== s.size) problems.push(`${at}: size sent ${s.size}, received ${g.size}`);
    if (g.encoding !== s.encoding) {
      problems.push(`${at}: encoding sent ${s.encoding}, received ${g.encoding}`);
    }
  });
  return problems;
}
