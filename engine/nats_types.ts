/**
 * The nats.js types natsbridge's public API speaks, under natsbridge's names.
 *
 * They are aliases, not copies: a connection from any nats.js transport
 * (`@nats-io/transport-node`, `@nats-io/transport-deno`, `wsconnect`) is a
 * {@link NatsConnection} here, and `bridge.connection` goes to every nats.js
 * API as it is. Naming them here lets the API docs (JSR) document them as part
 * of natsbridge instead of pointing at types the package does not export.
 *
 * @module
 */
import type { ConnectionOptions, NatsConnection as NatsCoreConnection } from "@nats-io/nats-core";

/**
 * An open NATS connection: nats.js's `NatsConnection`, as returned by
 * `connect()` of `@nats-io/transport-node` / `@nats-io/transport-deno` or
 * `wsconnect()` of `@nats-io/nats-core`.
 *
 * @example Reusing one connection for several sends
 * ```ts ignore
 * import { connect } from "@nats-io/transport-node";
 * import { type NatsConnection, smartsend } from "natsbridge";
 * const nc: NatsConnection = await connect({ servers: "nats://127.0.0.1:4222" });
 * await smartsend("chat", [["m", "hi", "text"]], { nats_connection: nc });
 * await nc.drain();
 * ```
 */
export type NatsConnection = NatsCoreConnection;

/**
 * nats.js connection options for a connection natsbridge opens itself:
 * `tls` (`{ caFile, certFile, keyFile }`), `token`, `user`/`pass`,
 * `authenticator` (NKeys, creds), reconnect settings, `name`, ….
 * `servers` comes from `broker_url` and is ignored here.
 *
 * @example TLS with a private CA and a token
 * ```ts
 * import type { ConnectOptions } from "natsbridge";
 * const options: ConnectOptions = { tls: { caFile: "ca.pem" }, token: "s3cret", reconnectTimeWait: 500 };
 * console.log(options.token); // "s3cret"
 * ```
 */
export type ConnectOptions = ConnectionOptions;
