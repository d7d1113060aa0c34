"""Fixtures: real servers (see ``_servers.py``), no mocks."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _servers, _helpers
from _servers import PEER_DIR, PLIK_TOKEN, ROOT, Server, start_nats, start_plik  # noqa: E402

if str(PEER_DIR) not in sys.path:  # importable even when pytest runs without pyproject.toml
    sys.path.insert(0, str(PEER_DIR))

DENO = os.environ.get("DENO_BIN") or str(ROOT / "node_modules" / ".bin" / "deno")


@pytest.fixture(scope="session")
def deno() -> str:
    """The deno binary that runs the TypeScript side of the interop tests."""
    if not (os.path.exists(DENO) or shutil.which(DENO)):
        reason = f"deno not found at {DENO}: TypeScript interop not tested (run npm install)"
        print(reason)
        pytest.skip(reason)
    return DENO


@pytest.fixture(scope="session")
def nats_server() -> Iterator[Server]:
    server = start_nats()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def plik() -> Iterator[Server]:
    server = start_plik()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def plik_with_token() -> Iterator[Server]:
    server = start_plik(["-token", PLIK_TOKEN])
    yield server
    server.stop()


@pytest.fixture()
def fresh_plik() -> Iterator[Server]:
    """A Plik server of the test's own, which the test may stop early."""
    server = start_plik()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their URLs and threshold explicitly."""
    for name in ("NATS_URL", "FILESERVER_URL", "SIZE_THRESHOLD"):
        monkeypatch.delenv(name, raising=False)
