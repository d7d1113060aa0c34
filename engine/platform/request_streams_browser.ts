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
