"""The gateway's HTTP surface, fuzzed by schemathesis from its own OpenAPI schema.

schemathesis generates requests for every operation of the schema, valid and invalid, sends
them to a real ``chatsim gateway`` process and holds every answer to the schema: never a 5xx,
only documented statuses and content types, and bodies that match the documented models (every
refusal an ``ErrorBody``). Examples are bounded per operation; long-polls are asked to wait at
most a moment, so the whole run stays within about a minute.

The schema is built in-process, because schemathesis parametrizes tests when they are collected,
before any gateway runs; the first test checks that the process serves exactly this schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from livekit import LiveProcess, chatsim_gateway
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sim.gateway import GatewayConfig, create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
LONGEST_POLL = 0.05
"""Seconds a generated long-poll may wait (the schema allows a minute)."""


@pytest.fixture(scope="module")
def gateway_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveProcess]:
    log = tmp_path_factory.mktemp("schema") / "gateway.log"
    with chatsim_gateway(log) as live:
        yield live


OPENAPI = create_app(GatewayConfig(store=":memory:")).openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)


@pytest.mark.slow
def test_the_process_serves_the_schema_that_is_fuzzed(gateway_process: LiveProcess):
    assert httpx.get(f"{gateway_process.url}/openapi.json").json() == OPENAPI


@pytest.mark.slow
@pytest.mark.timeout(120)
@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_answer_matches_the_schema(case: schemathesis.Case, gateway_process: LiveProcess):
    timeout = case.query.get("timeout") if case.query else None
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        case.query["timeout"] = min(timeout, LONGEST_POLL)
    case.call_and_validate(base_url=gateway_process.url, checks=CHECKS, timeout=10)
    assert "Traceback" not in Path(gateway_process.log).read_text(errors="replace")
