/**
 * What the TypeScript interop peer does, independent of where it runs: send a
 * named case, receive and render envelopes, print `expect` and `inputs` — the
 * contract of the Python peer's CLI (`interop/python/README.md` § The
 * command-line peer). `interop/peer.ts` (Deno, Bun, Node) and the browser page
 * (`interop/browser/page.ts`) are thin shells around this module.
 *
 * @module
 */
import {
  Bridge,
  type DownloadContext,
  fetchWithBackoff,
  type FileServer,
  type MsgLike,
  type NatsBridgeError,
  objectStoreFileServer,
  plikFileServer,
  type ReceivedEnvelope,
  smartreceive,
  smartsend,
} from "natsbridge";
import { fromBase64, sha256Hex, utf8 } from "./bytes.ts";
import { dumps, renderValue } from "./canonical.ts";
import { bytesOf, CASE_NAMES, getCase, type InputItem, sendItemsOf } from "./cases.ts";

export { CASE_NAMES, dumps };

/** Which runtime this is: `deno`, `bun`, `node` or `browser`. */
export function runtimeName(): "deno" | "bun" | "node" | "browser" {
  const g = globalThis as Record<string, unknown>;
  if (g.Deno) return "deno";
  if (g.Bun) return "bun";
  if (
    typeof g.process === "object" && (g.process as { versions?: { node?: string } }).versions?.node
  ) return "node";
  return "browser";
}

/** Default size threshold of `expect` (the wire contract's). */
export const DEFAULT_THRESHOLD = 500_000;
/** Default Object Store bucket of `--store objectstore`. */
export const DEFAULT_BUCKET = "natsbridge";

/** A log sink that writes natsbridge's log lines to stderr (console.error) from `level` up. */
export function stderrLogger(level: "debug" | "info" | "warn" | "error" = "warn") {
  const order = ["debug", "info", "warn", "error"];
  return {
    log(l: string, line: string) {
      if (order.indexOf(l) >= order.indexOf(level)) console.error(line);
    },
  };
}
const quiet = { log() {} };

/** `expect`: the language-independent part of what `receive` prints for a case. */
export async function expectCase(name: string, threshold = DEFAULT_THRESHOLD): Promise<unknown> {
  const items = getCase(name).items();
  const sendItems = sendItemsOf(items);
  // The transport each payload takes, decided by natsbridge itself on its own
  // serialization: a dry run with a stand-in upload handler, nothing published.
  const [env] = await smartsend("interop.expect", sendItems as never, {
    is_publish: false,
    size_threshold: threshold,
    broker_url: "nats://127.0.0.1:4222",
    fileserver_url: "http://expect.invalid",
    fileserver_upload_handler: () =>
      Promise.resolve({ status: 200, uploadid: "u", fileid: "f", url: "http://expect.invalid/f" }),
    logger: quiet,
  });
  const payloads = [];
  for (let i = 0; i < items.length; i++) {
    const [dataname, value, payload_type] = sendItems[i];
    payloads.push({
      dataname,
      payload_type,
      transport: env.payloads[i].transport,
      value: await renderValue(value, payload_type),
    });
  }
  return { case: name, payloads };
}

/** `inputs`: a case's items in the form another language rebuilds them from. */
export function inputsOf(name: string): { case: string; items: InputItem[] } {
  return { case: name, items: getCase(name).items() };
}

/** Options of {@link sendCase}. */
export interface SendCaseOptions {
  subject: string;
  case: string;
  fileserver: string;
  /** Size threshold; natsbridge's default (`$SIZE_THRESHOLD`, else 500 000) when absent. */
  threshold?: number;
  /** Where link payloads go: Plik at `fileserver` (default) or the JetStream Object Store. */
  store?: "plik" | "objectstore";
  bucket?: string;
  /** Plik TTL, seconds. */
  ttl?: number;
  oneShot?: boolean;
  plikToken?: string;
  senderName?: string;
}

/** `send`: publishes one case on `bridge`'s connection; returns the envelope JSON as published. */
export async function sendCase(bridge: Bridge, o: SendCaseOptions): Promise<string> {
  let fileserver: FileServer | undefined;
  if (o.store === "objectstore") {
    fileserver = await objectStoreFileServer({
      connection: bridge.connection,
      bucket: o.bucket ?? DEFAULT_BUCKET,
    });
  } else if (o.ttl !== undefined || o.oneShot || o.plikToken) {
    fileserver = plikFileServer({
      url: o.fileserver,
      ttl: o.ttl,
      oneShot: o.oneShot,
      token: o.plikToken,
    });
  }
  const [, json] = await bridge.send(o.subject, sendItemsOf(getCase(o.case).items()) as never, {
    fileserver_url: o.fileserver,
    fileserver,
    size_threshold: o.threshold,
    sender_name: o.senderName ?? `natsbridge-${runtimeName()}-peer`,
  });
  return json;
}

/** Options of {@link createRenderer}. */
export interface ReceiveOptions {
  fileserver: string;
  allowedOrigins?: string[];
  /** Object Store bucket whose `nats-obj://` links this receiver resolves. */
  bucket?: string;
}

/** An error as the peer prints it. */
export function errorJson(err: unknown): { error: Record<string, string> } {
  const e = err as Partial<NatsBridgeError> & { message?: string };
  return {
    error: {
      code: e.code ?? "ERROR",
      message: e.message ?? String(err),
      correlation_id: e.correlationId ?? "",
      dataname: e.dataname ?? "",
      field: (e as { field?: string }).field ?? "",
    },
  };
}

/**
 * Returns the function that turns one received message into what `receive`
 * prints: the envelope natsbridge returned (extra keys included) with each
 * payload replaced by its wire facts, the checksum it carried, the SHA-256 of
 * the bytes actually received (recomputed here, apart from natsbridge's own
 * check) and the canonical rendering of the decoded value.
 */
export function createRenderer(
  bridge: Bridge,
  o: ReceiveOptions,
): (msg: MsgLike) => Promise<unknown> {
  const bucket = o.bucket ?? DEFAULT_BUCKET;
  let store: Promise<FileServer> | undefined;
  const allowed = [...(o.allowedOrigins ?? []), `nats-obj://${bucket.toLowerCase()}`];

  return async (msg) => {
    // Every link download goes through here, so the bytes that arrived can be
    // hashed — here, before natsbridge gets them: it may move a buffer it
    // downloaded to a worker thread and back, which detaches this view.
    const arrived = new Map<string, Promise<string>>();
    const download = async (
      url: string,
      max_retries: number,
      base_delay: number,
      max_delay: number,
      correlation_id: string,
      context?: DownloadContext,
    ): Promise<Uint8Array> => {
      let bytes: Uint8Array;
      if (url.startsWith("nats-obj:")) {
        store ??= objectStoreFileServer({ connection: bridge.connection, bucket });
        bytes = await (await store).download(
          url,
          max_retries,
          base_delay,
          max_delay,
          correlation_id,
          context,
        );
      } else {
        bytes = await fetchWithBackoff(
          url,
          max_retries,
          base_delay,
          max_delay,
          correlation_id,
          context,
        );
      }
      arrived.set(url, sha256Hex(bytes));
      await arrived.get(url);
      return bytes;
    };
    let env: ReceivedEnvelope;
    try {
      env = await smartreceive(msg, {
        fileserver_url: o.fileserver,
        allowed_origins: allowed,
        fileserver_download_handler: download,
        logger: stderrLogger(),
      });
    } catch (err) {
      return errorJson(err);
    }
    const wire = JSON.parse(new TextDecoder().decode(msg.data)) as {
      payloads: {
        transport: string;
        encoding: string;
        size: number;
        data: string;
        metadata?: { checksum?: string };
      }[];
    };
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(env)) if (k !== "payloads") out[k] = v;
    out.payloads = await Promise.all(
      env.payloads.map(async ([dataname, value, payload_type], i) => {
        const w = wire.payloads[i];
        const recomputed = w.transport === "link"
          ? arrived.get(w.data) ?? null
          : sha256Hex(w.encoding === "json" ? utf8(w.data) : fromBase64(w.data));
        return {
          dataname,
          payload_type,
          transport: w.transport,
          encoding: w.encoding,
          size: w.size,
          checksum: w.metadata?.checksum ?? null,
          checksum_recomputed: await recomputed,
          value: await renderValue(value, payload_type),
        };
      }),
    );
    return out;
  };
}

/** Options of {@link receiveLoop}. */
export interface ReceiveLoopOptions extends ReceiveOptions {
  subject: string;
  count: number;
  /** Seconds for all `count` messages. */
  timeout: number;
}

/**
 * `receive`: subscribes, emits `READY` once the server has the subscription,
 * then one line per message until `count` (exit 0) or the timeout (exit 3).
 */
export async function receiveLoop(
  bridge: Bridge,
  o: ReceiveLoopOptions,
  emit: (line: string) => void | Promise<void>,
): Promise<number> {
  const render = createRenderer(bridge, o);
  const sub = bridge.connection.subscribe(o.subject);
  await bridge.connection.flush();
  await emit("READY");
  let seen = 0;
  const timer = setTimeout(() => sub.unsubscribe(), o.timeout * 1000);
  try {
    for await (const msg of sub) {
      seen++;
      await emit(dumps(await render(msg)));
      if (seen >= o.count) break;
    }
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
  if (seen < o.count) {
    console.error(`receive: timed out after ${o.timeout} s with ${seen} of ${o.count} envelopes`);
    return 3;
  }
  return 0;
}

/** Connects a bridge for the peer (WebSocket URLs in the browser build). */
export function connectBridge(broker: string): Promise<Bridge> {
  return Bridge.connect({ broker_url: broker, logger: stderrLogger() });
}

/** Options of {@link streamCheck}. */
export interface StreamCheckOptions {
  /** Object Store bucket. */
  bucket: string;
  /** Objects sent and read back. */
  rounds: number;
  /** Bytes per object: several MB, so the runtime collects garbage while one is read. */
  size: number;
}

/**
 * Sends `rounds` objects of `size` bytes through the Object Store to a
 * subscription of the same bridge that takes them as streams
 * (`receive: { stream: true }`) and reads each to its end, counting and
 * hashing what arrives. Chromium once ended such reads of intact objects
 * part-way (SIZE_MISMATCH) when it collected the JS object of a stream that
 * was only piped: this is the check that it no longer does, on every runtime.
 *
 * @returns One result per round: bytes read and whether they were the object, or the error.
 */
export async function streamCheck(bridge: Bridge, o: StreamCheckOptions): Promise<{ ok: boolean; rounds: string[] }> {
  const store = await objectStoreFileServer({ connection: bridge.connection, bucket: o.bucket });
  const rounds: string[] = [];
  for (let round = 0; round < o.rounds; round++) {
    const data = bytesOf(o.size, round + 7);
    const want = await sha256Hex(data);
    const subject = `interop.streamcheck.${Date.now()}.${round}`;
    const sub = bridge.subscribe(subject, { receive: { fileserver: store, stream: true } });
    const got = (async () => {
      for await (const env of sub) {
        const parts: Uint8Array[] = [];
        let n = 0;
        try {
          for await (const chunk of env.payloads[0][1] as ReadableStream<Uint8Array> & AsyncIterable<Uint8Array>) {
            parts.push(chunk.slice());
            n += chunk.byteLength;
          }
        } catch (err) {
          return `read ${n} bytes, then ${(err as NatsBridgeError).code}: ${(err as Error).message}`;
        }
        const all = new Uint8Array(n);
        let at = 0;
        for (const p of parts) {
          all.set(p, at);
          at += p.byteLength;
        }
        return n === o.size && await sha256Hex(all) === want ? "ok" : `read ${n} bytes, not the object`;
      }
      return "subscription ended";
    })();
    await bridge.send(subject, [["blob", data, "binary"]], { fileserver: store });
    rounds.push(await got);
    sub.unsubscribe();
  }
  return { ok: rounds.every((r) => r === "ok"), rounds };
}
