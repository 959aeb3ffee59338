"""The classifier, feature by feature, on short texts written for these tests.

Each feature is exercised with a tiny rule set and gazetteer so that one rule decides the
outcome; the last tests run the packaged rules on a few items in each language.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from alerts.classify import Filter
from alerts.verdict import Verdict

_GAZETTEER = """\
entities:
  - {kind: place, name: Haïti, type: country, coordinates: [18.97, -72.29], aliases: [Ayiti]}
  - {kind: place, name: Mirebalais, department: Centre, coordinates: [18.83, -72.10],
     aliases: [Mibalè]}
  - {kind: prison, name: Prison civile de Mirebalais, department: Centre,
     coordinates: [18.835, -72.105]}
  - {kind: gang, name: Gran Grif}
"""


@pytest.fixture(scope="module")
def gazetteer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gaz") / "mini.yaml"
    path.write_text(_GAZETTEER, "utf-8")
    return path


def _category(**overrides: Any) -> dict[str, Any]:
    category: dict[str, Any] = {
        "threshold": 3,
        "terms": {
            "strong": {
                "weight": 2,
                "fr": ["évasion", "attaque"],
                "ht": ["touye"],
                "en": ["escape"],
            },
            "weak": {"weight": 1, "any": ["prison", {"bandits armés": 1.5}]},
        },
    }
    category.update(overrides)
    return category


def _filter(gazetteer: Path, **overrides: Any) -> Filter:
    rules = {"variants": {"touye": ["tiye"]}, "categories": {"demo": _category(**overrides)}}
    return Filter.load(rules, gazetteer)


_ANCHORED = {
    "groups": {
        "event": {"terms": ["strong"]},
        "anchor": {"gazetteer": ["place", "prison", "gang"]},
    }
}


def _offsets_hold(title: str, text: str, verdict: Verdict) -> None:
    doc = title + "\n\n" + text
    for item in (*verdict.evidence, *verdict.entities, *verdict.figures):
        assert doc[item.start : item.end] == item.surface


# -- weights and threshold -------------------------------------------------------------------


def test_score_is_the_sum_of_distinct_term_weights_against_the_threshold(gazetteer: Path) -> None:
    f = _filter(gazetteer)
    below = f.classify("", "Une évasion, puis une autre évasion.")
    assert not below.alert
    assert below.score == 2  # a term counts once however often it appears
    assert below.notes == ("demo: score 2 below threshold 3",)
    reached = f.classify("", "Évasion de la prison.")
    assert reached.alert
    assert reached.categories == ("demo",)
    assert reached.score == 3
    assert {(e.term, e.weight) for e in reached.evidence} == {("évasion", 2), ("prison", 1)}


def test_a_term_can_carry_its_own_weight(gazetteer: Path) -> None:
    verdict = _filter(gazetteer).classify("", "Des bandits armés et une attaque.")
    assert verdict.score == 3.5


def test_entity_kinds_add_to_the_score(gazetteer: Path) -> None:
    f = _filter(gazetteer, entities={"gang": 1})
    assert f.classify("", "Une attaque de Gran Grif.").alert
    assert not f.classify("", "Une attaque de Mirebalais.").alert


# -- groups and proximity ------------------------------------------------------------------


def test_all_groups_must_match(gazetteer: Path) -> None:
    f = _filter(gazetteer, **_ANCHORED)
    missing = f.classify("", "Attaque et évasion de la prison.")
    assert not missing.alert
    assert missing.notes == ("demo: group 'anchor' not matched",)
    assert f.classify("", "Attaque et évasion de la prison de Mibalè.").alert
    # The anchor alone is not the event.
    assert not f.classify("", "La prison de Mirebalais, Haïti, Gran Grif.").alert


_FILLER = " ".join(["mot"] * 40)


def test_proximity_in_words(gazetteer: Path) -> None:
    f = _filter(gazetteer, proximity={"words": 10}, **_ANCHORED)
    assert f.classify("", "Évasion et attaque, prison, Mirebalais.").alert
    far = f.classify("", f"Évasion et attaque, prison, {_FILLER} Mirebalais")
    assert not far.alert
    assert far.notes == ("demo: groups matched but not within 10 words",)


def test_proximity_in_one_sentence(gazetteer: Path) -> None:
    f = _filter(gazetteer, proximity={"sentence": True}, **_ANCHORED)
    assert f.classify("", f"Évasion et attaque, prison, {_FILLER} Mirebalais.").alert
    split = f.classify("", "Évasion et attaque, prison. Mirebalais est calme.")
    assert not split.alert
    assert "in one sentence" in split.notes[0]
    assert not f.classify("Évasion et attaque à la prison", "Mirebalais").alert  # title ends


def test_either_proximity_condition_suffices(gazetteer: Path) -> None:
    f = _filter(gazetteer, proximity={"words": 10, "sentence": True}, **_ANCHORED)
    assert f.classify("", "Évasion et attaque, prison. Mirebalais.").alert  # near, two sentences
    assert f.classify("", f"Évasion et attaque, prison, {_FILLER} Mirebalais.").alert  # far, one


# -- negatives ---------------------------------------------------------------------------------


def test_a_veto_stops_the_category(gazetteer: Path) -> None:
    f = _filter(gazetteer, negatives={"fiction": {"veto": True, "any": ["netflix"]}})
    vetoed = f.classify("Netflix", "Évasion de la prison.")
    assert not vetoed.alert
    assert vetoed.notes == ("demo: vetoed by fiction ('Netflix')",)
    assert [(e.term, e.surface, e.weight) for e in vetoed.evidence if e.weight == 0] == [
        ("netflix", "Netflix", 0)
    ]


def test_a_negative_weight_subtracts(gazetteer: Path) -> None:
    f = _filter(gazetteer, negatives={"sport": {"weight": -2, "fr": ["match", "stade"]}})
    assert f.classify("", "Évasion de la prison, match.").score == 1
    assert f.classify("", "Évasion de la prison, match au stade.").score == -1
    assert not f.classify("", "Évasion de la prison, match.").alert


def test_a_comparing_veto_fires_only_when_the_other_country_dominates(gazetteer: Path) -> None:
    elsewhere = {"veto": True, "compare_to": "anchor", "any": ["Équateur", "Guayaquil"]}
    f = _filter(gazetteer, negatives={"elsewhere": elsewhere}, **_ANCHORED)
    assert f.classify("", "Évasion de la prison de Mirebalais, Haïti, comme en Équateur.").alert
    vetoed = f.classify("", "Évasion de la prison de Guayaquil, Équateur, et Mirebalais.")
    assert not vetoed.alert
    assert "vetoed by elsewhere" in vetoed.notes[0]


# -- accents, case, Creole, languages -------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "ÉVASION DE LA PRISON",
        "evasion de la prison",
        "Évasion de la Prison",
        "EVASION DE LA PRISON",
    ],
)
def test_case_and_accents_do_not_matter(gazetteer: Path, text: str) -> None:
    assert _filter(gazetteer).classify("", text).alert


def test_creole_spelling_variants_come_from_the_variant_table(gazetteer: Path) -> None:
    verdict = _filter(gazetteer).classify("", "Yo tiye moun nan prizon an ak prison an.")
    assert verdict.alert
    touye = next(e for e in verdict.evidence if e.term == "touye")
    assert touye.surface == "tiye"


def test_term_languages_follow_the_text_language(gazetteer: Path) -> None:
    f = _filter(gazetteer)
    text = "Escape from the prison."
    assert f.classify("", text, "en").alert
    assert f.classify("", text, None).alert
    rules = {
        "languages": {"fr": ["fr"]},
        "categories": {"demo": _category()},
    }
    french_only = Filter.load(rules, gazetteer)
    assert not french_only.classify("", text, "fr").alert  # "escape" is an English term


# -- evidence, entities, output --------------------------------------------------------------


def test_offsets_index_into_title_blank_line_text(gazetteer: Path) -> None:
    f = _filter(gazetteer, entities={"prison": 1}, **_ANCHORED)
    title = "Évasion à Mibalè"
    text = "L’attaque de la Prison civile de Mirebalais : 40 détenus se sont évadés."
    verdict = f.classify(title, text)
    assert verdict.alert
    _offsets_hold(title, text, verdict)
    prison = next(e for e in verdict.entities if e.kind == "prison")
    assert prison.name == "Prison civile de Mirebalais"
    assert prison.department == "Centre"
    assert prison.coordinates == (18.835, -72.105)
    assert prison.start == len(title) + 2 + text.index("Prison civile")
    attaque = next(e for e in verdict.evidence if e.term == "attaque")
    assert attaque.surface == "attaque"
    assert verdict.figures[0].value == 40


def test_explain_tells_why_and_why_not(gazetteer: Path) -> None:
    f = _filter(gazetteer, **_ANCHORED)
    fired = f.explain("", "Évasion de la prison de Mirebalais.")
    assert "ALERT: demo" in fired
    assert "[demo] FIRED" in fired
    assert "'évasion' as 'Évasion'" in fired
    assert "place: Mirebalais, Centre" in fired
    missed = f.explain("", "Évasion de la prison.")
    assert missed.startswith("no alert")
    assert "why not: group 'anchor' not matched" in missed
    assert "group anchor: missing" in missed
    assert "group event: yes" in missed


def test_to_dict_is_json_ready(gazetteer: Path) -> None:
    verdict = _filter(gazetteer, **_ANCHORED).classify(
        "", "Évasion de la prison: 40 détenus évadés à Mibalè."
    )
    data = json.loads(json.dumps(verdict.to_dict()))
    assert data["alert"] is True
    assert data["categories"] == ["demo"]
    assert data["entities"][0]["name"] == "Mirebalais"


# -- the packaged rules ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _default() -> Filter:
    return Filter.load()


@pytest.mark.parametrize(
    ("language", "title", "text", "category"),
    [
        ("fr", "Mirebalais", "Des bandits lourdement armés ont attaqué le commissariat, "
         "tuant deux policiers.", "gang_attack"),
        ("fr", "Évasion à la prison civile de Jacmel", "25 détenus sont en cavale.",
         "prison_break"),
        ("ht", "", "Bandi yo atake Kwadebouke, yo touye 5 moun e yo boule plizyè kay.",
         "gang_attack"),
        ("ht", "", "Prizonye yo kraze prizon sivil Okap la, plis pase 50 sove.", "prison_break"),
        ("en", "", "Gunmen from the 400 Mawozo gang kidnapped 17 missionaries near Ganthier.",
         "gang_attack"),
        ("en", "", "Haitian police say 20 inmates escaped from the Jérémie prison.",
         "prison_break"),
        ("fr", "Massacre à Pont-Sondé", "Au moins 70 personnes ont été tuées par le gang Gran "
         "Grif.", "gang_attack"),
    ],
)  # fmt: skip
def test_default_rules_alert(language: str, title: str, text: str, category: str) -> None:
    verdict = _default().classify(title, text, language)
    assert verdict.alert
    assert category in verdict.categories
    _offsets_hold(title, text, verdict)


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("fr", "Les Grenadiers ont lancé une attaque sur le flanc gauche lors du match de Coupe du "
               "monde au stade de Port-au-Prince."),
        ("en", "Ecuador prison riot: 31 inmates killed in a gang clash in Guayaquil."),
        ("en", "The Haitian government discussed prison reform and overcrowding."),
        ("fr", "Séisme en Haïti : 300 morts et 1800 blessés dans le Sud."),
        ("en", "A ransomware gang attacked the servers of a Haitian bank."),
        ("en", "Haiti's senate debated tax evasion; the former minister may face prison."),
        ("en", "The new season of the TV series Prison Break starts on Netflix; inmates escape "
               "a jail in Haiti in episode one."),
        ("fr", "La police a arrêté trois présumés bandits à Delmas."),
    ],
)  # fmt: skip
def test_default_rules_ignore(language: str, text: str) -> None:
    assert not _default().classify("", text, language).alert


def test_default_rules_read_figures_of_an_alert() -> None:
    verdict = _default().classify(
        "Évasion à Mirebalais",
        "Plus de 500 détenus se sont évadés de la prison civile ; deux policiers ont été tués.",
        "fr",
    )
    assert verdict.alert
    assert ("freed", 500, True) in {(f.kind, f.value, f.at_least) for f in verdict.figures}
    assert ("killed", 2, False) in {(f.kind, f.value, f.at_least) for f in verdict.figures}
