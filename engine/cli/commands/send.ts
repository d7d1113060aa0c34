/**
 * `natsbridge send <subject> [payloads] [options]`: publish one message.
 *
 * @module
 */
import {
  COMMON_FLAGS,
  CONNECTION_FLAGS,
  ENVELOPE_FLAGS,
  type FlagSpec,
  onePositional,
  parseCommand,
  PAYLOAD_FLAGS,
  stringFlag,
} from "../args.ts";
import type { Command } from "../context.ts";
import { EXIT, UsageError } from "../exit_codes.ts";
import { HELP } from "../help.ts";
import { streamExists } from "../jetstream_setup.ts";
import { buildItems } from "../payloads.ts";
import { progressBars } from "../progress.ts";
import { printEnvelope } from "../report.ts";
import { envelopeOptions, sentReport, thresholdOf } from "../send_options.ts";
import { openSession } from "../session.ts";

const FLAGS: FlagSpec = {
  ...COMMON_FLAGS,
  ...CONNECTION_FLAGS,
  ...PAYLOAD_FLAGS,
  ...ENVELOPE_FLAGS,
  "reply-to": { type: "string" },
  jetstream: { type: "boolean" },
  stream: { type: "string" },
};

/** Runs `send`. */
export const send: Command = async (argv, ctx) => {
  const { values, positionals, tokens } = parseCommand("send", argv, FLAGS);
  const out = ctx.output(values.json === true);
  if (values.help) {
    await out.line(HELP.send);
    return EXIT.OK;
  }
  const subject = onePositional(positionals, "subject", "send");
  const stream = stringFlag(values, "stream");
  if (stream !== undefined && !values.jetstream) {
    throw new UsageError("--stream needs --jetstream", "send");
  }
  const options = envelopeOptions(values, "send");
  const items = await buildItems(tokens, "send", thresholdOf(values, "send"));
  const session = await openSession("send", values, [], ctx.signal);
  const progress = progressBars(out);
  try {
    if (stream !== undefined) await streamExists(session.nc, stream, subject);
    const [env] = await session.bridge.send(subject, items, {
      // "sent" is said once the server has it: one round trip, against a
      // message its permissions dropped reported as sent.
      confirm: true,
      ...options,
      jetstream: values.jetstream === true ? (stream ? { expect_stream: stream } : true) : false,
      on_progress: progress.onProgress,
      signal: ctx.signal,
      logger: session.logger,
    });
    await progress.finish();
    await printEnvelope(out, "sent", sentReport(subject, env, items));
  } finally {
    await progress.finish();
    await session.close();
  }
  return EXIT.OK;
};
