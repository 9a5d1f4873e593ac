"""Structured logs: one JSON object per line, with secrets blanked out.

Log calls pass their data as ``extra={"fields": {...}}``. :class:`JsonFormatter` writes the
time, level, logger, message and those fields, then replaces every registered secret (tokens,
app secrets; see :func:`register_secrets`) by ``***``, so that even a URL that embeds a token
(Telegram's ``/bot{token}/``) cannot leak through a third-party logger.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

_secrets: set[str] = set()


def register_secrets(values: Iterable[str]) -> None:
    """Blank these values out of every line :class:`JsonFormatter` writes."""
    _secrets.update(value for value in values if len(value) >= 4)


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...fields, "exc"?}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(fields)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(data, ensure_ascii=False, default=str))


def configure_logging(level: str = "info") -> None:
    """JSON lines on stderr for the whole process (uvicorn's loggers included)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for name in ("httpx", "httpcore"):  # request lines would carry URLs with tokens
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
