/**
 * Object Store housekeeping for the rows: empty a bucket between runs, so
 * repeated 100 MiB payloads do not pile up on disk.
 *
 * @module
 */
import type { ObjectStore } from "@nats-io/obj";

/** Deletes every object in the bucket (chunks are purged with them). */
export async function clearBucket(store: ObjectStore): Promise<void> {
  for (const info of await store.list()) await store.delete(info.name).catch(() => {});
}
