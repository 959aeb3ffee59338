"""Alerts through the real ``veye`` command: a crawl delivers by email and webhook to local
servers, a second outlet owes an update (never a second alert), and ``veye alerts``
list/show/retry/test; plus the alert settings' validation."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alerts.dispatch import Dispatcher
from alerts.routing import ChannelPolicy, Planner
from alerts.routing import Route as AlertRoute
from storage.records import ClusterChange
from tests.conftest import feed_bytes, run_veye, write_config
from tests.helpers_delivery import (
    Answer,
    Mailbox,
    Receiver,
    open_store,
    receiving,
    seed_cluster,
    smtp_server,
)
from tests.localserver import LocalServer, Route
from veye.config import parse_settings
from veye.errors import ConfigError

SECRET = "0123456789abcdef-test"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as s:
        yield s


def alert_config(
    tmp_path: Path,
    sources: list[dict[str, object]],
    receiver: Receiver,
    smtp_port: int,
    **route: Any,
) -> Path:
    return write_config(
        tmp_path,
        sources,
        crawl={"timeout": "3s", "concurrency": 8, "full_text": False},
        alerts={
            "channels": [
                {
                    "name": "desk",
                    "type": "email",
                    "host": "127.0.0.1",
                    "port": smtp_port,
                    "security": "none",
                    "from": "veye@example.org",
                    "to": ["desk@example.org"],
                },
                {"name": "ops", "type": "webhook", "url": receiver.url, "secret": SECRET},
                {
                    "name": "off",
                    "type": "webhook",
                    "enabled": False,
                    "url": "https://hooks.example.org/x",
                    "secret": "${NOT_SET_ANYWHERE}",
                },
            ],
            "routes": [
                {
                    "categories": ["prison_break", "gang_attack"],
                    "channels": ["desk", "ops", "off"],
                    **route,
                }
            ],
        },
    )


def webhook_events(receiver: Receiver) -> list[dict[str, Any]]:
    return [r.json() for r in receiver.received if r.status == 200]


def test_a_crawl_delivers_one_alert_and_a_new_outlet_owes_one_update(
    server: LocalServer,
    tmp_path: Path,
    receiver: Receiver,
    smtp: tuple[Mailbox, int],
) -> None:
    box, port = smtp
    server.add("/nouvelles", Route(feed_bytes("rss20.xml")))
    # Another outlet carries the same story, under the same link.
    server.add("/autre", Route(feed_bytes("rss20.xml").replace(b"Nouvelles de test", b"Autre")))
    first = [{"name": "nouvelles", "url": server.url("/nouvelles"), "language": "fr"}]
    config = alert_config(tmp_path, first, receiver, port, follow_up="every")

    result = run_veye("crawl", config=config)
    assert result.returncode == 0, result.stderr
    assert "alerts: 2 sent" in result.stdout
    (new,) = webhook_events(receiver)
    assert new["event"] == "alert.new"
    assert new["headline"].startswith("Prison break · Mirebalais (Centre)")
    assert "500+ inmates freed" in new["headline"]
    assert new["item"]["title"].startswith("Évasion à la prison civile de Mirebalais")
    assert [o["source"] for o in new["cluster"]["outlets"]] == ["nouvelles"]
    (mail,) = box.messages
    assert mail[1] == ["desk@example.org"]
    subject = box.parsed(0)["Subject"]
    assert subject.startswith("[veye] Prison break · Mirebalais (Centre)")

    # The same crawl again owes nothing.
    assert run_veye("crawl", config=config).returncode == 0
    assert len(webhook_events(receiver)) == 1
    assert len(box.messages) == 1

    both = [*first, {"name": "autre", "url": server.url("/autre"), "language": "fr"}]
    config = alert_config(tmp_path, both, receiver, port, follow_up="every")
    result = run_veye("crawl", config=config)
    assert result.returncode == 0, result.stderr
    events = webhook_events(receiver)
    assert [e["event"] for e in events] == ["alert.new", "alert.update"]
    update = events[1]
    assert update["cluster"]["id"] == new["cluster"]["id"]
    assert update["update"]["follows"] == new["delivery_id"]
    assert update["update"]["new_outlets"] == ["autre"]
    assert len(box.messages) == 2
    assert box.parsed(1)["Subject"].startswith("[veye] Update: Prison break")
    assert box.parsed(1)["In-Reply-To"] == box.parsed(0)["Message-ID"]

    listed = run_veye("alerts", "list", "--format", "json", config=config)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert sorted((r["event"], r["channel"], r["state"]) for r in rows) == [
        ("alert.new", "desk", "sent"),
        ("alert.new", "ops", "sent"),
        ("alert.update", "desk", "sent"),
        ("alert.update", "ops", "sent"),
    ]
    assert not any(r["channel"] == "off" for r in rows)


def test_no_deliver_leaves_alerts_owed(
    server: LocalServer, tmp_path: Path, receiver: Receiver, smtp: tuple[Mailbox, int]
) -> None:
    server.add("/nouvelles", Route(feed_bytes("rss20.xml")))
    sources = [{"name": "nouvelles", "url": server.url("/nouvelles"), "language": "fr"}]
    config = alert_config(tmp_path, sources, receiver, smtp[1])
    assert run_veye("crawl", "--no-deliver", config=config).returncode == 0
    assert receiver.received == []
    assert smtp[0].messages == []
    listed = run_veye("alerts", "list", "--pending", config=config)
    assert listed.returncode == 0
    assert listed.stdout.count("pending") == 2


def owe_now(config: Path) -> int:
    """One alert owed to ``ops`` now, in the config's database; returns its id."""
    store = open_store(config.parent)
    try:
        c, a = seed_cluster(store)
        planner = Planner(
            [AlertRoute("r", frozenset({"prison_break"}), ("ops",))], [ChannelPolicy("ops")]
        )
        change = ClusterChange(c, a, "new", True, ("prison_break",), 1, became_alert=True)
        with store.transaction() as conn:
            planner.enqueue(conn, [change], now=dt.datetime.now(dt.UTC))
        return c
    finally:
        store.close()


def test_list_show_and_retry_a_failed_alert(
    tmp_path: Path, receiver: Receiver, smtp: tuple[Mailbox, int]
) -> None:
    from alerts.channels.webhook import WebhookChannel, WebhookSettings

    config = alert_config(tmp_path, [], receiver, smtp[1])
    owe_now(config)
    receiver.answer(Answer(422, b"schema mismatch: cluster"))
    store = open_store(tmp_path)
    hook = WebhookChannel(WebhookSettings("ops", receiver.url, secret=SECRET))
    try:
        Dispatcher(store.engine, {"ops": hook}).run_once()
    finally:
        hook.close()
        store.close()

    failed = run_veye("alerts", "list", "--failed", config=config)
    assert failed.returncode == 0, failed.stderr
    assert "failed" in failed.stdout
    assert "HTTP 422" in failed.stdout
    (row,) = [
        json.loads(line)
        for line in run_veye(
            "alerts", "list", "--format", "json", config=config
        ).stdout.splitlines()
    ]
    shown = run_veye("alerts", "show", str(row["id"]), config=config)
    assert shown.returncode == 0, shown.stderr
    assert "schema mismatch: cluster" in shown.stdout
    assert "422" in shown.stdout
    assert row["delivery_id"] in shown.stdout

    retried = run_veye("alerts", "retry", "--all-failed", config=config)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "Queued 1 alert again" in retried.stdout
    assert f"{row['id']} ops: sent" in retried.stdout
    # The retry carried the same delivery id as the refused attempt.
    assert [r.headers["X-Veye-Delivery"] for r in receiver.received] == [row["delivery_id"]] * 2
    show = json.loads(
        run_veye("alerts", "show", str(row["id"]), "--format", "json", config=config).stdout
    )
    assert [a["outcome"] for a in show["attempts"]] == ["failed", "sent"]

    missing = run_veye("alerts", "show", "999", config=config)
    assert missing.returncode == 2
    assert "no alert with id 999" in missing.stderr
    nothing = run_veye("alerts", "retry", config=config)
    assert nothing.returncode == 2
    assert "--all-failed" in nothing.stderr


def test_alerts_test_reports_what_each_server_answered(
    tmp_path: Path, receiver: Receiver, smtp: tuple[Mailbox, int]
) -> None:
    config = alert_config(tmp_path, [], receiver, smtp[1])
    ok = run_veye("alerts", "test", "ops", config=config)
    assert ok.returncode == 0, ok.stderr
    assert "ops: accepted" in ok.stdout
    assert "answered: 200 ok" in ok.stdout
    assert receiver.received[-1].json()["item"]["title"].startswith("[TEST]")

    receiver.answer(Answer(403, b"invalid signature"))
    refused = run_veye("alerts", "test", "ops", config=config)
    assert refused.returncode == 1
    assert "refused" in refused.stdout
    assert "HTTP 403: invalid signature" in refused.stdout

    mail = run_veye("alerts", "test", "desk", config=config)
    assert mail.returncode == 0, mail.stderr
    assert "desk: accepted" in mail.stdout
    assert "250 2.0.0 Ok: queued as TEST" in mail.stdout
    assert smtp[0].parsed()["Subject"].startswith("[veye] Prison break")

    off = run_veye("alerts", "test", "off", config=config)
    assert off.returncode == 2
    assert "disabled" in off.stderr
    unknown = run_veye("alerts", "test", "nope", config=config)
    assert unknown.returncode == 2
    assert "no channel named 'nope'" in unknown.stderr


def test_every_alerts_command_has_help() -> None:
    from click.testing import CliRunner

    from veye.cli import cli

    runner = CliRunner()
    for args in (
        ["alerts"],
        ["alerts", "list"],
        ["alerts", "show"],
        ["alerts", "retry"],
        ["alerts", "test"],
        ["crawl"],
    ):
        result = runner.invoke(cli, [*args, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output
    assert "--no-deliver" in runner.invoke(cli, ["crawl", "--help"]).output


BASE = """\
alerts:
  channels:
    - name: desk
      type: email
      host: smtp.example.org
      from: veye@example.org
      to: [desk@example.org]
    - name: ops
      type: webhook
      url: https://hooks.example.org/veye
      secret: 0123456789abcdef0123
  routes:
    - categories: [prison_break]
      channels: [desk, ops]
"""


@pytest.mark.parametrize(
    ("old", "new", "path", "message"),
    [
        (
            "      channels: [desk, ops]",
            "      channels: [desk]\n      quiet_hours: 22h-6h",
            "alerts.routes[0].quiet_hours",
            "span of hours",
        ),
        (
            "      channels: [desk, ops]",
            "      channels: [desk]\n      follow_up: sometimes",
            "alerts.routes[0].follow_up",
            "never",
        ),
        (
            "      host: smtp.example.org",
            "      host: smtp.example.org\n      security: none",
            "alerts.channels[0]",
            "loopback",
        ),
        (
            "      secret: 0123456789abcdef0123",
            "      secret: 0123456789abcdef0123\n      secret_file: /run/secret",
            "alerts.channels[1]",
            "not both",
        ),
        (
            "      to: [desk@example.org]",
            "      to: ['desk@example.org\\nBcc: x@example.org']",
            "alerts.channels[0].to",
            "not an email address",
        ),
        (
            "      channels: [desk, ops]",
            "      channels: [desk]\n      max_per_hour: 3",
            "alerts.routes[0].max_per_hour",
            "unknown key",
        ),
        ("  routes:", "  timezone: Mars/Olympus\n  routes:", "alerts.timezone", "not a time zone"),
    ],
)
def test_alert_settings_errors_name_the_key(old: str, new: str, path: str, message: str) -> None:
    text = BASE.replace(old, new)
    assert text != BASE
    with pytest.raises(ConfigError) as err:
        parse_settings(text, origin="config.yaml")
    assert path in str(err.value)
    assert message in str(err.value)
    assert "line " in str(err.value)


def test_alert_settings_defaults() -> None:
    settings = parse_settings(BASE)
    a = settings.alerts
    assert a.timezone == "America/Port-au-Prince"
    assert a.retry.deadline == 24 * 3600
    assert a.route_names() == ["route-1"]
    route = a.routes[0]
    assert (route.mode, route.follow_up, route.corroboration) == ("immediate", "corroboration", 3)
    assert a.channels[0].verify_tls is True


def test_secrets_come_from_files_and_a_missing_one_names_its_key(tmp_path: Path) -> None:
    from veye.app import App

    (tmp_path / "hook-secret").write_text("from-a-file-0123456789\n")
    (tmp_path / "smtp-password").write_text("pw-from-file\n")
    text = (
        BASE.replace("secret: 0123456789abcdef0123", "secret_file: hook-secret")
        .replace(
            "      host: smtp.example.org", "      host: smtp.example.org\n      username: veye"
        )
        .replace(
            "      to: [desk@example.org]",
            "      to: [desk@example.org]\n      password_file: smtp-password",
        )
    )
    app = App(tmp_path / "config.yaml", parse_settings(text, base_dir=tmp_path))
    channels = app.channels
    assert channels["ops"].settings.secret == "from-a-file-0123456789"  # type: ignore[attr-defined]
    assert channels["desk"].settings.password == "pw-from-file"  # type: ignore[attr-defined]
    assert "pw-from-file" not in repr(channels["desk"].settings)  # type: ignore[attr-defined]
    app.close()
    (tmp_path / "hook-secret").unlink()
    broken = App(tmp_path / "config.yaml", parse_settings(text, base_dir=tmp_path))
    with pytest.raises(ConfigError, match=r"alerts\.channels\[1\]\.secret_file: cannot read"):
        _ = broken.channels
