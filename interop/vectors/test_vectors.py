"""The golden vectors (interop/vectors/README.md) in the Python peer: every
vector — written by the TypeScript and by the Python peer — decodes with the
Python ``receive_envelope`` to the expected envelope fields, wire facts,
checksums and canonical values; and the Python ``smartsend`` writes the Python
vectors again byte for byte.

Run: .venv/bin/python -m pytest -q interop/vectors
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

from natsbridge import peer  # noqa: E402
from natsbridge.cases import get_case  # noqa: E402
from natsbridge.errors import NatsBridgeError  # noqa: E402
from natsbridge.receive import receive_envelope  # noqa: E402
from natsbridge.send import smartsend  # noqa: E402

with open(os.path.join(HERE, "manifest.json"), encoding="utf-8") as _f:
    MANIFEST = json.load(_f)
FIXED = MANIFEST["fixed"]


def _load(entry):
    with open(os.path.join(HERE, entry["file"]), "rb") as f:
        raw = f.read()
    return raw, json.loads(raw.decode("utf-8"))


def _pin(text: str) -> str:
    """generate.ts's pin(): the fixed timestamp, then payload ids by position."""
    text = re.sub(r'("timestamp"\s*:\s*)"[^"]*"', lambda m: f'{m.group(1)}"{FIXED["timestamp"]}"', text, count=1)
    counter = iter(range(1, 1_000_000))
    return re.sub(
        r'("id"\s*:\s*)"[^"]*"',
        lambda m: f'{m.group(1)}"{FIXED["payload_id_prefix"]}{next(counter):012d}"',
        text,
    )


def test_manifest_is_complete_and_files_intact():
    peers = {e["peer"] for e in MANIFEST["vectors"]}
    assert peers == {"ts", "python"}
    for p in peers:
        cases = [e["case"] for e in MANIFEST["vectors"] if e["peer"] == p]
        assert "large_link" not in cases  # direct transport only
        assert len(cases) == 10, cases
    for entry in MANIFEST["vectors"]:
        raw, _ = _load(entry)
        assert hashlib.sha256(raw).hexdigest() == entry["sha256"], entry["file"]


@pytest.mark.parametrize("entry", MANIFEST["vectors"], ids=lambda e: e["file"])
def test_vector_decodes_to_expected_values(entry):
    _, vector = _load(entry)
    received = asyncio.run(
        receive_envelope(vector["envelope_json"], fileserver_url="http://127.0.0.1:9", arrow_output="arrow")
    )
    out = peer.render_received(received)
    for key, value in vector["expected"]["envelope"].items():
        assert out[key] == value, key
    assert len(out["payloads"]) == len(vector["expected"]["payloads"])
    for got, exp in zip(out["payloads"], vector["expected"]["payloads"]):
        at = f'payload "{exp["dataname"]}"'
        assert got["dataname"] == exp["dataname"], at
        assert got["payload_type"] == exp["payload_type"], at
        assert got["transport"] == "direct", at
        assert got["encoding"] == exp["encoding"], at
        assert got["size"] == exp["size"], at
        assert got["checksum"] == exp["checksum"], at
        assert got["checksum_recomputed"] == exp["bytes_sha256"], at
        # Parsed-JSON equality: numbers compare as numbers (1 == 1.0).
        assert json.loads(json.dumps(got["value"])) == exp["value"], at


@pytest.mark.parametrize("entry", [e for e in MANIFEST["vectors"] if e["peer"] == "python"], ids=lambda e: e["case"])
def test_python_smartsend_reproduces_python_vector(entry):
    _, vector = _load(entry)
    _, text = asyncio.run(
        smartsend(
            FIXED["subject_prefix"] + entry["case"],
            get_case(entry["case"]).items(),
            is_publish=False,
            broker_url=FIXED["broker_url"],
            correlation_id=FIXED["correlation_id"],
            msg_id=FIXED["msg_id"],
            sender_id=FIXED["sender_id"],
            sender_name="natsbridge-python-peer",
            size_threshold=10_000_000,
        )
    )
    assert _pin(text) == vector["envelope_json"]


def test_tampered_checksum_is_refused():
    entry = next(e for e in MANIFEST["vectors"] if e["peer"] == "ts" and e["case"] == "binary")
    _, vector = _load(entry)
    env = json.loads(vector["envelope_json"])
    env["payloads"][0]["metadata"]["checksum"] = "f" * 64
    with pytest.raises(NatsBridgeError) as info:
        asyncio.run(receive_envelope(json.dumps(env), fileserver_url="http://127.0.0.1:9"))
    assert info.value.code == "CHECKSUM_MISMATCH"
    assert info.value.correlation_id == FIXED["correlation_id"]
