/**
 * Decodes envelopes with the TypeScript smartreceive and prints the canonical
 * rendering, for interop/python/tests/test_typescript_interop.py.
 *
 * stdin: one `{"case": name, "envelope_json": text}` per line.
 * stdout: one `{"case", "payloads": [{dataname, payload_type, transport, value}]}`
 * or `{"case", "error": {code, message, correlation_id, dataname}}` per line.
 * Usage: deno run -A ts_receive_cases.ts --fileserver URL
 */
import { smartreceive } from "../../../mod.ts";
import { renderValue } from "../../common/canonical.ts";

const fileserver = Deno.args[Deno.args.indexOf("--fileserver") + 1];
const input = await new Response(Deno.stdin.readable).text();
for (const line of input.split("\n").filter((l) => l.trim() !== "")) {
  const { case: name, envelope_json } = JSON.parse(line);
  try {
    const wire = JSON.parse(envelope_json);
    const env = await smartreceive(envelope_json, { fileserver_url: fileserver });
    const payloads = await Promise.all(env.payloads.map(async ([dataname, value, type], i) => ({
      dataname,
      payload_type: type,
      transport: wire.payloads[i].transport,
      value: await renderValue(value, type),
    })));
    console.log(JSON.stringify({ case: name, payloads }));
  } catch (err) {
    const e = err as { code?: string; message: string; correlationId?: string; dataname?: string };
    console.log(JSON.stringify({
      case: name,
      error: { code: e.code ?? "", message: e.message, correlation_id: e.correlationId ?? "", dataname: e.dataname ?? "" },
    }));
  }
}
