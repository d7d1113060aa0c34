/**
 * The idle timeout of an HTTP exchange: a transfer may take as long as it
 * needs while bytes move, but one that goes quiet (a server that hangs, a
 * network that black-holes) is abandoned instead of waited on forever.
 *
 * @module
 */
import { linkedAbort } from "../linked_abort.ts";

/** What {@link idleGuard} returns. */
export interface IdleGuard {
  /** Aborts `ms` after the last {@link IdleGuard.touch}, or when the outer signal does. */
  readonly signal: AbortSignal;
  /** Bytes moved: the quiet time starts again. */
  touch(): void;
  /** The exchange is over: no timer is left running, and `outer` no longer holds the guard. */
  stop(): void;
  /** Whether the guard itself fired (not the outer signal). */
  readonly fired: boolean;
}

/**
 * A signal for `fetch` that fires after `ms` without a {@link IdleGuard.touch}
 * and with `outer`, its reason an `Error` saying "no answer for N s".
 *
 * @param ms Quiet time allowed, in milliseconds.
 * @param outer The caller's signal, if any.
 * @param outlives The signal is still used after {@link IdleGuard.stop} (a body read later).
 * @returns The guard, already counting.
 *
 * @example
 * ```ts
 * import { idleGuard } from "./idle_guard.ts";
 * const guard = idleGuard(30_000);
 * // const res = await fetch(url, { signal: guard.signal }); guard.touch() on each chunk…
 * guard.stop();
 * console.log(guard.fired); // false
 * ```
 */
export function idleGuard(ms: number, outer?: AbortSignal, outlives = false): IdleGuard {
  // Joined with a listener removed by stop(): AbortSignal.any would leak on
  // Node 20 (see linked_abort.ts). A signal that must outlive stop() (a
  // response body read after the call returns) still needs the join.
  const linked = outlives || !outer ? undefined : linkedAbort(outer);
  const own = linked?.controller ?? new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let fired = false;
  const guard: IdleGuard = {
    signal: linked || !outer ? own.signal : AbortSignal.any([outer, own.signal]),
    touch() {
      clearTimeout(timer);
      timer = setTimeout(() => {
        fired = !guard.signal.aborted;
        own.abort(new Error(`no answer for ${ms / 1000} s`));
      }, ms);
    },
    stop: () => {
      clearTimeout(timer);
      linked?.unlink();
    },
    get fired() {
      return fired;
    },
  };
  guard.touch();
  return guard;
}
