"""The email channel against real SMTP servers on 127.0.0.1 (aiosmtpd): plain, STARTTLS and
implicit TLS with a certificate made in the test, AUTH, server refusals, and hostile titles
that try to add headers or HTML."""

from __future__ import annotations

import socket
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.channels.base import Message, OutgoingAlert, RefusedError, RetryLaterError
from alerts.channels.email import EmailChannel, EmailSettings
from alerts.channels.render import Templates, headline, one_line, sample_message
from alerts.errors import AlertsError
from tests.helpers_delivery import (
    NOW,
    PRISON_VERDICT,
    make_certificate,
    server_context,
    smtp_server,
)

EXPECTED_HEADLINE = "Prison break · Mirebalais (Centre) · Viv Ansanm · 500+ inmates freed"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def settings(port: int, **kw: Any) -> EmailSettings:
    base: dict[str, Any] = {
        "name": "desk",
        "host": "127.0.0.1",
        "port": port,
        "sender": "veye@example.org",
        "to": ("desk@example.org", "chief@example.org"),
        "security": "none",
        "timeout": 5.0,
    }
    base.update(kw)
    return EmailSettings(**base)


def alert(title: str = "Évasion à la prison civile de Mirebalais", **item: Any) -> Message:
    payload = {
        "cluster": {
            "id": 7,
            "title": title,
            "categories": ["prison_break"],
            "outlets": [
                {"source": "lenouvelliste", "url": "https://lenouvelliste.example/a"},
                {"source": "haitilibre", "url": "https://haitilibre.example/b"},
                {"source": "alterpresse", "url": "https://alterpresse.example/c"},
            ],
        },
        "item": {
            "source": "lenouvelliste",
            "url": "https://lenouvelliste.example/a",
            "title": title,
            "excerpt": "Plus de 500 détenus se sont évadés.",
            **item,
        },
        "verdict": PRISON_VERDICT,
    }
    return Message(
        "0b3c5a4e-1111-2222-3333-444455556666",
        "alert.new",
        (OutgoingAlert("alert.new", payload, NOW),),
    )


def test_the_headline_reads_from_the_verdict() -> None:
    assert headline(alert().alerts[0].payload) == EXPECTED_HEADLINE
    bare = {"cluster": {"title": "Une attaque", "categories": ["gang_attack"]}, "verdict": None}
    assert headline(bare) == "Gang attack · Une attaque"
    killed = {
        "cluster": {"categories": ["gang_attack"]},
        "verdict": {
            "entities": [{"kind": "place", "name": "Port-au-Prince", "department": "Ouest"}],
            "figures": [
                {"kind": "kidnapped", "value": 4, "at_least": False},
                {"kind": "killed", "value": 12, "at_least": False},
            ],
        },
    }
    assert headline(killed) == "Gang attack · Port-au-Prince (Ouest) · 12 killed · 4 kidnapped"


def test_an_alert_arrives_with_text_and_html_parts() -> None:
    with smtp_server() as (box, port):
        result = EmailChannel(settings(port), clock=lambda: NOW).send(alert())
    assert result.status == 250
    assert result.reply == "2.0.0 Ok: queued as TEST"
    ((sender, rcpts, _),) = box.messages
    assert sender == "veye@example.org"
    assert rcpts == ["desk@example.org", "chief@example.org"]
    msg = box.parsed()
    assert msg["Subject"] == f"[veye] {EXPECTED_HEADLINE}"
    assert msg["Message-ID"] == "<0b3c5a4e-1111-2222-3333-444455556666@example.org>"
    assert msg["X-Veye-Delivery"] == "0b3c5a4e-1111-2222-3333-444455556666"
    assert msg["Auto-Submitted"] == "auto-generated"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[:5] == [
        EXPECTED_HEADLINE,
        "Évasion à la prison civile de Mirebalais",
        "Reported by lenouvelliste; also reported by 2 outlets: haitilibre, alterpresse",
        "https://lenouvelliste.example/a",
        "Plus de 500 détenus se sont évadés.",
    ]
    assert (
        '<a href="https://lenouvelliste.example/a">Évasion à la prison civile de Mirebalais</a>'
        in html
    )


def test_an_update_threads_under_its_first_alert() -> None:
    first = "9d8c7b6a-0000-0000-0000-000000000001"
    base = alert()
    payload = {
        **base.alerts[0].payload,
        "update": {"follows": first, "outlets_before": 2, "new_outlets": ["alterpresse"]},
    }
    update = Message("u-1", "alert.update", (OutgoingAlert("alert.update", payload, NOW),))
    with smtp_server() as (box, port):
        EmailChannel(settings(port)).send(update)
    msg = box.parsed()
    assert msg["Subject"] == f"[veye] Update: {EXPECTED_HEADLINE} · 3 outlets"
    assert msg["In-Reply-To"] == f"<{first}@example.org>"
    assert "New: alterpresse" in msg.get_body(("plain",)).get_content()


HOSTILE_TITLES = [
    "Évasion\r\nBcc: victim@example.org",
    "Évasion\nX-Injected: yes",
    "Évasion\rX-Injected: yes",
    "=?utf-8?q?=C3=89vasion=0D=0ABcc:_victim@example.org?=",
    "=?utf-8?b?w4l2YXNpb24NCkJjYzogdmljdGltQGV4YW1wbGUub3Jn?=",
    "Évasion\u2028Bcc: victim@example.org",
    "Évasion\u2029X-Injected: yes",
    "Évasion\x85Bcc: victim@example.org",
    "Évasion\x0bX-Injected: yes\x0c",
    "Évasion\u202eyes :detcejnI-X",
]


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_no_feed_title_can_add_a_header(title: str) -> None:
    hostile = alert(title)
    payload = {**hostile.alerts[0].payload, "verdict": None}  # the title is in the subject
    message = Message(hostile.delivery_id, "alert.new", (OutgoingAlert("alert.new", payload, NOW),))
    with smtp_server() as (box, port):
        EmailChannel(settings(port)).send(message)
    ((_, rcpts, raw),) = box.messages
    assert rcpts == ["desk@example.org", "chief@example.org"]
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    names = [line.split(":", 1)[0].lower() for line in head.split("\r\n") if line[:1] not in " \t"]
    assert sorted(names) == sorted(
        [
            "subject",
            "from",
            "to",
            "date",
            "message-id",
            "x-veye-delivery",
            "x-veye-event",
            "auto-submitted",
            "content-type",
            "mime-version",
        ]
    )
    msg = box.parsed()
    subject = str(msg["Subject"])
    assert subject.startswith("[veye] Prison break · Évasion")
    assert not any(c in subject for c in "\r\n\x0b\x0c\x85\u2028\u2029\u202e")
    assert "=?" not in subject.replace("= ?", "")
    assert msg["Bcc"] is None
    assert msg["X-Injected"] is None
    text = msg.get_body(("plain",)).get_content()
    assert not any(line.startswith(("Bcc:", "X-Injected:")) for line in text.splitlines())


def test_one_line_neutralises_every_line_break_and_encoded_word() -> None:
    assert one_line("a\r\nb\u2028c\x85d\te") == "a b c d e"
    assert one_line("=?utf-8?q?Hello=0ABcc:_x?=") == "Hello Bcc: x"
    assert one_line("=?bogus-charset?q?x=0Ay?=") == "= ?bogus-charset?q?x=0Ay?="
    assert one_line("x" * 500, limit=10) == "x" * 9 + "…"


def test_feed_html_is_escaped_and_only_http_links_are_kept() -> None:
    message = alert(
        '<script>alert("t")</script> Évasion',
        url="javascript:alert(1)",
        excerpt='<img src=x onerror="alert(2)"> & <b>gras</b>',
    )
    with smtp_server() as (box, port):
        EmailChannel(settings(port)).send(message)
    html = box.parsed().get_body(("html",)).get_content()
    assert "<script" not in html
    assert "<img" not in html
    assert "<b>gras" not in html
    assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt; Évasion" in html
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt; &amp; &lt;b&gt;gras&lt;/b&gt;" in html
    assert "javascript:" not in html
    assert "href" not in html


def test_starttls_with_a_trusted_certificate_and_auth(cert: tuple[Path, Path]) -> None:
    ctx = server_context(*cert)
    with smtp_server(starttls=ctx, auth=("veye", "pw")) as (box, port):
        s = settings(
            port, security="starttls", username="veye", password="pw", ca_file=str(cert[0])
        )
        assert EmailChannel(s).send(alert()).status == 250
    assert len(box.messages) == 1


def test_starttls_checks_the_certificate_by_default(cert: tuple[Path, Path]) -> None:
    with (
        smtp_server(starttls=server_context(*cert)) as (box, port),
        pytest.raises(RetryLaterError, match="certificate check failed"),
    ):
        EmailChannel(settings(port, security="starttls")).send(alert())
    assert box.messages == []


def test_implicit_tls(cert: tuple[Path, Path]) -> None:
    with smtp_server(implicit_tls=server_context(*cert)) as (box, port):
        s = settings(port, security="tls", ca_file=str(cert[0]))
        assert EmailChannel(s).send(alert()).status == 250
    assert len(box.messages) == 1


def test_no_fallback_to_clear_text_when_starttls_is_missing() -> None:
    with smtp_server(auth=("veye", "pw")) as (box, port):
        s = settings(port, security="starttls", username="veye", password="pw")
        with pytest.raises(RefusedError, match="does not offer STARTTLS"):
            EmailChannel(s).send(alert())
    assert box.messages == []


def test_auth_in_clear_only_to_a_loopback_server() -> None:
    with smtp_server(auth=("veye", "pw"), auth_require_tls=False) as (box, port):
        EmailChannel(settings(port, username="veye", password="pw")).send(alert())
        with pytest.raises(RefusedError, match="535"):
            EmailChannel(settings(port, username="veye", password="wrong")).send(alert())
    assert len(box.messages) == 1
    with pytest.raises(AlertsError, match="only allowed to a loopback server"):
        EmailChannel(settings(25, host="smtp.example.org"))


@pytest.mark.parametrize(
    ("reply", "error"),
    [("451 4.3.0 Try again later", RetryLaterError), ("554 5.7.1 Rejected as spam", RefusedError)],
)
def test_server_replies_decide_retry_or_failure(reply: str, error: type[Exception]) -> None:
    with smtp_server() as (box, port):
        box.reply = reply
        with pytest.raises(error, match=reply.split(" ", 1)[1]) as err:
            EmailChannel(settings(port)).send(alert())
    assert getattr(err.value, "status", None) == int(reply[:3])


def test_an_unreachable_server_is_retried() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RetryLaterError, match="cannot reach the server"):
        EmailChannel(settings(port, timeout=1.0)).send(alert())


def test_templates_can_be_overridden_by_a_folder(tmp_path: Path) -> None:
    (tmp_path / "subject.txt").write_text("ALERTE {{ alerts[0].headline }}\nBcc: x@example.org")
    with smtp_server() as (box, port):
        EmailChannel(settings(port), Templates(tmp_path)).send(sample_message("d"))
    subject = str(box.parsed()["Subject"])
    # Even a template's own newline cannot start a header.
    assert subject == f"ALERTE {EXPECTED_HEADLINE} Bcc: x@example.org"
    assert box.parsed()["Bcc"] is None
    (tmp_path / "email.txt").write_text("{% for a in alerts %}{{ a.nope }")
    with pytest.raises(AlertsError, match=r"email\.txt"):
        Templates(tmp_path)


def test_a_digest_lists_every_alert() -> None:
    one, two = alert("Évasion à Mirebalais"), alert("Attaque à Mirebalais")
    digest = Message.of("dg-1", (one.alerts[0], two.alerts[0]), digest=True)
    with smtp_server() as (box, port):
        EmailChannel(settings(port)).send(digest)
    msg = box.parsed()
    assert msg["Subject"] == f"[veye] 2 alerts: {EXPECTED_HEADLINE} and more"
    text = msg.get_body(("plain",)).get_content()
    assert "1. " + EXPECTED_HEADLINE in text
    assert "2. " + EXPECTED_HEADLINE in text
    assert "Évasion à Mirebalais" in text
    assert "Attaque à Mirebalais" in text


@given(st.text(max_size=200))
def test_any_title_stays_on_one_line_and_adds_no_header(title: str) -> None:
    line = one_line(title)
    assert not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in line)
    message = alert(title)
    payload = {**message.alerts[0].payload, "verdict": None}
    msg = EmailChannel(settings(25)).compose(
        Message("d", "alert.new", (OutgoingAlert("alert.new", payload, NOW),))
    )
    head = msg.as_bytes().split(b"\r\n\r\n", 1)[0].decode("ascii")
    names = {line.split(":", 1)[0] for line in head.split("\r\n") if line[:1] not in " \t"}
    assert names == {
        "Subject",
        "From",
        "To",
        "Date",
        "Message-ID",
        "X-Veye-Delivery",
        "X-Veye-Event",
        "Auto-Submitted",
        "Content-Type",
        "MIME-Version",
    }
