"""What an alert says: the headline built from the verdict, feed text made safe for one-line
fields, and the jinja2 templates (packaged in ``alerts/templates``, overridable per file by a
folder of the user's).

Everything here treats feed text as hostile: titles become one line with no control or line
separator characters and no MIME encoded-words left to decode, so no feed can add a header;
HTML templates autoescape; links are kept only when they are http(s)."""

from __future__ import annotations

import binascii
import email.errors
import email.header
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2

from alerts.channels.base import Message, OutgoingAlert
from alerts.errors import AlertsError

__all__ = [
    "TEMPLATE_NAMES",
    "Templates",
    "alert_context",
    "headline",
    "one_line",
    "plain_text",
    "safe_url",
    "sample_message",
]

#: The templates a folder given as ``alerts.templates`` may override (any subset).
TEMPLATE_NAMES = ("subject.txt", "email.txt", "email.html", "slack.txt")

#: An RFC 2047 encoded-word, which a mail reader would decode (newlines included).
_ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bBqQ]\?[^?\s]*\?=")
#: Bidirectional overrides can make a title read differently from what it is.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_FIGURE_LABELS = {
    "freed": "inmates freed",
    "killed": "killed",
    "kidnapped": "kidnapped",
    "injured": "injured",
}
_FIGURE_ORDER = ("freed", "killed", "kidnapped", "injured")


def one_line(text: object, limit: int = 300) -> str:
    """``text`` as one safe line: encoded-words decoded (so what they hide is seen and
    neutralised), every control, line or paragraph separator (``\\r``, ``\\n``, U+0085,
    U+2028, U+2029, ...) and bidi override turned into a space, whitespace folded, and any
    encoded-word left broken so nothing downstream decodes it."""
    s = "" if text is None else str(text)
    for _ in range(3):  # encoded-words may hide more encoded-words
        if not _ENCODED_WORD.search(s):
            break
        s = _ENCODED_WORD.sub(lambda m: _decode_words(m.group(0)), s)
    s = "".join(" " if _unsafe(ch) else ch for ch in s)
    s = " ".join(s.split())
    s = _ENCODED_WORD.sub(lambda m: m.group(0).replace("=?", "= ?"), s)
    if len(s) > limit:
        s = s[: limit - 1].rstrip() + "…"
    return s


def plain_text(text: object, limit: int = 2000) -> str:
    """Multi-line feed text for a message body: line breaks kept (as ``\\n``), other control
    characters dropped."""
    s = "" if text is None else str(text)
    s = re.sub(r"\r\n?|[\x85\u2028\u2029]", "\n", s)
    s = "".join(" " if (_unsafe(ch) and ch != "\n") else ch for ch in s)
    s = "\n".join(" ".join(line.split()) for line in s.split("\n")).strip()
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def _unsafe(ch: str) -> bool:
    return ch in _BIDI or unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cs")


def _decode_words(s: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(s)))
    except (LookupError, UnicodeError, binascii.Error, email.errors.HeaderParseError):
        return s


def safe_url(url: object) -> str:
    """``url`` if it is an http(s) link on one line, else ``""``: a feed's ``javascript:`` link
    never becomes an ``href``."""
    s = one_line(url, limit=2000)
    try:
        parts = urlsplit(s)
    except ValueError:
        return ""
    return s if parts.scheme in ("http", "https") and parts.netloc and " " not in s else ""


def category_label(name: str) -> str:
    """``prison_break`` → ``Prison break``."""
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def headline(payload: Mapping[str, Any]) -> str:
    """What happened, where, who, how many, e.g.
    ``Prison break · Mirebalais (Centre) · Viv Ansanm · 500+ inmates freed``; where the verdict
    names no place, gang or figure, the title stands in for them."""
    verdict = payload.get("verdict") or {}
    cluster = payload.get("cluster") or {}
    cats = list(cluster.get("categories") or verdict.get("categories") or ())
    parts = [" / ".join(category_label(str(c)) for c in cats)] if cats else []
    entities = [e for e in verdict.get("entities") or () if isinstance(e, Mapping)]
    place = _first(entities, "place") or _first(entities, "prison")
    if place:
        name, dept = str(place.get("name") or ""), place.get("department")
        parts.append(f"{name} ({dept})" if dept and dept != name else name)
    gang = _first(entities, "gang")
    if gang:
        parts.append(str(gang.get("name") or ""))
    figures = [f for f in verdict.get("figures") or () if isinstance(f, Mapping)]
    shown = 0
    for kind in _FIGURE_ORDER:
        fig = next((f for f in figures if f.get("kind") == kind), None)
        if fig and shown < 2:
            plus = "+" if fig.get("at_least") else ""
            parts.append(f"{fig.get('value')}{plus} {_FIGURE_LABELS[kind]}")
            shown += 1
    if len(parts) <= 1:
        # Only a category (or nothing): the title says more.
        item = payload.get("item") or {}
        parts.append(str(item.get("title") or cluster.get("title") or "veye alert"))
    return one_line(" · ".join(p for p in parts if p))


def _first(entities: Sequence[Mapping[str, Any]], kind: str) -> Mapping[str, Any] | None:
    return next((e for e in entities if e.get("kind") == kind and e.get("name")), None)


def alert_context(alert: OutgoingAlert) -> dict[str, Any]:
    """What templates see of one alert: everything from the feed already made safe."""
    p = alert.payload
    cluster = p.get("cluster") or {}
    item = p.get("item") or {}
    update = p.get("update") or {}
    outlets = [one_line(o.get("source"), 100) for o in cluster.get("outlets") or ()]
    source = one_line(item.get("source"), 100) or (outlets[0] if outlets else "")
    others = [o for o in outlets if o != source]
    return {
        "event": alert.event,
        "is_update": alert.event == "alert.update",
        "headline": headline(p),
        "title": one_line(item.get("title") or cluster.get("title")),
        "url": safe_url(item.get("url")),
        "source": source,
        "outlets": outlets,
        "other_outlets": others,
        "new_outlets": [one_line(o, 100) for o in update.get("new_outlets") or ()],
        "excerpt": plain_text(item.get("excerpt")),
        "categories": [category_label(str(c)) for c in cluster.get("categories") or ()],
        "published_at": item.get("published_at"),
        "cluster_id": cluster.get("id"),
    }


class Templates:
    """The message templates: a user's folder first (any subset of :data:`TEMPLATE_NAMES`),
    then the packaged ones. HTML templates autoescape; text ones get pre-sanitised values."""

    def __init__(self, folder: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if folder is not None:
            if not folder.is_dir():
                raise AlertsError(f"templates folder {folder} does not exist")
            loaders.append(jinja2.FileSystemLoader(str(folder)))
        loaders.append(jinja2.PackageLoader("alerts", "templates"))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html",), default_for_string=False, default=False
            ),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["slack"] = _slack_escape
        for name in TEMPLATE_NAMES:
            try:
                self.env.get_template(name)
            except jinja2.TemplateError as e:
                raise AlertsError(f"template {name}: {_template_problem(e)}") from e

    def render(self, name: str, message: Message) -> str:
        """Render ``name`` for ``message``; a broken template is an :class:`AlertsError`."""
        try:
            return self.env.get_template(name).render(
                message={
                    "delivery_id": message.delivery_id,
                    "event": message.event,
                    "is_digest": message.is_digest,
                },
                alerts=[alert_context(a) for a in message.alerts],
            )
        except jinja2.TemplateError as e:
            raise AlertsError(f"template {name}: {_template_problem(e)}") from e


def _template_problem(e: jinja2.TemplateError) -> str:
    line = getattr(e, "lineno", None)
    return f"line {line}: {e.message}" if line else str(e.message)


def _slack_escape(value: object) -> str:
    """Slack's mrkdwn needs only ``&``, ``<`` and ``>`` escaped; ``|`` would end a link's text."""
    return (
        str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "¦")
    )


def sample_message(delivery_id: str, now: datetime | None = None) -> Message:
    """A made-up alert for ``veye alerts test``: clearly a test, shaped like the real thing."""
    when = (now or datetime.now(UTC)).astimezone(UTC).isoformat()
    payload = {
        "cluster": {
            "id": 0,
            "title": "[TEST] Évasion à la prison civile de Mirebalais",
            "categories": ["prison_break"],
            "outlets": [
                {
                    "source": "veye-test",
                    "url": "https://example.org/veye-test",
                    "first_seen_at": when,
                }
            ],
            "items": 1,
            "created_at": when,
            "updated_at": when,
        },
        "item": {
            "id": 0,
            "source": "veye-test",
            "url": "https://example.org/veye-test",
            "title": "[TEST] Évasion à la prison civile de Mirebalais",
            "excerpt": "This is a test message from veye: your channel works.",
            "language": "fr",
            "published_at": when,
            "first_seen_at": when,
        },
        "verdict": {
            "alert": True,
            "categories": ["prison_break"],
            "score": 1.0,
            "entities": [
                {"kind": "place", "name": "Mirebalais", "department": "Centre"},
                {"kind": "gang", "name": "Viv Ansanm", "department": None},
            ],
            "evidence": [],
            "figures": [{"kind": "freed", "value": 500, "at_least": True}],
        },
    }
    created = datetime.fromisoformat(when)
    return Message(delivery_id, "alert.new", (OutgoingAlert("alert.new", payload, created),))
