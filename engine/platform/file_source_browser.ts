/**
 * The file seam of the browser build (same exports as `file_source.ts`):
 * a page has no file paths. Stream a `File`/`Blob` (from an `<input
 * type="file">`, a drop or `fetch().blob()`) or a `ReadableStream` instead;
 * natsbridge takes both as payload data for binary types.
 *
 * @module
 */

/** Chunk size for file reads (kept for parity with `file_source.ts`). */
export const FILE_CHUNK = 1024 * 1024;

/**
 * Always fails: browsers have no file paths.
 *
 * @param path The path that was given.
 * @returns Never.
 * @throws {Error} Naming the path and what to pass instead.
 */
export function openFileStream(
  path: string | URL,
): Promise<{ stream: ReadableStream<Uint8Array>; size: number; close: () => Promise<void> }> {
  return Promise.reject(
    new Error(
      `file paths are not available in the browser (got "${String(path).slice(0, 100)}"): ` +
        "pass a File, Blob or ReadableStream<Uint8Array> instead",
    ),
  );
}
