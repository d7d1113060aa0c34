/**
 * The idle timeout of an HTTP exchange: a transfer may take as long as it
 * needs while bytes move, but one that goes quiet (a server that hangs, a
 * network that black-holes) is abandoned instead of waited on forever.
 *
 * @module
 */

/** What {@link idleGuard} returns. */
export interface IdleGuard {
  /** Aborts `ms` after the last {@link IdleGuard.touch}, or when the outer signal does. */
  readonly signal: AbortSignal;
  /** Bytes moved: the quiet time starts again. */
  touch(): void;
  /** The exchange is over: no timer is left running. */
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
export function idleGuard(ms: number, outer?: AbortSignal): IdleGuard {
  const idle = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard: IdleGuard = {
    signal: outer ? AbortSignal.any([outer, idle.signal]) : idle.signal,
    touch() {
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(new Error(`no answer for ${ms / 1000} s`)), ms);
    },
    stop: () => clearTimeout(timer),
    get fired() {
      return idle.signal.aborted;
    },
  };
  guard.touch();
  return guard;
}
