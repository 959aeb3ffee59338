"""Clusters: one story, one alert. Exact duplicates, syndicated copies, rewrites of one event,
and look-alike events that must stay apart, on a corpus written for it
(``tests/data/clusters/corpus.jsonl``; its README says what each item is for)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from alerts.verdict import EntityHit, Verdict
from crawler.records import ArticleData
from storage.clusters import ClusterParams, assign, get_cluster, list_clusters
from storage.items import save_items
from storage.records import ClusterChange
from storage.schema import articles, signature_bands, signature_bands_recent
from storage.store import Store
from veye.pipeline import process

CORPUS = Path(__file__).parent / "data" / "clusters" / "corpus.jsonl"


@dataclass(frozen=True)
class Item:
    """One corpus line: the item, the verdict a filter would give it, and its event."""

    id: str
    event: str
    batch: int
    article: ArticleData
    verdict: Verdict


def load_corpus() -> list[Item]:
    out = []
    for line in CORPUS.read_text("utf-8").splitlines():
        raw = json.loads(line)
        article = ArticleData(
            source=raw["source"],
            url=raw["url"],
            canonical_url=raw["url"],
            guid=raw["guid"],
            title=raw["title"],
            summary="",
            text=raw["text"],
            language=raw["language"],
            published=datetime.fromisoformat(raw["published"]),
        )
        out.append(Item(raw["id"], raw["event"], raw["batch"], article, _verdict(raw, article)))
    return out


def _verdict(raw: dict[str, Any], article: ArticleData) -> Verdict:
    """The corpus verdict as a filter would give it: entities located in title + text."""
    classified = f"{article.title}\n{article.text}"
    hits = []
    for e in raw["verdict"]["entities"]:
        start = classified.casefold().find(e["surface"].casefold())
        assert start >= 0, f"{raw['id']}: {e['surface']!r} is not in the text"
        hits.append(
            EntityHit(
                kind=e["kind"],
                name=e["name"],
                surface=e["surface"],
                start=start,
                end=start + len(e["surface"]),
                department=e.get("department"),
            )
        )
    v = raw["verdict"]
    return Verdict(
        alert=v["alert"],
        categories=tuple(v["categories"]),
        score=3.0 if v["alert"] else 0.2,
        entities=tuple(hits),
    )


def batches(corpus: Sequence[Item]) -> Iterator[tuple[datetime, list[Item]]]:
    """The corpus in polls, each seen half an hour after its latest item was published."""
    for n in sorted({i.batch for i in corpus}):
        batch = [i for i in corpus if i.batch == n]
        latest = max(i.article.published for i in batch if i.article.published)
        yield latest + timedelta(minutes=30), batch


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def run(
    store: Store, items: Sequence[tuple[ArticleData, Verdict | None]], now: datetime, **params: Any
) -> tuple[ClusterChange, ...]:
    """Save and cluster one batch in one transaction, as the pipeline does."""
    with store.transaction() as conn:
        saved = save_items(conn, items, now=now)
        return assign(conn, saved, items, now=now, settings=ClusterParams(**params))


def cluster_of(store: Store, article: ArticleData) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(articles.c.cluster_id).where(articles.c.key == article.key)
            ).scalar_one()
        )


def load_all(store: Store, **params: Any) -> tuple[dict[str, int], list[ClusterChange]]:
    corpus = load_corpus()
    changes: list[ClusterChange] = []
    for now, batch in batches(corpus):
        changes += run(store, [(i.article, i.verdict) for i in batch], now, **params)
    return {i.id: cluster_of(store, i.article) for i in corpus}, changes


# -- the corpus --------------------------------------------------------------------------------


def test_one_cluster_and_one_alert_per_event(store: Store) -> None:
    corpus = load_corpus()
    clusters, changes = load_all(store)
    events = {i.event for i in corpus}
    assert len(set(clusters.values())) == len(events) == 10
    by_event: dict[str, set[int]] = defaultdict(set)
    for i in corpus:
        by_event[i.event].add(clusters[i.id])
    assert all(len(ids) == 1 for ids in by_event.values()), by_event
    # Every pair: same event ⇔ same cluster.
    for a, b in combinations(corpus, 2):
        same = clusters[a.id] == clusters[b.id]
        assert same == (a.event == b.event), f"{a.id} vs {b.id}"
    alerting_events = {i.event for i in corpus if i.verdict.alert}
    became = [c for c in changes if c.became_alert]
    assert len(became) == len(alerting_events) == 6
    assert {c.cluster_id for c in became} == {by_event[e].pop() for e in alerting_events}


def test_which_pairs_merge_and_why(store: Store) -> None:
    clusters, changes = load_all(store)
    via = {(c.article_id, c.kind): c.via for c in changes}
    ids = _article_ids(store)

    # The wire story under another headline, byline and footer: a copy.
    assert clusters["A1"] == clusters["A2"]
    assert via[(ids["A2"], "joined")] == "copy"
    # An aggregator copy the filter missed still joins, by its text.
    assert clusters["A3"] == clusters["A1"]
    assert via[(ids["A3"], "joined")] == "copy"
    # Rewrites in French and Creole (the prison standing for its town): the same event.
    for rewrite in ("A5", "A6", "A7"):
        assert clusters[rewrite] == clusters["A1"]
        assert via[(ids[rewrite], "joined")] == "event"
    # A non-alerting story copied by another outlet: one cluster too.
    assert clusters["G1"] == clusters["G2"]

    # Same day, same gang, another commune: two events.
    assert clusters["B1"] != clusters["A1"]
    # A Cabaret report naming Mirebalais in passing joins Cabaret, not Mirebalais.
    assert clusters["B2"] == clusters["B3"] == clusters["B1"]
    # The same town a week later: a new event.
    assert clusters["C1"] != clusters["A1"]
    assert clusters["C1"] == clusters["C2"]
    # Same town, same day, but it does not alert: never joins by entities.
    assert clusters["D"] != clusters["A1"]
    # Only the capital in common: two neighbourhoods, two events; the capital alone, a third.
    assert len({clusters["E1"], clusters["E2"], clusters["F"]}) == 3
    # A long shared footer does not make two stories copies.
    assert clusters["H1"] != clusters["H2"]


def test_the_event_cluster_counts_items_and_outlets(store: Store) -> None:
    clusters, changes = load_all(store)
    ids = _article_ids(store)
    with store.engine.connect() as conn:
        detail = get_cluster(conn, clusters["A1"])
    assert detail is not None
    assert detail.cluster.alert
    assert detail.cluster.categories == ("gang_attack", "prison_break")
    assert detail.cluster.items == 6  # A1, A2, A3, A5, A6, A7 (A4 is A1 again, A5u is A5)
    assert detail.cluster.outlets == 7
    assert set(detail.outlets) == {
        "ap",
        "miamiherald",
        "newsaggregator",
        "haitilibre",
        "haitinewsnow",
        "radiorfm",
        "lenouvelliste",
    }
    assert next(m.via for m in detail.members) == "start"
    # The last change on the cluster reports its state after it, and before.
    last = [c for c in changes if c.cluster_id == clusters["A1"]][-1]
    assert last.outlets == 7
    assert last.items == 6
    # The feed carrying the wire's own link: an outlet, not an item, and no second alert.
    (outlet,) = [c for c in changes if c.kind == "outlet"]
    assert outlet.article_id == ids["A1"]
    assert (outlet.previous_outlets, outlet.outlets) == (2, 3)
    assert outlet.alert
    assert not outlet.became_alert


def test_an_edit_is_a_revision_not_a_new_alert(store: Store) -> None:
    clusters, changes = load_all(store)
    ids = _article_ids(store)
    (update,) = [c for c in changes if c.kind == "updated"]
    assert update.article_id == ids["A5"] == ids["A5u"]
    assert update.cluster_id == clusters["A1"]
    assert not update.became_alert
    stored = store.get(ids["A5"])
    assert stored is not None
    assert "Mise à jour 18 h" in stored.text
    with store.engine.connect() as conn:
        revisions = conn.execute(
            sa.select(articles.c.revisions).where(articles.c.id == ids["A5"])
        ).scalar_one()
    assert revisions == 1


def test_through_the_pipeline(store: Store) -> None:
    """The real ``veye.pipeline.process``, with a stand-in filter giving the corpus verdicts:
    flagged items are many, alerts owed are one per event."""
    corpus = load_corpus()
    verdicts = {(i.article.title, i.article.text): i.verdict for i in corpus}

    class CorpusFilter:
        calls = 0

        def classify(self, title: str, text: str, language: str | None = None) -> Verdict:
            CorpusFilter.calls += 1
            return verdicts[(title, text)]

    owed: list[ClusterChange] = []

    class Planner:
        def enqueue(
            self, conn: sa.Connection, changes: Sequence[ClusterChange], *, now: datetime
        ) -> int:
            new = [c for c in changes if c.became_alert]
            owed.extend(new)
            return len(new)

    total = 0
    for now, batch in batches(corpus):
        report = process(
            store,
            CorpusFilter(),
            [i.article for i in batch],
            now=now,
            planner=Planner(),
            clustering=ClusterParams(),
        )
        total += report.owed
    alerting_events = {i.event for i in corpus if i.verdict.alert}
    assert total == len(owed) == len(alerting_events)
    assert len({c.cluster_id for c in owed}) == len(alerting_events)
    # Polled again (A5 now in its edited form), nothing is classified, stored or owed again.
    calls = CorpusFilter.calls
    for now, batch in batches(corpus):
        current = [i.article for i in batch if i.id != "A5"]
        again = process(store, CorpusFilter(), current, now=now, planner=Planner())
        assert again.owed == 0
        assert again.changes == ()
    assert CorpusFilter.calls == calls


# -- exact duplicates --------------------------------------------------------------------------

NOW = datetime(2024, 3, 30, 12, 0, tzinfo=UTC)
BODY = (
    "Des gangs armés ont attaqué la commune de Mirebalais dans la nuit de vendredi à samedi, "
    "incendiant le commissariat et plusieurs maisons, selon des habitants joints par téléphone. "
    "La police affirme que la situation est sous contrôle."
)
ALERT = Verdict(
    alert=True,
    categories=("gang_attack",),
    score=3.0,
    entities=(EntityHit("place", "Mirebalais", "Mirebalais", 0, 10, "Centre"),),
)


def art(n: int, source: str = "a", **changes: Any) -> ArticleData:
    base = ArticleData(
        source=source,
        url=f"https://{source}.example/{n}",
        canonical_url=f"https://{source}.example/{n}",
        guid=f"{source}-{n}",
        title=f"Titre {n}",
        summary="",
        text=f"{BODY} Article {n}.",
        language="fr",
        published=NOW,
    )
    return replace(base, **changes)


def test_the_same_link_in_two_feeds_is_one_item_and_one_more_outlet(store: Store) -> None:
    (first,) = run(store, [(art(1), ALERT)], NOW)
    assert (first.kind, first.became_alert, first.outlets) == ("new", True, 1)
    other_feed = art(1, guid="x-99", source="b", url="https://a.example/1?utm_source=rss")
    other_feed = replace(other_feed, canonical_url="https://a.example/1")
    (again,) = run(store, [(other_feed, ALERT)], NOW)
    assert (again.kind, again.cluster_id, again.became_alert) == ("outlet", first.cluster_id, False)
    assert (again.previous_outlets, again.outlets, again.items) == (1, 2, 1)
    assert store.count() == 1
    # The same feed again: nothing to say.
    assert run(store, [(other_feed, ALERT)], NOW) == ()


def test_the_same_guid_under_a_new_link_is_the_same_item(store: Store) -> None:
    run(store, [(art(1), ALERT)], NOW)
    moved = art(1, url="https://a.example/new", canonical_url="https://a.example/new")
    assert run(store, [(moved, ALERT)], NOW) == ()
    assert store.count() == 1


def test_an_edit_that_makes_the_cluster_alert_says_so_once(store: Store) -> None:
    quiet = Verdict(alert=False)
    (first,) = run(store, [(art(1), quiet)], NOW)
    assert not first.became_alert
    edited = art(1, text=BODY + " Bilan : trois morts.")
    (update,) = run(store, [(edited, ALERT)], NOW + timedelta(hours=1))
    assert (update.kind, update.became_alert, update.alert) == ("updated", True, True)
    edited_again = art(1, text=BODY + " Bilan : quatre morts.")
    (later,) = run(store, [(edited_again, ALERT)], NOW + timedelta(hours=2))
    assert (later.kind, later.became_alert, later.alert) == ("updated", False, True)
    assert store.count() == 1


# -- copies ------------------------------------------------------------------------------------


def test_copies_in_one_batch_find_each_other(store: Store) -> None:
    copy = art(2, source="b", title="Autre titre", text="Par la rédaction. " + art(1).text)
    first, second = run(store, [(art(1), None), (copy, None)], NOW)
    assert (first.kind, second.kind, second.via) == ("new", "joined", "copy")
    assert second.cluster_id == first.cluster_id
    assert (second.previous_outlets, second.outlets, second.items) == (1, 2, 2)
    assert not second.alert  # neither alerted


def test_a_copy_that_alerts_makes_its_cluster_alert(store: Store) -> None:
    (first,) = run(store, [(art(1), Verdict(alert=False))], NOW)
    copy = art(2, source="b", text=art(1).text + " Lire aussi nos autres articles.")
    (joined,) = run(store, [(copy, ALERT)], NOW)
    assert (joined.kind, joined.cluster_id, joined.became_alert) == (
        "joined",
        first.cluster_id,
        True,
    )


def band_rows(conn: sa.Connection, table: sa.Table | None = None) -> int:
    """Band rows in ``table``, or in both band tables."""
    tables = [table] if table is not None else [signature_bands, signature_bands_recent]
    return sum(
        conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for t in tables
    )


def test_copies_are_found_on_both_sides_of_a_band_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage import signatures

    # Merged as soon as two items' bands are waiting: the first two stories end up in the big
    # table, the third waits in the small one.
    monkeypatch.setattr(signatures, "MERGE_ROWS", 2 * 32)
    store = Store.open(f"sqlite:///{tmp_path}/v.db")
    try:
        # Three unrelated stories (no run of four words in common).
        first = [
            art(n, text=" ".join(f"mot{n}x{k}" for k in range(60)) + ".") for n in (1, 2, 3)
        ]
        started = [run(store, [(a, None)], NOW)[0] for a in first]
        with store.engine.connect() as conn:
            assert band_rows(conn, signature_bands) == 64
            assert band_rows(conn, signature_bands_recent) == 32
        # A copy of each: the merged ones are found in the big table, the last in the small.
        copies = [
            replace(
                a,
                source="b",
                url=f"https://b.example/{n}",
                canonical_url=f"https://b.example/{n}",
                guid=f"b{n}",
                title="Repris",
                text=a.text + " Source : AP.",
            )
            for n, a in enumerate(first)
        ]
        joined = [run(store, [(c, None)], NOW + timedelta(hours=1))[0] for c in copies]
        assert [(j.via, j.cluster_id) for j in joined] == [
            ("copy", s.cluster_id) for s in started
        ]
        # An edit replaces the item's bands wherever they were.
        edited = replace(first[0], text="Un tout autre texte, sans rapport avec le premier. " * 5)
        run(store, [(edited, None)], NOW + timedelta(hours=2))
        with store.engine.connect() as conn:
            assert band_rows(conn) == 32 * 6
    finally:
        store.close()


def test_stories_alone_are_found_as_such() -> None:
    from storage.clusters import _alone

    table = np.array([[1, 2, 3], [4, 5, 6], [7, 5, 9], [10, 11, 12], [13, 14, 15]], np.int64)
    # Rows 1 and 2 share band 1's hash; row 3 shares band 2's with a stored item.
    stored = {(2, 12): [99], (0, 2): [98]}  # (0, 2): another band's hash, no match
    assert _alone(table, stored).tolist() == [True, False, False, False, True]
    assert _alone(np.zeros((0, 3), np.int64), stored).tolist() == []


def test_skipping_stories_alone_changes_no_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The labelled corpus (copies, events, unrelated stories) clusters the same with the
    shortcut for stories that share no band, and with every story looked up in full."""
    from storage import clusters as clusters_module

    quick = Store.open(f"sqlite:///{tmp_path}/quick.db")
    try:
        quick_ids, quick_changes = load_all(quick)
    finally:
        quick.close()
    seen: list[bool] = []
    real = clusters_module._alone

    def nobody_alone(table: Any, db_bands: Any) -> Any:
        found = real(table, db_bands)
        seen.extend(found.tolist())
        return np.zeros(len(table), dtype=bool)

    monkeypatch.setattr(clusters_module, "_alone", nobody_alone)
    full = Store.open(f"sqlite:///{tmp_path}/full.db")
    try:
        full_ids, full_changes = load_all(full)
    finally:
        full.close()
    assert any(seen) and not all(seen)  # the shortcut had stories to skip, and others
    assert quick_ids == full_ids
    assert quick_changes == full_changes


def test_signatures_survive_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/v.db"
    first = Store.open(url)
    (started,) = run(first, [(art(1), None)], NOW)
    first.close()
    reopened = Store.open(url)
    try:
        with reopened.engine.connect() as conn:
            assert band_rows(conn) == 32
        copy = art(2, source="b", title="Republié", text=art(1).text + " Source : AP.")
        (joined,) = run(reopened, [(copy, None)], NOW + timedelta(hours=3))
        assert (joined.kind, joined.via, joined.cluster_id) == (
            "joined",
            "copy",
            started.cluster_id,
        )
    finally:
        reopened.close()


def test_a_copy_beyond_the_copy_window_is_news_again(store: Store) -> None:
    (_first,) = run(store, [(art(1), None)], NOW)
    later = NOW + timedelta(days=8)
    copy = art(2, source="b", published=later)
    (change,) = run(store, [(copy, None)], later, copy_window=timedelta(days=7))
    assert change.kind == "new"
    copy3 = art(3, source="c", published=NOW + timedelta(days=6))
    (near,) = run(store, [(copy3, None)], later, copy_window=timedelta(days=7))
    assert (near.kind, near.via) == ("joined", "copy")


def test_the_similarity_threshold_is_configurable(store: Store) -> None:
    run(store, [(art(1), None)], NOW)
    copy = art(2, source="b", text=art(1).text + " Lire aussi : " + " ".join(["mot"] * 40))
    (change,) = run(store, [(copy, None)], NOW, similarity=0.9)
    assert change.kind == "new"


def test_short_texts_get_no_signature(store: Store) -> None:
    a, b = (
        art(1, text="Texte de la nouvelle numéro 1."),
        art(2, text="Texte de la nouvelle numéro 1."),
    )
    first, second = run(store, [(a, None), (b, None)], NOW)
    assert first.cluster_id != second.cluster_id


# -- events ------------------------------------------------------------------------------------


def report(
    n: int, published: datetime, place: str = "Mirebalais", **verdict: Any
) -> tuple[ArticleData, Verdict]:
    """A differently worded alerting report of an attack on ``place``."""
    words = " ".join(f"w{n}x{k}" for k in range(25))
    article = art(n, source=f"s{n}", title=f"{place} attaqué", text=words, published=published)
    fields: dict[str, Any] = {
        "alert": True,
        "categories": ("gang_attack",),
        "entities": (EntityHit("place", place, place, 0, len(place), None),),
    }
    fields.update(verdict)
    return article, Verdict(**fields)


def test_the_event_window_is_measured_from_the_first_report(store: Store) -> None:
    (first,) = run(store, [report(1, NOW)], NOW)
    (inside,) = run(store, [report(2, NOW + timedelta(hours=47))], NOW + timedelta(hours=48))
    assert (inside.kind, inside.via, inside.cluster_id) == ("joined", "event", first.cluster_id)
    # 49 h after the first report: even though 2 h after the second, a new event.
    (outside,) = run(store, [report(3, NOW + timedelta(hours=49))], NOW + timedelta(hours=50))
    assert outside.kind == "new"
    assert outside.became_alert
    # A late report of the first event, published before it, joins it.
    (late,) = run(store, [report(4, NOW - timedelta(hours=5))], NOW + timedelta(hours=51))
    assert late.cluster_id == first.cluster_id
    # A shorter window, from the config.
    (short,) = run(
        store,
        [report(5, NOW + timedelta(hours=3))],
        NOW + timedelta(hours=52),
        window=timedelta(hours=2),
    )
    assert short.kind == "new"


def test_events_need_a_shared_category(store: Store) -> None:
    (_first,) = run(store, [report(1, NOW)], NOW)
    (other,) = run(store, [report(2, NOW, categories=("prison_break",))], NOW)
    assert other.kind == "new"


def test_without_a_publication_time_first_seen_counts(store: Store) -> None:
    (first,) = run(store, [report(1, NOW)], NOW)
    article, verdict = report(2, NOW)
    (undated,) = run(store, [(replace(article, published=None), verdict)], NOW + timedelta(hours=1))
    assert undated.cluster_id == first.cluster_id
    (much_later,) = run(
        store, [(replace(report(3, NOW)[0], published=None), verdict)], NOW + timedelta(days=3)
    )
    assert much_later.kind == "new"


def test_a_publication_time_in_the_future_counts_as_now(store: Store) -> None:
    (first,) = run(store, [report(1, NOW)], NOW)
    # Stamped 5 days ahead by a wrong clock, seen an hour after the first: the same event.
    (ahead,) = run(store, [report(2, NOW + timedelta(days=5))], NOW + timedelta(hours=1))
    assert ahead.cluster_id == first.cluster_id


def test_generic_places_are_configurable(store: Store) -> None:
    run(store, [report(1, NOW, place="Port-au-Prince")], NOW)
    (default,) = run(store, [report(2, NOW, place="Port-au-Prince")], NOW)
    assert default.kind == "new"
    (a,) = run(store, [report(3, NOW, place="Delmas")], NOW, generic_places=("Delmas",))
    (b,) = run(store, [report(4, NOW, place="Delmas")], NOW, generic_places=("Delmas",))
    assert a.cluster_id != b.cluster_id
    (c,) = run(store, [report(5, NOW, place="Port-au-Prince")], NOW, generic_places=())
    (d,) = run(store, [report(6, NOW, place="Port-au-Prince")], NOW, generic_places=())
    assert c.cluster_id == d.cluster_id


def test_require_gang_keeps_rival_gangs_apart(store: Store) -> None:
    def gang(n: int, name: str) -> tuple[ArticleData, Verdict]:
        return report(
            n,
            NOW,
            entities=(
                EntityHit("place", "Mirebalais", "Mirebalais", 0, 10, "Centre"),
                EntityHit("gang", name, name, 20, 20 + len(name)),
            ),
        )

    (first,) = run(store, [gang(1, "Viv Ansanm")], NOW, require_gang=True)
    (rival,) = run(store, [gang(2, "Gran Grif")], NOW, require_gang=True)
    assert rival.kind == "new"
    (same,) = run(store, [gang(3, "Viv Ansanm")], NOW, require_gang=True)
    assert same.cluster_id == first.cluster_id
    (unnamed,) = run(store, [report(4, NOW)], NOW, require_gang=True)
    assert unnamed.kind == "joined"
    # Without the option, the place decides.
    (loose,) = run(store, [gang(5, "Gran Grif")], NOW)
    assert loose.kind == "joined"


# -- reading -----------------------------------------------------------------------------------


def test_list_and_show(store: Store) -> None:
    clusters, _ = load_all(store)
    with store.engine.connect() as conn:
        alerted = list_clusters(conn, alerted=True, limit=50)
        everything = list_clusters(conn, limit=50)
        assert get_cluster(conn, 10_000) is None
    assert len(alerted) == 6
    assert len(everything) == 10
    assert clusters["A1"] in {c.id for c in alerted}
    assert clusters["D"] not in {c.id for c in alerted}


def _article_ids(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        by_key = {r.key: r.id for r in conn.execute(sa.select(articles.c.key, articles.c.id))}
    return {i.id: by_key[i.article.key] for i in load_corpus()}
