/**
 * Following a caller's abort signal for as long as an operation lasts.
 *
 * Why not `AbortSignal.any([outer, own.signal])`: Node 20 keeps every composite
 * signal made from a source that never aborts (nodejs/node#55351), and a
 * service passes one long-lived signal to every call, so it grew by 50-460
 * bytes per send, receive or request, for ever. A listener that is removed
 * when the operation ends holds nothing afterwards, on every runtime.
 *
 * Why one listener per signal, not one per operation: Node warns
 * ("MaxListenersExceededWarning: Possible EventTarget memory leak detected")
 * once 11 listeners sit on one signal, and a service that shares its shutdown
 * signal across more than ten sends, receives or subscriptions at once is not
 * leaking. natsbridge adds a single listener to each signal it is given and
 * tells every operation following it from there.
 *
 * @module
 */

/** What {@link linkedAbort} returns. */
export interface LinkedAbort {
  /** Aborted by the operation itself, or with the outer signal's reason. */
  readonly controller: AbortController;
  /** The operation is over: the outer signal no longer holds the controller. Idempotent. */
  unlink(): void;
}

const NOTHING = () => {};

/** The operations following a signal, and the one listener that tells them. */
interface Followers {
  readonly calls: Set<() => void>;
  readonly listener: () => void;
}

const following = new WeakMap<AbortSignal, Followers>();

/**
 * Calls `onAbort` when `signal` aborts, until the returned function is called.
 * As with `addEventListener`, a signal that has already aborted never calls
 * it: check `signal.aborted` first. A throwing `onAbort` is reported as an
 * uncaught error and does not keep the others from being called.
 *
 * @param signal The signal to follow.
 * @param onAbort Called once, when `signal` aborts.
 * @returns Stops following (idempotent); the last to stop removes natsbridge's listener.
 *
 * @example
 * ```ts
 * import { followAbort } from "./linked_abort.ts";
 * const caller = new AbortController();
 * let told = 0;
 * const stops = Array.from({ length: 20 }, () => followAbort(caller.signal, () => told++));
 * caller.abort();
 * console.log(told); // 20
 * stops.forEach((stop) => stop());
 * ```
 */
export function followAbort(signal: AbortSignal, onAbort: () => void): () => void {
  if (signal.aborted) return NOTHING;
  let followers = following.get(signal);
  if (!followers) {
    const calls = new Set<() => void>();
    const listener = () => {
      following.delete(signal);
      for (const call of [...calls]) {
        try {
          call();
        } catch (err) {
          queueMicrotask(() => {
            throw err;
          });
        }
      }
      calls.clear();
    };
    followers = { calls, listener };
    following.set(signal, followers);
    signal.addEventListener("abort", listener, { once: true });
  }
  // A function of its own: the same onAbort may follow twice and stop once.
  const call = () => onAbort();
  const { calls, listener } = followers;
  calls.add(call);
  return () => {
    if (!calls.delete(call) || calls.size > 0) return;
    signal.removeEventListener("abort", listener);
    if (following.get(signal)?.calls === calls) following.delete(signal);
  };
}

/**
 * Makes a controller that follows `outer` until {@link LinkedAbort.unlink}.
 *
 * @param outer The caller's signal, if any.
 * @returns The controller, and `unlink` to call when the operation ends.
 *
 * @example
 * ```ts
 * import { linkedAbort } from "./linked_abort.ts";
 * const caller = new AbortController();
 * const op = linkedAbort(caller.signal);
 * caller.abort(new Error("stop"));
 * console.log(op.controller.signal.aborted); // true
 * op.unlink();
 * ```
 */
export function linkedAbort(outer: AbortSignal | undefined): LinkedAbort {
  const controller = new AbortController();
  if (!outer) return { controller, unlink: NOTHING };
  if (outer.aborted) {
    controller.abort(outer.reason);
    return { controller, unlink: NOTHING };
  }
  return { controller, unlink: followAbort(outer, () => controller.abort(outer.reason)) };
}
