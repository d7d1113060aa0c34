/**
 * What an Object Store bucket's limits did to a put, said as an
 * {@link UploadError} that names the limit and what to change. Such a put
 * fails at once: trying it again writes the same chunks into the same limit.
 *
 * @module
 */
import type { StreamConfig } from "@nats-io/jetstream";
import { UploadError } from "../errors.ts";

/**
 * HTTP-like status of a put the store's limits refused: 413 (the store will
 * not take it), which no retry cures (see `isTransientUploadError`).
 */
const REFUSED = 413;

/** HTTP-like status of a put JetStream could not take for now: a retry may cure it. */
const UNAVAILABLE = 503;

/**
 * Whether JetStream answered "JetStream system temporarily unavailable"
 * (JSClusterNotAvailErr, 10008): a cluster says it while a dead node's streams
 * elect new leaders, so the same publish may succeed a moment later. Its
 * status, 503, does not single it out: a full stream is 503 too.
 *
 * @param err What a publish failed with.
 * @returns Whether to wait and try again.
 *
 * @example
 * ```ts
 * import { JetStreamApiError } from "@nats-io/jetstream";
 * import { clusterUnavailable } from "./object_store_limits.ts";
 * const err = new JetStreamApiError({ code: 503, err_code: 10008, description: "JetStream system temporarily unavailable" });
 * console.log(clusterUnavailable(err)); // true
 * ```
 */
export function clusterUnavailable(err: unknown): boolean {
  return (err as Error)?.name === "JetStreamApiError" && (err as { code?: unknown }).code === 10008;
}

/**
 * A chunk publish the server refused with an error of its own, as an error
 * naming the limit (or saying JetStream was unavailable, for a 503);
 * `undefined` for anything else.
 *
 * @param err What the chunk's publish failed with.
 * @param bucket The bucket.
 * @param what `Object Store put of "<name>"`.
 * @returns The error to throw, or `undefined`.
 *
 * @example
 * ```ts
 * import { refusedChunk } from "./object_store_limits.ts";
 * const e = refusedChunk(Object.assign(new Error("maximum bytes exceeded"), { name: "JetStreamApiError" }), "b", "put");
 * console.log(e?.code); // "UPLOAD_FAILED"
 * ```
 */
export function refusedChunk(err: unknown, bucket: string, what: string): UploadError | undefined {
  if ((err as Error)?.name !== "JetStreamApiError") return undefined;
  const message = (err as Error).message;
  // Not a limit: a cluster electing leaders says so, and the writer waited it
  // out as long as it waits for acks. Status 503 keeps it transient for the caller.
  if (clusterUnavailable(err)) {
    return new UploadError(`${what} failed: JetStream was unavailable (${message})`, { status: UNAVAILABLE, cause: err });
  }
  let why = `the server refused a chunk (${message})`;
  if (/maximum bytes exceeded/i.test(message)) {
    why = `bucket "${bucket}" is full (${message}): raise its stream's max_bytes, or wait for objects to expire (ttl)`;
  } else if (/maximum messages exceeded/i.test(message)) {
    why = `bucket "${bucket}" is full (${message}): raise its stream's max_msgs, or wait for objects to expire (ttl)`;
  } else if (/insufficient resources|storage/i.test(message)) {
    why = `the server's JetStream storage is full (${message}): free some, or raise max_file_store / max_mem_store`;
  } else if (/message size exceeds/i.test(message)) {
    why = `a chunk is larger than bucket "${bucket}" takes (${message}): raise its stream's max_msg_size`;
  }
  return new UploadError(`${what} failed: ${why}`, { status: REFUSED, cause: err });
}

/**
 * The error for a put whose bucket kept fewer chunks than were written: the
 * object would be listed whole and fail every reader.
 *
 * @param stored Chunks the stream holds.
 * @param written Chunks the put wrote.
 * @param config The bucket stream's configuration.
 * @param elapsedMs How long the put took.
 * @param bucket The bucket.
 * @param what `Object Store put of "<name>"`.
 * @returns The error to throw.
 *
 * @example
 * ```ts
 * import { lostChunks } from "./object_store_limits.ts";
 * const e = lostChunks(1, 4, { max_msgs_per_subject: 1 } as never, 20, "b", "put");
 * console.log(e.message.includes("max_msgs_per_subject")); // true
 * ```
 */
export function lostChunks(
  stored: number,
  written: number,
  config: StreamConfig,
  elapsedMs: number,
  bucket: string,
  what: string,
): UploadError {
  const maxAgeSeconds = (config.max_age ?? 0) / 1e9;
  let why = "chunks were removed while it was written";
  if ((config.max_msgs_per_subject ?? -1) > 0 && config.max_msgs_per_subject < written) {
    why = `its stream keeps ${config.max_msgs_per_subject} message(s) per subject (max_msgs_per_subject), and an object's chunks share one subject`;
  } else if (maxAgeSeconds > 0 && elapsedMs / 1000 >= maxAgeSeconds) {
    why = `the upload took ${(elapsedMs / 1000).toFixed(1)} s, longer than the bucket's TTL of ${maxAgeSeconds} s: give it a longer ttl`;
  } else if (config.discard === "old" && ((config.max_bytes ?? -1) > 0 || (config.max_msgs ?? -1) > 0)) {
    why = `its stream discards old messages at its limits (max_bytes ${config.max_bytes}, max_msgs ${config.max_msgs}), and dropped chunks of this object to make room: raise them, or discard new ones instead`;
  }
  return new UploadError(`${what} failed: bucket "${bucket}" kept ${stored} of ${written} chunks, so the object would be broken: ${why}`, {
    status: REFUSED,
  });
}
