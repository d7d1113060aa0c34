/**
 * `natsbridge request <subject> [payloads] [options]`: send a message whose
 * `reply_to` is a fresh inbox and print the reply.
 *
 * Built from the bridge's parts rather than `Bridge.request`, so the reply's
 * download shows progress and a reply that fails to receive (checksum, refused
 * origin, …) is reported as itself instead of ending as a timeout.
 *
 * @module
 */
import { createInbox } from "@nats-io/nats-core";
import { parseEnvelope } from "../../envelope.ts";
import { TransportError } from "../../errors.ts";
import { replyMatcher } from "../../reply_match.ts";
import {
  COMMON_FLAGS,
  CONNECTION_FLAGS,
  ENVELOPE_FLAGS,
  type FlagSpec,
  listFlag,
  onePositional,
  parseCommand,
  durationText,
  parseDuration,
  PAYLOAD_FLAGS,
  RECEIVE_FLAGS,
  stringFlag,
} from "../args.ts";
import type { Command } from "../context.ts";
import { prepareOutDir } from "../save.ts";
import { EXIT } from "../exit_codes.ts";
import { HELP } from "../help.ts";
import { buildItems } from "../payloads.ts";
import { progressBars } from "../progress.ts";
import { receiveMessage } from "../receive_message.ts";
import { printEnvelope } from "../report.ts";
import { envelopeOptions, thresholdOf } from "../send_options.ts";
import { openSession } from "../session.ts";
import { messagesOf } from "../../subscriptions.ts";

const FLAGS: FlagSpec = {
  ...COMMON_FLAGS,
  ...CONNECTION_FLAGS,
  ...PAYLOAD_FLAGS,
  ...ENVELOPE_FLAGS,
  ...RECEIVE_FLAGS,
  timeout: { type: "string" },
};

/** Runs `request`. */
export const request: Command = async (argv, ctx) => {
  const { values, positionals, tokens } = parseCommand("request", argv, FLAGS);
  const out = ctx.output(values.json === true);
  if (values.help) {
    await out.line(HELP.request);
    return EXIT.OK;
  }
  const subject = onePositional(positionals, "subject", "request");
  const timeoutText = stringFlag(values, "timeout") ?? "30s";
  const timeout = parseDuration(timeoutText, "timeout", "request");
  const options = envelopeOptions(values, "request");
  const items = await buildItems(tokens, "request", thresholdOf(values, "request"));
  const outDir = stringFlag(values, "out");
  if (outDir !== undefined) await prepareOutDir(outDir, "request");
  const session = await openSession("request", values, listFlag(values, "allow-origin"), ctx.signal);
  const progress = progressBars(out);
  const inbox = createInbox();
  // Subscribed before sending, so no reply can arrive unheard; the clock starts once the request is out.
  const sub = session.nc.subscribe(inbox);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const onAbort = () => sub.unsubscribe();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  try {
    const [sent] = await session.bridge.send(subject, items, {
      confirm: true, // a request the server's permissions dropped fails now, not at --timeout
      ...options,
      reply_to: inbox,
      on_progress: progress.onProgress,
      signal: ctx.signal,
      logger: session.logger,
    });
    const match = replyMatcher(sent.msg_id);
    let timedOut = false;
    timer = setTimeout(() => {
      timedOut = true;
      sub.unsubscribe();
    }, timeout);
    const replies = messagesOf(session.nc, sub, `The reply inbox of the request to "${subject}"`, () => timedOut || ctx.signal.aborted);
    for await (const msg of replies) {
      // An invalid envelope on the inbox fails the request; a valid one replying to something else is ignored.
      if (!match.answers(parseEnvelope(msg.data).envelope.reply_to_msg_id)) continue;
      clearTimeout(timer);
      const report = await receiveMessage(session, msg, {
        out: stringFlag(values, "out"),
        onProgress: progress.onProgress,
        values: true,
        signal: ctx.signal,
      });
      await progress.finish();
      await printEnvelope(out, "reply", report);
      return EXIT.OK;
    }
    if (ctx.signal.aborted) return EXIT.INTERRUPTED;
    throw new TransportError("TIMEOUT", `No reply on "${subject}" within ${durationText(timeoutText)}${match.strays()}`, {
      correlationId: sent.correlation_id,
    });
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener("abort", onAbort);
    sub.unsubscribe();
    await progress.finish();
    await session.close();
  }
};
