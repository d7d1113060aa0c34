/**
 * One reaction to a connection's close, shared by everything that waits on
 * it: `nc.closed()` stays pending for the connection's whole life, so a
 * `.then` per ack or per read would pile up one callback each until then.
 *
 * @module
 */
import type { NatsConnection } from "./nats_types.ts";

const watchers = new WeakMap<object, Set<() => void>>();

/**
 * Calls `callback` once `nc` closes (at once if it is closed already).
 *
 * @param nc The connection (none: never called).
 * @param callback What to do.
 * @returns Stops watching; call it when the wait is over, so nothing stays registered.
 *
 * @example
 * ```ts ignore
 * import { onClose } from "./connection_close.ts";
 * const unwatch = onClose(nc, () => console.log("closed"));
 * unwatch();
 * ```
 */
export function onClose(nc: NatsConnection | undefined, callback: () => void): () => void {
  if (!nc) return () => {};
  if (nc.isClosed()) {
    queueMicrotask(callback);
    return () => {};
  }
  let set = watchers.get(nc);
  if (!set) {
    const created = set = new Set();
    watchers.set(nc, created);
    nc.closed().then(() => {
      for (const c of [...created]) c();
      created.clear();
    }, () => {});
  }
  set.add(callback);
  return () => void set.delete(callback);
}

/**
 * How many callbacks wait on `nc`'s close: a number that must not grow with
 * the messages a long-lived connection carries.
 *
 * @param nc The connection.
 * @returns The count.
 *
 * @example
 * ```ts ignore
 * import { closeWatchers } from "./connection_close.ts";
 * console.log(closeWatchers(nc)); // 0 when nothing waits
 * ```
 */
export function closeWatchers(nc: NatsConnection): number {
  return watchers.get(nc)?.size ?? 0;
}

/**
 * Why a connection closed, for an error message: nats.js's reason, and when
 * the server refused the credentials on a reconnect ("Authorization
 * Violation", an expired or revoked user), what that means.
 *
 * @param why The error `nc.closed()` resolved with, if any.
 * @returns `""`, or ` (reason)` with the hint.
 *
 * @example
 * ```ts
 * import { closeReason } from "./connection_close.ts";
 * console.log(closeReason(new Error("Authorization Violation")).includes("credentials")); // true
 * ```
 */
export function closeReason(why: Error | undefined | void): string {
  if (!why) return "";
  const refused = /authori[sz]ation violation|authentication (expired|revoked)|user authentication/i.test(why.message);
  return ` (${why.message})${refused ? ": the server no longer accepts this user's credentials (changed, revoked or expired)" : ""}`;
}
