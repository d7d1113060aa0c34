/**
 * The envelope flags of `send` and `request` as `smartsend` options, and the
 * payloads of a sent envelope as report lines.
 *
 * @module
 */
import type { SmartSendOptions } from "../send.ts";
import type { MsgEnvelopeV1, PayloadType, SendItem } from "../types.ts";
import { parseCount, type ParsedArgs, stringFlag } from "./args.ts";
import { UsageError } from "./exit_codes.ts";
import type { EnvelopeReport } from "./report.ts";

const STRING_OPTIONS: readonly [flag: string, option: keyof SmartSendOptions][] = [
  ["purpose", "msg_purpose"],
  ["correlation-id", "correlation_id"],
  ["msg-id", "msg_id"],
  ["sender-name", "sender_name"],
  ["sender-id", "sender_id"],
  ["receiver-name", "receiver_name"],
  ["receiver-id", "receiver_id"],
  ["reply-to-msg-id", "reply_to_msg_id"],
  ["reply-to", "reply_to"],
];

/**
 * `--threshold`, parsed.
 *
 * @param values Parsed flags.
 * @param command For errors.
 * @returns Bytes, or `undefined` when not given.
 */
export function thresholdOf(values: ParsedArgs["values"], command: string): number | undefined {
  const t = stringFlag(values, "threshold");
  return t === undefined ? undefined : parseCount(t, "threshold", command);
}

/**
 * The envelope options given on the command line.
 *
 * @param values Parsed flags.
 * @param command For errors.
 * @returns `smartsend` options.
 * @throws {UsageError} On `--metadata` that is not a JSON object.
 */
export function envelopeOptions(values: ParsedArgs["values"], command: string): SmartSendOptions {
  const options: Record<string, unknown> = {};
  for (const [flag, option] of STRING_OPTIONS) {
    const v = stringFlag(values, flag);
    if (v !== undefined) options[option] = v;
  }
  const threshold = thresholdOf(values, command);
  if (threshold !== undefined) options.size_threshold = threshold;
  const metadata = stringFlag(values, "metadata");
  if (metadata !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(metadata);
    } catch (err) {
      throw new UsageError(`--metadata is not valid JSON: ${(err as Error).message}`, command);
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new UsageError("--metadata must be a JSON object", command);
    }
    options.metadata = parsed;
  }
  return options as SmartSendOptions;
}

/**
 * A sent envelope as a report.
 *
 * @param subject Subject it went to.
 * @param env The envelope `smartsend` returned.
 * @param items What was sent, in the envelope's order: the values the report shows.
 * @returns The report (`checksum ok` meaning a checksum was set).
 */
export function sentReport(subject: string, env: MsgEnvelopeV1, items: readonly SendItem[] = []): EnvelopeReport {
  const { payloads, ...envelope } = env;
  return {
    subject,
    envelope,
    payloads: payloads.map((p, i) => ({
      name: p.dataname,
      type: p.payload_type as PayloadType,
      size: p.size,
      transport: p.transport,
      checksum: typeof p.metadata.checksum === "string" ? "ok" : "none",
      ...(p.transport === "link" ? { url: p.data } : {}),
      // printEnvelope decides which types' values are printed.
      ...(items[i] ? { value: items[i][1] } : {}),
    })),
  };
}
