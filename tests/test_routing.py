"""Routing: which cluster changes owe which alerts to which channels, and when they are due."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from alerts.digest import QuietHours, after_quiet, digest_due, digest_key
from alerts.routing import ChannelPolicy, Planner, Route
from storage import outbox
from storage.records import ClusterChange
from storage.store import Store
from tests.helpers_delivery import NOW, PRISON_VERDICT, add_outlet, seed_cluster

PAP = dt.timezone(dt.timedelta(hours=-5))  # Port-au-Prince in March 2024 (before DST)


@pytest.fixture
def store(db_url: str) -> Store:
    s = Store.open(db_url)
    yield s
    s.close()


def route(**kw: object) -> Route:
    base: dict[str, object] = {
        "name": "main",
        "categories": frozenset({"prison_break", "gang_attack"}),
        "channels": ("desk", "ops"),
    }
    base.update(kw)
    return Route(**base)  # type: ignore[arg-type]


def planner(*routes: Route, channels: tuple[str, ...] = ("desk", "ops"), **kw: object) -> Planner:
    caps = kw.pop("caps", {})
    assert isinstance(caps, dict)
    return Planner(
        routes or (route(),),
        [ChannelPolicy(c, caps.get(c)) for c in channels],
        **kw,  # type: ignore[arg-type]
    )


def became_alert(cluster_id: int, article_id: int, outlets: int = 1) -> ClusterChange:
    return ClusterChange(
        cluster_id, article_id, "new", True, ("prison_break",), outlets, became_alert=True
    )


def outlet_joined(cluster_id: int, article_id: int, outlets: int) -> ClusterChange:
    return ClusterChange(cluster_id, article_id, "outlet", True, ("prison_break",), outlets)


def enqueue(store: Store, p: Planner, *changes: ClusterChange, now: dt.datetime = NOW) -> int:
    with store.transaction() as conn:
        return p.enqueue(conn, changes, now=now)


def owed(store: Store) -> list[outbox.OutboxAlert]:
    with store.engine.connect() as conn:
        return sorted(outbox.list_alerts(conn, limit=None), key=lambda a: a.id)


def test_an_alerted_cluster_owes_one_new_alert_per_channel(store: Store) -> None:
    c, a = seed_cluster(store)
    p = planner()
    assert enqueue(store, p, became_alert(c, a)) == 2
    rows = owed(store)
    assert [(r.channel, r.event, r.state) for r in rows] == [
        ("desk", "alert.new", "pending"),
        ("ops", "alert.new", "pending"),
    ]
    assert rows[0].delivery_id != rows[1].delivery_id
    assert rows[0].next_attempt_at == NOW
    assert rows[0].deadline_at == NOW + dt.timedelta(hours=24)
    payload = rows[0].payload
    assert payload["cluster"]["id"] == c
    assert payload["item"]["url"] == "https://nouvelles.example/evasion-mirebalais"
    assert payload["verdict"]["figures"][0]["value"] == 500
    assert [o["source"] for o in payload["cluster"]["outlets"]] == ["nouvelles"]


def test_owing_the_same_alert_twice_is_impossible(store: Store) -> None:
    c, a = seed_cluster(store)
    # Two routes lead to desk: desk still gets one alert.new for the cluster.
    p = planner(route(name="a"), route(name="b", channels=("desk",)))
    assert enqueue(store, p, became_alert(c, a), became_alert(c, a)) == 2
    assert enqueue(store, p, became_alert(c, a)) == 0
    assert [(r.channel, r.route) for r in owed(store)] == [("desk", "a"), ("ops", "a")]
    # The database itself refuses a duplicate.
    row = owed(store)[0]
    with pytest.raises(sa.exc.IntegrityError), store.transaction() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO alerts (delivery_id, cluster_id, route, channel, event, occasion,"
                " payload, state, attempts, next_attempt_at, deadline_at, created_at)"
                " VALUES ('x', :c, 'r', 'desk', 'alert.new', 'first', '{}', 'pending', 0,"
                " :t, :t, :t)"
            ),
            {"c": row.cluster_id, "t": NOW},
        )


def test_disabled_channels_and_other_categories_owe_nothing(store: Store) -> None:
    c, a = seed_cluster(store)
    # "ops" is disabled: the planner is not given it.
    assert enqueue(store, planner(channels=("desk",)), became_alert(c, a)) == 1
    assert [r.channel for r in owed(store)] == ["desk"]
    c2, a2 = seed_cluster(store, url="https://nouvelles.example/2")
    assert (
        enqueue(store, planner(route(categories=frozenset({"gang_attack"}))), became_alert(c2, a2))
        == 0
    )
    assert enqueue(store, planner(route(categories=frozenset({"*"}))), became_alert(c2, a2)) == 2


def test_changes_that_do_not_alert_owe_nothing(store: Store) -> None:
    c, a = seed_cluster(store, verdict={**PRISON_VERDICT, "alert": False})
    quiet = ClusterChange(c, a, "new", False, (), 1)
    edited = ClusterChange(c, a, "updated", True, ("prison_break",), 1)
    assert enqueue(store, planner(), quiet, edited) == 0


@pytest.mark.parametrize(
    ("places", "expected"),
    [
        (frozenset({"mirebalais"}), 2),
        (frozenset({"Centre"}), 2),
        (frozenset({"Cap-Haïtien", "Nord"}), 0),
    ],
)
def test_routes_can_require_a_place(store: Store, places: frozenset[str], expected: int) -> None:
    c, a = seed_cluster(store)
    assert enqueue(store, planner(route(places=places)), became_alert(c, a)) == expected


def test_routes_can_require_a_source(store: Store) -> None:
    c, a = seed_cluster(store, outlets=("nouvelles", "lenouvelliste"))
    assert (
        enqueue(store, planner(route(sources=frozenset({"alterpresse"}))), became_alert(c, a)) == 0
    )
    assert (
        enqueue(store, planner(route(sources=frozenset({"lenouvelliste"}))), became_alert(c, a))
        == 2
    )


def test_follow_up_every_owes_an_update_per_new_outlet_never_a_new_alert(store: Store) -> None:
    c, a = seed_cluster(store)
    p = planner(route(follow_up="every", channels=("desk",)))
    enqueue(store, p, became_alert(c, a))
    n = add_outlet(store, a, "haitilibre")
    assert enqueue(store, p, outlet_joined(c, a, n)) == 1
    # The same change seen again owes nothing more.
    assert enqueue(store, p, outlet_joined(c, a, n)) == 0
    n = add_outlet(store, a, "alterpresse")
    assert enqueue(store, p, outlet_joined(c, a, n)) == 1
    rows = owed(store)
    assert [(r.event, r.occasion) for r in rows] == [
        ("alert.new", "first"),
        ("alert.update", "outlets:2"),
        ("alert.update", "outlets:3"),
    ]
    update = rows[2].payload["update"]
    assert update == {
        "follows": rows[0].delivery_id,
        "outlets_before": 2,
        "new_outlets": ["alterpresse"],
    }


def test_follow_up_on_corroboration_owes_one_update_at_the_threshold(store: Store) -> None:
    c, a = seed_cluster(store)
    p = planner(route(follow_up="corroboration", corroboration=3, channels=("desk",)))
    enqueue(store, p, became_alert(c, a))
    counts = []
    for outlet in ("haitilibre", "alterpresse", "rezonodwes"):
        n = add_outlet(store, a, outlet)
        counts.append(enqueue(store, p, outlet_joined(c, a, n)))
    assert counts == [0, 1, 0]
    assert [(r.event, r.occasion) for r in owed(store)] == [
        ("alert.new", "first"),
        ("alert.update", "corroborated"),
    ]


def test_no_corroboration_update_when_the_first_alert_was_already_corroborated(
    store: Store,
) -> None:
    c, a = seed_cluster(store, outlets=("a", "b", "c"))
    p = planner(route(follow_up="corroboration", corroboration=3, channels=("desk",)))
    enqueue(store, p, became_alert(c, a, outlets=3))
    n = add_outlet(store, a, "d")
    assert enqueue(store, p, outlet_joined(c, a, n)) == 0


def test_follow_up_never_and_updates_without_a_first_alert_owe_nothing(store: Store) -> None:
    c, a = seed_cluster(store)
    never = planner(route(follow_up="never", channels=("desk",)))
    enqueue(store, never, became_alert(c, a))
    n = add_outlet(store, a, "haitilibre")
    assert enqueue(store, never, outlet_joined(c, a, n)) == 0
    # A channel that never got the alert (added later) gets no update in its place.
    every = planner(route(follow_up="every", channels=("ops",)), channels=("ops",))
    n = add_outlet(store, a, "alterpresse")
    assert enqueue(store, every, outlet_joined(c, a, n)) == 0


def test_a_digest_route_holds_alerts_until_the_end_of_its_window(store: Store) -> None:
    c1, a1 = seed_cluster(store, url="https://n.example/1")
    c2, a2 = seed_cluster(store, url="https://n.example/2")
    p = planner(route(mode="digest", digest_interval=3600.0, channels=("desk",)))
    enqueue(store, p, became_alert(c1, a1), now=NOW)  # 10:20 in Port-au-Prince
    enqueue(store, p, became_alert(c2, a2), now=NOW + dt.timedelta(minutes=30))
    rows = owed(store)
    due = dt.datetime(2024, 3, 4, 11, 0, tzinfo=PAP)
    assert [r.next_attempt_at for r in rows] == [due, due]
    assert rows[0].digest_key == rows[1].digest_key == "digest@2024-03-04T16:00:00Z"
    assert rows[0].deadline_at == due + dt.timedelta(hours=24)


def test_digests_wait_for_the_end_of_quiet_hours_in_the_configured_zone(store: Store) -> None:
    c, a = seed_cluster(store)
    quiet = QuietHours.parse("22:00-06:00")
    p = planner(route(mode="digest", quiet_hours=quiet, channels=("desk",)))
    late = dt.datetime(2024, 3, 4, 22, 40, tzinfo=PAP)
    enqueue(store, p, became_alert(c, a), now=late)
    (row,) = owed(store)
    assert row.next_attempt_at == dt.datetime(2024, 3, 5, 6, 0, tzinfo=PAP)


def test_immediate_alerts_are_never_held_by_quiet_hours(store: Store) -> None:
    c, a = seed_cluster(store)
    quiet = QuietHours.parse("22:00-06:00")
    p = planner(route(quiet_hours=quiet, channels=("desk",)))
    late = dt.datetime(2024, 3, 4, 23, 0, tzinfo=PAP)
    enqueue(store, p, became_alert(c, a), now=late)
    assert owed(store)[0].next_attempt_at == late
    assert owed(store)[0].digest_key is None


def test_past_the_hourly_cap_alerts_fold_into_a_digest_at_the_hour_end(store: Store) -> None:
    seeded = [seed_cluster(store, url=f"https://n.example/{i}") for i in range(4)]
    p = planner(route(channels=("desk",)), channels=("desk",), caps={"desk": 2})
    for i, (c, a) in enumerate(seeded):
        enqueue(store, p, became_alert(c, a), now=NOW + dt.timedelta(minutes=i))
    rows = owed(store)
    assert [r.digest_key for r in rows] == [
        None,
        None,
        "digest@2024-03-04T16:00:00Z",
        "digest@2024-03-04T16:00:00Z",
    ]
    assert rows[2].next_attempt_at == dt.datetime(2024, 3, 4, 16, 0, tzinfo=dt.UTC)
    # The next hour has its own allowance.
    c, a = seed_cluster(store, url="https://n.example/next")
    enqueue(store, p, became_alert(c, a), now=NOW + dt.timedelta(hours=1))
    assert owed(store)[-1].digest_key is None


def test_quiet_hours_parse_and_contain() -> None:
    q = QuietHours.parse("22:00-06:30")
    assert str(q) == "22:00-06:30"
    assert q.contains(dt.time(23, 0))
    assert q.contains(dt.time(6, 29))
    assert not q.contains(dt.time(6, 30))
    assert not q.contains(dt.time(12, 0))
    day = QuietHours.parse("12:00-13:00")
    assert day.contains(dt.time(12, 30))
    assert not day.contains(dt.time(13, 0))
    for bad in ("22-06", "25:00-06:00", "10:00-10:00", ""):
        with pytest.raises(ValueError, match=r"quiet hours|span of hours"):
            QuietHours.parse(bad)


def test_digest_windows_count_from_local_midnight() -> None:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("America/Port-au-Prince")
    at = dt.datetime(2024, 3, 4, 13, 5, tzinfo=PAP)
    assert digest_due(at, 6 * 3600, tz=tz) == dt.datetime(2024, 3, 4, 18, 0, tzinfo=PAP)
    assert digest_due(at, 24 * 3600, tz=tz) == dt.datetime(2024, 3, 5, 0, 0, tzinfo=PAP)
    # On a boundary the digest is the next one, never "now".
    edge = dt.datetime(2024, 3, 4, 12, 0, tzinfo=PAP)
    assert digest_due(edge, 3600, tz=tz) == dt.datetime(2024, 3, 4, 13, 0, tzinfo=PAP)
    assert digest_key(dt.datetime(2024, 3, 4, 13, 0, tzinfo=PAP)) == "digest@2024-03-04T18:00:00Z"
    # Outside quiet hours nothing moves.
    assert after_quiet(at, QuietHours.parse("22:00-06:00"), tz) == at


@pytest.mark.parametrize(
    "module",
    [
        "alerts.routing",
        "alerts.dispatch",
        "alerts.digest",
        "alerts.channels",
        "alerts.channels.base",
        "alerts.channels.email",
        "alerts.channels.webhook",
        "alerts.channels.render",
        "storage.outbox",
    ],
)
def test_the_public_api_is_declared_and_exists(module: str) -> None:
    import importlib

    mod = importlib.import_module(module)
    assert mod.__all__ == sorted(mod.__all__, key=lambda n: (not n.isupper(), n))
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name}"
