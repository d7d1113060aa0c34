/**
 * JetStream mode: at-least-once delivery. Sending publishes with
 * `Nats-Msg-Id` = `msg_id` and waits for the stream's ack (so a retried
 * publish is stored once); consuming acks a message only after every payload
 * was downloaded and verified *and* the application finished with it, naks
 * transient failures with backoff, and terms permanently bad messages after
 * publishing them, with the reason, to a dead-letter subject.
 *
 * @module
 */
import type { NatsConnection } from "./nats_types.ts";
import {
  AckPolicy,
  type Consumer,
  type ConsumerInfo,
  type StreamInfo,
  DeliverPolicy,
  type JsMsg,
  jetstream,
  jetstreamManager,
  type PubAck,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { backoffDelays, retry, settleWithin, sleep, throwIfAborted } from "./backoff.ts";
import { parseEnvelope } from "./envelope.ts";
import { checkCount, checkFunction, checkKnownKeys, checkNonEmpty, checkOneOf, checkSubject, optionNames } from "./config.ts";
import { INVALID_MESSAGE_CODES, jetStreamError, NatsBridgeError, OptionsError, permissionDenied, TransportError } from "./errors.ts";
import { originOf } from "./origins.ts";
import { logEvent, type Logger } from "./logger.ts";
import { checkReceiveOptions, receiveChecked, type SmartReceiveOptions } from "./receive.ts";
import { markNotDelivered, watchRefusals } from "./publisher.ts";
import { describe } from "./codecs/text.ts";
import { watchPayloadStream } from "./payload_stream.ts";
import { sha256Hex } from "./platform/sha256.ts";
import { jetStreamOf } from "./handlers/object_store_reader.ts";
import { yieldToEventLoop } from "../workers/inline_codec.ts";
import { closeReason, onClose } from "./connection_close.ts";
import { inProgressWhileMoving } from "./in_progress.ts";
import type { ReceivedEnvelope } from "./types.ts";

/**
 * Options of a JetStream publish (`smartsend(…, { jetstream: {…} })`).
 *
 * @example
 * ```ts ignore
 * import { smartsend, type JetStreamPublishOptions } from "natsbridge";
 * const js: JetStreamPublishOptions = { timeout: 2000, attempts: 5, expect_stream: "JOBS" };
 * const [env] = await smartsend("jobs.new", [["job", { id: 1 }, "dictionary"]], { jetstream: js });
 * ```
 */
export interface JetStreamPublishOptions {
  /**
   * Milliseconds to wait for the stream's ack per attempt.
   * @default {5000}
   */
  timeout?: number | undefined;
  /**
   * Attempts before giving up; the same `Nats-Msg-Id` each time, so the
   * stream stores the message once however many attempts it took.
   * @default {10}
   */
  attempts?: number | undefined;
  /** Fail unless the subject belongs to this stream. */
  expect_stream?: string | undefined;
}

/**
 * Publishes an envelope to JetStream and waits for the ack, retrying with the
 * spec's backoff while the server is unreachable.
 *
 * @param nc Connection.
 * @param subject Subject (must be bound to a stream).
 * @param json Envelope JSON, as text or its UTF-8 bytes.
 * @param msgId The envelope's `msg_id`, used as `Nats-Msg-Id`.
 * @param options Timeout, attempts, expected stream.
 * @param correlationId For errors and logs.
 * @param logger Log sink.
 * @param signal Stops waiting and retrying: rejects with `ABORTED` at once.
 * A publish that already left (nats.js also queues it while reconnecting) may
 * still be stored; a later send of the same `msg_id` is then deduplicated.
 * @returns The stream's ack (`duplicate` is true when it already had this msg_id).
 *
 * @example Publishing an envelope built elsewhere
 * ```ts ignore
 * import { consoleLogger, publishToJetStream, smartsend } from "natsbridge";
 * import { connect } from "@nats-io/transport-node";
 * const nc = await connect({ servers: "nats://127.0.0.1:4222" });
 * const [env, json] = await smartsend("jobs.new", [["job", { id: 1 }, "dictionary"]], { is_publish: false });
 * const ack = await publishToJetStream(nc, "jobs.new", json, env.msg_id, {}, env.correlation_id, consoleLogger());
 * console.log(ack.stream, ack.seq, ack.duplicate);
 * ```
 */
export function publishToJetStream(
  nc: NatsConnection,
  subject: string,
  json: string | Uint8Array,
  msgId: string,
  options: JetStreamPublishOptions,
  correlationId: string,
  logger: Logger,
  signal?: AbortSignal,
): Promise<PubAck> {
  const js = jetstream(nc);
  const timeout = options.timeout ?? 5000;
  // A closed connection never comes back: no retry (10 of them took 11 s).
  const closed = (cause?: unknown) =>
    new TransportError("PUBLISH_FAILED", `JetStream publish to "${subject}" failed: connection closed`, { correlationId, cause });
  return retry(async (attempt) => {
    throwIfAborted(signal, "JetStream publish", correlationId);
    // Nothing was written on this attempt; an earlier one may have stored it.
    if (nc.isClosed()) throw attempt === 1 ? markNotDelivered(closed()) : closed();
    try {
      const publishing = js.publish(subject, json, {
        msgID: msgId,
        timeout,
        ...(options.expect_stream ? { expect: { streamName: options.expect_stream } } : {}),
      });
      // nats.js takes no signal: the wait is raced (its own timeout fires first otherwise).
      const ack = signal
        ? await settleWithin(publishing, timeout + 1000, () => new Error(`no ack within ${timeout} ms`), signal, "JetStream publish", correlationId)
        : await publishing;
      if (ack.duplicate) logEvent(logger, "info", correlationId, `JetStream already held msg_id ${msgId} (seq ${ack.seq})`);
      return ack;
    } catch (err) {
      if (nc.isClosed()) throw closed(err);
      // No retry changes permissions. Refused the publish, nothing was stored;
      // refused the inbox for the ack, it may have been.
      const denied = permissionDenied(err, `JetStream publish to "${subject}"`, correlationId);
      if (denied) throw /for Publish/i.test((err as Error).message) ? markNotDelivered(denied) : denied;
      // Nothing answered for the subject: either no stream captures it (retrying
      // cannot help: say so now) or JetStream is still starting (retry).
      if (/no responders|503|jetstream is not enabled/i.test(`${(err as Error).message} ${(err as { code?: unknown }).code ?? ""}`)) {
        // The server said in its INFO that it runs without JetStream: no retry
        // brings it. Unless it is in a cluster: it routes JetStream calls to the
        // nodes that have it, one of which may be away for the moment.
        if (nc.info && !nc.info.jetstream && !nc.info.cluster) {
          throw markNotDelivered(new TransportError(
            "CONNECTION_FAILED",
            `JetStream is not enabled on this server (start nats-server with -js), so "${subject}" cannot be published to a stream`,
            { correlationId, cause: err },
          ));
        }
        // "No responders": nothing was subscribed, so no one has the message either.
        if (await noStreamFor(nc, subject)) {
          throw markNotDelivered(new TransportError(
            "PUBLISH_FAILED",
            `No JetStream stream captures "${subject}" (create one with ensureStream, or the CLI's --stream NAME)`,
            { correlationId, cause: err },
          ));
        }
      } else if (/timeout|timed out/i.test(`${(err as Error).name} ${(err as Error).message}`) && await noStreamFor(nc, subject)) {
        // A plain subscriber took the request, so no "no responders": each retry
        // would time out again and hand it one more copy.
        throw new TransportError(
          "PUBLISH_FAILED",
          `No JetStream stream captures "${subject}"; a plain subscriber got the message, but nothing stored it (create a stream with ensureStream, or the CLI's --stream NAME)`,
          { correlationId, cause: err },
        );
      }
      throw err;
    }
  }, {
    attempts: options.attempts ?? 10,
    baseDelay: 100,
    maxDelay: 2000,
    signal,
    isFinal: (err) => err instanceof NatsBridgeError,
    onRetry: (err, _attempt, delay) =>
      logEvent(logger, "warn", correlationId, `JetStream publish to "${subject}" failed (${(err as Error).message}), retrying in ${delay} ms`),
    exhausted: (err, attempts) =>
      new TransportError("PUBLISH_FAILED", `JetStream publish to "${subject}" failed after ${attempts} attempts: ${(err as Error).message}`, {
        correlationId,
        cause: err,
      }),
  });
}

/**
 * Options of {@link ensureStream}.
 *
 * @example A work queue kept for a week, on three nodes
 * ```ts ignore
 * import { ensureStream, type EnsureStreamOptions } from "natsbridge";
 * import { connect } from "@nats-io/transport-node";
 * const nc = await connect({ servers: "nats://127.0.0.1:4222" });
 * const options: EnsureStreamOptions = {
 *   name: "JOBS",
 *   subjects: ["jobs.>"],
 *   retention: "workqueue",
 *   max_age: 7 * 24 * 3600 * 1000,
 *   replicas: 3,
 * };
 * await ensureStream(nc, options);
 * ```
 */
export interface EnsureStreamOptions {
  /** Stream name. */
  name: string;
  /**
   * `"workqueue"`: each message is delivered to one consumer and removed once
   * acked (needed for `delete_after_ack`).
   * @default {"limits"}
   */
  retention?: "limits" | "workqueue" | undefined;
  /** Subjects it captures. */
  subjects: string[];
  /**
   * Window (ms) in which a repeated `Nats-Msg-Id` is dropped as a duplicate.
   * @default {120000}
   */
  duplicate_window?: number | undefined;
  /**
   * Oldest message kept, ms (0 = forever).
   * @default {0}
   */
  max_age?: number | undefined;
  /**
   * Copies of the stream in a cluster (1, 3 or 5).
   * @default {1}
   */
  replicas?: number | undefined;
  /**
   * Where the stream keeps messages.
   * @default {"file"}
   */
  storage?: "file" | "memory" | undefined;
}

/**
 * Creates a stream if it does not exist (or updates its subjects if it does).
 *
 * @param nc Connection.
 * @param options Name, subjects, dedupe window.
 * @returns Nothing; the stream exists afterwards.
 *
 * @example
 * ```ts ignore
 * import { ensureStream } from "natsbridge";
 * import { connect } from "@nats-io/transport-node";
 * const nc = await connect({ servers: "nats://127.0.0.1:4222" });
 * await ensureStream(nc, { name: "ORDERS", subjects: ["orders.>"] });
 * ```
 */
export async function ensureStream(nc: NatsConnection, options: EnsureStreamOptions): Promise<void> {
  checkStreamOptions(nc, options);
  try {
    await createOrExtendStream(nc, options);
  } catch (err) {
    throw jetStreamError(`Cannot set up stream "${options.name}"`, err);
  }
}

/** What ensureStream would otherwise replace by a default, or fail on deep inside as CONNECTION_FAILED. */
function checkStreamOptions(nc: NatsConnection, options: EnsureStreamOptions): void {
  if (typeof (nc as { request?: unknown } | null)?.request !== "function") {
    throw new OptionsError("ensureStream needs an open NATS connection (nats.js NatsConnection)", { field: "nc" });
  }
  if (typeof options !== "object" || options === null) {
    throw new OptionsError(`ensureStream options must be an object like { name, subjects }, got ${describe(options)}`, { field: "options" });
  }
  checkNonEmpty(options.name, "name");
  if (!Array.isArray(options.subjects) || options.subjects.length === 0) {
    throw new OptionsError(`subjects must be a non-empty array of subjects, got ${describe(options.subjects)}`, { field: "subjects" });
  }
  for (const subject of options.subjects) checkSubject(subject, true, "subjects");
  checkOneOf(options.retention, "retention", ["limits", "workqueue"]);
  checkOneOf(options.storage, "storage", ["file", "memory"]);
  if (options.replicas !== undefined) checkCount(options.replicas, "replicas", 1);
  if (options.duplicate_window !== undefined) checkCount(options.duplicate_window, "duplicate_window", 0);
  if (options.max_age !== undefined) checkCount(options.max_age, "max_age", 0);
}

async function createOrExtendStream(nc: NatsConnection, options: EnsureStreamOptions): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const config = {
    name: options.name,
    subjects: options.subjects,
    retention: options.retention === "workqueue" ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    storage: options.storage === "memory" ? StorageType.Memory : StorageType.File,
    num_replicas: options.replicas ?? 1,
    duplicate_window: (options.duplicate_window ?? 120_000) * 1_000_000,
    max_age: (options.max_age ?? 0) * 1_000_000,
  };
  try {
    const info = await jsm.streams.info(options.name);
    // Add our subjects to the stream's: other producers may rely on the rest.
    const subjects = [...new Set([...(info.config.subjects ?? []), ...config.subjects])];
    await jsm.streams.update(options.name, { subjects, duplicate_window: config.duplicate_window });
  } catch (err) {
    if (!/not found/i.test((err as Error).message)) throw err;
    await jsm.streams.add(config);
  }
}

/**
 * Options of {@link consumeEnvelopes} / `Bridge.consume`.
 *
 * @example
 * ```ts ignore
 * import { Bridge, type ConsumeOptions } from "natsbridge";
 * const bridge = await Bridge.connect({ broker_url: "nats://127.0.0.1:4222" });
 * const stop = new AbortController();
 * const options: ConsumeOptions = {
 *   stream: "JOBS",
 *   durable: "worker",
 *   max_deliver: 3,
 *   signal: stop.signal,
 *   on_error: (err, action) => console.error(action, err.code, err.message),
 * };
 * for await (const env of bridge.consume(options)) console.log(env.payloads);
 * ```
 */
export interface ConsumeOptions {
  /** Stream to read. */
  stream: string;
  /** Durable consumer name; created if missing (explicit ack, deliver all). */
  durable: string;
  /** Only subjects matching this filter. */
  filter_subject?: string | undefined;
  /**
   * Subject that receives permanently bad messages (and ones that exhausted
   * `max_deliver`) with the reason, before they are terminated.
   * @default {"natsbridge.dead.<stream>"}
   */
  dead_letter_subject?: string | undefined;
  /**
   * Deliveries before a transiently failing message, or one the loop body
   * keeps leaving unfinished, is dead-lettered. Given, it is set on an
   * existing durable too (as two more: see the README), as is `ack_wait`,
   * each on its own; not given, the durable's own applies.
   * @default {5}
   */
  max_deliver?: number | undefined;
  /**
   * Milliseconds the server waits for an ack before redelivering: a loop
   * body must finish within it, or the message is delivered again (to
   * another consumer of the durable too, while the first still runs it).
   * Moving link payloads does not count while bytes keep coming: the
   * consumer tells the server it is still working on the message during
   * the download, and while the body reads a payload received as a stream.
   * @default {30000}
   */
  ack_wait?: number | undefined;
  /** Nak delays: `base_delay` doubling up to `max_delay` by delivery count. @default {1000, 30000} */
  nak_base_delay?: number | undefined;
  /** See `nak_base_delay`. */
  nak_max_delay?: number | undefined;
  /**
   * How many recently handled `msg_id`s to remember so a redelivered message
   * is acked without reaching the application a second time.
   * @default {100000}
   */
  dedupe_window?: number | undefined;
  /** Stops consuming when aborted. */
  signal?: AbortSignal | undefined;
  /** Receive options for each message (file server, origins, retries, …). */
  receive?: Omit<SmartReceiveOptions, "signal"> | undefined;
  /**
   * Delete a message's linked payloads from the claim-check store once the
   * message is acked. Allowed only on a work-queue stream, where the server
   * guarantees each message goes to one consumer (and so is acked once): with
   * several consumers reading the same message, the first ack would delete
   * what the others still need. Only stores with `delete` (the Object Store)
   * are cleaned; Plik files expire by their TTL.
   * @default {false}
   */
  delete_after_ack?: boolean | undefined;
  /**
   * Called for each message that failed (before nak or dead-letter), also
   * when a payload received as a stream (`receive.stream`) failed its size or
   * checksum check while the loop body read it.
   */
  on_error?: ((error: NatsBridgeError, action: "nak" | "dead-letter") => void) | undefined;
  /**
   * Called with each message as it is pulled, before its payloads are
   * received: to log or audit the raw envelope, or to tell a redelivery
   * (`deliveries` > 1).
   */
  on_delivery?: ((delivery: Delivery) => void) | undefined;
  /**
   * Called once the durable is open (made, or checked against these options
   * and updated) and the first pull is about to be made: the moment to say
   * "ready". Not called when `consume` is refused (`INVALID_OPTION`) or
   * cannot reach the stream; the loop then throws instead.
   */
  on_ready?: (() => void) | undefined;
}

/**
 * A message as `Bridge.consume` pulled it (see `ConsumeOptions.on_delivery`).
 *
 * @example Logging redeliveries
 * ```ts ignore
 * import type { Delivery } from "natsbridge";
 * const on_delivery = (d: Delivery) => {
 *   if (d.deliveries > 1) console.warn(`${d.subject}#${d.stream_seq} delivered ${d.deliveries} times`);
 * };
 * ```
 */
export interface Delivery {
  /** Subject the message was published to. */
  subject: string;
  /** The envelope JSON as it arrived. */
  data: Uint8Array;
  /** The message's sequence number in its stream. */
  stream_seq: number;
  /** How many times the server has delivered it, this time included. */
  deliveries: number;
}

const CONSUME_OPTION_NAMES = optionNames<ConsumeOptions>({
  stream: true, durable: true, filter_subject: true, dead_letter_subject: true, max_deliver: true, ack_wait: true,
  nak_base_delay: true, nak_max_delay: true, dedupe_window: true, signal: true, receive: true, delete_after_ack: true,
  on_error: true, on_delivery: true, on_ready: true,
});

/**
 * Error codes after which retrying a message cannot help. Not INVALID_OPTION:
 * a receiver's own setting is not the message's fault (options are checked
 * when consume starts; what still fails is naked until max_deliver).
 */
const PERMANENT: ReadonlySet<string> = new Set([...INVALID_MESSAGE_CODES, "PAYLOAD_GONE"]);

/**
 * What a dead-letter message holds (JSON).
 *
 * @example Watching the dead letters of a stream
 * ```ts ignore
 * import type { DeadLetter } from "natsbridge";
 * import { connect } from "@nats-io/transport-node";
 * const nc = await connect({ servers: "nats://127.0.0.1:4222" });
 * for await (const m of nc.subscribe("natsbridge.dead.JOBS")) {
 *   const dead = JSON.parse(new TextDecoder().decode(m.data)) as DeadLetter;
 *   console.error(`${dead.stream}#${dead.stream_seq}: ${dead.code} ${dead.reason}`);
 * }
 * ```
 */
export interface DeadLetter {
  /** Error code. */
  code: string;
  /** Error message. */
  reason: string;
  /** Correlation id, when the envelope had one. */
  correlation_id: string;
  /** Subject the message was published to. */
  subject: string;
  /** Stream and sequence of the original. */
  stream: string;
  /** Stream sequence of the original. */
  stream_seq: number;
  /** Times it was delivered. */
  deliveries: number;
  /**
   * The original message body (the envelope text); empty when the record
   * with it would pass the server's `max_payload` (see `data_bytes`).
   */
  data: string;
  /** Set when `data` was left out: the original's size. It stays in the stream at `stream_seq` unless the stream removes it. */
  data_bytes?: number;
}

/** Deliveries the server makes beyond `max_deliver` (see openConsumer). */
const SERVER_EXTRA_DELIVERIES = 2;

/** How long a durable's max_deliver, read before a nak, is trusted: one read per burst of failures. */
const LIMITS_FRESH_MS = 1000;

/** Messages remembered as not dead-letterable (see `undeliverable` in consumeEnvelopes). */
const UNDELIVERABLE_KEPT = 10_000;

/** Where `consume` dead-letters: `dead_letter_subject`, or `natsbridge.dead.<stream>`. */
function deadLetterSubjectOf(options: ConsumeOptions): string {
  return options.dead_letter_subject ?? `natsbridge.dead.${options.stream}`;
}

/**
 * Throws when the dead-letter subject is stored in the consumed stream and
 * passes the consumer's filters: each dead letter would come back as a bad
 * message, be dead-lettered again wrapping the one before, and so on until it
 * passed max_payload. Stored but filtered out is a dead-letter log kept in
 * JetStream, and fine. Skipped when the stream cannot be read (a worker with
 * narrow permissions).
 */
async function refuseDeadLetterLoop(options: ConsumeOptions, filters: string[], infoOfStream: () => Promise<StreamInfo>): Promise<void> {
  const subject = deadLetterSubjectOf(options);
  let captures: string[];
  try {
    captures = (await infoOfStream()).config.subjects ?? [];
  } catch {
    return;
  }
  const stored = captures.some((c) => subjectsOverlap(c, subject));
  const read = filters.length === 0 || filters.some((f) => subjectsOverlap(f, subject));
  if (stored && read) {
    throw new OptionsError(
      `dead_letter_subject "${subject}" is stored in stream "${options.stream}" and read by this consumer${
        filters.length ? ` (filter ${filters.map((f) => `"${f}"`).join(", ")})` : ""
      }: each dead letter would come back as a bad message; use a subject outside the stream or the filter`,
      { field: "dead_letter_subject" },
    );
  }
}

/** The durable consumer `options` names, created if missing, and checked against `delete_after_ack`. */
async function openConsumer(
  nc: NatsConnection,
  options: ConsumeOptions,
  maxDeliver: number,
  logger: Logger,
): Promise<{ consumer: Consumer; maxDeliver: number; serverMaxDeliver: number; ackWaitMs: number }> {
  // No API check (see jetStreamOf): a worker (re)starting during a meta leader
  // election failed TIMEOUT though its stream and durable answered.
  const jsm = await jetStreamOf(nc).jetstreamManager();
  let existing: ConsumerInfo | undefined;
  try {
    existing = await jsm.consumers.info(options.stream, options.durable);
  } catch { /* no such consumer yet: made below */ }
  // Read once, by the filter check and by delete_after_ack, whichever asks first.
  let streamInfo: Promise<StreamInfo> | undefined;
  const infoOfStream = () => (streamInfo ??= jsm.streams.info(options.stream));
  const had = existing?.config;
  const existingFilters = !had ? [] : had.filter_subjects?.length ? had.filter_subjects : had.filter_subject ? [had.filter_subject] : [];
  if (existing && options.filter_subject !== undefined) {
    // A durable keeps the filter it was made with; reusing it for another
    // subject would deliver that subject's messages instead.
    const has = existingFilters;
    if (has.length !== 1 || has[0] !== options.filter_subject) {
      throw new OptionsError(
        `durable "${options.durable}" of stream "${options.stream}" already consumes ${
          has.length ? has.map((f) => `"${f}"`).join(", ") : "every subject"
        }, not "${options.filter_subject}": use another durable name, or delete that consumer`,
        { field: "filter_subject" },
      );
    }
  }
  await refuseDeadLetterLoop(options, options.filter_subject !== undefined ? [options.filter_subject] : existingFilters, infoOfStream);
  const ackWait = (options.ack_wait ?? 30_000) * 1_000_000;
  // Two more than ours. We dead-letter on our last delivery ourselves; the
  // next is for a message naked by a clean stop on it (handed over once
  // more); the server's last, after deliveries that ended without an ack or
  // a nak (a process died holding it), is dead-lettered without being handed
  // over, since the server would deliver it no more.
  let serverMaxDeliver = maxDeliver + SERVER_EXTRA_DELIVERIES;
  let appliedAckWait = ackWait;
  if (existing) {
    // Counting deliveries against a max_deliver the server does not apply
    // would let it drop a message before we dead-letter it. Values given here
    // are set on the durable; otherwise, or where this client may not change
    // consumers (least-privilege workers), we count with the durable's own.
    // Only what was given: the other keeps the durable's own (a long ack_wait
    // reset to the default would have long jobs run twice).
    const c = existing.config;
    const change: { max_deliver?: number; ack_wait?: number } = {};
    if (options.max_deliver !== undefined && c.max_deliver !== serverMaxDeliver) change.max_deliver = serverMaxDeliver;
    if (options.ack_wait !== undefined && c.ack_wait !== ackWait) change.ack_wait = ackWait;
    serverMaxDeliver = c.max_deliver ?? -1;
    appliedAckWait = c.ack_wait ?? ackWait;
    if (change.max_deliver !== undefined || change.ack_wait !== undefined) {
      try {
        await jsm.consumers.update(options.stream, options.durable, change);
        serverMaxDeliver = change.max_deliver ?? serverMaxDeliver;
        appliedAckWait = change.ack_wait ?? appliedAckWait;
      } catch (err) {
        logEvent(logger, "warn", "", `Cannot set max_deliver/ack_wait of durable "${options.durable}" (${(err as Error).message}); using its own`);
      }
    }
    // Unlimited on the server: ours stands. Else below the server's, as for a durable we make.
    if (serverMaxDeliver > 0) maxDeliver = Math.max(1, serverMaxDeliver - SERVER_EXTRA_DELIVERIES);
  }
  if (!existing) {
    const filter = options.filter_subject;
    // The server accepts a filter its stream never captures, and the consumer then waits for ever.
    const captures = filter === undefined ? [] : (await infoOfStream()).config.subjects ?? [];
    if (captures.length > 0 && !captures.some((c) => subjectsOverlap(c, filter!))) {
      throw new OptionsError(
        `stream "${options.stream}" captures ${captures.map((c) => `"${c}"`).join(", ")}, which never includes "${filter}"`,
        { field: "filter_subject" },
      );
    }
    await jsm.consumers.add(options.stream, {
      durable_name: options.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ackWait,
      max_deliver: serverMaxDeliver,
      ...(options.filter_subject ? { filter_subject: options.filter_subject } : {}),
    });
  }
  if (options.delete_after_ack) {
    const si = await infoOfStream();
    if (si.config.retention !== RetentionPolicy.Workqueue) {
      throw new OptionsError(
        `delete_after_ack needs a work-queue stream (each message acked by one consumer); "${options.stream}" has ${si.config.retention} retention`,
        { field: "delete_after_ack" },
      );
    }
    if (!options.receive?.fileserver?.delete) {
      throw new OptionsError("delete_after_ack needs receive.fileserver with delete (objectStoreFileServer)", {
        field: "delete_after_ack",
      });
    }
  }
  return {
    consumer: await jetStreamOf(nc).consumers.get(options.stream, options.durable),
    maxDeliver,
    serverMaxDeliver,
    ackWaitMs: appliedAckWait / 1_000_000,
  };
}

/**
 * Consumes envelopes from a durable JetStream consumer. Each yielded envelope
 * is acked when the loop asks for the next one, i.e. once the loop body that
 * got it has finished (so a crash before that means redelivery, not loss).
 * Leaving the loop early (`break`, an exception) counts as unfinished: that
 * message is naked for prompt redelivery. To stop after finishing a message,
 * abort `signal`; the loop then ends at its next turn.
 *
 * @param nc Connection.
 * @param options Stream, durable, dead-letter subject, retries.
 * @param logger Log sink.
 * @param closedUnasked Whether a close of `nc` without an error was still
 *   not asked for (a `Bridge` that opened it, not closing it): then it fails
 *   the loop too. A close on an error always does.
 * @returns An async iterable of decoded envelopes.
 *
 * @example Without a Bridge
 * ```ts ignore
 * import { consoleLogger, consumeEnvelopes } from "natsbridge";
 * import { connect } from "@nats-io/transport-node";
 * const nc = await connect({ servers: "nats://127.0.0.1:4222" });
 * for await (const env of consumeEnvelopes(nc, { stream: "JOBS", durable: "worker" }, consoleLogger())) {
 *   console.log(env.payloads); // acked when the loop asks for the next one
 * }
 * ```
 */
export async function* consumeEnvelopes(
  nc: NatsConnection,
  options: ConsumeOptions,
  logger: Logger,
  closedUnasked: () => boolean = () => false,
): AsyncGenerator<ReceivedEnvelope> {
  options ??= {} as ConsumeOptions; // null from plain JavaScript callers: refused below by name
  checkKnownKeys(options, CONSUME_OPTION_NAMES, "consume");
  checkNonEmpty(options.stream, "stream");
  checkNonEmpty(options.durable, "durable");
  // Checked now, once: a bad receive option fails every message, which the
  // loop would dead-letter one by one.
  const receiveOptions = { ...options.receive, logger: options.receive?.logger ?? logger, signal: options.signal };
  const receiveCheck = checkReceiveOptions(receiveOptions);
  checkFunction(options.on_error, "on_error");
  checkFunction(options.on_delivery, "on_delivery");
  checkFunction(options.on_ready, "on_ready");
  if (options.filter_subject !== undefined) checkSubject(options.filter_subject, true, "filter_subject");
  if (options.dead_letter_subject !== undefined) checkSubject(options.dead_letter_subject, false, "dead_letter_subject");
  let maxDeliver = checkCount(options.max_deliver ?? 5, "max_deliver", 1);
  checkCount(options.ack_wait ?? 30_000, "ack_wait", 1);
  const nakBase = checkCount(options.nak_base_delay ?? 1000, "nak_base_delay", 0);
  const nakMax = checkCount(options.nak_max_delay ?? 30_000, "nak_max_delay", 0);
  const dedupeWindow = checkCount(options.dedupe_window ?? 100_000, "dedupe_window", 0);
  let consumer: Consumer;
  let serverMaxDeliver: number;
  let ackWaitMs: number;
  try {
    ({ consumer, maxDeliver, serverMaxDeliver, ackWaitMs } = await openConsumer(nc, options, maxDeliver, logger));
  } catch (err) {
    throw jetStreamError(`Cannot consume from stream "${options.stream}"`, err);
  }
  const store = options.receive?.fileserver;
  const cleanUp = async (m: JsMsg, correlationId: string) => {
    if (!options.delete_after_ack || !store?.delete) return;
    const origins = new Set(store.origins.map((o) => originOf(o)));
    for (const p of parseEnvelope(m.data).payloads) {
      if (p.transport !== "link" || !origins.has(originOf(p.data))) continue;
      await store.delete(p.data).catch((err) =>
        logEvent(logger, "warn", correlationId, `Could not delete ${p.data} after ack: ${(err as Error).message}`)
      );
    }
  };
  const { signal } = options;
  // The application closes (or drains) the connection: the loop ends quietly,
  // as when `signal` is aborted.
  const closing = () => nc.isClosed() || nc.isDraining();
  // One message per pull: nothing is prefetched, so nothing sits unacked in a
  // buffer (waiting out ack_wait) when the loop stops.
  async function* pull(): AsyncGenerator<JsMsg> {
    // A pull the server's permissions refuse looks like an idle stream (or
    // "heartbeats missed") to nats.js: only the status stream names it.
    const refusals = watchRefusals(nc, `$JS.API.CONSUMER.MSG.NEXT.${options.stream}.${options.durable}`);
    const throwIfRefused = () => {
      if (refusals.refusal) throw permissionDenied(refusals.refusal, `Cannot pull from stream "${options.stream}", durable "${options.durable}"`);
    };
    try {
      while (!signal?.aborted && !closing()) {
        let m: JsMsg | null;
        try {
          m = await consumer.next({ expires: 1000 });
          if (!m) throwIfRefused();
        } catch (err) {
          if (err instanceof NatsBridgeError) throw err;
          if (signal?.aborted || closing()) break;
          throwIfRefused();
          logEvent(logger, "warn", "", `JetStream pull from ${options.stream}/${options.durable} failed: ${(err as Error).message}`);
          await sleep(250).catch(() => {});
          continue;
        }
        if (m) yield m;
      }
    } finally {
      refusals.stop();
    }
    // Closed on an error (reconnects given up, credentials revoked), or with
    // none but unasked (a server gone with reconnect: false): not by anyone's
    // wish (a close() or drain resolves closed() with nothing).
    if (signal?.aborted || !nc.isClosed()) return;
    const why = await nc.closed();
    if (!why) await sleep(0); // the status stream's "disconnect" told first
    if (why || closedUnasked()) {
      throw new TransportError("CONNECTION_FAILED", `Consuming from stream "${options.stream}" ended: the connection to NATS closed${closeReason(why)}`, { cause: why });
    }
  }
  const messages = pull();
  const deadLetterSubject = deadLetterSubjectOf(options);
  // Stored by a stream, a dead letter is published with JetStream's ack: a
  // record the stream refuses (too large, no quorum) was taken for stored,
  // and the message termed. Stored by none, it reaches only who listens then.
  const deadLetterStored = await storedBy(nc, deadLetterSubject);
  if (deadLetterStored === false) {
    logEvent(logger, "info", "", `Dead letters go to "${deadLetterSubject}", which no stream stores: only its subscribers at that moment will see them (keep them with ensureStream(nc, { name: "DEAD", subjects: [${JSON.stringify(deadLetterSubject)}] }))`);
  }
  // Messages handed over and acked: by the SHA-256 of their bytes, and by msg_id alone (to warn of reuse).
  const handled = new RecentIds(dedupeWindow);
  const handledIds = new RecentIds(dedupeWindow);
  const nakDelays = backoffDelays(maxDeliver + 1, nakBase, nakMax);

  /**
   * Double-acks `m` (the server confirms, so a lost ack cannot cause a
   * redelivery we don't expect). An ack the server's permissions refuse stops
   * the loop: every message would come back.
   *
   * @returns Why the server did not confirm it (the ack may still have
   *   reached it), or `undefined` when it did.
   */
  const ack = async (m: JsMsg): Promise<string | undefined> => {
    // Not double-acked on a connection closed or closing (close() during the
    // loop body): nats.js would hold the process for its 5 s ack timer. While
    // it drains, a plain ack may still get out.
    if (closing()) {
      try {
        if (!nc.isClosed()) m.ack();
      } catch { /* closed meanwhile */ }
      return "the connection to NATS was closed";
    }
    // The ack subject ($JS.ACK.…): nats.js's JsMsg has it, its interface does not say so.
    const refusals = watchRefusals(nc, (m as unknown as { reply?: string }).reply ?? "");
    let unconfirmed: string | undefined;
    // On a connection closed meanwhile, nats.js waits out its whole ack timer
    // for an answer that cannot come. One shared reaction to the close, not
    // a nc.closed() per ack: those stay pending for the connection's life.
    let unwatch = () => {};
    const closed = new Promise<string>((resolve) => {
      unwatch = onClose(nc, () => resolve("the connection to NATS closed"));
    });
    try {
      unconfirmed = await Promise.race([m.ackAck().then(() => undefined, (e) => (e as Error).message || String(e)), closed]);
    } finally {
      unwatch();
      refusals.stop();
    }
    if (refusals.refusal) throw permissionDenied(refusals.refusal, `Cannot ack ${m.subject}#${m.seq}`);
    return unconfirmed;
  };

  // Messages whose dead letter could not be published (by stream sequence):
  // on the server's last delivery they are said to be so, not "a process died".
  const undeliverable = new Map<number, { err: NatsBridgeError; why: string }>();
  const deadLetter = async (m: JsMsg, err: NatsBridgeError) => {
    const record: DeadLetter = {
      code: err.code,
      reason: err.message,
      correlation_id: err.correlationId,
      subject: m.subject,
      stream: m.info.stream,
      stream_seq: m.seq,
      deliveries: m.info.deliveryCount,
      data: new TextDecoder().decode(m.data),
    };
    // One record per message and consumer: the stream's sequence alone comes
    // back when a stream is made again (seq 1 again), and another durable's
    // failure of the same message has its own reason. Stored once however
    // often this consumer dead-letters it within the duplicate window.
    const msgId = `natsbridge.dead:${m.info.stream}:${m.info.consumer}:${m.seq}:${m.info.timestampNanos}`;
    // The Nats-Msg-Id header travels in the same max_payload ("NATS/1.0\r\n", the line, "\r\n").
    const headerBytes = deadLetterStored ? 32 + msgId.length : 0;
    const encoder = new TextEncoder();
    let bytes = encoder.encode(JSON.stringify(record));
    if (bytes.byteLength + headerBytes > (nc.info?.max_payload ?? Infinity)) {
      // Too large to carry the original too (it was itself near max_payload):
      // a record without it beats none, and a consume loop stopped on it.
      bytes = encoder.encode(JSON.stringify({ ...record, data: "", data_bytes: m.data.byteLength }));
    }
    try {
      // Stored (or at least flushed to the server) before the term, so the
      // record exists before the original can disappear.
      if (deadLetterStored) {
        await jetStreamOf(nc).publish(deadLetterSubject, bytes, { msgID: msgId, timeout: 5000 });
      } else {
        const refusals = watchRefusals(nc, deadLetterSubject);
        try {
          nc.publish(deadLetterSubject, bytes);
          await nc.flush();
          // A refusal by the server's permissions precedes the PONG, on the status stream.
          await yieldToEventLoop();
        } finally {
          refusals.stop();
        }
        if (refusals.refusal) throw permissionDenied(refusals.refusal, "Dead letter");
      }
    } catch (e) {
      // No record, no term: naked, so a later delivery can dead-letter it
      // (unless this was the server's last; the record is sized to fit, so
      // what fails here is the connection).
      logEvent(logger, "error", err.correlationId, `Could not dead-letter ${m.subject}#${m.seq} to ${deadLetterSubject} (${(e as Error).message}); naked instead`);
      undeliverable.set(m.seq, { err, why: (e as Error).message });
      if (undeliverable.size > UNDELIVERABLE_KEPT) undeliverable.delete(undeliverable.keys().next().value!);
      m.nak(nakMax);
      return;
    }
    undeliverable.delete(m.seq);
    m.term(`${err.code}: ${err.message}`.slice(0, 200));
    logEvent(logger, "warn", err.correlationId, `Dead-lettered ${m.subject}#${m.seq} to ${deadLetterSubject}: ${err.code} ${err.message}`);
  };

  /** Tells the application's observer; its bug, thrown or rejected, must not stop the consumer or strand the message. */
  const observe = (name: string, call: () => unknown) => {
    const said = (e: unknown) => logEvent(logger, "warn", "", `${name} threw: ${(e as Error)?.message ?? String(e)}`);
    try {
      const result = call();
      if (result instanceof Promise) result.catch(said);
    } catch (e) {
      said(e);
    }
  };

  // When the durable's max_deliver was last read: another worker starting
  // with another max_deliver, or an administrator, may change it under this
  // one, and a message naked past the server's limit is dropped unseen.
  let limitsReadAt = 0;
  const refreshLimits = async () => {
    if (Date.now() - limitsReadAt < LIMITS_FRESH_MS) return;
    limitsReadAt = Date.now();
    try {
      serverMaxDeliver = (await consumer.info(false)).config.max_deliver ?? -1;
      if (serverMaxDeliver > 0) maxDeliver = Math.max(1, serverMaxDeliver - SERVER_EXTRA_DELIVERIES);
    } catch { /* not allowed to read it, or the server is away: the last known limit stands */ }
  };

  const fail = async (m: JsMsg, e: unknown) => {
    const err = e instanceof NatsBridgeError ? e : new TransportError("CONNECTION_FAILED", String(e));
    // This worker may not fetch what messages link to: every message would
    // fail alike, and dead-lettering them would lose them. The loop stops,
    // and the message waits in the stream for a worker that may.
    if (err.code === "PERMISSION_DENIED") {
      nakIfOpen(m);
      throw err;
    }
    if (!PERMANENT.has(err.code)) await refreshLimits();
    const permanent = PERMANENT.has(err.code) || m.info.deliveryCount >= maxDeliver;
    observe("on_error", () => options.on_error?.(err, permanent ? "dead-letter" : "nak"));
    if (permanent) return await deadLetter(m, err);
    const delay = nakDelays[m.info.deliveryCount - 1] ?? nakMax;
    if (!options.on_error) {
      logEvent(receiveOptions.logger, "warn", err.correlationId,
        `Message ${m.subject}#${m.seq} failed (${err.code} ${err.message}): delivered again in ${delay} ms (delivery ${m.info.deliveryCount} of ${maxDeliver})`);
    }
    m.nak(delay);
  };

  /** Dead-letters a message that was not finished, as ABORTED with `why`. */
  const deadLetterUnfinished = async (m: JsMsg, why: string, correlationId: string) => {
    const err = new NatsBridgeError("ABORTED", why, { correlationId });
    observe("on_error", () => options.on_error?.(err, "dead-letter"));
    await deadLetter(m, err);
  };

  /** A message the loop body did not finish on its last delivery. */
  const leftUnfinished = (m: JsMsg, correlationId: string) =>
    deadLetterUnfinished(
      m,
      `The application left message ${m.subject}#${m.seq} unfinished on its last delivery (${m.info.deliveryCount} of max_deliver ${maxDeliver})`,
      correlationId,
    );

  /** A message whose deliveries kept ending without an ack or a nak: the process died holding it. */
  const diedHolding = (m: JsMsg) => {
    let correlationId = "";
    try {
      correlationId = parseEnvelope(m.data).envelope.correlation_id;
    } catch { /* not an envelope: dead-lettered all the same */ }
    return deadLetterUnfinished(
      m,
      `Message ${m.subject}#${m.seq} was not finished in ${m.info.deliveryCount - 1} deliveries (max_deliver ${maxDeliver}), the last ending without an ack or a nak (a process died holding it)`,
      correlationId,
    );
  };

  observe("on_ready", () => options.on_ready?.());
  try {
    for await (const m of messages) {
      observe("on_delivery", () => options.on_delivery?.({ subject: m.subject, data: m.data, stream_seq: m.seq, deliveries: m.info.deliveryCount }));
      const count = m.info.deliveryCount;
      if (count > maxDeliver + 1 || (serverMaxDeliver > 0 && count >= serverMaxDeliver && count > maxDeliver)) {
        const failed = undeliverable.get(m.seq);
        if (failed) {
          // Its dead letter kept being refused: one last try, then it stays where it is.
          observe("on_error", () => options.on_error?.(failed.err, "dead-letter"));
          logEvent(logger, "error", failed.err.correlationId, `Message ${m.subject}#${m.seq} (${failed.err.code}) could not be dead-lettered in ${count - 1} deliveries (${failed.why}): trying once more; if that fails too, the server will not deliver it again, and it stays in stream "${m.info.stream}" at seq ${m.seq}`);
          await deadLetter(m, failed.err);
          continue;
        }
        // Past ours and the one kept for a clean stop: the deliveries before
        // ended without an ack or a nak, so a process died holding it. Handed
        // over again, a death would lose it: the server delivers it no more.
        await diedHolding(m);
        continue;
      }
      // A redelivery, or a producer's retry past the duplicate window, has the
      // same bytes (so the same msg_id): acked before it is received, as its
      // payloads may be gone already (delete_after_ack deleted them).
      const digest = sha256Hex(m.data);
      if (handled.has(digest)) {
        await ack(m);
        logEvent(logger, "debug", "", `Skipped ${m.subject}#${m.seq}: the same message was handled already`);
        continue;
      }
      let env: ReceivedEnvelope;
      try {
        // Its payloads' bytes, downloaded now or streamed to the loop body, keep it ours past ack_wait.
        const on_progress = inProgressWhileMoving(m, ackWaitMs, receiveOptions.on_progress);
        env = await receiveChecked(m.data, { ...receiveOptions, on_progress }, receiveCheck);
      } catch (e) {
        if (signal?.aborted || closing()) {
          nakIfOpen(m);
          break;
        }
        await fail(m, e);
        continue;
      }
      // Received after close(): the body could not ack it, so it would only be handled twice.
      if (closing()) {
        nakIfOpen(m);
        break;
      }
      // Another message that reuses a handled msg_id has other bytes: it is handed over.
      if (handledIds.has(env.msg_id)) {
        logEvent(options.receive?.logger ?? logger, "warn", env.correlation_id,
          `msg_id ${env.msg_id} reused by a different message (${m.subject}#${m.seq}): handed over, as it is not a redelivery`);
      }
      // A payload handed over as a stream is verified as the loop body reads it:
      // its failure, seen here, makes the message fail as a receive failure would.
      let streamError: unknown;
      let acked = false;
      const stopStreams = watchStreams(env, (e) => (streamError ??= e));
      try {
        yield env;
        if (streamError === undefined) {
          acked = true;
          handled.add(digest);
          handledIds.add(env.msg_id);
          const unconfirmed = await ack(m);
          // Its payloads stay: the message may come back, to another worker.
          if (unconfirmed === undefined) await cleanUp(m, env.correlation_id);
          else {
            logEvent(logger, "warn", env.correlation_id, `Message ${m.subject}#${m.seq} handled but not acked as far as the server confirmed (${unconfirmed}): it may be delivered again after ack_wait`);
          }
        }
      } finally {
        // Streams the loop body did not read to their end stop downloading.
        await stopStreams();
        if (!acked) {
          const lastDelivery = m.info.deliveryCount >= maxDeliver;
          if (signal?.aborted) {
            // A clean stop: redelivered, unless the server would not deliver it again.
            if (m.info.deliveryCount > maxDeliver) await leftUnfinished(m, env.correlation_id);
            else m.nak();
          } else if (streamError !== undefined) await fail(m, streamError);
          else if (lastDelivery) await leftUnfinished(m, env.correlation_id);
          else m.nak(); // loop exited mid-message: redeliver promptly
        }
      }
    }
  } finally {
    await messages.return(undefined);
  }
}

/** Naks `m` for prompt redelivery, unless its connection is closed (then it comes back after ack_wait). */
function nakIfOpen(m: JsMsg): void {
  try {
    m.nak();
  } catch { /* the connection closed: redelivered after ack_wait */ }
}

/** Watches the envelope's stream payloads for errors; returns what stops their downloads. */
function watchStreams(env: ReceivedEnvelope, onError: (error: unknown) => void): () => Promise<void> {
  const stops = env.payloads.flatMap(([, value]) => value instanceof ReadableStream ? [watchPayloadStream(value, onError)] : []);
  return async () => void (await Promise.all(stops.map((stop) => stop())));
}

/** A bounded set of recently seen ids (insertion-ordered eviction). */
class RecentIds {
  #ids = new Set<string>();
  constructor(private readonly limit: number) {}
  has(id: string): boolean {
    return this.#ids.has(id);
  }
  add(id: string): void {
    this.#ids.add(id);
    if (this.#ids.size > this.limit) this.#ids.delete(this.#ids.values().next().value!);
  }
}

export type { PubAck };

/** True only when JetStream answers and says no stream captures `subject`. */
async function noStreamFor(nc: NatsConnection, subject: string): Promise<boolean> {
  return (await storedBy(nc, subject)) === false;
}

/** Whether a stream stores `subject`; `undefined` when the server would not say (permissions, no JetStream, away). */
async function storedBy(nc: NatsConnection, subject: string): Promise<boolean | undefined> {
  try {
    await (await jetstreamManager(nc, { timeout: 2000 })).streams.find(subject);
    return true;
  } catch (err) {
    return /no stream matches subject/i.test((err as Error).message) ? false : undefined;
  }
}

/**
 * Whether some subject matches both NATS subject patterns (`*` one token, `>` the rest).
 *
 * @param a A subject or pattern.
 * @param b Another.
 * @returns `true` when one subject could match both.
 *
 * @example
 * ```ts
 * import { subjectsOverlap } from "./jetstream.ts";
 * console.log(subjectsOverlap("jobs.>", "jobs.new"), subjectsOverlap("jobs.a", "jobs.b")); // true false
 * ```
 */
export function subjectsOverlap(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < x.length && i < y.length; i++) {
    if (x[i] === ">" || y[i] === ">") return true;
    if (x[i] !== "*" && y[i] !== "*" && x[i] !== y[i]) return false;
  }
  return x.length === y.length;
}
