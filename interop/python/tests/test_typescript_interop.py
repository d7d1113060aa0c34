"""Python ↔ TypeScript without a broker in between: envelopes built by the
TypeScript ``smartsend`` (``is_publish: false``) decoded here, and envelopes
built here decoded by the TypeScript ``smartreceive``, both through deno
(``node_modules/.bin/deno``) running small scripts beside this file. Link
payloads go through the real Plik-compatible server both ways.

The TypeScript side renders what it decoded with ``interop/common/canonical.ts``, an
implementation of the canonical rendering written from the README alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess

import pytest
from _servers import ROOT

from natsbridge import ENVELOPE_KEYS, PAYLOAD_KEYS, receive_envelope, smartsend
from natsbridge.cases import CASES, get_case
from natsbridge.peer import render_expected, render_inputs, render_received

HERE = os.path.dirname(os.path.abspath(__file__))
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
COMPARED = ("dataname", "payload_type", "transport", "value")


def run_deno(deno: str, script: str, lines: list, fileserver: str) -> list:
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "FILESERVER_URL", "SIZE_THRESHOLD")}
    env["NO_COLOR"] = "1"
    proc = subprocess.run(
        [deno, "run", "-A", "--no-lock", "--config", str(ROOT / "deno.json"), os.path.join(HERE, script),
         "--fileserver", fileserver],
        input="".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines),
        capture_output=True, text=True, cwd=str(ROOT), env=env, timeout=120,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stderr[-3000:]}"
    out = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(out) == len(lines), proc.stdout[-2000:] + proc.stderr[-2000:]
    return out


def payload_view(payloads: list) -> list:
    return [{k: p[k] for k in COMPARED} for p in payloads]


# --- TypeScript → Python ----------------------------------------------------------------

@pytest.fixture(scope="module")
def ts_envelopes(deno, plik) -> dict:
    out = run_deno(deno, "ts_send_cases.ts", [render_inputs(case) for case in CASES], plik.url)
    return {line["case"]: line for line in out}


@pytest.mark.parametrize("case", list(CASES))
async def test_typescript_envelope_decodes_in_python(case, ts_envelopes, plik):
    line = ts_envelopes[case]
    assert "error" not in line, line.get("error")
    text = line["envelope_json"]
    wire = json.loads(text)
    # The TypeScript sender keeps the wire contract (DESIGN.md §1).
    assert list(wire) == list(ENVELOPE_KEYS)
    assert UUID.fullmatch(wire["correlation_id"]) and UUID.fullmatch(wire["msg_id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", wire["timestamp"])
    for p in wire["payloads"]:
        assert list(p) == list(PAYLOAD_KEYS)
        assert (p["transport"], p["encoding"]) in {("direct", "base64"), ("link", "none")}
        assert re.fullmatch(r"[0-9a-f]{64}", p["metadata"]["checksum"])
    received = await receive_envelope(text, fileserver_url=plik.url, arrow_output="arrow")
    rendered = render_received(received)
    assert payload_view(rendered["payloads"]) == render_expected(case)["payloads"]
    assert all(p["checksum"] == p["checksum_recomputed"] for p in rendered["payloads"])


async def test_typescript_arrowtable_is_stream_format_and_reads_as_dataframe(ts_envelopes, plik):
    text = ts_envelopes["arrowtable"]["envelope_json"]
    received = await receive_envelope(text, fileserver_url=plik.url)
    assert received.payloads[0].raw[:4] == b"\xff\xff\xff\xff"  # IPC stream continuation marker
    df = received.payloads[0].value
    assert list(df.columns) == ["id", "count", "value", "name", "flag", "when"] and len(df) == 4


# --- Python → TypeScript ----------------------------------------------------------------

def _python_envelopes(fileserver: str) -> list:
    async def build():
        lines = []
        for case in CASES:
            _, text = await smartsend(f"interop.{case}", get_case(case).items(), is_publish=False, fileserver_url=fileserver)
            lines.append({"case": case, "envelope_json": text})
        # The same table in the stream format, and a tampered envelope.
        _, text = await smartsend("interop.stream", get_case("arrowtable").items(), is_publish=False, arrow_format="stream")
        lines.append({"case": "arrowtable:stream", "envelope_json": text})
        _, text = await smartsend("interop.bad", [("msg", "hello", "text")], is_publish=False, correlation_id="tampered-1")
        wire = json.loads(text)
        wire["payloads"][0]["metadata"]["checksum"] = "0" * 64
        lines.append({"case": "tampered", "envelope_json": json.dumps(wire)})
        # The legacy type name and the "json" encoding, as older Python peers write them.
        _, text = await smartsend("interop.legacy", get_case("arrowtable").items(), is_publish=False)
        wire = json.loads(text)
        wire["payloads"][0]["payload_type"] = "table"
        lines.append({"case": "arrowtable:legacy", "envelope_json": json.dumps(wire)})
        rows = get_case("jsontable").items()[0][1]
        _, text = await smartsend("interop.json", [("users", rows, "jsontable")], is_publish=False)
        wire = json.loads(text)
        data = json.dumps(rows, ensure_ascii=False)
        wire["payloads"][0].update(encoding="json", data=data, metadata={})
        lines.append({"case": "jsontable:json", "envelope_json": json.dumps(wire)})
        return lines

    return asyncio.run(build())


@pytest.fixture(scope="module")
def ts_decoded(deno, plik) -> dict:
    out = run_deno(deno, "ts_receive_cases.ts", _python_envelopes(plik.url), plik.url)
    return {line["case"]: line for line in out}


@pytest.mark.parametrize("case", [*CASES, "arrowtable:stream", "arrowtable:legacy", "jsontable:json"])
def test_python_envelope_decodes_in_typescript(case, ts_decoded):
    line = ts_decoded[case]
    assert "error" not in line, line.get("error")
    assert payload_view(line["payloads"]) == render_expected(case.split(":")[0])["payloads"]


def test_typescript_rejects_a_tampered_python_envelope(ts_decoded):
    err = ts_decoded["tampered"]["error"]
    assert err["code"] == "CHECKSUM_MISMATCH"
    assert err["correlation_id"] == "tampered-1" and err["dataname"] == "msg"
