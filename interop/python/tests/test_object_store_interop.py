"""natsbridge's Object Store writer and reader against nats-py's, over a real
nats-server: objects natsbridge writes (as bytes, and as streams of odd piece
sizes that it re-chunks) are read by nats-py, which checks their digest; objects
nats-py writes (its 128 KiB chunks) are read by natsbridge as bytes and as
streams. The TypeScript side is ``ts_object_store.ts``, run by deno.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess

import nats
import pytest
from _servers import ROOT

HERE = os.path.dirname(os.path.abspath(__file__))
MiB = 1024 * 1024
CHUNK = 256 * 1024  # natsbridge's OBJECT_CHUNK_SIZE


def pattern(size: int) -> bytes:
    """Byte i of every object: the same rule as ts_object_store.ts."""
    return bytes((i * 31 + 7) & 0xFF for i in range(size))


def run_ts(deno: str, nats_url: str, bucket: str, mode: str, jobs: list) -> dict:
    proc = subprocess.run(
        [deno, "run", "-A", "--no-lock", "--config", str(ROOT / "deno.json"), os.path.join(HERE, "ts_object_store.ts"),
         "--nats", nats_url, "--bucket", bucket, "--mode", mode],
        input="".join(json.dumps(j) + "\n" for j in jobs),
        capture_output=True, text=True, cwd=str(ROOT), env={**os.environ, "NO_COLOR": "1"}, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(out) == len(jobs), proc.stdout[-2000:] + proc.stderr[-2000:]
    return {o["label"]: o for o in out}


WRITES = [
    {"label": "empty", "size": 0},
    {"label": "one byte", "size": 1},
    {"label": "exactly one chunk", "size": CHUNK},
    {"label": "two chunks and a bit", "size": 2 * MiB + 12_345},
    {"label": "stream of odd pieces", "size": 2 * MiB + 777, "pieces": [1, 4096, CHUNK + 1, MiB, 65_536]},
    {"label": "empty stream", "size": 0, "pieces": [1]},
]


async def test_nats_py_reads_objects_natsbridge_wrote(deno, nats_server):
    written = run_ts(deno, nats_server.url, "interop_ts", "write", WRITES)
    nc = await nats.connect(nats_server.url)
    try:
        obs = await nc.jetstream().object_store("interop_ts")
        for job in WRITES:
            w = written[job["label"]]
            assert "error" not in w, w
            want = pattern(job["size"])
            assert w["sha256"] == hashlib.sha256(want).hexdigest(), job["label"]
            res = await obs.get(w["name"])  # nats-py raises DigestMismatchError on a bad digest
            assert res.data == want, job["label"]
            assert res.info.size == job["size"]
            digest = base64.urlsafe_b64encode(hashlib.sha256(want).digest()).decode()
            assert res.info.digest == f"SHA-256={digest}", job["label"]
            assert res.info.chunks == -(-job["size"] // CHUNK), job["label"]
    finally:
        await nc.close()


PY_SIZES = {"empty": 0, "one byte": 1, "one nats-py chunk": 128 * 1024, "several chunks": 3 * MiB + 5}


async def test_natsbridge_reads_objects_nats_py_wrote(deno, nats_server):
    nc = await nats.connect(nats_server.url)
    names = {}
    try:
        js = nc.jetstream()
        obs = await js.create_object_store("interop_py")
        for label, size in PY_SIZES.items():
            names[label] = f"py-{label.replace(' ', '-')}"
            await obs.put(names[label], pattern(size))
    finally:
        await nc.close()
    jobs = [{"label": f"{label} as {how}", "name": names[label], "stream": how == "stream"}
            for label in PY_SIZES for how in ("bytes", "stream")]
    read = run_ts(deno, nats_server.url, "interop_py", "read", jobs)
    for job in jobs:
        label = job["label"].split(" as ")[0]
        r = read[job["label"]]
        assert "error" not in r, r
        assert r["size"] == PY_SIZES[label]
        assert r["sha256"] == hashlib.sha256(pattern(PY_SIZES[label])).hexdigest(), job["label"]
