"""The command-line peer the cross-language matrix drives.

    python -m natsbridge.peer send    --broker URL --fileserver URL --subject S --case NAME [--threshold N]
    python -m natsbridge.peer receive --broker URL --fileserver URL --subject S --count N [--timeout SEC]
    python -m natsbridge.peer expect  --case NAME [--threshold N]
    python -m natsbridge.peer inputs  --case NAME
    python -m natsbridge.peer cases

stdout carries only the contract's lines (one JSON document per line, plus
``READY``); log lines go to stderr. Exit status: 0 success, 1 a natsbridge
error (its JSON printed as ``{"error": {...}}``), 2 bad arguments, 3 receive
timed out before ``--count`` envelopes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from typing import Any, Dict, Optional, Sequence

from . import canonical
from .cases import CASES, get_case
from .codecs import ARROW_FORMATS, arrow_table_of, serialize
from .config import DEFAULT_SIZE_THRESHOLD
from .connection import connect
from .encoding import encode_base64
from .errors import NatsBridgeError
from .handlers.plik import DEFAULT_PLIK_TTL, plik_upload_handler
from .receive import ReceivedEnvelope, receive_envelope
from .send import smartsend


def _emit(obj: Any) -> None:
    line = obj if isinstance(obj, str) else canonical.dumps(obj)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def render_received(received: ReceivedEnvelope) -> Dict[str, Any]:
    """What ``receive`` prints for one envelope: the envelope object (extra keys
    included) with each payload replaced by its description."""
    out = {k: v for k, v in received.envelope.items() if k != "payloads"}
    out["payloads"] = [
        {
            "dataname": p.dataname,
            "payload_type": p.payload_type,
            "transport": p.transport,
            "encoding": p.encoding,
            "size": p.size,
            "checksum": p.checksum,
            "checksum_recomputed": p.checksum_recomputed,
            "value": canonical.render_value(p.value, p.payload_type),
        }
        for p in received.payloads
    ]
    return out


def render_expected(case_name: str, threshold: int = DEFAULT_SIZE_THRESHOLD) -> Dict[str, Any]:
    """What ``expect`` prints: the language-independent part of ``receive``'s line."""
    payloads = []
    for dataname, value, payload_type in get_case(case_name).items():
        size = len(serialize(value, payload_type))
        if payload_type == "arrowtable":
            value = arrow_table_of(value)
        payloads.append(
            {
                "dataname": dataname,
                "payload_type": payload_type,
                "transport": "link" if size >= threshold else "direct",
                "value": canonical.render_value(value, payload_type),
            }
        )
    return {"case": case_name, "payloads": payloads}


def render_inputs(case_name: str) -> Dict[str, Any]:
    """What ``inputs`` prints: the case's items in a form another language can rebuild.

    ``text`` → ``{"text": s}``; ``dictionary``/``jsontable`` → ``{"json": value}``;
    bytes → ``{"base64": b64}``; ``arrowtable`` → ``{"table": <canonical table>}``.
    """
    items = []
    for dataname, value, payload_type in get_case(case_name).items():
        if payload_type == "text":
            form: Dict[str, Any] = {"text": value}
        elif payload_type in ("dictionary", "jsontable"):
            form = {"json": value}
        elif payload_type == "arrowtable":
            form = {"table": canonical.render_table(arrow_table_of(value))}
        else:
            form = {"base64": encode_base64(value)}
        items.append({"dataname": dataname, "payload_type": payload_type, **form})
    return {"case": case_name, "items": items}


async def cmd_send(args: argparse.Namespace) -> int:
    upload = plik_upload_handler(ttl=args.ttl, one_shot=args.one_shot, token=args.plik_token)
    _, text = await smartsend(
        args.subject,
        get_case(args.case).items(),
        broker_url=args.broker,
        fileserver_url=args.fileserver,
        fileserver_upload_handler=upload,
        size_threshold=args.threshold,
        sender_name="natsbridge-python-peer",
        arrow_format=args.arrow_format,
    )
    _emit(text)
    return 0


async def cmd_receive(args: argparse.Namespace) -> int:
    nc = await connect(args.broker, allow_reconnect=True)
    try:
        sub = await nc.subscribe(args.subject)
        await nc.flush()  # the server has the subscription before anyone is told READY
        _emit("READY")
        deadline = time.monotonic() + args.timeout
        seen = 0
        while seen < args.count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                msg = await sub.next_msg(timeout=remaining)
            except Exception:  # nats.errors.TimeoutError
                break
            seen += 1
            try:
                received = await receive_envelope(
                    msg,
                    fileserver_url=args.fileserver,
                    allowed_origins=args.allowed_origin,
                    arrow_output="arrow",
                )
                _emit(render_received(received))
            except NatsBridgeError as err:
                _emit({"error": err.to_dict()})
        if seen < args.count:
            logging.getLogger("natsbridge").error(
                f"receive: timed out after {args.timeout} s with {seen} of {args.count} envelopes"
            )
            return 3
        return 0
    finally:
        await nc.drain()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m natsbridge.peer", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    case_names = list(CASES)

    send = sub.add_parser("send", help="send one interop case, print the envelope JSON")
    send.add_argument("--broker", required=True)
    send.add_argument("--fileserver", required=True)
    send.add_argument("--subject", required=True)
    send.add_argument("--case", required=True, choices=case_names)
    send.add_argument("--threshold", type=int, default=None, help="size threshold, bytes (default $SIZE_THRESHOLD or 500000)")
    send.add_argument("--arrow-format", choices=ARROW_FORMATS, default="file")
    send.add_argument("--ttl", type=int, default=DEFAULT_PLIK_TTL, help="Plik TTL, seconds")
    send.add_argument("--one-shot", action="store_true", help="Plik one-shot uploads")
    send.add_argument("--plik-token", default=None, help="Plik API token (X-PlikToken)")

    recv = sub.add_parser("receive", help="receive N envelopes, print one JSON line each")
    recv.add_argument("--broker", required=True)
    recv.add_argument("--fileserver", required=True)
    recv.add_argument("--subject", required=True)
    recv.add_argument("--count", type=int, required=True)
    recv.add_argument("--timeout", type=float, default=30.0, help="seconds for all --count envelopes")
    recv.add_argument("--allowed-origin", action="append", default=[], help="another trusted link origin")

    exp = sub.add_parser("expect", help="print the rendering receive would print for a case")
    exp.add_argument("--case", required=True, choices=case_names)
    exp.add_argument("--threshold", type=int, default=DEFAULT_SIZE_THRESHOLD)

    inp = sub.add_parser("inputs", help="print a case's items in a rebuildable JSON form")
    inp.add_argument("--case", required=True, choices=case_names)

    sub.add_parser("cases", help="list the cases, one name per line")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("natsbridge")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        if args.command == "expect":
            _emit(render_expected(args.case, args.threshold))
            return 0
        if args.command == "inputs":
            _emit(render_inputs(args.case))
            return 0
        if args.command == "cases":
            for name in CASES:
                _emit(name)
            return 0
        run = cmd_send if args.command == "send" else cmd_receive
        return asyncio.run(run(args))
    except NatsBridgeError as err:
        _emit({"error": err.to_dict()})
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
