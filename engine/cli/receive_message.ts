/**
 * Receiving one message for `listen` and `request`: validate the envelope,
 * receive its payloads through natsbridge (links downloaded from the allowed
 * stores only, sizes and checksums verified), save them with `--out`, and
 * describe them for {@link printEnvelope}.
 *
 * @module
 */
import { serializeArrowTable } from "../codecs/arrow_table.ts";
import { parseEnvelope } from "../envelope.ts";
import { originOf } from "../origins.ts";
import { fetchWithBackoff } from "../handlers/http_download.ts";
import { DownloadError } from "../errors.ts";
import type {
  DownloadHandler,
  FileServer,
  PayloadType,
  ProgressCallback,
  ReceivedEnvelope,
} from "../types.ts";
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
 * Receives one core-NATS message. With `--out`, link payloads of binary
 * types stream straight to disk (verified as they flow) instead of being held
 * in memory.
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
    stream: options.out !== undefined,
    signal: options.signal,
  });
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
      if (options.values) report.value = value;
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
  return { subject: msg.subject, envelope: withoutPayloads(env), payloads };
}

/**
 * A download handler that remembers what it fetched (by dataname), for
 * `listen --jetstream`, where `Bridge.consume` hands over decoded payloads
 * only: what went by link, its announced size and checksum. Links from the
 * store go to the store; other allowed HTTP(S) links to `fetchWithBackoff`,
 * as natsbridge itself would do.
 */
export class RecordingDownloads {
  /** Link downloads of the current message by dataname. */
  readonly seen = new Map<string, { url: string; size?: number; checksum?: string }[]>();
  /** The handler to pass as `fileserver_download_handler`. */
  readonly handler: DownloadHandler;

  /**
   * Wraps a store's download.
   *
   * @param store The session's store.
   */
  constructor(store: FileServer) {
    const storeOrigins = new Set(store.origins.map((o) => originOf(o)));
    this.handler = (url, maxRetries, baseDelay, maxDelay, correlationId, context) => {
      const dataname = context?.dataname ?? "";
      const list = this.seen.get(dataname) ?? [];
      list.push({ url, size: context?.expectedSize, checksum: context?.expectedChecksum });
      this.seen.set(dataname, list);
      if (storeOrigins.has(originOf(url))) {
        return store.download(url, maxRetries, baseDelay, maxDelay, correlationId, context);
      }
      const protocol = new URL(url).protocol;
      if (protocol === "http:" || protocol === "https:") {
        return fetchWithBackoff(url, maxRetries, baseDelay, maxDelay, correlationId, context);
      }
      return Promise.reject(
        new DownloadError(
          `No download handler for ${protocol}// links (payload "${dataname}"); pass --store`,
          {
            correlationId,
            dataname,
          },
        ),
      );
    };
  }

  /**
   * Describes a decoded envelope with what the downloads recorded, then forgets them.
   *
   * @param env The envelope `Bridge.consume` yielded.
   * @param options Output folder and values.
   * @returns The report.
   */
  async report(env: ReceivedEnvelope, options: ReceiveMessageOptions): Promise<EnvelopeReport> {
    const writer = options.out !== undefined ? new PayloadWriter(options.out) : undefined;
    const payloads: PayloadReport[] = [];
    try {
      for (const [name, value, type] of env.payloads) {
        const link = this.seen.get(name)?.shift();
        const report: PayloadReport = link
          ? {
            name,
            type,
            size: link.size ?? sizeOf(type, value),
            transport: "link",
            checksum: link.checksum ? "ok" : "none",
            url: link.url,
          }
          : { name, type, size: sizeOf(type, value), transport: "direct", checksum: "-" };
        if (writer) report.file = await writer.write(name, type, value);
        if (options.values) report.value = value;
        payloads.push(report);
      }
      await writer?.commit();
    } catch (err) {
      await writer?.discard();
      throw err;
    } finally {
      this.seen.clear();
    }
    return { subject: env.send_to, envelope: withoutPayloads(env), payloads };
  }
}

/** Byte size of a decoded value: exact for binary types and text, re-serialized otherwise. */
function sizeOf(type: PayloadType, value: unknown): number {
  if (value instanceof Uint8Array) return value.byteLength;
  if (type === "text") return new TextEncoder().encode(value as string).byteLength;
  if (type === "arrowtable") return serializeArrowTable(value).byteLength;
  return new TextEncoder().encode(JSON.stringify(value)).byteLength;
}

function withoutPayloads(env: ReceivedEnvelope): EnvelopeReport["envelope"] {
  const { payloads: _p, ...rest } = env;
  return rest as EnvelopeReport["envelope"];
}
