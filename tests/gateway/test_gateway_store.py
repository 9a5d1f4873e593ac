"""The SQLite store across restarts, in process: a gateway is stopped and another one opens the
same file (the SIGKILL case, with real processes, is test_gateway_restart.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import FakeClock
from test_gateway_bounds import gateway

from sim.gateway import GatewayConfig, create_app
from sim.gateway.sqlite_store import SqliteStore, StoreError


def config(path: Path, **overrides: Any) -> GatewayConfig:
    return GatewayConfig(outbound_backoff=0.0, shutdown_grace=1.0, store=str(path), **overrides)


@pytest.mark.anyio
async def test_state_comes_back_after_a_restart(tmp_path):
    path = tmp_path / "gateway.db"
    clock = FakeClock()
    settings = config(path, agent_poll_timeout=30.0)
    async with gateway(settings, clock) as client:
        await client.login("a1", ["webchat"], max_chats=2)
        await client.login("d1", ["webchat"], max_chats=1)
        ids = [
            (await client.webchat(f"s{n}", "hi")).json()["conversation_ids"][0] for n in range(5)
        ]
        # a1 holds s0 and s2, d1 holds s1; s3 and s4 wait.
        assert (await client.http.post("/agents/d1/logout")).json()["state"] == "draining"
        clock.tick(31)
        await client.events("d1")  # d1 polls; a1 times out, its chats go to the front
        client.service.sweep()
        queue = client.service.router.waiting_items("webchat")
        assert queue == [ids[0], ids[2], ids[3], ids[4]]
        assert (await client.reply(ids[1], "d1", "bye")).status_code == 202
        assert (await client.webchat("s1", event="close")).status_code == 200
        ended = await client.conversation(ids[1])
        await client.login("d2", ["webchat"], max_chats=1)
        await client.http.post("/agents/d2/logout")  # draining with ids[0]
        remembered = dict(client.secrets), dict(client.tokens)
    async with gateway(settings, FakeClock()) as client:
        client.secrets.update(remembered[0])  # the customers and agents are the same people
        client.tokens.update(remembered[1])
        service = client.service
        assert service.router.waiting_items("webchat") == queue[1:]
        assert service.status("d2").state == "draining"
        assert service.status("d2").conversations == [ids[0]]
        assert service.status("a1").state == "gone"
        assert service.status("d1").state == "gone"  # drained: its last chat ended
        assert await client.conversation(ids[1]) == ended
        assert service.store.resident()["conversations"] == 4  # the open ones
        # Webchat indices continue per session: s1's customer saw index 1 before.
        await client.login("a3", ["webchat"], max_chats=10)
        cid = (await client.webchat("s1", "me again")).json()["conversation_ids"][0]
        assert cid == "cv-000006"
        assert (await client.reply(cid, "a3", "welcome back")).status_code == 202
        poll = (await client.http.get("/webchat/s1/messages", params={"after": 1})).json()
        assert [(m["index"], m["text"]) for m in poll] == [(2, "welcome back")]


@pytest.mark.anyio
async def test_one_gateway_per_store_file_and_served_channels_checked(tmp_path):
    path = tmp_path / "gateway.db"
    async with gateway(config(path)) as client:
        await client.webchat("s1", "hello")
        with pytest.raises(StoreError, match="locked"):
            SqliteStore(path)
    with pytest.raises(ValueError, match="webchat"):
        create_app(config(path), channels={"whatsapp": ("whatsapp", 0)})
    with pytest.raises(StoreError):
        SqliteStore(tmp_path / "missing" / "gateway.db")
