"""Language detection: right on the labelled dev set, from the sample it looks at."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler.language import SAMPLE, detect

DEV_SET = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "dev.jsonl"


def test_every_french_creole_and_english_item_of_the_dev_set() -> None:
    if not DEV_SET.is_file():
        pytest.skip(f"the labelled dev set is not here ({DEV_SET}): it ships beside the repo")
    items = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines()]
    labelled = [i for i in items if i.get("language") in ("fr", "ht", "en")]
    assert len(labelled) >= 90
    wrong = [
        (i["id"], i["language"], got)
        for i in labelled
        if (got := detect(f"{i['title']}\n{i['text']}")) != i["language"]
    ]
    assert wrong == []


def test_only_the_opening_sample_decides() -> None:
    french = "Des détenus se sont évadés de la prison civile de Mirebalais ce matin. " * 8
    english = "Inmates escaped from the civil prison in the town this morning. " * 40
    assert len(french) >= SAMPLE
    assert detect(french + english) == "fr"
    assert detect(english) == "en"


def test_short_text_keeps_the_hint() -> None:
    assert detect("Mirebalais", "ht") == "ht"
    assert detect("", None) is None
