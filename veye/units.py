"""Durations (``15m``, ``1h30m``) and sizes (``15MB``) as written in config and on the CLI."""

from __future__ import annotations

import re

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.IGNORECASE)
_SIZE_BYTES = {
    "b": 1,
    "kb": 10**3,
    "kib": 2**10,
    "mb": 10**6,
    "mib": 2**20,
    "gb": 10**9,
    "gib": 2**30,
}


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``value``: a number of seconds, or ``30s``, ``15m``, ``1h30m``, ``2d``."""
    if isinstance(value, bool):
        raise ValueError("a duration like 30s, 15m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        else:
            parts = _DURATION.findall(text)
            if not parts or "".join(n + u for n, u in parts).lower() != text.lower():
                raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 15m, 1h or 1h30m")
            seconds = sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts)
    if seconds <= 0:
        raise ValueError("a duration must be more than zero")
    return seconds


def parse_size(value: str | int) -> int:
    """Bytes in ``value``: a number, or ``512KB``, ``15MB``, ``1GiB``."""
    if isinstance(value, bool):
        raise ValueError("a size like 15MB")
    if isinstance(value, int):
        size = value
    else:
        m = _SIZE.match(value)
        if not m:
            raise ValueError(f"{value!r} is not a size; write e.g. 512KB or 15MB")
        size = int(float(m.group(1)) * _SIZE_BYTES[(m.group(2) or "b").lower()])
    if size <= 0:
        raise ValueError("a size must be more than zero")
    return size


def format_duration(seconds: float) -> str:
    """``90`` → ``1m30s``; the inverse of :func:`parse_duration` for whole seconds."""
    seconds = round(seconds)
    out = []
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= span:
            out.append(f"{seconds // span}{unit}")
            seconds %= span
    return "".join(out) or "0s"
