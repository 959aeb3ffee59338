"""Logging: readable text by default, one JSON object per line on request, secrets never."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

#: What a secret looks like in a log line: credentials in URLs, and key=value pairs whose key
#: names a secret.
_SECRET_PATTERNS = (
    (re.compile(r"(?P<key>Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\g<key>***"),
    (re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@", re.I), r"\g<scheme>***@"),
    (
        re.compile(
            r"(?P<key>\b(?:password|passwd|pwd|secret|token|api[_-]?key|authorization)\b"
            r"[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\s\"',;&]+)",
            re.I,
        ),
        r"\g<key>***",
    ),
)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with URL credentials, ``password=...``-style values and the given literal
    secrets replaced by ``***``."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


class RedactingFilter(logging.Filter):
    """Scrubs every record before any handler formats it."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = redact(message, self.secrets)
        record.args = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("source", "job", "alert_id", "channel"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_text:
            out["error"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


def setup(level: str = "info", fmt: str = "text", secrets: tuple[str, ...] = ()) -> None:
    """Configure the root logger for a long-running command."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter(secrets))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # APScheduler logs every job run at INFO; only its warnings are news.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
    # The HTTP clients (aiohttp for crawling, httpx for webhooks) likewise.
    for name in ("aiohttp", "httpx"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
