/**
 * Keeps a JetStream message with the worker that has it while its payloads
 * move, so that a download longer than `ack_wait` is not delivered again.
 *
 * @module
 */
import type { ProgressCallback } from "./types.ts";

/**
 * A progress callback that tells the server the message is still being
 * worked on (`+WPI`, resetting its ack timer), at most three times per
 * `ack_wait`. Progress, not a timer, drives it: a transfer that stalls stops
 * the reminders, and the message goes to another worker after `ack_wait`, as
 * one held by a stuck process should.
 *
 * @param msg The message being received.
 * @param ackWaitMs The consumer's `ack_wait`, in milliseconds.
 * @param then The application's own progress callback, called after.
 * @returns The callback to give the receive as `on_progress`.
 *
 * @example
 * ```ts
 * import { inProgressWhileMoving } from "./in_progress.ts";
 * let told = 0;
 * const onProgress = inProgressWhileMoving({ working: () => told++ }, 30_000, undefined);
 * onProgress({ dataname: "blob", direction: "download", done: 1, total: 2 });
 * console.log(told); // 0: delivered just now, the server's timer is fresh
 * ```
 */
export function inProgressWhileMoving(
  msg: { working(): void },
  ackWaitMs: number,
  then: ProgressCallback | undefined,
): ProgressCallback {
  const every = ackWaitMs / 3;
  let last = Date.now();
  return (progress) => {
    const now = Date.now();
    if (now - last >= every) {
      last = now;
      try {
        msg.working();
      } catch { /* the connection closed: the message comes back after ack_wait, as it would anyway */ }
    }
    then?.(progress);
  };
}
