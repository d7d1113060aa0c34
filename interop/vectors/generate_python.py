"""Builds the Python peer's golden envelopes for interop/vectors (called by generate.ts).

For every interop case except ``large_link`` (vectors are direct transport only),
runs the Python peer's ``smartsend`` with ``is_publish=False`` and the fixed ids
of ``fixed.json`` and prints one JSON line: ``{"case", "envelope_json",
"expect"}`` where ``expect`` is the peer's own ``render_expected`` for the case
(the reference values). generate.ts then pins what smartsend cannot be told
(the timestamp and the payload ids).

Usage: .venv/bin/python interop/vectors/generate_python.py
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

from natsbridge import peer  # noqa: E402
from natsbridge.cases import CASES  # noqa: E402
from natsbridge.send import smartsend  # noqa: E402

#: Vectors are direct transport only: a link cannot be fetched later.
SKIPPED = {"large_link"}


async def main() -> None:
    with open(os.path.join(HERE, "fixed.json"), encoding="utf-8") as f:
        fixed = json.load(f)
    for name, case in CASES.items():
        if name in SKIPPED:
            continue
        _, text = await smartsend(
            fixed["subject_prefix"] + name,
            case.items(),
            is_publish=False,
            broker_url=fixed["broker_url"],
            correlation_id=fixed["correlation_id"],
            msg_id=fixed["msg_id"],
            sender_id=fixed["sender_id"],
            sender_name="natsbridge-python-peer",
            size_threshold=10_000_000,
        )
        line = {"case": name, "envelope_json": text, "expect": peer.render_expected(name)}
        print(json.dumps(line, ensure_ascii=False, sort_keys=True))


if __name__ == "__main__":
    asyncio.run(main())
