/**
 * A core NATS subscription's messages (for `Bridge.subscribe` and the CLI), with nats.js's own errors
 * made natsbridge's: a subject the server's permissions refuse is
 * `PERMISSION_DENIED`, a subscription that failed otherwise
 * `CONNECTION_FAILED`, and one that ended because the connection closed
 * (credentials revoked, the server gone for good) says so, rather than
 * ending like a listen that was asked to stop.
 *
 * @module
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { permissionDenied, TransportError } from "./errors.ts";
import { settleWithin, sleep } from "./backoff.ts";
import { yieldToEventLoop } from "../workers/inline_codec.ts";
import { closeReason } from "./connection_close.ts";

/**
 * Resolves once the server has seen `sub` (one round trip), and throws when it
 * refused it: before a command says it is listening.
 *
 * @param nc The connection `sub` was made on.
 * @param sub The subscription.
 * @param what What it is for, for the message.
 * @throws {TransportError} `PERMISSION_DENIED` when the server refused the subject.
 *
 * @example
 * ```ts ignore
 * import { subscribed } from "./subscriptions.ts";
 * const sub = nc.subscribe("chat");
 * await subscribed(nc, sub, `Subscription to "chat"`);
 * ```
 */
export async function subscribed(nc: NatsConnection, sub: Subscription, what: string): Promise<void> {
  await nc.flush();
  // The refusal comes before the flush's PONG; nats.js closes the subscription a few promise hops later.
  await yieldToEventLoop();
  if (!sub.isClosed()) return;
  const why = await sub.closed;
  if (why) throw typed(why, what);
}

/**
 * `sub`'s messages; its failure as a typed error. An end the caller did not
 * make (`stopped`) is `CONNECTION_FAILED` when the connection closed on an
 * error, or closed with none and `quietCloseFails` says that was not asked for.
 *
 * @param nc The connection `sub` was made on.
 * @param sub The subscription.
 * @param what What it is for, for messages.
 * @param stopped Whether the caller ended it (then an end is no failure).
 * @param quietCloseFails Whether a close without an error fails it too (by
 *   default: a command line's connection is closed by no one else).
 * @returns The messages.
 *
 * @example
 * ```ts ignore
 * import { messagesOf } from "./subscriptions.ts";
 * for await (const msg of messagesOf(nc, nc.subscribe("chat"), `Subscription to "chat"`, () => false)) console.log(msg.subject);
 * ```
 */
export async function* messagesOf(
  nc: NatsConnection,
  sub: Subscription,
  what: string,
  stopped: () => boolean,
  quietCloseFails: () => boolean = () => true,
): AsyncGenerator<Msg> {
  try {
    for await (const msg of sub) yield msg;
  } catch (err) {
    throw typed(err, what);
  }
  if (stopped()) return;
  // nats.js ends the subscriptions first, then closes: the close is awaited, briefly.
  const closed = await settleWithin(nc.closed().then((why) => ({ why })), 1000, () => new Error("open")).catch(() => undefined);
  if (closed && !closed.why) await sleep(0); // the status stream's "disconnect" told first
  if (closed && (closed.why || quietCloseFails())) {
    const { why } = closed;
    throw new TransportError("CONNECTION_FAILED", `${what} ended: the connection to NATS closed${closeReason(why)}`, { cause: why });
  }
}

function typed(err: unknown, what: string): TransportError {
  return permissionDenied(err, what) ??
    new TransportError("CONNECTION_FAILED", `${what} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
