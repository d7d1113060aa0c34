/**
 * Core-mode publishing: hand the envelope to the connection without waiting
 * for the server, but never into a connection that is known to be down.
 *
 * nats.js discards whatever was published while it was disconnected when it
 * dials again (`resetOutbound`), so a publish during an outage would vanish
 * silently. Each connection's status events are followed (public `status()`
 * iterator) and a publish while it is down fails at once. A connection seen
 * for the first time is checked with one round trip, since it may already be
 * down. `confirm: true` waits for the server to acknowledge the publish: a
 * PING after the PUB, its PONG proves the server read it; sends in flight
 * together share one PING, so a window of concurrent sends costs one round
 * trip, not one each.
 *
 * Measured here (bench row 1, Deno, 10 KiB direct): a round trip per send
 * held throughput to ~8,000 msgs/s against ~17,000 without it.
 *
 * @module
 */
import type { NatsConnection } from "./nats_types.ts";
import { settleWithin } from "./backoff.ts";
import { yieldToEventLoop } from "../workers/inline_codec.ts";
import { permissionDenied } from "./errors.ts";
import { logEvent, type Logger } from "./logger.ts";

/**
 * Milliseconds a confirmed send waits for the server: long enough for an
 * envelope of 1 MiB over a ~100 KB/s link, short enough that a hung server
 * is reported while the caller still cares.
 *
 * @example
 * ```ts ignore
 * import { DEFAULT_CONFIRM_TIMEOUT } from "./publisher.ts";
 * console.log(DEFAULT_CONFIRM_TIMEOUT); // 10000
 * ```
 */
export const DEFAULT_CONFIRM_TIMEOUT = 10_000;

/** What is known about one connection. */
interface ConnectionState {
  /** The server's status stream said it is disconnected, or it is closed. */
  down: boolean;
  /** A round trip has succeeded since this state was created. */
  verified: boolean;
  /** The PING that publishes of the current synchronous stretch share. */
  pendingFlush?: Promise<void>;
  /** Fails the flushes not settled yet: once a close has begun, nats.js's never settle. */
  unsettledFlushes: Set<(err: Error) => void>;
  /** Who waits to hear of a refused publish, by subject (see {@link watchRefusals}). */
  watchers: Map<string, Set<{ refusal?: Error }>>;
  /** The log sink of the latest send: a refusal of an unconfirmed publish can only be logged. */
  logger?: Logger;
}

const states = new WeakMap<NatsConnection, ConnectionState>();

/** Publish failures known to have reached no one (see {@link notDelivered}). */
const undelivered = new WeakSet<object>();

/**
 * Marks `err` as a publish failure that reached no one, and returns it.
 *
 * @param err The failure.
 * @returns `err`.
 *
 * @example
 * ```ts
 * import { markNotDelivered, notDelivered } from "./publisher.ts";
 * console.log(notDelivered(markNotDelivered(new Error("connection closed")))); // true
 * ```
 */
export function markNotDelivered<E>(err: E): E {
  if (typeof err === "object" && err !== null) undelivered.add(err);
  return err;
}

/**
 * Whether a publish failure is known to have reached no one: the message was
 * never written, or nothing was subscribed to take it. A send may then remove
 * what it uploaded; after any other failure (a confirm that timed out) the
 * message may still arrive, and its links must stay.
 *
 * @param err What a publish threw, as thrown (before any wrapping).
 * @returns `true` when nothing was delivered for certain.
 *
 * @example
 * ```ts
 * import { notDelivered } from "./publisher.ts";
 * console.log(notDelivered(new Error("timeout"))); // false
 * ```
 */
export function notDelivered(err: unknown): boolean {
  return typeof err === "object" && err !== null && undelivered.has(err);
}

/**
 * Follows `nc`'s status events from now on (idempotent). Call it right after
 * connecting, while the connection is known to be up, to spare the first send
 * its round trip.
 *
 * @param nc The connection.
 * @param knownUp The caller just opened it.
 *
 * @example
 * ```ts ignore
 * import { watchConnection } from "./publisher.ts";
 * watchConnection(nc, true);
 * ```
 */
export function watchConnection(nc: NatsConnection, knownUp = false): void {
  let state = states.get(nc);
  if (!state) {
    const created: ConnectionState = { down: nc.isClosed(), verified: false, unsettledFlushes: new Set(), watchers: new Map() };
    states.set(nc, state = created);
    follow(nc, created);
    // One reaction per connection: racing each flush against closed() would pile them up.
    nc.closed().then((err) => {
      created.down = true;
      const why = new Error(`connection closed before the server confirmed it${err ? ` (${err.message})` : ""}: it may still arrive`);
      for (const fail of created.unsettledFlushes) fail(why);
    });
  }
  if (knownUp && !state.down) state.verified = true;
}

function follow(nc: NatsConnection, state: ConnectionState): void {
  (async () => {
    for await (const s of nc.status()) {
      switch (s.type) {
        case "disconnect":
        case "reconnecting":
        case "staleConnection":
        case "forceReconnect":
          state.down = true;
          break;
        case "reconnect":
          state.down = false;
          break;
        case "close":
          state.down = true;
          return;
        case "error": {
          // The server drops a publish its permissions refuse and says so only
          // here, after the fact: a confirmed send looks for it (see publishEnvelope).
          const e = s.error as Error & { operation?: string; subject?: string };
          if (e?.name !== "PermissionViolationError" || e.operation !== "publish" || !e.subject) break;
          // Told to each watcher of the subject itself: however many refusals
          // arrive in one round trip, none is pushed out before it is looked at.
          const watching = state.watchers.get(e.subject);
          for (const watch of watching ?? []) watch.refusal ??= e;
          // Watched, the send (or pull, or dead letter) reports it itself.
          if (state.logger && !watching?.size && !e.subject.startsWith("$JS.")) {
            logEvent(state.logger, "warn", "", `The server refused a publish to "${e.subject}" (${e.message}): that message was dropped; a send with confirm: true fails with PERMISSION_DENIED instead`);
          }
          break;
        }
      }
    }
  })().catch(() => {
    // The status stream ends with the connection; nothing is left to follow.
    state.down = true;
  });
}

/**
 * Watches for the server's refusal of publishes to `subject` (its
 * permissions), from now until `stop()`: NATS says so only on the status
 * stream, after the fact. Start before publishing; look after a round trip
 * and one task (the refusal precedes the PONG).
 *
 * @param nc The connection.
 * @param subject The exact subject published to.
 * @returns `refusal` (nats.js's `PermissionViolationError`, once one came) and `stop()`.
 *
 * @example
 * ```ts ignore
 * import { watchRefusals } from "./publisher.ts";
 * const watch = watchRefusals(nc, "jobs.new");
 * nc.publish("jobs.new", bytes);
 * await nc.flush();
 * watch.stop();
 * if (watch.refusal) console.log("refused:", watch.refusal.message);
 * ```
 */
export function watchRefusals(nc: NatsConnection, subject: string): { readonly refusal?: Error; stop(): void } {
  watchConnection(nc);
  const { watchers } = states.get(nc)!;
  const watch: { refusal?: Error } = {};
  let set = watchers.get(subject);
  if (!set) watchers.set(subject, set = new Set());
  set.add(watch);
  return {
    get refusal() {
      return watch.refusal;
    },
    stop() {
      set!.delete(watch);
      if (set!.size === 0 && watchers.get(subject) === set) watchers.delete(subject);
    },
  };
}

/**
 * Why a core publish on `nc` would fail now, before anything is written:
 * `"connection closed"`, or `"connection is down (reconnecting)"` while it is
 * disconnected; `undefined` while it is up. A send asks before its uploads,
 * each of which would otherwise leave a file no envelope points to.
 *
 * @param nc A connection.
 * @returns The reason, or `undefined`.
 *
 * @example
 * ```ts ignore
 * import { whyUnpublishable } from "./publisher.ts";
 * if (whyUnpublishable(nc)) console.log("not now");
 * ```
 */
export function whyUnpublishable(nc: NatsConnection): string | undefined {
  watchConnection(nc);
  if (nc.isClosed()) return "connection closed";
  return states.get(nc)!.down ? "connection is down (reconnecting)" : undefined;
}

/**
 * Publishes `data` on `nc`; with `confirm`, resolves once the server has it.
 *
 * @param nc An open connection.
 * @param subject Subject.
 * @param data The envelope's bytes.
 * @param confirm Wait for the server's acknowledgement (one shared round trip).
 * @param confirmTimeout Milliseconds that wait may take.
 * @param signal Ends that wait.
 * @param logger Where a refusal by the server's permissions is logged when
 *   the send is not confirmed (a confirmed one fails with `PERMISSION_DENIED`).
 * @throws {Error} `connection is down` while disconnected; nats.js errors
 *   (closed connection, bad subject) as they are. The caller wraps them.
 *
 * @example
 * ```ts ignore
 * import { publishEnvelope } from "./publisher.ts";
 * await publishEnvelope(nc, "jobs", bytes, false);
 * ```
 */
export async function publishEnvelope(
  nc: NatsConnection,
  subject: string,
  data: Uint8Array,
  confirm: boolean,
  confirmTimeout: number = DEFAULT_CONFIRM_TIMEOUT,
  signal?: AbortSignal,
  logger?: Logger,
): Promise<void> {
  const down = whyUnpublishable(nc);
  if (down) throw markNotDelivered(new Error(down));
  const state = states.get(nc)!;
  if (logger) state.logger = logger;
  const watch = confirm ? watchRefusals(nc, subject) : undefined;
  try {
    try {
      nc.publish(subject, data);
    } catch (err) {
      // nats.js refuses before writing: a closed connection, a bad subject, a message over max_payload.
      throw markNotDelivered(err);
    }
    if (confirm || !state.verified) {
      // nats.js's flush has no timeout of its own: a server that hangs with its
      // socket open would hold the send until the stale-connection check,
      // minutes later. The flush is shared by other sends and settles on its own.
      const late = () => new Error(`not confirmed by the server within ${confirmTimeout / 1000} s: it may still arrive`);
      await settleWithin(sharedFlush(nc, state), confirmTimeout, late, signal, "Send");
      state.verified = true;
      if (watch) {
        // The server's "-ERR Permissions Violation" precedes its PONG; one task
        // later the status stream has surely handed it over (the two may arrive in
        // one read, and the status stream is a few promise hops behind the flush).
        // Not a timer: setTimeout(0) waits 1 ms or more, per send.
        await yieldToEventLoop();
        if (watch.refusal) throw markNotDelivered(permissionDenied(watch.refusal, "Send")!);
      }
    }
  } finally {
    watch?.stop();
  }
}

/** One PING for every publish made before it is sent. */
function sharedFlush(nc: NatsConnection, state: ConnectionState): Promise<void> {
  if (!state.pendingFlush) {
    // Issued after the current synchronous stretch, so it follows every PUB made in it.
    state.pendingFlush = new Promise<void>((resolve, reject) => {
      state.unsettledFlushes.add(reject);
      const settled = () => state.unsettledFlushes.delete(reject);
      Promise.resolve().then(() => {
        state.pendingFlush = undefined;
        return nc.flush();
      }).then(resolve, reject).finally(settled);
    });
  }
  return state.pendingFlush;
}
