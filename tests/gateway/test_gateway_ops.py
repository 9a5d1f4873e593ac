"""Operations: health, metrics, configuration, logs without secrets, OpenAPI, the CLI command."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import gateway, tg_update, wa_message, wa_status
from typer.testing import CliRunner

from sim.gateway import GatewayConfig, create_app
from sim.gateway.logs import JsonFormatter, register_secrets


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == name:
            return float(value)
    raise AssertionError(f"{name} not in metrics")


@pytest.mark.anyio
async def test_healthz_and_metrics():
    channels = {"whatsapp": ("whatsapp", 0), "telegram": ("telegram", 0), "app": ("webchat", 1)}
    async with gateway(channels=channels) as client:
        health = await client.health()
        assert health == {
            "status": "ok",
            "queued": 0,
            "agents": {"active": 0, "draining": 0},
            "outbound_pending": 0,
        }
        await client.login("a1", ["app"], max_chats=1)
        await client.login("a2", ["whatsapp"], max_chats=1)
        await client.http.post("/agents/a2/logout")
        await client.whatsapp(wa_message(msg_id="m1", wa_id="1"))
        await client.whatsapp(wa_message(msg_id="m1", wa_id="1"))  # duplicate
        await client.whatsapp(wa_message(msg_id="m2", wa_id="2"))
        await client.whatsapp(wa_status())
        await client.telegram(tg_update(), token="wrong")
        await client.webchat("s1", "hi")
        await client.webchat("s2", "hi")
        cid = client.service.agents["a1"].conversations
        await client.reply(next(iter(cid)), "a1")

        response = await client.http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        assert metric(text, 'chatsim_gateway_queue_length{channel="whatsapp"}') == 2
        assert metric(text, 'chatsim_gateway_queue_length{channel="app"}') == 1
        assert metric(text, 'chatsim_gateway_queue_length{channel="telegram"}') == 0
        assert metric(text, 'chatsim_gateway_active_conversations{channel="app"}') == 1
        assert metric(text, 'chatsim_gateway_agents_logged_in{state="active"}') == 1
        assert metric(text, 'chatsim_gateway_agents_logged_in{state="draining"}') == 0
        assert (
            metric(text, 'chatsim_gateway_messages_in_total{channel="whatsapp",kind="text"}') == 2
        )
        assert metric(text, 'chatsim_gateway_messages_out_total{channel="app"}') == 1
        assert metric(text, 'chatsim_gateway_duplicates_total{channel="whatsapp"}') == 1
        assert (
            metric(
                text,
                'chatsim_gateway_delivery_statuses_total{protocol="whatsapp",status="delivered"}',
            )
            == 1
        )
        assert (
            metric(
                text,
                'chatsim_gateway_webhook_rejected_total{protocol="telegram",reason="signature"}',
            )
            == 1
        )
        assert (
            metric(text, 'chatsim_gateway_webhook_latency_seconds_count{protocol="whatsapp"}') == 4
        )
        assert "chatsim_gateway_outbound_failures_total" in text
        assert (await client.health())["queued"] == 3


@pytest.mark.anyio
async def test_two_apps_in_one_process_have_their_own_metrics():
    async with gateway() as one, gateway() as two:
        await one.whatsapp(wa_message())
        assert (
            'chatsim_gateway_queue_length{channel="whatsapp"} 1.0'
            in (await one.http.get("/metrics")).text
        )
        assert (
            'chatsim_gateway_queue_length{channel="whatsapp"} 0.0'
            in (await two.http.get("/metrics")).text
        )


def test_config_from_env_and_overrides():
    env = {
        "CHATSIM_WHATSAPP_APP_SECRET": "s3cret",
        "CHATSIM_MAX_BODY_BYTES": "2048",
        "CHATSIM_VIBER_API_BASE": "http://viber.local",
        "CHATSIM_OUTBOUND_TIMEOUT": "2.5",
    }
    config = GatewayConfig.from_env(env, viber_api_base="http://override", telegram_bot_token=None)
    assert config.whatsapp_app_secret == "s3cret"
    assert config.max_body_bytes == 2048 and config.outbound_timeout == 2.5
    assert config.viber_api_base == "http://override"
    assert config.telegram_bot_token == GatewayConfig().telegram_bot_token
    assert "s3cret" not in repr(config)
    assert "s3cret" not in json.dumps(config.summary())
    defaults = GatewayConfig.from_env({})
    assert set(defaults.channels) == {"whatsapp", "telegram", "viber", "webchat"}
    assert defaults.whatsapp_app_secret.startswith("chatsim-dev-")
    with pytest.raises(ValueError, match="CHATSIM_MAX_BODY_BYTES"):
        GatewayConfig.from_env({"CHATSIM_MAX_BODY_BYTES": "lots"})
    with pytest.raises(ValueError, match="unknown protocol"):
        GatewayConfig(channels={"x": ("icq", 0)})


def test_json_logs_blank_out_secrets():
    register_secrets(["tok-123456-secret"])
    record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        "HTTP Request: POST %s",
        ("http://x/bottok-123456-secret/send",),
        None,
    )
    record.fields = {"agent": "a1"}
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert data["msg"] == "HTTP Request: POST http://x/bot***/send"
    assert data["agent"] == "a1" and data["level"] == "info" and data["logger"] == "httpx"
    assert "tok-123456-secret" not in line


def test_openapi_documents_the_agent_api():
    schema = create_app(GatewayConfig()).openapi()
    paths = schema["paths"]
    for path in (
        "/agents/login",
        "/agents/{agent_id}/logout",
        "/agents/{agent_id}/events",
        "/conversations/{conversation_id}/reply",
        "/conversations/{conversation_id}/close",
        "/webchat/{session}/messages",
        "/webhooks/{name}",
        "/healthz",
        "/metrics",
    ):
        assert path in paths, path
    components = schema["components"]["schemas"]
    for model in (
        "LoginRequest",
        "AgentStatus",
        "AssignedEvent",
        "MessageEvent",
        "LeftEvent",
        "ReplyRequest",
        "CloseRequest",
        "ErrorBody",
    ):
        assert model in components, model


# -- the CLI command ---------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run ``chatsim gateway`` with uvicorn.run captured instead of serving."""
    import uvicorn

    import sim.cli.gateway  # noqa: F401  (registers the command)

    captured: dict[str, Any] = {}

    def fake_run(app: Any, **kwargs: Any) -> None:
        captured["app"] = app
        captured.update(kwargs)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setattr("sim.gateway.logs.configure_logging", lambda level: None)
    return captured


def invoke(args: list[str], env: dict[str, str] | None = None) -> Any:
    from sim.cli.app import app

    return CliRunner().invoke(app, ["gateway", *args], env=env)


def test_cli_builds_the_app_from_flags_and_env(cli):
    result = invoke(
        ["--port", "9123", "--viber-api-base", "http://v.local"],
        env={"CHATSIM_WHATSAPP_APP_SECRET": "from-env", "CHATSIM_MAX_BODY_BYTES": "999"},
    )
    assert result.exit_code == 0, result.output
    assert (cli["host"], cli["port"]) == ("127.0.0.1", 9123)
    config = cli["app"].state.gateway.config
    assert config.whatsapp_app_secret == "from-env"
    assert config.viber_api_base == "http://v.local"
    assert config.max_body_bytes == 999
    assert "from-env" not in result.output


def test_cli_sets_outbound_retries_by_flag_or_env(cli):
    result = invoke(
        [
            "--outbound-attempts",
            "2",
            "--outbound-timeout",
            "1.5",
            "--whatsapp-api-version",
            "v22.0",
        ],
        env={"CHATSIM_OUTBOUND_BACKOFF": "0.05", "CHATSIM_VIBER_SENDER_NAME": "Оператор"},
    )
    assert result.exit_code == 0, result.output
    config = cli["app"].state.gateway.config
    assert (config.outbound_attempts, config.outbound_timeout, config.outbound_backoff) == (
        2,
        1.5,
        0.05,
    )
    assert (config.whatsapp_api_version, config.viber_sender_name) == ("v22.0", "Оператор")
    assert invoke(["--outbound-attempts", "0"]).exit_code == 2


def test_cli_reads_channels_from_a_scenario(cli, tmp_path: Path):
    pytest.importorskip("sim.scenario")
    scenario = Path(__file__).resolve().parents[2] / "scenarios" / "small.yaml"
    if not scenario.is_file():
        pytest.skip("scenarios/small.yaml is not there yet")
    result = invoke(["--scenario", str(scenario)])
    assert result.exit_code == 0, result.output
    from sim.scenario import load_scenario

    expected = {
        name: (c.protocol, c.priority) for name, c in load_scenario(scenario).channels.items()
    }
    assert dict(cli["app"].state.gateway.config.channels) == expected


def test_cli_bad_input(cli, tmp_path: Path):
    from sim.errors import InputError

    result = invoke(["--scenario", str(tmp_path / "missing.yaml")])
    assert isinstance(result.exception, InputError)
    result = invoke(["--log-level", "loud"])
    assert isinstance(result.exception, InputError)
    assert "app" not in cli
