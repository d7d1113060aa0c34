/**
 * `natsbridge listen <subject> [options]`: print (and save) each message
 * received, from a core NATS subscription or, with `--jetstream`, from a
 * durable JetStream consumer through `Bridge.consume`.
 *
 * @module
 */
import {
  COMMON_FLAGS,
  CONNECTION_FLAGS,
  type FlagSpec,
  listFlag,
  onePositional,
  type ParsedArgs,
  parseCommand,
  parseCount,
  durationText,
  parseDuration,
  RECEIVE_FLAGS,
  stringFlag,
} from "../args.ts";
import { checkQueue, checkSubject } from "../../config.ts";
import { redact } from "../../connection.ts";
import { type CheckedPayload, parseEnvelope } from "../../envelope.ts";
import { NatsBridgeError } from "../../errors.ts";
import type { ConsumeOptions } from "../../jetstream.ts";
import type { Command } from "../context.ts";
import { prepareOutDir } from "../save.ts";
import { codeOf, errorLine, EXIT, exitCodeOf, UsageError } from "../exit_codes.ts";
import { HELP } from "../help.ts";
import type { Output } from "../io.ts";
import { streamExists } from "../jetstream_setup.ts";
import { type Progress, progressBars } from "../progress.ts";
import { receiveMessage, reportEnvelope } from "../receive_message.ts";
import { type EnvelopeReport, printEnvelope } from "../report.ts";
import { openSession, type Session } from "../session.ts";
import { messagesOf, subscribed } from "../../subscriptions.ts";

const FLAGS: FlagSpec = {
  ...COMMON_FLAGS,
  ...CONNECTION_FLAGS,
  ...RECEIVE_FLAGS,
  count: { type: "string" },
  timeout: { type: "string" },
  queue: { type: "string" },
  jetstream: { type: "boolean" },
  stream: { type: "string" },
  durable: { type: "string" },
  "max-deliver": { type: "string" },
  "ack-wait": { type: "string" },
  "dead-letter-subject": { type: "string" },
};

/** How a listen run ends. */
interface Tally {
  /** Messages handled (printed or reported as failed). */
  handled: number;
  /** Exit code of the worst failure so far (0 when none). */
  worst: number;
}

/** Runs `listen`. */
export const listen: Command = async (argv, ctx) => {
  const { values, positionals } = parseCommand("listen", argv, FLAGS);
  const out = ctx.output(values.json === true);
  if (values.help) {
    await out.line(HELP.listen);
    return EXIT.OK;
  }
  const subject = onePositional(positionals, "subject", "listen");
  const countText = stringFlag(values, "count");
  const count = countText === undefined ? undefined : parseCount(countText, "count", "listen", 1);
  const timeoutText = stringFlag(values, "timeout");
  const timeout = timeoutText === undefined
    ? undefined
    : parseDuration(timeoutText, "timeout", "listen");
  const stream = stringFlag(values, "stream");
  const durable = stringFlag(values, "durable");
  if (values.jetstream && (stream === undefined || durable === undefined)) {
    throw new UsageError("--jetstream needs --stream and --durable", "listen");
  }
  if (!values.jetstream && (stream !== undefined || durable !== undefined)) {
    throw new UsageError("--stream and --durable need --jetstream", "listen");
  }
  const consumeFlags = consumeTuning(values);
  if (!values.jetstream && Object.keys(consumeFlags).length > 0) {
    throw new UsageError("--max-deliver, --ack-wait and --dead-letter-subject need --jetstream", "listen");
  }
  // Checked before connecting: a subject or queue the server refuses would cost the connection.
  checkSubject(subject, true);
  const queueText = stringFlag(values, "queue");
  if (queueText !== undefined) checkQueue(queueText, "--queue");
  if (values.jetstream && stringFlag(values, "queue") !== undefined) {
    throw new UsageError(
      "--queue does not apply to --jetstream (consumers share a durable instead)",
      "listen",
    );
  }
  const outDir = stringFlag(values, "out");
  if (outDir !== undefined) await prepareOutDir(outDir, "listen");
  const session = await openSession("listen", values, listFlag(values, "allow-origin"), ctx.signal);
  const progress = progressBars(out);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  let timedOut = false;
  const timer = timeout === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    stop.abort();
  }, timeout);
  const tally: Tally = { handled: 0, worst: EXIT.OK };
  reportConnectionEvents(
    session,
    out,
    values.jetstream
      ? `messages published to ${JSON.stringify(subject)} wait in stream ${stream} until it is back`
      : `messages published to ${JSON.stringify(subject)} meanwhile are lost`,
  );
  const options = {
    out: stringFlag(values, "out"),
    onProgress: progress.onProgress,
    values: true,
    signal: stop.signal,
  };
  try {
    if (values.jetstream) {
      await streamExists(session.nc, stream!, subject);
      // Said once consume has opened the durable: a refused option is an error, not "listening".
      const sayListening = () => {
        void out.status(`listening on ${subject} (stream ${stream}, durable ${durable})`);
        if (out.json) void out.record({ event: "listening", subject, stream, durable });
      };
      // The wire facts of the message consume is receiving (links, announced sizes), for the report.
      let delivered = { subject, wire: [] as CheckedPayload[] };
      const envelopes = session.bridge.consume({
        stream: stream!,
        durable: durable!,
        filter_subject: subject,
        ...consumeFlags,
        signal: stop.signal,
        on_ready: sayListening,
        receive: {
          on_progress: progress.onProgress,
          logger: session.logger,
          stream: true, // verified as they flow, to disk with --out, else read and let go
        },
        on_delivery: (d) => {
          try {
            delivered = { subject: d.subject, wire: parseEnvelope(d.data).payloads };
          } catch {
            delivered = { subject: d.subject, wire: [] }; // receiving it fails too, and says why
          }
        },
        on_error: (err, action) => void reportFailure(out, progress, tally, err, delivered.subject, action),
      });
      for await (const env of envelopes) {
        let report: EnvelopeReport;
        try {
          report = await reportEnvelope(delivered.subject, env, delivered.wire, options);
        } catch (err) {
          // A payload that failed its checks as it streamed: consume reports it
          // (on_error) and naks or dead-letters the message. Any other failure
          // (saving to --out) ends the loop, and consume naks it for redelivery.
          const streamed = env.payloads.some(([, v]) => v instanceof ReadableStream);
          if (streamed && err instanceof NatsBridgeError) continue;
          throw err;
        }
        await progress.finish();
        await printEnvelope(out, "message", report);
        tally.handled++;
        // Aborting (not breaking) lets consume ack this message before it stops.
        if (count !== undefined && tally.handled >= count) stop.abort();
      }
    } else {
      await listenCore(
        session,
        subject,
        stringFlag(values, "queue"),
        count,
        stop.signal,
        out,
        progress,
        tally,
        options,
      );
    }
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener("abort", onAbort);
    await progress.finish();
    await session.close();
  }
  if (ctx.signal.aborted) return EXIT.INTERRUPTED;
  if (timedOut && count !== undefined && tally.handled < count) {
    await out.stderr(
      `natsbridge: TIMEOUT ${tally.handled} of ${count} messages within ${durationText(timeoutText!)}\n`,
    );
    return EXIT.TIMEOUT;
  }
  return tally.worst;
};

/**
 * Says on stderr (and, with `--json`, as a record) when the connection to the
 * NATS server is lost and when it is back, until it closes. A core
 * subscription misses what is published meanwhile, and nothing else would
 * say so: the library logs this only on connections it opened itself, and
 * the CLI opens its own and hands it over.
 */
function reportConnectionEvents(session: Session, out: Output, meanwhile: string): void {
  (async () => {
    for await (const s of session.nc.status()) {
      if (s.type !== "disconnect" && s.type !== "reconnect") continue;
      const server = redact(s.server);
      const lost = s.type === "disconnect";
      await out.stderr(lost ? `natsbridge: disconnected from NATS at ${server}: ${meanwhile}; reconnecting\n` : `natsbridge: reconnected to NATS at ${server}\n`);
      if (out.json) await out.record({ event: lost ? "disconnected" : "reconnected", server });
    }
  })().catch(() => {});
}

/** `--max-deliver`, `--ack-wait`, `--dead-letter-subject` as consume options (only those given). */
function consumeTuning(
  values: ParsedArgs["values"],
): Pick<ConsumeOptions, "max_deliver" | "ack_wait" | "dead_letter_subject"> {
  const tuning: Pick<ConsumeOptions, "max_deliver" | "ack_wait" | "dead_letter_subject"> = {};
  const maxDeliver = stringFlag(values, "max-deliver");
  if (maxDeliver !== undefined) tuning.max_deliver = parseCount(maxDeliver, "max-deliver", "listen", 1);
  const ackWait = stringFlag(values, "ack-wait");
  if (ackWait !== undefined) tuning.ack_wait = parseDuration(ackWait, "ack-wait", "listen");
  const deadLetter = stringFlag(values, "dead-letter-subject");
  if (deadLetter !== undefined) {
    checkSubject(deadLetter, false, "--dead-letter-subject");
    tuning.dead_letter_subject = deadLetter;
  }
  return tuning;
}

async function listenCore(
  session: Session,
  subject: string,
  queue: string | undefined,
  count: number | undefined,
  signal: AbortSignal,
  out: Output,
  progress: Progress,
  tally: Tally,
  options: Parameters<typeof receiveMessage>[2],
): Promise<void> {
  const sub = session.nc.subscribe(subject, { queue });
  const stop = () => sub.unsubscribe();
  signal.addEventListener("abort", stop, { once: true });
  const what = `Subscription to "${subject}"`;
  try {
    await subscribed(session.nc, sub, what); // registered on the server, and not refused, before we say so
    await out.status(`listening on ${subject}${queue ? ` (queue ${queue})` : ""}`);
    if (out.json) await out.record({ event: "listening", subject, ...(queue ? { queue } : {}) });
    for await (const msg of messagesOf(session.nc, sub, what, () => signal.aborted)) {
      // Stopped: nats.js still hands over what it had buffered, and each would
      // fail ABORTED (and count) for a receive nobody asked for any more.
      if (signal.aborted) break;
      try {
        const report = await receiveMessage(session, msg, options);
        await progress.finish();
        await printEnvelope(out, "message", report);
      } catch (err) {
        if (signal.aborted) break; // this message's receive was stopped with the rest, not failed
        await reportFailure(out, progress, tally, err, msg.subject);
      }
      tally.handled++;
      if (count !== undefined && tally.handled >= count) break;
    }
  } finally {
    signal.removeEventListener("abort", stop);
    sub.unsubscribe();
  }
}

/** A message that could not be received: one stderr line (and a JSON record); listening goes on. */
async function reportFailure(
  out: Output,
  progress: Progress,
  tally: Tally,
  err: unknown,
  subject: string,
  action?: string,
): Promise<void> {
  await progress.finish();
  const code = exitCodeOf(err);
  if (code > tally.worst && code !== EXIT.INTERRUPTED) tally.worst = code;
  await out.stderr(`${errorLine(err)}${action ? ` (${action})` : ""}\n`);
  if (out.json) {
    const e = err as { correlationId?: string; dataname?: string; message?: string };
    await out.record({
      event: "error",
      subject,
      code: codeOf(err),
      message: e.message ?? String(err),
      correlation_id: e.correlationId ?? "",
      dataname: e.dataname ?? "",
      ...(action ? { action } : {}),
    });
  }
}
