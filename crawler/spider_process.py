"""Run a Scrapy spider in a child process and read back its items.

A Twisted reactor cannot be restarted, so each crawl gets its own process
(``python -m crawler.spider_runner``). The protocol is JSON lines:

- stdin: one job object: ``source``, ``settings``, ``known_keys``, ``time_limit`` (and
  ``now``, an ISO time, for tests);
- stdout: ``{"type": "article", "article": {...}}`` per item, then one
  ``{"type": "summary", ...}`` (or ``{"type": "error", "message": ...}``) line.

The parent kills a child that outlives its time limit, and reports a crash or garbage with
the last lines the child wrote to stderr."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from crawler.fetch import FetchSettings
from crawler.records import ArticleData, FetchResult, Source, Validators
from crawler.spiders.options import check_listing_options, check_sitemap_options

__all__ = ["decode_article", "encode_article", "job_for", "run_spider"]

#: Longest stdout line accepted from the child (one article, JSON-encoded).
LINE_LIMIT = 8 * 1024 * 1024
#: Lines of the child's stderr kept to explain a failure.
STDERR_TAIL = 30
_ARTICLE_FIELDS = {f.name for f in fields(ArticleData) if f.init}


def encode_article(article: ArticleData) -> dict[str, Any]:
    data = {k: v for k, v in asdict(article).items() if k in _ARTICLE_FIELDS}
    data["published"] = article.published.isoformat() if article.published else None
    data["authors"] = list(article.authors)
    return data


def decode_article(data: Mapping[str, Any]) -> ArticleData:
    """An :class:`ArticleData` from its JSON form; raises ``ValueError`` for a bad one."""
    values = {k: v for k, v in data.items() if k in _ARTICLE_FIELDS}
    published = values.get("published")
    values["published"] = datetime.fromisoformat(published) if published else None
    values["authors"] = tuple(str(a) for a in values.get("authors") or ())
    for name in ("source", "url", "canonical_url", "title", "summary", "text"):
        if not isinstance(values.get(name), str):
            raise ValueError(f"article field {name!r} is missing or not text")
    try:
        return ArticleData(**values)
    except TypeError as e:
        raise ValueError(str(e)) from e


def job_for(
    source: Source,
    settings: FetchSettings,
    known_keys: Collection[str],
    *,
    time_limit: float,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The job object the child reads on stdin."""
    return {
        "source": {
            "name": source.name,
            "kind": source.kind,
            "url": source.url,
            "language": source.language,
            "options": dict(source.options),
        },
        "settings": {
            "user_agent": settings.user_agent,
            "timeout": settings.timeout,
            "max_bytes": settings.max_bytes,
            "per_host_concurrency": settings.per_host_concurrency,
            "max_redirects": settings.max_redirects,
            "verify_tls": settings.verify_tls,
            "min_delay": settings.min_delay,
            "obey_robots": settings.obey_robots,
        },
        "known_keys": sorted(known_keys),
        "time_limit": time_limit,
        "now": now.isoformat() if now else None,
    }


async def run_spider(
    source: Source,
    settings: FetchSettings,
    known_keys: Collection[str] = (),
    *,
    time_limit: float = 300.0,
    now: datetime | None = None,
    argv: Sequence[str] | None = None,
) -> FetchResult:
    """Crawl ``source`` (``kind`` spider or sitemap) in a child process.

    Never raises for the source's own problems: a failed start page, a crash, a hang (killed
    after ``time_limit`` seconds) or unreadable output come back in ``FetchResult.error``,
    with the items received before it. ``argv`` replaces the child command (tests)."""
    started = time.monotonic()
    problem = _check(source)
    if problem:
        return _result(source, [], None, problem, started)
    command = list(argv or [sys.executable, "-m", "crawler.spider_runner"])
    job = json.dumps(job_for(source, settings, known_keys, time_limit=time_limit, now=now))
    articles: list[ArticleData] = []
    summary: dict[str, Any] | None = None
    problems: list[str] = []
    stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
        )
    except OSError as e:
        return _result(source, [], None, f"cannot start the spider process: {e}", started)

    async def feed_job() -> None:
        assert proc.stdin
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(job.encode())
            await proc.stdin.drain()
            proc.stdin.close()

    error: str | None = None

    async def read_items() -> None:
        nonlocal summary, error
        assert proc.stdout
        while True:
            try:
                raw = await proc.stdout.readline()
            except ValueError as e:  # a line longer than LINE_LIMIT
                error = f"the spider wrote a line longer than {LINE_LIMIT:,} bytes ({e})"
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                return
            if not raw:
                return
            line = raw.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            try:
                message = json.loads(line)
                kind = message.get("type")
                if kind == "article":
                    articles.append(decode_article(message["article"]))
                elif kind in ("summary", "error"):
                    summary = message
                else:
                    raise ValueError(f"unknown message type {kind!r}")
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                problems.append(f"unreadable line from the spider ({e}): {line[:120]!r}")

    async def read_stderr() -> None:
        assert proc.stderr
        pending = b""
        while chunk := await proc.stderr.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            stderr_tail.extend(line.decode("utf-8", errors="replace")[:500] for line in lines)
            pending = pending[-2000:]
        if pending:
            stderr_tail.append(pending.decode("utf-8", errors="replace")[:500])

    try:
        async with asyncio.timeout(time_limit):
            await asyncio.gather(feed_job(), read_items(), read_stderr())
            await proc.wait()
    except TimeoutError:
        error = f"the spider did not finish within {time_limit:g}s and was stopped"
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    if error is None:
        error = _failure(summary, proc.returncode, stderr_tail)
    return _result(source, articles, summary, error, started, problems)


def _check(source: Source) -> str | None:
    """A source the child would refuse, refused before a process is started for it."""
    checks = {"spider": check_listing_options, "sitemap": check_sitemap_options}
    check = checks.get(source.kind)
    if check is None:
        return f"{source.kind} sources are not crawled by a spider"
    problem = check(source.options)
    return f"bad options for source {source.name!r}: {problem}" if problem else None


def _failure(
    summary: Mapping[str, Any] | None, returncode: int | None, stderr_tail: deque[str]
) -> str | None:
    """Why the run failed, from its last line, exit status and stderr; ``None`` if it did
    not."""
    if summary is not None and summary.get("type") == "error":
        return str(summary.get("message") or "the spider failed")
    if returncode != 0:
        last = next((line for line in reversed(stderr_tail) if line.strip()), "")
        return f"the spider process failed (exit status {returncode})" + (
            f": {last}" if last else ""
        )
    if summary is None:
        return "the spider process ended without a summary"
    return str(summary["error"]) if summary.get("error") else None


def _result(
    source: Source,
    articles: list[ArticleData],
    summary: Mapping[str, Any] | None,
    error: str | None,
    started: float,
    problems: Sequence[str] = (),
) -> FetchResult:
    warnings = [str(w) for w in (summary or {}).get("warnings") or ()]
    warnings.extend(problems[:3])
    if len(problems) > 3:
        warnings.append(f"{len(problems) - 3} more unreadable lines from the spider")
    status = (summary or {}).get("status")
    return FetchResult(
        source.name,
        tuple(articles),
        Validators(),
        status if isinstance(status, int) else None,
        error,
        warnings=tuple(warnings),
        final_url=str((summary or {}).get("final_url") or source.url),
        elapsed=time.monotonic() - started,
    )
