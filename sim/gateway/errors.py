"""Client errors: every refusal is a 4xx with ``{"error": code, "detail": reason}``.

An overloaded part answers the same way with a 503 and ``Retry-After`` (a full outbox).
Service code raises :class:`ApiError` *before* it changes anything, so a refused request leaves
the gateway as it was. FastAPI's own validation errors (bad JSON or shape of an agent API
request) get the same body shape, with pydantic's error list added under ``errors``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("sim.gateway")


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
