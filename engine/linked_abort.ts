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
 * What outlives its call (streams handed to the caller) cannot say when it
 * ends: {@link followWhileReachable} links it for as long as it is reachable,
 * and a FinalizationRegistry cuts the link once it is collected.
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

/** Cuts the links of {@link followWhileReachable} whose signal was collected. */
const collected = new FinalizationRegistry<() => void>((stop) => stop());
/** Where a signal keeps the controller that aborts it: reachable from what holds the signal. */
const OWNER = Symbol("natsbridge.abortOwner");
/** Where a signal keeps the signal it follows. */
const FOLLOWED = Symbol("natsbridge.abortFollowed");
/** Where a stream keeps the signal it heeds. */
const HELD_SIGNAL = Symbol("natsbridge.heldSignal");

/**
 * Keeps `controller` following `outer` for as long as `controller.signal` is
 * reachable, not until `outer` aborts: for what outlives the call that made
 * it (streams handed to the caller, which hold the signal while they read).
 * The link is cut once the signal is collected, so a long-lived `outer`
 * holds nothing of them afterwards. No `AbortSignal.any`: Node 20 keeps an
 * entry on `outer` for each composite made from it, for ever.
 *
 * @param outer The caller's signal.
 * @param controller Aborted with `outer`'s reason while its signal lives.
 *
 * @example
 * ```ts
 * import { followWhileReachable } from "./linked_abort.ts";
 * const caller = new AbortController();
 * const op = new AbortController();
 * followWhileReachable(caller.signal, op);
 * caller.abort();
 * console.log(op.signal.aborted); // true
 * ```
 */
export function followWhileReachable(outer: AbortSignal, controller: AbortController): void {
  if (outer.aborted) return controller.abort(outer.reason);
  // The signal holds its controller and what it follows (which may itself
  // follow another signal so, while it lives); the link holds neither.
  const held = controller.signal as unknown as Record<symbol, unknown>;
  held[OWNER] = controller;
  held[FOLLOWED] = outer;
  const owner = new WeakRef(controller);
  const stop = followAbort(outer, () => owner.deref()?.abort(outer.reason));
  collected.register(controller.signal, stop);
}

/**
 * Makes `holder` (a stream handed to the caller) keep `signal` reachable for
 * as long as it lives, so a {@link followWhileReachable} link to it lasts
 * that long, even where the stream's own code holds the signal only weakly.
 *
 * @param holder What outlives the call.
 * @param signal The signal it must keep heeding.
 * @returns `holder`.
 *
 * @example
 * ```ts
 * import { holdSignal } from "./linked_abort.ts";
 * const stream = holdSignal(new ReadableStream(), new AbortController().signal);
 * console.log(stream instanceof ReadableStream); // true
 * ```
 */
export function holdSignal<T extends object>(holder: T, signal: AbortSignal): T {
  (holder as unknown as Record<symbol, unknown>)[HELD_SIGNAL] = signal;
  return holder;
}
