"""Hostile callers: forged signatures, borrowed message ids, huge bodies and slow clients.

Each gets a 4xx it can read (or, past a bound, a closed connection) and changes nothing. The
signature and idempotency cases run in-process; sizes and timeouts need real sockets, so they
run against a ``chatsim gateway`` process on loopback with short timeouts.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from gateway_helpers import CONFIG, Client, dumps, gateway, vb_message, wa_message
from livekit import LiveProcess, chatsim_gateway
from test_gateway_inbound import snapshot

from sim.protocols import viber_signature, whatsapp_signature

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 2.0
SLACK = 1.5
"""Seconds a timed-out connection may take beyond its bound to be closed, on a busy machine."""

DIGEST = whatsapp_signature(CONFIG.whatsapp_app_secret, dumps(wa_message()))[len("sha256=") :]


# -- signatures: every wrong header is a 403 with a reason, never a 500 -----------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (b"sha256=" + DIGEST[:-1].encode() + b"\xff", "not ASCII"),
        (("sha256=" + DIGEST[:-1] + "é").encode(), "not ASCII"),
        (b"\xc3\xa9\xc3\xa9", "not ASCII"),
        ("sha256=" + "zz" * 32, "not a hex digest"),
        ("sha256=" + DIGEST[:-1], "not a hex digest"),  # odd number of digits
        ("sha256=" + DIGEST[:32] + " " + DIGEST[32:], "not a hex digest"),
        ("sha256=" + DIGEST[:-2], "has 31 bytes"),
        ("sha256=" + DIGEST + "00", "has 33 bytes"),
        (DIGEST, "must be sha256=<hex digest>"),
        ("sha1=" + DIGEST, "must be sha256=<hex digest>"),
        ("sha256=" + "00" * 32, "does not match the body"),
    ],
)
async def test_a_bad_whatsapp_signature_is_403_with_its_reason(header: str | bytes, reason: str):
    async with gateway() as client:
        before = await snapshot(client)
        response = await client.http.post(
            "/webhooks/whatsapp",
            content=dumps(wa_message()),
            headers={"X-Hub-Signature-256": header},
        )
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "bad_signature"
        assert reason in response.json()["detail"]
        assert await snapshot(client) == before


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (b"\xff" * 64, "not ASCII"),
        ("é".encode() * 32, "not ASCII"),
        ("g" * 64, "not a hex digest"),
        ("ab" * 31, "has 31 bytes"),
        ("00" * 32, "does not match the body"),
    ],
)
async def test_a_bad_viber_signature_is_403_with_its_reason(header: str | bytes, reason: str):
    async with gateway() as client:
        before = await snapshot(client)
        response = await client.http.post(
            "/webhooks/viber",
            content=dumps(vb_message()),
            headers={"X-Viber-Content-Signature": header},
        )
        assert response.status_code == 403, response.text
        assert reason in response.json()["detail"]
        assert await snapshot(client) == before


@pytest.mark.anyio
async def test_a_signature_in_capitals_or_padded_is_still_the_signature():
    async with gateway() as client:
        body = dumps(wa_message())
        upper = whatsapp_signature(CONFIG.whatsapp_app_secret, body).upper()
        response = await client.whatsapp(wa_message(), signature=f" {upper} ")
        assert response.status_code == 200, response.text
        viber = viber_signature(CONFIG.viber_auth_token, dumps(vb_message())).upper()
        assert (await client.viber(vb_message(), signature=viber)).status_code == 200


@pytest.mark.anyio
async def test_a_non_ascii_telegram_secret_is_403():
    async with gateway() as client:
        response = await client.http.post(
            "/webhooks/telegram",
            content=b"{}",
            headers={"X-Telegram-Bot-Api-Secret-Token": b"\xff\xfe"},
        )
        assert response.status_code == 403
        assert "not ASCII" in response.json()["detail"]


# -- idempotency keys belong to their sender ----------------------------------------------------


async def conversation_texts(client: Client) -> dict[str, list[str]]:
    """Customer id -> texts of the customer's messages, over every conversation."""
    texts: dict[str, list[str]] = {}
    for cid in list(client.service.store._conversations):
        view = await client.conversation(cid)
        texts.setdefault(view["customer"]["id"], []).extend(m["text"] for m in view["messages"])
    return texts


@pytest.mark.anyio
async def test_another_webchat_session_reusing_a_message_id_is_not_a_duplicate():
    async with gateway() as client:
        first = await client.webchat("s1", "мой вопрос", id="m-1")
        other = await client.webchat("s2", "чужой вопрос", id="m-1")
        retry = await client.webchat("s1", "мой вопрос", id="m-1")
        assert (first.json()["messages"], first.json()["duplicates"]) == (1, 0)
        assert (other.json()["messages"], other.json()["duplicates"]) == (1, 0)
        assert (retry.json()["messages"], retry.json()["duplicates"]) == (0, 1)
        assert await conversation_texts(client) == {"s1": ["мой вопрос"], "s2": ["чужой вопрос"]}


@pytest.mark.anyio
async def test_no_session_and_id_can_spell_another_senders_key():
    async with gateway() as client:
        assert (await client.webchat("a:b", "one", id="c")).json()["messages"] == 1
        assert (await client.webchat("a", "two", id="b:c")).json()["messages"] == 1
        assert (await client.webchat('a", "b', "three", id="c")).json()["messages"] == 1
        assert client.service.router.waiting() == 3


@pytest.mark.anyio
async def test_a_whatsapp_message_id_is_scoped_to_its_sender_too():
    async with gateway() as client:
        one = await client.whatsapp(wa_message(wa_id="79160000001", msg_id="wamid.same"))
        two = await client.whatsapp(wa_message(wa_id="79160000002", msg_id="wamid.same"))
        again = await client.whatsapp(wa_message(wa_id="79160000001", msg_id="wamid.same"))
        assert [r.json()["messages"] for r in (one, two, again)] == [1, 1, 0]


# -- sizes and timeouts, on real sockets --------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveProcess]:
    log = tmp_path_factory.mktemp("hostile") / "gateway.log"
    options = ("--header-timeout", str(HEADER_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT))
    with chatsim_gateway(log, *options) as process:
        yield process
        assert "Traceback" not in process.log_text()


def state(live: LiveProcess) -> dict[str, Any]:
    """What a refused request must leave as it was (queue, agents, outbound)."""
    return dict(httpx.get(f"{live.url}/healthz").json())


def connect(live: LiveProcess) -> socket.socket:
    sock = socket.create_connection((live.host, live.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and when it closed (monotonic)."""
    sock.settimeout(limit)
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return received, time.monotonic()
        received += chunk


def status_and_body(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.slow
@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("path", "header"),
    [
        ("/webhooks/whatsapp", "X-Hub-Signature-256"),
        ("/webhooks/viber", "X-Viber-Content-Signature"),
    ],
)
def test_a_non_ascii_signature_byte_is_403_from_the_server_too(
    live: LiveProcess, path: str, header: str
):
    before = state(live)
    response = httpx.post(
        f"{live.url}{path}", content=b"{}", headers={header: b"sha256=\xff" + b"0" * 63}
    )
    assert response.status_code == 403
    assert response.json() == {"error": "bad_signature", "detail": f"{header} is not ASCII"}
    assert state(live) == before


FIFTY_MB = 50 * 1000 * 1000


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_urllib_sending_50_mb_reads_the_413(live: LiveProcess):
    before = state(live)
    request = urllib.request.Request(
        f"{live.url}/webhooks/webchat",
        data=b"x" * FIFTY_MB,
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413
    assert json.loads(refused.value.read())["error"] == "body_too_large"
    assert refused.value.headers["connection"] == "close"
    assert state(live) == before


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_httpx_sending_50_mb_reads_the_413_with_or_without_a_length(live: LiveProcess):
    before = state(live)
    with httpx.Client(base_url=live.url, timeout=30) as http:
        response = http.post("/webhooks/whatsapp", content=b"x" * FIFTY_MB)
        assert response.status_code == 413
        assert response.json()["error"] == "body_too_large"

        def chunks() -> Iterator[bytes]:  # chunked: no Content-Length to refuse it by
            for _ in range(50):
                yield b"x" * 1_000_000

        response = http.post("/webhooks/webchat", content=chunks())
        assert response.status_code == 413
    assert state(live) == before
    assert httpx.post(
        f"{live.url}/webhooks/webchat", json={"session": "ok", "text": "hi"}
    ).is_success


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_a_body_past_the_drain_bound_is_refused_before_it_is_sent(live: LiveProcess):
    sock = connect(live)
    sock.sendall(
        b"POST /webhooks/webchat HTTP/1.1\r\nHost: gateway\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n"
    )
    received, _ = read_until_closed(sock, limit=5)
    sock.close()
    status, body = status_and_body(received)
    assert (status, body["error"]) == (413, "body_too_large")


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_expect_100_continue_is_refused_without_asking_for_the_body(live: LiveProcess):
    sock = connect(live)
    sock.sendall(
        b"POST /webhooks/webchat HTTP/1.1\r\nHost: gateway\r\nExpect: 100-continue\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n"
    )
    received, _ = read_until_closed(sock, limit=5)
    sock.close()
    assert received.startswith(b"HTTP/1.1 413 "), received[:100]  # no "100 Continue" first


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_a_slow_body_gets_408(live: LiveProcess):
    before = state(live)
    sock = connect(live)
    started = time.monotonic()
    sock.sendall(
        b"POST /webhooks/webchat HTTP/1.1\r\nHost: gateway\r\n"
        b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"session": "slow"'
    )
    received, closed = read_until_closed(sock, limit=BODY_TIMEOUT + 10)
    sock.close()
    status, body = status_and_body(received)
    assert (status, body["error"]) == (408, "request_timeout")
    assert BODY_TIMEOUT - 0.1 <= closed - started <= BODY_TIMEOUT + SLACK
    assert state(live) == before


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_trickling_headers_are_cut_off_at_the_header_timeout(live: LiveProcess):
    """Many clients, each sending one header byte every quarter second, never finishing."""
    clients = [connect(live) for _ in range(50)]
    idle = connect(live)  # connects and never sends a byte
    started = time.monotonic()
    for sock in clients:
        sock.setblocking(False)
    received = {sock: b"" for sock in clients}
    closed: dict[socket.socket, float] = {}
    header = b"POST /webhooks/webchat HTTP/1.1\r\nX-Slow: " + b"a" * 1000
    position = 0
    while len(closed) < len(clients) and time.monotonic() - started < HEADER_TIMEOUT + 10:
        for sock in clients:
            if sock in closed:
                continue
            try:
                chunk = sock.recv(65536)
            except BlockingIOError:
                chunk = None
            except ConnectionResetError:
                chunk = b""
            if chunk == b"":
                closed[sock] = time.monotonic()
            elif chunk:
                received[sock] += chunk
            elif not received[sock]:  # send nothing more once the answer is in
                try:
                    sock.send(header[position : position + 1])
                except (BrokenPipeError, ConnectionResetError):
                    closed[sock] = time.monotonic()
        position += 1
        time.sleep(0.25)
    assert len(closed) == len(clients), "some trickling connections are still open"
    for sock, when in closed.items():
        assert HEADER_TIMEOUT - 0.1 <= when - started <= HEADER_TIMEOUT + SLACK
        assert received[sock].startswith(b"HTTP/1.1 408 "), received[sock][:100]
        sock.close()
    nothing, when = read_until_closed(idle, limit=HEADER_TIMEOUT + 10)
    idle.close()
    assert nothing == b""  # an idle connection is closed without an answer
    assert when - started <= HEADER_TIMEOUT + SLACK
    assert httpx.get(f"{live.url}/healthz").status_code == 200


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_headers_within_the_bound_and_kept_alive_connections_are_served(live: LiveProcess):
    sock = connect(live)
    request = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"
    for _ in range(2):  # two requests on one connection, each header slow but in time
        for part in (request[:10], request[10:20], request[20:]):
            sock.sendall(part)
            time.sleep(HEADER_TIMEOUT / 4)
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:100]
    sock.close()


# -- configuration ----------------------------------------------------------------------------


def test_the_bounds_come_from_the_environment_and_are_checked():
    from sim.gateway import GatewayConfig

    env = {
        "CHATSIM_MAX_DRAIN_BYTES": "5000000",
        "CHATSIM_HEADER_TIMEOUT": "2.5",
        "CHATSIM_BODY_TIMEOUT": "7",
    }
    config = GatewayConfig.from_env(env)
    assert (config.max_drain_bytes, config.header_timeout, config.body_timeout) == (
        5_000_000,
        2.5,
        7.0,
    )
    with pytest.raises(ValueError, match="max_drain_bytes"):
        GatewayConfig(max_body_bytes=2048, max_drain_bytes=1024)
    for name in ("header_timeout", "body_timeout"):
        with pytest.raises(ValueError, match=name):
            GatewayConfig(**{name: 0.0})
