/**
 * A controller that also aborts when the caller's signal does, for as long as
 * an operation lasts.
 *
 * Why not `AbortSignal.any([outer, own.signal])`: Node 20 keeps every composite
 * signal made from a source that never aborts (nodejs/node#55351), and a
 * service passes one long-lived signal to every call, so it grew by 50-460
 * bytes per send, receive or request, for ever. A listener that is removed
 * when the operation ends holds nothing afterwards, on every runtime.
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
  const follow = () => controller.abort(outer.reason);
  outer.addEventListener("abort", follow, { once: true });
  return { controller, unlink: () => outer.removeEventListener("abort", follow) };
}
