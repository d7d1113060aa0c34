"""A long-lived Python sender for the interop matrix.

The Python peer's CLI (``python -m natsbridge.peer``) sends one case per
process, and importing pandas/pyarrow costs most of a second each time. This
wrapper keeps one process and runs the peer's *own* code for every request:
each stdin line ``{"command": "send", "subject": S, "case": C, "threshold": N?}``
is parsed by the peer's own argument parser and run by its ``cmd_send``, so the
stdout line is exactly what ``python -m natsbridge.peer send`` prints.
``{"command": "expect"|"inputs", "case": C}`` answer with ``render_expected`` /
``render_inputs``, as the CLI does. The same protocol as ``interop/peer.ts
serve``.

Usage: .venv/bin/python interop/python_serve.py --broker URL --fileserver URL
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "python"))

from natsbridge import peer  # noqa: E402
from natsbridge.errors import NatsBridgeError  # noqa: E402


def main() -> int:
    argv = sys.argv[1:]
    opts = dict(zip(argv[::2], argv[1::2]))
    broker, fileserver = opts.get("--broker"), opts.get("--fileserver")
    if not broker or not fileserver:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger("natsbridge").addHandler(handler)
    logging.getLogger("natsbridge").setLevel(logging.WARNING)

    loop = asyncio.new_event_loop()
    parser = peer._parser()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            command = req.get("command")
            if command == "send":
                cli = ["send", "--broker", broker, "--fileserver", fileserver,
                       "--subject", req["subject"], "--case", req["case"]]
                if req.get("threshold") is not None:
                    cli += ["--threshold", str(req["threshold"])]
                if req.get("store", "plik") != "plik":
                    raise ValueError(f"the Python peer has no {req['store']!r} store")
                loop.run_until_complete(peer.cmd_send(parser.parse_args(cli)))  # prints the envelope line
                continue
            if command == "expect":
                peer._emit(peer.render_expected(req["case"], int(req.get("threshold") or 500_000)))
            elif command == "inputs":
                peer._emit(peer.render_inputs(req["case"]))
            else:
                raise ValueError(f"unknown command {command!r}")
        except NatsBridgeError as err:
            peer._emit({"error": err.to_dict()})
        except SystemExit as err:  # argparse refused the arguments
            peer._emit({"error": {"code": "USAGE", "message": f"bad arguments (exit {err.code})"}})
        except Exception as err:  # noqa: BLE001 - reported to the caller, the loop goes on
            peer._emit({"error": {"code": "ERROR", "message": f"{type(err).__name__}: {err}"}})
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
