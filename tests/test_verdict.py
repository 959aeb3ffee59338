from __future__ import annotations

import json
from dataclasses import asdict

from alerts.verdict import EntityHit, Evidence, Figure, Verdict


def test_to_dict_is_asdict_in_json_form() -> None:
    """The hand-built ``to_dict`` must stay what ``asdict`` would give, field for field."""
    verdict = Verdict(
        alert=True,
        categories=("prison_break",),
        score=7.5,
        entities=(EntityHit("place", "Mirebalais", "Mibalè", 3, 9, "Centre", (18.8, -72.1)),),
        evidence=(Evidence("prison_break", "evad*", "évadés", 10, 16, 3.0),),
        figures=(Figure("freed", 500, True, "plus de 500", 20, 31),),
        notes=("gang_attack: below threshold",),
    )
    assert json.dumps(verdict.to_dict(), sort_keys=True) == json.dumps(
        asdict(verdict), sort_keys=True
    )
