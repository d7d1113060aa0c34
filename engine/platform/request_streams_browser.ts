/**
 * Browser version of `request_streams.ts`: a page's `fetch` cannot stream a
 * request body to an HTTP/1.1 server, so uploads send a `Blob` (which the
 * browser may keep on disk) instead.
 *
 * @module
 */

/**
 * `false` in browsers: uploads send their body as a `Blob`.
 *
 * @example
 * ```ts
 * import { CAN_STREAM_REQUEST_BODY } from "./request_streams_browser.ts";
 * console.log(CAN_STREAM_REQUEST_BODY); // false
 * ```
 */
export const CAN_STREAM_REQUEST_BODY: boolean = false;

/**
 * POSTs a streamed body with `fetch`, for parity with `request_streams.ts`
 * (unused in browsers, where {@link CAN_STREAM_REQUEST_BODY} is `false`).
 *
 * @param url Where to.
 * @param headers Request headers.
 * @param body The body.
 * @param signal Cancels the request.
 * @returns The status and the answer's text.
 *
 * @example
 * ```ts ignore
 * import { postStreamedBody } from "./request_streams_browser.ts";
 * ```
 */
export async function postStreamedBody(
  url: string,
  headers: Record<string, string>,
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal,
): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: "POST", headers, body, duplex: "half", signal } as RequestInit);
  return { status: res.status, text: await res.text() };
}
