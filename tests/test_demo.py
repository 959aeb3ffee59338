"""``veye demo``: the sample outlets, the sinks, and the whole run as a user starts it."""

from __future__ import annotations

import json
import os
import re
import smtplib
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from alerts.channels.webhook import sign as channel_sign
from crawler.article import extract_page
from crawler.feeds import parse_feed
from crawler.records import Source
from storage.search import SearchFilters, search
from veye.app import App
from veye.demo import (
    SampleSite,
    SmtpSink,
    WebhookSink,
    demo_environment,
    load_outlets,
    sign,
    verify_signature,
)
from veye.errors import UsageError

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def run_demo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``veye demo`` in a child process, its temporary files under ``cwd/tmp``."""
    (cwd / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "TMPDIR": str(cwd / "tmp")}
    env.pop("VEYE_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "veye", "demo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


# -- the sample data -------------------------------------------------------------------------


def test_sample_outlets_cover_languages_formats_and_summary_only_items() -> None:
    outlets = load_outlets("http://127.0.0.1:1", NOW)
    items = [i for o in outlets for i in o.items]
    assert 4 <= len(outlets) <= 5
    assert 20 <= len(items) <= 30
    assert {o.language for o in outlets} == {"fr", "ht", "en"}
    assert {o.format for o in outlets} == {"rss", "atom"}
    assert any(not i.full for i in items), "some items must need their page fetched"
    assert all(i.published < NOW for i in items)
    # One agency story carried word for word by three outlets, under different headlines.
    bodies = Counter(i.paragraphs for i in items)
    copies = [i for i in items if bodies[i.paragraphs] > 1]
    assert len(copies) == 3
    assert len({i.title for i in copies}) == 3


def test_served_feeds_parse_and_pages_carry_the_full_text() -> None:
    with SampleSite(NOW) as site:
        total = 0
        for outlet in site.outlets:
            body = httpx.get(outlet.feed).content
            parsed = parse_feed(Source(outlet.name, "feed", outlet.feed), body, url=outlet.feed)
            assert parsed.version == ("atom10" if outlet.format == "atom" else "rss20")
            assert not parsed.warnings
            assert len(parsed.articles) == len(outlet.items)
            total += len(parsed.articles)
            by_url = {a.url: a for a in parsed.articles}
            for item in outlet.items:
                article = by_url[item.url]
                assert article.title == item.title
                if not item.full:
                    assert len(article.text) < 600  # a summary: the crawler fetches the page
        assert total == sum(len(o.items) for o in site.outlets)

        item = next(i for o in site.outlets for i in o.items if not i.full)
        page = httpx.get(item.url)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        html = page.text
        assert "<nav" in html
        assert "<footer" in html
        extracted = extract_page(page.content, item.url)
        assert extracted is not None
        assert item.paragraphs[-1][:60] in extracted.text
        outlet = next(o for o in site.outlets if item in o.items)
        assert outlet.site["footer"] not in extracted.text
        assert site.article_pages_fetched() == 1
        assert httpx.get(site.base + "/nowhere").status_code == 404


# -- the sinks -------------------------------------------------------------------------------


def test_signature_check_accepts_veye_signed_requests_only() -> None:
    body = b'{"schema": 1}'
    ts = str(int(time.time()))
    good = {"X-Veye-Timestamp": ts, "X-Veye-Signature": channel_sign("s3cret", ts, body)}
    assert sign("s3cret", ts, body) == channel_sign("s3cret", ts, body)
    assert verify_signature("s3cret", good, body) is None
    rotated = {**good, "X-Veye-Signature": "v1=00, " + good["X-Veye-Signature"]}
    assert verify_signature("s3cret", rotated, body) is None
    assert "does not match" in str(verify_signature("other", good, body))
    assert "does not match" in str(verify_signature("s3cret", good, body + b" "))
    assert "no X-Veye-Signature" in str(verify_signature("s3cret", {}, body))
    assert "too old" in str(verify_signature("s3cret", good, body, now=int(ts) + 3600))


def test_webhook_sink_records_and_answers_by_signature() -> None:
    with WebhookSink("s3cret") as sink:
        body = b'{"headline": "x"}'
        ts = str(int(time.time()))
        ok = httpx.post(
            sink.url,
            content=body,
            headers={"X-Veye-Timestamp": ts, "X-Veye-Signature": sign("s3cret", ts, body)},
        )
        forged = httpx.post(
            sink.url,
            content=body,
            headers={"X-Veye-Timestamp": ts, "X-Veye-Signature": sign("guess", ts, body)},
        )
    assert ok.status_code == 200
    assert forged.status_code == 401
    assert [h.verified for h in sink.received] == [True, False]
    assert sink.received[0].body == body


def test_smtp_sink_keeps_what_it_is_sent() -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@localhost", "b@localhost", "Évasion"
    message.set_content("Mirebalais")
    with SmtpSink() as sink, smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as client:
        client.send_message(message)
    (got,) = sink.received
    assert got.rcpt_to == ("b@localhost",)
    assert got.message["Subject"] == "Évasion"
    assert got.message.get_content().strip() == "Mirebalais"


def test_keep_refuses_a_folder_that_holds_anything(tmp_path: Path) -> None:
    (tmp_path / "veye.db").write_bytes(b"precious")
    with pytest.raises(UsageError, match="not an empty folder"), demo_environment(tmp_path):
        pass
    assert (tmp_path / "veye.db").read_bytes() == b"precious"


# -- the whole run ---------------------------------------------------------------------------


def test_demo_runs_the_pipeline_delivers_and_leaves_nothing(tmp_path: Path) -> None:
    result = run_demo(tmp_path, "--no-interactive")
    out = result.stdout
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "25 items stored" in out
    assert "0 sources failed" in out
    assert re.search(r"[1-9]\d* article pages fetched", out), "summary-only items need pages"

    # The agency story and its copies and follow-ups are one flagged story.
    flagged = out.split("What the filter flagged", 1)[1].split("Alerts:", 1)[0]
    assert "Mirebalais" in flagged
    assert "prison_break" in flagged
    assert "Ecuador" not in flagged
    assert "Ransomware" not in flagged
    assert "Football" not in flagged

    # What the dispatcher sent is exactly what the sinks received, and every webhook's
    # signature checked out.
    sent = int(re.search(r"Dispatcher: (\d+) alerts sent, 0 to retry, 0 failed", out)[1])  # type: ignore[index]
    got = re.search(r"Received: (\d+) emails by the SMTP server, (\d+) webhooks", out)
    assert got is not None
    emails, hooks = int(got[1]), int(got[2])
    assert emails >= 1
    assert hooks >= 1
    assert emails + hooks == sent
    assert "signature verified ✓" in out
    assert "✗" not in out
    assert "Subject: [veye]" in out
    payload = out.split("webhook received", 1)[1].split("signature verified", 1)[0]
    body = json.loads(payload[payload.index("{") : payload.rindex("}") + 1])
    assert body["schema"] == 1
    assert body["verdict"]["alert"] is True

    assert 'search "prison* OR prizon*"' in out
    assert "Guayaquil" in out

    # Nothing left behind: the temporary folder is gone and no database was made here.
    workdir = Path(re.search(r"Config: (\S+)/config\.yaml", out)[1])  # type: ignore[index]
    assert workdir.parent == tmp_path / "tmp"
    assert not workdir.exists()
    assert list((tmp_path / "tmp").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]


def test_demo_keep_leaves_a_database_to_explore(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    result = run_demo(tmp_path, "--no-interactive", "--keep", str(kept))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"--config {kept / 'config.yaml'} search" in result.stdout
    app = App(kept / "config.yaml")
    try:
        hits = search(app.store.engine, "Mirebalais", SearchFilters(by_cluster=False))
    finally:
        app.close()
    assert {"agence-caraibe", "radyo-fanal", "caribbean-ledger"} <= {h.article.source for h in hits}
