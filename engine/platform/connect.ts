/**
 * The one seam through which natsbridge opens NATS connections. Deno, Bun and
 * Node use `@nats-io/transport-node` (`@nats-io/transport-deno` lives only on
 * JSR, which a JSR build can swap in here); the browser build replaces this file
 * with `connect_browser.ts`, which uses `wsconnect`.
 *
 * @module
 */
import { connect } from "@nats-io/transport-node";
import type { ConnectionOptions, NatsConnection } from "@nats-io/nats-core";

/**
 * Opens a NATS connection.
 *
 * @param options nats.js connection options (`servers`, auth, TLS, …).
 * @returns The connection.
 *
 * @example
 * ```ts ignore
 * import { openConnection } from "./connect.ts";
 * const nc = await openConnection({ servers: "nats://127.0.0.1:4222" });
 * await nc.close();
 * ```
 */
export function openConnection(options: ConnectionOptions): Promise<NatsConnection> {
  return connect(options);
}
