"""What an alerting report is matched on (``storage.events.event_keys``)."""

from __future__ import annotations

from typing import Any

from alerts.verdict import EntityHit, Verdict
from storage.events import DEFAULT_GENERIC_PLACES, entity_key, event_keys


def keys(*hits: EntityHit | dict[str, Any]) -> frozenset[str]:
    entities = [h if isinstance(h, dict) else None for h in hits]
    verdict = Verdict(alert=True, entities=tuple(h for h in hits if isinstance(h, EntityHit)))
    data = verdict.to_dict()
    data["entities"] = [*data["entities"], *(e for e in entities if e is not None)]
    return event_keys(data, DEFAULT_GENERIC_PLACES).anchor


def place(name: str, start: int, department: str | None = None) -> EntityHit:
    return EntityHit("place", name, name, start, start + len(name), department)


def test_keys_ignore_case_accents_and_leading_articles() -> None:
    assert entity_key("place", "Les Cayes") == entity_key("place", "cayes") == "place:cayes"
    assert entity_key("place", "Croix-des-Bouquets") == "place:croix des bouquets"


def test_the_first_specific_place_is_the_main_location() -> None:
    assert keys(place("Cabaret", 0), place("Mirebalais", 80)) == {"place:cabaret"}
    assert keys(place("Mirebalais", 80), place("Cabaret", 3)) == {"place:cabaret"}


def test_the_country_departments_and_capital_are_skipped() -> None:
    hits = (place("Haïti", 0), place("Port-au-Prince", 10, "Ouest"), place("Solino", 40, "Ouest"))
    assert keys(*hits) == {"place:solino"}
    assert keys(place("Centre", 0, "Centre"), place("Hinche", 30, "Centre")) == {"place:hinche"}
    assert keys(place("Haiti", 0), place("Port-au-Prince", 9)) == frozenset()


def test_a_place_named_like_its_department_or_typed_generic_is_skipped() -> None:
    assert keys(place("Grand'Anse", 0, "Grand'Anse"), place("Jérémie", 20)) == {"place:jeremie"}
    region = {"kind": "place", "name": "Plateau Central", "type": "region", "start": 0}
    assert keys(region, place("Mirebalais", 30)) == {"place:mirebalais"}


def test_a_prison_stands_for_the_town_it_is_named_after() -> None:
    prison = EntityHit("prison", "Prison civile de Mirebalais", "prizon Mirebalais", 0, 17)
    assert keys(prison) == {"prison:prison civile de mirebalais", "place:mirebalais"}
    cayes = EntityHit("prison", "Prison civile des Cayes", "prison des Cayes", 0, 16)
    assert "place:cayes" in keys(cayes)
    national = EntityHit("prison", "Pénitencier national", "National Penitentiary", 0, 21)
    assert keys(national) == {"prison:penitencier national"}


def test_gangs_are_kept_apart_from_the_location() -> None:
    verdict = Verdict(
        alert=True,
        entities=(
            EntityHit("gang", "Viv Ansanm", "Viv Ansanm", 0, 10),
            place("Mirebalais", 20),
        ),
    )
    found = event_keys(verdict.to_dict(), DEFAULT_GENERIC_PLACES)
    assert found.anchor == {"place:mirebalais"}
    assert found.gangs == {"gang:viv ansanm"}


def test_no_entities_no_keys() -> None:
    assert event_keys({}, DEFAULT_GENERIC_PLACES).anchor == frozenset()
    assert event_keys({"entities": [{"kind": "place"}]}, ()).anchor == frozenset()
