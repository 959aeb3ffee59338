"""Operator alerts: tell a channel when a source starts failing or goes quiet, and when it
recovers, once per change, not on every check."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from alerts.channels.base import Channel, Message, OutgoingAlert
from alerts.errors import DeliveryError
from veye.app import App
from veye.health import SourceHealth, check
from veye.output import local_time

log = logging.getLogger("veye.operator")

#: The event of an operator message (webhook ``"event"``); never an ``alert.*`` event, so a
#: receiver cannot mistake it for news.
EVENT = "operator.source"
#: Source states worth telling an operator about.
TROUBLE = ("failing", "stale")


def watch(app: App, now: datetime) -> int:
    """Check every source; send one message per source whose state changed into or out of
    trouble since the last message. Returns how many were sent. A channel that refuses is
    logged and the change is tried again on the next check."""
    name = app.settings.alerts.operator_channel
    if name is None:
        return 0
    channel = app.channels.get(name)
    if channel is None:  # disabled
        return 0
    sent = 0
    for source in check(app.settings, app.store, now).sources:
        key = f"operator:{source.name}"
        told = app.store.get_runtime(key)
        before = str(told[0]) if told else "ok"
        now_state = source.state if source.state in TROUBLE else "ok"
        if now_state == before or source.state in ("never polled", "disabled"):
            continue
        if _send(channel, source, now_state, before, now):
            app.store.put_runtime(key, now_state, now=now)
            sent += 1
    return sent


def _send(channel: Channel, source: SourceHealth, state: str, before: str, now: datetime) -> bool:
    rec = source.record
    if state == "failing" and rec is not None:
        title = f"Source {source.name} is failing"
        detail = (
            f"Failing since {local_time(rec.failing_since)} "
            f"({rec.error_count} errors in a row): {rec.last_error}"
        )
    elif state == "stale" and rec is not None:
        title = f"Source {source.name} has gone quiet"
        detail = (
            f"Nothing new since {local_time(rec.last_new_at or rec.last_success_at)}; "
            "its feed may have moved: try `veye sources check`."
        )
    else:
        title = f"Source {source.name} has recovered"
        detail = f"It was {before}; its last poll succeeded."
    payload: dict[str, Any] = {
        "cluster": {
            "id": 0,
            "title": title,
            "categories": ["source_health"],
            "outlets": [],
            "items": 0,
            "created_at": now.isoformat(),
            "updated_at": now.isoformat(),
        },
        "item": {
            "id": 0,
            "source": source.name,
            "url": rec.url if rec else "",
            "title": title,
            "excerpt": detail,
            "language": None,
            "published_at": None,
            "first_seen_at": now.isoformat(),
        },
        "verdict": {
            "alert": False,
            "categories": ["source_health"],
            "score": 0.0,
            "entities": [],
            "evidence": [],
            "figures": [],
        },
    }
    message = Message(str(uuid.uuid4()), EVENT, (OutgoingAlert(EVENT, payload, now),))
    try:
        channel.send(message)
    except DeliveryError as e:
        log.warning("operator alert for %s not delivered to %s: %s", source.name, channel.name, e)
        return False
    log.info("operator alert sent: %s", title)
    return True
