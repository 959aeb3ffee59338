"""Properties of the packaged filter over generated texts."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.classify import Filter
from alerts.normalize import fold


@lru_cache(maxsize=1)
def _filter() -> Filter:
    return Filter.load()


_FRAGMENTS = [
    # events, anchors and look-alikes in three languages
    "Des bandits armés ont attaqué Mirebalais",
    "la prison civile a été prise pour cible",
    "plus de 500 détenus se sont évadés",
    "le gang Gran Grif a incendié le commissariat de Liancourt",
    "au moins 12 personnes ont été tuées à Cité Soleil",
    "Bandi yo atake Kwadebouke",
    "plis pase 170 prizonye sove nan prizon Akayè",
    "yo touye 5 moun nan Matisan",
    "More than 170 inmates escaped a Haitian prison",
    "Gunmen kidnapped 17 missionaries near Ganthier",
    "Viv Ansanm gangs stormed Pétion-Ville",
    "a ransomware gang attacked the servers",
    "the TV series Prison Break returns on Netflix",
    "inmates escaped from a prison in Guayaquil, Ecuador",
    "les Grenadiers ont marqué en fin de match",
    "le séisme a fait 300 morts dans le Sud",
    "le gouvernement a présenté le budget",
    "Haïti célèbre son carnaval à Jacmel",
    "gouvènman an pale sou edikasyon",
    "the price of rice rose in the markets",
    "Évasion à la prison de Hinche",
    "Kidnapping à Tabarre : un médecin enlevé",
]


@lru_cache(maxsize=1)
def _case_free_fragments() -> list[str]:
    """Fragments naming no case-sensitive alias: for those, case cannot matter by design."""
    gazetteer = _filter().gazetteer
    cased = {a.pattern for e in gazetteer.entities for a in e.aliases if a.case_sensitive}
    free = []
    for fragment in _FRAGMENTS:
        words = f" {fold(fragment)} "
        if not any(f" {pattern} " in words for pattern in cased):
            free.append(fragment)
    assert len(free) >= 15
    return free


_LANGUAGE = st.sampled_from(["fr", "ht", "en", None])


def _texts(pool: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(pool), min_size=1, max_size=6).map(". ".join)


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


@settings(max_examples=60, deadline=None, database=None)
@given(text=_texts(_FRAGMENTS), language=_LANGUAGE)
def test_stripping_accents_never_changes_the_verdict(text: str, language: str | None) -> None:
    f = _filter()
    before = f.classify("", text, language)
    after = f.classify("", _strip_accents(text), language)
    assert (after.alert, after.categories) == (before.alert, before.categories)


@settings(max_examples=60, deadline=None, database=None)
@given(data=st.data(), language=_LANGUAGE)
def test_changing_case_never_changes_the_verdict(data: st.DataObject, language: str | None) -> None:
    text = data.draw(_texts(_case_free_fragments()))
    f = _filter()
    before = f.classify("", text, language)
    for changed in (text.upper(), text.lower(), text.swapcase()):
        after = f.classify("", changed, language)
        assert (after.alert, after.categories) == (before.alert, before.categories)


_NOISE = st.text(alphabet=st.sampled_from(list(" -'’«»()\n\u00adéÉ.,")), max_size=3)


@settings(max_examples=60, deadline=None, database=None)
@given(
    title=_texts(_FRAGMENTS),
    parts=st.lists(st.tuples(st.sampled_from(_FRAGMENTS), _NOISE), min_size=1, max_size=5),
)
def test_every_offset_points_at_its_surface(title: str, parts: list[tuple[str, str]]) -> None:
    text = "".join(fragment + noise for fragment, noise in parts)
    verdict = _filter().classify(title, text)
    doc = title + "\n\n" + text
    for item in (*verdict.evidence, *verdict.entities, *verdict.figures):
        assert doc[item.start : item.end] == item.surface
        assert re.search(r"\w", item.surface)
