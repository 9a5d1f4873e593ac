"""The replay side needs nothing of the reference gateway: it shares the wire protocols and the
platform credentials through sim.protocols, and reading a run needs neither gevent nor Locust."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sim.gateway.config import GatewayConfig
from sim.protocols import CREDENTIAL_ENV_VARS, PlatformCredentials


def loaded_after(*modules: str) -> set[str]:
    """Top-level packages and sim's subpackages loaded by importing ``modules`` in a fresh
    interpreter."""
    code = (
        f"import sys\nfor name in {list(modules)!r}: __import__(name)\n"
        "print('\\n'.join(sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return set(result.stdout.split())


def test_reading_a_replay_imports_neither_the_gateway_nor_gevent():
    loaded = loaded_after(
        "sim.loadtest.collect",
        "sim.loadtest.raw",
        "sim.loadtest.messages",
        "sim.loadtest.payloads",
        "sim.loadtest.emulator",
        "sim.loadtest.run",
    )
    assert "sim.gateway" not in loaded
    assert "gevent" not in loaded and "locust" not in loaded


LOCUST_SIDE = [
    "sim.loadtest.customers",
    "sim.loadtest.agents",
    "sim.loadtest.master",
    "sim.loadtest.worker",
    "sim.loadtest.harness",
]


@pytest.fixture(scope="module")
def loaded_by_the_locust_side() -> set[str]:
    """What importing every Locust-side module loads, in one fresh interpreter: a superset of
    what each of them loads alone, so what it lacks, none of them loads."""
    return loaded_after(*LOCUST_SIDE)


@pytest.mark.parametrize("module", LOCUST_SIDE)
def test_the_locust_side_imports_nothing_of_the_gateway(module, loaded_by_the_locust_side):
    # One interpreter for all five, unless something loads the gateway: then each module's own
    # interpreter says which.
    loaded = loaded_by_the_locust_side
    if "sim.gateway" in loaded:
        loaded = loaded_after(module)
    assert "sim.gateway" not in loaded


def test_gateway_and_replay_read_the_same_credentials():
    env = {var: f"from-env-{name}" for name, var in CREDENTIAL_ENV_VARS.items()}
    shared = PlatformCredentials.from_env(env)
    assert GatewayConfig.from_env(env).credentials == shared
    assert shared.whatsapp_app_secret == "from-env-whatsapp_app_secret"
    assert GatewayConfig().credentials == PlatformCredentials()
    assert set(CREDENTIAL_ENV_VARS) == set(PlatformCredentials.__dataclass_fields__)
    assert not any(value in repr(shared) for value in env.values())
    assert set(shared.secrets()) == set(env.values())
