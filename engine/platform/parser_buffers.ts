/**
 * Makes nats.js's protocol parser allocate each large incoming message once,
 * and frees the socket reads it is done with on connections natsbridge opened.
 *
 * Why: a message larger than one socket read (an Object Store chunk is
 * 256 KiB, a read 64 KiB on Deno and Node) is assembled by the parser in a
 * buffer that starts as a copy of the first read and doubles as the rest
 * arrives: 64 + 192 + 448 KiB allocated for a 256 KiB chunk, the last one
 * handed out with 192 KiB of slack. Each read is a fresh buffer too. All of
 * it is garbage the moment the message is dispatched, and V8 lets about
 * 64 MiB of such buffers pile up before it collects them, so a 1 GiB
 * streamed download peaked far above what it held (bench row 7b) and the
 * collections paused the event loop (row 6a). Here the buffer is allocated
 * at the message's announced size as soon as it is known, and the first
 * copy and each read are freed once parsed (where the runtime can:
 * `buffer_release.ts`). Measured on Node 24, on a natsbridge connection:
 * 1 GiB received as a stream from an Object Store peaked 53–55 MiB above
 * idle instead of 68–73 (Deno: 107 instead of 117), and a 100 MiB round
 * trip's event-loop lag p99 fell from 6–7 ms to 2.3–2.6 ms (bench rows 7b
 * and 6a).
 *
 * The parser is nats.js's own; this wraps its `parse` method and touches
 * only the fields it reads. If a nats.js release changes them, the wrapper
 * sees so on the first message and leaves the parser as it is.
 *
 * @module
 */
import { Kind, Parser, State } from "@nats-io/nats-core/internal";
import { copyBytes, isWholeBuffer, releaseBuffer } from "./buffer_release.ts";

/** Reads this small are not worth freeing: a few µs of bookkeeping for little memory. */
const RELEASED_READ_BYTES = 16 * 1024;

/**
 * A message at least this large that lies inside one read is copied out of
 * it on natsbridge's connections, so the read can be freed and the message's
 * bytes can be too, once read (an Object Store chunk: `payload_stream.ts`).
 * Bun reads 512 KiB at a time, so two 256 KiB chunks shared each read, and a
 * read stayed until both were collected: a 1 GiB stream read into the
 * receiver's own buffer peaked at +91 MiB there, against +43 on Deno.
 */
const COPIED_MESSAGE_BYTES = 16 * 1024;

/** The parser fields this module reads or sets, as nats.js 3.x has them. */
interface ParserInternals {
  state: number;
  ma: { size: number; subject?: Uint8Array; reply?: Uint8Array };
  msgBuf?: { _buf: Uint8Array; length: number };
  argBuf?: { _buf: Uint8Array };
  dispatcher: { push(e: ParserEvent): void; transport?: unknown };
  parse(buf: Uint8Array): void;
}

interface ParserEvent {
  kind: number;
  msg?: { subject?: Uint8Array; reply?: Uint8Array };
  data?: Uint8Array;
}

/** Transports natsbridge opened: their socket reads are no one else's. */
const ownTransports = new WeakSet<object>();

let installed = false;

/**
 * Marks the transport of a connection natsbridge opened, whose reads the
 * parser may free once parsed.
 *
 * @param transport The transport.
 * @returns `transport`.
 *
 * @example
 * ```ts
 * import { ownTransport } from "./parser_buffers.ts";
 * const transport = ownTransport({});
 * console.log(typeof transport); // "object"
 * ```
 */
export function ownTransport<T extends object>(transport: T): T {
  ownTransports.add(transport);
  return transport;
}

/**
 * Whether {@link ownTransport} marked `transport`.
 *
 * @param transport Any transport.
 * @returns Whether its reads and frames are natsbridge's to free.
 *
 * @example
 * ```ts
 * import { isOwnTransport, ownTransport } from "./parser_buffers.ts";
 * console.log(isOwnTransport(ownTransport({}))); // true
 * console.log(isOwnTransport({})); // false
 * ```
 */
export function isOwnTransport(transport: object): boolean {
  return ownTransports.has(transport);
}

/**
 * Installs the wrapper on nats.js's `Parser` (once per process; later calls
 * do nothing). Every connection of the process gains the single allocation;
 * only those of {@link ownTransport} transports have their reads freed.
 *
 * @example
 * ```ts
 * import { presizeIncomingMessages } from "./parser_buffers.ts";
 * presizeIncomingMessages();
 * presizeIncomingMessages(); // the second call does nothing
 * ```
 */
export function presizeIncomingMessages(): void {
  if (installed) return;
  installed = true;
  const proto = Parser.prototype as unknown as ParserInternals;
  const parse = proto.parse;
  if (typeof parse !== "function" || typeof State.MSG_PAYLOAD !== "number" || typeof Kind.MSG !== "number") return;
  let shapeKnown: boolean | undefined;
  proto.parse = function (this: ParserInternals, buf: Uint8Array) {
    if (shapeKnown === false) return parse.call(this, buf);
    const before = this.msgBuf;
    const dispatcher = this.dispatcher;
    // Whether a message dispatched from this read still points into it.
    let kept = false;
    const freeRead = buf.byteLength >= RELEASED_READ_BYTES && ownTransports.has(dispatcher?.transport as object) &&
      isWholeBuffer(buf);
    if (freeRead) {
      this.dispatcher = {
        push(e: ParserEvent) {
          if (e.kind === Kind.MSG && pointsInto(e, buf.buffer)) {
            if ((e.data?.byteLength ?? 0) >= COPIED_MESSAGE_BYTES) copyOut(e);
            else kept = true;
          }
          dispatcher.push(e);
        },
        transport: dispatcher.transport,
      };
    }
    try {
      parse.call(this, buf);
    } finally {
      if (freeRead) this.dispatcher = dispatcher;
    }
    if (this.msgBuf !== undefined && this.msgBuf !== before && this.state === State.MSG_PAYLOAD) {
      shapeKnown ??= isKnownShape(this);
      if (shapeKnown) presize(this, buf.buffer);
    }
    if (freeRead && !kept && shapeKnown === true && !holdsInProgress(this, buf.buffer)) releaseBuffer(buf.buffer);
  };
}

/** Whether the parser holds its in-progress message as nats.js 3.x does. */
function isKnownShape(parser: ParserInternals): boolean {
  const msgBuf = parser.msgBuf;
  return typeof parser.ma?.size === "number" && msgBuf !== undefined && msgBuf._buf instanceof Uint8Array &&
    typeof msgBuf.length === "number";
}

/** Replaces the in-progress message's buffer by one of its announced size holding what has arrived. */
function presize(parser: ParserInternals, read: ArrayBufferLike): void {
  const msgBuf = parser.msgBuf!;
  const head = msgBuf._buf;
  const size = parser.ma.size;
  if (head.byteOffset !== 0 || head.byteLength >= size) return;
  const whole = new Uint8Array(size);
  whole.set(head);
  msgBuf._buf = whole.subarray(0, head.byteLength);
  // nats.js copies the start of the message out of the read, for this message alone.
  if (head.buffer !== read) releaseBuffer(head.buffer);
}

/**
 * Whether what the parser keeps for the next read (a message's start, its
 * subject) is a view of `read`. nats.js 3.x copies it out; were a release to
 * stop doing so, the read is kept.
 */
function holdsInProgress(parser: ParserInternals, read: ArrayBufferLike): boolean {
  return parser.msgBuf?._buf?.buffer === read || parser.argBuf?._buf?.buffer === read ||
    parser.ma?.subject?.buffer === read || parser.ma?.reply?.buffer === read;
}

/** Gives a message being dispatched its own copies of what points into the read (nats.js makes a fresh `msg` per message). */
function copyOut(e: ParserEvent): void {
  e.data = copyBytes(e.data!);
  if (e.msg?.subject) e.msg.subject = copyBytes(e.msg.subject);
  if (e.msg?.reply) e.msg.reply = copyBytes(e.msg.reply);
}

function pointsInto(e: ParserEvent, buffer: ArrayBufferLike): boolean {
  return e.data?.buffer === buffer || e.msg?.subject?.buffer === buffer || e.msg?.reply?.buffer === buffer;
}
