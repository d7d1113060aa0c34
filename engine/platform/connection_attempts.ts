/**
 * Connection attempts that fail when the server ends them, not at nats.js's
 * connect timeout. Shared by both connect seams (`connect.ts`,
 * `connect_browser.ts`).
 *
 * @module
 */
import { ConnectionError } from "@nats-io/nats-core/internal";

/**
 * The parts of nats.js's protocol handler (`ProtocolHandler`) that
 * {@link watchAttempts} works with.
 */
export type ConnectionAttempts = {
  /** The transport of the current attempt; `connected` once it reached the server (INFO read). */
  transport: { closed(): Promise<void | Error>; connected?: boolean };
  /** Fails the current attempt; set until the server answered its handshake. */
  connectError?: (err?: Error) => void;
  /** The last error the server sent (`-ERR`). */
  lastError?: Error;
  /** Makes the next attempt's transport. */
  prepare(): unknown;
  /** Reports a lost connection and reconnects (or closes). */
  disconnected(err?: Error): Promise<void>;
};

/**
 * Watches each attempt of a connection natsbridge opens, the first and each
 * one a reconnect makes (nats.js prepares a new transport for every attempt):
 * one whose transport the server closes before answering its handshake fails
 * at once.
 *
 * nats.js, when it reconnects (its default), left such an attempt waiting
 * for the answer until its connect timeout (20 s), and then gave up on the
 * connection even if a reconnect had got through meanwhile. Servers end an
 * attempt so for a client without the certificate they verify (TLS 1.3 ends
 * the handshake only after the client took it as done), one whose
 * certificate they do not trust, and one over their `max_connections` (after
 * an `-ERR` saying so, the reason given here where the runtime delivers it).
 *
 * Such an attempt is not reported as a disconnect: nats.js reported one for
 * each, and as many reconnects when one got through, where there was one
 * outage (a lost connection) or none (a first connect).
 *
 * Were nats.js to stop making transports in `prepare()`, attempts would
 * simply go unwatched, with the old wait.
 *
 * @param protocol The protocol handler, before it dials.
 * @param onTransport Called with each attempt's transport.
 *
 * @example
 * ```ts ignore
 * import { ProtocolHandler } from "@nats-io/nats-core/internal";
 * import { watchAttempts } from "./connection_attempts.ts";
 * const protocol = new ProtocolHandler(nc.options, nc);
 * watchAttempts(protocol);
 * await protocol.dialLoop();
 * ```
 */
export function watchAttempts(protocol: ConnectionAttempts, onTransport?: (transport: object) => void): void {
  const { prepare, disconnected } = protocol;
  if (typeof prepare !== "function" || typeof disconnected !== "function") return;
  protocol.disconnected = function (this: ConnectionAttempts, err?: Error) {
    // Called by nats.js for every transport that closes. One that closed while
    // its attempt was being set up is no lost connection: the attempt fails
    // (below) and the dial loop already running goes on, to the next server
    // if there is one. nats.js reported a disconnect for each, and a reconnect
    // for each when one got through; without reconnects, it closed the
    // connection there, and the servers after the first went untried.
    if (this.connectError) return Promise.resolve();
    return disconnected.call(this, err);
  };
  protocol.prepare = function (this: ConnectionAttempts) {
    const answered = prepare.call(this);
    const transport = this.transport;
    const earlier = this.lastError;
    onTransport?.(transport);
    // connectError is set until the attempt is answered. A transport that
    // never reached the server failed its dial, which says why itself
    // ("connection refused"); nats.js's WebSocket transport reports that
    // close too, with no error.
    void transport.closed().then((err) => {
      if (this.transport !== transport || !this.connectError || !transport.connected) return;
      // The server's -ERR, if it gave one, says more than the write that met the closed socket (EPIPE).
      const said = this.lastError !== earlier ? this.lastError : undefined;
      this.connectError(said ?? err ?? new ConnectionError("the server closed the connection before answering"));
    });
    return answered;
  };
}
