/**
 * Which envelopes on a request's reply inbox answer it, shared by
 * `Bridge.request` and the CLI's `request`.
 *
 * @module
 */
import { quoted } from "./printable.ts";

/** What {@link replyMatcher} returns. */
export interface ReplyMatcher {
  /** Whether an envelope with this `reply_to_msg_id` answers the request; others are remembered. */
  answers(replyToMsgId: string): boolean;
  /** Said after a timeout's message when other envelopes came: "" when none did. */
  strays(): string;
}

/**
 * Matches replies to the request `msgId`. The inbox is the request's alone,
 * so a reply that leaves `reply_to_msg_id` at the spec's default `""` answers
 * it too: the spec's own services reply with `smartsend(env.reply_to, ...)`
 * and nothing more. One naming another message is not the answer, but a
 * timeout says it came (a service echoing the wrong id).
 *
 * @param msgId The request's `msg_id`.
 * @returns The matcher.
 *
 * @example
 * ```ts
 * import { replyMatcher } from "./reply_match.ts";
 * const match = replyMatcher("m-1");
 * console.log(match.answers(""), match.answers("m-1"), match.answers("m-0")); // true true false
 * console.log(match.strays().startsWith("; 1 envelope came")); // true
 * ```
 */
export function replyMatcher(msgId: string): ReplyMatcher {
  let count = 0;
  let first = "";
  return {
    answers(replyToMsgId) {
      if (replyToMsgId === msgId || replyToMsgId === "") return true;
      if (count++ === 0) first = replyToMsgId;
      return false;
    },
    strays() {
      if (count === 0) return "";
      return `; ${count} envelope${count === 1 ? "" : "s"} came to its inbox answering another message ` +
        `(reply_to_msg_id ${quoted(first)}${count > 1 ? ", …" : ""}, not this request's ${quoted(msgId)})`;
    },
  };
}
