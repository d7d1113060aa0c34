/**
 * How a sent or received envelope is shown: a header line (subject, msg_id,
 * correlation_id, sender) and one line per payload (name, type, size,
 * transport, checksum, saved file), or with `--json` one object per line
 * with an `event` field (`sent`, `message`, `reply`, `error`, `listening`).
 *
 * @module
 */
import type { MsgEnvelopeV1, PayloadType } from "../types.ts";
import { formatBytes, type Output } from "./io.ts";
import { clip, printable } from "../printable.ts";

/** What is shown of one payload. */
export interface PayloadReport {
  /** `dataname`. */
  name: string;
  /** Payload type (aliases resolved). */
  type: PayloadType;
  /** Serialized size in bytes. */
  size: number;
  /** `direct` or `link`. */
  transport: string;
  /**
   * `ok`: a checksum was announced and the bytes match it; `none`: no checksum
   * was announced; `-`: not visible (direct payloads under `listen --jetstream`).
   */
  checksum: "ok" | "none" | "-";
  /** The link, for link payloads. */
  url?: string;
  /** Where `--out` saved it. */
  file?: string;
  /** The decoded value of `text`, `dictionary` and `jsontable` payloads (JSON output only). */
  value?: unknown;
}

/** What is shown of one envelope. */
export interface EnvelopeReport {
  /** Subject it arrived on (or was sent to). */
  subject: string;
  /** The envelope's fields besides its payloads. */
  envelope: Omit<MsgEnvelopeV1, "payloads"> & Record<string, unknown>;
  /** Its payloads. */
  payloads: PayloadReport[];
}

/** Types whose decoded value goes into JSON output. */
const VALUE_TYPES: ReadonlySet<string> = new Set(["text", "dictionary", "jsontable"]);

/**
 * Prints an envelope report.
 *
 * @param out Where to.
 * @param event `sent`, `message` or `reply` (the JSON `event` field; also the header's verb).
 * @param report The envelope.
 * @returns When written.
 */
export async function printEnvelope(
  out: Output,
  event: string,
  report: EnvelopeReport,
): Promise<void> {
  const e = report.envelope;
  if (out.json) {
    // A peer's extra envelope keys named "event" or "subject" must not pass for the record's own.
    const { payloads: _p, event: _e, subject: _s, ...fields } = e as typeof e & { payloads?: unknown; event?: unknown; subject?: unknown };
    await out.record({
      event,
      subject: report.subject,
      ...fields,
      payloads: report.payloads.map((p) => {
        const { value, ...rest } = p;
        return VALUE_TYPES.has(p.type) && value !== undefined ? { ...rest, value } : rest;
      }),
    });
    return;
  }
  const verb = event === "sent" ? "sent " : event === "reply" ? "reply " : "";
  const sender = e.sender_name || e.sender_id
    ? `  sender=${printable(e.sender_name || e.sender_id)}`
    : "";
  await out.line(
    `${verb}${printable(report.subject)}  msg_id=${printable(e.msg_id)}  correlation_id=${
      printable(e.correlation_id)
    }${sender}`,
  );
  const width = Math.min(32, Math.max(4, ...report.payloads.map((p) => printable(p.name).length)));
  for (const p of report.payloads) {
    const parts = [
      `  ${printable(p.name).padEnd(width)}`,
      p.type.padEnd(10),
      formatBytes(p.size).padStart(10),
      p.transport.padEnd(6),
      `checksum ${p.checksum}`,
    ];
    if (p.file) parts.push(`-> ${printable(p.file)}`);
    if (p.type === "text" && typeof p.value === "string") {
      parts.push(JSON.stringify(clip(printable(p.value), 60)));
    }
    await out.line(parts.join("  "));
  }
}
