"""Client errors: every refusal is a 4xx with ``{"error": code, "detail": reason}``.

An overloaded part answers the same way with a 503 and ``Retry-After`` (a full outbox).
Service code raises :class:`ApiError` *before* it changes anything, so a refused request leaves
the gateway as it was. FastAPI's own validation errors (bad JSON or shape of an agent API
request) get the same body shape, with pydantic's error list added under ``errors``; so do the
HTTP errors of the routing itself (404, 405) and the refusals of the request limits
(:mod:`sim.gateway.limits`: 408, 413). One model, :class:`~sim.gateway.schemas.ErrorBody`,
describes them all in the OpenAPI schema: each route lists the statuses it can answer with
:func:`error_responses`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .schemas import ErrorBody

log = logging.getLogger("sim.gateway")

ERROR_MEANINGS: dict[int, str] = {
    400: "Malformed JSON, or a body that is not the expected shape.",
    401: "Credentials are missing: the platform's signature or secret token, the agent's token "
    "or the desk key, or the webchat session's secret.",
    403: "Wrong signature, secret or token, or another agent's conversation.",
    404: "No such channel, agent or conversation.",
    405: "The channel's protocol has no such method.",
    408: "The request body did not arrive within the body timeout.",
    409: "The conversation has ended, or the agent is not in a state that allows it.",
    413: "The request body is larger than the gateway accepts.",
    422: "A parameter or a field of the body is invalid; ``errors`` lists each problem.",
    503: "The outbox is full: retry after ``Retry-After`` seconds.",
}
"""What each refusal status means, as the OpenAPI schema documents it."""


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that can refuse with ``statuses``: each an
    :class:`~sim.gateway.schemas.ErrorBody` as JSON, with its meaning."""
    return {
        status: {"model": ErrorBody, "description": ERROR_MEANINGS[status]} for status in statuses
    }


class ApiError(Exception):
    """A refused request: HTTP status, a stable error code and a reason for people."""

    def __init__(
        self, status: int, error: str, detail: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers


def error_response(
    status: int, error: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def _describe(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        loc = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        parts.append(f"{loc}: {error.get('msg')}" if loc else str(error.get("msg")))
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Make :class:`ApiError`, HTTP errors and validation errors answer in the common shape."""

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        log.info(
            "request refused",
            extra={
                "fields": {
                    "path": request.url.path,
                    "status": exc.status,
                    "error": exc.error,
                    "detail": exc.detail,
                }
            },
        )
        return error_response(exc.status, exc.error, exc.detail, exc.headers)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        json_bad = any(error.get("type") == "json_invalid" for error in errors)
        body = {
            "error": "malformed_json" if json_bad else "invalid_request",
            "detail": "request body is not valid JSON" if json_bad else _describe(errors),
            "errors": [
                {
                    "loc": [str(part) for part in error.get("loc", ())],
                    "msg": str(error.get("msg")),
                    "type": str(error.get("type")),
                }
                for error in errors
            ],
        }
        return JSONResponse(body, status_code=400 if json_bad else 422)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "detail": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
