from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.verdict import Verdict
from storage.errors import InvalidSearchQuery
from storage.search import SearchFilters, search, to_fts_query
from storage.store import Store
from tests.test_store import NOW, article


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(f"sqlite:///{tmp_path}/v.db")
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
