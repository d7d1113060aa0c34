/**
 * `--stream NAME`: make sure a JetStream stream exists before publishing to or
 * consuming from it. An existing stream is left exactly as it is (its subjects
 * are not touched); a missing one is created capturing the command's subject.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { ensureStream } from "../jetstream.ts";
import { TransportError } from "../errors.ts";

/**
 * Creates stream `name` capturing `subject` unless it exists.
 *
 * @param nc Connection.
 * @param name Stream name.
 * @param subject Subject (wildcards allowed) the new stream captures.
 * @returns `true` when the stream was created.
 * @throws {TransportError} `CONNECTION_FAILED` when JetStream is not enabled on the server.
 */
export async function streamExists(
  nc: NatsConnection,
  name: string,
  subject: string,
): Promise<boolean> {
  let jsm;
  try {
    jsm = await jetstreamManager(nc);
  } catch (err) {
    throw new TransportError(
      "CONNECTION_FAILED",
      `JetStream is not available on this server: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  try {
    await jsm.streams.info(name);
    return false;
  } catch (err) {
    if (!/not found/i.test((err as Error).message)) throw err;
  }
  await ensureStream(nc, { name, subjects: [subject] });
  return true;
}
