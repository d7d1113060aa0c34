/**
 * The browser interop peer: the page the driver (`driver.ts`) loads in
 * Chromium. It imports natsbridge from the browser build
 * (`.build/browser/natsbridge.js`, through the page's import map) and exposes
 * the peer's commands to the driver as `globalThis.natsbridgePeer`.
 *
 * @module
 */
import { type Bridge, plikFileServer, smartreceive, smartsend } from "natsbridge";
import {
  connectBridge,
  dumps,
  errorJson,
  expectCase,
  inputsOf,
  receiveLoop,
  type ReceiveLoopOptions,
  runtimeName,
  sendCase,
  type SendCaseOptions,
  streamCheck,
  type StreamCheckOptions,
} from "../common/peer_core.ts";

/** What the page offers the driver. */
export interface BrowserPeer {
  runtime: string;
  /** Sends a case; resolves to `send`'s stdout line and whether it succeeded. */
  send(broker: string, o: SendCaseOptions): Promise<{ ok: boolean; line: string }>;
  /** Runs `receive`; lines go to `globalThis.peerEmit`; resolves to the exit status. */
  receive(broker: string, o: ReceiveLoopOptions): Promise<number>;
  expect(name: string, threshold?: number): Promise<string>;
  /**
   * A Blob sent by Plik link from the page goes into the upload's form as
   * itself, not collected into a copy, and arrives whole; resolves to a JSON line.
   */
  blobCheck(fileserver: string, size: number): Promise<string>;
  /** Object Store objects read back as streams (see `streamCheck`); resolves to its JSON line. */
  streamCheck(broker: string, o: StreamCheckOptions): Promise<string>;
  inputs(name: string): string;
  close(): Promise<void>;
}

declare global {
  /** The peer, for the driver's `page.evaluate` calls. */
  var natsbridgePeer: BrowserPeer;
  /** Exposed by the driver: writes one line to its stdout. */
  function peerEmit(line: string): Promise<void>;
}

let shared: { broker: string; bridge: Promise<Bridge> } | undefined;

globalThis.natsbridgePeer = {
  runtime: runtimeName(),
  async send(broker, o) {
    try {
      if (shared?.broker !== broker) shared = { broker, bridge: connectBridge(broker) };
      return { ok: true, line: await sendCase(await shared.bridge, o) };
    } catch (err) {
      return { ok: false, line: dumps(errorJson(err)) };
    }
  },
  async receive(broker, o) {
    const bridge = await connectBridge(broker);
    try {
      return await receiveLoop(bridge, o, (line) => globalThis.peerEmit(line));
    } finally {
      await bridge.close();
    }
  },
  async blobCheck(fileserver, size) {
    // Browsers cannot stream a request body: a stream source is collected for
    // the form, and a Blob was too (a 300 MiB one failed with ERR_BLOB_OUT_OF_MEMORY).
    const data = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 255);
    const blob = new Blob([data]);
    const appended: unknown[] = [];
    const append = FormData.prototype.append;
    FormData.prototype.append = function (this: FormData, ...args: unknown[]) {
      appended.push(args[1]);
      return (append as (...a: unknown[]) => void).apply(this, args);
    };
    try {
      const store = plikFileServer({ url: fileserver });
      const [, json] = await smartsend("blobcheck", [["blob", blob, "binary"]], { is_publish: false, fileserver: store });
      const back = (await smartreceive(json, { fileserver: store })).payloads[0][1] as Uint8Array;
      const whole = back.byteLength === size && back.every((b, i) => b === data[i]);
      const asItself = appended.includes(blob);
      return dumps({ ok: whole && asItself, whole, as_itself: asItself });
    } catch (err) {
      return dumps(errorJson(err));
    } finally {
      FormData.prototype.append = append;
    }
  },
  async streamCheck(broker, o) {
    try {
      if (shared?.broker !== broker) shared = { broker, bridge: connectBridge(broker) };
      return dumps(await streamCheck(await shared.bridge, o));
    } catch (err) {
      return dumps(errorJson(err));
    }
  },
  async expect(name, threshold) {
    return dumps(await expectCase(name, threshold));
  },
  inputs(name) {
    return dumps(inputsOf(name));
  },
  async close() {
    if (shared) await (await shared.bridge).close();
    shared = undefined;
  },
};
