from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from alerts.verdict import Verdict
from crawler.records import ArticleData, FetchResult, Validators
from storage import db
from storage.records import PackedVerdict
from storage.schema import metadata
from storage.store import Store

NOW = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)


def article(n: int = 1, source: str = "alterpresse", **changes: object) -> ArticleData:
    base = ArticleData(
        source=source,
        url=f"https://example.org/{n}",
        canonical_url=f"https://example.org/{n}",
        guid=f"g{n}",
        title=f"Titre {n}",
        summary="Résumé",
        text=f"Texte de l'article {n}",
        language="fr",
        published=NOW,
        authors=("A",),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def store(db_url: str) -> Store:
    s = Store.open(db_url)
    yield s  # type: ignore[misc]
    s.close()


def test_the_sqlite_database_is_a_wal_file(tmp_path: Path) -> None:
    Store.open(f"sqlite:///{tmp_path}/v.db").close()
    raw = sqlite3.connect(tmp_path / "v.db")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_the_database_has_the_full_schema(store: Store) -> None:
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"articles", "article_sources", "sources", "articles_fts", "alembic_version"} <= tables


def test_migrations_match_the_models(store: Store) -> None:
    """Every model change needs a migration: the migrated schema equals the declared one."""
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": db.include_object})
        diff = compare_metadata(ctx, metadata)
    assert diff == []
    assert db.current_revision(store.engine) == db.head_revision()


def test_an_item_seen_again_is_stored_once(store: Store) -> None:
    first = store.save([(article(1), None), (article(2), None)], now=NOW)
    assert [o.status for o in first.outcomes] == ["new", "new"]
    again = store.save([(article(1), None), (article(2), None)], now=NOW)
    assert [o.status for o in again.outcomes] == ["seen", "seen"]
    assert store.count() == 2


def test_each_new_item_gets_its_own_id_after_the_stored_ones(store: Store) -> None:
    (first,) = store.save([(article(1), None)], now=NOW).outcomes
    batch = [article(n) for n in (5, 3, 9, 4)]
    report = store.save([(a, None) for a in batch], now=NOW)
    ids = [o.article_id for o in report.outcomes]
    assert len(set(ids)) == 4
    assert min(ids) > first.article_id
    for a, article_id in zip(batch, ids, strict=True):
        got = store.get(article_id)
        assert got is not None
        assert (got.key, got.title) == (a.key, a.title)


def test_a_text_that_is_the_summary_is_stored_once_and_read_back_whole(store: Store) -> None:
    from storage.search import search

    same = article(1, summary="Évasion à la prison civile", text="Évasion à la prison civile")
    (o,) = store.save([(same, None)], now=NOW).outcomes
    with store.engine.connect() as conn:
        raw = conn.execute(sa.text("SELECT summary, text FROM articles")).one()
    assert tuple(raw) == ("Évasion à la prison civile", "")
    got = store.get(o.article_id)
    assert got is not None
    assert (got.summary, got.text) == ("Évasion à la prison civile", "Évasion à la prison civile")
    assert [h.article.text for h in search(store.engine, "evasion")] == [got.text]


def test_the_same_guid_with_a_new_url_is_the_same_item(store: Store) -> None:
    store.save([(article(1), None)], now=NOW)
    moved = article(1, url="https://example.org/new-1", canonical_url="https://example.org/new-1")
    report = store.save([(moved, None)], now=NOW)
    assert report.outcomes[0].status == "seen"
    assert store.count() == 1


def test_an_edit_updates_in_place_and_is_searchable(store: Store) -> None:
    from storage.search import search

    (o,) = store.save([(article(1), None)], now=NOW).outcomes
    edited = article(1, text="Texte corrigé: évasion confirmée")
    verdict = Verdict(alert=True, categories=("prison_break",), score=2.5)
    report = store.save([(edited, verdict)], now=NOW)
    assert report.outcomes[0].status == "updated"
    stored = store.get(o.article_id)
    assert stored is not None
    assert stored.text == "Texte corrigé: évasion confirmée"
    assert stored.alert
    assert stored.categories == ("prison_break",)
    assert [h.article.id for h in search(store.engine, "evasion")] == [o.article_id]
    assert search(store.engine, "Texte de l'article") == []


def _fts_matches_rows(engine: sa.Engine) -> None:
    """FTS5's own check that its index holds exactly the rows' words (raises if not)."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO articles_fts(articles_fts, rank) VALUES ('integrity-check', 1)"
        )


def test_new_items_are_indexed_once_each(tmp_path: Path) -> None:
    from storage.search import search

    store = Store.open(f"sqlite:///{tmp_path}/v.db")
    try:
        store.save([(article(n), None) for n in range(1, 4)], now=NOW)
        store.save([(article(n), None) for n in range(3, 6)], now=NOW)  # 3 is seen again
        store.save([(article(2, text="Texte corrigé: évasion"), None)], now=NOW)
        _fts_matches_rows(store.engine)
        assert len(search(store.engine, "article")) == 4
        assert len(search(store.engine, "evasion")) == 1
    finally:
        store.close()


def test_a_database_from_before_batch_indexing_indexes_new_items_once(tmp_path: Path) -> None:
    from alembic import command

    from storage.search import search

    url = f"sqlite:///{tmp_path}/old.db"
    engine = db.connect(url)
    command.upgrade(db._alembic_config(engine), "0003")
    with engine.begin() as conn:  # as it was: a trigger indexed each new row
        triggers = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master")}
        assert "articles_fts_ai" in triggers
    engine.dispose()
    store = Store.open(url)  # migrates to the head
    try:
        store.save([(article(n), None) for n in range(1, 4)], now=NOW)
        _fts_matches_rows(store.engine)
        assert len(search(store.engine, "article")) == 3
    finally:
        store.close()


def test_a_copy_into_sqlite_is_searchable(tmp_path: Path) -> None:
    from storage.copy import copy_store
    from storage.search import search

    source = Store.open(f"sqlite:///{tmp_path}/a.db")
    try:
        source.save([(article(n), None) for n in range(1, 4)], now=NOW)
        target = db.connect(f"sqlite:///{tmp_path}/b.db")
        try:
            copy_store(source.engine, target)
            _fts_matches_rows(target)
            assert len(search(target, "article")) == 3
        finally:
            target.dispose()
    finally:
        source.close()


def test_another_outlet_carrying_the_same_url_is_recorded(store: Store) -> None:
    (o,) = store.save([(article(1), None)], now=NOW).outcomes
    report = store.save([(article(1, source="haitilibre"), None)], now=NOW)
    assert report.outcomes[0].status == "also"
    stored = store.get(o.article_id)
    assert stored is not None
    assert stored.outlets == ("alterpresse", "haitilibre")


def test_duplicates_within_one_batch_are_stored_once(store: Store) -> None:
    report = store.save([(article(1), None), (article(1), None)], now=NOW)
    assert [o.status for o in report.outcomes] == ["new", "seen"]
    assert store.count() == 1


def test_unchanged_keys(store: Store) -> None:
    store.save([(article(1), None), (article(2), None)], now=NOW)
    batch = [article(1), article(2, title="Changed"), article(3)]
    assert store.unchanged_keys(batch) == {article(1).key}


def test_poll_health_is_recorded(store: Store) -> None:
    store.sync_sources([("a", "feed", "https://a.example/feed")])
    ok = FetchResult("a", (), Validators('"e1"', "Mon, 04 Mar 2024 10:00:00 GMT"), 200)
    store.record_poll(ok, now=NOW, new_items=3)
    (st,) = store.source_states(["a"])
    assert st.etag == '"e1"'
    assert st.last_success_at == NOW
    assert st.items_total == 3
    assert st.failing_since is None
    bad = FetchResult("a", (), status=500, error="HTTP 500")
    later = NOW.replace(hour=13)
    store.record_poll(bad, now=later)
    store.record_poll(bad, now=later.replace(hour=14))
    (st,) = store.source_states(["a"])
    assert st.error_count == 2
    assert st.failing_since == later
    assert st.last_error == "HTTP 500"
    assert st.etag == '"e1"'  # a failure keeps the validators of the last success
    store.record_poll(ok, now=later.replace(hour=15))
    (st,) = store.source_states(["a"])
    assert st.error_count == 0
    assert st.failing_since is None


def test_a_changed_source_url_forgets_its_validators(store: Store) -> None:
    store.sync_sources([("a", "feed", "https://a.example/feed")])
    store.record_poll(FetchResult("a", (), Validators('"e1"', None), 200), now=NOW)
    store.sync_sources([("a", "feed", "https://a.example/rss")])
    assert store.validators()["a"] == Validators(None, None)


def test_a_second_connection_reads_while_one_writes(store: Store) -> None:
    store.save([(article(1), None)], now=NOW)
    reader = db.connect(store.engine.url.render_as_string(hide_password=False))
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE articles SET title='x'"))
        with reader.connect() as rconn:  # WAL: readers are not blocked by the open write
            assert rconn.execute(sa.text("SELECT count(*) FROM articles")).scalar() == 1
    reader.dispose()


def test_an_edit_within_one_batch_keeps_the_last_version(store: Store) -> None:
    report = store.save([(article(1), None), (article(1, text="Version corrigée"), None)], now=NOW)
    assert [o.status for o in report.outcomes] == ["new", "seen"]
    assert report.outcomes[0].article_id == report.outcomes[1].article_id
    stored = store.get(report.outcomes[0].article_id)
    assert stored is not None and stored.text == "Version corrigée"


def test_entities_are_indexed_and_replaced_on_edit(store: Store) -> None:
    from alerts.verdict import EntityHit

    def with_place(name: str) -> Verdict:
        hit = EntityHit("place", name, name, 0, len(name))
        return Verdict(alert=True, categories=("gang_attack",), entities=(hit,))

    (o,) = store.save([(article(1), with_place("Cabaret"))], now=NOW).outcomes
    store.save([(article(1, text="Corrigé"), with_place("Mirebalais"))], now=NOW)
    with store.engine.connect() as conn:
        names = conn.execute(
            sa.text("SELECT name FROM article_entities WHERE article_id = :a"),
            {"a": o.article_id},
        ).all()
    assert [tuple(n) for n in names] == [("Mirebalais",)]


def test_a_packed_verdict_is_stored_exactly_as_the_verdict_itself(store: Store) -> None:
    from alerts.verdict import EntityHit, Evidence

    doc = "Titre 1\n\nÉvasion à Mirebalais et à Hinche"
    verdict = Verdict(
        alert=True,
        categories=("prison_break",),
        score=3.5,
        entities=(
            EntityHit("place", "Mirebalais", "Mirebalais", 20, 30, "Centre", (18.83, -72.1)),
            EntityHit("place", "Hinche", "Hinche", 36, 42, "Centre", (19.14, -72.0)),
            EntityHit("place", "Mirebalais", "Mirebalais", 20, 30, "Centre", (18.83, -72.1)),
        ),
        evidence=(Evidence("prison_break", "évasion", "Évasion", 9, 16, 2.0),),
        notes=("a note",),
    )
    packed = PackedVerdict.of(verdict)
    assert packed.to_dict() == verdict.to_dict()
    saved = store.save(
        [(article(1, text=doc), verdict), (article(2, text=doc), packed)], now=NOW
    ).outcomes
    plain, from_packed = (store.get(o.article_id) for o in saved)
    assert plain is not None
    assert from_packed is not None
    assert from_packed.verdict == plain.verdict == verdict.to_dict()
    assert (from_packed.alert, from_packed.categories, from_packed.score) == (
        plain.alert,
        plain.categories,
        plain.score,
    )
    with store.engine.connect() as conn:
        entities = conn.execute(
            sa.text("SELECT article_id, kind, name FROM article_entities ORDER BY 1, 2, 3")
        ).all()
    ids = [o.article_id for o in saved]
    assert [tuple(e) for e in entities] == [
        (i, "place", n) for i in sorted(ids) for n in ("Hinche", "Mirebalais")
    ]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migrations_go_down_and_up_again(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from alembic import command

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/round.db"
    else:
        url = request.getfixturevalue("postgres_server").new_database(template=None)
    engine = db.connect(url)
    db.upgrade(engine)
    command.downgrade(db._alembic_config(engine), "base")
    assert sa.inspect(engine).get_table_names() == ["alembic_version"]
    assert db.upgrade(engine) is True
    assert {"articles", "articles_fts", "clusters", "alerts"} <= set(
        sa.inspect(engine).get_table_names()
    )
    engine.dispose()


def test_a_postgresql_role_without_rights_gets_a_clear_error(
    request: pytest.FixtureRequest,
) -> None:
    from storage.errors import DatabaseUnavailable

    server = request.getfixturevalue("postgres_server")
    url = server.new_database(template=None)
    role = "r_" + url.rsplit("/", 1)[1]
    server.execute(f"CREATE ROLE {role} LOGIN")
    reason = r"permission denied for schema public \(veye's role needs to own"
    with pytest.raises(DatabaseUnavailable, match=reason):
        Store.open(url.replace("//veye@", f"//{role}@"))


def test_a_source_is_claimed_by_one_worker_until_its_lease_runs_out(store: Store) -> None:
    store.sync_sources([("a", "feed", "https://a.example/feed")])
    until = NOW + timedelta(seconds=60)
    assert store.claim_source("a", "w1", now=NOW, until=until)
    # Another worker is refused while the lease holds; the holder may claim again.
    assert not store.claim_source("a", "w2", now=NOW + timedelta(seconds=30), until=until)
    assert store.claim_source("a", "w1", now=NOW + timedelta(seconds=30), until=until)
    assert store.held_by("w1", now=NOW) == ["a"]
    # The holder died: its lease runs out and the source is free.
    late = NOW + timedelta(seconds=61)
    assert store.claim_source("a", "w2", now=late, until=late + timedelta(seconds=60))
    assert store.held_by("w1", now=late) == []
    store.end_poll("a", "w2", keep=False)
    (state,) = store.source_states(["a"])
    assert (state.lease_owner, state.last_poll_by) == (None, "w2")


def test_a_source_not_due_is_not_claimed(store: Store) -> None:
    store.sync_sources([("a", "feed", "https://a.example/feed")])
    result = FetchResult("a", (), Validators(None, None), 200)
    store.record_poll(result, now=NOW, next_poll_at=NOW + timedelta(minutes=15))
    assert not store.claim_source("a", "w1", now=NOW, until=NOW + timedelta(seconds=60))
    # Unless the worker asks for sources overdue by then.
    due_by = NOW + timedelta(minutes=15)
    assert store.claim_source("a", "w1", now=NOW, until=NOW + timedelta(minutes=1), due_by=due_by)


def test_a_lease_is_held_by_one_worker_and_taken_over_when_not_renewed(store: Store) -> None:
    ttl = timedelta(seconds=30)
    assert store.claim_lease("operator", "w1", now=NOW, ttl=ttl)
    assert not store.claim_lease("operator", "w2", now=NOW + timedelta(seconds=10), ttl=ttl)
    assert store.claim_lease("operator", "w1", now=NOW + timedelta(seconds=20), ttl=ttl)
    assert not store.claim_lease("operator", "w2", now=NOW + timedelta(seconds=45), ttl=ttl)
    assert store.claim_lease("operator", "w2", now=NOW + timedelta(seconds=51), ttl=ttl)
    assert not store.claim_lease("operator", "w1", now=NOW + timedelta(seconds=52), ttl=ttl)
