/**
 * The NATS connect seam of the browser build (same exports as `connect.ts`):
 * browsers reach NATS only over WebSocket, so `servers` are `ws://` or
 * `wss://` URLs of nats-server's `websocket` listener (`broker_url:
 * "ws://127.0.0.1:8443"`); `nats://` URLs cannot be dialled from a page.
 *
 * @module
 */
import { type ConnectionOptions, type NatsConnection, wsconnect } from "@nats-io/nats-core";
import { ProtocolHandler } from "@nats-io/nats-core/internal";
import { OptionsError } from "../errors.ts";
import { type ConnectionAttempts, watchAttempts } from "./connection_attempts.ts";
import { presizeIncomingMessages } from "./parser_buffers.ts";

/** What a `broker_url` looks like here, for messages. */
export const BROKER_URL_EXAMPLE = "ws://host:8443";

/**
 * Opens a NATS connection over WebSocket.
 *
 * @param options nats.js connection options; `servers` must be WebSocket URLs.
 * @returns The connection.
 *
 * @example
 * ```ts ignore
 * import { openConnection } from "./connect_browser.ts";
 * const nc = await openConnection({ servers: "ws://127.0.0.1:8443" });
 * await nc.close();
 * ```
 */
export function openConnection(options: ConnectionOptions): Promise<NatsConnection> {
  const servers = options.servers === undefined
    ? []
    : Array.isArray(options.servers)
    ? options.servers
    : [options.servers];
  const notWs = servers.find((s) => !/^wss?:\/\//i.test(s));
  if (notWs !== undefined) {
    // A misconfiguration no retry can fix: not a CONNECTION_FAILED.
    return Promise.reject(
      new OptionsError(
        `browsers reach NATS over WebSocket only: "${notWs}" is not a ws:// or wss:// URL (nats-server's websocket listener, like "${BROKER_URL_EXAMPLE}")`,
        { field: "broker_url" },
      ),
    );
  }
  presizeIncomingMessages();
  // wsconnect() makes its protocol handler through ProtocolHandler.connect,
  // synchronously; for that one call it is made here, watched
  // (connection_attempts.ts), as ProtocolHandler.connect would make it. Only
  // wsconnect knows nats.js's WebSocket transport, which nats.js does not export.
  const connect = ProtocolHandler.connect;
  ProtocolHandler.connect = (handlerOptions, publisher) => {
    ProtocolHandler.connect = connect;
    const protocol = new ProtocolHandler(handlerOptions, publisher);
    watchAttempts(protocol as unknown as ConnectionAttempts);
    return protocol.dialLoop().then(() => protocol);
  };
  try {
    return wsconnect(options);
  } finally {
    ProtocolHandler.connect = connect;
  }
}
