"""The outbox's state changes: claim, lease, digests frozen at first claim, recover, expire,
retry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from storage import outbox
from storage.store import Store
from tests.helpers_delivery import NOW, seed_cluster

LEASE = NOW + dt.timedelta(minutes=5)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def owe(
    store: Store,
    n: int = 1,
    *,
    channel: str = "desk",
    digest_key: str | None = None,
    due: dt.datetime = NOW,
    deadline: dt.timedelta = dt.timedelta(hours=24),
) -> list[int]:
    ids = []
    for _ in range(n):
        c, a = seed_cluster(store, url=f"https://n.example/{channel}/{digest_key}/{_}")
        with store.transaction() as conn:
            outbox.enqueue(
                conn,
                [
                    outbox.OwedAlert(
                        delivery_id=f"d-{c}-{channel}",
                        cluster_id=c,
                        article_id=a,
                        route="r",
                        channel=channel,
                        event="alert.new",
                        occasion="first",
                        payload=outbox.snapshot(conn, c, a),
                        next_attempt_at=due,
                        deadline_at=due + deadline,
                        digest_key=digest_key,
                    )
                ],
                now=NOW,
            )
            ids.append(outbox.owed_to(conn, c, channel)[0].id)
    return ids


def claim(store: Store, channel: str = "desk", now: dt.datetime = NOW) -> list[int]:
    with store.transaction() as conn:
        return [
            r.id
            for r in outbox.claim_next(
                conn, channel, now=now, lease_until=now + dt.timedelta(minutes=5)
            )
        ]


def states(store: Store) -> dict[int, str]:
    with store.engine.connect() as conn:
        return {a.id: a.state for a in outbox.list_alerts(conn, limit=None)}


def test_claims_one_due_alert_at_a_time_oldest_first(store: Store) -> None:
    first, second = owe(store, 2)
    assert claim(store) == [first]
    assert claim(store) == [second]
    assert claim(store) == []
    assert states(store) == {first: "sending", second: "sending"}
    assert claim(store, "ops") == []


def test_alerts_not_yet_due_or_past_their_deadline_are_not_claimed(store: Store) -> None:
    owe(store, due=NOW + dt.timedelta(minutes=1))
    owe(store, due=NOW - dt.timedelta(hours=2), deadline=dt.timedelta(hours=1))
    assert claim(store) == []


def test_a_lease_that_ran_out_makes_the_alert_due_again(store: Store) -> None:
    (a,) = owe(store)
    assert claim(store) == [a]
    assert claim(store, now=NOW + dt.timedelta(minutes=4)) == []
    assert claim(store, now=NOW + dt.timedelta(minutes=5)) == [a]


def test_recover_puts_in_flight_alerts_back_in_line(store: Store) -> None:
    (a,) = owe(store)
    claim(store)
    with store.transaction() as conn:
        assert outbox.recover(conn, now=NOW) == 1
    assert states(store) == {a: "pending"}
    assert claim(store) == [a]


def test_a_digest_is_claimed_whole_and_keeps_its_members(store: Store) -> None:
    digest = owe(store, 3, digest_key="digest@x")
    alone = owe(store, 1)
    assert claim(store) == digest
    with store.engine.connect() as conn:
        rows = [outbox.get(conn, i) for i in digest]
    batch = {r.batch_id for r in rows if r}
    assert batch == {rows[0].delivery_id if rows[0] else None}
    # Released after a failure, then an alert is owed later for the same due time: it goes
    # in a digest of its own, never into the message a receiver may already have seen.
    with store.transaction() as conn:
        outbox.mark_retry(conn, digest, next_attempt_at=NOW, error="500")
    late = owe(store, 1, digest_key="digest@x")
    assert claim(store) == digest
    assert claim(store) == alone
    assert claim(store) == late


def test_sent_failed_and_retry_state_changes(store: Store) -> None:
    a, b, c = owe(store, 3)
    for _ in range(3):
        claim(store)
    with store.transaction() as conn:
        outbox.mark_sent(conn, [a], now=NOW)
        outbox.mark_failed(conn, [b], error="HTTP 404: gone", attempted=True)
        outbox.mark_retry(conn, [c], next_attempt_at=NOW + dt.timedelta(seconds=30), error="500")
        got = {i: outbox.get(conn, i) for i in (a, b, c)}
    assert got[a]
    assert got[a].state == "sent"
    assert got[a].sent_at == NOW
    assert got[a].attempts == 1
    assert got[b]
    assert got[b].state == "failed"
    assert got[b].last_error == "HTTP 404: gone"
    assert got[c]
    assert got[c].state == "pending"
    assert got[c].attempts == 1
    assert claim(store, now=NOW + dt.timedelta(seconds=29)) == []
    assert claim(store, now=NOW + dt.timedelta(seconds=30)) == [c]
    with store.engine.connect() as conn:
        assert outbox.counts(conn) == {"pending": 0, "sending": 1, "sent": 1, "failed": 1}


def test_expire_fails_what_is_owed_past_its_deadline(store: Store) -> None:
    (a,) = owe(store, due=NOW - dt.timedelta(hours=25), deadline=dt.timedelta(hours=24))
    (b,) = owe(store)
    with store.transaction() as conn:
        assert outbox.expire(conn, now=NOW) == 1
        expired = outbox.get(conn, a)
    assert expired
    assert expired.state == "failed"
    assert "deadline" in (expired.last_error or "")
    assert states(store)[b] == "pending"


def test_retry_requeues_failed_alerts_with_a_new_deadline_and_the_same_delivery_id(
    store: Store,
) -> None:
    a, b = owe(store, 2)
    claim(store)
    claim(store)
    with store.transaction() as conn:
        outbox.mark_failed(conn, [a], error="HTTP 400", attempted=True)
        outbox.mark_sent(conn, [b], now=NOW)
    later = NOW + dt.timedelta(days=2)
    with store.transaction() as conn:
        assert outbox.retry(
            conn, [a, b], now=later, deadline_at=later + dt.timedelta(hours=24)
        ) == [a]
        row = outbox.get(conn, a)
    assert row
    assert row.state == "pending"
    assert row.attempts == 0
    assert row.delivery_id == f"d-{row.cluster_id}-desk"
    assert row.next_attempt_at == later
    with store.transaction() as conn:
        assert outbox.retry(conn, None, now=later, deadline_at=later) == []


def test_attempts_are_numbered_across_retries(store: Store) -> None:
    (a,) = owe(store)
    for outcome in ("retry", "failed", "sent"):
        with store.transaction() as conn:
            row = outbox.get(conn, a)
            assert row is not None
            outbox.record_attempt(
                conn, [row], started_at=NOW, duration=0.2, outcome=outcome, status=500
            )
    with store.engine.connect() as conn:
        tries = outbox.attempts(conn, a)
    assert [(t.attempt, t.outcome, t.status, t.delivery_id) for t in tries] == [
        (1, "retry", 500, tries[0].delivery_id),
        (2, "failed", 500, tries[0].delivery_id),
        (3, "sent", 500, tries[0].delivery_id),
    ]
