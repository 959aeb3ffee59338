from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.verdict import Verdict
from crawler.records import ArticleData
from storage.errors import InvalidSearchQuery
from storage.search import SearchFilters, search, to_fts_query
from storage.store import Store
from tests.test_store import NOW, article


@pytest.fixture
def store(db_url: str) -> Store:
    s = Store.open(db_url)
    flagged = Verdict(alert=True, categories=("prison_break",), score=3.0)
    s.save(
        [
            (
                article(
                    1,
                    title="Évasion massive à la prison de Mirebalais",
                    text="Des détenus se sont évadés.",
                    published=NOW - timedelta(days=10),
                ),
                flagged,
            ),
            (
                article(
                    2,
                    title="Attaque à Port-au-Prince",
                    text="Des gangs ont attaqué Solino.",
                    source="haitilibre",
                    language="fr",
                    published=NOW,
                ),
                None,
            ),
            (
                article(
                    3,
                    title="Gangs attack Cabaret",
                    text="Armed gangs attacked the town.",
                    language="en",
                    published=NOW - timedelta(days=1),
                ),
                None,
            ),
            (
                article(
                    4,
                    title="Budget",
                    text="Le budget de la prison est en débat; évasion fiscale.",
                    published=NOW,
                ),
                None,
            ),
        ],
        now=NOW,
    )
    yield s  # type: ignore[misc]
    s.close()


def ids(store: Store, query: str, **filters: object) -> list[int]:
    return [h.article.id for h in search(store.engine, query, SearchFilters(**filters))]  # type: ignore[arg-type]


def test_accents_do_not_matter(store: Store) -> None:
    assert set(ids(store, "evasion")) == {1, 4}
    assert set(ids(store, "ÉVASION")) == {1, 4}


def test_title_matches_rank_first(store: Store) -> None:
    assert ids(store, "evasion")[0] == 1


def test_phrases_prefixes_and_boolean_operators(store: Store) -> None:
    assert ids(store, '"prison de Mirebalais"') == [1]
    assert set(ids(store, "attaq*")) == {2}
    assert set(ids(store, "gangs NOT Cabaret")) == {2}
    assert set(ids(store, "Solino OR Cabaret")) == {2, 3}


def test_words_with_hyphens_are_searchable(store: Store) -> None:
    assert ids(store, "Port-au-Prince") == [2]


def test_filters(store: Store) -> None:
    assert ids(store, "prison", category="prison_break") == [1]
    assert ids(store, "gangs", language="en") == [3]
    assert ids(store, "gangs OR evasion", sources=("haitilibre",)) == [2]
    assert set(ids(store, "gangs OR evasion OR budget", since=NOW - timedelta(days=2))) == {2, 3, 4}
    assert ids(store, "gangs OR evasion", until=NOW - timedelta(days=5)) == [1]
    assert ids(store, "prison", alerted=True) == [1]
    assert len(ids(store, "gangs OR evasion OR budget", limit=2)) == 2


def test_snippets_mark_the_match(store: Store) -> None:
    (hit,) = search(store.engine, "Solino")
    assert "[Solino]" in hit.snippet


@pytest.mark.parametrize("bad", ["", "   ", '""'])
def test_an_empty_query_is_a_typed_error(bad: str) -> None:
    with pytest.raises(InvalidSearchQuery, match="empty search"):
        to_fts_query(bad)


def test_a_syntax_error_is_a_typed_error(store: Store) -> None:
    with pytest.raises(InvalidSearchQuery, match="cannot search"):
        search(store.engine, "prison AND")


def test_since_is_utc_aware(store: Store) -> None:
    assert ids(store, "budget", since=datetime(2024, 3, 4, tzinfo=UTC)) == [4]


# -- one row per cluster ---------------------------------------------------------------------

WIRE = (
    "Des gangs armés ont attaqué samedi la prison civile de Mirebalais et libéré plus de cinq "
    "cents détenus, selon la police, qui a envoyé des renforts dans la commune du Centre."
)


@pytest.fixture
def clustered(db_url: str) -> Store:
    """A wire story carried by three outlets (one a copy with its own footer) and an
    unrelated story; clustered as the pipeline does."""
    from storage.clusters import assign
    from storage.items import save_items

    s = Store.open(db_url)
    items: list[tuple[ArticleData, Verdict | None]] = [
        (article(1, title="Mirebalais : attaque de la prison", text=WIRE, source="ap"), None),
        (
            article(2, title="Haïti : évasion", text=WIRE + " Tous droits réservés.", source="hl"),
            None,
        ),
        (article(1, title="Mirebalais : attaque de la prison", text=WIRE, source="agg"), None),
        (
            article(
                3, title="Budget de Mirebalais", text="La mairie de Mirebalais vote son budget."
            ),
            None,
        ),
    ]
    with s.transaction() as conn:
        assign(conn, save_items(conn, items, now=NOW), items, now=NOW)
    yield s  # type: ignore[misc]
    s.close()


def test_one_hit_per_cluster_by_default(clustered: Store) -> None:
    hits = search(clustered.engine, "Mirebalais")
    assert len(hits) == 2
    story = next(h for h in hits if h.cluster_items == 2)
    # The best-ranked item stands for its cluster: the title match.
    assert story.article.title == "Mirebalais : attaque de la prison"
    assert (story.cluster_outlets, story.matched) == (3, 2)
    assert set(story.article.outlets) == {"ap", "agg"}
    assert story.cluster_id is not None


def test_every_item_on_request(clustered: Store) -> None:
    grouped = search(clustered.engine, "Mirebalais OR evasion")
    every = search(clustered.engine, "Mirebalais OR evasion", SearchFilters(by_cluster=False))
    assert len(grouped) == 2
    assert len(every) == 3
    assert len({h.cluster_id for h in every}) == 2


def test_filters_apply_before_grouping(clustered: Store) -> None:
    # Only the copy carried by "hl" matches the source filter: it stands for the cluster.
    (hit,) = search(clustered.engine, "Mirebalais OR evasion", SearchFilters(sources=("hl",)))
    assert hit.article.source == "hl"
    assert hit.matched == 1
    assert hit.cluster_outlets == 3


def test_one_hit_per_cluster_when_the_best_matches_are_one_big_story(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """70 reports of one story outrank everything else: the page still holds the next story
    (found by grouping every match), and counts the story's 70 matching reports."""
    from storage import search as search_module
    from storage.schema import articles, clusters

    report = store.save(
        [
            (article(100 + i, title=f"Kanaval: défilé {i}", text="Kanaval kanaval kanaval"), None)
            for i in range(70)
        ]
        + [(article(200, title="Budget", text="Un mot sur le kanaval, en passant."), None)],
        now=NOW,
    )
    big = [o.article_id for o in report.outcomes[:70]]
    with store.transaction() as conn:
        cluster = conn.execute(
            clusters.insert()
            .values(created_at=NOW, updated_at=NOW, title="Kanaval", items=70, outlets=1)
            .returning(clusters.c.id)
        ).scalar_one()
        conn.execute(articles.update().where(articles.c.id.in_(big)).values(cluster_id=cluster))

    calls = []
    window = search_module._page_by_window

    def spy(*args: object) -> object:
        calls.append(args)
        return window(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(search_module, "_page_by_window", spy)
    hits = search(store.engine, "kanaval", SearchFilters(limit=2))
    assert calls, "the page needed grouping every match"
    assert hits[0].cluster_id == cluster
    assert hits[0].matched == 70
    assert hits[1].article.id == report.outcomes[70].article_id and hits[1].matched == 1

    # A page the best matches hold is found without grouping them all, and is the same.
    calls.clear()
    few = search(store.engine, "kanaval", SearchFilters(limit=1))
    assert not calls
    assert [(h.article.id, h.matched) for h in few] == [(hits[0].article.id, 70)]
