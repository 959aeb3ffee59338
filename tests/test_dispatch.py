"""The dispatcher against channels faked at the seam (the Channel protocol): what is marked
sent and when, the retry schedule (injected clock and random source, no sleeping), deadlines,
digests, isolation between channels, and recovery after a crash."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections.abc import Callable, Iterator

import pytest

from alerts.channels.base import Message, RefusedError, RetryLaterError, SendResult
from alerts.dispatch import Dispatcher, RetryPolicy
from alerts.routing import ChannelPolicy, Planner, Route
from storage import outbox
from storage.records import ClusterChange
from storage.store import Store
from tests.helpers_delivery import NOW, Clock, seed_cluster


class FixedRandom(random.Random):
    """``random()`` always returns the same value: the jitter is known."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


class FakeChannel:
    """Records messages; answers from a script of callables (then accepts)."""

    def __init__(self, name: str, *script: Callable[[Message], SendResult]) -> None:
        self._name = name
        self.script = list(script)
        self.sent: list[Message] = []
        self.calls = 0
        self.closed = False

    @property
    def name(self) -> str:
        return self._name

    def send(self, message: Message) -> SendResult:
        self.calls += 1
        result = self.script.pop(0)(message) if self.script else SendResult(250, "ok")
        self.sent.append(message)
        return result

    def close(self) -> None:
        self.closed = True


def fail_retry(
    status: int = 503, retry_after: float | None = None
) -> Callable[[Message], SendResult]:
    def answer(_m: Message) -> SendResult:
        raise RetryLaterError(f"HTTP {status}", status=status, retry_after=retry_after)

    return answer


def fail_permanent(_m: Message) -> SendResult:
    raise RefusedError("HTTP 404: no such hook", status=404, reply="no such hook")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def owe(
    store: Store,
    n: int,
    *,
    channels: tuple[str, ...] = ("desk",),
    mode: str = "immediate",
    now: dt.datetime = NOW,
    deadline: float = 24 * 3600.0,
) -> list[int]:
    planner = Planner(
        [Route("r", frozenset({"prison_break"}), channels, mode=mode)],  # type: ignore[arg-type]
        [ChannelPolicy(c) for c in channels],
        retry_deadline=deadline,
    )
    for i in range(n):
        c, a = seed_cluster(store, url=f"https://n.example/{mode}/{now.isoformat()}/{i}")
        change = ClusterChange(c, a, "new", True, ("prison_break",), 1, became_alert=True)
        with store.transaction() as conn:
            planner.enqueue(conn, [change], now=now)
    with store.engine.connect() as conn:
        return sorted(a.id for a in outbox.list_alerts(conn, limit=None))


def row(store: Store, alert_id: int) -> outbox.OutboxAlert:
    with store.engine.connect() as conn:
        found = outbox.get(conn, alert_id)
    assert found is not None
    return found


def dispatcher(store: Store, *channels: FakeChannel, clock: Clock, **kw: object) -> Dispatcher:
    return Dispatcher(
        store.engine,
        {c.name: c for c in channels},
        clock=clock,
        rng=kw.pop("rng", FixedRandom(0.5)),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_a_due_alert_is_sent_once_and_its_attempt_recorded(store: Store) -> None:
    (a,) = owe(store, 1)
    channel = FakeChannel("desk")
    clock = Clock()
    summary = dispatcher(store, channel, clock=clock).run_once()
    assert summary.sent == 1
    assert summary.pending == 0
    (message,) = channel.sent
    assert message.event == "alert.new"
    assert message.delivery_id == row(store, a).delivery_id
    assert message.alerts[0].payload["cluster"]["title"].startswith("Évasion")
    sent = row(store, a)
    assert (sent.state, sent.sent_at, sent.attempts) == ("sent", NOW, 1)
    with store.engine.connect() as conn:
        (attempt,) = outbox.attempts(conn, a)
    assert (attempt.outcome, attempt.status, attempt.reply) == ("sent", 250, "ok")
    # Nothing is sent twice.
    assert dispatcher(store, channel, clock=clock).run_once().outcomes == ()
    assert channel.calls == 1


def test_retries_back_off_exponentially_with_jitter_until_delivered(store: Store) -> None:
    (a,) = owe(store, 1)
    channel = FakeChannel("desk", fail_retry(), fail_retry(), fail_retry())
    clock = Clock()
    policy = RetryPolicy(first_delay=30.0, max_delay=3600.0, jitter=0.5)
    d = dispatcher(store, channel, clock=clock, policy=policy)
    waits = []
    for _ in range(3):
        assert d.run_once().retrying == 1
        waits.append((row(store, a).next_attempt_at - clock.now).total_seconds())
        clock.advance(waits[-1] - 1)
        assert d.run_once().outcomes == ()  # not due yet: nothing is tried early
        clock.advance(1)
    # base 30, 60, 120 s; with random() = 0.5 each wait is 75% of its base.
    assert waits == [22.5, 45.0, 90.0]
    assert d.run_once().sent == 1
    assert channel.calls == 4
    assert len({m.delivery_id for m in channel.sent}) == 1
    with store.engine.connect() as conn:
        assert [t.outcome for t in outbox.attempts(conn, a)] == ["retry", "retry", "retry", "sent"]


def test_the_jitter_comes_from_the_injected_random_source(store: Store) -> None:
    (a,) = owe(store, 1)
    clock = Clock()
    policy = RetryPolicy(first_delay=100.0, jitter=0.5)
    dispatcher(
        store, FakeChannel("desk", fail_retry()), clock=clock, policy=policy, rng=FixedRandom(0.0)
    ).run_once()
    assert row(store, a).next_attempt_at == NOW + dt.timedelta(seconds=50)
    assert policy.delay(1, FixedRandom(1.0)) == 100.0
    assert policy.delay(20, FixedRandom(1.0)) == policy.max_delay


def test_retry_after_is_honoured(store: Store) -> None:
    (a,) = owe(store, 1)
    clock = Clock()
    dispatcher(store, FakeChannel("desk", fail_retry(429, 7.0)), clock=clock).run_once()
    assert row(store, a).next_attempt_at == NOW + dt.timedelta(seconds=7)
    assert row(store, a).last_error == "HTTP 429"


def test_a_permanent_failure_fails_at_once(store: Store) -> None:
    (a,) = owe(store, 1)
    clock = Clock()
    summary = dispatcher(store, FakeChannel("desk", fail_permanent), clock=clock).run_once()
    assert summary.failed == 1
    failed = row(store, a)
    assert failed.state == "failed"
    assert failed.last_error == "HTTP 404: no such hook"
    with store.engine.connect() as conn:
        (attempt,) = outbox.attempts(conn, a)
    assert (attempt.outcome, attempt.status, attempt.reply) == ("failed", 404, "no such hook")


def test_retries_stop_at_the_deadline(store: Store) -> None:
    (a,) = owe(store, 1, deadline=3600.0)
    clock = Clock()
    channel = FakeChannel("desk", *[fail_retry()] * 50)
    d = dispatcher(store, channel, clock=clock, policy=RetryPolicy(first_delay=60, jitter=0))
    while row(store, a).state == "pending":
        d.run_once()
        clock.now = max(clock.now, row(store, a).next_attempt_at)
    # 60 + 120 + 240 + 480 + 960 = 1860 s; the next wait (1920 s) would pass the hour.
    assert channel.calls == 6
    failed = row(store, a)
    assert failed.state == "failed"
    assert "after the deadline" in (failed.last_error or "")


def test_an_alert_never_attempted_before_its_deadline_fails(store: Store) -> None:
    (a,) = owe(store, 1, deadline=60.0)
    clock = Clock(NOW + dt.timedelta(minutes=5))
    # Even a dispatcher without its channel (disabled since) gives it up.
    summary = dispatcher(store, FakeChannel("other"), clock=clock).run_once()
    assert summary.expired == 1
    assert summary.failed == 1
    assert row(store, a).state == "failed"


def test_a_digest_goes_out_as_one_message_when_due(store: Store) -> None:
    ids = owe(store, 3, mode="digest")
    clock = Clock()
    channel = FakeChannel("desk")
    d = dispatcher(store, channel, clock=clock)
    assert d.run_once().outcomes == ()
    assert d.run_once().pending == 3
    clock.now = row(store, ids[0]).next_attempt_at
    summary = d.run_once()
    assert summary.sent == 3
    (message,) = channel.sent
    assert message.event == "alert.digest"
    assert [a.alert_id for a in message.alerts] == ids
    assert message.delivery_id == row(store, ids[0]).delivery_id
    assert {row(store, i).state for i in ids} == {"sent"}


def test_one_dead_channel_never_blocks_another(store: Store) -> None:
    owe(store, 5, channels=("dead", "live"))
    live_done = threading.Event()
    live = FakeChannel("live")

    def hang_until_live_is_done(_m: Message) -> SendResult:
        # If channels were worked one after the other, this would wait in vain.
        if not live_done.wait(timeout=10):
            raise AssertionError("the live channel was held up by the dead one")
        raise RetryLaterError("timed out")

    dead = FakeChannel("dead", *[hang_until_live_is_done] * 5)

    def on_outcome(o: object) -> None:
        if live.calls == 5:
            live_done.set()

    clock = Clock()
    summary = dispatcher(store, dead, live, clock=clock, on_outcome=on_outcome).run_once()
    assert live.calls == 5
    # The dead channel was tried once in the pass, not five times in a row.
    assert dead.calls == 1
    assert summary.sent == 5
    assert summary.retrying == 1


def test_a_crash_between_sending_and_recording_resends_with_the_same_delivery_id(
    store: Store,
) -> None:
    (a,) = owe(store, 1)
    clock = Clock()
    with store.transaction() as conn:  # a dispatcher claimed it, sent it, then died
        (claimed,) = outbox.claim_next(
            conn, "desk", now=NOW, lease_until=NOW + dt.timedelta(minutes=5)
        )
    channel = FakeChannel("desk")
    d = dispatcher(store, channel, clock=clock)
    assert d.run_once().outcomes == ()  # still leased to the dead dispatcher
    assert d.recover() == 1
    assert d.run_once().sent == 1
    assert channel.sent[0].delivery_id == claimed.delivery_id
    assert row(store, a).state == "sent"


def test_an_unexpected_error_in_a_channel_keeps_the_alert(store: Store) -> None:
    (a,) = owe(store, 1)

    def broken(_m: Message) -> SendResult:
        raise KeyError("bug")

    summary = dispatcher(store, FakeChannel("desk", broken), clock=Clock()).run_once()
    assert summary.retrying == 1
    assert row(store, a).state == "pending"
    assert "unexpected KeyError" in (row(store, a).last_error or "")


def test_the_budget_bounds_a_pass(store: Store) -> None:
    owe(store, 3)
    ticks = iter(range(100))
    channel = FakeChannel("desk")
    d = dispatcher(store, channel, clock=Clock(), monotonic=lambda: float(next(ticks)))
    # The pass starts at tick 0 and each message costs three ticks (a budget check, and the
    # start and end of its attempt): with a budget of 5 the third is never started.
    summary = d.run_once(budget=5)
    assert summary.sent == 2
    assert summary.pending == 1


def test_dispatchers_racing_on_one_database_send_each_alert_once(store: Store) -> None:
    """Two dispatchers (two workers' own engines and channels) drain one outbox at once:
    every alert goes out, none twice."""
    owed = owe(store, 40)
    url = store.engine.url.render_as_string(hide_password=False)
    others = [Store.open(url, migrate=False) for _ in range(2)]
    channels = [FakeChannel("desk"), FakeChannel("desk")]
    start = threading.Barrier(2)

    def drain(i: int) -> None:
        start.wait()
        dispatcher(others[i], channels[i], clock=Clock()).run_once()

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for s in others:
        s.close()
    sent = [m.delivery_id for c in channels for m in c.sent]
    assert len(sent) == len(owed) == 40
    assert len(set(sent)) == 40
    assert all(row(store, a).state == "sent" for a in owed)
