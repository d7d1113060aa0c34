/**
 * How many chunk bytes an Object Store put may have awaiting acks, and how
 * long each ack may take, from the pace at which the server acknowledges.
 *
 * A fixed window does not fit every link: 4 MiB ahead keeps a fast link busy,
 * but over a 100 KB/s link the last of those chunks is acknowledged 40 s after
 * it was published, long past nats.js's 5 s ack timeout, so the put took a
 * slow link for a dead server and failed. Here the window follows the
 * measured rate (about a second of the link, at least two chunks, at most
 * {@link PUT_IN_FLIGHT_BYTES}) and an ack's timeout follows the bytes queued
 * ahead of it, so a put goes at its link's pace and a server that stops
 * answering is still noticed within seconds of its due time.
 *
 * @module
 */

/**
 * Most bytes of chunks published ahead of their acks: enough to keep the
 * server busy across a round trip on a fast link, little enough to bound what
 * one put holds.
 *
 * @example
 * ```ts
 * import { PUT_IN_FLIGHT_BYTES } from "./ack_pace.ts";
 * console.log(PUT_IN_FLIGHT_BYTES); // 4194304
 * ```
 */
export const PUT_IN_FLIGHT_BYTES = 4 * 1024 * 1024;

/** Shortest wait for an ack: nats.js's own default request timeout. */
export const ACK_WAIT_MS = 5_000;

/**
 * Wait for the first chunk's ack, before the link has shown its pace: a slow
 * link and a dead server look alike until then. As long as a read waits for a
 * silent link.
 */
export const FIRST_ACK_WAIT_MS = 30_000;

/** An ack may take this many times as long as the bytes ahead of it should. */
const PATIENCE_FACTOR = 4;

/** Seconds of the link's measured rate a put keeps in flight. */
const WINDOW_SECONDS = 1;

/** Acks the rate is averaged over: enough to smooth one late ack. */
const SAMPLES = 8;

/**
 * Paces one put's chunks by its acks.
 *
 * @example
 * ```ts
 * import { AckPace } from "./ack_pace.ts";
 * const pace = new AckPace(256 * 1024);
 * console.log(pace.windowBytes()); // 524288: two chunks until an ack shows the link's pace
 * pace.acked(256 * 1024, 0, 2_621); // acknowledged 2.6 s after it was published: ~100 KB/s
 * console.log(pace.windowBytes()); // 524288: still two chunks, a second of this link being less
 * console.log(pace.ackTimeout(524288)); // 20968: four times the 5.2 s those bytes take
 * ```
 */
export class AckPace {
  readonly #chunkSize: number;
  readonly #bytes: number[] = [];
  readonly #ms: number[] = [];
  #lastAckAt = -Infinity;

  /** @param chunkSize Bytes per chunk of the put. */
  constructor(chunkSize: number) {
    this.#chunkSize = chunkSize;
  }

  /** Acknowledged bytes per second over the last few acks; 0 before the first. */
  get rate(): number {
    let bytes = 0;
    let ms = 0;
    for (let i = 0; i < this.#bytes.length; i++) {
      bytes += this.#bytes[i];
      ms += this.#ms[i];
    }
    return bytes === 0 ? 0 : (bytes * 1000) / Math.max(ms, 1e-3);
  }

  /** Bytes of chunks that may await their acks at once. */
  windowBytes(): number {
    // Two chunks keep a link busy while an ack comes back; before the first
    // ack, their acks are due within FIRST_ACK_WAIT_MS down to ~17 KB/s.
    return Math.max(2 * this.#chunkSize, Math.min(PUT_IN_FLIGHT_BYTES, this.rate * WINDOW_SECONDS));
  }

  /**
   * Milliseconds to wait for the ack of a chunk published with `bytesAhead`
   * awaiting acks, itself included.
   */
  ackTimeout(bytesAhead: number): number {
    const rate = this.rate;
    if (rate === 0) return FIRST_ACK_WAIT_MS;
    return Math.max(ACK_WAIT_MS, Math.ceil((PATIENCE_FACTOR * bytesAhead * 1000) / rate));
  }

  /**
   * Records the ack of a chunk of `bytes` published at `publishedAt` (ms, the
   * clock of `now`). Its link time runs from when the link was free of the
   * chunks before it: their last ack, or its publication if later.
   */
  acked(bytes: number, publishedAt: number, now: number = performance.now()): void {
    const ms = Math.max(0, now - Math.max(this.#lastAckAt, publishedAt));
    this.#lastAckAt = now;
    this.#bytes.push(bytes);
    this.#ms.push(ms);
    if (this.#bytes.length > SAMPLES) {
      this.#bytes.shift();
      this.#ms.shift();
    }
  }
}
