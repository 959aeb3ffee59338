"""The packaged gazetteer, its validation, and how aliases behave in the classifier."""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from alerts.classify import Filter
from alerts.errors import GazetteerError
from alerts.gazetteer import DEPARTMENTS, Gazetteer


@lru_cache(maxsize=1)
def _gazetteer() -> Gazetteer:
    return Gazetteer.load()


@lru_cache(maxsize=1)
def _filter() -> Filter:
    return Filter.load()


def test_packaged_gazetteer_names_its_sources() -> None:
    sources = " ".join(_gazetteer().sources)
    assert "IHSI" in sources
    assert "OCHA" in sources
    assert "BINUH" in sources


def test_departments_and_communes() -> None:
    places = [e for e in _gazetteer().entities if e.kind == "place"]
    departments = {e.name for e in places if e.type == "department"}
    assert departments == set(DEPARTMENTS)
    communes = [e for e in places if e.type == "commune"]
    assert len(communes) >= 140
    per_department = Counter(e.department for e in communes)
    assert set(per_department) == set(DEPARTMENTS)
    assert per_department["Ouest"] >= 18
    for commune in communes:
        assert commune.coordinates is not None
        lat, lon = commune.coordinates
        assert 17.9 < lat < 20.2, commune.name
        assert -74.6 < lon < -71.5, commune.name


@pytest.mark.parametrize(
    ("kind", "name", "department"),
    [
        ("prison", "Pénitencier national", "Ouest"),
        ("prison", "Prison civile de la Croix-des-Bouquets", "Ouest"),
        ("prison", "Prison civile de Mirebalais", "Centre"),
        ("prison", "Prison civile du Cap-Haïtien", "Nord"),
        ("prison", "Prison civile des Cayes", "Sud"),
        ("place", "Cité Soleil", "Ouest"),
        ("place", "Pont-Sondé", "Artibonite"),
        ("place", "Saut-d'Eau", "Centre"),
    ],
)
def test_places_and_prisons_have_department_and_coordinates(
    kind: str, name: str, department: str
) -> None:
    entity = _gazetteer().find(name, kind)
    assert entity is not None
    assert entity.department == department
    assert entity.coordinates is not None


def test_gang_members_point_at_existing_gangs() -> None:
    gaz = _gazetteer()
    barbecue = gaz.find("Jimmy Chérizier", "person")
    assert barbecue is not None
    assert barbecue.gang == "G9 an Fanmi e Alye"
    for entity in gaz.entities:
        if entity.gang is not None:
            assert gaz.find(entity.gang, "gang") is not None, entity.name


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Nou te nan Pòtoprens", "Port-au-Prince"),
        ("Yo rive Okap maten an", "Cap-Haïtien"),
        ("Bandi nan Site Solèy", "Cité Soleil"),
        ("Attaque à Croix des Bouquets", "Croix-des-Bouquets"),
        ("Lanmò Sanjou te pale", "Wilson Joseph"),
        ("Gang Gran Grif la", "Gran Grif"),
        ("La PNH a réagi", "Police nationale d'Haïti"),
    ],
)
def test_creole_and_variant_aliases_resolve_to_the_entity(text: str, name: str) -> None:
    verdict = _filter().classify("", text)
    assert name in {e.name for e in verdict.entities}


def test_entity_offsets_point_at_the_alias_as_written() -> None:
    title = "Attaque"
    text = "Des bandits à Pòtoprens et à Site Solèy."
    verdict = _filter().classify(title, text)
    doc = title + "\n\n" + text
    by_name = {e.name: e for e in verdict.entities}
    assert doc[by_name["Port-au-Prince"].start : by_name["Port-au-Prince"].end] == "Pòtoprens"
    assert by_name["Cité Soleil"].surface == "Site Solèy"
    assert by_name["Cité Soleil"].department == "Ouest"


def test_case_sensitive_aliases() -> None:
    names = {e.name for e in _filter().classify("", "Barbecue et la PNH à Delmas, Haïti").entities}
    assert {"Jimmy Chérizier", "Police nationale d'Haïti", "Delmas"} <= names
    lower = {e.name for e in _filter().classify("", "un barbecue à delmas, haïti, pnh").entities}
    assert lower == {"Haïti"}


def test_aliases_that_need_nearby_words() -> None:
    near = {e.name for e in _filter().classify("", "Le gang Taliban a attaqué Canaan.").entities}
    assert "Taliban" in near
    far = {e.name for e in _filter().classify("", "Les Taliban ont pris Kaboul.").entities}
    assert "Taliban" not in far


def test_weak_names_count_only_with_a_strong_anchor() -> None:
    alone = _filter().classify("", "Chantal et Arnaud se sont mariés à La Chapelle.")
    assert alone.entities == ()
    anchored = _filter().classify("", "À Chantal, dans le Sud d'Haïti, des bandits ont frappé.")
    assert {"Chantal", "Haïti"} <= {e.name for e in anchored.entities}


def test_a_name_inside_a_longer_one_of_the_same_kind_is_not_reported_twice() -> None:
    names = [e.name for e in _filter().classify("", "Les gangs de Bas Delmas, Haïti").entities]
    assert "Bas Delmas" in names
    assert "Delmas" not in names


def _write(tmp_path: Path, entities: list[object]) -> Path:
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({"entities": entities}, allow_unicode=True), "utf-8")
    return path


@pytest.mark.parametrize(
    ("entity", "message"),
    [
        ({"kind": "city", "name": "X"}, "'kind' must be one of"),
        ({"kind": "place", "name": "X", "department": "Ouest"}, "needs 'coordinates'"),
        ({"kind": "place", "name": "X", "coordinates": [18.5, -72.3]}, "needs 'department'"),
        (
            {"kind": "place", "name": "X", "department": "Ouest", "coordinates": [18.5, 72.3]},
            "outside Haiti",
        ),
        ({"kind": "gang", "name": "X", "aliases": [{"text": ""}]}, "non-empty 'text'"),
        ({"kind": "person", "name": "X", "gang": "Nobody"}, "is not a gang entity"),
        ({"kind": "gang", "name": "X", "colour": "red"}, "unknown keys"),
    ],
)
def test_invalid_entities_raise(tmp_path: Path, entity: dict[str, object], message: str) -> None:
    with pytest.raises(GazetteerError, match=message):
        Gazetteer.load(_write(tmp_path, [entity]))


def test_unreadable_or_malformed_files_raise(tmp_path: Path) -> None:
    with pytest.raises(GazetteerError, match="cannot read"):
        Gazetteer.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("entities: [unclosed", "utf-8")
    with pytest.raises(GazetteerError, match="not valid YAML") as info:
        Gazetteer.load(bad)
    assert isinstance(info.value.__cause__, yaml.YAMLError)
