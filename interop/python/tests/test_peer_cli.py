"""The command-line peer, run as the matrix runs it: real processes, real servers."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time

import nats
from _servers import PEER_DIR, free_port

from natsbridge import ENVELOPE_KEYS
from natsbridge.cases import CASES


def peer_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "FILESERVER_URL", "SIZE_THRESHOLD")}
    env["PYTHONPATH"] = str(PEER_DIR) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def peer(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "natsbridge.peer", *args],
        capture_output=True, text=True, timeout=timeout, env=peer_env(),
    )


class LineReader:
    """Reads a process's stdout lines on a thread, so reads can time out."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def next(self, timeout: float = 20) -> str:
        return self.lines.get(timeout=timeout)


def test_cases_lists_every_case():
    out = peer("cases")
    assert out.returncode == 0 and out.stdout.split() == list(CASES)


def test_expect_prints_one_json_line():
    out = peer("expect", "--case", "jsontable")
    assert out.returncode == 0 and out.stdout.count("\n") == 1
    doc = json.loads(out.stdout)
    assert doc["case"] == "jsontable" and doc["payloads"][0]["transport"] == "direct"
    assert peer("expect", "--case", "large_link", "--threshold", "700000").stdout.count('"direct"') == 1


def test_inputs_round_trip_through_json():
    doc = json.loads(peer("inputs", "--case", "mixed").stdout)
    assert [i["payload_type"] for i in doc["items"]] == ["text", "dictionary", "jsontable", "arrowtable", "image", "binary"]


def test_unknown_case_is_a_usage_error():
    out = peer("expect", "--case", "nope")
    assert out.returncode == 2 and out.stdout == ""


async def test_send_and_receive_processes_match_expect(nats_server, plik):
    subject = f"cli.{time.monotonic_ns()}"
    cases = ["mixed", "large_link", "arrowtable"]
    recv = subprocess.Popen(
        [sys.executable, "-m", "natsbridge.peer", "receive", "--broker", nats_server.url, "--fileserver", plik.url,
         "--subject", subject, "--count", str(len(cases) + 1), "--timeout", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=peer_env(),
    )
    try:
        reader = LineReader(recv)
        assert reader.next() == "READY"
        sent = []
        for case in cases:
            out = peer("send", "--broker", nats_server.url, "--fileserver", plik.url, "--subject", subject, "--case", case)
            assert out.returncode == 0, out.stderr
            assert out.stdout.count("\n") == 1
            env = json.loads(out.stdout)
            assert list(env) == list(ENVELOPE_KEYS) and env["send_to"] == subject
            assert "Message published to" in out.stderr  # log lines go to stderr
            sent.append(env)
        nc = await nats.connect(nats_server.url)
        await nc.publish(subject, b"{broken")
        await nc.flush()
        await nc.close()
        lines = [json.loads(reader.next()) for _ in range(len(cases) + 1)]
        assert recv.wait(timeout=20) == 0
    finally:
        if recv.poll() is None:
            recv.kill()
            recv.wait()
        recv.stdout.close()
        recv.stderr.close()
    for case, env, line in zip(cases, sent, lines):
        expected = json.loads(peer("expect", "--case", case).stdout)
        assert line["correlation_id"] == env["correlation_id"]
        assert [{k: p[k] for k in ("dataname", "payload_type", "transport", "value")} for p in line["payloads"]] \
            == expected["payloads"]
        assert all(p["checksum"] == p["checksum_recomputed"] for p in line["payloads"])
    assert lines[-1]["error"]["code"] == "ENVELOPE_INVALID"


def test_receive_times_out_with_status_3(nats_server):
    out = peer("receive", "--broker", nats_server.url, "--fileserver", "http://127.0.0.1:1", "--subject", "nobody",
               "--count", "1", "--timeout", "0.5")
    assert out.returncode == 3 and out.stdout == "READY\n"


def test_send_to_unreachable_broker_prints_the_error_and_exits_1():
    out = peer("send", "--broker", f"nats://127.0.0.1:{free_port()}", "--fileserver", "http://127.0.0.1:1",
               "--subject", "s", "--case", "empty_text")
    assert out.returncode == 1
    assert json.loads(out.stdout)["error"]["code"] == "CONNECTION_FAILED"
