/**
 * Publish order: sends on one subject of one connection are published in the
 * order they were called, as NATS keeps a publisher's order, even when one of
 * them must first encode on a worker or upload a link and a later one has
 * nothing to wait for. The work itself still runs at once, side by side; only
 * the hand-over to the connection waits its turn.
 *
 * @module
 */

/** One send's place in the order of publishes on its subject. */
export interface PublishTurn {
  /**
   * Settles once every earlier send on the subject has published or failed;
   * `undefined` when none is still pending (the common case: no wait at all).
   */
  readonly ahead: Promise<void> | undefined;
  /** This send has been handed to the connection, or has failed: later ones may go. Idempotent. */
  leave(): void;
}

class Turn implements PublishTurn {
  ahead: Promise<void> | undefined;
  /** This send and every one before it have left. */
  done = false;
  #left = false;
  #settled?: Promise<void>;
  #resolve?: () => void;
  readonly #onDone: (turn: Turn) => void;

  constructor(before: Turn | undefined, onDone: (turn: Turn) => void) {
    this.#onDone = onDone;
    if (before && !before.done) {
      this.ahead = before.settled().then(() => {
        this.ahead = undefined;
        if (this.#left) this.#finish();
      });
    }
  }

  /** Made only when a later send has to wait: most never need it. */
  settled(): Promise<void> {
    if (this.done) return Promise.resolve();
    return this.#settled ??= new Promise<void>((resolve) => (this.#resolve = resolve));
  }

  leave(): void {
    if (this.#left) return;
    this.#left = true;
    // A send that failed early still holds the later ones until those before it have gone.
    if (!this.ahead) this.#finish();
  }

  #finish(): void {
    this.done = true;
    this.#resolve?.();
    this.#onDone(this);
  }
}

/** Per connection: the last turn taken on each subject, while it is pending. */
const lastTurns = new WeakMap<object, Map<string, Turn>>();

/**
 * Takes the next turn to publish on `subject` of `connection`. Call it
 * synchronously when the send is called, then await `ahead` (if set) right
 * before publishing, and `leave()` once the message is handed over or the
 * send has failed.
 *
 * @param connection The connection the send publishes on.
 * @param subject Its subject.
 * @returns The turn.
 *
 * @example
 * ```ts
 * import { takeTurn } from "./publish_order.ts";
 * const nc = {};
 * const first = takeTurn(nc, "jobs");
 * const second = takeTurn(nc, "jobs");
 * console.log(first.ahead === undefined, second.ahead !== undefined); // true true
 * first.leave();
 * await second.ahead;
 * second.leave();
 * ```
 */
export function takeTurn(connection: object, subject: string): PublishTurn {
  let turns = lastTurns.get(connection);
  if (!turns) lastTurns.set(connection, turns = new Map());
  const map = turns;
  const turn = new Turn(map.get(subject), (t) => {
    if (map.get(subject) === t) map.delete(subject);
  });
  map.set(subject, turn);
  return turn;
}
