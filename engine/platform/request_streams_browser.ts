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
 * Not available in browsers (for parity with `request_streams.ts`): callers
 * check {@link CAN_STREAM_REQUEST_BODY} and send a `Blob` instead.
 *
 * @param _url Where to.
 * @param _headers Request headers.
 * @param _body The body.
 * @param _signal Cancels the request.
 * @returns Never.
 *
 * @example
 * ```ts ignore
 * import { CAN_STREAM_REQUEST_BODY } from "./request_streams_browser.ts";
 * if (!CAN_STREAM_REQUEST_BODY) console.log("send a Blob");
 * ```
 */
export function postStreamedBody(
  _url: string,
  _headers: Record<string, string>,
  _body: ReadableStream<Uint8Array>,
  _signal: AbortSignal,
): Promise<{ status: number; text: string }> {
  return Promise.reject(new Error("browsers cannot stream a request body to an HTTP/1.1 server: send a Blob"));
}
