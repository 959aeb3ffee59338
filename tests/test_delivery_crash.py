"""Crash safety: a dispatcher killed with SIGKILL at random points, restarted until the outbox
is empty, loses no alert and never sends one alert under two delivery ids.

Each run copies an outbox of 30 owed alerts (20 alone, 10 in two digests), then starts the
dispatcher in a child process against a webhook receiver in this process (which fails some
requests with a 500), kills it at a random moment a few times, and finally lets it finish."""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import random
import shutil
import signal
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any

import pytest

from alerts.routing import ChannelPolicy, Planner, Route
from storage import outbox
from storage.records import ClusterChange
from storage.store import Store
from tests.helpers_delivery import Answer, Receiver, receiving, seed_cluster
from tests.postgres import PostgresServer

RUNS = 20
KILLS_PER_RUN = 2
ALONE, IN_DIGESTS = 20, 10

#: What the fork server imports once, so each restart is a fork, not a fresh interpreter.
PRELOAD = [__name__]


def dispatcher_child(
    db_url: str, hook_url: str, ready: Connection, shared: bool = False, lease: float = 300.0
) -> None:
    """The child: a dispatcher that recovers, says it is ready, and sends until nothing is
    owed (as ``veye run`` does, without the crawling). A worker ``shared`` with others does
    not recover (the others may be sending): rows a dead one claimed wait out their lease."""
    from alerts.channels.webhook import WebhookChannel, WebhookSettings
    from alerts.dispatch import Dispatcher, RetryPolicy
    from storage import db

    engine = db.connect(db_url)
    hook = WebhookChannel(WebhookSettings("hook", hook_url, secret="crash-test-secret", timeout=5))
    dispatcher = Dispatcher(
        engine, {"hook": hook}, policy=RetryPolicy(first_delay=0.01, max_delay=0.05, lease=lease)
    )
    if not shared:
        dispatcher.recover()
    ready.send("ready")
    while True:
        dispatcher.run_once()
        with engine.connect() as conn:
            if not outbox.count(conn, states=["pending", "sending"]):
                break
        threading.Event().wait(0.005)  # retries are due in 10-50 ms
    hook.close()


def seed_outbox(url: str) -> None:
    """30 alerts owed two hours ago: 20 to go alone, 10 in digests already due."""
    store = Store.open(url)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    alone = Planner(
        [Route("alone", frozenset({"prison_break"}), ("hook",))], [ChannelPolicy("hook")]
    )
    digest = Planner(
        [
            Route(
                "digest",
                frozenset({"prison_break"}),
                ("hook",),
                mode="digest",
                digest_interval=1800,
            )
        ],
        [ChannelPolicy("hook")],
    )
    for i in range(ALONE + IN_DIGESTS):
        c, a = seed_cluster(store, url=f"https://n.example/{i}", title=f"Évasion {i}")
        change = ClusterChange(c, a, "new", True, ("prison_break",), 1, became_alert=True)
        owed_at = now + dt.timedelta(minutes=40 * (i % 2))  # two digest windows
        with store.transaction() as conn:
            (alone if i < ALONE else digest).enqueue(conn, [change], now=owed_at)
    with store.engine.connect() as conn:
        assert outbox.count(conn, states=["pending"]) == ALONE + IN_DIGESTS
        keys = {a.digest_key for a in outbox.list_alerts(conn, limit=None)} - {None}
        assert len(keys) == 2
    store.close()


def owed(url: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            left = outbox.count(conn, states=["pending", "sending"])
            failed = outbox.count(conn, states=["failed"])
    finally:
        engine.dispose()
    assert failed == 0
    return left


def run_once(
    run: int, template: Path, receiver: Receiver, ctx: ForkServerContext, rng: random.Random
) -> int:
    """One run: kill the dispatcher ``KILLS_PER_RUN`` times, then let it finish. Returns how
    many times it was started."""
    db = template.with_name(f"run{run}.db")
    shutil.copy(template, db)
    url = receiver.url + f"/{run}"
    starts = 0
    while owed(f"sqlite:///{db}"):
        starts += 1
        assert starts <= KILLS_PER_RUN + 3, "the dispatcher never finished"
        ours, theirs = ctx.Pipe()
        child = ctx.Process(target=dispatcher_child, args=(f"sqlite:///{db}", url, theirs))
        child.start()
        assert ours.poll(30)
        assert ours.recv() == "ready"
        if starts <= KILLS_PER_RUN:
            # A random moment: while it claims, sends, or records.
            threading.Event().wait(rng.uniform(0.0, 0.3))
            assert child.pid is not None
            with contextlib.suppress(ProcessLookupError):  # it finished first
                os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=60)
        assert child.exitcode is not None
        ours.close()
        theirs.close()
    return starts


@pytest.mark.slow
def test_killed_dispatchers_lose_nothing_and_never_change_a_delivery_id(tmp_path: Path) -> None:
    template = tmp_path / "template.db"
    seed_outbox(f"sqlite:///{template}")
    rng = random.Random(20240304)
    with receiving() as receiver:
        # Some requests fail, so retries are in flight when the dispatcher is killed; each
        # answer takes a moment, so a run outlasts the random instant of its kill (a dispatcher
        # that finished first would be a run that tested nothing).
        receiver.answer(
            *[
                Answer(500, b"busy", delay=0.02) if rng.random() < 0.15 else Answer(delay=0.02)
                for _ in range(2000)
            ]
        )
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        with ThreadPoolExecutor(2) as pool:
            starts = list(
                pool.map(
                    lambda run: run_once(run, template, receiver, ctx, random.Random(run)),
                    range(RUNS),
                )
            )
        received = list(receiver.received)
    assert sum(starts) >= RUNS * 2
    check_deliveries(received, range(RUNS))


def check_deliveries(received: list[Any], runs: range) -> None:
    """Every alert of every run accepted once at least, each under one delivery id."""
    for run in runs:
        ids_per_alert: dict[int, set[str]] = defaultdict(set)
        accepted: set[int] = set()
        for got in received:
            if got.path != f"/hook/{run}":
                continue
            body = got.json()
            delivery = got.headers["X-Veye-Delivery"]
            for alert in body.get("alerts") or [body]:
                ids_per_alert[alert["cluster"]["id"]].add(delivery)
                if got.status == 200:
                    accepted.add(alert["cluster"]["id"])
        assert len(accepted) == ALONE + IN_DIGESTS, f"run {run}: alerts lost"
        twice = {c: ids for c, ids in ids_per_alert.items() if len(ids) > 1}
        assert not twice, f"run {run}: alerts sent under two delivery ids: {twice}"


#: Runs of the PostgreSQL test: two workers dispatching one outbox, each killed once.
PG_RUNS = 4


def test_killed_workers_sharing_a_postgresql_outbox_lose_nothing(
    postgres_server: PostgresServer,
) -> None:
    """Two dispatchers of two workers drain one PostgreSQL outbox and are each killed with
    SIGKILL at a random moment; the next two find what the dead ones held once its lease
    (0.5 s here) runs out. Nothing is lost, nothing goes out under two delivery ids."""
    seeded = postgres_server.new_database()
    seed_outbox(seeded)
    seeded_name = seeded.rsplit("/", 1)[1]
    rng = random.Random(1804)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    with receiving() as receiver:
        receiver.answer(
            *[
                Answer(500, b"busy", delay=0.02) if rng.random() < 0.15 else Answer(delay=0.02)
                for _ in range(1000)
            ]
        )
        for run in range(PG_RUNS):
            url = postgres_server.new_database(template=seeded_name)
            hook = receiver.url + f"/{run}"
            for doomed in (True, False):
                pairs = [ctx.Pipe() for _ in range(2)]
                children = [
                    ctx.Process(target=dispatcher_child, args=(url, hook, theirs, True, 0.5))
                    for _, theirs in pairs
                ]
                for child in children:
                    child.start()
                for ours, _ in pairs:
                    assert ours.poll(30)
                    assert ours.recv() == "ready"
                if doomed:
                    for child in children:
                        threading.Event().wait(rng.uniform(0.0, 0.3))
                        assert child.pid is not None
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(child.pid, signal.SIGKILL)
                for child in children:
                    child.join(timeout=60)
                    assert child.exitcode is not None
                for ours, theirs in pairs:
                    ours.close()
                    theirs.close()
            assert owed(url) == 0
        received = list(receiver.received)
    check_deliveries(received, range(PG_RUNS))
