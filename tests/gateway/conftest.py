"""Gateway tests run their async code on asyncio through anyio's pytest plugin.

The gateway keeps its state in an SQLite file by default (``chatsim-gateway.db`` in the working
directory): every test runs in its own temporary directory, and gateway subprocesses inherit
``CHATSIM_GATEWAY_STORE`` pointing there, so no test writes a store into the repository or
sees another test's state.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def gateway_store_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default store file of this test: in its own temporary directory."""
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "chatsim-gateway.db"
    monkeypatch.setenv("CHATSIM_GATEWAY_STORE", str(store))
    return store
