/**
 * `@nats-io/obj` for the browser build. `engine/handlers/object_store.ts`
 * selects the package's `"native"` SHA-256 backend, which lazily imports
 * `node:crypto` and so fails in a page at the first put or get. The browser
 * build resolves that file's `@nats-io/obj` import here instead: everything is
 * the package's own, except that `setSha256Backend("native")` keeps the
 * package's pure-JS backend (`"js"`, the same digest, slower). With that, the
 * Object Store claim check works in browsers over the WebSocket connection.
 *
 * @module
 */
import { setSha256Backend as setBackend } from "@nats-io/obj";

export * from "@nats-io/obj";

/**
 * Like the package's `setSha256Backend`, but `"native"` (node:crypto) stays
 * `"js"`: a browser has no `node:crypto`.
 *
 * @param backend `"js"` or `"native"`.
 */
export function setSha256Backend(backend: "js" | "native"): void {
  setBackend(backend === "native" ? "js" : backend);
}
