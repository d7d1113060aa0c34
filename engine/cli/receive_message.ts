/**
 * Receiving one message for `listen` and `request`: validate the envelope,
 * receive its payloads through natsbridge (links downloaded from the allowed
 * stores only, sizes and checksums verified), save them with `--out`, and
 * describe them for {@link printEnvelope}.
 *
 * @module
 */
import { type CheckedPayload, parseEnvelope } from "../envelope.ts";
import type { ProgressCallback, ReceivedEnvelope } from "../types.ts";
import type { EnvelopeReport, PayloadReport } from "./report.ts";
import { PayloadWriter } from "./save.ts";
import type { Session } from "./session.ts";

/** Options of {@link receiveMessage}. */
export interface ReceiveMessageOptions {
  /** `--out` folder. */
  out?: string;
  /** Progress of link downloads. */
  onProgress?: ProgressCallback;
  /** Include decoded values of text/dictionary/jsontable payloads in the report. */
  values: boolean;
  /** Cancels downloads. */
  signal?: AbortSignal;
}

/**
 * Receives one core-NATS message. Link payloads of binary types are received
 * as streams, verified as they flow: with `--out` they go straight to disk,
 * without it they are read to their end and let go, never held whole in
 * memory (a 286 MiB file took the listener to 811 MB).
 *
 * @param session The command's session.
 * @param msg The message body and subject.
 * @param options Output folder, progress, values.
 * @returns The report.
 * @throws {NatsBridgeError} When the envelope or a payload is invalid, or a download fails.
 */
export async function receiveMessage(
  session: Session,
  msg: { data: Uint8Array; subject: string },
  options: ReceiveMessageOptions,
): Promise<EnvelopeReport> {
  const { envelope, payloads: wire } = parseEnvelope(msg.data);
  const env = await session.bridge.receive(envelope, {
    on_progress: options.onProgress,
    logger: session.logger,
    stream: true,
    signal: options.signal,
  });
  return await reportEnvelope(msg.subject, env, wire, options);
}

/**
 * Describes a received envelope with what its payloads announced on the wire
 * (transport, size, link, checksum), saving them with `--out`: streams (link
 * payloads received with `stream: true`) go straight to disk, verified as
 * they flow. Shared by core NATS receives and `listen --jetstream`.
 *
 * @param subject Subject the message arrived on.
 * @param env The received envelope.
 * @param wire The envelope's payloads as parsed from the message, in the same order.
 * @param options Output folder and values.
 * @returns The report.
 * @throws {NatsBridgeError} When a streamed payload fails its checks; nothing is kept then.
 */
export async function reportEnvelope(
  subject: string,
  env: ReceivedEnvelope,
  wire: readonly CheckedPayload[],
  options: ReceiveMessageOptions,
): Promise<EnvelopeReport> {
  const writer = options.out !== undefined ? new PayloadWriter(options.out) : undefined;
  const payloads: PayloadReport[] = [];
  try {
    for (const [i, [name, value, type]] of env.payloads.entries()) {
      const w = wire[i];
      const report: PayloadReport = {
        name,
        type,
        size: w.size,
        transport: w.transport,
        checksum: typeof w.metadata.checksum === "string" ? "ok" : "none",
      };
      if (w.transport === "link") report.url = w.data;
      if (writer) report.file = await writer.write(name, type, value);
      else if (value instanceof ReadableStream) await readToEnd(value); // its size and checksum checked as it flows
      if (options.values && !(value instanceof ReadableStream)) report.value = value;
      payloads.push(report);
    }
    await writer?.commit();
  } catch (err) {
    // Cancel streams not read yet so their downloads stop, then drop partial files.
    for (const [, value] of env.payloads) {
      if (value instanceof ReadableStream && !value.locked) await value.cancel().catch(() => {});
    }
    await writer?.discard();
    throw err;
  }
  return { subject, envelope: withoutPayloads(env), payloads };
}

/** Reads a verified stream to its end, keeping nothing: its checks fail it there, if they do. */
async function readToEnd(stream: ReadableStream<Uint8Array>): Promise<void> {
  const reader = stream.getReader();
  for (;;) if ((await reader.read()).done) return;
}

function withoutPayloads(env: ReceivedEnvelope): EnvelopeReport["envelope"] {
  const { payloads: _p, ...rest } = env;
  return rest as EnvelopeReport["envelope"];
}
