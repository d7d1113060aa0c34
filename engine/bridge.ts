/**
 * {@link Bridge}: one NATS connection and one set of defaults, with send,
 * subscribe-as-async-iterator, request/reply and reply.
 *
 * @module
 */
import { createInbox, type Status, type Subscription } from "@nats-io/nats-core";
import type { NatsConnection } from "./nats_types.ts";
import { abortReason, settleWithin } from "./backoff.ts";
import { checkFunction, checkKnownKeys, checkMillis, checkQueue, checkSubject, definedOnly, optionNames, resolveBrokerUrl } from "./config.ts";
import { connectTo, DRAIN_TIMEOUT, drainWithin, redact } from "./connection.ts";
import { NatsBridgeError, OptionsError, TransportError } from "./errors.ts";
import { replyMatcher } from "./reply_match.ts";
import { type ConsumeOptions, consumeEnvelopes } from "./jetstream.ts";
import { messagesOf } from "./subscriptions.ts";
import { uuid4 } from "./ids.ts";
import { followAbort, followWhileReachable, linkedAbort } from "./linked_abort.ts";
import { consoleLogger, type Logger, logEvent } from "./logger.ts";
import { checkReceiveOptions, RECEIVE_OPTION_NAMES, receiveChecked, smartreceive, type SmartReceiveOptions } from "./receive.ts";
import { SEND_OPTION_NAMES, smartsend, type SmartSendOptions } from "./send.ts";
import type { MsgEnvelopeV1, ReceivedEnvelope, SendItem } from "./types.ts";
import { backlogWatcher } from "./backlog.ts";

/**
 * Defaults a {@link Bridge} applies to every send and receive.
 *
 * @example
 * ```ts ignore
 * import { Bridge, type BridgeOptions, plikFileServer } from "natsbridge";
 * const options: BridgeOptions = {
 *   broker_url: "nats://127.0.0.1:4222",
 *   fileserver: plikFileServer({ url: "http://127.0.0.1:8080" }),
 *   sender_name: "sensor-7",
 *   size_threshold: 1_000_000,
 * };
 * const bridge = await Bridge.connect(options);
 * ```
 */
export type BridgeOptions =
  & Omit<SmartSendOptions, "nats_connection" | "signal" | "correlation_id" | "msg_id" | "reply_to" | "reply_to_msg_id">
  & Omit<SmartReceiveOptions, "signal" | "logger" | "on_progress">
  & {
    /** Use this connection instead of opening one; the bridge will not close it. */
    nats_connection?: NatsConnection | undefined;
  };

/**
 * Options of {@link Bridge.send} and {@link Bridge.reply}: `smartsend`'s,
 * without those that name a connection, which is the bridge's.
 *
 * @example
 * ```ts
 * import type { BridgeSendOptions } from "natsbridge";
 * const options: BridgeSendOptions = { msg_purpose: "updateStatus", size_threshold: 100_000 };
 * console.log(options.msg_purpose); // "updateStatus"
 * ```
 */
export type BridgeSendOptions = Omit<SmartSendOptions, "nats_connection" | "connect_options" | "broker_url">;

/** What a send through a bridge may not name: its connection is the bridge's. */
const CONNECTION_OPTIONS = ["nats_connection", "connect_options", "broker_url"] as const;

/** An error for the first connection option `options` names, if any. */
function connectionOptionError(options: object | null | undefined): OptionsError | undefined {
  const key = CONNECTION_OPTIONS.find((k) => (options as Record<string, unknown> | null)?.[k] !== undefined);
  return key && new OptionsError(`${key} is the bridge's: give it to Bridge.connect (a send through a bridge goes over its connection)`, { field: key });
}

/**
 * Options of {@link Bridge.subscribe}.
 *
 * @example A queue group that reports bad messages
 * ```ts ignore
 * import { Bridge, type SubscribeOptions } from "natsbridge";
 * const bridge = await Bridge.connect({ broker_url: "nats://127.0.0.1:4222" });
 * const options: SubscribeOptions = {
 *   queue: "workers",
 *   on_error: (err) => console.error(err.code, err.correlationId, err.message),
 * };
 * for await (const env of bridge.subscribe("jobs", options)) console.log(env.payloads);
 * ```
 */
export interface SubscribeOptions {
  /** Queue group: each message goes to one member of the group. */
  queue?: string | undefined;
  /** Ends the iteration (and the subscription) when aborted. */
  signal?: AbortSignal | undefined;
  /**
   * Called for a message that cannot be received (bad envelope, failed
   * download, checksum mismatch); the iteration goes on.
   * @default {logs the error through the bridge's logger}
   */
  on_error?: ((error: NatsBridgeError, raw: Uint8Array) => void) | undefined;
  /** Per-message receive options, over the bridge's defaults. */
  receive?: Omit<SmartReceiveOptions, "signal"> | undefined;
}

/**
 * Options of {@link Bridge.request}.
 *
 * @example
 * ```ts ignore
 * import { Bridge, type RequestOptions } from "natsbridge";
 * const bridge = await Bridge.connect({ broker_url: "nats://127.0.0.1:4222" });
 * const options: RequestOptions = { timeout: 5000, msg_purpose: "query" };
 * const reply = await bridge.request("svc.echo", [["q", "ping", "text"]], options);
 * ```
 */
export type RequestOptions = Omit<BridgeSendOptions, "reply_to"> & {
  /**
   * Milliseconds to wait for the reply.
   * @default {30000}
   */
  timeout?: number | undefined;
  /**
   * Receive options for the reply, over the bridge's defaults. Its
   * `fileserver` defaults to the bridge's, else to the request's
   * `fileserver`: a service answering through the store the request came by
   * is answered through it.
   */
  receive?: Omit<SmartReceiveOptions, "signal"> | undefined;
};

/** Options of Bridge.connect: send defaults and receive defaults, one object. */
const BRIDGE_OPTION_NAMES: ReadonlySet<string> = new Set(
  [...SEND_OPTION_NAMES, ...RECEIVE_OPTION_NAMES].filter((k) =>
    !["signal", "correlation_id", "msg_id", "reply_to", "reply_to_msg_id"].includes(k)
  ),
);
/**
 * Milliseconds close() gives the sends it aborted to clean up (an Object
 * Store put purging its chunks waits up to a second for that) before it drains.
 */
const SEND_ABORT_WAIT_MS = 1500;

const SUBSCRIBE_OPTION_NAMES = optionNames<SubscribeOptions>({ queue: true, signal: true, on_error: true, receive: true });

/**
 * A connection to NATS with natsbridge defaults.
 *
 * @example Sending and receiving with one bridge
 * ```ts ignore
 * import { Bridge } from "natsbridge";
 * const bridge = await Bridge.connect({ broker_url: "nats://127.0.0.1:4222" });
 * const sub = bridge.subscribe("chat");
 * await bridge.send("chat", [["message", "Hello!", "text"]]);
 * for await (const env of sub) {
 *   console.log(env.payloads[0]); // ["message", "Hello!", "text"]
 *   break;
 * }
 * await bridge.close();
 * ```
 */
export class Bridge {
  /** The NATS connection. */
  readonly connection: NatsConnection;
  readonly #defaults: BridgeOptions;
  readonly #owned: boolean;
  readonly #logger: Logger;
  /** Sends not settled yet, which close() lets finish. */
  readonly #sending = new Set<Promise<unknown>>();
  /** Aborted when close() has waited for the sends as long as it may. */
  readonly #closeAbort = new AbortController();
  /**
   * Aborted once close() is done, on the application's connection (which it
   * leaves open): ends the subscriptions and consume loops the bridge started
   * there, as closing its own connection ends them.
   */
  readonly #loopsEnd = new AbortController();
  /** The close under way, shared by every call of close(). */
  #closing?: Promise<void>;
  /** The server went away (a disconnect without a reconnect since): a close now was not the application's. */
  #lost = false;

  private constructor(connection: NatsConnection, defaults: BridgeOptions, owned: boolean) {
    this.connection = connection;
    this.#defaults = defaults;
    this.#owned = owned;
    this.#logger = defaults.logger ?? consoleLogger();
    if (owned) this.#logConnectionEvents();
  }

  /**
   * Says when the connection is lost and regained: core NATS drops what is
   * published to a subscriber while it is away (a server restart, or one that
   * cut this client off as a slow consumer), and nothing else would say so.
   */
  #logConnectionEvents(): void {
    const nc = this.connection;
    (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect") this.#lost = true;
        else if (s.type === "reconnect") this.#lost = false;
        if (s.type === "disconnect") {
          logEvent(this.#logger, "warn", "", `Disconnected from NATS at ${redact(s.server)}: core messages published to this bridge's subscriptions meanwhile are lost; sends fail until it reconnects`);
        } else if (s.type === "reconnect") {
          logEvent(this.#logger, "warn", "", `Reconnected to NATS at ${redact(s.server)}`);
        }
      }
    })().catch(() => {});
  }

  /**
   * Opens a bridge: connects to `broker_url` (or adopts `nats_connection`).
   *
   * @param options Defaults for every call.
   * @returns The bridge.
   * @throws {TransportError} `CONNECTION_FAILED` when no server answers;
   * `PERMISSION_DENIED` when the server refuses the credentials.
   * @throws {OptionsError} `INVALID_OPTION` for a malformed `broker_url` or option.
   */
  static async connect(options: BridgeOptions = {}): Promise<Bridge> {
    options ??= {}; // null from plain JavaScript callers: no options
    checkKnownKeys(options, BRIDGE_OPTION_NAMES, "Bridge.connect");
    const brokerUrl = resolveBrokerUrl(options.broker_url);
    // What subscribers will receive with, checked before any connection is made.
    checkReceiveOptions(Object.fromEntries(Object.entries(options).filter(([k]) => RECEIVE_OPTION_NAMES.has(k))));
    if (options.nats_connection) return new Bridge(options.nats_connection, options, false);
    const nc = await connectTo(brokerUrl, "", options.connect_options);
    return new Bridge(nc, { ...options, broker_url: brokerUrl }, true);
  }

  /**
   * Sends payloads; see `smartsend`.
   *
   * @param subject Subject to publish to.
   * @param items `[dataname, data, payload_type]` items.
   * @param options Per-call options over the bridge's defaults.
   * @returns `[envelope, envelopeJson]`.
   */
  send(
    subject: string,
    items: readonly SendItem[],
    options: BridgeSendOptions = {},
  ): Promise<[MsgEnvelopeV1, string]> {
    const wrong = connectionOptionError(options);
    if (wrong) return Promise.reject(wrong);
    if (this.#closed() && (options?.is_publish ?? this.#defaults.is_publish) !== false) {
      const stays = this.#owned ? "" : " (the application's connection stays open)";
      return Promise.reject(new TransportError("PUBLISH_FAILED", `Publish to "${subject}" refused: the bridge is closed${stays}`));
    }
    // The caller's signal, or close()'s: one shared signal when there is no
    // caller's, so a send costs no controller of its own.
    const op = options.signal ? linkedAbort(options.signal) : undefined;
    const unfollow = op ? followAbort(this.#closeAbort.signal, () => op.controller.abort(this.#closeAbort.signal.reason)) : undefined;
    const signal = op?.controller.signal ?? this.#closeAbort.signal;
    const sending = smartsend(subject, items, { ...this.#sendDefaults(), ...definedOnly(options), signal, nats_connection: this.connection });
    this.#sending.add(sending);
    const done = () => {
      this.#sending.delete(sending);
      op?.unlink();
      unfollow?.();
    };
    sending.then(done, done);
    return sending;
  }

  /**
   * Receives one message or envelope; see `smartreceive`.
   *
   * @param msg A nats.js `Msg`, JSON text, bytes or a parsed envelope.
   * @param options Per-call options over the bridge's defaults.
   * @returns The decoded envelope.
   */
  receive(
    msg: Parameters<typeof smartreceive>[0],
    options: SmartReceiveOptions = {},
  ): Promise<ReceivedEnvelope> {
    return smartreceive(msg, { ...this.#receiveDefaults(), ...definedOnly(options) });
  }

  /**
   * Subscribes and yields each decoded envelope in arrival order. A message
   * that fails to decode goes to `on_error` and the iteration continues.
   * Breaking out of the loop or aborting `signal` ends the subscription.
   *
   * @param subject Subject (wildcards allowed).
   * @param options Queue group, cancellation, error callback.
   * @returns An async iterable of envelopes.
   * @throws {OptionsError} `INVALID_OPTION` for a subject or queue nats.js refuses.
   * @throws {TransportError} `CONNECTION_FAILED` when the connection is closed.
   */
  subscribe(subject: string, options: SubscribeOptions = {}): AsyncIterable<ReceivedEnvelope> & {
    unsubscribe(): void;
  } {
    options ??= {}; // null from plain JavaScript callers: no options
    checkKnownKeys(options, SUBSCRIBE_OPTION_NAMES, "subscribe");
    checkSubject(subject, true);
    if (options.queue !== undefined) checkQueue(options.queue);
    const { signal } = options;
    // Checked now, once: a bad option would otherwise fail every message, one by one.
    const receiveOptions = { ...this.#receiveDefaults(), ...definedOnly(options.receive), signal };
    const checked = checkReceiveOptions(receiveOptions);
    const onError = checkFunction(options.on_error, "on_error") ?? ((err: NatsBridgeError) =>
      logEvent(this.#logger, "warn", err.correlationId, `Dropped a message on ${subject}: ${err.code} ${err.message}`));
    if (this.#closed()) throw new TransportError("CONNECTION_FAILED", `Cannot subscribe to "${subject}": the bridge is closed`);
    let sub: Subscription;
    try {
      sub = this.connection.subscribe(subject, { queue: options.queue });
    } catch (err) {
      const what = `Cannot subscribe to "${subject}": ${(err as Error).message}`;
      throw /^Invalid/.test((err as Error).name)
        ? new OptionsError(what, { field: "subject", cause: err })
        : new TransportError("CONNECTION_FAILED", what, { cause: err });
    }
    // nats.js still hands over what it had buffered after unsubscribe: nothing more is delivered once stopped.
    let stopped = false;
    let unfollow = () => {};
    let unfollowClose = () => {};
    const stop = () => {
      stopped = true;
      // Here, not only when the iteration ends: an iterator never started never ends,
      // and a long-lived signal would keep every such subscription.
      unfollow();
      unfollowClose();
      sub.unsubscribe();
    };
    if (signal?.aborted) stop(); // "abort" has fired already: it will not again
    else if (signal) unfollow = followAbort(signal, stop);
    if (!this.#owned && !stopped) unfollowClose = followAbort(this.#loopsEnd.signal, stop);
    const connection = this.connection;
    // Ended by the caller or by close(): quiet. Otherwise messagesOf says why
    // (refused, or the connection closed under it) as a typed error.
    const endedByUs = () => stopped || this.#closing !== undefined;
    const closedUnasked = () => this.#closedUnasked();
    const logger = this.#logger;
    // An async loop keeps the socket read, so the server never sees it fall
    // behind (its max_pending): what waits is held here, and said so.
    const tookOne = backlogWatcher(() => sub.getPending(), (count, bytes) =>
      logEvent(logger, "warn", "", `Subscription to "${subject}" has ${count} messages (about ${Math.round(bytes / 1048576)} MiB) waiting in memory: its loop is slower than they arrive (pace the publishers, handle messages side by side, or use JetStream, which pulls one at a time)`));
    async function* iterate(): AsyncGenerator<ReceivedEnvelope> {
      try {
        for await (const msg of messagesOf(connection, sub, `Subscription to "${subject}"`, endedByUs, closedUnasked)) {
          // After close(), too: a drain still delivers what was buffered, whose replies could only fail.
          if (endedByUs()) return;
          tookOne(msg.data.byteLength);
          try {
            yield await receiveChecked(msg, receiveOptions, checked);
          } catch (err) {
            if (signal?.aborted) return;
            onError(err instanceof NatsBridgeError ? err : new TransportError("PUBLISH_FAILED", String(err)), msg.data);
          }
        }
      } finally {
        stop();
      }
    }
    const it = iterate();
    return Object.assign(it, { unsubscribe: stop });
  }

  /**
   * Sends a request and waits for the envelope that replies to it (its
   * `reply_to_msg_id` equals the request's `msg_id`, or is empty as the
   * spec's services leave it: the reply inbox is this request's alone). The send is confirmed
   * (`confirm: true` unless given otherwise): a request the server's
   * permissions drop fails at once instead of waiting out `timeout`.
   *
   * @param subject Subject of the service.
   * @param items Payloads of the request.
   * @param options Send options plus `timeout` (ms, default 30000).
   * @returns The reply, decoded.
   * @throws {TransportError} `TIMEOUT` when no reply arrives in time;
   *   `PERMISSION_DENIED` when the server refuses the subject or the reply inbox.
   */
  async request(
    subject: string,
    items: readonly SendItem[],
    options: RequestOptions = {},
  ): Promise<ReceivedEnvelope> {
    options ??= {}; // null from plain JavaScript callers: no options
    const wrong = connectionOptionError(options);
    if (wrong) throw wrong;
    const timeout = checkMillis(options.timeout ?? 30_000, "timeout", 1);
    if (options.is_publish === false) {
      throw new OptionsError("request needs is_publish: a request that is not published cannot be answered", { field: "is_publish" });
    }
    if (this.#closed()) throw new TransportError("PUBLISH_FAILED", `Request to "${subject}" refused: the bridge is closed`);
    const inbox = createInbox();
    const msgId = options.msg_id || uuid4();
    const { receive, timeout: _timeout, ...sendOptions } = options;
    // Aborted by the timer, a reply that fails, or the caller's signal.
    const { controller, unlink } = linkedAbort(options.signal);
    const { signal } = controller;
    // A reply handed over with streams: they read on after the return, and must still heed the caller's signal.
    let streamsHanded = false;
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let replies: ReturnType<Bridge["subscribe"]> | undefined;
    // A reply that fails to decode (bad checksum, download error) is the
    // answer to this request all the same: surface its error, don't time out.
    let failure: NatsBridgeError | undefined;
    const match = replyMatcher(msgId);
    try {
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, timeout);
      replies = this.subscribe(inbox, {
        signal,
        // The request's store is the reply's when nothing else names one: the
        // bridge's default store, or receive.fileserver, still comes first.
        receive: options.fileserver && !this.#defaults.fileserver ? { fileserver: options.fileserver, ...definedOnly(receive) } : receive,
        on_error: (err, raw) => {
          const replyTo = replyToOf(raw);
          if (replyTo !== undefined && match.answers(replyTo)) {
            failure = err;
            controller.abort();
          }
        },
      });
      let request: MsgEnvelopeV1;
      try {
        // Confirmed unless the caller says otherwise: one round trip, against a
        // request the server's permissions dropped waiting out its whole timeout.
        [request] = await this.send(subject, items, { confirm: true, ...definedOnly(sendOptions), msg_id: msgId, reply_to: inbox, signal });
      } catch (err) {
        // Our own timer stopped the send: to the caller, the request timed out.
        if (!timedOut || options.signal?.aborted) throw err;
        throw new TransportError("TIMEOUT", `No reply on "${subject}" within ${timeout} ms: the request was still being sent`, {
          correlationId: (err as NatsBridgeError).correlationId,
          cause: err,
        });
      }
      try {
        for await (const env of replies) {
          if (!match.answers(env.reply_to_msg_id)) continue;
          streamsHanded = env.payloads.some(([, value]) => value instanceof ReadableStream);
          return env;
        }
      } catch (err) {
        // The inbox's subscription ended with its connection: said of the request.
        if ((err as NatsBridgeError).code !== "CONNECTION_FAILED") throw err;
        throw new TransportError("CONNECTION_FAILED", `No reply on "${subject}": the connection closed`, {
          correlationId: request.correlation_id,
          cause: err,
        });
      }
      if (failure) throw failure;
      if (options.signal?.aborted) throw abortReason(options.signal, "Request", request.correlation_id);
      if (!signal.aborted) {
        // The replies ended before the timer: the connection closed under the
        // request, or (the application's connection) close() ended the bridge.
        const why = this.#closed() ? "the bridge was closed" : "the connection closed";
        throw new TransportError("CONNECTION_FAILED", `No reply on "${subject}": ${why}`, {
          correlationId: request.correlation_id,
        });
      }
      throw new TransportError("TIMEOUT", `No reply on "${subject}" within ${timeout} ms${match.strays()}`, {
        correlationId: request.correlation_id,
      });
    } finally {
      clearTimeout(timer);
      unlink();
      // For the streams' life, not the caller's signal's: a link kept for them
      // was never cut, one controller per request on a long-lived signal.
      if (streamsHanded && options.signal) followWhileReachable(options.signal, controller);
      replies?.unsubscribe();
    }
  }

  /**
   * Replies to a received envelope: sends to its `reply_to`, with
   * `reply_to_msg_id` = its `msg_id` and the same `correlation_id`.
   *
   * @param to The envelope being answered.
   * @param items Payloads of the reply.
   * @param options Send options.
   * @returns `[envelope, envelopeJson]`; rejects with {@link OptionsError}
   *   (`INVALID_OPTION`) when `to` has no `reply_to`.
   */
  reply(
    to: Pick<ReceivedEnvelope, "reply_to" | "msg_id" | "correlation_id">,
    items: readonly SendItem[],
    options: BridgeSendOptions = {},
  ): Promise<[MsgEnvelopeV1, string]> {
    if (!to?.reply_to) {
      // A rejection, not a throw: services chain .catch() on it.
      return Promise.reject(new OptionsError("Cannot reply: the envelope has no reply_to", { correlationId: to?.correlation_id }));
    }
    return this.send(to.reply_to, items, {
      correlation_id: to.correlation_id,
      reply_to_msg_id: to.msg_id,
      ...definedOnly(options),
    });
  }

  /**
   * Consumes envelopes from a durable JetStream consumer (at-least-once): a
   * message is acked once its payloads are verified and the loop body that
   * got it has finished; transient failures are naked with backoff;
   * permanently bad messages go to the dead-letter subject, then are
   * terminated; a redelivered `msg_id` already handled is not yielded again.
   *
   * @param options Stream, durable name, dead-letter subject, retries.
   * @returns An async iterable of decoded envelopes.
   *
   * @example
   * ```ts ignore
   * import { Bridge, ensureStream } from "natsbridge";
   * const bridge = await Bridge.connect({ broker_url: "nats://127.0.0.1:4222" });
   * await ensureStream(bridge.connection, { name: "JOBS", subjects: ["jobs.>"] });
   * await bridge.send("jobs.new", [["job", { id: 1 }, "dictionary"]], { jetstream: true });
   * for await (const env of bridge.consume({ stream: "JOBS", durable: "worker" })) {
   *   console.log(env.payloads);
   * }
   * ```
   */
  consume(options: ConsumeOptions): AsyncIterable<ReceivedEnvelope> {
    if (this.#closed()) return refusedLoop(new TransportError("CONNECTION_FAILED", "Cannot consume: the bridge is closed"));
    // On the application's connection, close() ends the loop as the caller's signal would.
    const own = options?.signal;
    const signal = this.#owned ? own : own ? AbortSignal.any([own, this.#loopsEnd.signal]) : this.#loopsEnd.signal;
    return consumeEnvelopes(this.connection, {
      ...options,
      ...(signal ? { signal } : {}),
      receive: { ...this.#receiveDefaults(), ...definedOnly(options?.receive) },
    }, this.#logger, () => this.#closedUnasked());
  }

  /**
   * close() was called. What comes after it is refused in the bridge's words,
   * on its own connection too: there nats.js's refusal named a request's
   * reply inbox ('Cannot subscribe to "_INBOX.…": closed connection').
   */
  #closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Whether a close of the connection with no error was still not asked for:
   * the bridge opened it, is not closing it, and the server had gone away (a
   * server gone with `reconnect: false`), unlike the application's own
   * `bridge.connection.close()` or `drain()`.
   */
  #closedUnasked(): boolean {
    return this.#owned && this.#closing === undefined && this.#lost;
  }

  /**
   * The connection's events as they happen: `disconnect`, `reconnecting`,
   * `reconnect`, `error`, `slowConsumer`, `close`, … (nats.js `Status`). The
   * bridge reconnects by itself, with backoff, for as long as it is open.
   *
   * @returns An async iterable of status events.
   *
   * @example
   * ```ts ignore
   * import { Bridge } from "natsbridge";
   * const bridge = await Bridge.connect({ broker_url: "nats://127.0.0.1:4222" });
   * for await (const s of bridge.status()) console.log(s.type);
   * ```
   */
  async *status(): AsyncGenerator<BridgeStatus> {
    for await (const s of this.connection.status()) {
      // Spelt out above, for JSR's docs: nats.js does not export its Status type from the package root.
      const { type, ...rest } = s as { type: BridgeStatus["type"] } & Record<string, unknown>;
      yield { type, data: rest };
    }
  }

  /**
   * Drains and closes the connection, if the bridge opened it, once the sends
   * in progress have finished (within the same timeout). On the application's
   * connection (`nats_connection`), which stays open, it ends the bridge's
   * subscriptions and consume loops instead, and refuses later sends. A drain that
   * takes longer than `options.timeout` ms (a server that hangs) is given up
   * and the connection closed: what was not yet flushed is lost, as it would
   * be with that server anyway.
   *
   * @param options `timeout`: longest wait for the drain, default {@link DRAIN_TIMEOUT} (10 s).
   *
   * @example
   * ```ts ignore
   * import { Bridge } from "natsbridge";
   * const bridge = await Bridge.connect({ broker_url: "nats://127.0.0.1:4222" });
   * await bridge.close({ timeout: 2_000 });
   * ```
   */
  async close(options: { timeout?: number } = {}): Promise<void> {
    const timeout = checkMillis(options?.timeout ?? DRAIN_TIMEOUT, "timeout", 1);
    // One close for all callers: a second one closing the connection under the
    // first's drain left that drain to wait out its whole timeout.
    await (this.#closing ??= this.#close(timeout));
  }

  async #close(timeout: number): Promise<void> {
    if (this.connection.isClosed()) return;
    // A send still uploading needs the connection (an Object Store put, a
    // JetStream ack): closing under it failed it and left its chunks behind.
    const started = Date.now();
    await settleWithin(Promise.allSettled([...this.#sending]), timeout, () => new Error("sends still running")).catch(() => {});
    if (this.#sending.size) {
      // Still running when the wait is over: aborted while the connection is
      // up, so each cleans up after itself (an Object Store put purges its
      // chunks) instead of failing under the drain and leaving them behind.
      this.#closeAbort.abort(new Error(`Bridge.close() waited ${timeout} ms for it to finish`));
      await settleWithin(Promise.allSettled([...this.#sending]), SEND_ABORT_WAIT_MS, () => new Error("sends still running")).catch(() => {});
    }
    if (this.#owned) await drainWithin(this.connection, Math.max(1, timeout - (Date.now() - started)));
    else this.#loopsEnd.abort();
  }

  /** `await using bridge = await Bridge.connect()` closes it at scope end. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #sendDefaults(): SmartSendOptions {
    const { fileserver_download_handler: _d, max_retries: _r, base_delay: _b, max_delay: _m,
      allowed_origins: _a, verify_checksum: _v, max_download_bytes: _x, stream: _s, ...send } = this.#defaults;
    return send;
  }

  #receiveDefaults(): SmartReceiveOptions {
    const d = this.#defaults;
    return {
      fileserver_download_handler: d.fileserver_download_handler,
      max_retries: d.max_retries,
      base_delay: d.base_delay,
      max_delay: d.max_delay,
      fileserver_url: d.fileserver_url,
      allowed_origins: d.allowed_origins,
      fileserver: d.fileserver,
      verify_checksum: d.verify_checksum,
      max_download_bytes: d.max_download_bytes,
      stream: d.stream,
      pool: d.pool,
      logger: this.#logger,
    };
  }
}

/** A loop that fails at its first step: consume() of a closed bridge. */
// deno-lint-ignore require-yield -- it ends before anything could be yielded
async function* refusedLoop(err: Error): AsyncGenerator<ReceivedEnvelope> {
  throw err;
}

/** The `reply_to_msg_id` of a raw envelope, if it has one (to match replies that fail to decode). */
function replyToOf(raw: Uint8Array): string | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(raw));
    return typeof v?.reply_to_msg_id === "string" ? v.reply_to_msg_id : undefined;
  } catch {
    return undefined;
  }
}

// BridgeStatus["type"] spells out nats.js's Status["type"] (private to JSR's
// docs); this fails to compile when they part.
type SameTypes<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const STATUS_TYPES_IN_STEP: SameTypes<Status["type"], BridgeStatus["type"]> = true;
void STATUS_TYPES_IN_STEP;

/**
 * One connection event from {@link Bridge.status}.
 *
 * @example
 * ```ts
 * import type { BridgeStatus } from "natsbridge";
 * const s: BridgeStatus = { type: "reconnect", data: { server: "127.0.0.1:4222" } };
 * console.log(s.type); // "reconnect"
 * ```
 */
export interface BridgeStatus {
  /** nats.js's status types. */
  type:
    | "disconnect"
    | "reconnecting"
    | "reconnect"
    | "update"
    | "ldm"
    | "error"
    | "ping"
    | "staleConnection"
    | "slowConsumer"
    | "forceReconnect"
    | "close";
  /** The event's details as nats.js reports them (server, error, counts). */
  data: Record<string, unknown>;
}
