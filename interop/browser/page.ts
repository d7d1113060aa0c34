/**
 * The browser interop peer: the page the driver (`driver.ts`) loads in
 * Chromium. It imports natsbridge from the browser build
 * (`.build/browser/natsbridge.js`, through the page's import map) and exposes
 * the peer's commands to the driver as `globalThis.natsbridgePeer`.
 *
 * @module
 */
import type { Bridge } from "natsbridge";
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
