/**
 * Tells when a subscription's loop falls behind: core NATS messages it has
 * not taken yet wait in the client's memory, without bound.
 *
 * @module
 */

/**
 * Bytes waiting above which a backlog is reported: the server's own default
 * `max_pending` per client, which the server never sees passed while the
 * client reads its socket as fast as messages come.
 */
export const BACKLOG_WARNING_BYTES = 64 * 1024 * 1024;

/**
 * Watches a subscription's backlog from its loop: called with the size of
 * each message the loop takes, it estimates the bytes still waiting (their
 * count times the mean size so far) and calls `onBehind` once when that
 * passes `limit`, again only after it fell under half.
 *
 * @param pending How many messages wait (nats.js's `Subscription.getPending()`).
 * @param onBehind Told the count and estimated bytes waiting.
 * @param limit Bytes waiting that count as behind.
 * @returns What the loop calls with each message's size.
 *
 * @example
 * ```ts
 * import { backlogWatcher } from "./backlog.ts";
 * const took = backlogWatcher(() => 1000, (n, bytes) => console.log(n, bytes), 1_000_000);
 * took(10_000); // logs 1000 10000000
 * took(10_000); // still behind: silent
 * ```
 */
export function backlogWatcher(
  pending: () => number,
  onBehind: (count: number, bytes: number) => void,
  limit: number = BACKLOG_WARNING_BYTES,
): (size: number) => void {
  let taken = 0;
  let takenBytes = 0;
  let behind = false;
  return (size) => {
    taken++;
    takenBytes += size;
    const count = pending();
    const bytes = count * (takenBytes / taken);
    if (!behind && bytes > limit) {
      behind = true;
      onBehind(count, bytes);
    } else if (behind && bytes < limit / 2) {
      behind = false;
    }
  };
}
